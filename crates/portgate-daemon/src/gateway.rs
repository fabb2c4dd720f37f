//! The gateway core: the one place where a mapping request meets the
//! table, the kernel and the lease file. It is sans-IO: the firewall is a
//! [`Firewall`] and the lease file a [`lease::LeaseStore`], both passed in;
//! time is passed in; its timers are asked for with [`Gateway::poll_timeout`]
//! and run by [`Gateway::handle_timeout`]; the datagrams it wants sent come out
//! of [`Gateway::poll_transmit`].
//!
//! Every front end (UPnP IGD SOAP, NAT-PMP, PCP) calls [`Gateway`]; none
//! touches the [`MappingTable`], the firewall or the lease file directly, so
//! the rules live here once:
//!
//! - **table first, then one firewall change**: [`Gateway::map`] asks the
//!   table (conflicts, secure mode, permission rules, quotas), then sends one
//!   transaction to the firewall. When the firewall refuses, the table change
//!   is rolled back and [`GatewayError::Firewall`] is returned (UPnP 501,
//!   PCP NO_RESOURCES, NAT-PMP 3 Network Failure). When the firewall reports
//!   [`FirewallError::TableMissing`] (an admin deleted our table), the table
//!   is recreated, the whole mapping table is pushed again
//!   ([`Firewall::reconcile`]) and the request succeeds if that works.
//! - **persistence**: every change a client is told about (map, unmap) is
//!   appended to the lease file as journal lines ([`lease::Journal`]: the
//!   new line of a mapping, or a removal line) *before* the call returns, so
//!   an acknowledged mapping survives `kill -9`; one change costs the same
//!   whatever the number of mappings. The file is compacted (rewritten whole,
//!   atomically: temp + fsync + rename) when the journal holds more lines than
//!   [`JOURNAL_SLACK`] or the live mappings, at start-up and at shutdown.
//!   Appends are fsynced by [`Gateway::flush`], which [`Gateway::handle_timeout`]
//!   runs within [`PERSIST_DELAY`]: a power loss can take at most that much.
//!   Expiries only mark the file dirty: an expired line is harmless (it is
//!   dropped when read) and the file is rewritten by the next flush.
//! - **forwarding**: a missing external address, or a reserved/private one
//!   without `ext_allow_private_ipv4`, makes every new mapping fail with
//!   [`GatewayError::ForwardingDisabled`] (UPnP 501, NAT-PMP 3, PCP
//!   NETWORK_FAILURE).
//! - **epoch**: seconds since the mapping table started, reset when the
//!   external address changes (RFC 6886 §3.6, RFC 6887 §8.5).
//! - **the change path**: NAT-PMP and PCP name a mapping by its internal side
//!   and go through [`Gateway::map_internal`] (renewal, nonce, FILTER change,
//!   port choice, conflict retry); SOAP names the external port and calls
//!   [`Gateway::map`]; both end in the table's permission, conflict and quota
//!   rules.
//! - **events**: [`GatewayEvent`]s go out on a broadcast channel
//!   ([`Gateway::subscribe`]): the only way GENA hears of a change.
//! - **timers**: expiry, the lease file's fsync and compaction, idle cleaning
//!   (`clean_ruleset_interval`) and the NAT-PMP/PCP announcement bursts after
//!   start-up and each external address change ([`Timers`]).
//!
//! # Threading
//!
//! The daemon runs on a tokio `current_thread` runtime and the gateway is
//! shared as [`SharedGateway`] = `Rc<RefCell<Gateway>>`: every task runs on
//! the one thread, borrows the gateway for the duration of one synchronous
//! call and never holds the borrow across an `.await`. That keeps request
//! handling strictly sequential (no locks, no reordering between a map and
//! its lease write) and lets the sans-IO handlers take `&mut Gateway`.
//!
//! Time (`now`) is the daemon's monotonic clock in seconds (it reads as unix
//! time until the wall clock steps), passed in by the caller; the timers take
//! the same clock as a `Duration`, with its sub-second part.

use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use portgate_nft::{Change, Firewall, FirewallError, L4Proto};
use tokio::sync::broadcast;

use crate::lease::{self, LeaseEntry};
use crate::rules::RuleSet;
use crate::table::{
    AddOutcome, Mapping, MappingKey, MappingTable, NewMapping, Nonce, OriginKind, Protocol,
    Requester, TableError, TableLimits,
};

/// The gateway as the run loop shares it between its tasks (see the module
/// docs: one thread, never borrowed across an `.await`).
pub type SharedGateway = Rc<RefCell<Gateway>>;

/// Longest time an expiry-only change waits before the lease file is
/// rewritten by [`Gateway::flush`]; bounds the work after a burst of
/// expiries while keeping the file close to the truth.
pub const PERSIST_DELAY: Duration = Duration::from_secs(5);

/// Journal lines tolerated in the lease file before it is compacted, at the
/// least (more when there are more live mappings): compaction rewrites every
/// line, so it runs at most once per this many changes.
pub const JOURNAL_SLACK: usize = 1024;

/// From this many mappings in the lease file on, start-up replaces the kernel's maps
/// wholesale ([`Firewall::replace_mappings`]) instead of listing them first
/// ([`Firewall::reconcile`]): the kernel's dump of a hash set is quadratic in its size,
/// too slow at a million (docs/scale.md).
pub const RESTORE_WHOLESALE_AT: usize = 65_536;

/// Mappings formatted per step of a compaction of the lease file: a larger table is
/// compacted in steps of this many between requests (each a bounded pause), and the
/// file is written by [`lease::ThreadedFileStore`]'s thread.
pub const COMPACT_STEP: usize = 1024;

/// Most mappings one [`Gateway::expire`] call removes: one firewall transaction of
/// at most [`portgate_nft::MAX_BATCH_CHANGES`] changes, a bounded pause for the
/// requests waiting behind it.
pub const EXPIRE_STEP: usize = portgate_nft::MAX_BATCH_CHANGES;

/// Capacity of the event channel: a subscriber that falls this far behind
/// gets `RecvError::Lagged` and should resynchronise from the table.
pub const EVENT_CAPACITY: usize = 1024;

