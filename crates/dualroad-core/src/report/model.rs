//! The report as data: what every renderer draws from, and the JSON schema
//! (`report_version` [`REPORT_VERSION`]) dashboards read. `docs/report-schema.md`
//! documents every member; adding an optional member keeps the version, changing the
//! meaning or type of one bumps it.
//!
//! Conventions: maps are `BTreeMap`s (sorted keys, stable output); times are given
//! twice, as UTC text (`…_at`, `since`) and as Unix milliseconds (`…_unix_ms`); rates
//! are fractions in `[0, 1]`; latencies are milliseconds.

use std::collections::BTreeMap;

use serde::Serialize;

/// The JSON schema version of [`Report`].
pub const REPORT_VERSION: u32 = 1;

/// Counts by a label (stage, outcome, reason, fault code, field…).
pub type Counts = BTreeMap<String, u64>;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub report_version: u32,
    pub generated_at: String,
    pub generated_at_unix_ms: u64,
    pub scope: Scope,
    pub thresholds: ThresholdsUsed,
    pub summary: Summary,
    pub evidence: Evidence,
    pub agencies: Vec<AgencyReport>,
    pub ignore_rules: Vec<IgnoreRuleUse>,
    pub coverage: Coverage,
    pub history: History,
    /// Requests by stage per time bucket, over the whole scope.
    pub timeline: Timeline,
}

/// What the report covers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scope {
    /// `None`: every agency.
    pub agency: Option<String>,
    /// Start of the period (inclusive): `--since`, else the first stored exchange.
    pub since: String,
    pub since_unix_ms: u64,
    /// End of the period (exclusive): `--until`, else just after the last exchange.
    pub until: String,
    pub until_unix_ms: u64,
    /// Whether `since` / `until` were asked for or taken from the evidence.
    pub since_requested: bool,
    pub until_requested: bool,
}

/// The thresholds the verdicts were computed with (from `[report]` in the config).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThresholdsUsed {
    pub min_samples: u64,
    pub min_match_rate: f64,
    pub max_p99_ratio: f64,
    /// Of the match-rate interval (Wilson score).
    pub confidence: f64,
    /// Relative error bound of the latency quantiles.
    pub latency_relative_error: f64,
}

/// The whole rollout at a glance: read first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub agencies: u64,
    /// Agency × service pairs seen.
    pub services: u64,
    pub exchanges: u64,
    pub compared: u64,
    pub matched: u64,
    pub match_rate: Option<f64>,
    /// Agencies by the stage their traffic was last seen in (an agency whose
    /// services are in different stages is listed under each).
    pub agencies_by_stage: BTreeMap<String, Vec<String>>,
    /// Agency × service verdicts.
    pub ready: u64,
    pub hold: u64,
    pub rollback_recommended: u64,
    /// Agencies whose every service is `ready`.
    pub agencies_ready: Vec<String>,
    /// Why the others are not ready, by reason kind, most frequent first.
    pub blockers: Vec<Blocker>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Blocker {
    pub kind: ReasonKind,
    pub count: u64,
    /// `agency service` pairs, at most [`super::DEFAULT_LIST_LIMIT`].
    pub services: Vec<String>,
}

/// How complete the evidence is: missing evidence is not the same as no traffic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub exchanges_read: u64,
    pub diffs_read: u64,
    /// Stored records this report could not read (damaged, or another record version).
    pub records_skipped: u64,
    /// Store-lifetime counters (not limited to the period): what never reached the
    /// store or left it.
    pub dropped_exchanges: u64,
    pub dropped_diffs: u64,
    pub failed_writes: u64,
    pub retention_removed: u64,
    pub bodies_withheld: u64,
    pub unified_withheld: u64,
    /// Plain-language warnings (drops, skips, distinct values not tracked…).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgencyReport {
    pub agency: String,
    pub verdict: VerdictStatus,
    pub exchanges: u64,
    pub services: Vec<ServiceReport>,
}

/// One agency × service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceReport {
    pub service: String,
    pub first_seen: String,
    pub last_seen: String,
    /// Stage of the last exchange seen.
    pub current_stage: String,
    pub requests: u64,
    pub by_stage: Counts,
    /// By the stack whose answer the client got: `legacy`, `uxp`.
    pub by_served_by: Counts,
    /// Every outcome class, `served` and `rejected` included.
    pub outcomes: Counts,
    /// Both answers in hand (match, body-diff, fault-mismatch, fault-code-diff) or the
    /// shadow's unreadable (shadow-error): the match rate's denominator.
    pub compared: u64,
    pub matched: u64,
    pub match_rate: Option<f64>,
    /// 95 % Wilson score interval of `match_rate`: `[lower, upper]`.
    pub match_rate_interval: Option<[f64; 2]>,
    /// Not compared, by reason: a quiet service is not a healthy one.
    pub not_compared: Counts,
    /// dualroad's own faults, by X-Road fault code.
    pub rejected: Counts,
    pub faults: FaultParity,
    pub latency: LatencyPair,
    /// Legacy-only header fields seen: what the move to UXP drops.
    pub lossy_fields: Counts,
    /// Identifiers seen with no mapping.
    pub unmapped: Counts,
    /// Differing paths counted against UXP, most frequent first (top
    /// [`super::DEFAULT_TOP_PATHS`]).
    pub diff_paths: Vec<PathStat>,
    /// Distinct differing paths, including those not listed.
    pub diff_paths_total: u64,
    /// Paths that differ between two primary answers too (calibration noise),
    /// shown apart and not counted.
    pub noise_paths: Vec<PathStat>,
    /// Of `matched`, the exchanges with differences on paths learned as noise: they
    /// matched only because calibration called those paths noise. When that is every
    /// match, no compared answer was alike (`noise-on-every-answer`).
    pub matched_by_noise: u64,
    /// The service's calibration, from its stored noise model.
    pub calibration: Calibration,
    pub verdict: Verdict,
    /// Compared and matched per time bucket ([`Timeline::bucket_ms`]).
    pub timeline: Vec<ServiceBucket>,
}

