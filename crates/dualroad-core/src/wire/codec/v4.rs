//! X-Road 6/7 message protocol 4.x on a legacy stack: structured identifiers,
//! `protocolVersion` (required, `4.*`), `issue`, `representedParty` in its own
//! namespace. No legacy-only fields. UXP (`uxp`) is this profile on the UXP side.

use super::*;

pub(super) struct V4;

/// Names the 4.x profile models (6.0's plus `issue` and `protocolVersion`).
pub(super) const FIELDS: [&str; 7] = [
    "client",
    "service",
    "id",
    "userId",
    "requestHash",
    "issue",
    "protocolVersion",
];

/// What a 4.x request must carry, in the order it is checked.
pub(super) const REQUIRED: [FieldTag; 4] = [
    FieldTag::Client,
    FieldTag::Service,
    FieldTag::Id,
    FieldTag::ProtocolVersion,
];

/// Decodes a 4.x field; `None` for any other name.
pub(super) fn decode_4x(h: &mut Header, c: &Elem) -> Result<Option<FieldTag>, WireError> {
    if let Some(t) = structured::decode_shared(h, c)? {
        return Ok(Some(t));
    }
    Ok(Some(match c.local.as_str() {
        "issue" => put(&mut h.issue, value(c), "issue").map(|_| FieldTag::Issue)?,
        "protocolVersion" => put(&mut h.protocol_version, value(c), "protocolVersion")
            .map(|_| FieldTag::ProtocolVersion)?,
        _ => return Ok(None),
    }))
}

/// `protocolVersion` is carried exactly, but checked as X-Road checks it, layout aside.
pub(super) fn check_4x(h: &Header) -> Result<(), WireError> {
    match &h.protocol_version {
        Some(v) if !v.trim().starts_with("4.") => Err(WireError::InvalidProtocolVersion(v.clone())),
        _ => Ok(()),
    }
}

/// Writes a 4.x field in `dialect` (v4 or uxp).
pub(super) fn write_4x(
    o: &mut Out,
    h: &Header,
    tag: FieldTag,
    dialect: Dialect,
    indent: &str,
) -> Result<bool, EncodeError> {
    match tag {
        FieldTag::Issue => Ok(match &h.issue {
            Some(v) => {
                o.simple("issue", "", v);
                true
            }
            None => false,
        }),
        FieldTag::ProtocolVersion => Ok(match &h.protocol_version {
            Some(v) => {
                o.simple("protocolVersion", "", v);
                true
            }
            None => false,
        }),
        FieldTag::RepresentedParty => Ok(structured::write_represented_party(o, h, indent)),
        t => structured::write_shared(o, h, t, dialect, indent),
    }
}

impl DialectCodec for V4 {
    fn dialect(&self) -> Dialect {
        Dialect::V4
    }

    fn fields(&self) -> &'static [&'static str] {
        &FIELDS
    }

    fn legacy_name(&self, _: LegacyKey) -> Option<&'static str> {
        None
    }

    fn name_of(&self, tag: FieldTag) -> &'static str {
        default_name(tag)
    }

    fn required(&self) -> &'static [FieldTag] {
        &REQUIRED
    }

    fn check_values(&self, h: &Header) -> Result<(), WireError> {
        check_4x(h)
    }

    fn header_decls(&self) -> &'static [(&'static str, &'static str)] {
        &[(ID_PREFIX, NS_IDENTIFIERS)]
    }

    fn complete_request(&self, src: &Header, out: &mut Header) -> Vec<(String, String)> {
        // Only 4.x carries these on the legacy side; the version string is the client's.
        out.protocol_version = src.protocol_version.clone();
        out.represented_party = src.represented_party.clone();
        out.order = structured::REQUEST_ORDER.to_vec();
        Vec::new()
    }

    fn decode_field(&self, h: &mut Header, c: &Elem) -> Result<Option<FieldTag>, WireError> {
        decode_4x(h, c)
    }

    fn write_field(
        &self,
        o: &mut Out,
        h: &Header,
        tag: FieldTag,
        indent: &str,
    ) -> Result<bool, EncodeError> {
        write_4x(o, h, tag, self.dialect(), indent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_carries_the_clients_protocol_version_and_represented_party() {
        let src = sample_request();
        let mut out = Header::default();
        let dropped = V4.complete_request(&src, &mut out);
        assert_eq!(out.protocol_version.as_deref(), Some("4.1"));
        assert_eq!(out.represented_party, src.represented_party);
        assert_eq!(out.user_id, None, "4.x does not invent a userId");
        assert_eq!(out.order, structured::REQUEST_ORDER.to_vec());
        assert!(dropped.is_empty(), "{dropped:?}");
    }
}
