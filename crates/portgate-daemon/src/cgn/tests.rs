use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::*;
use crate::table::{Origin, Protocol, Requester, TableLimits};

fn cfg(pool: &str, subs: &str) -> CgnConfig {
    let mut c = CgnConfig::default();
    assert!(c.set("cgn_mode", "yes").unwrap());
    assert!(c.set("cgn_external_pool", pool).unwrap());
    assert!(c.set("cgn_subscribers", subs).unwrap());
    c
}

fn sub(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 0)) + i)
}

#[test]
fn pairing_is_stable_across_instances_and_pool_order() {
    let a = Cgn::new(&cfg("192.0.2.0/28", "100.64.0.0/16")).unwrap();
    // Same pool written as a list in another order: the same pairing ("restart").
    let list: Vec<String> = (0..16).rev().map(|i| format!("192.0.2.{i}")).collect();
    let b = Cgn::new(&cfg(&list.join(", "), "100.64.0.0/16")).unwrap();
    assert_eq!(a.pool().len(), 16);
    for i in (0..65_536).step_by(97) {
        let p = a.pair(sub(i)).unwrap();
        assert_eq!(Some(p.clone()), b.pair(sub(i)));
        assert_eq!(Some(p), a.pair(sub(i)), "same answer twice");
    }
}

#[test]
fn pairing_is_balanced_for_any_run_of_subscribers() {
    let c = Cgn::new(&cfg("192.0.2.0/28, 198.51.100.7", "100.64.0.0/15")).unwrap();
    assert_eq!(c.pool().len(), 17);
    for (start, count) in [(0u32, 100_000u32), (12_345, 777), (5, 16)] {
        let mut per: HashMap<Ipv4Addr, u32> = HashMap::new();
        for i in start..start + count {
            *per.entry(c.pair(sub(i)).unwrap().external).or_default() += 1;
        }
        let (lo, hi) = (per.values().min().unwrap(), per.values().max().unwrap());
        assert!(hi - lo <= 1, "run {start}+{count}: {lo}..{hi} per address");
        assert_eq!(per.len(), 17.min(count as usize));
    }
}

#[test]
fn port_sets_are_disjoint_on_an_address_and_within_the_range() {
    let mut cf = cfg("192.0.2.0/30", "100.64.0.0/20");
    cf.set("cgn_port_range", "2000-65000").unwrap();
    let c = Cgn::new(&cf).unwrap();
    // 4 096 subscribers over 4 addresses: 1 024 per address, 61 ports each.
    assert_eq!(c.quota(), 61);
    let mut seen: HashMap<(Ipv4Addr, u16), u32> = HashMap::new();
    for i in 0..4096 {
        let p = c.pair(sub(i)).unwrap();
        assert_eq!(p.ports.len(), 61);
        assert!(*p.ports.start() >= 2000 && *p.ports.end() <= 65000, "{p:?}");
        for port in p.ports {
            if let Some(other) = seen.insert((p.external, port), i) {
                panic!("port {port} of {} given to {other} and {i}", p.external);
            }
        }
    }
    assert!(c.pair(sub(4096)).is_none(), "outside the prefix");
    assert!(c.pair(Ipv4Addr::new(10, 0, 0, 1)).is_none());
}

#[test]
fn configurations_that_cannot_hold_their_sets_are_refused() {
    assert!(Cgn::new(&CgnConfig {
        enabled: true,
        ..CgnConfig::default()
    })
    .is_err());
    // A /8 of subscribers on 2 addresses: 8 million per address, no port each.
    assert!(Cgn::new(&cfg("192.0.2.0/31", "10.0.0.0/8")).is_err());
    // A /17 on 2 addresses: 16 384 subscribers per address.
    let mut c = cfg("192.0.2.0/31", "100.64.0.0/17");
    assert_eq!(
        Cgn::new(&c).unwrap().quota(),
        3,
        "the most that fit by default"
    );
    c.set("cgn_port_quota", "3").unwrap();
    assert!(Cgn::new(&c).is_ok(), "16 384 x 3 ports fit 64 512");
    c.set("cgn_port_quota", "4").unwrap();
    assert!(Cgn::new(&c).is_err(), "16 384 x 4 do not");
    let mut c = CgnConfig::default();
    assert!(
        c.set("cgn_subscribers", "100.64.0.1/10").is_err(),
        "host bits"
    );
    assert!(c.set("cgn_port_range", "9-3").is_err());
    assert!(c.set("cgn_port_quota", "0").is_err());
    assert!(!c.set("cgn_nonsense", "1").unwrap());
}

