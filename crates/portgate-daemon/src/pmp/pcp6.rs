//! PCP over IPv6 (RFC 6887): MAP for an IPv6 internal address opens a
//! pinhole; there is no translation, so the assigned external address and
//! port are the internal ones (RFC 6887 §11.3 for a firewall-only device).
//!
//! Processing order, as for IPv4 ([`super::pcp`]): the codec's disposition
//! (NAT-PMP datagrams are dropped: NAT-PMP is IPv4 only), options (unknown
//! mandatory → UNSUPP_OPTION, not valid for the opcode → MALFORMED_OPTION,
//! THIRD_PARTY → UNSUPP_OPTION: not offered for IPv6), client address ≠
//! source → ADDRESS_MISMATCH, then ANNOUNCE → SUCCESS, MAP as below, PEER
//! as in [`super::peer`] (a pinhole for the one remote peer address and
//! port), other opcodes → UNSUPP_OPCODE.
//!
//! MAP: protocol 6 or 17 (else UNSUPP_PROTOCOL), internal port 0 →
//! MALFORMED_REQUEST, a new pinhole below
//! [`crate::pinhole::MIN_PINHOLE_PORT`] → NOT_AUTHORIZED, lifetime 0 deletes the client's pinhole of that port
//! (nonce must match: NOT_AUTHORIZED; absent: SUCCESS), other lifetimes are
//! clamped to `[min_lifetime, max_lifetime]`; one FILTER naming one IPv6
//! host (prefix 128, any port) restricts the remote host, prefix 0 means
//! none, other filter sets → EXCESSIVE_REMOTE_PEERS. A renewal must carry
//! the nonce of the pinhole it renews (NOT_AUTHORIZED otherwise). Pinholes
//! off or the client not a LAN unicast host → NOT_AUTHORIZED; table full or
//! the kernel failing → NO_RESOURCES.

use std::net::{IpAddr, Ipv6Addr};

use portgate_proto::pcp as wire;
use wire::{MapData, OpData, PcpOption, RequestError, Response, ResultCode};

use super::pcp::{check_options, description, echoed_options, error, filter_host, map_protocol};
use crate::gateway::Gateway;
use crate::pinhole::{
    requested_port_allowed, NewPinhole, PinholeError, PinholeOrigin, PinholeRecord,
    PinholeServiceError, Pinholes,
};
use crate::table::{clamp_lifetime, Protocol};

/// PCP result code for a pinhole refusal.
pub(super) fn result_for(e: &PinholeServiceError) -> ResultCode {
    match e {
        PinholeServiceError::Table(PinholeError::SpaceExhausted)
        | PinholeServiceError::Firewall(_) => ResultCode::NoResources,
        PinholeServiceError::Table(PinholeError::WildcardPort) => ResultCode::MalformedRequest,
        PinholeServiceError::Table(_)
        | PinholeServiceError::Disabled
        | PinholeServiceError::NotLan(_)
        | PinholeServiceError::Nonce(_) => ResultCode::NotAuthorized,
    }
}

/// Handle a PCP datagram from the IPv6 LAN host `client`.
pub fn handle6(
    buf: &[u8],
    client: Ipv6Addr,
    now: u64,
    gw: &mut Gateway,
    pins: &mut Pinholes,
) -> Option<Vec<u8>> {
    let epoch = gw.epoch(now);
    let req = match wire::Request::parse_server(buf) {
        Ok(r) => r,
        Err(RequestError::NatPmp) | Err(RequestError::Drop(_)) => {
            tracing::debug!(%client, "pcp6 datagram dropped");
            return None;
        }
        Err(RequestError::Reject { result, cause }) => {
            tracing::debug!(%client, %cause, ?result, "pcp6 request rejected");
            return error(buf, result, epoch);
        }
    };
    // No THIRD_PARTY over IPv6: a pinhole is for the requesting host itself.
    if let Err(code) = check_options(&req, false) {
        return error(buf, code, epoch);
    }
    if req.client_address != IpAddr::V6(client) {
        return error(buf, ResultCode::AddressMismatch, epoch);
    }
    match &req.data {
        OpData::Announce => Some(Response::announce(epoch).to_bytes()),
        OpData::Map(m) => map(buf, &req, m, client, now, gw, pins),
        OpData::Peer(p) => super::peer::peer6(buf, &req, p, client, now, gw, pins),
        _ => error(buf, ResultCode::UnsupportedOpcode, epoch),
    }
}

