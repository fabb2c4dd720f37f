//! A hostile "gateway" in the lab answers every SSDP search with a flood of 5 000
//! responses naming 2 500 different description URLs, some of them malformed: Debian's
//! `upnpc` on our library keeps at most 64 devices, finishes within seconds, and exits
//! normally (no crash, no IGD found).

#[path = "../../portgate-natpmp-c/tests/common/mod.rs"]
mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use portgate_lab::{Host, Lab};

#[test]
fn an_ssdp_flood_is_capped_and_survived() -> anyhow::Result<()> {
    if !portgate_lab::require() {
        return Ok(());
    }
    let Some(lab) = Lab::builder().lan_hosts(1).build_or_skip()? else {
        return Ok(());
    };
    let so = common::built_so("libminiupnpc.so")?;
    let libs = common::LibDir::new("miniupnpc-flood", &so, "libminiupnpc.so.17")?;
    let gw = lab.ipv4(Host::Gateway);
    let sock = lab.in_netns(Host::Gateway, || UdpSocket::bind(("0.0.0.0", 1900)))??;
    sock.set_read_timeout(Some(Duration::from_millis(100)))?;
    let stop = Arc::new(AtomicBool::new(false));
    let flooder = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let mut searches = 0u32;
            while !stop.load(Ordering::SeqCst) {
                let Ok((_, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                searches += 1;
                flood(&sock, from, gw, searches);
            }
            searches
        })
    };
    let path = format!("LD_LIBRARY_PATH={}", libs.path.display());
    let t = Instant::now();
    let (ok, out, trace) = common::run(
        &lab,
        Host::Lan(0),
        &["env", &path, "LD_DEBUG=libs", "upnpc", "-s"],
    )?;
    let took = t.elapsed();
    stop.store(true, Ordering::SeqCst);
    let searches = flooder
        .join()
        .map_err(|_| anyhow::anyhow!("flooder panicked"))?;
    assert!(
        common::loaded(&trace, &libs.lib("libminiupnpc.so.17")),
        "{trace}"
    );
    assert!(
        searches > 0,
        "the flood never started: no search reached the gateway"
    );
    let devices = out.matches(" desc: ").count();
    assert!(
        (1..=64).contains(&devices),
        "{devices} devices kept:\n{out}"
    );
    // upnpc says so on stderr, beside the loader's trace.
    assert!(
        !ok && trace.contains("No valid UPNP Internet Gateway Device found"),
        "{out}"
    );
    assert!(
        !trace.contains("Segmentation") && !trace.contains("panicked"),
        "{trace}"
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");
    Ok(())
}

/// 5 000 search responses to `to`: 2 500 locations on the gateway's closed port 1, and
/// every other one malformed (no LOCATION, a 3 000-byte LOCATION, garbage).
fn flood(sock: &UdpSocket, to: SocketAddr, gw: std::net::Ipv4Addr, round: u32) {
    let long = "x".repeat(3000);
    for i in 0..5000u32 {
        let msg = match i % 4 {
            0 | 1 => format!(
                "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\
                 USN: uuid:{round}-{i}::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nEXT:\r\n\
                 LOCATION: http://{gw}:1/{i}.xml\r\n\r\n"
            ),
            2 => format!("HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\nLOCATION: http://{gw}:1/{long}\r\n\r\n"),
            _ => "HTTP/1.1 200 OK\r\nST: \r\nLOCATION\r\n\0\0\0garbage".to_owned(),
        };
        let _ = sock.send_to(msg.as_bytes(), to);
    }
}