fn req(client: Ipv4Addr, proto: Protocol, port: u16, iport: u16) -> NewMapping {
    NewMapping {
        external: None,
        protocol: proto,
        external_port: port,
        remote_host: None,
        internal_client: client,
        internal_port: iport,
        description: "t".into(),
        expiry: Some(1_000),
        origin: Origin::Pcp { nonce: [1; 12] },
    }
}

fn table() -> MappingTable {
    MappingTable::new(
        TableLimits {
            max_total: 1_000,
            ..TableLimits::default()
        },
        Default::default(),
    )
}

fn small() -> Cgn {
    let mut c = cfg("192.0.2.1, 192.0.2.2", "100.64.0.0/24");
    c.set("cgn_port_quota", "4").unwrap();
    Cgn::new(&c).unwrap()
}

#[test]
fn place_honours_the_suggestion_inside_the_set_and_searches_it_otherwise() {
    let c = small();
    let mut table = table();
    let s = sub(3); // second block on 192.0.2.2: ports 1028-1031
    let p = c.pair(s).unwrap();
    assert_eq!(p.external, Ipv4Addr::new(192, 0, 2, 2));
    assert_eq!(p.ports, 1028..=1031);
    let mut r = req(s, Protocol::Tcp, 1030, 80);
    c.place(&mut r, &table, true, 0).unwrap();
    assert_eq!((r.external, r.external_port), (Some(p.external), 1030));
    table.add(r, Requester::Trusted, 0).unwrap();
    // Outside the set: the nearest free port of the set.
    let mut r = req(s, Protocol::Tcp, 9999, 81);
    c.place(&mut r, &table, true, 0).unwrap();
    assert_eq!(r.external_port, 1031);
    table.add(r, Requester::Trusted, 0).unwrap();
    // The same internal port again keeps its port (a refresh), a new one moves.
    let mut r = req(s, Protocol::Tcp, 1030, 80);
    c.place(&mut r, &table, true, 0).unwrap();
    assert_eq!(r.external_port, 1030);
    let mut r = req(s, Protocol::Tcp, 1030, 82);
    c.place(&mut r, &table, true, 0).unwrap();
    assert_eq!(r.external_port, 1029);
    table.add(r, Requester::Trusted, 0).unwrap();
    // UDP has its own ports.
    let mut r = req(s, Protocol::Udp, 1030, 82);
    c.place(&mut r, &table, true, 0).unwrap();
    assert_eq!(r.external_port, 1030);
    // The same port number on the other address is another subscriber's.
    let other = sub(2); // 192.0.2.1, ports 1028-1031 too
    let mut r = req(other, Protocol::Tcp, 1030, 80);
    c.place(&mut r, &table, true, 0).unwrap();
    assert_eq!(
        (r.external, r.external_port),
        (Some(Ipv4Addr::new(192, 0, 2, 1)), 1030)
    );
    table.add(r, Requester::Trusted, 0).unwrap();
    assert_eq!(table.len(), 4);
}

#[test]
fn quota_is_the_port_set_and_exact_ports_outside_it_are_refused() {
    let c = small();
    let mut table = table();
    let s = sub(0);
    for iport in 0..4 {
        let mut r = req(s, Protocol::Udp, 1, 100 + iport);
        c.place(&mut r, &table, true, 0).unwrap();
        table.add(r, Requester::Trusted, 0).unwrap();
    }
    let mut r = req(s, Protocol::Udp, 1, 200);
    assert_eq!(
        c.place(&mut r, &table, true, 0),
        Err(TableError::QuotaExceeded {
            client: s,
            limit: 4
        })
    );
    // An expired mapping frees its port.
    let mut r = req(s, Protocol::Udp, 1, 200);
    c.place(&mut r, &table, true, 2_000).unwrap();
    assert!(c.pair(s).unwrap().ports.contains(&r.external_port));
    // PREFER_FAILURE (exact) outside the set.
    let mut r = req(s, Protocol::Tcp, 5000, 200);
    assert_eq!(
        c.place(&mut r, &table, false, 0),
        Err(TableError::OutsidePortSet {
            external: Ipv4Addr::new(192, 0, 2, 1)
        })
    );
    // Not a subscriber.
    let mut r = req(Ipv4Addr::new(10, 1, 1, 1), Protocol::Tcp, 5000, 200);
    assert_eq!(c.place(&mut r, &table, true, 0), Err(TableError::Denied));
}

