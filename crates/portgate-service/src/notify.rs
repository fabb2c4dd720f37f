//! systemd's service notification protocol, spoken directly (no libsystemd).
//!
//! When a service runs with `Type=notify`, systemd puts the path of a unix datagram
//! socket in `NOTIFY_SOCKET` (a leading `@` names a socket in the abstract namespace)
//! and waits for a datagram holding `READY=1` before it calls the service started.
//! `STATUS=...` sets the line `systemctl status` shows; with `WatchdogSec=` set,
//! systemd also sets `WATCHDOG_USEC` (and `WATCHDOG_PID`) and kills the service when
//! `WATCHDOG=1` does not arrive within that time. See sd_notify(3) and
//! sd_watchdog_enabled(3). Without `NOTIFY_SOCKET` every call here does nothing.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Environment variable naming the notification socket.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";
/// Environment variable holding the watchdog timeout in microseconds.
pub const WATCHDOG_USEC: &str = "WATCHDOG_USEC";
/// Environment variable naming the process the watchdog applies to.
pub const WATCHDOG_PID: &str = "WATCHDOG_PID";

/// Longest wait for room in the manager's socket queue.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// A connection to the service manager's notification socket.
#[derive(Debug)]
pub struct Notifier {
    sock: UnixDatagram,
    /// Non-blocking, for watchdog pings: a ping that finds the queue full is dropped
    /// (the next one comes at half the timeout) rather than stall the daemon.
    ping_sock: UnixDatagram,
    addr: SocketAddr,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// The notifier named by the environment, or `None` when not started by a service
    /// manager that listens (no `NOTIFY_SOCKET`) or when the socket cannot be used
    /// (the reason is logged at warn level).
    pub fn from_env() -> Option<Self> {
        let path = std::env::var_os(NOTIFY_SOCKET)?;
        let watchdog = watchdog_interval(
            std::env::var(WATCHDOG_USEC).ok().as_deref(),
            std::env::var(WATCHDOG_PID).ok().as_deref(),
            std::process::id(),
        );
        match Self::open(&path.to_string_lossy(), watchdog) {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::warn!(%e, "NOTIFY_SOCKET is set but unusable: no readiness notification");
                None
            }
        }
    }

    /// A notifier that sends to `path` (`@name` for the abstract namespace) and pings
    /// the watchdog every `watchdog` when `Some`.
    pub fn open(path: &str, watchdog: Option<Duration>) -> std::io::Result<Self> {
        let addr = match path.strip_prefix('@') {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt as _;
                SocketAddr::from_abstract_name(name.as_bytes())?
            }
            None => SocketAddr::from_pathname(path)?,
        };
        let sock = UnixDatagram::unbound()?;
        // Blocking, as sd_notify(3) sends, but never for long: a manager that does not
        // read its queue (full at net.unix.max_dgram_qlen datagrams) costs at most
        // this per notification, and that notification is lost.
        sock.set_write_timeout(Some(SEND_TIMEOUT))?;
        let ping_sock = UnixDatagram::unbound()?;
        ping_sock.set_nonblocking(true)?;
        Ok(Self {
            sock,
            ping_sock,
            addr,
            watchdog,
        })
    }

    /// Sends one notification (newline-separated `KEY=value` assignments).
    pub fn send(&self, state: &str) {
        if let Err(e) = self.sock.send_to_addr(state.as_bytes(), &self.addr) {
            tracing::debug!(%e, state, "service notification not sent");
        }
    }

    /// Tells the service manager that start-up is complete, with a status line.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    /// Updates the status line.
    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={}", one_line(status)));
    }

    /// Tells the service manager that shutdown has begun.
    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    /// Tells the service manager that a configuration reload has begun.
    pub fn reloading(&self) {
        self.send("RELOADING=1");
    }

    /// Pings the watchdog (never waits: see the `ping_sock` field).
    pub fn watchdog_ping(&self) {
        if let Err(e) = self.ping_sock.send_to_addr(b"WATCHDOG=1", &self.addr) {
            tracing::debug!(%e, "watchdog ping not sent");
        }
    }

    /// How often [`Notifier::watchdog_ping`] must be called (half the manager's
    /// timeout), or `None` when no watchdog is set for this process.
    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog
    }
}

/// Half the watchdog timeout of `WATCHDOG_USEC`, when it applies to process `pid`
/// (`WATCHDOG_PID` absent or equal to it), as sd_watchdog_enabled(3) decides.
pub fn watchdog_interval(usec: Option<&str>, wpid: Option<&str>, pid: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|&u| u > 0)?;
    if let Some(w) = wpid {
        if w.trim().parse::<u32>().ok() != Some(pid) {
            return None;
        }
    }
    Some(Duration::from_micros(usec / 2))
}

/// A status text without the newlines that would start another assignment.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_reaches_a_fake_manager_socket() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("notify");
        let manager = UnixDatagram::bind(&path)?;
        manager.set_read_timeout(Some(Duration::from_secs(5)))?;
        let n = Notifier::open(path.to_str().unwrap_or_default(), None)?;
        n.ready("listening on 1.2.3.4:5351\n(nat-pmp)");
        let mut buf = [0u8; 256];
        let got = manager.recv(&mut buf)?;
        assert_eq!(
            std::str::from_utf8(&buf[..got]).unwrap_or_default(),
            "READY=1\nSTATUS=listening on 1.2.3.4:5351 (nat-pmp)"
        );
        n.watchdog_ping();
        let got = manager.recv(&mut buf)?;
        assert_eq!(&buf[..got], b"WATCHDOG=1");
        Ok(())
    }

    #[test]
    fn abstract_socket_names_work() -> std::io::Result<()> {
        use std::os::linux::net::SocketAddrExt as _;
        let name = format!("portgate-notify-test-{}", std::process::id());
        let manager = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes())?)?;
        manager.set_read_timeout(Some(Duration::from_secs(5)))?;
        Notifier::open(&format!("@{name}"), None)?.stopping();
        let mut buf = [0u8; 64];
        let got = manager.recv(&mut buf)?;
        assert_eq!(&buf[..got], b"STOPPING=1");
        Ok(())
    }

    #[test]
    fn watchdog_interval_follows_sd_watchdog_enabled() {
        assert_eq!(
            watchdog_interval(Some("30000000"), None, 7),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            watchdog_interval(Some("30000000"), Some("7"), 7),
            Some(Duration::from_secs(15))
        );
        assert_eq!(watchdog_interval(Some("30000000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval(Some("x"), None, 7), None);
        assert_eq!(watchdog_interval(None, None, 7), None);
    }
}
