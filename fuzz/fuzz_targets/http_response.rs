//! Fuzzes the response side of `portgate_proto::http` (RFC 9112): head parsing and
//! the incremental framer a client runs (after GET and after HEAD).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portgate_proto::http::{Event, Method, ResponseDecoder, ResponseHead};

fuzz_target!(|data: &[u8]| {
    if let Ok((head, len)) = ResponseHead::parse_with_len(data) {
        assert!(len <= data.len());
        let mut out = Vec::new();
        head.emit(&mut out);
        assert_eq!(ResponseHead::parse(&out).as_ref(), Ok(&head));
        let _ = head.keep_alive();
        let mut with_body = Vec::new();
        head.emit_with_body(&data[len..], &mut with_body);
        let _ = ResponseHead::parse(&with_body);
    }
    frame(data, &Method::Get);
    frame(data, &Method::Head);
});

/// Runs the client's framer over `data`, fed in chunks sized by the first byte.
fn frame(data: &[u8], method: &Method) {
    let chunk = usize::from(data.first().copied().unwrap_or(0) % 64) + 1;
    let mut decoder = ResponseDecoder::default();
    decoder.expect_response_to(method);
    let mut pieces = data.chunks(chunk);
    let mut body = 0usize;
    let mut eof = false;
    for _ in 0..4 * data.len() + 64 {
        match decoder.poll() {
            Ok(Event::NeedMore) => match pieces.next() {
                Some(piece) => decoder.feed(piece),
                None => {
                    assert!(!eof, "NeedMore after end of input");
                    decoder.feed_eof();
                    eof = true;
                }
            },
            Ok(Event::Body(bytes)) => {
                assert!(!bytes.is_empty(), "empty body event");
                body += bytes.len();
                assert!(body <= data.len(), "more body than input");
            }
            Ok(Event::Head(_)) => decoder.expect_response_to(method),
            Ok(Event::Complete { .. }) => {}
            Ok(Event::End) | Err(_) => return,
        }
    }
    panic!("response framer does not terminate");
}
