//! Fuzzes every parse entry point of `portgate_proto::gena` (UDA 1.1 §4):
//! SUBSCRIBE/UNSUBSCRIBE requests, subscription responses, NOTIFY heads, the
//! CALLBACK and TIMEOUT fields and the event `propertyset` body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portgate_proto::gena::propertyset::PropertySet;
use portgate_proto::gena::{parse_callbacks, GenaRequest, NotifyHead, SubscribeResponse, Timeout};
use portgate_proto::http::{RequestHead, ResponseHead};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = GenaRequest::parse(data) {
        let mut out = Vec::new();
        request.emit(&mut out);
        assert_eq!(GenaRequest::parse(&out).as_ref(), Ok(&request));
        let _ = request.to_head();
    }
    if let Ok(head) = RequestHead::parse(data) {
        if let Err(e) = GenaRequest::from_head(&head) {
            let _ = e.to_string();
        }
        let _ = NotifyHead::from_head(&head);
    }
    if let Ok(head) = ResponseHead::parse(data) {
        let _ = SubscribeResponse::from_head(&head);
    }
    if let Ok(response) = SubscribeResponse::parse(data) {
        let mut out = Vec::new();
        response.emit(&mut out);
        assert_eq!(SubscribeResponse::parse(&out).as_ref(), Ok(&response));
    }
    if let Ok(notify) = NotifyHead::parse(data) {
        let mut out = Vec::new();
        notify.emit(&mut out);
        assert_eq!(NotifyHead::parse(&out).as_ref(), Ok(&notify));
    }
    if let Ok(set) = PropertySet::parse(data) {
        let mut out = Vec::new();
        set.emit(&mut out);
        assert_eq!(PropertySet::parse(&out).as_ref(), Ok(&set));
        if let Some((name, _)) = set.properties.first() {
            let _ = set.get(name);
        }
    }

    let text = String::from_utf8_lossy(data);
    if let Ok(callbacks) = parse_callbacks(&text) {
        for callback in &callbacks {
            let _ = callback.host_ip();
        }
    }
    if let Some(timeout) = Timeout::from_value(&text) {
        assert_eq!(Timeout::from_value(&timeout.to_string()), Some(timeout));
    }
});
