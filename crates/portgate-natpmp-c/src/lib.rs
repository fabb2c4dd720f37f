//! `libnatpmp.so.1`, rebuilt in Rust: the C API of libnatpmp 20150609 (`natpmp.h`), the
//! NAT-PMP client (RFC 6886) that programs such as `natpmpc`, BitTorrent clients and
//! cryptocurrency nodes link.
//!
//! The layouts of [`natpmp_t`] and [`natpmpresp_t`] are the C ones: callers allocate
//! them and read their fields. `natpmp_t.s` is a real connected, non-blocking UDP socket
//! callers `select()` on. Requests are retransmitted on the RFC 6886 §3.1 schedule
//! (250 ms, doubling, 9 tries) by [`readnatpmpresponseorretry`]; responses are decoded by
//! portgate-proto's [`Response::parse`], so no datagram byte is read unchecked.
//!
//! Every exported function catches panics: none crosses into C (a panic becomes
//! [`NATPMP_ERR_UNDEFINEDERROR`], or the "unknown error" string). The library keeps no
//! global state: everything lives in the caller's `natpmp_t`.
#![allow(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int};
use std::panic::{catch_unwind, AssertUnwindSafe};

use portgate_proto::natpmp::{Response, ResultCode};

/// `in_addr_t`: an IPv4 address in network byte order.
pub type in_addr_t = u32;

/// The NAT-PMP server port (RFC 6886 §3.1).
pub const NATPMP_PORT: u16 = 5351;

/// `natpmpresp_t.type` of an external-address answer.
pub const NATPMP_RESPTYPE_PUBLICADDRESS: u16 = 0;
/// `natpmpresp_t.type` of a UDP mapping answer.
pub const NATPMP_RESPTYPE_UDPPORTMAPPING: u16 = 1;
/// `natpmpresp_t.type` of a TCP mapping answer.
pub const NATPMP_RESPTYPE_TCPPORTMAPPING: u16 = 2;
/// `protocol` argument of [`sendnewportmappingrequest`]: UDP.
pub const NATPMP_PROTOCOL_UDP: c_int = 1;
/// `protocol` argument of [`sendnewportmappingrequest`]: TCP.
pub const NATPMP_PROTOCOL_TCP: c_int = 2;

/// A NULL pointer or an invalid protocol.
pub const NATPMP_ERR_INVALIDARGS: c_int = -1;
/// `socket()` failed.
pub const NATPMP_ERR_SOCKETERROR: c_int = -2;
/// No default gateway could be found.
pub const NATPMP_ERR_CANNOTGETGATEWAY: c_int = -3;
/// `close()` failed.
pub const NATPMP_ERR_CLOSEERR: c_int = -4;
/// `recvfrom()` failed.
pub const NATPMP_ERR_RECVFROM: c_int = -5;
/// No request is pending.
pub const NATPMP_ERR_NOPENDINGREQ: c_int = -6;
/// The gateway refused the datagram (ICMP port unreachable) or never answered 9 tries.
pub const NATPMP_ERR_NOGATEWAYSUPPORT: c_int = -7;
/// `connect()` failed.
pub const NATPMP_ERR_CONNECTERR: c_int = -8;
/// A datagram came from another address than the gateway.
pub const NATPMP_ERR_WRONGPACKETSOURCE: c_int = -9;
/// `send()` failed.
pub const NATPMP_ERR_SENDERR: c_int = -10;
/// `fcntl()` failed.
pub const NATPMP_ERR_FCNTLERROR: c_int = -11;
/// `gettimeofday()` failed.
pub const NATPMP_ERR_GETTIMEOFDAYERR: c_int = -12;
/// The gateway answered with result 1 or another version than 0.
pub const NATPMP_ERR_UNSUPPORTEDVERSION: c_int = -14;
/// The gateway answered with result 5 or an unknown opcode.
pub const NATPMP_ERR_UNSUPPORTEDOPCODE: c_int = -15;
/// The gateway answered with a result code RFC 6886 does not define.
pub const NATPMP_ERR_UNDEFINEDERROR: c_int = -49;
/// Result 2: not authorized.
pub const NATPMP_ERR_NOTAUTHORIZED: c_int = -51;
/// Result 3: network failure.
pub const NATPMP_ERR_NETWORKFAILURE: c_int = -52;
/// Result 4: out of resources.
pub const NATPMP_ERR_OUTOFRESOURCES: c_int = -53;
/// No answer yet: wait on the socket until [`getnatpmprequesttimeout`] and call again.
pub const NATPMP_TRYAGAIN: c_int = -100;

