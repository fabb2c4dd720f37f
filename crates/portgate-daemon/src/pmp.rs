//! NAT-PMP (RFC 6886) and PCP (RFC 6887) server: sans-IO request handlers
//! and the announcement schedule.
//!
//! [`handle`] takes one datagram received on UDP 5351 of a LAN address and
//! returns the reply to send back to its source, or `None` to drop it. The
//! first byte picks the protocol: version 0 is NAT-PMP ([`natpmp`]), anything
//! else goes to PCP ([`pcp`]), which answers versions 1 and > 2 with
//! UNSUPP_VERSION (RFC 6887 §9).
//!
//! Exposure (SECURITY.md): requests from a source outside the LAN subnets,
//! from IPv6, or addressed to the external address are dropped without a
//! reply (RFC 6886 §3.1: a gateway MUST NOT accept mapping requests on its
//! external interface).
//!
//! [`Announcer`] is the schedule of unsolicited announcements to
//! 224.0.0.1:5350 on start-up and external address change: 10 sends, the
//! first at once, then 250 ms apart doubling each time (RFC 6886 §3.2.1;
//! RFC 6887 §14.1.3 uses the same multicast group and port for ANNOUNCE).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use portgate_proto::natpmp as wire_natpmp;
use portgate_proto::pcp as wire_pcp;

use crate::gateway::Gateway;

pub mod natpmp;
pub mod pcp;
pub mod pcp6;
pub mod peer;
#[cfg(test)]
mod tests;

/// Receive buffer size for the 5351 sockets: larger than the longest valid
/// PCP message (1100 bytes) so that oversized requests are seen as such.
pub const RECV_BUFFER: usize = 2048;

/// Where announcements go: 224.0.0.1:5350 (RFC 6886 §3.2.1, RFC 6887 §14.1.3).
pub const ANNOUNCE_DEST: SocketAddr = SocketAddr::new(
    IpAddr::V4(wire_natpmp::ANNOUNCE_MULTICAST),
    wire_natpmp::CLIENT_PORT,
);

/// Handle one datagram `buf` from `src`, received on the local address
/// `local`, at unix time `now`. Returns the reply, or `None` to drop.
pub fn handle(
    buf: &[u8],
    src: SocketAddr,
    local: IpAddr,
    now: u64,
    gw: &mut Gateway,
) -> Option<Vec<u8>> {
    let IpAddr::V4(client) = src.ip() else {
        tracing::debug!(%src, "nat-pmp/pcp from ipv6: dropped");
        return None;
    };
    if !gw.is_lan(client) {
        tracing::debug!(%src, "nat-pmp/pcp from a non-LAN source: dropped");
        return None;
    }
    if local.is_unspecified() || Some(local) == gw.external().map(IpAddr::V4) {
        tracing::debug!(%src, %local, "nat-pmp/pcp addressed to the external address: dropped");
        return None;
    }
    let reply = match buf.first() {
        None => None,
        Some(&wire_pcp::NATPMP_VERSION) => natpmp::handle(buf, client, now, gw),
        Some(_) => pcp::handle(buf, client, now, gw),
    };
    if let Some(r) = &reply {
        crate::stats::note_pmp_reply(r);
    }
    reply
}

/// The unsolicited messages for the current state: a NAT-PMP external
/// address announcement (RFC 6886 §3.2.1) and a PCP ANNOUNCE response
/// (RFC 6887 §14.1.3), both sent to [`ANNOUNCE_DEST`]. Empty when no
/// external address is known.
pub fn announcements(gw: &Gateway, now: u64) -> Vec<Vec<u8>> {
    let epoch = gw.epoch(now);
    let Some(addr) = gw.external() else {
        return Vec::new();
    };
    vec![
        wire_natpmp::Response::announcement(epoch, addr).to_bytes(),
        wire_pcp::Response::announce(epoch).to_bytes(),
    ]
}

/// Schedule of announcement bursts. [`Announcer::restart`] on start-up and
/// on every external address change; [`Announcer::poll`] says when to send.
#[derive(Debug, Clone, Default)]
pub struct Announcer {
    sent: u32,
    next: Option<Instant>,
    interval: Duration,
}

impl Announcer {
    /// A schedule with nothing due.
    pub fn new() -> Self {
        Self::default()
    }

    /// Start a new burst: the first send is due at `now`.
    pub fn restart(&mut self, now: Instant) {
        self.sent = 0;
        self.next = Some(now);
        self.interval = wire_natpmp::ANNOUNCE_INITIAL_INTERVAL;
    }

    /// When the next send is due (`None`: burst over).
    pub fn deadline(&self) -> Option<Instant> {
        self.next
    }

    /// `true` when a send is due at `now` (then the schedule advances: the
    /// caller sends [`announcements`] once).
    pub fn poll(&mut self, now: Instant) -> bool {
        match self.next {
            Some(t) if t <= now => {
                self.sent += 1;
                self.next = if self.sent >= wire_natpmp::ANNOUNCE_COUNT {
                    None
                } else {
                    let at = now + self.interval;
                    self.interval = self.interval.saturating_mul(2);
                    Some(at)
                };
                true
            }
            _ => false,
        }
    }
}

/// The internal client a request maps to: an IPv4 address, never one of
/// the gateway's own (SECURITY.md).
pub(crate) fn own_or_invalid(gw: &Gateway, ip: Ipv4Addr) -> bool {
    crate::table::validate_internal_client(ip, &gw.own_addresses()).is_err()
}

/// With a port search (NAT-PMP, PCP without PREFER_FAILURE), a request the
/// permission rules deny at every external port comes back from the table
/// as "no port available"; for these protocols it is a refusal (NAT-PMP 2,
/// PCP NOT_AUTHORIZED), not a shortage.
pub(crate) fn denied_everywhere(
    err: crate::gateway::GatewayError,
    gw: &Gateway,
    client: Ipv4Addr,
    internal_port: u16,
    description: &str,
) -> crate::gateway::GatewayError {
    use crate::gateway::GatewayError;
    use crate::table::TableError;
    match err {
        GatewayError::Table(TableError::NoPortAvailable)
            if gw
                .table()
                .rules()
                .allowed_external_ports(client, internal_port, description)
                .is_empty() =>
        {
            GatewayError::Table(TableError::Denied)
        }
        other => other,
    }
}
