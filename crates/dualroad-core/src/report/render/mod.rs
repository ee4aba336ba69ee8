//! Renderers: the same [`Report`] as Markdown (for change tickets), JSON (for
//! dashboards; the schema is the model, versioned by `report_version`) and one
//! self-contained HTML file (inline CSS and SVG charts; no script, nothing fetched).
//! Pure functions of the report: rendering twice gives the same bytes. Escaping for
//! every format is in `escape`; what the Markdown and HTML forms show, and the numbers
//! formatted, is computed once in `view`.

mod escape;
mod html;
mod markdown;
mod svg;
mod view;

pub use html::html;
pub use markdown::markdown;

use super::model::Report;

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
