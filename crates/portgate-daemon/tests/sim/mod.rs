//! A simulated LAN for the client/daemon test pair: one clock, an in-memory network
//! that moves datagrams (and whole HTTP exchanges) between portgate-client's sans-IO
//! cores and the daemon core ([`core::Core`], the only caller of the daemon's API),
//! and the in-memory kernel. Nothing here sleeps or opens a socket: time jumps from
//! one event to the next. The fuzz target `gateway_steps` includes this module by path.

#![allow(dead_code)]

pub mod core;

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use portgate_client::http::parse_url;
use portgate_client::transaction::Transaction;
use portgate_client::upnp::actions::Call;
use portgate_client::ClientError;

use self::core::{Core, CoreConfig, Entry, Kernel, Restored, HTTP_PORT};

/// The gateway's LAN address.
pub const LAN_GW: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// The gateway's external address.
pub const EXT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
/// Where NAT-PMP and PCP requests go.
pub const PMP_SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(LAN_GW), 5351);
/// Where announcements go (RFC 6886 §3.2.1).
pub const ANNOUNCE_GROUP: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(224, 0, 0, 1)), 5350);
/// The WANIPConnection:2 service type.
pub const WANIP2: &str = "urn:schemas-upnp-org:service:WANIPConnection:2";

/// LAN host number `n` (10.77.0.n+1).
pub fn host(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 77, 0, n.saturating_add(1))
}

/// A socket of LAN host `n`.
pub fn sock(n: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(host(n)), port)
}

/// Whether two times are at most a second apart (a lease in whole seconds against the
/// kernel's timeout).
pub fn within_a_second(a: Duration, b: Duration) -> bool {
    a.max(b) - a.min(b) <= Duration::from_secs(1)
}

/// A datagram on the wire.
#[derive(Debug, Clone)]
pub struct Datagram {
    /// When it arrives.
    pub at: Duration,
    /// Sender.
    pub from: SocketAddr,
    /// Receiver (the announcement group for multicasts).
    pub to: SocketAddr,
    /// Payload.
    pub bytes: Vec<u8>,
}

/// The simulated world. See the module docs.
pub struct World {
    /// Simulated time since the origin.
    pub t: Duration,
    origin: Instant,
    /// The daemon's settings (the lease file lives in `dir`).
    pub cfg: CoreConfig,
    /// The kernel (replaced by an empty one on a reboot).
    pub kernel: Kernel,
    /// The daemon (`None` while it is down).
    pub core: Option<Core>,
    /// One-way delay of the network.
    pub latency: Duration,
    /// Datagrams in flight, in arrival order.
    wire: VecDeque<Datagram>,
    /// Datagrams delivered to LAN hosts, not yet read (announcements included).
    pub mailbox: Vec<Datagram>,
    /// How many of the next datagrams sent to the gateway are lost.
    pub lose_to_gateway: usize,
    /// Holds the lease file.
    _dir: tempfile::TempDir,
}

impl World {
    /// A started gateway with a lease file (`persist`) or without, secure mode, four
    /// mappings per client, lifetimes clamped to 60 s..1 day.
    pub fn new(persist: bool) -> World {
        Self::with_config(persist, |_| {})
    }

    /// As [`World::new`], with `tune` changing the settings before the start.
    pub fn with_config(persist: bool, tune: impl FnOnce(&mut CoreConfig)) -> World {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let origin = Instant::now();
        let mut cfg = CoreConfig {
            lan: (LAN_GW, 24),
            external: Some(EXT),
            allow_private_external: true,
            secure_mode: true,
            max_per_client: 4,
            max_total: 1000,
            min_lifetime: 60,
            max_lifetime: 86_400,
            rules: vec![
                "allow 1024-65535 10.77.0.0/24 1024-65535".to_owned(),
                "deny 0-65535 0.0.0.0/0 0-65535".to_owned(),
            ],
            lease_file: persist.then(|| dir.path().join("portgated.leases")),
            origin,
        };
        tune(&mut cfg);
        let mut w = World {
            t: Duration::ZERO,
            origin,
            cfg,
            kernel: Kernel::new(),
            core: None,
            latency: Duration::from_millis(1),
            wire: VecDeque::new(),
            mailbox: Vec::new(),
            lose_to_gateway: 0,
            _dir: dir,
        };
        w.boot();
        w
    }

