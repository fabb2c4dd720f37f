//! portgate-ssdpd: the SSDP cache daemon (MiniSSDPd's job), as a sans-IO library plus
//! the `portgate-ssdpd` binary that drives it.
//!
//! The daemon listens to SSDP (UDA 1.1 §1: 239.255.255.250:1900, and ff02::c with `-6`)
//! on the served interfaces, keeps every device and service that announced itself
//! ([`cache::Cache`]: NOTIFY ssdp:alive/update/byebye, replies to its start-up
//! M-SEARCH ssdp:all, expiry by max-age), ignores senders outside the served subnets
//! ([`lan::LanFilter`]), and answers clients over a unix stream socket in MiniSSDPd's
//! byte format ([`portgate_proto::minissdpd`]), so Debian's `upnpc` and miniupnpd work
//! with it unchanged. Services registered over the socket (request type 4) are answered
//! on M-SEARCH ([`services::Responder`]).
//!
//! [`Core`] holds the whole state; it takes datagrams, client bytes and time, and hands
//! back replies, notification frames and datagrams. Nothing here opens a socket, reads
//! a clock or draws a random number.

#![forbid(unsafe_code)]

// The program (`main.rs`, kept under that name so its history follows it) names this
// crate by its name, as a binary would.
extern crate self as portgate_ssdpd;

#[path = "main.rs"]
mod program;
/// Entry point of the `portgate-ssdpd` program (its binary and the multi-call binary).
pub use program::main;

pub mod cache;
mod core;
pub mod lan;
pub mod services;

pub use crate::core::{
    ClientId, ClientStatus, CloseReason, Config, Core, DatagramOutcome, DEFAULT_MAX_CLIENTS,
    MAX_CLIENT_OUTPUT, STARTUP_MX,
};
pub use cache::{Announcement, Cache, CachedDevice, DEFAULT_MAX_AGE, DEFAULT_MAX_ENTRIES};
pub use lan::{LanFilter, Subnet};
pub use services::{Responder, SearchIgnored, Services, SubmitOutcome, Transmit};

#[cfg(test)]
mod tests;
