use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::rc::Rc;

use portgate_nft::{Firewall, FirewallError, MappingEntry, MemoryFirewall, PinholeEntry};

use super::*;
use crate::rules::Rule;
use crate::table::Origin;

/// A [`MemoryFirewall`] the test keeps a handle on after boxing it into a
/// gateway, so it can inspect the "kernel" and break it.
#[derive(Clone, Default)]
pub(crate) struct SharedMem(pub(crate) Rc<RefCell<MemoryFirewall>>);

impl Firewall for SharedMem {
    fn init(&mut self) -> Result<(), FirewallError> {
        self.0.borrow_mut().init()
    }
    fn apply(&mut self, changes: &[Change]) -> Result<(), FirewallError> {
        self.0.borrow_mut().apply(changes)
    }
    fn list(&mut self) -> Result<Vec<MappingEntry>, FirewallError> {
        self.0.borrow_mut().list()
    }
    fn list_pinholes(&mut self) -> Result<Vec<PinholeEntry>, FirewallError> {
        self.0.borrow_mut().list_pinholes()
    }
    fn shutdown(&mut self, keep: bool) -> Result<(), FirewallError> {
        self.0.borrow_mut().shutdown(keep)
    }
}

impl SharedMem {
    pub(crate) fn ports(&self) -> Vec<(u8, u16, Ipv4Addr, u16)> {
        let mut v: Vec<_> = self
            .0
            .borrow_mut()
            .list()
            .unwrap_or_default()
            .into_iter()
            .map(|e| {
                (
                    e.mapping.key.proto.0,
                    e.mapping.key.external_port,
                    e.mapping.internal_addr,
                    e.mapping.internal_port,
                )
            })
            .collect();
        v.sort();
        v
    }
}

pub(crate) const EXT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
pub(crate) const LAN_GW: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
pub(crate) const HOST: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
pub(crate) const HOST2: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 3);
pub(crate) const NOW: u64 = 1_700_000_000;

pub(crate) fn settings(lease_file: Option<PathBuf>) -> GatewaySettings {
    let mut rules = RuleSet::new();
    if let Ok(r) = Rule::parse("deny 22 0.0.0.0/0 0-65535") {
        rules.push(r);
    }
    GatewaySettings {
        limits: TableLimits {
            secure_mode: true,
            max_per_client: 4,
            max_total: 100,
        },
        rules,
        allow_private_external: true,
        min_lifetime: 120,
        max_lifetime: 86_400,
        pcp_allow_thirdparty: false,
        lease_file,
        cgn: None,
        natpmp: true,
        request_rate: 0,
        lan: vec![LanNet {
            addr: LAN_GW,
            prefix: 24,
        }],
        timers: Default::default(),
    }
}

pub(crate) fn gateway(settings: GatewaySettings) -> (Gateway, SharedMem) {
    let fw = SharedMem::default();
    let (gw, _) = Gateway::start(settings, Box::new(fw.clone()), Some(EXT), NOW).expect("start");
    (gw, fw)
}

fn req(port: u16, client: Ipv4Addr, lifetime: u64) -> NewMapping {
    NewMapping {
        external: None,
        protocol: Protocol::Tcp,
        external_port: port,
        remote_host: None,
        internal_client: client,
        internal_port: port,
        description: "test".into(),
        expiry: Some(NOW + lifetime),
        origin: Origin::Upnp,
    }
}

#[test]
fn lan_membership() {
    let (gw, _) = gateway(settings(None));
    assert!(gw.is_lan(HOST));
    assert!(gw.is_lan(Ipv4Addr::new(10, 77, 0, 255)));
    assert!(!gw.is_lan(Ipv4Addr::new(10, 77, 1, 2)));
    assert!(!gw.is_lan(EXT));
    // The one LAN check (shared with UPnP): the gateway itself is no LAN host.
    assert!(!gw.is_lan(LAN_GW));
    let all = LanNet {
        addr: LAN_GW,
        prefix: 0,
    };
    assert!(all.contains(EXT));
}

