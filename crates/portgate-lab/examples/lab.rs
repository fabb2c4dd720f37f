//! Build a lab and keep it up until Enter (or end of input), for poking at it by hand:
//!
//! ```text
//! sudo target/debug/examples/lab [--lan N] [--ipv6] [--unreserved-wan]
//! ```
//!
//! It prints each host's namespace and addresses and an `ip netns exec` line to use; the
//! namespaces are deleted when it exits.

use std::io::BufRead;

use anyhow::{bail, Context};
use portgate_lab::{Host, Lab};

fn main() -> anyhow::Result<()> {
    let mut builder = Lab::builder();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        builder = match arg.as_str() {
            "--lan" => {
                let n = args.next().context("--lan needs a number")?;
                builder.lan_hosts(n.parse().context("--lan needs a number")?)
            }
            "--ipv6" => builder.ipv6(true),
            "--unreserved-wan" => builder.wan_unreserved(),
            other => bail!("unknown argument {other:?}; use [--lan N] [--ipv6] [--unreserved-wan]"),
        };
    }
    if let Some(reason) = portgate_lab::unavailable_reason() {
        bail!("a lab needs root: {reason}");
    }
    let lab = builder.build()?;
    for host in lab.hosts() {
        let addrs: Vec<String> = lab.addresses(host).iter().map(|a| a.to_string()).collect();
        println!("{host:<4} {:<16} {}", lab.netns(host), addrs.join("  "));
    }
    println!();
    println!("e.g.  ip netns exec {} bash", lab.netns(Host::Gateway));
    println!("press Enter to tear the lab down");
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    Ok(())
}
