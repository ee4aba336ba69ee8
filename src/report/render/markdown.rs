//! Markdown, for change tickets: summary first, then one section per agency.

use std::fmt::Write;

use super::escape::{markdown_cell as cell, markdown_line as line};
use super::{counts, interval, ms, pct, ratio, width};
use crate::report::model::{Report, ServiceReport, VerdictStatus};

fn code(s: &str) -> String {
    format!("`{}`", cell(s))
}

fn verdict_label(s: VerdictStatus) -> &'static str {
    match s {
        VerdictStatus::Ready => "✅ ready",
        VerdictStatus::Hold => "⏸ hold",
        VerdictStatus::RollbackRecommended => "⛔ rollback recommended",
    }
}

pub fn markdown(r: &Report) -> String {
    let mut o = String::new();
    let _ = render(r, &mut o);
    o
}

fn render(r: &Report, o: &mut String) -> std::fmt::Result {
    let scope = r.scope.agency.as_deref().unwrap_or("all agencies");
    writeln!(o, "# Migration report: {}", cell(scope))?;
    writeln!(o)?;
    writeln!(
        o,
        "Period {} → {} (UTC{}) · generated {} · report_version {}",
        r.scope.since,
        r.scope.until,
        match (r.scope.since_requested, r.scope.until_requested) {
            (true, true) => "",
            _ => "; open ends taken from the stored evidence",
        },
        r.generated_at,
        r.report_version
    )?;
    writeln!(o)?;
    let t = &r.thresholds;
    writeln!(
        o,
        "Verdict thresholds: min_samples **{}**, min_match_rate **{}**, max_p99_ratio **{}**; match-rate intervals are {:.0} % Wilson score intervals; latency percentiles are within {:.0} %.",
        t.min_samples,
        pct(Some(t.min_match_rate)),
        t.max_p99_ratio,
        t.confidence * 100.0,
        t.latency_relative_error * 100.0
    )?;

    // --- summary ---
    let s = &r.summary;
    writeln!(o, "\n## Summary\n")?;
    writeln!(
        o,
        "- **{}** agencies, **{}** agency × service pairs, **{}** exchanges, **{}** compared, match rate **{}**",
        s.agencies, s.services, s.exchanges, s.compared, pct(s.match_rate)
    )?;
    writeln!(
        o,
        "- Verdicts: **{}** ready, **{}** hold, **{}** rollback recommended",
        s.ready, s.hold, s.rollback_recommended
    )?;
    writeln!(
        o,
        "- Agencies ready to move: {}",
        super::joined(&s.agencies_ready, code, "none")
    )?;
    if !s.agencies_by_stage.is_empty() {
        writeln!(o, "\n| stage | agencies |\n|---|---|")?;
        for (stage, agencies) in &s.agencies_by_stage {
            writeln!(
                o,
                "| {} | {} |",
                cell(stage),
                super::joined(agencies, code, "")
            )?;
        }
    }
    if !s.blockers.is_empty() {
        writeln!(
            o,
            "\nWhat blocks the rest:\n\n| reason | pairs | which |\n|---|---:|---|"
        )?;
        for b in &s.blockers {
            writeln!(
                o,
                "| {} | {} | {} |",
                b.kind.as_str(),
                b.count,
                cell(&b.services.join(", "))
            )?;
        }
    }

    // --- evidence ---
    let e = &r.evidence;
    writeln!(o, "\n## Evidence\n")?;
    writeln!(
        o,
        "{} exchange records and {} diff records read; {} unreadable. Since the store was created: {} exchanges and {} diffs dropped by the writer queue, {} failed writes, {} records removed by retention, {} bodies and {} unified diffs withheld.",
        e.exchanges_read, e.diffs_read, e.records_skipped, e.dropped_exchanges, e.dropped_diffs,
        e.failed_writes, e.retention_removed, e.bodies_withheld, e.unified_withheld
    )?;
    for w in &e.warnings {
        writeln!(o, "\n> ⚠ {}", line(w))?;
    }

    // --- agencies ---
    for a in &r.agencies {
        writeln!(
            o,
            "\n## Agency {} — {}\n",
            code(&a.agency),
            verdict_label(a.verdict)
        )?;
        writeln!(o, "| service | stage | requests | compared | match rate | 95 % interval | p99 legacy | p99 UXP | verdict |")?;
        writeln!(o, "|---|---|---:|---:|---:|---|---:|---:|---|")?;
        for sv in &a.services {
            writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                code(&sv.service),
                cell(&sv.current_stage),
                sv.requests,
                sv.compared,
                pct(sv.match_rate),
                interval(sv.match_rate_interval),
                ms(sv.latency.legacy.p99),
                ms(sv.latency.uxp.p99),
                verdict_label(sv.verdict.status)
            )?;
        }
        for sv in &a.services {
            service(sv, o)?;
        }
    }

    // --- ignore rules ---
    writeln!(o, "\n## Ignore rules\n")?;
    if r.ignore_rules.is_empty() {
        writeln!(o, "No ignore rules configured.")?;
    } else {
        writeln!(
            o,
            "| path | reason | expires | matched in | |\n|---|---|---|---:|---|"
        )?;
        for rule in &r.ignore_rules {
            writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                code(&rule.path),
                cell(&rule.reason),
                rule.expires.as_deref().unwrap_or("—"),
                rule.matches,
                if rule.stale {
                    "**stale**: matched nothing"
                } else {
                    ""
                }
            )?;
        }
    }

    // --- coverage ---
    let c = &r.coverage;
    writeln!(o, "\n## Coverage\n")?;
    match c.mapped_services {
        Some(n) => writeln!(
            o,
            "{n} services in the mappings; {} never seen in traffic in this period.",
            c.never_seen.len()
        )?,
        None => writeln!(
            o,
            "Mappings not loaded: services never seen cannot be listed."
        )?,
    }
    if !c.never_seen.is_empty() {
        writeln!(o, "\n| never seen (legacy) | UXP | effect |\n|---|---|---|")?;
        for m in &c.never_seen {
            writeln!(
                o,
                "| {} | {} | {} |",
                code(&m.legacy),
                code(&m.uxp),
                m.effect
            )?;
        }
    }
    if c.never_compared.is_empty() {
        writeln!(o, "\nEvery service seen was compared at least once.")?;
    } else {
        writeln!(
            o,
            "\n| seen, never compared: agency | service | requests | why |\n|---|---|---:|---|"
        )?;
        for n in &c.never_compared {
            writeln!(
                o,
                "| {} | {} | {} | {} |",
                code(&n.agency),
                code(&n.service),
                n.requests,
                cell(&counts(&n.why))
            )?;
        }
    }

    // --- history ---
    let h = &r.history;
    writeln!(o, "\n## Stage and switch history\n")?;
    if h.verification.ok {
        writeln!(
            o,
            "Audit chain verified: {} entries intact.",
            h.verification.entries_verified
        )?;
    } else {
        writeln!(
            o,
            "> ⚠ **Audit chain broken** at entry {}: {} ({} entries verified before it).",
            h.verification
                .first_bad
                .map_or_else(|| "?".to_string(), |n| n.to_string()),
            cell(
                h.verification
                    .problem
                    .as_deref()
                    .unwrap_or("unknown problem")
            ),
            h.verification.entries_verified
        )?;
    }
    if h.entries.is_empty() {
        writeln!(o, "\nNo audit entries in the period.")?;
    } else {
        writeln!(
            o,
            "\n| # | at | action | actor | reason | details |\n|---:|---|---|---|---|---|"
        )?;
        for en in &h.entries {
            writeln!(
                o,
                "| {} | {} | {} | {}{} | {} | {} |",
                en.seq,
                en.at,
                en.action,
                cell(&en.actor),
                if en.automatic {
                    " (automatic gate)"
                } else {
                    ""
                },
                cell(&en.reason),
                cell(&en.details.join("; "))
            )?;
        }
    }
    writeln!(
        o,
        "\nTime buckets in the JSON and HTML charts: {} each.",
        width(r.timeline.bucket_ms)
    )?;
    Ok(())
}

