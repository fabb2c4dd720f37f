//! The mapper: get a mapping by whichever protocol the gateway speaks, keep it alive,
//! recover from what routers do, release it when done (docs/design.md, "portgate-client").
//!
//! First version, blocking: [`Mapper::map`] probes PCP, NAT-PMP and UPnP in parallel
//! (with [`Via::Auto`]) and maps with the first that answers; [`Mapper::renew`]
//! renews at half the lease and reports [`Event`]s; dropping the mapper deletes the
//! mapping. Recovery implemented: UPnP 718/729 (AddAnyPortMapping on IGD:2, else the
//! next ports), 725/402 on the lease (permanent lease, deleted on release), NAT-PMP /
//! PCP epoch going backwards (re-map, reported), a lost mapping (re-mapped at the next
//! renewal), a changed external port or address (reported).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::announce::{AnnounceListener, Announcement, RENEW_SPREAD};
use crate::blocking::Client;
use crate::error::ClientError;
use crate::natpmp::NatPmpTransaction;
use crate::pcp::{MapParams, PcpMapping, PcpTransaction};
use crate::upnp::actions::{self, PortMappingRequest};
use crate::upnp::Igd;
use crate::Protocol;

/// How many other external ports to try after a UPnP conflict (718/729) on an IGD:1.
pub const CONFLICT_RETRIES: u16 = 8;

/// How often a permanent UPnP mapping is checked (it has no lease to renew).
pub const PERMANENT_CHECK_INTERVAL: Duration = Duration::from_secs(300);

/// Shortest renewal interval, so a tiny lease from a gateway cannot make us spin.
pub const MIN_RENEW_INTERVAL: Duration = Duration::from_secs(2);

/// How long a unicast search to the routing table's gateway runs alone before the
/// multicast discovery joins it: a LAN gateway answers a unicast search in about a
/// millisecond (UDA 1.1 §1.3.2: at once), description fetch included well under this.
pub const UNICAST_HEAD_START: Duration = Duration::from_millis(100);

/// Which protocol to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Via {
    /// Probe all three in parallel, use the first that answers.
    Auto,
    /// PCP (RFC 6887).
    Pcp,
    /// NAT-PMP (RFC 6886).
    NatPmp,
    /// UPnP IGD.
    Upnp,
}

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Pcp => "pcp",
            Self::NatPmp => "natpmp",
            Self::Upnp => "upnp",
        })
    }
}

/// What to map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapSpec {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The LAN port.
    pub internal_port: u16,
    /// The external port wanted (0: any).
    pub external_port: u16,
    /// Lease in seconds (UPnP 0 = permanent; NAT-PMP/PCP need a lease > 0).
    pub lease: u32,
    /// Only this remote host may use the mapping (UPnP NewRemoteHost, PCP FILTER).
    pub remote_host: Option<IpAddr>,
    /// Description (UPnP, PCP DESCRIPTION option).
    pub description: String,
    /// Protocol choice.
    pub via: Via,
}

/// A live mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The protocol that made it.
    pub via: Via,
    /// The gateway's address.
    pub gateway: IpAddr,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The external address, if known.
    pub external_address: Option<IpAddr>,
    /// The external port.
    pub external_port: u16,
    /// The internal address (this host).
    pub internal_address: IpAddr,
    /// The internal port.
    pub internal_port: u16,
    /// Granted lease in seconds (0: permanent).
    pub lease: u32,
}

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The mapping was made.
    Mapped(Mapping),
    /// The mapping was renewed unchanged.
    Renewed(Mapping),
    /// The external address or port changed (old, new).
    Changed(Mapping, Mapping),
    /// The gateway lost its state (epoch went backwards, or the entry vanished) and
    /// the mapping was made again.
    Recovered(Mapping),
    /// The mapping could not be renewed.
    Lost(String),
}

#[derive(Debug)]
enum State {
    Pcp(Ipv4Addr, PcpMapping, Instant),
    NatPmp(Ipv4Addr, u32, Instant),
    Upnp(Box<Igd>),
}

