//! The view both human-readable renderers draw: the sections, rows, labels, ordering
//! and formatted numbers of a [`Report`], computed once here from the model. The
//! Markdown and HTML renderers ([`super::markdown`], [`super::html`]) only lay this out
//! and escape it for their format; a number, a sentence or a row shown by both is
//! decided in this file. Strings here are unescaped text.

use crate::report::model::{
    AgencyReport, Calibration, ChainCheck, Counts, Latency, PathStat, Report, ServiceBucket,
    ServiceReport, StageBucket, VerdictStatus,
};

/// Shown when the report was made without ignore rules.
pub(crate) const NO_IGNORE_RULES: &str = "No ignore rules configured.";
/// Shown when no service was left uncompared.
pub(crate) const ALL_COMPARED: &str = "Every service seen was compared at least once.";
/// Shown when the audit log has nothing in the period.
pub(crate) const NO_AUDIT_ENTRIES: &str = "No audit entries in the period.";
/// A value that is not known (no samples, nothing compared, no expiry…).
pub(crate) const NONE: &str = "—";

/// Everything the Markdown and HTML forms show, in the order they show it.
pub(crate) struct View<'a> {
    pub header: Header<'a>,
    pub summary: SummaryView<'a>,
    pub evidence: EvidenceView<'a>,
    pub agencies: Vec<AgencyView<'a>>,
    pub ignore_rules: Vec<IgnoreRow<'a>>,
    pub coverage: CoverageView<'a>,
    pub history: HistoryView<'a>,
    /// Requests by stage per time bucket, for the stage chart.
    pub timeline: &'a [StageBucket],
    /// The time buckets' width in words (`1 h`).
    pub bucket_width: String,
}

pub(crate) struct Header<'a> {
    /// The agency, or `all agencies`.
    pub scope: &'a str,
    pub since: &'a str,
    pub until: &'a str,
    /// Empty, or a note that an open end of the period came from the evidence.
    pub open_ends: &'static str,
    pub generated_at: &'a str,
    pub report_version: u32,
    pub min_samples: u64,
    pub min_match_rate: String,
    pub max_p99_ratio: String,
    /// Of the match-rate intervals, in percent without the sign (`95`).
    pub confidence: String,
    /// Of the latency percentiles, in percent without the sign.
    pub latency_error: String,
    /// The threshold as a fraction, for the match-rate chart.
    pub min_match_rate_fraction: f64,
}

pub(crate) struct SummaryView<'a> {
    pub agencies: u64,
    pub services: u64,
    pub exchanges: u64,
    pub compared: u64,
    pub match_rate: String,
    pub ready: u64,
    pub hold: u64,
    pub rollback_recommended: u64,
    pub agencies_ready: &'a [String],
    /// Stage, and the agencies last seen in it; by stage name.
    pub agencies_by_stage: Vec<(&'a str, &'a [String])>,
    /// Most frequent first.
    pub blockers: Vec<BlockerRow>,
}

pub(crate) struct BlockerRow {
    pub reason: &'static str,
    pub pairs: u64,
    /// The `agency service` pairs, comma-separated.
    pub which: String,
}

pub(crate) struct EvidenceView<'a> {
    /// What was read and what the store lost, as one sentence.
    pub sentence: String,
    pub warnings: &'a [String],
}

pub(crate) struct AgencyView<'a> {
    pub agency: &'a str,
    pub verdict: VerdictStatus,
    pub services: Vec<ServiceView<'a>>,
    /// Match rate per bucket of each service with something compared.
    pub match_series: Vec<(&'a str, &'a [ServiceBucket])>,
    /// Legacy and UXP latency of every service.
    pub latency_bars: Vec<(&'a str, &'a Latency, &'a Latency)>,
}

