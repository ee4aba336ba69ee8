//! Where each key sits in the source text, so every problem can name its line.
//!
//! Built from the same TOML text as [`super::FileConfig`], by a second deserialization
//! that keeps only keys and their positions. Kept apart from the typed config so those
//! types stay plain (no `Spanned` on every field) and lines can be found for any path,
//! including keys the typed pass rejected.

use std::fmt;
use std::ops::Range;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A path into the document; renders as `rollout.rules[2].percent`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldPath(Vec<Seg>);

impl FieldPath {
    pub(crate) fn root() -> Self {
        FieldPath(Vec::new())
    }

    pub(crate) fn key(&self, k: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.to_string()));
        p
    }

    pub(crate) fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }

    /// Appends a dotted relative key (`a.b`, `a[2].b`) as reported by serde or by a
    /// section's own validator.
    pub(crate) fn dotted(&self, keys: &str) -> Self {
        keys.split('.').fold(self.clone(), |p, k| {
            let mut parts = k.split('[');
            let mut p = p.key(parts.next().unwrap_or(k));
            for idx in parts {
                p = match idx.strip_suffix(']').and_then(|n| n.parse().ok()) {
                    Some(n) => p.index(n),
                    None => p.key(idx),
                };
            }
            p
        })
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => f.write_str(k)?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Key positions of a whole document, and the text's line starts.
#[derive(Debug, Default)]
pub(crate) struct SourceMap {
    root: Node,
    line_starts: Vec<usize>,
}

#[derive(Debug, Default)]
enum Node {
    /// Keys in document order with the byte offset where each is written.
    Table(Vec<(String, usize, Node)>),
    Array(Vec<Node>),
    #[default]
    Leaf,
}

impl SourceMap {
    /// Indexes `text`. Never fails: a document toml cannot parse has no keys to locate,
    /// and the syntax error itself carries its position.
    pub(crate) fn new(text: &str) -> Self {
        let root = toml::from_str::<Node>(text).unwrap_or_default();
        let line_starts = std::iter::once(0)
            .chain(
                text.bytes()
                    .enumerate()
                    .filter(|(_, b)| *b == b'\n')
                    .map(|(i, _)| i + 1),
            )
            .collect();
        SourceMap { root, line_starts }
    }

    /// 1-based line of a byte offset.
    pub(crate) fn line_of_offset(&self, offset: usize) -> usize {
        self.line_starts
            .partition_point(|&start| start <= offset)
            .max(1)
    }

    /// Line of the deepest key along `path` that exists. A missing key therefore points
    /// at its table (or array element), which is where it should be added.
    pub(crate) fn line(&self, path: &FieldPath) -> Option<usize> {
        let mut node = &self.root;
        let mut best = None;
        for seg in &path.0 {
            match (seg, node) {
                (Seg::Key(k), Node::Table(entries)) => {
                    match entries.iter().find(|(name, _, _)| name == k) {
                        Some((_, at, child)) => {
                            best = Some(*at);
                            node = child;
                        }
                        None => break,
                    }
                }
                (Seg::Index(i), Node::Array(items)) => match items.get(*i) {
                    Some(child) => {
                        // An element has no key of its own: use its first key's line.
                        if let Node::Table(entries) = child {
                            if let Some(first) = entries.iter().map(|(_, at, _)| *at).min() {
                                best = Some(first);
                            }
                        }
                        node = child;
                    }
                    None => break,
                },
                _ => break,
            }
        }
        best.map(|at| self.line_of_offset(at))
    }

    /// The key written on the line holding `span`: the text before `=`, or the table
    /// header's name. Used for errors toml reports with a span but no path.
    pub(crate) fn key_near(text: &str, span: &Range<usize>) -> Option<String> {
        // Byte search: `\n` is ASCII, so the positions found are char boundaries even
        // if `span` is not; `get` keeps a bad span from panicking.
        let bytes = text.as_bytes();
        let start = span.start.min(bytes.len());
        let line_start = bytes[..start]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let line_end = bytes[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| start + i);
        let line = text.get(line_start..line_end)?.trim();
        if let Some((key, _)) = line.split_once('=') {
            return Some(key.trim().to_string()).filter(|k| !k.is_empty());
        }
        let header = line.trim_start_matches('[').split(']').next()?.trim();
        Some(header.to_string()).filter(|h| !h.is_empty())
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A value this index cannot walk (a datetime, whose internal map has no
        // spanned keys) is a leaf: nothing below it is ever reported.
        Ok(d.deserialize_any(NodeVisitor).unwrap_or(Node::Leaf))
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any TOML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let at = key.span().start;
            let child = map.next_value::<Node>()?;
            entries.push((key.into_inner(), at, child));
        }
        Ok(Node::Table(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Leaf)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Leaf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "a = 1\n\n[t]\nx = \"y\"\n\n[[r]]\nk = 1\n\n[[r]]\n# note\nk = 2\nz = 3\nwhen = 1979-05-27\n";

    #[test]
    fn finds_lines_of_keys_and_array_elements() {
        let m = SourceMap::new(DOC);
        let root = FieldPath::root();
        assert_eq!(m.line(&root.key("a")), Some(1));
        assert_eq!(m.line(&root.key("t").key("x")), Some(4));
        assert_eq!(m.line(&root.key("r").index(1)), Some(11));
        assert_eq!(m.line(&root.key("r").index(1).key("z")), Some(12));
        // Missing key: its element.
        assert_eq!(m.line(&root.key("r").index(1).key("nope")), Some(11));
        assert_eq!(m.line(&root.key("nope")), None);
        // A datetime does not break the index.
        assert_eq!(m.line(&root.key("r").index(1).key("when")), Some(13));
        assert_eq!(root.key("r").index(1).key("z").to_string(), "r[1].z");
    }

    #[test]
    fn key_near_reads_assignments_and_headers() {
        let span = |needle: &str| {
            let at = DOC.find(needle).unwrap_or(0);
            at..at + needle.len()
        };
        assert_eq!(
            SourceMap::key_near(DOC, &span("\"y\"")).as_deref(),
            Some("x")
        );
        assert_eq!(SourceMap::key_near(DOC, &span("[t]")).as_deref(), Some("t"));
    }
}
