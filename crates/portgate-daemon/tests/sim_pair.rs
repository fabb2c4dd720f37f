//! The client/daemon test pair: portgate-client's sans-IO NAT-PMP, PCP and SOAP cores
//! against portgated's core, over a simulated clock, an in-memory network and the
//! in-memory kernel (`sim`). Whole lifecycles (map, renew, expiry, restart and epoch
//! reset, announcements, restart from the lease journal, table loss, UPnP actions)
//! each run in milliseconds, without root; the lab e2e tests prove the same on real
//! sockets and nftables.

mod sim;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use portgate_client::announce::parse_announcement;
use portgate_client::mapper::{announcement_is_news, epoch_reset};
use portgate_client::natpmp::{mapping_from, NatPmpConfig, NatPmpMapping, NatPmpTransaction};
use portgate_client::pcp::{MapParams, PcpConfig, PcpMapping, PcpTransaction, PeerParams};
use portgate_client::upnp::actions::{self, PortMappingRequest};
use portgate_client::{ClientError, Protocol};
use portgate_proto::{natpmp, pcp};
use sim::core::Entry;
use sim::{host, sock, World, EXT, LAN_GW, WANIP2};

const TCP: u8 = 6;
const UDP: u8 = 17;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// NAT-PMP map (or unmap, lifetime 0) from LAN host `n`.
fn natpmp_map(
    w: &mut World,
    n: u8,
    proto: Protocol,
    port: u16,
    lifetime: u32,
) -> Result<NatPmpMapping, ClientError> {
    let mut tx = NatPmpTransaction::map(
        LAN_GW,
        proto.natpmp(),
        port,
        port,
        lifetime,
        NatPmpConfig::default(),
    );
    let resp = w.run(sock(n, 40_000), &mut tx)?;
    mapping_from(&resp)
}

/// PCP MAP from LAN host `n` with `params`.
fn pcp_map(w: &mut World, n: u8, params: MapParams) -> Result<PcpMapping, ClientError> {
    let mut tx = PcpTransaction::map(
        IpAddr::V4(LAN_GW),
        IpAddr::V4(host(n)),
        params,
        PcpConfig::default(),
    );
    w.run(sock(n, 40_001), &mut tx)
}

fn upnp_request(n: u8, port: u16, lease: u32) -> PortMappingRequest {
    PortMappingRequest {
        remote_host: None,
        external_port: port,
        protocol: Protocol::Tcp,
        internal_port: port,
        internal_client: IpAddr::V4(host(n)),
        enabled: true,
        description: format!("sim host {n}"),
        lease,
    }
}

/// The PCP result code of a refusal.
fn pcp_code(err: &ClientError) -> Option<pcp::ResultCode> {
    match err {
        ClientError::Pcp { code, .. } => Some(*code),
        _ => None,
    }
}

/// The kernel's element for external port `port` of `proto`.
fn kernel_entry(w: &World, proto: u8, port: u16) -> Option<Entry> {
    w.kernel
        .entries()
        .into_iter()
        .find(|e| e.proto == proto && e.external_port == port)
}

