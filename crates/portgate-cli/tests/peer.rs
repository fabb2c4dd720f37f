//! End-to-end PCP PEER (RFC 6887 §12): `portgate peer` on a lab LAN host asks our
//! `portgated` for the mapping of its UDP port toward the WAN host; the WAN host's
//! datagrams to the assigned external address and port reach the LAN host, while the
//! same datagrams from another WAN address do not (the mapping is an nftables map
//! element keyed by the remote peer). A second `portgate peer` for the same flow is a new
//! process with a new nonce: refused (NOT_AUTHORIZED, exit code 4), as RFC 6887 §11.1's
//! nonce rule demands; an unusable remote peer is MALFORMED_REQUEST.
//!
//! Over IPv6 (no translation) `portgate peer 8080 [WAN]:40001` opens a pinhole for the
//! peer's address and port: datagrams from that port reach the LAN host, from another
//! port they do not.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::{json_number, portgated_bin, start_portgated};
use portgate_lab::{Host, Lab};

/// How long datagrams are sent for before a delivery is given up.
const PROBE: Duration = Duration::from_secs(3);

/// Whether `payload` sent from `src` (an address of the WAN host; port 0: any) to `to`
/// reaches a socket on LAN host 0 at `port` within [`PROBE`].
fn udp_from(lab: &Lab, src: SocketAddr, to: SocketAddr, port: u16, payload: &[u8]) -> bool {
    lab.udp_probe_from((Host::Wan, src), to, (Host::Lan(0), port), payload, PROBE)
        .expect("probe")
}

/// Runs `portgate --json ARGS` on LAN host 0: (exit status ok, stdout + stderr).
fn portgate(lab: &Lab, args: &[&str]) -> anyhow::Result<(bool, String)> {
    let mut cmd = vec![env!("CARGO_BIN_EXE_portgate"), "--json"];
    cmd.extend_from_slice(args);
    let out = lab.exec_unchecked(Host::Lan(0), &cmd)?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("portgate {args:?}: {text}");
    Ok((out.status.success(), text))
}

/// A lab running portgated, its configuration and lease file in `dir` (removed on drop).
struct Running {
    lab: Lab,
    _daemon: portgate_lab::Proc,
    dir: std::path::PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A lab (with IPv6 when `ipv6`) running portgated; `None` when labs cannot run here.
fn lab_with_portgated(ipv6: bool) -> anyhow::Result<Option<Running>> {
    if !portgate_lab::require() {
        return Ok(None);
    }
    let bin = portgated_bin()?;
    let Some(lab) = Lab::builder().lan_hosts(1).ipv6(ipv6).build_or_skip()? else {
        return Ok(None);
    };
    let dir = std::env::temp_dir().join(format!("pg-cli-peer-{}", lab.id()));
    std::fs::create_dir_all(&dir)?;
    let daemon = start_portgated(&lab, &bin, &dir)?;
    Ok(Some(Running {
        lab,
        _daemon: daemon,
        dir,
    }))
}

#[test]
fn peer_over_ipv6_opens_a_pinhole_for_that_peer_address_and_port() -> anyhow::Result<()> {
    let Some(run) = lab_with_portgated(true)? else {
        return Ok(());
    };
    let lab = &run.lab;
    let host = lab.ipv6(Host::Lan(0)).expect("LAN host ipv6");
    let wan = lab.ipv6(Host::Wan).expect("WAN host ipv6");
    let to = SocketAddr::new(IpAddr::V6(host), 8080);
    let from = |port: u16| SocketAddr::new(IpAddr::V6(wan), port);
    assert!(
        !udp_from(lab, from(40001), to, 8080, b"before"),
        "closed before PEER"
    );
    let remote = format!("[{wan}]:40001");
    let (ok, out) = portgate(
        lab,
        &["peer", "8080", &remote, "-p", "udp", "--lease", "600"],
    )?;
    assert!(ok, "portgate peer: {out}");
    assert_eq!(
        json_number(&out, "external_port"),
        Some(8080),
        "no translation"
    );
    assert!(
        out.contains(&format!("\"external_address\":\"{host}\"")),
        "{out}"
    );
    assert!(
        udp_from(lab, from(40001), to, 8080, b"from the peer's port"),
        "the remote peer's port gets through"
    );
    assert!(
        !udp_from(lab, from(40002), to, 8080, b"from another port"),
        "another port of the same peer does not"
    );
    Ok(())
}

#[test]
fn peer_mapping_lets_only_that_remote_peer_reach_the_lan_host() -> anyhow::Result<()> {
    let Some(running) = lab_with_portgated(false)? else {
        return Ok(());
    };
    let lab = &running.lab;
    let gw = lab.gateway().lan.ipv4.to_string();
    let wan = lab.ipv4(Host::Wan);
    // A second address on the WAN host: another remote host, same wire.
    let w = &lab.wan_host().iface;
    let o = wan.octets();
    let other = Ipv4Addr::new(o[0], o[1], o[2], o[3].wrapping_add(100));
    lab.exec(
        Host::Wan,
        &[
            "ip",
            "addr",
            "add",
            &format!("{other}/{}", w.ipv4_prefix),
            "dev",
            &w.name,
        ],
    )?;
    let from = |a: Ipv4Addr| SocketAddr::new(IpAddr::V4(a), 0);
    let internal = 7000u16;
    let remote = format!("{wan}:9000");
    let run = |args: &[&str]| portgate(lab, &[&["--gateway", &gw], args].concat());

    // No mapping yet: the WAN host's datagrams go nowhere.
    let ext = |port: u16| SocketAddr::new(IpAddr::V4(lab.external_ipv4()), port);
    assert!(
        !udp_from(lab, from(wan), ext(internal), internal, b"before"),
        "closed before PEER"
    );

    let (ok, out) = run(&["peer", "7000", &remote, "-p", "udp", "--lease", "600"])?;
    assert!(ok, "portgate peer: {out}");
    let eport = u16::try_from(json_number(&out, "external_port").expect("external_port"))?;
    assert_eq!(eport, internal, "the internal port when free");
    assert_eq!(json_number(&out, "lifetime"), Some(600));
    assert!(
        out.contains(&format!("\"external_address\":\"{}\"", lab.external_ipv4())),
        "{out}"
    );
    // A real nftables mapping keyed by the remote peer ...
    let rules = lab.nft_ruleset()?;
    let element = rules
        .lines()
        .find(|l| l.contains(&format!("{wan} . udp . {eport} ")))
        .unwrap_or_default();
    assert!(
        element.contains(&format!(": {} . {internal}", lab.ipv4(Host::Lan(0)))),
        "fwd4r element for the peer:\n{rules}"
    );
    // ... which the peer's bytes go through, and another WAN address's do not.
    assert!(
        udp_from(lab, from(wan), ext(eport), internal, b"from the peer"),
        "the remote peer reaches the LAN host"
    );
    assert!(
        !udp_from(lab, from(other), ext(eport), internal, b"from another host"),
        "another remote host does not"
    );

    // A new process has a new nonce: the same five-tuple is refused (NOT_AUTHORIZED,
    // the gateway refused: exit code 4).
    let (ok, out) = run(&["peer", "7000", &remote, "-p", "udp"])?;
    assert!(!ok && out.contains("NotAuthorized"), "{out}");
    // An unusable remote peer: MALFORMED_REQUEST.
    let (ok, out) = run(&["peer", "7000", "0.0.0.0:9000", "-p", "udp"])?;
    assert!(!ok && out.contains("MalformedRequest"), "{out}");
    Ok(())
}
