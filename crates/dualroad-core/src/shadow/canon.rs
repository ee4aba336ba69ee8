//! Canonical tree of a SOAP answer: what two answers are compared on.
//!
//! Where it sits: the gateway has both answers in the client's dialect (the UXP answer
//! translated back exactly as for the client); [`Canon::from_input`] turns each into a
//! [`Canon`], and the comparator ([`super::compare`](mod@super::compare)) walks the two
//! trees side by side.
//!
//! Unlike `wire::envelope` (which stops at the Body so bodies can be copied raw), this
//! parses the *whole* message, because the Body is what is compared. What is kept, and
//! what is deliberately dropped so that two serializations of the same answer are equal:
//!
//! - **Names** are namespace URI + local name, written `{uri}local` (or `local` in no
//!   namespace): prefixes are gone, so `<moh:x>` and `<x xmlns="…moh…">` are the same
//!   element, while the same prefix bound to two URIs gives two different elements.
//!   Namespace declarations are not kept at all, so moving `xmlns:…` between elements
//!   changes nothing.
//! - **Attributes** are sorted by name: their order carries no meaning in XML. QName
//!   values of `xsi:type` and `SOAP-ENC:arrayType` (rpc/encoded 2.0 answers) are
//!   resolved to `{uri}local` too, so `xsd:string` = `xs:string`. So are SOAP fault codes
//!   (`SOAP-ENV:Server` = `soap:Server`).
//! - **Children** are sorted by name (local name, then namespace), *stably*: repeated
//!   elements (`allergy`, `allergy`) keep their order, which is compared; the relative
//!   order of differently named siblings is not (an XSD `sequence` fixes it by schema, so
//!   a difference there is a serialization detail, and X-Road headers come in any order).
//! - **Text**: an element's text is its direct text and CDATA segments concatenated
//!   (CDATA is just text, so `<![CDATA[a&b]]>` = `a&amp;b`), where
//!   1. segments that are whitespace only (indentation between elements) are dropped,
//!   2. line ends are normalized as an XML parser must (CRLF and CR → LF),
//!   3. the result is trimmed of XML whitespace at both ends.
//!
//!   Whitespace *inside* a value is kept: `Main  Street` ≠ `Main Street`. In mixed content
//!   (text beside child elements, rare in SOAP data) the position of the text relative to
//!   the children is not kept.
//! - Attribute values get XML attribute-value normalization (literal CR, LF, tab → space).
//! - Comments, processing instructions and the XML declaration are dropped.
//!
//! Layout: one arena string holds every local name, text and value; elements,
//! attributes and child lists are flat vectors indexed by `u32`; a namespace URI is
//! stored once and referenced by id. A 1 KB answer costs a handful of allocations, not
//! one per node, and sibling names compare on short local names first. [`Element`] and
//! [`Attribute`] are borrowed views.
//!
//! Hostile input: a DTD is refused outright (no entity is ever declared, so none can be
//! expanded; only the five predefined entities and character references are read), and
//! size, nesting depth and node count are bounded ([`Limits`]); the parser keeps its own
//! stack (no recursion), so depth cannot overflow the thread's stack either. Nothing here
//! panics on input; every problem is a [`CanonError`], which the comparator turns into
//! `shadow-error` (shadow side) or `not-compared` (primary side, or a limit).

use std::borrow::Cow;
use std::cmp::Ordering;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{PrefixDeclaration, QName};
use quick_xml::Reader;

use crate::error::normalize_fault_code;
use crate::shadow::values::is_xml_ws;
use crate::wire::charset::Charset;
use crate::wire::dialect::{
    SoapVersion, NS_SOAP11, NS_SOAP12, NS_SOAP_ENC, NS_V2, NS_V30, NS_V31, NS_V31_EU, NS_XROAD,
    NS_XSI,
};
use crate::wire::message::{Input, Message};
use crate::wire::multipart::ContentType;
use crate::wire::WireError;

/// Namespaces of X-Road header elements, one per dialect family (v2, v3.0, v3.1,
/// v3.1-eu, and the shared 6.0/4.x/UXP one).
pub const XROAD_HEADER_NAMESPACES: [&str; 5] = [NS_V2, NS_V30, NS_V31, NS_V31_EU, NS_XROAD];
/// Header elements that differ on every exchange by design: the message id (the shadow
/// request carries its own) and the request hash (it hashes that id too).
pub const VOLATILE_HEADERS: [&str; 2] = ["id", "requestHash"];

/// Whether a direct child of the SOAP Header is a volatile X-Road field. A service's own
/// header element called `id` in its own namespace is data, so the namespace is checked.
pub fn is_volatile(el: &Element<'_>) -> bool {
    VOLATILE_HEADERS.contains(&el.local())
        && el
            .namespace()
            .is_some_and(|ns| XROAD_HEADER_NAMESPACES.contains(&ns))
}

/// Deepest element nesting accepted (real X-Road answers nest about 10 levels).
pub const DEFAULT_MAX_DEPTH: usize = 64;
/// Most nodes (elements + attributes + text segments) accepted in one answer.
pub const DEFAULT_MAX_NODES: usize = 200_000;
/// Largest answer compared; the mirror's byte budget normally stops bigger ones first.
pub const DEFAULT_MAX_BYTES: usize = 8 * 1024 * 1024;
/// Hard ceiling on `max_bytes`: offsets into the arena are `u32`.
const MAX_ARENA_BYTES: usize = u32::MAX as usize / 2;

