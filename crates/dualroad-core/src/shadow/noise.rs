//! Noise calibration, after Diffy's primary/secondary design: a sampled read request is
//! sent to the *primary* stack twice, and the paths where those two answers differ are
//! non-deterministic on the known-good stack itself (timestamps, generated ids, counters).
//! Differences on such paths between primary and shadow are then not the shadow stack's
//! fault: the comparator ([`super::compare`](mod@super::compare)) reports them in
//! `Comparison::noise`, not in `diffs`.
//!
//! Where it sits: the mirror, for `read` services with `calibrate > 0`, compares the two
//! primary answers with `compare::Options::calibration` and feeds the result to
//! `NoiseModel::learn` ([`super::calibrate`], which owns learning so that this module,
//! the model the comparator reads, does not depend on the comparator); the model is
//! stored (serde) and handed to later comparisons.
//!
//! Only two *successful* primary answers teach anything: a pair in which either answer
//! is a SOAP fault, not well-formed, has a failing HTTP status or never came (a failed
//! call) differs everywhere for reasons that are not noise, and learning it would make
//! every path of the service noise — a UXP stack diverging on every answer would then
//! be recorded as `match`. Such a pair is counted in [`NoiseModel::errors`] (shown in
//! reports) and never learned (`NoiseModel::calibrate`).
//!
//! The model is plain data: per path (aggregation key, as in `PathDiff::path`), how many
//! calibration pairs differed there, out of how many pairs. A path is noise as soon as
//! it (or an ancestor: a whole subtree can be volatile) differed once. For reports,
//! [`NoiseModel::is_significant`] applies Diffy's thresholds to rates, so a field where
//! the shadow differs far more often than the primary differs from itself is still
//! flagged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::wire::message::Input;

/// Most paths a model tracks; beyond, differences are only counted in `dropped`, so a
/// stack that answers randomly cannot grow the stored model without bound.
pub const DEFAULT_MAX_NOISE_PATHS: usize = 4096;
/// Diffy's `threshold.relative` (percent): |raw − noise| / (raw + noise) · 100 must exceed it.
pub const DEFAULT_RELATIVE_THRESHOLD: f64 = 20.0;
/// Diffy's `threshold.absolute` (percentage points): |raw − noise| must exceed it.
pub const DEFAULT_ABSOLUTE_THRESHOLD: f64 = 0.03;

/// Learned noise: per path, how many primary-vs-primary pairs differed there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoiseModel {
    /// Calibration pairs learned from.
    pairs: u64,
    /// Pairs that differed, per path.
    paths: BTreeMap<String, u64>,
    /// Path differences not tracked because the model was full.
    #[serde(default)]
    dropped: u64,
    /// Calibration pairs not learned from: a fault, an unreadable answer, a failing
    /// status or a failed call on either side.
    #[serde(default)]
    errors: u64,
}

/// One of the two primary answers of a calibration pair.
#[derive(Debug, Clone, Copy)]
pub struct CalibrationAnswer<'a> {
    /// HTTP status.
    pub status: u16,
    pub input: Input<'a>,
}

