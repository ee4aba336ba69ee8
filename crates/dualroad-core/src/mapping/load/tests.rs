//! One test per validation rule, plus the fixture sets under `fixtures/mappings/`.

use super::*;
use crate::wire::header::ServiceRef;

fn cid(s: &str) -> ClientId {
    ClientId::parse(s).unwrap()
}

fn sid(s: &str) -> ServiceId {
    ServiceId::parse(s).unwrap()
}

const V31_HEAD: &str = "[legacy]\ndialect = \"v3.1\"\n[uxp]\ninstance = \"PS-UXP\"\n";
const V4_HEAD: &str =
    "[legacy]\ndialect = \"v4\"\ninstance = \"PS\"\n[uxp]\ninstance = \"PS-UXP\"\n";

/// Loads one file `set/m.toml`.
fn one(text: &str) -> Result<Mappings, MappingErrors> {
    Mappings::from_sources(&[("set/m.toml".into(), text.to_string())])
}

/// Problems of a one-file set as `(line, field, message)`.
fn problems(text: &str) -> Vec<(Option<usize>, Option<String>, String)> {
    match one(text) {
        Ok(_) => panic!("expected problems in:\n{text}"),
        Err(e) => {
            e.0.into_iter()
                .map(|p| (p.line, p.field, p.message))
                .collect()
        }
    }
}

/// Exactly one problem, at `line` and `field`, whose message contains `needle`.
fn assert_one(text: &str, line: usize, field: &str, needle: &str) {
    let ps = problems(text);
    assert_eq!(ps.len(), 1, "expected one problem, got {ps:#?}");
    let (l, f, m) = &ps[0];
    assert_eq!((*l, f.as_deref()), (Some(line), Some(field)), "{m}");
    assert!(m.contains(needle), "`{m}` does not contain `{needle}`");
}

// ---- fixture sets ----------------------------------------------------------

// ---- files and directories -------------------------------------------------

#[test]
fn files_merge_in_name_order_whatever_the_input_order() {
    let body = "[[members]]\nlegacy = \"a\"\nuxp = \"PS-UXP/GOV/1\"\n";
    let head_a = format!("{V31_HEAD}{body}");
    let head_b = V31_HEAD.to_string();
    let err = Mappings::from_sources(&[("s/b.toml".into(), head_b), ("s/a.toml".into(), head_a)])
        .unwrap_err();
    // The second header is the one in b.toml, even though it was passed first.
    assert!(
        err.0.iter().all(|p| p.file == Path::new("s/b.toml")),
        "{err}"
    );
    assert!(
        err.to_string().contains("already defined at s/a.toml:1"),
        "{err}"
    );
}

#[test]
fn syntax_errors_carry_tomls_message_and_line() {
    let ps = problems(&format!(
        "{V31_HEAD}[[members]]\nlegacy = \"a\nuxp = \"x\"\n"
    ));
    let syntax: Vec<_> = ps
        .iter()
        .filter(|p| p.2.starts_with("invalid TOML"))
        .collect();
    assert_eq!(syntax.len(), 1, "{ps:#?}");
    assert_eq!(syntax[0].0, Some(6));
    assert!(!syntax[0].2.contains('\n'));
    // The header is then missing (the file did not parse), reported for the set.
    assert!(ps.iter().any(|p| p.2.contains("missing `[legacy]`")));

    // Not a syntax error: a value of the wrong type, with its line.
    assert_one(
        "[legacy]\ndialect = 2024-01-01\n[uxp]\ninstance = \"U\"\n",
        2,
        "legacy.dialect",
        "found a date/time",
    );
    // Dotted table headers are well-formed TOML: the schema problem is reported, not a parse failure.
    assert_one(
        &format!("{V31_HEAD}[legacy.extra]\nx = 1\n"),
        5,
        "legacy.extra",
        "unknown key `extra`",
    );
}

