//! SSDP (UDA 1.1 §1): the announcement set, M-SEARCH decisions ([`Responder`],
//! sans-IO) and the socket driver ([`SsdpDriver`]).
//!
//! Decisions: only `MAN: "ssdp:discover"` is answered; a multicast search needs a
//! numeric MX (capped at [`MX_CAP`] seconds, the replies are spread over it); a
//! unicast search (HOST naming the device, no MX needed) is answered at once;
//! `ssdp:all` gets one reply per announced NT; a versioned type is answered for any
//! version up to ours, echoing the requested one; searches are rate-limited per
//! sender ([`REPLIES_PER_SECOND`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::rc::Rc;
use std::time::Duration;

use portgate_proto::description::IgdConfig;
use portgate_proto::ssdp::{
    MSearch, Notify, SearchResponse, SearchTarget, SsdpMessage, UrnKind, UrnType, Usn, HOST_V4,
    MX_CAP, OPT_NLS, SSDP_MULTICAST_V4,
};
use tokio::net::UdpSocket;

use super::{lan_for, LanAddr, Shared};

/// Most reply datagrams sent to one sender per second. A search is answered only when
/// all its replies fit: an `ssdp:all` costs a dozen, so a flood of them from one host
/// is cut to a few a second, while a control point's usual burst (a few targeted
/// searches, unicast and multicast, resent once, from several commands in a row)
/// stays well inside.
pub const REPLIES_PER_SECOND: u32 = 64;

/// Longest delay before answering a multicast search, whatever its MX.
pub const MAX_REPLY_DELAY: Duration = Duration::from_millis(100);

/// How long to wait before answering a search with this reply window (MX, capped):
/// random within the first half of the window and at most [`MAX_REPLY_DELAY`]. UDA
/// 1.1 §1.3.3 asks for a random delay between 0 and MX so that many devices do not
/// answer at once; a gateway is one device, and control points pay for the delay:
/// upnpc keeps listening for its whole window after the last reply (measured in the
/// lab: 2.0 s with an immediate reply, up to 3 s with a delay drawn over MX = 2 s).
pub fn reply_delay(window_secs: u32) -> Duration {
    let ms = (u64::from(window_secs) * 1000 / 2).min(MAX_REPLY_DELAY.as_millis() as u64);
    if ms == 0 {
        Duration::ZERO
    } else {
        Duration::from_millis(fastrand::u64(0..ms))
    }
}

/// Senders tracked by the rate limiter before its table is reset (bounds memory).
pub const MAX_TRACKED_SENDERS: usize = 1024;

/// Gap between the two copies of each NOTIFY (UDA 1.1 §1.2.2: sent more than once
/// because UDP is unreliable).
pub const NOTIFY_REPEAT_GAP: Duration = Duration::from_millis(300);

/// Sends every NOTIFY `(socket, destination, bytes)` twice, [`NOTIFY_REPEAT_GAP`]
/// apart (multicast gets lost); the IPv4 and IPv6 drivers both announce this way.
pub(crate) async fn send_notify_rounds(packets: &[(&UdpSocket, SocketAddr, Vec<u8>)]) {
    for round in 0..2 {
        if round == 1 {
            tokio::time::sleep(NOTIFY_REPEAT_GAP).await;
        }
        for (sock, dest, p) in packets {
            if let Err(e) = sock.send_to(p, dest).await {
                tracing::debug!(%dest, "ssdp: notify send failed: {e}");
            }
        }
    }
}

/// When the next NOTIFY round is due: `interval` seconds from now less a random
/// jitter of up to 1/16 of it, which spreads devices that started together.
pub(crate) fn next_notify_round(interval: u64) -> tokio::time::Instant {
    let jitter = fastrand::u64(0..=interval / 16);
    tokio::time::Instant::now() + Duration::from_secs(interval - jitter)
}

/// IP TTL of multicast announcements (UDA 1.1 §1.1.2 default 2... kept at 2).
pub const MULTICAST_TTL: u32 = 2;

/// One announced notification type and its USN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announced {
    /// NT.
    pub nt: SearchTarget,
    /// USN.
    pub usn: Usn,
}

/// What to do with an M-SEARCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Do not answer (the reason is for the debug log).
    Ignore(&'static str),
    /// Answer with these (ST, USN) pairs, spread over `window_secs` (0: at once).
    Reply {
        /// Reply window in seconds.
        window_secs: u32,
        /// (ST to echo, USN) of each reply.
        replies: Vec<(SearchTarget, Usn)>,
    },
}

