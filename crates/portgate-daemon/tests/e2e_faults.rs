//! Fault tests (SECURITY.md, item 9) against the real portgated in the lab:
//! kill -9 under a load of mixed NAT-PMP adds and deletes, WAN address change
//! and WAN link down/up under load, our nftables table deleted by an admin,
//! a corrupted lease file, SIGHUP reloads under load.
//!
//! Every check compares what clients were told with the kernel's table
//! (`nft -j`), the lease file and the daemon's own answers. The load is a
//! seeded random mix; the seed is printed and can be forced with
//! `PORTGATE_FAULT_SEED`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use portgate_lab::{Host, Signal};
use portgate_proto::natpmp::{self, MapRequest, Protocol, Request, Response, ResultCode};
use portgate_proto::pcp;

/// NAT-PMP only: the fault tests that do not need UPnP.
const CONFIG: &str = "enable_natpmp=yes\nenable_upnp=no\n";
/// NAT-PMP, PCP and UPnP (GENA) on the HTTP port `common::gena` expects.
const CONFIG_UPNP: &str = "enable_natpmp=yes\nenable_upnp=yes\nhttp_port=5000\n";
/// How long one NAT-PMP try waits for its answer.
const REPLY_WAIT: Duration = Duration::from_millis(1000);
/// Tries per NAT-PMP request (NAT-PMP requests are idempotent).
const TRIES: u32 = 3;
/// Bound of one probe through a mapping.
const PROBE: Duration = Duration::from_secs(3);
/// Bound of waits for a daemon log line, an announcement or an event.
const WAIT: Duration = Duration::from_secs(15);
/// Lifetime asked for every mapping of the load.
const LIFETIME: u32 = 3600;
/// Name of the daemon's nftables table (config default).
const TABLE: &str = "portgate";

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The seed of this run: `PORTGATE_FAULT_SEED` or the clock, printed.
fn seed(test: &str) -> u64 {
    let s = std::env::var("PORTGATE_FAULT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("{test}: PORTGATE_FAULT_SEED={s}");
    s
}

// ---------------------------------------------------------------------------
// A raw NAT-PMP client living in the LAN host's namespace.

/// A UDP socket of LAN host 0, connected to the gateway's NAT-PMP port.
struct PmpClient {
    sock: UdpSocket,
}

/// A mapping's transport protocol (ordered, for maps keyed by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    fn wire(self) -> Protocol {
        match self {
            Proto::Tcp => Protocol::Tcp,
            Proto::Udp => Protocol::Udp,
        }
    }
}

/// A mapping key as the client sees it: protocol and internal port.
type Key = (Proto, u16);

impl PmpClient {
    fn new(t: &common::TestGateway) -> anyhow::Result<PmpClient> {
        let gw = t.lan_address();
        let sock = t
            .lab
            .in_netns(Host::Lan(0), move || -> std::io::Result<UdpSocket> {
                let s = UdpSocket::bind("0.0.0.0:0")?;
                s.connect((gw, natpmp::SERVER_PORT))?;
                Ok(s)
            })??;
        sock.set_read_timeout(Some(REPLY_WAIT))?;
        Ok(PmpClient { sock })
    }

    /// Send `req` (up to [`TRIES`] times) and return the answer that belongs
    /// to it, or `None` (no answer, or the daemon's port is closed).
    fn request(&self, req: Request) -> Option<Response> {
        let bytes = req.to_bytes();
        let mut buf = [0u8; 1100];
        for _ in 0..TRIES {
            if self.sock.send(&bytes).is_err() {
                return None;
            }
            let deadline = Instant::now() + REPLY_WAIT;
            while Instant::now() < deadline {
                let n = match self.sock.recv(&mut buf) {
                    Ok(n) => n,
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        break
                    }
                    // ICMP port unreachable: nobody listens (daemon dead).
                    Err(_) => return None,
                };
                let Some(data) = buf.get(..n) else { continue };
                let Ok(resp) = Response::parse(data) else {
                    continue;
                };
                if answers(&req, &resp) {
                    return Some(resp);
                }
            }
        }
        None
    }

    /// Map (`lifetime > 0`) or delete (`lifetime == 0`) `key`.
    fn map(&self, key: Key, lifetime: u32) -> Option<Response> {
        self.request(Request::Map(MapRequest {
            protocol: key.0.wire(),
            internal_port: key.1,
            suggested_external_port: key.1,
            lifetime,
        }))
    }

    fn external_address(&self) -> Option<Ipv4Addr> {
        match self.request(Request::ExternalAddress)? {
            Response::ExternalAddress {
                result: ResultCode::Success,
                address,
                ..
            } => Some(address),
            _ => None,
        }
    }
}

/// Whether `resp` is the answer to `req` (and not a late answer to an
/// earlier request of the same socket).
fn answers(req: &Request, resp: &Response) -> bool {
    match (req, resp) {
        (Request::ExternalAddress, Response::ExternalAddress { .. }) => true,
        (
            Request::Map(m),
            Response::Map {
                protocol,
                internal_port,
                lifetime,
                result,
                ..
            },
        ) => {
            *protocol == m.protocol
                && *internal_port == m.internal_port
                && (!result.is_success() || (*lifetime == 0) == m.is_delete())
        }
        (Request::Map(m), Response::Error { opcode, .. }) => *opcode == m.protocol.opcode() | 0x80,
        _ => false,
    }
}

