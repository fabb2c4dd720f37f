//! Choosing a gateway: `UPNP_GetValidIGD`, `UPNP_GetIGDFromUrl`, `GetUPNPUrls`,
//! `FreeUPNPUrls`, `UPNPIGD_IsConnected`, `addr_is_reserved`.

use std::ffi::{c_char, c_int, c_uint};
use std::net::Ipv4Addr;

use crate::commands::{external_ip, status_info};
use crate::net::fetch;
use crate::types::{IGDdatas, UPNPDev, UPNPUrls};
use crate::xml::parse_root_desc;
use crate::{array_bytes, c_bytes, c_string, guard, malloc_copy, put};

/// The IPv4 ranges MiniUPnPc 2.2.4 treats as reserved (not a usable external address):
/// (network, prefix length).
const RESERVED: [(Ipv4Addr, u8); 18] = [
    (Ipv4Addr::new(0, 0, 0, 0), 8),
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(100, 64, 0, 0), 10),
    (Ipv4Addr::new(127, 0, 0, 0), 8),
    (Ipv4Addr::new(169, 254, 0, 0), 16),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 0, 0, 0), 24),
    (Ipv4Addr::new(192, 0, 2, 0), 24),
    (Ipv4Addr::new(192, 31, 196, 0), 24),
    (Ipv4Addr::new(192, 52, 193, 0), 24),
    (Ipv4Addr::new(192, 88, 99, 0), 24),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
    (Ipv4Addr::new(192, 175, 48, 0), 24),
    (Ipv4Addr::new(198, 18, 0, 0), 15),
    (Ipv4Addr::new(198, 51, 100, 0), 24),
    (Ipv4Addr::new(203, 0, 113, 0), 24),
    (Ipv4Addr::new(224, 0, 0, 0), 4),
    (Ipv4Addr::new(240, 0, 0, 0), 4),
];

/// Whether `addr` is not a usable public IPv4 address (unparsable text counts as
/// reserved).
pub fn is_reserved(addr: &[u8]) -> bool {
    let Some(ip) = std::str::from_utf8(addr)
        .ok()
        .and_then(|s| s.parse::<Ipv4Addr>().ok())
    else {
        return true;
    };
    let a = u32::from(ip);
    RESERVED.iter().any(|(net, len)| {
        (a >> (32 - u32::from(*len))) == (u32::from(*net) >> (32 - u32::from(*len)))
    })
}

/// 1 when `addr_str` is an IPv4 address in a reserved range (or not an IPv4 address),
/// else 0.
///
/// # Safety
/// `addr_str` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn addr_is_reserved(addr_str: *const c_char) -> c_int {
    guard(1, || {
        // SAFETY: per the contract.
        let text = unsafe { c_bytes(addr_str) };
        c_int::from(is_reserved(text.unwrap_or_default()))
    })
}

/// An absolute URL as MiniUPnPc builds it: `url` if it starts with `http://`, else the
/// scheme and authority of `base` (URLBase, or the description URL) followed by `url`.
pub fn absolute_url(urlbase: &[u8], desc_url: &[u8], url: &[u8], scope_id: c_uint) -> Vec<u8> {
    if url.starts_with(b"http://") {
        return url.to_vec();
    }
    let base = if urlbase.is_empty() {
        desc_url
    } else {
        urlbase
    };
    let mut n = base.len();
    if n > 7 {
        if let Some(p) = base
            .get(7..)
            .and_then(|r| r.iter().position(|&b| b == b'/'))
        {
            n = p + 7;
        }
    }
    let mut s = base.get(..n).unwrap_or(base).to_vec();
    if scope_id != 0 {
        if let (Some(close), Some(name)) = (s.iter().rposition(|&b| b == b']'), if_name(scope_id)) {
            let mut tail = s.split_off(close);
            s.extend_from_slice(b"%25");
            s.extend_from_slice(&name);
            s.append(&mut tail);
        }
    }
    if url.first() != Some(&b'/') {
        s.push(b'/');
    }
    s.extend_from_slice(url);
    s
}

