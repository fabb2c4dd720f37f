//! Service control protocol descriptions (SCPD, UDA 1.1 §2.5), generated from tables.
//!
//! Each service is a [`ServiceSpec`]: its actions (with arguments, directions and
//! related state variables) and its state table (data types, allowed values or
//! ranges, `sendEvents`). Entries carry the service version that introduced them, so
//! one table serves WANIPConnection:1 and :2. The argument lists follow the IGD:1 and
//! IGD:2 service specifications (WANIPConnection:1 §2.4, WANIPConnection:2 §2.5,
//! WANCommonInterfaceConfig:1, Layer3Forwarding:1, WANIPv6FirewallControl:1).

use crate::xml::Writer;

/// Direction of an action argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Sent by the control point.
    In,
    /// Returned by the device.
    Out,
}

impl Direction {
    /// `in` or `out`, as written in the SCPD.
    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// One argument of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgSpec {
    /// Argument name (e.g. `NewExternalPort`).
    pub name: &'static str,
    /// In or out.
    pub direction: Direction,
    /// The state variable giving its type.
    pub related: &'static str,
}

/// One action of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionSpec {
    /// Action name.
    pub name: &'static str,
    /// Lowest service version that has this action.
    pub since: u32,
    /// Arguments in the order the specification lists them (ins before outs).
    pub args: &'static [ArgSpec],
}

/// An allowed value range (UDA 1.1 §2.5 `allowedValueRange`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// Minimum.
    pub min: u32,
    /// Maximum.
    pub max: u32,
    /// Step, if specified.
    pub step: Option<u32>,
}

/// One state variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateVarSpec {
    /// Variable name.
    pub name: &'static str,
    /// UPnP data type (`string`, `ui2`, `ui4`, `boolean`, ...).
    pub data_type: &'static str,
    /// Whether changes are evented over GENA.
    pub send_events: bool,
    /// Allowed values for a string variable (empty: any).
    pub allowed: &'static [&'static str],
    /// Allowed range for numeric variables, per service version:
    /// `(since_version, range)`; the last entry whose version is <= the served version
    /// applies.
    pub range: &'static [(u32, Range)],
    /// Lowest service version that has this variable.
    pub since: u32,
}

/// A service: its type name and tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Service type without the version: `urn:schemas-upnp-org:service:<Name>`.
    pub service_urn: &'static str,
    /// The highest version this table describes.
    pub max_version: u32,
    /// Actions.
    pub actions: &'static [ActionSpec],
    /// State variables.
    pub state_vars: &'static [StateVarSpec],
}

const fn a_in(name: &'static str, related: &'static str) -> ArgSpec {
    ArgSpec {
        name,
        direction: Direction::In,
        related,
    }
}

const fn a_out(name: &'static str, related: &'static str) -> ArgSpec {
    ArgSpec {
        name,
        direction: Direction::Out,
        related,
    }
}

const fn act(name: &'static str, since: u32, args: &'static [ArgSpec]) -> ActionSpec {
    ActionSpec { name, since, args }
}

const fn var(name: &'static str, data_type: &'static str, send_events: bool) -> StateVarSpec {
    StateVarSpec {
        name,
        data_type,
        send_events,
        allowed: &[],
        range: &[],
        since: 1,
    }
}

const fn var_allowed(
    name: &'static str,
    send_events: bool,
    allowed: &'static [&'static str],
) -> StateVarSpec {
    StateVarSpec {
        name,
        data_type: "string",
        send_events,
        allowed,
        range: &[],
        since: 1,
    }
}

const fn var_range(
    name: &'static str,
    data_type: &'static str,
    range: &'static [(u32, Range)],
) -> StateVarSpec {
    StateVarSpec {
        name,
        data_type,
        send_events: false,
        allowed: &[],
        range,
        since: 1,
    }
}

const fn since(mut v: StateVarSpec, version: u32) -> StateVarSpec {
    v.since = version;
    v
}

const fn range(min: u32, max: u32) -> Range {
    Range {
        min,
        max,
        step: None,
    }
}

