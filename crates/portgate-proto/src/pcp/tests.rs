//! Tests for the PCP codec: hand-written RFC 6887 / RFC 7220 layouts, hostile inputs
//! and property round trips.

use super::*;
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};

const NONCE: [u8; 12] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

/// RFC 6887 §7.1 header + §11.1 MAP data + §13.2 PREFER_FAILURE + §13.3 FILTER +
/// RFC 7220 DESCRIPTION, written out field by field.
fn map_request_bytes() -> Vec<u8> {
    let mut v = vec![
        0x02, 0x01, 0x00, 0x00, // version 2, R=0 opcode MAP, reserved
        0x00, 0x00, 0x1c, 0x20, // requested lifetime 7200
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1,
        100, // client ::ffff:192.168.1.100
    ];
    v.extend_from_slice(&NONCE); // mapping nonce (96 bits)
    v.extend_from_slice(&[17, 0, 0, 0]); // protocol UDP, 24 reserved bits
    v.extend_from_slice(&[0x1f, 0x90, 0x1f, 0x90]); // internal port 8080, suggested external 8080
    v.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0]); // ::ffff:0.0.0.0
    v.extend_from_slice(&[2, 0, 0, 0]); // PREFER_FAILURE, reserved, length 0
    v.extend_from_slice(&[3, 0, 0, 20]); // FILTER, reserved, length 20
    v.extend_from_slice(&[0, 120, 0, 0]); // reserved, prefix length 96+24, any port
    v.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 0]); // 203.0.113.0
    v.extend_from_slice(&[128, 0, 0, 3, b's', b's', b'h', 0]); // DESCRIPTION "ssh" + 1 pad byte
    v
}

fn map_request() -> Request {
    Request {
        lifetime: 7200,
        client_address: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 100)),
        data: OpData::Map(MapData {
            nonce: NONCE,
            protocol: 17,
            internal_port: 8080,
            external_port: 8080,
            external_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }),
        options: vec![
            PcpOption::PreferFailure,
            PcpOption::Filter(Filter {
                prefix_length: 120,
                remote_peer_port: 0,
                remote_peer_address: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 0)),
            }),
            PcpOption::Description("ssh".into()),
        ],
    }
}

#[test]
fn map_request_layout() {
    let bytes = map_request_bytes();
    assert_eq!(bytes.len(), 96);
    assert_eq!(Request::parse_server(&bytes), Ok(map_request()));
    assert_eq!(map_request().to_bytes(), bytes);
    assert_eq!(map_request().buffer_len(), bytes.len());
}

/// RFC 6887 §7.2 header + §11.1 MAP data (assigned port/address), IPv6 client.
#[test]
fn map_response_layout() {
    let mut bytes = vec![
        0x02, 0x81, 0x00, 0x00, // version 2, R=1 opcode MAP, reserved, SUCCESS
        0x00, 0x00, 0x0e, 0x10, // lifetime 3600
        0x12, 0x34, 0x56, 0x78, // epoch time
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // 96 reserved bits
    ];
    bytes.extend_from_slice(&NONCE);
    bytes.extend_from_slice(&[6, 0, 0, 0]); // TCP
    bytes.extend_from_slice(&[0x00, 0x16, 0x10, 0x00]); // internal 22, assigned external 4096
    bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 1]);
    let resp = Response::parse(&bytes).unwrap();
    assert_eq!(
        resp,
        Response {
            result: ResultCode::Success,
            lifetime: 3600,
            epoch: 0x1234_5678,
            data: OpData::Map(MapData {
                nonce: NONCE,
                protocol: 6,
                internal_port: 22,
                external_port: 4096,
                external_address: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)),
            }),
            options: vec![],
        }
    );
    assert_eq!(resp.to_bytes(), bytes);
}

