//! Fuzzes every parse entry point of `portgate_proto::minissdpd`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portgate_proto::minissdpd::{
    decode_varint, Decoded, Notification, Request, RequestDecoder, Response, ResponseDecoder,
    ResponseKind, MAX_STRING_LEN,
};

const KINDS: [ResponseKind; 4] = [
    ResponseKind::Version,
    ResponseKind::Entries,
    ResponseKind::Ack,
    ResponseKind::Notification,
];

fuzz_target!(|data: &[u8]| {
    let _ = decode_varint(data, MAX_STRING_LEN);
    let _ = decode_varint(data, usize::MAX);

    // Whole-buffer request parse: a success must survive emit + parse.
    if let Ok(request) = Request::parse(data) {
        let mut out = Vec::new();
        request.emit(&mut out);
        assert_eq!(Request::parse(&out).as_ref(), Ok(&request));
    }
    if let Ok(Some((request, used))) = Request::decode_prefix(data) {
        assert!(used <= data.len());
        let mut out = Vec::new();
        request.emit(&mut out);
        assert_eq!(Request::parse(&out).as_ref(), Ok(&request));
    }

    // The daemon's stream decoder, fed in two pieces split by the first byte.
    let split = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let (head, tail) = data.split_at(split);
    let mut decoder = RequestDecoder::new();
    decoder.feed(head);
    let mut sent = Vec::new();
    let mut finished = false;
    let mut done = false;
    // Each round yields a request (at least two bytes), feeds the tail once, or ends.
    for _ in 0..data.len() + 3 {
        match decoder.poll() {
            Ok(Decoded::Ready(request)) => sent.push(request),
            Ok(Decoded::NeedMore) => {
                assert!(!finished, "NeedMore after finish");
                decoder.feed(tail);
                decoder.finish();
                finished = true;
            }
            Ok(Decoded::Finished) | Err(_) => {
                done = true;
                break;
            }
        }
    }
    assert!(done, "request decoder does not make progress");

    // Responses of every shape, and push frames.
    for kind in KINDS {
        if let Ok(response) = Response::parse(kind, data) {
            let mut out = Vec::new();
            response.emit(&mut out);
            // Lossy UTF-8 replacement means the bytes may differ, but the value is stable.
            assert_eq!(Response::parse(kind, &out).as_ref(), Ok(&response));
        }
        let _ = Response::decode_prefix(kind, data);
    }
    if let Ok(note) = Notification::parse(data) {
        let mut out = Vec::new();
        note.emit(&mut out);
        assert_eq!(Notification::parse(&out).as_ref(), Ok(&note));
    }

    // The client's stream decoder, expecting replies to whatever requests were decoded.
    let mut client = ResponseDecoder::new();
    for request in &sent {
        client.sent(request);
    }
    client.feed(data);
    client.finish();
    for _ in 0..=data.len() {
        match client.poll() {
            Ok(Decoded::Ready(_)) => {}
            Ok(Decoded::NeedMore) => panic!("NeedMore after finish"),
            Ok(Decoded::Finished) | Err(_) => break,
        }
    }
});
