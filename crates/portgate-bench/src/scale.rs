//! `--scale`: many NAT-PMP/PCP clients at once, and one external address filled.
//!
//! The clients are source addresses, not processes: LAN host 0 holds a whole /17
//! ([`CLIENT_NET`]) as a local route (`ip route add local ... dev lo`) and sends each
//! request from its client's address (`IP_PKTINFO` on an `IP_TRANSPARENT` socket);
//! the gateway routes that /17 to LAN host 0, and portgated serves it as a LAN
//! (`listening_ip=10.78.0.1/16`, the gateway holding 10.78.0.1). Every request is a
//! real datagram from its own address, and the daemon's per-client rules (quota,
//! secure mode, nonces) apply to each address. Up to `window` requests are in flight
//! at once over all clients, each from a different client address.
//!
//! Phases, in one run (see docs/scale.md for what each figure means):
//! 1. the nftables floor: single-element and batched transactions into our own map,
//!    through portgate-nft, in a namespace of their own;
//! 2. the reference (unless `--no-reference`): pipelined NAT-PMP adds for a time
//!    budget, from LAN host 0's own address (its LAN is the lab's /24);
//! 3. portgated: add/refresh/delete throughput of [`THROUGHPUT_MAPPINGS`] mappings
//!    at several windows; then the external address filled with every TCP and UDP
//!    port (1024-65535) from [`FULL_CLIENTS`] addresses, with cost windows, reads and
//!    memory at 1 000 mappings and when full, and WAN probes through sampled mappings.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use portgate_lab::{Host, Lab};
use portgate_nft::{Change, Firewall, L4Proto, Mapping, MappingKey, NftConfig, NftFirewall};
use portgate_proto::pcp;
use serde::Serialize;

use crate::client::Soap;
use crate::daemon::{self, Kind, HTTP_PORT};
use crate::stats::{Recorder, Window};
use crate::Args;

/// The gateway's address in the clients' LAN (a /16 for the daemon: its LAN).
pub const GATEWAY_SCALE_ADDR: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);

/// The clients' addresses: a /17 inside that /16, routed to LAN host 0.
pub const CLIENT_NET: Ipv4Addr = Ipv4Addr::new(10, 78, 128, 0);

/// Every TCP and UDP port an external address offers to mappings (1024-65535).
pub const PORTS_PER_PROTO: usize = 65_536 - 1024;

/// All mappings of one external address: TCP and UDP.
pub const FULL: usize = 2 * PORTS_PER_PROTO;

/// Client addresses for the full table: 12 mappings each (6 TCP, 6 UDP).
pub const FULL_CLIENTS: usize = FULL / 12;

/// Per-client quota configured for the scale runs (above the 12 each one holds).
pub const QUOTA: u32 = 16;

/// Mappings of the throughput runs (spread over all [`FULL_CLIENTS`] addresses).
pub const THROUGHPUT_MAPPINGS: usize = 20_000;

/// Requests in flight at once in the throughput runs, one run per value.
pub const WINDOWS: [usize; 4] = [1, 16, 64, 256];

/// Requests in flight while filling the table.
pub const FILL_WINDOW: usize = 64;

/// Operations of each cost window (at 1 000 mappings and when full).
pub const COST_OPS: usize = 500;

/// Lease asked for, seconds.
pub const LEASE: u32 = 7200;

/// A request without an answer after this long counts as failed.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

/// Mappings given a short lease in the mass-expiry phase.
pub const EXPIRY_MAPPINGS: usize = 100_000;

/// Their lease, seconds (the daemon runs with `min_lifetime=1`).
pub const EXPIRY_LEASE: u32 = 20;

/// Long-lived mappings refreshed one at a time while the others expire.
pub const EXPIRY_PROBE_MAPPINGS: usize = 500;

/// Mappings probed from the WAN host when the table is full.
pub const PROBES: usize = 20;

/// The address of client `i`.
pub fn client_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(CLIENT_NET) + u32::try_from(i).unwrap_or(0))
}

/// One request of the plan: mapping `k` of the full table (see [`op`]).
#[derive(Debug, Clone, Copy)]
pub struct Op {
    /// Source address.
    pub client: Ipv4Addr,
    /// 6 or 17.
    pub proto: u8,
    /// Internal = external port.
    pub port: u16,
    /// Lease asked for; 0 deletes.
    pub lifetime: u32,
    /// PCP MAP (else NAT-PMP).
    pub pcp: bool,
}

/// Mapping `k` (0..[`FULL`]) of the full table with `clients` client addresses:
/// TCP ports first, then UDP; every other one over PCP.
pub fn op(k: usize, clients: usize, lifetime: u32) -> Op {
    let proto = if k < PORTS_PER_PROTO { 6 } else { 17 };
    let port = 1024 + u16::try_from(k % PORTS_PER_PROTO).unwrap_or(0);
    Op {
        client: client_addr(k % clients.max(1)),
        proto,
        port,
        lifetime,
        pcp: k % 2 == 1,
    }
}

/// What matches an answer to its request: protocol, internal port, and for PCP the
/// client address (carried in the nonce, which the answer echoes).
pub type Key = (u8, u16, u32);

impl Op {
    fn key(&self) -> Key {
        let client = if self.pcp { u32::from(self.client) } else { 0 };
        (self.proto, self.port, client)
    }

