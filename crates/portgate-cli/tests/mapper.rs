//! The mapper's recovery paths, each driven for real in the namespace lab: the mapper
//! runs in LAN host 0 (on threads inside its namespace), the gateway is either our small
//! test gateway (`portgate-client/tests/support/testgw.rs`: 725-only, conflict-only, a
//! mapping that vanishes) or our `portgated` (restarted with its table flushed, its WAN
//! address changed). Each test asserts the mapper's events and that the WAN host's bytes
//! reach the LAN host through the mapping afterwards.

mod common;
#[path = "../../portgate-client/tests/support/testgw.rs"]
mod testgw;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{portgated_bin, start_portgated};
use portgate_client::blocking::Client;
use portgate_client::mapper::{Event, MapSpec, Mapper, Mapping, Via};
use portgate_client::Protocol;
use portgate_lab::{Host, Lab, Proc};
use testgw::{Behaviour, Entry, TestGateway};

/// How long a probe that must get through may take.
const PROBE: Duration = Duration::from_secs(3);
/// How long a probe that must not get through is given.
const PROBE_BLOCKED: Duration = Duration::from_secs(2);

fn spec(via: Via, internal: u16, external: u16, lease: u32) -> MapSpec {
    MapSpec {
        protocol: Protocol::Tcp,
        internal_port: internal,
        external_port: external,
        lease,
        remote_host: None,
        description: "mapper-test".into(),
        via,
    }
}

/// A client with short deadlines (a test should not wait RFC 6886's 64 s).
fn client() -> Client {
    let mut c = Client::new();
    c.natpmp.deadline = Some(Duration::from_secs(4));
    c.pcp.deadline = Some(Duration::from_secs(4));
    c
}

/// Runs `f` on a thread inside LAN host 0 (the mapper's sockets belong there).
fn on_lan<T: Send>(lab: &Lab, f: impl FnOnce() -> T + Send) -> anyhow::Result<T> {
    Ok(lab.in_netns(Host::Lan(0), f)?)
}

/// The WAN host's bytes to `ext` arrive on LAN host 0 at `internal`.
fn reaches(lab: &Lab, ext: SocketAddr, internal: u16, timeout: Duration) -> anyhow::Result<bool> {
    Ok(lab.tcp_probe(Host::Wan, ext, (Host::Lan(0), internal), b"mapper", timeout)?)
}

fn lab() -> anyhow::Result<Option<Lab>> {
    if !portgate_lab::require() {
        return Ok(None);
    }
    Ok(Lab::builder().lan_hosts(1).build_or_skip()?)
}

