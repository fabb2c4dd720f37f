//! NAT Port Mapping Protocol (NAT-PMP), RFC 6886.
//!
//! Every NAT-PMP message starts with a version byte (always 0) and an opcode byte;
//! responses have the top bit of the opcode set (`128 + request opcode`). All
//! multi-byte fields are big-endian.
//!
//! | message | opcode | length | RFC 6886 |
//! |---|---|---|---|
//! | external address request | 0 | 2 | §3.2 |
//! | external address response / announcement | 128 | 12 | §3.2, §3.2.1 |
//! | map UDP / TCP request | 1 / 2 | 12 | §3.3 |
//! | map UDP / TCP response | 129 / 130 | 16 | §3.3 |
//! | error response to an unsupported version or opcode | 128 + op | 8 | §3.5 |
//!
//! The server side parses with [`Request::parse`]; when that fails, [`RequestHeader::peek`]
//! and [`RequestHeader::error_response`] say whether (and how) the RFC wants the request
//! answered. The client side parses with [`Response::parse`].

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::DecodeError;

/// UDP port the NAT-PMP server listens on (RFC 6886 §3.1).
pub const SERVER_PORT: u16 = 5351;
/// UDP port clients listen on for external-address announcements (RFC 6886 §3.2.1).
pub const CLIENT_PORT: u16 = 5350;
/// The all-hosts multicast group announcements are sent to (RFC 6886 §3.2.1).
pub const ANNOUNCE_MULTICAST: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);
/// The only protocol version NAT-PMP defines (RFC 6886 §3).
pub const VERSION: u8 = 0;
/// Bit set in the opcode of every response (RFC 6886 §3.2, §3.5: "128 + op").
pub const RESPONSE_BIT: u8 = 0x80;

/// A client's first retransmission timeout: 250 ms, doubled after each try
/// (RFC 6886 §3.1).
pub const INITIAL_RETRY_INTERVAL: Duration = Duration::from_millis(250);
/// How many times a client sends a request before giving up: 9 tries, i.e. about
/// 64 s in total with the doubling schedule (RFC 6886 §3.1).
pub const MAX_TRIES: u32 = 9;
/// How many times a gateway multicasts an external-address announcement after a
/// change: up to 10 times, starting 250 ms apart and doubling (RFC 6886 §3.2.1).
pub const ANNOUNCE_COUNT: u32 = 10;
/// The first interval between two announcements; it doubles each time (RFC 6886 §3.2.1).
pub const ANNOUNCE_INITIAL_INTERVAL: Duration = Duration::from_millis(250);
/// The lifetime the RFC recommends a client requests: two hours (RFC 6886 §3.3).
pub const RECOMMENDED_LIFETIME: u32 = 7200;

/// Length of an external-address request (RFC 6886 §3.2).
pub const EXTERNAL_ADDRESS_REQUEST_LEN: usize = 2;
/// Length of an external-address response and of an announcement (RFC 6886 §3.2).
pub const EXTERNAL_ADDRESS_RESPONSE_LEN: usize = 12;
/// Length of a mapping request (RFC 6886 §3.3).
pub const MAP_REQUEST_LEN: usize = 12;
/// Length of a mapping response (RFC 6886 §3.3).
pub const MAP_RESPONSE_LEN: usize = 16;
/// Length of the header every response starts with: version, opcode, result code and
/// seconds since start of epoch (RFC 6886 §3.5). An error reply to an unsupported
/// version or opcode is exactly this long.
pub const RESPONSE_HEADER_LEN: usize = 8;

const OP_EXTERNAL_ADDRESS: u8 = 0;
const OP_MAP_UDP: u8 = 1;
const OP_MAP_TCP: u8 = 2;

fn read_u16(buf: &[u8], at: usize) -> Option<u16> {
    let b = buf.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
}

fn read_u32(buf: &[u8], at: usize) -> Option<u32> {
    let b = buf.get(at..at.checked_add(4)?)?;
    let mut a = [0u8; 4];
    a.copy_from_slice(b);
    Some(u32::from_be_bytes(a))
}

fn need(buf: &[u8], what: &'static str, len: usize) -> Result<(), DecodeError> {
    if buf.len() < len {
        Err(DecodeError::truncated(what, len, buf.len()))
    } else {
        Ok(())
    }
}