    /// The PCP nonce: protocol, port and client, so that an answer names its request.
    pub(crate) fn nonce(&self) -> [u8; pcp::NONCE_LEN] {
        let mut nonce = [0x3cu8; pcp::NONCE_LEN];
        nonce[0] = self.proto;
        nonce[1..3].copy_from_slice(&self.port.to_be_bytes());
        nonce[3..7].copy_from_slice(&self.client.octets());
        nonce
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        if self.pcp {
            let nonce = self.nonce();
            pcp::Request {
                lifetime: self.lifetime,
                client_address: IpAddr::V4(self.client),
                data: pcp::OpData::Map(pcp::MapData {
                    nonce,
                    protocol: self.proto,
                    internal_port: self.port,
                    external_port: self.port,
                    external_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                }),
                options: Vec::new(),
            }
            .to_bytes()
        } else {
            let mut v = vec![0u8, if self.proto == 6 { 2 } else { 1 }, 0, 0];
            v.extend_from_slice(&self.port.to_be_bytes());
            let suggested = if self.lifetime == 0 { 0 } else { self.port };
            v.extend_from_slice(&suggested.to_be_bytes());
            v.extend_from_slice(&self.lifetime.to_be_bytes());
            v
        }
    }
}

/// The mapping a reply answers and whether it succeeded (with the external port
/// asked for, or any port for a delete, or with `any_port` any port at all): `None`
/// for anything else.
fn decode(r: &[u8], any_port: bool) -> Option<(Key, bool)> {
    let u16_at = |i: usize| Some(u16::from_be_bytes([*r.get(i)?, *r.get(i + 1)?]));
    match r.first()? {
        0 => {
            let proto = match r.get(1)? {
                129 => 17,
                130 => 6,
                _ => return None,
            };
            let (iport, eport) = (u16_at(8)?, u16_at(10)?);
            let ok = u16_at(2)? == 0 && (eport == iport || eport == 0 || any_port);
            Some(((proto, iport, 0), ok))
        }
        2 => {
            let (proto, iport, eport) = (*r.get(36)?, u16_at(40)?, u16_at(42)?);
            let client = u32::from_be_bytes(r.get(27..31)?.try_into().ok()?);
            let ok = *r.get(3)? == 0 && (eport == iport || eport == 0 || any_port);
            Some(((proto, iport, client), ok))
        }
        _ => None,
    }
}

/// What a run of requests gave.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// `add`, `refresh`, `delete`.
    pub op: String,
    /// Requests in flight at once.
    pub window: usize,
    /// Mappings in the table when the run started.
    pub size_before: usize,
    /// Rate, p50, p99 (ms) and error count.
    pub stats: Window,
    /// CPU time the daemon used (all its threads, user and kernel: the netlink
    /// transactions run in its system calls) per request, microseconds. On a
    /// shared machine the rate depends on what else runs; this does much less.
    pub daemon_cpu_us_per_op: Option<f64>,
}

/// CPU time all threads of `pid` have run, nanoseconds (`/proc/PID/task/*/schedstat`).
fn cpu_ns(pid: u32) -> Option<u64> {
    let mut total = 0u64;
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let text = std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok()?;
        total += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// A daemon the requests go to: its address for NAT-PMP/PCP and its process.
pub(crate) struct Target<'a> {
    pub(crate) lab: &'a Lab,
    pub(crate) gw: Ipv4Addr,
    pub(crate) pid: u32,
    /// Whether an answer with another external port than the internal one is a
    /// success (CGN mode gives ports of the subscriber's set).
    pub(crate) any_port: bool,
}

impl Target<'_> {
    /// [`pipeline`] run in LAN host 0, with the daemon's CPU time per request.
    pub(crate) fn run_spec(&self, spec: &Spec<'_>) -> anyhow::Result<Run> {
        let before = cpu_ns(self.pid);
        let (gw, any_port) = (self.gw, self.any_port);
        let mut r = in_lan0(self.lab, || pipeline(gw, spec, any_port))?;
        if let (Some(b), Some(a)) = (before, cpu_ns(self.pid)) {
            r.daemon_cpu_us_per_op =
                Some(a.saturating_sub(b) as f64 / 1000.0 / r.stats.count.max(1) as f64);
        }
        report_run(&r);
        Ok(r)
    }

    pub(crate) fn run(
        &self,
        ops: &[Op],
        window: usize,
        name: &str,
        size: usize,
    ) -> anyhow::Result<Run> {
        self.run_spec(&Spec {
            ops,
            window,
            name,
            size,
            deadline: None,
        })
    }
}

/// One run of requests: `ops` with up to `window` in flight, named `name`, from a
/// table of `size` mappings, sending nothing new after `deadline`.
pub(crate) struct Spec<'a> {
    pub(crate) ops: &'a [Op],
    pub(crate) window: usize,
    pub(crate) name: &'a str,
    pub(crate) size: usize,
    pub(crate) deadline: Option<Instant>,
}

/// The run with the median rate of `runs` (all of one kind), its error count the
/// sum over them and its `repeats` their number.
fn median_run(mut runs: Vec<Run>) -> Option<Run> {
    runs.sort_by(|a, b| a.stats.ops_per_s.total_cmp(&b.stats.ops_per_s));
    let n = runs.len();
    let errors = runs.iter().map(|r| r.stats.errors).sum();
    let count = runs.iter().map(|r| r.stats.count).sum();
    let mut m = runs.into_iter().nth(n / 2)?;
    m.stats.errors = errors;
    m.stats.count = count;
    m.stats.repeats = n;
    Some(m)
}

/// Cost windows repeated this many times; the report keeps the median.
pub const COST_REPEATS: usize = 5;

