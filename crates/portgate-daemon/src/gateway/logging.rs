//! The log lines of a mapping's life: each names the protocol that made it
//! (`via=upnp|natpmp|pcp`), and each removal says why.

use std::fmt;
use std::net::Ipv4Addr;

use crate::table::{Mapping, Origin};

/// Why a mapping left the table or the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Its lease ran out.
    Expired,
    /// A client asked: its own (`None`), or another LAN host with secure mode off.
    Deleted(Option<Ipv4Addr>),
    /// `clean_ruleset_interval` found no new inbound connection for an interval.
    Idle,
    /// The rules of a reloaded configuration (SIGHUP) deny it.
    Reload,
    /// Its client renewed it on another external port.
    Moved,
    /// The daemon stopped and removed its firewall table; the lease file keeps the
    /// mapping for the next start.
    Shutdown,
}

impl fmt::Display for Removal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Removal::Expired => f.write_str("expired"),
            Removal::Deleted(None) => f.write_str("deleted by its client"),
            Removal::Deleted(Some(by)) => write!(f, "deleted by {by}"),
            Removal::Idle => {
                f.write_str("idle-cleaned (no new connection for clean_ruleset_interval)")
            }
            Removal::Reload => f.write_str("reload (denied by the new rules)"),
            Removal::Moved => f.write_str("moved to another external port by its client"),
            Removal::Shutdown => f.write_str("shutdown (kept in the lease file)"),
        }
    }
}

/// The protocol that made a mapping, as the logs name it.
pub fn via(origin: &Origin) -> &'static str {
    match origin {
        Origin::Upnp => "upnp",
        Origin::NatPmp => "natpmp",
        Origin::Pcp { .. } => "pcp",
    }
}

/// A new mapping (info) or a refreshed one (debug).
pub fn added(m: &Mapping, refreshed: bool, now: u64) {
    let lease = m.expiry.map_or(0, |e| e.saturating_sub(now));
    if refreshed {
        tracing::debug!(via = %via(&m.origin), proto = %m.protocol, eport = m.external_port,
            client = %m.internal_client, iport = m.internal_port, lease, "mapping refreshed");
    } else {
        tracing::info!(via = %via(&m.origin), proto = %m.protocol, eport = m.external_port,
            client = %m.internal_client, iport = m.internal_port, lease,
            description = ?m.description, "mapping added");
    }
}

/// A mapping gone, and why.
pub fn removed(m: &Mapping, why: Removal) {
    tracing::info!(via = %via(&m.origin), proto = %m.protocol, eport = m.external_port,
        client = %m.internal_client, iport = m.internal_port, "mapping removed: {why}");
}
