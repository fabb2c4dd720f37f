//! Debian's python3-miniupnpc on our libminiupnpc.so.17 and on Debian's, side by side,
//! against portgated in the lab: the same answers, and WAN bytes reach the LAN host
//! through the mappings it makes on ours.

#[path = "../../portgate-natpmp-c/tests/common/mod.rs"]
mod common;
#[path = "setup/mod.rs"]
mod setup;

/// Runs tests/py/client.py on the LAN host (on our library when `ours`), probing the
/// mappings it made while it waits; returns its own lines.
fn run_client(s: &setup::Setup, ours: bool, base: u16) -> anyhow::Result<String> {
    let script = common::test_file("py/client.py").display().to_string();
    let b = base.to_string();
    let program = ["/usr/bin/python3", script.as_str(), b.as_str()];
    Ok(s.run_paused(
        &[],
        &program,
        ours,
        &[base, base + 1],
        "getspecificportmapping(deleted)",
    )?
    .0)
}

#[test]
fn python3_miniupnpc_answers_as_on_debians_library() -> anyhow::Result<()> {
    let Some(s) = setup::setup("python")? else {
        return Ok(());
    };
    let debian = run_client(&s, false, 8070)?;
    let ours = run_client(&s, true, 8070)?;
    assert_eq!(ours, debian, "python3-miniupnpc on our library vs Debian's");
    let lan = s.lan();
    let ext = s.lab.external_ipv4().to_string();
    for want in [
        "discover 1".to_owned(),
        format!("lanaddr {lan}"),
        format!("externalipaddress {ext}"),
        "addportmapping True".to_owned(),
        // Lease 0 on portgated's IGD:2 device means WANIPConnection:2's maximum.
        format!("getspecificportmapping ('{lan}', 8070, 'py', True, 604800)"),
        "addanyportmapping 8071".to_owned(),
        "deleteportmapping True".to_owned(),
        "getspecificportmapping(deleted) None".to_owned(),
    ] {
        assert!(ours.contains(&want), "{want} missing:\n{ours}");
    }
    Ok(())
}