/// Resource bounds for canonicalization. Hitting one is a [`CanonError`] for which
/// [`CanonError::is_limit`] is true.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_depth: usize,
    pub max_nodes: usize,
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: DEFAULT_MAX_DEPTH,
            max_nodes: DEFAULT_MAX_NODES,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// Why an answer could not be canonicalized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonError {
    #[error("answer is empty")]
    Empty,
    #[error("answer of {size} bytes exceeds the compare limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("DTDs are refused (XXE and entity-expansion protection)")]
    Dtd,
    #[error("XML nesting deeper than {0} levels")]
    TooDeep(usize),
    #[error("more than {0} XML nodes")]
    TooManyNodes(usize),
    #[error("not well-formed XML: {0}")]
    Xml(String),
    #[error("not a SOAP envelope: {0}")]
    NotSoap(String),
    #[error("text is not valid {0}")]
    Encoding(&'static str),
    #[error("unsupported charset `{0}` (supported: UTF-8, ISO-8859-1)")]
    UnsupportedCharset(String),
    #[error("not a SOAP answer: Content-Type `{0}`")]
    ContentType(String),
    /// The multipart packaging around the SOAP part is broken.
    #[error("{0}")]
    Wire(#[from] WireError),
}

impl CanonError {
    /// True when a resource bound was hit: the answer may be fine, it is just too big to
    /// compare (reported as `not-compared: too-large`, not as an error of the stack).
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            CanonError::TooLarge { .. }
                | CanonError::TooDeep(_)
                | CanonError::TooManyNodes(_)
                | CanonError::Wire(WireError::TooLarge { .. })
        )
    }
}

/// A byte range of the arena.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
    fn is_empty(self) -> bool {
        self.start >= self.end
    }
}

/// Namespace id of a name in no namespace.
const NO_NS: u32 = u32::MAX;
/// What [`Canon::namespace_map`] gives a namespace the other answer does not use.
pub(crate) const UNMAPPED_NS: u32 = u32::MAX - 1;

#[derive(Debug, Clone)]
struct Node {
    local: Span,
    ns: u32,
    text: Span,
    /// Range in `Canon::attrs`.
    attrs: Span,
    /// Range in `Canon::children`.
    children: Span,
    /// Same name as the sibling before it (siblings are sorted by name, so a repeated
    /// element's occurrences are adjacent): lets the comparator find repetitions
    /// without comparing names again.
    repeat: bool,
    /// The first 8 bytes of the local name, big-endian, zero-padded: compares like the
    /// name itself on those bytes, so most name comparisons are one integer compare.
    key: u64,
}

/// See `Node::key`.
fn name_key(local: &str) -> u64 {
    let mut k = [0u8; 8];
    for (d, s) in k.iter_mut().zip(local.bytes()) {
        *d = s;
    }
    u64::from_be_bytes(k)
}

#[derive(Debug, Clone)]
struct AttrNode {
    local: Span,
    ns: u32,
    value: Span,
}

/// A SOAP Fault found in the Body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultInfo {
    /// The code for humans: the SOAP 1.1 `faultcode`, or for SOAP 1.2 the most specific
    /// Subcode value (else the Code value), as in `wire::fault::Fault`; a SOAP-envelope
    /// namespace is dropped (`SOAP-ENV:Server` → `Server`), another one is kept as
    /// `{uri}local`.
    pub code: String,
    /// `code` through `crate::error::normalize_fault_code`: what two faults are compared
    /// on, so `Server.ServerProxy.AccessDenied` = `server.serverproxy.access_denied`.
    pub key: String,
}

/// A SOAP answer as a canonical tree.
#[derive(Debug, Clone)]
pub struct Canon {
    arena: String,
    /// Distinct namespace URIs, as arena spans; a name's `ns` indexes this.
    namespaces: Vec<Span>,
    nodes: Vec<Node>,
    attrs: Vec<AttrNode>,
    /// Child lists, each contiguous and sorted by name.
    children: Vec<u32>,
    root: u32,
    soap: SoapVersion,
    fault: Option<FaultInfo>,
    count: usize,
}

/// An element of a [`Canon`] (a cheap, copyable view).
#[derive(Clone, Copy)]
pub struct Element<'c> {
    canon: &'c Canon,
    node: &'c Node,
}

/// An attribute of an [`Element`].
#[derive(Clone, Copy)]
pub struct Attribute<'c> {
    canon: &'c Canon,
    node: &'c AttrNode,
}

/// The attributes of an [`Element`], sorted by name.
#[derive(Clone, Copy)]
pub struct Attrs<'c> {
    canon: &'c Canon,
    nodes: &'c [AttrNode],
}

/// The children of an [`Element`], sorted by name (stably).
#[derive(Clone, Copy)]
pub struct Children<'c> {
    canon: &'c Canon,
    ids: &'c [u32],
}

/// Orders names by local name, then namespace (`None` first): the order of children
/// and attributes in a [`Canon`].
fn cmp_name(la: &str, na: Option<&str>, lb: &str, nb: Option<&str>) -> Ordering {
    la.cmp(lb).then_with(|| na.cmp(&nb))
}

impl Canon {
    /// Canonicalizes an HTTP answer: plain SOAP (`text/xml`, `application/soap+xml`, or
    /// no Content-Type) or `multipart/related`, whose root part is located by
    /// `wire::message::Message::parse`. Only the SOAP part is compared; attachments are
    /// not. The charset comes from the Content-Type, else the XML declaration, else UTF-8.
    pub fn from_input(input: Input<'_>, limits: &Limits) -> Result<Canon, CanonError> {
        let bytes = input.bytes;
        if bytes.len() > limits.max_bytes {
            return Err(CanonError::TooLarge {
                size: bytes.len(),
                limit: limits.max_bytes,
            });
        }
        let Some(ct_raw) = input.content_type else {
            return Canon::parse(bytes, None, limits);
        };
        let ct =
            ContentType::parse(ct_raw).map_err(|_| CanonError::ContentType(ct_raw.to_string()))?;
        match ct.media_type.as_str() {
            "text/xml" | "application/soap+xml" | "application/xml" | "application/xop+xml" => {
                let cs = match ct.charset() {
                    None => None,
                    Some(l) => Some(
                        Charset::from_label(l)
                            .ok_or_else(|| CanonError::UnsupportedCharset(l.to_string()))?,
                    ),
                };
                Canon::parse(bytes, cs, limits)
            }
            "multipart/related" => {
                // Both sides compared are answers: read them as the client gets them.
                let msg = Message::parse_answer(input, limits.max_bytes, Default::default())?;
                let soap = bytes.get(msg.soap_range.clone()).unwrap_or(&[]);
                Canon::parse(soap, Some(msg.env.charset), limits)
            }
            _ => Err(CanonError::ContentType(ct_raw.to_string())),
        }
    }

