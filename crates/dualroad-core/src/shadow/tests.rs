//! Comparator tests over the answer pairs in `fixtures/compare/` and small inline
//! messages. Each test names the property it pins down.

use crate::shadow::canon::{Canon, CanonError, Limits};
use crate::shadow::compare::{compare, compare_canon, Comparison, DiffKind, Options, PathDiff};
use crate::shadow::noise::{CalibrationAnswer, CalibrationError, NoiseModel};
use crate::shadow::outcome::{NotComparedReason, Outcome, Role};
use crate::shadow::rules::{CompareConfig, IgnoreRule, RuleStats, Rules};
use crate::shadow::values::Date;
use crate::wire::charset::Charset;
use crate::wire::message::Input;

/// The repository's `fixtures/compare/` files. Only tests read files in this crate
/// (clippy.toml bans it everywhere else).
#[allow(clippy::disallowed_methods)]
fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/compare")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn today() -> Date {
    "2026-03-01".parse().unwrap()
}

fn canon(xml: &[u8]) -> Canon {
    Canon::parse(xml, None, &Limits::default())
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(xml)))
}

fn run(primary: &[u8], shadow: &[u8], rules: &Rules) -> Comparison {
    compare(
        Input::new(primary),
        Input::new(shadow),
        &Options::new(rules, today()),
    )
}

fn run_files(primary: &str, shadow: &str, rules: &Rules) -> Comparison {
    run(&fixture(primary), &fixture(shadow), rules)
}

fn paths(diffs: &[PathDiff]) -> Vec<&str> {
    diffs.iter().map(|d| d.path.as_str()).collect()
}

fn company_rules() -> Rules {
    let text = String::from_utf8(fixture("company-record/compare.toml")).unwrap();
    toml::from_str::<CompareConfig>(&text)
        .unwrap()
        .compile()
        .unwrap()
}

