//! PCP PEER (RFC 6887 §12): a LAN host asks for the mapping its traffic to one
//! remote peer uses, so it can tell that peer where to reach it.
//!
//! Both front ends ([`super::pcp`] over IPv4, [`super::pcp6`] over IPv6) hand a
//! PEER request here after the common checks (codec, options, client address).
//! FILTER and PREFER_FAILURE are refused by the option check (MALFORMED_OPTION,
//! they belong to MAP, §13.2/§13.3); THIRD_PARTY and DESCRIPTION are accepted.
//!
//! Processing (§12.3, in this order):
//! 1. protocol 6 or 17, else UNSUPP_PROTOCOL; internal port 0 or remote peer
//!    port 0 → MALFORMED_REQUEST (a TCP/UDP flow has both ports);
//! 2. the remote peer must be an address a flow could go to, of the
//!    internal address's family: not unspecified, loopback, multicast,
//!    broadcast, link-local, one of the gateway's own or a LAN address →
//!    MALFORMED_REQUEST (§12.3: a device that validates the destination of
//!    implicit mappings validates PEER's too);
//! 3. the five-tuple (protocol, internal address and port, remote peer
//!    address and port) names the mapping — over IPv4 without the remote
//!    peer port, as the kernel mapping admits any port of the peer; an
//!    existing one must carry the request's nonce, else NOT_AUTHORIZED
//!    (§11.1's nonce rule, which §12.1 applies to PEER);
//! 4. lifetime 0 removes the explicit mapping, SUCCESS whether or not there
//!    was one (as MAP's deletion, §15); flows already under way keep their
//!    connection-tracking state and end on the kernel's timers, as implicit
//!    mappings do. Other lifetimes are clamped to `[min_lifetime,
//!    max_lifetime]` like MAP's (§15), a renewal included;
//! 5. IPv4: an existing mapping is renewed at its external port; a new one
//!    gets the suggested external port (the internal port when 0), or the
//!    nearest free one: PEER has no PREFER_FAILURE. The mapping is an
//!    nftables map element keyed by the remote peer's address (as a
//!    FILTER-restricted MAP), so only that peer's packets are translated to
//!    the internal host; outbound packets keep the gateway's masquerading,
//!    which preserves the internal port when it is free. IPv6 (no
//!    translation): a pinhole keyed by the remote peer's address *and* port;
//!    the assigned external address and port are the internal ones.
//!
//! The response copies protocol, internal port and the remote peer (§12.3)
//! and carries the assigned external address and port, the granted lifetime
//! and the processed options.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use portgate_proto::pcp as wire;
use wire::{OpData, PeerData, Response, ResultCode};

use super::pcp::{description, echoed_options, error, result_for};
use crate::gateway::Gateway;
use crate::pinhole::{requested_port_allowed, NewPinhole, PinholeOrigin, Pinholes};
use crate::table::{clamp_lifetime, expiry_at, NewMapping, Origin, Protocol, Requester};

/// Steps 1 and 2: the transport protocol (UNSUPP_PROTOCOL for other than TCP and
/// UDP; MALFORMED_REQUEST when the internal or the remote peer port is 0) and the
/// remote peer, which `usable` accepts as a peer of the front end's family
/// (MALFORMED_REQUEST otherwise).
fn checked<A>(
    p: &PeerData,
    usable: impl FnOnce(IpAddr) -> Option<A>,
) -> Result<(Protocol, A), ResultCode> {
    let proto = match p.protocol {
        6 => Protocol::Tcp,
        17 => Protocol::Udp,
        _ => return Err(ResultCode::UnsupportedProtocol),
    };
    if p.internal_port == 0 || p.remote_peer_port == 0 {
        return Err(ResultCode::MalformedRequest);
    }
    let remote = usable(p.remote_peer_address).ok_or(ResultCode::MalformedRequest)?;
    Ok((proto, remote))
}

/// The success response: the request's PEER data with the assigned external
/// address and port.
fn success(
    req: &wire::Request,
    p: &PeerData,
    lifetime: u32,
    epoch: u32,
    external_address: IpAddr,
    external_port: u16,
) -> Option<Vec<u8>> {
    Some(
        Response {
            result: ResultCode::Success,
            lifetime,
            epoch,
            data: OpData::Peer(PeerData {
                external_port,
                external_address,
                ..*p
            }),
            options: echoed_options(req),
        }
        .to_bytes(),
    )
}

/// The description of a PEER mapping: the DESCRIPTION option, else one naming
/// the flow.
fn peer_description(req: &wire::Request, p: &PeerData, proto: Protocol) -> String {
    description(req).unwrap_or_else(|| {
        format!(
            "PCP PEER {} {} to {}",
            p.internal_port,
            proto.as_str().to_lowercase(),
            std::net::SocketAddr::new(p.remote_peer_address, p.remote_peer_port)
        )
    })
}

/// A remote peer an IPv4 flow from the LAN through the gateway could have.
fn valid_remote4(a: Ipv4Addr, gw: &Gateway) -> bool {
    !(a.is_unspecified()
        || a.is_loopback()
        || a.is_multicast()
        || a.is_broadcast()
        || a.is_link_local()
        || gw.is_lan(a)
        || gw.own_addresses().contains(&a)
        || gw.external() == Some(a))
}

