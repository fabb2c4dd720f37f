//! The lease-file phases of `--cgn` (docs/scale.md, "No stalls"): a lease file of
//! [`crate::cgn::MAPPINGS`] CGN mappings (each on its subscriber's pool address and in
//! its port set, made over PCP, all ending in the same second), written by the
//! harness in portgated's format;
//!
//! 1. **cold start**: portgated starts with it and an empty kernel; time until a PCP
//!    request is answered; a sample of the restored mappings is refreshed (same
//!    address and port as in the file) and some carry bytes from the WAN host;
//! 2. **compaction**: the start-up rewrite of the file runs in steps and on the
//!    writer thread; requests of other subscribers are timed while it runs (the
//!    moment the file is replaced is seen by its inode changing), then again after;
//! 3. **restart**: the daemon stops (keeping the kernel's table,
//!    `keep_table_on_exit=yes`) and starts again with the million in the kernel and
//!    in the file; time until a PCP request is answered;
//! 4. **mass expiry**: requests of other subscribers are timed from a few seconds
//!    before the second in which every lease of the file ends until some seconds
//!    after.

use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use portgate_lab::Lab;
use serde::Serialize;

use crate::cgn::{self, GATEWAY_ADDR, POOL, SUBSCRIBERS, SUB_PREFIX};
use crate::daemon::{self, Kind};
use crate::scale::{in_lan0, Op, Run, Spec, Target, LEASE};
use crate::Args;

/// Seconds from the writing of the lease file to the second all its leases end.
pub const EXPIRE_IN: u64 = 150;
/// Subscribers whose requests are timed: after the million's, up to this many.
pub const SPARE: usize = 20_000;
/// Their requests in flight.
pub const WINDOW: usize = 16;
/// Restored mappings refreshed to check them, and of those carrying WAN bytes.
pub const CHECKS: usize = 200;
/// Of those, the ones probed from the WAN host.
pub const DELIVERIES: usize = 20;
/// First port of the pool's port sets (`cgn_port_range`'s default start).
const FIRST_PORT: u16 = 1024;

/// What the lease-file phases measured.
#[derive(Debug, Clone, Serialize)]
pub struct LeaseResults {
    /// Leases in the file.
    pub leases: usize,
    /// Its size, bytes.
    pub file_bytes: u64,
    /// Seconds from the daemon's start (empty kernel) to its first PCP answer.
    pub cold_start_s: f64,
    /// Restored mappings refreshed, and answered with the file's address and port.
    pub checked: (usize, usize),
    /// Of those, probed from the WAN host, and delivered to the subscriber.
    pub delivered: (usize, usize),
    /// Requests of other subscribers while the start-up compaction runs.
    pub compaction: Run,
    /// Seconds from the first answer until the file was replaced (`None`: not seen
    /// within the window).
    pub compaction_done_s: Option<f64>,
    /// The same requests afterwards (nothing running).
    pub quiet: Run,
    /// Seconds from the daemon's start (a million in the kernel and in the file) to
    /// its first PCP answer.
    pub restart_s: f64,
    /// Requests of other subscribers from before the leases' end until after it.
    pub expiry: Run,
    /// The unix second all leases ended in.
    pub expiry_at: u64,
    /// Elements of the kernel's pool map 10 s after it (the map's type line counts
    /// one): the spare subscribers' and the checked mappings are left.
    pub kernel_after: Option<usize>,
}

/// Ports per subscriber on its address, as portgated computes `cgn_port_quota`'s
/// default: the range shared by the subscribers of one address.
fn quota() -> u16 {
    let per_address = (1u32 << (32 - u32::from(SUB_PREFIX))) / u32::from(POOL);
    u16::try_from((65_536 - u32::from(FIRST_PORT)) / per_address.max(1)).unwrap_or(1)
}

/// Mapping `k`'s external port: its subscriber's set starts at
/// `FIRST_PORT + (i / POOL) * quota`; internal port `5000 + n` takes the set's `n`th.
fn external_port(k: usize, o: &Op) -> u16 {
    let i = k % SUBSCRIBERS;
    let start = usize::from(FIRST_PORT) + (i / usize::from(POOL)) * usize::from(quota());
    u16::try_from(start + usize::from(o.port - 5000)).unwrap_or(0)
}

/// The lease file's text: `leases` mappings ending at `expiry` (unix seconds).
fn lease_text(pool: &[Ipv4Addr], leases: usize, expiry: u64) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(leases * 140);
    for k in 0..leases {
        let o = cgn::op(k, LEASE);
        let Some(ext) = cgn::paired(pool, k % SUBSCRIBERS) else {
            continue;
        };
        let proto = if o.proto == 6 { "TCP" } else { "UDP" };
        let eport = external_port(k, &o);
        let nonce: String = o.nonce().iter().map(|b| format!("{b:02x}")).collect();
        let _ = write!(
            s,
            "#portgate-ext {proto} {eport} {ext}\n#portgate-origin {proto} {eport} pcp {nonce}\n\
             {proto}:{eport}:{}:{}:{expiry}:\n",
            o.client, o.port
        );
    }
    s
}

