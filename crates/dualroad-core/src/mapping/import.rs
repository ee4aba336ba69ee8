//! Import of an X-Road 6 `identifiermapping.xml` into the mappings TOML format.
//!
//! X-Road 6.0–6.12 distributed the v5 short name → X-Road 6 identifier table as the
//! optional global-configuration part `IDENTIFIERMAPPING` (xroad-protocols.md §7.2):
//!
//! ```xml
//! <xrd:mappings xmlns:xrd="http://x-road.ee/xsd/x-road.xsd"
//!               xmlns:id="http://x-road.eu/xsd/identifiers">
//!   <xrd:mapping>
//!     <xrd:oldId>10000042</xrd:oldId>
//!     <xrd:newId id:objectType="SUBSYSTEM">
//!       <id:xRoadInstance>PS</id:xRoadInstance><id:memberClass>GOV</id:memberClass>
//!       <id:memberCode>10000042</id:memberCode><id:subsystemCode>portal</id:subsystemCode>
//!     </xrd:newId>
//!   </xrd:mapping>
//! </xrd:mappings>
//! ```
//!
//! Operators who still have that file should not retype it. Elements are matched by
//! namespace URI and local name, never by prefix (prefixes vary freely, gotcha 20).
//! `mapping`/`oldId`/`newId` are accepted either in the `x-road.ee` namespace or in no
//! namespace, since both element forms of the schema's local elements occur in JAXB
//! output. A DOCTYPE is refused: the file comes from outside and entity expansion is
//! an attack surface with no legitimate use here.
//!
//! What the output maps depends on the legacy stack:
//! - v2 / v3.x: `legacy` = `oldId` (the short name), `uxp` = `newId` moved into the
//!   UXP instance (class, code and subsystem kept);
//! - v6.0 / v4: the legacy stack already speaks `newId`, so `legacy` = `newId` and
//!   `uxp` = `newId` in the UXP instance; `oldId` is kept as a comment.

use std::collections::HashMap;
use std::fmt::Write as _;

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;
use sha2::{Digest, Sha256};

use super::load::{check_instance, check_short_name};
use super::problem::LineIndex;
use crate::wire::dialect::{NS_IDENTIFIERS, NS_V31};
use crate::wire::ids::ClientId;
use crate::wire::Dialect;

/// Why an `identifiermapping.xml` could not be imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The arguments do not describe a possible import.
    #[error("{0}")]
    Usage(String),
    /// The document as a whole: not well-formed, DOCTYPE, wrong root, no mappings.
    #[error("line {line}: {message}")]
    Document { line: usize, message: String },
    /// One `<mapping>`; `index` is 1-based in document order, `line` is where it starts.
    #[error("mapping #{index} (line {line}): {message}")]
    Mapping {
        index: usize,
        line: usize,
        message: String,
    },
}

