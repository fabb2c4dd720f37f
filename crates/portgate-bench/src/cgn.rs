//! `--cgn` (and the last phase of `--scale`): CGN mode with a million mappings.
//!
//! The lab: [`POOL`] external addresses (a /28 of the WAN network) on the gateway's WAN
//! interface; [`SUBSCRIBERS`] subscriber addresses out of [`SUB_NET`]/15, which LAN
//! host 0 holds as a local route and the gateway routes to it (as `--scale` does with
//! its clients); portgated in CGN mode (`cgn_mode=yes`, the /28 as the pool, the /15
//! as `cgn_subscribers`, no UPnP, no NAT-PMP, no lease file). Every request is a PCP
//! MAP sent from its subscriber's own address (`IP_PKTINFO` on an `IP_TRANSPARENT`
//! socket); the daemon pairs it with its external address and port set.
//!
//! Phases: 1 000 mappings, cost windows; the fill to [`MAPPINGS`] ([`PER_SUBSCRIBER`]
//! each: 5 TCP, 5 UDP), cost windows; [`PROBES`] mappings
//! picked at random, each refreshed once to learn its external address and port (the
//! address must be the subscriber's pairing), then bytes from the WAN host to that
//! address and port must reach a socket bound to the subscriber's own address and the
//! internal port in LAN host 0; fairness: [`FAIR_OPS`] refreshes from other subscribers,
//! [`FAIR_WINDOW`] in flight, alone and then while one subscriber floods the daemon
//! with requests as fast as one sender can (the daemon runs with its default
//! `cgn_request_rate`); everything deleted. Memory (daemon RSS, the machine's slab) at
//! 0, 1 000, full and after the deletion.

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use portgate_lab::{Host, Lab};
use portgate_proto::pcp;
use serde::Serialize;

use crate::daemon::{self, Kind};
use crate::scale::{
    cost_windows, in_lan0, memory, send_from, slab_kib, with_lifetime, Memory, Op, Run, Target,
    COST_OPS, FILL_WINDOW, LEASE, RUN_HEAD,
};
use crate::Args;

/// The gateway's address in the subscribers' LAN (the daemon serves a /14 around it).
pub const GATEWAY_ADDR: Ipv4Addr = Ipv4Addr::new(10, 80, 0, 1);
/// The subscriber prefix (a /15: 131 072 addresses), routed to LAN host 0.
pub const SUB_NET: Ipv4Addr = Ipv4Addr::new(10, 82, 0, 0);
/// Its length.
pub const SUB_PREFIX: u8 = 15;
/// Subscribers used (the first ones of the prefix).
pub const SUBSCRIBERS: usize = 100_000;
/// Mappings per subscriber: internal ports 5000-5004, TCP and UDP.
pub const PER_SUBSCRIBER: usize = 10;
/// All mappings.
pub const MAPPINGS: usize = SUBSCRIBERS * PER_SUBSCRIBER;
/// External addresses in the pool.
pub const POOL: u8 = 16;
/// The pool's first address, last octet (the pool is .112/28 of the WAN network).
pub const POOL_FIRST: u8 = 112;
/// Mappings probed from the WAN host.
pub const PROBES: usize = 1000;
/// Refreshes of other subscribers measured in the fairness phase (each run).
pub const FAIR_OPS: usize = 20_000;
/// Their requests in flight.
pub const FAIR_WINDOW: usize = 16;

/// Subscriber `i`'s address.
pub fn subscriber(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(SUB_NET) + u32::try_from(i).unwrap_or(0))
}

/// Mapping `k`: subscriber `k mod SUBSCRIBERS` (so requests in flight together come
/// from different subscribers), its mapping `k div SUBSCRIBERS`.
pub fn op(k: usize, lifetime: u32) -> Op {
    let j = k / SUBSCRIBERS;
    Op {
        client: subscriber(k % SUBSCRIBERS),
        proto: if j < PER_SUBSCRIBER / 2 { 6 } else { 17 },
        port: 5000 + u16::try_from(j % (PER_SUBSCRIBER / 2)).unwrap_or(0),
        lifetime,
        pcp: true,
    }
}