/// The timed requests: one TCP mapping of each spare subscriber.
fn spare_ops() -> Vec<Op> {
    let room = (1usize << (32 - u32::from(SUB_PREFIX))).saturating_sub(SUBSCRIBERS);
    (0..SPARE.min(room))
        .map(|s| Op {
            client: cgn::subscriber(SUBSCRIBERS + s),
            proto: 6,
            port: 5000,
            lifetime: LEASE,
            pcp: true,
        })
        .collect()
}

fn inode(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.ino())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Refreshes `CHECKS` restored mappings spread over the file: each must come back
/// with the address and port the file gave it; the first `DELIVERIES` are probed
/// from the WAN host.
fn check_restored(
    lab: &Lab,
    pool: &[Ipv4Addr],
    leases: usize,
) -> anyhow::Result<((usize, usize), (usize, usize))> {
    let (mut checked, mut same, mut probed, mut delivered) = (0, 0, 0, 0);
    let step = (leases / CHECKS).max(1);
    for n in 0..CHECKS.min(leases) {
        let k = n * step + n % step.max(1);
        if k >= leases {
            break;
        }
        let o = cgn::op(k, LEASE);
        checked += 1;
        let want = (cgn::paired(pool, k % SUBSCRIBERS), external_port(k, &o));
        let got = in_lan0(lab, || cgn::refresh_one(GATEWAY_ADDR, &o))?;
        let Some((addr, port)) = got else {
            eprintln!("   restored {k}: no answer");
            continue;
        };
        if (Some(addr), port) != want {
            eprintln!("   restored {k}: answered {addr}:{port}, the file had {want:?}");
            continue;
        }
        same += 1;
        if probed < DELIVERIES {
            probed += 1;
            let to = std::net::SocketAddr::new(addr.into(), port);
            if cgn::delivered(lab, &o, to, n as u64)? {
                delivered += 1;
            }
        }
    }
    Ok(((checked, same), (probed, delivered)))
}

/// Runs the phases in `lab` (set up by [`cgn::run`]) with `leases` leases; `extra`
/// is the CGN configuration the daemon runs with.
pub fn run(
    args: &Args,
    lab: &Lab,
    pool: &[Ipv4Addr],
    dir: &Path,
    extra: &str,
    leases: usize,
) -> anyhow::Result<LeaseResults> {
    let file = dir.join("portgated.leases");
    let expiry_at = unix_now() + EXPIRE_IN;
    eprintln!("== lease file: {leases} CGN leases, all ending at {expiry_at} (in {EXPIRE_IN} s)");
    std::fs::write(&file, lease_text(pool, leases, expiry_at))?;
    let file_bytes = std::fs::metadata(&file)?.len();
    let extra = format!(
        "{extra}lease_file={}\nkeep_table_on_exit=yes\n",
        file.display()
    );
    let before = inode(&file);
    let t = Instant::now();
    let d = daemon::start_with(lab, Kind::Portgated, &args.portgated, dir, &extra)?;
    let cold_start_s = t.elapsed().as_secs_f64();
    let ready = Instant::now();
    eprintln!("   cold start (empty kernel): first PCP answer after {cold_start_s:.2} s");
    let target = Target {
        lab,
        gw: GATEWAY_ADDR,
        pid: d.pid,
        any_port: true,
    };
    // Compaction: requests until the file has been replaced and 2 s more, 60 s at most.
    let ops = spare_ops();
    let cycled: Vec<Op> = ops.iter().copied().cycle().take(4_000_000).collect();
    let done_at = std::sync::Mutex::new(None::<f64>);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let compaction = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if inode(&file) != before {
                    if let Ok(mut g) = done_at.lock() {
                        g.get_or_insert(ready.elapsed().as_secs_f64());
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        // Windows of 2 s until the one in which the replacement is seen.
        let mut runs = Vec::new();
        let limit = ready + Duration::from_secs(60);
        let r = loop {
            let r = target.run_spec(&Spec {
                ops: &cycled,
                window: WINDOW,
                name: "compaction",
                size: leases,
                deadline: Some(Instant::now() + Duration::from_secs(2)),
            });
            match r {
                Ok(r) => runs.push(r),
                Err(e) => break Err(e),
            }
            let seen = done_at.lock().map(|g| g.is_some()).unwrap_or(true);
            if seen || Instant::now() > limit {
                break Ok(());
            }
        };
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        r.map(|()| merge(runs, "refresh (compaction)"))
    })?
    .context("no requests during the compaction")?;
    let compaction_done_s = done_at.lock().ok().and_then(|g| *g);
    eprintln!(
        "   compaction: file replaced after {compaction_done_s:?} s; others' p99 {:.2} ms meanwhile",
        compaction.stats.p99_ms
    );
    let quiet = target.run(&ops, WINDOW, "refresh (quiet)", leases)?;
    let (checked, delivered) = check_restored(lab, pool, leases)?;
    eprintln!(
        "   restored: {} of {} refreshed with the file's address and port; {} of {} delivered from the WAN host",
        checked.1, checked.0, delivered.1, delivered.0
    );
    d.stop(lab)?;
    let t = Instant::now();
    let d = daemon::start_with(lab, Kind::Portgated, &args.portgated, dir, &extra)?;
    let restart_s = t.elapsed().as_secs_f64();
    eprintln!(
        "   restart ({leases} in the kernel and the file): first PCP answer after {restart_s:.2} s"
    );
    let target = Target {
        pid: d.pid,
        ..target
    };
    // Mass expiry: from 5 s before the leases' second until 10 s after it.
    let from = UNIX_EPOCH + Duration::from_secs(expiry_at.saturating_sub(5));
    if let Ok(wait) = from.duration_since(SystemTime::now()) {
        std::thread::sleep(wait);
    }
    let until = UNIX_EPOCH + Duration::from_secs(expiry_at + 10);
    let left = until
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::from_secs(10));
    let expiry = target.run_spec(&Spec {
        ops: &cycled,
        window: WINDOW,
        name: "refresh (mass expiry)",
        size: leases,
        deadline: Some(Instant::now() + left),
    })?;
    // Small again: the kernel's pool map can be listed (the spare subscribers' and
    // the checked mappings are left).
    let kernel_after = lab
        .exec(
            portgate_lab::Host::Gateway,
            &["nft", "list", "map", "inet", "portgate", "fwd4c"],
        )
        .map(|o| String::from_utf8_lossy(&o.stdout).matches(" : ").count())
        .ok();
    eprintln!(
        "   mass expiry: others' p99 {:.2} ms from 5 s before to 10 s after the second {leases} leases ended in; {kernel_after:?} elements left in the kernel's pool map",
        expiry.stats.p99_ms
    );
    d.stop(lab)?;
    Ok(LeaseResults {
        leases,
        file_bytes,
        cold_start_s,
        checked,
        delivered,
        compaction,
        compaction_done_s,
        quiet,
        restart_s,
        expiry,
        expiry_at,
        kernel_after,
    })
}