/// Converts an X-Road 6 `identifiermapping.xml` into mappings TOML (see the module
/// docs for what maps to what). `uxp_instance` moves every identifier into that UXP
/// instance; `None` keeps the instance found in the file. The result loads with
/// [`super::Mappings::from_sources`]; review it before use.
pub fn import_identifier_mapping(
    xml: &str,
    legacy_dialect: Dialect,
    uxp_instance: Option<&str>,
) -> Result<String, ImportError> {
    if legacy_dialect == Dialect::Uxp {
        return Err(ImportError::Usage(
            "the legacy dialect cannot be `uxp`: UXP is the target side".into(),
        ));
    }
    if let Some(i) = uxp_instance {
        check_instance(i).map_err(|m| ImportError::Usage(format!("UXP instance: {m}")))?;
    }
    let entries = parse(xml)?;
    let Some(first) = entries.first() else {
        return Err(ImportError::Document {
            line: 1,
            message: "the file contains no `mapping` element".into(),
        });
    };
    let source_instance = first.new_id.instance.clone();
    let structured = legacy_dialect.has_structured_ids();
    if structured && uxp_instance.map_or(true, |i| i == source_instance) {
        return Err(ImportError::Usage(format!(
            "a {legacy_dialect} legacy stack already uses these identifiers; give the UXP instance \
             (different from `{source_instance}`), otherwise every mapping would map an identifier to itself"
        )));
    }
    let target = uxp_instance.unwrap_or(&source_instance).to_string();

    let mut out = String::new();
    let digest = hex::encode(Sha256::digest(xml.as_bytes()));
    // `write!` into a String cannot fail; the results are ignored on purpose.
    let _ = writeln!(
        out,
        "# Imported by dualroad from an X-Road 6 identifiermapping.xml (global configuration part \
         IDENTIFIERMAPPING), instance `{source_instance}`, {} mappings; source sha256 {digest}.",
        entries.len()
    );
    let _ = writeln!(
        out,
        "[legacy]\ndialect = {}",
        quote(legacy_dialect.as_str())
    );
    if structured {
        let _ = writeln!(out, "instance = {}", quote(&source_instance));
    }
    let _ = writeln!(out, "[uxp]\ninstance = {}", quote(&target));
    for e in &entries {
        let uxp = ClientId {
            instance: target.clone(),
            ..e.new_id.clone()
        };
        out.push_str("\n[[members]]\n");
        if structured {
            // Safe inside a comment: `check_short_name` refused line breaks in oldId.
            let _ = writeln!(out, "# v5 short name: {}", e.old_id);
            let _ = writeln!(out, "legacy = {}", quote(&e.new_id.to_string()));
        } else {
            let _ = writeln!(out, "legacy = {}", quote(&e.old_id));
        }
        let _ = writeln!(out, "uxp = {}", quote(&uxp.to_string()));
    }
    Ok(out)
}

/// A TOML string literal, escaped by toml itself.
fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

struct Entry {
    old_id: String,
    new_id: ClientId,
}

/// Namespace of an element or attribute, owned so the reader can move on.
#[derive(Debug, PartialEq, Eq)]
enum Ns {
    None,
    Uri(String),
}

impl Ns {
    fn is(&self, uri: &str) -> bool {
        matches!(self, Ns::Uri(u) if u == uri)
    }
}

/// A start tag, resolved and owned.
struct Tag {
    ns: Ns,
    local: String,
    line: usize,
    attrs: Vec<Attr>,
}

/// An attribute other than a namespace declaration.
struct Attr {
    ns: Ns,
    local: String,
    value: String,
}

/// Owned, simplified event stream over quick-xml's `NsReader`.
enum Ev {
    Start(Tag),
    End,
    Text(String),
    Eof,
}

struct Pull<'i> {
    reader: NsReader<&'i [u8]>,
    xml: &'i str,
    lines: LineIndex,
}

impl<'i> Pull<'i> {
    fn new(xml: &'i str) -> Self {
        let mut reader = NsReader::from_str(xml);
        let config = reader.config_mut();
        // `<subsystemCode/>` then reads like `<subsystemCode></subsystemCode>`: one path.
        config.expand_empty_elements = true;
        config.check_end_names = true;
        // Keep whitespace events so the position before a start tag is its `<`.
        config.trim_text(false);
        Pull {
            reader,
            xml,
            lines: LineIndex::new(xml),
        }
    }

