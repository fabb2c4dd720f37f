//! The daemon's run loop: flags and configuration in, sockets and timers
//! around the sans-IO [`Gateway`], [`pmp`] and
//! [`upnp`](crate::upnp) handlers.
//!
//! One thread: a tokio `current_thread` runtime with a `LocalSet`; the
//! gateway is a [`SharedGateway`] borrowed for one synchronous call at a
//! time (see [`crate::gateway`]). No process is spawned, ever.
//!
//! Start-up: parse flags and `miniupnpd.conf` (`--check-config` prints the
//! effective configuration and exits), lock the pid file (`pidfile`:
//! a second instance refuses to start), find the LAN subnets
//! (`listening_ip`: interface names are resolved with `getifaddrs`) and the
//! external address (`extaddr::detect`), open our nftables table,
//! load the lease file and reconcile the kernel with it, bind UDP 5351 on
//! every LAN address (NAT-PMP/PCP, also used to send announcements to
//! 224.0.0.1:5350), start the UPnP device, and
//! log exactly one line containing `listening on` once every socket is
//! bound — the contract tests wait for.
//!
//! Timers: the core's (mapping and pinhole expiry, delayed lease writes, idle
//! cleaning, announcement bursts) are asked for with `poll_timeout` and run with
//! `handle_timeout` ([`Gateway::poll_timeout`]); this loop only sleeps until then
//! and sends the announcements the core queues. Its own timers are I/O: the
//! periodic external address check ([`EXTERNAL_CHECK_INTERVAL`]) and the
//! firewall watch (`fwwatch`).
//!
//! Signals: SIGTERM/SIGINT clean shutdown (UPnP byebye, lease file written,
//! nftables table removed unless `keep_table_on_exit`), SIGHUP reload of the
//! configuration keeping every mapping the new rules still allow (and re-reading
//! the IPv6 LAN prefixes), SIGUSR1 re-detection of the external address.
//!
//! Process model, logging and readiness notification: `service` (forks
//! into the background unless `-d` or `--foreground`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use anyhow::Context as _;
use portgate_nft::{Firewall, NftConfig, NftFirewall};
use tokio::net::UdpSocket;
use tokio::signal::unix::{signal, SignalKind};

use crate::config::{Config, ListenSpec};
use crate::flags::Flags;
use crate::gateway::{Gateway, GatewaySettings, LanNet, SharedGateway};
use crate::pinhole::{Lan6, PinholeSettings, Pinholes, SharedPinholes};
use crate::pmp;

/// How often the WAN interface's address is checked for changes when no
/// `ext_ip` is configured (SIGUSR1 forces a check at once).
pub const EXTERNAL_CHECK_INTERVAL: Duration = Duration::from_secs(30);

/// Unix (wall-clock) time in seconds: only for what leaves the process (see
/// `clock`).
pub fn unix_now() -> u64 {
    crate::clock::wall_now()
}

