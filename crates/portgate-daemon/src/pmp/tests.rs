//! NAT-PMP and PCP server rules, with hand-built request bytes (field
//! layouts from RFC 6886 §3 and RFC 6887 §7, §11) against a gateway over
//! an in-memory firewall.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::*;
use crate::gateway::tests::{gateway, settings, EXT, HOST, HOST2, LAN_GW, NOW};
use crate::rules::Rule;
use crate::table::Protocol;

fn src(ip: Ipv4Addr) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(ip), 40000)
}

fn ask(gw: &mut Gateway, buf: &[u8], from: Ipv4Addr, now: u64) -> Option<Vec<u8>> {
    handle(buf, src(from), IpAddr::V4(LAN_GW), now, gw)
}

/// NAT-PMP map request: version 0, opcode (1 UDP, 2 TCP), reserved,
/// internal port, suggested external port, lifetime (RFC 6886 §3.3).
fn pmp_map(op: u8, iport: u16, eport: u16, lifetime: u32) -> Vec<u8> {
    let mut v = vec![0, op, 0, 0];
    v.extend_from_slice(&iport.to_be_bytes());
    v.extend_from_slice(&eport.to_be_bytes());
    v.extend_from_slice(&lifetime.to_be_bytes());
    v
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([b[i], b[i + 1]])
}
fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

#[test]
fn natpmp_external_address() {
    let (mut gw, _) = gateway(settings(None));
    let r = ask(&mut gw, &[0, 0], HOST, NOW + 7).expect("answer");
    // version 0, opcode 128, result 0, epoch 7, 203.0.113.1
    assert_eq!(r, [0, 128, 0, 0, 0, 0, 0, 7, 203, 0, 113, 1]);
}

#[test]
fn natpmp_external_address_network_failure_when_forwarding_impossible() {
    let mut s = settings(None);
    s.allow_private_external = false;
    let (mut gw, _) = gateway(s);
    let r = ask(&mut gw, &[0, 0], HOST, NOW).expect("answer");
    assert_eq!(r, [0, 128, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0]);
    let r = ask(&mut gw, &pmp_map(2, 4000, 4000, 3600), HOST, NOW).expect("answer");
    assert_eq!(u16_at(&r, 2), 3, "network failure");
}

#[test]
fn natpmp_map_tcp_and_udp_then_delete() {
    let (mut gw, fw) = gateway(settings(None));
    let r = ask(&mut gw, &pmp_map(2, 4000, 4000, 3600), HOST, NOW).expect("answer");
    assert_eq!(
        r,
        [0, 130, 0, 0, 0, 0, 0, 0, 0x0f, 0xa0, 0x0f, 0xa0, 0, 0, 0x0e, 0x10]
    );
    let r = ask(&mut gw, &pmp_map(1, 5000, 0, 3600), HOST, NOW).expect("answer");
    assert_eq!(r[1], 129);
    assert_eq!(u16_at(&r, 10), 5000, "suggested 0: internal port as hint");
    assert_eq!(
        fw.ports(),
        vec![(6, 4000, HOST, 4000), (17, 5000, HOST, 5000)]
    );
    // Delete the TCP one (lifetime 0).
    let r = ask(&mut gw, &pmp_map(2, 4000, 4000, 0), HOST, NOW).expect("answer");
    assert_eq!(u16_at(&r, 2), 0);
    assert_eq!(u16_at(&r, 10), 0);
    assert_eq!(u32_at(&r, 12), 0);
    assert_eq!(fw.ports(), vec![(17, 5000, HOST, 5000)]);
    // Deleting what is not there is a success too (RFC 6886 §3.4).
    let r = ask(&mut gw, &pmp_map(2, 4000, 0, 0), HOST, NOW).expect("answer");
    assert_eq!(u16_at(&r, 2), 0);
}

#[test]
fn natpmp_suggested_port_is_a_hint() {
    let (mut gw, _) = gateway(settings(None));
    ask(&mut gw, &pmp_map(2, 4000, 4000, 3600), HOST, NOW).expect("answer");
    let r = ask(&mut gw, &pmp_map(2, 4000, 4000, 3600), HOST2, NOW).expect("answer");
    assert_eq!(u16_at(&r, 2), 0);
    assert_ne!(u16_at(&r, 10), 4000, "taken: another port");
    // A renewal keeps the port whatever is suggested.
    let r = ask(&mut gw, &pmp_map(2, 4000, 9999, 3600), HOST, NOW + 10).expect("answer");
    assert_eq!(u16_at(&r, 10), 4000);
}

#[test]
fn natpmp_delete_all_removes_only_that_clients_natpmp_mappings() {
    let (mut gw, fw) = gateway(settings(None));
    ask(&mut gw, &pmp_map(2, 4000, 4000, 3600), HOST, NOW);
    ask(&mut gw, &pmp_map(2, 4001, 4001, 3600), HOST, NOW);
    ask(&mut gw, &pmp_map(1, 4002, 4002, 3600), HOST, NOW);
    ask(&mut gw, &pmp_map(2, 4003, 4003, 3600), HOST2, NOW);
    let r = ask(&mut gw, &pmp_map(2, 0, 0, 0), HOST, NOW).expect("answer");
    assert_eq!(u16_at(&r, 2), 0);
    assert_eq!(
        fw.ports(),
        vec![(6, 4003, HOST2, 4003), (17, 4002, HOST, 4002)]
    );
}

