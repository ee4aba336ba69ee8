//! Codec rules against hand-written messages: one dialect per header, required fields
//! named in the message's own dialect, values carried exactly, and every element the
//! encoder writes well-formed in its own scope.

use super::*;

const ENV_OPEN: &str = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">"#;
const BODY: &str = "<s:Body><m:getX xmlns:m=\"urn:m\"/></s:Body></s:Envelope>";

/// An envelope whose Header holds `header` (each element declares what it uses).
fn envelope(header: &str) -> String {
    format!("{ENV_OPEN}<s:Header>{header}</s:Header>{BODY}")
}

fn decoded(msg: &str, family: Family, kind: Kind) -> Result<(Dialect, Header), WireError> {
    let env = Envelope::scan(msg.as_bytes(), None)?;
    let d = detect(&env, family)?;
    decode(&env, d, kind).map(|(h, _)| (d, h))
}

fn el(ns: &str, local: &str, value: &str) -> String {
    format!("<p:{local} xmlns:p=\"{ns}\">{value}</p:{local}>")
}

fn v3(ns: &str) -> String {
    [
        el(ns, "consumer", "10000042"),
        el(ns, "producer", "moh"),
        el(ns, "service", "moh.getX.v1"),
        el(ns, "id", "m-1"),
        el(ns, "userId", "PS400123456"),
    ]
    .concat()
}

fn v2() -> String {
    [
        el(NS_V2, "asutus", "10000042"),
        el(NS_V2, "andmekogu", "moh"),
        el(NS_V2, "nimi", "moh.getX.v1"),
        el(NS_V2, "id", "m-1"),
    ]
    .concat()
}

fn xroad_id(name: &str, object_type: &str, parts: &[(&str, &str)]) -> String {
    let inner: String = parts
        .iter()
        .map(|(l, v)| format!("<i:{l}>{v}</i:{l}>"))
        .collect();
    format!(
        "<x:{name} xmlns:x=\"{NS_XROAD}\" xmlns:i=\"{NS_IDENTIFIERS}\" i:objectType=\"{object_type}\">{inner}</x:{name}>"
    )
}

fn client4() -> String {
    xroad_id(
        "client",
        "SUBSYSTEM",
        &[
            ("xRoadInstance", "PS-UXP"),
            ("memberClass", "GOV"),
            ("memberCode", "10000042"),
            ("subsystemCode", "portal"),
        ],
    )
}

fn service4() -> String {
    xroad_id(
        "service",
        "SERVICE",
        &[
            ("xRoadInstance", "PS-UXP"),
            ("memberClass", "GOV"),
            ("memberCode", "10000001"),
            ("subsystemCode", "moh"),
            ("serviceCode", "getX"),
        ],
    )
}

fn v4() -> String {
    [
        client4(),
        service4(),
        el(NS_XROAD, "id", "m-1"),
        el(NS_XROAD, "userId", "PS400123456"),
        el(NS_XROAD, "protocolVersion", "4.0"),
    ]
    .concat()
}

fn inconsistent(r: Result<(Dialect, Header), WireError>) -> String {
    match r {
        Err(e @ WireError::MixedDialects { .. }) => {
            assert_eq!(e.code(), "InconsistentHeaders");
            e.to_string()
        }
        other => panic!("expected InconsistentHeaders, got {other:?}"),
    }
}

/// X-Road fields of a second X-Road namespace are never passed along as unknown
/// headers: the stack that reads that namespace would take them as the identity.
#[test]
fn identity_fields_in_two_xroad_namespaces_are_refused() {
    // A 3.1 header with a 3.1-eu consumer beside its own.
    let m = envelope(&(v3(NS_V31) + &el(NS_V31_EU, "consumer", "10000099")));
    let e = inconsistent(decoded(&m, Family::Legacy, Kind::Request));
    assert!(
        e.contains("`consumer`") && e.contains(NS_V31_EU) && e.contains("v3.1"),
        "{e}"
    );
    // A 2.0 asutus added to a 3.1-eu header.
    let m = envelope(&(v3(NS_V31_EU) + &el(NS_V2, "asutus", "10000099")));
    let e = inconsistent(decoded(&m, Family::Legacy, Kind::Request));
    assert!(e.contains("`asutus`") && e.contains(NS_V2), "{e}");
    // A 4.x client inside a 3.0 header, and a 3.1 consumer inside a UXP header.
    let m = envelope(&(v3(NS_V30) + &client4()));
    inconsistent(decoded(&m, Family::Legacy, Kind::Request));
    let m = envelope(&(v4() + &el(NS_V31, "consumer", "10000099")));
    inconsistent(decoded(&m, Family::Uxp, Kind::Request));
    // Legacy-only fields count too (`unit` / `allasutus` name part of the caller).
    let m = envelope(&(v2() + &el(NS_V31_EU, "unit", "x")));
    inconsistent(decoded(&m, Family::Legacy, Kind::Request));
    // Responses are held to the same rule.
    let m = envelope(&(v3(NS_V31) + &el(NS_V31_EU, "id", "other")));
    inconsistent(decoded(&m, Family::Legacy, Kind::Response));
}

