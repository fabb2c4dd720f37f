//! The daemon's IGD device description (UDA 1.1 §2.3, IGD:1/IGD:2 device specs).
//!
//! Tree: InternetGatewayDevice:N (Layer3Forwarding:1) > WANDevice:N
//! (WANCommonInterfaceConfig:1) > WANConnectionDevice:N (WANIPConnection:N, and
//! WANIPv6FirewallControl:1 when IPv6 is on). IGD:1 is the default: several popular
//! control points refuse IGD:2 descriptions.

use super::scpd::{
    ServiceSpec, LAYER3_FORWARDING, WAN_COMMON_INTERFACE_CONFIG, WAN_IPV6_FIREWALL_CONTROL,
    WAN_IP_CONNECTION,
};
use crate::xml::Writer;

/// HTTP path of the root device description.
pub const ROOT_DESC_PATH: &str = "/rootDesc.xml";

/// The URL paths the daemon routes for one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServicePaths {
    /// SCPD (GET).
    pub scpd: &'static str,
    /// Control (SOAP POST).
    pub control: &'static str,
    /// Eventing (SUBSCRIBE/UNSUBSCRIBE).
    pub event: &'static str,
}

/// Paths of Layer3Forwarding:1.
pub const L3F_PATHS: ServicePaths = ServicePaths {
    scpd: "/L3F.xml",
    control: "/ctl/L3F",
    event: "/evt/L3F",
};
/// Paths of WANCommonInterfaceConfig:1.
pub const WAN_CIF_PATHS: ServicePaths = ServicePaths {
    scpd: "/WANCfg.xml",
    control: "/ctl/CmnIfCfg",
    event: "/evt/CmnIfCfg",
};
/// Paths of WANIPConnection:N.
pub const WAN_IPC_PATHS: ServicePaths = ServicePaths {
    scpd: "/WANIPCn.xml",
    control: "/ctl/IPConn",
    event: "/evt/IPConn",
};
/// Paths of WANIPv6FirewallControl:1.
pub const WAN_IP6FC_PATHS: ServicePaths = ServicePaths {
    scpd: "/WANIP6FC.xml",
    control: "/ctl/IP6FCtl",
    event: "/evt/IP6FCtl",
};

/// Which services the daemon offers, with their tables, paths, service IDs and the
/// service version to announce for a given IGD version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgdService {
    /// Layer3Forwarding:1 (root device).
    Layer3Forwarding,
    /// WANCommonInterfaceConfig:1 (WANDevice).
    WanCommonInterfaceConfig,
    /// WANIPConnection:N (WANConnectionDevice).
    WanIpConnection,
    /// WANIPv6FirewallControl:1 (WANConnectionDevice, when IPv6 is on).
    WanIpv6FirewallControl,
}

impl IgdService {
    /// Every service.
    pub const ALL: [IgdService; 4] = [
        IgdService::Layer3Forwarding,
        IgdService::WanCommonInterfaceConfig,
        IgdService::WanIpConnection,
        IgdService::WanIpv6FirewallControl,
    ];

    /// The service's action and state tables.
    pub const fn spec(self) -> &'static ServiceSpec {
        match self {
            IgdService::Layer3Forwarding => &LAYER3_FORWARDING,
            IgdService::WanCommonInterfaceConfig => &WAN_COMMON_INTERFACE_CONFIG,
            IgdService::WanIpConnection => &WAN_IP_CONNECTION,
            IgdService::WanIpv6FirewallControl => &WAN_IPV6_FIREWALL_CONTROL,
        }
    }

    /// The URL paths the daemon serves for it.
    pub const fn paths(self) -> ServicePaths {
        match self {
            IgdService::Layer3Forwarding => L3F_PATHS,
            IgdService::WanCommonInterfaceConfig => WAN_CIF_PATHS,
            IgdService::WanIpConnection => WAN_IPC_PATHS,
            IgdService::WanIpv6FirewallControl => WAN_IP6FC_PATHS,
        }
    }

    /// The serviceId written in the description.
    pub const fn service_id(self) -> &'static str {
        match self {
            IgdService::Layer3Forwarding => "urn:upnp-org:serviceId:L3Forwarding1",
            IgdService::WanCommonInterfaceConfig => "urn:upnp-org:serviceId:WANCommonIFC1",
            IgdService::WanIpConnection => "urn:upnp-org:serviceId:WANIPConn1",
            IgdService::WanIpv6FirewallControl => "urn:upnp-org:serviceId:WANIPv6Firewall1",
        }
    }

    /// The service version announced under `igd` (only WANIPConnection follows the
    /// IGD version).
    pub const fn version(self, igd: IgdVersion) -> u32 {
        match self {
            IgdService::WanIpConnection => igd.number(),
            _ => 1,
        }
    }

    /// The service whose control, event or SCPD path is `path`.
    pub fn from_path(path: &str) -> Option<IgdService> {
        Self::ALL.into_iter().find(|s| {
            let p = s.paths();
            p.control == path || p.event == path || p.scpd == path
        })
    }
}

