//! HTTP and SOAP: `miniwget`, `miniwget_getaddr`, `parseURL`, `connecthostport`,
//! `receivedata`, `getHTTPResponse`, `soapPostSubmit`, `simpleUPnPcommand`.
//!
//! Requests and response framing are portgate-client's ([`HttpExchange`]): bounded
//! bodies, chunked encoding, timeouts. Hosts must be IP literals: no name is looked up
//! (a gateway's URLs carry its address).

use std::ffi::{c_char, c_int, c_uint, c_ushort, c_void};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::IntoRawFd;
use std::time::Duration;

use portgate_client::blocking::Client;
use portgate_client::http::{parse_url, HttpExchange, HttpResponse, MAX_SOAP_BODY};
use portgate_proto::soap::SoapRequest;

use crate::types::UPNParg;
use crate::{c_bytes, c_string, guard, malloc_copy, put};

/// How long a connection, a request or a response may take (MiniUPnPc uses 3 s socket
/// timeouts; a LAN gateway answers in milliseconds).
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// `MAXHOSTNAMELEN` on Linux: `parseURL` writes at most this many bytes plus a NUL.
const MAXHOSTNAMELEN: usize = 64;

fn client() -> Client {
    let mut c = Client::new();
    c.http_timeout = TIMEOUT;
    c
}

