//! Namespace naming, entering a namespace from a thread, and cleaning leftovers.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use rustix::process::{kill_process, Pid, Signal};
use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};

use crate::error::{LabError, Result};

/// Prefix of every namespace a lab creates. Names look like `pg<pid>n<counter><role>`, so the
/// owner process is known from the name alone and leftovers of dead runs can be cleaned.
pub const NETNS_PREFIX: &str = "pg";

/// Where `ip netns` keeps its named namespaces (bind mounts of `/proc/<pid>/ns/net`).
pub const NETNS_DIR: &str = "/run/netns";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh lab id, unique within this machine while this process lives: `pg<pid>n<counter>`.
pub(crate) fn next_lab_id() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{NETNS_PREFIX}{}n{n}", std::process::id())
}

/// The pid encoded in a lab namespace name, or `None` for names that are not ours.
pub(crate) fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(NETNS_PREFIX)?;
    let digits_end = rest.find(|c: char| !c.is_ascii_digit())?;
    let (digits, tail) = rest.split_at(digits_end);
    if digits.is_empty() || !tail.starts_with('n') {
        return None;
    }
    digits.parse().ok()
}

/// Whether a process with this pid exists.
pub(crate) fn pid_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Path of a named namespace's bind mount.
pub(crate) fn netns_path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

/// Move the calling thread into the named network namespace. Only ever call this on a thread
/// the lab spawned for the purpose: the thread stays in that namespace until it ends.
pub(crate) fn enter_netns(name: &str) -> Result<()> {
    let path = netns_path(name);
    let file =
        File::open(&path).map_err(|e| LabError::io(format!("open {}", path.display()), e))?;
    move_into_link_name_space(file.as_fd(), Some(LinkNameSpaceType::Network))
        .map_err(|e| LabError::io(format!("setns into {name}"), e.into()))
}

/// Run an `ip` command in the root namespace, returning an error with its output on failure.
pub(crate) fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LabError::io("run `ip` (package iproute2)", e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(LabError::CommandFailed {
            netns: "root namespace".into(),
            command: format!("ip {}", args.join(" ")),
            status: out.status.to_string(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// SIGKILL every process living in the namespace (except ourselves), then delete its name.
/// Errors are ignored: this runs from Drop and from leftover cleaning.
pub(crate) fn kill_and_delete(name: &str) {
    if let Ok(out) = Command::new("ip")
        .args(["netns", "pids", name])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    {
        let me = std::process::id();
        for pid in String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            if pid as u32 != me {
                if let Some(pid) = Pid::from_raw(pid) {
                    let _ = kill_process(pid, Signal::KILL);
                }
            }
        }
    }
    let _ = Command::new("ip")
        .args(["netns", "del", name])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Names of lab namespaces whose owner process is gone.
pub(crate) fn leftovers() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    dir.filter_map(|entry| entry.ok())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| owner_pid(name).is_some_and(|pid| !pid_alive(pid)))
        .collect()
}

/// Delete leftovers of earlier runs (namespaces whose owner pid is dead); returns their names.
pub fn clean_leftovers() -> Vec<String> {
    let names = leftovers();
    for name in &names {
        kill_and_delete(name);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_parses_only_lab_names() {
        assert_eq!(owner_pid("pg1234n0gw"), Some(1234));
        assert_eq!(owner_pid("pg1n17l3"), Some(1));
        assert_eq!(owner_pid("pg1234x0gw"), None);
        assert_eq!(owner_pid("pgn0gw"), None);
        assert_eq!(owner_pid("pg1234"), None);
        assert_eq!(owner_pid("postgres"), None);
        assert_eq!(owner_pid("other"), None);
    }

    #[test]
    fn lab_ids_are_unique_and_carry_our_pid() {
        let a = next_lab_id();
        let b = next_lab_id();
        assert_ne!(a, b);
        assert_eq!(owner_pid(&format!("{a}gw")), Some(std::process::id()));
    }
}
