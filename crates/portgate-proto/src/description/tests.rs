//! Tests of the description module: generated descriptions, real-world shapes,
//! URL resolution, port-mapping lists.

use super::igd::{derive_uuids, IgdService, WAN_IPC_PATHS};
use super::parse::{MAX_DEVICES, MAX_DEVICE_DEPTH};
use super::portlist::{parse_upnp_bool, MAX_PORT_LISTING_ENTRIES};
use super::*;
use crate::DecodeError;
use proptest::prelude::*;

const LOC: &str = "http://10.0.0.1:5000/rootDesc.xml";

fn generated(cfg: &IgdConfig) -> DeviceDescription {
    let mut out = Vec::new();
    cfg.emit_description(&mut out);
    DeviceDescription::parse(&out, LOC).unwrap()
}

#[test]
fn generated_igd1_tree() {
    let cfg = IgdConfig {
        uuids: derive_uuids("uuid:12345678-1234-1234-1234-123456789abc"),
        presentation_url: "http://10.0.0.1/".into(),
        serial: "S/N <1>".into(),
        config_id: 42,
        ..IgdConfig::default()
    };
    let d = generated(&cfg);
    assert_eq!(d.spec_version, Some((1, 1)));
    assert_eq!(d.config_id, Some(42));
    assert_eq!(d.base_url, LOC);
    let root = &d.root;
    assert_eq!(
        root.device_type,
        "urn:schemas-upnp-org:device:InternetGatewayDevice:1"
    );
    assert_eq!(root.udn, "uuid:12345678-1234-1234-1234-123456789abc");
    assert_eq!(root.serial_number, "S/N <1>");
    assert_eq!(root.presentation_url.as_deref(), Some("http://10.0.0.1/"));
    assert_eq!(
        root.services[0].service_type,
        "urn:schemas-upnp-org:service:Layer3Forwarding:1"
    );
    assert_eq!(root.services[0].control_url, "http://10.0.0.1:5000/ctl/L3F");
    let wan = &root.devices[0];
    assert_eq!(wan.device_type, "urn:schemas-upnp-org:device:WANDevice:1");
    assert_eq!(wan.udn, "uuid:12345678-1234-1234-1234-123456789abd");
    assert_eq!(
        wan.services[0].service_type,
        "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1"
    );
    let conn = &wan.devices[0];
    assert_eq!(
        conn.device_type,
        "urn:schemas-upnp-org:device:WANConnectionDevice:1"
    );
    assert_eq!(conn.udn, "uuid:12345678-1234-1234-1234-123456789abe");
    assert_eq!(conn.services.len(), 1);
    let best = d.find_wan_connection().unwrap();
    assert_eq!(best.kind, WanServiceKind::IpConnection);
    assert_eq!(best.version, 1);
    assert_eq!(
        best.service_type,
        "urn:schemas-upnp-org:service:WANIPConnection:1"
    );
    assert_eq!(best.control_url, "http://10.0.0.1:5000/ctl/IPConn");
    assert_eq!(best.scpd_url, "http://10.0.0.1:5000/WANIPCn.xml");
    assert_eq!(best.event_sub_url, "http://10.0.0.1:5000/evt/IPConn");
}

#[test]
fn generated_igd2_with_ipv6() {
    let cfg = IgdConfig {
        version: IgdVersion::V2,
        ipv6_firewall: true,
        ..IgdConfig::default()
    };
    let d = generated(&cfg);
    assert_eq!(
        d.root.device_type,
        "urn:schemas-upnp-org:device:InternetGatewayDevice:2"
    );
    let conn = &d.root.devices[0].devices[0];
    let types: Vec<&str> = conn
        .services
        .iter()
        .map(|s| s.service_type.as_str())
        .collect();
    assert_eq!(
        types,
        [
            "urn:schemas-upnp-org:service:WANIPConnection:2",
            "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1"
        ]
    );
    assert_eq!(d.find_wan_connection().unwrap().version, 2);
    let fc = d
        .find_service("urn:schemas-upnp-org:service:WANIPv6FirewallControl")
        .unwrap();
    assert_eq!(fc.control_url, "http://10.0.0.1:5000/ctl/IP6FCtl");
    assert_eq!(
        IgdService::from_path("/ctl/IPConn"),
        Some(IgdService::WanIpConnection)
    );
    assert_eq!(IgdService::from_path("/nope"), None);
    // the SCPD served for IGD:2 lists the v2 actions
    let mut scpd = Vec::new();
    cfg.emit_scpd(IgdService::WanIpConnection, &mut scpd);
    assert!(std::str::from_utf8(&scpd)
        .unwrap()
        .contains("<name>GetListOfPortMappings</name>"));
    let mut scpd1 = Vec::new();
    IgdConfig::default().emit_scpd(IgdService::WanIpConnection, &mut scpd1);
    assert!(!std::str::from_utf8(&scpd1)
        .unwrap()
        .contains("GetListOfPortMappings"));
}

