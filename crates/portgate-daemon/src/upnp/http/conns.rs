//! The HTTP server's connection caps, total and per client (sans-IO).
//!
//! A cap reached does not refuse the newcomer: it takes the slot of a connection that
//! is *waiting*, one that has not delivered a full request (idle between keep-alive
//! requests, or still sending one, e.g. a byte at a time). Refusing the newest instead
//! let a host that holds its connections open (idle or slowloris) lock itself, and at
//! the total cap everyone, out until their deadlines passed.
//!
//! Which waiting connection goes:
//! - at the per-client cap, the client's own oldest;
//! - at the total cap, the oldest of the client that holds the most connections.
//!
//! So a flooding host only ever closes its own connections, or the idle or incomplete
//! ones of a host holding more than it does; a host with fewer connections than another
//! is never the one that loses one. A connection whose request is being answered is
//! never closed; when every connection that could go is busy, the newcomer is refused.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

/// A connection's slot, in the order connections were admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(u64);

/// What [`ConnTable::admit`] decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission<W> {
    /// The newcomer has slot `id`; `evicted` is the handle of the connection whose slot
    /// it took (already released), which must be closed now.
    Admitted {
        /// The newcomer's slot.
        id: ConnId,
        /// The closed connection's handle.
        evicted: Option<W>,
    },
    /// A cap is reached and no connection that could make room is waiting.
    Refused,
}

#[derive(Debug)]
struct Slot<W> {
    peer: IpAddr,
    waiting: bool,
    handle: W,
}

/// Open connections with their client, state and a handle `W` (the driver's way to
/// close one).
#[derive(Debug)]
pub struct ConnTable<W> {
    max_total: usize,
    max_per_client: usize,
    next: u64,
    conns: BTreeMap<ConnId, Slot<W>>,
    per_client: HashMap<IpAddr, usize>,
}

impl<W> ConnTable<W> {
    /// A table for at most `max_total` connections, `max_per_client` from one address
    /// (each at least 1).
    pub fn new(max_total: usize, max_per_client: usize) -> Self {
        Self {
            max_total: max_total.max(1),
            max_per_client: max_per_client.max(1),
            next: 0,
            conns: BTreeMap::new(),
            per_client: HashMap::new(),
        }
    }

    /// Open connections.
    pub fn total(&self) -> usize {
        self.conns.len()
    }

    /// Open connections of `peer`.
    pub fn of(&self, peer: IpAddr) -> usize {
        self.per_client.get(&peer).copied().unwrap_or(0)
    }

    /// Admits a connection from `peer` (waiting, as it has sent nothing yet), making
    /// room as the module docs say when a cap is reached.
    pub fn admit(&mut self, peer: IpAddr, handle: W) -> Admission<W> {
        let victim = if self.of(peer) >= self.max_per_client {
            match self.oldest_waiting(|p| p == peer) {
                Some(v) => Some(v),
                None => return Admission::Refused,
            }
        } else if self.total() >= self.max_total {
            match self.waiting_of_biggest_holder() {
                Some(v) => Some(v),
                None => return Admission::Refused,
            }
        } else {
            None
        };
        let evicted = victim.and_then(|v| self.release(v));
        let id = ConnId(self.next);
        self.next += 1;
        self.conns.insert(
            id,
            Slot {
                peer,
                waiting: true,
                handle,
            },
        );
        *self.per_client.entry(peer).or_insert(0) += 1;
        Admission::Admitted { id, evicted }
    }

    /// Marks `id` waiting (idle, or its request incomplete) or busy (a full request
    /// arrived and is being answered). Unknown ids are ignored.
    pub fn set_waiting(&mut self, id: ConnId, waiting: bool) {
        if let Some(slot) = self.conns.get_mut(&id) {
            slot.waiting = waiting;
        }
    }

