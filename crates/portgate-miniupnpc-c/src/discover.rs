//! Discovery: `upnpDiscover*`, `ssdpDiscoverDevices`, the MiniSSDPd client functions and
//! `freeUPNPDevlist`.
//!
//! The IGD searches (`upnpDiscover`, and any list of IGD search types) run portgate-client's
//! discovery: the SSDP cache daemon's socket first; without an answer there, a unicast
//! M-SEARCH to the default gateway plus the multicast ones, stopping once a gateway has
//! answered plus a 20 ms grace period, or at the caller's delay. Other search types
//! (`ssdp:all`, a device type) multicast their M-SEARCH and listen until the delay ends.

use std::ffi::{c_char, c_int, c_uchar, CStr};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::{FromRawFd, IntoRawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use portgate_client::blocking::Client;
use portgate_client::upnp::discovery::{SsdpHit, SEARCH_TARGETS};
use portgate_proto::minissdpd;
use portgate_proto::ssdp::{self, MSearch, SearchTarget, SsdpMessage};

use crate::types::{
    UPNPDev, MINISSDPC_INVALID_INPUT, MINISSDPC_INVALID_SERVER_REPLY, MINISSDPC_SOCKET_ERROR,
    MINISSDPC_SUCCESS, UPNPDISCOVER_MEMORY_ERROR, UPNPDISCOVER_SOCKET_ERROR, UPNPDISCOVER_SUCCESS,
};
use crate::{c_string, guard};

/// Where MiniSSDPd listens when the caller gives no path.
pub const DEFAULT_MINISSDPD_SOCKET: &str = "/var/run/minissdpd.sock";
/// How long the cache daemon may take to answer.
const MINISSDPD_TIMEOUT: Duration = Duration::from_millis(200);
/// Most answers kept from one discovery.
const MAX_DEVICES: usize = 64;

/// One device found, before it becomes a C node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Description URL.
    pub location: String,
    /// Search target answered.
    pub st: String,
    /// Unique service name.
    pub usn: String,
    /// IPv6 scope of the sender (0 for IPv4).
    pub scope_id: u32,
}

impl From<SsdpHit> for Found {
    fn from(h: SsdpHit) -> Self {
        // A scope only for a link-local sender, as the kernel reports it.
        let scope_id = match h.from {
            Some(SocketAddr::V6(a)) if (a.ip().segments()[0] & 0xffc0) == 0xfe80 => a.scope_id(),
            _ => 0,
        };
        Self {
            location: h.location,
            st: h.st,
            usn: h.usn,
            scope_id,
        }
    }
}

/// Builds the C list in order: one `malloc` block per node, strings in its buffer.
/// `None` when memory ran out (what was built is freed).
pub fn to_c_list(found: &[Found]) -> Option<*mut UPNPDev> {
    let mut head: *mut UPNPDev = std::ptr::null_mut();
    for f in found.iter().rev() {
        let strings = [f.location.as_bytes(), f.st.as_bytes(), f.usn.as_bytes()];
        let total =
            std::mem::size_of::<UPNPDev>() + strings.iter().map(|s| s.len() + 1).sum::<usize>();
        // SAFETY: malloc of a non-zero size, checked for NULL.
        let node = unsafe { libc::malloc(total) }.cast::<UPNPDev>();
        if node.is_null() {
            // SAFETY: `head` is a list this function built.
            unsafe { freeUPNPDevlist(head) };
            return None;
        }
        let base = std::mem::offset_of!(UPNPDev, buffer);
        let mut at = base;
        let mut ptrs = [std::ptr::null_mut::<c_char>(); 3];
        for (s, p) in strings.iter().zip(ptrs.iter_mut()) {
            // SAFETY: `at + s.len() + 1 <= total`: the block holds the header and every
            // string with its NUL.
            unsafe {
                let dst = node.cast::<u8>().add(at);
                std::ptr::copy_nonoverlapping(s.as_ptr(), dst, s.len());
                dst.add(s.len()).write(0);
                *p = dst.cast();
            }
            at += s.len() + 1;
        }
        // SAFETY: `node` is a fresh block large enough for the header fields.
        unsafe {
            (&raw mut (*node).pNext).write(head);
            (&raw mut (*node).descURL).write(ptrs[0]);
            (&raw mut (*node).st).write(ptrs[1]);
            (&raw mut (*node).usn).write(ptrs[2]);
            (&raw mut (*node).scope_id).write(f.scope_id);
        }
        head = node;
    }
    Some(head)
}

