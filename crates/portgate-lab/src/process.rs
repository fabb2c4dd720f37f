//! Processes run inside lab namespaces: one-shot commands and background guards.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{kill_process_group, Pid, Signal};

use crate::error::{LabError, Result};

/// Process-group ids of background processes still alive, shared by a lab and its guards.
pub(crate) type Registry = Arc<Mutex<Vec<i32>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind: keep going.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Send `sig` to the process group `pgid`, ignoring "no such process".
pub(crate) fn signal_group(pgid: i32, sig: Signal) {
    if let Some(pid) = Pid::from_raw(pgid) {
        let _ = kill_process_group(pid, sig);
    }
}

/// `ip netns exec NETNS args...`, in a process group of its own.
fn netns_command<S: AsRef<OsStr>>(netns: &str, args: &[S]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", netns]).args(args);
    cmd.process_group(0);
    cmd
}

pub(crate) fn display_command<S: AsRef<OsStr>>(args: &[S]) -> String {
    args.iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run a command to completion inside `netns`, killing its process group after `timeout`.
pub(crate) fn run<S: AsRef<OsStr>>(
    netns: &str,
    args: &[S],
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<Output> {
    let command = display_command(args);
    let mut cmd = netns_command(netns, args);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| LabError::io(format!("spawn `{command}` in {netns}"), e))?;
    let pgid = child.id() as i32;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let input = input.to_vec();
        thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    let readers = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .map(|pipe| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        })
    });
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = match rx.recv_timeout(timeout) {
        Ok(status) => status.map_err(|e| LabError::io(format!("wait for `{command}`"), e))?,
        Err(_) => {
            signal_group(pgid, Signal::KILL);
            let _ = rx.recv();
            let [out, err] = readers.map(|r| r.join().unwrap_or_default());
            return Err(LabError::Timeout {
                what: format!("`{command}` in {netns} to exit"),
                after: timeout,
                output: format!(
                    "{}{}",
                    String::from_utf8_lossy(&out),
                    String::from_utf8_lossy(&err)
                ),
            });
        }
    };
    // Anything the command left behind in its group goes too.
    signal_group(pgid, Signal::KILL);
    let [stdout, stderr] = readers.map(|r| r.join().unwrap_or_default());
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

#[derive(Default)]
struct LogState {
    lines: Vec<String>,
    open_streams: u8,
    status: Option<ExitStatus>,
}

#[derive(Default)]
struct Log {
    state: Mutex<LogState>,
    changed: Condvar,
}

impl Log {
    fn push(&self, line: String) {
        lock(&self.state).lines.push(line);
        self.changed.notify_all();
    }
}

/// A background process running in a lab namespace.
///
/// Its standard output and standard error are read line by line by threads of their own,
/// kept (see [`Proc::output`]) and, when the lab echoes, printed to stderr prefixed with the
/// host and program name (libtest captures and shows them when a test fails).
///
/// Dropping the guard kills the process's whole process group (SIGKILL) and reaps it.
pub struct Proc {
    pgid: i32,
    command: String,
    log: Arc<Log>,
    registry: Registry,
}

impl std::fmt::Debug for Proc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proc")
            .field("pid", &self.pgid)
            .field("command", &self.command)
            .finish()
    }
}

