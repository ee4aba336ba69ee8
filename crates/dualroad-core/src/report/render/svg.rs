//! Inline SVG charts, drawn here (no chart crate, no script): requests by stage over
//! time, match rate over time per service, latency legacy vs UXP. Every chart is a
//! well-formed `<svg>` element with a `<title>` and text labels, sized by `viewBox` so
//! it scales with the page.

use std::fmt::Write;

use super::escape::xml as esc;
use crate::report::model::{Latency, ServiceBucket, StageBucket};
use crate::report::time::utc;

const W: f64 = 760.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 28.0;

/// Colour per stage, fixed so charts of two reports compare.
fn stage_colour(stage: &str) -> &'static str {
    match stage {
        "legacy" => "#8c8c8c",
        "shadow" => "#4e79a7",
        "canary" => "#f28e2b",
        "uxp" => "#59a14f",
        "uxp-shadow" => "#76b7b2",
        "rollback" => "#e15759",
        _ => "#b07aa1",
    }
}

const SERIES: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f",
];

/// Most series drawn in one chart; the rest are named in a note.
pub(super) const MAX_SERIES: usize = 8;

fn f(v: f64) -> String {
    format!("{v:.1}")
}

/// `MM-DD hh:mm` for axis labels.
fn short_time(ms: u64) -> String {
    let t = utc(ms);
    format!(
        "{} {}",
        t.get(5..10).unwrap_or(""),
        t.get(11..16).unwrap_or("")
    )
}

fn open(o: &mut String, h: f64, title: &str) {
    let _ = write!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {h}" width="{W}" height="{h}" role="img" class="chart"><title>{}</title>"#,
        esc(title)
    );
}

fn text(o: &mut String, x: f64, y: f64, anchor: &str, class: &str, s: &str) {
    let _ = write!(
        o,
        r#"<text x="{}" y="{}" text-anchor="{anchor}" class="{class}">{}</text>"#,
        f(x),
        f(y),
        esc(s)
    );
}

fn x_axis(o: &mut String, starts: &[u64], x0: f64, step: f64, y: f64) {
    let _ = write!(
        o,
        r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999"/>"##,
        f(x0),
        f(y),
        f(W - RIGHT),
        f(y)
    );
    let n = starts.len();
    if n == 0 {
        return;
    }
    let every = n.div_ceil(6).max(1);
    for (i, s) in starts.iter().enumerate() {
        if i % every == 0 {
            text(
                o,
                x0 + step * (i as f64 + 0.5),
                y + 14.0,
                "middle",
                "tick",
                &short_time(*s),
            );
        }
    }
}

