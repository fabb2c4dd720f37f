//! IPv6 end to end: the real `portgated` in a lab with IPv6 (documentation
//! prefix, LAN 2001:db8:1::/64 and WAN 2001:db8:2::/64, routed, no NAT66).
//!
//! - `upnpc -6` (Debian's miniupnpc) on the LAN host drives
//!   WANIPv6FirewallControl: -A, -U, -C, -K, -G, -D;
//! - a TCP connection from the WAN host to the LAN host's IPv6 port succeeds
//!   only while the pinhole exists (the standalone forward chain drops it
//!   otherwise);
//! - `lease_file6` is written in miniupnpd's format and a pinhole survives
//!   `kill -9` and a restart;
//! - hostile: a pinhole for another host (606), link-local and multicast
//!   internal clients, requests from the WAN side.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use common::TestGateway;
use portgate_lab::Host;

const HTTP_PORT: u16 = 5000;

fn start() -> anyhow::Result<Option<TestGateway>> {
    let Some(t) = TestGateway::start_lab(
        2,
        true,
        &format!("http_port={HTTP_PORT}\nenable_natpmp=yes\nlease_file6=@DIR@/leases6\n"),
    )?
    else {
        return Ok(None);
    };
    Ok(Some(t))
}

fn lease6(t: &TestGateway) -> String {
    std::fs::read_to_string(t.dir.path().join("leases6")).unwrap_or_default()
}

fn gw6(t: &TestGateway) -> Ipv6Addr {
    t.lab.ipv6(Host::Gateway).expect("gateway ipv6")
}

fn host6(t: &TestGateway, i: usize) -> Ipv6Addr {
    t.lab.ipv6(Host::Lan(i)).expect("host ipv6")
}

fn upnpc(t: &TestGateway, host: Host, args: &[&str]) -> String {
    t.upnpc6(host, HTTP_PORT, args)
}

fn wan_reaches(t: &TestGateway, port: u16) -> bool {
    let to = SocketAddr::new(IpAddr::V6(host6(t, 0)), port);
    t.lab
        .tcp_probe(
            Host::Wan,
            to,
            (Host::Lan(0), port),
            b"v6",
            Duration::from_secs(2),
        )
        .expect("probe")
}