// ---- header ----------------------------------------------------------------

#[test]
fn missing_header_tables() {
    let err = Mappings::from_sources(&[(
        "set/m.toml".into(),
        "[[members]]\nlegacy = \"a\"\nuxp = \"U/C/1\"\n".into(),
    )])
    .unwrap_err();
    let fields: Vec<_> = err
        .0
        .iter()
        .map(|p| (p.file.as_path(), p.line, p.field.as_deref()))
        .collect();
    assert_eq!(
        fields,
        [
            (Path::new("set"), None, Some("legacy")),
            (Path::new("set"), None, Some("uxp"))
        ]
    );
    assert_eq!(
        err.to_string(),
        "set: legacy: missing `[legacy]` table (it must appear in exactly one file)\n\
         set: uxp: missing `[uxp]` table (it must appear in exactly one file)"
    );
}

#[test]
fn bad_dialects() {
    let with = |d: &str| format!("[legacy]\ndialect = \"{d}\"\n[uxp]\ninstance = \"PS-UXP\"\n");
    assert_one(
        &with("v5"),
        2,
        "legacy.dialect",
        "unknown dialect `v5` (expected one of v2, v3.0",
    );
    assert_one(&with("uxp"), 2, "legacy.dialect", "target side");
    assert_one(&with("V3.1-EU"), 2, "legacy.dialect", "`v3.1-eu`");
    assert_one(
        "[legacy]\n[uxp]\ninstance = \"PS-UXP\"\n",
        1,
        "legacy.dialect",
        "missing required key `dialect`",
    );
    assert_one(
        "[legacy]\ndialect = 4\n[uxp]\ninstance = \"U\"\n",
        2,
        "legacy.dialect",
        "found an integer",
    );
    for d in ["v2", "v3.0", "v3.1", "v3.1-eu"] {
        assert_eq!(one(&with(d)).unwrap().legacy_dialect().as_str(), d);
    }
}

#[test]
fn legacy_instance_required_or_forbidden_by_dialect() {
    for d in ["v6.0", "v4"] {
        let text = format!("[legacy]\ndialect = \"{d}\"\n[uxp]\ninstance = \"PS-UXP\"\n");
        assert_one(&text, 1, "legacy.instance", "required when dialect is");
        let ok = format!(
            "[legacy]\ndialect = \"{d}\"\ninstance = \"PS\"\n[uxp]\ninstance = \"PS-UXP\"\n"
        );
        assert_eq!(one(&ok).unwrap().legacy_instance(), Some("PS"));
    }
    let text = "[legacy]\ndialect = \"v2\"\ninstance = \"PS\"\n[uxp]\ninstance = \"PS-UXP\"\n";
    assert_one(text, 3, "legacy.instance", "not allowed when dialect is v2");
    let text = "[legacy]\ndialect = \"v4\"\ninstance = \"P S\"\n[uxp]\ninstance = \"PS-UXP\"\n";
    assert_one(text, 3, "legacy.instance", "not a valid instance code");
}

#[test]
fn uxp_instance_checks() {
    assert_one(
        "[legacy]\ndialect = \"v2\"\n[uxp]\n",
        3,
        "uxp.instance",
        "missing required key `instance`",
    );
    assert_one(
        "[legacy]\ndialect = \"v2\"\n[uxp]\ninstance = \"A/B\"\n",
        4,
        "uxp.instance",
        "not a valid instance code",
    );
    assert_one(
        "[legacy]\ndialect = \"v2\"\n[uxp]\ninstance = \"\"\n",
        4,
        "uxp.instance",
        "not a valid instance code",
    );
    // A `uxp` that is not a table is no definition: it is wrong, and `[uxp]` is missing.
    let ps = problems("uxp = \"PS-UXP\"\n[legacy]\ndialect = \"v2\"\n");
    assert_eq!(ps.len(), 2, "{ps:#?}");
    assert_eq!((ps[0].0, ps[0].1.as_deref()), (None, Some("uxp")));
    assert!(ps[0].2.contains("missing `[uxp]`"));
    assert_eq!((ps[1].0, ps[1].1.as_deref()), (Some(1), Some("uxp")));
    assert!(ps[1]
        .2
        .contains("must be a table (`[uxp]`), found a string"));
}