/// Stacked bars: requests per time bucket, coloured by stage.
pub(super) fn stages(buckets: &[StageBucket]) -> String {
    let h = 240.0;
    let bottom = h - 44.0;
    let mut o = String::new();
    open(&mut o, h, "Requests by stage over time");
    text(
        &mut o,
        LEFT,
        16.0,
        "start",
        "ctitle",
        "Requests by stage over time",
    );
    let mut stage_names: Vec<&str> = buckets
        .iter()
        .flat_map(|b| b.by_stage.keys().map(String::as_str))
        .collect();
    stage_names.sort_by_key(|s| stage_order(s));
    stage_names.dedup();
    let max = buckets
        .iter()
        .map(|b| b.by_stage.values().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_h = bottom - TOP;
    let step = (W - LEFT - RIGHT) / buckets.len().max(1) as f64;
    y_ticks(&mut o, bottom, plot_h, max as f64, |v| format!("{v:.0}"));
    let height = |n: u64| n as f64 / max as f64 * plot_h;
    for (i, b) in buckets.iter().enumerate() {
        let x = LEFT + step * i as f64 + step * 0.1;
        stage_bar(&mut o, b, &stage_names, x, step, bottom, &height);
    }
    let starts: Vec<u64> = buckets.iter().map(|b| b.start_unix_ms).collect();
    x_axis(&mut o, &starts, LEFT, step, bottom);
    let mut lx = LEFT;
    for s in &stage_names {
        let _ = write!(
            o,
            r#"<rect x="{}" y="{}" width="10" height="10" fill="{}"/>"#,
            f(lx),
            f(h - 14.0),
            stage_colour(s)
        );
        text(&mut o, lx + 14.0, h - 5.0, "start", "legend", s);
        lx += 24.0 + 7.0 * s.len() as f64;
    }
    o.push_str("</svg>");
    o
}

/// One bucket's bar at `x`, its stages stacked up from `bottom` in `names` order,
/// each `height(requests)` high.
fn stage_bar(
    o: &mut String,
    b: &StageBucket,
    names: &[&str],
    x: f64,
    step: f64,
    bottom: f64,
    height: &dyn Fn(u64) -> f64,
) {
    let mut y = bottom;
    for s in names {
        let n = b.by_stage.get(*s).copied().unwrap_or(0);
        if n == 0 {
            continue;
        }
        let bh = height(n);
        y -= bh;
        let _ = write!(
            o,
            r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{} {}: {n}</title></rect>"#,
            f(x),
            f(y),
            f(step * 0.8),
            f(bh),
            stage_colour(s),
            esc(&short_time(b.start_unix_ms)),
            esc(s)
        );
    }
}

fn stage_order(s: &str) -> usize {
    [
        "legacy",
        "shadow",
        "canary",
        "uxp-shadow",
        "uxp",
        "rollback",
    ]
    .iter()
    .position(|x| *x == s)
    .unwrap_or(99)
}

fn y_ticks(o: &mut String, bottom: f64, plot_h: f64, max: f64, label: impl Fn(f64) -> String) {
    for k in 0..=4 {
        let v = max * f64::from(k) / 4.0;
        let y = bottom - plot_h * f64::from(k) / 4.0;
        let _ = write!(
            o,
            r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#e3e3e3"/>"##,
            f(LEFT),
            f(y),
            f(W - RIGHT),
            f(y)
        );
        text(o, LEFT - 6.0, y + 4.0, "end", "tick", &label(v));
    }
}

/// Lines: match rate per time bucket, one per service; a dashed line at the threshold.
pub(super) fn match_rate(series: &[(&str, &[ServiceBucket])], threshold: f64) -> String {
    let shown = &series[..series.len().min(MAX_SERIES)];
    let legend_rows = shown.len().div_ceil(2);
    let h = 230.0 + 16.0 * legend_rows as f64;
    let bottom = 196.0;
    let mut o = String::new();
    open(&mut o, h, "Match rate over time per service");
    text(
        &mut o,
        LEFT,
        16.0,
        "start",
        "ctitle",
        "Match rate over time (compared exchanges)",
    );
    // The y range starts at a round figure below the lowest rate seen (and the
    // threshold), so differences near 100 % stay visible.
    let lowest = shown
        .iter()
        .flat_map(|(_, b)| b.iter())
        .filter(|b| b.compared > 0)
        .map(|b| b.matched as f64 / b.compared as f64)
        .fold(threshold, f64::min);
    let floor = ((lowest * 10.0).floor() / 10.0).clamp(0.0, 0.9);
    let scale = RateScale {
        floor,
        bottom,
        plot_h: bottom - TOP,
    };
    let n = shown.first().map_or(0, |(_, b)| b.len()).max(1);
    let step = (W - LEFT - RIGHT) / n as f64;
    rate_axis(&mut o, &scale, threshold);
    for (si, (name, buckets)) in shown.iter().enumerate() {
        let colour = SERIES[si % SERIES.len()];
        rate_line(&mut o, colour, name, buckets, step, &scale);
    }
    let starts: Vec<u64> = shown
        .first()
        .map(|(_, b)| b.iter().map(|x| x.start_unix_ms).collect())
        .unwrap_or_default();
    x_axis(&mut o, &starts, LEFT, step, bottom);
    for (si, (name, _)) in shown.iter().enumerate() {
        let x = LEFT + (si % 2) as f64 * 350.0;
        let y = bottom + 34.0 + 16.0 * (si / 2) as f64;
        let _ = write!(
            o,
            r#"<rect x="{}" y="{}" width="10" height="10" fill="{}"/>"#,
            f(x),
            f(y - 9.0),
            SERIES[si % SERIES.len()]
        );
        text(&mut o, x + 14.0, y, "start", "legend", name);
    }
    o.push_str("</svg>");
    o
}

/// The match-rate chart's vertical scale: `floor` at `bottom`, 100 % `plot_h` above.
struct RateScale {
    floor: f64,
    bottom: f64,
    plot_h: f64,
}

impl RateScale {
    fn y(&self, rate: f64) -> f64 {
        self.bottom - (rate - self.floor) / (1.0 - self.floor) * self.plot_h
    }
}

/// Five grid lines labelled in percent, and the threshold as a dashed line.
fn rate_axis(o: &mut String, scale: &RateScale, threshold: f64) {
    for k in 0..=4 {
        let v = scale.floor + (1.0 - scale.floor) * f64::from(k) / 4.0;
        let y = scale.y(v);
        let _ = write!(
            o,
            r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#e3e3e3"/>"##,
            f(LEFT),
            f(y),
            f(W - RIGHT),
            f(y)
        );
        let label = if (v * 100.0).fract().abs() < 1e-9 {
            format!("{:.0} %", v * 100.0)
        } else {
            format!("{:.1} %", v * 100.0)
        };
        text(o, LEFT - 6.0, y + 4.0, "end", "tick", &label);
    }
    let ty = scale.y(threshold);
    let _ = write!(
        o,
        r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#e15759" stroke-dasharray="5 4"/>"##,
        f(LEFT),
        f(ty),
        f(W - RIGHT),
        f(ty)
    );
    text(
        o,
        W - RIGHT,
        ty + 13.0,
        "end",
        "tick",
        &format!("min_match_rate {:.2} %", threshold * 100.0),
    );
}

/// One service's line, with a dot per bucket.
fn rate_line(
    o: &mut String,
    colour: &str,
    name: &str,
    buckets: &[ServiceBucket],
    step: f64,
    scale: &RateScale,
) {
    // Buckets without comparisons break the line: no data is not 0 %.
    let mut segment: Vec<String> = Vec::new();
    let flush = |seg: &mut Vec<String>, o: &mut String| {
        if seg.len() > 1 {
            let _ = write!(
                o,
                r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
                seg.join(" ")
            );
        }
        seg.clear();
    };
    for (i, b) in buckets.iter().enumerate() {
        if b.compared == 0 {
            flush(&mut segment, o);
            continue;
        }
        let rate = b.matched as f64 / b.compared as f64;
        let x = LEFT + step * (i as f64 + 0.5);
        let y = scale.y(rate);
        segment.push(format!("{},{}", f(x), f(y)));
        let _ = write!(
            o,
            r#"<circle cx="{}" cy="{}" r="2.5" fill="{colour}"><title>{} {}: {:.2} % of {}</title></circle>"#,
            f(x),
            f(y),
            esc(name),
            esc(&short_time(b.start_unix_ms)),
            rate * 100.0,
            b.compared
        );
    }
    flush(&mut segment, o);
}

/// Horizontal bars per service: the service's name, then legacy and UXP, each drawn
/// to p99 (light), p95 (medium) and p50 (dark), with the three numbers beside them.
pub(super) fn latency(rows: &[(&str, &Latency, &Latency)]) -> String {
    let row_h = 62.0;
    let h = TOP + 12.0 + row_h * rows.len() as f64;
    let mut o = String::new();
    open(&mut o, h, "Latency, legacy vs UXP");
    text(
        &mut o,
        8.0,
        16.0,
        "start",
        "ctitle",
        "Latency p50 / p95 / p99, legacy vs UXP (ms)",
    );
    let max = rows
        .iter()
        .flat_map(|(_, l, u)| [l.p99, u.p99])
        .flatten()
        .fold(0.0, f64::max)
        .max(1e-9);
    for (i, (name, legacy, uxp)) in rows.iter().enumerate() {
        let y0 = TOP + 8.0 + row_h * i as f64;
        text(&mut o, 8.0, y0 + 10.0, "start", "legend", name);
        for (j, (side, lat, colours)) in [
            ("legacy", legacy, ["#d9d9d9", "#b3b3b3", "#6e6e6e"]),
            ("UXP", uxp, ["#c6d7ea", "#8fb0d6", "#4e79a7"]),
        ]
        .iter()
        .enumerate()
        {
            let y = y0 + 16.0 + 18.0 * j as f64;
            latency_bar(&mut o, y, side, lat, colours, max);
        }
    }
    o.push_str("</svg>");
    o
}

const BAR_X: f64 = 64.0;
const BAR_W: f64 = W - BAR_X - 250.0;

/// One side's bar at height `y`: p99, p95 and p50 drawn over each other in
/// `colours`, scaled so that `max` fills the bar width.
fn latency_bar(o: &mut String, y: f64, side: &str, lat: &Latency, colours: &[&str; 3], max: f64) {
    text(o, BAR_X - 6.0, y + 11.0, "end", "tick", side);
    for (q, c) in [lat.p99, lat.p95, lat.p50].iter().zip(colours) {
        if let Some(v) = q {
            let _ = write!(
                o,
                r#"<rect x="{}" y="{}" width="{}" height="14" fill="{c}"/>"#,
                f(BAR_X),
                f(y),
                f((v / max * BAR_W).max(1.0))
            );
        }
    }
    let label = match (lat.p50, lat.p95, lat.p99) {
        (Some(a), Some(b), Some(c)) => {
            format!("{a:.1} / {b:.1} / {c:.1} ms · n = {}", lat.samples)
        }
        _ => "no samples".to_string(),
    };
    text(o, BAR_X + BAR_W + 8.0, y + 11.0, "start", "tick", &label);
}
