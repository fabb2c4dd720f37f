//! The lab's error type.

use std::time::Duration;

/// Everything that can go wrong while building or driving a lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The machine cannot host a lab (not root, no `ip`/`nft`, no network namespaces).
    #[error("network-namespace lab unavailable: {0}")]
    Unavailable(String),
    /// An operating-system call or process spawn failed.
    #[error("{context}: {source}")]
    Io {
        /// What the lab was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A command ran but exited unsuccessfully.
    #[error("`{command}` in {netns} failed ({status})\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}")]
    CommandFailed {
        /// Namespace the command ran in.
        netns: String,
        /// The command line.
        command: String,
        /// Exit status as printed by the OS.
        status: String,
        /// Captured standard output (lossy UTF-8).
        stdout: String,
        /// Captured standard error (lossy UTF-8).
        stderr: String,
    },
    /// Something did not happen within its time limit.
    #[error("timed out after {after:?} waiting for {what}\n--- output so far ---\n{output}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The time limit.
        after: Duration,
        /// Output captured from the process involved, if any.
        output: String,
    },
    /// A process exited before printing the awaited line.
    #[error("`{command}` exited before printing {what:?}\n--- output ---\n{output}")]
    Exited {
        /// The command line.
        command: String,
        /// The awaited pattern.
        what: String,
        /// Everything the process printed.
        output: String,
    },
    /// A workspace binary has not been built.
    #[error("binary `{name}` not found (looked in: {searched}); build it first, e.g. `cargo build --workspace --bins`")]
    BinaryNotFound {
        /// The binary name.
        name: String,
        /// The directories searched.
        searched: String,
    },
    /// Building a workspace binary with cargo failed.
    #[error("building `{name}` with cargo failed: {why}")]
    BuildFailed {
        /// The binary name.
        name: String,
        /// What cargo (or starting it) reported.
        why: String,
    },
    /// A probe's listener received bytes other than the payload that was sent.
    #[error(
        "probe listener received {got:?} instead of the {expected} payload bytes that were sent"
    )]
    ProbeMismatch {
        /// Length of the payload that was sent.
        expected: usize,
        /// What actually arrived (possibly truncated by the sender's timeout).
        got: Vec<u8>,
    },
}

impl LabError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        LabError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Result alias for lab operations.
pub type Result<T, E = LabError> = std::result::Result<T, E>;