#[test]
fn map_puts_one_element_and_unmap_removes_it() {
    let (mut gw, fw) = gateway(settings(None));
    let mut events = gw.subscribe();
    let out = gw
        .map(req(4000, HOST, 600), Requester::Client(HOST), false, NOW)
        .expect("map");
    assert_eq!(out.mapping.external_port, 4000);
    assert_eq!(fw.ports(), vec![(6, 4000, HOST, 4000)]);
    assert!(matches!(
        events.try_recv(),
        Ok(GatewayEvent::MappingAdded(_))
    ));
    let key = out.mapping.key();
    gw.unmap(key, None, Requester::Client(HOST), NOW)
        .expect("unmap");
    assert!(fw.ports().is_empty());
    assert!(gw.table().is_empty());
    assert!(matches!(
        events.try_recv(),
        Ok(GatewayEvent::MappingRemoved(_))
    ));
}

#[test]
fn missing_table_is_recreated_and_refilled() {
    let (mut gw, fw) = gateway(settings(None));
    gw.map(req(4000, HOST, 600), Requester::Client(HOST), false, NOW)
        .expect("map");
    // A refresh that the firewall refuses keeps the old mapping.
    fw.0.borrow_mut().drop_table();
    // TableMissing: the gateway recreates the table and pushes everything.
    gw.map(req(4001, HOST, 600), Requester::Client(HOST), false, NOW)
        .expect("recovered after table missing");
    assert_eq!(
        fw.ports(),
        vec![(6, 4000, HOST, 4000), (6, 4001, HOST, 4001)]
    );
}

/// A firewall that always refuses changes.
struct Broken;
impl Firewall for Broken {
    fn init(&mut self) -> Result<(), FirewallError> {
        Ok(())
    }
    fn apply(&mut self, changes: &[Change]) -> Result<(), FirewallError> {
        if changes.is_empty() {
            return Ok(());
        }
        Err(FirewallError::PermissionDenied)
    }
    fn list(&mut self) -> Result<Vec<MappingEntry>, FirewallError> {
        Ok(Vec::new())
    }
    fn list_pinholes(&mut self) -> Result<Vec<PinholeEntry>, FirewallError> {
        Ok(Vec::new())
    }
    fn shutdown(&mut self, _: bool) -> Result<(), FirewallError> {
        Ok(())
    }
}

#[test]
fn refused_change_is_an_error_and_leaves_no_mapping() {
    let (mut gw, _) =
        Gateway::start(settings(None), Box::new(Broken), Some(EXT), NOW).expect("start");
    let err = gw
        .map(req(4000, HOST, 600), Requester::Client(HOST), false, NOW)
        .expect_err("firewall refuses");
    assert!(matches!(err, GatewayError::Firewall(_)));
    assert!(gw.table().is_empty());
}

#[test]
fn table_errors_pass_through() {
    let (mut gw, _) = gateway(settings(None));
    let err = gw
        .map(req(22, HOST, 600), Requester::Client(HOST), false, NOW)
        .expect_err("deny rule");
    assert!(matches!(err, GatewayError::Table(TableError::Denied)));
    let err = gw
        .map(req(4000, HOST2, 600), Requester::Client(HOST), false, NOW)
        .expect_err("secure mode");
    assert!(matches!(
        err,
        GatewayError::Table(TableError::NotAuthorized { .. })
    ));
}

#[test]
fn private_external_address_disables_forwarding_unless_allowed() {
    let mut s = settings(None);
    s.allow_private_external = false;
    let (mut gw, _) = gateway(s);
    assert!(!gw.forwarding(), "203.0.113.1 is TEST-NET-3");
    let err = gw
        .map(req(4000, HOST, 600), Requester::Client(HOST), false, NOW)
        .expect_err("no forwarding");
    assert!(matches!(err, GatewayError::ForwardingDisabled));
    assert!(gw.set_external(Some(Ipv4Addr::new(8, 8, 8, 8)), NOW + 10));
    assert!(gw.forwarding());
    assert!(gw.set_external(None, NOW + 11));
    assert!(!gw.forwarding());
}

