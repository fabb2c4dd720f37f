//! Fills the cache with 1 000 entries and measures a type-3 (all devices) query round
//! trip over the unix socket of a real `portgate-ssdpd`.
//!
//! The daemon only caches SSDP from its LAN, so this runs it on the loopback interface
//! (`-i lo`, 127.0.0.0/8 is then "the LAN") and announces from 127.0.0.1 with unicast
//! NOTIFYs to port 1900. Run as root (port 1900) with:
//! `cargo run --release -p portgate-ssdpd --example query_bench`
//! (build the binary first: `cargo build --release -p portgate-ssdpd`).

use std::io::{Read, Write};
use std::net::UdpSocket;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use portgate_proto::minissdpd::{Request, Response, ResponseKind};

fn round_trip(sock: &std::path::Path) -> anyhow::Result<(Duration, usize)> {
    let start = Instant::now();
    let mut s = UnixStream::connect(sock)?;
    let mut req = Vec::new();
    Request::All.emit(&mut req);
    s.write_all(&req)?;
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        if let Some((Response::Entries(list), _)) =
            Response::decode_prefix(ResponseKind::Entries, &got)?
        {
            return Ok((start.elapsed(), list.len()));
        }
        let n = s.read(&mut buf)?;
        anyhow::ensure!(n > 0, "closed early");
        got.extend_from_slice(&buf[..n]);
    }
}

fn main() -> anyhow::Result<()> {
    let bin = portgate_lab::workspace_bin("portgate-ssdpd")?;
    let dir = std::env::temp_dir().join(format!("pg-ssdpd-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let sock = dir.join("ssdpd.sock");
    let mut child = Command::new(bin)
        .args(["--foreground", "-i", "lo", "-s"])
        .arg(&sock)
        .stderr(Stdio::null())
        .spawn()?;
    let ready = Instant::now();
    while UnixStream::connect(&sock).is_err() {
        anyhow::ensure!(
            ready.elapsed() < Duration::from_secs(5),
            "daemon did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let udp = UdpSocket::bind("127.0.0.1:0")?;
    for i in 0..1000 {
        let msg = format!(
            "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=600\r\n\
             LOCATION: http://127.0.0.1:49152/desc{i}.xml\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\n\
             USN: uuid:bench-{i}::upnp:rootdevice\r\n\r\n"
        );
        udp.send_to(msg.as_bytes(), "127.0.0.1:1900")?;
        if i % 100 == 99 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let mut times = Vec::new();
    let mut count = 0;
    for _ in 0..200 {
        let (t, n) = round_trip(&sock)?;
        times.push(t);
        count = n;
    }
    times.sort();
    println!(
        "type-3 query, {count} entries returned (count byte caps at 255): median {:?}, p99 {:?}",
        times[times.len() / 2],
        times[times.len() * 99 / 100]
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
