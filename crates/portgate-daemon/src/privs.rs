//! Giving up privileges after start-up (SECURITY.md, item 8: only CAP_NET_ADMIN and
//! CAP_NET_BIND_SERVICE are kept).
//!
//! portgated keeps its user (root, so that the lease file, the pid file and the
//! configuration it rereads on SIGHUP stay reachable through their owner's rights) and
//! drops every capability but two: `CAP_NET_ADMIN` (nftables and rtnetlink) and
//! `CAP_NET_BIND_SERVICE` (an `http_port` below 1024 after a reload). The others leave
//! the effective, permitted, inheritable, ambient and bounding sets, and
//! `no_new_privs` is set, so neither the daemon nor anything it could be tricked into
//! running gets them back. Root without `CAP_DAC_OVERRIDE` can no longer write files
//! it does not own, nor load kernel modules, trace processes or mount.
//!
//! It runs before the runtime and the rtnetlink thread exist: capabilities belong to a
//! thread, and new threads inherit them from the one that creates them.

use rustix::io::Errno;
use rustix::thread::{self, CapabilitySet, CapabilitySets};

/// The capabilities portgated keeps.
pub const KEPT: CapabilitySet = CapabilitySet::NET_ADMIN.union(CapabilitySet::NET_BIND_SERVICE);

/// What [`drop_privileges`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    /// Effective capabilities before.
    pub before: CapabilitySet,
    /// Effective (and permitted) capabilities after: [`KEPT`], or fewer when the
    /// process did not have both.
    pub after: CapabilitySet,
    /// Whether the bounding set could be narrowed too (needs `CAP_SETPCAP`).
    pub bounding: bool,
}

/// Drops every capability but [`KEPT`] from the calling thread (see the module
/// documentation). Call it before any other thread starts.
pub fn drop_privileges() -> std::io::Result<Dropped> {
    let now = thread::capabilities(None)?;
    let bounding = now.effective.contains(CapabilitySet::SETPCAP);
    if bounding {
        for bit in 0..u64::BITS {
            let cap = CapabilitySet::from_bits_retain(1 << bit);
            if KEPT.contains(cap) {
                continue;
            }
            match thread::remove_capability_from_bounding_set(cap) {
                // EINVAL: a capability this kernel does not know.
                Ok(()) | Err(Errno::INVAL) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    match thread::clear_ambient_capability_set() {
        // EINVAL: a kernel without ambient capabilities (before 4.3).
        Ok(()) | Err(Errno::INVAL) => {}
        Err(e) => return Err(e.into()),
    }
    let keep = now.permitted & KEPT;
    thread::set_capabilities(
        None,
        CapabilitySets {
            effective: keep,
            permitted: keep,
            inheritable: CapabilitySet::empty(),
        },
    )?;
    thread::set_no_new_privs(true)?;
    Ok(Dropped {
        before: now.effective,
        after: thread::capabilities(None)?.effective,
        bounding,
    })
}

/// The names of the capabilities in `set`, for the log (`net_admin`, ...).
pub fn names(set: CapabilitySet) -> String {
    let mut out = Vec::new();
    for (name, flag) in set.iter_names() {
        if set.contains(flag) {
            out.push(name.to_ascii_lowercase());
        }
    }
    if out.is_empty() {
        "none".to_owned()
    } else {
        out.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_set_is_the_two_network_capabilities() {
        // CAP_NET_BIND_SERVICE is 10, CAP_NET_ADMIN is 12 (linux/capability.h).
        assert_eq!(KEPT.bits(), (1 << 10) | (1 << 12));
        assert_eq!(names(KEPT), "net_bind_service, net_admin");
        assert_eq!(names(CapabilitySet::empty()), "none");
    }
}