/// RFC 6887 §12.1 PEER data with IPv6 addresses and a THIRD_PARTY option (§13.1).
#[test]
fn peer_request_layout() {
    let client: Ipv6Addr = "2001:db8::5".parse().unwrap();
    let remote: Ipv6Addr = "2001:db8:ffff::1".parse().unwrap();
    let third: Ipv6Addr = "2001:db8::77".parse().unwrap();
    let mut bytes = vec![2, 2, 0, 0, 0, 0, 0x02, 0x58]; // PEER, lifetime 600
    bytes.extend_from_slice(&client.octets());
    bytes.extend_from_slice(&NONCE);
    bytes.extend_from_slice(&[6, 0, 0, 0, 0x01, 0xbb, 0x00, 0x00]); // TCP, int 443, ext 0
    bytes.extend_from_slice(&[0; 16]); // suggested external address :: (no preference)
    bytes.extend_from_slice(&[0x27, 0x0f, 0, 0]); // remote peer port 9999, reserved
    bytes.extend_from_slice(&remote.octets());
    bytes.extend_from_slice(&[1, 0, 0, 16]); // THIRD_PARTY, length 16
    bytes.extend_from_slice(&third.octets());
    assert_eq!(bytes.len(), 24 + 56 + 20);
    let req = Request::parse_server(&bytes).unwrap();
    assert_eq!(
        req,
        Request {
            lifetime: 600,
            client_address: IpAddr::V6(client),
            data: OpData::Peer(PeerData {
                nonce: NONCE,
                protocol: 6,
                internal_port: 443,
                external_port: 0,
                external_address: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                remote_peer_port: 9999,
                remote_peer_address: IpAddr::V6(remote),
            }),
            options: vec![PcpOption::ThirdParty(IpAddr::V6(third))],
        }
    );
    assert_eq!(req.to_bytes(), bytes);
}

/// RFC 6887 §14.1.3: unsolicited ANNOUNCE, SUCCESS, lifetime 0.
#[test]
fn announce_layout() {
    let mut bytes = vec![2, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00];
    bytes.extend_from_slice(&[0; 12]);
    assert_eq!(Response::announce(256).to_bytes(), bytes);
    assert_eq!(Response::parse(&bytes), Ok(Response::announce(256)));
    // The ANNOUNCE request a client sends (§14.1.1): header only, lifetime 0.
    let req = Request {
        lifetime: 0,
        client_address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        data: OpData::Announce,
        options: vec![],
    };
    let b = req.to_bytes();
    assert_eq!(b.len(), MIN_MESSAGE_LEN);
    assert_eq!(b[..2], [2, 0]);
    assert_eq!(Request::parse(&b), Ok(req));
}

#[test]
fn ipv4_mapping_checks_all_96_bits() {
    // ::ffff:1.2.3.4 is IPv4; 1::ffff:1.2.3.4 is not (RFC 6887 §5).
    let mut b = [0u8; 16];
    b[10] = 0xff;
    b[11] = 0xff;
    b[12..].copy_from_slice(&[1, 2, 3, 4]);
    assert_eq!(addr_from_wire(&b), IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4)));
    b[1] = 1;
    assert!(addr_from_wire(&b).is_ipv6());
    // All-zeros IPv6 and IPv4 are distinct on the wire.
    assert_eq!(addr_to_wire(IpAddr::V6(Ipv6Addr::UNSPECIFIED)), [0; 16]);
    assert_ne!(addr_to_wire(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), [0; 16]);
}

fn reject_code(buf: &[u8]) -> Option<ResultCode> {
    Request::parse_server(buf)
        .err()
        .and_then(|e| e.result_code())
}

