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
//! expanded), header nesting is bounded, and nothing here can panic on input.

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
        Scanner::new(src, charset).run()
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
    /// Namespace URIs seen so far (a handful per message).
    interned: Vec<Arc<str>>,
}

fn xml_err(e: impl std::fmt::Display) -> WireError {
    WireError::InvalidXml(e.to_string())
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

impl<'a> Scanner<'a> {
    fn new(src: &'a [u8], charset: Option<Charset>) -> Self {
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
            interned: Vec::new(),
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

    fn ns_of(interned: &mut Vec<Arc<str>>, res: &ResolveResult) -> Option<Arc<str>> {
        let ResolveResult::Bound(ns) = res else {
            return None;
        };
        if let Some(a) = interned.iter().find(|a| a.as_bytes() == ns.0) {
            return Some(a.clone());
        }
        let a: Arc<str> = Arc::from(String::from_utf8_lossy(ns.0).as_ref());
        interned.push(a.clone());
        Some(a)
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
        for a in e.attributes() {
            let a = a.map_err(xml_err)?;
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
}
