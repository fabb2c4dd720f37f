//! The incremental, sans-IO message framer (RFC 9112 §6-§7, §9.3).
//!
//! The caller feeds bytes as they arrive ([`Decoder::feed`]), tells it when the peer
//! closed ([`Decoder::feed_eof`]) and calls [`Decoder::poll`] until it answers
//! [`Event::NeedMore`]. A message comes out as `Head`, zero or more `Body` slices and
//! `Complete`; with keep-alive the next message follows on the same decoder.

use super::{
    FramingError, Method, RequestHead, ResponseHead, Version, MAX_BODY_LEN, MAX_CHUNK_LINE_LEN,
    MAX_HEAD_LEN, MAX_TRAILER_LEN,
};

/// Caps applied by a [`Decoder`]. `Default` gives the crate's documented constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest head in bytes (over it: 431). At most [`MAX_HEAD_LEN`] is sensible.
    pub max_head_len: usize,
    /// Largest body in bytes, whatever the framing (over it: 413).
    pub max_body_len: u64,
    /// Longest chunk-size line (over it: 400).
    pub max_chunk_line_len: usize,
    /// Largest trailer section (over it: 431).
    pub max_trailer_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_head_len: MAX_HEAD_LEN,
            max_body_len: MAX_BODY_LEN,
            max_chunk_line_len: MAX_CHUNK_LINE_LEN,
            max_trailer_len: MAX_TRAILER_LEN,
        }
    }
}

/// How the body of a message is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body (GET without length, 204/304/1xx, responses to HEAD).
    Empty,
    /// Exactly this many bytes (Content-Length).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// The body runs until the peer closes (responses only).
    UntilClose,
}

/// What [`Decoder::poll`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a, H> {
    /// Nothing more can be decoded until more bytes (or the end of stream) are fed.
    NeedMore,
    /// A message head; its body (if any) follows as [`Event::Body`].
    Head(H),
    /// Some body bytes, already de-chunked.
    Body(&'a [u8]),
    /// The current message is complete. With `keep_alive` the decoder is ready for the
    /// next message; without it the connection should be closed (the decoder then
    /// answers [`Event::End`]).
    Complete {
        /// Whether the connection may carry another message.
        keep_alive: bool,
    },
    /// The stream ended cleanly between messages, or the last message asked to close.
    End,
}

/// A head type the [`Decoder`] can frame: [`RequestHead`] or [`ResponseHead`].
pub trait MessageHead: Sized {
    /// Parses a head at the start of `buf`: `Ok(None)` when incomplete and under the cap.
    fn parse_prefix(buf: &[u8], max_head: usize) -> Result<Option<(Self, usize)>, FramingError>;
    /// How the body is framed; `head_request` is true for a response to HEAD.
    fn body_framing(&self, head_request: bool) -> Result<BodyFraming, FramingError>;
    /// Whether the connection persists after this message (RFC 9112 §9.3).
    fn persistent(&self) -> bool;
}

/// Server side: decodes requests.
pub type RequestDecoder = Decoder<RequestHead>;
/// Client side: decodes responses (call [`Decoder::expect_response_to`] for HEAD).
pub type ResponseDecoder = Decoder<ResponseHead>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Length { remaining: u64 },
    ChunkSize,
    ChunkData { remaining: u64 },
    ChunkDataEnd,
    Trailers { seen: usize },
    UntilClose,
    Done { keep_alive: bool },
    Closed,
}

/// The incremental framer: feed bytes, poll [`Event`]s (head, body slices, end of
/// message); caps come from [`Limits`].
#[derive(Debug)]
pub struct Decoder<H> {
    limits: Limits,
    buf: Vec<u8>,
    /// Bytes at the front of `buf` already handed out (dropped at the next poll).
    consumed: usize,
    state: State,
    eof: bool,
    keep_alive: bool,
    body_seen: u64,
    head_request: bool,
    error: Option<FramingError>,
    _head: std::marker::PhantomData<H>,
}

