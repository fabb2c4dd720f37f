//! The `UPNP_*` actions and `strupnperror`.
//!
//! Each returns what MiniUPnPc 2.2.4 returns: 0, a positive UPnP error code from the
//! gateway's fault (`errorCode`), or a negative `UPNPCOMMAND_*` code; output strings go
//! into the caller's fixed-size buffers (sizes in each function's documentation),
//! always NUL-terminated and never overrun. Values are read from the answer as
//! MiniUPnPc reads them ([`NameValues`]).

use std::ffi::{c_char, c_int, c_uint, CStr};

use crate::net::soap;
use crate::types::{
    PortMappingParserData, UPNPCOMMAND_HTTP_ERROR, UPNPCOMMAND_INVALID_ARGS,
    UPNPCOMMAND_INVALID_RESPONSE, UPNPCOMMAND_SUCCESS, UPNPCOMMAND_UNKNOWN_ERROR,
};
use crate::xml::{fill_listing, Listing, NameValues};
use crate::{atou, c_string, guard, put};

/// Invokes `action`; `Err` with the `UPNPCOMMAND_*` code when an argument is missing or
/// the exchange fails.
fn call(
    url: Option<String>,
    st: Option<String>,
    action: &str,
    args: &[(&str, &str)],
) -> Result<NameValues, c_int> {
    let (Some(url), Some(st)) = (url, st) else {
        return Err(UPNPCOMMAND_INVALID_ARGS);
    };
    soap(&url, &st, action, args)
        .map(|body| NameValues::parse(&body))
        .ok_or(UPNPCOMMAND_HTTP_ERROR)
}

/// Reads the control URL and service type arguments.
///
/// # Safety
/// Both are NULL or C strings.
unsafe fn target(url: *const c_char, st: *const c_char) -> (Option<String>, Option<String>) {
    // SAFETY: per the contract.
    unsafe { (c_string(url), c_string(st)) }
}

/// Invokes `action` at the caller's control URL `url` for service type `st`.
///
/// # Safety
/// `url` and `st` are NULL or C strings.
unsafe fn invoke(
    url: *const c_char,
    st: *const c_char,
    action: &str,
    args: &[(&str, &str)],
) -> Result<NameValues, c_int> {
    // SAFETY: per the contract.
    let (url, st) = unsafe { target(url, st) };
    call(url, st, action, args)
}

/// The parsed answer of an action, or the enclosing function returns the failure code.
/// The enclosing function's contract says `$url` and `$st` are NULL or C strings.
macro_rules! answer {
    ($url:expr, $st:expr, $action:expr, $args:expr) => {
        // SAFETY: `$url` and `$st` are NULL or C strings (the caller's contract).
        match unsafe { invoke($url, $st, $action, $args) } {
            Ok(nv) => nv,
            Err(e) => return e,
        }
    };
}

/// `ok` unless the answer is a fault.
fn outcome(nv: &NameValues, ok: c_int) -> c_int {
    nv.error_code().unwrap_or(ok)
}

/// [`outcome`] of an answer that must carry values: success when `complete` (every
/// value the action returns was there), else `UPNPCOMMAND_UNKNOWN_ERROR`.
fn answered(nv: &NameValues, complete: bool) -> c_int {
    outcome(
        nv,
        if complete {
            UPNPCOMMAND_SUCCESS
        } else {
            UPNPCOMMAND_UNKNOWN_ERROR
        },
    )
}

/// GetStatusInfo: (status, uptime, last connection error) or the error code.
pub fn status_info(url: &str, st: &str) -> Result<(Vec<u8>, u32, Vec<u8>), c_int> {
    let nv = call(Some(url.into()), Some(st.into()), "GetStatusInfo", &[])?;
    if let Some(code) = nv.error_code() {
        return Err(code);
    }
    let status = nv
        .get("NewConnectionStatus")
        .ok_or(UPNPCOMMAND_UNKNOWN_ERROR)?;
    let uptime = nv.get("NewUptime").ok_or(UPNPCOMMAND_UNKNOWN_ERROR)?;
    let err = nv.get("NewLastConnectionError").unwrap_or_default();
    Ok((status.to_vec(), atou(uptime) as u32, err.to_vec()))
}