/// What one load operation got.
#[derive(Debug, Clone, Copy)]
struct OpRecord {
    key: Key,
    /// Lifetime asked (0 = delete).
    lifetime: u32,
    /// The answer: `None` when none came (the outcome is unknown).
    answer: Option<(ResultCode, u16)>,
}

fn record(key: Key, lifetime: u32, resp: Option<Response>) -> OpRecord {
    let answer = resp.map(|r| match r {
        Response::Map {
            result,
            external_port,
            ..
        } => (result, external_port),
        other => (other.result(), 0),
    });
    OpRecord {
        key,
        lifetime,
        answer,
    }
}

/// A load of NAT-PMP requests on its own thread, until stopped, the op
/// budget is spent, or (with `stop_on_silence`) a request goes unanswered.
struct Load {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    records: Arc<Mutex<Vec<OpRecord>>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Load {
    /// `keys`: the pool; `delete_share`: probability of a delete (0..1).
    fn start(
        client: PmpClient,
        keys: Vec<Key>,
        seed: u64,
        delete_share: f64,
        max_ops: usize,
        stop_on_silence: bool,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let records = Arc::new(Mutex::new(Vec::new()));
        let (s, d, r) = (stop.clone(), done.clone(), records.clone());
        let handle = std::thread::spawn(move || {
            let mut rng = fastrand::Rng::with_seed(seed);
            for _ in 0..max_ops {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Some(&key) = keys.get(rng.usize(..keys.len())) else {
                    break;
                };
                let lifetime = if rng.f64() < delete_share {
                    0
                } else {
                    LIFETIME
                };
                let rec = record(key, lifetime, client.map(key, lifetime));
                let silent = rec.answer.is_none();
                r.lock().unwrap_or_else(|p| p.into_inner()).push(rec);
                d.fetch_add(1, Ordering::SeqCst);
                if silent && stop_on_silence {
                    break;
                }
            }
        });
        Load {
            stop,
            done,
            records,
            handle: Some(handle),
        }
    }

    fn count(&self) -> usize {
        self.done.load(Ordering::SeqCst)
    }