#[test]
fn uuid_derivation() {
    assert_eq!(
        derive_uuids("00000000-0000-0000-0000-ffffffffffff"),
        [
            "00000000-0000-0000-0000-ffffffffffff".to_string(),
            "00000000-0000-0000-0000-000000000000".to_string(),
            "00000000-0000-0000-0000-000000000001".to_string(),
        ]
    );
    assert_eq!(derive_uuids("abc")[2], "abc-2");
    assert_eq!(
        derive_uuids("00000000-0000-0000-0000-00000000000A")[1],
        "00000000-0000-0000-0000-00000000000B"
    );
}

#[test]
fn url_resolution() {
    let cases = [
        (
            "http://192.168.1.1:5000/rootDesc.xml",
            "/ctl/IPConn",
            "http://192.168.1.1:5000/ctl/IPConn",
        ),
        (
            "http://192.168.1.1:5000/rootDesc.xml",
            "ctl/IPConn",
            "http://192.168.1.1:5000/ctl/IPConn",
        ),
        (
            "http://192.168.1.1:5000/dir/rootDesc.xml",
            "ctl/IPConn",
            "http://192.168.1.1:5000/dir/ctl/IPConn",
        ),
        (
            "http://192.168.1.1:5000/dir/rootDesc.xml",
            "/ctl",
            "http://192.168.1.1:5000/ctl",
        ),
        (
            "http://192.168.1.1:49152/",
            "x_wanipconnection.xml",
            "http://192.168.1.1:49152/x_wanipconnection.xml",
        ),
        (
            "http://192.168.1.1:49152",
            "x_wanipconnection.xml",
            "http://192.168.1.1:49152/x_wanipconnection.xml",
        ),
        (
            "http://192.168.1.1:49152",
            "/upnp/control",
            "http://192.168.1.1:49152/upnp/control",
        ),
        (
            "http://192.168.1.1:5000/a",
            "http://192.168.1.254:80/x",
            "http://192.168.1.254:80/x",
        ),
        (
            "http://192.168.1.1:5000/a",
            "HTTP://192.168.1.254/x",
            "HTTP://192.168.1.254/x",
        ),
        (
            "http://192.168.1.1:5000/a?q=1",
            "b",
            "http://192.168.1.1:5000/b",
        ),
        (
            "http://192.168.1.1:5000/a",
            "//192.168.1.2/c",
            "http://192.168.1.2/c",
        ),
        (
            "http://[fe80::1%25eth0]:5000/rootDesc.xml",
            "/ctl/IPConn",
            "http://[fe80::1%25eth0]:5000/ctl/IPConn",
        ),
        (
            "http://[fe80::1%25eth0]:5000/rootDesc.xml",
            "ctl",
            "http://[fe80::1%25eth0]:5000/ctl",
        ),
        (
            "http://192.168.1.1:5000/a",
            "  /x  ",
            "http://192.168.1.1:5000/x",
        ),
        ("http://192.168.1.1:5000/a", "", ""),
    ];
    for (base, r, want) in cases {
        assert_eq!(resolve_url(base, r), want, "{base} + {r}");
    }
}

