//! End-to-end: portgated with miniupnpd's chain layout (`upnp_table_name`,
//! `upnp_forward_chain`, `upnp_nat_chain`, `upnp_nat_postrouting_chain`). The
//! admin's nftables skeleton (the one Debian's miniupnpd expects: a policy-drop
//! forward chain jumping to `miniupnpd`, nat chains jumping to
//! `prerouting_miniupnpd` / `postrouting_miniupnpd`) exists before the daemon
//! starts; our rules must land in those chains, a mapping must carry the WAN
//! host's bytes to the LAN host through the admin's drop policy, and a clean
//! shutdown must leave the admin's table and rules as they were.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use portgate_lab::{Host, Signal};

const PROBE: Duration = Duration::from_secs(2);

const LAYOUT: &str = "enable_natpmp=yes\nupnp_table_name=filter\nupnp_nat_table_name=filter\n\
upnp_forward_chain=miniupnpd\nupnp_nat_chain=prerouting_miniupnpd\n\
upnp_nat_postrouting_chain=postrouting_miniupnpd\n";

fn natpmpc(t: &common::TestGateway, args: &[&str]) -> anyhow::Result<String> {
    let gw = t.lan_address().to_string();
    let mut full = vec!["natpmpc", "-g", gw.as_str()];
    full.extend_from_slice(args);
    let out = t.lab.exec_unchecked(Host::Lan(0), &full)?;
    Ok(format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

#[test]
fn mappings_live_in_the_admins_miniupnpd_chains() -> anyhow::Result<()> {
    let Some(mut t) = common::TestGateway::start_prepared(1, false, LAYOUT, |lab| {
        lab.install_miniupnpd_skeleton()?;
        Ok(())
    })?
    else {
        return Ok(());
    };
    let ext = SocketAddr::new(t.lab.external_ipv4().into(), 7100);
    // Nothing open yet: the admin's forward policy drops.
    assert!(!t
        .lab
        .tcp_probe(Host::Wan, ext, (Host::Lan(0), 7100), b"before", PROBE)?);

    let out = natpmpc(&t, &["-a", "7100", "7100", "tcp", "600"])?;
    assert!(out.contains("Mapped public port 7100"), "{out}");
    assert!(t
        .lab
        .tcp_probe(Host::Wan, ext, (Host::Lan(0), 7100), b"through", PROBE)?);

    // Our rules are in the admin's chains; no table of our own was made.
    let ruleset = t.lab.nft_ruleset()?;
    assert!(!ruleset.contains("table inet portgate"), "{ruleset}");
    let chain = |name: &str| -> String {
        let start = ruleset
            .find(&format!("chain {name} {{"))
            .unwrap_or_else(|| panic!("chain {name} missing:\n{ruleset}"));
        let rest = &ruleset[start..];
        rest[..rest.find('}').unwrap_or(rest.len())].to_owned()
    };
    assert!(chain("prerouting_miniupnpd").contains("dnat"), "{ruleset}");
    assert!(chain("miniupnpd").contains("accept"), "{ruleset}");

    // Delete: closed again behind the admin's drop policy.
    let out = natpmpc(&t, &["-a", "7100", "7100", "tcp", "0"])?;
    assert!(!out.contains("failed"), "{out}");
    assert!(!t
        .lab
        .tcp_probe(Host::Wan, ext, (Host::Lan(0), 7100), b"after", PROBE)?);

    // Clean shutdown: the admin's skeleton stays, ours is gone.
    if let Some(p) = t.daemon.take() {
        p.signal(Signal::TERM);
        p.wait_exit(Duration::from_secs(10))?;
    }
    let ruleset = t.lab.nft_ruleset()?;
    assert!(ruleset.contains("jump prerouting_miniupnpd"), "{ruleset}");
    assert!(ruleset.contains("policy drop"), "{ruleset}");
    assert!(!ruleset.contains("portgate"), "{ruleset}");
    Ok(())
}
