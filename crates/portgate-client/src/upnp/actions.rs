//! IGD control actions as sans-IO [`Call`]s: each builds its SOAP request
//! (UDA 1.1 §3.2.1) and parses the answer into a typed result; a fault becomes
//! [`ClientError::Upnp`] with its code (UDA 1.1 §3.2.2).
//!
//! Actions of WANIPConnection:1/2 and WANPPPConnection:1 (IGD:1/IGD:2 §2.4),
//! WANCommonInterfaceConfig:1, Layer3Forwarding:1 and WANIPv6FirewallControl:1
//! (IPv6 pinholes: [`add_pinhole`] and its siblings).

use std::net::IpAddr;

use portgate_proto::description::PortMappingList;
use portgate_proto::http::HttpUrl;
use portgate_proto::soap::{ControlResponse, SoapRequest, SoapResponse};

pub use portgate_proto::description::PortMappingEntry;

use crate::error::ClientError;
use crate::http::{HttpExchange, HttpResponse};
use crate::Protocol;

/// Service type of WANCommonInterfaceConfig:1.
pub const WAN_COMMON_IFC: &str = "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1";
/// Service type of Layer3Forwarding:1.
pub const L3_FORWARDING: &str = "urn:schemas-upnp-org:service:Layer3Forwarding:1";

/// A parser of an action's answer.
type Parser<T> = fn(&SoapResponse) -> Result<T, ClientError>;

/// An action invocation and the parser of its answer.
pub struct Call<T> {
    /// The SOAP request.
    pub request: SoapRequest,
    parse: fn(&SoapResponse) -> Result<T, ClientError>,
}

impl<T> std::fmt::Debug for Call<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("request", &self.request)
            .finish()
    }
}

impl<T> Call<T> {
    fn new(
        service_type: &str,
        action: &str,
        args: &[(&str, String)],
        parse: fn(&SoapResponse) -> Result<T, ClientError>,
    ) -> Self {
        Self {
            request: SoapRequest {
                service_type: service_type.to_string(),
                action: action.to_string(),
                args: args
                    .iter()
                    .map(|(n, v)| ((*n).to_string(), v.clone()))
                    .collect(),
            },
            parse,
        }
    }

    /// The HTTP exchange that carries this call to `control_url`.
    pub fn exchange(&self, control_url: &HttpUrl) -> Result<HttpExchange, ClientError> {
        let mut envelope = Vec::new();
        self.request.emit(&mut envelope);
        let action = format!("\"{}#{}\"", self.request.service_type, self.request.action);
        HttpExchange::soap(control_url, action, &envelope)
    }

    /// Interprets the HTTP response: a UPnP fault (normally with status 500) becomes
    /// [`ClientError::Upnp`]; another non-200 status [`ClientError::HttpStatus`].
    pub fn finish(&self, resp: &HttpResponse) -> Result<T, ClientError> {
        match ControlResponse::parse(&resp.body) {
            Ok(ControlResponse::Fault(f)) => Err(ClientError::Upnp {
                code: f.code,
                description: f.description,
            }),
            Ok(ControlResponse::Ok(r)) if resp.head.status == 200 => {
                if !r.action.eq_ignore_ascii_case(&self.request.action) {
                    return Err(ClientError::BadReply("response element (another action)"));
                }
                (self.parse)(&r)
            }
            Ok(ControlResponse::Ok(_)) | Err(_) if resp.head.status != 200 => {
                Err(ClientError::HttpStatus(resp.head.status))
            }
            Ok(ControlResponse::Ok(_)) => Err(ClientError::HttpStatus(resp.head.status)),
            Err(e) => Err(ClientError::Decode(e)),
        }
    }
}

fn arg<'a>(r: &'a SoapResponse, name: &'static str) -> Result<&'a str, ClientError> {
    r.arg(name)
        .map(str::trim)
        .ok_or(ClientError::BadReply(name))
}