fn if_name(index: c_uint) -> Option<Vec<u8>> {
    let mut buf = [0 as c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has IF_NAMESIZE bytes, as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    Some(
        buf.iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect(),
    )
}

/// Fills `urls` (each string `malloc`ed) from a parsed description found at `descURL`.
///
/// # Safety
/// `urls` and `data` are NULL or valid; `descURL` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn GetUPNPUrls(
    urls: *mut UPNPUrls,
    data: *mut IGDdatas,
    descURL: *const c_char,
    scope_id: c_uint,
) {
    guard((), || {
        // SAFETY: per the contract.
        let (Some(urls), Some(data), Some(desc)) =
            (unsafe { urls.as_mut() }, unsafe { data.as_ref() }, unsafe {
                c_bytes(descURL)
            })
        else {
            return;
        };
        fill_urls(urls, data, desc, scope_id);
    })
}

fn fill_urls(urls: &mut UPNPUrls, data: &IGDdatas, desc: &[u8], scope_id: c_uint) {
    let base = array_bytes(&data.urlbase);
    let abs =
        |u: &[c_char; 128]| malloc_copy(&absolute_url(&base, desc, &array_bytes(u), scope_id));
    urls.rootdescURL = malloc_copy(desc);
    urls.ipcondescURL = abs(&data.first.scpdurl);
    urls.controlURL = abs(&data.first.controlurl);
    urls.controlURL_CIF = abs(&data.CIF.controlurl);
    urls.controlURL_6FC = abs(&data.IPv6FC.controlurl);
}

/// Frees the five strings of `urls` and sets them to NULL. NULL and zeroed structs are
/// fine.
///
/// # Safety
/// `urls` is NULL or a struct whose pointers are NULL or from this library.
#[no_mangle]
pub unsafe extern "C" fn FreeUPNPUrls(urls: *mut UPNPUrls) {
    guard((), || {
        // SAFETY: per the contract.
        let Some(u) = (unsafe { urls.as_mut() }) else {
            return;
        };
        for p in [
            &mut u.controlURL,
            &mut u.ipcondescURL,
            &mut u.controlURL_CIF,
            &mut u.controlURL_6FC,
            &mut u.rootdescURL,
        ] {
            // SAFETY: NULL or a malloc block from this library.
            unsafe { libc::free((*p).cast()) };
            *p = std::ptr::null_mut();
        }
    })
}

/// Whether the WAN connection service reports "Connected" (or "Up").
pub fn is_connected(urls: &UPNPUrls, data: &IGDdatas) -> bool {
    // SAFETY: controlURL is NULL or a C string this library made.
    let Some(url) = (unsafe { c_string(urls.controlURL) }) else {
        return false;
    };
    let st = String::from_utf8_lossy(&array_bytes(&data.first.servicetype)).into_owned();
    matches!(status_info(&url, &st), Ok((status, _, _)) if status == b"Connected" || status == b"Up")
}

/// 1 when the gateway's WAN connection is up, else 0.
///
/// # Safety
/// `urls` and `data` are NULL or filled by this library.
#[no_mangle]
pub unsafe extern "C" fn UPNPIGD_IsConnected(urls: *mut UPNPUrls, data: *mut IGDdatas) -> c_int {
    guard(0, || {
        // SAFETY: per the contract.
        match (unsafe { urls.as_ref() }, unsafe { data.as_ref() }) {
            (Some(u), Some(d)) => c_int::from(is_connected(u, d)),
            _ => 0,
        }
    })
}

/// One fetched description.
struct Desc {
    url: Vec<u8>,
    scope_id: c_uint,
    body: Vec<u8>,
    lanaddr: String,
}

fn zeroed<T>() -> T {
    // SAFETY: only used for IGDdatas and UPNPUrls, for which all-zero bytes are valid
    // (byte arrays, an int, NULL pointers).
    unsafe { std::mem::zeroed() }
}

