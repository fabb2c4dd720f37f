//! SOAP 1.1 control messages as UPnP uses them (UDA 1.1 §3.2).
//!
//! - [`SoapAction`]: the `SOAPAction` HTTP header, `"urn:...:service:Type:N#Action"`.
//! - [`SoapRequest`]: the action invocation envelope (client emits, daemon parses).
//! - [`SoapResponse`]: the `<u:ActionResponse>` envelope with out arguments.
//! - [`SoapFault`]: a SOAP fault carrying a `UPnPError` (errorCode + errorDescription).
//! - [`ControlResponse`]: what a control point parses: a response or a fault.
//!
//! Parsing goes through [`crate::xml`], so DOCTYPEs and entities are refused and size,
//! depth and counts are bounded. Elements are matched by local name: envelopes using
//! `s:`, `SOAP-ENV:`, `soap:` or no prefix at all are all read.

use crate::upnp_error::UpnpErrorCode;
use crate::xml::{self, Element, Limits, Writer};
use crate::DecodeError;

/// Namespace URI of the SOAP 1.1 envelope.
pub const SOAP_ENVELOPE_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The SOAP 1.1 encoding style UDA requires in `s:encodingStyle`.
pub const SOAP_ENCODING_STYLE: &str = "http://schemas.xmlsoap.org/soap/encoding/";
/// Namespace URI of the `UPnPError` fault detail (UDA 1.1 §3.2.2).
pub const UPNP_CONTROL_NS: &str = "urn:schemas-upnp-org:control-1-0";

/// Cap on the `SOAPAction` header value.
///
/// The longest standard value (`"urn:schemas-upnp-org:service:WANIPv6FirewallControl:1#GetOutboundPinholeTimeout"`)
/// is under 90 bytes; 256 leaves room for vendor domains while refusing the 2 KiB
/// values of the hostile-input tests.
pub const MAX_SOAPACTION_LEN: usize = 256;

/// Cap on the number of arguments of one action request or response.
///
/// The largest IGD action (AddPortMapping) takes 8 arguments, the largest response
/// (GetGenericPortMappingEntry) returns 8.
pub const MAX_ARGS: usize = 32;

/// Cap on one argument value in a request the daemon parses, in bytes.
///
/// The hostile-input spec wants a 100 KiB `NewDescription` truncated and sanitised by
/// the daemon rather than refused, so the cap sits just above that; the HTTP body cap
/// is the tighter bound in practice.
pub const MAX_REQUEST_ARG_LEN: usize = 128 * 1024;

/// Cap on a whole request envelope the daemon parses, in bytes (one maximal argument
/// plus the envelope and the other arguments).
pub const MAX_REQUEST_LEN: usize = 192 * 1024;

/// Cap on one argument value in a response a client parses, in bytes.
///
/// `NewPortListing` of GetListOfPortMappings carries a whole escaped XML document
/// (up to 1000 entries by default), so this is the crate-wide document cap.
pub const MAX_RESPONSE_ARG_LEN: usize = xml::MAX_DOCUMENT_LEN;

/// Limits for a request envelope the daemon parses from an untrusted LAN host.
const REQUEST_LIMITS: Limits = Limits {
    max_document_len: MAX_REQUEST_LEN,
    max_depth: xml::MAX_DEPTH,
    max_elements: 4 * MAX_ARGS,
    max_attributes: xml::MAX_ATTRIBUTES,
    max_text_len: MAX_REQUEST_ARG_LEN,
};

/// Limits for a response or fault a client parses.
const RESPONSE_LIMITS: Limits = Limits {
    max_document_len: xml::MAX_DOCUMENT_LEN,
    max_depth: xml::MAX_DEPTH,
    max_elements: 4 * MAX_ARGS,
    max_attributes: xml::MAX_ATTRIBUTES,
    max_text_len: MAX_RESPONSE_ARG_LEN,
};

/// A parsed `SOAPAction` header (UDA 1.1 §3.2.1): service type, version and action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapAction {
    /// The service type without its version, e.g.
    /// `urn:schemas-upnp-org:service:WANIPConnection`.
    pub service_urn: String,
    /// The service version (the `N` in `...:WANIPConnection:N`), at least 1.
    pub version: u32,
    /// The action name, e.g. `AddPortMapping`.
    pub action: String,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// Splits `urn:<domain>:service:<Type>:<N>` into (`urn:<domain>:service:<Type>`, N).
