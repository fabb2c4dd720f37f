//! Deciding whether lab tests can run here, and failing loudly in CI when they cannot.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::netns;

/// Whether the environment says we run in CI (`CI` set to anything but empty, `0`, `false`).
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false"))
        .unwrap_or(false)
}

fn tool_works(prog: &str, arg: &str) -> Result<(), String> {
    match Command::new(prog)
        .arg(arg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("`{prog} {arg}` exited with {s}")),
        Err(e) => Err(format!(
            "`{prog}` not runnable ({e}); run scripts/install-deps.sh"
        )),
    }
}

/// Why a lab cannot run here, if it cannot: not root, `ip` or `nft` missing, or a probe
/// namespace cannot be created.
pub fn unavailable_reason() -> Option<String> {
    static REASON: OnceLock<Option<String>> = OnceLock::new();
    REASON
        .get_or_init(|| {
            if !rustix::process::geteuid().is_root() {
                return Some("not running as root".into());
            }
            if let Err(e) = tool_works("ip", "-V").and_then(|()| tool_works("nft", "--version")) {
                return Some(e);
            }
            let probe = format!("{}{}nchk", netns::NETNS_PREFIX, std::process::id());
            let made = netns::ip(&["netns", "add", &probe]);
            netns::kill_and_delete(&probe);
            made.err()
                .map(|e| format!("cannot create a network namespace: {e}"))
        })
        .clone()
}

/// Entry point of every lab test: `true` when a lab can be built.
///
/// When it cannot: in CI (env `CI=true`) this panics with the reason — lab tests are never
/// skipped silently there; elsewhere it prints a loud `SKIPPED: needs root ...` line and
/// returns `false` so the test can return early.
pub fn require() -> bool {
    let Some(reason) = unavailable_reason() else {
        return true;
    };
    if in_ci() {
        panic!(
            "network-namespace lab tests need root, iproute2 and nftables ({reason}); \
             CI=true makes this a failure, not a skip"
        );
    }
    // Written to the real stderr, past libtest's output capture, so the skip is visible.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: needs root and network namespaces ({reason}); run as root (scripts/test.sh)"
    );
    false
}
