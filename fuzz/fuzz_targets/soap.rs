//! Fuzzes every parse entry point of `portgate_proto::soap` (UDA 1.1 §3) and the
//! bounded XML reader underneath it (`portgate_proto::xml`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portgate_proto::soap::{
    split_service_type, ControlResponse, SoapAction, SoapFault, SoapRequest, SoapResponse,
};
use portgate_proto::xml;

fuzz_target!(|data: &[u8]| {
    let _ = xml::parse(data, &xml::Limits::default());

    if let Ok(action) = SoapAction::parse(data) {
        let mut out = Vec::new();
        action.emit(&mut out);
        assert_eq!(SoapAction::parse(&out).as_ref(), Ok(&action));
        let _ = action.service_type();
        let _ = action.service_name();
    }

    if let Ok(request) = SoapRequest::parse(data) {
        let mut out = Vec::new();
        request.emit(&mut out);
        assert_eq!(SoapRequest::parse(&out).as_ref(), Ok(&request));
        let _ = request.soap_action();
    }

    if let Ok(response) = ControlResponse::parse(data) {
        let mut out = Vec::new();
        response.emit(&mut out);
        assert_eq!(ControlResponse::parse(&out).as_ref(), Ok(&response));
    }
    if let Ok(response) = SoapResponse::parse(data) {
        let mut out = Vec::new();
        response.emit(&mut out);
        assert_eq!(SoapResponse::parse(&out).as_ref(), Ok(&response));
    }
    if let Ok(fault) = SoapFault::parse(data) {
        let mut out = Vec::new();
        fault.emit(&mut out);
        assert_eq!(SoapFault::parse(&out).as_ref(), Ok(&fault));
    }

    let _ = split_service_type(&String::from_utf8_lossy(data));
});
