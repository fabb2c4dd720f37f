//! SOAP dispatch for WANIPv6FirewallControl:1 (UPnP IGD:2, "WANIPv6FirewallControl:1
//! Service", §2.4 actions and §2.5 error codes), sans-IO.
//!
//! Rules applied before the [`PinholeBackend`] is called:
//!
//! - the requester must be an IPv6 LAN host and must be the `InternalClient` it asks a
//!   pinhole for (606 Action not authorized otherwise); UpdatePinhole, DeletePinhole,
//!   GetPinholePackets and CheckPinholeWorking are refused with 606 for a pinhole of
//!   another host;
//! - `InternalClient` must be an IPv6 unicast address that is not link-local, multicast,
//!   loopback or unspecified (402 otherwise: miniupnpd answers 402 for an address that
//!   does not parse too);
//! - `InternalPort` 0 -> 706 InternalPortWildcardingNotAllowed, below
//!   [`crate::pinhole::MIN_PINHOLE_PORT`] -> 606 (checked last, after protocol and
//!   lease); `Protocol` 65535 -> 707 ProtocolWildcardingNotAllowed, other than 6/17 ->
//!   705 ProtocolNotSupported;
//! - `LeaseTime` / `NewLeaseTime` outside 1..=86400 -> 402 (§2.3.6 range);
//! - the firewall off (`ipv6_disable=yes`) -> 702 FirewallDisabled, the table full ->
//!   701 PinholeSpaceExhausted, an unknown UniqueID -> 704 NoSuchEntry, no packet seen
//!   by CheckPinholeWorking -> 709 NoTrafficReceived, the kernel failing -> 501.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv6Addr};
use std::rc::Rc;

use portgate_proto::description::igd::IgdService;
use portgate_proto::soap::SoapRequest;

use super::soap::{answer, fault_outcome, read_request, Fault, Out, SoapOutcome};
use crate::gateway::SharedGateway;
use crate::pinhole::{
    requested_port_allowed, valid_internal_client, NewPinhole, PinholeError, PinholeOrigin,
    PinholeRecord, PinholeServiceError, SharedPinholes, MAX_LEASE_TIME,
};
use crate::table::Protocol;

/// The outbound pinhole timeout reported by GetOutboundPinholeTimeout (seconds): the
/// gateway does not time out outbound flows itself, conntrack does; this is the value
/// miniupnpd reports by default.
pub const OUTBOUND_PINHOLE_TIMEOUT: u32 = 86_400;

/// The pinhole operations WANIPv6FirewallControl needs.
pub trait PinholeBackend {
    /// Whether pinholes are enabled (`ipv6_disable=no`).
    fn enabled(&self) -> bool;
    /// Whether `ip` is a host of the IPv6 LAN.
    fn is_lan(&self, ip: Ipv6Addr) -> bool;
    /// Add or refresh a pinhole at `now` (the gateway core's seconds); its UniqueID.
    fn add(&mut self, req: NewPinhole, now: u64) -> Result<u16, PinholeServiceError>;
    /// New lease for `uid`, owned by `by`.
    fn update(
        &mut self,
        uid: u16,
        expiry: u64,
        by: Ipv6Addr,
        now: u64,
    ) -> Result<(), PinholeServiceError>;
    /// Delete `uid`, owned by `by`.
    fn delete(&mut self, uid: u16, by: Ipv6Addr, now: u64) -> Result<(), PinholeServiceError>;
    /// The pinhole `uid`, if live at `now`.
    fn get(&self, uid: u16, now: u64) -> Option<PinholeRecord>;
    /// Packets accepted through `uid`.
    fn packets(&mut self, uid: u16, now: u64) -> Result<u64, PinholeServiceError>;
}

/// [`PinholeBackend`] over the daemon's shared gateway and pinhole service.
#[derive(Clone)]
pub struct GatewayPinholes {
    gw: SharedGateway,
    pins: SharedPinholes,
}

impl GatewayPinholes {
    /// Wrap the shared handles.
    pub fn new(gw: SharedGateway, pins: SharedPinholes) -> Self {
        Self { gw, pins }
    }

    /// As the shared trait object [`super::UpnpIpv6::pinholes`] wants.
    pub fn into_shared(self) -> Rc<RefCell<dyn PinholeBackend>> {
        Rc::new(RefCell::new(self))
    }
}

impl GatewayPinholes {
    /// Before a change: tell the pinholes where the wall clock is (changes write
    /// lease_file6 lines in unix time).
    fn sync_wall(&self) {
        self.pins
            .borrow_mut()
            .set_wall_offset(crate::clock::wall_offset());
    }
}

