//! WANIPv6FirewallControl:1 actions (UPnP WANIPv6FirewallControl:1 §2.5): inbound
//! IPv6 pinholes identified by a 16-bit UniqueID, and the firewall's status.
//!
//! Faults carry the service's own 700-range codes (701 PinholeSpaceExhausted,
//! 702 FirewallDisabled, 703 InboundPinholeNotAllowed, 704 NoSuchEntry,
//! 705 ProtocolNotSupported, 706 InternalPortWildcardingNotAllowed,
//! 707 ProtocolWildcardingNotAllowed, 708 WildCardNotPermittedInSrcIP,
//! 709 NoTrafficReceived) as [`ClientError::Upnp`].

use std::net::Ipv6Addr;

use super::{bool_arg, num, unit, Call};
use crate::error::ClientError;
use crate::Protocol;

/// Service type of WANIPv6FirewallControl:1.
pub const WAN_IPV6_FIREWALL: &str = "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1";

/// Longest pinhole lease the service accepts, in seconds: `A_ARG_TYPE_LeaseTime` is
/// restricted to 1..=86400 (WANIPv6FirewallControl:1 §2.3.8).
pub const MAX_PINHOLE_LEASE: u32 = 86_400;

/// The protocol value meaning "any protocol" (WANIPv6FirewallControl:1 §2.3.5).
pub const PROTOCOL_ANY: u16 = 65_535;

/// A pinhole's protocol: an IANA protocol number on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinholeProtocol {
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// Every protocol (65535; many firewalls refuse it with 707).
    Any,
    /// Another IANA protocol number (UDP-Lite 136, SCTP 132, ...).
    Other(u16),
}

impl PinholeProtocol {
    /// The number sent in the `Protocol` argument.
    pub fn number(self) -> u16 {
        match self {
            Self::Tcp => 6,
            Self::Udp => 17,
            Self::Any => PROTOCOL_ANY,
            Self::Other(n) => n,
        }
    }

    /// The protocol for a number.
    pub fn from_number(n: u16) -> Self {
        match n {
            6 => Self::Tcp,
            17 => Self::Udp,
            PROTOCOL_ANY => Self::Any,
            n => Self::Other(n),
        }
    }
}

impl From<Protocol> for PinholeProtocol {
    fn from(p: Protocol) -> Self {
        match p {
            Protocol::Tcp => Self::Tcp,
            Protocol::Udp => Self::Udp,
        }
    }
}

impl std::fmt::Display for PinholeProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tcp => f.write_str("TCP"),
            Self::Udp => f.write_str("UDP"),
            Self::Any => f.write_str("any"),
            Self::Other(n) => write!(f, "{n}"),
        }
    }
}

/// GetFirewallStatus's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirewallStatus {
    /// Whether the IPv6 firewall is on (when off, every host is reachable anyway).
    pub enabled: bool,
    /// Whether control points may open inbound pinholes.
    pub inbound_pinhole_allowed: bool,
}

/// The 5-tuple of a pinhole (AddPinhole) or an outbound flow
/// (GetOutboundPinholeTimeout). `None` / 0 are the wildcards (empty string, port 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinholeSpec {
    /// Remote host allowed in (`None`: any).
    pub remote_host: Option<Ipv6Addr>,
    /// Remote port (0: any).
    pub remote_port: u16,
    /// The LAN host the pinhole opens to (normally the caller's own address).
    pub internal_client: Ipv6Addr,
    /// The LAN host's port (0: any, often refused with 706).
    pub internal_port: u16,
    /// Protocol.
    pub protocol: PinholeProtocol,
}

impl PinholeSpec {
    fn args(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "RemoteHost",
                self.remote_host.map(|h| h.to_string()).unwrap_or_default(),
            ),
            ("RemotePort", self.remote_port.to_string()),
            ("InternalClient", self.internal_client.to_string()),
            ("InternalPort", self.internal_port.to_string()),
            ("Protocol", self.protocol.number().to_string()),
        ]
    }
}

/// GetFirewallStatus.
pub fn get_firewall_status() -> Call<FirewallStatus> {
    Call::new(WAN_IPV6_FIREWALL, "GetFirewallStatus", &[], |r| {
        Ok(FirewallStatus {
            enabled: bool_arg(r, "FirewallEnabled")?,
            inbound_pinhole_allowed: bool_arg(r, "InboundPinholeAllowed")?,
        })
    })
}

/// GetOutboundPinholeTimeout: how long (seconds) the firewall keeps an idle outbound
/// flow with this 5-tuple open.
pub fn get_outbound_pinhole_timeout(flow: &PinholeSpec) -> Call<u32> {
    Call::new(
        WAN_IPV6_FIREWALL,
        "GetOutboundPinholeTimeout",
        &flow.args(),
        |r| num(r, "OutboundPinholeTimeout"),
    )
}

/// AddPinhole: opens `spec` for `lease` seconds (1..=[`MAX_PINHOLE_LEASE`]); the
/// answer is the pinhole's UniqueID. Fails with [`ClientError::InvalidArgument`] for a
/// lease the service cannot carry (nothing is sent).
pub fn add_pinhole(spec: &PinholeSpec, lease: u32) -> Result<Call<u16>, ClientError> {
    check_lease(lease)?;
    let mut args = spec.args();
    args.push(("LeaseTime", lease.to_string()));
    Ok(Call::new(WAN_IPV6_FIREWALL, "AddPinhole", &args, |r| {
        num(r, "UniqueID")
    }))
}

fn check_lease(lease: u32) -> Result<(), ClientError> {
    if (1..=MAX_PINHOLE_LEASE).contains(&lease) {
        Ok(())
    } else {
        Err(ClientError::InvalidArgument(
            "pinhole lease must be 1..=86400 seconds",
        ))
    }
}

/// UpdatePinhole: gives pinhole `id` a new lease (1..=[`MAX_PINHOLE_LEASE`]).
pub fn update_pinhole(id: u16, lease: u32) -> Result<Call<()>, ClientError> {
    check_lease(lease)?;
    Ok(Call::new(
        WAN_IPV6_FIREWALL,
        "UpdatePinhole",
        &[
            ("UniqueID", id.to_string()),
            ("NewLeaseTime", lease.to_string()),
        ],
        unit,
    ))
}

/// DeletePinhole.
pub fn delete_pinhole(id: u16) -> Call<()> {
    Call::new(
        WAN_IPV6_FIREWALL,
        "DeletePinhole",
        &[("UniqueID", id.to_string())],
        unit,
    )
}

/// GetPinholePackets: how many packets went through pinhole `id`.
pub fn get_pinhole_packets(id: u16) -> Call<u32> {
    Call::new(
        WAN_IPV6_FIREWALL,
        "GetPinholePackets",
        &[("UniqueID", id.to_string())],
        |r| num(r, "PinholePackets"),
    )
}

/// CheckPinholeWorking: whether traffic was seen through pinhole `id` (a service
/// that cannot tell answers 709 NoTrafficReceived, a [`ClientError::Upnp`]).
pub fn check_pinhole_working(id: u16) -> Call<bool> {
    Call::new(
        WAN_IPV6_FIREWALL,
        "CheckPinholeWorking",
        &[("UniqueID", id.to_string())],
        |r| bool_arg(r, "IsWorking"),
    )
}
