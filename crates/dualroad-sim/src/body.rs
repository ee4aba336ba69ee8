//! The request Body, read just enough to answer it, and the response Body built in the
//! request's own conventions.
//!
//! The envelope scanner stops at the Body; a simulator needs a little more: the
//! wrapper's namespace declarations, its first child (`request` in 3.x and legacy-body
//! 4.0 services, `keha` in 2.0), and the text of leaf elements to find key parameters.
//! One quick-xml pass over the wrapper collects all of it.
//!
//! The answer reuses the request's bytes wherever it can: the Body start tag and the
//! whitespace before the wrapper, the echo of `request` (verbatim) or `keha` (as
//! `paring`), and everything after the wrapper. So the legacy and the UXP simulator,
//! given the same Body, write the same Body.

use std::ops::Range;

use quick_xml::events::{BytesStart, Event};

use crate::wire::charset::Charset;
use crate::wire::dialect::{Dialect, NS_XSD, NS_XSI};
use crate::wire::envelope::Envelope;
use crate::wire::error::WireError;

use super::xml::{write_nodes, Node, Style};

/// Leaf values kept from one Body: key parameters are near the top, so a cap costs
/// nothing and bounds memory for huge bodies.
pub(super) const DEFAULT_MAX_LEAVES: usize = 4096;
/// Longest leaf text kept (key values are short).
pub(super) const DEFAULT_MAX_LEAF_CHARS: usize = 4096;

/// The wrapper's first child element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Child {
    pub local: String,
    /// Length of the qualified name in the start tag.
    pub qname_len: usize,
    /// The whole element.
    pub span: Range<usize>,
    /// End of the start tag (equals `span.end` for an empty element).
    pub open_end: usize,
    /// Start of the end tag (equals `span.end` for an empty element).
    pub close_start: usize,
}

impl Child {
    fn empty(&self) -> bool {
        self.open_end == self.span.end
    }
}

/// What the simulators need to know about a request Body. Offsets index `env.src`.
#[derive(Debug, Clone)]
pub(crate) struct BodyScan {
    /// The wrapper element, start tag to end tag.
    pub wrapper: Range<usize>,
    /// The wrapper's own namespace declarations, as ` xmlns:p="…"` source text.
    pub wrapper_decls: Vec<u8>,
    /// The same declarations as `(prefix, uri)` (`""` for the default namespace).
    pub decl_pairs: Vec<(String, String)>,
    pub child: Option<Child>,
    /// `(local name, text)` of leaf elements inside the wrapper, in document order.
    pub leaves: Vec<(String, String)>,
}

fn invalid(e: impl std::fmt::Display) -> WireError {
    WireError::InvalidXml(format!("in the Body: {e}"))
}

fn text_of(raw: &[u8], charset: Charset) -> String {
    let decoded = charset
        .decode(raw)
        .unwrap_or_else(|| String::from_utf8_lossy(raw).into_owned());
    match quick_xml::escape::unescape(&decoded) {
        Ok(s) => s.into_owned(),
        // An unknown entity: keep the text as written rather than refuse the request.
        Err(_) => decoded,
    }
}

/// Namespace declarations of a start tag: as source text, and as `(prefix, uri)`.
type Decls = (Vec<u8>, Vec<(String, String)>);

fn decls_of(e: &BytesStart) -> Result<Decls, WireError> {
    let mut raw = Vec::new();
    let mut pairs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(invalid)?;
        let key = a.key.as_ref();
        let prefix = if key == b"xmlns" {
            ""
        } else if let Some(p) = key.strip_prefix(b"xmlns:") {
            std::str::from_utf8(p).map_err(invalid)?
        } else {
            continue;
        };
        raw.push(b' ');
        raw.extend_from_slice(key);
        raw.extend_from_slice(b"=\"");
        for b in a.value.iter() {
            // The value may have been single-quoted; keep it valid inside double quotes.
            if *b == b'"' {
                raw.extend_from_slice(b"&quot;");
            } else {
                raw.push(*b);
            }
        }
        raw.push(b'"');
        pairs.push((
            prefix.to_string(),
            String::from_utf8_lossy(&a.value).into_owned(),
        ));
    }
    Ok((raw, pairs))
}

