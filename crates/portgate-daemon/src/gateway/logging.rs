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

/// Up to this many mappings expiring together get a line each at info level.
pub const EXPIRED_EACH: usize = 16;

/// Mappings whose leases ran out together (one expiry step): a line each at info
/// level when they are few; otherwise one info line with their number and a debug line
/// each, so a mass expiry (thousands in the same second) does not spend the daemon's
/// time writing logs while it serves.
pub fn expired(gone: &[Mapping]) {
    if gone.len() <= EXPIRED_EACH {
        for m in gone {
            removed(m, Removal::Expired);
        }
        return;
    }
    tracing::info!(count = gone.len(), "mappings removed: expired");
    for m in gone {
        tracing::debug!(via = %via(&m.origin), proto = %m.protocol, eport = m.external_port,
            client = %m.internal_client, iport = m.internal_port, "mapping removed: expired");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::Protocol;
    use std::sync::{Arc, Mutex};

    /// The info-level lines `f` logs.
    fn info_lines(f: impl FnOnce()) -> Vec<String> {
        let buf = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let text = buf.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&text)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut v) = self.0.lock() {
                v.extend_from_slice(b);
            }
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn mappings(n: u16) -> Vec<Mapping> {
        (0..n)
            .map(|i| Mapping {
                external: None,
                protocol: Protocol::Udp,
                external_port: 10_000 + i,
                remote_host: None,
                internal_client: Ipv4Addr::new(192, 168, 1, 2),
                internal_port: 10_000 + i,
                description: String::new(),
                expiry: Some(1),
                origin: Origin::NatPmp,
                created_at: 0,
            })
            .collect()
    }

    #[test]
    fn few_expiries_get_a_line_each_many_get_one() {
        let few = info_lines(|| expired(&mappings(3)));
        assert_eq!(few.len(), 3, "{few:?}");
        assert!(few.iter().all(|l| l.contains("mapping removed: expired")));
        let many = info_lines(|| expired(&mappings(1024)));
        assert_eq!(many.len(), 1, "{many:?}");
        assert!(many[0].contains("mappings removed: expired") && many[0].contains("count=1024"));
    }
}
