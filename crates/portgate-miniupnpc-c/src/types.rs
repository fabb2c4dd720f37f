//! The public structs and constants of MiniUPnPc 2.2.4, in their C layouts (x86-64,
//! C99: `UNSIGNED_INTEGER` is `unsigned long long`).

use std::ffi::{c_char, c_int, c_uint, c_void};

/// `MINIUPNPC_URL_MAXSIZE`: the size of every string field of [`IGDdatas`].
pub const MINIUPNPC_URL_MAXSIZE: usize = 128;

/// Command succeeded.
pub const UPNPCOMMAND_SUCCESS: c_int = 0;
/// Unknown error (also: no answer field where one was expected).
pub const UPNPCOMMAND_UNKNOWN_ERROR: c_int = -1;
/// A required argument is NULL.
pub const UPNPCOMMAND_INVALID_ARGS: c_int = -2;
/// The HTTP exchange failed.
pub const UPNPCOMMAND_HTTP_ERROR: c_int = -3;
/// The answer lacks a required field.
pub const UPNPCOMMAND_INVALID_RESPONSE: c_int = -4;
/// Memory allocation failed.
pub const UPNPCOMMAND_MEM_ALLOC_ERROR: c_int = -5;

/// Discovery succeeded.
pub const UPNPDISCOVER_SUCCESS: c_int = 0;
/// Discovery failed for another reason.
pub const UPNPDISCOVER_UNKNOWN_ERROR: c_int = -1;
/// A socket could not be opened or used.
pub const UPNPDISCOVER_SOCKET_ERROR: c_int = -101;
/// Memory allocation failed.
pub const UPNPDISCOVER_MEMORY_ERROR: c_int = -102;

/// MiniSSDPd client: success.
pub const MINISSDPC_SUCCESS: c_int = 0;
/// MiniSSDPd client: unknown error.
pub const MINISSDPC_UNKNOWN_ERROR: c_int = -1;
/// MiniSSDPd client: socket error.
pub const MINISSDPC_SOCKET_ERROR: c_int = -101;
/// MiniSSDPd client: memory error.
pub const MINISSDPC_MEMORY_ERROR: c_int = -102;
/// MiniSSDPd client: invalid input.
pub const MINISSDPC_INVALID_INPUT: c_int = -103;
/// MiniSSDPd client: the daemon's reply is malformed.
pub const MINISSDPC_INVALID_SERVER_REPLY: c_int = -104;

/// One discovered device: a single `malloc` block whose strings live in `buffer`.
#[repr(C)]
pub struct UPNPDev {
    /// Next device, or NULL.
    pub pNext: *mut UPNPDev,
    /// Description URL (points into `buffer`).
    pub descURL: *mut c_char,
    /// Search target / notification type (points into `buffer`).
    pub st: *mut c_char,
    /// Unique service name (points into `buffer`).
    pub usn: *mut c_char,
    /// IPv6 scope (interface index) of the answer, 0 for IPv4.
    pub scope_id: c_uint,
    /// The strings (flexible array member).
    pub buffer: [c_char; 0],
}

/// The absolute URLs of a gateway, each `malloc`ed (freed by `FreeUPNPUrls`).
#[repr(C)]
pub struct UPNPUrls {
    /// Control URL of the WAN connection service (`IGDdatas.first`).
    pub controlURL: *mut c_char,
    /// Its SCPD URL.
    pub ipcondescURL: *mut c_char,
    /// Control URL of WANCommonInterfaceConfig.
    pub controlURL_CIF: *mut c_char,
    /// Control URL of WANIPv6FirewallControl.
    pub controlURL_6FC: *mut c_char,
    /// The root description URL.
    pub rootdescURL: *mut c_char,
}

/// One service of a description.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct IGDdatas_service {
    /// controlURL as written in the description.
    pub controlurl: [c_char; MINIUPNPC_URL_MAXSIZE],
    /// eventSubURL.
    pub eventsuburl: [c_char; MINIUPNPC_URL_MAXSIZE],
    /// SCPDURL.
    pub scpdurl: [c_char; MINIUPNPC_URL_MAXSIZE],
    /// serviceType.
    pub servicetype: [c_char; MINIUPNPC_URL_MAXSIZE],
}

/// What `parserootdesc` extracts from a root description.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct IGDdatas {
    /// Name of the element being parsed.
    pub cureltname: [c_char; MINIUPNPC_URL_MAXSIZE],
    /// URLBase.
    pub urlbase: [c_char; MINIUPNPC_URL_MAXSIZE],
    /// presentationURL.
    pub presentationurl: [c_char; MINIUPNPC_URL_MAXSIZE],
    /// Element nesting depth.
    pub level: c_int,
    /// WANCommonInterfaceConfig.
    pub CIF: IGDdatas_service,
    /// The first WANIPConnection or WANPPPConnection.
    pub first: IGDdatas_service,
    /// The second one, if both exist.
    pub second: IGDdatas_service,
    /// WANIPv6FirewallControl.
    pub IPv6FC: IGDdatas_service,
    /// The service being parsed.
    pub tmp: IGDdatas_service,
}

