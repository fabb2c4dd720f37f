//! In-process load clients built on portgate-proto's codecs: NAT-PMP and PCP over a
//! connected `UdpSocket`, SOAP over `TcpStream` (one connection per request, as upnpc
//! does, or one kept-alive connection).
//!
//! Every socket is opened by the caller's thread; the harness runs that thread inside
//! the lab's LAN host namespace ([`portgate_lab::Lab::in_netns`]).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use portgate_proto::http::{Event, Limits, RequestHead, ResponseDecoder};
use portgate_proto::soap::{ControlResponse, SoapRequest};
use portgate_proto::{natpmp, pcp};

/// How long one request may wait for its answer before it counts as lost.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(3);

/// Lifetime asked for every mapping, seconds: long enough to outlive a run.
pub const LEASE: u32 = 3600;

/// The UPnP control URL both daemons serve WANIPConnection on.
pub const CONTROL_PATH: &str = "/ctl/IPConn";

/// The service type of the IGD:1 actions.
pub const WANIP1: &str = "urn:schemas-upnp-org:service:WANIPConnection:1";

/// The service type of the IGD:2-only actions (GetListOfPortMappings).
pub const WANIP2: &str = "urn:schemas-upnp-org:service:WANIPConnection:2";

/// Largest HTTP response body read: twice the XML parser's document cap, so that
/// the parser (not the framer) decides.
pub const MAX_RESPONSE_BODY: u64 = 2 * 1024 * 1024;

/// A NAT-PMP client on one connected UDP socket.
pub struct NatPmp {
    sock: UdpSocket,
}

impl NatPmp {
    /// Opens a socket connected to the gateway's port 5351.
    pub fn new(gateway: Ipv4Addr) -> anyhow::Result<Self> {
        let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        sock.connect((gateway, natpmp::SERVER_PORT))?;
        sock.set_read_timeout(Some(REPLY_TIMEOUT))?;
        Ok(Self { sock })
    }

    fn exchange(&self, req: &natpmp::Request) -> anyhow::Result<natpmp::Response> {
        let bytes = req.to_bytes();
        let mut buf = [0u8; 64];
        self.sock.send(&bytes)?;
        loop {
            let n = self.sock.recv(&mut buf).context("nat-pmp reply")?;
            let reply = buf.get(..n).unwrap_or_default();
            let resp = natpmp::Response::parse(reply).map_err(|e| anyhow!("nat-pmp: {e}"))?;
            if resp.opcode() == req.opcode() | natpmp::RESPONSE_BIT {
                return Ok(resp);
            }
        }
    }

    /// Asks for the external address (a cheap request used to probe readiness and
    /// latency).
    pub fn external_address(&self) -> anyhow::Result<()> {
        let resp = self.exchange(&natpmp::Request::ExternalAddress)?;
        if !resp.result().is_success() {
            bail!("nat-pmp external address: {:?}", resp.result());
        }
        Ok(())
    }

    /// Maps TCP `port` to the same external port (or deletes it with `lifetime` 0).
    pub fn map(&self, port: u16, lifetime: u32) -> anyhow::Result<()> {
        let req = natpmp::Request::Map(natpmp::MapRequest {
            protocol: natpmp::Protocol::Tcp,
            internal_port: port,
            suggested_external_port: if lifetime == 0 { 0 } else { port },
            lifetime,
        });
        let resp = self.exchange(&req)?;
        if !resp.result().is_success() {
            bail!("nat-pmp map {port}: {:?}", resp.result());
        }
        Ok(())
    }
}

/// A PCP client on one connected UDP socket.
pub struct Pcp {
    sock: UdpSocket,
    me: Ipv4Addr,
}

impl Pcp {
    /// Opens a socket connected to the gateway's port 5351; `me` is the LAN host's
    /// address (PCP's client address field).
    pub fn new(gateway: Ipv4Addr, me: Ipv4Addr) -> anyhow::Result<Self> {
        let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        sock.connect((gateway, pcp::SERVER_PORT))?;
        sock.set_read_timeout(Some(REPLY_TIMEOUT))?;
        Ok(Self { sock, me })
    }

