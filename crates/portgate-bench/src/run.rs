//! The measurement plan: one daemon at a time in the gateway (reference first), one
//! fresh start per protocol, the table grown through the sizes with windows measured
//! at each size.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use portgate_lab::{Host, Lab};
use serde::Serialize;

use crate::client::{NatPmp, Pcp, Soap, LEASE};
use crate::daemon::{self, Kind, HTTP_PORT};
use crate::report;
use crate::stats::{median, median_window, Recorder, Window};
use crate::Args;

/// First port mapped; mapping `i` uses `BASE_PORT + i` inside and outside.
pub const BASE_PORT: u16 = 20_000;

/// Most operations in one measured window (the last 100 adds before a size, ...).
pub const WINDOW: usize = 100;

/// Consecutive failures after which a phase is abandoned.
pub const MAX_CONSECUTIVE_ERRORS: usize = 20;

/// Requests in a GetListOfPortMappings window (each may carry 1 000 entries).
pub const LIST_REQUESTS: usize = 20;

/// Entries asked per GetListOfPortMappings request.
pub const LIST_ENTRIES: usize = 1000;

/// One protocol's table-growing run on one daemon.
#[derive(Debug, Clone, Serialize)]
pub struct ProtoRun {
    /// `natpmp`, `pcp`, `soap` (one connection per request) or `soap-keepalive`.
    pub protocol: String,
    /// The largest size asked for.
    pub target: usize,
    /// The table size the adds reached.
    pub reached: usize,
    /// Whether the adds stopped because the time budget ran out.
    pub budget_hit: bool,
    /// Seconds the adds took in all.
    pub add_seconds: f64,
    /// Why the phase stopped early, if it did for a reason other than the budget.
    pub aborted: Option<String>,
    /// Measured windows.
    pub windows: Vec<Window>,
    /// Resident memory after the adds (KiB), with `reached` mappings.
    pub rss_loaded_kib: Option<u64>,
    /// Sanity check that the mappings reached the kernel: how many times the LAN
    /// host's address appears in `nft list ruleset` after the adds (a rule or a map
    /// element per mapping, more than one per mapping for some layouts).
    pub nft_mentions: Option<usize>,
    /// Whether the daemon process was still alive at the end of the phase.
    pub daemon_alive: bool,
}

/// Wall time of a client command, repeated.
#[derive(Debug, Clone, Serialize)]
pub struct ClientTiming {
    /// The command as run on the LAN host.
    pub command: String,
    /// Every run's wall time, milliseconds.
    pub runs_ms: Vec<f64>,
    /// Median wall time, milliseconds.
    pub median_ms: f64,
    /// Runs that exited with failure.
    pub failures: usize,
}

/// Everything measured on one daemon.
#[derive(Debug, Clone, Serialize)]
pub struct DaemonResult {
    /// `miniupnpd` or `portgated`.
    pub name: String,
    /// The binary measured.
    pub binary: String,
    /// Its size in bytes.
    pub binary_bytes: u64,
    /// VmRSS right after start, KiB.
    pub rss_idle_kib: Option<u64>,
    /// Per-protocol runs.
    pub runs: Vec<ProtoRun>,
    /// Client wall times against this daemon.
    pub clients: Vec<ClientTiming>,
    /// NAT-PMP latency while 100 SOAP clients hammer the daemon.
    pub load: Option<crate::load::LoadResult>,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    /// Sizes measured at.
    pub sizes: Vec<usize>,
    /// Time budget of each add phase, seconds.
    pub budget_seconds: u64,
    /// Windows of each kind taken at each size (the table shows the median one).
    pub repeats: usize,
    /// `--quick`.
    pub quick: bool,
    /// Unix time the run started.
    pub started_unix: u64,
    /// Seconds the run took.
    pub seconds: f64,
    /// The daemons, reference first.
    pub daemons: Vec<DaemonResult>,
    /// Other binaries whose size was asked for (`--size-of`).
    pub binaries: Vec<BinarySize>,
}

/// The size of a binary named by `--size-of`.
#[derive(Debug, Clone, Serialize)]
pub struct BinarySize {
    /// The name given.
    pub name: String,
    /// The binary.
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Runs the whole benchmark and writes the reports.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let lab = Lab::builder()
        .lan_hosts(crate::load::LOAD_HOSTS)
        .wan_unreserved()
        .echo(false)
        .build()
        .context("building the lab (needs root)")?;
    let dir = std::env::temp_dir().join(format!("portgate-bench-{}", lab.id()));
    std::fs::create_dir_all(&dir)?;

