//! IPv6 pinholes end to end, beyond the basic lifecycle of `e2e_ipv6.rs`: the real
//! `portgated` in a lab with IPv6 (LAN 2001:db8:1::/64, WAN 2001:db8:2::/64, routed,
//! standalone forward chain dropping what no pinhole opens).
//!
//! - a pinhole with a remote port (WANIPv6FirewallControl:1 AddPinhole `RemotePort`)
//!   lets datagrams from that remote port through and not from another port;
//! - GENA: a subscriber to WANIPv6FirewallControl gets FirewallEnabled and
//!   InboundPinholeAllowed when a SIGHUP turns `ipv6_disable` on and off again; a
//!   pinhole change alone changes no evented variable of the service (its SCPD events
//!   only those two), so it brings no NOTIFY;
//! - SIGHUP re-reads the IPv6 LAN prefixes: after a prefix is added to the LAN
//!   interface and the daemon reloaded, a PCP MAP from a host in the new prefix opens
//!   a pinhole the WAN host's connection goes through (refused before the reload).

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv6Addr, SocketAddr, UdpSocket};

use portgate_proto::pcp;
use std::time::Duration;

use common::gena::{subscribe, Subscriber};
use common::TestGateway;
use portgate_lab::Host;

const HTTP_PORT: u16 = 5000;
/// How long datagrams are sent for before a delivery is given up.
const PROBE: Duration = Duration::from_secs(3);

fn start(extra: &str) -> anyhow::Result<Option<TestGateway>> {
    TestGateway::start_lab(
        1,
        true,
        &format!("http_port={HTTP_PORT}\nlease_file6=@DIR@/leases6\n{extra}"),
    )
}

fn host6(t: &TestGateway) -> Ipv6Addr {
    t.lab.ipv6(Host::Lan(0)).expect("host ipv6")
}

/// Debian's `upnpc -6` on LAN host 0 against the gateway's IPv6 description.
fn upnpc(t: &TestGateway, args: &[&str]) -> String {
    t.upnpc6(Host::Lan(0), HTTP_PORT, args)
}

/// Whether UDP datagrams from the WAN host's port `src_port` reach LAN host 0's
/// `port` within [`PROBE`].
fn udp6_from(t: &TestGateway, src_port: u16, port: u16, payload: &[u8]) -> bool {
    let to = SocketAddr::new(IpAddr::V6(host6(t)), port);
    let src = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), src_port);
    t.lab
        .udp_probe_from((Host::Wan, src), to, (Host::Lan(0), port), payload, PROBE)
        .expect("probe")
}

#[test]
fn pinhole_remote_port_is_enforced() -> anyhow::Result<()> {
    let Some(t) = start("")? else {
        return Ok(());
    };
    let me = host6(&t).to_string();
    let wan = t.lab.ipv6(Host::Wan).expect("wan ipv6").to_string();
    let out = upnpc(&t, &["-A", &wan, "40001", &me, "8080", "UDP", "3600"]);
    assert!(
        out.to_ascii_lowercase().contains("pinhole id"),
        "AddPinhole: {out}"
    );
    assert!(
        t.lab.nft_ruleset()?.contains("40001"),
        "the kernel element carries the remote port"
    );
    assert!(
        udp6_from(&t, 40001, 8080, b"from the remote port"),
        "the pinhole's remote port gets through"
    );
    assert!(
        !udp6_from(&t, 40002, 8080, b"from another port"),
        "another remote port does not"
    );
    Ok(())
}

/// Rewrites the config with `ipv6_disable=yes` (or without it), sends SIGHUP and waits
/// for the reload to be logged.
fn reload_with_ipv6_disabled(t: &TestGateway, disabled: bool) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(t.config_file())?;
    let mut kept: String = text
        .lines()
        .filter(|l| !l.starts_with("ipv6_disable="))
        .map(|l| format!("{l}\n"))
        .collect();
    if disabled {
        kept.push_str("ipv6_disable=yes\n");
    }
    std::fs::write(t.config_file(), kept)?;
    t.reload()
}

#[test]
fn firewall_control_events_follow_sighup_ipv6_disable() -> anyhow::Result<()> {
    let Some(t) = start("")? else {
        return Ok(());
    };
    let sub = Subscriber::start(&t, Duration::ZERO)?;
    subscribe(&t, "/evt/IP6FCtl", sub.callback)?;
    let first = sub.wait_for(
        "<FirewallEnabled>1</FirewallEnabled>",
        Duration::from_secs(5),
    )?;
    assert!(
        first.contains("<InboundPinholeAllowed>1</InboundPinholeAllowed>"),
        "{first}"
    );

    // A pinhole changes neither evented variable: no NOTIFY.
    let me = host6(&t).to_string();
    let out = upnpc(&t, &["-A", "", "0", &me, "8081", "TCP", "3600"]);
    assert!(out.to_ascii_lowercase().contains("pinhole id"), "{out}");
    assert!(
        sub.wait_for("Firewall", Duration::from_secs(2)).is_err(),
        "no event for a pinhole change"
    );

    reload_with_ipv6_disabled(&t, true)?;
    let off = sub.wait_for(
        "<FirewallEnabled>0</FirewallEnabled>",
        Duration::from_secs(5),
    )?;
    assert!(
        off.contains("<InboundPinholeAllowed>0</InboundPinholeAllowed>"),
        "{off}"
    );
    let out = upnpc(&t, &["-A", "", "0", &me, "8082", "TCP", "3600"]);
    assert!(
        !out.to_ascii_lowercase().contains("pinhole id"),
        "refused while off: {out}"
    );

    reload_with_ipv6_disabled(&t, false)?;
    let on = sub.wait_for(
        "<FirewallEnabled>1</FirewallEnabled>",
        Duration::from_secs(5),
    )?;
    assert!(
        on.contains("<InboundPinholeAllowed>1</InboundPinholeAllowed>"),
        "{on}"
    );
    // A reload that changes nothing sends nothing.
    reload_with_ipv6_disabled(&t, false)?;
    assert!(
        sub.wait_for("Firewall", Duration::from_secs(2)).is_err(),
        "no event when nothing changed"
    );
    Ok(())
}