/// Sends the requests of `spec` to `gw` from their client addresses (after the
/// deadline the wall time counts until the last answer); one socket, answers matched
/// by (protocol, internal port).
fn pipeline(gw: Ipv4Addr, spec: &Spec<'_>, any_port: bool) -> anyhow::Result<Run> {
    let Spec {
        ops,
        window,
        name,
        size,
        deadline,
    } = *spec;
    use nix::sys::socket::{setsockopt, sockopt, SockaddrIn};
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    setsockopt(&sock, sockopt::IpTransparent, &true).context("IP_TRANSPARENT")?;
    // Room for a window's answers arriving in a burst (the default holds about 200).
    setsockopt(&sock, sockopt::RcvBufForce, &(4 << 20)).context("SO_RCVBUFFORCE")?;
    sock.set_read_timeout(Some(Duration::from_millis(20)))?;
    let dst = SockaddrIn::from(SocketAddrV4::new(gw, pcp::SERVER_PORT));
    let window = window.max(1);
    let mut in_flight: HashMap<Key, Instant> = HashMap::with_capacity(window * 2);
    let mut rec = Recorder::default();
    let mut next = 0usize;
    let mut buf = [0u8; 1500];
    let start = Instant::now();
    loop {
        while in_flight.len() < window && deadline.map_or(true, |d| Instant::now() < d) {
            let Some(o) = ops.get(next) else { break };
            next += 1;
            send_from(&sock, o.client, &o.encode(), &dst)
                .with_context(|| format!("send from {}", o.client))?;
            in_flight.insert(o.key(), Instant::now());
        }
        if in_flight.is_empty() {
            break;
        }
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => {
                if let Some((key, ok)) = buf.get(..n).and_then(|r| decode(r, any_port)) {
                    if let Some(sent) = in_flight.remove(&key) {
                        rec.push(sent.elapsed(), ok);
                    }
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                in_flight.retain(|_, sent| {
                    let lost = sent.elapsed() > REPLY_TIMEOUT;
                    if lost {
                        rec.push(REPLY_TIMEOUT, false);
                    }
                    !lost
                });
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Run {
        op: name.to_owned(),
        window,
        size_before: size,
        stats: rec.finish(name, size, start.elapsed()),
        daemon_cpu_us_per_op: None,
    })
}

/// Sends `bytes` to `dst` from the address `from` (`IP_PKTINFO`; the socket has
/// `IP_TRANSPARENT`, the address is one of the local route's).
pub(crate) fn send_from(
    sock: &UdpSocket,
    from: Ipv4Addr,
    bytes: &[u8],
    dst: &nix::sys::socket::SockaddrIn,
) -> nix::Result<usize> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let info = nix::libc::in_pktinfo {
        ipi_ifindex: 0,
        ipi_spec_dst: nix::libc::in_addr {
            s_addr: u32::from_ne_bytes(from.octets()),
        },
        ipi_addr: nix::libc::in_addr { s_addr: 0 },
    };
    let iov = [std::io::IoSlice::new(bytes)];
    let cmsg = [ControlMessage::Ipv4PacketInfo(&info)];
    sendmsg(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), Some(dst))
}

/// Transactions into portgate-nft's own map, without a daemon.
#[derive(Debug, Clone, Serialize)]
pub struct NftFloor {
    /// Single-element transactions: elements added per second (one transaction each).
    pub single_adds_per_s: f64,
    /// Single-element transactions: elements deleted per second.
    pub single_deletes_per_s: f64,
    /// Elements per batched transaction.
    pub batch: usize,
    /// Batched: elements added per second, the map growing 0 -> [`FULL`].
    pub batched_adds_per_s: f64,
    /// Batched: elements refreshed per second in a full map.
    pub batched_refreshes_per_s: f64,
    /// Batched: elements deleted per second, [`FULL`] -> 0.
    pub batched_deletes_per_s: f64,
    /// Single-element operations measured.
    pub single_count: usize,
}

struct Netns(String);
impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn nft_mapping(k: usize) -> Mapping {
    let o = op(k, FULL_CLIENTS, LEASE);
    Mapping {
        key: MappingKey {
            proto: L4Proto(o.proto),
            external_port: o.port,
            remote: None,
            external: None,
        },
        internal_addr: o.client,
        internal_port: o.port,
        timeout: Some(Duration::from_secs(u64::from(LEASE))),
    }
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

/// Measures the nftables floor in a namespace of its own.
pub fn nft_floor(single: usize, batch: usize) -> anyhow::Result<NftFloor> {
    let ns = Netns(format!("pgscale-nft-{}", std::process::id()));
    let made = Command::new("ip").args(["netns", "add", &ns.0]).status()?;
    anyhow::ensure!(made.success(), "ip netns add {}", ns.0);
    let mut fw = NftFirewall::open_in_netns(&ns.0, NftConfig::new("wan0"))?;
    fw.init()?;
    let t = Instant::now();
    for k in 0..single {
        fw.put(&nft_mapping(k))?;
    }
    let single_adds = rate(single, t.elapsed());
    let t = Instant::now();
    for k in 0..single {
        fw.remove(&nft_mapping(k).key)?;
    }
    let single_deletes = rate(single, t.elapsed());
    let puts: Vec<Change> = (0..FULL).map(|k| Change::Put(nft_mapping(k))).collect();
    let timed = |fw: &mut NftFirewall, changes: &[Change]| -> anyhow::Result<f64> {
        let t = Instant::now();
        for chunk in changes.chunks(batch.max(1)) {
            fw.apply(chunk)?;
        }
        Ok(rate(changes.len(), t.elapsed()))
    };
    let batched_adds = timed(&mut fw, &puts)?;
    let batched_refreshes = timed(&mut fw, &puts)?;
    anyhow::ensure!(fw.list()?.len() == FULL, "not every element present");
    let removes: Vec<Change> = (0..FULL)
        .map(|k| Change::Remove(nft_mapping(k).key))
        .collect();
    let batched_deletes = timed(&mut fw, &removes)?;
    fw.shutdown(false)?;
    Ok(NftFloor {
        single_adds_per_s: single_adds,
        single_deletes_per_s: single_deletes,
        batch,
        batched_adds_per_s: batched_adds,
        batched_refreshes_per_s: batched_refreshes,
        batched_deletes_per_s: batched_deletes,
        single_count: single,
    })
}

/// Memory of the daemon and of the kernel at one point.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Memory {
    /// Mappings held.
    pub mappings: usize,
    /// The daemon's VmRSS, KiB.
    pub rss_kib: u64,
    /// The daemon's RssAnon (private anonymous memory), KiB.
    pub rss_anon_kib: u64,
    /// The machine's slab memory (`Slab` in /proc/meminfo), KiB: global, so other
    /// activity on the machine shows in it too.
    pub slab_kib: u64,
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|t| kib_field(&t, field))
        .unwrap_or(0)
}