impl BodyScan {
    pub(super) fn scan(env: &Envelope) -> Result<BodyScan, WireError> {
        let base = env.body.start;
        let tail = env.src.get(base..).unwrap_or(&[]);
        let mut r = quick_xml::Reader::from_reader(tail);
        let mut depth = 0usize;
        let mut wrapper_start = None;
        let mut decls = (Vec::new(), Vec::new());
        let mut child: Option<Child> = None;
        let mut child_open = false;
        let mut leaves = Vec::new();
        // Local name and text of the element whose start was the last event seen.
        let mut pending: Option<(String, String)> = None;
        loop {
            let before = base + r.buffer_position() as usize;
            let ev = r.read_event().map_err(invalid)?;
            let after = base + r.buffer_position() as usize;
            match ev {
                Event::Start(e) | Event::Empty(e) => {
                    let empty = matches!(env.src.get(after.saturating_sub(2)..after), Some(b"/>"));
                    let local = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                    match depth {
                        0 => {} // the Body itself
                        1 => {
                            wrapper_start = Some(before);
                            decls = decls_of(&e)?;
                            if empty {
                                return Ok(BodyScan {
                                    wrapper: before..after,
                                    wrapper_decls: decls.0,
                                    decl_pairs: decls.1,
                                    child: None,
                                    leaves,
                                });
                            }
                        }
                        2 if child.is_none() => {
                            child = Some(Child {
                                local: local.clone(),
                                qname_len: e.name().as_ref().len(),
                                span: before..after,
                                open_end: after,
                                close_start: after,
                            });
                            child_open = !empty;
                        }
                        _ => {}
                    }
                    if depth >= 2 {
                        if empty {
                            push_leaf(&mut leaves, local, String::new());
                            pending = None;
                        } else {
                            pending = Some((local, String::new()));
                        }
                    }
                    if !empty {
                        depth += 1;
                    }
                }
                Event::Text(t) => {
                    if let Some((_, text)) = &mut pending {
                        if text.len() < DEFAULT_MAX_LEAF_CHARS {
                            text.push_str(&text_of(&t.into_inner(), env.charset));
                        }
                    }
                }
                Event::CData(c) => {
                    if let Some((_, text)) = &mut pending {
                        if text.len() < DEFAULT_MAX_LEAF_CHARS {
                            let raw = c.into_inner();
                            text.push_str(
                                &env.charset
                                    .decode(&raw)
                                    .unwrap_or_else(|| String::from_utf8_lossy(&raw).into_owned()),
                            );
                        }
                    }
                }
                Event::End(_) => {
                    depth = depth.saturating_sub(1);
                    if let Some((local, text)) = pending.take() {
                        push_leaf(&mut leaves, local, text);
                    }
                    if depth == 2 && child_open {
                        if let Some(c) = &mut child {
                            c.close_start = before;
                            c.span.end = after;
                        }
                        child_open = false;
                    }
                    if depth == 1 {
                        let start = wrapper_start.unwrap_or(before);
                        return Ok(BodyScan {
                            wrapper: start..after,
                            wrapper_decls: decls.0,
                            decl_pairs: decls.1,
                            child,
                            leaves,
                        });
                    }
                }
                Event::Eof => return Err(invalid("the document ends inside the Body")),
                _ => {}
            }
        }
    }

    /// Trimmed text of the first leaf, in document order, named one of `names`;
    /// `None` when there is none with text.
    pub(super) fn first(&self, names: &[&str]) -> Option<&str> {
        self.leaves
            .iter()
            .find(|(n, t)| names.contains(&n.as_str()) && !t.trim().is_empty())
            .map(|(_, t)| t.trim())
    }