#[test]
fn natpmp_map_renew_and_expire() {
    let mut w = World::new(true);
    let m = natpmp_map(&mut w, 1, Protocol::Udp, 4000, 120).expect("map");
    assert_eq!((m.external_port, m.lifetime), (4000, 120));
    let mapped_at = w.t;
    // One round trip on a 1 ms network.
    assert!(mapped_at <= Duration::from_millis(3), "{mapped_at:?}");
    let e = kernel_entry(&w, UDP, 4000).expect("in the kernel");
    assert_eq!(e.internal, "10.77.0.2:4000".parse().expect("addr"));
    assert_eq!(e.remote, None);
    w.assert_agree();

    // Renew at half the lifetime, as a client does: same port, a fresh lease.
    w.advance(secs(60));
    let r = natpmp_map(&mut w, 1, Protocol::Udp, 4000, 120).expect("renew");
    assert_eq!((r.external_port, r.lifetime), (4000, 120));
    assert!(r.epoch >= 60, "epoch {} after 60 s", r.epoch);
    let renewed = kernel_entry(&w, UDP, 4000).expect("still in the kernel");
    let ends = renewed.expires.expect("a timeout");
    assert!(
        ends >= w.t + secs(119) && ends <= w.t + secs(121),
        "{ends:?} at {:?}",
        w.t
    );
    w.assert_agree();

    // No more renewals: there a second before the end, gone at the end.
    let end = w.table()[0].expires.expect("a lease");
    w.advance_to(end - secs(1));
    assert!(kernel_entry(&w, UDP, 4000).is_some());
    assert_eq!(w.table().len(), 1);
    w.advance_to(end);
    assert!(w.table().is_empty());
    assert!(kernel_entry(&w, UDP, 4000).is_none());
    // The expired line stays in the file (harmless: dropped when read) until the
    // rewrite, within the persist delay.
    assert!(w.core().lease_file_lines() >= Some(1));
    w.advance(secs(5));
    assert_eq!(w.core().lease_file_lines(), Some(0));
    let t = w.t;
    assert_eq!(w.core().journal(t), Some(Vec::new()));

    // Unmapping something already gone is a success (RFC 6886 §3.4).
    let d = natpmp_map(&mut w, 1, Protocol::Udp, 4000, 0).expect("unmap");
    assert_eq!((d.external_port, d.lifetime), (0, 0));
}

#[test]
fn lost_requests_are_sent_again_on_the_client_schedule() {
    let mut w = World::new(false);
    w.lose_to_gateway = 2;
    let m = natpmp_map(&mut w, 1, Protocol::Tcp, 5000, 3600).expect("map");
    assert_eq!(m.external_port, 5000);
    // RFC 6886 §3.1: sent at 0, 250 ms and 750 ms; the third reaches the gateway.
    assert!(
        w.t >= Duration::from_millis(750) && w.t < Duration::from_millis(760),
        "answered at {:?}",
        w.t
    );
    w.assert_agree();

    // A gateway that is down: the client gives up after its whole schedule (9 sends,
    // 250 ms doubling: about 64 s), and nothing was mapped.
    w.crash();
    let start = w.t;
    let err = natpmp_map(&mut w, 2, Protocol::Tcp, 5001, 3600).expect_err("no gateway");
    assert!(matches!(err, ClientError::Timeout(_)), "{err:?}");
    let waited = w.t - start;
    assert!(
        waited >= secs(63) && waited <= secs(128),
        "gave up after {waited:?}"
    );
}