impl PinholeBackend for GatewayPinholes {
    fn enabled(&self) -> bool {
        self.pins.borrow().settings().enabled
    }
    fn is_lan(&self, ip: Ipv6Addr) -> bool {
        self.pins.borrow().is_lan(ip)
    }
    fn add(&mut self, req: NewPinhole, now: u64) -> Result<u16, PinholeServiceError> {
        self.sync_wall();
        let r = self
            .pins
            .borrow_mut()
            .add(&mut self.gw.borrow_mut(), req, now)?;
        Ok(r.record.uid)
    }
    fn update(
        &mut self,
        uid: u16,
        expiry: u64,
        by: Ipv6Addr,
        now: u64,
    ) -> Result<(), PinholeServiceError> {
        self.sync_wall();
        self.pins
            .borrow_mut()
            .update(&mut self.gw.borrow_mut(), uid, Some(expiry), Some(by), now)
            .map(|_| ())
    }
    fn delete(&mut self, uid: u16, by: Ipv6Addr, now: u64) -> Result<(), PinholeServiceError> {
        self.sync_wall();
        self.pins
            .borrow_mut()
            .delete(&mut self.gw.borrow_mut(), uid, Some(by), now)
            .map(|_| ())
    }
    fn get(&self, uid: u16, now: u64) -> Option<PinholeRecord> {
        self.pins.borrow().get(uid, now).cloned()
    }
    fn packets(&mut self, uid: u16, now: u64) -> Result<u64, PinholeServiceError> {
        self.sync_wall();
        self.pins
            .borrow_mut()
            .packets(&mut self.gw.borrow_mut(), uid, now)
    }
}

fn service_error(e: &PinholeServiceError) -> Fault {
    match e {
        PinholeServiceError::Disabled => Fault(702),
        PinholeServiceError::Table(PinholeError::NoSuchEntry) => Fault(704),
        PinholeServiceError::Table(PinholeError::SpaceExhausted) => Fault(701),
        PinholeServiceError::Table(PinholeError::WildcardPort) => Fault(706),
        PinholeServiceError::Table(PinholeError::NotOwner | PinholeError::PrivilegedPort(_)) => {
            Fault(606)
        }
        PinholeServiceError::Table(PinholeError::BadInternalClient(_))
        | PinholeServiceError::NotLan(_) => Fault(606),
        PinholeServiceError::Firewall(_) => Fault(501),
        PinholeServiceError::Nonce(_) => Fault(606),
    }
}

/// Handles one SOAP request POSTed to the WANIPv6FirewallControl control URL by
/// `requester` at `now` (the gateway core's seconds, read by the HTTP driver).
pub fn handle(
    soapaction: Option<&str>,
    body: &[u8],
    requester: IpAddr,
    now: u64,
    backend: &mut dyn PinholeBackend,
) -> SoapOutcome {
    let Some(raw) = soapaction else {
        return fault_outcome(401);
    };
    let (action, request) = match read_request(IgdService::WanIpv6FirewallControl, raw, body) {
        Ok(r) => r,
        Err(fault) => return fault,
    };
    let requester = match requester {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(Some(a), |_| None),
        IpAddr::V4(_) => None,
    };
    let mut changed = false;
    let result = dispatch(
        &action.action,
        &request,
        requester,
        now,
        backend,
        &mut changed,
    );
    answer(&action, result, changed)
}

fn arg<'a>(req: &'a SoapRequest, name: &str) -> Result<&'a str, Fault> {
    req.arg(name).map(str::trim).ok_or(Fault(402))
}

fn num<T: std::str::FromStr>(req: &SoapRequest, name: &str) -> Result<T, Fault> {
    arg(req, name)?.parse().map_err(|_| Fault(402))
}

fn remote_host(s: &str) -> Result<Option<Ipv6Addr>, Fault> {
    match s {
        "" | "*" => Ok(None),
        s => match s.parse::<Ipv6Addr>() {
            Ok(a) if a.is_unspecified() => Ok(None),
            Ok(a) => Ok(Some(a)),
            Err(_) => Err(Fault(402)),
        },
    }
}

/// `Protocol` is an IANA number (ui2, 65535 = any); the names `TCP`/`UDP` are
/// accepted too, as `upnpc -G` sends the name.
fn protocol_number(req: &SoapRequest) -> Result<u16, Fault> {
    let s = arg(req, "Protocol")?;
    match Protocol::parse(s) {
        Some(p) => Ok(u16::from(p.number())),
        None => s.parse().map_err(|_| Fault(402)),
    }
}

fn protocol(req: &SoapRequest) -> Result<Protocol, Fault> {
    match protocol_number(req)? {
        6 => Ok(Protocol::Tcp),
        17 => Ok(Protocol::Udp),
        65535 => Err(Fault(707)),
        _ => Err(Fault(705)),
    }
}