/// Frees a list returned by the discovery functions. NULL is fine.
///
/// # Safety
/// `devlist` is NULL or a list returned by this library, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn freeUPNPDevlist(devlist: *mut UPNPDev) {
    guard((), || {
        let mut node = devlist;
        while !node.is_null() {
            // SAFETY: every node is one malloc block made by `to_c_list`.
            unsafe {
                let next = (*node).pNext;
                libc::free(node.cast());
                node = next;
            }
        }
    })
}

/// Hands a discovery result to C, with `*error` set.
///
/// # Safety
/// `error` is NULL or writable.
unsafe fn hand_over(found: Result<Vec<Found>, c_int>, error: *mut c_int) -> *mut UPNPDev {
    let (list, code) = match found {
        Ok(f) => match to_c_list(&f) {
            Some(l) => (l, UPNPDISCOVER_SUCCESS),
            None => (std::ptr::null_mut(), UPNPDISCOVER_MEMORY_ERROR),
        },
        Err(code) => (std::ptr::null_mut(), code),
    };
    if !error.is_null() {
        // SAFETY: writable per the contract.
        unsafe { error.write(code) };
    }
    list
}

fn delay_of(delay: c_int) -> Duration {
    Duration::from_millis(u64::try_from(delay).ok().filter(|&d| d > 0).unwrap_or(2000))
}

fn is_igd_search(types: &[String]) -> bool {
    types
        .iter()
        .all(|t| t == "upnp:rootdevice" || SEARCH_TARGETS.contains(&t.as_str()))
}

/// The search types of a NULL-terminated C array (at most 32).
///
/// # Safety
/// `types` is NULL or a NULL-terminated array of C strings.
unsafe fn read_types(types: *const *const c_char) -> Vec<String> {
    let mut out = Vec::new();
    if types.is_null() {
        return out;
    }
    for i in 0..32 {
        // SAFETY: the array ends with NULL, which stops the loop first.
        let p = unsafe { *types.add(i) };
        // SAFETY: a C string per the contract.
        match unsafe { c_string(p) } {
            Some(t) => out.push(t),
            None => break,
        }
    }
    out
}

/// What the cache daemon at `path` knows of `types`.
fn from_cache(types: &[String], path: &str, searchalltypes: bool) -> Vec<Found> {
    let mut out: Vec<Found> = Vec::new();
    for t in types {
        if let Ok(entries) = cache_query(path, t) {
            for e in entries {
                if !out.iter().any(|f| f.location == e.location && f.st == e.st) {
                    out.push(Found {
                        location: e.location,
                        st: e.st,
                        usn: e.usn,
                        scope_id: 0,
                    });
                }
            }
        }
        if !out.is_empty() && !searchalltypes {
            break;
        }
    }
    out
}

/// The whole discovery of `upnpDiscoverDevices`: cache daemon first, then SSDP.
#[allow(clippy::too_many_arguments)]
fn discover(
    types: &[String],
    delay: c_int,
    multicastif: Option<String>,
    minissdpdsock: Option<String>,
    ipv6: bool,
    searchalltypes: bool,
) -> Result<Vec<Found>, c_int> {
    let path = minissdpdsock.unwrap_or_else(|| DEFAULT_MINISSDPD_SOCKET.to_owned());
    let cached = from_cache(types, &path, searchalltypes);
    if !cached.is_empty() {
        return Ok(cached);
    }
    ssdp_discover(types, delay, multicastif, ipv6)
}

/// SSDP only (no cache daemon).
fn ssdp_discover(
    types: &[String],
    delay: c_int,
    multicastif: Option<String>,
    ipv6: bool,
) -> Result<Vec<Found>, c_int> {
    let mut client = Client::new();
    client.discovery.timeout = delay_of(delay);
    client.interface = multicastif.filter(|s| !s.is_empty());
    if ipv6 {
        return portgate_client::dualstack::discover_v6(&client)
            .map(|h| h.into_iter().map(Found::from).collect())
            .map_err(|_| UPNPDISCOVER_SOCKET_ERROR);
    }
    if is_igd_search(types) {
        let mut found: Vec<Found> = client
            .discover()
            .map(|h| h.into_iter().map(Found::from).collect())
            .map_err(|_| UPNPDISCOVER_SOCKET_ERROR)?;
        // In the order of the caller's types, as MiniUPnPc searches them one by one
        // (stable: arrival order within a type).
        found.sort_by_key(|f| types.iter().position(|t| *t == f.st).unwrap_or(types.len()));
        return Ok(found);
    }
    generic_search(types, delay_of(delay), client.interface.as_deref())
}