#[test]
fn second_header_names_both_files() {
    let err = Mappings::from_sources(&[
        ("s/1.toml".into(), V31_HEAD.into()),
        ("s/2.toml".into(), "\n[uxp]\ninstance = \"PS-UXP\"\n".into()),
    ])
    .unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert_eq!(err.to_string(), "s/2.toml:2: uxp: `[uxp]` is already defined at s/1.toml:3; it may appear in exactly one file");
}

#[test]
fn unknown_keys_everywhere_are_all_reported() {
    let text = format!(
        "typo = 1\n{V31_HEAD}[[members]]\nlegacy = \"a\"\nuxp = \"PS-UXP/GOV/1\"\nsubsystem = \"x\"\n\
         [[services]]\nlegacy = \"a.b\"\nuxp = \"PS-UXP/GOV/1/s/b\"\neffects = \"read\"\n"
    );
    let text = text.replace(
        "dialect = \"v3.1\"\n",
        "dialect = \"v3.1\"\ninstanse = \"PS\"\n",
    );
    let ps = problems(&text);
    let fields: Vec<_> = ps
        .iter()
        .map(|p| (p.0.unwrap(), p.1.clone().unwrap()))
        .collect();
    assert_eq!(
        fields,
        [
            (1, "typo".to_string()),
            (4, "legacy.instanse".to_string()),
            (10, "members[1].subsystem".to_string()),
            (14, "services[1].effects".to_string()),
        ]
    );
    assert!(
        ps[3]
            .2
            .contains("expected `legacy`, `uxp`, `effect` or `wrapper`"),
        "{}",
        ps[3].2
    );
    // A table at the top level with a wrong name is an unknown key too.
    assert_one(
        &format!("{V31_HEAD}[legacy2]\n"),
        5,
        "legacy2",
        "unknown key `legacy2`",
    );
}

#[test]
fn entry_shapes() {
    assert_one(
        &format!("{V31_HEAD}[members]\nlegacy = \"a\"\n"),
        5,
        "members",
        "array of tables",
    );
    assert_one(
        &format!("services = [1]\n{V31_HEAD}"),
        1,
        "services[1]",
        "must be a table, found an integer",
    );
    // Inline tables in an array are tables too.
    let m = one(&format!(
        "members = [{{ legacy = \"a\", uxp = \"PS-UXP/GOV/1\" }}]\n{V31_HEAD}"
    ))
    .unwrap();
    assert_eq!(m.uxp_for_legacy_name("a"), Some(&cid("PS-UXP/GOV/1")));
}

// ---- members ---------------------------------------------------------------

fn member(legacy: &str, uxp: &str) -> String {
    format!("[[members]]\nlegacy = \"{legacy}\"\nuxp = \"{uxp}\"\n")
}

#[test]
fn member_required_keys_and_types() {
    assert_one(
        &format!("{V31_HEAD}[[members]]\nlegacy = \"a\"\n"),
        5,
        "members[1].uxp",
        "missing required key `uxp`",
    );
    assert_one(
        &format!("{V31_HEAD}[[members]]\nlegacy = [\"a\"]\nuxp = \"PS-UXP/GOV/1\"\n"),
        6,
        "members[1].legacy",
        "found an array",
    );
}

