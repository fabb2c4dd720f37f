//! UPnP control error codes (the `errorCode` of a SOAP fault's `UPnPError` detail).
//!
//! Codes 401–612 are defined by UDA 1.1 §3.2.2 (table "UPnP errorCode"), 700–799 by
//! each service's specification: WANIPConnection:1/2 (713–733), Layer3Forwarding:1
//! (720–723) and WANIPv6FirewallControl:1 (701–709). The 700 range is per service, so
//! 701–709 also have (different) meanings in WANIPConnection:1 (connection set-up
//! errors such as 704 ConnectionSetupFailed); portgate never sends those, and this
//! type reads 701–709 with their WANIPv6FirewallControl meaning.
//!
//! The enum is open: any other code is kept as [`UpnpErrorCode::Unknown`], so
//! `UpnpErrorCode::from_code(n).code() == n` for every `n`.

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $desc:literal; )*) => {
        /// A UPnP control error code (UDA 1.1 §3.2.2; IGD:1/IGD:2 service specs).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum UpnpErrorCode {
            $( $(#[$doc])* $variant, )*
            /// Any code not listed above, kept as is.
            Unknown(u16),
        }

        impl UpnpErrorCode {
            /// Every named code, in numeric order.
            pub const ALL: &'static [UpnpErrorCode] = &[ $( UpnpErrorCode::$variant, )* ];

            /// Maps a numeric code to its variant ([`UpnpErrorCode::Unknown`] if unnamed).
            pub const fn from_code(code: u16) -> Self {
                match code {
                    $( $code => UpnpErrorCode::$variant, )*
                    other => UpnpErrorCode::Unknown(other),
                }
            }

            /// The numeric code.
            pub const fn code(self) -> u16 {
                match self {
                    $( UpnpErrorCode::$variant => $code, )*
                    UpnpErrorCode::Unknown(n) => n,
                }
            }

            /// The standard `errorDescription` for this code, as the specifications
            /// name it; `None` for [`UpnpErrorCode::Unknown`].
            pub const fn standard_description(self) -> Option<&'static str> {
                match self {
                    $( UpnpErrorCode::$variant => Some($desc), )*
                    UpnpErrorCode::Unknown(_) => None,
                }
            }
        }
    };
}