    let mut plan = Vec::new();
    if !args.no_reference {
        plan.push((Kind::Reference, args.miniupnpd.clone()));
    }
    plan.push((Kind::Portgated, args.portgated.clone()));

    let mut daemons = Vec::new();
    for (kind, bin) in plan {
        eprintln!("== {}", kind.name());
        daemons.push(bench_daemon(&lab, args, kind, &bin, &dir)?);
    }
    let results = Results {
        sizes: args.sizes(),
        budget_seconds: args.budget().as_secs(),
        repeats: args.repeats(),
        quick: args.quick,
        started_unix,
        seconds: started.elapsed().as_secs_f64(),
        daemons,
        binaries: args
            .size_of
            .iter()
            .map(|(name, path)| {
                let bytes = std::fs::metadata(path)
                    .with_context(|| format!("--size-of {name}={}", path.display()))?
                    .len();
                Ok(BinarySize {
                    name: name.clone(),
                    path: path.display().to_string(),
                    bytes,
                })
            })
            .collect::<anyhow::Result<_>>()?,
    };
    let _ = std::fs::remove_dir_all(&dir);
    report::write(&results, &args.out)
}

fn bench_daemon(
    lab: &Lab,
    args: &Args,
    kind: Kind,
    bin: &Path,
    dir: &Path,
) -> anyhow::Result<DaemonResult> {
    let sizes = args.sizes();
    let mut protocols = vec!["natpmp", "pcp", "soap"];
    if kind == Kind::Portgated {
        protocols.push("soap-keepalive");
    }
    if args.load_only {
        protocols.clear();
    }
    let mut runs = Vec::new();
    let mut rss_idle = None;
    for proto in protocols {
        let d = daemon::start(lab, kind, bin, dir)?;
        if rss_idle.is_none() {
            // Idle: started, answered one NAT-PMP and one TCP connect, nothing mapped.
            std::thread::sleep(Duration::from_millis(300));
            rss_idle = d.rss_kib().ok();
        }
        let mut r = grow(lab, proto, &sizes, args.budget(), args.repeats())?;
        r.rss_loaded_kib = d.rss_kib().ok();
        r.daemon_alive = d.alive();
        if !r.daemon_alive {
            eprintln!("   {proto}: the daemon died during the phase");
        }
        let lan = format!("{}", lab.ipv4(Host::Lan(0)));
        r.nft_mentions = lab.nft_ruleset().ok().map(|t| t.matches(&lan).count());
        eprintln!(
            "   {proto}: reached {} of {} in {:.1} s (LAN host in nft ruleset {:?} times){}",
            r.reached,
            r.target,
            r.add_seconds,
            r.nft_mentions,
            r.aborted
                .as_deref()
                .map(|a| format!(" (aborted: {a})"))
                .unwrap_or_default()
        );
        runs.push(r);
        d.stop(lab)?;
    }
    let load = {
        let d = daemon::start(lab, kind, bin, dir)?;
        let secs = if args.quick { 3 } else { 10 };
        let mut rounds = Vec::new();
        for round in 1..=args.load_rounds() {
            match crate::load::run(lab, Duration::from_secs(secs)) {
                Ok(r) => {
                    eprintln!(
                        "   load round {round}: {:.0} SOAP ok/s, {} errors; NAT-PMP p50 {:.2} ms, p99 {:.2} ms",
                        r.soap_ok_per_s, r.soap_errors, r.natpmp.p50_ms, r.natpmp.p99_ms
                    );
                    rounds.push(r);
                }
                Err(e) => eprintln!("   load round {round}: {e:#}"),
            }
        }
        d.stop(lab)?;
        (!rounds.is_empty()).then(|| crate::load::LoadResult::from_rounds(rounds))
    };
    let clients = match &args.portgate {
        Some(pg) if !args.load_only => {
            let d = daemon::start(lab, kind, bin, dir)?;
            let c = client_timings(lab, pg)?;
            d.stop(lab)?;
            c
        }
        _ => Vec::new(),
    };
    Ok(DaemonResult {
        name: kind.name().to_owned(),
        binary: bin.display().to_string(),
        binary_bytes: std::fs::metadata(bin).map(|m| m.len()).unwrap_or(0),
        rss_idle_kib: rss_idle,
        runs,
        clients,
        load,
    })
}

/// The operations of one protocol, on sockets opened inside the LAN host.
enum Driver {
    NatPmp(NatPmp),
    Pcp(Pcp),
    Soap(Soap),
}

impl Driver {
    fn add(&mut self, port: u16) -> anyhow::Result<()> {
        match self {
            Driver::NatPmp(c) => c.map(port, LEASE),
            Driver::Pcp(c) => c.map(port, LEASE),
            Driver::Soap(c) => c.add(port),
        }
    }

