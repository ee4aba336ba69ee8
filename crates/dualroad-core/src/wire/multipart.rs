//! `multipart/related` (SwA and MTOM): split a message into parts and rebuild it
//! byte for byte.
//!
//! Where it sits: when an X-Road message arrives as `multipart/related`, the gateway
//! parses the HTTP `Content-Type` with [`ContentType`], splits the body with
//! [`Multipart::parse`], picks the SOAP part with [`Multipart::root_index`] (the
//! `start` part, else the first), lets the envelope codec rewrite only the SOAP
//! header, and splices the new envelope back with
//! [`Multipart::try_replace_part_body`]. Everything else is copied unchanged: the
//! preamble, the delimiter lines (with their transport padding), every part's
//! header block, every attachment body and the epilogue. Security servers keep part
//! headers as they are, and legacy adapters depend on things a MIME library would
//! "fix": QName-like content types (`{http://www.w3.org/2001/XMLSchema}base64Binary`),
//! `Content-Encoding: gzip`, Content-IDs without `<>` or folded over two lines
//! (see the protocol reference §3.9, §6.6 and gotcha 12). So this module never
//! re-serialises a parsed message.
//!
//! [`build`] is the only place that writes a message from scratch (tests, simulators).
//!
//! Grammar: RFC 2046 §5.1.1, read leniently the way real traffic needs: CRLF or bare
//! LF line endings, transport padding after the boundary, any preamble and epilogue.
//! A delimiter is `--boundary` at the start of a line followed only by optional
//! padding and the end of the line, so text that merely resembles the boundary (in
//! the middle of a line, or with more characters after it) stays part of the body.
//!
//! Sans-io and panic-free: the input is a complete body in memory, and every
//! malformed input comes back as a [`MultipartError`]. Parsing is one forward pass
//! with a hand-written word-at-a-time byte search; parsed views borrow from the
//! input, and only header values are copied, so no allocation grows with attachment
//! size except the output buffer of a rebuild.

use std::ops::Range;

use percent_encoding::percent_decode_str;

/// Why a `Content-Type` or a multipart body could not be used. Part indexes are
/// 0-based, in the order the parts appear on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    #[error("malformed Content-Type `{value}`: {reason}")]
    BadContentType { value: String, reason: &'static str },
    #[error("Content-Type `{0}` is not multipart/related or multipart/mixed")]
    NotMultipart(String),
    #[error("multipart Content-Type has no `boundary` parameter")]
    MissingBoundary,
    #[error("boundary `{0}` is unusable: it must be non-empty and contain no CR or LF")]
    BadBoundary(String),
    #[error("no delimiter line `--{0}` at the start of any line (wrong boundary, or not a multipart body)")]
    BoundaryNotFound(String),
    #[error("multipart body has no parts: its first delimiter is the close delimiter `--{0}--`")]
    NoParts(String),
    #[error("part {index}: no blank line ends the header block before the next delimiter")]
    UnterminatedHeaders { index: usize },
    #[error("part {index}: malformed header block: {reason}")]
    BadPartHeaders { index: usize, reason: &'static str },
    #[error("body ends inside part {index} without the close delimiter `--{boundary}--` (truncated message?)")]
    MissingCloseDelimiter { index: usize, boundary: String },
    #[error("start parameter `{0}` matches no part's Content-ID")]
    StartNotFound(String),
    #[error("part index {index} is out of range: the message has {count} part(s)")]
    PartIndexOutOfRange { index: usize, count: usize },
    #[error("new body for part {index} contains the delimiter `--{boundary}` at the start of a line; splicing it in would split the part")]
    DelimiterInBody { index: usize, boundary: String },
}

/// A parsed HTTP `Content-Type` value.
///
/// The media type is lowercased; parameter names are lowercased and values unquoted
/// (quoted-string with backslash escapes). Parameter order is kept, and on duplicate
/// names the first wins, so a lookup sees what most receivers see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    pub media_type: String,
    pub params: Vec<(String, String)>,
}

impl ContentType {
    /// Parses a `Content-Type` header value.
    ///
    /// Lenient where senders differ in harmless ways: whitespace (also CR/LF left
    /// over from a folded header) around `;` and `=`, a trailing `;`, a parameter
    /// with no value (`charset=` or just `charset`, both read as empty). Strict where
    /// guessing could pick the wrong boundary: an unterminated quoted string or text
    /// after a closing quote is an error.
    pub fn parse(s: &str) -> Result<ContentType, MultipartError> {
        let bad = |reason| MultipartError::BadContentType {
            value: s.to_string(),
            reason,
        };
        let (media, mut rest) = s.split_once(';').unwrap_or((s, ""));
        let media = media.trim_matches(is_lws);
        let (ty, sub) = media
            .split_once('/')
            .ok_or_else(|| bad("media type is not `type/subtype`"))?;
        if !is_token(ty) || !is_token(sub) {
            return Err(bad(
                "media type or subtype is empty or has characters not allowed in a MIME token",
            ));
        }
        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches(|c| is_lws(c) || c == ';');
            if rest.is_empty() {
                break;
            }
            let name_end = rest.find(['=', ';']).unwrap_or(rest.len());
            let (name, after_name) = rest.split_at_checked(name_end).unwrap_or((rest, ""));
            let name = name.trim_matches(is_lws);
            if name.is_empty() {
                return Err(bad("parameter with an empty name"));
            }
            let Some(after_eq) = after_name.strip_prefix('=') else {
                // `; name` with no `=`: keep it, with an empty value.
                params.push((name.to_ascii_lowercase(), String::new()));
                rest = after_name;
                continue;
            };
            let after_eq = after_eq.trim_start_matches(is_lws);
            let (value, tail) = if let Some(quoted) = after_eq.strip_prefix('"') {
                let (value, tail) =
                    unquote(quoted).ok_or_else(|| bad("unterminated quoted parameter value"))?;
                let tail = tail.trim_start_matches(is_lws);
                if !(tail.is_empty() || tail.starts_with(';')) {
                    return Err(bad("unexpected text after a quoted parameter value"));
                }
                (value, tail)
            } else {
                let end = after_eq.find(';').unwrap_or(after_eq.len());
                let (value, tail) = after_eq.split_at_checked(end).unwrap_or((after_eq, ""));
                (value.trim_matches(is_lws).to_string(), tail)
            };
            params.push((name.to_ascii_lowercase(), value));
            rest = tail;
        }
        Ok(ContentType {
            media_type: media.to_ascii_lowercase(),
            params,
        })
    }

    /// The value of parameter `name` (case-insensitive); the first one if repeated.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `charset`, as sent. The default (UTF-8 for X-Road) is the caller's business.
    pub fn charset(&self) -> Option<&str> {
        self.param("charset")
    }

    pub fn boundary(&self) -> Option<&str> {
        self.param("boundary")
    }

    /// `start`: the Content-ID of the root part, usually in `<>`.
    pub fn start(&self) -> Option<&str> {
        self.param("start")
    }

    /// `multipart/related`, and `multipart/mixed` because some legacy clients label
    /// SwA messages that way.
    pub fn is_multipart(&self) -> bool {
        matches!(
            self.media_type.as_str(),
            "multipart/related" | "multipart/mixed"
        )
    }

    /// The boundary of a multipart Content-Type, or why there is none.
    pub fn multipart_boundary(&self) -> Result<&str, MultipartError> {
        if !self.is_multipart() {
            return Err(MultipartError::NotMultipart(self.media_type.clone()));
        }
        self.boundary().ok_or(MultipartError::MissingBoundary)
    }
}

/// Whitespace inside a header value, including CR/LF that an HTTP layer may leave
/// in a folded (obs-fold) value.
fn is_lws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// RFC 2045 token. `{` and `}` are allowed, `:` is not, so the legacy
/// `{http://www.w3.org/2001/XMLSchema}base64Binary` is rejected as a media type.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
}

/// Reads the inside of a quoted-string (the opening `"` already consumed). Returns
/// the unescaped value and the text after the closing quote.
fn unquote(s: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => value.push(chars.next()?.1),
            '"' => return Some((value, s.get(i + 1..).unwrap_or(""))),
            _ => value.push(c),
        }
    }
    None
}

/// Normalises a Content-ID, or a `start` value, for comparison: drops whitespace
/// (a Content-ID cannot contain any, so whitespace is left over from folding) and
/// one surrounding `<` / `>`.
pub fn normalize_content_id(s: &str) -> String {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let inner = compact.strip_prefix('<').unwrap_or(&compact);
    let inner = inner.strip_suffix('>').unwrap_or(inner);
    inner.to_string()
}

