//! The daemon core as the simulations see it: the ONE place where the simulated-time
//! tests (`tests/sim_pair.rs`) and the stateful fuzz target (`fuzz/fuzz_targets/
//! gateway_steps.rs`, which includes `sim/` by path) call portgated's library.
//!
//! Everything here is what `run.rs` does around the gateway, with the sockets, the
//! clock and the kernel taken out: datagrams in and replies out (`pmp::handle_batch`),
//! an HTTP request in and the response bytes out (the server's own framer, router
//! and SOAP dispatcher over an [`UpnpBackend`] whose clock is the simulation's),
//! the core's own timers (`Gateway::poll_timeout`/`handle_timeout`: expiry, the
//! lease journal's sync, idle cleaning, the announcement schedule, whose datagrams
//! come out of `poll_transmit`; the same for the pinholes), and the firewall watch
//! (a deletion notification, then `verify` and a full restore 100 ms later).
//! Time is one simulated clock: a [`Duration`] since the simulation's origin, turned
//! here into the core's time ([`core_time`]) and the gateway's seconds ([`secs`]).
//!
//! The firewall is portgate-nft's in-memory one behind a shared handle ([`Kernel`]),
//! so a test can look at the "kernel" and break it while the gateway owns it.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use portgate_daemon::gateway::{Gateway, GatewaySettings, LanNet};
use portgate_daemon::pinhole::{PinholeSettings, Pinholes};
use portgate_daemon::pmp;
use portgate_daemon::rules::RuleSet;
use portgate_daemon::table::{
    AddOutcome, Mapping, MappingKey, NewMapping, Origin, Protocol, Requester, TableLimits,
};
use portgate_daemon::upnp::desc::Documents;
use portgate_daemon::upnp::{
    http as upnp_http, soap, BackendError, ConnectionInfo, UpnpBackend, WanCounters,
};
use portgate_nft::{Change, Firewall, FirewallError, MappingEntry, MemoryFirewall, PinholeEntry};

/// The gateway's clock reads this many seconds at the simulation's origin (unix time,
/// as the daemon's clock does until the wall clock steps).
pub const BASE_UNIX: u64 = 1_700_000_000;

/// How long after a deletion notification the firewall check runs (the daemon's
/// settle time).
pub const WATCH_SETTLE: Duration = Duration::from_millis(100);

/// The gateway's HTTP port in the simulation.
pub const HTTP_PORT: u16 = 5000;

/// What the gateway is started with.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// The gateway's LAN address and prefix.
    pub lan: (Ipv4Addr, u8),
    /// The external address at start.
    pub external: Option<Ipv4Addr>,
    /// Accept a reserved external address (the documentation ranges the tests use).
    pub allow_private_external: bool,
    /// Secure mode.
    pub secure_mode: bool,
    /// Mappings per internal client.
    pub max_per_client: u32,
    /// Mappings in all.
    pub max_total: u32,
    /// NAT-PMP/PCP lifetime clamp.
    pub min_lifetime: u32,
    /// NAT-PMP/PCP lifetime clamp.
    pub max_lifetime: u32,
    /// Permission rules, in miniupnpd.conf syntax (`allow ...`, `deny ...`).
    pub rules: Vec<String>,
    /// The lease file (`None`: not persisted).
    pub lease_file: Option<PathBuf>,
    /// The simulation's origin: the announcer's clock.
    pub origin: Instant,
}

/// A mapping as the table, the kernel or the lease file holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Entry {
    /// IANA protocol number.
    pub proto: u8,
    /// External port.
    pub external_port: u16,
    /// Remote host restriction.
    pub remote: Option<Ipv4Addr>,
    /// Where the traffic goes.
    pub internal: SocketAddrV4,
    /// When it runs out, in simulated time (`None`: permanent).
    pub expires: Option<Duration>,
    /// Which protocol made it (`"upnp"`, `"natpmp"`, `"pcp"`; `"kernel"` for the
    /// kernel's entries, which do not know).
    pub origin: &'static str,
}

impl Entry {
    /// The same entry without the fields only one side knows (origin, expiry).
    pub fn target(&self) -> (u8, u16, Option<Ipv4Addr>, SocketAddrV4) {
        (self.proto, self.external_port, self.remote, self.internal)
    }
}

