//! STUN Binding (RFC 5389), enough to learn a gateway's public address.
//!
//! A STUN message is a 20-byte header — message type (2 bits zero, method and class
//! interleaved, §6), length of the attributes (a multiple of 4), the magic cookie
//! `0x2112A442` and a 96-bit transaction id — followed by type-length-value attributes
//! padded to 4 bytes (§15). [`Message`] is the generic layer with raw attributes;
//! [`BindingRequest`] and [`BindingResponse`] are the typed Binding messages. The
//! transaction id is chosen by the caller (this crate draws no randomness).
//!
//! MESSAGE-INTEGRITY and FINGERPRINT are parsed as ordinary attributes but not
//! verified.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::DecodeError;

/// The magic cookie every RFC 5389 message carries (§6).
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Length of the message header (§6).
pub const HEADER_LEN: usize = 20;
/// Length of a transaction id: 96 bits (§6).
pub const TRANSACTION_ID_LEN: usize = 12;
/// Length of an attribute header: type and length (§15).
pub const ATTRIBUTE_HEADER_LEN: usize = 4;
/// Default STUN port over UDP and TCP (§18.4).
pub const DEFAULT_PORT: u16 = 3478;
/// The Binding method (§18.1).
pub const METHOD_BINDING: u16 = 0x001;
/// Longest ERROR-CODE reason phrase: 763 bytes (128 characters, §15.6).
pub const MAX_REASON_LEN: usize = 763;

/// Attribute types this module knows (RFC 5389 §18.2).
pub mod attr {
    /// MAPPED-ADDRESS (§15.1).
    pub const MAPPED_ADDRESS: u16 = 0x0001;
    /// USERNAME (§15.3).
    pub const USERNAME: u16 = 0x0006;
    /// MESSAGE-INTEGRITY (§15.4).
    pub const MESSAGE_INTEGRITY: u16 = 0x0008;
    /// ERROR-CODE (§15.6).
    pub const ERROR_CODE: u16 = 0x0009;
    /// UNKNOWN-ATTRIBUTES (§15.9).
    pub const UNKNOWN_ATTRIBUTES: u16 = 0x000A;
    /// REALM (§15.7).
    pub const REALM: u16 = 0x0014;
    /// NONCE (§15.8).
    pub const NONCE: u16 = 0x0015;
    /// XOR-MAPPED-ADDRESS (§15.2).
    pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
    /// SOFTWARE (§15.10).
    pub const SOFTWARE: u16 = 0x8022;
    /// ALTERNATE-SERVER (§15.11).
    pub const ALTERNATE_SERVER: u16 = 0x8023;
    /// FINGERPRINT (§15.5).
    pub const FINGERPRINT: u16 = 0x8028;
    /// Types from this value up are comprehension-optional (§15).
    pub const FIRST_OPTIONAL: u16 = 0x8000;

    /// True for the comprehension-required attributes RFC 5389 defines.
    pub fn is_known_required(t: u16) -> bool {
        matches!(
            t,
            MAPPED_ADDRESS
                | USERNAME
                | MESSAGE_INTEGRITY
                | ERROR_CODE
                | UNKNOWN_ATTRIBUTES
                | REALM
                | NONCE
                | XOR_MAPPED_ADDRESS
        )
    }
}

/// A 96-bit transaction id (§6), chosen by the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransactionId(pub [u8; TRANSACTION_ID_LEN]);

/// The class of a message (§6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Request (C1 C0 = 00).
    Request,
    /// Indication (01).
    Indication,
    /// Success response (10).
    SuccessResponse,
    /// Error response (11).
    ErrorResponse,
}

/// Builds the 16-bit message type from a 12-bit method and a class (§6, figure 3).
pub fn message_type(method: u16, class: Class) -> u16 {
    let c = match class {
        Class::Request => 0b00,
        Class::Indication => 0b01,
        Class::SuccessResponse => 0b10,
        Class::ErrorResponse => 0b11,
    };
    let m = method & 0x0fff;
    (m & 0x000f) | ((m & 0x0070) << 1) | ((m & 0x0f80) << 2) | ((c & 1) << 4) | ((c & 2) << 7)
}

