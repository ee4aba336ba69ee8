//! Protocols 3.0 (`x-rd.net`), 3.1 (`x-road.ee`) and 3.1 international
//! (`x-road.eu/xsd/x-road.xsd`): one codec, three namespaces. English element names
//! (`consumer`, `producer`, `service`, `userId`, `issue`) and the legacy-only fields.

use super::*;

/// A 3.x dialect; which one decides only the namespace.
pub(super) struct V3(pub(super) Dialect);

impl DialectCodec for V3 {
    fn dialect(&self) -> Dialect {
        self.0
    }

    fn fields(&self) -> &'static [&'static str] {
        &["consumer", "producer", "service", "id", "userId", "issue"]
    }

    fn legacy_name(&self, k: LegacyKey) -> Option<&'static str> {
        k.v3_name()
    }

    fn name_of(&self, tag: FieldTag) -> &'static str {
        match tag {
            FieldTag::Client => "consumer",
            t => default_name(t),
        }
    }

    fn required(&self) -> &'static [FieldTag] {
        &short::REQUIRED
    }

    fn header_decls(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    fn complete_request(&self, src: &Header, out: &mut Header) -> Vec<(String, String)> {
        short::complete_request(src, out)
    }

    fn decode_field(&self, h: &mut Header, c: &Elem) -> Result<Option<FieldTag>, WireError> {
        short::decode(self, h, c)
    }

    fn write_field(
        &self,
        o: &mut Out,
        h: &Header,
        tag: FieldTag,
        _indent: &str,
    ) -> Result<bool, EncodeError> {
        short::write(self, o, h, tag, "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_follows_the_short_name_order_and_drops_represented_party() {
        let src = sample_request();
        for d in [Dialect::V30, Dialect::V31, Dialect::V31Eu, Dialect::V2] {
            let mut out = Header::default();
            let dropped = of(d).complete_request(&src, &mut out);
            assert_eq!(
                out.order,
                vec![
                    FieldTag::Client,
                    FieldTag::Producer,
                    FieldTag::UserId,
                    FieldTag::Id,
                    FieldTag::Service,
                    FieldTag::Issue,
                ],
                "{d}"
            );
            assert_eq!(out.protocol_version, None, "{d}");
            assert_eq!(out.represented_party, None, "{d}");
            assert_eq!(
                dropped,
                vec![("representedParty".to_string(), "rp-1".to_string())],
                "{d}"
            );
        }
    }
}
