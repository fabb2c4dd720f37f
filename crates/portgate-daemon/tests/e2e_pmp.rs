//! End-to-end NAT-PMP and PCP tests: portgated in the lab's gateway, real
//! clients on the LAN host (Debian's `natpmpc`, and a PCP request built with
//! portgate-proto), and the proof of every mapping: bytes from the WAN host
//! to the external address arrive at the LAN host.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use portgate_lab::Host;
use portgate_proto::pcp;

const PROBE: Duration = Duration::from_secs(2);

const CONFIG: &str = "enable_natpmp=yes\nenable_upnp=no\nmin_lifetime=1\n\
                      deny 0-65535 0.0.0.0/0 23\n";

fn natpmpc(t: &common::TestGateway, args: &[&str]) -> anyhow::Result<(bool, String)> {
    let gw = t.lan_address().to_string();
    let mut full = vec!["natpmpc", "-g", gw.as_str()];
    full.extend_from_slice(args);
    let out = t.lab.exec_unchecked(Host::Lan(0), &full)?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}

fn ext(t: &common::TestGateway, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(t.lab.external_ipv4()), port)
}

fn tcp_reaches(t: &common::TestGateway, port: u16) -> anyhow::Result<bool> {
    Ok(t.lab.tcp_probe(
        Host::Wan,
        ext(t, port),
        (Host::Lan(0), port),
        b"hello tcp",
        PROBE,
    )?)
}

fn udp_reaches(t: &common::TestGateway, port: u16) -> anyhow::Result<bool> {
    Ok(t.lab.udp_probe(
        Host::Wan,
        ext(t, port),
        (Host::Lan(0), port),
        b"hello udp",
        PROBE,
    )?)
}

/// Send `req` to `to` from `host` and wait up to `wait` for one answer.
fn exchange(
    t: &common::TestGateway,
    host: Host,
    to: SocketAddr,
    req: &[u8],
    wait: Duration,
) -> anyhow::Result<Option<Vec<u8>>> {
    let sock = t.lab.in_netns(host, || UdpSocket::bind("0.0.0.0:0"))??;
    sock.set_read_timeout(Some(wait))?;
    sock.send_to(req, to)?;
    let mut buf = [0u8; 1500];
    match sock.recv_from(&mut buf) {
        Ok((n, _)) => Ok(Some(buf[..n].to_vec())),
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

#[test]
fn natpmpc_maps_deletes_and_survives_a_crash() -> anyhow::Result<()> {
    let Some(mut t) = common::TestGateway::start(1, CONFIG)? else {
        return Ok(());
    };
    // Public address.
    let (ok, out) = natpmpc(&t, &[])?;
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("Public IP address : {}", t.lab.external_ipv4())),
        "{out}"
    );
    assert!(!tcp_reaches(&t, 4000)?, "closed before any mapping");

    // TCP and UDP mappings work from the WAN.
    let (ok, out) = natpmpc(&t, &["-a", "4000", "4000", "tcp", "3600"])?;
    assert!(
        ok && out.contains("Mapped public port 4000 protocol TCP"),
        "{out}"
    );
    assert!(tcp_reaches(&t, 4000)?, "TCP through the mapping");
    let (ok, out) = natpmpc(&t, &["-a", "5000", "5000", "udp", "3600"])?;
    assert!(
        ok && out.contains("Mapped public port 5000 protocol UDP"),
        "{out}"
    );
    assert!(udp_reaches(&t, 5000)?, "UDP through the mapping");

    // Lifetime 0 deletes.
    let (ok, out) = natpmpc(&t, &["-a", "5000", "5000", "udp", "0"])?;
    assert!(ok, "{out}");
    assert!(!udp_reaches(&t, 5000)?, "deleted mapping no longer reaches");

    // A deny rule: NOT_AUTHORIZED (result 2), nothing opened.
    let req = [0u8, 2, 0, 0, 0, 23, 0, 23, 0, 0, 0x0e, 0x10];
    let to = SocketAddr::new(IpAddr::V4(t.lan_address()), 5351);
    let r = exchange(&t, Host::Lan(0), to, &req, Duration::from_secs(2))?.expect("answer");
    assert_eq!(&r[..4], &[0, 130, 0, 2], "NOT_AUTHORIZED: {r:?}");
    let (ok, out) = natpmpc(&t, &["-a", "23", "23", "tcp", "3600"])?;
    assert!(!ok || !out.contains("Mapped public port"), "{out}");

    // From the WAN host, to the external address: no answer at all.
    let wan_to = SocketAddr::new(IpAddr::V4(t.lab.external_ipv4()), 5351);
    let r = exchange(&t, Host::Wan, wan_to, &[0, 0], Duration::from_secs(1))?;
    assert_eq!(r, None, "a WAN request must get no answer");

    // Crash and restart: the acknowledged mapping is back, an expired one is not.
    let (ok, out) = natpmpc(&t, &["-a", "4001", "4001", "tcp", "2"])?;
    assert!(ok, "{out}");
    t.kill()?;
    std::thread::sleep(Duration::from_secs(3));
    t.restart()?;
    assert!(
        tcp_reaches(&t, 4000)?,
        "mapping restored from the lease file"
    );
    assert!(!tcp_reaches(&t, 4001)?, "expired mapping not back");
    let leases = std::fs::read_to_string(t.lease_file())?;
    assert!(leases.contains("TCP:4000:"), "{leases}");
    assert!(
        leases.contains("#portgate-origin TCP 4000 natpmp\n"),
        "still NAT-PMP's after the restart: {leases}"
    );
    assert!(!leases.contains(":4001:"), "{leases}");
    Ok(())
}