#[test]
fn natpmp_lifetime_is_clamped() {
    let (mut gw, _) = gateway(settings(None));
    let r = ask(&mut gw, &pmp_map(2, 4000, 4000, 1), HOST, NOW).expect("answer");
    assert_eq!(u32_at(&r, 12), 120);
    let r = ask(&mut gw, &pmp_map(2, 4001, 4001, u32::MAX), HOST, NOW).expect("answer");
    assert_eq!(u32_at(&r, 12), 86_400);
}

#[test]
fn natpmp_denied_port_is_not_authorized() {
    let mut s = settings(None);
    s.rules
        .push(Rule::parse("deny 0-65535 0.0.0.0/0 23").expect("rule"));
    let (mut gw, fw) = gateway(s);
    let r = ask(&mut gw, &pmp_map(2, 23, 23, 3600), HOST, NOW).expect("answer");
    assert_eq!(u16_at(&r, 2), 2, "not authorized");
    // Port 22 is denied as an external port only: another one is chosen.
    let r = ask(&mut gw, &pmp_map(2, 22, 22, 3600), HOST, NOW).expect("answer");
    assert_eq!(u16_at(&r, 2), 0);
    assert_ne!(u16_at(&r, 10), 22);
    assert_eq!(fw.ports().len(), 1);
}

#[test]
fn natpmp_quota_is_out_of_resources() {
    let (mut gw, _) = gateway(settings(None)); // 4 per client
    for p in 0..4 {
        let r = ask(&mut gw, &pmp_map(2, 4000 + p, 0, 3600), HOST, NOW).expect("answer");
        assert_eq!(u16_at(&r, 2), 0);
    }
    let r = ask(&mut gw, &pmp_map(2, 4010, 0, 3600), HOST, NOW).expect("answer");
    assert_eq!(u16_at(&r, 2), 4);
}

#[test]
fn natpmp_bad_requests() {
    let (mut gw, _) = gateway(settings(None));
    // Unknown opcode 3: 8-byte reply, opcode 131, result 5.
    assert_eq!(
        ask(&mut gw, &[0, 3], HOST, NOW),
        Some(vec![0, 131, 0, 5, 0, 0, 0, 0])
    );
    // A truncated map request and a response are dropped; 1 byte too.
    assert_eq!(ask(&mut gw, &[0, 2, 0, 0, 0x0f], HOST, NOW), None);
    assert_eq!(ask(&mut gw, &[0, 128], HOST, NOW), None);
    assert_eq!(ask(&mut gw, &[0], HOST, NOW), None);
    assert_eq!(ask(&mut gw, &[], HOST, NOW), None);
}

#[test]
fn exposure_non_lan_and_external_address_dropped() {
    let (mut gw, fw) = gateway(settings(None));
    let wan = Ipv4Addr::new(203, 0, 113, 2);
    assert_eq!(ask(&mut gw, &[0, 0], wan, NOW), None);
    assert_eq!(ask(&mut gw, &pmp_map(2, 4000, 4000, 60), wan, NOW), None);
    // Addressed to the external address, even from a LAN source.
    assert_eq!(
        handle(&[0, 0], src(HOST), IpAddr::V4(EXT), NOW, &mut gw),
        None
    );
    let v6 = SocketAddr::new(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), 1);
    assert_eq!(handle(&[0, 0], v6, IpAddr::V4(LAN_GW), NOW, &mut gw), None);
    assert!(fw.ports().is_empty());
}

// ---------------------------------------------------------------- PCP

const NONCE: [u8; 12] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

fn mapped(ip: Ipv4Addr) -> [u8; 16] {
    let o = ip.octets();
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, o[0], o[1], o[2], o[3],
    ]
}

/// PCP MAP request (RFC 6887 §7.1 header + §11.1 MAP data) + raw options.
fn pcp_map(
    client: Ipv4Addr,
    lifetime: u32,
    nonce: [u8; 12],
    proto: u8,
    iport: u16,
    eport: u16,
    options: &[u8],
) -> Vec<u8> {
    let mut v = vec![2, 1, 0, 0];
    v.extend_from_slice(&lifetime.to_be_bytes());
    v.extend_from_slice(&mapped(client));
    v.extend_from_slice(&nonce);
    v.extend_from_slice(&[proto, 0, 0, 0]);
    v.extend_from_slice(&iport.to_be_bytes());
    v.extend_from_slice(&eport.to_be_bytes());
    v.extend_from_slice(&mapped(Ipv4Addr::UNSPECIFIED));
    v.extend_from_slice(options);
    v
}

fn opt(code: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![code, 0];
    v.extend_from_slice(&u16::try_from(data.len()).expect("short").to_be_bytes());
    v.extend_from_slice(data);
    while v.len() % 4 != 0 {
        v.push(0);
    }
    v
}

fn filter(prefix: u8, port: u16, addr: Ipv4Addr) -> Vec<u8> {
    let mut d = vec![0, prefix];
    d.extend_from_slice(&port.to_be_bytes());
    d.extend_from_slice(&mapped(addr));
    opt(3, &d)
}

/// (result code, lifetime, external port) of a PCP MAP response.
fn pcp_result(r: &[u8]) -> (u8, u32, u16) {
    assert_eq!(r[0], 2, "version");
    (
        r[3],
        u32_at(r, 4),
        if r.len() >= 60 { u16_at(r, 42) } else { 0 },
    )
}

