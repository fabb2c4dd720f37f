//! `portgate-ssdpd`: the SSDP cache daemon, a drop-in for MiniSSDPd.
//!
//! This file only moves bytes and time between sockets and [`portgate_ssdpd::Core`]:
//! SSDP datagrams in, M-SEARCH replies out, unix-socket clients in and out.

use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;

mod args;
use args::Args;
use portgate_proto::ssdp::{
    MAX_DATAGRAM_LEN, SSDP_MULTICAST_V4, SSDP_MULTICAST_V6_LINK_LOCAL, SSDP_PORT,
};
use portgate_ssdpd::{ClientId, Config, Core, LanFilter, Subnet, Transmit};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockRef, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UdpSocket, UnixListener, UnixStream};
use tokio::sync::Notify;

/// A client that is not subscribed must complete a request within this time of its
/// last one (or of connecting); slow or idle clients cannot hold one of the few slots.
const CLIENT_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// A client that does not take its reply within this time is dropped.
const CLIENT_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Bytes read from a client at a time (MiniSSDPd's request buffer is 2 KiB).
const CLIENT_READ_CHUNK: usize = 4096;

/// One served interface, resolved with getifaddrs(3).
#[derive(Debug, Clone, Default)]
struct Served {
    name: String,
    index: u32,
    v4: Vec<(Ipv4Addr, u8)>,
    v6: Vec<(Ipv6Addr, u8)>,
}

fn prefix_len(mask: IpAddr) -> u8 {
    let ones = match mask {
        IpAddr::V4(m) => u32::from(m).count_ones(),
        IpAddr::V6(m) => u128::from(m).count_ones(),
    };
    u8::try_from(ones).unwrap_or(0)
}

fn sockaddr_ip(s: &nix::sys::socket::SockaddrStorage) -> Option<IpAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(IpAddr::V4(v4.ip()));
    }
    s.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
}

/// Resolves `-i` values (names or addresses) to interfaces with their subnets.
fn resolve_interfaces(wanted: &[String]) -> Result<Vec<Served>> {
    let mut all: HashMap<String, Served> = HashMap::new();
    for ifa in nix::ifaddrs::getifaddrs().context("getifaddrs")? {
        let (Some(addr), Some(mask)) = (
            ifa.address.as_ref().and_then(sockaddr_ip),
            ifa.netmask.as_ref().and_then(sockaddr_ip),
        ) else {
            continue;
        };
        let entry = all
            .entry(ifa.interface_name.clone())
            .or_insert_with(|| Served {
                name: ifa.interface_name.clone(),
                index: nix::net::if_::if_nametoindex(ifa.interface_name.as_str()).unwrap_or(0),
                ..Served::default()
            });
        match addr {
            IpAddr::V4(a) => entry.v4.push((a, prefix_len(mask))),
            IpAddr::V6(a) => entry.v6.push((a, prefix_len(mask))),
        }
    }
    let mut served: Vec<Served> = Vec::new();
    for w in wanted {
        let found = match w.parse::<IpAddr>() {
            Ok(ip) => all.values().find(|s| {
                s.v4.iter().any(|(a, _)| IpAddr::V4(*a) == ip)
                    || s.v6.iter().any(|(a, _)| IpAddr::V6(*a) == ip)
            }),
            Err(_) => all.get(w.as_str()),
        };
        let Some(found) = found else {
            bail!("interface {w}: no such interface or address");
        };
        if found.v4.is_empty() {
            bail!("interface {w}: has no IPv4 address");
        }
        if found.index == 0 {
            bail!("interface {w}: no interface index");
        }
        if !served.iter().any(|s| s.name == found.name) {
            served.push(found.clone());
        }
    }
    Ok(served)
}

fn random() -> u64 {
    thread_local!(static COUNTER: std::cell::Cell<u64> = const { std::cell::Cell::new(0) });
    let n = COUNTER.with(|c| {
        c.set(c.get().wrapping_add(1));
        c.get()
    });
    RandomState::new().hash_one(n)
}

