//! Reading device descriptions as routers send them (UDA 1.1 §2.3; UDA 1.0 URLBase).
//!
//! Tolerant of missing optional fields, any element prefix, nesting of `deviceList` at
//! any depth up to [`MAX_DEVICE_DEPTH`], several WANConnectionDevices, WANPPPConnection
//! services, and URLs in every form found in the field (absolute, absolute path,
//! relative path without a leading `/`, with or without a URLBase, with or without a
//! trailing slash on it). Every URL is resolved to an absolute one.

use crate::soap::split_service_type;
use crate::xml::{self, Element, Limits};
use crate::DecodeError;

/// Cap on the nesting of embedded devices (root = 1).
///
/// IGDs nest three deep (IGD > WANDevice > WANConnectionDevice); combo devices add a
/// level or two. 8 refuses pathological trees without rejecting odd vendors.
pub const MAX_DEVICE_DEPTH: usize = 8;

/// Cap on the total number of devices in one description.
///
/// Real IGDs list 3 to about 10 (several WAN connection devices on multi-WAN boxes).
pub const MAX_DEVICES: usize = 64;

/// Cap on the total number of services in one description.
pub const MAX_SERVICES: usize = 256;

/// Cap on the size of a device description, in bytes.
///
/// Real IGD descriptions are 2–30 KiB (some embed icons lists and long vendor
/// strings); 256 KiB leaves a wide margin and bounds what a control point will parse.
pub const MAX_DESCRIPTION_LEN: usize = 256 * 1024;

const LIMITS: Limits = Limits {
    max_document_len: MAX_DESCRIPTION_LEN,
    max_depth: xml::MAX_DEPTH,
    max_elements: 4096,
    max_attributes: xml::MAX_ATTRIBUTES,
    max_text_len: 8 * 1024,
};

/// One service of a device, with absolute URLs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Service {
    /// serviceType, e.g. `urn:schemas-upnp-org:service:WANIPConnection:1`.
    pub service_type: String,
    /// serviceId (empty if missing).
    pub service_id: String,
    /// SCPD URL (empty if missing).
    pub scpd_url: String,
    /// Control URL (empty if missing).
    pub control_url: String,
    /// Event subscription URL (empty if missing).
    pub event_sub_url: String,
}

/// One device with its services and embedded devices.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Device {
    /// deviceType.
    pub device_type: String,
    /// friendlyName (empty if missing).
    pub friendly_name: String,
    /// manufacturer (empty if missing).
    pub manufacturer: String,
    /// modelName (empty if missing).
    pub model_name: String,
    /// modelNumber (empty if missing).
    pub model_number: String,
    /// serialNumber (empty if missing).
    pub serial_number: String,
    /// UDN, e.g. `uuid:...` (empty if missing).
    pub udn: String,
    /// presentationURL, resolved (None if missing).
    pub presentation_url: Option<String>,
    /// Services of this device.
    pub services: Vec<Service>,
    /// Embedded devices.
    pub devices: Vec<Device>,
}

/// A parsed device description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceDescription {
    /// specVersion (major, minor), if present and numeric.
    pub spec_version: Option<(u32, u32)>,
    /// The root element's `configId` attribute (UDA 1.1), if present and numeric.
    pub config_id: Option<u32>,
    /// The base every relative URL was resolved against (URLBase or LOCATION).
    pub base_url: String,
    /// The root device.
    pub root: Device,
}

/// Which kind of WAN connection service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum WanServiceKind {
    /// WANPPPConnection (PPPoE routers).
    PppConnection,
    /// WANIPConnection.
    IpConnection,
}

/// A WAN connection service a control point can send port-mapping actions to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WanService {
    /// IP or PPP.
    pub kind: WanServiceKind,
    /// The full service type (the SOAP namespace to use).
    pub service_type: String,
    /// Its version.
    pub version: u32,
    /// Absolute control URL.
    pub control_url: String,
    /// Absolute event subscription URL (may be empty).
    pub event_sub_url: String,
    /// Absolute SCPD URL (may be empty).
    pub scpd_url: String,
}

fn is_http_url(s: &str) -> bool {
    let lower = |n: usize| s.get(..n).map(str::to_ascii_lowercase);
    lower(7).as_deref() == Some("http://") || lower(8).as_deref() == Some("https://")
}

