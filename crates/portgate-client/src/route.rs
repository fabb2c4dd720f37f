//! Gateway detection from the kernel routing table (`/proc/net/route`,
//! `/proc/net/ipv6_route`) and local address / interface discovery
//! (`/proc/net/fib_trie`, `/sys/class/net/*/flags`): std only, no guessing of
//! `x.x.x.1`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use crate::error::ClientError;

/// Largest routing-table file read, in bytes: a home host has a few dozen routes; a
/// full BGP table in `/proc/net/route` is far past anything a client should scan.
pub const MAX_TABLE_LEN: usize = 4 * 1024 * 1024;

/// `RTF_UP` in the route flags.
const RTF_UP: u16 = 0x1;
/// `RTF_GATEWAY` in the route flags.
const RTF_GATEWAY: u16 = 0x2;

/// One IPv4 route from `/proc/net/route`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route4 {
    /// Outgoing interface.
    pub iface: String,
    /// Destination network.
    pub destination: Ipv4Addr,
    /// Next hop (0.0.0.0 for on-link routes).
    pub gateway: Ipv4Addr,
    /// Network mask.
    pub mask: Ipv4Addr,
    /// Route metric.
    pub metric: u32,
    /// `RTF_*` flags.
    pub flags: u16,
}

impl Route4 {
    /// Whether `ip` is inside this route's destination network.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let m = u32::from(self.mask);
        u32::from(ip) & m == u32::from(self.destination) & m
    }
}

/// The kernel writes addresses as the hex of the in-memory (network order) u32, which
/// reads back little-endian on every Linux target this crate supports.
fn hex_v4(s: &str) -> Option<Ipv4Addr> {
    let v = u32::from_str_radix(s, 16).ok()?;
    Some(Ipv4Addr::from(v.to_le_bytes()))
}

/// Parses the text of `/proc/net/route`. Malformed lines are skipped.
pub fn parse_route4(text: &str) -> Vec<Route4> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            Some(Route4 {
                iface: (*f.first()?).to_string(),
                destination: hex_v4(f.get(1)?)?,
                gateway: hex_v4(f.get(2)?)?,
                flags: u16::from_str_radix(f.get(3)?, 16).ok()?,
                metric: f.get(6)?.parse().ok()?,
                mask: hex_v4(f.get(7)?)?,
            })
        })
        .collect()
}

/// The default IPv4 gateway: the up default route with a next hop and the lowest
/// metric, optionally restricted to one interface.
pub fn default_gateway4(routes: &[Route4], iface: Option<&str>) -> Option<(Ipv4Addr, String)> {
    routes
        .iter()
        .filter(|r| r.destination.is_unspecified() && u32::from(r.mask) == 0)
        .filter(|r| r.flags & (RTF_UP | RTF_GATEWAY) == RTF_UP | RTF_GATEWAY)
        .filter(|r| iface.map_or(true, |i| r.iface == i))
        .min_by_key(|r| r.metric)
        .map(|r| (r.gateway, r.iface.clone()))
}

/// Parses the text of `/proc/net/ipv6_route` and returns the default IPv6 next hop with
/// the lowest metric (and its interface).
pub fn default_gateway6(text: &str, iface: Option<&str>) -> Option<(Ipv6Addr, String)> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let prefix_len = u8::from_str_radix(f.get(1)?, 16).ok()?;
            let next_hop = u128::from_str_radix(f.get(4)?, 16)
                .ok()
                .map(Ipv6Addr::from)?;
            let metric = u32::from_str_radix(f.get(5)?, 16).ok()?;
            let flags = u32::from_str_radix(f.get(8)?, 16).ok()?;
            let dev = f.get(9)?;
            let ok = prefix_len == 0
                && !next_hop.is_unspecified()
                && flags & u32::from(RTF_UP | RTF_GATEWAY) == u32::from(RTF_UP | RTF_GATEWAY)
                && iface.map_or(true, |i| *dev == i);
            ok.then(|| (metric, next_hop, (*dev).to_string()))
        })
        .min_by_key(|(m, _, _)| *m)
        .map(|(_, g, d)| (g, d))
}