/// GetExternalIPAddress: the address text or the error code.
pub fn external_ip(url: &str, st: &str) -> Result<Vec<u8>, c_int> {
    let nv = call(
        Some(url.into()),
        Some(st.into()),
        "GetExternalIPAddress",
        &[],
    )?;
    if let Some(code) = nv.error_code() {
        return Err(code);
    }
    nv.get("NewExternalIPAddress")
        .map(<[u8]>::to_vec)
        .ok_or(UPNPCOMMAND_UNKNOWN_ERROR)
}

/// One of the four WANCommonInterfaceConfig counters; `(u64)UPNPCOMMAND_HTTP_ERROR` when
/// the exchange fails.
///
/// # Safety
/// Both pointers are NULL or C strings.
unsafe fn counter(url: *const c_char, st: *const c_char, action: &str, field: &str) -> u64 {
    let http_error = i64::from(UPNPCOMMAND_HTTP_ERROR) as u64;
    guard(http_error, || {
        // SAFETY: per the contract.
        let (url, st) = unsafe { target(url, st) };
        match call(url, st, action, &[]) {
            Ok(nv) => nv.get(field).map(atou).unwrap_or(0),
            Err(_) => http_error,
        }
    })
}

/// GetTotalBytesSent of WANCommonInterfaceConfig (0 when absent; the full 64-bit value).
///
/// # Safety
/// Both pointers are NULL or C strings.
#[no_mangle]
pub unsafe extern "C" fn UPNP_GetTotalBytesSent(
    controlURL: *const c_char,
    servicetype: *const c_char,
) -> u64 {
    // SAFETY: forwarded contract.
    unsafe {
        counter(
            controlURL,
            servicetype,
            "GetTotalBytesSent",
            "NewTotalBytesSent",
        )
    }
}

/// GetTotalBytesReceived of WANCommonInterfaceConfig.
///
/// # Safety
/// Both pointers are NULL or C strings.
#[no_mangle]
pub unsafe extern "C" fn UPNP_GetTotalBytesReceived(
    controlURL: *const c_char,
    servicetype: *const c_char,
) -> u64 {
    // SAFETY: forwarded contract.
    unsafe {
        counter(
            controlURL,
            servicetype,
            "GetTotalBytesReceived",
            "NewTotalBytesReceived",
        )
    }
}

/// GetTotalPacketsSent of WANCommonInterfaceConfig.
///
/// # Safety
/// Both pointers are NULL or C strings.
#[no_mangle]
pub unsafe extern "C" fn UPNP_GetTotalPacketsSent(
    controlURL: *const c_char,
    servicetype: *const c_char,
) -> u64 {
    // SAFETY: forwarded contract.
    unsafe {
        counter(
            controlURL,
            servicetype,
            "GetTotalPacketsSent",
            "NewTotalPacketsSent",
        )
    }
}

/// GetTotalPacketsReceived of WANCommonInterfaceConfig.
///
/// # Safety
/// Both pointers are NULL or C strings.
#[no_mangle]
pub unsafe extern "C" fn UPNP_GetTotalPacketsReceived(
    controlURL: *const c_char,
    servicetype: *const c_char,
) -> u64 {
    // SAFETY: forwarded contract.
    unsafe {
        counter(
            controlURL,
            servicetype,
            "GetTotalPacketsReceived",
            "NewTotalPacketsReceived",
        )
    }
}

/// Writes `v` parsed as `%u` into `*out` (0 when absent).
///
/// # Safety
/// `out` is NULL or writable.
unsafe fn put_u32(out: *mut c_uint, v: Option<&[u8]>) {
    if !out.is_null() {
        // SAFETY: writable per the contract.
        unsafe { out.write(v.map_or(0, |v| atou(v) as c_uint)) };
    }
}

/// Writes `v` parsed as an unsigned number into the `int` at `out`, if `v` is present.
///
/// # Safety
/// `out` is NULL or writable.
unsafe fn put_int(out: *mut c_int, v: Option<&[u8]>) {
    if let (Some(v), false) = (v, out.is_null()) {
        // SAFETY: writable per the contract.
        unsafe { out.write(atou(v) as c_int) };
    }
}

