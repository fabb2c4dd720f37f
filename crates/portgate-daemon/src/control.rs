//! The administration socket (`portgate admin`) and the optional Prometheus metrics
//! listener.
//!
//! # Protocol
//!
//! A unix stream socket (`control_socket`, default `/run/portgated.sock`, mode 0600:
//! root only). The client writes one JSON object per line, the daemon answers each
//! with one JSON object on one line; a connection may carry several requests. Every
//! answer has `"ok": true` or `"ok": false` with an `"error"` text.
//!
//! | request | answer |
//! |---|---|
//! | `{"cmd":"status"}` | `external_address` (or null), `uptime` (s), `epoch` (the NAT-PMP/PCP epoch), `mappings`, `pinholes`, `counters`: per protocol (`upnp`, `natpmp`, `pcp`) `requests`, `refusals`, `errors` |
//! | `{"cmd":"list"}` | `mappings`: `protocol`, `external_port`, `internal_client`, `internal_port`, `remote_host`, `origin` (the protocol that made it), `description`, `lease_left` (s, null when permanent), `packets` and `bytes` (the kernel's counters, null when unknown); `pinholes`: `uid`, `protocol`, `internal_client`, `internal_port`, `remote_host`, `origin`, `lease_left`, `packets`, `bytes` |
//! | `{"cmd":"delete","protocol":"tcp","external_port":8080}` | `deleted`: the mapping |
//! | `{"cmd":"delete-client","client":"192.168.1.20"}` | `deleted`: how many mappings (IPv4) or pinholes (IPv6) of that client were removed |
//! | `{"cmd":"reload"}` | the configuration file is read and checked now; when good, the daemon reloads it as on SIGHUP |
//!
//! Lines are at most [`MAX_LINE`] bytes; a connection idle for [`IDLE_TIMEOUT`] is
//! closed; at most [`MAX_CLIENTS`] connections are served at once.
//!
//! # Metrics
//!
//! `metrics_listen=ADDR:PORT` (off by default) serves the same counters as Prometheus
//! text format (version 0.0.4) at any path over HTTP/1.x, one answer per connection.
//! The address must be a loopback one or one of the gateway's LAN addresses, never the
//! WAN side.

use std::cell::Cell;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use portgate_proto::json::{self, obj, Value};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, UnixListener};

use crate::flags::Flags;
use crate::gateway::SharedGateway;
use crate::pinhole::{PinholeOrigin, SharedPinholes};
use crate::stats::{self, Proto};
use crate::table::{MappingKey, Protocol, Requester};

/// Longest request line, bytes.
pub const MAX_LINE: usize = 4096;
/// A connection silent this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once (control socket and metrics listener each).
pub const MAX_CLIENTS: usize = 16;

/// What the control socket and the metrics listener read and change.
#[derive(Clone)]
pub struct Control {
    gw: SharedGateway,
    pins: SharedPinholes,
    flags: Rc<Flags>,
    started: Instant,
}

impl Control {
    /// The state behind both listeners; `flags` is how the configuration is reread.
    pub fn new(gw: SharedGateway, pins: SharedPinholes, flags: Flags) -> Self {
        Self {
            gw,
            pins,
            flags: Rc::new(flags),
            started: Instant::now(),
        }
    }

    /// The answer to one request line at `now` (the daemon's clock, [`crate::clock::now`]).
    pub fn answer(&self, line: &str, now: u64) -> Value {
        let req = match json::parse(line) {
            Ok(v) => v,
            Err(e) => return refuse(format!("not a JSON object: {e}")),
        };
        match req.get("cmd").and_then(Value::as_str) {
            Some("status") => self.status(now),
            Some("list") => self.list(now),
            Some("delete") => self.delete(&req, now),
            Some("delete-client") => self.delete_client(&req, now),
            Some("reload") => self.reload(),
            Some(other) => refuse(format!(
                "unknown command '{other}' (status, list, delete, delete-client, reload)"
            )),
            None => refuse("missing \"cmd\"".to_owned()),
        }
    }

    fn status(&self, now: u64) -> Value {
        let g = self.gw.borrow();
        let counters = Proto::ALL
            .iter()
            .map(|&p| {
                let c = stats::get(p);
                (
                    p.name().to_owned(),
                    obj([
                        ("requests", c.requests.into()),
                        ("refusals", c.refusals.into()),
                        ("errors", c.errors.into()),
                    ]),
                )
            })
            .collect();
        obj([
            ("ok", true.into()),
            (
                "external_address",
                g.external().map(|a| a.to_string()).into(),
            ),
            ("uptime", self.started.elapsed().as_secs().into()),
            ("epoch", g.epoch(now).into()),
            ("mappings", g.table().len().into()),
            ("pinholes", self.pins.borrow().table().len().into()),
            ("counters", Value::Obj(counters)),
        ])
    }

