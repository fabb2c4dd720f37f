//! The cache of devices and services heard on the LAN.
//!
//! Entries are keyed by (USN, ST) as MiniSSDPd keys them: one device announces itself
//! once per type it implements (UDA 1.1 §1.2.2: root device, device UUID, device type,
//! each service type), each announcement with its own NT and USN.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use portgate_proto::minissdpd::{st_matches, Entry, NotificationKind};

/// Lifetime of an entry whose announcement has no CACHE-CONTROL max-age (docs/design.md:
/// 180 s, MiniSSDPd's default).
pub const DEFAULT_MAX_AGE: u32 = 180;

/// Longest lifetime honoured. UDA 1.1 §1.2.2 recommends max-age ≥ 1800; a device on
/// the LAN claiming years would otherwise pin an entry after it is gone for good.
pub const MAX_MAX_AGE: u32 = 86_400;

/// Default cap on cached entries. A home LAN has tens of devices announcing a handful
/// of types each; 2 048 leaves ample room while bounding what a flood of fake USNs can
/// make the daemon hold (each entry is at most a few KiB: SSDP lines are capped).
pub const DEFAULT_MAX_ENTRIES: usize = 2048;

/// One cached announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedDevice {
    /// LOCATION: URL of the device description.
    pub location: String,
    /// SERVER header (empty when absent).
    pub server: String,
    /// NT of the NOTIFY or ST of the search reply.
    pub st: String,
    /// USN.
    pub usn: String,
    /// When the entry expires unless announced again.
    pub expires: Instant,
    /// Who sent the announcement.
    pub source: SocketAddr,
}

impl CachedDevice {
    /// The (location, ST, USN) triple the socket protocol reports.
    pub fn entry(&self) -> Entry {
        Entry {
            location: self.location.clone(),
            st: self.st.clone(),
            usn: self.usn.clone(),
        }
    }
}

/// An announcement to store: from a NOTIFY ssdp:alive/update or a search reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// LOCATION.
    pub location: String,
    /// SERVER (empty when absent).
    pub server: String,
    /// NT or ST.
    pub st: String,
    /// USN.
    pub usn: String,
    /// CACHE-CONTROL max-age, if given.
    pub max_age: Option<u32>,
    /// Sender.
    pub source: SocketAddr,
}

/// What a cache operation changed, for notification subscribers.
pub type Change = (NotificationKind, Entry);

struct Slot {
    device: CachedDevice,
    seq: u64,
}

/// The cache: O(1) lookup by (USN, ST), O(log n) expiry and eviction.
///
/// Listing order is the order of the last announcement (oldest first); when full, the
/// entry announced longest ago is evicted.
pub struct Cache {
    max_entries: usize,
    entries: HashMap<(String, String), Slot>,
    /// seq -> key, in announcement order.
    by_age: BTreeMap<u64, (String, String)>,
    /// (expiry, seq) of every entry.
    by_expiry: BTreeSet<(Instant, u64)>,
    next_seq: u64,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("len", &self.entries.len())
            .field("max_entries", &self.max_entries)
            .finish()
    }
}

impl Cache {
    /// An empty cache holding at most `max_entries` (at least 1).
    pub fn new(max_entries: usize) -> Self {
        Self {
            max_entries: max_entries.max(1),
            entries: HashMap::new(),
            by_age: BTreeMap::new(),
            by_expiry: BTreeSet::new(),
            next_seq: 0,
        }
    }

