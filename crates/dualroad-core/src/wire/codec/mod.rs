//! Dialect codecs: SOAP header elements ⇄ the canonical [`Header`].
//!
//! `decode` turns the Header children the envelope scanner found into a `Header` and a
//! [`HeaderLayout`] (where each element stood in the source). `encode_header` writes a
//! `Header` as a Header element of any dialect. When it writes the dialect a header came
//! from, elements whose value did not change are copied from the source byte for byte,
//! so decode → encode to the same dialect reproduces the input exactly and an echo keeps
//! the client's own prefixes, spacing and attributes.
//!
//! Each dialect's rules live in its own file behind `DialectCodec`: `v2` (2.0,
//! rpc/encoded), `v3` (3.0, 3.1, 3.1-eu: one codec, three namespaces), `v60`, `v4`,
//! `uxp`; `short` and `structured` hold what the short-name and the
//! structured-identifier dialects share. This file is the plumbing: detection, the
//! decode loop, required-field checks, and the byte-exact encoder that asks the
//! dialect's codec for every field it writes fresh.
//!
//! This is the only module that knows element names of the dialects.

use std::ops::Range;

use crate::wire::charset::Charset;
use crate::wire::dialect::*;
use crate::wire::envelope::{slice, Elem, Envelope};
use crate::wire::error::WireError;
use crate::wire::header::*;
use crate::wire::ids::{ClientId, ServiceId};

/// Whether the message is a request (required fields are enforced) or a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Request,
    Response,
}

/// Which stack a message of the 4.x family comes from: the same namespace is "v4" on a
/// legacy X-Road 6/7 stack and "uxp" on the UXP side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Legacy,
    Uxp,
}

impl Family {
    /// The dialect of a message of this family with no header to detect it from (a
    /// fault): the family's 4.x profile.
    pub fn headerless_dialect(self) -> Dialect {
        match self {
            Family::Legacy => Dialect::V4,
            Family::Uxp => Dialect::Uxp,
        }
    }
}

/// Where each header element of a decoded message stood, for byte-exact re-encoding.
#[derive(Debug, Clone)]
pub struct HeaderLayout {
    pub dialect: Dialect,
    /// `(tag, whitespace before it, element bytes)` in source order.
    pub elements: Vec<(FieldTag, Range<usize>, Range<usize>)>,
    pub open: Range<usize>,
    pub close: Range<usize>,
    pub trailing: Range<usize>,
    /// The header as decoded, to tell which fields a translation changed.
    pub original: Header,
    /// Namespace declarations in scope for the header's children.
    pub scope: Vec<(String, String)>,
}

/// One dialect's rules: which elements of its header namespace it models and how it
/// names them, what a request must carry, which namespaces a Header written fresh
/// declares, and how each field is written. One implementation per dialect (`v2`,
/// `v3` for the three 3.x namespaces, `v60`, `v4`, `uxp`); the plumbing around them
/// (detection, the decode loop, byte-exact re-encoding) is this module's.
pub(crate) trait DialectCodec: Sync {
    fn dialect(&self) -> Dialect;

    /// Element names in the header namespace this codec models, besides its
    /// legacy-only fields ([`DialectCodec::legacy_name`]).
    fn fields(&self) -> &'static [&'static str];

    /// The element name of a legacy-only field (`None`: the dialect has no such field).
    fn legacy_name(&self, k: LegacyKey) -> Option<&'static str>;

    /// The element name of `tag` in this dialect (as named in `MissingHeaderField`).
    fn name_of(&self, tag: FieldTag) -> &'static str;

    /// Fields a request must carry, in the order they are checked.
    fn required(&self) -> &'static [FieldTag];

    /// Checks of a request's values beyond their presence.
    fn check_values(&self, _h: &Header) -> Result<(), WireError> {
        Ok(())
    }

    /// Declarations a Header start tag written fresh carries besides the header prefix.
    fn header_decls(&self) -> &'static [(&'static str, &'static str)];

    /// Decodes a Header child in this dialect's namespace into `h`; `None` when the
    /// name is none of [`DialectCodec::fields`] (legacy-only or unknown).
    fn decode_field(&self, h: &mut Header, c: &Elem) -> Result<Option<FieldTag>, WireError>;

    /// Writes one field freshly (never an extension, which every dialect copies alike).
    /// Returns false when the dialect has no place for it or it is absent.
    fn write_field(
        &self,
        o: &mut Out,
        h: &Header,
        tag: FieldTag,
        indent: &str,
    ) -> Result<bool, EncodeError>;

    /// Completes `out`, a request for this dialect's stack translated from `src` (a
    /// request the other side sent). `out` comes with the mapped identities and what
    /// every dialect carries (`id`, `userId`, `issue`, extensions); the codec adds the
    /// fields only it carries or requires and sets the field order. Returns the fields
    /// of `src` it has no place for, with their values, for the caller to log.
    fn complete_request(&self, src: &Header, out: &mut Header) -> Vec<(String, String)>;

    /// Whether `local`, in this dialect's header namespace, is a field it models.
    fn models(&self, local: &str) -> bool {
        self.fields().contains(&local) || legacy_key(self, local).is_some()
    }
}