fn service(sv: &ServiceReport, o: &mut String) -> std::fmt::Result {
    writeln!(o, "\n### {}\n", code(&sv.service))?;
    writeln!(
        o,
        "**{}**{}",
        verdict_label(sv.verdict.status),
        if sv.verdict.reasons.is_empty() {
            ""
        } else {
            ":"
        }
    )?;
    for reason in &sv.verdict.reasons {
        writeln!(o, "- {}: {}", reason.kind.as_str(), line(&reason.message))?;
    }
    writeln!(o)?;
    writeln!(
        o,
        "- Seen {} → {}; last stage `{}`",
        sv.first_seen,
        sv.last_seen,
        cell(&sv.current_stage)
    )?;
    writeln!(
        o,
        "- By stage: {}; served by: {}",
        counts(&sv.by_stage),
        counts(&sv.by_served_by)
    )?;
    writeln!(o, "- Outcomes: {}", counts(&sv.outcomes))?;
    writeln!(o, "- Not compared: {}", counts(&sv.not_compared))?;
    if !sv.rejected.is_empty() {
        writeln!(o, "- Rejected by dualroad: {}", counts(&sv.rejected))?;
    }
    writeln!(
        o,
        "- Faults: legacy {}; UXP {}",
        counts(&sv.faults.legacy),
        counts(&sv.faults.uxp)
    )?;
    writeln!(
        o,
        "- Legacy-only header fields seen (dropped on UXP): {}",
        counts(&sv.lossy_fields)
    )?;
    writeln!(o, "- Unmapped identifiers: {}", counts(&sv.unmapped))?;
    let cal = &sv.calibration;
    if cal.pairs + cal.errors > 0 {
        let learned: Vec<String> = cal
            .top_noise_paths
            .iter()
            .map(|p| format!("{} ({})", code(&p.path), p.pairs))
            .collect();
        writeln!(
            o,
            "- Calibration: {} pair(s) learned from, {} path(s) learned as noise{}; {} calibration error(s) (a fault, an answer that is not well-formed, a failing status or a failed call: never learned)",
            cal.pairs,
            cal.noise_paths,
            if learned.is_empty() {
                String::new()
            } else {
                format!(": {}", learned.join(", "))
            },
            cal.errors
        )?;
    }
    if sv.matched_by_noise > 0 {
        writeln!(
            o,
            "- Matched only through paths learned as noise: {} of {} matched",
            sv.matched_by_noise, sv.matched
        )?;
    }
    let l = &sv.latency;
    writeln!(
        o,
        "\n| latency | samples | p50 | p95 | p99 |\n|---|---:|---:|---:|---:|"
    )?;
    for (name, x) in [("legacy", &l.legacy), ("UXP", &l.uxp)] {
        writeln!(
            o,
            "| {name} | {} | {} | {} | {} |",
            x.samples,
            ms(x.p50),
            ms(x.p95),
            ms(x.p99)
        )?;
    }
    writeln!(o, "\np99 ratio UXP / legacy: {}", ratio(l.p99_ratio))?;
    if !sv.diff_paths.is_empty() {
        writeln!(
            o,
            "\nTop differing paths ({} distinct):\n\n| path | count | kind | primary | shadow | example |\n|---|---:|---|---|---|---|",
            sv.diff_paths_total
        )?;
        for p in &sv.diff_paths {
            writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                code(&p.path),
                p.count,
                p.kinds,
                p.example
                    .primary
                    .as_deref()
                    .map_or_else(|| "—".to_string(), code),
                p.example
                    .shadow
                    .as_deref()
                    .map_or_else(|| "—".to_string(), code),
                code(&p.example.diff_id)
            )?;
        }
    }
    if !sv.noise_paths.is_empty() {
        writeln!(o, "\nNoise learned by calibration (not counted against UXP):\n\n| path | count | kind |\n|---|---:|---|")?;
        for p in &sv.noise_paths {
            writeln!(o, "| {} | {} | {} |", code(&p.path), p.count, p.kinds)?;
        }
    }
    Ok(())
}