impl Proc {
    pub(crate) fn spawn<S: AsRef<OsStr>>(
        netns: &str,
        label: &str,
        args: &[S],
        echo: bool,
        registry: &Registry,
    ) -> Result<Proc> {
        let command = display_command(args);
        let mut cmd = netns_command(netns, args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Hold the registry lock across spawn so the lab's teardown sees every group.
        let mut groups = lock(registry);
        let mut child: Child = cmd
            .spawn()
            .map_err(|e| LabError::io(format!("spawn `{command}` in {netns}"), e))?;
        let pgid = child.id() as i32;
        groups.push(pgid);
        drop(groups);

        let log = Arc::new(Log::default());
        let prog = args
            .first()
            .map(|a| {
                let a = a.as_ref().to_string_lossy();
                a.rsplit('/').next().unwrap_or_default().to_owned()
            })
            .unwrap_or_default();
        let prefix = format!("[{label} {prog}]");
        let pipes = [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ];
        for pipe in pipes.into_iter().flatten() {
            lock(&log.state).open_streams += 1;
            let log = Arc::clone(&log);
            let prefix = prefix.clone();
            thread::spawn(move || {
                let mut reader = BufReader::new(pipe);
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    match reader.read_until(b'\n', &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let line = String::from_utf8_lossy(&buf)
                                .trim_end_matches(['\n', '\r'])
                                .to_owned();
                            if echo {
                                eprintln!("{prefix} {line}");
                            }
                            log.push(line);
                        }
                    }
                }
                lock(&log.state).open_streams -= 1;
                log.changed.notify_all();
            });
        }
        let waiter_log = Arc::clone(&log);
        thread::spawn(move || {
            let status = child.wait().ok();
            lock(&waiter_log.state).status = status;
            waiter_log.changed.notify_all();
        });
        Ok(Proc {
            pgid,
            command,
            log,
            registry: Arc::clone(registry),
        })
    }

    /// The process id (also its process-group id).
    pub fn pid(&self) -> u32 {
        self.pgid as u32
    }

    /// The command line, for messages.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// Every line captured so far (stdout and stderr interleaved in arrival order).
    pub fn lines(&self) -> Vec<String> {
        lock(&self.log.state).lines.clone()
    }

    /// Number of lines captured so far; pass it to [`Proc::wait_for_after`] to wait for a line
    /// printed after this point.
    pub fn line_count(&self) -> usize {
        lock(&self.log.state).lines.len()
    }

    /// Everything captured so far as one string, a line per line.
    pub fn output(&self) -> String {
        let mut out = lock(&self.log.state).lines.join("\n");
        out.push('\n');
        out
    }

    /// Wait until any captured line (from the start) contains `pattern`; returns that line.
    ///
    /// Fails with [`LabError::Timeout`] after `timeout` or [`LabError::Exited`] when the
    /// process closes its output first; both errors carry the captured output.
    pub fn wait_for(&self, pattern: &str, timeout: Duration) -> Result<String> {
        self.wait_for_after(0, pattern, timeout)
    }

    /// Like [`Proc::wait_for`], only considering lines from index `from` on.
    pub fn wait_for_after(&self, from: usize, pattern: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.log.state);
        let mut next = from;
        loop {
            if let Some(line) = state
                .lines
                .get(next..)
                .unwrap_or_default()
                .iter()
                .find(|l| l.contains(pattern))
            {
                return Ok(line.clone());
            }
            next = next.max(state.lines.len());
            if state.open_streams == 0 {
                return Err(LabError::Exited {
                    command: self.command.clone(),
                    what: pattern.to_owned(),
                    output: state.lines.join("\n"),
                });
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(LabError::Timeout {
                    what: format!("{pattern:?} from `{}`", self.command),
                    after: timeout,
                    output: state.lines.join("\n"),
                });
            }
            state = self
                .log
                .changed
                .wait_timeout(state, deadline - now)
                .map(|(s, _)| s)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
    }

    /// The exit status, if the process has exited.
    pub fn try_status(&self) -> Option<ExitStatus> {
        lock(&self.log.state).status
    }

    /// Wait up to `timeout` for the process to exit by itself.
    pub fn wait_exit(&self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.log.state);
        loop {
            if let Some(status) = state.status {
                return Ok(status);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(LabError::Timeout {
                    what: format!("`{}` to exit", self.command),
                    after: timeout,
                    output: state.lines.join("\n"),
                });
            }
            state = self
                .log
                .changed
                .wait_timeout(state, deadline - now)
                .map(|(s, _)| s)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
    }

    /// Send SIGTERM to the process group and wait up to `grace` for the process to exit
    /// (a daemon's clean shutdown); SIGKILL after that. Returns the exit status.
    pub fn terminate(&self, grace: Duration) -> Result<ExitStatus> {
        signal_group(self.pgid, Signal::TERM);
        match self.wait_exit(grace) {
            Ok(status) => Ok(status),
            Err(_) => {
                signal_group(self.pgid, Signal::KILL);
                self.wait_exit(Duration::from_secs(10))
            }
        }
    }

    /// Send a signal to the process group (e.g. [`Signal::HUP`] to reload a daemon).
    pub fn signal(&self, sig: Signal) {
        signal_group(self.pgid, sig);
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        signal_group(self.pgid, Signal::KILL);
        let _ = self.wait_exit(Duration::from_secs(5));
        lock(&self.registry).retain(|&g| g != self.pgid);
    }
}