/// A NAT-PMP result code (RFC 6886 §3.5). Open: codes this crate does not know are
/// kept as [`ResultCode::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResultCode {
    /// 0: success.
    Success,
    /// 1: the request's version is not 0.
    UnsupportedVersion,
    /// 2: not authorized / refused (e.g. mapping disabled by the administrator).
    NotAuthorized,
    /// 3: network failure (e.g. the gateway has no external address).
    NetworkFailure,
    /// 4: out of resources (no more mappings available).
    OutOfResources,
    /// 5: the opcode is not one this server supports.
    UnsupportedOpcode,
    /// Any other value.
    Unknown(u16),
}

impl From<u16> for ResultCode {
    fn from(v: u16) -> Self {
        match v {
            0 => Self::Success,
            1 => Self::UnsupportedVersion,
            2 => Self::NotAuthorized,
            3 => Self::NetworkFailure,
            4 => Self::OutOfResources,
            5 => Self::UnsupportedOpcode,
            n => Self::Unknown(n),
        }
    }
}

impl From<ResultCode> for u16 {
    fn from(c: ResultCode) -> Self {
        match c {
            ResultCode::Success => 0,
            ResultCode::UnsupportedVersion => 1,
            ResultCode::NotAuthorized => 2,
            ResultCode::NetworkFailure => 3,
            ResultCode::OutOfResources => 4,
            ResultCode::UnsupportedOpcode => 5,
            ResultCode::Unknown(n) => n,
        }
    }
}

impl ResultCode {
    /// True for [`ResultCode::Success`].
    pub fn is_success(self) -> bool {
        self == Self::Success
    }
}

/// The transport protocol of a mapping: opcode 1 is UDP, opcode 2 is TCP
/// (RFC 6886 §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// UDP, request opcode 1.
    Udp,
    /// TCP, request opcode 2.
    Tcp,
}

impl Protocol {
    /// The request opcode for this protocol (1 or 2).
    pub fn opcode(self) -> u8 {
        match self {
            Self::Udp => OP_MAP_UDP,
            Self::Tcp => OP_MAP_TCP,
        }
    }

    /// The protocol for a request opcode (1 or 2), `None` otherwise.
    pub fn from_opcode(op: u8) -> Option<Self> {
        match op {
            OP_MAP_UDP => Some(Self::Udp),
            OP_MAP_TCP => Some(Self::Tcp),
            _ => None,
        }
    }
}

/// The first two bytes of any NAT-PMP message: what a server can learn even from a
/// request it cannot otherwise parse (RFC 6886 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeader {
    /// The version byte (0 for NAT-PMP; 2 is PCP, see RFC 6887 §9).
    pub version: u8,
    /// The opcode byte, top bit included.
    pub opcode: u8,
}

impl RequestHeader {
    /// Reads the version and opcode. Fails only on messages shorter than 2 bytes, which
    /// a server silently drops.
    pub fn peek(buf: &[u8]) -> Result<Self, DecodeError> {
        match buf {
            [version, opcode, ..] => Ok(Self {
                version: *version,
                opcode: *opcode,
            }),
            _ => Err(DecodeError::truncated("nat-pmp header", 2, buf.len())),
        }
    }

    /// True when the opcode has its top bit set: the message is a response, and a
    /// server MUST silently ignore it (RFC 6886 §3.5).
    pub fn is_response(&self) -> bool {
        self.opcode & RESPONSE_BIT != 0
    }

    /// The reply a server owes to a request it could not parse, per RFC 6886 §3.5:
    ///
    /// - a response (opcode ≥ 128): `None`, silently ignored;
    /// - version ≠ 0: an 8-byte "Unsupported Version" reply with opcode 128 (the
    ///   corrected figure of RFC 6886 erratum 3618);
    /// - version 0 with an opcode other than 0, 1, 2: an 8-byte reply echoing the
    ///   opcode with the top bit set and "Unsupported opcode";
    /// - otherwise (a supported opcode, e.g. a truncated mapping request): `None`.
    pub fn error_response(&self, epoch: u32) -> Option<Response> {
        if self.is_response() {
            None
        } else if self.version != VERSION {
            Some(Response::Error {
                opcode: RESPONSE_BIT,
                result: ResultCode::UnsupportedVersion,
                epoch,
            })
        } else if self.opcode > OP_MAP_TCP {
            Some(Response::Error {
                opcode: self.opcode | RESPONSE_BIT,
                result: ResultCode::UnsupportedOpcode,
                epoch,
            })
        } else {
            None
        }
    }
}

