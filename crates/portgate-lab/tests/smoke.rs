//! Smoke tests of the lab itself: topology, probes, DNAT by hand, processes, teardown.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use portgate_lab::{Host, Lab, LabError, NETNS_DIR};

const SHORT: Duration = Duration::from_secs(1);
const LONG: Duration = Duration::from_secs(5);

fn netns_exists(name: &str) -> bool {
    Path::new(NETNS_DIR).join(name).exists()
}

fn dnat(lab: &Lab, proto: &str, ext_port: u16, lan_port: u16) -> anyhow::Result<()> {
    let target = lab.ipv4(Host::Lan(0));
    lab.nft(
        Host::Gateway,
        &format!(
            "table ip handmade {{\n\
             \tchain prerouting {{\n\
             \t\ttype nat hook prerouting priority -100; policy accept;\n\
             \t\tiifname \"wan0\" {proto} dport {ext_port} dnat to {target}:{lan_port}\n\
             \t}}\n\
             }}\n"
        ),
    )?;
    Ok(())
}

#[test]
fn wan_reaches_lan_only_through_a_handmade_dnat() -> anyhow::Result<()> {
    let Some(lab) = Lab::builder().build_or_skip()? else {
        return Ok(());
    };
    let ext: SocketAddr = (lab.external_ipv4(), 4000).into();
    let tcp_listener = (Host::Lan(0), 5000);
    let udp_listener = (Host::Lan(0), 5001);

    let started = Instant::now();
    let tcp = lab.tcp_probe_report(Host::Wan, ext, tcp_listener, b"before", SHORT)?;
    assert!(!tcp.delivered, "no mapping yet, but {tcp:?}");
    assert!(tcp.sender_error.is_some(), "gateway should refuse: {tcp:?}");
    let udp_ext: SocketAddr = (lab.external_ipv4(), 4001).into();
    assert!(!lab.udp_probe(Host::Wan, udp_ext, udp_listener, b"before", SHORT)?);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "negative probes are bounded"
    );

    dnat(&lab, "tcp", 4000, 5000)?;
    lab.nft(
        Host::Gateway,
        &format!(
            "add rule ip handmade prerouting iifname \"wan0\" udp dport 4001 dnat to {}:5001\n",
            lab.ipv4(Host::Lan(0))
        ),
    )?;
    let tcp = lab.tcp_probe_report(Host::Wan, ext, tcp_listener, b"hello lan", LONG)?;
    assert!(tcp.delivered, "{tcp:?}");
    assert_eq!(tcp.received, b"hello lan");
    // Inbound traffic is not masqueraded: the LAN host sees the WAN host's address.
    assert_eq!(
        tcp.peer.map(|p| p.ip()),
        Some(lab.ipv4(Host::Wan).into()),
        "{tcp:?}"
    );
    let udp = lab.udp_probe_report(Host::Wan, udp_ext, udp_listener, b"datagram", LONG)?;
    assert!(udp.delivered, "{udp:?}");
    assert_eq!(udp.peer.map(|p| p.ip()), Some(lab.ipv4(Host::Wan).into()));

    // The listener must see exactly the bytes: a different listener port gets nothing.
    assert!(!lab.tcp_probe(Host::Wan, ext, (Host::Lan(0), 5002), b"x", SHORT)?);

    lab.exec(Host::Gateway, &["nft", "delete", "table", "ip", "handmade"])?;
    assert!(!lab.tcp_probe(Host::Wan, ext, tcp_listener, b"after", SHORT)?);
    assert!(!lab.udp_probe(Host::Wan, udp_ext, udp_listener, b"after", SHORT)?);
    Ok(())
}

