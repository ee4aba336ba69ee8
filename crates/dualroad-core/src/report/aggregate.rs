//! Streaming aggregation: exchange and diff records in, one pass each, per-agency ×
//! service accumulators out. Pure: no store, no clock; `build` feeds it from sled and
//! tests feed it from vectors.
//!
//! Memory is bounded by the number of agency × service pairs (at most
//! [`DEFAULT_MAX_CELLS`]) times what each keeps: counters by label (each map capped
//! at [`DEFAULT_MAX_LABELS`] distinct labels), two sparse latency histograms (≤ ~900
//! buckets each), differing paths (capped at [`DEFAULT_MAX_PATHS`]) and one small
//! counter pair per time bucket (≤ [`MAX_BUCKETS`]). Whatever a cap turns away is
//! counted and reported as a warning, never silently dropped.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;

use crate::evidence::{
    DiffRecord, ExchangeOutcome, ExchangeRecord, NotComparedReason, ServedBy, Stage,
};

use super::model::{Calibration, Counts};
use super::stats::LatencyHistogram;

/// Most agency × service pairs tracked; exchanges beyond go to one `(other)` pair.
pub const DEFAULT_MAX_CELLS: usize = 10_000;
/// Most distinct labels per counter map (fault codes, lossy fields, …).
pub const DEFAULT_MAX_LABELS: usize = 200;
/// Most distinct differing paths tracked per agency × service.
pub const DEFAULT_MAX_PATHS: usize = 500;
/// Most time buckets of a period.
pub const MAX_BUCKETS: u64 = 48;
/// The label of the pair that collects exchanges beyond [`DEFAULT_MAX_CELLS`].
pub const OTHER: &str = "(other)";

/// Bucket widths tried, smallest first: the first giving at most [`MAX_BUCKETS`]
/// buckets is used, so chart ticks fall on round times.
const NICE_WIDTHS_MS: [u64; 14] = [
    60_000,
    5 * 60_000,
    15 * 60_000,
    30 * 60_000,
    3_600_000,
    2 * 3_600_000,
    3 * 3_600_000,
    6 * 3_600_000,
    12 * 3_600_000,
    86_400_000,
    2 * 86_400_000,
    7 * 86_400_000,
    14 * 86_400_000,
    30 * 86_400_000,
];

/// Time buckets of a period: aligned to multiples of the width since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buckets {
    pub start_ms: u64,
    pub width_ms: u64,
    pub count: usize,
}

impl Buckets {
    pub fn for_period(since_ms: u64, until_ms: u64) -> Buckets {
        let span = until_ms.saturating_sub(since_ms).max(1);
        let width_ms = NICE_WIDTHS_MS
            .iter()
            .copied()
            .find(|w| span.div_ceil(*w) < MAX_BUCKETS)
            .unwrap_or_else(|| span.div_ceil(MAX_BUCKETS - 1).div_ceil(86_400_000) * 86_400_000);
        let start_ms = since_ms - since_ms % width_ms;
        let count = until_ms
            .max(since_ms + 1)
            .saturating_sub(start_ms)
            .div_ceil(width_ms);
        Buckets {
            start_ms,
            width_ms,
            count: usize::try_from(count.clamp(1, MAX_BUCKETS)).unwrap_or(1),
        }
    }

    pub fn index(&self, at_ms: u64) -> usize {
        let i = at_ms.saturating_sub(self.start_ms) / self.width_ms;
        usize::try_from(i).unwrap_or(usize::MAX).min(self.count - 1)
    }

    pub fn start_of(&self, i: usize) -> u64 {
        self.start_ms + self.width_ms * i as u64
    }
}

/// Adds one to `key` in a map capped at `cap` distinct keys; a new key beyond the cap
/// is counted in `untracked` instead.
pub(crate) fn bump(map: &mut Counts, key: &str, cap: usize, untracked: &mut u64) {
    if let Some(n) = map.get_mut(key) {
        *n += 1;
    } else if map.len() < cap {
        map.insert(key.to_string(), 1);
    } else {
        *untracked += 1;
    }
}