    fn line_at(&self, offset: u64) -> usize {
        let offset = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.xml.len());
        // Skip whitespace between the previous event and this one.
        let skip = self
            .xml
            .get(offset..)
            .and_then(|rest| rest.find(|c: char| !c.is_whitespace()))
            .unwrap_or(0);
        self.lines.line(offset + skip)
    }

    fn doc_err(&self, offset: u64, message: impl Into<String>) -> ImportError {
        ImportError::Document {
            line: self.line_at(offset),
            message: message.into(),
        }
    }

    fn next(&mut self) -> Result<Ev, ImportError> {
        loop {
            let before = self.reader.buffer_position();
            let (res, event) = match self.reader.read_resolved_event() {
                Ok(x) => x,
                Err(e) => {
                    let at = self.reader.error_position();
                    return Err(self.doc_err(at, format!("not well-formed XML: {e}")));
                }
            };
            let ns = match res {
                ResolveResult::Unbound => Ns::None,
                ResolveResult::Bound(n) => {
                    Ns::Uri(String::from_utf8_lossy(n.as_ref()).into_owned())
                }
                ResolveResult::Unknown(p) => {
                    let p = String::from_utf8_lossy(&p).into_owned();
                    return Err(self.doc_err(before, format!("undeclared namespace prefix `{p}`")));
                }
            };
            match event {
                Event::Start(e) => {
                    let local = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                    let mut attrs = Vec::new();
                    for a in e.attributes() {
                        let a =
                            a.map_err(|err| self.doc_err(before, format!("bad attribute: {err}")))?;
                        let key = a.key;
                        // Namespace declarations are bookkeeping, not data.
                        if key.as_ref() == b"xmlns"
                            || key.prefix().is_some_and(|p| p.as_ref() == b"xmlns")
                        {
                            continue;
                        }
                        let (ans, alocal) = self.reader.resolve_attribute(key);
                        let ans = match ans {
                            ResolveResult::Bound(n) => {
                                Ns::Uri(String::from_utf8_lossy(n.as_ref()).into_owned())
                            }
                            ResolveResult::Unbound => Ns::None,
                            ResolveResult::Unknown(p) => {
                                let p = String::from_utf8_lossy(&p).into_owned();
                                return Err(self.doc_err(
                                    before,
                                    format!("undeclared namespace prefix `{p}`"),
                                ));
                            }
                        };
                        let value = a
                            .unescape_value()
                            .map_err(|err| {
                                self.doc_err(before, format!("bad attribute value: {err}"))
                            })?
                            .into_owned();
                        attrs.push(Attr {
                            ns: ans,
                            local: String::from_utf8_lossy(alocal.as_ref()).into_owned(),
                            value,
                        });
                    }
                    return Ok(Ev::Start(Tag {
                        ns,
                        local,
                        line: self.line_at(before),
                        attrs,
                    }));
                }
                Event::End(_) => return Ok(Ev::End),
                Event::Text(t) => {
                    let t = t
                        .unescape()
                        .map_err(|err| self.doc_err(before, format!("bad text: {err}")))?;
                    return Ok(Ev::Text(t.into_owned()));
                }
                Event::CData(c) => {
                    let t = c
                        .decode()
                        .map_err(|err| self.doc_err(before, format!("bad CDATA: {err}")))?;
                    return Ok(Ev::Text(t.into_owned()));
                }
                Event::DocType(_) => {
                    return Err(
                        self.doc_err(before, "DOCTYPE is not allowed in identifiermapping.xml")
                    );
                }
                Event::Eof => return Ok(Ev::Eof),
                // Declarations, comments, processing instructions; `Empty` cannot occur
                // with `expand_empty_elements`.
                _ => continue,
            }
        }
    }

    /// Skips whitespace; returns the next start tag, or `None` at the parent's end tag.
    fn next_child(&mut self) -> Result<Option<Tag>, ImportError> {
        loop {
            let before = self.reader.buffer_position();
            match self.next()? {
                Ev::Text(t) if t.trim().is_empty() => continue,
                Ev::Text(t) => {
                    return Err(self.doc_err(before, format!("unexpected text `{}`", t.trim())));
                }
                Ev::Start(tag) => return Ok(Some(tag)),
                Ev::End => return Ok(None),
                Ev::Eof => return Err(self.doc_err(before, "unexpected end of document")),
            }
        }
    }

    /// The text content of a leaf element whose start tag was just read, trimmed
    /// (surrounding whitespace is pretty-printing; identifiers never contain it).
    fn text(&mut self, what: &str) -> Result<String, ImportError> {
        let mut text = String::new();
        loop {
            let before = self.reader.buffer_position();
            match self.next()? {
                Ev::Text(t) => text.push_str(&t),
                Ev::End => return Ok(text.trim().to_string()),
                Ev::Start(Tag { local, .. }) => {
                    return Err(self.doc_err(
                        before,
                        format!("`{what}` must contain only text, found element `{local}`"),
                    ));
                }
                Ev::Eof => return Err(self.doc_err(before, "unexpected end of document")),
            }
        }
    }

    /// Skips the rest of an element whose start tag was just read.
    fn skip(&mut self) -> Result<(), ImportError> {
        let mut depth = 1usize;
        while depth > 0 {
            let before = self.reader.buffer_position();
            match self.next()? {
                Ev::Start(_) => depth += 1,
                Ev::End => depth -= 1,
                Ev::Text(_) => {}
                Ev::Eof => return Err(self.doc_err(before, "unexpected end of document")),
            }
        }
        Ok(())
    }
}

