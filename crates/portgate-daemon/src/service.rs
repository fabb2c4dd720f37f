//! portgated as a service: the process model (fork unless `-d` or `--foreground`),
//! where logs go, and readiness for the service manager.
//!
//! miniupnpd's model for drop-in use: without `-d` the daemon forks into the
//! background ([`portgate_service::daemonize`]) before anything else starts and logs
//! to syslog (ident `portgated`, facility daemon); with `-d` it stays in the
//! foreground and logs to stderr at debug level. `--foreground` stays in the
//! foreground at info level (what a systemd unit with `Type=notify` runs), `--log`
//! forces stderr or syslog. The pid file (`-P`) is locked before the fork, so that
//! "already running" reaches the terminal as miniupnpd's check does, and the process
//! that stays writes its own pid into it (the flock lock is shared through the fork).
//!
//! Readiness: with `NOTIFY_SOCKET` set, `READY=1` and a `STATUS=` line are sent right
//! after the "listening on" line, `WATCHDOG=1` every half `WATCHDOG_USEC`, `RELOADING=1`
//! on SIGHUP and `STOPPING=1` at shutdown ([`portgate_service::notify`]).

use std::rc::Rc;

use portgate_service::notify::Notifier;

use crate::flags::Flags;

/// Whether portgated stays in the foreground.
pub fn foreground(flags: &Flags) -> bool {
    flags.foreground || flags.no_fork
}

/// Makes the configuration and pid file paths absolute: daemon(3) changes to `/`, and
/// the configuration is reread on SIGHUP, the pid file checked at exit.
pub fn absolute_paths(flags: &mut Flags) {
    if let Some(c) = &flags.config {
        flags.config = Some(portgate_service::daemonize::absolute(c));
    }
    if let Some(p) = &flags.pidfile {
        flags.pidfile = Some(portgate_service::daemonize::absolute(p));
    }
}

/// Forks into the background unless the flags keep portgated in the foreground, then
/// installs the logger. Must run while the process has one thread. Only the process
/// that stays returns; `Err` when the fork failed.
pub fn start(flags: &mut Flags) -> std::io::Result<()> {
    let fg = foreground(flags);
    if !fg {
        absolute_paths(flags);
        portgate_service::daemonize::daemonize()?;
    }
    let level = match (flags.foreground, flags.verbose) {
        (true, 0) => "debug",
        (true, _) => "trace",
        (false, 0) => "info",
        (false, _) => "debug",
    };
    portgate_service::logging::init("portgated", flags.log, fg, level);
    Ok(())
}

/// The service manager's notification socket, when there is one; with a watchdog
/// set, a local task pings it for as long as the runtime runs.
pub fn notifier() -> Option<Rc<Notifier>> {
    let n = Rc::new(Notifier::from_env()?);
    if let Some(every) = n.watchdog() {
        tracing::info!(?every, "systemd watchdog: pinging");
        let ping = n.clone();
        tokio::task::spawn_local(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                ping.watchdog_ping();
            }
        });
    }
    Some(n)
}
