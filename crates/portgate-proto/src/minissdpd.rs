//! The MiniSSDPd unix-socket protocol: how control points and UPnP servers talk to
//! the SSDP cache daemon (`portgate-ssdpd`, MiniSSDPd).
//!
//! The protocol has no RFC; it is defined by the MiniSSDPd daemon and its clients
//! (miniupnpc asks for devices, miniupnpd submits its services), and this codec is
//! byte-compatible with them.
//!
//! # Wire format
//!
//! Strings are length-prefixed. The length is a base-128 varint written **most
//! significant group first**, with the high bit set on every byte but the last
//! (the reverse of LEB128): 127 is `7f`, 128 is `81 00`, 200 is `81 48`.
//!
//! A request is one type byte followed by a length-prefixed string, plus (type 4)
//! three more strings:
//!
//! | type | request | payload | reply |
//! |---|---|---|---|
//! | 0 | version | string, ignored | length-prefixed version string |
//! | 1 | devices by type | ST (`:N` suffix also matches newer versions, [`st_matches`]) | entry list |
//! | 2 | devices by USN | USN | entry list |
//! | 3 | all devices | string, ignored (may be empty) | entry list |
//! | 4 | submit a service | ST, USN, server, location | none |
//! | 5 | subscribe to notifications | string, ignored | `00`, then push frames |
//! | other | unknown | string, ignored | `00` |
//!
//! An entry list is one count byte (at most 255 entries: [`MAX_ENTRIES`]) followed by,
//! for each entry, the location, ST and USN strings. A notification push frame is
//! `ff`, a kind byte (1 new, 2 update, 3 removed), a count byte and entries.
//!
//! # Decoding
//!
//! Everything here is sans-IO. [`RequestDecoder`] (daemon side) and
//! [`ResponseDecoder`] (client side) take bytes as they arrive on a stream socket and
//! hand out complete messages; a length that runs past the end of the data once the
//! peer has finished, a length above [`MAX_STRING_LEN`], or an overlong varint is a
//! [`DecodeError`], after which the daemon closes that client only.

use std::collections::VecDeque;

use crate::DecodeError;

/// Largest string (ST, USN, server, location, version) accepted in either direction.
///
/// MiniSSDPd reads each request into a 2048-byte buffer and builds each reply in a
/// 2048-byte buffer, so no real peer sends a longer string; 4096 leaves room for long
/// URLs while bounding what one client can make the daemon buffer (four strings per
/// request, about 16 KiB).
pub const MAX_STRING_LEN: usize = 4096;

/// Most bytes a length varint may take.
///
/// MiniSSDPd's encoder writes at most five bytes (a 32-bit length, seven bits per
/// byte); a sixth continuation byte can only come from a broken or hostile peer.
pub const MAX_VARINT_LEN: usize = 5;

/// Most entries in one reply or notification: the count is a single byte.
pub const MAX_ENTRIES: usize = 255;

/// First byte of a notification push frame (a reply's count byte otherwise).
pub const NOTIFICATION_MARKER: u8 = 0xff;

/// The version string portgate-ssdpd reports for a version request.
///
/// MiniSSDPd answers `MiniSSDPd 1.x`; clients only display it.
pub const VERSION: &str = concat!("portgate-ssdpd ", env!("CARGO_PKG_VERSION"));

/// Type byte of a version request.
pub const TYPE_VERSION: u8 = 0;
/// Type byte of a search by device/service type.
pub const TYPE_BY_TYPE: u8 = 1;
/// Type byte of a search by unique service name.
pub const TYPE_BY_USN: u8 = 2;
/// Type byte of a request for every cached entry.
pub const TYPE_ALL: u8 = 3;
/// Type byte of a service submission.
pub const TYPE_SUBMIT: u8 = 4;
/// Type byte of a notification subscription.
pub const TYPE_SUBSCRIBE: u8 = 5;

// ---------------------------------------------------------------------------------
// Varint lengths
// ---------------------------------------------------------------------------------

/// Appends `value` as a MiniSSDPd length: base-128, most significant group first,
/// high bit set on every byte except the last.
///
/// ```
/// # use portgate_proto::minissdpd::encode_varint;
/// let mut out = Vec::new();
/// encode_varint(200, &mut out);
/// assert_eq!(out, [0x81, 0x48]);
/// ```
pub fn encode_varint(value: usize, out: &mut Vec<u8>) {
    let value = value as u64;
    let mut groups = 1u32;
    while groups < 10 && (value >> (7 * groups)) != 0 {
        groups += 1;
    }
    for group in (1..groups).rev() {
        out.push(((value >> (7 * group)) as u8 & 0x7f) | 0x80);
    }
    out.push(value as u8 & 0x7f);
}

/// Reads a MiniSSDPd length from the start of `input`.
///
/// Returns `Ok(Some((value, bytes_used)))`, or `Ok(None)` when `input` ends inside the
/// varint. Fails with [`DecodeError::TooLong`] as soon as the varint runs past
/// [`MAX_VARINT_LEN`] bytes or its value is certain to exceed `limit` (even before the
/// last byte has arrived).
pub fn decode_varint(input: &[u8], limit: usize) -> Result<Option<(usize, usize)>, DecodeError> {
    let limit64 = limit as u64;
    let mut value: u64 = 0;
    for (index, &byte) in input.iter().enumerate() {
        value = (value << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            if value > limit64 {
                return Err(DecodeError::TooLong {
                    what: "minissdpd length",
                    limit,
                });
            }
            // value <= limit, so it fits in usize.
            let value = usize::try_from(value).map_err(|_| DecodeError::TooLong {
                what: "minissdpd length",
                limit,
            })?;
            return Ok(Some((value, index + 1)));
        }
        if index + 1 >= MAX_VARINT_LEN {
            return Err(DecodeError::TooLong {
                what: "minissdpd length varint",
                limit: MAX_VARINT_LEN,
            });
        }
        // At least one more group follows, so the final value is at least value * 128.
        if value.saturating_mul(128) > limit64 {
            return Err(DecodeError::TooLong {
                what: "minissdpd length",
                limit,
            });
        }
    }
    Ok(None)
}

fn emit_string(s: &str, out: &mut Vec<u8>) {
    encode_varint(s.len(), out);
    out.extend_from_slice(s.as_bytes());
}

// ---------------------------------------------------------------------------------
// Incremental reader
// ---------------------------------------------------------------------------------

