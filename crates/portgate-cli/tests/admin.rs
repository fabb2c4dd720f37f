//! `portgate admin` against a running portgated in the namespace lab: a mapping made
//! from the LAN host with `portgate map` carries WAN bytes, `portgate admin list` shows
//! it with the protocol that made it and the kernel's packet counter, `portgate admin
//! delete` removes it and the WAN bytes stop; `status` counts the requests,
//! `delete-client` and `reload` work, and a bad request is refused with exit code 4.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{control_socket, portgated_bin, start_portgated, METRICS_PORT};
use portgate_lab::{Host, Lab, Proc};
use serde_json::Value;

const PROBE: Duration = Duration::from_secs(3);
const PROBE_BLOCKED: Duration = Duration::from_secs(2);

struct Setup {
    lab: Lab,
    daemon: Proc,
    dir: PathBuf,
}

impl Drop for Setup {
    fn drop(&mut self) {
        if self.daemon.try_status().is_some() {
            eprintln!("portgated exited early:\n{}", self.daemon.output());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `portgate args` on `host`: (exit code, stdout, stderr).
fn portgate(lab: &Lab, host: Host, args: &[&str]) -> (i32, String, String) {
    let mut cmd = vec![env!("CARGO_BIN_EXE_portgate")];
    cmd.extend_from_slice(args);
    let out = lab.exec_unchecked(host, &cmd).expect("run portgate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `portgate admin --socket S args` on the gateway, exit code 0 required.
fn admin(s: &Setup, args: &[&str]) -> String {
    let sock = control_socket(&s.dir);
    let mut full = vec!["admin", "--socket", sock.to_str().unwrap_or_default()];
    full.extend_from_slice(args);
    let (code, out, err) = portgate(&s.lab, Host::Gateway, &full);
    assert_eq!(code, 0, "portgate {full:?}: {out}{err}");
    out
}

fn admin_json(s: &Setup, args: &[&str]) -> Value {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    serde_json::from_str(admin(s, &full).trim()).expect("JSON answer")
}

fn wan_reaches(s: &Setup, port: u16, timeout: Duration) -> bool {
    s.lab
        .tcp_probe(
            Host::Wan,
            (s.lab.external_ipv4(), port).into(),
            (Host::Lan(0), port),
            b"portgate-admin",
            timeout,
        )
        .expect("probe")
}

#[test]
fn admin_lists_and_deletes_a_mapping_and_wan_bytes_stop() {
    if !portgate_lab::require() {
        return;
    }
    let bin = portgated_bin().expect("portgated built");
    let lab = Lab::builder().lan_hosts(1).build().expect("lab");
    let dir = std::env::temp_dir().join(format!("pg-cli-admin-{}", lab.id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let daemon = start_portgated(&lab, &bin, &dir).expect("portgated");
    let s = Setup { lab, daemon, dir };

    let sock = control_socket(&s.dir);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&sock).expect("socket").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "root-only control socket");

    let (code, out, err) = portgate(
        &s.lab,
        Host::Lan(0),
        &["map", "--via", "natpmp", "--lease", "600", "7411"],
    );
    assert_eq!(code, 0, "map: {out}{err}");
    assert!(wan_reaches(&s, 7411, PROBE), "WAN bytes reach the LAN host");

    let list = admin_json(&s, &["list"]);
    let m = list["mappings"]
        .as_array()
        .and_then(|a| a.iter().find(|m| m["external_port"] == 7411))
        .unwrap_or_else(|| panic!("7411 listed: {list}"))
        .clone();
    assert_eq!(m["protocol"], "tcp");
    assert_eq!(m["origin"], "natpmp");
    assert_eq!(m["internal_client"], s.lab.ipv4(Host::Lan(0)).to_string());
    let left = m["lease_left"].as_u64().expect("lease left");
    assert!((590..=600).contains(&left), "{m}");
    assert!(
        m["packets"].as_u64().is_some_and(|p| p >= 1),
        "kernel counter: {m}"
    );
    let text = admin(&s, &["list"]);
    assert!(text.contains("7411") && text.contains("natpmp"), "{text}");

    let status = admin_json(&s, &["status"]);
    assert_eq!(status["mappings"], 1, "{status}");
    assert_eq!(
        status["external_address"],
        s.lab.external_ipv4().to_string()
    );
    assert!(
        status["counters"]["natpmp"]["requests"].as_u64() >= Some(1),
        "{status}"
    );

    // The same figures in Prometheus text format, on the gateway's loopback.
    let metrics = s
        .lab
        .in_netns(Host::Gateway, || {
            use std::io::{Read, Write};
            let mut c = std::net::TcpStream::connect(("127.0.0.1", METRICS_PORT))?;
            c.set_read_timeout(Some(Duration::from_secs(5)))?;
            c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")?;
            let mut text = String::new();
            c.read_to_string(&mut text)?;
            Ok::<_, std::io::Error>(text)
        })
        .expect("netns")
        .expect("metrics");
    assert!(metrics.starts_with("HTTP/1.1 200 OK\r\n"), "{metrics}");
    assert!(metrics.contains("\nportgate_mappings 1\n"), "{metrics}");
    assert!(
        metrics.contains("portgate_requests_total{protocol=\"natpmp\"} "),
        "{metrics}"
    );

    let out = admin(&s, &["delete", "7411"]);
    assert!(out.contains("deleted tcp 7411"), "{out}");
    assert!(!wan_reaches(&s, 7411, PROBE_BLOCKED), "WAN bytes stop");
    assert_eq!(admin_json(&s, &["list"])["mappings"], Value::Array(vec![]));

    // A second delete is refused: exit code 4 with the reason.
    let (code, _, err) = portgate(
        &s.lab,
        Host::Gateway,
        &[
            "admin",
            "--socket",
            sock.to_str().unwrap_or_default(),
            "delete",
            "7411",
        ],
    );
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("refused"), "{err}");

    // delete-client removes all of a host's mappings.
    for port in ["7412", "7413"] {
        let (code, out, err) = portgate(&s.lab, Host::Lan(0), &["map", "--via", "upnp", port]);
        assert_eq!(code, 0, "map {port}: {out}{err}");
    }
    let client = s.lab.ipv4(Host::Lan(0)).to_string();
    let gone = admin_json(&s, &["delete-client", &client]);
    assert_eq!(gone["deleted"], 2, "{gone}");
    assert!(!wan_reaches(&s, 7412, PROBE_BLOCKED));
    let status = admin_json(&s, &["status"]);
    assert_eq!(status["mappings"], 0);
    assert!(
        status["counters"]["upnp"]["requests"].as_u64() >= Some(2),
        "{status}"
    );

    // reload: rereads the file (SIGHUP's path, logged).
    let from = s.daemon.line_count();
    admin(&s, &["reload"]);
    s.daemon
        .wait_for_after(from, "configuration reloaded", Duration::from_secs(10))
        .expect("reloaded");
}
