//! SOAP action dispatch for the IGD services (UDA 1.1 §3.2; WANIPConnection:1/2,
//! WANCommonInterfaceConfig:1, Layer3Forwarding:1), sans-IO.
//!
//! [`handle`] takes the control URL's service, the SOAPAction header, the body and
//! the requester's address, calls the [`UpnpBackend`] and returns the HTTP status and
//! body to send (200 with the response envelope, or 500 with a UPnP fault).

use std::net::Ipv4Addr;

use portgate_proto::description::igd::IgdService;
use portgate_proto::description::{PortMappingEntry, PortMappingList};
use portgate_proto::soap::{SoapAction, SoapFault, SoapRequest, SoapResponse};
use portgate_proto::upnp_error::UpnpErrorCode;

use super::backend::{BackendError, UpnpBackend};
use crate::config::IgdVersion;
use crate::table::{
    expiry_at, parse_internal_client, upnp_lease, ClientAddrError, Mapping, MappingKey, NewMapping,
    Origin, Protocol, Requester, TableError,
};

/// The SOAPAction of the deprecated QueryStateVariable (UDA 1.0 §3.2.1).
const QUERY_STATE_VARIABLE: &str = "urn:schemas-upnp-org:control-1-0#QueryStateVariable";

/// Per-request settings of the dispatcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoapSettings {
    /// Secure mode: clients map and delete only for themselves.
    pub secure_mode: bool,
    /// Cap on GetListOfPortMappings entries.
    pub list_max_entries: usize,
    /// The IGD version the description announces. On an IGD:2 device a lease of 0
    /// means the IGD:2 maximum whatever the SOAPAction's version (as miniupnpd built
    /// with IGD:2), and Layer3Forwarding names WANConnectionDevice:2.
    pub device_version: IgdVersion,
    /// The request's time in the gateway core's seconds (the driver reads the clock:
    /// the dispatcher and the core never do).
    pub now: u64,
}

/// What to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapOutcome {
    /// HTTP status (200 or 500).
    pub status: u16,
    /// The envelope.
    pub body: Vec<u8>,
    /// Whether the mapping table changed (GENA must be told).
    pub changed: bool,
    /// The UPnP error code, when the answer is a fault.
    pub error: Option<u16>,
}

/// A UPnP error answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fault(pub(super) u16);

/// An action's output arguments.
pub(super) type Out = Vec<(String, String)>;

pub(super) fn fault_outcome(code: u16) -> SoapOutcome {
    let mut body = Vec::new();
    SoapFault::new(UpnpErrorCode::from_code(code)).emit(&mut body);
    SoapOutcome {
        status: 500,
        body,
        changed: false,
        error: Some(code),
    }
}

/// Handles one SOAP request POSTed to `service`'s control URL.
///
/// `soapaction` is the raw header value (`None` when absent). `uuid_wcd` is the
/// WANConnectionDevice UUID (for Layer3Forwarding's default connection service).
pub fn handle(
    service: IgdService,
    soapaction: Option<&str>,
    body: &[u8],
    requester: Ipv4Addr,
    settings: SoapSettings,
    uuid_wcd: &str,
    backend: &mut dyn UpnpBackend,
) -> SoapOutcome {
    let Some(raw) = soapaction else {
        return fault_outcome(401);
    };
    if raw.trim().trim_matches('"') == QUERY_STATE_VARIABLE {
        return query_state_variable(service, body, backend);
    }
    let (action, request) = match read_request(service, raw, body) {
        Ok(r) => r,
        Err(fault) => return fault,
    };
    let version = if action.version >= 2 {
        IgdVersion::V2
    } else {
        IgdVersion::V1
    };
    let mut call = Call {
        req: &request,
        requester,
        version,
        settings,
        backend,
        changed: false,
    };
    let result = match service {
        IgdService::WanIpConnection => call.wan_ip_connection(&action.action),
        IgdService::WanCommonInterfaceConfig => call.wan_common(&action.action),
        IgdService::Layer3Forwarding => call.layer3(&action.action, uuid_wcd),
        IgdService::WanIpv6FirewallControl => Err(Fault(401)),
    };
    let changed = call.changed;
    answer(&action, result, changed)
}

