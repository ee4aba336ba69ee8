//! Structural scan of the Body: proves, in one linear pass over the bytes after the
//! decoded Header, that the document holds exactly one Body with exactly one child
//! element, that the Body and the Envelope are closed exactly once with nothing but
//! whitespace and comments after them, and that the Body is well-formed.
//!
//! Where it sits: [`crate::wire::envelope`] tokenizes the prolog and the Header with
//! quick-xml and stops at the Body's first element; it then hands the rest of the
//! document to [`scan_body`]. Nothing here builds a tree or allocates per element (one
//! stack of name ranges), so a 1 MiB Body costs about a `memchr` sweep (short runs by a
//! byte table, where `memchr`'s set-up would cost more) plus UTF-8 validation, less
//! than quick-xml's event loop over the same bytes (docs/performance.md); the Body is still copied byte for byte by `assemble`, using the ranges
//! returned here.
//!
//! Why a scan of its own and not a text search: markup inside comments, CDATA
//! sections, processing instructions and attribute values is not markup. A text search
//! for the wrapper's name counted `<!--<w>-->` as an element, which let a crafted Body
//! close early and smuggle a second Header (naming another consumer) past identity
//! binding; it also refused a legitimate CDATA section holding `</w>`.
//!
//! Checked: matching start and end tags by qualified name; attribute syntax with quoted
//! values (`>` inside quotes is data, `<` is not allowed); only the five predefined
//! entities and character references to valid XML characters; comments, CDATA and PIs
//! terminated; no XML declaration and no DOCTYPE after the start; the bytes valid in
//! the message's charset. Not checked (left to the services, as before): namespace
//! prefixes being declared, duplicate attributes, name characters beyond the
//! delimiters, and `]]>` in text (none of which can move the Body's boundaries),
//! which would need per-element bookkeeping or a second search this scan avoids.

use std::ops::Range;

use memchr::{memchr, memchr2, memchr3};

use crate::wire::charset::Charset;
use crate::wire::error::WireError;

/// What the scan proved about the Body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyScan {
    /// The whole Body element, `<Body …>` through `</Body>`.
    pub body: Range<usize>,
    /// The Body's only child element, start tag through end tag.
    pub child: Range<usize>,
    /// The name inside the child's end tag; `None` for an empty-element tag.
    pub child_end_name: Option<Range<usize>>,
}

