//! End-to-end tests of the real `portgated` binary in the namespace lab: UPnP
//! IGD (Debian's `upnpc`), NAT-PMP (`natpmpc`) and PCP (a request built with
//! portgate-proto) on the LAN host, permission rules shared by the three
//! protocols, silence towards the WAN host, SIGHUP reload and kill -9 restart.
//! Every mapping is proven by bytes from the WAN host to the external address
//! arriving at the LAN host (or not arriving, when it must be closed).

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use portgate_lab::{Host, Signal};
use portgate_proto::pcp;

/// How long a probe waits for its bytes.
const PROBE: Duration = Duration::from_secs(2);

/// The HTTP port the tests configure.
const HTTP_PORT: u16 = 5000;

/// UPnP and NAT-PMP/PCP on; a fixed HTTP port for `upnpc -u`.
const BASE: &str = "enable_upnp=yes\nenable_natpmp=yes\nhttp_port=5000\n";

/// The root description URL on the gateway's LAN address.
fn root_url(t: &common::TestGateway) -> String {
    format!("http://{}:{HTTP_PORT}/rootDesc.xml", t.lan_address())
}

/// Runs a client on the LAN host; returns (exit success, stdout + stderr).
fn run_lan(t: &common::TestGateway, args: &[&str]) -> anyhow::Result<(bool, String)> {
    let out = t.lab.exec_unchecked(Host::Lan(0), args)?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{args:?}:\n{text}");
    Ok((out.status.success(), text))
}

/// `upnpc -u <root description> args...` on the LAN host.
fn upnpc(t: &common::TestGateway, args: &[&str]) -> anyhow::Result<String> {
    let url = root_url(t);
    let mut full = vec!["upnpc", "-u", url.as_str()];
    full.extend_from_slice(args);
    Ok(run_lan(t, &full)?.1)
}

/// `natpmpc -g <gateway LAN address> args...` on the LAN host.
fn natpmpc(t: &common::TestGateway, args: &[&str]) -> anyhow::Result<(bool, String)> {
    let gw = t.lan_address().to_string();
    let mut full = vec!["natpmpc", "-g", gw.as_str()];
    full.extend_from_slice(args);
    run_lan(t, &full)
}

/// The external address and `port`.
fn ext(t: &common::TestGateway, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(t.lab.external_ipv4()), port)
}

/// Whether a TCP connection from the WAN host to external `eport` delivers
/// its bytes to the LAN host's `iport`.
fn tcp_reaches(t: &common::TestGateway, eport: u16, iport: u16) -> anyhow::Result<bool> {
    Ok(t.lab.tcp_probe(
        Host::Wan,
        ext(t, eport),
        (Host::Lan(0), iport),
        b"hello tcp",
        PROBE,
    )?)
}

/// Sends `req` from `host` to `to` over UDP and waits up to `wait` for one
/// datagram back.
fn udp_exchange(
    t: &common::TestGateway,
    host: Host,
    to: SocketAddr,
    req: &[u8],
    wait: Duration,
) -> anyhow::Result<Option<Vec<u8>>> {
    let sock = t
        .lab
        .in_netns(host, || UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)))??;
    sock.set_read_timeout(Some(wait))?;
    sock.send_to(req, to)?;
    let mut buf = [0u8; 2048];
    match sock.recv_from(&mut buf) {
        Ok((n, _)) => Ok(Some(buf.get(..n).unwrap_or_default().to_vec())),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Sends an HTTP request from `host` to `to`; returns the status code of the
/// answer, or `None` when the connection is refused, times out, or closes
/// without an answer.
fn http_status(
    t: &common::TestGateway,
    host: Host,
    to: SocketAddr,
    req: String,
) -> anyhow::Result<Option<u16>> {
    Ok(t.lab.in_netns(host, move || {
        let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(2)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
        s.write_all(req.as_bytes()).ok()?;
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).ok()?;
        let text = String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned();
        text.split(' ').nth(1).and_then(|c| c.parse().ok())
    })?)
}

/// A PCP MAP request for TCP `port` -> `port` from `client`.
fn pcp_map(client: Ipv4Addr, port: u16, options: Vec<pcp::PcpOption>) -> pcp::Request {
    pcp::Request {
        lifetime: 600,
        client_address: IpAddr::V4(client),
        data: pcp::OpData::Map(pcp::MapData {
            nonce: [7u8; 12],
            protocol: 6,
            internal_port: port,
            external_port: port,
            external_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }),
        options,
    }
}