/// GetStatusInfo: `status` (64 bytes), `*uptime`, `lastconnerror` (64 bytes; may be
/// NULL). `status` and `uptime` may not both be NULL.
///
/// # Safety
/// Strings are NULL or C strings; outputs NULL or writable for their sizes.
#[no_mangle]
pub unsafe extern "C" fn UPNP_GetStatusInfo(
    controlURL: *const c_char,
    servicetype: *const c_char,
    status: *mut c_char,
    uptime: *mut c_uint,
    lastconnerror: *mut c_char,
) -> c_int {
    guard(UPNPCOMMAND_UNKNOWN_ERROR, || {
        if status.is_null() && uptime.is_null() {
            return UPNPCOMMAND_INVALID_ARGS;
        }
        let nv = answer!(controlURL, servicetype, "GetStatusInfo", &[]);
        let (s, up, err) = (
            nv.get("NewConnectionStatus"),
            nv.get("NewUptime"),
            nv.get("NewLastConnectionError"),
        );
        // SAFETY: outputs are NULL or writable for their documented sizes.
        unsafe {
            put(status, 64, s.unwrap_or_default());
            put_u32(uptime, up);
            put(lastconnerror, 64, err.unwrap_or_default());
        }
        answered(&nv, s.is_some() && up.is_some())
    })
}

/// GetConnectionTypeInfo: `connectionType` (64 bytes).
///
/// # Safety
/// Strings are NULL or C strings; `connectionType` NULL or writable for 64 bytes.
#[no_mangle]
pub unsafe extern "C" fn UPNP_GetConnectionTypeInfo(
    controlURL: *const c_char,
    servicetype: *const c_char,
    connectionType: *mut c_char,
) -> c_int {
    guard(UPNPCOMMAND_UNKNOWN_ERROR, || {
        if connectionType.is_null() {
            return UPNPCOMMAND_INVALID_ARGS;
        }
        let nv = answer!(controlURL, servicetype, "GetConnectionTypeInfo", &[]);
        let v = nv.get("NewConnectionType");
        // SAFETY: writable for 64 bytes per the contract.
        unsafe { put(connectionType, 64, v.unwrap_or_default()) };
        answered(&nv, v.is_some())
    })
}

/// GetExternalIPAddress: `extIpAdd` (16 bytes).
///
/// # Safety
/// Strings are NULL or C strings; `extIpAdd` NULL or writable for 16 bytes.
#[no_mangle]
pub unsafe extern "C" fn UPNP_GetExternalIPAddress(
    controlURL: *const c_char,
    servicetype: *const c_char,
    extIpAdd: *mut c_char,
) -> c_int {
    guard(UPNPCOMMAND_UNKNOWN_ERROR, || {
        if extIpAdd.is_null() || controlURL.is_null() || servicetype.is_null() {
            return UPNPCOMMAND_INVALID_ARGS;
        }
        let nv = answer!(controlURL, servicetype, "GetExternalIPAddress", &[]);
        let v = nv.get("NewExternalIPAddress");
        // SAFETY: writable for 16 bytes per the contract.
        unsafe { put(extIpAdd, 16, v.unwrap_or_default()) };
        answered(&nv, v.is_some())
    })
}

/// GetCommonLinkProperties of WANCommonInterfaceConfig: `*bitrateDown`, `*bitrateUp`.
///
/// # Safety
/// Strings are NULL or C strings; outputs NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn UPNP_GetLinkLayerMaxBitRates(
    controlURL: *const c_char,
    servicetype: *const c_char,
    bitrateDown: *mut c_uint,
    bitrateUp: *mut c_uint,
) -> c_int {
    guard(UPNPCOMMAND_UNKNOWN_ERROR, || {
        if bitrateDown.is_null() && bitrateUp.is_null() {
            return UPNPCOMMAND_INVALID_ARGS;
        }
        let nv = answer!(controlURL, servicetype, "GetCommonLinkProperties", &[]);
        let down = nv.get("NewLayer1DownstreamMaxBitRate");
        let up = nv.get("NewLayer1UpstreamMaxBitRate");
        // SAFETY: outputs NULL or writable.
        unsafe {
            put_u32(bitrateDown, down);
            put_u32(bitrateUp, up);
        }
        answered(&nv, down.is_some() && up.is_some())
    })
}

/// The arguments of AddPortMapping / AddAnyPortMapping, as MiniUPnPc sends them.
///
/// # Safety
/// Every pointer is NULL or a C string.
#[allow(clippy::too_many_arguments)]
unsafe fn mapping_args(
    ext_port: *const c_char,
    in_port: *const c_char,
    in_client: *const c_char,
    desc: *const c_char,
    proto: *const c_char,
    remote_host: *const c_char,
    lease: *const c_char,
) -> Option<Vec<(&'static str, String)>> {
    // SAFETY: per the contract.
    let s = |p| unsafe { c_string(p) };
    Some(vec![
        ("NewRemoteHost", s(remote_host).unwrap_or_default()),
        ("NewExternalPort", s(ext_port)?),
        ("NewProtocol", s(proto)?),
        ("NewInternalPort", s(in_port)?),
        ("NewInternalClient", s(in_client)?),
        ("NewEnabled", "1".into()),
        (
            "NewPortMappingDescription",
            s(desc).unwrap_or_else(|| "libminiupnpc".into()),
        ),
        ("NewLeaseDuration", s(lease).unwrap_or_else(|| "0".into())),
    ])
}