/// The local IPv4 addresses listed in `/proc/net/fib_trie` (`/32 host LOCAL`).
pub fn parse_fib_trie_locals(text: &str) -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(addr) = t.strip_prefix("|-- ") {
            last = addr.trim().parse().ok();
        } else if t.starts_with("/32 host LOCAL") {
            if let Some(a) = last.take() {
                if !a.is_loopback() && !out.contains(&a) {
                    out.push(a);
                }
            }
        }
    }
    out
}

/// Reads a /proc/net table, capped. `/proc/thread-self/net` first: `/proc/net` is the
/// network namespace of the process's main thread, while a thread that entered
/// another namespace (setns) must see its own.
fn read_capped(path: &str) -> std::io::Result<String> {
    use std::io::Read;
    let own = path
        .strip_prefix("/proc/net/")
        .map(|t| format!("/proc/thread-self/net/{t}"));
    let f = match own.map(std::fs::File::open) {
        Some(Ok(f)) => f,
        _ => std::fs::File::open(path)?,
    };
    let mut s = String::new();
    f.take(MAX_TABLE_LEN as u64).read_to_string(&mut s)?;
    Ok(s)
}

/// The default IPv4 gateway of this network namespace (lowest metric), and its
/// interface; `iface` restricts the search to one interface.
pub fn gateway_v4(iface: Option<&str>) -> Result<(Ipv4Addr, String), ClientError> {
    let text = read_capped("/proc/net/route")?;
    default_gateway4(&parse_route4(&text), iface).ok_or(ClientError::NoGateway)
}

/// The default IPv6 gateway and its interface.
pub fn gateway_v6(iface: Option<&str>) -> Result<(Ipv6Addr, String), ClientError> {
    let text = read_capped("/proc/net/ipv6_route")?;
    default_gateway6(&text, iface).ok_or(ClientError::NoGateway)
}

/// The local address the kernel would use to reach `dest`: a connected UDP socket's
/// source address (no datagram is sent).
pub fn local_address_for(dest: IpAddr) -> Result<IpAddr, ClientError> {
    let bind: SocketAddr = match dest {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let s = UdpSocket::bind(bind)?;
    s.connect((dest, 9))?;
    Ok(s.local_addr()?.ip())
}

/// A LAN interface usable for SSDP discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Interface name.
    pub name: String,
    /// Its IPv4 address.
    pub address: Ipv4Addr,
}

const IFF_UP: u32 = 0x1;
const IFF_LOOPBACK: u32 = 0x8;
const IFF_MULTICAST: u32 = 0x1000;

fn iface_flags(name: &str) -> Option<u32> {
    let s = std::fs::read_to_string(format!("/sys/class/net/{name}/flags")).ok()?;
    u32::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok()
}

/// Pairs each local address with the interface of the on-link route containing it.
pub fn match_interfaces(routes: &[Route4], locals: &[Ipv4Addr]) -> Vec<Interface> {
    let mut out = Vec::new();
    for a in locals {
        let best = routes
            .iter()
            .filter(|r| r.gateway.is_unspecified() && r.flags & RTF_UP != 0 && r.contains(*a))
            .max_by_key(|r| u32::from(r.mask).count_ones());
        if let Some(r) = best {
            out.push(Interface {
                name: r.iface.clone(),
                address: *a,
            });
        }
    }
    out
}

/// Every up, multicast-capable, non-loopback interface with an IPv4 address.
pub fn multicast_interfaces() -> Result<Vec<Interface>, ClientError> {
    let routes = parse_route4(&read_capped("/proc/net/route")?);
    let locals = parse_fib_trie_locals(&read_capped("/proc/net/fib_trie")?);
    Ok(match_interfaces(&routes, &locals)
        .into_iter()
        .filter(|i| {
            iface_flags(&i.name).map_or(true, |f| {
                f & IFF_UP != 0 && f & IFF_MULTICAST != 0 && f & IFF_LOOPBACK == 0
            })
        })
        .collect())
}

