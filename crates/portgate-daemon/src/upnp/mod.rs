//! The UPnP IGD device: SSDP responder, HTTP server (description, SOAP control,
//! GENA eventing).
//!
//! # Interface to the run loop
//!
//! ```text
//! let handle = upnp::start(UpnpContext { backend, lan, http_port, igd, .. }).await?;
//! // after every mapping change or external address change:
//! handle.notify(UpnpEvent::MappingsChanged);
//! handle.notify(UpnpEvent::ExternalAddressChanged);
//! // on SIGTERM/SIGINT:
//! handle.shutdown().await;   // sends ssdp:byebye, stops every task
//! ```
//!
//! [`start`] must be called from inside a tokio `LocalSet` (current-thread runtime):
//! it binds the SSDP sockets (UDP 1900, one per LAN interface, joined to
//! 239.255.255.250 on each of its LAN addresses, answering searches; plus one NOTIFY
//! socket per LAN address) and one HTTP listener per LAN address
//! (port [`UpnpContext::http_port`]; 0 picks a free port, shared by every address),
//! logs `upnp: http server bound, description at <url>` for each HTTP listener and spawns its tasks with
//! `tokio::task::spawn_local`. Every listening socket is tied to its LAN interface
//! (`SO_BINDTODEVICE`, `netif`): nothing arriving on the WAN reaches it. If
//! UDP 1900 is taken (an SSDP cache daemon owns it) the device registers its services with that daemon over its unix socket instead
//! ([`register`]; path from [`UpnpContext::minissdpd_socket`], `minissdpdsocket`); on any
//! other SSDP failure the HTTP side still runs and a warning is logged.
//!
//! The daemon's state is reached only through [`UpnpBackend`] (implemented by the
//! gateway core, `crate::gateway::Gateway`, in [`backend`]): every SOAP action is one
//! synchronous call on it, so the table, the firewall and the lease file change in
//! one place.
//!
//! Submodules are sans-IO state machines with their socket drivers next to them:
//! [`ssdp`] (NOTIFY schedule and M-SEARCH decisions), [`http`] (per-connection
//! framing, limits and routing), [`desc`] (description and SCPDs), [`soap`] (action
//! dispatch and UPnP error codes) and [`gena`] (subscriptions and event delivery).

pub mod backend;
pub mod desc;
pub mod gena;
pub mod http;
pub mod register;
pub mod soap;
pub mod ssdp;
pub mod ssdp6;
pub mod v6fc;

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;

use portgate_proto::description::IgdConfig;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use backend::{BackendError, ConnectionInfo, GatewayBackend, UpnpBackend, WanCounters};

/// One LAN address the device serves (from `listening_ip`): the gateway's own
/// [`crate::gateway::LanNet`], so that UPnP and the gateway core share one LAN check
/// ([`lan_for`]).
pub type LanAddr = crate::gateway::LanNet;

pub use crate::gateway::lan_for;

/// Where to join a multicast group for the LAN addresses: the index of each interface
/// holding one, once per interface (a group is joined per interface; a second join
/// through another address of the same interface, a secondary or VRRP address, fails
/// with EADDRINUSE), or the address itself when no interface holds it.
pub(crate) fn multicast_interfaces(lan: &[LanAddr]) -> Vec<socket2::InterfaceIndexOrAddress> {
    let all: Vec<(Ipv4Addr, u32)> = nix::ifaddrs::getifaddrs()
        .map(|it| {
            it.filter_map(|ifa| {
                let ip = ifa.address.as_ref()?.as_sockaddr_in()?.ip();
                let index = nix::net::if_::if_nametoindex(ifa.interface_name.as_str()).ok()?;
                Some((ip, index))
            })
            .collect()
        })
        .unwrap_or_default();
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for l in lan {
        match all.iter().find(|(ip, _)| *ip == l.addr) {
            Some(&(_, index)) if !seen.contains(&index) => {
                seen.push(index);
                out.push(socket2::InterfaceIndexOrAddress::Index(index));
            }
            Some(_) => {}
            None => out.push(socket2::InterfaceIndexOrAddress::Address(l.addr)),
        }
    }
    out
}