/// Reads a control request for `service`: its SOAPAction value (fault 401 when it does
/// not parse, or names another service or a newer version than ours) and its envelope
/// (402 when malformed), which must name the same action (401).
pub(super) fn read_request(
    service: IgdService,
    soapaction: &str,
    body: &[u8],
) -> Result<(SoapAction, SoapRequest), SoapOutcome> {
    let Ok(action) = SoapAction::parse(soapaction.as_bytes()) else {
        tracing::debug!("soap: bad SOAPAction");
        return Err(fault_outcome(401));
    };
    let spec = service.spec();
    if action.service_urn != spec.service_urn || action.version > spec.max_version {
        tracing::debug!(urn = %action.service_urn, "soap: SOAPAction names another service");
        return Err(fault_outcome(401));
    }
    let request = match SoapRequest::parse(body) {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!("soap: bad envelope: {e}");
            return Err(fault_outcome(402));
        }
    };
    if request.action != action.action {
        return Err(fault_outcome(401));
    }
    Ok((action, request))
}

/// The answer to `action`: its response envelope, or the fault. `changed` tells GENA
/// whether the mapping table changed.
pub(super) fn answer(
    action: &SoapAction,
    result: Result<Out, Fault>,
    changed: bool,
) -> SoapOutcome {
    match result {
        Ok(args) => {
            let mut out = Vec::new();
            match args.as_slice() {
                [(name, listing)] if name == "NewPortListing" => emit_cdata_response(
                    &action.service_type(),
                    &action.action,
                    name,
                    listing,
                    &mut out,
                ),
                _ => SoapResponse {
                    service_type: action.service_type(),
                    action: action.action.clone(),
                    args,
                }
                .emit(&mut out),
            }
            SoapOutcome {
                status: 200,
                body: out,
                changed,
                error: None,
            }
        }
        Err(Fault(code)) => {
            tracing::debug!(action = %action.action, code, "soap: fault");
            SoapOutcome {
                changed,
                ..fault_outcome(code)
            }
        }
    }
}

/// A response whose one argument is an XML document carried in CDATA, as miniupnpd
/// sends NewPortListing (miniupnpc reads that argument verbatim, without decoding
/// entities). A `]]>` inside the document is split across two CDATA sections.
fn emit_cdata_response(service_type: &str, action: &str, name: &str, doc: &str, out: &mut Vec<u8>) {
    use portgate_proto::soap::{SOAP_ENCODING_STYLE, SOAP_ENVELOPE_NS};
    use portgate_proto::xml::escape_attr_into;
    out.extend_from_slice(b"<?xml version=\"1.0\"?>\n<s:Envelope xmlns:s=\"");
    out.extend_from_slice(SOAP_ENVELOPE_NS.as_bytes());
    out.extend_from_slice(b"\" s:encodingStyle=\"");
    out.extend_from_slice(SOAP_ENCODING_STYLE.as_bytes());
    out.extend_from_slice(b"\"><s:Body><u:");
    out.extend_from_slice(action.as_bytes());
    out.extend_from_slice(b"Response xmlns:u=\"");
    escape_attr_into(out, service_type);
    out.extend_from_slice(b"\"><");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"><![CDATA[");
    out.extend_from_slice(doc.replace("]]>", "]]]]><![CDATA[>").as_bytes());
    out.extend_from_slice(b"]]></");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"></u:");
    out.extend_from_slice(action.as_bytes());
    out.extend_from_slice(b"Response></s:Body></s:Envelope>\r\n");
}