fn num<T: std::str::FromStr>(r: &SoapResponse, name: &'static str) -> Result<T, ClientError> {
    arg(r, name)?
        .parse()
        .map_err(|_| ClientError::BadReply(name))
}

fn unit(_: &SoapResponse) -> Result<(), ClientError> {
    Ok(())
}

fn bool_arg(r: &SoapResponse, name: &'static str) -> Result<bool, ClientError> {
    portgate_proto::description::portlist::parse_upnp_bool(arg(r, name)?)
        .ok_or(ClientError::BadReply(name))
}

/// GetStatusInfo's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusInfo {
    /// `Connected`, `Disconnected`, `Connecting`, ...
    pub connection_status: String,
    /// `ERROR_NONE`, ...
    pub last_connection_error: String,
    /// Seconds the connection has been up.
    pub uptime: u64,
}

impl StatusInfo {
    /// Whether the connection status is `Connected`.
    pub fn is_connected(&self) -> bool {
        self.connection_status.eq_ignore_ascii_case("Connected")
    }
}

/// GetConnectionTypeInfo's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionTypeInfo {
    /// The current connection type (`IP_Routed`, ...).
    pub connection_type: String,
    /// The comma-separated possible types.
    pub possible_types: String,
}

/// GetCommonLinkProperties's answer (WANCommonInterfaceConfig:1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkProperties {
    /// `Ethernet`, `DSL`, `Cable`, ...
    pub access_type: String,
    /// Upstream bit rate, bits/s.
    pub upstream_max_bps: u64,
    /// Downstream bit rate, bits/s.
    pub downstream_max_bps: u64,
    /// `Up`, `Down`, ...
    pub physical_link_status: String,
}

/// The arguments of AddPortMapping / AddAnyPortMapping (IGD:2 WANIPConnection:2 §2.5.16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMappingRequest {
    /// Remote host restriction (`None`: any host, the empty string on the wire).
    pub remote_host: Option<IpAddr>,
    /// External port (0 is a wildcard that most IGDs refuse with 716).
    pub external_port: u16,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// Internal port.
    pub internal_port: u16,
    /// Internal client: this host's LAN address.
    pub internal_client: IpAddr,
    /// Whether the mapping is enabled.
    pub enabled: bool,
    /// Free text description.
    pub description: String,
    /// Lease in seconds (0: permanent).
    pub lease: u32,
}

impl PortMappingRequest {
    fn args(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "NewRemoteHost",
                self.remote_host.map(|h| h.to_string()).unwrap_or_default(),
            ),
            ("NewExternalPort", self.external_port.to_string()),
            ("NewProtocol", self.protocol.upnp().to_string()),
            ("NewInternalPort", self.internal_port.to_string()),
            ("NewInternalClient", self.internal_client.to_string()),
            (
                "NewEnabled",
                if self.enabled { "1" } else { "0" }.to_string(),
            ),
            ("NewPortMappingDescription", self.description.clone()),
            ("NewLeaseDuration", self.lease.to_string()),
        ]
    }
}

fn remote(h: Option<IpAddr>) -> String {
    h.map(|h| h.to_string()).unwrap_or_default()
}

/// GetExternalIPAddress: `None` when the device reports an empty address (no WAN
/// connection).
pub fn get_external_ip_address(st: &str) -> Call<Option<IpAddr>> {
    Call::new(st, "GetExternalIPAddress", &[], |r| {
        let s = arg(r, "NewExternalIPAddress")?;
        if s.is_empty() || s == "0.0.0.0" {
            return Ok(None);
        }
        s.parse()
            .map(Some)
            .map_err(|_| ClientError::BadReply("NewExternalIPAddress"))
    })
}

/// GetStatusInfo.
pub fn get_status_info(st: &str) -> Call<StatusInfo> {
    Call::new(st, "GetStatusInfo", &[], |r| {
        Ok(StatusInfo {
            connection_status: arg(r, "NewConnectionStatus")?.to_string(),
            last_connection_error: r
                .arg("NewLastConnectionError")
                .unwrap_or("")
                .trim()
                .to_string(),
            uptime: r
                .arg("NewUptime")
                .and_then(|u| u.trim().parse().ok())
                .unwrap_or(0),
        })
    })
}