/// Splits a message type into method and class; `None` if either of the two top bits
/// is set (§6).
pub fn split_message_type(t: u16) -> Option<(u16, Class)> {
    if t & 0xc000 != 0 {
        return None;
    }
    let method = (t & 0x000f) | ((t >> 1) & 0x0070) | ((t >> 2) & 0x0f80);
    let class = match ((t >> 7) & 2) | ((t >> 4) & 1) {
        0 => Class::Request,
        1 => Class::Indication,
        2 => Class::SuccessResponse,
        _ => Class::ErrorResponse,
    };
    Some((method, class))
}

/// One attribute, raw: type and value without padding.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawAttribute {
    /// Attribute type.
    pub typ: u16,
    /// Value, without padding.
    pub value: Vec<u8>,
}

impl RawAttribute {
    /// True for types 0x0000-0x7FFF, which a receiver must understand (§15).
    pub fn is_comprehension_required(&self) -> bool {
        self.typ < attr::FIRST_OPTIONAL
    }
}

fn padded(len: usize) -> usize {
    len.div_ceil(4) * 4
}

/// A STUN message with raw attributes in message order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Message {
    /// The 12-bit method.
    pub method: u16,
    /// The class.
    pub class: Class,
    /// The transaction id.
    pub transaction_id: TransactionId,
    /// Attributes in order.
    pub attributes: Vec<RawAttribute>,
}

impl Message {
    /// Parses a message: the two top bits of the type must be zero, the magic cookie
    /// present, the length field a multiple of 4 and equal to the bytes following the
    /// header (fewer: [`DecodeError::Truncated`]; more: [`DecodeError::Invalid`]), and
    /// every attribute (value and padding) inside that length.
    pub fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        let (header, body) = buf
            .split_first_chunk::<HEADER_LEN>()
            .ok_or(DecodeError::truncated("stun header", HEADER_LEN, buf.len()))?;
        let [t0, t1, l0, l1, c0, c1, c2, c3, tid @ ..] = header;
        let (method, class) = split_message_type(u16::from_be_bytes([*t0, *t1])).ok_or(
            DecodeError::invalid("stun message type", "top two bits not zero"),
        )?;
        if u32::from_be_bytes([*c0, *c1, *c2, *c3]) != MAGIC_COOKIE {
            return Err(DecodeError::invalid("stun header", "no magic cookie"));
        }
        let len = usize::from(u16::from_be_bytes([*l0, *l1]));
        if len % 4 != 0 {
            return Err(DecodeError::invalid(
                "stun message length",
                "not a multiple of 4",
            ));
        }
        let mut rest = match body.len().cmp(&len) {
            std::cmp::Ordering::Less => {
                return Err(DecodeError::truncated(
                    "stun message",
                    HEADER_LEN + len,
                    buf.len(),
                ))
            }
            std::cmp::Ordering::Greater => {
                return Err(DecodeError::invalid(
                    "stun message length",
                    "bytes past the length field",
                ))
            }
            std::cmp::Ordering::Equal => body,
        };
        let mut attributes = Vec::new();
        while let Some(([a0, a1, v0, v1], after)) = rest.split_first_chunk::<4>() {
            let vlen = usize::from(u16::from_be_bytes([*v0, *v1]));
            let value = after.get(..vlen).ok_or(DecodeError::truncated(
                "stun attribute",
                vlen,
                after.len(),
            ))?;
            attributes.push(RawAttribute {
                typ: u16::from_be_bytes([*a0, *a1]),
                value: value.to_vec(),
            });
            rest = after.get(padded(vlen)..).ok_or(DecodeError::truncated(
                "stun attribute padding",
                padded(vlen),
                after.len(),
            ))?;
        }
        if !rest.is_empty() {
            // Unreachable with a length that is a multiple of 4, kept as a guard.
            return Err(DecodeError::truncated(
                "stun attribute header",
                ATTRIBUTE_HEADER_LEN,
                rest.len(),
            ));
        }
        Ok(Self {
            method,
            class,
            transaction_id: TransactionId(*tid),
            attributes,
        })
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + self
                .attributes
                .iter()
                .map(|a| ATTRIBUTE_HEADER_LEN + padded(a.value.len()))
                .sum::<usize>()
    }

    /// Appends the encoded message. Values longer than 65535 bytes are cut (STUN
    /// cannot express them); padding is zero.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let body_len = self.buffer_len() - HEADER_LEN;
        out.extend_from_slice(&message_type(self.method, self.class).to_be_bytes());
        out.extend_from_slice(&u16::try_from(body_len).unwrap_or(u16::MAX).to_be_bytes());
        out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        out.extend_from_slice(&self.transaction_id.0);
        for a in &self.attributes {
            let len = a.value.len().min(usize::from(u16::MAX));
            out.extend_from_slice(&a.typ.to_be_bytes());
            out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
            out.extend(a.value.iter().take(len));
            out.resize(out.len() + (padded(len) - len), 0);
        }
    }

    /// The encoded message.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.buffer_len());
        self.emit(&mut v);
        v
    }

    /// The first attribute of type `typ`.
    pub fn attribute(&self, typ: u16) -> Option<&RawAttribute> {
        self.attributes.iter().find(|a| a.typ == typ)
    }
}

