//! End-to-end: the wall clock steps while mappings are held (a router without a
//! real-time clock syncing NTP, or an admin fixing the date). portgated runs under
//! libfaketime (Debian's `faketime` package) with a wall-clock offset read from a file
//! the test rewrites, the monotonic clock left real: a step of +1 year must not expire
//! every mapping, a step of -1 year must not keep one past its lease, and the lease
//! file must follow the new wall clock.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use portgate_lab::{Host, Signal};

const PROBE: Duration = Duration::from_secs(2);
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
const YEAR: u64 = 365 * 24 * 3600;

fn real_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The expiry written in the lease file for TCP `port`.
fn lease_expiry(t: &common::TestGateway, port: u16) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(t.lease_file())?;
    let prefix = format!("TCP:{port}:");
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with(&prefix))
        .ok_or_else(|| anyhow::anyhow!("no lease for {port}:\n{text}"))?;
    Ok(line.split(':').nth(4).unwrap_or("").parse()?)
}

/// Restarts the daemon under libfaketime, its wall clock offset by what `offset_file`
/// says (re-read on every clock read).
fn start_faked(t: &mut common::TestGateway, offset_file: &Path) -> anyhow::Result<()> {
    t.kill()?;
    let bin = env!("CARGO_BIN_EXE_portgated");
    let cfg = t.config_file();
    let preload = format!("LD_PRELOAD={LIBFAKETIME}");
    let file = format!("FAKETIME_TIMESTAMP_FILE={}", offset_file.display());
    let args = [
        "env",
        preload.as_str(),
        file.as_str(),
        "FAKETIME_NO_CACHE=1",
        "FAKETIME_DONT_FAKE_MONOTONIC=1",
        bin,
        "-d",
        "-f",
        cfg.to_str().unwrap_or_default(),
    ];
    let proc = t
        .lab
        .spawn_daemon(Host::Gateway, &args, "listening on", common::START_TIMEOUT)?;
    t.daemon = Some(proc);
    Ok(())
}

/// Steps the daemon's wall clock to `offset` and has it run its loop once (SIGUSR1:
/// an external-address check, after which expiry runs).
fn step(t: &common::TestGateway, offset_file: &Path, offset: &str) -> anyhow::Result<()> {
    std::fs::write(offset_file, format!("{offset}\n"))?;
    if let Some(d) = &t.daemon {
        d.signal(Signal::USR1);
    }
    std::thread::sleep(Duration::from_millis(500));
    Ok(())
}

#[test]
fn wall_clock_steps_change_no_lease() -> anyhow::Result<()> {
    anyhow::ensure!(
        Path::new(LIBFAKETIME).exists(),
        "{LIBFAKETIME} missing: scripts/install-deps.sh installs Debian's faketime"
    );
    let Some(mut t) = common::TestGateway::start(1, "enable_natpmp=yes\nmin_lifetime=1\n")? else {
        return Ok(());
    };
    let offset_file = t.dir.path().join("faketime");
    std::fs::write(&offset_file, "+0\n")?;
    start_faked(&mut t, &offset_file)?;
    let ext = |port| SocketAddr::new(t.lab.external_ipv4().into(), port);

    common::natpmpc_map(&t, 7400, 3600)?;
    assert!(t
        .lab
        .tcp_probe(Host::Wan, ext(7400), (Host::Lan(0), 7400), b"before", PROBE)?);
    let before = lease_expiry(&t, 7400)?;
    assert!(before.abs_diff(real_now() + 3600) <= 5, "{before}");

    // One year forward: nothing expires, and the next lease written carries the
    // new wall time.
    step(&t, &offset_file, "+365d")?;
    assert!(
        t.lab
            .tcp_probe(Host::Wan, ext(7400), (Host::Lan(0), 7400), b"+1y", PROBE)?,
        "a forward step expired the mapping:\n{}",
        t.daemon.as_ref().map(|d| d.output()).unwrap_or_default()
    );
    common::natpmpc_map(&t, 7401, 3600)?;
    let after = lease_expiry(&t, 7401)?;
    assert!(
        after.abs_diff(real_now() + YEAR + 3600) <= 5,
        "lease file after +1y: {after}"
    );

    // One year back: a short lease still ends on time.
    step(&t, &offset_file, "-365d")?;
    let daemon = t
        .daemon
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("daemon not running"))?;
    let mark = daemon.line_count();
    common::natpmpc_map(&t, 7402, 3)?;
    let mapped = Instant::now();
    assert!(t
        .lab
        .tcp_probe(Host::Wan, ext(7402), (Host::Lan(0), 7402), b"short", PROBE)?);
    // The daemon's own expiry (its log), not a year later.
    let gone = daemon.wait_for_after(mark, "expired", Duration::from_secs(10));
    assert!(gone.is_ok(), "no expiry for 7402 within 10 s after -1y");
    eprintln!("7402 expired {:?} after it was mapped", mapped.elapsed());
    assert!(t
        .lab
        .tcp_probe(Host::Wan, ext(7400), (Host::Lan(0), 7400), b"-1y", PROBE)?);
    let back = lease_expiry(&t, 7402)?;
    assert!(
        back.abs_diff((real_now() - YEAR) + 3) <= 10,
        "lease file after -1y: {back}"
    );
    Ok(())
}