/// How many times a request is sent before giving up (RFC 6886 §3.1).
const MAX_TRIES: c_int = 9;
/// The first retransmission interval in milliseconds, doubled after each try (RFC 6886 §3.1).
const INITIAL_RETRY_MS: i64 = 250;

/// The state of one NAT-PMP client (C layout of libnatpmp's `natpmp_t`, 48 bytes).
#[repr(C)]
pub struct natpmp_t {
    /// The UDP socket, connected to the gateway's port 5351, non-blocking.
    pub s: c_int,
    /// The gateway's IPv4 address, network byte order.
    pub gateway: in_addr_t,
    /// 1 while a request waits for its answer.
    pub has_pending_request: c_int,
    /// The pending request's bytes.
    pub pending_request: [u8; 12],
    /// How many bytes of `pending_request` are used (2 or 12).
    pub pending_request_len: c_int,
    /// How many times the pending request was sent.
    pub try_number: c_int,
    /// When the pending request is sent again.
    pub retry_time: libc::timeval,
}

/// `natpmpresp_t.pnu.publicaddress`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct publicaddress_t {
    /// The external address, network byte order.
    pub addr: libc::in_addr,
}

/// `natpmpresp_t.pnu.newportmapping`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct newportmapping_t {
    /// The internal port of the request.
    pub privateport: u16,
    /// The external port granted.
    pub mappedpublicport: u16,
    /// The lifetime granted, in seconds.
    pub lifetime: u32,
}

/// `natpmpresp_t.pnu`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union natpmpresp_pnu {
    /// For [`NATPMP_RESPTYPE_PUBLICADDRESS`].
    pub publicaddress: publicaddress_t,
    /// For the two mapping types.
    pub newportmapping: newportmapping_t,
}

/// A decoded answer (C layout of libnatpmp's `natpmpresp_t`, 16 bytes).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct natpmpresp_t {
    /// `NATPMP_RESPTYPE_*`.
    pub type_: u16,
    /// The NAT-PMP result code.
    pub resultcode: u16,
    /// Seconds since the start of the gateway's epoch.
    pub epoch: u32,
    /// The answer's fields.
    pub pnu: natpmpresp_pnu,
}

/// Runs `f`, turning a panic into `on_panic`: no unwinding crosses into C.
fn guard<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(on_panic)
}

fn errno() -> c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn now() -> Option<libc::timeval> {
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    // SAFETY: `tv` is a valid, writable timeval; a NULL timezone is allowed.
    let r = unsafe { libc::gettimeofday(&mut tv, std::ptr::null_mut()) };
    (r == 0).then_some(tv)
}

/// `tv` plus `ms` milliseconds, normalised.
fn add_ms(tv: libc::timeval, ms: i64) -> libc::timeval {
    let total_us = tv.tv_usec.saturating_add(ms.saturating_mul(1000));
    libc::timeval {
        tv_sec: tv.tv_sec.saturating_add(total_us.div_euclid(1_000_000)),
        tv_usec: total_us.rem_euclid(1_000_000),
    }
}

fn before(a: &libc::timeval, b: &libc::timeval) -> bool {
    (a.tv_sec, a.tv_usec) < (b.tv_sec, b.tv_usec)
}

/// The default IPv4 gateway (from the kernel's routing table), network byte order, in
/// `*addr`. Returns 0, or -1 when there is none or `addr` is NULL.
///
/// # Safety
/// `addr` is NULL or points to a writable `in_addr_t`.
#[no_mangle]
pub unsafe extern "C" fn getdefaultgateway(addr: *mut in_addr_t) -> c_int {
    guard(-1, || {
        if addr.is_null() {
            return -1;
        }
        match portgate_client::route::gateway_v4(None) {
            Ok((gw, _)) => {
                // SAFETY: non-NULL and writable per the contract above.
                unsafe { addr.write_unaligned(u32::from_ne_bytes(gw.octets())) };
                0
            }
            Err(_) => -1,
        }
    })
}