/// Decodes a (XOR-)MAPPED-ADDRESS value (§15.1, §15.2). With `xor`, the port is
/// XORed with the cookie's top 16 bits and the address with the cookie (IPv4) or
/// cookie + transaction id (IPv6).
fn decode_address(value: &[u8], xor: Option<&TransactionId>) -> Result<SocketAddr, DecodeError> {
    let what = if xor.is_some() {
        "stun XOR-MAPPED-ADDRESS"
    } else {
        "stun MAPPED-ADDRESS"
    };
    let key = xor_key(xor);
    let Some(([_, family, p0, p1], addr)) = value.split_first_chunk::<4>() else {
        return Err(DecodeError::truncated(what, 8, value.len()));
    };
    let port = u16::from_be_bytes([*p0, *p1]) ^ u16::from_be_bytes([key[0], key[1]]);
    let ip = match (*family, addr.len()) {
        (0x01, 4) => {
            let mut o = [0u8; 4];
            for (d, (a, k)) in o.iter_mut().zip(addr.iter().zip(key.iter())) {
                *d = a ^ k;
            }
            IpAddr::V4(Ipv4Addr::from(o))
        }
        (0x02, 16) => {
            let mut o = [0u8; 16];
            for (d, (a, k)) in o.iter_mut().zip(addr.iter().zip(key.iter())) {
                *d = a ^ k;
            }
            IpAddr::V6(Ipv6Addr::from(o))
        }
        (0x01 | 0x02, _) => return Err(DecodeError::invalid(what, "wrong length for family")),
        (f, _) => {
            return Err(DecodeError::Unsupported {
                what: "stun address family",
                value: f.into(),
            })
        }
    };
    Ok(SocketAddr::new(ip, port))
}

/// The XOR key: magic cookie then transaction id, or all zeros when not XORing.
fn xor_key(xor: Option<&TransactionId>) -> [u8; 16] {
    let mut key = [0u8; 16];
    if let Some(tid) = xor {
        let (c, t) = key.split_at_mut(4);
        c.copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        t.copy_from_slice(&tid.0);
    }
    key
}

fn encode_address(addr: SocketAddr, xor: Option<&TransactionId>) -> Vec<u8> {
    let key = xor_key(xor);
    let port = addr.port() ^ u16::from_be_bytes([key[0], key[1]]);
    let (family, octets): (u8, Vec<u8>) = match addr.ip() {
        IpAddr::V4(v4) => (1, v4.octets().to_vec()),
        IpAddr::V6(v6) => (2, v6.octets().to_vec()),
    };
    let mut v = vec![0, family];
    v.extend_from_slice(&port.to_be_bytes());
    v.extend(octets.iter().zip(key.iter()).map(|(a, k)| a ^ k));
    v
}

/// A Binding request (§7.1 with the Binding method), optionally with SOFTWARE.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BindingRequest {
    /// Transaction id, chosen by the caller at random (§6).
    pub transaction_id: TransactionId,
    /// Optional SOFTWARE attribute (§15.10).
    pub software: Option<String>,
}

impl BindingRequest {
    /// A bare Binding request: the 20-byte header only.
    pub fn new(transaction_id: TransactionId) -> Self {
        Self {
            transaction_id,
            software: None,
        }
    }

