//! End-to-end: Debian's `upnpc`, given no `-p`, asks the cache daemon at the default
//! socket path (/var/run/minissdpd.sock) before multicasting, and that daemon is ours.
//!
//! The host's real /run is never touched: `portgate-ssdpd` runs on a lab LAN host inside
//! a mount namespace of its own (`unshare -m`) with a fresh tmpfs on /run (/var/run is a
//! symlink to it on Debian), so it listens at the default path without any `-s`. `upnpc`
//! is run in that same mount namespace (`nsenter -m`). `portgated` runs in the gateway and
//! the cache daemon learns it by SSDP as usual; then an nftables rule on the LAN host drops
//! (and counts) every datagram it sends to UDP port 1900, so no multicast search can find
//! the gateway. `upnpc -l` still finds and uses it, the counter stays at zero and the cache
//! daemon logs the socket requests: the answer came through our socket. A control run with
//! a socket path where nothing listens shows upnpc does multicast then (the counter moves)
//! and finds nothing.
//!
//! `portgated` belongs to another package: under cargo the test builds it first (with the
//! same cargo, profile and target directory; a no-op when up to date) and finds it with
//! [`portgate_lab::workspace_bin`].

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use portgate_lab::{Host, Lab, Proc, HOST_IF};
use portgate_proto::minissdpd::{Request, Response, ResponseKind};

const START: Duration = Duration::from_secs(20);
const IGD1: &str = "urn:schemas-upnp-org:device:InternetGatewayDevice:1";
/// The default socket path of MiniSSDPd and of `portgate-ssdpd`.
const DEFAULT_SOCKET: &str = "/var/run/minissdpd.sock";

/// Builds `portgated` under cargo (once per test process) and returns its path.
fn portgated_bin() -> PathBuf {
    portgate_lab::built_workspace_bin("portgate-daemon", "portgated").expect("portgated built")
}

/// Starts portgated (UPnP on port 5000) in the gateway.
fn start_portgated(lab: &Lab, dir: &Path) -> Proc {
    let gw = lab.gateway();
    let conf = dir.join("miniupnpd.conf");
    std::fs::write(
        &conf,
        format!(
            "ext_ifname={wan}\nlistening_ip={lan}/{prefix}\next_allow_private_ipv4=yes\n\
             enable_upnp=yes\nhttp_port=5000\nlease_file={lease}\n",
            wan = gw.wan.name,
            lan = gw.lan.ipv4,
            prefix = gw.lan.ipv4_prefix,
            lease = dir.join("leases").display(),
        ),
    )
    .unwrap();
    let bin = portgated_bin();
    let args = [
        bin.as_os_str(),
        "--foreground".as_ref(),
        "-f".as_ref(),
        conf.as_os_str(),
    ];
    lab.spawn_daemon(Host::Gateway, &args, "listening on", START)
        .expect("portgated starts")
}

/// Starts portgate-ssdpd on LAN host 0 in a private mount namespace with a fresh /run,
/// without `-s`: it listens at the default path. The returned process is portgate-ssdpd
/// itself (`unshare` and `sh` exec it), so its pid names the mount namespace.
fn start_ssdpd_default_path(lab: &Lab) -> Proc {
    let bin = env!("CARGO_BIN_EXE_portgate-ssdpd");
    let script = format!("mount -t tmpfs -o mode=0755 pg-run /run && exec \"$0\" -d -i {HOST_IF}");
    let args = ["unshare", "-m", "sh", "-c", script.as_str(), bin];
    lab.spawn_daemon(Host::Lan(0), &args, "listening on", START)
        .expect("portgate-ssdpd starts in its own mount namespace")
}