/// Entry point of the `portgated` binary.
pub fn main() -> ExitCode {
    let mut flags = Flags::parse();
    let cfg = match flags.load_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("portgated: {e}");
            return ExitCode::from(2);
        }
    };
    if flags.check_config {
        print!("{}", cfg.effective_text());
        return ExitCode::SUCCESS;
    }
    // Paths made absolute now: the fork below changes to `/`.
    crate::service::absolute_paths(&mut flags);
    // Before anything is touched, and before the fork so that a refusal reaches the
    // terminal, as miniupnpd checks its pid file before daemon(3): one instance per
    // network namespace (see pidfile). The lock survives the fork (flock locks belong
    // to the open file, which the child shares); the child writes its own pid.
    let pid_lock = match flags.pidfile.clone().or_else(crate::pidfile::default_path) {
        None => None,
        Some(path) => match crate::pidfile::PidLock::acquire(&path, crate::pidfile::LOCK_WAIT) {
            Ok(lock) => Some(lock),
            Err(e) => {
                tracing::error!("{e}");
                eprintln!("portgated: {e}");
                return match e {
                    crate::pidfile::PidFileError::Running { .. } => {
                        ExitCode::from(crate::pidfile::EXIT_ALREADY_RUNNING)
                    }
                    crate::pidfile::PidFileError::Io { .. } => ExitCode::FAILURE,
                };
            }
        },
    };
    if let Err(e) = crate::service::start(&mut flags) {
        eprintln!("portgated: cannot fork into the background: {e}");
        return ExitCode::FAILURE;
    }
    if let Some(lock) = &pid_lock {
        if let Err(e) = lock.write_own_pid() {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    }
    for w in &cfg.warnings {
        tracing::warn!("{}: {}", w.location, w.message);
    }
    // Before the runtime and the rtnetlink thread: new threads inherit the reduced sets.
    portgate_service::privs::log_result(&crate::privs::drop_privileges());
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("portgated: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = tokio::task::LocalSet::new();
    match local.block_on(&rt, run(flags, cfg, pid_lock)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("portgated: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Says at info level what the running kernel's nftables can do and what portgated
/// does instead where a feature is missing.
fn log_kernel_features(f: portgate_nft::KernelFeatures) {
    let release = rustix::system::uname();
    let release = release.release().to_string_lossy();
    tracing::info!(
        kernel = %release,
        destroy = f.destroy,
        in_place_refresh = f.in_place_refresh,
        element_counters = f.element_counters,
        "nftables: {}; {}; {}",
        if f.destroy {
            "deletions use DESTROY messages (Linux 6.3+)"
        } else {
            "no DESTROY messages (before Linux 6.3): deletions use DEL and tolerate elements already gone"
        },
        if f.in_place_refresh {
            "refreshes update leases in place, counters carry on (Linux 6.12+)"
        } else {
            "refreshes delete and re-add the element (before Linux 6.12): counters restart"
        },
        if f.element_counters {
            "per-mapping counters available"
        } else {
            "no per-mapping counters: idle cleaning and CheckPinholeWorking see no traffic"
        },
    );
}

/// The LAN subnets of `listening_ip` (interface names resolved to their
/// IPv4 addresses; an address without a mask takes the prefix of the
/// interface that holds it, else /24).
pub fn resolve_lan(specs: &[ListenSpec]) -> anyhow::Result<Vec<LanNet>> {
    let mut out = Vec::new();
    for spec in specs {
        match spec {
            ListenSpec::Interface(name) => {
                let addrs = crate::extaddr::interface_ipv4(name)?;
                anyhow::ensure!(!addrs.is_empty(), "listening_ip {name}: no IPv4 address");
                out.extend(
                    addrs
                        .into_iter()
                        .map(|(addr, prefix)| LanNet { addr, prefix }),
                );
            }
            ListenSpec::Address { addr, prefix } => {
                let prefix = match prefix {
                    Some(p) => *p,
                    None => prefix_of(*addr).unwrap_or(24),
                };
                out.push(LanNet {
                    addr: *addr,
                    prefix,
                });
            }
        }
    }
    anyhow::ensure!(!out.is_empty(), "no listening_ip configured");
    Ok(out)
}

fn prefix_of(addr: Ipv4Addr) -> Option<u8> {
    let all = nix::ifaddrs::getifaddrs().ok()?;
    for ifa in all {
        if let Some(found) = crate::extaddr::interface_ipv4(&ifa.interface_name)
            .ok()?
            .into_iter()
            .find(|&(a, _)| a == addr)
        {
            return Some(found.1);
        }
    }
    None
}

/// The LAN IPv6 prefixes: `ipv6_listening_ip` when set, else the global
/// (non link-local) IPv6 addresses of the interfaces that hold the IPv4 LAN
/// addresses. Empty when IPv6 is off (`ipv6_disable=yes`).
pub fn resolve_lan6(cfg: &Config, lan: &[LanNet]) -> Vec<Lan6> {
    if cfg.ipv6_disable {
        return Vec::new();
    }
    lan6_prefixes(cfg, lan)
}

/// The LAN IPv6 prefixes as [`resolve_lan6`] finds them, whatever `ipv6_disable`
/// says: read at start-up and again on each SIGHUP, so a prefix added to (or
/// removed from) the LAN interface counts from the reload on.
pub fn lan6_prefixes(cfg: &Config, lan: &[LanNet]) -> Vec<Lan6> {
    let Ok(all) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let all: Vec<nix::ifaddrs::InterfaceAddress> = all.collect();
    let v6_of = |ifa: &nix::ifaddrs::InterfaceAddress| -> Option<Lan6> {
        let a = ifa.address.as_ref()?.as_sockaddr_in6()?.ip();
        let prefix = ifa
            .netmask
            .as_ref()
            .and_then(|m| m.as_sockaddr_in6())
            .map_or(64, |m| u128::from(m.ip()).count_ones() as u8);
        Some(Lan6 { addr: a, prefix })
    };
    if let Some(addr) = cfg.ipv6_listening_ip {
        let found = all.iter().filter_map(v6_of).find(|l| l.addr == addr);
        return vec![found.unwrap_or(Lan6 { addr, prefix: 64 })];
    }
    let mut ifnames: Vec<String> = Vec::new();
    for ifa in &all {
        let v4 = ifa
            .address
            .as_ref()
            .and_then(|a| a.as_sockaddr_in())
            .map(|s| s.ip());
        if v4.is_some_and(|v| lan.iter().any(|l| l.addr == v))
            && !ifnames.contains(&ifa.interface_name)
        {
            ifnames.push(ifa.interface_name.clone());
        }
    }
    all.iter()
        .filter(|ifa| ifnames.contains(&ifa.interface_name))
        .filter_map(v6_of)
        .filter(|l| crate::pinhole::valid_internal_client(l.addr))
        .collect()
}

/// Index of the interface holding `addr` (0 when none does).
fn ifindex_of(addr: std::net::Ipv6Addr) -> u32 {
    let Ok(all) = nix::ifaddrs::getifaddrs() else {
        return 0;
    };
    for ifa in all {
        let has = ifa
            .address
            .as_ref()
            .and_then(|a| a.as_sockaddr_in6())
            .is_some_and(|s| s.ip() == addr);
        if has {
            return nix::net::if_::if_nametoindex(ifa.interface_name.as_str()).unwrap_or(0);
        }
    }
    0
}

fn bind_pmp(addr: Ipv4Addr) -> anyhow::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_multicast_if_v4(&addr)?;
    s.set_multicast_loop_v4(false)?;
    s.set_nonblocking(true)?;
    crate::netif::bind_to_interface_of(&s, IpAddr::V4(addr))?;
    let sa = SocketAddr::new(IpAddr::V4(addr), portgate_proto::natpmp::SERVER_PORT);
    s.bind(&sa.into())
        .with_context(|| format!("bind NAT-PMP/PCP socket {sa}"))?;
    Ok(UdpSocket::from_std(s.into())?)
}

fn bind_pcp6(addr: std::net::Ipv6Addr) -> anyhow::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_only_v6(true)?;
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    crate::netif::bind_to_interface_of(&s, IpAddr::V6(addr))?;
    let sa = SocketAddr::new(IpAddr::V6(addr), portgate_proto::natpmp::SERVER_PORT);
    s.bind(&sa.into())
        .with_context(|| format!("bind PCP socket {sa}"))?;
    Ok(UdpSocket::from_std(s.into())?)
}

/// Serve PCP over IPv6 (MAP opens pinholes) on one socket until aborted.
/// Only LAN hosts (inside a LAN IPv6 prefix) are answered.
async fn serve_pcp6(sock: Rc<UdpSocket>, gw: SharedGateway, pins: SharedPinholes) {
    let mut buf = vec![0u8; pmp::RECV_BUFFER];
    loop {
        let (n, from) = match sock.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(%e, "pcp6 receive error");
                continue;
            }
        };
        let IpAddr::V6(client) = from.ip() else {
            continue;
        };
        let Some(data) = buf.get(..n) else { continue };
        if !pins.borrow().is_lan(client) {
            tracing::debug!(%from, "pcp6: datagram from outside the LAN dropped");
            continue;
        }
        let reply = {
            let (mut g, mut p) = (gw.borrow_mut(), pins.borrow_mut());
            let now = crate::clock::sync(&mut g);
            p.set_wall_offset(crate::clock::wall_offset());
            pmp::pcp6::handle6(data, client, now, &mut g, &mut p)
        };
        if let Some(r) = reply {
            crate::stats::note_pmp_reply(&r);
            if let Err(e) = sock.send_to(&r, from).await {
                tracing::debug!(%e, %from, "pcp6 send error");
            }
        }
    }
}

