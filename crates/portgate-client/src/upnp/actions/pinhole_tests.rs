//! WANIPv6FirewallControl:1 request encodings and answer / fault decoding. The answers
//! are constructed to mimic miniupnpd's layout (`u:` prefix, no whitespace); none is a
//! capture.

use super::*;
use crate::http::HttpResponse;
use portgate_proto::http::ResponseHead;
use portgate_proto::upnp_error::UpnpErrorCode;

fn resp(status: u16, body: &str) -> HttpResponse {
    HttpResponse {
        head: ResponseHead::new(status),
        body: body.as_bytes().to_vec(),
    }
}

fn ok(action: &str, args: &str) -> HttpResponse {
    resp(
        200,
        &format!(
            "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
             s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>\
             <u:{action}Response xmlns:u=\"{WAN_IPV6_FIREWALL}\">{args}</u:{action}Response>\
             </s:Body></s:Envelope>\r\n"
        ),
    )
}

fn fault(code: u16, desc: &str) -> HttpResponse {
    resp(
        500,
        &format!(
            "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
             s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body><s:Fault>\
             <faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>\
             <UPnPError xmlns=\"urn:schemas-upnp-org:control-1-0\"><errorCode>{code}</errorCode>\
             <errorDescription>{desc}</errorDescription></UPnPError></detail></s:Fault>\
             </s:Body></s:Envelope>\r\n"
        ),
    )
}

fn body<T>(c: &Call<T>) -> String {
    let mut out = Vec::new();
    c.request.emit(&mut out);
    String::from_utf8(out).expect("utf-8")
}

fn spec() -> PinholeSpec {
    PinholeSpec {
        remote_host: None,
        remote_port: 0,
        internal_client: "2001:db8:1::10".parse().expect("v6"),
        internal_port: 8080,
        protocol: PinholeProtocol::Tcp,
    }
}

fn upnp_code(e: ClientError) -> UpnpErrorCode {
    match e {
        ClientError::Upnp { code, .. } => code,
        other => panic!("not a UPnP fault: {other:?}"),
    }
}

#[test]
fn add_pinhole_request_and_answer() {
    let c = add_pinhole(&spec(), 3600).expect("lease in range");
    assert_eq!(c.request.service_type, WAN_IPV6_FIREWALL);
    assert_eq!(c.request.action, "AddPinhole");
    let b = body(&c);
    assert!(
        b.contains(
            "<RemoteHost></RemoteHost><RemotePort>0</RemotePort>\
             <InternalClient>2001:db8:1::10</InternalClient><InternalPort>8080</InternalPort>\
             <Protocol>6</Protocol><LeaseTime>3600</LeaseTime>"
        ),
        "{b}"
    );
    assert!(
        b.contains(&format!("<u:AddPinhole xmlns:u=\"{WAN_IPV6_FIREWALL}\">")),
        "{b}"
    );
    // The SOAPAction header names the service and action.
    let (url, addr) =
        crate::http::parse_url("http://[2001:db8:1::1]:5000/ctl/IP6FCtl").expect("url");
    assert_eq!(addr, "[2001:db8:1::1]:5000".parse().expect("addr"));
    let x = c.exchange(&url).expect("exchange");
    let wire = String::from_utf8_lossy(x.request()).into_owned();
    assert!(
        wire.contains(
            "SOAPAction: \"urn:schemas-upnp-org:service:WANIPv6FirewallControl:1#AddPinhole\""
        ),
        "{wire}"
    );
    assert_eq!(
        c.finish(&ok("AddPinhole", "<UniqueID>7</UniqueID>"))
            .expect("ok"),
        7
    );
    // A UniqueID past ui2, negative or missing is a bad reply, not a panic.
    for bad in [
        "<UniqueID>65536</UniqueID>",
        "<UniqueID>-1</UniqueID>",
        "<UniqueID>x</UniqueID>",
        "",
    ] {
        assert!(matches!(
            c.finish(&ok("AddPinhole", bad)),
            Err(ClientError::BadReply("UniqueID"))
        ));
    }
}

