//! PCP server (RFC 6887, DESCRIPTION of RFC 7220): MAP, PEER and ANNOUNCE.
//!
//! Processing order (RFC 6887 §8.3 then the opcode's section):
//! 1. the codec's disposition ([`wire::Request::parse_server`]): drop
//!    (< 2 bytes, R bit, < 24 bytes), UNSUPP_VERSION, MALFORMED_REQUEST
//!    (> 1100 bytes, not a multiple of 4, short opcode data),
//!    UNSUPP_OPCODE, MALFORMED_OPTION (option running past the end);
//! 2. options: an unknown mandatory option (code < 128) → UNSUPP_OPTION,
//!    unknown optional ones are ignored (§7.3); a known option not valid for
//!    the opcode or THIRD_PARTY more than once → MALFORMED_OPTION (§13.1);
//!    THIRD_PARTY while `pcp_allow_thirdparty` is off → UNSUPP_OPTION, when
//!    on it must name an IPv4 LAN host, else NOT_AUTHORIZED (§13.1);
//! 3. the client address field must equal the source address →
//!    ADDRESS_MISMATCH (§8.3);
//! 4. the opcode: ANNOUNCE → SUCCESS (§14.1); MAP as in §11.3; PEER as in
//!    §12.3 ([`super::peer`]).
//!
//! MAP: protocol 6 or 17 (others, including 0 "all", → UNSUPP_PROTOCOL);
//! internal port 0 → MALFORMED_REQUEST (it is only valid with protocol 0,
//! §11.1); lifetime 0 deletes the client's mapping of that internal port
//! (nonce must match: NOT_AUTHORIZED; absent mapping: SUCCESS, §15); other
//! lifetimes are clamped to `[min_lifetime, max_lifetime]` (§15). An
//! existing mapping of the client's internal port is renewed at its
//! external port when the nonce matches (NOT_AUTHORIZED otherwise); a new
//! one gets the suggested port (a hint, or exactly it with PREFER_FAILURE:
//! CANNOT_PROVIDE_EXTERNAL when taken, §13.2). FILTER (§13.3) is the
//! remote-host restriction: one filter naming one IPv4 host (prefix 128 of
//! the mapped address) and any port is supported, prefix 0 means no
//! restriction; other filter sets → EXCESSIVE_REMOTE_PEERS. DESCRIPTION is
//! stored as the mapping's description. Processed options are echoed in the
//! success response.
//!
//! Error responses carry the request's bytes back (§8.3,
//! [`wire::error_response`]) with the lifetime §7.4 assigns to the code:
//! [`wire::SHORT_ERROR_LIFETIME`] for NETWORK_FAILURE, NO_RESOURCES,
//! USER_EX_QUOTA and CANNOT_PROVIDE_EXTERNAL, [`wire::LONG_ERROR_LIFETIME`]
//! for the others.

use std::net::{IpAddr, Ipv4Addr};

use portgate_proto::pcp as wire;
use wire::{Filter, MapData, OpData, PcpOption, RequestError, Response, ResultCode};

use crate::gateway::{Gateway, GatewayError, InternalMap};
use crate::table::{clamp_lifetime, expiry_at, Protocol, Requester, TableError};

/// The lifetime an error response carries (RFC 6887 §7.4).
pub fn error_lifetime(code: ResultCode) -> u32 {
    match code {
        ResultCode::NetworkFailure
        | ResultCode::NoResources
        | ResultCode::UserExceededQuota
        | ResultCode::CannotProvideExternal => wire::SHORT_ERROR_LIFETIME,
        _ => wire::LONG_ERROR_LIFETIME,
    }
}

/// PCP result code for a gateway refusal.
pub fn result_for(err: &GatewayError) -> ResultCode {
    match err {
        GatewayError::Table(t) => match t {
            TableError::Denied | TableError::NotAuthorized { .. } | TableError::NonceMismatch => {
                ResultCode::NotAuthorized
            }
            TableError::QuotaExceeded { .. } => ResultCode::UserExceededQuota,
            TableError::Conflict { .. }
            | TableError::ZeroExternalPort
            | TableError::OutsidePortSet { .. } => ResultCode::CannotProvideExternal,
            TableError::TableFull { .. } | TableError::NoPortAvailable | TableError::NotFound => {
                ResultCode::NoResources
            }
        },
        GatewayError::Firewall(_) => ResultCode::NoResources,
        GatewayError::ForwardingDisabled => ResultCode::NetworkFailure,
    }
}

/// The error response to `buf` with `code` and its RFC 6887 lifetime.
pub(super) fn error(buf: &[u8], code: ResultCode, epoch: u32) -> Option<Vec<u8>> {
    Some(wire::error_response(buf, code, error_lifetime(code), epoch))
}

