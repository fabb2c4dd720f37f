//! The C ABI: struct layouts measured by gcc against Debian's natpmp.h and against ours
//! equal the Rust definitions; the shared object carries the soname and exactly the
//! functions Debian's libnatpmp.so.1 exports.

mod common;

use std::mem::{offset_of, size_of};

use natpmp::{natpmp_t, natpmpresp_t, newportmapping_t};

/// Debian's libnatpmp.so.1 and its header (package libnatpmp-dev).
const DEBIAN_LIB: &str = "/usr/lib/x86_64-linux-gnu/libnatpmp.so.1";
const DEBIAN_HEADER: &str = "/usr/include/natpmp.h";

fn rust_layout() -> String {
    let pnu = offset_of!(natpmpresp_t, pnu);
    [
        ("sizeof(natpmp_t)", size_of::<natpmp_t>()),
        ("offsetof(natpmp_t, s)", offset_of!(natpmp_t, s)),
        ("offsetof(natpmp_t, gateway)", offset_of!(natpmp_t, gateway)),
        (
            "offsetof(natpmp_t, has_pending_request)",
            offset_of!(natpmp_t, has_pending_request),
        ),
        (
            "offsetof(natpmp_t, pending_request)",
            offset_of!(natpmp_t, pending_request),
        ),
        (
            "offsetof(natpmp_t, pending_request_len)",
            offset_of!(natpmp_t, pending_request_len),
        ),
        (
            "offsetof(natpmp_t, try_number)",
            offset_of!(natpmp_t, try_number),
        ),
        (
            "offsetof(natpmp_t, retry_time)",
            offset_of!(natpmp_t, retry_time),
        ),
        ("sizeof(natpmpresp_t)", size_of::<natpmpresp_t>()),
        (
            "offsetof(natpmpresp_t, type)",
            offset_of!(natpmpresp_t, type_),
        ),
        (
            "offsetof(natpmpresp_t, resultcode)",
            offset_of!(natpmpresp_t, resultcode),
        ),
        (
            "offsetof(natpmpresp_t, epoch)",
            offset_of!(natpmpresp_t, epoch),
        ),
        ("offsetof(natpmpresp_t, pnu)", pnu),
        ("offsetof(natpmpresp_t, pnu.publicaddress.addr)", pnu),
        (
            "offsetof(natpmpresp_t, pnu.newportmapping.privateport)",
            pnu + offset_of!(newportmapping_t, privateport),
        ),
        (
            "offsetof(natpmpresp_t, pnu.newportmapping.mappedpublicport)",
            pnu + offset_of!(newportmapping_t, mappedpublicport),
        ),
        (
            "offsetof(natpmpresp_t, pnu.newportmapping.lifetime)",
            pnu + offset_of!(newportmapping_t, lifetime),
        ),
    ]
    .iter()
    .map(|(k, v)| format!("{k} {v}\n"))
    .collect()
}

/// Compiles and runs tests/c/layout.c with `include` first on the include path.
fn c_layout(include: Option<&str>, tag: &str) -> anyhow::Result<String> {
    let inc = include.map(|d| format!("-I{d}"));
    let args: Vec<&str> = inc.iter().map(String::as_str).collect();
    common::compile_and_run(
        &common::test_file("c/layout.c"),
        &format!("natpmp-layout-{tag}"),
        &args,
    )
}

#[test]
fn struct_layouts_match_debians_header_and_ours() -> anyhow::Result<()> {
    anyhow::ensure!(
        std::path::Path::new(DEBIAN_HEADER).is_file(),
        "{DEBIAN_HEADER} missing: scripts/install-deps.sh installs libnatpmp-dev"
    );
    let rust = rust_layout();
    let debian = c_layout(None, "debian")?;
    assert_eq!(debian, rust, "Debian's natpmp.h vs the Rust structs");
    let ours = c_layout(
        Some(concat!(env!("CARGO_MANIFEST_DIR"), "/include")),
        "ours",
    )?;
    assert_eq!(ours, rust, "our natpmp.h vs the Rust structs");
    Ok(())
}

#[test]
fn exports_debians_functions_under_its_soname() -> anyhow::Result<()> {
    let debian = common::assert_exports("libnatpmp.so", "libnatpmp.so.1", DEBIAN_LIB)?;
    assert_eq!(debian.len(), 11, "{debian:?}");
    Ok(())
}

#[test]
fn a_program_builds_against_our_header_and_links_against_our_library() -> anyhow::Result<()> {
    common::build_against_ours(
        "libnatpmp.so",
        "natpmp",
        concat!(env!("CARGO_MANIFEST_DIR"), "/include"),
    )
}