/// Resolves `reference` against the absolute HTTP URL `base` (RFC 3986 §5.2, for the
/// forms found in device descriptions, with `.` and `..` segments removed as in
/// §5.2.4; a reference that is only a query or fragment keeps the base path as it is).
///
/// Returns `reference` unchanged when it is already absolute, and an empty string for
/// an empty reference. IPv6 literals with a zone (`http://[fe80::1%25eth0]:5000/`) are
/// kept intact.
pub fn resolve_url(base: &str, reference: &str) -> String {
    let r = reference.trim();
    if r.is_empty() {
        return String::new();
    }
    if is_http_url(r) {
        return r.to_string();
    }
    let base = base.trim();
    let (scheme, rest) = match base.split_once("://") {
        Some(x) => x,
        None => return r.to_string(),
    };
    if let Some(net) = r.strip_prefix("//") {
        return format!("{scheme}://{net}");
    }
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(auth_end);
    let path = path.split(['?', '#']).next().unwrap_or("");
    let dir = match path.rfind('/') {
        Some(i) => path.get(..=i).unwrap_or("/"),
        None => "/",
    };
    if r.starts_with('?') || r.starts_with('#') {
        let file = path.get(dir.len()..).unwrap_or("");
        return format!("{scheme}://{authority}{dir}{file}{r}");
    }
    let (r_path, r_tail) = r.split_at(r.find(['?', '#']).unwrap_or(r.len()));
    let merged = if r_path.starts_with('/') {
        r_path.to_string()
    } else {
        format!("{dir}{r_path}")
    };
    format!(
        "{scheme}://{authority}{}{r_tail}",
        remove_dot_segments(&merged)
    )
}

/// RFC 3986 §5.2.4 on an absolute path (one that starts with `/`): `.` segments go,
/// `..` takes the segment before it away (never above the root), and a path that ended
/// in either keeps its trailing `/`.
fn remove_dot_segments(path: &str) -> String {
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    let last = segments.len().saturating_sub(1);
    let mut out: Vec<&str> = Vec::with_capacity(segments.len());
    for (i, seg) in segments.into_iter().enumerate() {
        match seg {
            "." | ".." => {
                if seg == ".." {
                    out.pop();
                }
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

/// The parts of an absolute `http://` URL a control point needs to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// Host: a name, an IPv4 address, or an IPv6 address without brackets and with
    /// its zone decoded (`fe80::1%eth0` from `[fe80::1%25eth0]`).
    pub host: String,
    /// Port (80 when absent).
    pub port: u16,
    /// Path and query, at least `/`.
    pub path: String,
}

impl HttpUrl {
    /// Splits an absolute `http://` URL (scheme case-insensitive). Returns `None` for
    /// other schemes, userinfo, an empty host, a bad port or an unclosed `[`.
    pub fn parse(url: &str) -> Option<HttpUrl> {
        let url = url.trim();
        let scheme = url.get(..7)?;
        if !scheme.eq_ignore_ascii_case("http://") {
            return None;
        }
        let rest = url.get(7..)?;
        let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(auth_end);
        if authority.contains('@') {
            return None;
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']')?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':')?),
            };
            let host = match h.split_once("%25") {
                Some((a, zone)) => format!("{a}%{zone}"),
                None => h.to_string(),
            };
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() {
            return None;
        }
        let port = match port {
            None | Some("") => 80,
            Some(p) if p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
            Some(_) => return None,
        };
        let path = tail.split('#').next().unwrap_or("");
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        Some(HttpUrl { host, port, path })
    }
}

struct Ctx<'a> {
    base: &'a str,
    devices: usize,
    services: usize,
}

fn text(el: &Element, name: &str) -> String {
    el.child_text(name).unwrap_or_default().to_string()
}

fn parse_service(el: &Element, ctx: &Ctx<'_>) -> Service {
    let url = |n: &str| resolve_url(ctx.base, el.child_text(n).unwrap_or_default());
    Service {
        service_type: text(el, "serviceType"),
        service_id: text(el, "serviceId"),
        scpd_url: url("SCPDURL"),
        control_url: url("controlURL"),
        event_sub_url: url("eventSubURL"),
    }
}