/// An SSDP M-SEARCH for every device, addressed to `to`.
fn msearch(to: SocketAddr) -> String {
    format!(
        "M-SEARCH * HTTP/1.1\r\nHOST: {to}\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\n\
         ST: ssdp:all\r\n\r\n"
    )
}

/// The raw NAT-PMP TCP mapping request for `port` -> `port`, 3600 s.
fn natpmp_tcp_request(port: u16) -> Vec<u8> {
    let mut r = vec![0u8, 2, 0, 0];
    r.extend_from_slice(&port.to_be_bytes());
    r.extend_from_slice(&port.to_be_bytes());
    r.extend_from_slice(&3600u32.to_be_bytes());
    r
}

#[test]
fn upnpc_add_list_delete_against_the_binary() -> anyhow::Result<()> {
    let Some(t) = common::TestGateway::start(1, BASE)? else {
        return Ok(());
    };
    let lan0 = t.lab.ipv4(Host::Lan(0)).to_string();

    let s = upnpc(&t, &["-s"])?;
    assert!(
        s.contains(&format!("ExternalIPAddress = {}", t.lab.external_ipv4())),
        "{s}"
    );
    assert!(s.contains("Connected"), "{s}");

    assert!(!tcp_reaches(&t, 8080, 9000)?, "closed before any mapping");
    let a = upnpc(&t, &["-a", &lan0, "9000", "8080", "TCP"])?;
    assert!(a.contains("is redirected to internal"), "{a}");
    assert!(
        a.contains(&format!("{lan0}:9000")),
        "redirected to the LAN host: {a}"
    );
    assert!(tcp_reaches(&t, 8080, 9000)?, "TCP through the UPnP mapping");

    let l = upnpc(&t, &["-l"])?;
    assert!(l.contains(&format!("8080->{lan0}:9000")), "{l}");

    let d = upnpc(&t, &["-d", "8080", "TCP"])?;
    assert!(!d.contains("failed"), "{d}");
    assert!(!tcp_reaches(&t, 8080, 9000)?, "deleted mapping is closed");
    let l = upnpc(&t, &["-l"])?;
    assert!(!l.contains("8080->"), "{l}");
    Ok(())
}

/// The external port of a NAT-PMP mapping answer (opcode 130 or 129).
fn natpmp_external_port(r: &[u8]) -> Option<u16> {
    let b = r.get(10..12)?;
    Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
}

