//! End-to-end tests of the UPnP IGD device of the real `portgated` binary in the
//! namespace lab (real nftables in the gateway namespace): Debian's `upnpc` and the
//! igd-next crate on the LAN host ask for mappings; the WAN host's probes prove them;
//! hostile HTTP gets its status codes and the device keeps serving.

// Test helpers: a failed lab step is a test failure.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use portgate_lab::{Host, Lab};

const PROBE: Duration = Duration::from_secs(2);

/// portgated with UPnP on HTTP port 5000, secure mode, NAT-PMP off, and `rules`.
fn start(lan_hosts: usize, rules: &[&str]) -> Option<common::TestGateway> {
    let mut conf =
        "enable_upnp=yes\nenable_natpmp=no\nhttp_port=5000\nsecure_mode=yes\n".to_owned();
    for r in rules {
        conf.push_str(r);
        conf.push('\n');
    }
    common::TestGateway::start(lan_hosts, &conf).expect("portgated in the lab")
}

fn url(lab: &Lab) -> String {
    format!("http://{}:5000/rootDesc.xml", lab.ipv4(Host::Gateway))
}

fn upnpc(lab: &Lab, host: Host, args: &[&str]) -> String {
    let mut full = vec!["upnpc", "-u"];
    let u = url(lab);
    full.push(&u);
    full.extend_from_slice(args);
    let out = lab.exec_unchecked(host, &full).expect("upnpc");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("upnpc {args:?}:\n{text}");
    text
}

fn tcp_reaches(lab: &Lab, eport: u16, iport: u16) -> bool {
    let ext = SocketAddr::from((lab.external_ipv4(), eport));
    lab.tcp_probe(Host::Wan, ext, (Host::Lan(0), iport), b"hello", PROBE)
        .expect("probe")
}

fn udp_reaches(lab: &Lab, eport: u16, iport: u16) -> bool {
    let ext = SocketAddr::from((lab.external_ipv4(), eport));
    lab.udp_probe(Host::Wan, ext, (Host::Lan(0), iport), b"hello", PROBE)
        .expect("probe")
}

/// Sends raw bytes to the device from `host` and returns the status of the answer (0
/// when the connection closed without one).
fn raw_status(lab: &Lab, host: Host, to: SocketAddr, bytes: Vec<u8>) -> u16 {
    lab.in_netns(host, move || {
        let Ok(mut s) = TcpStream::connect_timeout(&to, Duration::from_secs(2)) else {
            return 0;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(15)));
        let _ = s.write_all(&bytes);
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).unwrap_or(0);
        let text = String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned();
        text.split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    })
    .expect("netns")
}

/// The UPnP error codes a refusal gets: (foreign internal client, deny rule, deleting
/// another client's mapping).
struct RefusalCodes {
    foreign: &'static str,
    denied: &'static str,
    other_delete: &'static str,
}

#[test]
fn upnpc_maps_and_the_wan_host_gets_through() {
    // The default device is IGD:2 (as Debian's and OpenWrt's miniupnpd): WANIPConnection:2
    // refuses with 606 Action not authorized.
    upnpc_maps(
        &[],
        RefusalCodes {
            foreign: "606",
            denied: "606",
            other_delete: "606",
        },
    );
}

#[test]
fn upnpc_maps_through_the_igd1_device() {
    // force_igd_desc_v1=yes: WANIPConnection:1's codes, 718 and 714.
    upnpc_maps(
        &["force_igd_desc_v1=yes"],
        RefusalCodes {
            foreign: "718",
            denied: "718",
            other_delete: "714",
        },
    );
}

