//! The daemon's run loop.

/// Entry point of the `portgated` binary.
pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::FAILURE
}
