//! Interface facts the daemon's drivers need from the system: which interface holds
//! a LAN address (every listening socket is tied to it with `SO_BINDTODEVICE`, as
//! miniupnpd does), and the WAN link's type, speed and state from sysfs (for
//! GetCommonLinkProperties). Protocol code never reads these itself: the values are
//! passed in.

use std::net::IpAddr;

/// The name of the interface that holds `addr`, if any.
pub fn interface_of(addr: IpAddr) -> Option<String> {
    nix::ifaddrs::getifaddrs().ok()?.find_map(|ifa| {
        let a = ifa.address.as_ref()?;
        let found = match addr {
            IpAddr::V4(v4) => a.as_sockaddr_in().is_some_and(|s| s.ip() == v4),
            IpAddr::V6(v6) => a.as_sockaddr_in6().is_some_and(|s| s.ip() == v6),
        };
        found.then(|| ifa.interface_name.clone())
    })
}

/// Ties `sock` to the interface that holds the LAN address `addr` (`SO_BINDTODEVICE`,
/// before `bind`): the kernel then hands it only what arrives on that interface, so a
/// WAN host that routes to a LAN address (or sends to the SSDP port of the WAN
/// address) finds the port closed, as it does with miniupnpd. Returns the interface;
/// `None` when no interface holds `addr` (nothing to tie it to: binding to such an
/// address fails anyway, except on loopback ranges).
pub fn bind_to_interface_of(
    sock: &socket2::Socket,
    addr: IpAddr,
) -> anyhow::Result<Option<String>> {
    let Some(name) = interface_of(addr) else {
        return Ok(None);
    };
    bind_to_interface(sock, &name)?;
    Ok(Some(name))
}

/// `SO_BINDTODEVICE` to `name`.
pub fn bind_to_interface(sock: &socket2::Socket, name: &str) -> anyhow::Result<()> {
    use anyhow::Context as _;
    sock.bind_device(Some(name.as_bytes()))
        .with_context(|| format!("SO_BINDTODEVICE {name}"))
}

/// The WAN link as sysfs shows it (`/sys/class/net/IFACE/{speed,operstate}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkFacts {
    /// Link speed in Mbit/s (`speed`); `None` when unknown (-1, unreadable, link down).
    pub speed_mbits: Option<u64>,
    /// Whether `operstate` is `up` (or `unknown`, which drivers without carrier
    /// reporting show while working).
    pub up: bool,
}

/// Reads `/sys/class/net/IFNAME/LEAF`; an error too when the name could escape
/// `/sys/class/net`.
pub fn read_sysfs(ifname: &str, leaf: &str) -> std::io::Result<String> {
    if ifname.is_empty() || ifname.contains('/') || ifname.starts_with('.') {
        return Err(std::io::ErrorKind::InvalidInput.into());
    }
    std::fs::read_to_string(format!("/sys/class/net/{ifname}/{leaf}"))
}

/// Reads the link facts of `ifname` (all unknown / down when unreadable).
pub fn link_facts(ifname: &str) -> LinkFacts {
    let read = |leaf: &str| read_sysfs(ifname, leaf);
    LinkFacts {
        speed_mbits: read("speed")
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .and_then(|v| u64::try_from(v).ok())
            .filter(|&v| v > 0),
        up: read("operstate").is_ok_and(|s| matches!(s.trim(), "up" | "unknown")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_found_and_unsafe_names_read_nothing() {
        assert_eq!(
            interface_of(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)).as_deref(),
            Some("lo")
        );
        assert_eq!(link_facts("../lo"), LinkFacts::default());
        assert_eq!(link_facts(""), LinkFacts::default());
        // Loopback has no speed (reading it fails) and is always up ("unknown").
        let lo = link_facts("lo");
        assert_eq!(lo.speed_mbits, None);
        assert!(lo.up);
    }
}