#[test]
fn server_dispositions() {
    // < 2 bytes: drop.
    assert!(matches!(
        Request::parse_server(&[2]),
        Err(RequestError::Drop(_))
    ));
    // Version 0 goes to NAT-PMP.
    assert_eq!(Request::parse_server(&[0, 0]), Err(RequestError::NatPmp));
    assert_eq!(
        Request::parse_server(&[0, 1, 0, 0]),
        Err(RequestError::NatPmp)
    );
    // Versions 1 and 3: UNSUPP_VERSION, even when short.
    let mut v1 = map_request_bytes();
    v1[0] = 1;
    assert_eq!(reject_code(&v1), Some(ResultCode::UnsupportedVersion));
    assert_eq!(reject_code(&[3, 1]), Some(ResultCode::UnsupportedVersion));
    // R bit set on a request: drop.
    let mut r = map_request_bytes();
    r[1] |= 0x80;
    assert!(matches!(
        Request::parse_server(&r),
        Err(RequestError::Drop(_))
    ));
    // Supported version but shorter than 24: drop.
    assert!(matches!(
        Request::parse_server(&[2, 0, 0, 0, 0, 0, 0, 0]),
        Err(RequestError::Drop(DecodeError::Truncated { .. }))
    ));
    // Unknown opcode: UNSUPP_OPCODE.
    let mut op = map_request_bytes();
    op[1] = 9;
    assert_eq!(reject_code(&op), Some(ResultCode::UnsupportedOpcode));
}

#[test]
fn oversize_and_misaligned_are_malformed_request() {
    let mut big = map_request_bytes();
    big.resize(1104, 0); // zero padding parses as options of code 0 length 0
    assert_eq!(
        Request::parse_server(&big),
        Err(RequestError::Reject {
            result: ResultCode::MalformedRequest,
            cause: DecodeError::TooLong {
                what: "pcp request",
                limit: 1100
            }
        })
    );
    let mut odd = map_request_bytes();
    odd.push(0);
    assert_eq!(reject_code(&odd), Some(ResultCode::MalformedRequest));
    // MAP data cut short (24 + 32 bytes).
    let short = &map_request_bytes()[..56];
    assert_eq!(reject_code(short), Some(ResultCode::MalformedRequest));
    // Exactly 1100 bytes is fine.
    let mut max = map_request_bytes();
    max.resize(1100, 0);
    assert!(Request::parse_server(&max).is_ok());
}

#[test]
fn malformed_options() {
    let base = &map_request_bytes()[..60];
    // Option whose length runs past the end of the message.
    let mut past = base.to_vec();
    past.extend_from_slice(&[128, 0, 0, 8, b'a', b'b', b'c', b'd']);
    assert_eq!(reject_code(&past), Some(ResultCode::MalformedOption));
    // THIRD_PARTY of the wrong length.
    let mut tp = base.to_vec();
    tp.extend_from_slice(&[1, 0, 0, 4, 10, 0, 0, 1]);
    assert_eq!(reject_code(&tp), Some(ResultCode::MalformedOption));
    // PREFER_FAILURE with data.
    let mut pf = base.to_vec();
    pf.extend_from_slice(&[2, 0, 0, 4, 0, 0, 0, 0]);
    assert_eq!(reject_code(&pf), Some(ResultCode::MalformedOption));
    // FILTER with prefix length 129.
    let mut f = base.to_vec();
    f.extend_from_slice(&[3, 0, 0, 20, 0, 129, 0, 0]);
    f.extend_from_slice(&[0; 16]);
    assert_eq!(reject_code(&f), Some(ResultCode::MalformedOption));
}

#[test]
fn unknown_options_and_duplicates_kept_in_order() {
    let mut b = map_request_bytes()[..60].to_vec();
    b.extend_from_slice(&[1, 0, 0, 16]);
    b.extend_from_slice(&Ipv4Addr::new(10, 0, 0, 9).to_ipv6_mapped().octets());
    b.extend_from_slice(&[0x05, 0, 0, 1, 0xaa, 0, 0, 0]); // unknown mandatory, 1 byte
    b.extend_from_slice(&[0xc0, 0, 0, 0]); // unknown optional, empty
    b.extend_from_slice(&[1, 0, 0, 16]);
    b.extend_from_slice(&Ipv4Addr::new(10, 0, 0, 8).to_ipv6_mapped().octets());
    b.extend_from_slice(&[128, 0, 0, 2, 0xff, 0xfe, 0, 0]); // DESCRIPTION, not UTF-8
    let req = Request::parse_server(&b).unwrap();
    let codes: Vec<u8> = req.options.iter().map(PcpOption::code).collect();
    assert_eq!(codes, [1, 5, 0xc0, 1, 128]);
    assert!(req.options[1].is_mandatory() && !req.options[1].is_known());
    assert!(!req.options[2].is_mandatory());
    assert_eq!(
        req.options[4],
        PcpOption::Unknown {
            code: 128,
            data: vec![0xff, 0xfe]
        }
    );
    let third_parties = req
        .options
        .iter()
        .filter(|o| matches!(o, PcpOption::ThirdParty(_)))
        .count();
    assert_eq!(third_parties, 2);
    assert_eq!(req.to_bytes(), b);
}

