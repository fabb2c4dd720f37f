//! An in-memory [`Firewall`] with a virtual clock, for unit tests of the daemon.

use std::collections::HashMap;
use std::time::Duration;

use crate::types::{Change, Mapping, MappingEntry, MappingKey, Pinhole, PinholeEntry, PinholeKey};
use crate::{Firewall, FirewallError};

#[derive(Debug, Clone, Copy)]
struct Slot<T> {
    item: T,
    /// Virtual time at which the kernel would expire it.
    expires_at: Option<Duration>,
    packets: u64,
    bytes: u64,
}

/// A [`Firewall`] that keeps mappings in memory.
///
/// Time is virtual: [`MemoryFirewall::advance`] moves it forward and expires entries as
/// the kernel would. [`MemoryFirewall::add_traffic`] feeds counters, and
/// [`MemoryFirewall::drop_table`] simulates someone deleting our table, after which
/// changes fail with [`FirewallError::TableMissing`] until `init` runs again.
#[derive(Debug, Default)]
pub struct MemoryFirewall {
    initialised: bool,
    now: Duration,
    mappings: HashMap<MappingKey, Slot<Mapping>>,
    pinholes: HashMap<PinholeKey, Slot<Pinhole>>,
    transactions: u64,
    rules_flushed: bool,
}

impl MemoryFirewall {
    /// An empty firewall (not yet initialised).
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the virtual clock forward, expiring what runs out.
    pub fn advance(&mut self, by: Duration) {
        self.now = self.now.saturating_add(by);
        let now = self.now;
        self.mappings
            .retain(|_, s| s.expires_at.map_or(true, |t| t > now));
        self.pinholes
            .retain(|_, s| s.expires_at.map_or(true, |t| t > now));
    }

    /// Counts traffic through a mapping, as the kernel's per-element counter would.
    /// Returns false when there is no such mapping.
    pub fn add_traffic(&mut self, key: &MappingKey, packets: u64, bytes: u64) -> bool {
        match self.mappings.get_mut(key) {
            Some(s) => {
                s.packets += packets;
                s.bytes += bytes;
                true
            }
            None => false,
        }
    }

    /// Simulates the removal of our table by someone else.
    pub fn drop_table(&mut self) {
        self.initialised = false;
        self.mappings.clear();
        self.pinholes.clear();
    }

    /// Simulates a firewall reload that flushes our rules but keeps the maps and their
    /// elements ([`Firewall::verify`] then says no until `init` runs again).
    pub fn flush_rules(&mut self) {
        self.rules_flushed = true;
    }

    /// Number of successful transactions so far (each `apply` is one).
    pub fn transactions(&self) -> u64 {
        self.transactions
    }

    fn check(&self) -> Result<(), FirewallError> {
        if self.initialised {
            Ok(())
        } else {
            Err(FirewallError::TableMissing("memory".to_owned()))
        }
    }

    fn slot<T>(&self, item: T, timeout: Option<Duration>) -> Slot<T> {
        Slot {
            item,
            expires_at: timeout.map(|t| self.now.saturating_add(t)),
            packets: 0,
            bytes: 0,
        }
    }

    fn remaining(&self, expires_at: Option<Duration>) -> Option<Duration> {
        expires_at.map(|t| t.saturating_sub(self.now))
    }
}

impl Firewall for MemoryFirewall {
    fn init(&mut self) -> Result<(), FirewallError> {
        self.initialised = true;
        self.rules_flushed = false;
        Ok(())
    }

    fn verify(&mut self) -> Result<bool, FirewallError> {
        Ok(self.initialised && !self.rules_flushed)
    }

    fn apply(&mut self, changes: &[Change]) -> Result<(), FirewallError> {
        self.check()?;
        // All or nothing: nothing here can fail after the check.
        for c in changes {
            match *c {
                Change::Put(m) => {
                    // Like nftables on Linux 6.12+: same target, counters carry on.
                    let mut s = self.slot(m, m.timeout);
                    if let Some(old) = self.mappings.get(&m.key).filter(|o| {
                        (o.item.internal_addr, o.item.internal_port)
                            == (m.internal_addr, m.internal_port)
                    }) {
                        (s.packets, s.bytes) = (old.packets, old.bytes);
                    }
                    self.mappings.insert(m.key, s);
                }
                Change::Remove(k) => {
                    self.mappings.remove(&k);
                }
                Change::PutPinhole(p) => {
                    let mut s = self.slot(p, p.timeout);
                    if let Some(old) = self.pinholes.get(&p.key) {
                        (s.packets, s.bytes) = (old.packets, old.bytes);
                    }
                    self.pinholes.insert(p.key, s);
                }
                Change::RemovePinhole(k) => {
                    self.pinholes.remove(&k);
                }
            }
        }
        self.transactions += 1;
        Ok(())
    }