/// Handle a PCP datagram (version byte ≠ 0) from the LAN host `client`.
pub fn handle(buf: &[u8], client: Ipv4Addr, now: u64, gw: &mut Gateway) -> Option<Vec<u8>> {
    let epoch = gw.epoch(now);
    let req = match wire::Request::parse_server(buf) {
        Ok(r) => r,
        Err(RequestError::NatPmp) => return super::natpmp::handle(buf, client, now, gw),
        Err(RequestError::Drop(err)) => {
            tracing::debug!(%client, %err, "pcp request dropped");
            return None;
        }
        Err(RequestError::Reject { result, cause }) => {
            tracing::debug!(%client, %cause, ?result, "pcp request rejected");
            return error(buf, result, epoch);
        }
    };
    let third_party = match check_options(&req, true) {
        Ok(t) => t,
        Err(code) => return error(buf, code, epoch),
    };
    if req.client_address != IpAddr::V4(client) {
        return error(buf, ResultCode::AddressMismatch, epoch);
    }
    let internal = match third_party {
        None => client,
        Some(_) if !gw.settings().pcp_allow_thirdparty => {
            return error(buf, ResultCode::UnsupportedOption, epoch)
        }
        // CGN mode: only the configured CPE proxies, for subscribers (RFC 6887 §13.1).
        Some(IpAddr::V4(a)) if gw.settings().cgn.is_some() => match &gw.settings().cgn {
            Some(c) if c.third_party_allowed(client, a) && !super::own_or_invalid(gw, a) => a,
            _ => return error(buf, ResultCode::NotAuthorized, epoch),
        },
        Some(IpAddr::V4(a)) if gw.is_lan(a) && !super::own_or_invalid(gw, a) => a,
        Some(_) => return error(buf, ResultCode::NotAuthorized, epoch),
    };
    match &req.data {
        OpData::Announce => Some(Response::announce(epoch).to_bytes()),
        OpData::Map(m) => map(buf, &req, m, client, internal, now, gw),
        OpData::Peer(p) => super::peer::peer4(buf, &req, p, client, internal, now, gw),
        _ => error(buf, ResultCode::UnsupportedOpcode, epoch),
    }
}

/// Checks a request's options (RFC 6887 §7.3): an unknown mandatory one is
/// UNSUPP_OPTION (an unknown optional one is skipped), one not allowed with the opcode
/// MALFORMED_OPTION. Returns the THIRD_PARTY address; a second THIRD_PARTY is
/// MALFORMED_OPTION, and any THIRD_PARTY is UNSUPP_OPTION unless `third_party`.
pub(super) fn check_options(
    req: &wire::Request,
    third_party: bool,
) -> Result<Option<IpAddr>, ResultCode> {
    let opcode = req.data.opcode();
    let mut found = None;
    for o in &req.options {
        if !o.is_known() {
            if o.is_mandatory() {
                return Err(ResultCode::UnsupportedOption);
            }
            continue;
        }
        if !wire::allowed_in(o.code(), opcode) {
            return Err(ResultCode::MalformedOption);
        }
        if let PcpOption::ThirdParty(a) = o {
            if !third_party {
                return Err(ResultCode::UnsupportedOption);
            }
            if found.replace(*a).is_some() {
                return Err(ResultCode::MalformedOption);
            }
        }
    }
    Ok(found)
}

/// The options a success response echoes: the known ones the request carried
/// (RFC 6887 §7.3: processed options are included in the response).
pub(super) fn echoed_options(req: &wire::Request) -> Vec<PcpOption> {
    req.options
        .iter()
        .filter(|o| o.is_known())
        .cloned()
        .collect()
}

/// The request's DESCRIPTION option (RFC 7220), if any.
pub(super) fn description(req: &wire::Request) -> Option<String> {
    req.options.iter().find_map(|o| match o {
        PcpOption::Description(d) => Some(d.clone()),
        _ => None,
    })
}

/// The transport protocol of a MAP request, which must also name an internal port:
/// UNSUPP_PROTOCOL for other than TCP and UDP, MALFORMED_REQUEST for port 0.
pub(super) fn map_protocol(m: &MapData) -> Result<Protocol, ResultCode> {
    let proto = match m.protocol {
        6 => Protocol::Tcp,
        17 => Protocol::Udp,
        _ => return Err(ResultCode::UnsupportedProtocol),
    };
    if m.internal_port == 0 {
        return Err(ResultCode::MalformedRequest);
    }
    Ok(proto)
}

