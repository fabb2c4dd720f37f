//! The IGD:2 port-mapping list (WANIPConnection:2, GetListOfPortMappings
//! `NewPortListing`, schema `urn:schemas-upnp-org:gw:WANIPConnection`).
//!
//! ```text
//! <p:PortMappingList xmlns:p="urn:schemas-upnp-org:gw:WANIPConnection" ...>
//!   <p:PortMappingEntry>
//!     <p:NewRemoteHost/> <p:NewExternalPort/> <p:NewProtocol/> <p:NewInternalPort/>
//!     <p:NewInternalClient/> <p:NewEnabled/> <p:NewDescription/> <p:NewLeaseTime/>
//!   </p:PortMappingEntry> ...
//! </p:PortMappingList>
//! ```
//!
//! The document travels escaped inside a SOAP argument; this module handles the
//! unescaped document.

use crate::xml::{self, Element, Limits, Writer};
use crate::DecodeError;

/// Namespace of the port-mapping list schema.
pub const PORT_LISTING_NS: &str = "urn:schemas-upnp-org:gw:WANIPConnection";

/// Cap on entries in one list.
///
/// The daemon's default cap for GetListOfPortMappings is 1000 entries; a client reads
/// at most that many from one response.
pub const MAX_PORT_LISTING_ENTRIES: usize = 1000;

const LIMITS: Limits = Limits {
    max_document_len: xml::MAX_DOCUMENT_LEN,
    max_depth: 8,
    max_elements: 1 + 9 * MAX_PORT_LISTING_ENTRIES + 64,
    max_attributes: xml::MAX_ATTRIBUTES,
    max_text_len: 4096,
};

/// One `p:PortMappingEntry`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PortMappingEntry {
    /// NewRemoteHost (empty = any).
    pub remote_host: String,
    /// NewExternalPort.
    pub external_port: u16,
    /// NewProtocol (`TCP` or `UDP`).
    pub protocol: String,
    /// NewInternalPort.
    pub internal_port: u16,
    /// NewInternalClient.
    pub internal_client: String,
    /// NewEnabled.
    pub enabled: bool,
    /// NewDescription (kept untrimmed).
    pub description: String,
    /// NewLeaseTime in seconds (remaining).
    pub lease_time: u32,
}

/// A whole port-mapping list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PortMappingList {
    /// Entries in document order.
    pub entries: Vec<PortMappingEntry>,
}

/// Parses a UPnP `boolean` (UDA 1.1 §2.5: `0`, `1`, `true`, `false`, `yes`, `no`).
pub fn parse_upnp_bool(s: &str) -> Option<bool> {
    match s.trim() {
        "1" => Some(true),
        "0" => Some(false),
        t if t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("yes") => Some(true),
        t if t.eq_ignore_ascii_case("false") || t.eq_ignore_ascii_case("no") => Some(false),
        _ => None,
    }
}

fn num<T: std::str::FromStr>(el: &Element, name: &'static str) -> Result<T, DecodeError> {
    let t = el
        .child_text(name)
        .ok_or(DecodeError::invalid("PortMappingEntry", "missing field"))?;
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecodeError::invalid(name, "not a number"));
    }
    t.parse()
        .map_err(|_| DecodeError::invalid(name, "out of range"))
}

impl PortMappingEntry {
    fn from_element(el: &Element) -> Result<Self, DecodeError> {
        Ok(Self {
            remote_host: el.child_text("NewRemoteHost").unwrap_or_default().into(),
            external_port: num(el, "NewExternalPort")?,
            protocol: el
                .child_text("NewProtocol")
                .ok_or(DecodeError::invalid("PortMappingEntry", "missing field"))?
                .into(),
            internal_port: num(el, "NewInternalPort")?,
            internal_client: el
                .child_text("NewInternalClient")
                .unwrap_or_default()
                .into(),
            enabled: match el.child_text("NewEnabled") {
                None => true,
                Some(t) => {
                    parse_upnp_bool(t).ok_or(DecodeError::invalid("NewEnabled", "not a boolean"))?
                }
            },
            description: el
                .child("NewDescription")
                .map(|d| d.text.clone())
                .unwrap_or_default(),
            lease_time: match el.child_text("NewLeaseTime") {
                None => 0,
                Some(_) => num(el, "NewLeaseTime")?,
            },
        })
    }
}

impl PortMappingList {
    /// Parses the (unescaped) list document. Missing NewRemoteHost, NewInternalClient,
    /// NewDescription are read as empty, a missing NewEnabled as enabled and a missing
    /// NewLeaseTime as 0; ports and protocol are required.
    pub fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        let root = xml::parse(buf, &LIMITS)?;
        if !root.name.eq_ignore_ascii_case("PortMappingList") {
            return Err(DecodeError::invalid(
                "PortMappingList",
                "root is not PortMappingList",
            ));
        }
        let mut entries = Vec::new();
        for e in root.children_named("PortMappingEntry") {
            if entries.len() >= MAX_PORT_LISTING_ENTRIES {
                return Err(DecodeError::TooMany {
                    what: "PortMappingEntry",
                    limit: MAX_PORT_LISTING_ENTRIES,
                });
            }
            entries.push(PortMappingEntry::from_element(e)?);
        }
        Ok(Self { entries })
    }

    /// Appends the list document, with an XML declaration and the `p:` prefix the
    /// WANIPConnection:2 specification uses.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        w.declaration().open(
            "p:PortMappingList",
            &[
                ("xmlns:p", PORT_LISTING_NS),
                ("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"),
                (
                    "xsi:schemaLocation",
                    "urn:schemas-upnp-org:gw:WANIPConnection http://www.upnp.org/schemas/gw/WANIPConnection-v2.xsd",
                ),
            ],
        );
        for e in &self.entries {
            w.raw(b"\n").open("p:PortMappingEntry", &[]);
            w.leaf("p:NewRemoteHost", &e.remote_host)
                .leaf("p:NewExternalPort", &e.external_port.to_string())
                .leaf("p:NewProtocol", &e.protocol)
                .leaf("p:NewInternalPort", &e.internal_port.to_string())
                .leaf("p:NewInternalClient", &e.internal_client)
                .leaf("p:NewEnabled", if e.enabled { "1" } else { "0" })
                .leaf("p:NewDescription", &e.description)
                .leaf("p:NewLeaseTime", &e.lease_time.to_string())
                .close("p:PortMappingEntry");
        }
        w.raw(b"\n").close("p:PortMappingList").raw(b"\n");
    }
}