/// What start-up restored from the lease file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restored {
    /// Mappings restored.
    pub restored: usize,
    /// Entries whose lease had run out.
    pub expired: usize,
    /// Lines skipped.
    pub skipped: usize,
}

/// The simulated kernel: portgate-nft's in-memory firewall behind a handle the test
/// keeps while the gateway owns a clone.
#[derive(Clone, Default)]
pub struct Kernel {
    fw: Rc<RefCell<MemoryFirewall>>,
    at: Rc<RefCell<Duration>>,
}

impl Kernel {
    /// An empty kernel at the simulation's origin.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the kernel's clock to `t` (never back): elements whose timeout ran out go.
    pub fn advance_to(&self, t: Duration) {
        let mut at = self.at.borrow_mut();
        if t > *at {
            self.fw.borrow_mut().advance(t - *at);
            *at = t;
        }
    }

    /// Someone deletes our table (`nft flush ruleset`): every element is gone.
    pub fn drop_table(&self) {
        self.fw.borrow_mut().drop_table();
    }

    /// Inbound packets through the mapping of `proto`/`external_port` (no remote
    /// restriction), as the kernel's counter sees them. False when there is none.
    pub fn traffic(&self, proto: u8, external_port: u16, packets: u64) -> bool {
        let key = portgate_nft::MappingKey {
            external: None,
            proto: portgate_nft::L4Proto(proto),
            external_port,
            remote: None,
        };
        self.fw
            .borrow_mut()
            .add_traffic(&key, packets, packets * 100)
    }

    /// Successful transactions so far.
    pub fn transactions(&self) -> u64 {
        self.fw.borrow().transactions()
    }

    /// The elements (empty when the table is gone).
    pub fn entries(&self) -> Vec<Entry> {
        let at = *self.at.borrow();
        let mut v: Vec<Entry> = self
            .fw
            .borrow_mut()
            .list()
            .unwrap_or_default()
            .into_iter()
            .map(|e| Entry {
                proto: e.mapping.key.proto.0,
                external_port: e.mapping.key.external_port,
                remote: e.mapping.key.remote,
                internal: SocketAddrV4::new(e.mapping.internal_addr, e.mapping.internal_port),
                expires: e.expires_in.map(|d| at + d),
                origin: "kernel",
            })
            .collect();
        v.sort();
        v
    }

    /// Whether our table exists.
    pub fn has_table(&self) -> bool {
        self.fw.borrow_mut().verify().unwrap_or(false)
    }
}

impl Firewall for Kernel {
    fn init(&mut self) -> Result<(), FirewallError> {
        self.fw.borrow_mut().init()
    }
    fn verify(&mut self) -> Result<bool, FirewallError> {
        self.fw.borrow_mut().verify()
    }
    fn apply(&mut self, changes: &[Change]) -> Result<(), FirewallError> {
        self.fw.borrow_mut().apply(changes)
    }
    fn list(&mut self) -> Result<Vec<MappingEntry>, FirewallError> {
        self.fw.borrow_mut().list()
    }
    fn list_pinholes(&mut self) -> Result<Vec<PinholeEntry>, FirewallError> {
        self.fw.borrow_mut().list_pinholes()
    }
    fn shutdown(&mut self, keep: bool) -> Result<(), FirewallError> {
        self.fw.borrow_mut().shutdown(keep)
    }
}

/// The gateway's seconds at simulated time `t`.
pub fn secs(t: Duration) -> u64 {
    BASE_UNIX + t.as_secs()
}

/// The core's time (a [`Duration`] whose seconds are [`secs`]) at simulated time `t`.
pub fn core_time(t: Duration) -> Duration {
    Duration::from_secs(BASE_UNIX) + t
}

/// Simulated time at the gateway's second `s`.
fn sim_time(s: u64) -> Duration {
    Duration::from_secs(s.saturating_sub(BASE_UNIX))
}

/// portgated's core with the run loop's duties, no I/O. See the module docs.
pub struct Core {
    gw: Gateway,
    pins: Pinholes,
    docs: Documents,
    /// A deletion notification was heard: check the firewall at this time.
    check_at: Option<Duration>,
}