/// The remote host a set of FILTER options restricts to: `Ok(None)` for no
/// restriction, `Err` when the set cannot be installed.
fn remote_host(options: &[PcpOption]) -> Result<Option<Ipv4Addr>, ResultCode> {
    match filter_host(options)? {
        None => Ok(None),
        Some(IpAddr::V4(a)) => Ok(Some(a)),
        Some(IpAddr::V6(_)) => Err(ResultCode::ExcessiveRemotePeers),
    }
}

/// The one remote host (any port) a set of FILTER options names, of either family:
/// `Ok(None)` for none or a prefix-0 filter, `Err(EXCESSIVE_REMOTE_PEERS)` for any other
/// set (several filters, a prefix, a port), which this gateway cannot install.
pub(super) fn filter_host(options: &[PcpOption]) -> Result<Option<IpAddr>, ResultCode> {
    let filters: Vec<&Filter> = options
        .iter()
        .filter_map(|o| match o {
            PcpOption::Filter(f) => Some(f),
            _ => None,
        })
        .collect();
    match filters.as_slice() {
        [] => Ok(None),
        [f] if f.prefix_length == 0 => Ok(None),
        [Filter {
            prefix_length: 128,
            remote_peer_port: 0,
            remote_peer_address: a,
        }] => Ok(Some(*a)),
        _ => Err(ResultCode::ExcessiveRemotePeers),
    }
}

fn map(
    buf: &[u8],
    req: &wire::Request,
    m: &MapData,
    requester: Ipv4Addr,
    internal: Ipv4Addr,
    now: u64,
    gw: &mut Gateway,
) -> Option<Vec<u8>> {
    let epoch = gw.epoch(now);
    let proto = match map_protocol(m) {
        Ok(p) => p,
        Err(code) => return error(buf, code, epoch),
    };
    let remote = match remote_host(&req.options) {
        // CGN mode's map is keyed by external address, with no remote host.
        Ok(Some(_)) if gw.settings().cgn.is_some() => {
            return error(buf, ResultCode::ExcessiveRemotePeers, epoch)
        }
        Ok(r) => r,
        Err(code) => return error(buf, code, epoch),
    };
    let own_addr = gw.external().unwrap_or(Ipv4Addr::UNSPECIFIED);
    // CGN mode: the subscriber's paired address, also in a deletion's answer.
    let paired = gw.settings().cgn.as_ref().and_then(|c| c.pair(internal));
    let success = |lifetime, external_port, ext: Option<Ipv4Addr>| {
        let ext_addr = ext
            .or(paired.as_ref().map(|p| p.external))
            .unwrap_or(own_addr);
        Some(
            Response {
                result: ResultCode::Success,
                lifetime,
                epoch,
                data: OpData::Map(MapData {
                    external_port,
                    external_address: IpAddr::V4(ext_addr),
                    ..*m
                }),
                options: echoed_options(req),
            }
            .to_bytes(),
        )
    };
    if req.lifetime == 0 {
        return match gw.unmap_internal(internal, proto, m.internal_port, Some(&m.nonce), now) {
            Ok(_) | Err(GatewayError::Table(TableError::NotFound)) => {
                success(0, m.external_port, None)
            }
            Err(e) => error(buf, result_for(&e), epoch),
        };
    }
    let s = gw.settings();
    let lifetime = clamp_lifetime(req.lifetime, s.min_lifetime, s.max_lifetime);
    let prefer_failure = req
        .options
        .iter()
        .any(|o| matches!(o, PcpOption::PreferFailure));
    // CGN mode stores no made-up description (it would repeat what the mapping says, at
    // 32 heap bytes per mapping); a DESCRIPTION option is kept as anywhere.
    let description = description(req).unwrap_or_else(|| match gw.settings().cgn {
        Some(_) => String::new(),
        None => format!("PCP {} {}", m.internal_port, proto.as_str().to_lowercase()),
    });
    let by = if internal == requester {
        Requester::Client(requester)
    } else {
        // THIRD_PARTY, allowed by the configuration and checked LAN-only.
        Requester::Trusted
    };
    // Renewal, nonce, FILTER change, port choice: the gateway's one change path.
    let req = InternalMap {
        protocol: proto,
        internal_client: internal,
        internal_port: m.internal_port,
        suggested_port: m.external_port,
        remote_host: remote,
        peer: false,
        nonce: Some(m.nonce),
        exact: prefer_failure,
        description,
        expiry: expiry_at(now, Some(lifetime)),
        by,
    };
    match gw.map_internal(req, now) {
        Ok(o) => success(lifetime, o.mapping.external_port, o.mapping.external),
        Err(e) => {
            tracing::debug!(client = %internal, err = %e, "pcp map refused");
            error(buf, result_for(&e), epoch)
        }
    }
}
