//! PCP client core (RFC 6887), sans-IO: the MAP opcode with its nonce kept for renewal
//! and deletion, PREFER_FAILURE and FILTER options, the PEER opcode (§12), and the
//! §8.1.1 retransmission schedule with jitter passed in.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use portgate_proto::pcp::{
    self, Filter, MapData, OpData, PcpOption, PeerData, Request, Response, Retransmit,
};

use crate::error::ClientError;
use crate::transaction::Transaction;

/// IANA protocol number for TCP.
pub const PROTO_TCP: u8 = 6;
/// IANA protocol number for UDP.
pub const PROTO_UDP: u8 = 17;

/// Retransmission settings of a PCP request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PcpConfig {
    /// RFC 6887 §8.1.1 parameters (IRT 3 s, MRT 1024 s, no count/duration cap).
    pub retransmit: Retransmit,
    /// Overall cap on the exchange (the RFC default has none; a client that races
    /// protocols or runs a command needs one).
    pub deadline: Option<Duration>,
}

impl Default for PcpConfig {
    fn default() -> Self {
        Self {
            retransmit: Retransmit::default(),
            deadline: Some(DEFAULT_DEADLINE),
        }
    }
}

/// Default overall cap on one PCP exchange: three transmissions' worth (3 s, 6 s, …)
/// is more than any reachable server needs; an application that wants the RFC's
/// "retry forever" sets [`PcpConfig::deadline`] to `None`.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);

/// What to ask for in a MAP request (RFC 6887 §11.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapParams {
    /// The mapping nonce: random for a new mapping, repeated for renewal/deletion.
    pub nonce: [u8; pcp::NONCE_LEN],
    /// IANA protocol number ([`PROTO_TCP`], [`PROTO_UDP`]).
    pub protocol: u8,
    /// Internal port.
    pub internal_port: u16,
    /// Suggested external port (0: any).
    pub suggested_external_port: u16,
    /// Suggested external address (unspecified: any).
    pub suggested_external_address: IpAddr,
    /// Requested lifetime in seconds (0 deletes the mapping).
    pub lifetime: u32,
    /// Fail rather than get another port than the suggested one (§13.2).
    pub prefer_failure: bool,
    /// Remote peers allowed to use the mapping (§13.3); empty: everyone.
    pub filters: Vec<Filter>,
    /// A DESCRIPTION option (RFC 7220), if any.
    pub description: Option<String>,
}

impl MapParams {
    /// A new mapping request with a fresh random nonce.
    pub fn new(
        protocol: u8,
        internal_port: u16,
        suggested_external_port: u16,
        lifetime: u32,
    ) -> Self {
        Self {
            nonce: crate::rand::nonce(),
            protocol,
            internal_port,
            suggested_external_port,
            suggested_external_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            lifetime,
            prefer_failure: false,
            filters: Vec::new(),
            description: None,
        }
    }

    /// A new IPv6 mapping request (RFC 6887 §11.1 for an IPv6 internal address behind
    /// an IPv6 firewall): like [`MapParams::new`] but with no preference for an IPv6
    /// external address (`::`), where `new` asks for an IPv4 one (`::ffff:0.0.0.0`).
    pub fn new_v6(
        protocol: u8,
        internal_port: u16,
        suggested_external_port: u16,
        lifetime: u32,
    ) -> Self {
        Self {
            suggested_external_address: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            ..Self::new(protocol, internal_port, suggested_external_port, lifetime)
        }
    }

    /// The request to send from `client_address`.
    pub fn to_request(&self, client_address: IpAddr) -> Request {
        let mut options = Vec::new();
        if self.prefer_failure {
            options.push(PcpOption::PreferFailure);
        }
        options.extend(self.filters.iter().copied().map(PcpOption::Filter));
        if let Some(d) = &self.description {
            options.push(PcpOption::Description(d.clone()));
        }
        Request {
            lifetime: self.lifetime,
            client_address,
            data: OpData::Map(MapData {
                nonce: self.nonce,
                protocol: self.protocol,
                internal_port: self.internal_port,
                external_port: self.suggested_external_port,
                external_address: self.suggested_external_address,
            }),
            options,
        }
    }
}

