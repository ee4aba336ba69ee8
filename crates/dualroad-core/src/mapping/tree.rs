//! A TOML document as a tree in which every key and value keeps its byte span.
//!
//! Why not deserialize straight into `#[serde(deny_unknown_fields)]` structs? serde
//! stops at the first mismatch: one misspelt key or one `effect = "reed"` would hide
//! every other problem in that file, and the loader's contract is to report all of
//! them at once. So the loader reads this lossless tree and checks the schema itself
//! in [`super::load`], turning each mismatch into a `Problem` with a line. Only TOML
//! *syntax* errors still stop a file, because the parser cannot continue.
//!
//! Spans come from toml's `Spanned` protocol, spoken directly rather than through
//! `toml::Spanned<T>`: that type fails outright on values toml has no span for
//! (implicit tables from dotted keys such as `[legacy.x]`, date/time keys), which
//! would turn a schema problem back into a whole-file error. [`Sp`] accepts both and
//! [`parse`] then fills a missing span from the nearest enclosing key or entry.
//! `tree::tests::spans_come_through` fails loudly if a toml upgrade changes the
//! protocol.

use std::fmt;
use std::ops::Range;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// serde_spanned's (doc-hidden, stable within toml 0.8 / serde_spanned 0.6) protocol:
/// a struct request with this name and these fields makes toml answer with a
/// three-entry map `start`, `end`, `value` instead of the bare value.
const SPANNED_NAME: &str = "$__serde_spanned_private_Spanned";
const SPANNED_START: &str = "$__serde_spanned_private_start";
const SPANNED_END: &str = "$__serde_spanned_private_end";
const SPANNED_VALUE: &str = "$__serde_spanned_private_value";
const SPANNED_FIELDS: &[&str] = &[SPANNED_START, SPANNED_END, SPANNED_VALUE];

/// Key under which toml hands a date/time to a visitor: a one-entry map. Matching it
/// is the only way to tell a date/time from a table without adding a crate.
const TOML_DATETIME_FIELD: &str = "$__toml_private_datetime";

/// A value and its byte span in the source.
#[derive(Debug)]
pub(crate) struct Sp<T> {
    span: Option<Range<usize>>,
    pub(crate) value: T,
}

impl<T> Sp<T> {
    fn bare(value: T) -> Self {
        Sp { span: None, value }
    }

    /// Byte offset where the value starts. After [`parse`] every span is filled in;
    /// the fallback 0 (first line) only guards against a toml surprise.
    pub(crate) fn start(&self) -> usize {
        self.span.as_ref().map_or(0, |s| s.start)
    }
}

pub(crate) type Table = Vec<(Sp<String>, Sp<Node>)>;

#[derive(Debug)]
pub(crate) enum Node {
    Str(String),
    /// Keys in document order.
    Table(Table),
    Array(Vec<Sp<Node>>),
    /// A value of a type the schema never uses; the name is for messages.
    Other(&'static str),
}

impl Node {
    /// The TOML type name, as used in "expected a string, found …" messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Node::Str(_) => "a string",
            Node::Table(_) => "a table",
            Node::Array(_) => "an array",
            Node::Other(k) => k,
        }
    }
}

/// Parses a whole document. Errors are toml's own (syntax) with its byte span.
pub(crate) fn parse(text: &str) -> Result<Table, SyntaxError> {
    match toml::from_str::<Node>(text) {
        Ok(Node::Table(mut entries)) => {
            fill_table(&mut entries, &(0..0));
            Ok(entries)
        }
        // A document is always a table; anything else would be a toml bug.
        Ok(other) => Err(SyntaxError {
            message: format!("document is {}, not a table", other.kind()),
            span: None,
        }),
        Err(e) => Err(SyntaxError {
            message: clean_message(e.message()),
            span: e.span(),
        }),
    }
}

/// Gives every span-less key or value the span of its key or enclosing entry.
fn fill_table(entries: &mut Table, parent: &Range<usize>) {
    for (key, value) in entries {
        let key_span = key.span.get_or_insert_with(|| parent.clone()).clone();
        let value_span = value.span.get_or_insert(key_span).clone();
        fill_node(&mut value.value, &value_span);
    }
}

fn fill_node(node: &mut Node, span: &Range<usize>) {
    match node {
        Node::Table(entries) => fill_table(entries, span),
        Node::Array(items) => {
            for item in items {
                let item_span = item.span.get_or_insert_with(|| span.clone()).clone();
                fill_node(&mut item.value, &item_span);
            }
        }
        Node::Str(_) | Node::Other(_) => {}
    }
}

pub(crate) struct SyntaxError {
    pub(crate) message: String,
    pub(crate) span: Option<Range<usize>>,
}

/// toml's messages can span several lines; a problem is printed on one line.
fn clean_message(m: &str) -> String {
    m.trim()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

impl<'de> Deserialize<'de> for Sp<Node> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct(SPANNED_NAME, SPANNED_FIELDS, SpNodeVisitor)
    }
}

impl<'de> Deserialize<'de> for Sp<String> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct(SPANNED_NAME, SPANNED_FIELDS, SpStringVisitor)
    }
}

/// Whether `key` is the first key of toml's spanned answer. Real table keys always
/// carry a span of their own; the protocol's do not.
fn is_spanned_protocol(key: &Sp<String>) -> bool {
    key.span.is_none() && key.value == SPANNED_START
}

