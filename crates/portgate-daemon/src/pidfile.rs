//! The pid file, locked for the daemon's whole life: one instance per network namespace.
//!
//! Two instances in one network namespace fight over the same nftables table: after a
//! quick restart the old one, exiting, deleted the table the new one had just
//! installed. So the daemon takes an exclusive `flock(2)` on its pid file before it
//! touches anything: a second instance waits up to [`LOCK_WAIT`] (an exiting one gets
//! to finish its clean-up), then refuses to start with "already running (pid N)" and
//! exit code [`EXIT_ALREADY_RUNNING`], as miniupnpd refuses with "MiniUPnPd is already
//! running". The kernel drops the lock when the process dies, even by `kill -9`, so a
//! stale pid file never blocks a start.
//!
//! The path is `-P`'s; as root without `-P` it is [`DEFAULT_PIDFILE`], or
//! `/run/portgated-NAME.pid` inside a network namespace that `ip netns` named NAME (each
//! network namespace has its own nftables, so instances in different ones do not
//! conflict). Without root and without `-P` there is no pid file and no lock.
//!
//! At exit the daemon removes its nftables table only while the pid file at the path is
//! still the one it locked ([`PidLock::still_ours`]): when the file was removed or
//! replaced, another instance may run with the table, which is left alone.

use std::fs::File;
use std::io::{Read as _, Seek as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The pid file of an instance run as root in the initial network namespace.
pub const DEFAULT_PIDFILE: &str = "/run/portgated.pid";

/// Where `ip netns` keeps its named network namespaces.
const NETNS_DIR: &str = "/run/netns";

/// How long a starting instance waits for a running one to exit.
pub const LOCK_WAIT: Duration = Duration::from_secs(5);

/// Exit code of an instance refused because another one runs.
pub const EXIT_ALREADY_RUNNING: u8 = 3;

/// Why the pid file could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum PidFileError {
    /// Another instance holds the lock.
    #[error("already running (pid {}): {path} is locked", pid.map_or_else(|| "unknown".to_owned(), |p| p.to_string()))]
    Running {
        /// The pid the file names, if readable.
        pid: Option<u32>,
        /// The pid file.
        path: String,
    },
    /// The file could not be opened, locked or written.
    #[error("pid file {path}: {source}")]
    Io {
        /// The pid file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The default pid file path (see the module docs); `None` when not root.
pub fn default_path() -> Option<PathBuf> {
    if !rustix::process::geteuid().is_root() {
        return None;
    }
    Some(match netns_name() {
        Some(name) => PathBuf::from(format!("/run/portgated-{name}.pid")),
        None => PathBuf::from(DEFAULT_PIDFILE),
    })
}

/// The name `ip netns` gave the network namespace we run in, if any (`ip netns
/// identify`: the entry of /run/netns that is the same namespace file).
fn netns_name() -> Option<String> {
    let ours = std::fs::metadata("/proc/self/ns/net").ok()?;
    std::fs::read_dir(NETNS_DIR)
        .ok()?
        .flatten()
        .filter(|e| {
            std::fs::metadata(e.path())
                .is_ok_and(|m| (m.dev(), m.ino()) == (ours.dev(), ours.ino()))
        })
        .filter_map(|e| e.file_name().into_string().ok())
        .find(|n| {
            !n.is_empty()
                && n.len() <= 64
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
}

/// A locked pid file holding our pid; the lock lasts until the value is dropped (or the
/// process ends).
#[derive(Debug)]
pub struct PidLock {
    file: File,
    path: PathBuf,
}

impl PidLock {
    /// Locks `path` (created if needed) and writes our pid into it, waiting up to
    /// `wait` for another instance to let go.
    pub fn acquire(path: &Path, wait: Duration) -> Result<PidLock, PidFileError> {
        let io = |source| PidFileError::Io {
            path: path.display().to_string(),
            source,
        };
        let deadline = Instant::now() + wait;
        loop {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .open(path)
                .map_err(io)?;
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {}
                Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                    if Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    }
                    let mut text = String::new();
                    let _ = file.take(32).read_to_string(&mut text);
                    return Err(PidFileError::Running {
                        pid: text.trim().parse().ok(),
                        path: path.display().to_string(),
                    });
                }
                Err(e) => return Err(io(e.into())),
            }
            let lock = PidLock {
                file,
                path: path.to_owned(),
            };
            // The instance we waited for removed the file before letting go: our lock
            // is on a file nobody else can find. Start over on the path's new file.
            if !lock.still_ours() {
                continue;
            }
            lock.write_own_pid()?;
            return Ok(lock);
        }
    }

    /// Writes the calling process's pid into the locked file: after a fork the child,
    /// which holds the lock too (it shares the open file), names itself.
    pub fn write_own_pid(&self) -> Result<(), PidFileError> {
        let io = |source| PidFileError::Io {
            path: self.path.display().to_string(),
            source,
        };
        let mut file = &self.file;
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)
    }

    /// The pid file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the path still names the file we locked (not removed or replaced).
    pub fn still_ours(&self) -> bool {
        match (std::fs::metadata(&self.path), self.file.metadata()) {
            (Ok(at_path), Ok(locked)) => {
                (at_path.dev(), at_path.ino()) == (locked.dev(), locked.ino())
            }
            _ => false,
        }
    }

    /// Removes the pid file if it is still ours, then lets go of the lock.
    pub fn release(self) {
        if self.still_ours() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_with_the_first_pid_until_released() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.pid");
        let first = PidLock::acquire(&path, Duration::ZERO).expect("first");
        let text = std::fs::read_to_string(&path).expect("pid file");
        assert_eq!(text, format!("{}\n", std::process::id()));
        // flock locks belong to the open file description: a second open in the same
        // process conflicts like another process would.
        match PidLock::acquire(&path, Duration::from_millis(200)) {
            Err(PidFileError::Running { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("{other:?}"),
        }
        let msg = PidLock::acquire(&path, Duration::ZERO)
            .expect_err("locked")
            .to_string();
        assert!(
            msg.starts_with(&format!("already running (pid {})", std::process::id())),
            "{msg}"
        );
        assert!(first.still_ours());
        first.release();
        assert!(!path.exists(), "released pid file removed");
        let again = PidLock::acquire(&path, Duration::ZERO).expect("after release");
        assert!(again.still_ours());
    }

    #[test]
    fn a_replaced_pid_file_is_no_longer_ours_and_is_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.pid");
        let old = PidLock::acquire(&path, Duration::ZERO).expect("old");
        std::fs::remove_file(&path).expect("remove");
        let new = PidLock::acquire(&path, Duration::ZERO).expect("new file, new lock");
        assert!(!old.still_ours() && new.still_ours());
        old.release();
        assert!(path.exists(), "the new instance's pid file stays");
        assert!(new.still_ours());
    }

    #[test]
    fn a_waiting_instance_gets_the_lock_when_the_holder_exits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.pid");
        let holder = PidLock::acquire(&path, Duration::ZERO).expect("holder");
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            holder.release();
        });
        let start = Instant::now();
        let next = PidLock::acquire(&path, Duration::from_secs(5)).expect("after the holder");
        assert!(start.elapsed() >= Duration::from_millis(250));
        assert!(
            next.still_ours(),
            "locked the path's new file, not the removed one"
        );
        t.join().expect("holder thread");
    }
}
