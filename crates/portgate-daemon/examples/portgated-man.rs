//! Prints portgated(8) (roff) for the Debian package (scripts/build-debs.sh):
//! `cargo run -p portgate-daemon --example portgated-man`. The options come from the
//! same text `portgated --help` prints ([`portgate_daemon::flags::HELP`]), so the two
//! cannot drift apart.

use std::fmt::Write as _;

/// Escapes a line for roff: backslashes, and a leading `.` or `'`.
fn roff(line: &str) -> String {
    let line = line.replace('\\', "\\e").replace('-', "\\-");
    if line.starts_with('.') || line.starts_with('\'') {
        format!("\\&{line}")
    } else {
        line
    }
}

fn main() -> std::io::Result<()> {
    let help = portgate_daemon::flags::HELP;
    let mut out = String::new();
    let version = env!("CARGO_PKG_VERSION");
    let _ = writeln!(
        out,
        ".TH PORTGATED 8 \"\" \"portgated {version}\" \"System Manager's Manual\""
    );
    out.push_str(".SH NAME\nportgated \\- UPnP IGD, NAT\\-PMP and PCP gateway daemon (miniupnpd\\-compatible)\n");
    out.push_str(".SH SYNOPSIS\n.B portgated\n[\\fIOPTIONS\\fR]\n");
    out.push_str(
        ".SH DESCRIPTION\nportgated lets hosts on a LAN open ports on the gateway with UPnP \
         IGD:1/IGD:2, NAT\\-PMP (RFC 6886) and PCP (RFC 6887), programming nftables over \
         netlink. It reads miniupnpd's configuration file (see \\fBportgated.conf\\fR(5)) and \
         takes miniupnpd's flags.\n",
    );
    // Everything after the usage line: the option and environment lists, verbatim.
    let body = help
        .split_once("\n\n")
        .map(|(_, rest)| rest)
        .and_then(|rest| rest.split_once("\n\n").map(|(_, options)| options))
        .unwrap_or(help);
    out.push_str(".SH OPTIONS\n.nf\n");
    for line in body.lines() {
        let _ = writeln!(out, "{}", roff(line));
    }
    out.push_str(".fi\n.SH SEE ALSO\n\\fBportgated.conf\\fR(5), \\fBportgate\\fR(1), \\fBportgate\\-ssdpd\\fR(8)\n");
    std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes())
}
