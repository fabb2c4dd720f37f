//! portgated, the gateway daemon: a drop-in for miniupnpd.
//!
//! The public modules are the daemon's sans-IO core and what its tests drive
//! (ARCHITECTURE.md draws it):
//!
//! - [`gateway`]: the core: requests in with `now`, firewall changes
//!   (`portgate_nft::Firewall`), journal records ([`lease::LeaseStore`]), replies
//!   and events out; `poll_timeout`/`handle_timeout` for its timers;
//! - [`pmp`]: NAT-PMP and PCP datagrams in, replies out, against the core;
//! - [`pinhole`]: the IPv6 pinhole table and service, `lease_file6`;
//! - [`table`]: the one mapping table behind UPnP IGD, NAT-PMP and PCP;
//! - [`rules`]: `allow`/`deny` permission rules shared by UPnP, NAT-PMP and PCP;
//! - [`lease`]: the miniupnpd lease file format, the store trait and the journal;
//! - [`config`]: `miniupnpd.conf`, read as is, into a typed [`config::Config`];
//! - [`flags`]: the miniupnpd-compatible command line, merged over the file;
//! - [`upnp`]: SSDP, HTTP, SOAP and GENA around the core;
//! - [`run`]: the program (`run::main`), which only moves bytes, time and
//!   kernel calls.
//!
//! Time is always passed in, never read from a clock inside the core; the rest
//! (clock, sockets, signals, service management) is private to the crate.

pub mod cgn;
pub(crate) mod clock;
pub mod config;
pub(crate) mod control;
pub(crate) mod extaddr;
pub mod flags;
mod fwwatch;
pub mod gateway;
pub mod lease;
pub(crate) mod netif;
pub(crate) mod pidfile;
pub mod pinhole;
pub mod pmp;
pub(crate) mod privs;
pub mod rules;
pub mod run;
pub(crate) mod service;
pub(crate) mod stats;
pub mod table;
pub mod upnp;
