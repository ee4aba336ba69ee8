//! No input may panic the translation core. A deterministic mutation fuzzer (seeded
//! xorshift, no extra crates) mutates every fixture — byte flips, truncations, spliced
//! markup, duplicated ranges — and runs each mutant through every direction. Every
//! outcome must be a translation or a typed error with an X-Road fault code.
//! (The coverage-guided cargo-fuzz targets under `fuzz/` go further; see scripts/fuzz.sh.)

use dualroad::translate::{Options, Translator};
use dualroad::wire::codec::Family;
use dualroad::wire::message::Input;

use crate::support::{cases, mappings};

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const SPLICES: &[&[u8]] = &[
    b"<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>",
    b"&e;",
    b"<",
    b"</",
    b"]]>",
    b"<![CDATA[",
    b"\xff\xfe",
    b"xmlns:xrd=\"urn:other\"",
    b"<xrd:id>dup</xrd:id>",
    b"\r\n--",
    b"&#0;",
    b"&#x110000;",
];

fn mutate(rng: &mut XorShift, src: &[u8]) -> Vec<u8> {
    let mut v = src.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(5) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => {
                let n = rng.below(v.len() + 1);
                v.truncate(n);
            }
            2 => {
                let s = SPLICES[rng.below(SPLICES.len())];
                let at = rng.below(v.len() + 1);
                v.splice(at..at, s.iter().copied());
            }
            3 if !v.is_empty() => {
                let a = rng.below(v.len());
                let b = (a + rng.below(64)).min(v.len());
                let chunk = v[a..b].to_vec();
                let at = rng.below(v.len() + 1);
                v.splice(at..at, chunk);
            }
            _ if !v.is_empty() => {
                let a = rng.below(v.len());
                let b = (a + rng.below(32)).min(v.len());
                v.drain(a..b);
            }
            _ => {}
        }
    }
    v
}

#[test]
fn mutated_fixtures_never_panic() {
    let opts = Options::default();
    // scripts/fuzz-smoke.sh raises the count and varies the seed; CI uses the defaults.
    let factor: usize = std::env::var("DUALROAD_FUZZ_FACTOR")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let seed: u64 = std::env::var("DUALROAD_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_d0a1_7000_0001);
    println!("mutation fuzz: {factor}x, seed {seed}");
    let mut rng = XorShift(seed | 1);
    let mut runs = 0usize;
    for case in cases() {
        let maps = mappings(&case.mappings_dir());
        let src = case.bytes();
        let req = case.request_bytes().unwrap_or_default();
        for _ in 0..40 * factor {
            let m = mutate(&mut rng, &src);
            let ct = case.content_type.as_deref();
            let inp = Input::new(&m).with_content_type(ct);
            let reqi = Input::new(&req);
            let outcome = std::panic::catch_unwind(|| {
                let tr = Translator::new(maps, opts);
                let results = [
                    tr.request_to_uxp(inp),
                    tr.request_to_legacy(inp),
                    tr.response_to_legacy(inp, reqi),
                    tr.response_to_uxp(inp, reqi),
                    tr.response_to_legacy(reqi, inp),
                ];
                for r in results {
                    if let Err(e) = r {
                        let code = e.fault_code();
                        assert!(code.as_str().contains('.'), "bad code {code}");
                    }
                }
                let _ = opts.identity(inp, Family::Legacy);
                let _ = opts.identity(inp, Family::Uxp);
                let _ = opts.rescue_for(inp, Family::Legacy);
            });
            assert!(
                outcome.is_ok(),
                "panic on a mutant of {}:\n{}",
                case.name,
                String::from_utf8_lossy(&m)
            );
            runs += 1;
        }
    }
    assert!(runs > 1000, "only {runs} mutants");
}
