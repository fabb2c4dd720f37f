//! UPnP device and service descriptions (UDA 1.1 §2) for the Internet Gateway Device
//! (IGD:1 and IGD:2).
//!
//! - [`igd`]: the daemon's device tree (`rootDesc.xml`): InternetGatewayDevice:N >
//!   WANDevice:N > WANConnectionDevice:N, the URL paths it serves, and the config
//!   struct that fills the vendor fields.
//! - [`scpd`]: service descriptions (SCPD) generated from static tables of actions and
//!   state variables for Layer3Forwarding:1, WANCommonInterfaceConfig:1,
//!   WANIPConnection:1/2 and WANIPv6FirewallControl:1.
//! - [`parse`]: reading any router's device description into a tree of devices and
//!   services with absolute URLs, and picking the WAN connection service to control.
//! - [`portlist`]: the IGD:2 `PortMappingList` document carried in the
//!   `NewPortListing` argument of GetListOfPortMappings.

pub mod igd;
pub mod parse;
pub mod portlist;
pub mod scpd;

pub use igd::{IgdConfig, IgdVersion};
pub use parse::{
    resolve_url, Device, DeviceDescription, HttpUrl, Service, WanService, WanServiceKind,
};
pub use portlist::{PortMappingEntry, PortMappingList};

#[cfg(test)]
mod tests;
