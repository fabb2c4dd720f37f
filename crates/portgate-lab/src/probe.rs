//! Reachability probes: do bytes sent from one host arrive at a listener on another?
//!
//! The sockets are opened on threads that entered the hosts' namespaces, so a probe needs no
//! helper program and checks the exact bytes received.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::{LabError, Result};
use crate::lab::{Host, Lab};

/// How often a UDP probe resends its datagram: a first datagram can be lost while the
/// gateway resolves the LAN host's MAC address or a mapping is being installed.
pub const UDP_RESEND_INTERVAL: Duration = Duration::from_millis(100);

/// Granularity of the listener's accept/receive loop.
const POLL: Duration = Duration::from_millis(5);

/// What a probe observed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProbeReport {
    /// The listener received exactly the payload.
    pub delivered: bool,
    /// Bytes the listener received (the first datagram for UDP), empty when nothing arrived.
    pub received: Vec<u8>,
    /// Source address the listener saw (after any NAT), when something arrived.
    pub peer: Option<SocketAddr>,
    /// Why the sending side failed (e.g. connection refused), if it did.
    pub sender_error: Option<String>,
}

fn unspecified(like: SocketAddr, port: u16) -> SocketAddr {
    match like {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, port).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, port).into(),
    }
}

/// How long a probe retries binding a port that is still in use: another thread of the test
/// process may have forked while the previous probe's socket was open, and the child holds
/// the descriptor until it execs.
const BIND_RETRY: Duration = Duration::from_secs(2);

fn retry_in_use<T>(mut bind: impl FnMut() -> std::io::Result<T>) -> std::io::Result<T> {
    let deadline = Instant::now() + BIND_RETRY;
    loop {
        match bind() {
            Err(e) if e.kind() == ErrorKind::AddrInUse && Instant::now() < deadline => {
                std::thread::sleep(POLL);
            }
            other => return other,
        }
    }
}

/// A listening socket that leaves the LISTEN state (`shutdown(2)`) when dropped.
struct StopOnDrop(TcpListener);

impl std::ops::Deref for StopOnDrop {
    type Target = TcpListener;
    fn deref(&self) -> &TcpListener {
        &self.0
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = rustix::net::shutdown(&self.0, rustix::net::Shutdown::Read);
    }
}

impl Lab {
    /// Whether a TCP connection from `from` to `to` delivers `payload` to a listener on
    /// `listener = (host, port)`; bounded by `timeout` (a refused connection returns `false`
    /// at once). See [`Lab::tcp_probe_report`].
    pub fn tcp_probe(
        &self,
        from: Host,
        to: SocketAddr,
        listener: (Host, u16),
        payload: &[u8],
        timeout: Duration,
    ) -> Result<bool> {
        self.tcp_probe_report(from, to, listener, payload, timeout)
            .map(|r| r.delivered)
    }

