//! One HTTP/1.1 request/response exchange, sans-IO, bounded in size: used for the
//! device description fetch (GET) and SOAP control (POST).

use std::net::{IpAddr, SocketAddr};

use portgate_proto::http::{
    Event, HttpUrl, Limits, Method, RequestHead, ResponseDecoder, ResponseHead, UrlHost,
};

use crate::error::ClientError;

/// Largest response body accepted for a device description: the parser's own cap
/// ([`portgate_proto::description::parse::MAX_DESCRIPTION_LEN`]).
pub const MAX_DESCRIPTION_BODY: u64 =
    portgate_proto::description::parse::MAX_DESCRIPTION_LEN as u64;

/// Largest SOAP response body accepted: a GetListOfPortMappings answer carries a whole
/// escaped document of up to [`portgate_proto::soap::MAX_RESPONSE_ARG_LEN`] bytes,
/// plus the envelope.
pub const MAX_SOAP_BODY: u64 = portgate_proto::soap::MAX_RESPONSE_ARG_LEN as u64 + 16 * 1024;

/// The `SERVER`/`USER-AGENT` product token portgate sends (UDA 1.1 §1.2.2 shape).
pub const USER_AGENT: &str = concat!("Linux UPnP/1.1 portgate/", env!("CARGO_PKG_VERSION"));

/// A finished exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The response head.
    pub head: ResponseHead,
    /// The whole (de-chunked) body.
    pub body: Vec<u8>,
}

/// Request bytes to write, and a bounded response reader.
#[derive(Debug)]
pub struct HttpExchange {
    addr: SocketAddr,
    request: Vec<u8>,
    decoder: ResponseDecoder,
    head: Option<ResponseHead>,
    body: Vec<u8>,
    max_body: u64,
}

/// The socket address of a URL; host names are refused (no DNS on network data).
pub fn url_addr(url: &HttpUrl) -> Result<SocketAddr, ClientError> {
    match &url.host {
        UrlHost::Ip(ip) => Ok(SocketAddr::new(*ip, url.port)),
        UrlHost::Name(n) => Err(ClientError::Url(format!("host name {n} (no dns lookups)"))),
    }
}

/// Parses an absolute `http://` URL into an [`HttpUrl`] with an IP literal host.
pub fn parse_url(s: &str) -> Result<(HttpUrl, SocketAddr), ClientError> {
    let u = HttpUrl::parse(s.trim()).map_err(|e| ClientError::Url(format!("{s}: {e}")))?;
    let a = url_addr(&u)?;
    Ok((u, a))
}

impl HttpExchange {
    fn new(
        method: Method,
        url: &HttpUrl,
        extra: &[(&str, String)],
        body: Option<&[u8]>,
        max_body: u64,
    ) -> Result<Self, ClientError> {
        let addr = url_addr(url)?;
        let mut head = RequestHead::new(method.clone(), url.path.clone())
            .with_header("Host", url.authority())
            .with_header("Connection", "close")
            .with_header("User-Agent", USER_AGENT);
        for (n, v) in extra {
            head = head.with_header(*n, v.clone());
        }
        let mut request = Vec::new();
        match body {
            Some(b) => head.emit_with_body(b, &mut request),
            None => head.emit(&mut request),
        }
        let mut decoder = ResponseDecoder::new(Limits {
            max_body_len: max_body,
            ..Limits::default()
        });
        decoder.expect_response_to(&method);
        Ok(Self {
            addr,
            request,
            decoder,
            head: None,
            body: Vec::new(),
            max_body,
        })
    }

    /// A reader for the response to a request someone else already sent on a
    /// connection (bodies up to `max_body` bytes); [`HttpExchange::addr`] is unspecified
    /// and [`HttpExchange::request`] empty.
    pub fn response_reader(max_body: u64) -> Self {
        let mut decoder = ResponseDecoder::new(Limits {
            max_body_len: max_body,
            ..Limits::default()
        });
        decoder.expect_response_to(&Method::Post);
        Self {
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            request: Vec::new(),
            decoder,
            head: None,
            body: Vec::new(),
            max_body,
        }
    }

    /// `GET url` for a device description.
    pub fn get(url: &HttpUrl) -> Result<Self, ClientError> {
        Self::new(Method::Get, url, &[], None, MAX_DESCRIPTION_BODY)
    }

    /// `POST url` with a SOAP envelope (UDA 1.1 §3.2.1).
    pub fn soap(url: &HttpUrl, soap_action: String, envelope: &[u8]) -> Result<Self, ClientError> {
        Self::new(
            Method::Post,
            url,
            &[
                ("Content-Type", "text/xml; charset=\"utf-8\"".to_string()),
                ("SOAPAction", soap_action),
            ],
            Some(envelope),
            MAX_SOAP_BODY,
        )
    }