    /// Parses a Binding request (for a test server). Attributes other than SOFTWARE
    /// are ignored; use [`Message::parse`] to see them (a strict server answers
    /// unknown comprehension-required ones with 420, §7.3.1).
    pub fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        let m = Message::parse(buf)?;
        if m.method != METHOD_BINDING {
            return Err(DecodeError::Unsupported {
                what: "stun method",
                value: m.method.into(),
            });
        }
        if m.class != Class::Request {
            return Err(DecodeError::invalid("stun message class", "not a request"));
        }
        Ok(Self {
            transaction_id: m.transaction_id,
            software: software(&m),
        })
    }

    fn to_message(&self) -> Message {
        Message {
            method: METHOD_BINDING,
            class: Class::Request,
            transaction_id: self.transaction_id,
            attributes: software_attr(&self.software),
        }
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        self.to_message().buffer_len()
    }

    /// Appends the encoded request.
    pub fn emit(&self, out: &mut Vec<u8>) {
        self.to_message().emit(out);
    }

    /// The encoded request.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_message().to_bytes()
    }
}

fn software(m: &Message) -> Option<String> {
    m.attribute(attr::SOFTWARE)
        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
}

fn software_attr(s: &Option<String>) -> Vec<RawAttribute> {
    s.iter()
        .map(|s| RawAttribute {
            typ: attr::SOFTWARE,
            value: s.as_bytes().to_vec(),
        })
        .collect()
}

/// The body of a Binding response.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BindingOutcome {
    /// Success response (§7.3.3): the client's reflexive transport address, from
    /// XOR-MAPPED-ADDRESS or, failing that, MAPPED-ADDRESS (§15.1 backwards
    /// compatibility).
    Success {
        /// The address and port the server saw the request come from.
        mapped_address: SocketAddr,
    },
    /// Error response with an ERROR-CODE attribute (§15.6).
    Error {
        /// The error code, 300..=699 (e.g. 400 Bad Request, 420 Unknown Attribute).
        code: u16,
        /// The reason phrase (lossily decoded from UTF-8).
        reason: String,
    },
}

/// A Binding response as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BindingResponse {
    /// The transaction id, to match against the request's.
    pub transaction_id: TransactionId,
    /// Success or error.
    pub outcome: BindingOutcome,
    /// The server's SOFTWARE attribute, if any.
    pub software: Option<String>,
}

