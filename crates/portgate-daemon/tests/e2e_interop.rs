//! What third-party clients and scanners see of the real `portgated` binary in the
//! namespace lab, side by side with what miniupnpd shows them: search answers from
//! UDP 1900 (a connected-socket M-SEARCH, nmap's `upnp-info`), no port of ours reachable
//! from the WAN (a connect/probe loop and an nmap scan), an IGD:2 device by default that
//! still answers IGD:1 searches (async-upnp-client, upnpc), the presentation URL,
//! GetCommonLinkProperties from the WAN link's sysfs entries, and the default NOTIFY
//! timing (miniupnpd's: 900 s, max-age 1800).

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use anyhow::Context as _;
use portgate_lab::Host;

/// UPnP and NAT-PMP/PCP on, the HTTP port fixed; no IGD key: the default device.
const BASE: &str = "enable_upnp=yes\nenable_natpmp=yes\nhttp_port=5000\n";

const HTTP_PORT: u16 = 5000;

/// Whether a program is on PATH; outside CI a missing one skips that test, in CI it fails.
fn tool(name: &str) -> anyhow::Result<bool> {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()?
        .status
        .success();
    if !found && std::env::var("CI").is_ok_and(|v| v == "true") {
        anyhow::bail!("{name} missing: scripts/install-deps.sh installs it");
    }
    Ok(found)
}

/// The lab gateway (with IPv6 when `ipv6`) for a test that drives `program`: `None`
/// (the test is skipped) when the lab or, outside CI, the program is missing.
fn start_for(program: &str, ipv6: bool, conf: &str) -> anyhow::Result<Option<common::TestGateway>> {
    if !tool(program)? {
        return Ok(None);
    }
    common::TestGateway::start_lab(1, ipv6, conf)
}

fn unspecified_for(to: SocketAddr) -> SocketAddr {
    match to {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    }
}

/// A unicast M-SEARCH for `st` sent from a UDP socket `connect()`ed to `to`, as nmap's
/// upnp-info sends it: the kernel hands that socket only datagrams from `to` itself.
fn connected_search(
    t: &common::TestGateway,
    to: SocketAddr,
    st: &str,
) -> anyhow::Result<Option<String>> {
    let msg =
        format!("M-SEARCH * HTTP/1.1\r\nHOST: {to}\r\nMAN: \"ssdp:discover\"\r\nST: {st}\r\n\r\n");
    t.lab
        .in_netns(Host::Lan(0), move || -> anyhow::Result<Option<String>> {
            let s = UdpSocket::bind(unspecified_for(to))?;
            s.connect(to)?;
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            s.send(msg.as_bytes())?;
            let mut buf = [0u8; 2048];
            Ok(s.recv(&mut buf)
                .ok()
                .map(|n| String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned()))
        })?
}

/// Every answer (source, text) to a multicast M-SEARCH for `st` from the LAN host,
/// collected for `wait`.
fn multicast_search(
    t: &common::TestGateway,
    st: &str,
    wait: Duration,
) -> anyhow::Result<Vec<(SocketAddr, String)>> {
    let msg = format!(
        "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: {st}\r\n\r\n"
    );
    t.lab.in_netns(
        Host::Lan(0),
        move || -> anyhow::Result<Vec<(SocketAddr, String)>> {
            let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
            s.set_read_timeout(Some(Duration::from_millis(200)))?;
            s.send_to(msg.as_bytes(), (Ipv4Addr::new(239, 255, 255, 250), 1900))?;
            let end = std::time::Instant::now() + wait;
            let mut out = Vec::new();
            let mut buf = [0u8; 2048];
            while std::time::Instant::now() < end {
                if let Ok((n, from)) = s.recv_from(&mut buf) {
                    out.push((
                        from,
                        String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned(),
                    ));
                }
            }
            Ok(out)
        },
    )?
}

