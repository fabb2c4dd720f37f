//! The blocking front end: std sockets with timeouts driving the sans-IO cores.
//! No protocol rule lives here — only bytes and time are moved.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use portgate_proto::minissdpd;
use portgate_proto::ssdp;

use crate::error::ClientError;
use crate::http::{parse_url, HttpExchange, HttpResponse};
use crate::natpmp::{self, NatPmpConfig, NatPmpExternal, NatPmpMapping, NatPmpTransaction};
use crate::pcp::{MapParams, PcpConfig, PcpMapping, PcpTransaction, PeerParams};
use crate::route;
use crate::transaction::Transaction;
use crate::upnp::actions::{self, Call, StatusInfo};
use crate::upnp::discovery::{Discovery, DiscoveryConfig, SsdpHit};
use crate::upnp::{rank, Igd};
use crate::Protocol;

/// Default deadline of one HTTP exchange (connect, send, whole response): a LAN
/// gateway answers in milliseconds; slow or stalling servers are cut off here.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// Where MiniSSDPd-compatible cache daemons listen (MiniSSDPd's default path).
pub const MINISSDPD_SOCKET: &str = "/var/run/minissdpd.sock";

/// Deadline for asking the SSDP cache daemon: it answers from memory at once.
pub const MINISSDPD_TIMEOUT: Duration = Duration::from_millis(200);

/// Client settings shared by all operations.
#[derive(Debug, Clone)]
pub struct Client {
    /// NAT-PMP retry settings.
    pub natpmp: NatPmpConfig,
    /// PCP retransmission settings.
    pub pcp: PcpConfig,
    /// SSDP discovery settings.
    pub discovery: DiscoveryConfig,
    /// Deadline of one HTTP exchange.
    pub http_timeout: Duration,
    /// Restrict discovery (and gateway detection) to this interface.
    pub interface: Option<String>,
    /// Ask an SSDP cache daemon at this path before multicasting.
    pub minissdpd: Option<String>,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

/// One gateway found by [`Client::examine`], with what it reported.
#[derive(Debug, Clone)]
pub struct IgdReport {
    /// The SSDP answer.
    pub hit: SsdpHit,
    /// The gateway, if its description could be fetched and has a WAN service.
    pub igd: Result<Igd, String>,
    /// GetStatusInfo, if it answered.
    pub status: Option<StatusInfo>,
    /// GetExternalIPAddress, if it answered.
    pub external: Option<IpAddr>,
    /// Time to fetch and query it.
    pub elapsed: Duration,
}

impl IgdReport {
    /// The selection key (see [`rank`]); `None` when unusable.
    pub fn rank(&self) -> Option<(bool, bool, u8)> {
        self.igd
            .as_ref()
            .ok()
            .map(|i| rank(i, self.status.as_ref(), self.external))
    }
}

/// A UDP socket connected to the PCP server port of `server`, and its source address
/// (the PCP client address, RFC 6887 §8.1).
fn pcp_socket(server: IpAddr) -> Result<(UdpSocket, IpAddr), ClientError> {
    let sock = match server {
        IpAddr::V4(_) => UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?,
        IpAddr::V6(_) => UdpSocket::bind((std::net::Ipv6Addr::UNSPECIFIED, 0))?,
    };
    sock.connect((server, portgate_proto::pcp::SERVER_PORT))?;
    let local = sock.local_addr()?.ip();
    Ok((sock, local))
}

fn remaining(deadline: Instant) -> Result<Duration, ClientError> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or(ClientError::Timeout("http server"))
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

impl Client {
    /// Settings from the protocol defaults.
    pub fn new() -> Self {
        Self {
            natpmp: NatPmpConfig::default(),
            pcp: PcpConfig::default(),
            discovery: DiscoveryConfig::default(),
            http_timeout: HTTP_TIMEOUT,
            interface: None,
            minissdpd: None,
        }
    }

    /// Runs a NAT-PMP or PCP transaction to completion over a fresh UDP socket.
    pub fn run<T: Transaction>(&self, t: &mut T) -> Result<T::Output, ClientError> {
        let server = t.server();
        let sock = match server {
            SocketAddr::V4(_) => UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?,
            SocketAddr::V6(_) => UdpSocket::bind((std::net::Ipv6Addr::UNSPECIFIED, 0))?,
        };
        drive(&sock, t)
    }

