//! Helpers of the C-facing tests: our shared object under its soname, gcc, portgated.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};
use portgate_lab::{Host, Lab, LabBuilder, Proc};

/// How long portgated may take to log its "listening on" line.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The cdylib cargo built next to this test binary (`deps/`) or one level up.
pub fn built_so(file: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let deps = exe.parent().context("test binary has no directory")?;
    for dir in [Some(deps), deps.parent()].into_iter().flatten() {
        let p = dir.join(file);
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!("{file} not found next to {}", exe.display())
}

/// A fresh directory (removed on drop) holding `soname` as a symlink to our `so`:
/// the directory to put in `LD_LIBRARY_PATH`.
pub struct LibDir {
    /// The directory.
    pub path: PathBuf,
}

impl LibDir {
    /// Creates `<tmp>/<tag>-<pid>/<soname>` -> `so`.
    pub fn new(tag: &str, so: &Path, soname: &str) -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(format!("{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)?;
        std::os::unix::fs::symlink(so, path.join(soname))?;
        Ok(Self { path })
    }

    /// The library's path as the dynamic loader reports it.
    pub fn lib(&self, soname: &str) -> String {
        self.path.join(soname).display().to_string()
    }
}

impl Drop for LibDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Compiles `src` with gcc into `out` with extra `args` (include dirs, libraries).
pub fn gcc(src: &Path, out: &Path, args: &[&str]) -> anyhow::Result<()> {
    let o = Command::new("gcc")
        .args(["-std=gnu11", "-Wall", "-Werror", "-O0", "-g", "-o"])
        .arg(out)
        .arg(src)
        .args(args)
        .output()
        .context("running gcc (scripts/install-deps.sh installs it)")?;
    if !o.status.success() {
        bail!(
            "gcc {} failed:\n{}",
            src.display(),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    Ok(())
}

/// Path of a file of this crate's `tests/` directory.
pub fn test_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(rel)
}

/// Starts the workspace's portgated in the gateway with UPnP and NAT-PMP on, its
/// configuration and lease file in `dir`; ready when it logs "listening on".
pub fn start_portgated(lab: &Lab, dir: &Path) -> anyhow::Result<Proc> {
    let bin = portgate_lab::built_workspace_bin("portgate-daemon", "portgated")?;
    let gw = lab.gateway();
    let conf = dir.join("portgated.conf");
    std::fs::write(
        &conf,
        format!(
            "ext_ifname={wan}\nlistening_ip={lan}/{prefix}\next_allow_private_ipv4=yes\n\
             enable_upnp=yes\nenable_natpmp=yes\nhttp_port=5000\nlease_file={lease}\n",
            wan = gw.wan.name,
            lan = gw.lan.ipv4,
            prefix = gw.lan.ipv4_prefix,
            lease = dir.join("leases").display(),
        ),
    )?;
    // In the foreground (it would fork and log to syslog otherwise), at info level.
    let args = [
        bin.as_os_str(),
        "--foreground".as_ref(),
        "-f".as_ref(),
        conf.as_os_str(),
    ];
    Ok(lab.spawn_daemon(Host::Gateway, &args, "listening on", START_TIMEOUT)?)
}

/// Runs `args` in `host`; returns (success, stdout, stderr).
pub fn run(lab: &Lab, host: Host, args: &[&str]) -> anyhow::Result<(bool, String, String)> {
    let out = lab.exec_unchecked(host, args)?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("{args:?}: {}\n{stdout}{stderr}", out.status);
    Ok((out.status.success(), stdout, stderr))
}

/// Whether the dynamic loader's `LD_DEBUG=libs` trace shows `lib` being initialised.
pub fn loaded(ld_debug: &str, lib: &str) -> bool {
    ld_debug
        .lines()
        .any(|l| l.contains("calling init:") && l.contains(lib))
}

/// Whether valgrind's report says no errors and no definitely lost bytes.
pub fn valgrind_clean(report: &str) -> bool {
    report.contains("ERROR SUMMARY: 0 errors")
        && (report.contains("definitely lost: 0 bytes") || report.contains("no leaks are possible"))
}

/// The functions (`T` symbols) a shared object exports, sorted.
pub fn dynsym(path: &str) -> anyhow::Result<Vec<String>> {
    let o = Command::new("nm")
        .args(["-D", "--defined-only", path])
        .output()?;
    anyhow::ensure!(o.status.success(), "nm {path} failed");
    let mut names: Vec<String> = String::from_utf8(o.stdout)?
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, kind, name) = (f.next()?, f.next()?, f.next()?);
            (kind == "T").then(|| name.to_owned())
        })
        .collect();
    names.sort();
    Ok(names)
}