/// The IGD version to announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IgdVersion {
    /// InternetGatewayDevice:1 (default, best interoperability).
    #[default]
    V1,
    /// InternetGatewayDevice:2.
    V2,
}

impl IgdVersion {
    /// 1 or 2.
    pub const fn number(self) -> u32 {
        match self {
            IgdVersion::V1 => 1,
            IgdVersion::V2 => 2,
        }
    }
}

/// Everything the device description needs from the daemon's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgdConfig {
    /// IGD version to announce.
    pub version: IgdVersion,
    /// UUIDs (without the `uuid:` prefix) of the root, WAN and WAN connection
    /// devices; see [`derive_uuids`].
    pub uuids: [String; 3],
    /// friendlyName.
    pub friendly_name: String,
    /// manufacturer.
    pub manufacturer: String,
    /// manufacturerURL (omitted when empty).
    pub manufacturer_url: String,
    /// modelDescription (omitted when empty).
    pub model_description: String,
    /// modelName.
    pub model_name: String,
    /// modelNumber (omitted when empty).
    pub model_number: String,
    /// modelURL (omitted when empty).
    pub model_url: String,
    /// serialNumber (omitted when empty).
    pub serial: String,
    /// presentationURL of the root device (omitted when empty).
    pub presentation_url: String,
    /// CONFIGID.UPNP.ORG value, written as the root's `configId` attribute (UDA 1.1
    /// §2.3; 0..=16777215).
    pub config_id: u32,
    /// Whether to list WANIPv6FirewallControl:1.
    pub ipv6_firewall: bool,
}

impl Default for IgdConfig {
    fn default() -> Self {
        Self {
            version: IgdVersion::V1,
            uuids: derive_uuids("00000000-0000-0000-0000-000000000000"),
            friendly_name: "portgate router".into(),
            manufacturer: "portgate".into(),
            manufacturer_url: String::new(),
            model_description: "portgate UPnP IGD".into(),
            model_name: "portgate".into(),
            model_number: String::new(),
            model_url: String::new(),
            serial: String::new(),
            presentation_url: String::new(),
            config_id: 1,
            ipv6_firewall: false,
        }
    }
}

/// Derives the three device UUIDs from the configured one: the root keeps it, the
/// WAN device and WAN connection device add 1 and 2 to its last 12 hex digits
/// (wrapping). Any string that does not end in 12 hex digits gets `-1`/`-2` appended.
pub fn derive_uuids(root: &str) -> [String; 3] {
    let root = root.strip_prefix("uuid:").unwrap_or(root);
    let split = root
        .len()
        .checked_sub(12)
        .filter(|&i| root.is_char_boundary(i));
    let derived = split.and_then(|i| {
        let (head, tail) = root.split_at(i);
        let n = u64::from_str_radix(tail, 16).ok()?;
        let upper = tail.bytes().any(|b| b.is_ascii_uppercase());
        let f = |k: u64| {
            let v = n.wrapping_add(k) & 0xFFFF_FFFF_FFFF;
            if upper {
                format!("{head}{v:012X}")
            } else {
                format!("{head}{v:012x}")
            }
        };
        Some([root.to_string(), f(1), f(2)])
    });
    derived.unwrap_or_else(|| [root.to_string(), format!("{root}-1"), format!("{root}-2")])
}

