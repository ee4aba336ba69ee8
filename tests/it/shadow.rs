//! Shadow mode end to end: the gateway in front of the stack simulators (or hostile
//! stubs), mirroring, comparing and storing. No timing assertions: where "the primary
//! does not wait" is checked, it is checked by order of events (the client has its
//! answer while the shadow call is still open), not by a duration.

use std::net::SocketAddr;

use dualroad::evidence::{DiffRecord, ExchangeRecord};
use dualroad::gateway::Gateway;
use dualroad::store::{SledStore, Store};
use dualroad_sim::{self as sim, SimConfig};

use crate::gateway::{config_text, env_with, post, start, with_id, V31EU};
use crate::stub::Behaviour;
use crate::support::eventually;

const XML: &str = "text/xml; charset=utf-8";
const WRITE: &str =
    include_str!("../../fixtures/messages/v3.1-eu/request-fileApplication-envelope-prefix-xrd.xml");

async fn start_sim(cfg: SimConfig) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(sim::serve(l, cfg, std::future::pending::<()>()));
    addr
}

fn consumer(gw: &Gateway) -> SocketAddr {
    gw.addr("agencies").unwrap()
}

/// Waits (hang guard only) until the store holds `n` exchange records, and returns
/// them oldest first.
async fn records(gw: &Gateway, n: usize) -> Vec<ExchangeRecord> {
    let store = gw.shared.store.exchanges();
    let all = || -> Vec<ExchangeRecord> {
        store
            .exchanges_between(0, u64::MAX)
            .map(|r| r.unwrap().1)
            .collect()
    };
    if eventually(|| all().len() >= n).await {
        return all();
    }
    let last = all();
    panic!(
        "expected {n} exchange records, store has {}: {last:#?}",
        last.len()
    );
}

fn diffs(gw: &Gateway) -> Vec<DiffRecord> {
    gw.shared
        .store
        .exchanges()
        .list_diffs(None, None, None, 1000)
        .unwrap()
}

const SHADOW_ALL: &str = "[[rollout.rules]]\nagency = \"*\"\nservice = \"*\"\nstage = \"shadow\"\n";