#[test]
fn option_opcode_rules() {
    assert!(allowed_in(FILTER, OPCODE_MAP));
    assert!(!allowed_in(FILTER, OPCODE_PEER));
    assert!(!allowed_in(PREFER_FAILURE, OPCODE_PEER));
    assert!(allowed_in(THIRD_PARTY, OPCODE_PEER));
    assert!(!allowed_in(THIRD_PARTY, OPCODE_ANNOUNCE));
    assert!(allowed_in(DESCRIPTION, OPCODE_MAP));
}

#[test]
fn error_response_echoes_request() {
    // MALFORMED_OPTION answer to a request with a bad option (§8.3, §7.2).
    let mut req = map_request_bytes()[..60].to_vec();
    req.extend_from_slice(&[128, 0, 0, 8, b'a', b'b', b'c', b'd']);
    let resp = error_response(&req, ResultCode::MalformedOption, LONG_ERROR_LIFETIME, 42);
    assert_eq!(resp.len(), req.len());
    assert_eq!(resp[..4], [2, 0x81, 0, 6]);
    assert_eq!(resp[4..8], 1800u32.to_be_bytes());
    assert_eq!(resp[8..12], 42u32.to_be_bytes());
    assert_eq!(resp[12..24], req[12..24]); // rightmost 96 bits of the client address
    assert_eq!(resp[24..], req[24..]); // opcode data and options copied
                                       // The client sees an error response it can parse and match by nonce.
    let parsed = Response::parse(&resp).unwrap();
    assert_eq!(parsed.result, ResultCode::MalformedOption);
    assert_eq!(parsed.data.opcode(), OPCODE_MAP);

    // UNSUPP_VERSION to a 2-byte version-1 request: padded to 24, version 2.
    let resp = error_response(&[1, 1], ResultCode::UnsupportedVersion, 1800, 7);
    assert_eq!(resp.len(), 24);
    assert_eq!(resp[..4], [2, 0x81, 0, 1]);
    // Oversize request: truncated to 1100.
    let mut big = map_request_bytes();
    big.resize(1104, 0);
    let resp = error_response(&big, ResultCode::MalformedRequest, 1800, 7);
    assert_eq!(resp.len(), MAX_MESSAGE_LEN);
    // Odd-sized request: padded to a multiple of 4.
    let mut odd = map_request_bytes();
    odd.push(0xee);
    assert_eq!(
        error_response(&odd, ResultCode::MalformedRequest, 0, 0).len() % 4,
        0
    );
}

#[test]
fn client_side_response_checks() {
    let good = Response::announce(1).to_bytes();
    let mut r_clear = good.clone();
    r_clear[1] = 0;
    assert!(matches!(
        Response::parse(&r_clear),
        Err(DecodeError::Invalid { .. })
    ));
    let mut v0 = good.clone();
    v0[0] = 0;
    assert!(matches!(
        Response::parse(&v0),
        Err(DecodeError::Unsupported { value: 0, .. })
    ));
    assert!(Response::parse(&good[..20]).is_err());
    let mut big = good.clone();
    big.resize(1104, 0);
    assert!(matches!(
        Response::parse(&big),
        Err(DecodeError::TooLong { .. })
    ));
    let mut odd = good.clone();
    odd.push(0);
    assert!(Response::parse(&odd).is_err());
    // A short MAP error response is kept raw; a short MAP success is an error.
    let mut err = good.clone();
    err[1] = 0x81;
    err[3] = 2;
    assert_eq!(
        Response::parse(&err).unwrap().data,
        OpData::Other {
            opcode: 1,
            data: vec![]
        }
    );
    err[3] = 0;
    assert!(matches!(
        Response::parse(&err),
        Err(DecodeError::Truncated { .. })
    ));
}

