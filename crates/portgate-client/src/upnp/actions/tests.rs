//! Canned SOAP answers. None is a capture: each is constructed to mimic the shape of
//! a router family's answer (namespace prefixes, whitespace, status codes).

use super::*;
use crate::upnp::Igd;
use portgate_proto::http::ResponseHead;

const ST: &str = "urn:schemas-upnp-org:service:WANIPConnection:2";

fn resp(status: u16, body: &str) -> HttpResponse {
    HttpResponse {
        head: ResponseHead::new(status),
        body: body.as_bytes().to_vec(),
    }
}

fn envelope(inner: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>{inner}</s:Body></s:Envelope>\r\n"
    )
}

// Constructed to mimic miniupnpd's answer layout.
#[test]
fn external_ip_miniupnpd_shape() {
    let body = envelope(&format!(
        "<u:GetExternalIPAddressResponse xmlns:u=\"{ST}\"><NewExternalIPAddress>192.0.1.1</NewExternalIPAddress></u:GetExternalIPAddressResponse>"
    ));
    let c = get_external_ip_address(ST);
    assert_eq!(
        c.finish(&resp(200, &body)).expect("ok"),
        "192.0.1.1".parse().ok()
    );
}

// Constructed to mimic a consumer router that uses the SOAP-ENV prefix, an "m" action
// prefix, pretty-printed whitespace, and an empty address while disconnected.
#[test]
fn external_ip_empty_when_disconnected_other_prefixes() {
    let body = "<?xml version=\"1.0\"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\">\n  <SOAP-ENV:Body>\n    <m:GetExternalIPAddressResponse xmlns:m=\"urn:schemas-upnp-org:service:WANIPConnection:1\">\n      <NewExternalIPAddress></NewExternalIPAddress>\n    </m:GetExternalIPAddressResponse>\n  </SOAP-ENV:Body>\n</SOAP-ENV:Envelope>\n";
    let c = get_external_ip_address("urn:schemas-upnp-org:service:WANIPConnection:1");
    assert_eq!(c.finish(&resp(200, body)).expect("ok"), None);
}

#[test]
fn status_info_and_counters() {
    let body = envelope(&format!(
        "<u:GetStatusInfoResponse xmlns:u=\"{ST}\"><NewConnectionStatus>Connected</NewConnectionStatus><NewLastConnectionError>ERROR_NONE</NewLastConnectionError><NewUptime>4242</NewUptime></u:GetStatusInfoResponse>"
    ));
    let s = get_status_info(ST).finish(&resp(200, &body)).expect("ok");
    assert!(s.is_connected());
    assert_eq!(s.uptime, 4242);
    // Some routers report counters past 2^32 (ui4 in the spec): accepted.
    let body = envelope(&format!(
        "<u:GetTotalBytesSentResponse xmlns:u=\"{WAN_COMMON_IFC}\"><NewTotalBytesSent>8589934592</NewTotalBytesSent></u:GetTotalBytesSentResponse>"
    ));
    assert_eq!(
        get_total(Counter::BytesSent)
            .finish(&resp(200, &body))
            .expect("ok"),
        1 << 33
    );
}

fn fault(code: u16, desc: &str) -> String {
    envelope(&format!(
        "<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>\
         <UPnPError xmlns=\"urn:schemas-upnp-org:control-1-0\"><errorCode>{code}</errorCode>\
         <errorDescription>{desc}</errorDescription></UPnPError></detail></s:Fault>"
    ))
}

fn request() -> PortMappingRequest {
    PortMappingRequest {
        remote_host: None,
        external_port: 40000,
        protocol: Protocol::Tcp,
        internal_port: 22,
        internal_client: "10.0.0.2".parse().expect("ip"),
        enabled: true,
        description: "t".into(),
        lease: 3600,
    }
}

#[test]
fn faults_carry_the_upnp_code() {
    let c = add_port_mapping(ST, &request());
    for (code, desc) in [
        (718, "ConflictInMappingEntry"),
        (725, "OnlyPermanentLeasesSupported"),
        (606, "Action not authorized"),
    ] {
        match c.finish(&resp(500, &fault(code, desc))) {
            Err(e @ ClientError::Upnp { .. }) => assert_eq!(e.upnp_code(), Some(code)),
            other => panic!("unexpected {other:?}"),
        }
    }
    // A fault sent with status 200 (seen on some IGD:1 stacks) is still a fault.
    let r = c.finish(&resp(200, &fault(402, "Invalid Args")));
    assert_eq!(r.err().and_then(|e| e.upnp_code()), Some(402));
    // Unknown vendor codes are kept.
    let r = c.finish(&resp(500, &fault(899, "Vendor")));
    assert_eq!(r.err().and_then(|e| e.upnp_code()), Some(899));
}