#[tokio::test]
async fn identical_stacks_match_and_divergence_is_found_with_paths() {
    let mut env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    env.legacy.addr = start_sim(SimConfig::legacy()).await;
    env.uxp.addr = start_sim(SimConfig::uxp()).await;
    let gw = start(&config_text(&env, "legacy", SHADOW_ALL, "", 2000)).await;
    for i in 0..5 {
        let (status, body) = post(consumer(&gw), &with_id(V31EU, &format!("same-{i}")), XML).await;
        assert_eq!(status, 200, "{body}");
    }
    let recs = records(&gw, 5).await;
    for r in &recs {
        assert_eq!(
            (r.stage.as_str(), r.served_by.as_str(), r.outcome.as_str()),
            ("shadow", "legacy", "match"),
            "{r:#?}"
        );
        assert!(r.shadow_latency_ms.is_some() && r.primary_latency_ms >= 0.0);
        let shadow_id = r.shadow_message_id.as_deref().unwrap();
        assert_ne!(
            Some(shadow_id),
            r.message_id.as_deref(),
            "the copy has its own id"
        );
        assert_eq!(r.request_hash.as_deref().map(str::len), Some(64));
    }
    let m = &gw.shared.metrics;
    assert_eq!(
        m.counter_sum("dualroad_shadow_request_mismatch_total", &[]),
        0.0,
        "the copy is the same logical request"
    );
    gw.shutdown().await;

    // Now the UXP side diverges on every answer.
    let mut env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    env.legacy.addr = start_sim(SimConfig::legacy()).await;
    env.uxp.addr = start_sim(SimConfig {
        divergence_rate: 1.0,
        ..SimConfig::uxp()
    })
    .await;
    let gw = start(&config_text(&env, "legacy", SHADOW_ALL, "", 2000)).await;
    let (status, served) = post(consumer(&gw), V31EU, XML).await;
    assert_eq!(status, 200);
    let (_, direct) = post(env.legacy.addr, V31EU, XML).await;
    assert_eq!(
        served, direct,
        "the client gets the legacy answer untouched"
    );
    let recs = records(&gw, 1).await;
    assert_eq!(recs[0].outcome, "body-diff", "{:#?}", recs[0]);
    let id = recs[0].diff_id.expect("diff id");
    let d = gw.shared.store.exchanges().diff(id).unwrap().expect("diff");
    assert!(!d.paths.is_empty(), "{d:#?}");
    assert!(
        d.paths.iter().all(|p| p.path.starts_with("Body/")),
        "{d:#?}"
    );
    assert!(d.unified.contains("--- primary") && d.unified.contains("+++ shadow"));
    assert_eq!(diffs(&gw).len(), 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn write_services_are_not_mirrored_unless_to_a_sandbox() {
    let mut env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    env.legacy.addr = start_sim(SimConfig::legacy()).await;
    let uxp = crate::stub::spawn(Behaviour::Echo).await;
    env.uxp = uxp.clone();
    let gw = start(&config_text(&env, "legacy", SHADOW_ALL, "", 2000)).await;
    let (status, body) = post(consumer(&gw), WRITE, XML).await;
    assert_eq!(status, 200, "{body}");
    let recs = records(&gw, 1).await;
    assert_eq!(
        (
            recs[0].outcome.as_str(),
            recs[0].not_compared_reason.map(|r| r.as_str())
        ),
        ("not-compared", Some("write-service"))
    );
    assert_eq!(uxp.hits(), 0, "a write is never sent to the other stack");
    gw.shutdown().await;

    // With a sandbox, the write goes there and only there.
    let mut env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    env.legacy.addr = start_sim(SimConfig::legacy()).await;
    let uxp = env.uxp.clone();
    let sandbox = start_sim(SimConfig::uxp()).await;
    let rules = format!(
        "{SHADOW_ALL}shadow_writes = \"sandbox\"\nsandbox = \"uxp-sandbox\"\n\
         [upstreams.uxp-sandbox]\nurl = \"http://{sandbox}/\"\ndialect = \"uxp\"\n"
    );
    let text = config_text(&env, "legacy", &rules, "", 2000);
    // `[upstreams.uxp-sandbox]` after `[rollout]` is fine in TOML.
    let gw = start(&text).await;
    let (status, _) = post(consumer(&gw), WRITE, XML).await;
    assert_eq!(status, 200);
    let recs = records(&gw, 1).await;
    assert_eq!(recs[0].outcome, "match", "{:#?}", recs[0]);
    assert_eq!(uxp.hits(), 0, "the UXP stack itself never sees the write");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_hanging_or_down_shadow_does_not_hold_the_client_and_is_counted() {
    // Hanging: the client has its answer while the shadow call is still open.
    let mut env = env_with(Behaviour::Echo, Behaviour::Stall).await;
    env.legacy.addr = start_sim(SimConfig::legacy()).await;
    let rules = format!("{SHADOW_ALL}[shadow]\ntimeout_ms = 400\n");
    let gw = start(&config_text(&env, "legacy", &rules, "", 2000)).await;
    let (status, _) = post(consumer(&gw), V31EU, XML).await;
    assert_eq!(status, 200);
    let m = &gw.shared.metrics;
    assert_eq!(
        m.counter_sum("dualroad_mirror_total", &[]),
        0.0,
        "answered before the shadow call ended"
    );
    let recs = records(&gw, 1).await;
    assert_eq!(
        (
            recs[0].outcome.as_str(),
            recs[0].not_compared_reason.map(|r| r.as_str())
        ),
        ("not-compared", Some("timeout"))
    );
    assert_eq!(
        m.counter_sum("dualroad_mirror_total", &[("outcome", "timeout")]),
        1.0
    );
    gw.shutdown().await;

    // Down: nothing listens on the UXP address.
    let mut env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    env.legacy.addr = start_sim(SimConfig::legacy()).await;
    env.uxp.addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let gw = start(&config_text(&env, "legacy", SHADOW_ALL, "", 2000)).await;
    let (status, _) = post(consumer(&gw), V31EU, XML).await;
    assert_eq!(status, 200);
    let recs = records(&gw, 1).await;
    assert_eq!(
        recs[0].not_compared_reason.map(|r| r.as_str()),
        Some("upstream-error")
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn overload_and_sampling_are_counted_never_silent() {
    let mut env = env_with(Behaviour::Echo, Behaviour::Stall).await;
    env.legacy.addr = start_sim(SimConfig::legacy()).await;
    let rules = format!("{SHADOW_ALL}[shadow]\ntimeout_ms = 300\nconcurrency = 1\n");
    let gw = start(&config_text(&env, "legacy", &rules, "", 2000)).await;
    for i in 0..3 {
        let (status, _) = post(consumer(&gw), &with_id(V31EU, &format!("ov-{i}")), XML).await;
        assert_eq!(status, 200);
    }
    let recs = records(&gw, 3).await;
    let reasons: Vec<_> = recs
        .iter()
        .map(|r| r.not_compared_reason.map_or("", |r| r.as_str()))
        .collect();
    assert_eq!(
        reasons.iter().filter(|r| **r == "overload").count(),
        2,
        "one slot: the copy in flight holds it, the other two are dropped: {reasons:?}"
    );
    assert_eq!(reasons.iter().filter(|r| **r == "timeout").count(), 1);
    gw.shutdown().await;

    let mut env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    env.legacy.addr = start_sim(SimConfig::legacy()).await;
    let uxp = env.uxp.clone();
    let rules = format!("{SHADOW_ALL}sample = 0.0\n");
    let gw = start(&config_text(&env, "legacy", &rules, "", 2000)).await;
    let (status, _) = post(consumer(&gw), V31EU, XML).await;
    assert_eq!(status, 200);
    let recs = records(&gw, 1).await;
    assert_eq!(
        recs[0].not_compared_reason.map(|r| r.as_str()),
        Some("sampled-out")
    );
    assert_eq!(uxp.hits(), 0);
    let m = &gw.shared.metrics;
    assert_eq!(
        m.counter_sum("dualroad_exchanges_total", &[("outcome", "queued")]),
        1.0
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn uxp_shadow_compares_the_legacy_answer_and_every_stage_is_recorded() {
    let mut env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    env.legacy.addr = start_sim(SimConfig::legacy()).await;
    env.uxp.addr = start_sim(SimConfig::uxp()).await;
    let rules = "[[rollout.rules]]\nagency = \"10000042\"\nservice = \"*\"\nstage = \"uxp-shadow\"\nstore_bodies = true\ncapture = true\n";
    let gw = start(&config_text(&env, "legacy", rules, "", 2000)).await;
    let (status, body) = post(consumer(&gw), V31EU, XML).await;
    assert_eq!(status, 200, "{body}");
    // Unrouted agency: fallback legacy, recorded as served.
    let other = V31EU.replace("<xrd:consumer>10000042<", "<xrd:consumer>10000055<");
    let (status, _) = post(consumer(&gw), &other, XML).await;
    assert_eq!(status, 200);
    // Rejected: unmapped consumer.
    let bad = V31EU.replace("<xrd:consumer>10000042<", "<xrd:consumer>99999999<");
    let (status, _) = post(consumer(&gw), &bad, XML).await;
    assert_eq!(
        status, 200,
        "legacy still serves an agency UXP does not know"
    );
    let recs = records(&gw, 3).await;
    let by_stage = |s: &str| recs.iter().find(|r| r.stage == s).unwrap();
    let r = by_stage("uxp-shadow");
    assert_eq!(
        (r.served_by.as_str(), r.outcome.as_str()),
        ("uxp", "match"),
        "{r:#?}"
    );
    let bodies = r.bodies.as_ref().expect("store_bodies keeps them");
    assert!(bodies.request.is_some() && bodies.primary.is_some() && bodies.shadow.is_some());
    // userId is redacted by default before anything is written.
    let req = String::from_utf8_lossy(&bodies.request.as_ref().unwrap().bytes).into_owned();
    assert!(
        req.contains("hmac:") && !req.contains("PS400123456"),
        "{req}"
    );
    assert_eq!(by_stage("legacy").outcome, "served");
    let unmapped = recs.iter().find(|r| !r.unmapped.is_empty()).unwrap();
    assert!(
        unmapped.unmapped.iter().any(|u| u.contains("99999999")),
        "{unmapped:#?}"
    );
    let captures: Vec<_> = gw
        .shared
        .store
        .exchanges()
        .captures(&Default::default())
        .map(|c| c.unwrap().1)
        .collect();
    assert_eq!(
        captures.len(),
        1,
        "capture = true on the uxp-shadow rule only"
    );
    gw.shutdown().await;
}

/// `auto_rollback` on a `uxp-shadow` rule: injected divergence trips the gate, which
/// rolls the rule back itself (actor `auto-gate`, the numbers in the audit log);
/// identical stacks above the threshold never do.
#[tokio::test]
async fn the_auto_gate_rolls_back_under_divergence_and_not_above_the_threshold() {
    let rules =
        "[[rollout.rules]]\nagency = \"10000042\"\nservice = \"*\"\nstage = \"uxp-shadow\"\n\
                 auto_rollback = { min_samples = 5, min_match_rate = 0.8, window = \"10m\" }\n";
    for diverge in [false, true] {
        let mut env = env_with(Behaviour::Echo, Behaviour::Echo).await;
        env.legacy.addr = start_sim(SimConfig::legacy()).await;
        env.uxp.addr = start_sim(SimConfig {
            divergence_rate: if diverge { 1.0 } else { 0.0 },
            ..SimConfig::uxp()
        })
        .await;
        let gw = start(&config_text(&env, "legacy", rules, "", 2000)).await;
        for i in 0..8 {
            let (status, _) = post(consumer(&gw), &with_id(V31EU, &format!("gate-{i}")), XML).await;
            assert_eq!(status, 200);
        }
        let recs = records(&gw, 8).await;
        let compared = recs
            .iter()
            .filter(|r| r.outcome == "match" || r.outcome == "body-diff")
            .count();
        assert!(compared >= 5, "{recs:#?}");
        // The gate acts on the mirror task's records; give the rollback time to land.
        if diverge {
            eventually(|| !gw.shared.switch().entries.is_empty()).await;
        }
        let switch = gw.shared.switch();
        if diverge {
            let e = switch.entries.first().expect("the gate rolled back");
            assert_eq!(
                (e.agency.as_deref(), e.service.as_deref(), e.actor.as_str()),
                // The rule's canonical form: `10000042` resolved through the mappings.
                (Some("PS-UXP/GOV/10000042/moh-portal"), None, "auto-gate")
            );
            assert!(
                e.reason.contains("0 of 5") || e.reason.contains("of 5"),
                "{}",
                e.reason
            );
            let audit = gw.shared.store.audit_entries().unwrap();
            let last = audit.last().unwrap();
            assert_eq!(last.actor, "auto-gate");
            assert!(
                last.reason.contains("min_match_rate 80.0 %"),
                "{}",
                last.reason
            );
            assert!(gw.shared.store.verify_audit().unwrap().ok, "chain intact");
            // Traffic is back on legacy from the next request.
            let (status, _) = post(consumer(&gw), &with_id(V31EU, "after"), XML).await;
            assert_eq!(status, 200);
            let recs = records(&gw, 9).await;
            assert!(recs
                .iter()
                .any(|r| r.stage == "rollback" && r.served_by == "legacy"));
        } else {
            assert!(switch.entries.is_empty(), "{switch:?}");
        }
        gw.shutdown().await;
    }
}

/// Calibration: with `calibrate = 1.0` every read request also goes a second time to
/// the primary; a field that differs between two primary answers (a per-call stamp)
/// is learned as noise for the service, kept across restarts, and reported apart
/// instead of counting against UXP. Without calibration the same field is a diff.
#[tokio::test]
async fn calibration_learns_noise_from_two_primary_answers() {
    let stamp = "Body/getPatientSummary/request/stamp";
    let n = 6;
    for calibrate in [0.0, 1.0] {
        let env = env_with(Behaviour::EchoStamped, Behaviour::Echo).await;
        let legacy = env.legacy.clone();
        let rules = format!("{SHADOW_ALL}calibrate = {calibrate:.1}\n");
        let gw = start(&config_text(&env, "legacy", &rules, "", 2000)).await;
        for i in 0..n {
            let (status, _) = post(consumer(&gw), &with_id(V31EU, &format!("cal-{i}")), XML).await;
            assert_eq!(status, 200);
        }
        let recs = records(&gw, n).await;
        let outcomes: Vec<_> = recs.iter().map(|r| r.outcome.as_str()).collect();
        if calibrate == 0.0 {
            assert!(outcomes.iter().all(|o| *o == "body-diff"), "{outcomes:?}");
            let id = recs[0].diff_id.unwrap();
            let d = gw.shared.store.exchanges().diff(id).unwrap().unwrap();
            assert!(
                d.paths.iter().any(|p| p.path == stamp && !p.noise),
                "{d:#?}"
            );
            assert_eq!(legacy.hits(), n, "no second call without calibration");
            gw.shutdown().await;
            continue;
        }
        assert!(outcomes.iter().all(|o| *o == "match"), "{outcomes:?}");
        assert_eq!(
            legacy.hits_reach(2 * n).await,
            2 * n,
            "each request went twice to the primary"
        );
        let data = env.data.clone();
        gw.shutdown().await;
        let store = SledStore::open(&data).unwrap();
        let models = store.exchanges().noise_models().unwrap();
        let model = models.values().next().expect("a noise model was saved");
        assert_eq!(model.pairs(), n as u64, "{model:?}");
        assert_eq!(model.count(stamp), n as u64, "{model:?}");
    }
}

/// The primary stack refuses every calibration copy with a fault, and UXP diverges on
/// every answer. A fault beside a real answer is not noise: the pair is counted as a
/// calibration error, nothing is learned, and every exchange is a `body-diff`.
#[tokio::test]
async fn a_fault_answer_to_calibration_is_never_learned_as_noise() {
    let n = 4;
    let env = env_with(Behaviour::EchoThenFault, Behaviour::EchoStamped).await;
    let legacy = env.legacy.clone();
    let rules = format!("{SHADOW_ALL}calibrate = 1.0\n");
    let gw = start(&config_text(&env, "legacy", &rules, "", 2000)).await;
    for i in 0..n {
        let (status, body) =
            post(consumer(&gw), &with_id(V31EU, &format!("poison-{i}")), XML).await;
        assert_eq!(status, 200, "{body}");
        // One exchange at a time: its record is written after its calibration call.
        records(&gw, i + 1).await;
    }
    assert_eq!(
        legacy.hits(),
        2 * n,
        "each request went twice to the primary"
    );
    let recs = records(&gw, n).await;
    let outcomes: Vec<_> = recs.iter().map(|r| r.outcome.as_str()).collect();
    assert!(outcomes.iter().all(|o| *o == "body-diff"), "{outcomes:?}");
    let data = env.data.clone();
    gw.shutdown().await;
    let store = SledStore::open(&data).unwrap();
    let models = store.exchanges().noise_models().unwrap();
    let model = models.values().next().expect("a noise model was saved");
    assert_eq!((model.pairs(), model.errors()), (0, n as u64), "{model:?}");
    assert_eq!(model.paths().count(), 0, "{model:?}");
    // The report shows the errors the gateway counted, and does not call it ready.
    let opts = dualroad::report::ReportOptions {
        now_ms: u64::MAX / 2,
        ..Default::default()
    };
    let r = dualroad::report::build(&store, &opts).unwrap();
    let s = &r.agencies[0].services[0];
    assert_eq!(
        (s.calibration.pairs, s.calibration.errors),
        (0, n as u64),
        "{s:#?}"
    );
    assert_ne!(
        s.verdict.status,
        dualroad::report::VerdictStatus::Ready,
        "{s:#?}"
    );
    assert!(
        r.evidence
            .warnings
            .iter()
            .any(|w| w.starts_with(&format!("{n} calibration pair(s) were not learned from"))),
        "{:?}",
        r.evidence.warnings
    );
    let md = dualroad::report::render::markdown(&r);
    assert!(md.contains(&format!("; {n} calibration error(s)")), "{md}");
}

/// A noise model poisoned before faults were refused (every path of the answer learned
/// as noise, with calibration errors beside) hides a UXP stack that differs on every
/// answer: each exchange matches only through the noise. The report must make that
/// stand out — `matched_by_noise`, the calibration errors, a `hold` with reason
/// `noise-on-every-answer` — and not call the service ready.
#[tokio::test]
async fn noise_hiding_every_answer_stands_out_in_the_report() {
    let n = 4;
    let env = env_with(Behaviour::Echo, Behaviour::EchoStamped).await;
    // A noise model is stored under the exchange record's `service`: the service as the
    // client named it (a 3.1 client: the legacy name). What an old gateway left in the
    // data dir after learning fault-vs-answer pairs:
    let key = "moh.getPatientSummary.v2";
    {
        let store = SledStore::open(&env.data).unwrap();
        let mut poisoned = dualroad::shadow::NoiseModel::new();
        poisoned.learn_paths(["Body/Fault", "Body/getPatientSummary"]);
        poisoned.record_error();
        store.exchanges().save_noise_model(key, &poisoned).unwrap();
    }
    let gw = start(&config_text(&env, "legacy", SHADOW_ALL, "", 2000)).await;
    for i in 0..n {
        let (status, body) =
            post(consumer(&gw), &with_id(V31EU, &format!("masked-{i}")), XML).await;
        assert_eq!(status, 200, "{body}");
    }
    let recs = records(&gw, n).await;
    let data = env.data.clone();
    gw.shutdown().await;
    for r in &recs {
        assert_eq!(r.service, key, "the key the model is found under");
        assert_eq!(
            r.outcome, "match",
            "the poisoned model hides the diff: {r:#?}"
        );
        assert!(r.noise_diffs > 0, "{r:#?}");
    }
    let store = SledStore::open(&data).unwrap();
    let opts = dualroad::report::ReportOptions {
        now_ms: u64::MAX / 2,
        thresholds: dualroad::report::Thresholds {
            min_samples: 1,
            ..Default::default()
        },
        ..Default::default()
    };
    let r = dualroad::report::build(&store, &opts).unwrap();
    let s = &r.agencies[0].services[0];
    assert_eq!(s.service, key);
    assert_eq!(
        (s.matched, s.matched_by_noise),
        (n as u64, n as u64),
        "{s:#?}"
    );
    assert_eq!(
        (s.calibration.pairs, s.calibration.errors),
        (1, 1),
        "{s:#?}"
    );
    assert_eq!(
        s.verdict.status,
        dualroad::report::VerdictStatus::Hold,
        "{s:#?}"
    );
    assert_eq!(
        s.verdict.reasons.iter().map(|r| r.kind).collect::<Vec<_>>(),
        [dualroad::report::ReasonKind::NoiseOnEveryAnswer],
        "{s:#?}"
    );
    assert!(
        s.verdict.reasons[0]
            .message
            .contains("(Body/Fault, Body/getPatientSummary)"),
        "{s:#?}"
    );
    let md = dualroad::report::render::markdown(&r);
    assert!(
        md.contains(&format!(
            "- Matched only through paths learned as noise: {n} of {n}"
        )),
        "{md}"
    );
    assert!(md.contains("1 calibration error(s)"), "{md}");
    let html = dualroad::report::render::html(&r);
    assert!(
        html.contains(&format!(
            "<tr><th>matched only through paths learned as noise</th><td>{n} of {n} matched</td></tr>"
        )),
        "{html}"
    );
}

/// Every file under `dir`, recursively.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[tokio::test]
async fn no_personal_code_sent_in_shadow_stage_reaches_any_file_of_the_data_dir() {
    // Distinct codes in every place a person's code travels: a header field, a Body
    // element, an attribute, one nested a level deeper, and the residence service's
    // Body `isikukood`.
    let patient = V31EU
        .replace("PS400123456", "PS471000001")
        .replace("PS401987654", "PS471000002")
        .replace(
            "<moh:getPatientSummary>",
            "<moh:getPatientSummary userId=\"PS471000003\">",
        )
        .replace(
            "<language>ar</language>",
            "<language>ar</language><subject><ids><personalCode>PS471000004</personalCode></ids></subject>",
        );
    let residence = include_str!("../../fixtures/messages/v3.1-eu/request-RR19IsikuElukoht.xml")
        .replace("PS400554433", "PS471000005")
        .replace("PS402246810", "PS471000006");
    let codes = [
        "PS471000001",
        "PS471000002",
        "PS471000003",
        "PS471000004",
        "PS471000005",
        "PS471000006",
    ];
    for code in codes {
        assert_eq!(
            patient.matches(code).count() + residence.matches(code).count(),
            1,
            "{code} is sent once"
        );
    }

    let key = "0123456789abcdef0123456789abcdef";
    let mut env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    env.legacy.addr = start_sim(SimConfig::legacy()).await;
    // A diverging shadow, so diffs (which quote both bodies) are stored too.
    env.uxp.addr = start_sim(SimConfig {
        divergence_rate: 1.0,
        ..SimConfig::uxp()
    })
    .await;
    let rules = format!(
        "[[rollout.rules]]\nagency = \"*\"\nservice = \"*\"\nstage = \"shadow\"\nstore_bodies = true\ncapture = true\n[store.redaction]\nkey = \"{key}\"\n"
    );
    let gw = start(&config_text(&env, "legacy", &rules, "", 2000)).await;
    let (status, body) = post(consumer(&gw), &patient, XML).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(consumer(&gw), &residence, XML).await;
    assert_eq!(status, 200, "{body}");
    let recs = records(&gw, 2).await;
    assert!(
        recs.iter().all(|r| r.bodies.is_some()),
        "bodies are stored: {recs:#?}"
    );
    gw.shutdown().await;

    let files = files_under(&env.data);
    let mut all = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for code in codes {
            assert!(
                memchr::memmem::find(&bytes, code.as_bytes()).is_none(),
                "{code} found in {}",
                f.display()
            );
        }
        all.extend_from_slice(&bytes);
    }
    // The stored bytes are searchable as written: each code's token is there, so the
    // absence of the codes above is not an artefact of an encoding.
    let redactor =
        dualroad::store::Redactor::new(&Default::default(), key.as_bytes()).expect("redactor");
    for code in codes {
        let token = redactor.token(code.as_bytes());
        assert!(
            memchr::memmem::find(&all, token.as_bytes()).is_some(),
            "the token of {code} ({token}) is stored in {} files",
            files.len()
        );
    }
    let _ = std::fs::remove_dir_all(&env.data);
}

/// §4 in shadow mode: a stack that answers a shadow copy with an answer to another
/// request (here: a cached answer carrying the client's own message id instead of the
/// copy's) is the shadow's error — never compared as if it were the answer, so it can
/// never be recorded as `match`. Both directions: a UXP shadow and a legacy shadow.
#[tokio::test]
async fn a_shadow_answer_to_another_request_is_the_shadows_error_never_a_match() {
    let maps = crate::support::mappings(&crate::support::repo().join("mappings"));
    let opts = dualroad::translate::Options::default();
    // What each simulator answers to the client's request under the client's own id.
    let legacy_sim = start_sim(SimConfig::legacy()).await;
    let uxp_sim = start_sim(SimConfig::uxp()).await;
    let (_, legacy_cached) = post(legacy_sim, V31EU, XML).await;
    let to_uxp = dualroad::translate::Translator::new(maps, opts)
        .request_to_uxp(dualroad::wire::message::Input::new(V31EU.as_bytes()))
        .unwrap();
    let (_, uxp_cached) = post(uxp_sim, std::str::from_utf8(&to_uxp.bytes).unwrap(), XML).await;
    let client_id = "b9a5b60b-a69b-46d2-a7ae-5f7ba344a418";
    assert!(legacy_cached.contains(client_id) && uxp_cached.contains(client_id));
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };

    let cases = [
        // shadow: legacy serves, the UXP copy gets the cached answer.
        (
            "shadow",
            "uxp",
            Behaviour::Echo,
            Behaviour::Answer(leak(uxp_cached)),
        ),
        // uxp-shadow: UXP serves, the legacy copy gets the cached answer.
        (
            "uxp-shadow",
            "legacy",
            Behaviour::Answer(leak(legacy_cached)),
            Behaviour::Echo,
        ),
    ];
    for (stage, shadow_stack, legacy, uxp) in cases {
        let mut env = env_with(legacy, uxp).await;
        match shadow_stack {
            "uxp" => env.legacy.addr = legacy_sim,
            _ => env.uxp.addr = uxp_sim,
        }
        let rules =
            format!("[[rollout.rules]]\nagency = \"*\"\nservice = \"*\"\nstage = \"{stage}\"\n");
        let gw = start(&config_text(&env, "legacy", &rules, "", 2000)).await;
        let (status, body) = post(consumer(&gw), V31EU, XML).await;
        assert_eq!(
            status, 200,
            "{stage}: the client is served by the primary: {body}"
        );
        let recs = records(&gw, 1).await;
        let r = &recs[0];
        assert_eq!(r.outcome, "shadow-error", "{stage}: {r:#?}");
        let d = gw
            .shared
            .store
            .exchanges()
            .diff(r.diff_id.expect("a diff record"))
            .unwrap()
            .expect("diff");
        let text = format!("{d:?}");
        assert!(
            text.contains(&format!("{shadow_stack} stack answered another request"))
                && text.contains(&format!("message id `{client_id}`")),
            "{stage}: {text}"
        );
        let m = &gw.shared.metrics;
        assert_eq!(
            m.counter_sum(
                "dualroad_answer_mismatch_total",
                &[("stack", shadow_stack), ("role", "shadow")]
            ),
            1.0,
            "{stage}"
        );
        gw.shutdown().await;
    }
}

/// Every timestamp the gateway writes comes from the one clock it was started with:
/// a manual clock makes the evidence and the audit log's times exact.
#[tokio::test]
async fn evidence_and_audit_times_come_from_the_injected_clock() {
    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    let text = config_text(&env, "legacy", SHADOW_ALL, "", 2000);
    let settings = dualroad::config::Settings::from_str("test.toml", &text).unwrap();
    let (hand, clock) = dualroad::clock::manual(1_800_000_000_000);
    let gw = Gateway::start(settings, None, None, clock).await.unwrap();
    let (status, _) = post(consumer(&gw), &with_id(V31EU, "clock-1"), XML).await;
    assert_eq!(status, 200);
    let first = records(&gw, 1).await;
    hand.advance(60_000);
    let (status, _) = post(consumer(&gw), &with_id(V31EU, "clock-2"), XML).await;
    assert_eq!(status, 200);
    let both = records(&gw, 2).await;
    assert_eq!(first[0].at_unix_ms, 1_800_000_000_000);
    assert_eq!(both[1].at_unix_ms, 1_800_000_060_000, "{both:#?}");
    gw.shared
        .rollback(
            dualroad::routing::SwitchScope::new(None, None),
            "tester",
            "clock test",
        )
        .await
        .unwrap();
    let audit = gw.shared.store.audit_entries().unwrap();
    let times: Vec<u64> = audit.iter().map(|e| e.at_unix_ms).collect();
    assert_eq!(
        times,
        vec![1_800_000_000_000, 1_800_000_060_000],
        "{audit:#?}"
    );
    gw.shutdown().await;
}