fn refs<'a>(args: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    args.iter().map(|(n, v)| (*n, v.as_str())).collect()
}

/// AddPortMapping. `desc` defaults to "libminiupnpc", `remoteHost` to any, the lease
/// to 0 (permanent).
///
/// # Safety
/// Every pointer is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn UPNP_AddPortMapping(
    controlURL: *const c_char,
    servicetype: *const c_char,
    extPort: *const c_char,
    inPort: *const c_char,
    inClient: *const c_char,
    desc: *const c_char,
    proto: *const c_char,
    remoteHost: *const c_char,
    leaseDuration: *const c_char,
) -> c_int {
    let args = || {
        // SAFETY: per the contract.
        unsafe {
            mapping_args(
                extPort,
                inPort,
                inClient,
                desc,
                proto,
                remoteHost,
                leaseDuration,
            )
        }
    };
    // SAFETY: forwarded contract.
    unsafe { simple(controlURL, servicetype, "AddPortMapping", args) }
}

/// AddAnyPortMapping (IGD:2): the external port granted in `reservedPort` (6 bytes).
///
/// # Safety
/// Every pointer is NULL or a C string; `reservedPort` NULL or writable for 6 bytes.
#[no_mangle]
pub unsafe extern "C" fn UPNP_AddAnyPortMapping(
    controlURL: *const c_char,
    servicetype: *const c_char,
    extPort: *const c_char,
    inPort: *const c_char,
    inClient: *const c_char,
    desc: *const c_char,
    proto: *const c_char,
    remoteHost: *const c_char,
    leaseDuration: *const c_char,
    reservedPort: *mut c_char,
) -> c_int {
    guard(UPNPCOMMAND_UNKNOWN_ERROR, || {
        // SAFETY: per the contract.
        let Some(args) = (unsafe {
            mapping_args(
                extPort,
                inPort,
                inClient,
                desc,
                proto,
                remoteHost,
                leaseDuration,
            )
        }) else {
            return UPNPCOMMAND_INVALID_ARGS;
        };
        let nv = answer!(controlURL, servicetype, "AddAnyPortMapping", &refs(&args));
        if let Some(code) = nv.error_code() {
            return code;
        }
        match nv.get("NewReservedPort") {
            Some(p) => {
                // SAFETY: NULL or writable for 6 bytes per the contract.
                unsafe { put(reservedPort, 6, p) };
                UPNPCOMMAND_SUCCESS
            }
            None => UPNPCOMMAND_INVALID_RESPONSE,
        }
    })
}