#[test]
fn pcp_map_success_renew_and_delete() {
    let (mut gw, fw) = gateway(settings(None));
    let req = pcp_map(HOST, 3600, NONCE, 6, 4000, 4000, &[]);
    let r = ask(&mut gw, &req, HOST, NOW + 3).expect("answer");
    assert_eq!(r.len(), 60);
    assert_eq!(r[1], 0x81, "MAP with the R bit");
    assert_eq!(pcp_result(&r), (0, 3600, 4000));
    assert_eq!(u32_at(&r, 8), 3, "epoch");
    assert_eq!(&r[24..36], &NONCE);
    assert_eq!(&r[44..60], &mapped(EXT), "assigned external address");
    assert_eq!(fw.ports(), vec![(6, 4000, HOST, 4000)]);
    // Renew with another suggested port: same external port.
    let r = ask(
        &mut gw,
        &pcp_map(HOST, 3600, NONCE, 6, 4000, 7000, &[]),
        HOST,
        NOW,
    )
    .expect("answer");
    assert_eq!(pcp_result(&r), (0, 3600, 4000));
    // Delete with another nonce: NOT_AUTHORIZED (long lifetime).
    let mut other = NONCE;
    other[0] = 99;
    let r = ask(
        &mut gw,
        &pcp_map(HOST, 0, other, 6, 4000, 4000, &[]),
        HOST,
        NOW,
    )
    .expect("answer");
    assert_eq!(pcp_result(&r).0, 2);
    assert_eq!(pcp_result(&r).1, 1800);
    // Renew with another nonce: NOT_AUTHORIZED.
    let r = ask(
        &mut gw,
        &pcp_map(HOST, 3600, other, 6, 4000, 4000, &[]),
        HOST,
        NOW,
    )
    .expect("answer");
    assert_eq!(pcp_result(&r).0, 2);
    // Delete with the nonce.
    let r = ask(
        &mut gw,
        &pcp_map(HOST, 0, NONCE, 6, 4000, 4000, &[]),
        HOST,
        NOW,
    )
    .expect("answer");
    assert_eq!(pcp_result(&r).0, 0);
    assert_eq!(pcp_result(&r).1, 0);
    assert!(fw.ports().is_empty());
}

#[test]
fn pcp_lifetime_clamped() {
    let (mut gw, _) = gateway(settings(None));
    let r = ask(
        &mut gw,
        &pcp_map(HOST, u32::MAX, NONCE, 17, 5000, 0, &[]),
        HOST,
        NOW,
    )
    .expect("answer");
    assert_eq!(pcp_result(&r), (0, 86_400, 5000));
    let r = ask(
        &mut gw,
        &pcp_map(HOST, 5, NONCE, 17, 5001, 0, &[]),
        HOST,
        NOW,
    )
    .expect("answer");
    assert_eq!(pcp_result(&r), (0, 120, 5001));
}

#[test]
fn pcp_address_mismatch() {
    let (mut gw, _) = gateway(settings(None));
    let r = ask(
        &mut gw,
        &pcp_map(HOST2, 3600, NONCE, 6, 4000, 4000, &[]),
        HOST,
        NOW,
    )
    .expect("answer");
    assert_eq!(pcp_result(&r).0, 12);
    assert_eq!(pcp_result(&r).1, 1800);
}

#[test]
fn pcp_versions_and_sizes() {
    let (mut gw, _) = gateway(settings(None));
    let mut v1 = pcp_map(HOST, 3600, NONCE, 6, 4000, 4000, &[]);
    v1[0] = 1;
    let r = ask(&mut gw, &v1, HOST, NOW).expect("answer");
    assert_eq!((r[0], r[3]), (2, 1), "UNSUPP_VERSION");
    let mut v3 = v1.clone();
    v3[0] = 3;
    assert_eq!(ask(&mut gw, &v3, HOST, NOW).expect("answer")[3], 1);
    // R bit set: dropped. Shorter than 24: dropped.
    let mut r_bit = pcp_map(HOST, 3600, NONCE, 6, 4000, 4000, &[]);
    r_bit[1] |= 0x80;
    assert_eq!(ask(&mut gw, &r_bit, HOST, NOW), None);
    assert_eq!(ask(&mut gw, &[2, 1, 0, 0, 0, 0, 0, 0], HOST, NOW), None);
    // Not a multiple of 4, longer than 1100: MALFORMED_REQUEST.
    let mut odd = pcp_map(HOST, 3600, NONCE, 6, 4000, 4000, &[]);
    odd.push(0);
    assert_eq!(ask(&mut gw, &odd, HOST, NOW).expect("answer")[3], 3);
    let mut long = pcp_map(HOST, 3600, NONCE, 6, 4000, 4000, &[]);
    long.resize(1104, 0);
    assert_eq!(ask(&mut gw, &long, HOST, NOW).expect("answer")[3], 3);
    // MAP data cut short: MALFORMED_REQUEST.
    let short = &pcp_map(HOST, 3600, NONCE, 6, 4000, 4000, &[])[..40];
    assert_eq!(ask(&mut gw, short, HOST, NOW).expect("answer")[3], 3);
    // Unknown opcode 5: UNSUPP_OPCODE.
    let mut op5 = pcp_map(HOST, 3600, NONCE, 6, 4000, 4000, &[]);
    op5[1] = 5;
    assert_eq!(ask(&mut gw, &op5, HOST, NOW).expect("answer")[3], 4);
}

