//! MiniUPnPc's XML scanner (minixml) and the three readers built on it: root
//! descriptions (`parserootdesc`), SOAP answers (`ParseNameValue`) and port listings
//! (`ParsePortListing`).
//!
//! [`scan`] reports what callers of MiniUPnPc's `parsexml` rely on: start-tag names
//! without their namespace prefix, end-tag names as written, an element's text only
//! when its closing tag follows (leading whitespace included) or when it is a CDATA
//! section, comments and processing instructions skipped, attributes with quoted or
//! bare values, and no end event for `<a/>`. It is written from those rules, on
//! slices: a truncated or hostile document ends the scan, it never reads past the
//! buffer.

use std::ffi::{c_char, c_int, c_void};

use crate::types::{
    xmlparser, IGDdatas, IGDdatas_service, NameValue, NameValueParserData, PortMapping,
    PortMappingParserData,
};
use crate::{array_bytes, atou, c_bytes, guard, malloc_copy, put_array};

/// Receives the scanner's events; every slice borrows the scanned document.
pub trait Handler {
    /// A start tag's name, namespace prefix removed.
    fn start(&mut self, name: &[u8]);
    /// An end tag's name, as written.
    fn end(&mut self, name: &[u8]);
    /// An element's text (CDATA content, or raw text followed by a closing tag).
    fn data(&mut self, text: &[u8]);
    /// An attribute.
    fn attribute(&mut self, _name: &[u8], _value: &[u8]) {}
}

fn ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Where `pat` next occurs in `x` at or after `from`.
fn find(x: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    let tail = x.get(from..)?;
    if pat.len() == 1 {
        return tail.iter().position(|&b| b == pat[0]).map(|k| from + k);
    }
    tail.windows(pat.len())
        .position(|w| w == pat)
        .map(|k| from + k)
}

/// The first index at or after `from` whose byte satisfies `stop`.
fn until(x: &[u8], from: usize, stop: impl Fn(u8) -> bool) -> Option<usize> {
    x.get(from..)?
        .iter()
        .position(|&b| stop(b))
        .map(|k| from + k)
}

/// Scans `x` and reports its tags, attributes and text to `h` by the rules MiniUPnPc's
/// `parsexml` callers expect (the module's documentation); returns where it stopped:
/// the end of the document, or where it was cut inside a construct.
pub fn scan(x: &[u8], h: &mut impl Handler) -> usize {
    let mut pos = 0;
    loop {
        let Some(lt) = find(x, pos, b"<") else {
            return x.len();
        };
        let Some(&next) = x.get(lt + 1) else {
            return x.len();
        };
        pos = match (next, x.get(lt..lt + 4)) {
            (_, Some(b"<!--")) => match find(x, lt + 4, b"-->") {
                Some(close) => close + 3,
                None => return x.len(),
            },
            // A processing instruction: not an element; scanning goes on inside it.
            (b'?', _) => lt + 1,
            (b'/', _) => match find(x, lt + 2, b">") {
                Some(gt) => {
                    h.end(x.get(lt + 2..gt).unwrap_or_default());
                    gt + 1
                }
                None => return x.len(),
            },
            _ => match element(x, lt + 1, h) {
                Some(p) => p,
                None => return x.len(),
            },
        };
    }
}

/// A start tag whose name begins at `from`, its attributes and the text right after
/// it; returns where scanning goes on, `None` when the document ends first.
fn element(x: &[u8], from: usize, h: &mut impl Handler) -> Option<usize> {
    let name_end = until(x, from, |b| ws(b) || b == b'>' || b == b'/')?;
    let raw = x.get(from..name_end)?;
    // The namespace prefix goes: `<s:Envelope>` starts "Envelope".
    let name = match raw.iter().rposition(|&b| b == b':') {
        Some(colon) => raw.get(colon + 1..)?,
        None => raw,
    };
    if name.is_empty() {
        return Some(name_end);
    }
    h.start(name);
    let close = attributes(x, name_end, h)?;
    if x.get(close) == Some(&b'/') {
        // `<a/>`: no text, and no end event either.
        return Some(close + 1);
    }
    let body = close + 1;
    let first = until(x, body, |b| !ws(b))?;
    if x.get(first..).is_some_and(|t| t.starts_with(b"<![CDATA[")) {
        let content = first + 9;
        let stop = find(x, content, b"]]>")?;
        if stop > content {
            h.data(x.get(content..stop)?);
        }
        return Some(stop + 3);
    }
    // Text counts only when the element closes right after it.
    let lt = find(x, body, b"<")?;
    if lt > body && x.get(lt + 1) == Some(&b'/') {
        h.data(x.get(body..lt)?);
    }
    Some(lt)
}