/// The mapper. Dropping it deletes the mapping (unless [`Mapper::detach`]ed).
#[derive(Debug)]
pub struct Mapper {
    client: Client,
    spec: MapSpec,
    gateway: Option<Ipv4Addr>,
    igd: Option<Igd>,
    state: Option<State>,
    current: Option<Mapping>,
    last_renew: Option<Instant>,
    /// The UPnP lease actually used (0 after 725/402).
    upnp_lease: u32,
    /// Where the gateway's announcements arrive (opened by the first
    /// [`Mapper::wait_and_renew`]; `None` inside when port 5350 cannot be had).
    announcements: Option<Option<AnnounceListener>>,
    /// When an announcement brought the next renewal forward to ([`Mapper::announced`]).
    early: Option<Instant>,
}

/// The outcome of one protocol probe in [`Via::Auto`].
enum Probe {
    Pcp(Ipv4Addr),
    NatPmp(Ipv4Addr),
    Upnp(Box<Igd>),
}

/// Whether an epoch report means the gateway restarted (RFC 6886 §3.6: the new epoch
/// must be at least 7/8 of the elapsed time past the old one, less 2 s).
/// Whether announcement `a` tells a mapper something new: an external address other
/// than `address` (the mapping's), or, given the epoch last seen and when (`known`), an
/// epoch that went back. Without a known epoch (UPnP) every announcement counts.
pub fn announcement_is_news(
    a: &Announcement,
    known: Option<(u32, Instant)>,
    address: Option<IpAddr>,
    now: Instant,
) -> bool {
    let moved = a
        .external
        .is_some_and(|x| address.is_some_and(|k| k != IpAddr::V4(x)));
    moved || known.map_or(true, |(epoch, at)| epoch_reset(epoch, at, a.epoch, now))
}

/// The client's own elapsed time is kept to the millisecond: the epochs are whole
/// seconds, and truncating the elapsed time too could hide a restart a few seconds in.
pub fn epoch_reset(old_epoch: u32, old_at: Instant, new_epoch: u32, now: Instant) -> bool {
    let elapsed_ms =
        u64::try_from(now.saturating_duration_since(old_at).as_millis()).unwrap_or(u64::MAX);
    let expected_ms = u64::from(old_epoch)
        .saturating_mul(1000)
        .saturating_add(elapsed_ms / 8 * 7);
    (u64::from(new_epoch) + 2).saturating_mul(1000) < expected_ms
}

/// Finds the IGD, racing a unicast search to the routing table's gateway (answered at
/// once, UDA 1.1 §1.3.2) against the client's full multicast discovery; the first
/// gateway found wins. `known` short-circuits both.
pub fn find_igd_fast(
    client: &Client,
    gateway: Option<Ipv4Addr>,
    known: Option<Igd>,
) -> Result<Igd, ClientError> {
    if let Some(i) = known {
        return Ok(i);
    }
    let (tx, rx) = mpsc::channel::<Result<Igd, ClientError>>();
    let mut started = 0;
    if let Some(gw) = gateway {
        started += 1;
        let c = client.clone();
        let t = tx.clone();
        std::thread::spawn(move || {
            let _ = t.send(unicast_find_igd(&c, gw));
        });
        // Give the unicast search a head start: a gateway that answers it spares the
        // LAN (and its per-sender search budget) the multicast round.
        match rx.recv_timeout(UNICAST_HEAD_START) {
            Ok(Ok(i)) => return Ok(i),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "unicast igd search failed");
                started -= 1;
            }
            Err(_) => {}
        }
    }
    started += 1;
    let c = client.clone();
    std::thread::spawn(move || {
        let _ = tx.send(c.find_igd());
    });
    let mut last = Err(ClientError::NoIgd);
    for _ in 0..started {
        match rx.recv() {
            Ok(Ok(i)) => return Ok(i),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "igd search failed");
                last = Err(e);
            }
            Err(_) => break,
        }
    }
    last
}

