//! Requests in both directions: `Translator::request_to_uxp` (legacy client → UXP) and
//! `Translator::request_to_legacy` (UXP client → legacy), with the repository's
//! mappings, plus the identity re-encode and the rescue that builds the client's fault
//! (`Options::identity`, `Options::rescue_for`). Every error must carry an X-Road-style
//! fault code.
#![no_main]

use dualroad::translate::{Options, Translator};
use dualroad::wire::codec::Family;
use dualroad_fuzz::{input, mappings};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = Options::default();
    let tr = Translator::new(mappings(), opts);
    let inp = input(data);
    for r in [tr.request_to_uxp(inp), tr.request_to_legacy(inp)] {
        match r {
            Ok(t) => {
                let _ = t.summary();
            }
            Err(e) => assert!(e.fault_code().as_str().contains('.'), "{e}"),
        }
    }
    let _ = opts.identity(inp, Family::Legacy);
    let _ = opts.identity(inp, Family::Uxp);
    let _ = opts.rescue_for(inp, Family::Legacy);
    let _ = opts.rescue_for(inp, Family::Uxp);
});
