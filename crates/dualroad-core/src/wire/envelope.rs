//! SOAP envelope scanner: tokenizes a message only up to the first element of the Body.
//!
//! This is where every incoming byte is first looked at. It finds the Envelope (SOAP
//! 1.1 or 1.2), reads the Header's children into a small element tree for the dialect
//! codecs, notes where the Body starts and what its wrapper element is, and then stops:
//! the Body is never tokenized, so it can be copied byte for byte and large bodies cost
//! a `memcpy`. Its structure is then proven by [`crate::wire::scan`], a linear,
//! XML-aware pass over the rest of the document (one Body, one child, well-formed, the
//! Envelope closed once), which builds nothing.
//!
//! Hostile input: DTDs are refused outright (no entity is ever declared, so none can be
//! expanded), header nesting is bounded, attributes and namespace declarations per
//! element are capped ([`ScanLimits`]) before any of them is decoded, and nothing here
//! can panic on input. Every step is linear in the bytes read: duplicate attributes are
//! found with a hash set, namespace URIs are interned in one.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

use crate::wire::charset::Charset;
use crate::wire::dialect::SoapVersion;
use crate::wire::error::WireError;

/// Deepest element nesting accepted inside the SOAP Header.
pub const DEFAULT_MAX_HEADER_DEPTH: usize = 32;
/// Most header elements accepted (real messages have about 15).
pub const DEFAULT_MAX_HEADER_CHILDREN: usize = 256;
/// Most elements, at every depth, built into a tree: the whole Header (real ones have
/// about 30), and separately a SOAP Fault. Each element's name is resolved against the
/// namespace declarations of its ancestors (up to depth × the per-element cap), so this
/// bound is what keeps a hostile header's cost proportional to its size.
pub const MAX_TREE_ELEMENTS: usize = 4096;
/// Most attributes (other than namespace declarations) on one element: real X-Road
/// messages carry at most three (`objectType`, `xsi:type`, `algorithmId`).
pub const DEFAULT_MAX_ATTRIBUTES: usize = 64;
/// Most namespace declarations on one element: real Envelopes declare up to about ten.
pub const DEFAULT_MAX_NAMESPACE_DECLARATIONS: usize = 64;

/// Per-element caps of the scanner (`[limits]` in the config). They are checked on each
/// start tag by counting, before any attribute is decoded or compared, so an element
/// with 50 000 attributes costs one pass over its bytes and a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ScanLimits {
    /// `limits.max_attributes_per_element`.
    #[serde(rename = "max_attributes_per_element")]
    pub max_attributes: usize,
    /// `limits.max_namespace_declarations_per_element`.
    #[serde(rename = "max_namespace_declarations_per_element")]
    pub max_namespace_declarations: usize,
}

impl Default for ScanLimits {
    fn default() -> Self {
        ScanLimits {
            max_attributes: DEFAULT_MAX_ATTRIBUTES,
            max_namespace_declarations: DEFAULT_MAX_NAMESPACE_DECLARATIONS,
        }
    }
}

/// An attribute with its namespace resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub ns: Option<Arc<str>>,
    pub local: String,
    pub value: String,
}

/// A header element as a tiny tree (headers are small; bodies never become one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elem {
    /// Namespace URI; shared between elements of one scan (interned), since a header
    /// uses a handful of namespaces across dozens of elements.
    pub ns: Option<Arc<str>>,
    pub local: String,
    pub attrs: Vec<Attr>,
    /// Concatenated, unescaped text directly inside this element.
    pub text: String,
    pub children: Vec<Elem>,
    /// Byte range of the whole element in the source, start tag to end tag.
    pub span: Range<usize>,
    /// `xmlns` declarations made on this element's own start tag.
    pub ns_decls: Vec<(String, String)>,
}

impl Elem {
    pub fn attr(&self, ns: Option<&str>, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.local == local && a.ns.as_deref() == ns)
            .map(|a| a.value.as_str())
    }

    pub fn child(&self, ns: &str, local: &str) -> Option<&Elem> {
        self.children
            .iter()
            .find(|c| c.local == local && c.ns.as_deref() == Some(ns))
    }

    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.local == local && self.ns.as_deref() == Some(ns)
    }
}

