//! A C program linked against Debian's libminiupnpc calls the library's functions against
//! portgated in the lab, once on Debian's library and once on ours (LD_LIBRARY_PATH): the
//! outputs must be equal, the mappings it makes must carry WAN bytes, and valgrind must
//! find no error and no leak when it runs on ours.

#[path = "../../portgate-natpmp-c/tests/common/mod.rs"]
mod common;
#[path = "setup/mod.rs"]
mod setup;

/// tests/c/calls.c compiled against Debian's headers and library.
fn calls(s: &setup::Setup) -> anyhow::Result<String> {
    let prog = s.libs.path.join("calls");
    common::gcc(&common::test_file("c/calls.c"), &prog, &["-lminiupnpc"])?;
    Ok(prog.display().to_string())
}

/// Runs the program (on our library when `ours`, under valgrind when `valgrind`),
/// probing its three mappings while it pauses.
fn run(
    s: &setup::Setup,
    prog: &str,
    cache_socket: &str,
    ours: bool,
    valgrind: bool,
    base: u16,
) -> anyhow::Result<(String, String)> {
    let sock = format!("MINISSDPD_SOCKET={cache_socket}");
    let b = base.to_string();
    let mut program = vec![];
    if valgrind {
        program.extend([
            "valgrind",
            "--error-exitcode=99",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
        ]);
    }
    program.extend([prog, b.as_str()]);
    let last = if valgrind { "ERROR SUMMARY" } else { "done" };
    s.run_paused(&[&sock], &program, ours, &[base, base + 1, base + 2], last)
}

#[test]
fn every_function_answers_as_debians_library_does() -> anyhow::Result<()> {
    let Some(s) = setup::setup("calls")? else {
        return Ok(());
    };
    let prog = calls(&s)?;
    let (_ssdpd, sock) = s.start_ssdpd()?;
    let (debian, _) = run(&s, &prog, &sock, false, false, 8100)?;
    let (ours, _) = run(&s, &prog, &sock, true, false, 8110)?;
    let ours_norm = ours.replace("811", "810");
    assert_eq!(ours_norm, debian, "our library vs Debian's");
    assert!(ours.contains("UPNP_GetValidIGD 1 lan"), "{ours}");
    assert!(ours.contains("UPNP_AddPortMapping 0"), "{ours}");
    assert!(ours.contains("done"), "{ours}");
    let location = s.location();
    assert!(
        ours.contains(&format!("receiveDevicesFromMiniSSDPD 0 1 {location}")),
        "{ours}"
    );
    Ok(())
}

#[test]
fn valgrind_finds_no_error_and_no_leak_on_our_library() -> anyhow::Result<()> {
    let Some(s) = setup::setup("valgrind")? else {
        return Ok(());
    };
    let prog = calls(&s)?;
    let (_ssdpd, sock) = s.start_ssdpd()?;
    let (own, report) = run(&s, &prog, &sock, true, true, 8120)?;
    assert!(own.contains("done"), "{report}");
    assert!(common::valgrind_clean(&report), "{report}");
    Ok(())
}
