//! Debian's unchanged `upnpc` on our libminiupnpc.so.17 (via LD_LIBRARY_PATH) against the
//! real portgated in the namespace lab, whose WAN is outside the reserved ranges so that
//! `UPNP_GetValidIGD` answers 1. The loader's LD_DEBUG trace proves our library was the
//! one loaded; bytes from the WAN host reaching the LAN host prove each mapping.

#[path = "../../portgate-natpmp-c/tests/common/mod.rs"]
mod common;

#[path = "setup/mod.rs"]
mod setup;

use portgate_lab::Host;

#[test]
fn debians_upnpc_maps_lists_and_deletes_through_our_library() -> anyhow::Result<()> {
    let Some(s) = setup::setup("upnpc")? else {
        return Ok(());
    };
    let lan = s.lan();
    let ext = s.lab.external_ipv4().to_string();

    let out = s.ours(&["upnpc", "-s"])?;
    assert!(out.contains("Found valid IGD"), "{out}");
    assert!(out.contains(&format!("ExternalIPAddress = {ext}")), "{out}");
    assert!(
        out.contains(&format!("Local LAN ip address : {lan}")),
        "{out}"
    );

    assert!(!s.tcp_reaches(8080, 8080)?, "nothing mapped yet");
    let out = s.ours(&[
        "upnpc", "-e", "drop-in", "-a", &lan, "8080", "8080", "TCP", "3600",
    ])?;
    assert!(
        out.contains(&format!(
            "external {ext}:8080 TCP is redirected to internal {lan}:8080"
        )),
        "{out}"
    );
    assert!(
        s.tcp_reaches(8080, 8080)?,
        "the mapping upnpc made does not forward"
    );

    let out = s.ours(&["upnpc", "-l"])?;
    assert!(
        out.contains(&format!("TCP  8080->{lan}:8080  'drop-in'")),
        "{out}"
    );
    let out = s.ours(&["upnpc", "-L"])?;
    assert!(out.contains("8080") && out.contains("drop-in"), "{out}");

    let out = s.ours(&["upnpc", "-d", "8080", "TCP"])?;
    assert!(
        out.contains("UPNP_DeletePortMapping() returned : 0"),
        "{out}"
    );
    assert!(
        !s.tcp_reaches(8080, 8080)?,
        "the deleted mapping still forwards"
    );

    // Two mappings, then -N deletes the range.
    for p in ["8091", "8092"] {
        s.ours(&["upnpc", "-a", &lan, p, p, "TCP", "3600"])?;
    }
    assert!(s.tcp_reaches(8091, 8091)? && s.tcp_reaches(8092, 8092)?);
    let out = s.ours(&["upnpc", "-N", "8090", "8099", "TCP"])?;
    assert!(
        out.contains("UPNP_DeletePortMappingRange() returned : 0"),
        "{out}"
    );
    assert!(
        !s.tcp_reaches(8091, 8091)? && !s.tcp_reaches(8092, 8092)?,
        "-N left a mapping"
    );
    Ok(())
}

#[test]
fn debians_upnpc_any_port_and_redirect_commands_through_our_library() -> anyhow::Result<()> {
    let Some(s) = setup::setup("upnpc-rn")? else {
        return Ok(());
    };
    let lan = s.lan();
    // -n: AddAnyPortMapping.
    let out = s.ours(&["upnpc", "-n", &lan, "8130", "8130", "TCP", "3600"])?;
    assert!(out.contains("is redirected to internal"), "{out}");
    assert!(s.tcp_reaches(8130, 8130)?, "-n made no working mapping");
    // -r: AddPortMapping of this host's address for each port.
    let out = s.ours(&["upnpc", "-r", "8131", "8131", "TCP"])?;
    assert!(
        out.contains(&format!("is redirected to internal {lan}:8131")),
        "{out}"
    );
    assert!(s.tcp_reaches(8131, 8131)?, "-r made no working mapping");
    let out = s.ours(&["upnpc", "-P"])?;
    assert!(out.contains("Presentation URL found"), "{out}");
    Ok(())
}

