//! The external address: configured, read from the WAN interface, or learnt
//! with STUN; whether it is reserved; WAN interface counters.

use std::net::Ipv4Addr;

/// Reserved and private IPv4 ranges: an external address inside one of them
/// cannot be reached from the internet, so port forwarding is disabled
/// unless `ext_allow_private_ipv4` (IANA IPv4 Special-Purpose Address
/// Registry, RFC 6890; the same list as miniupnpd).
pub const RESERVED_V4: [(Ipv4Addr, u8); 14] = [
    (Ipv4Addr::new(0, 0, 0, 0), 8),
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(100, 64, 0, 0), 10),
    (Ipv4Addr::new(127, 0, 0, 0), 8),
    (Ipv4Addr::new(169, 254, 0, 0), 16),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 0, 0, 0), 24),
    (Ipv4Addr::new(192, 0, 2, 0), 24),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
    (Ipv4Addr::new(198, 18, 0, 0), 15),
    (Ipv4Addr::new(198, 51, 100, 0), 24),
    (Ipv4Addr::new(203, 0, 113, 0), 24),
    (Ipv4Addr::new(224, 0, 0, 0), 4),
    (Ipv4Addr::new(240, 0, 0, 0), 4),
];

/// Whether `addr` is in one of [`RESERVED_V4`].
pub fn is_reserved(addr: Ipv4Addr) -> bool {
    let a = u32::from(addr);
    RESERVED_V4.iter().any(|&(net, bits)| {
        let mask = u32::MAX << (32 - u32::from(bits));
        a & mask == u32::from(net) & mask
    })
}

/// How long one STUN binding transaction may take before it is given up.
pub const STUN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Why the external address could not be found.
#[derive(Debug, thiserror::Error)]
pub enum ExtAddrError {
    /// Listing the interface addresses failed.
    #[error("cannot list interface addresses: {0}")]
    Interfaces(#[source] std::io::Error),
    /// The STUN exchange failed (socket, resolution or no answer).
    #[error("stun: {0}")]
    Stun(String),
}

/// The IPv4 addresses (with prefix lengths) of interface `ifname`, read
/// with `getifaddrs` (the kernel's netlink address dump; no process).
pub fn interface_ipv4(ifname: &str) -> Result<Vec<(Ipv4Addr, u8)>, ExtAddrError> {
    let addrs = nix::ifaddrs::getifaddrs()
        .map_err(|e| ExtAddrError::Interfaces(std::io::Error::from(e)))?;
    let mut out = Vec::new();
    for ifa in addrs.filter(|a| a.interface_name == ifname) {
        let Some(ip) = ifa
            .address
            .as_ref()
            .and_then(|a| a.as_sockaddr_in())
            .map(|s| s.ip())
        else {
            continue;
        };
        let prefix = ifa
            .netmask
            .as_ref()
            .and_then(|a| a.as_sockaddr_in())
            .map(|s| u32::from(s.ip()).leading_ones())
            .and_then(|p| u8::try_from(p).ok())
            .unwrap_or(32);
        out.push((ip, prefix));
    }
    Ok(out)
}

/// The first IPv4 address of the WAN interface, if any.
pub fn wan_ipv4(ifname: &str) -> Result<Option<Ipv4Addr>, ExtAddrError> {
    Ok(interface_ipv4(ifname)?.first().map(|&(a, _)| a))
}

/// Ask a STUN server (RFC 5389 Binding over UDP) which address our packets
/// come from. One request, answered within [`STUN_TIMEOUT`].
pub async fn stun_ipv4(host: &str, port: u16, txid: [u8; 12]) -> Result<Ipv4Addr, ExtAddrError> {
    use portgate_proto::stun::{BindingRequest, BindingResponse, TransactionId};
    let err = |e: &dyn std::fmt::Display| ExtAddrError::Stun(e.to_string());
    let server = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| err(&e))?
        .find(std::net::SocketAddr::is_ipv4)
        .ok_or_else(|| ExtAddrError::Stun(format!("{host}: no IPv4 address")))?;
    let sock = tokio::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .await
        .map_err(|e| err(&e))?;
    let id = TransactionId(txid);
    sock.send_to(&BindingRequest::new(id).to_bytes(), server)
        .await
        .map_err(|e| err(&e))?;
    let mut buf = [0u8; 1500];
    let deadline = tokio::time::Instant::now() + STUN_TIMEOUT;
    loop {
        let (n, from) = tokio::time::timeout_at(deadline, sock.recv_from(&mut buf))
            .await
            .map_err(|_| ExtAddrError::Stun(format!("no answer from {server}")))?
            .map_err(|e| err(&e))?;
        if from != server {
            continue;
        }
        let Some(data) = buf.get(..n) else { continue };
        match BindingResponse::parse(data) {
            Ok(r) if r.matches(&id) => {
                return match r.mapped_address().map(|a| a.ip()) {
                    Some(std::net::IpAddr::V4(a)) => Ok(a),
                    _ => Err(ExtAddrError::Stun("no IPv4 mapped address".into())),
                }
            }
            _ => continue,
        }
    }
}