#[test]
fn every_truncation_is_an_error() {
    let mut b = map_request_bytes()[..60].to_vec(); // MAP, no options
    for len in 0..b.len() {
        assert!(
            Request::parse_server(&b[..len]).is_err(),
            "request len {len}"
        );
    }
    b[1] |= 0x80;
    b[3] = 0; // make it a success response
    for len in 0..b.len() {
        assert!(Response::parse(&b[..len]).is_err(), "response len {len}");
    }
    // With options, every cut that is not on an option boundary fails.
    let full = map_request_bytes();
    let boundaries = [60, 64, 88, 96];
    for len in 0..full.len() {
        let r = Request::parse_server(&full[..len]);
        assert_eq!(r.is_ok(), boundaries.contains(&len), "len {len}");
    }
}

#[test]
fn result_codes() {
    for v in 0..=255u8 {
        assert_eq!(u8::from(ResultCode::from(v)), v);
    }
    assert_eq!(ResultCode::from(13), ResultCode::ExcessiveRemotePeers);
    assert_eq!(ResultCode::from(14), ResultCode::Unknown(14));
}

#[test]
fn retransmission_schedule() {
    let rt = Retransmit::default();
    assert_eq!(rt.next_timeout(None, 0.0), Duration::from_secs(3));
    assert_eq!(
        rt.next_timeout(Some(Duration::from_secs(3)), 0.0),
        Duration::from_secs(6)
    );
    assert_eq!(rt.next_timeout(Some(Duration::from_secs(1000)), 0.0), MRT);
    // Jitter is clamped to ±10 %.
    assert_eq!(rt.next_timeout(None, 5.0), Duration::from_millis(3300));
    assert_eq!(rt.next_timeout(None, -5.0), Duration::from_millis(2700));
    assert_eq!((rt.mrc, rt.mrd), (0, Duration::ZERO));
}

fn arb_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        any::<[u8; 16]>().prop_map(|a| addr_from_wire(&a)),
    ]
}

fn arb_option() -> impl Strategy<Value = PcpOption> {
    prop_oneof![
        arb_ip().prop_map(PcpOption::ThirdParty),
        Just(PcpOption::PreferFailure),
        (0..=128u8, any::<u16>(), arb_ip()).prop_map(|(prefix_length, port, a)| {
            PcpOption::Filter(Filter {
                prefix_length,
                remote_peer_port: port,
                remote_peer_address: a,
            })
        }),
        "\\PC{0,30}".prop_map(PcpOption::Description),
        (
            any::<u8>().prop_filter("known code", |c| ![1, 2, 3, 128].contains(c)),
            proptest::collection::vec(any::<u8>(), 0..24)
        )
            .prop_map(|(code, data)| PcpOption::Unknown { code, data }),
    ]
}

fn arb_map() -> impl Strategy<Value = MapData> {
    (
        any::<[u8; 12]>(),
        any::<u8>(),
        any::<u16>(),
        any::<u16>(),
        arb_ip(),
    )
        .prop_map(
            |(nonce, protocol, internal_port, external_port, external_address)| MapData {
                nonce,
                protocol,
                internal_port,
                external_port,
                external_address,
            },
        )
}

fn arb_opdata() -> impl Strategy<Value = OpData> {
    prop_oneof![
        Just(OpData::Announce),
        arb_map().prop_map(OpData::Map),
        (arb_map(), any::<u16>(), arb_ip()).prop_map(|(m, port, a)| OpData::Peer(PeerData {
            nonce: m.nonce,
            protocol: m.protocol,
            internal_port: m.internal_port,
            external_port: m.external_port,
            external_address: m.external_address,
            remote_peer_port: port,
            remote_peer_address: a,
        })),
    ]
}