/// `url` without the zone of a bracketed IPv6 host (`[addr%25eth0]`, which MiniUPnPc
/// writes for answers from link-local senders): portgate-client's URLs carry none.
pub fn without_zone(url: &str) -> String {
    match (url.find('['), url.find(']')) {
        (Some(open), Some(close)) if open < close => {
            match url.get(open..close).and_then(|h| h.find('%')) {
                Some(pct) => format!(
                    "{}{}",
                    url.get(..open + pct).unwrap_or_default(),
                    url.get(close..).unwrap_or_default()
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A GET of `url`: the response and the local address of the connection.
pub fn fetch(url: &str) -> Option<(HttpResponse, SocketAddr)> {
    let (u, _) = parse_url(&without_zone(url)).ok()?;
    client().http_local(HttpExchange::get(&u).ok()?).ok()
}

/// A SOAP call: the answer's body whatever its status (faults come with 500), or `None`
/// when the exchange failed or the body is empty.
pub fn soap(url: &str, service: &str, action: &str, args: &[(&str, &str)]) -> Option<Vec<u8>> {
    let (u, _) = parse_url(&without_zone(url)).ok()?;
    let req = SoapRequest {
        service_type: service.to_owned(),
        action: action.to_owned(),
        args: args
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
    };
    let mut envelope = Vec::new();
    req.emit(&mut envelope);
    let x = HttpExchange::soap(&u, format!("\"{service}#{action}\""), &envelope).ok()?;
    // An empty answer counts as a failed exchange, as in MiniUPnPc.
    client()
        .http(x)
        .ok()
        .map(|r| r.body)
        .filter(|b| !b.is_empty())
}

/// Hands `body` to C: a `malloc`ed NUL-terminated copy, its length in `*size`.
///
/// # Safety
/// `size` is NULL or writable.
unsafe fn give(body: &[u8], size: *mut c_int) -> *mut c_void {
    let p = malloc_copy(body);
    if !p.is_null() && !size.is_null() {
        // SAFETY: writable per the contract.
        unsafe { size.write(c_int::try_from(body.len()).unwrap_or(c_int::MAX)) };
    }
    p.cast()
}

/// Downloads `url`: the body (`malloc`ed, NUL-terminated; free it), its length in
/// `*size` and the HTTP status in `*status_code` (if not NULL). NULL on failure.
///
/// # Safety
/// `url` is NULL or a C string; `size` and `status_code` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn miniwget(
    url: *const c_char,
    size: *mut c_int,
    scope_id: c_uint,
    status_code: *mut c_int,
) -> *mut c_void {
    // SAFETY: forwarded contract (no address buffer).
    unsafe { miniwget_getaddr(url, size, std::ptr::null_mut(), 0, scope_id, status_code) }
}

/// [`miniwget`], also writing the local address of the connection (this host's address
/// towards the server) as text into `addr` (`addrlen` bytes, NUL-terminated).
///
/// # Safety
/// As [`miniwget`]; `addr` is NULL or writable for `addrlen` bytes.
#[no_mangle]
pub unsafe extern "C" fn miniwget_getaddr(
    url: *const c_char,
    size: *mut c_int,
    addr: *mut c_char,
    addrlen: c_int,
    _scope_id: c_uint,
    status_code: *mut c_int,
) -> *mut c_void {
    guard(std::ptr::null_mut(), || {
        let addrlen = usize::try_from(addrlen).unwrap_or(0);
        // SAFETY: writable for addrlen bytes per the contract.
        unsafe { put(addr, addrlen, b"") };
        // SAFETY: NULL or a C string per the contract.
        let Some(url) = (unsafe { c_string(url) }) else {
            return std::ptr::null_mut();
        };
        let Some((resp, local)) = fetch(&url) else {
            return std::ptr::null_mut();
        };
        // SAFETY: as above.
        unsafe { put(addr, addrlen, local.ip().to_string().as_bytes()) };
        if !status_code.is_null() {
            // SAFETY: writable per the contract.
            unsafe { status_code.write(c_int::from(resp.head.status)) };
        }
        // SAFETY: `size` is NULL or writable.
        unsafe { give(&resp.body, size) }
    })
}

/// Splits an `http://host[:port]/path` URL: the host (with brackets for IPv6, at most 64
/// bytes) into `hostname` (65 bytes), the port (80 by default) into `*port`, a pointer to
/// the path inside `url` into `*path`, and for `[addr%scope]` the interface index into
/// `*scope_id`. Returns 1, or 0 when `url` is not such a URL.
///
/// # Safety
/// `url` is NULL or a C string; `hostname` is writable for 65 bytes; `port`, `path`
/// and `scope_id` are writable (`scope_id` may be NULL).
#[no_mangle]
pub unsafe extern "C" fn parseURL(
    url: *const c_char,
    hostname: *mut c_char,
    port: *mut c_ushort,
    path: *mut *mut c_char,
    scope_id: *mut c_uint,
) -> c_int {
    guard(0, || {
        // SAFETY: per the contract.
        let Some(u) = (unsafe { c_bytes(url) }) else {
            return 0;
        };
        if hostname.is_null() || port.is_null() || path.is_null() {
            return 0;
        }
        let Some(parts) = split_url(u) else {
            return 0;
        };
        // SAFETY: hostname is writable for MAXHOSTNAMELEN + 1 bytes; port and path are
        // writable; the path offset lies inside `url`.
        unsafe {
            std::ptr::write_bytes(hostname, 0, MAXHOSTNAMELEN + 1);
            put(hostname, MAXHOSTNAMELEN + 1, parts.host);
            port.write(parts.port);
            path.write(url.cast_mut().add(parts.path_at));
            if let (Some(s), false) = (parts.scope, scope_id.is_null()) {
                scope_id.write(scope_index(s));
            }
        }
        1
    })
}

/// The pieces of a URL as `parseURL` cuts it.
pub(crate) struct UrlParts<'a> {
    pub host: &'a [u8],
    pub port: u16,
    pub path_at: usize,
    pub scope: Option<&'a [u8]>,
}

fn find(h: &[u8], needle: u8, from: usize) -> Option<usize> {
    h.get(from..)?
        .iter()
        .position(|&b| b == needle)
        .map(|p| p + from)
}

fn leading_port(b: &[u8]) -> u16 {
    b.iter()
        .take_while(|c| c.is_ascii_digit())
        .fold(0u16, |acc, &c| {
            acc.wrapping_mul(10).wrapping_add(u16::from(c - b'0'))
        })
}

pub(crate) fn split_url(u: &[u8]) -> Option<UrlParts<'_>> {
    if !u.starts_with(b"http") {
        return None;
    }
    let p1 = u.windows(3).position(|w| w == b"://")? + 3;
    let p3 = find(u, b'/', p1);
    if u.get(p1) == Some(&b'[') {
        if let (Some(p2), Some(p3)) = (find(u, b']', p1), p3) {
            let scope = find(u, b'%', p1)
                .filter(|&s| s < p2)
                .and_then(|s| u.get(s + 1..p2))
                .map(|s| s.strip_prefix(b"25").unwrap_or(s));
            let host = u.get(p1..(p2 + 1).min(p1 + MAXHOSTNAMELEN))?;
            let port = match u.get(p2 + 1) {
                Some(b':') => leading_port(u.get(p2 + 2..)?),
                _ => 80,
            };
            return Some(UrlParts {
                host,
                port,
                path_at: p3,
                scope,
            });
        }
    }
    let p3 = p3?;
    let (host_end, port) = match find(u, b':', p1).filter(|&p2| p2 < p3) {
        Some(p2) => (p2, leading_port(u.get(p2 + 1..)?)),
        None => (p3, 80),
    };
    Some(UrlParts {
        host: u.get(p1..host_end.min(p1 + MAXHOSTNAMELEN))?,
        port,
        path_at: p3,
        scope: None,
    })
}

/// An interface index from a scope: a number, or an interface name.
fn scope_index(s: &[u8]) -> c_uint {
    if !s.is_empty() && s.iter().all(u8::is_ascii_digit) {
        return crate::atou(s).try_into().unwrap_or(0);
    }
    let Ok(name) = std::ffi::CString::new(s) else {
        return 0;
    };
    // SAFETY: `name` is a valid C string.
    unsafe { libc::if_nametoindex(name.as_ptr()) }
}

/// The address of `host` (an IP literal, IPv6 in brackets or not) and `port`.
fn literal(host: &[u8], port: u16, scope_id: u32) -> Option<SocketAddr> {
    let h = std::str::from_utf8(host).ok()?;
    let h = h
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(h);
    let h = h.split('%').next()?;
    match h.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => Some(SocketAddr::from((a, port))),
        IpAddr::V6(a) => Some(SocketAddr::V6(std::net::SocketAddrV6::new(
            a, port, 0, scope_id,
        ))),
    }
}

fn set_timeouts(s: &TcpStream) -> bool {
    s.set_read_timeout(Some(TIMEOUT)).is_ok() && s.set_write_timeout(Some(TIMEOUT)).is_ok()
}

/// Opens a TCP connection to `host` (an IPv4 or IPv6 literal; names are not looked up)
/// and `port`, with 3 s send and receive timeouts. Returns the socket (the caller closes
/// it) or -1.
///
/// # Safety
/// `host` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn connecthostport(
    host: *const c_char,
    port: c_ushort,
    scope_id: c_uint,
) -> c_int {
    guard(-1, || {
        // SAFETY: per the contract.
        let Some(addr) = (unsafe { c_bytes(host) }).and_then(|h| literal(h, port, scope_id)) else {
            return -1;
        };
        match TcpStream::connect_timeout(&addr, TIMEOUT) {
            Ok(s) if set_timeouts(&s) => s.into_raw_fd(),
            _ => -1,
        }
    })
}