/// The fields of an [`ExchangeRecord`] a report reads, borrowed from the stored bytes
/// where they need no unescaping: decoding a million of these allocates next to
/// nothing (members it does not name, bodies included, are skipped unread).
#[derive(Debug, Clone, Deserialize)]
pub struct ExchangeFacts<'a> {
    pub at_unix_ms: u64,
    #[serde(borrow)]
    pub agency: Cow<'a, str>,
    #[serde(borrow)]
    pub service: Cow<'a, str>,
    pub stage: Stage,
    pub served_by: ServedBy,
    /// `null` (a non-finite latency) reads as `None`.
    pub primary_latency_ms: Option<f64>,
    #[serde(default)]
    pub shadow_latency_ms: Option<f64>,
    pub outcome: ExchangeOutcome,
    #[serde(default)]
    pub not_compared_reason: Option<NotComparedReason>,
    #[serde(borrow, default)]
    pub primary_fault_code: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub shadow_fault_code: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub lossy_fields: Vec<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub unmapped: Vec<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub ignore_rules: Vec<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub rejected_code: Option<Cow<'a, str>>,
    /// Absent in records written before it existed: 0.
    #[serde(default)]
    pub noise_diffs: u64,
}

impl<'a> From<&'a ExchangeRecord> for ExchangeFacts<'a> {
    fn from(r: &'a ExchangeRecord) -> Self {
        let b = |s: &'a String| Cow::Borrowed(s.as_str());
        let v = |v: &'a [String]| v.iter().map(b).collect();
        ExchangeFacts {
            at_unix_ms: r.at_unix_ms,
            agency: b(&r.agency),
            service: b(&r.service),
            stage: r.stage,
            served_by: r.served_by,
            primary_latency_ms: Some(r.primary_latency_ms).filter(|x| x.is_finite()),
            shadow_latency_ms: r.shadow_latency_ms,
            outcome: r.outcome,
            not_compared_reason: r.not_compared_reason,
            primary_fault_code: r.primary_fault_code.as_ref().map(b),
            shadow_fault_code: r.shadow_fault_code.as_ref().map(b),
            lossy_fields: v(&r.lossy_fields),
            unmapped: v(&r.unmapped),
            ignore_rules: v(&r.ignore_rules),
            rejected_code: r.rejected_code.as_ref().map(b),
            noise_diffs: r.noise_diffs,
        }
    }
}

/// A differing path's tally.
#[derive(Debug, Clone, PartialEq)]
pub struct PathAcc {
    pub count: u64,
    /// Bit 0 added, 1 removed, 2 changed, 3 anything else.
    pub kinds: u8,
    pub example_id: String,
    pub example_primary: Option<String>,
    pub example_shadow: Option<String>,
}

impl PathAcc {
    pub fn kinds_text(&self) -> String {
        let names = ["added", "removed", "changed", "other"];
        names
            .iter()
            .enumerate()
            .filter(|(i, _)| self.kinds & (1 << i) != 0)
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn kind_bit(kind: &str) -> u8 {
    match kind {
        "added" => 1,
        "removed" => 2,
        "changed" => 4,
        _ => 8,
    }
}

/// Everything kept for one agency × service.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    pub first_ms: u64,
    pub last_ms: u64,
    pub last_stage: String,
    pub requests: u64,
    pub by_stage: Counts,
    pub by_served_by: Counts,
    pub outcomes: Counts,
    pub not_compared: Counts,
    pub rejected: Counts,
    pub faults_legacy: Counts,
    pub faults_uxp: Counts,
    pub latency_legacy: LatencyHistogram,
    pub latency_uxp: LatencyHistogram,
    pub lossy_fields: Counts,
    pub unmapped: Counts,
    pub paths: BTreeMap<String, PathAcc>,
    pub noise: BTreeMap<String, PathAcc>,
    /// Per time bucket: (compared, matched).
    pub buckets: Vec<(u64, u64)>,
    /// `match`es with differences on learned noise paths: they matched only because
    /// calibration called those paths noise.
    pub matched_by_noise: u64,
}

/// Outcomes that count as compared: both answers in hand, or the shadow's unreadable
/// (which counts against the shadow stack, as `Outcome::is_mismatch` says).
pub fn is_compared(outcome: &str) -> bool {
    matches!(
        outcome,
        "match" | "body-diff" | "fault-mismatch" | "fault-code-diff" | "shadow-error"
    )
}

impl Cell {
    pub fn compared(&self) -> u64 {
        self.outcomes
            .iter()
            .filter(|(k, _)| is_compared(k))
            .map(|(_, n)| n)
            .sum()
    }

