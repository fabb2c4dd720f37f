//! Debian's python3-miniupnpc on our libminiupnpc.so.17 and on Debian's, side by side,
//! against portgated in the lab: the same answers, and WAN bytes reach the LAN host
//! through the mappings it makes on ours.

#[path = "../../portgate-natpmp-c/tests/common/mod.rs"]
mod common;
#[path = "setup/mod.rs"]
mod setup;

use std::time::Duration;

use portgate_lab::Host;

/// Runs tests/py/client.py on the LAN host (on our library when `ours`), probing
/// the mappings it made while it waits; returns its output.
fn run_client(s: &setup::Setup, ours: bool, base: u16) -> anyhow::Result<String> {
    let go = s
        .libs
        .path
        .join(format!("go-{base}-{ours}"))
        .display()
        .to_string();
    let script = common::test_file("py/client.py").display().to_string();
    let path = format!("LD_LIBRARY_PATH={}", s.libs.path.display());
    let b = base.to_string();
    let mut args = vec!["env", "LD_DEBUG=libs"];
    if ours {
        args.push(&path);
    }
    args.extend(["/usr/bin/python3", script.as_str(), b.as_str(), go.as_str()]);
    let child = s.lab.spawn(Host::Lan(0), &args)?;
    child.wait_for("paused-for-probes", Duration::from_secs(30))?;
    assert!(
        s.tcp_reaches(base, base)?,
        "addportmapping does not forward"
    );
    assert!(
        s.tcp_reaches(base + 1, base + 1)?,
        "addanyportmapping does not forward"
    );
    std::fs::write(&go, b"")?;
    let st = child.wait_exit(Duration::from_secs(30))?;
    let out = child.output();
    assert!(st.success(), "{out}");
    assert_eq!(
        common::loaded(&out, &s.libs.lib(setup::SONAME)),
        ours,
        "{out}"
    );
    assert!(
        !s.tcp_reaches(base, base)? && !s.tcp_reaches(base + 1, base + 1)?,
        "deleted mappings still forward"
    );
    // The script's own lines, without the loader's trace.
    Ok(out
        .lines()
        .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
        .collect::<Vec<_>>()
        .join("\n"))
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
        format!("getspecificportmapping ('{lan}', 8070, 'py', True, 0)"),
        "addanyportmapping 8071".to_owned(),
        "deleteportmapping True".to_owned(),
        "getspecificportmapping(deleted) None".to_owned(),
    ] {
        assert!(ours.contains(&want), "{want} missing:\n{ours}");
    }
    Ok(())
}
