//! PCP PEER (RFC 6887 §12) with hand-built request bytes: the §7.1 header and
//! the §12.1 PEER data, field by field, against a gateway over an in-memory
//! firewall.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use portgate_nft::Firewall as _;

use crate::gateway::tests::{gateway, settings, SharedMem, EXT, HOST, HOST2, LAN_GW, NOW};
use crate::gateway::Gateway;
use crate::pinhole::Pinholes;

const NONCE: [u8; 12] = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2];
const PEER4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

fn wire_addr(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

/// PEER request: version 2, opcode 2, reserved, lifetime, client address
/// (§7.1); nonce, protocol + 24 reserved bits, internal port, suggested
/// external port, suggested external address, remote peer port, 16 reserved
/// bits, remote peer address (§12.1); then raw options.
#[allow(clippy::too_many_arguments)]
fn peer_req(
    client: IpAddr,
    lifetime: u32,
    nonce: [u8; 12],
    proto: u8,
    iport: u16,
    eport: u16,
    remote: SocketAddr,
    options: &[u8],
) -> Vec<u8> {
    let mut v = vec![2, 2, 0, 0];
    v.extend_from_slice(&lifetime.to_be_bytes());
    v.extend_from_slice(&wire_addr(client));
    v.extend_from_slice(&nonce);
    v.extend_from_slice(&[proto, 0, 0, 0]);
    v.extend_from_slice(&iport.to_be_bytes());
    v.extend_from_slice(&eport.to_be_bytes());
    let unspecified = match client {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    v.extend_from_slice(&wire_addr(unspecified));
    v.extend_from_slice(&remote.port().to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&wire_addr(remote.ip()));
    v.extend_from_slice(options);
    v
}

fn req4(lifetime: u32, nonce: [u8; 12], iport: u16, eport: u16, remote: SocketAddr) -> Vec<u8> {
    peer_req(
        IpAddr::V4(HOST),
        lifetime,
        nonce,
        17,
        iport,
        eport,
        remote,
        &[],
    )
}

/// A UDP PEER from HOST's port 5000 to PEER4:9000 carrying `options`.
fn with_options(options: &[u8]) -> Vec<u8> {
    peer_req(
        IpAddr::V4(HOST),
        600,
        NONCE,
        17,
        5000,
        0,
        peer4_at(9000),
        options,
    )
}

fn peer4_at(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(PEER4), port)
}

fn ask4(gw: &mut Gateway, buf: &[u8], from: Ipv4Addr) -> Vec<u8> {
    super::super::handle(
        buf,
        SocketAddr::new(IpAddr::V4(from), 40000),
        IpAddr::V4(LAN_GW),
        NOW,
        gw,
    )
    .expect("an answer")
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// The kernel's remote-restricted mappings: (proto, remote, external port,
/// internal address, internal port).
fn restricted(fw: &SharedMem) -> Vec<(u8, Ipv4Addr, u16, Ipv4Addr, u16)> {
    let mut v: Vec<_> =
        fw.0.borrow_mut()
            .list()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|e| {
                let m = e.mapping;
                Some((
                    m.key.proto.0,
                    m.key.remote?,
                    m.key.external_port,
                    m.internal_addr,
                    m.internal_port,
                ))
            })
            .collect();
    v.sort();
    v
}

#[test]
fn peer4_creates_a_mapping_for_that_peer_only_and_answers_the_assigned_port() {
    let (mut gw, fw) = gateway(settings(None));
    let req = req4(600, NONCE, 5000, 0, peer4_at(9000));
    let r = ask4(&mut gw, &req, HOST);
    // Header: version 2, R bit + opcode 2, reserved, SUCCESS, lifetime, epoch 0.
    assert_eq!(&r[..4], &[2, 0x82, 0, 0]);
    assert_eq!(u32_at(&r, 4), 600);
    assert_eq!(r.len(), 24 + 56);
    // The request's PEER data comes back (nonce, protocol, internal port,
    // remote peer port and address) with the assigned external port and address.
    assert_eq!(&r[24..36], &NONCE);
    assert_eq!(r[36], 17);
    assert_eq!(u16_at(&r, 40), 5000, "internal port");
    assert_eq!(
        u16_at(&r, 42),
        5000,
        "external port: the internal one when free"
    );
    assert_eq!(&r[44..60], &EXT.to_ipv6_mapped().octets());
    assert_eq!(u16_at(&r, 60), 9000, "remote peer port");
    assert_eq!(&r[64..80], &PEER4.to_ipv6_mapped().octets());
    assert_eq!(restricted(&fw), vec![(17, PEER4, 5000, HOST, 5000)]);
    assert!(fw.ports().contains(&(17, 5000, HOST, 5000)));
}

#[test]
fn peer4_renews_with_its_nonce_keeps_the_port_and_refuses_another_nonce() {
    let (mut gw, fw) = gateway(settings(None));
    // External 5000 taken by another host's MAP-style mapping: PEER gets another port.
    let other = req4(600, [7; 12], 5000, 0, peer4_at(1234));
    let mut other = other;
    other[8..24].copy_from_slice(&HOST2.to_ipv6_mapped().octets());
    assert_eq!(ask4(&mut gw, &other, HOST2)[3], 0);
    let r = ask4(&mut gw, &req4(600, NONCE, 5000, 5000, peer4_at(9000)), HOST);
    assert_eq!(r[3], 0);
    let port = u16_at(&r, 42);
    assert_ne!(port, 5000, "taken: the nearest free port");
    // Renewal: same nonce, another suggested port, longer lifetime → same port.
    let r = ask4(
        &mut gw,
        &req4(3000, NONCE, 5000, 6000, peer4_at(9000)),
        HOST,
    );
    assert_eq!((r[3], u32_at(&r, 4), u16_at(&r, 42)), (0, 3000, port));
    // Another nonce for the same five-tuple: NOT_AUTHORIZED (2), long error lifetime.
    let r = ask4(&mut gw, &req4(600, [1; 12], 5000, 0, peer4_at(9000)), HOST);
    assert_eq!((r[3], u32_at(&r, 4)), (2, 1800));
    // Over IPv4 the kernel mapping is keyed by the peer's address: another port of
    // the same peer names the same mapping (so the same nonce is needed) ...
    let r = ask4(&mut gw, &req4(600, [1; 12], 5000, 0, peer4_at(9001)), HOST);
    assert_eq!(r[3], 2);
    // ... and another peer of the same internal port is a mapping of its own.
    let peer2 = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 8)), 9000);
    let r = ask4(&mut gw, &req4(600, [1; 12], 5000, 0, peer2), HOST);
    assert_eq!(r[3], 0);
    assert_eq!(restricted(&fw).len(), 3);
}