#[test]
fn pcp_nonce_renew_peer_and_delete() {
    let mut w = World::new(true);
    let params = MapParams::new(TCP, 6000, 6000, 600);
    let m = pcp_map(&mut w, 1, params.clone()).expect("map");
    assert_eq!((m.external_port, m.lifetime), (6000, 600));
    assert_eq!(m.external_address.to_canonical(), IpAddr::V4(EXT));
    w.assert_agree();

    // Someone else's nonce may not renew (RFC 6887 §11.3): NOT_AUTHORIZED, and the
    // mapping keeps its lease.
    w.advance(secs(100));
    let mut other = params.clone();
    other.nonce = [0x5a; 12];
    let err = pcp_map(&mut w, 1, other.clone()).expect_err("wrong nonce");
    assert_eq!(
        pcp_code(&err),
        Some(pcp::ResultCode::NotAuthorized),
        "{err:?}"
    );
    let before = kernel_entry(&w, TCP, 6000)
        .expect("kept")
        .expires
        .expect("lease");
    assert!(before <= secs(601));

    // The right nonce renews at the same port with a fresh lease.
    let r = pcp_map(&mut w, 1, params.clone()).expect("renew");
    assert_eq!((r.external_port, r.lifetime), (6000, 600));
    let after = kernel_entry(&w, TCP, 6000)
        .expect("renewed")
        .expires
        .expect("lease");
    assert!(after >= w.t + secs(599), "{after:?}");
    w.assert_agree();

    // PEER: a mapping restricted to one remote peer (RFC 6887 §12).
    let peer: SocketAddr = "198.51.100.9:7777".parse().expect("addr");
    let mut tx = PcpTransaction::peer(
        IpAddr::V4(LAN_GW),
        IpAddr::V4(host(1)),
        PeerParams::new(UDP, 6100, peer, 300),
        PcpConfig::default(),
    );
    let p = w.run(sock(1, 40_002), &mut tx).expect("peer");
    assert!(p.lifetime > 0 && p.lifetime <= 300, "{p:?}");
    let pe = kernel_entry(&w, UDP, p.external_port).expect("peer mapping in the kernel");
    assert_eq!(pe.remote, Some("198.51.100.9".parse().expect("ip")));
    assert_eq!(pe.internal, "10.77.0.2:6100".parse().expect("addr"));
    w.assert_agree();

    // Deleting with another nonce is refused; with ours it goes, kernel and table.
    other.lifetime = 0;
    let err = pcp_map(&mut w, 1, other).expect_err("wrong nonce delete");
    assert_eq!(
        pcp_code(&err),
        Some(pcp::ResultCode::NotAuthorized),
        "{err:?}"
    );
    assert!(kernel_entry(&w, TCP, 6000).is_some());
    let mut del = params;
    del.lifetime = 0;
    let d = pcp_map(&mut w, 1, del).expect("delete");
    assert_eq!(d.lifetime, 0);
    assert!(kernel_entry(&w, TCP, 6000).is_none());
    assert_eq!(w.table().len(), 1, "the PEER mapping stays");
    w.assert_agree();
}

#[test]
fn quota_per_client_over_natpmp_pcp_and_upnp() {
    let mut w = World::new(false);
    for port in [7000, 7001] {
        natpmp_map(&mut w, 3, Protocol::Tcp, port, 600).expect("natpmp");
    }
    pcp_map(&mut w, 3, MapParams::new(UDP, 7002, 7002, 600)).expect("pcp");
    w.soap(
        sock(3, 50_000),
        &actions::add_port_mapping(WANIP2, &upnp_request(3, 7003, 600)),
    )
    .expect("upnp");
    // The fifth, by any protocol, is over the quota of four.
    let err = natpmp_map(&mut w, 3, Protocol::Tcp, 7004, 600).expect_err("quota");
    assert!(
        matches!(err, ClientError::NatPmp(natpmp::ResultCode::OutOfResources)),
        "{err:?}"
    );
    let err = pcp_map(&mut w, 3, MapParams::new(TCP, 7005, 7005, 600)).expect_err("quota");
    assert_eq!(
        pcp_code(&err),
        Some(pcp::ResultCode::UserExceededQuota),
        "{err:?}"
    );
    let err = w
        .soap(
            sock(3, 50_001),
            &actions::add_port_mapping(WANIP2, &upnp_request(3, 7006, 600)),
        )
        .expect_err("quota");
    assert_eq!(err.upnp_code(), Some(728), "{err:?}");
    // Another host is not affected; renewing a held mapping is not a new one.
    natpmp_map(&mut w, 4, Protocol::Tcp, 7100, 600).expect("another host");
    natpmp_map(&mut w, 3, Protocol::Tcp, 7000, 600).expect("renewal at the quota");
    assert_eq!(w.core().count_for(host(3)), 4);
    assert_eq!(w.kernel.entries().len(), 5);
    w.assert_agree();
}