    /// The client's clock at the current simulated time.
    pub fn now(&self) -> Instant {
        self.origin + self.t
    }

    /// Starts the daemon on the current kernel; what it restored.
    pub fn boot(&mut self) -> Restored {
        let (core, restored) = Core::start(&self.cfg, &self.kernel, self.t)
            .unwrap_or_else(|e| panic!("the gateway does not start: {e}"));
        self.core = Some(core);
        restored
    }

    /// `kill -9`: the daemon is gone, the kernel keeps its elements (their timeouts
    /// still run), the lease file keeps what was appended.
    pub fn crash(&mut self) {
        self.core = None;
    }

    /// A router reboot: the daemon and the kernel's state are gone.
    pub fn power_cycle(&mut self) {
        self.core = None;
        self.kernel = Kernel::new();
    }

    /// The daemon, which must be up.
    pub fn core(&mut self) -> &mut Core {
        match self.core.as_mut() {
            Some(c) => c,
            None => panic!("the daemon is down"),
        }
    }

    /// The gateway's table.
    pub fn table(&self) -> Vec<Entry> {
        self.core.as_ref().map(Core::table).unwrap_or_default()
    }

    /// Sends a datagram (it arrives after [`World::latency`]).
    pub fn send(&mut self, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        if to == PMP_SERVER && self.lose_to_gateway > 0 {
            self.lose_to_gateway -= 1;
            return;
        }
        self.wire.push_back(Datagram {
            at: self.t + self.latency,
            from,
            to,
            bytes,
        });
    }

    /// When something happens next: a datagram arrives, or the daemon has a timer.
    fn next_event(&self) -> Option<Duration> {
        let wire = self.wire.iter().map(|d| d.at).min();
        let core = self.core.as_ref().and_then(Core::poll_timeout);
        wire.into_iter().chain(core).min()
    }

    /// Moves time to `until`, running every event on the way in order.
    pub fn advance_to(&mut self, until: Duration) {
        while let Some(at) = self.next_event().filter(|&at| at <= until) {
            self.step(at.max(self.t));
        }
        self.t = self.t.max(until);
        self.kernel.advance_to(self.t);
    }

    /// Moves time forward by `d`.
    pub fn advance(&mut self, d: Duration) {
        self.advance_to(self.t + d);
    }

    /// Runs what is due at `at`.
    fn step(&mut self, at: Duration) {
        self.t = at;
        self.kernel.advance_to(at);
        let (due, later): (Vec<Datagram>, Vec<Datagram>) =
            self.wire.drain(..).partition(|d| d.at <= at);
        self.wire = later.into();
        let mut to_gateway = Vec::new();
        for d in due {
            if d.to == PMP_SERVER {
                to_gateway.push(d);
            } else {
                self.mailbox.push(d);
            }
        }
        let Some(core) = self.core.as_mut() else {
            return;
        };
        if !to_gateway.is_empty() {
            let batch: Vec<(&[u8], SocketAddr)> = to_gateway
                .iter()
                .map(|d| (d.bytes.as_slice(), d.from))
                .collect();
            let replies = core.datagrams(&batch, LAN_GW, at);
            let sends: Vec<(SocketAddr, Vec<u8>)> = replies
                .into_iter()
                .zip(&to_gateway)
                .filter_map(|(r, d)| Some((d.from, r?)))
                .collect();
            for (to, bytes) in sends {
                self.send(PMP_SERVER, to, bytes);
            }
        }
        let Some(core) = self.core.as_mut() else {
            return;
        };
        if core.poll_timeout().is_some_and(|d| d <= at) {
            for bytes in core.handle_timeout(at) {
                self.send(
                    SocketAddr::new(IpAddr::V4(LAN_GW), 5351),
                    ANNOUNCE_GROUP,
                    bytes,
                );
            }
        }
    }