/// Runs of one kind as one: latencies are not kept per request, so the result is the
/// run with the highest p99 (the worst window), its counts the sums.
fn merge(runs: Vec<Run>, name: &str) -> Option<Run> {
    let count = runs.iter().map(|r| r.stats.count).sum();
    let errors = runs.iter().map(|r| r.stats.errors).sum();
    let n = runs.len();
    let mut worst = runs
        .into_iter()
        .max_by(|a, b| a.stats.p99_ms.total_cmp(&b.stats.p99_ms))?;
    worst.op = name.to_owned();
    worst.stats.count = count;
    worst.stats.errors = errors;
    worst.stats.repeats = n;
    Some(worst)
}

/// The lease-file results as Markdown.
pub fn markdown(r: &LeaseResults) -> String {
    let mut s = format!(
        "\n### Lease file at {} mappings\n\nThe file: {} bytes, every lease ending at {}.\n\n\
         | phase | figure |\n|---|---|\n\
         | start with an empty kernel, until the first PCP answer | {:.2} s |\n\
         | restart with {} in the kernel and the file, until the first PCP answer | {:.2} s |\n\
         | others' p99 while the start-up compaction runs (worst 2 s window; file replaced after {}) | {:.2} ms |\n\
         | others' p99 afterwards | {:.2} ms |\n\
         | others' p99 from 5 s before to 10 s after all {} leases end | {:.2} ms |\n\
         | elements left in the kernel's pool map 10 s after they ended (type line included) | {} |\n\
         | restored mappings refreshed with the file's address and port | {} of {} |\n\
         | of those, bytes from the WAN host delivered | {} of {} |\n\n",
        r.leases,
        r.file_bytes,
        r.expiry_at,
        r.cold_start_s,
        r.leases,
        r.restart_s,
        r.compaction_done_s
            .map_or("not seen".to_owned(), |t| format!("{t:.1} s")),
        r.compaction.stats.p99_ms,
        r.quiet.stats.p99_ms,
        r.leases,
        r.expiry.stats.p99_ms,
        r.kernel_after.map_or("not listed".to_owned(), |n| n.to_string()),
        r.checked.1,
        r.checked.0,
        r.delivered.1,
        r.delivered.0,
    );
    s.push_str(crate::scale::RUN_HEAD);
    for run in [&r.compaction, &r.quiet, &r.expiry] {
        s.push_str(&crate::scale::run_row(run));
    }
    s
}