/// Multicasts an M-SEARCH for each type and collects answers until `wait` ends.
fn generic_search(
    types: &[String],
    wait: Duration,
    iface: Option<&str>,
) -> Result<Vec<Found>, c_int> {
    let bind = iface
        .and_then(|i| i.parse::<Ipv4Addr>().ok())
        .unwrap_or(Ipv4Addr::UNSPECIFIED);
    let sock = UdpSocket::bind((bind, 0)).map_err(|_| UPNPDISCOVER_SOCKET_ERROR)?;
    let dest = SocketAddr::new(IpAddr::V4(ssdp::SSDP_MULTICAST_V4), ssdp::SSDP_PORT);
    let mx = u32::try_from(wait.as_secs().clamp(1, 5)).unwrap_or(1);
    for t in types {
        let mut out = Vec::new();
        MSearch::multicast(
            SearchTarget::from_value(t),
            mx,
            Some(portgate_client::http::USER_AGENT),
        )
        .emit(&mut out);
        sock.send_to(&out, dest)
            .map_err(|_| UPNPDISCOVER_SOCKET_ERROR)?;
    }
    let deadline = Instant::now() + wait;
    let mut found: Vec<Found> = Vec::new();
    let mut buf = vec![0u8; ssdp::MAX_DATAGRAM_LEN + 1];
    while let Some(left) = deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
    {
        if sock.set_read_timeout(Some(left)).is_err() {
            break;
        }
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let Ok(SsdpMessage::Response(r)) = SsdpMessage::parse(buf.get(..n).unwrap_or_default())
        else {
            continue;
        };
        let st = r.st.to_string();
        let Some(location) = r.location.filter(|l| !l.is_empty()) else {
            continue;
        };
        let wanted = types.iter().any(|t| t == "ssdp:all" || *t == st);
        if wanted
            && found.len() < MAX_DEVICES
            && !found.iter().any(|f| f.location == location && f.st == st)
        {
            found.push(Found {
                location,
                st,
                usn: r.usn.0,
                scope_id: match from {
                    SocketAddr::V6(a) => a.scope_id(),
                    SocketAddr::V4(_) => 0,
                },
            });
        }
    }
    Ok(found)
}

/// Searches for Internet Gateway Devices (the types of MiniUPnPc's `upnpDiscover`).
/// `delay` (ms) is the longest wait; the answer comes as soon as a gateway answered.
/// `localport` and `ttl` are not used (an ephemeral port, TTL 2). Free the list with
/// [`freeUPNPDevlist`].
///
/// # Safety
/// Strings are NULL or C strings; `error` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn upnpDiscover(
    delay: c_int,
    multicastif: *const c_char,
    minissdpdsock: *const c_char,
    localport: c_int,
    ipv6: c_int,
    ttl: c_uchar,
    error: *mut c_int,
) -> *mut UPNPDev {
    let types: Vec<*const c_char> = IGD_C_TYPES
        .iter()
        .map(|t| t.as_ptr())
        .chain([std::ptr::null()])
        .collect();
    // SAFETY: `types` is a NULL-terminated array of static C strings; the rest is
    // forwarded.
    unsafe {
        upnpDiscoverDevices(
            types.as_ptr(),
            delay,
            multicastif,
            minissdpdsock,
            localport,
            ipv6,
            ttl,
            error,
            0,
        )
    }
}

const IGD_C_TYPES: [&CStr; 4] = [
    c"urn:schemas-upnp-org:device:InternetGatewayDevice:1",
    c"urn:schemas-upnp-org:service:WANIPConnection:1",
    c"urn:schemas-upnp-org:service:WANPPPConnection:1",
    c"upnp:rootdevice",
];

/// Searches for every UPnP device (`ssdp:all`) for `delay` ms.
///
/// # Safety
/// As [`upnpDiscover`].
#[no_mangle]
pub unsafe extern "C" fn upnpDiscoverAll(
    delay: c_int,
    multicastif: *const c_char,
    minissdpdsock: *const c_char,
    localport: c_int,
    ipv6: c_int,
    ttl: c_uchar,
    error: *mut c_int,
) -> *mut UPNPDev {
    let types = [c"ssdp:all".as_ptr(), std::ptr::null()];
    // SAFETY: a NULL-terminated array of static C strings; the rest is forwarded.
    unsafe {
        upnpDiscoverDevices(
            types.as_ptr(),
            delay,
            multicastif,
            minissdpdsock,
            localport,
            ipv6,
            ttl,
            error,
            0,
        )
    }
}

