//! UXP SOAP: the 4.x profile (see `v4`) as the UXP side speaks it, SOAP 1.1 or 1.2,
//! with an opaque `requestHash` algorithm, written under the `xro` prefix.

use super::*;

pub(super) struct Uxp;

impl DialectCodec for Uxp {
    fn dialect(&self) -> Dialect {
        Dialect::Uxp
    }

    fn fields(&self) -> &'static [&'static str] {
        &v4::FIELDS
    }

    fn legacy_name(&self, _: LegacyKey) -> Option<&'static str> {
        None
    }

    fn name_of(&self, tag: FieldTag) -> &'static str {
        default_name(tag)
    }

    fn required(&self) -> &'static [FieldTag] {
        &v4::REQUIRED
    }

    fn check_values(&self, h: &Header) -> Result<(), WireError> {
        v4::check_4x(h)
    }

    fn header_decls(&self) -> &'static [(&'static str, &'static str)] {
        &[(ID_PREFIX, NS_IDENTIFIERS)]
    }

    fn complete_request(&self, src: &Header, out: &mut Header) -> Vec<(String, String)> {
        out.represented_party = src.represented_party.clone();
        // A 4.x legacy client keeps its own version string; older dialects get 4.0.
        out.protocol_version = Some(src.protocol_version.clone().unwrap_or_else(|| "4.0".into()));
        out.order = vec![FieldTag::Client, FieldTag::Service, FieldTag::Id];
        for t in [
            FieldTag::UserId,
            FieldTag::Issue,
            FieldTag::RepresentedParty,
            FieldTag::ProtocolVersion,
        ] {
            out.note(t);
        }
        // Unknown headers keep their relative place at the end.
        for t in &src.order {
            if let FieldTag::Extension(i) = t {
                out.note(FieldTag::Extension(*i));
            }
        }
        // requestHash belongs to answers; one in a request is not passed on.
        src.request_hash
            .iter()
            .map(|rh| ("requestHash".to_string(), rh.value.clone()))
            .collect()
    }

    fn decode_field(&self, h: &mut Header, c: &Elem) -> Result<Option<FieldTag>, WireError> {
        v4::decode_4x(h, c)
    }

    fn write_field(
        &self,
        o: &mut Out,
        h: &Header,
        tag: FieldTag,
        indent: &str,
    ) -> Result<bool, EncodeError> {
        v4::write_4x(o, h, tag, self.dialect(), indent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_gets_protocol_version_4_0_unless_it_had_one_and_no_request_hash() {
        let src = sample_request();
        let mut out = Header::default();
        let dropped = Uxp.complete_request(&src, &mut out);
        assert_eq!(out.protocol_version.as_deref(), Some("4.1"));
        assert_eq!(out.represented_party, src.represented_party);
        assert_eq!(
            out.order,
            vec![
                FieldTag::Client,
                FieldTag::Service,
                FieldTag::Id,
                FieldTag::UserId,
                FieldTag::Issue,
                FieldTag::RepresentedParty,
                FieldTag::ProtocolVersion,
                FieldTag::Extension(0),
            ]
        );
        assert_eq!(
            dropped,
            vec![("requestHash".to_string(), "h==".to_string())]
        );

        let older = Header {
            protocol_version: None,
            request_hash: None,
            ..sample_request()
        };
        let mut out = Header::default();
        assert!(Uxp.complete_request(&older, &mut out).is_empty());
        assert_eq!(out.protocol_version.as_deref(), Some("4.0"));
    }
}