    fn delete(&mut self, port: u16) -> anyhow::Result<()> {
        match self {
            Driver::NatPmp(c) => c.map(port, 0),
            Driver::Pcp(c) => c.map(port, 0),
            Driver::Soap(c) => c.delete(port),
        }
    }
}

fn port_of(i: usize) -> u16 {
    BASE_PORT.saturating_add(u16::try_from(i).unwrap_or(u16::MAX - BASE_PORT))
}

/// Grows the table through `sizes` with `proto`, measuring at each size, `repeats`
/// times over: refreshes, deletes and re-adds of the last [`WINDOW`] mappings, and
/// for SOAP the read actions (see [`measure_at`]).
fn grow(
    lab: &Lab,
    proto: &str,
    sizes: &[usize],
    budget: Duration,
    repeats: usize,
) -> anyhow::Result<ProtoRun> {
    let gw = lab.gateway().lan.ipv4;
    let me = lab.ipv4(Host::Lan(0));
    let target = sizes.last().copied().unwrap_or(0);
    let proto = proto.to_owned();
    lab.in_netns(Host::Lan(0), move || -> anyhow::Result<ProtoRun> {
        let mut drv = make_driver(&proto, gw, me)?;
        let mut run = ProtoRun {
            protocol: proto.clone(),
            target,
            reached: 0,
            budget_hit: false,
            add_seconds: 0.0,
            aborted: None,
            windows: Vec::new(),
            rss_loaded_kib: None,
            nft_mentions: None,
            daemon_alive: true,
        };
        // Only the adds count against the budget (not the checkpoint windows).
        let mut add_time = Duration::ZERO;
        let mut n = 0usize;
        let mut consecutive = 0usize;
        'sizes: for &s in sizes {
            let w = WINDOW.min(s);
            let mut rec = Recorder::default();
            let mut wstart = Instant::now();
            // The last (up to) WINDOW adds, for the rate when the phase stops early.
            let mut tail: std::collections::VecDeque<(Duration, bool)> = Default::default();
            while n < s {
                if n == s - w {
                    rec = Recorder::default();
                    wstart = Instant::now();
                }
                let t = Instant::now();
                let ok = drv.add(port_of(n)).is_ok();
                let took = t.elapsed();
                add_time += took;
                rec.push(took, ok);
                tail.push_back((took, ok));
                if tail.len() > WINDOW {
                    tail.pop_front();
                }
                consecutive = if ok { 0 } else { consecutive + 1 };
                n += 1;
                let stop = if consecutive >= MAX_CONSECUTIVE_ERRORS {
                    run.aborted = Some(format!("{consecutive} consecutive add failures"));
                    true
                } else if add_time > budget && n < s {
                    run.budget_hit = true;
                    true
                } else {
                    false
                };
                if stop {
                    let mut part = Recorder::default();
                    let wall: Duration = tail.iter().map(|x| x.0).sum();
                    for (d, ok) in tail {
                        part.push(d, ok);
                    }
                    run.windows.push(part.finish("add_partial", n, wall));
                    break 'sizes;
                }
            }
            run.reached = n;
            let grown = rec.finish("add", s, wstart.elapsed());
            measure_at(&mut drv, &mut run, s, w, repeats, grown);
        }
        run.reached = n;
        run.add_seconds = add_time.as_secs_f64();
        Ok(run)
    })?
}

fn make_driver(proto: &str, gw: Ipv4Addr, me: Ipv4Addr) -> anyhow::Result<Driver> {
    Ok(match proto {
        "natpmp" => Driver::NatPmp(NatPmp::new(gw)?),
        "pcp" => Driver::Pcp(Pcp::new(gw, me)?),
        "soap" => Driver::Soap(Soap::new(gw, HTTP_PORT, me, false)),
        _ => Driver::Soap(Soap::new(gw, HTTP_PORT, me, true)),
    })
}

/// One window: `op` on the mappings `ports` (indexes) in that order.
fn timed(
    drv: &mut Driver,
    op: &str,
    s: usize,
    ports: impl Iterator<Item = usize>,
    mut f: impl FnMut(&mut Driver, u16) -> anyhow::Result<()>,
) -> Window {
    let mut rec = Recorder::default();
    let t = Instant::now();
    for i in ports {
        let t1 = Instant::now();
        let ok = f(drv, port_of(i)).is_ok();
        rec.push(t1.elapsed(), ok);
    }
    rec.finish(op, s, t.elapsed())
}

