//! Renderers: the same [`Report`] as Markdown (for change tickets), JSON (for
//! dashboards; the schema is the model, versioned by `report_version`) and one
//! self-contained HTML file (inline CSS and SVG charts; no script, nothing fetched).
//! Pure functions of the report: rendering twice gives the same bytes. Escaping for
//! every format is in [`escape`].

mod escape;
mod html;
mod markdown;
mod svg;

pub use html::html;
pub use markdown::markdown;

use super::model::{Counts, Report};

/// The output formats of `dualroad report --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Html,
    Json,
}

impl Format {
    pub fn render(self, report: &Report) -> String {
        match self {
            Format::Markdown => markdown(report),
            Format::Html => html(report),
            Format::Json => json(report),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Markdown => "text/markdown; charset=utf-8",
            Format::Html => "text/html; charset=utf-8",
            Format::Json => "application/json",
        }
    }
}

/// Pretty JSON with a final newline.
pub fn json(report: &Report) -> String {
    // The model holds only strings, integers, finite floats and maps with string keys,
    // which always serialize; the fallback keeps this total without a panic path.
    let mut s = serde_json::to_string_pretty(report)
        .unwrap_or_else(|e| format!("{{\"error\": \"cannot serialize the report: {e}\"}}"));
    s.push('\n');
    s
}

/// `items` rendered with `code` and joined by commas; `empty` when there are none.
pub(crate) fn joined(items: &[String], code: fn(&str) -> String, empty: &str) -> String {
    if items.is_empty() {
        return empty.to_string();
    }
    items.iter().map(|a| code(a)).collect::<Vec<_>>().join(", ")
}

pub(crate) fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_string(), |v| format!("{:.2} %", v * 100.0))
}

pub(crate) fn interval(v: Option<[f64; 2]>) -> String {
    v.map_or_else(
        || "—".to_string(),
        |[l, h]| format!("{:.2}–{:.2} %", l * 100.0, h * 100.0),
    )
}

pub(crate) fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_string(), |v| format!("{v:.1} ms"))
}

pub(crate) fn ratio(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_string(), |v| format!("{v:.2}×"))
}

/// `a 3, b 2` (largest first), or `—`.
pub(crate) fn counts(c: &Counts) -> String {
    if c.is_empty() {
        return "—".to_string();
    }
    let mut v: Vec<(&String, &u64)> = c.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    v.iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A duration in words for bucket widths.
pub(crate) fn width(ms: u64) -> String {
    match ms {
        m if m % 86_400_000 == 0 => format!("{} d", m / 86_400_000),
        m if m % 3_600_000 == 0 => format!("{} h", m / 3_600_000),
        m if m % 60_000 == 0 => format!("{} min", m / 60_000),
        m => format!("{m} ms"),
    }
}
