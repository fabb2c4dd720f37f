//! Port Control Protocol (PCP), RFC 6887, with the DESCRIPTION option of RFC 7220.
//!
//! A PCP message is a 24-byte common header (§7.1 request, §7.2 response), the
//! opcode-specific data (ANNOUNCE: none, MAP: 36 bytes §11.1, PEER: 56 bytes §12.1)
//! and zero or more options (§7.3). Messages are 24..=1100 bytes long and a multiple
//! of 4. Addresses are always 16 bytes on the wire; IPv4 travels as an IPv4-mapped
//! IPv6 address (`::ffff:a.b.c.d`, §5) and is decoded back to [`IpAddr::V4`].
//!
//! The server parses with [`Request::parse_server`], whose [`RequestError`] says
//! whether to hand the datagram to NAT-PMP (version 0), drop it silently, or answer
//! with a given result code, and [`error_response`] builds that answer from the
//! request's bytes as §8.3 asks. The client parses with [`Response::parse`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use thiserror::Error;

use crate::DecodeError;

mod option;
#[cfg(test)]
mod tests;

pub use option::{
    allowed_in, parse_options, Filter, PcpOption, DESCRIPTION, FILTER, FILTER_DATA_LEN,
    FIRST_OPTIONAL_CODE, MAX_FILTER_PREFIX_LEN, OPTION_HEADER_LEN, PREFER_FAILURE, THIRD_PARTY,
};

/// The PCP version this crate speaks (RFC 6887 §7.1).
pub const VERSION: u8 = 2;
/// Version byte of a NAT-PMP message sharing the PCP port (RFC 6887 §9).
pub const NATPMP_VERSION: u8 = 0;
/// UDP port a PCP server listens on (RFC 6887 §19.1).
pub const SERVER_PORT: u16 = 5351;
/// UDP port a PCP client listens on for ANNOUNCE (RFC 6887 §19.1, §14.1.3).
pub const CLIENT_PORT: u16 = 5350;
/// IPv4 all-hosts group unsolicited ANNOUNCE responses go to (RFC 6887 §14.1.3).
pub const ANNOUNCE_MULTICAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);
/// IPv6 all-nodes group unsolicited ANNOUNCE responses go to (RFC 6887 §14.1.3).
pub const ANNOUNCE_MULTICAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Length of the common request and response header (RFC 6887 §7.1, §7.2).
pub const HEADER_LEN: usize = 24;
/// Shortest valid message: a bare header (ANNOUNCE). Shorter requests with a
/// supported version are silently dropped (RFC 6887 §8.3).
pub const MIN_MESSAGE_LEN: usize = 24;
/// Longest valid message; longer requests get MALFORMED_REQUEST and responses are
/// truncated to it (RFC 6887 §7, §8.3).
pub const MAX_MESSAGE_LEN: usize = 1100;
/// Length of a mapping nonce (RFC 6887 §11.1).
pub const NONCE_LEN: usize = 12;
/// Length of MAP opcode data (RFC 6887 §11.1).
pub const MAP_DATA_LEN: usize = 36;
/// Length of PEER opcode data (RFC 6887 §12.1).
pub const PEER_DATA_LEN: usize = 56;
/// Length of an address field: IPv6 or IPv4-mapped (RFC 6887 §5).
pub const ADDR_LEN: usize = 16;
/// The R bit of the opcode byte: 0 in requests, 1 in responses (RFC 6887 §7.1).
pub const R_BIT: u8 = 0x80;
/// ANNOUNCE opcode (RFC 6887 §14.1).
pub const OPCODE_ANNOUNCE: u8 = 0;
/// MAP opcode (RFC 6887 §11).
pub const OPCODE_MAP: u8 = 1;
/// PEER opcode (RFC 6887 §12).
pub const OPCODE_PEER: u8 = 2;

