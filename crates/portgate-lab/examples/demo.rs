//! The README's first command (`scripts/demo.sh` runs this as root): build a lab, prove it
//! forwards, then — once `portgated` exists — map a port through the daemon and prove the WAN
//! host's connection reaches the LAN host. Everything is torn down at the end.
//!
//! The daemon steps live in [`daemon_demo`] alone, so they can be filled in as the daemon and
//! CLI grow.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{bail, Context};
use portgate_lab::{workspace_bin, Host, Lab, Proc};

/// How long the daemon may take to print its "listening on" line.
const DAEMON_START: Duration = Duration::from_secs(10);
/// Time limit of one reachability probe.
const PROBE: Duration = Duration::from_secs(2);
/// The port the demo maps (same number outside and inside).
const DEMO_PORT: u16 = 5555;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    if let Some(reason) = portgate_lab::unavailable_reason() {
        bail!("the demo builds network namespaces and needs root: {reason}");
    }
    let lab = Lab::builder()
        .lan_hosts(2)
        .ipv6(true)
        // The daemon's log is shown step by step by `daemon_log` instead.
        .echo(false)
        .build()
        .context("building the lab")?;
    show_lab(&lab)?;
    prove_lab(&lab)?;
    match daemon_binaries() {
        Ok(bins) => daemon_demo(&lab, &bins)?,
        Err(why) => {
            println!();
            println!("lab up, daemon not built yet ({why})");
        }
    }
    println!();
    println!("== tearing down {}", lab.namespaces().join(" "));
    drop(lab);
    Ok(())
}

fn banner(title: &str) {
    println!();
    println!("== {title}");
}

fn show_lab(lab: &Lab) -> anyhow::Result<()> {
    banner("lab namespaces");
    for host in lab.hosts() {
        let addrs: Vec<String> = lab.addresses(host).iter().map(|a| a.to_string()).collect();
        println!("{host:<4} {:<16} {}", lab.netns(host), addrs.join("  "));
    }
    for host in lab.hosts() {
        banner(&format!("{host}: ip -br addr; ip route"));
        print!("{}", lab.sh(host, "ip -br addr; ip route")?);
    }
    Ok(())
}

fn prove_lab(lab: &Lab) -> anyhow::Result<()> {
    let wan = lab.ipv4(Host::Wan).to_string();
    banner(&format!("l0: ping {wan} (WAN host, through the gateway)"));
    print!(
        "{}",
        lab.sh(Host::Lan(0), &format!("ping -c 1 -W 2 {wan}"))
            .context("ping from the LAN host (package iputils-ping)")?
    );
    if let Some(wan6) = lab.ipv6(Host::Wan) {
        banner(&format!("l0: ping {wan6} (IPv6, routed, no NAT66)"));
        print!(
            "{}",
            lab.sh(Host::Lan(0), &format!("ping -6 -c 1 -W 2 {wan6}"))?
        );
    }

    banner("TCP l0 -> wan host: masqueraded to the gateway's external address");
    let to = (lab.ipv4(Host::Wan), 7000).into();
    let r = lab.tcp_probe_report(Host::Lan(0), to, (Host::Wan, 7000), b"hello", PROBE)?;
    let seen = r.peer.map(|p| p.ip().to_string()).unwrap_or_default();
    println!(
        "wan host received {:?} from {seen}",
        String::from_utf8_lossy(&r.received)
    );
    if !r.delivered || seen != lab.external_ipv4().to_string() {
        bail!("outbound TCP through the gateway failed: {r:?}");
    }

    banner("TCP wan host -> gateway external address: no mapping, must not reach l0");
    let ext = (lab.external_ipv4(), DEMO_PORT).into();
    let r = lab.tcp_probe_report(Host::Wan, ext, (Host::Lan(0), DEMO_PORT), b"x", PROBE)?;
    if r.delivered {
        bail!("the WAN host reached the LAN host without a mapping: {r:?}");
    }
    println!(
        "not reached ({})",
        r.sender_error.as_deref().unwrap_or("timed out")
    );
    Ok(())
}

/// Paths of `portgated` and `portgate` when both are built and answer `--version`.
struct Binaries {
    daemon: PathBuf,
    cli: PathBuf,
}

