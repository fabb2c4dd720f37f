//! A gateway's unsolicited announcements: NAT-PMP multicasts an external-address
//! response to 224.0.0.1:5350 when its external address changes (RFC 6886 §3.2.1),
//! and a PCP server multicasts an ANNOUNCE response there after it restarts or loses
//! state (RFC 6887 §14.1.3). [`crate::mapper::Mapper::wait_and_renew`] listens for them,
//! so a kept mapping is renewed when the gateway says something changed, not at the
//! next half-lease.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use portgate_proto::{natpmp, pcp};

/// Longest random wait between an announcement and the renewal it causes: one
/// multicast reaches every client on the LAN, and they should not all renew at the
/// same instant.
pub const RENEW_SPREAD: Duration = Duration::from_secs(5);

/// What an announcement says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announcement {
    /// The gateway's epoch (seconds since its mapping state began).
    pub epoch: u32,
    /// The external address (NAT-PMP announcements carry it; PCP ANNOUNCE does not).
    pub external: Option<Ipv4Addr>,
}

/// The announcement in `bytes`: a successful NAT-PMP external-address response, or a
/// PCP ANNOUNCE response; `None` for anything else.
pub fn parse_announcement(bytes: &[u8]) -> Option<Announcement> {
    if let Ok(natpmp::Response::ExternalAddress {
        result: natpmp::ResultCode::Success,
        epoch,
        address,
    }) = natpmp::Response::parse(bytes)
    {
        return Some(Announcement {
            epoch,
            external: Some(address),
        });
    }
    match pcp::Response::parse(bytes) {
        Ok(r) if r.data == pcp::OpData::Announce && r.result == pcp::ResultCode::Success => {
            Some(Announcement {
                epoch: r.epoch,
                external: None,
            })
        }
        _ => None,
    }
}

/// A socket on 0.0.0.0:5350 in the all-hosts group, shared with other clients on the
/// host (`SO_REUSEADDR` and `SO_REUSEPORT`).
#[derive(Debug)]
pub struct AnnounceListener {
    sock: UdpSocket,
}

impl AnnounceListener {
    /// Opens the listener; `None` when the port cannot be had (another program holds
    /// it exclusively), in which case renewals simply wait for their time.
    pub fn open() -> Option<Self> {
        use socket2::{Domain, Protocol, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).ok()?;
        s.set_reuse_address(true).ok()?;
        s.set_reuse_port(true).ok()?;
        let at = SocketAddr::from((Ipv4Addr::UNSPECIFIED, natpmp::CLIENT_PORT));
        if let Err(e) = s.bind(&at.into()) {
            tracing::debug!(%e, "announcements: cannot bind {at}");
            return None;
        }
        // Every host is in 224.0.0.1 already; joining again may be refused.
        let _ = s.join_multicast_v4(&natpmp::ANNOUNCE_MULTICAST, &Ipv4Addr::UNSPECIFIED);
        Some(Self { sock: s.into() })
    }

    /// Waits until `deadline` for an announcement from `gateway` (its port 5351) and
    /// returns it; `None` when the deadline came first. Anything else arriving is
    /// ignored.
    pub fn wait(&self, gateway: IpAddr, deadline: Instant) -> Option<Announcement> {
        let mut buf = [0u8; 1100];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.sock.set_read_timeout(Some(left)).is_err() {
                return None;
            }
            match self.sock.recv_from(&mut buf) {
                Ok((n, from)) => {
                    if from.ip() != gateway || from.port() != natpmp::SERVER_PORT {
                        continue;
                    }
                    if let Some(a) = parse_announcement(buf.get(..n).unwrap_or_default()) {
                        return Some(a);
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return None;
                }
                Err(e) => {
                    tracing::debug!(%e, "announcements: receive failed");
                    std::thread::sleep(left);
                    return None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_are_recognised_and_nothing_else() {
        let pmp = natpmp::Response::ExternalAddress {
            result: natpmp::ResultCode::Success,
            epoch: 7,
            address: Ipv4Addr::new(203, 0, 113, 1),
        };
        assert_eq!(
            parse_announcement(&pmp.to_bytes()),
            Some(Announcement {
                epoch: 7,
                external: Some(Ipv4Addr::new(203, 0, 113, 1)),
            })
        );
        assert_eq!(
            parse_announcement(&pcp::Response::announce(9).to_bytes()),
            Some(Announcement {
                epoch: 9,
                external: None,
            })
        );
        // A request, a failed answer, a MAP response, garbage: no.
        assert_eq!(
            parse_announcement(&natpmp::Request::ExternalAddress.to_bytes()),
            None
        );
        let failed = natpmp::Response::ExternalAddress {
            result: natpmp::ResultCode::NetworkFailure,
            epoch: 7,
            address: Ipv4Addr::UNSPECIFIED,
        };
        assert_eq!(parse_announcement(&failed.to_bytes()), None);
        assert_eq!(parse_announcement(&[2, 0x81, 0, 0]), None);
        assert_eq!(parse_announcement(b""), None);
        assert_eq!(parse_announcement(&[0xff; 40]), None);
    }
}
