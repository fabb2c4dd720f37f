//! SOAP dispatch against a real [`crate::gateway::Gateway`] over a
//! `portgate_nft::MemoryFirewall`. Envelopes are built with the proto crate's
//! encoder (UDA 1.1 §3.2.1 layout); none is a capture.

use super::*;
use crate::gateway::{Gateway, GatewaySettings, LanNet, SharedGateway};
use crate::rules::{Rule, RuleSet};
use crate::table::TableLimits;
use crate::upnp::backend::GatewayBackend;
use portgate_nft::MemoryFirewall;
use portgate_proto::soap::ControlResponse;

const EXT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const GW: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const A: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const B: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 3);

struct Fixture {
    gw: SharedGateway,
    be: GatewayBackend,
    settings: SoapSettings,
}

fn fixture_with(secure: bool, external: Option<Ipv4Addr>) -> Fixture {
    let mut rules = RuleSet::new();
    if let Ok(r) = Rule::parse("deny 22 0.0.0.0/0 0-65535") {
        rules.push(r);
    }
    let settings = GatewaySettings {
        limits: TableLimits {
            secure_mode: secure,
            max_per_client: 64,
            max_total: 1000,
        },
        rules,
        allow_private_external: true,
        min_lifetime: 120,
        max_lifetime: 86_400,
        pcp_allow_thirdparty: false,
        lease_file: None,
        cgn: None,
        natpmp: true,
        request_rate: 0,
        lan: vec![LanNet {
            addr: GW,
            prefix: 24,
        }],
        timers: Default::default(),
    };
    let now = crate::run::unix_now();
    let (gw, _) =
        Gateway::start(settings, Box::new(MemoryFirewall::new()), external, now).expect("gateway");
    let gw = gw.into_shared();
    Fixture {
        be: GatewayBackend::new(gw.clone(), None, 1_000_000, 2_000_000),
        gw,
        settings: SoapSettings {
            secure_mode: secure,
            list_max_entries: 1000,
            device_version: IgdVersion::V1,
            now,
        },
    }
}

fn fixture() -> Fixture {
    fixture_with(true, Some(EXT))
}

const IPC1: &str = "urn:schemas-upnp-org:service:WANIPConnection:1";
const IPC2: &str = "urn:schemas-upnp-org:service:WANIPConnection:2";

impl Fixture {
    fn call_raw(
        &mut self,
        service: IgdService,
        soapaction: Option<&str>,
        body: &[u8],
        from: Ipv4Addr,
    ) -> SoapOutcome {
        handle(
            service,
            soapaction,
            body,
            from,
            SoapSettings {
                now: crate::clock::now(),
                ..self.settings
            },
            "wcd-uuid",
            &mut self.be,
        )
    }

    fn call(
        &mut self,
        st: &str,
        action: &str,
        args: &[(&str, &str)],
        from: Ipv4Addr,
    ) -> SoapOutcome {
        let req = SoapRequest {
            service_type: st.to_owned(),
            action: action.to_owned(),
            args: args
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        };
        let mut body = Vec::new();
        req.emit(&mut body);
        let service = if st.contains("WANIPConnection") {
            IgdService::WanIpConnection
        } else if st.contains("WANCommonInterfaceConfig") {
            IgdService::WanCommonInterfaceConfig
        } else {
            IgdService::Layer3Forwarding
        };
        let sa = format!("\"{st}#{action}\"");
        self.call_raw(service, Some(&sa), &body, from)
    }

    fn add(
        &mut self,
        st: &str,
        eport: &str,
        client: &str,
        iport: &str,
        from: Ipv4Addr,
    ) -> SoapOutcome {
        self.call(
            st,
            "AddPortMapping",
            &[
                ("NewRemoteHost", ""),
                ("NewExternalPort", eport),
                ("NewProtocol", "TCP"),
                ("NewInternalPort", iport),
                ("NewInternalClient", client),
                ("NewEnabled", "1"),
                ("NewPortMappingDescription", "test"),
                ("NewLeaseDuration", "0"),
            ],
            from,
        )
    }

    fn kernel_ports(&self) -> Vec<u16> {
        let mut gw = self.gw.borrow_mut();
        let mut v: Vec<u16> = gw
            .firewall()
            .list()
            .unwrap_or_default()
            .iter()
            .map(|e| e.mapping.key.external_port)
            .collect();
        v.sort_unstable();
        v
    }
}

