//! Migration reports over a store filled deterministically from the stack simulators:
//! snapshots of the Markdown, HTML and JSON forms, the HTML's well-formedness and sections,
//! `dualroad report`'s exit codes and messages, and the admin endpoints.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use dualroad::admin::client::call;
use dualroad::mapping::Mappings;
use dualroad::report::render::{html, json, markdown};
use dualroad::report::{self, Report, ReportOptions, Thresholds};
use dualroad::store::{SledStore, Store};
use dualroad_sim::sample::Sample;

use crate::gateway::{config_text, env_with, start};
use crate::stub::Behaviour;
use crate::support::repo;

/// 2026-03-01T00:00:00Z.
const START_MS: u64 = 1_772_323_200_000;
/// Exchanges in the snapshot store: two days, one every two minutes.
const EXCHANGES: u64 = 1_440;
const STEP_MS: u64 = 120_000;
/// "Now" for the report: fixed, so `generated_at` is too.
const NOW_MS: u64 = START_MS + 7 * 86_400_000;

fn maps() -> Mappings {
    dualroad::mapping::load_dir(&repo().join("mappings")).expect("mappings")
}

fn sample() -> Sample {
    Sample::new(maps(), 7, START_MS, STEP_MS, EXCHANGES).with_variants(60)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Writes the sample into a new store in `dir` and closes it.
fn fill(dir: &Path, mut sample: Sample) {
    let store = SledStore::open(dir).expect("store");
    let stats = runtime()
        .block_on(report::sample::fill(&store, &mut sample))
        .expect("fill");
    assert_eq!(stats.written.exchanges, sample.len(), "{stats:?}");
    assert_eq!(stats.dropped.total(), 0);
}

/// Diff ids carry sled's sequence numbers: stable in practice, but not promised
/// by sled, so they are not part of the snapshot.
fn redact(mut r: Report) -> Report {
    for a in &mut r.agencies {
        for s in &mut a.services {
            for p in s.diff_paths.iter_mut().chain(s.noise_paths.iter_mut()) {
                p.example.diff_id = "[diff-id]".into();
            }
        }
    }
    r
}

/// The report over the sample store, built once for the tests that read it.
fn sample_report() -> &'static Report {
    static REPORT: OnceLock<Report> = OnceLock::new();
    REPORT.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let sample = sample();
        let rules = sample.ignore_rules().to_vec();
        fill(dir.path(), sample);
        let store = SledStore::open_existing(dir.path()).expect("reopen");
        let maps = maps();
        let opts = ReportOptions {
            agency: None,
            since_ms: None,
            until_ms: None,
            thresholds: Thresholds::default(),
            ignore_rules: &rules,
            mappings: Some(&maps),
            now_ms: NOW_MS,
        };
        redact(report::build(&store, &opts).expect("report"))
    })
}

#[test]
fn markdown_report_snapshot() {
    insta::assert_snapshot!("report_markdown", markdown(sample_report()));
}

/// The HTML byte for byte: its renderer and the Markdown one share a view model, and
/// this keeps a change there from reaching the HTML unseen.
#[test]
fn html_report_snapshot() {
    insta::assert_snapshot!("report_html", html(sample_report()));
}

#[test]
fn json_report_snapshot() {
    let r = sample_report();
    let text = json(r);
    let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(v["report_version"], report::REPORT_VERSION);
    insta::assert_snapshot!("report_json", text);
}

#[test]
fn sample_report_says_what_the_scenarios_are() {
    let r = sample_report();
    let verdict = |agency: &str, service: &str| {
        r.agencies
            .iter()
            .find(|a| a.agency == agency)
            .and_then(|a| a.services.iter().find(|s| s.service == service))
            .map(|s| s.verdict.status)
            .unwrap_or_else(|| panic!("{agency} {service} missing"))
    };
    use dualroad::report::VerdictStatus::*;
    // The bank's UXP stack differs, faults and is slow while serving a canary.
    assert_eq!(
        verdict("10000077", "bizreg.getCompany.v1"),
        RollbackRecommended
    );
    // The municipality's answers differ in shadow: hold, not rollback.
    assert_eq!(verdict("10000055", "pop.RR19IsikuElukoht.v1"), Hold);
    // A write service is never mirrored, so never compared.
    assert_eq!(verdict("10000055", "bizreg.fileApplication.v1"), Hold);
    assert_eq!(verdict("10000042", "pay.getPaymentStatus"), Ready);
    assert_eq!(r.evidence.exchanges_read, EXCHANGES);
    assert!(r.history.verification.ok);
    assert_eq!(r.history.entries.len(), 5);
    assert!(r.ignore_rules.iter().any(|x| x.stale));
    assert!(r.ignore_rules.iter().any(|x| !x.stale));
    assert_eq!(
        r.coverage
            .never_seen
            .iter()
            .map(|m| m.legacy.as_str())
            .collect::<Vec<_>>(),
        ["pop.findPerson.v1"]
    );
}

