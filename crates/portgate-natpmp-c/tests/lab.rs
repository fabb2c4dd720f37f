//! Unchanged Debian programs on our libnatpmp.so.1 (via LD_LIBRARY_PATH) against the real
//! portgated in the namespace lab. The loader's LD_DEBUG trace proves our library was the
//! one loaded; bytes from the WAN host reaching the LAN host prove each mapping.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use portgate_lab::{Host, Lab};

const SONAME: &str = "libnatpmp.so.1";
const PROBE: Duration = Duration::from_secs(2);

struct Setup {
    lab: Lab,
    _daemon: portgate_lab::Proc,
    _state: common::LibDir,
    libs: common::LibDir,
}

fn setup(tag: &str) -> anyhow::Result<Option<Setup>> {
    let builder = Lab::builder().lan_hosts(1);
    let tag = format!("natpmp-{tag}");
    let Some(l) = common::lab_with_library(builder, &tag, "libnatpmp.so", SONAME)? else {
        return Ok(None);
    };
    Ok(Some(Setup {
        lab: l.lab,
        _daemon: l.daemon,
        _state: l.state,
        libs: l.libs,
    }))
}

impl Setup {
    fn gateway(&self) -> String {
        self.lab.gateway().lan.ipv4.to_string()
    }

    fn ext(&self, port: u16) -> SocketAddr {
        (self.lab.external_ipv4(), port).into()
    }

    fn tcp_reaches(&self, port: u16) -> anyhow::Result<bool> {
        Ok(self.lab.tcp_probe(
            Host::Wan,
            self.ext(port),
            (Host::Lan(0), port),
            b"via libnatpmp",
            PROBE,
        )?)
    }

    /// tests/c/calls.c compiled into the library directory, linked against Debian's
    /// libnatpmp (whose soname ours shares): its path.
    fn calls(&self) -> anyhow::Result<String> {
        let prog = self.libs.path.join("calls");
        common::gcc(&common::test_file("c/calls.c"), &prog, &["-lnatpmp"])?;
        Ok(prog.display().to_string())
    }

    /// `args` on the LAN host with our library first on the loader's path and the
    /// loader's library trace on stderr.
    fn ours(&self, args: &[&str]) -> anyhow::Result<(bool, String, String)> {
        let path = format!("LD_LIBRARY_PATH={}", self.libs.path.display());
        let mut full = vec!["env", path.as_str(), "LD_DEBUG=libs"];
        full.extend_from_slice(args);
        common::run(&self.lab, Host::Lan(0), &full)
    }
}

#[test]
fn debians_natpmpc_maps_and_unmaps_through_our_library() -> anyhow::Result<()> {
    let Some(s) = setup("natpmpc")? else {
        return Ok(());
    };
    let lib = s.libs.lib(SONAME);
    let gw = s.gateway();
    assert!(!s.tcp_reaches(8050)?, "nothing mapped yet");

    // Public address, default gateway found by our getdefaultgateway (no -g).
    let (ok, out, trace) = s.ours(&["natpmpc"])?;
    assert!(
        common::loaded(&trace, &lib),
        "our library was not loaded:\n{trace}"
    );
    assert!(ok, "{out}");
    let ext = s.lab.external_ipv4().to_string();
    assert!(out.contains(&format!("Public IP address : {ext}")), "{out}");

    // -a: WAN bytes reach the LAN host.
    let (ok, out, trace) = s.ours(&["natpmpc", "-g", &gw, "-a", "8050", "8050", "tcp", "3600"])?;
    assert!(common::loaded(&trace, &lib), "{trace}");
    assert!(ok, "{out}");
    assert!(
        out.contains("Mapped public port 8050 protocol TCP to local port 8050"),
        "{out}"
    );
    assert!(
        s.tcp_reaches(8050)?,
        "the mapping natpmpc made does not forward"
    );

    // Lifetime 0 deletes: the bytes stop.
    let (ok, out, _) = s.ours(&["natpmpc", "-g", &gw, "-a", "8050", "8050", "tcp", "0"])?;
    assert!(ok, "{out}");
    assert!(!s.tcp_reaches(8050)?, "the deleted mapping still forwards");
    Ok(())
}

#[test]
fn every_function_answers_as_debians_library_does() -> anyhow::Result<()> {
    let Some(s) = setup("calls")? else {
        return Ok(());
    };
    let (lib, prog, gw) = (s.libs.lib(SONAME), s.calls()?, s.gateway());

    let (ok, debian, trace) = common::run(
        &s.lab,
        Host::Lan(0),
        &["env", "LD_DEBUG=libs", &prog, &gw, "8061"],
    )?;
    assert!(ok && !common::loaded(&trace, &lib), "{debian}");
    let (ok, ours, trace) = s.ours(&[&prog, &gw, "8061"])?;
    assert!(common::loaded(&trace, &lib), "{trace}");
    assert!(ok, "{ours}");
    assert_eq!(ours, debian, "our answers differ from Debian's library");
    let ext = s.lab.external_ipv4().to_string();
    assert!(ours.contains(&format!("public {ext}")), "{ours}");
    assert!(
        ours.contains("answer 0 type 2 result 0 private 8061 public 8061 lifetime 3600"),
        "{ours}"
    );
    assert!(
        ours.contains("readnatpmpresponse 0 type 2 private 8061 public 0 lifetime 0"),
        "{ours}"
    );
    Ok(())
}

#[test]
fn valgrind_finds_no_error_and_no_leak_in_a_mapping_made_through_our_library() -> anyhow::Result<()>
{
    let Some(s) = setup("valgrind")? else {
        return Ok(());
    };
    let (lib, prog, gw) = (s.libs.lib(SONAME), s.calls()?, s.gateway());
    let path = format!("LD_LIBRARY_PATH={}", s.libs.path.display());

    // The C test program under valgrind; it waits for `go` while the mapping is probed.
    let go = s.libs.path.join("go").display().to_string();
    let args = [
        "env",
        &path,
        "LD_DEBUG=libs",
        "valgrind",
        "--error-exitcode=99",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite",
        &prog,
        &gw,
        "8071",
        &go,
    ];
    let child = s.lab.spawn(Host::Lan(0), &args)?;
    child.wait_for(
        "answer 0 type 2 result 0 private 8071",
        Duration::from_secs(60),
    )?;
    assert!(
        s.tcp_reaches(8071)?,
        "the mapping made under valgrind does not forward"
    );
    std::fs::write(&go, b"")?;
    let status = child.wait_exit(Duration::from_secs(60))?;
    // Output is read by other threads and may lag the exit.
    child.wait_for("ERROR SUMMARY", Duration::from_secs(10))?;
    let report = child.output();
    assert!(common::loaded(&report, &lib), "{report}");
    assert!(status.success(), "valgrind reported errors:\n{report}");
    assert!(common::valgrind_clean(&report), "{report}");
    assert!(!s.tcp_reaches(8071)?, "the deleted mapping still forwards");

    // Debian's natpmpc under valgrind too.
    let (ok, out, report) = s.ours(&[
        "valgrind",
        "--error-exitcode=99",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite",
        "natpmpc",
        "-g",
        &gw,
        "-a",
        "8072",
        "8072",
        "udp",
        "3600",
    ])?;
    assert!(common::loaded(&report, &lib), "{report}");
    assert!(ok && common::valgrind_clean(&report), "{out}{report}");
    assert!(
        s.lab
            .udp_probe(Host::Wan, s.ext(8072), (Host::Lan(0), 8072), b"udp", PROBE)?,
        "the UDP mapping natpmpc made under valgrind does not forward"
    );
    Ok(())
}