/// Restart without a lease file: the table starts empty, the gateway announces a new
/// epoch, the client sees the reset (in the announcement and in the next answer's
/// epoch) and maps again.
#[test]
fn restart_epoch_reset_and_announcements() {
    let mut w = World::new(false);
    // The start-up burst: the first at once.
    w.advance(secs(130));
    let burst = w.take_announcements();
    let natpmp_times: Vec<Duration> = burst
        .iter()
        .filter(|(_, b)| b.first() == Some(&0))
        .map(|(t, _)| *t)
        .collect();
    // RFC 6886 §3.2.1: ten, 250 ms apart doubling (the last about 128 s in).
    assert_eq!(natpmp_times.len(), 10, "{natpmp_times:?}");
    assert!(natpmp_times[0] <= Duration::from_millis(2));
    let gap1 = natpmp_times[1] - natpmp_times[0];
    let gap2 = natpmp_times[2] - natpmp_times[1];
    assert_eq!(
        (gap1, gap2),
        (Duration::from_millis(250), Duration::from_millis(500))
    );
    assert_eq!(burst.len(), 20, "each with a PCP ANNOUNCE");

    let m = natpmp_map(&mut w, 1, Protocol::Tcp, 8000, 7200).expect("map");
    let (seen_epoch, seen_at) = (m.epoch, w.now());
    assert!(seen_epoch >= 130);
    w.advance(secs(500));

    // Reboot: daemon and kernel state gone.
    w.power_cycle();
    w.advance(secs(20));
    let restored = w.boot();
    assert_eq!(restored.restored, 0);
    assert!(w.table().is_empty() && w.kernel.entries().is_empty());
    w.advance(Duration::from_millis(10));
    let ann = w.take_announcements();
    assert_eq!(ann.len(), 2, "NAT-PMP and PCP announcements at once");
    let now = w.now();
    for (_, bytes) in &ann {
        let a = parse_announcement(bytes).expect("an announcement");
        assert_eq!(a.epoch, 0);
        assert!(
            announcement_is_news(&a, Some((seen_epoch, seen_at)), Some(IpAddr::V4(EXT)), now),
            "{a:?} must tell the client its gateway lost state"
        );
    }
    // The client maps again; the answer's epoch shows the reset too.
    let again = natpmp_map(&mut w, 1, Protocol::Tcp, 8000, 7200).expect("map again");
    assert_eq!(again.external_port, 8000);
    assert!(epoch_reset(seen_epoch, seen_at, again.epoch, w.now()));
    assert!(kernel_entry(&w, TCP, 8000).is_some());
    w.assert_agree();

    // Without a restart the epoch does not look reset.
    let (e2, at2) = (again.epoch, w.now());
    w.advance(secs(300));
    let later = natpmp_map(&mut w, 1, Protocol::Tcp, 8000, 7200).expect("renew");
    assert!(!epoch_reset(e2, at2, later.epoch, w.now()));

    // A new external address: a new epoch, announced with the address.
    let rest_of_burst = w.take_announcements();
    assert_eq!(rest_of_burst.len(), 18, "the restart's burst went on");
    let new_ext = "203.0.113.99".parse().expect("ip");
    let t = w.t;
    assert!(w.core().set_external(Some(new_ext), t));
    w.advance(Duration::from_millis(10));
    let ann = w.take_announcements();
    let a = ann
        .iter()
        .find_map(|(_, b)| parse_announcement(b).filter(|a| a.external.is_some()))
        .expect("a NAT-PMP announcement");
    assert_eq!(a.external, Some(new_ext));
    assert!(announcement_is_news(
        &a,
        Some((later.epoch, w.now())),
        Some(IpAddr::V4(EXT)),
        w.now()
    ));
}

