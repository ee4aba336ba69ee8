//! Config loading against the files in `fixtures/config/` and the root example.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::file::*;
use super::*;
use crate::routing::{Pattern, Stage};
use crate::wire::{Dialect, SoapVersion};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/config")
        .join(name)
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dualroad.example.toml")
}

/// `(kind, line, field)` of every problem, in report order.
fn problems(name: &str) -> Vec<(ErrorKind, Option<usize>, String)> {
    match Settings::from_file(fixture(name)) {
        Ok(_) => panic!("{name} should be rejected"),
        Err(e) => e
            .iter()
            .map(|e| (e.kind, e.line, e.field.clone()))
            .collect(),
    }
}

fn message_of(name: &str, field: &str) -> String {
    let errs = Settings::from_file(fixture(name)).expect_err(name);
    errs.iter()
        .find(|e| e.field == field)
        .map(|e| e.message.clone())
        .unwrap_or_else(|| panic!("no problem at {field} in {name}: {errs}"))
}

fn p(kind: ErrorKind, line: Option<usize>, field: &str) -> (ErrorKind, Option<usize>, String) {
    (kind, line, field.to_string())
}

use ErrorKind::*;

#[test]
fn example_loads_with_documented_defaults() {
    let s = Settings::from_file(example()).unwrap_or_else(|e| panic!("{e}"));
    let dir = example()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    assert_eq!(s.data_dir, dir.join("var/dualroad"));
    assert_eq!(s.mappings, dir.join(DEFAULT_MAPPINGS_DIR));
    // The example spells out every default; they must agree with the constants.
    assert_eq!(s.limits.max_message_bytes, DEFAULT_MAX_MESSAGE_BYTES);
    assert_eq!(
        s.limits.header_read_timeout,
        Duration::from_millis(DEFAULT_HEADER_READ_TIMEOUT_MS)
    );
    assert_eq!(
        s.limits.body_read_timeout,
        Duration::from_millis(DEFAULT_BODY_READ_TIMEOUT_MS)
    );
    assert_eq!(s.limits.max_connections as u64, DEFAULT_MAX_CONNECTIONS);
    assert_eq!(
        s.limits.max_connections_per_source as u64,
        DEFAULT_MAX_CONNECTIONS_PER_SOURCE
    );
    assert_eq!(s.limits.max_header_bytes as u64, DEFAULT_MAX_HEADER_BYTES);
    assert_eq!(s.limits.max_headers as u64, DEFAULT_MAX_HEADERS);
    assert_eq!(
        s.limits.scan,
        crate::wire::envelope::ScanLimits {
            max_attributes: DEFAULT_MAX_ATTRIBUTES_PER_ELEMENT as usize,
            max_namespace_declarations: DEFAULT_MAX_NAMESPACE_DECLARATIONS_PER_ELEMENT as usize,
        }
    );
    assert_eq!(s.admin.listen.to_string(), DEFAULT_ADMIN_LISTEN);
    assert!(
        s.admin.allowed_hosts.is_empty(),
        "allowed_hosts defaults to empty"
    );
    assert_eq!(
        (
            s.report.min_samples,
            s.report.min_match_rate,
            s.report.max_p99_ratio
        ),
        (
            DEFAULT_MIN_SAMPLES,
            DEFAULT_MIN_MATCH_RATE,
            DEFAULT_MAX_P99_RATIO
        )
    );
    let legacy = s.legacy_stack().expect("legacy stack");
    assert_eq!(
        (legacy.name.as_str(), legacy.dialect, legacy.url.port),
        ("legacy-ss", Dialect::V31Eu, Some(8801))
    );
    assert_eq!(
        (legacy.connect_timeout, legacy.request_timeout),
        (
            Duration::from_millis(DEFAULT_CONNECT_TIMEOUT_MS),
            Duration::from_millis(DEFAULT_REQUEST_TIMEOUT_MS)
        )
    );
    assert_eq!(legacy.http10, DEFAULT_HTTP10);
    let uxp = s.uxp_stack().expect("uxp stack");
    assert_eq!(
        (uxp.dialect, uxp.soap_version, uxp.url.port),
        (Dialect::Uxp, DEFAULT_UXP_SOAP_VERSION, Some(8802))
    );
    assert_eq!(s.upstreams["legacy-adapter"].url.port, Some(8803));
    let roles: Vec<_> = s
        .listeners
        .iter()
        .map(|l| (l.name.as_str(), l.listen.port(), l.role.clone()))
        .collect();
    assert_eq!(
        roles,
        [
            ("agencies", 8080, ListenerRole::Consumer),
            (
                "uxp-providers",
                8081,
                ListenerRole::Provider {
                    upstream: "legacy-adapter".into()
                }
            )
        ]
    );
    assert_eq!(s.rollout.fallback(), Stage::Legacy);
    assert_eq!(
        s.rollout.rules()[0].stage,
        Stage::Canary {
            percent: 25,
            sticky: false
        }
    );
    assert_eq!(
        s.rollout.rules()[1].agency,
        Pattern::Prefix("PS-UXP/MUN/".into())
    );
}