/// The codec of `dialect`.
pub(crate) fn of(dialect: Dialect) -> &'static dyn DialectCodec {
    const V30: v3::V3 = v3::V3(Dialect::V30);
    const V31: v3::V3 = v3::V3(Dialect::V31);
    const V31_EU: v3::V3 = v3::V3(Dialect::V31Eu);
    match dialect {
        Dialect::V2 => &v2::V2,
        Dialect::V30 => &V30,
        Dialect::V31 => &V31,
        Dialect::V31Eu => &V31_EU,
        Dialect::V60 => &v60::V60,
        Dialect::V4 => &v4::V4,
        Dialect::Uxp => &uxp::Uxp,
    }
}

/// A name's text: names are lookup keys (mappings, routing), so surrounding whitespace
/// is layout.
fn name(c: &Elem) -> String {
    c.text.trim().to_string()
}

/// A value's text: every value other than a name is data and carried exactly,
/// whitespace included (a `userId` of `w\naa\nww\n` must reach the other stack with
/// its newline).
fn value(c: &Elem) -> String {
    c.text.clone()
}

/// Detects the dialect from the namespaces of the Header's child elements only.
pub fn detect(env: &Envelope, family: Family) -> Result<Dialect, WireError> {
    let Some(h) = &env.header else {
        return Err(WireError::MissingHeader);
    };
    let mut counts = [0usize; 5];
    let table = [NS_V2, NS_V30, NS_V31, NS_V31_EU, NS_XROAD];
    for c in &h.children {
        if let Some(i) = table.iter().position(|ns| c.ns.as_deref() == Some(*ns)) {
            counts[i] += 1;
        }
    }
    let best = counts.iter().copied().max().unwrap_or(0);
    if best == 0 {
        let seen: Vec<String> = h
            .children
            .iter()
            .map(|c| c.ns.as_deref().unwrap_or("no namespace").to_string())
            .collect();
        return Err(WireError::UnknownDialect(if seen.is_empty() {
            "the Header is empty".into()
        } else {
            seen.join(", ")
        }));
    }
    let idx = counts.iter().position(|c| *c == best).unwrap_or(4);
    Ok(match idx {
        0 => Dialect::V2,
        1 => Dialect::V30,
        2 => Dialect::V31,
        3 => Dialect::V31Eu,
        _ => {
            let has_pv = h.children.iter().any(|c| c.is(NS_XROAD, "protocolVersion"));
            match (family, has_pv) {
                (Family::Uxp, _) => Dialect::Uxp,
                (Family::Legacy, true) => Dialect::V4,
                (Family::Legacy, false) if env.soap == SoapVersion::Soap12 => Dialect::V4,
                (Family::Legacy, false) => Dialect::V60,
            }
        }
    })
}

/// The legacy-only field `local` names in `codec`'s dialect.
fn legacy_key<C: DialectCodec + ?Sized>(codec: &C, local: &str) -> Option<LegacyKey> {
    LegacyKey::ALL
        .into_iter()
        .find(|k| codec.legacy_name(*k) == Some(local))
}

