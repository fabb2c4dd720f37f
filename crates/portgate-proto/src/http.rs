//! HTTP/1.1 message framing (RFC 9112), sans-IO.
//!
//! Used by the daemon's SOAP/GENA server and by the client's description and SOAP
//! fetches. Three layers:
//!
//! - [`RequestHead`] / [`ResponseHead`]: one message head (start line + header fields),
//!   parsed with hard limits ([`MAX_HEAD_LEN`], [`MAX_HEADERS`]) and emitted;
//! - [`Decoder`] ([`RequestDecoder`] for servers, [`ResponseDecoder`] for clients): an
//!   incremental framer that is fed bytes as they arrive and yields [`Event`]s (head,
//!   body bytes, end of message), decoding Content-Length, chunked and close-delimited
//!   bodies with caps, and keeping a connection alive across messages;
//! - helpers: [`check_host`] (DNS-rebinding defence), [`reason_phrase`], the
//!   `emit_with_body` builders and [`HttpUrl`] (the `http://host:port/path` URLs UPnP
//!   uses for LOCATION, control and event callbacks).
//!
//! Every framing error knows the status code a server answers with
//! ([`FramingError::status`]).

mod framer;
mod url;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use thiserror::Error;

use crate::DecodeError;

pub use framer::{
    BodyFraming, Decoder, Event, Limits, MessageHead, RequestDecoder, ResponseDecoder,
};
pub use url::{HttpUrl, UrlHost};

/// Largest message head (start line + header fields + blank line) accepted, in bytes.
///
/// UPnP heads are a few hundred bytes; 8 KiB is the common server default (and what
/// SECURITY.md promises), large enough for every real control point and small enough
/// that a hostile client cannot make the daemon buffer much per connection.
pub const MAX_HEAD_LEN: usize = 8 * 1024;

/// Largest number of header fields in one head.
///
/// A UPnP request carries about ten; 64 leaves room for proxies and odd clients while
/// keeping the (stack-allocated) parse table small.
pub const MAX_HEADERS: usize = 64;

/// Default cap on a message body, in bytes.
///
/// SOAP requests and GENA NOTIFY bodies are under a few KiB; device descriptions of
/// real routers stay well under 64 KiB. 256 KiB bounds memory per connection while
/// leaving a wide margin; [`Limits`] lets a caller choose another value.
pub const MAX_BODY_LEN: u64 = 256 * 1024;

/// Longest chunk-size line (size, extensions and CRLF) accepted in a chunked body.
///
/// A size is at most 16 hex digits; extensions are never used by UPnP peers. 256 bytes
/// refuses "huge size line" attacks early.
pub const MAX_CHUNK_LINE_LEN: usize = 256;

/// Largest trailer section accepted after a chunked body, in bytes.
///
/// Trailers are read and discarded; 4 KiB bounds what a peer can make us buffer.
pub const MAX_TRAILER_LEN: usize = 4 * 1024;

/// HTTP version of a message (RFC 9112 §2.3). Only 1.0 and 1.1 are spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// HTTP/1.0: connections close after each message unless `Connection: keep-alive`.
    Http10,
    /// HTTP/1.1: persistent connections unless `Connection: close`.
    Http11,
}

