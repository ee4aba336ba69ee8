//! Inputs the cargo-fuzz targets (`fuzz/`, `scripts/fuzz.sh`) found crashing or hanging,
//! kept under `fixtures/fuzz/<target>/` and replayed here through the same calls as
//! the target, in the same framing (`fuzz/src/lib.rs`). Each must now finish with a
//! typed result; a worker thread with a generous hang guard catches a regression to an
//! endless loop without making the test a timing assertion.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use dualroad::shadow::{self, Date, Rules};
use dualroad::translate::{Options, Translator};
use dualroad::wire::codec::{self, Family, Kind};
use dualroad::wire::message::{Input, Message};
use dualroad::wire::WireError;

use crate::support::{mappings, repo};

const SPLIT: &[u8] = b"\n--8<--\n";
const HANG_GUARD: Duration = Duration::from_secs(120);

fn framed(data: &[u8]) -> Input<'_> {
    if let Some(rest) = data.strip_prefix(b"CT:") {
        if let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            if let Ok(ct) = std::str::from_utf8(&rest[..nl]) {
                return Input::new(&rest[nl + 1..]).with_content_type(Some(ct));
            }
        }
    }
    Input::new(data)
}

fn two(data: &[u8]) -> (&[u8], &[u8]) {
    match data.windows(SPLIT.len()).position(|w| w == SPLIT) {
        Some(i) => (&data[..i], &data[i + SPLIT.len()..]),
        None => (data, &[]),
    }
}

fn artifacts(target: &str) -> Vec<PathBuf> {
    let dir = repo().join("fixtures/fuzz").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// Runs `f` on every artifact of `target` in a worker thread, under the hang guard.
fn replay(target: &str, f: fn(&Path, &[u8])) -> usize {
    let files = artifacts(target);
    for path in &files {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (tx, rx) = mpsc::channel();
        let p = path.clone();
        std::thread::spawn(move || {
            f(&p, &data);
            let _ = tx.send(());
        });
        match rx.recv_timeout(HANG_GUARD) {
            Ok(()) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("{}: still running after {HANG_GUARD:?}", path.display())
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic!("{}: panicked (see above)", path.display())
            }
        }
    }
    files.len()
}

/// The `decode` target: message parse, dialect detection and header decode.
fn decode(path: &Path, data: &[u8]) {
    let parsed = Message::parse(framed(data), 1 << 20);
    if path.to_string_lossy().contains("empty-element-name") {
        // `< S OAP-ENV:Fault>`: a start tag without a name made the Body check search
        // for the empty string forever.
        assert!(
            matches!(parsed, Err(WireError::InvalidXml(_))),
            "{}: {:?}",
            path.display(),
            parsed.as_ref().err()
        );
    }
    if let Ok(msg) = parsed {
        for family in [Family::Legacy, Family::Uxp] {
            if let Ok(dialect) = codec::detect(&msg.env, family) {
                for kind in [Kind::Request, Kind::Response] {
                    let _ = codec::decode(&msg.env, dialect, kind);
                }
            }
        }
    }
}

/// The translate targets, both request and both response directions.
fn translate_all(_: &Path, data: &[u8]) {
    let maps = mappings(&repo().join("mappings"));
    let tr = Translator::new(maps, Options::default());
    let (a, b) = two(data);
    let (a, b) = (framed(a), framed(b));
    for r in [
        tr.request_to_uxp(a),
        tr.request_to_legacy(a),
        tr.response_to_legacy(a, b),
        tr.response_to_uxp(a, b),
    ] {
        if let Err(e) = r {
            assert!(e.fault_code().as_str().contains('.'), "{e}");
        }
    }
}

fn compare(_: &Path, data: &[u8]) {
    let rules = Rules::default();
    let today = Date::new(2026, 1, 1).expect("a valid date");
    let (a, b) = two(data);
    let c = shadow::compare(framed(a), framed(b), &shadow::Options::new(&rules, today));
    let _ = c.is_match();
}

#[test]
fn fuzz_findings_replay_without_panic_or_hang() {
    let mut n = replay("decode", decode);
    // Every finding also goes through the other entry points: what hung the scanner
    // reaches it from translation and comparison too.
    for t in [
        "decode",
        "translate_request",
        "translate_response",
        "multipart",
        "compare",
    ] {
        n += replay(t, translate_all);
        n += replay(t, compare);
    }
    assert!(n >= 3, "the committed findings were replayed ({n} runs)");
}
