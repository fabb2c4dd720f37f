use super::*;
use proptest::prelude::*;

const HOST: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
const OTHER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 3);

fn req(client: Ipv6Addr, port: u16, expiry: Option<u64>) -> NewPinhole {
    NewPinhole {
        remote_host: None,
        remote_port: 0,
        internal_client: client,
        internal_port: port,
        protocol: Protocol::Tcp,
        expiry,
        description: "test".to_owned(),
        origin: PinholeOrigin::Upnp,
    }
}

#[test]
fn uids_are_allocated_and_same_key_refreshes() {
    let mut t = PinholeTable::default();
    let a = t.add(req(HOST, 80, Some(200)), None, 100).unwrap();
    let b = t.add(req(HOST, 81, Some(200)), None, 100).unwrap();
    assert_eq!((a.record.uid, b.record.uid), (1, 2));
    assert!(a.previous.is_none());
    let again = t.add(req(HOST, 80, Some(500)), None, 150).unwrap();
    assert_eq!(again.record.uid, 1);
    assert_eq!(again.previous.map(|p| p.spec.expiry), Some(Some(200)));
    assert_eq!(t.len(), 2);
    assert_eq!(t.get(1, 150).map(|r| r.spec.expiry), Some(Some(500)));
}

#[test]
fn bad_internal_clients_are_refused() {
    let mut t = PinholeTable::default();
    for bad in [
        "fe80::1",
        "ff02::1",
        "ff05::c",
        "::1",
        "::",
        "::ffff:10.0.0.1",
        "::10.0.0.1",
    ] {
        let ip: Ipv6Addr = bad.parse().unwrap();
        assert_eq!(
            t.add(req(ip, 80, Some(10)), None, 0),
            Err(PinholeError::BadInternalClient(ip)),
            "{bad}"
        );
    }
    assert_eq!(
        t.add(req(HOST, 0, Some(10)), None, 0),
        Err(PinholeError::WildcardPort)
    );
    assert!(valid_internal_client("fd00::5".parse().unwrap()));
    assert!(t.is_empty());
}

#[test]
fn quotas_total_and_per_client() {
    let mut t = PinholeTable::new(3, 2);
    t.add(req(HOST, 1, Some(10)), None, 0).unwrap();
    t.add(req(HOST, 2, Some(10)), None, 0).unwrap();
    assert_eq!(
        t.add(req(HOST, 3, Some(10)), None, 0),
        Err(PinholeError::SpaceExhausted)
    );
    t.add(req(OTHER, 3, Some(10)), None, 0).unwrap();
    assert_eq!(
        t.add(req(OTHER, 4, Some(10)), None, 0),
        Err(PinholeError::SpaceExhausted)
    );
    // Expired entries do not count.
    assert!(t.add(req(OTHER, 4, Some(20)), None, 10).is_ok());
}

#[test]
fn update_delete_owner_and_expiry() {
    let mut t = PinholeTable::default();
    let uid = t.add(req(HOST, 80, Some(100)), None, 0).unwrap().record.uid;
    assert_eq!(
        t.update(uid, Some(300), Some(OTHER), 10),
        Err(PinholeError::NotOwner)
    );
    let (old, new) = t.update(uid, Some(300), Some(HOST), 10).unwrap();
    assert_eq!((old.spec.expiry, new.spec.expiry), (Some(100), Some(300)));
    assert_eq!(
        t.update(999, None, None, 10),
        Err(PinholeError::NoSuchEntry)
    );
    assert_eq!(t.delete(uid, Some(OTHER), 10), Err(PinholeError::NotOwner));
    assert_eq!(t.next_expiry(), Some(300));
    assert!(t.expire(299).is_empty());
    assert_eq!(t.expire(300).len(), 1);
    assert_eq!(t.delete(uid, None, 301), Err(PinholeError::NoSuchEntry));
}

#[test]
fn uid_from_lease_file_is_kept_and_wraps() {
    let mut t = PinholeTable::default();
    let r = t.add(req(HOST, 80, None), Some(65535), 0).unwrap();
    assert_eq!(r.record.uid, 65535);
    // Taken uid: a fresh one is allocated instead.
    let r2 = t.add(req(HOST, 81, None), Some(65535), 0).unwrap();
    assert_eq!(r2.record.uid, 1);
}

#[test]
fn lease6_line_in_miniupnpd_format() {
    let mut t = PinholeTable::default();
    let mut p = req(HOST, 5000, Some(1_767_225_600));
    p.protocol = Protocol::Udp;
    p.description = "my;app".to_owned();
    let r = t.add(p, Some(7), 0).unwrap().record;
    let line = format_lease6_line(&r);
    assert_eq!(line, "UDP;2001:db8:1::2;5000;;0;7;1767225600;my;app\n");
    let back = parse_lease6_line(line.trim_end()).unwrap();
    assert_eq!(back.uid, 7);
    assert_eq!(back.pinhole, r.spec);
}

#[test]
fn lease6_hostile_lines() {
    let text = "TCP;2001:db8:1::2;80;2001:db8:2::2;443;3;0;perm\n\
                TCP;2001:db8:1::2;80\n\
                SCTP;2001:db8:1::2;80;;0;1;0;x\n\
                TCP;not-an-ip;80;;0;1;0;x\n\
                TCP;2001:db8:1::2;99999;;0;1;0;x\n\
                TCP;2001:db8:1::2;81;;0;70000;0;x\n\
                UDP;2001:db8:1::2;82;;0;4;50;expired\n";
    let (ok, skipped, expired) = parse_lease6(text, 100);
    assert_eq!((ok.len(), skipped, expired), (1, 5, 1));
    assert_eq!(
        ok[0].pinhole.remote_host,
        Some("2001:db8:2::2".parse().unwrap())
    );
    assert_eq!(ok[0].pinhole.expiry, None);
    assert_eq!(
        parse_lease6_line("SCTP;::;1;;0;1;0;x"),
        Err(Lease6LineError::Protocol("SCTP".to_owned()))
    );
    let long = format!("TCP;2001:db8:1::2;80;;0;1;0;{}", "x".repeat(600));
    assert_eq!(parse_lease6_line(&long), Err(Lease6LineError::Malformed));
}

proptest! {
    #[test]
    fn lease6_round_trip(
        seg in any::<[u16; 8]>(),
        port in 1u16..,
        rport in any::<u16>(),
        uid in 1u16..,
        exp in proptest::option::of(1u64..u64::from(u32::MAX)),
        udp in any::<bool>(),
        desc in "[ -~]{0,40}",
        remote in proptest::option::of(any::<[u16; 8]>()),
    ) {
        let spec = NewPinhole {
            remote_host: remote.map(Ipv6Addr::from).filter(|r| !r.is_unspecified()),
            remote_port: rport,
            internal_client: Ipv6Addr::from(seg),
            internal_port: port,
            protocol: if udp { Protocol::Udp } else { Protocol::Tcp },
            expiry: exp,
            description: desc,
            origin: PinholeOrigin::Upnp,
        };
        let r = PinholeRecord { uid, spec };
        let line = format_lease6_line(&r);
        let back = parse_lease6_line(line.trim_end_matches('\n')).unwrap();
        prop_assert_eq!(back.uid, uid);
        prop_assert_eq!(back.pinhole, r.spec);
    }

    #[test]
    fn lease6_garbage_never_panics(s in "\\PC{0,200}") {
        let _ = parse_lease6(&s, 0);
    }
}