#[test]
fn malformed_member_identifiers_name_the_value() {
    assert_one(
        &format!("{V31_HEAD}{}", member("a", "PS-UXP/GOV/1/s/x")),
        7,
        "members[1].uxp",
        "`PS-UXP/GOV/1/s/x`",
    );
    assert_one(
        &format!("{V31_HEAD}{}", member("a", "PS-UXP//1")),
        7,
        "members[1].uxp",
        "empty part",
    );
    assert_one(
        &format!("{V31_HEAD}{}", member("a", "PS-UXP/GOV/1;2")),
        7,
        "members[1].uxp",
        "not allowed",
    );
    assert_one(
        &format!("{V31_HEAD}{}", member("a", "OTHER/GOV/1")),
        7,
        "members[1].uxp",
        "[uxp] instance `PS-UXP`",
    );
}

#[test]
fn short_name_rules() {
    assert_one(
        &format!("{V31_HEAD}{}", member("", "PS-UXP/GOV/1")),
        6,
        "members[1].legacy",
        "empty",
    );
    assert_one(
        &format!("{V31_HEAD}{}", member("a\\tb", "PS-UXP/GOV/1")),
        6,
        "members[1].legacy",
        "whitespace",
    );
    assert_one(
        &format!("{V31_HEAD}{}", member("PS/GOV/1", "PS-UXP/GOV/1")),
        6,
        "members[1].legacy",
        "need dialect v6.0 or v4",
    );
    // Dotted and DNS-like names are fine (gotcha 1).
    let m = one(&format!(
        "{V31_HEAD}{}",
        member("v55ts2client2.sub", "PS-UXP/GOV/1/sub")
    ))
    .unwrap();
    assert!(m.uxp_for_legacy_name("v55ts2client2.sub").is_some());
}

#[test]
fn structured_legacy_member_rules() {
    assert_one(
        &format!("{V4_HEAD}{}", member("moh", "PS-UXP/GOV/1")),
        7,
        "members[1].legacy",
        "must have 3 or 4",
    );
    assert_one(
        &format!("{V4_HEAD}{}", member("EE/GOV/1", "PS-UXP/GOV/1")),
        7,
        "members[1].legacy",
        "[legacy] instance `PS`",
    );
    let m = one(&format!("{V4_HEAD}{}", member("PS/GOV/1", "PS-UXP/GOV/1"))).unwrap();
    assert_eq!(
        m.uxp_for_legacy_id(&cid("PS/GOV/1")),
        Some(&cid("PS-UXP/GOV/1"))
    );
}

#[test]
fn legacy_mapped_twice() {
    let text = format!(
        "{V31_HEAD}{}{}",
        member("a", "PS-UXP/GOV/1"),
        member("a", "PS-UXP/GOV/2")
    );
    assert_one(
        &text,
        9,
        "members[2].legacy",
        "legacy `a` is already mapped at set/m.toml:6 (to `PS-UXP/GOV/1`)",
    );
    // Structured ids compare as identifiers.
    let text = format!(
        "{V4_HEAD}{}{}",
        member("PS/GOV/1", "PS-UXP/GOV/1"),
        member("PS/GOV/1", "PS-UXP/GOV/2")
    );
    assert_one(&text, 10, "members[2].legacy", "already mapped");
}

#[test]
fn two_legacy_names_on_one_uxp_id_are_reported_at_both_places() {
    let text = format!(
        "{V31_HEAD}{}{}",
        member("a", "PS-UXP/GOV/1"),
        member("b", "PS-UXP/GOV/1")
    );
    let ps = problems(&text);
    assert_eq!(ps.len(), 2, "{ps:#?}");
    assert_eq!(
        (ps[0].0, ps[0].1.as_deref()),
        (Some(7), Some("members[1].uxp"))
    );
    assert!(
        ps[0].2.contains("mapping of `b` at set/m.toml:10"),
        "{}",
        ps[0].2
    );
    assert_eq!(
        (ps[1].0, ps[1].1.as_deref()),
        (Some(10), Some("members[2].uxp"))
    );
    assert!(
        ps[1].2.contains("mapping of `a` at set/m.toml:7"),
        "{}",
        ps[1].2
    );
    // The other entry has no `legacy`: still reported, and described as such.
    let text = format!(
        "{V31_HEAD}{}[[members]]\nuxp = \"PS-UXP/GOV/1\"\n",
        member("a", "PS-UXP/GOV/1")
    );
    let ps = problems(&text);
    assert_eq!(ps.len(), 3, "{ps:#?}");
    assert!(ps[0].2.contains("an entry without `legacy`"), "{ps:#?}");
    // Different subsystems of one member are different identities (gotcha 1): fine.
    assert!(one(&format!(
        "{V31_HEAD}{}{}",
        member("a", "PS-UXP/GOV/1"),
        member("b", "PS-UXP/GOV/1/s")
    ))
    .is_ok());
}