/// Why a calibration pair was not learned from (`NoiseModel::calibrate`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalibrationError {
    #[error("the {which} call failed: {detail}")]
    Failed { which: &'static str, detail: String },
    #[error("the {which} answer is a SOAP fault ({code})")]
    Fault { which: &'static str, code: String },
    #[error("the {which} answer is not well-formed SOAP: {detail}")]
    Unreadable { which: &'static str, detail: String },
    #[error("the {which} answer has HTTP status {status}")]
    Status { which: &'static str, status: u16 },
}

impl NoiseModel {
    pub fn new() -> NoiseModel {
        NoiseModel::default()
    }

    /// Counts one calibration pair that was not learned from.
    pub fn record_error(&mut self) {
        self.errors += 1;
    }

    /// Calibration pairs not learned from (a fault, unreadable, failed call).
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// Counts one calibration pair whose answers differed at `paths` (each once).
    pub fn learn_paths<'p>(&mut self, paths: impl IntoIterator<Item = &'p str>) {
        self.pairs += 1;
        for p in paths {
            if let Some(n) = self.paths.get_mut(p) {
                *n += 1;
            } else if self.paths.len() < DEFAULT_MAX_NOISE_PATHS {
                self.paths.insert(p.to_string(), 1);
            } else {
                self.dropped += 1;
            }
        }
    }

    /// Adds another model's counts (e.g. from another gateway instance).
    pub fn merge(&mut self, other: &NoiseModel) {
        self.pairs += other.pairs;
        self.dropped += other.dropped;
        self.errors += other.errors;
        for (p, n) in &other.paths {
            if let Some(m) = self.paths.get_mut(p) {
                *m += n;
            } else if self.paths.len() < DEFAULT_MAX_NOISE_PATHS {
                self.paths.insert(p.clone(), *n);
            } else {
                self.dropped += n;
            }
        }
    }

    pub fn pairs(&self) -> u64 {
        self.pairs
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Pairs that differed exactly at `path`.
    pub fn count(&self, path: &str) -> u64 {
        self.paths.get(path).copied().unwrap_or(0)
    }

    /// Learned paths and their counts, sorted by path.
    pub fn paths(&self) -> impl Iterator<Item = (&str, u64)> {
        self.paths.iter().map(|(p, n)| (p.as_str(), *n))
    }

    /// Whether `path` or one of its ancestors differed between two primary answers.
    pub fn is_noise(&self, path: &str) -> bool {
        if self.paths.is_empty() {
            return false;
        }
        let mut p = path;
        loop {
            if self.paths.contains_key(p) {
                return true;
            }
            match p.rfind('/') {
                Some(i) => p = p.get(..i).unwrap_or(""),
                None => return false,
            }
        }
    }

    /// Percentage of calibration pairs that differed at `path` or an ancestor.
    pub fn rate(&self, path: &str) -> f64 {
        if self.pairs == 0 {
            return 0.0;
        }
        let mut worst = 0u64;
        let mut p = path;
        loop {
            worst = worst.max(self.count(p));
            match p.rfind('/') {
                Some(i) => p = p.get(..i).unwrap_or(""),
                None => break,
            }
        }
        worst as f64 * 100.0 / self.pairs as f64
    }

    /// Diffy's filter, on rates: is a field where the shadow differed `raw_diffs` times
    /// out of `raw_total` comparisons a real regression despite its noise? True when
    /// the raw rate exceeds the noise rate by [`DEFAULT_RELATIVE_THRESHOLD`] (relative)
    /// and [`DEFAULT_ABSOLUTE_THRESHOLD`] (absolute).
    pub fn is_significant(&self, path: &str, raw_diffs: u64, raw_total: u64) -> bool {
        if raw_total == 0 {
            return false;
        }
        let raw = raw_diffs as f64 * 100.0 / raw_total as f64;
        let noise = self.rate(path);
        let delta = (raw - noise).abs();
        raw > noise
            && delta / (raw + noise) * 100.0 > DEFAULT_RELATIVE_THRESHOLD
            && delta > DEFAULT_ABSOLUTE_THRESHOLD
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_count_and_model_round_trips() {
        let mut m = NoiseModel::new();
        m.learn_paths(["Body/r/generatedAt", "Body/r/trace"]);
        m.learn_paths(["Body/r/generatedAt"]);
        assert_eq!(m.pairs(), 2);
        assert_eq!(m.count("Body/r/generatedAt"), 2);
        assert!(m.is_noise("Body/r/generatedAt"));
        assert!(m.is_noise("Body/r/trace/@id"));
        assert!(m.is_noise("Body/r/trace/span/start"));
        assert!(!m.is_noise("Body/r"));
        assert!(!m.is_noise("Body/r/generated"));
        assert_eq!(m.rate("Body/r/trace/span"), 50.0);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<NoiseModel>(&json).unwrap(), m);
        let mut twice = m.clone();
        twice.merge(&m);
        assert_eq!(twice.count("Body/r/generatedAt"), 4);
        assert_eq!(twice.pairs(), 4);
    }

    #[test]
    fn diffy_filter_keeps_fields_far_above_their_noise() {
        let mut m = NoiseModel::new();
        for i in 0..100 {
            if i < 10 {
                m.learn_paths(["Body/r/status"]);
            } else {
                m.learn_paths([]);
            }
        }
        // Noise 10 %; the shadow differs 80 % of the time: a regression.
        assert!(m.is_significant("Body/r/status", 80, 100));
        // 11 % vs 10 %: within the noise.
        assert!(!m.is_significant("Body/r/status", 11, 100));
        // Never seen as noise: any difference is significant.
        assert!(m.is_significant("Body/r/name", 1, 100));
        assert!(!m.is_significant("Body/r/name", 0, 100));
    }

    #[test]
    fn the_model_is_bounded() {
        let mut m = NoiseModel::new();
        let paths: Vec<String> = (0..DEFAULT_MAX_NOISE_PATHS + 10)
            .map(|i| format!("Body/p{i}"))
            .collect();
        m.learn_paths(paths.iter().map(String::as_str));
        assert_eq!(m.paths().count(), DEFAULT_MAX_NOISE_PATHS);
        assert_eq!(m.dropped(), 10);
    }
}