/// A mapping request (RFC 6886 §3.3): opcode 1 (UDP) or 2 (TCP).
///
/// A requested lifetime of 0 destroys the mapping; lifetime 0 with internal port 0
/// destroys all of the client's mappings of that protocol (RFC 6886 §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MapRequest {
    /// UDP (opcode 1) or TCP (opcode 2).
    pub protocol: Protocol,
    /// The client's port to map.
    pub internal_port: u16,
    /// The external port the client would like; only a hint (0 = no preference).
    pub suggested_external_port: u16,
    /// Requested lifetime in seconds (0 = delete).
    pub lifetime: u32,
}

impl MapRequest {
    /// True when this request destroys a mapping (lifetime 0, RFC 6886 §3.4).
    pub fn is_delete(&self) -> bool {
        self.lifetime == 0
    }

    /// True when this request destroys all of the client's mappings of this protocol
    /// (lifetime 0 and internal port 0, RFC 6886 §3.4).
    pub fn is_delete_all(&self) -> bool {
        self.lifetime == 0 && self.internal_port == 0
    }
}

/// A NAT-PMP request as a server sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Request {
    /// Opcode 0: what is the external address? (RFC 6886 §3.2)
    ExternalAddress,
    /// Opcode 1 or 2: create, renew or destroy a mapping (RFC 6886 §3.3, §3.4).
    Map(MapRequest),
}

impl Request {
    /// Parses a request.
    ///
    /// Errors: fewer than 2 bytes or a mapping request shorter than 12 bytes →
    /// [`DecodeError::Truncated`]; version ≠ 0 → [`DecodeError::Unsupported`] (`what`
    /// = "nat-pmp version"); an opcode with the top bit set →
    /// [`DecodeError::Invalid`] (a response, to be ignored); any other unknown opcode
    /// → [`DecodeError::Unsupported`] (`what` = "nat-pmp opcode"). Use
    /// [`RequestHeader::error_response`] to decide what to answer. Bytes past the
    /// defined length are ignored, as is the reserved field.
    pub fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        let header = RequestHeader::peek(buf)?;
        if header.version != VERSION {
            return Err(DecodeError::Unsupported {
                what: "nat-pmp version",
                value: header.version.into(),
            });
        }
        if header.is_response() {
            return Err(DecodeError::invalid(
                "nat-pmp opcode",
                "response opcode in a request",
            ));
        }
        match header.opcode {
            OP_EXTERNAL_ADDRESS => Ok(Self::ExternalAddress),
            op => {
                let protocol = Protocol::from_opcode(op).ok_or(DecodeError::Unsupported {
                    what: "nat-pmp opcode",
                    value: op.into(),
                })?;
                need(buf, "nat-pmp map request", MAP_REQUEST_LEN)?;
                let err =
                    || DecodeError::truncated("nat-pmp map request", MAP_REQUEST_LEN, buf.len());
                Ok(Self::Map(MapRequest {
                    protocol,
                    internal_port: read_u16(buf, 4).ok_or_else(err)?,
                    suggested_external_port: read_u16(buf, 6).ok_or_else(err)?,
                    lifetime: read_u32(buf, 8).ok_or_else(err)?,
                }))
            }
        }
    }

    /// The request opcode (0, 1 or 2).
    pub fn opcode(&self) -> u8 {
        match self {
            Self::ExternalAddress => OP_EXTERNAL_ADDRESS,
            Self::Map(m) => m.protocol.opcode(),
        }
    }

    /// Encoded length: 2 or 12 bytes.
    pub fn buffer_len(&self) -> usize {
        match self {
            Self::ExternalAddress => EXTERNAL_ADDRESS_REQUEST_LEN,
            Self::Map(_) => MAP_REQUEST_LEN,
        }
    }

    /// Appends the encoded request to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(VERSION);
        out.push(self.opcode());
        if let Self::Map(m) = self {
            out.extend_from_slice(&[0, 0]); // reserved, MUST be 0 (§3.3)
            out.extend_from_slice(&m.internal_port.to_be_bytes());
            out.extend_from_slice(&m.suggested_external_port.to_be_bytes());
            out.extend_from_slice(&m.lifetime.to_be_bytes());
        }
    }

    /// The encoded request.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.buffer_len());
        self.emit(&mut v);
        v
    }
}