/// The pool address subscriber `i` pairs with: offset mod pool size (docs/scale.md).
pub(crate) fn paired(pool: &[Ipv4Addr], i: usize) -> Option<Ipv4Addr> {
    pool.get(i % pool.len().max(1)).copied()
}

/// What the CGN run measured.
#[derive(Debug, Clone, Serialize)]
pub struct CgnResults {
    /// External addresses in the pool.
    pub pool: usize,
    /// Subscriber addresses used.
    pub subscribers: usize,
    /// Mappings asked for.
    pub target: usize,
    /// Successful adds (1 000 + the fill).
    pub reached: usize,
    /// The fill (1 000 -> target), pipelined.
    pub fill: Run,
    /// Cost windows at 1 000 and full.
    pub cost: Vec<Run>,
    /// Memory at 0, 1 000, full, after deleting all, after the daemon left.
    pub memory: Vec<Memory>,
    /// Daemon RSS per mapping, bytes ((full - started) / mappings).
    pub user_bytes_per_mapping: f64,
    /// Same with RssAnon.
    pub user_anon_bytes_per_mapping: f64,
    /// Slab per mapping, bytes ((full - all deleted) / mappings; machine-wide).
    pub kernel_bytes_per_mapping: f64,
    /// Deleting everything, pipelined.
    pub delete_all: Run,
    /// Probes: picked, answered with the paired address, delivered from the WAN host.
    pub probes: Probes,
    /// One subscriber flooding while the others refresh.
    pub fairness: Fairness,
    /// The lease-file phases: start, compaction, restart, mass expiry at a million.
    pub leases: crate::leases::LeaseResults,
    /// The machine's load average (1, 5, 15 min) at the start and at the end.
    pub loadavg: (String, String),
    /// Seconds the run took.
    pub seconds: f64,
}

/// One subscriber flooding while others refresh.
#[derive(Debug, Clone, Serialize)]
pub struct Fairness {
    /// The others' refreshes with nobody flooding.
    pub quiet: Run,
    /// The same refreshes while the flood runs.
    pub flooded: Run,
    /// Requests the flooding subscriber sent meanwhile.
    pub flood_sent: u64,
    /// Answers it got.
    pub flood_answered: u64,
    /// Seconds the flood lasted.
    pub flood_seconds: f64,
}

/// Sends `o` from its subscriber's address over and over until `stop`; counts what
/// went out and what came back.
fn flood(gw: Ipv4Addr, o: &Op, stop: &std::sync::atomic::AtomicBool) -> anyhow::Result<(u64, u64)> {
    use nix::sys::socket::{setsockopt, sockopt, SockaddrIn};
    use std::sync::atomic::Ordering;
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    setsockopt(&sock, sockopt::IpTransparent, &true).context("IP_TRANSPARENT")?;
    sock.set_nonblocking(true)?;
    let bytes = o.encode();
    let dst = SockaddrIn::from(SocketAddrV4::new(gw, pcp::SERVER_PORT));
    let (mut sent, mut answered) = (0u64, 0u64);
    let mut buf = [0u8; 1500];
    while !stop.load(Ordering::Relaxed) {
        if send_from(&sock, o.client, &bytes, &dst).is_ok() {
            sent += 1;
        }
        while sock.recv_from(&mut buf).is_ok() {
            answered += 1;
        }
    }
    Ok((sent, answered))
}

