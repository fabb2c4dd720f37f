//! GENA eventing (UDA 1.1 §4): the HTTP heads of SUBSCRIBE, renewal SUBSCRIBE,
//! UNSUBSCRIBE, the subscription response and the event NOTIFY, built on
//! [`crate::http`]. The NOTIFY body (the `e:propertyset` document) lives in
//! [`propertyset`].
//!
//! A server reads a head with [`crate::http::RequestDecoder`] and classifies it with
//! [`GenaRequest::from_head`]; each refusal is a [`GenaError`] that knows its status
//! code (400 for incompatible fields, 412 for a missing/invalid CALLBACK, NT or SID,
//! UDA 1.1 §4.1.2-§4.1.4). CALLBACK URLs are parsed strictly so the daemon can apply
//! the CallStranger (CVE-2020-12695) rule to [`CallbackUrl::host_ip`].

pub mod propertyset;

use std::fmt;
use std::net::IpAddr;

use thiserror::Error;

use crate::http::{HttpUrl, Method, RequestHead, ResponseHead, UrlHost};
use crate::DecodeError;

/// Most CALLBACK URLs accepted in one SUBSCRIBE.
///
/// UDA 1.1 §4.1.2 allows a list tried in order; control points send one. 4 bounds
/// the NOTIFY attempts a single subscriber can cause.
pub const MAX_CALLBACK_URLS: usize = 4;

/// Longest SID accepted, in bytes.
///
/// A SID is `uuid:` plus a UUID (41 bytes, UDA 1.1 §4.1.2); 128 allows other
/// implementations' formats while bounding what we store per subscription.
pub const MAX_SID_LEN: usize = 128;

/// The NT value of GENA requests.
pub const NT_EVENT: &str = "upnp:event";
/// The NTS value of event NOTIFYs.
pub const NTS_PROPCHANGE: &str = "upnp:propchange";
/// The CONTENT-TYPE of event NOTIFYs (UDA 1.1 §4.3.2).
pub const CONTENT_TYPE_XML: &str = "text/xml; charset=\"utf-8\"";

/// A subscription duration (TIMEOUT field, UDA 1.1 §4.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timeout {
    /// `Second-N`.
    Seconds(u32),
    /// `infinite` (UDA 1.0 `Second-infinite`); the daemon treats it as 1800 s.
    Infinite,
}

impl Timeout {
    /// Parses `Second-N`, `Second-infinite` or `infinite` (any case). `None` when the
    /// value is none of these.
    pub fn from_value(v: &str) -> Option<Self> {
        let v = v.trim();
        if v.eq_ignore_ascii_case("infinite") {
            return Some(Self::Infinite);
        }
        let n = v
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("second-"))
            .and_then(|_| v.get(7..))?;
        if n.eq_ignore_ascii_case("infinite") {
            return Some(Self::Infinite);
        }
        if n.is_empty() || n.len() > 10 || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        n.parse().ok().map(Self::Seconds)
    }
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Seconds(n) => write!(f, "Second-{n}"),
            Self::Infinite => f.write_str("infinite"),
        }
    }
}

/// One URL of a CALLBACK field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackUrl {
    /// The URL as sent (between the angle brackets).
    pub raw: String,
    /// The parsed URL.
    pub url: HttpUrl,
}

impl CallbackUrl {
    /// The host as an address, `None` for a host name (which the daemon refuses:
    /// it never resolves names).
    pub fn host_ip(&self) -> Option<IpAddr> {
        match self.url.host {
            UrlHost::Ip(ip) => Some(ip),
            UrlHost::Name(_) => None,
        }
    }
}

/// Parses a CALLBACK value: one or more `<http://...>` URLs (UDA 1.1 §4.1.2),
/// optionally separated by whitespace, at most [`MAX_CALLBACK_URLS`]. Anything else
/// (text outside the brackets, an unclosed `<`, an empty list, a non-http URL, an
/// unbalanced `[`) is an error.
pub fn parse_callbacks(value: &str) -> Result<Vec<CallbackUrl>, DecodeError> {
    const WHAT: &str = "CALLBACK";
    let mut urls = Vec::new();
    let mut rest = value.trim();
    while !rest.is_empty() {
        let inner = rest
            .strip_prefix('<')
            .ok_or(DecodeError::invalid(WHAT, "url not in angle brackets"))?;
        let (url, after) = inner
            .split_once('>')
            .ok_or(DecodeError::invalid(WHAT, "unclosed '<'"))?;
        if url.contains('<') {
            return Err(DecodeError::invalid(WHAT, "nested '<'"));
        }
        if urls.len() == MAX_CALLBACK_URLS {
            return Err(DecodeError::TooMany {
                what: WHAT,
                limit: MAX_CALLBACK_URLS,
            });
        }
        urls.push(CallbackUrl {
            raw: url.to_owned(),
            url: HttpUrl::parse(url)?,
        });
        rest = after.trim_start();
    }
    if urls.is_empty() {
        return Err(DecodeError::invalid(WHAT, "no url"));
    }
    Ok(urls)
}

