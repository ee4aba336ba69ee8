//! Responses in both directions: `Translator::response_to_legacy` (UXP response for a
//! legacy client's request) and `Translator::response_to_uxp` (legacy response for a
//! UXP client's request). The data is `response SPLIT request` (see `dualroad_fuzz::two`).
#![no_main]

use dualroad::translate::{Options, Translator};
use dualroad_fuzz::{input, mappings, two};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let tr = Translator::new(mappings(), Options::default());
    let (resp, req) = two(data);
    let (resp, req) = (input(resp), input(req));
    for r in [
        tr.response_to_legacy(resp, req),
        tr.response_to_uxp(resp, req),
    ] {
        match r {
            Ok(t) => {
                let _ = t.summary();
            }
            Err(e) => assert!(e.fault_code().as_str().contains('.'), "{e}"),
        }
    }
});
