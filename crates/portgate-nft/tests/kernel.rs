//! Kernel tests: program real nftables in a private network namespace through netlink,
//! check the result with `nft -j`, and prove a mapping forwards TCP in a three-namespace
//! lab. Root is required.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::Ipv4Addr;
use std::time::Duration;

use portgate_nft::{
    Change, Firewall, FirewallError, Hairpin, L4Proto, Mapping, MappingKey, NftConfig, NftEvents,
    NftFirewall, NftLayout, Pinhole, PinholeKey,
};
use support::{wait_output, Netns};

fn mapping(
    port: u16,
    remote: Option<Ipv4Addr>,
    to: Ipv4Addr,
    iport: u16,
    t: Option<u64>,
) -> Mapping {
    Mapping {
        key: MappingKey {
            proto: L4Proto::TCP,
            external_port: port,
            remote,
            external: None,
        },
        internal_addr: to,
        internal_port: iport,
        timeout: t.map(Duration::from_secs),
    }
}

/// The kernel's entry for `key` (it must exist).
fn entry(fw: &mut NftFirewall, key: &MappingKey) -> portgate_nft::MappingEntry {
    fw.list()
        .unwrap()
        .into_iter()
        .find(|x| x.mapping.key == *key)
        .unwrap()
}

/// Elements of map/set `name` in `nft -j` output.
fn elements(json: &serde_json::Value, name: &str) -> Vec<serde_json::Value> {
    let items = json["nftables"].as_array().unwrap();
    for it in items {
        for kind in ["map", "set"] {
            if let Some(m) = it.get(kind) {
                if m["name"] == name {
                    return m
                        .get("elem")
                        .and_then(|e| e.as_array())
                        .cloned()
                        .unwrap_or_default();
                }
            }
        }
    }
    panic!("no set {name} in {json}");
}

fn rule_count(json: &serde_json::Value) -> usize {
    json["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i.get("rule").is_some())
        .count()
}

#[test]
fn init_add_list_delete_against_kernel() {
    let ns = Netns::new();
    let mut fw = NftFirewall::open_in_netns(&ns.name, NftConfig::new("wan0")).unwrap();
    fw.init().unwrap();
    let json = ns.nft_json("portgate").expect("table created");
    let rules = rule_count(&json);
    assert_eq!(rules, 10, "3 prerouting + 7 forward rules");
    // The key types we store make nft print the intended types.
    let text = ns.exec(&["nft", "list", "map", "inet", "portgate", "fwd4"]);
    assert!(
        text.contains("type inet_proto . inet_service : ipv4_addr . inet_service"),
        "{text}"
    );
    assert!(
        text.contains("flags timeout") && text.contains("counter"),
        "{text}"
    );
    let text = ns.exec(&["nft", "list", "chain", "inet", "portgate", "prerouting"]);
    assert!(
        text.contains("dnat ip to ip saddr . meta l4proto . th dport map @fwd4r"),
        "{text}"
    );
    assert!(
        text.contains("dnat ip to meta l4proto . th dport map @fwd4"),
        "{text}"
    );

    assert!(
        text.contains("dnat ip to ip daddr . meta l4proto . th dport map @fwd4c"),
        "{text}"
    );

    // Idempotent: a second init keeps the same rules, not twice as many.
    fw.init().unwrap();
    assert_eq!(rule_count(&ns.nft_json("portgate").unwrap()), rules);

    let lan = Ipv4Addr::new(10, 9, 0, 2);
    let a = mapping(8080, None, lan, 80, Some(3600));
    let b = mapping(
        2222,
        Some(Ipv4Addr::new(203, 0, 113, 7)),
        lan,
        22,
        Some(120),
    );
    let c = mapping(5000, None, lan, 5001, None);
    fw.put(&a).unwrap();
    fw.apply(&[Change::Put(b), Change::Put(c)]).unwrap();

    let json = ns.nft_json("portgate").unwrap();
    let fwd4 = elements(&json, "fwd4");
    assert_eq!(fwd4.len(), 2, "{fwd4:?}");
    let s = serde_json::to_string(&fwd4).unwrap();
    assert!(s.contains("\"timeout\":3600"), "{s}");
    assert!(s.contains("\"counter\""), "{s}");
    assert!(
        s.contains("10.9.0.2") && s.contains("8080") && s.contains("5001"),
        "{s}"
    );
    let s = serde_json::to_string(&elements(&json, "fwd4r")).unwrap();
    assert!(
        s.contains("203.0.113.7") && s.contains("\"timeout\":120"),
        "{s}"
    );

    let mut listed = fw.list().unwrap();
    listed.sort_by_key(|e| e.mapping.key.external_port);
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0].mapping, b);
    assert_eq!(listed[1].mapping, c);
    assert_eq!(listed[1].expires_in, None);
    assert_eq!(listed[2].mapping, a);
    let left = listed[2].expires_in.unwrap();
    assert!(
        left <= Duration::from_secs(3600) && left > Duration::from_secs(3500),
        "{left:?}"
    );
    assert_eq!((listed[2].packets, listed[2].bytes), (0, 0));

    // CGN mode: the same port on two external addresses, two elements of fwd4c.
    let pool = [Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2)];
    let on = |ext: Ipv4Addr, to: Ipv4Addr| Mapping {
        key: MappingKey {
            external: Some(ext),
            ..mapping(7000, None, to, 7000, Some(600)).key
        },
        ..mapping(7000, None, to, 7000, Some(600))
    };
    let (x, y) = (on(pool[0], lan), on(pool[1], Ipv4Addr::new(10, 9, 0, 9)));
    fw.apply(&[Change::Put(x), Change::Put(y)]).unwrap();
    let json = ns.nft_json("portgate").unwrap();
    let s = serde_json::to_string(&elements(&json, "fwd4c")).unwrap();
    assert!(
        s.contains("192.0.2.1") && s.contains("192.0.2.2") && s.contains("10.9.0.9"),
        "{s}"
    );
    let listed = fw.list().unwrap();
    assert_eq!(listed.len(), 5);
    assert!(listed.iter().any(|e| e.mapping == x) && listed.iter().any(|e| e.mapping == y));
    fw.apply(&[Change::Remove(x.key), Change::Remove(y.key)])
        .unwrap();
    assert!(elements(&ns.nft_json("portgate").unwrap(), "fwd4c").is_empty());

    // Replace: same key, new target and timeout.
    let a2 = mapping(8080, None, Ipv4Addr::new(10, 9, 0, 3), 81, Some(60));
    fw.put(&a2).unwrap();
    let l = fw.list().unwrap();
    assert_eq!(l.len(), 3);
    assert!(l.iter().any(|e| e.mapping == a2));

    // Delete; deleting again is fine.
    fw.remove(&a2.key).unwrap();
    fw.remove(&a2.key).unwrap();
    fw.remove(&b.key).unwrap();
    let json = ns.nft_json("portgate").unwrap();
    assert_eq!(elements(&json, "fwd4").len(), 1);
    assert!(elements(&json, "fwd4r").is_empty());

    // Reconcile towards a lease file: c stays, d is added.
    let d = mapping(6000, None, lan, 6000, Some(30));
    let r = fw.reconcile(&[c, d]).unwrap();
    assert_eq!((r.adopted, r.added, r.removed), (1, 1, 0));
    let r = fw.reconcile(&[d]).unwrap();
    assert_eq!((r.adopted, r.added, r.removed), (1, 0, 1));
    assert_eq!(fw.list().unwrap().len(), 1);

    // Replace wholesale (start-up with a large lease file): whatever the maps held
    // goes, the wanted mappings are in, over more than one transaction.
    let stale = mapping(6001, Some(Ipv4Addr::new(198, 51, 100, 9)), lan, 6001, None);
    fw.apply(&[Change::Put(stale), Change::Put(x)]).unwrap();
    let wanted: Vec<Mapping> = (0..2500u16)
        .map(|i| Mapping {
            key: MappingKey {
                external: Some(pool[usize::from(i % 2)]),
                ..mapping(10_000 + i, None, lan, 10_000 + i, Some(600)).key
            },
            ..mapping(10_000 + i, None, lan, 10_000 + i, Some(600))
        })
        .chain([d])
        .collect();
    let r = fw.replace_mappings(&wanted).unwrap();
    assert_eq!((r.adopted, r.added, r.removed), (0, 2501, 0));
    let mut listed: Vec<Mapping> = fw
        .list()
        .unwrap()
        .into_iter()
        .map(|e| {
            let mut m = e.mapping;
            m.timeout = m.timeout.map(|_| Duration::from_secs(600));
            m
        })
        .collect();
    listed.sort_by_key(|m| (m.key.external, m.key.external_port));
    let mut want: Vec<Mapping> = wanted
        .iter()
        .map(|m| Mapping {
            timeout: Some(Duration::from_secs(600)),
            ..*m
        })
        .collect();
    want.sort_by_key(|m| (m.key.external, m.key.external_port));
    assert_eq!(listed, want, "exactly the wanted mappings");
    fw.replace_mappings(&[d]).unwrap();
    assert_eq!(fw.list().unwrap().len(), 1);

    // Someone deletes our table: typed error, init repairs.
    ns.exec(&["nft", "delete", "table", "inet", "portgate"]);
    assert!(
        matches!(fw.put(&a), Err(FirewallError::TableMissing(_))),
        "{:?}",
        fw.put(&a)
    );
    assert!(matches!(fw.list(), Err(FirewallError::TableMissing(_))));
    fw.init().unwrap();
    fw.put(&a).unwrap();
    assert_eq!(fw.list().unwrap().len(), 1);

    // Shutdown keeping the table, then removing it.
    fw.shutdown(true).unwrap();
    assert!(ns.nft_json("portgate").is_some());
    fw.shutdown(false).unwrap();
    assert!(ns.nft_json("portgate").is_none());
    fw.shutdown(false).unwrap();
}

