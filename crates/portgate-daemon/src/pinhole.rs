//! The IPv6 pinhole table behind WANIPv6FirewallControl:1 and PCP MAP for
//! IPv6 internal addresses, sans-IO (like [`crate::table`]), plus the
//! `lease_file6` format.
//!
//! A pinhole lets inbound traffic from the WAN (optionally from one remote
//! host) reach `internal_client`:`internal_port` over `protocol`; there is
//! no address translation (RFC 6887 §6: the assigned external address and
//! port are the internal ones). Each pinhole has a UniqueID (1..=65535,
//! WANIPv6FirewallControl:1 §2.3.4 `UniqueID` is a ui2), a lease and an
//! origin.
//!
//! Identity: the kernel's pinhole sets are keyed by (internal address,
//! protocol, internal port, remote host, remote port) —
//! [`portgate_nft::PinholeKey`] — so two pinholes may never share that key:
//! a second AddPinhole with the same key refreshes the first (same
//! UniqueID), as miniupnpd does. A remote port other than 0 is enforced:
//! only inbound traffic from that source port matches.
//!
//! # `lease_file6`
//!
//! One pinhole per line, as miniupnpd writes it (`upnppinhole.c`):
//!
//! ```text
//! PROTO;internal_client;internal_port;remote_host;remote_port;uid;expiry;description
//! UDP;2001:db8:1::2;5000;;0;7;1767225600;my app
//! ```
//!
//! `remote_host` empty means any remote host, `expiry` is the unix time the
//! lease runs out (0 = permanent), the description is the rest of the line
//! (it may hold `;`). Lines that do not parse are skipped with a warning;
//! expired ones are dropped when read.
//!
//! Time (`now`) is unix seconds passed in by the caller.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;

use crate::table::{Nonce, Protocol};

/// Most pinholes in the table: bounds memory and the kernel set (each is
/// one set element); past it AddPinhole answers 701 PinholeSpaceExhausted.
pub const MAX_PINHOLES: usize = 1024;

/// Most pinholes one internal client may hold, so one host cannot exhaust
/// the table for the others.
pub const MAX_PINHOLES_PER_CLIENT: usize = 128;

/// Longest lease (seconds) WANIPv6FirewallControl:1 allows: `LeaseTime`
/// is 1..86400 (§2.3.6).
pub const MAX_LEASE_TIME: u32 = 86_400;

/// Longest description kept (bytes); longer ones are cut at a character
/// boundary, as lease lines must stay short.
pub const DESCRIPTION_MAX: usize = 64;

/// Longest `lease_file6` line read (bytes); longer lines are skipped.
pub const LEASE6_LINE_MAX: usize = 512;

/// Lowest internal port a LAN host may ask a pinhole for (AddPinhole, PCP
/// MAP over IPv6). Ports below 1024 are the system ports (RFC 6335 §6)
/// where privileged services listen; opening one to the whole WAN from
/// inside the LAN is what malware does, and miniupnpd's shipped permission
/// rules (`allow 1024-65535 ...`) refuse them for IPv4 port mappings too.
/// Pinholes restored from `lease_file6` are not checked.
pub const MIN_PINHOLE_PORT: u16 = 1024;

/// Whether a LAN host may request a pinhole to internal `port`
/// ([`MIN_PINHOLE_PORT`]); port 0 is [`PinholeError::WildcardPort`].
pub fn requested_port_allowed(port: u16) -> Result<(), PinholeError> {
    match port {
        0 => Err(PinholeError::WildcardPort),
        p if p < MIN_PINHOLE_PORT => Err(PinholeError::PrivilegedPort(p)),
        _ => Ok(()),
    }
}

/// Where a pinhole came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinholeOrigin {
    /// WANIPv6FirewallControl AddPinhole (or restored from `lease_file6`).
    Upnp,
    /// PCP MAP for an IPv6 internal address, with the client's nonce.
    Pcp(Nonce),
}