    pub fn matched(&self) -> u64 {
        self.outcomes.get("match").copied().unwrap_or(0)
    }

    /// Counts one exchange into the cell; returns how many of its latencies could not
    /// be recorded (not finite).
    fn count(&mut self, r: &ExchangeFacts<'_>, bucket: usize, untracked: &mut u64) -> u64 {
        let mut missing = 0;
        self.requests += 1;
        self.first_ms = self.first_ms.min(r.at_unix_ms);
        if r.at_unix_ms >= self.last_ms {
            self.last_ms = r.at_unix_ms;
            if self.last_stage != r.stage.as_str() {
                self.last_stage = r.stage.to_string();
            }
        }
        let cap = DEFAULT_MAX_LABELS;
        bump(&mut self.by_stage, r.stage.as_str(), cap, untracked);
        bump(&mut self.by_served_by, r.served_by.as_str(), cap, untracked);
        bump(&mut self.outcomes, r.outcome.as_str(), cap, untracked);
        if r.outcome == ExchangeOutcome::NotCompared {
            let reason = r.not_compared_reason.map_or("unknown", |n| n.as_str());
            bump(&mut self.not_compared, reason, cap, untracked);
        }
        if r.outcome == ExchangeOutcome::Rejected {
            let code = r.rejected_code.as_deref().unwrap_or("unknown");
            bump(&mut self.rejected, code, cap, untracked);
        }
        let primary_is_uxp = r.served_by == ServedBy::Uxp;
        let (primary_faults, shadow_faults) = if primary_is_uxp {
            (&mut self.faults_uxp, &mut self.faults_legacy)
        } else {
            (&mut self.faults_legacy, &mut self.faults_uxp)
        };
        if let Some(code) = &r.primary_fault_code {
            bump(primary_faults, code, cap, untracked);
        }
        if let Some(code) = &r.shadow_fault_code {
            bump(shadow_faults, code, cap, untracked);
        }
        let primary_ms = r.primary_latency_ms.unwrap_or(f64::NAN);
        let (primary_lat, shadow_lat) = if primary_is_uxp {
            (&mut self.latency_uxp, &mut self.latency_legacy)
        } else {
            (&mut self.latency_legacy, &mut self.latency_uxp)
        };
        // A rejected request never reached a stack: its time is dualroad's, not one.
        if r.outcome != ExchangeOutcome::Rejected && !primary_lat.record(primary_ms) {
            missing += 1;
        }
        if let Some(ms) = r.shadow_latency_ms {
            if !shadow_lat.record(ms) {
                missing += 1;
            }
        }
        for f in &r.lossy_fields {
            bump(&mut self.lossy_fields, f, cap, untracked);
        }
        for u in &r.unmapped {
            bump(&mut self.unmapped, u, cap, untracked);
        }
        if r.outcome.is_compared() {
            if r.outcome == ExchangeOutcome::Match && r.noise_diffs > 0 {
                self.matched_by_noise += 1;
            }
            if let Some(b) = self.buckets.get_mut(bucket) {
                b.0 += 1;
                if r.outcome == ExchangeOutcome::Match {
                    b.1 += 1;
                }
            }
        }
        missing
    }
}

/// The aggregation state.
#[derive(Debug, Clone)]
pub struct Aggregator {
    pub buckets: Buckets,
    agency: Option<String>,
    max_cells: usize,
    /// By agency, then service: nested so a lookup borrows the record's strings
    /// instead of allocating a key per record.
    pub cells: BTreeMap<String, BTreeMap<String, Cell>>,
    cell_count: usize,
    /// Requests by stage per bucket, over the whole scope.
    pub stages: Vec<Counts>,
    /// Ignore rules (their path) by compared exchanges they matched in.
    pub rule_matches: Counts,
    pub exchanges_read: u64,
    pub diffs_read: u64,
    /// Labels, paths and pairs turned away by a cap.
    pub untracked_labels: u64,
    pub untracked_paths: u64,
    pub exchanges_in_other: u64,
    /// Diffs whose exchange is not in the period's records (it was dropped or removed).
    pub orphan_diffs: u64,
    /// Latencies that were not numbers.
    pub latencies_missing: u64,
    /// Calibration by service, from the stored noise models (`build` reads them; a
    /// model is per service, shared by the agencies calling it, and keyed like the
    /// cells: by the exchange record's `service`).
    pub calibration: BTreeMap<String, Calibration>,
}

impl Aggregator {
    /// `agency`: only that agency's records are counted.
    pub fn new(buckets: Buckets, agency: Option<String>) -> Aggregator {
        Aggregator {
            buckets,
            agency,
            max_cells: DEFAULT_MAX_CELLS,
            cells: BTreeMap::new(),
            cell_count: 0,
            stages: vec![Counts::new(); buckets.count],
            rule_matches: Counts::new(),
            exchanges_read: 0,
            diffs_read: 0,
            untracked_labels: 0,
            untracked_paths: 0,
            exchanges_in_other: 0,
            orphan_diffs: 0,
            latencies_missing: 0,
            calibration: BTreeMap::new(),
        }
    }