/// Starts the test gateway inside the lab's gateway, DNATing what it maps.
fn test_gateway(lab: &Lab, b: Behaviour) -> anyhow::Result<TestGateway> {
    let gw = lab.gateway().clone();
    let wan_if = gw.wan.name.clone();
    let hook: testgw::Hook = Box::new(move |rows: &[Entry]| {
        let script = testgw::dnat_script(&wan_if, rows);
        // runs on the gateway's HTTP thread, so nft acts in the gateway's namespace
        let child = Command::new("nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .spawn();
        if let Ok(mut c) = child {
            if let Some(mut i) = c.stdin.take() {
                let _ = std::io::Write::write_all(&mut i, script.as_bytes());
            }
            let _ = c.wait();
        }
    });
    let ext = lab.external_ipv4();
    Ok(lab.in_netns(Host::Gateway, move || {
        TestGateway::start(gw.lan.ipv4, ext, b, true, Some(hook))
    })??)
}

/// The gateway's LAN address, given to the mapper: the mapper runs on a thread that
/// entered LAN host 0's namespace, but `/proc/net/route` shows the namespace of the
/// test process, so routing-table detection would read the wrong table.
fn gw_of(lab: &Lab) -> Option<Ipv4Addr> {
    Some(lab.gateway().lan.ipv4)
}

fn ext_of(m: &Mapping) -> anyhow::Result<SocketAddr> {
    let a = m
        .external_address
        .ok_or_else(|| anyhow::anyhow!("no external address in {m:?}"))?;
    Ok((a, m.external_port).into())
}

#[test]
fn permanent_only_gateway_gets_a_permanent_mapping_deleted_on_release() -> anyhow::Result<()> {
    let Some(lab) = lab()? else { return Ok(()) };
    let gw = test_gateway(
        &lab,
        Behaviour {
            permanent_only: true,
            conflicts: 0,
        },
    )?;
    let mut m = hour_mapper(&lab, Via::Upnp, 7101, 41001);
    let got = on_lan(&lab, || m.map())??;
    assert_eq!(got.via, Via::Upnp);
    assert_eq!(got.lease, 0, "725 must fall back to a permanent lease");
    assert_eq!(got.external_port, 41001);
    assert!(gw
        .log()
        .starts_with(&["AddPortMapping:725".into(), "AddPortMapping".into()]));
    assert_eq!(gw.table().len(), 1);
    assert_eq!(gw.table()[0].lease, 0);
    assert!(reaches(&lab, ext_of(&got)?, 7101, PROBE)?);
    // a renewal keeps it permanent (no second 725 round)
    let ev = on_lan(&lab, || m.renew())?;
    assert!(
        matches!(ev.as_slice(), [Event::Renewed(r)] if r.lease == 0),
        "{ev:?}"
    );
    on_lan(&lab, || m.release())??;
    assert!(
        gw.table().is_empty(),
        "a permanent mapping must be deleted on release"
    );
    assert!(gw.log().contains(&"DeletePortMapping".to_string()));
    assert!(!reaches(&lab, ext_of(&got)?, 7101, PROBE_BLOCKED)?);
    Ok(())
}

#[test]
fn conflict_only_gateway_gets_another_port() -> anyhow::Result<()> {
    let Some(lab) = lab()? else { return Ok(()) };
    let gw = test_gateway(
        &lab,
        Behaviour {
            permanent_only: false,
            conflicts: 3,
        },
    )?;
    let mut m = hour_mapper(&lab, Via::Upnp, 7102, 41002);
    let got = on_lan(&lab, || m.map())??;
    assert_ne!(
        got.external_port, 41002,
        "the conflicting port must not be reported"
    );
    assert_eq!(
        got.external_port, 41005,
        "three 718s: the fourth port tried wins"
    );
    assert_eq!(
        gw.log()
            .iter()
            .filter(|l| *l == "AddPortMapping:718")
            .count(),
        3
    );
    assert!(reaches(&lab, ext_of(&got)?, 7102, PROBE)?);
    // the next renewal keeps the port it got
    let ev = on_lan(&lab, || m.renew())?;
    assert!(
        matches!(ev.as_slice(), [Event::Renewed(r)] if r.external_port == 41005),
        "{ev:?}"
    );
    on_lan(&lab, || m.release())??;
    assert!(gw.table().is_empty());
    Ok(())
}

#[test]
fn vanished_mapping_is_remapped_on_the_next_renewal() -> anyhow::Result<()> {
    let Some(lab) = lab()? else { return Ok(()) };
    let gw = test_gateway(&lab, Behaviour::default())?;
    // a 4 s lease: the renewal is due after 2 s (half the lease)
    let mut m = Mapper::new(client(), spec(Via::Upnp, 7103, 41003, 4), gw_of(&lab), None);
    let got = on_lan(&lab, || m.map())??;
    assert!(reaches(&lab, ext_of(&got)?, 7103, PROBE)?);
    gw.vanish();
    assert!(!reaches(&lab, ext_of(&got)?, 7103, PROBE_BLOCKED)?);
    let t = std::time::Instant::now();
    let ev = on_lan(&lab, || m.wait_and_renew())?;
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "renewal at half the lease"
    );
    assert!(
        matches!(ev.as_slice(), [Event::Recovered(r)] if r.external_port == 41003),
        "{ev:?}"
    );
    assert_eq!(gw.table().len(), 1);
    assert!(reaches(&lab, ext_of(&got)?, 7103, PROBE)?);
    on_lan(&lab, || m.release())??;
    assert!(gw.table().is_empty());
    Ok(())
}

/// A mapper with an hour's lease, the lab's gateway given.
fn hour_mapper(lab: &Lab, via: Via, internal: u16, external: u16) -> Mapper {
    Mapper::new(
        client(),
        spec(via, internal, external, 3600),
        gw_of(lab),
        None,
    )
}

fn portgated_lab() -> anyhow::Result<Option<(Lab, PathBuf, PathBuf)>> {
    let Some(lab) = lab()? else { return Ok(None) };
    let bin = portgated_bin()?;
    let dir = std::env::temp_dir().join(format!("pg-mapper-{}", lab.id()));
    std::fs::create_dir_all(&dir)?;
    Ok(Some((lab, bin, dir)))
}