#[test]
fn resolve_url_removes_dot_segments_like_rfc_3986_examples() {
    // RFC 3986 §5.4 reference resolution examples (the http forms), base
    // "http://a/b/c/d;p?q".
    let base = "http://a/b/c/d;p?q";
    let cases = [
        ("g", "http://a/b/c/g"),
        ("./g", "http://a/b/c/g"),
        ("g/", "http://a/b/c/g/"),
        ("/g", "http://a/g"),
        ("?y", "http://a/b/c/d;p?y"),
        ("g?y", "http://a/b/c/g?y"),
        ("#s", "http://a/b/c/d;p#s"),
        ("g#s", "http://a/b/c/g#s"),
        (";x", "http://a/b/c/;x"),
        ("g;x?y#s", "http://a/b/c/g;x?y#s"),
        (".", "http://a/b/c/"),
        ("./", "http://a/b/c/"),
        ("..", "http://a/b/"),
        ("../", "http://a/b/"),
        ("../g", "http://a/b/g"),
        ("../..", "http://a/"),
        ("../../", "http://a/"),
        ("../../g", "http://a/g"),
        ("../../../g", "http://a/g"),
        ("../../../../g", "http://a/g"),
        ("/./g", "http://a/g"),
        ("/../g", "http://a/g"),
        ("g.", "http://a/b/c/g."),
        (".g", "http://a/b/c/.g"),
        ("g..", "http://a/b/c/g.."),
        ("..g", "http://a/b/c/..g"),
        ("./../g", "http://a/b/g"),
        ("./g/.", "http://a/b/c/g/"),
        ("g/./h", "http://a/b/c/g/h"),
        ("g/../h", "http://a/b/c/h"),
        ("g;x=1/./y", "http://a/b/c/g;x=1/y"),
        ("g;x=1/../y", "http://a/b/c/y"),
        ("g?y/./x", "http://a/b/c/g?y/./x"),
        ("g?y/../x", "http://a/b/c/g?y/../x"),
        ("g#s/./x", "http://a/b/c/g#s/./x"),
        ("g#s/../x", "http://a/b/c/g#s/../x"),
    ];
    for (r, want) in cases {
        assert_eq!(resolve_url(base, r), want, "{base} + {r}");
    }
}

#[test]
fn http_url_split() {
    let u = HttpUrl::parse("http://[fe80::1%25eth0]:5000/rootDesc.xml").unwrap();
    assert_eq!(u.host, "fe80::1%eth0");
    assert_eq!(u.port, 5000);
    assert_eq!(u.path, "/rootDesc.xml");
    let u = HttpUrl::parse("HTTP://192.168.1.1?x=1#frag").unwrap();
    assert_eq!(
        (u.host.as_str(), u.port, u.path.as_str()),
        ("192.168.1.1", 80, "/?x=1")
    );
    let u = HttpUrl::parse("http://[2001:db8::1]/a/b").unwrap();
    assert_eq!((u.host.as_str(), u.port), ("2001:db8::1", 80));
    for bad in [
        "https://h/",
        "http://",
        "http://:80/",
        "http://h:99999/",
        "http://h:8o/",
        "http://[fe80::1/",
        "http://[::1]x/",
        "http://u@h/",
        "ftp://h/",
    ] {
        assert_eq!(HttpUrl::parse(bad), None, "{bad}");
    }
}