/// A PCP MAP for TCP `port` from `client` (bound as the source) in LAN host 0 to the
/// gateway's PCP port on its first LAN address; the result code, `None` without an
/// answer within 2 s.
fn pcp6_map(t: &TestGateway, client: Ipv6Addr, port: u16) -> Option<pcp::ResultCode> {
    let gw = SocketAddr::new(IpAddr::V6(t.lab.ipv6(Host::Gateway)?), pcp::SERVER_PORT);
    let req = pcp::Request {
        lifetime: 600,
        client_address: IpAddr::V6(client),
        data: pcp::OpData::Map(pcp::MapData {
            nonce: [6; 12],
            protocol: 6,
            internal_port: port,
            external_port: 0,
            external_address: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }),
        options: Vec::new(),
    }
    .to_bytes();
    let sock = t
        .lab
        .in_netns(Host::Lan(0), move || UdpSocket::bind((client, 0)))
        .ok()?
        .ok()?;
    sock.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    sock.send_to(&req, gw).ok()?;
    let mut buf = [0u8; 1100];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    Some(pcp::Response::parse(buf.get(..n)?).ok()?.result)
}

#[test]
fn sighup_rereads_the_ipv6_lan_prefixes() -> anyhow::Result<()> {
    let Some(t) = start("enable_natpmp=yes\n")? else {
        return Ok(());
    };
    // A second prefix on the LAN: the gateway and LAN host 0 get an address in it,
    // and the WAN host routes it through the gateway.
    let gw_lan = t.lab.gateway().lan.name.clone();
    let host_if = t.lab.iface(Host::Lan(0)).name.clone();
    let gw_wan6 = t
        .lab
        .gateway()
        .wan
        .ipv6
        .expect("gateway wan ipv6")
        .to_string();
    let new: Ipv6Addr = "2001:db8:3::2".parse()?;
    let ip = |host: Host, args: &[&str]| t.lab.exec(host, &[&["ip", "-6"], args].concat());
    ip(
        Host::Gateway,
        &["addr", "add", "2001:db8:3::1/64", "dev", &gw_lan, "nodad"],
    )?;
    ip(
        Host::Lan(0),
        &["addr", "add", "2001:db8:3::2/64", "dev", &host_if, "nodad"],
    )?;
    ip(
        Host::Wan,
        &["route", "add", "2001:db8:3::/64", "via", &gw_wan6],
    )?;
    let wan_reaches = |port: u16| {
        t.lab
            .tcp_probe(
                Host::Wan,
                SocketAddr::new(IpAddr::V6(new), port),
                (Host::Lan(0), port),
                b"new prefix",
                Duration::from_secs(2),
            )
            .expect("probe")
    };

    // Not a LAN host yet: no pinhole.
    let before = pcp6_map(&t, new, 8090);
    assert_ne!(before, Some(pcp::ResultCode::Success), "before the reload");
    assert!(!wan_reaches(8090), "closed before the reload");

    t.reload()?;
    assert_eq!(pcp6_map(&t, new, 8090), Some(pcp::ResultCode::Success));
    assert!(
        wan_reaches(8090),
        "the pinhole for the new prefix's host lets the WAN in"
    );
    Ok(())
}

/// Our table deleted, then recreated by the very next NAT-PMP request (which pushes
/// the IPv4 mappings only): the pinholes, which live in the same table, are pushed
/// again too, and the WAN host's datagrams reach the LAN host through the pinhole.
#[test]
fn pinholes_come_back_when_a_request_recreates_the_table() -> anyhow::Result<()> {
    let Some(t) = start("enable_natpmp=yes\n")? else {
        return Ok(());
    };
    let me = host6(&t).to_string();
    let wan = t.lab.ipv6(Host::Wan).expect("wan ipv6").to_string();
    let out = upnpc(&t, &["-A", &wan, "40001", &me, "8080", "UDP", "3600"]);
    assert!(out.to_ascii_lowercase().contains("pinhole id"), "{out}");
    assert!(udp6_from(&t, 40001, 8080, b"before"), "pinhole works");
    common::natpmpc_map(&t, 7500, 3600)?;

    let daemon = t.daemon.as_ref().expect("daemon");
    let mark = daemon.line_count();
    t.lab.exec(
        Host::Gateway,
        &["nft", "delete", "table", "inet", "portgate"],
    )?;
    common::natpmpc_map(&t, 7501, 3600)?;
    // Whichever came first (the request's recovery or the deletion notice), the
    // pinhole must be back.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let lines = daemon.lines();
        let after = lines.get(mark..).unwrap_or(&[]);
        if after
            .iter()
            .any(|l| l.contains("pushing the pinholes again") || l.contains("mappings restored"))
        {
            break;
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "no recovery logged");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(udp6_from(&t, 40001, 8080, b"after"), "pinhole back");
    Ok(())
}
