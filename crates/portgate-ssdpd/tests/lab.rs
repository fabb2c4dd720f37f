//! End-to-end tests in the namespace lab: the real `portgate-ssdpd` binary on a LAN host,
//! fake devices announcing themselves from another LAN host, queries over the unix socket
//! with our own client and with Debian's `upnpc`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::io::{Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use portgate_lab::{Host, Lab, Proc};
use portgate_proto::minissdpd::{Entry, Request, Response, ResponseKind, Service};
use portgate_proto::ssdp::SearchResponse;

const READY: Duration = Duration::from_secs(10);
const IGD1: &str = "urn:schemas-upnp-org:device:InternetGatewayDevice:1";

fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pg-ssdpd-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn start(lab: &Lab, host: Host, sock: &Path) -> anyhow::Result<Proc> {
    let bin = env!("CARGO_BIN_EXE_portgate-ssdpd");
    let proc = lab.spawn_daemon(
        host,
        &[bin, "-d", "-i", "eth0", "-s", sock.to_str().unwrap()],
        "listening on",
        READY,
    )?;
    Ok(proc)
}

/// One request/reply over a fresh connection.
fn query(sock: &Path, request: &Request) -> anyhow::Result<Response> {
    let mut stream = UnixStream::connect(sock)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut bytes = Vec::new();
    request.emit(&mut bytes);
    stream.write_all(&bytes)?;
    let kind = request.reply_kind().unwrap_or(ResponseKind::Ack);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some((r, _)) = Response::decode_prefix(kind, &got)? {
            return Ok(r);
        }
        let n = stream.read(&mut buf)?;
        anyhow::ensure!(n > 0, "daemon closed before replying");
        got.extend_from_slice(&buf[..n]);
    }
}

fn all_entries(sock: &Path) -> anyhow::Result<Vec<Entry>> {
    match query(sock, &Request::All)? {
        Response::Entries(list) => Ok(list),
        other => anyhow::bail!("unexpected {other:?}"),
    }
}

/// Polls `cond` every 50 ms until it holds or `limit` passes.
fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

fn notify(nts: &str, usn: &str, nt: &str, location: &str, max_age: u32) -> Vec<u8> {
    format!(
        "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age={max_age}\r\n\
         LOCATION: {location}\r\nNT: {nt}\r\nNTS: {nts}\r\nSERVER: Linux/6 UPnP/1.1 fake/1\r\n\
         USN: {usn}\r\n\r\n"
    )
    .into_bytes()
}

fn send_from(lab: &Lab, host: Host, dest: SocketAddr, datagram: &[u8]) -> anyhow::Result<()> {
    lab.in_netns(host, || -> std::io::Result<()> {
        let s = UdpSocket::bind("0.0.0.0:0")?;
        s.send_to(datagram, dest)?;
        Ok(())
    })??;
    Ok(())
}

fn group() -> SocketAddr {
    "239.255.255.250:1900".parse().unwrap()
}

/// LAN host 1 announces an IGD with `usn` (max-age 100); asserts the daemon at `sock`
/// caches it within 5 s. Returns the announced LOCATION.
fn announce_and_wait_cached(
    lab: &Lab,
    daemon: &Proc,
    sock: &Path,
    usn: &str,
) -> anyhow::Result<String> {
    let location = format!("http://{}:49152/rootDesc.xml", lab.ipv4(Host::Lan(1)));
    send_from(
        lab,
        Host::Lan(1),
        group(),
        &notify("ssdp:alive", usn, IGD1, &location, 100),
    )?;
    assert!(
        wait_until(Duration::from_secs(5), || all_entries(sock)
            .map(|l| l.iter().any(|e| e.usn == usn))
            .unwrap_or(false)),
        "device never cached:\n{}",
        daemon.output()
    );
    Ok(location)
}