///
/// Returns `None` when the string is not a versioned UPnP service type.
pub fn split_service_type(s: &str) -> Option<(&str, u32)> {
    let (urn, ver) = s.rsplit_once(':')?;
    if ver.is_empty() || !ver.bytes().all(|b| b.is_ascii_digit()) || ver.len() > 9 {
        return None;
    }
    let version: u32 = ver.parse().ok()?;
    let mut parts = urn.split(':');
    let ok = parts.next()?.eq_ignore_ascii_case("urn")
        && parts.next().is_some_and(|d| !d.is_empty())
        && parts.next()? == "service"
        && parts
            .next()
            .is_some_and(|t| !t.is_empty() && t.chars().all(is_name_char))
        && parts.next().is_none();
    (ok && version >= 1).then_some((urn, version))
}

impl SoapAction {
    /// Parses a `SOAPAction` header value.
    ///
    /// Accepts the quoted form UDA requires and, for tolerance, the unquoted form;
    /// surrounding whitespace is ignored. Refuses (with `what = "SOAPAction"`, which
    /// the daemon answers with 401): an empty value, a lone or unbalanced quote, a
    /// value over [`MAX_SOAPACTION_LEN`], no `#`, an empty or odd action name, and a
    /// service part that is not `urn:<domain>:service:<Type>:<N>`.
    pub fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        const W: &str = "SOAPAction";
        if buf.len() > MAX_SOAPACTION_LEN {
            return Err(DecodeError::TooLong {
                what: W,
                limit: MAX_SOAPACTION_LEN,
            });
        }
        let s = std::str::from_utf8(buf).map_err(|_| DecodeError::invalid(W, "not utf-8"))?;
        let s = s.trim_matches(|c| c == ' ' || c == '\t');
        let inner = match (s.strip_prefix('"'), s.strip_suffix('"')) {
            (Some(_), Some(_)) if s.len() >= 2 => s.get(1..s.len() - 1).unwrap_or(""),
            (None, None) => s,
            _ => return Err(DecodeError::invalid(W, "unbalanced quote")),
        };
        if inner.is_empty() {
            return Err(DecodeError::invalid(W, "empty"));
        }
        let (service, action) = inner
            .rsplit_once('#')
            .ok_or(DecodeError::invalid(W, "no '#' before the action name"))?;
        if action.is_empty() || !action.chars().all(is_name_char) {
            return Err(DecodeError::invalid(W, "bad action name"));
        }
        let (urn, version) = split_service_type(service)
            .ok_or(DecodeError::invalid(W, "not a versioned service type"))?;
        Ok(Self {
            service_urn: urn.to_string(),
            version,
            action: action.to_string(),
        })
    }

    /// The full versioned service type, e.g. `urn:schemas-upnp-org:service:WANIPConnection:1`.
    pub fn service_type(&self) -> String {
        format!("{}:{}", self.service_urn, self.version)
    }

    /// The bare service name, e.g. `WANIPConnection`.
    pub fn service_name(&self) -> &str {
        self.service_urn
            .rsplit_once(':')
            .map_or(self.service_urn.as_str(), |(_, n)| n)
    }

    /// Appends the header value in its quoted form, `"<service type>#<action>"`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(b'"');
        out.extend_from_slice(self.service_urn.as_bytes());
        out.push(b':');
        out.extend_from_slice(self.version.to_string().as_bytes());
        out.push(b'#');
        out.extend_from_slice(self.action.as_bytes());
        out.push(b'"');
    }
}

/// An ordered list of `(name, value)` arguments.
pub type Args = Vec<(String, String)>;

fn find_arg<'a>(args: &'a [(String, String)], name: &str) -> Option<&'a str> {
    args.iter()
        .find(|(n, _)| n == name)
        .or_else(|| args.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)))
        .map(|(_, v)| v.as_str())
}