/// The sans-IO SSDP device: what it announces and how it answers searches.
#[derive(Debug, Clone)]
pub struct Responder {
    announced: Vec<Announced>,
    /// SERVER value.
    pub server: String,
    /// CACHE-CONTROL max-age of announcements and replies.
    pub max_age: u32,
    /// BOOTID.UPNP.ORG.
    pub boot_id: u32,
    /// CONFIGID.UPNP.ORG.
    pub config_id: u32,
    limiter: HashMap<IpAddr, (u64, u32)>,
}

impl Responder {
    /// The announcement set of the IGD tree described by `igd`.
    pub fn new(igd: &IgdConfig, server: String, notify_interval: u32, boot_id: u32) -> Self {
        let n = igd.version.number();
        let [root, wan, wcd] = &igd.uuids;
        let urn = |uuid: &str, kind, name: &str, v| {
            let nt = SearchTarget::Urn(UrnType::upnp(kind, name, v));
            Announced {
                usn: Usn::new(uuid, Some(&nt)),
                nt,
            }
        };
        let mut announced = vec![
            Announced {
                nt: SearchTarget::RootDevice,
                usn: Usn::new(root, Some(&SearchTarget::RootDevice)),
            },
            Announced {
                nt: SearchTarget::Uuid(root.clone()),
                usn: Usn::new(root, None),
            },
            urn(root, UrnKind::Device, "InternetGatewayDevice", n),
            urn(root, UrnKind::Service, "Layer3Forwarding", 1),
            Announced {
                nt: SearchTarget::Uuid(wan.clone()),
                usn: Usn::new(wan, None),
            },
            urn(wan, UrnKind::Device, "WANDevice", n),
            urn(wan, UrnKind::Service, "WANCommonInterfaceConfig", 1),
            Announced {
                nt: SearchTarget::Uuid(wcd.clone()),
                usn: Usn::new(wcd, None),
            },
            urn(wcd, UrnKind::Device, "WANConnectionDevice", n),
            urn(wcd, UrnKind::Service, "WANIPConnection", n),
        ];
        if igd.ipv6_firewall {
            announced.push(urn(wcd, UrnKind::Service, "WANIPv6FirewallControl", 1));
        }
        Self {
            announced,
            server,
            max_age: notify_interval.saturating_mul(2).max(60),
            boot_id,
            config_id: igd.config_id,
            limiter: HashMap::new(),
        }
    }

    /// Everything announced (one NOTIFY each).
    pub fn announced(&self) -> &[Announced] {
        &self.announced
    }

    /// Decides how to answer `search` from `sender` at `now` (seconds). `multicast`
    /// says whether it was sent to the group (see [`is_multicast_search`]).
    pub fn decide(
        &mut self,
        search: &MSearch,
        sender: IpAddr,
        multicast: bool,
        now: u64,
    ) -> Decision {
        if !search.man.is_discover() {
            return Decision::Ignore("MAN is not ssdp:discover");
        }
        let window_secs = match (multicast, search.mx.reply_window_secs()) {
            (true, None) => return Decision::Ignore("multicast search without a valid MX"),
            (true, Some(w)) => w.min(MX_CAP),
            (false, _) => 0,
        };
        let replies: Vec<(SearchTarget, Usn)> = match &search.st {
            SearchTarget::All => self
                .announced
                .iter()
                .map(|a| (a.nt.clone(), a.usn.clone()))
                .collect(),
            SearchTarget::RootDevice | SearchTarget::Uuid(_) => self
                .announced
                .iter()
                .filter(|a| a.nt == search.st)
                .map(|a| (a.nt.clone(), a.usn.clone()))
                .collect(),
            SearchTarget::Urn(asked) => self
                .announced
                .iter()
                .filter_map(|a| match &a.nt {
                    SearchTarget::Urn(ours) if asked.is_answered_by(ours) => {
                        let uuid = a.usn.uuid().unwrap_or_default();
                        Some((search.st.clone(), Usn::new(uuid, Some(&search.st))))
                    }
                    _ => None,
                })
                .collect(),
            SearchTarget::Other(_) => Vec::new(),
        };
        if replies.is_empty() {
            return Decision::Ignore("not a target of ours");
        }
        if !self.allow(sender, now, replies.len()) {
            return Decision::Ignore("rate limited");
        }
        Decision::Reply {
            window_secs,
            replies,
        }
    }

    fn allow(&mut self, sender: IpAddr, now: u64, cost: usize) -> bool {
        if self.limiter.len() >= MAX_TRACKED_SENDERS && !self.limiter.contains_key(&sender) {
            self.limiter.retain(|_, (t, _)| *t == now);
            if self.limiter.len() >= MAX_TRACKED_SENDERS {
                self.limiter.clear();
            }
        }
        let e = self.limiter.entry(sender).or_insert((now, 0));
        if e.0 != now {
            *e = (now, 0);
        }
        let cost = u32::try_from(cost).unwrap_or(u32::MAX);
        match e.1.checked_add(cost) {
            Some(spent) if spent <= REPLIES_PER_SECOND => {
                e.1 = spent;
                true
            }
            _ => false,
        }
    }

