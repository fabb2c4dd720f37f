//! End-to-end, IPv6: `portgate pinhole ...` on a lab LAN host against Debian's
//! miniupnpd-nftables (built with IPv6 and WANIPv6FirewallControl) in the gateway
//! namespace. The gateway's forward chain drops new inbound traffic, so the WAN host
//! reaching the LAN host's IPv6 address proves the pinhole, and its absence after
//! DeletePinhole proves the deletion.

use std::net::SocketAddr;
use std::time::Duration;

use portgate_lab::{Host, Lab};

const PROBE: Duration = Duration::from_secs(3);

fn portgate(lab: &Lab, args: &[&str]) -> anyhow::Result<(bool, String)> {
    let mut cmd = vec![env!("CARGO_BIN_EXE_portgate")];
    cmd.extend_from_slice(args);
    let out = lab.exec_unchecked(Host::Lan(0), &cmd)?;
    Ok((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

fn json_u64(out: &str, key: &str) -> Option<u64> {
    out.split(&format!("\"{key}\":"))
        .nth(1)?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[test]
fn pinhole_against_miniupnpd() -> anyhow::Result<()> {
    if !std::path::Path::new("/usr/sbin/miniupnpd").exists() && !portgate_lab::in_ci() {
        eprintln!("skipped: miniupnpd-nftables not installed");
        return Ok(());
    }
    let Some(lab) = Lab::builder()
        .lan_hosts(1)
        .wan_unreserved()
        .ipv6(true)
        .build_or_skip()?
    else {
        return Ok(());
    };
    let gw6 = lab.ipv6(Host::Gateway).expect("lab has ipv6");
    let lan6 = lab.ipv6(Host::Lan(0)).expect("lab has ipv6");
    let dir = std::env::temp_dir().join(format!("pg-client-e2e6-{}", lab.id()));
    std::fs::create_dir_all(&dir)?;
    lab.install_miniupnpd_skeleton()?;
    let conf = dir.join("miniupnpd.conf");
    std::fs::write(
        &conf,
        format!(
            "ext_ifname=wan0\nlistening_ip=br-lan\nipv6_listening_ip={gw6}\nhttp_port=5000\n\
             enable_natpmp=yes\nenable_upnp=yes\nsecure_mode=yes\nsystem_uptime=yes\n\
             uuid=3d3cec3a-8cf0-11e0-98ee-001a6bd2d07c\nlease_file={}/leases\n\
             allow 1024-65535 10.0.0.0/8 1024-65535\ndeny 0-65535 0.0.0.0/0 0-65535\n",
            dir.display()
        ),
    )?;
    let conf = conf.display().to_string();
    // A pid file of its own: the default /var/run/miniupnpd.pid makes a second
    // miniupnpd (another test running in parallel) exit at once.
    let pid = dir.join("miniupnpd.pid").display().to_string();
    let daemon = lab.spawn_daemon(
        Host::Gateway,
        &["/usr/sbin/miniupnpd", "-f", &conf, "-P", &pid, "-d"],
        "HTTP listening on port",
        Duration::from_secs(10),
    )?;
    let url = format!("http://[{gw6}]:5000/rootDesc.xml");
    let to: SocketAddr = (lan6, 5700).into();

    // Closed before: the gateway's forward policy drops new inbound IPv6.
    assert!(!lab.tcp_probe(Host::Wan, to, (Host::Lan(0), 5700), b"closed", PROBE)?);

    // GetFirewallStatus. (Not found by SSDP on ff02::c here: miniupnpd 2.3.1 binds
    // its IPv6 SSDP socket to the ipv6_listening_ip unicast address — `ss -uan` in the
    // gateway shows [2001:db8:1::1]%br-lan:1900 — so the kernel never delivers
    // multicast M-SEARCHes to it.)
    let (ok, out) = portgate(&lab, &["--json", "--url", &url, "pinhole", "status"])?;
    assert!(ok, "{out}\n{}", daemon.output());
    assert!(out.contains("\"inbound_pinhole_allowed\":true"), "{out}");

    // AddPinhole over the IPv6 control URL; the WAN host now gets through.
    let (ok, out) = portgate(
        &lab,
        &[
            "--json", "--url", &url, "pinhole", "add", "5700", "--lease", "600",
        ],
    )?;
    assert!(ok, "{out}\n{}", daemon.output());
    assert!(
        out.contains(&format!("\"internal_client\":\"{lan6}\"")),
        "{out}"
    );
    let id = json_u64(&out, "id").ok_or_else(|| anyhow::anyhow!("no id in {out}"))?;
    let ids = id.to_string();
    assert!(lab.tcp_probe(Host::Wan, to, (Host::Lan(0), 5700), b"pinhole", PROBE)?);

    // UpdatePinhole, CheckPinholeWorking / GetPinholePackets.
    let (ok, out) = portgate(
        &lab,
        &["--url", &url, "pinhole", "update", &ids, "--lease", "900"],
    )?;
    assert!(ok, "{out}\n{}", daemon.output());
    let (ok, out) = portgate(&lab, &["--json", "--url", &url, "pinhole", "check", &ids])?;
    assert!(ok, "{out}\n{}", daemon.output());
    eprintln!("pinhole check: {out}");

    // DeletePinhole: closed again; a second delete is a typed fault (exit code 4):
    // the standard says 704 NoSuchEntry, miniupnpd 2.3.1 answers 402 Invalid Args.
    let (ok, out) = portgate(&lab, &["--url", &url, "pinhole", "delete", &ids])?;
    assert!(ok, "{out}\n{}", daemon.output());
    assert!(!lab.tcp_probe(Host::Wan, to, (Host::Lan(0), 5700), b"deleted", PROBE)?);
    let (ok, out) = portgate(&lab, &["--json", "--url", &url, "pinhole", "delete", &ids])?;
    assert!(!ok, "{out}");
    eprintln!("second delete: {out}");
    assert!(
        out.contains("\"upnp_code\":704") || out.contains("\"upnp_code\":402"),
        "{out}"
    );

    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