    /// Canonicalizes a SOAP envelope (a UTF-8 BOM is allowed). `charset` comes from the
    /// HTTP Content-Type; when `None`, the XML declaration's `encoding` is used, else UTF-8.
    pub fn parse(
        src: &[u8],
        charset: Option<Charset>,
        limits: &Limits,
    ) -> Result<Canon, CanonError> {
        let max_bytes = limits.max_bytes.min(MAX_ARENA_BYTES);
        if src.len() > max_bytes {
            return Err(CanonError::TooLarge {
                size: src.len(),
                limit: max_bytes,
            });
        }
        let body = src.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(src);
        if body.iter().all(|b| is_ws(*b)) {
            return Err(CanonError::Empty);
        }
        // Sized from typical SOAP (about 25 bytes of markup per element), so a normal
        // answer never regrows these.
        let elements = body.len() / 24 + 8;
        Parser {
            reader: Reader::from_reader(body),
            scope: Scope {
                bindings: Vec::with_capacity(8),
                prefixes: Vec::with_capacity(64),
            },
            b: Builder {
                doc: std::str::from_utf8(body).ok(),
                charset,
                limits: *limits,
                max_arena: body.len().saturating_mul(4).saturating_add(64 * 1024),
                count: 0,
                // Names and values are never longer than the markup they come from.
                arena: String::with_capacity(body.len()),
                namespaces: Vec::with_capacity(8),
                nodes: Vec::with_capacity(elements),
                attrs: Vec::with_capacity(elements / 4),
                children: Vec::with_capacity(elements),
            },
            open: Vec::with_capacity(16),
            pending: Vec::with_capacity(64),
            root: None,
        }
        .run()
    }

    /// The Envelope element.
    pub fn envelope(&self) -> Element<'_> {
        self.element(self.root)
    }

    pub fn soap_version(&self) -> SoapVersion {
        self.soap
    }

    pub fn header(&self) -> Option<Element<'_>> {
        self.envelope()
            .child(Some(self.soap.envelope_ns()), "Header")
    }

    /// The Body (present in every `Canon`: a message without one is refused).
    pub fn body(&self) -> Option<Element<'_>> {
        self.envelope().child(Some(self.soap.envelope_ns()), "Body")
    }

    /// The SOAP Fault in the Body, if the answer is one.
    pub fn fault(&self) -> Option<&FaultInfo> {
        self.fault.as_ref()
    }

    /// Elements, attributes and text segments read.
    pub fn node_count(&self) -> usize {
        self.count
    }

    /// Namespace ids of this answer mapped to those of `other` (by URI), for comparing
    /// names across two answers without comparing URI strings each time. Ids with no
    /// counterpart map to a value no id of `other` has.
    pub(crate) fn namespace_map(&self, other: &Canon) -> Vec<u32> {
        self.namespaces
            .iter()
            .map(|s| {
                let uri = self.str(*s);
                other
                    .namespaces
                    .iter()
                    .position(|o| other.str(*o) == uri)
                    .map_or(UNMAPPED_NS, |i| i as u32)
            })
            .collect()
    }

    fn str(&self, s: Span) -> &str {
        self.arena.get(s.range()).unwrap_or("")
    }

    fn ns(&self, id: u32) -> Option<&str> {
        self.namespaces.get(id as usize).map(|s| self.str(*s))
    }

    fn element(&self, id: u32) -> Element<'_> {
        // Ids come from the parser itself; a missing one would be a bug, and even then
        // the answer is an empty placeholder element rather than a panic.
        static EMPTY: Node = Node {
            local: Span { start: 0, end: 0 },
            ns: NO_NS,
            text: Span { start: 0, end: 0 },
            attrs: Span { start: 0, end: 0 },
            children: Span { start: 0, end: 0 },
            repeat: false,
            key: 0,
        };
        Element {
            canon: self,
            node: self.nodes.get(id as usize).unwrap_or(&EMPTY),
        }
    }
}