/// The body's first element (the action, response or fault), after checking the
/// envelope structure.
fn body_first(root: &Element) -> Result<&Element, DecodeError> {
    if !root.name.eq_ignore_ascii_case("Envelope") {
        return Err(DecodeError::invalid(
            "soap envelope",
            "root is not Envelope",
        ));
    }
    let body = root
        .child("Body")
        .ok_or(DecodeError::invalid("soap envelope", "no Body"))?;
    body.children
        .first()
        .ok_or(DecodeError::invalid("soap envelope", "empty Body"))
}

fn read_args(el: &Element) -> Result<Args, DecodeError> {
    if el.children.len() > MAX_ARGS {
        return Err(DecodeError::TooMany {
            what: "soap arguments",
            limit: MAX_ARGS,
        });
    }
    Ok(el
        .children
        .iter()
        .map(|c| (c.name.clone(), c.text.clone()))
        .collect())
}

fn envelope_open(w: &mut Writer<'_>) {
    w.raw(b"<?xml version=\"1.0\"?>\n").open(
        "s:Envelope",
        &[
            ("xmlns:s", SOAP_ENVELOPE_NS),
            ("s:encodingStyle", SOAP_ENCODING_STYLE),
        ],
    );
    w.open("s:Body", &[]);
}

fn envelope_close(w: &mut Writer<'_>) {
    w.close("s:Body").close("s:Envelope").raw(b"\r\n");
}

fn emit_action(out: &mut Vec<u8>, element: &str, service_type: &str, args: &[(String, String)]) {
    let mut w = Writer::new(out);
    envelope_open(&mut w);
    let tag = format!("u:{element}");
    w.open(&tag, &[("xmlns:u", service_type)]);
    for (name, value) in args {
        w.leaf(name, value);
    }
    w.close(&tag);
    envelope_close(&mut w);
}

/// An action invocation (UDA 1.1 §3.2.1): `<u:Action xmlns:u="service type">` with
/// its in arguments, in order.
///
/// Names (action, arguments) are written verbatim on emit and must be XML names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapRequest {
    /// The namespace URI of the action element: the versioned service type.
    pub service_type: String,
    /// The action name (local name of the Body's first element).
    pub action: String,
    /// The in arguments as sent, in order; values are not trimmed.
    pub args: Args,
}

impl SoapRequest {
    /// Parses a request envelope (server side), with the request caps
    /// ([`MAX_REQUEST_LEN`], [`MAX_ARGS`], [`MAX_REQUEST_ARG_LEN`]).
    ///
    /// The action element must carry a namespace (its service type); argument values
    /// are kept exactly as sent (text and CDATA, entities decoded).
    pub fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        let root = xml::parse(buf, &REQUEST_LIMITS)?;
        let action = body_first(&root)?;
        let service_type = action
            .namespace
            .clone()
            .ok_or(DecodeError::invalid("soap action", "no namespace"))?;
        Ok(Self {
            service_type,
            action: action.name.clone(),
            args: read_args(action)?,
        })
    }

    /// Appends the envelope (client side).
    pub fn emit(&self, out: &mut Vec<u8>) {
        emit_action(out, &self.action, &self.service_type, &self.args);
    }

    /// The `SOAPAction` header value matching this request, if the service type is a
    /// versioned UPnP service type.
    pub fn soap_action(&self) -> Option<SoapAction> {
        let (urn, version) = split_service_type(&self.service_type)?;
        Some(SoapAction {
            service_urn: urn.to_string(),
            version,
            action: self.action.clone(),
        })
    }

    /// The value of argument `name` (exact match first, then ASCII case-insensitive).
    pub fn arg(&self, name: &str) -> Option<&str> {
        find_arg(&self.args, name)
    }
}

/// A successful action response (UDA 1.1 §3.2.1): `<u:ActionResponse xmlns:u=...>`
/// with the out arguments in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapResponse {
    /// The service type (namespace of the response element); empty if the device
    /// left it out.
    pub service_type: String,
    /// The action name, without the `Response` suffix.
    pub action: String,
    /// The out arguments as sent, in order.
    pub args: Args,
}