/// `Ok(None)` from a reader method means "the input ends before this field does".
type Step<T> = Result<Option<T>, DecodeError>;

/// Unwraps a [`Step`], returning `Ok(None)` from the caller when more input is needed.
macro_rules! ready {
    ($e:expr) => {
        match $e? {
            Some(v) => v,
            None => return Ok(None),
        }
    };
}

/// A cursor over received bytes that tells "not yet" apart from "never".
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Total input length needed to finish the field that ran short.
    need: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            need: 0,
        }
    }

    fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    fn byte(&mut self) -> Step<u8> {
        match self.rest().first() {
            Some(&b) => {
                self.pos += 1;
                Ok(Some(b))
            }
            None => {
                self.need = self.pos + 1;
                Ok(None)
            }
        }
    }

    fn string_bytes(&mut self) -> Step<&'a [u8]> {
        let Some((len, used)) = decode_varint(self.rest(), MAX_STRING_LEN)? else {
            self.need = self.buf.len() + 1;
            return Ok(None);
        };
        let start = self.pos + used;
        let end = start + len;
        match self.buf.get(start..end) {
            Some(bytes) => {
                self.pos = end;
                Ok(Some(bytes))
            }
            None => {
                self.need = end;
                Ok(None)
            }
        }
    }

    /// A string that must be UTF-8 (requests: the daemon compares it).
    fn string_strict(&mut self, what: &'static str) -> Step<String> {
        let bytes = ready!(self.string_bytes());
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| DecodeError::invalid(what, "not utf-8"))
    }

    /// A string from the cache: invalid UTF-8 becomes U+FFFD so that one odd device
    /// on the LAN cannot make the whole list unreadable.
    fn string_lossy(&mut self) -> Step<String> {
        let bytes = ready!(self.string_bytes());
        Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
    }

    fn truncated(&self, what: &'static str) -> DecodeError {
        DecodeError::truncated(what, self.need.max(self.buf.len() + 1), self.buf.len())
    }
}

/// Turns a prefix decoder into a whole-buffer parser: incomplete input is
/// [`DecodeError::Truncated`], leftover bytes are [`DecodeError::Invalid`].
fn parse_whole<T>(
    input: &[u8],
    what: &'static str,
    decode: impl FnOnce(&mut Reader<'_>) -> Step<T>,
) -> Result<T, DecodeError> {
    let mut reader = Reader::new(input);
    match decode(&mut reader)? {
        Some(value) if reader.pos == input.len() => Ok(value),
        Some(_) => Err(DecodeError::invalid(what, "trailing bytes")),
        None => Err(reader.truncated(what)),
    }
}

// ---------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------

/// A service a UPnP server asks the daemon to answer M-SEARCH for (request type 4).
///
/// The daemon keys services by (USN, ST): submitting the same pair again replaces the
/// server and location.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Service {
    /// Search target / notification type, e.g. `urn:schemas-upnp-org:device:InternetGatewayDevice:1`.
    pub st: String,
    /// Unique service name, e.g. `uuid:...::urn:schemas-upnp-org:device:InternetGatewayDevice:1`.
    pub usn: String,
    /// SERVER header value to put in M-SEARCH replies.
    pub server: String,
    /// LOCATION URL of the device description.
    pub location: String,
}

/// One request from a client to the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Request {
    /// Type 0: ask for the daemon's version string.
    Version,
    /// Type 1: every cached entry whose type matches `st` (see [`st_matches`]).
    ByType(String),
    /// Type 2: every cached entry with this USN.
    ByUsn(String),
    /// Type 3: every cached entry.
    All,
    /// Type 4: register a service the daemon answers M-SEARCH for; no reply.
    Submit(Service),
    /// Type 5: turn this connection into a notification stream.
    Subscribe,
    /// Any other type byte; the daemon answers a single `00`.
    Unknown(u8),
}

/// Refuses what MiniSSDPd refuses in a submitted service: bytes below 0x20 and from
/// 0x7f up (control characters, and anything that is not printable ASCII), which
/// would otherwise end up inside SSDP headers.
fn check_printable(bytes: &[u8], what: &'static str) -> Result<(), DecodeError> {
    if bytes.iter().all(|&b| (0x20..0x7f).contains(&b)) {
        Ok(())
    } else {
        Err(DecodeError::invalid(what, "control or non-ascii character"))
    }
}

fn submit_field(reader: &mut Reader<'_>, what: &'static str) -> Step<String> {
    let bytes = ready!(reader.string_bytes());
    check_printable(bytes, what)?;
    // Printable ASCII is valid UTF-8.
    String::from_utf8(bytes.to_vec())
        .map(Some)
        .map_err(|_| DecodeError::invalid(what, "not utf-8"))
}

impl Request {
    /// The type byte this request is sent with.
    pub fn type_byte(&self) -> u8 {
        match self {
            Self::Version => TYPE_VERSION,
            Self::ByType(_) => TYPE_BY_TYPE,
            Self::ByUsn(_) => TYPE_BY_USN,
            Self::All => TYPE_ALL,
            Self::Submit(_) => TYPE_SUBMIT,
            Self::Subscribe => TYPE_SUBSCRIBE,
            Self::Unknown(t) => *t,
        }
    }

    /// What the daemon sends back for this request, or `None` (submit has no reply).
    pub fn reply_kind(&self) -> Option<ResponseKind> {
        match self {
            Self::Version => Some(ResponseKind::Version),
            Self::ByType(_) | Self::ByUsn(_) | Self::All => Some(ResponseKind::Entries),
            Self::Submit(_) => None,
            Self::Subscribe | Self::Unknown(_) => Some(ResponseKind::Ack),
        }
    }