/// Runs an action whose answer carries nothing but success or a fault; `args` (read
/// inside the panic guard) is `None` when a required argument is NULL.
///
/// # Safety
/// `url` and `st` are NULL or C strings.
unsafe fn simple(
    url: *const c_char,
    st: *const c_char,
    action: &str,
    args: impl FnOnce() -> Option<Vec<(&'static str, String)>>,
) -> c_int {
    guard(UPNPCOMMAND_UNKNOWN_ERROR, || {
        let Some(args) = args() else {
            return UPNPCOMMAND_INVALID_ARGS;
        };
        let nv = answer!(url, st, action, &refs(&args));
        outcome(&nv, UPNPCOMMAND_SUCCESS)
    })
}

/// Reads C string arguments by name; `None` if a required one is NULL.
///
/// # Safety
/// Every pointer is NULL or a C string.
unsafe fn named(required: &[(&'static str, *const c_char)]) -> Option<Vec<(&'static str, String)>> {
    required
        .iter()
        // SAFETY: per the contract.
        .map(|(n, p)| unsafe { c_string(*p) }.map(|v| (*n, v)))
        .collect()
}

/// DeletePortMapping (`remoteHost` NULL: any).
///
/// # Safety
/// Every pointer is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn UPNP_DeletePortMapping(
    controlURL: *const c_char,
    servicetype: *const c_char,
    extPort: *const c_char,
    proto: *const c_char,
    remoteHost: *const c_char,
) -> c_int {
    let args = || {
        // SAFETY: per the contract.
        let (host, mut a) = unsafe {
            (
                c_string(remoteHost).unwrap_or_default(),
                named(&[("NewExternalPort", extPort), ("NewProtocol", proto)])?,
            )
        };
        a.insert(0, ("NewRemoteHost", host));
        Some(a)
    };
    // SAFETY: forwarded contract.
    unsafe { simple(controlURL, servicetype, "DeletePortMapping", args) }
}

/// DeletePortMappingRange (IGD:2).
///
/// # Safety
/// Every pointer is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn UPNP_DeletePortMappingRange(
    controlURL: *const c_char,
    servicetype: *const c_char,
    extPortStart: *const c_char,
    extPortEnd: *const c_char,
    proto: *const c_char,
    manage: *const c_char,
) -> c_int {
    let args = || {
        // SAFETY: per the contract.
        unsafe {
            named(&[
                ("NewStartPort", extPortStart),
                ("NewEndPort", extPortEnd),
                ("NewProtocol", proto),
                ("NewManage", manage),
            ])
        }
    };
    // SAFETY: forwarded contract.
    unsafe { simple(controlURL, servicetype, "DeletePortMappingRange", args) }
}

/// GetPortMappingNumberOfEntries: `*numEntries`.
///
/// # Safety
/// Strings are NULL or C strings; `numEntries` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn UPNP_GetPortMappingNumberOfEntries(
    controlURL: *const c_char,
    servicetype: *const c_char,
    numEntries: *mut c_uint,
) -> c_int {
    guard(UPNPCOMMAND_UNKNOWN_ERROR, || {
        let nv = answer!(
            controlURL,
            servicetype,
            "GetPortMappingNumberOfEntries",
            &[]
        );
        let v = nv.get("NewPortMappingNumberOfEntries");
        if v.is_some() {
            // SAFETY: NULL or writable.
            unsafe { put_u32(numEntries, v) };
        }
        answered(&nv, v.is_some())
    })
}

/// GetSpecificPortMappingEntry: `intClient` (16 bytes), `intPort` (6), `desc` (80),
/// `enabled` (4), `leaseDuration` (16); the last three may be NULL. NULL `extPort`,
/// `proto`, `intClient` or `intPort`: `UPNPCOMMAND_INVALID_ARGS`, nothing sent.
///
/// # Safety
/// Strings are NULL or C strings; outputs NULL or writable for their sizes.
#[no_mangle]
pub unsafe extern "C" fn UPNP_GetSpecificPortMappingEntry(
    controlURL: *const c_char,
    servicetype: *const c_char,
    extPort: *const c_char,
    proto: *const c_char,
    remoteHost: *const c_char,
    intClient: *mut c_char,
    intPort: *mut c_char,
    desc: *mut c_char,
    enabled: *mut c_char,
    leaseDuration: *mut c_char,
) -> c_int {
    guard(UPNPCOMMAND_UNKNOWN_ERROR, || {
        if intPort.is_null() || intClient.is_null() || extPort.is_null() || proto.is_null() {
            return UPNPCOMMAND_INVALID_ARGS;
        }
        // SAFETY: per the contract.
        let Some(mut args) =
            (unsafe { named(&[("NewExternalPort", extPort), ("NewProtocol", proto)]) })
        else {
            return UPNPCOMMAND_INVALID_ARGS;
        };
        // SAFETY: per the contract.
        args.insert(
            0,
            (
                "NewRemoteHost",
                unsafe { c_string(remoteHost) }.unwrap_or_default(),
            ),
        );
        let nv = answer!(
            controlURL,
            servicetype,
            "GetSpecificPortMappingEntry",
            &refs(&args)
        );
        let client = nv.get("NewInternalClient");
        // SAFETY: outputs NULL or writable for their documented sizes.
        unsafe {
            put(intClient, 16, client.unwrap_or_default());
            put(intPort, 6, nv.get("NewInternalPort").unwrap_or_default());
            if let Some(v) = nv.get("NewEnabled") {
                put(enabled, 4, v);
            }
            if let Some(v) = nv.get("NewPortMappingDescription") {
                put(desc, 80, v);
            }
            if let Some(v) = nv.get("NewLeaseDuration") {
                put(leaseDuration, 16, v);
            }
        }
        answered(&nv, client.is_some())
    })
}