#[test]
fn pcp_map_from_the_lan_host() -> anyhow::Result<()> {
    let Some(mut t) = common::TestGateway::start(1, CONFIG)? else {
        return Ok(());
    };
    let client = t.lab.ipv4(Host::Lan(0));
    let nonce = [9u8; 12];
    let req = pcp::Request {
        lifetime: 600,
        client_address: IpAddr::V4(client),
        data: pcp::OpData::Map(pcp::MapData {
            nonce,
            protocol: 6,
            internal_port: 4500,
            external_port: 4500,
            external_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }),
        options: vec![pcp::PcpOption::Description("e2e".into())],
    };
    let to = SocketAddr::new(IpAddr::V4(t.lan_address()), pcp::SERVER_PORT);
    let r = exchange(
        &t,
        Host::Lan(0),
        to,
        &req.to_bytes(),
        Duration::from_secs(2),
    )?
    .expect("PCP answer");
    let resp = pcp::Response::parse(&r)?;
    assert_eq!(resp.result, pcp::ResultCode::Success);
    assert_eq!(resp.lifetime, 600);
    let pcp::OpData::Map(m) = resp.data else {
        panic!("not a MAP response: {resp:?}");
    };
    assert_eq!(m.nonce, nonce);
    assert_eq!(m.external_address, IpAddr::V4(t.lab.external_ipv4()));
    assert_eq!(m.external_port, 4500);
    assert!(tcp_reaches(&t, 4500)?, "TCP through the PCP mapping");

    // kill -9 and restart: the mapping comes back from the lease file as PCP's, with
    // its nonce.
    t.kill()?;
    t.restart()?;
    assert!(tcp_reaches(&t, 4500)?, "restored");
    let leases = std::fs::read_to_string(t.lease_file())?;
    assert!(
        leases.contains(&format!(
            "#portgate-origin TCP 4500 pcp {}\n",
            "09".repeat(12)
        )),
        "{leases}"
    );

    // Delete with another nonce: NOT_AUTHORIZED, still open.
    let mut del = req.clone();
    del.lifetime = 0;
    if let pcp::OpData::Map(d) = &mut del.data {
        d.nonce = [1; 12];
    }
    let r = exchange(
        &t,
        Host::Lan(0),
        to,
        &del.to_bytes(),
        Duration::from_secs(2),
    )?
    .expect("answer");
    assert_eq!(
        pcp::Response::parse(&r)?.result,
        pcp::ResultCode::NotAuthorized
    );
    assert!(tcp_reaches(&t, 4500)?);
    // With the nonce: deleted.
    del.data = req.data.clone();
    let r = exchange(
        &t,
        Host::Lan(0),
        to,
        &del.to_bytes(),
        Duration::from_secs(2),
    )?
    .expect("answer");
    assert_eq!(pcp::Response::parse(&r)?.result, pcp::ResultCode::Success);
    assert!(!tcp_reaches(&t, 4500)?, "deleted");
    Ok(())
}

