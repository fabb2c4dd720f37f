//! Network-namespace lab for portgate's end-to-end tests (docs/design.md, "The namespace lab").
//!
//! A [`Lab`] is a real Linux network made of namespaces:
//!
//! ```text
//! lan host(s) --veth-- br-lan [gateway] wan0 --veth-- wan host
//! 10.77.0.2..           10.77.0.1   203.0.113.1       203.0.113.2
//! ```
//!
//! The gateway forwards and masquerades; the daemon under test runs in it and programs
//! nftables there. A mapping is proven by [`Lab::tcp_probe`] / [`Lab::udp_probe`]: bytes sent
//! by the WAN host to the external address arrive at a listener on the LAN host.
//!
//! ```no_run
//! use std::time::Duration;
//! use portgate_lab::{Host, Lab};
//!
//! # fn main() -> Result<(), portgate_lab::LabError> {
//! let Some(lab) = Lab::builder().lan_hosts(1).build_or_skip()? else { return Ok(()) };
//! let ext = (lab.external_ipv4(), 4000).into();
//! let reached = lab.tcp_probe(Host::Wan, ext, (Host::Lan(0), 4000), b"hi", Duration::from_secs(1))?;
//! assert!(!reached, "no mapping yet");
//! # Ok(()) }
//! ```
//!
//! Needs root (or CAP_NET_ADMIN + CAP_SYS_ADMIN), iproute2 and nftables. Every namespace is
//! named `pg<pid>n<counter><role>`, so labs of parallel tests never collide and leftovers of
//! dead runs are removed when the next lab is built. Drop tears everything down.

mod bins;
mod error;
mod lab;
mod netns;
mod probe;
mod process;
mod require;

pub use bins::{bin_dirs, built_workspace_bin, workspace_bin};
pub use error::{LabError, Result};
pub use lab::{
    GatewayNet, Host, HostNet, Iface, Lab, LabBuilder, DEFAULT_EXEC_TIMEOUT, GATEWAY_LAN_IF,
    GATEWAY_WAN_IF, HOST_IF, LAB_NFT_TABLE, LAN_NET_V4, LAN_NET_V6, MAX_LAN_HOSTS, WAN_NET_V6,
    WAN_TEST_NET, WAN_UNRESERVED_NET,
};
pub use netns::{clean_leftovers, NETNS_DIR, NETNS_PREFIX};
pub use probe::{ProbeReport, UDP_RESEND_INTERVAL};
pub use process::Proc;
pub use require::{in_ci, require, unavailable_reason};
/// Signals for [`Proc::signal`].
pub use rustix::process::Signal;