/// The attributes of a start tag, from `from`; returns the index of the `/` or `>`
/// that ends the tag, `None` when the document ends first.
fn attributes(x: &[u8], from: usize, h: &mut impl Handler) -> Option<usize> {
    let mut pos = from;
    loop {
        pos = until(x, pos, |b| !ws(b))?;
        if matches!(x.get(pos), Some(b'/' | b'>')) {
            return Some(pos);
        }
        let name_end = until(x, pos, |b| b == b'=' || ws(b))?;
        let name = x.get(pos..name_end)?;
        let eq = find(x, name_end, b"=")?;
        let start = until(x, eq + 1, |b| !ws(b))?;
        let (value, after) = match x.get(start) {
            Some(&q @ (b'"' | b'\'')) => {
                let stop = find(x, start + 1, &[q])?;
                (x.get(start + 1..stop)?, stop + 1)
            }
            _ => {
                let stop = until(x, start, |b| ws(b) || b == b'>' || b == b'/')?;
                (x.get(start..stop)?, stop)
            }
        };
        h.attribute(name, value);
        pos = after;
    }
}

/// The caller's buffer as a slice; empty for NULL or a non-positive size.
///
/// # Safety
/// `p` is NULL or readable for `size` bytes for `'a`.
pub(crate) unsafe fn buffer<'a>(p: *const c_char, size: c_int) -> &'a [u8] {
    match usize::try_from(size) {
        Ok(n) if n > 0 && !p.is_null() => {
            // SAFETY: readable for `size` bytes per the contract.
            unsafe { std::slice::from_raw_parts(p.cast::<u8>(), n) }
        }
        _ => &[],
    }
}

/// Forwards scanner events to a C `xmlparser`'s callbacks.
struct CCallbacks<'p> {
    p: &'p xmlparser,
}

fn c_len(n: usize) -> c_int {
    c_int::try_from(n).unwrap_or(c_int::MAX)
}

impl Handler for CCallbacks<'_> {
    fn start(&mut self, name: &[u8]) {
        if let Some(f) = self.p.starteltfunc {
            // SAFETY: the caller registered `f` for this parser's `data`; `name` points
            // into the caller's document.
            unsafe { f(self.p.data, name.as_ptr().cast(), c_len(name.len())) }
        }
    }
    fn end(&mut self, name: &[u8]) {
        if let Some(f) = self.p.endeltfunc {
            // SAFETY: as in `start`.
            unsafe { f(self.p.data, name.as_ptr().cast(), c_len(name.len())) }
        }
    }
    fn data(&mut self, text: &[u8]) {
        if let Some(f) = self.p.datafunc {
            // SAFETY: as in `start`.
            unsafe { f(self.p.data, text.as_ptr().cast(), c_len(text.len())) }
        }
    }
    fn attribute(&mut self, name: &[u8], value: &[u8]) {
        if let Some(f) = self.p.attfunc {
            // SAFETY: as in `start`.
            unsafe {
                f(
                    self.p.data,
                    name.as_ptr().cast(),
                    c_len(name.len()),
                    value.as_ptr().cast(),
                    c_len(value.len()),
                )
            }
        }
    }
}

/// Scans `p->xmlstart[0..p->xmlsize]`, calling `p`'s callbacks; sets `p->xmlend` and
/// `p->xml` as minixml does.
///
/// # Safety
/// `p` is NULL or a valid `xmlparser` whose document is readable for `xmlsize` bytes
/// and whose callbacks accept its `data`.
#[no_mangle]
pub unsafe extern "C" fn parsexml(p: *mut xmlparser) {
    guard((), || {
        // SAFETY: NULL or valid per the contract.
        let Some(p) = (unsafe { p.as_mut() }) else {
            return;
        };
        // SAFETY: the document is readable for xmlsize bytes per the contract.
        let doc = unsafe { buffer(p.xmlstart, p.xmlsize) };
        p.xmlend = p.xmlstart.wrapping_add(doc.len());
        let stop = scan(doc, &mut CCallbacks { p });
        p.xml = p.xmlstart.wrapping_add(stop);
    })
}