struct Shared {
    core: RefCell<Core>,
    wakers: RefCell<HashMap<ClientId, Rc<Notify>>>,
    timer: Notify,
    udp4: UdpSocket,
    udp6: Option<UdpSocket>,
}

impl Shared {
    /// After the core changed: the timer re-arms, clients with output wake up.
    fn changed(&self) {
        self.timer.notify_one();
        let ids = self.core.borrow().clients_to_wake();
        let wakers = self.wakers.borrow();
        for id in ids {
            if let Some(w) = wakers.get(&id) {
                w.notify_one();
            }
        }
    }

    async fn send(&self, t: Transmit) {
        let socket = match t.dest {
            SocketAddr::V4(_) => Some(&self.udp4),
            SocketAddr::V6(_) => self.udp6.as_ref(),
        };
        if let Some(socket) = socket {
            if let Err(e) = socket.send_to(&t.payload, t.dest).await {
                tracing::debug!(dest = %t.dest, error = %e, "ssdp send failed");
            }
        }
    }
}

fn udp_v4(served: &[Served], ttl: u32) -> Result<UdpSocket> {
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    sock.set_reuse_address(true)?;
    sock.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, SSDP_PORT)).into())
        .context("bind 0.0.0.0:1900")?;
    // Once per interface, by index: a group is joined per interface, not per address,
    // so a second join through another address of the same interface (a secondary
    // address, a VRRP address) fails with EADDRINUSE.
    for s in served {
        sock.join_multicast_v4_n(&SSDP_MULTICAST_V4, &InterfaceIndexOrAddress::Index(s.index))
            .with_context(|| format!("join {SSDP_MULTICAST_V4} on {}", s.name))?;
    }
    sock.set_multicast_loop_v4(false)?;
    sock.set_multicast_ttl_v4(ttl)?;
    sock.set_nonblocking(true)?;
    Ok(UdpSocket::from_std(sock.into())?)
}

fn udp_v6(served: &[Served], ttl: u32) -> Result<UdpSocket> {
    let sock = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    sock.set_only_v6(true)?;
    sock.set_reuse_address(true)?;
    sock.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, SSDP_PORT)).into())
        .context("bind [::]:1900")?;
    for s in served {
        sock.join_multicast_v6(&SSDP_MULTICAST_V6_LINK_LOCAL, s.index)
            .with_context(|| format!("join ff02::c on {}", s.name))?;
    }
    sock.set_multicast_loop_v6(false)?;
    sock.set_multicast_hops_v6(ttl)?;
    sock.set_nonblocking(true)?;
    Ok(UdpSocket::from_std(sock.into())?)
}

fn bind_unix(path: &Path) -> Result<UnixListener> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!("{}: another daemon is listening there", path.display());
        }
        std::fs::remove_file(path)
            .with_context(|| format!("removing stale socket {}", path.display()))?;
    }
    let listener = UnixListener::bind(path).with_context(|| format!("bind {}", path.display()))?;
    // Any local user may ask for devices, as with MiniSSDPd.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
    Ok(listener)
}

async fn recv_loop(shared: Rc<Shared>, v6: bool) {
    let mut buf = vec![0u8; MAX_DATAGRAM_LEN + 1];
    loop {
        let socket = if v6 {
            match shared.udp6.as_ref() {
                Some(s) => s,
                None => return,
            }
        } else {
            &shared.udp4
        };
        let (n, src) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "ssdp receive failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let data = buf.get(..n).unwrap_or_default();
        let outcome = shared
            .core
            .borrow_mut()
            .handle_datagram(Instant::now(), src, data, random());
        tracing::debug!(%src, ?outcome, "ssdp datagram");
        shared.changed();
    }
}