/// Searches for devices or services of type `device`.
///
/// # Safety
/// As [`upnpDiscover`]; `device` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn upnpDiscoverDevice(
    device: *const c_char,
    delay: c_int,
    multicastif: *const c_char,
    minissdpdsock: *const c_char,
    localport: c_int,
    ipv6: c_int,
    ttl: c_uchar,
    error: *mut c_int,
) -> *mut UPNPDev {
    let types = [device, std::ptr::null()];
    // SAFETY: a NULL-terminated array of the caller's C string; the rest is forwarded.
    unsafe {
        upnpDiscoverDevices(
            types.as_ptr(),
            delay,
            multicastif,
            minissdpdsock,
            localport,
            ipv6,
            ttl,
            error,
            0,
        )
    }
}

/// Searches for the types in `deviceTypes` (NULL-terminated): the cache daemon at
/// `minissdpdsock` (default `/var/run/minissdpd.sock`) first, then SSDP. With
/// `searchalltypes` 0 the cache daemon's search stops at the first type it knows.
///
/// # Safety
/// `deviceTypes` is NULL or a NULL-terminated array of C strings; the rest as
/// [`upnpDiscover`].
#[no_mangle]
pub unsafe extern "C" fn upnpDiscoverDevices(
    deviceTypes: *const *const c_char,
    delay: c_int,
    multicastif: *const c_char,
    minissdpdsock: *const c_char,
    _localport: c_int,
    ipv6: c_int,
    _ttl: c_uchar,
    error: *mut c_int,
    searchalltypes: c_int,
) -> *mut UPNPDev {
    guard(std::ptr::null_mut(), || {
        // SAFETY: per the contract.
        let (types, iface, sock) = unsafe {
            (
                read_types(deviceTypes),
                c_string(multicastif),
                c_string(minissdpdsock),
            )
        };
        let found = discover(&types, delay, iface, sock, ipv6 != 0, searchalltypes != 0);
        // SAFETY: `error` is NULL or writable.
        unsafe { hand_over(found, error) }
    })
}

/// SSDP discovery of `deviceTypes` without the cache daemon.
///
/// # Safety
/// As [`upnpDiscoverDevices`].
#[no_mangle]
pub unsafe extern "C" fn ssdpDiscoverDevices(
    deviceTypes: *const *const c_char,
    delay: c_int,
    multicastif: *const c_char,
    _localport: c_int,
    ipv6: c_int,
    _ttl: c_uchar,
    error: *mut c_int,
    _searchalltypes: c_int,
) -> *mut UPNPDev {
    guard(std::ptr::null_mut(), || {
        // SAFETY: per the contract.
        let (types, iface) = unsafe { (read_types(deviceTypes), c_string(multicastif)) };
        let found = ssdp_discover(&types, delay, iface, ipv6 != 0);
        // SAFETY: `error` is NULL or writable.
        unsafe { hand_over(found, error) }
    })
}

fn request_for(devtype: &str) -> minissdpd::Request {
    if devtype == "ssdp:all" {
        minissdpd::Request::All
    } else {
        minissdpd::Request::ByType(devtype.to_owned())
    }
}

fn send_request(s: &mut UnixStream, devtype: &str) -> std::io::Result<()> {
    let mut bytes = Vec::new();
    request_for(devtype).emit(&mut bytes);
    s.write_all(&bytes)
}

fn read_entries(s: &mut UnixStream) -> Result<Vec<minissdpd::Entry>, c_int> {
    let mut dec = minissdpd::ResponseDecoder::new();
    dec.sent(&minissdpd::Request::All);
    let mut buf = [0u8; 4096];
    loop {
        match dec.poll() {
            Ok(minissdpd::Decoded::Ready(minissdpd::Response::Entries(e))) => return Ok(e),
            Ok(minissdpd::Decoded::NeedMore) => {}
            Ok(_) | Err(_) => return Err(MINISSDPC_INVALID_SERVER_REPLY),
        }
        match s.read(&mut buf) {
            Ok(0) => dec.finish(),
            Ok(n) => dec.feed(buf.get(..n).unwrap_or_default()),
            Err(_) => return Err(MINISSDPC_SOCKET_ERROR),
        }
    }
}

fn connect_cache(path: &str) -> Result<UnixStream, c_int> {
    let s = UnixStream::connect(path).map_err(|_| MINISSDPC_SOCKET_ERROR)?;
    s.set_read_timeout(Some(MINISSDPD_TIMEOUT))
        .and_then(|()| s.set_write_timeout(Some(MINISSDPD_TIMEOUT)))
        .map_err(|_| MINISSDPC_SOCKET_ERROR)?;
    Ok(s)
}