/// Compiles and runs `src` with `args` (include dirs, libraries); returns its stdout.
pub fn compile_and_run(src: &Path, tag: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = std::env::temp_dir().join(format!("{tag}-{}", std::process::id()));
    gcc(src, &out, args)?;
    let o = Command::new(&out).output()?;
    let _ = std::fs::remove_file(&out);
    anyhow::ensure!(o.status.success(), "{} failed", out.display());
    Ok(String::from_utf8(o.stdout)?)
}

/// Asserts that our shared object `so` (built as `file`) has `soname` and exports
/// every function of the original library at `original`.
pub fn assert_exports(file: &str, soname: &str, original: &str) -> anyhow::Result<Vec<String>> {
    let so = built_so(file)?.display().to_string();
    let ours = dynsym(&so)?;
    let theirs = dynsym(original)?;
    for f in &theirs {
        anyhow::ensure!(ours.contains(f), "{f} missing from our library: {ours:?}");
    }
    let o = Command::new("readelf").args(["-d", &so]).output()?;
    let dynamic = String::from_utf8(o.stdout)?;
    anyhow::ensure!(
        dynamic.contains(&format!("Library soname: [{soname}]")),
        "{dynamic}"
    );
    Ok(theirs)
}

/// Compiles tests/c/calls.c against the headers in `include` and links it against our
/// shared object `so_file` (`-l<lib>`).
pub fn build_against_ours(so_file: &str, lib: &str, include: &str) -> anyhow::Result<()> {
    let so = built_so(so_file)?;
    let dir = so
        .parent()
        .map(|d| format!("-L{}", d.display()))
        .unwrap_or_default();
    let out = std::env::temp_dir().join(format!("{lib}-calls-ours-{}", std::process::id()));
    let (inc, l) = (format!("-I{include}"), format!("-l{lib}"));
    gcc(&test_file("c/calls.c"), &out, &[&inc, &dir, &l])?;
    let _ = std::fs::remove_file(&out);
    Ok(())
}

/// A lab with portgated in its gateway and our shared object in a directory of its own.
pub struct Labbed {
    /// The lab.
    pub lab: Lab,
    /// portgated, running in the gateway.
    pub daemon: Proc,
    /// portgated's configuration and lease files.
    pub state: LibDir,
    /// The directory for `LD_LIBRARY_PATH`.
    pub libs: LibDir,
}

/// Builds a lab from `builder`, starts portgated with its files in a directory of its own
/// and puts our `so_file` under `soname` in another; `None` when labs cannot run here
/// (outside CI: [`portgate_lab::require`] fails loudly in CI).
pub fn lab_with_library(
    builder: LabBuilder,
    tag: &str,
    so_file: &str,
    soname: &str,
) -> anyhow::Result<Option<Labbed>> {
    if !portgate_lab::require() {
        return Ok(None);
    }
    let Some(lab) = builder.build_or_skip()? else {
        return Ok(None);
    };
    let so = built_so(so_file)?;
    let state = LibDir::new(&format!("{tag}-state"), &so, soname)?;
    let daemon = start_portgated(&lab, &state.path)?;
    let libs = LibDir::new(&format!("{tag}-lib"), &so, soname)?;
    Ok(Some(Labbed {
        lab,
        daemon,
        state,
        libs,
    }))
}
