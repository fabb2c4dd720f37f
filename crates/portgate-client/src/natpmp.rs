//! NAT-PMP client core (RFC 6886), sans-IO: one [`NatPmpTransaction`] per request,
//! retransmitted on the §3.1 schedule (250 ms, doubling) until a matching reply from
//! the gateway arrives.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use portgate_proto::natpmp::{self, Protocol, Request, Response};

use crate::error::ClientError;
use crate::transaction::Transaction;

/// Retry settings of a NAT-PMP request (RFC 6886 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatPmpConfig {
    /// Wait before the first retransmission; doubled after each one.
    pub initial_interval: Duration,
    /// Number of transmissions before giving up (RFC 6886: 9, about 64 s in total).
    pub max_tries: u32,
    /// Optional overall cap, for callers that race several protocols.
    pub deadline: Option<Duration>,
}

impl Default for NatPmpConfig {
    fn default() -> Self {
        Self {
            initial_interval: natpmp::INITIAL_RETRY_INTERVAL,
            max_tries: natpmp::MAX_TRIES,
            deadline: None,
        }
    }
}

/// A mapping the gateway granted (RFC 6886 §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatPmpMapping {
    /// UDP or TCP.
    pub protocol: Protocol,
    /// The internal (LAN) port.
    pub internal_port: u16,
    /// The external port the gateway assigned (may differ from the one suggested).
    pub external_port: u16,
    /// Granted lifetime in seconds.
    pub lifetime: u32,
    /// The gateway's epoch (seconds since its table started, §3.6).
    pub epoch: u32,
}

/// The gateway's answer to an external address request (RFC 6886 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatPmpExternal {
    /// The external IPv4 address.
    pub address: Ipv4Addr,
    /// The gateway's epoch.
    pub epoch: u32,
}

/// One NAT-PMP request/response exchange.
#[derive(Debug)]
pub struct NatPmpTransaction {
    server: SocketAddr,
    request: Request,
    bytes: Vec<u8>,
    config: NatPmpConfig,
    tries: u32,
    interval: Duration,
    next_send: Option<Instant>,
    give_up_at: Option<Instant>,
    result: Option<Result<Response, ClientError>>,
}

impl NatPmpTransaction {
    /// A request to the gateway `gateway` (port [`natpmp::SERVER_PORT`]).
    pub fn new(gateway: Ipv4Addr, request: Request, config: NatPmpConfig) -> Self {
        Self {
            server: SocketAddr::new(IpAddr::V4(gateway), natpmp::SERVER_PORT),
            bytes: request.to_bytes(),
            request,
            config,
            tries: 0,
            interval: config.initial_interval,
            next_send: None,
            give_up_at: None,
            result: None,
        }
    }

    /// External address request (opcode 0).
    pub fn external_address(gateway: Ipv4Addr, config: NatPmpConfig) -> Self {
        Self::new(gateway, Request::ExternalAddress, config)
    }

    /// Map (or, with `lifetime` 0, unmap) `internal_port` (RFC 6886 §3.3, §3.4).
    pub fn map(
        gateway: Ipv4Addr,
        protocol: Protocol,
        internal_port: u16,
        suggested_external_port: u16,
        lifetime: u32,
        config: NatPmpConfig,
    ) -> Self {
        Self::new(
            gateway,
            Request::Map(natpmp::MapRequest {
                protocol,
                internal_port,
                suggested_external_port,
                lifetime,
            }),
            config,
        )
    }

    /// Whether `resp` answers our request: the response opcode is ours + 128 and, for
    /// mappings, the internal port is ours (§3.3: replies to other requests may be
    /// in flight on the same socket).
    fn matches(&self, resp: &Response) -> bool {
        if resp.opcode() != self.request.opcode() | natpmp::RESPONSE_BIT {
            return false;
        }
        match (&self.request, resp) {
            (Request::Map(req), Response::Map { internal_port, .. }) => {
                *internal_port == req.internal_port
            }
            _ => true,
        }
    }
}

impl Transaction for NatPmpTransaction {
    type Output = Response;