#[test]
fn wrong_or_malformed_answers_are_typed_errors() {
    let c = add_port_mapping(ST, &request());
    // 500 with an HTML page, not a fault
    assert!(matches!(
        c.finish(&resp(500, "<html>oops</html>")),
        Err(ClientError::HttpStatus(500))
    ));
    // 200 with truncated XML
    let body = envelope("<u:AddPortMappingResponse xmlns:u=\"x\"/>");
    assert!(matches!(
        c.finish(&resp(200, &body[..body.len() / 2])),
        Err(ClientError::Decode(_))
    ));
    // the answer to another action
    let other = envelope(&format!("<u:DeletePortMappingResponse xmlns:u=\"{ST}\"/>"));
    assert!(matches!(
        c.finish(&resp(200, &other)),
        Err(ClientError::BadReply(_))
    ));
    // a fault without an error code
    let bad = envelope(
        "<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring></s:Fault>",
    );
    assert!(c.finish(&resp(500, &bad)).is_err());
    // entity expansion attempts are refused, not expanded
    let laughs = "<?xml version=\"1.0\"?><!DOCTYPE s [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><u:GetExternalIPAddressResponse xmlns:u=\"x\"><NewExternalIPAddress>&b;</NewExternalIPAddress></u:GetExternalIPAddressResponse></s:Body></s:Envelope>";
    assert!(get_external_ip_address(ST)
        .finish(&resp(200, laughs))
        .is_err());
    // garbage in a typed field
    let body = envelope(&format!(
        "<u:AddAnyPortMappingResponse xmlns:u=\"{ST}\"><NewReservedPort>80abc</NewReservedPort></u:AddAnyPortMappingResponse>"
    ));
    assert!(matches!(
        add_any_port_mapping(ST, &request()).finish(&resp(200, &body)),
        Err(ClientError::BadReply("NewReservedPort"))
    ));
    let body = envelope(&format!(
        "<u:GetExternalIPAddressResponse xmlns:u=\"{ST}\"><NewExternalIPAddress>router.example</NewExternalIPAddress></u:GetExternalIPAddressResponse>"
    ));
    assert!(get_external_ip_address(ST)
        .finish(&resp(200, &body))
        .is_err());
}

#[test]
fn requests_carry_the_arguments_in_order() {
    let c = add_port_mapping(ST, &request());
    let names: Vec<&str> = c.request.args.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "NewRemoteHost",
            "NewExternalPort",
            "NewProtocol",
            "NewInternalPort",
            "NewInternalClient",
            "NewEnabled",
            "NewPortMappingDescription",
            "NewLeaseDuration"
        ]
    );
    let url = portgate_proto::http::HttpUrl::parse("http://10.0.0.1:5000/ctl/IPConn").expect("url");
    let x = c.exchange(&url).expect("exchange");
    let text = String::from_utf8_lossy(x.request()).into_owned();
    assert!(text.starts_with("POST /ctl/IPConn HTTP/1.1\r\n"), "{text}");
    assert!(
        text.contains(&format!("SOAPAction: \"{ST}#AddPortMapping\"")),
        "{text}"
    );
    assert!(
        text.contains("<NewExternalPort>40000</NewExternalPort>"),
        "{text}"
    );
}

#[test]
fn generic_entry_and_list() {
    let body = envelope(&format!(
        "<u:GetGenericPortMappingEntryResponse xmlns:u=\"{ST}\"><NewRemoteHost></NewRemoteHost><NewExternalPort>40000</NewExternalPort><NewProtocol>TCP</NewProtocol><NewInternalPort>22</NewInternalPort><NewInternalClient>10.0.0.2</NewInternalClient><NewEnabled>1</NewEnabled><NewPortMappingDescription>ssh</NewPortMappingDescription><NewLeaseDuration>3550</NewLeaseDuration></u:GetGenericPortMappingEntryResponse>"
    ));
    let e = get_generic_port_mapping_entry(ST, 0)
        .finish(&resp(200, &body))
        .expect("ok");
    assert_eq!(
        (
            e.external_port,
            e.internal_port,
            e.lease_time,
            e.description.as_str()
        ),
        (40000, 22, 3550, "ssh")
    );
    let listing = "&lt;?xml version=&quot;1.0&quot; encoding=&quot;UTF-8&quot;?&gt;&lt;p:PortMappingList xmlns:p=&quot;urn:schemas-upnp-org:gw:WANIPConnection&quot;&gt;&lt;p:PortMappingEntry&gt;&lt;p:NewRemoteHost&gt;&lt;/p:NewRemoteHost&gt;&lt;p:NewExternalPort&gt;40000&lt;/p:NewExternalPort&gt;&lt;p:NewProtocol&gt;TCP&lt;/p:NewProtocol&gt;&lt;p:NewInternalPort&gt;22&lt;/p:NewInternalPort&gt;&lt;p:NewInternalClient&gt;10.0.0.2&lt;/p:NewInternalClient&gt;&lt;p:NewEnabled&gt;1&lt;/p:NewEnabled&gt;&lt;p:NewDescription&gt;ssh&lt;/p:NewDescription&gt;&lt;p:NewLeaseTime&gt;3550&lt;/p:NewLeaseTime&gt;&lt;/p:PortMappingEntry&gt;&lt;/p:PortMappingList&gt;";
    let body = envelope(&format!(
        "<u:GetListOfPortMappingsResponse xmlns:u=\"{ST}\"><NewPortListing>{listing}</NewPortListing></u:GetListOfPortMappingsResponse>"
    ));
    let l = get_list_of_port_mappings(ST, 1, 65535, Protocol::Tcp, false, 100)
        .finish(&resp(200, &body))
        .expect("ok");
    assert_eq!(l.entries.len(), 1);
    assert_eq!(l.entries[0].internal_client, "10.0.0.2");
}

