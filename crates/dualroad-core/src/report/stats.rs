//! The two statistics a report rests on: the Wilson score interval of a match rate and
//! latency quantiles from a bounded-memory histogram.
//!
//! Both are pure and allocation-light: the aggregation (`aggregate`) keeps one
//! [`LatencyHistogram`] per stack per agency × service, so memory depends on how many
//! services there are, never on how many exchanges were stored.

use std::collections::BTreeMap;

/// z for a two-sided 95 % interval (the 97.5th percentile of the standard normal).
pub const Z_95: f64 = 1.959_963_984_540_054;

/// The Wilson score interval for `successes` out of `trials` at normal quantile `z`:
/// `(lower, upper)`, both within `[0, 1]`. `None` without trials.
///
/// Chosen over the textbook `p ± z·√(p(1−p)/n)` because that one collapses to a
/// zero-width interval at 100 % (or 0 %) matches, exactly where a migration report
/// needs to say "1 000 of 1 000 matched, so the true rate is at least 99.6 %".
pub fn wilson(successes: u64, trials: u64, z: f64) -> Option<(f64, f64)> {
    if trials == 0 {
        return None;
    }
    let n = trials as f64;
    let p = successes.min(trials) as f64 / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// Growth factor between consecutive histogram buckets.
pub const HISTOGRAM_GROWTH: f64 = 1.02;
/// Smallest latency told apart (ms); anything at or below falls in the first bucket.
pub const HISTOGRAM_MIN_MS: f64 = 0.01;
/// Largest latency told apart (ms, ten minutes); anything above falls in the last bucket.
pub const HISTOGRAM_MAX_MS: f64 = 600_000.0;
/// The most a reported quantile can be off, relative to the exact sample quantile
/// (for latencies within `HISTOGRAM_MIN_MS..=HISTOGRAM_MAX_MS`): a bucket spans a
/// factor of [`HISTOGRAM_GROWTH`] and a quantile is reported as its geometric middle,
/// so the error is at most `√1.02 − 1`, just under 1 %.
pub const HISTOGRAM_RELATIVE_ERROR: f64 = 0.01;

/// A log-bucketed latency histogram, sparse: at most about 900 buckets exist (from
/// 0.01 ms to 10 min at 2 % steps), and only the ones hit are stored. Quantiles are
/// nearest-rank quantiles of the samples, within [`HISTOGRAM_RELATIVE_ERROR`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatencyHistogram {
    buckets: BTreeMap<u16, u64>,
    count: u64,
    /// Exact extremes, so p0/p100 and single-sample histograms are not rounded.
    min: f64,
    max: f64,
}

fn bucket_of(ms: f64) -> u16 {
    if ms <= HISTOGRAM_MIN_MS {
        return 0;
    }
    let ms = ms.min(HISTOGRAM_MAX_MS);
    let i = ((ms / HISTOGRAM_MIN_MS).ln() / HISTOGRAM_GROWTH.ln()).ceil();
    i.clamp(0.0, f64::from(u16::MAX)) as u16
}

/// The geometric middle of bucket `i`: `(min·g^(i−1), min·g^i]`.
fn bucket_value(i: u16) -> f64 {
    if i == 0 {
        return HISTOGRAM_MIN_MS;
    }
    HISTOGRAM_MIN_MS * HISTOGRAM_GROWTH.powf(f64::from(i) - 0.5)
}

impl LatencyHistogram {
    pub fn new() -> LatencyHistogram {
        LatencyHistogram::default()
    }

    /// Adds one latency in milliseconds. Returns false (and adds nothing) for a value
    /// that is not a latency: NaN (how the store keeps an unknown one), negative, ∞.
    pub fn record(&mut self, ms: f64) -> bool {
        if !ms.is_finite() || ms < 0.0 {
            return false;
        }
        *self.buckets.entry(bucket_of(ms)).or_insert(0) += 1;
        if self.count == 0 {
            self.min = ms;
            self.max = ms;
        } else {
            self.min = self.min.min(ms);
            self.max = self.max.max(ms);
        }
        self.count += 1;
        true
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Buckets in use (the memory this histogram holds).
    pub fn buckets(&self) -> usize {
        self.buckets.len()
    }

    /// The nearest-rank `q` quantile (`0.0..=1.0`), `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let q = if q.is_nan() { 0.5 } else { q.clamp(0.0, 1.0) };
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        // The extremes are known exactly.
        if rank == 1 {
            return Some(self.min);
        }
        if rank == self.count {
            return Some(self.max);
        }
        let mut seen = 0u64;
        for (&i, &n) in &self.buckets {
            seen += n;
            if seen >= rank {
                // Never outside what was actually seen.
                return Some(bucket_value(i).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_published_values() {
        // Newcombe (1998), "Two-sided confidence intervals for the single proportion",
        // Table I, method 3 (score interval without continuity correction), 4 places.
        let cases = [
            ((81, 263), (0.2553, 0.3662)),
            ((15, 148), (0.0624, 0.1605)),
            ((0, 20), (0.0, 0.1611)),
            ((1, 29), (0.0061, 0.1718)),
            // And the textbook 8 of 10.
            ((8, 10), (0.4902, 0.9433)),
        ];
        let r4 = |v: f64| (v * 1e4).round() / 1e4;
        for ((x, n), want) in cases {
            let (l, h) = wilson(x, n, Z_95).expect("trials");
            assert_eq!((r4(l), r4(h)), want, "{x}/{n}");
        }
        // All matched: the interval does not collapse to 100 %.
        let (l, h) = wilson(1000, 1000, Z_95).expect("trials");
        assert_eq!((r4(l), h), (0.9962, 1.0));
        assert_eq!(wilson(0, 0, Z_95), None);
    }

    #[test]
    fn histogram_quantiles_stay_within_the_stated_error() {
        let mut h = LatencyHistogram::new();
        let mut exact = Vec::new();
        // A skewed distribution over four orders of magnitude.
        for i in 0..10_000u64 {
            let v = 0.5 + (i % 997) as f64 * ((i % 13) as f64 + 1.0) * 0.37;
            h.record(v);
            exact.push(v);
        }
        exact.sort_by(f64::total_cmp);
        for q in [0.5, 0.95, 0.99, 0.999, 0.0, 1.0] {
            let rank = ((q * exact.len() as f64).ceil() as usize).clamp(1, exact.len());
            let want = exact[rank - 1];
            let got = h.quantile(q).expect("samples");
            assert!(
                (got - want).abs() <= want * HISTOGRAM_RELATIVE_ERROR,
                "q={q}: {got} vs exact {want}"
            );
        }
        assert!(h.buckets() < 900, "{}", h.buckets());
    }

    #[test]
    fn histogram_skips_what_is_not_a_latency() {
        let mut h = LatencyHistogram::new();
        assert!(!h.record(f64::NAN));
        assert!(!h.record(-1.0));
        assert!(!h.record(f64::INFINITY));
        assert_eq!(h.quantile(0.5), None);
        assert!(h.record(0.0));
        assert!(h.record(1e9));
        assert_eq!(h.count(), 2);
        assert_eq!(h.quantile(0.0), Some(0.0));
        assert_eq!(h.quantile(1.0), Some(1e9));
    }
}