#[test]
fn pcp_options() {
    let (mut gw, fw) = gateway(settings(None));
    let map = |o: &[u8]| pcp_map(HOST, 3600, NONCE, 6, 4000, 4000, o);
    // Unknown mandatory option 99: UNSUPP_OPTION; unknown optional 200: ignored.
    let r = ask(&mut gw, &map(&opt(99, &[1, 2, 3, 4])), HOST, NOW).expect("answer");
    assert_eq!(r[3], 5);
    // Option length past the end: MALFORMED_OPTION.
    let r = ask(&mut gw, &map(&[128, 0, 0, 40]), HOST, NOW).expect("answer");
    assert_eq!(r[3], 6);
    // THIRD_PARTY while disabled: UNSUPP_OPTION; twice: MALFORMED_OPTION.
    let tp = opt(1, &mapped(HOST2));
    let r = ask(&mut gw, &map(&tp), HOST, NOW).expect("answer");
    assert_eq!(r[3], 5);
    let r = ask(&mut gw, &map(&[tp.clone(), tp].concat()), HOST, NOW).expect("answer");
    assert_eq!(r[3], 6);
    assert!(fw.ports().is_empty());
    let r = ask(&mut gw, &map(&opt(200, &[1])), HOST, NOW).expect("answer");
    assert_eq!(r[3], 0);
}

#[test]
fn pcp_third_party_when_allowed_is_lan_only() {
    let mut s = settings(None);
    s.pcp_allow_thirdparty = true;
    let (mut gw, fw) = gateway(s);
    let map = |o: &[u8]| pcp_map(HOST, 3600, NONCE, 6, 4000, 4000, o);
    let r = ask(&mut gw, &map(&opt(1, &mapped(HOST2))), HOST, NOW).expect("answer");
    assert_eq!(r[3], 0);
    assert_eq!(fw.ports(), vec![(6, 4000, HOST2, 4000)]);
    let r = ask(
        &mut gw,
        &map(&opt(1, &mapped(Ipv4Addr::new(8, 8, 8, 8)))),
        HOST,
        NOW,
    )
    .expect("answer");
    assert_eq!(r[3], 2, "NOT_AUTHORIZED");
    let r = ask(&mut gw, &map(&opt(1, &mapped(LAN_GW))), HOST, NOW).expect("answer");
    assert_eq!(r[3], 2, "the gateway itself");
}

#[test]
fn pcp_prefer_failure_and_filter_and_description() {
    let (mut gw, fw) = gateway(settings(None));
    ask(
        &mut gw,
        &pcp_map(HOST, 3600, NONCE, 6, 4000, 4000, &[]),
        HOST,
        NOW,
    );
    // Port taken by HOST: HOST2 with PREFER_FAILURE gets CANNOT_PROVIDE_EXTERNAL.
    let r = ask(
        &mut gw,
        &pcp_map(HOST2, 3600, NONCE, 6, 4000, 4000, &opt(2, &[])),
        HOST2,
        NOW,
    )
    .expect("answer");
    assert_eq!((r[3], u32_at(&r, 4)), (11, 30), "short lifetime error");
    // Without it: another port.
    let r = ask(
        &mut gw,
        &pcp_map(HOST2, 3600, NONCE, 6, 4000, 4000, &[]),
        HOST2,
        NOW,
    )
    .expect("answer");
    assert_eq!(r[3], 0);
    assert_ne!(u16_at(&r, 42), 4000);
    // FILTER to one remote host is the remote host restriction.
    let remote = Ipv4Addr::new(203, 0, 113, 2);
    let desc = opt(128, b"game server");
    let o = [filter(128, 0, remote), desc].concat();
    let r = ask(
        &mut gw,
        &pcp_map(HOST, 3600, NONCE, 17, 6000, 6000, &o),
        HOST,
        NOW,
    )
    .expect("answer");
    assert_eq!(r[3], 0);
    assert_eq!(r.len(), 60 + o.len(), "processed options echoed");
    let m = gw
        .table()
        .find_by_internal(HOST, Protocol::Udp, 6000)
        .expect("mapped");
    assert_eq!(m.remote_host, Some(remote));
    assert_eq!(m.description, "game server");
    // A filter set we cannot install: EXCESSIVE_REMOTE_PEERS.
    let r = ask(
        &mut gw,
        &pcp_map(HOST, 3600, NONCE, 17, 6001, 6001, &filter(120, 0, remote)),
        HOST,
        NOW,
    )
    .expect("answer");
    assert_eq!(r[3], 13);
    assert_eq!(fw.ports().len(), 3);
}

#[test]
fn pcp_protocol_and_port_checks() {
    let (mut gw, _) = gateway(settings(None));
    let r = ask(
        &mut gw,
        &pcp_map(HOST, 3600, NONCE, 0, 0, 0, &[]),
        HOST,
        NOW,
    )
    .expect("answer");
    assert_eq!(r[3], 9, "UNSUPP_PROTOCOL for all-protocols");
    let r = ask(
        &mut gw,
        &pcp_map(HOST, 3600, NONCE, 132, 80, 80, &[]),
        HOST,
        NOW,
    )
    .expect("answer");
    assert_eq!(r[3], 9);
    let r = ask(
        &mut gw,
        &pcp_map(HOST, 3600, NONCE, 6, 0, 80, &[]),
        HOST,
        NOW,
    )
    .expect("answer");
    assert_eq!(r[3], 3, "MALFORMED_REQUEST");
}