#[test]
fn epoch_restarts_on_address_change() {
    let (mut gw, _) = gateway(settings(None));
    let mut events = gw.subscribe();
    assert_eq!(gw.epoch(NOW + 100), 100);
    assert!(!gw.set_external(Some(EXT), NOW + 100), "same address");
    assert!(gw.set_external(Some(Ipv4Addr::new(198, 51, 100, 7)), NOW + 100));
    assert_eq!(gw.epoch(NOW + 130), 30);
    assert!(matches!(
        events.try_recv(),
        Ok(GatewayEvent::ExternalAddressChanged { .. })
    ));
}

#[test]
fn expiry_removes_from_table_and_kernel() {
    let (mut gw, fw) = gateway(settings(None));
    gw.map(req(4000, HOST, 60), Requester::Client(HOST), false, NOW)
        .expect("map");
    assert_eq!(gw.next_expiry(), Some(NOW + 60));
    assert!(gw.expire(NOW + 59).is_empty());
    assert_eq!(gw.expire(NOW + 60).len(), 1);
    assert!(fw.ports().is_empty());
    assert_eq!(gw.flush_due(), Some(NOW + 60 + PERSIST_DELAY.as_secs()));
}

#[test]
fn leases_survive_a_restart_and_kernel_is_reconciled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("leases");
    let fw = SharedMem::default();
    {
        let (mut gw, _) = Gateway::start(
            settings(Some(path.clone())),
            Box::new(fw.clone()),
            Some(EXT),
            NOW,
        )
        .expect("start");
        gw.map(req(4000, HOST, 600), Requester::Client(HOST), false, NOW)
            .expect("map");
        gw.map(req(4001, HOST, 30), Requester::Client(HOST), false, NOW)
            .expect("map");
        // Crash: no shutdown. The kernel also holds a stray element.
    }
    fw.0.borrow_mut()
        .put(&portgate_nft::Mapping {
            key: portgate_nft::MappingKey {
                proto: L4Proto::UDP,
                external_port: 9999,
                remote: None,
                external: None,
            },
            internal_addr: HOST2,
            internal_port: 9999,
            timeout: None,
        })
        .expect("stray");
    let text = std::fs::read_to_string(&path).expect("lease file");
    assert!(text.contains("TCP:4000:10.77.0.2:4000:"), "{text}");
    let later = NOW + 100;
    let (gw, report) = Gateway::start(
        settings(Some(path.clone())),
        Box::new(fw.clone()),
        Some(EXT),
        later,
    )
    .expect("restart");
    assert_eq!(report.restored, 1);
    assert_eq!(report.expired, 1);
    assert_eq!(report.reconcile.removed, 2, "expired 4001 and the stray");
    assert_eq!(gw.table().len(), 1);
    assert_eq!(fw.ports(), vec![(6, 4000, HOST, 4000)]);
    let text = std::fs::read_to_string(&path).expect("lease file");
    assert!(!text.contains(":4001:"), "{text}");
}

#[test]
fn reload_drops_mappings_the_new_rules_deny() {
    let (mut gw, fw) = gateway(settings(None));
    gw.map(req(4000, HOST, 600), Requester::Client(HOST), false, NOW)
        .expect("map");
    gw.map(req(5000, HOST, 600), Requester::Client(HOST), false, NOW)
        .expect("map");
    let mut s = settings(None);
    s.rules
        .push(Rule::parse("deny 5000 0.0.0.0/0 0-65535").expect("rule"));
    let gone = gw.reload(s, NOW);
    assert_eq!(gone.len(), 1);
    assert_eq!(fw.ports(), vec![(6, 4000, HOST, 4000)]);
}

#[test]
fn unmap_client_removes_only_that_clients() {
    let (mut gw, fw) = gateway(settings(None));
    gw.map(req(4000, HOST, 600), Requester::Client(HOST), false, NOW)
        .expect("map");
    gw.map(req(4001, HOST2, 600), Requester::Client(HOST2), false, NOW)
        .expect("map");
    let gone = gw
        .unmap_client(HOST, None, None, NOW)
        .expect("unmap client");
    assert_eq!(gone.len(), 1);
    assert_eq!(fw.ports(), vec![(6, 4001, HOST2, 4001)]);
}