fn xml(what: impl Into<String>) -> WireError {
    WireError::InvalidXml(what.into())
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Bytes that end an element or attribute name, as a table (names are the scan's most
/// frequent byte loop).
const NAME_END: [bool; 256] = stop_table(b" \t\r\n>/=<\"'&");

fn ends_name(b: u8) -> bool {
    NAME_END[b as usize]
}

/// A table of the bytes in `stops`.
const fn stop_table(stops: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < stops.len() {
        t[stops[i] as usize] = true;
        i += 1;
    }
    t
}

/// Where text ends: markup or a reference.
const TEXT_STOP: [bool; 256] = stop_table(b"<&");
/// Where a `"`- or `'`-quoted attribute value stops: its quote, `<`, a reference.
const DQ_VALUE_STOP: [bool; 256] = stop_table(b"\"<&");
const SQ_VALUE_STOP: [bool; 256] = stop_table(b"'<&");

/// Bytes looked at one by one before a run is handed to `memchr`: most text runs and
/// attribute values in a Body are shorter than this, and for them a table lookup per
/// byte costs less than `memchr`'s set-up per call.
const NEAR: usize = 16;

/// The first byte of `hay` in `stop`: the first [`NEAR`] bytes by table, the rest by
/// `far` (a `memchr` over the same bytes).
#[inline(always)]
fn find_stop(
    hay: &[u8],
    stop: &[bool; 256],
    far: impl FnOnce(&[u8]) -> Option<usize>,
) -> Option<usize> {
    let (near, rest) = hay.split_at(hay.len().min(NEAR));
    match near.iter().position(|b| stop[*b as usize]) {
        Some(i) => Some(i),
        None if rest.is_empty() => None,
        None => far(rest).map(|i| i + NEAR),
    }
}

fn is_xml_char(c: u32) -> bool {
    matches!(c, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// Scans from `start` (the `<` of the Body start tag) to the end of `src`. `env_qname`
/// is the Envelope's qualified name as written; `charset` the message's.
pub fn scan_body(
    src: &[u8],
    start: usize,
    env_qname: &[u8],
    charset: Charset,
) -> Result<BodyScan, WireError> {
    let rest = src.get(start..).unwrap_or(&[]);
    if charset == Charset::Utf8 {
        if let Err(e) = std::str::from_utf8(rest) {
            return Err(xml(format!(
                "the Body is not valid {} (byte {})",
                charset.label(),
                start + e.valid_up_to()
            )));
        }
    }
    Scan { src, at: start }.run(env_qname)
}

struct Scan<'a> {
    src: &'a [u8],
    at: usize,
}

/// One start tag as read.
struct Tag {
    name: Range<usize>,
    empty: bool,
}

impl<'a> Scan<'a> {
    fn byte(&self, i: usize) -> Option<u8> {
        self.src.get(i).copied()
    }

    fn rest(&self) -> &'a [u8] {
        self.src.get(self.at..).unwrap_or(&[])
    }

    fn name(&self, r: &Range<usize>) -> String {
        String::from_utf8_lossy(self.src.get(r.clone()).unwrap_or(&[])).into_owned()
    }

    fn run(mut self, env_qname: &[u8]) -> Result<BodyScan, WireError> {
        let body_start = self.at;
        let body_tag = self.start_tag()?;
        let body_name = body_tag.name.clone();
        if body_tag.empty {
            return Err(WireError::InvalidBody("the Body is empty".into()));
        }
        // Open elements below the Body, as name ranges into `src`.
        let mut open: Vec<Range<usize>> = Vec::new();
        let mut child: Option<(usize, Option<Range<usize>>, usize)> = None;
        let body_end = loop {
            // Text up to the next markup: references are checked, and directly in the
            // Body only whitespace is allowed.
            let Some(i) = find_stop(self.rest(), &TEXT_STOP, |h| memchr2(b'<', b'&', h)) else {
                return Err(xml(format!(
                    "document ends inside the Body (`{}` not closed)",
                    self.name(open.last().unwrap_or(&body_name))
                )));
            };
            let text_end = self.at + i;
            if open.is_empty() && !self.src[self.at..text_end].iter().all(|b| is_ws(*b)) {
                return Err(WireError::InvalidBody(
                    "text directly inside the Body".into(),
                ));
            }
            self.at = text_end;
            if self.src[text_end] == b'&' {
                if open.is_empty() {
                    return Err(WireError::InvalidBody(
                        "text directly inside the Body".into(),
                    ));
                }
                self.reference()?;
                continue;
            }
            let lt = self.at;
            match self.byte(lt + 1) {
                Some(b'/') => {
                    let expected = open.last().unwrap_or(&body_name).clone();
                    let (name, end) = match self.expected_end_tag(&expected) {
                        Some(found) => found?,
                        None => {
                            // Another name (or none, or an unclosed tag): read it
                            // for the error.
                            let (name, _) = self.end_tag()?;
                            return Err(xml(format!(
                                "`</{}>` at byte {lt} does not close `<{}>`",
                                self.name(&name),
                                self.name(&expected)
                            )));
                        }
                    };
                    if open.pop().is_none() {
                        break end;
                    }
                    if open.is_empty() {
                        if let Some(c) = child.as_mut() {
                            c.1 = Some(name);
                            c.2 = end;
                        }
                    }
                }
                Some(b'!') => {
                    if self.rest().starts_with(b"<!--") {
                        self.comment()?;
                    } else if self.rest().starts_with(b"<![CDATA[") {
                        if open.is_empty() {
                            return Err(WireError::InvalidBody(
                                "CDATA directly inside the Body".into(),
                            ));
                        }
                        self.cdata()?;
                    } else if self.rest().starts_with(b"<!DOCTYPE") {
                        return Err(xml(format!("DOCTYPE inside the Body at byte {lt}")));
                    } else {
                        return Err(xml(format!("unknown markup `<!` at byte {lt}")));
                    }
                }
                Some(b'?') => self.pi()?,
                _ => {
                    let tag = self.start_tag()?;
                    if open.is_empty() {
                        if child.is_some() {
                            return Err(WireError::InvalidBody(format!(
                                "`{}` at byte {lt} is a second element directly in the Body",
                                self.name(&tag.name)
                            )));
                        }
                        child = Some((lt, None, self.at));
                    }
                    if !tag.empty {
                        open.push(tag.name);
                    }
                }
            }
        };
        let Some((child_start, child_end_name, child_end)) = child else {
            return Err(WireError::InvalidBody("the Body is empty".into()));
        };
        // After the Body: the Envelope's end tag, once, then nothing but comments.
        self.misc()?;
        if !self.rest().starts_with(b"</") {
            return Err(self.after("the Body", env_qname));
        }
        let (name, _) = self.end_tag()?;
        if &self.src[name.clone()] != env_qname {
            return Err(WireError::InvalidSoap(format!(
                "`</{}>` after the Body: the Envelope `{}` must end right after the Body",
                self.name(&name),
                String::from_utf8_lossy(env_qname)
            )));
        }
        self.misc()?;
        if self.at < self.src.len() {
            return Err(self.after("the Envelope", env_qname));
        }
        Ok(BodyScan {
            body: body_start..body_end,
            child: child_start..child_end,
            child_end_name,
        })
    }

    /// The error for unexpected content after the Body or the Envelope.
    fn after(&self, what: &str, env_qname: &[u8]) -> WireError {
        let rest = self.rest();
        let shown = &rest[..rest.len().min(40)];
        let shown = String::from_utf8_lossy(shown);
        if rest.starts_with(b"<?") {
            return xml(format!(
                "processing instruction after {what} at byte {}",
                self.at
            ));
        }
        if rest.first() == Some(&b'<') && what == "the Body" {
            return WireError::InvalidSoap(format!(
                "`{shown}` at byte {} after the Body: the Envelope `{}` must end right after the Body",
                self.at,
                String::from_utf8_lossy(env_qname)
            ));
        }
        xml(format!(
            "content after {what} at byte {}: `{shown}` (truncated or trailing data)",
            self.at
        ))
    }

    /// Whitespace and comments.
    fn misc(&mut self) -> Result<(), WireError> {
        loop {
            while self.byte(self.at).is_some_and(is_ws) {
                self.at += 1;
            }
            if self.rest().starts_with(b"<!--") {
                self.comment()?;
            } else {
                return Ok(());
            }
        }
    }

    fn comment(&mut self) -> Result<(), WireError> {
        let from = self.at;
        let body = self.src.get(from + 4..).unwrap_or(&[]);
        let i = find_closer(body, b"-->")
            .ok_or_else(|| xml(format!("comment at byte {from} is not closed")))?;
        self.at = from + 4 + i + 3;
        Ok(())
    }

    fn cdata(&mut self) -> Result<(), WireError> {
        let from = self.at;
        let body = self.src.get(from + 9..).unwrap_or(&[]);
        let i = find_closer(body, b"]]>")
            .ok_or_else(|| xml(format!("CDATA section at byte {from} is not closed")))?;
        self.at = from + 9 + i + 3;
        Ok(())
    }

    fn pi(&mut self) -> Result<(), WireError> {
        let from = self.at;
        let body = self.src.get(from + 2..).unwrap_or(&[]);
        let target_len = body.iter().position(|b| ends_name(*b) || *b == b'?');
        let target = &body[..target_len.unwrap_or(body.len())];
        if target.is_empty() {
            return Err(xml(format!(
                "processing instruction without a target at byte {from}"
            )));
        }
        if target.eq_ignore_ascii_case(b"xml") {
            return Err(xml(format!(
                "XML declaration at byte {from}: it is only allowed at the very start"
            )));
        }
        let i = find_closer(body, b"?>").ok_or_else(|| {
            xml(format!(
                "processing instruction at byte {from} is not closed"
            ))
        })?;
        self.at = from + 2 + i + 2;
        Ok(())
    }

    /// A name starting at `self.at`; fails when there is none.
    fn name_here(&mut self, what: &str) -> Result<Range<usize>, WireError> {
        let from = self.at;
        let len = self
            .rest()
            .iter()
            .position(|b| ends_name(*b))
            .unwrap_or(self.rest().len());
        if len == 0 {
            return Err(xml(format!("{what} without a name at byte {from}")));
        }
        self.at += len;
        Ok(from..from + len)
    }

    fn skip_ws(&mut self) -> bool {
        let from = self.at;
        while self.byte(self.at).is_some_and(is_ws) {
            self.at += 1;
        }
        self.at > from
    }

    /// `</name ws?>` at `self.at` when `name` is `expected` (the element open): a
    /// comparison of the bytes instead of a walk over the name. `None` when the name
    /// differs (the bytes differ, or the name goes on past `expected`'s length), for
    /// [`Self::end_tag`] to read it and the caller to report it.
    fn expected_end_tag(
        &mut self,
        expected: &Range<usize>,
    ) -> Option<Result<(Range<usize>, usize), WireError>> {
        let from = self.at + 2;
        let to = from + expected.len();
        let same = self.src.get(from..to) == self.src.get(expected.clone());
        if !same || !self.byte(to).is_some_and(ends_name) {
            return None;
        }
        let lt = self.at;
        self.at = to;
        self.skip_ws();
        if self.byte(self.at) != Some(b'>') {
            return Some(Err(xml(format!(
                "end tag at byte {lt} is not closed with `>`"
            ))));
        }
        self.at += 1;
        Some(Ok((from..to, self.at)))
    }

    /// `</name ws?>` at `self.at`: the name and the offset after `>`.
    fn end_tag(&mut self) -> Result<(Range<usize>, usize), WireError> {
        let lt = self.at;
        self.at += 2;
        let name = self.name_here("end tag")?;
        self.skip_ws();
        if self.byte(self.at) != Some(b'>') {
            return Err(xml(format!("end tag at byte {lt} is not closed with `>`")));
        }
        self.at += 1;
        Ok((name, self.at))
    }

    /// `<name (ws attr=value)* ws? /?>` at `self.at`.
    fn start_tag(&mut self) -> Result<Tag, WireError> {
        let lt = self.at;
        self.at += 1;
        let name = self.name_here("element")?;
        loop {
            let spaced = self.skip_ws();
            match self.byte(self.at) {
                Some(b'>') => {
                    self.at += 1;
                    return Ok(Tag { name, empty: false });
                }
                Some(b'/') if self.byte(self.at + 1) == Some(b'>') => {
                    self.at += 2;
                    return Ok(Tag { name, empty: true });
                }
                None => {
                    return Err(xml(format!(
                        "start tag `{}` at byte {lt} is not closed",
                        self.name(&name)
                    )))
                }
                Some(_) if !spaced => {
                    return Err(xml(format!(
                        "start tag `{}` at byte {lt}: attributes must be separated by whitespace",
                        self.name(&name)
                    )))
                }
                Some(_) => self.attribute(&name, lt)?,
            }
        }
    }

    /// `name ws? = ws? "value"` (or single quotes) at `self.at`.
    fn attribute(&mut self, elem: &Range<usize>, lt: usize) -> Result<(), WireError> {
        let bad =
            |s: &Self, why: &str| xml(format!("start tag `{}` at byte {lt}: {why}", s.name(elem)));
        let attr = self.name_here("attribute")?;
        self.skip_ws();
        if self.byte(self.at) != Some(b'=') {
            return Err(bad(
                self,
                &format!("attribute `{}` has no value", self.name(&attr)),
            ));
        }
        self.at += 1;
        self.skip_ws();
        let quote = match self.byte(self.at) {
            Some(q @ (b'"' | b'\'')) => q,
            _ => return Err(bad(self, "attribute value is not quoted")),
        };
        self.at += 1;
        // Inside the value only the closing quote, `<` and references matter (`>` is
        // data): one `memchr3` per stretch instead of finding the quote and then
        // searching the value again. A valid reference holds no quote, so it cannot
        // run past the value.
        let stop = if quote == b'"' {
            &DQ_VALUE_STOP
        } else {
            &SQ_VALUE_STOP
        };
        loop {
            let Some(i) = find_stop(self.rest(), stop, |h| memchr3(quote, b'<', b'&', h)) else {
                return Err(bad(self, "attribute value is not closed"));
            };
            self.at += i;
            match self.src[self.at] {
                b'&' => self.reference()?,
                b'<' if memchr(quote, self.rest()).is_none() => {
                    return Err(bad(self, "attribute value is not closed"))
                }
                b'<' => return Err(bad(self, "`<` inside an attribute value")),
                _ => {
                    self.at += 1;
                    return Ok(());
                }
            }
        }
    }

    /// `&name;` or `&#N;` / `&#xH;` at `self.at`.
    fn reference(&mut self) -> Result<(), WireError> {
        let amp = self.at;
        // The longest valid reference is `&#x0010FFFF;`-like; leading zeros are legal,
        // so look for `;` within a generous bound, never past it (linear time).
        // References are a few bytes long: a plain loop beats `memchr`'s set-up.
        let window = &self.src[amp + 1..self.src.len().min(amp + 1 + 64)];
        let semi = window
            .iter()
            .position(|b| *b == b';')
            .ok_or_else(|| xml(format!("`&` at byte {amp} does not start a reference")))?;
        let r = &window[..semi];
        let ok = match r {
            b"lt" | b"gt" | b"amp" | b"quot" | b"apos" => true,
            [b'#', b'x', hex @ ..] if !hex.is_empty() => char_ref(hex, 16),
            [b'#', dec @ ..] if !dec.is_empty() => char_ref(dec, 10),
            _ => false,
        };
        if !ok {
            let shown = String::from_utf8_lossy(r);
            return Err(xml(if shown.starts_with('#') {
                format!("`&{shown};` at byte {amp} is not a valid character reference")
            } else {
                format!(
                    "undeclared entity `&{shown};` at byte {amp} (only &lt; &gt; &amp; &quot; &apos; and character references)"
                )
            }));
        }
        self.at = amp + 1 + semi + 1;
        Ok(())
    }
}

/// Where `closer` (`-->`, `]]>`, `?>`: ending in `>`) first starts in `hay`. Jumps from
/// `>` to `>` with `memchr` and looks back, instead of `memmem::find`, whose searcher
/// set-up per call cost more than the search on the short comments and CDATA sections
/// of a Body.
fn find_closer(hay: &[u8], closer: &[u8]) -> Option<usize> {
    let lead = closer.len() - 1;
    let mut from = lead;
    loop {
        let gt = from + memchr(b'>', hay.get(from..)?)?;
        let start = gt - lead;
        if hay.get(start..gt) == closer.get(..lead) {
            return Some(start);
        }
        from = gt + 1;
    }
}

/// Whether `digits` in `radix` name a character XML allows.
fn char_ref(digits: &[u8], radix: u32) -> bool {
    let mut v: u32 = 0;
    for d in digits {
        let Some(n) = (*d as char).to_digit(radix) else {
            return false;
        };
        v = v.saturating_mul(radix).saturating_add(n);
    }
    is_xml_char(v)
}

#[cfg(test)]
mod tests {
    use crate::wire::charset::Charset;
    use crate::wire::envelope::Envelope;
    use crate::wire::error::WireError;

    const HEAD: &str = r#"<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:x="urn:x"><s:Header><x:id>1</x:id><x:consumer>A</x:consumer></s:Header>"#;

    fn msg(body: &str) -> String {
        format!("{HEAD}{body}</s:Envelope>\n")
    }

    fn refused(body: &str) -> WireError {
        let m = msg(body);
        match Envelope::scan(m.as_bytes(), None) {
            Ok(_) => panic!("accepted: {m}"),
            Err(e) => e,
        }
    }

    fn accepted(body: &str) -> String {
        let m = msg(body);
        let env = Envelope::scan(m.as_bytes(), None).unwrap_or_else(|e| panic!("{e}: {m}"));
        env.body.wrapper.qname.clone()
    }

    #[test]
    fn comment_cannot_hide_a_second_header_and_body() {
        // The wrapper's own name inside a comment used to balance the text search, so
        // the Body "ended" after a second Header and Body naming another consumer.
        let e = refused(
            "<s:Body><x:w><!--<x:w>--></x:w></s:Body><s:Header><x:consumer>B</x:consumer></s:Header><s:Body><x:w>2</x:w></s:Body>",
        );
        assert_eq!(e.code(), "InvalidSoap", "{e}");
        assert!(e.to_string().contains("after the Body"), "{e}");
    }

    #[test]
    fn cdata_cannot_hide_body_children() {
        // Three children (`w`, `v`, `w`) used to pass: the CDATA's `<x:w>` balanced the count.
        let e = refused("<s:Body><x:w><![CDATA[<x:w>]]></x:w><x:v/><x:w></x:w></s:Body>");
        assert_eq!(e.code(), "InvalidBody", "{e}");
        let e = refused("<s:Body><x:w/><x:w/></s:Body>");
        assert_eq!(e.code(), "InvalidBody", "{e}");
    }

    #[test]
    fn legit_markup_in_cdata_comments_pis_and_attributes() {
        assert_eq!(
            accepted("<s:Body><x:w><![CDATA[a </x:w> <x:w> ]]></x:w></s:Body>"),
            "x:w"
        );
        assert_eq!(
            accepted("<s:Body><x:w><!-- </x:w> --><?pi </s:Body> ?><x:q/></x:w></s:Body>"),
            "x:w"
        );
        assert_eq!(
            accepted(r#"<s:Body><x:w a="1 > 0" b='/x:w>' c="&lt;&#x41;&#66;"></x:w></s:Body>"#),
            "x:w"
        );
        assert_eq!(
            accepted(r#"<s:Body> <x:w a="/>"/> <!-- c --> </s:Body>"#),
            "x:w"
        );
        assert_eq!(
            accepted("<s:Body>\n<x:w><x:w><x:w/></x:w>&amp;&apos;&quot;&gt;</x:w>\n</s:Body>"),
            "x:w"
        );
    }

    #[test]
    fn body_must_be_well_formed() {
        for (body, code) in [
            ("<s:Body><x:w>&ent;</x:w></s:Body>", "InvalidXml"),
            ("<s:Body><x:w>&#0;</x:w></s:Body>", "InvalidXml"),
            ("<s:Body><x:w>&#xD800;</x:w></s:Body>", "InvalidXml"),
            ("<s:Body><x:w>& </x:w></s:Body>", "InvalidXml"),
            (r#"<s:Body><x:w a="&nope;"/></s:Body>"#, "InvalidXml"),
            (r#"<s:Body><x:w a="<"/></s:Body>"#, "InvalidXml"),
            ("<s:Body><x:w><x:a></x:w></s:Body>", "InvalidXml"),
            ("<s:Body><x:w><x:a></x:b></x:w></s:Body>", "InvalidXml"),
            ("<s:Body><x:w></x:a></x:w></s:Body>", "InvalidXml"),
            (
                "<s:Body><x:w><?xml version=\"1.0\"?></x:w></s:Body>",
                "InvalidXml",
            ),
            ("<s:Body><x:w><!DOCTYPE x></x:w></s:Body>", "InvalidXml"),
            ("<s:Body><x:w><!-- open </x:w></s:Body>", "InvalidXml"),
            ("<s:Body><x:w><![CDATA[ open </x:w></s:Body>", "InvalidXml"),
            ("<s:Body><x:w a=\"1></x:w></s:Body>", "InvalidXml"),
            ("<s:Body><x:w a></x:w></s:Body>", "InvalidXml"),
            ("<s:Body><x:w a=\"1\"b=\"2\"></x:w></s:Body>", "InvalidXml"),
            ("<s:Body><x:w>< x:a/></x:w></s:Body>", "InvalidXml"),
            ("<s:Body><x:w>text</x:w>tail</s:Body>", "InvalidBody"),
        ] {
            let e = refused(body);
            assert_eq!(e.code(), code, "{body}: {e}");
        }
    }

    #[test]
    fn body_bytes_must_be_valid_in_the_charset() {
        let mut m = msg("<s:Body><x:w>caf\u{e9}</x:w></s:Body>").into_bytes();
        assert!(Envelope::scan(&m, None).is_ok());
        // Latin-1 `é` in a UTF-8 message.
        let at = m.windows(2).position(|w| w == "\u{e9}".as_bytes()).unwrap();
        m.splice(at..at + 2, [0xE9]);
        let e = Envelope::scan(&m, None).unwrap_err();
        assert_eq!(e.code(), "InvalidXml", "{e}");
        assert!(e.to_string().contains("utf-8"), "{e}");
        // The same bytes are fine in a Latin-1 message.
        let latin1 = Some(crate::wire::charset::Charset::Latin1);
        assert!(Envelope::scan(&m, latin1).is_ok());
    }

    /// `body` (raw bytes, not necessarily UTF-8) in the test envelope, scanned as `cs`.
    fn scan_raw(body: &[u8], cs: Option<Charset>) -> Result<(), WireError> {
        let mut m = HEAD.as_bytes().to_vec();
        m.extend_from_slice(body);
        m.extend_from_slice(b"</s:Envelope>\n");
        Envelope::scan(&m, cs).map(|_| ())
    }

    /// Where a non-ASCII byte can sit in a Body, each place as (before, after) the
    /// bytes under test: text, after a reference, an element name, an attribute value
    /// (after a reference too), an end-tag name, a comment, CDATA, a PI, whitespace
    /// right before the Envelope's end (after the Body) and a split across a tag.
    const PLACES: [(&[u8], &[u8]); 10] = [
        (b"<s:Body><x:w>", b"</x:w></s:Body>"),
        (b"<s:Body><x:w>&amp;", b"</x:w></s:Body>"),
        (b"<s:Body><x:w", b"/></s:Body>"),
        (b"<s:Body><x:w a=\"", b"\"/></s:Body>"),
        (b"<s:Body><x:w a='&lt;", b"'/></s:Body>"),
        (b"<s:Body><x:w><!-- ", b" --></x:w></s:Body>"),
        (b"<s:Body><x:w><![CDATA[", b"]]></x:w></s:Body>"),
        (b"<s:Body><x:w><?pi ", b"?></x:w></s:Body>"),
        (b"<s:Body><x:w><x:q>", b"<x:r/></x:q></x:w></s:Body>"),
        (b"<s:Body><x:w/><!--", b"--></s:Body>"),
    ];

    fn placed(at: (&[u8], &[u8]), bytes: &[u8]) -> Vec<u8> {
        [at.0, bytes, at.1].concat()
    }

    #[test]
    fn valid_multibyte_utf8_is_accepted_everywhere() {
        // 2-, 3- and 4-byte sequences, and one right against each delimiter.
        for at in PLACES {
            for chars in ["\u{e9}", "\u{645}\u{62d}", "\u{2013}x\u{10348}", "\u{ffff}"] {
                let b = placed(at, chars.as_bytes());
                if let Err(e) = scan_raw(&b, None) {
                    panic!("{e}: {}", String::from_utf8_lossy(&b));
                }
            }
        }
        // In an end-tag name too (the same name as its start tag).
        assert!(scan_raw("<s:Body><x:\u{e9}>1</x:\u{e9}></s:Body>".as_bytes(), None).is_ok());
    }

    #[test]
    fn invalid_utf8_is_refused_everywhere_with_its_offset() {
        let base = HEAD.len();
        for at in PLACES {
            for bad in [
                &b"\xE9"[..],        // Latin-1 é: a lead byte without continuation
                b"\x80",             // a lone continuation byte
                b"\xC3",             // a 2-byte lead cut short by the next delimiter
                b"\xE2\x80",         // a 3-byte sequence cut short
                b"\xF0\x90\x8D",     // a 4-byte sequence cut short
                b"\xC0\xAF",         // overlong `/`
                b"\xED\xA0\x80",     // a surrogate
                b"\xF4\x90\x80\x80", // above U+10FFFF
                b"\xFF",
            ] {
                let b = placed(at, bad);
                let e = match scan_raw(&b, None) {
                    Ok(()) => panic!("accepted: {}", String::from_utf8_lossy(&b)),
                    Err(e) => e,
                };
                assert_eq!(e.code(), "InvalidXml", "{e}");
                let want = format!("not valid utf-8 (byte {})", base + at.0.len());
                assert!(e.to_string().contains(&want), "{want}: {e}");
            }
        }
        // Split across a tag: the lead byte in text, its continuation after the tag.
        let e = scan_raw(b"<s:Body><x:w>\xC3<x:q/>\xA9</x:w></s:Body>", None).unwrap_err();
        assert!(e.to_string().contains("utf-8"), "{e}");
        // Valid text first, the bad byte far into a long run of text.
        let mut long = b"<s:Body><x:w>".to_vec();
        long.extend(std::iter::repeat_n(b'a', 5000));
        long.extend_from_slice("\u{645}".as_bytes());
        long.extend(std::iter::repeat_n(b'b', 3000));
        let bad = long.len() - 1500;
        long[bad] = 0xB0;
        long.extend_from_slice(b"</x:w></s:Body>");
        let e = scan_raw(&long, None).unwrap_err();
        let want = format!("(byte {})", base + bad);
        assert!(e.to_string().contains(&want), "{want}: {e}");
    }

    #[test]
    fn latin1_bodies_take_every_byte() {
        let latin1 = Some(Charset::Latin1);
        let high: Vec<u8> = (0x80..=0xFFu8).collect();
        for at in PLACES {
            let b = placed(at, &high);
            if let Err(e) = scan_raw(&b, latin1) {
                panic!("{e}: {}", String::from_utf8_lossy(&b));
            }
        }
        // Structure is still checked in Latin-1.
        let e = scan_raw(b"<s:Body><x:w>\xE9</x:q></s:Body>", latin1).unwrap_err();
        assert_eq!(e.code(), "InvalidXml", "{e}");
    }

    #[test]
    fn terminators_need_their_own_bytes() {
        // `-->`, `]]>` and `?>` must follow their openers, not overlap them.
        for body in [
            "<s:Body><x:w><!--></x:w></s:Body>",
            "<s:Body><x:w><!---></x:w></s:Body>",
            "<s:Body><x:w><![CDATA[]></x:w></s:Body>",
            "<s:Body><x:w><![CDATA[]]</x:w></s:Body>",
            "<s:Body><x:w><?pi></x:w></s:Body>",
            "<s:Body><x:w>&#x41</x:w></s:Body>",
        ] {
            let e = refused(body);
            assert_eq!(e.code(), "InvalidXml", "{body}: {e}");
        }
        for body in [
            "<s:Body><x:w><!----></x:w></s:Body>",
            "<s:Body><x:w><!-- - -- > --></x:w></s:Body>",
            "<s:Body><x:w><![CDATA[]]></x:w></s:Body>",
            "<s:Body><x:w><![CDATA[]>]]]></x:w></s:Body>",
            "<s:Body><x:w><?pi?></x:w></s:Body>",
            "<s:Body><x:w><?pi > ? >?></x:w></s:Body>",
        ] {
            assert_eq!(accepted(body), "x:w", "{body}");
        }
    }

    #[test]
    fn references_are_bounded_and_checked() {
        // `;` within the 64 bytes after the `&`, and only there.
        let long = format!("<s:Body><x:w>&#{}65;</x:w></s:Body>", "0".repeat(60));
        assert_eq!(accepted(&long), "x:w");
        let long = format!("<s:Body><x:w>&#{}65;</x:w></s:Body>", "0".repeat(61));
        assert_eq!(refused(&long).code(), "InvalidXml");
        for body in [
            "<s:Body><x:w>&#x;</x:w></s:Body>",
            "<s:Body><x:w>&#;</x:w></s:Body>",
            "<s:Body><x:w>&;</x:w></s:Body>",
            "<s:Body><x:w>&#x110000;</x:w></s:Body>",
            "<s:Body><x:w>&#xFFFE;</x:w></s:Body>",
            "<s:Body><x:w>&#99999999999999999999;</x:w></s:Body>",
            "<s:Body><x:w>&amp</x:w></s:Body>",
            r#"<s:Body><x:w a="&amp" b=";"/></s:Body>"#,
            "<s:Body>&amp;<x:w/></s:Body>",
        ] {
            let e = refused(body);
            assert!(
                matches!(e.code(), "InvalidXml" | "InvalidBody"),
                "{body}: {e}"
            );
        }
        assert_eq!(
            accepted("<s:Body><x:w a='&#x10FFFF;&#9;'>&#xE000;&#x0041;</x:w></s:Body>"),
            "x:w"
        );
    }

    #[test]
    fn end_tags_match_exactly() {
        for body in [
            "<s:Body><x:w><x:ab></x:a></x:w></s:Body>",
            "<s:Body><x:w><x:a></x:ab></x:w></s:Body>",
            "<s:Body><x:w><x:a></x:a </x:w></s:Body>",
            "<s:Body><x:w><x:a></x:a/></x:w></s:Body>",
            "<s:Body><x:w><x:a></></x:w></s:Body>",
            "<s:Body><x:w><x:a></x:a",
            "<s:Body><x:w></x:w></s:Bod></s:Body>",
            "<s:Body><x:w></x:w></s:Body",
        ] {
            let m = msg(body);
            let e = Envelope::scan(m.as_bytes(), None).expect_err(body);
            assert!(
                matches!(e.code(), "InvalidXml" | "InvalidSoap"),
                "{body}: {e}"
            );
        }
        assert_eq!(
            accepted("<s:Body><x:w><x:a\t></x:a \r\n></x:w\n></s:Body \t>"),
            "x:w"
        );
    }

    #[test]
    fn attribute_syntax_is_checked_at_every_step() {
        for body in [
            r#"<s:Body><x:w a=1/></s:Body>"#,
            r#"<s:Body><x:w a= /></s:Body>"#,
            r#"<s:Body><x:w ="1"/></s:Body>"#,
            r#"<s:Body><x:w a="1'/></s:Body>"#,
            r#"<s:Body><x:w a="1"/ ></s:Body>"#,
            r#"<s:Body><x:w a="1" / ></s:Body>"#,
            r#"<s:Body><x:w a="1" b></s:Body>"#,
            r#"<s:Body><x:w a="x<y"></x:w></s:Body>"#,
            r#"<s:Body><x:w a="1">"#,
            r#"<s:Body><x:w a"1"/></s:Body>"#,
            r#"<s:Body><x:w/ ></s:Body>"#,
        ] {
            let m = msg(body);
            let e = Envelope::scan(m.as_bytes(), None).expect_err(body);
            assert_eq!(e.code(), "InvalidXml", "{body}: {e}");
        }
        assert_eq!(
            accepted("<s:Body><x:w a = \"1\"\tb\n=\n'>\"' c=\"'/>&gt;\" /></s:Body>"),
            "x:w"
        );
    }

    #[test]
    fn long_runs_are_searched_to_their_end() {
        // Text and attribute values longer than the scan's byte-by-byte look-ahead.
        let pad = "v".repeat(40);
        assert_eq!(
            accepted(&format!(
                "<s:Body><x:w a='{pad}\"{pad}&amp;{pad}' b=\"{pad}'{pad}&#65;\">{pad}&lt;{pad}<x:q/>{pad}</x:w></s:Body>"
            )),
            "x:w"
        );
        for body in [
            format!("<s:Body><x:w a=\"{pad}<{pad}\"/></s:Body>"),
            format!("<s:Body><x:w a=\"{pad}&bad;\"/></s:Body>"),
            format!("<s:Body><x:w a='{pad}\"/></s:Body>"),
            format!("<s:Body><x:w>{pad}&bad;</x:w></s:Body>"),
            format!("<s:Body><x:w>{pad}<x:q></x:w></s:Body>"),
            format!("<s:Body> {pad} <x:w/></s:Body>"),
        ] {
            let m = msg(&body);
            let e = Envelope::scan(m.as_bytes(), None).expect_err(&body);
            assert!(
                matches!(e.code(), "InvalidXml" | "InvalidBody"),
                "{body}: {e}"
            );
        }
    }

    #[test]
    fn envelope_closes_once_with_only_comments_after() {
        let ok = format!("{HEAD}<s:Body><x:w/></s:Body> <!-- end --> </s:Envelope> <!-- c -->\n");
        assert!(Envelope::scan(ok.as_bytes(), None).is_ok());
        for tail in [
            "</s:Envelope><x:more/>",
            "</s:Envelope></s:Envelope>",
            "</s:Envelope>junk",
            "</s:Envelope><?xml version=\"1.0\"?>",
            "",
            "</s:Envelop>",
        ] {
            let m = format!("{HEAD}<s:Body><x:w/></s:Body>{tail}");
            let e = Envelope::scan(m.as_bytes(), None).expect_err(tail);
            assert!(
                matches!(e.code(), "InvalidXml" | "InvalidSoap"),
                "{tail}: {e}"
            );
        }
        let e = refused("<s:Body><x:w/></s:Body><s:Body><x:w/></s:Body>");
        assert_eq!(e.code(), "InvalidSoap", "{e}");
    }

    #[test]
    fn self_closing_and_fault_wrappers() {
        let m = msg(r#"<s:Body><x:w a="1"/></s:Body>"#);
        let env = Envelope::scan(m.as_bytes(), None).unwrap();
        assert!(env.body.wrapper.self_closing);
        assert_eq!(env.body.wrapper.end_name, None);
        let m = msg("<s:Body><x:w><x:in/></x:w></s:Body>");
        let env = Envelope::scan(m.as_bytes(), None).unwrap();
        let end = env.body.wrapper.end_name.clone().unwrap();
        assert_eq!(&m.as_bytes()[end], b"x:w");
        let f = msg("<s:Body><s:Fault><faultcode>s:Server</faultcode><faultstring><![CDATA[</s:Fault>]]></faultstring></s:Fault></s:Body>");
        let env = Envelope::scan(f.as_bytes(), None).unwrap();
        assert!(env.is_fault());
    }
}
