//! `http://host[:port][/path]` URLs as UPnP uses them (LOCATION, control URLs, GENA
//! CALLBACK): RFC 3986 §3 restricted to the `http` scheme, no user info, IPv6 literals
//! in brackets (RFC 3986 §3.2.2).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::DecodeError;

/// Longest URL accepted, in bytes.
///
/// UPnP URLs are well under 200 bytes; 1 KiB bounds the work on hostile input.
pub const MAX_URL_LEN: usize = 1024;

/// The host part of an [`HttpUrl`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UrlHost {
    /// An IPv4 or IPv6 literal.
    Ip(IpAddr),
    /// A registered name (letters, digits, `-`, `.`, `_`), lower-cased.
    Name(String),
}

impl fmt::Display for UrlHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Self::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            Self::Name(n) => f.write_str(n),
        }
    }
}

/// A parsed `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpUrl {
    /// The host.
    pub host: UrlHost,
    /// The port (80 when the URL has none).
    pub port: u16,
    /// Path and query, starting with `/` (`/` when the URL has none); any fragment
    /// is dropped.
    pub path: String,
}

impl HttpUrl {
    /// Parses an absolute `http://` URL strictly: scheme `http` (any case), no user
    /// info, an IPv4/IPv6 literal or a plain host name, an optional decimal port
    /// 1..=65535, and a path without spaces or control characters.
    pub fn parse(s: &str) -> Result<Self, DecodeError> {
        const WHAT: &str = "http url";
        if s.len() > MAX_URL_LEN {
            return Err(DecodeError::TooLong {
                what: WHAT,
                limit: MAX_URL_LEN,
            });
        }
        let rest = s
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("http://"))
            .and_then(|_| s.get(7..))
            .ok_or(DecodeError::invalid(WHAT, "scheme is not http"))?;
        let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(auth_end);
        if authority.contains('@') {
            return Err(DecodeError::invalid(WHAT, "user info not allowed"));
        }
        let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
            let (lit, after) = inner
                .split_once(']')
                .ok_or(DecodeError::invalid(WHAT, "unbalanced '['"))?;
            let ip: Ipv6Addr = lit
                .parse()
                .map_err(|_| DecodeError::invalid(WHAT, "bad ipv6 literal"))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or(DecodeError::invalid(WHAT, "garbage after ipv6 literal"))?,
                ),
            };
            (UrlHost::Ip(IpAddr::V6(ip)), port)
        } else {
            if authority.contains(['[', ']']) {
                return Err(DecodeError::invalid(WHAT, "unbalanced bracket"));
            }
            let (h, port) = match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            };
            let host = if let Ok(ip) = h.parse::<Ipv4Addr>() {
                UrlHost::Ip(IpAddr::V4(ip))
            } else if !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
            {
                UrlHost::Name(h.to_ascii_lowercase())
            } else {
                return Err(DecodeError::invalid(WHAT, "bad host"));
            };
            (host, port)
        };
        let port = match port {
            None => 80,
            Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
                match p.parse::<u16>() {
                    Ok(n) if n != 0 => n,
                    _ => return Err(DecodeError::invalid(WHAT, "port out of range")),
                }
            }
            Some(_) => return Err(DecodeError::invalid(WHAT, "bad port")),
        };
        let tail = tail.split_once('#').map_or(tail, |(p, _)| p);
        if tail.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(DecodeError::invalid(WHAT, "control or space in path"));
        }
        let path = if tail.starts_with('/') {
            tail.to_owned()
        } else {
            format!("/{tail}")
        };
        Ok(Self { host, port, path })
    }

    /// The value for a Host field: `host` or `host:port` (port omitted when 80).
    pub fn authority(&self) -> String {
        if self.port == 80 {
            self.host.to_string()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Resolves a reference found in a description (RFC 3986 §5.2, the cases UPnP
    /// uses): an absolute `http://` URL, an absolute path `/x`, or a path relative to
    /// this URL's directory.
    pub fn join(&self, reference: &str) -> Result<Self, DecodeError> {
        if reference
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("http://"))
        {
            return Self::parse(reference);
        }
        let path = if reference.starts_with('/') {
            reference.to_owned()
        } else {
            let dir = self
                .path
                .rfind('/')
                .map_or("/", |i| self.path.get(..=i).unwrap_or("/"));
            format!("{dir}{reference}")
        };
        Self::parse(&format!("http://{}{}", self.authority(), path))
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}:{}{}", self.host, self.port, self.path)
    }
}