    /// Every leaf named `name`.
    pub(super) fn all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.leaves
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, t)| t.trim())
    }

    /// A boolean parameter (`true`/`1`, `false`/`0`).
    pub(super) fn flag(&self, name: &str) -> Option<bool> {
        match self.first(&[name])? {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        }
    }

    /// A canonical text of all parameters, for services without a single key.
    pub(super) fn canonical(&self) -> String {
        let mut s = String::new();
        for (n, t) in &self.leaves {
            s.push_str(n);
            s.push('=');
            s.push_str(t.trim());
            s.push('\n');
        }
        s
    }
}

fn push_leaf(leaves: &mut Vec<(String, String)>, local: String, text: String) {
    if leaves.len() < DEFAULT_MAX_LEAVES {
        leaves.push((local, text));
    }
}

/// How the service's answer is wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Convention {
    /// 3.x (and 4.0 services that kept the legacy body): `request` echo + `response`.
    RequestResponse,
    /// 2.0 rpc/encoded: `paring` (echo of `keha`) + `keha`.
    Keha,
    /// Plain document/literal: the answer's elements directly in the wrapper.
    Bare,
}

impl Convention {
    /// Decided by the Body first (a 2.0 request translated to UXP still carries `keha`),
    /// then by the dialect.
    pub(super) fn of(scan: &BodyScan, dialect: Dialect) -> Convention {
        match scan.child.as_ref().map(|c| c.local.as_str()) {
            Some("keha") => Convention::Keha,
            Some("request") => Convention::RequestResponse,
            _ => match dialect {
                Dialect::V2 => Convention::Keha,
                Dialect::V30 | Dialect::V31 | Dialect::V31Eu => Convention::RequestResponse,
                Dialect::V60 | Dialect::V4 | Dialect::Uxp => Convention::Bare,
            },
        }
    }
}

fn ws_before(src: &[u8], pos: usize) -> &[u8] {
    let head = src.get(..pos).unwrap_or(&[]);
    let n = head
        .iter()
        .rev()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .count();
    head.get(head.len() - n..).unwrap_or(&[])
}

fn indent_of(ws: &[u8]) -> String {
    let after_nl = match ws.iter().rposition(|b| *b == b'\n') {
        Some(i) => ws.get(i + 1..).unwrap_or(&[]),
        None => ws,
    };
    String::from_utf8_lossy(after_nl).into_owned()
}

/// Line ending and indentation of the answer, copied from the request: the wrapper's
/// indentation, its first child's, and the step between them (none for flush-left
/// requests, as 2.0 messages often are). Returns the style and the two indentations.
pub(crate) fn style_for(
    env: &Envelope,
    scan: &BodyScan,
    convention: Convention,
) -> (Style, String, String) {
    let src = env.src;
    let wrapper_ws = ws_before(src, scan.wrapper.start);
    let child_ws = scan.child.as_ref().map(|c| ws_before(src, c.span.start));
    let outer = indent_of(wrapper_ws);
    let mut style = Style::compact(env.charset);
    let mut inner = String::new();
    if child_ws.unwrap_or(wrapper_ws).contains(&b'\n') {
        let ws = child_ws.unwrap_or(wrapper_ws);
        style.nl = if ws.windows(2).any(|w| w == b"\r\n") {
            "\r\n".into()
        } else {
            "\n".into()
        };
        let body_indent = indent_of(ws_before(src, env.body.start));
        style.step = match child_ws.map(indent_of) {
            Some(child) => match child.strip_prefix(outer.as_str()) {
                Some(step) => step.to_string(),
                None => "  ".to_string(),
            },
            // An empty wrapper: step as the wrapper is indented inside the Body.
            None => match outer.strip_prefix(body_indent.as_str()) {
                Some(step) => step.to_string(),
                None => "  ".to_string(),
            },
        };
        inner = style.deeper(&outer);
    }
    if convention == Convention::Keha && env.rpc_encoded {
        // Values are typed in rpc/encoded answers, when the prefixes are in scope.
        let scope: Vec<&(String, String)> = env
            .env_ns_decls
            .iter()
            .chain(scan.decl_pairs.iter())
            .collect();
        let prefix_for = |uri: &str| {
            scope
                .iter()
                .rev()
                .find(|(p, u)| u == uri && !p.is_empty())
                .map(|(p, _)| p.clone())
        };
        if let (Some(xsi), Some(xsd)) = (prefix_for(NS_XSI), prefix_for(NS_XSD)) {
            style.typed = Some((xsi, xsd));
        }
    }
    (style, outer, inner)
}