fn kib_field(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

pub(crate) fn slab_kib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| kib_field(&t, "Slab"))
        .unwrap_or(0)
}

pub(crate) fn memory(pid: u32, mappings: usize) -> Memory {
    // Let freed slab objects settle (RCU frees them after a grace period).
    std::thread::sleep(Duration::from_millis(500));
    Memory {
        mappings,
        rss_kib: status_kib(pid, "VmRSS"),
        rss_anon_kib: status_kib(pid, "RssAnon"),
        slab_kib: slab_kib(),
    }
}

/// Read latencies over SOAP at one table size.
#[derive(Debug, Clone, Serialize)]
pub struct Reads {
    /// Mappings in the table.
    pub size: usize,
    /// GetGenericPortMappingEntry at indexes spread over the table (kept-alive).
    pub generic: Window,
    /// GetListOfPortMappings, TCP 1-65535, up to 1 000 entries each (kept-alive).
    pub list: Window,
}

fn reads(lab: &Lab, size: usize) -> anyhow::Result<Reads> {
    let gw = lab.gateway().lan.ipv4;
    let me = lab.ipv4(Host::Lan(0));
    lab.in_netns(Host::Lan(0), move || -> anyhow::Result<Reads> {
        let mut c = Soap::new(gw, HTTP_PORT, me, true);
        let mut rec = Recorder::default();
        let t = Instant::now();
        for i in 0..200usize {
            let index = (i * 7919) % size.max(1);
            let t1 = Instant::now();
            let ok = c.generic(index).is_ok();
            rec.push(t1.elapsed(), ok);
        }
        let generic = rec.finish("get_generic", size, t.elapsed());
        let mut rec = Recorder::default();
        let t = Instant::now();
        for _ in 0..20 {
            let t1 = Instant::now();
            let ok = c.list(1000).is_ok_and(|n| n > 0);
            rec.push(t1.elapsed(), ok);
        }
        let list = rec.finish("get_list", size, t.elapsed());
        Ok(Reads {
            size,
            generic,
            list,
        })
    })?
}

/// The table filled: one external address, every port of both protocols.
#[derive(Debug, Clone, Serialize)]
pub struct Fill {
    /// Client addresses.
    pub clients: usize,
    /// Per-client quota configured.
    pub quota: u32,
    /// Mappings asked for.
    pub target: usize,
    /// Successful adds of the fill.
    pub reached: usize,
    /// The fill (1 000 -> full), pipelined.
    pub fill: Run,
    /// Elements in portgated's nftables maps when full (`nft list map`).
    pub kernel_elements: usize,
    /// Cost windows at 1 000 mappings and when full: (`refresh`|`delete`|`add`,
    /// window 1 = one request at a time, and [`FILL_WINDOW`]).
    pub cost: Vec<Run>,
    /// Reads at 1 000 and when full.
    pub reads: Vec<Reads>,
    /// Memory: started (0), at 1 000, full, after deleting all, after the daemon left.
    pub memory: Vec<Memory>,
    /// Bytes of daemon RSS per mapping (full - empty) / mappings.
    pub user_bytes_per_mapping: f64,
    /// Same with RssAnon.
    pub user_anon_bytes_per_mapping: f64,
    /// Slab growth per mapping between full and all deleted (kernel's share,
    /// estimated from a machine-wide figure).
    pub kernel_bytes_per_mapping: f64,
    /// Deleting everything, pipelined.
    pub delete_all: Run,
    /// WAN probes through sampled mappings: (probed, delivered).
    pub probes: (usize, usize),
}

/// Many leases ending together while requests keep coming.
#[derive(Debug, Clone, Serialize)]
pub struct MassExpiry {
    /// Mappings given the short lease.
    pub mappings: usize,
    /// Their lease, seconds.
    pub lease_seconds: u32,
    /// Seconds the adds took (the leases end over about as long).
    pub add_seconds: f64,
    /// Refreshes of long-lived mappings, one at a time, from the end of the adds
    /// until five seconds after the last lease ended.
    pub probe: Run,
    /// Elements in the kernel's map afterwards (the long-lived ones are left).
    pub kernel_elements_after: usize,
}

/// The reference's part.
#[derive(Debug, Clone, Serialize)]
pub struct Reference {
    /// Pipelined NAT-PMP adds from one client address.
    pub adds: Run,
    /// Seconds allowed.
    pub budget_seconds: u64,
    /// Why it is not in the other phases.
    pub note: String,
}

/// Everything `--scale` measured.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleResults {
    /// The nftables floor.
    pub nft: NftFloor,
    /// The reference daemon, if run.
    pub reference: Option<Reference>,
    /// portgated: throughput runs of [`THROUGHPUT_MAPPINGS`] mappings per window.
    pub throughput: Vec<Run>,
    /// portgated: the full external address.
    pub fill: Fill,
    /// portgated: many leases ending together.
    pub expiry: MassExpiry,
    /// Seconds the whole run took.
    pub seconds: f64,
}