fn query_state_variable(
    service: IgdService,
    body: &[u8],
    backend: &mut dyn UpnpBackend,
) -> SoapOutcome {
    let Ok(req) = SoapRequest::parse(body) else {
        return fault_outcome(402);
    };
    let Some(name) = req.arg("varName") else {
        return fault_outcome(402);
    };
    let value = match (service, name) {
        (
            IgdService::WanIpConnection | IgdService::WanCommonInterfaceConfig,
            "ConnectionStatus",
        ) => status_text(backend).to_owned(),
        (IgdService::WanIpConnection | IgdService::WanCommonInterfaceConfig, "ConnectionType") => {
            "IP_Routed".to_owned()
        }
        (
            IgdService::WanIpConnection | IgdService::WanCommonInterfaceConfig,
            "PortMappingNumberOfEntries",
        ) => backend.mapping_count().to_string(),
        _ => return fault_outcome(404),
    };
    let mut out = Vec::new();
    SoapResponse {
        service_type: "urn:schemas-upnp-org:control-1-0".to_owned(),
        action: "QueryStateVariable".to_owned(),
        args: vec![("return".to_owned(), value)],
    }
    .emit(&mut out);
    SoapOutcome {
        status: 200,
        body: out,
        changed: false,
        error: None,
    }
}

fn status_text(backend: &dyn UpnpBackend) -> &'static str {
    if backend.connection_info().connected {
        "Connected"
    } else {
        "Disconnected"
    }
}

struct Call<'a> {
    req: &'a SoapRequest,
    requester: Ipv4Addr,
    version: IgdVersion,
    settings: SoapSettings,
    backend: &'a mut dyn UpnpBackend,
    changed: bool,
}

fn out(pairs: &[(&str, String)]) -> Out {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), v.clone()))
        .collect()
}

/// Strict port: 1..=65535, ASCII digits only (no sign, no blanks).
fn strict_port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u16>().ok().filter(|&p| p != 0)
}