/// Why a GENA request is refused; [`GenaError::status`] is the answer due.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum GenaError {
    /// The method is neither SUBSCRIBE, UNSUBSCRIBE nor (for [`NotifyHead`]) NOTIFY
    /// (405).
    #[error("not a gena method")]
    WrongMethod,
    /// SID together with CALLBACK or NT (400, UDA 1.1 §4.1.2 "incompatible header
    /// fields").
    #[error("sid together with callback or nt")]
    IncompatibleFields,
    /// NT (or NTS on NOTIFY) missing or not the GENA value (412).
    #[error("missing or invalid nt/nts")]
    BadNt,
    /// CALLBACK missing on a new subscription (412).
    #[error("missing callback")]
    MissingCallback,
    /// CALLBACK malformed (412).
    #[error("invalid callback: {0}")]
    BadCallback(DecodeError),
    /// SID missing, empty, too long or not printable (412).
    #[error("missing or invalid sid")]
    BadSid,
    /// SEQ missing or not a 32-bit decimal number (400).
    #[error("missing or invalid seq")]
    BadSeq,
    /// CONTENT-LENGTH of a NOTIFY is not a decimal number (400).
    #[error("invalid content-length")]
    BadContentLength,
    /// A GENA field appears twice (400).
    #[error("repeated field {0}")]
    RepeatedField(&'static str),
}

impl GenaError {
    /// The status code a server answers with.
    pub const fn status(&self) -> u16 {
        match self {
            Self::WrongMethod => 405,
            Self::IncompatibleFields
            | Self::BadSeq
            | Self::BadContentLength
            | Self::RepeatedField(_) => 400,
            Self::BadNt | Self::MissingCallback | Self::BadCallback(_) | Self::BadSid => 412,
        }
    }

    fn into_decode_error(self) -> DecodeError {
        match self {
            Self::BadCallback(e) => e,
            Self::WrongMethod => DecodeError::invalid("gena", "wrong method"),
            Self::IncompatibleFields => {
                DecodeError::invalid("gena", "sid together with callback or nt")
            }
            Self::BadNt => DecodeError::invalid("NT", "missing or not upnp:event"),
            Self::MissingCallback => DecodeError::invalid("CALLBACK", "missing"),
            Self::BadSid => DecodeError::invalid("SID", "missing or invalid"),
            Self::BadSeq => DecodeError::invalid("SEQ", "missing or invalid"),
            Self::BadContentLength => DecodeError::invalid("CONTENT-LENGTH", "not a number"),
            Self::RepeatedField(f) => DecodeError::invalid(f, "field repeated"),
        }
    }
}

fn unique<'a>(head: &'a RequestHead, name: &'static str) -> Result<Option<&'a str>, GenaError> {
    match head.headers.get_unique(name) {
        Ok(v) => Ok(Some(v)),
        Err(0) => Ok(None),
        Err(_) => Err(GenaError::RepeatedField(name)),
    }
}

fn sid(v: Option<&str>) -> Result<String, GenaError> {
    match v {
        Some(s)
            if !s.is_empty()
                && s.len() <= MAX_SID_LEN
                && s.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(s.to_owned())
        }
        _ => Err(GenaError::BadSid),
    }
}

fn timeout(head: &RequestHead) -> Result<Option<Timeout>, GenaError> {
    // An unreadable TIMEOUT is treated as absent: the server then uses its default.
    Ok(unique(head, "TIMEOUT")?.and_then(Timeout::from_value))
}

/// A new subscription (UDA 1.1 §4.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// The event URL path (request-target).
    pub path: String,
    /// HOST.
    pub host: Option<String>,
    /// CALLBACK URLs, in order of preference.
    pub callbacks: Vec<CallbackUrl>,
    /// Requested TIMEOUT.
    pub timeout: Option<Timeout>,
}

