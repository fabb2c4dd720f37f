//! PCP options (RFC 6887 §7.3, §13; RFC 7220).
//!
//! An option is a 4-byte header — code (8 bits), reserved (8 bits), length (16 bits,
//! not counting padding) — followed by its data, zero-padded to a multiple of 4 bytes.

use std::net::IpAddr;

use super::{addr_from_wire, addr_to_wire, ADDR_LEN};
use crate::DecodeError;

/// Length of an option header: code, reserved, length (RFC 6887 §7.3).
pub const OPTION_HEADER_LEN: usize = 4;
/// THIRD_PARTY option code (RFC 6887 §13.1).
pub const THIRD_PARTY: u8 = 1;
/// PREFER_FAILURE option code (RFC 6887 §13.2).
pub const PREFER_FAILURE: u8 = 2;
/// FILTER option code (RFC 6887 §13.3).
pub const FILTER: u8 = 3;
/// DESCRIPTION option code (RFC 7220 §2).
pub const DESCRIPTION: u8 = 128;
/// Option codes below this value are mandatory to process, codes from it upwards are
/// optional (RFC 6887 §7.3).
pub const FIRST_OPTIONAL_CODE: u8 = 128;
/// Length of the FILTER option's data: reserved, prefix length, port, address
/// (RFC 6887 §13.3).
pub const FILTER_DATA_LEN: usize = 20;
/// The longest prefix a FILTER may carry: a full 128-bit address (RFC 6887 §13.3).
pub const MAX_FILTER_PREFIX_LEN: u8 = 128;

/// The FILTER option's data (RFC 6887 §13.3): only traffic from this remote prefix and
/// port may use the mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Filter {
    /// How many leading bits of the 128-bit (IPv4-mapped for IPv4) address are
    /// significant; 0 removes all filters, at most 128.
    pub prefix_length: u8,
    /// Remote peer port, 0 for all ports.
    pub remote_peer_port: u16,
    /// Remote peer address (prefix).
    pub remote_peer_address: IpAddr,
}

/// One PCP option, in the order it appeared in the message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PcpOption {
    /// THIRD_PARTY (code 1, RFC 6887 §13.1): the request is made on behalf of this
    /// internal address. A request with two of them is MALFORMED_OPTION (§13.1); the
    /// server checks that, the parser keeps every option in order.
    ThirdParty(IpAddr),
    /// PREFER_FAILURE (code 2, RFC 6887 §13.2): fail rather than assign another
    /// external port or address than the suggested one. No data.
    PreferFailure,
    /// FILTER (code 3, RFC 6887 §13.3).
    Filter(Filter),
    /// DESCRIPTION (code 128, RFC 7220): free text in UTF-8. A DESCRIPTION that is not
    /// valid UTF-8 is kept as [`PcpOption::Unknown`].
    Description(String),
    /// Any other option, kept raw. Codes below 128 are mandatory to process: a server
    /// that does not know one answers UNSUPP_OPTION (RFC 6887 §7.3).
    Unknown {
        /// The option code.
        code: u8,
        /// The option data, without padding.
        data: Vec<u8>,
    },
}

impl PcpOption {
    /// The option code.
    pub fn code(&self) -> u8 {
        match self {
            Self::ThirdParty(_) => THIRD_PARTY,
            Self::PreferFailure => PREFER_FAILURE,
            Self::Filter(_) => FILTER,
            Self::Description(_) => DESCRIPTION,
            Self::Unknown { code, .. } => *code,
        }
    }

    /// True when a receiver that does not understand this option must reject the
    /// message (codes 0-127, RFC 6887 §7.3).
    pub fn is_mandatory(&self) -> bool {
        self.code() < FIRST_OPTIONAL_CODE
    }

    /// True when this option is one the parser decoded (not [`PcpOption::Unknown`]).
    pub fn is_known(&self) -> bool {
        !matches!(self, Self::Unknown { .. })
    }

    fn data_len(&self) -> usize {
        let len = match self {
            Self::ThirdParty(_) => ADDR_LEN,
            Self::PreferFailure => 0,
            Self::Filter(_) => FILTER_DATA_LEN,
            Self::Description(s) => s.len(),
            Self::Unknown { data, .. } => data.len(),
        };
        len.min(usize::from(u16::MAX))
    }

    /// Encoded length including header and padding.
    pub fn buffer_len(&self) -> usize {
        OPTION_HEADER_LEN + padded(self.data_len())
    }

