//! Value syntaxes of `miniupnpd.conf` keys.
//!
//! Each checker returns a short lowercase reason on failure; the caller wraps
//! it into a [`LineError::BadValue`](super::LineError::BadValue).

use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::str::FromStr;

use super::TEXT_VALUE_MAX;

/// Longest interface name: IFNAMSIZ (16) minus the NUL.
pub const IFNAME_MAX: usize = 15;
/// Longest nftables table/chain name: NFT_NAME_MAXLEN (256) minus the NUL.
pub const NFT_NAME_MAX: usize = 255;
/// Longest path value, bytes (PATH_MAX is 4096 with the NUL).
pub const PATH_MAX: usize = 4095;
/// Longest host name (RFC 1035 section 2.3.4: 253 characters in text form).
pub const HOST_MAX: usize = 253;

/// `yes`/`no` and the usual spellings (`1`/`0`, `true`/`false`, `on`/`off`),
/// any case. miniupnpd only tests for `yes`; anything unknown here is an
/// error rather than a silent "no".
pub(super) fn boolean(v: &str) -> Result<bool, &'static str> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "1" | "true" | "on" => Ok(true),
        "no" | "0" | "false" | "off" => Ok(false),
        _ => Err("expected yes or no"),
    }
}

/// A decimal integer in `min..=max`, digits only.
pub(super) fn number(v: &str, min: u32, max: u32) -> Result<u32, &'static str> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not a decimal number");
    }
    match v.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err("out of range"),
    }
}

/// A decimal u64, digits only.
pub(super) fn number_u64(v: &str) -> Result<u64, &'static str> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not a decimal number");
    }
    v.parse().map_err(|_| "out of range")
}

/// A port 0..=65535.
pub(super) fn port(v: &str) -> Result<u16, &'static str> {
    number(v, 0, u32::from(u16::MAX)).and_then(|n| u16::try_from(n).map_err(|_| "out of range"))
}

/// A port 1..=65535.
pub(super) fn nonzero_port(v: &str) -> Result<u16, &'static str> {
    match port(v)? {
        0 => Err("port 0 is not allowed"),
        p => Ok(p),
    }
}

/// `None` for an empty value, else `Some(f(v))`.
pub(super) fn opt<T>(
    v: &str,
    f: impl FnOnce(&str) -> Result<T, &'static str>,
) -> Result<Option<T>, &'static str> {
    if v.is_empty() {
        Ok(None)
    } else {
        f(v).map(Some)
    }
}

/// `default` for an empty value (miniupnpd reads it as "not set"), else `f(v)`.
pub(super) fn or<T>(
    v: &str,
    default: T,
    f: impl FnOnce(&str) -> Result<T, &'static str>,
) -> Result<T, &'static str> {
    if v.is_empty() {
        Ok(default)
    } else {
        f(v)
    }
}

fn no_controls(v: &str) -> Result<(), &'static str> {
    if v.chars().any(char::is_control) {
        Err("contains control characters")
    } else {
        Ok(())
    }
}

/// A network interface name.
pub(super) fn ifname(v: &str) -> Result<String, &'static str> {
    if v.is_empty() || v.len() > IFNAME_MAX {
        return Err("interface names are 1 to 15 bytes");
    }
    if v == "."
        || v == ".."
        || v.chars()
            .any(|c| c == '/' || c.is_whitespace() || c.is_control())
    {
        return Err("not a valid interface name");
    }
    Ok(v.to_owned())
}

/// A host name or address literal (for STUN).
pub(super) fn host(v: &str) -> Result<String, &'static str> {
    if v.len() > HOST_MAX
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_:[]".contains(c))
    {
        return Err("not a host name or address");
    }
    Ok(v.to_owned())
}

/// Free text (names, URLs, serial): bounded, no control characters.
pub(super) fn text(v: &str) -> Result<String, &'static str> {
    if v.len() > TEXT_VALUE_MAX {
        return Err("longer than 256 bytes");
    }
    no_controls(v)?;
    Ok(v.to_owned())
}