    /// Number of entries (expired ones count until [`Cache::expire`] runs).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Inserts or refreshes an announcement. Returns what subscribers must hear: `New`
    /// for a new entry (plus `Removed` for an entry evicted to make room), `Update` when
    /// the location or server changed, nothing for a plain refresh.
    pub fn announce(&mut self, now: Instant, a: Announcement) -> Vec<Change> {
        let max_age = a.max_age.unwrap_or(DEFAULT_MAX_AGE).min(MAX_MAX_AGE);
        let expires = now + Duration::from_secs(u64::from(max_age));
        let seq = self.next_seq;
        self.next_seq += 1;
        let key = (a.usn.clone(), a.st.clone());
        let mut changes = Vec::new();
        if let Some(slot) = self.entries.get_mut(&key) {
            self.by_expiry.remove(&(slot.device.expires, slot.seq));
            self.by_age.remove(&slot.seq);
            let changed = slot.device.location != a.location || slot.device.server != a.server;
            slot.device.location = a.location;
            slot.device.server = a.server;
            slot.device.expires = expires;
            slot.device.source = a.source;
            slot.seq = seq;
            if changed {
                changes.push((NotificationKind::Update, slot.device.entry()));
            }
        } else {
            while self.entries.len() >= self.max_entries {
                let Some((&old, _)) = self.by_age.first_key_value() else {
                    break;
                };
                if let Some(gone) = self.remove_seq(old) {
                    tracing::debug!(usn = %gone.usn, st = %gone.st, "cache full, evicted oldest");
                    changes.push((NotificationKind::Removed, gone.entry()));
                }
            }
            let device = CachedDevice {
                location: a.location,
                server: a.server,
                st: a.st,
                usn: a.usn,
                expires,
                source: a.source,
            };
            changes.push((NotificationKind::New, device.entry()));
            self.entries.insert(key.clone(), Slot { device, seq });
        }
        self.by_age.insert(seq, key);
        self.by_expiry.insert((expires, seq));
        changes
    }

    fn remove_seq(&mut self, seq: u64) -> Option<CachedDevice> {
        let key = self.by_age.remove(&seq)?;
        let slot = self.entries.remove(&key)?;
        self.by_expiry.remove(&(slot.device.expires, slot.seq));
        Some(slot.device)
    }

    /// Removes the entry for (USN, ST) (a NOTIFY ssdp:byebye), if cached.
    pub fn remove(&mut self, usn: &str, st: &str) -> Option<CachedDevice> {
        let seq = self.entries.get(&(usn.to_owned(), st.to_owned()))?.seq;
        self.remove_seq(seq)
    }

    /// Removes every entry whose lifetime ended at or before `now`; returns them.
    pub fn expire(&mut self, now: Instant) -> Vec<CachedDevice> {
        let mut gone = Vec::new();
        while let Some(&(expires, seq)) = self.by_expiry.first() {
            if expires > now {
                break;
            }
            match self.remove_seq(seq) {
                Some(device) => gone.push(device),
                None => {
                    // Not reachable while the indexes agree; never loop on it.
                    self.by_expiry.remove(&(expires, seq));
                }
            }
        }
        gone
    }