/// One IPv6 address from `/proc/net/if_inet6`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr6 {
    /// The address.
    pub address: Ipv6Addr,
    /// Interface index (the scope id of link-local addresses on it).
    pub ifindex: u32,
    /// Prefix length.
    pub prefix_len: u8,
    /// Kernel scope: 0x00 global, 0x20 link, 0x10 host (loopback), 0x40 site.
    pub scope: u8,
    /// `IFA_F_*` flags.
    pub flags: u8,
    /// Interface name.
    pub iface: String,
}

/// `IFA_F_DADFAILED`: the address failed duplicate address detection.
const IFA_F_DADFAILED: u8 = 0x08;
/// `IFA_F_DEPRECATED`: preferred lifetime over; not for new connections.
const IFA_F_DEPRECATED: u8 = 0x20;
/// `IFA_F_TENTATIVE`: DAD still running; the address cannot be used yet.
const IFA_F_TENTATIVE: u8 = 0x40;
/// `IFA_F_TEMPORARY`: a privacy address (RFC 8981): poor for inbound pinholes, since
/// it changes by design.
const IFA_F_TEMPORARY: u8 = 0x01;
/// Kernel scope of global addresses.
const SCOPE_GLOBAL: u8 = 0x00;
/// Kernel scope of link-local addresses.
const SCOPE_LINK: u8 = 0x20;

impl Addr6 {
    /// Whether the address can be the source of new traffic (not tentative,
    /// deprecated or failed).
    pub fn usable(&self) -> bool {
        self.flags & (IFA_F_DADFAILED | IFA_F_DEPRECATED | IFA_F_TENTATIVE) == 0
    }

    /// Whether it is a global-scope address.
    pub fn is_global(&self) -> bool {
        self.scope == SCOPE_GLOBAL && !self.address.is_loopback()
    }
}

/// Parses the text of `/proc/net/if_inet6` (address, ifindex, prefix length, scope,
/// flags, name; all numbers hex). Malformed lines are skipped.
pub fn parse_if_inet6(text: &str) -> Vec<Addr6> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let hex = f.first()?;
            if hex.len() != 32 {
                return None;
            }
            Some(Addr6 {
                address: Ipv6Addr::from(u128::from_str_radix(hex, 16).ok()?),
                ifindex: u32::from_str_radix(f.get(1)?, 16).ok()?,
                prefix_len: u8::from_str_radix(f.get(2)?, 16).ok()?,
                scope: u8::from_str_radix(f.get(3)?, 16).ok()?,
                flags: u8::from_str_radix(f.get(4)?, 16).ok()?,
                iface: (*f.get(5)?).to_string(),
            })
        })
        .collect()
}

/// The address to put in an IPv6 pinhole or PCP request for traffic through
/// `gateway` on `iface`: a usable global address on that interface, preferring a
/// stable one over a temporary (privacy) one and, among those, one sharing the
/// longest prefix with a global gateway.
pub fn select_ipv6_source(addrs: &[Addr6], iface: &str, gateway: Ipv6Addr) -> Option<Ipv6Addr> {
    let common = |a: Ipv6Addr| (u128::from(a) ^ u128::from(gateway)).leading_zeros();
    addrs
        .iter()
        .filter(|a| a.iface == iface && a.is_global() && a.usable())
        .max_by_key(|a| (a.flags & IFA_F_TEMPORARY == 0, common(a.address)))
        .map(|a| a.address)
}

/// The interface index of `iface` (from its IPv6 addresses), for scoping link-local
/// addresses on it.
pub fn ifindex_of(addrs: &[Addr6], iface: &str) -> Option<u32> {
    addrs.iter().find(|a| a.iface == iface).map(|a| a.ifindex)
}

/// This host's IPv6 addresses (`/proc/net/if_inet6`).
pub fn addresses_v6() -> Result<Vec<Addr6>, ClientError> {
    Ok(parse_if_inet6(&read_capped("/proc/net/if_inet6")?))
}

