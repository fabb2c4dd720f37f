//! End-to-end: portgated next to an SSDP cache daemon (docs/design.md: when UDP 1900
//! is taken, the services are registered with it over its unix socket instead).
//!
//! `portgate-ssdpd` runs in the lab's gateway namespace on the LAN bridge and owns UDP
//! 1900; the device's own SSDP bind fails, so it submits its services over the cache
//! daemon's socket. Debian's `upnpc` on a LAN host then discovers the IGD by multicast
//! (answered by portgate-ssdpd on the device's behalf; the WAN is unreserved so
//! upnpc calls the IGD connected), adds a mapping, and the WAN
//! host's TCP probe proves the mapping forwards.

// Test helpers: a failed lab step is a test failure.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use portgate_daemon::gateway::{Gateway, GatewaySettings, LanNet};
use portgate_daemon::rules::RuleSet;
use portgate_daemon::table::TableLimits;
use portgate_daemon::upnp::{self, GatewayBackend, LanAddr, UpnpContext};
use portgate_lab::{Host, Lab, Proc, GATEWAY_LAN_IF, GATEWAY_WAN_IF, NETNS_DIR};
use portgate_nft::{NftConfig, NftFirewall};
use portgate_proto::description::IgdConfig;

const PROBE: Duration = Duration::from_secs(2);
const START: Duration = Duration::from_secs(20);

/// Starts portgate-ssdpd in the gateway on the LAN bridge with its socket at `sock`.
fn start_ssdpd(lab: &Lab, sock: &Path) -> Proc {
    let bin = portgate_lab::workspace_bin("portgate-ssdpd")
        .expect("portgate-ssdpd built (cargo build -p portgate-ssdpd)");
    let args = [
        bin.as_os_str(),
        "-i".as_ref(),
        GATEWAY_LAN_IF.as_ref(),
        "-s".as_ref(),
        sock.as_os_str(),
        "-d".as_ref(),
    ];
    lab.spawn_daemon(Host::Gateway, &args, "listening on", START)
        .expect("portgate-ssdpd starts")
}

/// `upnpc -l` by multicast discovery finds the IGD, `upnpc -a` maps LAN:9000 to
/// external 8080, and the WAN host gets through.
fn discover_map_and_probe(lab: &Lab) {
    let gw = lab.ipv4(Host::Gateway);
    let l = run(lab, &["upnpc", "-l"]);
    assert!(
        l.contains(&format!("http://{gw}:5000/rootDesc.xml")),
        "discovered through the cache daemon: {l}"
    );
    assert!(l.contains("Found valid IGD"), "{l}");

    let ext = SocketAddr::from((lab.external_ipv4(), 8080));
    let probe = |what| {
        lab.tcp_probe(Host::Wan, ext, (Host::Lan(0), 9000), b"hello", PROBE)
            .unwrap_or_else(|e| panic!("{what}: probe failed: {e}"))
    };
    assert!(!probe("before"), "no mapping yet");
    let lan0 = lab.ipv4(Host::Lan(0)).to_string();
    let a = run(lab, &["upnpc", "-a", &lan0, "9000", "8080", "TCP"]);
    assert!(a.contains("is redirected to internal"), "{a}");
    assert!(probe("after"), "the mapping forwards WAN:8080 to LAN:9000");
}

fn run(lab: &Lab, args: &[&str]) -> String {
    let out = lab.exec_unchecked(Host::Lan(0), args).expect("exec");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{args:?}:\n{text}");
    text
}

