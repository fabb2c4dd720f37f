//! Debian's unchanged `upnpc` on our libminiupnpc.so.17 (via LD_LIBRARY_PATH) against the
//! real portgated in the namespace lab, whose WAN is outside the reserved ranges so that
//! `UPNP_GetValidIGD` answers 1. The loader's LD_DEBUG trace proves our library was the
//! one loaded; bytes from the WAN host reaching the LAN host prove each mapping.

#[path = "../../portgate-natpmp-c/tests/common/mod.rs"]
mod common;

#[path = "setup/mod.rs"]
mod setup;

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