    /// Appends the wire form. Ignored payloads are written as the empty string.
    ///
    /// Strings longer than [`MAX_STRING_LEN`], an empty ST/USN, or a submitted field
    /// with control characters are written as given; the daemon refuses them.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(self.type_byte());
        match self {
            Self::Version | Self::All | Self::Subscribe | Self::Unknown(_) => encode_varint(0, out),
            Self::ByType(s) | Self::ByUsn(s) => emit_string(s, out),
            Self::Submit(service) => {
                emit_string(&service.st, out);
                emit_string(&service.usn, out);
                emit_string(&service.server, out);
                emit_string(&service.location, out);
            }
        }
    }

    /// Parses exactly one request filling all of `input`.
    pub fn parse(input: &[u8]) -> Result<Self, DecodeError> {
        parse_whole(input, "minissdpd request", Self::read)
    }

    /// Decodes one request from the start of `input`, which may hold more data.
    ///
    /// Returns `Ok(None)` while the request is incomplete, otherwise the request and
    /// the number of bytes it used.
    pub fn decode_prefix(input: &[u8]) -> Result<Option<(Self, usize)>, DecodeError> {
        let mut reader = Reader::new(input);
        let request = ready!(Self::read(&mut reader));
        Ok(Some((request, reader.pos)))
    }

    fn read(reader: &mut Reader<'_>) -> Step<Self> {
        let kind = ready!(reader.byte());
        let request = match kind {
            TYPE_BY_TYPE | TYPE_BY_USN => {
                let what = if kind == TYPE_BY_TYPE {
                    "minissdpd search type"
                } else {
                    "minissdpd search usn"
                };
                let s = ready!(reader.string_strict(what));
                if s.is_empty() {
                    return Err(DecodeError::invalid(what, "empty"));
                }
                if kind == TYPE_BY_TYPE {
                    Self::ByType(s)
                } else {
                    Self::ByUsn(s)
                }
            }
            TYPE_SUBMIT => {
                let st = ready!(submit_field(reader, "minissdpd submit st"));
                if st.is_empty() {
                    return Err(DecodeError::invalid("minissdpd submit st", "empty"));
                }
                let usn = ready!(submit_field(reader, "minissdpd submit usn"));
                let server = ready!(submit_field(reader, "minissdpd submit server"));
                let location = ready!(submit_field(reader, "minissdpd submit location"));
                Self::Submit(Service {
                    st,
                    usn,
                    server,
                    location,
                })
            }
            other => {
                // Version, all, subscribe and unknown types carry one ignored string.
                ready!(reader.string_bytes());
                match other {
                    TYPE_VERSION => Self::Version,
                    TYPE_ALL => Self::All,
                    TYPE_SUBSCRIBE => Self::Subscribe,
                    unknown => Self::Unknown(unknown),
                }
            }
        };
        Ok(Some(request))
    }
}

/// Whether a cached entry of type `cached` answers a search for `requested`
/// (request type 1).
///
/// UDA 1.1 §1.3.2: a newer version of a device or service type must stay compatible
/// with older ones, so a search for `urn:...:WANIPConnection:1` is answered by a cached
/// `urn:...:WANIPConnection:2`, but not the reverse. A `urn:` type searched without a
/// version matches every version; anything else (`upnp:rootdevice`, `uuid:...`) must
/// match exactly.
///
/// ```
/// # use portgate_proto::minissdpd::st_matches;
/// let v1 = "urn:schemas-upnp-org:service:WANIPConnection:1";
/// let v2 = "urn:schemas-upnp-org:service:WANIPConnection:2";
/// assert!(st_matches(v1, v2));
/// assert!(!st_matches(v2, v1));
/// ```
pub fn st_matches(requested: &str, cached: &str) -> bool {
    if requested == cached {
        return true;
    }
    let (cached_base, cached_version) = split_version(cached);
    let Some(cached_version) = cached_version else {
        return false;
    };
    match split_version(requested) {
        (requested_base, Some(requested_version)) => {
            requested_base == cached_base && cached_version >= requested_version
        }
        (requested_base, None) => {
            requested_base.starts_with("urn:") && requested_base == cached_base
        }
    }
}

/// Splits `urn:domain:kind:name:N` into (`urn:domain:kind:name`, Some(N)).
fn split_version(st: &str) -> (&str, Option<u32>) {
    if !st.starts_with("urn:") {
        return (st, None);
    }
    match st.rsplit_once(':') {
        Some((base, version))
            if !version.is_empty()
                && version.len() <= 9
                && version.bytes().all(|b| b.is_ascii_digit()) =>
        {
            (base, version.parse().ok())
        }
        _ => (st, None),
    }
}

// ---------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------

/// One cached device or service, as the daemon reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    /// LOCATION URL of the device description.
    pub location: String,
    /// NT (from NOTIFY) or ST (from an M-SEARCH reply): the device or service type.
    pub st: String,
    /// Unique service name.
    pub usn: String,
}

impl Entry {
    fn emit(&self, out: &mut Vec<u8>) {
        emit_string(&self.location, out);
        emit_string(&self.st, out);
        emit_string(&self.usn, out);
    }

    fn read(reader: &mut Reader<'_>) -> Step<Self> {
        let location = ready!(reader.string_lossy());
        let st = ready!(reader.string_lossy());
        let usn = ready!(reader.string_lossy());
        Ok(Some(Self { location, st, usn }))
    }
}

/// Appends a count byte and at most [`MAX_ENTRIES`] entries (the rest are cut, as
/// the count cannot say more).
fn emit_entries(entries: &[Entry], out: &mut Vec<u8>) {
    let kept = entries.get(..MAX_ENTRIES).unwrap_or(entries);
    out.push(u8::try_from(kept.len()).unwrap_or(u8::MAX));
    for entry in kept {
        entry.emit(out);
    }
}

fn read_entries(reader: &mut Reader<'_>) -> Step<Vec<Entry>> {
    let count = ready!(reader.byte());
    let mut entries = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        entries.push(ready!(Entry::read(reader)));
    }
    Ok(Some(entries))
}

/// What a notification push frame reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationKind {
    /// 1: a device or service appeared.
    New,
    /// 2: a known device or service announced itself again with changes.
    Update,
    /// 3: a device or service said byebye or expired.
    Removed,
    /// Any other kind byte.
    Unknown(u8),
}

impl NotificationKind {
    /// The kind byte on the wire.
    pub fn to_byte(self) -> u8 {
        match self {
            Self::New => 1,
            Self::Update => 2,
            Self::Removed => 3,
            Self::Unknown(b) => b,
        }
    }

    /// The kind for a byte on the wire.
    pub fn from_byte(byte: u8) -> Self {
        match byte {
            1 => Self::New,
            2 => Self::Update,
            3 => Self::Removed,
            other => Self::Unknown(other),
        }
    }
}

/// A push frame sent to subscribed clients: `ff`, kind, count, entries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Notification {
    /// What happened.
    pub kind: NotificationKind,
    /// The entries concerned (MiniSSDPd sends one per frame).
    pub entries: Vec<Entry>,
}

