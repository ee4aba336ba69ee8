//! Markdown, for change tickets: summary first, then one section per agency. Lays out
//! the [`View`]; what is shown and how numbers read is decided there.

use std::fmt::{Result, Write};

use super::escape::{markdown_cell as cell, markdown_line as line};
use super::view::{
    joined, AgencyView, Chain, PathRow, ServiceView, View, ALL_COMPARED, NONE, NO_AUDIT_ENTRIES,
    NO_IGNORE_RULES,
};
use crate::report::model::{Report, VerdictStatus};

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
    let _ = render(&View::of(r), &mut o);
    o
}

fn render(v: &View<'_>, o: &mut String) -> Result {
    header(v, o)?;
    summary(v, o)?;
    writeln!(o, "\n## Evidence\n")?;
    writeln!(o, "{}", v.evidence.sentence)?;
    for w in v.evidence.warnings {
        writeln!(o, "\n> ⚠ {}", line(w))?;
    }
    for a in &v.agencies {
        agency(a, o)?;
    }
    ignore_rules(v, o)?;
    coverage(v, o)?;
    history(v, o)?;
    writeln!(
        o,
        "\nTime buckets in the JSON and HTML charts: {} each.",
        v.bucket_width
    )
}

fn header(v: &View<'_>, o: &mut String) -> Result {
    let h = &v.header;
    writeln!(o, "# Migration report: {}", cell(h.scope))?;
    writeln!(o)?;
    writeln!(
        o,
        "Period {} → {} (UTC{}) · generated {} · report_version {}",
        h.since, h.until, h.open_ends, h.generated_at, h.report_version
    )?;
    writeln!(o)?;
    writeln!(
        o,
        "Verdict thresholds: min_samples **{}**, min_match_rate **{}**, max_p99_ratio **{}**; match-rate intervals are {} % Wilson score intervals; latency percentiles are within {} %.",
        h.min_samples, h.min_match_rate, h.max_p99_ratio, h.confidence, h.latency_error
    )
}

fn summary(v: &View<'_>, o: &mut String) -> Result {
    let s = &v.summary;
    writeln!(o, "\n## Summary\n")?;
    writeln!(
        o,
        "- **{}** agencies, **{}** agency × service pairs, **{}** exchanges, **{}** compared, match rate **{}**",
        s.agencies, s.services, s.exchanges, s.compared, s.match_rate
    )?;
    writeln!(
        o,
        "- Verdicts: **{}** ready, **{}** hold, **{}** rollback recommended",
        s.ready, s.hold, s.rollback_recommended
    )?;
    writeln!(
        o,
        "- Agencies ready to move: {}",
        joined(s.agencies_ready, code, "none")
    )?;
    if !s.agencies_by_stage.is_empty() {
        writeln!(o, "\n| stage | agencies |\n|---|---|")?;
        for (stage, agencies) in &s.agencies_by_stage {
            writeln!(o, "| {} | {} |", cell(stage), joined(agencies, code, ""))?;
        }
    }
    if !s.blockers.is_empty() {
        writeln!(
            o,
            "\nWhat blocks the rest:\n\n| reason | pairs | which |\n|---|---:|---|"
        )?;
        for b in &s.blockers {
            writeln!(o, "| {} | {} | {} |", b.reason, b.pairs, cell(&b.which))?;
        }
    }
    Ok(())
}

fn agency(a: &AgencyView<'_>, o: &mut String) -> Result {
    writeln!(
        o,
        "\n## Agency {} — {}\n",
        code(a.agency),
        verdict_label(a.verdict)
    )?;
    writeln!(o, "| service | stage | requests | compared | match rate | 95 % interval | p99 legacy | p99 UXP | verdict |")?;
    writeln!(o, "|---|---|---:|---:|---:|---|---:|---:|---|")?;
    for sv in &a.services {
        writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            code(sv.service),
            cell(sv.stage),
            sv.requests,
            sv.compared,
            sv.match_rate,
            sv.interval,
            sv.latency[0].p99,
            sv.latency[1].p99,
            verdict_label(sv.verdict)
        )?;
    }
    for sv in &a.services {
        service(sv, o)?;
    }
    Ok(())
}