/// The default socket as seen from outside the daemon's mount namespace (through /run:
/// the /var/run symlink is absolute and would resolve in the caller's namespace).
fn socket_of(ssdpd: &Proc) -> PathBuf {
    PathBuf::from(format!("/proc/{}/root/run/minissdpd.sock", ssdpd.pid()))
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

/// Waits until the cache daemon lists an IGD at `location`.
fn wait_cached(sock: &Path, location: &str, ssdpd: &Proc) {
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if let Ok(Response::Entries(list)) = query(sock, &Request::ByType(IGD1.into())) {
            if list.iter().any(|e| e.location == location) {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "the cache daemon never learnt the gateway:\n{}",
        ssdpd.output()
    );
}

/// Runs `args` on LAN host 0 inside the mount namespace of `ssdpd`.
fn run_in_ns(lab: &Lab, ssdpd: &Proc, args: &[&str]) -> String {
    let pid = ssdpd.pid().to_string();
    let mut cmd = vec!["nsenter", "-t", pid.as_str(), "-m", "--"];
    cmd.extend_from_slice(args);
    let out = lab.exec_unchecked(Host::Lan(0), &cmd).expect("exec");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{args:?}:\n{text}");
    text
}

#[test]
fn upnpc_uses_our_daemon_at_the_default_path_without_multicasting() {
    let Some(lab) = Lab::builder()
        .lan_hosts(1)
        .wan_unreserved()
        .build_or_skip()
        .expect("lab")
    else {
        return;
    };
    let host_socket_before = Path::new(DEFAULT_SOCKET).exists();
    let dir = std::env::temp_dir().join(format!("pg-ssdpd-default-{}", lab.id()));
    std::fs::create_dir_all(&dir).unwrap();

    let _portgated = start_portgated(&lab, &dir);
    let ssdpd = start_ssdpd_default_path(&lab);
    let listening = ssdpd.wait_for("listening on", START).unwrap();
    assert!(listening.contains(DEFAULT_SOCKET), "{listening}");
    let sock = socket_of(&ssdpd);
    let location = format!("http://{}:5000/rootDesc.xml", lab.ipv4(Host::Gateway));
    wait_cached(&sock, &location, &ssdpd);

    lab.block_udp_out(Host::Lan(0), 1900).expect("nft guard");
    let requests_before = ssdpd
        .lines()
        .iter()
        .filter(|l| l.contains("socket request"))
        .count();

    // No -p: upnpc asks /var/run/minissdpd.sock, which in this namespace is ours.
    let text = run_in_ns(&lab, &ssdpd, &["upnpc", "-l"]);
    assert!(
        text.contains(&format!("desc: {location}")),
        "upnpc did not find the gateway through the cache daemon:\n{text}\n{}",
        ssdpd.output()
    );
    assert!(text.contains("Found valid IGD"), "{text}");
    assert!(
        text.contains(&format!("ExternalIPAddress = {}", lab.external_ipv4())),
        "{text}"
    );
    assert_eq!(
        lab.blocked_udp_out(Host::Lan(0)).expect("nft counter"),
        0,
        "upnpc multicast a search:\n{text}"
    );
    let requests: Vec<String> = ssdpd
        .lines()
        .into_iter()
        .filter(|l| l.contains("socket request"))
        .skip(requests_before)
        .collect();
    assert!(
        requests
            .iter()
            .any(|l| l.contains("ByType") && l.contains(IGD1)),
        "the cache daemon logged no search by type from upnpc:\n{}",
        ssdpd.output()
    );

    // Control: with a socket path where nothing listens upnpc multicasts (the guard
    // counts and drops it) and finds nothing.
    let text = run_in_ns(&lab, &ssdpd, &["upnpc", "-p", "/run/pg-nothing.sock", "-l"]);
    assert!(
        !text.contains(&format!("desc: {location}")),
        "found without the cache daemon: the guard does not hold:\n{text}"
    );
    assert!(
        lab.blocked_udp_out(Host::Lan(0)).expect("nft counter") > 0,
        "upnpc sent no search at all:\n{text}"
    );

    assert!(ssdpd.try_status().is_none(), "portgate-ssdpd still runs");
    assert_eq!(
        Path::new(DEFAULT_SOCKET).exists(),
        host_socket_before,
        "the host's own /var/run was touched"
    );
    drop(ssdpd);
    let _ = std::fs::remove_dir_all(&dir);
}
