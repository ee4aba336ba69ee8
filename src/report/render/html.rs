//! One self-contained HTML file: inline CSS, inline SVG charts ([`super::svg`]), no
//! script, no external resource, so it can be attached to a ticket and opened
//! offline. Written as well-formed XHTML (every element closed, everything escaped) so
//! it parses as XML too.

use std::fmt::Write;

use super::escape::xml as esc;
use super::{counts, interval, ms, pct, ratio, svg, width};
use crate::report::model::{Counts, Report, ServiceReport, VerdictStatus};

const CSS: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;margin:0;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px 28px 48px;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 10px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
.meta{color:#555;margin:2px 0}
table{border-collapse:collapse;margin:8px 0 12px;width:100%}
th,td{border:1px solid #e1e4e8;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f4f6;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
code{font:12px/1.3 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f3f4f6;padding:1px 4px;border-radius:3px;word-break:break-all}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:10px 0}
.card{border:1px solid #e1e4e8;border-radius:6px;padding:10px 14px;min-width:130px}
.card b{display:block;font-size:22px}
.v{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;font-size:12px;white-space:nowrap}
.v-ready{background:#dcf5e3;color:#17692f}.v-hold{background:#fff1c2;color:#7a5b00}.v-rollback{background:#fde0e0;color:#9b1c1c}
.warn{background:#fff8e1;border-left:4px solid #f0b400;padding:6px 10px;margin:6px 0}
.bad{background:#fde0e0;border-left:4px solid #d33;padding:6px 10px;margin:6px 0}
.ok{color:#17692f}
details{margin:8px 0;border:1px solid #e1e4e8;border-radius:6px;padding:4px 12px}
summary{cursor:pointer;font-weight:600;padding:4px 0}
svg.chart{width:100%;max-width:900px;height:auto;display:block;margin:8px 0 14px}
table.kv th{width:32%}
svg .ctitle{font:600 13px system-ui,sans-serif;fill:#333}
svg .tick{font:11px system-ui,sans-serif;fill:#555}
svg .legend{font:12px system-ui,sans-serif;fill:#333}
ul.reasons{margin:4px 0 8px 18px;padding:0}
footer{color:#777;font-size:12px;margin-top:32px}
"#;

fn verdict(s: VerdictStatus) -> String {
    let class = match s {
        VerdictStatus::Ready => "v-ready",
        VerdictStatus::Hold => "v-hold",
        VerdictStatus::RollbackRecommended => "v-rollback",
    };
    format!(r#"<span class="v {class}">{}</span>"#, s.as_str())
}

fn code(s: &str) -> String {
    format!("<code>{}</code>", esc(s))
}

fn counts_html(c: &Counts) -> String {
    esc(&counts(c))
}

pub fn html(r: &Report) -> String {
    let mut o = String::with_capacity(64 * 1024);
    let _ = render(r, &mut o);
    o
}

fn render(r: &Report, o: &mut String) -> std::fmt::Result {
    let scope = r.scope.agency.as_deref().unwrap_or("all agencies");
    o.push_str("<!DOCTYPE html>\n");
    writeln!(
        o,
        r#"<html xmlns="http://www.w3.org/1999/xhtml" lang="en">"#
    )?;
    writeln!(
        o,
        r#"<head><meta charset="utf-8"/><meta name="viewport" content="width=device-width, initial-scale=1"/><title>Migration report: {}</title><style>{CSS}</style></head>"#,
        esc(scope)
    )?;
    writeln!(o, "<body><main>")?;
    writeln!(
        o,
        r#"<header id="top"><h1>Migration report: {}</h1>"#,
        esc(scope)
    )?;
    writeln!(
        o,
        r#"<p class="meta">Period <b>{}</b> → <b>{}</b> (UTC{}) · generated {} · report_version {}</p>"#,
        esc(&r.scope.since),
        esc(&r.scope.until),
        if r.scope.since_requested && r.scope.until_requested {
            ""
        } else {
            "; open ends taken from the stored evidence"
        },
        esc(&r.generated_at),
        r.report_version
    )?;
    let t = &r.thresholds;
    writeln!(
        o,
        r#"<p class="meta">Verdict thresholds: min_samples <b>{}</b>, min_match_rate <b>{}</b>, max_p99_ratio <b>{}</b>. Match-rate intervals: {:.0} % Wilson score. Latency percentiles within {:.0} %.</p></header>"#,
        t.min_samples,
        esc(&pct(Some(t.min_match_rate))),
        t.max_p99_ratio,
        t.confidence * 100.0,
        t.latency_relative_error * 100.0
    )?;

    // --- summary ---
    let s = &r.summary;
    writeln!(
        o,
        r#"<section id="summary"><h2>Summary</h2><div class="cards">"#
    )?;
    for (label, value) in [
        ("agencies", s.agencies.to_string()),
        ("agency × service", s.services.to_string()),
        ("exchanges", s.exchanges.to_string()),
        ("compared", s.compared.to_string()),
        ("match rate", pct(s.match_rate)),
        ("ready", s.ready.to_string()),
        ("hold", s.hold.to_string()),
        ("rollback recommended", s.rollback_recommended.to_string()),
    ] {
        writeln!(
            o,
            r#"<div class="card"><b>{}</b>{}</div>"#,
            esc(&value),
            esc(label)
        )?;
    }
    writeln!(o, "</div>")?;
    writeln!(
        o,
        "<p>Agencies ready to move: {}</p>",
        super::joined(&s.agencies_ready, code, "none")
    )?;
    if !s.agencies_by_stage.is_empty() {
        writeln!(o, "<table><tr><th>stage</th><th>agencies</th></tr>")?;
        for (stage, agencies) in &s.agencies_by_stage {
            writeln!(
                o,
                "<tr><td>{}</td><td>{}</td></tr>",
                esc(stage),
                super::joined(agencies, code, "")
            )?;
        }
        writeln!(o, "</table>")?;
    }
    if !s.blockers.is_empty() {
        writeln!(
            o,
            r#"<h3>What blocks the rest</h3><table><tr><th>reason</th><th class="n">pairs</th><th>which</th></tr>"#
        )?;
        for b in &s.blockers {
            writeln!(
                o,
                r#"<tr><td>{}</td><td class="n">{}</td><td>{}</td></tr>"#,
                esc(b.kind.as_str()),
                b.count,
                esc(&b.services.join(", "))
            )?;
        }
        writeln!(o, "</table>")?;
    }
    writeln!(o, "{}", svg::stages(&r.timeline.buckets))?;
    writeln!(
        o,
        r#"<p class="meta">One bar per {}.</p></section>"#,
        esc(&width(r.timeline.bucket_ms))
    )?;

    // --- evidence ---
    let e = &r.evidence;
    writeln!(o, r#"<section id="evidence"><h2>Evidence</h2>"#)?;
    writeln!(
        o,
        "<p>{} exchange records and {} diff records read; {} unreadable. Since the store was created: {} exchanges and {} diffs dropped by the writer queue, {} failed writes, {} records removed by retention, {} bodies and {} unified diffs withheld.</p>",
        e.exchanges_read, e.diffs_read, e.records_skipped, e.dropped_exchanges, e.dropped_diffs,
        e.failed_writes, e.retention_removed, e.bodies_withheld, e.unified_withheld
    )?;
    for w in &e.warnings {
        writeln!(o, r#"<p class="warn">⚠ {}</p>"#, esc(w))?;
    }
    writeln!(o, "</section>")?;

    // --- agencies ---
    for (i, a) in r.agencies.iter().enumerate() {
        writeln!(
            o,
            r#"<section id="agency-{i}" class="agency"><h2>Agency {} {}</h2>"#,
            code(&a.agency),
            verdict(a.verdict)
        )?;
        writeln!(
            o,
            r#"<table><tr><th>service</th><th>stage</th><th class="n">requests</th><th class="n">compared</th><th class="n">match rate</th><th>95 % interval</th><th class="n">p99 legacy</th><th class="n">p99 UXP</th><th>verdict</th></tr>"#
        )?;
        for sv in &a.services {
            writeln!(
                o,
                r#"<tr><td>{}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td>{}</td></tr>"#,
                code(&sv.service),
                esc(&sv.current_stage),
                sv.requests,
                sv.compared,
                esc(&pct(sv.match_rate)),
                esc(&interval(sv.match_rate_interval)),
                esc(&ms(sv.latency.legacy.p99)),
                esc(&ms(sv.latency.uxp.p99)),
                verdict(sv.verdict.status)
            )?;
        }
        writeln!(o, "</table>")?;
        let series: Vec<(String, &[crate::report::model::ServiceBucket])> = a
            .services
            .iter()
            .filter(|s| s.compared > 0)
            .map(|s| (s.service.clone(), s.timeline.as_slice()))
            .collect();
        if series.is_empty() {
            writeln!(
                o,
                r#"<p class="meta">Nothing compared: no match-rate chart.</p>"#
            )?;
        } else {
            writeln!(
                o,
                "{}",
                svg::match_rate(&series, r.thresholds.min_match_rate)
            )?;
            if series.len() > svg::MAX_SERIES {
                writeln!(
                    o,
                    r#"<p class="meta">{} more services are in the table but not drawn.</p>"#,
                    series.len() - svg::MAX_SERIES
                )?;
            }
        }
        let rows: Vec<(
            String,
            &crate::report::model::Latency,
            &crate::report::model::Latency,
        )> = a
            .services
            .iter()
            .map(|s| (s.service.clone(), &s.latency.legacy, &s.latency.uxp))
            .collect();
        writeln!(o, "{}", svg::latency(&rows))?;
        for sv in &a.services {
            service(sv, o)?;
        }
        writeln!(o, "</section>")?;
    }

    // --- ignore rules ---
    writeln!(o, r#"<section id="ignore-rules"><h2>Ignore rules</h2>"#)?;
    if r.ignore_rules.is_empty() {
        writeln!(o, "<p>No ignore rules configured.</p>")?;
    } else {
        writeln!(
            o,
            r#"<table><tr><th>path</th><th>reason</th><th>expires</th><th class="n">matched in</th><th>status</th></tr>"#
        )?;
        for rule in &r.ignore_rules {
            writeln!(
                o,
                r#"<tr><td>{}</td><td>{}</td><td>{}</td><td class="n">{}</td><td>{}</td></tr>"#,
                code(&rule.path),
                esc(&rule.reason),
                esc(rule.expires.as_deref().unwrap_or("—")),
                rule.matches,
                if rule.stale {
                    r#"<span class="v v-hold">stale: matched nothing</span>"#
                } else {
                    "in use"
                }
            )?;
        }
        writeln!(o, "</table>")?;
    }
    writeln!(o, "</section>")?;

    // --- coverage ---
    let c = &r.coverage;
    writeln!(o, r#"<section id="coverage"><h2>Coverage</h2>"#)?;
    match c.mapped_services {
        Some(n) => writeln!(
            o,
            "<p>{n} services in the mappings; {} never seen in traffic in this period.</p>",
            c.never_seen.len()
        )?,
        None => writeln!(
            o,
            "<p>Mappings not loaded: services never seen cannot be listed.</p>"
        )?,
    }
    if !c.never_seen.is_empty() {
        writeln!(
            o,
            "<table><tr><th>never seen (legacy)</th><th>UXP</th><th>effect</th></tr>"
        )?;
        for m in &c.never_seen {
            writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                code(&m.legacy),
                code(&m.uxp),
                esc(&m.effect)
            )?;
        }
        writeln!(o, "</table>")?;
    }
    if c.never_compared.is_empty() {
        writeln!(o, "<p>Every service seen was compared at least once.</p>")?;
    } else {
        writeln!(
            o,
            r#"<table><tr><th>seen, never compared: agency</th><th>service</th><th class="n">requests</th><th>why</th></tr>"#
        )?;
        for n in &c.never_compared {
            writeln!(
                o,
                r#"<tr><td>{}</td><td>{}</td><td class="n">{}</td><td>{}</td></tr>"#,
                code(&n.agency),
                code(&n.service),
                n.requests,
                counts_html(&n.why)
            )?;
        }
        writeln!(o, "</table>")?;
    }
    writeln!(o, "</section>")?;

    // --- history ---
    let h = &r.history;
    writeln!(
        o,
        r#"<section id="history"><h2>Stage and switch history</h2>"#
    )?;
    if h.verification.ok {
        writeln!(
            o,
            r#"<p class="ok">✔ Audit chain verified: {} entries intact.</p>"#,
            h.verification.entries_verified
        )?;
    } else {
        writeln!(
            o,
            r#"<p class="bad">Audit chain broken at entry {}: {} ({} entries verified before it).</p>"#,
            h.verification
                .first_bad
                .map_or_else(|| "?".to_string(), |n| n.to_string()),
            esc(h
                .verification
                .problem
                .as_deref()
                .unwrap_or("unknown problem")),
            h.verification.entries_verified
        )?;
    }
    if h.entries.is_empty() {
        writeln!(o, "<p>No audit entries in the period.</p>")?;
    } else {
        writeln!(
            o,
            r#"<table><tr><th class="n">#</th><th>at</th><th>action</th><th>actor</th><th>reason</th><th>details</th></tr>"#
        )?;
        for en in &h.entries {
            writeln!(
                o,
                r#"<tr><td class="n">{}</td><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td></tr>"#,
                en.seq,
                esc(&en.at),
                esc(&en.action),
                esc(&en.actor),
                if en.automatic {
                    " (automatic gate)"
                } else {
                    ""
                },
                esc(&en.reason),
                esc(&en.details.join("; "))
            )?;
        }
        writeln!(o, "</table>")?;
    }
    writeln!(o, "</section>")?;
    writeln!(
        o,
        "<footer>dualroad migration report · report_version {} · the JSON form (<code>--format json</code>) carries every number shown here.</footer>",
        r.report_version
    )?;
    writeln!(o, "</main></body></html>")?;
    Ok(())
}

fn service(sv: &ServiceReport, o: &mut String) -> std::fmt::Result {
    let open = if sv.verdict.status == VerdictStatus::Ready {
        ""
    } else {
        r#" open="open""#
    };
    writeln!(
        o,
        r#"<details class="service"{open}><summary>{} {}</summary>"#,
        code(&sv.service),
        verdict(sv.verdict.status)
    )?;
    if !sv.verdict.reasons.is_empty() {
        writeln!(o, r#"<ul class="reasons">"#)?;
        for reason in &sv.verdict.reasons {
            writeln!(
                o,
                "<li><b>{}</b>: {}</li>",
                esc(reason.kind.as_str()),
                esc(&reason.message)
            )?;
        }
        writeln!(o, "</ul>")?;
    }
    writeln!(o, r#"<table class="kv">"#)?;
    for (k, v) in [
        ("seen", format!("{} → {}", sv.first_seen, sv.last_seen)),
        ("by stage", counts(&sv.by_stage)),
        ("served by", counts(&sv.by_served_by)),
        ("outcomes", counts(&sv.outcomes)),
        ("not compared", counts(&sv.not_compared)),
        ("rejected by dualroad", counts(&sv.rejected)),
        ("faults, legacy", counts(&sv.faults.legacy)),
        ("faults, UXP", counts(&sv.faults.uxp)),
        (
            "legacy-only header fields (dropped on UXP)",
            counts(&sv.lossy_fields),
        ),
        ("unmapped identifiers", counts(&sv.unmapped)),
        ("p99 ratio UXP / legacy", ratio(sv.latency.p99_ratio)),
    ] {
        writeln!(o, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v))?;
    }
    let cal = &sv.calibration;
    if cal.pairs + cal.errors > 0 {
        let learned: Vec<String> = cal
            .top_noise_paths
            .iter()
            .map(|p| format!("{} ({})", p.path, p.pairs))
            .collect();
        let v = format!(
            "{} pair(s) learned from, {} path(s) learned as noise{}; {} calibration error(s) (a fault, an answer that is not well-formed, a failing status or a failed call: never learned)",
            cal.pairs,
            cal.noise_paths,
            if learned.is_empty() {
                String::new()
            } else {
                format!(": {}", learned.join(", "))
            },
            cal.errors
        );
        writeln!(o, "<tr><th>calibration</th><td>{}</td></tr>", esc(&v))?;
    }
    if sv.matched_by_noise > 0 {
        let v = format!("{} of {} matched", sv.matched_by_noise, sv.matched);
        writeln!(
            o,
            "<tr><th>matched only through paths learned as noise</th><td>{}</td></tr>",
            esc(&v)
        )?;
    }
    writeln!(o, "</table>")?;
    if !sv.diff_paths.is_empty() {
        writeln!(
            o,
            r#"<h3>Top differing paths ({} distinct)</h3><table><tr><th>path</th><th class="n">count</th><th>kind</th><th>primary</th><th>shadow</th><th>example</th></tr>"#,
            sv.diff_paths_total
        )?;
        for p in &sv.diff_paths {
            writeln!(
                o,
                r#"<tr><td>{}</td><td class="n">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                code(&p.path),
                p.count,
                esc(&p.kinds),
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
        writeln!(o, "</table>")?;
    }
    if !sv.noise_paths.is_empty() {
        writeln!(
            o,
            r#"<h3>Noise learned by calibration (not counted)</h3><table><tr><th>path</th><th class="n">count</th><th>kind</th></tr>"#
        )?;
        for p in &sv.noise_paths {
            writeln!(
                o,
                r#"<tr><td>{}</td><td class="n">{}</td><td>{}</td></tr>"#,
                code(&p.path),
                p.count,
                esc(&p.kinds)
            )?;
        }
        writeln!(o, "</table>")?;
    }
    writeln!(o, "</details>")?;
    Ok(())
}