#[test]
fn changes_are_journaled_then_compacted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("leases");
    let fw = SharedMem::default();
    let (mut gw, _) = Gateway::start(
        settings(Some(path.clone())),
        Box::new(fw.clone()),
        Some(EXT),
        NOW,
    )
    .expect("start");
    let a = gw
        .map(req(4000, HOST, 600), Requester::Client(HOST), false, NOW)
        .expect("map");
    gw.map(req(4001, HOST, 600), Requester::Client(HOST), false, NOW)
        .expect("map");
    // A refresh and a delete are appended, not rewritten.
    gw.map(req(4000, HOST, 900), Requester::Client(HOST), false, NOW)
        .expect("refresh");
    gw.unmap(a.mapping.key(), None, Requester::Client(HOST), NOW)
        .expect("unmap");
    let text = std::fs::read_to_string(&path).expect("lease file");
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(text.ends_with("#portgate-del TCP 4000\n"), "{text}");
    // Read back as a restart would: only 4001 is left.
    let f = lease::read_file(&path, NOW).expect("read");
    assert_eq!(f.entries.len(), 1);
    assert_eq!(f.entries[0].external_port, 4001);
    // Past the slack, the file is rewritten whole: one line per live mapping.
    for i in 0..JOURNAL_SLACK {
        gw.map(
            req(4001, HOST, 600 + i as u64),
            Requester::Client(HOST),
            false,
            NOW,
        )
        .expect("refresh");
    }
    let text = std::fs::read_to_string(&path).expect("lease file");
    assert!(text.lines().count() <= JOURNAL_SLACK, "not compacted");
    let f = lease::read_file(&path, NOW).expect("read");
    assert_eq!(f.entries.len(), 1);
    // Shutdown leaves plain miniupnpd format.
    gw.shutdown(true).expect("shutdown");
    let text = std::fs::read_to_string(&path).expect("lease file");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("TCP:4001:10.77.0.2:4001:"), "{text}");
}

#[test]
fn clean_idle_removes_what_saw_no_traffic_for_an_interval() {
    let (mut gw, fw) = gateway(settings(None));
    for port in [4000, 4001, 4002] {
        gw.map(req(port, HOST, 3600), Requester::Client(HOST), false, NOW)
            .expect("map");
    }
    let key = |port| portgate_nft::MappingKey {
        proto: portgate_nft::L4Proto(6),
        external_port: port,
        remote: None,
        external: None,
    };
    // Below the threshold nothing is noted, so nothing can be removed.
    assert!(gw.clean_idle(4, NOW + 10).is_empty());
    assert!(gw.clean_idle(4, NOW + 20).is_empty());
    assert_eq!(gw.table().len(), 3);
    // At the threshold: counters noted, nothing removed yet.
    assert!(fw.0.borrow_mut().add_traffic(&key(4000), 5, 500));
    assert!(gw.clean_idle(3, NOW + 30).is_empty());
    // 4001 sees a connection during the interval; 4000 (traffic only before) and
    // 4002 (none at all) do not.
    assert!(fw.0.borrow_mut().add_traffic(&key(4001), 1, 60));
    let mut events = gw.subscribe();
    let gone: Vec<u16> = gw
        .clean_idle(3, NOW + 40)
        .iter()
        .map(|m| m.external_port)
        .collect();
    assert_eq!(gone, vec![4000, 4002]);
    assert_eq!(fw.ports(), vec![(6, 4001, HOST, 4001)]);
    assert_eq!(gw.table().len(), 1);
    assert!(matches!(
        events.try_recv(),
        Ok(GatewayEvent::MappingRemoved(_))
    ));
    // It starts over: the next step notes counters again, and 4001, quiet since,
    // goes at the step after.
    assert!(gw.clean_idle(0, NOW + 50).is_empty());
    assert!(gw
        .clean_idle(0, NOW + 60)
        .iter()
        .map(|m| m.external_port)
        .eq([4001]));
}

