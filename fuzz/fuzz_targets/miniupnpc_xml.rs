//! Fuzzes the drop-in libminiupnpc's XML scanner and the three readers on it: root
//! descriptions (`parserootdesc`), SOAP answers (`ParseNameValue`) and port listings
//! (`ParsePortListing`). Every fixed-size field must stay NUL-terminated.
#![no_main]

use libfuzzer_sys::fuzz_target;
use miniupnpc::types::IGDdatas;
use miniupnpc::xml::{parse_root_desc, Listing, NameValues};

fuzz_target!(|data: &[u8]| {
    let mut desc = IGDdatas::default();
    parse_root_desc(data, &mut desc);
    for field in [
        &desc.urlbase[..],
        &desc.presentationurl[..],
        &desc.first.controlurl[..],
        &desc.first.servicetype[..],
        &desc.CIF.controlurl[..],
        &desc.IPv6FC.controlurl[..],
    ] {
        assert!(field.contains(&0), "field lost its terminating NUL");
    }

    let answer = NameValues::parse(data);
    let _ = answer.error_code();
    if let Some(listing) = &answer.port_listing {
        let _ = Listing::parse(listing);
    }
    let _ = Listing::parse(data);
});