fn describe(ns: &Ns, local: &str) -> String {
    match ns {
        Ns::None => format!("`{local}` (no namespace)"),
        Ns::Uri(u) => format!("`{local}` in namespace `{u}`"),
    }
}

/// `mapping`, `oldId`, `newId`: in the `x-road.ee` namespace or unqualified.
fn is_mapping_ns(ns: &Ns) -> bool {
    *ns == Ns::None || ns.is(NS_V31)
}

fn parse(xml: &str) -> Result<Vec<Entry>, ImportError> {
    let mut p = Pull::new(xml);
    // Root.
    let root = loop {
        let before = p.reader.buffer_position();
        match p.next()? {
            Ev::Text(t) if t.trim().is_empty() => continue,
            Ev::Start(tag) => break tag,
            Ev::Text(_) => return Err(p.doc_err(before, "text before the root element")),
            Ev::End | Ev::Eof => return Err(p.doc_err(before, "no root element")),
        }
    };
    if !(root.ns.is(NS_V31) && root.local == "mappings") {
        return Err(ImportError::Document {
            line: root.line,
            message: format!(
                "root element must be `mappings` in namespace `{NS_V31}`, found {}",
                describe(&root.ns, &root.local)
            ),
        });
    }

    let mut entries: Vec<Entry> = Vec::new();
    let mut old_seen: HashMap<String, usize> = HashMap::new();
    let mut new_seen: HashMap<ClientId, usize> = HashMap::new();
    while let Some(Tag {
        ns, local, line, ..
    }) = p.next_child()?
    {
        if !(is_mapping_ns(&ns) && local == "mapping") {
            return Err(ImportError::Document {
                line,
                message: format!("expected `mapping`, found {}", describe(&ns, &local)),
            });
        }
        let index = entries.len() + 1;
        let err = |message: String| ImportError::Mapping {
            index,
            line,
            message,
        };
        // Problems inside a mapping are reported against the mapping, with their own
        // line in the message when it is not the mapping's first line.
        let entry = parse_mapping(&mut p, line).map_err(|e| match e {
            ImportError::Document { line: l, message } if l != line => {
                err(format!("line {l}: {message}"))
            }
            ImportError::Document { message, .. }
            | ImportError::Mapping { message, .. }
            | ImportError::Usage(message) => err(message),
        })?;
        if let Some(first) = entries.first() {
            if first.new_id.instance != entry.new_id.instance {
                return Err(err(format!(
                    "instance `{}` differs from `{}` in mapping #1; the file must describe one instance",
                    entry.new_id.instance, first.new_id.instance
                )));
            }
        }
        if let Some(i) = old_seen.get(&entry.old_id) {
            return Err(err(format!(
                "oldId `{}` is already mapped in mapping #{i}",
                entry.old_id
            )));
        }
        if let Some(i) = new_seen.get(&entry.new_id) {
            return Err(err(format!(
                "newId `{}` is already the target of mapping #{i}; the table must be reversible",
                entry.new_id
            )));
        }
        old_seen.insert(entry.old_id.clone(), index);
        new_seen.insert(entry.new_id.clone(), index);
        entries.push(entry);
    }
    // After the root: only whitespace, comments and processing instructions.
    loop {
        let before = p.reader.buffer_position();
        match p.next()? {
            Ev::Eof => break,
            Ev::Text(t) if t.trim().is_empty() => {}
            _ => return Err(p.doc_err(before, "content after the root element")),
        }
    }
    Ok(entries)
}