    /// ANNOUNCE (RFC 6887 §14.1): succeeds when the server answers with success.
    pub fn announce(&self) -> anyhow::Result<()> {
        let req = pcp::Request {
            lifetime: 0,
            client_address: IpAddr::V4(self.me),
            data: pcp::OpData::Announce,
            options: Vec::new(),
        };
        self.sock.send(&req.to_bytes())?;
        let mut buf = [0u8; pcp::MAX_MESSAGE_LEN];
        let n = self.sock.recv(&mut buf).context("pcp reply")?;
        let resp = pcp::Response::parse(buf.get(..n).unwrap_or_default())
            .map_err(|e| anyhow!("pcp: {e}"))?;
        if !resp.result.is_success() {
            bail!("pcp announce: {:?}", resp.result);
        }
        Ok(())
    }

    /// MAP TCP `port` to the same external port (`lifetime` 0 deletes); the nonce is
    /// derived from the port so a refresh or delete repeats it.
    pub fn map(&self, port: u16, lifetime: u32) -> anyhow::Result<()> {
        let mut nonce = [0x5au8; pcp::NONCE_LEN];
        nonce[..2].copy_from_slice(&port.to_be_bytes());
        let req = pcp::Request {
            lifetime,
            client_address: IpAddr::V4(self.me),
            data: pcp::OpData::Map(pcp::MapData {
                nonce,
                protocol: 6,
                internal_port: port,
                external_port: port,
                external_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            }),
            options: Vec::new(),
        };
        self.sock.send(&req.to_bytes())?;
        let mut buf = [0u8; pcp::MAX_MESSAGE_LEN];
        loop {
            let n = self.sock.recv(&mut buf).context("pcp reply")?;
            let resp = pcp::Response::parse(buf.get(..n).unwrap_or_default())
                .map_err(|e| anyhow!("pcp: {e}"))?;
            if let pcp::OpData::Map(m) = &resp.data {
                if m.nonce != nonce {
                    continue;
                }
            }
            if !resp.result.is_success() {
                bail!("pcp map {port}: {:?}", resp.result);
            }
            return Ok(());
        }
    }
}

/// A SOAP client for the WANIPConnection service.
pub struct Soap {
    addr: SocketAddr,
    keep_alive: bool,
    conn: Option<TcpStream>,
    /// The LAN host's address (NewInternalClient).
    pub me: Ipv4Addr,
}

impl Soap {
    /// A client for `gateway:port`; with `keep_alive` one connection carries every
    /// request (reopened when the server closes it), otherwise each request opens its
    /// own connection and asks `Connection: close`.
    pub fn new(gateway: Ipv4Addr, port: u16, me: Ipv4Addr, keep_alive: bool) -> Self {
        Self {
            addr: (gateway, port).into(),
            keep_alive,
            conn: None,
            me,
        }
    }

