//! `portgate-multicall`: portgated, portgate-ssdpd and portgate in one binary, chosen
//! by the base name it is run as (a symlink or hard link per program, as BusyBox does).
//! Sharing std, tokio, tracing and the protocol code once makes the three programs
//! about half their size as three files (docs/size.md).
//!
//! Install: `ln -s portgate-multicall portgated` (and `portgate-ssdpd`, `portgate`).

use std::ffi::OsStr;
use std::path::Path;
use std::process::ExitCode;

/// A program's entry point.
type Entry = fn() -> ExitCode;

/// The programs, by the name they are run as.
const PROGRAMS: [(&str, Entry); 3] = [
    ("portgated", portgate_daemon::run::main),
    ("portgate-ssdpd", portgate_ssdpd::main),
    ("portgate", portgate_cli::main),
];

fn program(name: &OsStr) -> Option<Entry> {
    let base = Path::new(name).file_name()?;
    PROGRAMS
        .iter()
        .find(|(n, _)| OsStr::new(n) == base)
        .map(|&(_, f)| f)
}

fn main() -> ExitCode {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    match program(&argv0) {
        Some(run) => run(),
        None => {
            let names: Vec<&str> = PROGRAMS.iter().map(|(n, _)| *n).collect();
            eprintln!(
                "portgate-multicall: run me through a link named one of: {}",
                names.join(", ")
            );
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_on_the_base_name() {
        let run = |name: &str| program(OsStr::new(name)).map(|f| f as usize);
        assert_eq!(run("/usr/sbin/portgated"), Some(PROGRAMS[0].1 as usize));
        assert_eq!(run("portgate-ssdpd"), Some(PROGRAMS[1].1 as usize));
        assert_eq!(run("./bin/portgate"), Some(PROGRAMS[2].1 as usize));
        for other in ["portgate-multicall", "miniupnpd", "portgated.old", ""] {
            assert_eq!(run(other), None, "{other}");
        }
    }
}