    /// Listen on TCP `listener.1` (all addresses of `to`'s family) in `listener.0`, connect
    /// from `from` to `to`, send `payload`, close; report what the listener got.
    ///
    /// Fails with [`LabError::ProbeMismatch`] when other bytes than `payload` arrive.
    pub fn tcp_probe_report(
        &self,
        from: Host,
        to: SocketAddr,
        listener: (Host, u16),
        payload: &[u8],
        timeout: Duration,
    ) -> Result<ProbeReport> {
        let bind = unspecified(to, listener.1);
        let sock = self
            .in_netns(listener.0, move || retry_in_use(|| TcpListener::bind(bind)))?
            .map_err(|e| LabError::io(format!("bind TCP {bind} in {}", listener.0), e))?;
        // Stop listening when the probe ends even if a concurrently forked child still holds
        // a copy of the descriptor (until its exec), so the next probe can bind the port.
        let sock = StopOnDrop(sock);
        sock.set_nonblocking(true)
            .map_err(|e| LabError::io("set listener non-blocking", e))?;
        let deadline = Instant::now() + timeout;
        let sender_failed = AtomicBool::new(false);
        let ns = self.netns(from).to_owned();

        let mut report = ProbeReport::default();
        std::thread::scope(|s| -> Result<()> {
            let sender = s.spawn(|| -> Option<String> {
                let result = (|| -> std::io::Result<()> {
                    crate::netns::enter_netns(&ns).map_err(std::io::Error::other)?;
                    let mut stream = TcpStream::connect_timeout(&to, timeout)?;
                    stream.set_write_timeout(Some(timeout))?;
                    stream.write_all(payload)?;
                    stream.shutdown(Shutdown::Write)?;
                    Ok(())
                })();
                let error = result.err().map(|e| e.to_string());
                if error.is_some() {
                    sender_failed.store(true, Ordering::SeqCst);
                }
                error
            });
            let accepted = loop {
                match sock.accept() {
                    Ok(conn) => break Some(conn),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        if sender_failed.load(Ordering::SeqCst) || Instant::now() >= deadline {
                            break None;
                        }
                        std::thread::sleep(POLL);
                    }
                    Err(e) => return Err(LabError::io("accept probe connection", e)),
                }
            };
            if let Some((mut conn, peer)) = accepted {
                report.peer = Some(peer);
                conn.set_nonblocking(false)
                    .map_err(|e| LabError::io("set connection blocking", e))?;
                let left = deadline.saturating_duration_since(Instant::now());
                conn.set_read_timeout(Some(left.max(POLL)))
                    .map_err(|e| LabError::io("set read timeout", e))?;
                let mut buf = Vec::new();
                // A read timeout keeps what arrived so far: compared below.
                let _ = conn.read_to_end(&mut buf);
                report.received = buf;
            }
            report.sender_error = sender
                .join()
                .unwrap_or_else(|_| Some("sender panicked".into()));
            Ok(())
        })?;
        if report.peer.is_some() {
            if report.received != payload {
                return Err(LabError::ProbeMismatch {
                    expected: payload.len(),
                    got: report.received,
                });
            }
            report.delivered = true;
        }
        Ok(report)
    }

    /// Whether a UDP datagram `payload` sent from `from` to `to` arrives at a socket bound to
    /// `listener = (host, port)` within `timeout` (the sender repeats it every
    /// [`UDP_RESEND_INTERVAL`]). A negative answer takes the whole `timeout`.
    pub fn udp_probe(
        &self,
        from: Host,
        to: SocketAddr,
        listener: (Host, u16),
        payload: &[u8],
        timeout: Duration,
    ) -> Result<bool> {
        self.udp_probe_report(from, to, listener, payload, timeout)
            .map(|r| r.delivered)
    }

    /// UDP counterpart of [`Lab::tcp_probe_report`]. `received` holds the first datagram
    /// that arrived; `delivered` is true once one equal to `payload` arrived.
    pub fn udp_probe_report(
        &self,
        from: Host,
        to: SocketAddr,
        listener: (Host, u16),
        payload: &[u8],
        timeout: Duration,
    ) -> Result<ProbeReport> {
        self.udp_probe_report_from((from, unspecified(to, 0)), to, listener, payload, timeout)
    }

    /// Like [`Lab::udp_probe`], sent from the socket address `from.1` of host `from.0`
    /// (a given source port, or a secondary address; port 0: any).
    pub fn udp_probe_from(
        &self,
        from: (Host, SocketAddr),
        to: SocketAddr,
        listener: (Host, u16),
        payload: &[u8],
        timeout: Duration,
    ) -> Result<bool> {
        self.udp_probe_report_from(from, to, listener, payload, timeout)
            .map(|r| r.delivered)
    }

    fn udp_probe_report_from(
        &self,
        (from, src): (Host, SocketAddr),
        to: SocketAddr,
        listener: (Host, u16),
        payload: &[u8],
        timeout: Duration,
    ) -> Result<ProbeReport> {
        let bind = unspecified(to, listener.1);
        let sock = self
            .in_netns(listener.0, move || retry_in_use(|| UdpSocket::bind(bind)))?
            .map_err(|e| LabError::io(format!("bind UDP {bind} in {}", listener.0), e))?;
        let sender = self
            .in_netns(from, move || UdpSocket::bind(src))?
            .map_err(|e| LabError::io(format!("bind UDP {src} in {from}"), e))?;
        sock.set_read_timeout(Some(POLL))
            .map_err(|e| LabError::io("set read timeout", e))?;
        let deadline = Instant::now() + timeout;
        let mut report = ProbeReport::default();
        let mut next_send = Instant::now();
        let mut buf = vec![0u8; 65536];
        while Instant::now() < deadline {
            if Instant::now() >= next_send {
                if let Err(e) = sender.send_to(payload, to) {
                    report.sender_error = Some(e.to_string());
                }
                next_send += UDP_RESEND_INTERVAL;
            }
            match sock.recv_from(&mut buf) {
                Ok((n, peer)) => {
                    let got = buf.get(..n).unwrap_or_default();
                    if report.peer.is_none() {
                        report.peer = Some(peer);
                        report.received = got.to_vec();
                    }
                    if got == payload {
                        report.delivered = true;
                        report.peer = Some(peer);
                        report.received = got.to_vec();
                        return Ok(report);
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(LabError::io("receive probe datagram", e)),
            }
        }
        Ok(report)
    }
}