    /// Invokes `action` with `args`; the fault code (if any) is an error.
    pub fn call(
        &mut self,
        service: &str,
        action: &str,
        args: &[(&str, String)],
    ) -> anyhow::Result<portgate_proto::soap::SoapResponse> {
        let req = SoapRequest {
            service_type: service.to_owned(),
            action: action.to_owned(),
            args: args
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        };
        let mut body = Vec::with_capacity(512);
        req.emit(&mut body);
        let mut head = RequestHead::new(portgate_proto::http::Method::Post, CONTROL_PATH)
            .with_header("Host", self.addr.to_string())
            .with_header("Content-Type", "text/xml; charset=\"utf-8\"")
            .with_header("SOAPAction", format!("\"{service}#{action}\""));
        if !self.keep_alive {
            head = head.with_header("Connection", "close");
        }
        let mut msg = Vec::with_capacity(body.len() + 256);
        head.emit_with_body(&body, &mut msg);

        // A kept-alive connection the server closed in the meantime is retried once.
        for attempt in 0..2 {
            let fresh = self.conn.is_none();
            let mut stream = match self.conn.take() {
                Some(s) => s,
                None => {
                    let s = TcpStream::connect_timeout(&self.addr, REPLY_TIMEOUT)?;
                    s.set_read_timeout(Some(REPLY_TIMEOUT))?;
                    s.set_nodelay(true)?;
                    s
                }
            };
            match exchange(&mut stream, &msg) {
                Ok((body, keep)) => {
                    if self.keep_alive && keep {
                        self.conn = Some(stream);
                    } else {
                        await_close(&mut stream);
                    }
                    return match ControlResponse::parse(&body)
                        .map_err(|e| anyhow!("soap {action}: {e}"))?
                    {
                        ControlResponse::Ok(r) => Ok(r),
                        ControlResponse::Fault(f) => bail!("soap {action}: fault {f:?}"),
                    };
                }
                Err(e) if !fresh && attempt == 0 => {
                    let _ = e;
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        bail!("soap {action}: connection lost")
    }

    /// AddPortMapping TCP `port` -> this host's `port` (a refresh when it exists).
    pub fn add(&mut self, port: u16) -> anyhow::Result<()> {
        self.call(
            WANIP1,
            "AddPortMapping",
            &[
                ("NewRemoteHost", String::new()),
                ("NewExternalPort", port.to_string()),
                ("NewProtocol", "TCP".into()),
                ("NewInternalPort", port.to_string()),
                ("NewInternalClient", self.me.to_string()),
                ("NewEnabled", "1".into()),
                ("NewPortMappingDescription", "bench".into()),
                ("NewLeaseDuration", LEASE.to_string()),
            ],
        )
        .map(drop)
    }

    /// DeletePortMapping TCP `port`.
    pub fn delete(&mut self, port: u16) -> anyhow::Result<()> {
        self.call(
            WANIP1,
            "DeletePortMapping",
            &[
                ("NewRemoteHost", String::new()),
                ("NewExternalPort", port.to_string()),
                ("NewProtocol", "TCP".into()),
            ],
        )
        .map(drop)
    }

    /// GetGenericPortMappingEntry at `index`.
    pub fn generic(&mut self, index: usize) -> anyhow::Result<()> {
        let r = self.call(
            WANIP1,
            "GetGenericPortMappingEntry",
            &[("NewPortMappingIndex", index.to_string())],
        )?;
        if r.arg("NewExternalPort").is_none() {
            bail!("GetGenericPortMappingEntry {index}: no NewExternalPort");
        }
        Ok(())
    }

    /// GetListOfPortMappings over every TCP port, at most `count` entries; returns the
    /// size of the listing in bytes.
    pub fn list(&mut self, count: usize) -> anyhow::Result<usize> {
        let r = self.call(
            WANIP2,
            "GetListOfPortMappings",
            &[
                ("NewStartPort", "1".into()),
                ("NewEndPort", "65535".into()),
                ("NewProtocol", "TCP".into()),
                ("NewManage", "0".into()),
                ("NewNumberOfPorts", count.to_string()),
            ],
        )?;
        Ok(r.arg("NewPortListing").map(str::len).unwrap_or(0))
    }
}

/// Reads until the server closes a connection that carries no further request, so
/// the server is the side that closes first and keeps the TIME_WAIT state. A client
/// that closed first would collect tens of thousands of TIME_WAIT sockets per LAN
/// host within seconds at these rates, and its own `connect` calls would then spend
/// the CPU searching for a free port (which starved the NAT-PMP probe and made the
/// load phase measure the client's kernel instead of the daemon).
fn await_close(stream: &mut TcpStream) {
    let mut buf = [0u8; 512];
    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
}

/// Writes `msg`, reads one response; returns its body and whether the connection
/// may carry another request.
fn exchange(stream: &mut TcpStream, msg: &[u8]) -> anyhow::Result<(Vec<u8>, bool)> {
    stream.write_all(msg)?;
    // A GetListOfPortMappings answer with 1 000 entries is larger than the framer's
    // default body cap; the XML parser still caps the document at 1 MiB.
    let mut dec = ResponseDecoder::new(Limits {
        max_body_len: MAX_RESPONSE_BODY,
        ..Limits::default()
    });
    let mut body = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut status = 0;
    loop {
        match dec.poll().map_err(|e| anyhow!("http: {e}"))? {
            Event::NeedMore => {
                let n = stream.read(&mut buf)?;
                if n == 0 {
                    dec.feed_eof();
                } else {
                    dec.feed(buf.get(..n).unwrap_or_default());
                }
            }
            Event::Head(h) => status = h.status,
            Event::Body(b) => body.extend_from_slice(b),
            Event::Complete { keep_alive } => {
                if status != 200 && status != 500 {
                    bail!("http status {status}");
                }
                return Ok((body, keep_alive));
            }
            Event::End => bail!("connection closed before a response"),
        }
    }
}