fn setup_clients(lab: &Lab) -> anyhow::Result<()> {
    let gw = lab.gateway();
    let lan0 = lab.ipv4(Host::Lan(0));
    let clients = format!("{CLIENT_NET}/17");
    let scale_gw = format!("{GATEWAY_SCALE_ADDR}/32");
    let steps: [(Host, String); 4] = [
        (
            Host::Gateway,
            format!("ip addr add {scale_gw} dev {}", gw.lan.name),
        ),
        (Host::Gateway, format!("ip route add {clients} via {lan0}")),
        (Host::Lan(0), format!("ip route add local {clients} dev lo")),
        (
            Host::Lan(0),
            format!("ip route add {scale_gw} via {}", gw.lan.ipv4),
        ),
    ];
    for (host, cmd) in steps {
        let args: Vec<&str> = cmd.split(' ').collect();
        lab.exec(host, &args)?;
    }
    Ok(())
}

pub(crate) fn in_lan0<T: Send>(
    lab: &Lab,
    f: impl FnOnce() -> anyhow::Result<T> + Send,
) -> anyhow::Result<T> {
    lab.in_netns(Host::Lan(0), f)?
}

fn report_run(r: &Run) {
    eprint!("   {}", run_row(r));
}

pub(crate) fn with_lifetime(ops: &[Op], lifetime: u32) -> Vec<Op> {
    ops.iter().map(|o| Op { lifetime, ..*o }).collect()
}

/// Runs the `--scale` phases and writes `scale.json` and `scale.md` to `args.out`.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let started = Instant::now();
    eprintln!("== nftables floor (portgate-nft, own namespace)");
    let nft = nft_floor(5000, crate::scale::BATCH)?;
    eprintln!(
        "   single-element: {:.0} adds/s, {:.0} deletes/s; batches of {}: {:.0} adds/s, {:.0} refreshes/s, {:.0} deletes/s (0 -> {FULL} -> 0)",
        nft.single_adds_per_s, nft.single_deletes_per_s, nft.batch, nft.batched_adds_per_s, nft.batched_refreshes_per_s, nft.batched_deletes_per_s
    );
    let lab = Lab::builder()
        .lan_hosts(1)
        .wan_unreserved()
        .echo(false)
        .build()
        .context("building the lab (needs root)")?;
    setup_clients(&lab)?;
    let dir = std::env::temp_dir().join(format!("portgate-scale-{}", lab.id()));
    std::fs::create_dir_all(&dir)?;
    let gw_lan = lab.gateway().lan.ipv4;

    let reference = if args.no_reference {
        None
    } else {
        eprintln!("== miniupnpd");
        let d = daemon::start(&lab, Kind::Reference, &args.miniupnpd, &dir)?;
        let me = lab.ipv4(Host::Lan(0));
        let budget = Duration::from_secs(if args.quick { 10 } else { 30 });
        let ops: Vec<Op> = (0..3000usize)
            .map(|i| Op {
                client: me,
                proto: 6,
                port: 20_000 + u16::try_from(i).unwrap_or(0),
                lifetime: LEASE,
                pcp: false,
            })
            .collect();
        let deadline = Instant::now() + budget;
        let target = Target {
            lab: &lab,
            gw: gw_lan,
            pid: d.pid,
            any_port: false,
        };
        let adds = target.run_spec(&Spec {
            ops: &ops,
            window: 8,
            name: "add",
            size: 0,
            deadline: Some(deadline),
        })?;
        d.stop(&lab)?;
        Some(Reference {
            adds,
            budget_seconds: budget.as_secs(),
            note: "NAT-PMP from LAN host 0's own address only: configured with the \
                   LAN interface (the lab's /24), not tried with the routed \
                   10.78.128.0/17 clients; it slows as its table grows (it lists its \
                   chain per request), so it is not run to the full table"
                .into(),
        })
    };

    eprintln!("== portgated");
    let extra = format!(
        "listening_ip={GATEWAY_SCALE_ADDR}/16\nmax_mappings_per_client={QUOTA}\nmin_lifetime=1\n"
    );
    let d = daemon::start_with(&lab, Kind::Portgated, &args.portgated, &dir, &extra)?;
    let pid = d.pid;
    let target = Target {
        lab: &lab,
        gw: GATEWAY_SCALE_ADDR,
        pid,
        any_port: false,
    };
    let mut throughput = Vec::new();
    let plan: Vec<Op> = (0..THROUGHPUT_MAPPINGS)
        .map(|k| op(k, FULL_CLIENTS, LEASE))
        .collect();
    for w in WINDOWS {
        let n = if w == 1 { 2000 } else { plan.len() };
        let ops = plan.get(..n).unwrap_or(&plan);
        for (name, lifetime, size) in [("add", LEASE, 0), ("refresh", LEASE, n), ("delete", 0, n)] {
            let batch = with_lifetime(ops, lifetime);
            throughput.push(target.run(&batch, w, name, size)?);
        }
    }

    let full_plan: Vec<Op> = (0..FULL).map(|k| op(k, FULL_CLIENTS, LEASE)).collect();
    let mut memory_points = vec![memory(pid, 0)];
    let mut cost = Vec::new();
    let mut read_points = Vec::new();
    // 0 -> 1 000.
    let first = full_plan.get(..1000).unwrap_or(&full_plan);
    let r = target.run(first, FILL_WINDOW, "add", 0)?;
    let cost_windows =
        |size: usize, cost: &mut Vec<Run>| cost_windows(&target, &full_plan, size, cost);
    cost_windows(1000, &mut cost)?;
    read_points.push(reads(&lab, 1000)?);
    memory_points.push(memory(pid, 1000));
    // 1 000 -> full.
    let rest = full_plan.get(1000..).unwrap_or(&[]);
    let fill = target.run(rest, FILL_WINDOW, "add", 1000)?;
    let reached = 1000 - r.stats.errors + fill.stats.count - fill.stats.errors;
    let kernel_elements = kernel_elements(&lab);
    eprintln!(
        "   full: {reached} of {FULL} mappings, {kernel_elements} elements in the kernel's map"
    );
    memory_points.push(memory(pid, reached));
    cost_windows(FULL, &mut cost)?;
    read_points.push(reads(&lab, reached)?);
    for r in &read_points {
        eprintln!(
            "   reads at {}: GetGenericPortMappingEntry p50 {:.2} ms p99 {:.2} ms ({} failed); GetListOfPortMappings(1000) p50 {:.2} ms p99 {:.2} ms ({} failed)",
            r.size, r.generic.p50_ms, r.generic.p99_ms, r.generic.errors, r.list.p50_ms, r.list.p99_ms, r.list.errors
        );
    }
    let probes = probe_sample(&lab, &full_plan)?;
    eprintln!(
        "   WAN probes through sampled mappings: {} of {} delivered",
        probes.1, probes.0
    );
    let deletes = with_lifetime(&full_plan, 0);
    let delete_all = target.run(&deletes, FILL_WINDOW, "delete", reached)?;
    memory_points.push(memory(pid, 0));
    let expiry = mass_expiry(&lab, &target, &full_plan)?;
    d.stop(&lab)?;
    memory_points.push(Memory {
        mappings: 0,
        rss_kib: 0,
        rss_anon_kib: 0,
        slab_kib: slab_kib(),
    });
    let per = |a: u64, b: u64| (a as f64 - b as f64) * 1024.0 / reached.max(1) as f64;
    let (empty, full, emptied) = (memory_points[0], memory_points[2], memory_points[3]);
    let fill = Fill {
        clients: FULL_CLIENTS,
        quota: QUOTA,
        target: FULL,
        reached,
        fill,
        kernel_elements,
        cost,
        reads: read_points,
        user_bytes_per_mapping: per(full.rss_kib, empty.rss_kib),
        user_anon_bytes_per_mapping: per(full.rss_anon_kib, empty.rss_anon_kib),
        kernel_bytes_per_mapping: per(full.slab_kib, emptied.slab_kib),
        memory: memory_points,
        delete_all,
        probes,
    };
    eprintln!(
        "   memory per mapping: daemon RSS {:.0} B (RssAnon {:.0} B), kernel slab {:.0} B",
        fill.user_bytes_per_mapping,
        fill.user_anon_bytes_per_mapping,
        fill.kernel_bytes_per_mapping
    );
    let results = ScaleResults {
        nft,
        reference,
        throughput,
        fill,
        expiry,
        seconds: started.elapsed().as_secs_f64(),
    };
    let _ = std::fs::remove_dir_all(&dir);
    write(&results, &args.out)
}