/// The shortest lifetime a server should grant: 120 s (RFC 6887 §15).
pub const MIN_LIFETIME: u32 = 120;
/// The longest lifetime a server grants by default: 24 hours (RFC 6887 §15 leaves the
/// cap to the server; miniupnpd and the daemon spec use 86400 s).
pub const MAX_LIFETIME: u32 = 86_400;
/// Lifetime in an error response for a short-lived error: 30 s (RFC 6887 §7.4).
pub const SHORT_ERROR_LIFETIME: u32 = 30;
/// Lifetime in an error response for a long-lived error: 30 min (RFC 6887 §7.4).
pub const LONG_ERROR_LIFETIME: u32 = 1800;

/// Initial retransmission time: 3 s (RFC 6887 §8.1.1).
pub const IRT: Duration = Duration::from_secs(3);
/// Maximum retransmission time: 1024 s (RFC 6887 §8.1.1).
pub const MRT: Duration = Duration::from_secs(1024);
/// Maximum retransmission count: 0, i.e. no limit (RFC 6887 §8.1.1).
pub const MRC: u32 = 0;
/// Maximum retransmission duration: 0, i.e. no limit (RFC 6887 §8.1.1).
pub const MRD: Duration = Duration::ZERO;
/// The jitter bound: RAND is drawn from [-0.1, +0.1] (RFC 6887 §8.1.1).
pub const MAX_RAND: f64 = 0.1;

/// Client retransmission parameters (RFC 6887 §8.1.1, the RFC 3315 algorithm).
/// Zero MRC or MRD means "no limit".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retransmit {
    /// Initial retransmission time.
    pub irt: Duration,
    /// Maximum retransmission time.
    pub mrt: Duration,
    /// Maximum retransmission count (0 = unlimited).
    pub mrc: u32,
    /// Maximum retransmission duration (zero = unlimited).
    pub mrd: Duration,
}

impl Default for Retransmit {
    fn default() -> Self {
        Self {
            irt: IRT,
            mrt: MRT,
            mrc: MRC,
            mrd: MRD,
        }
    }
}

impl Retransmit {
    /// The next retransmission timeout: `(1 + rand) * irt` for the first try,
    /// `(1 + rand) * min(2 * prev, mrt)` afterwards. `rand` is the caller's jitter,
    /// clamped to [-0.1, 0.1] (this crate draws no randomness).
    pub fn next_timeout(&self, prev: Option<Duration>, rand: f64) -> Duration {
        let rand = if rand.is_nan() {
            0.0
        } else {
            rand.clamp(-MAX_RAND, MAX_RAND)
        };
        let base = match prev {
            None => self.irt,
            Some(p) => p.saturating_mul(2).min(self.mrt),
        };
        base.mul_f64(1.0 + rand)
    }
}

/// A PCP result code (RFC 6887 §7.4). Open: unknown codes are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResultCode {
    /// 0 SUCCESS.
    Success,
    /// 1 UNSUPP_VERSION: the version is not one the server speaks (long lifetime).
    UnsupportedVersion,
    /// 2 NOT_AUTHORIZED: refused by policy (long lifetime).
    NotAuthorized,
    /// 3 MALFORMED_REQUEST: the request could not be parsed (long lifetime).
    MalformedRequest,
    /// 4 UNSUPP_OPCODE: unknown opcode (long lifetime).
    UnsupportedOpcode,
    /// 5 UNSUPP_OPTION: an unknown mandatory option (long lifetime).
    UnsupportedOption,
    /// 6 MALFORMED_OPTION: an option could not be parsed (long lifetime).
    MalformedOption,
    /// 7 NETWORK_FAILURE: the server has a network problem (short lifetime).
    NetworkFailure,
    /// 8 NO_RESOURCES: out of mappings, for everyone (short lifetime).
    NoResources,
    /// 9 UNSUPP_PROTOCOL: the transport protocol is not supported (long lifetime).
    UnsupportedProtocol,
    /// 10 USER_EX_QUOTA: this client has too many mappings (short lifetime).
    UserExceededQuota,
    /// 11 CANNOT_PROVIDE_EXTERNAL: the suggested external port/address cannot be
    /// provided (with PREFER_FAILURE) (short lifetime).
    CannotProvideExternal,
    /// 12 ADDRESS_MISMATCH: the client address field is not the source address.
    AddressMismatch,
    /// 13 EXCESSIVE_REMOTE_PEERS: too many FILTER options.
    ExcessiveRemotePeers,
    /// Any other value.
    Unknown(u8),
}