impl<H: MessageHead> Default for Decoder<H> {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl Decoder<ResponseHead> {
    /// Tells the decoder which request the next response answers: a response to HEAD
    /// has no body whatever its fields say (RFC 9110 §9.3.2).
    pub fn expect_response_to(&mut self, method: &Method) {
        self.head_request = *method == Method::Head;
    }
}

impl<H: MessageHead> Decoder<H> {
    /// A decoder with the given caps.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            buf: Vec::new(),
            consumed: 0,
            state: State::Head,
            eof: false,
            keep_alive: true,
            body_seen: 0,
            head_request: false,
            error: None,
            _head: std::marker::PhantomData,
        }
    }

    /// Appends received bytes. Call [`Decoder::poll`] until `NeedMore` afterwards;
    /// the decoder never buffers more than one head (plus pipelined bytes fed at once).
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.state != State::Closed {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Records that the peer closed its side: a close-delimited body ends, a partial
    /// message becomes [`FramingError::UnexpectedEof`].
    pub fn feed_eof(&mut self) {
        self.eof = true;
    }

    /// Whether the decoder is between messages with nothing buffered (useful to tell
    /// an idle keep-alive connection from a slow one).
    pub fn is_idle(&self) -> bool {
        self.state == State::Head && self.buf.len() == self.consumed
    }

    /// Bytes received but not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len().saturating_sub(self.consumed)
    }

    /// Decodes as far as possible. Errors are sticky: once framing failed the stream
    /// cannot be resynchronised and the connection must be closed (after answering
    /// [`FramingError::status`] on the server side).
    pub fn poll(&mut self) -> Result<Event<'_, H>, FramingError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if self.consumed > 0 {
            self.buf.drain(..self.consumed.min(self.buf.len()));
            self.consumed = 0;
        }
        match self.step() {
            Ok(Step::Event(ev)) => Ok(match ev {
                Ev::NeedMore => Event::NeedMore,
                Ev::Head(h) => Event::Head(h),
                Ev::Complete(k) => Event::Complete { keep_alive: k },
                Ev::End => Event::End,
            }),
            Ok(Step::Body(n)) => {
                self.consumed = n;
                Ok(Event::Body(self.buf.get(..n).unwrap_or_default()))
            }
            Err(e) => {
                self.error = Some(e.clone());
                Err(e)
            }
        }
    }

    fn take(&mut self, n: usize) {
        self.buf.drain(..n.min(self.buf.len()));
    }

    fn count_body(&mut self, n: usize) -> Result<(), FramingError> {
        self.body_seen = self.body_seen.saturating_add(n as u64);
        if self.body_seen > self.limits.max_body_len {
            return Err(FramingError::BodyTooLarge {
                limit: self.limits.max_body_len,
            });
        }
        Ok(())
    }

    fn step(&mut self) -> Result<Step<H>, FramingError> {
        loop {
            match self.state {
                State::Closed => return Ok(Step::Event(Ev::End)),
                State::Done { keep_alive } => {
                    self.state = if keep_alive {
                        State::Head
                    } else {
                        State::Closed
                    };
                    if !keep_alive {
                        self.buf.clear();
                    }
                    return Ok(Step::Event(Ev::Complete(keep_alive)));
                }
                State::Head => {
                    if self.buf.is_empty() {
                        return Ok(Step::Event(if self.eof { Ev::End } else { Ev::NeedMore }));
                    }
                    let Some((head, n)) = H::parse_prefix(&self.buf, self.limits.max_head_len)?
                    else {
                        if self.eof {
                            return Err(FramingError::UnexpectedEof);
                        }
                        return Ok(Step::Event(Ev::NeedMore));
                    };
                    self.take(n);
                    let framing = head.body_framing(self.head_request)?;
                    self.head_request = false;
                    self.body_seen = 0;
                    self.keep_alive = head.persistent() && framing != BodyFraming::UntilClose;
                    self.state = match framing {
                        BodyFraming::Empty | BodyFraming::Length(0) => State::Done {
                            keep_alive: self.keep_alive,
                        },
                        BodyFraming::Length(n) if n > self.limits.max_body_len => {
                            return Err(FramingError::BodyTooLarge {
                                limit: self.limits.max_body_len,
                            })
                        }
                        BodyFraming::Length(n) => State::Length { remaining: n },
                        BodyFraming::Chunked => State::ChunkSize,
                        BodyFraming::UntilClose => State::UntilClose,
                    };
                    return Ok(Step::Event(Ev::Head(head)));
                }
                State::Length { remaining } => {
                    if self.buf.is_empty() {
                        if self.eof {
                            return Err(FramingError::UnexpectedEof);
                        }
                        return Ok(Step::Event(Ev::NeedMore));
                    }
                    let n = clamp(remaining, self.buf.len());
                    let left = remaining - n as u64;
                    self.state = if left == 0 {
                        State::Done {
                            keep_alive: self.keep_alive,
                        }
                    } else {
                        State::Length { remaining: left }
                    };
                    return Ok(Step::Body(n));
                }
                State::UntilClose => {
                    if self.buf.is_empty() {
                        if self.eof {
                            self.state = State::Done { keep_alive: false };
                            continue;
                        }
                        return Ok(Step::Event(Ev::NeedMore));
                    }
                    let n = self.buf.len();
                    self.count_body(n)?;
                    return Ok(Step::Body(n));
                }
                State::ChunkSize => {
                    let Some(line) = self.line(self.limits.max_chunk_line_len, true)? else {
                        return self.need_more();
                    };
                    let size = parse_chunk_size(self.buf.get(..line).unwrap_or_default())?;
                    self.take(line + 2);
                    if size == 0 {
                        self.state = State::Trailers { seen: 0 };
                    } else {
                        let total = self.body_seen.saturating_add(size);
                        if total > self.limits.max_body_len {
                            return Err(FramingError::BodyTooLarge {
                                limit: self.limits.max_body_len,
                            });
                        }
                        self.body_seen = total;
                        self.state = State::ChunkData { remaining: size };
                    }
                }
                State::ChunkData { remaining } => {
                    if self.buf.is_empty() {
                        return self.need_more();
                    }
                    let n = clamp(remaining, self.buf.len());
                    let left = remaining - n as u64;
                    self.state = if left == 0 {
                        State::ChunkDataEnd
                    } else {
                        State::ChunkData { remaining: left }
                    };
                    return Ok(Step::Body(n));
                }
                State::ChunkDataEnd => match self.buf.get(..2) {
                    Some(b"\r\n") => {
                        self.take(2);
                        self.state = State::ChunkSize;
                    }
                    Some(_) => {
                        return Err(FramingError::BadChunk("chunk data not followed by crlf"))
                    }
                    None if self.buf.first().is_some_and(|&b| b != b'\r') => {
                        return Err(FramingError::BadChunk("chunk data not followed by crlf"))
                    }
                    None => return self.need_more(),
                },
                State::Trailers { seen } => {
                    let room = self.limits.max_trailer_len.saturating_sub(seen);
                    let line = match self.line(room + 2, false) {
                        Ok(Some(l)) => l,
                        Ok(None) => return self.need_more(),
                        Err(_) => {
                            return Err(FramingError::TrailersTooLarge {
                                limit: self.limits.max_trailer_len,
                            })
                        }
                    };
                    let body = self.buf.get(..line).unwrap_or_default();
                    if body.iter().any(|&b| b == 0 || b == b'\r') {
                        return Err(FramingError::BadChunk("control byte in trailer"));
                    }
                    self.take(line + 2);
                    if line == 0 {
                        self.state = State::Done {
                            keep_alive: self.keep_alive,
                        };
                    } else {
                        self.state = State::Trailers {
                            seen: seen + line + 2,
                        };
                    }
                }
            }
        }
    }

    fn need_more(&self) -> Result<Step<H>, FramingError> {
        if self.eof {
            Err(FramingError::UnexpectedEof)
        } else {
            Ok(Step::Event(Ev::NeedMore))
        }
    }

    /// Finds a CRLF-terminated line at the front of `buf` no longer than `max` bytes
    /// (CRLF included): `Ok(Some(len without CRLF))`, `Ok(None)` to wait.
    fn line(&self, max: usize, chunk: bool) -> Result<Option<usize>, FramingError> {
        let window = self.buf.get(..max.min(self.buf.len())).unwrap_or_default();
        match window.iter().position(|&b| b == b'\n') {
            Some(0) => Err(FramingError::BadChunk("bare lf")),
            Some(i) if window.get(i - 1) == Some(&b'\r') => Ok(Some(i - 1)),
            Some(_) => Err(FramingError::BadChunk("bare lf")),
            None if self.buf.len() >= max => Err(if chunk {
                FramingError::BadChunk("chunk size line too long")
            } else {
                FramingError::TrailersTooLarge { limit: max }
            }),
            None => Ok(None),
        }
    }
}