#[test]
fn elements_expire_in_the_kernel() {
    let ns = Netns::new();
    let mut fw = NftFirewall::open_in_netns(&ns.name, NftConfig::new("wan0")).unwrap();
    fw.init().unwrap();
    let m = Mapping {
        key: MappingKey {
            proto: L4Proto::UDP,
            external_port: 4000,
            remote: None,
            external: None,
        },
        internal_addr: Ipv4Addr::new(10, 1, 1, 1),
        internal_port: 4000,
        timeout: Some(Duration::from_millis(300)),
    };
    fw.put(&m).unwrap();
    assert_eq!(fw.list().unwrap().len(), 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !fw.list().unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "element never expired"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn pinholes_against_kernel() {
    let ns = Netns::new();
    let mut cfg = NftConfig::new("wan0");
    cfg.table = "pg_pin".to_owned();
    cfg.ext_ifname6 = Some("wan6".to_owned());
    let mut fw = NftFirewall::open_in_netns(&ns.name, cfg).unwrap();
    fw.init().unwrap();
    let p = Pinhole {
        key: PinholeKey {
            internal_addr: "2001:db8:1::5".parse().unwrap(),
            proto: L4Proto::UDP,
            internal_port: 3478,
            remote: None,
            remote_port: 0,
        },
        timeout: Some(Duration::from_secs(600)),
    };
    let mut pr = p;
    pr.key.remote = Some("2001:db8:ffff::9".parse().unwrap());
    pr.timeout = None;
    // Restricted to a remote (source) port, with and without a remote host.
    let mut pp = p;
    pp.key.remote_port = 40001;
    let mut prp = pr;
    prp.key.remote_port = 40002;
    fw.apply(&[
        Change::PutPinhole(p),
        Change::PutPinhole(pr),
        Change::PutPinhole(pp),
        Change::PutPinhole(prp),
    ])
    .unwrap();
    let json = ns.nft_json("pg_pin").unwrap();
    let s = serde_json::to_string(&elements(&json, "pin6")).unwrap();
    assert!(s.contains("2001:db8:1::5") && s.contains("3478"), "{s}");
    let s = serde_json::to_string(&elements(&json, "pin6r")).unwrap();
    assert!(s.contains("2001:db8:ffff::9"), "{s}");
    let s = serde_json::to_string(&elements(&json, "pin6p")).unwrap();
    assert!(s.contains("40001"), "{s}");
    let s = serde_json::to_string(&elements(&json, "pin6rp")).unwrap();
    assert!(s.contains("2001:db8:ffff::9") && s.contains("40002"), "{s}");
    let mut l = fw.list_pinholes().unwrap();
    l.sort_by_key(|e| e.pinhole.key);
    assert_eq!(l.len(), 4);
    for want in [p, pr, pp, prp] {
        assert!(l.iter().any(|e| e.pinhole == want), "{want:?} in {l:?}");
    }
    fw.apply(&[
        Change::RemovePinhole(p.key),
        Change::RemovePinhole(pr.key),
        Change::RemovePinhole(pp.key),
        Change::RemovePinhole(prp.key),
    ])
    .unwrap();
    assert!(fw.list_pinholes().unwrap().is_empty());
    let text = ns.exec(&["nft", "list", "chain", "inet", "pg_pin", "forward"]);
    assert!(text.contains("iifname \"wan6\""), "{text}");
    fw.shutdown(false).unwrap();
}

#[test]
fn bad_config_is_rejected() {
    let mut cfg = NftConfig::new("an-interface-name-too-long");
    assert!(matches!(
        NftFirewall::open(cfg.clone()),
        Err(FirewallError::InvalidConfig(_))
    ));
    cfg.ext_ifname = "eth0".into();
    cfg.table = String::new();
    assert!(matches!(
        NftFirewall::open(cfg),
        Err(FirewallError::InvalidConfig(_))
    ));
    assert!(matches!(
        NftFirewall::open_in_netns("pgnft-does-not-exist", NftConfig::new("eth0")),
        Err(FirewallError::Namespace { .. })
    ));
}

/// LAN host, gateway, WAN host joined by veths; returns (gw, lan, wan).
fn lab() -> (Netns, Netns, Netns) {
    let gw = Netns::new();
    let lan = Netns::new();
    let wan = Netns::new();
    let veth = |a: &Netns, an: &str, b: &Netns, bn: &str| {
        a.exec(&[
            "ip", "link", "add", an, "type", "veth", "peer", "name", bn, "netns", &b.name,
        ]);
        a.exec(&["ip", "link", "set", an, "up"]);
        b.exec(&["ip", "link", "set", bn, "up"]);
    };
    veth(&gw, "lan0", &lan, "eth0");
    veth(&gw, "wan0", &wan, "eth0");
    gw.exec(&["ip", "addr", "add", "10.77.0.1/24", "dev", "lan0"]);
    gw.exec(&["ip", "addr", "add", "203.0.113.1/24", "dev", "wan0"]);
    gw.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    lan.exec(&["ip", "addr", "add", "10.77.0.2/24", "dev", "eth0"]);
    lan.exec(&["ip", "route", "add", "default", "via", "10.77.0.1"]);
    wan.exec(&["ip", "addr", "add", "203.0.113.2/24", "dev", "eth0"]);
    (gw, lan, wan)
}

/// Starts `nc -l` on the LAN host, connects from the WAN host to the gateway's external
/// port, and returns what the listener received.
fn try_connect(lan: &Netns, wan: &Netns, eport: u16, iport: u16) -> String {
    let listener = lan.spawn(&["nc", "-l", "-p", &iport.to_string()]);
    lan.wait_listening(iport);
    let msg = format!("hello through {eport}\n");
    let mut client = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &wan.name,
            "nc",
            "-N",
            "-w",
            "2",
            "203.0.113.1",
            &eport.to_string(),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let _ = client.stdin.take().unwrap().write_all(msg.as_bytes());
    }
    let _ = wait_output(client, Duration::from_secs(5));
    let (_, got) = wait_output(listener, Duration::from_millis(1500));
    got
}

#[test]
fn lab_tcp_reaches_lan_host_only_while_mapped() {
    let (gw, lan, wan) = lab();
    let mut fw = NftFirewall::open_in_netns(&gw.name, NftConfig::new("wan0")).unwrap();
    fw.init().unwrap();
    let lan_ip = Ipv4Addr::new(10, 77, 0, 2);

    // Not mapped: nothing arrives.
    assert_eq!(try_connect(&lan, &wan, 8080, 9000), "");

    let m = mapping(8080, None, lan_ip, 9000, Some(600));
    fw.put(&m).unwrap();
    assert_eq!(try_connect(&lan, &wan, 8080, 9000), "hello through 8080\n");
    let e = fw
        .list()
        .unwrap()
        .into_iter()
        .find(|e| e.mapping == m)
        .unwrap();
    assert!(e.packets >= 1 && e.bytes > 0, "counter: {e:?}");

    // A refresh (same target, a longer lease) extends the element; on kernels that
    // update in place (6.12+) its counters carry on, elsewhere they restart.
    let mut longer = m;
    longer.timeout = Some(Duration::from_secs(7200));
    fw.put(&longer).unwrap();
    let r = entry(&mut fw, &m.key);
    assert!(
        r.expires_in.unwrap() > Duration::from_secs(3600),
        "refreshed: {r:?}"
    );
    eprintln!("refreshes update in place: {}", fw.updates_in_place());
    if fw.updates_in_place() {
        assert_eq!((r.packets, r.bytes), (e.packets, e.bytes), "kept: {r:?}");
    } else {
        assert_eq!(r.packets, 0, "restarted: {r:?}");
    }
    assert_eq!(try_connect(&lan, &wan, 8080, 9000), "hello through 8080\n");
    // Another target for the same external port: the element is replaced.
    let moved = mapping(8080, None, lan_ip, 9003, Some(600));
    fw.put(&moved).unwrap();
    let x = entry(&mut fw, &m.key);
    assert_eq!((x.mapping.internal_port, x.packets), (9003, 0), "{x:?}");
    assert_eq!(try_connect(&lan, &wan, 8080, 9003), "hello through 8080\n");
    fw.put(&m).unwrap();

    // Restricted to another remote host: the WAN host (203.0.113.2) is not let in;
    // restricted to the WAN host: it is.
    let other = mapping(
        8081,
        Some(Ipv4Addr::new(203, 0, 113, 99)),
        lan_ip,
        9001,
        Some(600),
    );
    fw.put(&other).unwrap();
    assert_eq!(try_connect(&lan, &wan, 8081, 9001), "");
    let mine = mapping(
        8082,
        Some(Ipv4Addr::new(203, 0, 113, 2)),
        lan_ip,
        9002,
        Some(600),
    );
    fw.put(&mine).unwrap();
    assert_eq!(try_connect(&lan, &wan, 8082, 9002), "hello through 8082\n");

    // Deleted: nothing arrives any more.
    fw.remove(&m.key).unwrap();
    assert_eq!(try_connect(&lan, &wan, 8080, 9000), "");
    fw.shutdown(false).unwrap();
}

/// Loads an nftables script in `ns` (test set-up only; the crate never runs `nft`).
fn nft_script(ns: &Netns, script: &str) {
    let path = std::env::temp_dir().join(format!("{}.nft", ns.name));
    std::fs::write(&path, script).unwrap();
    ns.exec(&["nft", "-f", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(path);
}

/// The skeleton Debian's miniupnpd-nftables expects (as the reference daemon is run in
/// the lab): forward policy drop jumping to `miniupnpd`, nat base chains jumping to
/// `prerouting_miniupnpd` / `postrouting_miniupnpd`; plus one rule of the admin's own in
/// the `miniupnpd` chain, which must survive us. The kernel matrix's checks load the same
/// file.
const MINIUPNPD_SKELETON: &str = include_str!("fixtures/miniupnpd-skeleton.nft");

fn chain_text(ns: &Netns, chain: &str) -> String {
    ns.exec(&["nft", "list", "chain", "inet", "filter", chain])
}

#[test]
fn miniupnpd_layout_rules_go_into_the_admins_chains() {
    let (gw, lan, wan) = lab();
    nft_script(&gw, MINIUPNPD_SKELETON);
    let mut fw = NftFirewall::open_in_netns(&gw.name, NftConfig::new("wan0")).unwrap();
    fw.set_layout(Some(NftLayout::default())).unwrap();
    fw.init().unwrap();
    // No table of our own.
    assert!(gw.nft_json("portgate").is_none());
    let pre = chain_text(&gw, "prerouting_miniupnpd");
    assert!(
        pre.contains("dnat ip to ip saddr . meta l4proto . th dport map @portgate_fwd4r")
            && pre.contains("dnat ip to meta l4proto . th dport map @portgate_fwd4")
            && pre.contains("comment \"portgate\""),
        "{pre}"
    );
    let fwd = chain_text(&gw, "miniupnpd");
    assert!(
        fwd.contains("iifname \"wan0\" ct status dnat accept") && fwd.contains("@portgate_pin6"),
        "{fwd}"
    );
    assert!(
        !fwd.contains("drop"),
        "no drop of ours in the admin's chain: {fwd}"
    );
    let json = gw.nft_json("filter").unwrap();
    let rules = rule_count(&json);
    // Idempotent: init again replaces our rules, does not duplicate them.
    fw.init().unwrap();
    assert_eq!(rule_count(&gw.nft_json("filter").unwrap()), rules);

    let lan_ip = Ipv4Addr::new(10, 77, 0, 2);
    assert_eq!(try_connect(&lan, &wan, 8080, 9000), "");
    let m = mapping(8080, None, lan_ip, 9000, Some(600));
    fw.put(&m).unwrap();
    assert_eq!(
        elements(&gw.nft_json("filter").unwrap(), "portgate_fwd4").len(),
        1
    );
    // Through the admin's policy-drop forward chain, via the jump to `miniupnpd`.
    assert_eq!(try_connect(&lan, &wan, 8080, 9000), "hello through 8080\n");
    assert_eq!(fw.list().unwrap().len(), 1);

    // Shutdown removes exactly what we added.
    fw.shutdown(false).unwrap();
    let json = gw.nft_json("filter").expect("the admin's table stays");
    let s = json.to_string();
    assert!(!s.contains("portgate"), "{s}");
    let fwd = chain_text(&gw, "miniupnpd");
    assert!(fwd.contains("comment \"admin\""), "{fwd}");
    assert!(chain_text(&gw, "forward").contains("jump miniupnpd"));
    assert_eq!(try_connect(&lan, &wan, 8080, 9000), "");
    // Shutting down twice is fine.
    fw.shutdown(false).unwrap();
}

#[test]
fn miniupnpd_layout_without_the_skeleton_is_a_typed_error() {
    let ns = Netns::new();
    let mut fw = NftFirewall::open_in_netns(&ns.name, NftConfig::new("wan0")).unwrap();
    fw.set_layout(Some(NftLayout::default())).unwrap();
    assert!(matches!(fw.init(), Err(FirewallError::TableMissing(_))));
    let bad = NftLayout {
        forward_chain: String::new(),
        ..NftLayout::default()
    };
    assert!(matches!(
        fw.set_layout(Some(bad)),
        Err(FirewallError::InvalidConfig(_))
    ));
}

#[test]
fn miniupnpd_layout_family_split() {
    let ns = Netns::new();
    nft_script(
        &ns,
        "table ip filter { chain miniupnpd { }; }\n\
         table ip nat { chain prerouting_miniupnpd { }; chain postrouting_miniupnpd { }; }\n\
         table ip6 filter { chain miniupnpd { }; }\n",
    );
    let mut fw = NftFirewall::open_in_netns(&ns.name, NftConfig::new("wan0")).unwrap();
    fw.set_layout(Some(NftLayout {
        nat_table: "nat".into(),
        family_split: true,
        ..NftLayout::default()
    }))
    .unwrap();
    fw.init().unwrap();
    let nat = ns.exec(&["nft", "list", "table", "ip", "nat"]);
    assert!(nat.contains("map @portgate_fwd4"), "{nat}");
    let f4 = ns.exec(&["nft", "list", "table", "ip", "filter"]);
    assert!(f4.contains("ct status dnat accept"), "{f4}");
    let f6 = ns.exec(&["nft", "list", "table", "ip6", "filter"]);
    assert!(f6.contains("@portgate_pin6r accept"), "{f6}");
    let lan = Ipv4Addr::new(10, 1, 1, 1);
    fw.put(&mapping(7000, None, lan, 7000, Some(60))).unwrap();
    fw.apply(&[Change::PutPinhole(Pinhole {
        key: PinholeKey {
            internal_addr: "2001:db8::5".parse().unwrap(),
            proto: L4Proto::TCP,
            internal_port: 22,
            remote: None,
            remote_port: 0,
        },
        timeout: None,
    })])
    .unwrap();
    assert_eq!(fw.list().unwrap().len(), 1);
    assert_eq!(fw.list_pinholes().unwrap().len(), 1);
    fw.shutdown(false).unwrap();
    for t in [["ip", "nat"], ["ip", "filter"], ["ip6", "filter"]] {
        let text = ns.exec(&["nft", "list", "table", t[0], t[1]]);
        assert!(!text.contains("portgate"), "{text}");
    }
}

#[test]
fn hairpin_lan_host_reaches_another_through_the_external_address() {
    // Gateway with a LAN bridge and two LAN hosts.
    let gw = Netns::new();
    let lan1 = Netns::new();
    let lan2 = Netns::new();
    let wan = Netns::new();
    gw.exec(&["ip", "link", "add", "br0", "type", "bridge"]);
    gw.exec(&["ip", "link", "set", "br0", "up"]);
    for (i, host) in [&lan1, &lan2].into_iter().enumerate() {
        let port = format!("lanp{i}");
        gw.exec(&[
            "ip", "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &host.name,
        ]);
        gw.exec(&["ip", "link", "set", &port, "master", "br0", "up"]);
        host.exec(&["ip", "link", "set", "eth0", "up"]);
        let addr = format!("10.78.0.{}/24", i + 2);
        host.exec(&["ip", "addr", "add", &addr, "dev", "eth0"]);
        host.exec(&["ip", "route", "add", "default", "via", "10.78.0.1"]);
    }
    gw.exec(&[
        "ip", "link", "add", "wan0", "type", "veth", "peer", "name", "eth0", "netns", &wan.name,
    ]);
    gw.exec(&["ip", "link", "set", "wan0", "up"]);
    wan.exec(&["ip", "link", "set", "eth0", "up"]);
    gw.exec(&["ip", "addr", "add", "10.78.0.1/24", "dev", "br0"]);
    gw.exec(&["ip", "addr", "add", "203.0.113.1/24", "dev", "wan0"]);
    gw.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    wan.exec(&["ip", "addr", "add", "203.0.113.2/24", "dev", "eth0"]);

    let mut fw = NftFirewall::open_in_netns(&gw.name, NftConfig::new("wan0")).unwrap();
    fw.init().unwrap();
    let m = mapping(8080, None, Ipv4Addr::new(10, 78, 0, 2), 9000, Some(600));
    fw.put(&m).unwrap();
    // Without hairpin the LAN client does not reach its neighbour via the external address.
    assert_eq!(try_connect(&lan1, &lan2, 8080, 9000), "");
    fw.set_hairpin(Some(Hairpin {
        external: Ipv4Addr::new(203, 0, 113, 1),
        lan: vec![(Ipv4Addr::new(10, 78, 0, 0), 24)],
    }))
    .unwrap();
    fw.init().unwrap();
    let post = gw.exec(&["nft", "list", "chain", "inet", "portgate", "postrouting"]);
    assert!(
        post.contains("ip saddr 10.78.0.0/24 ip daddr 10.78.0.0/24 ct status dnat masquerade"),
        "{post}"
    );
    assert_eq!(
        try_connect(&lan1, &lan2, 8080, 9000),
        "hello through 8080\n"
    );
    // The WAN path still works and is not masqueraded away.
    assert_eq!(try_connect(&lan1, &wan, 8080, 9000), "hello through 8080\n");
    // The external address changes: the hairpin rule follows, the mapping stays.
    gw.exec(&["ip", "addr", "add", "203.0.113.5/24", "dev", "wan0"]);
    fw.set_external_address(Some(Ipv4Addr::new(203, 0, 113, 5)))
        .unwrap();
    let pre = gw.exec(&["nft", "list", "chain", "inet", "portgate", "prerouting"]);
    assert!(
        pre.contains("ip daddr 203.0.113.5") && !pre.contains("ip daddr 203.0.113.1 "),
        "{pre}"
    );
    assert_eq!(fw.list().unwrap().len(), 1);
    fw.shutdown(false).unwrap();
}

/// The running kernel's (major, minor), from its release string.
fn kernel_version() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap(), parts.next().unwrap())
}

#[test]
fn probed_features_match_the_kernel() {
    let ns = Netns::new();
    let mut fw = NftFirewall::open_in_netns(&ns.name, NftConfig::new("wan0")).unwrap();
    fw.init().unwrap();
    let f = fw.features();
    let v = kernel_version();
    eprintln!("kernel {v:?}: {f:?}");
    assert_eq!(f.destroy, v >= (6, 3), "DESTROY messages came with 6.3");
    assert_eq!(
        f.in_place_refresh,
        v >= (6, 12),
        "in-place refresh came with 6.12"
    );
    assert!(
        f.element_counters,
        "every supported kernel gives elements counters"
    );
    // The probes leave nothing behind.
    let json = ns.nft_json("portgate").unwrap();
    assert!(elements(&json, "fwd4").is_empty(), "{json}");
}

/// The message set of kernels before 6.3 (no DESTROY) and before 6.12 (refresh by
/// delete and re-add), run on this kernel: deletions of elements that are already
/// gone must not fail a transaction, and real failures must still fail.
#[test]
fn pre_6_3_messages_tolerate_elements_already_gone() {
    let (gw, lan, wan) = lab();
    let mut fw = NftFirewall::open_in_netns(&gw.name, NftConfig::new("wan0")).unwrap();
    fw.init().unwrap();
    fw.emulate_older_kernel(false, false);
    assert!(!fw.features().destroy && !fw.updates_in_place());
    let lan_ip = Ipv4Addr::new(10, 77, 0, 2);

    // Deleting what was never there: fine, alone and in a batch with other changes.
    let absent = mapping(7000, None, lan_ip, 7000, Some(60));
    fw.remove(&absent.key).unwrap();
    let pin = PinholeKey {
        internal_addr: "2001:db8:1::5".parse().unwrap(),
        proto: L4Proto::UDP,
        internal_port: 3478,
        remote: None,
        remote_port: 0,
    };
    let m = mapping(8080, None, lan_ip, 9000, Some(600));
    fw.apply(&[
        Change::Remove(absent.key),
        Change::Put(m),
        Change::RemovePinhole(pin),
    ])
    .unwrap();
    assert_eq!(fw.list().unwrap().len(), 1);
    assert_eq!(try_connect(&lan, &wan, 8080, 9000), "hello through 8080\n");

    // A refresh is delete and re-add: the mapping keeps working.
    let mut longer = m;
    longer.timeout = Some(Duration::from_secs(7200));
    fw.put(&longer).unwrap();
    let r = entry(&mut fw, &m.key);
    assert!(r.expires_in.unwrap() > Duration::from_secs(3600), "{r:?}");
    assert_eq!(r.packets, 0, "a replaced element's counter restarts: {r:?}");
    assert_eq!(try_connect(&lan, &wan, 8080, 9000), "hello through 8080\n");

    // An element the kernel expired, then refreshed by its client: the delete half
    // finds nothing, the add must still happen.
    let short = mapping(8090, None, lan_ip, 9090, None);
    let short = Mapping {
        timeout: Some(Duration::from_millis(300)),
        ..short
    };
    fw.put(&short).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while fw
        .list()
        .unwrap()
        .iter()
        .any(|e| e.mapping.key == short.key)
    {
        assert!(std::time::Instant::now() < deadline, "never expired");
        std::thread::sleep(Duration::from_millis(50));
    }
    let renewed = Mapping {
        timeout: Some(Duration::from_secs(600)),
        ..short
    };
    fw.put(&renewed).unwrap();
    assert_eq!(entry(&mut fw, &short.key).mapping, renewed);
    assert_eq!(try_connect(&lan, &wan, 8090, 9090), "hello through 8090\n");

    // Deleted: nothing arrives; deleting twice is fine.
    fw.remove(&m.key).unwrap();
    fw.remove(&m.key).unwrap();
    assert_eq!(try_connect(&lan, &wan, 8080, 9000), "");

    // A real failure is not swallowed: without our table an add fails.
    gw.exec(&["nft", "delete", "table", "inet", "portgate"]);
    assert!(matches!(fw.put(&m), Err(FirewallError::TableMissing(_))));
    // A batch of deletions only, with the table gone: their objects are gone too.
    fw.remove(&m.key).unwrap();
    fw.init().unwrap();
    fw.put(&m).unwrap();
    assert_eq!(try_connect(&lan, &wan, 8080, 9000), "hello through 8080\n");
    fw.shutdown(false).unwrap();
    assert!(gw.nft_json("portgate").is_none());
}

/// The miniupnpd layout with the pre-6.3 messages: re-init replaces our rules with
/// DELRULE, shutdown removes rules and maps with DELRULE/DELSET.
#[test]
fn pre_6_3_messages_in_the_miniupnpd_layout() {
    let (gw, lan, wan) = lab();
    nft_script(&gw, MINIUPNPD_SKELETON);
    let mut fw = NftFirewall::open_in_netns(&gw.name, NftConfig::new("wan0")).unwrap();
    fw.set_layout(Some(NftLayout::default())).unwrap();
    fw.init().unwrap();
    fw.emulate_older_kernel(false, false);
    let rules = rule_count(&gw.nft_json("filter").unwrap());
    fw.init().unwrap();
    assert_eq!(rule_count(&gw.nft_json("filter").unwrap()), rules);
    let m = mapping(8080, None, Ipv4Addr::new(10, 77, 0, 2), 9000, Some(600));
    fw.put(&m).unwrap();
    assert_eq!(try_connect(&lan, &wan, 8080, 9000), "hello through 8080\n");
    fw.shutdown(false).unwrap();
    let s = gw
        .nft_json("filter")
        .expect("the admin's table stays")
        .to_string();
    assert!(!s.contains("portgate"), "{s}");
    assert!(chain_text(&gw, "miniupnpd").contains("comment \"admin\""));
    assert_eq!(try_connect(&lan, &wan, 8080, 9000), "");
    fw.shutdown(false).unwrap();
}

/// Waits up to 2 s for `events` to report at least one deletion.
fn wait_events(events: &mut NftEvents) -> usize {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        let n = events.drain().unwrap();
        if n > 0 || std::time::Instant::now() >= deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn verify_and_events_see_a_flush_but_not_our_own_elements() {
    let (gw, lan, wan) = lab();
    let mut fw = NftFirewall::open_in_netns(&gw.name, NftConfig::new("wan0")).unwrap();
    let mut events = NftEvents::open_in_netns(&gw.name).unwrap();
    fw.init().unwrap();
    assert!(fw.verify().unwrap());
    // A first init deletes nothing; a second one flushes and refills our chains,
    // and those deletions are seen too (the daemon's check then finds all in place).
    assert_eq!(events.drain().unwrap(), 0);
    fw.init().unwrap();
    assert!(wait_events(&mut events) > 0);
    assert!(fw.verify().unwrap());

    // Our own element traffic is filtered out in the kernel.
    let lan_ip = Ipv4Addr::new(10, 77, 0, 2);
    for port in 20000..20200 {
        fw.put(&mapping(port, None, lan_ip, port, Some(600)))
            .unwrap();
    }
    fw.remove(&mapping(20000, None, lan_ip, 20000, None).key)
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        events.drain().unwrap(),
        0,
        "element changes must not wake us"
    );
    let m = mapping(8080, None, lan_ip, 9000, Some(600));
    fw.put(&m).unwrap();
    assert_eq!(try_connect(&lan, &wan, 8080, 9000), "hello through 8080\n");

    // A reload that flushes our rules but keeps the maps (what fw4 does to the chains
    // it owns): seen as an event, verify says no, traffic stops; init restores it
    // with the elements still in place.
    gw.exec(&["nft", "flush", "chain", "inet", "portgate", "prerouting"]);
    assert!(wait_events(&mut events) > 0);
    assert!(!fw.verify().unwrap());
    assert_eq!(try_connect(&lan, &wan, 8080, 9000), "");
    fw.init().unwrap();
    assert!(fw.verify().unwrap());
    assert_eq!(try_connect(&lan, &wan, 8080, 9000), "hello through 8080\n");

    // One rule of ours deleted by hand.
    let handle = gw
        .exec(&["nft", "-a", "list", "chain", "inet", "portgate", "forward"])
        .lines()
        .find(|l| l.contains("ct status dnat"))
        .and_then(|l| l.rsplit("handle ").next().map(|h| h.trim().to_owned()))
        .unwrap();
    events.drain().unwrap();
    gw.exec(&[
        "nft", "delete", "rule", "inet", "portgate", "forward", "handle", &handle,
    ]);
    assert!(wait_events(&mut events) > 0);
    assert!(!fw.verify().unwrap());
    fw.init().unwrap();

    // `nft flush ruleset`: everything gone, including the elements.
    gw.exec(&["nft", "flush", "ruleset"]);
    assert!(wait_events(&mut events) > 0);
    assert!(!fw.verify().unwrap());
    fw.init().unwrap();
    assert!(fw.verify().unwrap());
    assert!(fw.list().unwrap().is_empty());
    fw.shutdown(false).unwrap();
}

#[test]
fn verify_in_the_miniupnpd_layout() {
    let ns = Netns::new();
    nft_script(&ns, MINIUPNPD_SKELETON);
    let mut fw = NftFirewall::open_in_netns(&ns.name, NftConfig::new("wan0")).unwrap();
    fw.set_layout(Some(NftLayout::default())).unwrap();
    fw.init().unwrap();
    assert!(fw.verify().unwrap());
    // The admin's reload flushes the chains it owns, our rules with them.
    ns.exec(&[
        "nft",
        "flush",
        "chain",
        "inet",
        "filter",
        "prerouting_miniupnpd",
    ]);
    assert!(!fw.verify().unwrap());
    fw.init().unwrap();
    assert!(fw.verify().unwrap());
    fw.shutdown(false).unwrap();
}

/// Runs `f` on a thread inside network namespace `ns`: sockets it opens stay there.
fn in_ns<T: Send>(ns: &Netns, f: impl FnOnce() -> T + Send) -> T {
    let file = std::fs::File::open(format!("/var/run/netns/{}", ns.name)).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            rustix::thread::move_into_link_name_space(
                std::os::fd::AsFd::as_fd(&file),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .unwrap();
            f()
        })
        .join()
        .unwrap()
    })
}

