//! Forking into the background, as miniupnpd and MiniSSDPd do unless `-d`.
//!
//! daemon(3): the process forks, the parent exits 0, the child starts a new session
//! (no controlling terminal), changes to `/` and points stdin, stdout and stderr at
//! `/dev/null`. It must run while the process has one thread (before any runtime or
//! helper thread starts). A pid file is written after it, by the child, so that it
//! holds the pid that stays.

use std::path::{Path, PathBuf};

/// Forks into the background (see the module documentation). Only the child returns.
pub fn daemonize() -> std::io::Result<()> {
    nix::unistd::daemon(false, false).map_err(std::io::Error::from)
}

/// `path` made absolute against the current directory, so that it still names the same
/// file after [`daemonize`] changed to `/` (a configuration file reread on SIGHUP).
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