    /// Lowers the pair cap (tests).
    pub fn with_max_cells(mut self, max_cells: usize) -> Aggregator {
        self.max_cells = max_cells.max(1);
        self
    }

    fn wanted(&self, agency: &str) -> bool {
        self.agency.as_deref().is_none_or_eq(agency)
    }

    /// [`Aggregator::add`] for a whole record.
    pub fn add_exchange(&mut self, r: &ExchangeRecord) {
        self.add(&ExchangeFacts::from(r));
    }

    pub fn add(&mut self, r: &ExchangeFacts<'_>) {
        if !self.wanted(&r.agency) {
            return;
        }
        self.exchanges_read += 1;
        let bucket = self.buckets.index(r.at_unix_ms);
        let mut untracked = 0u64;
        if let Some(stages) = self.stages.get_mut(bucket) {
            bump(stages, r.stage.as_str(), DEFAULT_MAX_LABELS, &mut untracked);
        }
        let Some(cell) = self.cell_for(r) else {
            return;
        };
        self.latencies_missing += cell.count(r, bucket, &mut untracked);
        if r.outcome.is_compared() {
            for rule in &r.ignore_rules {
                bump(
                    &mut self.rule_matches,
                    rule,
                    DEFAULT_MAX_LABELS,
                    &mut untracked,
                );
            }
        }
        self.untracked_labels += untracked;
    }

    /// The exchange's agency × service cell, made on first sight; past `max_cells`
    /// new pairs are counted in one `other` cell.
    fn cell_for(&mut self, r: &ExchangeFacts<'_>) -> Option<&mut Cell> {
        let known = self
            .cells
            .get(r.agency.as_ref())
            .is_some_and(|m| m.contains_key(r.service.as_ref()));
        let (agency, service) = if known || self.cell_count < self.max_cells {
            (r.agency.as_ref(), r.service.as_ref())
        } else {
            self.exchanges_in_other += 1;
            (OTHER, OTHER)
        };
        let n_buckets = self.buckets.count;
        if !self
            .cells
            .get(agency)
            .is_some_and(|m| m.contains_key(service))
        {
            self.cell_count += 1;
            self.cells.entry(agency.to_string()).or_default().insert(
                service.to_string(),
                Cell {
                    first_ms: r.at_unix_ms,
                    buckets: vec![(0, 0); n_buckets],
                    ..Cell::default()
                },
            );
        }
        self.cells.get_mut(agency).and_then(|m| m.get_mut(service))
    }

