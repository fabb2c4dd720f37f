//! Fuzzes every parse entry point of `portgate_proto::natpmp` (RFC 6886).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portgate_proto::natpmp::{Request, RequestHeader, Response};

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = RequestHeader::peek(data) {
        // The server's early error reply must itself be a parseable response.
        if let Some(reply) = header.error_response(0x1234_5678) {
            let bytes = reply.to_bytes();
            assert_eq!(bytes.len(), reply.buffer_len());
            assert_eq!(Response::parse(&bytes), Ok(reply));
        }
    }

    if let Ok(request) = Request::parse(data) {
        let mut out = Vec::new();
        request.emit(&mut out);
        assert_eq!(out.len(), request.buffer_len());
        assert_eq!(out, request.to_bytes());
        assert_eq!(Request::parse(&out), Ok(request));
    }

    if let Ok(response) = Response::parse(data) {
        let mut out = Vec::new();
        response.emit(&mut out);
        assert_eq!(out.len(), response.buffer_len());
        assert_eq!(Response::parse(&out), Ok(response));
    }
});
