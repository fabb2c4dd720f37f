//! portgate-ssdpd as a service: without `-d` it forks into the background, the process
//! that stays writes the pid file, logs to syslog, tells the service manager it is
//! ready over `NOTIFY_SOCKET`, runs with no capability left, and says it is stopping
//! on SIGTERM. Fake syslog and notification sockets live in a temporary directory.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

use portgate_lab::{Host, Lab};

const READY: Duration = Duration::from_secs(10);

/// Kills the background daemon if the test ends before it did.
struct Reaper(u32);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-9", &self.0.to_string()])
            .status();
    }
}

fn recv_until(sock: &UnixDatagram, want: &str) -> String {
    let end = Instant::now() + READY;
    let mut buf = vec![0u8; 8192];
    let mut seen = Vec::new();
    while Instant::now() < end {
        sock.set_read_timeout(Some(
            end.saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        ))
        .unwrap();
        let Ok(n) = sock.recv(&mut buf) else { break };
        let s = String::from_utf8_lossy(&buf[..n]).into_owned();
        if s.contains(want) {
            return s;
        }
        seen.push(s);
    }
    panic!("no datagram with {want:?}; got {seen:#?}");
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

#[test]
fn forks_drops_capabilities_logs_to_syslog_and_notifies() {
    if !portgate_lab::require() {
        return;
    }
    let lab = Lab::builder().lan_hosts(1).build().unwrap();
    let dir = tempfile_dir();
    let syslog_path = dir.join("log");
    let notify_path = dir.join("notify");
    let pidfile = dir.join("ssdpd.pid");
    let sock = dir.join("ssdpd.sock");
    let syslog = UnixDatagram::bind(&syslog_path).unwrap();
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    let bin = env!("CARGO_BIN_EXE_portgate-ssdpd");
    let launcher = lab
        .spawn(
            Host::Lan(0),
            &[
                "env".to_owned(),
                format!("PORTGATE_SYSLOG_SOCKET={}", syslog_path.display()),
                format!("NOTIFY_SOCKET={}", notify_path.display()),
                bin.to_owned(),
                "-i".to_owned(),
                "eth0".to_owned(),
                "-s".to_owned(),
                sock.display().to_string(),
                "-p".to_owned(),
                pidfile.display().to_string(),
            ],
        )
        .unwrap();
    let status = launcher.wait_exit(READY).unwrap();
    assert!(status.success(), "{status}: {}", launcher.output());

    let line = recv_until(&syslog, "listening on");
    assert!(line.starts_with("<30>"), "{line}");
    let ready = recv_until(&notify, "READY=1");
    assert!(ready.contains("STATUS=listening on"), "{ready}");
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _reaper = Reaper(pid);
    assert_ne!(pid, launcher.pid());
    assert!(line.contains(&format!("portgate-ssdpd[{pid}]:")), "{line}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    for field in ["CapEff:", "CapPrm:", "CapBnd:"] {
        let value = status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .unwrap_or_default()
            .trim();
        assert_eq!(value, "0000000000000000", "{field} of portgate-ssdpd");
    }
    assert!(status.lines().any(|l| l.starts_with("NoNewPrivs:\t1")));
    assert!(sock.exists(), "the socket still works without capabilities");

    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    recv_until(&notify, "STOPPING=1");
    let end = Instant::now() + READY;
    while alive(pid) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(pid));
    assert!(!Path::new(&sock).exists(), "socket removed at exit");
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pg-ssdpd-service-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
