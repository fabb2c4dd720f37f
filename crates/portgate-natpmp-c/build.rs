//! Sets the shared object's soname to the one programs linked against libnatpmp record.

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnatpmp.so.1");
}