/// Constructed to mimic the UDA 1.0-era layout many consumer routers send (as
/// described in UDA 1.0 §2.1: URLBase with a trailing slash, service URLs relative
/// without a leading '/', `urn:schemas-upnp-org:device-1-0` default namespace, extra
/// vendor elements and an iconList), with two WAN connection devices, one of them
/// PPP-only.
const UDA10_TWO_CONNECTIONS: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<root xmlns="urn:schemas-upnp-org:device-1-0" xmlns:dlna="urn:schemas-dlna-org:device-1-0">
  <specVersion><major>1</major><minor>0</minor></specVersion>
  <URLBase>http://192.168.1.1:49152/</URLBase>
  <device>
    <deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
    <friendlyName>Home Router</friendlyName>
    <manufacturer>Example Corp.</manufacturer>
    <modelName>EX-1000</modelName>
    <UDN>uuid:11111111-2222-3333-4444-555555555555</UDN>
    <iconList><icon><mimetype>image/png</mimetype><width>48</width><height>48</height><depth>24</depth><url>icon.png</url></icon></iconList>
    <serviceList>
      <service>
        <serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType>
        <serviceId>urn:upnp-org:serviceId:L3Forwarding1</serviceId>
        <controlURL>upnp/control/L3F</controlURL>
        <eventSubURL>upnp/event/L3F</eventSubURL>
        <SCPDURL>l3f.xml</SCPDURL>
      </service>
    </serviceList>
    <deviceList>
      <device>
        <deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>
        <UDN>uuid:11111111-2222-3333-4444-555555555556</UDN>
        <serviceList><service>
          <serviceType>urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1</serviceType>
          <serviceId>urn:upnp-org:serviceId:WANCommonIFC1</serviceId>
          <controlURL>upnp/control/WANCommonIFC1</controlURL>
          <SCPDURL>cmnicfg.xml</SCPDURL>
        </service></serviceList>
        <deviceList>
          <device>
            <deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>
            <UDN>uuid:11111111-2222-3333-4444-555555555557</UDN>
            <serviceList><service>
              <serviceType>urn:schemas-upnp-org:service:WANPPPConnection:1</serviceType>
              <serviceId>urn:upnp-org:serviceId:WANPPPConn1</serviceId>
              <controlURL>upnp/control/WANPPPConn1</controlURL>
              <eventSubURL>upnp/event/WANPPPConn1</eventSubURL>
              <SCPDURL>pppconn.xml</SCPDURL>
            </service></serviceList>
          </device>
          <device>
            <deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>
            <UDN>uuid:11111111-2222-3333-4444-555555555558</UDN>
            <serviceList><service>
              <serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>
              <serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>
              <controlURL>upnp/control/WANIPConn1</controlURL>
              <eventSubURL>upnp/event/WANIPConn1</eventSubURL>
              <SCPDURL>ipconn.xml</SCPDURL>
            </service></serviceList>
          </device>
        </deviceList>
      </device>
    </deviceList>
    <presentationURL>/</presentationURL>
  </device>
</root>
"#;

#[test]
fn uda10_shape_with_urlbase_and_two_connection_devices() {
    let d = DeviceDescription::parse(
        UDA10_TWO_CONNECTIONS.as_bytes(),
        "http://192.168.1.1:49152/description.xml",
    )
    .unwrap();
    assert_eq!(d.spec_version, Some((1, 0)));
    assert_eq!(d.config_id, None);
    assert_eq!(d.base_url, "http://192.168.1.1:49152/");
    assert_eq!(d.devices().len(), 4);
    assert_eq!(d.services().len(), 4);
    assert_eq!(
        d.root.presentation_url.as_deref(),
        Some("http://192.168.1.1:49152/")
    );
    let all = d.wan_connections();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].kind, WanServiceKind::IpConnection);
    assert_eq!(
        all[0].control_url,
        "http://192.168.1.1:49152/upnp/control/WANIPConn1"
    );
    assert_eq!(all[1].kind, WanServiceKind::PppConnection);
    assert_eq!(
        all[1].service_type,
        "urn:schemas-upnp-org:service:WANPPPConnection:1"
    );
    assert_eq!(
        all[1].control_url,
        "http://192.168.1.1:49152/upnp/control/WANPPPConn1"
    );
    // missing eventSubURL stays empty
    let cif = d
        .find_service("urn:schemas-upnp-org:service:WANCommonInterfaceConfig")
        .unwrap();
    assert_eq!(cif.event_sub_url, "");
    assert_eq!(cif.scpd_url, "http://192.168.1.1:49152/cmnicfg.xml");
}