/// The IPv6 default gateway, its interface's index, and this host's global address to
/// use with it: everything an IPv6 pinhole or PCP request needs. A link-local gateway
/// (the usual router advertisement case) is reached with the interface as scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway6 {
    /// The next hop.
    pub gateway: Ipv6Addr,
    /// Its interface.
    pub iface: String,
    /// The interface index (scope id for a link-local gateway).
    pub ifindex: u32,
    /// This host's global address on that interface.
    pub local: Ipv6Addr,
}

/// Finds the IPv6 default gateway and the local global address to use with it.
pub fn gateway6_info(iface: Option<&str>) -> Result<Gateway6, ClientError> {
    let (gateway, dev) = gateway_v6(iface)?;
    let addrs = addresses_v6()?;
    let local = select_ipv6_source(&addrs, &dev, gateway).ok_or(ClientError::NoGateway)?;
    Ok(Gateway6 {
        gateway,
        ifindex: ifindex_of(&addrs, &dev).unwrap_or(0),
        iface: dev,
        local,
    })
}

/// An interface usable for IPv6 SSDP discovery (it has a link-local address, so it
/// can send to ff02::c).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface6 {
    /// Interface name.
    pub name: String,
    /// Interface index (the multicast interface and the scope id).
    pub index: u32,
    /// Its link-local address.
    pub link_local: Ipv6Addr,
}

/// The interfaces of `addrs` that have a usable link-local address (loopback excluded),
/// one entry per interface.
pub fn link_local_interfaces(addrs: &[Addr6]) -> Vec<Interface6> {
    let mut out: Vec<Interface6> = Vec::new();
    for a in addrs {
        if a.scope == SCOPE_LINK && a.usable() && !out.iter().any(|i| i.name == a.iface) {
            out.push(Interface6 {
                name: a.iface.clone(),
                index: a.ifindex,
                link_local: a.address,
            });
        }
    }
    out
}

