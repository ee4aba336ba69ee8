//! Canonical text form of a [`Canon`]: the input of the unified diff kept as evidence
//! for a human, and the sort key of order-insensitive lists.
//!
//! One node per line, indented two spaces per level, in canonical order (children by
//! name, stably):
//!
//! ```text
//! {http://schemas.xmlsoap.org/soap/envelope/}Envelope
//!   {http://schemas.xmlsoap.org/soap/envelope/}Body
//!     {http://moh.x-road.ps/producer/}getPatientSummaryResponse
//!       response
//!         chronicConditions
//!           condition code="E11" = "Type 2 diabetes mellitus"
//! ```
//!
//! An element line is `{uri}local`, then its attributes sorted by name as
//! ` name="value"`, then ` = "text"` when it has text. Values are quoted with `\"`, `\\`,
//! `\n`, `\t`, `\r` escaped, so a value never spans lines. Equal canonical trees give
//! equal text.
//!
//! Volatile X-Road headers (message id, request hash) are always one `… [volatile]` line
//! with no value: they never count. With rules (a `View`), the text shows what the
//! comparator compared: ignored nodes are one `… [ignored]` line, numeric values are
//! written in canonical form (`007` → `7`), zoned timestamps in UTC, and the children of
//! unordered paths sorted by their own text. So a difference the comparator does not
//! count does not appear as a changed line either (except timestamps within tolerance,
//! which keep their values).

use std::fmt::Write;

use crate::shadow::canon::{is_volatile, Canon, Element};
use crate::shadow::rules::{Rules, Treatment};
use crate::shadow::values::{Date, Decimal, Timestamp};

/// The rules a rendering applies.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    pub rules: &'a Rules,
    pub today: Date,
}

/// The canonical text of a whole answer.
pub(crate) fn canonical_text(canon: &Canon, view: Option<&View<'_>>) -> String {
    let mut out = String::with_capacity(canon.node_count() * 48);
    let mut path = Vec::new();
    let soap_ns = canon.soap_version().envelope_ns();
    let root = canon.envelope();
    line(&mut out, root, 0, &path, view, None);
    children(&mut out, root, 1, &mut path, view, soap_ns);
    out
}

/// The canonical text of `el` as a child of the element at `path` (which `el` is pushed
/// onto for the duration), at indentation `depth`.
pub(crate) fn subtree<'t>(
    out: &mut String,
    el: Element<'t>,
    depth: usize,
    path: &mut Vec<&'t str>,
    view: Option<&View<'_>>,
    parent_is_header: bool,
    soap_ns: &str,
) {
    path.push(el.local());
    let mask = match view {
        _ if parent_is_header && is_volatile(&el) => Some("volatile"),
        Some(v) if v.rules.ignore_element(path, v.today, &mut []) => Some("ignored"),
        _ => None,
    };
    line(out, el, depth, path, view, mask);
    if mask.is_none() {
        children(out, el, depth + 1, path, view, soap_ns);
    }
    path.pop();
}

fn children<'t>(
    out: &mut String,
    el: Element<'t>,
    depth: usize,
    path: &mut Vec<&'t str>,
    view: Option<&View<'_>>,
    soap_ns: &str,
) {
    let is_header = path.len() == 1 && el.is(soap_ns, "Header");
    match view {
        Some(v) if v.rules.is_unordered(path) => {
            let mut parts: Vec<String> = el
                .children()
                .iter()
                .map(|c| {
                    let mut s = String::new();
                    subtree(&mut s, c, depth, path, view, is_header, soap_ns);
                    s
                })
                .collect();
            parts.sort();
            for p in parts {
                out.push_str(&p);
            }
        }
        _ => {
            for c in el.children().iter() {
                subtree(out, c, depth, path, view, is_header, soap_ns);
            }
        }
    }
}

fn line(
    out: &mut String,
    el: Element<'_>,
    depth: usize,
    path: &[&str],
    view: Option<&View<'_>>,
    mask: Option<&str>,
) {
    for _ in 0..depth {
        out.push_str("  ");
    }
    el.write_name(out);
    if let Some(m) = mask {
        let _ = writeln!(out, " [{m}]");
        return;
    }
    for a in el.attrs().iter() {
        out.push(' ');
        a.write_name(out);
        out.push('=');
        match view {
            Some(v) if v.rules.ignore_attribute(path, a.local(), v.today, &mut []) => {
                out.push_str("[ignored]");
            }
            Some(v) => {
                let t = v.rules.attribute_treatment(path, a.local());
                push_quoted(out, &treated(a.value(), t));
            }
            None => push_quoted(out, a.value()),
        }
    }
    if !el.text().is_empty() {
        out.push_str(" = ");
        match view {
            Some(v) => push_quoted(out, &treated(el.text(), v.rules.element_treatment(path))),
            None => push_quoted(out, el.text()),
        }
    }
    out.push('\n');
}

/// The value as the comparator sees it under treatment `t`.
fn treated(value: &str, t: Treatment) -> std::borrow::Cow<'_, str> {
    match t {
        Treatment::Exact => value.into(),
        Treatment::Numeric => match Decimal::parse(value) {
            Some(d) => d.to_string().into(),
            None => value.into(),
        },
        Treatment::Timestamp(_) => match Timestamp::parse(value) {
            Some(ts) => ts.to_string().into(),
            None => value.into(),
        },
    }
}

/// Appends `s` in double quotes with `"`, `\` and control characters escaped.
pub(crate) fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    if !s.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
        out.push_str(s);
    } else {
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                }
                c => out.push(c),
            }
        }
    }
    out.push('"');
}

impl Canon {
    /// The canonical text form (see this module), with no rules applied.
    pub fn canonical_text(&self) -> String {
        canonical_text(self, None)
    }
}
