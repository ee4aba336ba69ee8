//! `multipart/related` parsing (src/wire/multipart.rs) and the message layer over it
//! (src/wire/message.rs): Content-Type parameters, parts, root selection by `start`,
//! Content-ID lookup, root-part replacement and rebuilding the message. The content
//! type comes from the `CT:` line; without one a fixed boundary is used.
#![no_main]

use dualroad::wire::message::{Input, Message};
use dualroad::wire::multipart::{ContentType, Multipart};
use dualroad::wire::SoapVersion;
use dualroad_fuzz::{framed, MAX_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (ct, body) = framed(data);
    let ct_str = ct.unwrap_or("multipart/related; type=\"text/xml\"; boundary=b");
    let Ok(ct) = ContentType::parse(ct_str) else {
        return;
    };
    let _ = ct.charset();
    let _ = ct.is_multipart();
    if let Ok(boundary) = ct.multipart_boundary() {
        if let Ok(mp) = Multipart::parse(body, boundary) {
            for p in mp.parts() {
                let _ = p.content_id();
                let _ = p.content_type();
                let _ = body.get(p.headers_range());
                let _ = body.get(p.body_range());
            }
            if let Ok(root) = mp.root_index(ct.start()) {
                let _ = mp.try_replace_part_body(root, b"<e/>");
                let _ = mp.replace_part_body(root, b"");
            }
            let _ = mp.find_content_id("cid:a@b");
            let _ = (mp.preamble(), mp.epilogue());
        }
    }
    let inp = Input::new(body).with_content_type(Some(ct_str));
    if let Ok(msg) = Message::parse(inp, MAX_BYTES) {
        let soap = body.get(msg.soap_range.clone()).unwrap_or(&[]).to_vec();
        for v in [SoapVersion::Soap11, SoapVersion::Soap12] {
            let _ = msg.rebuild(soap.clone(), v);
        }
    }
});