/// PEER over IPv4 for `internal` (the requester, or its THIRD_PARTY host).
pub(super) fn peer4(
    buf: &[u8],
    req: &wire::Request,
    p: &PeerData,
    requester: Ipv4Addr,
    internal: Ipv4Addr,
    now: u64,
    gw: &mut Gateway,
) -> Option<Vec<u8>> {
    let epoch = gw.epoch(now);
    let checked = checked(p, |a| match a {
        IpAddr::V4(a) if valid_remote4(a, gw) => Some(a),
        _ => None,
    });
    let (proto, remote) = match checked {
        Ok(c) => c,
        Err(code) => return error(buf, code, epoch),
    };
    let ext_addr = IpAddr::V4(gw.external().unwrap_or(Ipv4Addr::UNSPECIFIED));
    let existing = gw
        .table()
        .find_peer(internal, proto, p.internal_port, remote)
        .filter(|e| !e.is_expired(now))
        .cloned();
    if let Some(e) = &existing {
        if e.origin != (Origin::Pcp { nonce: p.nonce }) {
            return error(buf, ResultCode::NotAuthorized, epoch);
        }
    }
    if req.lifetime == 0 {
        let Some(e) = existing else {
            return success(req, p, 0, epoch, ext_addr, p.external_port);
        };
        return match gw.unmap(e.key(), Some(remote), Requester::Trusted, now) {
            Ok(_) => success(req, p, 0, epoch, ext_addr, e.external_port),
            Err(err) => error(buf, result_for(&err), epoch),
        };
    }
    let s = gw.settings();
    let lifetime = clamp_lifetime(req.lifetime, s.min_lifetime, s.max_lifetime);
    let suggested = match p.external_port {
        0 => p.internal_port,
        port => port,
    };
    let by = if internal == requester {
        Requester::Client(requester)
    } else {
        // THIRD_PARTY, allowed by the configuration and checked LAN-only.
        Requester::Trusted
    };
    let new = NewMapping {
        external: None,
        protocol: proto,
        external_port: existing.as_ref().map_or(suggested, |e| e.external_port),
        remote_host: Some(remote),
        internal_client: internal,
        internal_port: p.internal_port,
        description: peer_description(req, p, proto),
        expiry: expiry_at(now, Some(lifetime)),
        origin: Origin::Pcp { nonce: p.nonce },
    };
    let desc = new.description.clone();
    let result = gw
        .map(new, by, true, now)
        .map_err(|e| super::denied_everywhere(e, gw, internal, p.internal_port, &desc));
    match result {
        Ok(o) => {
            tracing::info!(client = %internal, iport = p.internal_port, %proto,
                eport = o.mapping.external_port, peer = %remote, rport = p.remote_peer_port,
                lifetime, "pcp peer mapping");
            success(req, p, lifetime, epoch, ext_addr, o.mapping.external_port)
        }
        Err(e) => {
            tracing::debug!(client = %internal, err = %e, "pcp peer refused");
            error(buf, result_for(&e), epoch)
        }
    }
}

/// A remote peer an IPv6 flow from the LAN through the gateway could have: a
/// unicast address beyond the link, not an IPv4-mapped one.
fn valid_remote6(a: Ipv6Addr, pins: &Pinholes) -> bool {
    let first = a.segments().first().copied().unwrap_or(0);
    !(a.is_unspecified()
        || a.is_loopback()
        || a.is_multicast()
        || a.to_ipv4_mapped().is_some()
        || first & 0xffc0 == 0xfe80
        || pins.is_lan(a))
}

/// PEER over IPv6 from the LAN host `client`: a pinhole for the one remote
/// peer address and port.
pub(super) fn peer6(
    buf: &[u8],
    req: &wire::Request,
    p: &PeerData,
    client: Ipv6Addr,
    now: u64,
    gw: &mut Gateway,
    pins: &mut Pinholes,
) -> Option<Vec<u8>> {
    let epoch = gw.epoch(now);
    let checked = checked(p, |a| match a {
        IpAddr::V6(a) if valid_remote6(a, pins) => Some(a),
        _ => None,
    });
    let (proto, remote) = match checked {
        Ok(c) => c,
        Err(code) => return error(buf, code, epoch),
    };
    let existing = super::pcp6::live_pinhole(pins, client, proto, p.internal_port, now, |s| {
        s.remote_host == Some(remote) && s.remote_port == p.remote_peer_port
    });
    if let Some(e) = &existing {
        if e.spec.origin != PinholeOrigin::Pcp(p.nonce) {
            return error(buf, ResultCode::NotAuthorized, epoch);
        }
    }
    let ext = IpAddr::V6(client);
    if req.lifetime == 0 {
        if let Some(e) = existing {
            if let Err(err) = pins.delete(gw, e.uid, None, now) {
                return error(buf, super::pcp6::result_for(&err), epoch);
            }
        }
        return success(req, p, 0, epoch, ext, p.internal_port);
    }
    if let Err(e) = requested_port_allowed(p.internal_port) {
        return error(buf, super::pcp6::result_for(&e.into()), epoch);
    }
    let s = gw.settings();
    let lifetime = clamp_lifetime(req.lifetime, s.min_lifetime, s.max_lifetime);
    let new = NewPinhole {
        remote_host: Some(remote),
        remote_port: p.remote_peer_port,
        internal_client: client,
        internal_port: p.internal_port,
        protocol: proto,
        expiry: Some(now + u64::from(lifetime)),
        description: peer_description(req, p, proto),
        origin: PinholeOrigin::Pcp(p.nonce),
    };
    match pins.add(gw, new, now) {
        Ok(_) => success(req, p, lifetime, epoch, ext, p.internal_port),
        Err(e) => {
            tracing::debug!(%client, err = %e, "pcp6 peer refused");
            error(buf, super::pcp6::result_for(&e), epoch)
        }
    }
}

#[cfg(test)]
mod tests;
