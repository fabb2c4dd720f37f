//! Dual-stack hosts: an IPv4 port mapping (the [`Mapper`]) plus an IPv6 inbound
//! pinhole (WANIPv6FirewallControl:1) for the same port, made, renewed and released
//! together — and the blocking IPv6 helpers they need: SSDP discovery on ff02::c per
//! interface ([`discover_v6`]) and PCP MAP to the IPv6 gateway ([`pcp_map_v6`]).
//!
//! The pinhole half is [`PinholeKeeper`]: AddPinhole, UpdatePinhole at half the
//! lease (WANIPv6FirewallControl:1 §2.5.4), AddPinhole again when the firewall forgot
//! the pinhole (704 NoSuchEntry after a reboot), DeletePinhole on release.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket};
use std::time::{Duration, Instant};

use portgate_proto::ssdp;
use portgate_proto::upnp_error::UpnpErrorCode;

use crate::blocking::{drive, Client};
use crate::error::ClientError;
use crate::mapper::{Event, Mapper, Mapping};
use crate::pcp::{MapParams, PcpMapping, PcpTransaction, PeerParams};
use crate::route::{self, Gateway6};
use crate::upnp::actions::{self, PinholeSpec};
use crate::upnp::discovery::{Discovery, SsdpHit};
use crate::upnp::Igd;

/// Shortest interval between two pinhole renewals: a firewall granting a tiny lease
/// must not make the keeper hammer it.
pub const MIN_PINHOLE_RENEW: Duration = Duration::from_secs(5);

/// A pinhole the firewall granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinhole {
    /// The firewall's UniqueID for it.
    pub id: u16,
    /// What it lets in.
    pub spec: PinholeSpec,
    /// Lease in seconds.
    pub lease: u32,
}

/// What happened to the pinhole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinholeEvent {
    /// The pinhole was opened.
    Opened(Pinhole),
    /// UpdatePinhole succeeded.
    Renewed(Pinhole),
    /// The firewall had forgotten it (704) and it was opened again, maybe with
    /// another UniqueID.
    Reopened(Pinhole),
    /// It could not be renewed or reopened (the error text); retried next time.
    Lost(String),
}

/// Keeps one IPv6 pinhole open.
#[derive(Debug)]
pub struct PinholeKeeper {
    client: Client,
    igd: Igd,
    spec: PinholeSpec,
    lease: u32,
    current: Option<Pinhole>,
    last: Option<Instant>,
}

impl PinholeKeeper {
    /// A keeper for `spec` on `igd`'s WANIPv6FirewallControl service; nothing is sent
    /// yet. Fails with [`ClientError::NoIgd`] when the device has no such service and
    /// [`ClientError::InvalidArgument`] for a lease outside 1..=86400.
    pub fn new(
        client: Client,
        igd: Igd,
        spec: PinholeSpec,
        lease: u32,
    ) -> Result<Self, ClientError> {
        if !igd.has_ipv6_firewall() {
            return Err(ClientError::NoIgd);
        }
        actions::add_pinhole(&spec, lease)?;
        Ok(Self {
            client,
            igd,
            spec,
            lease,
            current: None,
            last: None,
        })
    }

    /// The open pinhole, if any.
    pub fn pinhole(&self) -> Option<&Pinhole> {
        self.current.as_ref()
    }

    /// Opens the pinhole (AddPinhole).
    pub fn open(&mut self) -> Result<Pinhole, ClientError> {
        let id = self
            .client
            .call(&self.igd, actions::add_pinhole(&self.spec, self.lease)?)?;
        let p = Pinhole {
            id,
            spec: self.spec.clone(),
            lease: self.lease,
        };
        tracing::debug!(id, "pinhole opened");
        self.current = Some(p.clone());
        self.last = Some(Instant::now());
        Ok(p)
    }

    /// When the next renewal is due: half the lease after the last success.
    pub fn renew_due(&self) -> Option<Instant> {
        self.current.as_ref()?;
        let every = Duration::from_secs(u64::from(self.lease) / 2).max(MIN_PINHOLE_RENEW);
        Some(self.last? + every)
    }