/// Everything the UPnP device needs from the daemon.
pub struct UpnpContext {
    /// The gateway core (mapping table, firewall, external address, counters).
    pub backend: Rc<RefCell<dyn UpnpBackend>>,
    /// The LAN addresses to serve; nothing is answered to senders outside them.
    pub lan: Vec<LanAddr>,
    /// HTTP port (`http_port`, default 5000; 0 = any free port).
    pub http_port: u16,
    /// SSDP port (1900; tests may use another).
    pub ssdp_port: u16,
    /// Device description fields and the announced IGD version.
    pub igd: IgdConfig,
    /// `notify_interval` in seconds (NOTIFY period; max-age is twice this).
    pub notify_interval: u32,
    /// BOOTID.UPNP.ORG (UDA 1.1 §1.2.2), e.g. the start time in seconds.
    pub boot_id: u32,
    /// Most entries GetListOfPortMappings returns (`list_max_entries`).
    pub list_max_entries: usize,
    /// Most concurrent HTTP connections (`http_max_connections`).
    pub http_max_connections: usize,
    /// The gateway's event stream (`Gateway::subscribe`), so changes made by NAT-PMP,
    /// PCP and expiry reach GENA too; `None` when events are pushed with
    /// [`UpnpHandle::notify`] only.
    pub gateway_events: Option<tokio::sync::broadcast::Receiver<crate::gateway::GatewayEvent>>,
    /// The SSDP cache daemon's socket (`minissdpdsocket`), used when UDP 1900 is taken.
    pub minissdpd_socket: std::path::PathBuf,
    /// IPv6 side (HTTP on the LAN IPv6 addresses, WANIPv6FirewallControl); `None`:
    /// IPv4 only.
    pub ipv6: Option<UpnpIpv6>,
    /// Called by the HTTP server after each accepted connection and before it answers
    /// each request: the run loop serves
    /// waiting NAT-PMP/PCP datagrams there, so they are not queued behind every busy
    /// connection of the one-thread loop (docs/benchmarks.md: NAT-PMP p99 under SOAP load).
    pub before_request: Option<Rc<dyn Fn()>>,
}

/// The device's IPv6 side.
pub struct UpnpIpv6 {
    /// LAN IPv6 addresses: an HTTP listener on each (same port as IPv4) and the
    /// prefixes whose hosts are answered.
    pub lan: Vec<crate::pinhole::Lan6>,
    /// Index of the LAN interface: SSDP joins ff02::c and ff05::c there (0: no IPv6
    /// SSDP).
    pub ifindex: u32,
    /// The pinhole operations behind WANIPv6FirewallControl.
    pub pinholes: Rc<RefCell<dyn v6fc::PinholeBackend>>,
}

/// A change the device must tell its GENA subscribers about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpnpEvent {
    /// A mapping was added, refreshed with other values, deleted or expired.
    MappingsChanged,
    /// The external address (or the connection status) changed.
    ExternalAddressChanged,
    /// The IPv6 firewall's status changed (a SIGHUP turned `ipv6_disable` on or off):
    /// WANIPv6FirewallControl's FirewallEnabled and InboundPinholeAllowed.
    FirewallChanged,
}

/// A running UPnP device. Dropping it does not stop the tasks: call
/// [`UpnpHandle::shutdown`].
pub struct UpnpHandle {
    events: mpsc::UnboundedSender<UpnpEvent>,
    http_addrs: Vec<SocketAddr>,
    ssdp: Option<Rc<ssdp::SsdpDriver>>,
    ssdp6: Option<Rc<ssdp6::Ssdp6Driver>>,
    tasks: Vec<JoinHandle<()>>,
}

impl UpnpHandle {
    /// The bound HTTP listener addresses (one per LAN address).
    pub fn http_addrs(&self) -> &[SocketAddr] {
        &self.http_addrs
    }

    /// Queues an event for GENA subscribers (never blocks).
    pub fn notify(&self, event: UpnpEvent) {
        let _ = self.events.send(event);
    }

    /// Sends `ssdp:byebye` for every announced type (clean shutdown, UDA 1.1 §1.2.3).
    pub async fn byebye(&self) {
        if let Some(s) = &self.ssdp {
            s.byebye().await;
        }
        if let Some(s) = &self.ssdp6 {
            s.byebye().await;
        }
    }