impl<'c> Element<'c> {
    pub fn local(&self) -> &'c str {
        self.canon.str(self.node.local)
    }

    pub fn namespace(&self) -> Option<&'c str> {
        self.canon.ns(self.node.ns)
    }

    /// `{uri}local`, or `local` in no namespace.
    pub fn name(&self) -> String {
        let mut s = String::new();
        self.write_name(&mut s);
        s
    }

    /// Appends `{uri}local` (or `local`) to `out`.
    pub fn write_name(&self, out: &mut String) {
        if let Some(ns) = self.namespace() {
            out.push('{');
            out.push_str(ns);
            out.push('}');
        }
        out.push_str(self.local());
    }

    /// The namespace's id within this answer (comparable only within one `Canon`).
    pub(crate) fn ns_id(&self) -> u32 {
        self.node.ns
    }

    /// True when both have the same local name and namespace.
    pub fn same_name(&self, other: &Element<'_>) -> bool {
        self.same_local(other)
            && if std::ptr::eq(self.canon, other.canon) {
                self.node.ns == other.node.ns // interned: ids are enough
            } else {
                self.namespace() == other.namespace()
            }
    }

    /// The canonical order of names (local name, then namespace).
    pub fn cmp_name(&self, other: &Element<'_>) -> Ordering {
        if self.node.key != other.node.key {
            return self.node.key.cmp(&other.node.key);
        }
        cmp_name(
            self.local(),
            self.namespace(),
            other.local(),
            other.namespace(),
        )
    }

    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.local() == local && self.namespace() == Some(ns)
    }

    /// Direct text, per the module's whitespace rule.
    pub fn text(&self) -> &'c str {
        self.canon.str(self.node.text)
    }

    /// Attributes, sorted by name.
    pub fn attrs(&self) -> Attrs<'c> {
        Attrs {
            canon: self.canon,
            nodes: self.canon.attrs.get(self.node.attrs.range()).unwrap_or(&[]),
        }
    }

    pub fn attr(&self, ns: Option<&str>, local: &str) -> Option<&'c str> {
        self.attrs()
            .iter()
            .find(|a| a.local() == local && a.namespace() == ns)
            .map(|a| a.value())
    }

    /// Children, sorted by name (stably).
    pub fn children(&self) -> Children<'c> {
        Children {
            canon: self.canon,
            ids: self
                .canon
                .children
                .get(self.node.children.range())
                .unwrap_or(&[]),
        }
    }

    /// First child with this namespace and local name.
    pub fn child(&self, ns: Option<&str>, local: &str) -> Option<Element<'c>> {
        self.children()
            .iter()
            .find(|c| c.local() == local && c.namespace() == ns)
    }

    /// Local-name equality; names of up to 8 bytes are equal exactly when their keys
    /// and lengths are.
    pub(crate) fn same_local(&self, other: &Element<'_>) -> bool {
        let (a, b) = (self.node.local, other.node.local);
        let len = a.end.wrapping_sub(a.start);
        self.node.key == other.node.key
            && len == b.end.wrapping_sub(b.start)
            && (len <= 8 || self.local() == other.local())
    }

    /// See `Node::key`: local names with different keys differ, in this order.
    pub(crate) fn name_key(&self) -> u64 {
        self.node.key
    }

    /// Same name as the previous sibling.
    pub(crate) fn repeats_previous(&self) -> bool {
        self.node.repeat
    }

    /// No attributes and no children: a plain value.
    pub fn is_leaf(&self) -> bool {
        self.node.attrs.is_empty() && self.node.children.is_empty()
    }
}

impl std::fmt::Debug for Element<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Element({})", self.name())
    }
}

impl<'c> Attribute<'c> {
    pub fn local(&self) -> &'c str {
        self.canon.str(self.node.local)
    }

    pub fn namespace(&self) -> Option<&'c str> {
        self.canon.ns(self.node.ns)
    }

    pub fn value(&self) -> &'c str {
        self.canon.str(self.node.value)
    }

    /// Appends `{uri}local` (or `local`) to `out`.
    pub fn write_name(&self, out: &mut String) {
        if let Some(ns) = self.namespace() {
            out.push('{');
            out.push_str(ns);
            out.push('}');
        }
        out.push_str(self.local());
    }

    /// The canonical order of names (local name, then namespace).
    pub fn cmp_name(&self, other: &Attribute<'_>) -> Ordering {
        cmp_name(
            self.local(),
            self.namespace(),
            other.local(),
            other.namespace(),
        )
    }
}

impl<'c> Attrs<'c> {
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<Attribute<'c>> {
        let canon = self.canon;
        self.nodes.get(i).map(|node| Attribute { canon, node })
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = Attribute<'c>> + 'c {
        let canon = self.canon;
        self.nodes.iter().map(move |node| Attribute { canon, node })
    }
}

impl<'c> Children<'c> {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<Element<'c>> {
        self.ids.get(i).map(|id| self.canon.element(*id))
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = Element<'c>> + 'c {
        let canon = self.canon;
        self.ids.iter().map(move |id| canon.element(*id))
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn xml_err(e: impl std::fmt::Display) -> CanonError {
    CanonError::Xml(e.to_string())
}

/// How a piece of character data is turned into a value.
#[derive(Clone, Copy)]
enum Kind {
    /// Text between tags: line ends normalized, references expanded.
    Text,
    /// CDATA: line ends normalized, nothing expanded.
    CData,
    /// Attribute value: CR, LF, tab → space, then references expanded.
    Attr,
}

/// The tree under construction (moved into the `Canon` at the end). Kept apart from the
/// reader and the namespace scope so both can be consulted while the tree is written.
struct Builder<'a> {
    /// The whole document as text when it is valid UTF-8 (checked once, up front):
    /// names and values are then sliced out of it instead of being validated one by one.
    doc: Option<&'a str>,
    charset: Option<Charset>,
    limits: Limits,
    /// Resolved QName values may repeat a long URI; beyond this much text the answer is
    /// amplifying itself and is refused.
    max_arena: usize,
    count: usize,
    arena: String,
    namespaces: Vec<Span>,
    nodes: Vec<Node>,
    attrs: Vec<AttrNode>,
    children: Vec<u32>,
}

impl<'a> Builder<'a> {
    fn charset(&self) -> Charset {
        self.charset.unwrap_or_default()
    }

    fn tally(&mut self, n: usize) -> Result<(), CanonError> {
        self.count += n;
        if self.count > self.limits.max_nodes {
            return Err(CanonError::TooManyNodes(self.limits.max_nodes));
        }
        Ok(())
    }

    fn decode<'b>(&self, raw: &'b [u8]) -> Result<Cow<'b, str>, CanonError>
    where
        'a: 'b,
    {
        match self.charset() {
            Charset::Utf8 => match self.in_doc(raw) {
                Some(s) => Ok(Cow::Borrowed(s)),
                None => std::str::from_utf8(raw)
                    .map(Cow::Borrowed)
                    .map_err(|_| CanonError::Encoding("UTF-8")),
            },
            Charset::Latin1 => Ok(Cow::Owned(raw.iter().map(|&b| b as char).collect())),
        }
    }