const WAN_CIF: &[u8] = b"urn:schemas-upnp-org:service:WANCommonInterfaceConfig:";
const WAN_IP: &[u8] = b"urn:schemas-upnp-org:service:WANIPConnection:";
const WAN_PPP: &[u8] = b"urn:schemas-upnp-org:service:WANPPPConnection:";
const WAN_V6FC: &[u8] = b"urn:schemas-upnp-org:service:WANIPv6FirewallControl:";

fn clear_service(s: &mut IGDdatas_service) {
    s.controlurl[0] = 0;
    s.eventsuburl[0] = 0;
    s.scpdurl[0] = 0;
    s.servicetype[0] = 0;
}

impl Handler for IGDdatas {
    fn start(&mut self, name: &[u8]) {
        put_array(&mut self.cureltname, name);
        self.level = self.level.wrapping_add(1);
        if name == b"service" {
            clear_service(&mut self.tmp);
        }
    }

    fn end(&mut self, name: &[u8]) {
        self.level = self.level.wrapping_sub(1);
        if name != b"service" {
            return;
        }
        let st = array_bytes(&self.tmp.servicetype);
        if st.starts_with(WAN_CIF) {
            self.CIF = self.tmp;
        } else if st.starts_with(WAN_V6FC) {
            self.IPv6FC = self.tmp;
        } else if st.starts_with(WAN_IP) || st.starts_with(WAN_PPP) {
            if self.first.servicetype[0] == 0 {
                self.first = self.tmp;
            } else {
                self.second = self.tmp;
            }
        }
    }

    fn data(&mut self, text: &[u8]) {
        let dst = match array_bytes(&self.cureltname).as_slice() {
            b"URLBase" => &mut self.urlbase,
            b"presentationURL" => &mut self.presentationurl,
            b"serviceType" => &mut self.tmp.servicetype,
            b"controlURL" => &mut self.tmp.controlurl,
            b"eventSubURL" => &mut self.tmp.eventsuburl,
            b"SCPDURL" => &mut self.tmp.scpdurl,
            _ => return,
        };
        // Text with a NUL inside is cut there, as the C string copy does.
        put_array(dst, text);
    }
}

/// Reads a root description into `data` (which the caller zeroed), as MiniUPnPc does.
pub fn parse_root_desc(doc: &[u8], data: &mut IGDdatas) {
    scan(doc, data);
}

/// `name` of a C callback as a slice.
///
/// # Safety
/// `p` is NULL or readable for `l` bytes.
unsafe fn cb_bytes<'a>(p: *const c_char, l: c_int) -> &'a [u8] {
    // SAFETY: forwarded contract.
    unsafe { buffer(p, l) }
}

/// minixml start-element callback of the description reader (`d` is an `IGDdatas`).
///
/// # Safety
/// `d` is NULL or a valid `IGDdatas`; `name` is NULL or readable for `l` bytes.
#[no_mangle]
pub unsafe extern "C" fn IGDstartelt(d: *mut c_void, name: *const c_char, l: c_int) {
    guard((), || {
        // SAFETY: per the contract.
        if let Some(data) = unsafe { d.cast::<IGDdatas>().as_mut() } {
            // SAFETY: per the contract.
            data.start(unsafe { cb_bytes(name, l) });
        }
    })
}

/// minixml end-element callback of the description reader (`d` is an `IGDdatas`).
///
/// # Safety
/// As [`IGDstartelt`].
#[no_mangle]
pub unsafe extern "C" fn IGDendelt(d: *mut c_void, name: *const c_char, l: c_int) {
    guard((), || {
        // SAFETY: per the contract.
        if let Some(data) = unsafe { d.cast::<IGDdatas>().as_mut() } {
            // SAFETY: per the contract.
            data.end(unsafe { cb_bytes(name, l) });
        }
    })
}