/// Answers every NAT-PMP/PCP datagram already waiting on `socks`, without waiting.
///
/// The loop is one thread with a FIFO run queue: with a hundred busy HTTP connections,
/// a NAT-PMP datagram would wait behind all of them. HTTP connections call this before
/// each request they answer ([`crate::upnp::UpnpContext::before_request`]), so a
/// NAT-PMP/PCP client waits for one HTTP request at most. [`serve_pmp`] still serves
/// the sockets when HTTP is quiet.
///
/// `socks` are second handles (dup'd descriptors) of the tokio sockets, read directly:
/// tokio's own `try_recv_from` answers "would block" until its I/O driver has seen the
/// readiness, and a busy current-thread runtime polls the driver only every 61 tasks,
/// which made the pump miss most datagrams (a p99 of about 5 ms under 100 SOAP clients).
/// A plain non-blocking `recvfrom` asks the kernel, at the cost of one system call.
fn pump_pmp(socks: &[(Ipv4Addr, std::net::UdpSocket)], gw: &SharedGateway, inbox: &mut pmp::Inbox) {
    for (local, sock) in socks {
        while inbox.fill(|b| sock.recv_from(b)) > 0 {
            for (r, to) in answer_batch(inbox, *local, gw) {
                if let Err(e) = sock.send_to(&r, to) {
                    tracing::debug!(%e, %to, "nat-pmp/pcp send error");
                }
            }
        }
    }
}