/// Whether a dialect's codec models `local` in header namespace `ns`: what an X-Road
/// stack reading that namespace would take as an identity or message field. False for
/// names no dialect models there and for namespaces that are not X-Road's.
fn is_xroad_field(ns: &str, local: &str) -> bool {
    Dialect::ALL
        .into_iter()
        .filter(|d| d.header_ns() == ns)
        .any(|d| of(d).models(local))
}

fn put<T>(slot: &mut Option<T>, v: T, name: &str) -> Result<(), WireError> {
    if slot.is_some() {
        return Err(WireError::DuplicateHeaderField(name.to_string()));
    }
    *slot = Some(v);
    Ok(())
}

fn bad(field: &str, reason: impl Into<String>) -> WireError {
    WireError::BadHeaderField {
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// Decodes the header of a scanned message in `dialect`.
pub fn decode(
    env: &Envelope,
    dialect: Dialect,
    kind: Kind,
) -> Result<(Header, HeaderLayout), WireError> {
    let scope = env.header_scope();
    let mut h = Header::default();
    let mut elements = Vec::new();
    let block = match &env.header {
        Some(b) => b,
        None => {
            if kind == Kind::Request && !env.is_fault() {
                return Err(WireError::MissingHeader);
            }
            let at = env.env_open.end;
            return Ok((
                h.clone(),
                HeaderLayout {
                    dialect,
                    elements,
                    open: at..at,
                    close: at..at,
                    trailing: at..at,
                    original: h,
                    scope,
                },
            ));
        }
    };
    let codec = of(dialect);
    let ns = dialect.header_ns();
    for (i, c) in block.children.iter().enumerate() {
        let tag = if c.ns.as_deref() != Some(ns) {
            // An X-Road field of another X-Road namespace is never passed along as an
            // unknown header: a stack reading that namespace would take it as the
            // identity, past the client binding checked on this one.
            if let Some(other) = c.ns.as_deref().filter(|o| is_xroad_field(o, &c.local)) {
                return Err(WireError::MixedDialects {
                    element: c.local.clone(),
                    namespace: other.to_string(),
                    dialect,
                });
            }
            decode_foreign(&mut h, env, c, &scope)?
        } else {
            match codec.decode_field(&mut h, c)? {
                Some(tag) => tag,
                None => match legacy_key(codec, &c.local) {
                    Some(k) => legacy_field(&mut h, k, c.text.clone(), &c.local)?,
                    None => raw_ext(&mut h, env, c, &scope),
                },
            }
        };
        h.note(tag);
        h.note(tag);
        let gap = block
            .gaps
            .get(i)
            .cloned()
            .unwrap_or(c.span.start..c.span.start);
        elements.push((tag, gap, c.span.clone()));
    }
    check_required(codec, &h, kind, env.is_fault())?;
    let layout = HeaderLayout {
        dialect,
        elements,
        open: block.open.clone(),
        close: block.close.clone(),
        trailing: block.trailing.clone(),
        original: h.clone(),
        scope,
    };
    Ok((h, layout))
}

fn legacy_field(
    h: &mut Header,
    k: LegacyKey,
    v: String,
    name: &str,
) -> Result<FieldTag, WireError> {
    if h.legacy_value(k).is_some() {
        return Err(WireError::DuplicateHeaderField(name.to_string()));
    }
    h.legacy.push((k, v));
    Ok(FieldTag::Legacy(k))
}

/// Header elements outside the dialect's namespace: `representedParty` is modelled,
/// everything else is kept raw.
fn decode_foreign(
    h: &mut Header,
    env: &Envelope,
    c: &Elem,
    scope: &[(String, String)],
) -> Result<FieldTag, WireError> {
    if c.is(NS_REPRESENTATION, "representedParty") {
        let code = c
            .child(NS_REPRESENTATION, "partyCode")
            .map(|e| e.text.clone())
            .ok_or_else(|| bad("representedParty", "missing partyCode"))?;
        let class = c
            .child(NS_REPRESENTATION, "partyClass")
            .map(|e| e.text.clone());
        put(
            &mut h.represented_party,
            RepresentedParty {
                party_class: class,
                party_code: code,
            },
            "representedParty",
        )?;
        return Ok(FieldTag::RepresentedParty);
    }
    Ok(raw_ext(h, env, c, scope))
}

fn raw_ext(h: &mut Header, env: &Envelope, c: &Elem, scope: &[(String, String)]) -> FieldTag {
    h.extensions.push(RawHeader {
        namespace: c.ns.as_deref().map(str::to_string),
        local_name: c.local.clone(),
        xml: slice(env.src, c.span.clone()).to_vec(),
        ns_decls: scope.to_vec(),
    });
    FieldTag::Extension(h.extensions.len() - 1)
}

/// The names every dialect shares; a codec names the rest itself.
fn default_name(tag: FieldTag) -> &'static str {
    match tag {
        FieldTag::Client => "client",
        FieldTag::Producer => "producer",
        FieldTag::Service => "service",
        FieldTag::Id => "id",
        FieldTag::UserId => "userId",
        FieldTag::ProtocolVersion => "protocolVersion",
        FieldTag::Issue => "issue",
        FieldTag::RepresentedParty => "representedParty",
        FieldTag::RequestHash => "requestHash",
        FieldTag::Legacy(k) => k.report_name(),
        FieldTag::Extension(_) => "extension",
    }
}

fn present(h: &Header, tag: FieldTag) -> bool {
    match tag {
        FieldTag::Client => h.client.is_some(),
        FieldTag::Producer => h.producer.is_some(),
        FieldTag::Service => h.service.is_some(),
        FieldTag::Id => h.id.is_some(),
        FieldTag::UserId => h.user_id.is_some(),
        FieldTag::Issue => h.issue.is_some(),
        FieldTag::RepresentedParty => h.represented_party.is_some(),
        FieldTag::ProtocolVersion => h.protocol_version.is_some(),
        FieldTag::RequestHash => h.request_hash.is_some(),
        FieldTag::Legacy(k) => h.legacy_value(k).is_some(),
        FieldTag::Extension(i) => i < h.extensions.len(),
    }
}

/// A request's required fields, in the codec's order, named in its dialect.
fn check_required(
    codec: &dyn DialectCodec,
    h: &Header,
    kind: Kind,
    fault: bool,
) -> Result<(), WireError> {
    if kind != Kind::Request || fault {
        return Ok(());
    }
    if let Some(tag) = codec.required().iter().find(|t| !present(h, **t)) {
        return Err(WireError::MissingHeaderField(codec.name_of(*tag).into()));
    }
    codec.check_values(h)
}

// === encoding ===

/// What the target document looks like, so a new Header fits into it.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    pub dialect: Dialect,
    /// Prefix of the target Envelope (`None`: default namespace).
    pub env_prefix: Option<&'a str>,
    /// Declarations on the target Envelope start tag.
    pub env_decls: &'a [(String, String)],
    pub charset: Charset,
}