#[test]
fn lan_hosts_reach_the_wan_masqueraded() -> anyhow::Result<()> {
    let Some(lab) = Lab::builder().lan_hosts(2).build_or_skip()? else {
        return Ok(());
    };
    for lan in [Host::Lan(0), Host::Lan(1)] {
        let to: SocketAddr = (lab.ipv4(Host::Wan), 7000).into();
        let r = lab.tcp_probe_report(lan, to, (Host::Wan, 7000), b"out", LONG)?;
        assert!(r.delivered, "{r:?}");
        assert_eq!(r.peer.map(|p| p.ip()), Some(lab.external_ipv4().into()));
        let r = lab.udp_probe_report(lan, to, (Host::Wan, 7000), b"out", LONG)?;
        assert_eq!(r.peer.map(|p| p.ip()), Some(lab.external_ipv4().into()));
    }
    // LAN hosts share the gateway's bridge: they reach each other directly.
    let to: SocketAddr = (lab.ipv4(Host::Lan(1)), 7001).into();
    let r = lab.tcp_probe_report(Host::Lan(0), to, (Host::Lan(1), 7001), b"peer", LONG)?;
    assert_eq!(r.peer.map(|p| p.ip()), Some(lab.ipv4(Host::Lan(0)).into()));
    // The gateway's LAN address answers from the bridge.
    let to: SocketAddr = (lab.ipv4(Host::Gateway), 7002).into();
    assert!(lab.udp_probe(Host::Lan(1), to, (Host::Gateway, 7002), b"gw", LONG)?);
    Ok(())
}

#[test]
fn topology_addresses_and_exec() -> anyhow::Result<()> {
    let Some(lab) = Lab::builder()
        .lan_hosts(2)
        .wan_unreserved()
        .build_or_skip()?
    else {
        return Ok(());
    };
    assert_eq!(lab.external_ipv4().to_string(), "192.0.1.1");
    assert_eq!(lab.ipv4(Host::Wan).to_string(), "192.0.1.2");
    assert_eq!(lab.ipv4(Host::Gateway).to_string(), "10.77.0.1");
    assert_eq!(lab.ipv4(Host::Lan(1)).to_string(), "10.77.0.3");
    assert_eq!(lab.ifname(Host::Gateway), "br-lan");
    assert_eq!(lab.namespaces().len(), 4);
    for ns in lab.namespaces() {
        assert!(ns.starts_with(lab.id()), "{ns}");
        assert!(netns_exists(ns));
    }
    let addr = lab.sh(Host::Lan(1), "ip -4 -o addr show dev eth0")?;
    assert!(addr.contains("10.77.0.3/24"), "{addr}");
    let route = lab.sh(Host::Lan(0), "ip route show default")?;
    assert!(route.contains("via 10.77.0.1"), "{route}");
    let fwd = lab.sh(Host::Gateway, "cat /proc/sys/net/ipv4/ip_forward")?;
    assert_eq!(fwd.trim(), "1");
    let ports = lab.sh(Host::Gateway, "ip -o link show master br-lan")?;
    assert!(ports.contains("lan0") && ports.contains("lan1"), "{ports}");
    assert!(lab.nft_ruleset()?.contains("masquerade"));

    match lab.exec(Host::Wan, &["sh", "-c", "echo out; echo err >&2; exit 3"]) {
        Err(LabError::CommandFailed { stdout, stderr, .. }) => {
            assert_eq!(stdout.trim(), "out");
            assert_eq!(stderr.trim(), "err");
        }
        other => panic!("expected CommandFailed, got {other:?}"),
    }
    let out = lab.exec_unchecked(Host::Wan, &["sh", "-c", "exit 3"])?;
    assert_eq!(out.status.code(), Some(3));
    match lab.exec_timeout(Host::Wan, &["sleep", "30"], Duration::from_millis(200)) {
        Err(LabError::Timeout { .. }) => {}
        other => panic!("expected Timeout, got {other:?}"),
    }
    Ok(())
}