pub(crate) struct ServiceView<'a> {
    pub service: &'a str,
    pub stage: &'a str,
    pub requests: u64,
    pub compared: u64,
    pub match_rate: String,
    pub interval: String,
    pub verdict: VerdictStatus,
    /// Reason kind and message; empty for `ready`.
    pub reasons: Vec<(&'static str, &'a str)>,
    /// `first → last`.
    pub seen: String,
    pub by_stage: String,
    pub served_by: String,
    pub outcomes: String,
    pub not_compared: String,
    pub rejected: String,
    /// Whether dualroad rejected anything (Markdown lists `rejected` only then).
    pub any_rejected: bool,
    pub faults_legacy: String,
    pub faults_uxp: String,
    pub lossy_fields: String,
    pub unmapped: String,
    /// Legacy, then UXP.
    pub latency: [LatencyRow; 2],
    pub p99_ratio: String,
    /// `None` when the service was never calibrated.
    pub calibration: Option<CalibrationView<'a>>,
    /// `n of m matched`, when some matched only through noise.
    pub matched_by_noise: Option<String>,
    pub diff_paths_total: u64,
    pub diff_paths: Vec<PathRow<'a>>,
    pub noise_paths: Vec<PathRow<'a>>,
}

pub(crate) struct LatencyRow {
    /// `legacy` or `UXP`.
    pub side: &'static str,
    pub samples: u64,
    pub p50: String,
    pub p95: String,
    pub p99: String,
}

pub(crate) struct CalibrationView<'a> {
    pub pairs: u64,
    pub noise_paths: u64,
    pub errors: u64,
    /// The paths learned as noise in the most pairs, with their pair counts.
    pub learned: Vec<(&'a str, u64)>,
}

impl CalibrationView<'_> {
    /// The calibration as one sentence, each learned path drawn by `path`.
    pub(super) fn sentence(&self, path: impl Fn(&str) -> String) -> String {
        let learned: Vec<String> = self
            .learned
            .iter()
            .map(|(p, n)| format!("{} ({n})", path(p)))
            .collect();
        format!(
            "{} pair(s) learned from, {} path(s) learned as noise{}; {} calibration error(s) (a fault, an answer that is not well-formed, a failing status or a failed call: never learned)",
            self.pairs,
            self.noise_paths,
            if learned.is_empty() {
                String::new()
            } else {
                format!(": {}", learned.join(", "))
            },
            self.errors
        )
    }
}

pub(crate) struct PathRow<'a> {
    pub path: &'a str,
    pub count: u64,
    pub kinds: &'a str,
    pub primary: Option<&'a str>,
    pub shadow: Option<&'a str>,
    pub diff_id: &'a str,
}

pub(crate) struct IgnoreRow<'a> {
    pub path: &'a str,
    pub reason: &'a str,
    /// The expiry date, or [`NONE`].
    pub expires: &'a str,
    pub matches: u64,
    /// Configured, yet matched nothing.
    pub stale: bool,
}

pub(crate) struct CoverageView<'a> {
    /// How many services the mappings have and how many were never seen, or that the
    /// mappings were not loaded.
    pub sentence: String,
    /// Legacy, UXP, effect.
    pub never_seen: Vec<(&'a str, &'a str, &'a str)>,
    pub never_compared: Vec<NeverComparedRow<'a>>,
}

pub(crate) struct NeverComparedRow<'a> {
    pub agency: &'a str,
    pub service: &'a str,
    pub requests: u64,
    pub why: String,
}

pub(crate) struct HistoryView<'a> {
    pub chain: Chain<'a>,
    pub entries: Vec<EntryRow<'a>>,
}

pub(crate) enum Chain<'a> {
    Verified {
        entries: u64,
    },
    Broken {
        /// The first bad entry's number, or `?`.
        at: String,
        problem: &'a str,
        verified: u64,
    },
}

pub(crate) struct EntryRow<'a> {
    pub seq: u64,
    pub at: &'a str,
    pub action: &'a str,
    pub actor: &'a str,
    /// Empty, or ` (automatic gate)` to follow the actor.
    pub automatic: &'static str,
    pub reason: &'a str,
    /// `; `-separated.
    pub details: String,
}