#[test]
fn add_pinhole_remote_and_protocol_wildcards() {
    let mut s = spec();
    s.remote_host = Some("2001:db8:2::2".parse().expect("v6"));
    s.remote_port = 443;
    s.protocol = PinholeProtocol::Any;
    let b = body(&add_pinhole(&s, 1).expect("lease"));
    assert!(
        b.contains("<RemoteHost>2001:db8:2::2</RemoteHost><RemotePort>443</RemotePort>"),
        "{b}"
    );
    assert!(b.contains("<Protocol>65535</Protocol>"), "{b}");
    s.protocol = PinholeProtocol::Udp;
    assert!(body(&add_pinhole(&s, MAX_PINHOLE_LEASE).expect("lease"))
        .contains("<Protocol>17</Protocol><LeaseTime>86400</LeaseTime>"));
}

#[test]
fn lease_out_of_range_is_refused_locally() {
    for lease in [0, MAX_PINHOLE_LEASE + 1, u32::MAX] {
        assert!(matches!(
            add_pinhole(&spec(), lease),
            Err(ClientError::InvalidArgument(_))
        ));
        assert!(matches!(
            update_pinhole(1, lease),
            Err(ClientError::InvalidArgument(_))
        ));
    }
}

#[test]
fn add_pinhole_faults_are_typed() {
    let c = add_pinhole(&spec(), 3600).expect("lease");
    assert_eq!(
        upnp_code(
            c.finish(&fault(703, "InboundPinholeNotAllowed"))
                .expect_err("fault")
        ),
        UpnpErrorCode::InboundPinholeNotAllowed
    );
    assert_eq!(
        upnp_code(
            c.finish(&fault(606, "Action not authorized"))
                .expect_err("fault")
        ),
        UpnpErrorCode::from_code(606)
    );
    assert_eq!(
        upnp_code(
            c.finish(&fault(701, "PinholeSpaceExhausted"))
                .expect_err("fault")
        ),
        UpnpErrorCode::PinholeSpaceExhausted
    );
    // An unnamed code stays a number.
    assert_eq!(
        upnp_code(c.finish(&fault(799, "x")).expect_err("fault")),
        UpnpErrorCode::Unknown(799)
    );
    assert_eq!(
        c.finish(&fault(702, "FirewallDisabled"))
            .expect_err("fault")
            .upnp_code(),
        Some(702)
    );
}

#[test]
fn update_and_delete_pinhole() {
    let c = update_pinhole(7, 7200).expect("lease");
    assert_eq!(c.request.action, "UpdatePinhole");
    assert!(body(&c).contains("<UniqueID>7</UniqueID><NewLeaseTime>7200</NewLeaseTime>"));
    c.finish(&ok("UpdatePinhole", "")).expect("ok");
    assert_eq!(
        upnp_code(c.finish(&fault(704, "NoSuchEntry")).expect_err("fault")),
        UpnpErrorCode::NoSuchEntry
    );
    let d = delete_pinhole(65535);
    assert_eq!(d.request.action, "DeletePinhole");
    assert!(body(&d).contains("<UniqueID>65535</UniqueID>"));
    d.finish(&ok("DeletePinhole", "")).expect("ok");
    assert_eq!(
        upnp_code(d.finish(&fault(704, "NoSuchEntry")).expect_err("fault")),
        UpnpErrorCode::NoSuchEntry
    );
    // The answer of another action is not this one's.
    assert!(matches!(
        d.finish(&ok("UpdatePinhole", "")),
        Err(ClientError::BadReply(_))
    ));
}

#[test]
fn firewall_status() {
    let c = get_firewall_status();
    assert!(c.request.args.is_empty());
    let s = c
        .finish(&ok(
            "GetFirewallStatus",
            "<FirewallEnabled>1</FirewallEnabled><InboundPinholeAllowed>0</InboundPinholeAllowed>",
        ))
        .expect("ok");
    assert_eq!(
        s,
        FirewallStatus {
            enabled: true,
            inbound_pinhole_allowed: false
        }
    );
    // "true"/"false" spellings are booleans too (UDA 1.1 §2.5 boolean).
    let s = c
        .finish(&ok(
            "GetFirewallStatus",
            "<FirewallEnabled>false</FirewallEnabled><InboundPinholeAllowed>true</InboundPinholeAllowed>",
        ))
        .expect("ok");
    assert!(!s.enabled && s.inbound_pinhole_allowed);
    assert!(matches!(
        c.finish(&ok(
            "GetFirewallStatus",
            "<FirewallEnabled>maybe</FirewallEnabled><InboundPinholeAllowed>1</InboundPinholeAllowed>"
        )),
        Err(ClientError::BadReply("FirewallEnabled"))
    ));
}

