//! Protocol 2.0 (`xtee`): rpc/encoded, Estonian element names (`asutus`, `andmekogu`,
//! `nimi`, `isikukood`, `toimik`), every header value typed `xsi:type="xsd:string"`.

use super::*;

pub(super) struct V2;

impl DialectCodec for V2 {
    fn dialect(&self) -> Dialect {
        Dialect::V2
    }

    fn fields(&self) -> &'static [&'static str] {
        &["asutus", "andmekogu", "nimi", "id", "isikukood", "toimik"]
    }

    fn legacy_name(&self, k: LegacyKey) -> Option<&'static str> {
        k.v2_name()
    }

    fn name_of(&self, tag: FieldTag) -> &'static str {
        match tag {
            FieldTag::Client => "asutus",
            FieldTag::Producer => "andmekogu",
            FieldTag::Service => "nimi",
            FieldTag::UserId => "isikukood",
            // Never required; named for completeness.
            FieldTag::Issue => "toimik",
            t => default_name(t),
        }
    }

    fn required(&self) -> &'static [FieldTag] {
        &short::REQUIRED
    }

    fn header_decls(&self) -> &'static [(&'static str, &'static str)] {
        &[("xsi", NS_XSI), ("xsd", NS_XSD)]
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
        // 2.0 is rpc/encoded: header values carry their XML Schema type.
        let typed = format!("{} xsi:type=\"xsd:string\"", o.own_decls.typed);
        short::write(self, o, h, tag, &typed)
    }
}
