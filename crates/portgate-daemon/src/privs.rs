//! Giving up privileges after start-up (SECURITY.md, item 8: only CAP_NET_ADMIN and
//! CAP_NET_BIND_SERVICE are kept; the mechanism is [`portgate_service::privs`]).
//!
//! portgated keeps its user (root, so that the lease file, the pid file and the
//! configuration it rereads on SIGHUP stay reachable through their owner's rights) and
//! drops every capability but two: `CAP_NET_ADMIN` (nftables and rtnetlink) and
//! `CAP_NET_BIND_SERVICE` (an `http_port` below 1024 after a reload).
//!
//! It runs before the runtime and the rtnetlink thread exist: capabilities belong to a
//! thread, and new threads inherit them from the one that creates them.

pub use portgate_service::privs::Dropped;
use rustix::thread::CapabilitySet;

/// The capabilities portgated keeps.
pub const KEPT: CapabilitySet = CapabilitySet::NET_ADMIN.union(CapabilitySet::NET_BIND_SERVICE);

/// Drops every capability but [`KEPT`] from the calling thread. Call it before any
/// other thread starts.
pub fn drop_privileges() -> std::io::Result<Dropped> {
    portgate_service::privs::drop_privileges(KEPT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use portgate_service::privs::names;

    #[test]
    fn kept_set_is_the_two_network_capabilities() {
        // CAP_NET_BIND_SERVICE is 10, CAP_NET_ADMIN is 12 (linux/capability.h).
        assert_eq!(KEPT.bits(), (1 << 10) | (1 << 12));
        assert_eq!(names(KEPT), "net_bind_service, net_admin");
    }
}
