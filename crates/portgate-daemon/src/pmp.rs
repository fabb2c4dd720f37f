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
use std::time::Duration;

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

/// Most datagrams read and answered in one round ([`Inbox`]): their firewall
/// changes go to the kernel in one transaction ([`handle_batch`]).
pub const MAX_BATCH: usize = 256;

/// The datagrams waiting on one 5351 socket, read in one round without waiting:
/// one buffer of [`MAX_BATCH`] slots of [`RECV_BUFFER`] bytes, reused.
pub struct Inbox {
    buf: Vec<u8>,
    got: Vec<(usize, SocketAddr)>,
}

impl Default for Inbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Inbox {
    /// An empty inbox.
    pub fn new() -> Self {
        Inbox {
            buf: vec![0; RECV_BUFFER * MAX_BATCH],
            got: Vec::with_capacity(MAX_BATCH),
        }
    }

    /// Reads with `recv` (a non-blocking receive) until it fails (would block, or
    /// any other error: the next round tries again) or [`MAX_BATCH`] datagrams are
    /// in. Returns how many were read.
    pub fn fill(
        &mut self,
        mut recv: impl FnMut(&mut [u8]) -> std::io::Result<(usize, SocketAddr)>,
    ) -> usize {
        self.got.clear();
        for slot in self.buf.chunks_mut(RECV_BUFFER) {
            match recv(slot) {
                Ok((n, from)) => self.got.push((n.min(RECV_BUFFER), from)),
                Err(_) => break,
            }
        }
        self.got.len()
    }

    /// The datagrams read by the last [`Inbox::fill`], with their sources.
    pub fn datagrams(&self) -> Vec<(&[u8], SocketAddr)> {
        self.buf
            .chunks(RECV_BUFFER)
            .zip(&self.got)
            .map(|(slot, &(n, from))| (slot.get(..n).unwrap_or_default(), from))
            .collect()
    }
}

/// Handles every datagram of `batch` (received on `local`) as [`handle`] does, in
/// order, with one firewall transaction and one journal append for all of them
/// ([`Gateway::batch`]); returns the replies in the same order. Nothing is to be sent
/// before this returns: then every change is in the kernel and the journal. When the
/// kernel refuses the batch, the requests are handled again one by one, so only
/// the bad ones fail.
pub fn handle_batch(
    batch: &[(&[u8], SocketAddr)],
    local: IpAddr,
    now: u64,
    gw: &mut Gateway,
) -> Vec<Option<Vec<u8>>> {
    let each = |gw: &mut Gateway| -> Vec<Option<Vec<u8>>> {
        batch
            .iter()
            .map(|&(data, from)| handle(data, from, local, now, gw))
            .collect()
    };
    if batch.len() <= 1 {
        return each(gw);
    }
    // What ran out goes first, in its own transaction, as a single request would.
    gw.expire(now);
    match gw.batch(now, each) {
        Ok(replies) => {
            tracing::debug!(
                "nat-pmp/pcp: batch of {} requests committed in one firewall transaction",
                batch.len()
            );
            replies
        }
        Err(err) => {
            tracing::debug!(%err, requests = batch.len(), "batch refused: handling its requests one by one");
            each(gw)
        }
    }
}

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
    if !gw.admit_request(client, now) {
        tracing::debug!(%src, "nat-pmp/pcp over the source's request rate: dropped");
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
/// (RFC 6887 §14.1.3), both sent to [`ANNOUNCE_DEST`] (the PCP one only when NAT-PMP
/// is off). Empty when no external address is known.
pub fn announcements(gw: &Gateway, now: u64) -> Vec<Vec<u8>> {
    let epoch = gw.epoch(now);
    let Some(addr) = gw.external() else {
        return Vec::new();
    };
    let pcp = wire_pcp::Response::announce(epoch).to_bytes();
    if !gw.settings().natpmp {
        // NAT-PMP is off (CGN mode): PCP's ANNOUNCE only.
        return vec![pcp];
    }
    vec![
        wire_natpmp::Response::announcement(epoch, addr).to_bytes(),
        pcp,
    ]
}

/// Schedule of announcement bursts, kept by the gateway core
/// ([`Gateway::poll_timeout`]): [`Announcer::restart`] on start-up and on every
/// external address change; [`Announcer::poll`] says when to send. Times are the
/// core's (monotonic, with sub-second precision, see `clock::now_precise`).
#[derive(Debug, Clone, Default)]
pub struct Announcer {
    sent: u32,
    next: Option<Duration>,
    interval: Duration,
}

impl Announcer {
    /// A schedule with nothing due.
    pub fn new() -> Self {
        Self::default()
    }

    /// Start a new burst: the first send is due at `now`.
    pub fn restart(&mut self, now: Duration) {
        self.sent = 0;
        self.next = Some(now);
        self.interval = wire_natpmp::ANNOUNCE_INITIAL_INTERVAL;
    }

    /// When the next send is due (`None`: burst over).
    pub fn deadline(&self) -> Option<Duration> {
        self.next
    }

    /// `true` when a send is due at `now` (then the schedule advances: the
    /// caller sends [`announcements`] once).
    pub fn poll(&mut self, now: Duration) -> bool {
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