/// The device running in-process on its own thread inside the gateway namespace.
struct Device {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Device {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts `upnp::start` over the real gateway core and nftables in the gateway
/// namespace (as e2e_upnp.rs does), with the cache daemon socket set to `sock`.
fn start_device(lab: &Lab, sock: PathBuf) -> Device {
    let ns = Path::new(NETNS_DIR).join(lab.netns(Host::Gateway));
    let lan_ip = lab.ipv4(Host::Gateway);
    let ext = lab.external_ipv4();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread =
        std::thread::spawn(move || {
            let run =
                || -> anyhow::Result<()> {
                    let f = std::fs::File::open(&ns)?;
                    rustix::thread::move_into_link_name_space(
                        f.as_fd(),
                        Some(rustix::thread::LinkNameSpaceType::Network),
                    )?;
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    let local = tokio::task::LocalSet::new();
                    local.block_on(&rt, async move {
                        let settings = GatewaySettings {
                            limits: TableLimits::default(),
                            rules: RuleSet::new(),
                            allow_private_external: true,
                            min_lifetime: 120,
                            max_lifetime: 86_400,
                            pcp_allow_thirdparty: false,
                            lease_file: None,
                            cgn: None,
                            natpmp: true,
                            request_rate: 0,
                            lan: vec![LanNet {
                                addr: lan_ip,
                                prefix: 24,
                            }],
                            timers: Default::default(),
                        };
                        let fw = NftFirewall::open(NftConfig::new(GATEWAY_WAN_IF))?;
                        let now = portgate_daemon::run::unix_now();
                        let (gw, _) = Gateway::start(settings, Box::new(fw), Some(ext), now)?;
                        let gw = gw.into_shared();
                        let events = gw.borrow().subscribe();
                        let backend = std::rc::Rc::new(std::cell::RefCell::new(
                            GatewayBackend::new(gw.clone(), Some(GATEWAY_WAN_IF.to_owned()), 0, 0),
                        ));
                        let handle = upnp::start(UpnpContext {
                            backend,
                            lan: vec![LanAddr {
                                addr: lan_ip,
                                prefix: 24,
                            }],
                            http_port: 5000,
                            ssdp_port: 1900,
                            igd: IgdConfig::default(),
                            notify_interval: 900,
                            boot_id: 1,
                            list_max_entries: 1000,
                            http_max_connections: 64,
                            gateway_events: Some(events),
                            minissdpd_socket: sock,
                            ipv6: None,
                            before_request: None,
                        })
                        .await?;
                        let _ = ready_tx.send(Ok(()));
                        let _ = stop_rx.await;
                        handle.shutdown().await;
                        let _ = gw.borrow_mut().shutdown(false);
                        Ok::<(), anyhow::Error>(())
                    })
                };
            if let Err(e) = run() {
                eprintln!("device failed: {e:#}");
            }
        });
    match ready_rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(())) => {}
        other => panic!("device did not start: {other:?}"),
    }
    Device {
        stop: Some(stop_tx),
        thread: Some(thread),
    }
}

/// Waits until the cache daemon knows the device's root device (the registration
/// runs in the device's task right after start).
fn wait_registered(lab: &Lab, sock: &Path) {
    let sock = sock.to_owned();
    let gw = lab.ipv4(Host::Gateway);
    let ok = lab
        .in_netns(Host::Gateway, move || {
            use portgate_proto::minissdpd::{Request, Response, ResponseKind};
            use std::io::{Read, Write};
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while std::time::Instant::now() < deadline {
                if let Ok(mut s) = std::os::unix::net::UnixStream::connect(&sock) {
                    let mut req = Vec::new();
                    Request::ByType("upnp:rootdevice".into()).emit(&mut req);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                    let mut buf = Vec::new();
                    if s.write_all(&req).is_ok() {
                        let _ = s.shutdown(std::net::Shutdown::Write);
                        let _ = s.read_to_end(&mut buf);
                    }
                    if let Ok(Response::Entries(entries)) =
                        Response::parse(ResponseKind::Entries, &buf)
                    {
                        let want = format!("http://{gw}:5000/rootDesc.xml");
                        if entries.iter().any(|e| e.location == want) {
                            return true;
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            false
        })
        .expect("netns");
    assert!(ok, "the cache daemon lists the device's root device");
}

#[test]
fn device_registers_with_the_cache_daemon_when_1900_is_taken() {
    let Some(lab) = Lab::builder()
        .lan_hosts(1)
        .wan_unreserved()
        .build_or_skip()
        .expect("lab")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("ssdpd.sock");
    let ssdpd = start_ssdpd(&lab, &sock);
    let _dev = start_device(&lab, sock.clone());
    wait_registered(&lab, &sock);
    discover_map_and_probe(&lab);
    assert!(ssdpd.try_status().is_none(), "portgate-ssdpd still runs");
}

#[test]
fn portgated_registers_with_portgate_ssdpd() {
    let Some(lab) = Lab::builder()
        .lan_hosts(1)
        .wan_unreserved()
        .build_or_skip()
        .expect("lab")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("ssdpd.sock");
    let ssdpd = start_ssdpd(&lab, &sock);

    let gw = lab.gateway();
    let cfg = dir.path().join("miniupnpd.conf");
    let text = format!(
        "ext_ifname={wan}\nlistening_ip={lan}/{prefix}\next_allow_private_ipv4=yes\n\
         lease_file={lease}\nminissdpdsocket={sock}\n",
        wan = gw.wan.name,
        lan = gw.lan.ipv4,
        prefix = gw.lan.ipv4_prefix,
        lease = dir.path().join("leases").display(),
        sock = sock.display(),
    );
    std::fs::write(&cfg, text).expect("config");
    let bin = Path::new(env!("CARGO_BIN_EXE_portgated"));
    let args = [
        bin.as_os_str(),
        "-d".as_ref(),
        "-f".as_ref(),
        cfg.as_os_str(),
    ];
    let daemon = lab
        .spawn_daemon(Host::Gateway, &args, "registered 10 services", START)
        .expect("portgated registers with the cache daemon");
    let line = daemon
        .wait_for("registered 10 services", START)
        .expect("log");
    assert!(line.contains(&sock.display().to_string()), "{line}");
    discover_map_and_probe(&lab);
    assert!(ssdpd.try_status().is_none(), "portgate-ssdpd still runs");
}