    /// A search response datagram.
    pub fn response(&self, st: &SearchTarget, usn: &Usn, location: &str) -> Vec<u8> {
        let mut out = Vec::new();
        SearchResponse {
            max_age: Some(self.max_age),
            date: Some(portgate_proto::http::http_date(crate::run::unix_now())),
            ext: true,
            location: Some(location.to_owned()),
            opt: Some(OPT_NLS.to_owned()),
            nls: Some(self.boot_id.to_string()),
            server: Some(self.server.clone()),
            st: st.clone(),
            usn: usn.clone(),
            boot_id: Some(self.boot_id),
            config_id: Some(self.config_id),
            search_port: None,
        }
        .emit(&mut out);
        out
    }

    /// The `ssdp:alive` NOTIFY of `a`.
    pub fn alive(&self, a: &Announced, location: &str) -> Notify {
        let mut n = Notify::alive(
            a.nt.clone(),
            a.usn.clone(),
            location,
            self.max_age,
            &self.server,
        );
        n.nls = Some(self.boot_id.to_string());
        n.boot_id = Some(self.boot_id);
        n.config_id = Some(self.config_id);
        n
    }
}

/// Whether a search went to the multicast group: its HOST names the group (or is
/// missing, as some stacks send); a unicast search names the device.
pub fn is_multicast_search(search: &MSearch) -> bool {
    match search.host.as_deref() {
        None => true,
        Some(h) => {
            let h = h.trim();
            h.eq_ignore_ascii_case(HOST_V4)
                || h.eq_ignore_ascii_case("239.255.255.250")
                || h.to_ascii_lowercase().starts_with("[ff0")
        }
    }
}

/// Whether an SSDP socket bind error means the SSDP port is taken (`EADDRINUSE`):
/// an SSDP cache daemon owns it and the device registers with it instead.
pub fn port_in_use(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::AddrInUse)
    })
}

/// A NOTIFY's datagram.
pub(crate) fn emit_notify(n: Notify) -> Vec<u8> {
    let mut out = Vec::new();
    SsdpMessage::Notify(n).emit(&mut out);
    out
}

/// The socket driver: per LAN interface, one socket on the SSDP port, tied to that
/// interface and joined to the group on each of its LAN addresses, which receives the
/// searches and sends their answers (so they leave from the SSDP port, as UDA 1.1
/// §1.3.3 has them and as a control point searching from a `connect()`ed socket, or
/// behind a host firewall that admits only replies, needs); and one NOTIFY socket per
/// LAN address.
pub struct SsdpDriver {
    shared: Rc<Shared>,
    responder: RefCell<Responder>,
    recv: Vec<Rc<UdpSocket>>,
    send: Vec<(LanAddr, Rc<UdpSocket>)>,
    http_port: u16,
}

/// The LAN addresses grouped by the interface that holds them (`None`: on no
/// interface, e.g. a loopback-range address in tests).
fn by_interface(lan: &[LanAddr]) -> Vec<(Option<String>, Vec<LanAddr>)> {
    let mut out: Vec<(Option<String>, Vec<LanAddr>)> = Vec::new();
    for l in lan {
        let name = crate::netif::interface_of(IpAddr::V4(l.addr));
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => v.push(*l),
            None => out.push((name, vec![*l])),
        }
    }
    out
}