#[test]
fn a_deny_rule_binds_upnp_natpmp_and_pcp() -> anyhow::Result<()> {
    // External ports 8000-8100 for everyone; every external port for internal 8300.
    let config = format!("{BASE}deny 8000-8100 0.0.0.0/0 0-65535\ndeny 0-65535 0.0.0.0/0 8300\n");
    let Some(t) = common::TestGateway::start(1, &config)? else {
        return Ok(());
    };
    let client = t.lab.ipv4(Host::Lan(0));
    let lan0 = client.to_string();
    let pmp = SocketAddr::new(IpAddr::V4(t.lan_address()), 5351);
    let pcp_to = SocketAddr::new(IpAddr::V4(t.lan_address()), pcp::SERVER_PORT);

    // UPnP, IGD:2 description (the default): 606 Action not authorized.
    let a = upnpc(&t, &["-a", &lan0, "8050", "8050", "TCP"])?;
    assert!(a.contains("failed with code 606"), "{a}");
    assert!(!a.contains("is redirected to internal"), "{a}");
    assert!(!tcp_reaches(&t, 8050, 8050)?, "UPnP opened nothing");

    // NAT-PMP asking for external 8050: not granted. The server may assign
    // another external port (RFC 6886 section 3.3), but never one in the range.
    let r = udp_exchange(&t, Host::Lan(0), pmp, &natpmp_tcp_request(8050), PROBE)?
        .ok_or_else(|| anyhow::anyhow!("no NAT-PMP answer"))?;
    match r.get(..4) {
        Some([0, 130, 0, 2]) => {}
        Some([0, 130, 0, 0]) => {
            let e = natpmp_external_port(&r).unwrap_or(0);
            assert!(!(8000..=8100).contains(&e), "denied port granted: {r:?}");
            assert!(tcp_reaches(&t, e, 8050)?, "the port it assigned works");
        }
        _ => panic!("unexpected NAT-PMP answer {r:?}"),
    }
    let (_, out) = natpmpc(&t, &["-a", "8050", "8050", "tcp", "3600"])?;
    assert!(!out.contains("Mapped public port 8050 "), "{out}");
    assert!(
        !tcp_reaches(&t, 8050, 8050)?,
        "NAT-PMP opened nothing in the range"
    );

    // PCP MAP suggesting 8050: never granted; with PREFER_FAILURE a failure.
    let req = pcp_map(client, 8050, vec![]);
    let r = udp_exchange(&t, Host::Lan(0), pcp_to, &req.to_bytes(), PROBE)?
        .ok_or_else(|| anyhow::anyhow!("no PCP answer"))?;
    let resp = pcp::Response::parse(&r)?;
    if resp.result == pcp::ResultCode::Success {
        let pcp::OpData::Map(m) = &resp.data else {
            panic!("not a MAP answer: {resp:?}");
        };
        assert!(!(8000..=8100).contains(&m.external_port), "{resp:?}");
    } else {
        assert_eq!(resp.result, pcp::ResultCode::NotAuthorized, "{resp:?}");
    }
    let mut strict = pcp_map(client, 8050, vec![pcp::PcpOption::PreferFailure]);
    if let pcp::OpData::Map(m) = &mut strict.data {
        m.nonce = [8; 12];
        m.internal_port = 8051;
    }
    let r = udp_exchange(&t, Host::Lan(0), pcp_to, &strict.to_bytes(), PROBE)?
        .ok_or_else(|| anyhow::anyhow!("no PCP answer"))?;
    let resp = pcp::Response::parse(&r)?;
    assert!(
        matches!(
            resp.result,
            pcp::ResultCode::NotAuthorized | pcp::ResultCode::CannotProvideExternal
        ),
        "{resp:?}"
    );
    assert!(
        !tcp_reaches(&t, 8050, 8050)?,
        "PCP opened nothing in the range"
    );

    // Internal port 8300 is denied on every external port: all three refuse.
    let a = upnpc(&t, &["-a", &lan0, "8300", "8300", "TCP"])?;
    assert!(a.contains("failed with code 606"), "{a}");
    let r = udp_exchange(&t, Host::Lan(0), pmp, &natpmp_tcp_request(8300), PROBE)?
        .ok_or_else(|| anyhow::anyhow!("no NAT-PMP answer"))?;
    assert_eq!(
        r.get(..4),
        Some(&[0u8, 130, 0, 2][..]),
        "NOT_AUTHORIZED {r:?}"
    );
    let (_, out) = natpmpc(&t, &["-a", "8300", "8300", "tcp", "3600"])?;
    assert!(!out.contains("Mapped public port"), "{out}");
    let r = udp_exchange(
        &t,
        Host::Lan(0),
        pcp_to,
        &pcp_map(client, 8300, vec![]).to_bytes(),
        PROBE,
    )?
    .ok_or_else(|| anyhow::anyhow!("no PCP answer"))?;
    let resp = pcp::Response::parse(&r)?;
    assert_eq!(resp.result, pcp::ResultCode::NotAuthorized, "{resp:?}");
    assert!(!tcp_reaches(&t, 8300, 8300)?, "nothing opened for 8300");

    // Outside the rules, the same clients still map (the rules are what refused).
    let a = upnpc(&t, &["-a", &lan0, "8200", "8200", "TCP"])?;
    assert!(a.contains("is redirected to internal"), "{a}");
    assert!(tcp_reaches(&t, 8200, 8200)?);
    let (ok, out) = natpmpc(&t, &["-a", "8201", "8201", "tcp", "3600"])?;
    assert!(ok && out.contains("Mapped public port 8201"), "{out}");
    assert!(tcp_reaches(&t, 8201, 8201)?);
    let r = udp_exchange(
        &t,
        Host::Lan(0),
        pcp_to,
        &pcp_map(client, 8202, vec![]).to_bytes(),
        PROBE,
    )?
    .ok_or_else(|| anyhow::anyhow!("no PCP answer"))?;
    assert_eq!(pcp::Response::parse(&r)?.result, pcp::ResultCode::Success);
    assert!(tcp_reaches(&t, 8202, 8202)?);
    Ok(())
}

