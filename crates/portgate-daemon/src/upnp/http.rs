//! The HTTP/1.1 server of the device (description, SOAP control, GENA), with the
//! limits listed in SECURITY.md.
//!
//! [`Connection`] is the sans-IO part: fed bytes, it yields complete requests (head +
//! body) or the error response that ends the connection; [`route`] decides what a
//! request is; [`conns`] keeps the connection caps. The driver (`spawn_listeners`) only
//! moves bytes, enforces deadlines and closes the connections [`conns`] picks.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use portgate_proto::description::igd::IgdService;
use portgate_proto::http::{Event, Limits, Method, RequestDecoder, RequestHead, ResponseHead};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::desc::Documents;
use super::gena::GenaService;
use super::soap::{self, SoapSettings};
use super::{v6fc, Shared, UpnpEvent};

/// Largest request body, bytes. SOAP envelopes are a few hundred bytes; the cap
/// follows the SOAP parser's own ([`portgate_proto::soap::MAX_REQUEST_LEN`]) so a
/// hostile 100 KiB description is still read (then truncated), not refused.
pub const MAX_REQUEST_BODY: u64 = portgate_proto::soap::MAX_REQUEST_LEN as u64;

/// Time allowed for one whole request (head and body) once its first byte arrived:
/// real control points send a request in one segment; a byte-a-second (slowloris)
/// client is cut off after this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an idle keep-alive connection is kept open.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Time allowed to write one response (a peer that never reads is dropped).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest time a closing connection keeps reading (and dropping) what its peer still
/// sends after the last answer, see `lingering_close`.
pub const LINGER_TIME: Duration = Duration::from_secs(2);

/// Most bytes a closing connection reads and drops after the last answer.
pub const LINGER_MAX_BYTES: usize = 256 * 1024;

/// Most concurrent connections from one client address: a control point uses one or
/// two, a busy host (several applications, a benchmark) a few dozen; the cap keeps one
/// host from taking every slot of the total cap (default 256, `http_max_connections`).
/// At a cap a newcomer takes the slot of a waiting connection, see [`conns`].
pub const MAX_CONNECTIONS_PER_CLIENT: usize = 32;

/// Content type of every XML answer (UDA 1.1 §2.1, §3.2.1).
pub const CONTENT_TYPE_XML: &str = "text/xml; charset=\"utf-8\"";

/// A complete request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The head.
    pub head: RequestHead,
    /// The (de-chunked) body.
    pub body: Vec<u8>,
    /// Whether the connection stays open afterwards.
    pub keep_alive: bool,
}

/// What [`Connection::poll`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Polled {
    /// More bytes are needed.
    NeedMore,
    /// A request to route.
    Request(Request),
    /// The connection must be answered with this status and closed (framing error).
    Fail(u16),
    /// The peer closed cleanly between requests.
    Closed,
}

/// Per-connection framing state (sans-IO).
#[derive(Debug)]
pub struct Connection {
    decoder: RequestDecoder,
    head: Option<RequestHead>,
    body: Vec<u8>,
}

impl Default for Connection {
    fn default() -> Self {
        Self::new()
    }
}

impl Connection {
    /// A new connection with the server's caps.
    pub fn new() -> Self {
        Self {
            decoder: RequestDecoder::new(Limits {
                max_body_len: MAX_REQUEST_BODY,
                ..Limits::default()
            }),
            head: None,
            body: Vec::new(),
        }
    }

    /// Appends received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.decoder.feed(bytes);
    }

    /// Records that the peer closed its side.
    pub fn feed_eof(&mut self) {
        self.decoder.feed_eof();
    }

    /// Whether nothing of a next request has arrived.
    pub fn is_idle(&self) -> bool {
        self.head.is_none() && self.decoder.is_idle()
    }

    /// Decodes as far as possible.
    pub fn poll(&mut self) -> Polled {
        loop {
            match self.decoder.poll() {
                Err(e) => {
                    tracing::debug!("http: framing error: {e}");
                    return Polled::Fail(e.status());
                }
                Ok(Event::NeedMore) => return Polled::NeedMore,
                Ok(Event::End) => return Polled::Closed,
                Ok(Event::Head(h)) => {
                    self.head = Some(h);
                    self.body.clear();
                }
                Ok(Event::Body(b)) => self.body.extend_from_slice(b),
                Ok(Event::Complete { keep_alive }) => {
                    let Some(head) = self.head.take() else {
                        return Polled::Fail(400);
                    };
                    return Polled::Request(Request {
                        head,
                        body: std::mem::take(&mut self.body),
                        keep_alive,
                    });
                }
            }
        }
    }
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// GET/HEAD of a description document at this path.
    Document,
    /// SOAP POST to a service's control URL.
    Control(IgdService),
    /// SUBSCRIBE/UNSUBSCRIBE at a service's event URL.
    Event(IgdService),
    /// An error status to answer.
    Error(u16),
}

