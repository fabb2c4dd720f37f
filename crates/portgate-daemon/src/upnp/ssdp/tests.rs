//! Responder decisions. Searches are built from the UDA 1.1 §1.3.2 layout; none is a
//! capture.

use super::*;

const SENDER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 77, 0, 2));

fn responder(version: portgate_proto::description::IgdVersion) -> Responder {
    let igd = IgdConfig {
        version,
        uuids: [
            "11111111-1111-1111-1111-111111111111".into(),
            "11111111-1111-1111-1111-111111111112".into(),
            "11111111-1111-1111-1111-111111111113".into(),
        ],
        ..IgdConfig::default()
    };
    Responder::new(&igd, "Linux/6 UPnP/1.1 portgate/0.1".into(), 900, 7)
}

fn search(raw: &str) -> MSearch {
    match SsdpMessage::parse(raw.as_bytes()) {
        Ok(SsdpMessage::Search(s)) => s,
        other => panic!("not a search: {other:?}"),
    }
}

fn msearch(st: &str, mx: Option<&str>, man: &str, host: &str) -> MSearch {
    let mut s = format!("M-SEARCH * HTTP/1.1\r\nHOST: {host}\r\nMAN: {man}\r\nST: {st}\r\n");
    if let Some(mx) = mx {
        s.push_str(&format!("MX: {mx}\r\n"));
    }
    s.push_str("\r\n");
    search(&s)
}

fn mcast(st: &str, mx: Option<&str>) -> MSearch {
    msearch(st, mx, "\"ssdp:discover\"", "239.255.255.250:1900")
}

fn v1() -> Responder {
    responder(portgate_proto::description::IgdVersion::V1)
}

#[test]
fn mx_is_capped_and_required_on_multicast() {
    let mut r = v1();
    let s = mcast("upnp:rootdevice", Some("120"));
    assert!(is_multicast_search(&s));
    match r.decide(&s, SENDER, true, 1) {
        Decision::Reply {
            window_secs,
            replies,
        } => {
            assert_eq!(window_secs, 5);
            assert_eq!(replies.len(), 1);
        }
        d => panic!("{d:?}"),
    }
    let s = mcast("upnp:rootdevice", Some("2"));
    assert!(matches!(
        r.decide(&s, SENDER, true, 1),
        Decision::Reply { window_secs: 2, .. }
    ));
    for bad in [None, Some("abc"), Some("-1")] {
        let s = mcast("upnp:rootdevice", bad);
        assert!(
            matches!(r.decide(&s, SENDER, true, 1), Decision::Ignore(_)),
            "{bad:?}"
        );
    }
}

#[test]
fn man_must_be_discover() {
    let mut r = v1();
    for man in ["\"ssdp:alive\"", "discover", "\"\""] {
        let s = msearch("ssdp:all", Some("1"), man, "239.255.255.250:1900");
        assert!(
            matches!(r.decide(&s, SENDER, true, 1), Decision::Ignore(_)),
            "{man}"
        );
    }
    let s = search(
        "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nST: ssdp:all\r\nMX: 1\r\n\r\n",
    );
    assert!(matches!(r.decide(&s, SENDER, true, 1), Decision::Ignore(_)));
}

#[test]
fn ssdp_all_one_reply_per_nt() {
    let mut r = v1();
    let s = mcast("ssdp:all", Some("1"));
    let Decision::Reply { replies, .. } = r.decide(&s, SENDER, true, 1) else {
        panic!("ignored");
    };
    assert_eq!(replies.len(), r.announced().len());
    assert_eq!(
        replies.len(),
        10,
        "rootdevice, 3 uuids, 3 device types, 3 services"
    );
    let mut nts: Vec<String> = replies.iter().map(|(st, _)| st.to_string()).collect();
    nts.sort();
    nts.dedup();
    assert_eq!(nts.len(), 10, "no NT twice");
}

#[test]
fn versioned_st_is_echoed() {
    let mut r = responder(portgate_proto::description::IgdVersion::V2);
    let s = mcast(
        "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
        Some("1"),
    );
    let Decision::Reply { replies, .. } = r.decide(&s, SENDER, true, 1) else {
        panic!("ignored");
    };
    assert_eq!(replies.len(), 1);
    assert_eq!(
        replies[0].0.to_string(),
        "urn:schemas-upnp-org:device:InternetGatewayDevice:1"
    );
    assert_eq!(
        replies[0].1.as_str(),
        "uuid:11111111-1111-1111-1111-111111111111::urn:schemas-upnp-org:device:InternetGatewayDevice:1"
    );
    let s = mcast("urn:schemas-upnp-org:service:WANIPConnection:2", Some("1"));
    assert!(matches!(
        r.decide(&s, SENDER, true, 1),
        Decision::Reply { .. }
    ));
    // A version above ours is not answered.
    let mut r1 = v1();
    let s = mcast("urn:schemas-upnp-org:service:WANIPConnection:2", Some("1"));
    assert!(matches!(
        r1.decide(&s, SENDER, true, 1),
        Decision::Ignore(_)
    ));
    let s = mcast("urn:schemas-upnp-org:device:MediaServer:1", Some("1"));
    assert!(matches!(
        r1.decide(&s, SENDER, true, 1),
        Decision::Ignore(_)
    ));
    let s = mcast("uuid:11111111-1111-1111-1111-111111111113", Some("1"));
    let Decision::Reply { replies, .. } = r1.decide(&s, SENDER, true, 1) else {
        panic!("ignored");
    };
    assert_eq!(
        replies[0].1.as_str(),
        "uuid:11111111-1111-1111-1111-111111111113"
    );
}

