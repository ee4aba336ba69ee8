//! Dialect detection + header decode (src/wire/codec/) over the SOAP scanner and the
//! message parser, in both families and both kinds, then re-encoding the decoded header
//! into its own dialect. Nothing may panic; every error is a typed `WireError`.
#![no_main]

use dualroad::wire::codec::{self, Family, Kind};
use dualroad::wire::message::Message;
use dualroad_fuzz::{input, MAX_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = Message::parse(input(data), MAX_BYTES) else {
        return;
    };
    let _ = msg.action();
    for family in [Family::Legacy, Family::Uxp] {
        let Ok(dialect) = codec::detect(&msg.env, family) else {
            continue;
        };
        for kind in [Kind::Request, Kind::Response] {
            if let Ok((header, layout)) = codec::decode(&msg.env, dialect, kind) {
                let _ = header.lossy_fields();
                let _ = layout.elements.len();
            }
        }
    }
});