/// Routes a request: Host must be the IP literal the connection arrived on (else 400,
/// the DNS-rebinding defence), unknown method 501, wrong method for the path 405,
/// unknown path 404.
pub fn route(head: &RequestHead, local: IpAddr, docs: &Documents, ipv6: bool) -> Route {
    if let Err(e) = head.check_host(Some(local)) {
        tracing::debug!("http: host refused: {e}");
        return Route::Error(e.status());
    }
    let path = head.target.split('?').next().unwrap_or("");
    let service =
        IgdService::from_path(path).filter(|s| ipv6 || *s != IgdService::WanIpv6FirewallControl);
    let is_doc = docs.get(path).is_some();
    let is_control = service.is_some_and(|s| s.paths().control == path);
    let is_event = service.is_some_and(|s| s.paths().event == path);
    let known = is_doc || is_control || is_event;
    match &head.method {
        Method::Get | Method::Head if is_doc => Route::Document,
        Method::Post if is_control => service.map_or(Route::Error(404), Route::Control),
        Method::Subscribe | Method::Unsubscribe if is_event => {
            service.map_or(Route::Error(404), Route::Event)
        }
        Method::Get | Method::Head | Method::Post | Method::Subscribe | Method::Unsubscribe
            if known =>
        {
            Route::Error(405)
        }
        Method::Get | Method::Head | Method::Post | Method::Subscribe | Method::Unsubscribe => {
            Route::Error(404)
        }
        _ => Route::Error(501),
    }
}

/// A response head with the fields every answer carries: `Date` (RFC 9110 §6.6.1: a
/// server with a clock sends it; UDA 1.1 recommends it too) and `SERVER`.
fn head(status: u16, server: &str) -> ResponseHead {
    ResponseHead::new(status)
        .with_header(
            "Date",
            portgate_proto::http::http_date(crate::run::unix_now()),
        )
        .with_header("SERVER", server)
}

/// An error response with a tiny body; `close` adds `Connection: close`.
pub fn error_response(status: u16, close: bool, server: &str) -> Vec<u8> {
    let mut head = head(status, server);
    if status == 405 {
        head.headers
            .push("Allow", "GET, HEAD, POST, SUBSCRIBE, UNSUBSCRIBE");
    }
    if close {
        head.headers.push("Connection", "close");
    }
    let mut out = Vec::new();
    head.emit_with_body(b"", &mut out);
    out
}

fn xml_response(status: u16, body: &[u8], close: bool, server: &str, head_only: bool) -> Vec<u8> {
    let mut head = head(status, server)
        .with_header("Content-Type", CONTENT_TYPE_XML)
        .with_header("EXT", "");
    if close {
        head.headers.push("Connection", "close");
    }
    let mut out = Vec::new();
    if head_only {
        head.headers.set("Content-Length", body.len().to_string());
        head.emit(&mut out);
    } else {
        head.emit_with_body(body, &mut out);
    }
    out
}

struct Server {
    shared: Rc<Shared>,
    gena: Rc<GenaService>,
    docs: Documents,
    /// Open connections; each handle wakes its connection when a newcomer takes its
    /// slot (see [`conns`]).
    conns: RefCell<ConnTable<Rc<Notify>>>,
}

/// A connection's slot in [`Server::conns`]: marks it waiting or busy, and tells when a
/// newcomer took the slot.
struct Seat<'a> {
    server: &'a Server,
    id: ConnId,
    evicted: Rc<Notify>,
}

impl Seat<'_> {
    fn waiting(&self, waiting: bool) {
        self.server.conns.borrow_mut().set_waiting(self.id, waiting);
    }
}

/// Binds one listener per LAN address and spawns their accept loops. Returns the
/// bound addresses.
pub(crate) async fn spawn_listeners(
    shared: Rc<Shared>,
    gena: Rc<GenaService>,
    tasks: &mut Vec<JoinHandle<()>>,
) -> anyhow::Result<Vec<SocketAddr>> {
    let server = Rc::new(Server {
        docs: Documents::new(&shared.ctx.igd),
        shared: shared.clone(),
        gena,
        conns: RefCell::new(ConnTable::new(
            shared.ctx.http_max_connections,
            MAX_CONNECTIONS_PER_CLIENT,
        )),
    });
    let mut port = shared.ctx.http_port;
    let mut addrs = Vec::new();
    for lan in &shared.ctx.lan {
        let listener = bind_listener(SocketAddr::from((lan.addr, port)))?;
        let local = listener.local_addr()?;
        port = local.port();
        tracing::info!("upnp: http server bound, description at http://{local}/rootDesc.xml");
        addrs.push(local);
        tasks.push(tokio::task::spawn_local(accept_loop(
            server.clone(),
            listener,
        )));
    }
    if let Some(v6) = &shared.ctx.ipv6 {
        for lan in &v6.lan {
            let listener = bind_listener(SocketAddr::from((lan.addr, port)))?;
            let local = listener.local_addr()?;
            tracing::info!("upnp: http server bound, description at http://{local}/rootDesc.xml");
            addrs.push(local);
            tasks.push(tokio::task::spawn_local(accept_loop(
                server.clone(),
                listener,
            )));
        }
    }
    Ok(addrs)
}

