//! Per-protocol request counters for the administration socket and the metrics
//! listener: requests answered, refusals (the request was understood and said no to:
//! authorization, quota, conflict) and errors (malformed or unsupported requests,
//! resource or firewall failures).
//!
//! Process-wide counters: the front ends count where they answer, without a handle to
//! pass around. 64-bit counters behind a mutex, not 64-bit atomics: 32-bit MIPS (a
//! router target, docs/cross.md) has none.

use std::sync::{Mutex, PoisonError};

/// A protocol counted apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// UPnP IGD SOAP actions (WANIPConnection, WANIPv6FirewallControl, ...).
    Upnp,
    /// NAT-PMP (RFC 6886).
    NatPmp,
    /// PCP (RFC 6887), over IPv4 and IPv6.
    Pcp,
}

impl Proto {
    /// Every protocol, in report order.
    pub const ALL: [Proto; 3] = [Proto::Upnp, Proto::NatPmp, Proto::Pcp];

    /// The name used in reports (`upnp`, `natpmp`, `pcp`).
    pub fn name(self) -> &'static str {
        match self {
            Proto::Upnp => "upnp",
            Proto::NatPmp => "natpmp",
            Proto::Pcp => "pcp",
        }
    }

    fn index(self) -> usize {
        match self {
            Proto::Upnp => 0,
            Proto::NatPmp => 1,
            Proto::Pcp => 2,
        }
    }
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done as asked.
    Ok,
    /// Understood and refused.
    Refused,
    /// Malformed, unsupported, or failed.
    Error,
}

/// Counters of one protocol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests answered.
    pub requests: u64,
    /// Of those, refused.
    pub refusals: u64,
    /// Of those, errors.
    pub errors: u64,
}

const ZERO: Counts = Counts {
    requests: 0,
    refusals: 0,
    errors: 0,
};

static COUNTS: Mutex<[Counts; 3]> = Mutex::new([ZERO; 3]);

/// Counts one answered request of `proto`.
pub fn note(proto: Proto, outcome: Outcome) {
    let mut all = COUNTS.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(c) = all.get_mut(proto.index()) else {
        return;
    };
    c.requests = c.requests.wrapping_add(1);
    match outcome {
        Outcome::Ok => {}
        Outcome::Refused => c.refusals = c.refusals.wrapping_add(1),
        Outcome::Error => c.errors = c.errors.wrapping_add(1),
    }
}

/// The counters of `proto` so far.
pub fn get(proto: Proto) -> Counts {
    let all = COUNTS.lock().unwrap_or_else(PoisonError::into_inner);
    all.get(proto.index()).copied().unwrap_or_default()
}

/// The outcome of a NAT-PMP reply from its result code (RFC 6886 section 3.5: 2 Not
/// Authorized/Refused is a refusal; 1 Unsupported Version, 3 Network Failure, 4 Out of
/// Resources and 5 Unsupported Opcode are errors).
pub fn natpmp_outcome(result: u16) -> Outcome {
    match result {
        0 => Outcome::Ok,
        2 => Outcome::Refused,
        _ => Outcome::Error,
    }
}

/// The outcome of a PCP reply from its result code (RFC 6887 section 7.4:
/// NOT_AUTHORIZED 2, USER_EX_QUOTA 8, CANNOT_PROVIDE_EXTERNAL 11, ADDRESS_MISMATCH 12
/// and EXCESSIVE_REMOTE_PEERS 13 refuse a valid request; the others report a
/// malformed or unsupported request or a failure).
pub fn pcp_outcome(result: u8) -> Outcome {
    match result {
        0 => Outcome::Ok,
        2 | 8 | 11 | 12 | 13 => Outcome::Refused,
        _ => Outcome::Error,
    }
}

/// Counts a NAT-PMP or PCP reply by its bytes: the version byte picks the protocol,
/// the result code is at bytes 2-3 (NAT-PMP, RFC 6886 section 3.5) or byte 3 (PCP,
/// RFC 6887 section 7.2).
pub fn note_pmp_reply(reply: &[u8]) {
    match reply.first() {
        Some(0) => {
            let code = reply
                .get(2..4)
                .map_or(u16::MAX, |b| u16::from_be_bytes([b[0], b[1]]));
            note(Proto::NatPmp, natpmp_outcome(code));
        }
        Some(_) => note(
            Proto::Pcp,
            pcp_outcome(reply.get(3).copied().unwrap_or(u8::MAX)),
        ),
        None => {}
    }
}

/// The outcome of a UPnP answer: no fault is success; UPnP error codes 600 and up
/// (606 Action not authorized, 718 ConflictInMappingEntry, 728 NoPortMapsAvailable,
/// ...) refuse a valid request (UDA 1.1 section 3.2.2, IGD WANIPConnection:2 section
/// 2.5); 401, 402, 501 and the like report a bad or failed action.
pub fn upnp_outcome(error: Option<u16>) -> Outcome {
    match error {
        None => Outcome::Ok,
        Some(c) if c >= 600 => Outcome::Refused,
        Some(_) => Outcome::Error,
    }
}

/// Counts one UPnP answer (see [`upnp_outcome`]).
pub fn note_upnp(error: Option<u16>) {
    note(Proto::Upnp, upnp_outcome(error));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_by_result_code() {
        assert_eq!(natpmp_outcome(0), Outcome::Ok);
        assert_eq!(natpmp_outcome(2), Outcome::Refused);
        assert_eq!(natpmp_outcome(5), Outcome::Error);
        assert_eq!(pcp_outcome(0), Outcome::Ok);
        assert_eq!(pcp_outcome(8), Outcome::Refused);
        assert_eq!(pcp_outcome(3), Outcome::Error);
        assert_eq!(upnp_outcome(None), Outcome::Ok);
        assert_eq!(upnp_outcome(Some(718)), Outcome::Refused);
        assert_eq!(upnp_outcome(Some(402)), Outcome::Error);
    }

    #[test]
    fn replies_are_counted_by_protocol() {
        let before_pmp = get(Proto::NatPmp);
        let before_pcp = get(Proto::Pcp);
        // NAT-PMP mapping reply, result 2 (refused).
        note_pmp_reply(&[0, 129, 0, 2, 0, 0, 0, 0]);
        // PCP MAP reply, result 0.
        note_pmp_reply(&[2, 0x81, 0, 0]);
        note_pmp_reply(&[]);
        let pmp = get(Proto::NatPmp);
        let pcp = get(Proto::Pcp);
        assert!(pmp.requests > before_pmp.requests);
        assert!(pmp.refusals > before_pmp.refusals);
        assert!(pcp.requests > before_pcp.requests);
    }
}