async fn timer_loop(shared: Rc<Shared>) {
    loop {
        let next = shared.core.borrow().poll_timeout();
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = sleep => {}
            () = shared.timer.notified() => {}
        }
        let now = Instant::now();
        let transmits: Vec<Transmit> = {
            let mut core = shared.core.borrow_mut();
            core.handle_timeout(now);
            std::iter::from_fn(|| core.poll_transmit(now)).collect()
        };
        for t in transmits {
            shared.send(t).await;
        }
        let ids = shared.core.borrow().clients_to_wake();
        let wakers = shared.wakers.borrow();
        for id in ids {
            if let Some(w) = wakers.get(&id) {
                w.notify_one();
            }
        }
    }
}

async fn client_task(shared: Rc<Shared>, id: ClientId, mut stream: UnixStream, wake: Rc<Notify>) {
    let mut buf = vec![0u8; CLIENT_READ_CHUNK];
    let mut deadline = tokio::time::Instant::now() + CLIENT_IDLE_TIMEOUT;
    loop {
        let out = shared.core.borrow_mut().take_output(id);
        if !out.is_empty() {
            match tokio::time::timeout(CLIENT_WRITE_TIMEOUT, stream.write_all(&out)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::debug!(client = id.0, error = %e, "client write failed");
                    break;
                }
                Err(_) => {
                    tracing::debug!(client = id.0, "client does not read, dropped");
                    break;
                }
            }
        }
        if let Some(reason) = shared.core.borrow().close_reason(id) {
            tracing::debug!(client = id.0, ?reason, "client closed");
            break;
        }
        let subscribed = shared.core.borrow().is_subscribed(id);
        tokio::select! {
            r = stream.read(&mut buf) => {
                let now = Instant::now();
                match r {
                    Ok(0) => {
                        shared.core.borrow_mut().client_eof(id, now);
                    }
                    Ok(n) => {
                        deadline = tokio::time::Instant::now() + CLIENT_IDLE_TIMEOUT;
                        let data = buf.get(..n).unwrap_or_default();
                        shared.core.borrow_mut().client_input(id, now, data);
                        shared.changed();
                    }
                    Err(e) => {
                        tracing::debug!(client = id.0, error = %e, "client read failed");
                        break;
                    }
                }
            }
            () = tokio::time::sleep_until(deadline), if !subscribed => {
                tracing::debug!(client = id.0, "client idle past its deadline, closed");
                break;
            }
            () = wake.notified() => {}
        }
    }
    shared.core.borrow_mut().disconnect(id);
    shared.wakers.borrow_mut().remove(&id);
}

