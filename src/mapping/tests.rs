//! Loading a mapping set from files: the fixture sets under `fixtures/mappings/`, the
//! repository's own `mappings/`, and what a directory can hold besides good TOML.

use std::path::PathBuf;

use super::*;
use dualroad_core::wire::ids::{ClientId, ServiceId};
use dualroad_core::wire::Dialect;

fn fixtures(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/mappings")
        .join(dir)
}

fn cid(s: &str) -> ClientId {
    ClientId::parse(s).unwrap()
}

fn sid(s: &str) -> ServiceId {
    ServiceId::parse(s).unwrap()
}

/// Loads one file `set/m.toml`.
fn one(text: &str) -> Result<Mappings, MappingErrors> {
    Mappings::from_sources(&[("set/m.toml".into(), text.to_string())])
}

#[test]
fn invalid_fixture_reports_every_problem_with_its_line() {
    let err = load_dir(&fixtures("invalid")).unwrap_err();
    let got: Vec<(String, Option<usize>, Option<&str>)> = err
        .0
        .iter()
        .map(|p| {
            let name = p.file.file_name().unwrap().to_string_lossy().into_owned();
            (name, p.line, p.field.as_deref())
        })
        .collect();
    let f = |file: &str, line: usize, field: Option<&'static str>| {
        (file.to_string(), Some(line), field)
    };
    let expected = vec![
        f("a-header.toml", 4, Some("legacy.instance")),
        f("a-header.toml", 8, Some("uxp.colour")),
        f("a-header.toml", 10, Some("member")),
        f("b-members.toml", 3, Some("members[1].uxp")),
        f("b-members.toml", 6, Some("members[2].legacy")),
        f("b-members.toml", 11, Some("members[3].uxp")),
        f("b-members.toml", 15, Some("members[4].uxp")),
        f("b-members.toml", 19, Some("members[5].uxp")),
        f("b-members.toml", 24, Some("members[6].note")),
        f("b-members.toml", 26, Some("members[7].legacy")),
        f("b-members.toml", 30, Some("members[8].legacy")),
        f("b-members.toml", 31, Some("members[8].uxp")),
        f("c-services.toml", 2, Some("services[1].legacy")),
        f("c-services.toml", 7, Some("services[2].uxp")),
        f("c-services.toml", 8, Some("services[2].effect")),
        f("c-services.toml", 9, Some("services[2].wrapper")),
        f("c-services.toml", 13, Some("services[3].uxp")),
        f("c-services.toml", 16, Some("services[4].legacy")),
        f("c-services.toml", 21, Some("services[5].uxp")),
        f("c-services.toml", 25, Some("services[6].uxp")),
        f("d-second-header.toml", 2, Some("legacy")),
        f("d-second-header.toml", 5, Some("uxp")),
        f("e-syntax.toml", 4, None),
        f("f-shapes.toml", 1, Some("members")),
        f("f-shapes.toml", 2, Some("services[1]")),
    ];
    assert_eq!(got, expected, "\n{err}");

    // The messages say what is wrong, and cross-references name the other place.
    let text = err.to_string();
    let line_of = |prefix: &str| -> &str {
        text.lines()
            .find(|l| l.contains(prefix))
            .unwrap_or_else(|| panic!("no line with {prefix} in\n{text}"))
    };
    assert!(
        line_of("a-header.toml:4: legacy.instance:").contains("not allowed when dialect is v3.1")
    );
    assert!(line_of("a-header.toml:8:").contains("unknown key `colour` (expected `instance`)"));
    assert!(line_of("a-header.toml:10:").contains("unknown key `member`"));
    assert!(
        line_of("b-members.toml:3:").contains("mapping of `10000055` at ")
            && line_of("b-members.toml:3:").contains("b-members.toml:11")
    );
    assert!(
        line_of("b-members.toml:11:").contains("mapping of `10000042` at ")
            && line_of("b-members.toml:11:").contains("b-members.toml:3")
    );
    assert!(
        line_of("b-members.toml:6:").contains("already mapped at ")
            && line_of("b-members.toml:6:").contains("b-members.toml:2")
    );
    assert!(line_of("b-members.toml:15:").contains("`PS-UXP/GOV` must have 3 or 4"));
    assert!(line_of("b-members.toml:19:").contains("instance `XX`"));
    assert!(line_of("b-members.toml:26:").contains("missing required key `legacy`"));
    assert!(line_of("b-members.toml:30:").contains("whitespace"));
    assert!(line_of("b-members.toml:31:").contains("expected a string, found an integer"));
    assert!(line_of("c-services.toml:2:").contains("`moh` is not a legacy service name"));
    let ambiguous = line_of("c-services.toml:7:");
    assert!(
        ambiguous.contains("ambiguous")
            && ambiguous.contains("PS-UXP/COM/10000078//getAccount/v1")
            && ambiguous.contains("member = \"PS-UXP/COM/10000078\""),
        "{ambiguous}"
    );
    assert!(line_of("c-services.toml:8:").contains("unknown effect `readonly`"));
    assert!(line_of("c-services.toml:9:").contains("NCName"));
    assert!(line_of("c-services.toml:16:").contains("c-services.toml:12"));
    assert!(line_of("c-services.toml:25:").contains("5 or 6"));
    assert!(line_of("d-second-header.toml:2:").contains("a-header.toml:2"));
    assert!(line_of("d-second-header.toml:5:").contains("a-header.toml:6"));
    assert!(line_of("e-syntax.toml:4:").contains("invalid TOML"));
    assert!(line_of("f-shapes.toml:1:").contains("array of tables"));
    // Display is one line per problem.
    assert_eq!(text.lines().count(), expected.len());
}