/// The value of header `name` in an SSDP message.
fn header(msg: &str, name: &str) -> Option<String> {
    msg.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

fn run(t: &common::TestGateway, host: Host, args: &[&str]) -> anyhow::Result<String> {
    let out = t.lab.exec_unchecked(host, args)?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{args:?}:\n{text}");
    Ok(text)
}

#[test]
fn search_answers_come_from_port_1900_to_a_connected_socket_ipv4_and_ipv6() -> anyhow::Result<()> {
    let Some(t) = common::TestGateway::start_lab(1, true, BASE)? else {
        return Ok(());
    };
    let gw6 = t.lab.ipv6(Host::Gateway).context("lab without IPv6")?;
    for to in [
        SocketAddr::from((t.lan_address(), 1900)),
        SocketAddr::from((gw6, 1900)),
    ] {
        let answer = connected_search(&t, to, "upnp:rootdevice")?;
        let answer = answer
            .with_context(|| format!("no search answer reached a socket connected to {to}"))?;
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert_eq!(header(&answer, "ST").as_deref(), Some("upnp:rootdevice"));
    }
    // The answers to a multicast search leave from 1900 too (a host firewall that only
    // lets in replies to what the host sent sees them as replies).
    let answers = multicast_search(&t, "upnp:rootdevice", Duration::from_millis(1500))?;
    assert!(!answers.is_empty(), "no answer to a multicast search");
    for (from, _) in &answers {
        assert_eq!(*from, SocketAddr::from((t.lan_address(), 1900)));
    }
    Ok(())
}

#[test]
fn nmap_upnp_info_reads_the_device() -> anyhow::Result<()> {
    let Some(t) = start_for("nmap", false, BASE)? else {
        return Ok(());
    };
    let gw = t.lan_address().to_string();
    let out = run(
        &t,
        Host::Lan(0),
        &[
            "nmap",
            "-n",
            "-Pn",
            "-sU",
            "-p",
            "1900",
            "--script",
            "upnp-info",
            &gw,
        ],
    )?;
    let location = format!("Location: http://{gw}:{HTTP_PORT}/rootDesc.xml");
    assert!(
        out.contains(&location),
        "nmap's upnp-info found no device:\n{out}"
    );
    Ok(())
}

/// Whether a TCP connection from the WAN host to `to` is accepted.
fn wan_tcp_open(t: &common::TestGateway, to: SocketAddr) -> anyhow::Result<bool> {
    Ok(t.lab.in_netns(Host::Wan, move || {
        TcpStream::connect_timeout(&to, Duration::from_secs(2)).is_ok()
    })?)
}

/// Whether UDP port `to` answers the WAN host's probe `req` with ICMP port unreachable
/// (nmap: "closed"). A few tries, a second apart, because the kernel rate-limits ICMP
/// errors per destination.
fn wan_udp_closed(t: &common::TestGateway, to: SocketAddr, req: Vec<u8>) -> anyhow::Result<bool> {
    t.lab.in_netns(Host::Wan, move || -> anyhow::Result<bool> {
        let s = UdpSocket::bind(unspecified_for(to))?;
        s.connect(to)?;
        s.set_read_timeout(Some(Duration::from_secs(1)))?;
        let mut buf = [0u8; 2048];
        for _ in 0..4 {
            let _ = s.send(&req);
            match s.recv(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Ok(true),
                Ok(_) => return Ok(false),
                Err(_) => {}
            }
        }
        Ok(false)
    })?
}

/// Routes the LAN subnet via the gateway's WAN address on the WAN host, as a WAN
/// neighbour (the ISP's router) can.
fn route_lan_via_gateway(t: &common::TestGateway) -> anyhow::Result<()> {
    let gw = t.lab.gateway();
    let mask = u32::MAX
        .checked_shl(32 - u32::from(gw.lan.ipv4_prefix))
        .unwrap_or(0);
    let net = Ipv4Addr::from(u32::from(gw.lan.ipv4) & mask);
    let lan = format!("{net}/{}", gw.lan.ipv4_prefix);
    let via = gw.wan.ipv4.to_string();
    t.lab
        .exec(Host::Wan, &["ip", "route", "replace", &lan, "via", &via])?;
    Ok(())
}

/// The addresses a WAN scanner aims at: the gateway's LAN and WAN addresses, IPv4 and IPv6.
fn scan_targets(t: &common::TestGateway) -> anyhow::Result<Vec<IpAddr>> {
    let gw = t.lab.gateway();
    Ok(vec![
        IpAddr::V4(gw.lan.ipv4),
        IpAddr::V4(gw.wan.ipv4),
        IpAddr::V6(gw.lan.ipv6.context("no LAN IPv6")?),
        IpAddr::V6(gw.wan.ipv6.context("no WAN IPv6")?),
    ])
}

#[test]
fn from_the_wan_every_port_of_ours_is_closed_ipv4_and_ipv6() -> anyhow::Result<()> {
    let Some(t) = common::TestGateway::start_lab(1, true, BASE)? else {
        return Ok(());
    };
    route_lan_via_gateway(&t)?;
    // Controls: the LAN host reaches every one of them.
    let lan_http = SocketAddr::from((t.lan_address(), HTTP_PORT));
    assert!(t.lab.in_netns(Host::Lan(0), move || {
        TcpStream::connect_timeout(&lan_http, Duration::from_secs(2)).is_ok()
    })?);
    let natpmp_probe = vec![0u8, 0];
    let msearch = b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nST: ssdp:all\r\n\r\n".to_vec();
    for ip in scan_targets(&t)? {
        // The WAN host's bytes reach the gateway at this address (ping answers).
        let ping = run(
            &t,
            Host::Wan,
            &["ping", "-c", "1", "-W", "2", &ip.to_string()],
        )?;
        assert!(
            ping.contains("1 received"),
            "{ip} unreachable from the WAN host"
        );
        let http = SocketAddr::new(ip, HTTP_PORT);
        assert!(!wan_tcp_open(&t, http)?, "{http}/tcp open from the WAN");
        let pmp = SocketAddr::new(ip, 5351);
        assert!(
            wan_udp_closed(&t, pmp, natpmp_probe.clone())?,
            "{pmp}/udp not closed from the WAN"
        );
        let ssdp = SocketAddr::new(ip, 1900);
        assert!(
            wan_udp_closed(&t, ssdp, msearch.clone())?,
            "{ssdp}/udp not closed from the WAN"
        );
    }
    Ok(())
}

#[test]
fn nmap_from_the_wan_finds_no_port_of_ours_open() -> anyhow::Result<()> {
    let Some(t) = start_for("nmap", true, BASE)? else {
        return Ok(());
    };
    route_lan_via_gateway(&t)?;
    for ip in scan_targets(&t)? {
        let target = ip.to_string();
        let mut args = vec![
            "nmap",
            "-n",
            "-Pn",
            "-sS",
            "-sU",
            "--max-retries",
            "3",
            "-p",
            "T:5000,U:1900,U:5351",
        ];
        if ip.is_ipv6() {
            args.push("-6");
        }
        args.push(&target);
        let out = run(&t, Host::Wan, &args)?;
        assert!(out.contains("Nmap done: 1 IP address (1 host up)"), "{out}");
        let open: Vec<&str> = out
            .lines()
            .filter(|l| l.contains("/tcp ") || l.contains("/udp "))
            .filter(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|s| s.starts_with("open"))
            })
            .collect();
        assert!(
            open.is_empty(),
            "open from the WAN at {ip}: {open:?}\n{out}"
        );
    }
    Ok(())
}