    /// `raw` as text, when it is a slice of the validated document (the reader borrows
    /// every name and value from its input). Found by address: no `unsafe`, and `get`
    /// refuses a range that is not on character boundaries.
    fn in_doc(&self, raw: &[u8]) -> Option<&'a str> {
        let doc = self.doc?;
        let start = (raw.as_ptr() as usize).checked_sub(doc.as_ptr() as usize)?;
        doc.get(start..start.checked_add(raw.len())?)
    }

    fn str(&self, s: Span) -> &str {
        self.arena.get(s.range()).unwrap_or("")
    }

    fn ns_str(&self, id: u32) -> Option<&str> {
        self.namespaces.get(id as usize).map(|s| self.str(*s))
    }

    /// Offset of the arena's end.
    fn here(&self) -> Result<u32, CanonError> {
        if self.arena.len() > self.max_arena {
            return Err(CanonError::TooLarge {
                size: self.arena.len(),
                limit: self.max_arena,
            });
        }
        u32::try_from(self.arena.len()).map_err(|_| CanonError::TooLarge {
            size: self.arena.len(),
            limit: u32::MAX as usize,
        })
    }

    /// Appends `s` to the arena.
    fn put(&mut self, s: &str) -> Result<Span, CanonError> {
        let start = self.here()?;
        self.arena.push_str(s);
        Ok(Span {
            start,
            end: self.here()?,
        })
    }

    /// Decodes a name and appends it.
    fn put_name(&mut self, raw: &[u8]) -> Result<Span, CanonError> {
        let name = self.decode(raw)?;
        self.put(&name)
    }

    /// Decodes character data into its value. Line-end (and attribute whitespace)
    /// normalization happens on the raw text, before references are expanded, as an
    /// XML parser does: `&#13;` survives.
    fn value<'r>(&self, raw: &'r [u8], kind: Kind) -> Result<Cow<'r, str>, CanonError>
    where
        'a: 'r,
    {
        let s = self.decode(raw)?;
        // One scan of the raw bytes decides whether anything needs rewriting (most
        // values are plain).
        let special = match kind {
            Kind::Text => memchr::memchr2(b'\r', b'&', raw).is_some(),
            Kind::CData => memchr::memchr(b'\r', raw).is_some(),
            Kind::Attr => {
                memchr::memchr3(b'\r', b'\n', b'\t', raw).is_some()
                    || memchr::memchr(b'&', raw).is_some()
            }
        };
        if !special {
            return Ok(s);
        }
        let s: Cow<str> = match kind {
            Kind::Text | Kind::CData if s.contains('\r') => {
                Cow::Owned(s.replace("\r\n", "\n").replace('\r', "\n"))
            }
            Kind::Attr if s.contains(['\r', '\n', '\t']) => {
                Cow::Owned(s.replace("\r\n", " ").replace(['\r', '\n', '\t'], " "))
            }
            _ => s,
        };
        if matches!(kind, Kind::CData) || !s.contains('&') {
            return Ok(s);
        }
        match quick_xml::escape::unescape(&s) {
            Ok(Cow::Borrowed(_)) => Ok(s),
            Ok(Cow::Owned(v)) => Ok(Cow::Owned(v)),
            Err(e) => Err(CanonError::Xml(format!(
                "bad character reference or undeclared entity: {e}"
            ))),
        }
    }

    /// Decodes character data and appends its value.
    fn put_value(&mut self, raw: &[u8], kind: Kind) -> Result<Span, CanonError> {
        let v = self.value(raw, kind)?;
        self.put(&v)
    }

    /// The id of a namespace URI, stored once.
    fn intern_ns(&mut self, uri: &str) -> Result<u32, CanonError> {
        // Answers use a handful of namespaces; the last one is the likeliest.
        if let Some(i) = self
            .namespaces
            .iter()
            .rposition(|s| self.arena.get(s.range()) == Some(uri))
        {
            return Ok(i as u32);
        }
        let span = self.put(uri)?;
        self.namespaces.push(span);
        Ok(self.namespaces.len() as u32 - 1)
    }

    fn cmp_nodes(&self, a: u32, b: u32) -> Ordering {
        match (self.nodes.get(a as usize), self.nodes.get(b as usize)) {
            (Some(x), Some(y)) if x.key != y.key => x.key.cmp(&y.key),
            (Some(x), Some(y)) => cmp_name(
                self.str(x.local),
                self.ns_str(x.ns),
                self.str(y.local),
                self.ns_str(y.ns),
            ),
            _ => Ordering::Equal,
        }
    }

    fn node_is(&self, id: u32, ns: &str, local: &str) -> bool {
        self.nodes
            .get(id as usize)
            .is_some_and(|n| self.str(n.local) == local && self.ns_str(n.ns) == Some(ns))
    }
}

/// `prefix:local` → (prefix, local). Names are short: a plain loop beats a `memchr`
/// call here.
fn split_qname(qname: &[u8]) -> (Option<&[u8]>, &[u8]) {
    match qname.iter().position(|b| *b == b':') {
        Some(i) => (qname.get(..i), qname.get(i + 1..).unwrap_or(&[])),
        None => (None, qname),
    }
}

/// Whether an attribute's value is a QName to resolve (rpc/encoded answers).
fn qname_attr(ns: Option<&str>, local: &str) -> bool {
    (ns == Some(NS_XSI) && local == "type") || (ns == Some(NS_SOAP_ENC) && local == "arrayType")
}

const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";
const NS_XMLNS: &str = "http://www.w3.org/2000/xmlns/";