fn arb_request() -> impl Strategy<Value = Request> {
    (
        any::<u32>(),
        arb_ip(),
        arb_opdata(),
        proptest::collection::vec(arb_option(), 0..6),
    )
        .prop_map(|(lifetime, client_address, data, options)| Request {
            lifetime,
            client_address,
            data,
            options,
        })
}

fn words(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<[u8; 4]>(), 0..max)
        .prop_map(|w| w.into_iter().flatten().collect())
}

fn arb_response() -> impl Strategy<Value = Response> {
    let structured = (
        any::<u8>(),
        any::<u32>(),
        any::<u32>(),
        arb_opdata(),
        proptest::collection::vec(arb_option(), 0..6),
    )
        .prop_map(|(r, lifetime, epoch, data, options)| Response {
            result: ResultCode::from(r),
            lifetime,
            epoch,
            data,
            options,
        });
    let unknown_opcode = (3u8..128, any::<u8>(), any::<u32>(), any::<u32>(), words(40)).prop_map(
        |(opcode, r, lifetime, epoch, data)| Response {
            result: ResultCode::from(r),
            lifetime,
            epoch,
            data: OpData::Other { opcode, data },
            options: vec![],
        },
    );
    // Error responses too short for MAP (36) or PEER (56) data stay raw.
    let short_error = (1u8..=2, 1u8.., any::<u32>(), any::<u32>(), words(9)).prop_map(
        |(opcode, r, lifetime, epoch, data)| Response {
            result: ResultCode::from(r),
            lifetime,
            epoch,
            data: OpData::Other { opcode, data },
            options: vec![],
        },
    );
    prop_oneof![4 => structured, 1 => unknown_opcode, 1 => short_error]
}

proptest! {
    #[test]
    fn request_round_trip(req in arb_request()) {
        let bytes = req.to_bytes();
        prop_assert_eq!(bytes.len(), req.buffer_len());
        prop_assert!(bytes.len() <= MAX_MESSAGE_LEN && bytes.len() % 4 == 0);
        prop_assert_eq!(Request::parse_server(&bytes), Ok(req.clone()));
        if req.options.is_empty() {
            for len in 0..bytes.len() {
                prop_assert!(Request::parse_server(&bytes[..len]).is_err());
            }
        }
    }

    #[test]
    fn response_round_trip(resp in arb_response()) {
        let bytes = resp.to_bytes();
        prop_assert_eq!(bytes.len(), resp.buffer_len());
        prop_assert_eq!(Response::parse(&bytes), Ok(resp));
    }

    #[test]
    fn error_response_always_parses(req in proptest::collection::vec(any::<u8>(), 0..1200),
                                    r in any::<u8>(), lifetime in any::<u32>(), epoch in any::<u32>()) {
        let resp = error_response(&req, ResultCode::from(r), lifetime, epoch);
        prop_assert!(resp.len() >= MIN_MESSAGE_LEN && resp.len() <= MAX_MESSAGE_LEN);
        prop_assert_eq!(resp.len() % 4, 0);
        // Non-success results always give a parseable response.
        if r != 0 {
            let parsed = Response::parse(&resp);
            prop_assert!(parsed.is_ok(), "{:?}", parsed);
        }
    }

    #[test]
    fn garbage_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Request::parse_server(&buf);
        let _ = Response::parse(&buf);
        let _ = parse_options(&buf);
    }

    #[test]
    fn garbage_with_valid_header_never_panics(body in words(60), op in 0u8..3) {
        let mut b = vec![2, op, 0, 0, 0, 0, 0, 0];
        b.extend_from_slice(&[0; 16]);
        b.extend_from_slice(&body);
        let _ = Request::parse_server(&b);
        b[1] |= 0x80;
        let _ = Response::parse(&b);
    }
}
