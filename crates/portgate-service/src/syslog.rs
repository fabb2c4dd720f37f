//! Log lines to the local syslog daemon through `/dev/log`.
//!
//! Each line is one datagram framed as RFC 3164 section 4.1 describes it for a local
//! relay: `<PRI>Mmm dd hh:mm:ss IDENT[PID]: message`, PRI being facility * 8 +
//! severity (RFC 5424 section 6.2.1; facility 3 is "system daemons"). rsyslog,
//! syslog-ng, busybox syslogd and journald's `/dev/log` all read this framing, and it
//! is what glibc's syslog(3) sends, so `journalctl -t portgated` and
//! `/var/log/syslog` show the lines as they show miniupnpd's.
//!
//! When the socket is missing or full a line is dropped (a daemon must not stop or
//! block because nobody reads its log); the next line tries again, reconnecting if
//! the syslog daemon was restarted.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::Level;
use tracing_subscriber::fmt::MakeWriter;

/// The local syslog socket.
pub const DEV_LOG: &str = "/dev/log";
/// Facility "system daemons" (RFC 5424 section 6.2.1).
pub const FACILITY_DAEMON: u8 = 3;
/// Longest message sent, bytes (longer ones are cut; glibc's syslog(3) sends any size,
/// but a datagram socket refuses what exceeds its buffer).
pub const MAX_LINE: usize = 4096;

/// Where log lines go: a datagram socket speaking RFC 3164 framing.
#[derive(Debug, Clone)]
pub struct Syslog {
    inner: Arc<Mutex<Conn>>,
    ident: Arc<str>,
}

#[derive(Debug)]
struct Conn {
    path: PathBuf,
    sock: Option<UnixDatagram>,
}

impl Conn {
    fn connect(&mut self) {
        if self.sock.is_none() {
            self.sock = UnixDatagram::unbound()
                .and_then(|s| {
                    s.set_nonblocking(true)?;
                    s.connect(&self.path)?;
                    Ok(s)
                })
                .ok();
        }
    }

    fn send(&mut self, line: &[u8]) {
        for _ in 0..2 {
            self.connect();
            let Some(s) = &self.sock else { return };
            match s.send(line) {
                Ok(_) => return,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // The syslog daemon was restarted: connect again once.
                Err(_) => self.sock = None,
            }
        }
    }
}

impl Syslog {
    /// Lines to `path` (normally [`DEV_LOG`]) tagged `ident`. The socket is connected
    /// now when it exists, so that the descriptor survives a later chroot or
    /// privilege drop; a missing socket is retried at every line.
    pub fn new(path: impl AsRef<Path>, ident: &str) -> Self {
        let mut conn = Conn {
            path: path.as_ref().to_path_buf(),
            sock: None,
        };
        conn.connect();
        Self {
            inner: Arc::new(Mutex::new(conn)),
            ident: ident.into(),
        }
    }

    /// Sends one line at `level`.
    pub fn log(&self, level: Level, message: &str) {
        let line = frame(
            FACILITY_DAEMON,
            severity(level),
            unix_now(),
            &self.ident,
            std::process::id(),
            message,
        );
        if let Ok(mut c) = self.inner.lock() {
            c.send(line.as_bytes());
        }
    }
}

/// The syslog severity of a tracing level (RFC 5424 section 6.2.1): error 3, warn 4,
/// info 6, debug and trace 7.
pub fn severity(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One RFC 3164 line: `<PRI>Mmm dd hh:mm:ss ident[pid]: message` (UTC timestamp; the
/// message's trailing newline removed, other control characters kept out, at most
/// [`MAX_LINE`] bytes).
pub fn frame(
    facility: u8,
    severity: u8,
    unix: u64,
    ident: &str,
    pid: u32,
    message: &str,
) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix / 86_400;
    let secs = unix % 86_400;
    let (_, month, day) = civil_from_days(days);
    let month = MONTHS
        .get(usize::from(month.saturating_sub(1)))
        .copied()
        .unwrap_or("Jan");
    let mut out = format!(
        "<{}>{month} {day:>2} {:02}:{:02}:{:02} {ident}[{pid}]: ",
        u16::from(facility) * 8 + u16::from(severity),
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
    );
    for c in message.trim_end_matches(['\n', '\r']).chars() {
        if out.len() + c.len_utf8() > MAX_LINE {
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

/// (year, month 1-12, day 1-31) of a count of days since 1970-01-01 (H. Hinnant's
/// civil_from_days algorithm).
fn civil_from_days(days: u64) -> (u64, u8, u8) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (
        year,
        u8::try_from(month).unwrap_or(1),
        u8::try_from(day).unwrap_or(1),
    )
}

/// A tracing-subscriber writer: each formatted event becomes one syslog line at the
/// event's level.
#[derive(Debug)]
pub struct SyslogLine {
    syslog: Syslog,
    level: Level,
    buf: Vec<u8>,
}

impl io::Write for SyslogLine {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for SyslogLine {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            self.syslog
                .log(self.level, &String::from_utf8_lossy(&self.buf));
        }
    }
}

impl<'a> MakeWriter<'a> for Syslog {
    type Writer = SyslogLine;
    fn make_writer(&'a self) -> SyslogLine {
        self.make_line(Level::INFO)
    }
    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> SyslogLine {
        self.make_line(*meta.level())
    }
}

impl Syslog {
    fn make_line(&self, level: Level) -> SyslogLine {
        SyslogLine {
            syslog: self.clone(),
            level,
            buf: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn frame_is_rfc3164() {
        // 1 700 000 000 is 2023-11-14 22:13:20 UTC.
        let t = 1_700_000_000;
        assert_eq!(civil_from_days(t / 86_400), (2023, 11, 14));
        assert_eq!(
            frame(3, 6, t, "portgated", 42, "listening on x\n"),
            "<30>Nov 14 22:13:20 portgated[42]: listening on x"
        );
        assert!(frame(3, 6, 0, "i", 1, "").starts_with("<30>Jan  1 00:00:00 "));
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert!(frame(3, 3, 0, "i", 1, "a\tb").ends_with("i[1]: a b"));
        assert_eq!(frame(3, 7, 0, "i", 1, &"x".repeat(10_000)).len(), MAX_LINE);
    }

    #[test]
    fn levels_map_to_severities() {
        assert_eq!(severity(Level::ERROR), 3);
        assert_eq!(severity(Level::WARN), 4);
        assert_eq!(severity(Level::INFO), 6);
        assert_eq!(severity(Level::DEBUG), 7);
    }

    #[test]
    fn lines_reach_a_fake_dev_log() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("log");
        let server = UnixDatagram::bind(&path)?;
        server.set_read_timeout(Some(Duration::from_secs(5)))?;
        let log = Syslog::new(&path, "portgated");
        log.log(Level::WARN, "disk on fire");
        let mut buf = [0u8; 512];
        let n = server.recv(&mut buf)?;
        let line = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(line.starts_with("<28>"), "{line}");
        assert!(
            line.ends_with(&format!(" portgated[{}]: disk on fire", std::process::id())),
            "{line}"
        );
        // The syslog daemon restarts: the next line reconnects.
        drop(server);
        std::fs::remove_file(&path)?;
        let server = UnixDatagram::bind(&path)?;
        server.set_read_timeout(Some(Duration::from_secs(5)))?;
        log.log(Level::ERROR, "again");
        let n = server.recv(&mut buf)?;
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("<27>"));
        Ok(())
    }

    #[test]
    fn a_missing_socket_drops_lines_without_error() {
        let log = Syslog::new("/nonexistent/portgate-test/log", "x");
        log.log(Level::INFO, "nobody listens");
    }
}