    /// When the next entry expires.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.by_expiry.first().map(|&(t, _)| t)
    }

    /// Every entry, oldest announcement first.
    pub fn iter(&self) -> impl Iterator<Item = &CachedDevice> + '_ {
        self.by_age
            .values()
            .filter_map(|key| self.entries.get(key).map(|s| &s.device))
    }

    /// Looks up (USN, ST).
    pub fn get(&self, usn: &str, st: &str) -> Option<&CachedDevice> {
        self.entries
            .get(&(usn.to_owned(), st.to_owned()))
            .map(|s| &s.device)
    }

    /// Entries answering a search by type (request type 1): [`st_matches`], and
    /// `ssdp:all` matches everything.
    pub fn by_type<'a>(&'a self, st: &'a str) -> impl Iterator<Item = &'a CachedDevice> + 'a {
        let all = st.eq_ignore_ascii_case("ssdp:all");
        self.iter().filter(move |d| all || st_matches(st, &d.st))
    }

    /// Entries with this USN (request type 2).
    pub fn by_usn<'a>(&'a self, usn: &'a str) -> impl Iterator<Item = &'a CachedDevice> + 'a {
        self.iter().filter(move |d| d.usn == usn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src() -> SocketAddr {
        "10.0.0.9:1900".parse().unwrap()
    }

    fn ann(usn: &str, st: &str, loc: &str, max_age: Option<u32>) -> Announcement {
        Announcement {
            location: loc.into(),
            server: "s".into(),
            st: st.into(),
            usn: usn.into(),
            max_age,
            source: src(),
        }
    }

    #[test]
    fn new_refresh_update_byebye() {
        let t0 = Instant::now();
        let mut c = Cache::new(10);
        let ch = c.announce(t0, ann("u1", "upnp:rootdevice", "http://a/", Some(100)));
        assert_eq!(ch.len(), 1);
        assert_eq!(ch[0].0, NotificationKind::New);
        // Plain refresh: no change reported, expiry moves.
        let ch = c.announce(
            t0 + Duration::from_secs(50),
            ann("u1", "upnp:rootdevice", "http://a/", Some(100)),
        );
        assert!(ch.is_empty());
        assert_eq!(c.next_expiry(), Some(t0 + Duration::from_secs(150)));
        // New location: update.
        let ch = c.announce(t0, ann("u1", "upnp:rootdevice", "http://b/", Some(100)));
        assert_eq!(ch[0].0, NotificationKind::Update);
        assert_eq!(ch[0].1.location, "http://b/");
        assert_eq!(c.len(), 1);
        // Same USN, other ST: separate entry.
        c.announce(t0, ann("u1", "urn:x:device:y:1", "http://b/", None));
        assert_eq!(c.len(), 2);
        assert!(c.remove("u1", "upnp:rootdevice").is_some());
        assert!(c.remove("u1", "upnp:rootdevice").is_none());
        assert_eq!(c.len(), 1);
        assert_eq!(c.iter().next().unwrap().st, "urn:x:device:y:1");
    }

    #[test]
    fn expiry_default_and_explicit() {
        let t0 = Instant::now();
        let mut c = Cache::new(10);
        c.announce(t0, ann("a", "t", "l", Some(2)));
        c.announce(t0, ann("b", "t", "l", None));
        c.announce(t0, ann("c", "t", "l", Some(u32::MAX)));
        assert!(c.expire(t0 + Duration::from_secs(1)).is_empty());
        let gone = c.expire(t0 + Duration::from_secs(2));
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].usn, "a");
        assert!(c.expire(t0 + Duration::from_secs(179)).is_empty());
        let gone = c.expire(t0 + Duration::from_secs(180));
        assert_eq!(gone[0].usn, "b");
        // Capped at MAX_MAX_AGE.
        assert_eq!(
            c.next_expiry(),
            Some(t0 + Duration::from_secs(u64::from(MAX_MAX_AGE)))
        );
        assert_eq!(c.expire(t0 + Duration::from_secs(1 << 20)).len(), 1);
        assert!(c.is_empty());
        assert_eq!(c.next_expiry(), None);
    }

    #[test]
    fn eviction_drops_least_recently_announced() {
        let t0 = Instant::now();
        let mut c = Cache::new(3);
        for u in ["a", "b", "c"] {
            c.announce(t0, ann(u, "t", "l", None));
        }
        // Refresh "a": "b" becomes the oldest.
        c.announce(t0, ann("a", "t", "l", None));
        let ch = c.announce(t0, ann("d", "t", "l", None));
        assert_eq!(ch.len(), 2);
        assert_eq!(ch[0].0, NotificationKind::Removed);
        assert_eq!(ch[0].1.usn, "b");
        assert_eq!(ch[1].0, NotificationKind::New);
        let order: Vec<_> = c.iter().map(|d| d.usn.as_str()).collect();
        assert_eq!(order, ["c", "a", "d"]);
        assert_eq!(c.len(), 3);
        // Indexes stay consistent: everything expires.
        assert_eq!(c.expire(t0 + Duration::from_secs(1000)).len(), 3);
    }

    #[test]
    fn queries() {
        let t0 = Instant::now();
        let mut c = Cache::new(10);
        let igd1 = "urn:schemas-upnp-org:device:InternetGatewayDevice:1";
        let igd2 = "urn:schemas-upnp-org:device:InternetGatewayDevice:2";
        c.announce(t0, ann("uuid:1::x", igd2, "http://1/", None));
        c.announce(t0, ann("uuid:2::x", igd1, "http://2/", None));
        c.announce(t0, ann("uuid:2", "upnp:rootdevice", "http://2/", None));
        assert_eq!(c.by_type(igd1).count(), 2);
        assert_eq!(c.by_type(igd2).count(), 1);
        assert_eq!(c.by_type("ssdp:all").count(), 3);
        assert_eq!(c.by_usn("uuid:2").count(), 1);
        assert_eq!(c.by_usn("uuid:3").count(), 0);
        assert!(c.get("uuid:2", "upnp:rootdevice").is_some());
    }
}
