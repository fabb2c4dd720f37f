//! GENA NOTIFY bodies: the `e:propertyset` document (UDA 1.1 §4.3.2).
//!
//! ```text
//! <?xml version="1.0"?>
//! <e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0">
//!   <e:property><ExternalIPAddress>203.0.113.7</ExternalIPAddress></e:property>
//!   <e:property><PortMappingNumberOfEntries>3</PortMappingNumberOfEntries></e:property>
//! </e:propertyset>
//! ```

use crate::xml::{self, Limits, Writer};
use crate::DecodeError;

/// Namespace URI of the property set (UDA 1.1 §4.3.2).
pub const EVENT_NS: &str = "urn:schemas-upnp-org:event-1-0";

/// Cap on the number of variables in one property set.
///
/// The largest evented IGD service (WANIPConnection:2) has 5 evented variables; the
/// initial event carries all of them. 64 leaves room for other devices' services.
pub const MAX_PROPERTIES: usize = 64;

/// Cap on one variable's value, in bytes.
///
/// Evented IGD values are short (an address, a count, a status word); 16 KiB allows
/// long vendor strings while keeping a hostile NOTIFY small.
pub const MAX_PROPERTY_VALUE_LEN: usize = 16 * 1024;

/// Cap on a whole property set document, in bytes.
pub const MAX_PROPERTYSET_LEN: usize = 128 * 1024;

const LIMITS: Limits = Limits {
    max_document_len: MAX_PROPERTYSET_LEN,
    max_depth: 8,
    max_elements: 1 + 2 * MAX_PROPERTIES + 8,
    max_attributes: xml::MAX_ATTRIBUTES,
    max_text_len: MAX_PROPERTY_VALUE_LEN,
};

/// The body of a GENA NOTIFY: evented state variables and their values, in order.
///
/// Variable names are written verbatim on emit and must be XML names (they come from
/// the SCPD tables).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PropertySet {
    /// `(variable name, value)` pairs; values are kept untrimmed.
    pub properties: Vec<(String, String)>,
}

impl PropertySet {
    /// Parses a NOTIFY body. Each `property` element normally holds one variable;
    /// several are accepted and kept in order. Elements are matched by local name.
    pub fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        let root = xml::parse(buf, &LIMITS)?;
        if !root.name.eq_ignore_ascii_case("propertyset") {
            return Err(DecodeError::invalid(
                "propertyset",
                "root is not propertyset",
            ));
        }
        let mut properties = Vec::new();
        for prop in root.children_named("property") {
            for var in &prop.children {
                if properties.len() >= MAX_PROPERTIES {
                    return Err(DecodeError::TooMany {
                        what: "propertyset properties",
                        limit: MAX_PROPERTIES,
                    });
                }
                properties.push((var.name.clone(), var.text.clone()));
            }
        }
        Ok(Self { properties })
    }

    /// Appends the document: one `e:property` per variable.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        w.raw(b"<?xml version=\"1.0\"?>\n")
            .open("e:propertyset", &[("xmlns:e", EVENT_NS)]);
        for (name, value) in &self.properties {
            w.open("e:property", &[])
                .leaf(name, value)
                .close("e:property");
        }
        w.close("e:propertyset").raw(b"\n");
    }

    /// The value of variable `name`, if present (the last one wins if repeated).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Constructed to mimic the property set example of UDA 1.1 §4.3.2, with the
    /// WANIPConnection variables an IGD events.
    const NOTIFY_BODY: &str = r#"<?xml version="1.0"?>
<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0">
<e:property>
<PossibleConnectionTypes>IP_Routed</PossibleConnectionTypes>
</e:property>
<e:property>
<ConnectionStatus>Connected</ConnectionStatus>
</e:property>
<e:property>
<ExternalIPAddress>203.0.113.7</ExternalIPAddress>
</e:property>
<e:property>
<PortMappingNumberOfEntries>3</PortMappingNumberOfEntries>
</e:property>
</e:propertyset>
"#;

    #[test]
    fn uda_example() {
        let p = PropertySet::parse(NOTIFY_BODY.as_bytes()).unwrap();
        assert_eq!(p.properties.len(), 4);
        assert_eq!(p.get("ExternalIPAddress"), Some("203.0.113.7"));
        assert_eq!(p.get("PortMappingNumberOfEntries"), Some("3"));
        assert_eq!(p.properties[0].0, "PossibleConnectionTypes");
        let mut out = Vec::new();
        p.emit(&mut out);
        assert_eq!(PropertySet::parse(&out).unwrap(), p);
        assert!(std::str::from_utf8(&out).unwrap().starts_with(
            "<?xml version=\"1.0\"?>\n<e:propertyset xmlns:e=\"urn:schemas-upnp-org:event-1-0\"><e:property><PossibleConnectionTypes>IP_Routed</PossibleConnectionTypes></e:property>"
        ));
    }

    #[test]
    fn tolerant_forms() {
        // other prefix, several variables in one property, empty value
        let doc = "<ev:propertyset xmlns:ev=\"urn:schemas-upnp-org:event-1-0\"><ev:property><A>1</A><B/></ev:property></ev:propertyset>";
        let p = PropertySet::parse(doc.as_bytes()).unwrap();
        assert_eq!(
            p.properties,
            [
                ("A".to_string(), "1".to_string()),
                ("B".into(), String::new())
            ]
        );
    }

    #[test]
    fn hostile() {
        assert_eq!(
            PropertySet::parse(b"<e:other xmlns:e=\"x\"/>"),
            Err(DecodeError::invalid(
                "propertyset",
                "root is not propertyset"
            ))
        );
        let many: String = (0..=MAX_PROPERTIES)
            .map(|i| format!("<e:property><V{i}>x</V{i}></e:property>"))
            .collect();
        let doc = format!("<e:propertyset xmlns:e=\"{EVENT_NS}\">{many}</e:propertyset>");
        assert!(matches!(
            PropertySet::parse(doc.as_bytes()),
            Err(DecodeError::TooMany { .. })
        ));
        let big = format!(
            "<e:propertyset><e:property><V>{}</V></e:property></e:propertyset>",
            "x".repeat(MAX_PROPERTY_VALUE_LEN + 1)
        );
        assert!(matches!(
            PropertySet::parse(big.as_bytes()),
            Err(DecodeError::TooLong { .. })
        ));
        let laughs = "<!DOCTYPE e [<!ENTITY a \"aaaaaaaa\">]><e:propertyset><e:property><V>&a;</V></e:property></e:propertyset>";
        assert!(PropertySet::parse(laughs.as_bytes()).is_err());
        for i in 0..NOTIFY_BODY.trim_end().len() {
            assert!(PropertySet::parse(&NOTIFY_BODY.as_bytes()[..i]).is_err());
        }
    }

    proptest! {
        #[test]
        fn round_trip(props in proptest::collection::vec(
            ("[A-Za-z_][A-Za-z0-9_]{0,20}", "\\PC{0,40}"), 0..MAX_PROPERTIES)) {
            let properties = props
                .into_iter()
                .map(|(n, v)| (n, v.chars().filter(|c| xml::is_xml_char(*c)).collect()))
                .collect();
            let p = PropertySet { properties };
            let mut out = Vec::new();
            p.emit(&mut out);
            prop_assert_eq!(PropertySet::parse(&out)?, p);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = PropertySet::parse(&bytes);
        }
    }
}
