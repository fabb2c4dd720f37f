use super::*;
use crate::gateway::tests::{gateway, settings, SharedMem, NOW};
use crate::pinhole::{Lan6, PinholeSettings, Pinholes};
use portgate_nft::Firewall as _;

const URN: &str = "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1";
const GW6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
const HOST: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
const HOST2: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 3);
const WAN: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 2);

fn backend(enabled: bool) -> (GatewayPinholes, SharedMem) {
    let (mut gw, fw) = gateway(settings(None));
    let (p, _) = Pinholes::start(
        PinholeSettings {
            enabled,
            lease_file6: None,
            lan: vec![Lan6 {
                addr: GW6,
                prefix: 64,
            }],
        },
        &mut gw,
        NOW,
    )
    .unwrap();
    (GatewayPinholes::new(gw.into_shared(), p.into_shared()), fw)
}

fn call(
    b: &mut GatewayPinholes,
    from: Ipv6Addr,
    action: &str,
    args: &[(&str, &str)],
) -> SoapOutcome {
    let mut body = String::from(
        "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>",
    );
    body.push_str(&format!("<u:{action} xmlns:u=\"{URN}\">"));
    for (k, v) in args {
        body.push_str(&format!("<{k}>{v}</{k}>"));
    }
    body.push_str(&format!("</u:{action}></s:Body></s:Envelope>"));
    let sa = format!("\"{URN}#{action}\"");
    handle(Some(&sa), body.as_bytes(), IpAddr::V6(from), NOW, b)
}

fn add_args<'a>(
    client: &'a str,
    port: &'a str,
    proto: &'a str,
    lease: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("RemoteHost", ""),
        ("RemotePort", "0"),
        ("InternalClient", client),
        ("InternalPort", port),
        ("Protocol", proto),
        ("LeaseTime", lease),
    ]
}

fn body(o: &SoapOutcome) -> String {
    String::from_utf8_lossy(&o.body).into_owned()
}

fn uid_of(o: &SoapOutcome) -> u16 {
    let b = body(o);
    let start = b.find("<UniqueID>").expect("UniqueID") + "<UniqueID>".len();
    let end = b[start..].find('<').expect("end") + start;
    b[start..end].parse().expect("number")
}

#[test]
fn add_update_delete_cycle() {
    let (mut b, fw) = backend(true);
    let o = call(
        &mut b,
        HOST,
        "AddPinhole",
        &add_args("2001:db8:1::2", "8080", "6", "3600"),
    );
    assert_eq!(o.status, 200, "{}", body(&o));
    assert!(o.changed);
    let uid = uid_of(&o);
    assert_eq!(fw.0.borrow_mut().list_pinholes().unwrap().len(), 1);
    let u = uid.to_string();
    let o = call(
        &mut b,
        HOST,
        "UpdatePinhole",
        &[("UniqueID", &u), ("NewLeaseTime", "7200")],
    );
    assert_eq!(o.status, 200, "{}", body(&o));
    let o = call(&mut b, HOST, "GetPinholePackets", &[("UniqueID", &u)]);
    assert!(
        body(&o).contains("<PinholePackets>0</PinholePackets>"),
        "{}",
        body(&o)
    );
    let o = call(&mut b, HOST, "CheckPinholeWorking", &[("UniqueID", &u)]);
    assert_eq!(o.error, Some(709));
    let o = call(&mut b, HOST, "DeletePinhole", &[("UniqueID", &u)]);
    assert_eq!(o.status, 200);
    assert!(fw.0.borrow_mut().list_pinholes().unwrap().is_empty());
    let o = call(&mut b, HOST, "DeletePinhole", &[("UniqueID", &u)]);
    assert_eq!(o.error, Some(704));
}

#[test]
fn status_and_outbound_timeout() {
    let (mut b, _) = backend(true);
    let o = call(&mut b, HOST, "GetFirewallStatus", &[]);
    assert!(body(&o).contains("<FirewallEnabled>1</FirewallEnabled>"));
    assert!(body(&o).contains("<InboundPinholeAllowed>1</InboundPinholeAllowed>"));
    let o = call(
        &mut b,
        HOST,
        "GetOutboundPinholeTimeout",
        &[
            ("RemoteHost", ""),
            ("RemotePort", "0"),
            ("InternalClient", "2001:db8:1::2"),
            ("InternalPort", "80"),
            ("Protocol", "6"),
        ],
    );
    assert!(
        body(&o).contains("<OutboundPinholeTimeout>86400<"),
        "{}",
        body(&o)
    );
    let (mut off, _) = backend(false);
    let o = call(&mut off, HOST, "GetFirewallStatus", &[]);
    assert!(body(&o).contains("<FirewallEnabled>0</FirewallEnabled>"));
    let o = call(
        &mut off,
        HOST,
        "AddPinhole",
        &add_args("2001:db8:1::2", "80", "6", "60"),
    );
    assert_eq!(o.error, Some(702));
}