/// Strict unsigned 32-bit number.
fn strict_u32(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn upnp_bool(s: &str) -> Option<bool> {
    portgate_proto::description::portlist::parse_upnp_bool(s.trim())
}

impl Call<'_> {
    fn arg(&self, name: &str) -> Result<&str, Fault> {
        self.req.arg(name).ok_or(Fault(402))
    }

    fn opt_arg(&self, name: &str) -> &str {
        self.req.arg(name).unwrap_or("")
    }

    fn protocol(&self) -> Result<Protocol, Fault> {
        Protocol::parse(self.arg("NewProtocol")?.trim()).ok_or(Fault(402))
    }

    /// NewExternalPort for actions naming one mapping: wildcard 716, bad 402.
    fn external_port(&self) -> Result<u16, Fault> {
        let s = self.arg("NewExternalPort")?;
        if s.is_empty() || s == "*" || s == "0" {
            return Err(Fault(716));
        }
        strict_port(s).ok_or(Fault(402))
    }

    fn port_arg(&self, name: &str) -> Result<u16, Fault> {
        strict_port(self.arg(name)?).ok_or(Fault(402))
    }

    /// NewRemoteHost: empty or `*` is any host, else an IPv4 literal.
    fn remote_host(&self) -> Result<Option<Ipv4Addr>, Fault> {
        let s = self.opt_arg("NewRemoteHost").trim();
        if s.is_empty() || s == "*" {
            return Ok(None);
        }
        let ip: Ipv4Addr = s.parse().map_err(|_| Fault(402))?;
        if ip.is_unspecified() {
            return Ok(None);
        }
        Ok(Some(ip))
    }

    fn v2(&self) -> bool {
        self.version == IgdVersion::V2
    }

    fn table_fault(&self, e: &BackendError, deleting: bool) -> Fault {
        match e {
            BackendError::Table(t) => Fault(match t {
                TableError::ZeroExternalPort => 716,
                TableError::Conflict { .. }
                | TableError::NonceMismatch
                | TableError::OutsidePortSet { .. } => 718,
                TableError::NotAuthorized { .. } if self.v2() => 606,
                TableError::NotAuthorized { .. } if deleting => 714,
                TableError::NotAuthorized { .. } => 718,
                TableError::Denied if self.v2() => 606,
                TableError::Denied => 718,
                TableError::NotFound => 714,
                TableError::QuotaExceeded { .. }
                | TableError::TableFull { .. }
                | TableError::NoPortAvailable => 728,
            }),
            BackendError::Unavailable(_) | BackendError::Failed(_) => Fault(501),
        }
    }

    fn wan_ip_connection(&mut self, action: &str) -> Result<Out, Fault> {
        match action {
            "GetConnectionTypeInfo" => Ok(out(&[
                ("NewConnectionType", "IP_Routed".into()),
                ("NewPossibleConnectionTypes", "IP_Routed".into()),
            ])),
            "SetConnectionType" => {
                self.arg("NewConnectionType")?;
                Err(Fault(731))
            }
            "GetStatusInfo" => {
                let info = self.backend.connection_info();
                Ok(out(&[
                    ("NewConnectionStatus", status_text(&*self.backend).into()),
                    ("NewLastConnectionError", "ERROR_NONE".into()),
                    (
                        "NewUptime",
                        if info.connected { info.uptime } else { 0 }.to_string(),
                    ),
                ]))
            }
            "GetNATRSIPStatus" => Ok(out(&[
                ("NewRSIPAvailable", "0".into()),
                ("NewNATEnabled", "1".into()),
            ])),
            "GetExternalIPAddress" => Ok(out(&[(
                "NewExternalIPAddress",
                self.backend
                    .external_ipv4()
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
            )])),
            "RequestConnection" | "ForceTermination" => Err(Fault(606)),
            "AddPortMapping" => self.add(false),
            "AddAnyPortMapping" => self.add(true),
            "DeletePortMapping" => self.delete(),
            "DeletePortMappingRange" => self.delete_range(),
            "GetGenericPortMappingEntry" => self.generic(),
            "GetSpecificPortMappingEntry" => self.specific(),
            "GetListOfPortMappings" => self.list(),
            _ => Err(Fault(401)),
        }
    }

    fn add(&mut self, any: bool) -> Result<Out, Fault> {
        let protocol = self.protocol()?;
        let external_port = if any {
            let s = self.arg("NewExternalPort")?;
            if s.is_empty() || s == "*" || s == "0" {
                0
            } else {
                strict_port(s).ok_or(Fault(402))?
            }
        } else {
            self.external_port()?
        };
        let internal_port = self.port_arg("NewInternalPort")?;
        let remote_host = self.remote_host()?;
        let own = self.backend.own_addresses();
        let client_text = self.arg("NewInternalClient")?.trim();
        let internal_client =
            parse_internal_client(client_text, self.requester, &own).map_err(|e| match e {
                ClientAddrError::Gateway => Fault(606),
                _ => Fault(402),
            })?;
        if let Some(e) = self.req.arg("NewEnabled") {
            upnp_bool(e).ok_or(Fault(402))?;
        }
        let lease_text = self.opt_arg("NewLeaseDuration").trim();
        let lease_req = if lease_text.is_empty() {
            0
        } else {
            strict_u32(lease_text).ok_or(Fault(402))?
        };
        // AddAnyPortMapping only exists in WANIPConnection:2, and an IGD:2 device
        // applies WANIPConnection:2's lease rules to every request: a lease of 0 is
        // the IGD:2 maximum there (WANIPConnection:2 §2.3.16).
        let version = if any || self.settings.device_version == IgdVersion::V2 {
            IgdVersion::V2
        } else {
            self.version
        };
        let now = self.settings.now;
        let expiry = expiry_at(now, upnp_lease(version, lease_req));
        let req = NewMapping {
            external: None,
            protocol,
            external_port,
            remote_host,
            internal_client,
            internal_port,
            description: self.opt_arg("NewPortMappingDescription").to_owned(),
            expiry,
            origin: Origin::Upnp,
        };
        let by = Requester::Client(self.requester);
        match self.backend.add_mapping(req, by, any, self.settings.now) {
            Ok(o) => {
                self.changed = true;
                if any {
                    Ok(out(&[(
                        "NewReservedPort",
                        o.mapping.external_port.to_string(),
                    )]))
                } else {
                    Ok(Vec::new())
                }
            }
            Err(e) => Err(self.table_fault(&e, false)),
        }
    }

    fn delete(&mut self) -> Result<Out, Fault> {
        let remote_host = self.remote_host()?;
        let external_port = self.external_port()?;
        let protocol = self.protocol()?;
        let key = MappingKey {
            external: None,
            protocol,
            external_port,
        };
        match self.backend.delete_mapping(
            key,
            remote_host,
            Requester::Client(self.requester),
            self.settings.now,
        ) {
            Ok(_) => {
                self.changed = true;
                Ok(Vec::new())
            }
            Err(e) => Err(self.table_fault(&e, true)),
        }
    }

    fn range_args(&self) -> Result<(u16, u16, Protocol, bool), Fault> {
        // Range bounds are ui2: 0 is a valid start (miniupnpc's `upnpc -L` sends it).
        let bound = |name| -> Result<u16, Fault> {
            let s = self.arg(name)?;
            if s == "0" {
                Ok(0)
            } else {
                strict_port(s).ok_or(Fault(402))
            }
        };
        let start = bound("NewStartPort")?;
        let end = bound("NewEndPort")?;
        let protocol = self.protocol()?;
        let manage = match self.req.arg("NewManage") {
            Some(m) => upnp_bool(m).ok_or(Fault(402))?,
            None => false,
        };
        if start > end {
            return Err(Fault(733));
        }
        Ok((start, end, protocol, manage))
    }

    fn delete_range(&mut self) -> Result<Out, Fault> {
        let (start, end, protocol, manage) = self.range_args()?;
        let by = if manage && !self.settings.secure_mode {
            Requester::Trusted
        } else {
            Requester::Client(self.requester)
        };
        match self
            .backend
            .delete_range(protocol, start, end, by, self.settings.now)
        {
            Ok(v) if v.is_empty() => Err(Fault(730)),
            Ok(_) => {
                self.changed = true;
                Ok(Vec::new())
            }
            Err(e) => Err(self.table_fault(&e, true)),
        }
    }

    fn lease_left(&self, m: &Mapping) -> String {
        m.remaining(self.settings.now).unwrap_or(0).to_string()
    }

    fn generic(&mut self) -> Result<Out, Fault> {
        let idx = self.arg("NewPortMappingIndex")?.trim();
        let index: usize = idx.parse().map_err(|_| Fault(713))?;
        let m = self.backend.mapping_by_index(index).ok_or(Fault(713))?;
        Ok(out(&[
            (
                "NewRemoteHost",
                m.remote_host.map(|a| a.to_string()).unwrap_or_default(),
            ),
            ("NewExternalPort", m.external_port.to_string()),
            ("NewProtocol", m.protocol.as_str().into()),
            ("NewInternalPort", m.internal_port.to_string()),
            ("NewInternalClient", m.internal_client.to_string()),
            ("NewEnabled", "1".into()),
            ("NewPortMappingDescription", m.description.clone()),
            ("NewLeaseDuration", self.lease_left(&m)),
        ]))
    }

    fn specific(&mut self) -> Result<Out, Fault> {
        let remote_host = self.remote_host()?;
        let external_port = self.external_port()?;
        let protocol = self.protocol()?;
        let key = MappingKey {
            external: None,
            protocol,
            external_port,
        };
        let m = self
            .backend
            .mapping_specific(key, remote_host)
            .ok_or(Fault(714))?;
        Ok(out(&[
            ("NewInternalPort", m.internal_port.to_string()),
            ("NewInternalClient", m.internal_client.to_string()),
            ("NewEnabled", "1".into()),
            ("NewPortMappingDescription", m.description.clone()),
            ("NewLeaseDuration", self.lease_left(&m)),
        ]))
    }

    fn list(&mut self) -> Result<Out, Fault> {
        // NewManage is read for validity only: GetGenericPortMappingEntry shows every
        // mapping to everyone, so the list does too (as miniupnpd does).
        let (start, end, protocol, _manage) = self.range_args()?;
        let asked = match self.req.arg("NewNumberOfPorts") {
            Some(n) => strict_u32(n.trim()).ok_or(Fault(402))?,
            None => 0,
        };
        let cap = self.settings.list_max_entries.max(1);
        let max = if asked == 0 {
            cap
        } else {
            usize::try_from(asked).unwrap_or(cap).min(cap)
        };
        let now = self.settings.now;
        let entries: Vec<PortMappingEntry> = self
            .backend
            .mappings_in_range(protocol, start, end, max)
            .into_iter()
            .map(|m| PortMappingEntry {
                remote_host: m.remote_host.map(|a| a.to_string()).unwrap_or_default(),
                external_port: m.external_port,
                protocol: m.protocol.as_str().to_owned(),
                internal_port: m.internal_port,
                internal_client: m.internal_client.to_string(),
                enabled: true,
                description: m.description.clone(),
                lease_time: u32::try_from(m.remaining(now).unwrap_or(0)).unwrap_or(u32::MAX),
            })
            .collect();
        if entries.is_empty() {
            return Err(Fault(730));
        }
        let mut xml = Vec::new();
        PortMappingList { entries }.emit(&mut xml);
        Ok(out(&[(
            "NewPortListing",
            String::from_utf8_lossy(&xml).into_owned(),
        )]))
    }

    fn wan_common(&mut self, action: &str) -> Result<Out, Fault> {
        // ui4 counters wrap (WANCommonInterfaceConfig:1 §2.2: the values are ui4); a bit
        // rate past ui4 (a 10 Gbit/s link) is reported as the largest ui4 instead.
        let wrap = |v: u64| (v & 0xFFFF_FFFF).to_string();
        let ui4_max = |v: u64| v.min(u64::from(u32::MAX)).to_string();
        match action {
            "GetCommonLinkProperties" => {
                let info = self.backend.connection_info();
                Ok(out(&[
                    ("NewWANAccessType", "Ethernet".into()),
                    ("NewLayer1UpstreamMaxBitRate", ui4_max(info.bitrate_up)),
                    ("NewLayer1DownstreamMaxBitRate", ui4_max(info.bitrate_down)),
                    (
                        "NewPhysicalLinkStatus",
                        if info.link_up { "Up" } else { "Down" }.into(),
                    ),
                ]))
            }
            "GetTotalBytesSent" => Ok(out(&[(
                "NewTotalBytesSent",
                wrap(self.backend.wan_counters().bytes_sent),
            )])),
            "GetTotalBytesReceived" => Ok(out(&[(
                "NewTotalBytesReceived",
                wrap(self.backend.wan_counters().bytes_received),
            )])),
            "GetTotalPacketsSent" => Ok(out(&[(
                "NewTotalPacketsSent",
                wrap(self.backend.wan_counters().packets_sent),
            )])),
            "GetTotalPacketsReceived" => Ok(out(&[(
                "NewTotalPacketsReceived",
                wrap(self.backend.wan_counters().packets_received),
            )])),
            _ => Err(Fault(401)),
        }
    }

    fn layer3(&mut self, action: &str, uuid_wcd: &str) -> Result<Out, Fault> {
        let ours = format!(
            "uuid:{uuid_wcd}:WANConnectionDevice:{},urn:upnp-org:serviceId:WANIPConn1",
            self.settings.device_version.number()
        );
        match action {
            "GetDefaultConnectionService" => Ok(out(&[("NewDefaultConnectionService", ours)])),
            "SetDefaultConnectionService" => {
                let asked = self.arg("NewDefaultConnectionService")?;
                if asked.trim() == ours {
                    Ok(Vec::new())
                } else {
                    // Layer3Forwarding:1 §2.4.1: 720 InvalidDeviceUUID / 721 InvalidServiceID;
                    // there is only one connection service to choose.
                    Err(Fault(720))
                }
            }
            _ => Err(Fault(401)),
        }
    }
}

#[cfg(test)]
mod tests;