/// Which `UPNP_GetValidIGD` to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// MiniUPnPc 2.2.4 (API 17): 1 connected with a public address, 2 an IGD, 3 any device.
    V17,
    /// MiniUPnPc 2.2.8 (API 18): 1 connected with a public address, 2 connected with a
    /// reserved address, 3 an IGD not connected, 4 any device.
    V18,
}

/// A choice: the state (the return value), which description, the external address.
pub struct Choice {
    /// The `UPNP_GetValidIGD` return value.
    pub state: c_int,
    /// Index of the chosen description.
    pub index: usize,
    /// The external address the gateway reported, if it was asked.
    pub external: Option<Vec<u8>>,
}

/// MiniUPnPc's choice among the fetched descriptions: in each state, each description in
/// order, its first WAN connection service and then its second.
fn choose(descs: &[Desc], urls: &mut UPNPUrls, data: &mut IGDdatas, api: Api) -> Option<Choice> {
    let (last, unchecked_from) = match api {
        Api::V17 => (3, 2),
        Api::V18 => (4, 3),
    };
    for state in 1..=last {
        for (index, d) in descs.iter().enumerate() {
            *data = zeroed();
            parse_root_desc(&d.body, data);
            let is_igd = array_bytes(&data.CIF.servicetype)
                .starts_with(b"urn:schemas-upnp-org:service:WANCommonInterfaceConfig:");
            if !(is_igd || state >= last) {
                continue;
            }
            for second in [false, true] {
                if second {
                    if data.second.servicetype[0] == 0 {
                        break;
                    }
                    std::mem::swap(&mut data.first, &mut data.second);
                }
                fill_urls(urls, data, &d.url, d.scope_id);
                if state >= unchecked_from {
                    return Some(Choice {
                        state,
                        index,
                        external: None,
                    });
                }
                if is_connected(urls, data) {
                    // SAFETY: controlURL is NULL or a C string this library made.
                    let url = unsafe { c_string(urls.controlURL) }.unwrap_or_default();
                    let st =
                        String::from_utf8_lossy(&array_bytes(&data.first.servicetype)).into_owned();
                    let external = external_ip(&url, &st).ok();
                    let public = external.as_deref().is_some_and(|ip| !is_reserved(ip));
                    if public || (api == Api::V18 && state == 2) {
                        return Some(Choice {
                            state,
                            index,
                            external,
                        });
                    }
                }
                // SAFETY: `urls` holds strings this library just made.
                unsafe { FreeUPNPUrls(urls) };
            }
        }
    }
    *data = zeroed();
    None
}

/// `UPNP_GetValidIGD` of `api`: fetches every description of `devlist`, chooses, writes
/// `lanaddr`; returns the choice.
///
/// # Safety
/// As [`UPNP_GetValidIGD`].
pub unsafe fn get_valid_igd(
    devlist: *mut UPNPDev,
    urls: *mut UPNPUrls,
    data: *mut IGDdatas,
    lanaddr: *mut c_char,
    lanaddrlen: c_int,
    api: Api,
) -> Option<Choice> {
    // SAFETY: per the contract.
    let (Some(urls), Some(data)) = (unsafe { urls.as_mut() }, unsafe { data.as_mut() }) else {
        return None;
    };
    *urls = zeroed();
    let mut descs = Vec::new();
    let mut node = devlist;
    // SAFETY: a list of valid nodes made by this library.
    while let Some(dev) = unsafe { node.as_ref() } {
        // SAFETY: descURL points into the node's buffer.
        if let Some(url) = unsafe { c_bytes(dev.descURL) } {
            let text = String::from_utf8_lossy(url).into_owned();
            if let Some((resp, local)) = fetch(&text) {
                if resp.head.status == 200 {
                    descs.push(Desc {
                        url: url.to_vec(),
                        scope_id: dev.scope_id,
                        body: resp.body,
                        lanaddr: local.ip().to_string(),
                    });
                }
            }
        }
        node = dev.pNext;
    }
    let choice = choose(&descs, urls, data, api)?;
    let lan = descs
        .get(choice.index)
        .map(|d| d.lanaddr.as_bytes())
        .unwrap_or_default();
    // SAFETY: writable for lanaddrlen bytes per the contract.
    unsafe { put(lanaddr, usize::try_from(lanaddrlen).unwrap_or(0), lan) };
    Some(choice)
}