/// Datagrams received per source address by `sock` until it has been quiet for 300 ms.
fn count_sources(sock: std::net::UdpSocket) -> std::collections::HashMap<std::net::IpAddr, usize> {
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut got = std::collections::HashMap::new();
    let mut buf = [0u8; 64];
    while let Ok((_, from)) = sock.recv_from(&mut buf) {
        *got.entry(from.ip().to_canonical()).or_insert(0) += 1;
    }
    got
}

/// Sends `n` datagrams from `from` (a socket in the LAN host) to the gateway's 5351,
/// waiting `gap` between them; returns the time it took.
fn send_n(
    from: &std::net::UdpSocket,
    to: std::net::SocketAddr,
    n: usize,
    gap: Duration,
) -> Duration {
    let t = std::time::Instant::now();
    for _ in 0..n {
        // A full send buffer is a datagram not sent; the counts below allow for it.
        let _ = from.send_to(b"pcp request", to);
        if !gap.is_zero() {
            std::thread::sleep(gap);
        }
    }
    t.elapsed()
}

/// Whether the kernel let through at most what a bucket of `burst` refilled at `rate`
/// per second allows in `elapsed` (plus one second of slack for a loaded machine), and
/// at least one datagram.
fn within_limit(got: usize, rate: u32, burst: u32, elapsed: Duration) -> bool {
    let most = f64::from(burst) + f64::from(rate) * (elapsed.as_secs_f64() + 1.0);
    got >= 1 && (got as f64) <= most
}

