//! End-to-end: firewall reloads. An admin's `nft flush ruleset` (standalone mode)
//! and a reload that flushes the admin's chains while our maps survive (what
//! OpenWrt's `fw4 reload` does to the miniupnpd layout's chains) must not leave the
//! mappings dead: portgated hears the kernel's deletion notifications and restores
//! its table, rules and mappings within a second, with no client request. WAN bytes
//! prove the mapping before and after.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use portgate_lab::Host;

const PROBE: Duration = Duration::from_secs(2);
/// The bar: restored within 1 s of the flush.
const RESTORE_BAR: Duration = Duration::from_secs(1);

/// Flushes with `script`, then waits for the daemon's "restored" line and returns how
/// long after the flush it came.
fn flush_and_wait(t: &common::TestGateway, script: &str) -> anyhow::Result<Duration> {
    let daemon = t
        .daemon
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("daemon not running"))?;
    let before = daemon.output().matches("mappings restored").count();
    let start = Instant::now();
    t.lab.nft(Host::Gateway, script)?;
    loop {
        if daemon.output().matches("mappings restored").count() > before {
            return Ok(start.elapsed());
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(5),
            "no restore within 5 s:\n{}",
            daemon.output()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn nft_flush_ruleset_is_repaired_without_a_request() -> anyhow::Result<()> {
    let Some(t) = common::TestGateway::start(1, "enable_natpmp=yes\n")? else {
        return Ok(());
    };
    common::natpmpc_map(&t, 7300, 600)?;
    let ext = SocketAddr::new(t.lab.external_ipv4().into(), 7300);
    assert!(t
        .lab
        .tcp_probe(Host::Wan, ext, (Host::Lan(0), 7300), b"before", PROBE)?);

    let took = flush_and_wait(&t, "flush ruleset\n")?;
    eprintln!("restored {took:?} after nft flush ruleset");
    assert!(took <= RESTORE_BAR, "restored after {took:?}");
    assert!(t.lab.nft_ruleset()?.contains("table inet portgate"));
    assert!(t
        .lab
        .tcp_probe(Host::Wan, ext, (Host::Lan(0), 7300), b"after", PROBE)?);

    // The daemon keeps serving: a new mapping works too.
    common::natpmpc_map(&t, 7301, 600)?;
    let ext2 = SocketAddr::new(t.lab.external_ipv4().into(), 7301);
    assert!(t
        .lab
        .tcp_probe(Host::Wan, ext2, (Host::Lan(0), 7301), b"new", PROBE)?);
    Ok(())
}

const LAYOUT: &str = "enable_natpmp=yes\nupnp_table_name=filter\nupnp_nat_table_name=filter\n\
upnp_forward_chain=miniupnpd\nupnp_nat_chain=prerouting_miniupnpd\n\
upnp_nat_postrouting_chain=postrouting_miniupnpd\n";

#[test]
fn a_reload_flushing_the_admins_chains_is_repaired() -> anyhow::Result<()> {
    let Some(t) = common::TestGateway::start_prepared(1, false, LAYOUT, |lab| {
        lab.install_miniupnpd_skeleton()?;
        Ok(())
    })?
    else {
        return Ok(());
    };
    common::natpmpc_map(&t, 7310, 600)?;
    let ext = SocketAddr::new(t.lab.external_ipv4().into(), 7310);
    assert!(t
        .lab
        .tcp_probe(Host::Wan, ext, (Host::Lan(0), 7310), b"before", PROBE)?);

    // The reload: every rule of the admin's table goes (ours with them), the maps
    // and their elements stay, then the admin's own rules come back.
    let took = flush_and_wait(&t, "flush table inet filter\n")?;
    t.lab.install_miniupnpd_skeleton()?;
    eprintln!("restored {took:?} after the admin's table was flushed");
    assert!(took <= RESTORE_BAR, "restored after {took:?}");
    let ruleset = t.lab.nft_ruleset()?;
    assert!(ruleset.contains("map @portgate_fwd4"), "{ruleset}");
    assert!(t
        .lab
        .tcp_probe(Host::Wan, ext, (Host::Lan(0), 7310), b"after", PROBE)?);
    Ok(())
}