/// Opens the client: a non-blocking UDP socket connected to port 5351 of the gateway
/// (`forcedgw`, network byte order, when `forcegw` is non-zero, else the default
/// gateway). Returns 0 or a `NATPMP_ERR_*` code; on failure the socket is closed and
/// `p->s` is -1.
///
/// # Safety
/// `p` is NULL or points to writable memory of `sizeof(natpmp_t)` bytes.
#[no_mangle]
pub unsafe extern "C" fn initnatpmp(
    p: *mut natpmp_t,
    forcegw: c_int,
    forcedgw: in_addr_t,
) -> c_int {
    guard(NATPMP_ERR_UNDEFINEDERROR, || {
        if p.is_null() {
            return NATPMP_ERR_INVALIDARGS;
        }
        // SAFETY: `p` points to a writable natpmp_t (contract); all-zero bytes are a
        // valid natpmp_t (integers, a byte array and a timeval).
        let p = unsafe {
            std::ptr::write_bytes(p, 0, 1);
            &mut *p
        };
        // SAFETY: plain socket(2) call with constant arguments.
        p.s = unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if p.s < 0 {
            return NATPMP_ERR_SOCKETERROR;
        }
        let fail = |p: &mut natpmp_t, code: c_int| {
            // SAFETY: `p.s` is the socket this call opened and nobody else holds.
            unsafe { libc::close(p.s) };
            p.s = -1;
            code
        };
        if forcegw != 0 {
            p.gateway = forcedgw;
        } else {
            // SAFETY: `&mut p.gateway` is a valid writable in_addr_t.
            if unsafe { getdefaultgateway(&mut p.gateway) } < 0 {
                return fail(p, NATPMP_ERR_CANNOTGETGATEWAY);
            }
        }
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: NATPMP_PORT.to_be(),
            sin_addr: libc::in_addr { s_addr: p.gateway },
            sin_zero: [0; 8],
        };
        // SAFETY: `addr` is a valid sockaddr_in and the length passed is its size.
        let r = unsafe {
            libc::connect(
                p.s,
                (&addr as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return fail(p, NATPMP_ERR_CONNECTERR);
        }
        0
    })
}

/// Closes the socket. Returns 0, [`NATPMP_ERR_INVALIDARGS`] or [`NATPMP_ERR_CLOSEERR`].
///
/// # Safety
/// `p` is NULL or points to a `natpmp_t` set up by [`initnatpmp`].
#[no_mangle]
pub unsafe extern "C" fn closenatpmp(p: *mut natpmp_t) -> c_int {
    guard(NATPMP_ERR_UNDEFINEDERROR, || {
        // SAFETY: NULL or a valid natpmp_t per the contract.
        let Some(p) = (unsafe { p.as_mut() }) else {
            return NATPMP_ERR_INVALIDARGS;
        };
        // SAFETY: closing the caller's descriptor is what this function is for.
        if unsafe { libc::close(p.s) } < 0 {
            return NATPMP_ERR_CLOSEERR;
        }
        0
    })
}

/// Sends the pending request once. Returns the bytes sent or [`NATPMP_ERR_SENDERR`].
///
/// # Safety
/// `p` is NULL or points to a `natpmp_t` set up by [`initnatpmp`].
#[no_mangle]
pub unsafe extern "C" fn sendpendingrequest(p: *mut natpmp_t) -> c_int {
    guard(NATPMP_ERR_UNDEFINEDERROR, || {
        // SAFETY: NULL or a valid natpmp_t per the contract.
        let Some(p) = (unsafe { p.as_mut() }) else {
            return NATPMP_ERR_INVALIDARGS;
        };
        send_pending(p)
    })
}

fn send_pending(p: &natpmp_t) -> c_int {
    let len = usize::try_from(p.pending_request_len)
        .unwrap_or(0)
        .min(p.pending_request.len());
    // SAFETY: the buffer is `p.pending_request`, valid for `len` bytes.
    let r = unsafe { libc::send(p.s, p.pending_request.as_ptr().cast(), len, 0) };
    if r < 0 {
        NATPMP_ERR_SENDERR
    } else {
        c_int::try_from(r).unwrap_or(NATPMP_ERR_SENDERR)
    }
}

/// Marks the request in `p->pending_request` pending, sends it (first try) and sets the
/// first retransmission 250 ms later (RFC 6886 §3.1). Returns the bytes sent or an error.
///
/// # Safety
/// `p` is NULL or points to a `natpmp_t` set up by [`initnatpmp`].
#[no_mangle]
pub unsafe extern "C" fn sendnatpmprequest(p: *mut natpmp_t) -> c_int {
    guard(NATPMP_ERR_UNDEFINEDERROR, || {
        // SAFETY: NULL or a valid natpmp_t per the contract.
        let Some(p) = (unsafe { p.as_mut() }) else {
            return NATPMP_ERR_INVALIDARGS;
        };
        start_request(p)
    })
}

fn start_request(p: &mut natpmp_t) -> c_int {
    p.has_pending_request = 1;
    p.try_number = 1;
    let n = send_pending(p);
    match now() {
        Some(t) => p.retry_time = add_ms(t, INITIAL_RETRY_MS),
        None => return NATPMP_ERR_GETTIMEOFDAYERR,
    }
    n
}

/// Asks for the gateway's external address (RFC 6886 §3.2). Returns 2 (bytes sent) or
/// an error.
///
/// # Safety
/// `p` is NULL or points to a `natpmp_t` set up by [`initnatpmp`].
#[no_mangle]
pub unsafe extern "C" fn sendpublicaddressrequest(p: *mut natpmp_t) -> c_int {
    guard(NATPMP_ERR_UNDEFINEDERROR, || {
        // SAFETY: NULL or a valid natpmp_t per the contract.
        let Some(p) = (unsafe { p.as_mut() }) else {
            return NATPMP_ERR_INVALIDARGS;
        };
        p.pending_request = [0; 12];
        p.pending_request_len = 2;
        start_request(p)
    })
}

/// Asks for a mapping (RFC 6886 §3.3): `protocol` is [`NATPMP_PROTOCOL_UDP`] or
/// [`NATPMP_PROTOCOL_TCP`]; lifetime 0 deletes. Returns 12 (bytes sent) or an error.
///
/// # Safety
/// `p` is NULL or points to a `natpmp_t` set up by [`initnatpmp`].
#[no_mangle]
pub unsafe extern "C" fn sendnewportmappingrequest(
    p: *mut natpmp_t,
    protocol: c_int,
    privateport: u16,
    publicport: u16,
    lifetime: u32,
) -> c_int {
    guard(NATPMP_ERR_UNDEFINEDERROR, || {
        // SAFETY: NULL or a valid natpmp_t per the contract.
        let Some(p) = (unsafe { p.as_mut() }) else {
            return NATPMP_ERR_INVALIDARGS;
        };
        let op = match protocol {
            NATPMP_PROTOCOL_UDP => 1u8,
            NATPMP_PROTOCOL_TCP => 2u8,
            _ => return NATPMP_ERR_INVALIDARGS,
        };
        let mut req = [0u8; 12];
        req[1] = op;
        req[4..6].copy_from_slice(&privateport.to_be_bytes());
        req[6..8].copy_from_slice(&publicport.to_be_bytes());
        req[8..12].copy_from_slice(&lifetime.to_be_bytes());
        p.pending_request = req;
        p.pending_request_len = 12;
        start_request(p)
    })
}

/// How long until the pending request is sent again, in `*timeout` (negative when
/// overdue). Returns 0 or an error.
///
/// # Safety
/// `p` and `timeout` are NULL or valid (`timeout` writable).
#[no_mangle]
pub unsafe extern "C" fn getnatpmprequesttimeout(
    p: *mut natpmp_t,
    timeout: *mut libc::timeval,
) -> c_int {
    guard(NATPMP_ERR_UNDEFINEDERROR, || {
        // SAFETY: NULL or valid per the contract.
        let (Some(p), Some(timeout)) = (unsafe { p.as_ref() }, unsafe { timeout.as_mut() }) else {
            return NATPMP_ERR_INVALIDARGS;
        };
        if p.has_pending_request == 0 {
            return NATPMP_ERR_NOPENDINGREQ;
        }
        let Some(now) = now() else {
            return NATPMP_ERR_GETTIMEOFDAYERR;
        };
        let mut sec = p.retry_time.tv_sec - now.tv_sec;
        let mut usec = p.retry_time.tv_usec - now.tv_usec;
        if usec < 0 {
            usec += 1_000_000;
            sec -= 1;
        }
        timeout.tv_sec = sec;
        timeout.tv_usec = usec;
        0
    })
}

/// The `NATPMP_ERR_*` code of a non-success result code (RFC 6886 §3.5).
fn result_error(code: ResultCode) -> c_int {
    match code {
        ResultCode::Success => 0,
        ResultCode::UnsupportedVersion => NATPMP_ERR_UNSUPPORTEDVERSION,
        ResultCode::NotAuthorized => NATPMP_ERR_NOTAUTHORIZED,
        ResultCode::NetworkFailure => NATPMP_ERR_NETWORKFAILURE,
        ResultCode::OutOfResources => NATPMP_ERR_OUTOFRESOURCES,
        ResultCode::UnsupportedOpcode => NATPMP_ERR_UNSUPPORTEDOPCODE,
        ResultCode::Unknown(_) => NATPMP_ERR_UNDEFINEDERROR,
    }
}

/// Decodes one datagram from the gateway into `out`: 0, a `NATPMP_ERR_*` code for an
/// error answer, or [`NATPMP_TRYAGAIN`] for a datagram too short to be an answer (it is
/// dropped; the request stays pending).
fn decode(buf: &[u8], out: &mut natpmpresp_t) -> c_int {
    if buf.first().is_some_and(|&v| v != 0) {
        return NATPMP_ERR_UNSUPPORTEDVERSION;
    }
    if buf.get(1).is_some_and(|&op| !(128..=130).contains(&op)) {
        return NATPMP_ERR_UNSUPPORTEDOPCODE;
    }
    let Ok(resp) = Response::parse(buf) else {
        return NATPMP_TRYAGAIN;
    };
    out.resultcode = u16::from(resp.result());
    out.epoch = resp.epoch();
    if !resp.result().is_success() {
        return result_error(resp.result());
    }
    match resp {
        Response::ExternalAddress { address, .. } => {
            out.type_ = NATPMP_RESPTYPE_PUBLICADDRESS;
            out.pnu.publicaddress = publicaddress_t {
                addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(address.octets()),
                },
            };
            0
        }
        Response::Map {
            protocol,
            internal_port,
            external_port,
            lifetime,
            ..
        } => {
            out.type_ = u16::from(protocol.opcode());
            out.pnu.newportmapping = newportmapping_t {
                privateport: internal_port,
                mappedpublicport: external_port,
                lifetime,
            };
            0
        }
        Response::Error { .. } => NATPMP_ERR_UNSUPPORTEDOPCODE,
    }
}

