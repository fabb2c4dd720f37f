//! Stateful fuzzing of portgated's core: the input is a program of steps — NAT-PMP
//! and PCP (MAP, PEER, nonces, FILTER) requests and raw datagrams from several LAN
//! hosts, alone or arriving together as one batch; SOAP AddPortMapping,
//! AddAnyPortMapping and DeletePortMapping; time steps; a crash and restart from the
//! lease journal (with the kernel kept, or lost in a reboot); the loss of our nftables
//! table (heard or not); idle cleaning; an external address change — run through the
//! simulated LAN of the daemon's `sim_pair` tests (the same adapter, included by path).
//! After every step:
//! - the table and the kernel agree (same mappings, same targets, the kernel's timeout
//!   within a second of the lease) whenever our table exists in the kernel, and it
//!   exists again once the check after a heard deletion is due;
//! - no internal client holds more than its quota;
//! - no mapping, in the table or the kernel, outlives its lease or the longest lease
//!   a protocol may grant;
//! - replaying the lease journal gives the table (mappings, targets, leases, origins).
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use portgate_client::pcp::{MapParams, PeerParams};
use portgate_client::upnp::actions::{self, PortMappingRequest};
use portgate_client::Protocol;
use portgate_proto::pcp::Filter;

#[path = "../../crates/portgate-daemon/tests/sim/mod.rs"]
mod sim;

use sim::{host, sock, World, PMP_SERVER, WANIP2};

/// LAN hosts taking part.
const HOSTS: u8 = 4;
/// Mappings per host.
const QUOTA: u32 = 3;
/// Longest NAT-PMP/PCP lifetime granted.
const MAX_LIFETIME: u32 = 7200;
/// Longest UPnP lease (IGD:2's maximum, also what a lease of 0 becomes).
const MAX_UPNP_LEASE: u64 = 604_800;
/// Most steps run from one input.
const MAX_STEPS: usize = 64;

/// A byte reader that yields zeros once the input is used up.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a.to_vec()
    }
    fn host(&mut self) -> u8 {
        1 + self.u8() % HOSTS
    }
    /// Ports from a small set, so that requests meet each other's mappings; now and
    /// then any port.
    fn port(&mut self) -> u16 {
        match self.u8() {
            b @ 0..=239 => 2000 + u16::from(b % 6),
            240..=247 => self.u16(),
            _ => 0,
        }
    }
    fn lifetime(&mut self) -> u32 {
        match self.u8() % 8 {
            0 => 0,
            1 => 1,
            2 => 60,
            3 => 61,
            4 => 3600,
            5 => 86_400,
            6 => u32::MAX,
            _ => self.u32(),
        }
    }
    fn nonce(&mut self) -> [u8; 12] {
        [self.u8() % 3; 12]
    }
    fn proto(&mut self) -> Protocol {
        if self.bool() {
            Protocol::Tcp
        } else {
            Protocol::Udp
        }
    }
    fn remote(&mut self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1 + self.u8() % 3))
    }
}

/// One NAT-PMP/PCP datagram and the host sending it.
fn datagram(inp: &mut Input<'_>) -> (u8, Vec<u8>) {
    let n = inp.host();
    let bytes = match inp.u8() % 4 {
        0 => portgate_proto::natpmp::Request::Map(portgate_proto::natpmp::MapRequest {
            protocol: inp.proto().natpmp(),
            internal_port: inp.port(),
            suggested_external_port: inp.port(),
            lifetime: inp.lifetime(),
        })
        .to_bytes(),
        1 => {
            let mut p = MapParams::new(inp.proto().iana(), inp.port(), inp.port(), inp.lifetime());
            p.nonce = inp.nonce();
            p.prefer_failure = inp.bool();
            if inp.bool() {
                p.filters.push(Filter {
                    prefix_length: if inp.bool() { 128 } else { 0 },
                    remote_peer_port: 0,
                    remote_peer_address: inp.remote(),
                });
            }
            p.to_request(IpAddr::V4(host(n))).to_bytes()
        }
        2 => {
            let peer = SocketAddr::new(inp.remote(), 7000 + u16::from(inp.u8() % 2));
            let mut p = PeerParams::new(inp.proto().iana(), inp.port(), peer, inp.lifetime());
            p.nonce = inp.nonce();
            p.suggested_external_port = inp.port();
            p.to_request(IpAddr::V4(host(n))).to_bytes()
        }
        _ => {
            let len = usize::from(inp.u8() % 64);
            inp.bytes(len)
        }
    };
    (n, bytes)
}

