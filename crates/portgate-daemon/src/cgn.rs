//! CGN mode: a pool of external addresses shared by many subscribers.
//!
//! A carrier-grade NAT (RFC 6888) serves subscribers (CPEs, or hosts behind one)
//! from a pool of external addresses. This module is the policy of that mode, kept
//! apart from the mapping table and the gateway, which call it through two hooks
//! ([`Cgn::place`] from `Gateway::map`, [`Cgn::third_party_allowed`] from the PCP
//! handler):
//!
//! - **Paired pooling** (RFC 4787 REQ-2): a subscriber always gets the same external
//!   address. The pairing is a function of the subscriber's address and the
//!   configuration, not a table: subscriber number `i` (its offset in
//!   `cgn_subscribers`) pairs with pool address `i mod N` (the pool sorted, `N`
//!   addresses). Consecutive subscribers go round the pool, so any run of
//!   consecutively numbered subscribers is spread evenly (the counts per address differ
//!   by at most one), and a restart (or another node reading the same configuration)
//!   gives every subscriber the same address again, with nothing stored.
//! - **A port set per subscriber** (in the spirit of RFC 7753's port sets): on its
//!   paired address subscriber `i` owns the block of `cgn_port_quota` ports starting at
//!   `first + (i div N) * quota`, where `first..=last` is `cgn_port_range`. Blocks of
//!   the subscribers sharing an address never overlap. A MAP's suggested port is
//!   honoured inside the block; otherwise the nearest free port of the block is given;
//!   a full block is the subscriber's quota (PCP USER_EX_QUOTA, RFC 6887 §7.4). With
//!   PREFER_FAILURE a port outside the block is CANNOT_PROVIDE_EXTERNAL.
//! - **THIRD_PARTY** (RFC 6887 §13.1) from CPE proxies: only sources in
//!   `cgn_thirdparty_from` may name another host, and only a subscriber; anything else
//!   is NOT_AUTHORIZED.
//! - **A request rate per source** ([`RateLimit`], `cgn_request_rate`, default
//!   [`DEFAULT_REQUEST_RATE`] per second): the requests of a source past its rate in
//!   the current second are dropped unanswered before any table or kernel work (PCP
//!   clients retransmit with backoff, RFC 6887 §8.1.1), so one flooding subscriber
//!   costs the others little more than the reads of its datagrams. The kernel
//!   enforces the same rate first ([`CgnConfig::kernel_request_limit`]: a per-source
//!   meter in front of UDP 5351), so a flood past it never reaches the daemon's socket.
//!
//! The kernel side: mappings of the pool are keyed by external address, protocol and
//! port (`portgate_nft`'s `fwd4c` map). The subscribers' outbound SNAT stays the
//! admin's; docs/scale.md gives the nftables rules that use the same pairing.

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;

use crate::table::{MappingKey, MappingTable, NewMapping, TableError};

/// The `cgn_*` keys of the configuration file, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgnConfig {
    /// `cgn_mode` (default no).
    pub enabled: bool,
    /// `cgn_external_pool`: addresses and prefixes (comma or blank separated).
    pub pool: Vec<(Ipv4Addr, u8)>,
    /// `cgn_subscribers`: the subscribers' prefix.
    pub subscribers: Option<(Ipv4Addr, u8)>,
    /// `cgn_port_range` (default 1024-65535): the ports given out as port sets.
    pub ports: (u16, u16),
    /// `cgn_port_quota`: ports per subscriber (default: the most that fit).
    pub port_quota: Option<u16>,
    /// `cgn_thirdparty_from`: prefixes of the CPE proxies allowed to use THIRD_PARTY
    /// (with `pcp_allow_thirdparty=yes`).
    pub thirdparty_from: Vec<(Ipv4Addr, u8)>,
    /// `cgn_natpmp` (default no): serve NAT-PMP too in CGN mode.
    pub natpmp: bool,
    /// `cgn_upnp` (default no): serve UPnP IGD too in CGN mode.
    pub upnp: bool,
    /// `cgn_request_rate` (default [`DEFAULT_REQUEST_RATE`]; 0: no limit): NAT-PMP/PCP
    /// requests per second one source may make.
    pub request_rate: u32,
}

/// Default of `cgn_request_rate`: requests per second per source.
pub const DEFAULT_REQUEST_RATE: u32 = 100;