#[test]
fn pcp_quota_and_forwarding() {
    let (mut gw, _) = gateway(settings(None)); // 4 per client
    for p in 0..4 {
        let r = ask(
            &mut gw,
            &pcp_map(HOST, 3600, NONCE, 6, 4000 + p, 0, &[]),
            HOST,
            NOW,
        )
        .expect("answer");
        assert_eq!(r[3], 0);
    }
    let r = ask(
        &mut gw,
        &pcp_map(HOST, 3600, NONCE, 6, 4100, 0, &[]),
        HOST,
        NOW,
    )
    .expect("answer");
    assert_eq!(
        (r[3], u32_at(&r, 4)),
        (10, 30),
        "USER_EX_QUOTA, short lifetime"
    );
    gw.set_external(None, NOW);
    let r = ask(
        &mut gw,
        &pcp_map(HOST2, 3600, NONCE, 6, 4100, 0, &[]),
        HOST2,
        NOW,
    )
    .expect("answer");
    assert_eq!(r[3], 7, "NETWORK_FAILURE");
}

#[test]
fn pcp_denied_is_not_authorized() {
    let mut s = settings(None);
    s.rules
        .push(Rule::parse("deny 0-65535 0.0.0.0/0 23").expect("rule"));
    let (mut gw, _) = gateway(s);
    let r = ask(
        &mut gw,
        &pcp_map(HOST, 3600, NONCE, 6, 23, 23, &[]),
        HOST,
        NOW,
    )
    .expect("answer");
    assert_eq!(r[3], 2);
}

#[test]
fn pcp_announce() {
    let (mut gw, _) = gateway(settings(None));
    let mut req = vec![2, 0, 0, 0, 0, 0, 0, 0];
    req.extend_from_slice(&mapped(HOST));
    let r = ask(&mut gw, &req, HOST, NOW + 5).expect("answer");
    assert_eq!(r.len(), 24);
    assert_eq!((r[1], r[3], u32_at(&r, 4), u32_at(&r, 8)), (0x80, 0, 0, 5));
}

#[test]
fn announcements_follow_the_rfc_backoff() {
    let (gw, _) = gateway(settings(None));
    let msgs = announcements(&gw, NOW + 2);
    assert_eq!(msgs[0], [0, 128, 0, 0, 0, 0, 0, 2, 203, 0, 113, 1]);
    assert_eq!(msgs[1].len(), 24);
    assert_eq!((msgs[1][1], msgs[1][3]), (0x80, 0));
    let t0 = Duration::from_secs(NOW);
    let mut a = Announcer::new();
    assert!(!a.poll(t0));
    a.restart(t0);
    let mut sent = Vec::new();
    while let Some(t) = a.deadline() {
        assert!(a.poll(t));
        assert!(!a.poll(t), "once per deadline");
        sent.push(t - t0);
    }
    assert_eq!(sent.len(), 10);
    assert_eq!(sent[0], Duration::ZERO);
    assert_eq!(sent[1], Duration::from_millis(250));
    assert_eq!(sent[2], Duration::from_millis(750));
    assert_eq!(sent[9] - sent[8], Duration::from_millis(250 << 8));
}

// ---- batches (handle_batch): one transaction, same answers, fallback ----

use crate::gateway::tests::SharedMem;
use portgate_nft::{Change, Firewall, FirewallError, MappingEntry, PinholeEntry};

/// `datagrams` from `from` handled as one batch on `LAN_GW`.
fn ask_batch(
    gw: &mut Gateway,
    datagrams: &[(Vec<u8>, Ipv4Addr)],
    now: u64,
) -> Vec<Option<Vec<u8>>> {
    let batch: Vec<(&[u8], SocketAddr)> = datagrams
        .iter()
        .map(|(d, from)| (d.as_slice(), src(*from)))
        .collect();
    handle_batch(&batch, IpAddr::V4(LAN_GW), now, gw)
}

fn roomy(lease_file: Option<std::path::PathBuf>) -> crate::gateway::GatewaySettings {
    let mut s = settings(lease_file);
    s.limits.max_per_client = 1000;
    s.limits.max_total = 1000;
    s
}

fn journal_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("lease file")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn batch_of_100_maps_is_one_transaction_and_one_journal_append() {
    let dir = tempfile::tempdir().expect("tempdir");
    let leases = dir.path().join("leases");
    let (mut gw, fw) = gateway(roomy(Some(leases.clone())));
    let before = fw.0.borrow().transactions();
    let reqs: Vec<(Vec<u8>, Ipv4Addr)> = (0..100u16)
        .map(|i| {
            let port = 5000 + i;
            if i % 2 == 0 {
                (pmp_map(2, port, port, 3600), HOST)
            } else {
                let mut nonce = NONCE;
                nonce[..2].copy_from_slice(&port.to_be_bytes());
                (pcp_map(HOST2, 3600, nonce, 17, port, port, &[]), HOST2)
            }
        })
        .collect();
    let replies = ask_batch(&mut gw, &reqs, NOW + 1);
    assert_eq!(fw.0.borrow().transactions() - before, 1, "one transaction");
    for (i, r) in replies.iter().enumerate() {
        let r = r.as_ref().expect("answer");
        let port = 5000 + u16::try_from(i).expect("small");
        if i % 2 == 0 {
            assert_eq!((u16_at(r, 2), u16_at(r, 10)), (0, port), "nat-pmp {i}");
        } else {
            assert_eq!(pcp_result(r), (0, 3600, port), "pcp {i}");
        }
    }
    let ports = fw.ports();
    assert_eq!(ports.len(), 100);
    assert!(ports.contains(&(6, 5000, HOST, 5000)));
    assert!(ports.contains(&(17, 5099, HOST2, 5099)));
    assert_eq!(gw.table().len(), 100);
    // The journal holds every mapping (appended before any answer could be sent).
    let lines = journal_lines(&leases);
    let entries = lines
        .iter()
        .filter(|l| l.starts_with("TCP:") || l.starts_with("UDP:"))
        .count();
    assert_eq!(entries, 100, "{lines:?}");
    assert!(lines
        .iter()
        .any(|l| l.starts_with("TCP:5000:10.77.0.2:5000:")));
}