/// The eight in arguments of AddPortMapping / AddAnyPortMapping.
const ADD_ARGS_IN: [ArgSpec; 8] = [
    a_in("NewRemoteHost", "RemoteHost"),
    a_in("NewExternalPort", "ExternalPort"),
    a_in("NewProtocol", "PortMappingProtocol"),
    a_in("NewInternalPort", "InternalPort"),
    a_in("NewInternalClient", "InternalClient"),
    a_in("NewEnabled", "PortMappingEnabled"),
    a_in("NewPortMappingDescription", "PortMappingDescription"),
    a_in("NewLeaseDuration", "PortMappingLeaseDuration"),
];

/// AddAnyPortMapping: the AddPortMapping ins plus the chosen port.
const ADD_ANY_ARGS: [ArgSpec; 9] = [
    ADD_ARGS_IN[0],
    ADD_ARGS_IN[1],
    ADD_ARGS_IN[2],
    ADD_ARGS_IN[3],
    ADD_ARGS_IN[4],
    ADD_ARGS_IN[5],
    ADD_ARGS_IN[6],
    ADD_ARGS_IN[7],
    a_out("NewReservedPort", "ExternalPort"),
];

/// WANIPConnection:1 and :2.
pub const WAN_IP_CONNECTION: ServiceSpec = ServiceSpec {
    service_urn: "urn:schemas-upnp-org:service:WANIPConnection",
    max_version: 2,
    actions: &[
        act(
            "SetConnectionType",
            1,
            &[a_in("NewConnectionType", "ConnectionType")],
        ),
        act(
            "GetConnectionTypeInfo",
            1,
            &[
                a_out("NewConnectionType", "ConnectionType"),
                a_out("NewPossibleConnectionTypes", "PossibleConnectionTypes"),
            ],
        ),
        act("RequestConnection", 1, &[]),
        act("ForceTermination", 1, &[]),
        act(
            "GetStatusInfo",
            1,
            &[
                a_out("NewConnectionStatus", "ConnectionStatus"),
                a_out("NewLastConnectionError", "LastConnectionError"),
                a_out("NewUptime", "Uptime"),
            ],
        ),
        act(
            "GetNATRSIPStatus",
            1,
            &[
                a_out("NewRSIPAvailable", "RSIPAvailable"),
                a_out("NewNATEnabled", "NATEnabled"),
            ],
        ),
        act(
            "GetGenericPortMappingEntry",
            1,
            &[
                a_in("NewPortMappingIndex", "PortMappingNumberOfEntries"),
                a_out("NewRemoteHost", "RemoteHost"),
                a_out("NewExternalPort", "ExternalPort"),
                a_out("NewProtocol", "PortMappingProtocol"),
                a_out("NewInternalPort", "InternalPort"),
                a_out("NewInternalClient", "InternalClient"),
                a_out("NewEnabled", "PortMappingEnabled"),
                a_out("NewPortMappingDescription", "PortMappingDescription"),
                a_out("NewLeaseDuration", "PortMappingLeaseDuration"),
            ],
        ),
        act(
            "GetSpecificPortMappingEntry",
            1,
            &[
                a_in("NewRemoteHost", "RemoteHost"),
                a_in("NewExternalPort", "ExternalPort"),
                a_in("NewProtocol", "PortMappingProtocol"),
                a_out("NewInternalPort", "InternalPort"),
                a_out("NewInternalClient", "InternalClient"),
                a_out("NewEnabled", "PortMappingEnabled"),
                a_out("NewPortMappingDescription", "PortMappingDescription"),
                a_out("NewLeaseDuration", "PortMappingLeaseDuration"),
            ],
        ),
        act("AddPortMapping", 1, &ADD_ARGS_IN),
        act(
            "DeletePortMapping",
            1,
            &[
                a_in("NewRemoteHost", "RemoteHost"),
                a_in("NewExternalPort", "ExternalPort"),
                a_in("NewProtocol", "PortMappingProtocol"),
            ],
        ),
        act(
            "GetExternalIPAddress",
            1,
            &[a_out("NewExternalIPAddress", "ExternalIPAddress")],
        ),
        act("AddAnyPortMapping", 2, &ADD_ANY_ARGS),
        act(
            "DeletePortMappingRange",
            2,
            &[
                a_in("NewStartPort", "ExternalPort"),
                a_in("NewEndPort", "ExternalPort"),
                a_in("NewProtocol", "PortMappingProtocol"),
                a_in("NewManage", "A_ARG_TYPE_Manage"),
            ],
        ),
        act(
            "GetListOfPortMappings",
            2,
            &[
                a_in("NewStartPort", "ExternalPort"),
                a_in("NewEndPort", "ExternalPort"),
                a_in("NewProtocol", "PortMappingProtocol"),
                a_in("NewManage", "A_ARG_TYPE_Manage"),
                a_in("NewNumberOfPorts", "PortMappingNumberOfEntries"),
                a_out("NewPortListing", "A_ARG_TYPE_PortListing"),
            ],
        ),
    ],
    state_vars: &[
        var("ConnectionType", "string", false),
        var_allowed(
            "PossibleConnectionTypes",
            true,
            &["Unconfigured", "IP_Routed", "IP_Bridged"],
        ),
        var_allowed(
            "ConnectionStatus",
            true,
            &[
                "Unconfigured",
                "Connecting",
                "Connected",
                "PendingDisconnect",
                "Disconnecting",
                "Disconnected",
            ],
        ),
        var("Uptime", "ui4", false),
        var_allowed(
            "LastConnectionError",
            false,
            &[
                "ERROR_NONE",
                "ERROR_COMMAND_ABORTED",
                "ERROR_NOT_ENABLED_FOR_INTERNET",
                "ERROR_USER_DISCONNECT",
                "ERROR_ISP_DISCONNECT",
                "ERROR_IDLE_DISCONNECT",
                "ERROR_FORCED_DISCONNECT",
                "ERROR_NO_CARRIER",
                "ERROR_IP_CONFIGURATION",
                "ERROR_UNKNOWN",
            ],
        ),
        var("RSIPAvailable", "boolean", false),
        var("NATEnabled", "boolean", false),
        var("ExternalIPAddress", "string", true),
        var("PortMappingNumberOfEntries", "ui2", true),
        var("PortMappingEnabled", "boolean", false),
        var_range("PortMappingLeaseDuration", "ui4", &[(2, range(0, 604_800))]),
        var("RemoteHost", "string", false),
        var("ExternalPort", "ui2", false),
        var_range("InternalPort", "ui2", &[(2, range(1, 65_535))]),
        var_allowed("PortMappingProtocol", false, &["TCP", "UDP"]),
        var("InternalClient", "string", false),
        var("PortMappingDescription", "string", false),
        since(var("SystemUpdateID", "ui4", true), 2),
        since(var("A_ARG_TYPE_Manage", "boolean", false), 2),
        since(var("A_ARG_TYPE_PortListing", "string", false), 2),
    ],
};

