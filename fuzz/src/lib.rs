//! Shared input framing for the fuzz targets, so every target reads the fuzz bytes the
//! same way and the seed corpus (`fuzz/seeds/`, built by `scripts/fuzz.sh` from
//! `fixtures/messages`) stays human-readable:
//!
//! - a message may start with a line `CT:<content type>\n`; the rest is the body (no
//!   such line: no Content-Type, as a bare `text/xml` body is read);
//! - targets that need two messages split the data at the first [`SPLIT`] line.
//!
//! The same framing is used by `tests/it/fuzz_regressions.rs` to replay artifacts.

use std::sync::OnceLock;

use dualroad::mapping::Mappings;
use dualroad::wire::message::Input;

/// Separator between the two messages of a two-input target.
pub const SPLIT: &[u8] = b"\n--8<--\n";

/// Message size limit for the targets: well above every fixture, small enough that
/// libFuzzer's inputs (4 KiB by default) are never refused as too large.
pub const MAX_BYTES: usize = 1 << 20;

/// `(content type, body)` of one framed message.
pub fn framed(data: &[u8]) -> (Option<&str>, &[u8]) {
    if let Some(rest) = data.strip_prefix(b"CT:") {
        if let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            if let Ok(ct) = std::str::from_utf8(&rest[..nl]) {
                return (Some(ct), &rest[nl + 1..]);
            }
        }
    }
    (None, data)
}

/// An [`Input`] from one framed message.
pub fn input(data: &[u8]) -> Input<'_> {
    let (ct, body) = framed(data);
    Input::new(body).with_content_type(ct)
}

/// The data split at the first [`SPLIT`]; no separator: the second half is empty.
pub fn two(data: &[u8]) -> (&[u8], &[u8]) {
    match memfind(data, SPLIT) {
        Some(i) => (&data[..i], &data[i + SPLIT.len()..]),
        None => (data, &[]),
    }
}

fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The repository's `mappings/`, loaded once per process.
pub fn mappings() -> &'static Mappings {
    static MAPS: OnceLock<Mappings> = OnceLock::new();
    MAPS.get_or_init(|| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../mappings");
        match dualroad::mapping::load_dir(std::path::Path::new(dir)) {
            Ok(m) => m,
            Err(e) => panic!("fuzz setup: {dir}: {e}"),
        }
    })
}