/// Find the external address as configured: `ext_ip` when set; otherwise
/// the WAN interface's address, replaced by what STUN reports when it is
/// reserved and `ext_perform_stun` is on.
pub async fn detect(cfg: &crate::config::Config) -> Option<Ipv4Addr> {
    if let Some(ip) = cfg.ext_ip {
        return Some(ip);
    }
    let ifname = cfg.ext_ifname.as_deref()?;
    let wan = match wan_ipv4(ifname) {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(%e, ifname, "cannot read the WAN address");
            None
        }
    };
    match (wan, cfg.ext_perform_stun, cfg.ext_stun_host.as_deref()) {
        (Some(a), true, Some(host)) if is_reserved(a) => {
            let txid = std::array::from_fn(|_| fastrand::u8(..));
            match stun_ipv4(host, cfg.ext_stun_port, txid).await {
                Ok(public) => Some(public),
                Err(e) => {
                    tracing::warn!(%e, "stun failed; keeping the interface address");
                    Some(a)
                }
            }
        }
        (a, _, _) => a,
    }
}

// ---- rtnetlink address watch -----------------------------------------------------

/// `RTMGRP_LINK`: link (interface) changes (linux/rtnetlink.h, legacy group bit of
/// `RTNLGRP_LINK` = 1).
const RTMGRP_LINK: u32 = 0x1;
/// `RTMGRP_IPV4_IFADDR`: IPv4 address changes (bit of `RTNLGRP_IPV4_IFADDR` = 5).
const RTMGRP_IPV4_IFADDR: u32 = 0x10;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const NLMSG_HDR_LEN: usize = 16;
/// `struct ifaddrmsg`: family, prefixlen, flags, scope, index (u32).
const IFADDRMSG_LEN: usize = 8;
/// `struct ifinfomsg`: family, pad, type (u16), index (i32), flags, change.
const IFINFOMSG_LEN: usize = 16;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFLA_IFNAME: u16 = 3;
const AF_INET: u8 = 2;
/// `IFF_UP` (administratively up).
const IFF_UP: u32 = 0x1;
/// `IFF_RUNNING` (operationally up: carrier present).
const IFF_RUNNING: u32 = 0x40;

/// Receive buffer of the address watch socket: a burst of address and link
/// notifications (a link message is about 1.5 KiB) fits in one read; more
/// waits in the socket for the next one.
pub const WATCH_BUF_LEN: usize = 32 * 1024;

/// What changed on the WAN interface, as rtnetlink reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrChange {
    /// An IPv4 address was added (`RTM_NEWADDR`).
    Added {
        /// The interface's own address (`IFA_LOCAL`).
        addr: Ipv4Addr,
        /// Its prefix length.
        prefix: u8,
    },
    /// An IPv4 address was removed (`RTM_DELADDR`).
    Removed {
        /// The address that went away.
        addr: Ipv4Addr,
        /// Its prefix length.
        prefix: u8,
    },
    /// The link is up and running (`RTM_NEWLINK` with `IFF_UP | IFF_RUNNING`).
    LinkUp,
    /// The link went down or lost carrier, or the interface was deleted.
    LinkDown,
    /// Notifications were lost (the socket buffer overflowed, `ENOBUFS`):
    /// re-read the addresses.
    Resync,
}

