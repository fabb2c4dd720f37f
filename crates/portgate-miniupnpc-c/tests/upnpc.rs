//! Debian's unchanged `upnpc` on our libminiupnpc.so.17 (via LD_LIBRARY_PATH) against the
//! real portgated in the namespace lab, whose WAN is outside the reserved ranges so that
//! `UPNP_GetValidIGD` answers 1. The loader's LD_DEBUG trace proves our library was the
//! one loaded; bytes from the WAN host reaching the LAN host prove each mapping.

#[path = "../../portgate-natpmp-c/tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::time::Duration;

use portgate_lab::{Host, Lab};

const SONAME: &str = "libminiupnpc.so.17";
const PROBE: Duration = Duration::from_secs(2);

/// A lab with portgated running, our library in a directory of its own.
struct Setup {
    lab: Lab,
    _daemon: portgate_lab::Proc,
    _state: common::LibDir,
    libs: common::LibDir,
}

fn setup(tag: &str) -> anyhow::Result<Option<Setup>> {
    if !portgate_lab::require() {
        return Ok(None);
    }
    let Some(lab) = Lab::builder()
        .lan_hosts(1)
        .wan_unreserved()
        .build_or_skip()?
    else {
        return Ok(None);
    };
    let so = common::built_so("libminiupnpc.so")?;
    let state = common::LibDir::new(&format!("miniupnpc-{tag}-state"), &so, SONAME)?;
    let daemon = common::start_portgated(&lab, &state.path)?;
    let libs = common::LibDir::new(&format!("miniupnpc-{tag}-lib"), &so, SONAME)?;
    Ok(Some(Setup {
        lab,
        _daemon: daemon,
        _state: state,
        libs,
    }))
}

impl Setup {
    fn lan(&self) -> String {
        self.lab.ipv4(Host::Lan(0)).to_string()
    }

    fn ext(&self, port: u16) -> SocketAddr {
        (self.lab.external_ipv4(), port).into()
    }

    fn tcp_reaches(&self, eport: u16, iport: u16) -> anyhow::Result<bool> {
        Ok(self.lab.tcp_probe(
            Host::Wan,
            self.ext(eport),
            (Host::Lan(0), iport),
            b"via libminiupnpc",
            PROBE,
        )?)
    }

    /// `args` on the LAN host with our library first on the loader's path; asserts from
    /// the loader's trace that ours was loaded. Returns stdout.
    fn ours(&self, args: &[&str]) -> anyhow::Result<String> {
        let path = format!("LD_LIBRARY_PATH={}", self.libs.path.display());
        let mut full = vec!["env", path.as_str(), "LD_DEBUG=libs"];
        full.extend_from_slice(args);
        let (_, out, trace) = common::run(&self.lab, Host::Lan(0), &full)?;
        let lib = self.libs.lib(SONAME);
        anyhow::ensure!(
            common::loaded(&trace, &lib),
            "{lib} was not loaded:\n{trace}"
        );
        Ok(out)
    }
}

#[test]
fn debians_upnpc_maps_lists_and_deletes_through_our_library() -> anyhow::Result<()> {
    let Some(s) = setup("upnpc")? else {
        return Ok(());
    };
    let lan = s.lan();
    let ext = s.lab.external_ipv4().to_string();

    let out = s.ours(&["upnpc", "-s"])?;
    assert!(out.contains("Found valid IGD"), "{out}");
    assert!(out.contains(&format!("ExternalIPAddress = {ext}")), "{out}");
    assert!(
        out.contains(&format!("Local LAN ip address : {lan}")),
        "{out}"
    );

    assert!(!s.tcp_reaches(8080, 8080)?, "nothing mapped yet");
    let out = s.ours(&[
        "upnpc", "-e", "drop-in", "-a", &lan, "8080", "8080", "TCP", "3600",
    ])?;
    assert!(
        out.contains(&format!(
            "external {ext}:8080 TCP is redirected to internal {lan}:8080"
        )),
        "{out}"
    );
    assert!(
        s.tcp_reaches(8080, 8080)?,
        "the mapping upnpc made does not forward"
    );

    let out = s.ours(&["upnpc", "-l"])?;
    assert!(
        out.contains(&format!("TCP  8080->{lan}:8080  'drop-in'")),
        "{out}"
    );
    let out = s.ours(&["upnpc", "-L"])?;
    assert!(out.contains("8080") && out.contains("drop-in"), "{out}");

    let out = s.ours(&["upnpc", "-d", "8080", "TCP"])?;
    assert!(
        out.contains("UPNP_DeletePortMapping() returned : 0"),
        "{out}"
    );
    assert!(
        !s.tcp_reaches(8080, 8080)?,
        "the deleted mapping still forwards"
    );

    // Two mappings, then -N deletes the range.
    for p in ["8091", "8092"] {
        s.ours(&["upnpc", "-a", &lan, p, p, "TCP", "3600"])?;
    }
    assert!(s.tcp_reaches(8091, 8091)? && s.tcp_reaches(8092, 8092)?);
    let out = s.ours(&["upnpc", "-N", "8090", "8099", "TCP"])?;
    assert!(
        out.contains("UPNP_DeletePortMappingRange() returned : 0"),
        "{out}"
    );
    assert!(
        !s.tcp_reaches(8091, 8091)? && !s.tcp_reaches(8092, 8092)?,
        "-N left a mapping"
    );
    Ok(())
}