#[test]
fn nothing_answers_the_wan_host() -> anyhow::Result<()> {
    let Some(t) = common::TestGateway::start(1, BASE)? else {
        return Ok(());
    };
    let wan_ip = t.lab.ipv4(Host::Wan);
    let lan_gw = t.lan_address();
    let http_req = |host: SocketAddr| format!("GET /rootDesc.xml HTTP/1.1\r\nHost: {host}\r\n\r\n");

    // Controls from the LAN host: each request is one the daemon answers.
    let client = t.lab.ipv4(Host::Lan(0));
    let lan_pcp = SocketAddr::new(IpAddr::V4(lan_gw), pcp::SERVER_PORT);
    let r = udp_exchange(
        &t,
        Host::Lan(0),
        lan_pcp,
        &pcp_map(client, 7100, vec![]).to_bytes(),
        PROBE,
    )?;
    assert!(r.is_some(), "PCP answers on the LAN");
    let lan_ssdp = SocketAddr::new(IpAddr::V4(lan_gw), 1900);
    let r = udp_exchange(
        &t,
        Host::Lan(0),
        lan_ssdp,
        msearch(lan_ssdp).as_bytes(),
        PROBE,
    )?;
    let text = String::from_utf8_lossy(&r.unwrap_or_default()).into_owned();
    assert!(
        text.contains("rootDesc.xml"),
        "SSDP answers on the LAN: {text}"
    );
    let lan_http = SocketAddr::new(IpAddr::V4(lan_gw), HTTP_PORT);
    assert_eq!(
        http_status(&t, Host::Lan(0), lan_http, http_req(lan_http))?,
        Some(200)
    );

    // The same from the WAN host to the external address: silence.
    let wan_pcp = ext(&t, pcp::SERVER_PORT);
    let r = udp_exchange(
        &t,
        Host::Wan,
        wan_pcp,
        &pcp_map(wan_ip, 7101, vec![]).to_bytes(),
        PROBE,
    )?;
    assert_eq!(r, None, "no PCP answer to the WAN host");
    let r = udp_exchange(&t, Host::Wan, wan_pcp, &natpmp_tcp_request(7102), PROBE)?;
    assert_eq!(r, None, "no NAT-PMP answer to the WAN host");
    let wan_ssdp = ext(&t, 1900);
    let r = udp_exchange(&t, Host::Wan, wan_ssdp, msearch(wan_ssdp).as_bytes(), PROBE)?;
    assert_eq!(r, None, "no SSDP answer to the WAN host");
    let wan_http = ext(&t, HTTP_PORT);
    assert_eq!(
        http_status(&t, Host::Wan, wan_http, http_req(wan_http))?,
        None,
        "no HTTP answer to the WAN host"
    );
    // Nothing was opened by the WAN requests.
    assert!(!tcp_reaches(&t, 7101, 7101)?);
    assert!(!tcp_reaches(&t, 7102, 7102)?);
    Ok(())
}

#[test]
fn sighup_reload_keeps_valid_mappings() -> anyhow::Result<()> {
    let Some(t) = common::TestGateway::start(1, BASE)? else {
        return Ok(());
    };
    let (ok, out) = natpmpc(&t, &["-a", "6000", "6000", "tcp", "3600"])?;
    assert!(ok && out.contains("Mapped public port 6000"), "{out}");
    assert!(tcp_reaches(&t, 6000, 6000)?);

    // Reload with one more rule, so the reload is visible.
    let mut text = std::fs::read_to_string(t.config_file())?;
    text.push_str("deny 0-65535 0.0.0.0/0 6500\n");
    std::fs::write(t.config_file(), text)?;
    t.reload()?;
    let daemon = t
        .daemon
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no daemon"))?;
    assert!(daemon.try_status().is_none(), "still running after SIGHUP");

    assert!(tcp_reaches(&t, 6000, 6000)?, "mapping kept across SIGHUP");
    let (ok, out) = natpmpc(&t, &["-a", "6001", "6001", "tcp", "3600"])?;
    assert!(ok && out.contains("Mapped public port 6001"), "{out}");
    assert!(tcp_reaches(&t, 6001, 6001)?, "new mapping after SIGHUP");
    // The new rule is in force.
    let to = SocketAddr::new(IpAddr::V4(t.lan_address()), 5351);
    let r = udp_exchange(&t, Host::Lan(0), to, &natpmp_tcp_request(6500), PROBE)?
        .ok_or_else(|| anyhow::anyhow!("no NAT-PMP answer"))?;
    assert_eq!(r.get(..4), Some(&[0u8, 130, 0, 2][..]), "{r:?}");
    assert!(!tcp_reaches(&t, 6500, 6500)?);
    Ok(())
}

