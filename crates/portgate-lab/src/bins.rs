//! Finding binaries built from other packages of the workspace.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{LabError, Result};

/// The workspace root, known at compile time from this crate's location.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}

/// Directories a workspace binary may be in, best first: the profile directory of the running
/// executable (a test binary lives in `<target>/<profile>/deps`, an example in
/// `<target>/<profile>/examples`), then `<target>/debug` and `<target>/release` where
/// `<target>` is `$CARGO_TARGET_DIR` (relative to the workspace root) or `<workspace>/target`.
pub fn bin_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(profile_dir) = exe.parent().and_then(Path::parent) {
            dirs.push(profile_dir.to_path_buf());
        }
        if let Some(dir) = exe.parent() {
            dirs.push(dir.to_path_buf());
        }
    }
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    };
    let first = if cfg!(debug_assertions) {
        ["debug", "release"]
    } else {
        ["release", "debug"]
    };
    dirs.extend(first.iter().map(|p| target.join(p)));
    dirs.dedup();
    dirs
}

/// Path of the workspace binary `name` (e.g. `"portgated"`), searched in [`bin_dirs`].
///
/// `CARGO_BIN_EXE_<name>` only works for binaries of the same package; e2e tests of one
/// crate that drive another crate's binary use this instead. The binary must have been built
/// (`cargo test --workspace` builds every package's binaries before running tests).
pub fn workspace_bin(name: &str) -> Result<PathBuf> {
    let dirs = bin_dirs();
    dirs.iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| LabError::BinaryNotFound {
            name: name.to_owned(),
            searched: dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Path of the workspace binary `name` of `package`, built first when the test runs
/// under cargo (`$CARGO` set): once per process and binary, with the same cargo, profile
/// and target directory, so a test never drives a stale build of another crate (a no-op
/// when it is up to date). Run outside cargo, it is [`workspace_bin`].
pub fn built_workspace_bin(package: &str, name: &str) -> Result<PathBuf> {
    /// Outcome of each build done by this process, by "package/name".
    static BUILT: Mutex<Vec<(String, std::result::Result<(), String>)>> = Mutex::new(Vec::new());
    if let Some(cargo) = std::env::var_os("CARGO") {
        // Held during the build: concurrent tests wait for one build.
        let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
        let key = format!("{package}/{name}");
        let outcome = match built.iter().find(|(k, _)| *k == key) {
            Some((_, r)) => r.clone(),
            None => {
                let mut cmd = std::process::Command::new(cargo);
                cmd.arg("build")
                    .arg("--manifest-path")
                    .arg(workspace_root().join("Cargo.toml"))
                    .args(["-p", package, "--bin", name]);
                if !cfg!(debug_assertions) {
                    cmd.arg("--release");
                }
                let r = match cmd.status() {
                    Ok(st) if st.success() => Ok(()),
                    Ok(st) => Err(st.to_string()),
                    Err(e) => Err(format!("cannot run cargo: {e}")),
                };
                built.push((key, r.clone()));
                r
            }
        };
        outcome.map_err(|why| LabError::BuildFailed {
            name: name.to_owned(),
            why,
        })?;
    }
    workspace_bin(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binary_names_the_searched_dirs() {
        let err = workspace_bin("no-such-binary-portgate").unwrap_err();
        match err {
            LabError::BinaryNotFound { name, searched } => {
                assert_eq!(name, "no-such-binary-portgate");
                assert!(searched.contains("debug"), "{searched}");
            }
            other => panic!("unexpected error {other}"),
        }
    }

    #[test]
    fn current_test_binary_directory_is_searched_first() {
        let exe = std::env::current_exe().unwrap();
        let dirs = bin_dirs();
        assert_eq!(
            dirs.first().map(PathBuf::as_path),
            exe.parent().and_then(Path::parent)
        );
    }
}