// Constructed to mimic an IGD:1 router description with relative control URLs, a
// URLBase, and both a WANPPPConnection and a WANIPConnection.
const IGD1_DESC: &str = r#"<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>0</minor></specVersion>
<URLBase>http://192.168.1.1:49152/</URLBase>
<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType><friendlyName>Router</friendlyName>
<manufacturer>Example</manufacturer><modelName>R1</modelName><UDN>uuid:1</UDN>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType><serviceId>urn:upnp-org:serviceId:L3Forwarding1</serviceId><SCPDURL>/l3f.xml</SCPDURL><controlURL>/upnp/control/L3F</controlURL><eventSubURL>/e/l3f</eventSubURL></service></serviceList>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType><friendlyName>WAN</friendlyName><manufacturer>Example</manufacturer><modelName>R1</modelName><UDN>uuid:2</UDN>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1</serviceType><serviceId>urn:upnp-org:serviceId:WANCommonIFC1</serviceId><SCPDURL>/ifc.xml</SCPDURL><controlURL>/upnp/control/IFC</controlURL><eventSubURL>/e/ifc</eventSubURL></service></serviceList>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType><friendlyName>Conn</friendlyName><manufacturer>Example</manufacturer><modelName>R1</modelName><UDN>uuid:3</UDN>
<serviceList>
<service><serviceType>urn:schemas-upnp-org:service:WANPPPConnection:1</serviceType><serviceId>urn:upnp-org:serviceId:WANPPPConn1</serviceId><SCPDURL>/ppp.xml</SCPDURL><controlURL>/upnp/control/PPP</controlURL><eventSubURL>/e/ppp</eventSubURL></service>
<service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId><SCPDURL>/ip.xml</SCPDURL><controlURL>/upnp/control/IP</controlURL><eventSubURL>/e/ip</eventSubURL></service>
</serviceList></device></deviceList></device></deviceList></device></root>"#;

#[test]
fn igd_from_description_picks_ip_over_ppp_and_routes_calls() {
    let igd = Igd::from_description("http://192.168.1.1:49152/desc.xml", IGD1_DESC.as_bytes())
        .expect("igd");
    assert_eq!(
        igd.service_type(),
        "urn:schemas-upnp-org:service:WANIPConnection:1"
    );
    assert!(!igd.is_igd2());
    let ctl = |c: &str| c.to_string();
    assert_eq!(
        igd.control_url(&get_status_info(igd.service_type()))
            .expect("url")
            .path,
        ctl("/upnp/control/IP")
    );
    assert_eq!(
        igd.control_url(&get_common_link_properties())
            .expect("url")
            .path,
        ctl("/upnp/control/IFC")
    );
    assert_eq!(
        igd.control_url(&get_default_connection_service())
            .expect("url")
            .path,
        ctl("/upnp/control/L3F")
    );
    assert_eq!(igd.address(), "192.168.1.1".parse().ok());
}

#[test]
fn bad_descriptions_are_typed_errors() {
    let loc = "http://10.0.0.1/d.xml";
    assert!(matches!(
        Igd::from_description(loc, b"<root><device>"),
        Err(ClientError::Decode(_))
    ));
    assert!(Igd::from_description(loc, &[0xff; 100]).is_err());
    let deep = "<a>".repeat(10_000);
    assert!(Igd::from_description(loc, deep.as_bytes()).is_err());
    // well-formed but no WAN connection service
    let printer = IGD1_DESC
        .replace("WANPPPConnection", "Printer")
        .replace("WANIPConnection", "Scanner");
    assert!(matches!(
        Igd::from_description(loc, printer.as_bytes()),
        Err(ClientError::NoIgd)
    ));
}

#[test]
fn ranking_prefers_connected_public_and_ipv2() {
    let igd = Igd::from_description("http://192.168.1.1:49152/desc.xml", IGD1_DESC.as_bytes())
        .expect("igd");
    let up = StatusInfo {
        connection_status: "Connected".into(),
        last_connection_error: String::new(),
        uptime: 1,
    };
    let public = "192.0.1.1".parse().ok();
    let private = "10.1.1.1".parse().ok();
    let cgn = "100.64.0.9".parse().ok();
    assert!(
        crate::upnp::rank(&igd, Some(&up), public) > crate::upnp::rank(&igd, Some(&up), private)
    );
    assert!(crate::upnp::rank(&igd, Some(&up), cgn) < crate::upnp::rank(&igd, Some(&up), public));
    assert!(crate::upnp::rank(&igd, Some(&up), private) > crate::upnp::rank(&igd, None, public));
}
