//! Service plumbing shared by `portgated` and `portgate-ssdpd`: what a distribution's
//! service manager and an administrator expect from a daemon, with no C library.
//!
//! - [`notify`]: systemd's readiness protocol (`READY=1`, `STATUS=`, `WATCHDOG=1`) over
//!   the datagram socket named by `NOTIFY_SOCKET`, as sd_notify(3) describes it;
//! - [`syslog`]: log lines to `/dev/log` (RFC 3164 framing, facility daemon), as
//!   miniupnpd and MiniSSDPd log when they are not in the foreground;
//! - [`logging`]: the tracing set-up both daemons use (stderr or syslog);
//! - [`daemonize`]: fork into the background (daemon(3)), as miniupnpd does unless `-d`;
//! - [`privs`]: drop every capability but the ones a daemon names.
//!
//! No process is spawned and no `unsafe` is written here.

#![forbid(unsafe_code)]

pub mod daemonize;
pub mod logging;
pub mod notify;
pub mod privs;
pub mod syslog;