/// GetGenericPortMappingEntry at `index`: `extPort` (6 bytes), `intClient` (16),
/// `intPort` (6), `protocol` (4), `desc` (80), `enabled` (4), `rHost` (64), `duration`
/// (16); the last four may be NULL.
///
/// # Safety
/// Strings are NULL or C strings; outputs NULL or writable for their sizes.
#[no_mangle]
pub unsafe extern "C" fn UPNP_GetGenericPortMappingEntry(
    controlURL: *const c_char,
    servicetype: *const c_char,
    index: *const c_char,
    extPort: *mut c_char,
    intClient: *mut c_char,
    intPort: *mut c_char,
    protocol: *mut c_char,
    desc: *mut c_char,
    enabled: *mut c_char,
    rHost: *mut c_char,
    duration: *mut c_char,
) -> c_int {
    guard(UPNPCOMMAND_UNKNOWN_ERROR, || {
        if index.is_null()
            || extPort.is_null()
            || intClient.is_null()
            || intPort.is_null()
            || protocol.is_null()
        {
            return UPNPCOMMAND_INVALID_ARGS;
        }
        // SAFETY: writable per the contract.
        unsafe {
            put(intClient, 16, b"");
            put(intPort, 6, b"");
        }
        // SAFETY: per the contract.
        let args = unsafe { named(&[("NewPortMappingIndex", index)]) }.unwrap_or_default();
        let nv = answer!(
            controlURL,
            servicetype,
            "GetGenericPortMappingEntry",
            &refs(&args)
        );
        let outputs: [(&str, *mut c_char, usize); 8] = [
            ("NewRemoteHost", rHost, 64),
            ("NewExternalPort", extPort, 6),
            ("NewProtocol", protocol, 4),
            ("NewInternalPort", intPort, 6),
            ("NewInternalClient", intClient, 16),
            ("NewEnabled", enabled, 4),
            ("NewPortMappingDescription", desc, 80),
            ("NewLeaseDuration", duration, 16),
        ];
        for (name, dst, size) in outputs {
            if let Some(v) = nv.get(name) {
                // SAFETY: NULL or writable for `size` bytes per the contract.
                unsafe { put(dst, size, v) };
            }
        }
        answered(&nv, nv.get("NewExternalPort").is_some())
    })
}

/// GetListOfPortMappings (IGD:2): the entries into `data` (free with
/// `FreePortListing`); `numberOfPorts` defaults to 1000.
///
/// # Safety
/// Strings are NULL or C strings; `data` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn UPNP_GetListOfPortMappings(
    controlURL: *const c_char,
    servicetype: *const c_char,
    startPort: *const c_char,
    endPort: *const c_char,
    protocol: *const c_char,
    numberOfPorts: *const c_char,
    data: *mut PortMappingParserData,
) -> c_int {
    guard(UPNPCOMMAND_UNKNOWN_ERROR, || {
        // SAFETY: per the contract.
        let Some(mut args) = (unsafe {
            named(&[
                ("NewStartPort", startPort),
                ("NewEndPort", endPort),
                ("NewProtocol", protocol),
            ])
        }) else {
            return UPNPCOMMAND_INVALID_ARGS;
        };
        args.push(("NewManage", "1".into()));
        // SAFETY: per the contract.
        args.push((
            "NewNumberOfPorts",
            unsafe { c_string(numberOfPorts) }.unwrap_or_else(|| "1000".into()),
        ));
        let nv = answer!(
            controlURL,
            servicetype,
            "GetListOfPortMappings",
            &refs(&args)
        );
        let mut ok = UPNPCOMMAND_UNKNOWN_ERROR;
        if let Some(list) = &nv.port_listing {
            // SAFETY: NULL or writable per the contract.
            if let Some(d) = unsafe { data.as_mut() } {
                d.l_head = std::ptr::null_mut();
                d.curelt = 0;
                fill_listing(&Listing::parse(list), d);
            }
            ok = UPNPCOMMAND_SUCCESS;
        }
        outcome(&nv, ok)
    })
}

/// GetFirewallStatus of WANIPv6FirewallControl.
///
/// # Safety
/// Strings are NULL or C strings; outputs writable.
#[no_mangle]
pub unsafe extern "C" fn UPNP_GetFirewallStatus(
    controlURL: *const c_char,
    servicetype: *const c_char,
    firewallEnabled: *mut c_int,
    inboundPinholeAllowed: *mut c_int,
) -> c_int {
    guard(UPNPCOMMAND_UNKNOWN_ERROR, || {
        if firewallEnabled.is_null() || inboundPinholeAllowed.is_null() {
            return UPNPCOMMAND_INVALID_ARGS;
        }
        let nv = answer!(controlURL, servicetype, "GetFirewallStatus", &[]);
        let (fe, ipa) = (nv.get("FirewallEnabled"), nv.get("InboundPinholeAllowed"));
        // SAFETY: writable per the contract.
        unsafe {
            put_int(firewallEnabled, fe);
            put_int(inboundPinholeAllowed, ipa);
        }
        answered(&nv, fe.is_some() && ipa.is_some())
    })
}