/// Something front ends may want to tell clients about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayEvent {
    /// A mapping was created or refreshed.
    MappingAdded(Mapping),
    /// A mapping was deleted or expired.
    MappingRemoved(Mapping),
    /// The external address (or whether forwarding is possible) changed;
    /// the epoch restarted.
    ExternalAddressChanged {
        /// Previous address.
        old: Option<Ipv4Addr>,
        /// New address.
        new: Option<Ipv4Addr>,
        /// Whether mappings can be made through it.
        forwarding: bool,
    },
}

/// Why the gateway refused or failed a change.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The mapping table refused (conflict, rule, quota, ...).
    #[error(transparent)]
    Table(#[from] TableError),
    /// The kernel refused the change; the table was rolled back.
    #[error("firewall: {0}")]
    Firewall(#[from] FirewallError),
    /// No usable external address: forwarding is impossible.
    #[error("no usable external address: port forwarding is impossible")]
    ForwardingDisabled,
}

/// A LAN subnet the daemon serves (from `listening_ip`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LanNet {
    /// The gateway's own address on it.
    pub addr: Ipv4Addr,
    /// Prefix length (0..=32).
    pub prefix: u8,
}

impl LanNet {
    /// Whether `ip` is inside this subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = match self.prefix {
            0 => 0,
            p => u32::MAX << (32 - u32::from(p.min(32))),
        };
        u32::from(ip) & mask == u32::from(self.addr) & mask
    }
}

/// The LAN check, one for every front end (NAT-PMP, PCP, SOAP, SSDP, GENA): the
/// LAN serving `peer`, the first whose subnet holds it; an IPv4-mapped IPv6 peer
/// counts as its IPv4 address; the gateway's own LAN address is no LAN host.
pub fn lan_for(lan: &[LanNet], peer: std::net::IpAddr) -> Option<LanNet> {
    let v4 = match peer {
        std::net::IpAddr::V4(a) => a,
        std::net::IpAddr::V6(a) => a.to_ipv4_mapped()?,
    };
    lan.iter().copied().find(|l| l.contains(v4) && l.addr != v4)
}

/// Policy knobs of the gateway (from the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewaySettings {
    /// Table limits (secure mode, quotas).
    pub limits: TableLimits,
    /// Permission rules.
    pub rules: RuleSet,
    /// Accept a reserved/private external address (`ext_allow_private_ipv4`).
    pub allow_private_external: bool,
    /// Shortest PCP/NAT-PMP lifetime granted (`min_lifetime`).
    pub min_lifetime: u32,
    /// Longest PCP/NAT-PMP lifetime granted (`max_lifetime`).
    pub max_lifetime: u32,
    /// PCP THIRD_PARTY accepted (`pcp_allow_thirdparty`, LAN addresses only).
    pub pcp_allow_thirdparty: bool,
    /// Lease file (`lease_file`); `None`: not persisted.
    pub lease_file: Option<PathBuf>,
    /// LAN subnets served.
    pub lan: Vec<LanNet>,
    /// The core's own timers: announcements and idle cleaning.
    pub timers: Timers,
    /// CGN mode's pool and pairing (`cgn_mode=yes`); `None`: one external address.
    pub cgn: Option<crate::cgn::Cgn>,
    /// Whether NAT-PMP requests are served on the 5351 sockets (off in CGN mode unless
    /// `cgn_natpmp=yes`; PCP is served there either way).
    pub natpmp: bool,
    /// NAT-PMP/PCP requests per second one source may make (`cgn_request_rate` in CGN
    /// mode; 0: no limit).
    pub request_rate: u32,
}

/// The timers [`Gateway::handle_timeout`] runs besides expiry and the lease file's
/// deadlines. The default runs neither.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timers {
    /// Send NAT-PMP/PCP announcement bursts at start and on each external address
    /// change (RFC 6886 §3.2.1, RFC 6887 §14.1.3): NAT-PMP/PCP is served.
    pub announce: bool,
    /// `clean_ruleset_interval` in seconds (0: no idle cleaning).
    pub clean_interval: u64,
    /// `clean_ruleset_threshold`: fewer mappings than this are not examined.
    pub clean_threshold: usize,
}

impl GatewaySettings {
    /// Settings from a parsed configuration and the resolved LAN subnets.
    pub fn from_config(cfg: &crate::config::Config, lan: Vec<LanNet>) -> Self {
        GatewaySettings {
            limits: TableLimits {
                secure_mode: cfg.secure_mode,
                max_per_client: cfg.max_mappings_per_client,
                ..TableLimits::default()
            },
            rules: cfg.rules.clone(),
            allow_private_external: cfg.ext_allow_private_ipv4,
            min_lifetime: cfg.min_lifetime,
            max_lifetime: cfg.max_lifetime,
            pcp_allow_thirdparty: cfg.pcp_allow_thirdparty,
            lease_file: cfg.lease_file.clone(),
            lan,
            timers: Timers {
                announce: cfg.enable_natpmp || cfg.cgn.enabled,
                clean_interval: u64::from(cfg.clean_ruleset_interval),
                clean_threshold: usize::try_from(cfg.clean_ruleset_threshold).unwrap_or(usize::MAX),
            },
            // The configuration was checked when read: `build` succeeded then.
            cgn: cfg.cgn.build().ok().flatten(),
            natpmp: cfg.cgn.serves_natpmp(),
            request_rate: if cfg.cgn.enabled {
                cfg.cgn.request_rate
            } else {
                0
            },
        }
        .with_cgn_capacity()
    }

    /// In CGN mode the table holds up to the pool's capacity, not one address's.
    fn with_cgn_capacity(mut self) -> Self {
        if let Some(c) = &self.cgn {
            self.limits.max_total = u32::try_from(c.capacity())
                .unwrap_or(u32::MAX)
                .max(self.limits.max_total);
        }
        self
    }
}

/// A NAT-PMP or PCP (MAP or PEER, IPv4) request for a mapping, named as those
/// protocols name it: by internal address and port ([`Gateway::map_internal`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalMap {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The internal client.
    pub internal_client: Ipv4Addr,
    /// The internal port (not 0).
    pub internal_port: u16,
    /// The external port asked for (0: the internal port).
    pub suggested_port: u16,
    /// PCP MAP's FILTER or PEER's remote peer: only it may come in.
    pub remote_host: Option<Ipv4Addr>,
    /// PCP PEER: the mapping is the one for `remote_host` (RFC 6887 §12).
    pub peer: bool,
    /// PCP's mapping nonce (`None`: NAT-PMP).
    pub nonce: Option<Nonce>,
    /// PCP PREFER_FAILURE: a new mapping at the suggested port or none.
    pub exact: bool,
    /// Description for the table.
    pub description: String,
    /// When the lease ends (our time).
    pub expiry: Option<u64>,
    /// Who asks (a THIRD_PARTY request, checked by the caller, is trusted).
    pub by: Requester,
}