    /// UpdatePinhole; AddPinhole again when the firewall no longer knows the ID.
    pub fn renew(&mut self) -> PinholeEvent {
        let Some(p) = self.current.clone() else {
            return match self.open() {
                Ok(p) => PinholeEvent::Opened(p),
                Err(e) => PinholeEvent::Lost(e.to_string()),
            };
        };
        let r =
            actions::update_pinhole(p.id, self.lease).and_then(|c| self.client.call(&self.igd, c));
        match r {
            Ok(()) => {
                self.last = Some(Instant::now());
                PinholeEvent::Renewed(p)
            }
            Err(e) => {
                let forgotten = matches!(
                    &e,
                    ClientError::Upnp {
                        code: UpnpErrorCode::NoSuchEntry,
                        ..
                    }
                );
                tracing::debug!(id = p.id, error = %e, forgotten, "pinhole update failed: reopening");
                match self.open() {
                    Ok(p) => PinholeEvent::Reopened(p),
                    Err(e2) => {
                        self.last = Some(Instant::now());
                        PinholeEvent::Lost(e2.to_string())
                    }
                }
            }
        }
    }

    /// DeletePinhole now.
    pub fn release(&mut self) -> Result<(), ClientError> {
        let Some(p) = self.current.take() else {
            return Ok(());
        };
        self.client.call(&self.igd, actions::delete_pinhole(p.id))
    }

    /// Gives up ownership: the pinhole stays open until its lease ends.
    pub fn detach(mut self) -> Option<Pinhole> {
        self.current.take()
    }
}

impl Drop for PinholeKeeper {
    fn drop(&mut self) {
        if let Err(e) = self.release() {
            tracing::debug!(error = %e, "pinhole release on drop failed");
        }
    }
}

/// What a dual-stack renewal reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DualEvent {
    /// The IPv4 mapping's event.
    V4(Event),
    /// The IPv6 pinhole's event.
    V6(PinholeEvent),
}

/// What [`DualStack::map`] returns: each half's outcome (`None` for an absent half).
pub type DualResult = (
    Option<Result<Mapping, ClientError>>,
    Option<Result<Pinhole, ClientError>>,
);

/// An IPv4 mapping and an IPv6 pinhole for the same service, kept together: both made
/// by [`DualStack::map`], renewed by [`DualStack::renew`] whenever either is due,
/// both released by [`DualStack::release`] or on drop. Either half may be missing
/// (a host with one family only keeps the other).
#[derive(Debug)]
pub struct DualStack {
    v4: Option<Mapper>,
    v6: Option<PinholeKeeper>,
}

impl DualStack {
    /// Composes an IPv4 mapper and a pinhole keeper (either may be absent).
    pub fn new(v4: Option<Mapper>, v6: Option<PinholeKeeper>) -> Self {
        Self { v4, v6 }
    }

    /// Makes both. Each half's result is reported on its own: one family failing does
    /// not undo the other (a dual-stack host reachable on one family is still
    /// reachable).
    pub fn map(&mut self) -> DualResult {
        (
            self.v4.as_mut().map(Mapper::map),
            self.v6.as_mut().map(PinholeKeeper::open),
        )
    }