fn cache_query(path: &str, devtype: &str) -> Result<Vec<minissdpd::Entry>, c_int> {
    let mut s = connect_cache(path)?;
    send_request(&mut s, devtype).map_err(|_| MINISSDPC_SOCKET_ERROR)?;
    read_entries(&mut s)
}

/// Borrows a caller's descriptor as a stream without taking ownership.
fn with_fd<T>(fd: c_int, f: impl FnOnce(&mut UnixStream) -> T) -> T {
    // SAFETY: the caller owns `fd`, an open socket; `into_raw_fd` below gives it back
    // unclosed.
    let mut s = unsafe { UnixStream::from_raw_fd(fd) };
    let r = f(&mut s);
    let _ = s.into_raw_fd();
    r
}

/// Connects to the cache daemon at `socketpath` (default when NULL): the socket, or
/// `MINISSDPC_SOCKET_ERROR`.
///
/// # Safety
/// `socketpath` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn connectToMiniSSDPD(socketpath: *const c_char) -> c_int {
    guard(MINISSDPC_SOCKET_ERROR, || {
        // SAFETY: per the contract.
        let path =
            unsafe { c_string(socketpath) }.unwrap_or_else(|| DEFAULT_MINISSDPD_SOCKET.into());
        match connect_cache(&path) {
            Ok(s) => s.into_raw_fd(),
            Err(e) => e,
        }
    })
}

/// Closes a socket from [`connectToMiniSSDPD`]: 0, or `MINISSDPC_SOCKET_ERROR`.
#[no_mangle]
pub extern "C" fn disconnectFromMiniSSDPD(fd: c_int) -> c_int {
    guard(MINISSDPC_SOCKET_ERROR, || {
        // SAFETY: closing the caller's descriptor is what this function is for.
        if unsafe { libc::close(fd) } < 0 {
            MINISSDPC_SOCKET_ERROR
        } else {
            MINISSDPC_SUCCESS
        }
    })
}

/// Sends a search for `devtype` (`ssdp:all`: everything) on a cache daemon socket.
///
/// # Safety
/// `devtype` is NULL or a C string; `fd` a connected socket.
#[no_mangle]
pub unsafe extern "C" fn requestDevicesFromMiniSSDPD(fd: c_int, devtype: *const c_char) -> c_int {
    guard(MINISSDPC_SOCKET_ERROR, || {
        // SAFETY: per the contract.
        let Some(t) = (unsafe { c_string(devtype) }) else {
            return MINISSDPC_INVALID_INPUT;
        };
        match with_fd(fd, |s| send_request(s, &t)) {
            Ok(()) => MINISSDPC_SUCCESS,
            Err(_) => MINISSDPC_SOCKET_ERROR,
        }
    })
}

/// Reads the cache daemon's answer to a search: the device list (free it with
/// [`freeUPNPDevlist`]) and `*error`.
///
/// # Safety
/// `error` is NULL or writable; `fd` a connected socket.
#[no_mangle]
pub unsafe extern "C" fn receiveDevicesFromMiniSSDPD(fd: c_int, error: *mut c_int) -> *mut UPNPDev {
    guard(std::ptr::null_mut(), || {
        let found = with_fd(fd, read_entries).map(cache_found);
        // SAFETY: `error` is NULL or writable.
        unsafe { hand_over(found, error) }
    })
}

fn cache_found(entries: Vec<minissdpd::Entry>) -> Vec<Found> {
    entries
        .into_iter()
        .map(|e| Found {
            location: e.location,
            st: e.st,
            usn: e.usn,
            scope_id: 0,
        })
        .collect()
}

/// Asks the cache daemon at `socketpath` for `devtype`: connect, request, receive.
///
/// # Safety
/// Strings are NULL or C strings; `error` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn getDevicesFromMiniSSDPD(
    devtype: *const c_char,
    socketpath: *const c_char,
    error: *mut c_int,
) -> *mut UPNPDev {
    guard(std::ptr::null_mut(), || {
        // SAFETY: per the contract.
        let (t, path) = unsafe { (c_string(devtype), c_string(socketpath)) };
        let path = path.unwrap_or_else(|| DEFAULT_MINISSDPD_SOCKET.into());
        let found = match t {
            Some(t) => cache_query(&path, &t).map(cache_found),
            None => Err(MINISSDPC_INVALID_INPUT),
        };
        // SAFETY: `error` is NULL or writable.
        unsafe { hand_over(found, error) }
    })
}