/// Constructed to mimic a minimal PPPoE router description as UDA 1.1 §2.3 allows it:
/// no URLBase, no optional fields, prefixed elements, no XML declaration, and a
/// LOCATION on an IPv6 link-local address with a zone.
const PPP_ONLY_V6: &str = concat!(
    "<d:root xmlns:d=\"urn:schemas-upnp-org:device-1-0\"><d:device>",
    "<d:deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</d:deviceType>",
    "<d:deviceList><d:device><d:deviceType>urn:schemas-upnp-org:device:WANDevice:1</d:deviceType>",
    "<d:deviceList><d:device><d:deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</d:deviceType>",
    "<d:serviceList><d:service>",
    "<d:serviceType>urn:schemas-upnp-org:service:WANPPPConnection:1</d:serviceType>",
    "<d:controlURL>ppp/ctl</d:controlURL>",
    "</d:service></d:serviceList></d:device></d:deviceList></d:device></d:deviceList>",
    "</d:device></d:root>"
);

#[test]
fn ppp_only_on_ipv6_link_local() {
    let d = DeviceDescription::parse(
        PPP_ONLY_V6.as_bytes(),
        "http://[fe80::1%25eth0]:5000/desc/root.xml",
    )
    .unwrap();
    assert_eq!(d.spec_version, None);
    assert_eq!(d.root.friendly_name, "");
    let w = d.find_wan_connection().unwrap();
    assert_eq!(w.kind, WanServiceKind::PppConnection);
    assert_eq!(w.control_url, "http://[fe80::1%25eth0]:5000/desc/ppp/ctl");
    assert_eq!(w.scpd_url, "");
}

#[test]
fn urlbase_without_trailing_slash_and_absolute_urls() {
    let doc = r#"<root xmlns="urn:schemas-upnp-org:device-1-0">
<URLBase>http://192.168.0.1:1900</URLBase>
<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:2</deviceType>
<serviceList>
<service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><controlURL>/ipc1</controlURL></service>
<service><serviceType> urn:schemas-upnp-org:service:WANIPConnection:2 </serviceType><controlURL>http://192.168.0.1:2000/ipc2</controlURL></service>
<service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:2</serviceType></service>
</serviceList></device></root>"#;
    let d = DeviceDescription::parse(doc.as_bytes(), "http://192.168.0.1:1900/igd.xml").unwrap();
    let all = d.wan_connections();
    assert_eq!(all.len(), 2, "a service without controlURL is skipped");
    assert_eq!(all[0].version, 2);
    assert_eq!(all[0].control_url, "http://192.168.0.1:2000/ipc2");
    assert_eq!(all[1].control_url, "http://192.168.0.1:1900/ipc1");
}

#[test]
fn description_errors() {
    let loc = "http://10.0.0.1/";
    assert_eq!(
        DeviceDescription::parse(b"<html/>", loc),
        Err(DecodeError::invalid(
            "device description",
            "root is not <root>"
        ))
    );
    assert_eq!(
        DeviceDescription::parse(b"<root><specVersion/></root>", loc),
        Err(DecodeError::invalid("device description", "no <device>"))
    );
    let deep = format!(
        "<root><device>{}{}</device></root>",
        "<deviceList><device>".repeat(MAX_DEVICE_DEPTH),
        "</device></deviceList>".repeat(MAX_DEVICE_DEPTH)
    );
    assert!(matches!(
        DeviceDescription::parse(deep.as_bytes(), loc),
        Err(DecodeError::TooLong {
            what: "device description nesting",
            ..
        })
    ));
    let wide = format!(
        "<root><device><deviceList>{}</deviceList></device></root>",
        "<device/>".repeat(MAX_DEVICES)
    );
    assert!(matches!(
        DeviceDescription::parse(wide.as_bytes(), loc),
        Err(DecodeError::TooMany { .. })
    ));
    let doctype = format!("<!DOCTYPE root SYSTEM \"http://evil/x.dtd\">{UDA10_TWO_CONNECTIONS}");
    assert!(DeviceDescription::parse(doctype.as_bytes(), loc).is_err());
    for i in 0..PPP_ONLY_V6.len() {
        assert!(DeviceDescription::parse(&PPP_ONLY_V6.as_bytes()[..i], loc).is_err());
    }
}