/// The replies to the datagrams in `inbox` ([`pmp::handle_batch`]: one firewall
/// transaction and one journal append for all of them, done before any is sent).
fn answer_batch(
    inbox: &pmp::Inbox,
    local: Ipv4Addr,
    gw: &SharedGateway,
) -> Vec<(Vec<u8>, SocketAddr)> {
    let batch = inbox.datagrams();
    let replies = {
        let mut g = gw.borrow_mut();
        let now = crate::clock::sync(&mut g);
        pmp::handle_batch(&batch, IpAddr::V4(local), now, &mut g)
    };
    replies
        .into_iter()
        .zip(batch)
        .filter_map(|(r, (_, from))| Some((r?, from)))
        .collect()
}

/// Second, directly readable handles of the NAT-PMP/PCP sockets for [`pump_pmp`].
/// The descriptors share the non-blocking flag with the tokio sockets.
fn raw_handles(
    socks: &[(Ipv4Addr, Rc<UdpSocket>)],
) -> anyhow::Result<Vec<(Ipv4Addr, std::net::UdpSocket)>> {
    use std::os::fd::AsFd;
    socks
        .iter()
        .map(|(local, s)| {
            let fd = s
                .as_fd()
                .try_clone_to_owned()
                .context("duplicate the NAT-PMP/PCP socket")?;
            Ok((*local, std::net::UdpSocket::from(fd)))
        })
        .collect()
}

/// Serve NAT-PMP/PCP on one socket until the task is aborted: each round reads every
/// datagram waiting (up to [`pmp::MAX_BATCH`]) and answers them together
/// ([`answer_batch`]).
async fn serve_pmp(sock: Rc<UdpSocket>, local: Ipv4Addr, gw: SharedGateway) {
    let mut inbox = pmp::Inbox::new();
    loop {
        if let Err(e) = sock.readable().await {
            tracing::debug!(%e, "nat-pmp/pcp receive error");
            continue;
        }
        // try_recv_from clears tokio's readiness on "would block".
        if inbox.fill(|b| sock.try_recv_from(b)) == 0 {
            continue;
        }
        for (r, to) in answer_batch(&inbox, local, &gw) {
            if let Err(e) = sock.send_to(&r, to).await {
                tracing::debug!(%e, %to, "nat-pmp/pcp send error");
            }
        }
    }
}

