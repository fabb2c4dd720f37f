//! The mapping table: one source of truth for UPnP IGD, NAT-PMP and PCP.
//!
//! Sans-IO: time is a number of seconds passed in by the caller (`now`,
//! unix time in the daemon), nothing here reads a clock or touches the
//! firewall. The caller applies every returned change to the firewall and
//! the lease file.
//!
//! # Identity
//!
//! A mapping is identified by (protocol, external port): at most one
//! mapping per external port and protocol, whichever protocol created it, so
//! a UPnP mapping and a PCP mapping of the same port conflict exactly like
//! two UPnP mappings do. The remote host (UPnP `NewRemoteHost`,
//! PCP FILTER) is an attribute of the mapping; re-adding with a different
//! remote host is a conflict, as in miniupnpd (IGD:2 leaves this case to the
//! vendor). Lookups and deletions that name a remote host must match it;
//! those that name none match any (miniupnpd is as lenient).
//!
//! # Costs
//!
//! Add, refresh and delete are O(log n) (a `BTreeMap` by key plus an expiry
//! index and a per-client index); [`MappingTable::expire`] costs O(log n)
//! per expired mapping; [`MappingTable::get_by_index`] is O(1) after an
//! O(n) rebuild of a key vector that happens at most once per modification
//! (clients walk the indices without modifying); the AddAnyPortMapping search
//! skips denied port ranges at once and walks only the run of taken ports
//! next to the asked one.
//!
//! # Expiry
//!
//! Call [`MappingTable::expire`] before serving a request (it is O(1) when
//! nothing is due) and when [`MappingTable::next_expiry`] comes; entries past
//! their expiry but not yet expired still occupy their port, except that
//! [`MappingTable::add`] replaces an expired entry at its key.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::net::Ipv4Addr;
use std::ops::Bound;

use crate::config::IgdVersion;
use crate::rules::RuleSet;

/// Longest UPnP IGD:2 lease, seconds (WANIPConnection:2 section 2.3.16:
/// 0 or more than 604800 means 604800).
pub const IGD2_MAX_LEASE: u32 = 604_800;
/// Longest description kept in the table, bytes (more is truncated).
pub const DESCRIPTION_MAX: usize = 256;
/// Default cap on the whole table: every port of both protocols.
pub const DEFAULT_MAX_TOTAL: u32 = 2 * 65_535;

/// Transport protocol of a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// TCP (IANA protocol 6).
    Tcp,
    /// UDP (IANA protocol 17).
    Udp,
}

impl Protocol {
    /// `"TCP"` or `"UDP"`, as UPnP and the lease file write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        }
    }

    /// Parse `TCP`/`UDP` in any case.
    pub fn parse(s: &str) -> Option<Protocol> {
        if s.eq_ignore_ascii_case("TCP") {
            Some(Protocol::Tcp)
        } else if s.eq_ignore_ascii_case("UDP") {
            Some(Protocol::Udp)
        } else {
            None
        }
    }

    /// The IANA protocol number (6 or 17), as PCP carries it.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A PCP mapping nonce (RFC 6887 section 11.1, 96 bits).
pub type Nonce = [u8; 12];

/// Which protocol created (or last refreshed) a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// UPnP IGD AddPortMapping / AddAnyPortMapping, or the lease file.
    Upnp,
    /// NAT-PMP (RFC 6886).
    NatPmp,
    /// PCP MAP (RFC 6887) with the client's nonce.
    Pcp {
        /// The nonce renewals and deletions must repeat.
        nonce: Nonce,
    },
}

/// A PCP request's nonce is not the one the mapping or pinhole was made with
/// ([`check_nonce`]): PCP NOT_AUTHORIZED. The one error for it, IPv4 and IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("nonce does not match the mapping's")]
pub struct NonceMismatch;

/// The PCP ownership rule, in one place for mappings and pinholes, MAP and PEER,
/// renewals and deletions (RFC 6887 §11.1: a mapping made by PCP is renewed or
/// deleted only with its nonce; §12.1 applies the rule to PEER).
///
/// `held` is the nonce the existing mapping was made with (`None`: made by UPnP or
/// NAT-PMP), `given` the request's (`None`: not a PCP request). A PCP mapping
/// refuses another nonce. For PEER (`peer`), an existing mapping must have been
/// made by PCP with the same nonce: a PEER request never takes over a mapping
/// another protocol made. Requests of other protocols are not checked here (secure
/// mode and the table's conflict rules apply to them).
pub fn check_nonce(
    held: Option<&Nonce>,
    given: Option<&Nonce>,
    peer: bool,
) -> Result<(), NonceMismatch> {
    match (held, given) {
        (Some(h), Some(g)) if h != g => Err(NonceMismatch),
        (None, Some(_)) if peer => Err(NonceMismatch),
        _ => Ok(()),
    }
}

impl From<NonceMismatch> for TableError {
    fn from(_: NonceMismatch) -> Self {
        TableError::NonceMismatch
    }
}

impl Origin {
    /// The PCP nonce it was made with, if PCP made it.
    pub fn nonce(&self) -> Option<&Nonce> {
        match self {
            Origin::Pcp { nonce } => Some(nonce),
            Origin::Upnp | Origin::NatPmp => None,
        }
    }

    /// The origin without its data.
    pub fn kind(&self) -> OriginKind {
        match self {
            Origin::Upnp => OriginKind::Upnp,
            Origin::NatPmp => OriginKind::NatPmp,
            Origin::Pcp { .. } => OriginKind::Pcp,
        }
    }
}

/// [`Origin`] without the nonce, for filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OriginKind {
    /// UPnP IGD.
    Upnp,
    /// NAT-PMP.
    NatPmp,
    /// PCP.
    Pcp,
}

/// The key of a mapping: external address (CGN mode only), protocol and external port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MappingKey {
    /// The pool address the mapping is on (CGN mode, [`crate::cgn`]); `None`: the
    /// gateway's one external address.
    pub external: Option<Ipv4Addr>,
    /// Protocol.
    pub protocol: Protocol,
    /// External port (never 0 in the table).
    pub external_port: u16,
}

/// One port mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The pool address it is on (CGN mode); `None`: the external address.
    pub external: Option<Ipv4Addr>,
    /// Protocol.
    pub protocol: Protocol,
    /// External port.
    pub external_port: u16,
    /// Only this remote host may use the mapping (`None`: any).
    pub remote_host: Option<Ipv4Addr>,
    /// LAN host the traffic goes to.
    pub internal_client: Ipv4Addr,
    /// Port on the LAN host.
    pub internal_port: u16,
    /// Free text from the client (sanitized, at most [`DESCRIPTION_MAX`] bytes).
    pub description: String,
    /// When the lease runs out (`None`: permanent).
    pub expiry: Option<u64>,
    /// Which protocol made it.
    pub origin: Origin,
    /// When it was first created (kept across refreshes).
    pub created_at: u64,
}

impl Mapping {
    /// The table key.
    pub fn key(&self) -> MappingKey {
        MappingKey {
            external: self.external,
            protocol: self.protocol,
            external_port: self.external_port,
        }
    }

