//! Network-namespace helpers for the kernel tests (root needed).
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A network namespace deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new() -> Netns {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("pgnft-{}-{n}", std::process::id());
        run("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Runs a command in the namespace, panicking on failure.
    pub fn exec(&self, cmd: &[&str]) -> String {
        let out = self.try_exec(cmd);
        assert!(
            out.status.success(),
            "{cmd:?} in {} failed: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn try_exec(&self, cmd: &[&str]) -> Output {
        let mut args = vec!["netns", "exec", &self.name];
        args.extend_from_slice(cmd);
        Command::new("ip")
            .args(&args)
            .output()
            .expect("run ip netns exec")
    }

    pub fn spawn(&self, cmd: &[&str]) -> Child {
        let mut args = vec!["netns", "exec", &self.name];
        args.extend_from_slice(cmd);
        Command::new("ip")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn")
    }

    /// `nft -j list table inet NAME` parsed, or None when the table does not exist.
    pub fn nft_json(&self, table: &str) -> Option<serde_json::Value> {
        let out = self.try_exec(&["nft", "-j", "list", "table", "inet", table]);
        if !out.status.success() {
            return None;
        }
        Some(serde_json::from_slice(&out.stdout).expect("nft json"))
    }

    /// Waits until a TCP listener on `port` exists in the namespace.
    pub fn wait_listening(&self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let needle = format!(":{port} ");
        while Instant::now() < deadline {
            if self.exec(&["ss", "-Hltn"]).contains(&needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("no listener on {port} in {}", self.name);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

pub fn run(cmd: &str, args: &[&str]) {
    let st = Command::new(cmd).args(args).status().expect("run");
    assert!(st.success(), "{cmd} {args:?} failed");
}

/// Waits for a child with a deadline; kills it when the deadline passes.
pub fn wait_output(mut child: Child, timeout: Duration) -> (bool, String) {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(_st) = child.try_wait().expect("try_wait") {
            let out = child.wait_with_output().expect("output");
            return (true, String::from_utf8_lossy(&out.stdout).into_owned());
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            return (false, String::from_utf8_lossy(&out.stdout).into_owned());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
