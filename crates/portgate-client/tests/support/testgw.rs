//! A small UPnP IGD:1 test gateway with switchable misbehaviours no real daemon has on
//! demand: refuse every non-zero lease with 725 (permanent-only routers), answer 718 to
//! the first N AddPortMapping requests (conflicts), and forget its mappings on command
//! (a router that rebooted). It speaks just enough: a unicast SSDP answer, the device
//! description, and WANIPConnection's AddPortMapping, DeletePortMapping,
//! GetSpecificPortMappingEntry, GetExternalIPAddress and GetStatusInfo. Every message
//! is built and parsed with portgate-proto's codecs (ssdp, http, soap, description).
//!
//! Threads, std only. Started from a thread inside a network namespace, its sockets and
//! threads (and the commands its hook runs) stay in that namespace.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::Duration;

use portgate_proto::description::igd::{IgdConfig, ROOT_DESC_PATH, WAN_IPC_PATHS};
use portgate_proto::http::{emit_response, RequestHead};
use portgate_proto::soap::{ControlResponse, SoapFault, SoapRequest, SoapResponse};
use portgate_proto::ssdp::{SearchResponse, SearchTarget, SsdpMessage, Usn, SSDP_PORT};
use portgate_proto::upnp_error::UpnpErrorCode;

/// Largest request the test gateway reads (a SOAP action is far smaller).
pub const MAX_REQUEST: usize = 64 * 1024;

/// One port mapping the test gateway holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// External port.
    pub external_port: u16,
    /// `TCP` or `UDP`.
    pub protocol: String,
    /// Internal client address.
    pub internal_client: Ipv4Addr,
    /// Internal port.
    pub internal_port: u16,
    /// Lease asked for (0: permanent).
    pub lease: u32,
}

/// Called with the whole table after every change (e.g. to program DNAT rules).
pub type Hook = Box<dyn Fn(&[Entry]) + Send + Sync>;

/// Switchable behaviours.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Behaviour {
    /// Refuse non-zero leases with 725 OnlyPermanentLeasesSupported.
    pub permanent_only: bool,
    /// Answer 718 ConflictInMappingEntry to this many AddPortMapping requests first.
    pub conflicts: u32,
}

struct State {
    behaviour: Behaviour,
    external: Ipv4Addr,
    table: BTreeMap<(u16, String), Entry>,
    /// Every action received, in order, as `Name` or `Name:code` when refused.
    log: Vec<String>,
}

/// A running test gateway. Its threads live as long as the process (tests are short).
pub struct TestGateway {
    state: Arc<Mutex<State>>,
    /// Work run on a thread started in the gateway's namespace (the hook must run there).
    control: Mutex<mpsc::Sender<Box<dyn FnOnce() + Send>>>,
    hook: Arc<Option<Hook>>,
    /// The description URL.
    pub location: String,
}

fn lock(s: &Mutex<State>) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

impl TestGateway {
    /// Starts on `ip`: SSDP on `ip`:1900 (unicast searches, when `ssdp`), HTTP on `ip`:any.
    pub fn start(
        ip: Ipv4Addr,
        external: Ipv4Addr,
        behaviour: Behaviour,
        ssdp: bool,
        hook: Option<Hook>,
    ) -> std::io::Result<TestGateway> {
        let http = TcpListener::bind((ip, 0))?;
        let location = format!("http://{}{ROOT_DESC_PATH}", http.local_addr()?);
        let state = Arc::new(Mutex::new(State {
            behaviour,
            external,
            table: BTreeMap::new(),
            log: Vec::new(),
        }));
        let hook = Arc::new(hook);
        if ssdp {
            let udp = UdpSocket::bind((ip, SSDP_PORT))?;
            let loc = location.clone();
            std::thread::spawn(move || ssdp_loop(&udp, &loc));
        }
        let (st, hk) = (state.clone(), hook.clone());
        std::thread::spawn(move || {
            for conn in http.incoming().flatten() {
                let (st, hk) = (st.clone(), hk.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &st, &hk);
                });
            }
        });
        let (tx, rx) = mpsc::channel::<Box<dyn FnOnce() + Send>>();
        std::thread::spawn(move || {
            for job in rx {
                job();
            }
        });
        Ok(TestGateway {
            state,
            control: Mutex::new(tx),
            hook,
            location,
        })
    }

    /// Forgets every mapping (as a rebooted router does), running the hook.
    /// The hook runs on the gateway's control thread, inside its namespace.
    pub fn vanish(&self) {
        let (state, hook) = (self.state.clone(), self.hook.clone());
        let (done_tx, done_rx) = mpsc::channel();
        let job = Box::new(move || {
            let mut s = lock(&state);
            s.table.clear();
            run_hook(&hook, &s);
            let _ = done_tx.send(());
        });
        let sent = self
            .control
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(job);
        if sent.is_ok() {
            let _ = done_rx.recv_timeout(Duration::from_secs(10));
        }
    }

    /// Changes the behaviours.
    pub fn set_behaviour(&self, b: Behaviour) {
        lock(&self.state).behaviour = b;
    }

    /// The current table.
    pub fn table(&self) -> Vec<Entry> {
        lock(&self.state).table.values().cloned().collect()
    }

    /// The actions received so far.
    pub fn log(&self) -> Vec<String> {
        lock(&self.state).log.clone()
    }
}

