//! portgated as a service (see `portgate_daemon::service`): without `-d` it forks into
//! the background, the process that stays holds the pid file's lock (a second instance
//! is refused on the terminal) and writes its pid into it, logs to syslog and tells
//! the service manager it is ready over `NOTIFY_SOCKET`, pings the watchdog and says
//! it is stopping on SIGTERM. The syslog socket and the notification socket are fake
//! ones in a temporary directory (`PORTGATE_SYSLOG_SOCKET` names the first).

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

use portgate_lab::{Host, Lab};

const START: Duration = Duration::from_secs(20);

/// Kills the background daemon if the test ends before it did.
struct Reaper(Option<u32>);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        }
    }
}

/// Datagrams read from `sock` until one contains `want` (all of them returned).
fn recv_until(sock: &UnixDatagram, want: &str, timeout: Duration) -> anyhow::Result<Vec<String>> {
    let end = Instant::now() + timeout;
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 8192];
    while Instant::now() < end {
        sock.set_read_timeout(Some(
            end.saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        ))?;
        let Ok(n) = sock.recv(&mut buf) else { break };
        let s = String::from_utf8_lossy(&buf[..n]).into_owned();
        let found = s.contains(want);
        seen.push(s);
        if found {
            return Ok(seen);
        }
    }
    anyhow::bail!("no datagram with {want:?} within {timeout:?}; got {seen:#?}")
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

/// A lab with one LAN host and a configuration for its gateway in a temporary
/// directory (no control socket: tests run in parallel).
fn lab_and_config() -> anyhow::Result<(Lab, tempfile::TempDir, std::path::PathBuf)> {
    let lab = Lab::builder().lan_hosts(1).build()?;
    let dir = tempfile::tempdir()?;
    let gw = lab.gateway();
    let conf = dir.path().join("miniupnpd.conf");
    std::fs::write(
        &conf,
        format!(
            "ext_ifname={}\nlistening_ip={}/{}\next_allow_private_ipv4=yes\nenable_natpmp=yes\n\
             control_socket=none\n",
            gw.wan.name, gw.lan.ipv4, gw.lan.ipv4_prefix
        ),
    )?;
    Ok((lab, dir, conf))
}

#[test]
fn forks_logs_to_syslog_and_notifies_readiness() -> anyhow::Result<()> {
    if !portgate_lab::require() {
        return Ok(());
    }
    let (lab, dir, conf) = lab_and_config()?;
    let syslog_path = dir.path().join("log");
    let notify_path = dir.path().join("notify");
    let pidfile = dir.path().join("portgated.pid");
    let syslog = UnixDatagram::bind(&syslog_path)?;
    let notify = UnixDatagram::bind(&notify_path)?;
    let bin = env!("CARGO_BIN_EXE_portgated");
    let launcher = lab.spawn(
        Host::Gateway,
        &[
            "env".to_owned(),
            format!("PORTGATE_SYSLOG_SOCKET={}", syslog_path.display()),
            format!("NOTIFY_SOCKET={}", notify_path.display()),
            "WATCHDOG_USEC=400000".to_owned(),
            bin.to_owned(),
            "-f".to_owned(),
            conf.display().to_string(),
            "-P".to_owned(),
            pidfile.display().to_string(),
        ],
    )?;
    // The process started returns at once: the daemon is its forked child.
    let status = launcher.wait_exit(START)?;
    assert!(status.success(), "{status}: {}", launcher.output());

    let lines = recv_until(&syslog, "listening on", START)?;
    let listening = lines.last().cloned().unwrap_or_default();
    // RFC 3164 framing, facility daemon (3), severity info (6): <30>.
    assert!(listening.starts_with("<30>"), "{listening}");
    assert!(listening.contains(" portgated["), "{listening}");
    assert!(
        launcher.output().trim().is_empty(),
        "nothing on the terminal: {}",
        launcher.output()
    );

    let ready = recv_until(&notify, "READY=1", START)?;
    let ready = ready.last().cloned().unwrap_or_default();
    assert!(ready.contains("STATUS=listening on"), "{ready}");
    recv_until(&notify, "WATCHDOG=1", Duration::from_secs(2))?;

    let pid: u32 = std::fs::read_to_string(&pidfile)?.trim().parse()?;
    let _reaper = Reaper(Some(pid));
    assert_ne!(
        pid,
        launcher.pid(),
        "the pid file names the process that stayed"
    );
    assert!(
        listening.contains(&format!("portgated[{pid}]:")),
        "{listening}"
    );
    assert!(alive(pid));

    // The lock taken before the fork stays with the background daemon: a second
    // instance is refused on the terminal (exit code 3), as miniupnpd's check is.
    let second = lab.spawn(
        Host::Gateway,
        &[
            bin.to_owned(),
            "-f".to_owned(),
            conf.display().to_string(),
            "-P".to_owned(),
            pidfile.display().to_string(),
        ],
    )?;
    let status = second.wait_exit(START)?;
    assert_eq!(status.code(), Some(3), "{}", second.output());
    assert!(
        second
            .output()
            .contains(&format!("already running (pid {pid})")),
        "{}",
        second.output()
    );
    assert!(alive(pid));

    lab.exec(Host::Gateway, &["kill", "-TERM", &pid.to_string()])?;
    recv_until(&syslog, "shutting down", START)?;
    // Meanwhile the watchdog pings filled the queue: STOPPING=1 waits for room.
    recv_until(&notify, "STOPPING=1", START)?;
    let end = Instant::now() + START;
    while alive(pid) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(pid), "portgated {pid} exited on SIGTERM");
    assert!(!pidfile.exists(), "pid file removed at shutdown");
    Ok(())
}

#[test]
fn foreground_flag_keeps_stderr_and_does_not_fork() -> anyhow::Result<()> {
    if !portgate_lab::require() {
        return Ok(());
    }
    let (lab, dir, conf) = lab_and_config()?;
    let notify_path = dir.path().join("notify");
    let notify = UnixDatagram::bind(&notify_path)?;
    let bin = env!("CARGO_BIN_EXE_portgated");
    let daemon = lab.spawn_daemon(
        Host::Gateway,
        &[
            "env".to_owned(),
            format!("NOTIFY_SOCKET={}", notify_path.display()),
            bin.to_owned(),
            "--foreground".to_owned(),
            "-f".to_owned(),
            conf.display().to_string(),
        ],
        "listening on",
        START,
    )?;
    recv_until(&notify, "READY=1", START)?;
    assert!(
        daemon.try_status().is_none(),
        "still running in the foreground"
    );
    Ok(())
}