/// Datagrams waiting together are read in one round and committed in one firewall
/// transaction (the daemon is stopped while they queue up, so they do wait together):
/// a full round of 256, none dropped by the socket's receive buffer; every mapping
/// of the batch then carries bytes from the WAN host.
#[test]
fn waiting_requests_are_mapped_in_one_batch() -> anyhow::Result<()> {
    use portgate_lab::Signal;
    let Some(t) = common::TestGateway::start(1, CONFIG)? else {
        return Ok(());
    };
    let daemon = t.daemon.as_ref().expect("running");
    let me = t.lab.ipv4(Host::Lan(0));
    let to = SocketAddr::new(IpAddr::V4(t.lan_address()), 5351);
    let sock = t
        .lab
        .in_netns(Host::Lan(0), || UdpSocket::bind("0.0.0.0:0"))??;
    sock.set_read_timeout(Some(Duration::from_secs(5)))?;
    const EACH: u16 = 12;
    let tcp: Vec<u16> = (0..EACH).map(|i| 6100 + i).collect();
    let udp: Vec<u16> = (0..EACH).map(|i| 7100 + i).collect();
    let mut reqs: Vec<Vec<u8>> = tcp
        .iter()
        .map(|&p| {
            let mut r = vec![0u8, 2, 0, 0];
            r.extend_from_slice(&p.to_be_bytes());
            r.extend_from_slice(&p.to_be_bytes());
            r.extend_from_slice(&3600u32.to_be_bytes());
            r
        })
        .collect();
    reqs.extend(udp.iter().map(|&p| {
        let mut nonce = [7u8; 12];
        nonce[..2].copy_from_slice(&p.to_be_bytes());
        pcp::Request {
            lifetime: 3600,
            client_address: IpAddr::V4(me),
            data: pcp::OpData::Map(pcp::MapData {
                nonce,
                protocol: 17,
                internal_port: p,
                external_port: p,
                external_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            }),
            options: Vec::new(),
        }
        .to_bytes()
    }));
    let from_line = daemon.line_count();
    daemon.signal(Signal::STOP);
    let sent: std::io::Result<()> = reqs.iter().try_for_each(|r| sock.send_to(r, to).map(drop));
    daemon.signal(Signal::CONT);
    sent?;
    let mut mapped_tcp = Vec::new();
    let mut mapped_udp = Vec::new();
    let mut buf = [0u8; 1500];
    for _ in 0..reqs.len() {
        let (n, _) = sock.recv_from(&mut buf)?;
        let r = &buf[..n];
        if r[0] == 0 {
            assert_eq!(&r[..4], &[0, 130, 0, 0], "NAT-PMP success: {r:?}");
            mapped_tcp.push(u16::from_be_bytes([r[10], r[11]]));
        } else {
            let resp = pcp::Response::parse(r)?;
            assert_eq!(resp.result, pcp::ResultCode::Success);
            let pcp::OpData::Map(m) = resp.data else {
                panic!("MAP answer expected");
            };
            mapped_udp.push(m.external_port);
        }
    }
    mapped_tcp.sort_unstable();
    mapped_udp.sort_unstable();
    assert_eq!((mapped_tcp, mapped_udp), (tcp.clone(), udp.clone()));
    daemon.wait_for_after(
        from_line,
        &format!(
            "batch of {} requests committed in one firewall transaction",
            reqs.len()
        ),
        Duration::from_secs(5),
    )?;
    for &p in &tcp {
        assert!(tcp_reaches(&t, p)?, "TCP {p} through a batched mapping");
    }
    for &p in &udp {
        assert!(udp_reaches(&t, p)?, "UDP {p} through a batched mapping");
    }
    // The journal has them too (appended before the answers went out).
    let leases = std::fs::read_to_string(t.lease_file())?;
    for p in tcp.iter().chain(&udp) {
        assert!(
            leases.contains(&format!(":{p}:{me}:{p}:")),
            "{p} in {leases}"
        );
    }
    Ok(())
}
