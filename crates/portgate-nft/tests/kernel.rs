//! Kernel tests: program real nftables in a private network namespace through netlink,
//! check the result with `nft -j`, and prove a mapping forwards TCP in a three-namespace
//! lab. Root is required.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::Ipv4Addr;
use std::time::Duration;

use portgate_nft::{
    Change, Firewall, FirewallError, L4Proto, Mapping, MappingKey, NftConfig, NftFirewall, Pinhole,
    PinholeKey,
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
        },
        internal_addr: to,
        internal_port: iport,
        timeout: t.map(Duration::from_secs),
    }
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
    assert_eq!(rules, 7, "2 prerouting + 5 forward rules");
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
        },
        timeout: Some(Duration::from_secs(600)),
    };
    let mut pr = p;
    pr.key.remote = Some("2001:db8:ffff::9".parse().unwrap());
    pr.timeout = None;
    fw.apply(&[Change::PutPinhole(p), Change::PutPinhole(pr)])
        .unwrap();
    let json = ns.nft_json("pg_pin").unwrap();
    let s = serde_json::to_string(&elements(&json, "pin6")).unwrap();
    assert!(s.contains("2001:db8:1::5") && s.contains("3478"), "{s}");
    let s = serde_json::to_string(&elements(&json, "pin6r")).unwrap();
    assert!(s.contains("2001:db8:ffff::9"), "{s}");
    let mut l = fw.list_pinholes().unwrap();
    l.sort_by_key(|e| e.pinhole.key);
    assert_eq!(l.len(), 2);
    assert!(l.iter().any(|e| e.pinhole == p));
    assert!(l.iter().any(|e| e.pinhole == pr));
    fw.apply(&[Change::RemovePinhole(p.key), Change::RemovePinhole(pr.key)])
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
