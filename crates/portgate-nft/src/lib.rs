//! nftables over netlink: the firewall backend of the portgate gateway daemon.
//!
//! The daemon programs port mappings through the [`Firewall`] trait. Two implementations:
//! [`NftFirewall`] talks to the kernel's nf_tables subsystem over a `NETLINK_NETFILTER`
//! socket (no `nft` process, no C library), and [`MemoryFirewall`] keeps everything in
//! memory with a virtual clock, for unit tests of the daemon.
//!
//! # Kernel layout
//!
//! One table of our own, family `inet` (default name `portgate`), never touching other
//! tables. Equivalent `nft` syntax (`eth0` stands for the configured WAN interface):
//!
//! ```text
//! table inet portgate {
//!   map fwd4  { type inet_proto . inet_service : ipv4_addr . inet_service; flags timeout; counter; }
//!   map fwd4r { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; flags timeout; counter; }
//!   map fwd4c { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; flags timeout; counter; }
//!   set pin6  { type ipv6_addr . inet_proto . inet_service; flags timeout; counter; }
//!   set pin6r { type ipv6_addr . ipv6_addr . inet_proto . inet_service; flags timeout; counter; }
//!   set pin6p { type ipv6_addr . inet_proto . inet_service . inet_service; flags timeout; counter; }
//!   set pin6rp { type ipv6_addr . ipv6_addr . inet_proto . inet_service . inet_service; flags timeout; counter; }
//!   chain prerouting { type nat hook prerouting priority dstnat; policy accept;
//!     iifname "eth0" meta nfproto ipv4 dnat ip to ip daddr . meta l4proto . th dport map @fwd4c
//!     iifname "eth0" meta nfproto ipv4 dnat ip to ip saddr . meta l4proto . th dport map @fwd4r
//!     iifname "eth0" meta nfproto ipv4 dnat ip to meta l4proto . th dport map @fwd4
//!   }
//!   chain forward { type filter hook forward priority filter; policy accept;
//!     iifname "eth0" ct state established,related accept
//!     iifname "eth0" ct status dnat accept
//!     iifname "eth0" ip6 daddr . meta l4proto . th dport @pin6 accept
//!     iifname "eth0" ip6 saddr . ip6 daddr . meta l4proto . th dport @pin6r accept
//!     iifname "eth0" ip6 daddr . meta l4proto . th dport . th sport @pin6p accept
//!     iifname "eth0" ip6 saddr . ip6 daddr . meta l4proto . th dport . th sport @pin6rp accept
//!     iifname "eth0" drop            # standalone mode only
//!   }
//! }
//! ```
//!
//! A `postrouting` nat chain (priority 100) is also created; it stays empty unless
//! [`Hairpin`] is on (see [`NftFirewall::set_hairpin`]). With a [`RequestLimit`]
//! ([`NftFirewall::set_request_limit`]) an `input` filter chain and two dynamic sets
//! (`req_rate4`, `req_rate6`) drop the datagrams a source sends to a local UDP port
//! past its rate. Every rule carries the comment `portgate`.
//!
//! With [`NftFirewall::set_layout`] (the miniupnpd layout, [`NftLayout`]) no table or
//! chain of ours is created: the maps and sets (prefixed `portgate_`) go into the admin's
//! tables and the same rules (without the standalone established/drop rules) are appended
//! to the admin's regular chains; shutdown removes only those. The one exception is the
//! request limit: none of miniupnpd's reserved chains sees datagrams addressed to the
//! gateway itself, so with a [`RequestLimit`] our table is created for its chain and
//! sets alone, and removed at shutdown.
//!
//! Mappings of one external address (CGN mode's pool, [`MappingKey::external`]) live in
//! `fwd4c`, looked up first, keyed by the destination address; mappings restricted to
//! one remote host in `fwd4r`, looked up next; the others in `fwd4`. Pinholes restricted to a remote host, a remote (source) port or both live in
//! `pin6r`, `pin6p` and `pin6rp`. A mapping is one map element whose timeout is the lease (none = permanent), so
//! the kernel expires leases even if the daemon dies, and whose counter gives per-mapping
//! packets/bytes. Adding, refreshing or deleting a mapping is one netlink transaction
//! touching one element: O(1) whatever the number of mappings, never a listing.
//!
//! nftables drops a packet if *any* base chain drops it: the accept in our forward chain
//! cannot override a drop in another table (an admin's own firewall must let DNATed
//! traffic through, e.g. with `ct status dnat accept`). With `standalone = false` our
//! forward chain only accepts and never drops.
//!
//! # Why hand-written netlink
//!
//! Evaluated: `rustables` 0.8 (pure Rust nftables) is licensed GPL-3.0-or-later, which
//! our MIT OR Apache-2.0 crates cannot take, and generates its kernel bindings with
//! `bindgen` at build time (libclang on the build machine); the `netlink-packet-*` crates
//! frame netlink but have no nf_tables messages; `nftnl`/`mnl` bind the C libraries. The
//! nf_tables message set we need is small (tables, chains, sets, rules with nine
//! expression kinds, set elements), so this crate encodes it directly after
//! `linux/netfilter/nf_tables.h`, over a socket opened with `rustix` (which also provides
//! `setns`), with no `unsafe` code at all.
//!
//! # Kernels
//!
//! [`Firewall::init`] probes what the kernel can do ([`KernelFeatures`]) and picks the
//! messages to match; clients see no difference between kernels:
//!
//! - Linux 6.3 added `NFT_MSG_DESTROY*`, deletions that succeed on an absent object.
//!   Where they exist a delete (or the delete half of a replace) never fails on an
//!   element the kernel already expired. Before 6.3 deletions are `NFT_MSG_DEL*`; a
//!   batch the kernel refuses only because such an element is already gone (`ENOENT`
//!   on a deletion) is sent again without those deletions, so the outcome is the same.
//! - Linux 6.12 updates an existing element's timeout when it is added again. Where
//!   that works a refresh is that one add and the element's counters carry on; before
//!   6.12 a refresh deletes and re-adds the element in one transaction (no gap for
//!   traffic; the counters restart).
//!
//! Required, with no fallback (`init` fails with [`FirewallError::Unsupported`]):
//! sets with element timeouts, concatenated set keys, maps whose data is a
//! concatenated address and port feeding `dnat`, and NAT chains in the `inet` family
//! (Linux 5.2 and later). Per-element counters (a set's counter template applied to
//! the elements we add) are probed too; without them mappings work but idle cleaning
//! and `CheckPinholeWorking` have no counts. The kernel matrix (`docs/kernels.md`)
//! boots Debian's 6.1 and 6.12 kernels and runs on the host's.

