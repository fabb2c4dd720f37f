//! libminiupnpc.so.18 (API 18): soname and exports, and `UPNP_GetValidIGD`'s API 18
//! answers against portgated in the lab: 1 and the external address with a public WAN,
//! 2 (connected, reserved address) with the lab's default documentation WAN; the mapping
//! made after it carries WAN bytes.

#[path = "../../portgate-natpmp-c/tests/common/mod.rs"]
mod common;

use std::time::Duration;

use portgate_lab::{Host, Lab};

const SONAME: &str = "libminiupnpc.so.18";

#[test]
fn exports_the_59_functions_under_the_api_18_soname() -> anyhow::Result<()> {
    let names = common::assert_exports(
        "libminiupnpc18.so",
        SONAME,
        "/usr/lib/x86_64-linux-gnu/libminiupnpc.so.17",
    )?;
    assert_eq!(names.len(), 59);
    Ok(())
}

/// Runs tests/c/validigd.c on our .so.18 in a lab whose WAN is public or not.
fn valid_igd(unreserved: bool, port: u16) -> anyhow::Result<Option<String>> {
    let mut builder = Lab::builder().lan_hosts(1);
    if unreserved {
        builder = builder.wan_unreserved();
    }
    let tag = format!("miniupnpc18-{unreserved}");
    let Some(l) = common::lab_with_library(builder, &tag, "libminiupnpc18.so", SONAME)? else {
        return Ok(None);
    };
    let (lab, libs) = (&l.lab, &l.libs);
    let so = common::built_so("libminiupnpc18.so")?;
    let prog = libs.path.join("validigd");
    let dir = so
        .parent()
        .map(|d| format!("-L{}", d.display()))
        .unwrap_or_default();
    let inc = concat!(
        "-I",
        env!("CARGO_MANIFEST_DIR"),
        "/../portgate-miniupnpc-c/include"
    );
    common::gcc(
        &common::test_file("c/validigd.c"),
        &prog,
        &[inc, "-DMINIUPNPC_API_VERSION=18", &dir, "-lminiupnpc18"],
    )?;
    let path = format!("LD_LIBRARY_PATH={}", libs.path.display());
    let p = port.to_string();
    let prog = prog.display().to_string();
    let (ok, out, trace) = common::run(
        lab,
        Host::Lan(0),
        &["env", &path, "LD_DEBUG=libs", &prog, &p],
    )?;
    assert!(ok, "{out}");
    assert!(common::loaded(&trace, &libs.lib(SONAME)), "{trace}");
    let ext = lab.external_ipv4();
    assert!(out.contains(&format!(" wan {ext}\n")), "{out}");
    assert!(out.contains("UPNP_AddPortMapping 0"), "{out}");
    let reached = lab.tcp_probe(
        Host::Wan,
        (ext, port).into(),
        (Host::Lan(0), port),
        b"api18",
        Duration::from_secs(2),
    )?;
    assert!(
        reached,
        "the mapping made after UPNP_GetValidIGD does not forward"
    );
    Ok(Some(out))
}

#[test]
fn a_public_external_address_gives_1() -> anyhow::Result<()> {
    if let Some(out) = valid_igd(true, 8150)? {
        assert!(out.contains("UPNP_GetValidIGD 1 lan 10.77.0.2"), "{out}");
    }
    Ok(())
}

#[test]
fn a_reserved_external_address_gives_2() -> anyhow::Result<()> {
    if let Some(out) = valid_igd(false, 8151)? {
        assert!(out.contains("UPNP_GetValidIGD 2 lan 10.77.0.2"), "{out}");
    }
    Ok(())
}
