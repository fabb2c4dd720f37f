//! SSDP over IPv6 (UDA 1.1 §1.1.2 and Annex A): the same [`Responder`] as IPv4, on
//! UDP `[::]:1900` joined to `ff02::c` (link-local) and `ff05::c` (site-local) on the
//! LAN interface. NOTIFYs go to both groups; LOCATION names the gateway's LAN IPv6
//! address (`http://[addr]:port/rootDesc.xml`). The socket is tied to the LAN
//! interface (`SO_BINDTODEVICE`) and answers searches itself, from port 1900.
//!
//! Senders answered: hosts of the IPv6 LAN prefixes, and link-local senders whose
//! scope is the LAN interface (clients usually search from their link-local
//! address). Everything else is dropped.

use std::cell::RefCell;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::rc::Rc;

use portgate_proto::ssdp::{
    SsdpMessage, HOST_V6_LINK_LOCAL, HOST_V6_SITE_LOCAL, SSDP_MULTICAST_V6_LINK_LOCAL,
    SSDP_MULTICAST_V6_SITE_LOCAL,
};
use tokio::net::UdpSocket;

use super::ssdp::{
    emit_notify, is_multicast_search, next_notify_round, send_notify_rounds, Decision, Responder,
    MULTICAST_TTL,
};
use super::Shared;

/// The IPv6 SSDP driver.
pub struct Ssdp6Driver {
    shared: Rc<Shared>,
    responder: RefCell<Responder>,
    sock: Rc<UdpSocket>,
    ifindex: u32,
    location: String,
}

fn is_link_local(a: Ipv6Addr) -> bool {
    (a.segments()[0] & 0xffc0) == 0xfe80
}

impl Ssdp6Driver {
    /// Binds `[::]:ssdp_port` (IPv6 only) and joins both groups on `ifindex`.
    pub(crate) fn bind(
        shared: Rc<Shared>,
        addr: Ipv6Addr,
        ifindex: u32,
        http_port: u16,
    ) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let port = shared.ctx.ssdp_port;
        let s = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::DGRAM, None)?;
        s.set_only_v6(true)?;
        s.set_nonblocking(true)?;
        s.set_multicast_if_v6(ifindex)?;
        s.set_multicast_hops_v6(MULTICAST_TTL)?;
        s.set_multicast_loop_v6(false)?;
        crate::netif::bind_to_interface_of(&s, addr.into())?;
        s.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)).into())
            .with_context(|| format!("cannot bind udp [::]:{port}"))?;
        for g in [SSDP_MULTICAST_V6_LINK_LOCAL, SSDP_MULTICAST_V6_SITE_LOCAL] {
            s.join_multicast_v6(&g, ifindex)
                .with_context(|| format!("cannot join {g} on interface {ifindex}"))?;
        }
        let responder = Responder::new(
            &shared.ctx.igd,
            shared.server.clone(),
            shared.ctx.notify_interval,
            shared.ctx.boot_id,
        );
        tracing::info!("upnp: ssdp bound to [::]:{port} (ff02::c, ff05::c)");
        Ok(Self {
            shared,
            responder: RefCell::new(responder),
            sock: Rc::new(UdpSocket::from_std(s.into())?),
            ifindex,
            location: format!("http://[{addr}]:{http_port}/rootDesc.xml"),
        })
    }

    fn sender_ok(&self, src: &SocketAddrV6) -> bool {
        let ip = *src.ip();
        if is_link_local(ip) {
            return src.scope_id() == self.ifindex;
        }
        self.shared.is_lan_peer(ip.into())
    }

    async fn send_all(&self, byebye: bool) {
        let port = self.shared.ctx.ssdp_port;
        let mut packets = Vec::new();
        for (group, host) in [
            (SSDP_MULTICAST_V6_LINK_LOCAL, HOST_V6_LINK_LOCAL),
            (SSDP_MULTICAST_V6_SITE_LOCAL, HOST_V6_SITE_LOCAL),
        ] {
            let dest = SocketAddr::V6(SocketAddrV6::new(group, port, 0, self.ifindex));
            let r = self.responder.borrow();
            for a in r.announced() {
                let mut n = r.alive(a, &self.location);
                n.host = Some(host.to_owned());
                let n = if byebye { n.to_byebye() } else { n };
                packets.push((&*self.sock, dest, emit_notify(n)));
            }
        }
        send_notify_rounds(&packets).await;
    }

    /// Sends `ssdp:byebye` for everything announced.
    pub async fn byebye(&self) {
        self.send_all(true).await;
    }

    /// The receive/announce loop.
    pub(crate) async fn run(this: Rc<Self>) {
        let interval = u64::from(this.shared.ctx.notify_interval.max(30));
        let mut next_notify = tokio::time::Instant::now();
        let mut buf = vec![0u8; portgate_proto::ssdp::MAX_DATAGRAM_LEN + 1];
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next_notify) => {
                    let t = this.clone();
                    tokio::task::spawn_local(async move { t.send_all(false).await });
                    next_notify = next_notify_round(interval);
                }
                r = this.sock.recv_from(&mut buf) => {
                    let Ok((n, SocketAddr::V6(src))) = r else { continue };
                    this.on_datagram(buf.get(..n).unwrap_or_default(), src);
                }
            }
        }
    }

    fn on_datagram(self: &Rc<Self>, data: &[u8], src: SocketAddrV6) {
        if !self.sender_ok(&src) {
            tracing::debug!(%src, "ssdp6: datagram from outside the LAN dropped");
            return;
        }
        let Ok(SsdpMessage::Search(search)) = SsdpMessage::parse(data) else {
            return;
        };
        let now = crate::clock::now();
        let multicast = is_multicast_search(&search);
        let decision =
            self.responder
                .borrow_mut()
                .decide(&search, (*src.ip()).into(), multicast, now);
        let Decision::Reply {
            window_secs,
            replies,
        } = decision
        else {
            return;
        };
        let packets: Vec<Vec<u8>> = {
            let r = self.responder.borrow();
            replies
                .iter()
                .map(|(st, usn)| r.response(st, usn, &self.location))
                .collect()
        };
        let delay = super::ssdp::reply_delay(window_secs);
        let sock = self.sock.clone();
        tokio::task::spawn_local(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            for p in packets {
                if let Err(e) = sock.send_to(&p, SocketAddr::V6(src)).await {
                    tracing::debug!(%src, "ssdp6: reply send failed: {e}");
                }
            }
        });
    }
}
