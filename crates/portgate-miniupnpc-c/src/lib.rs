//! `libminiupnpc.so.17`, rebuilt in Rust: the C API of MiniUPnPc 2.2.4 (API 17), the UPnP
//! IGD control point that `upnpc`, python3-miniupnpc, BitTorrent clients, cryptocurrency
//! nodes and games link.
//!
//! All 59 functions the original exports are here, with the original struct layouts
//! ([`types`]). Discovery, HTTP and SOAP go through portgate-client (discovery asks the
//! SSDP cache daemon first, then sends a unicast M-SEARCH to the default gateway and the
//! multicast ones, and returns once a gateway answered plus a short grace period instead
//! of always waiting out the caller's delay); descriptions and SOAP answers are read by
//! a bounds-checked scanner written from the rules of MiniUPnPc's own ([`xml`]), so every field
//! lands where the original puts it, truncated to the original's fixed sizes.
//!
//! Memory handed to the caller comes from `malloc` (callers `free()` it); every exported
//! function catches panics, so none crosses into C; nothing is global.
#![allow(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![allow(non_camel_case_types, non_snake_case)]

pub mod commands;
pub mod discover;
pub mod igd;
pub mod net;
pub mod types;
pub mod xml;

mod util;
pub(crate) use util::*;

#[cfg(test)]
mod tests;
