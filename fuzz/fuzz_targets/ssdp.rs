//! Fuzzes every parse entry point of `portgate_proto::ssdp` (UDA 1.1 §1).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portgate_proto::ssdp::{
    parse_max_age, MSearch, Notify, SearchResponse, SearchTarget, SsdpMessage, Usn,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = SsdpMessage::parse(data) {
        let mut out = Vec::new();
        message.emit(&mut out);
        assert_eq!(SsdpMessage::parse(&out).as_ref(), Ok(&message));
    }
    if let Ok(search) = MSearch::parse(data) {
        let _ = search.mx.reply_window_secs();
        let _ = search.man.is_discover();
        let mut out = Vec::new();
        search.emit(&mut out);
        assert_eq!(MSearch::parse(&out).as_ref(), Ok(&search));
    }
    if let Ok(notify) = Notify::parse(data) {
        let _ = notify.to_byebye();
        let mut out = Vec::new();
        notify.emit(&mut out);
        assert_eq!(Notify::parse(&out).as_ref(), Ok(&notify));
    }
    if let Ok(response) = SearchResponse::parse(data) {
        let mut out = Vec::new();
        response.emit(&mut out);
        assert_eq!(SearchResponse::parse(&out).as_ref(), Ok(&response));
    }

    // Field-level helpers on the input as one header value.
    let text = String::from_utf8_lossy(data);
    let _ = parse_max_age(&text);
    let target = SearchTarget::from_value(&text);
    let _ = target.to_string();
    if let SearchTarget::Urn(urn) = &target {
        let _ = urn.is_answered_by(urn);
    }
    let usn = Usn(text.into_owned());
    let _ = usn.uuid();
    let _ = usn.suffix();
});
