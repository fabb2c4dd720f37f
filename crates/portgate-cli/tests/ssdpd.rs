//! End-to-end: the `portgate` CLI asks the SSDP cache daemon first when there is one, and
//! finds the gateway through it without any multicast answer (docs/design.md: the cache daemon is asked first).
//!
//! `portgate-ssdpd` runs on a lab LAN host inside a mount namespace of its own (`unshare -m`)
//! with a fresh tmpfs on /run, so it listens at the default /var/run/minissdpd.sock without
//! touching the host's. `portgated` runs in the gateway; the cache daemon learns it by SSDP
//! as usual. Then an nftables rule on the LAN host drops (and counts) every datagram sent
//! to UDP port 1900, so no multicast search can find the gateway: `portgate discover` (in
//! the daemon's mount namespace, with no flag, and from outside it with `--minissdpd`)
//! still reports the gateway, the counter stays at zero, and the cache daemon logs the
//! socket requests. A control run with a socket path where nothing listens multicasts (the
//! counter moves) and finds no UPnP gateway.
//!
//! `portgated` and `portgate-ssdpd` belong to other packages: under cargo the test builds
//! them first (same cargo, profile and target directory; a no-op when up to date) and
//! finds them with [`portgate_lab::workspace_bin`].

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use portgate_client::blocking::query_minissdpd;
use portgate_lab::{Host, Lab, Proc, HOST_IF};

const START: Duration = Duration::from_secs(20);
/// The default socket path of MiniSSDPd and of `portgate-ssdpd`.
const DEFAULT_SOCKET: &str = "/var/run/minissdpd.sock";

/// Builds `portgated` and `portgate-ssdpd` under cargo (once per test process) and
/// returns the path of `name`.
fn workspace_bin(name: &str) -> PathBuf {
    let package = match name {
        "portgate-ssdpd" => "portgate-ssdpd",
        _ => "portgate-daemon",
    };
    portgate_lab::built_workspace_bin(package, name).expect("binary built")
}

/// Starts portgated (UPnP on port 5000, NAT-PMP and PCP) in the gateway.
fn start_portgated(lab: &Lab, dir: &Path) -> Proc {
    let gw = lab.gateway();
    let conf = dir.join("miniupnpd.conf");
    std::fs::write(
        &conf,
        format!(
            "ext_ifname={wan}\nlistening_ip={lan}/{prefix}\next_allow_private_ipv4=yes\n\
             enable_upnp=yes\nenable_natpmp=yes\nhttp_port=5000\nlease_file={lease}\n",
            wan = gw.wan.name,
            lan = gw.lan.ipv4,
            prefix = gw.lan.ipv4_prefix,
            lease = dir.join("leases").display(),
        ),
    )
    .unwrap();
    let bin = workspace_bin("portgated");
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
    let bin = workspace_bin("portgate-ssdpd");
    let script = format!("mount -t tmpfs -o mode=0755 pg-run /run && exec \"$0\" -d -i {HOST_IF}");
    let args = [
        "unshare".as_ref(),
        "-m".as_ref(),
        "sh".as_ref(),
        "-c".as_ref(),
        script.as_ref(),
        bin.as_os_str(),
    ];
    lab.spawn_daemon(Host::Lan(0), &args, "listening on", START)
        .expect("portgate-ssdpd starts in its own mount namespace")
}

/// Runs `portgate args` on LAN host 0, inside the mount namespace of `ns` when given.
fn portgate(lab: &Lab, ns: Option<&Proc>, args: &[&str]) -> String {
    let pid = ns.map(|p| p.pid().to_string());
    let mut cmd: Vec<&str> = Vec::new();
    if let Some(pid) = &pid {
        cmd.extend(["nsenter", "-t", pid.as_str(), "-m", "--"]);
    }
    cmd.push(env!("CARGO_BIN_EXE_portgate"));
    cmd.extend_from_slice(args);
    let out = lab.exec_unchecked(Host::Lan(0), &cmd).expect("exec");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("portgate {args:?}:\n{text}");
    text
}

