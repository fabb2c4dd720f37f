//! Sets the shared object's soname to the one programs linked against MiniUPnPc 2.2.4
//! (API 17) record.

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libminiupnpc.so.17");
    // Set by the API 18 crate, which compiles these sources again.
    println!("cargo:rustc-check-cfg=cfg(api18)");
}
