//! The answer tree the services build, and its writer.
//!
//! Services describe their answer as a small tree of unqualified elements (as the
//! fixtures' `request`/`response` content is); the writer lays it out like the request
//! it answers (same line ending and indentation step, or compact), in the request's
//! charset, and for 2.0 rpc/encoded requests with `xsi:type` on every value.

use crate::wire::charset::Charset;

/// XML Schema type of a leaf, written as `xsi:type` in 2.0 answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Xsd {
    String,
    Date,
    DateTime,
    Int,
    Decimal,
}

impl Xsd {
    fn local(self) -> &'static str {
        match self {
            Xsd::String => "string",
            Xsd::Date => "date",
            Xsd::DateTime => "dateTime",
            Xsd::Int => "int",
            Xsd::Decimal => "decimal",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Content {
    Text(String, Xsd),
    Nodes(Vec<Node>),
}

/// One element of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    pub name: &'static str,
    pub attrs: Vec<(&'static str, String)>,
    pub content: Content,
}

impl Node {
    pub(super) fn leaf(name: &'static str, text: impl Into<String>) -> Node {
        Node::typed(name, text, Xsd::String)
    }

    pub(super) fn typed(name: &'static str, text: impl Into<String>, xsd: Xsd) -> Node {
        Node {
            name,
            attrs: Vec::new(),
            content: Content::Text(text.into(), xsd),
        }
    }

    pub(super) fn parent(name: &'static str, children: Vec<Node>) -> Node {
        Node {
            name,
            attrs: Vec::new(),
            content: Content::Nodes(children),
        }
    }

    pub(super) fn attr(mut self, name: &'static str, value: impl Into<String>) -> Node {
        self.attrs.push((name, value.into()));
        self
    }

    #[cfg(test)]
    pub(crate) fn children(&self) -> &[Node] {
        match &self.content {
            Content::Nodes(n) => n,
            Content::Text(..) => &[],
        }
    }

    pub(super) fn children_mut(&mut self) -> Option<&mut Vec<Node>> {
        match &mut self.content {
            Content::Nodes(n) => Some(n),
            Content::Text(..) => None,
        }
    }

    #[cfg(test)]
    pub(crate) fn text(&self) -> Option<&str> {
        match &self.content {
            Content::Text(t, _) => Some(t),
            Content::Nodes(_) => None,
        }
    }
}

/// How to lay out and encode an answer.
#[derive(Debug, Clone)]
pub(crate) struct Style {
    /// Line ending, or empty for a compact answer.
    pub nl: String,
    /// One indentation step (empty when compact).
    pub step: String,
    pub charset: Charset,
    /// `(xsi, xsd)` prefixes in scope: write `xsi:type` on leaves (2.0 rpc/encoded).
    pub typed: Option<(String, String)>,
}

impl Style {
    pub(super) fn compact(charset: Charset) -> Style {
        Style {
            nl: String::new(),
            step: String::new(),
            charset,
            typed: None,
        }
    }

    /// Text for the message: XML-escaped, then encoded in the message's charset.
    pub(super) fn text(&self, s: &str, out: &mut Vec<u8>) {
        self.charset.encode(&quick_xml::escape::escape(s), out);
    }

    /// Attribute value: like text, with quotes escaped too (`escape` covers `"`).
    fn attr_value(&self, s: &str, out: &mut Vec<u8>) {
        self.text(s, out);
    }

    /// Line break plus indentation `indent`, or nothing when compact.
    pub(super) fn newline(&self, indent: &str, out: &mut Vec<u8>) {
        if !self.nl.is_empty() {
            out.extend_from_slice(self.nl.as_bytes());
            out.extend_from_slice(indent.as_bytes());
        }
    }

    pub(super) fn deeper(&self, indent: &str) -> String {
        format!("{indent}{}", self.step)
    }
}

/// Writes `nodes`, each on its own line at `indent`.
pub(crate) fn write_nodes(nodes: &[Node], indent: &str, style: &Style, out: &mut Vec<u8>) {
    for n in nodes {
        style.newline(indent, out);
        write_node(n, indent, style, out);
    }
}

fn write_node(n: &Node, indent: &str, style: &Style, out: &mut Vec<u8>) {
    out.push(b'<');
    out.extend_from_slice(n.name.as_bytes());
    for (k, v) in &n.attrs {
        out.push(b' ');
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"=\"");
        style.attr_value(v, out);
        out.push(b'"');
    }
    match &n.content {
        Content::Text(t, xsd) => {
            if let Some((xsi, xs)) = &style.typed {
                out.extend_from_slice(format!(" {xsi}:type=\"{xs}:{}\"", xsd.local()).as_bytes());
            }
            out.push(b'>');
            style.text(t, out);
        }
        Content::Nodes(children) if children.is_empty() => {
            out.extend_from_slice(b"/>");
            return;
        }
        Content::Nodes(children) => {
            out.push(b'>');
            let inner = style.deeper(indent);
            write_nodes(children, &inner, style, out);
            style.newline(indent, out);
        }
    }
    out.extend_from_slice(b"</");
    out.extend_from_slice(n.name.as_bytes());
    out.push(b'>');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Vec<Node> {
        vec![
            Node::leaf("name", "Stone & Marble <Co>"),
            Node::parent(
                "list",
                vec![Node::typed("n", "3", Xsd::Int).attr("unit", "\"pcs\"")],
            ),
            Node::parent("empty", vec![]),
        ]
    }

    #[test]
    fn writes_indented_compact_and_typed() {
        let style = Style {
            nl: "\n".into(),
            step: "  ".into(),
            charset: Charset::Utf8,
            typed: None,
        };
        let mut out = Vec::new();
        write_nodes(&tree(), "  ", &style, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\n  <name>Stone &amp; Marble &lt;Co&gt;</name>\n  <list>\n    <n unit=\"&quot;pcs&quot;\">3</n>\n  </list>\n  <empty/>"
        );

        let mut out = Vec::new();
        write_nodes(&tree(), "", &Style::compact(Charset::Utf8), &mut out);
        assert!(String::from_utf8(out).unwrap().starts_with("<name>Stone"));

        let typed = Style {
            typed: Some(("xsi".into(), "xsd".into())),
            ..Style::compact(Charset::Utf8)
        };
        let mut out = Vec::new();
        write_nodes(&tree()[1..2], "", &typed, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<list><n unit=\"&quot;pcs&quot;\" xsi:type=\"xsd:int\">3</n></list>"
        );
    }

    #[test]
    fn latin1_answers_use_character_references() {
        let mut out = Vec::new();
        Style::compact(Charset::Latin1).text("Hélène ليلى", &mut out);
        assert_eq!(out, b"H\xe9l\xe8ne &#1604;&#1610;&#1604;&#1609;");
    }
}