impl SoapResponse {
    /// Parses a response envelope; a fault is an error here (use
    /// [`ControlResponse::parse`] to get the fault's code).
    pub fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        match ControlResponse::parse(buf)? {
            ControlResponse::Ok(r) => Ok(r),
            ControlResponse::Fault(_) => Err(DecodeError::invalid("soap response", "is a fault")),
        }
    }

    fn from_element(el: &Element) -> Result<Self, DecodeError> {
        let action = el.name.strip_suffix("Response").unwrap_or(&el.name);
        Ok(Self {
            service_type: el.namespace.clone().unwrap_or_default(),
            action: action.to_string(),
            args: read_args(el)?,
        })
    }

    /// Appends the response envelope (server side).
    pub fn emit(&self, out: &mut Vec<u8>) {
        let element = format!("{}Response", self.action);
        emit_action(out, &element, &self.service_type, &self.args);
    }

    /// The value of out argument `name` (exact match first, then ASCII
    /// case-insensitive).
    pub fn arg(&self, name: &str) -> Option<&str> {
        find_arg(&self.args, name)
    }
}

/// A SOAP fault with a UPnP error (UDA 1.1 §3.2.2).
///
/// Emitted with `faultcode` `s:Client` and `faultstring` `UPnPError`, as UDA requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapFault {
    /// The UPnP `errorCode`.
    pub code: UpnpErrorCode,
    /// The `errorDescription` (empty if the device sent none).
    pub description: String,
}

impl SoapFault {
    /// A fault with the code's standard description.
    pub fn new(code: UpnpErrorCode) -> Self {
        Self {
            code,
            description: code.description().to_string(),
        }
    }

    /// Parses a fault envelope (a response envelope is an error here).
    pub fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        match ControlResponse::parse(buf)? {
            ControlResponse::Fault(f) => Ok(f),
            ControlResponse::Ok(_) => Err(DecodeError::invalid("soap fault", "not a fault")),
        }
    }

    fn from_element(fault: &Element) -> Result<Self, DecodeError> {
        // Normally Fault > detail > UPnPError; some devices put UPnPError straight
        // under Fault or wrap it once more, so look two levels down.
        let err = fault
            .child("detail")
            .and_then(|d| d.child("UPnPError"))
            .or_else(|| fault.child("UPnPError"))
            .or_else(|| {
                fault
                    .children
                    .iter()
                    .flat_map(|c| c.children.iter())
                    .flat_map(|c| c.children.iter().chain(std::iter::once(c)))
                    .find(|c| c.name.eq_ignore_ascii_case("UPnPError"))
            })
            .ok_or(DecodeError::invalid("soap fault", "no UPnPError detail"))?;
        let code_text = err
            .child_text("errorCode")
            .ok_or(DecodeError::invalid("soap fault errorCode", "missing"))?;
        let code: u16 = if !code_text.is_empty() && code_text.bytes().all(|b| b.is_ascii_digit()) {
            code_text
                .parse()
                .map_err(|_| DecodeError::invalid("soap fault errorCode", "out of range"))?
        } else {
            return Err(DecodeError::invalid("soap fault errorCode", "not a number"));
        };
        Ok(Self {
            code: UpnpErrorCode::from_code(code),
            description: err
                .child_text("errorDescription")
                .unwrap_or_default()
                .to_string(),
        })
    }

    /// Appends the fault envelope (server side; HTTP status 500).
    pub fn emit(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        envelope_open(&mut w);
        w.open("s:Fault", &[])
            .leaf("faultcode", "s:Client")
            .leaf("faultstring", "UPnPError")
            .open("detail", &[])
            .open("UPnPError", &[("xmlns", UPNP_CONTROL_NS)])
            .leaf("errorCode", &self.code.code().to_string())
            .leaf("errorDescription", &self.description)
            .close("UPnPError")
            .close("detail")
            .close("s:Fault");
        envelope_close(&mut w);
    }
}

/// What a control point receives for an action: a response or a fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlResponse {
    /// The action succeeded.
    Ok(SoapResponse),
    /// The device answered with a UPnP error.
    Fault(SoapFault),
}