const IGD1: &str = "urn:schemas-upnp-org:device:InternetGatewayDevice:1";
const IGD2: &str = "urn:schemas-upnp-org:device:InternetGatewayDevice:2";
const WANIP1: &str = "urn:schemas-upnp-org:service:WANIPConnection:1";
const WANIP2: &str = "urn:schemas-upnp-org:service:WANIPConnection:2";

/// An HTTP exchange from the LAN host with the device; returns the whole answer.
fn http(t: &common::TestGateway, req: String) -> anyhow::Result<String> {
    let to = SocketAddr::from((t.lan_address(), HTTP_PORT));
    t.lab
        .in_netns(Host::Lan(0), move || -> anyhow::Result<String> {
            let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(2))?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(req.as_bytes())?;
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out);
            Ok(String::from_utf8_lossy(&out).into_owned())
        })?
}

fn root_description(t: &common::TestGateway) -> anyhow::Result<String> {
    http(
        t,
        format!(
            "GET /rootDesc.xml HTTP/1.1\r\nHost: {}:{HTTP_PORT}\r\nConnection: close\r\n\r\n",
            t.lan_address()
        ),
    )
}

/// A SOAP call from the LAN host; returns the whole HTTP answer.
fn soap(
    t: &common::TestGateway,
    path: &str,
    service: &str,
    action: &str,
) -> anyhow::Result<String> {
    let body = format!(
        "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>\
         <u:{action} xmlns:u=\"{service}\"></u:{action}></s:Body></s:Envelope>\r\n"
    );
    http(
        t,
        format!(
            "POST {path} HTTP/1.1\r\nHost: {}:{HTTP_PORT}\r\nContent-Type: text/xml; charset=\"utf-8\"\r\n\
             SOAPAction: \"{service}#{action}\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            t.lan_address(),
            body.len()
        ),
    )
}