/// Picks the best gateway of `devlist`: fills `urls` (free with [`FreeUPNPUrls`]) and
/// `data`, writes this host's address towards it into `lanaddr`, and returns 1 for a
/// connected IGD with a public external address, 2 for an IGD that is not connected
/// (or whose external address is reserved), 3 for a UPnP device that is not an IGD, 0
/// when none answered.
///
/// # Safety
/// `devlist` is NULL or a list from this library; `urls` and `data` are NULL or
/// writable; `lanaddr` is NULL or writable for `lanaddrlen` bytes.
#[cfg(not(api18))]
#[no_mangle]
pub unsafe extern "C" fn UPNP_GetValidIGD(
    devlist: *mut UPNPDev,
    urls: *mut UPNPUrls,
    data: *mut IGDdatas,
    lanaddr: *mut c_char,
    lanaddrlen: c_int,
) -> c_int {
    guard(-1, || {
        // SAFETY: forwarded contract.
        unsafe { get_valid_igd(devlist, urls, data, lanaddr, lanaddrlen, Api::V17) }
            .map_or(0, |c| c.state)
    })
}

/// API 18 (MiniUPnPc 2.2.8, `libminiupnpc.so.18`): as the API 17 function, plus the
/// external address in `wanaddr` (`wanaddrlen` bytes); returns 1 connected with a
/// public address, 2 connected with a reserved address, 3 an IGD not connected, 4 a
/// UPnP device that is not an IGD, 0 none.
///
/// # Safety
/// As the API 17 function; `wanaddr` is NULL or writable for `wanaddrlen` bytes.
#[cfg(api18)]
#[no_mangle]
pub unsafe extern "C" fn UPNP_GetValidIGD(
    devlist: *mut UPNPDev,
    urls: *mut UPNPUrls,
    data: *mut IGDdatas,
    lanaddr: *mut c_char,
    lanaddrlen: c_int,
    wanaddr: *mut c_char,
    wanaddrlen: c_int,
) -> c_int {
    guard(-1, || {
        let wanlen = usize::try_from(wanaddrlen).unwrap_or(0);
        // SAFETY: writable for wanaddrlen bytes per the contract.
        unsafe { put(wanaddr, wanlen, b"") };
        // SAFETY: forwarded contract.
        let Some(c) =
            (unsafe { get_valid_igd(devlist, urls, data, lanaddr, lanaddrlen, Api::V18) })
        else {
            return 0;
        };
        // SAFETY: as above.
        unsafe { put(wanaddr, wanlen, c.external.as_deref().unwrap_or_default()) };
        c.state
    })
}

/// Uses the description at `rootdescurl`: fills `urls` and `data`, writes this host's
/// address towards it into `lanaddr`; 1 on success, 0 when it cannot be fetched.
///
/// # Safety
/// As [`UPNP_GetValidIGD`]; `rootdescurl` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn UPNP_GetIGDFromUrl(
    rootdescurl: *const c_char,
    urls: *mut UPNPUrls,
    data: *mut IGDdatas,
    lanaddr: *mut c_char,
    lanaddrlen: c_int,
) -> c_int {
    guard(0, || {
        // SAFETY: per the contract.
        let (Some(url), Some(urls), Some(data)) = (
            unsafe { c_bytes(rootdescurl) },
            unsafe { urls.as_mut() },
            unsafe { data.as_mut() },
        ) else {
            return 0;
        };
        let Some((resp, local)) = fetch(&String::from_utf8_lossy(url)) else {
            return 0;
        };
        // SAFETY: writable for lanaddrlen bytes per the contract.
        unsafe {
            put(
                lanaddr,
                usize::try_from(lanaddrlen).unwrap_or(0),
                local.ip().to_string().as_bytes(),
            )
        };
        *data = zeroed();
        *urls = zeroed();
        parse_root_desc(&resp.body, data);
        fill_urls(urls, data, url, 0);
        1
    })
}
