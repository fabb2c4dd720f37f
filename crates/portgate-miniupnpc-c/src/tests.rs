//! Hostile and malformed gateway answers, from a fake gateway on loopback: no crash, no
//! write past a caller's buffer, the documented code.

use std::ffi::{c_char, c_int, CStr, CString};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::commands::*;
use crate::igd::*;
use crate::types::*;
use crate::xml::*;

const DESC: &str = r#"<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><device>
<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1</serviceType>
<controlURL>/ctl/CmnIfCfg</controlURL><SCPDURL>/WANCfg.xml</SCPDURL></service></serviceList>
<deviceList><device><deviceList><device><serviceList><service>
<serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>
<controlURL>/ctl/IPConn</controlURL><eventSubURL>/evt/IPConn</eventSubURL><SCPDURL>/WANIPCn.xml</SCPDURL>
</service></serviceList></device></deviceList></device></deviceList>
<presentationURL>http://10.0.0.1/</presentationURL></device></root>"#;

fn text<const N: usize>(a: &[c_char; N]) -> String {
    String::from_utf8_lossy(&crate::array_bytes(a)).into_owned()
}

fn zeroed_data() -> IGDdatas {
    // SAFETY: all-zero bytes are a valid IGDdatas.
    unsafe { std::mem::zeroed() }
}

#[test]
fn a_description_is_read_as_miniupnpc_reads_it() {
    let mut d = zeroed_data();
    parse_root_desc(DESC.as_bytes(), &mut d);
    assert_eq!(
        text(&d.first.servicetype),
        "urn:schemas-upnp-org:service:WANIPConnection:1"
    );
    assert_eq!(text(&d.first.controlurl), "/ctl/IPConn");
    assert_eq!(text(&d.first.eventsuburl), "/evt/IPConn");
    assert_eq!(text(&d.CIF.controlurl), "/ctl/CmnIfCfg");
    assert_eq!(text(&d.presentationurl), "http://10.0.0.1/");
    assert_eq!(d.level, 0);
    assert_eq!(
        absolute_url(b"", b"http://10.0.0.1:5000/rootDesc.xml", b"/ctl/IPConn", 0),
        b"http://10.0.0.1:5000/ctl/IPConn"
    );
    assert_eq!(
        absolute_url(b"http://10.0.0.2:80", b"x", b"ctl", 0),
        b"http://10.0.0.2:80/ctl"
    );
}

#[test]
fn every_truncation_of_a_description_is_read_without_fault() {
    let doc = DESC.as_bytes();
    for n in 0..=doc.len() {
        let mut d = zeroed_data();
        parse_root_desc(&doc[..n], &mut d);
        for f in [
            &d.first.controlurl,
            &d.first.servicetype,
            &d.CIF.controlurl,
            &d.urlbase,
        ] {
            assert!(f.contains(&0), "unterminated field at length {n}");
        }
    }
}

#[test]
fn fields_longer_than_128_bytes_are_cut_to_127() {
    let long = "x".repeat(100_000);
    let doc = DESC
        .replace("/ctl/IPConn", &format!("/{long}"))
        .replace("WANIPConnection:1", &format!("WANIPConnection:1{long}"));
    assert!(doc.len() > 200_000);
    let mut d = zeroed_data();
    parse_root_desc(doc.as_bytes(), &mut d);
    assert_eq!(text(&d.first.controlurl).len(), 127);
    assert!(
        text(&d.first.servicetype).starts_with("urn:schemas-upnp-org:service:WANIPConnection:1x")
    );
    assert_eq!(text(&d.first.servicetype).len(), 127);
}

#[test]
fn soap_values_are_cut_to_127_bytes_and_faults_give_their_code() {
    let v = "9".repeat(5000);
    let nv = NameValues::parse(
        format!("<r><NewExternalIPAddress>{v}</NewExternalIPAddress></r>").as_bytes(),
    );
    assert_eq!(nv.get("NewExternalIPAddress").map(<[u8]>::len), Some(127));
    let fault = NameValues::parse(
        b"<s:Fault><detail><UPnPError><errorCode>718</errorCode></UPnPError></detail></s:Fault>",
    );
    assert_eq!(fault.error_code(), Some(718));
    let bad = NameValues::parse(b"<x><errorCode>abc</errorCode></x>");
    assert_eq!(bad.error_code(), Some(UPNPCOMMAND_UNKNOWN_ERROR));
    let listing = Listing::parse(b"<e><PortMappingEntry><NewExternalPort>http</NewExternalPort><NewProtocol>TCPTCP</NewProtocol></PortMappingEntry></e>");
    assert_eq!(listing.len(), 1);
    assert_eq!(listing[0].external_port, 0);
    assert_eq!(listing[0].protocol, b"TCP");
    // Truncated documents.
    for doc in [
        &b"<a><![CDATA[xx"[..],
        b"<a b='",
        b"<!-- x",
        b"<",
        b"</",
        b"<a>text",
    ] {
        let _ = NameValues::parse(doc);
        let _ = Listing::parse(doc);
    }
}