#[test]
fn batch_answers_as_the_same_requests_one_by_one() {
    let mut s = settings(None);
    s.limits.max_per_client = 3;
    let other_nonce = [9u8; 12];
    let reqs: Vec<(Vec<u8>, Ipv4Addr)> = vec![
        (pmp_map(2, 4000, 4000, 3600), HOST),
        // Same external port from another host: the next free one.
        (pmp_map(2, 4000, 4000, 3600), HOST2),
        // Refresh of the first: same external port.
        (pmp_map(2, 4000, 4000, 7200), HOST),
        // Denied port (rule "deny 22"): searched elsewhere.
        (pmp_map(2, 22, 22, 3600), HOST),
        (pcp_map(HOST2, 3600, NONCE, 6, 5000, 5000, &[]), HOST2),
        // Same mapping, other nonce: refused.
        (pcp_map(HOST2, 3600, other_nonce, 6, 5000, 5000, &[]), HOST2),
        // Delete of HOST's 4000, then the port taken by HOST2 (its third).
        (pmp_map(2, 4000, 0, 0), HOST),
        (pmp_map(2, 4100, 4000, 3600), HOST2),
        // HOST2's fourth: over quota.
        (pmp_map(1, 6000, 6000, 3600), HOST2),
        // Not a request: dropped; external address: answered.
        (vec![0, 1], HOST),
        (vec![0, 0], HOST),
    ];
    let (mut one, fw_one) = gateway(s.clone());
    let singly: Vec<Option<Vec<u8>>> = reqs
        .iter()
        .map(|(d, from)| ask(&mut one, d, *from, NOW + 5))
        .collect();
    let (mut many, fw_many) = gateway(s);
    let before = fw_many.0.borrow().transactions();
    let batched = ask_batch(&mut many, &reqs, NOW + 5);
    assert_eq!(batched, singly);
    assert_eq!(fw_many.ports(), fw_one.ports());
    assert_eq!(fw_many.0.borrow().transactions() - before, 1);
    // The answers say what the rules say, not just "the same".
    let code = |r: &Option<Vec<u8>>| u16_at(r.as_ref().expect("answer"), 2);
    assert_eq!(code(&batched[1]), 0);
    assert_ne!(u16_at(batched[1].as_ref().expect("answer"), 10), 4000);
    assert_eq!(
        pcp_result(batched[5].as_ref().expect("answer")).0,
        2,
        "NOT_AUTHORIZED"
    );
    assert_eq!(u16_at(batched[7].as_ref().expect("answer"), 10), 4000);
    assert_eq!(code(&batched[8]), 4, "over quota: out of resources");
}

/// A kernel that refuses any transaction putting external port `bad`.
#[derive(Clone)]
struct Picky {
    mem: SharedMem,
    bad: u16,
}

impl Firewall for Picky {
    fn init(&mut self) -> Result<(), FirewallError> {
        self.mem.init()
    }
    fn apply(&mut self, changes: &[Change]) -> Result<(), FirewallError> {
        if changes
            .iter()
            .any(|c| matches!(c, Change::Put(m) if m.key.external_port == self.bad))
        {
            return Err(FirewallError::Kernel {
                op: "add element",
                source: std::io::Error::from_raw_os_error(22),
            });
        }
        self.mem.apply(changes)
    }
    fn list(&mut self) -> Result<Vec<MappingEntry>, FirewallError> {
        self.mem.list()
    }
    fn list_pinholes(&mut self) -> Result<Vec<PinholeEntry>, FirewallError> {
        self.mem.list_pinholes()
    }
    fn shutdown(&mut self, keep: bool) -> Result<(), FirewallError> {
        self.mem.shutdown(keep)
    }
}

#[test]
fn refused_batch_falls_back_to_one_request_at_a_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let leases = dir.path().join("leases");
    let mem = SharedMem::default();
    let fw = Picky {
        mem: mem.clone(),
        bad: 6000,
    };
    let (mut gw, _) =
        Gateway::start(roomy(Some(leases.clone())), Box::new(fw), Some(EXT), NOW).expect("start");
    // A mapping the batch refreshes to a new port: the rollback must bring it back.
    let r = ask(&mut gw, &pmp_map(2, 4000, 4000, 3600), HOST, NOW).expect("answer");
    assert_eq!(u16_at(&r, 2), 0);
    let reqs: Vec<(Vec<u8>, Ipv4Addr)> = vec![
        (pmp_map(2, 5000, 5000, 3600), HOST),
        (pmp_map(2, 6000, 6000, 3600), HOST2),
        (pmp_map(2, 4000, 0, 0), HOST),
        (pmp_map(2, 7000, 7000, 3600), HOST2),
    ];
    let replies = ask_batch(&mut gw, &reqs, NOW + 1);
    let code = |i: usize| u16_at(replies[i].as_ref().expect("answer"), 2);
    assert_eq!([code(0), code(1), code(2), code(3)], [0, 3, 0, 0]);
    assert_eq!(
        mem.ports(),
        vec![(6, 5000, HOST, 5000), (6, 7000, HOST2, 7000)]
    );
    assert_eq!(gw.table().len(), 2);
    assert!(gw
        .table()
        .find_by_internal(HOST2, Protocol::Tcp, 6000)
        .is_none());
    let lines = journal_lines(&leases);
    assert!(!lines.iter().any(|l| l.contains(":6000:")), "{lines:?}");
    assert!(lines
        .iter()
        .any(|l| l.starts_with("TCP:7000:10.77.0.3:7000:")));
}