impl From<u8> for ResultCode {
    fn from(v: u8) -> Self {
        match v {
            0 => Self::Success,
            1 => Self::UnsupportedVersion,
            2 => Self::NotAuthorized,
            3 => Self::MalformedRequest,
            4 => Self::UnsupportedOpcode,
            5 => Self::UnsupportedOption,
            6 => Self::MalformedOption,
            7 => Self::NetworkFailure,
            8 => Self::NoResources,
            9 => Self::UnsupportedProtocol,
            10 => Self::UserExceededQuota,
            11 => Self::CannotProvideExternal,
            12 => Self::AddressMismatch,
            13 => Self::ExcessiveRemotePeers,
            n => Self::Unknown(n),
        }
    }
}

impl From<ResultCode> for u8 {
    fn from(c: ResultCode) -> Self {
        match c {
            ResultCode::Success => 0,
            ResultCode::UnsupportedVersion => 1,
            ResultCode::NotAuthorized => 2,
            ResultCode::MalformedRequest => 3,
            ResultCode::UnsupportedOpcode => 4,
            ResultCode::UnsupportedOption => 5,
            ResultCode::MalformedOption => 6,
            ResultCode::NetworkFailure => 7,
            ResultCode::NoResources => 8,
            ResultCode::UnsupportedProtocol => 9,
            ResultCode::UserExceededQuota => 10,
            ResultCode::CannotProvideExternal => 11,
            ResultCode::AddressMismatch => 12,
            ResultCode::ExcessiveRemotePeers => 13,
            ResultCode::Unknown(n) => n,
        }
    }
}

impl ResultCode {
    /// True for SUCCESS.
    pub fn is_success(self) -> bool {
        self == Self::Success
    }
}

/// Encodes an address as the 16-byte PCP field: IPv6 as is, IPv4 as `::ffff:a.b.c.d`
/// (RFC 6887 §5).
pub fn addr_to_wire(a: IpAddr) -> [u8; ADDR_LEN] {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// Decodes a 16-byte PCP address field: an IPv4-mapped address (all of the first 96
/// bits checked, RFC 6887 §5) becomes [`IpAddr::V4`], anything else [`IpAddr::V6`].
pub fn addr_from_wire(b: &[u8; ADDR_LEN]) -> IpAddr {
    let v6 = Ipv6Addr::from(*b);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

/// MAP opcode data (RFC 6887 §11.1). In a request the external port and address are
/// suggestions; in a response they are what was assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MapData {
    /// The client's random mapping nonce; renewals and deletions must repeat it.
    pub nonce: [u8; NONCE_LEN],
    /// IANA protocol number (6 TCP, 17 UDP, 0 all protocols).
    pub protocol: u8,
    /// Internal port (0 = all ports, only with protocol 0).
    pub internal_port: u16,
    /// Suggested (request) or assigned (response) external port.
    pub external_port: u16,
    /// Suggested (request) or assigned (response) external address;
    /// `0.0.0.0` / `::` for "no preference".
    pub external_address: IpAddr,
}

/// PEER opcode data (RFC 6887 §12.1): MAP's fields plus the remote peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerData {
    /// The client's mapping nonce.
    pub nonce: [u8; NONCE_LEN],
    /// IANA protocol number.
    pub protocol: u8,
    /// Internal port.
    pub internal_port: u16,
    /// Suggested (request) or assigned (response) external port.
    pub external_port: u16,
    /// Suggested (request) or assigned (response) external address.
    pub external_address: IpAddr,
    /// The remote peer's port.
    pub remote_peer_port: u16,
    /// The remote peer's address.
    pub remote_peer_address: IpAddr,
}