/// Every up, multicast-capable, non-loopback interface with an IPv6 link-local address.
pub fn multicast_interfaces_v6() -> Result<Vec<Interface6>, ClientError> {
    Ok(link_local_interfaces(&addresses_v6()?)
        .into_iter()
        .filter(|i| {
            iface_flags(&i.name).map_or(true, |f| {
                f & IFF_UP != 0 && f & IFF_MULTICAST != 0 && f & IFF_LOOPBACK == 0
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Shaped like this machine's own /proc/net/route (columns and hex encoding as the
    // kernel prints them), with a second default route of higher metric added.
    const ROUTE: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
wlan0\t00000000\t01004D0A\t0003\t0\t0\t600\t00000000\t0\t0\t0
wlan0\t00004D0A\t00000000\t0001\t0\t0\t600\t0000FFFF\t0\t0\t0
garbage line
";

    #[test]
    fn parses_default_route() {
        let routes = parse_route4(ROUTE);
        assert_eq!(routes.len(), 4);
        assert_eq!(
            default_gateway4(&routes, None),
            Some((Ipv4Addr::new(192, 0, 2, 1), "eth0".into()))
        );
        assert_eq!(
            default_gateway4(&routes, Some("wlan0")),
            Some((Ipv4Addr::new(10, 77, 0, 1), "wlan0".into()))
        );
        assert_eq!(default_gateway4(&routes, Some("nope")), None);
        assert_eq!(default_gateway4(&parse_route4(""), None), None);
    }

    #[test]
    fn parses_ipv6_default_route() {
        let text = "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0
";
        assert_eq!(
            default_gateway6(text, None),
            Some(("fd00::1".parse().expect("v6"), "eth0".into()))
        );
    }

    #[test]
    fn finds_local_addresses_and_interfaces() {
        let trie = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n\
                    |-- 127.0.0.1\n  /32 host LOCAL\n     |-- 192.0.2.0\n   /24 link UNICAST\n\
                    |-- 192.0.2.2\n              /32 host LOCAL\nLocal:\n |-- 192.0.2.2\n /32 host LOCAL\n";
        let locals = parse_fib_trie_locals(trie);
        assert_eq!(locals, [Ipv4Addr::new(192, 0, 2, 2)]);
        let ifs = match_interfaces(&parse_route4(ROUTE), &locals);
        assert_eq!(
            ifs,
            [Interface {
                name: "eth0".into(),
                address: Ipv4Addr::new(192, 0, 2, 2)
            }]
        );
    }

    // This machine's /proc/net/ipv6_route (a container on fd00::/64 with a default
    // route via fd00::1), with a link-local default route of lower metric on another
    // interface and a garbage line added.
    #[test]
    fn ipv6_default_route_real_shape() {
        let text = "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000200 00000001 00000000 00000003     wlan0
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo
zz 00 short
";
        assert_eq!(
            default_gateway6(text, None),
            Some(("fe80::1".parse().expect("v6"), "wlan0".into()))
        );
        assert_eq!(
            default_gateway6(text, Some("eth0")),
            Some(("fd00::1".parse().expect("v6"), "eth0".into()))
        );
        // A default route that is not up, or has no next hop, is not a gateway.
        let down = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000002     eth0\n";
        assert_eq!(default_gateway6(down, None), None);
        assert_eq!(default_gateway6("", None), None);
    }

    // This machine's /proc/net/if_inet6 (loopback, a ULA and a link-local address on
    // eth0), plus constructed lines: a deprecated and a temporary global address, a
    // tentative one, and another interface.
    const IF_INET6: &str = "00000000000000000000000000000001 01 80 10 80       lo
fd000000000000000000000000000002 04 40 00 82     eth0
fe8000000000000000fc00fffe000001 04 40 20 80     eth0
20010db8000100000000000000000099 04 40 00 a0     eth0
20010db80001000000000000000000aa 04 40 00 01     eth0
20010db80001000000000000000000bb 04 40 00 40     eth0
20010db8000200000000000000000010 07 40 00 80     wan0
fe800000000000000000000000000007 07 40 20 80     wan0
bad line
";

    #[test]
    fn parses_if_inet6_and_selects_source() {
        let a = parse_if_inet6(IF_INET6);
        assert_eq!(a.len(), 8);
        assert_eq!(a[1].address, "fd00::2".parse::<Ipv6Addr>().expect("v6"));
        assert_eq!((a[1].ifindex, a[1].prefix_len, a[1].scope), (4, 64, 0));
        assert!(a[1].is_global() && a[1].usable());
        assert!(!a[0].is_global());
        // Stable beats temporary; deprecated and tentative are never picked; then the
        // longest prefix shared with the gateway.
        let gw: Ipv6Addr = "2001:db8:1::1".parse().expect("v6");
        assert_eq!(
            select_ipv6_source(&a, "eth0", gw),
            Some("fd00::2".parse().expect("v6"))
        );
        let without_ula: Vec<Addr6> = a
            .iter()
            .filter(|x| x.address.segments()[0] != 0xfd00)
            .cloned()
            .collect();
        assert_eq!(
            select_ipv6_source(&without_ula, "eth0", gw),
            Some("2001:db8:1::aa".parse().expect("v6"))
        );
        assert_eq!(
            select_ipv6_source(&a, "wan0", "fe80::1".parse().expect("v6")),
            Some("2001:db8:2::10".parse().expect("v6"))
        );
        assert_eq!(select_ipv6_source(&a, "nope", gw), None);
        assert_eq!(ifindex_of(&a, "wan0"), Some(7));
        let ifs = link_local_interfaces(&a);
        assert_eq!(
            ifs,
            [
                Interface6 {
                    name: "eth0".into(),
                    index: 4,
                    link_local: "fe80::fc:ff:fe00:1".parse().expect("v6"),
                },
                Interface6 {
                    name: "wan0".into(),
                    index: 7,
                    link_local: "fe80::7".parse().expect("v6"),
                },
            ]
        );
        assert!(parse_if_inet6("").is_empty());
        assert!(parse_if_inet6("0000 01 80 10 80 lo\n").is_empty());
    }
}