/// The SOAP Header as found in the source.
#[derive(Debug, Clone)]
pub struct HeaderBlock {
    /// The whole Header element.
    pub span: Range<usize>,
    /// The start tag (or the whole empty-element tag).
    pub open: Range<usize>,
    /// The end tag; empty when the Header was written as `<Header/>`.
    pub close: Range<usize>,
    pub ns_decls: Vec<(String, String)>,
    pub children: Vec<Elem>,
    /// Whitespace (and comments) before each child, parallel to `children`.
    pub gaps: Vec<Range<usize>>,
    /// Whitespace between the last child and the end tag.
    pub trailing: Range<usize>,
}

/// The first element inside the Body.
#[derive(Debug, Clone)]
pub struct Wrapper {
    pub ns: Option<Arc<str>>,
    pub local: String,
    /// Qualified name as written, e.g. `moh:getPatientSummary`.
    pub qname: String,
    /// The name inside the start tag (after `<`).
    pub start_name: Range<usize>,
    /// The name inside the matching end tag; `None` for an empty element, or when the
    /// Body carries rpc/encoded multi-refs after the wrapper and the end was not located.
    pub end_name: Option<Range<usize>>,
    pub self_closing: bool,
}

/// Where the Body is and what it holds.
#[derive(Debug, Clone)]
pub struct BodyBlock {
    /// Offset of the `<` of the Body start tag: everything from here on is copied raw.
    pub start: usize,
    pub wrapper: Wrapper,
    /// The parsed `Fault` element when the wrapper is a SOAP Fault.
    pub fault: Option<Elem>,
}

/// A scanned SOAP message. Offsets index into `src`.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    pub src: &'a [u8],
    pub charset: Charset,
    pub soap: SoapVersion,
    /// Qualified name of the Envelope element as written (`SOAP-ENV:Envelope`).
    pub env_qname: String,
    /// Prefix the Envelope uses (`None` for a default-namespace envelope).
    pub env_prefix: Option<String>,
    /// The Envelope start tag.
    pub env_open: Range<usize>,
    pub env_ns_decls: Vec<(String, String)>,
    /// `SOAP-ENV:encodingStyle` present on the Envelope or Body: a 2.0 rpc/encoded message.
    pub rpc_encoded: bool,
    pub header: Option<HeaderBlock>,
    pub body: BodyBlock,
}

impl<'a> Envelope<'a> {
    /// Scans `src` (BOM allowed). `charset` comes from the HTTP Content-Type; when
    /// `None`, the XML declaration's `encoding` is used, else UTF-8.
    pub fn scan(src: &'a [u8], charset: Option<Charset>) -> Result<Envelope<'a>, WireError> {
        Self::scan_with(src, charset, ScanLimits::default())
    }

    /// [`Envelope::scan`] with the gateway's configured per-element caps.
    pub fn scan_with(
        src: &'a [u8],
        charset: Option<Charset>,
        limits: ScanLimits,
    ) -> Result<Envelope<'a>, WireError> {
        Scanner::new(src, charset, limits).run()
    }

    /// Bytes of the Envelope start tag.
    pub fn env_open_bytes(&self) -> &'a [u8] {
        slice(self.src, self.env_open.clone())
    }

    /// All namespace declarations in scope for a Header child: the Envelope's and the
    /// Header's own.
    pub fn header_scope(&self) -> Vec<(String, String)> {
        let mut scope = self.env_ns_decls.clone();
        if let Some(h) = &self.header {
            for d in &h.ns_decls {
                scope.retain(|(p, _)| p != &d.0);
                scope.push(d.clone());
            }
        }
        scope
    }

    pub fn is_fault(&self) -> bool {
        self.body.fault.is_some()
    }
}

/// Bounds-checked sub-slice; offsets come from the reader, so this never fails in
/// practice, but input must never be able to cause a panic.
pub(crate) fn slice(src: &[u8], r: Range<usize>) -> &[u8] {
    src.get(r).unwrap_or(&[])
}

/// `xmlns` declarations as `(prefix, uri)`; the default namespace has prefix `""`.
type NsDecls = Vec<(String, String)>;