    /// Seconds left at `now` (`None`: permanent; `Some(0)`: expired).
    pub fn remaining(&self, now: u64) -> Option<u64> {
        self.expiry.map(|e| e.saturating_sub(now))
    }

    /// Whether the lease has run out at `now`.
    pub fn is_expired(&self, now: u64) -> bool {
        self.expiry.is_some_and(|e| e <= now)
    }
}

/// A request to create or refresh a mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMapping {
    /// The pool address (CGN mode, chosen by [`crate::cgn::Cgn::place`]); `None`: the
    /// external address.
    pub external: Option<Ipv4Addr>,
    /// Protocol.
    pub protocol: Protocol,
    /// External port wanted (1..=65535; for `add_any`, the preferred one).
    pub external_port: u16,
    /// Remote host restriction.
    pub remote_host: Option<Ipv4Addr>,
    /// LAN host (already validated, see [`validate_internal_client`]).
    pub internal_client: Ipv4Addr,
    /// Port on the LAN host.
    pub internal_port: u16,
    /// Description (sanitized on insertion).
    pub description: String,
    /// Absolute expiry (`None`: permanent); see [`expiry_at`].
    pub expiry: Option<u64>,
    /// Which protocol asks.
    pub origin: Origin,
}

/// Who asks for a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requester {
    /// A LAN host at this address: secure mode applies.
    Client(Ipv4Addr),
    /// The daemon itself (lease reload, admin): no ownership checks.
    Trusted,
}

/// Table-wide limits and policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableLimits {
    /// Secure mode: a client maps only to itself and deletes only its own.
    pub secure_mode: bool,
    /// Most mappings one internal client may hold.
    pub max_per_client: u32,
    /// Most mappings in the table.
    pub max_total: u32,
}

impl Default for TableLimits {
    fn default() -> Self {
        TableLimits {
            secure_mode: true,
            max_per_client: crate::config::DEFAULT_MAX_MAPPINGS_PER_CLIENT,
            max_total: DEFAULT_MAX_TOTAL,
        }
    }
}

/// Why the table refused a change. Front ends map these to UPnP error codes
/// (in brackets), PCP result codes (RFC 6887 section 7.4) and NAT-PMP result
/// codes (RFC 6886 section 3.5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// External port 0 (UPnP 716 WildCardNotPermittedInExtPort).
    #[error("external port 0 is not allowed")]
    ZeroExternalPort,
    /// The key is held by another client or another remote host
    /// (UPnP 718 ConflictInMappingEntry; PCP CANNOT_PROVIDE_EXTERNAL).
    #[error("port already mapped to {holder}")]
    Conflict {
        /// Internal client holding the port.
        holder: Ipv4Addr,
    },
    /// Secure mode: the requester is not the internal client / owner
    /// (UPnP 606 on IGD:2; 718 (add) or 714 (delete) on IGD:1; PCP NOT_AUTHORIZED).
    #[error("secure mode: requester {requester} is not the internal client {client}")]
    NotAuthorized {
        /// Who asked.
        requester: Ipv4Addr,
        /// Whose mapping it is (or would be).
        client: Ipv4Addr,
    },
    /// A permission rule denies it (UPnP 606; PCP NOT_AUTHORIZED; NAT-PMP 2).
    #[error("denied by a permission rule")]
    Denied,
    /// PCP renew/delete with another nonce [PCP NOT_AUTHORIZED].
    #[error("nonce does not match the mapping's")]
    NonceMismatch,
    /// No such mapping (UPnP 714 NoSuchEntryInArray).
    #[error("no such mapping")]
    NotFound,
    /// The internal client holds its quota (UPnP 728; PCP USER_EX_QUOTA; NAT-PMP 4).
    #[error("client {client} holds its quota of {limit} mappings")]
    QuotaExceeded {
        /// The client.
        client: Ipv4Addr,
        /// Its quota.
        limit: u32,
    },
    /// The table is full (UPnP 728; PCP NO_RESOURCES; NAT-PMP 4).
    #[error("mapping table full ({limit} entries)")]
    TableFull {
        /// The cap.
        limit: u32,
    },
    /// AddAnyPortMapping found no free allowed port (UPnP 728 NoPortMapsAvailable).
    #[error("no free external port allowed")]
    NoPortAvailable,
    /// CGN mode: an exact external port outside the subscriber's port set on its paired
    /// address ([`crate::cgn`]; PCP CANNOT_PROVIDE_EXTERNAL, UPnP 718).
    #[error("port outside the subscriber's port set on {external}")]
    OutsidePortSet {
        /// The subscriber's paired address.
        external: Ipv4Addr,
    },
}

/// Whether [`MappingTable::add`] created or refreshed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddStatus {
    /// A new mapping.
    Created,
    /// An existing mapping of the same client got a new lease (and maybe a
    /// new internal port and description).
    Refreshed,
}

/// Result of an add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddOutcome {
    /// Created or refreshed.
    pub status: AddStatus,
    /// The mapping as now stored (its port is the chosen one for `add_any`).
    pub mapping: Mapping,
    /// What was at the key before: the refreshed mapping's old state, or an
    /// expired mapping that was replaced.
    pub previous: Option<Mapping>,
}

/// The mapping table. See the module docs.
#[derive(Debug, Default)]
pub struct MappingTable {
    limits: TableLimits,
    rules: RuleSet,
    /// Boxed: a B-tree node holds its values inline and nodes filled in port order
    /// stay about half full, so an inline 80-byte mapping cost about 150 bytes per
    /// entry; boxed it costs a pointer there and its own allocation.
    map: BTreeMap<MappingKey, Box<Mapping>>,
    expiries: BTreeSet<(u64, MappingKey)>,
    by_client: BTreeSet<ClientEntry>,
    client_counts: HashMap<Ipv4Addr, u32>,
    index: OnceCell<Vec<MappingKey>>,
}

impl MappingTable {
    /// An empty table.
    pub fn new(limits: TableLimits, rules: RuleSet) -> Self {
        MappingTable {
            limits,
            rules,
            ..MappingTable::default()
        }
    }

    /// Current limits.
    pub fn limits(&self) -> TableLimits {
        self.limits
    }

    /// Replace the limits (config reload); existing mappings stay.
    pub fn set_limits(&mut self, limits: TableLimits) {
        self.limits = limits;
    }

    /// The permission rules in force.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Replace the rules (config reload); existing mappings stay.
    pub fn set_rules(&mut self, rules: RuleSet) {
        self.rules = rules;
    }

    /// Number of mappings.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there is no mapping.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// All mappings in key order (TCP before UDP, then by external port).
    pub fn iter(&self) -> impl Iterator<Item = &Mapping> {
        self.map.values().map(|m| &**m)
    }

    /// The mappings after `key` (all of them for `None`), in key order: for work done
    /// in steps over a large table.
    pub fn iter_after(&self, key: Option<MappingKey>) -> impl Iterator<Item = &Mapping> {
        use std::ops::Bound;
        let from = key.map_or(Bound::Unbounded, Bound::Excluded);
        self.map.range((from, Bound::Unbounded)).map(|(_, m)| &**m)
    }