#[test]
fn upnp_mapping_survives_kill_9_and_restart() -> anyhow::Result<()> {
    let Some(mut t) = common::TestGateway::start(1, BASE)? else {
        return Ok(());
    };
    let lan0 = t.lab.ipv4(Host::Lan(0)).to_string();
    let a = upnpc(
        &t,
        &[
            "-e",
            "e2e restart",
            "-a",
            &lan0,
            "9100",
            "8100",
            "TCP",
            "3600",
        ],
    )?;
    assert!(a.contains("is redirected to internal"), "{a}");
    assert!(tcp_reaches(&t, 8100, 9100)?);

    t.kill()?;
    t.restart()?;
    assert!(
        tcp_reaches(&t, 8100, 9100)?,
        "UPnP mapping restored from the lease file"
    );
    let l = upnpc(&t, &["-l"])?;
    assert!(l.contains(&format!("8100->{lan0}:9100")), "{l}");
    let leases = std::fs::read_to_string(t.lease_file())?;
    assert!(leases.contains("TCP:8100:"), "{leases}");
    // The restarted daemon owns the kernel rule: deleting it closes the port.
    let d = upnpc(&t, &["-d", "8100", "TCP"])?;
    assert!(!d.contains("failed"), "{d}");
    assert!(!tcp_reaches(&t, 8100, 9100)?, "deleted after the restart");
    Ok(())
}

/// One `Cap*:` (hexadecimal) or `NoNewPrivs:` line of /proc/<pid>/status.
fn status_field(pid: u32, field: &str) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .ok_or_else(|| anyhow::anyhow!("{field} not in /proc/{pid}/status"))?;
    Ok(u64::from_str_radix(value.trim(), 16)?)
}

#[test]
fn runs_with_network_capabilities_only_and_still_maps_reloads_and_writes_leases(
) -> anyhow::Result<()> {
    let Some(t) = common::TestGateway::start(1, BASE)? else {
        return Ok(());
    };
    let daemon = t
        .daemon
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no daemon"))?;
    daemon.wait_for("privileges: kept net_bind_service, net_admin", PROBE)?;
    // CAP_NET_BIND_SERVICE (10) and CAP_NET_ADMIN (12), for every thread; the
    // rtnetlink watcher thread starts later and inherits them.
    let kept = (1u64 << 10) | (1 << 12);
    let pid = daemon.pid();
    let tasks: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/task"))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    assert!(
        tasks.len() >= 2,
        "the daemon and its rtnetlink thread: {tasks:?}"
    );
    for tid in tasks {
        for field in ["CapEff", "CapPrm", "CapBnd"] {
            assert_eq!(status_field(tid, field)?, kept, "task {tid} {field}");
        }
        for field in ["CapInh", "CapAmb"] {
            assert_eq!(status_field(tid, field)?, 0, "task {tid} {field}");
        }
        let text = std::fs::read_to_string(format!("/proc/{tid}/status"))?;
        assert!(text.contains("NoNewPrivs:\t1"), "task {tid}: {text}");
    }

    // What it still must do with only those: program nftables, answer, write the
    // lease file (owned by root in a root-only directory) and reread its
    // configuration on SIGHUP.
    let (ok, out) = natpmpc(&t, &["-a", "6100", "6100", "tcp", "3600"])?;
    assert!(ok && out.contains("Mapped public port 6100"), "{out}");
    assert!(tcp_reaches(&t, 6100, 6100)?);
    let leases = std::fs::read_to_string(t.lease_file())?;
    assert!(leases.contains("TCP:6100:"), "{leases}");
    let from = daemon.line_count();
    daemon.signal(Signal::HUP);
    daemon.wait_for_after(from, "configuration reloaded", Duration::from_secs(10))?;
    assert!(tcp_reaches(&t, 6100, 6100)?, "mapping kept across SIGHUP");
    Ok(())
}

