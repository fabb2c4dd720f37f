//! Prints portgated(8) (roff), generated from the command-line definition, for the Debian
//! package (scripts/build-debs.sh): `cargo run -p portgate-daemon --example portgated-man`.

use clap::CommandFactory as _;

fn main() -> std::io::Result<()> {
    let mut out = Vec::new();
    clap_mangen::Man::new(portgate_daemon::flags::Flags::command())
        .section("8")
        .render(&mut out)?;
    std::io::Write::write_all(&mut std::io::stdout(), &out)
}