    fn list(&self, now: u64) -> Value {
        let mut g = self.gw.borrow_mut();
        let kernel = g.firewall().list().unwrap_or_else(|e| {
            tracing::debug!(%e, "admin list: no kernel counters");
            Vec::new()
        });
        let kernel6 = g.firewall().list_pinholes().unwrap_or_default();
        let mappings = g
            .table()
            .iter()
            .map(|m| {
                let key = crate::gateway::firewall_key(m);
                let k = kernel.iter().find(|e| e.mapping.key == key);
                let origin = match m.origin.kind() {
                    crate::table::OriginKind::Upnp => "upnp",
                    crate::table::OriginKind::NatPmp => "natpmp",
                    crate::table::OriginKind::Pcp => "pcp",
                };
                obj([
                    ("protocol", m.protocol.as_str().to_ascii_lowercase().into()),
                    ("external_port", m.external_port.into()),
                    ("internal_client", m.internal_client.to_string().into()),
                    ("internal_port", m.internal_port.into()),
                    ("remote_host", m.remote_host.map(|a| a.to_string()).into()),
                    ("origin", origin.into()),
                    ("description", m.description.as_str().into()),
                    ("lease_left", m.remaining(now).into()),
                    ("packets", k.map(|e| e.packets).into()),
                    ("bytes", k.map(|e| e.bytes).into()),
                ])
            })
            .collect();
        let pins = self.pins.borrow();
        let pinholes = pins
            .table()
            .iter()
            .map(|r| {
                let key = r.firewall_key();
                let k = kernel6.iter().find(|e| e.pinhole.key == key);
                let origin = match r.spec.origin {
                    PinholeOrigin::Upnp => "upnp",
                    PinholeOrigin::Pcp(_) => "pcp",
                };
                obj([
                    ("uid", r.uid.into()),
                    (
                        "protocol",
                        r.spec.protocol.as_str().to_ascii_lowercase().into(),
                    ),
                    ("internal_client", r.spec.internal_client.to_string().into()),
                    ("internal_port", r.spec.internal_port.into()),
                    (
                        "remote_host",
                        r.spec.remote_host.map(|a| a.to_string()).into(),
                    ),
                    ("origin", origin.into()),
                    ("lease_left", r.remaining(now).into()),
                    ("packets", k.map(|e| e.packets).into()),
                    ("bytes", k.map(|e| e.bytes).into()),
                ])
            })
            .collect();
        obj([
            ("ok", true.into()),
            ("mappings", Value::Arr(mappings)),
            ("pinholes", Value::Arr(pinholes)),
        ])
    }

