use super::*;
use crate::gateway::tests::{gateway, settings, SharedMem, NOW};
use crate::pinhole::{Lan6, PinholeSettings};
use portgate_nft::Firewall as _;
use wire::Filter;

const GW6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
const HOST: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
const PEER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 2);

pub(crate) fn setup() -> (Gateway, SharedMem, Pinholes) {
    let (mut gw, fw) = gateway(settings(None));
    let (p, _) = Pinholes::start(
        PinholeSettings {
            enabled: true,
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
    (gw, fw, p)
}

fn map_req(client: Ipv6Addr, proto: u8, port: u16, lifetime: u32, nonce: u8) -> wire::Request {
    wire::Request {
        lifetime,
        client_address: IpAddr::V6(client),
        data: OpData::Map(MapData {
            nonce: [nonce; 12],
            protocol: proto,
            internal_port: port,
            external_port: 0,
            external_address: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }),
        options: Vec::new(),
    }
}

fn send(req: &wire::Request, from: Ipv6Addr, gw: &mut Gateway, p: &mut Pinholes) -> Response {
    let out = handle6(&req.to_bytes(), from, NOW, gw, p).expect("a response");
    Response::parse(&out).expect("parses")
}

fn kernel(fw: &SharedMem) -> usize {
    fw.0.borrow_mut().list_pinholes().unwrap().len()
}

#[test]
fn map_opens_a_pinhole_without_translation_and_lifetime_0_closes_it() {
    let (mut gw, fw, mut p) = setup();
    let r = send(&map_req(HOST, 6, 8080, 3600, 1), HOST, &mut gw, &mut p);
    assert_eq!(r.result, ResultCode::Success);
    assert_eq!(r.lifetime, 3600);
    match r.data {
        OpData::Map(m) => {
            assert_eq!(m.external_address, IpAddr::V6(HOST));
            assert_eq!(m.external_port, 8080);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(kernel(&fw), 1);
    // Another nonce may not renew or delete it.
    let r = send(&map_req(HOST, 6, 8080, 0, 2), HOST, &mut gw, &mut p);
    assert_eq!(r.result, ResultCode::NotAuthorized);
    let r = send(&map_req(HOST, 6, 8080, 60, 2), HOST, &mut gw, &mut p);
    assert_eq!(r.result, ResultCode::NotAuthorized);
    let r = send(&map_req(HOST, 6, 8080, 0, 1), HOST, &mut gw, &mut p);
    assert_eq!(r.result, ResultCode::Success);
    assert_eq!(kernel(&fw), 0);
    // Deleting what is not there is a success (RFC 6887 §15).
    let r = send(&map_req(HOST, 6, 8080, 0, 1), HOST, &mut gw, &mut p);
    assert_eq!(r.result, ResultCode::Success);
}

#[test]
fn filter_restricts_the_remote_host() {
    let (mut gw, fw, mut p) = setup();
    let mut req = map_req(HOST, 17, 5000, 600, 3);
    req.options.push(PcpOption::Filter(Filter {
        prefix_length: 128,
        remote_peer_port: 0,
        remote_peer_address: IpAddr::V6(PEER),
    }));
    assert_eq!(
        send(&req, HOST, &mut gw, &mut p).result,
        ResultCode::Success
    );
    let pins = fw.0.borrow_mut().list_pinholes().unwrap();
    assert_eq!(pins[0].pinhole.key.remote, Some(PEER));
    let mut two = map_req(HOST, 17, 5001, 600, 3);
    for _ in 0..2 {
        two.options.push(PcpOption::Filter(Filter {
            prefix_length: 128,
            remote_peer_port: 0,
            remote_peer_address: IpAddr::V6(PEER),
        }));
    }
    assert_eq!(
        send(&two, HOST, &mut gw, &mut p).result,
        ResultCode::ExcessiveRemotePeers
    );
}

#[test]
fn hostile_requests() {
    let (mut gw, fw, mut p) = setup();
    // Client address field differs from the source.
    let r = send(&map_req(HOST, 6, 80, 60, 1), PEER, &mut gw, &mut p);
    assert_eq!(r.result, ResultCode::AddressMismatch);
    // A WAN / link-local / multicast source claiming itself.
    for bad in [PEER, "fe80::2".parse().unwrap(), "ff02::1".parse().unwrap()] {
        let r = send(&map_req(bad, 6, 80, 60, 1), bad, &mut gw, &mut p);
        assert_eq!(r.result, ResultCode::NotAuthorized, "{bad}");
    }
    let r = send(&map_req(HOST, 132, 80, 60, 1), HOST, &mut gw, &mut p);
    assert_eq!(r.result, ResultCode::UnsupportedProtocol);
    let r = send(&map_req(HOST, 6, 0, 60, 1), HOST, &mut gw, &mut p);
    assert_eq!(r.result, ResultCode::MalformedRequest);
    let mut tp = map_req(HOST, 6, 80, 60, 1);
    tp.options
        .push(PcpOption::ThirdParty(IpAddr::V6(Ipv6Addr::new(
            0x2001, 0xdb8, 1, 0, 0, 0, 0, 3,
        ))));
    assert_eq!(
        send(&tp, HOST, &mut gw, &mut p).result,
        ResultCode::UnsupportedOption
    );
    // A system port (below MIN_PINHOLE_PORT) for the client itself.
    for port in [1, 80, 1023] {
        let r = send(&map_req(HOST, 6, port, 60, 1), HOST, &mut gw, &mut p);
        assert_eq!(r.result, ResultCode::NotAuthorized, "port {port}");
    }
    // Garbage and NAT-PMP datagrams are dropped.
    assert!(handle6(&[0, 0], HOST, NOW, &mut gw, &mut p).is_none());
    assert!(handle6(&[2], HOST, NOW, &mut gw, &mut p).is_none());
    assert_eq!(kernel(&fw), 0);
}
