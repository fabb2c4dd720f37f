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
}