/// Reads one answer without retransmitting: 0 with `*response` filled,
/// [`NATPMP_TRYAGAIN`] when nothing has arrived, or an error.
///
/// # Safety
/// `p` is NULL or a `natpmp_t` set up by [`initnatpmp`]; `response` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn readnatpmpresponse(
    p: *mut natpmp_t,
    response: *mut natpmpresp_t,
) -> c_int {
    guard(NATPMP_ERR_UNDEFINEDERROR, || {
        // SAFETY: NULL or valid per the contract.
        let (Some(p), Some(response)) = (unsafe { p.as_ref() }, unsafe { response.as_mut() })
        else {
            return NATPMP_ERR_INVALIDARGS;
        };
        read_response(p, response)
    })
}

fn read_response(p: &natpmp_t, response: &mut natpmpresp_t) -> c_int {
    let mut buf = [0u8; 16];
    // SAFETY: all-zero bytes are a valid sockaddr_in.
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut addrlen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `buf` is writable for its length; `addr`/`addrlen` describe a writable
    // sockaddr_in.
    let n = unsafe {
        libc::recvfrom(
            p.s,
            buf.as_mut_ptr().cast(),
            buf.len(),
            0,
            (&mut addr as *mut libc::sockaddr_in).cast(),
            &mut addrlen,
        )
    };
    let Ok(n) = usize::try_from(n) else {
        return match errno() {
            libc::EAGAIN | libc::EINTR => NATPMP_TRYAGAIN,
            libc::ECONNREFUSED => NATPMP_ERR_NOGATEWAYSUPPORT,
            _ => NATPMP_ERR_RECVFROM,
        };
    };
    if addr.sin_addr.s_addr != p.gateway {
        return NATPMP_ERR_WRONGPACKETSOURCE;
    }
    decode(buf.get(..n).unwrap_or(&buf), response)
}