impl<'a> View<'a> {
    pub(super) fn of(r: &'a Report) -> View<'a> {
        View {
            header: header(r),
            summary: summary(r),
            evidence: evidence(r),
            agencies: r.agencies.iter().map(agency).collect(),
            ignore_rules: r
                .ignore_rules
                .iter()
                .map(|rule| IgnoreRow {
                    path: &rule.path,
                    reason: &rule.reason,
                    expires: rule.expires.as_deref().unwrap_or(NONE),
                    matches: rule.matches,
                    stale: rule.stale,
                })
                .collect(),
            coverage: coverage(r),
            history: history(r),
            timeline: &r.timeline.buckets,
            bucket_width: width(r.timeline.bucket_ms),
        }
    }
}

fn header(r: &Report) -> Header<'_> {
    let t = &r.thresholds;
    Header {
        scope: r.scope.agency.as_deref().unwrap_or("all agencies"),
        since: &r.scope.since,
        until: &r.scope.until,
        open_ends: if r.scope.since_requested && r.scope.until_requested {
            ""
        } else {
            "; open ends taken from the stored evidence"
        },
        generated_at: &r.generated_at,
        report_version: r.report_version,
        min_samples: t.min_samples,
        min_match_rate: pct(Some(t.min_match_rate)),
        max_p99_ratio: t.max_p99_ratio.to_string(),
        confidence: format!("{:.0}", t.confidence * 100.0),
        latency_error: format!("{:.0}", t.latency_relative_error * 100.0),
        min_match_rate_fraction: t.min_match_rate,
    }
}

fn summary(r: &Report) -> SummaryView<'_> {
    let s = &r.summary;
    SummaryView {
        agencies: s.agencies,
        services: s.services,
        exchanges: s.exchanges,
        compared: s.compared,
        match_rate: pct(s.match_rate),
        ready: s.ready,
        hold: s.hold,
        rollback_recommended: s.rollback_recommended,
        agencies_ready: &s.agencies_ready,
        agencies_by_stage: s
            .agencies_by_stage
            .iter()
            .map(|(stage, agencies)| (stage.as_str(), agencies.as_slice()))
            .collect(),
        blockers: s
            .blockers
            .iter()
            .map(|b| BlockerRow {
                reason: b.kind.as_str(),
                pairs: b.count,
                which: b.services.join(", "),
            })
            .collect(),
    }
}

fn evidence(r: &Report) -> EvidenceView<'_> {
    let e = &r.evidence;
    EvidenceView {
        sentence: format!(
            "{} exchange records and {} diff records read; {} unreadable. Since the store was created: {} exchanges and {} diffs dropped by the writer queue, {} failed writes, {} records removed by retention, {} bodies and {} unified diffs withheld.",
            e.exchanges_read, e.diffs_read, e.records_skipped, e.dropped_exchanges, e.dropped_diffs,
            e.failed_writes, e.retention_removed, e.bodies_withheld, e.unified_withheld
        ),
        warnings: &e.warnings,
    }
}

fn agency(a: &AgencyReport) -> AgencyView<'_> {
    AgencyView {
        agency: &a.agency,
        verdict: a.verdict,
        services: a.services.iter().map(service).collect(),
        match_series: a
            .services
            .iter()
            .filter(|s| s.compared > 0)
            .map(|s| (s.service.as_str(), s.timeline.as_slice()))
            .collect(),
        latency_bars: a
            .services
            .iter()
            .map(|s| (s.service.as_str(), &s.latency.legacy, &s.latency.uxp))
            .collect(),
    }
}

fn service(sv: &ServiceReport) -> ServiceView<'_> {
    let l = &sv.latency;
    ServiceView {
        service: &sv.service,
        stage: &sv.current_stage,
        requests: sv.requests,
        compared: sv.compared,
        match_rate: pct(sv.match_rate),
        interval: interval(sv.match_rate_interval),
        verdict: sv.verdict.status,
        reasons: (sv.verdict.reasons.iter())
            .map(|reason| (reason.kind.as_str(), reason.message.as_str()))
            .collect(),
        seen: format!("{} → {}", sv.first_seen, sv.last_seen),
        by_stage: counts(&sv.by_stage),
        served_by: counts(&sv.by_served_by),
        outcomes: counts(&sv.outcomes),
        not_compared: counts(&sv.not_compared),
        rejected: counts(&sv.rejected),
        any_rejected: !sv.rejected.is_empty(),
        faults_legacy: counts(&sv.faults.legacy),
        faults_uxp: counts(&sv.faults.uxp),
        lossy_fields: counts(&sv.lossy_fields),
        unmapped: counts(&sv.unmapped),
        latency: [latency("legacy", &l.legacy), latency("UXP", &l.uxp)],
        p99_ratio: ratio(l.p99_ratio),
        calibration: calibration(&sv.calibration),
        matched_by_noise: (sv.matched_by_noise > 0)
            .then(|| format!("{} of {} matched", sv.matched_by_noise, sv.matched)),
        diff_paths_total: sv.diff_paths_total,
        diff_paths: sv.diff_paths.iter().map(path_row).collect(),
        noise_paths: sv.noise_paths.iter().map(path_row).collect(),
    }
}