/// `p:` for a qualified name `p:local`, else empty.
fn prefix_part(qname: &[u8]) -> &[u8] {
    match qname.iter().position(|b| *b == b':') {
        Some(i) => qname.get(..=i).unwrap_or(&[]),
        None => &[],
    }
}

/// The response Body (from the Body start tag to the end of the document): the
/// request's bytes around the wrapper, and a new wrapper `resp_qname` holding
/// `content` in `convention`.
pub(crate) fn compose(
    env: &Envelope,
    scan: &BodyScan,
    resp_qname: &str,
    convention: Convention,
    content: &[Node],
) -> Vec<u8> {
    let src = env.src;
    let (style, outer, inner) = style_for(env, scan, convention);
    let mut out = Vec::with_capacity(512 + scan.wrapper.len());
    out.extend_from_slice(src.get(env.body.start..scan.wrapper.start).unwrap_or(&[]));
    out.push(b'<');
    out.extend_from_slice(resp_qname.as_bytes());
    out.extend_from_slice(&scan.wrapper_decls);
    out.push(b'>');
    let section = |out: &mut Vec<u8>, name: &str| {
        style.newline(&inner, out);
        out.extend_from_slice(format!("<{name}>").as_bytes());
        write_nodes(content, &style.deeper(&inner), &style, out);
        style.newline(&inner, out);
        out.extend_from_slice(format!("</{name}>").as_bytes());
    };
    match (convention, &scan.child) {
        (Convention::RequestResponse, Some(c)) if c.local == "request" => {
            style.newline(&inner, &mut out);
            out.extend_from_slice(src.get(c.span.clone()).unwrap_or(&[]));
            section(&mut out, "response");
        }
        (Convention::Keha, Some(c)) if c.local == "keha" => {
            let qname = src
                .get(c.span.start + 1..c.span.start + 1 + c.qname_len)
                .unwrap_or(&[]);
            let p = prefix_part(qname);
            style.newline(&inner, &mut out);
            out.push(b'<');
            out.extend_from_slice(p);
            out.extend_from_slice(b"paring");
            // The rest of the start tag (attributes, `>` or `/>`) as written.
            out.extend_from_slice(
                src.get(c.span.start + 1 + c.qname_len..c.open_end)
                    .unwrap_or(&[]),
            );
            if !c.empty() {
                out.extend_from_slice(src.get(c.open_end..c.close_start).unwrap_or(&[]));
                out.extend_from_slice(b"</");
                out.extend_from_slice(p);
                out.extend_from_slice(b"paring>");
            }
            section(&mut out, "keha");
        }
        // A convention without its echo element (an empty wrapper): the answer part only.
        (Convention::RequestResponse, _) => section(&mut out, "response"),
        (Convention::Keha, _) => section(&mut out, "keha"),
        (Convention::Bare, _) => write_nodes(content, &inner, &style, &mut out),
    }
    style.newline(&outer, &mut out);
    out.extend_from_slice(format!("</{resp_qname}>").as_bytes());
    out.extend_from_slice(src.get(scan.wrapper.end..).unwrap_or(&[]));
    out
}