fn fairness(target: &Target<'_>, plan: &[Op], size: usize) -> anyhow::Result<Fairness> {
    use std::sync::atomic::{AtomicBool, Ordering};
    // Subscriber 0 floods; subscribers 1.. refresh their first mapping.
    let flooder = plan.first().copied().context("empty plan")?;
    let others = plan.get(1..=FAIR_OPS).unwrap_or(&[]);
    let quiet = target.run(others, FAIR_WINDOW, "refresh", size)?;
    let stop = AtomicBool::new(false);
    let lab = target.lab;
    let t = Instant::now();
    let (flooded, counts) = std::thread::scope(|s| {
        let f = s.spawn(|| lab.in_netns(Host::Lan(0), || flood(GATEWAY_ADDR, &flooder, &stop)));
        // Let the flood reach its pace first.
        std::thread::sleep(Duration::from_millis(300));
        let r = target.run(others, FAIR_WINDOW, "refresh (flood)", size);
        stop.store(true, Ordering::Relaxed);
        (r, f.join())
    });
    let flood_seconds = t.elapsed().as_secs_f64();
    let (flood_sent, flood_answered) = match counts {
        Ok(Ok(Ok(c))) => c,
        _ => anyhow::bail!("the flooding thread failed"),
    };
    Ok(Fairness {
        quiet,
        flooded: flooded?,
        flood_sent,
        flood_answered,
        flood_seconds,
    })
}

/// The sampled mappings.
#[derive(Debug, Clone, Serialize)]
pub struct Probes {
    /// Seed of the sample.
    pub seed: u64,
    /// Mappings picked.
    pub picked: usize,
    /// Refreshes answered with success and the subscriber's paired address.
    pub paired: usize,
    /// Of those, WAN bytes that reached the subscriber's address and internal port.
    pub delivered: usize,
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn setup(lab: &Lab, pool: &[Ipv4Addr]) -> anyhow::Result<()> {
    let gw = lab.gateway();
    let lan0 = lab.ipv4(Host::Lan(0));
    let subs = format!("{SUB_NET}/{SUB_PREFIX}");
    let gw_addr = format!("{GATEWAY_ADDR}/32");
    let mut steps: Vec<(Host, String)> = vec![
        (
            Host::Gateway,
            format!("ip addr add {gw_addr} dev {}", gw.lan.name),
        ),
        (Host::Gateway, format!("ip route add {subs} via {lan0}")),
        (Host::Lan(0), format!("ip route add local {subs} dev lo")),
        (
            Host::Lan(0),
            format!("ip route add {gw_addr} via {}", gw.lan.ipv4),
        ),
    ];
    for a in pool {
        steps.push((
            Host::Gateway,
            format!("ip addr add {a}/32 dev {}", gw.wan.name),
        ));
    }
    for (host, cmd) in steps {
        let args: Vec<&str> = cmd.split(' ').collect();
        lab.exec(host, &args)?;
    }
    Ok(())
}

/// A small deterministic generator (xorshift64*) for the sample.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Sends `o` (a refresh) from its subscriber's address and returns the answer's
/// external address and port, if it succeeded.
pub(crate) fn refresh_one(gw: Ipv4Addr, o: &Op) -> anyhow::Result<Option<(Ipv4Addr, u16)>> {
    use nix::sys::socket::{setsockopt, sockopt, SockaddrIn};
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    setsockopt(&sock, sockopt::IpTransparent, &true).context("IP_TRANSPARENT")?;
    sock.set_read_timeout(Some(Duration::from_secs(2)))?;
    let bytes = o.encode();
    let dst = SockaddrIn::from(SocketAddrV4::new(gw, pcp::SERVER_PORT));
    send_from(&sock, o.client, &bytes, &dst)?;
    let mut buf = [0u8; 1500];
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            break;
        };
        let Ok(r) = pcp::Response::parse(buf.get(..n).unwrap_or_default()) else {
            continue;
        };
        if let pcp::OpData::Map(m) = r.data {
            if m.internal_port != o.port || m.protocol != o.proto {
                continue;
            }
            return Ok(match (r.result.is_success(), m.external_address) {
                (true, IpAddr::V4(a)) => Some((a, m.external_port)),
                _ => None,
            });
        }
    }
    Ok(None)
}