/// Opcode-specific data of a request or response.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OpData {
    /// ANNOUNCE (opcode 0, RFC 6887 §14.1): no data.
    Announce,
    /// MAP (opcode 1, RFC 6887 §11.1).
    Map(MapData),
    /// PEER (opcode 2, RFC 6887 §12.1).
    Peer(PeerData),
    /// An opcode this crate does not decode, or an error response too short for its
    /// opcode's data: everything after the 24-byte header, options included, kept raw.
    /// [`Request::parse`] never returns this (an unknown opcode is UNSUPP_OPCODE).
    Other {
        /// The 7-bit opcode.
        opcode: u8,
        /// The bytes after the header.
        data: Vec<u8>,
    },
}

impl OpData {
    /// The 7-bit opcode.
    pub fn opcode(&self) -> u8 {
        match self {
            Self::Announce => OPCODE_ANNOUNCE,
            Self::Map(_) => OPCODE_MAP,
            Self::Peer(_) => OPCODE_PEER,
            Self::Other { opcode, .. } => *opcode & !R_BIT,
        }
    }

    fn buffer_len(&self) -> usize {
        match self {
            Self::Announce => 0,
            Self::Map(_) => MAP_DATA_LEN,
            Self::Peer(_) => PEER_DATA_LEN,
            Self::Other { data, .. } => data.len(),
        }
    }

    fn emit(&self, out: &mut Vec<u8>) {
        let common = |out: &mut Vec<u8>, nonce: &[u8; NONCE_LEN], protocol: u8, ip, ep, ea| {
            out.extend_from_slice(nonce);
            out.push(protocol);
            out.extend_from_slice(&[0, 0, 0]);
            out.extend_from_slice(&u16::to_be_bytes(ip));
            out.extend_from_slice(&u16::to_be_bytes(ep));
            out.extend_from_slice(&addr_to_wire(ea));
        };
        match self {
            Self::Announce => {}
            Self::Map(m) => common(
                out,
                &m.nonce,
                m.protocol,
                m.internal_port,
                m.external_port,
                m.external_address,
            ),
            Self::Peer(p) => {
                common(
                    out,
                    &p.nonce,
                    p.protocol,
                    p.internal_port,
                    p.external_port,
                    p.external_address,
                );
                out.extend_from_slice(&p.remote_peer_port.to_be_bytes());
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&addr_to_wire(p.remote_peer_address));
            }
            Self::Other { data, .. } => out.extend_from_slice(data),
        }
    }

    /// Parses the MAP data (first 36 bytes) of `body`; `None` if too short.
    fn parse_map(body: &[u8]) -> Option<(MapData, &[u8])> {
        let (d, rest) = body.split_first_chunk::<MAP_DATA_LEN>()?;
        let (nonce, d) = d.split_first_chunk::<NONCE_LEN>()?;
        let d: &[u8; MAP_DATA_LEN - NONCE_LEN] = d.try_into().ok()?;
        let [protocol, _, _, _, i0, i1, e0, e1, addr @ ..] = d;
        Some((
            MapData {
                nonce: *nonce,
                protocol: *protocol,
                internal_port: u16::from_be_bytes([*i0, *i1]),
                external_port: u16::from_be_bytes([*e0, *e1]),
                external_address: addr_from_wire(addr),
            },
            rest,
        ))
    }

    /// Parses the PEER data (first 56 bytes) of `body`; `None` if too short.
    fn parse_peer(body: &[u8]) -> Option<(PeerData, &[u8])> {
        let (m, rest) = Self::parse_map(body)?;
        let ([p0, p1, _, _, addr @ ..], rest) =
            rest.split_first_chunk::<{ PEER_DATA_LEN - MAP_DATA_LEN }>()?;
        Some((
            PeerData {
                nonce: m.nonce,
                protocol: m.protocol,
                internal_port: m.internal_port,
                external_port: m.external_port,
                external_address: m.external_address,
                remote_peer_port: u16::from_be_bytes([*p0, *p1]),
                remote_peer_address: addr_from_wire(addr),
            },
            rest,
        ))
    }
}