fn check(w: &mut World, step: usize, heard_loss: &mut Option<Duration>) {
    let t = w.t;
    let table = w.table();
    if w.kernel.has_table() {
        *heard_loss = None;
    } else if let Some(h) = *heard_loss {
        assert!(
            t < h + sim::core::WATCH_SETTLE,
            "step {step}: the table deleted at {h:?} is still missing at {t:?}"
        );
    }
    // The kernel: only while our table exists (after an unheard loss, it comes back
    // with the next change).
    if w.kernel.has_table() && w.core.is_some() {
        let kernel = w.kernel.entries();
        let targets = |v: &[sim::core::Entry]| v.iter().map(|e| e.target()).collect::<Vec<_>>();
        assert_eq!(
            targets(&table),
            targets(&kernel),
            "step {step}: table != kernel at {t:?}"
        );
        for (a, b) in table.iter().zip(&kernel) {
            match (a.expires, b.expires) {
                (Some(x), Some(y)) => assert!(
                    sim::within_a_second(x, y),
                    "step {step}: lease {x:?} but kernel timeout {y:?} for {a:?}"
                ),
                (x, y) => assert_eq!(x.is_some(), y.is_some(), "step {step}: {a:?} vs {b:?}"),
            }
        }
    }
    for e in w.kernel.entries() {
        assert!(
            e.expires.map_or(true, |x| x > t),
            "step {step}: kernel keeps {e:?} at {t:?}"
        );
    }
    for e in &table {
        let Some(x) = e.expires else {
            panic!("step {step}: a permanent mapping {e:?} (every request here has a lease)");
        };
        assert!(x > t, "step {step}: {e:?} outlived its lease at {t:?}");
        let longest = if e.origin == "upnp" {
            MAX_UPNP_LEASE
        } else {
            u64::from(MAX_LIFETIME)
        };
        assert!(
            x <= t + Duration::from_secs(longest + 1),
            "step {step}: {e:?} got more than {longest} s at {t:?}"
        );
    }
    if let Some(core) = w.core.as_ref() {
        for n in 1..=HOSTS {
            let held = table.iter().filter(|e| *e.internal.ip() == host(n)).count();
            assert!(held as u32 <= QUOTA, "step {step}: host {n} holds {held}");
            assert_eq!(core.count_for(host(n)) as usize, held, "step {step}: count");
        }
        assert_eq!(
            core.journal(t),
            Some(table),
            "step {step}: journal replay != table"
        );
    }
}

/// The lease file goes to a memory file system when there is one: every journal
/// append and compaction is synced, and a disk's syncs would set the pace.
fn use_memory_tmpdir() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::path::Path::new("/dev/shm").is_dir() {
            std::env::set_var("TMPDIR", "/dev/shm");
        }
    });
}

fuzz_target!(|data: &[u8]| {
    use_memory_tmpdir();
    let mut inp = Input(data);
    let mut w = World::with_config(true, |c| {
        c.max_per_client = QUOTA;
        c.max_total = 10;
        c.min_lifetime = 60;
        c.max_lifetime = MAX_LIFETIME;
        c.secure_mode = true;
    });
    let mut heard_loss = None;
    for step in 0..MAX_STEPS {
        if inp.0.is_empty() {
            break;
        }
        match inp.u8() % 10 {
            // Datagrams arriving together (one batch), from one or several hosts.
            0..=2 => {
                let k = 1 + usize::from(inp.u8() % 4);
                for _ in 0..k {
                    let (n, bytes) = datagram(&mut inp);
                    w.send(sock(n, 40_000 + u16::from(n)), PMP_SERVER, bytes);
                }
                w.advance(w.latency);
                w.mailbox.clear();
            }
            3 => {
                let n = inp.host();
                let internal = if inp.u8() % 8 == 0 { inp.host() } else { n };
                let req = PortMappingRequest {
                    remote_host: if inp.bool() { Some(inp.remote()) } else { None },
                    external_port: inp.port(),
                    protocol: inp.proto(),
                    internal_port: inp.port(),
                    internal_client: IpAddr::V4(host(internal)),
                    enabled: true,
                    description: "fuzz".to_owned(),
                    lease: match inp.u8() % 4 {
                        0 => 0,
                        1 => 1,
                        2 => 3600,
                        _ => inp.u32(),
                    },
                };
                let from = sock(n, 50_000);
                if inp.bool() {
                    let _ = w.soap(from, &actions::add_any_port_mapping(WANIP2, &req));
                } else {
                    let _ = w.soap(from, &actions::add_port_mapping(WANIP2, &req));
                }
            }
            4 => {
                let from = sock(inp.host(), 50_000);
                let remote = if inp.bool() { Some(inp.remote()) } else { None };
                let call = actions::delete_port_mapping(WANIP2, remote, inp.port(), inp.proto());
                let _ = w.soap(from, &call);
            }
            5 => {
                let d = match inp.u8() % 6 {
                    0 => Duration::from_millis(u64::from(inp.u8())),
                    1 => Duration::from_secs(1),
                    2 => Duration::from_secs(30),
                    3 => Duration::from_secs(61),
                    4 => Duration::from_secs(3600),
                    _ => Duration::from_secs(u64::from(inp.u16())),
                };
                w.advance(d);
                w.mailbox.clear();
            }
            // A crash, down for a while, and a start from the journal (the kernel kept
            // its elements, or a reboot lost them).
            6 => {
                if inp.bool() {
                    w.crash();
                } else {
                    w.power_cycle();
                }
                w.advance(Duration::from_secs(u64::from(inp.u8())));
                w.boot();
            }
            7 => {
                w.kernel.drop_table();
                if inp.bool() {
                    let t = w.t;
                    if let Some(c) = w.core.as_mut() {
                        c.nft_deleted(t);
                        heard_loss.get_or_insert(t);
                    }
                }
            }
            8 => {
                let port = inp.port();
                let _ = w.kernel.traffic(if inp.bool() { 6 } else { 17 }, port, 1);
                let t = w.t;
                let threshold = usize::from(inp.u8() % 4);
                if let Some(c) = w.core.as_mut() {
                    c.clean_idle(threshold, t);
                }
            }
            _ => {
                let t = w.t;
                let addr = Ipv4Addr::new(203, 0, 113, 1 + inp.u8() % 2);
                if let Some(c) = w.core.as_mut() {
                    c.set_external(Some(addr), t);
                }
                w.advance(w.latency);
                w.mailbox.clear();
            }
        }
        check(&mut w, step, &mut heard_loss);
    }
});
