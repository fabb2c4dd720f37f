//! The same link options as portgated's (the `router` feature: packed relative
//! relocations); see portgate-daemon's build script.

#[path = "../portgate-daemon/build.rs"]
mod daemon_build;

fn main() {
    daemon_build::main();
}
