//! The lab of the libminiupnpc tests: portgated in the gateway with a WAN outside the
//! reserved ranges (so `UPNP_GetValidIGD` answers 1), our library in a directory of its
//! own for LD_LIBRARY_PATH.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use portgate_lab::{Host, Lab};

use super::common;

pub const SONAME: &str = "libminiupnpc.so.17";
pub const PROBE: Duration = Duration::from_secs(2);

/// A lab with portgated running, our library in a directory of its own.
pub struct Setup {
    pub lab: Lab,
    _daemon: portgate_lab::Proc,
    _state: common::LibDir,
    pub libs: common::LibDir,
}

/// The usual lab: IPv4 only, a WAN outside the reserved ranges.
pub fn setup(tag: &str) -> anyhow::Result<Option<Setup>> {
    setup_with(tag, false)
}

/// [`setup`], with the lab's IPv6 network when `ipv6` (portgated then serves
/// WANIPv6FirewallControl).
pub fn setup_with(tag: &str, ipv6: bool) -> anyhow::Result<Option<Setup>> {
    setup_lab(tag, ipv6, true)
}

/// [`setup_with`]; the WAN in the documentation range 203.0.113.0/24 (a reserved
/// external address for MiniUPnPc) unless `unreserved`.
pub fn setup_lab(tag: &str, ipv6: bool, unreserved: bool) -> anyhow::Result<Option<Setup>> {
    let mut builder = Lab::builder().lan_hosts(1).ipv6(ipv6);
    if unreserved {
        builder = builder.wan_unreserved();
    }
    let tag = format!("miniupnpc-{tag}");
    let Some(l) = common::lab_with_library(builder, &tag, "libminiupnpc.so", SONAME)? else {
        return Ok(None);
    };
    Ok(Some(Setup {
        lab: l.lab,
        _daemon: l.daemon,
        _state: l.state,
        libs: l.libs,
    }))
}

impl Setup {
    pub fn lan(&self) -> String {
        self.lab.ipv4(Host::Lan(0)).to_string()
    }

    pub fn ext(&self, port: u16) -> SocketAddr {
        (self.lab.external_ipv4(), port).into()
    }

    pub fn tcp_reaches(&self, eport: u16, iport: u16) -> anyhow::Result<bool> {
        Ok(self.lab.tcp_probe(
            Host::Wan,
            self.ext(eport),
            (Host::Lan(0), iport),
            b"via libminiupnpc",
            PROBE,
        )?)
    }

    /// `args` on the LAN host with our library first on the loader's path; asserts from
    /// the loader's trace that ours was loaded. Returns stdout.
    pub fn ours(&self, args: &[&str]) -> anyhow::Result<String> {
        let path = format!("LD_LIBRARY_PATH={}", self.libs.path.display());
        let mut full = vec!["env", path.as_str(), "LD_DEBUG=libs"];
        full.extend_from_slice(args);
        let (_, out, trace) = common::run(&self.lab, Host::Lan(0), &full)?;
        let lib = self.libs.lib(SONAME);
        anyhow::ensure!(
            common::loaded(&trace, &lib),
            "{lib} was not loaded:\n{trace}"
        );
        Ok(out)
    }
}

impl Setup {
    /// Starts portgate-ssdpd (MiniSSDPd's socket protocol) on the LAN host with its socket
    /// in the library directory and waits until it knows the gateway's description.
    /// Returns the daemon and the socket path.
    pub fn start_ssdpd(&self) -> anyhow::Result<(portgate_lab::Proc, String)> {
        let bin = portgate_lab::built_workspace_bin("portgate-ssdpd", "portgate-ssdpd")?;
        let sock = self.libs.path.join("minissdpd.sock");
        let sock_s = sock.display().to_string();
        let args = [
            bin.display().to_string(),
            "-d".into(),
            "-i".into(),
            portgate_lab::HOST_IF.into(),
            "-s".into(),
            sock_s.clone(),
        ];
        let ssdpd =
            self.lab
                .spawn_daemon(Host::Lan(0), &args, "listening on", common::START_TIMEOUT)?;
        let location = self.location();
        let end = std::time::Instant::now() + Duration::from_secs(10);
        while !portgate_client::blocking::query_minissdpd(&sock)
            .is_ok_and(|l| l.iter().any(|e| e.location == location))
        {
            anyhow::ensure!(
                std::time::Instant::now() < end,
                "the cache daemon never learnt the gateway:\n{}",
                ssdpd.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok((ssdpd, sock_s))
    }

    /// The gateway's root description URL.
    pub fn location(&self) -> String {
        format!("http://{}:5000/rootDesc.xml", self.lab.ipv4(Host::Gateway))
    }
}

impl Setup {
    /// Runs `program` on the LAN host (with `env` settings, and on our library when
    /// `ours`), the path of a "go" file appended to its arguments. Once it prints
    /// `paused`, checks that WAN bytes reach each of `ports`, creates the go file, waits
    /// for its success and its `last` line (output is read by other threads and may lag
    /// the exit), checks from the loader's trace whether our library was loaded
    /// and that the ports no longer forward. Returns the program's own lines (without the
    /// loader's trace and connection-failure diagnostics) and the whole output.
    pub fn run_paused(
        &self,
        env: &[&str],
        program: &[&str],
        ours: bool,
        ports: &[u16],
        last: &str,
    ) -> anyhow::Result<(String, String)> {
        let first = ports.first().copied().unwrap_or_default();
        let go = self
            .libs
            .path
            .join(format!("go-{first}-{ours}"))
            .display()
            .to_string();
        let path = format!("LD_LIBRARY_PATH={}", self.libs.path.display());
        let mut args = vec!["env", "LD_DEBUG=libs"];
        args.extend_from_slice(env);
        if ours {
            args.push(&path);
        }
        args.extend_from_slice(program);
        args.push(&go);
        let child = self.lab.spawn(Host::Lan(0), &args)?;
        child.wait_for("paused", Duration::from_secs(60))?;
        for &p in ports {
            anyhow::ensure!(self.tcp_reaches(p, p)?, "mapping {p} does not forward");
        }
        std::fs::write(&go, b"")?;
        let st = child.wait_exit(Duration::from_secs(120))?;
        child.wait_for(last, Duration::from_secs(10))?;
        let out = child.output();
        anyhow::ensure!(st.success(), "{out}");
        anyhow::ensure!(
            common::loaded(&out, &self.libs.lib(SONAME)) == ours,
            "{out}"
        );
        for &p in ports {
            anyhow::ensure!(
                !self.tcp_reaches(p, p)?,
                "deleted mapping {p} still forwards"
            );
        }
        let own = out
            .lines()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_alphabetic() || c == ' '))
            .filter(|l| !l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
            // MiniUPnPc prints perror() lines on stderr when a connection fails.
            .filter(|l| !l.contains("Connection refused"))
            .collect::<Vec<_>>()
            .join("\n");
        Ok((own, out))
    }
}