    /// Sends byebye and stops every task of the device.
    pub async fn shutdown(self) {
        self.byebye().await;
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Binds the sockets and spawns the device's tasks on the current `LocalSet`.
/// See the module docs.
pub async fn start(mut ctx: UpnpContext) -> anyhow::Result<UpnpHandle> {
    anyhow::ensure!(!ctx.lan.is_empty(), "upnp: no LAN address to listen on");
    let gateway_events = ctx.gateway_events.take();
    let ctx_minissdpd = std::mem::take(&mut ctx.minissdpd_socket);
    let mut shared = Shared::new(ctx);
    shared.gateway_events = gateway_events.is_some();
    let shared = Rc::new(shared);
    let mut tasks = Vec::new();
    let (tx, rx) = mpsc::unbounded_channel();

    let gena = gena::GenaService::new(shared.clone());
    let http_addrs = http::spawn_listeners(shared.clone(), gena.clone(), &mut tasks).await?;
    if let Some(ev) = gateway_events {
        tasks.push(tokio::task::spawn_local(gena::gateway_pump(
            gena.clone(),
            ev,
        )));
    }
    tasks.push(tokio::task::spawn_local(gena::event_pump(gena, rx)));

    let http_port = http_addrs.first().map_or(0, |a| a.port());
    let ssdp = match ssdp::SsdpDriver::bind(shared.clone(), http_port) {
        Ok(d) => {
            let d = Rc::new(d);
            tasks.push(tokio::task::spawn_local(ssdp::SsdpDriver::run(d.clone())));
            for sock in d.receivers() {
                tasks.push(tokio::task::spawn_local(ssdp::SsdpDriver::receive(
                    d.clone(),
                    sock,
                )));
            }
            Some(d)
        }
        Err(e) if ssdp::port_in_use(&e) => {
            let path = ctx_minissdpd.clone();
            tracing::info!(
                "upnp: {e:#}: registering with the SSDP cache daemon at {}",
                path.display()
            );
            tasks.push(tokio::task::spawn_local(register::run(
                shared.clone(),
                path,
                http_port,
            )));
            None
        }
        Err(e) => {
            tracing::warn!("upnp: ssdp disabled: {e:#}");
            None
        }
    };
    let v6 = shared
        .ctx
        .ipv6
        .as_ref()
        .and_then(|v| Some((v.lan.first()?.addr, v.ifindex)))
        .filter(|(_, i)| *i != 0);
    let ssdp6 = match v6 {
        Some((addr, ifindex)) => {
            match ssdp6::Ssdp6Driver::bind(shared.clone(), addr, ifindex, http_port) {
                Ok(d) => {
                    let d = Rc::new(d);
                    tasks.push(tokio::task::spawn_local(ssdp6::Ssdp6Driver::run(d.clone())));
                    Some(d)
                }
                Err(e) => {
                    tracing::warn!("upnp: ipv6 ssdp disabled: {e:#}");
                    None
                }
            }
        }
        None => None,
    };
    Ok(UpnpHandle {
        events: tx,
        http_addrs,
        ssdp,
        ssdp6,
        tasks,
    })
}

/// State shared by the device's tasks (single thread).
pub(crate) struct Shared {
    pub(crate) ctx: UpnpContext,
    pub(crate) server: String,
    /// GENA hears of mapping changes from the gateway's events
    /// ([`UpnpContext::gateway_events`]), not from the SOAP handler.
    pub(crate) gateway_events: bool,
}

impl Shared {
    pub(crate) fn new(ctx: UpnpContext) -> Self {
        Self {
            gateway_events: ctx.gateway_events.is_some(),
            ctx,
            server: server_string(),
        }
    }

    /// Whether `peer` is a LAN host (IPv4 LAN, or an IPv6 LAN prefix when IPv6 is on).
    pub(crate) fn is_lan_peer(&self, peer: IpAddr) -> bool {
        if lan_for(&self.ctx.lan, peer).is_some() {
            return true;
        }
        match (peer, &self.ctx.ipv6) {
            // The pinhole service's prefixes: re-read on SIGHUP.
            (IpAddr::V6(a), Some(v6)) => v6.pinholes.borrow().is_lan(a),
            _ => false,
        }
    }
}

/// The SERVER / USER-AGENT value: `<os>/<ver> UPnP/1.1 portgate/<ver>` (UDA 1.1 §1.1.3).
pub fn server_string() -> String {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && s.len() < 64 && s.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or_else(|| "0".to_owned());
    format!(
        "Linux/{release} UPnP/1.1 portgate/{}",
        env!("CARGO_PKG_VERSION")
    )
}
