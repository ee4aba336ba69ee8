//! Responses in both directions: `response_to_legacy` (UXP response for a legacy
//! client's request) and `response_to_uxp` (legacy response for a UXP client's
//! request). The data is `response SPLIT request` (see `dualroad_fuzz::two`).
#![no_main]

use dualroad::translate::{self, Options};
use dualroad_fuzz::{input, mappings, two};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let maps = mappings();
    let opts = Options::default();
    let (resp, req) = two(data);
    let (resp, req) = (input(resp), input(req));
    for r in [
        translate::response_to_legacy(maps, &opts, resp, req),
        translate::response_to_uxp(maps, &opts, resp, req),
    ] {
        match r {
            Ok(t) => {
                let _ = t.summary();
            }
            Err(e) => assert!(e.fault_code().as_str().contains('.'), "{e}"),
        }
    }
});