    /// Appends the encoded option (header, data, zero padding). Data longer than
    /// 65535 bytes (far more than a PCP message can hold) is cut at 65535.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let len = self.data_len();
        out.push(self.code());
        out.push(0);
        // `len` was capped at u16::MAX by data_len.
        out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
        let start = out.len();
        match self {
            Self::ThirdParty(a) => out.extend_from_slice(&addr_to_wire(*a)),
            Self::PreferFailure => {}
            Self::Filter(f) => {
                out.push(0);
                out.push(f.prefix_length);
                out.extend_from_slice(&f.remote_peer_port.to_be_bytes());
                out.extend_from_slice(&addr_to_wire(f.remote_peer_address));
            }
            Self::Description(s) => out.extend(s.as_bytes().iter().take(len)),
            Self::Unknown { data, .. } => out.extend(data.iter().take(len)),
        }
        let written = out.len() - start;
        out.resize(out.len() + (padded(written) - written), 0);
    }

    /// Decodes one option's data given its code. Wrong lengths for known options and a
    /// FILTER prefix over 128 are [`DecodeError::Invalid`] (MALFORMED_OPTION).
    fn from_code_and_data(code: u8, data: &[u8]) -> Result<Self, DecodeError> {
        let wrong_len = |what| DecodeError::invalid(what, "wrong option length");
        match code {
            THIRD_PARTY => {
                let a: &[u8; ADDR_LEN] = data
                    .try_into()
                    .map_err(|_| wrong_len("pcp THIRD_PARTY option"))?;
                Ok(Self::ThirdParty(addr_from_wire(a)))
            }
            PREFER_FAILURE => {
                if data.is_empty() {
                    Ok(Self::PreferFailure)
                } else {
                    Err(wrong_len("pcp PREFER_FAILURE option"))
                }
            }
            FILTER => {
                let d: &[u8; FILTER_DATA_LEN] = data
                    .try_into()
                    .map_err(|_| wrong_len("pcp FILTER option"))?;
                let [_reserved, prefix_length, p0, p1, addr @ ..] = d;
                if *prefix_length > MAX_FILTER_PREFIX_LEN {
                    return Err(DecodeError::invalid(
                        "pcp FILTER option",
                        "prefix length over 128",
                    ));
                }
                Ok(Self::Filter(Filter {
                    prefix_length: *prefix_length,
                    remote_peer_port: u16::from_be_bytes([*p0, *p1]),
                    remote_peer_address: addr_from_wire(addr),
                }))
            }
            DESCRIPTION => Ok(match std::str::from_utf8(data) {
                Ok(s) => Self::Description(s.to_owned()),
                Err(_) => Self::Unknown {
                    code,
                    data: data.to_vec(),
                },
            }),
            _ => Ok(Self::Unknown {
                code,
                data: data.to_vec(),
            }),
        }
    }
}

/// `len` rounded up to a multiple of 4.
pub(super) fn padded(len: usize) -> usize {
    len.div_ceil(4) * 4
}

/// Parses the options that fill `buf` completely.
///
/// Every error here means MALFORMED_OPTION (RFC 6887 §7.3, §8.3): a header or data
/// running past the end ([`DecodeError::Truncated`]) or a known option with a bad
/// length or value ([`DecodeError::Invalid`]).
pub fn parse_options(mut buf: &[u8]) -> Result<Vec<PcpOption>, DecodeError> {
    let mut options = Vec::new();
    while !buf.is_empty() {
        let Some(([code, _reserved, l0, l1], rest)) = buf.split_first_chunk::<4>() else {
            return Err(DecodeError::truncated(
                "pcp option header",
                OPTION_HEADER_LEN,
                buf.len(),
            ));
        };
        let len = usize::from(u16::from_be_bytes([*l0, *l1]));
        let data =
            rest.get(..len)
                .ok_or(DecodeError::truncated("pcp option data", len, rest.len()))?;
        options.push(PcpOption::from_code_and_data(*code, data)?);
        // Padding past the end of the message is tolerated only if it is missing
        // entirely at the very end; a sender must pad, and messages are multiples of 4
        // so this only matters for hand-built buffers.
        buf = rest.get(padded(len)..).unwrap_or(&[]);
    }
    Ok(options)
}

/// Whether an option may appear in a request with this opcode: THIRD_PARTY in MAP and
/// PEER (RFC 6887 §13.1), PREFER_FAILURE and FILTER in MAP only (§13.2, §13.3),
/// DESCRIPTION in MAP and PEER (RFC 7220 §2). Unknown codes: `true` (the
/// mandatory/optional rule applies instead).
pub fn allowed_in(code: u8, opcode: u8) -> bool {
    use super::{OPCODE_MAP, OPCODE_PEER};
    match code {
        THIRD_PARTY | DESCRIPTION => opcode == OPCODE_MAP || opcode == OPCODE_PEER,
        PREFER_FAILURE | FILTER => opcode == OPCODE_MAP,
        _ => true,
    }
}
