//! What the UPnP device needs from the gateway core: the [`UpnpBackend`] trait, and
//! [`GatewayBackend`], its implementation over the shared [`Gateway`].
//!
//! Each mutating call is one complete change (table, firewall and lease file) or an
//! error. Reads return owned values so an implementation may borrow its state only
//! for the duration of the call.

use std::net::Ipv4Addr;

use crate::gateway::{GatewayError, SharedGateway};
use crate::table::{AddOutcome, Mapping, MappingKey, NewMapping, Protocol, Requester, TableError};

#[cfg(doc)]
use crate::gateway::Gateway;

/// Why the gateway refused or failed a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The mapping table refused it (mapped to a UPnP error code by [`super::soap`]).
    #[error(transparent)]
    Table(#[from] TableError),
    /// Forwarding is impossible now (no usable external address): UPnP 501.
    #[error("forwarding unavailable: {0}")]
    Unavailable(String),
    /// The firewall (or the lease file) failed: UPnP 501.
    #[error("action failed: {0}")]
    Failed(String),
}

impl From<GatewayError> for BackendError {
    fn from(e: GatewayError) -> Self {
        match e {
            GatewayError::Table(t) => BackendError::Table(t),
            GatewayError::ForwardingDisabled => BackendError::Unavailable(e.to_string()),
            GatewayError::Firewall(f) => BackendError::Failed(f.to_string()),
        }
    }
}

/// Counters of the WAN interface (WANCommonInterfaceConfig:1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WanCounters {
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Packets sent.
    pub packets_sent: u64,
    /// Packets received.
    pub packets_received: u64,
}

/// Connection state for GetStatusInfo / GetCommonLinkProperties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConnectionInfo {
    /// Whether mappings can be made (a usable external address is known).
    pub connected: bool,
    /// Whether the WAN link (carrier) is up.
    pub link_up: bool,
    /// Seconds since the connection came up.
    pub uptime: u64,
    /// Upstream bit rate, bit/s: `bitrate_up`, else the WAN link's speed; 0 when
    /// unknown.
    pub bitrate_up: u64,
    /// Downstream bit rate, bit/s: `bitrate_down`, else the WAN link's speed; 0 when
    /// unknown.
    pub bitrate_down: u64,
}

/// The gateway operations UPnP uses. See the module docs.
pub trait UpnpBackend {
    /// Whether secure mode is on now (`secure_mode`; a SIGHUP may change it).
    fn secure_mode(&self) -> bool;
    /// Number of mappings.
    fn mapping_count(&self) -> usize;
    /// The `index`-th mapping (GetGenericPortMappingEntry order).
    fn mapping_by_index(&self, index: usize) -> Option<Mapping>;
    /// The mapping at `key` (`remote_host`, when given, must match).
    fn mapping_specific(&self, key: MappingKey, remote_host: Option<Ipv4Addr>) -> Option<Mapping>;
    /// Mappings of `protocol` with external port in `start..=end`, at most `max`.
    fn mappings_in_range(
        &self,
        protocol: Protocol,
        start: u16,
        end: u16,
        max: usize,
    ) -> Vec<Mapping>;
    /// The external IPv4 address, when known.
    fn external_ipv4(&self) -> Option<Ipv4Addr>;
    /// Link state, uptime and bit rates.
    fn connection_info(&self) -> ConnectionInfo;
    /// WAN interface counters (read now).
    fn wan_counters(&self) -> WanCounters;
    /// The gateway's own addresses (never valid internal clients).
    fn own_addresses(&self) -> Vec<Ipv4Addr>;
    /// AddPortMapping (`any == false`) or AddAnyPortMapping (`any == true`).
    fn add_mapping(
        &mut self,
        req: NewMapping,
        by: Requester,
        any: bool,
        now: u64,
    ) -> Result<AddOutcome, BackendError>;
    /// DeletePortMapping.
    fn delete_mapping(
        &mut self,
        key: MappingKey,
        remote_host: Option<Ipv4Addr>,
        by: Requester,
        now: u64,
    ) -> Result<Mapping, BackendError>;
    /// DeletePortMappingRange: the removed mappings.
    fn delete_range(
        &mut self,
        protocol: Protocol,
        start: u16,
        end: u16,
        by: Requester,
        now: u64,
    ) -> Result<Vec<Mapping>, BackendError>;
}

