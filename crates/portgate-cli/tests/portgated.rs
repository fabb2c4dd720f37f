//! End-to-end: the `portgate` binary on a lab LAN host against our own `portgated` in the
//! gateway namespace (UPnP IGD, NAT-PMP and PCP on real nftables). Every mapping is proven by
//! the WAN host's bytes reaching the LAN host, and every removal by those bytes no longer
//! arriving.
//!
//! `portgated` belongs to another package, so `CARGO_BIN_EXE_portgated` does not exist here:
//! under cargo the test builds it first (`cargo build -p portgate-daemon --bin portgated`
//! with the same cargo and target directory; a no-op when up to date, and what makes
//! `cargo test -p portgate-cli` work alone), then finds it with
//! [`portgate_lab::workspace_bin`].

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{json_number, portgated_bin, start_portgated};
use portgate_lab::{Host, Lab, Proc};

/// How long a probe that must get through may take.
const PROBE: Duration = Duration::from_secs(3);
/// How long a probe that must not get through is given.
const PROBE_BLOCKED: Duration = Duration::from_secs(2);
/// Runs per timing figure (the median is printed).
const TIMING_RUNS: usize = 5;

/// Result of one CLI run: exit status ok, stdout + stderr, wall time.
struct Run {
    ok: bool,
    out: String,
    took: Duration,
}

/// Run `cmd` in the LAN host and time it.
fn run_on(lab: &Lab, host: Host, cmd: &[&str]) -> anyhow::Result<Run> {
    let t = Instant::now();
    let out = lab.exec_unchecked(host, cmd)?;
    let took = t.elapsed();
    Ok(Run {
        ok: out.status.success(),
        out: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        took,
    })
}

/// Run the `portgate` CLI on LAN host 0.
fn portgate(lab: &Lab, args: &[&str]) -> anyhow::Result<Run> {
    let mut cmd = vec![env!("CARGO_BIN_EXE_portgate")];
    cmd.extend_from_slice(args);
    run_on(lab, Host::Lan(0), &cmd)
}

/// Run the `portgate` CLI on LAN host 0 and require exit status 0.
fn portgate_ok(lab: &Lab, args: &[&str]) -> anyhow::Result<String> {
    let r = portgate(lab, args)?;
    anyhow::ensure!(r.ok, "portgate {args:?} failed: {}", r.out);
    Ok(r.out)
}

/// A lab with portgated running; `None` when the lab cannot run here (outside CI).
struct Setup {
    lab: Lab,
    daemon: Proc,
    dir: PathBuf,
}

impl Setup {
    /// Start with the WAN on 203.0.113.0/24 (`unreserved`: on the lab's unreserved WAN net,
    /// which Debian's upnpc needs: it rejects an IGD whose external address is reserved).
    fn start(unreserved: bool) -> anyhow::Result<Option<Setup>> {
        if !portgate_lab::require() {
            return Ok(None);
        }
        let bin = portgated_bin()?;
        let mut builder = Lab::builder().lan_hosts(1);
        if unreserved {
            builder = builder.wan_unreserved();
        }
        let Some(lab) = builder.build_or_skip()? else {
            return Ok(None);
        };
        let dir = std::env::temp_dir().join(format!("pg-cli-portgated-{}", lab.id()));
        std::fs::create_dir_all(&dir)?;
        let daemon = start_portgated(&lab, &bin, &dir)?;
        Ok(Some(Setup { lab, daemon, dir }))
    }

    fn ext(&self, port: u16) -> SocketAddr {
        (self.lab.external_ipv4(), port).into()
    }

    /// Bytes from the WAN host to external `port` arrive on LAN host 0 at `internal`.
    fn tcp_reaches(&self, port: u16, internal: u16, timeout: Duration) -> anyhow::Result<bool> {
        Ok(self.lab.tcp_probe(
            Host::Wan,
            self.ext(port),
            (Host::Lan(0), internal),
            b"portgate-tcp",
            timeout,
        )?)
    }