/// Constructed to mimic the PortMappingList example layout of the WANIPConnection:2
/// specification (`p:` prefix, xsi:schemaLocation, one entry).
const PORT_LIST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<p:PortMappingList xmlns:p="urn:schemas-upnp-org:gw:WANIPConnection"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
 xsi:schemaLocation="urn:schemas-upnp-org:gw:WANIPConnection http://www.upnp.org/schemas/gw/WANIPConnection-v2.xsd">
<p:PortMappingEntry>
<p:NewRemoteHost>198.51.100.9</p:NewRemoteHost>
<p:NewExternalPort>2345</p:NewExternalPort>
<p:NewProtocol>TCP</p:NewProtocol>
<p:NewInternalPort>2346</p:NewInternalPort>
<p:NewInternalClient>10.0.0.137</p:NewInternalClient>
<p:NewEnabled>1</p:NewEnabled>
<p:NewDescription>game &amp; voice</p:NewDescription>
<p:NewLeaseTime>345</p:NewLeaseTime>
</p:PortMappingEntry>
</p:PortMappingList>"#;

#[test]
fn port_mapping_list_example() {
    let l = PortMappingList::parse(PORT_LIST.as_bytes()).unwrap();
    assert_eq!(
        l.entries,
        [PortMappingEntry {
            remote_host: "198.51.100.9".into(),
            external_port: 2345,
            protocol: "TCP".into(),
            internal_port: 2346,
            internal_client: "10.0.0.137".into(),
            enabled: true,
            description: "game & voice".into(),
            lease_time: 345,
        }]
    );
    let mut out = Vec::new();
    l.emit(&mut out);
    assert_eq!(PortMappingList::parse(&out).unwrap(), l);
    // it survives being carried escaped inside a SOAP response argument
    let resp = crate::soap::SoapResponse {
        service_type: "urn:schemas-upnp-org:service:WANIPConnection:2".into(),
        action: "GetListOfPortMappings".into(),
        args: vec![("NewPortListing".into(), String::from_utf8(out).unwrap())],
    };
    let mut env = Vec::new();
    resp.emit(&mut env);
    let back = crate::soap::SoapResponse::parse(&env).unwrap();
    let listing = back.arg("NewPortListing").unwrap();
    assert_eq!(PortMappingList::parse(listing.as_bytes()).unwrap(), l);
}

#[test]
fn port_mapping_list_errors() {
    let bad_port = PORT_LIST.replace(">2345<", ">65536<");
    assert_eq!(
        PortMappingList::parse(bad_port.as_bytes()),
        Err(DecodeError::invalid("NewExternalPort", "out of range"))
    );
    let neg = PORT_LIST.replace(">2346<", ">-1<");
    assert_eq!(
        PortMappingList::parse(neg.as_bytes()),
        Err(DecodeError::invalid("NewInternalPort", "not a number"))
    );
    let en = PORT_LIST.replace("<p:NewEnabled>1", "<p:NewEnabled>maybe");
    assert_eq!(
        PortMappingList::parse(en.as_bytes()),
        Err(DecodeError::invalid("NewEnabled", "not a boolean"))
    );
    assert!(PortMappingList::parse(b"<p:Other xmlns:p=\"x\"/>").is_err());
    let empty = PortMappingList::parse(
        b"<p:PortMappingList xmlns:p=\"urn:schemas-upnp-org:gw:WANIPConnection\"/>",
    )
    .unwrap();
    assert!(empty.entries.is_empty());
    let entry = "<PortMappingEntry><NewExternalPort>1</NewExternalPort><NewProtocol>UDP</NewProtocol><NewInternalPort>1</NewInternalPort></PortMappingEntry>";
    let many = format!(
        "<PortMappingList>{}</PortMappingList>",
        entry.repeat(MAX_PORT_LISTING_ENTRIES + 1)
    );
    assert!(matches!(
        PortMappingList::parse(many.as_bytes()),
        Err(DecodeError::TooMany { .. })
    ));
    assert_eq!(parse_upnp_bool(" yes "), Some(true));
    assert_eq!(parse_upnp_bool("False"), Some(false));
    assert_eq!(parse_upnp_bool("2"), None);
}