impl Version {
    /// The protocol version text, e.g. `HTTP/1.1`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Http10 => "HTTP/1.0",
            Self::Http11 => "HTTP/1.1",
        }
    }

    fn from_minor(minor: u8) -> Self {
        if minor == 0 {
            Self::Http10
        } else {
            Self::Http11
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request method (RFC 9110 §9, plus the UPnP ones from UDA 1.1 §1 and §4).
///
/// Methods are case-sensitive (RFC 9110 §9.1): `get` is [`Method::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET` (description documents).
    Get,
    /// `HEAD`: its response never has a body.
    Head,
    /// `POST` (SOAP control).
    Post,
    /// `SUBSCRIBE` (GENA, UDA 1.1 §4.1).
    Subscribe,
    /// `UNSUBSCRIBE` (GENA, UDA 1.1 §4.1.3).
    Unsubscribe,
    /// `NOTIFY` (GENA events, UDA 1.1 §4.3, and SSDP announcements).
    Notify,
    /// `M-SEARCH` (SSDP, UDA 1.1 §1.3).
    MSearch,
    /// Any other method token, kept verbatim.
    Other(String),
}

impl Method {
    /// Maps a method token to a [`Method`].
    pub fn from_token(token: &str) -> Self {
        match token {
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "POST" => Self::Post,
            "SUBSCRIBE" => Self::Subscribe,
            "UNSUBSCRIBE" => Self::Unsubscribe,
            "NOTIFY" => Self::Notify,
            "M-SEARCH" => Self::MSearch,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The method token.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Subscribe => "SUBSCRIBE",
            Self::Unsubscribe => "UNSUBSCRIBE",
            Self::Notify => "NOTIFY",
            Self::MSearch => "M-SEARCH",
            Self::Other(s) => s,
        }
    }

    /// Whether a request with this method carries a body whose length must be declared
    /// (no Content-Length and no Transfer-Encoding is then a 411, RFC 9110 §15.5.12).
    pub fn requires_length(&self) -> bool {
        matches!(self, Self::Post | Self::Notify)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The header fields of a message, in order, with case-insensitive lookup
/// (field names are case-insensitive, RFC 9110 §5.1).
///
/// Values are stored with surrounding whitespace removed. Bytes that are not UTF-8
/// (obs-text) are replaced by U+FFFD.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Headers {
    fields: Vec<(String, String)>,
}

impl Headers {
    /// No fields.
    pub const fn new() -> Self {
        Self { fields: Vec::new() }
    }

    /// Appends a field (keeps any existing field of the same name).
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.fields.push((name.into(), value.into()));
    }

    /// Replaces every field named `name` by one field with `value` (appended).
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.remove(name);
        self.fields.push((name.to_owned(), value.into()));
    }

    /// Removes every field named `name`.
    pub fn remove(&mut self, name: &str) {
        self.fields.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// The value of the first field named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The values of every field named `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The value of the field named `name` if it occurs exactly once; `Err(n)` with the
    /// number of occurrences otherwise (0 or more than 1).
    pub fn get_unique(&self, name: &str) -> Result<&str, usize> {
        let mut found = None;
        let mut count = 0;
        for (n, v) in &self.fields {
            if n.eq_ignore_ascii_case(name) {
                count += 1;
                found = Some(v.as_str());
            }
        }
        match found {
            Some(v) if count == 1 => Ok(v),
            _ => Err(count),
        }
    }

    /// Whether a field named `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Whether the comma-separated list in the fields named `name` holds `token`
    /// (case-insensitive), e.g. `has_token("connection", "close")`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Iterates over `(name, value)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Appends `name: value` lines (CR, LF and NUL in names or values are written as
    /// spaces so that no caller can inject a field).
    pub fn emit(&self, out: &mut Vec<u8>) {
        for (n, v) in &self.fields {
            put_clean(out, n);
            out.extend_from_slice(b": ");
            put_clean(out, v);
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The fields of a parsed head. A value that is not UTF-8 is refused rather than
    /// replaced: a replacement character takes three bytes, and what we parse must fit
    /// our own limits when we emit it again.
    fn from_httparse(raw: &[httparse::Header<'_>]) -> Result<Self, FramingError> {
        let fields = raw
            .iter()
            .map(|h| {
                let v = std::str::from_utf8(h.value)
                    .map_err(|_| FramingError::BadHead("header value is not UTF-8"))?;
                Ok((h.name.to_owned(), v.trim_matches([' ', '\t']).to_owned()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { fields })
    }
}

/// Refuses a head that parsed within `max_head` bytes but would not when emitted
/// again (`: ` after each name and CRLF line ends can add up to two bytes a line): only
/// measured near the limit.
fn check_emitted_len(
    n: usize,
    fields: usize,
    max_head: usize,
    emit: impl FnOnce(&mut Vec<u8>),
) -> Result<(), FramingError> {
    if n + 2 * fields + 16 <= max_head {
        return Ok(());
    }
    let mut out = Vec::with_capacity(max_head);
    emit(&mut out);
    if out.len() > max_head {
        return Err(FramingError::HeadTooLarge { limit: max_head });
    }
    Ok(())
}

/// Writes `s`, turning the bytes that would end a line or a string (CR, LF, NUL) into
/// spaces.
pub(crate) fn put_clean(out: &mut Vec<u8>, s: &str) {
    out.extend(s.bytes().map(|b| match b {
        b'\r' | b'\n' | 0 => b' ',
        b => b,
    }));
}

/// Why a message could not be framed. Each reason maps to the status code a server
/// answers with ([`FramingError::status`]) before closing the connection.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FramingError {
    /// The head is longer than the cap (431).
    #[error("message head over {limit} bytes")]
    HeadTooLarge {
        /// The cap that was exceeded.
        limit: usize,
    },
    /// More header fields than [`MAX_HEADERS`] (431).
    #[error("more than {MAX_HEADERS} header fields")]
    TooManyHeaders,
    /// The start line or a header field is malformed (400).
    #[error("malformed message head: {0}")]
    BadHead(&'static str),
    /// An HTTP version other than 1.0/1.1 (505).
    #[error("unsupported http version")]
    UnsupportedVersion,
    /// A request that needs a body length declared none (411).
    #[error("length required")]
    LengthRequired,
    /// Content-Length is not a decimal number, is negative, or two values differ (400).
    #[error("invalid content-length: {0}")]
    BadContentLength(&'static str),
    /// Both Transfer-Encoding and Content-Length, or Transfer-Encoding on HTTP/1.0 (400).
    #[error("conflicting message framing: {0}")]
    ConflictingFraming(&'static str),
    /// The body is larger than the cap (413).
    #[error("body over {limit} bytes")]
    BodyTooLarge {
        /// The cap that was exceeded.
        limit: u64,
    },
    /// A transfer coding other than `chunked` (501).
    #[error("unsupported transfer coding")]
    UnsupportedTransferCoding,
    /// A chunked body is malformed (400).
    #[error("malformed chunked body: {0}")]
    BadChunk(&'static str),
    /// The trailer section of a chunked body is over its cap (431).
    #[error("trailer section over {limit} bytes")]
    TrailersTooLarge {
        /// The cap that was exceeded.
        limit: usize,
    },
    /// The peer closed the connection in the middle of a message (400; a client treats
    /// it as a failed fetch).
    #[error("connection closed mid-message")]
    UnexpectedEof,
}

impl FramingError {
    /// The status code a server answers with (RFC 9110 §15).
    pub const fn status(&self) -> u16 {
        match self {
            Self::HeadTooLarge { .. } | Self::TooManyHeaders | Self::TrailersTooLarge { .. } => 431,
            Self::BadHead(_)
            | Self::BadContentLength(_)
            | Self::ConflictingFraming(_)
            | Self::BadChunk(_)
            | Self::UnexpectedEof => 400,
            Self::UnsupportedVersion => 505,
            Self::LengthRequired => 411,
            Self::BodyTooLarge { .. } => 413,
            Self::UnsupportedTransferCoding => 501,
        }
    }

    /// The same failure as a crate-wide [`DecodeError`].
    pub fn to_decode_error(&self) -> DecodeError {
        match self {
            Self::HeadTooLarge { limit } => DecodeError::TooLong {
                what: "http head",
                limit: *limit,
            },
            Self::TooManyHeaders => DecodeError::TooMany {
                what: "http header fields",
                limit: MAX_HEADERS,
            },
            Self::TrailersTooLarge { limit } => DecodeError::TooLong {
                what: "http trailers",
                limit: *limit,
            },
            Self::BodyTooLarge { limit } => DecodeError::TooLong {
                what: "http body",
                limit: usize::try_from(*limit).unwrap_or(usize::MAX),
            },
            Self::BadHead(why) => DecodeError::invalid("http head", why),
            Self::UnsupportedVersion => DecodeError::invalid("http version", "not 1.0 or 1.1"),
            Self::LengthRequired => DecodeError::invalid("content-length", "missing"),
            Self::BadContentLength(why) => DecodeError::invalid("content-length", why),
            Self::ConflictingFraming(why) => DecodeError::invalid("http framing", why),
            Self::UnsupportedTransferCoding => {
                DecodeError::invalid("transfer-encoding", "not chunked")
            }
            Self::BadChunk(why) => DecodeError::invalid("chunked body", why),
            Self::UnexpectedEof => DecodeError::invalid("http message", "closed mid-message"),
        }
    }
}

impl From<FramingError> for DecodeError {
    fn from(e: FramingError) -> Self {
        e.to_decode_error()
    }
}

/// Maps an httparse failure; `Version` becomes 505 only when the text really is an
/// `HTTP/x.y` version (else the start line is garbage: 400).
fn map_httparse(e: httparse::Error, buf: &[u8], request: bool) -> FramingError {
    match e {
        httparse::Error::TooManyHeaders => FramingError::TooManyHeaders,
        httparse::Error::Version if looks_like_http_version(buf, request) => {
            FramingError::UnsupportedVersion
        }
        httparse::Error::Version => FramingError::BadHead("invalid http version"),
        httparse::Error::HeaderName => FramingError::BadHead("invalid header name"),
        httparse::Error::HeaderValue => FramingError::BadHead("invalid header value"),
        httparse::Error::NewLine => FramingError::BadHead("invalid line ending"),
        httparse::Error::Status => FramingError::BadHead("invalid status"),
        httparse::Error::Token => FramingError::BadHead("invalid token"),
    }
}

fn looks_like_http_version(buf: &[u8], request: bool) -> bool {
    let line_end = buf
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(buf.len().min(MAX_HEAD_LEN));
    let line = buf.get(..line_end).unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let token = if request {
        line.rsplit(|&b| b == b' ').next()
    } else {
        line.split(|&b| b == b' ').next()
    };
    match token {
        Some([b'H', b'T', b'T', b'P', b'/', major, b'.', minor]) => {
            major.is_ascii_digit() && minor.is_ascii_digit()
        }
        Some([b'H', b'T', b'T', b'P', b'/', major]) => major.is_ascii_digit(),
        _ => false,
    }
}

/// Keep-alive rule of RFC 9112 §9.3: HTTP/1.1 persists unless `Connection: close`;
/// HTTP/1.0 persists only with `Connection: keep-alive`.
fn keep_alive(version: Version, headers: &Headers) -> bool {
    if headers.has_token("connection", "close") {
        return false;
    }
    match version {
        Version::Http11 => true,
        Version::Http10 => headers.has_token("connection", "keep-alive"),
    }
}

/// The head of a request (RFC 9112 §3): request line and header fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The method.
    pub method: Method,
    /// The request-target, verbatim (origin-form `/path?q` or `*`).
    pub target: String,
    /// The protocol version.
    pub version: Version,
    /// The header fields.
    pub headers: Headers,
}

impl RequestHead {
    /// A HTTP/1.1 request head with no fields.
    pub fn new(method: Method, target: impl Into<String>) -> Self {
        Self {
            method,
            target: target.into(),
            version: Version::Http11,
            headers: Headers::new(),
        }
    }

    /// Builder: appends a header field.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push(name, value);
        self
    }

    /// Parses a complete head at the start of `buf` (bytes after the blank line, such
    /// as a body, are ignored). An incomplete head is [`DecodeError::Truncated`].
    pub fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        Self::parse_with_len(buf).map(|(h, _)| h)
    }

    /// Like [`RequestHead::parse`], also returning the length of the head in bytes.
    pub fn parse_with_len(buf: &[u8]) -> Result<(Self, usize), DecodeError> {
        match Self::parse_prefix(buf, MAX_HEAD_LEN)? {
            Some(done) => Ok(done),
            None => Err(DecodeError::truncated(
                "http head",
                buf.len() + 1,
                buf.len(),
            )),
        }
    }

    /// `Ok(None)` when `buf` does not yet hold a whole head (and is under the cap).
    pub(crate) fn parse_prefix(
        buf: &[u8],
        max_head: usize,
    ) -> Result<Option<(Self, usize)>, FramingError> {
        let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut raw);
        let n = match req.parse(buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if buf.len() > max_head => {
                return Err(FramingError::HeadTooLarge { limit: max_head })
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(map_httparse(e, buf, true)),
        };
        if n > max_head {
            return Err(FramingError::HeadTooLarge { limit: max_head });
        }
        let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
            return Err(FramingError::BadHead("incomplete request line"));
        };
        let head = Self {
            method: Method::from_token(method),
            target: target.to_owned(),
            version: Version::from_minor(minor),
            headers: Headers::from_httparse(req.headers)?,
        };
        check_emitted_len(n, head.headers.len(), max_head, |out| head.emit(out))?;
        Ok(Some((head, n)))
    }

    /// Appends the request line, the fields and the blank line.
    pub fn emit(&self, out: &mut Vec<u8>) {
        put_clean(out, self.method.as_str());
        out.push(b' ');
        put_clean(out, &self.target);
        out.push(b' ');
        out.extend_from_slice(self.version.as_str().as_bytes());
        out.extend_from_slice(b"\r\n");
        self.headers.emit(out);
        out.extend_from_slice(b"\r\n");
    }

    /// Appends the head with a `Content-Length` for `body` (replacing any
    /// Content-Length / Transfer-Encoding field), then the body.
    pub fn emit_with_body(&self, body: &[u8], out: &mut Vec<u8>) {
        let mut head = self.clone();
        head.headers.remove("transfer-encoding");
        head.headers.set("Content-Length", body.len().to_string());
        head.emit(out);
        out.extend_from_slice(body);
    }

    /// Whether the connection stays open after this request (RFC 9112 §9.3).
    pub fn keep_alive(&self) -> bool {
        keep_alive(self.version, &self.headers)
    }

    /// Checks the Host field for the DNS-rebinding defence: see [`check_host`].
    ///
    /// An HTTP/1.1 request needs exactly one Host field (RFC 9112 §3.2); an HTTP/1.0
    /// request without one gives `Ok(None)`.
    pub fn check_host(&self, expected: Option<IpAddr>) -> Result<Option<HostPort>, HostError> {
        match self.headers.get_unique("host") {
            Ok(v) => check_host(v, expected).map(Some),
            Err(0) if self.version == Version::Http10 => Ok(None),
            Err(0) => Err(HostError::Missing),
            Err(_) => Err(HostError::Duplicate),
        }
    }
}

/// The head of a response (RFC 9112 §4): status line and header fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The protocol version.
    pub version: Version,
    /// The three-digit status code.
    pub status: u16,
    /// The reason phrase (may be empty).
    pub reason: String,
    /// The header fields.
    pub headers: Headers,
}

impl ResponseHead {
    /// A HTTP/1.1 response head with the usual reason phrase and no fields.
    pub fn new(status: u16) -> Self {
        Self {
            version: Version::Http11,
            status,
            reason: reason_phrase(status).to_owned(),
            headers: Headers::new(),
        }
    }

    /// Builder: appends a header field.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push(name, value);
        self
    }

    /// Parses a complete head at the start of `buf` (bytes after the blank line are
    /// ignored). An incomplete head is [`DecodeError::Truncated`].
    pub fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        Self::parse_with_len(buf).map(|(h, _)| h)
    }

    /// Like [`ResponseHead::parse`], also returning the length of the head in bytes.
    pub fn parse_with_len(buf: &[u8]) -> Result<(Self, usize), DecodeError> {
        match Self::parse_prefix(buf, MAX_HEAD_LEN)? {
            Some(done) => Ok(done),
            None => Err(DecodeError::truncated(
                "http head",
                buf.len() + 1,
                buf.len(),
            )),
        }
    }

    pub(crate) fn parse_prefix(
        buf: &[u8],
        max_head: usize,
    ) -> Result<Option<(Self, usize)>, FramingError> {
        let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut raw);
        let n = match resp.parse(buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if buf.len() > max_head => {
                return Err(FramingError::HeadTooLarge { limit: max_head })
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(map_httparse(e, buf, false)),
        };
        if n > max_head {
            return Err(FramingError::HeadTooLarge { limit: max_head });
        }
        let (Some(minor), Some(status)) = (resp.version, resp.code) else {
            return Err(FramingError::BadHead("incomplete status line"));
        };
        if !(100..=999).contains(&status) {
            return Err(FramingError::BadHead("status code not three digits"));
        }
        let head = Self {
            version: Version::from_minor(minor),
            status,
            reason: resp.reason.unwrap_or_default().to_owned(),
            headers: Headers::from_httparse(resp.headers)?,
        };
        check_emitted_len(n, head.headers.len(), max_head, |out| head.emit(out))?;
        Ok(Some((head, n)))
    }

    /// Appends the status line, the fields and the blank line.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.version.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.status.to_string().as_bytes());
        out.push(b' ');
        put_clean(out, &self.reason);
        out.extend_from_slice(b"\r\n");
        self.headers.emit(out);
        out.extend_from_slice(b"\r\n");
    }

    /// Appends the head with a `Content-Length` for `body` (replacing any
    /// Content-Length / Transfer-Encoding field), then the body.
    pub fn emit_with_body(&self, body: &[u8], out: &mut Vec<u8>) {
        let mut head = self.clone();
        head.headers.remove("transfer-encoding");
        head.headers.set("Content-Length", body.len().to_string());
        head.emit(out);
        out.extend_from_slice(body);
    }

    /// Whether the connection stays open after this response (RFC 9112 §9.3; a
    /// close-delimited body also ends the connection, see [`Event::Complete`]).
    pub fn keep_alive(&self) -> bool {
        keep_alive(self.version, &self.headers)
    }
}

/// Appends a complete response: status line, `fields`, `Content-Length` and `body`.
/// A shorthand for the daemon's error pages and SOAP answers.
pub fn emit_response(status: u16, fields: &[(&str, &str)], body: &[u8], out: &mut Vec<u8>) {
    let mut head = ResponseHead::new(status);
    for (n, v) in fields {
        head.headers.push(*n, *v);
    }
    head.emit_with_body(body, out);
}

/// The usual reason phrase of a status code (RFC 9110 §15), or `""` for codes that
/// this crate never sends.
pub const fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// The address named by a valid Host field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostPort {
    /// The IP literal.
    pub ip: IpAddr,
    /// The port, when the field has one.
    pub port: Option<u16>,
}

/// The IMF-fixdate (RFC 9110 §5.6.7) of the unix time `unix_secs`, as a `Date` field
/// (HTTP) or SSDP's `DATE` carries it. The caller reads the clock.
pub fn http_date(unix_secs: u64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix_secs))
}