/// A namespace declaration in scope.
struct Binding {
    /// The prefix, in `Scope::prefixes`; empty for the default namespace.
    prefix: std::ops::Range<usize>,
    /// Namespace id, or `NO_NS` for `xmlns=""` (no default namespace).
    ns: u32,
    /// Depth of the element that declared it.
    depth: usize,
}

/// Namespace scope, kept by the parser itself rather than by `quick_xml::NsReader`: the
/// attributes are scanned once for declarations and values together, and names resolve
/// straight to interned namespace ids.
#[derive(Default)]
struct Scope {
    bindings: Vec<Binding>,
    prefixes: Vec<u8>,
}

impl Scope {
    /// The namespace bound to `prefix` (`b""`: the default namespace), innermost first.
    fn lookup(&self, prefix: &[u8]) -> Option<u32> {
        self.bindings
            .iter()
            .rev()
            .find(|b| self.prefixes.get(b.prefix.clone()) == Some(prefix))
            .map(|b| b.ns)
    }

    fn bind(&mut self, prefix: &[u8], ns: u32, depth: usize) {
        let start = self.prefixes.len();
        self.prefixes.extend_from_slice(prefix);
        self.bindings.push(Binding {
            prefix: start..self.prefixes.len(),
            ns,
            depth,
        });
    }

    /// Ends the declarations of the element at `depth`.
    fn pop(&mut self, depth: usize) {
        while let Some(b) = self.bindings.last() {
            if b.depth < depth {
                break;
            }
            self.prefixes.truncate(b.prefix.start);
            self.bindings.pop();
        }
    }
}

struct Parser<'a> {
    reader: Reader<&'a [u8]>,
    b: Builder<'a>,
    scope: Scope,
    /// Open elements, innermost last, each with where its children start in `pending`.
    open: Vec<(u32, usize)>,
    /// Children of the open elements so far, in document order, as a stack: an
    /// element's children are everything above its start mark (its descendants have
    /// been moved out when they closed).
    pending: Vec<u32>,
    root: Option<u32>,
}