/// What start-up found in the lease file and the kernel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StartupReport {
    /// Mappings restored from the lease file.
    pub restored: usize,
    /// Lease lines skipped as malformed or refused by the table.
    pub skipped: usize,
    /// Lease entries whose lease had run out.
    pub expired: usize,
    /// What reconciling the kernel did.
    pub reconcile: portgate_nft::ReconcileReport,
}

/// The gateway service. See the module docs.
pub struct Gateway {
    table: MappingTable,
    firewall: Box<dyn Firewall>,
    settings: GatewaySettings,
    external: Option<Ipv4Addr>,
    epoch_start: u64,
    events: broadcast::Sender<GatewayEvent>,
    /// The lease file (through a [`lease::LeaseStore`]) and its journal state.
    journal: lease::Journal,
    /// Packet counters at the last idle check ([`Gateway::clean_idle`]).
    idle_counts: Option<std::collections::HashMap<portgate_nft::MappingKey, u64>>,
    /// Seconds the wall clock is ahead of the `now` we are given (see
    /// [`Gateway::set_wall_offset`]): added to expiries written to the lease file.
    wall_offset: i64,
    /// The table was recreated by a request's recovery ([`Gateway::take_recreated`]).
    recreated: bool,
    /// Inside [`Gateway::batch`]: what the requests decided, not yet committed.
    pending: Option<Pending>,
    /// The NAT-PMP/PCP announcement schedule.
    announcer: crate::pmp::Announcer,
    /// Announcements due, not yet taken by [`Gateway::poll_transmit`].
    outbox: std::collections::VecDeque<Vec<u8>>,
    /// When idle cleaning next runs ([`Timers::clean_interval`]).
    next_clean: Option<u64>,
    /// Requests per source in the current second ([`Gateway::admit_request`]).
    rate: crate::cgn::RateLimit,
    /// A compaction of the lease file being gathered in steps ([`COMPACT_STEP`]):
    /// the last key formatted and the text so far.
    compaction: Option<(Option<MappingKey>, String)>,
}

/// What the requests of one [`Gateway::batch`] decided: their firewall changes (sent
/// as one transaction at the end), their journal lines (appended once), how to undo
/// their table changes if the kernel refuses, and their log lines and events (which
/// say only what happened, so they wait for the commit).
#[derive(Default)]
struct Pending {
    changes: Vec<Change>,
    journal: String,
    undo: Vec<Undo>,
    effects: Vec<Effect>,
}

/// How to take one table change of a batch back.
enum Undo {
    /// A map: remove `new`, put `previous` back (if it had not run out).
    Mapped {
        new: MappingKey,
        previous: Option<Mapping>,
    },
    /// A deletion: put the mappings back.
    Removed(Vec<Mapping>),
}

/// A log line (and maybe an event) due once a change is committed.
enum Effect {
    Added {
        m: Mapping,
        refreshed: bool,
    },
    Removed {
        m: Mapping,
        why: Removal,
        event: bool,
    },
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("mappings", &self.table.len())
            .field("external", &self.external)
            .field("epoch_start", &self.epoch_start)
            .finish_non_exhaustive()
    }
}

/// A time of ours (see [`Gateway::set_wall_offset`]) as wall time.
pub fn to_wall(t: u64, offset: i64) -> u64 {
    t.saturating_add_signed(offset).max(1)
}

/// The firewall element for a table mapping at `now`.
pub fn firewall_mapping(m: &Mapping, now: u64) -> portgate_nft::Mapping {
    portgate_nft::Mapping {
        key: firewall_key(m),
        internal_addr: m.internal_client,
        internal_port: m.internal_port,
        // A lease due now still gets one second: 0 would mean "permanent".
        timeout: m
            .expiry
            .map(|e| Duration::from_secs(e.saturating_sub(now).max(1))),
    }
}

/// The firewall key of a table mapping.
pub fn firewall_key(m: &Mapping) -> portgate_nft::MappingKey {
    portgate_nft::MappingKey {
        proto: L4Proto(m.protocol.number()),
        external_port: m.external_port,
        remote: m.remote_host,
        external: m.external,
    }
}

fn new_from(m: &Mapping) -> NewMapping {
    NewMapping {
        external: m.external,
        protocol: m.protocol,
        external_port: m.external_port,
        remote_host: m.remote_host,
        internal_client: m.internal_client,
        internal_port: m.internal_port,
        description: m.description.clone(),
        expiry: m.expiry,
        origin: m.origin,
    }
}

impl Gateway {
    /// Start the gateway: initialise the firewall, load the lease file
    /// (dropping expired and bad entries), make the kernel agree with it
    /// ([`Firewall::reconcile`]) and rewrite the file clean. `external` is
    /// the external address found at start-up; the epoch starts at `now`.
    pub fn start(
        settings: GatewaySettings,
        firewall: Box<dyn Firewall>,
        external: Option<Ipv4Addr>,
        now: u64,
    ) -> Result<(Gateway, StartupReport), GatewayError> {
        let store = settings
            .lease_file
            .clone()
            .map(|p| Box::new(lease::ThreadedFileStore::new(p)) as Box<dyn lease::LeaseStore>);
        Self::start_with(settings, firewall, store, external, now)
    }