/// Why a Host field was refused. A server answers 400 (see [`HostError::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum HostError {
    /// An HTTP/1.1 request without Host (RFC 9112 §3.2).
    #[error("missing host field")]
    Missing,
    /// More than one Host field (RFC 9112 §3.2).
    #[error("more than one host field")]
    Duplicate,
    /// The host is a name, not an IP literal: a DNS-rebinding attempt or a confused
    /// client.
    #[error("host is not an ip literal")]
    NotIpLiteral,
    /// The host is an IP literal but not the address the request arrived on.
    #[error("host names another address")]
    Mismatch,
    /// The port after the host is not a number in 1..=65535.
    #[error("invalid port in host field")]
    BadPort,
}

impl HostError {
    /// The status code a server answers with: 400 (RFC 9112 §3.2).
    pub const fn status(&self) -> u16 {
        400
    }
}

/// Validates a Host field value for the DNS-rebinding defence: the host must be an IP
/// literal (`192.0.2.1`, `[2001:db8::1]`), optionally followed by `:port`, and, when
/// `expected` is given, equal to it (the address the request arrived on).
///
/// Names are refused: a page from a hostile site that resolves its own name to the
/// gateway would send that name, so accepting only literals stops it.
pub fn check_host(value: &str, expected: Option<IpAddr>) -> Result<HostPort, HostError> {
    let value = value.trim();
    let (ip, port) = if let Some(rest) = value.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or(HostError::NotIpLiteral)?;
        let ip: Ipv6Addr = inside.parse().map_err(|_| HostError::NotIpLiteral)?;
        let port = match after {
            "" => None,
            p => Some(parse_port(p.strip_prefix(':').ok_or(HostError::BadPort)?)?),
        };
        (IpAddr::V6(ip), port)
    } else {
        let (host, port) = match value.split_once(':') {
            Some((h, p)) => (h, Some(parse_port(p)?)),
            None => (value, None),
        };
        let ip: std::net::Ipv4Addr = host.parse().map_err(|_| HostError::NotIpLiteral)?;
        (IpAddr::V4(ip), port)
    };
    match expected {
        Some(want) if want != ip => Err(HostError::Mismatch),
        _ => Ok(HostPort { ip, port }),
    }
}

fn parse_port(s: &str) -> Result<u16, HostError> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HostError::BadPort);
    }
    match s.parse::<u16>() {
        Ok(0) | Err(_) => Err(HostError::BadPort),
        Ok(p) => Ok(p),
    }
}
