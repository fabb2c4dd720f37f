//! UPnP IGD control point: discovery ([`discovery`]), actions ([`actions`]), and the
//! gateway chosen from a device description ([`Igd`]), with the selection rule of
//! docs/design.md (connected, public address, WANIPConnection:2 > :1 > WANPPPConnection:1).
//! The IPv6 firewall service (WANIPv6FirewallControl:1), when the device has one, is
//! found in the same description and its actions routed to its own control URL.

pub mod actions;
pub mod discovery;

use std::net::IpAddr;

use portgate_proto::description::{DeviceDescription, WanService, WanServiceKind};
use portgate_proto::http::HttpUrl;

use crate::error::ClientError;
use crate::http::parse_url;
use actions::{Call, StatusInfo, L3_FORWARDING, WAN_COMMON_IFC, WAN_IPV6_FIREWALL};

/// A UPnP Internet Gateway Device ready to be controlled.
#[derive(Debug, Clone)]
pub struct Igd {
    /// The description URL.
    pub location: String,
    /// The parsed description.
    pub description: DeviceDescription,
    /// The WAN connection service port-mapping actions go to.
    pub service: WanService,
    control: HttpUrl,
    common: Option<HttpUrl>,
    l3: Option<HttpUrl>,
    firewall: Option<HttpUrl>,
}

impl Igd {
    /// Builds the gateway from a description document fetched from `location`.
    /// Fails with [`ClientError::NoIgd`] when it has no WAN connection service.
    pub fn from_description(location: &str, body: &[u8]) -> Result<Self, ClientError> {
        let description = DeviceDescription::parse(body, location)?;
        let service = description
            .find_wan_connection()
            .ok_or(ClientError::NoIgd)?;
        let (control, _) = parse_url(&service.control_url)?;
        let url_of = |urn: &str| {
            let (base, _) = portgate_proto::soap::split_service_type(urn)?;
            let s = description.find_service(base)?;
            parse_url(&s.control_url).ok().map(|(u, _)| u)
        };
        let common = url_of(WAN_COMMON_IFC);
        let l3 = url_of(L3_FORWARDING);
        let firewall = url_of(WAN_IPV6_FIREWALL);
        Ok(Self {
            firewall,
            location: location.to_string(),
            service,
            control,
            common,
            l3,
            description,
        })
    }

    /// The service type port-mapping actions use.
    pub fn service_type(&self) -> &str {
        &self.service.service_type
    }

    /// Whether the WAN service is WANIPConnection:2 (AddAnyPortMapping,
    /// GetListOfPortMappings, DeletePortMappingRange available).
    pub fn is_igd2(&self) -> bool {
        self.service.kind == WanServiceKind::IpConnection && self.service.version >= 2
    }

    /// The control URL for `call`: its service's URL.
    pub fn control_url<T>(&self, call: &Call<T>) -> Result<&HttpUrl, ClientError> {
        let st = call.request.service_type.as_str();
        if st == WAN_COMMON_IFC {
            self.common.as_ref().ok_or(ClientError::NoIgd)
        } else if st == L3_FORWARDING {
            self.l3.as_ref().ok_or(ClientError::NoIgd)
        } else if st == WAN_IPV6_FIREWALL {
            self.firewall.as_ref().ok_or(ClientError::NoIgd)
        } else {
            Ok(&self.control)
        }
    }

    /// Whether the device offers WANIPv6FirewallControl:1 (IPv6 pinholes).
    pub fn has_ipv6_firewall(&self) -> bool {
        self.firewall.is_some()
    }

    /// The WANIPv6FirewallControl control URL, if the device has the service.
    pub fn ipv6_firewall_url(&self) -> Option<&HttpUrl> {
        self.firewall.as_ref()
    }

    /// The IP address of the device (from its control URL).
    pub fn address(&self) -> Option<IpAddr> {
        crate::http::url_ip(&self.control)
    }
}

/// Whether `ip` is a public (globally routed) address: not private, loopback,
/// link-local, CGN shared (100.64/10), documentation or unspecified.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || o[0] == 0)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || s[0] == 0x2001 && s[1] == 0x0db8)
        }
    }
}

/// The ranking key of a gateway (higher is better): connected, public external
/// address, then WANIPConnection:2 > :1 > WANPPPConnection:1.
pub fn rank(igd: &Igd, status: Option<&StatusInfo>, external: Option<IpAddr>) -> (bool, bool, u8) {
    let kind = match (igd.service.kind, igd.service.version) {
        (WanServiceKind::IpConnection, v) if v >= 2 => 3,
        (WanServiceKind::IpConnection, _) => 2,
        (WanServiceKind::PppConnection, _) => 1,
    };
    (
        status.is_some_and(StatusInfo::is_connected),
        external.is_some_and(is_public),
        kind,
    )
}
