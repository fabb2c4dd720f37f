//! API 18 (MiniUPnPc 2.2.8): the soname libminiupnpc.so.18 and the `api18` cfg, which
//! selects the API 18 `UPNP_GetValidIGD` in the shared sources.

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libminiupnpc.so.18");
    println!("cargo:rustc-check-cfg=cfg(api18)");
    println!("cargo:rustc-cfg=api18");
    println!("cargo:rerun-if-changed=build.rs");
}