fn latency(side: &'static str, x: &Latency) -> LatencyRow {
    LatencyRow {
        side,
        samples: x.samples,
        p50: ms(x.p50),
        p95: ms(x.p95),
        p99: ms(x.p99),
    }
}

fn calibration(c: &Calibration) -> Option<CalibrationView<'_>> {
    (c.pairs + c.errors > 0).then(|| CalibrationView {
        pairs: c.pairs,
        noise_paths: c.noise_paths,
        errors: c.errors,
        learned: (c.top_noise_paths.iter())
            .map(|p| (p.path.as_str(), p.pairs))
            .collect(),
    })
}

fn path_row(p: &PathStat) -> PathRow<'_> {
    PathRow {
        path: &p.path,
        count: p.count,
        kinds: &p.kinds,
        primary: p.example.primary.as_deref(),
        shadow: p.example.shadow.as_deref(),
        diff_id: &p.example.diff_id,
    }
}

fn coverage(r: &Report) -> CoverageView<'_> {
    let c = &r.coverage;
    CoverageView {
        sentence: match c.mapped_services {
            Some(n) => format!(
                "{n} services in the mappings; {} never seen in traffic in this period.",
                c.never_seen.len()
            ),
            None => "Mappings not loaded: services never seen cannot be listed.".to_string(),
        },
        never_seen: (c.never_seen.iter())
            .map(|m| (m.legacy.as_str(), m.uxp.as_str(), m.effect.as_str()))
            .collect(),
        never_compared: (c.never_compared.iter())
            .map(|n| NeverComparedRow {
                agency: &n.agency,
                service: &n.service,
                requests: n.requests,
                why: counts(&n.why),
            })
            .collect(),
    }
}

fn history(r: &Report) -> HistoryView<'_> {
    HistoryView {
        chain: chain(&r.history.verification),
        entries: (r.history.entries.iter())
            .map(|en| EntryRow {
                seq: en.seq,
                at: &en.at,
                action: &en.action,
                actor: &en.actor,
                automatic: if en.automatic {
                    " (automatic gate)"
                } else {
                    ""
                },
                reason: &en.reason,
                details: en.details.join("; "),
            })
            .collect(),
    }
}

fn chain(v: &ChainCheck) -> Chain<'_> {
    if v.ok {
        return Chain::Verified {
            entries: v.entries_verified,
        };
    }
    Chain::Broken {
        at: v
            .first_bad
            .map_or_else(|| "?".to_string(), |n| n.to_string()),
        problem: v.problem.as_deref().unwrap_or("unknown problem"),
        verified: v.entries_verified,
    }
}

/// `items` rendered with `code` and joined by commas; `empty` when there are none.
pub(crate) fn joined(items: &[String], code: fn(&str) -> String, empty: &str) -> String {
    if items.is_empty() {
        return empty.to_string();
    }
    items.iter().map(|a| code(a)).collect::<Vec<_>>().join(", ")
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| NONE.to_string(), |v| format!("{:.2} %", v * 100.0))
}

fn interval(v: Option<[f64; 2]>) -> String {
    v.map_or_else(
        || NONE.to_string(),
        |[l, h]| format!("{:.2}–{:.2} %", l * 100.0, h * 100.0),
    )
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| NONE.to_string(), |v| format!("{v:.1} ms"))
}

fn ratio(v: Option<f64>) -> String {
    v.map_or_else(|| NONE.to_string(), |v| format!("{v:.2}×"))
}

