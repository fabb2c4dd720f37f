//! Fuzzes the request side of `portgate_proto::http` (RFC 9112): head parsing, the
//! incremental framer a server runs, Host checking and URL parsing.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use portgate_proto::http::{check_host, Event, HttpUrl, RequestDecoder, RequestHead};

fuzz_target!(|data: &[u8]| {
    if let Ok((head, len)) = RequestHead::parse_with_len(data) {
        assert!(len <= data.len());
        let mut out = Vec::new();
        head.emit(&mut out);
        assert_eq!(RequestHead::parse(&out).as_ref(), Ok(&head));
        let _ = head.keep_alive();
        let _ = head.check_host(None);
        let _ = head.check_host(Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))));
        if let Ok(url) = HttpUrl::parse(&head.target) {
            let _ = url.authority();
            let _ = url.to_string();
        }
        let mut with_body = Vec::new();
        head.emit_with_body(&data[len..], &mut with_body);
        let _ = RequestHead::parse(&with_body);
    }

    // The whole input as text: URL parsing and joining, Host checking.
    let text = String::from_utf8_lossy(data);
    let _ = check_host(&text, None);
    let _ = check_host(&text, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    if let Some((base, reference)) = text.split_once('\n') {
        if let Ok(url) = HttpUrl::parse(base) {
            // A URL's text form must parse back to the same URL.
            assert_eq!(HttpUrl::parse(&url.to_string()).as_ref(), Ok(&url));
            let _ = url.join(reference);
        }
    } else if let Ok(url) = HttpUrl::parse(&text) {
        assert_eq!(HttpUrl::parse(&url.to_string()).as_ref(), Ok(&url));
    }

    frame(data);
});

/// Runs the server's framer over `data`, fed in chunks sized by the first byte.
fn frame(data: &[u8]) {
    let chunk = usize::from(data.first().copied().unwrap_or(0) % 64) + 1;
    let mut decoder = RequestDecoder::default();
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
            Ok(Event::Head(_)) | Ok(Event::Complete { .. }) => {}
            Ok(Event::End) | Err(_) => return,
        }
    }
    panic!("request framer does not terminate");
}
