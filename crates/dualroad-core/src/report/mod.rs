//! Migration reports: per agency × service, what was compared, what still differs,
//! what was never exercised, and whether the move to UXP is ready.
//!
//! Where it sits: at the end of the evidence flow. The gateway's shadow mode writes
//! exchange and diff records to the store; the shell (`dualroad::report::build`) reads
//! them back in one streaming pass and feeds them to an [`aggregate::Aggregator`], with
//! the audit log's stage and switch history, the mappings' service list (coverage) and
//! the stored calibration (noise) models. This module computes verdicts ([`verdict`](mod@verdict))
//! and produces a [`Report`] ([`model`], the versioned JSON schema) in [`assemble`],
//! which [`render`] turns into Markdown, JSON or one self-contained HTML file with
//! inline SVG charts. `dualroad report` and the admin endpoints `/admin/report` and
//! `/admin/report.json` are the thin shells around it.
//!
//! Memory does not grow with the number of stored exchanges: see [`aggregate`] for
//! the bounds. The audit log is read whole (it holds one entry per change, not per
//! request).

pub mod aggregate;
pub mod model;
pub mod render;
pub mod stats;
pub mod time;
pub mod verdict;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// Compared exchanges before a service can be called ready (`[report] min_samples`).
pub const DEFAULT_MIN_SAMPLES: u64 = 200;
/// Share of compared exchanges that must match (`[report] min_match_rate`).
pub const DEFAULT_MIN_MATCH_RATE: f64 = 0.99;
/// Most UXP's p99 latency may be, as a multiple of legacy's (`[report] max_p99_ratio`).
pub const DEFAULT_MAX_P99_RATIO: f64 = 1.5;
use crate::mapping::Mappings;
use crate::shadow::{IgnoreRule, NoiseModel};

pub use aggregate::ExchangeFacts;
use aggregate::{Aggregator, Buckets, Cell};
pub use model::*;
use stats::{HISTOGRAM_RELATIVE_ERROR, Z_95};
pub use time::{parse_utc, utc, BadDate};
use verdict::{uxp_serves, verdict, VerdictInput};

/// Differing paths listed per service (all are counted).
pub const DEFAULT_TOP_PATHS: usize = 10;
/// Names listed per summary blocker.
pub const DEFAULT_LIST_LIMIT: usize = 20;

/// The verdict thresholds (`[report]` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    /// Compared exchanges needed before a service can be `ready`.
    pub min_samples: u64,
    /// Share of compared exchanges that must match, `0.0..=1.0`.
    pub min_match_rate: f64,
    /// Most UXP's p99 latency may be, as a multiple of legacy's.
    pub max_p99_ratio: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            min_samples: DEFAULT_MIN_SAMPLES,
            min_match_rate: DEFAULT_MIN_MATCH_RATE,
            max_p99_ratio: DEFAULT_MAX_P99_RATIO,
        }
    }
}

/// What to report on.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions<'a> {
    /// Only this agency (legacy consumer name or UXP client id, as stored).
    pub agency: Option<String>,
    /// Inclusive, Unix ms; `None`: from the first stored exchange.
    pub since_ms: Option<u64>,
    /// Exclusive, Unix ms; `None`: up to the last stored exchange.
    pub until_ms: Option<u64>,
    pub thresholds: Thresholds,
    /// The configured ignore rules, for the stale-rule list.
    pub ignore_rules: &'a [IgnoreRule],
    /// For coverage (services never seen); `None` leaves it out.
    pub mappings: Option<&'a Mappings>,
    /// When the report is made (the caller's clock).
    pub now_ms: u64,
}

/// The actor the gateway's automatic gate writes its rollbacks with.
pub const AUTO_GATE_ACTOR: &str = "auto-gate";

/// The period actually reported on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub since_ms: u64,
    pub until_ms: u64,
    pub since_requested: bool,
    pub until_requested: bool,
}

