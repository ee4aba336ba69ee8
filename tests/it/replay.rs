//! `dualroad replay` and `dualroad diffs` end to end: the built binary against the
//! stack simulators on loopback, and a data directory filled by an in-process gateway
//! with `capture = true`. Results are read back from the store the command wrote.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dualroad::evidence::ExchangeRecord;
use dualroad::store::{SledStore, Store};
use dualroad_sim::{self as sim, SimConfig};

use crate::gateway::{config_text, env_with, post, start, temp_dir, with_id, V31EU};
use crate::stub::Behaviour;
use crate::support::repo;

const XML: &str = "text/xml; charset=utf-8";

async fn start_sim(cfg: SimConfig) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(sim::serve(l, cfg, std::future::pending::<()>()));
    addr
}

/// Runs the binary off the runtime, so the simulators keep serving meanwhile.
async fn dualroad(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_dualroad"))
            .current_dir(repo())
            .args(&args)
            .output()
            .expect("run dualroad")
    })
    .await
    .unwrap()
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    )
}

/// A fixture directory: three read requests, one write, and a response (skipped).
fn fixture_dir() -> PathBuf {
    let dir = temp_dir("replay-fixtures");
    let src = repo().join("fixtures/messages/v3.1-eu");
    for f in [
        "request-getPatientSummary.xml",
        "request-findPerson-iso-8859-1.xml",
        "request-getPaymentStatus.xml",
        "request-fileApplication-envelope-prefix-xrd.xml",
        "response-getPatientSummary.xml",
    ] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    dir
}

fn replay_records(data: &Path) -> Vec<ExchangeRecord> {
    let store = SledStore::open_existing(data).unwrap_or_else(|e| panic!("{e}"));
    let out = store
        .exchanges()
        .exchanges_between(0, u64::MAX)
        .map(|r| r.unwrap().1)
        .filter(|r| r.stage == "replay")
        .collect();
    drop(store);
    out
}

fn url(a: SocketAddr) -> String {
    format!("http://{a}/")
}

#[tokio::test]
async fn a_fixture_dir_against_identical_simulators_all_matches() {
    let legacy = start_sim(SimConfig::legacy()).await;
    let uxp = start_sim(SimConfig::uxp()).await;
    let from = fixture_dir();
    let data = temp_dir("replay-out");
    let (from_s, data_s) = (from.display().to_string(), data.display().to_string());
    let o = dualroad(&[
        "replay",
        "--from",
        &from_s,
        "--legacy",
        &url(legacy),
        "--uxp",
        &url(uxp),
        "--data",
        &data_s,
        "--rate",
        "500/s",
    ])
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let out = text(&o.stdout);
    assert!(out.contains("replayed 4 request(s)"), "{}", show(&o));
    assert!(out.contains("  match            3\n"), "{}", show(&o));
    assert!(out.contains("  write-service    1\n"), "{}", show(&o));
    assert!(
        out.contains("skipped, not a legacy request: 1\n")
            && out.contains("response-getPatientSummary.xml: a response"),
        "{}",
        show(&o)
    );
    let recs = replay_records(&data);
    assert_eq!(recs.len(), 4, "{recs:#?}");
    for r in &recs {
        assert_eq!(
            (r.served_by.as_str(), r.listener.as_str()),
            ("legacy", "replay"),
            "{r:#?}"
        );
        assert!(
            r.outcome == "match"
                || r.not_compared_reason.map(|r| r.as_str()) == Some("write-service")
        );
        assert_ne!(r.message_id, r.shadow_message_id, "sent under a fresh id");
    }
    let matched = recs.iter().find(|r| r.outcome == "match").unwrap();
    assert!(matched.shadow_latency_ms.is_some());
    assert_eq!(matched.request_hash.as_deref().map(str::len), Some(64));

    // --agency keeps one agency's requests only (by either of its names).
    let data2 = temp_dir("replay-out");
    let data2_s = data2.display().to_string();
    let o = dualroad(&[
        "replay",
        "--from",
        &from_s,
        "--legacy",
        &url(legacy),
        "--uxp",
        &url(uxp),
        "--data",
        &data2_s,
        "--agency",
        "PS-UXP/GOV/10000042/moh-portal",
        "--rate",
        "500",
    ])
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let recs = replay_records(&data2);
    assert!(!recs.is_empty());
    assert!(recs.iter().all(|r| r.agency == "10000042"), "{recs:#?}");
    assert!(
        text(&o.stdout).contains(&format!(
            "left out by --agency/--service: {}",
            4 - recs.len()
        )),
        "{}",
        show(&o)
    );
}