const LIMIT: portgate_nft::RequestLimit = portgate_nft::RequestLimit {
    port: 5351,
    rate: 20,
    burst: 20,
    sources: 1024,
};

#[test]
fn request_limit_drops_a_flooding_source_and_not_the_others() {
    let (gw, lan, _wan) = lab();
    lan.exec(&["ip", "addr", "add", "10.77.0.3/24", "dev", "eth0"]);
    gw.exec(&["ip", "addr", "add", "fd77::1/64", "dev", "lan0", "nodad"]);
    lan.exec(&["ip", "addr", "add", "fd77::2/64", "dev", "eth0", "nodad"]);
    let flooder: std::net::IpAddr = Ipv4Addr::new(10, 77, 0, 2).into();
    let other: std::net::IpAddr = Ipv4Addr::new(10, 77, 0, 3).into();
    let flooder6: std::net::IpAddr = "fd77::2".parse().unwrap();
    let gw4: std::net::SocketAddr = "10.77.0.1:5351".parse().unwrap();
    let gw6: std::net::SocketAddr = "[fd77::1]:5351".parse().unwrap();
    let (s_flood, s_other, s_flood6) = in_ns(&lan, || {
        let b = |a: std::net::IpAddr| std::net::UdpSocket::bind((a, 0)).unwrap();
        (b(flooder), b(other), b(flooder6))
    });
    // One run: a reader in the gateway counting per source while `send` runs.
    let run = |send: &dyn Fn() -> Duration| {
        let sock = in_ns(&gw, || std::net::UdpSocket::bind("[::]:5351").unwrap());
        let reader = std::thread::spawn(move || count_sources(sock));
        let took = send();
        let got = reader.join().unwrap();
        (got, took)
    };
    let count = |got: &std::collections::HashMap<std::net::IpAddr, usize>, a| {
        got.get(&a).copied().unwrap_or(0)
    };

    let mut fw = NftFirewall::open_in_netns(&gw.name, NftConfig::new("wan0")).unwrap();
    fw.init().unwrap();
    // Without the limit every datagram of a paced run arrives: the path works and the
    // drops below are the limit's.
    let (got, _) = run(&|| send_n(&s_flood, gw4, 100, Duration::from_millis(1)));
    assert_eq!(count(&got, flooder), 100, "{got:?}");
    assert!(!chain_text_of(&gw, "portgate", "input").1);

    fw.set_request_limit(Some(LIMIT)).unwrap();
    fw.init().unwrap();
    assert!(fw.verify().unwrap());
    let (input, _) = chain_text_of(&gw, "portgate", "input");
    assert!(
        input.contains("udp dport 5351 update @req_rate4 { ip saddr limit rate over 20/second burst 20 packets } drop")
            && input.contains("update @req_rate6 { ip6 saddr limit rate over 20/second"),
        "{input}"
    );
    // The same paced run now meets the limit; a flood too; another source sending
    // meanwhile gets every datagram through, and so does an IPv6 source's first ones.
    let (got, took) = run(&|| send_n(&s_flood, gw4, 100, Duration::from_millis(1)));
    assert!(
        within_limit(count(&got, flooder), LIMIT.rate, LIMIT.burst, took)
            && count(&got, flooder) < 100,
        "{got:?} in {took:?}"
    );
    std::thread::sleep(Duration::from_millis(1100)); // the bucket fills again
    let (got, took) = run(&|| {
        let t = std::time::Instant::now();
        let flood = std::thread::scope(|s| {
            let f = s.spawn(|| send_n(&s_flood, gw4, 5000, Duration::ZERO));
            send_n(&s_other, gw4, 15, Duration::from_millis(2));
            f.join().unwrap()
        });
        flood.max(t.elapsed())
    });
    eprintln!("flood: {got:?} in {took:?}");
    assert!(
        within_limit(count(&got, flooder), LIMIT.rate, LIMIT.burst, took),
        "{got:?} in {took:?}"
    );
    assert_eq!(count(&got, other), 15, "{got:?}");
    let (got, took) = run(&|| send_n(&s_flood6, gw6, 5000, Duration::ZERO));
    assert!(
        within_limit(count(&got, flooder6), LIMIT.rate, LIMIT.burst, took),
        "{got:?} in {took:?}"
    );

    // `nft flush ruleset` takes the limit away; verify sees it and init restores it.
    gw.exec(&["nft", "flush", "ruleset"]);
    assert!(!fw.verify().unwrap());
    fw.init().unwrap();
    assert!(fw.verify().unwrap());
    let (got, took) = run(&|| send_n(&s_flood, gw4, 5000, Duration::ZERO));
    assert!(
        within_limit(count(&got, flooder), LIMIT.rate, LIMIT.burst, took),
        "{got:?} in {took:?}"
    );
    // Only the chain's rule flushed (a reload of the input chain): the same.
    gw.exec(&["nft", "flush", "chain", "inet", "portgate", "input"]);
    assert!(!fw.verify().unwrap());
    fw.init().unwrap();
    assert!(fw.verify().unwrap());

    // Removed with the table.
    fw.shutdown(false).unwrap();
    assert!(gw.nft_json("portgate").is_none());
    let (got, _) = run(&|| send_n(&s_flood, gw4, 100, Duration::from_millis(1)));
    assert_eq!(count(&got, flooder), 100, "{got:?}");
}