/// Parses a buffer of rtnetlink notifications into the changes concerning the
/// interface `ifname` (`ifindex`: its index when known; a link message naming
/// `ifname` updates it, so a re-created interface is followed). Messages for
/// other interfaces, other families and malformed messages are skipped.
pub fn parse_rtnl(buf: &[u8], ifname: &str, ifindex: &mut Option<u32>) -> Vec<AddrChange> {
    let mut out = Vec::new();
    let mut rest = buf;
    while rest.len() >= NLMSG_HDR_LEN {
        let len = rest
            .get(0..4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_ne_bytes)
            .and_then(|l| usize::try_from(l).ok())
            .unwrap_or(0);
        if len < NLMSG_HDR_LEN || len > rest.len() {
            break;
        }
        let ty = rest
            .get(4..6)
            .and_then(|b| <[u8; 2]>::try_from(b).ok())
            .map(u16::from_ne_bytes)
            .unwrap_or(0);
        let body = rest.get(NLMSG_HDR_LEN..len).unwrap_or(&[]);
        match ty {
            RTM_NEWADDR | RTM_DELADDR => {
                if let Some((index, addr, prefix)) = parse_ifaddr(body) {
                    if Some(index) == *ifindex {
                        out.push(if ty == RTM_NEWADDR {
                            AddrChange::Added { addr, prefix }
                        } else {
                            AddrChange::Removed { addr, prefix }
                        });
                    }
                }
            }
            RTM_NEWLINK | RTM_DELLINK => {
                if let Some((index, flags, name)) = parse_ifinfo(body) {
                    let named = name.as_deref() == Some(ifname.as_bytes());
                    if named && ty == RTM_NEWLINK {
                        *ifindex = Some(index);
                    }
                    if named || Some(index) == *ifindex {
                        let up = flags & (IFF_UP | IFF_RUNNING) == IFF_UP | IFF_RUNNING;
                        out.push(if ty == RTM_NEWLINK && up {
                            AddrChange::LinkUp
                        } else {
                            AddrChange::LinkDown
                        });
                        if ty == RTM_DELLINK {
                            *ifindex = None;
                        }
                    }
                }
            }
            _ => {}
        }
        let next = len.checked_add(3).map(|l| l & !3).unwrap_or(usize::MAX);
        rest = rest.get(next..).unwrap_or(&[]);
    }
    out
}

/// rtattrs: `{len: u16, type: u16, payload}` padded to 4 bytes.
fn rtattrs(mut data: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = usize::from(u16::from_ne_bytes(data.get(0..2)?.try_into().ok()?));
        let ty = u16::from_ne_bytes(data.get(2..4)?.try_into().ok()?);
        let payload = data.get(4..len)?;
        data = data.get(len.checked_add(3)? & !3..).unwrap_or(&[]);
        Some((ty, payload))
    })
}

/// (ifindex, address, prefix) of an IPv4 `ifaddrmsg`.
fn parse_ifaddr(body: &[u8]) -> Option<(u32, Ipv4Addr, u8)> {
    let (hdr, attrs) = body.split_at_checked(IFADDRMSG_LEN)?;
    if *hdr.first()? != AF_INET {
        return None;
    }
    let prefix = *hdr.get(1)?;
    let index = u32::from_ne_bytes(hdr.get(4..8)?.try_into().ok()?);
    let mut local = None;
    let mut address = None;
    for (ty, v) in rtattrs(attrs) {
        let a = <[u8; 4]>::try_from(v).ok().map(Ipv4Addr::from);
        match ty {
            IFA_LOCAL => local = a,
            IFA_ADDRESS => address = a,
            _ => {}
        }
    }
    Some((index, local.or(address)?, prefix))
}

/// (ifindex, flags, name) of an `ifinfomsg`.
fn parse_ifinfo(body: &[u8]) -> Option<(u32, u32, Option<Vec<u8>>)> {
    let (hdr, attrs) = body.split_at_checked(IFINFOMSG_LEN)?;
    let index = u32::from_ne_bytes(hdr.get(4..8)?.try_into().ok()?);
    let flags = u32::from_ne_bytes(hdr.get(8..12)?.try_into().ok()?);
    let name = rtattrs(attrs)
        .find(|&(ty, _)| ty == IFLA_IFNAME)
        .map(|(_, v)| v.split(|&c| c == 0).next().unwrap_or(&[]).to_vec());
    Some((index, flags, name))
}

/// Depth of the channel from the watch thread to the daemon: changes come in
/// small bursts; when the daemon lags, the thread waits and the kernel queues
/// (or reports an overflow, turned into [`AddrChange::Resync`]).
pub const WATCH_CHANNEL_DEPTH: usize = 16;