fn upnpc_maps(conf: &[&str], codes: RefusalCodes) {
    let mut lines = vec!["deny 2222 0.0.0.0/0 0-65535"];
    lines.extend_from_slice(conf);
    let Some(t) = start(2, &lines) else {
        return;
    };
    let lab = &t.lab;
    let lan0 = lab.ipv4(Host::Lan(0)).to_string();
    let lan1 = lab.ipv4(Host::Lan(1)).to_string();

    let s = upnpc(lab, Host::Lan(0), &["-s"]);
    assert!(
        s.contains(&format!("ExternalIPAddress = {}", lab.external_ipv4())),
        "{s}"
    );
    assert!(s.contains("Connected"), "{s}");

    assert!(!tcp_reaches(lab, 9000, 8080), "no mapping yet");
    let a = upnpc(lab, Host::Lan(0), &["-a", &lan0, "8080", "9000", "TCP"]);
    assert!(a.contains("is redirected to internal"), "{a}");
    assert!(tcp_reaches(lab, 9000, 8080), "TCP mapping works");

    let u = upnpc(lab, Host::Lan(0), &["-a", &lan0, "8081", "9001", "UDP"]);
    assert!(u.contains("is redirected to internal"), "{u}");
    assert!(udp_reaches(lab, 9001, 8081), "UDP mapping works");

    let l = upnpc(lab, Host::Lan(0), &["-l"]);
    assert!(l.contains("9000->") && l.contains("9001->"), "{l}");

    // Secure mode: another LAN host's address is refused.
    let third = upnpc(lab, Host::Lan(0), &["-a", &lan1, "80", "9100", "TCP"]);
    assert!(
        third.contains(&format!("code {}", codes.foreign)),
        "{third}"
    );
    // A deny rule.
    let denied = upnpc(lab, Host::Lan(0), &["-a", &lan0, "2222", "2222", "TCP"]);
    assert!(
        denied.contains(&format!("code {}", codes.denied)),
        "{denied}"
    );
    // Another client may not delete it.
    let other_del = upnpc(lab, Host::Lan(1), &["-d", "9000", "TCP"]);
    assert!(other_del.contains(codes.other_delete), "{other_del}");
    assert!(tcp_reaches(lab, 9000, 8080), "still mapped");

    // Refresh keeps working.
    let again = upnpc(lab, Host::Lan(0), &["-r", "8080", "TCP"]);
    assert!(again.contains("is redirected to internal"), "{again}");

    let d = upnpc(lab, Host::Lan(0), &["-d", "9000", "TCP"]);
    assert!(!d.contains("failed"), "{d}");
    assert!(!tcp_reaches(lab, 9000, 8080), "deleted mapping is closed");

    // IGD:2 actions are served with either description.
    let other = upnpc(lab, Host::Lan(1), &["-a", &lan1, "80", "9050", "TCP"]);
    assert!(other.contains("is redirected to internal"), "{other}");
    let n = upnpc(lab, Host::Lan(0), &["-n", &lan0, "8082", "9050", "TCP"]);
    assert!(
        n.contains(":9051 TCP is redirected"),
        "AddAny picks the nearest free port: {n}"
    );
    assert!(tcp_reaches(lab, 9051, 8082), "AddAny mapping works");
    let big_l = upnpc(lab, Host::Lan(0), &["-L"]);
    assert!(big_l.contains("9001"), "{big_l}");
}