fn ok_args(o: &SoapOutcome) -> Vec<(String, String)> {
    assert_eq!(o.status, 200, "expected success, got {:?}", o.error);
    match ControlResponse::parse(&o.body) {
        Ok(ControlResponse::Ok(r)) => r.args,
        other => panic!("not a response: {other:?}"),
    }
}

fn arg(o: &SoapOutcome, name: &str) -> String {
    ok_args(o)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {name}"))
}

fn code(o: &SoapOutcome) -> u16 {
    assert_eq!(o.status, 500);
    match ControlResponse::parse(&o.body) {
        Ok(ControlResponse::Fault(f)) => {
            assert_eq!(Some(f.code.code()), o.error);
            f.code.code()
        }
        other => panic!("not a fault: {other:?}"),
    }
}

#[test]
fn add_get_delete_reaches_the_firewall() {
    let mut f = fixture();
    let o = f.add(IPC1, "9000", "10.77.0.2", "8080", A);
    ok_args(&o);
    assert!(o.changed);
    assert_eq!(f.kernel_ports(), vec![9000]);
    let g = f.call(
        IPC1,
        "GetGenericPortMappingEntry",
        &[("NewPortMappingIndex", "0")],
        A,
    );
    assert_eq!(arg(&g, "NewExternalPort"), "9000");
    assert_eq!(arg(&g, "NewInternalClient"), "10.77.0.2");
    assert_eq!(arg(&g, "NewInternalPort"), "8080");
    assert_eq!(arg(&g, "NewProtocol"), "TCP");
    assert_eq!(
        arg(&g, "NewLeaseDuration"),
        "0",
        "IGD:1 lease 0 is permanent"
    );
    let s = f.call(
        IPC1,
        "GetSpecificPortMappingEntry",
        &[
            ("NewRemoteHost", ""),
            ("NewExternalPort", "9000"),
            ("NewProtocol", "TCP"),
        ],
        A,
    );
    assert_eq!(arg(&s, "NewInternalPort"), "8080");
    assert_eq!(arg(&s, "NewPortMappingDescription"), "test");
    let d = f.call(
        IPC1,
        "DeletePortMapping",
        &[
            ("NewRemoteHost", ""),
            ("NewExternalPort", "9000"),
            ("NewProtocol", "TCP"),
        ],
        A,
    );
    ok_args(&d);
    assert!(f.kernel_ports().is_empty());
    let d2 = f.call(
        IPC1,
        "DeletePortMapping",
        &[
            ("NewRemoteHost", ""),
            ("NewExternalPort", "9000"),
            ("NewProtocol", "TCP"),
        ],
        A,
    );
    assert_eq!(code(&d2), 714);
    let s2 = f.call(
        IPC1,
        "GetSpecificPortMappingEntry",
        &[
            ("NewRemoteHost", ""),
            ("NewExternalPort", "9000"),
            ("NewProtocol", "TCP"),
        ],
        A,
    );
    assert_eq!(code(&s2), 714);
}

#[test]
fn readd_refreshes_other_client_conflicts() {
    let mut f = fixture();
    ok_args(&f.add(IPC1, "9000", "10.77.0.2", "8080", A));
    ok_args(&f.add(IPC1, "9000", "10.77.0.2", "8081", A));
    let s = f.call(
        IPC1,
        "GetSpecificPortMappingEntry",
        &[
            ("NewRemoteHost", ""),
            ("NewExternalPort", "9000"),
            ("NewProtocol", "TCP"),
        ],
        A,
    );
    assert_eq!(arg(&s, "NewInternalPort"), "8081");
    assert_eq!(code(&f.add(IPC1, "9000", "10.77.0.3", "8080", B)), 718);
}

#[test]
fn empty_internal_client_is_the_requester() {
    let mut f = fixture();
    ok_args(&f.add(IPC1, "9001", "", "80", B));
    let g = f.call(
        IPC1,
        "GetGenericPortMappingEntry",
        &[("NewPortMappingIndex", "0")],
        B,
    );
    assert_eq!(arg(&g, "NewInternalClient"), "10.77.0.3");
}