/// Why a server could not accept a request, and what RFC 6887 §8.3 says to do.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequestError {
    /// Version 0: a NAT-PMP request on the shared port; hand the datagram to
    /// [`crate::natpmp`] (RFC 6887 §9).
    #[error("version 0: a nat-pmp request")]
    NatPmp,
    /// Drop silently: shorter than 2 bytes, R bit set, or shorter than 24 bytes with a
    /// supported version (RFC 6887 §8.3).
    #[error("dropped: {0}")]
    Drop(DecodeError),
    /// Answer with `result` (build it with [`error_response`]).
    #[error("rejected ({result:?}): {cause}")]
    Reject {
        /// The result code the error response carries.
        result: ResultCode,
        /// What was wrong.
        cause: DecodeError,
    },
}

impl RequestError {
    /// The result code to answer with, `None` when the datagram is to be dropped or
    /// handed to NAT-PMP.
    pub fn result_code(&self) -> Option<ResultCode> {
        match self {
            Self::Reject { result, .. } => Some(*result),
            Self::NatPmp | Self::Drop(_) => None,
        }
    }

    fn reject(result: ResultCode, cause: DecodeError) -> Self {
        Self::Reject { result, cause }
    }

    /// The underlying decode error (a NAT-PMP datagram is `Unsupported` version 0).
    pub fn into_decode_error(self) -> DecodeError {
        match self {
            Self::NatPmp => DecodeError::Unsupported {
                what: "pcp version",
                value: NATPMP_VERSION.into(),
            },
            Self::Drop(e) | Self::Reject { cause: e, .. } => e,
        }
    }
}

/// A PCP request (RFC 6887 §7.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Request {
    /// Requested lifetime in seconds (0 deletes a mapping).
    pub lifetime: u32,
    /// The client's own address as it believes it to be (the server checks it against
    /// the source address: ADDRESS_MISMATCH).
    pub client_address: IpAddr,
    /// Opcode and its data.
    pub data: OpData,
    /// Options, in message order.
    pub options: Vec<PcpOption>,
}

impl Request {
    /// Parses a request, flattening [`RequestError`] into a [`DecodeError`].
    pub fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        Self::parse_server(buf).map_err(RequestError::into_decode_error)
    }

    /// Parses a request as a server must (RFC 6887 §8.3), in the RFC's order:
    /// < 2 bytes: drop; R bit set: drop; version 0: NAT-PMP; version ≠ 2:
    /// UNSUPP_VERSION; < 24 bytes: drop; > 1100 bytes or not a multiple of 4:
    /// MALFORMED_REQUEST; unknown opcode: UNSUPP_OPCODE; too short for the opcode:
    /// MALFORMED_REQUEST; bad option: MALFORMED_OPTION. Unknown options, mandatory or
    /// not, are returned as [`PcpOption::Unknown`]: UNSUPP_OPTION, duplicate
    /// THIRD_PARTY and option/opcode combinations are the server's policy.
    pub fn parse_server(buf: &[u8]) -> Result<Self, RequestError> {
        let [version, opcode, ..] = buf else {
            return Err(RequestError::Drop(DecodeError::truncated(
                "pcp request",
                2,
                buf.len(),
            )));
        };
        if opcode & R_BIT != 0 {
            return Err(RequestError::Drop(DecodeError::invalid(
                "pcp request",
                "r bit set",
            )));
        }
        if *version == NATPMP_VERSION {
            return Err(RequestError::NatPmp);
        }
        if *version != VERSION {
            return Err(RequestError::reject(
                ResultCode::UnsupportedVersion,
                DecodeError::Unsupported {
                    what: "pcp version",
                    value: (*version).into(),
                },
            ));
        }
        let Some((header, body)) = buf.split_first_chunk::<HEADER_LEN>() else {
            return Err(RequestError::Drop(DecodeError::truncated(
                "pcp request",
                HEADER_LEN,
                buf.len(),
            )));
        };
        check_size(buf, "pcp request")
            .map_err(|e| RequestError::reject(ResultCode::MalformedRequest, e))?;
        let [_, _, _, _, l0, l1, l2, l3, client @ ..] = header;
        let lifetime = u32::from_be_bytes([*l0, *l1, *l2, *l3]);
        let client_address = addr_from_wire(client);
        let short = |need| {
            RequestError::reject(
                ResultCode::MalformedRequest,
                DecodeError::truncated("pcp opcode data", need, body.len()),
            )
        };
        let (data, rest) = match *opcode {
            OPCODE_ANNOUNCE => (OpData::Announce, body),
            OPCODE_MAP => {
                let (m, rest) = OpData::parse_map(body).ok_or_else(|| short(MAP_DATA_LEN))?;
                (OpData::Map(m), rest)
            }
            OPCODE_PEER => {
                let (p, rest) = OpData::parse_peer(body).ok_or_else(|| short(PEER_DATA_LEN))?;
                (OpData::Peer(p), rest)
            }
            op => {
                return Err(RequestError::reject(
                    ResultCode::UnsupportedOpcode,
                    DecodeError::Unsupported {
                        what: "pcp opcode",
                        value: op.into(),
                    },
                ))
            }
        };
        let options = parse_options(rest)
            .map_err(|e| RequestError::reject(ResultCode::MalformedOption, e))?;
        Ok(Self {
            lifetime,
            client_address,
            data,
            options,
        })
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.data.buffer_len() + options_len(&self.options)
    }

    /// Appends the encoded request. Does not enforce [`MAX_MESSAGE_LEN`]; check
    /// [`Request::buffer_len`] when options are user-supplied.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(VERSION);
        out.push(self.data.opcode());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.lifetime.to_be_bytes());
        out.extend_from_slice(&addr_to_wire(self.client_address));
        self.data.emit(out);
        for o in &self.options {
            o.emit(out);
        }
    }

    /// The encoded request.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.buffer_len());
        self.emit(&mut v);
        v
    }
}