/// One body part, borrowing from the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    /// Exact bytes of the header block, each line with its line ending; without the
    /// blank line that ends the block. Empty for a part without headers.
    pub raw_headers: &'a [u8],
    /// Parsed headers in wire order: names lowercased, folded lines unfolded, values
    /// trimmed. Non-UTF-8 bytes are replaced (the raw bytes are in `raw_headers`).
    pub headers: Vec<(String, String)>,
    /// Exact bytes between the blank line and the line ending before the next
    /// delimiter (that line ending belongs to the delimiter, RFC 2046).
    pub body: &'a [u8],
    headers_range: Range<usize>,
    body_range: Range<usize>,
    /// Set when the part ends right after its headers: the line ending that would be
    /// the blank line is also the one before the next delimiter. A non-empty new body
    /// then needs a blank line of its own.
    missing_blank_line: Option<&'static [u8]>,
    /// Source ranges of `Content-Length` values, so a rebuild can rewrite just them.
    length_values: Vec<Range<usize>>,
}

impl Part<'_> {
    /// First header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `Content-ID`, normalised by [`normalize_content_id`].
    pub fn content_id(&self) -> Option<String> {
        self.header("content-id").map(normalize_content_id)
    }

    /// `Content-Type` as sent. Not parsed: attachment types may not be MIME types.
    pub fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }

    /// Where `raw_headers` sits in the message.
    pub fn headers_range(&self) -> Range<usize> {
        self.headers_range.clone()
    }

    /// Where `body` sits in the message.
    pub fn body_range(&self) -> Range<usize> {
        self.body_range.clone()
    }
}

/// A parsed multipart body: borrowed source plus where each piece lies in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multipart<'a> {
    src: &'a [u8],
    boundary: String,
    dash_boundary: Vec<u8>,
    preamble: Range<usize>,
    epilogue: Range<usize>,
    parts: Vec<Part<'a>>,
}

impl<'a> Multipart<'a> {
    /// Splits `body` at the delimiters of `boundary` (the unquoted parameter value).
    pub fn parse(body: &'a [u8], boundary: &str) -> Result<Multipart<'a>, MultipartError> {
        Self::parse_inner(body, boundary, false)
    }

    /// [`Multipart::parse`] for an upstream *answer*: a last part that runs to the end
    /// of the body without the close delimiter is accepted as ending there (the
    /// epilogue is then empty). X-Road delivers such answers, so a service's fault in
    /// one must reach the client as that fault. Requests stay strict.
    pub fn parse_lenient(body: &'a [u8], boundary: &str) -> Result<Multipart<'a>, MultipartError> {
        Self::parse_inner(body, boundary, true)
    }

    fn parse_inner(
        body: &'a [u8],
        boundary: &str,
        lenient_end: bool,
    ) -> Result<Multipart<'a>, MultipartError> {
        if boundary.is_empty() || boundary.contains(['\r', '\n']) {
            return Err(MultipartError::BadBoundary(boundary.to_string()));
        }
        let dash_boundary = [b"--", boundary.as_bytes()].concat();
        let first = find_delimiter(body, 0, &dash_boundary)
            .ok_or_else(|| MultipartError::BoundaryNotFound(boundary.to_string()))?;
        if first.close {
            return Err(MultipartError::NoParts(boundary.to_string()));
        }
        let preamble = 0..first.start.saturating_sub(eol_before(body, first.start));
        let mut parts = Vec::new();
        let mut opening = first;
        let epilogue = loop {
            let index = parts.len();
            let Some(next) = find_delimiter(body, opening.line_end, &dash_boundary) else {
                if lenient_end {
                    parts.push(parse_part(body, index, opening.line_end, body.len())?);
                    break body.len()..body.len();
                }
                return Err(MultipartError::MissingCloseDelimiter {
                    index,
                    boundary: boundary.to_string(),
                });
            };
            parts.push(parse_part(body, index, opening.line_end, next.start)?);
            if next.close {
                break next.line_end..body.len();
            }
            opening = next;
        };
        Ok(Multipart {
            src: body,
            boundary: boundary.to_string(),
            dash_boundary,
            preamble,
            epilogue,
            parts,
        })
    }

    pub fn parts(&self) -> &[Part<'a>] {
        &self.parts
    }

    pub fn boundary(&self) -> &str {
        &self.boundary
    }

    /// The bytes this message was parsed from.
    pub fn source(&self) -> &'a [u8] {
        self.src
    }

    /// Text before the first delimiter, without the line ending that belongs to it.
    pub fn preamble(&self) -> &'a [u8] {
        self.src.get(self.preamble.clone()).unwrap_or_default()
    }

    /// Everything after the close delimiter line.
    pub fn epilogue(&self) -> &'a [u8] {
        self.src.get(self.epilogue.clone()).unwrap_or_default()
    }

    /// The root (SOAP) part: the one whose Content-ID equals `start` (compared with
    /// or without `<>`), else the first part. An empty `start` counts as absent.
    pub fn root_index(&self, start: Option<&str>) -> Result<usize, MultipartError> {
        let wanted = start.map(normalize_content_id).unwrap_or_default();
        if wanted.is_empty() {
            return Ok(0);
        }
        self.parts
            .iter()
            .position(|p| p.content_id().as_deref() == Some(wanted.as_str()))
            .ok_or_else(|| MultipartError::StartNotFound(start.unwrap_or_default().to_string()))
    }

    /// The part a reference points at: a `cid:` URL as in `href="cid:…"`, swaRef
    /// text or `xop:Include` (percent-decoded, RFC 2392), or a bare Content-ID.
    pub fn find_content_id(&self, reference: &str) -> Option<usize> {
        let trimmed = reference.trim();
        let id = match trimmed.get(..4) {
            // A `%` without two hex digits stays as written; bytes that are not
            // UTF-8 become U+FFFD (a Content-ID is text).
            Some(scheme) if scheme.eq_ignore_ascii_case("cid:") => {
                percent_decode_str(trimmed.get(4..).unwrap_or_default())
                    .decode_utf8_lossy()
                    .into_owned()
            }
            _ => trimmed.to_string(),
        };
        let wanted = normalize_content_id(&id);
        if wanted.is_empty() {
            return None;
        }
        self.parts
            .iter()
            .position(|p| p.content_id().as_deref() == Some(wanted.as_str()))
    }

    /// Rebuilds the whole body with part `index`'s body replaced by `new_body`;
    /// every other byte is copied unchanged. When the body changes, a `Content-Length`
    /// header of the part is rewritten unless it already states the new length.
    ///
    /// Infallible by design, for callers that already validated `index` (e.g. from
    /// [`Multipart::root_index`]): an out-of-range index returns an unchanged copy,
    /// and `new_body` is not checked for the delimiter. The gateway path should use
    /// [`Multipart::try_replace_part_body`], which reports both.
    ///
    /// The line ending before the next delimiter is kept as the message had it. In a
    /// bare-LF message a `new_body` ending in `\r` would therefore read back without
    /// that `\r` (the `\r\n` looks like the delimiter's); envelopes never end that way.
    pub fn replace_part_body(&self, index: usize, new_body: &[u8]) -> Vec<u8> {
        match self.parts.get(index) {
            Some(part) => self.splice(part, new_body),
            None => self.src.to_vec(),
        }
    }

    /// [`Multipart::replace_part_body`] that refuses an out-of-range index and a
    /// `new_body` containing a delimiter line (a rewritten envelope must not be able
    /// to cut the message short or smuggle in a part).
    pub fn try_replace_part_body(
        &self,
        index: usize,
        new_body: &[u8],
    ) -> Result<Vec<u8>, MultipartError> {
        let part = self
            .parts
            .get(index)
            .ok_or(MultipartError::PartIndexOutOfRange {
                index,
                count: self.parts.len(),
            })?;
        // The new body starts at a line start and is followed by a line ending, so a
        // delimiter anywhere in it, even unterminated at its end, would be live.
        if find_delimiter(new_body, 0, &self.dash_boundary).is_some() {
            return Err(MultipartError::DelimiterInBody {
                index,
                boundary: self.boundary.clone(),
            });
        }
        Ok(self.splice(part, new_body))
    }

    fn splice(&self, part: &Part<'_>, new_body: &[u8]) -> Vec<u8> {
        let src = self.src;
        let old_len = part.body_range.len();
        let mut out = Vec::with_capacity(
            src.len()
                .saturating_sub(old_len)
                .saturating_add(new_body.len())
                .saturating_add(24),
        );
        let mut copied = 0;
        // An unchanged body leaves the headers alone, whatever they state: the
        // promise is byte-for-byte pass-through of everything we did not change.
        let lengths: &[Range<usize>] = if new_body == part.body {
            &[]
        } else {
            &part.length_values
        };
        for value in lengths {
            let stated = src
                .get(value.clone())
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.parse::<usize>().ok());
            // A value that is already right stays as written (e.g. with leading zeros).
            if stated == Some(new_body.len()) {
                continue;
            }
            out.extend_from_slice(src.get(copied..value.start).unwrap_or_default());
            out.extend_from_slice(new_body.len().to_string().as_bytes());
            copied = value.end;
        }
        out.extend_from_slice(src.get(copied..part.body_range.start).unwrap_or_default());
        if let Some(eol) = part.missing_blank_line {
            if !new_body.is_empty() {
                out.extend_from_slice(eol);
            }
        }
        out.extend_from_slice(new_body);
        out.extend_from_slice(src.get(part.body_range.end..).unwrap_or_default());
        out
    }
}