/// What to ask for in a PEER request (RFC 6887 §12.1): the mapping the internal
/// port's traffic to one remote peer uses, created or renewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerParams {
    /// The mapping nonce: random for a new mapping, repeated for renewal/deletion.
    pub nonce: [u8; pcp::NONCE_LEN],
    /// IANA protocol number ([`PROTO_TCP`], [`PROTO_UDP`]).
    pub protocol: u8,
    /// Internal port.
    pub internal_port: u16,
    /// Suggested external port (0: any).
    pub suggested_external_port: u16,
    /// Suggested external address (unspecified: any).
    pub suggested_external_address: IpAddr,
    /// The remote peer (address and port) the flow goes to.
    pub remote_peer: SocketAddr,
    /// Requested lifetime in seconds (0: the mapping is no longer needed).
    pub lifetime: u32,
    /// A DESCRIPTION option (RFC 7220), if any.
    pub description: Option<String>,
}

impl PeerParams {
    /// A new PEER request toward `remote_peer` with a fresh random nonce and no
    /// preference for the external address (of the remote peer's family).
    pub fn new(protocol: u8, internal_port: u16, remote_peer: SocketAddr, lifetime: u32) -> Self {
        Self {
            nonce: crate::rand::nonce(),
            protocol,
            internal_port,
            suggested_external_port: 0,
            suggested_external_address: unspecified_like(remote_peer.ip()),
            remote_peer,
            lifetime,
            description: None,
        }
    }

    /// The request to send from `client_address`.
    pub fn to_request(&self, client_address: IpAddr) -> Request {
        Request {
            lifetime: self.lifetime,
            client_address,
            data: OpData::Peer(PeerData {
                nonce: self.nonce,
                protocol: self.protocol,
                internal_port: self.internal_port,
                external_port: self.suggested_external_port,
                external_address: self.suggested_external_address,
                remote_peer_port: self.remote_peer.port(),
                remote_peer_address: self.remote_peer.ip(),
            }),
            options: self
                .description
                .iter()
                .map(|d| PcpOption::Description(d.clone()))
                .collect(),
        }
    }
}

/// A mapping the server granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcpMapping {
    /// The nonce to repeat when renewing or deleting (§11.1).
    pub nonce: [u8; pcp::NONCE_LEN],
    /// IANA protocol number.
    pub protocol: u8,
    /// Internal port.
    pub internal_port: u16,
    /// Assigned external port.
    pub external_port: u16,
    /// Assigned external address.
    pub external_address: IpAddr,
    /// Granted lifetime in seconds.
    pub lifetime: u32,
    /// The server's epoch (§8.5).
    pub epoch: u32,
}

/// One PCP MAP, PEER or ANNOUNCE exchange.
#[derive(Debug)]
pub struct PcpTransaction {
    server: SocketAddr,
    announce: bool,
    params: MapParams,
    /// PEER: the remote peer the answer must name (§12.3 copies it back).
    peer: Option<SocketAddr>,
    bytes: Vec<u8>,
    config: PcpConfig,
    tries: u32,
    rt: Option<Duration>,
    first_send: Option<Instant>,
    next_send: Option<Instant>,
    give_up_at: Option<Instant>,
    result: Option<Result<PcpMapping, ClientError>>,
}

impl PcpTransaction {
    /// A MAP request to `server` (port [`pcp::SERVER_PORT`]) sent from
    /// `client_address` (the address the socket is bound to, §8.1).
    pub fn map(
        server: IpAddr,
        client_address: IpAddr,
        params: MapParams,
        config: PcpConfig,
    ) -> Self {
        Self {
            server: SocketAddr::new(server, pcp::SERVER_PORT),
            announce: false,
            peer: None,
            bytes: params.to_request(client_address).to_bytes(),
            params,
            config,
            tries: 0,
            rt: None,
            first_send: None,
            next_send: None,
            give_up_at: None,
            result: None,
        }
    }

    /// An ANNOUNCE request (RFC 6887 §14.1): a cheap probe for a PCP server. Its
    /// success yields a [`PcpMapping`] whose only meaningful field is `epoch`.
    pub fn announce(server: IpAddr, client_address: IpAddr, config: PcpConfig) -> Self {
        let bytes = Request {
            lifetime: 0,
            client_address,
            data: OpData::Announce,
            options: Vec::new(),
        }
        .to_bytes();
        let mut t = Self::map(server, client_address, MapParams::new(0, 0, 0, 0), config);
        t.announce = true;
        t.bytes = bytes;
        t
    }

