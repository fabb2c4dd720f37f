use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::IntoRawFd;
use std::time::Duration;

use super::*;

fn empty_resp() -> natpmpresp_t {
    natpmpresp_t {
        type_: 0xffff,
        resultcode: 0xffff,
        epoch: 0,
        pnu: natpmpresp_pnu {
            newportmapping: newportmapping_t {
                privateport: 0,
                mappedpublicport: 0,
                lifetime: 0,
            },
        },
    }
}

#[test]
fn layouts_are_libnatpmps() {
    assert_eq!(std::mem::size_of::<natpmp_t>(), 48);
    assert_eq!(std::mem::offset_of!(natpmp_t, gateway), 4);
    assert_eq!(std::mem::offset_of!(natpmp_t, pending_request), 12);
    assert_eq!(std::mem::offset_of!(natpmp_t, pending_request_len), 24);
    assert_eq!(std::mem::offset_of!(natpmp_t, try_number), 28);
    assert_eq!(std::mem::offset_of!(natpmp_t, retry_time), 32);
    assert_eq!(std::mem::size_of::<natpmpresp_t>(), 16);
    assert_eq!(std::mem::offset_of!(natpmpresp_t, resultcode), 2);
    assert_eq!(std::mem::offset_of!(natpmpresp_t, epoch), 4);
    assert_eq!(std::mem::offset_of!(natpmpresp_t, pnu), 8);
}

#[test]
fn decodes_answers_and_error_codes() {
    let mut r = empty_resp();
    let ext = [0, 128, 0, 0, 0, 0, 0, 9, 192, 0, 1, 1];
    assert_eq!(decode(&ext, &mut r), 0);
    assert_eq!(r.type_, NATPMP_RESPTYPE_PUBLICADDRESS);
    assert_eq!(r.epoch, 9);
    // SAFETY: the external-address variant was just written.
    let addr = unsafe { r.pnu.publicaddress.addr.s_addr };
    assert_eq!(addr.to_ne_bytes(), [192, 0, 1, 1]);

    let map = [
        0, 130, 0, 0, 0, 0, 0, 1, 0x1f, 0x90, 0x1f, 0x91, 0, 0, 0x0e, 0x10,
    ];
    assert_eq!(decode(&map, &mut r), 0);
    assert_eq!(r.type_, NATPMP_RESPTYPE_TCPPORTMAPPING);
    // SAFETY: the mapping variant was just written.
    let m = unsafe { r.pnu.newportmapping };
    assert_eq!(
        (m.privateport, m.mappedpublicport, m.lifetime),
        (8080, 8081, 3600)
    );

    for (code, want) in [
        (1u8, NATPMP_ERR_UNSUPPORTEDVERSION),
        (2, NATPMP_ERR_NOTAUTHORIZED),
        (3, NATPMP_ERR_NETWORKFAILURE),
        (4, NATPMP_ERR_OUTOFRESOURCES),
        (5, NATPMP_ERR_UNSUPPORTEDOPCODE),
        (77, NATPMP_ERR_UNDEFINEDERROR),
    ] {
        let e = [0, 129, 0, code, 0, 0, 0, 1];
        assert_eq!(decode(&e, &mut r), want, "result {code}");
        assert_eq!(r.resultcode, u16::from(code));
    }
    assert_eq!(
        decode(&[1, 128, 0, 0], &mut r),
        NATPMP_ERR_UNSUPPORTEDVERSION
    );
    assert_eq!(decode(&[0, 2, 0, 0], &mut r), NATPMP_ERR_UNSUPPORTEDOPCODE);
    // A truncated success answer is dropped, never read past its end.
    assert_eq!(decode(&[0, 130, 0, 0, 0, 0], &mut r), NATPMP_TRYAGAIN);
    assert_eq!(decode(&ext[..11], &mut r), NATPMP_TRYAGAIN);
    assert_eq!(decode(&[], &mut r), NATPMP_TRYAGAIN);
}

#[test]
fn null_arguments_are_refused() {
    // SAFETY: NULL is allowed by every function's contract.
    unsafe {
        assert_eq!(
            initnatpmp(std::ptr::null_mut(), 0, 0),
            NATPMP_ERR_INVALIDARGS
        );
        assert_eq!(closenatpmp(std::ptr::null_mut()), NATPMP_ERR_INVALIDARGS);
        assert_eq!(
            sendpublicaddressrequest(std::ptr::null_mut()),
            NATPMP_ERR_INVALIDARGS
        );
        assert_eq!(
            readnatpmpresponseorretry(std::ptr::null_mut(), std::ptr::null_mut()),
            NATPMP_ERR_INVALIDARGS
        );
        assert_eq!(getdefaultgateway(std::ptr::null_mut()), -1);
    }
}