    fn server(&self) -> SocketAddr {
        self.server
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.result.is_some() || self.tries >= self.config.max_tries {
            return None;
        }
        if self.give_up_at.is_none() {
            self.give_up_at = self.config.deadline.map(|d| now + d);
        }
        match self.next_send {
            Some(t) if t > now => None,
            _ => {
                if self.tries > 0 {
                    self.interval = self.interval.saturating_mul(2);
                }
                self.tries += 1;
                self.next_send = Some(now + self.interval);
                tracing::trace!(try_ = self.tries, server = %self.server, "nat-pmp send");
                Some(self.bytes.clone())
            }
        }
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
        let past_deadline = self.give_up_at.is_some_and(|t| now >= t);
        let schedule_done =
            self.tries >= self.config.max_tries && self.next_send.is_some_and(|t| now >= t);
        if past_deadline || schedule_done {
            self.result = Some(Err(ClientError::Timeout("nat-pmp gateway")));
        }
    }

    fn handle_datagram(&mut self, _now: Instant, from: SocketAddr, bytes: &[u8]) {
        if self.result.is_some() {
            return;
        }
        // RFC 6886 §3.1: only the gateway's address and port are listened to.
        if from != self.server {
            tracing::debug!(%from, "nat-pmp: reply from an unexpected source ignored");
            return;
        }
        let resp = match Response::parse(bytes) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "nat-pmp: undecodable reply ignored");
                return;
            }
        };
        // An error reply to an unsupported version or opcode (§3.5) carries our opcode.
        if let Response::Error { opcode, result, .. } = resp {
            if opcode == self.request.opcode() | natpmp::RESPONSE_BIT {
                self.result = Some(Err(ClientError::NatPmp(result)));
            }
            return;
        }
        if !self.matches(&resp) {
            tracing::debug!(?resp, "nat-pmp: reply to another request ignored");
            return;
        }
        let result = resp.result();
        self.result = Some(if result.is_success() {
            Ok(resp)
        } else {
            Err(ClientError::NatPmp(result))
        });
    }

    fn poll_result(&mut self) -> Option<Result<Response, ClientError>> {
        self.result.take()
    }
}

/// Reads the external address out of a successful response.
pub fn external_from(resp: &Response) -> Result<NatPmpExternal, ClientError> {
    match *resp {
        Response::ExternalAddress { address, epoch, .. } => Ok(NatPmpExternal { address, epoch }),
        _ => Err(ClientError::BadReply("nat-pmp external address")),
    }
}

