//! The C ABI: struct layouts measured by gcc against Debian's MiniUPnPc 2.2.4 headers and
//! against ours (crate's include/) equal the Rust definitions; the shared object carries the soname and all
//! 59 functions Debian's libminiupnpc.so.17 exports.

#[path = "../../portgate-natpmp-c/tests/common/mod.rs"]
mod common;

use std::mem::{offset_of, size_of};

use miniupnpc::types::{
    IGDdatas, IGDdatas_service, NameValue, NameValueParserData, PortMapping, PortMappingParserData,
    UPNPDev, UPNPUrls, UPNParg,
};

/// Debian's libminiupnpc.so.17 and its headers (package libminiupnpc-dev).
const DEBIAN_LIB: &str = "/usr/lib/x86_64-linux-gnu/libminiupnpc.so.17";
const DEBIAN_HEADER: &str = "/usr/include/miniupnpc/miniupnpc.h";

macro_rules! layout {
    ($out:ident, $t:ident { $($f:ident),* }) => {
        $out.push(format!("sizeof(struct {}) {}", stringify!($t), size_of::<$t>()));
        $( $out.push(format!("offsetof(struct {}, {}) {}", stringify!($t), stringify!($f), offset_of!($t, $f))); )*
    };
}

fn rust_layout() -> String {
    let mut v = Vec::new();
    layout!(
        v,
        UPNPDev {
            pNext,
            descURL,
            st,
            usn,
            scope_id,
            buffer
        }
    );
    layout!(
        v,
        UPNPUrls {
            controlURL,
            ipcondescURL,
            controlURL_CIF,
            controlURL_6FC,
            rootdescURL
        }
    );
    layout!(
        v,
        IGDdatas_service {
            controlurl,
            eventsuburl,
            scpdurl,
            servicetype
        }
    );
    layout!(
        v,
        IGDdatas {
            cureltname,
            urlbase,
            presentationurl,
            level,
            CIF,
            first,
            second,
            IPv6FC,
            tmp
        }
    );
    layout!(v, UPNParg { elt, val });
    layout!(
        v,
        NameValue {
            l_next,
            name,
            value
        }
    );
    layout!(
        v,
        NameValueParserData {
            l_head,
            curelt,
            portListing,
            portListingLength,
            topelt,
            cdata,
            cdatalen
        }
    );
    layout!(
        v,
        PortMapping {
            l_next,
            leaseTime,
            externalPort,
            internalPort,
            remoteHost,
            internalClient,
            description,
            protocol,
            enabled
        }
    );
    layout!(v, PortMappingParserData { l_head, curelt });
    v.iter().map(|l| format!("{l}\n")).collect()
}

#[test]
fn struct_layouts_match_debians_headers_and_ours() -> anyhow::Result<()> {
    anyhow::ensure!(
        std::path::Path::new(DEBIAN_HEADER).is_file(),
        "{DEBIAN_HEADER} missing: scripts/install-deps.sh installs libminiupnpc-dev"
    );
    let rust = rust_layout();
    let debian = common::compile_and_run(
        &common::test_file("c/layout.c"),
        "miniupnpc-layout-debian",
        &[],
    )?;
    assert_eq!(debian, rust, "Debian's headers vs the Rust structs");
    let inc = concat!("-I", env!("CARGO_MANIFEST_DIR"), "/include");
    let ours = common::compile_and_run(
        &common::test_file("c/layout.c"),
        "miniupnpc-layout-ours",
        &[inc],
    )?;
    assert_eq!(ours, rust, "our headers vs the Rust structs");
    assert!(rust.contains("sizeof(struct IGDdatas) 2948\n"), "{rust}");
    assert!(rust.contains("sizeof(struct PortMapping) 224\n"), "{rust}");
    Ok(())
}

#[test]
fn exports_all_59_functions_under_debians_soname() -> anyhow::Result<()> {
    let debian = common::assert_exports("libminiupnpc.so", "libminiupnpc.so.17", DEBIAN_LIB)?;
    assert_eq!(debian.len(), 59, "{debian:?}");
    Ok(())
}

#[test]
fn a_program_builds_against_our_headers_and_links_against_our_library() -> anyhow::Result<()> {
    common::build_against_ours(
        "libminiupnpc.so",
        "miniupnpc",
        concat!(env!("CARGO_MANIFEST_DIR"), "/include"),
    )
}
