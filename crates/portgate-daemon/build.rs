//! With the `router` feature, link the binaries with packed relative relocations
//! (DT_RELR): a position-independent executable's relocation table shrinks from
//! ~95 KB to a few KB (docs/size.md). Needs GNU ld >= 2.38 or lld, and glibc >= 2.36
//! or musl >= 1.2.4 at run time, so it is not the default.

/// Emit the link options (see the file comment).
pub fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let router = std::env::var_os("CARGO_FEATURE_ROUTER").is_some();
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if router && linux {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