enum Ev<H> {
    NeedMore,
    Head(H),
    Complete(bool),
    End,
}

enum Step<H> {
    Event(Ev<H>),
    Body(usize),
}

fn clamp(remaining: u64, avail: usize) -> usize {
    usize::try_from(remaining).map_or(avail, |r| r.min(avail))
}

/// `chunk-size [ BWS ; chunk-ext ]` (RFC 9112 §7.1): 1..=16 hex digits.
fn parse_chunk_size(line: &[u8]) -> Result<u64, FramingError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(FramingError::BadChunk("missing chunk size"));
    }
    if digits > 16 {
        return Err(FramingError::BadChunk("chunk size too large"));
    }
    let (hex, rest) = line.split_at(digits);
    let mut size: u64 = 0;
    for &b in hex {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return Err(FramingError::BadChunk("bad hex digit")),
        };
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(u64::from(d)))
            .ok_or(FramingError::BadChunk("chunk size too large"))?;
    }
    let rest_trim = rest
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .and_then(|i| rest.get(i..))
        .unwrap_or_default();
    match rest_trim.first() {
        None => Ok(size),
        Some(b';')
            if rest_trim
                .iter()
                .all(|&b| b == b'\t' || (b' '..0x7f).contains(&b)) =>
        {
            Ok(size)
        }
        Some(_) => Err(FramingError::BadChunk("garbage after chunk size")),
    }
}

