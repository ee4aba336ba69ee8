//! Header rules of issue 11 through the running gateway and the translation core:
//! one X-Road namespace per header, re-issued copies well-formed whatever the client's
//! namespace declaration style, header values carried exactly, and missing fields named
//! in the message's own dialect.

use crate::gateway::{config_text, env_with, post, start, V31EU};
use crate::stub::Behaviour;

const XML: &str = "text/xml; charset=utf-8";

/// A 3.1 `consumer` smuggled beside the 3.1-eu one, and a 2.0 `asutus` added to the
/// 3.1-eu header: refused before routing, in every stage, never forwarded.
#[tokio::test]
async fn identity_fields_in_a_second_xroad_namespace_are_refused_at_the_gateway() {
    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    let gw = start(&config_text(&env, "legacy", "", "", 2000)).await;
    let addr = gw.addr("agencies").unwrap();
    for smuggled in [
        r#"<c:consumer xmlns:c="http://x-road.ee/xsd/x-road.xsd">10000099</c:consumer>"#,
        r#"<t:asutus xmlns:t="http://x-tee.riik.ee/xsd/xtee.xsd">10000099</t:asutus>"#,
    ] {
        let msg = V31EU.replacen(
            "</SOAP-ENV:Header>",
            &format!("{smuggled}</SOAP-ENV:Header>"),
            1,
        );
        assert_ne!(msg, V31EU, "fixture has a SOAP-ENV:Header");
        let (status, body) = post(addr, &msg, XML).await;
        assert_eq!(status, 500, "{body}");
        assert!(
            body.contains("<faultcode>Client.InconsistentHeaders</faultcode>")
                && body.contains("two X-Road namespaces"),
            "{body}"
        );
    }
    assert_eq!((env.legacy.hits(), env.uxp.hits()), (0, 0));
    // The unaltered request is served.
    let (status, _) = post(addr, V31EU, XML).await;
    assert_eq!(status, 200);
    gw.shutdown().await;
}

// === §5: every element dualroad writes is well-formed in its own scope ===

use dualroad::error::{FaultCode, Side};
use dualroad::translate::{self, Options, Translator};
use dualroad::wire::codec::{Family, Kind};
use dualroad::wire::dialect::{
    NS_IDENTIFIERS, NS_SOAP11, NS_V2, NS_V31_EU, NS_XROAD, NS_XSD, NS_XSI,
};
use dualroad::wire::message::Input;
use dualroad::wire::Dialect;
use quick_xml::events::Event;
use quick_xml::name::{QName, ResolveResult};
use quick_xml::NsReader;

/// Where a client declares the namespaces of its header elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// zeep: `<ns0:consumer xmlns:ns0="…">` on every header element.
    PerElement,
    /// On the Header start tag.
    OnHeader,
    /// On the Envelope start tag.
    OnEnvelope,
    /// The header namespace as the default namespace of every header element.
    DefaultPerElement,
    /// The header namespace as the default namespace, declared on the Header.
    DefaultOnHeader,
}

const STYLES: [Style; 5] = [
    Style::PerElement,
    Style::OnHeader,
    Style::OnEnvelope,
    Style::DefaultPerElement,
    Style::DefaultOnHeader,
];