/// A wall-clock step of a year, forward and back, while mappings are held: our time
/// is monotonic, so no lease changes; the lease file follows the wall clock, so a
/// restart after the step finds each mapping with the lease it had left.
#[test]
fn a_wall_clock_step_changes_no_lease() {
    const YEAR: i64 = 365 * 24 * 3600;
    for step in [YEAR, -YEAR] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("leases");
        let fw = SharedMem::default();
        let (mut gw, _) = Gateway::start(
            settings(Some(path.clone())),
            Box::new(fw.clone()),
            Some(EXT),
            NOW,
        )
        .expect("start");
        gw.map(req(4000, HOST, 600), Requester::Client(HOST), false, NOW)
            .expect("map");
        // 100 s later (our clock) the wall clock is stepped; another mapping is made
        // after the step, and the first one is still there at its own time.
        let t = NOW + 100;
        gw.set_wall_offset(step);
        assert!(gw.expire(t).is_empty(), "step {step}: nothing expires");
        gw.map(req(4001, HOST, 700), Requester::Client(HOST), false, t)
            .expect("map after the step");
        assert_eq!(gw.next_expiry(), Some(NOW + 600), "step {step}");
        // The journal line written after the step carries wall time.
        let text = std::fs::read_to_string(&path).expect("lease file");
        let wall = |ours: u64| ours.saturating_add_signed(step);
        assert!(
            text.contains(&format!("TCP:4001:10.77.0.2:4001:{}:", wall(NOW + 700))),
            "step {step}: {text}"
        );
        // A full rewrite (compaction, shutdown) too, for the mapping made before it.
        gw.persist_now(NOW);
        gw.journal.wait();
        let text = std::fs::read_to_string(&path).expect("lease file");
        assert!(
            text.contains(&format!("TCP:4000:10.77.0.2:4000:{}:", wall(NOW + 600))),
            "step {step}: {text}"
        );
        // The first mapping expires at its own time, not a year early or late.
        assert!(gw.expire(NOW + 599).is_empty(), "step {step}");
        drop(gw);
        // Restart (a crash) 50 s after the step, on the stepped wall clock: each
        // mapping has the lease it had left, 450 s and 550 s.
        let restart = wall(t + 50);
        let (mut gw, report) = Gateway::start(
            settings(Some(path.clone())),
            Box::new(fw.clone()),
            Some(EXT),
            restart,
        )
        .expect("restart");
        assert_eq!(report.restored, 2, "step {step}");
        assert_eq!(gw.next_expiry(), Some(restart + 450), "step {step}");
        assert_eq!(gw.expire(restart + 450).len(), 1, "step {step}");
        assert_eq!(gw.next_expiry(), Some(restart + 550), "step {step}");
    }
}

#[test]
fn a_mass_expiry_is_taken_in_bounded_steps_with_requests_served_between() {
    let mut s = settings(None);
    s.limits.max_per_client = 5000;
    s.limits.max_total = 5000;
    let (mut gw, fw) = gateway(s);
    for i in 0..3000u16 {
        gw.map(
            req(10_000 + i, HOST, 60),
            Requester::Client(HOST),
            false,
            NOW,
        )
        .expect("map");
    }
    let due = NOW + 60;
    let before = fw.0.borrow().transactions();
    let first = gw.expire(due);
    assert_eq!(first.len(), EXPIRE_STEP, "one bounded step");
    assert_eq!(fw.0.borrow().transactions() - before, 1);
    assert!(gw.next_expiry().is_some_and(|t| t <= due), "more still due");
    // A request in the middle is served (taking one more step on its way).
    let mut r = req(9000, HOST2, 600);
    r.expiry = Some(due + 600);
    gw.map(r, Requester::Client(HOST2), false, due)
        .expect("served during the expiry");
    let mut steps = 2;
    while gw.next_expiry().is_some_and(|t| t <= due) {
        let n = gw.expire(due).len();
        assert!(n > 0 && n <= EXPIRE_STEP, "{n}");
        steps += 1;
    }
    assert_eq!(steps, 3000usize.div_ceil(EXPIRE_STEP));
    assert_eq!(gw.table().len(), 1);
    assert_eq!(fw.ports(), vec![(6, 9000, HOST2, 9000)]);
}