/// minixml text callback of the description reader (`d` is an `IGDdatas`).
///
/// # Safety
/// As [`IGDstartelt`].
#[no_mangle]
pub unsafe extern "C" fn IGDdata(d: *mut c_void, text: *const c_char, l: c_int) {
    guard((), || {
        // SAFETY: per the contract.
        if let Some(data) = unsafe { d.cast::<IGDdatas>().as_mut() } {
            // SAFETY: per the contract.
            data.data(unsafe { cb_bytes(text, l) });
        }
    })
}

/// Reads the root description `buffer[0..bufsize]` into `data` (not cleared first).
///
/// # Safety
/// `buffer` is NULL or readable for `bufsize` bytes; `data` is NULL or a valid `IGDdatas`.
#[no_mangle]
pub unsafe extern "C" fn parserootdesc(buffer: *const c_char, bufsize: c_int, data: *mut IGDdatas) {
    guard((), || {
        // SAFETY: per the contract.
        let (doc, Some(data)) = (unsafe { self::buffer(buffer, bufsize) }, unsafe {
            data.as_mut()
        }) else {
            return;
        };
        parse_root_desc(doc, data);
    })
}

/// Name/value pairs of a SOAP answer, read as MiniUPnPc's upnpreplyparse does.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NameValues {
    /// Pairs in document order (names cut to 63 bytes, values to 127).
    pub pairs: Vec<(Vec<u8>, Vec<u8>)>,
    /// The `NewPortListing` document, entities decoded.
    pub port_listing: Option<Vec<u8>>,
    curelt: Vec<u8>,
    topelt: bool,
    cdata: Option<Vec<u8>>,
}

fn cut(b: &[u8], max: usize) -> Vec<u8> {
    crate::until_nul(b).iter().take(max).copied().collect()
}