/// The live pinhole of `client` for (`proto`, `port`) whose request `also` accepts,
/// as PCP names pinholes (MAP: any remote; PEER: its remote peer).
pub(super) fn live_pinhole(
    pins: &Pinholes,
    client: Ipv6Addr,
    proto: Protocol,
    port: u16,
    now: u64,
    also: impl Fn(&NewPinhole) -> bool,
) -> Option<PinholeRecord> {
    pins.table()
        .iter()
        .find(|r| {
            r.spec.internal_client == client
                && r.spec.protocol == proto
                && r.spec.internal_port == port
                && r.remaining(now) != Some(0)
                && also(&r.spec)
        })
        .cloned()
}

fn remote_host(options: &[PcpOption]) -> Result<Option<Ipv6Addr>, ResultCode> {
    match filter_host(options)? {
        None => Ok(None),
        Some(IpAddr::V6(a)) if a.to_ipv4_mapped().is_none() => Ok(Some(a)),
        Some(_) => Err(ResultCode::ExcessiveRemotePeers),
    }
}

fn map(
    buf: &[u8],
    req: &wire::Request,
    m: &MapData,
    client: Ipv6Addr,
    now: u64,
    gw: &mut Gateway,
    pins: &mut Pinholes,
) -> Option<Vec<u8>> {
    let epoch = gw.epoch(now);
    let proto = match map_protocol(m) {
        Ok(p) => p,
        Err(code) => return error(buf, code, epoch),
    };
    let remote = match remote_host(&req.options) {
        Ok(r) => r,
        Err(code) => return error(buf, code, epoch),
    };
    let success = |lifetime| {
        Some(
            Response {
                result: ResultCode::Success,
                lifetime,
                epoch,
                data: OpData::Map(MapData {
                    external_port: m.internal_port,
                    external_address: IpAddr::V6(client),
                    ..*m
                }),
                options: echoed_options(req),
            }
            .to_bytes(),
        )
    };
    if req.lifetime == 0 {
        return match pins.delete_internal(gw, client, proto, m.internal_port, Some(&m.nonce), now) {
            Ok(_) | Err(PinholeServiceError::Table(PinholeError::NoSuchEntry)) => success(0),
            Err(e) => error(buf, result_for(&e), epoch),
        };
    }
    if let Err(e) = requested_port_allowed(m.internal_port) {
        return error(buf, result_for(&e.into()), epoch);
    }
    let existing = live_pinhole(pins, client, proto, m.internal_port, now, |_| true);
    if let Some(e) = &existing {
        if let Err(e) = crate::table::check_nonce(e.spec.origin.nonce(), Some(&m.nonce), false) {
            return error(buf, result_for(&e.into()), epoch);
        }
        if e.spec.remote_host != remote {
            if let Err(err) = pins.delete(gw, e.uid, None, now) {
                return error(buf, result_for(&err), epoch);
            }
        }
    }
    let s = gw.settings();
    let lifetime = clamp_lifetime(req.lifetime, s.min_lifetime, s.max_lifetime);
    let description = description(req)
        .unwrap_or_else(|| format!("PCP {} {}", m.internal_port, proto.as_str().to_lowercase()));
    let new = NewPinhole {
        remote_host: remote,
        remote_port: 0,
        internal_client: client,
        internal_port: m.internal_port,
        protocol: proto,
        expiry: Some(now + u64::from(lifetime)),
        description,
        origin: PinholeOrigin::Pcp(m.nonce),
    };
    match pins.add(gw, new, now) {
        Ok(_) => success(lifetime),
        Err(e) => {
            tracing::debug!(%client, err = %e, "pcp6 map refused");
            error(buf, result_for(&e), epoch)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