/// A NAT-PMP response as a client sees it (and as a server builds it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Response {
    /// Opcode 128: the external address (RFC 6886 §3.2). Also the format of the
    /// unsolicited announcement (§3.2.1), see [`Response::announcement`]. When
    /// `result` is not success the address is undefined and sent as 0.0.0.0.
    ExternalAddress {
        /// Result code.
        result: ResultCode,
        /// Seconds since the gateway's mapping table was (re)started (§3.6).
        epoch: u32,
        /// The gateway's external IPv4 address.
        address: Ipv4Addr,
    },
    /// Opcode 129 (UDP) or 130 (TCP): the outcome of a mapping request (RFC 6886 §3.3).
    Map {
        /// UDP or TCP, from the opcode.
        protocol: Protocol,
        /// Result code.
        result: ResultCode,
        /// Seconds since start of epoch (§3.6).
        epoch: u32,
        /// The internal port of the request.
        internal_port: u16,
        /// The external port actually mapped (0 on deletion).
        external_port: u16,
        /// Granted lifetime in seconds (0 on deletion).
        lifetime: u32,
    },
    /// The 8-byte header-only reply to a request with an unsupported version or
    /// opcode (RFC 6886 §3.5), and any non-success reply too short to carry its
    /// opcode's fields. Never has a success result code.
    Error {
        /// The response opcode (top bit set).
        opcode: u8,
        /// The (non-success) result code.
        result: ResultCode,
        /// Seconds since start of epoch (§3.6).
        epoch: u32,
    },
}

impl Response {
    /// The unsolicited announcement a gateway multicasts to
    /// [`ANNOUNCE_MULTICAST`]:[`CLIENT_PORT`] on start-up and whenever its external
    /// address changes (RFC 6886 §3.2.1): an opcode-128 success response.
    pub fn announcement(epoch: u32, address: Ipv4Addr) -> Self {
        Self::ExternalAddress {
            result: ResultCode::Success,
            epoch,
            address,
        }
    }