    fn at(&self, key: &MappingKey) -> Option<&Mapping> {
        self.map.get(key).map(|m| &**m)
    }

    /// Number of mappings whose internal client is `client`.
    pub fn count_for(&self, client: Ipv4Addr) -> u32 {
        self.client_counts.get(&client).copied().unwrap_or(0)
    }

    /// The mapping at `key`.
    pub fn get(&self, key: MappingKey) -> Option<&Mapping> {
        self.at(&key)
    }

    /// GetSpecificPortMappingEntry: the mapping at `key` if `remote_host`
    /// is `None` or equals the mapping's.
    pub fn get_specific(&self, key: MappingKey, remote_host: Option<Ipv4Addr>) -> Option<&Mapping> {
        self.at(&key)
            .filter(|m| remote_host.is_none() || m.remote_host == remote_host)
    }

    /// GetGenericPortMappingEntry: the `index`-th mapping in key order.
    pub fn get_by_index(&self, index: usize) -> Option<&Mapping> {
        let keys = self
            .index
            .get_or_init(|| self.map.keys().copied().collect());
        keys.get(index).and_then(|k| self.at(k))
    }

    /// The mapping of `client` for (`protocol`, `internal_port`), as NAT-PMP
    /// and PCP identify mappings (RFC 6886 section 3.3, RFC 6887 section 11.3).
    /// When UPnP made several, the lowest external port is returned.
    pub fn find_by_internal(
        &self,
        client: Ipv4Addr,
        protocol: Protocol,
        internal_port: u16,
    ) -> Option<&Mapping> {
        self.by_client
            .range(port_of(client, protocol, internal_port))
            .next()
            .and_then(|&(_, p, _, e, x)| self.at(&key_at(x, p, e)))
    }

    /// The mapping of `client` for (`protocol`, `internal_port`) restricted to
    /// `remote_host`, as PCP PEER names one (RFC 6887 section 12.3).
    pub fn find_peer(
        &self,
        client: Ipv4Addr,
        protocol: Protocol,
        internal_port: u16,
        remote_host: Ipv4Addr,
    ) -> Option<&Mapping> {
        self.by_client
            .range(port_of(client, protocol, internal_port))
            .filter_map(|&(_, p, _, e, x)| self.at(&key_at(x, p, e)))
            .find(|m| m.remote_host == Some(remote_host))
    }

    /// GetListOfPortMappings: mappings of `protocol` with external port in
    /// `start..=end`, in port order, at most `max`.
    pub fn list_range(
        &self,
        protocol: Protocol,
        start: u16,
        end: u16,
        max: usize,
    ) -> Vec<&Mapping> {
        if start > end {
            return Vec::new();
        }
        self.map
            .range(key(protocol, start)..=key(protocol, end))
            .map(|(_, m)| &**m)
            .take(max)
            .collect()
    }

    /// Earliest expiry of any mapping (when to call [`Self::expire`]).
    pub fn next_expiry(&self) -> Option<u64> {
        self.expiries.first().map(|&(t, _)| t)
    }

    /// Remove every mapping whose expiry is `<= now`, returning them.
    pub fn expire(&mut self, now: u64) -> Vec<Mapping> {
        self.expire_at_most(now, usize::MAX)
    }

    /// Remove at most `max` of the mappings whose expiry is `<= now` (the earliest
    /// first), returning them; [`MappingTable::next_expiry`] then says whether more
    /// are due.
    pub fn expire_at_most(&mut self, now: u64, max: usize) -> Vec<Mapping> {
        let mut out = Vec::new();
        while let Some(&(t, k)) = self.expiries.first() {
            if t > now || out.len() >= max {
                break;
            }
            if let Some(m) = self.remove(k) {
                out.push(m);
            } else {
                self.expiries.remove(&(t, k));
            }
        }
        if !out.is_empty() {
            tracing::debug!(count = out.len(), "mappings expired");
        }
        out
    }

    /// AddPortMapping and friends: create the mapping at
    /// (protocol, external port), or refresh it when the same internal client
    /// (and remote host) already holds it. See [`TableError`] for refusals.
    pub fn add(
        &mut self,
        req: NewMapping,
        by: Requester,
        now: u64,
    ) -> Result<AddOutcome, TableError> {
        if req.external_port == 0 {
            return Err(TableError::ZeroExternalPort);
        }
        self.check_requester(&req, by)?;
        let desc = sanitize_description(&req.description);
        if !self.rules.is_allowed(
            req.external_port,
            req.internal_client,
            req.internal_port,
            &desc,
        ) {
            return Err(TableError::Denied);
        }
        let k = key_at(req.external, req.protocol, req.external_port);
        let mut previous = None;
        if let Some(existing) = self.at(&k) {
            if existing.is_expired(now) {
                previous = self.remove(k);
            } else if existing.internal_client == req.internal_client
                && existing.remote_host == req.remote_host
            {
                check_nonce(existing.origin.nonce(), req.origin.nonce(), false)?;
                return Ok(self.refresh(k, req, desc));
            } else {
                return Err(TableError::Conflict {
                    holder: existing.internal_client,
                });
            }
        }
        self.check_quota(req.internal_client)?;
        let mapping = Mapping {
            external: req.external,
            protocol: req.protocol,
            external_port: req.external_port,
            remote_host: req.remote_host,
            internal_client: req.internal_client,
            internal_port: req.internal_port,
            description: desc,
            expiry: req.expiry,
            origin: req.origin,
            created_at: now,
        };
        self.insert(mapping.clone());
        Ok(AddOutcome {
            status: AddStatus::Created,
            mapping,
            previous,
        })
    }

    /// AddAnyPortMapping (and NAT-PMP/PCP port choice): like [`Self::add`]
    /// at the asked port when that succeeds or is refused for a reason other
    /// than the port (secure mode, nonce, quota); otherwise the nearest free
    /// external port the rules allow this client (ties go up).
    pub fn add_any(
        &mut self,
        req: NewMapping,
        by: Requester,
        now: u64,
    ) -> Result<AddOutcome, TableError> {
        self.check_requester(&req, by)?;
        let first = if req.external_port == 0 {
            Err(TableError::ZeroExternalPort)
        } else {
            self.add(req.clone(), by, now)
        };
        match first {
            Ok(o) => return Ok(o),
            Err(TableError::ZeroExternalPort)
            | Err(TableError::Conflict { .. })
            | Err(TableError::Denied) => {}
            Err(e) => return Err(e),
        }
        self.check_quota(req.internal_client)?;
        let desc = sanitize_description(&req.description);
        let allowed =
            self.rules
                .allowed_external_ports(req.internal_client, req.internal_port, &desc);
        let asked = req.external_port.max(1);
        let up = self.free_port_up(req.protocol, asked, &allowed);
        let down = asked
            .checked_sub(1)
            .and_then(|p| self.free_port_down(req.protocol, p, &allowed));
        let port = match (up, down) {
            (Some(u), Some(d)) => {
                if u - asked <= asked - d {
                    u
                } else {
                    d
                }
            }
            (Some(u), None) => u,
            (None, Some(d)) => d,
            (None, None) => return Err(TableError::NoPortAvailable),
        };
        self.add(
            NewMapping {
                external_port: port,
                ..req
            },
            by,
            now,
        )
    }