/// Calibration errors are kept in the service's stored noise model (`shadow::noise`);
/// the report shows them per service and warns when any are in scope.
#[test]
fn calibration_errors_from_the_stored_noise_model_are_in_the_json_report() {
    let dir = tempfile::tempdir().expect("temp dir");
    fill(
        dir.path(),
        Sample::new(maps(), 3, START_MS, 60_000, 60).with_variants(5),
    );
    let store = SledStore::open_existing(dir.path()).expect("reopen");
    let mut model = dualroad::shadow::NoiseModel::new();
    model.learn_paths(["Body/getCompanyResponse/response/lastUpdated"]);
    for _ in 0..3 {
        model.record_error();
    }
    store
        .exchanges()
        .save_noise_model("bizreg.getCompany.v1", &model)
        .expect("save");
    let report_for = |agency: Option<&str>| {
        let opts = ReportOptions {
            agency: agency.map(str::to_string),
            now_ms: NOW_MS,
            ..ReportOptions::default()
        };
        let r = report::build(&store, &opts).expect("report");
        let v: serde_json::Value = serde_json::from_str(&json(&r)).expect("JSON");
        v
    };
    let v = report_for(None);
    let service = |agency: &str, service: &str| {
        v["agencies"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["agency"] == agency))
            .and_then(|a| a["services"].as_array())
            .and_then(|s| s.iter().find(|s| s["service"] == service))
            .cloned()
            .unwrap_or_else(|| panic!("{agency} {service} missing: {v:#}"))
    };
    assert_eq!(
        service("10000077", "bizreg.getCompany.v1")["calibration"],
        serde_json::json!({
            "pairs": 1,
            "errors": 3,
            "noise_paths": 1,
            "top_noise_paths": [
                {"path": "Body/getCompanyResponse/response/lastUpdated", "pairs": 1}
            ]
        })
    );
    assert_eq!(
        service("10000042", "pay.getPaymentStatus")["calibration"]["errors"],
        0
    );
    let warned = |v: &serde_json::Value| {
        v["evidence"]["warnings"]
            .as_array()
            .expect("warnings")
            .iter()
            .any(|w| {
                w.as_str()
                    .is_some_and(|w| w.starts_with("3 calibration pair(s)"))
            })
    };
    assert!(warned(&v), "{:#}", v["evidence"]);
    // An agency that does not call the service: its report does not warn.
    assert!(!warned(&report_for(Some("10000042"))));
}

#[test]
fn html_report_is_well_formed_and_self_contained() {
    use quick_xml::events::Event;
    let text = html(sample_report());
    let mut reader = quick_xml::Reader::from_str(&text);
    let mut stack: Vec<String> = Vec::new();
    let mut ids = Vec::new();
    let mut svgs = Vec::new();
    let mut in_svg_title = false;
    let mut elements = 0;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                for a in e.attributes() {
                    let a = a.expect("attribute");
                    if a.key.as_ref() == b"id" {
                        ids.push(String::from_utf8_lossy(&a.value).into_owned());
                    }
                }
                in_svg_title = name == "title" && stack.last().is_some_and(|p| p == "svg");
                stack.push(name);
                elements += 1;
            }
            Ok(Event::End(e)) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                assert_eq!(stack.pop().as_deref(), Some(name.as_str()));
                in_svg_title = false;
            }
            Ok(Event::Empty(_)) => elements += 1,
            Ok(Event::Text(t)) if in_svg_title => {
                svgs.push(t.unescape().expect("text").into_owned());
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("not well-formed at byte {}: {e}", reader.buffer_position()),
        }
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    assert!(elements > 500, "{elements}");
    for id in [
        "summary",
        "evidence",
        "agency-0",
        "ignore-rules",
        "coverage",
        "history",
    ] {
        assert!(ids.iter().any(|i| i == id), "no section #{id}: {ids:?}");
    }
    for chart in [
        "Requests by stage over time",
        "Match rate over time per service",
        "Latency, legacy vs UXP",
    ] {
        assert!(
            svgs.iter().any(|s| s == chart),
            "no chart {chart}: {svgs:?}"
        );
    }
    // Self-contained: no script, nothing to fetch (namespace names are not fetched).
    let lower = text.to_lowercase();
    assert!(!lower.contains("<script"));
    let without_ns = lower
        .replace("http://www.w3.org/1999/xhtml", "")
        .replace("http://www.w3.org/2000/svg", "");
    for needle in ["http://", "https://", "src=", "<link", "@import", "url("] {
        assert!(!without_ns.contains(needle), "found {needle}");
    }
}