fn parse_device(el: &Element, depth: usize, ctx: &mut Ctx<'_>) -> Result<Device, DecodeError> {
    if depth > MAX_DEVICE_DEPTH {
        return Err(DecodeError::TooLong {
            what: "device description nesting",
            limit: MAX_DEVICE_DEPTH,
        });
    }
    ctx.devices += 1;
    if ctx.devices > MAX_DEVICES {
        return Err(DecodeError::TooMany {
            what: "device description devices",
            limit: MAX_DEVICES,
        });
    }
    let mut services = Vec::new();
    for list in el.children_named("serviceList") {
        for s in list.children_named("service") {
            ctx.services += 1;
            if ctx.services > MAX_SERVICES {
                return Err(DecodeError::TooMany {
                    what: "device description services",
                    limit: MAX_SERVICES,
                });
            }
            services.push(parse_service(s, ctx));
        }
    }
    let mut devices = Vec::new();
    for list in el.children_named("deviceList") {
        for d in list.children_named("device") {
            devices.push(parse_device(d, depth + 1, ctx)?);
        }
    }
    Ok(Device {
        device_type: text(el, "deviceType"),
        friendly_name: text(el, "friendlyName"),
        manufacturer: text(el, "manufacturer"),
        model_name: text(el, "modelName"),
        model_number: text(el, "modelNumber"),
        serial_number: text(el, "serialNumber"),
        udn: text(el, "UDN"),
        presentation_url: el
            .child_text("presentationURL")
            .filter(|s| !s.is_empty())
            .map(|s| resolve_url(ctx.base, s)),
        services,
        devices,
    })
}

impl DeviceDescription {
    /// Parses a description fetched from `location` (the SSDP LOCATION URL, used as the
    /// base when there is no usable URLBase).
    pub fn parse(buf: &[u8], location: &str) -> Result<Self, DecodeError> {
        let root = xml::parse(buf, &LIMITS)?;
        if !root.name.eq_ignore_ascii_case("root") {
            return Err(DecodeError::invalid(
                "device description",
                "root is not <root>",
            ));
        }
        let spec_version = root.child("specVersion").and_then(|s| {
            let major = s.child_text("major")?.parse().ok()?;
            let minor = s.child_text("minor")?.parse().ok()?;
            Some((major, minor))
        });
        let base_url = match root.child_text("URLBase") {
            Some(b) if is_http_url(b) => b.to_string(),
            _ => location.trim().to_string(),
        };
        let device = root
            .child("device")
            .ok_or(DecodeError::invalid("device description", "no <device>"))?;
        let mut ctx = Ctx {
            base: &base_url,
            devices: 0,
            services: 0,
        };
        let root_device = parse_device(device, 1, &mut ctx)?;
        Ok(Self {
            spec_version,
            config_id: root.attr("configId").and_then(|c| c.trim().parse().ok()),
            base_url,
            root: root_device,
        })
    }

    /// Every device, depth first, root first.
    pub fn devices(&self) -> Vec<&Device> {
        fn walk<'a>(d: &'a Device, out: &mut Vec<&'a Device>) {
            out.push(d);
            for c in &d.devices {
                walk(c, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &mut out);
        out
    }

    /// Every service of every device, depth first.
    pub fn services(&self) -> Vec<&Service> {
        self.devices()
            .into_iter()
            .flat_map(|d| d.services.iter())
            .collect()
    }

    /// All WANIPConnection / WANPPPConnection services with a control URL, best first:
    /// WANIPConnection before WANPPPConnection, higher versions first, then document
    /// order.
    pub fn wan_connections(&self) -> Vec<WanService> {
        let mut out: Vec<WanService> = self
            .services()
            .into_iter()
            .filter(|s| !s.control_url.is_empty())
            .filter_map(|s| {
                let (urn, version) = split_service_type(s.service_type.trim())?;
                let name = urn.rsplit(':').next()?;
                let kind = if name == "WANIPConnection" {
                    WanServiceKind::IpConnection
                } else if name == "WANPPPConnection" {
                    WanServiceKind::PppConnection
                } else {
                    return None;
                };
                Some(WanService {
                    kind,
                    service_type: s.service_type.trim().to_string(),
                    version,
                    control_url: s.control_url.clone(),
                    event_sub_url: s.event_sub_url.clone(),
                    scpd_url: s.scpd_url.clone(),
                })
            })
            .collect();
        // stable sort keeps document order among equals
        out.sort_by_key(|s| std::cmp::Reverse((s.kind, s.version)));
        out
    }

    /// The best WAN connection service to control (see [`Self::wan_connections`]).
    pub fn find_wan_connection(&self) -> Option<WanService> {
        self.wan_connections().into_iter().next()
    }

    /// The first service whose type (without version) is `service_urn`, with the
    /// highest version.
    pub fn find_service(&self, service_urn: &str) -> Option<&Service> {
        self.services()
            .into_iter()
            .filter_map(|s| {
                let (urn, v) = split_service_type(s.service_type.trim())?;
                (urn == service_urn).then_some((v, s))
            })
            .fold(None, |best: Option<(u32, &Service)>, (v, s)| match best {
                Some((bv, _)) if bv >= v => best,
                _ => Some((v, s)),
            })
            .map(|(_, s)| s)
    }
}