/// One part for [`build`]: headers in the order to write them, and the body.
pub type BuildPart = (Vec<(String, String)>, Vec<u8>);

/// Builds a fresh `multipart/related` body: CRLF line endings, parts in the given
/// order (the first is the root), and the `Content-Type` value to send with it
/// (`type`, `start` from the first part's Content-ID, `start-info` for MTOM,
/// `boundary`).
///
/// The caller picks a boundary that occurs in no part. CR and LF in header names or
/// values are written as spaces, so a bad value cannot inject headers or end the
/// header block early.
pub fn build(boundary: &str, root_media_type: &str, parts: &[BuildPart]) -> (Vec<u8>, String) {
    let size: usize = parts
        .iter()
        .map(|(headers, body)| {
            let header_len: usize = headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
            boundary.len() + header_len + body.len() + 8
        })
        .sum();
    let mut out = Vec::with_capacity(size + boundary.len() + 8);
    for (headers, body) in parts {
        out.extend_from_slice(b"--");
        push_header_text(&mut out, boundary);
        out.extend_from_slice(b"\r\n");
        for (name, value) in headers {
            push_header_text(&mut out, name);
            out.extend_from_slice(b": ");
            push_header_text(&mut out, value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"--");
    push_header_text(&mut out, boundary);
    out.extend_from_slice(b"--\r\n");

    let root_header = |wanted: &str| {
        parts.first().and_then(|(headers, _)| {
            headers
                .iter()
                .find(|(n, _)| n.trim().eq_ignore_ascii_case(wanted))
                .map(|(_, v)| v.trim())
        })
    };
    let mut content_type = String::from("multipart/related");
    if !root_media_type.is_empty() {
        push_param(&mut content_type, "type", root_media_type);
    }
    if let Some(cid) = root_header("content-id") {
        if cid.starts_with('<') {
            push_param(&mut content_type, "start", cid);
        } else {
            push_param(&mut content_type, "start", &format!("<{cid}>"));
        }
    }
    // MTOM (XOP) names the envelope's real media type in `start-info`; take it from
    // the root part's `type` parameter so the two can't disagree.
    if root_media_type.eq_ignore_ascii_case("application/xop+xml") {
        let inner = root_header("content-type")
            .and_then(|ct| ContentType::parse(ct).ok())
            .and_then(|ct| ct.param("type").map(str::to_string));
        if let Some(inner) = inner {
            push_param(&mut content_type, "start-info", &inner);
        }
    }
    push_param(&mut content_type, "boundary", boundary);
    (out, content_type)
}

fn push_header_text(out: &mut Vec<u8>, text: &str) {
    out.extend(
        text.bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
}

/// Appends `; name="value"`. Always quoted: that is valid for every value and keeps
/// boundaries with `=`, `:` or `/` intact.
fn push_param(out: &mut String, name: &str, value: &str) {
    out.push_str("; ");
    out.push_str(name);
    out.push_str("=\"");
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' => out.push(' '),
            _ => out.push(c),
        }
    }
    out.push('"');
}

/// A delimiter line: `start` is where `--boundary` begins, `line_end` is just past
/// the line ending (or the end of input).
#[derive(Debug, Clone, Copy)]
struct Delimiter {
    start: usize,
    close: bool,
    line_end: usize,
}

/// Is there a delimiter line starting exactly at `at`? The caller has checked that
/// `at` is at a line start.
fn delimiter_at(src: &[u8], at: usize, dash_boundary: &[u8]) -> Option<Delimiter> {
    let after = src.get(at..)?.strip_prefix(dash_boundary)?;
    let (close, after) = match after.strip_prefix(b"--") {
        Some(rest) => (true, rest),
        None => (false, after),
    };
    let padding = after
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    let tail = after.get(padding..)?;
    let eol = if tail.starts_with(b"\r\n") {
        2
    } else if tail.starts_with(b"\n") {
        1
    } else if tail.is_empty() {
        0
    } else {
        // `--boundaryX…`: a longer string that starts with our boundary (a nested
        // part's boundary, say); not ours.
        return None;
    };
    Some(Delimiter {
        start: at,
        close,
        line_end: src.len() - tail.len() + eol,
    })
}

/// First delimiter line starting at or after `from`, where `from` is 0 or just past
/// a line ending.
fn find_delimiter(src: &[u8], from: usize, dash_boundary: &[u8]) -> Option<Delimiter> {
    if from == 0 {
        if let Some(d) = delimiter_at(src, 0, dash_boundary) {
            return Some(d);
        }
    }
    // Look for the newline that precedes the delimiter; starting one byte early lets
    // a delimiter sit right at `from`.
    let mut search = from.saturating_sub(1);
    while let Some(nl) = memchr_from(b'\n', src, search, src.len()) {
        let at = nl + 1;
        if at >= from {
            if let Some(d) = delimiter_at(src, at, dash_boundary) {
                return Some(d);
            }
        }
        search = at;
    }
    None
}

/// Length of the line ending just before `at` (0 at the start of input).
fn eol_before(src: &[u8], at: usize) -> usize {
    match at.checked_sub(1).and_then(|i| src.get(i)) {
        Some(b'\n') => {
            if at >= 2 && src.get(at - 2) == Some(&b'\r') {
                2
            } else {
                1
            }
        }
        _ => 0,
    }
}

/// Splits the bytes between an opening delimiter line (`start`) and the next
/// delimiter (`next`) into headers and body.
fn parse_part(
    src: &[u8],
    index: usize,
    start: usize,
    next: usize,
) -> Result<Part<'_>, MultipartError> {
    // Find the blank line. The scan runs up to the next delimiter itself, because
    // the blank line may be the very line ending that precedes the delimiter (a part
    // with headers and no body).
    let mut line_start = start;
    let (blank_start, blank_end) = loop {
        let nl = memchr_from(b'\n', src, line_start, next)
            .ok_or(MultipartError::UnterminatedHeaders { index })?;
        let line = src.get(line_start..nl).unwrap_or_default();
        if line.is_empty() || line == b"\r" {
            break (line_start, nl + 1);
        }
        line_start = nl + 1;
    };
    let (headers, length_values) = parse_headers(src, start..blank_start, index)?;

    let delimiter_eol_start = next.saturating_sub(eol_before(src, next));
    let (body_range, missing_blank_line) = if blank_end <= delimiter_eol_start {
        (blank_end..delimiter_eol_start, None)
    } else {
        let eol: &'static [u8] = if blank_end - blank_start == 2 {
            b"\r\n"
        } else {
            b"\n"
        };
        (blank_start..blank_start, Some(eol))
    };
    Ok(Part {
        raw_headers: src.get(start..blank_start).unwrap_or_default(),
        headers,
        body: src.get(body_range.clone()).unwrap_or_default(),
        headers_range: start..blank_start,
        body_range,
        missing_blank_line,
        length_values,
    })
}

type ParsedHeaders = (Vec<(String, String)>, Vec<Range<usize>>);

/// Parses a header block whose every line ends with a line ending. Returns the
/// headers and the source ranges of `Content-Length` values.
fn parse_headers(
    src: &[u8],
    block: Range<usize>,
    index: usize,
) -> Result<ParsedHeaders, MultipartError> {
    let bad = |reason| MultipartError::BadPartHeaders { index, reason };
    let mut headers = Vec::new();
    let mut length_values = Vec::new();
    // The header being read: name, unfolded value bytes, raw value range.
    let mut current: Option<(String, Vec<u8>, Range<usize>)> = None;
    let mut finish = |current: Option<(String, Vec<u8>, Range<usize>)>| {
        if let Some((name, value, raw)) = current {
            if name == "content-length" {
                length_values.push(trim_range(src, raw));
            }
            let value = String::from_utf8_lossy(value.trim_ascii()).into_owned();
            headers.push((name, value));
        }
    };
    let mut line_start = block.start;
    while line_start < block.end {
        let nl = memchr_from(b'\n', src, line_start, block.end).unwrap_or(block.end);
        let line = src.get(line_start..nl).unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line_end = line_start + line.len();
        if let Some(&(b' ' | b'\t')) = line.first() {
            // RFC 5322 unfolding: drop the line break, keep the whitespace.
            let Some((_, value, raw)) = current.as_mut() else {
                return Err(bad("continuation line before any header"));
            };
            value.extend_from_slice(line);
            raw.end = line_end;
        } else {
            let colon = line
                .iter()
                .position(|&b| b == b':')
                .ok_or_else(|| bad("header line without `:`"))?;
            let name = line.get(..colon).unwrap_or_default().trim_ascii_end();
            if name.is_empty() || !name.iter().all(|b| b.is_ascii_graphic()) {
                return Err(bad(
                    "empty header name or one with whitespace or control characters",
                ));
            }
            let value_start = line_start + colon + 1;
            finish(current.take());
            current = Some((
                String::from_utf8_lossy(name).to_ascii_lowercase(),
                line.get(colon + 1..).unwrap_or_default().to_vec(),
                value_start..line_end,
            ));
        }
        line_start = nl + 1;
    }
    finish(current);
    Ok((headers, length_values))
}