    fn delete(&self, req: &Value, now: u64) -> Value {
        let protocol = req
            .get("protocol")
            .and_then(Value::as_str)
            .and_then(Protocol::parse);
        let port = req
            .get("external_port")
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|&p| p != 0);
        let (Some(protocol), Some(external_port)) = (protocol, port) else {
            return refuse(
                "delete needs \"protocol\" (tcp or udp) and \"external_port\" (1-65535)".to_owned(),
            );
        };
        let key = MappingKey {
            external: None,
            protocol,
            external_port,
        };
        let mut g = self.gw.borrow_mut();
        // The lease file's journal line carries wall time (see `clock`).
        g.set_wall_offset(crate::clock::wall_offset());
        match g.unmap(key, None, Requester::Trusted, now) {
            Ok(m) => {
                tracing::info!(protocol = ?m.protocol, external_port, internal = %m.internal_client, "admin: mapping deleted");
                obj([
                    ("ok", true.into()),
                    (
                        "deleted",
                        obj([
                            ("protocol", m.protocol.as_str().to_ascii_lowercase().into()),
                            ("external_port", m.external_port.into()),
                            ("internal_client", m.internal_client.to_string().into()),
                            ("internal_port", m.internal_port.into()),
                        ]),
                    ),
                ])
            }
            Err(e) => refuse(e.to_string()),
        }
    }

    fn delete_client(&self, req: &Value, now: u64) -> Value {
        let Some(client) = req
            .get("client")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<IpAddr>().ok())
        else {
            return refuse("delete-client needs \"client\": an IPv4 or IPv6 address".to_owned());
        };
        let mut g = self.gw.borrow_mut();
        g.set_wall_offset(crate::clock::wall_offset());
        let deleted = match client {
            IpAddr::V4(c) => match g.unmap_client(c, None, None, now) {
                Ok(gone) => gone.len(),
                Err(e) => return refuse(e.to_string()),
            },
            IpAddr::V6(c) => {
                let mut pins = self.pins.borrow_mut();
                pins.set_wall_offset(crate::clock::wall_offset());
                let uids: Vec<u16> = pins
                    .table()
                    .iter()
                    .filter(|r| r.spec.internal_client == c)
                    .map(|r| r.uid)
                    .collect();
                let mut n = 0;
                for uid in uids {
                    match pins.delete(&mut g, uid, None, now) {
                        Ok(_) => n += 1,
                        Err(e) => return refuse(e.to_string()),
                    }
                }
                n
            }
        };
        tracing::info!(%client, deleted, "admin: client's mappings deleted");
        obj([("ok", true.into()), ("deleted", deleted.into())])
    }

    fn reload(&self) -> Value {
        if let Err(e) = self.flags.load_config() {
            return refuse(format!("configuration refused, nothing reloaded: {e}"));
        }
        // The reload itself is SIGHUP's, in the main loop: same path, same logs.
        let me = rustix::process::getpid();
        match rustix::process::kill_process(me, rustix::process::Signal::HUP) {
            Ok(()) => obj([("ok", true.into()), ("reloading", true.into())]),
            Err(e) => refuse(format!("cannot signal the reload: {e}")),
        }
    }

    /// The metrics in Prometheus text format (version 0.0.4).
    pub fn metrics(&self, now: u64) -> String {
        use std::fmt::Write as _;
        let g = self.gw.borrow();
        let mut out = String::new();
        let mut gauge = |name: &str, help: &str, value: u64| {
            let _ = write!(
                out,
                "# HELP portgate_{name} {help}\n# TYPE portgate_{name} gauge\nportgate_{name} {value}\n"
            );
        };
        gauge(
            "mappings",
            "Port mappings in the table.",
            g.table().len() as u64,
        );
        gauge(
            "pinholes",
            "IPv6 pinholes in the table.",
            self.pins.borrow().table().len() as u64,
        );
        gauge(
            "uptime_seconds",
            "Seconds since portgated started.",
            self.started.elapsed().as_secs(),
        );
        gauge(
            "epoch_seconds",
            "NAT-PMP/PCP epoch.",
            u64::from(g.epoch(now)),
        );
        gauge(
            "external_address_known",
            "1 when an external IPv4 address is known.",
            u64::from(g.external().is_some()),
        );
        for (name, help, pick) in [
            (
                "requests_total",
                "Requests answered, by protocol.",
                (|c: stats::Counts| c.requests) as fn(stats::Counts) -> u64,
            ),
            ("refusals_total", "Requests refused, by protocol.", |c| {
                c.refusals
            }),
            (
                "errors_total",
                "Requests that failed or were malformed, by protocol.",
                |c| c.errors,
            ),
        ] {
            let _ = write!(
                out,
                "# HELP portgate_{name} {help}\n# TYPE portgate_{name} counter\n"
            );
            for p in Proto::ALL {
                let _ = writeln!(
                    out,
                    "portgate_{name}{{protocol=\"{}\"}} {}",
                    p.name(),
                    pick(stats::get(p))
                );
            }
        }
        out
    }
}

fn refuse(error: String) -> Value {
    obj([("ok", false.into()), ("error", error.into())])
}