    /// Wait until `n` more operations completed (bounded).
    fn wait_more(&self, n: usize, timeout: Duration) -> anyhow::Result<()> {
        let target = self.count() + n;
        let deadline = Instant::now() + timeout;
        while self.count() < target {
            if Instant::now() > deadline {
                bail!("load stalled at {} operations", self.count());
            }
            if self.handle.as_ref().is_some_and(|h| h.is_finished()) {
                bail!("load ended at {} operations", self.count());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    /// Stop the load and return every record.
    fn finish(mut self) -> Vec<OpRecord> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        std::mem::take(&mut *self.records.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// What the client may believe about one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Told {
    /// Mapped at this external port (acknowledged).
    Mapped(u16),
    /// Deleted (acknowledged) or never mapped.
    Absent,
}

/// The last acknowledged state of every key, plus the states an unanswered
/// last request may have produced (both allowed).
fn told(records: &[OpRecord]) -> BTreeMap<Key, Vec<Told>> {
    let mut state: BTreeMap<Key, Vec<Told>> = BTreeMap::new();
    for r in records {
        let cur = state.entry(r.key).or_insert_with(|| vec![Told::Absent]);
        match r.answer {
            Some((ResultCode::Success, eport)) => {
                *cur = vec![if r.lifetime == 0 {
                    Told::Absent
                } else {
                    Told::Mapped(eport)
                }];
            }
            // A refused request changes nothing.
            Some(_) => {}
            None => {
                // Unknown: either the old state or the request's effect
                // (external port unknown for an add: any).
                let effect = if r.lifetime == 0 {
                    Told::Absent
                } else {
                    Told::Mapped(0)
                };
                if !cur.contains(&effect) {
                    cur.push(effect);
                }
            }
        }
    }
    state
}

/// Does the set of states `allowed` admit `seen`? `Mapped(0)` stands for an
/// unknown add at any port.
fn admits(allowed: &[Told], seen: Told) -> bool {
    allowed.iter().any(|a| match (a, seen) {
        (Told::Mapped(0), Told::Mapped(_)) => true,
        (a, s) => *a == s,
    })
}

// ---------------------------------------------------------------------------
// The kernel's table and the lease file, in one shape.

/// (protocol, external port) -> (internal client, internal port).
type Forwards = BTreeMap<(Proto, u16), (Ipv4Addr, u16)>;

/// The elements of our `fwd4` map, from `nft -j list table inet portgate`.
fn kernel_forwards(t: &common::TestGateway) -> anyhow::Result<Forwards> {
    let out = t.lab.exec(
        Host::Gateway,
        &["nft", "-j", "list", "table", "inet", TABLE],
    )?;
    parse_forwards(&out.stdout)
}

fn parse_forwards(json: &[u8]) -> anyhow::Result<Forwards> {
    let v: serde_json::Value = serde_json::from_slice(json).context("nft -j output")?;
    let mut out = Forwards::new();
    let items = v
        .get("nftables")
        .and_then(|x| x.as_array())
        .context("no nftables array")?;
    for item in items {
        let Some(map) = item.get("map") else { continue };
        if map.get("name").and_then(|n| n.as_str()) != Some("fwd4") {
            continue;
        }
        let Some(elems) = map.get("elem").and_then(|e| e.as_array()) else {
            continue;
        };
        for pair in elems {
            let (k, v) = match pair.as_array().map(|p| p.as_slice()) {
                Some([k, v]) => (k, v),
                _ => bail!("unexpected map element {pair}"),
            };
            let k = k.get("elem").and_then(|e| e.get("val")).unwrap_or(k);
            let concat = |x: &serde_json::Value| -> anyhow::Result<Vec<serde_json::Value>> {
                x.get("concat")
                    .and_then(|c| c.as_array())
                    .cloned()
                    .with_context(|| format!("not a concatenation: {x}"))
            };
            let (kc, vc) = (concat(k)?, concat(v)?);
            let proto = match kc.first() {
                Some(p) if p.as_str() == Some("tcp") || p.as_u64() == Some(6) => Proto::Tcp,
                Some(p) if p.as_str() == Some("udp") || p.as_u64() == Some(17) => Proto::Udp,
                other => bail!("unknown protocol {other:?}"),
            };
            let port = |x: Option<&serde_json::Value>| -> anyhow::Result<u16> {
                let n = x.and_then(|p| p.as_u64()).context("port")?;
                Ok(u16::try_from(n)?)
            };
            let eport = port(kc.get(1))?;
            let addr: Ipv4Addr = vc
                .first()
                .and_then(|a| a.as_str())
                .context("address")?
                .parse()?;
            let iport = port(vc.get(1))?;
            out.insert((proto, eport), (addr, iport));
        }
    }
    Ok(out)
}

fn lease_forwards(t: &common::TestGateway) -> anyhow::Result<Forwards> {
    let file = portgate_daemon::lease::read_file(&t.lease_file(), unix_now())?;
    Ok(file
        .entries
        .iter()
        .map(|e| {
            let p = match e.protocol {
                portgate_daemon::table::Protocol::Tcp => Proto::Tcp,
                portgate_daemon::table::Protocol::Udp => Proto::Udp,
            };
            ((p, e.external_port), (e.internal_client, e.internal_port))
        })
        .collect())
}

/// Every acknowledged state holds in `fw`, nothing else is there.
fn check_against(
    what: &str,
    fw: &Forwards,
    told: &BTreeMap<Key, Vec<Told>>,
    lan: Ipv4Addr,
) -> anyhow::Result<()> {
    let mut seen: BTreeMap<Key, Told> = told.keys().map(|k| (*k, Told::Absent)).collect();
    for (&(p, e), &(addr, iport)) in fw {
        if addr != lan || !told.contains_key(&(p, iport)) {
            bail!("{what}: stale entry {p:?} {e} -> {addr}:{iport} nobody was told of");
        }
        if seen.insert((p, iport), Told::Mapped(e)) != Some(Told::Absent) {
            bail!("{what}: two entries for {p:?} internal port {iport}");
        }
    }
    for (key, allowed) in told {
        let s = seen.get(key).copied().unwrap_or(Told::Absent);
        if !admits(allowed, s) {
            bail!("{what}: {key:?} is {s:?} but the client was told {allowed:?}");
        }
    }
    Ok(())
}

fn tcp_reaches(
    t: &common::TestGateway,
    external: Ipv4Addr,
    eport: u16,
    iport: u16,
) -> anyhow::Result<bool> {
    Ok(t.lab.tcp_probe(
        Host::Wan,
        SocketAddr::new(IpAddr::V4(external), eport),
        (Host::Lan(0), iport),
        b"fault probe",
        PROBE,
    )?)
}

fn daemon(t: &common::TestGateway) -> anyhow::Result<&portgate_lab::Proc> {
    t.daemon.as_ref().context("daemon not running")
}

fn tcp_keys(ports: std::ops::Range<u16>) -> Vec<Key> {
    ports.map(|p| (Proto::Tcp, p)).collect()
}

fn both_keys(ports: std::ops::Range<u16>) -> Vec<Key> {
    ports
        .flat_map(|p| [(Proto::Tcp, p), (Proto::Udp, p)])
        .collect()
}

/// Every add of `records` was acknowledged with success.
fn all_success(records: &[OpRecord]) -> anyhow::Result<()> {
    for r in records {
        match r.answer {
            Some((ResultCode::Success, e)) if r.lifetime == 0 || e == r.key.1 => {}
            other => bail!("{:?} lifetime {} answered {other:?}", r.key, r.lifetime),
        }
    }
    Ok(())
}

/// The mapped TCP keys (last acknowledged add) of an all-success load.
fn mapped(records: &[OpRecord]) -> BTreeMap<Key, u16> {
    told(records)
        .into_iter()
        .filter_map(|(k, v)| match v.as_slice() {
            [Told::Mapped(e)] => Some((k, *e)),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------
// 1. kill -9 under load.

#[test]
fn kill_9_under_load_loses_nothing_acknowledged_and_keeps_nothing_stale() -> anyhow::Result<()> {
    let Some(mut t) = common::TestGateway::start(1, CONFIG)? else {
        return Ok(());
    };
    let lan = t.lab.ipv4(Host::Lan(0));
    let seed = seed("kill_9");
    let mut rng = fastrand::Rng::with_seed(seed);
    let kill_after = rng.usize(60..260);
    let keys = both_keys(21000..21030);
    let load = Load::start(PmpClient::new(&t)?, keys, seed, 0.35, 400, true);
    load.wait_more(kill_after, Duration::from_secs(120))?;
    t.kill()?;
    let records = load.finish();
    let unknown = records.iter().filter(|r| r.answer.is_none()).count();
    eprintln!(
        "kill_9: killed after {kill_after}, {} requests, {unknown} unanswered",
        records.len()
    );
    assert!(records.len() >= kill_after);
    assert!(unknown <= 1, "only the request in flight is unknown");
    // Every answered request succeeded (no conflicts: one client).
    for r in records.iter().filter(|r| r.answer.is_some()) {
        assert!(matches!(r.answer, Some((ResultCode::Success, _))), "{r:?}");
    }
    let told = told(&records);

    t.restart()?;
    let kernel = kernel_forwards(&t)?;
    let leases = lease_forwards(&t)?;
    check_against("kernel", &kernel, &told, lan)?;
    check_against("lease file", &leases, &told, lan)?;
    assert_eq!(kernel, leases, "kernel and lease file agree");

    // The daemon's own answers: re-mapping a mapped key gives the same port;
    // the kernel is unchanged by those refreshes.
    let client = PmpClient::new(&t)?;
    let mut probed = false;
    for (&(p, e), &(_, iport)) in &kernel {
        let r = client.map((p, iport), LIFETIME).context("answer")?;
        let Response::Map {
            result,
            external_port,
            ..
        } = r
        else {
            bail!("not a map answer: {r:?}");
        };
        assert_eq!(result, ResultCode::Success);
        assert_eq!(
            external_port, e,
            "{p:?} {iport}: same mapping after restart"
        );
        if p == Proto::Tcp && !probed {
            assert!(
                tcp_reaches(&t, t.lab.external_ipv4(), e, iport)?,
                "restored mapping {e} reaches the LAN host"
            );
            probed = true;
        }
    }
    assert_eq!(kernel_forwards(&t)?, kernel, "refreshes moved nothing");
    // A key told deleted is closed.
    if let Some((&(p, iport), _)) = told
        .iter()
        .find(|(k, v)| k.0 == Proto::Tcp && v.as_slice() == [Told::Absent])
    {
        assert!(!kernel.contains_key(&(p, iport)));
        assert!(!tcp_reaches(&t, t.lab.external_ipv4(), iport, iport)?);
    }
    eprintln!("kill_9: {} mappings restored and checked", kernel.len());
    Ok(())
}

// ---------------------------------------------------------------------------
// 2. WAN address change under load.

/// A socket of LAN host 0 on 0.0.0.0:5350 in the all-hosts group.
fn announce_listener(t: &common::TestGateway) -> anyhow::Result<UdpSocket> {
    let lan = t.lab.ipv4(Host::Lan(0));
    let s = t
        .lab
        .in_netns(Host::Lan(0), move || -> std::io::Result<UdpSocket> {
            let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, natpmp::CLIENT_PORT))?;
            // Every host is in 224.0.0.1 already; joining again may be refused.
            let _ = s.join_multicast_v4(&natpmp::ANNOUNCE_MULTICAST, &lan);
            Ok(s)
        })??;
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    Ok(s)
}

/// Wait for a NAT-PMP announcement of `addr` and then for the PCP ANNOUNCE
/// of the same burst; returns their epochs.
fn wait_announcements(
    s: &UdpSocket,
    addr: Ipv4Addr,
    timeout: Duration,
) -> anyhow::Result<(u32, u32)> {
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 1100];
    let mut natpmp_epoch = None;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let n = match s.recv(&mut buf) {
            Ok(n) => n,
            Err(_) => continue,
        };
        let Some(data) = buf.get(..n) else { continue };
        if let Ok(Response::ExternalAddress {
            result: ResultCode::Success,
            epoch,
            address,
        }) = Response::parse(data)
        {
            seen.push(format!("nat-pmp {address} epoch {epoch}"));
            if address == addr {
                natpmp_epoch = Some(epoch);
            }
            continue;
        }
        if let Ok(r) = pcp::Response::parse(data) {
            seen.push(format!("pcp {:?} epoch {}", r.data, r.epoch));
            if let (Some(e), pcp::OpData::Announce) = (natpmp_epoch, &r.data) {
                assert_eq!(r.result, pcp::ResultCode::Success);
                return Ok((e, r.epoch));
            }
        }
    }
    bail!("no announcement of {addr}; saw {seen:?}")
}

/// In the gateway: add `new` beside `old` on the WAN interface, delete
/// `old`, keep the default route; SIGUSR1; wait for the daemon to see it.
fn change_wan_address(t: &common::TestGateway, old: Ipv4Addr, new: Ipv4Addr) -> anyhow::Result<()> {
    let gwnet = t.lab.gateway();
    let wan = &gwnet.wan.name;
    let prefix = gwnet.wan.ipv4_prefix;
    let wan_host = t.lab.ipv4(Host::Wan);
    let mark = daemon(t)?.line_count();
    t.lab.sh(
        Host::Gateway,
        &format!(
            "sysctl -qw net.ipv4.conf.{wan}.promote_secondaries=1 && \
             ip addr add {new}/{prefix} dev {wan} && ip addr del {old}/{prefix} dev {wan} && \
             ip route replace default via {wan_host}"
        ),
    )?;
    daemon(t)?.signal(Signal::USR1);
    daemon(t)?.wait_for_after(mark, "external address changed", WAIT)?;
    Ok(())
}

/// The address a test moves the WAN interface to.
fn moved(old: Ipv4Addr) -> Ipv4Addr {
    let o = old.octets();
    Ipv4Addr::new(o[0], o[1], o[2], o[3].wrapping_add(100).max(3))
}

/// Regression (upnp/gena.rs): each NOTIFY carries only the variables that
/// changed, and a subscriber's queue used to drop its oldest event past
/// MAX_QUEUED_EVENTS, so an ExternalIPAddress change followed by a few mapping
/// changes while a NOTIFY was in flight was lost for good. Queued events are
/// now merged instead.
#[test]
fn gena_address_event_survives_a_notify_backlog() -> anyhow::Result<()> {
    let Some(t) = common::TestGateway::start(1, CONFIG_UPNP)? else {
        return Ok(());
    };
    let old = t.lab.external_ipv4();
    let new = moved(old);
    let sub = common::gena::Subscriber::start(&t, Duration::from_millis(700))?;
    common::gena::subscribe(&t, "/evt/IPConn", sub.callback)?;
    sub.wait_for(
        &format!("<ExternalIPAddress>{old}</ExternalIPAddress>"),
        WAIT,
    )?;
    let client = PmpClient::new(&t)?;
    // One NOTIFY in flight (held by the slow subscriber) ...
    let r = client.map((Proto::Tcp, 4600), LIFETIME).context("answer")?;
    assert!(r.result().is_success());
    // ... then the address change, then more mapping changes than the queue holds.
    change_wan_address(&t, old, new)?;
    for port in 4601..4601 + 2 * gena_queue() {
        let r = client.map((Proto::Tcp, port), LIFETIME).context("answer")?;
        assert!(r.result().is_success());
    }
    sub.wait_for(
        &format!("<ExternalIPAddress>{new}</ExternalIPAddress>"),
        Duration::from_secs(20),
    )?;
    Ok(())
}

/// The daemon's GENA queue bound.
fn gena_queue() -> u16 {
    portgate_daemon::upnp::gena::MAX_QUEUED_EVENTS as u16
}

#[test]
fn wan_address_change_under_load_is_announced_and_mappings_follow() -> anyhow::Result<()> {
    let Some(t) = common::TestGateway::start(1, CONFIG_UPNP)? else {
        return Ok(());
    };
    let old = t.lab.external_ipv4();
    let new = moved(old);
    assert_ne!(new, t.lab.ipv4(Host::Wan));
    let client = PmpClient::new(&t)?;
    assert_eq!(client.external_address(), Some(old));
    let pre = client.map((Proto::Tcp, 4000), LIFETIME).context("answer")?;
    assert!(pre.result().is_success(), "{pre:?}");

    let sub = common::gena::Subscriber::start(&t, Duration::ZERO)?;
    let sid = common::gena::subscribe(&t, "/evt/IPConn", sub.callback)?;
    sub.wait_for(
        &format!("<ExternalIPAddress>{old}</ExternalIPAddress>"),
        WAIT,
    )
    .with_context(|| format!("initial event for {sid}"))?;
    let ann = announce_listener(&t)?;

    let load = Load::start(
        PmpClient::new(&t)?,
        tcp_keys(22000..22040),
        seed("wan_address"),
        0.2,
        100_000,
        false,
    );
    load.wait_more(20, WAIT)?;
    // The load keeps running while the address changes: mapping events must
    // not push the ExternalIPAddress event out of the subscriber's queue.
    change_wan_address(&t, old, new)?;
    sub.wait_for(
        &format!("<ExternalIPAddress>{new}</ExternalIPAddress>"),
        WAIT,
    )?;
    let (e4, e6) = wait_announcements(&ann, new, WAIT)?;
    eprintln!("wan_address: announced {new}, epochs nat-pmp {e4} pcp {e6}");
    assert!(e4 < 10 && e6 < 10, "the epoch restarted");
    load.wait_more(20, WAIT)?;
    let records = load.finish();
    all_success(&records)?;
    assert_eq!(client.external_address(), Some(new));

    // An existing mapping reaches the LAN host through the new address, and
    // so does the last acknowledged mapping of the load.
    assert!(tcp_reaches(&t, new, 4000, 4000)?, "pre-existing mapping");
    let m = mapped(&records);
    let (&(_, iport), &e) = m.iter().next().context("no mapping from the load")?;
    assert!(tcp_reaches(&t, new, e, iport)?, "load mapping {e}");
    let kernel = kernel_forwards(&t)?;
    for (&(p, iport), &e) in &m {
        assert!(kernel.contains_key(&(p, e)), "{p:?} {iport} in the kernel");
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// 3. WAN link down and up under load.

#[test]
fn wan_link_down_and_up_under_load_keeps_mappings() -> anyhow::Result<()> {
    let Some(t) = common::TestGateway::start(1, CONFIG)? else {
        return Ok(());
    };
    let ext = t.lab.external_ipv4();
    let wan = t.lab.gateway().wan.name.clone();
    let wan_host = t.lab.ipv4(Host::Wan);
    let client = PmpClient::new(&t)?;
    let pre = client.map((Proto::Tcp, 4000), LIFETIME).context("answer")?;
    assert!(pre.result().is_success(), "{pre:?}");
    let load = Load::start(
        PmpClient::new(&t)?,
        tcp_keys(23000..23040),
        seed("wan_link"),
        0.2,
        100_000,
        false,
    );
    load.wait_more(20, WAIT)?;
    t.lab
        .exec(Host::Gateway, &["ip", "link", "set", &wan, "down"])?;
    daemon(&t)?.signal(Signal::USR1);
    load.wait_more(20, WAIT)?;
    t.lab
        .exec(Host::Gateway, &["ip", "link", "set", &wan, "up"])?;
    // Wait for the carrier (the WAN host's end stayed up), then restore the
    // default route the kernel dropped with the link.
    let deadline = Instant::now() + WAIT;
    loop {
        let out = t
            .lab
            .sh(Host::Gateway, &format!("ip -br link show {wan}"))?;
        if out.contains(" UP ") {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "{wan} not up: {out}");
        std::thread::sleep(Duration::from_millis(20));
    }
    t.lab.sh(
        Host::Gateway,
        &format!("ip route replace default via {wan_host}"),
    )?;
    daemon(&t)?.signal(Signal::USR1);
    load.wait_more(20, WAIT)?;
    let records = load.finish();
    all_success(&records)?;
    assert_eq!(client.external_address(), Some(ext), "daemon still answers");
    assert!(tcp_reaches(&t, ext, 4000, 4000)?, "mapping from before");
    let m = mapped(&records);
    let kernel = kernel_forwards(&t)?;
    for (&(p, iport), &e) in &m {
        assert!(kernel.contains_key(&(p, e)), "{p:?} {iport} in the kernel");
    }
    let (&(_, iport), &e) = m.iter().next_back().context("no load mapping")?;
    assert!(tcp_reaches(&t, ext, e, iport)?, "load mapping {e}");
    eprintln!("wan_link: {} requests, {} mappings", records.len(), m.len());
    Ok(())
}

// ---------------------------------------------------------------------------
// 4. Our table deleted by an admin.

#[test]
fn table_deleted_by_admin_is_recreated_with_its_mappings() -> anyhow::Result<()> {
    let Some(t) = common::TestGateway::start(1, CONFIG)? else {
        return Ok(());
    };
    let ext = t.lab.external_ipv4();
    let client = PmpClient::new(&t)?;
    for port in [4100u16, 4101] {
        let r = client.map((Proto::Tcp, port), LIFETIME).context("answer")?;
        assert!(r.result().is_success(), "{r:?}");
    }
    assert!(tcp_reaches(&t, ext, 4100, 4100)?);
    // Deleted: the daemon hears it and restores the table with its mappings on its
    // own, without a request.
    let mark = daemon(&t)?.line_count();
    t.lab
        .exec(Host::Gateway, &["nft", "delete", "table", "inet", TABLE])?;
    daemon(&t)?.wait_for_after(mark, "mappings restored", WAIT)?;
    for port in [4100u16, 4101] {
        assert!(tcp_reaches(&t, ext, port, port)?, "{port} restored");
    }
    // Deleted again, and a request at once: whichever comes first (the request's own
    // recovery or the notification's), the table ends complete, new mapping included.
    let mark = daemon(&t)?.line_count();
    t.lab
        .exec(Host::Gateway, &["nft", "delete", "table", "inet", TABLE])?;
    let r = client
        .map((Proto::Tcp, 4102), LIFETIME)
        .context("answer after the table was deleted")?;
    assert!(r.result().is_success(), "{r:?}");
    let deadline = Instant::now() + WAIT;
    loop {
        let lines = daemon(&t)?.lines();
        let after = lines.get(mark..).unwrap_or(&[]);
        if after
            .iter()
            .any(|l| l.contains("firewall table missing") || l.contains("mappings restored"))
        {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "no recovery logged");
        std::thread::sleep(Duration::from_millis(20));
    }
    for port in [4100u16, 4101, 4102] {
        assert!(tcp_reaches(&t, ext, port, port)?, "{port} restored");
    }
    let kernel = kernel_forwards(&t)?;
    assert_eq!(kernel, lease_forwards(&t)?, "kernel and lease file agree");
    assert_eq!(kernel.len(), 3, "{kernel:?}");
    // A deletion also goes through after a removal of the table.
    let mark = daemon(&t)?.line_count();
    t.lab
        .exec(Host::Gateway, &["nft", "delete", "table", "inet", TABLE])?;
    let r = client.map((Proto::Tcp, 4101), 0).context("answer")?;
    assert!(r.result().is_success(), "{r:?}");
    daemon(&t)?.wait_for_after(mark, "mappings restored", WAIT)?;
    let kernel = kernel_forwards(&t)?;
    assert_eq!(
        kernel.keys().copied().collect::<BTreeSet<_>>(),
        [(Proto::Tcp, 4100), (Proto::Tcp, 4102)].into(),
        "recreated without the deleted mapping"
    );
    assert_eq!(kernel, lease_forwards(&t)?);
    assert!(tcp_reaches(&t, ext, 4100, 4100)?);
    assert!(!tcp_reaches(&t, ext, 4101, 4101)?);
    Ok(())
}

// ---------------------------------------------------------------------------
// 5. Lease file corrupted between runs.

#[test]
fn corrupted_lease_file_keeps_the_good_entries() -> anyhow::Result<()> {
    let Some(mut t) = common::TestGateway::start(1, CONFIG)? else {
        return Ok(());
    };
    let ext = t.lab.external_ipv4();
    let lan = t.lab.ipv4(Host::Lan(0));
    let client = PmpClient::new(&t)?;
    for key in [(Proto::Tcp, 4200u16), (Proto::Udp, 4201)] {
        let r = client.map(key, LIFETIME).context("answer")?;
        assert!(r.result().is_success(), "{r:?}");
    }
    if let Some(p) = t.daemon.take() {
        let st = p.terminate(Duration::from_secs(10))?;
        assert!(st.success(), "clean stop: {st}");
    }
    let good = std::fs::read_to_string(t.lease_file())?;
    assert!(good.contains("TCP:4200:"), "{good}");
    let now = unix_now();
    let exp = now + 3600;
    let text = format!(
        "garbage that is not a lease\n\
         \u{0}\u{1}binary\u{7f}junk\n\
         {good}\
         TCP:99999:{lan}:4300:{exp}:bad port\n\
         SCTP:4301:{lan}:4301:{exp}:bad protocol\n\
         TCP:4302:999.1.2.3:4302:{exp}:bad address\n\
         TCP:4305:{lan}:4305:{old}:expired\n\
         #portgate-del TCP\n\
         TCP:4202:{lan}:4202:{exp}:good after the junk\n\
         TCP:4306:{lan}:43",
        old = now - 100,
    );
    std::fs::write(t.lease_file(), text)?;
    t.restart()?;
    let log = daemon(&t)?.output();
    assert!(
        log.contains("skipping lease line"),
        "bad lines logged: {log}"
    );
    let kernel = kernel_forwards(&t)?;
    let want: Forwards = [
        ((Proto::Tcp, 4200), (lan, 4200)),
        ((Proto::Udp, 4201), (lan, 4201)),
        ((Proto::Tcp, 4202), (lan, 4202)),
    ]
    .into();
    assert_eq!(kernel, want, "only the good entries are back");
    assert_eq!(lease_forwards(&t)?, want, "the file was rewritten clean");
    for port in [4200u16, 4202] {
        assert!(tcp_reaches(&t, ext, port, port)?, "{port} restored");
    }
    assert!(!tcp_reaches(&t, ext, 4305, 4305)?, "expired not back");
    Ok(())
}

// ---------------------------------------------------------------------------
// 6. SIGHUP reload under load.

#[test]
fn sighup_reload_under_load_keeps_every_mapping() -> anyhow::Result<()> {
    let Some(t) = common::TestGateway::start(1, CONFIG)? else {
        return Ok(());
    };
    let ext = t.lab.external_ipv4();
    let load = Load::start(
        PmpClient::new(&t)?,
        both_keys(24000..24030),
        seed("sighup"),
        0.25,
        100_000,
        false,
    );
    for _ in 0..3 {
        load.wait_more(15, WAIT)?;
        let mark = daemon(&t)?.line_count();
        daemon(&t)?.signal(Signal::HUP);
        daemon(&t)?.wait_for_after(mark, "configuration reloaded", WAIT)?;
    }
    load.wait_more(15, WAIT)?;
    let records = load.finish();
    all_success(&records)?;
    let told = told(&records);
    let lan = t.lab.ipv4(Host::Lan(0));
    let kernel = kernel_forwards(&t)?;
    check_against("kernel", &kernel, &told, lan)?;
    let m = mapped(&records);
    let mut probes = 0;
    for (&(p, iport), &e) in m.iter().filter(|(k, _)| k.0 == Proto::Tcp).take(3) {
        assert!(tcp_reaches(&t, ext, e, iport)?, "{p:?} {iport} -> {e}");
        probes += 1;
    }
    assert!(probes > 0, "some TCP mapping to probe");
    eprintln!("sighup: {} requests, {} mappings", records.len(), m.len());
    // The lease file is flushed lazily; the kernel is the truth here, and the
    // file must agree after a clean stop.
    if let Some(p) = &t.daemon {
        p.terminate(Duration::from_secs(10))?;
    }
    let leases = lease_forwards(&t)?;
    assert_eq!(leases, kernel, "lease file after a clean stop");
    Ok(())
}

/// Regression (gateway.rs, Gateway::start): lease entries were restored with
/// no check of the internal client, so an entry for a host outside every LAN
/// subnet, or for the gateway's own address, was put back into the kernel.
/// Such entries are now skipped and logged.
#[test]
fn lease_entries_outside_the_lan_are_skipped() -> anyhow::Result<()> {
    let Some(mut t) = common::TestGateway::start(1, CONFIG)? else {
        return Ok(());
    };
    let ext = t.lab.external_ipv4();
    let lan = t.lab.ipv4(Host::Lan(0));
    if let Some(p) = t.daemon.take() {
        p.terminate(Duration::from_secs(10))?;
    }
    let exp = unix_now() + 3600;
    std::fs::write(
        t.lease_file(),
        format!(
            "TCP:4400:{lan}:4400:{exp}:good\n\
             TCP:4401:192.168.99.5:4401:{exp}:another subnet\n\
             TCP:4402:{ext}:4402:{exp}:the gateway itself\n\
             TCP:4403:{gw}:4403:{exp}:the gateway's LAN address\n",
            gw = t.lan_address(),
        ),
    )?;
    t.restart()?;
    let want: Forwards = [((Proto::Tcp, 4400), (lan, 4400))].into();
    assert_eq!(kernel_forwards(&t)?, want, "only the LAN entry is back");
    Ok(())
}

// ---------------------------------------------------------------------------
// Two instances in one network namespace.

/// A second instance waits for the pid-file lock, then refuses to start with "already
/// running (pid N)" and exit code 3 while the first keeps mapping; a quick stop and
/// restart (the new one started before the old one has exited) no longer lets the
/// exiting instance delete the table the new one installed: every mapping works after.
#[test]
fn a_second_instance_is_refused_and_a_quick_restart_keeps_the_new_table() -> anyhow::Result<()> {
    let Some(mut t) = common::TestGateway::start(1, CONFIG_UPNP)? else {
        return Ok(());
    };
    let ext = t.lab.external_ipv4();
    let client = PmpClient::new(&t)?;
    let r = client.map((Proto::Tcp, 4400), LIFETIME).context("answer")?;
    assert!(r.result().is_success(), "{r:?}");
    assert!(tcp_reaches(&t, ext, 4400, 4400)?);
    let first = daemon(&t)?.pid();
    // As root without -P: one pid file per named network namespace.
    let pidfile = format!("/run/portgated-{}.pid", t.lab.netns(Host::Gateway));
    assert_eq!(std::fs::read_to_string(&pidfile)?.trim(), first.to_string());

    let bin = env!("CARGO_BIN_EXE_portgated");
    let cfg = t.config_file();
    let args = [bin, "-d", "-f", cfg.to_str().context("utf-8 path")?];
    let second = t.lab.spawn(Host::Gateway, &args)?;
    let status = second.wait_exit(Duration::from_secs(15))?;
    assert_eq!(status.code(), Some(3), "{}", second.output());
    assert!(
        second
            .output()
            .contains(&format!("already running (pid {first})")),
        "{}",
        second.output()
    );
    assert!(tcp_reaches(&t, ext, 4400, 4400)?, "the first still maps");
    let r = client.map((Proto::Tcp, 4401), LIFETIME).context("answer")?;
    assert!(r.result().is_success(), "{r:?}");
    assert!(tcp_reaches(&t, ext, 4401, 4401)?);

    // Stop and restart at once: the new instance waits for the old one's lock.
    let old = t.daemon.take().context("running")?;
    old.signal(Signal::TERM);
    t.restart()?;
    old.wait_exit(Duration::from_secs(10))?;
    let r = client.map((Proto::Tcp, 4402), LIFETIME).context("answer")?;
    assert!(r.result().is_success(), "{r:?}");
    std::thread::sleep(Duration::from_millis(500));
    for port in [4400u16, 4401, 4402] {
        assert!(
            tcp_reaches(&t, ext, port, port)?,
            "{port} after the restart:\n{}\n{}",
            old.output(),
            daemon(&t)?.output()
        );
    }
    let now = daemon(&t)?.pid();
    assert_eq!(std::fs::read_to_string(&pidfile)?.trim(), now.to_string());
    Ok(())
}
