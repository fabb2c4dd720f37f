//! Fuzzes every parse entry point of `portgate_proto::description` (UDA 1.1 §2,
//! IGD:1, IGD:2): device descriptions as a control point reads them, the IGD:2
//! PortMappingList document, URL resolution and the daemon's path lookup.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portgate_proto::description::igd::IgdService;
use portgate_proto::description::portlist::parse_upnp_bool;
use portgate_proto::description::{resolve_url, DeviceDescription, HttpUrl, PortMappingList};

const LOCATION: &str = "http://10.0.0.1:5000/rootDesc.xml";

fuzz_target!(|data: &[u8]| {
    if let Ok(description) = DeviceDescription::parse(data, LOCATION) {
        let _ = description.devices();
        for service in description.services() {
            let _ = description.find_service(&service.service_type);
        }
        let _ = description.wan_connections();
        let _ = description.find_wan_connection();
    }
    if let Ok(list) = PortMappingList::parse(data) {
        let mut out = Vec::new();
        list.emit(&mut out);
        assert_eq!(PortMappingList::parse(&out).as_ref(), Ok(&list));
    }

    let text = String::from_utf8_lossy(data);
    let (base, reference) = text.split_once('\n').unwrap_or((LOCATION, &text));
    let _ = resolve_url(base, reference);
    let _ = HttpUrl::parse(&text);
    let _ = parse_upnp_bool(&text);
    let _ = IgdService::from_path(&text);
});