    /// Parses a response.
    ///
    /// Errors: version ≠ 0 → [`DecodeError::Unsupported`]; top bit of the opcode
    /// clear → [`DecodeError::Invalid`] (a request); shorter than the opcode's length
    /// (8 bytes for non-success results) → [`DecodeError::Truncated`]; a success
    /// result on an opcode other than 128..=130 → [`DecodeError::Unsupported`].
    pub fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        let header = RequestHeader::peek(buf)?;
        if header.version != VERSION {
            return Err(DecodeError::Unsupported {
                what: "nat-pmp version",
                value: header.version.into(),
            });
        }
        if !header.is_response() {
            return Err(DecodeError::invalid(
                "nat-pmp opcode",
                "request opcode in a response",
            ));
        }
        need(buf, "nat-pmp response", RESPONSE_HEADER_LEN)?;
        let short = || DecodeError::truncated("nat-pmp response", RESPONSE_HEADER_LEN, buf.len());
        let result = ResultCode::from(read_u16(buf, 2).ok_or_else(short)?);
        let epoch = read_u32(buf, 4).ok_or_else(short)?;
        let full_len = match header.opcode & !RESPONSE_BIT {
            OP_EXTERNAL_ADDRESS => EXTERNAL_ADDRESS_RESPONSE_LEN,
            OP_MAP_UDP | OP_MAP_TCP => MAP_RESPONSE_LEN,
            op => {
                if result.is_success() {
                    return Err(DecodeError::Unsupported {
                        what: "nat-pmp opcode",
                        value: op.into(),
                    });
                }
                0
            }
        };
        if buf.len() < full_len {
            if result.is_success() {
                return Err(DecodeError::truncated(
                    "nat-pmp response",
                    full_len,
                    buf.len(),
                ));
            }
            return Ok(Self::Error {
                opcode: header.opcode,
                result,
                epoch,
            });
        }
        let err = || DecodeError::truncated("nat-pmp response", full_len, buf.len());
        let op = header.opcode & !RESPONSE_BIT;
        if op == OP_EXTERNAL_ADDRESS {
            let mut octets = [0u8; 4];
            octets.copy_from_slice(buf.get(8..12).ok_or_else(err)?);
            return Ok(Self::ExternalAddress {
                result,
                epoch,
                address: Ipv4Addr::from(octets),
            });
        }
        match Protocol::from_opcode(op) {
            Some(protocol) => Ok(Self::Map {
                protocol,
                result,
                epoch,
                internal_port: read_u16(buf, 8).ok_or_else(err)?,
                external_port: read_u16(buf, 10).ok_or_else(err)?,
                lifetime: read_u32(buf, 12).ok_or_else(err)?,
            }),
            None => Ok(Self::Error {
                opcode: header.opcode,
                result,
                epoch,
            }),
        }
    }

    /// The response opcode (top bit set).
    pub fn opcode(&self) -> u8 {
        match self {
            Self::ExternalAddress { .. } => RESPONSE_BIT | OP_EXTERNAL_ADDRESS,
            Self::Map { protocol, .. } => RESPONSE_BIT | protocol.opcode(),
            Self::Error { opcode, .. } => *opcode,
        }
    }

    /// The result code.
    pub fn result(&self) -> ResultCode {
        match self {
            Self::ExternalAddress { result, .. }
            | Self::Map { result, .. }
            | Self::Error { result, .. } => *result,
        }
    }

    /// Seconds since start of epoch (RFC 6886 §3.6).
    pub fn epoch(&self) -> u32 {
        match self {
            Self::ExternalAddress { epoch, .. }
            | Self::Map { epoch, .. }
            | Self::Error { epoch, .. } => *epoch,
        }
    }

    /// Encoded length: 12, 16 or 8 bytes.
    pub fn buffer_len(&self) -> usize {
        match self {
            Self::ExternalAddress { .. } => EXTERNAL_ADDRESS_RESPONSE_LEN,
            Self::Map { .. } => MAP_RESPONSE_LEN,
            Self::Error { .. } => RESPONSE_HEADER_LEN,
        }
    }

    /// Appends the encoded response to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(VERSION);
        out.push(self.opcode());
        out.extend_from_slice(&u16::from(self.result()).to_be_bytes());
        out.extend_from_slice(&self.epoch().to_be_bytes());
        match self {
            Self::ExternalAddress { address, .. } => out.extend_from_slice(&address.octets()),
            Self::Map {
                internal_port,
                external_port,
                lifetime,
                ..
            } => {
                out.extend_from_slice(&internal_port.to_be_bytes());
                out.extend_from_slice(&external_port.to_be_bytes());
                out.extend_from_slice(&lifetime.to_be_bytes());
            }
            Self::Error { .. } => {}
        }
    }

    /// The encoded response.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.buffer_len());
        self.emit(&mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // RFC 6886 §3.2: external address request = version 0, opcode 0.
    #[test]
    fn external_address_request_layout() {
        assert_eq!(Request::ExternalAddress.to_bytes(), [0, 0]);
        assert_eq!(Request::parse(&[0, 0]), Ok(Request::ExternalAddress));
    }

    // RFC 6886 §3.3: map TCP request, internal 22, suggested 2222, lifetime 7200.
    #[test]
    fn map_request_layout() {
        let bytes = [
            0x00, 0x02, // version 0, opcode 2 (TCP)
            0x00, 0x00, // reserved
            0x00, 0x16, // internal port 22
            0x08, 0xae, // suggested external port 2222
            0x00, 0x00, 0x1c, 0x20, // requested lifetime 7200
        ];
        let req = Request::Map(MapRequest {
            protocol: Protocol::Tcp,
            internal_port: 22,
            suggested_external_port: 2222,
            lifetime: 7200,
        });
        assert_eq!(req.to_bytes(), bytes);
        assert_eq!(Request::parse(&bytes), Ok(req));
    }

    // RFC 6886 §3.4: lifetime 0 + internal port 0 deletes all mappings (UDP here).
    #[test]
    fn delete_all_request() {
        let bytes = [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let Ok(Request::Map(m)) = Request::parse(&bytes) else {
            panic!("not a map request")
        };
        assert_eq!(m.protocol, Protocol::Udp);
        assert!(m.is_delete() && m.is_delete_all());
    }

    // RFC 6886 §3.2: external address response, epoch 0x00001234, 192.0.2.7.
    #[test]
    fn external_address_response_layout() {
        let bytes = [
            0x00, 0x80, // version 0, opcode 128
            0x00, 0x00, // result: success
            0x00, 0x00, 0x12, 0x34, // seconds since start of epoch
            192, 0, 2, 7, // external IPv4 address
        ];
        let resp = Response::parse(&bytes).unwrap();
        assert_eq!(
            resp,
            Response::announcement(0x1234, Ipv4Addr::new(192, 0, 2, 7))
        );
        assert_eq!(resp.to_bytes(), bytes);
    }

    // RFC 6886 §3.3: map UDP response, internal 5000 -> external 6000 for 3600 s.
    #[test]
    fn map_response_layout() {
        let bytes = [
            0x00, 0x81, // version 0, opcode 129 (UDP)
            0x00, 0x00, // success
            0x00, 0x00, 0x00, 0x10, // epoch 16
            0x13, 0x88, // internal port 5000
            0x17, 0x70, // mapped external port 6000
            0x00, 0x00, 0x0e, 0x10, // lifetime 3600
        ];
        let resp = Response::parse(&bytes).unwrap();
        assert_eq!(
            resp,
            Response::Map {
                protocol: Protocol::Udp,
                result: ResultCode::Success,
                epoch: 16,
                internal_port: 5000,
                external_port: 6000,
                lifetime: 3600,
            }
        );
        assert_eq!(resp.to_bytes(), bytes);
    }

    // RFC 6886 §3.5 (erratum 3618): unsupported version reply is opcode 128, result 1.
    #[test]
    fn unsupported_version_reply() {
        let h = RequestHeader::peek(&[2, 1, 0, 0]).unwrap();
        assert_eq!(
            Request::parse(&[2, 1, 0, 0]),
            Err(DecodeError::Unsupported {
                what: "nat-pmp version",
                value: 2
            })
        );
        let reply = h.error_response(99).unwrap();
        assert_eq!(reply.to_bytes(), [0, 128, 0, 1, 0, 0, 0, 99]);
        assert_eq!(Response::parse(&reply.to_bytes()), Ok(reply));
    }

    // RFC 6886 §3.5: unknown opcode 3 -> opcode 131, result 5.
    #[test]
    fn unsupported_opcode_reply() {
        assert!(matches!(
            Request::parse(&[0, 3]),
            Err(DecodeError::Unsupported { value: 3, .. })
        ));
        let reply = RequestHeader::peek(&[0, 3])
            .unwrap()
            .error_response(1)
            .unwrap();
        assert_eq!(reply.to_bytes(), [0, 131, 0, 5, 0, 0, 0, 1]);
        assert_eq!(reply.result(), ResultCode::UnsupportedOpcode);
    }

    // RFC 6886 §3.5: a message whose opcode has the top bit set is ignored by a server.
    #[test]
    fn response_sent_to_server_is_ignored() {
        let h = RequestHeader::peek(&[0, 128]).unwrap();
        assert!(h.is_response());
        assert_eq!(h.error_response(0), None);
        assert!(matches!(
            Request::parse(&[0, 128]),
            Err(DecodeError::Invalid { .. })
        ));
    }

    #[test]
    fn short_requests() {
        assert!(matches!(
            Request::parse(&[]),
            Err(DecodeError::Truncated { .. })
        ));
        assert!(matches!(
            Request::parse(&[0]),
            Err(DecodeError::Truncated { .. })
        ));
        for len in 2..MAP_REQUEST_LEN {
            let buf = vec![0u8; len];
            let mut b = buf.clone();
            b[1] = 1;
            assert_eq!(
                Request::parse(&b),
                Err(DecodeError::truncated("nat-pmp map request", 12, len))
            );
            // A truncated map request gets no reply either.
            assert_eq!(RequestHeader::peek(&b).unwrap().error_response(0), None);
        }
    }

    #[test]
    fn error_response_short_form() {
        // A not-authorized map reply cut to the 8-byte header is still understood.
        let bytes = [0, 130, 0, 2, 0, 0, 0, 5];
        assert_eq!(
            Response::parse(&bytes),
            Ok(Response::Error {
                opcode: 130,
                result: ResultCode::NotAuthorized,
                epoch: 5
            })
        );
        // ...but a success reply cut short is an error.
        let bytes = [0, 130, 0, 0, 0, 0, 0, 5];
        assert!(matches!(
            Response::parse(&bytes),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn result_codes_round_trip() {
        for v in 0..=10u16 {
            assert_eq!(u16::from(ResultCode::from(v)), v);
        }
        assert_eq!(ResultCode::from(3), ResultCode::NetworkFailure);
        assert_eq!(ResultCode::from(77), ResultCode::Unknown(77));
    }

    fn arb_result() -> impl Strategy<Value = ResultCode> {
        any::<u16>().prop_map(ResultCode::from)
    }

    fn arb_protocol() -> impl Strategy<Value = Protocol> {
        prop_oneof![Just(Protocol::Udp), Just(Protocol::Tcp)]
    }

    fn arb_request() -> impl Strategy<Value = Request> {
        prop_oneof![
            Just(Request::ExternalAddress),
            (arb_protocol(), any::<u16>(), any::<u16>(), any::<u32>()).prop_map(
                |(protocol, internal_port, suggested_external_port, lifetime)| {
                    Request::Map(MapRequest {
                        protocol,
                        internal_port,
                        suggested_external_port,
                        lifetime,
                    })
                }
            ),
        ]
    }

    fn arb_response() -> impl Strategy<Value = Response> {
        prop_oneof![
            (arb_result(), any::<u32>(), any::<[u8; 4]>()).prop_map(|(result, epoch, a)| {
                Response::ExternalAddress {
                    result,
                    epoch,
                    address: Ipv4Addr::from(a),
                }
            }),
            (
                arb_protocol(),
                arb_result(),
                any::<u32>(),
                any::<u16>(),
                any::<u16>(),
                any::<u32>()
            )
                .prop_map(
                    |(protocol, result, epoch, internal_port, external_port, lifetime)| {
                        Response::Map {
                            protocol,
                            result,
                            epoch,
                            internal_port,
                            external_port,
                            lifetime,
                        }
                    }
                ),
            (128u8..=255, 1u16.., any::<u32>()).prop_map(|(opcode, r, epoch)| Response::Error {
                opcode,
                result: ResultCode::from(r),
                epoch
            }),
        ]
    }

    proptest! {
        #[test]
        fn request_round_trip(req in arb_request()) {
            let bytes = req.to_bytes();
            prop_assert_eq!(bytes.len(), req.buffer_len());
            prop_assert_eq!(Request::parse(&bytes), Ok(req));
            for len in 0..bytes.len() {
                if let Request::Map(_) = req {
                    prop_assert!(Request::parse(&bytes[..len]).is_err());
                }
            }
        }

        #[test]
        fn response_round_trip(resp in arb_response()) {
            let bytes = resp.to_bytes();
            prop_assert_eq!(bytes.len(), resp.buffer_len());
            prop_assert_eq!(Response::parse(&bytes), Ok(resp));
        }

        #[test]
        fn truncated_success_responses_fail(resp in arb_response()) {
            let bytes = resp.to_bytes();
            if resp.result().is_success() {
                for len in 0..bytes.len() {
                    prop_assert!(Response::parse(&bytes[..len]).is_err());
                }
            } else {
                for len in 0..RESPONSE_HEADER_LEN {
                    prop_assert!(Response::parse(&bytes[..len]).is_err());
                }
            }
        }

        #[test]
        fn garbage_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = Request::parse(&buf);
            let _ = Response::parse(&buf);
            if let Ok(h) = RequestHeader::peek(&buf) {
                let _ = h.error_response(0);
            }
        }
    }
}