    /// DeletePortMapping: remove the mapping at `key`. `remote_host`, when
    /// given, must match. In secure mode a client removes only its own
    /// ([`TableError::NotAuthorized`]).
    pub fn delete(
        &mut self,
        key: MappingKey,
        remote_host: Option<Ipv4Addr>,
        by: Requester,
    ) -> Result<Mapping, TableError> {
        let m = self
            .get_specific(key, remote_host)
            .ok_or(TableError::NotFound)?;
        if let Requester::Client(r) = by {
            if self.limits.secure_mode && r != m.internal_client {
                return Err(TableError::NotAuthorized {
                    requester: r,
                    client: m.internal_client,
                });
            }
        }
        self.remove(key).ok_or(TableError::NotFound)
    }

    /// PCP/NAT-PMP delete of `client`'s mapping for (`protocol`,
    /// `internal_port`). `nonce` (PCP) must equal the mapping's nonce when
    /// PCP made it.
    pub fn delete_internal(
        &mut self,
        client: Ipv4Addr,
        protocol: Protocol,
        internal_port: u16,
        nonce: Option<&Nonce>,
    ) -> Result<Mapping, TableError> {
        let m = self
            .find_by_internal(client, protocol, internal_port)
            .ok_or(TableError::NotFound)?;
        check_nonce(m.origin.nonce(), nonce, false)?;
        let k = m.key();
        self.remove(k).ok_or(TableError::NotFound)
    }

    /// DeletePortMappingRange (IGD:2): remove the mappings of `protocol` with
    /// external port in `start..=end`; in secure mode a client removes only
    /// its own (others are skipped). Returns what was removed (empty: the
    /// caller answers 730 PortMappingNotFound).
    pub fn delete_range(
        &mut self,
        protocol: Protocol,
        start: u16,
        end: u16,
        by: Requester,
    ) -> Vec<Mapping> {
        if start > end {
            return Vec::new();
        }
        let only = match by {
            Requester::Client(r) if self.limits.secure_mode => Some(r),
            _ => None,
        };
        let keys: Vec<MappingKey> = self
            .map
            .range(key(protocol, start)..=key(protocol, end))
            .filter(|(_, m)| only.map_or(true, |r| r == m.internal_client))
            .map(|(k, _)| *k)
            .collect();
        keys.into_iter().filter_map(|k| self.remove(k)).collect()
    }

    /// NAT-PMP "internal port 0, lifetime 0" (RFC 6886 section 3.4): remove
    /// `client`'s mappings, of `protocol` when given, of origin `only` when
    /// given.
    pub fn delete_client(
        &mut self,
        client: Ipv4Addr,
        protocol: Option<Protocol>,
        only: Option<OriginKind>,
    ) -> Vec<Mapping> {
        let keys: Vec<MappingKey> = self
            .by_client
            .range(
                (client, Protocol::Tcp, 0, 0, None)
                    ..=(
                        client,
                        Protocol::Udp,
                        u16::MAX,
                        u16::MAX,
                        Some(Ipv4Addr::BROADCAST),
                    ),
            )
            .filter(|&&(_, p, _, _, _)| protocol.is_none() || protocol == Some(p))
            .map(|&(_, p, _, e, x)| key_at(x, p, e))
            .filter(|k| only.is_none() || self.map.get(k).map(|m| m.origin.kind()) == only)
            .collect();
        keys.into_iter().filter_map(|k| self.remove(k)).collect()
    }

    fn check_requester(&self, req: &NewMapping, by: Requester) -> Result<(), TableError> {
        match by {
            Requester::Client(r) if self.limits.secure_mode && r != req.internal_client => {
                Err(TableError::NotAuthorized {
                    requester: r,
                    client: req.internal_client,
                })
            }
            _ => Ok(()),
        }
    }

    fn check_quota(&self, client: Ipv4Addr) -> Result<(), TableError> {
        if self.count_for(client) >= self.limits.max_per_client {
            return Err(TableError::QuotaExceeded {
                client,
                limit: self.limits.max_per_client,
            });
        }
        if u32::try_from(self.map.len()).unwrap_or(u32::MAX) >= self.limits.max_total {
            return Err(TableError::TableFull {
                limit: self.limits.max_total,
            });
        }
        Ok(())
    }

    fn refresh(&mut self, k: MappingKey, req: NewMapping, desc: String) -> AddOutcome {
        let old = self.remove(k);
        let created_at = old.as_ref().map_or(0, |o| o.created_at);
        let mapping = Mapping {
            external: req.external,
            protocol: req.protocol,
            external_port: req.external_port,
            remote_host: req.remote_host,
            internal_client: req.internal_client,
            internal_port: req.internal_port,
            description: desc,
            expiry: req.expiry,
            origin: req.origin,
            created_at,
        };
        self.insert(mapping.clone());
        AddOutcome {
            status: AddStatus::Refreshed,
            mapping,
            previous: old,
        }
    }

    fn insert(&mut self, m: Mapping) {
        let k = m.key();
        if let Some(t) = m.expiry {
            self.expiries.insert((t, k));
        }
        self.by_client.insert((
            m.internal_client,
            m.protocol,
            m.internal_port,
            m.external_port,
            m.external,
        ));
        *self.client_counts.entry(m.internal_client).or_insert(0) += 1;
        self.map.insert(k, Box::new(m));
        self.index.take();
    }

    fn remove(&mut self, k: MappingKey) -> Option<Mapping> {
        let m = *self.map.remove(&k)?;
        if let Some(t) = m.expiry {
            self.expiries.remove(&(t, k));
        }
        self.by_client.remove(&(
            m.internal_client,
            m.protocol,
            m.internal_port,
            m.external_port,
            m.external,
        ));
        if let Some(c) = self.client_counts.get_mut(&m.internal_client) {
            *c = c.saturating_sub(1);
            if *c == 0 {
                self.client_counts.remove(&m.internal_client);
            }
        }
        self.index.take();
        Some(m)
    }

    /// Lowest port `>= from` that is allowed and free.
    fn free_port_up(
        &self,
        protocol: Protocol,
        from: u16,
        allowed: &[std::ops::RangeInclusive<u16>],
    ) -> Option<u16> {
        for r in allowed.iter().filter(|r| *r.end() >= from) {
            let (lo, hi) = ((*r.start()).max(from), *r.end());
            let mut cand = lo;
            for (k, _) in self.map.range(key(protocol, lo)..=key(protocol, hi)) {
                if k.external_port != cand {
                    break;
                }
                if cand == hi {
                    break;
                }
                cand += 1;
            }
            if !self.map.contains_key(&key(protocol, cand)) {
                return Some(cand);
            }
        }
        None
    }