#[test]
fn inbox_reads_until_would_block_and_at_most_a_batch() {
    let mut inbox = Inbox::new();
    let mut left = 3;
    let n = inbox.fill(|b| {
        if left == 0 {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        left -= 1;
        b[0] = left;
        Ok((1, src(HOST)))
    });
    assert_eq!(n, 3);
    let got: Vec<u8> = inbox.datagrams().iter().map(|(d, _)| d[0]).collect();
    assert_eq!(got, [2, 1, 0]);
    let n = inbox.fill(|_| Ok((4, src(HOST2))));
    assert_eq!(n, MAX_BATCH);
    assert!(inbox
        .datagrams()
        .iter()
        .all(|(d, f)| d.len() == 4 && *f == src(HOST2)));
}

/// CGN mode over 192.0.2.8/30 for the lab's /24: HOST (offset 2) pairs with
/// 192.0.2.10, HOST2 (offset 3) with 192.0.2.11; 64 subscribers per address, port
/// sets of `quota` ports from 1024.
pub(crate) fn cgn_settings(third_party: bool, quota: &str) -> crate::gateway::GatewaySettings {
    let mut s = settings(None);
    let mut c = crate::cgn::CgnConfig::default();
    for (k, v) in [
        ("cgn_mode", "yes"),
        ("cgn_external_pool", "192.0.2.8/30"),
        ("cgn_subscribers", "10.77.0.0/24"),
        ("cgn_thirdparty_from", "10.77.0.2"),
        ("cgn_port_quota", quota),
    ] {
        assert!(c.set(k, v).expect("valid"));
    }
    s.cgn = c.build().expect("fits");
    s.natpmp = c.serves_natpmp();
    s.pcp_allow_thirdparty = third_party;
    s.limits.max_total = 10_000;
    s
}

#[test]
fn cgn_pcp_map_gets_the_paired_address_and_nat_pmp_is_refused() {
    let (mut gw, fw) = gateway(cgn_settings(false, "1000"));
    let (a, b) = (Ipv4Addr::new(192, 0, 2, 10), Ipv4Addr::new(192, 0, 2, 11));
    for (host, ext) in [(HOST, a), (HOST2, b)] {
        let r = ask(
            &mut gw,
            &pcp_map(host, 3600, NONCE, 6, 1500, 1500, &[]),
            host,
            NOW,
        )
        .expect("answer");
        assert_eq!(
            pcp_result(&r),
            (0, 3600, 1500),
            "the suggestion is in the set"
        );
        assert_eq!(&r[44..60], &mapped(ext), "the paired address");
    }
    let keys: Vec<_> =
        fw.0.borrow_mut()
            .list()
            .expect("list")
            .into_iter()
            .map(|e| {
                (
                    e.mapping.key.external,
                    e.mapping.key.external_port,
                    e.mapping.internal_addr,
                )
            })
            .collect();
    assert_eq!(keys.len(), 2);
    assert!(keys.contains(&(Some(a), 1500, HOST)) && keys.contains(&(Some(b), 1500, HOST2)));
    // A suggestion outside the set: a port of the set; with PREFER_FAILURE, refused.
    let r = ask(
        &mut gw,
        &pcp_map(HOST, 3600, NONCE, 6, 80, 80, &[]),
        HOST,
        NOW,
    )
    .expect("answer");
    assert_eq!(pcp_result(&r), (0, 3600, 1024));
    let r = ask(
        &mut gw,
        &pcp_map(HOST, 3600, NONCE, 6, 81, 9000, &opt(2, &[])),
        HOST,
        NOW,
    )
    .expect("answer");
    assert_eq!(r[3], 11, "CANNOT_PROVIDE_EXTERNAL");
    // NAT-PMP is off: Not Authorized/Refused (RFC 6886 result 2), nothing mapped.
    let r = ask(&mut gw, &pmp_map(2, 4000, 4000, 3600), HOST, NOW).expect("answer");
    assert_eq!((r[1], u16_at(&r, 2)), (130, 2));
    let r = ask(&mut gw, &[0, 0], HOST, NOW).expect("answer");
    assert_eq!((r[1], u16_at(&r, 2)), (128, 2));
    assert_eq!(fw.ports().len(), 3);
    // Its announcements too: PCP's ANNOUNCE only.
    let sent = announcements(&gw, NOW);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0][0], 2, "PCP version 2");
    // A FILTER (remote host restriction) cannot be installed on a pool address.
    let f = filter(128, 0, Ipv4Addr::new(203, 0, 113, 2));
    let r = ask(
        &mut gw,
        &pcp_map(HOST, 3600, NONCE, 17, 6000, 6000, &f),
        HOST,
        NOW,
    )
    .expect("answer");
    assert_eq!(r[3], 13, "EXCESSIVE_REMOTE_PEERS");
    assert_eq!(fw.ports().len(), 3);
}