/// The text of element `name` in an XML answer.
fn element(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let len = xml.get(start..)?.find(&format!("</{name}>"))?;
    xml.get(start..start + len).map(str::to_owned)
}

/// Layer3Forwarding's GetDefaultConnectionService: (the value, the whole answer).
fn default_connection_service(t: &common::TestGateway) -> anyhow::Result<(String, String)> {
    let l3 = soap(
        t,
        "/ctl/L3F",
        "urn:schemas-upnp-org:service:Layer3Forwarding:1",
        "GetDefaultConnectionService",
    )?;
    let dcs = element(&l3, "NewDefaultConnectionService").unwrap_or_default();
    Ok((dcs, l3))
}

/// Asserts that the root description announces `device` with `service`.
fn assert_announces(t: &common::TestGateway, device: &str, service: &str) -> anyhow::Result<()> {
    let desc = root_description(t)?;
    assert!(
        desc.contains(&format!("<deviceType>{device}</deviceType>"))
            && desc.contains(&format!("<serviceType>{service}</serviceType>")),
        "{desc}"
    );
    Ok(())
}

#[test]
fn igd2_by_default_igd1_searches_still_answered() -> anyhow::Result<()> {
    let Some(t) = common::TestGateway::start(1, BASE)? else {
        return Ok(());
    };
    assert_announces(&t, IGD2, WANIP2)?;
    // UDA 1.1 §1.3.2: a device answers searches for older versions of its types, and
    // the answer's ST (and so its USN) carries the version searched for.
    for st in [IGD1, IGD2, WANIP1, WANIP2] {
        let answers = multicast_search(&t, st, Duration::from_millis(1500))?;
        let (_, a) = answers
            .first()
            .with_context(|| format!("no answer to a search for {st}"))?;
        assert_eq!(header(a, "ST").as_deref(), Some(st), "{a}");
        let usn = header(a, "USN").unwrap_or_default();
        assert!(
            usn.starts_with("uuid:") && usn.ends_with(&format!("::{st}")),
            "{a}"
        );
    }
    // Layer3Forwarding names the connection device of the version announced.
    let (dcs, l3) = default_connection_service(&t)?;
    assert!(
        dcs.contains(":WANConnectionDevice:2,urn:upnp-org:serviceId:WANIPConn1"),
        "{l3}"
    );

    // upnpc against the IGD:2 default: lease 0 is the IGD:2 maximum, 604800 s.
    let url = format!("http://{}:{HTTP_PORT}/rootDesc.xml", t.lan_address());
    let lan0 = t.lab.ipv4(Host::Lan(0)).to_string();
    let a = run(
        &t,
        Host::Lan(0),
        &["upnpc", "-u", &url, "-a", &lan0, "8080", "9000", "TCP", "0"],
    )?;
    assert!(a.contains("is redirected to internal"), "{a}");
    let l = run(&t, Host::Lan(0), &["upnpc", "-u", &url, "-l"])?;
    let line = l
        .lines()
        .find(|l| l.contains("9000->"))
        .with_context(|| l.clone())?;
    let lease: u32 = line
        .split_whitespace()
        .last()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!((604_790..=604_800).contains(&lease), "{line}");
    Ok(())
}

#[test]
fn force_igd_desc_v1_gives_the_igd1_device() -> anyhow::Result<()> {
    let Some(t) = common::TestGateway::start(1, &format!("{BASE}force_igd_desc_v1=yes\n"))? else {
        return Ok(());
    };
    assert_announces(&t, IGD1, WANIP1)?;
    assert!(multicast_search(&t, IGD2, Duration::from_millis(1200))?.is_empty());
    let (dcs, l3) = default_connection_service(&t)?;
    assert!(dcs.contains(":WANConnectionDevice:1,"), "{l3}");
    Ok(())
}

#[test]
fn async_upnp_client_finds_and_drives_the_igd2_device() -> anyhow::Result<()> {
    let Some(t) = start_for("upnp-client", false, BASE)? else {
        return Ok(());
    };
    let gw = t.lan_address().to_string();
    let lan0 = t.lab.ipv4(Host::Lan(0)).to_string();
    let found = run(
        &t,
        Host::Lan(0),
        &[
            "upnp-client",
            "--timeout",
            "3",
            "search",
            "--bind",
            &lan0,
            "--target",
            &gw,
            "--search_target",
            IGD2,
        ],
    )?;
    let url = format!("http://{gw}:{HTTP_PORT}/rootDesc.xml");
    assert!(found.contains(&url) && found.contains(IGD2), "{found}");
    let ext = run(
        &t,
        Host::Lan(0),
        &[
            "upnp-client",
            "--timeout",
            "5",
            "call-action",
            &url,
            "WANIPConn1/GetExternalIPAddress",
        ],
    )?;
    assert!(ext.contains(&t.lab.external_ipv4().to_string()), "{ext}");
    Ok(())
}