#[test]
fn ipv6_is_routed_without_nat() -> anyhow::Result<()> {
    let Some(lab) = Lab::builder().ipv6(true).build_or_skip()? else {
        return Ok(());
    };
    let lan6 = lab.ipv6(Host::Lan(0)).expect("ipv6 lab");
    let wan6 = lab.ipv6(Host::Wan).expect("ipv6 lab");
    // No NAT66 and no firewall: the WAN host reaches the LAN host's global address directly.
    let r = lab.tcp_probe_report(
        Host::Wan,
        (lan6, 6000).into(),
        (Host::Lan(0), 6000),
        b"v6",
        LONG,
    )?;
    assert!(r.delivered, "{r:?}");
    assert_eq!(r.peer.map(|p| p.ip()), Some(wan6.into()));
    let r = lab.udp_probe_report(
        Host::Lan(0),
        (wan6, 6001).into(),
        (Host::Wan, 6001),
        b"v6",
        LONG,
    )?;
    assert_eq!(r.peer.map(|p| p.ip()), Some(lan6.into()), "{r:?}");
    let addrs = lab.sh(Host::Lan(0), "ip -6 -o addr show dev eth0 scope global")?;
    assert!(
        addrs.contains("2001:db8:1::2/64") && !addrs.contains("tentative"),
        "{addrs}"
    );
    Ok(())
}