#[test]
fn identical_repeated_entry_is_one_problem() {
    let text = format!(
        "{V31_HEAD}{}{}",
        member("a", "PS-UXP/GOV/1"),
        member("a", "PS-UXP/GOV/1")
    );
    assert_one(
        &text,
        9,
        "members[2].legacy",
        "duplicate of the entry at set/m.toml:6",
    );
}

#[test]
fn duplicates_across_files() {
    let err = Mappings::from_sources(&[
        (
            "s/a.toml".into(),
            format!("{V31_HEAD}{}", member("a", "PS-UXP/GOV/1")),
        ),
        ("s/b.toml".into(), member("a", "PS-UXP/GOV/2")),
    ])
    .unwrap_err();
    assert_eq!(err.to_string(), "s/b.toml:2: members[1].legacy: legacy `a` is already mapped at s/a.toml:6 (to `PS-UXP/GOV/1`); it can map to one UXP identity only");
}

// ---- services --------------------------------------------------------------

fn service(legacy: &str, uxp: &str, extra: &str) -> String {
    format!("[[services]]\nlegacy = \"{legacy}\"\nuxp = \"{uxp}\"\n{extra}")
}

#[test]
fn service_legacy_string_must_split() {
    assert_one(
        &format!("{V31_HEAD}{}", service("getX", "PS-UXP/GOV/1/s/getX", "")),
        6,
        "services[1].legacy",
        "producer.method[.vN]",
    );
    assert_one(
        &format!("{V31_HEAD}{}", service("a..b", "PS-UXP/GOV/1/s/b", "")),
        6,
        "services[1].legacy",
        "producer.method[.vN]",
    );
    assert_one(
        &format!("{V31_HEAD}{}", service("a.get X", "PS-UXP/GOV/1/s/b", "")),
        6,
        "services[1].legacy",
        "whitespace",
    );
    // Versions inside method names stay in the name (gotcha 3).
    let m = one(&format!(
        "{V31_HEAD}{}",
        service(
            "rr.RR19IsikuElukoht_v1",
            "PS-UXP/GOV/2/rr/RR19IsikuElukoht_v1",
            ""
        )
    ))
    .unwrap();
    assert!(m
        .service_for_legacy_text("rr.RR19IsikuElukoht_v1")
        .is_some());
}

#[test]
fn service_uxp_must_be_a_service_id_in_the_uxp_instance() {
    assert_one(
        &format!("{V31_HEAD}{}", service("a.b", "PS-UXP/GOV/1/b", "")),
        7,
        "services[1].uxp",
        "5 or 6",
    );
    assert_one(
        &format!("{V31_HEAD}{}", service("a.b", "XX/GOV/1/s/b", "")),
        7,
        "services[1].uxp",
        "instance `XX`",
    );
}

#[test]
fn structured_legacy_services() {
    assert_one(
        &format!(
            "{V4_HEAD}{}",
            service("moh.get.v1", "PS-UXP/GOV/1/moh/get/v1", "")
        ),
        7,
        "services[1].legacy",
        "5 or 6",
    );
    assert_one(
        &format!(
            "{V4_HEAD}{}",
            service("EE/GOV/1/moh/get/v1", "PS-UXP/GOV/1/moh/get/v1", "")
        ),
        7,
        "services[1].legacy",
        "[legacy] instance `PS`",
    );
}