/// The UniqueID upnpc printed after AddPinhole ("AddPinhole: (...) / Pinhole ID = N").
fn unique_id(text: &str) -> Option<u16> {
    let lower = text.to_ascii_lowercase();
    let at = lower.find("pinhole id")? + "pinhole id".len();
    let rest = lower.get(at..)?;
    let digits: String = rest
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

#[test]
fn upnpc6_pinhole_lifecycle_and_wan_reachability() -> anyhow::Result<()> {
    let Some(mut t) = start()? else {
        return Ok(());
    };
    let me = host6(&t, 0).to_string();
    let wan = t.lab.ipv6(Host::Wan).expect("wan ipv6").to_string();
    let port = 8080u16;
    assert!(!wan_reaches(&t, port), "closed before any pinhole");

    let out = upnpc(
        &t,
        Host::Lan(0),
        &["-A", &wan, "0", &me, "8080", "TCP", "3600"],
    );
    let uid = unique_id(&out).expect("a UniqueID in upnpc's output");
    let u = uid.to_string();
    assert!(wan_reaches(&t, port), "open while the pinhole exists");
    let line = lease6(&t);
    assert!(
        line.starts_with(&format!("TCP;{me};8080;{wan};0;{uid};")),
        "lease_file6: {line:?}"
    );

    let out = upnpc(&t, Host::Lan(0), &["-K", &u]);
    assert!(!out.contains("failed"), "GetPinholePackets: {out}");
    let out = upnpc(&t, Host::Lan(0), &["-C", &u]);
    assert!(
        !out.contains("failed"),
        "CheckPinholeWorking after traffic: {out}"
    );
    let out = upnpc(&t, Host::Lan(0), &["-U", &u, "7200"]);
    assert!(!out.contains("failed"), "UpdatePinhole: {out}");
    // Where the kernel updates elements in place (Linux 6.12+, probed at start-up and
    // logged), the refresh keeps the pinhole's counters, so it is still "working";
    // elsewhere the element is replaced and the counter restarts (709).
    let in_place = t
        .daemon
        .as_ref()
        .is_some_and(|d| d.output().contains("in_place_refresh=true"));
    let out = upnpc(&t, Host::Lan(0), &["-C", &u]);
    assert_eq!(
        out.contains("failed"),
        !in_place,
        "CheckPinholeWorking after UpdatePinhole (in place: {in_place}): {out}"
    );
    let out = upnpc(&t, Host::Lan(0), &["-G", &wan, "0", &me, "8080", "TCP"]);
    assert!(!out.contains("failed"), "GetOutboundPinholeTimeout: {out}");

    // kill -9 and restart: the pinhole is back from lease_file6, same UniqueID.
    t.kill()?;
    t.restart()?;
    assert!(wan_reaches(&t, port), "open after a crash and restart");
    let out = upnpc(&t, Host::Lan(0), &["-K", &u]);
    assert!(!out.contains("failed"), "pinhole {uid} restored: {out}");

    let out = upnpc(&t, Host::Lan(0), &["-D", &u]);
    assert!(!out.contains("failed"), "DeletePinhole: {out}");
    assert!(!wan_reaches(&t, port), "closed after DeletePinhole");
    assert_eq!(lease6(&t), "");
    Ok(())
}

#[test]
fn hostile_ipv6_pinhole_requests() -> anyhow::Result<()> {
    let Some(t) = start()? else {
        return Ok(());
    };
    let other = host6(&t, 1).to_string();
    // A pinhole for another LAN host: 606.
    let out = upnpc(
        &t,
        Host::Lan(0),
        &["-A", "", "0", &other, "9000", "TCP", "600"],
    );
    assert!(out.contains("606"), "pinhole for another host: {out}");
    // Link-local and multicast internal clients: refused (402).
    for bad in ["fe80::2", "ff02::1"] {
        let out = upnpc(
            &t,
            Host::Lan(0),
            &["-A", "", "0", bad, "9000", "TCP", "600"],
        );
        assert!(out.contains("402"), "{bad}: {out}");
    }
    // Nothing was opened: the other host stays unreachable.
    let to = SocketAddr::new(IpAddr::V6(host6(&t, 1)), 9000);
    assert!(!t.lab.tcp_probe(
        Host::Wan,
        to,
        (Host::Lan(1), 9000),
        b"x",
        Duration::from_secs(2)
    )?);
    // The WAN host cannot reach the HTTP server at all (it listens on the LAN only
    // and drops non-LAN peers).
    let url = format!("http://[{}]:{HTTP_PORT}/rootDesc.xml", gw6(&t));
    let out = t.lab.exec_unchecked(
        Host::Wan,
        &[
            "upnpc",
            "-6",
            "-u",
            url.as_str(),
            "-A",
            "",
            "0",
            "2001:db8:2::2",
            "9000",
            "TCP",
            "600",
        ],
    )?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(unique_id(&text).is_none(), "WAN host got a pinhole: {text}");
    Ok(())
}

/// Send one PCP request from LAN host `i` to the gateway's LAN IPv6 address
/// and return the parsed response.
fn pcp6(
    t: &TestGateway,
    i: usize,
    req: &portgate_proto::pcp::Request,
) -> portgate_proto::pcp::Response {
    let from = SocketAddr::new(IpAddr::V6(host6(t, i)), 0);
    let to = SocketAddr::new(IpAddr::V6(gw6(t)), 5351);
    let bytes = req.to_bytes();
    let answer = t
        .lab
        .in_netns(Host::Lan(i), move || -> std::io::Result<Vec<u8>> {
            let s = std::net::UdpSocket::bind(from)?;
            s.set_read_timeout(Some(Duration::from_millis(500)))?;
            let mut buf = [0u8; 1100];
            for _ in 0..6 {
                s.send_to(&bytes, to)?;
                if let Ok((n, _)) = s.recv_from(&mut buf) {
                    return Ok(buf[..n].to_vec());
                }
            }
            Err(std::io::Error::other("no PCP answer"))
        })
        .expect("netns")
        .expect("pcp answer");
    portgate_proto::pcp::Response::parse(&answer).expect("a PCP response")
}

fn pcp6_map(client: Ipv6Addr, port: u16, lifetime: u32) -> portgate_proto::pcp::Request {
    use portgate_proto::pcp::{MapData, OpData, Request};
    Request {
        lifetime,
        client_address: IpAddr::V6(client),
        data: OpData::Map(MapData {
            nonce: [7; 12],
            protocol: 6,
            internal_port: port,
            external_port: 0,
            external_address: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }),
        options: Vec::new(),
    }
}

#[test]
fn pcp_over_ipv6_map_opens_and_closes_a_pinhole() -> anyhow::Result<()> {
    use portgate_proto::pcp::{OpData, ResultCode};
    let Some(t) = start()? else {
        return Ok(());
    };
    let me = host6(&t, 0);
    let port = 7070u16;
    assert!(!wan_reaches(&t, port));
    let r = pcp6(&t, 0, &pcp6_map(me, port, 600));
    assert_eq!(r.result, ResultCode::Success);
    let OpData::Map(m) = r.data else {
        panic!("not a MAP response: {:?}", r.data)
    };
    assert_eq!(
        (m.external_address, m.external_port),
        (IpAddr::V6(me), port)
    );
    assert!(wan_reaches(&t, port), "open after PCP MAP over IPv6");
    // Another host claiming this host's address: ADDRESS_MISMATCH.
    let r = pcp6(&t, 1, &pcp6_map(me, 7071, 600));
    assert_eq!(r.result, ResultCode::AddressMismatch);
    let r = pcp6(&t, 0, &pcp6_map(me, port, 0));
    assert_eq!(r.result, ResultCode::Success);
    assert!(!wan_reaches(&t, port), "closed after lifetime 0");
    Ok(())
}

#[test]
fn upnpc6_discovers_the_gateway_over_ssdp_v6() -> anyhow::Result<()> {
    let Some(t) = start()? else {
        return Ok(());
    };
    let ifname = t.lab.ifname(Host::Lan(0)).to_owned();
    let out = t
        .lab
        .exec_unchecked(Host::Lan(0), &["upnpc", "-6", "-m", ifname.as_str(), "-P"])?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("upnpc -6 -P:\n{text}");
    let loc = format!("http://[{}]:{HTTP_PORT}/rootDesc.xml", gw6(&t));
    assert!(text.contains(&loc), "discovered over IPv6 SSDP: {text}");
    Ok(())
}

#[test]
fn ipv6_disable_turns_the_ipv6_side_off() -> anyhow::Result<()> {
    let Some(t) = TestGateway::start_lab(1, true, "ipv6_disable=yes\nenable_natpmp=yes\n")? else {
        return Ok(());
    };
    let lines = t.daemon.as_ref().map(|d| d.lines()).unwrap_or_default();
    let listening = lines
        .iter()
        .find(|l| l.contains("listening on"))
        .cloned()
        .unwrap_or_default();
    assert!(!listening.is_empty(), "{lines:?}");
    assert!(
        !listening.contains("2001:db8"),
        "no IPv6 listener when ipv6_disable=yes: {listening}"
    );
    // The pinhole's would-be port stays closed from the WAN.
    let to = SocketAddr::new(IpAddr::V6(host6(&t, 0)), 8080);
    assert!(!t.lab.tcp_probe(
        Host::Wan,
        to,
        (Host::Lan(0), 8080),
        b"x",
        Duration::from_secs(1)
    )?);
    Ok(())
}

#[test]
fn subscribing_to_the_ipv6_firewall_service_gets_its_evented_variables() -> anyhow::Result<()> {
    let Some(t) = start()? else {
        return Ok(());
    };
    // UDA 1.1 4.1.2: the initial event carries every evented variable of the service.
    let sub = common::gena::Subscriber::start(&t, Duration::ZERO)?;
    let sid = common::gena::subscribe(&t, "/evt/IP6FCtl", sub.callback)?;
    assert!(sid.starts_with("uuid:"), "{sid}");
    let body = sub.wait_for("FirewallEnabled", Duration::from_secs(5))?;
    assert!(
        body.contains("<FirewallEnabled>1</FirewallEnabled>"),
        "{body}"
    );
    assert!(
        body.contains("<InboundPinholeAllowed>1</InboundPinholeAllowed>"),
        "{body}"
    );
    Ok(())
}