/// The bound control socket; dropping it removes the socket file (when it is still
/// ours).
#[derive(Debug)]
pub struct ControlSocket {
    path: PathBuf,
    ino: u64,
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.ino) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Binds the control socket at `path`, mode 0600. A socket file nobody answers on (a
/// crashed daemon's) is replaced; one that answers is another portgated's, and is
/// left alone (an error).
pub fn bind(path: &Path) -> io::Result<(UnixListener, ControlSocket)> {
    if std::fs::symlink_metadata(path).is_ok() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{} is served by another process", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    let ino = std::fs::symlink_metadata(path)?.ino();
    Ok((
        listener,
        ControlSocket {
            path: path.to_path_buf(),
            ino,
        },
    ))
}

/// A listener whose connections are served one task each.
trait Accept {
    type Stream: 'static;
    async fn accept_one(&self) -> io::Result<Self::Stream>;
}

impl Accept for UnixListener {
    type Stream = tokio::net::UnixStream;
    async fn accept_one(&self) -> io::Result<Self::Stream> {
        self.accept().await.map(|(s, _)| s)
    }
}

impl Accept for TcpListener {
    type Stream = tokio::net::TcpStream;
    async fn accept_one(&self) -> io::Result<Self::Stream> {
        self.accept().await.map(|(s, _)| s)
    }
}

/// Accepts connections on `listener` until the task is aborted and serves each with
/// `handle` on its own task, at most [`MAX_CLIENTS`] at once (more are closed).
async fn serve_with<L, F, Fut>(listener: L, control: Control, handle: F)
where
    L: Accept,
    F: Fn(L::Stream, Control) -> Fut,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let busy = Rc::new(Cell::new(0usize));
    loop {
        let Ok(stream) = listener.accept_one().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        if busy.get() >= MAX_CLIENTS {
            continue;
        }
        busy.set(busy.get() + 1);
        let job = handle(stream, control.clone());
        let busy = busy.clone();
        tokio::task::spawn_local(async move {
            job.await;
            busy.set(busy.get().saturating_sub(1));
        });
    }
}

/// Serves the control socket until the task is aborted.
pub async fn serve(listener: UnixListener, control: Control) {
    serve_with(listener, control, control_connection).await;
}

/// One control connection: request lines in, answer lines out.
async fn control_connection(stream: tokio::net::UnixStream, control: Control) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        let read = tokio::time::timeout(
            IDLE_TIMEOUT,
            (&mut lines).take(MAX_LINE as u64 + 1).read_line(&mut line),
        )
        .await;
        match read {
            Ok(Ok(n)) if n > 0 && line.ends_with('\n') => {}
            Ok(Ok(n)) if n > MAX_LINE => {
                let _ = write
                    .write_all(b"{\"ok\":false,\"error\":\"request line too long\"}\n")
                    .await;
                break;
            }
            _ => break,
        }
        let mut answer = control.answer(line.trim(), crate::clock::now()).to_string();
        answer.push('\n');
        if write.write_all(answer.as_bytes()).await.is_err() {
            break;
        }
    }
}

/// Whether `addr` may carry the metrics listener: loopback, or one of `lan`.
pub fn metrics_address_allowed(
    addr: IpAddr,
    lan: &[Ipv4Addr],
    lan6: &[std::net::Ipv6Addr],
) -> bool {
    addr.is_loopback()
        || match addr {
            IpAddr::V4(a) => lan.contains(&a),
            IpAddr::V6(a) => lan6.contains(&a),
        }
}

/// Serves Prometheus metrics on `listener` until the task is aborted: one answer per
/// connection, whatever the path.
pub async fn serve_metrics(listener: TcpListener, control: Control) {
    serve_with(listener, control, metrics_connection).await;
}

/// One metrics connection: a request head in (5 s at most), the metrics out.
async fn metrics_connection(mut stream: tokio::net::TcpStream, control: Control) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let got_head = tokio::time::timeout(Duration::from_secs(5), async {
        while head.len() <= MAX_LINE {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => head.extend_from_slice(buf.get(..n).unwrap_or_default()),
            }
            if head.windows(4).any(|w| w == b"\r\n\r\n") {
                return true;
            }
        }
        false
    })
    .await;
    if got_head == Ok(true) {
        let body = control.metrics(crate::clock::now());
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
    }
}

/// Opens what the configuration asks for (control socket, metrics listener) and
/// spawns their tasks. Failures are logged, not fatal: mapping service matters more.
pub fn start(
    cfg: &crate::config::Config,
    control: &Control,
    lan: &[Ipv4Addr],
    lan6: &[std::net::Ipv6Addr],
) -> Option<ControlSocket> {
    let mut socket = None;
    if let Some(path) = &cfg.control_socket {
        match bind(path) {
            Ok((listener, s)) => {
                tracing::info!(path = %path.display(), "control socket ready");
                tokio::task::spawn_local(serve(listener, control.clone()));
                socket = Some(s);
            }
            Err(e) => tracing::warn!(path = %path.display(), %e, "no control socket"),
        }
    }
    if let Some(addr) = cfg.metrics_listen {
        if !metrics_address_allowed(addr.ip(), lan, lan6) {
            tracing::warn!(%addr, "metrics_listen must be a loopback or LAN address: metrics off");
        } else {
            match std::net::TcpListener::bind(addr).and_then(|l| {
                l.set_nonblocking(true)?;
                TcpListener::from_std(l)
            }) {
                Ok(l) => {
                    tracing::info!(%addr, "metrics listener ready");
                    tokio::task::spawn_local(serve_metrics(l, control.clone()));
                }
                Err(e) => tracing::warn!(%addr, %e, "no metrics listener"),
            }
        }
    }
    socket
}