/// Waits up to `timeout` ms for data on `socket` and reads at most `length` bytes into
/// `data`. Returns the count, 0 on timeout, -1 on error; for an IPv6 sender, its scope
/// in `*scope_id`.
///
/// # Safety
/// `data` is writable for `length` bytes; `scope_id` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn receivedata(
    socket: c_int,
    data: *mut c_char,
    length: c_int,
    timeout: c_int,
    scope_id: *mut c_uint,
) -> c_int {
    guard(-1, || {
        let Ok(len) = usize::try_from(length) else {
            return -1;
        };
        if data.is_null() {
            return -1;
        }
        let mut fds = libc::pollfd {
            fd: socket,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut fds, 1, timeout) };
        if n < 0 {
            return -1;
        }
        if n == 0 {
            return 0;
        }
        // SAFETY: all-zero is a valid sockaddr_storage.
        let mut from: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut fromlen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: `data` is writable for `len` bytes; `from`/`fromlen` describe a
        // writable sockaddr_storage.
        let r = unsafe {
            libc::recvfrom(
                socket,
                data.cast(),
                len,
                0,
                (&mut from as *mut libc::sockaddr_storage).cast(),
                &mut fromlen,
            )
        };
        if r < 0 {
            return -1;
        }
        if !scope_id.is_null() && c_int::from(from.ss_family) == libc::AF_INET6 {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let v6 =
                unsafe { &*(&from as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            // SAFETY: writable per the contract.
            unsafe { scope_id.write(v6.sin6_scope_id) };
        }
        c_int::try_from(r).unwrap_or(-1)
    })
}

/// Reads a whole HTTP response from the connected socket `s` (chunked or not, within
/// portgate's size limits): the body (`malloc`ed, NUL-terminated), its length in
/// `*size`, the status in `*status_code`. NULL (and `*size` -1) on failure.
///
/// # Safety
/// `size` and `status_code` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn getHTTPResponse(
    s: c_int,
    size: *mut c_int,
    status_code: *mut c_int,
) -> *mut c_void {
    guard(std::ptr::null_mut(), || {
        if !size.is_null() {
            // SAFETY: writable per the contract.
            unsafe { size.write(-1) };
        }
        let mut x = HttpExchange::response_reader(
            portgate_client::http::MAX_DESCRIPTION_BODY.max(MAX_SOAP_BODY),
        );
        let mut buf = vec![0u8; 4096];
        let resp = loop {
            // SAFETY: `buf` is writable for its length.
            let n = unsafe {
                receivedata(
                    s,
                    buf.as_mut_ptr().cast(),
                    buf.len() as c_int,
                    3000,
                    std::ptr::null_mut(),
                )
            };
            let step = match usize::try_from(n) {
                Ok(0) if n == 0 => x.handle_eof(),
                Ok(n) => match x.handle_bytes(buf.get(..n).unwrap_or_default()) {
                    Ok(Some(r)) => Ok(r),
                    Ok(None) => continue,
                    Err(e) => Err(e),
                },
                Err(_) => return std::ptr::null_mut(),
            };
            match step {
                Ok(r) => break r,
                Err(_) => return std::ptr::null_mut(),
            }
        };
        if !status_code.is_null() {
            // SAFETY: writable per the contract.
            unsafe { status_code.write(c_int::from(resp.head.status)) };
        }
        // SAFETY: `size` is NULL or writable.
        unsafe { give(&resp.body, size) }
    })
}