impl Core {
    /// Starts the gateway at simulated time `t` on `kernel` (the lease file, if any,
    /// is read; the kernel is made to agree with it) and starts the announcement burst.
    pub fn start(
        cfg: &CoreConfig,
        kernel: &Kernel,
        t: Duration,
    ) -> Result<(Core, Restored), String> {
        let settings = settings(cfg)?;
        let (mut gw, report) =
            Gateway::start(settings, Box::new(kernel.clone()), cfg.external, secs(t))
                .map_err(|e| e.to_string())?;
        let (pins, _) = Pinholes::start(PinholeSettings::default(), &mut gw, secs(t))
            .map_err(|e| e.to_string())?;
        let core = Core {
            gw,
            pins,
            docs: Documents::new(&portgate_proto::description::IgdConfig::default()),
            check_at: None,
        };
        Ok((
            core,
            Restored {
                restored: report.restored,
                expired: report.expired,
                skipped: report.skipped,
            },
        ))
    }

    /// NAT-PMP/PCP datagrams that arrived together on `local`:5351, handled as one
    /// batch (one firewall transaction); the replies in the same order.
    pub fn datagrams(
        &mut self,
        batch: &[(&[u8], SocketAddr)],
        local: Ipv4Addr,
        t: Duration,
    ) -> Vec<Option<Vec<u8>>> {
        pmp::handle_batch(batch, IpAddr::V4(local), secs(t), &mut self.gw)
    }

    /// One HTTP request from `peer` to `local` (a whole connection: the request
    /// bytes, then the peer's end): the response bytes, as the daemon's HTTP server
    /// frames, routes and answers it.
    pub fn http(
        &mut self,
        peer: SocketAddr,
        local: SocketAddr,
        bytes: &[u8],
        t: Duration,
    ) -> Vec<u8> {
        let mut conn = upnp_http::Connection::new();
        conn.feed(bytes);
        conn.feed_eof();
        let req = match conn.poll() {
            upnp_http::Polled::Request(r) => r,
            upnp_http::Polled::Fail(status) => {
                return upnp_http::error_response(status, true, "sim")
            }
            upnp_http::Polled::NeedMore | upnp_http::Polled::Closed => return Vec::new(),
        };
        let service = match upnp_http::route(&req.head, local.ip(), &self.docs, false) {
            upnp_http::Route::Control(s) => s,
            upnp_http::Route::Error(status) => {
                return upnp_http::error_response(status, true, "sim")
            }
            upnp_http::Route::Document | upnp_http::Route::Event(_) => {
                return upnp_http::error_response(501, true, "sim")
            }
        };
        let requester = match peer.ip() {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
        };
        let secure_mode = self.gw.settings().limits.secure_mode;
        let mut backend = SimBackend {
            gw: &mut self.gw,
            now: secs(t),
        };
        let out = soap::handle(
            service,
            req.head.headers.get("SOAPAction"),
            &req.body,
            requester,
            soap::SoapSettings {
                secure_mode,
                list_max_entries: 1000,
                device_version: portgate_daemon::config::IgdVersion::V2,
                now: secs(t),
            },
            "uuid:sim-wcd",
            &mut backend,
        );
        let head = portgate_proto::http::ResponseHead::new(out.status)
            .with_header("Content-Type", upnp_http::CONTENT_TYPE_XML)
            .with_header("Connection", "close");
        let mut bytes = Vec::new();
        head.emit_with_body(&out.body, &mut bytes);
        bytes
    }