fn run_hook(hook: &Option<Hook>, s: &State) {
    if let Some(h) = hook {
        let rows: Vec<Entry> = s.table.values().cloned().collect();
        h(&rows);
    }
}

fn ssdp_loop(udp: &UdpSocket, location: &str) {
    let mut buf = [0u8; 4096];
    while let Ok((n, from)) = udp.recv_from(&mut buf) {
        let Ok(SsdpMessage::Search(m)) = SsdpMessage::parse(buf.get(..n).unwrap_or_default())
        else {
            continue;
        };
        let st = m.st.to_string();
        let r = SearchResponse {
            max_age: Some(120),
            date: None,
            ext: true,
            location: Some(location.to_string()),
            opt: None,
            nls: None,
            server: Some("test/1 UPnP/1.1 portgate-testgw/1".into()),
            st: SearchTarget::from_value(&st),
            usn: Usn::new(
                "11111111-2222-3333-4444-555555555555",
                Some(&SearchTarget::from_value(&st)),
            ),
            boot_id: None,
            config_id: None,
            search_port: None,
        };
        let mut out = Vec::new();
        SsdpMessage::Response(r).emit(&mut out);
        let _ = udp.send_to(&out, from);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn serve(mut conn: TcpStream, st: &Mutex<State>, hook: &Option<Hook>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head, body_at) = loop {
        let n = conn.read(&mut chunk)?;
        if n == 0 || buf.len() > MAX_REQUEST {
            return Ok(());
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let Ok(head) = RequestHead::parse(buf.get(..end + 4).unwrap_or_default()) else {
                return Ok(());
            };
            break (head, end + 4);
        }
    };
    let len: usize = head
        .headers
        .get("content-length")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
        .min(MAX_REQUEST);
    while buf.len() < body_at + len {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    let body = buf.get(body_at..).unwrap_or_default();
    let mut out = Vec::new();
    let xml = [
        ("Content-Type", "text/xml; charset=\"utf-8\""),
        ("Connection", "close"),
    ];
    if head.target == ROOT_DESC_PATH {
        let mut d = Vec::new();
        IgdConfig::default().emit_description(&mut d);
        emit_response(200, &xml, &d, &mut out);
    } else if head.target == WAN_IPC_PATHS.control {
        let (status, reply) = match SoapRequest::parse(body) {
            Ok(req) => control(&req, st, hook),
            Err(_) => (400, Vec::new()),
        };
        emit_response(status, &xml, &reply, &mut out);
    } else {
        emit_response(404, &[("Connection", "close")], b"", &mut out);
    }
    conn.write_all(&out)
}

fn fault(code: u16) -> (u16, Vec<u8>) {
    let mut out = Vec::new();
    ControlResponse::Fault(SoapFault::new(UpnpErrorCode::from(code))).emit(&mut out);
    (500, out)
}

fn control(req: &SoapRequest, st: &Mutex<State>, hook: &Option<Hook>) -> (u16, Vec<u8>) {
    let mut s = lock(st);
    let port = req
        .arg("NewExternalPort")
        .and_then(|v| v.trim().parse::<u16>().ok());
    let proto = req
        .arg("NewProtocol")
        .map(|p| p.trim().to_ascii_uppercase())
        .unwrap_or_default();
    let ok = |args: Vec<(&str, String)>| {
        let mut out = Vec::new();
        SoapResponse {
            service_type: req.service_type.clone(),
            action: req.action.clone(),
            args: args.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        }
        .emit(&mut out);
        (200, out)
    };
    let (result, code) = match req.action.as_str() {
        "GetExternalIPAddress" => (
            ok(vec![("NewExternalIPAddress", s.external.to_string())]),
            None,
        ),
        "GetStatusInfo" => (
            ok(vec![
                ("NewConnectionStatus", "Connected".into()),
                ("NewLastConnectionError", "ERROR_NONE".into()),
                ("NewUptime", "10".into()),
            ]),
            None,
        ),
        "AddPortMapping" => {
            let lease = req
                .arg("NewLeaseDuration")
                .and_then(|v| v.trim().parse::<u32>().ok())
                .unwrap_or(0);
            let client = req
                .arg("NewInternalClient")
                .and_then(|v| v.trim().parse::<Ipv4Addr>().ok());
            let iport = req
                .arg("NewInternalPort")
                .and_then(|v| v.trim().parse::<u16>().ok());
            match (port, client, iport) {
                (Some(p), Some(c), Some(i)) if p != 0 && i != 0 => {
                    if s.behaviour.permanent_only && lease != 0 {
                        (fault(725), Some(725))
                    } else if s.behaviour.conflicts > 0 {
                        s.behaviour.conflicts -= 1;
                        (fault(718), Some(718))
                    } else {
                        let e = Entry {
                            external_port: p,
                            protocol: proto.clone(),
                            internal_client: c,
                            internal_port: i,
                            lease,
                        };
                        s.table.insert((p, proto.clone()), e);
                        run_hook(hook, &s);
                        (ok(vec![]), None)
                    }
                }
                _ => (fault(402), Some(402)),
            }
        }
        "DeletePortMapping" => match port.and_then(|p| s.table.remove(&(p, proto.clone()))) {
            Some(_) => {
                run_hook(hook, &s);
                (ok(vec![]), None)
            }
            None => (fault(714), Some(714)),
        },
        "GetSpecificPortMappingEntry" => {
            match port.and_then(|p| s.table.get(&(p, proto.clone()))) {
                Some(e) => (
                    ok(vec![
                        ("NewInternalPort", e.internal_port.to_string()),
                        ("NewInternalClient", e.internal_client.to_string()),
                        ("NewEnabled", "1".into()),
                        ("NewPortMappingDescription", "test".into()),
                        ("NewLeaseDuration", e.lease.to_string()),
                    ]),
                    None,
                ),
                None => (fault(714), Some(714)),
            }
        }
        _ => (fault(401), Some(401)),
    };
    s.log.push(match code {
        Some(c) => format!("{}:{c}", req.action),
        None => req.action.clone(),
    });
    result
}

/// An nftables script that makes `table ip pgtestgw` DNAT every entry arriving on
/// `wan_if`; a whole-table rewrite, atomic under `nft -f`.
pub fn dnat_script(wan_if: &str, rows: &[Entry]) -> String {
    let mut s = String::from("table ip pgtestgw {}\ndelete table ip pgtestgw\n");
    s.push_str("table ip pgtestgw {\n chain pre {\n  type nat hook prerouting priority -100;\n");
    for e in rows {
        s.push_str(&format!(
            "  iifname \"{wan_if}\" {} dport {} dnat to {}:{}\n",
            e.protocol.to_ascii_lowercase(),
            e.external_port,
            e.internal_client,
            e.internal_port
        ));
    }
    s.push_str(" }\n}\n");
    s
}

/// The address a socket address would be reached at (for logs).
pub fn ip_of(a: SocketAddr) -> IpAddr {
    a.ip()
}