#[test]
fn peer4_lifetime_is_clamped_and_zero_removes_with_the_nonce_only() {
    let (mut gw, fw) = gateway(settings(None));
    let r = ask4(&mut gw, &req4(5, NONCE, 5000, 0, peer4_at(9000)), HOST);
    assert_eq!(u32_at(&r, 4), 120, "min_lifetime");
    let r = ask4(
        &mut gw,
        &req4(u32::MAX, NONCE, 5000, 0, peer4_at(9000)),
        HOST,
    );
    assert_eq!(u32_at(&r, 4), 86_400, "max_lifetime");
    // Lifetime 0 with another nonce: NOT_AUTHORIZED, the mapping stays.
    let r = ask4(&mut gw, &req4(0, [3; 12], 5000, 0, peer4_at(9000)), HOST);
    assert_eq!(r[3], 2);
    assert_eq!(restricted(&fw).len(), 1);
    // With its nonce: SUCCESS, lifetime 0, gone from the kernel.
    let r = ask4(&mut gw, &req4(0, NONCE, 5000, 0, peer4_at(9000)), HOST);
    assert_eq!((r[3], u32_at(&r, 4), u16_at(&r, 42)), (0, 0, 5000));
    assert!(restricted(&fw).is_empty());
    // Nothing to remove: still SUCCESS (§15).
    let r = ask4(&mut gw, &req4(0, NONCE, 5000, 0, peer4_at(9000)), HOST);
    assert_eq!((r[3], u32_at(&r, 4)), (0, 0));
}