/// A request whose header elements are written as templates: `P:` is the header
/// namespace, `I:` identifiers, `X:` xsi, `D:` xsd (as an attribute value).
fn styled(style: Style, header_ns: &str, elements: &[&str]) -> String {
    let spaces = [
        ("P", header_ns, "ns0"),
        ("I", NS_IDENTIFIERS, "ns1"),
        ("X", NS_XSI, "xsi"),
        ("D", NS_XSD, "xsd"),
    ];
    let default = matches!(style, Style::DefaultPerElement | Style::DefaultOnHeader);
    let prefix = |p: &str| -> String {
        let (_, _, name) = spaces.iter().find(|(t, _, _)| *t == p).unwrap();
        if p == "P" && default {
            String::new()
        } else {
            format!("{name}:")
        }
    };
    let decl = |p: &str| -> String {
        let (_, uri, name) = spaces.iter().find(|(t, _, _)| *t == p).unwrap();
        if p == "P" && default {
            format!(" xmlns=\"{uri}\"")
        } else {
            format!(" xmlns:{name}=\"{uri}\"")
        }
    };
    let used = |text: &str| -> Vec<&str> {
        ["P", "I", "X", "D"]
            .into_iter()
            .filter(|p| text.contains(&format!("{p}:")))
            .collect()
    };
    let all: String = elements.concat();
    let all_decls: String = used(&all).iter().map(|p| decl(p)).collect();
    let mut header = String::new();
    for e in elements {
        let mut x = e.to_string();
        for p in ["P", "I", "X", "D"] {
            x = x.replace(&format!("{p}:"), &prefix(p));
        }
        if style == Style::PerElement || style == Style::DefaultPerElement {
            let decls: String = used(e).iter().map(|p| decl(p)).collect();
            let name_end = x.find([' ', '>']).unwrap();
            x.insert_str(name_end, &decls);
        }
        header.push_str("\n    ");
        header.push_str(&x);
    }
    let (env_decls, header_decls) = match style {
        Style::OnEnvelope => (all_decls, String::new()),
        Style::OnHeader | Style::DefaultOnHeader => (String::new(), all_decls),
        _ => (String::new(), String::new()),
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soapenv:Envelope xmlns:soapenv=\"{NS_SOAP11}\"{env_decls}>\n  <soapenv:Header{header_decls}>{header}\n  </soapenv:Header>\n  <soapenv:Body>\n    <m:getPatientSummary xmlns:m=\"http://moh.x-road.ps/producer/\"><request/></m:getPatientSummary>\n  </soapenv:Body>\n</soapenv:Envelope>\n"
    )
}

const V31EU_FIELDS: [&str; 6] = [
    "<P:consumer>10000042</P:consumer>",
    "<P:producer>moh</P:producer>",
    "<P:userId>PS400123456</P:userId>",
    "<P:id>m-1</P:id>",
    "<P:service>moh.getPatientSummary.v2</P:service>",
    "<P:unit>ward-7</P:unit>",
];

const V2_FIELDS: [&str; 4] = [
    "<P:asutus X:type=\"D:string\">10000042</P:asutus>",
    "<P:andmekogu X:type=\"D:string\">moh</P:andmekogu>",
    "<P:id X:type=\"D:string\">m-1</P:id>",
    "<P:nimi X:type=\"D:string\">moh.getPatientSummary.v2</P:nimi>",
];

const V4_FIELDS: [&str; 5] = [
    "<P:client I:objectType=\"SUBSYSTEM\"><I:xRoadInstance>PS</I:xRoadInstance><I:memberClass>GOV</I:memberClass><I:memberCode>10000042</I:memberCode><I:subsystemCode>moh-portal</I:subsystemCode></P:client>",
    "<P:service I:objectType=\"SERVICE\"><I:xRoadInstance>PS</I:xRoadInstance><I:memberClass>GOV</I:memberClass><I:memberCode>10000001</I:memberCode><I:subsystemCode>moh</I:subsystemCode><I:serviceCode>getPatientSummary</I:serviceCode><I:serviceVersion>v2</I:serviceVersion></P:service>",
    "<P:id>m-1</P:id>",
    "<P:userId>PS400123456</P:userId>",
    "<P:protocolVersion>4.0</P:protocolVersion>",
];