/// Sources the kernel's request limit tracks at once (those heard from in its last 10
/// seconds); past that, new sources go unlimited in the kernel (still limited by the
/// daemon) until old ones leave.
pub const KERNEL_LIMIT_SOURCES: u32 = 262_144;

impl Default for CgnConfig {
    fn default() -> Self {
        CgnConfig {
            enabled: false,
            pool: Vec::new(),
            subscribers: None,
            ports: (1024, 65535),
            port_quota: None,
            thirdparty_from: Vec::new(),
            natpmp: false,
            upnp: false,
            request_rate: DEFAULT_REQUEST_RATE,
        }
    }
}

/// Most addresses a pool may hold (a /16).
pub const MAX_POOL: usize = 65_536;

fn prefix(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (a, len) = match s.split_once('/') {
        Some((a, l)) => (
            a,
            l.parse::<u8>()
                .ok()
                .filter(|l| *l <= 32)
                .ok_or_else(|| format!("bad prefix length in '{s}'"))?,
        ),
        None => (s, 32),
    };
    let a: Ipv4Addr = a
        .parse()
        .map_err(|_| format!("'{s}' is not an IPv4 address"))?;
    let mask = mask(len);
    if u32::from(a) & !mask != 0 {
        return Err(format!("'{s}' has host bits set"));
    }
    Ok((a, len))
}

fn mask(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn prefixes(v: &str) -> Result<Vec<(Ipv4Addr, u8)>, String> {
    v.split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|p| !p.is_empty())
        .map(prefix)
        .collect()
}

fn yes_no(v: &str) -> Result<bool, String> {
    match v {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("expected yes or no".to_owned()),
    }
}

fn show(list: &[(Ipv4Addr, u8)]) -> String {
    list.iter()
        .map(|(a, l)| format!("{a}/{l}"))
        .collect::<Vec<_>>()
        .join(",")
}

impl CgnConfig {
    /// Whether `key` is one of ours.
    pub fn owns(key: &str) -> bool {
        key.starts_with("cgn_")
    }