codes! {
    /// 401: no action by that name at this service (UDA 1.1).
    InvalidAction = 401, "Invalid Action";
    /// 402: not enough arguments, arguments in the wrong order, or of the wrong type.
    InvalidArgs = 402, "Invalid Args";
    /// 501: the action failed for a reason not covered by another code.
    ActionFailed = 501, "Action Failed";
    /// 600: an argument value is invalid.
    ArgumentValueInvalid = 600, "Argument Value Invalid";
    /// 601: an argument value is outside its allowed range.
    ArgumentValueOutOfRange = 601, "Argument Value Out of Range";
    /// 602: the optional action is not implemented.
    OptionalActionNotImplemented = 602, "Optional Action Not Implemented";
    /// 603: not enough memory to complete the action.
    OutOfMemory = 603, "Out of Memory";
    /// 604: human intervention is required.
    HumanInterventionRequired = 604, "Human Intervention Required";
    /// 605: a string argument is too long.
    StringArgumentTooLong = 605, "String Argument Too Long";
    /// 606: the action is not authorized (also used by IGD for secure-mode refusals).
    ActionNotAuthorized = 606, "Action not authorized";
    /// 607: signature failure (UDA 1.0 device security).
    SignatureFailure = 607, "Signature failure";
    /// 608: signature missing (UDA 1.0 device security).
    SignatureMissing = 608, "Signature missing";
    /// 609: not encrypted (UDA 1.0 device security).
    NotEncrypted = 609, "Not encrypted";
    /// 610: invalid sequence (UDA 1.0 device security).
    InvalidSequence = 610, "Invalid sequence";
    /// 611: invalid control URL (UDA 1.0 device security).
    InvalidControlUrl = 611, "Invalid control URL";
    /// 612: no such session (UDA 1.0 device security).
    NoSuchSession = 612, "No such session";
    /// 701 (WANIPv6FirewallControl): no more pinholes can be created.
    PinholeSpaceExhausted = 701, "PinholeSpaceExhausted";
    /// 702 (WANIPv6FirewallControl): the firewall is disabled.
    FirewallDisabled = 702, "FirewallDisabled";
    /// 703 (WANIPv6FirewallControl): inbound pinholes are not allowed.
    InboundPinholeNotAllowed = 703, "InboundPinholeNotAllowed";
    /// 704 (WANIPv6FirewallControl): no pinhole with that UniqueID.
    NoSuchEntry = 704, "NoSuchEntry";
    /// 705 (WANIPv6FirewallControl): the protocol is not supported.
    ProtocolNotSupported = 705, "ProtocolNotSupported";
    /// 706 (WANIPv6FirewallControl): a wildcard internal port is not allowed.
    InternalPortWildcardingNotAllowed = 706, "InternalPortWildcardingNotAllowed";
    /// 707 (WANIPv6FirewallControl): a wildcard protocol is not allowed.
    ProtocolWildcardingNotAllowed = 707, "ProtocolWildcardingNotAllowed";
    /// 708 (WANIPv6FirewallControl): a wildcard source address is not allowed.
    PinholeWildCardNotPermittedInSrcIp = 708, "WildCardNotPermittedInSrcIP";
    /// 709 (WANIPv6FirewallControl): no traffic was seen through the pinhole.
    NoTrafficReceived = 709, "NoTrafficReceived";
    /// 713 (WANIPConnection): the array index is out of range.
    SpecifiedArrayIndexInvalid = 713, "SpecifiedArrayIndexInvalid";
    /// 714 (WANIPConnection): no such port mapping entry.
    NoSuchEntryInArray = 714, "NoSuchEntryInArray";
    /// 715 (WANIPConnection): a wildcard remote host is not permitted.
    WildCardNotPermittedInSrcIp = 715, "WildCardNotPermittedInSrcIP";
    /// 716 (WANIPConnection): a wildcard external port is not permitted.
    WildCardNotPermittedInExtPort = 716, "WildCardNotPermittedInExtPort";
    /// 718 (WANIPConnection): the mapping conflicts with one of another client.
    ConflictInMappingEntry = 718, "ConflictInMappingEntry";
    /// 720 (Layer3Forwarding): the device UUID is invalid.
    InvalidDeviceUuid = 720, "InvalidDeviceUUID";
    /// 721 (Layer3Forwarding): the service ID is invalid.
    InvalidServiceId = 721, "InvalidServiceID";
    /// 723 (Layer3Forwarding): the connection service selection is invalid.
    InvalidConnServiceSelection = 723, "InvalidConnServiceSelection";
    /// 724 (WANIPConnection): internal and external ports must be equal.
    SamePortValuesRequired = 724, "SamePortValuesRequired";
    /// 725 (WANIPConnection:1): only permanent leases (duration 0) are supported.
    OnlyPermanentLeasesSupported = 725, "OnlyPermanentLeasesSupported";
    /// 726 (WANIPConnection): the remote host must be the wildcard.
    RemoteHostOnlySupportsWildcard = 726, "RemoteHostOnlySupportsWildcard";
    /// 727 (WANIPConnection): the external port must be the wildcard.
    ExternalPortOnlySupportsWildcard = 727, "ExternalPortOnlySupportsWildcard";
    /// 728 (WANIPConnection:2): no free port mapping is available.
    NoPortMapsAvailable = 728, "NoPortMapsAvailable";
    /// 729 (WANIPConnection:2): conflicts with another mapping mechanism.
    ConflictWithOtherMechanisms = 729, "ConflictWithOtherMechanisms";
    /// 730 (WANIPConnection:2): no mapping in the given range.
    PortMappingNotFound = 730, "PortMappingNotFound";
    /// 731 (WANIPConnection): the variable is read-only.
    ReadOnly = 731, "ReadOnly";
    /// 732 (WANIPConnection:2): a wildcard internal port is not permitted.
    WildCardNotPermittedInIntPort = 732, "WildCardNotPermittedInIntPort";
    /// 733 (WANIPConnection:2): the parameters are inconsistent (e.g. start > end).
    InconsistentParameters = 733, "InconsistentParameters";
}