    /// Where to connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The request bytes to write.
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// Feeds received bytes; `Some` once the response is complete.
    pub fn handle_bytes(&mut self, bytes: &[u8]) -> Result<Option<HttpResponse>, ClientError> {
        self.decoder.feed(bytes);
        self.drain()
    }

    /// The server closed the connection.
    pub fn handle_eof(&mut self) -> Result<HttpResponse, ClientError> {
        self.decoder.feed_eof();
        match self.drain()? {
            Some(r) => Ok(r),
            None => Err(ClientError::Http(
                portgate_proto::http::FramingError::UnexpectedEof,
            )),
        }
    }

    fn drain(&mut self) -> Result<Option<HttpResponse>, ClientError> {
        loop {
            match self.decoder.poll()? {
                Event::NeedMore => return Ok(None),
                Event::Head(h) => {
                    // 1xx interim responses are skipped (RFC 9110 §15.2).
                    if !(100..200).contains(&h.status) {
                        self.head = Some(h);
                    }
                }
                Event::Body(b) => {
                    if self.body.len() as u64 + b.len() as u64 > self.max_body {
                        return Err(ClientError::Http(
                            portgate_proto::http::FramingError::BodyTooLarge {
                                limit: self.max_body,
                            },
                        ));
                    }
                    self.body.extend_from_slice(b);
                }
                Event::Complete { .. } | Event::End => {
                    if let Some(head) = self.head.take() {
                        return Ok(Some(HttpResponse {
                            head,
                            body: std::mem::take(&mut self.body),
                        }));
                    }
                    if matches!(self.decoder.poll()?, Event::NeedMore | Event::End) {
                        return Ok(None);
                    }
                }
            }
        }
    }
}

/// The IP literal of an `HttpUrl`, if it has one.
pub fn url_ip(url: &HttpUrl) -> Option<IpAddr> {
    match url.host {
        UrlHost::Ip(ip) => Some(ip),
        UrlHost::Name(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> HttpUrl {
        HttpUrl::parse("http://10.0.0.1:5000/rootDesc.xml").expect("url")
    }

    #[test]
    fn get_request_bytes() {
        let x = HttpExchange::get(&url()).expect("ok");
        let s = String::from_utf8(x.request().to_vec()).expect("utf8");
        assert!(s.starts_with("GET /rootDesc.xml HTTP/1.1\r\n"), "{s}");
        assert!(s.contains("Host: 10.0.0.1:5000\r\n"), "{s}");
        assert_eq!(x.addr(), "10.0.0.1:5000".parse().expect("addr"));
    }

    #[test]
    fn reads_content_length_chunked_and_close_delimited() {
        for resp in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n",
            b"HTTP/1.0 200 OK\r\n\r\nhello",
        ] {
            let mut x = HttpExchange::get(&url()).expect("ok");
            let mut done = None;
            // byte at a time: the framer must cope with any split
            for b in resp.chunks(1) {
                if let Some(r) = x.handle_bytes(b).expect("frames") {
                    done = Some(r);
                }
            }
            let r = match done {
                Some(r) => r,
                None => x.handle_eof().expect("complete at eof"),
            };
            assert_eq!(r.head.status, 200);
            assert_eq!(r.body, b"hello");
        }
    }

    #[test]
    fn endless_body_is_a_bounded_error() {
        let mut x = HttpExchange::get(&url()).expect("ok");
        x.handle_bytes(b"HTTP/1.1 200 OK\r\n\r\n").expect("head");
        let chunk = vec![b'x'; 64 * 1024];
        let mut err = None;
        for _ in 0..64 {
            if let Err(e) = x.handle_bytes(&chunk) {
                err = Some(e);
                break;
            }
        }
        assert!(matches!(err, Some(ClientError::Http(_))), "{err:?}");
        // a huge declared length is refused at the head
        let mut x = HttpExchange::get(&url()).expect("ok");
        let r = x.handle_bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n");
        assert!(matches!(r, Err(ClientError::Http(_))), "{r:?}");
    }

    #[test]
    fn garbage_and_cut_short_are_errors() {
        let mut x = HttpExchange::get(&url()).expect("ok");
        assert!(x.handle_bytes(b"\x00\x01garbage\r\n\r\n").is_err());
        let mut x = HttpExchange::get(&url()).expect("ok");
        x.handle_bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
            .expect("partial");
        assert!(x.handle_eof().is_err());
        let mut x = HttpExchange::get(&url()).expect("ok");
        let endless_head = vec![b'a'; 20 * 1024];
        let r = x
            .handle_bytes(b"HTTP/1.1 200 OK\r\nX: ")
            .and_then(|_| x.handle_bytes(&endless_head));
        assert!(r.is_err());
    }

    #[test]
    fn host_names_are_refused() {
        let u = HttpUrl::parse("http://router.lan/desc.xml").expect("url");
        assert!(matches!(HttpExchange::get(&u), Err(ClientError::Url(_))));
    }
}