#[test]
fn debians_upnpc_ipv6_pinhole_commands_through_our_library() -> anyhow::Result<()> {
    let Some(s) = setup::setup_with("upnpc6", true)? else {
        return Ok(());
    };
    let gw6 = s
        .lab
        .ipv6(Host::Gateway)
        .ok_or_else(|| anyhow::anyhow!("no gateway ipv6"))?;
    let me = s
        .lab
        .ipv6(Host::Lan(0))
        .ok_or_else(|| anyhow::anyhow!("no lan ipv6"))?;
    let wan = s
        .lab
        .ipv6(Host::Wan)
        .ok_or_else(|| anyhow::anyhow!("no wan ipv6"))?
        .to_string();
    let url = format!("http://[{gw6}]:5000/rootDesc.xml");
    let reaches = || -> anyhow::Result<bool> {
        let to = std::net::SocketAddr::new(me.into(), 8140);
        Ok(s.lab
            .tcp_probe(Host::Wan, to, (Host::Lan(0), 8140), b"v6", setup::PROBE)?)
    };
    let me = me.to_string();
    let upnpc = |args: &[&str]| {
        let mut full = vec!["upnpc", "-6", "-u", url.as_str()];
        full.extend_from_slice(args);
        s.ours(&full)
    };
    assert!(!reaches()?, "open before any pinhole");
    // Discovery over IPv6 (ff02::c), no -u.
    let out = s.ours(&["upnpc", "-6", "-S"])?;
    assert!(
        out.contains(&format!("desc: http://[{gw6}]:5000/rootDesc.xml")),
        "{out}"
    );
    assert!(out.contains("Firewall Enabled: Yes"), "{out}");
    let out = upnpc(&["-S"])?;
    assert!(
        out.contains("Firewall Enabled: Yes") && out.contains("Inbound Pinhole Allowed: Yes"),
        "{out}"
    );
    let out = upnpc(&["-A", &wan, "0", &me, "8140", "TCP", "3600"])?;
    let id: String = out
        .split("Pinhole ID = ")
        .nth(1)
        .map(|r| r.chars().take_while(char::is_ascii_digit).collect())
        .unwrap_or_default();
    assert!(!id.is_empty(), "no pinhole id: {out}");
    assert!(
        reaches()?,
        "the pinhole upnpc made does not let WAN bytes in"
    );
    for args in [
        vec!["-K", id.as_str()],
        vec!["-C", id.as_str()],
        vec!["-U", id.as_str(), "7200"],
    ] {
        let out = upnpc(&args)?;
        assert!(!out.contains("failed"), "{args:?}: {out}");
    }
    let out = upnpc(&["-G", &wan, "0", &me, "8140", "TCP"])?;
    assert!(!out.contains("failed"), "{out}");
    let out = upnpc(&["-D", &id])?;
    assert!(!out.contains("failed"), "{out}");
    assert!(!reaches()?, "the deleted pinhole still lets WAN bytes in");
    Ok(())
}

#[test]
fn a_reserved_external_address_is_not_connected_as_on_debians_library() -> anyhow::Result<()> {
    let Some(s) = setup::setup_lab("upnpc-reserved", false, false)? else {
        return Ok(());
    };
    let lan = s.lan();
    let ours = s.ours(&["upnpc", "-a", &lan, "8160", "8160", "TCP"])?;
    let (_, debian, _) = common::run(
        &s.lab,
        Host::Lan(0),
        &["upnpc", "-a", &lan, "8161", "8161", "TCP"],
    )?;
    for out in [&ours, &debian] {
        assert!(out.contains("Found a (not connected?) IGD"), "{out}");
        assert!(!out.contains("is redirected to internal"), "{out}");
    }
    assert!(
        !s.tcp_reaches(8160, 8160)?,
        "mapped through a gateway with a reserved address"
    );
    Ok(())
}