/// WANCommonInterfaceConfig:1.
pub const WAN_COMMON_INTERFACE_CONFIG: ServiceSpec = ServiceSpec {
    service_urn: "urn:schemas-upnp-org:service:WANCommonInterfaceConfig",
    max_version: 1,
    actions: &[
        act(
            "GetCommonLinkProperties",
            1,
            &[
                a_out("NewWANAccessType", "WANAccessType"),
                a_out("NewLayer1UpstreamMaxBitRate", "Layer1UpstreamMaxBitRate"),
                a_out(
                    "NewLayer1DownstreamMaxBitRate",
                    "Layer1DownstreamMaxBitRate",
                ),
                a_out("NewPhysicalLinkStatus", "PhysicalLinkStatus"),
            ],
        ),
        act(
            "GetTotalBytesSent",
            1,
            &[a_out("NewTotalBytesSent", "TotalBytesSent")],
        ),
        act(
            "GetTotalBytesReceived",
            1,
            &[a_out("NewTotalBytesReceived", "TotalBytesReceived")],
        ),
        act(
            "GetTotalPacketsSent",
            1,
            &[a_out("NewTotalPacketsSent", "TotalPacketsSent")],
        ),
        act(
            "GetTotalPacketsReceived",
            1,
            &[a_out("NewTotalPacketsReceived", "TotalPacketsReceived")],
        ),
    ],
    state_vars: &[
        var_allowed(
            "WANAccessType",
            false,
            &["DSL", "POTS", "Cable", "Ethernet"],
        ),
        var("Layer1UpstreamMaxBitRate", "ui4", false),
        var("Layer1DownstreamMaxBitRate", "ui4", false),
        var_allowed(
            "PhysicalLinkStatus",
            true,
            &["Up", "Down", "Initializing", "Unavailable"],
        ),
        var("TotalBytesSent", "ui4", false),
        var("TotalBytesReceived", "ui4", false),
        var("TotalPacketsSent", "ui4", false),
        var("TotalPacketsReceived", "ui4", false),
    ],
};

