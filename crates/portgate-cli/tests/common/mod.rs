//! Helpers shared by the CLI crate's lab tests that run our `portgated`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use portgate_lab::{Host, Lab, Proc};

/// How long portgated may take to log its "listening on" line.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The `portgated` binary. Under cargo (`$CARGO` set) it is built first, once per test
/// process, with the same cargo, profile and target directory, so a stale build from an
/// older daemon is never tested (a no-op when up to date); run directly, the test binary
/// uses whatever build [`portgate_lab::workspace_bin`] finds.
pub fn portgated_bin() -> anyhow::Result<PathBuf> {
    Ok(portgate_lab::built_workspace_bin(
        "portgate-daemon",
        "portgated",
    )?)
}

/// Starts portgated in the gateway with UPnP, NAT-PMP and PCP, at its default (info)
/// log level, its configuration, lease file and control socket in `dir`: readiness is its
/// "listening on" line.
pub fn start_portgated(lab: &Lab, bin: &Path, dir: &Path) -> anyhow::Result<Proc> {
    let gw = lab.gateway();
    let conf = dir.join("miniupnpd.conf");
    std::fs::write(
        &conf,
        format!(
            "ext_ifname={wan}\nlistening_ip={lan}/{prefix}\next_allow_private_ipv4=yes\n\
             enable_upnp=yes\nenable_natpmp=yes\nenable_pcp_pmp=yes\nlease_file={lease}\n\
             control_socket={control}\nmetrics_listen=127.0.0.1:{METRICS_PORT}\n",
            wan = gw.wan.name,
            lan = gw.lan.ipv4,
            prefix = gw.lan.ipv4_prefix,
            lease = dir.join("leases").display(),
            control = control_socket(dir).display(),
        ),
    )?;
    let args = [
        bin.as_os_str(),
        "--foreground".as_ref(),
        "-f".as_ref(),
        conf.as_os_str(),
    ];
    Ok(lab.spawn_daemon(Host::Gateway, &args, "listening on", START_TIMEOUT)?)
}

/// The port of the metrics listener of the portgated [`start_portgated`] starts, on the
/// gateway's loopback.
pub const METRICS_PORT: u16 = 9101;

/// The administration socket of the portgated [`start_portgated`] starts.
pub fn control_socket(dir: &Path) -> PathBuf {
    dir.join("control.sock")
}

/// The value of the first `"key":<number>` in a JSON text.
pub fn json_number(text: &str, key: &str) -> Option<u64> {
    text.split(&format!("\"{key}\":"))
        .nth(1)?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}