impl Parser<'_> {
    /// The namespace id of a prefix; `None` when it is not declared.
    fn prefix_ns(&mut self, prefix: Option<&[u8]>) -> Result<Option<u32>, CanonError> {
        Ok(match prefix {
            None => Some(self.scope.lookup(b"").unwrap_or(NO_NS)),
            Some(b"xml") => Some(self.b.intern_ns(NS_XML)?),
            Some(p) => self.scope.lookup(p),
        })
    }

    /// Namespace id of an element or attribute name (unprefixed attributes are in no
    /// namespace); an undeclared prefix is an error.
    fn resolve(&mut self, qname: &[u8], attribute: bool) -> Result<u32, CanonError> {
        let prefix = split_qname(qname).0;
        if attribute && prefix.is_none() {
            return Ok(NO_NS);
        }
        self.prefix_ns(prefix)?.ok_or_else(|| {
            CanonError::Xml(format!(
                "prefix of `{}` is not declared",
                String::from_utf8_lossy(qname)
            ))
        })
    }

    /// Reads the `xmlns` declarations of a start tag into the scope.
    fn declare(&mut self, e: &BytesStart, depth: usize) -> Result<(), CanonError> {
        for a in e.attributes() {
            let a = a.map_err(xml_err)?;
            let Some(decl) = a.key.as_namespace_binding() else {
                continue;
            };
            let uri = self.b.value(&a.value, Kind::Attr)?.into_owned();
            let bad = |what: &str| {
                CanonError::Xml(format!(
                    "namespace declaration `{}=\"{uri}\"` {what}",
                    String::from_utf8_lossy(a.key.as_ref())
                ))
            };
            if uri == NS_XMLNS || (uri == NS_XML && decl != PrefixDeclaration::Named(b"xml")) {
                return Err(bad("binds a reserved namespace"));
            }
            match decl {
                PrefixDeclaration::Default if uri.is_empty() => {
                    self.scope.bind(b"", NO_NS, depth);
                }
                PrefixDeclaration::Default => {
                    let ns = self.b.intern_ns(&uri)?;
                    self.scope.bind(b"", ns, depth);
                }
                PrefixDeclaration::Named(b"xml") if uri == NS_XML => {}
                PrefixDeclaration::Named(b"xml" | b"xmlns") => {
                    return Err(bad("rebinds a reserved prefix"))
                }
                PrefixDeclaration::Named(_) if uri.is_empty() => {
                    return Err(bad("undeclares a prefix (not allowed in XML 1.0)"))
                }
                PrefixDeclaration::Named(p) => {
                    let ns = self.b.intern_ns(&uri)?;
                    self.scope.bind(p, ns, depth);
                }
            }
        }
        Ok(())
    }

    /// Resolves a QName written in content (`xsd:string`, `pop:Person[2]`) with the
    /// namespaces in scope and writes it as `{uri}local` (plus any `[…]` dimensions).
    /// `None`, nothing written, when it does not resolve to a namespace: the value is
    /// then data, compared as written.
    fn put_qname_value(&mut self, value: &str) -> Result<Option<Span>, CanonError> {
        let v = value.trim_matches(is_xml_ws);
        let (qname, dims) = v.split_at(v.find('[').unwrap_or(v.len()));
        if qname.is_empty() || qname.contains(is_xml_ws) {
            return Ok(None);
        }
        let (local, prefix) = QName(qname.as_bytes()).decompose();
        let ns = match self.prefix_ns(prefix.as_ref().map(|p| p.as_ref()))? {
            Some(ns) if ns != NO_NS => ns,
            _ => return Ok(None),
        };
        let uri = self.b.ns_str(ns).unwrap_or("").to_string();
        let local = self.b.decode(local.as_ref())?.into_owned();
        self.b.put(&format!("{{{uri}}}{local}{dims}")).map(Some)
    }

    /// Reads the attributes of a start tag into `b.attrs`, sorted; returns their range.
    fn read_attrs(&mut self, e: &BytesStart) -> Result<Span, CanonError> {
        let first = self.b.attrs.len();
        for a in e.attributes() {
            let a = a.map_err(xml_err)?;
            if a.key.as_namespace_binding().is_some() {
                continue; // declarations are resolved into names, never compared
            }
            let ns = self.resolve(a.key.as_ref(), true)?;
            let local = self.b.put_name(split_qname(a.key.as_ref()).1)?;
            let mut value = None;
            if qname_attr(self.b.ns_str(ns), self.b.str(local)) && !a.value.contains(&b'&') {
                let raw = self.b.decode(&a.value)?.into_owned();
                value = self.put_qname_value(&raw)?;
            }
            let value = match value {
                Some(v) => v,
                None => self.b.put_value(&a.value, Kind::Attr)?,
            };
            self.b.attrs.push(AttrNode { local, ns, value });
        }
        let mut list = std::mem::take(&mut self.b.attrs);
        if let Some(mine) = list.get_mut(first..) {
            let b = &self.b;
            mine.sort_by(|x, y| {
                cmp_name(
                    b.str(x.local),
                    b.ns_str(x.ns),
                    b.str(y.local),
                    b.ns_str(y.ns),
                )
            });
        }
        let end = list.len();
        self.b.attrs = list;
        Ok(Span {
            start: first as u32,
            end: end as u32,
        })
    }

    /// Opens an element: records it and returns its id.
    fn open(&mut self, e: &BytesStart) -> Result<u32, CanonError> {
        let depth = self.open.len();
        if depth >= self.b.limits.max_depth {
            return Err(CanonError::TooDeep(self.b.limits.max_depth));
        }
        // Most elements of an answer have no attributes, and most attributes are not
        // declarations: look before iterating.
        let raw_attrs = e.attributes_raw();
        let has_attrs = !raw_attrs.iter().all(|b| is_ws(*b));
        if has_attrs && memchr::memmem::find(raw_attrs, b"xmlns").is_some() {
            self.declare(e, depth)?;
        }
        let ns = self.resolve(e.name().as_ref(), false)?;
        let local = self.b.put_name(split_qname(e.name().as_ref()).1)?;
        let attrs = if has_attrs {
            self.read_attrs(e)?
        } else {
            let at = self.b.attrs.len() as u32;
            Span { start: at, end: at }
        };
        self.b.tally(1 + (attrs.end - attrs.start) as usize)?;
        let id = self.b.nodes.len() as u32;
        self.b.nodes.push(Node {
            local,
            ns,
            text: Span::default(),
            attrs,
            children: Span::default(),
            repeat: false,
            key: name_key(self.b.str(local)),
        });
        if self.open.is_empty() {
            if self.root.is_some() {
                return Err(CanonError::Xml("more than one root element".into()));
            }
            self.root = Some(id);
        } else {
            self.pending.push(id);
        }
        self.open.push((id, self.pending.len()));
        Ok(id)
    }

    /// Closes the innermost open element: sorts its children, trims its text, resolves
    /// a fault code, and ends its namespace declarations.
    fn close(&mut self) -> Result<(), CanonError> {
        let Some((id, mark)) = self.open.pop() else {
            return Err(CanonError::Xml("end tag without a start tag".into()));
        };
        let depth = self.open.len();
        // Children, sorted stably by name, become one contiguous run.
        let mark = mark.min(self.pending.len());
        let start = self.b.children.len() as u32;
        if let Some(list) = self.pending.get_mut(mark..) {
            let b = &self.b;
            list.sort_by(|x, y| b.cmp_nodes(*x, *y));
            for pair in list.windows(2) {
                if let [x, y] = *pair {
                    let same = self.b.cmp_nodes(x, y) == Ordering::Equal;
                    if let Some(n) = self.b.nodes.get_mut(y as usize) {
                        n.repeat = same;
                    }
                }
            }
            self.b.children.extend_from_slice(list);
        }
        self.pending.truncate(mark);
        let children = Span {
            start,
            end: self.b.children.len() as u32,
        };

        // Fault codes are QNames in text (`SOAP-ENV:Server`). Checked on the element's
        // own name first: this runs for every element.
        let my_local = self
            .b
            .nodes
            .get(id as usize)
            .map_or("", |n| self.b.str(n.local));
        let is_code = match (my_local, self.open.last()) {
            ("faultcode", Some(&(p, _))) => self.b.node_is(p, NS_SOAP11, "Fault"),
            ("Value", Some(&(p, _))) => {
                self.b.node_is(id, NS_SOAP12, "Value")
                    && (self.b.node_is(p, NS_SOAP12, "Code")
                        || self.b.node_is(p, NS_SOAP12, "Subcode"))
            }
            _ => false,
        };

        if let Some(node) = self.b.nodes.get_mut(id as usize) {
            node.children = children;
            // Trim the text in place: only the span moves.
            let t = self.b.arena.get(node.text.range()).unwrap_or("");
            let lead = t.len() - t.trim_start_matches(is_xml_ws).len();
            let trail = t.len() - t.trim_end_matches(is_xml_ws).len();
            if lead + trail >= t.len() {
                node.text = Span::default();
            } else {
                node.text.start += lead as u32;
                node.text.end -= trail as u32;
            }
            let text = node.text;
            if is_code {
                let code = self.b.str(text).to_string();
                if code.contains(':') {
                    if let Some(v) = self.put_qname_value(&code)? {
                        if let Some(node) = self.b.nodes.get_mut(id as usize) {
                            node.text = v;
                        }
                    }
                }
            }
        }
        self.scope.pop(depth);
        Ok(())
    }

    /// Adds a text segment to the innermost open element.
    fn text(&mut self, raw: &[u8], kind: Kind) -> Result<(), CanonError> {
        let Some(&(id, _)) = self.open.last() else {
            return Err(CanonError::Xml(
                "text outside the root element (before it, or trailing garbage after it)".into(),
            ));
        };
        self.b.tally(1)?;
        let current = self
            .b
            .nodes
            .get(id as usize)
            .map(|n| n.text)
            .unwrap_or_default();
        let end = self.b.here()?;
        let start = if current.is_empty() {
            end
        } else if current.end == end {
            current.start // the text continues where it stopped: extend in place
        } else {
            // Mixed content: a child was written in between; move the text so far to
            // the end first (rare in SOAP data; bounded by the arena cap).
            let so_far = self.b.str(current).to_string();
            self.b.put(&so_far)?.start
        };
        let added = self.b.put_value(raw, kind)?;
        if let Some(n) = self.b.nodes.get_mut(id as usize) {
            n.text = Span {
                start,
                end: added.end,
            };
        }
        Ok(())
    }

    fn run(mut self) -> Result<Canon, CanonError> {
        loop {
            let ev = self.reader.read_event().map_err(xml_err)?;
            match ev {
                Event::DocType(d) => {
                    // An HTML error page deserves a clearer message than "DTD"; either
                    // way nothing after a DOCTYPE is read.
                    let is_html = d
                        .iter()
                        .skip_while(|b| is_ws(**b))
                        .take(4)
                        .map(u8::to_ascii_lowercase)
                        .eq(*b"html");
                    return Err(if is_html {
                        CanonError::NotSoap("an HTML page (`<!DOCTYPE html>`)".into())
                    } else {
                        CanonError::Dtd
                    });
                }
                Event::Decl(d) => {
                    if self.b.charset.is_none() {
                        if let Some(Ok(enc)) = d.encoding() {
                            let label = String::from_utf8_lossy(&enc).into_owned();
                            self.b.charset = Some(
                                Charset::from_label(&label)
                                    .ok_or(CanonError::UnsupportedCharset(label))?,
                            );
                        }
                    }
                }
                Event::Start(e) => {
                    self.open(&e)?;
                }
                Event::Empty(e) => {
                    self.open(&e)?;
                    self.close()?;
                }
                // quick-xml has checked that the end tag matches the open one.
                Event::End(_) => self.close()?,
                Event::Text(t) => {
                    if !t.iter().all(|b| is_ws(*b)) {
                        self.text(&t, Kind::Text)?;
                    }
                }
                Event::CData(c) => {
                    if !c.iter().all(|b| is_ws(*b)) {
                        self.text(&c, Kind::CData)?;
                    }
                }
                Event::Comment(_) | Event::PI(_) => {}
                Event::Eof => break,
            }
        }
        if let Some(&(open, _)) = self.open.last() {
            let name = self
                .b
                .nodes
                .get(open as usize)
                .map_or("", |n| self.b.str(n.local))
                .to_string();
            return Err(CanonError::Xml(format!(
                "document ends inside `{name}` (truncated)"
            )));
        }
        let root = self
            .root
            .ok_or_else(|| CanonError::Xml("no root element".into()))?;
        let b = self.b;
        finish(Canon {
            arena: b.arena,
            namespaces: b.namespaces,
            nodes: b.nodes,
            attrs: b.attrs,
            children: b.children,
            root,
            // Set by `finish` once the envelope is checked.
            soap: SoapVersion::Soap11,
            fault: None,
            count: b.count,
        })
    }
}

