//! Shared helpers for portgated's end-to-end tests: a lab (see
//! `portgate-lab`) with `portgated` running in its gateway namespace on a
//! generated `miniupnpd.conf`.
//!
//! ```ignore
//! mod common;
//! let Some(t) = common::TestGateway::start(1, "enable_natpmp=yes\n")? else { return Ok(()) };
//! // t.lab: the lab; t.daemon: the running process; t.lease_file(): its leases
//! ```
#![allow(dead_code)]

pub mod gena;

use std::path::{Path, PathBuf};
use std::time::Duration;

use portgate_lab::{Host, Lab, Proc};

/// How long start-up may take before the "listening on" line.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A lab with portgated running in the gateway.
pub struct TestGateway {
    /// The namespaces (dropped last: tears everything down).
    pub lab: Lab,
    /// The running daemon (`None` between [`TestGateway::kill`] and
    /// [`TestGateway::restart`]).
    pub daemon: Option<Proc>,
    /// Temporary directory holding the config and the lease file.
    pub dir: tempfile::TempDir,
}

impl TestGateway {
    /// Build a lab with `lan_hosts` LAN hosts (WAN 203.0.113.0/24) and start
    /// portgated with the base config (WAN interface, LAN bridge, reserved
    /// external address accepted, lease file and control socket in a temp dir) plus `extra`
    /// config lines. `Ok(None)` when the lab cannot run here (outside CI).
    pub fn start(lan_hosts: usize, extra: &str) -> anyhow::Result<Option<TestGateway>> {
        Self::start_lab(lan_hosts, false, extra)
    }

    /// As [`TestGateway::start`], with IPv6 in the lab when `ipv6` (LAN
    /// 2001:db8:1::/64, WAN 2001:db8:2::/64, routed).
    pub fn start_lab(
        lan_hosts: usize,
        ipv6: bool,
        extra: &str,
    ) -> anyhow::Result<Option<TestGateway>> {
        Self::start_prepared(lan_hosts, ipv6, extra, |_| Ok(()))
    }

    /// As [`TestGateway::start_lab`], running `prepare` on the lab before the
    /// daemon starts (e.g. to install an admin's firewall skeleton).
    pub fn start_prepared(
        lan_hosts: usize,
        ipv6: bool,
        extra: &str,
        prepare: impl FnOnce(&Lab) -> anyhow::Result<()>,
    ) -> anyhow::Result<Option<TestGateway>> {
        if !portgate_lab::require() {
            return Ok(None);
        }
        let lab = Lab::builder().lan_hosts(lan_hosts).ipv6(ipv6).build()?;
        prepare(&lab)?;
        let dir = tempfile::tempdir()?;
        // `@DIR@` in `extra` names the temporary directory (for lease_file6 and such).
        let extra = extra.replace("@DIR@", &dir.path().display().to_string());
        let gw = lab.gateway();
        let text = format!(
            "ext_ifname={wan}\nlistening_ip={lan}/{prefix}\next_allow_private_ipv4=yes\n\
             lease_file={lease}\ncontrol_socket={control}\n{extra}",
            wan = gw.wan.name,
            lan = gw.lan.ipv4,
            prefix = gw.lan.ipv4_prefix,
            lease = dir.path().join("leases").display(),
            control = dir.path().join("control.sock").display(),
        );
        std::fs::write(dir.path().join("miniupnpd.conf"), text)?;
        let mut t = TestGateway {
            lab,
            daemon: None,
            dir,
        };
        t.restart()?;
        Ok(Some(t))
    }

    /// Path of the generated config file.
    pub fn config_file(&self) -> PathBuf {
        self.dir.path().join("miniupnpd.conf")
    }

    /// Path of the lease file.
    pub fn lease_file(&self) -> PathBuf {
        self.dir.path().join("leases")
    }

    /// The gateway's LAN address.
    pub fn lan_address(&self) -> std::net::Ipv4Addr {
        self.lab.gateway().lan.ipv4
    }

    /// Start (again) the daemon and wait for its "listening on" line.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        let bin = Path::new(env!("CARGO_BIN_EXE_portgated"));
        let cfg = self.config_file();
        let args = [
            bin.as_os_str(),
            "-d".as_ref(),
            "-f".as_ref(),
            cfg.as_os_str(),
        ];
        let proc = self
            .lab
            .spawn_daemon(Host::Gateway, &args, "listening on", START_TIMEOUT)?;
        self.daemon = Some(proc);
        Ok(())
    }

    /// Send SIGHUP and wait until the daemon logs the reload.
    pub fn reload(&self) -> anyhow::Result<()> {
        let daemon = self
            .daemon
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("no daemon"))?;
        let from = daemon.line_count();
        daemon.signal(portgate_lab::Signal::HUP);
        daemon.wait_for_after(from, "configuration reloaded", Duration::from_secs(10))?;
        Ok(())
    }

    /// Debian's `upnpc -6` in `host` against the gateway's IPv6 description on
    /// `http_port`; its stdout and stderr (also printed).
    pub fn upnpc6(&self, host: Host, http_port: u16, args: &[&str]) -> String {
        let gw = self
            .lab
            .ipv6(Host::Gateway)
            .unwrap_or(std::net::Ipv6Addr::UNSPECIFIED);
        let url = format!("http://[{gw}]:{http_port}/rootDesc.xml");
        let mut full = vec!["upnpc", "-6", "-u", url.as_str()];
        full.extend_from_slice(args);
        let text = match self.lab.exec_unchecked(host, &full) {
            Ok(out) => format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => format!("upnpc did not run: {e}"),
        };
        eprintln!("upnpc {args:?}:\n{text}");
        text
    }

    /// kill -9 the daemon (a crash).
    pub fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(p) = self.daemon.take() {
            p.signal(portgate_lab::Signal::KILL);
            p.wait_exit(Duration::from_secs(5))?;
        }
        Ok(())
    }
}

/// Maps TCP `port` to the same port on LAN host 0 with Debian's `natpmpc` (lease
/// `lifetime` seconds) and checks that it says so.
pub fn natpmpc_map(t: &TestGateway, port: u16, lifetime: u32) -> anyhow::Result<()> {
    let gw = t.lan_address().to_string();
    let (p, l) = (port.to_string(), lifetime.to_string());
    let out = t.lab.exec_unchecked(
        Host::Lan(0),
        &["natpmpc", "-g", &gw, "-a", &p, &p, "tcp", &l],
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        text.contains(&format!("Mapped public port {port}")),
        "{text}"
    );
    Ok(())
}