#[test]
fn secure_mode_codes_follow_the_version() {
    let mut f = fixture();
    assert_eq!(code(&f.add(IPC1, "9000", "10.77.0.3", "80", A)), 718);
    assert_eq!(code(&f.add(IPC2, "9000", "10.77.0.3", "80", A)), 606);
    ok_args(&f.add(IPC1, "9000", "10.77.0.2", "80", A));
    let args = [
        ("NewRemoteHost", ""),
        ("NewExternalPort", "9000"),
        ("NewProtocol", "TCP"),
    ];
    assert_eq!(code(&f.call(IPC1, "DeletePortMapping", &args, B)), 714);
    assert_eq!(code(&f.call(IPC2, "DeletePortMapping", &args, B)), 606);
    assert_eq!(
        f.kernel_ports(),
        vec![9000],
        "not deleted by another client"
    );
}

#[test]
fn secure_mode_off_allows_third_party() {
    let mut f = fixture_with(false, Some(EXT));
    ok_args(&f.add(IPC1, "9000", "10.77.0.3", "80", A));
}

#[test]
fn deny_rule_is_718_or_606() {
    let mut f = fixture();
    assert_eq!(code(&f.add(IPC1, "22", "", "22", A)), 718);
    assert_eq!(code(&f.add(IPC2, "22", "", "22", A)), 606);
    assert!(f.kernel_ports().is_empty());
}

#[test]
fn strict_ports() {
    let mut f = fixture();
    for bad in ["80abc", "-1", "65536", " 80", "+80", "0x50", "99999999999"] {
        assert_eq!(
            code(&f.add(IPC1, bad, "", "80", A)),
            402,
            "external {bad:?}"
        );
        assert_eq!(
            code(&f.add(IPC1, "9000", "", bad, A)),
            402,
            "internal {bad:?}"
        );
    }
    assert_eq!(code(&f.add(IPC1, "9000", "", "0", A)), 402);
    for wild in ["0", "*", ""] {
        assert_eq!(
            code(&f.add(IPC1, wild, "", "80", A)),
            716,
            "external {wild:?}"
        );
    }
    assert!(f.kernel_ports().is_empty());
}

#[test]
fn bad_internal_clients() {
    let mut f = fixture_with(false, Some(EXT));
    for bad in [
        "router.lan",
        "0.0.0.0",
        "255.255.255.255",
        "127.0.0.1",
        "224.0.0.1",
        "10.77.0",
    ] {
        assert_eq!(code(&f.add(IPC1, "9000", bad, "80", A)), 402, "{bad}");
    }
    assert_eq!(
        code(&f.add(IPC1, "9000", "10.77.0.1", "80", A)),
        606,
        "the gateway"
    );
}

#[test]
fn bad_protocol_lease_and_missing_args() {
    let mut f = fixture();
    let mut args = vec![
        ("NewRemoteHost", ""),
        ("NewExternalPort", "9000"),
        ("NewProtocol", "ICMP"),
        ("NewInternalPort", "80"),
        ("NewInternalClient", ""),
        ("NewEnabled", "1"),
        ("NewPortMappingDescription", "x"),
        ("NewLeaseDuration", "0"),
    ];
    assert_eq!(code(&f.call(IPC1, "AddPortMapping", &args, A)), 402);
    args[2].1 = "UDP";
    args[7].1 = "soon";
    assert_eq!(code(&f.call(IPC1, "AddPortMapping", &args, A)), 402);
    args[7].1 = "3600";
    args[5].1 = "maybe";
    assert_eq!(code(&f.call(IPC1, "AddPortMapping", &args, A)), 402);
    args[5].1 = "1";
    let missing: Vec<_> = args
        .iter()
        .copied()
        .filter(|(n, _)| *n != "NewInternalPort")
        .collect();
    assert_eq!(code(&f.call(IPC1, "AddPortMapping", &missing, A)), 402);
    ok_args(&f.call(IPC1, "AddPortMapping", &args, A));
    let g = f.call(IPC1, "GetGenericPortMappingEntry", &[], A);
    assert_eq!(code(&g), 402);
}

#[test]
fn generic_index_out_of_range_is_713() {
    let mut f = fixture();
    ok_args(&f.add(IPC1, "9000", "", "80", A));
    for idx in ["1", "2147483648", "18446744073709551616", "-1", "abc"] {
        let o = f.call(
            IPC1,
            "GetGenericPortMappingEntry",
            &[("NewPortMappingIndex", idx)],
            A,
        );
        assert_eq!(code(&o), 713, "{idx}");
    }
}

