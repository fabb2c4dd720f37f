//! The connection state machine and router, fed raw bytes (hand-written requests
//! following RFC 9112; none is a capture).

use super::*;
use portgate_proto::description::IgdConfig;

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 77, 0, 1));

fn feed(bytes: &[u8]) -> Vec<Polled> {
    let mut c = Connection::new();
    c.feed(bytes);
    let mut out = Vec::new();
    loop {
        let p = c.poll();
        let stop = matches!(p, Polled::NeedMore | Polled::Fail(_) | Polled::Closed);
        out.push(p);
        if stop {
            return out;
        }
    }
}

fn first(bytes: &[u8]) -> Polled {
    feed(bytes).into_iter().next().unwrap_or(Polled::NeedMore)
}

fn route_of(raw: &str) -> Route {
    let docs = Documents::new(&IgdConfig::default());
    match first(raw.as_bytes()) {
        Polled::Request(r) => route(&r.head, LOCAL, &docs, false),
        other => panic!("not a request: {other:?}"),
    }
}

#[test]
fn keep_alive_carries_two_requests() {
    let two = b"GET /rootDesc.xml HTTP/1.1\r\nHost: 10.77.0.1:5000\r\n\r\nPOST /ctl/IPConn HTTP/1.1\r\nHost: 10.77.0.1\r\nContent-Length: 4\r\n\r\nbody";
    let got = feed(two);
    assert_eq!(got.len(), 3);
    let Polled::Request(a) = &got[0] else {
        panic!("{got:?}")
    };
    assert!(a.keep_alive && a.body.is_empty());
    let Polled::Request(b) = &got[1] else {
        panic!("{got:?}")
    };
    assert_eq!(b.body, b"body");
    assert_eq!(got[2], Polled::NeedMore);
}

#[test]
fn byte_at_a_time_is_framed() {
    let req = b"POST /ctl/IPConn HTTP/1.1\r\nHost: 10.77.0.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n";
    let mut c = Connection::new();
    let mut got = None;
    for b in req.iter() {
        c.feed(&[*b]);
        if let Polled::Request(r) = c.poll() {
            got = Some(r);
        }
    }
    assert_eq!(got.map(|r| r.body), Some(b"body".to_vec()));
    assert!(c.is_idle());
}