// ---- the core's timers: poll_timeout / handle_timeout / poll_transmit ----

/// Drives `gw` on a simulated clock from `from` to `until`, calling
/// `handle_timeout` at each deadline it asks for; returns the announcements sent
/// and when.
fn drive(gw: &mut Gateway, from: Duration, until: Duration) -> Vec<(Duration, Vec<u8>)> {
    let mut sent = Vec::new();
    let mut now = from;
    while let Some(t) = gw.poll_timeout() {
        if t > until {
            break;
        }
        now = now.max(t);
        gw.handle_timeout(now);
        sent.extend(std::iter::from_fn(|| gw.poll_transmit()).map(|m| (now - from, m)));
    }
    sent
}

#[test]
fn the_core_announces_at_start_and_on_address_change_on_its_own_timer() {
    let mut s = settings(None);
    s.timers.announce = true;
    let (mut gw, _) = gateway(s);
    let start = Duration::from_secs(NOW);
    assert_eq!(gw.poll_timeout(), Some(start), "first burst due at start");
    let sent = drive(&mut gw, start, start + Duration::from_secs(600));
    // Ten rounds of a NAT-PMP announcement and a PCP ANNOUNCE, 250 ms apart doubling.
    assert_eq!(sent.len(), 20);
    assert_eq!(sent[0].1, [0, 128, 0, 0, 0, 0, 0, 0, 203, 0, 113, 1]);
    assert_eq!((sent[1].1.len(), sent[1].1[1]), (24, 0x80));
    assert_eq!(sent[2].0, Duration::from_millis(250));
    assert_eq!(sent[19].0 - sent[17].0, Duration::from_millis(250 << 8));
    assert_eq!(gw.poll_timeout(), None, "nothing left to do");
    // An address change starts a new burst carrying the new address and epoch 0.
    let new = Ipv4Addr::new(198, 51, 100, 7);
    assert!(gw.set_external(Some(new), NOW + 1000));
    let at = Duration::from_secs(NOW + 1000);
    let sent = drive(&mut gw, at, at + Duration::from_secs(600));
    assert_eq!(sent.len(), 20);
    assert_eq!(sent[0].1, [0, 128, 0, 0, 0, 0, 0, 0, 198, 51, 100, 7]);
    // Without NAT-PMP/PCP, no burst.
    let (mut quiet, _) = gateway(settings(None));
    assert!(quiet.set_external(Some(new), NOW));
    assert_eq!(quiet.poll_timeout(), None);
}

#[test]
fn the_core_expires_flushes_and_cleans_on_its_own_timers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("leases");
    let mut s = settings(Some(path.clone()));
    s.timers.clean_interval = 100;
    s.timers.clean_threshold = 0;
    let (mut gw, fw) = gateway(s);
    gw.map(req(4000, HOST, 1000), Requester::Client(HOST), false, NOW)
        .expect("map");
    gw.map(req(4001, HOST, 50), Requester::Client(HOST), false, NOW)
        .expect("map");
    let start = Duration::from_secs(NOW);
    // The journal append is synced within PERSIST_DELAY; 4001 expires at +50.
    let first = gw.poll_timeout().expect("a deadline");
    assert_eq!(first, start + PERSIST_DELAY);
    drive(&mut gw, start, start + Duration::from_secs(60));
    assert_eq!(fw.ports(), vec![(6, 4000, HOST, 4000)]);
    assert!(
        !std::fs::read_to_string(&path)
            .expect("file")
            .contains("4001"),
        "expiry rewrote the file within the delay"
    );
    // Idle cleaning: counters noted at +100, and 4000 (no traffic) removed at +200.
    drive(&mut gw, start, start + Duration::from_secs(150));
    assert_eq!(gw.table().len(), 1);
    drive(&mut gw, start, start + Duration::from_secs(200));
    assert!(gw.table().is_empty());
    assert!(fw.ports().is_empty());
}

// ---- the one change path for NAT-PMP and PCP: map_internal ----