#[test]
fn soapaction_must_name_the_control_urls_service() {
    let mut f = fixture();
    let mut body = Vec::new();
    SoapRequest {
        service_type: IPC1.into(),
        action: "GetExternalIPAddress".into(),
        args: vec![],
    }
    .emit(&mut body);
    let svc = IgdService::WanIpConnection;
    let good = format!("\"{IPC1}#GetExternalIPAddress\"");
    assert_eq!(
        arg(
            &f.call_raw(svc, Some(&good), &body, A),
            "NewExternalIPAddress"
        ),
        "203.0.113.1"
    );
    // Unquoted is tolerated.
    ok_args(&f.call_raw(svc, Some(&format!("{IPC1}#GetExternalIPAddress")), &body, A));
    let long = format!("\"{}#GetExternalIPAddress\"", "x".repeat(2048));
    for bad in [
        None,
        Some("\""),
        Some("\"urn:schemas-upnp-org:service:WANIPConnection:1\""),
        Some(long.as_str()),
        Some("\"urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1#GetExternalIPAddress\""),
        Some("\"urn:schemas-upnp-org:service:WANIPConnection:3#GetExternalIPAddress\""),
        Some("\"urn:schemas-upnp-org:service:WANIPConnection:1#NoSuchAction\""),
    ] {
        assert_eq!(code(&f.call_raw(svc, bad, &body, A)), 401, "{bad:?}");
    }
    // Header and body naming different actions.
    let other = format!("\"{IPC1}#GetStatusInfo\"");
    assert_eq!(code(&f.call_raw(svc, Some(&other), &body, A)), 401);
}

#[test]
fn hostile_xml_is_402() {
    let mut f = fixture();
    let svc = IgdService::WanIpConnection;
    let sa = format!("\"{IPC1}#GetExternalIPAddress\"");
    let deep = "<a>".repeat(10_000);
    let laughs = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;\">]><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>&lol2;</s:Body></s:Envelope>";
    for body in [
        &b"<s:Envelope"[..],
        deep.as_bytes(),
        laughs.as_bytes(),
        b"",
        b"\x00\xff",
    ] {
        assert_eq!(code(&f.call_raw(svc, Some(&sa), body, A)), 402);
    }
}

#[test]
fn range_actions() {
    let mut f = fixture();
    ok_args(&f.add(IPC1, "9000", "", "80", A));
    ok_args(&f.add(IPC1, "9001", "", "80", A));
    let range = |s: &'static str, e: &'static str| {
        vec![
            ("NewStartPort", s),
            ("NewEndPort", e),
            ("NewProtocol", "TCP"),
            ("NewManage", "1"),
            ("NewNumberOfPorts", "0"),
        ]
    };
    assert_eq!(
        code(&f.call(IPC2, "GetListOfPortMappings", &range("9001", "9000"), A)),
        733
    );
    assert_eq!(
        code(&f.call(
            IPC2,
            "DeletePortMappingRange",
            &range("9001", "9000")[..4],
            A
        )),
        733
    );
    assert_eq!(
        code(&f.call(IPC2, "GetListOfPortMappings", &range("1", "100"), A)),
        730
    );
    let l = f.call(IPC2, "GetListOfPortMappings", &range("1", "65535"), A);
    let listing = arg(&l, "NewPortListing");
    let parsed = PortMappingList::parse(listing.as_bytes()).expect("listing");
    assert_eq!(parsed.entries.len(), 2);
    assert_eq!(parsed.entries[0].external_port, 9000);
    // Another client deletes nothing in secure mode: 730.
    assert_eq!(
        code(&f.call(IPC2, "DeletePortMappingRange", &range("1", "65535")[..4], B)),
        730
    );
    ok_args(&f.call(IPC2, "DeletePortMappingRange", &range("1", "65535")[..4], A));
    assert!(f.kernel_ports().is_empty());
}