fn device_fields(w: &mut Writer<'_>, cfg: &IgdConfig, device_type: &str, uuid: &str, name: &str) {
    w.leaf("deviceType", device_type)
        .leaf("friendlyName", name)
        .leaf("manufacturer", &cfg.manufacturer);
    if !cfg.manufacturer_url.is_empty() {
        w.leaf("manufacturerURL", &cfg.manufacturer_url);
    }
    if !cfg.model_description.is_empty() {
        w.leaf("modelDescription", &cfg.model_description);
    }
    w.leaf("modelName", &cfg.model_name);
    if !cfg.model_number.is_empty() {
        w.leaf("modelNumber", &cfg.model_number);
    }
    if !cfg.model_url.is_empty() {
        w.leaf("modelURL", &cfg.model_url);
    }
    if !cfg.serial.is_empty() {
        w.leaf("serialNumber", &cfg.serial);
    }
    w.leaf("UDN", &format!("uuid:{uuid}"));
}

fn service_list(w: &mut Writer<'_>, cfg: &IgdConfig, services: &[IgdService]) {
    w.open("serviceList", &[]);
    for s in services {
        let p = s.paths();
        w.open("service", &[])
            .leaf(
                "serviceType",
                &s.spec().service_type(s.version(cfg.version)),
            )
            .leaf("serviceId", s.service_id())
            .leaf("SCPDURL", p.scpd)
            .leaf("controlURL", p.control)
            .leaf("eventSubURL", p.event)
            .close("service");
    }
    w.close("serviceList");
}

impl IgdConfig {
    /// The services listed in the WAN connection device.
    pub fn connection_services(&self) -> &'static [IgdService] {
        if self.ipv6_firewall {
            &[
                IgdService::WanIpConnection,
                IgdService::WanIpv6FirewallControl,
            ]
        } else {
            &[IgdService::WanIpConnection]
        }
    }

    /// Appends the root device description (`rootDesc.xml`). URLs are absolute paths,
    /// resolved by control points against the LOCATION URL (no URLBase, as UDA 1.1
    /// recommends).
    pub fn emit_description(&self, out: &mut Vec<u8>) {
        let n = self.version.number();
        let config_id = self.config_id.min(16_777_215).to_string();
        let mut w = Writer::new(out);
        w.declaration().open(
            "root",
            &[
                ("xmlns", "urn:schemas-upnp-org:device-1-0"),
                ("configId", &config_id),
            ],
        );
        w.open("specVersion", &[])
            .leaf("major", "1")
            .leaf("minor", "1")
            .close("specVersion");
        w.open("device", &[]);
        device_fields(
            &mut w,
            self,
            &format!("urn:schemas-upnp-org:device:InternetGatewayDevice:{n}"),
            &self.uuids[0],
            &self.friendly_name,
        );
        service_list(&mut w, self, &[IgdService::Layer3Forwarding]);
        w.open("deviceList", &[]).open("device", &[]);
        device_fields(
            &mut w,
            self,
            &format!("urn:schemas-upnp-org:device:WANDevice:{n}"),
            &self.uuids[1],
            "WANDevice",
        );
        service_list(&mut w, self, &[IgdService::WanCommonInterfaceConfig]);
        w.open("deviceList", &[]).open("device", &[]);
        device_fields(
            &mut w,
            self,
            &format!("urn:schemas-upnp-org:device:WANConnectionDevice:{n}"),
            &self.uuids[2],
            "WANConnectionDevice",
        );
        service_list(&mut w, self, self.connection_services());
        w.close("device").close("deviceList");
        w.close("device").close("deviceList");
        if !self.presentation_url.is_empty() {
            w.leaf("presentationURL", &self.presentation_url);
        }
        w.close("device").close("root").raw(b"\n");
    }

    /// Appends the SCPD of `service` as announced under this configuration's IGD
    /// version. The v2 WANIPConnection actions are served either way (see the daemon
    /// spec) but only listed in the IGD:2 SCPD.
    pub fn emit_scpd(&self, service: IgdService, out: &mut Vec<u8>) {
        service.spec().emit_scpd(service.version(self.version), out);
    }
}