/// A PCP response (RFC 6887 §7.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Response {
    /// Result code.
    pub result: ResultCode,
    /// Granted lifetime on success; on error, how long until retrying makes sense
    /// (RFC 6887 §7.4).
    pub lifetime: u32,
    /// The server's epoch time in seconds (RFC 6887 §8.5).
    pub epoch: u32,
    /// Opcode and its data (echoing the request's on error).
    pub data: OpData,
    /// Options, in message order.
    pub options: Vec<PcpOption>,
}

impl Response {
    /// The unsolicited ANNOUNCE a server multicasts on start-up or after losing state
    /// (RFC 6887 §14.1.3): opcode ANNOUNCE, SUCCESS, lifetime 0.
    pub fn announce(epoch: u32) -> Self {
        Self {
            result: ResultCode::Success,
            lifetime: 0,
            epoch,
            data: OpData::Announce,
            options: Vec::new(),
        }
    }

    /// Parses a response as a client must: 24..=1100 bytes, multiple of 4
    /// (RFC 6887 §8.3), version 2, R bit set. Error responses too short for their
    /// opcode's data, or whose options do not parse, keep the body raw in
    /// [`OpData::Other`].
    pub fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        let (header, body) =
            buf.split_first_chunk::<HEADER_LEN>()
                .ok_or(DecodeError::truncated(
                    "pcp response",
                    HEADER_LEN,
                    buf.len(),
                ))?;
        check_size(buf, "pcp response")?;
        let [version, opcode, _, result, l0, l1, l2, l3, e0, e1, e2, e3, ..] = header;
        if *version != VERSION {
            return Err(DecodeError::Unsupported {
                what: "pcp version",
                value: (*version).into(),
            });
        }
        if opcode & R_BIT == 0 {
            return Err(DecodeError::invalid("pcp response", "r bit clear"));
        }
        let opcode = opcode & !R_BIT;
        let result = ResultCode::from(*result);
        let lifetime = u32::from_be_bytes([*l0, *l1, *l2, *l3]);
        let epoch = u32::from_be_bytes([*e0, *e1, *e2, *e3]);
        let parsed = match opcode {
            OPCODE_ANNOUNCE => Some((OpData::Announce, body)),
            OPCODE_MAP => OpData::parse_map(body).map(|(m, r)| (OpData::Map(m), r)),
            OPCODE_PEER => OpData::parse_peer(body).map(|(p, r)| (OpData::Peer(p), r)),
            _ => None,
        };
        let known = matches!(opcode, OPCODE_ANNOUNCE | OPCODE_MAP | OPCODE_PEER);
        let (data, options) = match parsed.map(|(d, r)| (d, parse_options(r))) {
            Some((d, Ok(options))) => (d, options),
            Some((_, Err(e))) if result.is_success() => return Err(e),
            None if known && result.is_success() => {
                let need = if opcode == OPCODE_MAP {
                    MAP_DATA_LEN
                } else {
                    PEER_DATA_LEN
                };
                return Err(DecodeError::truncated("pcp opcode data", need, body.len()));
            }
            _ => (
                OpData::Other {
                    opcode,
                    data: body.to_vec(),
                },
                Vec::new(),
            ),
        };
        Ok(Self {
            result,
            lifetime,
            epoch,
            data,
            options,
        })
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.data.buffer_len() + options_len(&self.options)
    }

    /// Appends the encoded response (reserved fields zero).
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(VERSION);
        out.push(self.data.opcode() | R_BIT);
        out.push(0);
        out.push(self.result.into());
        out.extend_from_slice(&self.lifetime.to_be_bytes());
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.extend_from_slice(&[0; 12]);
        self.data.emit(out);
        for o in &self.options {
            o.emit(out);
        }
    }

    /// The encoded response.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.buffer_len());
        self.emit(&mut v);
        v
    }
}