#[test]
fn cgn_port_set_full_is_user_ex_quota() {
    let (mut gw, _) = gateway(cgn_settings(false, "2"));
    let got: Vec<(u8, u32)> = [7000, 7001, 7002]
        .into_iter()
        .filter_map(|p| {
            ask(
                &mut gw,
                &pcp_map(HOST, 3600, NONCE, 17, p, p, &[]),
                HOST,
                NOW,
            )
        })
        .map(|r| (r[3], u32_at(&r, 4)))
        .collect();
    // Two ports in the set; the third: USER_EX_QUOTA with the short error lifetime.
    assert_eq!(got, [(0, 3600), (0, 3600), (10, 30)]);
}

#[test]
fn cgn_third_party_from_the_proxy_only() {
    let (mut gw, fw) = gateway(cgn_settings(true, "1000"));
    let map = |o: &[u8]| pcp_map(HOST, 3600, NONCE, 6, 4000, 4000, o);
    let r = ask(&mut gw, &map(&opt(1, &mapped(HOST2))), HOST, NOW).expect("answer");
    assert_eq!(r[3], 0, "HOST is the configured proxy");
    assert_eq!(
        &r[44..60],
        &mapped(Ipv4Addr::new(192, 0, 2, 11)),
        "HOST2's pairing"
    );
    assert_eq!(
        fw.ports(),
        vec![(6, 2023, HOST2, 4000)],
        "the set's port nearest 4000"
    );
    let r = ask(
        &mut gw,
        &pcp_map(HOST2, 3600, NONCE, 6, 4000, 4000, &opt(1, &mapped(HOST))),
        HOST2,
        NOW,
    )
    .expect("answer");
    assert_eq!(r[3], 2, "NOT_AUTHORIZED: HOST2 is no proxy");
    let r = ask(
        &mut gw,
        &map(&opt(1, &mapped(Ipv4Addr::new(10, 9, 9, 9)))),
        HOST,
        NOW,
    )
    .expect("answer");
    assert_eq!(r[3], 2, "NOT_AUTHORIZED: not a subscriber");
    let (mut off, _) = gateway(cgn_settings(false, "1000"));
    let r = ask(&mut off, &map(&opt(1, &mapped(HOST2))), HOST, NOW).expect("answer");
    assert_eq!(r[3], 5, "UNSUPP_OPTION without pcp_allow_thirdparty");
}

/// CGN mode with a lease journal: the same protocol and port mapped by two
/// subscribers on their two pool addresses, one of them deleted, come back after a
/// restart each on its paired address (and in the kernel's pool map); a line whose
/// address is not the subscriber's pairing under the new configuration is skipped.
#[test]
fn cgn_leases_come_back_on_their_paired_addresses() {
    let store = crate::lease::MemoryStore::default();
    let fw = SharedMem::default();
    let start = |s, now| {
        Gateway::start_with(
            s,
            Box::new(fw.clone()),
            Some(Box::new(store.clone()) as Box<dyn crate::lease::LeaseStore>),
            Some(EXT),
            now,
        )
        .expect("start")
    };
    let (a, b) = (Ipv4Addr::new(192, 0, 2, 10), Ipv4Addr::new(192, 0, 2, 11));
    let (mut gw, _) = start(cgn_settings(false, "1000"), NOW);
    for (host, port) in [(HOST, 1500), (HOST2, 1500), (HOST2, 1501)] {
        let r = ask(
            &mut gw,
            &pcp_map(host, 3600, NONCE, 6, port, port, &[]),
            host,
            NOW,
        )
        .expect("answer");
        assert_eq!(pcp_result(&r), (0, 3600, port));
    }
    // Delete HOST2's 1501 (lifetime 0).
    let r = ask(
        &mut gw,
        &pcp_map(HOST2, 0, NONCE, 6, 1501, 1501, &[]),
        HOST2,
        NOW + 1,
    )
    .expect("answer");
    assert_eq!(r[3], 0);
    let text = store.text();
    assert!(
        text.contains("#portgate-ext TCP 1500 192.0.2.10\n"),
        "{text}"
    );
    assert!(
        text.contains("#portgate-del TCP 1501 192.0.2.11\n"),
        "{text}"
    );
    drop(gw);
    fw.0.borrow_mut().shutdown(false).expect("empty kernel");
    let (gw, report) = start(cgn_settings(false, "1000"), NOW + 2);
    assert_eq!((report.restored, report.skipped), (2, 0));
    let mut keys: Vec<_> = gw
        .table()
        .iter()
        .map(|m| (m.external, m.external_port, m.internal_client))
        .collect();
    keys.sort();
    assert_eq!(keys, vec![(Some(a), 1500, HOST), (Some(b), 1500, HOST2)]);
    let mut kernel: Vec<_> =
        fw.0.borrow_mut()
            .list()
            .expect("list")
            .into_iter()
            .map(|e| (e.mapping.key.external, e.mapping.key.external_port))
            .collect();
    kernel.sort();
    assert_eq!(kernel, vec![(Some(a), 1500), (Some(b), 1500)]);
    drop(gw);
    // Another pool: the pairings change, both lines are skipped.
    let mut other = cgn_settings(false, "1000");
    let mut c = crate::cgn::CgnConfig::default();
    for (k, v) in [
        ("cgn_mode", "yes"),
        ("cgn_external_pool", "198.51.100.8/30"),
        ("cgn_subscribers", "10.77.0.0/24"),
        ("cgn_port_quota", "1000"),
    ] {
        assert!(c.set(k, v).expect("valid"));
    }
    other.cgn = c.build().expect("fits");
    let (gw, report) = start(other, NOW + 3);
    assert_eq!((report.restored, report.skipped), (0, 2));
    assert_eq!(gw.table().len(), 0);
}
