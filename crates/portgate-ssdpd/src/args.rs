//! The command line of portgate-ssdpd (MiniSSDPd's letters), apart so that
//! `examples/portgate-ssdpd-man.rs` renders portgate-ssdpd(8) from it.

use std::path::PathBuf;

use clap::Parser;

/// MiniSSDPd-compatible command line.
#[derive(Debug, Parser)]
#[command(
    name = "portgate-ssdpd",
    version,
    about = "SSDP cache daemon (MiniSSDPd compatible)"
)]
pub struct Args {
    /// Interface name or one of its addresses to listen on (repeatable).
    #[arg(short = 'i', value_name = "IFACE|ADDR", required = true)]
    pub interfaces: Vec<String>,
    /// Unix socket path.
    #[arg(
        short = 's',
        value_name = "PATH",
        default_value = "/var/run/minissdpd.sock"
    )]
    pub socket: PathBuf,
    /// Write the process id to this file.
    #[arg(short = 'p', value_name = "PIDFILE")]
    pub pidfile: Option<PathBuf>,
    /// Debug: stay in the foreground and log every event to stderr (without it the
    /// daemon forks into the background, as MiniSSDPd does).
    #[arg(short = 'd')]
    pub debug: bool,
    /// Stay in the foreground without debug logging (for a service manager).
    #[arg(long = "foreground")]
    pub foreground: bool,
    /// Where logs go: auto (stderr in the foreground, syslog in the background),
    /// stderr, or syslog (/dev/log, facility daemon, ident portgate-ssdpd).
    #[arg(
        long = "log",
        value_name = "auto|stderr|syslog",
        default_value = "auto"
    )]
    pub log: portgate_service::logging::LogTarget,
    /// Also listen to SSDP over IPv6 (ff02::c).
    #[arg(short = '6')]
    pub ipv6: bool,
    /// Multicast TTL / hop limit of the start-up M-SEARCH.
    #[arg(short = 't', value_name = "TTL", default_value_t = 2)]
    pub ttl: u32,
    /// Only cache (and search for) device types starting with this.
    #[arg(short = 'f', value_name = "DEVICE_TYPE")]
    pub filter: Option<String>,
}