fn internal(port: u16, nonce: Option<[u8; 12]>, remote: Option<Ipv4Addr>) -> InternalMap {
    InternalMap {
        protocol: Protocol::Udp,
        internal_client: HOST,
        internal_port: port,
        suggested_port: 0,
        remote_host: remote,
        peer: false,
        nonce,
        exact: false,
        description: "t".into(),
        expiry: Some(NOW + 600),
        by: Requester::Client(HOST),
    }
}

#[test]
fn map_internal_renews_checks_the_nonce_and_replaces_on_filter_change() {
    let (mut gw, fw) = gateway(settings(None));
    let (n1, n2) = (Some([1; 12]), Some([2; 12]));
    let peer = Ipv4Addr::new(198, 51, 100, 9);
    let first = gw.map_internal(internal(5000, n1, None), NOW).expect("map");
    assert_eq!(first.mapping.external_port, 5000);
    // A renewal with another nonce is refused, whatever port it suggests.
    let mut other = internal(5000, n2, None);
    other.suggested_port = 7000;
    assert!(matches!(
        gw.map_internal(other, NOW + 1),
        Err(GatewayError::Table(TableError::NonceMismatch))
    ));
    // A renewal keeps its external port even when another is suggested.
    let mut renew = internal(5000, n1, None);
    renew.suggested_port = 7000;
    assert_eq!(
        gw.map_internal(renew, NOW + 2)
            .expect("renew")
            .mapping
            .external_port,
        5000
    );
    // Another FILTER replaces the mapping: one element, restricted to the peer.
    let filtered = gw
        .map_internal(internal(5000, n1, Some(peer)), NOW + 3)
        .expect("filter");
    assert_eq!(filtered.mapping.remote_host, Some(peer));
    assert_eq!(gw.table().len(), 1);
    assert_eq!(fw.ports().len(), 1);
    // PEER never takes over what another protocol made.
    gw.map_internal(internal(6000, None, None), NOW)
        .expect("nat-pmp");
    let mut p = internal(6000, n1, Some(peer));
    p.peer = true;
    assert!(
        gw.map_internal(p.clone(), NOW + 4).is_ok(),
        "no PEER mapping for that peer yet: a new one"
    );
    let mut q = p;
    q.nonce = n2;
    assert!(matches!(
        gw.map_internal(q, NOW + 5),
        Err(GatewayError::Table(TableError::NonceMismatch))
    ));
}

#[test]
fn map_internal_turns_every_port_denied_into_a_refusal() {
    let mut s = settings(None);
    s.rules = RuleSet::new();
    if let Ok(r) = Rule::parse("deny 0-65535 0.0.0.0/0 0-65535") {
        s.rules.push(r);
    }
    let (mut gw, _) = gateway(s);
    assert!(matches!(
        gw.map_internal(internal(5000, None, None), NOW),
        Err(GatewayError::Table(TableError::Denied))
    ));
}

#[test]
fn map_internal_retries_at_a_free_port_when_the_renewed_one_conflicts() {
    let (mut gw, _) = gateway(settings(None));
    let peer = Ipv4Addr::new(198, 51, 100, 9);
    // PCP made a filtered mapping at 5000; NAT-PMP, which has no FILTER, renews the
    // client's port: the unfiltered mapping cannot share 5000, so a free port is chosen.
    gw.map_internal(internal(5000, Some([1; 12]), Some(peer)), NOW)
        .expect("pcp");
    let out = gw
        .map_internal(internal(5000, None, None), NOW + 1)
        .expect("nat-pmp retried");
    assert_ne!(out.mapping.external_port, 5000);
    assert_eq!(out.mapping.remote_host, None);
}