/// A fake gateway on loopback: answers every connection with `answer`, counting them.
struct Fake {
    url: String,
    connections: Arc<AtomicUsize>,
}

fn fake(answer: Vec<u8>) -> Fake {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/ctl", l.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let c = connections.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            c.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 8192];
            let _ = s.set_read_timeout(Some(std::time::Duration::from_millis(300)));
            let _ = s.read(&mut buf);
            let _ = s.write_all(&answer);
        }
    });
    Fake { url, connections }
}

fn http_ok(body: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
        .into_bytes()
}

const ST: &CStr = c"urn:schemas-upnp-org:service:WANIPConnection:1";

#[test]
fn fixed_size_outputs_are_never_overrun() {
    let long = "1".repeat(300);
    let body = format!(
        "<s:Envelope><s:Body><u:R><NewExternalIPAddress>{long}</NewExternalIPAddress>\
         <NewInternalClient>{long}</NewInternalClient><NewInternalPort>{long}</NewInternalPort>\
         <NewPortMappingDescription>{long}</NewPortMappingDescription><NewEnabled>{long}</NewEnabled>\
         <NewLeaseDuration>{long}</NewLeaseDuration><NewConnectionStatus>{long}</NewConnectionStatus>\
         <NewUptime>{long}</NewUptime><NewReservedPort>{long}</NewReservedPort></u:R></s:Body></s:Envelope>"
    );
    let f = fake(http_ok(&body));
    let url = CString::new(f.url.clone()).unwrap();
    // Each buffer sits inside a larger one filled with a canary.
    let check = |size: usize, call: &dyn Fn(*mut c_char) -> c_int| {
        let mut buf = vec![0x5au8 as c_char; size + 64];
        let r = call(buf.as_mut_ptr());
        assert_eq!(r, 0);
        assert!(
            buf[size..].iter().all(|&b| b == 0x5a),
            "wrote past {size} bytes"
        );
        assert_eq!(buf[size - 1], 0, "not terminated at {size}");
    };
    // SAFETY: valid C strings and buffers of the documented sizes.
    unsafe {
        check(16, &|b| {
            UPNP_GetExternalIPAddress(url.as_ptr(), ST.as_ptr(), b)
        });
        check(64, &|b| {
            let mut up = 0;
            UPNP_GetStatusInfo(url.as_ptr(), ST.as_ptr(), b, &mut up, std::ptr::null_mut())
        });
        check(6, &|b| {
            UPNP_AddAnyPortMapping(
                url.as_ptr(),
                ST.as_ptr(),
                c"1".as_ptr(),
                c"1".as_ptr(),
                c"10.0.0.2".as_ptr(),
                std::ptr::null(),
                c"TCP".as_ptr(),
                std::ptr::null(),
                std::ptr::null(),
                b,
            )
        });
        let mut client = [0x5a as c_char; 16 + 64];
        let mut port = [0x5a as c_char; 6 + 64];
        let mut desc = [0x5a as c_char; 80 + 64];
        let mut en = [0x5a as c_char; 4 + 64];
        let mut lease = [0x5a as c_char; 16 + 64];
        let r = UPNP_GetSpecificPortMappingEntry(
            url.as_ptr(),
            ST.as_ptr(),
            c"1".as_ptr(),
            c"TCP".as_ptr(),
            std::ptr::null(),
            client.as_mut_ptr(),
            port.as_mut_ptr(),
            desc.as_mut_ptr(),
            en.as_mut_ptr(),
            lease.as_mut_ptr(),
        );
        assert_eq!(r, 0);
        for (b, n) in [
            (&client[..], 16),
            (&port[..], 6),
            (&desc[..], 80),
            (&en[..], 4),
            (&lease[..], 16),
        ] {
            assert!(b[n..].iter().all(|&c| c == 0x5a), "wrote past {n}");
            assert_eq!(b[n - 1], 0);
        }
    }
}