/// The warnings a report opens with, from how complete its evidence is.
pub fn warnings(e: &Evidence, agg: &Aggregator) -> Vec<String> {
    let mut w = Vec::new();
    if e.exchanges_read == 0 {
        w.push(
            "no exchanges stored for this scope and period: no evidence is not evidence of health"
                .to_string(),
        );
    }
    if e.dropped_exchanges > 0 || e.dropped_diffs > 0 {
        w.push(format!(
            "the writer's queue dropped {} exchange(s) and {} diff(s) since the store was created: counts below are lower than the traffic was",
            e.dropped_exchanges, e.dropped_diffs
        ));
    }
    if e.failed_writes > 0 {
        w.push(format!(
            "{} record(s) were lost to failed writes",
            e.failed_writes
        ));
    }
    if e.records_skipped > 0 {
        w.push(format!(
            "{} stored record(s) could not be read (damaged or of another record version) and are not counted",
            e.records_skipped
        ));
    }
    if e.retention_removed > 0 {
        w.push(format!(
            "retention has removed {} record(s) since the store was created: the oldest evidence may be gone",
            e.retention_removed
        ));
    }
    if agg.exchanges_in_other > 0 {
        w.push(format!(
            "more than {} agency × service pairs: {} exchange(s) are counted together under `{}`",
            aggregate::DEFAULT_MAX_CELLS,
            agg.exchanges_in_other,
            aggregate::OTHER
        ));
    }
    if agg.untracked_labels > 0 || agg.untracked_paths > 0 {
        w.push(format!(
            "{} label(s) and {} differing path(s) beyond the per-service limits were counted in totals but not listed",
            agg.untracked_labels, agg.untracked_paths
        ));
    }
    if agg.orphan_diffs > 0 {
        w.push(format!(
            "{} diff(s) have no exchange record in the period (dropped or removed) and are not attributed",
            agg.orphan_diffs
        ));
    }
    // Only the services in scope: a model is per service, the scope may be one agency.
    let errors: u64 = agg
        .calibration
        .iter()
        .filter(|(s, _)| agg.cells.values().any(|m| m.contains_key(s.as_str())))
        .map(|(_, c)| c.errors)
        .sum();
    if errors > 0 {
        w.push(format!(
            "{errors} calibration pair(s) were not learned from (a SOAP fault, an answer that is not well-formed, a failing status or a failed call on either side): see each service's calibration"
        ));
    }
    if agg.latencies_missing > 0 {
        w.push(format!(
            "{} latency value(s) were missing or not numbers and are left out of the percentiles",
            agg.latencies_missing
        ));
    }
    w
}

fn latency(h: &stats::LatencyHistogram) -> Latency {
    let q = |p| h.quantile(p).map(|v| (v * 100.0).round() / 100.0);
    Latency {
        samples: h.count(),
        p50: q(0.5),
        p95: q(0.95),
        p99: q(0.99),
    }
}

fn rate(matched: u64, compared: u64) -> Option<f64> {
    (compared > 0).then(|| matched as f64 / compared as f64)
}

fn paths(map: &BTreeMap<String, aggregate::PathAcc>) -> Vec<PathStat> {
    let mut v: Vec<(&String, &aggregate::PathAcc)> = map.iter().collect();
    v.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(b.0)));
    v.into_iter()
        .take(DEFAULT_TOP_PATHS)
        .map(|(p, a)| PathStat {
            path: p.clone(),
            count: a.count,
            kinds: a.kinds_text(),
            example: PathExample {
                diff_id: a.example_id.clone(),
                primary: a.example_primary.clone(),
                shadow: a.example_shadow.clone(),
            },
        })
        .collect()
}

/// What a report shows of a stored noise model.
/// What a service's stored noise model says, for the report.
pub fn calibration(m: &NoiseModel) -> Calibration {
    let mut learned: Vec<(&str, u64)> = m.paths().collect();
    let noise_paths = learned.len() as u64;
    learned.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    Calibration {
        pairs: m.pairs(),
        errors: m.errors(),
        noise_paths,
        top_noise_paths: learned
            .into_iter()
            .take(DEFAULT_TOP_PATHS)
            .map(|(path, pairs)| LearnedPath {
                path: path.to_string(),
                pairs,
            })
            .collect(),
    }
}