/// The inside of one `<mapping>` (its start tag, on `line`, already read). Errors are
/// `Document` errors with the line of the offending element; the caller turns them
/// into `Mapping` errors carrying the mapping's position.
fn parse_mapping(p: &mut Pull, line: usize) -> Result<Entry, ImportError> {
    let mut old_id: Option<String> = None;
    let mut new_id: Option<ClientId> = None;
    while let Some(Tag {
        ns,
        local,
        line: child_line,
        attrs,
    }) = p.next_child()?
    {
        let fail = |message: String| ImportError::Document {
            line: child_line,
            message,
        };
        match (is_mapping_ns(&ns), local.as_str()) {
            (true, "oldId") => {
                if old_id.is_some() {
                    return Err(fail("more than one `oldId`".into()));
                }
                let text = p.text("oldId")?;
                check_short_name(&text).map_err(|m| fail(format!("oldId: {m}")))?;
                old_id = Some(text);
            }
            (true, "newId") => {
                if new_id.is_some() {
                    return Err(fail("more than one `newId`".into()));
                }
                new_id = Some(parse_new_id(p, child_line, &attrs)?);
            }
            _ => {
                p.skip()?;
                return Err(fail(format!(
                    "unexpected element {}",
                    describe(&ns, &local)
                )));
            }
        }
    }
    match (old_id, new_id) {
        (Some(old_id), Some(new_id)) => Ok(Entry { old_id, new_id }),
        (None, _) => Err(ImportError::Document {
            line,
            message: "missing `oldId`".into(),
        }),
        (_, None) => Err(ImportError::Document {
            line,
            message: "missing `newId`".into(),
        }),
    }
}