/// `nft list chain inet TABLE CHAIN`, and whether it exists.
fn chain_text_of(ns: &Netns, table: &str, chain: &str) -> (String, bool) {
    let out = ns.try_exec(&["nft", "list", "chain", "inet", table, chain]);
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.success(),
    )
}

#[test]
fn request_limit_in_the_miniupnpd_layout_has_a_table_of_its_own() {
    let (gw, lan, _wan) = lab();
    nft_script(&gw, MINIUPNPD_SKELETON);
    let mut fw = NftFirewall::open_in_netns(&gw.name, NftConfig::new("wan0")).unwrap();
    fw.set_layout(Some(NftLayout::default())).unwrap();
    fw.set_request_limit(Some(LIMIT)).unwrap();
    fw.init().unwrap();
    assert!(fw.verify().unwrap());
    // Our table holds the limit only; the mappings' objects are in the admin's.
    let ours = gw
        .nft_json("portgate")
        .expect("a table for the limit")
        .to_string();
    assert!(
        ours.contains("req_rate4") && !ours.contains("fwd4"),
        "{ours}"
    );
    let (input, _) = chain_text_of(&gw, "portgate", "input");
    assert!(input.contains("limit rate over 20/second"), "{input}");
    assert!(chain_text(&gw, "prerouting_miniupnpd").contains("@portgate_fwd4"));
    let rules = rule_count(&gw.nft_json("filter").unwrap());
    fw.init().unwrap();
    assert!(fw.verify().unwrap());
    assert_eq!(rule_count(&gw.nft_json("filter").unwrap()), rules);
    let (input_again, _) = chain_text_of(&gw, "portgate", "input");
    assert_eq!(
        input_again.matches("limit rate over").count(),
        2,
        "{input_again}"
    );

    let flooder: std::net::IpAddr = Ipv4Addr::new(10, 77, 0, 2).into();
    let s = in_ns(&lan, || std::net::UdpSocket::bind((flooder, 0)).unwrap());
    let sock = in_ns(&gw, || std::net::UdpSocket::bind("0.0.0.0:5351").unwrap());
    let reader = std::thread::spawn(move || count_sources(sock));
    let took = send_n(&s, "10.77.0.1:5351".parse().unwrap(), 5000, Duration::ZERO);
    let got = reader.join().unwrap();
    assert!(
        within_limit(
            got.get(&flooder).copied().unwrap_or(0),
            LIMIT.rate,
            LIMIT.burst,
            took
        ),
        "{got:?} in {took:?}"
    );

    // A reload of our input chain is seen and repaired like the admin's chains.
    gw.exec(&["nft", "flush", "chain", "inet", "portgate", "input"]);
    assert!(!fw.verify().unwrap());
    fw.init().unwrap();
    assert!(fw.verify().unwrap());

    // Shutdown removes our rules from the admin's chains and our table.
    fw.shutdown(false).unwrap();
    assert!(gw.nft_json("portgate").is_none());
    assert!(!gw
        .nft_json("filter")
        .unwrap()
        .to_string()
        .contains("portgate"));
    fw.shutdown(false).unwrap();
}
