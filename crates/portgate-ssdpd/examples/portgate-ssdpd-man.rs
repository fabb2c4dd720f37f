//! Prints portgate-ssdpd(8) (roff), generated from the command-line definition, for the Debian
//! package (scripts/build-debs.sh): `cargo run -p portgate-ssdpd --example portgate-ssdpd-man`.

#[path = "../src/args.rs"]
mod args;

use clap::CommandFactory as _;

fn main() -> std::io::Result<()> {
    let mut out = Vec::new();
    clap_mangen::Man::new(args::Args::command())
        .section("8")
        .render(&mut out)?;
    std::io::Write::write_all(&mut std::io::stdout(), &out)
}