impl UpnpErrorCode {
    /// The description to send: the standard one, or "Unknown Error" for an unnamed
    /// code.
    pub const fn description(self) -> &'static str {
        match self.standard_description() {
            Some(d) => d,
            None => "Unknown Error",
        }
    }
}

impl From<u16> for UpnpErrorCode {
    fn from(code: u16) -> Self {
        Self::from_code(code)
    }
}

impl From<UpnpErrorCode> for u16 {
    fn from(code: UpnpErrorCode) -> Self {
        code.code()
    }
}

impl std::fmt::Display for UpnpErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code(), self.description())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn igd_codes_from_the_daemon_spec() {
        let table: &[(u16, UpnpErrorCode, &str)] = &[
            (401, UpnpErrorCode::InvalidAction, "Invalid Action"),
            (402, UpnpErrorCode::InvalidArgs, "Invalid Args"),
            (501, UpnpErrorCode::ActionFailed, "Action Failed"),
            (
                606,
                UpnpErrorCode::ActionNotAuthorized,
                "Action not authorized",
            ),
            (
                713,
                UpnpErrorCode::SpecifiedArrayIndexInvalid,
                "SpecifiedArrayIndexInvalid",
            ),
            (714, UpnpErrorCode::NoSuchEntryInArray, "NoSuchEntryInArray"),
            (
                715,
                UpnpErrorCode::WildCardNotPermittedInSrcIp,
                "WildCardNotPermittedInSrcIP",
            ),
            (
                716,
                UpnpErrorCode::WildCardNotPermittedInExtPort,
                "WildCardNotPermittedInExtPort",
            ),
            (
                718,
                UpnpErrorCode::ConflictInMappingEntry,
                "ConflictInMappingEntry",
            ),
            (
                724,
                UpnpErrorCode::SamePortValuesRequired,
                "SamePortValuesRequired",
            ),
            (
                725,
                UpnpErrorCode::OnlyPermanentLeasesSupported,
                "OnlyPermanentLeasesSupported",
            ),
            (
                726,
                UpnpErrorCode::RemoteHostOnlySupportsWildcard,
                "RemoteHostOnlySupportsWildcard",
            ),
            (
                727,
                UpnpErrorCode::ExternalPortOnlySupportsWildcard,
                "ExternalPortOnlySupportsWildcard",
            ),
            (
                728,
                UpnpErrorCode::NoPortMapsAvailable,
                "NoPortMapsAvailable",
            ),
            (
                729,
                UpnpErrorCode::ConflictWithOtherMechanisms,
                "ConflictWithOtherMechanisms",
            ),
            (
                730,
                UpnpErrorCode::PortMappingNotFound,
                "PortMappingNotFound",
            ),
            (731, UpnpErrorCode::ReadOnly, "ReadOnly"),
            (
                732,
                UpnpErrorCode::WildCardNotPermittedInIntPort,
                "WildCardNotPermittedInIntPort",
            ),
            (
                733,
                UpnpErrorCode::InconsistentParameters,
                "InconsistentParameters",
            ),
        ];
        for &(n, v, d) in table {
            assert_eq!(UpnpErrorCode::from_code(n), v);
            assert_eq!(v.code(), n);
            assert_eq!(v.description(), d);
        }
        assert_eq!(UpnpErrorCode::from_code(799), UpnpErrorCode::Unknown(799));
        assert_eq!(UpnpErrorCode::Unknown(799).description(), "Unknown Error");
        assert_eq!(
            UpnpErrorCode::ConflictInMappingEntry.to_string(),
            "718 ConflictInMappingEntry"
        );
    }

    #[test]
    fn all_is_sorted_and_unique() {
        let codes: Vec<u16> = UpnpErrorCode::ALL.iter().map(|c| c.code()).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(codes, sorted);
    }

    proptest! {
        #[test]
        fn code_round_trips(n in any::<u16>()) {
            prop_assert_eq!(UpnpErrorCode::from_code(n).code(), n);
            let back: u16 = UpnpErrorCode::from(n).into();
            prop_assert_eq!(back, n);
        }
    }
}
