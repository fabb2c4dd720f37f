//! The tracing set-up of both daemons: where log lines go and how much is logged.
//!
//! `--log auto` (the default) logs to stderr when the daemon stays in the foreground
//! and to syslog (`/dev/log`, facility daemon, the program's name as ident) when it
//! runs in the background, as miniupnpd does; `--log stderr` and `--log syslog`
//! force one. `PORTGATE_SYSLOG_SOCKET` names another socket than `/dev/log` (tests
//! and chroots). `PORTGATE_LOG` overrides the level: one of error, warn, info, debug,
//! trace or off (no per-module directives: that filter would bring a regex engine,
//! about 200 KiB of a router's binary).

use std::str::FromStr;

use crate::syslog::{Syslog, DEV_LOG};

/// Environment variable naming the syslog socket instead of [`DEV_LOG`].
pub const SYSLOG_SOCKET_ENV: &str = "PORTGATE_SYSLOG_SOCKET";
/// Environment variable overriding the level filter.
pub const LOG_FILTER_ENV: &str = "PORTGATE_LOG";

/// Where log lines go (`--log`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogTarget {
    /// stderr in the foreground, syslog in the background.
    #[default]
    Auto,
    /// Always stderr.
    Stderr,
    /// Always syslog.
    Syslog,
}

impl FromStr for LogTarget {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "stderr" => Ok(Self::Stderr),
            "syslog" => Ok(Self::Syslog),
            _ => Err(format!("'{s}': expected auto, stderr or syslog")),
        }
    }
}

impl LogTarget {
    /// Whether lines go to syslog for a process that is (`foreground`) or is not in
    /// the foreground.
    pub fn uses_syslog(self, foreground: bool) -> bool {
        match self {
            Self::Auto => !foreground,
            Self::Stderr => false,
            Self::Syslog => true,
        }
    }
}

/// Installs the global tracing subscriber: `level` (`info`, `debug`, ...) unless
/// [`LOG_FILTER_ENV`] names another, lines to stderr or to syslog tagged `ident` as
/// [`LogTarget::uses_syslog`] decides.
pub fn init(ident: &str, target: LogTarget, foreground: bool, level: &str) {
    let level = std::env::var(LOG_FILTER_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .or_else(|| level.parse().ok())
        .unwrap_or(tracing_subscriber::filter::LevelFilter::INFO);
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false);
    if target.uses_syslog(foreground) {
        let path = std::env::var_os(SYSLOG_SOCKET_ENV).unwrap_or_else(|| DEV_LOG.into());
        // syslog stamps the time and the level is in PRI: only the message and fields.
        builder
            .with_writer(Syslog::new(path, ident))
            .with_ansi(false)
            .without_time()
            .with_level(false)
            .init();
    } else {
        builder
            .with_writer(std::io::stderr)
            // Colour codes only for a terminal, not in a service manager's journal (and
            // only where tracing-subscriber's `ansi` feature is on).
            .with_ansi(
                cfg!(feature = "ansi") && std::io::IsTerminal::is_terminal(&std::io::stderr()),
            )
            .init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!("auto".parse(), Ok(LogTarget::Auto));
        assert_eq!("syslog".parse(), Ok(LogTarget::Syslog));
        assert_eq!("stderr".parse(), Ok(LogTarget::Stderr));
        assert!("file".parse::<LogTarget>().is_err());
        assert!(LogTarget::Auto.uses_syslog(false));
        assert!(!LogTarget::Auto.uses_syslog(true));
        assert!(LogTarget::Syslog.uses_syslog(true));
        assert!(!LogTarget::Stderr.uses_syslog(false));
    }
}