impl Notification {
    /// Appends the wire form; entries past [`MAX_ENTRIES`] are cut.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(NOTIFICATION_MARKER);
        out.push(self.kind.to_byte());
        emit_entries(&self.entries, out);
    }

    /// Parses exactly one push frame filling all of `input`.
    pub fn parse(input: &[u8]) -> Result<Self, DecodeError> {
        parse_whole(input, "minissdpd notification", Self::read)
    }

    fn read(reader: &mut Reader<'_>) -> Step<Self> {
        let marker = ready!(reader.byte());
        if marker != NOTIFICATION_MARKER {
            return Err(DecodeError::invalid(
                "minissdpd notification",
                "does not start with 0xff",
            ));
        }
        let kind = NotificationKind::from_byte(ready!(reader.byte()));
        let entries = ready!(read_entries(reader));
        Ok(Some(Self { kind, entries }))
    }
}

/// The shape of a reply, which the client knows from the request it sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseKind {
    /// A length-prefixed version string (request type 0).
    Version,
    /// A count byte and entries (request types 1, 2, 3).
    Entries,
    /// A single `00` byte (subscribe, unknown types).
    Ack,
    /// A notification push frame (subscribed connections).
    Notification,
}

/// Anything the daemon writes to a client.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Response {
    /// Reply to a version request.
    Version(String),
    /// Reply to a search (types 1, 2, 3). At most [`MAX_ENTRIES`] are sent.
    Entries(Vec<Entry>),
    /// The single `00` byte answering a subscription or an unknown request type.
    Ack,
    /// A push frame on a subscribed connection.
    Notification(Notification),
}

impl Response {
    /// The shape of this response.
    pub fn kind(&self) -> ResponseKind {
        match self {
            Self::Version(_) => ResponseKind::Version,
            Self::Entries(_) => ResponseKind::Entries,
            Self::Ack => ResponseKind::Ack,
            Self::Notification(_) => ResponseKind::Notification,
        }
    }

    /// Appends the wire form. An entry list longer than [`MAX_ENTRIES`] is cut to its
    /// first 255 entries, so the count byte stays truthful.
    pub fn emit(&self, out: &mut Vec<u8>) {
        match self {
            Self::Version(v) => emit_string(v, out),
            Self::Entries(entries) => emit_entries(entries, out),
            Self::Ack => out.push(0),
            Self::Notification(n) => n.emit(out),
        }
    }

    /// Parses exactly one response of shape `kind` filling all of `input`.
    pub fn parse(kind: ResponseKind, input: &[u8]) -> Result<Self, DecodeError> {
        parse_whole(input, "minissdpd response", |r| Self::read(kind, r))
    }

    /// Decodes one response of shape `kind` from the start of `input`.
    ///
    /// Returns `Ok(None)` while it is incomplete, otherwise the response and the
    /// number of bytes it used.
    pub fn decode_prefix(
        kind: ResponseKind,
        input: &[u8],
    ) -> Result<Option<(Self, usize)>, DecodeError> {
        let mut reader = Reader::new(input);
        let response = ready!(Self::read(kind, &mut reader));
        Ok(Some((response, reader.pos)))
    }

    fn read(kind: ResponseKind, reader: &mut Reader<'_>) -> Step<Self> {
        Ok(Some(match kind {
            ResponseKind::Version => Self::Version(ready!(reader.string_lossy())),
            ResponseKind::Entries => Self::Entries(ready!(read_entries(reader))),
            ResponseKind::Ack => match ready!(reader.byte()) {
                0 => Self::Ack,
                _ => return Err(DecodeError::invalid("minissdpd ack", "not 0x00")),
            },
            ResponseKind::Notification => Self::Notification(ready!(Notification::read(reader))),
        }))
    }
}

// ---------------------------------------------------------------------------------
// Stream decoders
// ---------------------------------------------------------------------------------

/// Result of polling a stream decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<T> {
    /// The buffered bytes do not yet hold a complete message.
    NeedMore,
    /// One complete message (its bytes have been consumed).
    Ready(T),
    /// The peer finished and every byte it sent has been decoded.
    Finished,
}

/// Bytes received on a stream, with the consumed prefix dropped lazily.
#[derive(Debug, Default)]
struct StreamBuf {
    data: Vec<u8>,
    start: usize,
    finished: bool,
}

impl StreamBuf {
    fn pending(&self) -> &[u8] {
        self.data.get(self.start..).unwrap_or_default()
    }

    fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.data.drain(..self.start);
            self.start = 0;
        }
        self.data.extend_from_slice(bytes);
    }

    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.data.len());
        if self.start == self.data.len() {
            self.data.clear();
            self.start = 0;
        }
    }

    /// Shared tail of `poll`: decide between NeedMore, Finished and a truncation error.
    fn incomplete<T>(&self, what: &'static str) -> Result<Decoded<T>, DecodeError> {
        let have = self.pending().len();
        match (self.finished, have) {
            (false, _) => Ok(Decoded::NeedMore),
            (true, 0) => Ok(Decoded::Finished),
            (true, have) => Err(DecodeError::truncated(what, have + 1, have)),
        }
    }
}

/// Daemon side: turns the bytes a client writes into [`Request`]s.
///
/// Feed what each `read` returned, then [`poll`](Self::poll) until it says
/// [`Decoded::NeedMore`]. Call [`finish`](Self::finish) when the client shuts down its
/// side: a request cut short by the end of the stream is then an error. Any error
/// means the client must be disconnected; the decoder does not recover.
#[derive(Debug, Default)]
pub struct RequestDecoder {
    buf: StreamBuf,
}

impl RequestDecoder {
    /// An empty decoder for a new connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.feed(bytes);
    }

    /// Records that the client will send nothing more (read returned 0).
    pub fn finish(&mut self) {
        self.buf.finished = true;
    }

    /// Bytes received but not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.pending().len()
    }

    /// Decodes the next request, if complete.
    ///
    /// A length above [`MAX_STRING_LEN`] or an overlong varint is an error at once,
    /// without waiting for the announced bytes.
    pub fn poll(&mut self) -> Result<Decoded<Request>, DecodeError> {
        if let Some((request, used)) = Request::decode_prefix(self.buf.pending())? {
            self.buf.consume(used);
            return Ok(Decoded::Ready(request));
        }
        self.buf.incomplete("minissdpd request")
    }
}