/// Decodes the five predefined XML entities and numeric references (an escaped
/// `NewPortListing` document); anything else is kept as is.
pub fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b == b'&' {
            let rest = s.get(i..).unwrap_or_default();
            if let Some(semi) = rest.iter().take(12).position(|&c| c == b';') {
                let ent = rest.get(1..semi).unwrap_or_default();
                let ch = match ent {
                    b"lt" => Some('<'),
                    b"gt" => Some('>'),
                    b"amp" => Some('&'),
                    b"quot" => Some('"'),
                    b"apos" => Some('\''),
                    [b'#', b'x' | b'X', hex @ ..] => std::str::from_utf8(hex)
                        .ok()
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                        .and_then(char::from_u32),
                    [b'#', dec @ ..] => std::str::from_utf8(dec)
                        .ok()
                        .and_then(|d| d.parse().ok())
                        .and_then(char::from_u32),
                    _ => None,
                };
                if let Some(c) = ch {
                    let mut tmp = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                    i += semi + 1;
                    continue;
                }
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

impl NameValues {
    /// Reads a SOAP answer.
    pub fn parse(doc: &[u8]) -> Self {
        let mut nv = Self::default();
        scan(doc, &mut nv);
        nv
    }

    /// The value of the last pair named `name` (MiniUPnPc keeps its list newest first).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.pairs
            .iter()
            .rev()
            .find(|(n, _)| n == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    /// The UPnP error code of a fault answer: `Some(code)` (or
    /// `UPNPCOMMAND_UNKNOWN_ERROR` when not a number) if it has an `errorCode`.
    pub fn error_code(&self) -> Option<c_int> {
        self.get("errorCode")
            .map(|v| crate::atoi(v).unwrap_or(crate::types::UPNPCOMMAND_UNKNOWN_ERROR))
    }
}

impl Handler for NameValues {
    fn start(&mut self, name: &[u8]) {
        self.topelt = true;
        self.curelt = cut(name, 63);
        self.cdata = None;
    }

    fn end(&mut self, _name: &[u8]) {
        if !self.topelt {
            return;
        }
        if self.curelt != b"NewPortListing" {
            let value = self
                .cdata
                .as_deref()
                .map(|c| cut(c, 127))
                .unwrap_or_default();
            self.pairs.push((self.curelt.clone(), value));
        }
        self.cdata = None;
        // Only the innermost element makes a pair: the enclosing ones' end tags follow
        // with no start tag in between.
        self.topelt = false;
    }

    fn data(&mut self, text: &[u8]) {
        if self.curelt == b"NewPortListing" {
            self.port_listing = Some(if text.starts_with(b"&lt;") {
                unescape(text)
            } else {
                text.to_vec()
            });
        } else {
            self.cdata = Some(text.to_vec());
        }
    }
}

/// Reads the SOAP answer `buffer[0..bufsize]` into `data` (cleared first): a list of
/// `malloc`ed [`NameValue`]s, newest first, and the `NewPortListing` document.
///
/// # Safety
/// `buffer` is NULL or readable for `bufsize` bytes; `data` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ParseNameValue(
    buffer: *const c_char,
    bufsize: c_int,
    data: *mut NameValueParserData,
) {
    guard((), || {
        if data.is_null() {
            return;
        }
        // SAFETY: `data` is writable; all-zero bytes are a valid NameValueParserData.
        let data = unsafe {
            std::ptr::write_bytes(data, 0, 1);
            &mut *data
        };
        // SAFETY: per the contract.
        let doc = unsafe { self::buffer(buffer, bufsize) };
        let nv = NameValues::parse(doc);
        for (name, value) in &nv.pairs {
            // SAFETY: malloc of the struct's size, checked for NULL below.
            let node =
                unsafe { libc::calloc(1, std::mem::size_of::<NameValue>()) }.cast::<NameValue>();
            // SAFETY: a fresh zeroed block of the right size, or NULL.
            let Some(n) = (unsafe { node.as_mut() }) else {
                return;
            };
            put_array(&mut n.name, name);
            put_array(&mut n.value, value);
            n.l_next = data.l_head;
            data.l_head = node;
        }
        if let Some(list) = &nv.port_listing {
            data.portListing = malloc_copy(list);
            if !data.portListing.is_null() {
                data.portListingLength = c_len(list.len());
            }
        }
        data.topelt = c_int::from(nv.topelt);
        put_array(&mut data.curelt, &nv.curelt);
    })
}

/// Frees what [`ParseNameValue`] allocated.
///
/// # Safety
/// `pdata` is NULL or filled by [`ParseNameValue`] (or zeroed).
#[no_mangle]
pub unsafe extern "C" fn ClearNameValueList(pdata: *mut NameValueParserData) {
    guard((), || {
        // SAFETY: per the contract.
        let Some(d) = (unsafe { pdata.as_mut() }) else {
            return;
        };
        // SAFETY: portListing is NULL or from malloc.
        unsafe { libc::free(d.portListing.cast()) };
        d.portListing = std::ptr::null_mut();
        d.portListingLength = 0;
        while !d.l_head.is_null() {
            let node = d.l_head;
            // SAFETY: every node is a malloc block made by ParseNameValue.
            unsafe {
                d.l_head = (*node).l_next;
                libc::free(node.cast());
            }
        }
    })
}

/// The value of the newest pair named `Name`, pointing into the list; NULL if none.
///
/// # Safety
/// `pdata` is NULL or filled by [`ParseNameValue`]; `Name` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn GetValueFromNameValueList(
    pdata: *mut NameValueParserData,
    Name: *const c_char,
) -> *mut c_char {
    guard(std::ptr::null_mut(), || {
        // SAFETY: per the contract.
        let (Some(d), Some(name)) = (unsafe { pdata.as_mut() }, unsafe { c_bytes(Name) }) else {
            return std::ptr::null_mut();
        };
        let mut node = d.l_head;
        // SAFETY: the list's nodes are valid NameValues made by ParseNameValue.
        while let Some(n) = unsafe { node.as_mut() } {
            if array_bytes(&n.name) == name {
                return n.value.as_mut_ptr();
            }
            node = n.l_next;
        }
        std::ptr::null_mut()
    })
}

/// One `PortMappingEntry` of a listing, in Rust.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Entry {
    /// NewRemoteHost (63 bytes at most).
    pub remote_host: Vec<u8>,
    /// NewExternalPort.
    pub external_port: u16,
    /// NewProtocol (3 bytes at most).
    pub protocol: Vec<u8>,
    /// NewInternalPort.
    pub internal_port: u16,
    /// NewInternalClient (63 bytes at most).
    pub internal_client: Vec<u8>,
    /// NewEnabled.
    pub enabled: u8,
    /// NewDescription (63 bytes at most).
    pub description: Vec<u8>,
    /// NewLeaseTime.
    pub lease_time: u64,
}