#[test]
fn framing_limits() {
    let big_head = format!(
        "GET / HTTP/1.1\r\nHost: 10.77.0.1\r\nX: {}\r\n\r\n",
        "a".repeat(9000)
    );
    assert_eq!(first(big_head.as_bytes()), Polled::Fail(431));
    let many: String = (0..100).map(|i| format!("X{i}: y\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\nHost: 10.77.0.1\r\n{many}\r\n");
    assert_eq!(first(many.as_bytes()), Polled::Fail(431));
    assert_eq!(
        first(b"POST /ctl/IPConn HTTP/1.1\r\nHost: 10.77.0.1\r\n\r\n"),
        Polled::Fail(411)
    );
    for cl in ["abc", "-1", "1, 2"] {
        let r =
            format!("POST /ctl/IPConn HTTP/1.1\r\nHost: 10.77.0.1\r\nContent-Length: {cl}\r\n\r\n");
        assert_eq!(first(r.as_bytes()), Polled::Fail(400), "{cl}");
    }
    let dup = b"POST /ctl/IPConn HTTP/1.1\r\nHost: 10.77.0.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
    assert_eq!(first(dup), Polled::Fail(400));
    let huge = format!(
        "POST /ctl/IPConn HTTP/1.1\r\nHost: 10.77.0.1\r\nContent-Length: {}\r\n\r\n",
        MAX_REQUEST_BODY + 1
    );
    assert_eq!(first(huge.as_bytes()), Polled::Fail(413));
    let te = b"POST /ctl/IPConn HTTP/1.1\r\nHost: 10.77.0.1\r\nTransfer-Encoding: gzip\r\n\r\n";
    assert_eq!(first(te), Polled::Fail(501));
    let both = b"POST /ctl/IPConn HTTP/1.1\r\nHost: 10.77.0.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n";
    assert_eq!(first(both), Polled::Fail(400));
    let bad_chunk =
        b"POST /ctl/IPConn HTTP/1.1\r\nHost: 10.77.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    assert_eq!(first(bad_chunk), Polled::Fail(400));
    assert_eq!(first(b"\x00\x01garbage\r\n\r\n"), Polled::Fail(400));
}

#[test]
fn truncated_request_at_eof_is_400() {
    let mut c = Connection::new();
    c.feed(b"POST /ctl/IPConn HTTP/1.1\r\nHost: 10.77.0.1\r\nContent-Length: 10\r\n\r\nabc");
    assert_eq!(c.poll(), Polled::NeedMore);
    assert!(!c.is_idle());
    c.feed_eof();
    assert_eq!(c.poll(), Polled::Fail(400));
    let mut idle = Connection::new();
    idle.feed_eof();
    assert_eq!(idle.poll(), Polled::Closed);
}

#[test]
fn routing() {
    assert_eq!(
        route_of("GET /rootDesc.xml HTTP/1.1\r\nHost: 10.77.0.1:5000\r\n\r\n"),
        Route::Document
    );
    assert_eq!(
        route_of("HEAD /WANIPCn.xml HTTP/1.1\r\nHost: 10.77.0.1\r\n\r\n"),
        Route::Document
    );
    assert_eq!(
        route_of("GET /rootDesc.xml?x=1 HTTP/1.0\r\n\r\n"),
        Route::Document
    );
    assert_eq!(
        route_of("POST /ctl/IPConn HTTP/1.1\r\nHost: 10.77.0.1\r\nContent-Length: 0\r\n\r\n"),
        Route::Control(IgdService::WanIpConnection)
    );
    assert_eq!(
        route_of("SUBSCRIBE /evt/IPConn HTTP/1.1\r\nHost: 10.77.0.1\r\n\r\n"),
        Route::Event(IgdService::WanIpConnection)
    );
    assert_eq!(
        route_of("GET /ctl/IPConn HTTP/1.1\r\nHost: 10.77.0.1\r\n\r\n"),
        Route::Error(405)
    );
    assert_eq!(
        route_of("POST /rootDesc.xml HTTP/1.1\r\nHost: 10.77.0.1\r\nContent-Length: 0\r\n\r\n"),
        Route::Error(405)
    );
    assert_eq!(
        route_of("GET /etc/passwd HTTP/1.1\r\nHost: 10.77.0.1\r\n\r\n"),
        Route::Error(404)
    );
    assert_eq!(
        route_of("GET /WANIP6FC.xml HTTP/1.1\r\nHost: 10.77.0.1\r\n\r\n"),
        Route::Error(404)
    );
    assert_eq!(
        route_of("BREW /rootDesc.xml HTTP/1.1\r\nHost: 10.77.0.1\r\n\r\n"),
        Route::Error(501)
    );
    assert_eq!(
        route_of("DELETE /x HTTP/1.1\r\nHost: 10.77.0.1\r\n\r\n"),
        Route::Error(501)
    );
}

#[test]
fn host_must_be_our_address() {
    for host in [
        "evil.example",
        "10.77.0.9:5000",
        "localhost:5000",
        "10.77.0.1:99999",
    ] {
        let r = format!("GET /rootDesc.xml HTTP/1.1\r\nHost: {host}\r\n\r\n");
        assert_eq!(route_of(&r), Route::Error(400), "{host}");
    }
    assert_eq!(
        route_of("GET /rootDesc.xml HTTP/1.1\r\n\r\n"),
        Route::Error(400)
    );
    assert_eq!(
        route_of("GET /rootDesc.xml HTTP/1.1\r\nHost: 10.77.0.1\r\nHost: 10.77.0.1\r\n\r\n"),
        Route::Error(400)
    );
}

#[test]
fn error_responses_are_well_formed() {
    let r = error_response(405, true, "S");
    let h = ResponseHead::parse(&r).expect("head");
    assert_eq!(h.status, 405);
    assert!(h.headers.get("Allow").is_some());
    assert!(!h.keep_alive());
    assert_eq!(h.headers.get("Content-Length"), Some("0"));
    // RFC 9110 §6.6.1: a server with a clock sends Date (an IMF-fixdate).
    let date = h.headers.get("Date").unwrap_or_default();
    assert!(date.len() == 29 && date.ends_with(" GMT"), "{date:?}");
    assert_eq!(h.headers.get("SERVER"), Some("S"));
}

/// GENA is told of a SOAP change once, by the gateway's event (which every front end's
/// changes raise), not also by the HTTP handler: before, one AddPortMapping made GENA
/// evaluate its evented variables twice (failed with 2 evaluations, not 1).
#[test]
fn a_soap_change_reaches_gena_once() {
    use crate::gateway::tests::{gateway, settings, LAN_GW};
    let mut s = settings(None);
    s.limits.secure_mode = false;
    let (gw, _fw) = gateway(s);
    let mut events = gw.subscribe();
    let gw = gw.into_shared();
    let backend = crate::upnp::backend::GatewayBackend::new(gw.clone(), None, 0, 0);
    let ctx = crate::upnp::UpnpContext {
        backend: Rc::new(RefCell::new(backend)),
        lan: gw.borrow().settings().lan.clone(),
        http_port: 5000,
        ssdp_port: 1900,
        igd: IgdConfig::default(),
        notify_interval: 900,
        boot_id: 1,
        list_max_entries: 100,
        http_max_connections: 10,
        gateway_events: Some(gw.borrow().subscribe()),
        minissdpd_socket: std::path::PathBuf::new(),
        ipv6: None,
        before_request: None,
    };
    let shared = Rc::new(crate::upnp::Shared::new(ctx));
    let gena = GenaService::new(shared.clone());
    let server = Server {
        docs: Documents::new(&shared.ctx.igd),
        shared,
        gena: gena.clone(),
        conns: RefCell::new(ConnTable::new(10, 10)),
    };
    let body =
        "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
        s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>\
        <u:AddPortMapping xmlns:u=\"urn:schemas-upnp-org:service:WANIPConnection:1\">\
        <NewRemoteHost></NewRemoteHost><NewExternalPort>9000</NewExternalPort>\
        <NewProtocol>TCP</NewProtocol><NewInternalPort>9000</NewInternalPort>\
        <NewInternalClient>10.77.0.2</NewInternalClient><NewEnabled>1</NewEnabled>\
        <NewPortMappingDescription>t</NewPortMappingDescription>\
        <NewLeaseDuration>0</NewLeaseDuration></u:AddPortMapping></s:Body></s:Envelope>";
    let raw = format!(
        "POST /ctl/IPConn HTTP/1.1\r\nHost: {LAN_GW}:5000\r\n\
         SOAPAction: \"urn:schemas-upnp-org:service:WANIPConnection:1#AddPortMapping\"\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let Polled::Request(req) = first(raw.as_bytes()) else {
        panic!("not a request");
    };
    let (answer, _) = server.answer(
        &req,
        IpAddr::V4(LAN_GW),
        IpAddr::V4(Ipv4Addr::new(10, 77, 0, 2)),
    );
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(gw.borrow().table().len(), 1);
    // What `gena::gateway_pump` does with the events waiting together.
    let mut told = false;
    while events.try_recv().is_ok() {
        told = true;
    }
    assert!(told, "the gateway raised an event");
    gena.changed(UpnpEvent::MappingsChanged);
    assert_eq!(gena.evaluations(), 1);
}