/// A header's source, when the header was decoded from a message: lets unchanged
/// elements be copied verbatim.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub layout: &'a HeaderLayout,
    pub src: &'a [u8],
    /// The target is the very document the header came from (its Envelope start tag and
    /// namespace declarations are unchanged), so the Header tags can be reused too.
    pub same_document: bool,
}

fn field_eq(a: &Header, b: &Header, tag: FieldTag) -> bool {
    match tag {
        FieldTag::Client => a.client == b.client,
        FieldTag::Producer => a.producer == b.producer,
        FieldTag::Service => a.service == b.service,
        FieldTag::Id => a.id == b.id,
        FieldTag::UserId => a.user_id == b.user_id,
        FieldTag::Issue => a.issue == b.issue,
        FieldTag::RepresentedParty => a.represented_party == b.represented_party,
        FieldTag::ProtocolVersion => a.protocol_version == b.protocol_version,
        FieldTag::RequestHash => a.request_hash == b.request_hash,
        FieldTag::Legacy(k) => a.legacy_value(k) == b.legacy_value(k),
        FieldTag::Extension(i) => a.extensions.get(i) == b.extensions.get(i),
    }
}

/// Tags in the order to write them: the header's own order, then anything present but
/// not yet ordered, in the canonical 4.0 order.
fn emission_order(h: &Header) -> Vec<FieldTag> {
    let mut order = h.order.clone();
    let mut add = |t: FieldTag, present: bool| {
        if present && !order.contains(&t) {
            order.push(t);
        }
    };
    add(FieldTag::Client, h.client.is_some());
    add(FieldTag::Producer, h.producer.is_some());
    add(FieldTag::Service, h.service.is_some());
    add(FieldTag::Id, h.id.is_some());
    add(FieldTag::UserId, h.user_id.is_some());
    add(FieldTag::Issue, h.issue.is_some());
    add(FieldTag::RepresentedParty, h.represented_party.is_some());
    add(FieldTag::ProtocolVersion, h.protocol_version.is_some());
    add(FieldTag::RequestHash, h.request_hash.is_some());
    for (k, _) in &h.legacy {
        add(FieldTag::Legacy(*k), true);
    }
    for i in 0..h.extensions.len() {
        add(FieldTag::Extension(i), true);
    }
    order
}

