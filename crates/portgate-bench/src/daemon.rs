//! Starting and stopping the two daemons in the lab's gateway namespace.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use portgate_lab::{Host, Lab, Proc};

use crate::client::NatPmp;

/// How long a daemon may take to answer after start.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// HTTP port both daemons are configured with.
pub const HTTP_PORT: u16 = 5000;

/// Which daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Debian's miniupnpd-nftables.
    Reference,
    /// portgated.
    Portgated,
}

impl Kind {
    /// Short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Reference => "miniupnpd",
            Kind::Portgated => "portgated",
        }
    }
}

/// A running daemon.
pub struct Running {
    kind: Kind,
    /// The daemon's process id (the forked child for miniupnpd).
    pub pid: u32,
    /// portgated's process guard (killed on drop); `None` for the forked reference.
    proc: Option<Proc>,
}

/// Writes the configuration and starts `kind` with `bin`, waiting until it answers
/// NAT-PMP and accepts HTTP connections from the LAN host.
pub fn start(lab: &Lab, kind: Kind, bin: &Path, dir: &Path) -> anyhow::Result<Running> {
    start_with(lab, kind, bin, dir, "")
}

/// As [`start`], with `extra` lines appended to portgated's configuration (later
/// lines win; `listening_ip` adds a LAN). The reference ignores them.
pub fn start_with(
    lab: &Lab,
    kind: Kind,
    bin: &Path,
    dir: &Path,
    extra: &str,
) -> anyhow::Result<Running> {
    let gw = lab.gateway();
    let running = match kind {
        Kind::Reference => {
            // Clean chains left by a previous run, then the skeleton it expects.
            let _ = lab.nft(Host::Gateway, "delete table inet filter\n");
            lab.install_miniupnpd_skeleton()?;
            let conf = dir.join("miniupnpd.conf");
            std::fs::write(
                &conf,
                format!(
                    "ext_ifname={wan}\nlistening_ip={lan_if}\nhttp_port={HTTP_PORT}\n\
                     enable_natpmp=yes\nenable_upnp=yes\nsecure_mode=yes\nsystem_uptime=yes\n\
                     uuid=3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b\n\
                     allow 1024-65535 10.0.0.0/8 1024-65535\ndeny 0-65535 0.0.0.0/0 0-65535\n",
                    wan = gw.wan.name,
                    lan_if = gw.lan.name,
                ),
            )?;
            let pidfile = dir.join("miniupnpd.pid");
            let _ = std::fs::remove_file(&pidfile);
            // Without -d it forks into the background (and logs to syslog only): the
            // launcher exits, the pid file names the daemon.
            let launcher = lab.spawn(
                Host::Gateway,
                &[
                    bin.as_os_str(),
                    "-f".as_ref(),
                    conf.as_os_str(),
                    "-P".as_ref(),
                    pidfile.as_os_str(),
                ],
            )?;
            let status = launcher.wait_exit(START_TIMEOUT)?;
            if !status.success() {
                bail!("miniupnpd exited with {status}: {}", launcher.output());
            }
            let pid = wait_pidfile(&pidfile)?;
            Running {
                kind,
                pid,
                proc: None,
            }
        }
        Kind::Portgated => {
            let _ = lab.nft(Host::Gateway, "delete table inet filter\n");
            let conf = dir.join("portgated.conf");
            std::fs::write(
                &conf,
                format!(
                    "ext_ifname={wan}\nlistening_ip={lan}/{prefix}\nhttp_port={HTTP_PORT}\n\
                     enable_natpmp=yes\nenable_upnp=yes\nsecure_mode=yes\nsystem_uptime=yes\n\
                     max_mappings_per_client=65535\n{extra}\
                     allow 1024-65535 10.0.0.0/8 1024-65535\ndeny 0-65535 0.0.0.0/0 0-65535\n",
                    wan = gw.wan.name,
                    lan = gw.lan.ipv4,
                    prefix = gw.lan.ipv4_prefix,
                ),
            )?;
            let proc = lab.spawn_daemon(
                Host::Gateway,
                &[
                    bin.as_os_str(),
                    "--foreground".as_ref(),
                    "-f".as_ref(),
                    conf.as_os_str(),
                ],
                "listening on",
                START_TIMEOUT,
            )?;
            Running {
                kind,
                pid: proc.pid(),
                proc: Some(proc),
            }
        }
    };
    // CGN mode serves neither UPnP nor NAT-PMP: a PCP ANNOUNCE answer says it is up.
    wait_ready(lab, gw.lan.ipv4, extra.contains("cgn_mode=yes"))?;
    Ok(running)
}

fn wait_pidfile(path: &Path) -> anyhow::Result<u32> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(pid) = text.trim().parse::<u32>() {
                return Ok(pid);
            }
        }
        if Instant::now() > deadline {
            bail!("no pid in {}", path.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls, from LAN host 0, the HTTP port and NAT-PMP until both answer (with
/// `pcp_only`, PCP ANNOUNCE).
fn wait_ready(lab: &Lab, gw: Ipv4Addr, pcp_only: bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    let me = lab.ipv4(Host::Lan(0));
    lab.in_netns(Host::Lan(0), || -> anyhow::Result<()> {
        let addr: SocketAddr = (gw, HTTP_PORT).into();
        loop {
            let up = if pcp_only {
                crate::client::Pcp::new(gw, me)
                    .and_then(|c| c.announce())
                    .is_ok()
            } else {
                TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
                    && NatPmp::new(gw).and_then(|c| c.external_address()).is_ok()
            };
            if up {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("daemon not answering on {addr} and NAT-PMP");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })?
}

impl Running {
    /// Whether the process still runs (not gone, not a zombie).
    pub fn alive(&self) -> bool {
        match &self.proc {
            Some(p) => p.try_status().is_none(),
            None => std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
                .map(|s| !s.contains(") Z "))
                .unwrap_or(false),
        }
    }

    /// Resident memory (VmRSS) in KiB.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        text.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .context("no VmRSS")
    }

    /// Stops the daemon (SIGTERM, then SIGKILL after 5 s) and removes what it left.
    pub fn stop(mut self, lab: &Lab) -> anyhow::Result<()> {
        match self.kind {
            Kind::Portgated => {
                if let Some(p) = self.proc.take() {
                    p.terminate(Duration::from_secs(5))?;
                }
            }
            Kind::Reference => {
                signal(self.pid, "TERM");
                let deadline = Instant::now() + Duration::from_secs(5);
                while PathBuf::from(format!("/proc/{}", self.pid)).exists() {
                    if Instant::now() > deadline {
                        signal(self.pid, "KILL");
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = lab.nft(Host::Gateway, "delete table inet filter\n");
            }
        }
        Ok(())
    }
}

impl Drop for Running {
    /// The forked reference is in a session of its own, out of the lab's reach: kill
    /// it if the harness bails out before [`Running::stop`]. (portgated's guard kills
    /// its own process group.)
    fn drop(&mut self) {
        if self.kind == Kind::Reference && self.alive() {
            signal(self.pid, "KILL");
        }
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}