/// A renewal (UDA 1.1 §4.1.3): SUBSCRIBE with SID and no CALLBACK/NT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renew {
    /// The event URL path.
    pub path: String,
    /// HOST.
    pub host: Option<String>,
    /// The subscription id.
    pub sid: String,
    /// Requested TIMEOUT.
    pub timeout: Option<Timeout>,
}

/// A cancellation (UDA 1.1 §4.1.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// The event URL path.
    pub path: String,
    /// HOST.
    pub host: Option<String>,
    /// The subscription id.
    pub sid: String,
}

/// A GENA request as a server receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GenaRequest {
    /// New subscription.
    Subscribe(Subscribe),
    /// Renewal.
    Renew(Renew),
    /// Cancellation.
    Unsubscribe(Unsubscribe),
}

impl GenaRequest {
    /// Classifies and validates a request head (UDA 1.1 §4.1.2-§4.1.4).
    pub fn from_head(head: &RequestHead) -> Result<Self, GenaError> {
        let host = head.headers.get("HOST").map(str::to_owned);
        let path = head.target.clone();
        let sid_field = unique(head, "SID")?;
        let callback = unique(head, "CALLBACK")?;
        let nt = unique(head, "NT")?;
        match head.method {
            Method::Subscribe if sid_field.is_some() => {
                if callback.is_some() || nt.is_some() {
                    return Err(GenaError::IncompatibleFields);
                }
                Ok(Self::Renew(Renew {
                    path,
                    host,
                    sid: sid(sid_field)?,
                    timeout: timeout(head)?,
                }))
            }
            Method::Subscribe => {
                if !nt.is_some_and(|v| v.eq_ignore_ascii_case(NT_EVENT)) {
                    return Err(GenaError::BadNt);
                }
                let callbacks = parse_callbacks(callback.ok_or(GenaError::MissingCallback)?)
                    .map_err(GenaError::BadCallback)?;
                Ok(Self::Subscribe(Subscribe {
                    path,
                    host,
                    callbacks,
                    timeout: timeout(head)?,
                }))
            }
            Method::Unsubscribe => {
                if callback.is_some() || nt.is_some() {
                    return Err(GenaError::IncompatibleFields);
                }
                Ok(Self::Unsubscribe(Unsubscribe {
                    path,
                    host,
                    sid: sid(sid_field)?,
                }))
            }
            _ => Err(GenaError::WrongMethod),
        }
    }

    /// Parses a request head from bytes.
    pub fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        Self::from_head(&RequestHead::parse(buf)?).map_err(GenaError::into_decode_error)
    }

    /// The request head (no body).
    pub fn to_head(&self) -> RequestHead {
        let (method, path, host) = match self {
            Self::Subscribe(s) => (Method::Subscribe, &s.path, &s.host),
            Self::Renew(r) => (Method::Subscribe, &r.path, &r.host),
            Self::Unsubscribe(u) => (Method::Unsubscribe, &u.path, &u.host),
        };
        let mut head = RequestHead::new(method, path.clone());
        if let Some(h) = host {
            head.headers.push("HOST", h.clone());
        }
        match self {
            Self::Subscribe(s) => {
                let cb: String = s.callbacks.iter().map(|c| format!("<{}>", c.raw)).collect();
                head.headers.push("CALLBACK", cb);
                head.headers.push("NT", NT_EVENT);
                if let Some(t) = s.timeout {
                    head.headers.push("TIMEOUT", t.to_string());
                }
            }
            Self::Renew(r) => {
                head.headers.push("SID", r.sid.clone());
                if let Some(t) = r.timeout {
                    head.headers.push("TIMEOUT", t.to_string());
                }
            }
            Self::Unsubscribe(u) => head.headers.push("SID", u.sid.clone()),
        }
        head
    }

    /// Appends the request head (these requests have no body).
    pub fn emit(&self, out: &mut Vec<u8>) {
        self.to_head().emit(out);
    }
}

/// The success response to SUBSCRIBE (new or renewal), UDA 1.1 §4.1.2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeResponse {
    /// SERVER.
    pub server: Option<String>,
    /// The subscription id.
    pub sid: String,
    /// The granted duration.
    pub timeout: Timeout,
}