/// Encoding problems are dualroad's own bugs or unmapped identifiers that translation
/// should have caught; they are reported, never panicked on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("{dialect} needs a {what} but the header carries {found}")]
    Shape {
        dialect: Dialect,
        what: &'static str,
        found: &'static str,
    },
}

pub(crate) struct Out<'a> {
    buf: Vec<u8>,
    charset: Charset,
    prefix: &'a str,
    /// Declarations a freshly written header element carries on its own start tag when
    /// neither the Envelope nor the Header binds them (a client that declares namespaces
    /// per element, as zeep does, leaves both bare): the header prefix, ...
    own_decls: &'a OwnDecls,
}

/// `xmlns` attributes, each empty when the scope already binds it.
#[derive(Default)]
struct OwnDecls {
    /// ... the dialect's header prefix,
    prefix: String,
    /// ... the identifiers prefix (structured ids),
    ids: String,
    /// ... and `xsi` + `xsd` (the 2.0 `xsi:type="xsd:string"`).
    typed: String,
}

impl Out<'_> {
    /// Formats straight into the buffer (no intermediate `String`).
    fn fmt(&mut self, args: std::fmt::Arguments) {
        use std::io::Write;
        let _ = self.buf.write_fmt(args);
    }
    fn raw(&mut self, s: &str) {
        self.buf.extend_from_slice(s.as_bytes());
    }
    fn text(&mut self, s: &str) {
        let esc = quick_xml::escape::partial_escape(s);
        self.charset.encode(&esc, &mut self.buf);
    }
    fn attr_text(&mut self, s: &str) {
        let esc = quick_xml::escape::escape(s);
        self.charset.encode(&esc, &mut self.buf);
    }
    /// `<p:name` plus the declarations the element needs in its own scope.
    fn open(&mut self, name: &str) {
        let (p, own) = (self.prefix, &self.own_decls.prefix);
        let _ = std::io::Write::write_fmt(&mut self.buf, format_args!("<{p}:{name}{own}"));
    }
    /// `<p:name attrs>text</p:name>`, or `<p:name attrs/>` when empty.
    fn simple(&mut self, name: &str, attrs: &str, value: &str) {
        let p = self.prefix.to_string();
        self.open(name);
        self.raw(attrs);
        if value.is_empty() {
            self.raw("/>");
        } else {
            self.raw(">");
            self.text(value);
            self.fmt(format_args!("</{p}:{name}>"));
        }
    }
}

const ID_PREFIX: &str = "id";
const REPR_PREFIX: &str = "repr";
/// Prefixes the encoder binds itself; a source's header prefix equal to one of them is
/// not reused (it would be bound twice on one element).
const RESERVED_PREFIXES: [&str; 4] = [ID_PREFIX, REPR_PREFIX, "xsi", "xsd"];

/// Whether `prefix` is bound to `uri` in `scope` (declarations in document order, the
/// innermost last, so the last binding of a prefix is the one in force).
fn bound(scope: &[(String, String)], prefix: &str, uri: &str) -> bool {
    scope
        .iter()
        .rev()
        .find(|(p, _)| p == prefix)
        .is_some_and(|(_, u)| u == uri)
}