/// Reads an answer to the pending request; when none has arrived and the retransmission
/// time has passed, sends the request again (250 ms after the first try, then doubling:
/// RFC 6886 §3.1) and returns [`NATPMP_TRYAGAIN`]. After 9 unanswered tries it gives up
/// with [`NATPMP_ERR_NOGATEWAYSUPPORT`]. Returns 0 with `*response` filled on success.
///
/// # Safety
/// `p` is NULL or a `natpmp_t` set up by [`initnatpmp`]; `response` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn readnatpmpresponseorretry(
    p: *mut natpmp_t,
    response: *mut natpmpresp_t,
) -> c_int {
    guard(NATPMP_ERR_UNDEFINEDERROR, || {
        // SAFETY: NULL or valid per the contract.
        let (Some(p), Some(response)) = (unsafe { p.as_mut() }, unsafe { response.as_mut() })
        else {
            return NATPMP_ERR_INVALIDARGS;
        };
        if p.has_pending_request == 0 {
            return NATPMP_ERR_NOPENDINGREQ;
        }
        let n = read_response(p, response);
        if n >= 0 {
            p.has_pending_request = 0;
            return n;
        }
        if n != NATPMP_TRYAGAIN {
            // An error answer or a socket error: the request stays pending, as in libnatpmp.
            return n;
        }
        let Some(now) = now() else {
            return NATPMP_ERR_GETTIMEOFDAYERR;
        };
        if before(&now, &p.retry_time) {
            return NATPMP_TRYAGAIN;
        }
        if p.try_number >= MAX_TRIES {
            return NATPMP_ERR_NOGATEWAYSUPPORT;
        }
        let delay = INITIAL_RETRY_MS << p.try_number.clamp(0, MAX_TRIES);
        p.retry_time = add_ms(p.retry_time, delay);
        p.try_number += 1;
        let r = send_pending(p);
        if r < 0 {
            return r;
        }
        NATPMP_TRYAGAIN
    })
}