    /// Runs a client transaction from `client` to completion (or a simulated
    /// 15 minutes); the client's datagrams go through the network, the gateway's
    /// answers come back to it.
    pub fn run<T: Transaction>(
        &mut self,
        client: SocketAddr,
        tx: &mut T,
    ) -> Result<T::Output, ClientError> {
        let give_up = self.t + Duration::from_secs(900);
        loop {
            if let Some(r) = tx.poll_result() {
                return r;
            }
            let now = self.now();
            while let Some(bytes) = tx.poll_transmit(now) {
                self.send(client, tx.server(), bytes);
            }
            let mine = self.mailbox.iter().position(|d| d.to == client);
            if let Some(i) = mine {
                let d = self.mailbox.remove(i);
                tx.handle_datagram(now, d.from, &d.bytes);
                continue;
            }
            let wake = tx
                .poll_timeout()
                .map(|i| i.saturating_duration_since(self.origin));
            if wake.is_some_and(|w| w <= self.t) {
                tx.handle_timeout(now);
                continue;
            }
            // The next thing that can matter to this client: its own timer, or any
            // event (its answer may be one of them).
            let next = [wake, self.next_event()].into_iter().flatten().min();
            match next {
                Some(n) if n <= give_up => self.advance_to(n.max(self.t)),
                _ => return Err(ClientError::Timeout("simulation")),
            }
        }
    }

    /// One SOAP action from `client` over one HTTP connection: the request the client
    /// core writes, the daemon's answer, what the client core makes of it.
    pub fn soap<T>(&mut self, client: SocketAddr, call: &Call<T>) -> Result<T, ClientError> {
        let control = format!("http://{LAN_GW}:{HTTP_PORT}/ctl/IPConn");
        let (url, server) = parse_url(&control)?;
        let mut exchange = call.exchange(&url)?;
        self.advance(self.latency);
        let t = self.t;
        let Some(core) = self.core.as_mut() else {
            return Err(ClientError::Timeout("gateway down: connection refused"));
        };
        let answer = core.http(client, server, exchange.request(), t);
        self.advance(self.latency);
        let resp = match exchange.handle_bytes(&answer)? {
            Some(r) => r,
            None => exchange.handle_eof()?,
        };
        call.finish(&resp)
    }

    /// The announcements LAN hosts received so far (taken from the mailbox), with
    /// their arrival times.
    pub fn take_announcements(&mut self) -> Vec<(Duration, Vec<u8>)> {
        let (ann, rest): (Vec<Datagram>, Vec<Datagram>) =
            self.mailbox.drain(..).partition(|d| d.to == ANNOUNCE_GROUP);
        self.mailbox = rest;
        ann.into_iter().map(|d| (d.at, d.bytes)).collect()
    }

    /// Checks that the table and the kernel agree: the same mappings to the same
    /// targets, and the kernel's timeout ends within a second of the lease.
    pub fn assert_agree(&self) {
        let table = self.table();
        let kernel = self.kernel.entries();
        let targets = |v: &[Entry]| v.iter().map(Entry::target).collect::<Vec<_>>();
        assert_eq!(
            targets(&table),
            targets(&kernel),
            "table and kernel differ at {:?}",
            self.t
        );
        for (a, b) in table.iter().zip(&kernel) {
            match (a.expires, b.expires) {
                (Some(x), Some(y)) => assert!(
                    within_a_second(x, y),
                    "lease {x:?} vs kernel timeout {y:?} for {a:?}"
                ),
                (x, y) => assert_eq!(x.is_some(), y.is_some(), "{a:?} vs {b:?}"),
            }
        }
    }
}