/// The unicast half of [`find_igd_fast`]: M-SEARCH straight to `gateway`:1900 and
/// fetch the description of the first answer.
fn unicast_find_igd(client: &Client, gateway: Ipv4Addr) -> Result<Igd, ClientError> {
    use crate::upnp::discovery::Discovery;
    let dest = std::net::SocketAddr::new(IpAddr::V4(gateway), portgate_proto::ssdp::SSDP_PORT);
    let sock = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    let mut d = Discovery::new(client.discovery);
    let start = Instant::now();
    let _ = d.poll_transmit(start); // starts the clock; the multicast datagrams are not ours
    let search = Discovery::unicast_search(dest);
    let mut sent = 0;
    let mut buf = vec![0u8; portgate_proto::ssdp::MAX_DATAGRAM_LEN + 1];
    let deadline = start + client.discovery.timeout;
    loop {
        let now = Instant::now();
        if sent == 0 || (sent == 1 && now >= start + client.discovery.resend_after) {
            sent += 1;
            if let Err(e) = sock.send_to(&search, dest) {
                tracing::debug!(error = %e, "unicast search send failed");
            }
        }
        if let Some(hit) = d.hits().first() {
            return client.fetch_igd(&hit.location);
        }
        if now >= deadline {
            return Err(ClientError::NoIgd);
        }
        let mut wake = deadline;
        if sent == 1 {
            wake = wake.min(start + client.discovery.resend_after);
        }
        let wait = wake
            .saturating_duration_since(now)
            .max(Duration::from_millis(1));
        sock.set_read_timeout(Some(wait))?;
        match sock.recv_from(&mut buf) {
            Ok((n, from)) if from.ip() == IpAddr::V4(gateway) => {
                d.handle_datagram(Instant::now(), from, buf.get(..n).unwrap_or_default())
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                        | std::io::ErrorKind::ConnectionRefused
                ) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// The events one successful renewal reports: `Changed` when the gateway, external
/// address or port moved (and `Recovered` too when the gateway had lost the mapping),
/// `Recovered` when it had to be made again, else `Renewed`.
pub fn classify(old: &Mapping, new: Mapping, reset: bool) -> Vec<Event> {
    let moved = new.external_port != old.external_port
        || new.external_address != old.external_address
        || new.gateway != old.gateway;
    match (moved, reset) {
        (true, true) => vec![
            Event::Changed(old.clone(), new.clone()),
            Event::Recovered(new),
        ],
        (true, false) => vec![Event::Changed(old.clone(), new)],
        (false, true) => vec![Event::Recovered(new)],
        (false, false) => vec![Event::Renewed(new)],
    }
}

impl Mapper {
    /// A mapper. `gateway` skips routing-table detection; `igd` skips discovery.
    pub fn new(client: Client, spec: MapSpec, gateway: Option<Ipv4Addr>, igd: Option<Igd>) -> Self {
        let upnp_lease = spec.lease;
        Self {
            client,
            spec,
            gateway,
            igd,
            state: None,
            current: None,
            last_renew: None,
            upnp_lease,
            announcements: None,
            early: None,
        }
    }

    /// The current mapping.
    pub fn mapping(&self) -> Option<&Mapping> {
        self.current.as_ref()
    }

    fn gateway(&self) -> Result<Ipv4Addr, ClientError> {
        match self.gateway {
            Some(g) => Ok(g),
            None => crate::route::gateway_v4(self.client.interface.as_deref()).map(|(g, _)| g),
        }
    }

    fn probe(&mut self) -> Result<Probe, ClientError> {
        let gw = self.gateway();
        let (tx, rx) = mpsc::channel::<Result<Probe, ClientError>>();
        let mut started = 0;
        {
            if let Ok(gw) = gw {
                let c = self.client.clone();
                let t = tx.clone();
                started += 2;
                std::thread::spawn(move || {
                    let local = crate::route::local_address_for(IpAddr::V4(gw));
                    let r = local.and_then(|l| {
                        c.run(&mut PcpTransaction::announce(IpAddr::V4(gw), l, c.pcp))
                    });
                    let _ = t.send(r.map(|_| Probe::Pcp(gw)));
                });
                let c = self.client.clone();
                let t = tx.clone();
                std::thread::spawn(move || {
                    let r = c.run(&mut NatPmpTransaction::external_address(gw, c.natpmp));
                    let _ = t.send(r.map(|_| Probe::NatPmp(gw)));
                });
            }
            let c = self.client.clone();
            let t = tx.clone();
            let known = self.igd.clone();
            let gw_known = gw.as_ref().ok().copied();
            started += 1;
            std::thread::spawn(move || {
                let r = find_igd_fast(&c, gw_known, known);
                let _ = t.send(r.map(|i| Probe::Upnp(Box::new(i))));
            });
            drop(tx);
            let mut last = Err(ClientError::NoGateway);
            for _ in 0..started {
                match rx.recv() {
                    Ok(Ok(p)) => return Ok(p),
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "probe failed");
                        last = Err(e);
                    }
                    Err(_) => break,
                }
            }
            last
        }
        // The losing probes run on, detached, until their own deadlines; they are
        // read-only (ANNOUNCE, external address, discovery) and their answers dropped.
    }

    /// Makes the mapping.
    pub fn map(&mut self) -> Result<Mapping, ClientError> {
        let via = self.spec.via;
        let m = match via {
            Via::Pcp => {
                let gw = self.gateway()?;
                self.map_pcp(gw, None)?
            }
            Via::NatPmp => {
                let gw = self.gateway()?;
                self.map_natpmp(gw)?
            }
            Via::Upnp => {
                let gw = self.gateway().ok();
                let igd = find_igd_fast(&self.client, gw, self.igd.take())?;
                self.map_upnp(igd)?
            }
            Via::Auto => match self.probe()? {
                Probe::Pcp(gw) => self.map_pcp(gw, None)?,
                Probe::NatPmp(gw) => self.map_natpmp(gw)?,
                Probe::Upnp(igd) => self.map_upnp(*igd)?,
            },
        };
        self.current = Some(m.clone());
        self.last_renew = Some(Instant::now());
        Ok(m)
    }

    fn map_pcp(&mut self, gw: Ipv4Addr, nonce: Option<[u8; 12]>) -> Result<Mapping, ClientError> {
        let s = &self.spec;
        if s.lease == 0 {
            return Err(ClientError::InvalidArgument("pcp needs a lease > 0"));
        }
        let mut p = MapParams::new(s.protocol.iana(), s.internal_port, s.external_port, s.lease);
        if let Some(n) = nonce {
            p.nonce = n;
        }
        if let Some(r) = s.remote_host {
            p.filters.push(portgate_proto::pcp::Filter {
                prefix_length: 128,
                remote_peer_port: 0,
                remote_peer_address: r,
            });
        }
        if !s.description.is_empty() {
            p.description = Some(s.description.clone());
        }
        let m = self.client.pcp_map(IpAddr::V4(gw), p)?;
        let local = crate::route::local_address_for(IpAddr::V4(gw))?;
        self.state = Some(State::Pcp(gw, m, Instant::now()));
        Ok(Mapping {
            via: Via::Pcp,
            gateway: IpAddr::V4(gw),
            protocol: s.protocol,
            external_address: Some(m.external_address),
            external_port: m.external_port,
            internal_address: local,
            internal_port: s.internal_port,
            lease: m.lifetime,
        })
    }

    fn map_natpmp(&mut self, gw: Ipv4Addr) -> Result<Mapping, ClientError> {
        let s = &self.spec;
        if s.lease == 0 {
            return Err(ClientError::InvalidArgument("nat-pmp needs a lease > 0"));
        }
        let m =
            self.client
                .natpmp_map(gw, s.protocol, s.internal_port, s.external_port, s.lease)?;
        let ext = self.client.natpmp_external(gw).ok();
        let local = crate::route::local_address_for(IpAddr::V4(gw))?;
        self.state = Some(State::NatPmp(gw, m.epoch, Instant::now()));
        Ok(Mapping {
            via: Via::NatPmp,
            gateway: IpAddr::V4(gw),
            protocol: s.protocol,
            external_address: ext.map(|e| IpAddr::V4(e.address)),
            external_port: m.external_port,
            internal_address: local,
            internal_port: s.internal_port,
            lease: m.lifetime,
        })
    }

    fn upnp_request(
        &self,
        igd: &Igd,
        external_port: u16,
    ) -> Result<PortMappingRequest, ClientError> {
        let local = crate::route::local_address_for(igd.address().ok_or(ClientError::NoIgd)?)?;
        Ok(PortMappingRequest {
            remote_host: self.spec.remote_host,
            external_port,
            protocol: self.spec.protocol,
            internal_port: self.spec.internal_port,
            internal_client: local,
            enabled: true,
            description: if self.spec.description.is_empty() {
                "portgate".into()
            } else {
                self.spec.description.clone()
            },
            lease: self.upnp_lease,
        })
    }

    fn map_upnp(&mut self, igd: Igd) -> Result<Mapping, ClientError> {
        let wanted = if self.spec.external_port == 0 {
            self.spec.internal_port
        } else {
            self.spec.external_port
        };
        let mut req = self.upnp_request(&igd, wanted)?;
        let st = igd.service_type().to_string();
        let mut port = wanted;
        let mut tries = 0;
        loop {
            req.external_port = port;
            req.lease = self.upnp_lease;
            match self.client.call(&igd, actions::add_port_mapping(&st, &req)) {
                Ok(()) => break,
                Err(ClientError::Upnp { code, .. })
                    if matches!(code.code(), 725 | 402) && self.upnp_lease != 0 =>
                {
                    tracing::debug!(%code, "lease refused: retrying with a permanent lease");
                    self.upnp_lease = 0;
                }
                Err(ClientError::Upnp { code, .. }) if matches!(code.code(), 718 | 729) => {
                    if igd.is_igd2() {
                        port = self
                            .client
                            .call(&igd, actions::add_any_port_mapping(&st, &req))?;
                        break;
                    }
                    tries += 1;
                    if tries > CONFLICT_RETRIES {
                        return Err(ClientError::Upnp {
                            code,
                            description: "conflict on every port tried".into(),
                        });
                    }
                    port = port.checked_add(1).unwrap_or(1024);
                }
                Err(e) => return Err(e),
            }
        }
        let ext = self
            .client
            .call(&igd, actions::get_external_ip_address(&st))
            .ok()
            .flatten();
        let m = Mapping {
            via: Via::Upnp,
            gateway: igd.address().ok_or(ClientError::NoIgd)?,
            protocol: self.spec.protocol,
            external_address: ext,
            external_port: port,
            internal_address: req.internal_client,
            internal_port: self.spec.internal_port,
            lease: self.upnp_lease,
        };
        self.spec.external_port = port;
        self.state = Some(State::Upnp(Box::new(igd)));
        Ok(m)
    }

    /// When the next renewal is due: half the granted lease (a permanent UPnP
    /// mapping is checked every [`PERMANENT_CHECK_INTERVAL`]).
    pub fn renew_due(&self) -> Option<Instant> {
        let m = self.current.as_ref()?;
        let every = if m.lease == 0 {
            PERMANENT_CHECK_INTERVAL
        } else {
            Duration::from_secs(u64::from(m.lease) / 2).max(MIN_RENEW_INTERVAL)
        };
        let due = self.last_renew? + every;
        Some(self.early.map_or(due, |e| e.min(due)))
    }

    /// The gateway sent announcement `a` (see [`crate::announce`]). When it tells
    /// something new — another external address than the mapping's, or an epoch that
    /// went back (RFC 6886 §3.6, the gateway lost its state) — the next renewal moves
    /// to a random moment within [`RENEW_SPREAD`] from now, unless it is due sooner
    /// already; returns whether it did. A UPnP mapping has no epoch: any announcement
    /// from its gateway counts. Gateways repeat announcements (start-up, changes), and
    /// the repeats of what the mapper knows already change nothing.
    pub fn announced(&mut self, a: &Announcement) -> bool {
        let known = match &self.state {
            Some(State::NatPmp(_, epoch, at)) => Some((*epoch, *at)),
            Some(State::Pcp(_, m, at)) => Some((m.epoch, *at)),
            _ => None,
        };
        let address = self.current.as_ref().and_then(|m| m.external_address);
        let news = announcement_is_news(a, known, address, Instant::now());
        if news {
            self.renew_soon();
        }
        news
    }

    /// Moves the next renewal to a random moment within [`RENEW_SPREAD`] from now
    /// (unless one is set already).
    fn renew_soon(&mut self) {
        if self.early.is_none() {
            let at = Instant::now() + crate::rand::below(RENEW_SPREAD);
            tracing::debug!("the gateway announced a change: renewing early");
            self.early = Some(at);
        }
    }

    /// The address announcements come from: the current mapping's gateway.
    pub fn announcer(&self) -> Option<IpAddr> {
        self.current.as_ref().map(|m| m.gateway)
    }

    /// Renews (or re-creates) the mapping and reports what happened.
    pub fn renew(&mut self) -> Vec<Event> {
        let Some(old) = self.current.clone() else {
            return Vec::new();
        };
        self.early = None;
        let mut state = self.state.take();
        // The default route moved to another router: what the old one holds is moot.
        if self.gateway.is_none() {
            if let Ok((gw, _)) = crate::route::gateway_v4(self.client.interface.as_deref()) {
                if IpAddr::V4(gw) != old.gateway {
                    tracing::debug!(old = %old.gateway, new = %gw, "gateway changed: re-mapping");
                    state = None;
                    self.igd = None;
                }
            }
        }
        let result = match state {
            Some(State::Pcp(gw, m, at)) => self.map_pcp(gw, Some(m.nonce)).map(|new| {
                let reset = match &self.state {
                    Some(State::Pcp(_, nm, now)) => epoch_reset(m.epoch, at, nm.epoch, *now),
                    _ => false,
                };
                (new, reset)
            }),
            Some(State::NatPmp(gw, epoch, at)) => self.map_natpmp(gw).map(|new| {
                let reset = match &self.state {
                    Some(State::NatPmp(_, ne, now)) => epoch_reset(epoch, at, *ne, *now),
                    _ => false,
                };
                (new, reset)
            }),
            Some(State::Upnp(igd)) => {
                let st = igd.service_type().to_string();
                let present = self
                    .client
                    .call(
                        &igd,
                        actions::get_specific_port_mapping_entry(
                            &st,
                            self.spec.remote_host,
                            old.external_port,
                            self.spec.protocol,
                        ),
                    )
                    .is_ok();
                self.map_upnp(*igd).map(|new| (new, !present))
            }
            None => self.map().map(|m| (m, true)),
        };
        // Renewing in place failed (the gateway restarted on another port, lost its
        // state, or speaks another protocol now): start over from discovery once.
        let result = match result {
            Ok(r) => Ok(r),
            Err(e) => {
                tracing::debug!(error = %e, "renewal failed: re-mapping from scratch");
                self.state = None;
                self.igd = None;
                self.map().map(|m| (m, true))
            }
        };
        self.last_renew = Some(Instant::now());
        match result {
            Ok((new, reset)) => {
                self.current = Some(new.clone());
                classify(&old, new, reset)
            }
            Err(e) => {
                // Keep the old mapping as the target; the next renewal tries again.
                self.state = None;
                vec![Event::Lost(e.to_string())]
            }
        }
    }

    /// Waits until [`Mapper::renew_due`] and renews: the body of a keep-alive loop.
    /// While it waits it listens on 224.0.0.1:5350 for the gateway's announcements
    /// ([`crate::announce`]); one (an external address change, a PCP restart) brings
    /// the renewal forward ([`Mapper::announced`]). Without a mapping it returns at
    /// once with no event.
    pub fn wait_and_renew(&mut self) -> Vec<Event> {
        let listener = self
            .announcements
            .get_or_insert_with(AnnounceListener::open);
        let listener = listener.take();
        while let Some(due) = self.renew_due() {
            match (&listener, self.announcer()) {
                (Some(l), Some(gw)) if self.early.is_none() => match l.wait(gw, due) {
                    Some(a) => {
                        self.announced(&a);
                    }
                    None => break,
                },
                _ => {
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                    break;
                }
            }
        }
        self.announcements = Some(listener);
        if self.current.is_none() {
            return Vec::new();
        }
        self.renew()
    }

    /// Deletes the mapping now.
    pub fn release(&mut self) -> Result<(), ClientError> {
        let state = self.state.take();
        let Some(m) = self.current.take() else {
            return Ok(());
        };
        match state {
            Some(State::Pcp(gw, pm, _)) => self.client.pcp_delete(IpAddr::V4(gw), &pm),
            Some(State::NatPmp(gw, _, _)) => {
                self.client.natpmp_unmap(gw, m.protocol, m.internal_port)
            }
            Some(State::Upnp(igd)) => self.client.call(
                &igd,
                actions::delete_port_mapping(
                    igd.service_type(),
                    self.spec.remote_host,
                    m.external_port,
                    m.protocol,
                ),
            ),
            None => Ok(()),
        }
    }

    /// Gives up ownership: the mapping stays on the gateway until its lease ends.
    pub fn detach(mut self) -> Option<Mapping> {
        self.state = None;
        self.current.take()
    }
}

impl Drop for Mapper {
    fn drop(&mut self) {
        if let Err(e) = self.release() {
            tracing::debug!(error = %e, "release on drop failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_rule_of_rfc6886() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(100);
        assert!(!epoch_reset(1000, t0, 1100, t1));
        assert!(!epoch_reset(1000, t0, 1086, t1)); // within the 7/8 - 2 s slack
        assert!(epoch_reset(1000, t0, 5, t1));
        assert!(epoch_reset(1000, t0, 1080, t1));
        // A restart 4.35 s after the mapping, renewed in the new epoch's second 1: the
        // 7/8 of 4.35 s is 3.8 s, so epoch 1 + 2 s is short of it. Truncating the
        // elapsed time to 4 s (3.5 s expected, 3 in whole seconds) missed this.
        let t2 = t0 + Duration::from_millis(4350);
        assert!(epoch_reset(0, t0, 1, t2));
        assert!(!epoch_reset(0, t0, 2, t2));
    }

    #[test]
    fn only_announcements_with_news_count() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(10);
        let ext = Ipv4Addr::new(203, 0, 113, 1);
        let addr = Some(IpAddr::V4(ext));
        let pmp = |epoch, x| Announcement {
            epoch,
            external: Some(x),
        };
        let pcp = |epoch| Announcement {
            epoch,
            external: None,
        };
        // A repeat of what is known (start-up announcements, same epoch line): no.
        assert!(!announcement_is_news(
            &pmp(110, ext),
            Some((100, t0)),
            addr,
            t1
        ));
        assert!(!announcement_is_news(&pcp(110), Some((100, t0)), addr, t1));
        // Another external address: yes, whatever the epoch.
        let moved = Ipv4Addr::new(203, 0, 113, 51);
        assert!(announcement_is_news(
            &pmp(110, moved),
            Some((100, t0)),
            addr,
            t1
        ));
        // The epoch went back (the gateway restarted): yes.
        assert!(announcement_is_news(&pcp(1), Some((100, t0)), addr, t1));
        // A UPnP mapping knows no epoch: every announcement counts.
        assert!(announcement_is_news(&pcp(110), None, addr, t1));
    }
}