#[test]
fn add_any_picks_nearest_free() {
    let mut f = fixture();
    ok_args(&f.add(IPC1, "9000", "", "80", A));
    let args = |p: &'static str| {
        vec![
            ("NewRemoteHost", ""),
            ("NewExternalPort", p),
            ("NewProtocol", "TCP"),
            ("NewInternalPort", "81"),
            ("NewInternalClient", ""),
            ("NewEnabled", "1"),
            ("NewPortMappingDescription", "any"),
            ("NewLeaseDuration", "0"),
        ]
    };
    let o = f.call(IPC2, "AddAnyPortMapping", &args("9000"), B);
    assert_eq!(arg(&o, "NewReservedPort"), "9001");
    let o = f.call(IPC2, "AddAnyPortMapping", &args("9100"), B);
    assert_eq!(arg(&o, "NewReservedPort"), "9100");
    // IGD:2 lease: 0 means 604800.
    let s = f.call(
        IPC2,
        "GetSpecificPortMappingEntry",
        &[
            ("NewRemoteHost", ""),
            ("NewExternalPort", "9100"),
            ("NewProtocol", "TCP"),
        ],
        B,
    );
    let lease: u32 = arg(&s, "NewLeaseDuration").parse().unwrap_or(0);
    assert!((604_700..=604_800).contains(&lease), "{lease}");
    assert_eq!(f.kernel_ports(), vec![9000, 9001, 9100]);
}

#[test]
fn remote_host_is_kept_and_matched() {
    let mut f = fixture();
    let mut args = vec![
        ("NewRemoteHost", "198.51.100.7"),
        ("NewExternalPort", "9000"),
        ("NewProtocol", "UDP"),
        ("NewInternalPort", "80"),
        ("NewInternalClient", ""),
        ("NewEnabled", "1"),
        ("NewPortMappingDescription", "rh"),
        ("NewLeaseDuration", "3600"),
    ];
    ok_args(&f.call(IPC1, "AddPortMapping", &args, A));
    let g = f.call(
        IPC1,
        "GetGenericPortMappingEntry",
        &[("NewPortMappingIndex", "0")],
        A,
    );
    assert_eq!(arg(&g, "NewRemoteHost"), "198.51.100.7");
    let lease: u32 = arg(&g, "NewLeaseDuration").parse().unwrap_or(0);
    assert!((3500..=3600).contains(&lease));
    let spec = |rh| {
        vec![
            ("NewRemoteHost", rh),
            ("NewExternalPort", "9000"),
            ("NewProtocol", "UDP"),
        ]
    };
    assert_eq!(
        code(&f.call(
            IPC1,
            "GetSpecificPortMappingEntry",
            &spec("198.51.100.8"),
            A
        )),
        714
    );
    ok_args(&f.call(
        IPC1,
        "GetSpecificPortMappingEntry",
        &spec("198.51.100.7"),
        A,
    ));
    args[0].1 = "not-an-ip";
    assert_eq!(code(&f.call(IPC1, "AddPortMapping", &args, A)), 402);
}

#[test]
fn descriptions_are_sanitized() {
    let mut f = fixture();
    let long = format!("a\r\nb\u{1}{}", "x".repeat(100 * 1024));
    let args = [
        ("NewRemoteHost", ""),
        ("NewExternalPort", "9000"),
        ("NewProtocol", "TCP"),
        ("NewInternalPort", "80"),
        ("NewInternalClient", ""),
        ("NewEnabled", "1"),
        ("NewPortMappingDescription", long.as_str()),
        ("NewLeaseDuration", "0"),
    ];
    ok_args(&f.call(IPC1, "AddPortMapping", &args, A));
    let g = f.call(
        IPC1,
        "GetGenericPortMappingEntry",
        &[("NewPortMappingIndex", "0")],
        A,
    );
    let d = arg(&g, "NewPortMappingDescription");
    assert!(d.len() <= crate::table::DESCRIPTION_MAX);
    assert!(d.starts_with("a  b"), "{d:?}");
    assert!(!d.chars().any(char::is_control));
}