/// The pinhole arguments; "empty" as remote host or internal client means any.
///
/// # Safety
/// Every pointer is NULL or a C string.
unsafe fn pinhole_args(
    remote_host: *const c_char,
    remote_port: *const c_char,
    proto: *const c_char,
    int_port: *const c_char,
    int_client: *const c_char,
) -> Option<Vec<(&'static str, String)>> {
    let wild = |v: String| {
        if v.starts_with("empty") {
            String::new()
        } else {
            v
        }
    };
    // SAFETY: per the contract.
    let mut a = unsafe {
        named(&[
            ("RemoteHost", remote_host),
            ("RemotePort", remote_port),
            ("Protocol", proto),
            ("InternalPort", int_port),
            ("InternalClient", int_client),
        ])
    }?;
    for i in [0, 4] {
        if let Some((_, v)) = a.get_mut(i) {
            *v = wild(std::mem::take(v));
        }
    }
    Some(a)
}

/// GetOutboundPinholeTimeout: `*opTimeout`.
///
/// # Safety
/// Strings are NULL or C strings; `opTimeout` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn UPNP_GetOutboundPinholeTimeout(
    controlURL: *const c_char,
    servicetype: *const c_char,
    remoteHost: *const c_char,
    remotePort: *const c_char,
    intClient: *const c_char,
    intPort: *const c_char,
    proto: *const c_char,
    opTimeout: *mut c_int,
) -> c_int {
    guard(UPNPCOMMAND_UNKNOWN_ERROR, || {
        // SAFETY: per the contract.
        let Some(args) =
            (unsafe { pinhole_args(remoteHost, remotePort, proto, intPort, intClient) })
        else {
            return UPNPCOMMAND_INVALID_ARGS;
        };
        let nv = answer!(
            controlURL,
            servicetype,
            "GetOutboundPinholeTimeout",
            &refs(&args)
        );
        if let Some(code) = nv.error_code() {
            return code;
        }
        // SAFETY: NULL or writable.
        unsafe { put_int(opTimeout, nv.get("OutboundPinholeTimeout")) };
        UPNPCOMMAND_SUCCESS
    })
}

/// AddPinhole: the pinhole's id in `uniqueID` (8 bytes).
///
/// # Safety
/// Strings are NULL or C strings; `uniqueID` NULL or writable for 8 bytes.
#[no_mangle]
pub unsafe extern "C" fn UPNP_AddPinhole(
    controlURL: *const c_char,
    servicetype: *const c_char,
    remoteHost: *const c_char,
    remotePort: *const c_char,
    intClient: *const c_char,
    intPort: *const c_char,
    proto: *const c_char,
    leaseTime: *const c_char,
    uniqueID: *mut c_char,
) -> c_int {
    guard(UPNPCOMMAND_UNKNOWN_ERROR, || {
        // SAFETY: per the contract.
        let (Some(mut args), Some(lease)) = (
            unsafe { pinhole_args(remoteHost, remotePort, proto, intPort, intClient) },
            unsafe { c_string(leaseTime) },
        ) else {
            return UPNPCOMMAND_INVALID_ARGS;
        };
        args.push(("LeaseTime", lease));
        let nv = answer!(controlURL, servicetype, "AddPinhole", &refs(&args));
        let id = nv.get("UniqueID");
        if let Some(id) = id {
            // SAFETY: NULL or writable for 8 bytes.
            unsafe { put(uniqueID, 8, id) };
        }
        answered(&nv, id.is_some())
    })
}

/// UpdatePinhole.
///
/// # Safety
/// Every pointer is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn UPNP_UpdatePinhole(
    controlURL: *const c_char,
    servicetype: *const c_char,
    uniqueID: *const c_char,
    leaseTime: *const c_char,
) -> c_int {
    let args = || {
        // SAFETY: per the contract.
        unsafe { named(&[("UniqueID", uniqueID), ("NewLeaseTime", leaseTime)]) }
    };
    // SAFETY: forwarded contract.
    unsafe { simple(controlURL, servicetype, "UpdatePinhole", args) }
}