#[test]
fn effect_and_wrapper() {
    assert_one(
        &format!(
            "{V31_HEAD}{}",
            service("a.b", "PS-UXP/GOV/1/s/b", "effect = \"Read\"\n")
        ),
        8,
        "services[1].effect",
        "unknown effect `Read`",
    );
    assert_one(
        &format!(
            "{V31_HEAD}{}",
            service("a.b", "PS-UXP/GOV/1/s/b", "effect = true\n")
        ),
        8,
        "services[1].effect",
        "found a boolean",
    );
    for bad in ["ns:getX", "get X", "1get", ""] {
        let text = format!(
            "{V31_HEAD}{}",
            service("a.b", "PS-UXP/GOV/1/s/b", &format!("wrapper = \"{bad}\"\n"))
        );
        assert_one(&text, 8, "services[1].wrapper", "NCName");
    }
    let m = one(&format!(
        "{V31_HEAD}{}",
        service(
            "a.b",
            "PS-UXP/GOV/1/s/b",
            "effect = \"read\"\nwrapper = \"getB\"\n"
        )
    ))
    .unwrap();
    let s = m.service_for_legacy_text("a.b").unwrap();
    assert_eq!(
        (s.effect, s.wrapper.as_deref()),
        (Effect::Read, Some("getB"))
    );
}

#[test]
fn duplicate_services_either_way() {
    let text = format!(
        "{V31_HEAD}{}{}",
        service("a.b", "PS-UXP/GOV/1/s/b", ""),
        service("a.b", "PS-UXP/GOV/1/s/c", "")
    );
    assert_one(
        &text,
        9,
        "services[2].legacy",
        "service `a.b` is already mapped at set/m.toml:6 (to `PS-UXP/GOV/1/s/b`)",
    );

    let text = format!(
        "{V31_HEAD}{}{}",
        service("a.b", "PS-UXP/GOV/1/s/b", ""),
        service("a.c", "PS-UXP/GOV/1/s/b", "")
    );
    let ps = problems(&text);
    assert_eq!(ps.len(), 2, "{ps:#?}");
    assert_eq!(
        (ps[0].0, ps[0].1.as_deref()),
        (Some(7), Some("services[1].uxp"))
    );
    assert!(ps[0].2.contains("`a.c` at set/m.toml:10"));
    assert_eq!(
        (ps[1].0, ps[1].1.as_deref()),
        (Some(10), Some("services[2].uxp"))
    );

    let text = format!(
        "{V31_HEAD}{}{}",
        service("a.b", "PS-UXP/GOV/1/s/b", ""),
        service("a.b", "PS-UXP/GOV/1/s/b", "")
    );
    assert_one(
        &text,
        9,
        "services[2].legacy",
        "duplicate of the entry at set/m.toml:6",
    );

    // Same code, different versions: distinct services.
    let text = format!(
        "{V31_HEAD}{}{}",
        service("a.b.v1", "PS-UXP/GOV/1/s/b/v1", ""),
        service("a.b.v2", "PS-UXP/GOV/1/s/b/v2", "")
    );
    assert!(one(&text).is_ok());
}