/// Reads the mapping out of a successful response.
pub fn mapping_from(resp: &Response) -> Result<NatPmpMapping, ClientError> {
    match *resp {
        Response::Map {
            protocol,
            epoch,
            internal_port,
            external_port,
            lifetime,
            ..
        } => Ok(NatPmpMapping {
            protocol,
            internal_port,
            external_port,
            lifetime,
            epoch,
        }),
        _ => Err(ClientError::BadReply("nat-pmp mapping")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portgate_proto::natpmp::ResultCode;

    const GW: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

    fn gw() -> SocketAddr {
        SocketAddr::new(IpAddr::V4(GW), 5351)
    }

    fn map_reply(internal: u16, external: u16, result: ResultCode) -> Vec<u8> {
        Response::Map {
            protocol: Protocol::Tcp,
            result,
            epoch: 77,
            internal_port: internal,
            external_port: external,
            lifetime: 3600,
        }
        .to_bytes()
    }

    #[test]
    fn retry_schedule_doubles_from_250ms_and_gives_up() {
        let mut t = NatPmpTransaction::external_address(GW, NatPmpConfig::default());
        let start = Instant::now();
        let mut now = start;
        let mut sends = Vec::new();
        loop {
            if let Some(r) = t.poll_result() {
                assert!(matches!(r, Err(ClientError::Timeout(_))));
                break;
            }
            if t.poll_transmit(now).is_some() {
                sends.push(now - start);
            }
            now = t.poll_timeout().expect("a timer is armed");
            t.handle_timeout(now);
        }
        let ms: Vec<u128> = sends.iter().map(Duration::as_millis).collect();
        assert_eq!(
            ms,
            [0, 250, 750, 1750, 3750, 7750, 15750, 31750, 63750],
            "RFC 6886 §3.1 schedule"
        );
    }

    #[test]
    fn first_request_bytes_are_the_rfc_layout() {
        let mut t = NatPmpTransaction::map(GW, Protocol::Tcp, 8080, 8080, 7200, Default::default());
        let bytes = t.poll_transmit(Instant::now()).expect("first send");
        assert_eq!(
            bytes,
            [0, 2, 0, 0, 0x1f, 0x90, 0x1f, 0x90, 0, 0, 0x1c, 0x20]
        );
    }

    #[test]
    fn accepts_matching_reply() {
        let now = Instant::now();
        let mut t = NatPmpTransaction::map(GW, Protocol::Tcp, 8080, 8080, 7200, Default::default());
        t.poll_transmit(now);
        t.handle_datagram(now, gw(), &map_reply(8080, 40000, ResultCode::Success));
        let resp = t.poll_result().expect("done").expect("success");
        let m = mapping_from(&resp).expect("a mapping");
        assert_eq!((m.external_port, m.lifetime, m.epoch), (40000, 3600, 77));
    }

    #[test]
    fn ignores_wrong_source_truncated_and_other_requests() {
        let now = Instant::now();
        let mut t = NatPmpTransaction::map(GW, Protocol::Tcp, 8080, 8080, 7200, Default::default());
        t.poll_transmit(now);
        let good = map_reply(8080, 40000, ResultCode::Success);
        // wrong address, wrong port
        t.handle_datagram(now, "10.0.0.2:5351".parse().expect("addr"), &good);
        t.handle_datagram(now, "10.0.0.1:5350".parse().expect("addr"), &good);
        // truncated, empty, garbage
        t.handle_datagram(now, gw(), &good[..good.len() - 1]);
        t.handle_datagram(now, gw(), &[]);
        t.handle_datagram(now, gw(), &[0xff; 64]);
        // reply for another internal port, and a UDP reply to our TCP request
        t.handle_datagram(now, gw(), &map_reply(9999, 40000, ResultCode::Success));
        let udp = Response::Map {
            protocol: Protocol::Udp,
            result: ResultCode::Success,
            epoch: 1,
            internal_port: 8080,
            external_port: 1,
            lifetime: 1,
        };
        t.handle_datagram(now, gw(), &udp.to_bytes());
        // an announcement (opcode 128) is not our answer
        t.handle_datagram(now, gw(), &Response::announcement(5, GW).to_bytes());
        assert!(t.poll_result().is_none(), "all of these must be ignored");
        t.handle_datagram(now, gw(), &good);
        assert!(t.poll_result().expect("done").is_ok());
    }

    #[test]
    fn error_result_is_typed() {
        let now = Instant::now();
        let mut t = NatPmpTransaction::map(GW, Protocol::Tcp, 8080, 0, 7200, Default::default());
        t.poll_transmit(now);
        t.handle_datagram(now, gw(), &map_reply(8080, 0, ResultCode::NotAuthorized));
        match t.poll_result() {
            Some(Err(ClientError::NatPmp(ResultCode::NotAuthorized))) => {}
            other => panic!("unexpected {other:?}"),
        }
        // The 8-byte unsupported-opcode form (§3.5).
        let mut t = NatPmpTransaction::external_address(GW, Default::default());
        t.poll_transmit(now);
        t.handle_datagram(now, gw(), &[0, 128, 0, 5, 0, 0, 0, 1]);
        assert!(matches!(
            t.poll_result(),
            Some(Err(ClientError::NatPmp(ResultCode::UnsupportedOpcode)))
        ));
    }

    #[test]
    fn deadline_caps_the_schedule() {
        let cfg = NatPmpConfig {
            deadline: Some(Duration::from_millis(600)),
            ..Default::default()
        };
        let mut t = NatPmpTransaction::external_address(GW, cfg);
        let start = Instant::now();
        let mut now = start;
        let mut sends = 0;
        while t.poll_result().is_none() {
            if t.poll_transmit(now).is_some() {
                sends += 1;
            }
            now = t.poll_timeout().expect("timer");
            t.handle_timeout(now);
        }
        assert_eq!(sends, 2);
        assert_eq!(now - start, Duration::from_millis(600));
    }
}
