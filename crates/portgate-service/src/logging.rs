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

use tracing_subscriber::fmt::time::SystemTime;
use tracing_subscriber::fmt::MakeWriter;

use crate::syslog::{Syslog, SyslogLine, DEV_LOG};

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
    let syslog = target.uses_syslog(foreground);
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false);
    // One subscriber type for both destinations (its code is generated once: see
    // docs/size.md): without_time() then the same timer type keeps the time off.
    let (builder, sink) = if syslog {
        let path = std::env::var_os(SYSLOG_SOCKET_ENV).unwrap_or_else(|| DEV_LOG.into());
        (
            builder.without_time().with_timer(SystemTime),
            Sink::Syslog(Syslog::new(path, ident)),
        )
    } else {
        (builder, Sink::Stderr)
    };
    builder
        .with_writer(sink)
        // syslog stamps the time and the level is in PRI: only the message and fields.
        .with_level(!syslog)
        // Colour codes only for a terminal, not in a service manager's journal nor in
        // syslog (and only where tracing-subscriber's `ansi` feature is on).
        .with_ansi(
            !syslog
                && cfg!(feature = "ansi")
                && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        )
        .init();
}

/// Where log lines go: stderr or syslog.
enum Sink {
    Stderr,
    Syslog(Syslog),
}

/// One log line on its way to a [`Sink`].
enum SinkLine {
    Stderr(std::io::Stderr),
    Syslog(SyslogLine),
}

impl std::io::Write for SinkLine {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Stderr(w) => w.write(data),
            Self::Syslog(w) => w.write(data),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Stderr(w) => w.flush(),
            Self::Syslog(w) => w.flush(),
        }
    }
}

impl<'a> MakeWriter<'a> for Sink {
    type Writer = SinkLine;

    fn make_writer(&'a self) -> SinkLine {
        match self {
            Self::Stderr => SinkLine::Stderr(std::io::stderr()),
            Self::Syslog(s) => SinkLine::Syslog(s.make_writer()),
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> SinkLine {
        match self {
            Self::Stderr => SinkLine::Stderr(std::io::stderr()),
            Self::Syslog(s) => SinkLine::Syslog(s.make_writer_for(meta)),
        }
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