#[test]
fn presentation_url_defaults_to_the_lan_address() -> anyhow::Result<()> {
    let Some(t) = common::TestGateway::start(1, BASE)? else {
        return Ok(());
    };
    let desc = root_description(&t)?;
    let want = format!(
        "<presentationURL>http://{}/</presentationURL>",
        t.lan_address()
    );
    assert!(desc.contains(&want), "{desc}");
    Ok(())
}

#[test]
fn common_link_properties_follow_the_wan_link() -> anyhow::Result<()> {
    let Some(t) = common::TestGateway::start(1, &format!("{BASE}bitrate_up=5000000\n"))? else {
        return Ok(());
    };
    let wan = t.lab.gateway().wan.name.clone();
    let speed = t
        .lab
        .sh(Host::Gateway, &format!("cat /sys/class/net/{wan}/speed"))?;
    let mbits: u64 = speed.trim().parse().context("WAN link speed")?;
    let expect_down = (mbits * 1_000_000).min(u64::from(u32::MAX));
    let cif = "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1";
    let c = soap(&t, "/ctl/CmnIfCfg", cif, "GetCommonLinkProperties")?;
    assert_eq!(
        element(&c, "NewLayer1DownstreamMaxBitRate"),
        Some(expect_down.to_string()),
        "{c}"
    );
    assert_eq!(
        element(&c, "NewLayer1UpstreamMaxBitRate").as_deref(),
        Some("5000000"),
        "{c}"
    );
    assert_eq!(
        element(&c, "NewWANAccessType").as_deref(),
        Some("Ethernet"),
        "{c}"
    );
    assert_eq!(
        element(&c, "NewPhysicalLinkStatus").as_deref(),
        Some("Up"),
        "{c}"
    );
    // upnpc reads the same figures.
    let url = format!("http://{}:{HTTP_PORT}/rootDesc.xml", t.lan_address());
    let s = run(&t, Host::Lan(0), &["upnpc", "-u", &url, "-s"])?;
    assert!(
        s.contains(&format!("MaxBitRateDown : {expect_down} bps")),
        "{s}"
    );
    assert!(s.contains("MaxBitRateUp 5000000 bps"), "{s}");
    // The link goes down: so does PhysicalLinkStatus.
    t.lab
        .exec(Host::Gateway, &["ip", "link", "set", &wan, "down"])?;
    let c = soap(&t, "/ctl/CmnIfCfg", cif, "GetCommonLinkProperties")?;
    assert_eq!(
        element(&c, "NewPhysicalLinkStatus").as_deref(),
        Some("Down"),
        "{c}"
    );
    Ok(())
}

#[test]
fn announcements_keep_miniupnpds_default_timing() -> anyhow::Result<()> {
    // A passive listener on the LAN host, joined before the daemon starts.
    let listener = std::cell::RefCell::new(None);
    // `_gw` keeps the lab and the daemon up to the end of the test.
    let Some(_gw) = common::TestGateway::start_prepared(1, false, BASE, |lab| {
        let host = lab.ipv4(Host::Lan(0));
        let s = lab.in_netns(Host::Lan(0), move || -> anyhow::Result<UdpSocket> {
            let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
            s.set_reuse_address(true)?;
            s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, 1900)).into())?;
            s.join_multicast_v4(&Ipv4Addr::new(239, 255, 255, 250), &host)?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            Ok(s.into())
        })??;
        *listener.borrow_mut() = Some(s);
        Ok(())
    })?
    else {
        return Ok(());
    };
    let s = listener.borrow_mut().take().context("no listener")?;
    let mut buf = [0u8; 2048];
    let (n, _) = s.recv_from(&mut buf).context("no NOTIFY at start-up")?;
    let notify = String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned();
    assert!(notify.starts_with("NOTIFY * HTTP/1.1"), "{notify}");
    // notify_interval unset: miniupnpd's 900 s, so max-age twice that.
    assert_eq!(
        header(&notify, "CACHE-CONTROL").as_deref(),
        Some("max-age=1800"),
        "{notify}"
    );
    Ok(())
}