fn service_report(
    service: &str,
    c: Cell,
    t: &Thresholds,
    buckets: &Buckets,
    calibration: Calibration,
) -> ServiceReport {
    let compared = c.compared();
    let matched = c.matched();
    let legacy = latency(&c.latency_legacy);
    let uxp = latency(&c.latency_uxp);
    let p99_ratio = match (legacy.p99, uxp.p99) {
        (Some(l), Some(u))
            if l > 0.0 && legacy.samples >= t.min_samples && uxp.samples >= t.min_samples =>
        {
            Some((u / l * 100.0).round() / 100.0)
        }
        _ => None,
    };
    let v = verdict(
        &VerdictInput {
            compared,
            matched,
            uxp_serves: uxp_serves(&c.last_stage),
            p99_ratio,
            diff_paths: c.paths.len() as u64,
            not_compared: c.requests - compared,
            matched_by_noise: c.matched_by_noise,
            noise_paths: calibration
                .top_noise_paths
                .iter()
                .map(|p| p.path.clone())
                .collect(),
            calibration_errors: calibration.errors,
        },
        t,
    );
    ServiceReport {
        service: service.to_string(),
        first_seen: utc(c.first_ms),
        last_seen: utc(c.last_ms),
        current_stage: c.last_stage.clone(),
        requests: c.requests,
        compared,
        matched,
        match_rate: rate(matched, compared),
        match_rate_interval: stats::wilson(matched, compared, Z_95).map(|(l, h)| [l, h]),
        not_compared: c.not_compared,
        rejected: c.rejected,
        faults: FaultParity {
            legacy: c.faults_legacy,
            uxp: c.faults_uxp,
        },
        latency: LatencyPair {
            legacy,
            uxp,
            p99_ratio,
        },
        lossy_fields: c.lossy_fields,
        unmapped: c.unmapped,
        diff_paths: paths(&c.paths),
        diff_paths_total: c.paths.len() as u64,
        noise_paths: paths(&c.noise),
        matched_by_noise: c.matched_by_noise,
        calibration,
        verdict: v,
        timeline: c
            .buckets
            .iter()
            .enumerate()
            .map(|(i, &(compared, matched))| ServiceBucket {
                start_unix_ms: buckets.start_of(i),
                compared,
                matched,
            })
            .collect(),
        by_stage: c.by_stage,
        by_served_by: c.by_served_by,
        outcomes: c.outcomes,
    }
}

/// The stage timeline from the aggregator's per-bucket stage counts.
fn timeline_of(stages: &[Counts], buckets: &Buckets) -> Timeline {
    Timeline {
        bucket_ms: buckets.width_ms,
        buckets: stages
            .iter()
            .enumerate()
            .map(|(i, s)| StageBucket {
                start_unix_ms: buckets.start_of(i),
                by_stage: s.clone(),
            })
            .collect(),
    }
}

/// The totals, stage lists and blockers over every service, the per-agency reports,
/// and the services never compared.
struct Rollup {
    summary: Summary,
    agencies: Vec<AgencyReport>,
    never_compared: Vec<NeverCompared>,
}

fn roll_up(agencies: BTreeMap<String, Vec<ServiceReport>>) -> Rollup {
    let mut summary = Summary {
        agencies: agencies.len() as u64,
        services: 0,
        exchanges: 0,
        compared: 0,
        matched: 0,
        match_rate: None,
        agencies_by_stage: BTreeMap::new(),
        ready: 0,
        hold: 0,
        rollback_recommended: 0,
        agencies_ready: Vec::new(),
        blockers: Vec::new(),
    };
    let mut blockers: BTreeMap<ReasonKind, (u64, Vec<String>)> = BTreeMap::new();
    let mut never_compared = Vec::new();
    let mut agency_reports = Vec::new();
    for (agency, services) in agencies {
        let mut status = VerdictStatus::Ready;
        let mut exchanges = 0;
        for s in &services {
            exchanges += s.requests;
            status = status.max(s.verdict.status);
            count_service(&mut summary, &agency, s);
            for r in &s.verdict.reasons {
                let b = blockers.entry(r.kind).or_default();
                b.0 += 1;
                if b.1.len() < DEFAULT_LIST_LIMIT {
                    b.1.push(format!("{agency} {}", s.service));
                }
            }
            if s.compared == 0 {
                never_compared.push(never_compared_of(&agency, s));
            }
        }
        if status == VerdictStatus::Ready {
            summary.agencies_ready.push(agency.clone());
        }
        agency_reports.push(AgencyReport {
            agency,
            verdict: status,
            exchanges,
            services,
        });
    }
    summary.match_rate = rate(summary.matched, summary.compared);
    let mut blockers: Vec<Blocker> = blockers
        .into_iter()
        .map(|(kind, (count, services))| Blocker {
            kind,
            count,
            services,
        })
        .collect();
    blockers.sort_by(|a, b| b.count.cmp(&a.count).then(a.kind.cmp(&b.kind)));
    summary.blockers = blockers;
    Rollup {
        summary,
        agencies: agency_reports,
        never_compared,
    }
}