/// Reads the rest of toml's spanned answer after its `start` key.
fn finish_spanned<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    mut map: A,
) -> Result<Sp<T>, A::Error> {
    let start: usize = map.next_value()?;
    let mut end = start;
    let mut value = None;
    while let Some(k) = map.next_key::<Sp<String>>()? {
        match k.value.as_str() {
            SPANNED_END => end = map.next_value()?,
            SPANNED_VALUE => value = Some(map.next_value::<T>()?),
            _ => {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
    }
    let value = value.ok_or_else(|| serde::de::Error::missing_field(SPANNED_VALUE))?;
    Ok(Sp {
        span: Some(start..end.max(start)),
        value,
    })
}

/// A table whose first key was already read; a date/time if that key says so.
fn finish_table<'de, A: MapAccess<'de>>(first: Sp<String>, mut map: A) -> Result<Node, A::Error> {
    if first.span.is_none() && first.value == TOML_DATETIME_FIELD {
        map.next_value::<serde::de::IgnoredAny>()?;
        return Ok(Node::Other("a date/time"));
    }
    let mut entries = vec![(first, map.next_value::<Sp<Node>>()?)];
    while let Some(key) = map.next_key::<Sp<String>>()? {
        let value = map.next_value::<Sp<Node>>()?;
        entries.push((key, value));
    }
    Ok(Node::Table(entries))
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any TOML value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Other("a boolean"))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Other("an integer"))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Other("an integer"))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Other("a float"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Sp<Node>>()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        match map.next_key::<Sp<String>>()? {
            None => Ok(Node::Table(Vec::new())),
            Some(first) => finish_table(first, map),
        }
    }
}

/// A value asked for with its span: toml answers with the spanned map, or with the
/// bare value when it has no span to give.
struct SpNodeVisitor;

impl<'de> Visitor<'de> for SpNodeVisitor {
    type Value = Sp<Node>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any TOML value")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Sp<Node>, E> {
        NodeVisitor.visit_bool(v).map(Sp::bare)
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Sp<Node>, E> {
        NodeVisitor.visit_i64(v).map(Sp::bare)
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Sp<Node>, E> {
        NodeVisitor.visit_u64(v).map(Sp::bare)
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Sp<Node>, E> {
        NodeVisitor.visit_f64(v).map(Sp::bare)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Sp<Node>, E> {
        NodeVisitor.visit_str(v).map(Sp::bare)
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Sp<Node>, E> {
        NodeVisitor.visit_string(v).map(Sp::bare)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Sp<Node>, A::Error> {
        NodeVisitor.visit_seq(seq).map(Sp::bare)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Sp<Node>, A::Error> {
        match map.next_key::<Sp<String>>()? {
            None => Ok(Sp::bare(Node::Table(Vec::new()))),
            Some(first) if is_spanned_protocol(&first) => finish_spanned(map),
            Some(first) => finish_table(first, map).map(Sp::bare),
        }
    }
}

struct SpStringVisitor;

impl<'de> Visitor<'de> for SpStringVisitor {
    type Value = Sp<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E>(self, v: &str) -> Result<Sp<String>, E> {
        Ok(Sp::bare(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Sp<String>, E> {
        Ok(Sp::bare(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Sp<String>, A::Error> {
        match map.next_key::<Sp<String>>()? {
            Some(first) if is_spanned_protocol(&first) => finish_spanned(map),
            _ => Err(serde::de::Error::custom("expected a key")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span<T>(s: &Sp<T>) -> Range<usize> {
        s.span.clone().unwrap()
    }

    #[test]
    fn spans_come_through() {
        let src = "[[members]]\nlegacy = \"a\"\nuxp = 3\n";
        let doc = parse(src).ok().unwrap();
        assert_eq!(doc[0].0.value, "members");
        let Node::Array(items) = &doc[0].1.value else {
            panic!()
        };
        // The entry's span starts at its `[[members]]` header.
        assert_eq!(items[0].start(), 0);
        let Node::Table(fields) = &items[0].value else {
            panic!()
        };
        assert_eq!(&src[span(&fields[0].0)], "legacy");
        assert_eq!(&src[span(&fields[0].1)], "\"a\"");
        assert_eq!(fields[1].1.value.kind(), "an integer");
        assert_eq!(&src[span(&fields[1].1)], "3");
    }

    #[test]
    fn values_without_a_span_of_their_own_get_their_keys() {
        // `legacy` is an implicit table (no span in toml): it takes its key's span.
        let src = "[uxp]\ninstance = \"U\"\n[legacy.x]\ny = 1\n";
        let doc = parse(src).ok().unwrap();
        let (k, v) = &doc[1];
        assert_eq!(k.value, "legacy");
        assert_eq!(v.start(), k.start());
        assert_eq!(v.value.kind(), "a table");
        // Dotted keys in inline tables, date/times: no whole-file error either.
        let src = "a = { b.c = 1 }\nwhen = 1979-05-27\nlist = [1979-05-27T00:00:00Z]\n";
        let doc = parse(src).ok().unwrap();
        assert_eq!(doc[1].1.value.kind(), "a date/time");
        assert_eq!(&src[span(&doc[1].1)], "1979-05-27");
        let Node::Array(items) = &doc[2].1.value else {
            panic!()
        };
        assert_eq!(items[0].value.kind(), "a date/time");
        // A key that happens to spell the protocol's marker is still a key.
        let doc = parse("[t]\n\"$__serde_spanned_private_start\" = 1\n")
            .ok()
            .unwrap();
        let Node::Table(fields) = &doc[0].1.value else {
            panic!()
        };
        assert_eq!(fields[0].0.value, SPANNED_START);
    }

    #[test]
    fn syntax_errors_are_one_line_with_a_span() {
        let e = parse("[legacy]\ndialect = \n").err().unwrap();
        assert!(!e.message.contains('\n'));
        assert!(e.span.is_some());
    }
}