// === the command line ===

fn dualroad(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dualroad"))
        .current_dir(repo())
        .args(args)
        .output()
        .expect("run dualroad")
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn cli_bad_input_gets_a_clear_error_and_exit_2() {
    let o = dualroad(&[
        "report",
        "--data",
        "var/none",
        "--since",
        "yesterday",
        "--format",
        "md",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("`yesterday` is not a date: write YYYY-MM-DD"),
        "{}",
        stderr(&o)
    );
    let o = dualroad(&["report", "--data", "var/none", "--format", "pdf"]);
    assert_eq!(o.status.code(), Some(2));
    let o = dualroad(&["report", "--format", "md"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--data"), "{}", stderr(&o));
    let scratch = tempfile::tempdir().expect("temp dir");
    let missing = scratch.path().join("nothing-here");
    let o = dualroad(&[
        "report",
        "--data",
        &missing.display().to_string(),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
    let o = dualroad(&[
        "report",
        "--data",
        "var/none",
        "--since",
        "2026-03-02",
        "--until",
        "2026-03-01",
        "--format",
        "md",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("the period is empty"), "{}", stderr(&o));
}

#[test]
fn cli_writes_reports_and_points_to_the_admin_api_when_the_store_is_in_use() {
    let dir = tempfile::tempdir().expect("temp dir");
    fill(
        dir.path(),
        Sample::new(maps(), 3, START_MS, 60_000, 210).with_variants(5),
    );
    let data = dir.path().display().to_string();
    let out = dir.path().join("..").join(format!(
        "{}-report.json",
        dir.path()
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("r")
    ));
    let o = dualroad(&[
        "report",
        "--data",
        &data,
        "--format",
        "json",
        "--out",
        &out.display().to_string(),
        "--since",
        "2026-03-01",
        "--until",
        "2026-03-01T02:00Z",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).expect("written");
    let _ = std::fs::remove_file(&out);
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(v["report_version"], 1);
    // Two hours of a minute each: 120 of the 210.
    assert_eq!(v["evidence"]["exchanges_read"], 120);
    assert_eq!(v["scope"]["since"], "2026-03-01T00:00:00Z");
    let o = dualroad(&[
        "report", "--data", &data, "--format", "md", "--agency", "10000077",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(md.starts_with("# Migration report: 10000077"), "{md}");
    assert!(!md.contains("Agency `10000042`"), "{md}");

    // While another process (here: this test) holds the store, say where to go.
    let _held = SledStore::open_existing(dir.path()).expect("open");
    let o = dualroad(&["report", "--data", &data, "--format", "html"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("in use by a running gateway"), "{e}");
    assert!(e.contains("/admin/report"), "{e}");
}

// === the admin endpoints ===

#[tokio::test]
async fn admin_serves_the_report_from_the_open_store() {
    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    // The sample lies months before the gateway's clock: without `retention_days = 0`
    // the gateway's own retention sweep races the report and may delete it first.
    let text = config_text(&env, "legacy", "", "", 2000) + "\n[store]\nretention_days = 0\n";
    let gw = start(&text).await;
    let mut sample = Sample::new(maps(), 5, START_MS, 60_000, 100).with_variants(5);
    report::sample::fill(&*gw.shared.store, &mut sample)
        .await
        .expect("fill");
    let get = |path: &'static str| call(gw.admin, http::Method::GET, path, None, "test");
    let (status, body) = get("/admin/report.json?agency=10000042&since=2026-03-01")
        .await
        .expect("call");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["scope"]["agency"], "10000042");
    assert_eq!(v["agencies"][0]["agency"], "10000042");
    // Coverage comes from the gateway's own mappings.
    assert_eq!(v["coverage"]["mapped_services"], 6);
    let (status, body) = get("/admin/report").await.expect("call");
    assert_eq!(status, 200);
    assert!(
        body.starts_with("<!DOCTYPE html>"),
        "{}",
        &body[..body.len().min(200)]
    );
    let (status, body) = get("/admin/report.json?since=tomorrow")
        .await
        .expect("call");
    assert_eq!(status, 400);
    assert!(body.contains("since: `tomorrow` is not a date"), "{body}");
    let (status, _) = get("/admin/report.json?since=2026-03-02&until=2026-03-01")
        .await
        .expect("call");
    assert_eq!(status, 400);
    gw.shutdown().await;
}
