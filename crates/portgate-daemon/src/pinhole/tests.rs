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

mod service {
    use super::*;
    use crate::gateway::tests::{gateway, settings, SharedMem, NOW};
    use crate::gateway::Gateway;
    use portgate_nft::Firewall as _;

    const LAN_GW6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);

    fn pin_settings(file: Option<std::path::PathBuf>) -> PinholeSettings {
        PinholeSettings {
            enabled: true,
            lease_file6: file,
            lan: vec![Lan6 {
                addr: LAN_GW6,
                prefix: 64,
            }],
        }
    }

    fn start(file: Option<std::path::PathBuf>) -> (Gateway, SharedMem, Pinholes) {
        let (mut gw, fw) = gateway(settings(None));
        let (p, _) = Pinholes::start(pin_settings(file), &mut gw, NOW).expect("start");
        (gw, fw, p)
    }

    fn kernel(fw: &SharedMem) -> Vec<portgate_nft::PinholeKey> {
        let mut v: Vec<_> =
            fw.0.borrow_mut()
                .list_pinholes()
                .unwrap_or_default()
                .into_iter()
                .map(|e| e.pinhole.key)
                .collect();
        v.sort();
        v
    }

    #[test]
    fn add_update_delete_reach_the_kernel_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("leases6");
        let (mut gw, fw, mut p) = start(Some(file.clone()));
        let a = p
            .add(&mut gw, req(HOST, 8080, Some(NOW + 100)), NOW)
            .unwrap();
        let uid = a.record.uid;
        assert_eq!(kernel(&fw), vec![a.record.firewall_key()]);
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            text,
            format!("TCP;2001:db8:1::2;8080;;0;{uid};{};test\n", NOW + 100)
        );
        p.update(&mut gw, uid, Some(NOW + 500), Some(HOST), NOW + 1)
            .unwrap();
        assert!(std::fs::read_to_string(&file)
            .unwrap()
            .contains(&format!(";{};", NOW + 500)));
        assert!(matches!(
            p.delete(&mut gw, uid, Some(OTHER), NOW + 2),
            Err(PinholeServiceError::Table(PinholeError::NotOwner))
        ));
        p.delete(&mut gw, uid, Some(HOST), NOW + 2).unwrap();
        assert!(kernel(&fw).is_empty());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "");
    }

    /// A pinhole change appends to lease_file6 instead of rewriting it: a handle
    /// opened before the changes still reads them all (a rewrite renames a new file
    /// over the old one, and the handle keeps reading the old file). Before the
    /// journal every change rewrote the file (failed: 1 line through the handle, 2 in
    /// the file).
    #[test]
    fn a_pinhole_change_does_not_rewrite_lease_file6() {
        use std::io::Read as _;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("leases6");
        let (mut gw, _fw, mut p) = start(Some(file.clone()));
        let a = p
            .add(&mut gw, req(HOST, 8080, Some(NOW + 100)), NOW)
            .unwrap();
        let mut held = std::fs::File::open(&file).unwrap();
        p.add(&mut gw, req(HOST, 8081, Some(NOW + 100)), NOW)
            .unwrap();
        p.update(&mut gw, a.record.uid, Some(NOW + 500), Some(HOST), NOW + 1)
            .unwrap();
        let mut seen = String::new();
        held.read_to_string(&mut seen).unwrap();
        assert_eq!(seen.lines().count(), 3, "{seen}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), seen);
    }

    #[test]
    fn restart_restores_from_lease_file6_and_drops_strays() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("leases6");
        let (mut gw, fw, mut p) = start(Some(file.clone()));
        let uid = p
            .add(&mut gw, req(HOST, 8080, Some(NOW + 100)), NOW)
            .unwrap()
            .record
            .uid;
        let stray = portgate_nft::PinholeKey {
            internal_addr: OTHER,
            proto: portgate_nft::L4Proto(17),
            internal_port: 9,
            remote: None,
            remote_port: 0,
        };
        fw.0.borrow_mut()
            .apply(&[portgate_nft::Change::PutPinhole(portgate_nft::Pinhole {
                key: stray,
                timeout: None,
            })])
            .unwrap();
        drop(p);
        // "kill -9": a new service on the same kernel and file.
        let (p2, report) = Pinholes::start(pin_settings(Some(file)), &mut gw, NOW + 10).unwrap();
        assert_eq!((report.restored, report.removed), (1, 1));
        assert_eq!(
            p2.get(uid, NOW + 10).map(|r| r.spec.internal_port),
            Some(8080)
        );
        assert_eq!(kernel(&fw).len(), 1);
    }

    /// lease_file6 is a journal like the IPv4 lease file: each change is one append
    /// (no rewrite of the others), and a restart replays it to the same pinholes.
    /// Before the journal, every change rewrote the file whole (`replaces` grew by
    /// one per change).
    #[test]
    fn lease_file6_changes_are_appended_and_replayed() {
        let store = crate::lease::MemoryStore::default();
        let (mut gw, fw) = gateway(settings(None));
        let boxed = || Some(Box::new(store.clone()) as Box<dyn crate::lease::LeaseStore>);
        let (mut p, _) =
            Pinholes::start_with(pin_settings(None), &mut gw, boxed(), NOW).expect("start");
        let rewrites = store.0.borrow().replaces;
        let uids: Vec<u16> = [8080, 8081, 8082]
            .into_iter()
            .map(|port| {
                p.add(&mut gw, req(HOST, port, Some(NOW + 100)), NOW)
                    .unwrap()
                    .record
                    .uid
            })
            .collect();
        p.update(&mut gw, uids[0], Some(NOW + 500), Some(HOST), NOW + 1)
            .unwrap();
        p.delete(&mut gw, uids[1], Some(HOST), NOW + 2).unwrap();
        let s = store.0.borrow();
        assert_eq!(s.replaces, rewrites, "no change rewrote the file");
        assert_eq!(s.appends, 5);
        assert_eq!(s.text.lines().count(), 5, "{}", s.text);
        drop(s);
        // Appends are synced within the persist delay, through the core's timer.
        assert_eq!(
            p.poll_timeout(),
            Some(std::time::Duration::from_secs(NOW + 5))
        );
        p.handle_timeout(&mut gw, std::time::Duration::from_secs(NOW + 5));
        assert_eq!(store.0.borrow().durable, store.0.borrow().text.len());
        drop(p);
        let (p2, report) =
            Pinholes::start_with(pin_settings(None), &mut gw, boxed(), NOW + 10).unwrap();
        assert_eq!(report.restored, 2);
        assert_eq!(
            p2.get(uids[0], NOW + 10).and_then(|r| r.spec.expiry),
            Some(NOW + 500)
        );
        assert!(p2.get(uids[1], NOW + 10).is_none());
        assert_eq!(
            p2.get(uids[2], NOW + 10).and_then(|r| r.spec.expiry),
            Some(NOW + 100)
        );
        assert_eq!(kernel(&fw).len(), 2);
        // Start-up compacted the journal into plain miniupnpd lines.
        assert_eq!(store.text().lines().count(), 2);
        assert!(!store.text().contains('#'));
    }

    #[test]
    fn refusals_disabled_outside_lan_and_link_local() {
        let (mut gw, fw, mut p) = start(None);
        let outside: Ipv6Addr = "2001:db8:2::2".parse().unwrap();
        assert!(matches!(
            p.add(&mut gw, req(outside, 80, Some(NOW + 10)), NOW),
            Err(PinholeServiceError::NotLan(_))
        ));
        assert!(matches!(
            p.add(&mut gw, req(LAN_GW6, 80, Some(NOW + 10)), NOW),
            Err(PinholeServiceError::NotLan(_))
        ));
        let ll: Ipv6Addr = "fe80::2".parse().unwrap();
        assert!(matches!(
            p.add(&mut gw, req(ll, 80, Some(NOW + 10)), NOW),
            Err(PinholeServiceError::Table(PinholeError::BadInternalClient(
                _
            )))
        ));
        p.reload(PinholeSettings {
            enabled: false,
            ..pin_settings(None)
        });
        assert!(matches!(
            p.add(&mut gw, req(HOST, 80, Some(NOW + 10)), NOW),
            Err(PinholeServiceError::Disabled)
        ));
        assert!(kernel(&fw).is_empty());
    }

    #[test]
    fn firewall_failure_rolls_back_and_missing_table_is_recreated() {
        let (mut gw, fw, mut p) = start(None);
        fw.0.borrow_mut().drop_table();
        let a = p.add(&mut gw, req(HOST, 80, Some(NOW + 10)), NOW).unwrap();
        assert_eq!(kernel(&fw), vec![a.record.firewall_key()]);
        assert_eq!(p.next_expiry(), Some(NOW + 10));
        assert_eq!(p.expire(&mut gw, NOW + 10).len(), 1);
        assert!(kernel(&fw).is_empty());
        assert!(p.table().is_empty());
    }

    #[test]
    fn packets_come_from_the_kernel_counter() {
        let (mut gw, _fw, mut p) = start(None);
        let uid = p
            .add(&mut gw, req(HOST, 80, Some(NOW + 10)), NOW)
            .unwrap()
            .record
            .uid;
        assert_eq!(p.packets(&mut gw, uid, NOW).unwrap(), 0);
        assert!(matches!(
            p.packets(&mut gw, uid + 1, NOW),
            Err(PinholeServiceError::Table(PinholeError::NoSuchEntry))
        ));
    }
}