async fn start_upnp(
    cfg: &Config,
    gw: &SharedGateway,
    lan: &[LanNet],
    v6: Option<(&[Lan6], &SharedPinholes)>,
    pmp_socks: &[(Ipv4Addr, Rc<UdpSocket>)],
) -> anyhow::Result<Option<crate::upnp::UpnpHandle>> {
    if !cfg.enable_upnp || !cfg.cgn.serves_upnp() {
        return Ok(None);
    }
    let backend = crate::upnp::backend::GatewayBackend::new(
        gw.clone(),
        cfg.ext_ifname.clone(),
        cfg.bitrate_up.unwrap_or(0),
        cfg.bitrate_down.unwrap_or(0),
    );
    let mut igd = portgate_proto::description::IgdConfig {
        friendly_name: cfg.friendly_name.clone(),
        manufacturer: cfg.manufacturer_name.clone(),
        manufacturer_url: cfg.manufacturer_url.clone(),
        model_description: cfg.model_description.clone(),
        model_name: cfg.model_name.clone(),
        model_number: cfg.model_number.clone(),
        model_url: cfg.model_url.clone(),
        serial: cfg.serial.clone(),
        ..Default::default()
    };
    if cfg.description_igd_version().number() == 2 {
        igd.version = portgate_proto::description::IgdVersion::V2;
    }
    igd.ipv6_firewall = v6.is_some();
    // Unset: the first LAN address, as miniupnpd (`http://<listening address>/`).
    igd.presentation_url = match &cfg.presentation_url {
        Some(p) => p.clone(),
        None => lan
            .first()
            .map(|l| format!("http://{}/", l.addr))
            .unwrap_or_default(),
    };
    let u = cfg.uuid.unwrap_or_else(|| {
        let u = crate::config::Uuid::random();
        tracing::info!(
            "uuid is not configured: the device announces the random uuid {u} \
             (set uuid= to keep one across restarts)"
        );
        u
    });
    let derive = |i: u8| {
        let mut b = u.0;
        b[15] = b[15].wrapping_add(i);
        crate::config::Uuid(b).to_string()
    };
    igd.uuids = [derive(0), derive(1), derive(2)];
    let ctx = crate::upnp::UpnpContext {
        backend: Rc::new(std::cell::RefCell::new(backend)),
        lan: lan.to_vec(),
        http_port: cfg.http_port,
        ssdp_port: 1900,
        igd,
        notify_interval: cfg.notify_interval,
        boot_id: u32::try_from(unix_now() & 0x7fff_ffff).unwrap_or(1),
        list_max_entries: usize::try_from(cfg.list_max_entries).unwrap_or(usize::MAX),
        http_max_connections: usize::try_from(cfg.http_max_connections).unwrap_or(usize::MAX),
        gateway_events: Some(gw.borrow().subscribe()),
        minissdpd_socket: cfg.minissdpdsocket.clone(),
        before_request: if pmp_socks.is_empty() {
            None
        } else {
            let (socks, gw) = (raw_handles(pmp_socks)?, gw.clone());
            let inbox = std::cell::RefCell::new(pmp::Inbox::new());
            Some(Rc::new(move || {
                if let Ok(mut inbox) = inbox.try_borrow_mut() {
                    pump_pmp(&socks, &gw, &mut inbox);
                }
            }) as Rc<dyn Fn()>)
        },
        ipv6: v6.map(|(lan6, pins)| crate::upnp::UpnpIpv6 {
            lan: lan6.to_vec(),
            ifindex: lan6.first().map_or(0, |l| ifindex_of(l.addr)),
            pinholes: crate::upnp::v6fc::GatewayPinholes::new(gw.clone(), pins.clone())
                .into_shared(),
        }),
    };
    Ok(Some(crate::upnp::start(ctx).await?))
}

fn sleep_target(deadline: Option<tokio::time::Instant>) -> tokio::time::Instant {
    deadline.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600))
}

/// A deadline of the core ([`crate::clock::now_precise`]) to a tokio instant.
fn at_core(t: Duration) -> tokio::time::Instant {
    let now = crate::clock::now_precise();
    tokio::time::Instant::now() + t.saturating_sub(now)
}