    /// Sets one `cgn_*` key from its value; `Err` says why the value is bad (an
    /// unknown `cgn_*` key is `Ok(false)`).
    pub fn set(&mut self, key: &str, v: &str) -> Result<bool, String> {
        match key {
            "cgn_mode" => self.enabled = yes_no(v)?,
            "cgn_external_pool" => self.pool.extend(prefixes(v)?),
            "cgn_subscribers" => self.subscribers = Some(prefix(v)?),
            "cgn_port_range" => {
                let (a, b) = v.split_once('-').ok_or("expected FIRST-LAST")?;
                let port = |p: &str| p.trim().parse::<u16>().ok().filter(|p| *p > 0);
                match (port(a), port(b)) {
                    (Some(a), Some(b)) if a <= b => self.ports = (a, b),
                    _ => return Err("expected FIRST-LAST, 1 <= FIRST <= LAST <= 65535".into()),
                }
            }
            "cgn_port_quota" => {
                self.port_quota = Some(
                    v.parse::<u16>()
                        .ok()
                        .filter(|q| *q > 0)
                        .ok_or("expected 1..65535")?,
                )
            }
            "cgn_thirdparty_from" => self.thirdparty_from.extend(prefixes(v)?),
            "cgn_natpmp" => self.natpmp = yes_no(v)?,
            "cgn_upnp" => self.upnp = yes_no(v)?,
            "cgn_request_rate" => {
                self.request_rate = v.parse::<u32>().map_err(|_| "expected a number")?
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The keys as configuration lines (`key=value`), for the effective configuration.
    pub fn lines(&self) -> Vec<(&'static str, Option<String>)> {
        let yn = |b: bool| Some(if b { "yes" } else { "no" }.to_owned());
        let list = |l: &[(Ipv4Addr, u8)]| (!l.is_empty()).then(|| show(l));
        vec![
            ("cgn_mode", yn(self.enabled)),
            ("cgn_external_pool", list(&self.pool)),
            (
                "cgn_subscribers",
                self.subscribers.map(|(a, l)| format!("{a}/{l}")),
            ),
            (
                "cgn_port_range",
                Some(format!("{}-{}", self.ports.0, self.ports.1)),
            ),
            ("cgn_port_quota", self.port_quota.map(|q| q.to_string())),
            ("cgn_thirdparty_from", list(&self.thirdparty_from)),
            ("cgn_natpmp", yn(self.natpmp)),
            ("cgn_upnp", yn(self.upnp)),
            ("cgn_request_rate", Some(self.request_rate.to_string())),
        ]
    }

    /// Whether NAT-PMP is served: off in CGN mode unless `cgn_natpmp`.
    pub fn serves_natpmp(&self) -> bool {
        !self.enabled || self.natpmp
    }

    /// Whether UPnP IGD is served: off in CGN mode unless `cgn_upnp`.
    pub fn serves_upnp(&self) -> bool {
        !self.enabled || self.upnp
    }

    /// The kernel's share of `cgn_request_rate`: the same rate per source (a bucket of
    /// one second's worth) enforced by nftables in front of UDP 5351, so that a flood
    /// is dropped before it reaches the daemon's socket ([`portgate_nft::RequestLimit`]).
    /// `None` outside CGN mode or with no limit (`cgn_request_rate=0`).
    pub fn kernel_request_limit(&self) -> Option<portgate_nft::RequestLimit> {
        (self.enabled && self.request_rate > 0).then_some(portgate_nft::RequestLimit {
            port: portgate_proto::natpmp::SERVER_PORT,
            rate: self.request_rate,
            burst: self.request_rate,
            sources: KERNEL_LIMIT_SOURCES,
        })
    }

    /// The mode's policy, checked (`None` when CGN mode is off).
    pub fn build(&self) -> Result<Option<Cgn>, String> {
        if !self.enabled {
            return Ok(None);
        }
        Cgn::new(self).map(Some)
    }
}

/// Requests per source and second (a fixed one-second window; `now` in seconds).
#[derive(Debug, Default)]
pub struct RateLimit {
    second: u64,
    counts: HashMap<Ipv4Addr, u32>,
}

impl RateLimit {
    /// Whether one more request from `source` fits `rate` per second at `now` (0: no
    /// limit); counts it when it does.
    pub fn admit(&mut self, source: Ipv4Addr, now: u64, rate: u32) -> bool {
        if rate == 0 {
            return true;
        }
        if now != self.second {
            self.second = now;
            self.counts.clear();
        }
        let c = self.counts.entry(source).or_insert(0);
        if *c >= rate {
            return false;
        }
        *c += 1;
        true
    }
}

/// What a subscriber is paired with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pairing {
    /// Its external address.
    pub external: Ipv4Addr,
    /// Its port set on that address.
    pub ports: RangeInclusive<u16>,
}

/// The CGN policy: pool, pairing, port sets, THIRD_PARTY sources. See the module docs.
#[derive(Clone, PartialEq, Eq)]
pub struct Cgn {
    pool: Vec<Ipv4Addr>,
    base: u32,
    size: u64,
    first_port: u16,
    quota: u16,
    proxies: Vec<(u32, u32)>,
}

impl fmt::Debug for Cgn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cgn")
            .field("pool", &self.pool.len())
            .field("subscribers", &self.size)
            .field("quota", &self.quota)
            .finish_non_exhaustive()
    }
}

impl Cgn {
    /// Checks the configuration: a non-empty pool of at most [`MAX_POOL`] addresses,
    /// a subscriber prefix, and port sets that fit the port range for every subscriber
    /// of the prefix.
    pub fn new(cfg: &CgnConfig) -> Result<Cgn, String> {
        let mut pool = Vec::new();
        for &(a, len) in &cfg.pool {
            let count = 1u64 << (32 - u32::from(len));
            if pool.len() as u64 + count > MAX_POOL as u64 {
                return Err(format!("cgn_external_pool: more than {MAX_POOL} addresses"));
            }
            let base = u32::from(a);
            pool.extend((0..count).map(|i| Ipv4Addr::from(base.wrapping_add(i as u32))));
        }
        pool.sort();
        pool.dedup();
        if pool.is_empty() {
            return Err("cgn_mode=yes needs cgn_external_pool".into());
        }
        let (sub, len) = cfg
            .subscribers
            .ok_or("cgn_mode=yes needs cgn_subscribers")?;
        let size = 1u64 << (32 - u32::from(len));
        let n = pool.len() as u64;
        let per_address = size.div_ceil(n);
        let (first, last) = cfg.ports;
        let range = u64::from(last - first) + 1;
        let quota = match cfg.port_quota {
            Some(q) => u64::from(q),
            None => range / per_address,
        };
        if quota == 0 || per_address * quota > range {
            return Err(format!(
                "cgn: {per_address} subscribers per pool address (cgn_subscribers over \
                 {n} addresses) do not get {} ports each within cgn_port_range ({range} ports)",
                quota.max(1)
            ));
        }
        Ok(Cgn {
            pool,
            base: u32::from(sub),
            size,
            first_port: first,
            quota: u16::try_from(quota).unwrap_or(u16::MAX),
            proxies: cfg
                .thirdparty_from
                .iter()
                .map(|&(a, l)| (u32::from(a), mask(l)))
                .collect(),
        })
    }