#[test]
fn portgated_restarted_with_its_table_flushed_is_recovered() -> anyhow::Result<()> {
    let Some((lab, bin, dir)) = portgated_lab()? else {
        return Ok(());
    };
    let daemon = start_portgated(&lab, &bin, &dir)?;
    let mut up = hour_mapper(&lab, Via::Upnp, 7104, 41004);
    let mut pmp = hour_mapper(&lab, Via::NatPmp, 7105, 41005);
    let (a, b) = on_lan(&lab, || (up.map(), pmp.map()))?;
    let (a, b) = (a?, b?);
    assert!(reaches(&lab, ext_of(&a)?, 7104, PROBE)?);
    assert!(reaches(&lab, ext_of(&b)?, 7105, PROBE)?);
    // Let the NAT-PMP epoch grow: RFC 6886 §3.6 allows 2 s of slack and epochs are
    // whole seconds, so a restart within seconds of the first start is
    // indistinguishable from no restart (4 s here once failed under load: the renewal
    // fell in the new daemon's second 1).
    std::thread::sleep(Duration::from_secs(6));
    // the router "reboots": daemon gone, leases and rules flushed, daemon back
    daemon.terminate(Duration::from_secs(5))?;
    drop(daemon);
    let _ = std::fs::remove_file(dir.join("leases"));
    let _ = lab.exec_unchecked(
        Host::Gateway,
        &["nft", "delete", "table", "inet", "portgate"],
    );
    assert!(!reaches(&lab, ext_of(&a)?, 7104, PROBE_BLOCKED)?);
    let daemon = start_portgated(&lab, &bin, &dir)?;
    let (ea, eb) = on_lan(&lab, || (up.renew(), pmp.renew()))?;
    assert!(
        matches!(ea.as_slice(), [Event::Recovered(r)] if r.external_port == 41004),
        "upnp: {ea:?}"
    );
    assert!(
        matches!(eb.as_slice(), [Event::Recovered(r)] if r.external_port == 41005),
        "nat-pmp (epoch reset): {eb:?}"
    );
    assert!(reaches(&lab, ext_of(&a)?, 7104, PROBE)?);
    assert!(reaches(&lab, ext_of(&b)?, 7105, PROBE)?);
    let (ra, rb) = on_lan(&lab, || (up.release(), pmp.release()))?;
    ra?;
    rb?;
    if daemon.try_status().is_some() {
        eprintln!("portgated exited early:\n{}", daemon.output());
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Moves the gateway's WAN address to another one on the same net and tells portgated
/// (SIGUSR1); returns (old, new).
fn move_wan_address(lab: &Lab, daemon: &Proc) -> anyhow::Result<(Ipv4Addr, Ipv4Addr)> {
    let old = lab.external_ipv4();
    let wan = lab.gateway().wan.clone();
    let o = old.octets();
    let new = Ipv4Addr::new(o[0], o[1], o[2], o[3].wrapping_add(50));
    let wan_host = lab.ipv4(Host::Wan);
    lab.sh(
        Host::Gateway,
        &format!(
            "sysctl -qw net.ipv4.conf.{w}.promote_secondaries=1 && \
             ip addr add {new}/{p} dev {w} && ip addr del {old}/{p} dev {w} && \
             ip route replace default via {wan_host} dev {w}",
            w = wan.name,
            p = wan.ipv4_prefix
        ),
    )?;
    lab.exec(Host::Gateway, &["kill", "-USR1", &daemon.pid().to_string()])?;
    Ok((old, new))
}

/// `ev` starts with a change from `old` to `new`, and the WAN host reaches the LAN
/// host's `internal` port through `new`:`port`.
fn assert_moved(
    lab: &Lab,
    name: &str,
    ev: &[Event],
    (old, new): (Ipv4Addr, Ipv4Addr),
    port: u16,
    internal: u16,
) -> anyhow::Result<()> {
    let Some(Event::Changed(o, n)) = ev.first() else {
        anyhow::bail!("{name}: no change event: {ev:?}");
    };
    assert_eq!(o.external_address, Some(IpAddr::V4(old)), "{name}");
    assert_eq!(n.external_address, Some(IpAddr::V4(new)), "{name}");
    assert!(
        reaches(lab, (new, port).into(), internal, PROBE)?,
        "{name}: WAN host cannot reach the new address"
    );
    Ok(())
}

#[test]
fn announcements_bring_the_renewal_forward() -> anyhow::Result<()> {
    let Some((lab, bin, dir)) = portgated_lab()? else {
        return Ok(());
    };
    let daemon = start_portgated(&lab, &bin, &dir)?;
    // An hour's lease: without the announcement the renewal would wait 30 minutes.
    let mut pmp = hour_mapper(&lab, Via::NatPmp, 7108, 41008);
    let mut pcp = hour_mapper(&lab, Via::Pcp, 7109, 41009);
    let (a, b) = on_lan(&lab, || (pmp.map(), pcp.map()))?;
    let (_a, _b) = (a?, b?);
    let started = std::time::Instant::now();
    let (ea, eb, moved) = std::thread::scope(|s| -> anyhow::Result<_> {
        let ta = s.spawn(|| on_lan(&lab, || pmp.wait_and_renew()));
        let tb = s.spawn(|| on_lan(&lab, || pcp.wait_and_renew()));
        // Both are listening before the address moves.
        std::thread::sleep(Duration::from_millis(500));
        let moved = move_wan_address(&lab, &daemon)?;
        let join = |r: std::thread::Result<anyhow::Result<Vec<Event>>>| {
            r.map_err(|_| anyhow::anyhow!("mapper thread panicked"))?
        };
        Ok((join(ta.join())?, join(tb.join())?, moved))
    })?;
    let took = started.elapsed();
    // The 0-5 s spread, the announcement schedule (0.25 s doubling) and the renewal,
    // with room for a loaded CI machine; without the announcement it would be 30 min.
    assert!(took < Duration::from_secs(60), "took {took:?}");
    let (old, new) = moved;
    for (name, ev, port, internal) in [("nat-pmp", &ea, 41008, 7108), ("pcp", &eb, 41009, 7109)] {
        assert_moved(&lab, name, ev, (old, new), port, internal)?;
    }
    let (ra, rb) = on_lan(&lab, || (pmp.release(), pcp.release()))?;
    ra?;
    rb?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[test]
fn external_address_change_is_reported_and_reachable() -> anyhow::Result<()> {
    let Some((lab, bin, dir)) = portgated_lab()? else {
        return Ok(());
    };
    let daemon = start_portgated(&lab, &bin, &dir)?;
    let mut up = hour_mapper(&lab, Via::Upnp, 7106, 41006);
    let mut pmp = hour_mapper(&lab, Via::NatPmp, 7107, 41007);
    let (a, b) = on_lan(&lab, || (up.map(), pmp.map()))?;
    let (a, _b) = (a?, b?);
    let old = lab.external_ipv4();
    assert_eq!(a.external_address, Some(IpAddr::V4(old)));
    assert!(reaches(&lab, ext_of(&a)?, 7106, PROBE)?);
    let (_, new) = move_wan_address(&lab, &daemon)?;
    std::thread::sleep(Duration::from_millis(500));
    let (ea, eb) = on_lan(&lab, || (up.renew(), pmp.renew()))?;
    for (name, ev, port, internal) in [("upnp", &ea, 41006, 7106), ("nat-pmp", &eb, 41007, 7107)] {
        assert_moved(&lab, name, ev, (old, new), port, internal)?;
    }
    let (ra, rb) = on_lan(&lab, || (up.release(), pmp.release()))?;
    ra?;
    rb?;
    if daemon.try_status().is_some() {
        eprintln!("portgated exited early:\n{}", daemon.output());
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[test]
fn portgate_keep_follows_an_announced_address_change() -> anyhow::Result<()> {
    let Some((lab, bin, dir)) = portgated_lab()? else {
        return Ok(());
    };
    let daemon = start_portgated(&lab, &bin, &dir)?;
    let gw = gw_of(&lab).ok_or_else(|| anyhow::anyhow!("no gateway"))?;
    let keep = lab.spawn(
        Host::Lan(0),
        &[
            env!("CARGO_BIN_EXE_portgate"),
            "keep",
            "--via",
            "natpmp",
            "--gateway",
            &gw.to_string(),
            "--lease",
            "3600",
            "41010",
            "7110",
        ],
    )?;
    keep.wait_for("mapped", Duration::from_secs(10))?;
    // Let `keep` reach its listening loop before the address moves.
    std::thread::sleep(Duration::from_millis(500));
    let (_, new) = move_wan_address(&lab, &daemon)?;
    // An hour's lease: only the announcement can make it renew this soon.
    let line = keep.wait_for("changed", Duration::from_secs(60))?;
    assert!(line.contains(&new.to_string()), "{line}");
    assert!(reaches(&lab, (new, 41010).into(), 7110, PROBE)?);
    keep.signal(portgate_lab::Signal::INT);
    keep.wait_for("released", Duration::from_secs(10))?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