/// A file system path.
pub(super) fn path(v: &str) -> Result<PathBuf, &'static str> {
    if v.is_empty() || v.len() > PATH_MAX {
        return Err("paths are 1 to 4095 bytes");
    }
    no_controls(v)?;
    Ok(PathBuf::from(v))
}

/// An nftables table or chain name.
pub(super) fn nft_name(v: &str) -> Result<String, &'static str> {
    let ok_first = v
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if v.len() > NFT_NAME_MAX
        || !ok_first
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    {
        return Err("not a valid nftables name");
    }
    Ok(v.to_owned())
}

/// One `listening_ip` item: a LAN interface, or an IPv4 address with an
/// optional prefix (`192.168.0.1/24`, `192.168.0.1/255.255.255.0`).
///
/// Several items may share one line (`listening_ip=br0 wlan0`); each becomes
/// its own entry. miniupnpd's "address/mask external-address" form (built
/// with MULTIPLE_EXTERNAL_IP) is not supported.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListenSpec {
    /// An interface name (required for IPv6).
    Interface(String),
    /// An address on a LAN interface.
    Address {
        /// The address.
        addr: Ipv4Addr,
        /// Prefix length, when given; otherwise taken from the interface.
        prefix: Option<u8>,
    },
}

impl FromStr for ListenSpec {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, m) = match s.split_once('/') {
            Some((a, m)) => (a, Some(m)),
            None => (s, None),
        };
        if let Ok(addr) = a.parse::<Ipv4Addr>() {
            let prefix = match m {
                None => None,
                Some(m) if m.contains('.') => {
                    let mask = u32::from(m.parse::<Ipv4Addr>().map_err(|_| "bad mask")?);
                    let ones = mask.leading_ones();
                    if ones + mask.trailing_zeros() != 32 {
                        return Err("mask is not contiguous");
                    }
                    u8::try_from(ones).ok()
                }
                Some(m) => {
                    let bits = number(m, 0, 32).map_err(|_| "bad prefix length")?;
                    u8::try_from(bits).ok()
                }
            };
            return Ok(ListenSpec::Address { addr, prefix });
        }
        if m.is_some() || s.starts_with(|c: char| c.is_ascii_digit()) && s.contains('.') {
            return Err("not an IPv4 address[/mask] nor an interface name");
        }
        ifname(s).map(ListenSpec::Interface)
    }
}

impl fmt::Display for ListenSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenSpec::Interface(n) => f.write_str(n),
            ListenSpec::Address { addr, prefix: None } => write!(f, "{addr}"),
            ListenSpec::Address {
                addr,
                prefix: Some(p),
            } => write!(f, "{addr}/{p}"),
        }
    }
}

/// A UUID (RFC 4122 textual form `8-4-4-4-12` hex digits), e.g. the root
/// device's `uuid=`. Displays lowercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// A random (version 4, RFC 4122 section 4.4) UUID: the root device's when
    /// `uuid` is not configured.
    pub fn random() -> Uuid {
        let mut b = fastrand::u128(..).to_be_bytes();
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        Uuid(b)
    }
}

impl FromStr for Uuid {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const ERR: &str = "expected a UUID like 01234567-89ab-cdef-0123-456789abcdef";
        let groups: Vec<&str> = s.split('-').collect();
        let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        if lens != [8, 4, 4, 4, 12] {
            return Err(ERR);
        }
        let hex: String = groups.concat();
        let mut out = [0u8; 16];
        for (i, byte) in out.iter_mut().enumerate() {
            let pair = hex.get(2 * i..2 * i + 2).ok_or(ERR)?;
            if !pair.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ERR);
            }
            *byte = u8::from_str_radix(pair, 16).map_err(|_| ERR)?;
        }
        Ok(Uuid(out))
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}