#[test]
fn peer4_unsupported_cases_get_their_result_codes() {
    let (mut gw, fw) = gateway(settings(None));
    let code = |gw: &mut Gateway, b: &[u8]| ask4(gw, b, HOST)[3];
    let host = IpAddr::V4(HOST);
    // Protocol 0 ("all") and ICMP: UNSUPP_PROTOCOL (9).
    for proto in [0, 1] {
        let b = peer_req(host, 600, NONCE, proto, 5000, 0, peer4_at(9000), &[]);
        assert_eq!(code(&mut gw, &b), 9, "protocol {proto}");
    }
    // Internal port 0, remote peer port 0: MALFORMED_REQUEST (3).
    assert_eq!(code(&mut gw, &req4(600, NONCE, 0, 0, peer4_at(9000))), 3);
    assert_eq!(code(&mut gw, &req4(600, NONCE, 5000, 0, peer4_at(0))), 3);
    // Remote peers no flow through the gateway has: MALFORMED_REQUEST.
    for bad in [
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::LOCALHOST,
        Ipv4Addr::BROADCAST,
        Ipv4Addr::new(224, 0, 0, 1),
        Ipv4Addr::new(169, 254, 1, 1),
        HOST2,
        LAN_GW,
        EXT,
    ] {
        let b = req4(600, NONCE, 5000, 0, SocketAddr::new(IpAddr::V4(bad), 9000));
        assert_eq!(code(&mut gw, &b), 3, "remote {bad}");
    }
    // An IPv6 remote peer for an IPv4 client: MALFORMED_REQUEST.
    let v6 = SocketAddr::new(
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 2)),
        9000,
    );
    assert_eq!(code(&mut gw, &req4(600, NONCE, 5000, 0, v6)), 3);
    // FILTER and PREFER_FAILURE belong to MAP: MALFORMED_OPTION (6).
    for option in [vec![2, 0, 0, 0], {
        let mut f = vec![3, 0, 0, 20, 0, 128, 0, 0];
        f.extend_from_slice(&PEER4.to_ipv6_mapped().octets());
        f
    }] {
        assert_eq!(code(&mut gw, &with_options(&option)), 6);
    }
    // Client address field other than the source: ADDRESS_MISMATCH (12).
    let b = peer_req(
        IpAddr::V4(HOST2),
        600,
        NONCE,
        17,
        5000,
        0,
        peer4_at(9000),
        &[],
    );
    assert_eq!(code(&mut gw, &b), 12);
    // PEER data cut short: MALFORMED_REQUEST.
    let b = req4(600, NONCE, 5000, 0, peer4_at(9000));
    assert_eq!(code(&mut gw, &b[..72]), 3);
    assert!(restricted(&fw).is_empty(), "nothing installed");
}

#[test]
fn peer4_description_option_is_stored_and_echoed() {
    let (mut gw, _fw) = gateway(settings(None));
    // DESCRIPTION (code 128, RFC 7220): "game" padded to 4.
    let opt = [128, 0, 0, 4, b'g', b'a', b'm', b'e'];
    let b = with_options(&opt);
    let r = ask4(&mut gw, &b, HOST);
    assert_eq!(r[3], 0);
    assert_eq!(&r[80..], &opt, "processed option echoed");
    let m = gw
        .table()
        .find_peer(HOST, crate::table::Protocol::Udp, 5000, PEER4)
        .expect("mapping");
    assert_eq!(m.description, "game");
}