#[test]
fn error_strings_are_static_and_known() {
    let text = |r| {
        // SAFETY: strnatpmperr returns a pointer to a static NUL-terminated string.
        unsafe { std::ffi::CStr::from_ptr(strnatpmperr(r)) }
            .to_str()
            .map(str::to_owned)
    };
    assert_eq!(
        text(NATPMP_ERR_NOGATEWAYSUPPORT).ok().as_deref(),
        Some("the gateway does not support nat-pmp")
    );
    assert_eq!(text(12345).ok().as_deref(), Some("Unknown libnatpmp error"));
}

/// A natpmp_t whose socket is connected to a local UDP "gateway" (not port 5351).
fn local_pair() -> (natpmp_t, UdpSocket) {
    let server = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let client = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    client.connect(server.local_addr().unwrap()).unwrap();
    client.set_nonblocking(true).unwrap();
    // SAFETY: all-zero bytes are a valid natpmp_t.
    let mut p: natpmp_t = unsafe { std::mem::zeroed() };
    p.s = client.into_raw_fd();
    p.gateway = u32::from_ne_bytes(Ipv4Addr::LOCALHOST.octets());
    (p, server)
}

#[test]
fn retransmits_on_the_rfc_6886_schedule_then_gives_up() {
    let (mut p, server) = local_pair();
    let mut r = empty_resp();
    // SAFETY: `p` is a valid natpmp_t with an open socket; `r` is writable.
    unsafe {
        assert_eq!(
            sendnewportmappingrequest(&mut p, 3, 1, 1, 1),
            NATPMP_ERR_INVALIDARGS
        );
        assert_eq!(
            sendnewportmappingrequest(&mut p, NATPMP_PROTOCOL_TCP, 8080, 8080, 3600),
            12
        );
        let mut buf = [0u8; 32];
        let (n, _) = server.recv_from(&mut buf).unwrap();
        assert_eq!(
            &buf[..n],
            &[0, 2, 0, 0, 0x1f, 0x90, 0x1f, 0x90, 0, 0, 0x0e, 0x10]
        );
        let mut tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        };
        assert_eq!(getnatpmprequesttimeout(&mut p, &mut tv), 0);
        assert!(
            tv.tv_sec == 0 && tv.tv_usec <= 250_000,
            "{}.{}",
            tv.tv_sec,
            tv.tv_usec
        );
        // Not yet due: nothing is sent.
        assert_eq!(readnatpmpresponseorretry(&mut p, &mut r), NATPMP_TRYAGAIN);
        assert_eq!(p.try_number, 1);
        // Due: sent again, next try 2 * 250 ms after the previous deadline.
        let mut expect_ms = 0i64;
        for try_number in 1..MAX_TRIES {
            p.retry_time = add_ms(now().unwrap(), -1);
            let due = p.retry_time;
            assert_eq!(readnatpmpresponseorretry(&mut p, &mut r), NATPMP_TRYAGAIN);
            assert_eq!(p.try_number, try_number + 1);
            let step = (p.retry_time.tv_sec - due.tv_sec) * 1000
                + (p.retry_time.tv_usec - due.tv_usec) / 1000;
            assert_eq!(step, 250 << try_number);
            expect_ms += step;
            let (n, _) = server.recv_from(&mut buf).unwrap();
            assert_eq!(n, 12);
        }
        assert_eq!(expect_ms, 250 * (2 + 4 + 8 + 16 + 32 + 64 + 128 + 256));
        p.retry_time = add_ms(now().unwrap(), -1);
        assert_eq!(
            readnatpmpresponseorretry(&mut p, &mut r),
            NATPMP_ERR_NOGATEWAYSUPPORT
        );
        assert_eq!(closenatpmp(&mut p), 0);
    }
}

#[test]
fn an_answer_ends_the_pending_request() {
    let (mut p, server) = local_pair();
    let mut r = empty_resp();
    // SAFETY: `p` is a valid natpmp_t with an open socket; `r` is writable.
    unsafe {
        assert_eq!(sendpublicaddressrequest(&mut p), 2);
        let mut buf = [0u8; 32];
        let (n, from) = server.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], &[0, 0]);
        server
            .send_to(&[0, 128, 0, 0, 0, 0, 0, 5, 192, 0, 1, 7], from)
            .unwrap();
        let mut got = NATPMP_TRYAGAIN;
        for _ in 0..200 {
            got = readnatpmpresponseorretry(&mut p, &mut r);
            if got != NATPMP_TRYAGAIN {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(got, 0);
        assert_eq!(
            r.pnu.publicaddress.addr.s_addr.to_ne_bytes(),
            [192, 0, 1, 7]
        );
        assert_eq!(p.has_pending_request, 0);
        assert_eq!(
            readnatpmpresponseorretry(&mut p, &mut r),
            NATPMP_ERR_NOPENDINGREQ
        );
        assert_eq!(closenatpmp(&mut p), 0);
    }
}

#[test]
fn a_panic_becomes_the_error_value() {
    let r = guard(NATPMP_ERR_UNDEFINEDERROR, || -> c_int { panic!("boom") });
    assert_eq!(r, NATPMP_ERR_UNDEFINEDERROR);
}