#[test]
fn caches_announcements_and_upnpc_finds_them() -> anyhow::Result<()> {
    let Some(lab) = Lab::builder().lan_hosts(2).build_or_skip()? else {
        return Ok(());
    };
    let dir = tempdir("cache");
    let sock = dir.join("ssdpd.sock");
    let daemon = start(&lab, Host::Lan(0), &sock)?;
    let usn = format!("uuid:fake-igd::{IGD1}");
    let location = announce_and_wait_cached(&lab, &daemon, &sock, &usn)?;
    match query(&sock, &Request::ByType(IGD1.into()))? {
        Response::Entries(list) => {
            assert_eq!(list.len(), 1);
            assert_eq!(list[0].location, location);
            assert_eq!(list[0].st, IGD1);
        }
        other => panic!("{other:?}"),
    }
    match query(&sock, &Request::Version)? {
        Response::Version(v) => assert!(v.starts_with("portgate-ssdpd"), "{v}"),
        other => panic!("{other:?}"),
    }

    // Debian's upnpc finds the device's LOCATION through our socket.
    let out = lab.exec_unchecked(Host::Lan(0), &["upnpc", "-p", sock.to_str().unwrap(), "-l"])?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("desc: {location}")),
        "upnpc said:\n{text}"
    );

    // From the WAN side (not a served subnet): ignored.
    // (The WAN host has no route to the LAN by default; give it one through the gateway.)
    let gw_wan = lab.gateway().wan.ipv4.to_string();
    lab.exec(
        Host::Wan,
        &["ip", "route", "add", "10.77.0.0/24", "via", gw_wan.as_str()],
    )?;
    let lan0: SocketAddr = (lab.ipv4(Host::Lan(0)), 1900).into();
    send_from(
        &lab,
        Host::Wan,
        lan0,
        &notify(
            "ssdp:alive",
            "uuid:wan",
            "upnp:rootdevice",
            "http://x/",
            100,
        ),
    )?;

    assert!(
        wait_until(Duration::from_secs(3), || daemon
            .output()
            .contains("outside the served subnets dropped")),
        "WAN datagram never seen:\n{}",
        daemon.output()
    );

    // Byebye removes.
    send_from(
        &lab,
        Host::Lan(1),
        group(),
        &notify("ssdp:byebye", &usn, IGD1, &location, 100),
    )?;
    assert!(
        wait_until(Duration::from_secs(5), || all_entries(&sock)
            .map(|l| l.is_empty())
            .unwrap_or(false)),
        "byebye not applied (or WAN entry cached): {:?}",
        all_entries(&sock)
    );

    // A short max-age expires.
    send_from(
        &lab,
        Host::Lan(1),
        group(),
        &notify("ssdp:alive", "uuid:short", "upnp:rootdevice", &location, 2),
    )?;
    assert!(wait_until(Duration::from_secs(3), || all_entries(&sock)
        .map(|l| l.len() == 1)
        .unwrap_or(false)));
    let seen = Instant::now();
    assert!(wait_until(Duration::from_secs(5), || all_entries(&sock)
        .map(|l| l.is_empty())
        .unwrap_or(false)));
    assert!(seen.elapsed() >= Duration::from_millis(500));

    // SIGTERM removes the socket.
    daemon.terminate(Duration::from_secs(5))?;
    assert!(!sock.exists(), "socket left behind");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[test]