/// Restart from the lease journal after a crash (nothing written at shutdown) and a
/// reboot (the kernel lost everything): every protocol's mappings come back, with
/// their leases, in the table and the kernel; one that ran out while down does not.
#[test]
fn restart_from_the_journal_after_a_crash_and_a_reboot() {
    let mut w = World::new(true);
    natpmp_map(&mut w, 1, Protocol::Udp, 9000, 3600).expect("natpmp");
    let params = MapParams::new(TCP, 9001, 9001, 3600);
    pcp_map(&mut w, 2, params.clone()).expect("pcp");
    w.soap(
        sock(3, 50_000),
        &actions::add_port_mapping(WANIP2, &upnp_request(3, 9002, 3600)),
    )
    .expect("upnp");
    natpmp_map(&mut w, 4, Protocol::Tcp, 9003, 60).expect("short lease");
    let before = w.table();
    assert_eq!(before.len(), 4);
    let t = w.t;
    assert_eq!(
        w.core().journal(t),
        Some(before.clone()),
        "journal == table"
    );

    // kill -9 at 10 s, then the power goes: the kernel is empty at boot, 100 s later.
    w.advance(secs(10));
    w.power_cycle();
    w.advance(secs(100));
    let restored = w.boot();
    assert_eq!(
        (restored.restored, restored.expired),
        (3, 1),
        "{restored:?}"
    );
    let after = w.table();
    let expect: Vec<Entry> = before
        .iter()
        .copied()
        .filter(|e| e.external_port != 9003)
        .collect();
    assert_eq!(after, expect, "same mappings, same leases, same origins");
    w.assert_agree();

    // The PCP mapping still belongs to its nonce.
    let mut other = params.clone();
    other.nonce = [7; 12];
    let err = pcp_map(&mut w, 2, other).expect_err("another nonce");
    assert_eq!(
        pcp_code(&err),
        Some(pcp::ResultCode::NotAuthorized),
        "{err:?}"
    );
    let r = pcp_map(&mut w, 2, params).expect("renew with its nonce");
    assert_eq!(r.external_port, 9001);

    // A clean stop keeping the kernel's table, and a start on it: adopted, nothing lost.
    let core = w.core.take().expect("up");
    core.shutdown(true);
    let kept = w.kernel.entries();
    assert_eq!(kept.len(), 3);
    let restored = w.boot();
    assert_eq!(restored.restored, 3);
    let targets = |v: &[Entry]| v.iter().map(Entry::target).collect::<Vec<_>>();
    assert_eq!(targets(&w.kernel.entries()), targets(&kept));
    w.assert_agree();
}

/// Someone deletes our nftables table. Heard as a deletion notification, the watch
/// restores it 100 ms later; unheard, the next request finds it missing and restores
/// everything, not only its own mapping.
#[test]
fn table_loss_is_noticed_and_restored() {
    let mut w = World::new(true);
    natpmp_map(&mut w, 1, Protocol::Tcp, 10_000, 3600).expect("a");
    pcp_map(&mut w, 2, MapParams::new(UDP, 10_001, 10_001, 3600)).expect("b");
    w.soap(
        sock(3, 50_000),
        &actions::add_port_mapping(WANIP2, &upnp_request(3, 10_002, 3600)),
    )
    .expect("c");
    let full = w.kernel.entries();
    assert_eq!(full.len(), 3);

    w.advance(secs(30));
    w.kernel.drop_table();
    assert!(!w.kernel.has_table());
    let t = w.t;
    w.core().nft_deleted(t);
    w.advance(Duration::from_millis(99));
    assert!(
        w.kernel.entries().is_empty(),
        "the check waits for the burst to settle"
    );
    w.advance(Duration::from_millis(1));
    assert!(w.kernel.has_table());
    assert_eq!(w.kernel.entries().len(), 3);
    w.assert_agree();

    // Unheard: the next change hits the missing table.
    w.advance(secs(30));
    w.kernel.drop_table();
    natpmp_map(&mut w, 4, Protocol::Tcp, 10_003, 3600).expect("a request recovers the table");
    assert!(w.kernel.has_table());
    let mut targets: Vec<u16> = w.kernel.entries().iter().map(|e| e.external_port).collect();
    targets.sort_unstable();
    assert_eq!(targets, vec![10_000, 10_001, 10_002, 10_003]);
    w.advance(Duration::from_millis(1));
    w.assert_agree();
}