/// Every element and attribute name of `xml` resolves to a declared namespace, and
/// every `xsi:type` value's prefix too. Returns `(namespace, local, text)` of each
/// element, in document order.
fn resolve_all(xml: &[u8]) -> Vec<(String, String, String)> {
    let mut r = NsReader::from_reader(xml);
    let mut out: Vec<(String, String, String)> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let text = String::from_utf8_lossy(xml);
    loop {
        let (res, ev) = r
            .read_resolved_event()
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let ns = match res {
                    ResolveResult::Bound(ns) => String::from_utf8_lossy(ns.as_ref()).into_owned(),
                    ResolveResult::Unbound => String::new(),
                    ResolveResult::Unknown(p) => panic!(
                        "element `{}` has the undeclared prefix `{}`:\n{text}",
                        String::from_utf8_lossy(e.name().as_ref()),
                        String::from_utf8_lossy(&p)
                    ),
                };
                for a in e.attributes() {
                    let a = a.unwrap();
                    if a.key.as_namespace_binding().is_some() {
                        continue;
                    }
                    let (ares, local) = r.resolve_attribute(a.key);
                    assert!(
                        !matches!(ares, ResolveResult::Unknown(_)),
                        "attribute `{}` of `{}` has an undeclared prefix:\n{text}",
                        String::from_utf8_lossy(a.key.as_ref()),
                        String::from_utf8_lossy(e.name().as_ref())
                    );
                    if matches!(ares, ResolveResult::Bound(n) if n.as_ref() == NS_XSI.as_bytes())
                        && local.as_ref() == b"type"
                    {
                        let (vres, _) = r.resolve_element(QName(&a.value));
                        assert!(
                            matches!(vres, ResolveResult::Bound(n) if n.as_ref() == NS_XSD.as_bytes()),
                            "xsi:type value `{}` has no xsd prefix in scope:\n{text}",
                            String::from_utf8_lossy(&a.value)
                        );
                    }
                }
                let local = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                out.push((ns, local, String::new()));
                if matches!(ev, Event::Start(_)) {
                    open.push(out.len() - 1);
                }
            }
            Event::Text(t) => {
                if let Some(i) = open.last() {
                    out[*i].2.push_str(&t.unescape().unwrap());
                }
            }
            Event::End(_) => {
                open.pop();
            }
            Event::Eof => return out,
            _ => {}
        }
    }
}

fn decode(msg: &[u8], family: Family) -> translate::Decoded<'_> {
    Options::default()
        .decode(Input::new(msg), family, Kind::Request, Side::Client)
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(msg)))
}

/// The re-issued copy (uxp-shadow and calibration copies) of a request in each legacy
/// dialect and each declaration style resolves everywhere, and decodes to the same
/// header with the new id.
#[test]
fn reissued_copies_are_well_formed_in_every_declaration_style() {
    let dialects: [(Dialect, &str, &[&str]); 3] = [
        (Dialect::V31Eu, NS_V31_EU, &V31EU_FIELDS),
        (Dialect::V2, NS_V2, &V2_FIELDS),
        (Dialect::V4, NS_XROAD, &V4_FIELDS),
    ];
    let maps = crate::support::mappings(&crate::support::repo().join("mappings"));
    let copy_tr = Translator::new(maps, Options::default()).with_message_id("copy-7");
    for (dialect, ns, fields) in dialects {
        for style in STYLES {
            let msg = styled(style, ns, fields);
            let d = decode(msg.as_bytes(), Family::Legacy);
            assert_eq!(d.dialect, dialect, "{style:?}\n{msg}");
            let copy = copy_tr.reissue(&d).unwrap();
            let elements = resolve_all(&copy.bytes);
            assert!(
                elements
                    .iter()
                    .any(|(n, l, t)| n == ns && l == "id" && t == "copy-7"),
                "{dialect} {style:?}: no new id in the header namespace:\n{}",
                String::from_utf8_lossy(&copy.bytes)
            );
            let again = decode(&copy.bytes, Family::Legacy);
            let mut expected = d.header.clone();
            expected.id = Some("copy-7".into());
            assert_eq!(again.header.client, expected.client, "{dialect} {style:?}");
            assert_eq!(again.header.service, expected.service);
            assert_eq!(again.header.id, expected.id);
            assert_eq!(again.header.legacy, expected.legacy);
        }
    }
}