    /// UDP datagrams from the WAN host to external `port` arrive on LAN host 0 at `internal`.
    fn udp_reaches(&self, port: u16, internal: u16, timeout: Duration) -> anyhow::Result<bool> {
        Ok(self.lab.udp_probe(
            Host::Wan,
            self.ext(port),
            (Host::Lan(0), internal),
            b"portgate-udp",
            timeout,
        )?)
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if self.daemon.try_status().is_some() {
            eprintln!("portgated exited early:\n{}", self.daemon.output());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The protocol that deletes a mapping made with `via`: the CLI cannot delete a PCP
/// mapping from a new process (PCP deletion needs the nonce of the request that made it,
/// RFC 6887 section 11.1), so PCP mappings are removed through UPnP's DeletePortMapping,
/// which the gateway applies to whichever protocol made the entry.
fn unmap_via(via: &str) -> &str {
    if via == "pcp" {
        "upnp"
    } else {
        via
    }
}

/// Map, prove, list, unmap, prove gone, with one explicit protocol.
fn map_probe_unmap(
    s: &Setup,
    via: &str,
    proto: &str,
    port: u16,
    internal: u16,
) -> anyhow::Result<()> {
    let (ext_s, int_s) = (port.to_string(), internal.to_string());
    let out = portgate_ok(
        &s.lab,
        &["--json", "map", "--via", via, "-p", proto, &ext_s, &int_s],
    )?;
    assert!(
        out.contains(&format!("\"external_port\":{port}")),
        "{via}: {out}"
    );
    let reached = match proto {
        "udp" => s.udp_reaches(port, internal, PROBE)?,
        _ => s.tcp_reaches(port, internal, PROBE)?,
    };
    assert!(
        reached,
        "{via}/{proto}: WAN bytes to {port} did not reach the LAN host"
    );

    // The gateway's UPnP table lists every mapping, whichever protocol made it.
    let list = portgate_ok(&s.lab, &["--json", "list"])?;
    assert!(
        list.contains(&format!("\"external_port\":{port}"))
            && list.contains(&s.lab.ipv4(Host::Lan(0)).to_string()),
        "{via}/{proto}: list lacks {port}: {list}"
    );

    portgate_ok(
        &s.lab,
        &[
            "unmap",
            "--via",
            unmap_via(via),
            "-p",
            proto,
            &ext_s,
            &int_s,
        ],
    )?;
    let list = portgate_ok(&s.lab, &["--json", "list"])?;
    assert!(
        !list.contains(&format!("\"external_port\":{port}")),
        "{via}/{proto}: still listed after unmap: {list}"
    );
    let reached = match proto {
        "udp" => s.udp_reaches(port, internal, PROBE_BLOCKED)?,
        _ => s.tcp_reaches(port, internal, PROBE_BLOCKED)?,
    };
    assert!(
        !reached,
        "{via}/{proto}: WAN bytes still reach {port} after unmap"
    );
    Ok(())
}

#[test]
fn portgate_against_portgated() -> anyhow::Result<()> {
    let Some(s) = Setup::start(false)? else {
        return Ok(());
    };
    let ext_ip = s.lab.external_ipv4();
    let gw_ip = s.lab.gateway().lan.ipv4;

    // Nothing is open before any mapping.
    assert!(!s.tcp_reaches(41000, 6000, PROBE_BLOCKED)?);

    // (a) UPnP IGD, TCP.
    map_probe_unmap(&s, "upnp", "tcp", 41000, 6000)?;
    // (b) NAT-PMP, TCP and UDP.
    map_probe_unmap(&s, "natpmp", "tcp", 41100, 6100)?;
    map_probe_unmap(&s, "natpmp", "udp", 41101, 6101)?;
    // (c) PCP, TCP and UDP.
    map_probe_unmap(&s, "pcp", "tcp", 41200, 6200)?;
    map_probe_unmap(&s, "pcp", "udp", 41201, 6201)?;

    // (d) Automatic protocol selection.
    let out = portgate_ok(&s.lab, &["--json", "map", "41300", "6300"])?;
    eprintln!("auto map chose: {out}");
    assert_eq!(json_number(&out, "external_port"), Some(41300), "{out}");
    assert!(s.tcp_reaches(41300, 6300, PROBE)?, "auto map: {out}");
    // Delete with the protocol auto chose (PCP through UPnP, see `unmap_via`).
    let chosen = ["upnp", "natpmp", "pcp"]
        .into_iter()
        .find(|v| out.contains(&format!("\"via\":\"{v}\"")))
        .ok_or_else(|| anyhow::anyhow!("auto map names no protocol: {out}"))?;
    portgate_ok(
        &s.lab,
        &["unmap", "--via", unmap_via(chosen), "41300", "6300"],
    )?;
    assert!(!s.tcp_reaches(41300, 6300, PROBE_BLOCKED)?, "auto unmap");

    // (e) discover finds the gateway with all three protocols.
    let out = portgate_ok(&s.lab, &["--json", "discover", "--discover-ms", "1500"])?;
    eprintln!("discover: {out}");
    assert!(out.contains(&format!("\"gateway\":\"{gw_ip}\"")), "{out}");
    let (upnp, rest) = out
        .split_once("\"natpmp\":")
        .ok_or_else(|| anyhow::anyhow!("no natpmp in {out}"))?;
    let (natpmp, pcp) = rest
        .split_once("\"pcp\":")
        .ok_or_else(|| anyhow::anyhow!("no pcp in {out}"))?;
    assert!(
        upnp.contains("\"location\":\"http://")
            && upnp.contains(&format!("\"external_address\":\"{ext_ip}\"")),
        "UPnP IGD not found: {out}"
    );
    assert!(
        natpmp.contains(&format!("\"external_address\":\"{ext_ip}\"")),
        "NAT-PMP not found: {out}"
    );
    assert!(pcp.starts_with("{\"epoch\":"), "PCP not found: {out}");
    Ok(())
}

/// Median of a few durations.
fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Wall time of one mapping request per tool, median of [`TIMING_RUNS`] runs each, all for
/// the same external port (deleted, untimed, after every run so each timed run is a fresh
/// add). Printed, not asserted; each run must succeed and the first one of each tool must
/// really open the port.
#[test]
fn map_timings_against_portgated() -> anyhow::Result<()> {
    // upnpc 2.2.x refuses an IGD with a reserved external address (203.0.113.0/24 is
    // TEST-NET-3), so this lab's WAN is the unreserved net.
    let Some(s) = Setup::start(true)? else {
        return Ok(());
    };
    let lan_ip = s.lab.ipv4(Host::Lan(0)).to_string();
    let (port, internal) = (42000u16, 7000u16);
    let (ext_s, int_s) = (port.to_string(), internal.to_string());
    let mut report = Vec::new();
    for via in ["upnp", "natpmp", "pcp", "upnpc"] {
        let mut times = Vec::new();
        for i in 0..TIMING_RUNS {
            let pg = env!("CARGO_BIN_EXE_portgate");
            let (map, unmap): (Vec<&str>, Vec<&str>) = if via == "upnpc" {
                (
                    vec!["upnpc", "-a", &lan_ip, &int_s, &ext_s, "tcp"],
                    vec!["upnpc", "-d", &ext_s, "tcp"],
                )
            } else {
                (
                    vec![pg, "map", "--via", via, &ext_s, &int_s],
                    vec![pg, "unmap", "--via", unmap_via(via), &ext_s, &int_s],
                )
            };
            let r = run_on(&s.lab, Host::Lan(0), &map)?;
            assert!(r.ok, "{via} run {i}: {}", r.out);
            times.push(r.took);
            if i == 0 {
                assert!(
                    s.tcp_reaches(port, internal, PROBE)?,
                    "{via}: mapping did not open the port: {}",
                    r.out
                );
            }
            let r = run_on(&s.lab, Host::Lan(0), &unmap)?;
            assert!(r.ok, "{via} unmap run {i}: {}", r.out);
        }
        let all: Vec<String> = times
            .iter()
            .map(|d| format!("{:.1}", d.as_secs_f64() * 1e3))
            .collect();
        let med = median(times);
        report.push(format!(
            "TIMING {via}: median {:.1} ms over {TIMING_RUNS} runs [{}]",
            med.as_secs_f64() * 1e3,
            all.join(", ")
        ));
    }
    for line in &report {
        eprintln!("{line}");
    }
    Ok(())
}