#[test]
fn unicast_search_is_answered_at_once() {
    let mut r = v1();
    let s = msearch(
        "upnp:rootdevice",
        None,
        "\"ssdp:discover\"",
        "10.77.0.1:1900",
    );
    assert!(!is_multicast_search(&s));
    assert!(matches!(
        r.decide(&s, SENDER, false, 1),
        Decision::Reply { window_secs: 0, .. }
    ));
}

#[test]
fn floods_are_rate_limited_per_sender() {
    let mut r = v1();
    let s = mcast("ssdp:all", Some("1"));
    let per_search = match r.decide(&s, IpAddr::V4(Ipv4Addr::new(10, 77, 0, 9)), true, 50) {
        Decision::Reply { replies, .. } => replies.len(),
        other => panic!("{other:?}"),
    };
    assert!(per_search > 5, "ssdp:all answers every NT");
    let answered = (0..100)
        .filter(|_| matches!(r.decide(&s, SENDER, true, 50), Decision::Reply { .. }))
        .count();
    assert_eq!(answered, REPLIES_PER_SECOND as usize / per_search);
    // Targeted searches (one reply each) get the whole budget.
    let t = mcast("upnp:rootdevice", Some("1"));
    let third = IpAddr::V4(Ipv4Addr::new(10, 77, 0, 8));
    let answered = (0..100)
        .filter(|_| matches!(r.decide(&t, third, true, 50), Decision::Reply { .. }))
        .count();
    assert_eq!(answered, REPLIES_PER_SECOND as usize);
    let other = IpAddr::V4(Ipv4Addr::new(10, 77, 0, 3));
    assert!(matches!(
        r.decide(&s, other, true, 50),
        Decision::Reply { .. }
    ));
    assert!(matches!(
        r.decide(&s, SENDER, true, 51),
        Decision::Reply { .. }
    ));
}

#[test]
fn hostile_datagrams_are_not_searches() {
    let long_st = format!(
        "M-SEARCH * HTTP/1.1\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: {}\r\n\r\n",
        ":".repeat(5000)
    );
    for d in [
        &b""[..],
        b"\0\0\0",
        long_st.as_bytes(),
        b"M-SEARCH * HTTP/1.1",
    ] {
        assert!(!matches!(SsdpMessage::parse(d), Ok(SsdpMessage::Search(_))));
    }
}

#[test]
fn response_and_notify_carry_the_required_fields() {
    let r = v1();
    let a = &r.announced()[0];
    let resp = String::from_utf8(r.response(&a.nt, &a.usn, "http://10.77.0.1:5000/rootDesc.xml"))
        .unwrap_or_default();
    for f in [
        "HTTP/1.1 200 OK",
        "CACHE-CONTROL: max-age=1800",
        "EXT:",
        "LOCATION: http://10.77.0.1:5000/rootDesc.xml",
        "ST: upnp:rootdevice",
        "BOOTID.UPNP.ORG: 7",
        "SERVER: Linux/6 UPnP/1.1 portgate/0.1",
    ] {
        assert!(resp.contains(f), "{f} in {resp}");
    }
    // DATE (UDA 1.1 §1.3.3, recommended) in the IMF-fixdate form.
    let date = resp
        .lines()
        .find_map(|l| l.strip_prefix("DATE: "))
        .unwrap_or_default();
    assert!(
        date.len() == 29 && date.ends_with(" GMT") && date.get(3..5) == Some(", "),
        "DATE in {resp}"
    );
    let n = emit_notify(r.alive(a, "http://10.77.0.1:5000/rootDesc.xml"));
    let n = String::from_utf8(n).unwrap_or_default();
    assert!(n.starts_with("NOTIFY * HTTP/1.1\r\n"));
    assert!(n.contains("NTS: ssdp:alive") && n.contains("CONFIGID.UPNP.ORG: 1"));
    let b = emit_notify(r.alive(a, "x").to_byebye());
    assert!(String::from_utf8(b)
        .unwrap_or_default()
        .contains("NTS: ssdp:byebye"));
}
