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