fn trim_range(src: &[u8], range: Range<usize>) -> Range<usize> {
    let bytes = src.get(range.clone()).unwrap_or_default();
    let lead = bytes.len() - bytes.trim_ascii_start().len();
    let trail = bytes.len() - bytes.trim_ascii_end().len();
    if lead == bytes.len() {
        return range.start..range.start;
    }
    range.start + lead..range.end - trail
}

/// Position of `needle` in `hay[from..to]`, as an index into `hay`.
fn memchr_from(needle: u8, hay: &[u8], from: usize, to: usize) -> Option<usize> {
    let window = hay.get(from..to.min(hay.len()))?;
    memchr(needle, window).map(|i| from + i)
}

/// First position of `needle` in `hay`, eight bytes per step (SWAR): XOR turns
/// matching bytes into zero bytes, and the classic `(x - 0x01..) & !x & 0x80..` test
/// flags them. Borrows only run upwards, so in a little-endian word the lowest
/// flagged byte is always a real match.
fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let pattern = u64::from_ne_bytes([needle; 8]);
    let mut chunks = hay.chunks_exact(8);
    let mut offset = 0;
    for chunk in chunks.by_ref() {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else {
            // Unreachable with chunks_exact(8); scanning bytewise keeps it correct anyway.
            if let Some(i) = chunk.iter().position(|&b| b == needle) {
                return Some(offset + i);
            }
            offset += chunk.len();
            continue;
        };
        let x = u64::from_le_bytes(word) ^ pattern;
        let found = x.wrapping_sub(ONES) & !x & HIGHS;
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|i| offset + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a readable message with CRLF line endings.
    fn crlf(text: &str) -> Vec<u8> {
        text.replace('\n', "\r\n").into_bytes()
    }

    const ENVELOPE: &str = "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\">\
<s:Header><t:ref xmlns:t=\"urn:dualroad:test\">req-0042</t:ref></s:Header>\
<s:Body><t:fetch xmlns:t=\"urn:dualroad:test\"><t:file href=\"cid:blob-1@dualroad.test\"/></t:fetch></s:Body>\
</s:Envelope>";

    const NEW_ENVELOPE: &str = "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\">\
<s:Header><u:ref xmlns:u=\"urn:dualroad:uxp\">rewritten</u:ref></s:Header><s:Body/></s:Envelope>";

    /// Binary attachment: gzip-like magic, NUL, invalid UTF-8, line endings and
    /// things that start like a delimiter but are not one.
    fn binary_blob() -> Vec<u8> {
        let mut blob = vec![0x1f, 0x8b, 0x08, 0x00, 0x00, 0xff, 0xfe, 0x00, b'\r', b'\n'];
        blob.extend_from_slice(b"--dr-binX\r\n-- dr-bin\n\x00--dr-bin\x80\r\n");
        blob.extend((0u8..=255).rev());
        blob.extend_from_slice(b"\r\n\r\n\x00\xc3\x28");
        blob
    }

    struct Fixture {
        name: &'static str,
        body: Vec<u8>,
        boundary: &'static str,
        start: Option<&'static str>,
    }

    fn swa_crlf() -> Fixture {
        Fixture {
            name: "swa_crlf",
            boundary: "dr-swa-1",
            start: Some("<soap-root@dualroad.test>"),
            body: crlf(&format!(
                "--dr-swa-1
Content-Type: text/xml; charset=UTF-8
Content-Transfer-Encoding: 8bit
Content-ID: <soap-root@dualroad.test>

{ENVELOPE}
--dr-swa-1
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64
Content-ID: <blob-1@dualroad.test>

ZHVhbHJvYWQgdGVzdCBkYXRh
--dr-swa-1--
"
            )),
        }
    }

    fn swa_bare_lf() -> Fixture {
        Fixture {
            name: "swa_bare_lf",
            boundary: "dr-lf",
            start: None,
            body: format!(
                "--dr-lf\nContent-Type: text/xml\nContent-ID: <soap-root@dualroad.test>\n\n{ENVELOPE}\n\
--dr-lf\nContent-Type: text/plain\nContent-ID: <note@dualroad.test>\n\nline one\nline two\n--dr-lf--\n"
            )
            .into_bytes(),
        }
    }

    fn mixed_line_endings() -> Fixture {
        Fixture {
            name: "mixed_line_endings",
            boundary: "dr-mix",
            start: None,
            body: format!(
                "--dr-mix\r\nContent-Type: text/xml\r\n\r\n{ENVELOPE}\n--dr-mix\nContent-Type: text/plain\r\n\nunix body\r\n--dr-mix--"
            )
            .into_bytes(),
        }
    }

    fn transport_padding() -> Fixture {
        Fixture {
            name: "transport_padding",
            boundary: "dr-pad",
            start: None,
            body: crlf(&format!(
                "--dr-pad  \t
Content-Type: text/xml

{ENVELOPE}
--dr-pad\t
Content-Type: text/plain

padded
--dr-pad-- \t
"
            )),
        }
    }

    fn preamble_epilogue() -> Fixture {
        Fixture {
            name: "preamble_epilogue",
            boundary: "dr-pre",
            start: None,
            body: crlf(&format!(
                "This is a preamble a MIME reader ignores.
It has two lines and mentions dr-pre and even --dr-pre mid-line.
--dr-pre
Content-Type: text/xml

{ENVELOPE}
--dr-pre
Content-Type: text/plain

x
--dr-pre--
Epilogue line one.
Epilogue line two, no final newline"
            )),
        }
    }

    fn special_boundary() -> Fixture {
        Fixture {
            name: "special_boundary",
            boundary: "----=_Part_17_dr.1722:x=_",
            start: Some("soap@dualroad.test"),
            body: crlf(&format!(
                "------=_Part_17_dr.1722:x=_
Content-Type: text/xml
Content-ID: <soap@dualroad.test>

{ENVELOPE}
------=_Part_17_dr.1722:x=_
Content-Type: text/plain

body with = and . and _ and :
------=_Part_17_dr.1722:x=_--
"
            )),
        }
    }

    fn lookalike() -> Fixture {
        Fixture {
            name: "lookalike",
            boundary: "dr-look",
            start: None,
            body: crlf(&format!(
                "--dr-look
Content-Type: text/xml

{ENVELOPE}
--dr-look
Content-Type: text/plain

mid-line --dr-look is not a delimiter
 --dr-look indented is not one either
--dr-look-longer starts with it but is longer
--dr-lookX neither
--dr-look--trailing is no close delimiter
end of text
--dr-look--
"
            )),
        }
    }

    fn content_ids() -> Fixture {
        Fixture {
            name: "content_ids",
            boundary: "dr-cid",
            start: Some("<soap@dualroad.test>"),
            body: crlf(&format!(
                "--dr-cid
Content-Type: text/xml
Content-ID: <soap@dualroad.test>

{ENVELOPE}
--dr-cid
Content-Type: text/plain
Content-ID: attachment_0_7

no brackets
--dr-cid
Content-Type: text/plain
Content-ID:
 <folded-after-colon@dualroad.test>

folded after the colon
--dr-cid
Content-Type: text/plain
content-id: <folded-inside-
\tthe-id@dualroad.test>

folded inside the id
--dr-cid--
"
            )),
        }
    }

    fn legacy_binary() -> Fixture {
        let mut body = crlf(&format!(
            "--dr-bin
Content-Type: text/xml; charset=utf-8
Content-Transfer-Encoding: 8bit

{ENVELOPE}
--dr-bin
Content-Type: {{http://www.w3.org/2001/XMLSchema}}base64Binary
Content-Encoding: gzip
Content-Transfer-Encoding: binary
Content-ID: blob-1@dualroad.test

"
        ));
        body.extend_from_slice(&binary_blob());
        body.extend_from_slice(b"\r\n--dr-bin--\r\n");
        Fixture {
            name: "legacy_binary",
            boundary: "dr-bin",
            start: None,
            body,
        }
    }

    fn nested_mixed() -> Fixture {
        // The inner boundary starts with the outer one on purpose.
        Fixture {
            name: "nested_mixed",
            boundary: "dr-outer",
            start: None,
            body: crlf(&format!(
                "--dr-outer
Content-Type: text/xml

{ENVELOPE}
--dr-outer
Content-Type: multipart/mixed; boundary=\"dr-outer-inner\"
Content-ID: <bundle@dualroad.test>

--dr-outer-inner
Content-Type: text/plain

inner one
--dr-outer-inner
Content-Type: application/octet-stream

inner two
--dr-outer-inner--
--dr-outer--
"
            )),
        }
    }

    fn mtom() -> Fixture {
        Fixture {
            name: "mtom",
            boundary: "dr-mtom",
            start: Some("<mtom-root@dualroad.test>"),
            body: crlf(
                "--dr-mtom
Content-Type: application/xop+xml; charset=UTF-8; type=\"text/xml\"
Content-Transfer-Encoding: 8bit
Content-ID: <mtom-root@dualroad.test>

<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><t:put xmlns:t=\"urn:dualroad:test\"><t:data><xop:Include xmlns:xop=\"http://www.w3.org/2004/08/xop/include\" href=\"cid:scan%2F1@dualroad.test\"/></t:data></t:put></s:Body></s:Envelope>
--dr-mtom
Content-Type: application/octet-stream
Content-Transfer-Encoding: binary
Content-ID: <scan/1@dualroad.test>

raw bytes here
--dr-mtom--
",
            ),
        }
    }

    fn mtom_root_second() -> Fixture {
        Fixture {
            name: "mtom_root_second",
            boundary: "dr-m2",
            start: Some("mtom-root@dualroad.test"),
            body: crlf(&format!(
                "--dr-m2
Content-Type: application/octet-stream
Content-ID: <first-blob@dualroad.test>

blob first
--dr-m2
Content-Type: application/xop+xml; type=\"text/xml\"
Content-ID: <mtom-root@dualroad.test>

{ENVELOPE}
--dr-m2--
"
            )),
        }
    }

    fn with_content_length() -> Fixture {
        Fixture {
            name: "with_content_length",
            boundary: "dr-len",
            start: None,
            body: crlf(&format!(
                "--dr-len
Content-Type: text/xml
Content-Length: {}
X-Trailing: kept

{ENVELOPE}
--dr-len
Content-Type: text/plain
Content-Length:  0005

hello
--dr-len--
",
                ENVELOPE.len()
            )),
        }
    }

    fn empty_parts() -> Fixture {
        // Part 1: headers, then the delimiter right away (no blank line of its own).
        // Part 2: neither headers nor body.
        Fixture {
            name: "empty_parts",
            boundary: "dr-empty",
            start: None,
            body: crlf(&format!(
                "--dr-empty
Content-Type: text/xml

{ENVELOPE}
--dr-empty
Content-Type: text/plain
Content-ID: <nothing@dualroad.test>

--dr-empty

--dr-empty--
"
            )),
        }
    }

    fn built() -> Fixture {
        let (body, _) = build(
            "dr-built",
            "text/xml",
            &[
                (
                    vec![("Content-Type".into(), "text/xml".into())],
                    ENVELOPE.as_bytes().to_vec(),
                ),
                (vec![], binary_blob()),
            ],
        );
        Fixture {
            name: "built",
            boundary: "dr-built",
            start: None,
            body,
        }
    }

    fn fixtures() -> Vec<Fixture> {
        vec![
            swa_crlf(),
            swa_bare_lf(),
            mixed_line_endings(),
            transport_padding(),
            preamble_epilogue(),
            special_boundary(),
            lookalike(),
            content_ids(),
            legacy_binary(),
            nested_mixed(),
            mtom(),
            mtom_root_second(),
            with_content_length(),
            empty_parts(),
            built(),
        ]
    }

    fn parse(f: &Fixture) -> Multipart<'_> {
        match Multipart::parse(&f.body, f.boundary) {
            Ok(m) => m,
            Err(e) => panic!("{}: {e}", f.name),
        }
    }

    // --- ContentType -------------------------------------------------------------

    #[test]
    fn content_type_params_case_and_spacing() {
        let ct = ContentType::parse(
            "Multipart/Related ; Type = \"text/xml\";START=\"<soap@dualroad.test>\" ;  Boundary = dr-b.1",
        )
        .unwrap();
        assert_eq!(ct.media_type, "multipart/related");
        assert!(ct.is_multipart());
        assert_eq!(ct.param("type"), Some("text/xml"));
        assert_eq!(ct.param("TYPE"), Some("text/xml"));
        assert_eq!(ct.start(), Some("<soap@dualroad.test>"));
        assert_eq!(ct.boundary(), Some("dr-b.1"));
        assert_eq!(ct.multipart_boundary(), Ok("dr-b.1"));
        assert_eq!(ct.charset(), None);
        assert_eq!(ct.params[0].0, "type");
    }

    #[test]
    fn content_type_quoted_string_escapes() {
        let ct = ContentType::parse(
            r#"multipart/related; boundary="dr \"q\" \\ ;=:"; start="<a;b@dualroad.test>""#,
        )
        .unwrap();
        assert_eq!(ct.boundary(), Some(r#"dr "q" \ ;=:"#));
        assert_eq!(ct.start(), Some("<a;b@dualroad.test>"));
    }

    #[test]
    fn content_type_missing_values_and_trailing_semicolons() {
        let ct = ContentType::parse("text/xml; charset=").unwrap();
        assert_eq!(ct.charset(), Some(""));
        let ct = ContentType::parse("text/xml;;  ; charset ; action=\"\" ;").unwrap();
        assert_eq!(ct.charset(), Some(""));
        assert_eq!(ct.param("action"), Some(""));
        assert_eq!(ct.params.len(), 2);
        let ct = ContentType::parse(" TEXT/XML ").unwrap();
        assert_eq!(ct.media_type, "text/xml");
        assert!(ct.params.is_empty());
        assert!(!ct.is_multipart());
    }

    #[test]
    fn content_type_folded_value_and_duplicates() {
        let ct = ContentType::parse(
            "multipart/mixed; type=\"text/xml\";\r\n\tboundary=\"dr-fold\";\r\n boundary=ignored; charset=ISO-8859-1",
        )
        .unwrap();
        assert!(ct.is_multipart());
        assert_eq!(ct.boundary(), Some("dr-fold"));
        assert_eq!(ct.charset(), Some("ISO-8859-1"));
    }

    #[test]
    fn content_type_errors() {
        for bad in [
            "",
            "   ",
            "textxml",
            "text/",
            "/xml",
            "text/x ml",
            "{http://www.w3.org/2001/XMLSchema}base64Binary",
            "multipart/related; boundary=\"unterminated",
            "multipart/related; boundary=\"dr\\",
            "multipart/related; boundary=\"dr\"junk; type=x",
            "multipart/related; =value",
        ] {
            let err = ContentType::parse(bad).unwrap_err();
            assert!(
                matches!(err, MultipartError::BadContentType { .. }),
                "{bad:?}: {err:?}"
            );
            assert!(err.to_string().contains("malformed Content-Type"));
        }
    }

    #[test]
    fn no_boundary_param_and_not_multipart() {
        let ct = ContentType::parse("multipart/related; type=\"text/xml\"").unwrap();
        assert_eq!(
            ct.multipart_boundary(),
            Err(MultipartError::MissingBoundary)
        );
        assert_eq!(
            MultipartError::MissingBoundary.to_string(),
            "multipart Content-Type has no `boundary` parameter"
        );
        let ct = ContentType::parse("text/xml; boundary=x").unwrap();
        assert_eq!(
            ct.multipart_boundary(),
            Err(MultipartError::NotMultipart("text/xml".into()))
        );
    }

    #[test]
    fn content_type_never_panics_on_prefixes() {
        let s = "multipart/related; b\u{f6}undary=\"\u{e4}\\\u{fc}x\"; t=\u{20ac};";
        for (i, _) in s.char_indices() {
            let _ = ContentType::parse(&s[..i]);
            let _ = ContentType::parse(&s[i..]);
        }
    }

    // --- Parsing -------------------------------------------------------------------

    #[test]
    fn parses_swa_with_crlf() {
        let f = swa_crlf();
        let m = parse(&f);
        assert_eq!(m.boundary(), "dr-swa-1");
        assert_eq!(m.parts().len(), 2);
        let root = &m.parts()[0];
        assert_eq!(root.body, ENVELOPE.as_bytes());
        assert_eq!(
            root.raw_headers,
            b"Content-Type: text/xml; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\nContent-ID: <soap-root@dualroad.test>\r\n"
        );
        assert_eq!(root.content_type(), Some("text/xml; charset=UTF-8"));
        assert_eq!(root.header("CONTENT-TRANSFER-ENCODING"), Some("8bit"));
        assert_eq!(root.headers[2].0, "content-id");
        assert_eq!(
            root.content_id().as_deref(),
            Some("soap-root@dualroad.test")
        );
        let blob = &m.parts()[1];
        assert_eq!(blob.body, b"ZHVhbHJvYWQgdGVzdCBkYXRh");
        assert_eq!(&f.body[blob.body_range()], blob.body);
        assert_eq!(&f.body[blob.headers_range()], blob.raw_headers);
        assert_eq!(m.preamble(), b"");
        assert_eq!(m.epilogue(), b"");
        assert_eq!(m.root_index(f.start), Ok(0));
        assert_eq!(m.find_content_id("cid:blob-1@dualroad.test"), Some(1));
    }

    #[test]
    fn parses_bare_lf_and_mixed_endings() {
        let f = swa_bare_lf();
        let m = parse(&f);
        assert_eq!(m.parts().len(), 2);
        assert_eq!(m.parts()[0].body, ENVELOPE.as_bytes());
        assert_eq!(
            m.parts()[0].raw_headers,
            b"Content-Type: text/xml\nContent-ID: <soap-root@dualroad.test>\n"
        );
        assert_eq!(m.parts()[1].body, b"line one\nline two");
        assert_eq!(
            m.parts()[1].content_id().as_deref(),
            Some("note@dualroad.test")
        );

        let f = mixed_line_endings();
        let m = parse(&f);
        assert_eq!(m.parts()[0].body, ENVELOPE.as_bytes());
        assert_eq!(m.parts()[1].body, b"unix body");
        assert_eq!(m.parts()[1].content_type(), Some("text/plain"));
        // Close delimiter at the very end, without a line ending.
        assert_eq!(m.epilogue(), b"");
    }

    #[test]
    fn transport_padding_after_boundary() {
        let f = transport_padding();
        let m = parse(&f);
        assert_eq!(m.parts().len(), 2);
        assert_eq!(m.parts()[0].body, ENVELOPE.as_bytes());
        assert_eq!(m.parts()[1].body, b"padded");
        assert_eq!(m.epilogue(), b"");
    }

    #[test]
    fn preamble_and_epilogue_are_kept() {
        let f = preamble_epilogue();
        let m = parse(&f);
        assert_eq!(
            m.preamble(),
            b"This is a preamble a MIME reader ignores.\r\nIt has two lines and mentions dr-pre and even --dr-pre mid-line."
        );
        assert_eq!(
            m.epilogue(),
            b"Epilogue line one.\r\nEpilogue line two, no final newline"
        );
        assert_eq!(m.parts().len(), 2);
        assert_eq!(m.parts()[1].body, b"x");
    }

    #[test]
    fn boundary_with_special_characters() {
        let f = special_boundary();
        let m = parse(&f);
        assert_eq!(m.parts().len(), 2);
        assert_eq!(m.parts()[1].body, b"body with = and . and _ and :");
        assert_eq!(m.root_index(f.start), Ok(0));
        // Unquoting the parameter yields the same boundary.
        let ct = ContentType::parse("multipart/related; boundary=\"----=_Part_17_dr.1722:x=_\"")
            .unwrap();
        assert_eq!(ct.boundary(), Some(f.boundary));
    }

    #[test]
    fn boundary_lookalikes_stay_in_the_body() {
        let f = lookalike();
        let m = parse(&f);
        assert_eq!(m.parts().len(), 2);
        let text = std::str::from_utf8(m.parts()[1].body).unwrap();
        assert!(text.starts_with("mid-line --dr-look is not"));
        assert!(text.contains("\r\n--dr-look-longer starts"));
        assert!(text.contains("\r\n--dr-lookX neither"));
        assert!(text.contains("\r\n--dr-look--trailing"));
        assert!(text.ends_with("end of text"));
    }

    #[test]
    fn content_id_forms() {
        let f = content_ids();
        let m = parse(&f);
        let ids: Vec<_> = m.parts().iter().map(|p| p.content_id()).collect();
        assert_eq!(
            ids,
            [
                Some("soap@dualroad.test".to_string()),
                Some("attachment_0_7".to_string()),
                Some("folded-after-colon@dualroad.test".to_string()),
                Some("folded-inside-the-id@dualroad.test".to_string()),
            ]
        );
        // header() unfolds but keeps the folding whitespace, as RFC 5322 says.
        assert_eq!(
            m.parts()[3].header("Content-ID"),
            Some("<folded-inside-\tthe-id@dualroad.test>")
        );
        assert_eq!(
            m.parts()[2].header("content-id"),
            Some("<folded-after-colon@dualroad.test>")
        );
        assert_eq!(m.find_content_id("cid:attachment_0_7"), Some(1));
        assert_eq!(m.find_content_id("<attachment_0_7>"), Some(1));
        assert_eq!(
            m.find_content_id("CID:folded-inside-the-id%40dualroad.test"),
            Some(3)
        );
        assert_eq!(m.find_content_id("cid:missing@dualroad.test"), None);
        assert_eq!(m.find_content_id("cid:"), None);
        assert_eq!(normalize_content_id("  < a@b >\r\n "), "a@b");
    }

    #[test]
    fn legacy_binary_attachment_headers_and_bytes() {
        let f = legacy_binary();
        let m = parse(&f);
        assert_eq!(m.parts().len(), 2);
        let blob = &m.parts()[1];
        assert_eq!(blob.body, binary_blob().as_slice());
        assert_eq!(
            blob.content_type(),
            Some("{http://www.w3.org/2001/XMLSchema}base64Binary")
        );
        assert!(ContentType::parse(blob.content_type().unwrap()).is_err());
        assert_eq!(blob.header("content-encoding"), Some("gzip"));
        assert_eq!(blob.header("content-transfer-encoding"), Some("binary"));
        assert_eq!(blob.content_id().as_deref(), Some("blob-1@dualroad.test"));
        assert_eq!(m.find_content_id("cid:blob-1@dualroad.test"), Some(1));
    }

    #[test]
    fn nested_multipart_is_opaque() {
        let f = nested_mixed();
        let m = parse(&f);
        assert_eq!(m.parts().len(), 2);
        let bundle = &m.parts()[1];
        let ct = ContentType::parse(bundle.content_type().unwrap()).unwrap();
        assert_eq!(ct.media_type, "multipart/mixed");
        assert_eq!(ct.boundary(), Some("dr-outer-inner"));
        assert!(bundle.body.starts_with(b"--dr-outer-inner\r\n"));
        assert!(bundle.body.ends_with(b"inner two\r\n--dr-outer-inner--"));
        // The kept bytes are themselves a valid multipart body.
        let inner = Multipart::parse(bundle.body, "dr-outer-inner").unwrap();
        assert_eq!(inner.parts().len(), 2);
        assert_eq!(inner.parts()[1].body, b"inner two");
    }

    #[test]
    fn cid_references_decode_only_whole_escapes() {
        let ids = [
            "<soap@t>",
            "<a%zz@t>",
            "<p%4@t>",
            "<x%+f@t>",
            "<100%@t>",
            "<a/b c@t>",
            "<\u{fc}@t>",
            "<\u{fffd}@t>",
            "<q+r@t>",
        ];
        let mut body = String::new();
        for id in ids {
            body.push_str(&format!("--b\r\nContent-ID: {id}\r\n\r\nx\r\n"));
        }
        body.push_str("--b--\r\n");
        let m = Multipart::parse(body.as_bytes(), "b").expect("multipart");
        assert_eq!(m.parts().len(), ids.len());
        for (reference, want) in [
            // Not two hex digits after `%`: kept as written.
            ("cid:a%zz@t", Some(1)),
            ("cid:p%4@t", Some(2)),
            ("cid:x%+f@t", Some(3)),
            ("cid:100%@t", Some(4)),
            ("cid:100%25@t", Some(4)),
            // Either case of hex digits; escapes decoded once, not twice.
            ("cid:a%2Fb%20c@t", Some(5)),
            ("cid:a%2fb%20c@t", Some(5)),
            ("cid:a%252Fb@t", None),
            // UTF-8 escapes; bytes that are not UTF-8 become U+FFFD.
            ("cid:%C3%BC@t", Some(6)),
            ("cid:%FF@t", Some(7)),
            ("cid:%C3@t", Some(7)),
            // `+` is not a space in a URL path.
            ("cid:q+r@t", Some(8)),
            ("cid:q%2Br@t", Some(8)),
        ] {
            assert_eq!(m.find_content_id(reference), want, "{reference}");
        }
    }

    #[test]
    fn mtom_root_by_start() {
        let f = mtom();
        let m = parse(&f);
        let root = m.root_index(f.start).unwrap();
        assert_eq!(root, 0);
        let ct = ContentType::parse(m.parts()[root].content_type().unwrap()).unwrap();
        assert_eq!(ct.media_type, "application/xop+xml");
        assert_eq!(ct.param("type"), Some("text/xml"));
        assert_eq!(ct.charset(), Some("UTF-8"));
        // xop:Include hrefs are URLs: `%2F` is the `/` of the Content-ID.
        assert_eq!(m.find_content_id("cid:scan%2F1@dualroad.test"), Some(1));

        let f = mtom_root_second();
        let m = parse(&f);
        assert_eq!(m.root_index(f.start), Ok(1));
        assert_eq!(m.root_index(Some("<mtom-root@dualroad.test>")), Ok(1));
        assert_eq!(m.root_index(Some("  ")), Ok(0));
        assert_eq!(m.root_index(None), Ok(0));
        assert_eq!(
            m.root_index(Some("<other@dualroad.test>")),
            Err(MultipartError::StartNotFound(
                "<other@dualroad.test>".into()
            ))
        );
    }

    #[test]
    fn empty_part_forms() {
        let f = empty_parts();
        let m = parse(&f);
        assert_eq!(m.parts().len(), 3);
        let headers_only = &m.parts()[1];
        assert_eq!(headers_only.body, b"");
        assert_eq!(
            headers_only.content_id().as_deref(),
            Some("nothing@dualroad.test")
        );
        assert_eq!(
            headers_only.raw_headers,
            b"Content-Type: text/plain\r\nContent-ID: <nothing@dualroad.test>\r\n"
        );
        let bare = &m.parts()[2];
        assert_eq!(bare.raw_headers, b"");
        assert!(bare.headers.is_empty());
        assert_eq!(bare.body, b"");
    }

    // --- Errors ------------------------------------------------------------------

    #[test]
    fn error_boundary_never_found() {
        let body = crlf("--dr-other\nContent-Type: text/xml\n\n<x/>\n--dr-other--\n");
        let err = Multipart::parse(&body, "dr-wanted").unwrap_err();
        assert_eq!(err, MultipartError::BoundaryNotFound("dr-wanted".into()));
        assert!(err.to_string().contains("--dr-wanted"));
        assert!(matches!(
            Multipart::parse(b"", "dr"),
            Err(MultipartError::BoundaryNotFound(_))
        ));
        // Only mid-line occurrences: still not found.
        assert!(matches!(
            Multipart::parse(b"text --dr-wanted\r\n", "dr-wanted"),
            Err(MultipartError::BoundaryNotFound(_))
        ));
    }

    #[test]
    fn error_bad_boundary() {
        for b in ["", "dr\r\nx", "dr\n"] {
            assert_eq!(
                Multipart::parse(b"--dr\r\n", b),
                Err(MultipartError::BadBoundary(b.to_string()))
            );
        }
    }

    #[test]
    fn error_truncated_message() {
        let f = swa_crlf();
        let cut = f.body.len() - "--dr-swa-1--\r\n".len();
        let err = Multipart::parse(&f.body[..cut], f.boundary).unwrap_err();
        assert_eq!(
            err,
            MultipartError::MissingCloseDelimiter {
                index: 1,
                boundary: "dr-swa-1".into()
            }
        );
        assert!(err.to_string().contains("truncated"));
        // Cut in the middle of the first part.
        let err = Multipart::parse(&f.body[..80], f.boundary).unwrap_err();
        assert!(matches!(
            err,
            MultipartError::MissingCloseDelimiter { index: 0, .. }
        ));
        // Cut right after an opening delimiter.
        let err = Multipart::parse(b"--dr", "dr").unwrap_err();
        assert!(matches!(
            err,
            MultipartError::MissingCloseDelimiter { index: 0, .. }
        ));
    }

    #[test]
    fn error_no_blank_line_after_headers() {
        let body = crlf("--dr\nContent-Type: text/xml\n<x/>\n--dr--\n");
        assert_eq!(
            Multipart::parse(&body, "dr"),
            Err(MultipartError::UnterminatedHeaders { index: 0 })
        );
        // Second part; and a part that is nothing at all between two delimiters.
        let body = crlf("--dr\n\nok\n--dr\nContent-Type: text/plain\n--dr--\n");
        assert_eq!(
            Multipart::parse(&body, "dr"),
            Err(MultipartError::UnterminatedHeaders { index: 1 })
        );
        let body = crlf("--dr\n--dr--\n");
        assert_eq!(
            Multipart::parse(&body, "dr"),
            Err(MultipartError::UnterminatedHeaders { index: 0 })
        );
    }

    #[test]
    fn error_malformed_header_lines() {
        let body = crlf("--dr\nContent-Type: text/xml\nnot a header\n\n<x/>\n--dr--\n");
        assert!(matches!(
            Multipart::parse(&body, "dr"),
            Err(MultipartError::BadPartHeaders { index: 0, .. })
        ));
        let body = crlf("--dr\n continuation first\n\n<x/>\n--dr--\n");
        let err = Multipart::parse(&body, "dr").unwrap_err();
        assert_eq!(
            err,
            MultipartError::BadPartHeaders {
                index: 0,
                reason: "continuation line before any header"
            }
        );
        assert_eq!(
            err.to_string(),
            "part 0: malformed header block: continuation line before any header"
        );
        let body = crlf("--dr\n: no name\n\n<x/>\n--dr--\n");
        assert!(matches!(
            Multipart::parse(&body, "dr"),
            Err(MultipartError::BadPartHeaders { index: 0, .. })
        ));
    }

    #[test]
    fn error_no_parts() {
        assert_eq!(
            Multipart::parse(b"preamble\r\n--dr--\r\n", "dr"),
            Err(MultipartError::NoParts("dr".into()))
        );
    }

    // --- Rebuilding --------------------------------------------------------------

    #[test]
    fn replace_root_copies_everything_else() {
        let f = legacy_binary();
        let m = parse(&f);
        let out = m.try_replace_part_body(0, NEW_ENVELOPE.as_bytes()).unwrap();
        let root = m.parts()[0].body_range();
        let mut expected = f.body[..root.start].to_vec();
        expected.extend_from_slice(NEW_ENVELOPE.as_bytes());
        expected.extend_from_slice(&f.body[root.end..]);
        assert_eq!(out, expected);
        let again = Multipart::parse(&out, f.boundary).unwrap();
        assert_eq!(again.parts()[0].body, NEW_ENVELOPE.as_bytes());
        assert_eq!(again.parts()[1].body, binary_blob().as_slice());
        assert_eq!(again.parts()[1].raw_headers, m.parts()[1].raw_headers);
    }

    #[test]
    fn replace_updates_content_length() {
        let f = with_content_length();
        let m = parse(&f);
        let out = m.replace_part_body(0, NEW_ENVELOPE.as_bytes());
        let again = Multipart::parse(&out, f.boundary).unwrap();
        let root = &again.parts()[0];
        assert_eq!(
            root.header("content-length"),
            Some(NEW_ENVELOPE.len().to_string().as_str())
        );
        assert_eq!(root.header("x-trailing"), Some("kept"));
        assert_eq!(root.body, NEW_ENVELOPE.as_bytes());
        assert_eq!(
            root.raw_headers,
            format!(
                "Content-Type: text/xml\r\nContent-Length: {}\r\nX-Trailing: kept\r\n",
                NEW_ENVELOPE.len()
            )
            .as_bytes()
        );
        // A value that already states the length is left as written (`  0005`).
        let out = m.replace_part_body(1, b"HELLO");
        assert_eq!(
            out,
            f.body.replace_bytes(b"\r\nhello\r\n", b"\r\nHELLO\r\n")
        );
        // Otherwise only the digits change; spacing before them stays.
        let out = m.replace_part_body(1, b"hi");
        let again = Multipart::parse(&out, f.boundary).unwrap();
        assert!(again.parts()[1]
            .raw_headers
            .ends_with(b"Content-Length:  2\r\n"));
        assert_eq!(again.parts()[1].body, b"hi");
    }

    #[test]
    fn replace_body_of_headers_only_part_adds_blank_line() {
        let f = empty_parts();
        let m = parse(&f);
        for index in [1, 2] {
            let out = m.replace_part_body(index, b"now filled");
            let again = Multipart::parse(&out, f.boundary).unwrap();
            assert_eq!(again.parts()[index].body, b"now filled");
            assert_eq!(
                again.parts()[index].raw_headers,
                m.parts()[index].raw_headers
            );
            assert_eq!(again.parts().len(), 3);
        }
        let lf = b"--dr\nA: b\n\n--dr--\n";
        let m = Multipart::parse(lf, "dr").unwrap();
        assert_eq!(m.parts()[0].body, b"");
        assert_eq!(m.replace_part_body(0, b"x"), b"--dr\nA: b\n\nx\n--dr--\n");
    }

    #[test]
    fn try_replace_rejects_bad_index_and_delimiter_in_body() {
        let f = swa_crlf();
        let m = parse(&f);
        assert_eq!(
            m.try_replace_part_body(2, b"x"),
            Err(MultipartError::PartIndexOutOfRange { index: 2, count: 2 })
        );
        assert_eq!(m.replace_part_body(7, b"x"), f.body);
        for evil in [
            &b"<a/>\r\n--dr-swa-1\r\nContent-Type: text/plain\r\n\r\nsmuggled"[..],
            b"--dr-swa-1--",
            b"<a/>\n--dr-swa-1",
            b"--dr-swa-1 \r\n",
        ] {
            assert!(matches!(
                m.try_replace_part_body(0, evil),
                Err(MultipartError::DelimiterInBody { index: 0, .. })
            ));
        }
        // Boundary text that is not a delimiter line is fine.
        assert!(m
            .try_replace_part_body(0, b"<a>--dr-swa-1</a>\r\n--dr-swa-10")
            .is_ok());
    }

    /// Property over every test message: replacing any part's body by the same bytes
    /// gives the input back exactly; replacing it by other bytes changes that body
    /// and nothing else.
    #[test]
    fn round_trip_every_fixture() {
        for f in fixtures() {
            let m = parse(&f);
            let root = m.root_index(f.start).unwrap();
            assert_eq!(
                m.replace_part_body(root, m.parts()[root].body),
                f.body,
                "{}",
                f.name
            );
            for (index, part) in m.parts().iter().enumerate() {
                assert_eq!(
                    m.replace_part_body(index, part.body),
                    f.body,
                    "{} part {index}",
                    f.name
                );
                let out = m.try_replace_part_body(index, b"\x00replaced\xff").unwrap();
                let again = Multipart::parse(&out, f.boundary)
                    .unwrap_or_else(|e| panic!("{} part {index}: {e}", f.name));
                assert_eq!(again.parts().len(), m.parts().len(), "{}", f.name);
                assert_eq!(again.preamble(), m.preamble(), "{}", f.name);
                assert_eq!(again.epilogue(), m.epilogue(), "{}", f.name);
                for (i, (a, b)) in again.parts().iter().zip(m.parts()).enumerate() {
                    if i == index {
                        assert_eq!(a.body, b"\x00replaced\xff", "{} part {i}", f.name);
                        assert_eq!(a.header("content-id"), b.header("content-id"));
                    } else {
                        assert_eq!(a.body, b.body, "{} part {i}", f.name);
                        assert_eq!(a.raw_headers, b.raw_headers, "{} part {i}", f.name);
                    }
                }
            }
        }
    }

    /// Every prefix and many one-byte mutations of every message: parse and the
    /// rebuild paths must return, never panic.
    #[test]
    fn never_panics_on_damaged_input() {
        let mut seed: u32 = 0x2545_f491;
        for f in fixtures() {
            for cut in 0..f.body.len() {
                exercise(&f.body[..cut], f.boundary);
                exercise(&f.body[cut..], f.boundary);
            }
            let mut damaged = f.body.clone();
            for _ in 0..400 {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let at = seed as usize % damaged.len();
                let byte = b"\r\n-: \t<>\x00"[(seed >> 24) as usize % 9];
                let keep = damaged[at];
                damaged[at] = byte;
                exercise(&damaged, f.boundary);
                damaged[at] = keep;
            }
        }
    }

    fn exercise(body: &[u8], boundary: &str) {
        if let Ok(m) = Multipart::parse(body, boundary) {
            let _ = m.root_index(Some("<soap@dualroad.test>"));
            let _ = m.find_content_id("cid:%zz%4");
            for (i, p) in m.parts().iter().enumerate() {
                assert_eq!(m.replace_part_body(i, p.body), body);
                let _ = m.try_replace_part_body(i, b"x");
                let _ = p.content_id();
            }
        }
    }

    // --- build -------------------------------------------------------------------

    #[test]
    fn build_swa_then_parse() {
        let parts = vec![
            (
                vec![
                    (
                        "Content-Type".to_string(),
                        "text/xml; charset=UTF-8".to_string(),
                    ),
                    ("Content-ID".to_string(), "soap@dualroad.test".to_string()),
                ],
                ENVELOPE.as_bytes().to_vec(),
            ),
            (
                vec![
                    (
                        "Content-Type".to_string(),
                        "{http://www.w3.org/2001/XMLSchema}base64Binary".to_string(),
                    ),
                    ("Content-Encoding".to_string(), "gzip".to_string()),
                    ("X-Evil".to_string(), "a\r\nInjected: yes".to_string()),
                ],
                binary_blob(),
            ),
        ];
        let (body, content_type) = build("dr=built:1", "text/xml", &parts);
        assert_eq!(
            content_type,
            "multipart/related; type=\"text/xml\"; start=\"<soap@dualroad.test>\"; boundary=\"dr=built:1\""
        );
        let ct = ContentType::parse(&content_type).unwrap();
        let m = Multipart::parse(&body, ct.multipart_boundary().unwrap()).unwrap();
        assert_eq!(m.root_index(ct.start()), Ok(0));
        assert_eq!(m.parts().len(), 2);
        assert_eq!(m.parts()[0].body, ENVELOPE.as_bytes());
        assert_eq!(m.parts()[1].body, binary_blob().as_slice());
        assert_eq!(m.parts()[1].header("x-evil"), Some("a  Injected: yes"));
        assert_eq!(m.parts()[1].header("injected"), None);
        assert!(body.starts_with(b"--dr=built:1\r\nContent-Type: text/xml; charset=UTF-8\r\n"));
        assert!(body.ends_with(b"\r\n--dr=built:1--\r\n"));
    }

    #[test]
    fn build_mtom_sets_start_info() {
        let parts = vec![(
            vec![
                (
                    "Content-Type".to_string(),
                    "application/xop+xml; charset=UTF-8; type=\"text/xml\"".to_string(),
                ),
                (
                    "Content-ID".to_string(),
                    "<mtom-root@dualroad.test>".to_string(),
                ),
            ],
            b"<e/>".to_vec(),
        )];
        let (_, content_type) = build("dr-b", "application/xop+xml", &parts);
        let ct = ContentType::parse(&content_type).unwrap();
        assert_eq!(ct.param("type"), Some("application/xop+xml"));
        assert_eq!(ct.start(), Some("<mtom-root@dualroad.test>"));
        assert_eq!(ct.param("start-info"), Some("text/xml"));
        assert_eq!(ct.boundary(), Some("dr-b"));

        let (body, content_type) = build("q\"b", "", &[]);
        assert_eq!(body, b"--q\"b--\r\n");
        assert_eq!(content_type, "multipart/related; boundary=\"q\\\"b\"");
    }

    // --- memchr --------------------------------------------------------------------

    #[test]
    fn memchr_matches_naive_search() {
        let hay: Vec<u8> = (0..300u32).map(|i| (i * 7 % 251) as u8).collect();
        for needle in [0u8, 1, 10, 0x7f, 0x80, 0x81, 0xfe, 0xff] {
            for start in 0..20 {
                for end in [start, start + 1, start + 7, start + 8, start + 9, 150, 300] {
                    let window = &hay[start..end.max(start)];
                    assert_eq!(
                        memchr(needle, window),
                        window.iter().position(|&b| b == needle),
                        "needle {needle} in {start}..{end}"
                    );
                }
            }
        }
        // Zero bytes next to matches are the classic false-positive trap.
        assert_eq!(memchr(0x01, &[0x02, 0x00, 0x01, 0, 0, 0, 0, 0, 0]), Some(2));
        assert_eq!(memchr(0x80, &[0, 0, 0, 0, 0, 0, 0, 0x80]), Some(7));
        assert_eq!(memchr_from(b'a', b"abca", 1, 4), Some(3));
        assert_eq!(memchr_from(b'a', b"abca", 5, 9), None);
    }

    trait ReplaceBytes {
        fn replace_bytes(&self, from: &[u8], to: &[u8]) -> Vec<u8>;
    }

    impl ReplaceBytes for Vec<u8> {
        fn replace_bytes(&self, from: &[u8], to: &[u8]) -> Vec<u8> {
            let at = self.windows(from.len()).position(|w| w == from).unwrap();
            [&self[..at], to, &self[at + from.len()..]].concat()
        }
    }
}