impl SubscribeResponse {
    /// The response head: `200 OK`, SERVER, SID, TIMEOUT, `Content-Length: 0`.
    pub fn to_head(&self) -> ResponseHead {
        let mut head = ResponseHead::new(200);
        if let Some(s) = &self.server {
            head.headers.push("SERVER", s.clone());
        }
        head.headers.push("SID", self.sid.clone());
        head.headers.push("TIMEOUT", self.timeout.to_string());
        head.headers.push("Content-Length", "0");
        head
    }

    /// Reads a response head (a client after SUBSCRIBE): status 200 with SID and a
    /// valid TIMEOUT.
    pub fn from_head(head: &ResponseHead) -> Result<Self, DecodeError> {
        if head.status != 200 {
            return Err(DecodeError::invalid("gena response", "status is not 200"));
        }
        let sid = sid(head.headers.get_unique("SID").ok()).map_err(GenaError::into_decode_error)?;
        let timeout = head
            .headers
            .get_unique("TIMEOUT")
            .ok()
            .and_then(Timeout::from_value)
            .ok_or(DecodeError::invalid("TIMEOUT", "missing or invalid"))?;
        Ok(Self {
            server: head.headers.get("SERVER").map(str::to_owned),
            sid,
            timeout,
        })
    }

    /// Parses a response head from bytes.
    pub fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        Self::from_head(&ResponseHead::parse(buf)?)
    }

    /// Appends the response head (no body).
    pub fn emit(&self, out: &mut Vec<u8>) {
        self.to_head().emit(out);
    }
}

/// The head of an event NOTIFY (UDA 1.1 §4.3.1); the body is a
/// [`propertyset`] document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyHead {
    /// The callback URL's path.
    pub path: String,
    /// HOST (the callback URL's authority).
    pub host: Option<String>,
    /// The subscription id.
    pub sid: String,
    /// The event key: 0 for the initial event, then increasing (UDA 1.1 §4.3.1).
    pub seq: u32,
    /// CONTENT-LENGTH of the body (`None`: not given, e.g. a chunked body).
    pub content_length: Option<u64>,
}

impl NotifyHead {
    /// The request head: HOST, CONTENT-TYPE, CONTENT-LENGTH, NT, NTS, SID, SEQ.
    pub fn to_head(&self) -> RequestHead {
        let mut head = RequestHead::new(Method::Notify, self.path.clone());
        if let Some(h) = &self.host {
            head.headers.push("HOST", h.clone());
        }
        head.headers.push("CONTENT-TYPE", CONTENT_TYPE_XML);
        if let Some(n) = self.content_length {
            head.headers.push("CONTENT-LENGTH", n.to_string());
        }
        head.headers.push("NT", NT_EVENT);
        head.headers.push("NTS", NTS_PROPCHANGE);
        head.headers.push("SID", self.sid.clone());
        head.headers.push("SEQ", self.seq.to_string());
        head
    }

    /// Validates a received NOTIFY head (a control point's callback server): NT
    /// `upnp:event` and NTS `upnp:propchange` (else 412), a SID (else 412) and a SEQ
    /// (else 400). Body framing errors (Content-Length) are the framer's job.
    pub fn from_head(head: &RequestHead) -> Result<Self, GenaError> {
        if head.method != Method::Notify {
            return Err(GenaError::WrongMethod);
        }
        let nt_ok = unique(head, "NT")?.is_some_and(|v| v.eq_ignore_ascii_case(NT_EVENT));
        let nts_ok = unique(head, "NTS")?.is_some_and(|v| v.eq_ignore_ascii_case(NTS_PROPCHANGE));
        if !nt_ok || !nts_ok {
            return Err(GenaError::BadNt);
        }
        let sid = sid(unique(head, "SID")?)?;
        let seq = unique(head, "SEQ")?
            .filter(|s| !s.is_empty() && s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u32>().ok())
            .ok_or(GenaError::BadSeq)?;
        let content_length = match unique(head, "CONTENT-LENGTH")? {
            None => None,
            Some(v) if !v.is_empty() && v.len() <= 19 && v.bytes().all(|b| b.is_ascii_digit()) => {
                Some(v.parse::<u64>().map_err(|_| GenaError::BadContentLength)?)
            }
            Some(_) => return Err(GenaError::BadContentLength),
        };
        Ok(Self {
            path: head.target.clone(),
            host: head.headers.get("HOST").map(str::to_owned),
            sid,
            seq,
            content_length,
        })
    }