impl PinholeOrigin {
    /// The PCP nonce it was made with, if PCP made it ([`crate::table::check_nonce`]).
    pub fn nonce(&self) -> Option<&Nonce> {
        match self {
            PinholeOrigin::Pcp(n) => Some(n),
            PinholeOrigin::Upnp => None,
        }
    }
}

/// A pinhole request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPinhole {
    /// Only this remote host may use it; `None` = any.
    pub remote_host: Option<Ipv6Addr>,
    /// Remote (source) port (0 = any); part of the kernel key, so enforced.
    pub remote_port: u16,
    /// The LAN host that receives the traffic.
    pub internal_client: Ipv6Addr,
    /// Its port (never 0).
    pub internal_port: u16,
    /// Transport protocol.
    pub protocol: Protocol,
    /// When the lease runs out (unix seconds); `None` = permanent.
    pub expiry: Option<u64>,
    /// Free text.
    pub description: String,
    /// Who asked.
    pub origin: PinholeOrigin,
}

/// A pinhole in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinholeRecord {
    /// UniqueID (1..=65535).
    pub uid: u16,
    /// The request it was made from (refreshes update it).
    pub spec: NewPinhole,
}

impl PinholeRecord {
    /// The kernel key of this pinhole.
    pub fn firewall_key(&self) -> portgate_nft::PinholeKey {
        portgate_nft::PinholeKey {
            internal_addr: self.spec.internal_client,
            proto: portgate_nft::L4Proto(self.spec.protocol.number()),
            internal_port: self.spec.internal_port,
            remote: self.spec.remote_host,
            remote_port: self.spec.remote_port,
        }
    }

    /// The kernel element at `now` (a lease due now still gets one second:
    /// 0 would mean permanent).
    pub fn firewall_pinhole(&self, now: u64) -> portgate_nft::Pinhole {
        portgate_nft::Pinhole {
            key: self.firewall_key(),
            timeout: self
                .spec
                .expiry
                .map(|e| std::time::Duration::from_secs(e.saturating_sub(now).max(1))),
        }
    }

    /// Seconds left at `now` (`None`: permanent).
    pub fn remaining(&self, now: u64) -> Option<u64> {
        self.spec.expiry.map(|e| e.saturating_sub(now))
    }

    fn is_expired(&self, now: u64) -> bool {
        self.spec.expiry.is_some_and(|e| e <= now)
    }
}

/// Why the pinhole table refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PinholeError {
    /// No pinhole with that UniqueID (UPnP 704).
    #[error("no pinhole with that unique id")]
    NoSuchEntry,
    /// The table or the client's quota is full (UPnP 701).
    #[error("pinhole space exhausted")]
    SpaceExhausted,
    /// The internal client is not a unicast global or unique-local address
    /// (link-local, multicast, loopback, unspecified, IPv4-mapped) or is the
    /// gateway itself (UPnP 606 / 402, PCP NOT_AUTHORIZED).
    #[error("internal client {0} cannot receive a pinhole")]
    BadInternalClient(Ipv6Addr),
    /// Internal port 0 (UPnP 706 InternalPortWildcardingNotAllowed).
    #[error("internal port 0 is not allowed")]
    WildcardPort,
    /// The pinhole belongs to another client (UPnP 606).
    #[error("pinhole owned by another client")]
    NotOwner,
    /// A LAN host asked for an internal port below [`MIN_PINHOLE_PORT`]
    /// (UPnP 606, PCP NOT_AUTHORIZED).
    #[error("internal port {0} is below 1024")]
    PrivilegedPort(u16),
}

/// Whether `ip` may be the internal client of a pinhole: a unicast address
/// that is neither loopback, unspecified, link-local, multicast nor
/// IPv4-mapped/compatible.
pub fn valid_internal_client(ip: Ipv6Addr) -> bool {
    let seg0 = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (seg0 & 0xffc0) == 0xfe80
        || ip.to_ipv4_mapped().is_some()
        || ip.octets()[..12].iter().all(|&b| b == 0))
}