/// Cost windows at `size` mappings: the last [`COST_OPS`] mappings of `plan` below
/// `size` refreshed, deleted and added back, [`COST_REPEATS`] times each, one at a time
/// and [`FILL_WINDOW`] in flight; the median of each kind goes to `cost`.
pub(crate) fn cost_windows(
    target: &Target<'_>,
    plan: &[Op],
    size: usize,
    cost: &mut Vec<Run>,
) -> anyhow::Result<()> {
    let part = plan.get(size - COST_OPS..size).unwrap_or(&[]);
    for w in [1, FILL_WINDOW] {
        let mut kinds: [Vec<Run>; 3] = Default::default();
        for _ in 0..COST_REPEATS {
            for (i, (name, lifetime, before)) in [
                ("refresh", LEASE, size),
                ("delete", 0, size),
                ("add", LEASE, size - COST_OPS),
            ]
            .into_iter()
            .enumerate()
            {
                let batch = with_lifetime(part, lifetime);
                if let Some(k) = kinds.get_mut(i) {
                    k.push(target.run(&batch, w, name, before)?);
                }
            }
        }
        cost.extend(kinds.into_iter().filter_map(median_run));
    }
    Ok(())
}

/// Elements per batched transaction in the nftables floor: what one round of the
/// daemon sends at most (256 requests, one change each).
pub const BATCH: usize = 256;

fn kernel_elements(lab: &Lab) -> usize {
    lab.exec(
        Host::Gateway,
        &["nft", "list", "map", "inet", "portgate", "fwd4"],
    )
    .map(|o| String::from_utf8_lossy(&o.stdout).matches(" : ").count())
    .unwrap_or(0)
}

/// [`EXPIRY_MAPPINGS`] mappings with a lease of [`EXPIRY_LEASE`] s, added as fast
/// as the daemon takes them, then refreshes of [`EXPIRY_PROBE_MAPPINGS`] long-lived
/// ones, one at a time, until every short lease has ended and five seconds more.
fn mass_expiry(lab: &Lab, target: &Target<'_>, plan: &[Op]) -> anyhow::Result<MassExpiry> {
    let long = plan.get(FULL - EXPIRY_PROBE_MAPPINGS..).unwrap_or(&[]);
    target.run(long, FILL_WINDOW, "add", 0)?;
    let short = with_lifetime(plan.get(..EXPIRY_MAPPINGS).unwrap_or(&[]), EXPIRY_LEASE);
    let t = Instant::now();
    target.run(&short, FILL_WINDOW, "add", EXPIRY_PROBE_MAPPINGS)?;
    let add_seconds = t.elapsed().as_secs_f64();
    let until = t + Duration::from_secs(u64::from(EXPIRY_LEASE) + 5) + t.elapsed();
    let refreshes: Vec<Op> = long.iter().copied().cycle().take(4_000_000).collect();
    let probe = target.run_spec(&Spec {
        ops: &refreshes,
        window: 1,
        name: "refresh",
        size: EXPIRY_MAPPINGS + EXPIRY_PROBE_MAPPINGS,
        deadline: Some(until),
    })?;
    let kernel_elements_after = kernel_elements(lab);
    eprintln!("   after the expiry: {kernel_elements_after} elements in the kernel's map (the type line counted once)");
    Ok(MassExpiry {
        mappings: EXPIRY_MAPPINGS,
        lease_seconds: EXPIRY_LEASE,
        add_seconds,
        probe,
        kernel_elements_after,
    })
}