/// GetConnectionTypeInfo.
pub fn get_connection_type_info(st: &str) -> Call<ConnectionTypeInfo> {
    Call::new(st, "GetConnectionTypeInfo", &[], |r| {
        Ok(ConnectionTypeInfo {
            connection_type: arg(r, "NewConnectionType")?.to_string(),
            possible_types: r
                .arg("NewPossibleConnectionTypes")
                .unwrap_or("")
                .to_string(),
        })
    })
}

/// AddPortMapping.
pub fn add_port_mapping(st: &str, m: &PortMappingRequest) -> Call<()> {
    Call::new(st, "AddPortMapping", &m.args(), unit)
}

/// AddAnyPortMapping (WANIPConnection:2): the answer is the external port reserved.
pub fn add_any_port_mapping(st: &str, m: &PortMappingRequest) -> Call<u16> {
    Call::new(st, "AddAnyPortMapping", &m.args(), |r| {
        num(r, "NewReservedPort")
    })
}

/// DeletePortMapping.
pub fn delete_port_mapping(
    st: &str,
    remote_host: Option<IpAddr>,
    external_port: u16,
    protocol: Protocol,
) -> Call<()> {
    Call::new(
        st,
        "DeletePortMapping",
        &[
            ("NewRemoteHost", remote(remote_host)),
            ("NewExternalPort", external_port.to_string()),
            ("NewProtocol", protocol.upnp().to_string()),
        ],
        unit,
    )
}

/// DeletePortMappingRange (WANIPConnection:2).
pub fn delete_port_mapping_range(
    st: &str,
    start: u16,
    end: u16,
    protocol: Protocol,
    manage: bool,
) -> Call<()> {
    Call::new(
        st,
        "DeletePortMappingRange",
        &[
            ("NewStartPort", start.to_string()),
            ("NewEndPort", end.to_string()),
            ("NewProtocol", protocol.upnp().to_string()),
            ("NewManage", if manage { "1" } else { "0" }.to_string()),
        ],
        unit,
    )
}

/// GetGenericPortMappingEntry: entry number `index` (713 past the end).
pub fn get_generic_port_mapping_entry(st: &str, index: u32) -> Call<PortMappingEntry> {
    Call::new(
        st,
        "GetGenericPortMappingEntry",
        &[("NewPortMappingIndex", index.to_string())],
        |r| {
            Ok(PortMappingEntry {
                remote_host: r.arg("NewRemoteHost").unwrap_or("").trim().to_string(),
                external_port: num(r, "NewExternalPort")?,
                protocol: arg(r, "NewProtocol")?.to_string(),
                internal_port: num(r, "NewInternalPort")?,
                internal_client: arg(r, "NewInternalClient")?.to_string(),
                enabled: bool_arg(r, "NewEnabled").unwrap_or(true),
                description: r.arg("NewPortMappingDescription").unwrap_or("").to_string(),
                lease_time: num(r, "NewLeaseDuration").unwrap_or(0),
            })
        },
    )
}

/// GetSpecificPortMappingEntry: the entry's internal side (714 when none).
pub fn get_specific_port_mapping_entry(
    st: &str,
    remote_host: Option<IpAddr>,
    external_port: u16,
    protocol: Protocol,
) -> Call<PortMappingEntry> {
    // The parser needs the request fields; they are echoed from the request args.
    Call::new(
        st,
        "GetSpecificPortMappingEntry",
        &[
            ("NewRemoteHost", remote(remote_host)),
            ("NewExternalPort", external_port.to_string()),
            ("NewProtocol", protocol.upnp().to_string()),
        ],
        |r| {
            Ok(PortMappingEntry {
                remote_host: String::new(),
                external_port: 0,
                protocol: String::new(),
                internal_port: num(r, "NewInternalPort")?,
                internal_client: arg(r, "NewInternalClient")?.to_string(),
                enabled: bool_arg(r, "NewEnabled").unwrap_or(true),
                description: r.arg("NewPortMappingDescription").unwrap_or("").to_string(),
                lease_time: num(r, "NewLeaseDuration").unwrap_or(0),
            })
        },
    )
}