#[test]
fn upnp_add_get_delete_through_soap() {
    let mut w = World::new(true);
    let me = sock(5, 50_000);
    w.soap(
        me,
        &actions::add_port_mapping(WANIP2, &upnp_request(5, 11_000, 3600)),
    )
    .expect("add");
    let e = kernel_entry(&w, TCP, 11_000).expect("in the kernel");
    assert_eq!(e.internal, "10.77.0.6:11000".parse().expect("addr"));
    w.assert_agree();

    w.advance(secs(100));
    let got = w
        .soap(
            me,
            &actions::get_specific_port_mapping_entry(WANIP2, None, 11_000, Protocol::Tcp),
        )
        .expect("get");
    assert_eq!(got.internal_client, "10.77.0.6");
    assert_eq!(got.internal_port, 11_000);
    assert_eq!(got.description, "sim host 5");
    assert!(
        (3499..=3500).contains(&got.lease_time),
        "lease left {}",
        got.lease_time
    );

    // The port is taken: AddPortMapping by another host conflicts (718),
    // AddAnyPortMapping gets another port.
    let other = sock(6, 50_000);
    let err = w
        .soap(
            other,
            &actions::add_port_mapping(WANIP2, &upnp_request(6, 11_000, 3600)),
        )
        .expect_err("conflict");
    assert_eq!(err.upnp_code(), Some(718), "{err:?}");
    let port = w
        .soap(
            other,
            &actions::add_any_port_mapping(WANIP2, &upnp_request(6, 11_000, 3600)),
        )
        .expect("any port");
    assert_ne!(port, 11_000);
    assert_eq!(
        kernel_entry(&w, TCP, port).map(|e| e.internal),
        Some("10.77.0.7:11000".parse().expect("addr"))
    );

    // Secure mode: another host may not delete it (606 on IGD:2).
    let err = w
        .soap(
            other,
            &actions::delete_port_mapping(WANIP2, None, 11_000, Protocol::Tcp),
        )
        .expect_err("not the owner");
    assert_eq!(err.upnp_code(), Some(606), "{err:?}");
    assert!(kernel_entry(&w, TCP, 11_000).is_some());
    w.soap(
        me,
        &actions::delete_port_mapping(WANIP2, None, 11_000, Protocol::Tcp),
    )
    .expect("delete");
    assert!(kernel_entry(&w, TCP, 11_000).is_none());
    let err = w
        .soap(
            me,
            &actions::get_specific_port_mapping_entry(WANIP2, None, 11_000, Protocol::Tcp),
        )
        .expect_err("gone");
    assert_eq!(err.upnp_code(), Some(714), "{err:?}");
    w.assert_agree();
    let t = w.t;
    assert_eq!(w.core().journal(t), Some(w.table()));

    // A UPnP lease runs out like the others.
    w.advance(secs(3600));
    assert!(w.table().is_empty() && w.kernel.entries().is_empty());
}

/// Two clients renewing on their own schedules for six simulated hours: the table,
/// the kernel and the journal agree all along.
#[test]
fn hours_of_renewals() {
    let mut w = World::new(true);
    let params: Vec<MapParams> = (0..3)
        .map(|i| MapParams::new(UDP, 12_000 + i, 12_000 + i, 600))
        .collect();
    let mut next_natpmp = Duration::ZERO;
    let mut next_pcp = Duration::ZERO;
    let day = secs(6 * 3600);
    let mut renewals = 0;
    while w.t < day {
        if w.t >= next_natpmp {
            let m = natpmp_map(&mut w, 1, Protocol::Tcp, 12_100, 120).expect("natpmp renew");
            assert_eq!(m.external_port, 12_100);
            next_natpmp = w.t + secs(u64::from(m.lifetime) / 2);
            renewals += 1;
        }
        if w.t >= next_pcp {
            for (i, p) in params.iter().enumerate() {
                let m = pcp_map(&mut w, 2, p.clone()).expect("pcp renew");
                assert_eq!(usize::from(m.external_port - 12_000), i);
            }
            next_pcp = w.t + secs(300);
            renewals += 3;
        }
        w.advance_to(next_natpmp.min(next_pcp));
        w.assert_agree();
    }
    assert!(renewals > 400, "{renewals}");
    let t = w.t;
    assert_eq!(w.core().journal(t), Some(w.table()));
}