impl SsdpDriver {
    /// Binds the sockets (fails when the SSDP port is taken: see [`port_in_use`]).
    ///
    /// The receiving sockets are bound without `SO_REUSEADDR`: UDP has no TIME_WAIT to
    /// skip, and sharing the port with an SSDP cache daemon (which sets it) would hide
    /// that the daemon is there; the bind must fail so the device registers with it.
    /// Sockets tied to different interfaces share the port without it.
    pub(crate) fn bind(shared: Rc<Shared>, http_port: u16) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let port = shared.ctx.ssdp_port;
        let mut recv = Vec::new();
        for (ifname, lans) in by_interface(&shared.ctx.lan) {
            let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
            sock.set_nonblocking(true)?;
            if let Some(name) = &ifname {
                crate::netif::bind_to_interface(&sock, name)?;
            }
            sock.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())
                .with_context(|| format!("cannot bind udp port {port}"))?;
            // Once per interface, however many addresses it holds.
            for iface in super::multicast_interfaces(&lans) {
                sock.join_multicast_v4_n(&SSDP_MULTICAST_V4, &iface)
                    .map_err(|e| anyhow::anyhow!("cannot join ssdp group on {iface:?}: {e}"))?;
            }
            tracing::info!(
                "upnp: ssdp bound to 0.0.0.0:{port} on {}",
                ifname.as_deref().unwrap_or("every interface")
            );
            recv.push(Rc::new(UdpSocket::from_std(sock.into())?));
        }
        let mut send = Vec::new();
        for lan in &shared.ctx.lan {
            let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
            s.set_nonblocking(true)?;
            s.set_multicast_if_v4(&lan.addr)?;
            s.set_multicast_ttl_v4(MULTICAST_TTL)?;
            s.set_multicast_loop_v4(false)?;
            crate::netif::bind_to_interface_of(&s, IpAddr::V4(lan.addr))?;
            s.bind(&SocketAddr::from((lan.addr, 0)).into())?;
            send.push((*lan, Rc::new(UdpSocket::from_std(s.into())?)));
        }
        let responder = Responder::new(
            &shared.ctx.igd,
            shared.server.clone(),
            shared.ctx.notify_interval,
            shared.ctx.boot_id,
        );
        Ok(Self {
            shared,
            responder: RefCell::new(responder),
            recv,
            send,
            http_port,
        })
    }

    /// The sockets on the SSDP port, one per LAN interface: run
    /// [`SsdpDriver::receive`] on each.
    pub(crate) fn receivers(&self) -> Vec<Rc<UdpSocket>> {
        self.recv.clone()
    }

    fn location(&self, lan: &LanAddr) -> String {
        format!("http://{}:{}/rootDesc.xml", lan.addr, self.http_port)
    }

    async fn send_all(&self, byebye: bool) {
        let group = SocketAddr::V4(SocketAddrV4::new(
            SSDP_MULTICAST_V4,
            self.shared.ctx.ssdp_port,
        ));
        let mut packets = Vec::new();
        for (lan, sock) in &self.send {
            let loc = self.location(lan);
            let r = self.responder.borrow();
            for a in r.announced() {
                let n = r.alive(a, &loc);
                let n = if byebye { n.to_byebye() } else { n };
                packets.push((&**sock, group, emit_notify(n)));
            }
        }
        send_notify_rounds(&packets).await;
    }

    /// Sends `ssdp:byebye` for everything announced, on every LAN.
    pub async fn byebye(&self) {
        self.send_all(true).await;
    }

    /// The announce loop.
    pub(crate) async fn run(this: Rc<Self>) {
        let interval = u64::from(this.shared.ctx.notify_interval.max(30));
        let mut next_notify = tokio::time::Instant::now();
        loop {
            tokio::time::sleep_until(next_notify).await;
            let t = this.clone();
            tokio::task::spawn_local(async move { t.send_all(false).await });
            next_notify = next_notify_round(interval);
        }
    }

    /// The receive loop of one socket on the SSDP port.
    pub(crate) async fn receive(this: Rc<Self>, sock: Rc<UdpSocket>) {
        let mut buf = vec![0u8; portgate_proto::ssdp::MAX_DATAGRAM_LEN + 1];
        loop {
            let Ok((n, src)) = sock.recv_from(&mut buf).await else {
                continue;
            };
            this.on_datagram(buf.get(..n).unwrap_or_default(), src, &sock);
        }
    }

    fn on_datagram(self: &Rc<Self>, data: &[u8], src: SocketAddr, sock: &Rc<UdpSocket>) {
        let Some(lan) = lan_for(&self.shared.ctx.lan, src.ip()) else {
            tracing::debug!(%src, "ssdp: datagram from outside the LAN dropped");
            return;
        };
        let Ok(SsdpMessage::Search(search)) = SsdpMessage::parse(data) else {
            return;
        };
        let now = crate::clock::now();
        let multicast = is_multicast_search(&search);
        let decision = self
            .responder
            .borrow_mut()
            .decide(&search, src.ip(), multicast, now);
        let Decision::Reply {
            window_secs,
            replies,
        } = decision
        else {
            if let Decision::Ignore(why) = decision {
                tracing::debug!(%src, why, "ssdp: search ignored");
            }
            return;
        };
        let loc = self.location(&lan);
        let packets: Vec<Vec<u8>> = {
            let r = self.responder.borrow();
            replies
                .iter()
                .map(|(st, usn)| r.response(st, usn, &loc))
                .collect()
        };
        let delay = reply_delay(window_secs);
        let sock = sock.clone();
        tokio::task::spawn_local(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            for p in packets {
                if let Err(e) = sock.send_to(&p, src).await {
                    tracing::debug!(%src, "ssdp: reply send failed: {e}");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests;