    /// The pool, sorted.
    pub fn pool(&self) -> &[Ipv4Addr] {
        &self.pool
    }

    /// Ports per subscriber.
    pub fn quota(&self) -> u16 {
        self.quota
    }

    /// Most mappings the pool can hold: every port of every set, TCP and UDP.
    pub fn capacity(&self) -> u64 {
        self.size.min(u64::from(u32::MAX)) * u64::from(self.quota) * 2
    }

    /// The external address and port set of `subscriber`; `None` for an address
    /// outside `cgn_subscribers`.
    pub fn pair(&self, subscriber: Ipv4Addr) -> Option<Pairing> {
        let offset = u64::from(u32::from(subscriber).wrapping_sub(self.base));
        if offset >= self.size {
            return None;
        }
        let n = self.pool.len() as u64;
        let external = *self.pool.get(usize::try_from(offset % n).ok()?)?;
        let start = u64::from(self.first_port) + (offset / n) * u64::from(self.quota);
        let end = start + u64::from(self.quota) - 1;
        Some(Pairing {
            external,
            ports: u16::try_from(start).ok()?..=u16::try_from(end).ok()?,
        })
    }

    /// Whether `source` may create mappings for `subscriber` with THIRD_PARTY: the
    /// source is a configured CPE proxy and the named host a subscriber.
    pub fn third_party_allowed(&self, source: Ipv4Addr, subscriber: Ipv4Addr) -> bool {
        let s = u32::from(source);
        self.proxies.iter().any(|&(net, m)| s & m == net) && self.pair(subscriber).is_some()
    }

    /// The hook of `Gateway::map` in CGN mode: puts `req` on its subscriber's paired
    /// address and inside its port set. A suggested port inside the set is kept (the
    /// table then decides as usual: refresh, conflict); otherwise, when `any`, the
    /// nearest port of the set that is free (or already this mapping's) is chosen.
    /// Errors: not a subscriber, or a mapping restricted to a remote host (PCP FILTER,
    /// PEER), which the pool's map cannot hold ([`TableError::Denied`]); the set is full
    /// ([`TableError::QuotaExceeded`]); an exact port outside the set
    /// ([`TableError::OutsidePortSet`]).
    pub fn place(
        &self,
        req: &mut NewMapping,
        table: &MappingTable,
        any: bool,
        now: u64,
    ) -> Result<(), TableError> {
        let pairing = self.pair(req.internal_client).ok_or(TableError::Denied)?;
        if req.remote_host.is_some() {
            // `fwd4c` has no remote host component: not installable on the pool.
            return Err(TableError::Denied);
        }
        req.external = Some(pairing.external);
        let usable = |port: u16| match table.get(MappingKey {
            external: req.external,
            protocol: req.protocol,
            external_port: port,
        }) {
            None => true,
            Some(m) => {
                m.is_expired(now)
                    || (m.internal_client == req.internal_client
                        && m.internal_port == req.internal_port)
            }
        };
        let (lo, hi) = (*pairing.ports.start(), *pairing.ports.end());
        let inside = pairing.ports.contains(&req.external_port);
        if inside && (!any || usable(req.external_port)) {
            return Ok(());
        }
        if !any {
            return Err(TableError::OutsidePortSet {
                external: pairing.external,
            });
        }
        let asked = req.external_port.clamp(lo, hi);
        for d in 0..=(hi - lo) {
            let up = asked.checked_add(d).filter(|p| *p <= hi);
            let down = asked.checked_sub(d).filter(|p| *p >= lo && d > 0);
            if let Some(p) = up.into_iter().chain(down).find(|&p| usable(p)) {
                req.external_port = p;
                return Ok(());
            }
        }
        Err(TableError::QuotaExceeded {
            client: req.internal_client,
            limit: u32::from(self.quota),
        })
    }
}

#[cfg(test)]
mod tests;