    /// NAT-PMP: the gateway's external address (RFC 6886 §3.2).
    pub fn natpmp_external(&self, gateway: Ipv4Addr) -> Result<NatPmpExternal, ClientError> {
        let mut t = NatPmpTransaction::external_address(gateway, self.natpmp);
        natpmp::external_from(&self.run(&mut t)?)
    }

    /// NAT-PMP: map `internal_port` for `lifetime` seconds, suggesting `external_port`.
    pub fn natpmp_map(
        &self,
        gateway: Ipv4Addr,
        protocol: Protocol,
        internal_port: u16,
        external_port: u16,
        lifetime: u32,
    ) -> Result<NatPmpMapping, ClientError> {
        let mut t = NatPmpTransaction::map(
            gateway,
            protocol.natpmp(),
            internal_port,
            external_port,
            lifetime,
            self.natpmp,
        );
        natpmp::mapping_from(&self.run(&mut t)?)
    }

    /// NAT-PMP: delete the mapping of `internal_port` (RFC 6886 §3.4).
    pub fn natpmp_unmap(
        &self,
        gateway: Ipv4Addr,
        protocol: Protocol,
        internal_port: u16,
    ) -> Result<(), ClientError> {
        self.natpmp_map(gateway, protocol, internal_port, 0, 0)
            .map(|_| ())
    }

    /// PCP: a MAP request (create, renew with the same nonce, or delete with
    /// lifetime 0). The client address is the socket's source address.
    pub fn pcp_map(&self, server: IpAddr, params: MapParams) -> Result<PcpMapping, ClientError> {
        let (sock, local) = pcp_socket(server)?;
        let mut t = PcpTransaction::map(server, local, params, self.pcp);
        drive(&sock, &mut t)
    }

    /// PCP: a PEER request (RFC 6887 §12): create or renew the mapping the
    /// internal port's flow to the remote peer uses (lifetime 0: no longer
    /// needed). The client address is the socket's source address.
    pub fn pcp_peer(&self, server: IpAddr, params: PeerParams) -> Result<PcpMapping, ClientError> {
        let (sock, local) = pcp_socket(server)?;
        let mut t = PcpTransaction::peer(server, local, params, self.pcp);
        drive(&sock, &mut t)
    }