fn probe_sample(lab: &Lab, plan: &[Op]) -> anyhow::Result<(usize, usize)> {
    let ext = lab.external_ipv4();
    let mut delivered = 0;
    let step = plan.len() / PROBES;
    for i in 0..PROBES {
        let Some(o) = plan.get(i * step + 7) else {
            continue;
        };
        let to = SocketAddr::new(IpAddr::V4(ext), o.port);
        let probe = if o.proto == 6 {
            Lab::tcp_probe
        } else {
            Lab::udp_probe
        };
        let ok = probe(
            lab,
            Host::Wan,
            to,
            (Host::Lan(0), o.port),
            b"scale",
            Duration::from_secs(2),
        )?;
        if ok {
            delivered += 1;
        }
    }
    Ok((PROBES, delivered))
}

fn write(r: &ScaleResults, out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("scale.json"), serde_json::to_string_pretty(r)?)?;
    let md = markdown(r);
    std::fs::write(out.join("scale.md"), &md)?;
    println!("{md}");
    if r.fill.reached < r.fill.target {
        bail!(
            "the table did not fill: {} of {}",
            r.fill.reached,
            r.fill.target
        );
    }
    Ok(())
}

pub(crate) fn run_row(r: &Run) -> String {
    format!(
        "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} of {} | {} |\n",
        r.op,
        r.window,
        r.size_before,
        r.stats.ops_per_s,
        r.stats.p50_ms,
        r.stats.p99_ms,
        r.stats.errors,
        r.stats.count,
        r.daemon_cpu_us_per_op
            .map_or_else(|| "—".to_owned(), |c| format!("{c:.1}"))
    )
}

pub(crate) const RUN_HEAD: &str = "| op | in flight | mappings before | ops/s | p50 ms | p99 ms | failed | daemon CPU us/op |\n|---|---|---|---|---|---|---|---|\n";

/// For each (op, window) measured both at 1 000 mappings and when full: the cost
/// when full over the cost at 1 000, by rate and by the daemon's CPU per operation.
pub fn cost_ratios(cost: &[Run]) -> Vec<(String, usize, f64, f64)> {
    let at = |r: &Run| r.size_before.max(r.stats.size);
    let mut out = Vec::new();
    for small in cost.iter().filter(|r| at(r) <= 1000) {
        let Some(big) = cost
            .iter()
            .find(|b| b.op == small.op && b.window == small.window && at(b) > 1000)
        else {
            continue;
        };
        let rate = small.stats.ops_per_s / big.stats.ops_per_s.max(1e-9);
        let cpu = match (small.daemon_cpu_us_per_op, big.daemon_cpu_us_per_op) {
            (Some(a), Some(b)) if a > 0.0 => b / a,
            _ => f64::NAN,
        };
        out.push((small.op.clone(), small.window, rate, cpu));
    }
    out
}

