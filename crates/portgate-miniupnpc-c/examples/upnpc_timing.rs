//! Times Debian's unchanged `upnpc -a` against portgated in a namespace lab, on our
//! libminiupnpc.so.17 and on Debian's, with hyperfine (as root):
//!
//! ```sh
//! cargo run -p portgate-miniupnpc-c --example upnpc_timing
//! ```
//!
//! `PORTGATE_MINIUPNPC_SO=target/release/libminiupnpc.so` times that build of the
//! library instead of the one next to the example. A measurement, not a test: it prints
//! hyperfine's table and asserts nothing.

#[path = "../../portgate-natpmp-c/tests/common/mod.rs"]
mod common;

use portgate_lab::{Host, Lab};

fn main() -> anyhow::Result<()> {
    let lab = Lab::builder().lan_hosts(1).wan_unreserved().build()?;
    let so = match std::env::var_os("PORTGATE_MINIUPNPC_SO") {
        Some(p) => Ok(std::fs::canonicalize(p)?),
        None => common::built_so("libminiupnpc.so"),
    }
    .or_else(|_: anyhow::Error| {
        // Examples live one directory below the cdylib.
        let exe = std::env::current_exe()?;
        let dir = exe
            .parent()
            .and_then(|d| d.parent())
            .ok_or_else(|| anyhow::anyhow!("no dir"))?;
        [
            dir.join("libminiupnpc.so"),
            dir.join("deps/libminiupnpc.so"),
        ]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| {
            anyhow::anyhow!("build the library first: cargo build -p portgate-miniupnpc-c")
        })
    })?;
    let state = common::LibDir::new("upnpc-timing-state", &so, "libminiupnpc.so.17")?;
    let _daemon = common::start_portgated(&lab, &state.path)?;
    let libs = common::LibDir::new("upnpc-timing-lib", &so, "libminiupnpc.so.17")?;
    let lan = lab.ipv4(Host::Lan(0)).to_string();
    let ours = format!(
        "env LD_LIBRARY_PATH={} upnpc -a {lan} 9000 9000 TCP 600",
        libs.path.display()
    );
    let debian = format!("upnpc -a {lan} 9001 9001 TCP 600");
    let out = lab.exec(
        Host::Lan(0),
        &[
            "hyperfine",
            "-N",
            "--warmup",
            "2",
            "--runs",
            "20",
            "--export-markdown",
            "/dev/stdout",
            &ours,
            &debian,
        ],
    )?;
    println!("{}", String::from_utf8_lossy(&out.stdout));
    Ok(())
}