    /// A PEER request (RFC 6887 §12) to `server` sent from `client_address`. Its
    /// success is the [`PcpMapping`] the server assigned for the flow to the remote
    /// peer; the answer must repeat the nonce, protocol, internal port and remote peer.
    pub fn peer(
        server: IpAddr,
        client_address: IpAddr,
        params: PeerParams,
        config: PcpConfig,
    ) -> Self {
        let map = MapParams {
            nonce: params.nonce,
            protocol: params.protocol,
            internal_port: params.internal_port,
            suggested_external_port: params.suggested_external_port,
            suggested_external_address: params.suggested_external_address,
            lifetime: params.lifetime,
            prefer_failure: false,
            filters: Vec::new(),
            description: params.description.clone(),
        };
        let mut t = Self::map(server, client_address, map, config);
        t.bytes = params.to_request(client_address).to_bytes();
        t.peer = Some(params.remote_peer);
        t
    }

    /// Sets the server's IPv6 scope (interface index), needed when the server is a
    /// link-local address such as an IPv6 router's `fe80::1`; replies are then expected
    /// from that scoped address. No effect on an IPv4 server.
    pub fn with_scope_id(mut self, scope_id: u32) -> Self {
        if let SocketAddr::V6(a) = &mut self.server {
            a.set_scope_id(scope_id);
        }
        self
    }

    /// The request's parameters (its nonce included).
    pub fn params(&self) -> &MapParams {
        &self.params
    }

    fn check(&self, resp: Response) -> Option<Result<PcpMapping, ClientError>> {
        if self.announce {
            if resp.data != OpData::Announce {
                return None;
            }
            return Some(if resp.result.is_success() {
                Ok(PcpMapping {
                    nonce: [0; pcp::NONCE_LEN],
                    protocol: 0,
                    internal_port: 0,
                    external_port: 0,
                    external_address: unspecified_like(self.server.ip()),
                    lifetime: resp.lifetime,
                    epoch: resp.epoch,
                })
            } else {
                Err(ClientError::Pcp {
                    code: resp.result,
                    lifetime: resp.lifetime,
                })
            });
        }
        let opcode_sent = if self.peer.is_some() {
            pcp::OPCODE_PEER
        } else {
            pcp::OPCODE_MAP
        };
        let m = match (&resp.data, self.peer) {
            (OpData::Map(m), None) => *m,
            // §12.3: the remote peer is copied back; another one answers another request.
            (OpData::Peer(p), Some(peer))
                if p.remote_peer_address == peer.ip() && p.remote_peer_port == peer.port() =>
            {
                MapData {
                    nonce: p.nonce,
                    protocol: p.protocol,
                    internal_port: p.internal_port,
                    external_port: p.external_port,
                    external_address: p.external_address,
                }
            }
            (OpData::Other { opcode, data }, _) => {
                // An error answer too short to echo the opcode data still answers us
                // if it is a response to our opcode; anything else is not ours.
                let nonce_ok = data
                    .get(..pcp::NONCE_LEN)
                    .map_or(true, |n| n == self.params.nonce);
                if *opcode == opcode_sent && !resp.result.is_success() && nonce_ok {
                    return Some(Err(ClientError::Pcp {
                        code: resp.result,
                        lifetime: resp.lifetime,
                    }));
                }
                return None;
            }
            _ => return None,
        };
        // §11.3: the nonce, protocol and internal port must match the request.
        if m.nonce != self.params.nonce
            || m.protocol != self.params.protocol
            || m.internal_port != self.params.internal_port
        {
            tracing::debug!("pcp: reply for another mapping (nonce/protocol/port) ignored");
            return None;
        }
        if !resp.result.is_success() {
            return Some(Err(ClientError::Pcp {
                code: resp.result,
                lifetime: resp.lifetime,
            }));
        }
        Some(Ok(PcpMapping {
            nonce: m.nonce,
            protocol: m.protocol,
            internal_port: m.internal_port,
            external_port: m.external_port,
            external_address: m.external_address,
            lifetime: resp.lifetime,
            epoch: resp.epoch,
        }))
    }
}