#[test]
fn xroad6_fixture_loads_and_maps_both_ways() {
    let m = load_dir(&fixtures("xroad6")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.legacy_dialect(), Dialect::V4);
    assert_eq!(m.legacy_instance(), Some("PS"));
    assert_eq!(m.uxp_instance(), "PS-UXP");
    for (legacy, uxp) in [
        (
            "PS/GOV/10000042/moh-portal",
            "PS-UXP/GOV/10000042/moh-portal",
        ),
        ("PS/GOV/10000001/moh", "PS-UXP/GOV/10000001/moh"),
        ("PS/GOV/10000002/poprr", "PS-UXP/GOV/10000002/poprr"),
    ] {
        assert_eq!(m.uxp_for_legacy_id(&cid(legacy)), Some(&cid(uxp)));
        assert_eq!(
            m.legacy_for_uxp(&cid(uxp)),
            Some(&LegacyMember::Id(cid(legacy)))
        );
    }
    // Structured stacks have no short names.
    assert_eq!(m.uxp_for_legacy_name("moh"), None);
    // No subsystem→member fallback from the legacy side.
    assert_eq!(m.uxp_for_legacy_id(&cid("PS/GOV/10000003/bizreg")), None);
    assert_eq!(
        m.legacy_for_uxp(&cid("PS-UXP/GOV/10000003/bizreg")),
        Some(&LegacyMember::Id(cid("PS/GOV/10000003")))
    );

    let s = m
        .service_for_legacy_text("PS/GOV/10000001/moh/getPatientSummary/v2")
        .unwrap();
    assert_eq!(s.uxp, sid("PS-UXP/GOV/10000001/moh/getPatientSummary/v2"));
    assert_eq!(s.effect, Effect::Read);
    let s = m
        .service_for_uxp(&sid("PS-UXP/GOV/10000003/bizreg/findCompany/v1"))
        .unwrap();
    assert_eq!(s.legacy.to_string(), "PS/GOV/10000003/bizreg/getCompany/v1");
    assert_eq!(s.wrapper.as_deref(), Some("findCompany"));
    let s = m
        .service_for_legacy_text("PS/GOV/10000002/poprr/registerBirth")
        .unwrap();
    assert_eq!(s.effect, Effect::Write);
    assert_eq!(m.members().count(), 4);
    assert_eq!(m.services().count(), 3);
}

#[test]
fn worked_example_in_repo_loads() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("mappings");
    let m = load_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.legacy_dialect(), Dialect::V31Eu);
    assert_eq!(
        m.uxp_for_legacy_name("pop"),
        Some(&cid("PS-UXP/GOV/10000002/poprr"))
    );
    let s = m
        .service_for_legacy_text("pop.RR19IsikuElukoht.v1")
        .unwrap();
    assert_eq!(s.wrapper.as_deref(), Some("getResidence"));
    assert_eq!(
        m.service_for_uxp(&sid("PS-UXP/GOV/10000004/payments/getPaymentStatus"))
            .unwrap()
            .legacy
            .to_string(),
        "pay.getPaymentStatus"
    );
}

#[test]
fn empty_or_missing_directory() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "x").unwrap();
    std::fs::write(tmp.path().join(".hidden.toml"), "[legacy]").unwrap();
    std::fs::create_dir(tmp.path().join("dir.toml")).unwrap();
    let err = load_dir(tmp.path()).unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    assert_eq!(err.0[0].file, tmp.path());
    assert!(err.0[0].message.contains("no mapping files"), "{err}");

    let err = load_dir(&tmp.path().join("absent")).unwrap_err();
    assert!(
        err.0[0].message.contains("cannot read mappings directory"),
        "{err}"
    );

    let err = Mappings::from_sources(&[]).unwrap_err();
    assert!(err.0[0].message.contains("no mapping files"), "{err}");
}

#[test]
fn non_utf8_file_is_a_problem_and_others_are_still_checked() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("a.toml"),
        b"[legacy]\ndialect = \"v3.1\xff\"\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("b.toml"),
        "[uxp]\ninstance = \"PS-UXP\"\nextra = 1\n",
    )
    .unwrap();
    let err = load_dir(tmp.path()).unwrap_err();
    let msgs: Vec<String> = err.0.iter().map(|p| p.to_string()).collect();
    assert!(
        msgs.iter().any(|m| m.contains("a.toml: not valid UTF-8")),
        "{err}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("b.toml:3: uxp.extra: unknown key")),
        "{err}"
    );
    // [legacy] was in the unreadable file, so it is missing from the set.
    assert!(
        msgs.iter().any(|m| m.contains("missing `[legacy]`")),
        "{err}"
    );
}

#[test]
fn never_panics_on_truncated_or_mangled_input() {
    let dir = fixtures("xroad6");
    let mut full = String::new();
    for f in ["00-instances.toml", "10-members.toml", "20-services.toml"] {
        full.push_str(&std::fs::read_to_string(dir.join(f)).unwrap());
    }
    for (i, _) in full.char_indices() {
        let _ = one(&full[..i]);
    }
    for junk in [
        "\u{0}",
        "[[",
        "]]",
        "=",
        "\"",
        "legacy.legacy.legacy = 1",
        "[legacy.x]\ny=1",
        "a = { b = [ { c = 1 } ] }",
        "\u{feff}[legacy]",
    ] {
        let _ = one(junk);
        let _ = one(&format!("{full}{junk}"));
    }
}