fn options_len(options: &[PcpOption]) -> usize {
    options.iter().map(PcpOption::buffer_len).sum()
}

fn check_size(buf: &[u8], what: &'static str) -> Result<(), DecodeError> {
    if buf.len() < MIN_MESSAGE_LEN {
        Err(DecodeError::truncated(what, MIN_MESSAGE_LEN, buf.len()))
    } else if buf.len() > MAX_MESSAGE_LEN {
        Err(DecodeError::TooLong {
            what,
            limit: MAX_MESSAGE_LEN,
        })
    } else if buf.len() % 4 != 0 {
        Err(DecodeError::invalid(what, "length not a multiple of 4"))
    } else {
        Ok(())
    }
}

/// Builds the error response to a request that failed to parse, from the request's
/// own bytes, as RFC 6887 §8.3 describes: the request is copied (truncated to 1100
/// bytes, zero-padded to at least 24 bytes and to a multiple of 4), then the version
/// is set to 2 (the version this server supports, §9), the R bit is set on the copied
/// opcode, and the result code, lifetime and epoch time are written. The opcode-specific
/// data and options stay as the client sent them; the last 12 header bytes keep the
/// rightmost 96 bits of the request's client address field (§7.2).
///
/// Use it for [`RequestError::Reject`]; for requests that parsed, build a
/// [`Response`] echoing the request's [`OpData`].
pub fn error_response(request: &[u8], result: ResultCode, lifetime: u32, epoch: u32) -> Vec<u8> {
    let mut out: Vec<u8> = request.iter().take(MAX_MESSAGE_LEN).copied().collect();
    let len = padded_len(out.len().max(HEADER_LEN));
    out.resize(len, 0);
    if let Some((header, _)) = out.split_first_chunk_mut::<HEADER_LEN>() {
        let opcode = header[1] | R_BIT;
        let [l0, l1, l2, l3] = lifetime.to_be_bytes();
        let [e0, e1, e2, e3] = epoch.to_be_bytes();
        header[..12].copy_from_slice(&[
            VERSION,
            opcode,
            0,
            result.into(),
            l0,
            l1,
            l2,
            l3,
            e0,
            e1,
            e2,
            e3,
        ]);
    }
    out
}

fn padded_len(len: usize) -> usize {
    option::padded(len)
}