impl Transaction for PcpTransaction {
    type Output = PcpMapping;

    fn server(&self) -> SocketAddr {
        self.server
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.result.is_some() {
            return None;
        }
        let first = *self.first_send.get_or_insert(now);
        if self.give_up_at.is_none() {
            self.give_up_at = self.config.deadline.map(|d| first + d);
        }
        if self.next_send.is_some_and(|t| t > now) {
            return None;
        }
        let r = &self.config.retransmit;
        if r.mrc != 0 && self.tries >= r.mrc {
            return None;
        }
        let rt = r.next_timeout(self.rt, crate::rand::jitter());
        self.rt = Some(rt);
        self.tries += 1;
        self.next_send = Some(now + rt);
        tracing::trace!(try_ = self.tries, server = %self.server, "pcp send");
        Some(self.bytes.clone())
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.result.is_some() {
            return None;
        }
        match (self.next_send, self.give_up_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.result.is_some() {
            return;
        }
        let r = &self.config.retransmit;
        let mrd_done = r.mrd != Duration::ZERO && self.first_send.is_some_and(|f| now >= f + r.mrd);
        let mrc_done =
            r.mrc != 0 && self.tries >= r.mrc && self.next_send.is_some_and(|t| now >= t);
        let deadline = self.give_up_at.is_some_and(|t| now >= t);
        if mrd_done || mrc_done || deadline {
            self.result = Some(Err(ClientError::Timeout("pcp server")));
        }
    }

    fn handle_datagram(&mut self, _now: Instant, from: SocketAddr, bytes: &[u8]) {
        if self.result.is_some() {
            return;
        }
        if !same_source(from, self.server) {
            tracing::debug!(%from, "pcp: reply from an unexpected source ignored");
            return;
        }
        // §9: a NAT-PMP-only server answers a version-2 request with version 0 and
        // UNSUPP_VERSION.
        if let [version, opcode, ..] = bytes {
            if *version != pcp::VERSION && *opcode & pcp::R_BIT != 0 && bytes.len() >= 4 {
                self.result = Some(Err(ClientError::PcpUnsupportedVersion(*version)));
                return;
            }
        }
        match Response::parse(bytes) {
            Ok(resp) => {
                if let Some(r) = self.check(resp) {
                    self.result = Some(r);
                }
            }
            Err(e) => tracing::debug!(error = %e, "pcp: undecodable reply ignored"),
        }
    }

    fn poll_result(&mut self) -> Option<Result<PcpMapping, ClientError>> {
        self.result.take()
    }
}

/// Whether a reply from `from` comes from `server`: same address and port, and for a
/// scoped (link-local) server the same scope; a server set up without a scope accepts
/// any scope the kernel reports.
fn same_source(from: SocketAddr, server: SocketAddr) -> bool {
    match (from, server) {
        (SocketAddr::V6(f), SocketAddr::V6(s)) => {
            f.ip() == s.ip()
                && f.port() == s.port()
                && (s.scope_id() == 0 || f.scope_id() == s.scope_id())
        }
        (f, s) => f == s,
    }
}

/// The unspecified address of `ip`'s family (a "no preference" external address).
pub fn unspecified_like(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portgate_proto::pcp::ResultCode;

    const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

    fn server() -> SocketAddr {
        SocketAddr::new(SERVER, 5351)
    }

    fn reply(t: &PcpTransaction, result: ResultCode, nonce: [u8; 12]) -> Vec<u8> {
        Response {
            result,
            lifetime: 600,
            epoch: 9,
            data: OpData::Map(MapData {
                nonce,
                protocol: t.params().protocol,
                internal_port: t.params().internal_port,
                external_port: 40001,
                external_address: IpAddr::V4(Ipv4Addr::new(192, 0, 1, 1)),
            }),
            options: Vec::new(),
        }
        .to_bytes()
    }

    fn started(params: MapParams) -> PcpTransaction {
        let mut t = PcpTransaction::map(SERVER, CLIENT, params, PcpConfig::default());
        let bytes = t.poll_transmit(Instant::now()).expect("first send");
        let req = Request::parse(&bytes).expect("valid request");
        assert_eq!(req.client_address, CLIENT);
        t
    }

    const PEER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)), 9000);

    fn peer_reply(t: &PcpTransaction, result: ResultCode, remote: SocketAddr) -> Vec<u8> {
        Response {
            result,
            lifetime: 600,
            epoch: 9,
            data: OpData::Peer(PeerData {
                nonce: t.params().nonce,
                protocol: t.params().protocol,
                internal_port: t.params().internal_port,
                external_port: 40002,
                external_address: IpAddr::V4(Ipv4Addr::new(192, 0, 1, 1)),
                remote_peer_port: remote.port(),
                remote_peer_address: remote.ip(),
            }),
            options: Vec::new(),
        }
        .to_bytes()
    }

    #[test]
    fn peer_request_bytes_and_matching_reply() {
        let mut p = PeerParams::new(PROTO_UDP, 5000, PEER, 600);
        p.description = Some("game".into());
        let nonce = p.nonce;
        let mut t = PcpTransaction::peer(SERVER, CLIENT, p, PcpConfig::default());
        let bytes = t.poll_transmit(Instant::now()).expect("first send");
        // §7.1 header: version 2, opcode 2 (PEER), lifetime 600, client ::ffff:10.0.0.2.
        assert_eq!(&bytes[..8], &[2, 2, 0, 0, 0, 0, 0x02, 0x58]);
        assert_eq!(
            &bytes[8..24],
            &Ipv4Addr::new(10, 0, 0, 2).to_ipv6_mapped().octets()
        );
        // §12.1 data: nonce, protocol 17, internal port 5000, suggested port 0 and
        // address ::ffff:0.0.0.0, remote peer port 9000, remote peer address.
        assert_eq!(&bytes[24..36], &nonce);
        assert_eq!(&bytes[36..40], &[17, 0, 0, 0]);
        assert_eq!(&bytes[40..44], &[0x13, 0x88, 0, 0]);
        assert_eq!(
            &bytes[44..60],
            &Ipv4Addr::UNSPECIFIED.to_ipv6_mapped().octets()
        );
        assert_eq!(&bytes[60..64], &[0x23, 0x28, 0, 0]);
        assert_eq!(
            &bytes[64..80],
            &Ipv4Addr::new(198, 51, 100, 7).to_ipv6_mapped().octets()
        );
        // DESCRIPTION option (128), length 4, "game".
        assert_eq!(&bytes[80..], &[128, 0, 0, 4, b'g', b'a', b'm', b'e']);
        // A reply naming another remote peer, or a MAP reply, is not ours.
        let other = SocketAddr::new(PEER.ip(), 9001);
        t.handle_datagram(
            Instant::now(),
            server(),
            &peer_reply(&t, ResultCode::Success, other),
        );
        t.handle_datagram(
            Instant::now(),
            server(),
            &reply(&t, ResultCode::Success, nonce),
        );
        assert!(t.poll_result().is_none());
        t.handle_datagram(
            Instant::now(),
            server(),
            &peer_reply(&t, ResultCode::Success, PEER),
        );
        let m = t.poll_result().expect("done").expect("success");
        assert_eq!(
            (m.nonce, m.internal_port, m.external_port, m.lifetime),
            (nonce, 5000, 40002, 600)
        );
    }

    #[test]
    fn peer_error_reply_is_typed() {
        let mut t = PcpTransaction::peer(
            SERVER,
            CLIENT,
            PeerParams::new(PROTO_TCP, 5000, PEER, 600),
            PcpConfig::default(),
        );
        let _ = t.poll_transmit(Instant::now());
        t.handle_datagram(
            Instant::now(),
            server(),
            &peer_reply(&t, ResultCode::MalformedRequest, PEER),
        );
        match t.poll_result() {
            Some(Err(ClientError::Pcp { code, lifetime })) => {
                assert_eq!((code, lifetime), (ResultCode::MalformedRequest, 600));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn request_carries_nonce_and_options() {
        let mut p = MapParams::new(PROTO_TCP, 8080, 8080, 3600);
        p.prefer_failure = true;
        p.filters.push(Filter {
            prefix_length: 128,
            remote_peer_port: 0,
            remote_peer_address: IpAddr::V4(Ipv4Addr::new(192, 0, 1, 9)),
        });
        let req = p.to_request(CLIENT);
        let back = Request::parse(&req.to_bytes()).expect("parses");
        assert_eq!(back, req);
        assert!(back.options.contains(&PcpOption::PreferFailure));
        match back.data {
            OpData::Map(m) => assert_eq!(m.nonce, p.nonce),
            _ => panic!("not a MAP"),
        }
    }

    #[test]
    fn accepts_matching_reply_and_keeps_nonce() {
        let mut t = started(MapParams::new(PROTO_UDP, 5000, 0, 600));
        let nonce = t.params().nonce;
        t.handle_datagram(
            Instant::now(),
            server(),
            &reply(&t, ResultCode::Success, nonce),
        );
        let m = t.poll_result().expect("done").expect("success");
        assert_eq!(
            (m.external_port, m.lifetime, m.epoch, m.nonce),
            (40001, 600, 9, nonce)
        );
    }

    #[test]
    fn ignores_wrong_nonce_source_and_truncation() {
        let mut t = started(MapParams::new(PROTO_UDP, 5000, 0, 600));
        let nonce = t.params().nonce;
        let now = Instant::now();
        let mut other = nonce;
        other[0] ^= 1;
        t.handle_datagram(now, server(), &reply(&t, ResultCode::Success, other));
        let good = reply(&t, ResultCode::Success, nonce);
        t.handle_datagram(now, "10.0.0.9:5351".parse().expect("addr"), &good);
        t.handle_datagram(now, server(), &good[..good.len() - 4]);
        t.handle_datagram(now, server(), &good[..23]);
        t.handle_datagram(now, server(), &[]);
        let mut bad_version = good.clone();
        bad_version[0] = 3;
        bad_version[1] = 0; // no R bit: a request echoed back
        t.handle_datagram(now, server(), &bad_version);
        // an error for another mapping's nonce is not ours either
        t.handle_datagram(now, server(), &reply(&t, ResultCode::NotAuthorized, other));
        assert!(t.poll_result().is_none());
        t.handle_datagram(now, server(), &good);
        assert!(t.poll_result().expect("done").is_ok());
    }

    #[test]
    fn error_result_is_typed_with_lifetime() {
        let mut t = started(MapParams::new(PROTO_TCP, 22, 22, 600));
        let nonce = t.params().nonce;
        t.handle_datagram(
            Instant::now(),
            server(),
            &reply(&t, ResultCode::CannotProvideExternal, nonce),
        );
        match t.poll_result() {
            Some(Err(ClientError::Pcp {
                code: ResultCode::CannotProvideExternal,
                lifetime: 600,
            })) => {}
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn natpmp_only_server_is_reported() {
        let mut t = started(MapParams::new(PROTO_TCP, 22, 22, 600));
        // RFC 6886 §3.5 answer: version 0, opcode 129 (our 1 + 128), result 1.
        t.handle_datagram(Instant::now(), server(), &[0, 129, 0, 1, 0, 0, 0, 5]);
        assert!(matches!(
            t.poll_result(),
            Some(Err(ClientError::PcpUnsupportedVersion(0)))
        ));
    }

    #[test]
    fn retransmits_with_doubling_jittered_timeouts_until_deadline() {
        let cfg = PcpConfig {
            deadline: Some(Duration::from_secs(20)),
            ..Default::default()
        };
        let mut t = PcpTransaction::map(SERVER, CLIENT, MapParams::new(6, 1, 1, 60), cfg);
        let start = Instant::now();
        let mut now = start;
        let mut sends = Vec::new();
        while t.poll_result().is_none() {
            if t.poll_transmit(now).is_some() {
                sends.push((now - start).as_secs_f64());
            }
            now = t.poll_timeout().expect("timer");
            t.handle_timeout(now);
        }
        // 0, 3 s ±10 %, then 2 × the previous timeout ±10 %: a third send between
        // 7.56 s and 10.56 s, a fourth (if jitter is low) before the 20 s deadline.
        assert!((3..=4).contains(&sends.len()), "{sends:?}");
        assert!((2.7..=3.3).contains(&sends[1]), "{sends:?}");
        assert!((7.5..=10.6).contains(&sends[2]), "{sends:?}");
        assert_eq!(now - start, Duration::from_secs(20));
    }

    const SERVER6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1));
    const CLIENT6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10));

    // RFC 6887 §7.1 request header + §11.1 MAP opcode data, laid out by hand: an IPv6
    // host asks its IPv6 firewall to open TCP 8080 for an hour, any external address
    // of its own family (::).
    #[test]
    fn ipv6_map_request_bytes() {
        let mut p = MapParams::new_v6(PROTO_TCP, 8080, 8080, 3600);
        p.nonce = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
        let mut t = PcpTransaction::map(SERVER6, CLIENT6, p, PcpConfig::default());
        assert_eq!(t.server(), SocketAddr::new(SERVER6, 5351));
        let bytes = t.poll_transmit(Instant::now()).expect("first send");
        let expected: Vec<u8> = [
            &[2u8, 1, 0, 0][..],    // version 2, R=0 opcode MAP, reserved
            &3600u32.to_be_bytes(), // requested lifetime
            &[
                0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
            ], // client
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], // nonce
            &[6, 0, 0, 0],          // protocol TCP, reserved
            &8080u16.to_be_bytes(), // internal port
            &8080u16.to_be_bytes(), // suggested external port
            &[0; 16],               // suggested external address ::
        ]
        .concat();
        assert_eq!(bytes, expected);
        // MapParams::new asks for an IPv4 external address instead (::ffff:0.0.0.0).
        let v4 = MapParams {
            nonce: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
            ..MapParams::new(PROTO_TCP, 8080, 8080, 3600)
        }
        .to_request(CLIENT6)
        .to_bytes();
        assert_eq!(
            v4.get(44..60),
            Some(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0][..])
        );
    }

    #[test]
    fn ipv6_reply_accepted_and_scope_checked() {
        let p = MapParams::new_v6(PROTO_UDP, 5000, 5000, 600);
        let nonce = p.nonce;
        let mut t = PcpTransaction::map(SERVER6, CLIENT6, p, PcpConfig::default());
        let now = Instant::now();
        t.poll_transmit(now);
        let reply = Response {
            result: ResultCode::Success,
            lifetime: 600,
            epoch: 1,
            data: OpData::Map(MapData {
                nonce,
                protocol: PROTO_UDP,
                internal_port: 5000,
                external_port: 5000,
                external_address: CLIENT6,
            }),
            options: Vec::new(),
        }
        .to_bytes();
        t.handle_datagram(now, "[2001:db8:1::2]:5351".parse().expect("a"), &reply);
        assert!(t.poll_result().is_none());
        t.handle_datagram(now, "[2001:db8:1::1]:5351".parse().expect("a"), &reply);
        let m = t.poll_result().expect("done").expect("ok");
        assert_eq!((m.external_address, m.external_port), (CLIENT6, 5000));

        // A link-local server with a scope: a reply on another interface is not its.
        let ll: IpAddr = "fe80::1".parse().expect("ll");
        let mut t = PcpTransaction::map(
            ll,
            CLIENT6,
            MapParams::new_v6(17, 5000, 5000, 600),
            PcpConfig::default(),
        )
        .with_scope_id(3);
        let nonce = t.params().nonce;
        let SocketAddr::V6(srv) = t.server() else {
            panic!("v6")
        };
        assert_eq!(srv.scope_id(), 3);
        t.poll_transmit(now);
        let reply = Response {
            result: ResultCode::Success,
            lifetime: 600,
            epoch: 1,
            data: OpData::Map(MapData {
                nonce,
                protocol: 17,
                internal_port: 5000,
                external_port: 5000,
                external_address: CLIENT6,
            }),
            options: Vec::new(),
        }
        .to_bytes();
        let other = std::net::SocketAddrV6::new("fe80::1".parse().expect("ll"), 5351, 0, 4);
        t.handle_datagram(now, SocketAddr::V6(other), &reply);
        assert!(t.poll_result().is_none());
        let same = std::net::SocketAddrV6::new("fe80::1".parse().expect("ll"), 5351, 0, 3);
        t.handle_datagram(now, SocketAddr::V6(same), &reply);
        assert!(t.poll_result().expect("done").is_ok());
    }
}