#[test]
fn peer4_third_party_maps_for_that_lan_host_only_when_allowed() {
    // THIRD_PARTY (code 1, 16 bytes): HOST asks for HOST2's flow.
    let mut third = vec![1, 0, 0, 16];
    third.extend_from_slice(&HOST2.to_ipv6_mapped().octets());
    let b = with_options(&third);
    let (mut gw, fw) = gateway(settings(None));
    assert_eq!(
        ask4(&mut gw, &b, HOST)[3],
        5,
        "off by default: UNSUPP_OPTION"
    );
    let mut s = settings(None);
    s.pcp_allow_thirdparty = true;
    let (mut gw, fw2) = gateway(s);
    assert_eq!(ask4(&mut gw, &b, HOST)[3], 0);
    assert_eq!(restricted(&fw2), vec![(17, PEER4, 5000, HOST2, 5000)]);
    assert!(restricted(&fw).is_empty());
}

// ---------------------------------------------------------------- IPv6

const HOST6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
const PEER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 9);

fn req6(lifetime: u32, nonce: [u8; 12], iport: u16, remote: SocketAddr) -> Vec<u8> {
    peer_req(IpAddr::V6(HOST6), lifetime, nonce, 6, iport, 0, remote, &[])
}

fn peer6_at(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V6(PEER6), port)
}

#[test]
fn peer6_opens_a_pinhole_for_that_peer_address_and_port() {
    let (mut gw, fw, mut p) = super::super::pcp6::tests::setup();
    let r = super::super::pcp6::handle6(
        &req6(600, NONCE, 8080, peer6_at(40000)),
        HOST6,
        NOW,
        &mut gw,
        &mut p,
    )
    .expect("answer");
    assert_eq!(&r[..4], &[2, 0x82, 0, 0]);
    assert_eq!(u32_at(&r, 4), 600);
    assert_eq!(
        u16_at(&r, 42),
        8080,
        "no translation: external port = internal"
    );
    assert_eq!(&r[44..60], &HOST6.octets(), "external address = internal");
    assert_eq!(u16_at(&r, 60), 40000);
    assert_eq!(&r[64..80], &PEER6.octets());
    let holes = fw.0.borrow_mut().list_pinholes().expect("list");
    assert_eq!(holes.len(), 1);
    let k = holes[0].pinhole.key;
    assert_eq!(
        (k.internal_addr, k.internal_port, k.remote, k.remote_port),
        (HOST6, 8080, Some(PEER6), 40000)
    );
    // Another nonce: NOT_AUTHORIZED; lifetime 0 with the nonce closes it.
    let ask = |b: &[u8], gw: &mut Gateway, p: &mut Pinholes| {
        super::super::pcp6::handle6(b, HOST6, NOW, gw, p).expect("answer")
    };
    assert_eq!(
        ask(&req6(600, [4; 12], 8080, peer6_at(40000)), &mut gw, &mut p)[3],
        2
    );
    let r = ask(&req6(0, NONCE, 8080, peer6_at(40000)), &mut gw, &mut p);
    assert_eq!((r[3], u32_at(&r, 4)), (0, 0));
    assert!(fw.0.borrow_mut().list_pinholes().expect("list").is_empty());
    // A LAN or link-local peer, an IPv4 peer, a system port: refused.
    for (b, want) in [
        (
            req6(600, NONCE, 8080, SocketAddr::new(IpAddr::V6(HOST6), 1)),
            3,
        ),
        (
            req6(
                600,
                NONCE,
                8080,
                SocketAddr::new("fe80::1".parse().expect("ip"), 1),
            ),
            3,
        ),
        (req6(600, NONCE, 8080, peer4_at(1)), 3),
        (req6(600, NONCE, 80, peer6_at(40000)), 2),
    ] {
        assert_eq!(ask(&b, &mut gw, &mut p)[3], want);
    }
}

#[test]
fn cgn_mode_refuses_an_ipv4_peer() {
    // The pool's map has no remote host component: a PEER mapping cannot be installed.
    let (mut gw, fw) = gateway(crate::pmp::tests::cgn_settings(false, "1000"));
    let r = ask4(&mut gw, &req4(600, NONCE, 5000, 0, peer4_at(9000)), HOST);
    assert_eq!(r[3], 2, "NOT_AUTHORIZED");
    assert!(fw.0.borrow_mut().list().expect("list").is_empty());
}
