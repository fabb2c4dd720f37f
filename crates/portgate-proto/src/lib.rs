//! Sans-IO wire formats and protocol state machines for portgate.
//!
//! This crate never touches a socket, a clock or the OS random number generator:
//! callers pass bytes in, get bytes and decisions out, and hand in the current time
//! and any randomness (nonces, jitter) themselves. Every wire type parses from a
//! borrowed `&[u8]` into a typed value (or a [`DecodeError`]) and emits into a buffer;
//! the unit and property tests check `parse(emit(x)) == x`.
//!
//! | module | protocol | standard |
//! |---|---|---|
//! | [`natpmp`] | NAT Port Mapping Protocol | RFC 6886 |
//! | [`pcp`] | Port Control Protocol (+ DESCRIPTION option) | RFC 6887, RFC 7220 |
//! | [`ssdp`] | Simple Service Discovery Protocol | UDA 1.1 §1, UDA 2.0 §1 |
//! | [`http`] | HTTP/1.1 message framing | RFC 9112 |
//! | [`xml`] | bounded, entity-free XML reading | (safety layer) |
//! | [`soap`] | SOAP 1.1 control messages and UPnP faults | UDA 1.1 §3 |
//! | [`description`] | device and service descriptions (IGD:1/IGD:2) | UDA 1.1 §2, IGD:1, IGD:2 |
//! | [`gena`] | eventing: SUBSCRIBE/UNSUBSCRIBE/NOTIFY | UDA 1.1 §4 |
//! | [`stun`] | STUN binding request/response | RFC 5389 |
//! | [`minissdpd`] | the MiniSSDPd unix-socket protocol | MiniSSDPd |
//! | [`upnp_error`] | UPnP control error codes | UDA 1.1 §3.2.2, IGD:2 |
//! | [`json`] | JSON values for portgated's administration socket | RFC 8259 |
#![forbid(unsafe_code)]
#![deny(clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::indexing_slicing))]

pub mod description;
pub mod error;
pub mod gena;
pub mod http;
pub mod json;
pub mod minissdpd;
pub mod natpmp;
pub mod pcp;
pub mod soap;
pub mod ssdp;
pub mod stun;
pub mod upnp_error;
pub mod xml;

pub use error::DecodeError;