fn bind_listener(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.set_reuse_address(true)?;
    sock.set_nonblocking(true)?;
    crate::netif::bind_to_interface_of(&sock, addr.ip())?;
    sock.bind(&addr.into())
        .map_err(|e| anyhow::anyhow!("upnp: cannot bind http {addr}: {e}"))?;
    sock.listen(128)?;
    Ok(TcpListener::from_std(sock.into())?)
}

async fn accept_loop(server: Rc<Server>, listener: TcpListener) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!("http: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if let Some(hook) = &server.shared.ctx.before_request {
            hook();
        }
        let peer_ip = peer.ip();
        if !server.shared.is_lan_peer(peer_ip) {
            tracing::debug!(%peer, "http: connection from outside the LAN dropped");
            continue;
        }
        let evicted = Rc::new(Notify::new());
        let admission = server.conns.borrow_mut().admit(peer_ip, evicted.clone());
        let id = match admission {
            Admission::Admitted { id, evicted } => {
                if let Some(other) = evicted {
                    tracing::debug!(%peer, "http: connection cap reached, closed a waiting connection");
                    other.notify_one();
                }
                id
            }
            Admission::Refused => {
                tracing::debug!(%peer, "http: connection cap reached, every connection busy, refused");
                let _ = stream.try_write(&error_response(503, true, &server.shared.server));
                continue;
            }
        };
        let s = server.clone();
        tokio::task::spawn_local(async move {
            let seat = Seat {
                server: &s,
                id,
                evicted,
            };
            serve(&seat, stream, peer).await;
            s.conns.borrow_mut().release(id);
        });
    }
}

async fn write_all(stream: &mut TcpStream, bytes: &[u8]) -> bool {
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(bytes)).await,
        Ok(Ok(()))
    )
}

/// How a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The peer closed, failed or was too slow to read: close at once.
    Drop,
    /// We answered and end the connection: close with `lingering_close`.
    Linger,
}

async fn serve(seat: &Seat<'_>, mut stream: TcpStream, peer: SocketAddr) {
    let mut buf = vec![0u8; 4096];
    if serve_requests(seat, &mut stream, peer, &mut buf).await == Ending::Linger {
        seat.waiting(true);
        tokio::select! {
            () = lingering_close(&mut stream, &mut buf) => {}
            () = seat.evicted.notified() => {}
        }
    }
}

/// Closes the way RFC 9112 §9.6 asks of a server that closes with input possibly
/// still on the way (a head over the cap, a body never read, a request after
/// `Connection: close`): shut down writing, so the answer and then FIN go out, read and
/// drop whatever the peer still sends until it closes, or [`LINGER_TIME`] or
/// [`LINGER_MAX_BYTES`] run out, then close. Closing with unread input at once makes the
/// kernel send a reset, which discards the answer the peer has not read yet.
async fn lingering_close(stream: &mut TcpStream, buf: &mut [u8]) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER_TIME;
    let mut drained = 0usize;
    while drained < LINGER_MAX_BYTES {
        match tokio::time::timeout_at(deadline, stream.read(buf)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => return,
        }
    }
}