/// Layer3Forwarding:1.
pub const LAYER3_FORWARDING: ServiceSpec = ServiceSpec {
    service_urn: "urn:schemas-upnp-org:service:Layer3Forwarding",
    max_version: 1,
    actions: &[
        act(
            "SetDefaultConnectionService",
            1,
            &[a_in(
                "NewDefaultConnectionService",
                "DefaultConnectionService",
            )],
        ),
        act(
            "GetDefaultConnectionService",
            1,
            &[a_out(
                "NewDefaultConnectionService",
                "DefaultConnectionService",
            )],
        ),
    ],
    state_vars: &[var("DefaultConnectionService", "string", true)],
};

/// WANIPv6FirewallControl:1.
pub const WAN_IPV6_FIREWALL_CONTROL: ServiceSpec = ServiceSpec {
    service_urn: "urn:schemas-upnp-org:service:WANIPv6FirewallControl",
    max_version: 1,
    actions: &[
        act(
            "GetFirewallStatus",
            1,
            &[
                a_out("FirewallEnabled", "FirewallEnabled"),
                a_out("InboundPinholeAllowed", "InboundPinholeAllowed"),
            ],
        ),
        act(
            "GetOutboundPinholeTimeout",
            1,
            &[
                a_in("RemoteHost", "A_ARG_TYPE_IPv6Address"),
                a_in("RemotePort", "A_ARG_TYPE_Port"),
                a_in("InternalClient", "A_ARG_TYPE_IPv6Address"),
                a_in("InternalPort", "A_ARG_TYPE_Port"),
                a_in("Protocol", "A_ARG_TYPE_Protocol"),
                a_out(
                    "OutboundPinholeTimeout",
                    "A_ARG_TYPE_OutboundPinholeTimeout",
                ),
            ],
        ),
        act(
            "AddPinhole",
            1,
            &[
                a_in("RemoteHost", "A_ARG_TYPE_IPv6Address"),
                a_in("RemotePort", "A_ARG_TYPE_Port"),
                a_in("InternalClient", "A_ARG_TYPE_IPv6Address"),
                a_in("InternalPort", "A_ARG_TYPE_Port"),
                a_in("Protocol", "A_ARG_TYPE_Protocol"),
                a_in("LeaseTime", "A_ARG_TYPE_LeaseTime"),
                a_out("UniqueID", "A_ARG_TYPE_UniqueID"),
            ],
        ),
        act(
            "UpdatePinhole",
            1,
            &[
                a_in("UniqueID", "A_ARG_TYPE_UniqueID"),
                a_in("NewLeaseTime", "A_ARG_TYPE_LeaseTime"),
            ],
        ),
        act(
            "DeletePinhole",
            1,
            &[a_in("UniqueID", "A_ARG_TYPE_UniqueID")],
        ),
        act(
            "GetPinholePackets",
            1,
            &[
                a_in("UniqueID", "A_ARG_TYPE_UniqueID"),
                a_out("PinholePackets", "A_ARG_TYPE_PinholePackets"),
            ],
        ),
        act(
            "CheckPinholeWorking",
            1,
            &[
                a_in("UniqueID", "A_ARG_TYPE_UniqueID"),
                a_out("IsWorking", "A_ARG_TYPE_Boolean"),
            ],
        ),
    ],
    state_vars: &[
        var("FirewallEnabled", "boolean", true),
        var("InboundPinholeAllowed", "boolean", true),
        var("A_ARG_TYPE_IPv6Address", "string", false),
        var("A_ARG_TYPE_Port", "ui2", false),
        var("A_ARG_TYPE_Protocol", "ui2", false),
        var_range("A_ARG_TYPE_LeaseTime", "ui4", &[(1, range(1, 86_400))]),
        var("A_ARG_TYPE_UniqueID", "ui2", false),
        var("A_ARG_TYPE_OutboundPinholeTimeout", "ui4", false),
        var("A_ARG_TYPE_PinholePackets", "ui4", false),
        var("A_ARG_TYPE_Boolean", "boolean", false),
    ],
};

