//! NAT-PMP server (RFC 6886): external address, map, renew, delete.
//!
//! Rules:
//! - opcode 0 answers the external address; Network Failure (3) with
//!   0.0.0.0 when forwarding is impossible (no address, or a reserved one
//!   without `ext_allow_private_ipv4`) (§3.2, §3.5);
//! - opcode 1/2 with lifetime 0 deletes the client's mapping of that
//!   internal port (success even when there is none, §3.4); internal port 0
//!   with lifetime 0 deletes every NAT-PMP mapping of that client and
//!   protocol (§3.4; mappings made by UPnP or PCP are left alone, as in
//!   miniupnpd);
//! - otherwise the lifetime is clamped to `[min_lifetime, max_lifetime]`;
//!   a client that already maps this internal port gets that mapping renewed
//!   (same external port, §3.3); else the suggested external port (or the
//!   internal port when 0) is a hint and the nearest free allowed port is
//!   chosen;
//! - refusals: permission rule or secure mode → Not Authorized (2); quota,
//!   full table, no free port → Out of Resources (4); firewall failure or
//!   no usable external address → Network Failure (3);
//! - unparsable requests: unsupported version → result 1, unknown opcode →
//!   result 5 (both 8-byte replies), truncated or response opcodes dropped
//!   (§3.5, [`wire::RequestHeader::error_response`]);
//! - NAT-PMP turned off (CGN mode without `cgn_natpmp`, PCP still served on the
//!   same port): every request is answered Not Authorized/Refused (2), "the user
//!   has turned the feature off" (§3.5), and nothing is mapped.

use std::net::Ipv4Addr;

use portgate_proto::natpmp as wire;
use wire::{MapRequest, Request, RequestHeader, Response, ResultCode};

use crate::gateway::{Gateway, GatewayError, InternalMap};
use crate::table::{clamp_lifetime, expiry_at, OriginKind, Protocol, Requester, TableError};

/// Handle a version-0 datagram from the LAN host `client`.
pub fn handle(buf: &[u8], client: Ipv4Addr, now: u64, gw: &mut Gateway) -> Option<Vec<u8>> {
    let epoch = gw.epoch(now);
    let req = match Request::parse(buf) {
        Ok(r) => r,
        Err(err) => {
            tracing::debug!(%client, %err, "bad nat-pmp request");
            let header = RequestHeader::peek(buf).ok()?;
            return header.error_response(epoch).map(|r| r.to_bytes());
        }
    };
    if !gw.settings().natpmp {
        tracing::debug!(%client, "nat-pmp is off: refused");
        return Some(refusal(&req, epoch).to_bytes());
    }
    let resp = match req {
        Request::ExternalAddress => match gw.external() {
            Some(address) if gw.forwarding() => Response::ExternalAddress {
                result: ResultCode::Success,
                epoch,
                address,
            },
            _ => Response::ExternalAddress {
                result: ResultCode::NetworkFailure,
                epoch,
                address: Ipv4Addr::UNSPECIFIED,
            },
        },
        Request::Map(m) => map(m, client, now, gw),
    };
    Some(resp.to_bytes())
}

/// The answer to `req` when NAT-PMP is off: Not Authorized/Refused (RFC 6886 §3.5).
fn refusal(req: &Request, epoch: u32) -> Response {
    match req {
        Request::ExternalAddress => Response::ExternalAddress {
            result: ResultCode::NotAuthorized,
            epoch,
            address: Ipv4Addr::UNSPECIFIED,
        },
        Request::Map(m) => Response::Map {
            protocol: m.protocol,
            result: ResultCode::NotAuthorized,
            epoch,
            internal_port: m.internal_port,
            external_port: 0,
            lifetime: 0,
        },
    }
}

fn protocol(p: wire::Protocol) -> Protocol {
    match p {
        wire::Protocol::Tcp => Protocol::Tcp,
        wire::Protocol::Udp => Protocol::Udp,
    }
}

/// NAT-PMP result code for a gateway refusal.
pub fn result_for(err: &GatewayError) -> ResultCode {
    match err {
        GatewayError::Table(TableError::Denied)
        | GatewayError::Table(TableError::NotAuthorized { .. })
        | GatewayError::Table(TableError::NonceMismatch) => ResultCode::NotAuthorized,
        GatewayError::Table(_) => ResultCode::OutOfResources,
        GatewayError::Firewall(_) | GatewayError::ForwardingDisabled => ResultCode::NetworkFailure,
    }
}

fn map(m: MapRequest, client: Ipv4Addr, now: u64, gw: &mut Gateway) -> Response {
    let epoch = gw.epoch(now);
    let proto = protocol(m.protocol);
    let reply = |result, external_port, lifetime| Response::Map {
        protocol: m.protocol,
        result,
        epoch,
        internal_port: m.internal_port,
        external_port,
        lifetime,
    };
    if m.is_delete_all() {
        return match gw.unmap_client(client, Some(proto), Some(OriginKind::NatPmp), now) {
            Ok(_) => reply(ResultCode::Success, 0, 0),
            Err(e) => reply(result_for(&e), 0, 0),
        };
    }
    if m.is_delete() {
        return match gw.unmap_internal(client, proto, m.internal_port, None, now) {
            Ok(_) | Err(GatewayError::Table(TableError::NotFound)) => {
                reply(ResultCode::Success, 0, 0)
            }
            Err(e) => reply(result_for(&e), 0, 0),
        };
    }
    if m.internal_port == 0 || super::own_or_invalid(gw, client) {
        // Port 0 is only meaningful in a delete-all request (§3.4).
        return reply(ResultCode::NotAuthorized, 0, 0);
    }
    let settings = gw.settings();
    let lifetime = clamp_lifetime(m.lifetime, settings.min_lifetime, settings.max_lifetime);
    let req = InternalMap {
        protocol: proto,
        internal_client: client,
        internal_port: m.internal_port,
        suggested_port: m.suggested_external_port,
        remote_host: None,
        peer: false,
        nonce: None,
        exact: false,
        description: format!(
            "NAT-PMP {} {}",
            m.internal_port,
            proto.as_str().to_lowercase()
        ),
        expiry: expiry_at(now, Some(lifetime)),
        by: Requester::Client(client),
    };
    match gw.map_internal(req, now) {
        Ok(o) => reply(ResultCode::Success, o.mapping.external_port, lifetime),
        Err(e) => {
            tracing::debug!(%client, err = %e, "nat-pmp map refused");
            reply(result_for(&e), 0, 0)
        }
    }
}