    /// Parses a NOTIFY head from bytes.
    pub fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        Self::from_head(&RequestHead::parse(buf)?).map_err(GenaError::into_decode_error)
    }

    /// Appends the request head (the caller appends the body).
    pub fn emit(&self, out: &mut Vec<u8>) {
        self.to_head().emit(out);
    }
}

#[cfg(test)]
mod tests {
    //! Byte vectors are constructed from the UDA 1.1 §4 examples; none is a capture
    //! of a real device.
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv6Addr;

    /// UDA 1.1 §4.1.2 SUBSCRIBE layout, constructed from the spec.
    const SUBSCRIBE: &[u8] = b"SUBSCRIBE /evt/IPConn HTTP/1.1\r\n\
HOST: 192.168.1.1:5000\r\n\
USER-AGENT: Linux/6.1 UPnP/1.1 test/1.0\r\n\
CALLBACK: <http://192.168.1.20:49152/cb>\r\n\
NT: upnp:event\r\n\
TIMEOUT: Second-1800\r\n\
\r\n";

    fn head_err(bytes: &[u8]) -> GenaError {
        GenaRequest::from_head(&RequestHead::parse(bytes).unwrap()).unwrap_err()
    }

    #[test]
    fn parses_subscribe() {
        let GenaRequest::Subscribe(s) = GenaRequest::parse(SUBSCRIBE).unwrap() else {
            panic!("not a subscribe");
        };
        assert_eq!(s.path, "/evt/IPConn");
        assert_eq!(s.timeout, Some(Timeout::Seconds(1800)));
        assert_eq!(s.callbacks.len(), 1);
        assert_eq!(
            s.callbacks[0].host_ip(),
            Some("192.168.1.20".parse().unwrap())
        );
        assert_eq!(s.callbacks[0].url.port, 49152);
        assert_eq!(s.callbacks[0].url.path, "/cb");
    }

    #[test]
    fn renew_and_unsubscribe() {
        let r = GenaRequest::parse(
            b"SUBSCRIBE /evt HTTP/1.1\r\nHOST: 10.0.0.1:5000\r\nSID: uuid:1234\r\nTIMEOUT: infinite\r\n\r\n",
        )
        .unwrap();
        assert!(
            matches!(r, GenaRequest::Renew(Renew { ref sid, timeout: Some(Timeout::Infinite), .. }) if sid == "uuid:1234")
        );
        let u = GenaRequest::parse(b"UNSUBSCRIBE /evt HTTP/1.1\r\nSID: uuid:1234\r\n\r\n").unwrap();
        assert!(
            matches!(u, GenaRequest::Unsubscribe(Unsubscribe { ref sid, .. }) if sid == "uuid:1234")
        );
    }

    #[test]
    fn refusals_carry_the_status_due() {
        let e = head_err(
            b"SUBSCRIBE /e HTTP/1.1\r\nSID: uuid:1\r\nCALLBACK: <http://10.0.0.2/>\r\n\r\n",
        );
        assert_eq!(
            (e.clone(), e.status()),
            (GenaError::IncompatibleFields, 400)
        );
        let e = head_err(b"SUBSCRIBE /e HTTP/1.1\r\nSID: uuid:1\r\nNT: upnp:event\r\n\r\n");
        assert_eq!(e.status(), 400);
        let e = head_err(b"UNSUBSCRIBE /e HTTP/1.1\r\nSID: uuid:1\r\nNT: upnp:event\r\n\r\n");
        assert_eq!(e.status(), 400);
        let e = head_err(b"UNSUBSCRIBE /e HTTP/1.1\r\n\r\n");
        assert_eq!((e.clone(), e.status()), (GenaError::BadSid, 412));
        let e = head_err(
            b"SUBSCRIBE /e HTTP/1.1\r\nCALLBACK: <http://10.0.0.2/>\r\nNT: upnp:propchange\r\n\r\n",
        );
        assert_eq!((e.clone(), e.status()), (GenaError::BadNt, 412));
        let e = head_err(b"SUBSCRIBE /e HTTP/1.1\r\nNT: upnp:event\r\n\r\n");
        assert_eq!((e.clone(), e.status()), (GenaError::MissingCallback, 412));
        let e = head_err(
            b"SUBSCRIBE /e HTTP/1.1\r\nCALLBACK: <http://[fe80::1/>\r\nNT: upnp:event\r\n\r\n",
        );
        assert!(matches!(e, GenaError::BadCallback(_)));
        assert_eq!(e.status(), 412);
        let e = head_err(b"GET /e HTTP/1.1\r\n\r\n");
        assert_eq!(e.status(), 405);
        let e = head_err(b"UNSUBSCRIBE /e HTTP/1.1\r\nSID: a\r\nSID: b\r\n\r\n");
        assert_eq!(e, GenaError::RepeatedField("SID"));
        let mut long = b"UNSUBSCRIBE /e HTTP/1.1\r\nSID: ".to_vec();
        long.extend(std::iter::repeat_n(b'x', MAX_SID_LEN + 1));
        long.extend_from_slice(b"\r\n\r\n");
        assert_eq!(head_err(&long), GenaError::BadSid);
    }