/// The pinhole table. See the module docs.
#[derive(Debug, Clone)]
pub struct PinholeTable {
    entries: BTreeMap<u16, PinholeRecord>,
    next_uid: u16,
    max_total: usize,
    max_per_client: usize,
}

impl Default for PinholeTable {
    fn default() -> Self {
        Self::new(MAX_PINHOLES, MAX_PINHOLES_PER_CLIENT)
    }
}

/// The result of [`PinholeTable::add`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinholeAdded {
    /// The pinhole now in the table.
    pub record: PinholeRecord,
    /// What it replaced (a refresh of the same kernel key).
    pub previous: Option<PinholeRecord>,
}

impl PinholeTable {
    /// An empty table with these limits.
    pub fn new(max_total: usize, max_per_client: usize) -> Self {
        PinholeTable {
            entries: BTreeMap::new(),
            next_uid: 1,
            max_total,
            max_per_client,
        }
    }

    /// Number of pinholes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every pinhole, by UniqueID.
    pub fn iter(&self) -> impl Iterator<Item = &PinholeRecord> {
        self.entries.values()
    }

    /// The pinhole `uid`, if any and not expired at `now`.
    pub fn get(&self, uid: u16, now: u64) -> Option<&PinholeRecord> {
        self.entries.get(&uid).filter(|r| !r.is_expired(now))
    }

    /// The pinhole with this kernel key.
    pub fn find(&self, key: &portgate_nft::PinholeKey) -> Option<&PinholeRecord> {
        self.entries.values().find(|r| r.firewall_key() == *key)
    }

    /// Add a pinhole, or refresh the one with the same kernel key (keeping
    /// its UniqueID). `uid`, when given (restoring `lease_file6`), is used
    /// if free.
    pub fn add(
        &mut self,
        req: NewPinhole,
        uid: Option<u16>,
        now: u64,
    ) -> Result<PinholeAdded, PinholeError> {
        if !valid_internal_client(req.internal_client) {
            return Err(PinholeError::BadInternalClient(req.internal_client));
        }
        if req.internal_port == 0 {
            return Err(PinholeError::WildcardPort);
        }
        let mut req = req;
        truncate(&mut req.description, DESCRIPTION_MAX);
        let probe = PinholeRecord {
            uid: 0,
            spec: req.clone(),
        };
        let key = probe.firewall_key();
        if let Some(existing) = self.entries.values_mut().find(|r| r.firewall_key() == key) {
            let previous = existing.clone();
            existing.spec = req;
            return Ok(PinholeAdded {
                record: existing.clone(),
                previous: Some(previous),
            });
        }
        let live = |r: &&PinholeRecord| !r.is_expired(now);
        if self.entries.values().filter(live).count() >= self.max_total {
            return Err(PinholeError::SpaceExhausted);
        }
        let mine = self
            .entries
            .values()
            .filter(live)
            .filter(|r| r.spec.internal_client == req.internal_client)
            .count();
        if mine >= self.max_per_client {
            return Err(PinholeError::SpaceExhausted);
        }
        let uid = match uid.filter(|u| *u != 0 && !self.entries.contains_key(u)) {
            Some(u) => u,
            None => self.free_uid().ok_or(PinholeError::SpaceExhausted)?,
        };
        let record = PinholeRecord { uid, spec: req };
        self.entries.insert(uid, record.clone());
        Ok(PinholeAdded {
            record,
            previous: None,
        })
    }

    fn free_uid(&mut self) -> Option<u16> {
        for _ in 0..=u16::MAX {
            let u = self.next_uid;
            self.next_uid = match self.next_uid.wrapping_add(1) {
                0 => 1,
                n => n,
            };
            if u != 0 && !self.entries.contains_key(&u) {
                return Some(u);
            }
        }
        None
    }

