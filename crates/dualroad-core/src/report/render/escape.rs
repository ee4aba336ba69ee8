//! Escaping, one function per output context, so that the HTML page and its inline SVG
//! charts ([`super::html`], [`super::svg`]) share one XML escaper and the Markdown
//! renderer's cell and line rules sit beside it. Pure functions of the text.

/// Text and attribute values in XML/XHTML: the five special characters as entities;
/// control characters XML 1.0 forbids become U+FFFD.
pub(crate) fn xml(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            // Not allowed in XML 1.0 at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

/// A Markdown table cell: no pipes, no line breaks, no runaway length.
pub(crate) fn markdown_cell(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c => c,
        })
        .collect();
    if out.chars().count() > 120 {
        out = out.chars().take(119).collect::<String>() + "…";
    }
    out.replace('|', "\\|").replace('`', "'")
}

/// A Markdown list item's text: one line, bounded, but longer than a cell (a verdict
/// reason states its numbers and what to do).
pub(crate) fn markdown_line(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            '`' => '\'',
            c => c,
        })
        .collect();
    if out.chars().count() > 1000 {
        out = out.chars().take(999).collect::<String>() + "…";
    }
    out
}