/// Writes one field freshly in `codec`'s dialect. Returns false when the dialect has no
/// place for it (the field is then dropped here and reported by translation).
fn write_field(
    codec: &dyn DialectCodec,
    o: &mut Out,
    h: &Header,
    tag: FieldTag,
    indent: &str,
    in_scope: &[(String, String)],
) -> Result<bool, EncodeError> {
    if let FieldTag::Extension(i) = tag {
        // Unmodelled elements pass through any dialect as they came.
        let Some(ext) = h.extensions.get(i) else {
            return Ok(false);
        };
        o.buf
            .extend_from_slice(&with_decls(&ext.xml, &ext.ns_decls, in_scope));
        return Ok(true);
    }
    codec.write_field(o, h, tag, indent)
}

/// `representedParty` of `src`, reported as dropped by a dialect that cannot carry it.
fn drop_represented_party(src: &Header) -> Vec<(String, String)> {
    src.represented_party
        .iter()
        .map(|rp| ("representedParty".to_string(), rp.party_code.clone()))
        .collect()
}

/// Writes a legacy-only field under the name `codec` gives it, `typed` like the
/// dialect's other values; false when the dialect has no such field or it is absent.
fn write_legacy(
    codec: &dyn DialectCodec,
    o: &mut Out,
    h: &Header,
    k: LegacyKey,
    typed: &str,
) -> bool {
    let (Some(v), Some(name)) = (h.legacy_value(k), codec.legacy_name(k)) else {
        return false;
    };
    let p = o.prefix.to_string();
    o.open(name);
    o.raw(typed);
    if v.is_empty() {
        o.raw("/>");
    } else {
        // Legacy values are restored exactly, surrounding whitespace included.
        o.raw(">");
        o.text(v);
        o.fmt(format_args!("</{p}:{name}>"));
    }
    true
}

/// Copies a raw element into another document, declaring on its start tag the
/// namespaces it uses from its old scope (unless `target_scope` binds them identically).
pub fn with_decls(
    xml: &[u8],
    scope: &[(String, String)],
    target_scope: &[(String, String)],
) -> Vec<u8> {
    let tag_end = xml.iter().position(|b| *b == b'>').unwrap_or(xml.len());
    let mut name_end = 1;
    while name_end < tag_end {
        match xml.get(name_end) {
            Some(b) if !matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'/' | b'>') => name_end += 1,
            _ => break,
        }
    }
    let own_tag = slice(xml, 0..tag_end);
    let mut decls = String::new();
    for (p, uri) in scope {
        if bound(target_scope, p, uri) {
            continue;
        }
        let used = if p.is_empty() {
            // Unprefixed element names rely on the default namespace.
            !slice(xml, 1..name_end).contains(&b':')
        } else {
            let needle = format!("{p}:");
            xml.windows(needle.len()).any(|w| w == needle.as_bytes())
        };
        let attr = if p.is_empty() {
            "xmlns".to_string()
        } else {
            format!("xmlns:{p}")
        };
        let already = own_tag
            .windows(attr.len() + 1)
            .any(|w| w == format!("{attr}=").as_bytes());
        if used && !already {
            decls.push_str(&format!(
                " {attr}=\"{}\"",
                quick_xml::escape::escape(uri.as_str())
            ));
        }
    }
    let mut out = Vec::with_capacity(xml.len() + decls.len());
    out.extend_from_slice(slice(xml, 0..name_end));
    out.extend_from_slice(decls.as_bytes());
    out.extend_from_slice(slice(xml, name_end..xml.len()));
    out
}