/// Bytes from the WAN host to `to` reach a socket bound to (`o.client`, `o.port`) in
/// LAN host 0: the subscriber's own address, so the mapping led to that subscriber.
pub(crate) fn delivered(lab: &Lab, o: &Op, to: SocketAddr, n: u64) -> anyhow::Result<bool> {
    let payload = format!("cgn probe {n}");
    let local = SocketAddr::new(IpAddr::V4(o.client), o.port);
    let wait = Duration::from_secs(2);
    if o.proto == 6 {
        let listener = lab.in_netns(Host::Lan(0), || TcpListener::bind(local))??;
        listener.set_nonblocking(true)?;
        let p = payload.clone();
        let sent = lab.in_netns(Host::Wan, move || -> std::io::Result<()> {
            let mut s = TcpStream::connect_timeout(&to, wait)?;
            s.write_all(p.as_bytes())
        })?;
        if sent.is_err() {
            return Ok(false);
        }
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            match listener.accept() {
                Ok((mut s, _)) => {
                    s.set_nonblocking(false)?;
                    s.set_read_timeout(Some(wait))?;
                    let mut got = Vec::new();
                    let _ = s.read_to_end(&mut got);
                    return Ok(got == payload.as_bytes());
                }
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
        Ok(false)
    } else {
        let sock = lab.in_netns(Host::Lan(0), || UdpSocket::bind(local))??;
        sock.set_read_timeout(Some(wait))?;
        let p = payload.clone();
        lab.in_netns(Host::Wan, move || -> std::io::Result<usize> {
            UdpSocket::bind("0.0.0.0:0")?.send_to(p.as_bytes(), to)
        })??;
        let mut buf = [0u8; 256];
        Ok(matches!(sock.recv(&mut buf), Ok(k) if buf.get(..k) == Some(payload.as_bytes())))
    }
}

fn probe_sample(lab: &Lab, pool: &[Ipv4Addr], reached: usize) -> anyhow::Result<Probes> {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    let mut rng = Rng(seed);
    let mut out = Probes {
        seed,
        picked: 0,
        paired: 0,
        delivered: 0,
    };
    for n in 0..PROBES {
        let k = (rng.next() % reached.max(1) as u64) as usize;
        let o = op(k, LEASE);
        out.picked += 1;
        let Some((addr, port)) = in_lan0(lab, || refresh_one(GATEWAY_ADDR, &o))? else {
            continue;
        };
        if Some(addr) != paired(pool, k % SUBSCRIBERS) {
            eprintln!("   probe {k}: answered {addr}, not the paired address");
            continue;
        }
        out.paired += 1;
        let to = SocketAddr::new(IpAddr::V4(addr), port);
        if delivered(lab, &o, to, n as u64)? {
            out.delivered += 1;
        } else {
            eprintln!("   probe {k}: {to} did not reach {}:{}", o.client, o.port);
        }
    }
    Ok(out)
}

/// The lab with the pool and the subscribers' routes, a scratch directory, and the
/// daemon's CGN configuration.
fn lab_and_config() -> anyhow::Result<(Lab, Vec<Ipv4Addr>, std::path::PathBuf, String)> {
    let lab = Lab::builder()
        .lan_hosts(1)
        .wan_unreserved()
        .echo(false)
        .build()
        .context("building the lab (needs root)")?;
    let wan = lab.external_ipv4().octets();
    let pool: Vec<Ipv4Addr> = (0..POOL)
        .map(|i| Ipv4Addr::new(wan[0], wan[1], wan[2], POOL_FIRST + i))
        .collect();
    setup(&lab, &pool)?;
    let dir = std::env::temp_dir().join(format!("portgate-cgn-{}", lab.id()));
    std::fs::create_dir_all(&dir)?;
    let pool_net = format!(
        "{}/28",
        pool.first().copied().unwrap_or(Ipv4Addr::UNSPECIFIED)
    );
    let extra = format!(
        "listening_ip={GATEWAY_ADDR}/14\nmax_mappings_per_client=16\nmin_lifetime=1\n\
         cgn_mode=yes\ncgn_external_pool={pool_net}\ncgn_subscribers={SUB_NET}/{SUB_PREFIX}\n"
    );
    Ok((lab, pool, dir, extra))
}

/// Runs the CGN phases and writes `cgn.json` and `cgn.md` to `args.out`.
pub fn run(args: &Args) -> anyhow::Result<CgnResults> {
    let started = Instant::now();
    let load_start = loadavg();
    eprintln!("== CGN mode: {MAPPINGS} mappings from {SUBSCRIBERS} subscribers over {POOL} addresses (load {load_start})");
    let (lab, pool, dir, extra) = lab_and_config()?;
    let d = daemon::start_with(&lab, Kind::Portgated, &args.portgated, &dir, &extra)?;
    let pid = d.pid;
    let target = Target {
        lab: &lab,
        gw: GATEWAY_ADDR,
        pid,
        any_port: true,
    };
    let plan: Vec<Op> = (0..MAPPINGS).map(|k| op(k, LEASE)).collect();
    let mut mem = vec![memory(pid, 0)];
    let mut cost = Vec::new();
    let first = plan.get(..1000).unwrap_or(&plan);
    let r = target.run(first, FILL_WINDOW, "add", 0)?;
    cost_windows(&target, &plan, 1000, &mut cost)?;
    mem.push(memory(pid, 1000));
    let rest = plan.get(1000..).unwrap_or(&[]);
    let fill = target.run(rest, FILL_WINDOW, "add", 1000)?;
    let reached = 1000 - r.stats.errors + fill.stats.count - fill.stats.errors;
    // The kernel's map is not counted: the kernel resumes a dump of a hash set by
    // walking it from the start, so listing a million elements takes many minutes
    // (docs/scale.md); the probes below check the kernel's part.
    eprintln!("   full: {reached} of {MAPPINGS} mappings");
    mem.push(memory(pid, reached));
    if reached >= MAPPINGS {
        cost_windows(&target, &plan, MAPPINGS, &mut cost)?;
    } else {
        eprintln!("   not full: no cost windows at the top");
    }
    let probes = probe_sample(&lab, &pool, reached.min(MAPPINGS))?;
    eprintln!(
        "   probes (seed {}): {} picked, {} answered with the paired address, {} delivered from the WAN host",
        probes.seed, probes.picked, probes.paired, probes.delivered
    );
    let fairness = fairness(&target, &plan, reached)?;
    eprintln!(
        "   fairness: others' p99 {:.2} ms alone, {:.2} ms while one subscriber sent {} requests in {:.1} s ({} answered)",
        fairness.quiet.stats.p99_ms,
        fairness.flooded.stats.p99_ms,
        fairness.flood_sent,
        fairness.flood_seconds,
        fairness.flood_answered
    );
    let delete_all = target.run(&with_lifetime(&plan, 0), FILL_WINDOW, "delete", reached)?;
    mem.push(memory(pid, 0));
    d.stop(&lab)?;
    mem.push(Memory {
        mappings: 0,
        rss_kib: 0,
        rss_anon_kib: 0,
        slab_kib: slab_kib(),
    });
    let leases = crate::leases::run(args, &lab, &pool, &dir, &extra, MAPPINGS)?;
    let per = |a: u64, b: u64| (a as f64 - b as f64) * 1024.0 / reached.max(1) as f64;
    let (empty, full, emptied) = (mem[0], mem[2], mem[3]);
    let results = CgnResults {
        pool: pool.len(),
        subscribers: SUBSCRIBERS,
        target: MAPPINGS,
        reached,
        fill,
        cost,
        user_bytes_per_mapping: per(full.rss_kib, empty.rss_kib),
        user_anon_bytes_per_mapping: per(full.rss_anon_kib, empty.rss_anon_kib),
        kernel_bytes_per_mapping: per(full.slab_kib, emptied.slab_kib),
        memory: mem,
        delete_all,
        probes,
        fairness,
        leases,
        loadavg: (load_start, loadavg()),
        seconds: started.elapsed().as_secs_f64(),
    };
    eprintln!(
        "   memory per mapping: daemon RSS {:.0} B (RssAnon {:.0} B), kernel slab {:.0} B; load {}",
        results.user_bytes_per_mapping,
        results.user_anon_bytes_per_mapping,
        results.kernel_bytes_per_mapping,
        results.loadavg.1
    );
    let _ = std::fs::remove_dir_all(&dir);
    write(&results, &args.out)?;
    Ok(results)
}

fn write(r: &CgnResults, out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("cgn.json"), serde_json::to_string_pretty(r)?)?;
    let md = markdown(r);
    std::fs::write(out.join("cgn.md"), &md)?;
    eprintln!("{md}");
    Ok(())
}

