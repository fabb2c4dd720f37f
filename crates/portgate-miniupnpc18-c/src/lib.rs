//! `libminiupnpc.so.18`: the C API of MiniUPnPc 2.2.8 (API 18), built from the sources of
//! `portgate-miniupnpc-c` (`libminiupnpc.so.17`) with the `api18` cfg. API 18 differs in
//! one function: `UPNP_GetValidIGD` takes `wanaddr`/`wanaddrlen` and returns 1
//! (connected, public address), 2 (connected, reserved address), 3 (not connected) or 4
//! (not an IGD). Structs and the other 58 functions are the same.
#![allow(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![allow(non_camel_case_types, non_snake_case)]

#[path = "../../portgate-miniupnpc-c/src/commands.rs"]
pub mod commands;
#[path = "../../portgate-miniupnpc-c/src/discover.rs"]
pub mod discover;
#[path = "../../portgate-miniupnpc-c/src/igd.rs"]
pub mod igd;
#[path = "../../portgate-miniupnpc-c/src/net.rs"]
pub mod net;
#[path = "../../portgate-miniupnpc-c/src/types.rs"]
pub mod types;
#[path = "../../portgate-miniupnpc-c/src/xml.rs"]
pub mod xml;

#[path = "../../portgate-miniupnpc-c/src/util.rs"]
mod util;
pub(crate) use util::*;