/// Writes `h` as a complete SOAP Header element for `target`.
pub fn encode_header(
    h: &Header,
    target: &Target,
    source: Option<Source>,
) -> Result<Vec<u8>, EncodeError> {
    let dialect = target.dialect;
    let codec = of(dialect);
    let reuse = source.filter(|s| s.layout.dialect == dialect);
    let env_p = target
        .env_prefix
        .map(|p| format!("{p}:"))
        .unwrap_or_default();
    // The Header start tag is copied when writing back into the very document the
    // header came from; then only what the source had in scope is in scope.
    let reuse_open = reuse
        .filter(|s| s.same_document && !s.layout.open.is_empty() && !s.layout.close.is_empty());
    let prefix = header_prefix(dialect, target, reuse);
    let indent = source_indent(reuse);
    let open_decls = open_decls(codec, &prefix, target, reuse);
    // What the Header's children see: the copied Header tag adds only the source's own
    // declarations; a new one adds `open_decls`.
    let in_scope: Vec<(String, String)> = match reuse_open {
        Some(s) => s.layout.scope.clone(),
        None => {
            let mut v = target.env_decls.to_vec();
            v.extend(open_decls.iter().cloned());
            v
        }
    };
    // What a freshly written element needs and the scope does not bind (the copied
    // Header tag of a client that declares namespaces per element binds nothing).
    let decl = |p: &str, u: &str| -> String {
        if bound(&in_scope, p, u) {
            String::new()
        } else {
            format!(" xmlns:{p}=\"{}\"", quick_xml::escape::escape(u))
        }
    };
    let own_decls = OwnDecls {
        prefix: decl(&prefix, dialect.header_ns()),
        ids: decl(ID_PREFIX, NS_IDENTIFIERS),
        typed: decl("xsi", NS_XSI) + &decl("xsd", NS_XSD),
    };
    let mut o = Out {
        buf: Vec::with_capacity(1024),
        charset: target.charset,
        prefix: &prefix,
        own_decls: &own_decls,
    };

    // Open tag: reused when writing back into the same document.
    match reuse_open {
        Some(s) => o.buf.extend_from_slice(slice(s.src, s.layout.open.clone())),
        None => {
            o.fmt(format_args!("<{env_p}Header"));
            for (p, uri) in &open_decls {
                o.fmt(format_args!(" xmlns:{p}=\""));
                o.attr_text(uri);
                o.raw("\"");
            }
            o.raw(">");
        }
    }
    let wrote_any = write_fields(&mut o, codec, h, reuse, &indent, &in_scope)?;
    close_header(&mut o, reuse, &env_p, &indent, wrote_any);
    Ok(o.buf)
}

/// The Header end tag: copied with the whitespace before it when writing back into the
/// source document, else written after the source's trailing whitespace or our own.
fn close_header(o: &mut Out, reuse: Option<Source>, env_p: &str, indent: &str, wrote_any: bool) {
    match reuse {
        Some(s) if s.same_document && !s.layout.close.is_empty() => {
            o.buf
                .extend_from_slice(slice(s.src, s.layout.trailing.clone()));
            o.buf
                .extend_from_slice(slice(s.src, s.layout.close.clone()));
        }
        Some(s) if !s.layout.trailing.is_empty() => {
            o.buf
                .extend_from_slice(slice(s.src, s.layout.trailing.clone()));
            o.fmt(format_args!("</{env_p}Header>"));
        }
        _ => {
            if wrote_any {
                let outer = indent.get(..indent.len().saturating_sub(2)).unwrap_or("");
                o.fmt(format_args!("\n{outer}"));
            }
            o.fmt(format_args!("</{env_p}Header>"));
        }
    }
}

/// The prefix the source bound to this dialect's namespace on its Envelope or Header,
/// so new elements among copied ones look alike; otherwise our conventional one. Never
/// one of the prefixes written alongside it, nor the Envelope's.
fn header_prefix(dialect: Dialect, target: &Target, reuse: Option<Source>) -> String {
    reuse
        .and_then(|s| {
            s.layout
                .scope
                .iter()
                .find(|(p, u)| {
                    u == dialect.header_ns()
                        && !p.is_empty()
                        && !RESERVED_PREFIXES.contains(&p.as_str())
                        && Some(p.as_str()) != target.env_prefix
                        && bound(&s.layout.scope, p, u)
                })
                .map(|(p, _)| p.clone())
        })
        .unwrap_or_else(|| dialect.header_prefix().to_string())
}

/// Whitespace before the source's first element sets the indentation for new ones.
fn source_indent(reuse: Option<Source>) -> String {
    let indent_default = "    ";
    reuse
        .and_then(|s| s.layout.elements.first().map(|(_, gap, _)| (s, gap)))
        .map(|(s, gap)| {
            let g = slice(s.src, gap.clone());
            let tail = g
                .iter()
                .rposition(|b| *b == b'\n')
                .map(|i| &g[i + 1..])
                .unwrap_or(g);
            String::from_utf8_lossy(tail).into_owned()
        })
        .filter(|s| s.bytes().all(|b| b == b' ' || b == b'\t'))
        .unwrap_or_else(|| indent_default.to_string())
}