#[test]
fn discovery_hostile_input_and_igd_next() {
    let Some(t) = start(1, &[]) else {
        return;
    };
    let lab = &t.lab;
    let gw_http = SocketAddr::from((lab.ipv4(Host::Gateway), 5000));
    let host = format!("Host: {}:5000\r\n", lab.ipv4(Host::Gateway));

    // SSDP discovery through multicast (no -u).
    let out = lab
        .exec_unchecked(Host::Lan(0), &["upnpc", "-l"])
        .expect("upnpc");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("rootDesc.xml"), "discovered: {text}");

    // Hostile HTTP: each gets its status, then the device still serves.
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (b"GET /rootDesc.xml HTTP/1.1\r\nHost: evil.example:5000\r\n\r\n".to_vec(), 400),
        (format!("GET /rootDesc.xml HTTP/1.1\r\n{host}X: {}\r\n\r\n", "a".repeat(9000)).into_bytes(), 431),
        (format!("POST /ctl/IPConn HTTP/1.1\r\n{host}\r\n").into_bytes(), 411),
        (format!("POST /ctl/IPConn HTTP/1.1\r\n{host}Content-Length: 99999999\r\n\r\n").into_bytes(), 413),
        (format!("POST /ctl/IPConn HTTP/1.1\r\n{host}Content-Length: -1\r\n\r\n").into_bytes(), 400),
        (format!("BREW /rootDesc.xml HTTP/1.1\r\n{host}\r\n").into_bytes(), 501),
        (format!("GET /ctl/IPConn HTTP/1.1\r\n{host}\r\n").into_bytes(), 405),
        (format!("GET /nope HTTP/1.1\r\n{host}\r\n").into_bytes(), 404),
        (
            format!("POST /ctl/IPConn HTTP/1.1\r\n{host}SOAPAction: \"\r\nContent-Length: 0\r\n\r\n").into_bytes(),
            500,
        ),
        (
            format!("SUBSCRIBE /evt/IPConn HTTP/1.1\r\n{host}NT: upnp:event\r\nCALLBACK: <http://{}:4000/>\r\n\r\n", lab.external_ipv4()).into_bytes(),
            412,
        ),
        (format!("GET /rootDesc.xml HTTP/1.1\r\n{host}").into_bytes(), 408),
    ];
    for (req, want) in cases {
        let got = raw_status(lab, Host::Lan(0), gw_http, req);
        assert_eq!(got, want);
    }
    let sub = format!(
        "SUBSCRIBE /evt/IPConn HTTP/1.1\r\n{host}NT: upnp:event\r\nCALLBACK: <http://{}:4000/>\r\nTIMEOUT: Second-infinite\r\n\r\n",
        lab.ipv4(Host::Lan(0))
    );
    assert_eq!(
        raw_status(lab, Host::Lan(0), gw_http, sub.into_bytes()),
        200
    );

    // Nothing is answered to the WAN host: no HTTP, no SSDP.
    let ext_http = SocketAddr::from((lab.external_ipv4(), 5000));
    assert_eq!(
        raw_status(
            lab,
            Host::Wan,
            ext_http,
            format!("GET /rootDesc.xml HTTP/1.1\r\n{host}\r\n").into_bytes()
        ),
        0
    );
    let ext = lab.external_ipv4();
    let ssdp_answer = lab
        .in_netns(Host::Wan, move || {
            let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
            s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
            let m = format!("M-SEARCH * HTTP/1.1\r\nHOST: {ext}:1900\r\nMAN: \"ssdp:discover\"\r\nST: ssdp:all\r\n\r\n");
            s.send_to(m.as_bytes(), (ext, 1900)).ok()?;
            let mut buf = [0u8; 1500];
            s.recv_from(&mut buf).ok().map(|(n, _)| n)
        })
        .expect("netns");
    assert_eq!(ssdp_answer, None, "no SSDP answer to the WAN host");

    // igd-next (blocking API) from the LAN host.
    let lan0 = lab.ipv4(Host::Lan(0));
    let mapped = lab
        .in_netns(Host::Lan(0), move || {
            let opts = igd_next::SearchOptions {
                timeout: Some(Duration::from_secs(3)),
                ..Default::default()
            };
            let gw = igd_next::search_gateway(opts).map_err(|e| e.to_string())?;
            let ext = gw.get_external_ip().map_err(|e| e.to_string())?;
            gw.add_port(
                igd_next::PortMappingProtocol::TCP,
                9300,
                SocketAddr::from((lan0, 8300)),
                600,
                "igd-next e2e",
            )
            .map_err(|e| e.to_string())?;
            Ok::<_, String>(ext)
        })
        .expect("netns");
    let ext_seen = mapped.expect("igd-next mapping");
    assert_eq!(ext_seen, std::net::IpAddr::V4(lab.external_ipv4()));
    assert!(tcp_reaches(lab, 9300, 8300), "igd-next mapping works");

    // And upnpc still works after all that.
    let s = upnpc(lab, Host::Lan(0), &["-l"]);
    assert!(s.contains("9300->"), "{s}");
}

/// The gateway's LAN interface holds two IPv4 addresses (a secondary or VRRP address)
/// and both are served: the SSDP group is joined once on the interface (a join per
/// address failed with "Address already in use", which turned SSDP off), so an
/// M-SEARCH from the LAN host is answered and `upnpc` finds the device by multicast and
/// maps through it.
#[test]
fn ssdp_is_served_on_an_interface_with_two_addresses() {
    let conf = "enable_upnp=yes\nenable_natpmp=no\nhttp_port=5000\nlistening_ip=10.77.0.254/24\n";
    let Some(t) = common::TestGateway::start_prepared(1, false, conf, |lab| {
        let lan_if = lab.gateway().lan.name.clone();
        lab.exec(
            Host::Gateway,
            &[
                "ip",
                "addr",
                "add",
                "10.77.0.254/24",
                "dev",
                lan_if.as_str(),
            ],
        )?;
        Ok(())
    })
    .expect("portgated in the lab") else {
        return;
    };
    let lab = &t.lab;
    let daemon = t.daemon.as_ref().expect("running");
    daemon
        .wait_for("ssdp bound to 0.0.0.0:1900", Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{e}:\n{}", daemon.output()));

    // `-i`: use the IGD although its external address (TEST-NET-3) is reserved.
    let lan0 = lab.ipv4(Host::Lan(0)).to_string();
    let out = lab
        .exec_unchecked(
            Host::Lan(0),
            &["upnpc", "-i", "-a", &lan0, "8400", "9400", "TCP"],
        )
        .expect("upnpc");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("is redirected to internal"),
        "discovered and mapped: {text}\n{}",
        daemon.output()
    );
    assert!(
        tcp_reaches(lab, 9400, 8400),
        "mapping made after multicast discovery"
    );
}