#[test]
fn clean_ruleset_interval_removes_the_idle_mapping_and_keeps_the_used_one() -> anyhow::Result<()> {
    let conf = format!("{BASE}clean_ruleset_interval=1\nclean_ruleset_threshold=2\n");
    let Some(t) = common::TestGateway::start(1, &conf)? else {
        return Ok(());
    };
    for port in ["6200", "6201"] {
        let (ok, out) = natpmpc(&t, &["-a", port, port, "tcp", "3600"])?;
        assert!(
            ok && out.contains(&format!("Mapped public port {port}")),
            "{out}"
        );
    }
    // Connections through 6200 only, over several intervals: the daemon notes the
    // counters at one step and compares them at the next.
    let daemon = t
        .daemon
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no daemon"))?;
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        assert!(tcp_reaches(&t, 6200, 6200)?, "the used mapping stays");
        std::thread::sleep(Duration::from_millis(200));
    }
    daemon.wait_for("mapping removed: idle-cleaned", Duration::from_secs(3))?;
    let removed: Vec<String> = daemon
        .lines()
        .into_iter()
        .filter(|l| l.contains("mapping removed: idle-cleaned"))
        .collect();
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert!(
        removed.iter().all(|l| l.contains("eport=6201")),
        "{removed:?}"
    );
    let listing = upnpc(&t, &["-l"])?;
    assert!(listing.contains("6200->"), "{listing}");
    assert!(!listing.contains("6201->"), "{listing}");
    assert!(tcp_reaches(&t, 6200, 6200)?);
    assert!(
        !tcp_reaches(&t, 6201, 6201)?,
        "the idle one is closed in the kernel"
    );
    Ok(())
}

/// secure_mode as SIGHUP leaves it: turned on by a reload, it protects every host's
/// mappings from another host's DeletePortMappingRange with the Manage flag (before,
/// the SOAP front end kept its start-up copy and let the deletion through).
#[test]
fn sighup_turning_secure_mode_on_takes_effect_for_soap() -> anyhow::Result<()> {
    let base = format!("{BASE}secure_mode=no\n");
    let Some(t) = common::TestGateway::start(2, &base)? else {
        return Ok(());
    };
    let url = root_url(&t);
    let manage_delete = |port: &str| -> anyhow::Result<String> {
        let out = t.lab.exec_unchecked(
            Host::Lan(1),
            &["upnpc", "-u", &url, "-N", port, port, "TCP", "1"],
        )?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    // Secure mode off: a managing host may delete another host's mapping.
    let (ok, out) = natpmpc(&t, &["-a", "6100", "6100", "tcp", "3600"])?;
    assert!(ok && out.contains("Mapped public port 6100"), "{out}");
    let out = manage_delete("6100")?;
    assert!(!out.contains("failed"), "{out}");
    assert!(
        !tcp_reaches(&t, 6100, 6100)?,
        "deleted by the managing host"
    );

    let text =
        std::fs::read_to_string(t.config_file())?.replace("secure_mode=no", "secure_mode=yes");
    std::fs::write(t.config_file(), text)?;
    let daemon = t
        .daemon
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no daemon"))?;
    let from = daemon.line_count();
    daemon.signal(Signal::HUP);
    daemon.wait_for_after(from, "configuration reloaded", Duration::from_secs(10))?;
    // Secure mode on: the same request no longer touches another host's mapping.
    let (ok, out) = natpmpc(&t, &["-a", "6101", "6101", "tcp", "3600"])?;
    assert!(ok && out.contains("Mapped public port 6101"), "{out}");
    let out = manage_delete("6101")?;
    assert!(out.contains("failed"), "{out}");
    assert!(tcp_reaches(&t, 6101, 6101)?, "still mapped");
    Ok(())
}

/// A configuration as distribution scripts write it: OpenWrt's init writes
/// `ext_ifname6=` empty without a wan6, Debian's package ships `uuid=` empty until its
/// postinst fills it in, and other keys are left empty too. miniupnpd reads those as
/// "not set"; the binary starts, announces a random uuid (logged), and maps.
#[test]
fn starts_with_the_empty_values_distribution_scripts_write() -> anyhow::Result<()> {
    let empty = "ext_ifname6=\nuuid=\nminissdpdsocket=\nnotify_interval=\nsecure_mode=\n\
                 bitrate_up=\nbitrate_down=\nipv6_disable=\nupnp_nftables_family_split=\n\
                 clean_ruleset_interval=\nhttps_port=\n";
    let Some(t) = common::TestGateway::start(1, &format!("{BASE}{empty}"))? else {
        return Ok(());
    };
    let daemon = t.daemon.as_ref().expect("running");
    let line = daemon.wait_for("random uuid", Duration::from_secs(5))?;
    let uuid = line
        .split_whitespace()
        .find(|w| w.len() == 36 && w.matches('-').count() == 4)
        .unwrap_or_else(|| panic!("no uuid in {line:?}"))
        .to_owned();
    assert_ne!(uuid, "00000000-0000-0000-0000-000000000000");
    let to = SocketAddr::new(IpAddr::V4(t.lan_address()), HTTP_PORT);
    let desc = t
        .lab
        .in_netns(Host::Lan(0), move || -> std::io::Result<String> {
            let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(2))?;
            s.set_read_timeout(Some(Duration::from_secs(3)))?;
            write!(
                s,
                "GET /rootDesc.xml HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n\r\n"
            )?;
            let mut text = String::new();
            s.read_to_string(&mut text)?;
            Ok(text)
        })??;
    assert!(desc.contains(&format!("uuid:{uuid}")), "{desc}");

    let lan0 = t.lab.ipv4(Host::Lan(0)).to_string();
    let a = upnpc(&t, &["-a", &lan0, "9100", "8180", "TCP"])?;
    assert!(a.contains("is redirected to internal"), "{a}");
    assert!(tcp_reaches(&t, 8180, 9100)?, "TCP through the UPnP mapping");
    Ok(())
}