/// One service's share of the summary.
fn count_service(summary: &mut Summary, agency: &str, s: &ServiceReport) {
    summary.services += 1;
    summary.exchanges += s.requests;
    summary.compared += s.compared;
    summary.matched += s.matched;
    match s.verdict.status {
        VerdictStatus::Ready => summary.ready += 1,
        VerdictStatus::Hold => summary.hold += 1,
        VerdictStatus::RollbackRecommended => summary.rollback_recommended += 1,
    }
    let stages = summary
        .agencies_by_stage
        .entry(s.current_stage.clone())
        .or_default();
    if !stages.iter().any(|a| a == agency) {
        stages.push(agency.to_string());
    }
}

/// Why a service was never compared: its not-compared reasons, and how many were only
/// served or rejected.
fn never_compared_of(agency: &str, s: &ServiceReport) -> NeverCompared {
    let mut why = s.not_compared.clone();
    for k in ["served", "rejected"] {
        if let Some(n) = s.outcomes.get(k) {
            why.insert(k.to_string(), *n);
        }
    }
    NeverCompared {
        agency: agency.to_string(),
        service: s.service.clone(),
        requests: s.requests,
        why,
    }
}

/// Each configured ignore rule with how often it matched; a rule that never matched
/// is stale.
fn ignore_rule_uses(opts: &ReportOptions<'_>, matches: &Counts) -> Vec<IgnoreRuleUse> {
    opts.ignore_rules
        .iter()
        .map(|r| {
            let matches = matches.get(&r.path).copied().unwrap_or(0);
            IgnoreRuleUse {
                path: r.path.clone(),
                reason: r.reason.clone(),
                expires: r.expires.clone(),
                matches,
                stale: matches == 0,
            }
        })
        .collect()
}

/// Mapped services the period never saw (by either name), and services never compared.
fn coverage_of(
    opts: &ReportOptions<'_>,
    seen: &BTreeSet<String>,
    never_compared: Vec<NeverCompared>,
) -> Coverage {
    Coverage {
        mapped_services: opts.mappings.map(|m| m.services().count() as u64),
        never_seen: opts
            .mappings
            .map(|m| {
                m.services()
                    .filter(|s| {
                        !seen.contains(&s.legacy.to_string()) && !seen.contains(&s.uxp.to_string())
                    })
                    .map(|s| MappedService {
                        legacy: s.legacy.to_string(),
                        uxp: s.uxp.to_string(),
                        effect: s.effect.as_str().to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        never_compared,
    }
}

/// Turns the aggregation into the report model. Pure.
pub fn assemble(
    agg: Aggregator,
    period: &Period,
    opts: &ReportOptions<'_>,
    evidence: Evidence,
    history: History,
) -> Report {
    let t = opts.thresholds;
    let buckets = agg.buckets;
    let timeline = timeline_of(&agg.stages, &buckets);
    // Services seen, by both names a mapping gives them.
    let mut seen_services: BTreeSet<String> = BTreeSet::new();
    let mut agencies: BTreeMap<String, Vec<ServiceReport>> = BTreeMap::new();
    for (agency, services) in agg.cells {
        for (service, cell) in services {
            seen_services.insert(service.clone());
            // Looked up by the cell's key: the mirror learns under the record's service.
            let calibration = agg.calibration.get(&service).cloned().unwrap_or_default();
            agencies
                .entry(agency.clone())
                .or_default()
                .push(service_report(&service, cell, &t, &buckets, calibration));
        }
    }
    let rollup = roll_up(agencies);
    Report {
        report_version: REPORT_VERSION,
        generated_at: utc(opts.now_ms),
        generated_at_unix_ms: opts.now_ms,
        scope: Scope {
            agency: opts.agency.clone(),
            since: utc(period.since_ms),
            since_unix_ms: period.since_ms,
            until: utc(period.until_ms),
            until_unix_ms: period.until_ms,
            since_requested: period.since_requested,
            until_requested: period.until_requested,
        },
        thresholds: ThresholdsUsed {
            min_samples: t.min_samples,
            min_match_rate: t.min_match_rate,
            max_p99_ratio: t.max_p99_ratio,
            confidence: 0.95,
            latency_relative_error: HISTOGRAM_RELATIVE_ERROR,
        },
        summary: rollup.summary,
        evidence,
        agencies: rollup.agencies,
        ignore_rules: ignore_rule_uses(opts, &agg.rule_matches),
        coverage: coverage_of(opts, &seen_services, rollup.never_compared),
        history,
        timeline,
    }
}