/// Declarations of a Header start tag written fresh: the dialect's own, and those the
/// elements copied from another document need, hoisted once (default-namespace ones
/// stay on each element, as would any that clash with a prefix the new header uses
/// itself). None the target Envelope already binds.
fn open_decls(
    codec: &dyn DialectCodec,
    prefix: &str,
    target: &Target,
    reuse: Option<Source>,
) -> Vec<(String, String)> {
    let foreign = reuse.filter(|s| !s.same_document);
    let mut open_decls: Vec<(String, String)> =
        vec![(prefix.to_string(), codec.dialect().header_ns().to_string())];
    for (p, uri) in codec.header_decls() {
        open_decls.push((p.to_string(), uri.to_string()));
    }
    if let Some(s) = foreign {
        for (p, uri) in &s.layout.scope {
            let clashes = p.is_empty()
                || Some(p.as_str()) == target.env_prefix
                || open_decls.iter().any(|(op, ou)| op == p && ou != uri);
            let used = s.layout.elements.iter().any(|(_, _, span)| {
                let needle = format!("{p}:");
                let el = slice(s.src, span.clone());
                el.windows(needle.len()).any(|w| w == needle.as_bytes())
            });
            if used && !clashes && !open_decls.iter().any(|(op, _)| op == p) {
                open_decls.push((p.clone(), uri.clone()));
            }
        }
    }
    open_decls.retain(|(p, u)| !bound(target.env_decls, p, u));
    open_decls
}

/// The Header's children in emission order: each copied from the source when its value
/// did not change, else written fresh by the codec. Returns whether any was written.
fn write_fields(
    o: &mut Out,
    codec: &dyn DialectCodec,
    h: &Header,
    reuse: Option<Source>,
    indent: &str,
    in_scope: &[(String, String)],
) -> Result<bool, EncodeError> {
    let mut wrote_any = false;
    for tag in emission_order(h) {
        let copied = reuse.and_then(|s| {
            let (_, gap, span) = s.layout.elements.iter().find(|(t, _, _)| *t == tag)?;
            if !field_eq(h, &s.layout.original, tag) {
                return None;
            }
            Some((s, gap.clone(), span.clone()))
        });
        match copied {
            Some((s, gap, span)) => {
                o.buf.extend_from_slice(slice(s.src, gap));
                let el = slice(s.src, span);
                if s.same_document {
                    o.buf.extend_from_slice(el);
                } else {
                    // In another envelope the element may rely on declarations of its old
                    // one that could not be hoisted onto the Header.
                    o.buf
                        .extend_from_slice(&with_decls(el, &s.layout.scope, in_scope));
                }
                wrote_any = true;
            }
            None => {
                let mark = o.buf.len();
                o.fmt(format_args!("\n{indent}"));
                if write_field(codec, o, h, tag, indent, in_scope)? {
                    wrote_any = true;
                } else {
                    o.buf.truncate(mark);
                }
            }
        }
    }
    Ok(wrote_any)
}

mod short;
mod structured;
mod uxp;
mod v2;
mod v3;
mod v4;
mod v60;

#[cfg(test)]
mod tests;

/// A request as the other side sent it, with every field a translation might move.
#[cfg(test)]
fn sample_request() -> Header {
    Header {
        user_id: None,
        protocol_version: Some("4.1".into()),
        represented_party: Some(RepresentedParty {
            party_class: Some("COM".into()),
            party_code: "rp-1".into(),
        }),
        request_hash: Some(RequestHash {
            algorithm_id: None,
            value: "h==".into(),
        }),
        extensions: vec![RawHeader {
            namespace: Some("urn:x".into()),
            local_name: "x".into(),
            xml: b"<x:x xmlns:x=\"urn:x\"/>".to_vec(),
            ns_decls: Vec::new(),
        }],
        order: vec![
            FieldTag::Client,
            FieldTag::Extension(0),
            FieldTag::ProtocolVersion,
        ],
        ..Header::default()
    }
}
