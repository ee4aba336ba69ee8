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
        Vec::new()
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
    fn a_request_follows_the_4_0_order_with_unknown_headers_last() {
        let mut out = Header::default();
        Uxp.complete_request(&sample_request(), &mut out);
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
    }
}