#[tokio::test]
async fn a_diverging_uxp_stack_gives_diffs_that_list_and_show() {
    let legacy = start_sim(SimConfig::legacy()).await;
    let uxp = start_sim(SimConfig {
        divergence_rate: 1.0,
        ..SimConfig::uxp()
    })
    .await;
    let from = fixture_dir();
    let data = temp_dir("replay-diff");
    let (from_s, data_s) = (from.display().to_string(), data.display().to_string());
    let o = dualroad(&[
        "replay",
        "--from",
        &from_s,
        "--legacy",
        &url(legacy),
        "--uxp",
        &url(uxp),
        "--data",
        &data_s,
        "--rate",
        "500",
        "--concurrency",
        "2",
    ])
    .await;
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let out = text(&o.stdout);
    assert!(out.contains("  body-diff        3\n"), "{}", show(&o));
    assert!(out.contains("top differing paths:\n"), "{}", show(&o));
    let recs = replay_records(&data);
    let diffs: Vec<_> = recs.iter().filter_map(|r| r.diff_id).collect();
    assert_eq!(diffs.len(), 3, "{recs:#?}");

    let o = dualroad(&["diffs", "list", "--data", &data_s]).await;
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let list = text(&o.stdout);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 4, "a header and three rows: {list}");
    assert!(lines[0].starts_with("ID") && lines[0].contains("FIRST PATH"));
    for id in &diffs {
        assert!(list.contains(&id.to_string()), "{id} in {list}");
    }
    let o = dualroad(&[
        "diffs",
        "list",
        "--data",
        &data_s,
        "--service",
        "pay.getPaymentStatus",
    ])
    .await;
    assert_eq!(text(&o.stdout).lines().count(), 2, "{}", show(&o));
    let o = dualroad(&[
        "diffs",
        "list",
        "--data",
        &data_s,
        "--outcome",
        "fault-mismatch",
    ])
    .await;
    assert_eq!(
        text(&o.stdout).lines().count(),
        1,
        "header only: {}",
        show(&o)
    );

    let id = diffs[0].to_string();
    let o = dualroad(&["diffs", "show", &id, "--data", &data_s]).await;
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let s = text(&o.stdout);
    assert!(
        !s.contains('\x1b'),
        "no colour when stdout is not a terminal: {s}"
    );
    assert!(s.starts_with(&format!("diff {id}\n")), "{s}");
    assert!(s.contains("stage          replay"), "{s}");
    assert!(
        s.contains("Body/") && s.contains("primary: ") && s.contains("shadow:  "),
        "{s}"
    );
    assert!(s.contains("--- primary\n+++ shadow\n"), "{s}");
    let o = dualroad(&["diffs", "show", &id, "--data", &data_s, "--color", "always"]).await;
    let s = text(&o.stdout);
    assert!(s.contains("\x1b[31m-") || s.contains("\x1b[32m+"), "{s}");
}

