//! GENA helpers for the end-to-end tests: a subscriber listening in LAN host 0 and
//! the SUBSCRIBE request that points the daemon at it.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use portgate_lab::Host;

/// The HTTP port the tests configure (`http_port=5000`).
const HTTP_PORT: u16 = 5000;

/// A GENA subscriber in LAN host 0: a listener whose NOTIFY bodies arrive on
/// a channel.
pub struct Subscriber {
    bodies: mpsc::Receiver<String>,
    stop: Arc<AtomicBool>,
    /// Where NOTIFY requests go (LAN host 0).
    pub callback: SocketAddr,
}

impl Subscriber {
    /// `delay`: how long each NOTIFY is held before it is read and answered
    /// (a slow subscriber).
    pub fn start(t: &super::TestGateway, delay: Duration) -> anyhow::Result<Subscriber> {
        let lan = t.lab.ipv4(Host::Lan(0));
        let listener = t
            .lab
            .in_netns(Host::Lan(0), move || TcpListener::bind((lan, 0)))??;
        listener.set_nonblocking(true)?;
        let callback = listener.local_addr()?;
        let (tx, bodies) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        std::thread::sleep(delay);
                        if let Ok(body) = read_notify(conn) {
                            if tx.send(body).is_err() {
                                return;
                            }
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
            }
        });
        Ok(Subscriber {
            bodies,
            stop,
            callback,
        })
    }

    /// Wait for a NOTIFY whose body contains `needle`.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.bodies.recv_timeout(left) {
                Ok(b) if b.contains(needle) => return Ok(b),
                Ok(b) => seen.push(b),
                Err(_) => bail!("no NOTIFY with {needle:?}; got {seen:#?}"),
            }
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Read one NOTIFY request (headers and Content-Length body), answer 200.
fn read_notify(mut conn: TcpStream) -> anyhow::Result<String> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let (head_end, len) = loop {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            bail!("connection closed mid-request");
        }
        data.extend_from_slice(buf.get(..n).unwrap_or_default());
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(data.get(..i).unwrap_or_default()).to_string();
            let len = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (i + 4, len);
        }
    };
    while data.len() < head_end + len {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
    Ok(String::from_utf8_lossy(data.get(head_end..).unwrap_or_default()).into_owned())
}

/// SUBSCRIBE from LAN host 0 to the event URL `path` (`/evt/IPConn`, ...) on the
/// gateway's IPv4 HTTP port; returns the SID.
pub fn subscribe(
    t: &super::TestGateway,
    path: &str,
    callback: SocketAddr,
) -> anyhow::Result<String> {
    let gw = SocketAddr::new(IpAddr::V4(t.lan_address()), HTTP_PORT);
    let mut conn = t.lab.in_netns(Host::Lan(0), move || {
        TcpStream::connect_timeout(&gw, Duration::from_secs(5))
    })??;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let req = format!(
        "SUBSCRIBE {path} HTTP/1.1\r\nHOST: {gw}\r\nCALLBACK: <http://{callback}/>\r\n\
         NT: upnp:event\r\nTIMEOUT: Second-1800\r\nContent-Length: 0\r\n\r\n"
    );
    conn.write_all(req.as_bytes())?;
    let mut resp = Vec::new();
    let mut buf = [0u8; 2048];
    while !resp.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        resp.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    let text = String::from_utf8_lossy(&resp).into_owned();
    anyhow::ensure!(text.starts_with("HTTP/1.1 200"), "SUBSCRIBE: {text}");
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("sid"))
        .map(|(_, v)| v.trim().to_owned())
        .with_context(|| format!("no SID: {text}"))
}