fn xml_string(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("\\PC{{0,{max}}}"))
        .unwrap()
        .prop_map(|s| s.chars().filter(|c| crate::xml::is_xml_char(*c)).collect())
}

fn entry() -> impl Strategy<Value = PortMappingEntry> {
    (
        (
            "[0-9.]{0,15}",
            any::<u16>(),
            prop_oneof![Just("TCP"), Just("UDP")],
        ),
        (
            any::<u16>(),
            "[0-9.]{0,15}",
            any::<bool>(),
            xml_string(40),
            any::<u32>(),
        ),
    )
        .prop_map(
            |(
                (remote_host, external_port, protocol),
                (internal_port, internal_client, enabled, description, lease_time),
            )| {
                PortMappingEntry {
                    remote_host,
                    external_port,
                    protocol: protocol.into(),
                    internal_port,
                    internal_client,
                    enabled,
                    description,
                    lease_time,
                }
            },
        )
}

proptest! {
    #[test]
    fn port_mapping_list_round_trip(entries in proptest::collection::vec(entry(), 0..20)) {
        let l = PortMappingList { entries };
        let mut out = Vec::new();
        l.emit(&mut out);
        prop_assert_eq!(PortMappingList::parse(&out)?, l);
    }

    #[test]
    fn generated_descriptions_reparse(
        v2 in any::<bool>(),
        ipv6 in any::<bool>(),
        uuid in "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        friendly_name in xml_string(30),
        manufacturer in xml_string(30),
        model_number in xml_string(10),
        config_id in 0u32..16_777_216,
        host in prop_oneof![Just("10.0.0.1:5000"), Just("[fe80::1%25eth0]:5000"), Just("[2001:db8::1]:80")],
    ) {
        let cfg = IgdConfig {
            version: if v2 { IgdVersion::V2 } else { IgdVersion::V1 },
            ipv6_firewall: ipv6,
            uuids: derive_uuids(&uuid),
            friendly_name: friendly_name.trim().to_string(),
            manufacturer: manufacturer.trim().to_string(),
            model_number: model_number.trim().to_string(),
            config_id,
            ..IgdConfig::default()
        };
        let mut out = Vec::new();
        cfg.emit_description(&mut out);
        let location = format!("http://{host}/rootDesc.xml");
        let d = DeviceDescription::parse(&out, &location)?;
        prop_assert_eq!(d.config_id, Some(config_id));
        prop_assert_eq!(&d.root.friendly_name, &cfg.friendly_name);
        prop_assert_eq!(&d.root.manufacturer, &cfg.manufacturer);
        prop_assert_eq!(&d.root.model_number, &cfg.model_number);
        let udns: Vec<String> = d.devices().iter().map(|x| x.udn.clone()).collect();
        let want: Vec<String> = cfg.uuids.iter().map(|u| format!("uuid:{u}")).collect();
        prop_assert_eq!(udns, want);
        let mut expected = vec![IgdService::Layer3Forwarding, IgdService::WanCommonInterfaceConfig];
        expected.extend_from_slice(cfg.connection_services());
        let services = d.services();
        prop_assert_eq!(services.len(), expected.len());
        for (s, e) in services.iter().zip(expected) {
            prop_assert_eq!(&s.service_type, &e.spec().service_type(e.version(cfg.version)));
            prop_assert_eq!(&s.service_id, e.service_id());
            prop_assert_eq!(&s.control_url, &format!("http://{host}{}", e.paths().control));
            prop_assert_eq!(&s.event_sub_url, &format!("http://{host}{}", e.paths().event));
            prop_assert_eq!(&s.scpd_url, &format!("http://{host}{}", e.paths().scpd));
        }
        let best = d.find_wan_connection().unwrap();
        prop_assert_eq!(best.version, cfg.version.number());
        prop_assert_eq!(best.control_url, format!("http://{host}{}", WAN_IPC_PATHS.control));
    }

    #[test]
    fn garbage_descriptions_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = DeviceDescription::parse(&bytes, LOC);
        let _ = PortMappingList::parse(&bytes);
    }
}