    /// Highest port `<= from` that is allowed and free.
    fn free_port_down(
        &self,
        protocol: Protocol,
        from: u16,
        allowed: &[std::ops::RangeInclusive<u16>],
    ) -> Option<u16> {
        for r in allowed.iter().rev().filter(|r| *r.start() <= from) {
            let (lo, hi) = (*r.start(), (*r.end()).min(from));
            let mut cand = hi;
            let range = (
                Bound::Included(key(protocol, lo)),
                Bound::Included(key(protocol, hi)),
            );
            for (k, _) in self.map.range(range).rev() {
                if k.external_port != cand {
                    break;
                }
                if cand == lo {
                    break;
                }
                cand -= 1;
            }
            if !self.map.contains_key(&key(protocol, cand)) {
                return Some(cand);
            }
        }
        None
    }
}

fn key(protocol: Protocol, external_port: u16) -> MappingKey {
    key_at(None, protocol, external_port)
}

/// An entry of the per-client index: client, protocol, internal port, external port,
/// external address.
type ClientEntry = (Ipv4Addr, Protocol, u16, u16, Option<Ipv4Addr>);

/// The per-client index entries of `client`'s `internal_port`.
fn port_of(
    client: Ipv4Addr,
    protocol: Protocol,
    internal_port: u16,
) -> std::ops::RangeInclusive<ClientEntry> {
    (client, protocol, internal_port, 0, None)
        ..=(
            client,
            protocol,
            internal_port,
            u16::MAX,
            Some(Ipv4Addr::BROADCAST),
        )
}

fn key_at(external: Option<Ipv4Addr>, protocol: Protocol, external_port: u16) -> MappingKey {
    MappingKey {
        external,
        protocol,
        external_port,
    }
}

/// Make a client's description safe to store, log, write to the lease file
/// and to nftables comments: control characters (including newlines)
/// become spaces, blanks at both ends are trimmed, and the result is cut to
/// [`DESCRIPTION_MAX`] bytes at a character boundary.
pub fn sanitize_description(desc: &str) -> String {
    let mut out = String::with_capacity(desc.len().min(DESCRIPTION_MAX));
    for c in desc.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if out.len() + c.len_utf8() > DESCRIPTION_MAX {
            break;
        }
        out.push(c);
    }
    let trimmed = out.trim();
    if trimmed.len() == out.len() {
        out
    } else {
        trimmed.to_owned()
    }
}

/// UPnP NewLeaseDuration to a lease in seconds (`None`: permanent).
/// IGD:1: 0 is permanent. IGD:2 (WANIPConnection:2 section 2.3.16): 0 or more
/// than 604800 means 604800.
pub fn upnp_lease(version: IgdVersion, requested: u32) -> Option<u32> {
    match version {
        IgdVersion::V1 if requested == 0 => None,
        IgdVersion::V1 => Some(requested),
        IgdVersion::V2 if requested == 0 || requested > IGD2_MAX_LEASE => Some(IGD2_MAX_LEASE),
        IgdVersion::V2 => Some(requested),
    }
}

/// PCP / NAT-PMP requested lifetime (non-zero; 0 means delete and is handled
/// before) clamped to `[min, max]` (RFC 6887 section 15, `min_lifetime` and
/// `max_lifetime`). 0xFFFFFFFF is clamped like any other value.
pub fn clamp_lifetime(requested: u32, min: u32, max: u32) -> u32 {
    requested.max(min).min(max.max(min))
}

/// Absolute expiry for a lease of `lifetime` seconds starting at `now`
/// (`None` lifetime: permanent).
pub fn expiry_at(now: u64, lifetime: Option<u32>) -> Option<u64> {
    lifetime.map(|l| now.saturating_add(u64::from(l)))
}

/// Why an internal client address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientAddrError {
    /// Not a dotted IPv4 address (host names are never resolved) (UPnP 402).
    #[error("not an IPv4 address (host names are not resolved)")]
    NotAnAddress,
    /// 0.0.0.0 (UPnP 402).
    #[error("unspecified address")]
    Unspecified,
    /// 255.255.255.255 (UPnP 402).
    #[error("broadcast address")]
    Broadcast,
    /// 127.0.0.0/8 (UPnP 402).
    #[error("loopback address")]
    Loopback,
    /// 224.0.0.0/4 (UPnP 402).
    #[error("multicast address")]
    Multicast,
    /// One of the gateway's own addresses (UPnP 606).
    #[error("the gateway's own address")]
    Gateway,
}

/// Check that `addr` may receive a mapping: not unspecified, broadcast,
/// loopback, multicast, nor one of `own` (the gateway's addresses).
pub fn validate_internal_client(addr: Ipv4Addr, own: &[Ipv4Addr]) -> Result<(), ClientAddrError> {
    if addr.is_unspecified() {
        Err(ClientAddrError::Unspecified)
    } else if addr.is_broadcast() {
        Err(ClientAddrError::Broadcast)
    } else if addr.is_loopback() {
        Err(ClientAddrError::Loopback)
    } else if addr.is_multicast() {
        Err(ClientAddrError::Multicast)
    } else if own.contains(&addr) {
        Err(ClientAddrError::Gateway)
    } else {
        Ok(())
    }
}