#[test]
fn fixed_answers() {
    let mut f = fixture();
    assert_eq!(code(&f.call(IPC1, "ForceTermination", &[], A)), 606);
    assert_eq!(code(&f.call(IPC1, "RequestConnection", &[], A)), 606);
    assert_eq!(
        code(&f.call(
            IPC1,
            "SetConnectionType",
            &[("NewConnectionType", "IP_Routed")],
            A
        )),
        731
    );
    let s = f.call(IPC1, "GetStatusInfo", &[], A);
    assert_eq!(arg(&s, "NewConnectionStatus"), "Connected");
    assert_eq!(arg(&s, "NewLastConnectionError"), "ERROR_NONE");
    let t = f.call(IPC1, "GetConnectionTypeInfo", &[], A);
    assert_eq!(arg(&t, "NewConnectionType"), "IP_Routed");
    let n = f.call(IPC1, "GetNATRSIPStatus", &[], A);
    assert_eq!(arg(&n, "NewNATEnabled"), "1");
    let cif = "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1";
    let c = f.call(cif, "GetCommonLinkProperties", &[], A);
    assert_eq!(arg(&c, "NewLayer1UpstreamMaxBitRate"), "1000000");
    assert_eq!(arg(&c, "NewWANAccessType"), "Ethernet");
    for a in [
        "GetTotalBytesSent",
        "GetTotalBytesReceived",
        "GetTotalPacketsSent",
        "GetTotalPacketsReceived",
    ] {
        let o = f.call(cif, a, &[], A);
        assert_eq!(ok_args(&o).len(), 1, "{a}");
    }
    let l3 = "urn:schemas-upnp-org:service:Layer3Forwarding:1";
    let d = f.call(l3, "GetDefaultConnectionService", &[], A);
    assert!(
        arg(&d, "NewDefaultConnectionService").starts_with("uuid:wcd-uuid:WANConnectionDevice:1,")
    );
}

#[test]
fn no_external_address_is_501() {
    let mut f = fixture_with(true, None);
    assert_eq!(code(&f.add(IPC1, "9000", "", "80", A)), 501);
    let s = f.call(IPC1, "GetStatusInfo", &[], A);
    assert_eq!(arg(&s, "NewConnectionStatus"), "Disconnected");
    let e = f.call(IPC1, "GetExternalIPAddress", &[], A);
    assert_eq!(arg(&e, "NewExternalIPAddress"), "");
}

#[test]
fn query_state_variable() {
    let mut f = fixture();
    ok_args(&f.add(IPC1, "9000", "", "80", A));
    let mut body = Vec::new();
    SoapRequest {
        service_type: "urn:schemas-upnp-org:control-1-0".into(),
        action: "QueryStateVariable".into(),
        args: vec![("varName".into(), "PortMappingNumberOfEntries".into())],
    }
    .emit(&mut body);
    let o = f.call_raw(
        IgdService::WanIpConnection,
        Some("\"urn:schemas-upnp-org:control-1-0#QueryStateVariable\""),
        &body,
        A,
    );
    assert_eq!(arg(&o, "return"), "1");
}

#[test]
fn igd2_device_lease_zero_is_the_maximum_even_for_a_v1_soapaction() {
    let mut f = fixture();
    f.settings.device_version = IgdVersion::V2;
    // A client that hardcodes WANIPConnection:1 against the IGD:2 device: lease 0
    // is WANIPConnection:2's maximum, as miniupnpd built with IGD:2 answers.
    ok_args(&f.add(IPC1, "9000", "", "80", A));
    let g = f.call(
        IPC1,
        "GetGenericPortMappingEntry",
        &[("NewPortMappingIndex", "0")],
        A,
    );
    let left: u32 = arg(&g, "NewLeaseDuration").parse().unwrap_or(0);
    assert!((604_790..=604_800).contains(&left), "{left}");
}

#[test]
fn layer3_names_the_connection_device_of_the_announced_version() {
    let mut f = fixture();
    f.settings.device_version = IgdVersion::V2;
    let l3 = "urn:schemas-upnp-org:service:Layer3Forwarding:1";
    let d = f.call(l3, "GetDefaultConnectionService", &[], A);
    let ours = arg(&d, "NewDefaultConnectionService");
    assert_eq!(
        ours,
        "uuid:wcd-uuid:WANConnectionDevice:2,urn:upnp-org:serviceId:WANIPConn1"
    );
    let set = f.call(
        l3,
        "SetDefaultConnectionService",
        &[("NewDefaultConnectionService", ours.as_str())],
        A,
    );
    ok_args(&set);
}

#[test]
fn link_bit_rates_past_ui4_report_the_largest_ui4() {
    let mut f = fixture();
    // A 10 Gbit/s rate (a veth or 10GbE WAN link) does not fit WANCommonInterfaceConfig's
    // ui4; without a WAN interface to read, an unconfigured rate is 0 (unknown).
    f.be = GatewayBackend::new(f.gw.clone(), None, 10_000_000_000, 0);
    let cif = "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1";
    let c = f.call(cif, "GetCommonLinkProperties", &[], A);
    assert_eq!(arg(&c, "NewLayer1UpstreamMaxBitRate"), "4294967295");
    assert_eq!(arg(&c, "NewLayer1DownstreamMaxBitRate"), "0");
}