#[test]
fn services_may_move_to_another_provider_and_back() {
    // The producer `tax` lives at member 10000004's `tax` subsystem; one of its
    // services moved to the `tax-debt` subsystem, another to the member itself.
    let text = format!(
        "{V31_HEAD}{}{}{}",
        member("tax", "PS-UXP/GOV/10000004/tax"),
        service(
            "tax.getTaxDebt.v1",
            "PS-UXP/GOV/10000004/tax-debt/getTaxDebt/v1",
            ""
        ),
        "[[services]]\nlegacy = \"tax.getRate\"\nuxp = { member = \"PS-UXP/GOV/10000004\", service = \"getRate\" }\n",
    );
    let m = one(&text).unwrap_or_else(|e| panic!("{e}"));
    let h = |name: &str| ServiceRef::Legacy(name.to_string());
    // Legacy → UXP: the entry wins over the producer mapping.
    let to = m
        .service_to_uxp(&h("tax.getTaxDebt.v1"), Some("tax"))
        .unwrap();
    assert_eq!(to.id, sid("PS-UXP/GOV/10000004/tax-debt/getTaxDebt/v1"));
    let to = m.service_to_uxp(&h("tax.getRate"), Some("tax")).unwrap();
    assert_eq!(to.id.to_string(), "PS-UXP/GOV/10000004//getRate");
    assert!(to.id.is_member_level());
    // Not moved: the producer mapping decides.
    let to = m.service_to_uxp(&h("tax.getRefund"), Some("tax")).unwrap();
    assert_eq!(to.id, sid("PS-UXP/GOV/10000004/tax/getRefund"));
    // UXP → legacy: each way back leads to the same legacy name.
    for (uxp, legacy) in [
        (
            "PS-UXP/GOV/10000004/tax-debt/getTaxDebt/v1",
            "tax.getTaxDebt.v1",
        ),
        ("PS-UXP/GOV/10000004//getRate", "tax.getRate"),
        ("PS-UXP/GOV/10000004/tax/getRefund", "tax.getRefund"),
    ] {
        let back = m.service_to_legacy(&sid(uxp), Dialect::V31).unwrap();
        assert_eq!(back.service, h(legacy), "{uxp}");
        assert_eq!(back.producer.as_deref(), Some("tax"), "{uxp}");
    }
    // Through the producer mapping, `tax.getTaxDebt.v1`'s old home would be
    // `…/tax/getTaxDebt/v1`; asking for it there is refused rather than sent to a
    // legacy service whose way back leads elsewhere.
    let err = m
        .service_to_legacy(&sid("PS-UXP/GOV/10000004/tax/getTaxDebt/v1"), Dialect::V31)
        .unwrap_err();
    assert!(err.to_string().contains("set/m.toml:"), "{err}");
    // And a legacy service that would land on a moved entry's UXP id is refused too.
    let text = format!(
        "{V31_HEAD}{}{}",
        member("tax", "PS-UXP/GOV/10000004/tax"),
        service(
            "old.getTaxDebt.v1",
            "PS-UXP/GOV/10000004/tax/getTaxDebt/v1",
            ""
        ),
    );
    let m = one(&text).unwrap_or_else(|e| panic!("{e}"));
    let err = m
        .service_to_uxp(&h("tax.getTaxDebt.v1"), Some("tax"))
        .unwrap_err();
    assert!(err.to_string().contains("old.getTaxDebt.v1"), "{err}");
    // Reversibility is still checked: two legacy services onto one UXP service.
    let text = format!(
        "{V31_HEAD}{}{}{}",
        member("tax", "PS-UXP/GOV/10000004/tax"),
        service("tax.a", "PS-UXP/GOV/9/x/a", ""),
        service("tax.b", "PS-UXP/GOV/9/x/a", ""),
    );
    assert!(one(&text).is_err());
}