    /// [`Gateway::start`] with the lease file in `store` (`None`: not persisted)
    /// instead of `settings.lease_file`: a [`lease::MemoryStore`] runs the core
    /// with no file system.
    pub fn start_with(
        settings: GatewaySettings,
        mut firewall: Box<dyn Firewall>,
        store: Option<Box<dyn lease::LeaseStore>>,
        external: Option<Ipv4Addr>,
        now: u64,
    ) -> Result<(Gateway, StartupReport), GatewayError> {
        firewall.init()?;
        let mut table = MappingTable::new(settings.limits, settings.rules.clone());
        let mut report = StartupReport::default();
        let mut journal = lease::Journal::new(store);
        if journal.is_on() {
            let name = journal.name();
            let file = lease::parse(&journal.load(), now);
            for s in &file.skipped {
                tracing::warn!(file = %name, line = s.line, error = %s.error, "skipping lease line");
            }
            report.skipped += file.skipped.len();
            report.expired = file.expired;
            let own: Vec<Ipv4Addr> = settings
                .lan
                .iter()
                .map(|n| n.addr)
                .chain(external)
                .collect();
            for e in file.entries {
                // The file may come from another network (or be edited by hand):
                // restore only mappings a LAN client could have asked for.
                let client = e.internal_client;
                if lan_for(&settings.lan, client.into()).is_none() {
                    tracing::warn!(%client, port = e.external_port, "lease entry for a host outside the LAN skipped");
                    report.skipped += 1;
                    continue;
                }
                if let Err(why) = crate::table::validate_internal_client(client, &own) {
                    tracing::warn!(%client, port = e.external_port, %why, "lease entry skipped");
                    report.skipped += 1;
                    continue;
                }
                if let Some(ext) = e.external {
                    // A pool mapping comes back only on the subscriber's pairing under
                    // the present configuration (its address and port set).
                    let paired = settings.cgn.as_ref().and_then(|c| c.pair(client));
                    if !paired
                        .is_some_and(|p| p.external == ext && p.ports.contains(&e.external_port))
                    {
                        tracing::warn!(%client, %ext, port = e.external_port, "lease entry outside the subscriber's pairing skipped");
                        report.skipped += 1;
                        continue;
                    }
                }
                let req = NewMapping {
                    external: e.external,
                    protocol: e.protocol,
                    external_port: e.external_port,
                    remote_host: e.remote_host,
                    internal_client: e.internal_client,
                    internal_port: e.internal_port,
                    description: e.description,
                    expiry: e.expiry,
                    origin: e.origin,
                };
                // Later duplicates of a key win, as with miniupnpd's reload.
                let k = MappingKey {
                    external: req.external,
                    protocol: req.protocol,
                    external_port: req.external_port,
                };
                let _ = table.delete(k, None, Requester::Trusted);
                match table.add(req, Requester::Trusted, now) {
                    Ok(_) => report.restored += 1,
                    Err(err) => {
                        tracing::warn!(%err, "lease entry refused by the table");
                        report.skipped += 1;
                    }
                }
            }
        }
        let wanted: Vec<portgate_nft::Mapping> =
            table.iter().map(|m| firewall_mapping(m, now)).collect();
        report.reconcile = if wanted.len() >= RESTORE_WHOLESALE_AT {
            firewall.replace_mappings(&wanted)?
        } else {
            firewall.reconcile(&wanted)?
        };
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let mut gw = Gateway {
            table,
            firewall,
            settings,
            external,
            epoch_start: now,
            events,
            journal,
            idle_counts: None,
            wall_offset: 0,
            recreated: false,
            pending: None,
            announcer: crate::pmp::Announcer::new(),
            outbox: std::collections::VecDeque::new(),
            next_clean: None,
            rate: crate::cgn::RateLimit::default(),
            compaction: None,
        };
        gw.restart_timers(now);
        if gw.settings.timers.announce {
            gw.announcer.restart(Duration::from_secs(now));
        }
        gw.persist_soon(now);
        Ok((gw, report))
    }

    /// Tells the gateway how many seconds the wall clock is ahead of the `now` it is
    /// given (negative: behind). Time inside is monotonic, so a step of the wall clock
    /// changes no lease; the lease file keeps unix times (miniupnpd's format), and
    /// this offset turns one into the other when a lease is written. The start-up
    /// `now` is wall time, so the file is read as it is.
    pub fn set_wall_offset(&mut self, offset: i64) {
        self.wall_offset = offset;
    }

    /// Whether a request found the table missing and recreated it (with the mappings)
    /// since the last call: the pinhole service must then push its pinholes again.
    pub fn take_recreated(&mut self) -> bool {
        std::mem::take(&mut self.recreated)
    }

    /// The lease file entry for `m`, its expiry in wall time.
    fn lease_entry(&self, m: &Mapping) -> LeaseEntry {
        let mut e = LeaseEntry::from(m);
        e.expiry = e.expiry.map(|t| to_wall(t, self.wall_offset));
        e
    }

    /// Wrap into the shared handle the run loop hands to its tasks.
    pub fn into_shared(self) -> SharedGateway {
        Rc::new(RefCell::new(self))
    }