const S11: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// A SOAP 1.1 envelope around `body` (with `decls` on the Envelope).
fn env(decls: &str, body: &str) -> String {
    format!(r#"<s:Envelope xmlns:s="{S11}" {decls}><s:Body>{body}</s:Body></s:Envelope>"#)
}

fn same(a: &str, b: &str) {
    let c = run(a.as_bytes(), b.as_bytes(), &Rules::default());
    assert_eq!(c.outcome, Outcome::Match, "{a}\n{b}\n{:#?}", c.diffs);
    assert_eq!(
        canon(a.as_bytes()).canonical_text(),
        canon(b.as_bytes()).canonical_text()
    );
}

fn differ(a: &str, b: &str) -> Comparison {
    let c = run(a.as_bytes(), b.as_bytes(), &Rules::default());
    assert_eq!(c.outcome, Outcome::BodyDiff, "{a}\n{b}");
    c
}

// --- canonicalization: what two serializations of one answer may differ in

#[test]
fn prefixes_do_not_matter() {
    same(
        &env(r#"xmlns:m="urn:moh""#, "<m:r><m:v>1</m:v></m:r>"),
        &env(r#"xmlns:moh="urn:moh""#, "<moh:r><moh:v>1</moh:v></moh:r>"),
    );
}

#[test]
fn default_namespace_equals_prefixed_same_uri() {
    same(
        &env(r#"xmlns:m="urn:moh""#, "<m:r><m:v>1</m:v></m:r>"),
        &env("", r#"<r xmlns="urn:moh"><v>1</v></r>"#),
    );
    // The envelope itself may use a default namespace too.
    same(
        &env("", "<r/>"),
        &format!(r#"<Envelope xmlns="{S11}"><Body><r xmlns=""/></Body></Envelope>"#),
    );
}

#[test]
fn same_prefix_bound_to_another_uri_differs() {
    let c = differ(
        &env(r#"xmlns:m="urn:moh""#, "<m:r><v>1</v></m:r>"),
        &env(r#"xmlns:m="urn:moh2""#, "<m:r><v>1</v></m:r>"),
    );
    assert_eq!(paths(&c.diffs), ["Body/r", "Body/r"]);
    let mut kinds: Vec<DiffKind> = c.diffs.iter().map(|d| d.kind).collect();
    kinds.sort_by_key(|k| *k as u8);
    assert_eq!(kinds, [DiffKind::Added, DiffKind::Removed]);
    // Unqualified children are in no namespace, not in the default one of the parent.
    differ(
        &env("", r#"<r xmlns="urn:m"><v>1</v></r>"#),
        &env(r#"xmlns:m="urn:m""#, "<m:r><v>1</v></m:r>"),
    );
}

#[test]
fn attribute_order_does_not_matter() {
    same(
        &env(
            "",
            r#"<r><c code="E11" recorded="2009-04-21" x:k="1" xmlns:x="urn:x"/></r>"#,
        ),
        &env(
            "",
            r#"<r><c xmlns:y="urn:x" y:k="1" recorded='2009-04-21' code="E11"/></r>"#,
        ),
    );
    let c = differ(
        &env("", r#"<r><c code="E11"/></r>"#),
        &env("", r#"<r><c code="E12"/></r>"#),
    );
    assert_eq!(paths(&c.diffs), ["Body/r/c/@code"]);
    assert_eq!(c.diffs[0].primary.as_deref(), Some("E11"));
    assert_eq!(c.diffs[0].shadow.as_deref(), Some("E12"));
}

#[test]
fn namespace_declarations_may_move_between_elements() {
    same(
        &env(
            r#"xmlns:a="urn:a" xmlns:b="urn:b""#,
            "<a:r><b:v>1</b:v><b:w>2</b:w></a:r>",
        ),
        &env(
            "",
            r#"<a:r xmlns:a="urn:a"><b:v xmlns:b="urn:b">1</b:v><w xmlns="urn:b">2</w></a:r>"#,
        ),
    );
}

#[test]
fn indentation_and_insignificant_whitespace_are_ignored() {
    same(
        &env("", "<r><a>1</a><b><c>x y</c></b></r>"),
        &env(
            "",
            "\n  <r>\n    <a>\n      1\n    </a>\n\t<b>\n      <c>  x y\t</c>\n    </b>\n  </r>\n",
        ),
    );
    // Whitespace inside a value is data.
    differ(
        &env("", "<r><c>Main  Street</c></r>"),
        &env("", "<r><c>Main Street</c></r>"),
    );
    // An element with only whitespace is empty, as is a self-closed one.
    same(&env("", "<r><c>   </c></r>"), &env("", "<r><c/></r>"));
}

#[test]
fn crlf_equals_lf_but_a_character_reference_is_kept() {
    same(
        &env("", "<r><note>line one\nline two</note></r>").replace('\n', "\r\n"),
        &env("", "<r><note>line one\nline two</note></r>"),
    );
    same(
        &env("", "<r><note>one\rtwo</note></r>"),
        &env("", "<r><note>one\ntwo</note></r>"),
    );
    differ(
        &env("", "<r><note>one&#13;two</note></r>"),
        &env("", "<r><note>one\ntwo</note></r>"),
    );
    // Attribute values: literal line breaks and tabs are spaces (XML normalization).
    same(
        &env("", "<r a=\"x\r\ny\tz\"/>"),
        &env("", "<r a=\"x y z\"/>"),
    );
}

#[test]
fn cdata_equals_escaped_text() {
    same(
        &env("", "<r><a><![CDATA[14 & 16 <b>]]></a></r>"),
        &env("", "<r><a>14 &amp; 16 &lt;b&gt;</a></r>"),
    );
    same(
        &env("", "<r><a>x<![CDATA[y]]>z</a></r>"),
        &env("", "<r><a>xyz</a></r>"),
    );
}

#[test]
fn comments_and_processing_instructions_are_ignored() {
    same(
        &env(
            "",
            "<r><!-- generated by UXP --><a>1<!-- mid -->2</a><?audit x?></r>",
        ),
        &env("", "<r><a>12</a></r>"),
    );
}

#[test]
fn xsi_type_and_array_type_values_are_prefix_insensitive() {
    let c = run_files(
        "person-lookup/primary.xml",
        "person-lookup/shadow-prefixes.xml",
        &Rules::default(),
    );
    assert_eq!(c.outcome, Outcome::Match, "{:#?}", c.diffs);
    let c = run_files(
        "person-lookup/primary.xml",
        "person-lookup/shadow-other-namespace.xml",
        &Rules::default(),
    );
    assert_eq!(c.outcome, Outcome::BodyDiff);
    assert!(paths(&c.diffs).contains(&"Body/findPersonResponse"));
}

#[test]
fn sibling_order_counts_only_within_same_named_lists() {
    // Differently named siblings: order is the schema's business, not data.
    same(
        &env("", "<r><a>1</a><b>2</b></r>"),
        &env("", "<r><b>2</b><a>1</a></r>"),
    );
    // Repeated elements: order is data unless the path is declared unordered.
    let c = differ(
        &env("", "<r><i>1</i><i>2</i></r>"),
        &env("", "<r><i>2</i><i>1</i></r>"),
    );
    let locs: Vec<&str> = c.diffs.iter().map(|d| d.location.as_str()).collect();
    assert_eq!(locs, ["Body/r/i[1]", "Body/r/i[2]"]);
    assert_eq!(paths(&c.diffs), ["Body/r/i", "Body/r/i"]);
}

#[test]
fn canonical_text_is_one_node_per_line() {
    let c = canon(
        env(
            r#"xmlns:m="urn:m""#,
            r#"<m:r z="1" a="&quot;q&quot;"><b>two
lines</b><a>x</a></m:r>"#,
        )
        .as_bytes(),
    );
    insta::assert_snapshot!(c.canonical_text(), @r###"
    {http://schemas.xmlsoap.org/soap/envelope/}Envelope
      {http://schemas.xmlsoap.org/soap/envelope/}Body
        {urn:m}r a="\"q\"" z="1"
          a = "x"
          b = "two\nlines"
    "###);
}

#[test]
fn charset_from_declaration_and_content_type() {
    let latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><r n=\"J\xF6rg\">J\xF6rg</r></s:Body></s:Envelope>";
    let utf8 = "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><r n=\"Jörg\">Jörg</r></s:Body></s:Envelope>";
    assert_eq!(
        run(latin1, utf8.as_bytes(), &Rules::default()).outcome,
        Outcome::Match
    );
    let no_decl = &latin1[latin1.iter().position(|b| *b == b'>').unwrap() + 1..];
    let rules = Rules::default();
    let opts = Options::new(&rules, today());
    let c = compare(
        Input::new(no_decl).with_content_type(Some("text/xml; charset=ISO-8859-1")),
        Input::new(utf8.as_bytes()).with_content_type(Some("text/xml; charset=utf-8")),
        &opts,
    );
    assert_eq!(c.outcome, Outcome::Match);
    // Without the charset, Latin-1 bytes are not UTF-8.
    assert_eq!(
        Canon::parse(no_decl, None, &Limits::default()).unwrap_err(),
        CanonError::Encoding("UTF-8")
    );
    assert!(Canon::parse(utf8.as_bytes(), Some(Charset::Utf8), &Limits::default()).is_ok());
}

#[test]
fn multipart_answers_compare_by_their_soap_part() {
    let soap = fixture("patient-summary/primary.xml");
    let mut mime =
        b"--b1\r\nContent-Type: text/xml; charset=UTF-8\r\nContent-ID: <root>\r\n\r\n".to_vec();
    mime.extend_from_slice(&soap);
    mime.extend_from_slice(b"\r\n--b1\r\nContent-Type: text/plain\r\nContent-ID: <att>\r\n\r\nattachment\r\n--b1--\r\n");
    let rules = Rules::default();
    let c = compare(
        Input::new(&soap),
        Input::new(&mime).with_content_type(Some(
            r#"multipart/related; type="text/xml"; boundary="b1"; start="<root>""#,
        )),
        &Options::new(&rules, today()),
    );
    assert_eq!(c.outcome, Outcome::Match, "{c:#?}");
}

#[test]
fn mixed_content_keeps_text_apart_from_children() {
    let c = canon(env("", "<p>Hello <b>bold</b> world<i/>!</p>").as_bytes());
    let p = c.body().and_then(|b| b.child(None, "p")).unwrap();
    assert_eq!(p.text(), "Hello  world!");
    let kids: Vec<(&str, &str)> = p.children().iter().map(|k| (k.local(), k.text())).collect();
    assert_eq!(kids, [("b", "bold"), ("i", "")]);
}

#[test]
fn tree_accessors() {
    let c = canon(&fixture("company-record/primary.xml"));
    assert_eq!(c.soap_version(), crate::wire::SoapVersion::Soap11);
    assert!(c.fault().is_none());
    let header = c.header().unwrap();
    let client = header
        .child(Some("http://x-road.eu/xsd/xroad.xsd"), "client")
        .unwrap();
    assert_eq!(
        client.attr(Some("http://x-road.eu/xsd/identifiers"), "objectType"),
        Some("SUBSYSTEM")
    );
    assert_eq!(client.name(), "{http://x-road.eu/xsd/xroad.xsd}client");
    // Children come sorted by local name, stably.
    let company = c
        .body()
        .and_then(|b| b.children().get(0))
        .and_then(|r| r.child(None, "response"))
        .and_then(|r| r.child(None, "company"))
        .unwrap();
    let names: Vec<&str> = company.children().iter().map(|k| k.local()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    assert!(c.node_count() > 50);
}

#[test]
fn namespace_errors_are_refused_and_xml_prefix_is_predefined() {
    for bad in [
        env("", "<p:r/>"),
        env("", r#"<r p:a="1"/>"#),
        env("", r#"<r xmlns:p=""/>"#),
        env("", r#"<r xmlns:xml="urn:not-xml"/>"#),
        env("", r#"<r xmlns:p="http://www.w3.org/2000/xmlns/"/>"#),
        env("", r#"<r a="1" a="2"/>"#),
    ] {
        assert!(
            matches!(
                Canon::parse(bad.as_bytes(), None, &Limits::default()),
                Err(CanonError::Xml(_))
            ),
            "{bad}"
        );
    }
    let c = canon(env("", r#"<r xml:lang="ar">x</r>"#).as_bytes());
    let r = c.body().and_then(|b| b.child(None, "r")).unwrap();
    assert_eq!(
        r.attr(Some("http://www.w3.org/XML/1998/namespace"), "lang"),
        Some("ar")
    );
    // A declaration's scope ends with its element: `c` is in no namespace.
    same(
        &env("", r#"<w><a xmlns="urn:a"><b/></a><c/></w>"#),
        &env(r#"xmlns:n="urn:a""#, "<w><n:a><n:b/></n:a><c/></w>"),
    );
}

#[test]
fn qname_values_cannot_amplify_memory() {
    // One long namespace URI, referenced by thousands of short `xsi:type` values: each
    // resolved value would repeat the URI. The arena is capped relative to the input.
    let uri = format!("urn:{}", "u".repeat(20_000));
    let items = r#"<i xsi:type="p:t"/>"#.repeat(5000);
    let xml = env(
        &format!(r#"xmlns:p="{uri}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance""#),
        &format!("<r>{items}</r>"),
    );
    let e = Canon::parse(xml.as_bytes(), None, &Limits::default()).unwrap_err();
    assert!(matches!(e, CanonError::TooLarge { .. }), "{e}");
    assert!(e.is_limit());
}

// --- hostile and broken answers

#[test]
fn doctype_is_refused() {
    assert_eq!(
        Canon::parse(
            &fixture("broken/doctype-entities.xml"),
            None,
            &Limits::default()
        )
        .unwrap_err(),
        CanonError::Dtd
    );
    let c = run_files(
        "patient-summary/primary.xml",
        "broken/doctype-entities.xml",
        &Rules::default(),
    );
    assert!(
        matches!(&c.outcome, Outcome::ShadowError { error } if error.contains("DTD")),
        "{:?}",
        c.outcome
    );
    // An undeclared entity is an error, not an empty string.
    assert!(matches!(
        Canon::parse(env("", "<r>&lol;</r>").as_bytes(), None, &Limits::default()),
        Err(CanonError::Xml(_))
    ));
}

#[test]
fn html_and_truncated_shadow_answers_are_shadow_errors() {
    for (file, needle) in [
        ("broken/html-error.html", "HTML page"),
        ("broken/html-no-doctype.html", "not a SOAP"),
        ("broken/truncated.xml", "truncated"),
    ] {
        let c = run_files("company-record/primary.xml", file, &Rules::default());
        match &c.outcome {
            Outcome::ShadowError { error } => assert!(error.contains(needle), "{file}: {error}"),
            o => panic!("{file}: {o:?}"),
        }
        assert!(c.outcome.is_mismatch());
        assert!(c.unified.is_none());
    }
    let rules = Rules::default();
    let opts = Options::new(&rules, today());
    let html = compare(
        Input::new(&fixture("company-record/primary.xml")),
        Input::new(&fixture("broken/html-no-doctype.html"))
            .with_content_type(Some("text/html; charset=utf-8")),
        &opts,
    );
    assert!(
        matches!(&html.outcome, Outcome::ShadowError { error } if error.contains("text/html")),
        "{:?}",
        html.outcome
    );
    for bad in [
        &b""[..],
        b"   \n",
        b"<r>",
        b"<a/><b/>",
        b"<a/>trailing",
        b"not xml",
    ] {
        let c = run(
            &fixture("company-record/primary.xml"),
            bad,
            &Rules::default(),
        );
        assert!(
            matches!(c.outcome, Outcome::ShadowError { .. }),
            "{:?}: {:?}",
            String::from_utf8_lossy(bad),
            c.outcome
        );
    }
}

#[test]
fn an_unreadable_primary_is_not_compared() {
    let c = run_files(
        "broken/html-error.html",
        "company-record/primary.xml",
        &Rules::default(),
    );
    assert!(
        matches!(
            c.outcome,
            Outcome::NotCompared {
                reason: NotComparedReason::PrimaryInvalid,
                ..
            }
        ),
        "{:?}",
        c.outcome
    );
    assert!(!c.outcome.is_mismatch());
}

#[test]
fn deep_nesting_is_bounded() {
    let deep = |n: usize| env("", &format!("{}{}", "<d>".repeat(n), "</d>".repeat(n)));
    assert!(Canon::parse(deep(50).as_bytes(), None, &Limits::default()).is_ok());
    // Far beyond the bound: refused without recursion, so no stack overflow.
    let e = Canon::parse(deep(100_000).as_bytes(), None, &Limits::default()).unwrap_err();
    assert_eq!(
        e,
        CanonError::TooDeep(crate::shadow::canon::DEFAULT_MAX_DEPTH)
    );
    assert!(e.is_limit());
    let c = run(
        &fixture("company-record/primary.xml"),
        deep(1000).as_bytes(),
        &Rules::default(),
    );
    assert!(
        matches!(
            c.outcome,
            Outcome::NotCompared {
                reason: NotComparedReason::TooLarge,
                ..
            }
        ),
        "{:?}",
        c.outcome
    );
}

#[test]
fn node_count_and_size_are_bounded() {
    let wide = env("", &format!("<r>{}</r>", "<i a=\"1\">x</i>".repeat(1000)));
    let small = Limits {
        max_nodes: 500,
        ..Limits::default()
    };
    assert_eq!(
        Canon::parse(wide.as_bytes(), None, &small).unwrap_err(),
        CanonError::TooManyNodes(500)
    );
    let tiny = Limits {
        max_bytes: 100,
        ..Limits::default()
    };
    assert!(matches!(
        Canon::parse(wide.as_bytes(), None, &tiny),
        Err(CanonError::TooLarge { .. })
    ));
}

#[test]
fn no_prefix_of_an_answer_makes_the_parser_panic() {
    // Every truncation of a real answer (multi-byte characters included) is an error or
    // a value, never a panic.
    let full = fixture("company-record/shadow-equivalent.xml");
    for n in 0..full.len() {
        let prefix = full.get(..n).unwrap_or(&[]);
        let _ = Canon::parse(prefix, None, &Limits::default());
        let _ = Canon::parse(prefix, Some(Charset::Latin1), &Limits::default());
    }
    assert!(Canon::parse(&full, None, &Limits::default()).is_ok());
}

// --- volatile fields, ignore rules, treatments

#[test]
fn fixture_pair_with_every_serialization_difference_matches() {
    // Different prefixes, default namespaces, declarations moved, header order, message
    // id, CRLF, CDATA, comments, attribute order and quotes, indentation.
    let c = run_files(
        "patient-summary/primary.xml",
        "patient-summary/shadow-same.xml",
        &Rules::default(),
    );
    assert_eq!(c.outcome, Outcome::Match, "{:#?}", c.diffs);
    assert!(c.diffs.is_empty() && c.unified.is_none());
}

#[test]
fn message_id_and_request_hash_never_count() {
    let msg = |id: &str, hash: &str, user: &str| {
        format!(
            r#"<s:Envelope xmlns:s="{S11}" xmlns:x="http://x-road.eu/xsd/xroad.xsd"><s:Header><x:id>{id}</x:id><x:requestHash algorithmId="sha512">{hash}</x:requestHash><x:userId>{user}</x:userId></s:Header><s:Body><r/></s:Body></s:Envelope>"#
        )
    };
    let c = run(
        msg("a-1", "aGFzaDE=", "PS400123456").as_bytes(),
        msg("b-2", "aGFzaDI=", "PS400123456").as_bytes(),
        &Rules::default(),
    );
    assert_eq!(c.outcome, Outcome::Match);
    // Other header fields do count.
    let c = run(
        msg("a-1", "aGFzaDE=", "PS400123456").as_bytes(),
        msg("a-1", "aGFzaDE=", "PS499999999").as_bytes(),
        &Rules::default(),
    );
    assert_eq!(paths(&c.diffs), ["Header/userId"]);
    // Legacy dialects: v2 `xtee:id`, v3.1 `xrd:id`.
    let v2 = run_files(
        "person-lookup/primary.xml",
        "person-lookup/shadow-prefixes.xml",
        &Rules::default(),
    );
    assert!(v2.is_match());
    // A service's own header element named `id` is data.
    let own = |id: &str| {
        format!(
            r#"<s:Envelope xmlns:s="{S11}"><s:Header><t:id xmlns:t="urn:tracking">{id}</t:id></s:Header><s:Body><r/></s:Body></s:Envelope>"#
        )
    };
    let c = run(own("1").as_bytes(), own("2").as_bytes(), &Rules::default());
    assert_eq!(paths(&c.diffs), ["Header/id"]);
}

fn ignore(path: &str, expires: Option<&str>) -> IgnoreRule {
    IgnoreRule {
        path: path.into(),
        reason: "test".into(),
        expires: expires.map(str::to_string),
    }
}

#[test]
fn ignore_rules_match_report_stale_and_expire() {
    let cfg = CompareConfig {
        ignore: vec![
            ignore("Body/*/response/generatedAt", Some("2026-12-31")),
            ignore("Body/getPatientSummaryResponse/response/traceId", None),
            ignore("Body/*/response/note", Some("2026-02-28")),
            ignore(
                "Body/*/response/chronicConditions/condition/@recorded",
                None,
            ),
        ],
        ..Default::default()
    };
    let rules = cfg.compile().unwrap();
    let c = run_files(
        "patient-summary/primary.xml",
        "patient-summary/shadow-diff.xml",
        &rules,
    );
    assert_eq!(c.outcome, Outcome::BodyDiff);
    assert_eq!(
        paths(&c.diffs),
        [
            "Body/getPatientSummaryResponse/response/allergies/allergy/severity",
            "Body/getPatientSummaryResponse/response/chronicConditions/condition",
        ],
        "{:#?}",
        c.diffs
    );
    // generatedAt and @recorded matched; traceId is in neither answer; the `note` rule
    // expired yesterday, so it no longer applies.
    assert_eq!(c.rules_matched, [0, 3]);

    let mut stats = RuleStats::new(&rules);
    stats.record(&c);
    stats.record(&Comparison::not_compared(NotComparedReason::Timeout, None));
    let report = stats.report(&rules, today());
    assert_eq!(report.comparisons, 1);
    let stale: Vec<&str> = report.stale.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(stale, ["Body/getPatientSummaryResponse/response/traceId"]);
    let expired: Vec<usize> = report.expired.iter().map(|r| r.index).collect();
    assert_eq!(expired, [2]);

    // After its expiry date the generatedAt rule stops hiding the difference.
    let later = Options::new(&rules, "2027-01-01".parse().unwrap());
    let c = compare(
        Input::new(&fixture("patient-summary/primary.xml")),
        Input::new(&fixture("patient-summary/shadow-diff.xml")),
        &later,
    );
    assert!(paths(&c.diffs).contains(&"Body/getPatientSummaryResponse/response/generatedAt"));
}

#[test]
fn ignore_rules_cover_presence_and_whole_subtrees() {
    let rules = CompareConfig {
        ignore: vec![ignore("Body/r/audit", None)],
        ..Default::default()
    }
    .compile()
    .unwrap();
    let c = run(
        env("", "<r><v>1</v></r>").as_bytes(),
        env("", "<r><v>1</v><audit><by>uxp</by><at>now</at></audit></r>").as_bytes(),
        &rules,
    );
    assert_eq!(c.outcome, Outcome::Match);
    assert_eq!(c.rules_matched, [0]);
}

#[test]
fn unordered_numeric_and_timestamp_treatments() {
    let rules = company_rules();
    let c = run_files(
        "company-record/primary.xml",
        "company-record/shadow-equivalent.xml",
        &rules,
    );
    assert_eq!(c.outcome, Outcome::Match, "{:#?}", c.diffs);

    // Without the rules, each treatment's difference shows.
    let c = run_files(
        "company-record/primary.xml",
        "company-record/shadow-equivalent.xml",
        &Rules::default(),
    );
    let p: Vec<&str> = paths(&c.diffs)
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        p,
        [
            "Body/getCompanyResponse/response/company/directors/director/fullName",
            "Body/getCompanyResponse/response/company/directors/director/personalCode",
            "Body/getCompanyResponse/response/company/directors/director/role",
            "Body/getCompanyResponse/response/company/directors/director/since",
            "Body/getCompanyResponse/response/company/employees",
            "Body/getCompanyResponse/response/company/lastUpdated",
            "Body/getCompanyResponse/response/company/shareCapital",
            "Body/getCompanyResponse/response/company/shareCapital/@paidUp",
        ]
    );

    // A tighter tolerance: 2 seconds apart is too far for 1.
    let strict = CompareConfig {
        timestamps: vec![(
            "Body/getCompanyResponse/response/company/lastUpdated".into(),
            1,
        )],
        ..Default::default()
    }
    .compile()
    .unwrap();
    let c = run_files(
        "company-record/primary.xml",
        "company-record/shadow-equivalent.xml",
        &strict,
    );
    assert!(paths(&c.diffs).contains(&"Body/getCompanyResponse/response/company/lastUpdated"));
}

#[test]
fn numeric_paths_still_catch_different_numbers_and_non_numbers() {
    let rules = CompareConfig {
        numeric: vec!["Body/r/n".into()],
        ..Default::default()
    }
    .compile()
    .unwrap();
    for (a, b, equal) in [
        ("007", "7", true),
        ("1.50", "1.5", true),
        ("1.5", "1.05", false),
        ("12", "twelve", false),
        ("twelve", "twelve", true),
    ] {
        let c = run(
            env("", &format!("<r><n>{a}</n></r>")).as_bytes(),
            env("", &format!("<r><n>{b}</n></r>")).as_bytes(),
            &rules,
        );
        assert_eq!(c.is_match(), equal, "{a} vs {b}");
    }
}

#[test]
fn one_changed_item_in_an_unordered_list_gives_field_level_diffs() {
    let c = run_files(
        "company-record/primary.xml",
        "company-record/shadow-diff.xml",
        &company_rules(),
    );
    assert_eq!(c.outcome, Outcome::BodyDiff);
    assert_eq!(c.diff_count, 1, "{:#?}", c.diffs);
    assert_eq!(
        c.diffs[0],
        PathDiff {
            path: "Body/getCompanyResponse/response/company/directors/director/role".into(),
            location: "Body/getCompanyResponse/response/company/directors/director[3]/role".into(),
            kind: DiffKind::Changed,
            primary: Some("BOARD_MEMBER".into()),
            shadow: Some("DEPUTY_CHAIRMAN".into()),
        }
    );
    // Extra and missing items of a multiset.
    let rules = CompareConfig {
        unordered: vec!["Body/r/list".into()],
        ..Default::default()
    }
    .compile()
    .unwrap();
    let c = run(
        env("", "<r><list><i>a</i><i>b</i><i>b</i><j>z</j></list></r>").as_bytes(),
        env("", "<r><list><i>b</i><i>a</i><k>y</k></list></r>").as_bytes(),
        &rules,
    );
    let got: Vec<(&str, DiffKind)> = c.diffs.iter().map(|d| (d.path.as_str(), d.kind)).collect();
    assert_eq!(
        got,
        [
            ("Body/r/list/i", DiffKind::Removed),
            ("Body/r/list/j", DiffKind::Removed),
            ("Body/r/list/k", DiffKind::Added),
        ]
    );
}

// --- faults

#[test]
fn fault_codes_compare_across_spellings() {
    let c = run_files(
        "faults/access-denied.xml",
        "faults/access-denied-snake.xml",
        &Rules::default(),
    );
    // Same code, different fault strings and error ids: a match.
    assert_eq!(c.outcome, Outcome::Match);

    let c = run_files(
        "faults/access-denied.xml",
        "faults/unknown-service.xml",
        &Rules::default(),
    );
    assert_eq!(
        c.outcome,
        Outcome::FaultCodeDiff {
            primary: "Server.ServerProxy.AccessDenied".into(),
            shadow: "Server.ServerProxy.UnknownService".into(),
        }
    );
    assert!(c
        .unified
        .as_deref()
        .unwrap_or("")
        .contains("UnknownService"));

    // Generic codes are QNames: the prefix does not matter, the namespace does.
    let generic = |decl: &str, code: &str| {
        format!(
            r#"<s:Envelope xmlns:s="{S11}" {decl}><s:Body><s:Fault><faultcode>{code}</faultcode><faultstring>x</faultstring></s:Fault></s:Body></s:Envelope>"#
        )
    };
    let prefixed = fixture("faults/server-generic-prefixed.xml");
    let c = run(
        &prefixed,
        generic(
            r#"xmlns:env="http://schemas.xmlsoap.org/soap/envelope/""#,
            "env:Server",
        )
        .as_bytes(),
        &Rules::default(),
    );
    assert_eq!(c.outcome, Outcome::Match);
    let c = run(
        &prefixed,
        generic(r#"xmlns:app="urn:registry:faults""#, "app:Server").as_bytes(),
        &Rules::default(),
    );
    assert_eq!(
        c.outcome,
        Outcome::FaultCodeDiff {
            primary: "Server".into(),
            shadow: "{urn:registry:faults}Server".into()
        }
    );
}

#[test]
fn soap12_fault_codes_use_the_most_specific_subcode() {
    let f = |sub: &str| {
        format!(
            r#"<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><e:Fault><e:Code><e:Value>e:Receiver</e:Value><e:Subcode><e:Value>{sub}</e:Value></e:Subcode></e:Code><e:Reason><e:Text xml:lang="en">no</e:Text></e:Reason></e:Fault></e:Body></e:Envelope>"#
        )
    };
    let a = canon(f("Server.ServerProxy.AccessDenied").as_bytes());
    assert_eq!(
        a.fault().map(|f| f.code.as_str()),
        Some("Server.ServerProxy.AccessDenied")
    );
    let c = run(
        f("Server.ServerProxy.AccessDenied").as_bytes(),
        f("server.serverproxy.access_denied").as_bytes(),
        &Rules::default(),
    );
    assert_eq!(c.outcome, Outcome::Match);
}

#[test]
fn exactly_one_side_faulted_is_a_fault_mismatch() {
    let c = run_files(
        "patient-summary/primary.xml",
        "faults/access-denied-snake.xml",
        &Rules::default(),
    );
    assert_eq!(
        c.outcome,
        Outcome::FaultMismatch {
            faulted: Role::Shadow,
            code: "server.serverproxy.access_denied".into()
        }
    );
    // Evidence: what the primary answered instead, and the unified diff.
    assert!(paths(&c.diffs).contains(&"Body/Fault"));
    assert!(paths(&c.diffs).contains(&"Body/getPatientSummaryResponse"));
    assert!(c.unified.is_some());
    let c = run_files(
        "faults/access-denied.xml",
        "patient-summary/primary.xml",
        &Rules::default(),
    );
    assert!(matches!(
        c.outcome,
        Outcome::FaultMismatch {
            faulted: Role::Primary,
            ..
        }
    ));
}

#[test]
fn soap_version_mismatch_is_one_difference() {
    let c = run(
        env("", "<r/>").as_bytes(),
        br#"<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><r/></e:Body></e:Envelope>"#,
        &Rules::default(),
    );
    assert_eq!(c.outcome, Outcome::BodyDiff);
    assert_eq!(paths(&c.diffs), ["Envelope"]);
}

// --- noise

#[test]
fn noise_is_learned_from_two_primary_answers_and_reported_apart() {
    let rules = Rules::default();
    let p1 = canon(&fixture("patient-summary/primary.xml"));
    let p2 = canon(&fixture("patient-summary/primary-again.xml"));
    let mut model = NoiseModel::new();
    assert!(model.learn_pair(&p1, &p2, &Options::calibration(&rules, today())));
    let learned: Vec<(&str, u64)> = model.paths().collect();
    assert_eq!(
        learned,
        [("Body/getPatientSummaryResponse/response/generatedAt", 1)]
    );

    // Restored from storage, then used.
    let model: NoiseModel = serde_json::from_str(&serde_json::to_string(&model).unwrap()).unwrap();
    let opts = Options::new(&rules, today()).with_noise(Some(&model));
    let shadow = canon(&fixture("patient-summary/shadow-diff.xml"));
    let c = compare_canon(&p1, &shadow, &opts);
    assert_eq!(c.outcome, Outcome::BodyDiff);
    assert_eq!(
        paths(&c.noise),
        ["Body/getPatientSummaryResponse/response/generatedAt"]
    );
    assert_eq!(c.noise_count, 1);
    assert!(!paths(&c.diffs).contains(&"Body/getPatientSummaryResponse/response/generatedAt"));
    assert_eq!(c.diff_count, 2);

    // A shadow that differs only in noise matches, with the noise still on record.
    let only_noise = String::from_utf8(fixture("patient-summary/primary.xml"))
        .unwrap()
        .replace("09:14:07.412", "09:14:11.003");
    let c = compare_canon(&p1, &canon(only_noise.as_bytes()), &opts);
    assert_eq!(c.outcome, Outcome::Match);
    assert_eq!(c.noise_count, 1);

    // Without the model the same difference counts.
    let c = compare_canon(
        &p1,
        &canon(only_noise.as_bytes()),
        &Options::new(&rules, today()),
    );
    assert_eq!(c.outcome, Outcome::BodyDiff);

    // Errors teach nothing.
    let mut m = NoiseModel::new();
    assert!(!m.learn(&Comparison::not_compared(NotComparedReason::Timeout, None)));
    assert_eq!(m.pairs(), 0);
}

#[test]
fn calibration_never_learns_from_a_fault_an_unreadable_answer_or_a_failed_call() {
    let rules = Rules::default();
    let opts = Options::calibration(&rules, today());
    let real = fixture("patient-summary/primary.xml");
    let again = fixture("patient-summary/primary-again.xml");
    let fault = fixture("faults/access-denied.xml");
    let broken =
        b"<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><r>".to_vec();

    // A fault beside a real answer differs everywhere: learning it would make every
    // path of the service noise (the poisoned calibration of issue 11).
    let mut m = NoiseModel::new();
    let c = compare(Input::new(&real), Input::new(&fault), &opts);
    assert!(
        !m.learn(&c),
        "a fault pair teaches nothing: {:?}",
        c.outcome
    );
    let c = compare(Input::new(&fault), Input::new(&real), &opts);
    assert!(
        !m.learn(&c),
        "a fault pair teaches nothing: {:?}",
        c.outcome
    );
    assert_eq!((m.pairs(), m.paths().count()), (0, 0), "{m:?}");

    // From the answers themselves: every pair that is not two successful answers is
    // counted as a calibration error, never learned.
    fn ok(b: &[u8]) -> Result<CalibrationAnswer<'_>, String> {
        Ok(CalibrationAnswer {
            status: 200,
            input: Input::new(b),
        })
    }
    let mut m = NoiseModel::new();
    let faulted = CalibrationAnswer {
        status: 500,
        input: Input::new(&fault),
    };
    let e = m.calibrate(ok(&real), Ok(faulted), &opts).unwrap_err();
    assert!(matches!(e, CalibrationError::Fault { .. }), "{e}");
    assert!(
        e.to_string().contains("calibration answer is a SOAP fault"),
        "{e}"
    );
    let e = m.calibrate(ok(&fault), ok(&real), &opts).unwrap_err();
    assert!(
        e.to_string().contains("served answer is a SOAP fault"),
        "{e}"
    );
    let e = m.calibrate(ok(&real), ok(&broken), &opts).unwrap_err();
    assert!(matches!(e, CalibrationError::Unreadable { .. }), "{e}");
    let e = m
        .calibrate(ok(&real), Err("connection refused".to_string()), &opts)
        .unwrap_err();
    assert!(e.to_string().contains("connection refused"), "{e}");
    let status = CalibrationAnswer {
        status: 502,
        input: Input::new(&again),
    };
    let e = m.calibrate(ok(&real), Ok(status), &opts).unwrap_err();
    assert!(e.to_string().contains("HTTP status 502"), "{e}");
    assert_eq!(
        (m.pairs(), m.errors(), m.paths().count()),
        (0, 5, 0),
        "{m:?}"
    );

    // Two successful primary answers: learned.
    m.calibrate(ok(&real), ok(&again), &opts).unwrap();
    assert_eq!((m.pairs(), m.errors()), (1, 5));
    assert!(m.is_noise("Body/getPatientSummaryResponse/response/generatedAt"));
    assert!(!m.is_noise("Body/getPatientSummaryResponse"));
    // Errors are kept across a restart and added up by a merge.
    let back: NoiseModel = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
    assert_eq!(back, m);
    let mut twice = m.clone();
    twice.merge(&m);
    assert_eq!(twice.errors(), 10);
    // A model stored before errors were counted still loads.
    let old: NoiseModel = serde_json::from_str(r#"{"pairs":2,"paths":{"Body/r/at":2}}"#).unwrap();
    assert_eq!((old.pairs(), old.errors()), (2, 0));
}

// --- the report side: values, limits, serialization, unified diff

#[test]
fn diff_values_and_lists_are_bounded() {
    let long = "x".repeat(500);
    let c = run(
        env("", &format!("<r><v>{long}</v></r>")).as_bytes(),
        env("", "<r><v>y</v></r>").as_bytes(),
        &Rules::default(),
    );
    let v = c.diffs[0].primary.as_deref().unwrap_or("");
    assert_eq!(
        v.chars().count(),
        crate::shadow::compare::DEFAULT_MAX_VALUE_CHARS + 1
    );
    assert!(v.ends_with('…'));

    let many = |tag: &str| {
        env(
            "",
            &format!("<r>{}</r>", format!("<{tag}>1</{tag}>").repeat(300)),
        )
    };
    let c = run(
        many("a").as_bytes(),
        many("b").as_bytes(),
        &Rules::default(),
    );
    assert_eq!(c.diff_count, 600);
    assert_eq!(c.diffs.len(), crate::shadow::compare::DEFAULT_MAX_DIFFS);
    assert!(c.truncated());
}

#[test]
fn locations_index_repeated_elements() {
    let items = |last: &str| {
        let mut v: Vec<String> = (1..=11).map(|i| format!("<i>{i}</i>")).collect();
        v.push(format!("<i>{last}</i>"));
        env("", &format!("<r>{}</r>", v.concat()))
    };
    let c = differ(&items("12"), &items("twelve"));
    assert_eq!(c.diffs[0].location, "Body/r/i[12]");
    assert_eq!(c.diffs[0].path, "Body/r/i");
}

#[test]
fn removed_subtrees_are_summarized_on_one_line() {
    let c = differ(
        &env(
            "",
            r#"<r><allergy sev="high"><substance>Aspirin</substance><reaction>Rash</reaction></allergy></r>"#,
        ),
        &env("", "<r/>"),
    );
    assert_eq!(
        c.diffs[0].primary.as_deref(),
        Some(r#"{@sev="high", reaction="Rash", substance="Aspirin"}"#)
    );
    assert_eq!(c.diffs[0].kind, DiffKind::Removed);
}

#[test]
fn comparisons_serialize_for_the_store() {
    let c = run(
        env("", "<r><v>1</v></r>").as_bytes(),
        env("", "<r><v>2</v></r>").as_bytes(),
        &Rules::default(),
    );
    let json: serde_json::Value = serde_json::to_value(&c).unwrap();
    assert_eq!(json["outcome"]["class"], "body-diff");
    assert_eq!(json["diffs"][0]["path"], "Body/r/v");
    assert_eq!(json["diffs"][0]["kind"], "changed");
    assert_eq!(json["diffs"][0]["primary"], "1");
    assert_eq!(json["diff_count"], 1);
    let back: Comparison = serde_json::from_value(json).unwrap();
    assert_eq!(back, c);
}

#[test]
fn unified_diff_of_canonical_forms() {
    let rules = CompareConfig {
        ignore: vec![ignore("Body/*/response/generatedAt", None)],
        ..Default::default()
    }
    .compile()
    .unwrap();
    let c = run_files(
        "patient-summary/primary.xml",
        "patient-summary/shadow-diff.xml",
        &rules,
    );
    insta::assert_snapshot!(c.unified.unwrap_or_default());
}