/// Sends a SOAP POST of `body` for `action` to `url` (the path) on the connected socket
/// `fd`, with HTTP version `httpversion` ("1.1" when NULL). Returns the bytes sent or a
/// negative value.
///
/// # Safety
/// Every pointer is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn soapPostSubmit(
    fd: c_int,
    url: *const c_char,
    host: *const c_char,
    port: c_ushort,
    action: *const c_char,
    body: *const c_char,
    httpversion: *const c_char,
) -> c_int {
    guard(-1, || {
        // SAFETY: per the contract.
        let (Some(url), Some(host), Some(action)) = (
            unsafe { c_string(url) },
            unsafe { c_string(host) },
            unsafe { c_string(action) },
        ) else {
            return -1;
        };
        // SAFETY: per the contract.
        let body = unsafe { c_bytes(body) }.unwrap_or_default();
        // SAFETY: per the contract.
        let version = unsafe { c_string(httpversion) }.unwrap_or_else(|| "1.1".into());
        let authority = if port == 80 {
            host
        } else {
            format!("{host}:{port}")
        };
        let mut req = format!(
            "POST {url} HTTP/{version}\r\nHost: {authority}\r\nUser-Agent: {ua}\r\n\
             Content-Length: {len}\r\nContent-Type: text/xml\r\nSOAPAction: \"{action}\"\r\n\
             Connection: close\r\nCache-Control: no-cache\r\nPragma: no-cache\r\n\r\n",
            ua = portgate_client::http::USER_AGENT,
            len = body.len(),
        )
        .into_bytes();
        req.extend_from_slice(body);
        let mut sent = 0usize;
        while sent < req.len() {
            let rest = req.get(sent..).unwrap_or_default();
            // SAFETY: `rest` is readable for its length.
            let n = unsafe { libc::send(fd, rest.as_ptr().cast(), rest.len(), libc::MSG_NOSIGNAL) };
            match usize::try_from(n) {
                Ok(n) if n > 0 => sent += n,
                _ => return -1,
            }
        }
        c_int::try_from(sent).unwrap_or(c_int::MAX)
    })
}

/// The arguments of a `UPNParg` array ending with a NULL `elt` (at most 64).
///
/// # Safety
/// `args` is NULL or such an array of C strings.
unsafe fn read_args(args: *const UPNParg) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if args.is_null() {
        return out;
    }
    for i in 0..64 {
        // SAFETY: the array is terminated by a NULL elt, which stops the loop first.
        let a = unsafe { &*args.add(i) };
        // SAFETY: C strings per the contract.
        let Some(elt) = (unsafe { c_string(a.elt) }) else {
            break;
        };
        // SAFETY: as above.
        out.push((elt, unsafe { c_string(a.val) }.unwrap_or_default()));
    }
    out
}

/// Invokes `action` of `service` at control URL `url` with `args` (ended by a NULL
/// `elt`; may be NULL): the answer's body (`malloc`ed, NUL-terminated; free it), its
/// length in `*bufsize`. NULL when the exchange failed. `s` is ignored (MiniUPnPc
/// ignores it too).
///
/// # Safety
/// Strings are NULL or C strings; `args` as described; `bufsize` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn simpleUPnPcommand(
    _s: c_int,
    url: *const c_char,
    service: *const c_char,
    action: *const c_char,
    args: *mut UPNParg,
    bufsize: *mut c_int,
) -> *mut c_char {
    guard(std::ptr::null_mut(), || {
        // SAFETY: per the contract.
        let (Some(url), Some(service), Some(action)) = (
            unsafe { c_string(url) },
            unsafe { c_string(service) },
            unsafe { c_string(action) },
        ) else {
            return std::ptr::null_mut();
        };
        // SAFETY: per the contract.
        let args = unsafe { read_args(args) };
        let refs: Vec<(&str, &str)> = args.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        match soap(&url, &service, &action, &refs) {
            // SAFETY: `bufsize` is NULL or writable.
            Some(body) => unsafe { give(&body, bufsize) }.cast(),
            None => std::ptr::null_mut(),
        }
    })
}