#[tokio::test]
async fn captures_of_a_gateway_run_replay_from_its_data_dir() {
    let mut env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    env.legacy.addr = start_sim(SimConfig::legacy()).await;
    env.uxp.addr = start_sim(SimConfig::uxp()).await;
    let rules =
        "[[rollout.rules]]\nagency = \"*\"\nservice = \"*\"\nstage = \"legacy\"\ncapture = true\n";
    let gw = start(&config_text(&env, "legacy", rules, "", 2000)).await;
    let consumer = gw.addr("agencies").unwrap();
    for i in 0..3 {
        let (status, body) = post(consumer, &with_id(V31EU, &format!("cap-{i}")), XML).await;
        assert_eq!(status, 200, "{body}");
    }
    let other = V31EU.replace("<xrd:consumer>10000042<", "<xrd:consumer>10000055<");
    let (status, _) = post(consumer, &other, XML).await;
    assert_eq!(status, 200);

    // While the gateway holds the data directory, replay cannot open it, and says why.
    let data_s = env.data.display().to_string();
    let (l, u) = (url(env.legacy.addr), url(env.uxp.addr));
    let args = [
        "replay", "--from", &data_s, "--legacy", &l, "--uxp", &u, "--rate", "500",
    ];
    let o = dualroad(&args).await;
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        text(&o.stderr).contains("sled lets only one process open a data directory"),
        "{}",
        show(&o)
    );

    gw.shutdown().await;
    // Results go to the same data directory by default.
    let mut o = dualroad(&args).await;
    // sled releases its lock from a background thread a little after the last
    // handle drops; one retry covers that (a hang guard, not a timing assertion).
    for _ in 0..20 {
        if o.status.code() != Some(2) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        o = dualroad(&args).await;
    }
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        text(&o.stdout).contains("replayed 4 request(s)"),
        "{}",
        show(&o)
    );
    let recs = replay_records(&env.data);
    assert_eq!(recs.len(), 4, "{recs:#?}");
    assert!(recs.iter().all(|r| r.outcome == "match"), "{recs:#?}");
    // Each record names the captured request's own id.
    let ids: Vec<_> = recs.iter().filter_map(|r| r.message_id.clone()).collect();
    assert!(ids.iter().any(|i| i == "cap-0"), "{ids:?}");

    // --agency on captures, results to another directory.
    let out = temp_dir("replay-cap-out");
    let out_s = out.display().to_string();
    let o = dualroad(&[
        "replay", "--from", &data_s, "--legacy", &l, "--uxp", &u, "--data", &out_s, "--agency",
        "10000055",
    ])
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let recs = replay_records(&out);
    assert_eq!(recs.len(), 1, "{recs:#?}");
    assert_eq!(recs[0].agency, "10000055");
}

#[tokio::test]
async fn operator_errors_exit_2_naming_the_flag_or_file() {
    let from = fixture_dir();
    let from_s = from.display().to_string();
    let data = temp_dir("replay-bad");
    let data_s = data.display().to_string();
    let ok = "http://127.0.0.1:9/";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "--from", &from_s, "--legacy", "ftp://x/", "--uxp", ok, "--data", &data_s,
            ],
            "--legacy",
        ),
        (
            vec![
                "--from", &from_s, "--legacy", ok, "--uxp", "http://", "--data", &data_s,
            ],
            "--uxp",
        ),
        (
            vec![
                "--from",
                "no/such/dir",
                "--legacy",
                ok,
                "--uxp",
                ok,
                "--data",
                &data_s,
            ],
            "no/such/dir",
        ),
        (
            vec![
                "--from", &data_s, "--legacy", ok, "--uxp", ok, "--data", &data_s,
            ],
            "no legacy request files",
        ),
        (
            vec!["--from", &from_s, "--legacy", ok, "--uxp", ok],
            "--data",
        ),
        (
            vec![
                "--from", &from_s, "--legacy", ok, "--uxp", ok, "--data", &data_s, "--rate", "0",
            ],
            "--rate",
        ),
        (
            vec![
                "--from", &from_s, "--legacy", ok, "--uxp", ok, "--data", &data_s, "--agency",
                "nobody",
            ],
            "matching --agency/--service",
        ),
    ];
    for (args, names) in cases {
        let mut all = vec!["replay"];
        all.extend(args.iter().copied());
        let o = dualroad(&all).await;
        assert_eq!(o.status.code(), Some(2), "{all:?}: {}", show(&o));
        assert!(
            text(&o.stderr).contains(names),
            "{all:?} names {names}: {}",
            show(&o)
        );
    }
    let o = dualroad(&["diffs", "show", "not-an-id", "--data", &data_s]).await;
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(text(&o.stderr).contains("MILLIS-SEQ"), "{}", show(&o));
    let o = dualroad(&["diffs", "list", "--data", "no/such/dir"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(text(&o.stderr).contains("no/such/dir"), "{}", show(&o));
    let o = dualroad(&["diffs", "list", "--data", &data_s, "--outcome", "match"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(text(&o.stderr).contains("body-diff"), "{}", show(&o));
}