/// UPnP NewInternalClient: empty means the requester; otherwise a strict
/// dotted IPv4 address (never resolved), then [`validate_internal_client`].
pub fn parse_internal_client(
    text: &str,
    requester: Ipv4Addr,
    own: &[Ipv4Addr],
) -> Result<Ipv4Addr, ClientAddrError> {
    let addr = if text.is_empty() {
        requester
    } else {
        text.parse().map_err(|_| ClientAddrError::NotAnAddress)?
    };
    validate_internal_client(addr, own)?;
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Rule;
    use proptest::prelude::*;

    const A: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
    const B: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 11);
    const GW: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);

    fn table() -> MappingTable {
        MappingTable::new(TableLimits::default(), RuleSet::new())
    }

    fn req(proto: Protocol, eport: u16, client: Ipv4Addr, iport: u16) -> NewMapping {
        NewMapping {
            external: None,
            protocol: proto,
            external_port: eport,
            remote_host: None,
            internal_client: client,
            internal_port: iport,
            description: "test".into(),
            expiry: Some(1000),
            origin: Origin::Upnp,
        }
    }

    fn k(p: u16) -> MappingKey {
        key(Protocol::Tcp, p)
    }

    #[test]
    fn add_then_readd_same_client_refreshes() {
        let mut t = table();
        let o = t
            .add(req(Protocol::Tcp, 8080, A, 80), Requester::Client(A), 10)
            .unwrap();
        assert_eq!(o.status, AddStatus::Created);
        assert_eq!(o.mapping.created_at, 10);
        let mut again = req(Protocol::Tcp, 8080, A, 81);
        again.description = "new".into();
        again.expiry = Some(5000);
        let o = t.add(again, Requester::Client(A), 20).unwrap();
        assert_eq!(o.status, AddStatus::Refreshed);
        assert_eq!(o.previous.as_ref().map(|m| m.internal_port), Some(80));
        let m = t.get(k(8080)).unwrap();
        assert_eq!(
            (m.internal_port, m.description.as_str(), m.expiry),
            (81, "new", Some(5000))
        );
        assert_eq!(m.created_at, 10);
        assert_eq!(t.len(), 1);
        assert_eq!(t.count_for(A), 1);
        assert_eq!(t.next_expiry(), Some(5000));
        assert!(t.find_by_internal(A, Protocol::Tcp, 80).is_none());
        assert_eq!(
            t.find_by_internal(A, Protocol::Tcp, 81)
                .map(|m| m.external_port),
            Some(8080)
        );
    }

    #[test]
    fn other_client_or_remote_host_conflicts() {
        let mut t = MappingTable::new(
            TableLimits {
                secure_mode: false,
                ..TableLimits::default()
            },
            RuleSet::new(),
        );
        t.add(req(Protocol::Tcp, 8080, A, 80), Requester::Trusted, 0)
            .unwrap();
        assert_eq!(
            t.add(req(Protocol::Tcp, 8080, B, 80), Requester::Client(B), 0),
            Err(TableError::Conflict { holder: A })
        );
        let mut r = req(Protocol::Tcp, 8080, A, 80);
        r.remote_host = Some(Ipv4Addr::new(203, 0, 113, 5));
        assert_eq!(
            t.add(r, Requester::Trusted, 0),
            Err(TableError::Conflict { holder: A })
        );
        // Same port, other protocol: independent.
        t.add(req(Protocol::Udp, 8080, B, 80), Requester::Trusted, 0)
            .unwrap();
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn expired_entry_is_replaced_on_add() {
        let mut t = table();
        t.add(req(Protocol::Tcp, 8080, A, 80), Requester::Client(A), 0)
            .unwrap();
        let o = t
            .add(req(Protocol::Tcp, 8080, B, 80), Requester::Client(B), 1000)
            .unwrap();
        assert_eq!(o.status, AddStatus::Created);
        assert_eq!(o.previous.map(|m| m.internal_client), Some(A));
        assert_eq!(t.count_for(A), 0);
        assert_eq!(t.count_for(B), 1);
    }

    #[test]
    fn secure_mode_add_and_delete() {
        let mut t = table();
        assert_eq!(
            t.add(req(Protocol::Tcp, 8080, B, 80), Requester::Client(A), 0),
            Err(TableError::NotAuthorized {
                requester: A,
                client: B
            })
        );
        t.add(req(Protocol::Tcp, 8080, B, 80), Requester::Client(B), 0)
            .unwrap();
        assert_eq!(
            t.delete(k(8080), None, Requester::Client(A)),
            Err(TableError::NotAuthorized {
                requester: A,
                client: B
            })
        );
        assert_eq!(
            t.delete(k(9), None, Requester::Client(B)),
            Err(TableError::NotFound)
        );
        assert_eq!(
            t.delete(k(8080), None, Requester::Client(B))
                .unwrap()
                .internal_client,
            B
        );
        assert!(t.is_empty());

        t.set_limits(TableLimits {
            secure_mode: false,
            ..TableLimits::default()
        });
        t.add(req(Protocol::Tcp, 8080, B, 80), Requester::Client(A), 0)
            .unwrap();
        assert!(t.delete(k(8080), None, Requester::Client(A)).is_ok());
    }

    #[test]
    fn remote_host_matching() {
        let mut t = table();
        let rh = Ipv4Addr::new(203, 0, 113, 5);
        let mut r = req(Protocol::Tcp, 8080, A, 80);
        r.remote_host = Some(rh);
        t.add(r, Requester::Client(A), 0).unwrap();
        assert!(t.get_specific(k(8080), None).is_some());
        assert!(t.get_specific(k(8080), Some(rh)).is_some());
        assert!(t
            .get_specific(k(8080), Some(Ipv4Addr::new(203, 0, 113, 6)))
            .is_none());
        assert_eq!(
            t.delete(
                k(8080),
                Some(Ipv4Addr::new(203, 0, 113, 6)),
                Requester::Client(A)
            ),
            Err(TableError::NotFound)
        );
        assert!(t.delete(k(8080), Some(rh), Requester::Client(A)).is_ok());
    }

    #[test]
    fn zero_port_and_rules() {
        let mut rules = RuleSet::new();
        rules.push(Rule::parse("allow 1024-65535 192.168.1.0/24 0-65535").unwrap());
        rules.push(Rule::parse("deny 0-65535 0.0.0.0/0 0-65535").unwrap());
        let mut t = MappingTable::new(TableLimits::default(), rules);
        assert_eq!(
            t.add(req(Protocol::Tcp, 0, A, 80), Requester::Client(A), 0),
            Err(TableError::ZeroExternalPort)
        );
        assert_eq!(
            t.add(req(Protocol::Tcp, 80, A, 80), Requester::Client(A), 0),
            Err(TableError::Denied)
        );
        // AddAny moves a denied asked port to the nearest allowed one.
        let o = t
            .add_any(req(Protocol::Tcp, 80, A, 80), Requester::Client(A), 0)
            .unwrap();
        assert_eq!(o.mapping.external_port, 1024);
        let far = Ipv4Addr::new(10, 0, 0, 1);
        assert_eq!(
            t.add_any(req(Protocol::Tcp, 80, far, 80), Requester::Client(far), 0),
            Err(TableError::NoPortAvailable)
        );
    }

    #[test]
    fn add_any_picks_nearest_free_port() {
        let mut t = MappingTable::new(
            TableLimits {
                max_per_client: 1000,
                ..TableLimits::default()
            },
            RuleSet::new(),
        );
        for p in 5000..5010 {
            t.add(req(Protocol::Tcp, p, A, p), Requester::Client(A), 0)
                .unwrap();
        }
        for p in 4995..5000 {
            t.add(req(Protocol::Tcp, p, A, p), Requester::Client(A), 0)
                .unwrap();
        }
        // 5005 asked: up gap at 5010 (distance 5), down gap at 4994 (11).
        let o = t
            .add_any(req(Protocol::Tcp, 5005, B, 1), Requester::Client(B), 0)
            .unwrap();
        assert_eq!(o.mapping.external_port, 5010);
        // 4996 asked: down 4994 (2) beats up 5011 (15).
        let o = t
            .add_any(req(Protocol::Tcp, 4996, B, 2), Requester::Client(B), 0)
            .unwrap();
        assert_eq!(o.mapping.external_port, 4994);
        // Free asked port is taken as is; the same client's own mapping refreshes.
        let o = t
            .add_any(req(Protocol::Tcp, 7000, B, 3), Requester::Client(B), 0)
            .unwrap();
        assert_eq!(o.mapping.external_port, 7000);
        let o = t
            .add_any(req(Protocol::Tcp, 7000, B, 3), Requester::Client(B), 0)
            .unwrap();
        assert_eq!(
            (o.status, o.mapping.external_port),
            (AddStatus::Refreshed, 7000)
        );
        // Edges of the port space.
        t.add(req(Protocol::Udp, 65535, A, 1), Requester::Client(A), 0)
            .unwrap();
        let o = t
            .add_any(req(Protocol::Udp, 65535, B, 4), Requester::Client(B), 0)
            .unwrap();
        assert_eq!(o.mapping.external_port, 65534);
        t.add(req(Protocol::Udp, 1, A, 1), Requester::Client(A), 0)
            .unwrap();
        let o = t
            .add_any(req(Protocol::Udp, 1, B, 5), Requester::Client(B), 0)
            .unwrap();
        assert_eq!(o.mapping.external_port, 2);
        let o = t
            .add_any(req(Protocol::Udp, 0, B, 6), Requester::Client(B), 0)
            .unwrap();
        assert_eq!(o.mapping.external_port, 3);
    }

    #[test]
    fn quota_and_table_cap() {
        let mut t = MappingTable::new(
            TableLimits {
                secure_mode: true,
                max_per_client: 2,
                max_total: 3,
            },
            RuleSet::new(),
        );
        t.add(req(Protocol::Tcp, 1, A, 1), Requester::Client(A), 0)
            .unwrap();
        t.add(req(Protocol::Tcp, 2, A, 2), Requester::Client(A), 0)
            .unwrap();
        assert_eq!(
            t.add(req(Protocol::Tcp, 3, A, 3), Requester::Client(A), 0),
            Err(TableError::QuotaExceeded {
                client: A,
                limit: 2
            })
        );
        assert_eq!(
            t.add_any(req(Protocol::Tcp, 3, A, 3), Requester::Client(A), 0),
            Err(TableError::QuotaExceeded {
                client: A,
                limit: 2
            })
        );
        // Refresh within quota still works.
        assert!(t
            .add(req(Protocol::Tcp, 2, A, 2), Requester::Client(A), 0)
            .is_ok());
        t.add(req(Protocol::Tcp, 3, B, 3), Requester::Client(B), 0)
            .unwrap();
        assert_eq!(
            t.add(req(Protocol::Tcp, 4, B, 4), Requester::Client(B), 0),
            Err(TableError::TableFull { limit: 3 })
        );
    }

    /// The one PCP ownership rule every front end uses (MAP and PEER, IPv4 and IPv6,
    /// renewals and deletions); before, five copies of it returned two error types.
    #[test]
    fn one_nonce_rule() {
        let (a, b) = ([1u8; 12], [2u8; 12]);
        assert_eq!(check_nonce(Some(&a), Some(&a), false), Ok(()));
        assert_eq!(check_nonce(Some(&a), Some(&b), false), Err(NonceMismatch));
        assert_eq!(check_nonce(Some(&a), Some(&b), true), Err(NonceMismatch));
        // MAP may take over what UPnP or NAT-PMP made; PEER may not.
        assert_eq!(check_nonce(None, Some(&a), false), Ok(()));
        assert_eq!(check_nonce(None, Some(&a), true), Err(NonceMismatch));
        // Other protocols are not PCP's business here.
        assert_eq!(check_nonce(Some(&a), None, false), Ok(()));
        assert_eq!(TableError::from(NonceMismatch), TableError::NonceMismatch);
    }

    #[test]
    fn pcp_nonce() {
        let mut t = table();
        let mut r = req(Protocol::Udp, 4000, A, 4000);
        r.origin = Origin::Pcp { nonce: [1; 12] };
        t.add(r.clone(), Requester::Client(A), 0).unwrap();
        let mut other = r.clone();
        other.origin = Origin::Pcp { nonce: [2; 12] };
        assert_eq!(
            t.add(other, Requester::Client(A), 0),
            Err(TableError::NonceMismatch)
        );
        assert_eq!(
            t.add(r, Requester::Client(A), 0).unwrap().status,
            AddStatus::Refreshed
        );
        assert_eq!(
            t.delete_internal(A, Protocol::Udp, 4000, Some(&[2; 12])),
            Err(TableError::NonceMismatch)
        );
        assert_eq!(
            t.delete_internal(B, Protocol::Udp, 4000, Some(&[1; 12])),
            Err(TableError::NotFound)
        );
        assert!(t
            .delete_internal(A, Protocol::Udp, 4000, Some(&[1; 12]))
            .is_ok());
        assert!(t.is_empty());
    }

    #[test]
    fn index_listing_and_ranges() {
        let mut t = table();
        for p in [30, 10, 20] {
            t.add(req(Protocol::Udp, p, A, p), Requester::Client(A), 0)
                .unwrap();
            t.add(req(Protocol::Tcp, p, A, p), Requester::Client(A), 0)
                .unwrap();
        }
        let order: Vec<(Protocol, u16)> = (0..7)
            .map_while(|i| t.get_by_index(i))
            .map(|m| (m.protocol, m.external_port))
            .collect();
        use Protocol::*;
        assert_eq!(
            order,
            vec![
                (Tcp, 10),
                (Tcp, 20),
                (Tcp, 30),
                (Udp, 10),
                (Udp, 20),
                (Udp, 30)
            ]
        );
        assert!(t.get_by_index(usize::MAX).is_none());
        let l: Vec<u16> = t
            .list_range(Udp, 15, 40, 1)
            .iter()
            .map(|m| m.external_port)
            .collect();
        assert_eq!(l, vec![20]);
        assert!(t.list_range(Udp, 40, 15, 10).is_empty());
        // Deleting invalidates the index.
        t.delete(key(Tcp, 10), None, Requester::Client(A)).unwrap();
        assert_eq!(t.get_by_index(0).map(|m| m.external_port), Some(20));
    }

    #[test]
    fn delete_range_respects_secure_mode() {
        let mut t = MappingTable::new(
            TableLimits {
                secure_mode: false,
                ..TableLimits::default()
            },
            RuleSet::new(),
        );
        for p in 100..110 {
            let c = if p % 2 == 0 { A } else { B };
            t.add(req(Protocol::Tcp, p, c, p), Requester::Trusted, 0)
                .unwrap();
        }
        t.set_limits(TableLimits::default());
        let gone = t.delete_range(Protocol::Tcp, 102, 105, Requester::Client(A));
        assert_eq!(
            gone.iter().map(|m| m.external_port).collect::<Vec<_>>(),
            vec![102, 104]
        );
        assert!(t
            .delete_range(Protocol::Udp, 0, 65535, Requester::Client(A))
            .is_empty());
        let gone = t.delete_range(Protocol::Tcp, 0, 65535, Requester::Trusted);
        assert_eq!(gone.len(), 8);
        assert!(t.is_empty());
        assert_eq!(t.count_for(A), 0);
    }

    #[test]
    fn delete_all_of_a_client() {
        let mut t = table();
        t.add(req(Protocol::Tcp, 1, A, 1), Requester::Client(A), 0)
            .unwrap();
        t.add(req(Protocol::Udp, 2, A, 2), Requester::Client(A), 0)
            .unwrap();
        let mut n = req(Protocol::Udp, 3, A, 3);
        n.origin = Origin::NatPmp;
        t.add(n, Requester::Client(A), 0).unwrap();
        t.add(req(Protocol::Udp, 4, B, 4), Requester::Client(B), 0)
            .unwrap();
        let gone = t.delete_client(A, Some(Protocol::Udp), Some(OriginKind::NatPmp));
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].external_port, 3);
        let gone = t.delete_client(A, None, None);
        assert_eq!(gone.len(), 2);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn expiry_processing() {
        let mut t = table();
        for (p, e) in [(1, Some(50)), (2, Some(10)), (3, None), (4, Some(10))] {
            let mut r = req(Protocol::Tcp, p, A, p);
            r.expiry = e;
            t.add(r, Requester::Client(A), 0).unwrap();
        }
        assert_eq!(t.next_expiry(), Some(10));
        assert!(t.expire(9).is_empty());
        let gone: Vec<u16> = t.expire(10).iter().map(|m| m.external_port).collect();
        assert_eq!(gone, vec![2, 4]);
        assert_eq!(t.next_expiry(), Some(50));
        assert_eq!(t.expire(u64::MAX).len(), 1);
        assert_eq!(t.next_expiry(), None);
        assert_eq!(t.len(), 1, "permanent mapping stays");
        assert_eq!(t.get(k(3)).unwrap().remaining(100), None);
    }

    #[test]
    fn ten_thousand_mappings() {
        let mut t = MappingTable::new(
            TableLimits {
                secure_mode: true,
                max_per_client: 65_535,
                max_total: DEFAULT_MAX_TOTAL,
            },
            RuleSet::new(),
        );
        for i in 0..10_000u16 {
            let client = Ipv4Addr::new(10, 0, (i / 250) as u8, (i % 250) as u8 + 1);
            let mut r = req(Protocol::Tcp, 1000 + i, client, 2000);
            r.expiry = Some(u64::from(i % 100) + 1);
            t.add(r, Requester::Client(client), 0).unwrap();
        }
        assert_eq!(t.len(), 10_000);
        // AddAny asked inside the full block goes to its nearest edge.
        let c = Ipv4Addr::new(10, 200, 0, 1);
        let o = t
            .add_any(req(Protocol::Tcp, 1001, c, 1), Requester::Client(c), 0)
            .unwrap();
        assert_eq!(o.mapping.external_port, 999);
        for i in 0..10_000usize {
            let m = t.get_by_index(i + 1).unwrap();
            assert_eq!(usize::from(m.external_port), 1000 + i);
        }
        let first_half = t.expire(50);
        assert_eq!(first_half.len(), 5000);
        assert!(first_half.iter().all(|m| m.expiry.unwrap() <= 50));
        assert_eq!(t.len(), 5001);
        for m in t.iter().filter(|m| m.expiry.is_some()) {
            assert!(m.expiry.unwrap() > 50 || m.external_port == 999);
        }
        assert_eq!(t.expire(100).len(), 5000);
        assert_eq!(t.len(), 1, "port 999 expires at 1000");
        assert_eq!(t.expire(1000).len(), 1);
        assert!(t.is_empty());
        assert!(t.client_counts.is_empty() && t.by_client.is_empty() && t.expiries.is_empty());
    }

    #[test]
    fn lifetimes() {
        assert_eq!(upnp_lease(IgdVersion::V1, 0), None);
        assert_eq!(upnp_lease(IgdVersion::V1, 700_000), Some(700_000));
        assert_eq!(upnp_lease(IgdVersion::V2, 0), Some(604_800));
        assert_eq!(upnp_lease(IgdVersion::V2, 604_801), Some(604_800));
        assert_eq!(upnp_lease(IgdVersion::V2, 3600), Some(3600));
        assert_eq!(clamp_lifetime(1, 120, 86_400), 120);
        assert_eq!(clamp_lifetime(u32::MAX, 120, 86_400), 86_400);
        assert_eq!(clamp_lifetime(7200, 120, 86_400), 7200);
        assert_eq!(expiry_at(100, Some(20)), Some(120));
        assert_eq!(expiry_at(u64::MAX, Some(20)), Some(u64::MAX));
        assert_eq!(expiry_at(100, None), None);
    }

    #[test]
    fn internal_client_validation() {
        let own = [GW];
        let p = |s: &str| parse_internal_client(s, A, &own);
        assert_eq!(p(""), Ok(A));
        assert_eq!(p("192.168.1.11"), Ok(B));
        assert_eq!(p("nas.lan"), Err(ClientAddrError::NotAnAddress));
        assert_eq!(p(" 192.168.1.11"), Err(ClientAddrError::NotAnAddress));
        assert_eq!(p("0.0.0.0"), Err(ClientAddrError::Unspecified));
        assert_eq!(p("255.255.255.255"), Err(ClientAddrError::Broadcast));
        assert_eq!(p("127.0.0.1"), Err(ClientAddrError::Loopback));
        assert_eq!(p("239.255.255.250"), Err(ClientAddrError::Multicast));
        assert_eq!(p("192.168.1.1"), Err(ClientAddrError::Gateway));
    }

    #[test]
    fn descriptions_are_sanitized() {
        assert_eq!(sanitize_description("  a\nb\r\u{0}c\t "), "a b  c");
        let long = "é".repeat(DESCRIPTION_MAX);
        let s = sanitize_description(&long);
        assert!(s.len() <= DESCRIPTION_MAX && s.chars().all(|c| c == 'é'));
        let mut t = table();
        let mut r = req(Protocol::Tcp, 1, A, 1);
        r.description = format!("x\n{}", "y".repeat(100 * 1024));
        let o = t.add(r, Requester::Client(A), 0).unwrap();
        assert_eq!(o.mapping.description.len(), DESCRIPTION_MAX);
        assert!(o.mapping.description.starts_with("x y"));
    }

    proptest! {
        /// Random operation sequences keep every index consistent with the map.
        #[test]
        fn indices_stay_consistent(ops in proptest::collection::vec(
            (0u8..5, 1u16..40, 0u8..4, 1u64..50), 1..200)
        ) {
            let mut t = MappingTable::new(
                TableLimits { secure_mode: true, max_per_client: 8, max_total: 60 },
                RuleSet::new(),
            );
            let mut now = 0;
            for (op, port, who, dt) in ops {
                let c = Ipv4Addr::new(10, 0, 0, who + 1);
                let mut r = req(if port % 2 == 0 { Protocol::Tcp } else { Protocol::Udp }, port, c, port);
                r.expiry = Some(now + dt);
                match op {
                    0 => { let _ = t.add(r, Requester::Client(c), now); }
                    1 => { let _ = t.add_any(r, Requester::Client(c), now); }
                    2 => { let _ = t.delete(r.clone().key_of(), None, Requester::Client(c)); }
                    3 => { now += dt; t.expire(now); }
                    _ => { t.delete_client(c, None, None); }
                }
                prop_assert!(t.map.len() <= 60);
                let mut counts: HashMap<Ipv4Addr, u32> = HashMap::new();
                for (k, m) in &t.map {
                    prop_assert_eq!(*k, m.key());
                    prop_assert!(t.by_client.contains(&(m.internal_client, m.protocol, m.internal_port, m.external_port, m.external)));
                    if let Some(e) = m.expiry { prop_assert!(t.expiries.contains(&(e, *k))); }
                    *counts.entry(m.internal_client).or_default() += 1;
                }
                prop_assert_eq!(&counts, &t.client_counts);
                prop_assert!(counts.values().all(|&n| n <= 8));
                prop_assert_eq!(t.by_client.len(), t.map.len());
                prop_assert_eq!(t.expiries.len(), t.map.values().filter(|m| m.expiry.is_some()).count());
            }
        }
    }

    impl NewMapping {
        fn key_of(self) -> MappingKey {
            key(self.protocol, self.external_port)
        }
    }
}