/// The core without a file system: the lease journal in a MemoryStore, replayed by a
/// restart on the same store into the same table.
#[test]
fn the_journal_in_a_memory_store_restores_the_table() {
    let store = lease::MemoryStore::default();
    let boxed = || Some(Box::new(store.clone()) as Box<dyn lease::LeaseStore>);
    let fw = SharedMem::default();
    let start = |now| {
        Gateway::start_with(
            settings(None),
            Box::new(fw.clone()),
            boxed(),
            Some(EXT),
            now,
        )
        .expect("start")
    };
    let (mut gw, _) = start(NOW);
    for port in [4000, 4001, 4002] {
        gw.map(req(port, HOST, 600), Requester::Client(HOST), false, NOW)
            .expect("map");
    }
    let k = gw
        .table()
        .iter()
        .find(|m| m.external_port == 4001)
        .map(Mapping::key);
    gw.unmap(k.expect("4001"), None, Requester::Client(HOST), NOW + 1)
        .expect("unmap");
    assert_eq!(store.0.borrow().replaces, 1, "only start-up rewrote it");
    assert_eq!(store.0.borrow().appends, 4);
    let before: Vec<Mapping> = gw.table().iter().cloned().collect();
    drop(gw);
    let (gw, report) = start(NOW + 2);
    assert_eq!(report.restored, 2);
    let ports: Vec<u16> = gw.table().iter().map(|m| m.external_port).collect();
    assert_eq!(ports.len(), 2);
    for m in &before {
        let again = gw
            .table()
            .iter()
            .find(|x| x.key() == m.key())
            .expect("restored");
        assert_eq!(
            (again.internal_client, again.expiry),
            (m.internal_client, m.expiry)
        );
    }
    assert_eq!(
        fw.ports().len(),
        2,
        "the kernel reconciled with the journal"
    );
}

/// A large table is compacted in steps of COMPACT_STEP mappings, one per flush, due at
/// once meanwhile; a change made between two steps is in the rewritten text, which
/// replays to exactly the table.
#[test]
fn a_large_compaction_is_gathered_in_steps_with_changes_between() {
    let store = lease::MemoryStore::default();
    let mut s = settings(None);
    s.limits = TableLimits {
        secure_mode: true,
        max_per_client: 10_000,
        max_total: 10_000,
    };
    let (mut gw, _) = Gateway::start_with(
        s,
        Box::new(SharedMem::default()),
        Some(Box::new(store.clone()) as Box<dyn lease::LeaseStore>),
        Some(EXT),
        NOW,
    )
    .expect("start");
    let n = 2 * COMPACT_STEP + 100;
    for i in 0..n {
        let port = 10_000 + u16::try_from(i).expect("port");
        gw.map(req(port, HOST, 600), Requester::Client(HOST), false, NOW)
            .expect("map");
    }
    // The fill itself outgrew the journal: let that compaction end first.
    while gw.journal.is_compacting() {
        gw.handle_timeout(Duration::from_secs(NOW));
    }
    let replaces = store.0.borrow().replaces;
    let live = gw.table().len();
    gw.journal.mark_dirty(NOW, live + 1, live);
    let due = gw.flush_due().expect("due");
    gw.handle_timeout(Duration::from_secs(due));
    assert!(gw.journal.is_compacting(), "the first step only");
    assert_eq!(gw.flush_due(), Some(0), "the next step is due at once");
    assert_eq!(store.0.borrow().replaces, replaces);
    // Between steps: one mapping deleted (already formatted), one added at the end.
    let first = gw.table().iter().next().map(Mapping::key).expect("first");
    gw.unmap(first, None, Requester::Client(HOST), due)
        .expect("unmap");
    gw.map(req(30_000, HOST, 600), Requester::Client(HOST), false, due)
        .expect("map");
    let mut steps = 1;
    while gw.journal.is_compacting() {
        gw.handle_timeout(Duration::from_secs(due));
        steps += 1;
    }
    assert_eq!(steps, 3);
    assert_eq!(store.0.borrow().replaces, replaces + 1);
    let f = lease::parse(&store.text(), due);
    let mut from_file: Vec<u16> = f.entries.iter().map(|e| e.external_port).collect();
    let mut in_table: Vec<u16> = gw.table().iter().map(|m| m.external_port).collect();
    from_file.sort_unstable();
    in_table.sort_unstable();
    assert_eq!(from_file, in_table);
    assert_eq!(in_table.len(), n);
    assert!(!in_table.contains(&first.external_port) && in_table.contains(&30_000));
}