    /// Set a new expiry on pinhole `uid`; `by`, when given, must be its
    /// internal client. Returns the old and the new record.
    pub fn update(
        &mut self,
        uid: u16,
        expiry: Option<u64>,
        by: Option<Ipv6Addr>,
        now: u64,
    ) -> Result<(PinholeRecord, PinholeRecord), PinholeError> {
        let r = self
            .entries
            .get_mut(&uid)
            .filter(|r| !r.is_expired(now))
            .ok_or(PinholeError::NoSuchEntry)?;
        if by.is_some_and(|b| b != r.spec.internal_client) {
            return Err(PinholeError::NotOwner);
        }
        let old = r.clone();
        r.spec.expiry = expiry;
        Ok((old, r.clone()))
    }

    /// Put back a record exactly as it was (rolling back a failed change).
    pub fn restore(&mut self, record: PinholeRecord) {
        self.entries.insert(record.uid, record);
    }

    /// Delete pinhole `uid`; `by`, when given, must be its internal client.
    pub fn delete(
        &mut self,
        uid: u16,
        by: Option<Ipv6Addr>,
        now: u64,
    ) -> Result<PinholeRecord, PinholeError> {
        let r = self
            .entries
            .get(&uid)
            .filter(|r| !r.is_expired(now))
            .ok_or(PinholeError::NoSuchEntry)?;
        if by.is_some_and(|b| b != r.spec.internal_client) {
            return Err(PinholeError::NotOwner);
        }
        self.entries.remove(&uid).ok_or(PinholeError::NoSuchEntry)
    }

    /// Remove and return what is due at `now`.
    pub fn expire(&mut self, now: u64) -> Vec<PinholeRecord> {
        let due: Vec<u16> = self
            .entries
            .values()
            .filter(|r| r.is_expired(now))
            .map(|r| r.uid)
            .collect();
        due.into_iter()
            .filter_map(|u| self.entries.remove(&u))
            .collect()
    }

    /// The earliest expiry in the table.
    pub fn next_expiry(&self) -> Option<u64> {
        self.entries.values().filter_map(|r| r.spec.expiry).min()
    }
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

/// Why a `lease_file6` line was skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Lease6LineError {
    /// Fewer than eight `;`-separated fields, or a line too long.
    #[error("malformed lease6 line")]
    Malformed,
    /// The protocol is not TCP or UDP.
    #[error("unknown protocol {0:?}")]
    Protocol(String),
    /// An address, port, uid or timestamp does not parse.
    #[error("bad {0} field")]
    Field(&'static str),
}

/// One `lease_file6` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease6Entry {
    /// UniqueID.
    pub uid: u16,
    /// The pinhole (origin [`PinholeOrigin::Upnp`]).
    pub pinhole: NewPinhole,
}

/// Parse one line (without its newline).
pub fn parse_lease6_line(line: &str) -> Result<Lease6Entry, Lease6LineError> {
    if line.len() > LEASE6_LINE_MAX {
        return Err(Lease6LineError::Malformed);
    }
    let mut f = line.splitn(8, ';');
    let mut next = || f.next().ok_or(Lease6LineError::Malformed);
    let (proto, int_client, int_port, rem_host, rem_port, uid, expiry, desc) = (
        next()?,
        next()?,
        next()?,
        next()?,
        next()?,
        next()?,
        next()?,
        next()?,
    );
    let protocol =
        Protocol::parse(proto).ok_or_else(|| Lease6LineError::Protocol(proto.to_owned()))?;
    let internal_client: Ipv6Addr = int_client
        .parse()
        .map_err(|_| Lease6LineError::Field("internal client"))?;
    let internal_port: u16 = int_port
        .parse()
        .map_err(|_| Lease6LineError::Field("internal port"))?;
    let remote_host = match rem_host {
        "" | "::" => None,
        s => Some(
            s.parse::<Ipv6Addr>()
                .map_err(|_| Lease6LineError::Field("remote host"))?,
        ),
    };
    let remote_port: u16 = rem_port
        .parse()
        .map_err(|_| Lease6LineError::Field("remote port"))?;
    let uid: u16 = uid.parse().map_err(|_| Lease6LineError::Field("uid"))?;
    let expiry: u64 = expiry
        .parse()
        .map_err(|_| Lease6LineError::Field("timestamp"))?;
    Ok(Lease6Entry {
        uid,
        pinhole: NewPinhole {
            remote_host,
            remote_port,
            internal_client,
            internal_port,
            protocol,
            expiry: (expiry != 0).then_some(expiry),
            description: desc.to_owned(),
            origin: PinholeOrigin::Upnp,
        },
    })
}