/// A Body holding `fault_xml` in place of the wrapper.
pub(crate) fn compose_fault(env: &Envelope, scan: Option<&BodyScan>, fault_xml: &[u8]) -> Vec<u8> {
    let src = env.src;
    let mut out = Vec::with_capacity(fault_xml.len() + 256);
    match scan {
        Some(scan) => {
            out.extend_from_slice(src.get(env.body.start..scan.wrapper.start).unwrap_or(&[]));
            out.extend_from_slice(fault_xml);
            out.extend_from_slice(src.get(scan.wrapper.end..).unwrap_or(&[]));
        }
        None => {
            // The Body could not be read: a fresh Body in the Envelope's prefix.
            let p = env
                .env_prefix
                .as_ref()
                .map(|p| format!("{p}:"))
                .unwrap_or_default();
            out.extend_from_slice(format!("<{p}Body>").as_bytes());
            out.extend_from_slice(fault_xml);
            out.extend_from_slice(format!("</{p}Body></{}>\n", env.env_qname).as_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2: &str = "<?xml version=\"1.0\"?>\n<S:Envelope xmlns:S=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" S:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\">\n<S:Header/>\n<S:Body>\n<p:op xmlns:p=\"urn:p\" other=\"1\">\n<keha xsi:type=\"p:In\">\n<code xsi:type=\"xsd:string\">A&amp;1</code>\n<e/>\n</keha>\n</p:op>\n</S:Body>\n</S:Envelope>\n";

    #[test]
    fn scans_wrapper_child_and_leaves() {
        let env = Envelope::scan(V2.as_bytes(), None).unwrap();
        let scan = BodyScan::scan(&env).unwrap();
        assert_eq!(scan.wrapper_decls, b" xmlns:p=\"urn:p\"");
        let c = scan.child.as_ref().unwrap();
        assert_eq!(c.local, "keha");
        assert!(V2[c.span.clone()].starts_with("<keha") && V2[c.span.clone()].ends_with("</keha>"));
        assert_eq!(scan.first(&["code"]), Some("A&1"));
        assert_eq!(scan.leaves.len(), 2);
        assert!(V2[scan.wrapper.clone()].ends_with("</p:op>"));
    }

    #[test]
    fn keha_answer_echoes_as_paring_with_types() {
        let env = Envelope::scan(V2.as_bytes(), None).unwrap();
        let scan = BodyScan::scan(&env).unwrap();
        let conv = Convention::of(&scan, Dialect::V2);
        assert_eq!(conv, Convention::Keha);
        let out = compose(&env, &scan, "p:opResponse", conv, &[Node::leaf("r", "x")]);
        let s = String::from_utf8(out).unwrap();
        assert_eq!(
            s,
            "<S:Body>\n<p:opResponse xmlns:p=\"urn:p\">\n<paring xsi:type=\"p:In\">\n<code xsi:type=\"xsd:string\">A&amp;1</code>\n<e/>\n</paring>\n<keha>\n<r xsi:type=\"xsd:string\">x</r>\n</keha>\n</p:opResponse>\n</S:Body>\n</S:Envelope>\n"
        );
    }

    #[test]
    fn compact_requests_get_compact_answers() {
        let x = "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Header/><s:Body><op><request><a>1</a></request></op></s:Body></s:Envelope>";
        let env = Envelope::scan(x.as_bytes(), None).unwrap();
        let scan = BodyScan::scan(&env).unwrap();
        let out = compose(
            &env,
            &scan,
            "opResponse",
            Convention::RequestResponse,
            &[Node::leaf("b", "2")],
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<s:Body><opResponse><request><a>1</a></request><response><b>2</b></response></opResponse></s:Body></s:Envelope>"
        );
    }

    #[test]
    fn broken_body_is_an_error_not_a_panic() {
        let x = "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Header/><s:Body><op><request><a>1</b></request></op></s:Body></s:Envelope>";
        // The envelope scan proves the Body well-formed before the simulator sees it.
        assert!(matches!(
            Envelope::scan(x.as_bytes(), None),
            Err(WireError::InvalidXml(_))
        ));
    }
}
