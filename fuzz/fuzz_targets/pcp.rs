//! Fuzzes every parse entry point of `portgate_proto::pcp` (RFC 6887, RFC 7220).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portgate_proto::pcp::{
    error_response, parse_options, Request, Response, ResultCode, MAX_MESSAGE_LEN,
};

fuzz_target!(|data: &[u8]| {
    let _ = Request::parse(data);
    match Request::parse_server(data) {
        Ok(request) => {
            let mut out = Vec::new();
            request.emit(&mut out);
            assert_eq!(out.len(), request.buffer_len());
            assert_eq!(out, request.to_bytes());
            assert_eq!(Request::parse_server(&out), Ok(request));
        }
        Err(err) => {
            if let Some(result) = err.result_code() {
                // The server answers a rejected request from its own bytes; a client
                // must be able to read that answer.
                let reply = error_response(data, result, 30, 7);
                assert!(reply.len() >= 24 && reply.len() <= MAX_MESSAGE_LEN);
                assert_eq!(reply.len() % 4, 0);
                let parsed = Response::parse(&reply).expect("error response parses");
                assert_eq!(parsed.result, result);
            }
            let _ = err.into_decode_error();
        }
    }

    if let Ok(response) = Response::parse(data) {
        let mut out = Vec::new();
        response.emit(&mut out);
        assert_eq!(out.len(), response.buffer_len());
        assert_eq!(Response::parse(&out), Ok(response));
    }

    if let Ok(options) = parse_options(data) {
        let mut out = Vec::new();
        for option in &options {
            let before = out.len();
            option.emit(&mut out);
            assert_eq!(out.len() - before, option.buffer_len());
        }
        assert_eq!(parse_options(&out), Ok(options));
    }

    let _ = error_response(
        data,
        ResultCode::from(data.first().copied().unwrap_or(1)),
        0,
        0,
    );
});