    fn list(&mut self) -> Result<Vec<MappingEntry>, FirewallError> {
        self.check()?;
        let mut v: Vec<MappingEntry> = self
            .mappings
            .values()
            .map(|s| MappingEntry {
                mapping: s.item,
                expires_in: self.remaining(s.expires_at),
                packets: s.packets,
                bytes: s.bytes,
            })
            .collect();
        v.sort_by_key(|e| e.mapping.key);
        Ok(v)
    }

    fn list_pinholes(&mut self) -> Result<Vec<PinholeEntry>, FirewallError> {
        self.check()?;
        let mut v: Vec<PinholeEntry> = self
            .pinholes
            .values()
            .map(|s| PinholeEntry {
                pinhole: s.item,
                expires_in: self.remaining(s.expires_at),
                packets: s.packets,
                bytes: s.bytes,
            })
            .collect();
        v.sort_by_key(|e| e.pinhole.key);
        Ok(v)
    }

    fn shutdown(&mut self, keep: bool) -> Result<(), FirewallError> {
        if !keep {
            self.drop_table();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::L4Proto;
    use std::net::Ipv4Addr;

    fn m(port: u16, timeout: Option<u64>) -> Mapping {
        Mapping {
            key: MappingKey {
                proto: L4Proto::UDP,
                external_port: port,
                remote: None,
                external: None,
            },
            internal_addr: Ipv4Addr::new(10, 0, 0, 5),
            internal_port: port,
            timeout: timeout.map(Duration::from_secs),
        }
    }

    #[test]
    fn needs_init() {
        let mut fw = MemoryFirewall::new();
        assert!(matches!(
            fw.put(&m(1, None)),
            Err(FirewallError::TableMissing(_))
        ));
        fw.init().unwrap();
        fw.put(&m(1, None)).unwrap();
        fw.drop_table();
        assert!(matches!(fw.list(), Err(FirewallError::TableMissing(_))));
    }

    #[test]
    fn expiry_counters_and_replace() {
        let mut fw = MemoryFirewall::new();
        fw.init().unwrap();
        fw.apply(&[Change::Put(m(1, Some(10))), Change::Put(m(2, None))])
            .unwrap();
        assert_eq!(fw.transactions(), 1);
        assert!(fw.add_traffic(&m(1, None).key, 3, 300));
        fw.advance(Duration::from_secs(4));
        let l = fw.list().unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].expires_in, Some(Duration::from_secs(6)));
        assert_eq!((l[0].packets, l[0].bytes), (3, 300));
        assert_eq!(l[1].expires_in, None);
        // A refresh (same target): the new timeout, counters carry on.
        fw.put(&m(1, Some(10))).unwrap();
        let l = fw.list().unwrap();
        assert_eq!(l[0].expires_in, Some(Duration::from_secs(10)));
        assert_eq!((l[0].packets, l[0].bytes), (3, 300));
        // Another target: replaced, counters restart.
        let mut moved = m(1, Some(10));
        moved.internal_port = 9;
        fw.put(&moved).unwrap();
        fw.advance(Duration::from_secs(9));
        let l = fw.list().unwrap();
        assert_eq!(l[0].expires_in, Some(Duration::from_secs(1)));
        assert_eq!((l[0].mapping.internal_port, l[0].packets), (9, 0));
        fw.advance(Duration::from_secs(1));
        assert_eq!(fw.list().unwrap().len(), 1);
        fw.remove(&m(2, None).key).unwrap();
        fw.remove(&m(2, None).key).unwrap();
        assert!(fw.list().unwrap().is_empty());
    }

    #[test]
    fn reconcile_default_method() {
        let mut fw = MemoryFirewall::new();
        fw.init().unwrap();
        fw.apply(&[Change::Put(m(1, None)), Change::Put(m(2, None))])
            .unwrap();
        let r = fw.reconcile(&[m(2, Some(5)), m(3, Some(5))]).unwrap();
        assert_eq!((r.adopted, r.added, r.removed), (1, 1, 1));
        let ports: Vec<u16> = fw
            .list()
            .unwrap()
            .iter()
            .map(|e| e.mapping.key.external_port)
            .collect();
        assert_eq!(ports, vec![2, 3]);
    }
}