    /// The next time [`Core::handle_timeout`] has work: an expiry, a journal sync, an
    /// announcement, a firewall check.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let base = Duration::from_secs(BASE_UNIX);
        let core = [self.gw.poll_timeout(), self.pins.poll_timeout()]
            .into_iter()
            .flatten()
            .map(|d| d.saturating_sub(base));
        core.chain(self.check_at).min()
    }

    /// Does what is due at `t` (expiry, journal sync, firewall check); returns the
    /// announcements to multicast now.
    pub fn handle_timeout(&mut self, t: Duration) -> Vec<Vec<u8>> {
        let now = secs(t);
        // One expiry step per call in the daemon; the loop comes back at once while due.
        while self.gw.next_expiry().is_some_and(|e| e <= now) {
            let before = self.gw.table().len();
            self.gw.handle_timeout(core_time(t));
            if self.gw.table().len() == before {
                break;
            }
        }
        self.gw.handle_timeout(core_time(t));
        self.pins.handle_timeout(&mut self.gw, core_time(t));
        let recreated = self.gw.take_recreated();
        let check = self.check_at.is_some_and(|c| c <= t);
        if check {
            self.check_at = None;
        }
        if recreated || (check && !self.gw.firewall().verify().unwrap_or(false)) {
            if let Err(e) = self.pins.restore_firewall(&mut self.gw, now) {
                self.check_at = Some(t + Duration::from_secs(5));
                eprintln!("sim: restore failed: {e}");
            }
        }
        std::iter::from_fn(|| self.gw.poll_transmit()).collect()
    }

    /// The kernel told us that nftables objects were deleted (the daemon's
    /// notification listener): a check is due [`WATCH_SETTLE`] later.
    pub fn nft_deleted(&mut self, t: Duration) {
        self.check_at.get_or_insert(t + WATCH_SETTLE);
    }

    /// The WAN address changed: a new epoch and an announcement burst when it did.
    pub fn set_external(&mut self, addr: Option<Ipv4Addr>, t: Duration) -> bool {
        self.gw.set_external(addr, secs(t))
    }

    /// The epoch the gateway reports at `t` (RFC 6886 §3.6).
    pub fn epoch(&self, t: Duration) -> u32 {
        self.gw.epoch(secs(t))
    }

    /// The mapping table.
    pub fn table(&self) -> Vec<Entry> {
        let mut v: Vec<Entry> = self.gw.table().iter().map(entry).collect();
        v.sort();
        v
    }

    /// Mappings whose internal client is `ip`.
    pub fn count_for(&self, ip: Ipv4Addr) -> u32 {
        self.gw.table().count_for(ip)
    }

    /// The mappings the lease file gives back when read at `t`, as a restart would.
    pub fn journal(&self, t: Duration) -> Option<Vec<Entry>> {
        let path = self.gw.settings().lease_file.as_ref()?;
        let file = portgate_daemon::lease::read_file(path, secs(t)).ok()?;
        let mut v: Vec<Entry> = file
            .entries
            .iter()
            .map(|e| {
                entry(&Mapping {
                    external: None,
                    protocol: e.protocol,
                    external_port: e.external_port,
                    remote_host: e.remote_host,
                    internal_client: e.internal_client,
                    internal_port: e.internal_port,
                    description: e.description.clone(),
                    expiry: e.expiry,
                    origin: e.origin,
                    created_at: 0,
                })
            })
            .collect();
        v.sort();
        Some(v)
    }

    /// Lines in the lease file as it is on disk (journal lines included; `None`
    /// without a lease file).
    pub fn lease_file_lines(&self) -> Option<usize> {
        let path = self.gw.settings().lease_file.as_ref()?;
        let text = std::fs::read_to_string(path).ok()?;
        Some(text.lines().filter(|l| !l.trim().is_empty()).count())
    }

    /// SIGHUP: new settings; mappings the new rules deny are removed. Returns how many.
    pub fn reload(&mut self, cfg: &CoreConfig, t: Duration) -> Result<usize, String> {
        Ok(self.gw.reload(settings(cfg)?, secs(t)).len())
    }

    /// One step of idle-mapping cleaning (`clean_ruleset_threshold`); how many went.
    pub fn clean_idle(&mut self, threshold: usize, t: Duration) -> usize {
        self.gw.clean_idle(threshold, secs(t)).len()
    }

    /// A clean stop (lease file written; the kernel's table kept or removed).
    pub fn shutdown(mut self, keep_table: bool) {
        if let Err(e) = self.gw.shutdown(keep_table) {
            eprintln!("sim: shutdown: {e}");
        }
    }
}

