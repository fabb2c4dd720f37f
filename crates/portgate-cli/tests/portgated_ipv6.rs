//! End-to-end, IPv6: our client (the `portgate` binary and the `portgate_client`
//! library) on a lab LAN host against our own `portgated` in the gateway namespace, in
//! the lab's IPv6 network (LAN 2001:db8:1::/64, WAN 2001:db8:2::/64, routed, no NAT66).
//! The gateway's forward chain drops new inbound IPv6, so the WAN host's bytes reaching
//! the LAN host's IPv6 address prove a pinhole, and their absence proves its removal.
//!
//! - `portgate pinhole add|check|delete`, the gateway found by SSDP on ff02::c (no
//!   `--url`);
//! - PCP MAP over IPv6 with [`portgate_client::dualstack::pcp_map_v6`];
//! - a [`DualStack`]: an IPv4 port mapping and an IPv6 pinhole made and released
//!   together.
//!
//! `portgated` is built as `tests/common/mod.rs` says (see `portgated_bin`).

mod common;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use common::{json_number, portgated_bin, START_TIMEOUT};
use portgate_client::blocking::Client;
use portgate_client::dualstack::{self, DualStack, PinholeKeeper};
use portgate_client::mapper::{MapSpec, Mapper, Via};
use portgate_client::pcp::MapParams;
use portgate_client::route;
use portgate_client::upnp::actions::{PinholeProtocol, PinholeSpec};
use portgate_client::Protocol;
use portgate_lab::{Host, Lab, Proc};

/// How long a probe that must get through may take.
const PROBE: Duration = Duration::from_secs(3);
/// How long a probe that must not get through is given.
const PROBE_BLOCKED: Duration = Duration::from_secs(2);
/// The daemon's HTTP port (fixed so the description URL is known).
const HTTP_PORT: u16 = 5000;

/// A dual-stack lab with portgated running (UPnP with WANIPv6FirewallControl, NAT-PMP,
/// PCP).
struct Setup {
    lab: Lab,
    daemon: Proc,
    dir: PathBuf,
}

impl Setup {
    /// `None` when the lab cannot run here (outside CI).
    fn start(lan_hosts: usize) -> anyhow::Result<Option<Setup>> {
        if !portgate_lab::require() {
            return Ok(None);
        }
        let bin = portgated_bin()?;
        let Some(lab) = Lab::builder()
            .lan_hosts(lan_hosts)
            .ipv6(true)
            .build_or_skip()?
        else {
            return Ok(None);
        };
        let dir = std::env::temp_dir().join(format!("pg-cli-portgated6-{}", lab.id()));
        std::fs::create_dir_all(&dir)?;
        let gw = lab.gateway();
        let conf = dir.join("miniupnpd.conf");
        std::fs::write(
            &conf,
            format!(
                "ext_ifname={wan}\nlistening_ip={lan}/{prefix}\next_allow_private_ipv4=yes\n\
                 http_port={HTTP_PORT}\nenable_upnp=yes\nenable_natpmp=yes\nenable_pcp_pmp=yes\n\
                 lease_file={lease}\nlease_file6={lease}6\n",
                wan = gw.wan.name,
                lan = gw.lan.ipv4,
                prefix = gw.lan.ipv4_prefix,
                lease = dir.join("leases").display(),
            ),
        )?;
        let args = [
            bin.as_os_str(),
            "--foreground".as_ref(),
            "-f".as_ref(),
            conf.as_os_str(),
        ];
        let daemon = lab.spawn_daemon(Host::Gateway, &args, "listening on", START_TIMEOUT)?;
        Ok(Some(Setup { lab, daemon, dir }))
    }

    /// LAN host `i`'s global IPv6 address.
    fn lan6(&self, i: usize) -> anyhow::Result<Ipv6Addr> {
        self.lab
            .ipv6(Host::Lan(i))
            .ok_or_else(|| anyhow::anyhow!("lab has no IPv6"))
    }

    /// TCP bytes from the WAN host to LAN host `i`'s IPv6 `port` arrive there.
    fn reaches6(&self, i: usize, port: u16, timeout: Duration) -> anyhow::Result<bool> {
        let to = SocketAddr::new(IpAddr::V6(self.lan6(i)?), port);
        Ok(self
            .lab
            .tcp_probe(Host::Wan, to, (Host::Lan(i), port), b"pg-v6", timeout)?)
    }