impl Default for IGDdatas_service {
    /// All zero, as callers `memset` it.
    fn default() -> Self {
        let empty = [0; MINIUPNPC_URL_MAXSIZE];
        IGDdatas_service {
            controlurl: empty,
            eventsuburl: empty,
            scpdurl: empty,
            servicetype: empty,
        }
    }
}

impl Default for IGDdatas {
    /// All zero, as callers `memset` it before `parserootdesc`.
    fn default() -> Self {
        let empty = [0; MINIUPNPC_URL_MAXSIZE];
        IGDdatas {
            cureltname: empty,
            urlbase: empty,
            presentationurl: empty,
            level: 0,
            CIF: IGDdatas_service::default(),
            first: IGDdatas_service::default(),
            second: IGDdatas_service::default(),
            IPv6FC: IGDdatas_service::default(),
            tmp: IGDdatas_service::default(),
        }
    }
}

/// One SOAP argument of `simpleUPnPcommand` (an array ends with `elt == NULL`).
#[repr(C)]
pub struct UPNParg {
    /// Argument name.
    pub elt: *const c_char,
    /// Argument value.
    pub val: *const c_char,
}

/// One name/value pair of a parsed SOAP answer (a `malloc` block).
#[repr(C)]
pub struct NameValue {
    /// Next pair, or NULL.
    pub l_next: *mut NameValue,
    /// Element name.
    pub name: [c_char; 64],
    /// Text value.
    pub value: [c_char; 128],
}

/// The state and result of `ParseNameValue`.
#[repr(C)]
pub struct NameValueParserData {
    /// The pairs, last parsed first.
    pub l_head: *mut NameValue,
    /// Current element name.
    pub curelt: [c_char; 64],
    /// The `NewPortListing` document, `malloc`ed.
    pub portListing: *mut c_char,
    /// Its length.
    pub portListingLength: c_int,
    /// Whether an element was seen.
    pub topelt: c_int,
    /// Current text (points into the parsed buffer).
    pub cdata: *const c_char,
    /// Its length.
    pub cdatalen: c_int,
}

/// One entry of a `GetListOfPortMappings` answer (C99 layout, 224 bytes).
#[repr(C)]
pub struct PortMapping {
    /// Next entry, or NULL.
    pub l_next: *mut PortMapping,
    /// Lease time in seconds.
    pub leaseTime: u64,
    /// External port.
    pub externalPort: u16,
    /// Internal port.
    pub internalPort: u16,
    /// Remote host (empty: any).
    pub remoteHost: [c_char; 64],
    /// Internal client.
    pub internalClient: [c_char; 64],
    /// Description.
    pub description: [c_char; 64],
    /// `TCP` or `UDP`.
    pub protocol: [c_char; 4],
    /// 1 when enabled.
    pub enabled: u8,
}

/// The result of `ParsePortListing`.
#[repr(C)]
pub struct PortMappingParserData {
    /// The entries, last parsed first.
    pub l_head: *mut PortMapping,
    /// Current element (`portMappingElt`).
    pub curelt: c_int,
}

/// A start-element, end-element or text callback of [`xmlparser`].
pub type XmlEltFn = Option<unsafe extern "C" fn(*mut c_void, *const c_char, c_int)>;
/// An attribute callback of [`xmlparser`].
pub type XmlAttFn =
    Option<unsafe extern "C" fn(*mut c_void, *const c_char, c_int, *const c_char, c_int)>;

/// MiniUPnPc's XML scanner state (`struct xmlparser` of minixml.h).
#[repr(C)]
pub struct xmlparser {
    /// The document.
    pub xmlstart: *const c_char,
    /// One past its end (set by `parsexml`).
    pub xmlend: *const c_char,
    /// The current position (set by `parsexml`).
    pub xml: *const c_char,
    /// The document's length.
    pub xmlsize: c_int,
    /// Passed to every callback.
    pub data: *mut c_void,
    /// Called with each element name (namespace prefix removed).
    pub starteltfunc: XmlEltFn,
    /// Called with each end-element name.
    pub endeltfunc: XmlEltFn,
    /// Called with the text of an element.
    pub datafunc: XmlEltFn,
    /// Called with each attribute.
    pub attfunc: XmlAttFn,
}
