//! Redaction against the protocol fixtures: what is replaced, what stays byte for
//! byte, what is refused.

use super::*;

const KEY: &[u8] = &[b'k'; 32];

fn fixture(rel: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/messages")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn redactor(paths: &[&str]) -> Redactor {
    let config = RedactionConfig {
        paths: paths.iter().map(|p| p.to_string()).collect(),
        ..RedactionConfig::default()
    };
    Redactor::new(&config, KEY).expect("config")
}

fn nothing() -> Redactor {
    let config = RedactionConfig {
        key: None,
        paths: vec![],
        headers: vec![],
    };
    Redactor::new(&config, KEY).expect("config")
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("utf-8")
}

/// HMAC-SHA256 as [`Redactor::token`] computes it, untruncated.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    ring::hmac::sign(&mac_key(key), message).as_ref().to_vec()
}

#[test]
fn hmac_sha256_matches_rfc_4231() {
    let cases: [(Vec<u8>, Vec<u8>, &str); 6] = [
        (
            vec![0x0b; 20],
            b"Hi There".to_vec(),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        ),
        (
            b"Jefe".to_vec(),
            b"what do ya want for nothing?".to_vec(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (
            vec![0xaa; 20],
            vec![0xdd; 50],
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
        ),
        (
            (1..=25).collect(),
            vec![0xcd; 50],
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
        ),
        (
            vec![0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        ),
        (
            vec![0xaa; 131],
            b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".to_vec(),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
        ),
    ];
    for (i, (key, data, want)) in cases.iter().enumerate() {
        assert_eq!(
            hex::encode(hmac_sha256(key, data)),
            *want,
            "RFC 4231 case {}",
            i + 1
        );
    }
    // Case 5: output truncated to 128 bits.
    assert_eq!(
        hex::encode(&hmac_sha256(&[0x0c; 20], b"Test With Truncation")[..16]),
        "a3b6167473100ee06e0c796c2955552b"
    );
}

#[test]
fn token_is_prefixed_truncated_hmac() {
    let r = nothing();
    // Python: hmac.new(b"k"*32, b"PS400123456", sha256).hexdigest()[:16]
    assert_eq!(r.token(b"PS400123456"), "hmac:9fde712899ff0136");
    assert_eq!(
        r.token(b"PS400123456"),
        format!(
            "hmac:{}",
            &hex::encode(hmac_sha256(KEY, b"PS400123456"))[..16]
        )
    );
    let other = Redactor::new(&RedactionConfig::default(), &[b'x'; 32]).expect("config");
    assert_ne!(other.token(b"PS400123456"), r.token(b"PS400123456"));
}

#[test]
fn without_rules_every_fixture_comes_back_byte_identical() {
    let r = nothing();
    let mut checked = 0;
    for dir in [
        "uxp",
        "v2",
        "v3.0",
        "v3.1",
        "v3.1-eu",
        "v4",
        "v6.0",
        "malformed",
    ] {
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/messages")
            .join(dir);
        for entry in std::fs::read_dir(&base).expect("dir") {
            let path = entry.expect("entry").path();
            let src = std::fs::read(&path).expect("read");
            if let Ok(out) = r.redact_xml(&src) {
                assert_eq!(out.bytes, src, "{}", path.display());
                assert_eq!(out.replaced, 0);
                checked += 1;
            }
        }
    }
    assert!(checked > 40, "only {checked} fixtures parsed");
}

#[test]
fn header_fields_and_body_paths_are_replaced_and_nothing_else_changes() {
    let src = fixture("uxp/request-getPatientSummary.xml");
    let out = redactor(&["Body/*/request/patientCode"])
        .redact_xml(&src)
        .expect("redacts");
    assert_eq!(out.replaced, 2);
    let expected = text(&src)
        .replace(
            "<xro:userId>PS400123456</xro:userId>",
            "<xro:userId>hmac:9fde712899ff0136</xro:userId>",
        )
        .replace(
            "<patientCode>PS402246810</patientCode>",
            "<patientCode>hmac:e7fa789760350834</patientCode>",
        );
    assert_eq!(text(&out.bytes), expected);
}

#[test]
fn same_value_gives_the_same_token_across_messages_and_dialects() {
    // The same person (userId PS400123456) in a UXP and in an X-Road 3.1 message.
    let r = redactor(&[]);
    let a = r
        .redact_xml(&fixture("uxp/request-getPatientSummary.xml"))
        .expect("uxp");
    let b = r
        .redact_message(
            &fixture("multipart/v4-swaref-getPatientSummary.mime"),
            Some("multipart/related; type=\"text/xml\"; start=\"<rootpart@moh-portal>\"; boundary=MIMEBoundary_3e1f0a6c2d7b4c19"),
        )
        .expect("multipart");
    let token = "hmac:9fde712899ff0136";
    assert!(text(&a.bytes).contains(token));
    assert!(String::from_utf8_lossy(&b.bytes).contains(token));
    assert!(!String::from_utf8_lossy(&b.bytes).contains("PS400123456"));
}

#[test]
fn legacy_personal_code_headers_are_replaced_with_attributes_kept() {
    let src = fixture("v2/request-RR19IsikuElukoht.xml");
    let out = redactor(&["Body/*/keha/isikukood"])
        .redact_xml(&src)
        .expect("v2");
    let s = text(&out.bytes);
    let r = redactor(&[]);
    assert!(s.contains(&format!(
        "<xtee:isikukood xsi:type=\"xsd:string\">{}</xtee:isikukood>",
        r.token(b"PS400554433")
    )));
    assert!(s.contains(&format!(
        "<isikukood xsi:type=\"xsd:string\">{}</isikukood>",
        r.token(b"PS402246810")
    )));
    // Identifiers that are not personal data stay.
    assert!(s.contains("<xtee:asutus xsi:type=\"xsd:string\">10000055</xtee:asutus>"));
    assert!(s.contains("<kuupaev xsi:type=\"xsd:date\">2025-03-31</kuupaev>"));
}

#[test]
fn a_matched_element_covers_its_subtree_and_star_is_one_level() {
    let src = fixture("uxp/request-getPatientSummary.xml");
    let out = redactor(&["Body/*/request/sections"])
        .redact_xml(&src)
        .expect("subtree");
    let s = text(&out.bytes);
    let r = redactor(&[]);
    assert!(s.contains(&format!("<section>{}</section>", r.token(b"allergies"))));
    assert!(s.contains(&format!(
        "<section>{}</section>",
        r.token(b"chronicConditions")
    )));
    assert!(s.contains("<patientCode>PS402246810</patientCode>"));

    // `*` is exactly one element: this path is one level short.
    let out = redactor(&["Body/*/patientCode"])
        .redact_xml(&src)
        .expect("short");
    assert!(text(&out.bytes).contains("<patientCode>PS402246810</patientCode>"));
}

#[test]
fn header_names_only_count_inside_the_header() {
    let src = br#"<e:Envelope xmlns:e="urn:e"><e:Header><h:userId xmlns:h="urn:any">U1</h:userId></e:Header><e:Body><op><userId>U2</userId></op></e:Body></e:Envelope>"#;
    let out = redactor(&[]).redact_xml(src).expect("redacts");
    let s = text(&out.bytes);
    assert!(!s.contains("U1"));
    assert!(s.contains("<userId>U2</userId>"));
}

#[test]
fn values_are_unescaped_before_hashing_and_layout_is_kept() {
    let r = redactor(&[]);
    let src = b"<Envelope><Header><userId>\n   A&amp;B\n  </userId><ametnik><![CDATA[A&B]]></ametnik><isikukood>  </isikukood></Header><Body/></Envelope>";
    let out = r.redact_xml(src).expect("redacts");
    assert_eq!(
        text(&out.bytes),
        "<Envelope><Header><userId>\n   hmac:d7ea96f4946f13a8\n  </userId><ametnik>hmac:d7ea96f4946f13a8</ametnik><isikukood>  </isikukood></Header><Body/></Envelope>"
    );
    assert_eq!(out.replaced, 2);
}

#[test]
fn latin1_values_are_hashed_as_bytes_without_panicking() {
    let src = b"<Envelope><Header><userId>J\xfcri</userId></Header><Body/></Envelope>";
    let out = redactor(&[]).redact_xml(src).expect("latin-1");
    assert_eq!(out.replaced, 1);
    assert!(!out.bytes.windows(4).any(|w| w == b"J\xfcri"));
}

#[test]
fn dtds_and_broken_documents_are_refused() {
    let r = redactor(&[]);
    for dtd in [
        "malformed/xxe-external-entity.xml",
        "malformed/billion-laughs.xml",
    ] {
        assert_eq!(r.redact_xml(&fixture(dtd)), Err(RedactError::Dtd), "{dtd}");
    }
    for broken in [
        "malformed/truncated.xml",
        "malformed/not-xml.xml",
        "malformed/empty.xml",
    ] {
        assert!(
            matches!(
                r.redact_xml(&fixture(broken)),
                Err(RedactError::Malformed(_))
            ),
            "{broken}"
        );
    }
    let undeclared = b"<Envelope><Header><userId>&leak;</userId></Header></Envelope>";
    assert!(matches!(
        r.redact_xml(undeclared),
        Err(RedactError::Malformed(_))
    ));
    let two_roots = b"<a/><b/>";
    assert!(matches!(
        r.redact_xml(two_roots),
        Err(RedactError::Malformed(_))
    ));
    let mismatched = b"<a><b></a></b>";
    assert!(matches!(
        r.redact_xml(mismatched),
        Err(RedactError::Malformed(_))
    ));
    let deep = "<a>".repeat(DEFAULT_MAX_DEPTH + 1);
    assert_eq!(
        r.redact_xml(deep.as_bytes()),
        Err(RedactError::TooDeep {
            max: DEFAULT_MAX_DEPTH
        })
    );
}

#[test]
fn multipart_redacts_the_soap_part_and_empties_attachments() {
    let src = fixture("multipart/v4-swaref-getPatientSummary.mime");
    let ct = "multipart/related; type=\"text/xml\"; start=\"<rootpart@moh-portal>\"; boundary=MIMEBoundary_3e1f0a6c2d7b4c19";
    let out = redactor(&["Body/*/request/patientCode", "Body/*/request/consentForm"])
        .redact_message(&src, Some(ct))
        .expect("multipart");
    let before = Multipart::parse(&src, "MIMEBoundary_3e1f0a6c2d7b4c19").expect("parse");
    let after = Multipart::parse(&out.bytes, "MIMEBoundary_3e1f0a6c2d7b4c19").expect("reparse");
    assert_eq!(after.parts().len(), before.parts().len());
    let s = String::from_utf8_lossy(&out.bytes);
    assert!(!s.contains("PS401987654") && !s.contains("PS400123456"));
    for (i, part) in after.parts().iter().enumerate().skip(1) {
        assert!(part.body_range().is_empty(), "attachment {i} kept");
    }
    // The attachment's headers named the person; now they carry the person's token,
    // as the redacted patientCode does.
    let token = redactor(&[]).token(b"PS401987654");
    assert!(
        s.contains(&format!("filename=\"consent-{token}.pdf\"")),
        "{s}"
    );
}

#[test]
fn bad_configuration_is_refused() {
    let short = Redactor::new(&RedactionConfig::default(), b"short");
    assert!(matches!(
        short,
        Err(RedactionConfigError::KeyTooShort { len: 5, .. })
    ));
    for (path, _) in [
        ("", "empty"),
        ("Body//x", "empty segment"),
        ("Body/moh:getX", "prefix"),
        ("Body/get*", "partial star"),
    ] {
        let config = RedactionConfig {
            paths: vec![path.into()],
            ..RedactionConfig::default()
        };
        assert!(
            matches!(
                Redactor::new(&config, KEY),
                Err(RedactionConfigError::BadPath { .. })
            ),
            "{path:?}"
        );
    }
    let config = RedactionConfig {
        headers: vec!["xro:userId".into()],
        ..RedactionConfig::default()
    };
    assert!(matches!(
        Redactor::new(&config, KEY),
        Err(RedactionConfigError::BadHeader { .. })
    ));
}

#[test]
fn config_deserializes_with_default_headers() {
    let config: RedactionConfig =
        toml::from_str("paths = [\"Body/*/request/patientCode\"]").expect("toml");
    assert_eq!(config.headers, ["userId", "isikukood", "ametnik"]);
    assert_eq!(config.key, None);
    assert!(toml::from_str::<RedactionConfig>("heders = []").is_err());
}

fn diff(paths: Vec<DiffPath>, unified: &str) -> DiffRecord {
    DiffRecord {
        id: crate::evidence::RecordKey::first_at(0),
        at_unix_ms: 0,
        agency: "a".into(),
        service: "s".into(),
        outcome: "body-diff".parse().unwrap(),
        paths,
        unified: unified.into(),
    }
}

fn dpath(path: &str, primary: &str, shadow: &str) -> DiffPath {
    DiffPath {
        path: path.into(),
        kind: "changed".into(),
        primary: Some(primary.into()),
        shadow: Some(shadow.into()),
        noise: false,
    }
}

#[test]
fn diffs_are_redacted_by_path_and_by_the_values_seen_in_the_bodies() {
    let r = redactor(&["Body/*/response/patientCode"]);
    let mut seen = Seen::default();
    let response = b"<Envelope><Body><getXResponse><response><patientCode>PS402246810</patientCode><note>see PS402246810</note></response></getXResponse></Body></Envelope>";
    r.redact_xml_seen(response, &mut seen).expect("body");
    let mut d = diff(
        vec![
            dpath("Body/getXResponse/response/patientCode", "PS1", "PS2"),
            dpath(
                "Body/moh:getXResponse/response[1]/note",
                "see PS402246810",
                "none",
            ),
            dpath("Body/getXResponse/response/year", "2017", "7"),
        ],
        "-<note>see PS402246810</note>\n+<note>none</note>\n xPS402246810x\n",
    );
    r.redact_diff(&mut d, &seen, true);
    let t = r.token(b"PS402246810");
    assert_eq!(
        d.paths[0].primary.as_deref(),
        Some(r.token(b"PS1").as_str())
    );
    assert_eq!(d.paths[0].shadow.as_deref(), Some(r.token(b"PS2").as_str()));
    assert_eq!(
        d.paths[1].primary.as_deref(),
        Some(format!("see {t}").as_str())
    );
    assert_eq!(d.paths[2].primary.as_deref(), Some("2017"));
    // Whole words only: `xPS402246810x` is another value.
    assert_eq!(
        d.unified,
        format!("-<note>see {t}</note>\n+<note>none</note>\n xPS402246810x\n")
    );

    let mut d = diff(vec![], "-secret\n+other\n");
    r.redact_diff(&mut d, &Seen::default(), false);
    assert_eq!(d.unified, UNIFIED_WITHHELD);
}

/// The default configuration (default headers and default paths).
fn defaults() -> Redactor {
    Redactor::new(&RedactionConfig::default(), KEY).expect("defaults")
}

#[test]
fn default_paths_cover_a_body_isikukood_of_the_residence_service() {
    // The simulators' residence service (2.0 `RR19IsikuElukoht`) takes the personal
    // code as a Body `isikukood`, under `keha`.
    let src = br#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body><rr:RR19IsikuElukoht xmlns:rr="http://rr.x-road.ee/producer"><keha><isikukood>PS409990001</isikukood></keha></rr:RR19IsikuElukoht></SOAP-ENV:Body></SOAP-ENV:Envelope>"#;
    let out = defaults().redact_xml(src).expect("redacts");
    let s = text(&out.bytes);
    assert!(!s.contains("PS409990001"), "{s}");
    assert!(s.contains(&format!(
        "<isikukood>{}</isikukood>",
        defaults().token(b"PS409990001")
    )));
    assert_eq!(out.replaced, 1);
}

#[test]
fn header_names_match_in_any_case() {
    let src = br#"<e:Envelope xmlns:e="urn:e"><e:Header><h:UserId xmlns:h="urn:any">PS409990002</h:UserId><h:ISIKUKOOD xmlns:h="urn:any">PS409990003</h:ISIKUKOOD></e:Header><e:Body><op/></e:Body></e:Envelope>"#;
    let out = redactor(&[]).redact_xml(src).expect("redacts");
    let s = text(&out.bytes);
    assert!(!s.contains("PS409990002"), "{s}");
    assert!(!s.contains("PS409990003"), "{s}");
    assert_eq!(out.replaced, 2);
}

#[test]
fn user_id_attributes_are_redacted_in_the_header_and_by_default_in_the_body() {
    let src = br#"<e:Envelope xmlns:e="urn:e" xmlns:x="urn:x"><e:Header><x:client x:userId="PS409990004" kind="SUBSYSTEM">c</x:client></e:Header><e:Body><op userId='PS409990005' id="keep-1"><request><person personalCode="PS409990006"/></request></op></e:Body></e:Envelope>"#;
    let r = defaults();
    let out = r.redact_xml(src).expect("redacts");
    let s = text(&out.bytes);
    for code in ["PS409990004", "PS409990005", "PS409990006"] {
        assert!(!s.contains(code), "{code} in {s}");
    }
    assert!(s.contains(&format!(
        r#"<x:client x:userId="{}" kind="SUBSYSTEM">c</x:client>"#,
        r.token(b"PS409990004")
    )));
    assert!(s.contains(&format!(
        r#"<op userId='{}' id="keep-1">"#,
        r.token(b"PS409990005")
    )));
    assert!(s.contains(&format!(
        r#"<person personalCode="{}"/>"#,
        r.token(b"PS409990006")
    )));
    assert_eq!(out.replaced, 3);
}

#[test]
fn default_paths_cover_personal_codes_nested_one_level_deeper() {
    let src = br#"<Envelope><Header/><Body><op><request><person><personalCode>PS409990007</personalCode></person><patient><ids><patientCode>PS409990008</patientCode></ids></patient><payerCode>PS409990009</payerCode><registryCode>10000055</registryCode></request></op></Body></Envelope>"#;
    let out = defaults().redact_xml(src).expect("redacts");
    let s = text(&out.bytes);
    for code in ["PS409990007", "PS409990008", "PS409990009"] {
        assert!(!s.contains(code), "{code} in {s}");
    }
    // A company's registry code is not personal data.
    assert!(s.contains("<registryCode>10000055</registryCode>"));
    assert_eq!(out.replaced, 3);
}

#[test]
fn double_star_spans_levels_and_at_names_an_attribute() {
    let src = br#"<Envelope><Body><a><b><c><code k="v1">t1</code></c></b><code>t2</code></a></Body></Envelope>"#;
    let r = redactor(&["Body/a/**/code/@k", "body/A/**/C/CODE"]);
    let out = r.redact_xml(src).expect("redacts");
    assert_eq!(
        text(&out.bytes),
        format!(
            r#"<Envelope><Body><a><b><c><code k="{}">{}</code></c></b><code>t2</code></a></Body></Envelope>"#,
            r.token(b"v1"),
            r.token(b"t1")
        )
    );
    for bad in ["Body/@k/x", "Body/a/@", "Body/a/@*x", "@k"] {
        let config = RedactionConfig {
            paths: vec![bad.into()],
            ..RedactionConfig::default()
        };
        assert!(
            matches!(
                Redactor::new(&config, KEY),
                Err(RedactionConfigError::BadPath { .. })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn attribute_values_are_unescaped_before_hashing_and_seen_for_diffs() {
    let r = defaults();
    let src = br#"<Envelope><Body><op userId="A&amp;B"/></Body></Envelope>"#;
    let out = r.redact_xml(src).expect("redacts");
    assert_eq!(
        text(&out.bytes),
        format!(
            r#"<Envelope><Body><op userId="{}"/></Body></Envelope>"#,
            r.token(b"A&B")
        )
    );
    let mut seen = Seen::default();
    r.redact_xml_seen(
        br#"<Envelope><Body><op userId="PS409990010"/></Body></Envelope>"#,
        &mut seen,
    )
    .expect("redacts");
    let mut d = diff(
        vec![dpath("Body/op/@userId", "PS409990010", "PS409990011")],
        "- userId=\"PS409990010\"",
    );
    r.redact_diff(&mut d, &seen, true);
    assert_eq!(
        d.paths[0].primary.as_deref(),
        Some(r.token(b"PS409990010").as_str())
    );
    assert_eq!(
        d.paths[0].shadow.as_deref(),
        Some(r.token(b"PS409990011").as_str())
    );
    assert!(!d.unified.contains("PS409990010"));
}

/// Scrubbing a diff with the values seen: whole words only, the longest value first
/// where two start at one place, a value inside a longer one left to the longer one.
#[test]
fn scrubbing_prefers_the_longest_whole_word_value() {
    let mut seen = Seen::default();
    for (v, t) in [
        ("12", "T12"),
        ("123", "T123"),
        ("7", "T7"),
        ("ab c", "TABC"),
    ] {
        seen.add(v.to_string(), t);
    }
    let got = scrub_bytes(b"123 12 1234 x7 7 2017 ab c ab cd 12-7", &seen);
    assert_eq!(
        std::str::from_utf8(&got).unwrap(),
        "T123 T12 1234 x7 T7 2017 TABC ab cd T12-T7"
    );
    // The same value seen twice is kept once.
    seen.add("12".to_string(), "T12");
    assert_eq!(seen.values.len(), 4);
}

/// Many distinct personal codes in one exchange (a hostile or just a big answer):
/// each is found and replaced — one pass over the text for all of them, not one pass
/// per value (which made this quadratic).
#[test]
fn many_distinct_values_are_scrubbed_in_one_pass() {
    let mut seen = Seen::default();
    let mut text = String::new();
    for i in 0..20_000u32 {
        let v = format!("PS{:09}", i * 7 + 1);
        seen.add(v.clone(), &format!("hmac:{i:x}"));
        text.push_str(&v);
        text.push(' ');
    }
    let got = scrub_bytes(text.as_bytes(), &seen);
    let got = std::str::from_utf8(&got).unwrap();
    assert!(!got.contains("PS"), "every code replaced");
    assert_eq!(
        got.split(' ').filter(|w| w.starts_with("hmac:")).count(),
        20_000
    );
}