/// The report, as markdown.
pub fn markdown(r: &ScaleResults) -> String {
    use std::fmt::Write as _;
    let mut s = String::from("# portgate-bench --scale\n\n");
    let n = &r.nft;
    let _ = writeln!(
        s,
        "## nftables floor (portgate-nft, no daemon)\n\n\
         | transactions | adds/s | refreshes/s | deletes/s |\n|---|---|---|---|\n\
         | one element each ({} ops) | {:.0} | — | {:.0} |\n\
         | {} elements each (0 -> {FULL} -> 0) | {:.0} | {:.0} | {:.0} |\n",
        n.single_count,
        n.single_adds_per_s,
        n.single_deletes_per_s,
        n.batch,
        n.batched_adds_per_s,
        n.batched_refreshes_per_s,
        n.batched_deletes_per_s
    );
    if let Some(rf) = &r.reference {
        let _ = writeln!(
            s,
            "## miniupnpd ({} s budget)\n\n{}\n{RUN_HEAD}{}",
            rf.budget_seconds,
            rf.note,
            run_row(&rf.adds)
        );
    }
    let _ = writeln!(
        s,
        "## portgated: {THROUGHPUT_MAPPINGS} mappings from {FULL_CLIENTS} client addresses (NAT-PMP and PCP alternating)\n\n{RUN_HEAD}{}",
        r.throughput.iter().map(run_row).collect::<String>()
    );
    let f = &r.fill;
    let _ = writeln!(
        s,
        "## portgated: one external address filled\n\n\
         {} of {} mappings (TCP and UDP 1024-65535) from {} client addresses (quota {} each); \
         {} elements in the kernel's map; WAN probes through {} sampled mappings: {} delivered.\n\n\
         {RUN_HEAD}{}{}{}",
        f.reached,
        f.target,
        f.clients,
        f.quota,
        f.kernel_elements,
        f.probes.0,
        f.probes.1,
        run_row(&f.fill),
        f.cost.iter().map(run_row).collect::<String>(),
        run_row(&f.delete_all)
    );
    let _ = writeln!(
        s,
        "Cost when full against at 1 000 mappings (median windows of {COST_OPS} operations; \
         a ratio above 1 is dearer when full):\n\n\
         | op | in flight | by rate | by daemon CPU per op |\n|---|---|---|---|"
    );
    for (op, window, rate, cpu) in cost_ratios(&f.cost) {
        let _ = writeln!(s, "| {op} | {window} | {rate:.2} | {cpu:.2} |");
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "| reads at | GetGenericPortMappingEntry p50 / p99 ms | GetListOfPortMappings (1 000) p50 / p99 ms | failed |\n|---|---|---|---|"
    );
    for rd in &f.reads {
        let _ = writeln!(
            s,
            "| {} | {:.2} / {:.2} | {:.2} / {:.2} | {} |",
            rd.size,
            rd.generic.p50_ms,
            rd.generic.p99_ms,
            rd.list.p50_ms,
            rd.list.p99_ms,
            rd.generic.errors + rd.list.errors
        );
    }
    let _ = writeln!(
        s,
        "\n| memory at | mappings | daemon VmRSS KiB | daemon RssAnon KiB | machine Slab KiB |\n|---|---|---|---|---|"
    );
    for (what, m) in ["started", "1 000", "full", "all deleted", "daemon stopped"]
        .iter()
        .zip(&f.memory)
    {
        let _ = writeln!(
            s,
            "| {what} | {} | {} | {} | {} |",
            m.mappings, m.rss_kib, m.rss_anon_kib, m.slab_kib
        );
    }
    let e = &r.expiry;
    let _ = writeln!(
        s,
        "\n## portgated: {} leases of {} s ending together\n\n\
         Added in {:.1} s (so they end within about as long); meanwhile {} long-lived \
         mappings refreshed one at a time until 5 s after the last lease ended; \
         {} \" : \" in the kernel's map listing afterwards (elements and the type line). \
         Longest refresh: {:.2} ms.\n\n{RUN_HEAD}{}",
        e.mappings,
        e.lease_seconds,
        e.add_seconds,
        EXPIRY_PROBE_MAPPINGS,
        e.kernel_elements_after,
        e.probe.stats.max_ms,
        run_row(&e.probe)
    );
    let _ = writeln!(
        s,
        "\nPer mapping: daemon {:.0} B (VmRSS), {:.0} B (RssAnon); kernel {:.0} B (Slab, full vs all deleted; machine-wide).\n\nRun took {:.0} s.",
        f.user_bytes_per_mapping, f.user_anon_bytes_per_mapping, f.kernel_bytes_per_mapping, r.seconds
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_plan_takes_every_port_once_and_twelve_per_client() {
        let mut seen = std::collections::HashSet::new();
        let mut per_client: HashMap<Ipv4Addr, usize> = HashMap::new();
        for k in 0..FULL {
            let o = op(k, FULL_CLIENTS, LEASE);
            assert!(o.port >= 1024);
            assert!(seen.insert(o.key()), "{k}: {:?} twice", o.key());
            *per_client.entry(o.client).or_default() += 1;
        }
        assert_eq!(seen.len(), 129_024);
        assert_eq!(per_client.len(), FULL_CLIENTS);
        assert!(per_client.len() >= 10_000);
        assert!(per_client.values().all(|&n| n == 12));
        assert!(per_client
            .keys()
            .all(|a| a.octets()[..2] == [10, 78] && a.octets()[2] >= 128));
    }

    fn run(op: &str, window: usize, size: usize, rate: f64, cpu: f64) -> Run {
        let mut rec = Recorder::default();
        rec.push(Duration::from_millis(1), true);
        let mut stats = rec.finish(op, size, Duration::from_secs(1));
        stats.ops_per_s = rate;
        Run {
            op: op.into(),
            window,
            size_before: size,
            stats,
            daemon_cpu_us_per_op: Some(cpu),
        }
    }

    #[test]
    fn cost_ratios_pair_each_window_at_1000_with_the_same_one_when_full() {
        let cost = vec![
            run("refresh", 1, 1000, 20_000.0, 40.0),
            run("add", 1, 500, 10_000.0, 50.0),
            run("refresh", 64, 1000, 80_000.0, 8.0),
            run("refresh", 1, FULL, 10_000.0, 60.0),
            run("add", 1, FULL - 500, 10_000.0, 50.0),
        ];
        let r = cost_ratios(&cost);
        assert_eq!(r.len(), 2, "refresh/64 has no full counterpart: {r:?}");
        assert_eq!(
            (r[0].0.as_str(), r[0].1, r[0].2, r[0].3),
            ("refresh", 1, 2.0, 1.5)
        );
        assert_eq!((r[1].0.as_str(), r[1].2, r[1].3), ("add", 1.0, 1.0));
    }

    #[test]
    fn answers_are_matched_to_their_request() {
        // NAT-PMP TCP answer: success, internal 5000, external 5000.
        let mut r = vec![
            0u8, 130, 0, 0, 0, 0, 0, 1, 0x13, 0x88, 0x13, 0x88, 0, 0, 0, 60,
        ];
        assert_eq!(decode(&r, false), Some(((6, 5000, 0), true)));
        // Another external port than asked: counted as a failure, unless any port
        // is fine (CGN mode gives a port of the subscriber's set).
        r[11] = 0x89;
        assert_eq!(decode(&r, false), Some(((6, 5000, 0), false)));
        assert_eq!(decode(&r, true), Some(((6, 5000, 0), true)));
        // PCP MAP answer for UDP 7000 of client 10.78.128.9 (in the nonce), result
        // NOT_AUTHORIZED.
        let mut p = vec![0u8; 60];
        p[0] = 2;
        p[1] = 0x81;
        p[3] = 2;
        p[27..31].copy_from_slice(&[10, 78, 128, 9]);
        p[36] = 17;
        p[40..42].copy_from_slice(&7000u16.to_be_bytes());
        p[42..44].copy_from_slice(&7000u16.to_be_bytes());
        let client = u32::from(Ipv4Addr::new(10, 78, 128, 9));
        assert_eq!(decode(&p, false), Some(((17, 7000, client), false)));
        assert_eq!(decode(&p[..30], false), None);
        // The request's key is the answer's key.
        let o = Op {
            client: Ipv4Addr::new(10, 78, 128, 9),
            proto: 17,
            port: 7000,
            lifetime: LEASE,
            pcp: true,
        };
        let req = o.encode();
        p[24..36].copy_from_slice(&req[24..36]);
        assert_eq!(decode(&p, false).map(|(k, _)| k), Some(o.key()));
    }
}