#[test]
fn third_party_only_from_configured_proxies_for_subscribers() {
    let mut cf = cfg("192.0.2.1", "100.64.0.0/24");
    cf.set("cgn_thirdparty_from", "100.64.0.0/30, 10.9.9.9")
        .unwrap();
    let c = Cgn::new(&cf).unwrap();
    assert!(c.third_party_allowed(sub(1), sub(200)));
    assert!(c.third_party_allowed(Ipv4Addr::new(10, 9, 9, 9), sub(7)));
    assert!(!c.third_party_allowed(sub(4), sub(7)), "not a proxy");
    assert!(
        !c.third_party_allowed(sub(1), Ipv4Addr::new(10, 0, 0, 1)),
        "not a subscriber"
    );
    let none = Cgn::new(&cfg("192.0.2.1", "100.64.0.0/24")).unwrap();
    assert!(!none.third_party_allowed(sub(1), sub(2)));
}

#[test]
fn keys_round_trip_through_the_effective_configuration() {
    let text = "ext_ifname=eth0\nlistening_ip=100.64.0.1/10\ncgn_mode=yes\n\
                cgn_external_pool=192.0.2.0/28\ncgn_external_pool=198.51.100.1\n\
                cgn_subscribers=100.64.0.0/16\ncgn_port_range=1024-65535\n\
                cgn_port_quota=7\ncgn_thirdparty_from=100.64.0.2\ncgn_natpmp=no\n";
    let c = crate::config::Config::parse(text, "t.conf").unwrap();
    assert!(c.cgn.enabled && !c.cgn.serves_natpmp() && !c.cgn.serves_upnp());
    assert_eq!(c.cgn.pool.len(), 2);
    let again = crate::config::Config::parse(&c.effective_text(), "e.conf").unwrap();
    assert_eq!(again.cgn, c.cgn);
    // A lease file is accepted in CGN mode (its lines carry the pool address).
    let with_leases = format!("{text}lease_file=/tmp/x\n");
    let c = crate::config::Config::parse(&with_leases, "t.conf").unwrap();
    assert!(c.cgn.enabled && c.lease_file.is_some());
}

#[test]
fn request_rate_is_per_source_and_per_second() {
    let mut r = RateLimit::default();
    let (a, b) = (sub(1), sub(2));
    assert!((0..3).all(|_| r.admit(a, 10, 3)));
    assert!(!r.admit(a, 10, 3), "a's fourth in the second");
    assert!(r.admit(b, 10, 3), "b is not held back by a");
    assert!(r.admit(a, 11, 3), "a new second");
    assert!((0..1000).all(|_| r.admit(a, 12, 0)), "0: no limit");
}

#[test]
fn the_kernel_enforces_the_request_rate_in_cgn_mode_only() {
    let mut c = cfg("192.0.2.0/28", "100.64.0.0/16");
    let l = c.kernel_request_limit().unwrap();
    assert_eq!(
        (l.port, l.rate, l.burst),
        (5351, DEFAULT_REQUEST_RATE, DEFAULT_REQUEST_RATE)
    );
    assert!(c.set("cgn_request_rate", "7").unwrap());
    assert_eq!(
        c.kernel_request_limit().map(|l| (l.rate, l.burst)),
        Some((7, 7))
    );
    assert!(c.set("cgn_request_rate", "0").unwrap());
    assert_eq!(
        c.kernel_request_limit(),
        None,
        "0: no limit, in the kernel neither"
    );
    assert_eq!(
        CgnConfig::default().kernel_request_limit(),
        None,
        "not in CGN mode"
    );
}

#[test]
fn a_remote_host_restriction_is_not_placed_on_the_pool() {
    let c = small();
    let mut r = req(sub(3), Protocol::Tcp, 1030, 80);
    r.remote_host = Some(Ipv4Addr::new(198, 51, 100, 1));
    assert_eq!(c.place(&mut r, &table(), true, 0), Err(TableError::Denied));
}