/// The admin's chains named in the configuration (miniupnpd's `upnp_*` keys): our
/// rules then go there instead of base chains of our own.
fn miniupnpd_layout(cfg: &Config) -> Option<portgate_nft::NftLayout> {
    if cfg.upnp_table_name.is_none()
        && cfg.upnp_nat_table_name.is_none()
        && cfg.upnp_forward_chain.is_none()
        && cfg.upnp_nat_chain.is_none()
        && cfg.upnp_nat_postrouting_chain.is_none()
    {
        return None;
    }
    let d = portgate_nft::NftLayout::default();
    let table = cfg.upnp_table_name.clone().unwrap_or(d.table);
    Some(portgate_nft::NftLayout {
        nat_table: cfg
            .upnp_nat_table_name
            .clone()
            .unwrap_or_else(|| table.clone()),
        table,
        family_split: cfg.upnp_nftables_family_split,
        forward_chain: cfg.upnp_forward_chain.clone().unwrap_or(d.forward_chain),
        nat_chain: cfg.upnp_nat_chain.clone().unwrap_or(d.nat_chain),
        postrouting_chain: cfg
            .upnp_nat_postrouting_chain
            .clone()
            .unwrap_or(d.postrouting_chain),
    })
}

/// The next batch of WAN interface changes; never resolves without a watcher.
async fn next_wan_change(
    w: &mut Option<tokio::sync::mpsc::Receiver<Vec<crate::extaddr::AddrChange>>>,
) -> Option<Vec<crate::extaddr::AddrChange>> {
    match w {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn run(
    flags: Flags,
    mut cfg: Config,
    pid_lock: Option<crate::pidfile::PidLock>,
) -> anyhow::Result<()> {
    let ext_ifname = cfg
        .ext_ifname
        .clone()
        .context("no WAN interface: set ext_ifname or -i")?;
    let lan = resolve_lan(&cfg.listening_ip)?;
    let external = crate::extaddr::detect(&cfg).await;
    let nft = NftConfig {
        table: crate::config::DEFAULT_TABLE_NAME.to_owned(),
        ext_ifname: ext_ifname.clone(),
        ext_ifname6: cfg.ext_ifname6.clone(),
        standalone: cfg.firewall_standalone,
    };
    let mut firewall = NftFirewall::open(nft).context("open nftables")?;
    if let Some(layout) = miniupnpd_layout(&cfg) {
        tracing::info!(table = %layout.table, forward = %layout.forward_chain, nat = %layout.nat_chain, "miniupnpd chain layout");
        firewall
            .set_layout(Some(layout))
            .context("nftables layout")?;
    }
    // Hairpin: LAN hosts reach each other's mappings through the external address
    // (the rules follow the address through Firewall::set_external_address).
    firewall
        .set_hairpin(Some(portgate_nft::Hairpin {
            external: external.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
            lan: lan.iter().map(|l| (l.addr, l.prefix)).collect(),
        }))
        .context("hairpin")?;
    firewall
        .set_request_limit(cfg.cgn.kernel_request_limit())
        .context("request limit")?;
    // Probe the kernel now, so that what it can do is said before anything else and a
    // kernel that cannot run us stops the start with a clear message.
    firewall
        .init()
        .context("nftables: cannot set up the firewall")?;
    log_kernel_features(firewall.features());
    // Address changes on the WAN interface are seen at once (rtnetlink), besides
    // SIGUSR1 and the periodic check.
    let mut wan_watch = crate::extaddr::watch_addresses(&ext_ifname)
        .map_err(|e| tracing::warn!(%e, "cannot watch the WAN interface"))
        .ok();
    // The anchor of our monotonic clock: from here on a wall-clock step changes no
    // lease (see `clock`).
    let now = crate::clock::now();
    let (gw, report) = Gateway::start(
        GatewaySettings::from_config(&cfg, lan.clone()),
        Box::new(firewall),
        external,
        now,
    )
    .context("start the gateway")?;
    tracing::info!(
        restored = report.restored,
        skipped = report.skipped,
        expired = report.expired,
        adopted = report.reconcile.adopted,
        removed = report.reconcile.removed,
        "leases loaded and kernel reconciled"
    );
    if !gw.forwarding() {
        tracing::warn!(
            ?external,
            "no usable external address: port forwarding is impossible \
             (set ext_allow_private_ipv4=yes to accept a reserved one)"
        );
    }
    let mut lan6 = resolve_lan6(&cfg, &lan);
    // IPv6 (WANIPv6FirewallControl, PCP over IPv6) is set up at start-up only; then
    // each SIGHUP re-reads the prefixes.
    let ipv6_at_start = !lan6.is_empty();
    let pin_settings = |cfg: &Config, lan6: &[Lan6]| PinholeSettings {
        enabled: !cfg.ipv6_disable && !lan6.is_empty(),
        lease_file6: cfg.lease_file6.clone(),
        lan: lan6.to_vec(),
    };
    let mut gw = gw;
    let (pins, report6) = Pinholes::start(pin_settings(&cfg, &lan6), &mut gw, now)
        .context("start the pinhole service")?;
    tracing::info!(
        restored = report6.restored,
        skipped = report6.skipped,
        expired = report6.expired,
        removed = report6.removed,
        lan6 = ?lan6,
        "ipv6 pinholes loaded"
    );
    let pins = pins.into_shared();
    let gw = gw.into_shared();

    let mut pmp_socks: Vec<(Ipv4Addr, Rc<UdpSocket>)> = Vec::new();
    let mut tasks = Vec::new();
    // CGN mode serves PCP (and NAT-PMP only with `cgn_natpmp`) on 5351.
    if cfg.enable_natpmp || cfg.cgn.enabled {
        for l in &lan {
            let s = Rc::new(bind_pmp(l.addr)?);
            tasks.push(tokio::task::spawn_local(serve_pmp(
                s.clone(),
                l.addr,
                gw.clone(),
            )));
            pmp_socks.push((l.addr, s));
        }
    }
    let v6 = (!lan6.is_empty()).then_some((lan6.as_slice(), &pins));
    let mut pcp6_addrs = Vec::new();
    if cfg.enable_natpmp && pins.borrow().settings().enabled {
        for l in &lan6 {
            let s = Rc::new(bind_pcp6(l.addr)?);
            tasks.push(tokio::task::spawn_local(serve_pcp6(
                s,
                gw.clone(),
                pins.clone(),
            )));
            pcp6_addrs.push(SocketAddr::new(
                IpAddr::V6(l.addr),
                portgate_proto::natpmp::SERVER_PORT,
            ));
        }
    }
    let upnp = start_upnp(&cfg, &gw, &lan, v6, &pmp_socks).await?;
    let lan_addrs: Vec<Ipv4Addr> = lan.iter().map(|l| l.addr).collect();
    let lan6_addrs: Vec<std::net::Ipv6Addr> = lan6.iter().map(|l| l.addr).collect();
    let control = crate::control::Control::new(gw.clone(), pins.clone(), flags.clone());
    let control_socket = crate::control::start(&cfg, &control, &lan_addrs, &lan6_addrs);
    let mut listening: Vec<String> = pmp_socks
        .iter()
        .map(|(a, _)| format!("{a}:{} (nat-pmp/pcp)", portgate_proto::natpmp::SERVER_PORT))
        .collect();
    listening.extend(pcp6_addrs.iter().map(|a| format!("{a} (pcp)")));
    if let Some(u) = &upnp {
        listening.extend(u.http_addrs().iter().map(|a| format!("{a} (http)")));
    }
    let listening = format!(
        "listening on {} (external address {})",
        listening.join(", "),
        external.map_or_else(|| "unknown".to_owned(), |a| a.to_string())
    );
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    tracing::info!("{listening}");
    // Ready once SIGTERM and SIGHUP are handled: a service manager may send them at once.
    let notifier = crate::service::notifier();
    if let Some(n) = &notifier {
        n.ready(&listening);
    }
    let mut next_ext_check = tokio::time::Instant::now() + EXTERNAL_CHECK_INTERVAL;
    let mut fw_watch = crate::fwwatch::FirewallWatch::open();

    // The core's timers (expiry, lease file, idle cleaning, announcements) are the
    // gateway's and the pinhole service's: this loop sleeps until the earliest
    // `poll_timeout`, hands the time over and sends what `poll_transmit` gives.
    loop {
        let core = {
            let t = gw.borrow().poll_timeout();
            let t6 = pins.borrow().poll_timeout();
            t.into_iter().chain(t6).min()
        };
        let mut wake = next_ext_check;
        if let Some(t) = fw_watch.deadline() {
            wake = wake.min(t);
        }
        if let Some(t) = core {
            wake = wake.min(at_core(t));
        }
        let mut redetect = false;
        tokio::select! {
            _ = tokio::time::sleep_until(sleep_target(Some(wake))) => {}
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = usr1.recv() => redetect = true,
            () = fw_watch.changed() => {}
            change = next_wan_change(&mut wan_watch) => match change {
                Some(c) => {
                    tracing::debug!(?c, "WAN interface changed");
                    redetect = true;
                }
                None => wan_watch = None,
            },
            _ = hup.recv() => {
                if let Some(n) = &notifier {
                    n.reloading();
                }
                match flags.load_config() {
                    Ok(new) => {
                        let removed = gw.borrow_mut().reload(
                            GatewaySettings::from_config(&new, lan.clone()),
                            crate::clock::now(),
                        );
                        if ipv6_at_start {
                            let now6 = lan6_prefixes(&new, &lan);
                            if now6 != lan6 {
                                tracing::info!(lan6 = ?now6, "ipv6 LAN prefixes changed");
                                lan6 = now6;
                            }
                        }
                        pins.borrow_mut().reload(pin_settings(&new, &lan6));
                        tracing::info!(removed = removed.len(), "configuration reloaded");
                        if let Some(u) = &upnp {
                            // GENA sends what changed, if anything (ipv6_disable flips
                            // WANIPv6FirewallControl's evented variables).
                            u.notify(crate::upnp::UpnpEvent::FirewallChanged);
                        }
                        cfg = new;
                        redetect = true;
                    }
                    Err(e) => tracing::error!("reload refused, keeping the old configuration: {e}"),
                }
                if let Some(n) = &notifier {
                    n.ready("configuration reloaded");
                }
            }
        }
        if redetect || tokio::time::Instant::now() >= next_ext_check {
            next_ext_check = tokio::time::Instant::now() + EXTERNAL_CHECK_INTERVAL;
            let addr = crate::extaddr::detect(&cfg).await;
            // A change restarts the epoch and the core's announcement burst.
            gw.borrow_mut().set_external(addr, crate::clock::now());
        }
        let now = crate::clock::now_precise();
        let msgs = {
            let mut g = gw.borrow_mut();
            g.set_wall_offset(crate::clock::wall_offset());
            let mut p = pins.borrow_mut();
            p.set_wall_offset(crate::clock::wall_offset());
            g.handle_timeout(now);
            p.handle_timeout(&mut g, now);
            fw_watch.check_if_due(&mut g, &p, now.as_secs());
            std::iter::from_fn(|| g.poll_transmit()).collect::<Vec<_>>()
        };
        for (addr, s) in &pmp_socks {
            for m in &msgs {
                if let Err(e) = s.send_to(m, pmp::ANNOUNCE_DEST).await {
                    tracing::debug!(%e, %addr, "announcement not sent");
                }
            }
        }
        // A mass expiry and the compaction of a large lease file go in steps
        // (`Gateway::expire`, `Gateway::flush`) and the next one is due at once: let
        // the sockets be served between two steps.
        let more = {
            let g = gw.borrow();
            let due = |t: Option<u64>| t.is_some_and(|t| t <= now.as_secs());
            due(g.next_expiry()) || due(g.flush_due())
        };
        if more {
            tokio::task::yield_now().await;
        }
    }

    tracing::info!("shutting down");
    if let Some(n) = &notifier {
        n.stopping();
    }
    if let Some(u) = upnp {
        u.shutdown().await;
    }
    for t in &tasks {
        t.abort();
    }
    pins.borrow_mut().persist();
    // Only the instance whose pid file is still in place owns the table: when the file
    // was removed or replaced, another instance may run with it.
    let mut keep = cfg.keep_table_on_exit;
    if let Some(lock) = pid_lock.as_ref().filter(|l| !l.still_ours()) {
        tracing::warn!(
            pidfile = %lock.path().display(),
            "the pid file is no longer ours (removed or replaced): the nftables table is left alone"
        );
        keep = true;
    }
    if let Err(e) = gw.borrow_mut().shutdown(keep) {
        tracing::warn!(%e, "firewall shutdown");
    }
    drop(control_socket);
    if let Some(lock) = pid_lock {
        lock.release();
    }
    Ok(())
}