/// Checks the SOAP structure and finds the fault.
fn finish(mut canon: Canon) -> Result<Canon, CanonError> {
    let root = canon.envelope();
    let soap = match root.namespace() {
        Some(ns) if root.local() == "Envelope" => SoapVersion::from_ns(ns.as_bytes()),
        _ => None,
    }
    .ok_or_else(|| {
        CanonError::NotSoap(format!(
            "root element `{}` is not a SOAP 1.1 or 1.2 Envelope",
            root.name()
        ))
    })?;
    let ns = soap.envelope_ns();
    let count = |local: &str| root.children().iter().filter(|c| c.is(ns, local)).count();
    match count("Body") {
        1 => {}
        0 => return Err(CanonError::NotSoap("no SOAP Body".into())),
        _ => return Err(CanonError::NotSoap("more than one SOAP Body".into())),
    }
    if count("Header") > 1 {
        return Err(CanonError::NotSoap("more than one SOAP Header".into()));
    }
    let fault = root
        .child(Some(ns), "Body")
        .and_then(|b| b.child(Some(ns), "Fault"))
        .map(|f| {
            let raw = fault_code(soap, f);
            // The envelope namespace of a generic code is implied by the SOAP version.
            let code = raw
                .strip_prefix('{')
                .and_then(|r| r.strip_prefix(ns))
                .and_then(|r| r.strip_prefix('}'))
                .unwrap_or(raw)
                .to_string();
            FaultInfo {
                key: normalize_fault_code(&code),
                code,
            }
        });
    canon.soap = soap;
    canon.fault = fault;
    Ok(canon)
}

/// The fault code as `wire::fault::Fault::from_elem` reads it.
fn fault_code<'c>(soap: SoapVersion, f: Element<'c>) -> &'c str {
    match soap {
        SoapVersion::Soap11 => f.child(None, "faultcode").map_or("", |e| e.text()),
        SoapVersion::Soap12 => {
            let code = f.child(Some(NS_SOAP12), "Code");
            let mut value = code
                .and_then(|c| c.child(Some(NS_SOAP12), "Value"))
                .map_or("", |v| v.text());
            let mut sub = code.and_then(|c| c.child(Some(NS_SOAP12), "Subcode"));
            while let Some(s) = sub {
                if let Some(v) = s.child(Some(NS_SOAP12), "Value") {
                    value = v.text();
                }
                sub = s.child(Some(NS_SOAP12), "Subcode");
            }
            value
        }
    }
}