/// Fills the request-side fields of a GetSpecificPortMappingEntry answer.
pub fn complete_specific(
    mut e: PortMappingEntry,
    remote_host: Option<IpAddr>,
    external_port: u16,
    protocol: Protocol,
) -> PortMappingEntry {
    e.remote_host = remote(remote_host);
    e.external_port = external_port;
    e.protocol = protocol.upnp().to_string();
    e
}

/// GetListOfPortMappings (WANIPConnection:2): at most `count` entries in
/// `start..=end`.
pub fn get_list_of_port_mappings(
    st: &str,
    start: u16,
    end: u16,
    protocol: Protocol,
    manage: bool,
    count: u16,
) -> Call<PortMappingList> {
    Call::new(
        st,
        "GetListOfPortMappings",
        &[
            ("NewStartPort", start.to_string()),
            ("NewEndPort", end.to_string()),
            ("NewProtocol", protocol.upnp().to_string()),
            ("NewManage", if manage { "1" } else { "0" }.to_string()),
            ("NewNumberOfPorts", count.to_string()),
        ],
        |r| {
            Ok(PortMappingList::parse(
                arg(r, "NewPortListing")?.as_bytes(),
            )?)
        },
    )
}

/// GetCommonLinkProperties (WANCommonInterfaceConfig:1).
pub fn get_common_link_properties() -> Call<LinkProperties> {
    Call::new(WAN_COMMON_IFC, "GetCommonLinkProperties", &[], |r| {
        Ok(LinkProperties {
            access_type: arg(r, "NewWANAccessType")?.to_string(),
            upstream_max_bps: num(r, "NewLayer1UpstreamMaxBitRate").unwrap_or(0),
            downstream_max_bps: num(r, "NewLayer1DownstreamMaxBitRate").unwrap_or(0),
            physical_link_status: r.arg("NewPhysicalLinkStatus").unwrap_or("").to_string(),
        })
    })
}

/// Which WANCommonInterfaceConfig:1 counter to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// GetTotalBytesSent.
    BytesSent,
    /// GetTotalBytesReceived.
    BytesReceived,
    /// GetTotalPacketsSent.
    PacketsSent,
    /// GetTotalPacketsReceived.
    PacketsReceived,
}

/// GetTotalBytesSent / ...Received / GetTotalPacketsSent / ...Received. The value is
/// a ui4 in the standard; wider values some routers send are accepted.
pub fn get_total(counter: Counter) -> Call<u64> {
    let (action, parse): (&str, Parser<u64>) = match counter {
        Counter::BytesSent => ("GetTotalBytesSent", |r| num(r, "NewTotalBytesSent")),
        Counter::BytesReceived => ("GetTotalBytesReceived", |r| num(r, "NewTotalBytesReceived")),
        Counter::PacketsSent => ("GetTotalPacketsSent", |r| num(r, "NewTotalPacketsSent")),
        Counter::PacketsReceived => ("GetTotalPacketsReceived", |r| {
            num(r, "NewTotalPacketsReceived")
        }),
    };
    Call::new(WAN_COMMON_IFC, action, &[], parse)
}

/// GetDefaultConnectionService (Layer3Forwarding:1).
pub fn get_default_connection_service() -> Call<String> {
    Call::new(L3_FORWARDING, "GetDefaultConnectionService", &[], |r| {
        Ok(arg(r, "NewDefaultConnectionService")?.to_string())
    })
}

mod pinhole;
pub use pinhole::*;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod pinhole_tests;