fn service(sv: &ServiceView<'_>, o: &mut String) -> Result {
    writeln!(o, "\n### {}\n", code(sv.service))?;
    let colon = if sv.reasons.is_empty() { "" } else { ":" };
    writeln!(o, "**{}**{colon}", verdict_label(sv.verdict))?;
    for (kind, message) in &sv.reasons {
        writeln!(o, "- {kind}: {}", line(message))?;
    }
    writeln!(o)?;
    writeln!(o, "- Seen {}; last stage `{}`", sv.seen, cell(sv.stage))?;
    writeln!(
        o,
        "- By stage: {}; served by: {}",
        sv.by_stage, sv.served_by
    )?;
    writeln!(o, "- Outcomes: {}", sv.outcomes)?;
    writeln!(o, "- Not compared: {}", sv.not_compared)?;
    if sv.any_rejected {
        writeln!(o, "- Rejected by dualroad: {}", sv.rejected)?;
    }
    writeln!(
        o,
        "- Faults: legacy {}; UXP {}",
        sv.faults_legacy, sv.faults_uxp
    )?;
    writeln!(
        o,
        "- Legacy-only header fields seen (dropped on UXP): {}",
        sv.lossy_fields
    )?;
    writeln!(o, "- Unmapped identifiers: {}", sv.unmapped)?;
    if let Some(cal) = &sv.calibration {
        writeln!(o, "- Calibration: {}", cal.sentence(code))?;
    }
    if let Some(m) = &sv.matched_by_noise {
        writeln!(o, "- Matched only through paths learned as noise: {m}")?;
    }
    writeln!(
        o,
        "\n| latency | samples | p50 | p95 | p99 |\n|---|---:|---:|---:|---:|"
    )?;
    for x in &sv.latency {
        let (side, n) = (x.side, x.samples);
        writeln!(o, "| {side} | {n} | {} | {} | {} |", x.p50, x.p95, x.p99)?;
    }
    writeln!(o, "\np99 ratio UXP / legacy: {}", sv.p99_ratio)?;
    paths(sv, o)
}

fn paths(sv: &ServiceView<'_>, o: &mut String) -> Result {
    if !sv.diff_paths.is_empty() {
        writeln!(
            o,
            "\nTop differing paths ({} distinct):\n\n| path | count | kind | primary | shadow | example |\n|---|---:|---|---|---|---|",
            sv.diff_paths_total
        )?;
        for p in &sv.diff_paths {
            let side = |s: Option<&str>| s.map_or_else(|| NONE.to_string(), code);
            writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                code(p.path),
                p.count,
                p.kinds,
                side(p.primary),
                side(p.shadow),
                code(p.diff_id)
            )?;
        }
    }
    if !sv.noise_paths.is_empty() {
        writeln!(o, "\nNoise learned by calibration (not counted against UXP):\n\n| path | count | kind |\n|---|---:|---|")?;
        for PathRow {
            path, count, kinds, ..
        } in &sv.noise_paths
        {
            writeln!(o, "| {} | {count} | {kinds} |", code(path))?;
        }
    }
    Ok(())
}

fn ignore_rules(v: &View<'_>, o: &mut String) -> Result {
    writeln!(o, "\n## Ignore rules\n")?;
    if v.ignore_rules.is_empty() {
        return writeln!(o, "{NO_IGNORE_RULES}");
    }
    writeln!(
        o,
        "| path | reason | expires | matched in | |\n|---|---|---|---:|---|"
    )?;
    for rule in &v.ignore_rules {
        writeln!(
            o,
            "| {} | {} | {} | {} | {} |",
            code(rule.path),
            cell(rule.reason),
            rule.expires,
            rule.matches,
            if rule.stale {
                "**stale**: matched nothing"
            } else {
                ""
            }
        )?;
    }
    Ok(())
}

fn coverage(v: &View<'_>, o: &mut String) -> Result {
    let c = &v.coverage;
    writeln!(o, "\n## Coverage\n")?;
    writeln!(o, "{}", c.sentence)?;
    if !c.never_seen.is_empty() {
        writeln!(o, "\n| never seen (legacy) | UXP | effect |\n|---|---|---|")?;
        for (legacy, uxp, effect) in &c.never_seen {
            writeln!(o, "| {} | {} | {effect} |", code(legacy), code(uxp))?;
        }
    }
    if c.never_compared.is_empty() {
        return writeln!(o, "\n{ALL_COMPARED}");
    }
    writeln!(
        o,
        "\n| seen, never compared: agency | service | requests | why |\n|---|---|---:|---|"
    )?;
    for n in &c.never_compared {
        writeln!(
            o,
            "| {} | {} | {} | {} |",
            code(n.agency),
            code(n.service),
            n.requests,
            cell(&n.why)
        )?;
    }
    Ok(())
}

fn history(v: &View<'_>, o: &mut String) -> Result {
    let h = &v.history;
    writeln!(o, "\n## Stage and switch history\n")?;
    match &h.chain {
        Chain::Verified { entries } => {
            writeln!(o, "Audit chain verified: {entries} entries intact.")?
        }
        Chain::Broken {
            at,
            problem,
            verified,
        } => writeln!(
            o,
            "> ⚠ **Audit chain broken** at entry {at}: {} ({verified} entries verified before it).",
            cell(problem)
        )?,
    }
    if h.entries.is_empty() {
        return writeln!(o, "\n{NO_AUDIT_ENTRIES}");
    }
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
            cell(en.actor),
            en.automatic,
            cell(en.reason),
            cell(&en.details)
        )?;
    }
    Ok(())
}