/// Opens an rtnetlink socket subscribed to `RTNLGRP_LINK` and
/// `RTNLGRP_IPV4_IFADDR` in the calling thread's network namespace (a socket
/// keeps its namespace, so it can be opened on a thread that entered another
/// namespace and handed to [`watch_socket`]).
pub fn watch_socket_open() -> std::io::Result<std::os::fd::OwnedFd> {
    use nix::sys::socket::{
        bind, socket, AddressFamily, NetlinkAddr, SockFlag, SockProtocol, SockType,
    };
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )?;
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &NetlinkAddr::new(0, RTMGRP_LINK | RTMGRP_IPV4_IFADDR),
    )?;
    Ok(fd)
}

/// Watches the IPv4 addresses and link state of the WAN interface `ifname`
/// (in the calling thread's namespace): the kernel pushes every change over
/// rtnetlink, nothing is polled. Each message on the returned channel is a
/// non-empty batch of changes; on any of them the daemon re-detects its
/// external address ([`detect`]). The channel closes if the socket fails.
///
/// ```ignore
/// let mut wan = extaddr::watch_addresses("eth0")?;
/// tokio::select! { Some(changes) = wan.recv() => { /* re-detect, announce */ } }
/// ```
pub fn watch_addresses(
    ifname: &str,
) -> std::io::Result<tokio::sync::mpsc::Receiver<Vec<AddrChange>>> {
    let index = nix::net::if_::if_nametoindex(ifname).ok();
    watch_socket(watch_socket_open()?, ifname, index)
}