/// Serves requests until the connection ends; says how to close it.
async fn serve_requests(
    seat: &Seat<'_>,
    stream: &mut TcpStream,
    peer: SocketAddr,
    buf: &mut [u8],
) -> Ending {
    let server = seat.server;
    let Ok(local) = stream.local_addr() else {
        return Ending::Drop;
    };
    let mut conn = Connection::new();
    let mut deadline = Instant::now() + IDLE_TIMEOUT;
    let mut idle = true;
    loop {
        loop {
            match conn.poll() {
                Polled::NeedMore => break,
                Polled::Closed => return Ending::Drop,
                Polled::Fail(status) => {
                    seat.waiting(false);
                    let answer = error_response(status, true, &server.shared.server);
                    return answered(write_all(stream, &answer).await);
                }
                Polled::Request(req) => {
                    seat.waiting(false);
                    if let Some(hook) = &server.shared.ctx.before_request {
                        hook();
                    }
                    let (bytes, close) = server.answer(&req, local.ip(), peer.ip());
                    let written = write_all(stream, &bytes).await;
                    if !written || close || !req.keep_alive {
                        return answered(written);
                    }
                    seat.waiting(true);
                    deadline = Instant::now() + IDLE_TIMEOUT;
                    idle = true;
                }
            }
        }
        if idle && !conn.is_idle() {
            idle = false;
            deadline = Instant::now() + REQUEST_TIMEOUT;
        }
        let read = tokio::select! {
            r = tokio::time::timeout_at(deadline, stream.read(buf)) => r,
            () = seat.evicted.notified() => {
                tracing::debug!(%peer, idle, "http: a newcomer took this waiting connection's slot");
                return Ending::Drop;
            }
        };
        match read {
            Err(_) => {
                tracing::debug!(%peer, idle, "http: deadline passed, closing");
                if idle {
                    return Ending::Drop;
                }
                seat.waiting(false);
                let answer = error_response(408, true, &server.shared.server);
                return answered(write_all(stream, &answer).await);
            }
            Ok(Err(_)) => return Ending::Drop,
            Ok(Ok(0)) => conn.feed_eof(),
            Ok(Ok(n)) => {
                conn.feed(buf.get(..n).unwrap_or_default());
                if idle {
                    idle = false;
                    deadline = Instant::now() + REQUEST_TIMEOUT;
                }
            }
        }
    }
}

/// After the last answer: linger when it was written, else drop.
fn answered(written: bool) -> Ending {
    if written {
        Ending::Linger
    } else {
        Ending::Drop
    }
}

impl Server {
    /// The response bytes and whether to close afterwards.
    fn answer(&self, req: &Request, local: IpAddr, peer: IpAddr) -> (Vec<u8>, bool) {
        let ctx = &self.shared.ctx;
        let server = self.shared.server.as_str();
        let close = !req.keep_alive;
        match route(&req.head, local, &self.docs, ctx.igd.ipv6_firewall) {
            Route::Error(status) => (
                error_response(status, status == 400 || close, server),
                status == 400 || close,
            ),
            Route::Document => {
                let path = req.head.target.split('?').next().unwrap_or("");
                let doc = self.docs.get(path).unwrap_or_default();
                (
                    xml_response(200, doc, close, server, req.head.method == Method::Head),
                    close,
                )
            }
            Route::Control(IgdService::WanIpv6FirewallControl) if ctx.ipv6.is_some() => {
                let outcome = match &ctx.ipv6 {
                    Some(v6) => v6fc::handle(
                        req.head.headers.get("SOAPAction"),
                        &req.body,
                        peer,
                        crate::clock::now(),
                        &mut *v6.pinholes.borrow_mut(),
                    ),
                    None => return (error_response(500, true, server), true),
                };
                crate::stats::note_upnp(outcome.error);
                (
                    xml_response(outcome.status, &outcome.body, close, server, false),
                    close,
                )
            }
            Route::Control(service) => {
                let requester = match peer {
                    IpAddr::V4(a) => a,
                    IpAddr::V6(a) => a.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
                };
                let outcome = {
                    let mut backend = self.shared.ctx.backend.borrow_mut();
                    soap::handle(
                        service,
                        req.head.headers.get("SOAPAction"),
                        &req.body,
                        requester,
                        SoapSettings {
                            secure_mode: backend.secure_mode(),
                            list_max_entries: ctx.list_max_entries,
                            device_version: ctx.igd.version.into(),
                            now: crate::clock::now(),
                        },
                        &ctx.igd.uuids[2],
                        &mut *backend,
                    )
                };
                crate::stats::note_upnp(outcome.error);
                // A SOAP change went through the gateway, whose event tells GENA
                // (`gena::gateway_pump`); telling it here too evaluated every
                // evented variable twice per change. Without the gateway's event
                // stream, this is the only way GENA hears of it.
                if outcome.changed && !self.shared.gateway_events {
                    self.gena.changed(UpnpEvent::MappingsChanged);
                }
                (
                    xml_response(outcome.status, &outcome.body, close, server, false),
                    close,
                )
            }
            Route::Event(service) => {
                let (gena, _) = self.gena.handle(&req.head, service, peer, local);
                let mut head = head(gena.status, server);
                for (name, value) in gena.headers.iter() {
                    head.headers.push(name, value);
                }
                if close {
                    head.headers.push("Connection", "close");
                }
                let mut out = Vec::new();
                head.emit_with_body(b"", &mut out);
                (out, close)
            }
        }
    }
}

pub mod conns;

use conns::{Admission, ConnId, ConnTable};

#[cfg(test)]
mod tests;
