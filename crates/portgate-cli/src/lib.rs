//! `portgate`: the command-line client for UPnP IGD, NAT-PMP and PCP gateways
//! (replaces `upnpc` and `natpmpc`), as a library entry point so the `portgate`
//! binary and the multi-call binary (`portgate-multicall`) share it.
//!
//! The program lives in `main.rs` (kept under that name so its history follows it).

#[path = "main.rs"]
mod app;

pub use app::main;