mod events;
mod memory;
mod netlink;
mod nft;
mod types;

pub use events::NftEvents;
pub use memory::MemoryFirewall;
pub use nft::{
    Hairpin, KernelFeatures, NftConfig, NftFirewall, NftLayout, RequestLimit, MAX_IFNAME_LEN,
    MAX_TABLE_NAME_LEN,
};
pub use types::{
    Change, L4Proto, Mapping, MappingEntry, MappingKey, Pinhole, PinholeEntry, PinholeKey,
    ReconcileReport,
};

use std::time::Duration;

/// Largest number of changes sent in one netlink transaction by [`Firewall::reconcile`];
/// keeps a batch (about 150 bytes per change) well inside the socket buffers.
pub const MAX_BATCH_CHANGES: usize = 1024;

/// Errors of the firewall backends.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FirewallError {
    /// Our table, one of its maps or chains is missing (removed by someone else, or
    /// [`Firewall::init`] not called): call `init` again.
    #[error("nftables table {0:?} or one of its objects is missing")]
    TableMissing(String),
    /// The kernel lacks an nf_tables feature that has no fallback: a kernel older
    /// than the floor (see the crate documentation) or one built without the
    /// nf_tables NAT, conntrack or set modules.
    #[error(
        "the kernel cannot do what portgate needs ({op}: {source}): nf_tables with \
         element timeouts, concatenated NAT maps and inet NAT chains is required \
         (modules nf_tables, nft_chain_nat, nft_nat, nft_ct; Linux 5.10 or later)"
    )]
    Unsupported {
        /// What was refused.
        op: &'static str,
        /// The errno the kernel returned.
        source: std::io::Error,
    },
    /// The kernel refused for lack of privilege (CAP_NET_ADMIN is needed).
    #[error("permission denied by the kernel (CAP_NET_ADMIN needed)")]
    PermissionDenied,
    /// An object exists with incompatible properties (e.g. a map of another type left by
    /// an older version).
    #[error("conflicting nftables object while doing {op}")]
    Conflict {
        /// What the refused message did.
        op: &'static str,
    },
    /// The kernel refused a message for another reason.
    #[error("kernel refused {op}: {source}")]
    Kernel {
        /// What the refused message did.
        op: &'static str,
        /// The errno the kernel returned.
        source: std::io::Error,
    },
    /// The kernel did not answer in time.
    #[error("no answer from the kernel within {0:?}")]
    Timeout(Duration),
    /// A socket operation failed.
    #[error("netlink socket error: {0}")]
    Io(#[from] std::io::Error),
    /// The kernel's answer could not be decoded.
    #[error("malformed netlink reply: {0}")]
    Decode(&'static str),
    /// The configuration cannot be used (bad table or interface name).
    #[error("invalid firewall configuration: {0}")]
    InvalidConfig(String),
    /// Entering the named network namespace failed.
    #[error("cannot enter network namespace {name:?}: {source}")]
    Namespace {
        /// The namespace name or path given.
        name: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// What the daemon needs from a firewall: a table of port mappings (and IPv6 pinholes)
/// with kernel-enforced timeouts and per-entry counters.
///
/// Every method that changes state is one transaction: it fully happens or not at all.
pub trait Firewall {
    /// Creates our table, maps and chains, or brings an existing table back to the
    /// expected layout (rules rebuilt, elements kept). Idempotent.
    fn init(&mut self) -> Result<(), FirewallError>;

    /// Applies `changes` in one transaction (all or nothing). A `Put` of an existing key
    /// with the same target is a refresh: the new timeout applies and, where the kernel
    /// updates elements in place (Linux 6.12+; [`MemoryFirewall`] too), the counters
    /// carry on; elsewhere, and when the target changes, the element is replaced and
    /// its counters restart. A `Remove` of an absent key is not an error.
    fn apply(&mut self, changes: &[Change]) -> Result<(), FirewallError>;

    /// Adds or replaces one mapping.
    fn put(&mut self, mapping: &Mapping) -> Result<(), FirewallError> {
        self.apply(&[Change::Put(*mapping)])
    }

    /// Deletes one mapping (absent is fine).
    fn remove(&mut self, key: &MappingKey) -> Result<(), FirewallError> {
        self.apply(&[Change::Remove(*key)])
    }

    /// Lists current mappings with counters and remaining time. This walks the whole
    /// table: for start-up reconciliation and idle cleaning, not per request.
    fn list(&mut self) -> Result<Vec<MappingEntry>, FirewallError>;

    /// Lists current IPv6 pinholes.
    fn list_pinholes(&mut self) -> Result<Vec<PinholeEntry>, FirewallError>;

    /// Tells the backend the external IPv4 address changed (`None`: none usable). Rules
    /// that name it (hairpin) are rebuilt; mappings are kept. The default does nothing.
    fn set_external_address(
        &mut self,
        addr: Option<std::net::Ipv4Addr>,
    ) -> Result<(), FirewallError> {
        let _ = addr;
        Ok(())
    }

    /// Whether everything [`Firewall::init`] set up is still there (table, chains,
    /// maps and sets, and every one of our rules): after a firewall reload or an
    /// admin's flush it is not, and `init` plus a full push of the mappings restores
    /// it. Cheap (no element is listed). The default says yes.
    fn verify(&mut self) -> Result<bool, FirewallError> {
        Ok(true)
    }

    /// Removes our table, or keeps it (and so the mappings, which still expire on their
    /// own) when `keep` is true.
    fn shutdown(&mut self, keep: bool) -> Result<(), FirewallError>;

    /// Makes the mappings equal to `wanted` (e.g. the lease file at start-up): entries
    /// not wanted (or pointing elsewhere) are deleted, wanted ones put with their
    /// timeout. Sent in transactions of at most [`MAX_BATCH_CHANGES`] changes.
    fn reconcile(&mut self, wanted: &[Mapping]) -> Result<ReconcileReport, FirewallError> {
        let current = self.list()?;
        let plan = types::reconcile_plan(&current, wanted);
        for chunk in plan.changes.chunks(MAX_BATCH_CHANGES) {
            self.apply(chunk)?;
        }
        Ok(plan.report)
    }

    /// Makes the IPv4 mappings equal to `wanted` without listing the kernel: the maps
    /// are emptied in one transaction, then `wanted` is put in transactions of at most
    /// [`MAX_BATCH_CHANGES`]. For a large table at start-up, where a dump of a hash
    /// set (which [`Firewall::reconcile`] starts with) is quadratic in its size: the
    /// counters restart and a mapping is missing from the kernel until its transaction
    /// is in. The report counts every mapping as added. The default reconciles.
    fn replace_mappings(&mut self, wanted: &[Mapping]) -> Result<ReconcileReport, FirewallError> {
        self.reconcile(wanted)
    }
}
