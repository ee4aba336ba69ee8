//! What the short-name dialects of X-Road ≤5 (2.0 and the three 3.x) share: the
//! consumer, producer and service named by strings, the message fields, and the
//! legacy-only fields. Only the element names differ (`v2` is Estonian, `v3` English)
//! and 2.0 types its values.

use super::*;

/// The fields a short-name dialect models besides its legacy-only ones.
const TAGS: [FieldTag; 6] = [
    FieldTag::Client,
    FieldTag::Producer,
    FieldTag::Service,
    FieldTag::Id,
    FieldTag::UserId,
    FieldTag::Issue,
];

/// Decodes one of [`TAGS`] under the name `codec` gives it; `None` for any other name.
pub(super) fn decode(
    codec: &dyn DialectCodec,
    h: &mut Header,
    c: &Elem,
) -> Result<Option<FieldTag>, WireError> {
    let l = c.local.as_str();
    let Some(tag) = TAGS.into_iter().find(|t| codec.name_of(*t) == l) else {
        return Ok(None);
    };
    match tag {
        FieldTag::Client => put(&mut h.client, Party::Legacy(name(c)), l)?,
        FieldTag::Producer => put(&mut h.producer, name(c), l)?,
        FieldTag::Service => put(&mut h.service, ServiceRef::Legacy(name(c)), l)?,
        FieldTag::Id => put(&mut h.id, value(c), l)?,
        FieldTag::UserId => put(&mut h.user_id, value(c), l)?,
        _ => put(&mut h.issue, value(c), l)?,
    }
    Ok(Some(tag))
}

/// Writes one field under the name `codec` gives it, each value with `typed` attributes;
/// false for what a short-name dialect cannot carry and for an absent field.
pub(super) fn write(
    codec: &dyn DialectCodec,
    o: &mut Out,
    h: &Header,
    tag: FieldTag,
    typed: &str,
) -> Result<bool, EncodeError> {
    let shape = |what, found| EncodeError::Shape {
        dialect: codec.dialect(),
        what,
        found,
    };
    let name = codec.name_of(tag);
    match tag {
        FieldTag::Client => match &h.client {
            Some(Party::Legacy(n)) => o.simple(name, typed, n),
            Some(Party::Id(_)) => return Err(shape("legacy consumer name", "a structured id")),
            None => return Ok(false),
        },
        FieldTag::Service => match &h.service {
            Some(ServiceRef::Legacy(n)) => o.simple(name, typed, n),
            Some(ServiceRef::Id(_)) => return Err(shape("legacy service name", "a structured id")),
            None => return Ok(false),
        },
        FieldTag::Producer | FieldTag::Id | FieldTag::UserId | FieldTag::Issue => {
            let v = match tag {
                FieldTag::Producer => &h.producer,
                FieldTag::Id => &h.id,
                FieldTag::UserId => &h.user_id,
                _ => &h.issue,
            };
            match v {
                Some(v) => o.simple(name, typed, v),
                None => return Ok(false),
            }
        }
        FieldTag::Legacy(k) => return Ok(write_legacy(codec, o, h, k, typed)),
        _ => return Ok(false),
    }
    Ok(true)
}

/// [`DialectCodec::complete_request`] for a short-name dialect: its own field order;
/// `representedParty` has no place.
pub(super) fn complete_request(src: &Header, out: &mut Header) -> Vec<(String, String)> {
    out.order = vec![
        FieldTag::Client,
        FieldTag::Producer,
        FieldTag::UserId,
        FieldTag::Id,
        FieldTag::Service,
        FieldTag::Issue,
    ];
    drop_represented_party(src)
}

/// What a short-name request must carry, in the order it is checked.
pub(super) const REQUIRED: [FieldTag; 4] = [
    FieldTag::Client,
    FieldTag::Producer,
    FieldTag::Service,
    FieldTag::Id,
];