#[test]
fn hostile_requests_get_their_error_codes() {
    let (mut b, fw) = backend(true);
    // Pinhole for another host.
    let o = call(
        &mut b,
        HOST,
        "AddPinhole",
        &add_args("2001:db8:1::3", "80", "6", "60"),
    );
    assert_eq!(o.error, Some(606));
    // From the WAN or over IPv4.
    let o = call(
        &mut b,
        WAN,
        "AddPinhole",
        &add_args("2001:db8:2::2", "80", "6", "60"),
    );
    assert_eq!(o.error, Some(606));
    let o = handle(
        Some(&format!("\"{URN}#DeletePinhole\"")),
        b"<x/>",
        IpAddr::V4(std::net::Ipv4Addr::new(10, 77, 0, 2)),
        NOW,
        &mut b,
    );
    assert_eq!(o.error, Some(402));
    // Link-local, multicast and garbage internal clients.
    for bad in [
        "fe80::2",
        "ff02::1",
        "ff05::c",
        "::1",
        "::",
        "::ffff:10.0.0.1",
        "nope",
    ] {
        let o = call(&mut b, HOST, "AddPinhole", &add_args(bad, "80", "6", "60"));
        assert_eq!(o.error, Some(402), "{bad}");
    }
    let o = call(
        &mut b,
        HOST,
        "AddPinhole",
        &add_args("2001:db8:1::2", "0", "6", "60"),
    );
    assert_eq!(o.error, Some(706));
    let o = call(
        &mut b,
        HOST,
        "AddPinhole",
        &add_args("2001:db8:1::2", "80", "65535", "60"),
    );
    assert_eq!(o.error, Some(707));
    let o = call(
        &mut b,
        HOST,
        "AddPinhole",
        &add_args("2001:db8:1::2", "80", "132", "60"),
    );
    assert_eq!(o.error, Some(705));
    for l in ["0", "86401", "-1", "x"] {
        let o = call(
            &mut b,
            HOST,
            "AddPinhole",
            &add_args("2001:db8:1::2", "80", "6", l),
        );
        assert_eq!(o.error, Some(402), "lease {l}");
    }
    let o = call(&mut b, HOST, "AddPinhole", &[("RemoteHost", "")]);
    assert_eq!(o.error, Some(402));
    let o = call(&mut b, HOST, "AddPinhole", &{
        let mut a = add_args("2001:db8:1::2", "80", "6", "60");
        a[0] = ("RemoteHost", "not-an-address");
        a
    });
    assert_eq!(o.error, Some(402));
    // Another host's pinhole cannot be touched.
    let o = call(
        &mut b,
        HOST2,
        "AddPinhole",
        &add_args("", "8080", "17", "60"),
    );
    assert_eq!(o.status, 200, "{}", body(&o));
    let u = uid_of(&o).to_string();
    for (action, extra) in [
        ("UpdatePinhole", Some(("NewLeaseTime", "60"))),
        ("DeletePinhole", None),
        ("GetPinholePackets", None),
        ("CheckPinholeWorking", None),
    ] {
        let mut args = vec![("UniqueID", u.as_str())];
        args.extend(extra);
        assert_eq!(
            call(&mut b, HOST, action, &args).error,
            Some(606),
            "{action}"
        );
    }
    assert_eq!(fw.0.borrow_mut().list_pinholes().unwrap().len(), 1);
    // A system port (below MIN_PINHOLE_PORT) for the requester itself: 606, nothing
    // opened.
    for port in ["1", "80", "1023"] {
        let o = call(
            &mut b,
            HOST,
            "AddPinhole",
            &add_args("2001:db8:1::2", port, "6", "60"),
        );
        assert_eq!(o.error, Some(606), "port {port}");
    }
    assert_eq!(fw.0.borrow_mut().list_pinholes().unwrap().len(), 1);
    // Unknown action, wrong service in SOAPAction.
    assert_eq!(call(&mut b, HOST, "AddPortMapping", &[]).error, Some(401));
    let o = handle(
        Some("\"urn:schemas-upnp-org:service:WANIPConnection:1#AddPinhole\""),
        b"",
        IpAddr::V6(HOST),
        NOW,
        &mut b,
    );
    assert_eq!(o.error, Some(401));
}

#[test]
fn same_key_refreshes_with_the_same_uid() {
    let (mut b, _) = backend(true);
    let a = uid_of(&call(
        &mut b,
        HOST,
        "AddPinhole",
        &add_args("2001:db8:1::2", "8080", "6", "60"),
    ));
    let c = uid_of(&call(
        &mut b,
        HOST,
        "AddPinhole",
        &add_args("2001:db8:1::2", "8080", "6", "600"),
    ));
    assert_eq!(a, c);
    let d = uid_of(&call(
        &mut b,
        HOST,
        "AddPinhole",
        &add_args("2001:db8:1::2", "8080", "17", "60"),
    ));
    assert_ne!(a, d);
}