fn daemon_binaries() -> Result<Binaries, String> {
    let daemon = workspace_bin("portgated").map_err(|e| e.to_string())?;
    let cli = workspace_bin("portgate").map_err(|e| e.to_string())?;
    for bin in [&daemon, &cli] {
        let out = Command::new(bin)
            .arg("--version")
            .output()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        if !out.status.success() {
            let name = bin.file_name().unwrap_or_default().to_string_lossy();
            let said = String::from_utf8_lossy(&out.stderr);
            let said = said.lines().next().unwrap_or_default().to_owned();
            return Err(format!("`{name} --version` failed ({}) {said}", out.status)
                .trim_end()
                .to_owned());
        }
    }
    Ok(Binaries { daemon, cli })
}

/// The daemon part: start portgated in the gateway, map a port from the LAN host with the
/// `portgate` CLI, prove the WAN host's bytes arrive, show the table, unmap, stop.
fn daemon_demo(lab: &Lab, bins: &Binaries) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("{}-demo", lab.id()));
    std::fs::create_dir_all(&dir)?;
    let conf = dir.join("miniupnpd.conf");
    std::fs::write(
        &conf,
        format!(
            "# written by the portgate demo\n\
             ext_ifname={wan}\n\
             listening_ip={lan}/{prefix}\n\
             enable_upnp=yes\n\
             enable_natpmp=yes\n\
             secure_mode=yes\n\
             # the lab's WAN is a TEST-NET range\n\
             ext_allow_private_ipv4=yes\n\
             allow 1024-65535 10.0.0.0/8 1024-65535\n\
             deny 0-65535 0.0.0.0/0 0-65535\n\
             lease_file={lease}\n",
            wan = lab.gateway().wan.name,
            lan = lab.gateway().lan.ipv4,
            prefix = lab.gateway().lan.ipv4_prefix,
            lease = dir.join("leases").display(),
        ),
    )?;
    let result = (|| -> anyhow::Result<()> {
        let conf_arg = conf.display().to_string();
        let daemon_path = bins.daemon.display().to_string();
        let cli = bins.cli.display().to_string();

        banner("gw: portgated -d");
        let daemon = lab.spawn_daemon(
            Host::Gateway,
            &[daemon_path.as_str(), "-f", &conf_arg, "-d"],
            "listening on",
            DAEMON_START,
        )?;
        // The UPnP side logs its own "listening on" first; the line naming every socket
        // comes once NAT-PMP/PCP listens too.
        daemon.wait_for("(nat-pmp/pcp)", DAEMON_START)?;
        let mut seen = 0;
        daemon_log(&daemon, &mut seen);

        let port = DEMO_PORT.to_string();
        banner(&format!("l0: portgate map --protocol tcp {port}"));
        print!(
            "{}",
            lab.sh(Host::Lan(0), &format!("{cli} map --protocol tcp {port}"))?
        );

        daemon_log(&daemon, &mut seen);
        banner("wan host -> external address: must reach l0 now");
        let ext = (lab.external_ipv4(), DEMO_PORT).into();
        let r =
            lab.tcp_probe_report(Host::Wan, ext, (Host::Lan(0), DEMO_PORT), b"mapped!", PROBE)?;
        if !r.delivered {
            bail!("mapping made but the WAN host's bytes did not arrive: {r:?}");
        }
        println!("l0 received {:?}", String::from_utf8_lossy(&r.received));

        banner("l0: portgate list");
        print!("{}", lab.sh(Host::Lan(0), &format!("{cli} list"))?);
        daemon_log(&daemon, &mut seen);
        banner("gw: nft list ruleset");
        print!("{}", lab.nft_ruleset()?);

        banner(&format!("l0: portgate unmap --protocol tcp {port}"));
        print!(
            "{}",
            lab.sh(Host::Lan(0), &format!("{cli} unmap --protocol tcp {port}"))?
        );
        if lab.tcp_probe(Host::Wan, ext, (Host::Lan(0), DEMO_PORT), b"gone", PROBE)? {
            bail!("the WAN host still reaches the LAN host after unmap");
        }
        daemon_log(&daemon, &mut seen);
        println!("unmapped: the WAN host no longer reaches l0");

        banner("gw: stopping portgated");
        let status = daemon.terminate(Duration::from_secs(5))?;
        daemon_log(&daemon, &mut seen);
        println!("portgated exited: {status}");
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Print the daemon's log lines from index `seen` on (colours stripped, SSDP chatter about
/// searches for other devices left out) and advance `seen`.
fn daemon_log(daemon: &Proc, seen: &mut usize) {
    let lines = daemon.lines();
    for line in lines.iter().skip(*seen) {
        if line.contains("search ignored") {
            continue;
        }
        println!("  portgated | {}", strip_ansi(line));
    }
    *seen = lines.len();
}

/// Remove ANSI colour sequences (`ESC [ ... letter`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