/// What the client decoder waits for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Reply(ResponseKind),
    SubscribeAck,
}

/// Client side: turns the daemon's bytes into [`Response`]s.
///
/// The protocol does not label replies, so tell the decoder about every request
/// written with [`sent`](Self::sent); replies come back in request order. After a
/// subscription has been acknowledged, bytes arriving while no reply is awaited (and
/// any frame starting with `ff`) are decoded as [`Notification`]s.
///
/// A subscribed connection that also searches cannot tell a 255-entry reply from a
/// push frame (both start with `ff`); MiniSSDPd clients use a separate connection
/// for subscriptions, and so should callers of this decoder.
#[derive(Debug, Default)]
pub struct ResponseDecoder {
    buf: StreamBuf,
    pending: VecDeque<Pending>,
    subscribed: bool,
}

impl ResponseDecoder {
    /// An empty decoder for a new connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `request` was written, so its reply (if any) is expected.
    pub fn sent(&mut self, request: &Request) {
        match (request, request.reply_kind()) {
            (Request::Subscribe, _) => self.pending.push_back(Pending::SubscribeAck),
            (_, Some(kind)) => self.pending.push_back(Pending::Reply(kind)),
            (_, None) => {}
        }
    }

    /// Adds received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.feed(bytes);
    }

    /// Records that the daemon closed the connection.
    pub fn finish(&mut self) {
        self.buf.finished = true;
    }

    /// Whether a subscription has been acknowledged on this connection.
    pub fn is_subscribed(&self) -> bool {
        self.subscribed
    }

    /// Decodes the next response, if complete.
    ///
    /// Data nobody asked for (no request pending, not subscribed) is an error.
    pub fn poll(&mut self) -> Result<Decoded<Response>, DecodeError> {
        let input = self.buf.pending();
        let Some(&first) = input.first() else {
            return self.buf.incomplete("minissdpd response");
        };
        let expected = if self.subscribed && first == NOTIFICATION_MARKER {
            None
        } else {
            self.pending.front().copied()
        };
        let kind = match expected {
            Some(Pending::Reply(kind)) => kind,
            Some(Pending::SubscribeAck) => ResponseKind::Ack,
            None if self.subscribed => ResponseKind::Notification,
            None => {
                return Err(DecodeError::invalid(
                    "minissdpd response",
                    "data received with no request pending",
                ))
            }
        };
        match Response::decode_prefix(kind, input)? {
            Some((response, used)) => {
                self.buf.consume(used);
                if expected.is_some() {
                    self.pending.pop_front();
                }
                if expected == Some(Pending::SubscribeAck) {
                    self.subscribed = true;
                }
                Ok(Decoded::Ready(response))
            }
            None => self.buf.incomplete("minissdpd response"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn varint(value: usize) -> Vec<u8> {
        let mut out = Vec::new();
        encode_varint(value, &mut out);
        out
    }

    fn emit_request(r: &Request) -> Vec<u8> {
        let mut out = Vec::new();
        r.emit(&mut out);
        out
    }

    fn emit_response(r: &Response) -> Vec<u8> {
        let mut out = Vec::new();
        r.emit(&mut out);
        out
    }

    fn entry(location: &str, st: &str, usn: &str) -> Entry {
        Entry {
            location: location.into(),
            st: st.into(),
            usn: usn.into(),
        }
    }

    const IGD: &str = "urn:schemas-upnp-org:device:InternetGatewayDevice:1";
    const USN: &str =
        "uuid:3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b::urn:schemas-upnp-org:device:InternetGatewayDevice:1";

    // ----- varints -----

    #[test]
    fn varint_vectors() {
        assert_eq!(varint(0), [0x00]);
        assert_eq!(varint(1), [0x01]);
        assert_eq!(varint(127), [0x7f]);
        assert_eq!(varint(128), [0x81, 0x00]);
        assert_eq!(varint(200), [0x81, 0x48]);
        assert_eq!(varint(4096), [0xa0, 0x00]);
        assert_eq!(varint(16383), [0xff, 0x7f]);
        assert_eq!(varint(16384), [0x81, 0x80, 0x00]);
        assert_eq!(varint(0x0fff_ffff), [0xff, 0xff, 0xff, 0x7f]);
        assert_eq!(varint(0x1000_0000), [0x81, 0x80, 0x80, 0x80, 0x00]);
    }

    #[test]
    fn varint_decode_vectors() {
        let big = usize::MAX;
        assert_eq!(decode_varint(&[0x7f], big), Ok(Some((127, 1))));
        assert_eq!(decode_varint(&[0x81, 0x00], big), Ok(Some((128, 2))));
        assert_eq!(decode_varint(&[0x81, 0x48, 0xaa], big), Ok(Some((200, 2))));
        assert_eq!(
            decode_varint(&[0x81, 0x80, 0x80, 0x80, 0x00], big),
            Ok(Some((0x1000_0000, 5)))
        );
        // Incomplete.
        assert_eq!(decode_varint(&[], big), Ok(None));
        assert_eq!(decode_varint(&[0x81], big), Ok(None));
        // Leading zero groups are tolerated (MiniSSDPd's decoder does the same).
        assert_eq!(decode_varint(&[0x80, 0x05], big), Ok(Some((5, 2))));
    }

    #[test]
    fn varint_six_bytes_is_overlong() {
        let six = [0x80, 0x80, 0x80, 0x80, 0x80, 0x05];
        assert_eq!(
            decode_varint(&six, usize::MAX),
            Err(DecodeError::TooLong {
                what: "minissdpd length varint",
                limit: MAX_VARINT_LEN
            })
        );
        // Already known after the fifth continuation byte, before the sixth arrives.
        assert!(decode_varint(&six[..5], usize::MAX).is_err());
        assert_eq!(decode_varint(&six[..4], usize::MAX), Ok(None));
    }

    #[test]
    fn varint_over_limit_fails_early() {
        let too_long = DecodeError::TooLong {
            what: "minissdpd length",
            limit: MAX_STRING_LEN,
        };
        assert_eq!(
            decode_varint(&[0xa0, 0x01], MAX_STRING_LEN),
            Err(too_long.clone())
        );
        assert_eq!(
            decode_varint(&[0xa0, 0x00], MAX_STRING_LEN),
            Ok(Some((4096, 2)))
        );
        // 0x81 0x80 ... means at least 16384: refused before the varint ends.
        assert_eq!(decode_varint(&[0x81, 0x80], MAX_STRING_LEN), Err(too_long));
    }

    // ----- requests -----

    #[test]
    fn request_vectors() {
        assert_eq!(emit_request(&Request::Version), [0x00, 0x00]);
        assert_eq!(emit_request(&Request::All), [0x03, 0x00]);
        assert_eq!(emit_request(&Request::Subscribe), [0x05, 0x00]);
        assert_eq!(emit_request(&Request::Unknown(9)), [0x09, 0x00]);

        let mut by_type = vec![0x01, 51];
        by_type.extend_from_slice(IGD.as_bytes());
        assert_eq!(IGD.len(), 51);
        assert_eq!(emit_request(&Request::ByType(IGD.into())), by_type);
        assert_eq!(Request::parse(&by_type), Ok(Request::ByType(IGD.into())));

        let mut by_usn = vec![0x02, 0x81, 0x00];
        let usn = "u".repeat(128);
        by_usn.extend_from_slice(usn.as_bytes());
        assert_eq!(Request::parse(&by_usn), Ok(Request::ByUsn(usn)));
    }

    #[test]
    fn request_all_ignores_payload() {
        // miniupnpc sends type 3 with "ssdp:all" as payload.
        let mut bytes = vec![0x03, 8];
        bytes.extend_from_slice(b"ssdp:all");
        assert_eq!(Request::parse(&bytes), Ok(Request::All));
        assert_eq!(
            Request::parse(&[0x00, 0x02, b'x', b'y']),
            Ok(Request::Version)
        );
        assert_eq!(Request::parse(&[0x05, 0x00]), Ok(Request::Subscribe));
        assert_eq!(
            Request::parse(&[0xee, 0x01, b'z']),
            Ok(Request::Unknown(0xee))
        );
    }

    #[test]
    fn request_submit_vector() {
        let service = Service {
            st: "urn:schemas-upnp-org:service:WANIPConnection:1".into(),
            usn: "uuid:1::urn:schemas-upnp-org:service:WANIPConnection:1".into(),
            server: "Linux/6.1 UPnP/1.1 portgated/0.1".into(),
            location: "http://10.0.0.1:5000/rootDesc.xml".into(),
        };
        let bytes = emit_request(&Request::Submit(service.clone()));
        let mut expected = vec![0x04];
        for s in [
            &service.st,
            &service.usn,
            &service.server,
            &service.location,
        ] {
            expected.push(u8::try_from(s.len()).unwrap());
            expected.extend_from_slice(s.as_bytes());
        }
        assert_eq!(bytes, expected);
        assert_eq!(Request::parse(&bytes), Ok(Request::Submit(service)));
    }

    #[test]
    fn submit_refuses_control_and_non_ascii() {
        for (field, bad) in [
            (0usize, "a\r\nb"),
            (1, "x\u{7f}"),
            (2, "tab\there"),
            (3, "é"),
        ] {
            let mut fields = ["st", "usn", "server", "loc"].map(String::from);
            fields[field] = bad.into();
            let [st, usn, server, location] = fields;
            let bytes = emit_request(&Request::Submit(Service {
                st,
                usn,
                server,
                location,
            }));
            assert!(
                matches!(Request::parse(&bytes), Err(DecodeError::Invalid { .. })),
                "field {field} {bad:?}"
            );
        }
    }

    #[test]
    fn empty_search_strings_refused() {
        for t in [TYPE_BY_TYPE, TYPE_BY_USN, TYPE_SUBMIT] {
            let bytes = [t, 0, 0, 0, 0];
            assert!(matches!(
                Request::decode_prefix(&bytes),
                Err(DecodeError::Invalid { why: "empty", .. })
            ));
        }
        // Empty USN/server/location in a submission are allowed.
        assert_eq!(
            Request::parse(&[4, 1, b'a', 0, 0, 0]),
            Ok(Request::Submit(Service {
                st: "a".into(),
                usn: String::new(),
                server: String::new(),
                location: String::new()
            }))
        );
    }

    #[test]
    fn request_non_utf8_search_refused() {
        assert!(matches!(
            Request::parse(&[1, 2, 0xc3, 0x28]),
            Err(DecodeError::Invalid {
                why: "not utf-8",
                ..
            })
        ));
    }

    #[test]
    fn request_length_past_data() {
        // Says 10 bytes, carries 3.
        let bytes = [0x01, 10, b'a', b'b', b'c'];
        assert_eq!(Request::decode_prefix(&bytes), Ok(None));
        assert_eq!(
            Request::parse(&bytes),
            Err(DecodeError::truncated("minissdpd request", 12, 5))
        );
        let mut dec = RequestDecoder::new();
        dec.feed(&bytes);
        assert_eq!(dec.poll(), Ok(Decoded::NeedMore));
        dec.finish();
        assert!(matches!(dec.poll(), Err(DecodeError::Truncated { .. })));
    }

    #[test]
    fn request_length_over_cap_is_immediate() {
        let mut dec = RequestDecoder::new();
        dec.feed(&[0x01, 0xa0, 0x01]); // 4097
        assert!(matches!(
            dec.poll(),
            Err(DecodeError::TooLong {
                limit: MAX_STRING_LEN,
                ..
            })
        ));
        let mut dec = RequestDecoder::new();
        dec.feed(&[0x02, 0xff]); // at least 16256, last byte still to come
        assert!(matches!(dec.poll(), Err(DecodeError::TooLong { .. })));
        // Exactly at the cap is fine (it waits for the data).
        let mut dec = RequestDecoder::new();
        dec.feed(&[0x02, 0xa0, 0x00]);
        assert_eq!(dec.poll(), Ok(Decoded::NeedMore));
        dec.feed(&vec![b'u'; MAX_STRING_LEN]);
        assert_eq!(
            dec.poll(),
            Ok(Decoded::Ready(Request::ByUsn("u".repeat(4096))))
        );
    }

    #[test]
    fn request_six_byte_varint() {
        let bytes = [0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, b'a'];
        assert!(matches!(
            Request::parse(&bytes),
            Err(DecodeError::TooLong { .. })
        ));
        // In the submit's later fields too.
        let bytes = [0x04, 1, b'a', 0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
        assert!(matches!(
            Request::parse(&bytes),
            Err(DecodeError::TooLong { .. })
        ));
    }

    #[test]
    fn request_trailing_bytes() {
        assert!(matches!(
            Request::parse(&[0x00, 0x00, 0x00]),
            Err(DecodeError::Invalid {
                why: "trailing bytes",
                ..
            })
        ));
    }

    fn sample_requests() -> Vec<Request> {
        vec![
            Request::Version,
            Request::ByType(IGD.into()),
            Request::ByUsn(USN.into()),
            Request::All,
            Request::Submit(Service {
                st: IGD.into(),
                usn: USN.into(),
                server: "Debian/12 UPnP/1.1 MiniUPnPd/2.3.1".into(),
                location: "http://10.0.0.1:5000/rootDesc.xml".into(),
            }),
            Request::Subscribe,
            Request::Unknown(200),
        ]
    }

    #[test]
    fn truncation_at_every_byte() {
        for request in sample_requests() {
            let bytes = emit_request(&request);
            for cut in 0..bytes.len() {
                let prefix = &bytes[..cut];
                assert_eq!(
                    Request::decode_prefix(prefix),
                    Ok(None),
                    "{request:?} cut {cut}"
                );
                assert!(matches!(
                    Request::parse(prefix),
                    Err(DecodeError::Truncated { .. })
                ));
                let mut dec = RequestDecoder::new();
                dec.feed(prefix);
                dec.finish();
                let got = dec.poll();
                if cut == 0 {
                    assert_eq!(got, Ok(Decoded::Finished));
                } else {
                    assert!(matches!(got, Err(DecodeError::Truncated { .. })));
                }
            }
            assert_eq!(Request::parse(&bytes), Ok(request));
        }
    }

    #[test]
    fn stream_decoder_byte_by_byte_pipelined() {
        let requests = sample_requests();
        let mut wire = Vec::new();
        for r in &requests {
            r.emit(&mut wire);
        }
        let mut dec = RequestDecoder::new();
        let mut got = Vec::new();
        for b in &wire {
            dec.feed(std::slice::from_ref(b));
            while let Decoded::Ready(r) = dec.poll().unwrap() {
                got.push(r);
            }
        }
        dec.finish();
        assert_eq!(dec.poll(), Ok(Decoded::Finished));
        assert_eq!(got, requests);
        assert_eq!(dec.buffered(), 0);
    }

    // ----- st matching -----

    #[test]
    fn st_matching() {
        let v1 = "urn:schemas-upnp-org:service:WANIPConnection:1";
        let v2 = "urn:schemas-upnp-org:service:WANIPConnection:2";
        assert!(st_matches(v1, v1));
        assert!(st_matches(v1, v2));
        assert!(!st_matches(v2, v1));
        assert!(st_matches(
            "urn:schemas-upnp-org:service:WANIPConnection",
            v2
        ));
        assert!(!st_matches(
            "urn:schemas-upnp-org:service:WANPPPConnection:1",
            v2
        ));
        assert!(!st_matches("urn:schemas-upnp-org:service:WANIPConn:1", v2));
        assert!(st_matches("upnp:rootdevice", "upnp:rootdevice"));
        assert!(!st_matches("upnp:rootdevice", "upnp:rootdevice:2"));
        assert!(!st_matches("uuid:1", "uuid:2"));
        assert!(!st_matches(
            v1,
            "urn:schemas-upnp-org:service:WANIPConnection:x"
        ));
    }

    // ----- responses -----

    #[test]
    fn response_vectors() {
        assert_eq!(emit_response(&Response::Ack), [0x00]);
        assert_eq!(
            emit_response(&Response::Version("MiniSSDPd 1.6".into())),
            b"\x0dMiniSSDPd 1.6"
        );
        assert_eq!(emit_response(&Response::Entries(vec![])), [0x00]);
        let one = entry("http://a/", "upnp:rootdevice", "uuid:x");
        let bytes = emit_response(&Response::Entries(vec![one.clone()]));
        assert_eq!(bytes, b"\x01\x09http://a/\x0fupnp:rootdevice\x06uuid:x");
        assert_eq!(
            Response::parse(ResponseKind::Entries, &bytes),
            Ok(Response::Entries(vec![one.clone()]))
        );
        let note = Notification {
            kind: NotificationKind::Removed,
            entries: vec![one],
        };
        let bytes = emit_response(&Response::Notification(note.clone()));
        assert_eq!(&bytes[..3], [0xff, 0x03, 0x01]);
        assert_eq!(Notification::parse(&bytes), Ok(note));
    }

    #[test]
    fn entries_capped_at_255() {
        let list: Vec<Entry> = (0..300)
            .map(|i| entry(&format!("http://h/{i}"), "t", "u"))
            .collect();
        let bytes = emit_response(&Response::Entries(list.clone()));
        assert_eq!(bytes[0], 255);
        assert_eq!(
            Response::parse(ResponseKind::Entries, &bytes),
            Ok(Response::Entries(list[..255].to_vec()))
        );
    }

    #[test]
    fn response_hostile() {
        // Count says 2 entries, only one present.
        let mut bytes = emit_response(&Response::Entries(vec![entry("l", "s", "u")]));
        bytes[0] = 2;
        assert!(matches!(
            Response::parse(ResponseKind::Entries, &bytes),
            Err(DecodeError::Truncated { .. })
        ));
        assert!(matches!(
            Response::parse(ResponseKind::Ack, &[1]),
            Err(DecodeError::Invalid { .. })
        ));
        assert!(matches!(
            Notification::parse(&[0x01, 0x01, 0x00]),
            Err(DecodeError::Invalid { .. })
        ));
        assert_eq!(
            Notification::parse(&[0xff, 0x09, 0x00]),
            Ok(Notification {
                kind: NotificationKind::Unknown(9),
                entries: vec![]
            })
        );
        // Invalid UTF-8 from the cache is replaced, not fatal.
        assert_eq!(
            Response::parse(ResponseKind::Version, &[2, 0xc3, 0x28]),
            Ok(Response::Version("\u{fffd}(".into()))
        );
        // Overlong varint inside an entry.
        assert!(matches!(
            Response::parse(ResponseKind::Entries, &[1, 0x80, 0x80, 0x80, 0x80, 0x80, 0]),
            Err(DecodeError::TooLong { .. })
        ));
    }

    #[test]
    fn response_truncation_at_every_byte() {
        let responses = [
            Response::Version(VERSION.into()),
            Response::Entries(vec![entry("http://10.0.0.1:5000/rootDesc.xml", IGD, USN)]),
            Response::Ack,
            Response::Notification(Notification {
                kind: NotificationKind::New,
                entries: vec![entry("http://x/", IGD, USN)],
            }),
        ];
        for response in responses {
            let bytes = emit_response(&response);
            for cut in 0..bytes.len() {
                assert_eq!(
                    Response::decode_prefix(response.kind(), &bytes[..cut]),
                    Ok(None)
                );
            }
            assert_eq!(Response::parse(response.kind(), &bytes), Ok(response));
        }
    }

    #[test]
    fn client_decoder_sequence() {
        let mut dec = ResponseDecoder::new();
        let mut wire = Vec::new();
        let reqs = [
            Request::Version,
            Request::Submit(Service {
                st: "a".into(),
                usn: "b".into(),
                server: "c".into(),
                location: "d".into(),
            }),
            Request::All,
            Request::Subscribe,
        ];
        for r in &reqs {
            dec.sent(r);
        }
        let replies = [
            Response::Version("v".into()),
            Response::Entries(vec![entry("l", "s", "u")]),
            Response::Ack,
            Response::Notification(Notification {
                kind: NotificationKind::New,
                entries: vec![entry("l2", "s2", "u2")],
            }),
            Response::Notification(Notification {
                kind: NotificationKind::Update,
                entries: vec![],
            }),
        ];
        for r in &replies {
            r.emit(&mut wire);
        }
        let mut got = Vec::new();
        for b in &wire {
            dec.feed(std::slice::from_ref(b));
            while let Decoded::Ready(r) = dec.poll().unwrap() {
                got.push(r);
            }
        }
        assert!(dec.is_subscribed());
        assert_eq!(got, replies);
        dec.finish();
        assert_eq!(dec.poll(), Ok(Decoded::Finished));
    }

    #[test]
    fn client_decoder_unsolicited_and_truncated() {
        let mut dec = ResponseDecoder::new();
        dec.feed(&[0x00]);
        assert!(matches!(dec.poll(), Err(DecodeError::Invalid { .. })));

        let mut dec = ResponseDecoder::new();
        dec.sent(&Request::All);
        dec.feed(&[0x01, 0x05, b'a']);
        assert_eq!(dec.poll(), Ok(Decoded::NeedMore));
        dec.finish();
        assert!(matches!(dec.poll(), Err(DecodeError::Truncated { .. })));
    }

    // ----- property tests -----

    fn text() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[ -~]{0,300}").unwrap()
    }

    fn any_text() -> impl Strategy<Value = String> {
        proptest::collection::vec(any::<char>(), 0..40).prop_map(|c| c.into_iter().collect())
    }

    fn arb_request() -> impl Strategy<Value = Request> {
        let non_empty = || proptest::string::string_regex("[ -~]{1,300}").unwrap();
        prop_oneof![
            Just(Request::Version),
            non_empty().prop_map(Request::ByType),
            any_text()
                .prop_filter("non-empty", |s| !s.is_empty())
                .prop_map(Request::ByUsn),
            Just(Request::All),
            (non_empty(), text(), text(), text()).prop_map(|(st, usn, server, location)| {
                Request::Submit(Service {
                    st,
                    usn,
                    server,
                    location,
                })
            }),
            Just(Request::Subscribe),
            (6u8..=255).prop_map(Request::Unknown),
        ]
    }

    fn arb_entry() -> impl Strategy<Value = Entry> {
        (any_text(), text(), any_text()).prop_map(|(location, st, usn)| Entry { location, st, usn })
    }

    fn arb_response() -> impl Strategy<Value = Response> {
        prop_oneof![
            any_text().prop_map(Response::Version),
            proptest::collection::vec(arb_entry(), 0..8).prop_map(Response::Entries),
            Just(Response::Ack),
            (any::<u8>(), proptest::collection::vec(arb_entry(), 0..4)).prop_map(|(k, entries)| {
                Response::Notification(Notification {
                    kind: NotificationKind::from_byte(k),
                    entries,
                })
            }),
        ]
    }

    proptest! {
        #[test]
        fn varint_round_trip(value in 0usize..(1 << 35)) {
            let bytes = varint(value);
            prop_assert!(bytes.len() <= MAX_VARINT_LEN);
            prop_assert_eq!(decode_varint(&bytes, usize::MAX), Ok(Some((value, bytes.len()))));
            // Only the last byte lacks the continuation bit.
            let (last, rest) = bytes.split_last().unwrap();
            prop_assert!(last & 0x80 == 0 && rest.iter().all(|b| b & 0x80 != 0));
        }

        #[test]
        fn request_round_trip(request in arb_request()) {
            let bytes = emit_request(&request);
            prop_assert_eq!(Request::parse(&bytes), Ok(request.clone()));
            prop_assert_eq!(Request::decode_prefix(&bytes), Ok(Some((request, bytes.len()))));
        }

        #[test]
        fn response_round_trip(response in arb_response()) {
            let bytes = emit_response(&response);
            prop_assert_eq!(Response::parse(response.kind(), &bytes), Ok(response));
        }

        #[test]
        fn kind_byte_round_trip(b in any::<u8>()) {
            prop_assert_eq!(NotificationKind::from_byte(b).to_byte(), b);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Request::parse(&bytes);
            for kind in [ResponseKind::Version, ResponseKind::Entries, ResponseKind::Ack, ResponseKind::Notification] {
                let _ = Response::parse(kind, &bytes);
            }
            let mut dec = RequestDecoder::new();
            dec.feed(&bytes);
            dec.finish();
            // Every poll either yields, finishes or errors; it never loops forever.
            for _ in 0..=bytes.len() {
                match dec.poll() {
                    Ok(Decoded::Ready(_)) => {}
                    Ok(Decoded::Finished) | Err(_) => break,
                    Ok(Decoded::NeedMore) => prop_assert!(false, "NeedMore after finish"),
                }
            }
        }

        #[test]
        fn st_version_order(a in 0u32..100, b in 0u32..100) {
            let base = "urn:schemas-upnp-org:device:WANDevice";
            prop_assert_eq!(st_matches(&format!("{base}:{a}"), &format!("{base}:{b}")), b >= a);
        }
    }
}