    /// The earlier of the two halves' renewal times.
    pub fn renew_due(&self) -> Option<Instant> {
        let a = self.v4.as_ref().and_then(Mapper::renew_due);
        let b = self.v6.as_ref().and_then(PinholeKeeper::renew_due);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Renews both halves together (whichever is due first triggers both, so the
    /// mapping and the pinhole never drift apart by more than one interval).
    pub fn renew(&mut self) -> Vec<DualEvent> {
        let mut out = Vec::new();
        if let Some(m) = self.v4.as_mut() {
            out.extend(m.renew().into_iter().map(DualEvent::V4));
        }
        if let Some(p) = self.v6.as_mut() {
            out.push(DualEvent::V6(p.renew()));
        }
        out
    }

    /// The IPv4 mapper, if any.
    pub fn v4(&self) -> Option<&Mapper> {
        self.v4.as_ref()
    }

    /// The pinhole keeper, if any.
    pub fn v6(&self) -> Option<&PinholeKeeper> {
        self.v6.as_ref()
    }

    /// Releases both; the first error is returned after both were tried.
    pub fn release(&mut self) -> Result<(), ClientError> {
        let a = self.v4.as_mut().map_or(Ok(()), Mapper::release);
        let b = self.v6.as_mut().map_or(Ok(()), PinholeKeeper::release);
        a.and(b)
    }
}

/// PCP MAP for this host's IPv6 address to the IPv6 gateway (RFC 6887 §11: on an
/// IPv6 firewall, a MAP opens an inbound pinhole). A link-local gateway is reached on
/// `gw.ifindex`. Renew by passing the returned nonce in `params`; delete with
/// lifetime 0.
pub fn pcp_map_v6(
    client: &Client,
    gw: &Gateway6,
    params: MapParams,
) -> Result<PcpMapping, ClientError> {
    drive_v6(client, gw, |server, local, config| {
        PcpTransaction::map(server, local, params, config)
    })
}

/// PCP PEER (RFC 6887 §12) from this host's IPv6 address to the IPv6 gateway: on an
/// IPv6 firewall it opens a pinhole for the one remote peer address and port. A
/// link-local gateway is reached on `gw.ifindex`.
pub fn pcp_peer_v6(
    client: &Client,
    gw: &Gateway6,
    params: PeerParams,
) -> Result<PcpMapping, ClientError> {
    drive_v6(client, gw, |server, local, config| {
        PcpTransaction::peer(server, local, params, config)
    })
}

/// Runs the PCP transaction `make(server, client address, config)` builds from
/// `gw.local` to the IPv6 gateway (scoped when link-local).
fn drive_v6(
    client: &Client,
    gw: &Gateway6,
    make: impl FnOnce(IpAddr, IpAddr, crate::pcp::PcpConfig) -> PcpTransaction,
) -> Result<PcpMapping, ClientError> {
    let scope = if is_link_local(gw.gateway) {
        gw.ifindex
    } else {
        0
    };
    let sock = UdpSocket::bind(SocketAddrV6::new(gw.local, 0, 0, 0))?;
    let mut t = make(IpAddr::V6(gw.gateway), IpAddr::V6(gw.local), client.pcp).with_scope_id(scope);
    drive(&sock, &mut t)
}

fn is_link_local(a: Ipv6Addr) -> bool {
    a.segments().first().is_some_and(|s| s & 0xffc0 == 0xfe80)
}

/// SSDP discovery over IPv6: M-SEARCH to `[ff02::c]:1900` on every interface with a
/// link-local address (or only `client.interface`), collecting answers until the
/// client's discovery settings say stop. Answers carry IPv6 LOCATIONs for gateways
/// that listen on IPv6.
pub fn discover_v6(client: &Client) -> Result<Vec<SsdpHit>, ClientError> {
    let mut ifs = route::multicast_interfaces_v6()?;
    if let Some(want) = &client.interface {
        ifs.retain(|i| &i.name == want);
    }
    if ifs.is_empty() {
        return Err(ClientError::InvalidArgument("no ipv6 multicast interface"));
    }
    let mut socks = Vec::new();
    for i in &ifs {
        let s = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::DGRAM, None)?;
        s.set_only_v6(true)?;
        s.set_multicast_if_v6(i.index)?;
        s.set_multicast_hops_v6(2)?;
        s.bind(&SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0)).into())?;
        s.set_nonblocking(true)?;
        let dest = SocketAddrV6::new(
            ssdp::SSDP_MULTICAST_V6_LINK_LOCAL,
            ssdp::SSDP_PORT,
            0,
            i.index,
        );
        socks.push((UdpSocket::from(s), dest));
    }
    let mut d = Discovery::new(client.discovery);
    let mut buf = vec![0u8; ssdp::MAX_DATAGRAM_LEN + 1];
    let mut sends = d.poll_transmit(Instant::now());
    loop {
        if !sends.is_empty() {
            let v6 = Discovery::searches_v6(false);
            for (s, dest) in &socks {
                for dg in &v6 {
                    if let Err(e) = s.send_to(dg, *dest) {
                        tracing::debug!(error = %e, "ssdp v6 send failed");
                    }
                }
            }
        }
        let mut got = false;
        for (s, _) in &socks {
            loop {
                match s.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        got = true;
                        d.handle_datagram(Instant::now(), from, buf.get(..n).unwrap_or_default());
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        break
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "ssdp v6 receive failed");
                        break;
                    }
                }
            }
        }
        let now = Instant::now();
        if d.is_done(now) {
            return Ok(d.into_hits());
        }
        if !got {
            let wake = d.poll_timeout().unwrap_or(now);
            std::thread::sleep(
                wake.saturating_duration_since(now)
                    .min(Duration::from_millis(2)),
            );
        }
        sends = d.poll_transmit(Instant::now());
    }
}