async fn run(args: Args) -> Result<()> {
    let served = resolve_interfaces(&args.interfaces)?;
    let mut subnets = Vec::new();
    for s in &served {
        subnets.extend(s.v4.iter().map(|(a, p)| Subnet::new(IpAddr::V4(*a), *p)));
        if args.ipv6 {
            subnets.extend(s.v6.iter().map(|(a, p)| Subnet::new(IpAddr::V6(*a), *p)));
        }
    }
    let core = Core::new(Config {
        lan: LanFilter::new(subnets).with_link_local_v6(args.ipv6),
        device_filter: args.filter.clone(),
        ..Config::default()
    });
    let udp4 = udp_v4(&served, args.ttl)?;
    let udp6 = if args.ipv6 {
        Some(udp_v6(&served, args.ttl)?)
    } else {
        None
    };
    let listener = bind_unix(&args.socket)?;
    if let Some(pidfile) = &args.pidfile {
        std::fs::write(pidfile, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing {}", pidfile.display()))?;
    }
    let shared = Rc::new(Shared {
        core: RefCell::new(core),
        wakers: RefCell::new(HashMap::new()),
        timer: Notify::new(),
        udp4,
        udp6,
    });

    // The start-up search: replies fill the cache.
    let search = shared.core.borrow().startup_search();
    for s in &served {
        // One search per interface, sent from its first address.
        if let Some((addr, _)) = s.v4.first() {
            let sock = SockRef::from(&shared.udp4);
            if let Err(e) = sock.set_multicast_if_v4(addr) {
                tracing::warn!(iface = %s.name, error = %e, "cannot select interface");
            } else if let Err(e) = shared
                .udp4
                .send_to(&search, (SSDP_MULTICAST_V4, SSDP_PORT))
                .await
            {
                tracing::warn!(iface = %s.name, error = %e, "start-up M-SEARCH failed");
            }
        }
        if let Some(udp6) = &shared.udp6 {
            if SockRef::from(udp6).set_multicast_if_v6(s.index).is_ok() {
                let dest = SocketAddr::from((SSDP_MULTICAST_V6_LINK_LOCAL, SSDP_PORT));
                if let Err(e) = udp6.send_to(&search, dest).await {
                    tracing::warn!(iface = %s.name, error = %e, "start-up M-SEARCH (v6) failed");
                }
            }
        }
    }

    tokio::task::spawn_local(recv_loop(shared.clone(), false));
    if shared.udp6.is_some() {
        tokio::task::spawn_local(recv_loop(shared.clone(), true));
    }
    tokio::task::spawn_local(timer_loop(shared.clone()));

    let names: Vec<&str> = served.iter().map(|s| s.name.as_str()).collect();
    let listening = format!(
        "listening on {} (SSDP on {}{})",
        args.socket.display(),
        names.join(", "),
        if args.ipv6 { ", with IPv6" } else { "" }
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    tracing::info!("{listening}");
    // Ready once SIGTERM is handled: a service manager may send it at once.
    let notifier = portgate_service::notify::Notifier::from_env();
    if let Some(n) = &notifier {
        n.ready(&listening);
        if let Some(every) = n.watchdog() {
            tokio::task::spawn_local(watchdog(every));
        }
    }
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::debug!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let Some(id) = shared.core.borrow_mut().accept() else {
                    tracing::debug!("too many clients, refusing the newest");
                    continue;
                };
                let wake = Rc::new(Notify::new());
                shared.wakers.borrow_mut().insert(id, wake.clone());
                tokio::task::spawn_local(client_task(shared.clone(), id, stream, wake));
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    tracing::info!("shutting down");
    if let Some(n) = &notifier {
        n.stopping();
    }
    let _ = std::fs::remove_file(&args.socket);
    if let Some(pidfile) = &args.pidfile {
        let _ = std::fs::remove_file(pidfile);
    }
    Ok(())
}

/// Pings the service manager's watchdog every `every` (half its timeout).
async fn watchdog(every: Duration) {
    let Some(n) = portgate_service::notify::Notifier::from_env() else {
        return;
    };
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        n.watchdog_ping();
    }
}

/// Entry point of the `portgate-ssdpd` program: parses the process's command line; an
/// error is printed as `Error: ...` with exit status 1.
pub fn main() -> std::process::ExitCode {
    match try_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:?}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn try_main() -> Result<()> {
    let mut args = Args::parse();
    let foreground = args.debug || args.foreground;
    if !foreground {
        // daemon(3) changes to `/`: keep naming the same files.
        args.socket = portgate_service::daemonize::absolute(&args.socket);
        if let Some(p) = &args.pidfile {
            args.pidfile = Some(portgate_service::daemonize::absolute(p));
        }
        portgate_service::daemonize::daemonize().context("fork into the background")?;
    }
    let level = if args.debug { "debug" } else { "info" };
    portgate_service::logging::init("portgate-ssdpd", args.log, foreground, level);
    // Nothing portgate-ssdpd does needs a capability: UDP 1900 is not privileged,
    // joining multicast groups is not, and the socket and pid file are created by
    // their owner (root) in a directory root owns. Drop them all before any thread.
    portgate_service::privs::log_result(&portgate_service::privs::drop_privileges(
        portgate_service::privs::Capabilities::empty(),
    ));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    let result = local.block_on(&runtime, run(args));
    if let Err(e) = &result {
        tracing::error!("{e:#}");
    }
    result
}