/// The other header writers: a 4.x legacy request translated to UXP in its own
/// envelope (new client and service written among the client's elements), and the
/// header echoed in a fault.
#[test]
fn translated_and_echoed_headers_are_well_formed_in_every_declaration_style() {
    let maps = crate::support::mappings(&crate::support::repo().join("fixtures/mappings/xroad6"));
    for style in STYLES {
        let msg = styled(style, NS_XROAD, &V4_FIELDS);
        let t = Translator::new(maps, Options::default())
            .request_to_uxp(Input::new(msg.as_bytes()))
            .unwrap_or_else(|e| panic!("{style:?}: {e}"));
        let elements = resolve_all(&t.bytes);
        let instances: Vec<&str> = elements
            .iter()
            .filter(|(n, l, _)| n == NS_IDENTIFIERS && l == "xRoadInstance")
            .map(|(_, _, v)| v.as_str())
            .collect();
        assert_eq!(instances, ["PS-UXP", "PS-UXP"], "{style:?}");
        let d = decode(&t.bytes, Family::Uxp);
        assert_eq!(d.dialect, Dialect::Uxp);
        for (ns, fields) in [
            (NS_XROAD, &V4_FIELDS[..]),
            (NS_V31_EU, &V31EU_FIELDS[..]),
            (NS_V2, &V2_FIELDS[..]),
        ] {
            let msg = styled(style, ns, fields);
            let rescue = Options::default().rescue_for(Input::new(msg.as_bytes()), Family::Legacy);
            assert!(
                rescue.header_xml.is_some(),
                "{style:?}: the header is echoed"
            );
            let fault = rescue.fault_message(&FaultCode("Client.X".into()), "no", "e-1");
            let elements = resolve_all(&fault);
            assert!(
                elements
                    .iter()
                    .any(|(n, l, t)| n == ns && l == "id" && t == "m-1"),
                "{style:?}"
            );
        }
    }
}

// === §5: header values are data ===

/// Values with leading and trailing whitespace and newlines, as clients send them.
const USER_ID: &str = "w\naa\nww\n";
const MSG_ID: &str = "  m-1 ";
const ISSUE: &str = "\n\tREF-2025 01\n  ";

fn uxp_request_with_values() -> String {
    let esc = |v: &str| v.to_string();
    let fields = [
        V4_FIELDS[0].replace(">PS<", ">PS-UXP<"),
        V4_FIELDS[1].replace(">PS<", ">PS-UXP<"),
        format!("<P:id>{}</P:id>", esc(MSG_ID)),
        format!("<P:userId>{}</P:userId>", esc(USER_ID)),
        format!("<P:issue>{}</P:issue>", esc(ISSUE)),
        "<P:protocolVersion>4.0</P:protocolVersion>".to_string(),
    ];
    let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
    styled(Style::OnEnvelope, NS_XROAD, &refs)
}

fn legacy_request_with_values(ns: &str) -> String {
    let fields = [
        "<P:consumer>10000042</P:consumer>".to_string(),
        "<P:producer>moh</P:producer>".to_string(),
        format!("<P:userId>{USER_ID}</P:userId>"),
        format!("<P:id>{MSG_ID}</P:id>"),
        "<P:service>moh.getPatientSummary.v2</P:service>".to_string(),
        format!("<P:issue>{ISSUE}</P:issue>"),
    ];
    let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
    styled(Style::OnHeader, ns, &refs)
}

fn values<'d>(d: &'d translate::Decoded) -> (Option<&'d str>, Option<&'d str>, Option<&'d str>) {
    (
        d.header.id.as_deref(),
        d.header.user_id.as_deref(),
        d.header.issue.as_deref(),
    )
}

const EXACT: (Option<&str>, Option<&str>, Option<&str>) =
    (Some(MSG_ID), Some(USER_ID), Some(ISSUE));

/// 4.0 → 3.1 (and 3.1-eu) → 4.0: `id`, `userId` and `issue` keep every space and
/// newline, in the decoded header and on the wire.
#[test]
fn header_values_keep_their_whitespace_from_uxp_to_legacy_and_back() {
    let maps = crate::support::mappings(&crate::support::repo().join("mappings"));
    let uxp = uxp_request_with_values();
    let d = decode(uxp.as_bytes(), Family::Uxp);
    assert_eq!(values(&d), EXACT, "decoded as sent");
    for dialect in [Dialect::V31, Dialect::V31Eu] {
        let opts = Options {
            legacy_dialect: Some(dialect),
            ..Options::default()
        };
        let tr = Translator::new(maps, opts);
        let legacy = tr
            .request_to_legacy(Input::new(uxp.as_bytes()))
            .unwrap_or_else(|e| panic!("{dialect}: {e}"));
        let text = String::from_utf8_lossy(&legacy.bytes);
        assert!(text.contains(&format!(">{USER_ID}</")), "{text}");
        let back = decode(&legacy.bytes, Family::Legacy);
        assert_eq!(back.dialect, dialect);
        assert_eq!(values(&back), EXACT, "{dialect}:\n{text}");
        let again = tr.request_to_uxp(Input::new(&legacy.bytes)).unwrap();
        assert_eq!(
            values(&decode(&again.bytes, Family::Uxp)),
            EXACT,
            "{dialect} → 4.0"
        );
    }
}