/// [`watch_addresses`] on a socket from [`watch_socket_open`]; `ifindex` is
/// the interface's index in the socket's namespace when it exists. The socket
/// is read by a dedicated thread (blocking reads; no async registration of a
/// raw descriptor), which ends when the receiver is dropped and the next
/// change arrives.
pub fn watch_socket(
    fd: std::os::fd::OwnedFd,
    ifname: &str,
    ifindex: Option<u32>,
) -> std::io::Result<tokio::sync::mpsc::Receiver<Vec<AddrChange>>> {
    let (tx, rx) = tokio::sync::mpsc::channel(WATCH_CHANNEL_DEPTH);
    let ifname = ifname.to_owned();
    std::thread::Builder::new()
        .name("wan-watch".into())
        .spawn(move || {
            let mut ifindex = ifindex;
            let mut buf = vec![0u8; WATCH_BUF_LEN];
            loop {
                let changes = match nix::sys::socket::recv(
                    std::os::fd::AsRawFd::as_raw_fd(&fd),
                    &mut buf,
                    nix::sys::socket::MsgFlags::empty(),
                ) {
                    Ok(n) => parse_rtnl(buf.get(..n).unwrap_or(&[]), &ifname, &mut ifindex),
                    Err(nix::errno::Errno::ENOBUFS) => vec![AddrChange::Resync],
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => {
                        tracing::debug!(%e, %ifname, "rtnetlink watch failed");
                        return;
                    }
                };
                if changes.is_empty() {
                    continue;
                }
                tracing::debug!(?changes, %ifname, "WAN interface changed");
                if tx.blocking_send(changes).is_err() {
                    return;
                }
            }
        })?;
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_ranges() {
        for a in [
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "169.254.1.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.1",
            "203.0.113.1",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
        ] {
            assert!(is_reserved(a.parse().expect("addr")), "{a}");
        }
        for a in [
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.1",
            "198.17.255.255",
            "198.20.0.0",
            "203.0.114.1",
            "223.255.255.255",
        ] {
            assert!(!is_reserved(a.parse().expect("addr")), "{a}");
        }
    }

    #[test]
    fn loopback_interface_has_its_address() {
        let lo = interface_ipv4("lo").expect("getifaddrs");
        assert!(lo.contains(&(Ipv4Addr::LOCALHOST, 8)), "{lo:?}");
        assert!(interface_ipv4("no-such-if0").expect("ok").is_empty());
    }

    #[tokio::test]
    async fn stun_against_a_local_responder() {
        use portgate_proto::stun::{BindingRequest, BindingResponse};
        let server = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = server.local_addr().expect("addr").port();
        let t = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            let (n, from) = server.recv_from(&mut buf).expect("recv");
            let req = BindingRequest::parse(&buf[..n]).expect("binding request");
            let mapped = "198.51.100.77:4242".parse().expect("addr");
            let resp = BindingResponse {
                transaction_id: req.transaction_id,
                outcome: portgate_proto::stun::BindingOutcome::Success {
                    mapped_address: mapped,
                },
                software: None,
            };
            server.send_to(&resp.to_bytes(), from).expect("send");
        });
        let got = stun_ipv4("127.0.0.1", port, [7; 12]).await.expect("stun");
        assert_eq!(got, Ipv4Addr::new(198, 51, 100, 77));
        t.join().expect("responder");
    }

    /// One rtnetlink message laid out per linux/netlink.h + rtnetlink.h
    /// (host byte order headers, 4-byte aligned rtattrs); built here, not a
    /// capture.
    fn nlmsg(ty: u16, fixed: &[u8], attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = fixed.to_vec();
        for (t, v) in attrs {
            let len = u16::try_from(4 + v.len()).expect("small");
            body.extend_from_slice(&len.to_ne_bytes());
            body.extend_from_slice(&t.to_ne_bytes());
            body.extend_from_slice(v);
            while body.len() % 4 != 0 {
                body.push(0);
            }
        }
        let len = u32::try_from(NLMSG_HDR_LEN + body.len()).expect("small");
        let mut m = len.to_ne_bytes().to_vec();
        m.extend_from_slice(&ty.to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&[0; 8]);
        m.extend_from_slice(&body);
        m
    }

    fn ifaddr(ty: u16, family: u8, prefix: u8, index: u32, local: [u8; 4]) -> Vec<u8> {
        let mut fixed = vec![family, prefix, 0x80, 0];
        fixed.extend_from_slice(&index.to_ne_bytes());
        nlmsg(
            ty,
            &fixed,
            &[(IFA_ADDRESS, &local), (IFA_LOCAL, &local), (3, b"wan0\0")],
        )
    }

    fn ifinfo(ty: u16, index: u32, flags: u32, name: &[u8]) -> Vec<u8> {
        let mut fixed = vec![0u8, 0, 1, 0];
        fixed.extend_from_slice(&index.to_ne_bytes());
        fixed.extend_from_slice(&flags.to_ne_bytes());
        fixed.extend_from_slice(&0u32.to_ne_bytes());
        nlmsg(
            ty,
            &fixed,
            &[(IFLA_IFNAME, name), (4, &1500u32.to_ne_bytes())],
        )
    }

    #[test]
    fn rtnl_address_changes_of_our_interface_only() {
        let mut idx = Some(7);
        let mut buf = ifaddr(RTM_NEWADDR, AF_INET, 24, 7, [203, 0, 113, 9]);
        buf.extend(ifaddr(RTM_NEWADDR, AF_INET, 16, 8, [10, 0, 0, 1])); // other interface
        buf.extend(ifaddr(RTM_NEWADDR, 10, 64, 7, [1, 2, 3, 4])); // not IPv4
        buf.extend(ifaddr(RTM_DELADDR, AF_INET, 24, 7, [203, 0, 113, 8]));
        buf.extend(nlmsg(3, &[0; 4], &[])); // NLMSG_DONE: ignored
        assert_eq!(
            parse_rtnl(&buf, "wan0", &mut idx),
            vec![
                AddrChange::Added {
                    addr: Ipv4Addr::new(203, 0, 113, 9),
                    prefix: 24
                },
                AddrChange::Removed {
                    addr: Ipv4Addr::new(203, 0, 113, 8),
                    prefix: 24
                },
            ]
        );
    }

    #[test]
    fn rtnl_link_state_and_index_follow_the_name() {
        let mut idx = None;
        // The interface appears (index learnt from its name), then an address.
        let mut buf = ifinfo(RTM_NEWLINK, 12, IFF_UP | IFF_RUNNING, b"wan0\0");
        buf.extend(ifaddr(RTM_NEWADDR, AF_INET, 30, 12, [192, 0, 1, 2]));
        buf.extend(ifinfo(RTM_NEWLINK, 13, IFF_UP | IFF_RUNNING, b"lan0\0"));
        let got = parse_rtnl(&buf, "wan0", &mut idx);
        assert_eq!(idx, Some(12));
        assert_eq!(
            got,
            vec![
                AddrChange::LinkUp,
                AddrChange::Added {
                    addr: Ipv4Addr::new(192, 0, 1, 2),
                    prefix: 30
                }
            ]
        );
        // Carrier lost: up but not running.
        let buf = ifinfo(RTM_NEWLINK, 12, IFF_UP, b"wan0\0");
        assert_eq!(
            parse_rtnl(&buf, "wan0", &mut idx),
            vec![AddrChange::LinkDown]
        );
        // Deleted: down, index forgotten.
        let buf = ifinfo(RTM_DELLINK, 12, 0, b"wan0\0");
        assert_eq!(
            parse_rtnl(&buf, "wan0", &mut idx),
            vec![AddrChange::LinkDown]
        );
        assert_eq!(idx, None);
    }

    #[test]
    fn rtnl_hostile_buffers_do_not_panic() {
        let good = ifaddr(RTM_NEWADDR, AF_INET, 24, 7, [203, 0, 113, 9]);
        let mut idx = Some(7);
        // Every truncation: no panic, never a wrong address.
        for n in 0..good.len() {
            let got = parse_rtnl(&good[..n], "wan0", &mut idx);
            assert!(got.is_empty(), "{n}: {got:?}");
        }
        // Length fields lying: nlmsg_len 0, huge, attribute length past the end.
        let mut bad = good.clone();
        bad[0..4].copy_from_slice(&0u32.to_ne_bytes());
        assert!(parse_rtnl(&bad, "wan0", &mut idx).is_empty());
        bad[0..4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(parse_rtnl(&bad, "wan0", &mut idx).is_empty());
        let mut bad = good.clone();
        let attr_len = NLMSG_HDR_LEN + IFADDRMSG_LEN;
        bad[attr_len..attr_len + 2].copy_from_slice(&999u16.to_ne_bytes());
        assert!(parse_rtnl(&bad, "wan0", &mut idx).is_empty());
        // An address attribute of the wrong size is skipped.
        let mut fixed = vec![AF_INET, 24, 0, 0];
        fixed.extend_from_slice(&7u32.to_ne_bytes());
        let odd = nlmsg(RTM_NEWADDR, &fixed, &[(IFA_LOCAL, &[1, 2, 3])]);
        assert!(parse_rtnl(&odd, "wan0", &mut idx).is_empty());
    }

    proptest::proptest! {
        #[test]
        fn rtnl_garbage_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let mut idx = Some(1);
            let _ = parse_rtnl(&data, "wan0", &mut idx);
        }
    }

    async fn next_change(rx: &mut tokio::sync::mpsc::Receiver<Vec<AddrChange>>) -> Vec<AddrChange> {
        tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
            .await
            .expect("a change within 5 s")
            .expect("channel open")
    }

    /// In a lab gateway namespace: `ip addr add/del` on the WAN interface and
    /// `ip link set down` reach the watcher.
    #[tokio::test]
    async fn watcher_sees_address_changes_in_a_namespace() {
        use portgate_lab::{Host, Lab};
        if !portgate_lab::require() {
            return;
        }
        let lab = Lab::builder().build().expect("lab");
        let wan = lab.gateway().wan.name.clone();
        let w = wan.clone();
        let (fd, index) = lab
            .in_netns(Host::Gateway, move || {
                (
                    watch_socket_open(),
                    nix::net::if_::if_nametoindex(w.as_str()).ok(),
                )
            })
            .expect("enter the gateway namespace");
        let mut rx = watch_socket(fd.expect("socket"), &wan, index).expect("watch");
        lab.exec(
            Host::Gateway,
            &["ip", "addr", "add", "192.0.1.77/24", "dev", &wan],
        )
        .expect("ip addr add");
        let added = AddrChange::Added {
            addr: Ipv4Addr::new(192, 0, 1, 77),
            prefix: 24,
        };
        let mut seen = next_change(&mut rx).await;
        while !seen.contains(&added) {
            seen = next_change(&mut rx).await;
        }
        lab.exec(
            Host::Gateway,
            &["ip", "addr", "del", "192.0.1.77/24", "dev", &wan],
        )
        .expect("ip addr del");
        let removed = AddrChange::Removed {
            addr: Ipv4Addr::new(192, 0, 1, 77),
            prefix: 24,
        };
        let mut seen = next_change(&mut rx).await;
        while !seen.contains(&removed) {
            seen = next_change(&mut rx).await;
        }
        lab.exec(Host::Gateway, &["ip", "link", "set", &wan, "down"])
            .expect("link down");
        let mut seen = next_change(&mut rx).await;
        while !seen.contains(&AddrChange::LinkDown) {
            seen = next_change(&mut rx).await;
        }
    }
}