/// The CGN results as a Markdown section.
pub fn markdown(r: &CgnResults) -> String {
    let mut s = format!(
        "## CGN mode\n\n{} of {} mappings from {} subscribers over {} external addresses; \
         load average {} at the start, {} at the end; {:.0} s in all.\n\n",
        r.reached, r.target, r.subscribers, r.pool, r.loadavg.0, r.loadavg.1, r.seconds
    );
    s.push_str(RUN_HEAD);
    for run in std::iter::once(&r.fill)
        .chain(&r.cost)
        .chain([&r.fairness.quiet, &r.fairness.flooded])
        .chain(std::iter::once(&r.delete_all))
    {
        s.push_str(&crate::scale::run_row(run));
    }
    s.push_str(&format!(
        "\nCost windows: the last {COST_OPS} mappings below the size, refreshed, deleted \
         and added back (median of 5).\n\nMemory: daemon {:.0} B per mapping (RssAnon {:.0} B), \
         kernel (slab, machine-wide) {:.0} B per mapping.\n\nProbes (seed {}): {} mappings \
         picked at random, {} refreshed with the paired address, {} carried bytes from the \
         WAN host to the subscriber's address.\n\nFairness: {} refreshes from other \
         subscribers, {} in flight, p99 {:.2} ms alone and {:.2} ms while one subscriber \
         sent {} requests in {:.1} s ({} answered: the daemon's request rate per source).\n",
        r.user_bytes_per_mapping,
        r.user_anon_bytes_per_mapping,
        r.kernel_bytes_per_mapping,
        r.probes.seed,
        r.probes.picked,
        r.probes.paired,
        r.probes.delivered,
        FAIR_OPS,
        FAIR_WINDOW,
        r.fairness.quiet.stats.p99_ms,
        r.fairness.flooded.stats.p99_ms,
        r.fairness.flood_sent,
        r.fairness.flood_seconds,
        r.fairness.flood_answered
    ));
    s.push_str(&crate::leases::markdown(&r.leases));
    s
}

/// Only the lease-file phases ([`crate::leases`]) with `leases` leases, in a lab set
/// up as [`run`]'s; writes `leases.json` and `leases.md`.
pub fn run_leases(args: &Args, leases: usize) -> anyhow::Result<()> {
    let (lab, pool, dir, extra) = lab_and_config()?;
    let r = crate::leases::run(args, &lab, &pool, &dir, &extra, leases.min(MAPPINGS))?;
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(
        args.out.join("leases.json"),
        serde_json::to_string_pretty(&r)?,
    )?;
    let md = crate::leases::markdown(&r);
    std::fs::write(args.out.join("leases.md"), &md)?;
    eprintln!("{md}");
    Ok(())
}
