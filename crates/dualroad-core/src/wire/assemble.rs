//! Puts a message back together: the original prolog and Envelope start tag, a newly
//! encoded Header, and the original Body copied byte for byte.
//!
//! The only changes ever made outside the Header are: the Envelope namespace when the
//! SOAP version changes (the Envelope start tag is otherwise kept, because Body content
//! relies on the declarations it holds), the wrapper element's name when a service
//! mapping renames it, and a Fault re-enveloped for the other SOAP version.

use crate::wire::dialect::SoapVersion;
use crate::wire::envelope::{slice, Envelope};
use crate::wire::fault::Fault;

/// What to do with the Body.
#[derive(Debug, Clone, Default)]
pub struct BodyEdit {
    /// New local name for the wrapper element (keeping its prefix).
    pub rename_wrapper: Option<String>,
}

/// Bytes of `env` with its Header replaced by `header_xml`, converted to `target` SOAP.
pub fn assemble(
    env: &Envelope,
    header_xml: &[u8],
    target: SoapVersion,
    edit: &BodyEdit,
) -> Vec<u8> {
    let src = env.src;
    let mut out = Vec::with_capacity(src.len() + header_xml.len() + 64);
    // Prolog and Envelope start tag.
    out.extend_from_slice(slice(src, 0..env.env_open.start));
    let open = env.env_open_bytes();
    if target != env.soap {
        let from = format!("\"{}\"", env.soap.envelope_ns());
        let to = format!("\"{}\"", target.envelope_ns());
        let from_sq = format!("'{}'", env.soap.envelope_ns());
        let s = String::from_utf8_lossy(open);
        let swapped = if s.contains(&from) {
            s.replacen(&from, &to, 1)
        } else {
            s.replacen(&from_sq, &to, 1)
        };
        out.extend_from_slice(swapped.as_bytes());
    } else {
        out.extend_from_slice(open);
    }
    // Header.
    match &env.header {
        Some(h) => {
            out.extend_from_slice(slice(src, env.env_open.end..h.span.start));
            out.extend_from_slice(header_xml);
            out.extend_from_slice(slice(src, h.span.end..env.body.start));
        }
        None => {
            out.extend_from_slice(header_xml);
            out.extend_from_slice(slice(src, env.env_open.end..env.body.start));
        }
    }
    // Body.
    if let (Some(fault_elem), true) = (&env.body.fault, target != env.soap) {
        let fault = Fault::from_elem(env, fault_elem);
        let p = env
            .env_prefix
            .as_ref()
            .map(|p| format!("{p}:"))
            .unwrap_or_default();
        out.extend_from_slice(format!("<{p}Body>").as_bytes());
        fault.write_element(target, &p, &mut out);
        out.extend_from_slice(format!("</{p}Body></{}>", env.env_qname).as_bytes());
        out.extend_from_slice(trailing_after_envelope(src));
        return out;
    }
    let w = &env.body.wrapper;
    match &edit.rename_wrapper {
        Some(new_local) if new_local != &w.local => {
            let new_qname = match w.qname.split_once(':') {
                Some((p, _)) => format!("{p}:{new_local}"),
                None => new_local.clone(),
            };
            let end_name = w.end_name.clone().or_else(|| find_wrapper_end(env));
            out.extend_from_slice(slice(src, env.body.start..w.start_name.start));
            out.extend_from_slice(new_qname.as_bytes());
            match end_name {
                Some(e) => {
                    out.extend_from_slice(slice(src, w.start_name.end..e.start));
                    out.extend_from_slice(new_qname.as_bytes());
                    out.extend_from_slice(slice(src, e.end..src.len()));
                }
                None => out.extend_from_slice(slice(src, w.start_name.end..src.len())),
            }
        }
        _ => out.extend_from_slice(slice(src, env.body.start..src.len())),
    }
    out
}

/// Whitespace after `</Envelope>`, kept so a re-enveloped fault ends like its source.
fn trailing_after_envelope(src: &[u8]) -> &[u8] {
    let end = src
        .iter()
        .rposition(|b| *b == b'>')
        .map(|i| i + 1)
        .unwrap_or(src.len());
    slice(src, end..src.len())
}

/// Finds the wrapper's end tag by scanning the Body (only needed for rpc/encoded
/// bodies with multi-refs after the wrapper, where the tail check cannot see it).
fn find_wrapper_end(env: &Envelope) -> Option<std::ops::Range<usize>> {
    use quick_xml::events::Event;
    let w = &env.body.wrapper;
    let from = w.start_name.start.checked_sub(1)?;
    let src = slice(env.src, from..env.src.len());
    let mut r = quick_xml::Reader::from_reader(src);
    let mut depth = 0usize;
    loop {
        let before = r.buffer_position() as usize;
        match r.read_event().ok()? {
            Event::Start(_) => depth += 1,
            Event::End(e) => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    let name_len = e.name().as_ref().len();
                    return Some(from + before + 2..from + before + 2 + name_len);
                }
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}