/// The gateway's settings for `cfg`.
fn settings(cfg: &CoreConfig) -> Result<GatewaySettings, String> {
    let mut rules = RuleSet::new();
    for r in &cfg.rules {
        rules.push(portgate_daemon::rules::Rule::parse(r).map_err(|e| format!("{r}: {e}"))?);
    }
    Ok(GatewaySettings {
        limits: TableLimits {
            secure_mode: cfg.secure_mode,
            max_per_client: cfg.max_per_client,
            max_total: cfg.max_total,
        },
        rules,
        allow_private_external: cfg.allow_private_external,
        min_lifetime: cfg.min_lifetime,
        max_lifetime: cfg.max_lifetime,
        pcp_allow_thirdparty: false,
        lease_file: cfg.lease_file.clone(),
        lan: vec![LanNet {
            addr: cfg.lan.0,
            prefix: cfg.lan.1,
        }],
        timers: portgate_daemon::gateway::Timers {
            announce: true,
            clean_interval: 0,
            clean_threshold: 0,
        },
        cgn: None,
        natpmp: true,
        request_rate: 0,
    })
}

fn entry(m: &Mapping) -> Entry {
    Entry {
        proto: m.protocol.number(),
        external_port: m.external_port,
        remote: m.remote_host,
        internal: SocketAddrV4::new(m.internal_client, m.internal_port),
        expires: m.expiry.map(sim_time),
        origin: match m.origin {
            Origin::Upnp => "upnp",
            Origin::NatPmp => "natpmp",
            Origin::Pcp { .. } => "pcp",
        },
    }
}

/// The SOAP dispatcher's view of the gateway in the simulation. The daemon's
/// `upnp::backend::GatewayBackend` holds a shared gateway and reads the WAN link's
/// sysfs entries and the clock for the connection's uptime; this one holds the
/// simulation's gateway and time. Changes take the request's `now` either way.
struct SimBackend<'a> {
    gw: &'a mut Gateway,
    now: u64,
}

impl UpnpBackend for SimBackend<'_> {
    fn secure_mode(&self) -> bool {
        self.gw.settings().limits.secure_mode
    }
    fn mapping_count(&self) -> usize {
        self.gw.table().len()
    }
    fn mapping_by_index(&self, index: usize) -> Option<Mapping> {
        self.gw.table().get_by_index(index).cloned()
    }
    fn mapping_specific(&self, key: MappingKey, remote_host: Option<Ipv4Addr>) -> Option<Mapping> {
        self.gw.table().get_specific(key, remote_host).cloned()
    }
    fn mappings_in_range(
        &self,
        protocol: Protocol,
        start: u16,
        end: u16,
        max: usize,
    ) -> Vec<Mapping> {
        self.gw
            .table()
            .list_range(protocol, start, end, max)
            .into_iter()
            .cloned()
            .collect()
    }
    fn external_ipv4(&self) -> Option<Ipv4Addr> {
        self.gw.external()
    }
    fn connection_info(&self) -> ConnectionInfo {
        ConnectionInfo {
            connected: self.gw.forwarding(),
            link_up: self.gw.external().is_some(),
            uptime: self.now.saturating_sub(self.gw.epoch_start()),
            bitrate_up: 0,
            bitrate_down: 0,
        }
    }
    fn wan_counters(&self) -> WanCounters {
        WanCounters::default()
    }
    fn own_addresses(&self) -> Vec<Ipv4Addr> {
        self.gw.own_addresses()
    }
    fn add_mapping(
        &mut self,
        req: NewMapping,
        by: Requester,
        any: bool,
        now: u64,
    ) -> Result<AddOutcome, BackendError> {
        Ok(self.gw.map(req, by, any, now)?)
    }
    fn delete_mapping(
        &mut self,
        key: MappingKey,
        remote_host: Option<Ipv4Addr>,
        by: Requester,
        now: u64,
    ) -> Result<Mapping, BackendError> {
        Ok(self.gw.unmap(key, remote_host, by, now)?)
    }
    fn delete_range(
        &mut self,
        protocol: Protocol,
        start: u16,
        end: u16,
        by: Requester,
        now: u64,
    ) -> Result<Vec<Mapping>, BackendError> {
        Ok(self.gw.unmap_range(protocol, start, end, by, now)?)
    }
}