fn registered_services_answer_msearch() -> anyhow::Result<()> {
    let Some(lab) = Lab::builder().lan_hosts(2).build_or_skip()? else {
        return Ok(());
    };
    let dir = tempdir("svc");
    let sock = dir.join("ssdpd.sock");
    let _daemon = start(&lab, Host::Lan(0), &sock)?;
    register_and_search(&lab, &sock, Host::Lan(0), Host::Lan(1))?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Registers an IGD service (type 4) with the daemon on `daemon_host` at `sock`, then
/// proves that an M-SEARCH from `searcher` is answered with its LOCATION and USN.
fn register_and_search(
    lab: &Lab,
    sock: &Path,
    daemon_host: Host,
    searcher: Host,
) -> anyhow::Result<()> {
    let location = format!("http://{}:5000/rootDesc.xml", lab.ipv4(daemon_host));
    let service = Service {
        st: IGD1.into(),
        usn: format!("uuid:registered::{IGD1}"),
        server: "Linux UPnP/1.1 test/1".into(),
        location: location.clone(),
    };
    // Type 4 has no reply: write it and close.
    let mut bytes = Vec::new();
    Request::Submit(service.clone()).emit(&mut bytes);
    UnixStream::connect(sock)?.write_all(&bytes)?;
    assert!(wait_until(Duration::from_secs(3), || matches!(
        query(sock, &Request::ByUsn(service.usn.clone())),
        Ok(Response::Entries(l)) if l.len() == 1
    )));

    let reply = lab.in_netns(searcher, || -> anyhow::Result<SearchResponse> {
        let s = UdpSocket::bind("0.0.0.0:0")?;
        s.set_read_timeout(Some(Duration::from_secs(1)))?;
        let search = format!(
            "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: {IGD1}\r\n\r\n"
        );
        let mut buf = [0u8; 2048];
        for _ in 0..3 {
            s.send_to(search.as_bytes(), group())?;
            if let Ok((n, _)) = s.recv_from(&mut buf) {
                return Ok(SearchResponse::parse(&buf[..n])?);
            }
        }
        anyhow::bail!("no M-SEARCH reply")
    })??;
    assert_eq!(reply.location.as_deref(), Some(location.as_str()));
    assert_eq!(reply.usn.as_str(), service.usn);
    Ok(())
}

/// An interface holding two IPv4 addresses (a secondary address, a VRRP address): the
/// daemon joins 239.255.255.250 once on the interface (a join per address failed with
/// "Address already in use" and the daemon exited), caches a device announcing itself
/// and answers M-SEARCH for a registered service.
#[test]
fn an_interface_with_two_ipv4_addresses_is_served() -> anyhow::Result<()> {
    let Some(lab) = Lab::builder().lan_hosts(2).build_or_skip()? else {
        return Ok(());
    };
    lab.exec(
        Host::Lan(0),
        &["ip", "addr", "add", "10.77.0.199/24", "dev", "eth0"],
    )?;
    let dir = tempdir("twoaddr");
    let sock = dir.join("ssdpd.sock");
    let daemon = start(&lab, Host::Lan(0), &sock)?;

    announce_and_wait_cached(&lab, &daemon, &sock, &format!("uuid:two-addr::{IGD1}"))?;
    register_and_search(&lab, &sock, Host::Lan(0), Host::Lan(1))?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn vm_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or_else(|| anyhow::anyhow!("no VmRSS"))?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("bad VmRSS line"))?
        .parse()?)
}

/// The daemon's own pid: the lab spawns it under `ip netns exec`, which execs it.
fn daemon_pid(proc: &Proc) -> u32 {
    proc.pid()
}

#[test]
fn thousands_of_clients_and_hostile_ones_leave_it_serving() -> anyhow::Result<()> {
    let Some(lab) = Lab::builder().lan_hosts(1).build_or_skip()? else {
        return Ok(());
    };
    let dir = tempdir("churn");
    let sock = dir.join("ssdpd.sock");
    let daemon = start(&lab, Host::Lan(0), &sock)?;
    let pid = daemon_pid(&daemon);
    // Warm up so allocator arenas exist before the baseline.
    for _ in 0..50 {
        query(&sock, &Request::All)?;
    }
    let before = vm_rss_kib(pid)?;
    let hostile: [&[u8]; 5] = [
        &[0x01, 0x0a, b'a'],                          // length past the data
        &[0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],  // overlong varint
        &[0x03, 0xff, 0xff, 0xff, 0x7f],              // length over the cap
        &[0x04, 0x01, b't', 0x01, b'\n', 0x00, 0x00], // control character
        &[0x07, 0x00],                                // unknown type -> 00
    ];
    for i in 0..2000 {
        let mut s = UnixStream::connect(&sock)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        if i % 4 == 0 {
            let bad = hostile[i / 4 % hostile.len()];
            let _ = s.write_all(bad);
            let _ = s.shutdown(std::net::Shutdown::Write);
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink);
            if bad[0] == 0x07 {
                assert_eq!(sink, [0x00]);
            }
        } else if i % 4 == 1 {
            // Connect and leave without a word.
        } else {
            s.write_all(&[0x00, 0x00])?;
            let mut b = [0u8; 64];
            assert!(s.read(&mut b)? > 0);
        }
    }
    assert!(matches!(
        query(&sock, &Request::Version)?,
        Response::Version(_)
    ));
    let after = vm_rss_kib(pid)?;
    assert!(
        after < before + 4096,
        "VmRSS grew from {before} KiB to {after} KiB"
    );
    eprintln!("VmRSS before {before} KiB, after 2000 clients {after} KiB");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