/// SIGHUP with new rules and secure mode off, then idle cleaning: each removal reaches
/// the kernel and the journal.
#[test]
fn reload_and_idle_cleaning() {
    let mut w = World::new(true);
    for port in [13_000, 13_001, 13_003] {
        natpmp_map(&mut w, 1, Protocol::Tcp, port, 3600).expect("map");
    }
    w.soap(
        sock(2, 50_000),
        &actions::add_port_mapping(WANIP2, &upnp_request(2, 13_002, 3600)),
    )
    .expect("upnp");
    let owner_only = w
        .soap(
            sock(2, 50_001),
            &actions::delete_port_mapping(WANIP2, None, 13_000, Protocol::Tcp),
        )
        .expect_err("secure mode");
    assert_eq!(owner_only.upnp_code(), Some(606));

    // The new rules deny external port 13001 (first match wins).
    let mut cfg = w.cfg.clone();
    cfg.rules
        .insert(0, "deny 13001 0.0.0.0/0 0-65535".to_owned());
    cfg.secure_mode = false;
    let t = w.t;
    assert_eq!(w.core().reload(&cfg, t), Ok(1));
    assert!(kernel_entry(&w, TCP, 13_001).is_none());
    // Secure mode is off now for SOAP too: another host may delete.
    w.soap(
        sock(2, 50_002),
        &actions::delete_port_mapping(WANIP2, None, 13_000, Protocol::Tcp),
    )
    .expect("secure mode off after the reload");
    assert!(kernel_entry(&w, TCP, 13_000).is_none());
    w.assert_agree();
    let t = w.t;
    assert_eq!(w.core().journal(t), Some(w.table()));

    // Idle cleaning: the first step notes the counters, the next removes what saw no
    // new packet in between.
    let t = w.t;
    assert_eq!(w.core().clean_idle(1, t), 0);
    w.advance(secs(600));
    assert!(w.kernel.traffic(TCP, 13_002, 5));
    let t = w.t;
    assert_eq!(w.core().clean_idle(1, t), 1);
    let left: Vec<u16> = w.table().iter().map(|e| e.external_port).collect();
    assert_eq!(left, vec![13_002]);
    w.assert_agree();
    let t = w.t;
    assert_eq!(w.core().journal(t), Some(w.table()));
}

/// PCP FILTER (RFC 6887 §13.3) on a renewal: adding a remote-peer filter, then
/// removing it, moves the kernel's element between the restricted and the open key,
/// with nothing left behind.
#[test]
fn pcp_filter_change_on_renewal() {
    let mut w = World::new(true);
    let open = MapParams::new(UDP, 14_000, 14_000, 600);
    pcp_map(&mut w, 1, open.clone()).expect("map");
    let mut filtered = open.clone();
    filtered.filters.push(pcp::Filter {
        prefix_length: 128,
        remote_peer_port: 0,
        remote_peer_address: IpAddr::V4("198.51.100.20".parse().expect("ip")),
    });
    let m = pcp_map(&mut w, 1, filtered).expect("renew with a filter");
    assert_eq!(m.external_port, 14_000);
    let remotes: Vec<_> = w.kernel.entries().iter().map(|e| e.remote).collect();
    assert_eq!(remotes, vec![Some("198.51.100.20".parse().expect("ip"))]);
    w.assert_agree();
    pcp_map(&mut w, 1, open).expect("renew without");
    let remotes: Vec<_> = w.kernel.entries().iter().map(|e| e.remote).collect();
    assert_eq!(remotes, vec![None]);
    w.assert_agree();
    let t = w.t;
    assert_eq!(w.core().journal(t), Some(w.table()));
}