#[test]
fn outbound_pinhole_timeout() {
    let mut flow = spec();
    flow.remote_host = Some("2001:db8:2::2".parse().expect("v6"));
    flow.remote_port = 80;
    let c = get_outbound_pinhole_timeout(&flow);
    let b = body(&c);
    assert!(
        b.contains(
            "<RemoteHost>2001:db8:2::2</RemoteHost><RemotePort>80</RemotePort>\
             <InternalClient>2001:db8:1::10</InternalClient><InternalPort>8080</InternalPort>\
             <Protocol>6</Protocol></u:GetOutboundPinholeTimeout>"
        ),
        "{b}"
    );
    assert_eq!(
        c.finish(&ok(
            "GetOutboundPinholeTimeout",
            "<OutboundPinholeTimeout>120</OutboundPinholeTimeout>"
        ))
        .expect("ok"),
        120
    );
    assert_eq!(
        upnp_code(
            c.finish(&fault(705, "ProtocolNotSupported"))
                .expect_err("fault")
        ),
        UpnpErrorCode::ProtocolNotSupported
    );
}

#[test]
fn packets_and_check_working() {
    let p = get_pinhole_packets(3);
    assert!(body(&p).contains("<UniqueID>3</UniqueID></u:GetPinholePackets>"));
    assert_eq!(
        p.finish(&ok(
            "GetPinholePackets",
            "<PinholePackets>42</PinholePackets>"
        ))
        .expect("ok"),
        42
    );
    assert!(matches!(
        p.finish(&ok(
            "GetPinholePackets",
            "<PinholePackets>4294967296</PinholePackets>"
        )),
        Err(ClientError::BadReply("PinholePackets"))
    ));
    let c = check_pinhole_working(3);
    assert!(body(&c).contains("<UniqueID>3</UniqueID></u:CheckPinholeWorking>"));
    assert!(c
        .finish(&ok("CheckPinholeWorking", "<IsWorking>1</IsWorking>"))
        .expect("ok"));
    assert!(!c
        .finish(&ok("CheckPinholeWorking", "<IsWorking>0</IsWorking>"))
        .expect("ok"));
    assert_eq!(
        upnp_code(
            c.finish(&fault(709, "NoTrafficReceived"))
                .expect_err("fault")
        ),
        UpnpErrorCode::NoTrafficReceived
    );
}

#[test]
fn hostile_answers_do_not_panic() {
    let c = add_pinhole(&spec(), 60).expect("lease");
    for b in ["", "<", "<s:Envelope>", "\u{0}\u{ff}garbage"] {
        assert!(c.finish(&resp(200, b)).is_err());
        assert!(c.finish(&resp(500, b)).is_err());
    }
    let huge = format!("<UniqueID>{}</UniqueID>", "9".repeat(10_000));
    assert!(c.finish(&ok("AddPinhole", &huge)).is_err());
}

#[test]
fn protocol_numbers_round_trip() {
    for n in [0u16, 6, 17, 58, 132, 136, 65534, 65535] {
        assert_eq!(PinholeProtocol::from_number(n).number(), n);
    }
    assert_eq!(PinholeProtocol::from(Protocol::Udp), PinholeProtocol::Udp);
    assert_eq!(PinholeProtocol::Any.to_string(), "any");
}

#[test]
fn igd_routes_pinhole_calls_to_the_firewall_service() {
    use crate::upnp::Igd;
    use portgate_proto::description::igd::IgdConfig;
    let loc = "http://[2001:db8:1::1]:5000/rootDesc.xml";
    let mut cfg = IgdConfig {
        ipv6_firewall: true,
        ..IgdConfig::default()
    };
    let mut desc = Vec::new();
    cfg.emit_description(&mut desc);
    let igd = Igd::from_description(loc, &desc).expect("igd");
    assert!(igd.has_ipv6_firewall());
    let fw = igd.control_url(&delete_pinhole(1)).expect("firewall url");
    let wan = igd
        .control_url(&get_status_info(igd.service_type()))
        .expect("wan url");
    assert_ne!(fw, wan);
    assert_eq!(Some(fw), igd.ipv6_firewall_url());
    // Without the service, pinhole calls have nowhere to go.
    cfg.ipv6_firewall = false;
    desc.clear();
    cfg.emit_description(&mut desc);
    let igd = Igd::from_description(loc, &desc).expect("igd");
    assert!(!igd.has_ipv6_firewall());
    assert!(matches!(
        igd.control_url(&delete_pinhole(1)),
        Err(ClientError::NoIgd)
    ));
}
