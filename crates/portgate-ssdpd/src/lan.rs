//! Which senders count as "on the LAN" (SECURITY.md: SSDP from anywhere else is dropped).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address with a prefix length: the subnet of a served interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subnet {
    /// An address of the subnet (host bits are ignored).
    pub addr: IpAddr,
    /// Prefix length in bits (clamped to 32 / 128).
    pub prefix: u8,
}

impl Subnet {
    /// A subnet from an address and a prefix length.
    pub fn new(addr: IpAddr, prefix: u8) -> Self {
        Self { addr, prefix }
    }

    /// Whether `ip` lies inside this subnet (same address family only).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, unmap(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let bits = u32::from(self.prefix.min(32));
                let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let bits = u32::from(self.prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 sources (`::ffff:a.b.c.d`) are compared as IPv4.
fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The served interfaces' subnets; a sender is accepted when inside one of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LanFilter {
    subnets: Vec<Subnet>,
    link_local_v6: bool,
}

impl LanFilter {
    /// A filter accepting the given subnets only.
    pub fn new(subnets: Vec<Subnet>) -> Self {
        Self {
            subnets,
            link_local_v6: false,
        }
    }

    /// Also accept IPv6 link-local senders (fe80::/10): with `-6`, SSDP over ff02::c
    /// comes from link-local addresses, which by definition are on the served link.
    pub fn with_link_local_v6(mut self, on: bool) -> Self {
        self.link_local_v6 = on;
        self
    }

    /// The configured subnets.
    pub fn subnets(&self) -> &[Subnet] {
        &self.subnets
    }

    /// Whether `ip` may talk SSDP to us.
    pub fn accepts(&self, ip: IpAddr) -> bool {
        let ip = unmap(ip);
        if ip.is_unspecified() || ip.is_multicast() {
            return false;
        }
        if self.link_local_v6 {
            if let IpAddr::V6(v6) = ip {
                if is_link_local_v6(v6) {
                    return true;
                }
            }
        }
        if ip == IpAddr::V4(Ipv4Addr::BROADCAST) {
            return false;
        }
        self.subnets.iter().any(|s| s.contains(ip))
    }
}

fn is_link_local_v6(ip: Ipv6Addr) -> bool {
    ip.segments()[0] & 0xffc0 == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_membership() {
        let lan = LanFilter::new(vec![Subnet::new("10.77.0.1".parse().unwrap(), 24)]);
        assert!(lan.accepts("10.77.0.2".parse().unwrap()));
        assert!(lan.accepts("::ffff:10.77.0.200".parse().unwrap()));
        assert!(!lan.accepts("10.77.1.2".parse().unwrap()));
        assert!(!lan.accepts("203.0.113.2".parse().unwrap()));
        assert!(!lan.accepts("0.0.0.0".parse().unwrap()));
        assert!(!lan.accepts("239.255.255.250".parse().unwrap()));
        assert!(!lan.accepts("fe80::1".parse().unwrap()));
        assert!(lan
            .clone()
            .with_link_local_v6(true)
            .accepts("fe80::1".parse().unwrap()));
        let all = Subnet::new("10.0.0.0".parse().unwrap(), 0);
        assert!(all.contains("1.2.3.4".parse().unwrap()));
        let v6 = Subnet::new("2001:db8:1::1".parse().unwrap(), 64);
        assert!(v6.contains("2001:db8:1::99".parse().unwrap()));
        assert!(!v6.contains("2001:db8:2::99".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        assert!(!LanFilter::default().accepts("10.0.0.1".parse().unwrap()));
    }
}