#[test]
fn foreign_headers_outside_xroad_field_names_still_pass() {
    // Not an X-Road field name, or not an X-Road namespace: kept as an extension.
    for extra in [
        el(NS_V31_EU, "somethingElse", "x"),
        el("urn:vendor", "consumer", "x"),
    ] {
        let m = envelope(&(v3(NS_V31) + &extra));
        let (d, h) = decoded(&m, Family::Legacy, Kind::Request).unwrap();
        assert_eq!(d, Dialect::V31);
        assert_eq!(h.extensions.len(), 1, "{extra}");
    }
}

/// A client whose header prefix is one the encoder binds itself (`id` for the 4.x
/// namespace): a new element gets another prefix, declared where it is written.
#[test]
fn new_elements_never_reuse_a_prefix_the_encoder_binds_itself() {
    let header = format!(
        "<s:Header xmlns:id=\"{NS_XROAD}\" xmlns:i=\"{NS_IDENTIFIERS}\">{}</s:Header>",
        v4().replace("<x:", "<id:")
            .replace("</x:", "</id:")
            .replace(&format!(" xmlns:x=\"{NS_XROAD}\""), "")
    );
    let msg = format!("{ENV_OPEN}{header}{BODY}");
    let env = Envelope::scan(msg.as_bytes(), None).unwrap();
    let (mut h, layout) = decode(&env, Dialect::V4, Kind::Request).unwrap();
    h.id = Some("m-2".into());
    let Some(Party::Id(mut client)) = h.client.clone() else {
        panic!("a 4.x client")
    };
    client.member_code = "10000043".into();
    h.client = Some(Party::Id(client));
    let target = Target {
        dialect: Dialect::V4,
        env_prefix: env.env_prefix.as_deref(),
        env_decls: &env.env_ns_decls,
        charset: env.charset,
    };
    let src = Source {
        layout: &layout,
        src: env.src,
        same_document: true,
    };
    let hx = String::from_utf8(encode_header(&h, &target, Some(src)).unwrap()).unwrap();
    assert!(
        hx.contains(&format!("<xrd:id xmlns:xrd=\"{NS_XROAD}\">m-2</xrd:id>")),
        "{hx}"
    );
    // The rewritten client reads back as written: its identifier parts are in the
    // identifiers namespace, not in the one the client's `id:` prefix meant.
    let out = format!("{ENV_OPEN}{hx}{BODY}");
    let (_, again) =
        decoded(&out, Family::Legacy, Kind::Request).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(again.client, h.client, "{out}");
    assert_eq!(again.id, h.id);
}

fn v60() -> String {
    [
        client4(),
        service4(),
        el(NS_XROAD, "id", "m-1"),
        el(NS_XROAD, "userId", "PS400123456"),
    ]
    .concat()
}

/// Each dialect's required fields, with a header holding all of them (each field one
/// top-level element whose name is the field).
fn required() -> Vec<(Dialect, Vec<&'static str>, String)> {
    let mut v = vec![
        (Dialect::V2, vec!["asutus", "andmekogu", "nimi", "id"], v2()),
        (
            Dialect::V60,
            vec!["client", "service", "id", "userId"],
            v60(),
        ),
        (
            Dialect::V4,
            vec!["client", "service", "id", "protocolVersion"],
            v4(),
        ),
        (
            Dialect::Uxp,
            vec!["client", "service", "id", "protocolVersion"],
            v4(),
        ),
    ];
    for (d, ns) in [
        (Dialect::V30, NS_V30),
        (Dialect::V31, NS_V31),
        (Dialect::V31Eu, NS_V31_EU),
    ] {
        v.push((d, vec!["consumer", "producer", "service", "id"], v3(ns)));
    }
    v
}

/// Removes the top-level header element `local` from `header`.
fn without(header: &str, local: &str) -> String {
    let open = format!(":{local} ");
    let start = header
        .find(&format!("<x:{local} "))
        .or_else(|| header.find(&format!("<p:{local} ")))
        .unwrap_or_else(|| panic!("no {local}{open} in {header}"));
    let close_tag = |p: &str| format!("</{p}:{local}>");
    let end = ["x", "p"]
        .iter()
        .filter_map(|p| {
            header[start..]
                .find(&close_tag(p))
                .map(|i| start + i + close_tag(p).len())
        })
        .min()
        .unwrap_or_else(|| panic!("no end of {local}"));
    format!("{}{}", &header[..start], &header[end..])
}

/// `Client.MissingHeaderField` names the missing field as the message's own dialect
/// calls it, for every dialect and every required field.
#[test]
fn missing_header_field_names_the_field_in_the_messages_dialect() {
    for (dialect, fields, header) in required() {
        let full = envelope(&header);
        let env = Envelope::scan(full.as_bytes(), None).unwrap();
        decode(&env, dialect, Kind::Request).unwrap_or_else(|e| panic!("{dialect}: {e}"));
        for field in fields {
            let msg = envelope(&without(&header, field));
            let env = Envelope::scan(msg.as_bytes(), None).unwrap();
            let e = decode(&env, dialect, Kind::Request).unwrap_err();
            assert_eq!(
                e,
                WireError::MissingHeaderField(field.to_string()),
                "{dialect} without {field}"
            );
            assert_eq!(e.code(), "MissingHeaderField");
        }
    }
}
