//! Requests in both directions: `request_to_uxp` (legacy client → UXP) and
//! `request_to_legacy` (UXP client → legacy), with the repository's mappings, plus the
//! identity re-encode and the rescue that builds the client's fault. Every error must
//! carry an X-Road-style fault code.
#![no_main]

use dualroad::translate::{self, Options};
use dualroad::wire::codec::Family;
use dualroad_fuzz::{input, mappings};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let maps = mappings();
    let opts = Options::default();
    let inp = input(data);
    for r in [
        translate::request_to_uxp(maps, &opts, inp),
        translate::request_to_legacy(maps, &opts, inp),
    ] {
        match r {
            Ok(t) => {
                let _ = t.summary();
            }
            Err(e) => assert!(e.fault_code().as_str().contains('.'), "{e}"),
        }
    }
    let _ = translate::identity(inp, Family::Legacy, &opts);
    let _ = translate::identity(inp, Family::Uxp, &opts);
    let _ = translate::rescue_for(inp, Family::Legacy, &opts);
    let _ = translate::rescue_for(inp, Family::Uxp, &opts);
});