/// Discovers over IPv6 and returns the first gateway whose description has a
/// WANIPv6FirewallControl service.
pub fn find_ipv6_firewall(client: &Client) -> Result<Igd, ClientError> {
    for hit in discover_v6(client)? {
        match client.fetch_igd(&hit.location) {
            Ok(igd) if igd.has_ipv6_firewall() => return Ok(igd),
            Ok(_) => tracing::debug!(location = %hit.location, "no ipv6 firewall service"),
            Err(e) => tracing::debug!(location = %hit.location, error = %e, "description unusable"),
        }
    }
    Err(ClientError::NoIgd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upnp::actions::PinholeProtocol;

    fn igd(with_fw: bool) -> Igd {
        let mut desc = Vec::new();
        portgate_proto::description::IgdConfig {
            ipv6_firewall: with_fw,
            ..Default::default()
        }
        .emit_description(&mut desc);
        Igd::from_description("http://[::1]:9/rootDesc.xml", &desc).expect("igd")
    }

    fn spec() -> PinholeSpec {
        PinholeSpec {
            remote_host: None,
            remote_port: 0,
            internal_client: "2001:db8:1::10".parse().expect("v6"),
            internal_port: 22,
            protocol: PinholeProtocol::Tcp,
        }
    }

    #[test]
    fn keeper_checks_service_and_lease_before_sending() {
        assert!(matches!(
            PinholeKeeper::new(Client::new(), igd(false), spec(), 60),
            Err(ClientError::NoIgd)
        ));
        assert!(matches!(
            PinholeKeeper::new(Client::new(), igd(true), spec(), 0),
            Err(ClientError::InvalidArgument(_))
        ));
        let k = PinholeKeeper::new(Client::new(), igd(true), spec(), 60).expect("keeper");
        assert!(k.pinhole().is_none());
        assert_eq!(k.renew_due(), None);
    }

    #[test]
    fn dual_renew_due_is_the_earlier_half() {
        let mut k = PinholeKeeper::new(Client::new(), igd(true), spec(), 60).expect("keeper");
        let t = Instant::now();
        k.current = Some(Pinhole {
            id: 1,
            spec: spec(),
            lease: 60,
        });
        k.last = Some(t);
        assert_eq!(k.renew_due(), Some(t + Duration::from_secs(30)));
        k.lease = 4;
        assert_eq!(k.renew_due(), Some(t + MIN_PINHOLE_RENEW));
        let d = DualStack::new(None, Some(k));
        assert_eq!(d.renew_due(), Some(t + MIN_PINHOLE_RENEW));
        // Detach so the drop does not try to delete it on a port nobody listens on.
        let DualStack { v6, .. } = d;
        assert_eq!(v6.and_then(PinholeKeeper::detach).map(|p| p.id), Some(1));
    }

    #[test]
    fn link_local_detection() {
        assert!(is_link_local("fe80::1".parse().expect("v6")));
        assert!(is_link_local("febf::1".parse().expect("v6")));
        assert!(!is_link_local("fec0::1".parse().expect("v6")));
        assert!(!is_link_local("2001:db8::1".parse().expect("v6")));
    }
}