/// The declared Content-Length: every value (also comma-separated lists, RFC 9110
/// §8.6) must be a decimal number and all must be equal.
fn content_length(headers: &super::Headers) -> Result<Option<u64>, FramingError> {
    let mut found: Option<u64> = None;
    for value in headers.get_all("content-length") {
        for part in value.split(',') {
            let part = part.trim();
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(FramingError::BadContentLength(if part.starts_with('-') {
                    "negative"
                } else {
                    "not a decimal number"
                }));
            }
            // All digits: only overflow can fail, and such a body is too large anyway.
            let n = part.parse::<u64>().unwrap_or(u64::MAX);
            match found {
                Some(prev) if prev != n => {
                    return Err(FramingError::BadContentLength("two different values"))
                }
                _ => found = Some(n),
            }
        }
    }
    Ok(found)
}

/// Transfer-Encoding: `Ok(None)` when absent, `Ok(Some(true))` when chunked is the
/// only coding, `Ok(Some(false))` for anything else.
fn transfer_encoding(headers: &super::Headers) -> Option<bool> {
    let mut codings = headers
        .get_all("transfer-encoding")
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let first = codings.next()?;
    Some(first.eq_ignore_ascii_case("chunked") && codings.next().is_none())
}

impl MessageHead for RequestHead {
    fn parse_prefix(buf: &[u8], max_head: usize) -> Result<Option<(Self, usize)>, FramingError> {
        RequestHead::parse_prefix(buf, max_head)
    }

    fn body_framing(&self, _head_request: bool) -> Result<BodyFraming, FramingError> {
        let cl = content_length(&self.headers)?;
        match transfer_encoding(&self.headers) {
            Some(_) if self.version == Version::Http10 => Err(FramingError::ConflictingFraming(
                "transfer-encoding on http/1.0",
            )),
            Some(_) if cl.is_some() => Err(FramingError::ConflictingFraming(
                "both transfer-encoding and content-length",
            )),
            Some(true) => Ok(BodyFraming::Chunked),
            Some(false) => Err(FramingError::UnsupportedTransferCoding),
            None => match cl {
                Some(n) => Ok(BodyFraming::Length(n)),
                None if self.method.requires_length() => Err(FramingError::LengthRequired),
                None => Ok(BodyFraming::Empty),
            },
        }
    }

    fn persistent(&self) -> bool {
        self.keep_alive()
    }
}

impl MessageHead for ResponseHead {
    fn parse_prefix(buf: &[u8], max_head: usize) -> Result<Option<(Self, usize)>, FramingError> {
        ResponseHead::parse_prefix(buf, max_head)
    }

    fn body_framing(&self, head_request: bool) -> Result<BodyFraming, FramingError> {
        if head_request || (100..200).contains(&self.status) || matches!(self.status, 204 | 304) {
            return Ok(BodyFraming::Empty);
        }
        let cl = content_length(&self.headers)?;
        match transfer_encoding(&self.headers) {
            Some(_) if cl.is_some() => Err(FramingError::ConflictingFraming(
                "both transfer-encoding and content-length",
            )),
            Some(true) if self.version == Version::Http11 => Ok(BodyFraming::Chunked),
            // RFC 9112 §6.3: any other coding (or chunked on 1.0) reads until close.
            Some(_) => Ok(BodyFraming::UntilClose),
            None => Ok(cl.map_or(BodyFraming::UntilClose, BodyFraming::Length)),
        }
    }

    fn persistent(&self) -> bool {
        self.keep_alive()
    }
}