/// What calibration (a second call to the primary, `shadow::noise`) did for a service:
/// the totals of its stored noise model since the store was created (a model is per
/// service, shared by the agencies calling it; not limited to the report's period).
/// All zero when the service was never calibrated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Calibration {
    /// Pairs of two successful primary answers, learned from.
    pub pairs: u64,
    /// Pairs never learned from: either answer a SOAP fault, not well-formed, with a
    /// failing HTTP status, or from a failed call.
    pub errors: u64,
    /// Distinct paths learned as noise.
    pub noise_paths: u64,
    /// The paths learned as noise in the most pairs, most first (top
    /// [`super::DEFAULT_TOP_PATHS`]).
    pub top_noise_paths: Vec<LearnedPath>,
}

/// A path learned as noise, and in how many calibration pairs it differed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LearnedPath {
    pub path: String,
    pub pairs: u64,
}

/// Fault codes on each side, by stack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultParity {
    pub legacy: Counts,
    pub uxp: Counts,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyPair {
    pub legacy: Latency,
    pub uxp: Latency,
    /// `uxp.p99 / legacy.p99`, when both sides have `min_samples` samples.
    pub p99_ratio: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Latency {
    pub samples: u64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathStat {
    pub path: String,
    pub count: u64,
    /// `added`, `removed`, `changed` (the kinds seen, comma-separated).
    pub kinds: String,
    pub example: PathExample,
}

/// One occurrence, to show what the difference looks like.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathExample {
    pub diff_id: String,
    pub primary: Option<String>,
    pub shadow: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerdictStatus {
    Ready,
    Hold,
    RollbackRecommended,
}

impl VerdictStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictStatus::Ready => "ready",
            VerdictStatus::Hold => "hold",
            VerdictStatus::RollbackRecommended => "rollback recommended",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub status: VerdictStatus,
    /// Empty for `ready`.
    pub reasons: Vec<Reason>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    pub kind: ReasonKind,
    /// With the numbers: what was measured and the threshold it was held against.
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReasonKind {
    /// Nothing compared at all (the stage has no shadow, or every copy was dropped).
    NeverCompared,
    /// Fewer than `min_samples` compared.
    TooFewSamples,
    /// Match rate below `min_match_rate`.
    MatchRateBelowThreshold,
    /// Match rate at or above `min_match_rate`, but its 95 % interval reaches below
    /// it: the differences still open could be more than the threshold allows.
    OpenDiffs,
    /// UXP's p99 latency more than `max_p99_ratio` times legacy's.
    LatencyAboveThreshold,
    /// Every compared answer differed from the primary: the ones that matched did so
    /// only because their differences were on paths calibration learned as noise.
    NoiseOnEveryAnswer,
}

impl ReasonKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonKind::NeverCompared => "never compared",
            ReasonKind::TooFewSamples => "too few samples",
            ReasonKind::MatchRateBelowThreshold => "match rate below threshold",
            ReasonKind::OpenDiffs => "open diffs",
            ReasonKind::LatencyAboveThreshold => "latency above threshold",
            ReasonKind::NoiseOnEveryAnswer => "noise on every answer",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceBucket {
    pub start_unix_ms: u64,
    pub compared: u64,
    pub matched: u64,
}

/// A configured ignore rule and whether anything matched it in the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IgnoreRuleUse {
    pub path: String,
    pub reason: String,
    pub expires: Option<String>,
    /// Compared exchanges in which the rule matched a node.
    pub matches: u64,
    /// Configured, yet matched nothing in the period.
    pub stale: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coverage {
    /// Services in the mappings; `None` when the report was made without them.
    pub mapped_services: Option<u64>,
    /// In the mappings, never seen in traffic in the period.
    pub never_seen: Vec<MappedService>,
    /// Seen, but never compared, with why.
    pub never_compared: Vec<NeverCompared>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MappedService {
    pub legacy: String,
    pub uxp: String,
    pub effect: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NeverCompared {
    pub agency: String,
    pub service: String,
    pub requests: u64,
    /// Not-compared reasons, and `served` / `rejected` counts.
    pub why: Counts,
}

/// Stage and switch history from the audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct History {
    /// Entries in the period (all of them when the period is open-ended).
    pub entries: Vec<HistoryEntry>,
    pub verification: ChainCheck,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    pub seq: u64,
    pub at: String,
    pub at_unix_ms: u64,
    pub action: String,
    pub actor: String,
    pub reason: String,
    pub details: Vec<String>,
    /// Applied by the gateway's automatic gate (actor `auto-gate`).
    pub automatic: bool,
}

/// The audit chain's verification, over the whole log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainCheck {
    pub ok: bool,
    pub entries_verified: u64,
    pub first_bad: Option<u64>,
    pub problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    pub bucket_ms: u64,
    pub buckets: Vec<StageBucket>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageBucket {
    pub start_unix_ms: u64,
    pub by_stage: Counts,
}