#[test]
fn spawn_daemon_waits_for_its_ready_line() -> anyhow::Result<()> {
    let Some(lab) = Lab::builder().build_or_skip()? else {
        return Ok(());
    };
    let started = Instant::now();
    let daemon = lab.spawn_daemon(
        Host::Gateway,
        &[
            "sh",
            "-c",
            "echo starting >&2; echo 'listening on 10.77.0.1:5000' >&2; exec sleep 60",
        ],
        "listening on",
        LONG,
    )?;
    assert!(started.elapsed() < LONG);
    assert!(daemon.output().contains("starting"));
    assert!(daemon.try_status().is_none());

    // A timeout reports what was printed.
    let quiet = lab.spawn(
        Host::Lan(0),
        &["sh", "-c", "echo hello-from-lan; exec sleep 60"],
    )?;
    match quiet.wait_for("never printed", Duration::from_millis(300)) {
        Err(LabError::Timeout { output, .. }) => assert!(output.contains("hello-from-lan")),
        other => panic!("expected Timeout, got {other:?}"),
    }
    // An early exit is reported without waiting out the timeout.
    let started = Instant::now();
    match lab.spawn_daemon(
        Host::Wan,
        &["sh", "-c", "echo bye; exit 3"],
        "listening on",
        LONG,
    ) {
        Err(LabError::Exited { output, .. }) => assert!(output.contains("bye")),
        other => panic!("expected Exited, got {other:?}"),
    }
    assert!(started.elapsed() < LONG);

    // Dropping the guard kills the whole process group, grandchildren included.
    let group = lab.spawn(
        Host::Wan,
        &["sh", "-c", "sleep 61 & sleep 62 & echo up; wait"],
    )?;
    group.wait_for("up", LONG)?;
    let wan_ns = lab.netns(Host::Wan).to_owned();
    let pids_in_wan = || -> anyhow::Result<String> {
        let out = lab.exec(Host::Gateway, &["ip", "netns", "pids", &wan_ns])?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    assert_eq!(pids_in_wan()?.lines().count(), 3, "sh and two sleeps");
    drop(group);
    drop(quiet);
    let deadline = Instant::now() + LONG;
    loop {
        if pids_in_wan()?.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "processes survived their guard");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = daemon.terminate(LONG)?;
    assert!(!status.success());
    Ok(())
}

#[test]
fn a_panicking_test_still_tears_its_lab_down() -> anyhow::Result<()> {
    if !Lab::require() {
        return Ok(());
    }
    let names = Mutex::new(Vec::new());
    let result = std::panic::catch_unwind(|| {
        let lab = Lab::builder().lan_hosts(2).build().expect("lab");
        let _sleeper = lab.spawn(Host::Gateway, &["sleep", "60"]).expect("spawn");
        names
            .lock()
            .unwrap()
            .extend(lab.namespaces().iter().cloned());
        panic!("test failure inside a lab");
    });
    assert!(result.is_err());
    let names = names.into_inner().unwrap();
    assert_eq!(names.len(), 4);
    for name in names {
        assert!(!netns_exists(&name), "{name} survived the panic");
    }
    Ok(())
}

#[test]
fn leftovers_of_dead_runs_are_cleaned() -> anyhow::Result<()> {
    if !Lab::require() {
        return Ok(());
    }
    // No pid can exceed the kernel's PID_MAX_LIMIT (4194304): this owner is surely dead.
    let stale = "pg9999999n0gw";
    let _ = std::process::Command::new("ip")
        .args(["netns", "add", stale])
        .status()?;
    assert!(netns_exists(stale));
    let lab = Lab::builder().build()?;
    assert!(!netns_exists(stale), "leftover {stale} not cleaned");
    // Our own live labs are not leftovers.
    assert!(portgate_lab::clean_leftovers()
        .iter()
        .all(|n| !n.starts_with(lab.id())));
    assert!(lab.namespaces().iter().all(|n| netns_exists(n)));
    Ok(())
}

#[test]
fn parallel_labs_do_not_collide() -> anyhow::Result<()> {
    if !Lab::require() {
        return Ok(());
    }
    let ids = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|i| {
                s.spawn(move || -> anyhow::Result<String> {
                    let lab = Lab::builder().build()?;
                    let ext: SocketAddr = (lab.external_ipv4(), 4100).into();
                    assert!(!lab.tcp_probe(Host::Wan, ext, (Host::Lan(0), 4100), b"p", SHORT)?);
                    let to: SocketAddr = (lab.ipv4(Host::Wan), 4200 + i).into();
                    assert!(lab.tcp_probe(Host::Lan(0), to, (Host::Wan, 4200 + i), b"p", LONG)?);
                    Ok(lab.id().to_owned())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("lab thread"))
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    Ok(())
}

#[test]
fn ssdp_multicast_reaches_the_gateway_and_other_lan_hosts() -> anyhow::Result<()> {
    use std::net::{Ipv4Addr, UdpSocket};
    let Some(lab) = Lab::builder().lan_hosts(2).build_or_skip()? else {
        return Ok(());
    };
    let group = Ipv4Addr::new(239, 255, 255, 250);
    let listen = |host: Host| -> anyhow::Result<UdpSocket> {
        let iface = lab.ipv4(host);
        let sock = lab.in_netns(host, move || -> std::io::Result<UdpSocket> {
            let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 1900))?;
            s.join_multicast_v4(&group, &iface)?;
            s.set_read_timeout(Some(LONG))?;
            Ok(s)
        })??;
        Ok(sock)
    };
    let at_gateway = listen(Host::Gateway)?;
    let at_l1 = listen(Host::Lan(1))?;
    let sender = lab.in_netns(Host::Lan(0), || UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)))??;
    let msearch = b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n\r\n";
    sender.send_to(msearch, (group, 1900))?;
    for sock in [&at_gateway, &at_l1] {
        let mut buf = [0u8; 512];
        let (n, peer) = sock.recv_from(&mut buf)?;
        assert_eq!(&buf[..n], msearch);
        assert_eq!(peer.ip(), std::net::IpAddr::from(lab.ipv4(Host::Lan(0))));
    }
    Ok(())
}

#[test]
fn miniupnpd_skeleton_loads() -> anyhow::Result<()> {
    let Some(lab) = Lab::builder().wan_unreserved().build_or_skip()? else {
        return Ok(());
    };
    lab.install_miniupnpd_skeleton()?;
    let rules = lab.nft_ruleset()?;
    for chain in ["miniupnpd", "prerouting_miniupnpd", "postrouting_miniupnpd"] {
        assert!(rules.contains(&format!("chain {chain} {{")), "{rules}");
    }
    // Forward policy drop: an unsolicited WAN->LAN packet is now dropped, not refused.
    let to: SocketAddr = (lab.ipv4(Host::Lan(0)), 4300).into();
    let r = lab.tcp_probe_report(Host::Wan, to, (Host::Lan(0), 4300), b"x", SHORT)?;
    assert!(!r.delivered, "{r:?}");
    Ok(())
}