    /// Frees `id`'s slot; its handle, or `None` when it was already released (evicted).
    pub fn release(&mut self, id: ConnId) -> Option<W> {
        let slot = self.conns.remove(&id)?;
        if let Some(n) = self.per_client.get_mut(&slot.peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_client.remove(&slot.peer);
            }
        }
        Some(slot.handle)
    }

    fn oldest_waiting(&self, client: impl Fn(IpAddr) -> bool) -> Option<ConnId> {
        self.conns
            .iter()
            .find(|(_, s)| s.waiting && client(s.peer))
            .map(|(id, _)| *id)
    }

    /// The oldest waiting connection of the client holding the most connections (of the
    /// clients that have a waiting one).
    fn waiting_of_biggest_holder(&self) -> Option<ConnId> {
        let mut best: Option<(usize, ConnId)> = None;
        for (id, s) in self.conns.iter().filter(|(_, s)| s.waiting) {
            let held = self.of(s.peer);
            // Oldest first: a later connection wins only with strictly more held.
            match best {
                Some((most, _)) if held <= most => {}
                _ => best = Some((held, *id)),
            }
        }
        best.map(|(_, id)| id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 77, 0, last))
    }

    fn admitted(a: Admission<u32>) -> (ConnId, Option<u32>) {
        match a {
            Admission::Admitted { id, evicted } => (id, evicted),
            Admission::Refused => panic!("refused"),
        }
    }

    #[test]
    fn per_client_cap_closes_the_clients_own_oldest_waiting_connection() {
        let mut t = ConnTable::new(100, 3);
        let ids: Vec<ConnId> = (0..3).map(|h| admitted(t.admit(ip(2), h)).0).collect();
        // The oldest is answering a request: the next oldest waiting one goes.
        t.set_waiting(ids[0], false);
        let (_, evicted) = admitted(t.admit(ip(2), 3));
        assert_eq!(evicted, Some(1));
        assert_eq!(t.of(ip(2)), 3);
        // Another client is not touched by this client's cap.
        let (_, evicted) = admitted(t.admit(ip(3), 10));
        assert_eq!(evicted, None);
        // Every connection of the client busy: refused.
        let busy: Vec<ConnId> = t.conns.keys().copied().collect();
        for id in busy {
            t.set_waiting(id, false);
        }
        assert_eq!(t.admit(ip(2), 4), Admission::Refused);
        assert_eq!(t.release(ids[1]), None, "already evicted");
        assert_eq!(t.release(ids[0]), Some(0));
        assert_eq!(t.total(), 3);
    }

    #[test]
    fn total_cap_closes_the_oldest_waiting_connection_of_the_biggest_holder() {
        let mut t = ConnTable::new(8, 32);
        // A quiet host holds two (the oldest of all), a flooder six.
        admitted(t.admit(ip(9), 90));
        admitted(t.admit(ip(9), 91));
        for h in 0..6 {
            admitted(t.admit(ip(66), h));
        }
        // The quiet host, a third host and the flooder itself all take a flooder's
        // slot, oldest first, while it holds the most; the quiet host keeps its own.
        assert_eq!(admitted(t.admit(ip(9), 92)).1, Some(0));
        assert_eq!(admitted(t.admit(ip(7), 70)).1, Some(1));
        assert_eq!(admitted(t.admit(ip(66), 6)).1, Some(2));
        assert_eq!(admitted(t.admit(ip(7), 71)).1, Some(3));
        assert_eq!((t.of(ip(9)), t.of(ip(7)), t.of(ip(66))), (3, 2, 3));
        // A tie between the biggest holders: the oldest waiting connection of theirs.
        assert_eq!(admitted(t.admit(ip(7), 72)).1, Some(90));
        // The flooder's are all busy now: of the hosts with a waiting connection, the
        // third one holds the most (three, the quiet host two) and loses its oldest.
        for id in t.conns.keys().copied().collect::<Vec<_>>() {
            if t.conns.get(&id).is_some_and(|s| s.peer == ip(66)) {
                t.set_waiting(id, false);
            }
        }
        assert_eq!(admitted(t.admit(ip(5), 50)).1, Some(70));
        assert_eq!(t.total(), 8);
    }

    #[test]
    fn total_cap_with_every_connection_busy_refuses() {
        let mut t = ConnTable::new(2, 32);
        let a = admitted(t.admit(ip(2), 0)).0;
        let b = admitted(t.admit(ip(3), 1)).0;
        t.set_waiting(a, false);
        t.set_waiting(b, false);
        assert_eq!(t.admit(ip(4), 2), Admission::Refused);
        t.set_waiting(b, true);
        assert_eq!(admitted(t.admit(ip(4), 2)).1, Some(1));
    }
}