#[test]
fn null_outputs_are_refused_without_sending() {
    let f = fake(http_ok("<r/>"));
    let url = CString::new(f.url.clone()).unwrap();
    // SAFETY: valid C strings; NULL outputs are allowed by the contract.
    let r = unsafe {
        UPNP_GetSpecificPortMappingEntry(
            url.as_ptr(),
            ST.as_ptr(),
            c"1".as_ptr(),
            c"TCP".as_ptr(),
            std::ptr::null(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    assert_eq!(r, UPNPCOMMAND_INVALID_ARGS);
    // SAFETY: as above.
    let r = unsafe { UPNP_GetExternalIPAddress(url.as_ptr(), ST.as_ptr(), std::ptr::null_mut()) };
    assert_eq!(r, UPNPCOMMAND_INVALID_ARGS);
    assert_eq!(
        f.connections.load(Ordering::SeqCst),
        0,
        "a request was sent"
    );
}

#[test]
fn broken_http_answers_give_the_http_error_code() {
    for answer in [
        b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999\r\n\r\n<r>".to_vec(),
        b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n<r>".to_vec(),
        b"garbage\r\n\r\n".to_vec(),
        Vec::new(),
    ] {
        let f = fake(answer);
        let url = CString::new(f.url.clone()).unwrap();
        let mut ip = [0 as c_char; 16];
        // SAFETY: valid C strings and a 16-byte buffer.
        let r = unsafe { UPNP_GetExternalIPAddress(url.as_ptr(), ST.as_ptr(), ip.as_mut_ptr()) };
        assert_eq!(r, UPNPCOMMAND_HTTP_ERROR);
    }
}

#[test]
fn reserved_addresses_are_miniupnpcs() {
    for (a, r) in [
        ("192.0.1.1", false),
        ("8.8.8.8", false),
        ("10.0.0.1", true),
        ("100.64.1.1", true),
        ("198.19.0.1", true),
        ("203.0.113.5", true),
        ("x", true),
    ] {
        assert_eq!(is_reserved(a.as_bytes()), r, "{a}");
    }
}

#[test]
fn free_functions_accept_null_and_zeroed_structs() {
    // SAFETY: NULL and zeroed structs are allowed.
    unsafe {
        crate::discover::freeUPNPDevlist(std::ptr::null_mut());
        FreeUPNPUrls(std::ptr::null_mut());
        let mut u: UPNPUrls = std::mem::zeroed();
        FreeUPNPUrls(&mut u);
        let mut p: PortMappingParserData = std::mem::zeroed();
        FreePortListing(&mut p);
        ClearNameValueList(std::ptr::null_mut());
    }
    assert_eq!(
        // SAFETY: strupnperror returns a static string.
        unsafe { CStr::from_ptr(strupnperror(718)) }.to_str().ok(),
        Some("ConflictInMappingEntry")
    );
}

#[test]
fn zones_are_dropped_from_ipv6_hosts() {
    use crate::net::without_zone;
    assert_eq!(
        without_zone("http://[2001:db8::1%25eth0]:5000/ctl"),
        "http://[2001:db8::1]:5000/ctl"
    );
    assert_eq!(
        without_zone("http://[fe80::1%eth0]/x"),
        "http://[fe80::1]/x"
    );
    assert_eq!(
        without_zone("http://10.0.0.1:80/%41"),
        "http://10.0.0.1:80/%41"
    );
}

#[test]
fn calls_from_several_threads_at_once_each_get_their_answer() {
    let f = fake(http_ok(
        "<r><NewExternalIPAddress>192.0.1.9</NewExternalIPAddress></r>",
    ));
    let url = CString::new(f.url.clone()).unwrap();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..10 {
                    let mut ip = [0 as c_char; 16];
                    // SAFETY: valid C strings and a 16-byte buffer.
                    let r = unsafe {
                        UPNP_GetExternalIPAddress(url.as_ptr(), ST.as_ptr(), ip.as_mut_ptr())
                    };
                    assert_eq!(r, 0);
                    assert_eq!(text(&ip), "192.0.1.9");
                }
            });
        }
    });
    assert_eq!(f.connections.load(Ordering::SeqCst), 80);
}