/// The elements of a listing, numbered as MiniUPnPc's `portMappingElt`.
const LISTING_ELEMENTS: [(&[u8], c_int); 9] = [
    (b"PortMappingEntry", 1),
    (b"NewRemoteHost", 2),
    (b"NewExternalPort", 3),
    (b"NewProtocol", 4),
    (b"NewInternalPort", 5),
    (b"NewInternalClient", 6),
    (b"NewEnabled", 7),
    (b"NewDescription", 8),
    (b"NewLeaseTime", 9),
];

/// A `GetListOfPortMappings` document being read.
#[derive(Debug, Default)]
pub struct Listing {
    /// Entries in document order.
    pub entries: Vec<Entry>,
    curelt: c_int,
}

impl Listing {
    /// Reads a listing document.
    pub fn parse(doc: &[u8]) -> Vec<Entry> {
        let mut l = Self::default();
        scan(doc, &mut l);
        l.entries
    }
}

impl Handler for Listing {
    fn start(&mut self, name: &[u8]) {
        self.curelt = LISTING_ELEMENTS
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0, |(_, c)| *c);
        if self.curelt == 1 {
            self.entries.push(Entry::default());
        }
    }

    fn end(&mut self, _name: &[u8]) {
        self.curelt = 0;
    }

    fn data(&mut self, text: &[u8]) {
        let Some(e) = self.entries.last_mut() else {
            return;
        };
        let text = cut(text, 63);
        match self.curelt {
            2 => e.remote_host = text,
            3 => e.external_port = atou(&text) as u16,
            4 => e.protocol = cut(&text, 3),
            5 => e.internal_port = atou(&text) as u16,
            6 => e.internal_client = text,
            7 => e.enabled = atou(&text) as u8,
            8 => e.description = text,
            9 => e.lease_time = atou(&text),
            _ => {}
        }
    }
}

/// Builds the C list (newest first, one `calloc` block per entry) in `pdata`.
pub(crate) fn fill_listing(entries: &[Entry], pdata: &mut PortMappingParserData) {
    for e in entries {
        // SAFETY: calloc of the struct's size, checked for NULL below.
        let node =
            unsafe { libc::calloc(1, std::mem::size_of::<PortMapping>()) }.cast::<PortMapping>();
        // SAFETY: a fresh zeroed block of the right size, or NULL.
        let Some(pm) = (unsafe { node.as_mut() }) else {
            return;
        };
        pm.leaseTime = e.lease_time;
        pm.externalPort = e.external_port;
        pm.internalPort = e.internal_port;
        put_array(&mut pm.remoteHost, &e.remote_host);
        put_array(&mut pm.internalClient, &e.internal_client);
        put_array(&mut pm.description, &e.description);
        put_array(&mut pm.protocol, &e.protocol);
        pm.enabled = e.enabled;
        pm.l_next = pdata.l_head;
        pdata.l_head = node;
    }
}

/// Reads a `NewPortListing` document into `pdata` (cleared first).
///
/// # Safety
/// `buffer` is NULL or readable for `bufsize` bytes; `pdata` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ParsePortListing(
    buffer: *const c_char,
    bufsize: c_int,
    pdata: *mut PortMappingParserData,
) {
    guard((), || {
        if pdata.is_null() {
            return;
        }
        // SAFETY: writable per the contract; all-zero is a valid PortMappingParserData.
        let pdata = unsafe {
            std::ptr::write_bytes(pdata, 0, 1);
            &mut *pdata
        };
        // SAFETY: per the contract.
        let doc = unsafe { self::buffer(buffer, bufsize) };
        fill_listing(&Listing::parse(doc), pdata);
    })
}

/// Frees the entries [`ParsePortListing`] or `UPNP_GetListOfPortMappings` allocated.
///
/// # Safety
/// `pdata` is NULL or filled by one of them (or zeroed).
#[no_mangle]
pub unsafe extern "C" fn FreePortListing(pdata: *mut PortMappingParserData) {
    guard((), || {
        // SAFETY: per the contract.
        let Some(d) = (unsafe { pdata.as_mut() }) else {
            return;
        };
        while !d.l_head.is_null() {
            let node = d.l_head;
            // SAFETY: every node is a calloc block made by this library.
            unsafe {
                d.l_head = (*node).l_next;
                libc::free(node.cast());
            }
        }
    })
}