impl BindingResponse {
    /// Parses a Binding success or error response.
    ///
    /// Errors: header problems as in [`Message::parse`]; a method other than Binding
    /// or a type unknown comprehension-required attribute → [`DecodeError::Unsupported`]
    /// (§7.3.3: such a response is discarded); a request or indication class, a
    /// success without any mapped address, an error without ERROR-CODE, or a malformed
    /// address / error code → [`DecodeError::Invalid`]. Attributes after
    /// MESSAGE-INTEGRITY other than FINGERPRINT are ignored (§15.4); integrity and
    /// fingerprint are not verified.
    pub fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        let m = Message::parse(buf)?;
        if m.method != METHOD_BINDING {
            return Err(DecodeError::Unsupported {
                what: "stun method",
                value: m.method.into(),
            });
        }
        let mut considered: Vec<&RawAttribute> = Vec::new();
        for a in &m.attributes {
            if considered.iter().any(|c| c.typ == attr::MESSAGE_INTEGRITY)
                && a.typ != attr::FINGERPRINT
            {
                continue;
            }
            if a.is_comprehension_required() && !attr::is_known_required(a.typ) {
                return Err(DecodeError::Unsupported {
                    what: "stun comprehension-required attribute",
                    value: a.typ.into(),
                });
            }
            considered.push(a);
        }
        let find = |t: u16| considered.iter().find(|a| a.typ == t);
        let outcome = match m.class {
            Class::SuccessResponse => {
                let mapped_address = if let Some(a) = find(attr::XOR_MAPPED_ADDRESS) {
                    decode_address(&a.value, Some(&m.transaction_id))?
                } else if let Some(a) = find(attr::MAPPED_ADDRESS) {
                    decode_address(&a.value, None)?
                } else {
                    return Err(DecodeError::invalid(
                        "stun binding response",
                        "no mapped address",
                    ));
                };
                BindingOutcome::Success { mapped_address }
            }
            Class::ErrorResponse => {
                let a = find(attr::ERROR_CODE)
                    .ok_or(DecodeError::invalid("stun error response", "no ERROR-CODE"))?;
                let Some(([_, _, class, number], reason)) = a.value.split_first_chunk::<4>() else {
                    return Err(DecodeError::truncated("stun ERROR-CODE", 4, a.value.len()));
                };
                let class = class & 0x07;
                if !(3..=6).contains(&class) || *number > 99 {
                    return Err(DecodeError::invalid(
                        "stun ERROR-CODE",
                        "code outside 300..=699",
                    ));
                }
                BindingOutcome::Error {
                    code: u16::from(class) * 100 + u16::from(*number),
                    reason: String::from_utf8_lossy(reason).into_owned(),
                }
            }
            Class::Request | Class::Indication => {
                return Err(DecodeError::invalid("stun message class", "not a response"))
            }
        };
        Ok(Self {
            transaction_id: m.transaction_id,
            outcome,
            software: software(&m),
        })
    }

    /// True when this response answers the request with `id` (§7.3: a response whose
    /// transaction id matches no outstanding request is discarded).
    pub fn matches(&self, id: &TransactionId) -> bool {
        self.transaction_id == *id
    }

    /// The mapped address of a success response.
    pub fn mapped_address(&self) -> Option<SocketAddr> {
        match self.outcome {
            BindingOutcome::Success { mapped_address } => Some(mapped_address),
            BindingOutcome::Error { .. } => None,
        }
    }

    fn to_message(&self) -> Message {
        let mut attributes = software_attr(&self.software);
        let class = match &self.outcome {
            BindingOutcome::Success { mapped_address } => {
                attributes.push(RawAttribute {
                    typ: attr::XOR_MAPPED_ADDRESS,
                    value: encode_address(*mapped_address, Some(&self.transaction_id)),
                });
                Class::SuccessResponse
            }
            BindingOutcome::Error { code, reason } => {
                let mut value = vec![
                    0,
                    0,
                    u8::try_from(code / 100 % 8).unwrap_or(0),
                    u8::try_from(code % 100).unwrap_or(0),
                ];
                value.extend(reason.as_bytes().iter().take(MAX_REASON_LEN));
                attributes.push(RawAttribute {
                    typ: attr::ERROR_CODE,
                    value,
                });
                Class::ErrorResponse
            }
        };
        Message {
            method: METHOD_BINDING,
            class,
            transaction_id: self.transaction_id,
            attributes,
        }
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        self.to_message().buffer_len()
    }

    /// Appends the encoded response: SOFTWARE (if any) then XOR-MAPPED-ADDRESS or
    /// ERROR-CODE (reason cut at [`MAX_REASON_LEN`] bytes).
    pub fn emit(&self, out: &mut Vec<u8>) {
        self.to_message().emit(out);
    }

    /// The encoded response.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_message().to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s
            .bytes()
            .filter(u8::is_ascii_hexdigit)
            .map(|c| match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                _ => c - b'A' + 10,
            })
            .collect();
        digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect()
    }

    const RFC5769_TID: TransactionId = TransactionId([
        0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
    ]);

    /// RFC 5769 §2.2, "Sample IPv4 Response".
    const SAMPLE_IPV4_RESPONSE: &str = "
        01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
        80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
        00 20 00 08 00 01 a1 47 e1 12 a6 43
        00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
        80 28 00 04 c0 7d 4c 96";

    /// RFC 5769 §2.3, "Sample IPv6 Response".
    const SAMPLE_IPV6_RESPONSE: &str = "
        01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
        80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
        00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
        00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
        80 28 00 04 c8 fb 0b 4c";

    #[test]
    fn rfc5769_ipv4_response() {
        let buf = hex(SAMPLE_IPV4_RESPONSE);
        assert_eq!(buf.len(), 80);
        let r = BindingResponse::parse(&buf).unwrap();
        assert!(r.matches(&RFC5769_TID));
        assert_eq!(r.mapped_address(), Some("192.0.2.1:32853".parse().unwrap()));
        // SOFTWARE has length 11; the RFC pads it with a space (padding is ignored).
        assert_eq!(r.software.as_deref(), Some("test vector"));
        let m = Message::parse(&buf).unwrap();
        let types: Vec<u16> = m.attributes.iter().map(|a| a.typ).collect();
        assert_eq!(types, [0x8022, 0x0020, 0x0008, 0x8028]);
        // Our own encoding of the same attributes matches byte for byte, except that
        // we pad with zero where the RFC's sender padded SOFTWARE with 0x20.
        let mut ours = m.to_bytes();
        assert_eq!(ours[35], 0);
        ours[35] = 0x20;
        assert_eq!(ours, buf);
    }

    #[test]
    fn rfc5769_ipv6_response() {
        let buf = hex(SAMPLE_IPV6_RESPONSE);
        assert_eq!(buf.len(), 92);
        let r = BindingResponse::parse(&buf).unwrap();
        assert!(r.matches(&RFC5769_TID));
        assert_eq!(
            r.mapped_address(),
            Some(
                "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
                    .parse()
                    .unwrap()
            )
        );
        // The XOR-MAPPED-ADDRESS we emit for that address is the RFC's.
        let ours = encode_address(r.mapped_address().unwrap(), Some(&RFC5769_TID));
        assert_eq!(
            ours,
            hex("00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9")
        );
    }

    #[test]
    fn binding_request_layout() {
        // RFC 5389 §6: type 0x0001, length 0, cookie, transaction id.
        let req = BindingRequest::new(RFC5769_TID);
        let bytes = req.to_bytes();
        assert_eq!(
            bytes,
            hex("00 01 00 00 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae")
        );
        assert_eq!(BindingRequest::parse(&bytes), Ok(req));
    }

    #[test]
    fn message_types() {
        // §6: Binding request 0x0001, indication 0x0011, success 0x0101, error 0x0111.
        assert_eq!(message_type(METHOD_BINDING, Class::Request), 0x0001);
        assert_eq!(message_type(METHOD_BINDING, Class::Indication), 0x0011);
        assert_eq!(message_type(METHOD_BINDING, Class::SuccessResponse), 0x0101);
        assert_eq!(message_type(METHOD_BINDING, Class::ErrorResponse), 0x0111);
        for t in 0..0x4000u16 {
            let (m, c) = split_message_type(t).unwrap();
            assert_eq!(message_type(m, c), t);
        }
        assert_eq!(split_message_type(0x8001), None);
    }

    #[test]
    fn mapped_address_fallback_and_error_code() {
        // MAPPED-ADDRESS only (§15.1): 10.1.2.3:4660 without XOR.
        let buf = hex("01 01 00 0c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
             00 01 00 08 00 01 12 34 0a 01 02 03");
        let r = BindingResponse::parse(&buf).unwrap();
        assert_eq!(r.mapped_address(), Some("10.1.2.3:4660".parse().unwrap()));
        // Error response 420 "Unknown Attribute" (§15.6: class 4, number 20); value
        // length 4 + 17 = 0x15, padded with three zero bytes.
        let buf = hex("01 11 00 1c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
             00 09 00 15 00 00 04 14 55 6e 6b 6e 6f 77 6e 20 41 74 74 72 69 62 75 74 65
             00 00 00");
        let r = BindingResponse::parse(&buf).unwrap();
        assert_eq!(
            r.outcome,
            BindingOutcome::Error {
                code: 420,
                reason: "Unknown Attribute".into()
            }
        );
        assert_eq!(r.to_bytes(), buf);
        assert_eq!(r.mapped_address(), None);
    }

    #[test]
    fn unknown_attributes() {
        let mut m = Message::parse(&hex(SAMPLE_IPV4_RESPONSE)).unwrap();
        // An unknown comprehension-optional attribute is skipped.
        m.attributes.insert(
            0,
            RawAttribute {
                typ: 0xC001,
                value: vec![1, 2, 3],
            },
        );
        let r = BindingResponse::parse(&m.to_bytes()).unwrap();
        assert_eq!(r.mapped_address(), Some("192.0.2.1:32853".parse().unwrap()));
        // An unknown comprehension-required one makes the response unusable.
        m.attributes.insert(
            0,
            RawAttribute {
                typ: 0x0024,
                value: vec![0; 4],
            },
        );
        assert_eq!(
            BindingResponse::parse(&m.to_bytes()),
            Err(DecodeError::Unsupported {
                what: "stun comprehension-required attribute",
                value: 0x24
            })
        );
    }

    #[test]
    fn hostile_headers() {
        let good = hex(SAMPLE_IPV4_RESPONSE);
        for len in 0..good.len() {
            assert!(BindingResponse::parse(&good[..len]).is_err(), "len {len}");
        }
        let mut extra = good.clone();
        extra.extend_from_slice(&[0, 0, 0, 0]);
        assert!(matches!(
            Message::parse(&extra),
            Err(DecodeError::Invalid { .. })
        ));
        let mut cookie = good.clone();
        cookie[4] = 0;
        assert!(matches!(
            Message::parse(&cookie),
            Err(DecodeError::Invalid { .. })
        ));
        let mut top = good.clone();
        top[0] |= 0x40;
        assert!(matches!(
            Message::parse(&top),
            Err(DecodeError::Invalid { .. })
        ));
        let mut odd_len = good.clone();
        odd_len[3] = 0x3d;
        assert!(Message::parse(&odd_len).is_err());
        // Attribute length running past the message.
        let mut past = good.clone();
        past[23] = 0xff;
        assert!(matches!(
            Message::parse(&past),
            Err(DecodeError::Truncated { .. })
        ));
        // A request is not a response, and the other way round.
        let req = BindingRequest::new(RFC5769_TID).to_bytes();
        assert!(BindingResponse::parse(&req).is_err());
        assert!(BindingRequest::parse(&good).is_err());
        // Bad family and bad lengths inside XOR-MAPPED-ADDRESS.
        assert!(decode_address(&[0, 3, 0, 0, 1, 2, 3, 4], None).is_err());
        assert!(decode_address(&[0, 1, 0, 0, 1, 2, 3], None).is_err());
        assert!(decode_address(&[0, 2, 0, 0, 1, 2, 3, 4], None).is_err());
    }

    fn arb_tid() -> impl Strategy<Value = TransactionId> {
        any::<[u8; 12]>().prop_map(TransactionId)
    }

    fn arb_sockaddr() -> impl Strategy<Value = SocketAddr> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>()).prop_map(|(a, p)| SocketAddr::new(IpAddr::from(a), p)),
            (any::<[u8; 16]>(), any::<u16>())
                .prop_map(|(a, p)| SocketAddr::new(IpAddr::from(a), p)),
        ]
    }

    fn arb_response() -> impl Strategy<Value = BindingResponse> {
        let outcome = prop_oneof![
            arb_sockaddr().prop_map(|mapped_address| BindingOutcome::Success { mapped_address }),
            (3u16..=6, 0u16..=99, "\\PC{0,40}").prop_map(|(c, n, reason)| {
                BindingOutcome::Error {
                    code: c * 100 + n,
                    reason,
                }
            }),
        ];
        (arb_tid(), outcome, proptest::option::of("\\PC{0,20}")).prop_map(
            |(transaction_id, outcome, software)| BindingResponse {
                transaction_id,
                outcome,
                software,
            },
        )
    }

    proptest! {
        #[test]
        fn request_round_trip(tid in arb_tid(), software in proptest::option::of("\\PC{0,20}")) {
            let req = BindingRequest { transaction_id: tid, software };
            let bytes = req.to_bytes();
            prop_assert_eq!(bytes.len(), req.buffer_len());
            prop_assert_eq!(BindingRequest::parse(&bytes), Ok(req));
            for len in 0..bytes.len() {
                prop_assert!(BindingRequest::parse(&bytes[..len]).is_err());
            }
        }

        #[test]
        fn response_round_trip(resp in arb_response()) {
            let bytes = resp.to_bytes();
            prop_assert_eq!(bytes.len(), resp.buffer_len());
            prop_assert_eq!(BindingResponse::parse(&bytes), Ok(resp));
            for len in 0..bytes.len() {
                prop_assert!(BindingResponse::parse(&bytes[..len]).is_err());
            }
        }

        #[test]
        fn message_round_trip(tid in arb_tid(), method in 0u16..0x1000,
                              attrs in proptest::collection::vec(
                                  (any::<u16>(), proptest::collection::vec(any::<u8>(), 0..12)), 0..6)) {
            let m = Message {
                method,
                class: Class::Indication,
                transaction_id: tid,
                attributes: attrs.into_iter().map(|(typ, value)| RawAttribute { typ, value }).collect(),
            };
            prop_assert_eq!(Message::parse(&m.to_bytes()), Ok(m));
        }

        #[test]
        fn garbage_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = BindingResponse::parse(&buf);
            let _ = BindingRequest::parse(&buf);
        }

        #[test]
        fn garbage_after_valid_header_never_panics(body in proptest::collection::vec(any::<u8>(), 0..25), class in 0u8..4) {
            let len = body.len() / 4 * 4;
            let mut b = vec![0x01, if class & 1 == 1 { 0x11 } else { 0x01 }];
            b.extend_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
            b.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
            b.extend_from_slice(&[7; 12]);
            b.extend_from_slice(&body[..len]);
            let _ = BindingResponse::parse(&b);
        }
    }
}