    /// Receive [`GatewayEvent`]s from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<GatewayEvent> {
        self.events.subscribe()
    }

    /// The mapping table, for reading (listings, lookups).
    pub fn table(&self) -> &MappingTable {
        &self.table
    }

    /// The settings in force.
    pub fn settings(&self) -> &GatewaySettings {
        &self.settings
    }

    /// The external address, if known.
    pub fn external(&self) -> Option<Ipv4Addr> {
        self.external
    }

    /// Whether mappings can be made: an external address is known and it is
    /// public, or private ones are allowed.
    pub fn forwarding(&self) -> bool {
        match self.external {
            Some(a) => self.settings.allow_private_external || !crate::extaddr::is_reserved(a),
            None => false,
        }
    }

    /// Seconds since the epoch started (RFC 6886 §3.6, RFC 6887 §8.5).
    pub fn epoch(&self, now: u64) -> u32 {
        u32::try_from(now.saturating_sub(self.epoch_start)).unwrap_or(u32::MAX)
    }

    /// When the epoch started (unix seconds).
    pub fn epoch_start(&self) -> u64 {
        self.epoch_start
    }

    /// Whether `ip` is a host on one of the LAN subnets served ([`lan_for`]).
    pub fn is_lan(&self, ip: Ipv4Addr) -> bool {
        lan_for(&self.settings.lan, ip.into()).is_some()
    }

    /// The gateway's own addresses (LAN side and external), which may never
    /// be an internal client.
    pub fn own_addresses(&self) -> Vec<Ipv4Addr> {
        self.settings
            .lan
            .iter()
            .map(|n| n.addr)
            .chain(self.external)
            .collect()
    }

    /// Whether a NAT-PMP/PCP request from `source` fits its rate (`request_rate`) at
    /// `now`; a request past it is dropped unanswered.
    pub fn admit_request(&mut self, source: Ipv4Addr, now: u64) -> bool {
        self.rate.admit(source, now, self.settings.request_rate)
    }

    /// Set the external address. On a change (of the address or of whether
    /// forwarding is possible) the epoch restarts at `now`, an event goes
    /// out, and `true` is returned (the caller announces over NAT-PMP/PCP).
    pub fn set_external(&mut self, addr: Option<Ipv4Addr>, now: u64) -> bool {
        if addr == self.external {
            return false;
        }
        let old = self.external;
        self.external = addr;
        self.epoch_start = now;
        if let Err(e) = self.firewall.set_external_address(addr) {
            tracing::warn!(%e, "hairpin rules not updated");
        }
        let forwarding = self.forwarding();
        tracing::info!(?old, new = ?addr, forwarding, "external address changed");
        if self.settings.timers.announce {
            self.announcer.restart(Duration::from_secs(now));
        }
        self.emit(GatewayEvent::ExternalAddressChanged {
            old,
            new: addr,
            forwarding,
        });
        true
    }

    /// Create or refresh a mapping: `add` at the asked port, or with
    /// `any = true` the nearest free allowed port (AddAnyPortMapping,
    /// NAT-PMP, PCP). Table first, then one firewall transaction; rolled
    /// back if the firewall fails. Persisted before returning.
    pub fn map(
        &mut self,
        req: NewMapping,
        by: Requester,
        any: bool,
        now: u64,
    ) -> Result<AddOutcome, GatewayError> {
        if !self.forwarding() {
            return Err(GatewayError::ForwardingDisabled);
        }
        self.expire(now);
        let mut req = req;
        let mut any = any;
        if let Some(cgn) = &self.settings.cgn {
            // CGN mode: the subscriber's paired address and a port of its set.
            cgn.place(&mut req, &self.table, any, now)?;
            any = false;
        }
        let outcome = if any {
            self.table.add_any(req, by, now)?
        } else {
            self.table.add(req, by, now)?
        };
        let new = &outcome.mapping;
        let mut changes = Vec::with_capacity(2);
        if let Some(prev) = &outcome.previous {
            if firewall_key(prev) != firewall_key(new) {
                changes.push(Change::Remove(firewall_key(prev)));
            }
        }
        changes.push(Change::Put(firewall_mapping(new, now)));
        let undo = Undo::Mapped {
            new: new.key(),
            previous: outcome.previous.clone(),
        };
        if let Err(err) = self.apply_or_defer(&changes, undo, now) {
            tracing::warn!(%err, "firewall refused a mapping; rolled back");
            self.undo(
                Undo::Mapped {
                    new: new.key(),
                    previous: outcome.previous.clone(),
                },
                now,
            );
            return Err(err.into());
        }
        let moved = outcome
            .previous
            .as_ref()
            .filter(|p| (p.protocol, p.external_port) != (new.protocol, new.external_port));
        let mut refreshed = false;
        if let Some(prev) = &outcome.previous {
            if prev.is_expired(now) {
                self.effect(
                    Effect::Removed {
                        m: prev.clone(),
                        why: Removal::Expired,
                        event: true,
                    },
                    now,
                );
            } else if moved.is_some() {
                self.effect(
                    Effect::Removed {
                        m: prev.clone(),
                        why: Removal::Moved,
                        event: false,
                    },
                    now,
                );
            } else {
                refreshed = true;
            }
        }
        self.effect(
            Effect::Added {
                m: new.clone(),
                refreshed,
            },
            now,
        );
        if self.journal.is_on() {
            let mut text = String::new();
            if let Some(p) = moved {
                text.push_str(&lease::format_removal(
                    p.external,
                    p.protocol,
                    p.external_port,
                ));
            }
            text.push_str(&lease::format_entry(&self.lease_entry(new)));
            self.journal(&text, now);
        }
        Ok(outcome)
    }

    /// Create or renew the mapping a NAT-PMP or PCP request names by its internal
    /// side: the one change path for both protocols, every rule in one place:
    ///
    /// - **renewal**: a live mapping of the client's (`protocol`, `internal_port`)
    ///   (for PEER: and remote peer) keeps its external port;
    /// - **nonce**: a PCP request must carry the nonce the mapping was made with
    ///   ([`crate::table::check_nonce`]; PEER never takes over another protocol's);
    /// - **FILTER change**: a PCP MAP renewal with another remote host replaces the
    ///   mapping (RFC 6887 §13.3);
    /// - **port choice**: a new mapping goes to the suggested port or the nearest
    ///   free one the rules allow (exactly the suggested one with PREFER_FAILURE);
    /// - **conflict retry**: when the renewed port was taken meanwhile, the nearest
    ///   free port is chosen instead;
    /// - **permissions**: the table's (secure mode, rules, quota); rules that deny
    ///   the client every port are a refusal, not a shortage
    ///   ([`TableError::Denied`]).
    pub fn map_internal(&mut self, r: InternalMap, now: u64) -> Result<AddOutcome, GatewayError> {
        let live = |m: &&Mapping| !m.is_expired(now);
        let existing = if r.peer {
            r.remote_host.and_then(|remote| {
                self.table
                    .find_peer(r.internal_client, r.protocol, r.internal_port, remote)
                    .filter(live)
                    .cloned()
            })
        } else {
            self.table
                .find_by_internal(r.internal_client, r.protocol, r.internal_port)
                .filter(live)
                .cloned()
        };
        if let Some(e) = &existing {
            crate::table::check_nonce(e.origin.nonce(), r.nonce.as_ref(), r.peer)
                .map_err(TableError::from)?;
            if r.nonce.is_some() && !r.peer && e.remote_host != r.remote_host {
                // A renewal with another FILTER: replace the mapping.
                self.unmap(e.key(), None, Requester::Trusted, now)?;
            }
        }
        let hint = match r.suggested_port {
            0 => r.internal_port,
            p => p,
        };
        let origin = match r.nonce {
            Some(nonce) => crate::table::Origin::Pcp { nonce },
            None => crate::table::Origin::NatPmp,
        };
        let req = |port| NewMapping {
            external: None,
            protocol: r.protocol,
            external_port: port,
            remote_host: r.remote_host,
            internal_client: r.internal_client,
            internal_port: r.internal_port,
            description: r.description.clone(),
            expiry: r.expiry,
            origin,
        };
        let mut result = match &existing {
            Some(e) => self.map(req(e.external_port), r.by, false, now),
            None => self.map(req(hint), r.by, !r.exact, now),
        };
        if existing.is_some()
            && matches!(
                result,
                Err(GatewayError::Table(TableError::Conflict { .. }))
            )
        {
            result = self.map(req(hint), r.by, true, now);
        }
        result.map_err(|e| match e {
            GatewayError::Table(TableError::NoPortAvailable)
                if self
                    .table
                    .rules()
                    .allowed_external_ports(r.internal_client, r.internal_port, &r.description)
                    .is_empty() =>
            {
                GatewayError::Table(TableError::Denied)
            }
            other => other,
        })
    }

    /// Runs `f` (request handlers calling [`Gateway::map`], [`Gateway::unmap`] and
    /// the like) with the firewall commit deferred: each request is decided against
    /// the table as usual (permissions, quotas, nonces, conflicts), but its firewall
    /// changes, journal lines, log lines and events are held; at the end all the
    /// firewall changes go to the kernel in ONE transaction, the journal is appended
    /// once, then the log lines and events follow. Only then may the caller answer
    /// the clients (`f`'s answers are valid once this returns `Ok`).
    ///
    /// When the kernel refuses the transaction, every table change `f` made is
    /// taken back (in reverse order), nothing is journalled or announced, and the
    /// error is returned: the caller then handles the same requests again one by one
    /// (outside a batch), so one bad change fails only its own request. A batch
    /// inside a batch joins the outer one.
    ///
    /// While a batch is open, [`Gateway::firewall`] still reaches the kernel directly:
    /// only the IPv4 mapping calls above are deferred.
    pub fn batch<R>(
        &mut self,
        now: u64,
        f: impl FnOnce(&mut Gateway) -> R,
    ) -> Result<R, GatewayError> {
        if self.pending.is_some() {
            return Ok(f(self));
        }
        self.pending = Some(Pending::default());
        let r = f(self);
        let Pending {
            changes,
            journal,
            undo,
            effects,
        } = self.pending.take().unwrap_or_default();
        if !changes.is_empty() {
            if let Err(err) = self.apply(&changes, now) {
                tracing::warn!(%err, changes = changes.len(), "firewall refused a batch; rolled back");
                for u in undo.into_iter().rev() {
                    self.undo(u, now);
                }
                return Err(err.into());
            }
        }
        for e in effects {
            self.effect(e, now);
        }
        if !journal.is_empty() {
            self.journal(&journal, now);
        }
        Ok(r)
    }

    /// One firewall transaction now, or, inside [`Gateway::batch`], the changes
    /// added to the batch's (with how to undo them).
    fn apply_or_defer(
        &mut self,
        changes: &[Change],
        undo: Undo,
        now: u64,
    ) -> Result<(), FirewallError> {
        match &mut self.pending {
            Some(p) => {
                p.changes.extend_from_slice(changes);
                p.undo.push(undo);
                Ok(())
            }
            None => self.apply(changes, now),
        }
    }

    /// Takes one table change back (the kernel refused it).
    fn undo(&mut self, u: Undo, now: u64) {
        match u {
            Undo::Mapped { new, previous } => {
                let _ = self.table.delete(new, None, Requester::Trusted);
                if let Some(prev) = previous.filter(|p| !p.is_expired(now)) {
                    let _ = self.table.add(new_from(&prev), Requester::Trusted, now);
                }
            }
            Undo::Removed(gone) => {
                for m in &gone {
                    let _ = self.table.add(new_from(m), Requester::Trusted, now);
                }
            }
        }
    }

    /// Logs (and announces) a committed change; inside a batch, after its commit.
    fn effect(&mut self, e: Effect, now: u64) {
        if let Some(p) = &mut self.pending {
            p.effects.push(e);
            return;
        }
        match e {
            Effect::Added { m, refreshed } => {
                logging::added(&m, refreshed, now);
                self.emit(GatewayEvent::MappingAdded(m));
            }
            Effect::Removed { m, why, event } => {
                logging::removed(&m, why);
                if event {
                    self.emit(GatewayEvent::MappingRemoved(m));
                }
            }
        }
    }

    /// Delete the mapping at `key` (`remote_host`, when given, must match;
    /// secure mode applies to `by`).
    pub fn unmap(
        &mut self,
        key: MappingKey,
        remote_host: Option<Ipv4Addr>,
        by: Requester,
        now: u64,
    ) -> Result<Mapping, GatewayError> {
        self.expire(now);
        let m = self.table.delete(key, remote_host, by)?;
        let why = match by {
            Requester::Client(c) if c != m.internal_client => Removal::Deleted(Some(c)),
            _ => Removal::Deleted(None),
        };
        self.removed(vec![m.clone()], now, why)?;
        Ok(m)
    }

    /// Delete `client`'s mapping of (`protocol`, `internal_port`), as NAT-PMP
    /// and PCP name mappings; `nonce` (PCP) must match a PCP mapping's.
    pub fn unmap_internal(
        &mut self,
        client: Ipv4Addr,
        protocol: Protocol,
        internal_port: u16,
        nonce: Option<&Nonce>,
        now: u64,
    ) -> Result<Mapping, GatewayError> {
        self.expire(now);
        let m = self
            .table
            .delete_internal(client, protocol, internal_port, nonce)?;
        self.removed(vec![m.clone()], now, Removal::Deleted(None))?;
        Ok(m)
    }

    /// Delete all of `client`'s mappings (of `protocol` and origin `only`
    /// when given).
    pub fn unmap_client(
        &mut self,
        client: Ipv4Addr,
        protocol: Option<Protocol>,
        only: Option<OriginKind>,
        now: u64,
    ) -> Result<Vec<Mapping>, GatewayError> {
        self.expire(now);
        let gone = self.table.delete_client(client, protocol, only);
        self.removed(gone, now, Removal::Deleted(None))
    }

    /// DeletePortMappingRange: mappings of `protocol` with external port in
    /// `start..=end` (only `by`'s own in secure mode).
    pub fn unmap_range(
        &mut self,
        protocol: Protocol,
        start: u16,
        end: u16,
        by: Requester,
        now: u64,
    ) -> Result<Vec<Mapping>, GatewayError> {
        self.expire(now);
        let gone = self.table.delete_range(protocol, start, end, by);
        let why = match by {
            Requester::Client(c) => Removal::Deleted(Some(c)),
            Requester::Trusted => Removal::Deleted(None),
        };
        self.removed(gone, now, why)
    }

    /// Remove what is due at `now` from the table and the kernel (the kernel
    /// usually expired it already), at most [`EXPIRE_STEP`] mappings per call: when
    /// more are due (a million leases ending in the same second), the next call
    /// takes the next step, and [`Gateway::next_expiry`] stays due, so the run loop
    /// comes back at once, serving requests in between instead of stalling on all
    /// of them. The lease file is marked dirty, see [`Gateway::flush`].
    pub fn expire(&mut self, now: u64) -> Vec<Mapping> {
        let gone = self.table.expire_at_most(now, EXPIRE_STEP);
        if gone.is_empty() {
            return gone;
        }
        let changes: Vec<Change> = gone
            .iter()
            .map(|m| Change::Remove(firewall_key(m)))
            .collect();
        if let Err(err) = self.apply(&changes, now) {
            // The kernel's own timeouts remove them anyway.
            tracing::debug!(%err, "removing expired mappings from the firewall failed");
        }
        logging::expired(&gone);
        for m in &gone {
            self.emit(GatewayEvent::MappingRemoved(m.clone()));
        }
        self.journal.mark_dirty(now, gone.len(), self.table.len());
        gone
    }

    /// One step of miniupnpd's idle-mapping cleaning (`clean_ruleset_interval`,
    /// `clean_ruleset_threshold`), run once an interval. With no counters noted, and
    /// at least `threshold` mappings in the table, it notes every mapping's packet
    /// counter from the kernel. At the next step it removes the mappings whose counter
    /// has not moved since (no new inbound connection for a whole interval), then
    /// starts over. A refresh keeps the counter where the kernel updates elements in
    /// place (Linux 6.12+); before that it restarts it, and a mapping that had traffic
    /// before and is refreshed counts as moved. Returns what it removed. This is the one
    /// place besides start-up that lists the kernel's elements: once an interval.
    pub fn clean_idle(&mut self, threshold: usize, now: u64) -> Vec<Mapping> {
        self.expire(now);
        let Some(before) = self.idle_counts.take() else {
            if self.table.len() >= threshold {
                match self.firewall.list() {
                    Ok(entries) => {
                        self.idle_counts =
                            Some(entries.iter().map(|e| (e.mapping.key, e.packets)).collect());
                    }
                    Err(err) => tracing::warn!(%err, "idle cleaning: cannot read the counters"),
                }
            }
            return Vec::new();
        };
        let entries = match self.firewall.list() {
            Ok(e) => e,
            Err(err) => {
                tracing::warn!(%err, "idle cleaning: cannot read the counters");
                return Vec::new();
            }
        };
        let idle: std::collections::HashSet<portgate_nft::MappingKey> = entries
            .iter()
            .filter(|e| before.get(&e.mapping.key) == Some(&e.packets))
            .map(|e| e.mapping.key)
            .collect();
        self.remove_where(|_, m| idle.contains(&firewall_key(m)), now, Removal::Idle)
    }

    /// Removes every mapping `doomed` picks (from the table, the kernel and the lease
    /// file, with events); returns them.
    fn remove_where(
        &mut self,
        doomed: impl Fn(&MappingTable, &Mapping) -> bool,
        now: u64,
        why: Removal,
    ) -> Vec<Mapping> {
        let keys: Vec<MappingKey> = self
            .table
            .iter()
            .filter(|m| doomed(&self.table, m))
            .map(Mapping::key)
            .collect();
        let gone: Vec<Mapping> = keys
            .into_iter()
            .filter_map(|k| self.table.delete(k, None, Requester::Trusted).ok())
            .collect();
        self.removed(gone, now, why).unwrap_or_default()
    }

    /// Idle cleaning's first run: one interval from `now`.
    fn restart_timers(&mut self, now: u64) {
        let every = self.settings.timers.clean_interval;
        self.next_clean = (every > 0).then(|| now.saturating_add(every));
        self.idle_counts = None;
    }

    /// When [`Gateway::handle_timeout`] must next be called: the earliest of the
    /// next expiry, the lease file's flush deadline, the next idle cleaning and the
    /// next announcement. The time is the core's (see `clock::now_precise`:
    /// the seconds are the `now` the request methods take). `None`: nothing is due
    /// until a request or an address change comes.
    pub fn poll_timeout(&self) -> Option<Duration> {
        [self.next_expiry(), self.flush_due(), self.next_clean]
            .into_iter()
            .flatten()
            .map(Duration::from_secs)
            .chain(self.announcer.deadline())
            .min()
    }

    /// Runs what is due at `now`: expiry (one [`EXPIRE_STEP`] at a time, so the
    /// deadline stays due while more remain), the lease file's rewrite or fsync,
    /// idle cleaning, and the announcement burst, whose messages wait in
    /// [`Gateway::poll_transmit`]. Calling it early does nothing harmful.
    pub fn handle_timeout(&mut self, now: Duration) {
        let secs = now.as_secs();
        self.expire(secs);
        if self.flush_due().is_some_and(|t| t <= secs) {
            self.flush(secs);
        }
        if let Some(t) = self.next_clean.filter(|&t| t <= secs) {
            let every = self.settings.timers.clean_interval.max(1);
            // Not before `secs`: a clock that jumped ahead runs one cleaning, not many.
            self.next_clean = Some(t.saturating_add(every).max(secs.saturating_add(1)));
            self.clean_idle(self.settings.timers.clean_threshold, secs);
        }
        if self.announcer.poll(now) {
            self.outbox.extend(crate::pmp::announcements(self, secs));
        }
    }

    /// The next datagram the core wants sent: NAT-PMP and PCP announcements, each to
    /// [`crate::pmp::ANNOUNCE_DEST`] from every NAT-PMP/PCP socket.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.outbox.pop_front()
    }

    /// When [`Gateway::expire`] should next run.
    pub fn next_expiry(&self) -> Option<u64> {
        self.table.next_expiry()
    }

    /// When [`Gateway::flush`] should next run (`None`: nothing pending).
    pub fn flush_due(&self) -> Option<u64> {
        self.journal.flush_due()
    }

    /// Rewrite the lease file if expiries are pending (the next step of a compaction
    /// under way), else fsync the journal lines appended since the last sync.
    pub fn flush(&mut self, now: u64) {
        if self.journal.is_compacting() {
            self.compact_step(now);
        } else if self.journal.is_dirty() {
            self.persist_soon(now);
        } else {
            self.journal.sync(now);
        }
    }

    /// Reload: new settings (rules, limits, lifetimes, LAN); mappings the
    /// new rules deny are removed, the others kept. Returns the removed ones.
    pub fn reload(&mut self, settings: GatewaySettings, now: u64) -> Vec<Mapping> {
        self.table.set_limits(settings.limits);
        self.table.set_rules(settings.rules.clone());
        let clean_changed = settings.timers.clean_interval != self.settings.timers.clean_interval;
        let moved = settings.lease_file != self.settings.lease_file;
        if !settings.timers.announce {
            self.announcer = crate::pmp::Announcer::new();
        }
        self.settings = settings;
        if clean_changed {
            self.restart_timers(now);
        }
        if moved {
            self.journal.set_store(
                self.settings.lease_file.clone().map(|p| {
                    Box::new(lease::ThreadedFileStore::new(p)) as Box<dyn lease::LeaseStore>
                }),
            );
            self.persist_now(now);
        }
        self.remove_where(
            |table, m| {
                !table.rules().is_allowed(
                    m.external_port,
                    m.internal_client,
                    m.internal_port,
                    &m.description,
                )
            },
            now,
            Removal::Reload,
        )
    }

    /// Shutdown: write the lease file, then remove our firewall table
    /// (or keep it when `keep`).
    pub fn shutdown(&mut self, keep: bool) -> Result<(), GatewayError> {
        self.persist_now(0);
        self.journal.wait();
        self.firewall.shutdown(keep)?;
        if keep {
            tracing::info!(
                mappings = self.table.len(),
                "shutdown: mappings left in the kernel (keep_table_on_exit)"
            );
        } else {
            for m in self.table.iter() {
                logging::removed(m, Removal::Shutdown);
            }
        }
        Ok(())
    }

    /// Direct access to the firewall (counters via [`Firewall::list`]).
    pub fn firewall(&mut self) -> &mut dyn Firewall {
        self.firewall.as_mut()
    }

    fn removed(
        &mut self,
        gone: Vec<Mapping>,
        now: u64,
        why: Removal,
    ) -> Result<Vec<Mapping>, GatewayError> {
        if gone.is_empty() {
            return Ok(gone);
        }
        let changes: Vec<Change> = gone
            .iter()
            .map(|m| Change::Remove(firewall_key(m)))
            .collect();
        if let Err(err) = self.apply_or_defer(&changes, Undo::Removed(gone.clone()), now) {
            tracing::warn!(%err, "firewall refused a deletion; mappings kept");
            self.undo(Undo::Removed(gone), now);
            return Err(err.into());
        }
        for m in &gone {
            self.effect(
                Effect::Removed {
                    m: m.clone(),
                    why,
                    event: true,
                },
                now,
            );
        }
        let text: String = gone
            .iter()
            .map(|m| lease::format_removal(m.external, m.protocol, m.external_port))
            .collect();
        self.journal(&text, now);
        Ok(gone)
    }

    /// One transaction; on a missing table, recreate it and push the whole
    /// mapping table (which already holds the change) once.
    fn apply(&mut self, changes: &[Change], now: u64) -> Result<(), FirewallError> {
        match self.firewall.apply(changes) {
            Err(FirewallError::TableMissing(t)) => {
                tracing::warn!(table = %t, "firewall table missing: recreating it");
                self.firewall.init()?;
                let wanted: Vec<portgate_nft::Mapping> = self
                    .table
                    .iter()
                    .map(|m| firewall_mapping(m, now))
                    .collect();
                self.firewall.reconcile(&wanted)?;
                // The pinholes live in the same table; their owner pushes them again.
                self.recreated = true;
                Ok(())
            }
            other => other,
        }
    }

    fn emit(&self, ev: GatewayEvent) {
        // No subscriber is not an error.
        let _ = self.events.send(ev);
    }

    /// Append `text` (journal lines) to the lease file; compact instead when
    /// the journal has grown past [`JOURNAL_SLACK`] and the live mappings, or
    /// when the append fails.
    fn journal(&mut self, text: &str, now: u64) {
        if !self.journal.is_on() {
            return;
        }
        if let Some(p) = &mut self.pending {
            p.journal.push_str(text);
            return;
        }
        if !self.journal.append(text, self.table.len(), now) {
            self.persist_soon(now);
        }
    }

    /// Rewrite the lease file whole, now (reload, shutdown).
    fn persist_now(&mut self, now: u64) {
        self.compaction = None;
        if !self.journal.is_on() {
            self.journal.compact(String::new(), now);
            return;
        }
        let entries: Vec<LeaseEntry> = self.table.iter().map(|m| self.lease_entry(m)).collect();
        self.journal.compact(lease::format(&entries), now);
    }

    /// Compact the lease file: at once for a small table, else in steps of
    /// [`COMPACT_STEP`] mappings, one per [`Gateway::handle_timeout`] (due at once
    /// meanwhile), requests served between them.
    fn persist_soon(&mut self, now: u64) {
        if self.journal.is_compacting() {
            return;
        }
        if !self.journal.is_on() || self.table.len() <= COMPACT_STEP {
            self.persist_now(now);
            return;
        }
        self.journal.begin_compaction();
        self.compaction = Some((None, String::new()));
        self.compact_step(now);
    }

    /// One step of the compaction being gathered; the last hands the text over.
    fn compact_step(&mut self, now: u64) {
        let Some((after, mut text)) = self.compaction.take() else {
            // The journal waits for a snapshot nobody gathers: write it whole.
            self.persist_now(now);
            return;
        };
        let mut last = after;
        let mut n = 0;
        for m in self.table.iter_after(after).take(COMPACT_STEP) {
            lease::format_entry_into(&mut text, &self.lease_entry(m));
            last = Some(m.key());
            n += 1;
        }
        if n < COMPACT_STEP {
            self.journal.finish_compaction(text, now);
        } else {
            self.compaction = Some((last, text));
        }
    }
}

pub mod logging;

use logging::Removal;

#[cfg(test)]
pub(crate) mod tests;