    /// TCP bytes from the WAN host to the gateway's external IPv4 `port` arrive on LAN
    /// host 0 at `internal`.
    fn reaches4(&self, port: u16, internal: u16, timeout: Duration) -> anyhow::Result<bool> {
        let to = SocketAddr::new(IpAddr::V4(self.lab.external_ipv4()), port);
        Ok(self
            .lab
            .tcp_probe(Host::Wan, to, (Host::Lan(0), internal), b"pg-v4", timeout)?)
    }

    /// Run the `portgate` CLI on LAN host 0: (exit status ok, stdout + stderr).
    fn portgate(&self, args: &[&str]) -> anyhow::Result<(bool, String)> {
        let mut cmd = vec![env!("CARGO_BIN_EXE_portgate")];
        cmd.extend_from_slice(args);
        let out = self.lab.exec_unchecked(Host::Lan(0), &cmd)?;
        Ok((
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ))
    }

    /// As [`Setup::portgate`], requiring success.
    fn portgate_ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let (ok, out) = self.portgate(args)?;
        anyhow::ensure!(
            ok,
            "portgate {args:?} failed: {out}\ndaemon:\n{}",
            self.daemon.output()
        );
        Ok(out)
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

/// A client with short deadlines (a test should not wait the RFCs' full retry times).
fn client() -> Client {
    let mut c = Client::new();
    c.natpmp.deadline = Some(Duration::from_secs(4));
    c.pcp.deadline = Some(Duration::from_secs(4));
    c
}

#[test]
fn pinhole_cli_against_portgated() -> anyhow::Result<()> {
    let Some(s) = Setup::start(1)? else {
        return Ok(());
    };
    let lan6 = s.lan6(0)?;
    let port = 5800u16;
    assert!(
        !s.reaches6(0, port, PROBE_BLOCKED)?,
        "open before any pinhole"
    );

    // No --url: the CLI finds the firewall by SSDP on ff02::c.
    let out = s.portgate_ok(&["--json", "pinhole", "status"])?;
    assert!(out.contains("\"inbound_pinhole_allowed\":true"), "{out}");

    let out = s.portgate_ok(&["--json", "pinhole", "add", "5800", "--lease", "600"])?;
    assert!(
        out.contains(&format!("\"internal_client\":\"{lan6}\"")),
        "{out}"
    );
    let id = json_number(&out, "id").ok_or_else(|| anyhow::anyhow!("no id in {out}"))?;
    let ids = id.to_string();
    assert!(
        s.reaches6(0, port, PROBE)?,
        "WAN bytes to [{lan6}]:{port} did not arrive with pinhole {id}"
    );

    // CheckPinholeWorking / GetPinholePackets: the probe's packets were counted.
    let out = s.portgate_ok(&["--json", "pinhole", "check", &ids])?;
    eprintln!("pinhole check: {out}");
    assert!(out.contains("\"working\":true"), "{out}");
    assert!(json_number(&out, "packets").is_some_and(|n| n > 0), "{out}");

    s.portgate_ok(&["pinhole", "update", &ids, "--lease", "900"])?;
    let out = s.portgate_ok(&["--json", "pinhole", "check", &ids])?;
    eprintln!("pinhole check after update: {out}");
    assert!(s.reaches6(0, port, PROBE)?, "closed by UpdatePinhole");

    // A system port (below 1024) is refused with 606 and nothing opens.
    let (ok, out) = s.portgate(&["--json", "pinhole", "add", "80", "--lease", "600"])?;
    assert!(!ok, "{out}");
    assert!(out.contains("\"upnp_code\":606"), "{out}");
    assert!(!s.reaches6(0, 80, PROBE_BLOCKED)?, "port 80 opened");

    s.portgate_ok(&["pinhole", "delete", &ids])?;
    assert!(
        !s.reaches6(0, port, PROBE_BLOCKED)?,
        "still open after DeletePinhole"
    );
    // A second delete is a typed fault: 704 NoSuchEntry.
    let (ok, out) = s.portgate(&["--json", "pinhole", "delete", &ids])?;
    assert!(!ok, "{out}");
    assert!(out.contains("\"upnp_code\":704"), "{out}");
    Ok(())
}

#[test]
fn pcp_map_v6_against_portgated() -> anyhow::Result<()> {
    let Some(s) = Setup::start(1)? else {
        return Ok(());
    };
    let lan6 = s.lan6(0)?;
    let port = 5900u16;
    assert!(!s.reaches6(0, port, PROBE_BLOCKED)?, "open before PCP MAP");

    let c = client();
    let params = MapParams::new_v6(6, port, 0, 600);
    let (gw, m) = s.lab.in_netns(Host::Lan(0), || {
        let gw = route::gateway6_info(None)?;
        let m = dualstack::pcp_map_v6(&c, &gw, params.clone())?;
        anyhow::Ok((gw, m))
    })??;
    eprintln!("pcp v6 via {gw:?}: {m:?}");
    assert_eq!(gw.local, lan6);
    assert_eq!(
        (m.external_address, m.external_port),
        (IpAddr::V6(lan6), port)
    );
    assert!(m.lifetime > 0 && m.lifetime <= 600, "{m:?}");
    assert!(
        s.reaches6(0, port, PROBE)?,
        "not reachable while PCP-mapped"
    );

    // Lifetime 0 with the same nonce deletes it (RFC 6887 section 15).
    let del = MapParams {
        nonce: m.nonce,
        lifetime: 0,
        ..params
    };
    let gone = s
        .lab
        .in_netns(Host::Lan(0), || dualstack::pcp_map_v6(&c, &gw, del))??;
    assert_eq!(gone.lifetime, 0, "{gone:?}");
    assert!(
        !s.reaches6(0, port, PROBE_BLOCKED)?,
        "still open after the PCP delete"
    );
    Ok(())
}

#[test]
fn dual_stack_against_portgated() -> anyhow::Result<()> {
    let Some(s) = Setup::start(1)? else {
        return Ok(());
    };
    let lan6 = s.lan6(0)?;
    let gw4 = s.lab.gateway().lan.ipv4;
    let (port, ext) = (6000u16, 46000u16);
    assert!(!s.reaches4(ext, port, PROBE_BLOCKED)?);
    assert!(!s.reaches6(0, port, PROBE_BLOCKED)?);

    // Everything the dual stack sends leaves from the LAN host, so it is built, used
    // and released (or dropped) on threads in that namespace.
    let mut dual = s.lab.in_netns(Host::Lan(0), || {
        let c = client();
        let igd6 = dualstack::find_ipv6_firewall(&c)?;
        let keeper = PinholeKeeper::new(
            c.clone(),
            igd6,
            PinholeSpec {
                remote_host: None,
                remote_port: 0,
                internal_client: lan6,
                internal_port: port,
                protocol: PinholeProtocol::Tcp,
            },
            600,
        )?;
        let mapper = Mapper::new(
            c,
            MapSpec {
                protocol: Protocol::Tcp,
                internal_port: port,
                external_port: ext,
                lease: 600,
                remote_host: None,
                description: "dual-stack-test".into(),
                via: Via::Upnp,
            },
            Some(gw4),
            None,
        );
        anyhow::Ok(DualStack::new(Some(mapper), Some(keeper)))
    })??;
    let (v4, v6) = s.lab.in_netns(Host::Lan(0), || dual.map())?;
    let m = v4.ok_or_else(|| anyhow::anyhow!("no v4 half"))??;
    let p = v6.ok_or_else(|| anyhow::anyhow!("no v6 half"))??;
    eprintln!("dual: {m:?} / {p:?}");
    assert_eq!(m.external_port, ext);
    assert_eq!(p.spec.internal_client, lan6);
    assert!(s.reaches4(ext, port, PROBE)?, "IPv4 mapping not reachable");
    assert!(s.reaches6(0, port, PROBE)?, "IPv6 pinhole not reachable");

    let events = s.lab.in_netns(Host::Lan(0), || dual.renew())?;
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(s.reaches4(ext, port, PROBE)?, "IPv4 closed by the renewal");
    assert!(s.reaches6(0, port, PROBE)?, "IPv6 closed by the renewal");

    s.lab.in_netns(Host::Lan(0), move || {
        let r = dual.release();
        drop(dual);
        r
    })??;
    assert!(
        !s.reaches4(ext, port, PROBE_BLOCKED)?,
        "IPv4 open after release"
    );
    assert!(
        !s.reaches6(0, port, PROBE_BLOCKED)?,
        "IPv6 open after release"
    );
    Ok(())
}