fn parse_new_id(p: &mut Pull, line: usize, attrs: &[Attr]) -> Result<ClientId, ImportError> {
    let fail = |message: String| ImportError::Document { line, message };
    let object_type = attrs
        .iter()
        .find(|a| a.ns.is(NS_IDENTIFIERS) && a.local == "objectType")
        .map(|a| a.value.trim().to_string())
        .ok_or_else(|| {
            fail(format!(
                "newId: missing attribute `objectType` in namespace `{NS_IDENTIFIERS}`"
            ))
        })?;

    const PARTS: [&str; 4] = [
        "xRoadInstance",
        "memberClass",
        "memberCode",
        "subsystemCode",
    ];
    let mut parts: [Option<String>; 4] = Default::default();
    while let Some(Tag {
        ns,
        local,
        line: child_line,
        ..
    }) = p.next_child()?
    {
        let slot = PARTS
            .iter()
            .position(|&n| n == local)
            .filter(|_| ns.is(NS_IDENTIFIERS));
        let Some(slot) = slot else {
            p.skip()?;
            return Err(ImportError::Document {
                line: child_line,
                message: format!(
                    "newId must be a client identifier (MEMBER or SUBSYSTEM); unexpected element {}",
                    describe(&ns, &local)
                ),
            });
        };
        if parts[slot].is_some() {
            return Err(ImportError::Document {
                line: child_line,
                message: format!("newId: more than one `{local}`"),
            });
        }
        let text = p.text(&local)?;
        if text.contains('/') {
            return Err(ImportError::Document {
                line: child_line,
                message: format!("newId: `{local}` value `{text}` contains `/`, which the identifier string form cannot carry"),
            });
        }
        parts[slot] = Some(text);
    }
    let [Some(instance), Some(class), Some(code), subsystem] = parts else {
        let missing: Vec<&str> = PARTS[..3]
            .iter()
            .zip(&parts)
            .filter(|(_, v)| v.is_none())
            .map(|(n, _)| *n)
            .collect();
        return Err(fail(format!("newId: missing {}", missing.join(", "))));
    };
    match (object_type.as_str(), &subsystem) {
        ("MEMBER", None) | ("SUBSYSTEM", Some(_)) => {}
        ("MEMBER", Some(_)) => {
            return Err(fail("newId: objectType MEMBER with a subsystemCode".into()))
        }
        ("SUBSYSTEM", None) => {
            return Err(fail(
                "newId: objectType SUBSYSTEM without a subsystemCode".into(),
            ))
        }
        (other, _) => {
            return Err(fail(format!(
                "newId: objectType `{other}` is not a client identifier (MEMBER or SUBSYSTEM)"
            )));
        }
    }
    let mut s = format!("{instance}/{class}/{code}");
    if let Some(sub) = &subsystem {
        s.push('/');
        s.push_str(sub);
    }
    ClientId::parse(&s).map_err(|e| fail(format!("newId: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{LegacyMember, Mappings};

    fn fixture() -> String {
        include_str!("../../../../fixtures/mappings/import/identifiermapping.xml").to_string()
    }

    fn cid(s: &str) -> ClientId {
        ClientId::parse(s).unwrap()
    }

    fn load(toml: &str) -> Mappings {
        Mappings::from_sources(&[("imported/identifiermapping.toml".into(), toml.to_string())])
            .unwrap_or_else(|e| panic!("{e}\n---\n{toml}"))
    }

    #[test]
    fn fixture_imports_for_a_short_name_stack() {
        let toml = import_identifier_mapping(&fixture(), Dialect::V31Eu, Some("PS-UXP")).unwrap();
        assert!(
            toml.starts_with("# Imported by dualroad from an X-Road 6 identifiermapping.xml"),
            "{toml}"
        );
        assert!(
            toml.lines()
                .next()
                .unwrap()
                .contains("instance `PS`, 4 mappings"),
            "{toml}"
        );
        let m = load(&toml);
        assert_eq!(m.legacy_dialect(), Dialect::V31Eu);
        assert_eq!(m.legacy_instance(), None);
        assert_eq!(m.uxp_instance(), "PS-UXP");
        assert_eq!(
            m.uxp_for_legacy_name("10000042"),
            Some(&cid("PS-UXP/GOV/10000042/portal"))
        );
        assert_eq!(
            m.uxp_for_legacy_name("moh"),
            Some(&cid("PS-UXP/GOV/10000001/moh"))
        );
        // A MEMBER-type newId (no subsystem), written with other prefixes in the fixture.
        assert_eq!(
            m.uxp_for_legacy_name("bizreg"),
            Some(&cid("PS-UXP/GOV/10000003"))
        );
        // Unqualified mapping children, entity-escaped text.
        assert_eq!(
            m.uxp_for_legacy_name("pay&co"),
            Some(&cid("PS-UXP/COM/10000077/kyc"))
        );
        assert_eq!(
            m.legacy_for_uxp(&cid("PS-UXP/GOV/10000042/portal")),
            Some(&LegacyMember::Name("10000042".into()))
        );
        assert_eq!(m.members().count(), 4);
    }

    #[test]
    fn without_uxp_instance_the_file_instance_is_kept() {
        let toml = import_identifier_mapping(&fixture(), Dialect::V2, None).unwrap();
        let m = load(&toml);
        assert_eq!(m.uxp_instance(), "PS");
        assert_eq!(
            m.uxp_for_legacy_name("moh"),
            Some(&cid("PS/GOV/10000001/moh"))
        );
    }

    #[test]
    fn structured_stack_maps_new_ids_into_the_uxp_instance() {
        let toml = import_identifier_mapping(&fixture(), Dialect::V4, Some("PS-UXP")).unwrap();
        assert!(toml.contains("# v5 short name: moh\n"), "{toml}");
        let m = load(&toml);
        assert_eq!(m.legacy_instance(), Some("PS"));
        assert_eq!(
            m.uxp_for_legacy_id(&cid("PS/GOV/10000001/moh")),
            Some(&cid("PS-UXP/GOV/10000001/moh"))
        );
        assert_eq!(
            m.legacy_for_uxp(&cid("PS-UXP/GOV/10000003")),
            Some(&LegacyMember::Id(cid("PS/GOV/10000003")))
        );
        // Without a distinct UXP instance the table would be the identity.
        assert!(matches!(
            import_identifier_mapping(&fixture(), Dialect::V4, None),
            Err(ImportError::Usage(_))
        ));
        assert!(matches!(
            import_identifier_mapping(&fixture(), Dialect::V60, Some("PS")),
            Err(ImportError::Usage(_))
        ));
    }

    #[test]
    fn usage_errors() {
        assert!(matches!(
            import_identifier_mapping(&fixture(), Dialect::Uxp, None),
            Err(ImportError::Usage(_))
        ));
        assert!(matches!(
            import_identifier_mapping(&fixture(), Dialect::V31, Some("PS UXP")),
            Err(ImportError::Usage(_))
        ));
    }

    const HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<m:mappings xmlns:m="http://x-road.ee/xsd/x-road.xsd" xmlns:id="http://x-road.eu/xsd/identifiers">
"#;

    fn mapping(old: &str, attrs: &str, parts: &str) -> String {
        format!("  <m:mapping>\n    <m:oldId>{old}</m:oldId>\n    <m:newId {attrs}>{parts}</m:newId>\n  </m:mapping>\n")
    }
    const GOOD: &str = r#"<id:xRoadInstance>PS</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>1</id:memberCode>"#;

    fn import(body: &str) -> Result<String, ImportError> {
        import_identifier_mapping(&format!("{HEAD}{body}</m:mappings>\n"), Dialect::V31, None)
    }

    fn mapping_err(r: Result<String, ImportError>) -> (usize, usize, String) {
        match r {
            Err(ImportError::Mapping {
                index,
                line,
                message,
            }) => (index, line, message),
            other => panic!("expected a mapping error, got {other:?}"),
        }
    }

    #[test]
    fn mapping_errors_name_index_and_line() {
        // HEAD is two lines; each `mapping()` is four, so mapping #2 starts on line 7.
        let ok = mapping("a", r#"id:objectType="MEMBER""#, GOOD);
        let bad = mapping("b", r#"id:objectType="SUBSYSTEM""#, GOOD);
        let (index, line, msg) = mapping_err(import(&format!("{ok}{bad}")));
        assert_eq!((index, line), (2, 7));
        assert!(msg.contains("SUBSYSTEM without a subsystemCode"), "{msg}");

        let sub = format!("{GOOD}<id:subsystemCode>s</id:subsystemCode>");
        let (_, _, msg) = mapping_err(import(&mapping("a", r#"id:objectType="MEMBER""#, &sub)));
        assert!(msg.contains("MEMBER with a subsystemCode"), "{msg}");

        // objectType must be in the identifiers namespace: a bare attribute does not count.
        let (_, _, msg) = mapping_err(import(&mapping("a", r#"objectType="MEMBER""#, GOOD)));
        assert!(msg.contains("missing attribute `objectType`"), "{msg}");

        let (_, _, msg) = mapping_err(import(&mapping("a", r#"id:objectType="SERVICE""#, GOOD)));
        assert!(msg.contains("not a client identifier"), "{msg}");

        let partial = "<id:xRoadInstance>PS</id:xRoadInstance><id:memberCode>1</id:memberCode>";
        let (_, _, msg) = mapping_err(import(&mapping("a", r#"id:objectType="MEMBER""#, partial)));
        assert!(msg.contains("missing memberClass"), "{msg}");

        let spaced = GOOD.replace(">1<", ">1 2<");
        let (_, _, msg) = mapping_err(import(&mapping("a", r#"id:objectType="MEMBER""#, &spaced)));
        assert!(msg.contains("`PS/GOV/1 2`"), "{msg}");

        let (_, _, msg) = mapping_err(import(&mapping("a b", r#"id:objectType="MEMBER""#, GOOD)));
        assert!(msg.contains("oldId"), "{msg}");

        // Children in the wrong namespace are not identifier parts, whatever the prefix.
        let wrong_ns = GOOD.replace("id:memberClass", "m:memberClass");
        let (_, _, msg) = mapping_err(import(&mapping(
            "a",
            r#"id:objectType="MEMBER""#,
            &wrong_ns,
        )));
        assert!(msg.contains("unexpected element `memberClass`"), "{msg}");
    }

    #[test]
    fn duplicates_and_mixed_instances_are_refused() {
        let m = |old: &str, code: &str, inst: &str| {
            mapping(
                old,
                r#"id:objectType="MEMBER""#,
                &GOOD
                    .replace(">1<", &format!(">{code}<"))
                    .replace(">PS<", &format!(">{inst}<")),
            )
        };
        let (index, _, msg) = mapping_err(import(&format!(
            "{}{}",
            m("a", "1", "PS"),
            m("a", "2", "PS")
        )));
        assert_eq!(index, 2);
        assert!(
            msg.contains("oldId `a` is already mapped in mapping #1"),
            "{msg}"
        );
        let (_, _, msg) = mapping_err(import(&format!(
            "{}{}",
            m("a", "1", "PS"),
            m("b", "1", "PS")
        )));
        assert!(msg.contains("already the target of mapping #1"), "{msg}");
        let (_, _, msg) = mapping_err(import(&format!(
            "{}{}",
            m("a", "1", "PS"),
            m("b", "2", "EE")
        )));
        assert!(msg.contains("instance `EE` differs"), "{msg}");
    }

    #[test]
    fn document_errors() {
        let doc = |xml: &str| match import_identifier_mapping(xml, Dialect::V31, None) {
            Err(ImportError::Document { line, message }) => (line, message),
            other => panic!("expected a document error, got {other:?}"),
        };
        let (line, msg) = doc("<?xml version=\"1.0\"?>\n<!DOCTYPE m [<!ENTITY x \"y\">]>\n<m/>");
        assert_eq!(line, 2);
        assert!(msg.contains("DOCTYPE"), "{msg}");
        // Right local name, wrong namespace: matched by URI, not by name or prefix.
        let (_, msg) = doc(r#"<xrd:mappings xmlns:xrd="http://x-road.eu/xsd/xroad.xsd"/>"#);
        assert!(msg.contains("root element must be `mappings`"), "{msg}");
        let (_, msg) = doc(r#"<mappings/>"#);
        assert!(msg.contains("(no namespace)"), "{msg}");
        let (_, msg) = doc(&format!("{HEAD}</m:mappings>"));
        assert!(msg.contains("no `mapping`"), "{msg}");
        // Broken inside a mapping: reported against the mapping, with the real line.
        let (index, line, msg) = mapping_err(import("  <m:mapping>\n"));
        assert_eq!((index, line), (1, 3));
        assert!(msg.starts_with("line 4: not well-formed"), "{msg}");
        // Unclosed root.
        let (_, msg) = doc(HEAD);
        assert!(
            msg.contains("end of document") || msg.contains("not well-formed"),
            "{msg}"
        );
        let (_, msg) = doc("<a:mappings/>");
        assert!(msg.contains("prefix"), "{msg}");
        let (_, msg) = doc("");
        assert!(msg.contains("no root element"), "{msg}");
        let (line, msg) = doc(&format!("{HEAD}  <m:other/>\n</m:mappings>"));
        assert_eq!(line, 3);
        assert!(msg.contains("expected `mapping`"), "{msg}");
    }

    #[test]
    fn output_escapes_strings() {
        let toml = import(&mapping("we\"ird\\name", r#"id:objectType="MEMBER""#, GOOD)).unwrap();
        let m = load(&toml);
        assert_eq!(
            m.uxp_for_legacy_name("we\"ird\\name"),
            Some(&cid("PS/GOV/1"))
        );
    }
}