/// Socket requests the cache daemon has logged so far.
fn requests(ssdpd: &Proc) -> Vec<String> {
    ssdpd
        .lines()
        .into_iter()
        .filter(|l| l.contains("socket request"))
        .collect()
}

#[test]
fn portgate_finds_the_gateway_through_the_cache_daemon_without_multicast() {
    let Some(lab) = Lab::builder()
        .lan_hosts(1)
        .wan_unreserved()
        .build_or_skip()
        .expect("lab")
    else {
        return;
    };
    let host_socket_before = Path::new(DEFAULT_SOCKET).exists();
    let dir = std::env::temp_dir().join(format!("pg-cli-ssdpd-{}", lab.id()));
    std::fs::create_dir_all(&dir).unwrap();

    let _portgated = start_portgated(&lab, &dir);
    let ssdpd = start_ssdpd_default_path(&lab);
    let listening = ssdpd.wait_for("listening on", START).unwrap();
    assert!(listening.contains(DEFAULT_SOCKET), "{listening}");
    // The default socket as seen from outside the daemon's mount namespace (through /run:
    // the /var/run symlink is absolute and would resolve in the caller's namespace).
    let sock = PathBuf::from(format!("/proc/{}/root/run/minissdpd.sock", ssdpd.pid()));
    let location = format!("http://{}:5000/rootDesc.xml", lab.ipv4(Host::Gateway));
    let end = Instant::now() + Duration::from_secs(10);
    while !query_minissdpd(&sock)
        .map(|l| l.iter().any(|e| e.location == location))
        .unwrap_or(false)
    {
        assert!(
            Instant::now() < end,
            "the cache daemon never learnt the gateway:\n{}",
            ssdpd.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    lab.block_udp_out(Host::Lan(0), 1900).expect("nft guard");
    let want_location = format!("\"location\":\"{location}\"");
    let want_external = format!("\"external_address\":\"{}\"", lab.external_ipv4());

    // No flag: the default socket, which in this mount namespace is ours.
    let before = requests(&ssdpd).len();
    let out = portgate(&lab, Some(&ssdpd), &["discover", "--json"]);
    assert!(
        out.contains(&want_location),
        "not found through the default socket:\n{out}\n{}",
        ssdpd.output()
    );
    assert!(out.contains(&want_external), "{out}");
    assert_eq!(
        lab.blocked_udp_out(Host::Lan(0)).expect("nft counter"),
        0,
        "portgate multicast a search:\n{out}"
    );
    assert!(
        requests(&ssdpd)
            .iter()
            .skip(before)
            .any(|l| l.contains("ByType")),
        "the cache daemon logged no search from portgate:\n{}",
        ssdpd.output()
    );

    // --minissdpd PATH, from outside the daemon's mount namespace.
    let before = requests(&ssdpd).len();
    let out = portgate(
        &lab,
        None,
        &["discover", "--json", "--minissdpd", sock.to_str().unwrap()],
    );
    assert!(out.contains(&want_location), "{out}");
    assert_eq!(
        lab.blocked_udp_out(Host::Lan(0)).expect("nft counter"),
        0,
        "portgate multicast a search:\n{out}"
    );
    assert!(requests(&ssdpd).len() > before, "{}", ssdpd.output());

    // Control: nothing at the socket path -> portgate multicasts (counted and dropped)
    // and finds no UPnP gateway.
    let out = portgate(
        &lab,
        Some(&ssdpd),
        &[
            "discover",
            "--json",
            "--discover-ms",
            "500",
            "--minissdpd",
            "/run/pg-nothing.sock",
        ],
    );
    assert!(
        !out.contains(&want_location),
        "found without the cache daemon: the guard does not hold:\n{out}"
    );
    assert!(
        lab.blocked_udp_out(Host::Lan(0)).expect("nft counter") > 0,
        "portgate sent no search at all:\n{out}"
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