/// DeletePinhole.
///
/// # Safety
/// Every pointer is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn UPNP_DeletePinhole(
    controlURL: *const c_char,
    servicetype: *const c_char,
    uniqueID: *const c_char,
) -> c_int {
    let args = || {
        // SAFETY: per the contract.
        unsafe { named(&[("UniqueID", uniqueID)]) }
    };
    // SAFETY: forwarded contract.
    unsafe { simple(controlURL, servicetype, "DeletePinhole", args) }
}

/// An action on one pinhole whose answer is one number: `*out` from `field`.
///
/// # Safety
/// Strings are NULL or C strings; `out` NULL or writable.
unsafe fn pinhole_number(
    url: *const c_char,
    st: *const c_char,
    id: *const c_char,
    action: &str,
    field: &str,
    out: *mut c_int,
) -> c_int {
    guard(UPNPCOMMAND_UNKNOWN_ERROR, || {
        // SAFETY: per the contract.
        let Some(args) = (unsafe { named(&[("UniqueID", id)]) }) else {
            return UPNPCOMMAND_INVALID_ARGS;
        };
        let nv = answer!(url, st, action, &refs(&args));
        let v = nv.get(field);
        // SAFETY: NULL or writable.
        unsafe { put_int(out, v.or(Some(b"0"))) };
        answered(&nv, v.is_some())
    })
}

/// CheckPinholeWorking: `*isWorking`.
///
/// # Safety
/// Strings are NULL or C strings; `isWorking` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn UPNP_CheckPinholeWorking(
    controlURL: *const c_char,
    servicetype: *const c_char,
    uniqueID: *const c_char,
    isWorking: *mut c_int,
) -> c_int {
    // SAFETY: forwarded contract.
    unsafe {
        pinhole_number(
            controlURL,
            servicetype,
            uniqueID,
            "CheckPinholeWorking",
            "IsWorking",
            isWorking,
        )
    }
}

/// GetPinholePackets: `*packets`.
///
/// # Safety
/// Strings are NULL or C strings; `packets` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn UPNP_GetPinholePackets(
    controlURL: *const c_char,
    servicetype: *const c_char,
    uniqueID: *const c_char,
    packets: *mut c_int,
) -> c_int {
    // SAFETY: forwarded contract.
    unsafe {
        pinhole_number(
            controlURL,
            servicetype,
            uniqueID,
            "GetPinholePackets",
            "PinholePackets",
            packets,
        )
    }
}

/// The static English text of a `UPNPCOMMAND_*` / `UPNPDISCOVER_*` code or UPnP error.
pub fn error_text(err: c_int) -> &'static CStr {
    match err {
        0 => c"Success",
        -1 => c"Miniupnpc Unknown Error",
        -2 => c"Miniupnpc Invalid Arguments",
        -4 => c"Miniupnpc Invalid response",
        -3 => c"Miniupnpc HTTP error",
        -101 => c"Miniupnpc Socket error",
        -102 | -5 => c"Miniupnpc Memory allocation error",
        401 => c"Invalid Action",
        402 => c"Invalid Args",
        501 => c"Action Failed",
        606 => c"Action not authorized",
        701 => c"PinholeSpaceExhausted",
        702 => c"FirewallDisabled",
        703 => c"InboundPinholeNotAllowed",
        704 => c"NoSuchEntry",
        705 => c"ProtocolNotSupported",
        706 => c"InternalPortWildcardingNotAllowed",
        707 => c"ProtocolWildcardingNotAllowed",
        708 => c"InvalidLayer2Address",
        709 => c"NoPacketSent",
        713 => c"SpecifiedArrayIndexInvalid",
        714 => c"NoSuchEntryInArray",
        715 => c"WildCardNotPermittedInSrcIP",
        716 => c"WildCardNotPermittedInExtPort",
        718 => c"ConflictInMappingEntry",
        724 => c"SamePortValuesRequired",
        725 => c"OnlyPermanentLeasesSupported",
        726 => c"RemoteHostOnlySupportsWildcard",
        727 => c"ExternalPortOnlySupportsWildcard",
        _ => c"UnknownError",
    }
}

/// A static string describing `err` (never free it).
#[no_mangle]
pub extern "C" fn strupnperror(err: c_int) -> *const c_char {
    guard(c"UnknownError".as_ptr(), || error_text(err).as_ptr())
}