/// Waits up to `wait` for a line of the daemon's stderr holding every one of `parts`.
fn log_line(t: &common::TestGateway, parts: &[&str], wait: Duration) -> anyhow::Result<String> {
    let daemon = t
        .daemon
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("not running"))?;
    let end = std::time::Instant::now() + wait;
    loop {
        let found = daemon
            .lines()
            .into_iter()
            .find(|l| parts.iter().all(|p| l.contains(p)));
        if let Some(line) = found {
            return Ok(line);
        }
        anyhow::ensure!(
            std::time::Instant::now() < end,
            "no log line with {parts:?}:\n{}",
            daemon.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Each mapping's log lines name the protocol that made it, and each removal says why:
/// a NAT-PMP add and its deletion by the client, a UPnP add, a NAT-PMP lease that
/// expires.
#[test]
fn mapping_logs_name_the_protocol_and_the_reason_of_each_removal() -> anyhow::Result<()> {
    let Some(t) = common::TestGateway::start(1, &format!("{BASE}min_lifetime=1\n"))? else {
        return Ok(());
    };
    let wait = Duration::from_secs(5);
    let (ok, out) = natpmpc(&t, &["-a", "9200", "9200", "tcp", "3600"])?;
    assert!(ok, "{out}");
    assert!(tcp_reaches(&t, 9200, 9200)?, "NAT-PMP mapping works");
    let added = ["mapping added", "via=natpmp", "proto=TCP", "eport=9200"];
    log_line(&t, &added, wait)?;
    let (ok, out) = natpmpc(&t, &["-a", "9200", "0", "tcp", "0"])?;
    assert!(ok, "{out}");
    let gone = [
        "mapping removed: deleted by its client",
        "via=natpmp",
        "eport=9200",
    ];
    log_line(&t, &gone, wait)?;

    let lan0 = t.lab.ipv4(Host::Lan(0)).to_string();
    let a = upnpc(&t, &["-a", &lan0, "9201", "9201", "TCP"])?;
    assert!(a.contains("is redirected to internal"), "{a}");
    assert!(tcp_reaches(&t, 9201, 9201)?, "UPnP mapping works");
    log_line(
        &t,
        &["mapping added", "via=upnp", "proto=TCP", "eport=9201"],
        wait,
    )?;

    let (ok, out) = natpmpc(&t, &["-a", "9202", "9202", "udp", "2"])?;
    assert!(ok, "{out}");
    log_line(&t, &["mapping added", "via=natpmp", "eport=9202"], wait)?;
    log_line(
        &t,
        &[
            "mapping removed: expired",
            "via=natpmp",
            "proto=UDP",
            "eport=9202",
        ],
        Duration::from_secs(10),
    )?;
    Ok(())
}