#[test]
fn valid_fixture_loads() {
    let s = Settings::from_file(fixture("valid.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.data_dir, PathBuf::from("/var/lib/dualroad"));
    assert_eq!(s.upstreams["uxp-ss"].soap_version, SoapVersion::Soap12);
    assert_eq!(s.upstreams["legacy-ss"].soap_version, SoapVersion::Soap11);
    assert_eq!(s.upstreams["legacy-ss"].url.port_or_default(), 443);
    assert_eq!(s.rollout.fallback(), Stage::Shadow);
    assert_eq!(
        s.rollout.rules()[0].stage,
        Stage::Canary {
            percent: 10,
            sticky: true
        }
    );
}

#[test]
fn syntax_error_names_its_line() {
    assert_eq!(problems("syntax.toml"), [p(Syntax, Some(4), "")]);
}

#[test]
fn unknown_keys_are_all_reported() {
    assert_eq!(
        problems("unknown_keys.toml"),
        [
            p(Schema, Some(5), "limits.max_message_size"),
            p(Schema, Some(11), "listeners[0].tls_mode"),
            p(Schema, Some(32), "rollout.rules[0].weight"),
        ]
    );
    assert!(message_of("unknown_keys.toml", "listeners[0].tls_mode")
        .starts_with("unknown field `tls_mode`"));
}

#[test]
fn unknown_top_level_key_is_reported_with_line() {
    assert_eq!(
        problems("unknown_top_level.toml"),
        [p(Schema, Some(3), "rollouts")]
    );
}

#[test]
fn missing_fallback_points_at_rollout_table() {
    assert_eq!(
        problems("missing_fallback.toml"),
        [p(Missing, Some(13), "rollout.fallback")]
    );
    assert_eq!(
        message_of("missing_fallback.toml", "rollout.fallback"),
        MISSING_FALLBACK
    );
    // No [rollout] at all: same message, no line to point at.
    let e = Settings::from_str("t.toml", "data_dir = \"d\"\n[[listeners]]\nname=\"p\"\nrole=\"provider\"\nlisten=\"127.0.0.1:1\"\nupstream=\"a\"\n[upstreams.a]\nurl=\"http://a/\"\ndialect=\"v2\"\n")
        .expect_err("no rollout");
    let got: Vec<_> = e
        .iter()
        .map(|e| (e.line, e.field.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(got, [(None, "rollout.fallback", MISSING_FALLBACK)]);
}

#[test]
fn rule_problems_are_all_reported() {
    assert_eq!(
        problems("rules.toml"),
        [
            p(Invalid, Some(16), "rollout.fallback"),
            p(Schema, Some(21), "rollout.rules[0].stage"),
            p(Invalid, Some(27), "rollout.rules[1].percent"),
            p(Conflict, Some(33), "rollout.rules[2].percent"),
            p(Conflict, Some(34), "rollout.rules[2].sticky"),
            p(Invalid, Some(37), "rollout.rules[3].agency"),
            // Missing: points at the rule, where it should be added.
            p(Missing, Some(37), "rollout.rules[3].percent"),
        ]
    );
    assert!(message_of("rules.toml", "rollout.rules[0].stage").contains("unknown variant `canery`"));
    assert_eq!(
        message_of("rules.toml", "rollout.rules[1].percent"),
        "percent must be between 0 and 100, got 150"
    );
}

#[test]
fn reference_problems_are_all_reported() {
    assert_eq!(
        problems("references.toml"),
        [
            p(Conflict, Some(9), "listeners[0].upstream"),
            p(UnknownReference, Some(15), "listeners[1].upstream"),
            p(Conflict, Some(24), "upstreams.uxp-ss.soap_version"),
            p(Conflict, Some(27), "stacks.legacy"),
            p(UnknownReference, Some(28), "stacks.uxp"),
        ]
    );
    assert!(message_of("references.toml", "listeners[1].upstream").contains("`legacy-adaptor`"));
    assert!(message_of("references.toml", "stacks.legacy").contains("speaks \"uxp\""));
    assert!(message_of("references.toml", "listeners[1].upstream")
        .contains("(defined: legacy-ss, uxp-ss)"));
}

#[test]
fn uxp_stack_on_legacy_dialect_is_a_conflict() {
    let text = std::fs::read_to_string(fixture("valid.toml")).expect("fixture");
    let text = text.replace("uxp = \"uxp-ss\"", "uxp = \"legacy-ss\"");
    // from_str keeps paths as written; point the TLS files at the fixtures.
    let tls_dir = format!("{}/", fixture("../tls").display());
    let text = text.replace("../tls/", &tls_dir);
    let e = Settings::from_str("swapped.toml", &text).expect_err("legacy upstream as uxp stack");
    let got: Vec<_> = e
        .iter()
        .map(|e| (e.kind, e.line, e.field.as_str()))
        .collect();
    assert_eq!(got, [(Conflict, Some(22), "stacks.uxp")]);
    assert!(e.errors[0].message.contains("speaks \"v4\""));
}

#[test]
fn listener_and_address_problems_are_all_reported() {
    assert_eq!(
        problems("listeners.toml"),
        [
            p(Conflict, Some(14), "listeners[1].name"),
            p(Conflict, Some(16), "listeners[1].listen"),
            p(Conflict, Some(21), "listeners[2].listen"),
            p(Invalid, Some(26), "listeners[3].listen"),
            p(Invalid, Some(29), "upstreams.legacy-ss.url"),
            p(Invalid, Some(33), "upstreams.uxp-ss.url"),
        ]
    );
    assert!(
        message_of("listeners.toml", "listeners[1].name").contains("listeners[0].name (line 9)")
    );
    assert!(message_of("listeners.toml", "listeners[1].listen")
        .contains("listeners[0].listen (line 11)"));
    assert!(message_of("listeners.toml", "listeners[2].listen").contains("admin.listen (line 6)"));
    assert!(message_of("listeners.toml", "upstreams.legacy-ss.url").contains("http:// or https://"));
}

#[test]
fn identical_rule_patterns_report_both_lines() {
    assert_eq!(
        problems("overlapping_rules.toml"),
        [
            p(Conflict, Some(30), "rollout.rules[2]"),
            p(Conflict, Some(35), "rollout.rules[3]")
        ]
    );
    let contradicts = message_of("overlapping_rules.toml", "rollout.rules[2]");
    assert!(
        contradicts.starts_with("contradicts rollout.rules[0] (line 19)"),
        "{contradicts}"
    );
    assert!(
        contradicts.contains("\"canary 25%\" and \"uxp\""),
        "{contradicts}"
    );
    let duplicates = message_of("overlapping_rules.toml", "rollout.rules[3]");
    assert!(
        duplicates.starts_with("duplicates rollout.rules[0] (line 19)"),
        "{duplicates}"
    );
}

#[test]
fn values_types_and_missing_sections_are_all_reported() {
    assert_eq!(
        problems("limits.toml"),
        [
            p(Invalid, Some(6), "limits.header_read_timeout_ms"),
            p(Invalid, Some(7), "limits.max_connections"),
            p(Schema, Some(12), "upstreams.legacy-ss.request_timeout_ms"),
            p(Schema, Some(16), "upstreams.uxp-ss.dialect"),
            p(Missing, None, "data_dir"),
            p(Missing, None, "listeners"),
        ]
    );
    assert_eq!(
        message_of("limits.toml", "upstreams.legacy-ss.request_timeout_ms"),
        "invalid type: string \"30s\", expected an integer"
    );
    assert!(message_of("limits.toml", "data_dir").starts_with("required: "));
}

/// The scanner's per-element caps: taken from `[limits]`, and zero, negative or
/// beyond-the-ceiling values are all reported at once with their lines.
#[test]
fn attribute_and_namespace_caps_are_read_and_checked() {
    let example = example_text();
    let set = example
        .replace(
            "max_attributes_per_element = 64",
            "max_attributes_per_element = 8",
        )
        .replace(
            "max_namespace_declarations_per_element = 64",
            "max_namespace_declarations_per_element = 16",
        );
    assert_ne!(set, example, "the example spells out both keys");
    let s = Settings::from_str("caps.toml", &set).expect("valid");
    assert_eq!(
        (
            s.limits.scan.max_attributes,
            s.limits.scan.max_namespace_declarations
        ),
        (8, 16)
    );
    let bad = example
        .replace(
            "max_attributes_per_element = 64",
            "max_attributes_per_element = 0",
        )
        .replace(
            "max_namespace_declarations_per_element = 64",
            "max_namespace_declarations_per_element = 1000000",
        );
    let line_of = |key: &str| bad.lines().position(|l| l.starts_with(key)).map(|i| i + 1);
    let errs = Settings::from_str("caps.toml", &bad).expect_err("out of range");
    let got: Vec<_> = errs
        .iter()
        .map(|e| (e.kind, e.line, e.field.clone()))
        .collect();
    assert_eq!(
        got,
        [
            p(
                Invalid,
                line_of("max_attributes_per_element"),
                "limits.max_attributes_per_element"
            ),
            p(
                Invalid,
                line_of("max_namespace_declarations_per_element"),
                "limits.max_namespace_declarations_per_element"
            ),
        ]
    );
    assert!(errs
        .iter()
        .any(|e| e.message.contains("at most 4096, got 1000000")));
}

/// The per-source connection limit: off (0) unless set, a set value is taken, a
/// negative one is reported with its line.
#[test]
fn per_source_connection_limit_is_off_by_default_and_checked() {
    let example = example_text();
    let key = "max_connections_per_source = 0";
    assert!(example.contains(key), "the example spells out the default");
    let without: String = example
        .lines()
        .filter(|l| !l.starts_with(key))
        .map(|l| format!("{l}\n"))
        .collect();
    let s = Settings::from_str("off.toml", &without).expect("valid");
    assert_eq!(s.limits.max_connections_per_source, 0, "off when omitted");
    let set = example.replace(key, "max_connections_per_source = 4");
    let s = Settings::from_str("on.toml", &set).expect("valid");
    assert_eq!(s.limits.max_connections_per_source, 4);
    let bad = example.replace(key, "max_connections_per_source = -1");
    let line = bad
        .lines()
        .position(|l| l.starts_with("max_connections_per_source"))
        .map(|i| i + 1);
    let errs = Settings::from_str("bad.toml", &bad).expect_err("negative");
    let got: Vec<_> = errs
        .iter()
        .map(|e| (e.kind, e.line, e.field.clone(), e.message.clone()))
        .collect();
    assert_eq!(
        got,
        [(
            Invalid,
            line,
            "limits.max_connections_per_source".to_string(),
            "must be 0 (off) or greater, got -1".to_string()
        )]
    );
}

#[test]
fn errors_render_file_line_field_message() {
    let e = Settings::from_file(fixture("missing_fallback.toml")).expect_err("invalid");
    let text = e.to_string();
    let file = fixture("missing_fallback.toml").display().to_string();
    assert_eq!(
        text,
        format!("{file}: 1 problem\n  {file}:13: rollout.fallback: {MISSING_FALLBACK}")
    );
}

#[test]
fn unreadable_file_is_an_io_problem() {
    let e = Settings::from_file(fixture("does-not-exist.toml")).expect_err("missing file");
    assert_eq!(e.errors[0].kind, Io);
}

#[test]
fn dotted_and_inline_tables_work_too() {
    let text = r#"
data_dir = "d"
rollout.fallback = "legacy"
rollout.rules = [ { agency = "*", service = "*", stage = "canary", percent = 5 },
                  { agency = "*", service = "*", stage = "uxp", bogus = 1 } ]
listeners = [ { name = "p", role = "provider", listen = "127.0.0.1:1", upstream = "a" } ]
upstreams.a.url = "http://a/"
upstreams.a.dialect = "v2"
"#;
    let e = Settings::from_str("inline.toml", text).expect_err("bogus key");
    let got: Vec<_> = e
        .iter()
        .map(|e| (e.kind, e.line, e.field.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(
        got[..1],
        [(Schema, Some(5), "rollout.rules[1].bogus", got[0].3)]
    );
    assert_eq!(got.len(), 1, "{e}");
    // Without the bogus key the two rules have identical patterns: reported at the second.
    let e = Settings::from_str("inline.toml", &text.replace(", bogus = 1", ""))
        .expect_err("identical patterns");
    let got: Vec<_> = e
        .iter()
        .map(|e| (e.kind, e.line, e.field.as_str()))
        .collect();
    assert_eq!(got, [(Conflict, Some(5), "rollout.rules[1]")]);
    // With distinct patterns it loads.
    let s = Settings::from_str(
        "inline.toml",
        &text.replace(", bogus = 1", "").replace(
            "service = \"*\", stage = \"uxp\"",
            "service = \"pay.*\", stage = \"uxp\"",
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.rollout.rules().len(), 2);
}

fn example_text() -> String {
    std::fs::read_to_string(example()).expect("example")
}

#[test]
fn from_str_keeps_relative_paths_and_from_file_resolves_them() {
    let s = Settings::from_str("example", &example_text()).expect("valid");
    assert_eq!(s.data_dir, PathBuf::from("var/dualroad"));
}

#[test]
fn hash_is_stable_and_tracks_content() {
    let a = Settings::from_str("a", &example_text()).expect("valid");
    let b = Settings::from_str("b", &example_text()).expect("valid");
    assert_eq!(a.hash(), b.hash(), "the name labels errors only");
    assert_eq!(a.hash().len(), 64);
    assert!(a
        .hash()
        .bytes()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    // Comments and formatting do not change the configuration.
    let reformatted = example_text().replace("percent = 25 ", "percent   =   25   # same\n#");
    let c = Settings::from_str("c", &reformatted).expect("valid");
    assert_eq!(a.hash(), c.hash());
    let d = Settings::from_str("d", &example_text().replace("percent = 25", "percent = 30"))
        .expect("valid");
    assert_ne!(a.hash(), d.hash());
}

#[test]
fn diff_says_what_changed_in_operator_terms() {
    let before = Settings::from_str("a", &example_text()).expect("valid");
    let after_text = example_text()
        .replace("fallback = \"legacy\"", "fallback = \"shadow\"")
        .replace(
            "stage = \"canary\"\npercent = 25 ",
            "stage = \"uxp\"\n# percent = 25 ",
        )
        .replace("sticky = false   ", "# sticky = false")
        .replace("agency = \"PS-UXP/MUN/*\"", "agency = \"PS-UXP/COM/*\"")
        .replace(
            "request_timeout_ms = 30000         # whole",
            "request_timeout_ms = 60000 # whole",
        );
    let after = Settings::from_str("b", &after_text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        before.diff(&after),
        [
            "upstream legacy-ss: request_timeout_ms: 30000 → 60000",
            "fallback: legacy → shadow",
            "rollout rule agency=10000042 service=moh.*: canary 25% → uxp",
            "rollout rule agency=PS-UXP/MUN/* service=*: removed (was shadow)",
            "rollout rule agency=PS-UXP/COM/* service=*: added (shadow)",
        ]
    );
    assert!(before.diff(&before).is_empty());
}

#[test]
fn settings_serialize_for_show_settings() {
    let s = Settings::from_str("a", &example_text()).expect("valid");
    let v = serde_json::to_value(&s).expect("serializes");
    assert_eq!(v["limits"]["header_read_timeout_ms"], 10_000);
    assert_eq!(v["admin"]["listen"], "127.0.0.1:9090");
    assert_eq!(v["listeners"][1]["role"], "provider");
    assert_eq!(v["listeners"][1]["upstream"], "legacy-adapter");
    assert_eq!(v["upstreams"]["uxp-ss"]["soap_version"], "1.1");
    assert_eq!(
        v["upstreams"]["legacy-ss"]["url"],
        "http://127.0.0.1:8801/cgi-bin/consumer_proxy"
    );
    assert_eq!(v["rollout"]["fallback"]["stage"], "legacy");
    assert_eq!(
        v["rollout"]["rules"][0],
        serde_json::json!({"agency": "10000042", "service": "moh.*", "stage": "canary", "percent": 25, "sticky": false})
    );
}

#[test]
fn example_documents_the_shadow_compare_and_store_defaults() {
    let s = Settings::from_file(example()).unwrap_or_else(|e| panic!("{e}"));
    let sh = &s.shadow;
    assert_eq!(sh.timeout, Duration::from_millis(DEFAULT_SHADOW_TIMEOUT_MS));
    assert_eq!(sh.concurrency as u64, DEFAULT_SHADOW_CONCURRENCY);
    assert_eq!(sh.service_budget_bytes, DEFAULT_SHADOW_SERVICE_BUDGET_BYTES);
    assert_eq!(
        (
            sh.fallback.sample,
            sh.fallback.calibrate,
            sh.fallback.store_bodies,
            sh.fallback.capture
        ),
        (
            DEFAULT_SAMPLE,
            DEFAULT_CALIBRATE,
            DEFAULT_STORE_BODIES,
            DEFAULT_CAPTURE
        )
    );
    assert_eq!(sh.rules.len(), s.rollout.rules().len());
    // The municipalities' shadow rule overrides some defaults.
    let muni = &sh.rules[1];
    assert_eq!(
        (muni.sample, muni.calibrate, muni.capture),
        (0.5, 0.05, true)
    );
    assert_eq!(muni.sandbox, None);
    // Rules without shadow keys take the defaults.
    assert_eq!(sh.rules[2], sh.fallback);
    let st = &s.store;
    assert_eq!(
        st.max_age,
        Some(Duration::from_secs(DEFAULT_RETENTION_DAYS * 86_400))
    );
    assert_eq!(st.max_bytes, Some(DEFAULT_STORE_MAX_BYTES));
    assert_eq!(st.queue_capacity as u64, DEFAULT_STORE_QUEUE_CAPACITY);
    assert_eq!(
        st.flush_interval,
        Duration::from_millis(DEFAULT_STORE_FLUSH_INTERVAL_MS)
    );
    assert_eq!(st.max_body_bytes as u64, DEFAULT_STORE_MAX_BODY_BYTES);
    assert_eq!(st.cache_bytes, DEFAULT_STORE_CACHE_BYTES);
    assert_eq!(
        st.redaction.headers,
        crate::store::redact::DEFAULT_REDACTED_HEADERS.to_vec()
    );
    // The example lists the default paths first, then a site's addition.
    let defaults = crate::store::redact::DEFAULT_REDACTED_PATHS;
    assert_eq!(
        st.redaction.paths[..defaults.len()],
        defaults.map(String::from)
    );
    assert_eq!(
        crate::store::RedactionConfig::default().paths,
        defaults.map(String::from)
    );
    assert_eq!(s.compare.ignore.len(), 1);
    assert!(s.compare.compile().is_ok());
    // The redaction key never appears in printed settings.
    let v = serde_json::to_value(&s).expect("serializes");
    assert_eq!(v["store"]["redaction"]["key"], "generated");
}

#[test]
fn shadow_keys_are_checked_all_at_once_with_lines() {
    let text = example_text()
        .replace("sample = 0.5 ", "sample = 1.5 ")
        .replace(
            "shadow_writes = \"never\" ",
            "shadow_writes = \"sandbox\"\nsandbox = \"nowhere\" ",
        )
        .replace("sticky = false   ", "sticky = false\ncalibrate = 0.1")
        .replace("concurrency = 256 ", "concurrency = 0 ")
        .replace("retention_days = 30 ", "retention_days = -1 ")
        .replace("expires = \"2027-06-30\"", "expires = \"2027-13-30\"")
        .replace("\"Body/*/request/diagnosis\"", "\"Body//x\"");
    let errs = Settings::from_str("x.toml", &text).expect_err("invalid");
    let got: Vec<(ErrorKind, String)> = errs.iter().map(|e| (e.kind, e.field.clone())).collect();
    for want in [
        (Conflict, "rollout.rules[0].calibrate"),
        (Invalid, "rollout.rules[1].sample"),
        (UnknownReference, "rollout.rules[1].sandbox"),
        (Invalid, "shadow.concurrency"),
        (Invalid, "compare.ignore[0].expires"),
        (Invalid, "store.retention_days"),
        (Invalid, "store.redaction.paths"),
    ] {
        assert!(
            got.iter().any(|(k, f)| *k == want.0 && f == want.1),
            "missing {want:?} in {errs}"
        );
    }
    assert!(
        errs.iter().all(|e| e.line.is_some()),
        "every problem has a line: {errs}"
    );
}

#[test]
fn a_sandbox_must_speak_what_the_mirrored_stack_speaks() {
    let text = example_text().replace(
        "shadow_writes = \"never\" ",
        "shadow_writes = \"sandbox\"\nsandbox = \"legacy-adapter\" ",
    );
    let errs = Settings::from_str("x.toml", &text).expect_err("invalid");
    let e = errs
        .iter()
        .find(|e| e.field == "rollout.rules[1].sandbox")
        .unwrap_or_else(|| panic!("{errs}"));
    assert_eq!(e.kind, Conflict);
    assert!(e.message.contains("must speak uxp"), "{}", e.message);
}

#[test]
fn auto_rollback_is_validated() {
    let s = Settings::from_file(example()).unwrap_or_else(|e| panic!("{e}"));
    let g = s.shadow.rules[0]
        .auto_rollback
        .expect("canary rule is gated");
    assert_eq!(
        (g.min_samples, g.min_match_rate, g.window),
        (50, 0.95, Duration::from_secs(300))
    );
    let text = example_text()
        .replace("window = \"5m\"", "window = \"5 fortnights\"")
        .replace(
            "stage = \"shadow\"\n",
            "stage = \"shadow\"\nauto_rollback = { min_samples = 5 }\n",
        );
    let errs = Settings::from_str("x.toml", &text).expect_err("invalid");
    let got: Vec<(ErrorKind, String)> = errs.iter().map(|e| (e.kind, e.field.clone())).collect();
    for want in [
        (Invalid, "rollout.rules[0].auto_rollback.window"),
        (Conflict, "rollout.rules[1].auto_rollback"),
    ] {
        assert!(
            got.iter().any(|(k, f)| *k == want.0 && f == want.1),
            "missing {want:?} in {errs}"
        );
    }
    let text = example_text().replace("min_match_rate = 0.95, ", "");
    let errs = Settings::from_str("x.toml", &text).expect_err("invalid");
    assert!(
        errs.iter().any(
            |e| e.kind == Missing && e.field == "rollout.rules[0].auto_rollback.min_match_rate"
        ),
        "{errs}"
    );
}

#[test]
fn tls_and_binding_problems_are_all_reported_at_their_keys() {
    assert_eq!(
        problems("tls.toml"),
        [
            p(Invalid, Some(8), "listeners[0].tls.cert"),
            p(Invalid, Some(8), "listeners[0].tls.key"),
            p(Missing, Some(14), "listeners[1].tls.cert"),
            p(Conflict, Some(14), "listeners[1].tls.require_client_cert"),
            p(Missing, Some(16), "upstreams.legacy-ss.tls"),
            p(Conflict, Some(23), "upstreams.uxp-ss.tls"),
            p(Invalid, Some(28), "upstreams.adapter.tls.ca"),
            p(Missing, Some(28), "upstreams.adapter.tls.client_key"),
            p(Invalid, Some(28), "upstreams.adapter.tls.server_name"),
            p(Invalid, Some(39), "client_bindings[0].cert_sha256"),
            p(Conflict, Some(43), "client_bindings[1].name"),
            p(Invalid, Some(44), "client_bindings[1].source"),
            p(Invalid, Some(45), "client_bindings[1].clients"),
            p(Invalid, Some(49), "client_bindings[2].cert_subject"),
            p(Invalid, Some(50), "client_bindings[2].clients"),
            p(Missing, Some(53), "client_bindings[3]"),
        ]
    );
    // Files are named, resolved against the config file's directory.
    let m = message_of("tls.toml", "listeners[0].tls.cert");
    assert!(
        m.contains("fixtures/config/../tls/no-such-cert.pem") && m.contains("cannot read"),
        "{m}"
    );
    let m = message_of("tls.toml", "listeners[0].tls.key");
    assert!(
        m.contains("server.pem") && m.contains("no private key"),
        "{m}"
    );
    let m = message_of("tls.toml", "upstreams.adapter.tls.ca");
    assert!(
        m.contains("server.key") && m.contains("no certificate"),
        "{m}"
    );
    assert!(message_of("tls.toml", "upstreams.legacy-ss.tls").contains("cannot be turned off"));
    assert!(message_of("tls.toml", "client_bindings[1].name")
        .contains("client_bindings[0].name (line 38)"));
    assert!(message_of("tls.toml", "client_bindings[3]")
        .contains("cert_sha256, cert_subject and/or source"));
}

#[test]
fn tls_settings_resolve_relative_to_the_config_file() {
    let s = Settings::from_file(fixture("valid.toml")).unwrap_or_else(|e| panic!("{e}"));
    let tls_dir = fixture("../tls");
    let t = s.upstreams["uxp-ss"].tls.as_ref().expect("tls");
    assert_eq!(t.ca, tls_dir.join("ca.pem"));
    assert_eq!(
        t.client_key.as_deref(),
        Some(tls_dir.join("client-moh.key").as_path())
    );
    assert_eq!(t.server_name.as_deref(), Some("localhost"));
    assert_eq!(s.limits.max_header_bytes as u64, DEFAULT_MAX_HEADER_BYTES);
    assert_eq!(s.limits.max_headers as u64, DEFAULT_MAX_HEADERS);
    assert!(s.client_bindings.is_empty());
}

/// The commented TLS and client-binding examples in `dualroad.example.toml` are valid
/// when uncommented (its listener example points at the test certificates).
#[test]
fn example_tls_and_binding_comments_are_valid() {
    let text = example_text();
    let keep = [
        "tls.cert =",
        "tls.key =",
        "tls.client_ca =",
        "tls.require_client_cert =",
        "[[client_bindings]]",
        "name =",
        "cert_subject =",
        "source =",
        "clients =",
    ];
    let mut out = String::new();
    for line in text.lines() {
        match line.strip_prefix("# ") {
            Some(l) if keep.iter().any(|k| l.starts_with(k)) => out.push_str(l),
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    assert!(out.contains("\ntls.cert = "), "{out}");
    // from_str keeps relative paths: they resolve against the crate root, where the
    // example lives.
    let s =
        Settings::from_str("example (uncommented)", &out).unwrap_or_else(|e| panic!("{e}\n{out}"));
    let agencies = &s.listeners[0];
    let tls = agencies.tls.as_ref().expect("tls");
    assert!(tls.require_client_cert);
    assert_eq!(s.client_bindings.len(), 2);
    assert_eq!(s.client_bindings[0].name, "moh-portal");
    assert_eq!(s.client_bindings[1].source[0].to_string(), "10.20.0.0/16");
}

#[test]
fn report_thresholds_are_checked_all_at_once() {
    let text = example_text().replace(
        "min_samples = 200 ",
        "min_samples = 0\nmin_match_rate = 1.5\nmax_p99_ratio = 0.5\n#",
    );
    let text = text
        .replace("min_match_rate = 0.99 ", "#")
        .replace("max_p99_ratio = 1.5 ", "#");
    let errs = Settings::from_str("r.toml", &text).expect_err("invalid thresholds");
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "report.min_samples",
            "report.min_match_rate",
            "report.max_p99_ratio"
        ],
        "{errs}"
    );
    assert!(
        errs.to_string()
            .contains("between 0.0 and 1.0 (0.99 = 99 %), got 1.5"),
        "{errs}"
    );
    let without = example_text();
    let without = without.split("\n[report]\n").next().unwrap_or_default();
    let s = Settings::from_str("d.toml", without).expect("valid without [report]");
    assert_eq!(s.report, crate::report::Thresholds::default());
}

#[test]
fn a_remote_admin_address_needs_allow_remote() {
    let text = example_text().replace(
        "listen = \"127.0.0.1:9090\"\nallow_remote = false",
        "listen = \"0.0.0.0:9090\"\nallow_remote = false",
    );
    let e = Settings::from_str("remote.toml", &text).expect_err("open admin API");
    let err = e
        .iter()
        .find(|e| e.field == "admin.listen")
        .unwrap_or_else(|| panic!("{e}"));
    assert_eq!(err.kind, Invalid);
    assert!(
        err.line.is_some() && err.message.contains("no authentication"),
        "{}",
        err.message
    );
    let s = Settings::from_str(
        "remote.toml",
        &text.replace("allow_remote = false", "allow_remote = true"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.admin.listen.to_string(), "0.0.0.0:9090");
    // IPv6 loopback is loopback.
    let s = Settings::from_str(
        "v6.toml",
        &text.replace("\"0.0.0.0:9090\"", "\"[::1]:9090\""),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.admin.listen.to_string(), "[::1]:9090");
}

#[test]
fn allowed_hosts_need_allow_remote_and_are_checked_all_at_once() {
    assert!(Settings::from_file(example())
        .unwrap_or_else(|e| panic!("{e}"))
        .admin
        .allowed_hosts
        .is_empty());
    let remote = example_text()
        .replace("allow_remote = false", "allow_remote = true")
        .replace(
            "allowed_hosts = []",
            "allowed_hosts = [\"Admin.GW.example\", \"ops.example:8443\", \"[::1]:9090\"]",
        );
    let s = Settings::from_str("hosts.toml", &remote).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        s.admin.allowed_hosts,
        ["admin.gw.example", "ops.example:8443", "[::1]:9090"]
    );
    // Without allow_remote the list would be a silent no-op: refused.
    let local = example_text().replace(
        "allowed_hosts = []",
        "allowed_hosts = [\"admin.gw.example\"]",
    );
    let e = Settings::from_str("local.toml", &local).expect_err("allow_remote = false");
    let err = e
        .iter()
        .find(|e| e.field == "admin.allowed_hosts")
        .unwrap_or_else(|| panic!("{e}"));
    assert!(
        err.line.is_some() && err.message.contains("allow_remote"),
        "{}",
        err.message
    );
    // Every bad entry is named, with its index.
    let bad = example_text().replace("allow_remote = false", "allow_remote = true").replace(
        "allowed_hosts = []",
        "allowed_hosts = [\"\", \"http://x.example\", \"a b\", \"*.example\", \"x.example:notaport\", \"ok.example\", \"OK.example\"]",
    );
    let e = Settings::from_str("bad.toml", &bad).expect_err("bad hosts");
    let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
    for i in [0, 1, 2, 3, 4, 6] {
        let f = format!("admin.allowed_hosts[{i}]");
        assert!(fields.contains(&f.as_str()), "{f} not in {fields:?}");
    }
    assert!(!fields.contains(&"admin.allowed_hosts[5]"), "{fields:?}");
}
