//! Fuzzes every parse entry point of `portgate_proto::stun` (RFC 5389).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portgate_proto::stun::{split_message_type, BindingRequest, BindingResponse, Message};

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::parse(data) {
        let mut out = Vec::new();
        message.emit(&mut out);
        assert_eq!(out.len(), message.buffer_len());
        assert_eq!(out, message.to_bytes());
        assert_eq!(Message::parse(&out).as_ref(), Ok(&message));
        for raw in &message.attributes {
            let _ = raw.is_comprehension_required();
            let _ = message.attribute(raw.typ);
        }
    }
    if let Ok(request) = BindingRequest::parse(data) {
        let mut out = Vec::new();
        request.emit(&mut out);
        assert_eq!(out.len(), request.buffer_len());
        assert_eq!(BindingRequest::parse(&out).as_ref(), Ok(&request));
    }
    if let Ok(response) = BindingResponse::parse(data) {
        let _ = response.mapped_address();
        let _ = response.matches(&response.transaction_id);
        let mut out = Vec::new();
        response.emit(&mut out);
        assert_eq!(out.len(), response.buffer_len());
        assert_eq!(BindingResponse::parse(&out).as_ref(), Ok(&response));
    }
    if let [a, b, ..] = data {
        let _ = split_message_type(u16::from_be_bytes([*a, *b]));
    }
});
