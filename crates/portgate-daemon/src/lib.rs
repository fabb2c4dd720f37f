//! portgated, the gateway daemon: a drop-in for miniupnpd.
//!
//! This crate holds the daemon's sans-IO core — the parts that need no
//! socket, no clock and no firewall, so they can be tested exhaustively:
//!
//! - [`config`]: `miniupnpd.conf`, read as is, into a typed [`config::Config`];
//! - [`flags`]: the miniupnpd-compatible command line, merged over the file;
//! - [`rules`]: `allow`/`deny` permission rules shared by UPnP, NAT-PMP and PCP;
//! - [`lease`]: the miniupnpd lease file format and its atomic writer;
//! - [`table`]: the one mapping table behind UPnP IGD, NAT-PMP and PCP.
//! - [`pinhole`]: the IPv6 pinhole table and `lease_file6` (WANIPv6FirewallControl, PCP).
//!
//! Time is always passed in (seconds), never read from a clock here.

pub mod cgn;
pub mod clock;
pub mod config;
pub mod control;
pub mod extaddr;
pub mod flags;
mod fwwatch;
pub mod gateway;
pub mod lease;
pub mod netif;
pub mod pidfile;
pub mod pinhole;
pub mod pmp;
pub mod privs;
pub mod rules;
pub mod run;
pub mod service;
pub mod stats;
pub mod table;
pub mod upnp;