    /// PCP: delete a mapping made earlier (same nonce, lifetime 0, RFC 6887 §15).
    pub fn pcp_delete(&self, server: IpAddr, m: &PcpMapping) -> Result<(), ClientError> {
        let mut p = MapParams::new(m.protocol, m.internal_port, m.external_port, 0);
        p.nonce = m.nonce;
        p.suggested_external_address = crate::pcp::unspecified_like(m.external_address);
        match self.pcp_map(server, p) {
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Runs one HTTP exchange within [`Client::http_timeout`].
    pub fn http(&self, mut x: HttpExchange) -> Result<HttpResponse, ClientError> {
        let deadline = Instant::now() + self.http_timeout;
        let mut s = TcpStream::connect_timeout(&x.addr(), self.http_timeout)?;
        s.set_nodelay(true)?;
        s.set_write_timeout(Some(remaining(deadline)?))?;
        s.write_all(x.request())?;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            s.set_read_timeout(Some(remaining(deadline)?))?;
            match s.read(&mut buf) {
                Ok(0) => return x.handle_eof(),
                Ok(n) => {
                    if let Some(r) = x.handle_bytes(buf.get(..n).unwrap_or_default())? {
                        return Ok(r);
                    }
                }
                Err(e) if is_timeout(&e) => return Err(ClientError::Timeout("http server")),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Fetches and parses the description at `location`.
    pub fn fetch_igd(&self, location: &str) -> Result<Igd, ClientError> {
        let (url, _) = parse_url(location)?;
        let r = self.http(HttpExchange::get(&url)?)?;
        if r.head.status != 200 {
            return Err(ClientError::HttpStatus(r.head.status));
        }
        Igd::from_description(location, &r.body)
    }

    /// Invokes an action on `igd`.
    pub fn call<T>(&self, igd: &Igd, call: Call<T>) -> Result<T, ClientError> {
        let url = igd.control_url(&call)?;
        tracing::debug!(action = %call.request.action, url = %url.path, "soap call");
        let r = self.http(call.exchange(url)?)?;
        call.finish(&r)
    }

    /// Asks an SSDP cache daemon for IGD entries.
    pub fn query_minissdpd(&self, path: &Path) -> Result<Vec<minissdpd::Entry>, ClientError> {
        query_minissdpd(path)
    }

    fn discovery_sockets(&self) -> Result<Vec<UdpSocket>, ClientError> {
        let mut ifs = route::multicast_interfaces().unwrap_or_default();
        if let Some(want) = &self.interface {
            ifs.retain(|i| &i.name == want || i.address.to_string() == *want);
        }
        let mut out = Vec::new();
        for i in &ifs {
            let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
            s.set_multicast_if_v4(&i.address)?;
            s.set_multicast_ttl_v4(2)?;
            s.bind(&SocketAddr::new(IpAddr::V4(i.address), 0).into())?;
            out.push(UdpSocket::from(s));
        }
        if out.is_empty() {
            if self.interface.is_some() {
                return Err(ClientError::InvalidArgument("no such multicast interface"));
            }
            // No interface table readable: let the kernel pick.
            out.push(UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?);
        }
        Ok(out)
    }

    /// SSDP discovery (after the cache daemon, if configured).
    pub fn discover(&self) -> Result<Vec<SsdpHit>, ClientError> {
        let mut d = Discovery::new(self.discovery);
        let start = Instant::now();
        d.poll_transmit(start);
        if let Some(p) = &self.minissdpd {
            match query_minissdpd(Path::new(p)) {
                Ok(entries) => d.handle_cache_entries(Instant::now(), &entries),
                Err(e) => tracing::debug!(error = %e, "ssdp cache daemon not usable"),
            }
            if !d.hits().is_empty() {
                return Ok(d.into_hits());
            }
        }
        let socks = self.discovery_sockets()?;
        for s in &socks {
            s.set_nonblocking(true)?;
        }
        let dest = SocketAddr::new(IpAddr::V4(ssdp::SSDP_MULTICAST_V4), ssdp::SSDP_PORT);
        // Also ask the routing table's gateway directly: a unicast M-SEARCH is answered
        // at once (UDA 1.1 §1.3.2), a multicast one only after a random share of MX.
        if let (Ok((gw, _)), Some(s)) =
            (route::gateway_v4(self.interface.as_deref()), socks.first())
        {
            let to = SocketAddr::new(IpAddr::V4(gw), ssdp::SSDP_PORT);
            if let Err(e) = s.send_to(&Discovery::unicast_search(to), to) {
                tracing::debug!(error = %e, "unicast ssdp send failed");
            }
        }
        let mut datagrams = Discovery::searches();
        let mut buf = vec![0u8; ssdp::MAX_DATAGRAM_LEN + 1];
        loop {
            for s in &socks {
                for dg in &datagrams {
                    if let Err(e) = s.send_to(dg, dest) {
                        tracing::debug!(error = %e, "ssdp send failed");
                    }
                }
            }
            let now = Instant::now();
            if d.is_done(now) {
                return Ok(d.into_hits());
            }
            // Wait on the sockets: poll them in turn with a short blocking read on the
            // first (std has no select); a LAN answer comes within milliseconds.
            let wake = d.poll_timeout().unwrap_or(now);
            let mut got = false;
            for s in &socks {
                loop {
                    match s.recv_from(&mut buf) {
                        Ok((n, from)) => {
                            got = true;
                            d.handle_datagram(
                                Instant::now(),
                                from,
                                buf.get(..n).unwrap_or_default(),
                            );
                        }
                        Err(e) if is_timeout(&e) => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => {
                            tracing::debug!(error = %e, "ssdp receive failed");
                            break;
                        }
                    }
                }
            }
            if !got {
                let nap = wake
                    .saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(2));
                if let Some(first) = socks.first() {
                    first.set_nonblocking(false)?;
                    first.set_read_timeout(Some(nap.max(Duration::from_micros(200))))?;
                    match first.recv_from(&mut buf) {
                        Ok((n, from)) => d.handle_datagram(
                            Instant::now(),
                            from,
                            buf.get(..n).unwrap_or_default(),
                        ),
                        Err(e) if is_timeout(&e) || e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => tracing::debug!(error = %e, "ssdp receive failed"),
                    }
                    first.set_nonblocking(true)?;
                }
            }
            datagrams = d.poll_transmit(Instant::now());
        }
    }

    /// Fetches one answer's description and asks for its status and address.
    pub fn examine(&self, hit: &SsdpHit) -> IgdReport {
        let t = Instant::now();
        let igd = self.fetch_igd(&hit.location);
        let (status, external) = match &igd {
            Ok(i) => (
                self.call(i, actions::get_status_info(i.service_type()))
                    .ok(),
                self.call(i, actions::get_external_ip_address(i.service_type()))
                    .ok()
                    .flatten(),
            ),
            Err(_) => (None, None),
        };
        IgdReport {
            hit: hit.clone(),
            igd: igd.map_err(|e| e.to_string()),
            status,
            external,
            elapsed: t.elapsed(),
        }
    }

    /// Discovers and selects the best gateway. Returns as soon as one is connected
    /// with a public address (no need to hear from the others); otherwise the best
    /// ranked of those found.
    pub fn find_igd(&self) -> Result<Igd, ClientError> {
        let hits = self.discover()?;
        let mut best: Option<IgdReport> = None;
        for hit in &hits {
            let r = self.examine(hit);
            let Some(k) = r.rank() else { continue };
            if k.0 && k.1 {
                return r.igd.map_err(|_| ClientError::NoIgd);
            }
            if best
                .as_ref()
                .and_then(IgdReport::rank)
                .map_or(true, |b| k > b)
            {
                best = Some(r);
            }
        }
        best.and_then(|r| r.igd.ok()).ok_or(ClientError::NoIgd)
    }
}

/// Drives a transaction over `sock` until it has a result.
pub fn drive<T: Transaction>(sock: &UdpSocket, t: &mut T) -> Result<T::Output, ClientError> {
    let mut buf = vec![0u8; 1500];
    loop {
        if let Some(r) = t.poll_result() {
            return r;
        }
        let now = Instant::now();
        while let Some(bytes) = t.poll_transmit(now) {
            sock.send_to(&bytes, t.server())?;
        }
        let Some(wake) = t.poll_timeout() else {
            return t
                .poll_result()
                .unwrap_or(Err(ClientError::Timeout("gateway")));
        };
        let wait = wake.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            t.handle_timeout(Instant::now());
            continue;
        }
        sock.set_read_timeout(Some(wait))?;
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => {
                t.handle_datagram(Instant::now(), from, buf.get(..n).unwrap_or_default())
            }
            Err(e) if is_timeout(&e) => t.handle_timeout(Instant::now()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // ICMP port unreachable from a previous send: nobody listens (yet); keep
            // to the schedule.
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                let left = wake.saturating_duration_since(Instant::now());
                std::thread::sleep(left.min(Duration::from_millis(50)));
                t.handle_timeout(Instant::now());
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Asks the cache daemon at `path` for each IGD search target (MiniSSDPd socket protocol).
pub fn query_minissdpd(path: &Path) -> Result<Vec<minissdpd::Entry>, ClientError> {
    use std::os::unix::net::UnixStream;
    let mut out = Vec::new();
    for st in crate::upnp::discovery::SEARCH_TARGETS {
        let mut s = UnixStream::connect(path)?;
        s.set_read_timeout(Some(MINISSDPD_TIMEOUT))?;
        s.set_write_timeout(Some(MINISSDPD_TIMEOUT))?;
        let req = minissdpd::Request::ByType(st.to_string());
        let mut bytes = Vec::new();
        req.emit(&mut bytes);
        s.write_all(&bytes)?;
        let mut dec = minissdpd::ResponseDecoder::new();
        dec.sent(&req);
        let mut buf = [0u8; 4096];
        let deadline = Instant::now() + MINISSDPD_TIMEOUT;
        loop {
            match dec.poll()? {
                minissdpd::Decoded::Ready(minissdpd::Response::Entries(e)) => {
                    out.extend(e);
                    break;
                }
                minissdpd::Decoded::Ready(_) | minissdpd::Decoded::Finished => break,
                minissdpd::Decoded::NeedMore => {}
            }
            if Instant::now() >= deadline {
                return Err(ClientError::Timeout("ssdp cache daemon"));
            }
            match s.read(&mut buf) {
                Ok(0) => dec.finish(),
                Ok(n) => dec.feed(buf.get(..n).unwrap_or_default()),
                Err(e) if is_timeout(&e) => return Err(ClientError::Timeout("ssdp cache daemon")),
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(out)
}