/// Reads the counters of `ifname` from `/sys/class/net/<if>/statistics` (zeros when
/// unreadable).
pub fn read_sysfs_counters(ifname: &str) -> WanCounters {
    let read = |name: &str| -> u64 {
        crate::netif::read_sysfs(ifname, &format!("statistics/{name}"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    };
    WanCounters {
        bytes_sent: read("tx_bytes"),
        bytes_received: read("rx_bytes"),
        packets_sent: read("tx_packets"),
        packets_received: read("rx_packets"),
    }
}

/// [`UpnpBackend`] over the shared [`Gateway`] plus the WAN interface facts the
/// gateway does not hold (name for counters, speed and state; configured bit rates).
pub struct GatewayBackend {
    gw: SharedGateway,
    wan_ifname: Option<String>,
    bitrate_up: u64,
    bitrate_down: u64,
    started: u64,
}

impl GatewayBackend {
    /// Wraps `gw`; counters, link state and speed come from `wan_ifname`'s sysfs
    /// entries (`netif::link_facts`). A bit rate of 0 means "not configured":
    /// the link's speed is reported instead, as miniupnpd does.
    pub fn new(
        gw: SharedGateway,
        wan_ifname: Option<String>,
        bitrate_up: u64,
        bitrate_down: u64,
    ) -> Self {
        Self {
            gw,
            wan_ifname,
            bitrate_up,
            bitrate_down,
            started: crate::clock::now(),
        }
    }
}

impl UpnpBackend for GatewayBackend {
    fn secure_mode(&self) -> bool {
        self.gw.borrow().settings().limits.secure_mode
    }

    fn mapping_count(&self) -> usize {
        self.gw.borrow().table().len()
    }

    fn mapping_by_index(&self, index: usize) -> Option<Mapping> {
        self.gw.borrow().table().get_by_index(index).cloned()
    }

    fn mapping_specific(&self, key: MappingKey, remote_host: Option<Ipv4Addr>) -> Option<Mapping> {
        self.gw
            .borrow()
            .table()
            .get_specific(key, remote_host)
            .cloned()
    }

    fn mappings_in_range(
        &self,
        protocol: Protocol,
        start: u16,
        end: u16,
        max: usize,
    ) -> Vec<Mapping> {
        self.gw
            .borrow()
            .table()
            .list_range(protocol, start, end, max)
            .into_iter()
            .cloned()
            .collect()
    }

    fn external_ipv4(&self) -> Option<Ipv4Addr> {
        self.gw.borrow().external()
    }

    fn connection_info(&self) -> ConnectionInfo {
        let gw = self.gw.borrow();
        let now = crate::clock::now();
        let link = self.wan_ifname.as_deref().map(crate::netif::link_facts);
        let speed = link
            .and_then(|l| l.speed_mbits)
            .map_or(0, |m| m.saturating_mul(1_000_000));
        let or_speed = |configured: u64| if configured == 0 { speed } else { configured };
        ConnectionInfo {
            connected: gw.forwarding(),
            link_up: link.map_or(gw.external().is_some(), |l| l.up),
            uptime: now.saturating_sub(gw.epoch_start().max(self.started)),
            bitrate_up: or_speed(self.bitrate_up),
            bitrate_down: or_speed(self.bitrate_down),
        }
    }

    fn wan_counters(&self) -> WanCounters {
        self.wan_ifname
            .as_deref()
            .map(read_sysfs_counters)
            .unwrap_or_default()
    }

    fn own_addresses(&self) -> Vec<Ipv4Addr> {
        self.gw.borrow().own_addresses()
    }

    fn add_mapping(
        &mut self,
        req: NewMapping,
        by: Requester,
        any: bool,
        now: u64,
    ) -> Result<AddOutcome, BackendError> {
        let mut gw = self.gw.borrow_mut();
        gw.set_wall_offset(crate::clock::wall_offset());
        Ok(gw.map(req, by, any, now)?)
    }

    fn delete_mapping(
        &mut self,
        key: MappingKey,
        remote_host: Option<Ipv4Addr>,
        by: Requester,
        now: u64,
    ) -> Result<Mapping, BackendError> {
        let mut gw = self.gw.borrow_mut();
        gw.set_wall_offset(crate::clock::wall_offset());
        Ok(gw.unmap(key, remote_host, by, now)?)
    }

    fn delete_range(
        &mut self,
        protocol: Protocol,
        start: u16,
        end: u16,
        by: Requester,
        now: u64,
    ) -> Result<Vec<Mapping>, BackendError> {
        let mut gw = self.gw.borrow_mut();
        gw.set_wall_offset(crate::clock::wall_offset());
        Ok(gw.unmap_range(protocol, start, end, by, now)?)
    }
}
