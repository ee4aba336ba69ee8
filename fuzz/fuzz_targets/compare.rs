//! The canonical SOAP comparer (src/shadow `compare`): two answers split from the data
//! (`primary SPLIT shadow`), compared with default rules, then rendered as the report
//! does. Any input pair yields a `Comparison`, never a panic.
#![no_main]

use dualroad::shadow::{compare, Date, Options, Rules};
use dualroad_fuzz::{input, two};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let rules = Rules::default();
    let Some(today) = Date::new(2026, 1, 1) else {
        return;
    };
    let opts = Options::new(&rules, today);
    let (a, b) = two(data);
    let c = compare(input(a), input(b), &opts);
    let _ = c.is_match();
    let _ = format!("{c:?}");
});
