//! The client's error type.

use portgate_proto::http::FramingError;
use portgate_proto::upnp_error::UpnpErrorCode;
use portgate_proto::{natpmp, pcp, DecodeError};
use thiserror::Error;

/// Everything a client operation can fail with. Protocol result codes stay typed
/// (NAT-PMP, PCP and UPnP codes are carried as their enums).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A socket operation failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// No usable answer arrived before the retry schedule or deadline ran out.
    #[error("no answer from the {0} in time")]
    Timeout(&'static str),
    /// The kernel routing table has no default route for this address family.
    #[error("no default gateway in the routing table")]
    NoGateway,
    /// Discovery found no UPnP Internet Gateway Device with a WAN connection service.
    #[error("no upnp internet gateway device found")]
    NoIgd,
    /// The NAT-PMP gateway answered with a non-success result code (RFC 6886 §3.5).
    #[error("nat-pmp gateway refused: {0:?}")]
    NatPmp(natpmp::ResultCode),
    /// The PCP server answered with a non-success result code (RFC 6887 §7.4).
    #[error("pcp server refused: {code:?} (retry after {lifetime} s)")]
    Pcp {
        /// The result code.
        code: pcp::ResultCode,
        /// How long the error is valid, in seconds (RFC 6887 §7.2).
        lifetime: u32,
    },
    /// The server answered a PCP request with another protocol version (a NAT-PMP-only
    /// gateway answers version 0, RFC 6887 §9).
    #[error("the gateway does not speak pcp (it answered version {0})")]
    PcpUnsupportedVersion(u8),
    /// The UPnP device answered with a SOAP fault (UDA 1.1 §3.2.2).
    #[error("upnp error {code}: {description}")]
    Upnp {
        /// The UPnP error code.
        code: UpnpErrorCode,
        /// The device's error description.
        description: String,
    },
    /// The HTTP server answered with a status other than 200 and no UPnP fault.
    #[error("http status {0}")]
    HttpStatus(u16),
    /// The HTTP response could not be framed (too large, malformed, cut short).
    #[error("http framing: {0}")]
    Http(#[from] FramingError),
    /// A reply could not be decoded.
    #[error("malformed reply: {0}")]
    Decode(#[from] DecodeError),
    /// A reply decoded but lacks a field the operation needs, or the field is invalid.
    #[error("missing or invalid {0} in the reply")]
    BadReply(&'static str),
    /// A URL cannot be used (not `http://`, or a host name: the client never resolves
    /// names found in network data).
    #[error("unusable url: {0}")]
    Url(String),
    /// The caller passed an argument the protocol cannot carry.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
}

impl ClientError {
    /// The UPnP error code, for [`ClientError::Upnp`].
    pub fn upnp_code(&self) -> Option<u16> {
        match self {
            Self::Upnp { code, .. } => Some(code.code()),
            _ => None,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;