impl ServiceSpec {
    /// The versioned service type, e.g. `urn:schemas-upnp-org:service:WANIPConnection:2`.
    pub fn service_type(&self, version: u32) -> String {
        format!("{}:{}", self.service_urn, version)
    }

    /// The actions present in `version`.
    pub fn actions_for(&self, version: u32) -> impl Iterator<Item = &'static ActionSpec> {
        self.actions.iter().filter(move |a| a.since <= version)
    }

    /// The state variables present in `version`.
    pub fn state_vars_for(&self, version: u32) -> impl Iterator<Item = &'static StateVarSpec> {
        self.state_vars.iter().filter(move |v| v.since <= version)
    }

    /// Looks an action up by name in `version`.
    pub fn action(&self, version: u32, name: &str) -> Option<&'static ActionSpec> {
        self.actions_for(version).find(|a| a.name == name)
    }

    /// Appends the SCPD document of `version` (clamped to 1..=`max_version`).
    pub fn emit_scpd(&self, version: u32, out: &mut Vec<u8>) {
        let version = version.clamp(1, self.max_version);
        let mut w = Writer::new(out);
        w.declaration()
            .open("scpd", &[("xmlns", "urn:schemas-upnp-org:service-1-0")])
            .open("specVersion", &[])
            .leaf("major", "1")
            .leaf("minor", "1")
            .close("specVersion")
            .open("actionList", &[]);
        for a in self.actions_for(version) {
            w.open("action", &[]).leaf("name", a.name);
            if !a.args.is_empty() {
                w.open("argumentList", &[]);
                for arg in a.args {
                    w.open("argument", &[])
                        .leaf("name", arg.name)
                        .leaf("direction", arg.direction.as_str())
                        .leaf("relatedStateVariable", arg.related)
                        .close("argument");
                }
                w.close("argumentList");
            }
            w.close("action");
        }
        w.close("actionList").open("serviceStateTable", &[]);
        for v in self.state_vars_for(version) {
            let events = if v.send_events { "yes" } else { "no" };
            w.open("stateVariable", &[("sendEvents", events)])
                .leaf("name", v.name)
                .leaf("dataType", v.data_type);
            if !v.allowed.is_empty() {
                w.open("allowedValueList", &[]);
                for a in v.allowed {
                    w.leaf("allowedValue", a);
                }
                w.close("allowedValueList");
            }
            if let Some((_, r)) = v.range.iter().rev().find(|(s, _)| *s <= version) {
                w.open("allowedValueRange", &[])
                    .leaf("minimum", &r.min.to_string())
                    .leaf("maximum", &r.max.to_string());
                if let Some(step) = r.step {
                    w.leaf("step", &step.to_string());
                }
                w.close("allowedValueRange");
            }
            w.close("stateVariable");
        }
        w.close("serviceStateTable").close("scpd").raw(b"\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{self, Limits};

    const ALL: [&ServiceSpec; 4] = [
        &WAN_IP_CONNECTION,
        &WAN_COMMON_INTERFACE_CONFIG,
        &LAYER3_FORWARDING,
        &WAN_IPV6_FIREWALL_CONTROL,
    ];

    #[test]
    fn every_argument_refers_to_a_declared_variable() {
        for s in ALL {
            for v in 1..=s.max_version {
                for a in s.actions_for(v) {
                    for arg in a.args {
                        let var = s.state_vars_for(v).find(|x| x.name == arg.related);
                        assert!(var.is_some(), "{} {} {}", s.service_urn, a.name, arg.name);
                    }
                    // ins before outs
                    let first_out = a.args.iter().position(|x| x.direction == Direction::Out);
                    if let Some(i) = first_out {
                        assert!(a.args[i..].iter().all(|x| x.direction == Direction::Out));
                    }
                }
            }
        }
    }

    fn parsed(spec: &ServiceSpec, version: u32) -> xml::Element {
        let mut out = Vec::new();
        spec.emit_scpd(version, &mut out);
        xml::parse(&out, &Limits::DEFAULT).unwrap()
    }

    fn action_names(root: &xml::Element) -> Vec<String> {
        root.child("actionList")
            .unwrap()
            .children_named("action")
            .map(|a| a.child_text("name").unwrap().to_string())
            .collect()
    }

    #[test]
    fn wanip_v1_and_v2_actions() {
        let v1 = action_names(&parsed(&WAN_IP_CONNECTION, 1));
        let v2 = action_names(&parsed(&WAN_IP_CONNECTION, 2));
        assert_eq!(v1.len(), 11);
        assert_eq!(v2.len(), 14);
        for n in [
            "AddAnyPortMapping",
            "DeletePortMappingRange",
            "GetListOfPortMappings",
        ] {
            assert!(!v1.iter().any(|x| x == n));
            assert!(v2.iter().any(|x| x == n));
        }
        assert!(v1.iter().any(|x| x == "AddPortMapping"));
    }

    #[test]
    fn scpd_details() {
        let root = parsed(&WAN_IP_CONNECTION, 1);
        assert_eq!(root.name, "scpd");
        assert_eq!(
            root.namespace.as_deref(),
            Some("urn:schemas-upnp-org:service-1-0")
        );
        let table = root.child("serviceStateTable").unwrap();
        let proto = table
            .children_named("stateVariable")
            .find(|v| v.child_text("name") == Some("PortMappingProtocol"))
            .unwrap();
        assert_eq!(proto.attr("sendEvents"), Some("no"));
        let allowed: Vec<&str> = proto
            .child("allowedValueList")
            .unwrap()
            .children
            .iter()
            .map(|c| c.trimmed_text())
            .collect();
        assert_eq!(allowed, ["TCP", "UDP"]);
        let ext = table
            .children_named("stateVariable")
            .find(|v| v.child_text("name") == Some("ExternalIPAddress"))
            .unwrap();
        assert_eq!(ext.attr("sendEvents"), Some("yes"));
        // the v2 lease range is not in v1
        let lease = |root: &xml::Element| {
            root.child("serviceStateTable")
                .unwrap()
                .children_named("stateVariable")
                .find(|v| v.child_text("name") == Some("PortMappingLeaseDuration"))
                .unwrap()
                .child("allowedValueRange")
                .map(|r| r.child_text("maximum").unwrap().to_string())
        };
        assert_eq!(lease(&root), None);
        assert_eq!(
            lease(&parsed(&WAN_IP_CONNECTION, 2)).as_deref(),
            Some("604800")
        );
        // AddPortMapping argument directions and related variables
        let add = root
            .child("actionList")
            .unwrap()
            .children_named("action")
            .find(|a| a.child_text("name") == Some("AddPortMapping"))
            .unwrap();
        let args: Vec<(String, String, String)> = add
            .child("argumentList")
            .unwrap()
            .children
            .iter()
            .map(|a| {
                (
                    a.child_text("name").unwrap().into(),
                    a.child_text("direction").unwrap().into(),
                    a.child_text("relatedStateVariable").unwrap().into(),
                )
            })
            .collect();
        assert_eq!(args.len(), 8);
        assert_eq!(
            args[1],
            ("NewExternalPort".into(), "in".into(), "ExternalPort".into())
        );
    }

    #[test]
    fn other_services_emit() {
        for s in [
            &WAN_COMMON_INTERFACE_CONFIG,
            &LAYER3_FORWARDING,
            &WAN_IPV6_FIREWALL_CONTROL,
        ] {
            let root = parsed(s, 1);
            assert_eq!(action_names(&root).len(), s.actions.len());
        }
        assert!(WAN_IPV6_FIREWALL_CONTROL.action(1, "AddPinhole").is_some());
        assert!(WAN_IP_CONNECTION.action(1, "AddAnyPortMapping").is_none());
    }
}