/// 3.1 → 4.0 → 3.1 likewise.
#[test]
fn header_values_keep_their_whitespace_from_legacy_to_uxp_and_back() {
    let maps = crate::support::mappings(&crate::support::repo().join("mappings"));
    for (dialect, ns) in [
        (Dialect::V31, dualroad::wire::dialect::NS_V31),
        (Dialect::V31Eu, NS_V31_EU),
    ] {
        let opts = Options {
            legacy_dialect: Some(dialect),
            ..Options::default()
        };
        let legacy = legacy_request_with_values(ns);
        assert_eq!(values(&decode(legacy.as_bytes(), Family::Legacy)), EXACT);
        let tr = Translator::new(maps, opts);
        let uxp = tr
            .request_to_uxp(Input::new(legacy.as_bytes()))
            .unwrap_or_else(|e| panic!("{dialect}: {e}"));
        let text = String::from_utf8_lossy(&uxp.bytes);
        assert!(text.contains(&format!(">{ISSUE}</")), "{text}");
        assert_eq!(values(&decode(&uxp.bytes, Family::Uxp)), EXACT, "{text}");
        let back = tr.request_to_legacy(Input::new(&uxp.bytes)).unwrap();
        assert_eq!(
            values(&decode(&back.bytes, Family::Legacy)),
            EXACT,
            "4.0 → {dialect}"
        );
    }
}

// === §5: a missing field is named as the message's dialect names it ===

/// Through the translation entry points, as the gateway calls them: each dialect, each
/// required field missing, answered `Client.MissingHeaderField` naming that field.
/// (A 4.x header without `protocolVersion` reads as 6.0, so that case is the codec's
/// own test with the dialect fixed.)
#[test]
fn translation_names_the_missing_field_of_every_dialect() {
    let maps = crate::support::mappings(&crate::support::repo().join("mappings"));
    let tr = Translator::new(maps, Options::default());
    let cases: Vec<(Family, &str, Vec<&str>, Vec<&str>)> = vec![
        (
            Family::Legacy,
            NS_V2,
            V2_FIELDS.to_vec(),
            vec!["asutus", "andmekogu", "nimi", "id"],
        ),
        (
            Family::Legacy,
            NS_XROAD,
            V4_FIELDS[..4].to_vec(),
            vec!["client", "service", "id", "userId"],
        ),
        (
            Family::Uxp,
            NS_XROAD,
            V4_FIELDS.to_vec(),
            vec!["client", "service", "id", "protocolVersion"],
        ),
    ];
    let mut all = cases;
    for ns in [
        dualroad::wire::dialect::NS_V30,
        dualroad::wire::dialect::NS_V31,
        NS_V31_EU,
    ] {
        all.push((
            Family::Legacy,
            ns,
            V31EU_FIELDS.to_vec(),
            vec!["consumer", "producer", "service", "id"],
        ));
    }
    for (family, ns, fields, required) in all {
        for missing in required {
            let kept: Vec<&str> = fields
                .iter()
                .copied()
                .filter(|f| {
                    !f.starts_with(&format!("<P:{missing}>"))
                        && !f.starts_with(&format!("<P:{missing} "))
                })
                .collect();
            assert_eq!(kept.len() + 1, fields.len(), "{missing} is one element");
            let msg = styled(Style::OnEnvelope, ns, &kept);
            let input = Input::new(msg.as_bytes());
            let err = match family {
                Family::Legacy => tr.request_to_uxp(input),
                Family::Uxp => tr.request_to_legacy(input),
            }
            .expect_err(missing);
            assert_eq!(
                err.fault_code().0,
                "Client.MissingHeaderField",
                "{ns} {missing}: {err}"
            );
            assert_eq!(
                err.to_string(),
                format!("required header field `{missing}` is missing"),
                "{ns}"
            );
        }
    }
}