/// Format one record as a `lease_file6` line (with its newline). `;`, CR
/// and LF cannot appear in the description field's neighbours; a newline
/// in the description is replaced by a space.
pub fn format_lease6_line(r: &PinholeRecord) -> String {
    format_lease6_line_at(r, 0)
}

/// [`format_lease6_line`] with the expiry moved by `wall_offset` seconds (see
/// [`crate::gateway::Gateway::set_wall_offset`]).
pub fn format_lease6_line_at(r: &PinholeRecord, wall_offset: i64) -> String {
    let s = &r.spec;
    let desc: String = s
        .description
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    format!(
        "{};{};{};{};{};{};{};{}\n",
        s.protocol.as_str(),
        s.internal_client,
        s.internal_port,
        s.remote_host.map(|h| h.to_string()).unwrap_or_default(),
        s.remote_port,
        r.uid,
        s.expiry
            .map_or(0, |t| crate::gateway::to_wall(t, wall_offset)),
        desc
    )
}

/// The journal line that removes pinhole `uid` (`#portgate-del6 UID`): between
/// two compactions `lease_file6` is a journal, as the IPv4 lease file is
/// ([`crate::lease::Journal`]); a later line for a UniqueID replaces an earlier one.
/// Its `#` and lack of `;` make it a line miniupnpd cannot take for a pinhole.
pub fn format_lease6_removal(uid: u16) -> String {
    format!("{DEL6} {uid}\n")
}

const DEL6: &str = "#portgate-del6";

/// Parse a whole `lease_file6`, replaying its journal (a later line for a UniqueID
/// replaces an earlier one, [`format_lease6_removal`] removes it): the live
/// entries in file order, the number of skipped (malformed) and expired lines.
pub fn parse_lease6(text: &str, now: u64) -> (Vec<Lease6Entry>, usize, usize) {
    let mut out: Vec<Option<Lease6Entry>> = Vec::new();
    let mut at: std::collections::HashMap<u16, usize> = std::collections::HashMap::new();
    let (mut skipped, mut expired) = (0, 0);
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix(DEL6) {
            match rest.trim().parse::<u16>() {
                Ok(uid) => {
                    if let Some(slot) = at.remove(&uid).and_then(|i| out.get_mut(i)) {
                        *slot = None;
                    }
                }
                Err(_) => skipped += 1,
            }
            continue;
        }
        match parse_lease6_line(line) {
            Ok(e) => {
                if let Some(slot) = at.remove(&e.uid).and_then(|i| out.get_mut(i)) {
                    *slot = None;
                }
                if e.pinhole.expiry.is_some_and(|t| t <= now) {
                    expired += 1;
                } else {
                    at.insert(e.uid, out.len());
                    out.push(Some(e));
                }
            }
            Err(err) => {
                tracing::debug!(%err, "skipping lease6 line");
                skipped += 1;
            }
        }
    }
    (out.into_iter().flatten().collect(), skipped, expired)
}

mod service;
pub use service::{
    Lan6, Pinhole6Report, PinholeServiceError, PinholeSettings, Pinholes, SharedPinholes,
};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod low_port_tests {
    use super::*;

    #[test]
    fn ports_below_1024_are_refused_for_lan_requests() {
        assert_eq!(requested_port_allowed(0), Err(PinholeError::WildcardPort));
        for p in [1, 22, 80, 443, 1023] {
            assert_eq!(
                requested_port_allowed(p),
                Err(PinholeError::PrivilegedPort(p))
            );
        }
        for p in [MIN_PINHOLE_PORT, 8080, u16::MAX] {
            assert_eq!(requested_port_allowed(p), Ok(()));
        }
    }
}
