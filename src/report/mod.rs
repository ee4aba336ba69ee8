//! Migration reports, the shell's half: [`build`] reads the store once — exchange and
//! diff records streamed, the noise models, the counters, the audit log — and hands
//! them to the core's aggregation and [`assemble`] (`dualroad_core::report`, where
//! verdicts, the model and the renderers live). [`sample`] fills a store with a
//! plausible migration for `dualroad report --sample` and the report's screenshots.

#[cfg(feature = "sim")]
pub mod sample;

pub use dualroad_core::report::*;

use dualroad_core::report::aggregate::{Aggregator, Buckets};

use crate::store::exchanges::decode_borrowed;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the period is empty: --since {since} is not before --until {until}")]
    EmptyPeriod { since: String, until: String },
}

/// Reads the store once and builds the report.
pub fn build(store: &dyn Store, opts: &ReportOptions<'_>) -> Result<Report, ReportError> {
    if let (Some(s), Some(u)) = (opts.since_ms, opts.until_ms) {
        if s >= u {
            return Err(ReportError::EmptyPeriod {
                since: utc(s),
                until: utc(u),
            });
        }
    }
    let ex = store.exchanges();
    // The period's open ends come from the evidence: the first and last stored keys.
    let first = match opts.since_ms {
        Some(s) => s,
        None => match ex.exchanges_between(0, u64::MAX).next() {
            Some(r) => r?.0.at_unix_ms,
            None => opts.until_ms.unwrap_or(opts.now_ms).min(opts.now_ms),
        },
    };
    let last = match opts.until_ms {
        Some(u) => u,
        None => match ex.exchanges_between(0, u64::MAX).next_back() {
            Some(r) => r?.0.at_unix_ms.saturating_add(1).max(first + 1),
            None => first + 1,
        },
    };
    let buckets = Buckets::for_period(first, last);
    let mut agg = Aggregator::new(buckets, opts.agency.clone());
    // Exchanges are decoded borrowed (the bulk of the work); what does not decode is
    // counted, as the store's own readers do.
    let mut skipped = 0u64;
    for value in ex.exchange_values_between(first, last) {
        let value = value?;
        match decode_borrowed::<ExchangeFacts<'_>>(&value) {
            Ok(facts) => agg.add(&facts),
            Err(e) => {
                skipped += 1;
                if skipped == 1 {
                    tracing::warn!(error = ?e, "report: skipping a stored exchange that cannot be read; further ones are counted");
                }
            }
        }
    }
    let mut diffs = ex.diffs_between(first, last);
    for item in diffs.by_ref() {
        let (key, d) = item?;
        agg.add_diff(&key.to_string(), &d);
    }
    skipped += diffs.skipped().total();
    agg.calibration = ex
        .noise_models()?
        .iter()
        .map(|(service, m)| (service.clone(), calibration(m)))
        .collect();
    let counters = ex.counters()?;
    let audit = store.audit_entries()?;
    let check = store.verify_audit()?;
    let period = Period {
        since_ms: first,
        until_ms: last,
        since_requested: opts.since_ms.is_some(),
        until_requested: opts.until_ms.is_some(),
    };
    let history = History {
        entries: audit
            .into_iter()
            .filter(|e| {
                opts.since_ms.map_or(true, |s| e.at_unix_ms >= s)
                    && opts.until_ms.map_or(true, |u| e.at_unix_ms < u)
            })
            .map(|e| HistoryEntry {
                seq: e.seq,
                at: utc(e.at_unix_ms),
                at_unix_ms: e.at_unix_ms,
                action: e.action.as_str().to_string(),
                automatic: e.actor == AUTO_GATE_ACTOR,
                actor: e.actor,
                reason: e.reason,
                details: e.details,
            })
            .collect(),
        verification: ChainCheck {
            ok: check.ok,
            entries_verified: check.entries,
            first_bad: check.first_bad,
            problem: check.problem,
        },
    };
    let mut evidence = Evidence {
        exchanges_read: agg.exchanges_read,
        diffs_read: agg.diffs_read,
        records_skipped: skipped,
        dropped_exchanges: counters.dropped.exchanges,
        dropped_diffs: counters.dropped.diffs,
        failed_writes: counters.failed_writes,
        retention_removed: counters.retention_removed,
        bodies_withheld: counters.bodies_unredactable + counters.bodies_too_large,
        unified_withheld: counters.unified_withheld,
        warnings: Vec::new(),
    };
    evidence.warnings = warnings(&evidence, &agg);
    Ok(assemble(agg, &period, opts, evidence, history))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_store_says_there_is_no_evidence() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = crate::store::SledStore::open(dir.path()).expect("store");
        let opts = ReportOptions {
            now_ms: 1_772_323_200_000,
            ..ReportOptions::default()
        };
        let r = build(&store, &opts).expect("report");
        assert_eq!(r.report_version, REPORT_VERSION);
        assert_eq!((r.summary.exchanges, r.summary.match_rate), (0, None));
        assert!(r.agencies.is_empty());
        assert!(
            r.evidence.warnings[0].starts_with("no exchanges stored"),
            "{:?}",
            r.evidence.warnings
        );
        assert!(r.history.verification.ok);
        assert_eq!(r.coverage.mapped_services, None);
        let bad = ReportOptions {
            since_ms: Some(10),
            until_ms: Some(10),
            ..opts
        };
        let e = build(&store, &bad).expect_err("empty period");
        assert!(e.to_string().contains("is not before --until"), "{e}");
    }
}