    #[test]
    fn callbacks() {
        let v = parse_callbacks("<http://[fe80::1]:8080/a> <http://10.0.0.3/b>").unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(
            v[0].host_ip(),
            Some(IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)))
        );
        assert_eq!(v[0].url.port, 8080);
        assert_eq!(v[1].url.port, 80);
        assert_eq!(
            parse_callbacks("<http://host.lan/>").unwrap()[0].host_ip(),
            None
        );
        for bad in [
            "",
            "http://10.0.0.1/",
            "<http://10.0.0.1/",
            "<https://10.0.0.1/>",
            "<http://[fe80::1:80/>",
            "<http://fe80::1]/>",
            "<http://10.0.0.1/> junk",
            "<<http://10.0.0.1/>>",
            "<http://10.0.0.1:99999/>",
            "<ftp://10.0.0.1/>",
            "<>",
        ] {
            assert!(parse_callbacks(bad).is_err(), "{bad:?}");
        }
        let five = "<http://10.0.0.1/>".repeat(MAX_CALLBACK_URLS + 1);
        assert!(matches!(
            parse_callbacks(&five),
            Err(DecodeError::TooMany { .. })
        ));
    }

    #[test]
    fn timeouts() {
        assert_eq!(
            Timeout::from_value("second-300"),
            Some(Timeout::Seconds(300))
        );
        assert_eq!(
            Timeout::from_value("Second-infinite"),
            Some(Timeout::Infinite)
        );
        assert_eq!(Timeout::from_value("INFINITE"), Some(Timeout::Infinite));
        for bad in [
            "Second-",
            "Second--1",
            "300",
            "Second-99999999999",
            "Minute-5",
        ] {
            assert_eq!(Timeout::from_value(bad), None, "{bad}");
        }
    }

    #[test]
    fn responses_and_notify() {
        let resp = SubscribeResponse {
            server: Some("Linux/6.1 UPnP/1.1 portgate/0.1".into()),
            sid: "uuid:abcd".into(),
            timeout: Timeout::Seconds(1800),
        };
        let mut out = Vec::new();
        resp.emit(&mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nSERVER: Linux/6.1 UPnP/1.1 portgate/0.1\r\nSID: uuid:abcd\r\n\
TIMEOUT: Second-1800\r\nContent-Length: 0\r\n\r\n"
        );
        assert_eq!(SubscribeResponse::parse(&out).unwrap(), resp);
        assert!(SubscribeResponse::parse(b"HTTP/1.1 412 Precondition Failed\r\n\r\n").is_err());
        assert!(SubscribeResponse::parse(b"HTTP/1.1 200 OK\r\nSID: uuid:x\r\n\r\n").is_err());

        let n = NotifyHead {
            path: "/cb".into(),
            host: Some("10.0.0.2:49152".into()),
            sid: "uuid:abcd".into(),
            seq: 0,
            content_length: Some(120),
        };
        let mut out = Vec::new();
        n.emit(&mut out);
        assert_eq!(
            out,
            b"NOTIFY /cb HTTP/1.1\r\nHOST: 10.0.0.2:49152\r\n\
CONTENT-TYPE: text/xml; charset=\"utf-8\"\r\nCONTENT-LENGTH: 120\r\nNT: upnp:event\r\n\
NTS: upnp:propchange\r\nSID: uuid:abcd\r\nSEQ: 0\r\n\r\n"
        );
        assert_eq!(NotifyHead::parse(&out).unwrap(), n);
        let bad = |b: &[u8]| NotifyHead::from_head(&RequestHead::parse(b).unwrap()).unwrap_err();
        assert_eq!(
            bad(b"NOTIFY / HTTP/1.1\r\nNT: upnp:event\r\nSID: s\r\nSEQ: 1\r\n\r\n").status(),
            412
        );
        assert_eq!(
            bad(b"NOTIFY / HTTP/1.1\r\nNT: upnp:event\r\nNTS: upnp:propchange\r\nSID: s\r\nSEQ: -1\r\n\r\n"),
            GenaError::BadSeq
        );
        assert_eq!(
            bad(b"NOTIFY / HTTP/1.1\r\nNT: upnp:event\r\nNTS: upnp:propchange\r\nSEQ: 1\r\n\r\n"),
            GenaError::BadSid
        );
    }

    #[test]
    fn every_truncation_fails_cleanly() {
        let head_len = SUBSCRIBE.len();
        for cut in 0..head_len {
            assert!(GenaRequest::parse(&SUBSCRIBE[..cut]).is_err(), "cut {cut}");
        }
    }

    fn sid_s() -> impl Strategy<Value = String> {
        "uuid:[0-9a-f-]{1,36}"
    }

    fn timeout_s() -> impl Strategy<Value = Option<Timeout>> {
        prop::option::of(prop_oneof![
            Just(Timeout::Infinite),
            any::<u32>().prop_map(Timeout::Seconds)
        ])
    }

    fn host_s() -> impl Strategy<Value = Option<String>> {
        prop::option::of("10\\.0\\.[0-9]{1,2}\\.[0-9]{1,2}:[1-9][0-9]{0,3}")
    }

    fn callback_s() -> impl Strategy<Value = CallbackUrl> {
        (
            prop_oneof![
                "10\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
                "\\[fe80::[0-9a-f]{1,4}\\]",
                "[a-z]{1,10}\\.lan",
            ],
            prop::option::of(1u16..),
            "(/[A-Za-z0-9_.-]{0,10}){0,3}",
        )
            .prop_filter_map("valid url", |(host, port, path)| {
                let raw = match port {
                    Some(p) => format!("http://{host}:{p}{path}"),
                    None => format!("http://{host}{path}"),
                };
                let url = HttpUrl::parse(&raw).ok()?;
                Some(CallbackUrl { raw, url })
            })
    }

    fn request_s() -> impl Strategy<Value = GenaRequest> {
        let path = "/[a-zA-Z0-9/_-]{0,20}";
        prop_oneof![
            (
                path,
                host_s(),
                prop::collection::vec(callback_s(), 1..=MAX_CALLBACK_URLS),
                timeout_s()
            )
                .prop_map(|(path, host, callbacks, timeout)| GenaRequest::Subscribe(
                    Subscribe {
                        path,
                        host,
                        callbacks,
                        timeout
                    }
                )),
            (path, host_s(), sid_s(), timeout_s()).prop_map(|(path, host, sid, timeout)| {
                GenaRequest::Renew(Renew {
                    path,
                    host,
                    sid,
                    timeout,
                })
            }),
            (path, host_s(), sid_s()).prop_map(|(path, host, sid)| {
                GenaRequest::Unsubscribe(Unsubscribe { path, host, sid })
            }),
        ]
    }

    proptest! {
        #[test]
        fn request_round_trip(r in request_s()) {
            let mut out = Vec::new();
            r.emit(&mut out);
            prop_assert_eq!(GenaRequest::parse(&out).unwrap(), r);
        }

        #[test]
        fn response_round_trip(
            sid in sid_s(),
            server in prop::option::of("[!-~]{1,30}"),
            t in timeout_s(),
        ) {
            let resp = SubscribeResponse { server, sid, timeout: t.unwrap_or(Timeout::Infinite) };
            let mut out = Vec::new();
            resp.emit(&mut out);
            prop_assert_eq!(SubscribeResponse::parse(&out).unwrap(), resp);
        }

        #[test]
        fn notify_round_trip(
            path in "/[a-z0-9/]{0,20}",
            host in host_s(),
            sid in sid_s(),
            seq in any::<u32>(),
            content_length in prop::option::of(0u64..1_000_000),
        ) {
            let n = NotifyHead { path, host, sid, seq, content_length };
            let mut out = Vec::new();
            n.emit(&mut out);
            prop_assert_eq!(NotifyHead::parse(&out).unwrap(), n);
        }

        #[test]
        fn callback_garbage_never_panics(s in "[<>\\[\\]:/a-z0-9.@ ]{0,80}") {
            let _ = parse_callbacks(&s);
        }
    }
}