#[test]
fn member_level_services_on_structured_stacks() {
    // X-Road's own identifier mapping maps producers to members; a 4.x legacy stack's
    // service of a member maps both ways, through the member or through an entry.
    let text = format!(
        "{V4_HEAD}{}{}",
        member("PS/GOV/2", "PS-UXP/GOV/2"),
        "[[services]]\nlegacy = { member = \"PS/GOV/3\", service = \"find\", version = \"v1\" }\nuxp = { subsystem = \"PS-UXP/GOV/3/pop\", service = \"find\", version = \"v1\" }\n",
    );
    let m = one(&text).unwrap_or_else(|e| panic!("{e}"));
    let legacy = ServiceRef::Id(sid("PS/GOV/2//getX/v1"));
    let to = m.service_to_uxp(&legacy, None).unwrap();
    assert_eq!(to.id, sid("PS-UXP/GOV/2//getX/v1"));
    let back = m.service_to_legacy(&to.id, Dialect::V4).unwrap();
    assert_eq!(back.service, legacy);
    let entry = ServiceRef::Id(sid("PS/GOV/3//find/v1"));
    let to = m.service_to_uxp(&entry, None).unwrap();
    assert_eq!(to.id, sid("PS-UXP/GOV/3/pop/find/v1"));
    assert_eq!(
        m.service_to_legacy(&to.id, Dialect::V4).unwrap().service,
        entry
    );
    // A subsystem service whose subsystem is not mapped does not fall back to its
    // member's mapping in the UXP → legacy direction: the way back would differ.
    assert!(m
        .service_to_legacy(&sid("PS-UXP/GOV/2/sub/getX"), Dialect::V4)
        .is_err());
}

#[test]
fn service_table_form_is_checked_field_by_field() {
    let entry = |uxp: &str| format!("{V31_HEAD}[[services]]\nlegacy = \"a.b\"\nuxp = {uxp}\n");
    assert_one(
        &entry("{ member = \"PS-UXP/GOV/1/sub\", service = \"b\" }"),
        7,
        "services[1].uxp.member",
        "names a subsystem",
    );
    assert_one(
        &entry("{ subsystem = \"PS-UXP/GOV/1\", service = \"b\" }"),
        7,
        "services[1].uxp.subsystem",
        "names a member",
    );
    assert_one(
        &entry("{ service = \"b\" }"),
        7,
        "services[1].uxp",
        "missing the provider",
    );
    assert_one(
        &entry("{ member = \"PS-UXP/GOV/1\" }"),
        7,
        "services[1].uxp.service",
        "missing required key `service`",
    );
    assert_one(
        &entry("{ member = \"PS-UXP/GOV/1\", service = \"b\", colour = \"red\" }"),
        7,
        "services[1].uxp.colour",
        "unknown key `colour`",
    );
    assert_one(
        &entry("{ member = \"PS-UXP/GOV/1\", service = \"b/c\" }"),
        7,
        "services[1].uxp.service",
        "",
    );
    // The table form of a subsystem service equals its string form.
    let a = one(&entry(
        "{ subsystem = \"PS-UXP/GOV/1/s\", service = \"b\", version = \"v2\" }",
    ))
    .unwrap();
    assert_eq!(
        a.service_for_legacy_text("a.b").unwrap().uxp,
        sid("PS-UXP/GOV/1/s/b/v2")
    );
    // Short-name stacks write legacy services as strings only.
    assert_one(
        &format!("{V31_HEAD}[[services]]\nlegacy = {{ member = \"PS/GOV/1\", service = \"b\" }}\nuxp = \"PS-UXP/GOV/1/s/b\"\n"),
        6,
        "services[1].legacy",
        "expected a string `producer.method[.vN]`",
    );
    // Five parts ending in a version: ambiguous, refused with both spellings.
    assert_one(
        &entry("\"PS-UXP/GOV/1/getX/v1\""),
        7,
        "services[1].uxp",
        "PS-UXP/GOV/1//getX/v1",
    );
}

#[test]
fn broken_dialect_does_not_cascade_into_every_entry() {
    let text = format!(
        "[legacy]\ndialect = \"v9\"\n[uxp]\ninstance = \"PS-UXP\"\n{}{}",
        member("PS/GOV/1", "PS-UXP/GOV/1"),
        service("moh.get", "PS-UXP/GOV/1/s/get", "")
    );
    assert_one(&text, 2, "legacy.dialect", "unknown dialect `v9`");
}

// ---- robustness --------------------------------------------------------------