fn lease(req: &SoapRequest, name: &str) -> Result<u32, Fault> {
    let l: u32 = num(req, name)?;
    if l == 0 || l > MAX_LEASE_TIME {
        return Err(Fault(402));
    }
    Ok(l)
}

fn uid(req: &SoapRequest) -> Result<u16, Fault> {
    num(req, "UniqueID")
}

/// The pinhole `uid`, which must be `by`'s (704 absent, 606 another host's).
fn owned(
    backend: &dyn PinholeBackend,
    uid: u16,
    by: Ipv6Addr,
    now: u64,
) -> Result<PinholeRecord, Fault> {
    let r = backend.get(uid, now).ok_or(Fault(704))?;
    if r.spec.internal_client != by {
        return Err(Fault(606));
    }
    Ok(r)
}

fn dispatch(
    action: &str,
    req: &SoapRequest,
    requester: Option<Ipv6Addr>,
    now: u64,
    backend: &mut dyn PinholeBackend,
    changed: &mut bool,
) -> Result<Out, Fault> {
    let bool_str = |b: bool| if b { "1" } else { "0" }.to_owned();
    if action == "GetFirewallStatus" {
        let on = backend.enabled();
        return Ok(vec![
            ("FirewallEnabled".to_owned(), bool_str(on)),
            ("InboundPinholeAllowed".to_owned(), bool_str(on)),
        ]);
    }
    // Every other action is about a LAN host's own pinholes.
    let by = requester.filter(|r| backend.is_lan(*r)).ok_or(Fault(606))?;
    match action {
        "GetOutboundPinholeTimeout" => {
            // Only the protocol matters for the answer; the other arguments are
            // accepted as clients send them.
            let p = protocol_number(req)?;
            if p != 6 && p != 17 && p != 65535 {
                return Err(Fault(705));
            }
            Ok(vec![(
                "OutboundPinholeTimeout".to_owned(),
                OUTBOUND_PINHOLE_TIMEOUT.to_string(),
            )])
        }
        "AddPinhole" => {
            if !backend.enabled() {
                return Err(Fault(702));
            }
            let remote = remote_host(arg(req, "RemoteHost")?)?;
            let remote_port: u16 = num(req, "RemotePort")?;
            let client_s = arg(req, "InternalClient")?;
            let client: Ipv6Addr = if client_s.is_empty() {
                by
            } else {
                client_s.parse().map_err(|_| Fault(402))?
            };
            if !valid_internal_client(client) {
                return Err(Fault(402));
            }
            if client != by {
                return Err(Fault(606));
            }
            let internal_port: u16 = num(req, "InternalPort")?;
            if internal_port == 0 {
                return Err(Fault(706));
            }
            let protocol = protocol(req)?;
            let lease = lease(req, "LeaseTime")?;
            requested_port_allowed(internal_port).map_err(|e| service_error(&e.into()))?;
            let id = backend
                .add(
                    NewPinhole {
                        remote_host: remote,
                        remote_port,
                        internal_client: client,
                        internal_port,
                        protocol,
                        expiry: Some(now + u64::from(lease)),
                        description: String::new(),
                        origin: PinholeOrigin::Upnp,
                    },
                    now,
                )
                .map_err(|e| service_error(&e))?;
            *changed = true;
            Ok(vec![("UniqueID".to_owned(), id.to_string())])
        }
        "UpdatePinhole" => {
            let uid = uid(req)?;
            let lease = lease(req, "NewLeaseTime")?;
            owned(backend, uid, by, now)?;
            backend
                .update(uid, now + u64::from(lease), by, now)
                .map_err(|e| service_error(&e))?;
            *changed = true;
            Ok(Vec::new())
        }
        "DeletePinhole" => {
            let uid = uid(req)?;
            owned(backend, uid, by, now)?;
            backend
                .delete(uid, by, now)
                .map_err(|e| service_error(&e))?;
            *changed = true;
            Ok(Vec::new())
        }
        "GetPinholePackets" => {
            let uid = uid(req)?;
            owned(backend, uid, by, now)?;
            let n = backend.packets(uid, now).map_err(|e| service_error(&e))?;
            Ok(vec![(
                "PinholePackets".to_owned(),
                u32::try_from(n).unwrap_or(u32::MAX).to_string(),
            )])
        }
        "CheckPinholeWorking" => {
            let uid = uid(req)?;
            owned(backend, uid, by, now)?;
            let n = backend.packets(uid, now).map_err(|e| service_error(&e))?;
            if n == 0 {
                return Err(Fault(709));
            }
            Ok(vec![("IsWorking".to_owned(), "1".to_owned())])
        }
        _ => Err(Fault(401)),
    }
}

#[cfg(test)]
mod tests;
