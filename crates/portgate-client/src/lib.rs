//! portgate-client: the library applications embed to get a port the internet can
//! reach — a UPnP IGD control point (UDA 1.1/2.0, IGD:1/IGD:2), a NAT-PMP client
//! (RFC 6886), a PCP client (RFC 6887) and the auto-renewing [`mapper`].
//!
//! Every protocol has a sans-IO core (state machines fed bytes and time):
//! [`natpmp::NatPmpTransaction`], [`pcp::PcpTransaction`] (both
//! [`transaction::Transaction`]s), [`upnp::discovery::Discovery`],
//! [`http::HttpExchange`] and the typed [`upnp::actions::Call`]s. Two thin front ends
//! move bytes between them and sockets: [`blocking`] (std only) and, with the
//! `tokio` feature, `asynch`.
//!
//! ```no_run
//! use portgate_client::{blocking, Protocol};
//! let gw = blocking::Client::new();
//! let (ip, _) = portgate_client::route::gateway_v4(None)?;
//! let m = gw.natpmp_map(ip, Protocol::Tcp, 8080, 8080, 3600)?;
//! println!("mapped to external port {}", m.external_port);
//! # Ok::<(), portgate_client::ClientError>(())
//! ```

pub mod announce;
pub mod blocking;
pub mod dualstack;
pub mod error;
pub mod http;
pub mod mapper;
pub mod natpmp;
pub mod pcp;
pub mod route;
pub mod transaction;
pub mod upnp;

#[cfg(feature = "tokio")]
pub mod asynch;

mod rand;

pub use error::{ClientError, Result};

/// A mapping's transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// The UPnP spelling (`TCP`, `UDP`).
    pub fn upnp(self) -> &'static str {
        match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
        }
    }

    /// The IANA protocol number (PCP).
    pub fn iana(self) -> u8 {
        match self {
            Self::Tcp => pcp::PROTO_TCP,
            Self::Udp => pcp::PROTO_UDP,
        }
    }

    /// The NAT-PMP protocol.
    pub fn natpmp(self) -> portgate_proto::natpmp::Protocol {
        match self {
            Self::Tcp => portgate_proto::natpmp::Protocol::Tcp,
            Self::Udp => portgate_proto::natpmp::Protocol::Udp,
        }
    }
}

impl std::str::FromStr for Protocol {
    type Err = ClientError;
    fn from_str(s: &str) -> Result<Self> {
        if s.eq_ignore_ascii_case("tcp") {
            Ok(Self::Tcp)
        } else if s.eq_ignore_ascii_case("udp") {
            Ok(Self::Udp)
        } else {
            Err(ClientError::InvalidArgument("protocol must be tcp or udp"))
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.upnp())
    }
}