struct Scanner<'a> {
    src: &'a [u8],
    /// Bytes skipped before the reader's input (a UTF-8 BOM), so offsets stay
    /// relative to `src` and the BOM is kept on re-encoding.
    base: usize,
    reader: NsReader<&'a [u8]>,
    charset: Option<Charset>,
    /// Namespace URIs seen so far (a handful per message, but a hostile one may use a
    /// new URI on every element: a set keeps each lookup constant).
    interned: HashSet<Arc<str>>,
    limits: ScanLimits,
    /// Elements built into the current tree (Header or Fault), against
    /// [`MAX_TREE_ELEMENTS`].
    tree_elements: usize,
}

fn xml_err(e: impl std::fmt::Display) -> WireError {
    WireError::InvalidXml(e.to_string())
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

impl<'a> Scanner<'a> {
    fn new(src: &'a [u8], charset: Option<Charset>, limits: ScanLimits) -> Self {
        let base = if src.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        let reader = NsReader::from_reader(slice(src, base..src.len()));
        Scanner {
            src,
            base,
            reader,
            charset,
            interned: HashSet::new(),
            limits,
            tree_elements: 0,
        }
    }

    fn pos(&self) -> usize {
        self.base + self.reader.buffer_position() as usize
    }

    fn charset(&self) -> Charset {
        self.charset.unwrap_or_default()
    }

    fn decode_text(&self, raw: &[u8]) -> Result<String, WireError> {
        let cs = self.charset();
        let s = cs.decode(raw).ok_or(WireError::BadEncoding(cs.label()))?;
        quick_xml::escape::unescape(&s)
            .map(|c| c.into_owned())
            .map_err(|e| {
                WireError::InvalidXml(format!("bad character reference or undeclared entity: {e}"))
            })
    }

    fn ns_of(interned: &mut HashSet<Arc<str>>, res: &ResolveResult) -> Option<Arc<str>> {
        let ResolveResult::Bound(ns) = res else {
            return None;
        };
        let uri = String::from_utf8_lossy(ns.0);
        if let Some(a) = interned.get(uri.as_ref()) {
            return Some(a.clone());
        }
        let a: Arc<str> = Arc::from(uri.as_ref());
        interned.insert(a.clone());
        Some(a)
    }

    /// Counts the attributes and namespace declarations of a start tag without decoding
    /// any, and refuses the element past either cap. This runs before everything else
    /// done per attribute (decoding, the duplicate check, namespace resolution).
    fn check_counts(limits: ScanLimits, e: &BytesStart) -> Result<(), WireError> {
        let (mut attrs, mut decls) = (0usize, 0usize);
        for a in e.attributes().with_checks(false) {
            // A malformed attribute is reported by `attrs_of` with its position.
            let Ok(a) = a else { break };
            if a.key.as_namespace_binding().is_some() {
                decls += 1;
                if decls > limits.max_namespace_declarations {
                    return Err(WireError::TooManyAttributes {
                        element: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
                        what: "namespace declarations",
                        limit: limits.max_namespace_declarations,
                        key: "max_namespace_declarations_per_element",
                    });
                }
            } else {
                attrs += 1;
                if attrs > limits.max_attributes {
                    return Err(WireError::TooManyAttributes {
                        element: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
                        what: "attributes",
                        limit: limits.max_attributes,
                        key: "max_attributes_per_element",
                    });
                }
            }
        }
        Ok(())
    }

    fn check_unknown_prefix(res: &ResolveResult, name: &[u8]) -> Result<(), WireError> {
        if let ResolveResult::Unknown(p) = res {
            return Err(WireError::InvalidXml(format!(
                "prefix `{}` of `{}` is not declared",
                String::from_utf8_lossy(p),
                String::from_utf8_lossy(name)
            )));
        }
        Ok(())
    }

    fn attrs_of(&mut self, e: &BytesStart) -> Result<(Vec<Attr>, NsDecls), WireError> {
        let mut attrs = Vec::new();
        let mut decls = Vec::new();
        // quick-xml's own duplicate check compares each key with every earlier one;
        // a set keeps it linear (the counts are capped already, this is defence in depth).
        let mut seen = HashSet::new();
        for a in e.attributes().with_checks(false) {
            let a = a.map_err(xml_err)?;
            if !seen.insert(a.key.into_inner()) {
                return Err(WireError::InvalidXml(format!(
                    "attribute `{}` appears twice on `{}`",
                    String::from_utf8_lossy(a.key.as_ref()),
                    String::from_utf8_lossy(e.name().as_ref())
                )));
            }
            let value = self.decode_text(&a.value)?;
            if let Some(binding) = a.key.as_namespace_binding() {
                let prefix = match binding {
                    quick_xml::name::PrefixDeclaration::Default => String::new(),
                    quick_xml::name::PrefixDeclaration::Named(p) => {
                        String::from_utf8_lossy(p).into_owned()
                    }
                };
                decls.push((prefix, value));
                continue;
            }
            let (res, local) = self.reader.resolve_attribute(a.key);
            Self::check_unknown_prefix(&res, a.key.as_ref())?;
            attrs.push(Attr {
                ns: Self::ns_of(&mut self.interned, &res),
                local: String::from_utf8_lossy(local.as_ref()).into_owned(),
                value,
            });
        }
        Ok((attrs, decls))
    }

    /// Reads the next event, refusing DTDs. Returns (start offset, resolved ns, event).
    fn next(&mut self) -> Result<(usize, Option<Arc<str>>, Event<'a>), WireError> {
        let start = self.pos();
        let limits = self.limits;
        let (res, ev) = self.reader.read_resolved_event().map_err(xml_err)?;
        if let Event::DocType(_) = ev {
            return Err(WireError::Dtd);
        }
        let ns = Self::ns_of(&mut self.interned, &res);
        if let Event::Start(e) | Event::Empty(e) = &ev {
            // quick-xml reads `< name>` as a start tag with an empty name; XML has no
            // such thing, and an empty name would match everywhere further on.
            if e.name().as_ref().is_empty() {
                return Err(WireError::InvalidXml(format!(
                    "element without a name at byte {start}"
                )));
            }
            Self::check_counts(limits, e)?;
            Self::check_unknown_prefix(&res, e.name().as_ref())?;
        }
        Ok((start, ns, ev))
    }

    fn run(mut self) -> Result<Envelope<'a>, WireError> {
        let src = self.src;
        if src.iter().all(|b| is_ws(*b)) {
            return Err(WireError::Empty);
        }
        // --- prolog up to the Envelope start tag
        let (env_start, env_ns, env_ev) = loop {
            let (start, ns, ev) = self.next()?;
            match ev {
                Event::Decl(d) => {
                    if self.charset.is_none() {
                        if let Some(Ok(enc)) = d.encoding() {
                            let label = String::from_utf8_lossy(&enc).into_owned();
                            self.charset = Some(
                                Charset::from_label(&label)
                                    .ok_or(WireError::UnsupportedCharset(label))?,
                            );
                        }
                    }
                }
                Event::Comment(_) | Event::PI(_) => {}
                Event::Text(t) if t.iter().all(|b| is_ws(*b)) => {}
                Event::Start(_) | Event::Empty(_) => break (start, ns, ev),
                Event::Eof => return Err(WireError::InvalidXml("no root element".into())),
                _ => {
                    return Err(WireError::InvalidXml(
                        "unexpected content before the root element".into(),
                    ))
                }
            }
        };
        let (env_tag, env_empty) = match env_ev {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            _ => return Err(WireError::InvalidSoap("no root element".into())),
        };
        let env_qname = String::from_utf8_lossy(env_tag.name().as_ref()).into_owned();
        let soap = match env_ns
            .as_deref()
            .map(|n| SoapVersion::from_ns(n.as_bytes()))
        {
            Some(Some(v)) if env_tag.local_name().as_ref() == b"Envelope" => v,
            _ => {
                return Err(WireError::InvalidSoap(format!(
                    "root element `{env_qname}` is not a SOAP 1.1 or 1.2 Envelope"
                )))
            }
        };
        let soap_ns = soap.envelope_ns();
        let env_prefix = env_tag
            .name()
            .prefix()
            .map(|p| String::from_utf8_lossy(p.as_ref()).into_owned());
        let (env_attrs, env_ns_decls) = self.attrs_of(&env_tag)?;
        let mut rpc_encoded = env_attrs
            .iter()
            .any(|a| a.local == "encodingStyle" && a.ns.as_deref() == Some(soap_ns));
        let env_open = env_start..self.pos();
        if env_empty {
            return Err(WireError::MissingBody);
        }

        // --- Header (optional) and Body start
        let mut header = None;
        let body_start;
        let body_empty;
        loop {
            let (start, ns, ev) = self.next()?;
            match ev {
                Event::Comment(_) | Event::PI(_) => {}
                Event::Text(t) if t.iter().all(|b| is_ws(*b)) => {}
                Event::Start(e) | Event::Empty(e)
                    if ns.as_deref() == Some(soap_ns) && e.local_name().as_ref() == b"Header" =>
                {
                    if header.is_some() {
                        return Err(WireError::InvalidSoap("two SOAP Header elements".into()));
                    }
                    let empty =
                        self.src.get(self.pos().saturating_sub(2)..self.pos()) == Some(b"/>");
                    let (_, decls) = self.attrs_of(&e)?;
                    header = Some(self.header_block(start, empty, decls)?);
                }
                Event::Start(e) | Event::Empty(e)
                    if ns.as_deref() == Some(soap_ns) && e.local_name().as_ref() == b"Body" =>
                {
                    let (attrs, _) = self.attrs_of(&e)?;
                    rpc_encoded |= attrs
                        .iter()
                        .any(|a| a.local == "encodingStyle" && a.ns.as_deref() == Some(soap_ns));
                    body_start = start;
                    body_empty =
                        self.src.get(self.pos().saturating_sub(2)..self.pos()) == Some(b"/>");
                    break;
                }
                Event::End(_) | Event::Eof => return Err(WireError::MissingBody),
                Event::Start(e) | Event::Empty(e) => {
                    return Err(WireError::InvalidSoap(format!(
                        "unexpected element `{}` in the Envelope (expected Header or Body)",
                        String::from_utf8_lossy(e.name().as_ref())
                    )))
                }
                _ => {
                    return Err(WireError::InvalidSoap(
                        "text directly inside the Envelope".into(),
                    ))
                }
            }
        }
        if body_empty {
            return Err(WireError::InvalidBody("the Body is empty".into()));
        }

        // --- the wrapper: the first element inside the Body
        let (wstart, wns, wev) = loop {
            let (start, ns, ev) = self.next()?;
            match ev {
                Event::Comment(_) | Event::PI(_) => {}
                Event::Text(t) if t.iter().all(|b| is_ws(*b)) => {}
                Event::Start(_) | Event::Empty(_) => break (start, ns, ev),
                Event::End(_) => return Err(WireError::InvalidBody("the Body is empty".into())),
                Event::Eof => {
                    return Err(WireError::InvalidXml(
                        "document ends inside the Body".into(),
                    ))
                }
                _ => {
                    return Err(WireError::InvalidBody(
                        "text directly inside the Body".into(),
                    ))
                }
            }
        };
        let (wtag, self_closing) = match wev {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            _ => return Err(WireError::InvalidBody("no element in the Body".into())),
        };
        let qname = String::from_utf8_lossy(wtag.name().as_ref()).into_owned();
        let local = String::from_utf8_lossy(wtag.local_name().as_ref()).into_owned();
        let start_name = wstart + 1..wstart + 1 + qname.len();
        let is_fault = wns.as_deref() == Some(soap_ns) && local == "Fault";
        let fault = if is_fault {
            if self_closing {
                return Err(WireError::InvalidSoap("empty SOAP Fault".into()));
            }
            let (attrs, decls) = self.attrs_of(&wtag)?;
            let mut elem = Elem {
                ns: wns.clone(),
                local: local.clone(),
                attrs,
                text: String::new(),
                children: Vec::new(),
                span: wstart..0,
                ns_decls: decls,
            };
            self.tree_elements = 1;
            self.fill(&mut elem, 1)?;
            Some(elem)
        } else {
            None
        };

        // Everything from the Body on is proven structurally, without a tree: one
        // Body, one child, well-formed, the Envelope closed once (`wire::scan`).
        let proof =
            crate::wire::scan::scan_body(src, body_start, env_qname.as_bytes(), self.charset())?;
        if proof.child.start != wstart {
            return Err(WireError::InvalidBody(format!(
                "the Body's first element is not at byte {wstart}"
            )));
        }
        let end_name = proof.child_end_name;

        Ok(Envelope {
            src,
            charset: self.charset(),
            soap,
            env_qname,
            env_prefix,
            env_open,
            env_ns_decls,
            rpc_encoded,
            header,
            body: BodyBlock {
                start: body_start,
                wrapper: Wrapper {
                    ns: wns,
                    local,
                    qname,
                    start_name,
                    end_name,
                    self_closing,
                },
                fault,
            },
        })
    }

    fn header_block(
        &mut self,
        start: usize,
        empty: bool,
        ns_decls: Vec<(String, String)>,
    ) -> Result<HeaderBlock, WireError> {
        let open = start..self.pos();
        if empty {
            return Ok(HeaderBlock {
                span: open.clone(),
                close: open.end..open.end,
                open,
                ns_decls,
                children: Vec::new(),
                gaps: Vec::new(),
                trailing: 0..0,
            });
        }
        let mut children = Vec::new();
        let mut gaps = Vec::new();
        let mut gap_start = self.pos();
        loop {
            let (s, ns, ev) = self.next()?;
            match ev {
                Event::Text(t) if t.iter().all(|b| is_ws(*b)) => {}
                Event::Comment(_) | Event::PI(_) => {}
                Event::Text(_) | Event::CData(_) => {
                    return Err(WireError::InvalidSoap(
                        "text directly inside the Header".into(),
                    ))
                }
                Event::Start(e) | Event::Empty(e) => {
                    if children.len() >= DEFAULT_MAX_HEADER_CHILDREN {
                        return Err(WireError::InvalidSoap(format!(
                            "more than {DEFAULT_MAX_HEADER_CHILDREN} header elements"
                        )));
                    }
                    let elem = self.element(s, ns, &e, 1)?;
                    gaps.push(gap_start..s);
                    children.push(elem);
                    gap_start = self.pos();
                }
                Event::End(_) => {
                    let close = s..self.pos();
                    return Ok(HeaderBlock {
                        span: open.start..close.end,
                        open,
                        close,
                        ns_decls,
                        children,
                        gaps,
                        trailing: gap_start..s,
                    });
                }
                Event::Eof => {
                    return Err(WireError::InvalidXml(
                        "document ends inside the Header".into(),
                    ))
                }
                _ => {}
            }
        }
    }

    /// Builds the element whose start tag (at `start`) was just read, with its content
    /// when it is not an empty-element tag.
    fn element(
        &mut self,
        start: usize,
        ns: Option<Arc<str>>,
        e: &BytesStart,
        depth: usize,
    ) -> Result<Elem, WireError> {
        self.tree_elements += 1;
        if self.tree_elements > MAX_TREE_ELEMENTS {
            return Err(WireError::InvalidSoap(format!(
                "more than {MAX_TREE_ELEMENTS} elements in the SOAP Header or Fault"
            )));
        }
        let is_empty = matches!(
            self.src.get(self.pos().saturating_sub(2)..self.pos()),
            Some(b"/>")
        );
        let (attrs, decls) = self.attrs_of(e)?;
        let mut elem = Elem {
            ns,
            local: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
            attrs,
            text: String::new(),
            children: Vec::new(),
            span: start..self.pos(),
            ns_decls: decls,
        };
        if !is_empty {
            self.fill(&mut elem, depth)?;
        }
        Ok(elem)
    }

    /// Reads the content of `elem` (whose start tag was just read) up to its end tag.
    fn fill(&mut self, elem: &mut Elem, depth: usize) -> Result<(), WireError> {
        if depth > DEFAULT_MAX_HEADER_DEPTH {
            return Err(WireError::TooDeep(DEFAULT_MAX_HEADER_DEPTH));
        }
        loop {
            let (s, ns, ev) = self.next()?;
            match ev {
                Event::Text(t) => {
                    let raw = t.into_inner();
                    let text = self.decode_text(&raw)?;
                    elem.text.push_str(&text);
                }
                Event::CData(c) => {
                    let raw = c.into_inner();
                    let cs = self.charset();
                    elem.text
                        .push_str(&cs.decode(&raw).ok_or(WireError::BadEncoding(cs.label()))?);
                }
                Event::Start(e) | Event::Empty(e) => {
                    let child = self.element(s, ns, &e, depth + 1)?;
                    elem.children.push(child);
                }
                Event::End(_) => {
                    elem.span.end = self.pos();
                    return Ok(());
                }
                Event::Eof => {
                    return Err(WireError::InvalidXml(format!(
                        "document ends inside `{}`",
                        elem.local
                    )))
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:x="urn:x">
  <s:Header><x:a>1</x:a>
    <x:b x:k="v"><x:c>2</x:c></x:b>
  </s:Header>
  <s:Body><x:op><x:in>é</x:in></x:op></s:Body>
</s:Envelope>
"#;

    #[test]
    fn scans_header_and_stops_at_body() {
        let env = Envelope::scan(OK.as_bytes(), None).unwrap();
        assert_eq!(env.soap, SoapVersion::Soap11);
        let h = env.header.as_ref().unwrap();
        assert_eq!(h.children.len(), 2);
        assert_eq!(h.children[1].children[0].text, "2");
        assert_eq!(h.children[1].attr(Some("urn:x"), "k"), Some("v"));
        assert_eq!(env.body.wrapper.local, "op");
        let end = env.body.wrapper.end_name.clone().unwrap();
        assert_eq!(&OK.as_bytes()[end], b"x:op");
        assert!(OK[env.body.start..].starts_with("<s:Body>"));
    }

    #[test]
    fn refuses_hostile_and_broken_input() {
        let dtd = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><a>&lol;</a></s:Body></s:Envelope>"#;
        assert_eq!(
            Envelope::scan(dtd.as_bytes(), None).unwrap_err(),
            WireError::Dtd
        );
        let truncated = &OK[..OK.len() - 30];
        assert!(matches!(
            Envelope::scan(truncated.as_bytes(), None),
            Err(WireError::InvalidXml(_))
        ));
        let two = OK.replace("</x:op></s:Body>", "</x:op><x:op2/></s:Body>");
        assert!(matches!(
            Envelope::scan(two.as_bytes(), None),
            Err(WireError::InvalidBody(_))
        ));
        let none = OK.replace("<x:op><x:in>é</x:in></x:op>", "");
        assert!(matches!(
            Envelope::scan(none.as_bytes(), None),
            Err(WireError::InvalidBody(_))
        ));
        assert!(matches!(
            Envelope::scan(b"hello", None),
            Err(WireError::InvalidXml(_))
        ));
        assert_eq!(Envelope::scan(b"", None).unwrap_err(), WireError::Empty);
        assert!(matches!(
            Envelope::scan(b"<a/>", None),
            Err(WireError::InvalidSoap(_))
        ));
        let deep = format!(
            "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Header>{}{}</s:Header><s:Body><a/></s:Body></s:Envelope>",
            "<d>".repeat(100),
            "</d>".repeat(100)
        );
        assert!(matches!(
            Envelope::scan(deep.as_bytes(), None),
            Err(WireError::TooDeep(_))
        ));
    }

    fn with_header_attrs(attrs: &str) -> String {
        OK.replacen("<x:a>", &format!("<x:a{attrs}>"), 1)
    }

    #[test]
    fn attribute_and_namespace_caps_are_counted_per_element() {
        let limits = ScanLimits {
            max_attributes: 3,
            max_namespace_declarations: 2,
        };
        fn scan_at(m: &str, limits: ScanLimits) -> Result<(), WireError> {
            Envelope::scan_with(m.as_bytes(), None, limits).map(|_| ())
        }
        let scan = |m: &str| scan_at(m, limits);
        // At the caps: accepted, every attribute decoded.
        let at = with_header_attrs(r#" p="1" q="2" x:r="3" xmlns:m="urn:m" xmlns="urn:d""#);
        let env = Envelope::scan_with(at.as_bytes(), None, limits).unwrap();
        let a = &env.header.as_ref().unwrap().children[0];
        assert_eq!((a.attrs.len(), a.ns_decls.len()), (3, 2));
        // One more of either: refused, naming the element and the config key.
        let e = scan(&with_header_attrs(r#" p="1" q="2" r="3" s="4""#)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "element `x:a` has more than 3 attributes (limits.max_attributes_per_element)"
        );
        assert_eq!(e.code(), "InvalidXml");
        let e = scan(&with_header_attrs(
            r#" xmlns:m="urn:m" xmlns:n="urn:n" xmlns:o="urn:o""#,
        ))
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("more than 2 namespace declarations (limits.max_namespace_declarations_per_element)"),
            "{e}"
        );
        // The caps hold on the Envelope and Body start tags as well.
        let env_tag = OK.replacen(
            "xmlns:x=\"urn:x\"",
            "xmlns:x=\"urn:x\" xmlns:y=\"urn:y\" xmlns:z=\"urn:z\"",
            1,
        );
        assert!(matches!(
            scan(&env_tag),
            Err(WireError::TooManyAttributes { .. })
        ));
        let body_tag = OK.replacen("<s:Body>", r#"<s:Body a="1" b="2" c="3" d="4">"#, 1);
        assert!(matches!(
            scan(&body_tag),
            Err(WireError::TooManyAttributes { .. })
        ));
    }

    #[test]
    fn fifty_thousand_attributes_are_refused_by_default() {
        let attrs: String = (0..50_000).map(|i| format!(" a{i}=\"{i}\"")).collect();
        let e = Envelope::scan(with_header_attrs(&attrs).as_bytes(), None).unwrap_err();
        assert!(
            matches!(
                e,
                WireError::TooManyAttributes {
                    limit: DEFAULT_MAX_ATTRIBUTES,
                    ..
                }
            ),
            "{e}"
        );
        let decls: String = (0..50_000)
            .map(|i| format!(" xmlns:n{i}=\"urn:{i}\""))
            .collect();
        let e = Envelope::scan(with_header_attrs(&decls).as_bytes(), None).unwrap_err();
        assert!(
            matches!(
                e,
                WireError::TooManyAttributes {
                    limit: DEFAULT_MAX_NAMESPACE_DECLARATIONS,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn duplicate_attributes_are_still_refused() {
        for dup in [
            r#" p="1" p="2""#,
            r#" x:p="1" x:p="2""#,
            r#" xmlns:m="a" xmlns:m="b""#,
        ] {
            let e = Envelope::scan(with_header_attrs(dup).as_bytes(), None).unwrap_err();
            assert!(
                matches!(&e, WireError::InvalidXml(m) if m.contains("appears twice on `x:a`")),
                "{dup}: {e}"
            );
        }
        // Same local name in two namespaces, or a prefixed and a plain one: distinct.
        let ok = with_header_attrs(r#" p="1" x:p="2" xmlns:y="urn:y" y:p="3""#);
        let env = Envelope::scan(ok.as_bytes(), None).unwrap();
        assert_eq!(env.header.unwrap().children[0].attrs.len(), 3);
    }

    /// Elements at every depth count against one budget per tree, so a header of
    /// millions of tiny elements under namespace-heavy ancestors is refused up front.
    #[test]
    fn header_and_fault_trees_are_bounded_in_elements() {
        let many = |n: usize| {
            OK.replacen(
                "<x:a>1</x:a>",
                &format!("<x:a>{}</x:a>", "<x:i/>".repeat(n)),
                1,
            )
        };
        assert!(Envelope::scan(many(MAX_TREE_ELEMENTS - 10).as_bytes(), None).is_ok());
        let e = Envelope::scan(many(MAX_TREE_ELEMENTS).as_bytes(), None).unwrap_err();
        assert!(
            matches!(&e, WireError::InvalidSoap(m) if m.contains("more than 4096 elements")),
            "{e}"
        );
        let fault = |n: usize| {
            format!(
                "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><s:Fault><faultcode>s:Server</faultcode><detail>{}</detail></s:Fault></s:Body></s:Envelope>",
                "<i/>".repeat(n)
            )
        };
        assert!(Envelope::scan(fault(MAX_TREE_ELEMENTS - 10).as_bytes(), None).is_ok());
        assert!(Envelope::scan(fault(MAX_TREE_ELEMENTS).as_bytes(), None).is_err());
    }
}