impl ControlResponse {
    /// Parses a response or fault envelope, with the response caps (a
    /// `NewPortListing` argument may be up to [`MAX_RESPONSE_ARG_LEN`]).
    pub fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        let root = xml::parse(buf, &RESPONSE_LIMITS)?;
        let first = body_first(&root)?;
        if first.name.eq_ignore_ascii_case("Fault") {
            SoapFault::from_element(first).map(Self::Fault)
        } else {
            SoapResponse::from_element(first).map(Self::Ok)
        }
    }

    /// Appends the envelope.
    pub fn emit(&self, out: &mut Vec<u8>) {
        match self {
            Self::Ok(r) => r.emit(out),
            Self::Fault(f) => f.emit(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const WANIP1: &str = "urn:schemas-upnp-org:service:WANIPConnection:1";

    #[test]
    fn soapaction_forms() {
        let a =
            SoapAction::parse(b"\"urn:schemas-upnp-org:service:WANIPConnection:1#AddPortMapping\"")
                .unwrap();
        assert_eq!(
            a.service_urn,
            "urn:schemas-upnp-org:service:WANIPConnection"
        );
        assert_eq!(a.version, 1);
        assert_eq!(a.action, "AddPortMapping");
        assert_eq!(a.service_name(), "WANIPConnection");
        assert_eq!(a.service_type(), WANIP1);
        // unquoted and padded: tolerated
        let b =
            SoapAction::parse(b"  urn:schemas-upnp-org:service:WANIPConnection:1#AddPortMapping ")
                .unwrap();
        assert_eq!(a, b);
        let mut out = Vec::new();
        a.emit(&mut out);
        assert_eq!(
            out,
            b"\"urn:schemas-upnp-org:service:WANIPConnection:1#AddPortMapping\""
        );
    }

    #[test]
    fn soapaction_hostile() {
        let bad: &[&[u8]] = &[
            b"",
            b"\"",
            b"\"\"",
            b"\"urn:schemas-upnp-org:service:WANIPConnection:1#AddPortMapping",
            b"urn:schemas-upnp-org:service:WANIPConnection:1#AddPortMapping\"",
            b"\"urn:schemas-upnp-org:service:WANIPConnection:1\"",
            b"\"urn:schemas-upnp-org:service:WANIPConnection:1#\"",
            b"\"urn:schemas-upnp-org:service:WANIPConnection#AddPortMapping\"",
            b"\"urn:schemas-upnp-org:service:WANIPConnection:0#AddPortMapping\"",
            b"\"urn:schemas-upnp-org:device:WANIPConnection:1#AddPortMapping\"",
            b"\"urn:schemas-upnp-org:service:WANIPConnection:1#Add Port\"",
            b"\"urn:schemas-upnp-org:service:WANIPConnection:x1#AddPortMapping\"",
            b"\xff\xfe",
        ];
        for b in bad {
            let e = SoapAction::parse(b).unwrap_err();
            assert!(
                matches!(
                    e,
                    DecodeError::Invalid {
                        what: "SOAPAction",
                        ..
                    }
                ),
                "{:?} -> {e:?}",
                String::from_utf8_lossy(b)
            );
        }
        let long = format!("\"{WANIP1}#{}\"", "A".repeat(2048));
        assert_eq!(
            SoapAction::parse(long.as_bytes()),
            Err(DecodeError::TooLong {
                what: "SOAPAction",
                limit: MAX_SOAPACTION_LEN
            })
        );
    }

    /// Constructed to mimic the AddPortMapping invocation shown in UDA 1.1 §3.2.1
    /// (envelope, encodingStyle, `u:` prefix, one argument per line).
    const ADD_PORT_MAPPING: &str = r#"<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">
<s:Body>
<u:AddPortMapping xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1">
<NewRemoteHost></NewRemoteHost>
<NewExternalPort>8080</NewExternalPort>
<NewProtocol>TCP</NewProtocol>
<NewInternalPort>80</NewInternalPort>
<NewInternalClient>10.0.0.2</NewInternalClient>
<NewEnabled>1</NewEnabled>
<NewPortMappingDescription>web &amp; more</NewPortMappingDescription>
<NewLeaseDuration>3600</NewLeaseDuration>
</u:AddPortMapping>
</s:Body>
</s:Envelope>
"#;

    #[test]
    fn uda_add_port_mapping_request() {
        let r = SoapRequest::parse(ADD_PORT_MAPPING.as_bytes()).unwrap();
        assert_eq!(r.service_type, WANIP1);
        assert_eq!(r.action, "AddPortMapping");
        let names: Vec<&str> = r.args.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "NewRemoteHost",
                "NewExternalPort",
                "NewProtocol",
                "NewInternalPort",
                "NewInternalClient",
                "NewEnabled",
                "NewPortMappingDescription",
                "NewLeaseDuration"
            ]
        );
        assert_eq!(r.arg("NewRemoteHost"), Some(""));
        assert_eq!(r.arg("NewExternalPort"), Some("8080"));
        assert_eq!(r.arg("newprotocol"), Some("TCP"));
        assert_eq!(r.arg("NewPortMappingDescription"), Some("web & more"));
        assert_eq!(r.soap_action().unwrap().action, "AddPortMapping");
        let mut out = Vec::new();
        r.emit(&mut out);
        assert_eq!(SoapRequest::parse(&out).unwrap(), r);
    }

    #[test]
    fn other_prefixes_no_declaration_and_cdata() {
        let doc = concat!(
            "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\">",
            "<SOAP-ENV:Header/>",
            "<SOAP-ENV:Body>\n  <m:GetSpecificPortMappingEntry xmlns:m=\"urn:schemas-upnp-org:service:WANIPConnection:2\">",
            "<NewRemoteHost/><NewExternalPort> 80</NewExternalPort>",
            "<NewProtocol><![CDATA[UDP]]></NewProtocol>",
            "</m:GetSpecificPortMappingEntry></SOAP-ENV:Body></SOAP-ENV:Envelope>"
        );
        let r = SoapRequest::parse(doc.as_bytes()).unwrap();
        assert_eq!(
            r.service_type,
            "urn:schemas-upnp-org:service:WANIPConnection:2"
        );
        assert_eq!(r.action, "GetSpecificPortMappingEntry");
        // values are not trimmed: the daemon must see " 80" and answer 402
        assert_eq!(r.arg("NewExternalPort"), Some(" 80"));
        assert_eq!(r.arg("NewProtocol"), Some("UDP"));

        // no prefixes at all, default namespace on the action
        let doc = concat!(
            "<Envelope xmlns=\"http://schemas.xmlsoap.org/soap/envelope/\"><Body>",
            "<GetExternalIPAddress xmlns=\"urn:schemas-upnp-org:service:WANIPConnection:1\"/>",
            "</Body></Envelope>"
        );
        let r = SoapRequest::parse(doc.as_bytes()).unwrap();
        assert_eq!(r.service_type, WANIP1);
        assert_eq!(r.action, "GetExternalIPAddress");
        assert!(r.args.is_empty());
    }

    #[test]
    fn request_structure_errors() {
        let cases: &[(&str, DecodeError)] = &[
            (
                "<a/>",
                DecodeError::invalid("soap envelope", "root is not Envelope"),
            ),
            (
                "<s:Envelope xmlns:s=\"x\"/>",
                DecodeError::invalid("soap envelope", "no Body"),
            ),
            (
                "<s:Envelope xmlns:s=\"x\"><s:Body> </s:Body></s:Envelope>",
                DecodeError::invalid("soap envelope", "empty Body"),
            ),
            (
                "<s:Envelope xmlns:s=\"x\"><s:Body><u:A/></s:Body></s:Envelope>",
                DecodeError::invalid("soap action", "no namespace"),
            ),
        ];
        for (doc, err) in cases {
            assert_eq!(
                SoapRequest::parse(doc.as_bytes()).as_ref(),
                Err(err),
                "{doc}"
            );
        }
        let many: String = (0..=MAX_ARGS).map(|i| format!("<A{i}>1</A{i}>")).collect();
        let doc = format!(
            "<s:Envelope><s:Body><u:X xmlns:u=\"{WANIP1}\">{many}</u:X></s:Body></s:Envelope>"
        );
        assert!(matches!(
            SoapRequest::parse(doc.as_bytes()),
            Err(DecodeError::TooMany { .. })
        ));
        let big = format!(
            "<s:Envelope><s:Body><u:X xmlns:u=\"{WANIP1}\"><A>{}</A></u:X></s:Body></s:Envelope>",
            "x".repeat(MAX_REQUEST_ARG_LEN + 1)
        );
        assert!(matches!(
            SoapRequest::parse(big.as_bytes()),
            Err(DecodeError::TooLong { .. })
        ));
    }

    #[test]
    fn hostile_request_bodies() {
        let laughs = format!(
            "<?xml version=\"1.0\"?><!DOCTYPE s [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]>{}",
            ADD_PORT_MAPPING.replace("8080", "&b;")
        );
        assert!(SoapRequest::parse(laughs.as_bytes()).is_err());
        let deep = format!(
            "<s:Envelope><s:Body>{}",
            "<u:X xmlns:u=\"urn:x\">".repeat(5_000)
        );
        assert!(matches!(
            SoapRequest::parse(deep.as_bytes()),
            Err(DecodeError::TooLong {
                what: "xml nesting depth",
                ..
            })
        ));
        for i in 0..ADD_PORT_MAPPING.len() {
            // the only valid prefix ends after the root's end tag (trailing newline)
            let r = SoapRequest::parse(&ADD_PORT_MAPPING.as_bytes()[..i]);
            assert!(r.is_err() || i >= ADD_PORT_MAPPING.trim_end().len(), "{i}");
        }
    }

    #[test]
    fn response_envelope() {
        let doc = concat!(
            "<?xml version=\"1.0\"?>\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" ",
            "s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>",
            "<u:GetExternalIPAddressResponse xmlns:u=\"urn:schemas-upnp-org:service:WANIPConnection:1\">",
            "<NewExternalIPAddress>203.0.113.7</NewExternalIPAddress>",
            "</u:GetExternalIPAddressResponse></s:Body></s:Envelope>\r\n"
        );
        let r = SoapResponse::parse(doc.as_bytes()).unwrap();
        assert_eq!(r.action, "GetExternalIPAddress");
        assert_eq!(r.service_type, WANIP1);
        assert_eq!(r.arg("NewExternalIPAddress"), Some("203.0.113.7"));
        let mut out = Vec::new();
        r.emit(&mut out);
        assert_eq!(std::str::from_utf8(&out).unwrap(), doc);
    }

    /// Constructed to mimic the fault layout of UDA 1.1 §3.2.2.
    const FAULT_718: &str = r#"<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">
<s:Body>
<s:Fault>
<faultcode>s:Client</faultcode>
<faultstring>UPnPError</faultstring>
<detail>
<UPnPError xmlns="urn:schemas-upnp-org:control-1-0">
<errorCode>718</errorCode>
<errorDescription>ConflictInMappingEntry</errorDescription>
</UPnPError>
</detail>
</s:Fault>
</s:Body>
</s:Envelope>
"#;

    #[test]
    fn fault_parse_and_emit() {
        let f = SoapFault::parse(FAULT_718.as_bytes()).unwrap();
        assert_eq!(f.code, UpnpErrorCode::ConflictInMappingEntry);
        assert_eq!(f.description, "ConflictInMappingEntry");
        assert!(SoapResponse::parse(FAULT_718.as_bytes()).is_err());
        let mut out = Vec::new();
        SoapFault::new(UpnpErrorCode::ConflictInMappingEntry).emit(&mut out);
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.contains("<faultcode>s:Client</faultcode>"));
        assert!(text.contains("<faultstring>UPnPError</faultstring>"));
        assert!(text.contains(
            "<UPnPError xmlns=\"urn:schemas-upnp-org:control-1-0\"><errorCode>718</errorCode>"
        ));
        assert_eq!(SoapFault::parse(&out).unwrap(), f);
    }

    #[test]
    fn slightly_wrong_faults() {
        let wrap = |inner: &str| {
            format!("<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"{SOAP_ENVELOPE_NS}\"><SOAP-ENV:Body><SOAP-ENV:Fault>{inner}</SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>")
        };
        // prefixed detail, whitespace around the code, no description
        let f = SoapFault::parse(
            wrap("<faultcode>SOAP-ENV:Client</faultcode><SOAP-ENV:detail><UPnPError><errorCode> 402 </errorCode></UPnPError></SOAP-ENV:detail>").as_bytes(),
        )
        .unwrap();
        assert_eq!(f.code, UpnpErrorCode::InvalidArgs);
        assert_eq!(f.description, "");
        // UPnPError directly under Fault
        let f = SoapFault::parse(
            wrap("<UPnPError><errorCode>606</errorCode><errorDescription>x</errorDescription></UPnPError>").as_bytes(),
        )
        .unwrap();
        assert_eq!(f.code, UpnpErrorCode::ActionNotAuthorized);
        // unknown code stays data
        let f = SoapFault::parse(
            wrap("<detail><UPnPError><errorCode>799</errorCode></UPnPError></detail>").as_bytes(),
        )
        .unwrap();
        assert_eq!(f.code, UpnpErrorCode::Unknown(799));
        // typed errors
        assert_eq!(
            SoapFault::parse(
                wrap("<faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring>")
                    .as_bytes()
            ),
            Err(DecodeError::invalid("soap fault", "no UPnPError detail"))
        );
        assert_eq!(
            SoapFault::parse(
                wrap("<detail><UPnPError><errorCode>x718</errorCode></UPnPError></detail>")
                    .as_bytes()
            ),
            Err(DecodeError::invalid("soap fault errorCode", "not a number"))
        );
        assert_eq!(
            SoapFault::parse(
                wrap("<detail><UPnPError><errorCode>70000</errorCode></UPnPError></detail>")
                    .as_bytes()
            ),
            Err(DecodeError::invalid("soap fault errorCode", "out of range"))
        );
        assert_eq!(
            SoapFault::parse(wrap("<detail><UPnPError/></detail>").as_bytes()),
            Err(DecodeError::invalid("soap fault errorCode", "missing"))
        );
    }

    fn name() -> impl Strategy<Value = String> {
        "[A-Za-z_][A-Za-z0-9_]{0,15}"
    }
    fn value() -> impl Strategy<Value = String> {
        "\\PC{0,40}".prop_map(|s| s.chars().filter(|c| xml::is_xml_char(*c)).collect())
    }
    fn service() -> impl Strategy<Value = String> {
        ("[A-Za-z]{1,12}", 1u32..4)
            .prop_map(|(t, v)| format!("urn:schemas-upnp-org:service:{t}:{v}"))
    }
    fn args() -> impl Strategy<Value = Args> {
        proptest::collection::vec((name(), value()), 0..MAX_ARGS)
    }

    proptest! {
        #[test]
        fn request_round_trip(service_type in service(), action in name(), args in args()) {
            let r = SoapRequest { service_type, action, args };
            let mut out = Vec::new();
            r.emit(&mut out);
            prop_assert_eq!(SoapRequest::parse(&out)?, r);
        }

        #[test]
        fn response_round_trip(service_type in service(), action in name(), args in args()) {
            let r = SoapResponse { service_type, action, args };
            let mut out = Vec::new();
            r.emit(&mut out);
            prop_assert_eq!(ControlResponse::parse(&out)?, ControlResponse::Ok(r));
        }

        #[test]
        fn fault_round_trip(code in any::<u16>(), description in value()) {
            let f = SoapFault { code: UpnpErrorCode::from_code(code), description: description.trim().to_string() };
            let mut out = Vec::new();
            f.emit(&mut out);
            prop_assert_eq!(ControlResponse::parse(&out)?, ControlResponse::Fault(f));
        }

        #[test]
        fn soapaction_round_trip(service_type in service(), action in name()) {
            let (urn, version) = split_service_type(&service_type).unwrap();
            let a = SoapAction { service_urn: urn.to_string(), version, action };
            let mut out = Vec::new();
            a.emit(&mut out);
            prop_assert_eq!(SoapAction::parse(&out)?, a);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = SoapAction::parse(&bytes);
            let _ = SoapRequest::parse(&bytes);
            let _ = ControlResponse::parse(&bytes);
        }
    }
}
