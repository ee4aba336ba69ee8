//! One self-contained HTML file: inline CSS, inline SVG charts ([`super::svg`]), no
//! script, no external resource, so it can be attached to a ticket and opened
//! offline. Written as well-formed XHTML (every element closed, everything escaped) so
//! it parses as XML too. Lays out the [`View`]; what is shown and how numbers read is
//! decided there.

use std::fmt::{Result, Write};

use super::escape::xml as esc;
use super::svg;
use super::view::{
    joined, AgencyView, Chain, ServiceView, View, ALL_COMPARED, NONE, NO_AUDIT_ENTRIES,
    NO_IGNORE_RULES,
};
use crate::report::model::{Report, VerdictStatus};

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

pub fn html(r: &Report) -> String {
    let mut o = String::with_capacity(64 * 1024);
    let _ = render(&View::of(r), &mut o);
    o
}

fn render(v: &View<'_>, o: &mut String) -> Result {
    header(v, o)?;
    summary(v, o)?;
    writeln!(o, r#"<section id="evidence"><h2>Evidence</h2>"#)?;
    writeln!(o, "<p>{}</p>", esc(&v.evidence.sentence))?;
    for w in v.evidence.warnings {
        writeln!(o, r#"<p class="warn">⚠ {}</p>"#, esc(w))?;
    }
    writeln!(o, "</section>")?;
    for (i, a) in v.agencies.iter().enumerate() {
        agency(v, i, a, o)?;
    }
    ignore_rules(v, o)?;
    coverage(v, o)?;
    history(v, o)?;
    writeln!(
        o,
        "<footer>dualroad migration report · report_version {} · the JSON form (<code>--format json</code>) carries every number shown here.</footer>",
        v.header.report_version
    )?;
    writeln!(o, "</main></body></html>")
}

fn header(v: &View<'_>, o: &mut String) -> Result {
    let h = &v.header;
    let scope = esc(h.scope);
    o.push_str("<!DOCTYPE html>\n");
    writeln!(
        o,
        r#"<html xmlns="http://www.w3.org/1999/xhtml" lang="en">"#
    )?;
    writeln!(
        o,
        r#"<head><meta charset="utf-8"/><meta name="viewport" content="width=device-width, initial-scale=1"/><title>Migration report: {scope}</title><style>{CSS}</style></head>"#
    )?;
    writeln!(o, "<body><main>")?;
    writeln!(o, r#"<header id="top"><h1>Migration report: {scope}</h1>"#)?;
    writeln!(
        o,
        r#"<p class="meta">Period <b>{}</b> → <b>{}</b> (UTC{}) · generated {} · report_version {}</p>"#,
        esc(h.since),
        esc(h.until),
        h.open_ends,
        esc(h.generated_at),
        h.report_version
    )?;
    writeln!(
        o,
        r#"<p class="meta">Verdict thresholds: min_samples <b>{}</b>, min_match_rate <b>{}</b>, max_p99_ratio <b>{}</b>. Match-rate intervals: {} % Wilson score. Latency percentiles within {} %.</p></header>"#,
        h.min_samples,
        esc(&h.min_match_rate),
        esc(&h.max_p99_ratio),
        esc(&h.confidence),
        esc(&h.latency_error)
    )
}

fn summary(v: &View<'_>, o: &mut String) -> Result {
    let s = &v.summary;
    writeln!(
        o,
        r#"<section id="summary"><h2>Summary</h2><div class="cards">"#
    )?;
    for (label, value) in [
        ("agencies", s.agencies.to_string()),
        ("agency × service", s.services.to_string()),
        ("exchanges", s.exchanges.to_string()),
        ("compared", s.compared.to_string()),
        ("match rate", s.match_rate.clone()),
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
        joined(s.agencies_ready, code, "none")
    )?;
    stages_and_blockers(v, o)?;
    writeln!(o, "{}", svg::stages(v.timeline))?;
    writeln!(
        o,
        r#"<p class="meta">One bar per {}.</p></section>"#,
        esc(&v.bucket_width)
    )
}

/// Agencies by stage, and what keeps the others from being ready.
fn stages_and_blockers(v: &View<'_>, o: &mut String) -> Result {
    let s = &v.summary;
    if !s.agencies_by_stage.is_empty() {
        writeln!(o, "<table><tr><th>stage</th><th>agencies</th></tr>")?;
        for (stage, agencies) in &s.agencies_by_stage {
            let agencies = joined(agencies, code, "");
            writeln!(o, "<tr><td>{}</td><td>{agencies}</td></tr>", esc(stage))?;
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
                esc(b.reason),
                b.pairs,
                esc(&b.which)
            )?;
        }
        writeln!(o, "</table>")?;
    }
    Ok(())
}

fn agency(v: &View<'_>, i: usize, a: &AgencyView<'_>, o: &mut String) -> Result {
    writeln!(
        o,
        r#"<section id="agency-{i}" class="agency"><h2>Agency {} {}</h2>"#,
        code(a.agency),
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
            code(sv.service),
            esc(sv.stage),
            sv.requests,
            sv.compared,
            esc(&sv.match_rate),
            esc(&sv.interval),
            esc(&sv.latency[0].p99),
            esc(&sv.latency[1].p99),
            verdict(sv.verdict)
        )?;
    }
    writeln!(o, "</table>")?;
    charts(v, a, o)?;
    for sv in &a.services {
        service(sv, o)?;
    }
    writeln!(o, "</section>")
}

fn charts(v: &View<'_>, a: &AgencyView<'_>, o: &mut String) -> Result {
    let series = &a.match_series;
    if series.is_empty() {
        writeln!(
            o,
            r#"<p class="meta">Nothing compared: no match-rate chart.</p>"#
        )?;
    } else {
        let threshold = v.header.min_match_rate_fraction;
        writeln!(o, "{}", svg::match_rate(series, threshold))?;
        if series.len() > svg::MAX_SERIES {
            writeln!(
                o,
                r#"<p class="meta">{} more services are in the table but not drawn.</p>"#,
                series.len() - svg::MAX_SERIES
            )?;
        }
    }
    writeln!(o, "{}", svg::latency(&a.latency_bars))
}

fn service(sv: &ServiceView<'_>, o: &mut String) -> Result {
    let open = if sv.verdict == VerdictStatus::Ready {
        ""
    } else {
        r#" open="open""#
    };
    writeln!(
        o,
        r#"<details class="service"{open}><summary>{} {}</summary>"#,
        code(sv.service),
        verdict(sv.verdict)
    )?;
    if !sv.reasons.is_empty() {
        writeln!(o, r#"<ul class="reasons">"#)?;
        for (kind, message) in &sv.reasons {
            writeln!(o, "<li><b>{}</b>: {}</li>", esc(kind), esc(message))?;
        }
        writeln!(o, "</ul>")?;
    }
    facts(sv, o)?;
    paths(sv, o)?;
    writeln!(o, "</details>")
}

/// The service's counts and calibration as a two-column table.
fn facts(sv: &ServiceView<'_>, o: &mut String) -> Result {
    writeln!(o, r#"<table class="kv">"#)?;
    let calibration = sv.calibration.as_ref().map(|c| c.sentence(str::to_string));
    let rows = [
        ("seen", Some(&sv.seen)),
        ("by stage", Some(&sv.by_stage)),
        ("served by", Some(&sv.served_by)),
        ("outcomes", Some(&sv.outcomes)),
        ("not compared", Some(&sv.not_compared)),
        ("rejected by dualroad", Some(&sv.rejected)),
        ("faults, legacy", Some(&sv.faults_legacy)),
        ("faults, UXP", Some(&sv.faults_uxp)),
        (
            "legacy-only header fields (dropped on UXP)",
            Some(&sv.lossy_fields),
        ),
        ("unmapped identifiers", Some(&sv.unmapped)),
        ("p99 ratio UXP / legacy", Some(&sv.p99_ratio)),
        ("calibration", calibration.as_ref()),
        (
            "matched only through paths learned as noise",
            sv.matched_by_noise.as_ref(),
        ),
    ];
    for (k, v) in rows {
        if let Some(v) = v {
            writeln!(o, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v))?;
        }
    }
    writeln!(o, "</table>")
}

fn paths(sv: &ServiceView<'_>, o: &mut String) -> Result {
    if !sv.diff_paths.is_empty() {
        writeln!(
            o,
            r#"<h3>Top differing paths ({} distinct)</h3><table><tr><th>path</th><th class="n">count</th><th>kind</th><th>primary</th><th>shadow</th><th>example</th></tr>"#,
            sv.diff_paths_total
        )?;
        for p in &sv.diff_paths {
            let side = |s: Option<&str>| s.map_or_else(|| NONE.to_string(), code);
            writeln!(
                o,
                r#"<tr><td>{}</td><td class="n">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                code(p.path),
                p.count,
                esc(p.kinds),
                side(p.primary),
                side(p.shadow),
                code(p.diff_id)
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
                code(p.path),
                p.count,
                esc(p.kinds)
            )?;
        }
        writeln!(o, "</table>")?;
    }
    Ok(())
}

fn ignore_rules(v: &View<'_>, o: &mut String) -> Result {
    writeln!(o, r#"<section id="ignore-rules"><h2>Ignore rules</h2>"#)?;
    if v.ignore_rules.is_empty() {
        writeln!(o, "<p>{NO_IGNORE_RULES}</p>")?;
        return writeln!(o, "</section>");
    }
    writeln!(
        o,
        r#"<table><tr><th>path</th><th>reason</th><th>expires</th><th class="n">matched in</th><th>status</th></tr>"#
    )?;
    for rule in &v.ignore_rules {
        writeln!(
            o,
            r#"<tr><td>{}</td><td>{}</td><td>{}</td><td class="n">{}</td><td>{}</td></tr>"#,
            code(rule.path),
            esc(rule.reason),
            esc(rule.expires),
            rule.matches,
            if rule.stale {
                r#"<span class="v v-hold">stale: matched nothing</span>"#
            } else {
                "in use"
            }
        )?;
    }
    writeln!(o, "</table>")?;
    writeln!(o, "</section>")
}

fn coverage(v: &View<'_>, o: &mut String) -> Result {
    let c = &v.coverage;
    writeln!(o, r#"<section id="coverage"><h2>Coverage</h2>"#)?;
    writeln!(o, "<p>{}</p>", esc(&c.sentence))?;
    if !c.never_seen.is_empty() {
        writeln!(
            o,
            "<table><tr><th>never seen (legacy)</th><th>UXP</th><th>effect</th></tr>"
        )?;
        for (legacy, uxp, effect) in &c.never_seen {
            writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                code(legacy),
                code(uxp),
                esc(effect)
            )?;
        }
        writeln!(o, "</table>")?;
    }
    if c.never_compared.is_empty() {
        writeln!(o, "<p>{ALL_COMPARED}</p>")?;
        return writeln!(o, "</section>");
    }
    writeln!(
        o,
        r#"<table><tr><th>seen, never compared: agency</th><th>service</th><th class="n">requests</th><th>why</th></tr>"#
    )?;
    for n in &c.never_compared {
        writeln!(
            o,
            r#"<tr><td>{}</td><td>{}</td><td class="n">{}</td><td>{}</td></tr>"#,
            code(n.agency),
            code(n.service),
            n.requests,
            esc(&n.why)
        )?;
    }
    writeln!(o, "</table>")?;
    writeln!(o, "</section>")
}

fn history(v: &View<'_>, o: &mut String) -> Result {
    let h = &v.history;
    writeln!(
        o,
        r#"<section id="history"><h2>Stage and switch history</h2>"#
    )?;
    match &h.chain {
        Chain::Verified { entries } => writeln!(
            o,
            r#"<p class="ok">✔ Audit chain verified: {entries} entries intact.</p>"#
        )?,
        Chain::Broken {
            at,
            problem,
            verified,
        } => writeln!(
            o,
            r#"<p class="bad">Audit chain broken at entry {at}: {} ({verified} entries verified before it).</p>"#,
            esc(problem)
        )?,
    }
    if h.entries.is_empty() {
        writeln!(o, "<p>{NO_AUDIT_ENTRIES}</p>")?;
        return writeln!(o, "</section>");
    }
    writeln!(
        o,
        r#"<table><tr><th class="n">#</th><th>at</th><th>action</th><th>actor</th><th>reason</th><th>details</th></tr>"#
    )?;
    for en in &h.entries {
        writeln!(
            o,
            r#"<tr><td class="n">{}</td><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td></tr>"#,
            en.seq,
            esc(en.at),
            esc(en.action),
            esc(en.actor),
            en.automatic,
            esc(en.reason),
            esc(&en.details)
        )?;
    }
    writeln!(o, "</table>")?;
    writeln!(o, "</section>")
}