    pub fn add_diff(&mut self, id: &str, d: &DiffRecord) {
        if !self.wanted(&d.agency) {
            return;
        }
        self.diffs_read += 1;
        let known = self
            .cells
            .get(&d.agency)
            .is_some_and(|m| m.contains_key(&d.service));
        let (agency, service) = if known {
            (d.agency.as_str(), d.service.as_str())
        } else if self.exchanges_in_other > 0 {
            (OTHER, OTHER)
        } else {
            self.orphan_diffs += 1;
            return;
        };
        let Some(cell) = self.cells.get_mut(agency).and_then(|m| m.get_mut(service)) else {
            self.orphan_diffs += 1;
            return;
        };
        // A path counts once per diff, however many list items differ there.
        let mut seen: Vec<&str> = Vec::new();
        for p in &d.paths {
            if seen.contains(&p.path.as_str()) {
                if let Some(acc) = if p.noise {
                    cell.noise.get_mut(&p.path)
                } else {
                    cell.paths.get_mut(&p.path)
                } {
                    acc.kinds |= kind_bit(&p.kind);
                }
                continue;
            }
            seen.push(&p.path);
            let map = if p.noise {
                &mut cell.noise
            } else {
                &mut cell.paths
            };
            if let Some(acc) = map.get_mut(&p.path) {
                acc.count += 1;
                acc.kinds |= kind_bit(&p.kind);
            } else if map.len() < DEFAULT_MAX_PATHS {
                map.insert(
                    p.path.clone(),
                    PathAcc {
                        count: 1,
                        kinds: kind_bit(&p.kind),
                        example_id: id.to_string(),
                        example_primary: p.primary.clone(),
                        example_shadow: p.shadow.clone(),
                    },
                );
            } else {
                self.untracked_paths += 1;
            }
        }
    }
}

/// `Option::is_none_or` for the crate's MSRV (1.80).
trait NoneOrEq {
    fn is_none_or_eq(&self, other: &str) -> bool;
}

impl NoneOrEq for Option<&str> {
    fn is_none_or_eq(&self, other: &str) -> bool {
        self.map_or(true, |s| s == other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::DiffPath;

    fn rec(at: u64, agency: &str, service: &str, outcome: &str) -> ExchangeRecord {
        ExchangeRecord {
            at_unix_ms: at,
            agency: agency.into(),
            service: service.into(),
            stage: "shadow".parse().unwrap(),
            served_by: "legacy".parse().unwrap(),
            listener: "agencies".into(),
            primary_latency_ms: 10.0,
            shadow_latency_ms: Some(12.0),
            outcome: outcome.parse().unwrap(),
            not_compared_reason: (outcome == "not-compared")
                .then_some(crate::evidence::NotComparedReason::Timeout),
            ..ExchangeRecord::default()
        }
    }

    #[test]
    fn buckets_use_round_widths_and_cover_the_period() {
        let day = 86_400_000;
        let b = Buckets::for_period(10 * day + 5, 11 * day);
        assert_eq!((b.width_ms, b.start_ms, b.count), (3_600_000, 10 * day, 24));
        assert_eq!(b.index(10 * day + 5), 0);
        assert_eq!(b.index(11 * day - 1), 23);
        assert_eq!(b.index(u64::MAX), 23);
        let b = Buckets::for_period(0, 3_000 * day);
        assert!(
            b.count as u64 <= MAX_BUCKETS && b.width_ms % day == 0,
            "{b:?}"
        );
        assert!(b.start_of(b.count - 1) + b.width_ms >= 3_000 * day, "{b:?}");
        let b = Buckets::for_period(5, 5);
        assert_eq!(b.count, 1);
    }

    #[test]
    fn counts_compared_matched_and_reasons_per_pair() {
        let mut a = Aggregator::new(Buckets::for_period(0, 60_000), None);
        for (i, o) in [
            "match",
            "match",
            "body-diff",
            "not-compared",
            "served",
            "shadow-error",
        ]
        .iter()
        .enumerate()
        {
            a.add_exchange(&rec(i as u64, "A", "s", o));
        }
        a.add_exchange(&rec(9, "B", "s", "match"));
        let c = &a.cells["A"]["s"];
        assert_eq!((c.requests, c.compared(), c.matched()), (6, 4, 2));
        assert_eq!(c.not_compared.get("timeout"), Some(&1));
        assert_eq!(c.buckets[0], (4, 2));
        assert_eq!(c.latency_uxp.count(), 6);
        assert_eq!(a.cells.len(), 2);
        assert_eq!(a.cell_count, 2);
    }

    #[test]
    fn matches_through_learned_noise_are_counted_apart() {
        let mut a = Aggregator::new(Buckets::for_period(0, 60_000), None);
        let noisy = |outcome: &str, n: u64| ExchangeRecord {
            noise_diffs: n,
            ..rec(1, "A", "s", outcome)
        };
        a.add_exchange(&noisy("match", 2));
        a.add_exchange(&noisy("match", 0));
        // A mismatch with noise besides did not match through the noise.
        a.add_exchange(&noisy("body-diff", 1));
        let c = &a.cells["A"]["s"];
        assert_eq!((c.compared(), c.matched(), c.matched_by_noise), (3, 2, 1));
        // A record stored before `noise_diffs` existed reads as 0.
        let old = r#"{"at_unix_ms":1,"agency":"A","service":"s","stage":"shadow","served_by":"legacy","primary_latency_ms":1.0,"outcome":"match"}"#;
        let f: ExchangeFacts<'_> = serde_json::from_str(old).expect("old record");
        assert_eq!(f.noise_diffs, 0);
    }

    #[test]
    fn agency_filter_and_pair_cap() {
        let mut a = Aggregator::new(Buckets::for_period(0, 60_000), Some("A".into()));
        a.add_exchange(&rec(1, "B", "s", "match"));
        assert_eq!(a.exchanges_read, 0);
        let mut a = Aggregator::new(Buckets::for_period(0, 60_000), None).with_max_cells(2);
        for s in ["s1", "s2", "s3", "s4"] {
            a.add_exchange(&rec(1, "A", s, "match"));
        }
        assert_eq!((a.cells.len(), a.cell_count), (2, 3));
        assert_eq!(a.cells[OTHER][OTHER].requests, 2);
        assert_eq!(a.exchanges_in_other, 2);
    }

    #[test]
    fn diff_paths_count_once_per_diff_and_keep_noise_apart() {
        let mut a = Aggregator::new(Buckets::for_period(0, 60_000), None);
        a.add_exchange(&rec(1, "A", "s", "body-diff"));
        let path = |p: &str, kind: &str, noise: bool| DiffPath {
            path: p.into(),
            kind: kind.into(),
            primary: Some("1".into()),
            shadow: Some("2".into()),
            noise,
        };
        let d = DiffRecord {
            id: crate::evidence::RecordKey::first_at(1),
            at_unix_ms: 1,
            agency: "A".into(),
            service: "s".into(),
            outcome: "body-diff".parse().unwrap(),
            paths: vec![
                path("Body/r/item/v", "changed", false),
                path("Body/r/item/v", "removed", false),
                path("Body/r/at", "changed", true),
            ],
            unified: String::new(),
        };
        a.add_diff("1-0", &d);
        a.add_diff("1-1", &d);
        let c = &a.cells["A"]["s"];
        let p = &c.paths["Body/r/item/v"];
        assert_eq!(
            (p.count, p.kinds_text().as_str(), p.example_id.as_str()),
            (2, "removed, changed", "1-0")
        );
        assert_eq!(c.noise["Body/r/at"].count, 2);
        let orphan = DiffRecord {
            agency: "Z".into(),
            ..d
        };
        a.add_diff("2-0", &orphan);
        assert_eq!(a.orphan_diffs, 1);
    }
}