/// The windows taken with `s` mappings in the table, each kind `repeats` times and
/// reduced to its median window ([`median_window`]): refresh the last `w` mappings,
/// delete them (`s` -> `s - w`), add them again (`s - w` -> `s`; these join the adds
/// that grew the table, `grown`); for SOAP then the read actions.
fn measure_at(
    drv: &mut Driver,
    run: &mut ProtoRun,
    s: usize,
    w: usize,
    repeats: usize,
    grown: Window,
) {
    let last = s - w..s;
    let (mut adds, mut refreshes, mut deletes) = (vec![grown], Vec::new(), Vec::new());
    for _ in 0..repeats {
        refreshes.push(timed(drv, "refresh", s, last.clone(), Driver::add));
        deletes.push(timed(drv, "delete", s, last.clone().rev(), Driver::delete));
        adds.push(timed(drv, "add", s, last.clone(), Driver::add));
    }
    run.windows.extend(
        [adds, refreshes, deletes]
            .into_iter()
            .filter_map(median_window),
    );
    // The read actions last: a daemon that falls over on them has had its mapping
    // windows measured already.
    let Driver::Soap(c) = drv else { return };
    let (mut generic, mut list) = (Vec::new(), Vec::new());
    for r in 0..repeats {
        // GetGenericPortMappingEntry at indexes spread over the table.
        let mut rec = Recorder::default();
        let t = Instant::now();
        let mut x: usize = 12345 + r;
        for _ in 0..w {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345) % 2_147_483_648;
            let t1 = Instant::now();
            let ok = c.generic(x % s).is_ok();
            rec.push(t1.elapsed(), ok);
        }
        generic.push(rec.finish("get_generic", s, t.elapsed()));

        let mut rec = Recorder::default();
        let t = Instant::now();
        for _ in 0..LIST_REQUESTS {
            let t1 = Instant::now();
            let ok = c.list(LIST_ENTRIES).map(|len| len > 0).unwrap_or(false);
            rec.push(t1.elapsed(), ok);
        }
        list.push(rec.finish("get_list", s, t.elapsed()));
    }
    run.windows
        .extend([generic, list].into_iter().filter_map(median_window));
}

/// Runs of each client command; the table shows their median.
const CLIENT_RUNS: u16 = 5;

/// Wall times of `upnpc -a`, `natpmpc -a` and `portgate map` from the LAN host
/// ([`CLIENT_RUNS`] runs each).
fn client_timings(lab: &Lab, portgate: &Path) -> anyhow::Result<Vec<ClientTiming>> {
    let me = lab.ipv4(Host::Lan(0)).to_string();
    let pg = portgate.display().to_string();
    let mut out = Vec::new();
    // Each command maps a port of its own (base + run), so no run is a refresh.
    let runs = |base: u16, argv: &dyn Fn(String) -> Vec<String>| -> Vec<Vec<String>> {
        (0..CLIENT_RUNS)
            .map(|i| argv((base + i).to_string()))
            .collect()
    };
    let words = |w: &[&str]| w.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let portgate_map = |via: &str, p: String| {
        let mut v = vec![pg.clone()];
        v.extend(words(&["map", "--via", via]));
        v.extend([p.clone(), p]);
        v
    };
    let commands: Vec<(String, Vec<Vec<String>>)> = vec![
        (
            "upnpc -a (discover + map)".into(),
            runs(41000, &|p| {
                let mut v = words(&["upnpc", "-a", &me]);
                v.extend([p.clone(), p, "tcp".into()]);
                v
            }),
        ),
        (
            "natpmpc -a (gateway from the route + map)".into(),
            runs(45000, &|p| {
                let mut v = words(&["natpmpc", "-a"]);
                v.extend([p.clone(), p, "tcp".into(), "3600".into()]);
                v
            }),
        ),
        (
            "portgate map --via upnp (discover + describe + map)".into(),
            runs(42000, &|p| portgate_map("upnp", p)),
        ),
        (
            "portgate map --via natpmp".into(),
            runs(43000, &|p| portgate_map("natpmp", p)),
        ),
        (
            "portgate map --via pcp".into(),
            runs(44000, &|p| portgate_map("pcp", p)),
        ),
    ];
    for (label, runs) in commands {
        let mut ms = Vec::new();
        let mut failures = 0;
        for argv in runs {
            let t = Instant::now();
            let res = lab.exec_unchecked(Host::Lan(0), &argv);
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            if !res.map(|o| o.status.success()).unwrap_or(false) {
                failures += 1;
            }
        }
        out.push(ClientTiming {
            command: label,
            median_ms: median(&ms),
            runs_ms: ms,
            failures,
        });
    }
    Ok(out)
}