/// `a 3, b 2` (largest first), or [`NONE`].
fn counts(c: &Counts) -> String {
    if c.is_empty() {
        return NONE.to_string();
    }
    let mut v: Vec<(&String, &u64)> = c.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    v.iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A duration in words for bucket widths.
fn width(ms: u64) -> String {
    match ms {
        m if m % 86_400_000 == 0 => format!("{} d", m / 86_400_000),
        m if m % 3_600_000 == 0 => format!("{} h", m / 3_600_000),
        m if m % 60_000 == 0 => format!("{} min", m / 60_000),
        m => format!("{m} ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::aggregate::{Aggregator, Buckets};
    use crate::report::model::{Evidence, History, HistoryEntry, LearnedPath};
    use crate::report::{assemble, warnings, Period, ReportOptions};

    /// The report of no evidence at all: every section present, nothing in it.
    fn empty_report() -> Report {
        let now_ms = 1_772_323_200_000;
        let opts = ReportOptions {
            now_ms,
            ..ReportOptions::default()
        };
        let period = Period {
            since_ms: now_ms,
            until_ms: now_ms + 1,
            since_requested: false,
            until_requested: false,
        };
        let agg = Aggregator::new(Buckets::for_period(now_ms, now_ms + 1), None);
        let mut evidence = Evidence {
            exchanges_read: 0,
            diffs_read: 0,
            records_skipped: 0,
            dropped_exchanges: 0,
            dropped_diffs: 0,
            failed_writes: 0,
            retention_removed: 0,
            bodies_withheld: 0,
            unified_withheld: 0,
            warnings: Vec::new(),
        };
        evidence.warnings = warnings(&evidence, &agg);
        let history = History {
            entries: Vec::new(),
            verification: ChainCheck {
                ok: true,
                entries_verified: 0,
                first_bad: None,
                problem: None,
            },
        };
        assemble(agg, &period, &opts, evidence, history)
    }

    #[test]
    fn a_broken_chain_without_details_reads_the_same_in_both_renderers() {
        let mut r = empty_report();
        r.history.verification = ChainCheck {
            ok: false,
            entries_verified: 3,
            first_bad: None,
            problem: None,
        };
        r.history.entries.push(HistoryEntry {
            seq: 4,
            at: "2026-03-01T00:00:00Z".into(),
            at_unix_ms: 1_772_323_200_000,
            action: "set-stage".into(),
            actor: "auto-gate".into(),
            reason: "r".into(),
            details: vec!["a".into(), "b".into()],
            automatic: true,
        });
        let v = View::of(&r);
        let Chain::Broken {
            at,
            problem,
            verified,
        } = &v.history.chain
        else {
            panic!("the chain is broken");
        };
        assert_eq!(
            (at.as_str(), *problem, *verified),
            ("?", "unknown problem", 3)
        );
        assert_eq!(v.history.entries[0].automatic, " (automatic gate)");
        assert_eq!(v.history.entries[0].details, "a; b");
        let sentence = "at entry ?: unknown problem (3 entries verified before it).";
        let markdown = super::super::markdown(&r);
        let html = super::super::html(&r);
        assert!(markdown.contains(sentence), "{markdown}");
        assert!(html.contains(sentence), "{html}");
        for out in [&markdown, &html] {
            assert!(out.contains("auto-gate (automatic gate)"), "{out}");
        }
    }

    #[test]
    fn the_calibration_sentence_draws_each_path_with_the_renderers_formatter() {
        let c = Calibration {
            pairs: 5,
            errors: 1,
            noise_paths: 2,
            top_noise_paths: vec![
                LearnedPath {
                    path: "/a".into(),
                    pairs: 4,
                },
                LearnedPath {
                    path: "/b".into(),
                    pairs: 1,
                },
            ],
        };
        let v = calibration(&c).expect("calibrated");
        let s = v.sentence(|p| format!("[{p}]"));
        assert!(
            s.starts_with("5 pair(s) learned from, 2 path(s) learned as noise: [/a] (4), [/b] (1); 1 calibration error(s)"),
            "{s}"
        );
        assert!(calibration(&Calibration::default()).is_none());
    }

    #[test]
    fn numbers_are_formatted_once_for_both_renderers() {
        assert_eq!(pct(Some(0.98765)), "98.77 %");
        assert_eq!(interval(Some([0.5, 0.75])), "50.00–75.00 %");
        assert_eq!(
            (ms(Some(12.34)), ratio(Some(1.5))),
            ("12.3 ms".into(), "1.50×".into())
        );
        assert_eq!(pct(None), NONE);
        let c: Counts = [
            ("b".to_string(), 2),
            ("a".to_string(), 2),
            ("c".to_string(), 5),
        ]
        .into_iter()
        .collect();
        assert_eq!(counts(&c), "c 5, a 2, b 2");
        assert_eq!(counts(&Counts::new()), NONE);
        assert_eq!(
            [86_400_000, 7_200_000, 300_000, 1_500].map(width),
            ["1 d", "2 h", "5 min", "1500 ms"]
        );
    }
}