/// Checks used by the unit tests without a gateway.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_addresses() {
        let lan = [Ipv4Addr::new(192, 168, 1, 1)];
        assert!(metrics_address_allowed(
            "127.0.0.1".parse().unwrap(),
            &lan,
            &[]
        ));
        assert!(metrics_address_allowed("::1".parse().unwrap(), &lan, &[]));
        assert!(metrics_address_allowed(
            "192.168.1.1".parse().unwrap(),
            &lan,
            &[]
        ));
        assert!(!metrics_address_allowed(
            "203.0.113.5".parse().unwrap(),
            &lan,
            &[]
        ));
    }

    use crate::gateway::tests::{gateway, settings, EXT, HOST, NOW};
    use crate::pinhole::{PinholeSettings, Pinholes};
    use crate::table::{NewMapping, Origin};

    /// A control over a gateway holding one UPnP mapping (TCP 8080 to HOST, 600 s left)
    /// and no pinholes; `config` is the file a reload would read.
    fn control(config: &str) -> Control {
        let (mut gw, _) = gateway(settings(None));
        gw.map(
            NewMapping {
                external: None,
                protocol: Protocol::Tcp,
                external_port: 8080,
                remote_host: None,
                internal_client: HOST,
                internal_port: 80,
                description: "web".into(),
                expiry: Some(NOW + 600),
                origin: Origin::Upnp,
            },
            Requester::Client(HOST),
            false,
            NOW,
        )
        .unwrap();
        let off = PinholeSettings {
            enabled: false,
            lease_file6: None,
            lan: Vec::new(),
        };
        let (pins, _) = Pinholes::start(off, &mut gw, NOW).unwrap();
        let flags = Flags::try_parse_from(["portgated", "-f", config]).unwrap();
        Control::new(gw.into_shared(), pins.into_shared(), flags)
    }

    fn ask(c: &Control, line: &str) -> Value {
        c.answer(line, NOW)
    }

    #[test]
    fn status_list_and_metrics() {
        let c = control("/nonexistent/portgated.conf");
        let s = ask(&c, r#"{"cmd":"status"}"#);
        assert_eq!(s["ok"].as_bool(), Some(true));
        assert_eq!(
            s["external_address"].as_str(),
            Some(EXT.to_string().as_str())
        );
        assert_eq!(
            (s["mappings"].as_u64(), s["pinholes"].as_u64()),
            (Some(1), Some(0))
        );
        assert!(s["counters"]["natpmp"]["requests"].as_u64().is_some());
        let l = ask(&c, r#"{"cmd":"list"}"#);
        let m = &l["mappings"][0];
        assert_eq!(m["protocol"].as_str(), Some("tcp"));
        assert_eq!(m["external_port"].as_u64(), Some(8080));
        assert_eq!(
            m["internal_client"].as_str(),
            Some(HOST.to_string().as_str())
        );
        assert_eq!(m["internal_port"].as_u64(), Some(80));
        assert_eq!(m["origin"].as_str(), Some("upnp"));
        assert_eq!(m["lease_left"].as_u64(), Some(600));
        assert!(m["remote_host"].is_null());
        assert!(
            m["packets"].as_u64().is_some(),
            "the memory firewall's counter: {m}"
        );
        let text = c.metrics(NOW);
        assert!(text.contains("\nportgate_mappings 1\n"), "{text}");
        assert!(
            text.contains("# TYPE portgate_requests_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("portgate_errors_total{protocol=\"upnp\"} "),
            "{text}"
        );
    }

    #[test]
    fn bad_requests_are_refused_with_a_reason() {
        let c = control("/nonexistent/portgated.conf");
        for (line, why) in [
            ("not json", "not a JSON object"),
            ("{}", "missing"),
            (r#"{"cmd":"shutdown"}"#, "unknown command"),
            (r#"{"cmd":"delete","protocol":"tcp"}"#, "external_port"),
            (
                r#"{"cmd":"delete","protocol":"tcp","external_port":0}"#,
                "external_port",
            ),
            (
                r#"{"cmd":"delete","protocol":"tcp","external_port":70000}"#,
                "external_port",
            ),
            (
                r#"{"cmd":"delete","protocol":"sctp","external_port":80}"#,
                "protocol",
            ),
            (
                r#"{"cmd":"delete","protocol":"udp","external_port":8080}"#,
                "",
            ),
            (r#"{"cmd":"delete-client","client":"nobody"}"#, "address"),
            (r#"{"cmd":"reload"}"#, "nothing reloaded"),
            // Valid JSON that is not a request object.
            ("[]", "missing"),
            (r#""status""#, "missing"),
            (r#"{"cmd":1}"#, "missing"),
            (r#"{"cmd":"status"} x"#, "not a JSON object"),
            (r#"{"cmd":"st\u0000atus"}"#, "unknown command"),
            (&"[".repeat(5000), "nested too deeply"),
        ] {
            let v = ask(&c, line);
            assert_eq!(v["ok"].as_bool(), Some(false), "{line}: {v}");
            let e = v["error"].as_str().unwrap_or_default();
            assert!(e.contains(why), "{line}: {e}");
        }
        assert_eq!(
            ask(&c, r#"{"cmd":"status"}"#)["mappings"].as_u64(),
            Some(1),
            "nothing changed"
        );
    }

    #[test]
    fn answers_are_one_line_of_json_whatever_the_description() {
        let c = control("/nonexistent/portgated.conf");
        let description = "a \"quoted\"\nline\\ with \u{1} control \u{e9}";
        c.gw.borrow_mut()
            .map(
                NewMapping {
                    external: None,
                    protocol: Protocol::Udp,
                    external_port: 9000,
                    remote_host: None,
                    internal_client: HOST,
                    internal_port: 9000,
                    description: description.into(),
                    expiry: None,
                    origin: Origin::Upnp,
                },
                Requester::Client(HOST),
                false,
                NOW,
            )
            .unwrap();
        let line = ask(&c, r#"{"cmd":"list"}"#).to_string();
        assert!(!line.contains('\n'), "{line}");
        let back = json::parse(&line).unwrap();
        let m = back["mappings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["external_port"].as_u64() == Some(9000))
            .unwrap();
        // What the table stored (it may clean a description up) comes back unchanged.
        let stored =
            c.gw.borrow()
                .table()
                .iter()
                .find(|m| m.external_port == 9000)
                .map(|m| m.description.to_string())
                .unwrap();
        assert_eq!(m["description"].as_str(), Some(stored.as_str()));
        assert!(m["lease_left"].is_null(), "permanent: {m}");
        assert_eq!(m["protocol"].as_str(), Some("udp"));
    }

    #[test]
    fn delete_and_delete_client() {
        let c = control("/nonexistent/portgated.conf");
        let v = ask(
            &c,
            r#"{"cmd":"delete","protocol":"TCP","external_port":8080}"#,
        );
        assert_eq!(v["ok"].as_bool(), Some(true), "{v}");
        assert_eq!(v["deleted"]["internal_port"].as_u64(), Some(80));
        assert_eq!(ask(&c, r#"{"cmd":"status"}"#)["mappings"].as_u64(), Some(0));
        let again = ask(
            &c,
            r#"{"cmd":"delete","protocol":"tcp","external_port":8080}"#,
        );
        assert_eq!(again["ok"].as_bool(), Some(false));

        let c = control("/nonexistent/portgated.conf");
        let line = format!(r#"{{"cmd":"delete-client","client":"{HOST}"}}"#);
        assert_eq!(ask(&c, &line)["deleted"].as_u64(), Some(1));
        assert_eq!(ask(&c, &line)["deleted"].as_u64(), Some(0));
        assert_eq!(
            ask(&c, r#"{"cmd":"delete-client","client":"2001:db8::2"}"#)["deleted"].as_u64(),
            Some(0)
        );
    }

    #[test]
    fn socket_is_root_only_and_a_live_one_is_not_stolen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sock");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (_l, guard) = bind(&path).unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            assert_eq!(bind(&path).unwrap_err().kind(), io::ErrorKind::AddrInUse);
            drop(guard);
            assert!(!path.exists());
        });
        // A stale file (nobody listening) is replaced.
        std::fs::write(&path, b"").unwrap();
        rt.block_on(async {
            let _ = bind(&path).unwrap();
        });
    }
}
