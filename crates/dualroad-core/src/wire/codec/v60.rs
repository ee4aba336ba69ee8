//! Early X-Road 6 (`v6.0`, 2014–2015): structured identifiers in the `xroad.xsd`
//! namespace but no `protocolVersion` and no `issue`; `userId` is required; `async`
//! survives from 3.x as a legacy-only field.

use super::*;

pub(super) struct V60;

impl DialectCodec for V60 {
    fn dialect(&self) -> Dialect {
        Dialect::V60
    }

    fn fields(&self) -> &'static [&'static str] {
        &structured::SHARED_FIELDS
    }

    fn legacy_name(&self, k: LegacyKey) -> Option<&'static str> {
        (k == LegacyKey::Async).then_some("async")
    }

    fn name_of(&self, tag: FieldTag) -> &'static str {
        default_name(tag)
    }

    fn required(&self) -> &'static [FieldTag] {
        &[
            FieldTag::Client,
            FieldTag::Service,
            FieldTag::Id,
            FieldTag::UserId,
        ]
    }

    fn header_decls(&self) -> &'static [(&'static str, &'static str)] {
        &[(ID_PREFIX, NS_IDENTIFIERS)]
    }

    fn complete_request(&self, src: &Header, out: &mut Header) -> Vec<(String, String)> {
        // Early X-Road 6 requires userId; an empty one is what its clients sent.
        if out.user_id.is_none() {
            out.user_id = Some(String::new());
        }
        out.order = structured::REQUEST_ORDER.to_vec();
        drop_represented_party(src)
    }

    fn decode_field(&self, h: &mut Header, c: &Elem) -> Result<Option<FieldTag>, WireError> {
        structured::decode_shared(h, c)
    }

    fn write_field(
        &self,
        o: &mut Out,
        h: &Header,
        tag: FieldTag,
        indent: &str,
    ) -> Result<bool, EncodeError> {
        match tag {
            FieldTag::Legacy(k) => Ok(write_legacy(self, o, h, k, "")),
            t => structured::write_shared(o, h, t, self.dialect(), indent),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_gets_an_empty_user_id_when_absent_and_keeps_its_own() {
        let src = sample_request();
        let mut out = Header::default();
        let dropped = V60.complete_request(&src, &mut out);
        assert_eq!(out.user_id.as_deref(), Some(""));
        assert_eq!(out.order, structured::REQUEST_ORDER.to_vec());
        // 6.0 has no protocolVersion and no representedParty.
        assert_eq!(out.protocol_version, None);
        assert_eq!(out.represented_party, None);
        assert_eq!(
            dropped,
            vec![("representedParty".to_string(), "rp-1".to_string())]
        );

        let mut out = Header {
            user_id: Some("EE1".into()),
            ..Header::default()
        };
        V60.complete_request(&src, &mut out);
        assert_eq!(out.user_id.as_deref(), Some("EE1"));
    }
}
