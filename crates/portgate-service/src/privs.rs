//! Giving up privileges after start-up.
//!
//! A daemon keeps its user (root, so that the files it owns stay reachable through
//! their owner's rights) and drops every capability but the ones it names: the others
//! leave the effective, permitted, inheritable, ambient and bounding sets, and
//! `no_new_privs` is set, so neither the daemon nor anything it could be tricked into
//! running gets them back. Root without `CAP_DAC_OVERRIDE` can no longer write files
//! it does not own, nor load kernel modules, trace processes or mount.
//!
//! Call it before the runtime or any other thread exists: capabilities belong to a
//! thread, and new threads inherit them from the one that creates them.

use rustix::io::Errno;
use rustix::thread::{self, CapabilitySet, CapabilitySets};

pub use rustix::thread::CapabilitySet as Capabilities;

/// What [`drop_privileges`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    /// Effective capabilities before.
    pub before: CapabilitySet,
    /// Effective (and permitted) capabilities after: the kept ones, or fewer when the
    /// process did not have them all.
    pub after: CapabilitySet,
    /// Whether the bounding set could be narrowed too (needs `CAP_SETPCAP`).
    pub bounding: bool,
}

/// Drops every capability but `keep` from the calling thread (see the module
/// documentation). Call it before any other thread starts.
pub fn drop_privileges(keep: CapabilitySet) -> std::io::Result<Dropped> {
    let now = thread::capabilities(None)?;
    let bounding = now.effective.contains(CapabilitySet::SETPCAP);
    if bounding {
        for bit in 0..u64::BITS {
            let cap = CapabilitySet::from_bits_retain(1 << bit);
            if keep.contains(cap) {
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
    let keep = now.permitted & keep;
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

/// Logs what [`drop_privileges`] did (info), or why it could not (warn).
pub fn log_result(result: &std::io::Result<Dropped>) {
    match result {
        Ok(d) => tracing::info!(
            "privileges: kept {}; dropped the other {} capabilities{}",
            names(d.after),
            (d.before - d.after).bits().count_ones(),
            if d.bounding {
                " (and from the bounding set)"
            } else {
                ""
            }
        ),
        Err(e) => tracing::warn!("privileges: could not drop capabilities: {e}"),
    }
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
    fn names_of_sets() {
        let two = CapabilitySet::NET_ADMIN.union(CapabilitySet::NET_BIND_SERVICE);
        assert_eq!(names(two), "net_bind_service, net_admin");
        assert_eq!(names(CapabilitySet::empty()), "none");
    }
}