const UNKNOWN_ERROR: &std::ffi::CStr = c"Unknown libnatpmp error";

/// A static, NUL-terminated English description of a `NATPMP_ERR_*` code.
#[no_mangle]
pub extern "C" fn strnatpmperr(r: c_int) -> *const c_char {
    guard(UNKNOWN_ERROR.as_ptr(), || error_text(r).as_ptr())
}

fn error_text(r: c_int) -> &'static std::ffi::CStr {
    match r {
        NATPMP_ERR_INVALIDARGS => c"invalid arguments",
        NATPMP_ERR_SOCKETERROR => c"socket() failed",
        NATPMP_ERR_CANNOTGETGATEWAY => c"cannot get default gateway ip address",
        NATPMP_ERR_CLOSEERR => c"close() failed",
        NATPMP_ERR_RECVFROM => c"recvfrom() failed",
        NATPMP_ERR_NOPENDINGREQ => c"no pending request",
        NATPMP_ERR_NOGATEWAYSUPPORT => c"the gateway does not support nat-pmp",
        NATPMP_ERR_CONNECTERR => c"connect() failed",
        NATPMP_ERR_WRONGPACKETSOURCE => c"packet not received from the default gateway",
        NATPMP_ERR_SENDERR => c"send() failed",
        NATPMP_ERR_FCNTLERROR => c"fcntl() failed",
        NATPMP_ERR_GETTIMEOFDAYERR => c"gettimeofday() failed",
        NATPMP_ERR_UNSUPPORTEDVERSION => c"unsupported nat-pmp version error from server",
        NATPMP_ERR_UNSUPPORTEDOPCODE => c"unsupported nat-pmp opcode error from server",
        NATPMP_ERR_UNDEFINEDERROR => c"undefined nat-pmp server error",
        NATPMP_ERR_NOTAUTHORIZED => c"not authorized",
        NATPMP_ERR_NETWORKFAILURE => c"network failure",
        NATPMP_ERR_OUTOFRESOURCES => c"nat-pmp server out of resources",
        _ => UNKNOWN_ERROR,
    }
}

#[cfg(test)]
mod tests;
