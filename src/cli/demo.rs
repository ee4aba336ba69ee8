//! `dualroad demo`: the main job with no arguments and no config file. Everything it
//! needs (mappings, sample messages) is embedded in the binary.
//!
//! Part 1 walks a few real-shaped messages through the translation core in every
//! direction and shows what changed and what a legacy client would get back.
//! Part 2 starts a legacy and a UXP stack simulator and the gateway on loopback, drives
//! traffic from three agencies through the stages (legacy → shadow → canary 25 % → uxp),
//! pulls one agency back with the rollback switch, and prints who served what.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::mapping::Mappings;
use crate::translate::{self, Options, Translation, Translator};
use crate::wire::codec::Family;
use crate::wire::message::Input;

/// The worked mappings shipped in `mappings/`, embedded.
pub(super) fn embedded_mappings() -> anyhow::Result<Mappings> {
    let sources = vec![
        (
            PathBuf::from("mappings/agencies.toml"),
            include_str!("../../mappings/agencies.toml").to_string(),
        ),
        (
            PathBuf::from("mappings/services.toml"),
            include_str!("../../mappings/services.toml").to_string(),
        ),
    ];
    Mappings::from_sources(&sources)
        .map_err(|e| anyhow::anyhow!("embedded mappings are invalid:\n{e}"))
}

const V2_REQUEST: &[u8] =
    include_bytes!("../../fixtures/messages/v2/request-getPatientSummary.xml");
const V31EU_RENAMED: &[u8] =
    include_bytes!("../../fixtures/messages/v3.1-eu/request-RR19IsikuElukoht.xml");
const UXP_SOAP12: &[u8] =
    include_bytes!("../../fixtures/messages/uxp/request-soap12-getPatientSummary.xml");
const UXP_RESPONSE_TO_V2: &[u8] =
    include_bytes!("../../fixtures/messages/uxp/response-to-v2-getPatientSummary.xml");
const XXE: &[u8] = include_bytes!("../../fixtures/messages/malformed/xxe-external-entity.xml");
const UNMAPPED: &[u8] = include_bytes!("../../fixtures/messages/malformed/unmapped-consumer.xml");

fn show(
    title: &str,
    r: Result<Translation, translate::TranslateError>,
    rescue_of: Input,
    family: Family,
) {
    println!("\n▸ {title}");
    match r {
        Ok(t) => {
            println!("  {}", t.summary());
            let text = String::from_utf8_lossy(&t.bytes);
            let header: Vec<&str> = text
                .lines()
                .skip_while(|l| !l.contains("Header"))
                .take_while(|l| !l.contains("Body"))
                .take(14)
                .collect();
            for l in header {
                println!("  │ {l}");
            }
        }
        Err(e) => {
            let rescue = Options::default().rescue_for(rescue_of, family);
            let fault = rescue.fault_message(&e.fault_code(), &e.to_string(), "demo");
            println!("  rejected ({} side) → {}", e.side(), e.fault_code());
            println!(
                "  │ {}",
                String::from_utf8_lossy(&fault)
                    .lines()
                    .last()
                    .unwrap_or_default()
            );
        }
    }
}

fn translation_tour(maps: &Mappings) {
    let tr = Translator::new(maps, Options::default());
    println!(
        "dualroad demo — part 1: translation core (embedded mappings: {} members, {} services)",
        maps.members().count(),
        maps.services().count()
    );
    show(
        "2.0 rpc/encoded request from the health portal → UXP",
        tr.request_to_uxp(Input::new(V2_REQUEST)),
        Input::new(V2_REQUEST),
        Family::Legacy,
    );
    show(
        "UXP answer → back to the 2.0 client (its own header restored, requestHash dropped)",
        tr.response_to_legacy(Input::new(UXP_RESPONSE_TO_V2), Input::new(V2_REQUEST)),
        Input::new(V2_REQUEST),
        Family::Legacy,
    );
    show(
        "3.1-eu request whose operation was renamed on UXP (wrapper rename)",
        tr.request_to_uxp(Input::new(V31EU_RENAMED)),
        Input::new(V31EU_RENAMED),
        Family::Legacy,
    );
    let ct = Some("application/soap+xml; charset=utf-8; action=\"urn:getPatientSummary\"");
    show(
        "SOAP 1.2 UXP client → service still on the legacy stack (v3.1-eu)",
        tr.request_to_legacy(Input::new(UXP_SOAP12).with_content_type(ct)),
        Input::new(UXP_SOAP12).with_content_type(ct),
        Family::Uxp,
    );
    show(
        "XXE attempt",
        tr.request_to_uxp(Input::new(XXE)),
        Input::new(XXE),
        Family::Legacy,
    );
    show(
        "consumer with no mapping",
        tr.request_to_uxp(Input::new(UNMAPPED)),
        Input::new(UNMAPPED),
        Family::Legacy,
    );
}

// === part 2: the gateway ===

const HEALTH: &str = include_str!("../../fixtures/messages/v3.1-eu/request-getPatientSummary.xml");
const HEALTH_ID: &str = "b9a5b60b-a69b-46d2-a7ae-5f7ba344a418";
const CITY: &str = include_str!("../../fixtures/messages/v3.1-eu/request-RR19IsikuElukoht.xml");
const CITY_ID: &str = "da91096e-139f-45aa-810c-aa2214d9c05e";
const BANK: &str =
    include_str!("../../fixtures/messages/v3.1-eu/request-getCompany-empty-issue.xml");
const BANK_ID: &str = "b50ba91a-03df-44ad-b5f6-24f289914be8";

/// The agencies the demo drives: (label, legacy consumer name, request, its id).
const AGENCIES: [(&str, &str, &str, &str); 3] = [
    ("health portal", "10000042", HEALTH, HEALTH_ID),
    ("municipality", "10000055", CITY, CITY_ID),
    ("bank KYC", "10000077", BANK, BANK_ID),
];

/// Requests per agency per phase.
const DEFAULT_DEMO_REQUESTS: usize = 120;

fn demo_config(
    data: &std::path::Path,
    legacy: std::net::SocketAddr,
    uxp: std::net::SocketAddr,
    rules: &str,
) -> String {
    format!(
        r#"data_dir = "{data}"
mappings = "mappings"
[admin]
listen = "127.0.0.1:0"
[[listeners]]
name = "agencies"
role = "consumer"
listen = "127.0.0.1:0"
[upstreams.legacy-ss]
url = "http://{legacy}/cgi-bin/consumer_proxy"
dialect = "v3.1-eu"
[upstreams.uxp-ss]
url = "http://{uxp}/"
dialect = "uxp"
[stacks]
legacy = "legacy-ss"
uxp = "uxp-ss"
[rollout]
fallback = "legacy"
{rules}"#,
        data = data.display()
    )
}

fn rule(agency: &str, stage: &str) -> String {
    let extra = if stage == "canary" {
        "\npercent = 25"
    } else {
        ""
    };
    let stage = if stage == "canary" { "canary" } else { stage };
    format!(
        "[[rollout.rules]]\nagency = \"{agency}\"\nservice = \"*\"\nstage = \"{stage}\"{extra}\n"
    )
}

async fn drive(addr: std::net::SocketAddr, phase: usize, n: usize) -> anyhow::Result<usize> {
    use http_body_util::BodyExt;
    let client: hyper_util::client::legacy::Client<_, http_body_util::Full<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let mut failures = 0;
    for i in 0..n {
        for (_, _, msg, id) in AGENCIES {
            let body = msg.replace(id, &format!("demo-{phase}-{i:04}-{}", &id[..8]));
            let req = http::Request::post(format!("http://{addr}/cgi-bin/consumer_proxy"))
                .header("content-type", "text/xml; charset=utf-8")
                .body(http_body_util::Full::new(bytes::Bytes::from(body)))?;
            let resp = client.request(req).await?;
            if !resp.status().is_success() {
                failures += 1;
            }
            let _ = resp.into_body().collect().await;
        }
    }
    Ok(failures)
}

/// Served-by counts per agency label, from the gateway's own metrics.
fn served(m: &crate::telemetry::metrics::Metrics) -> Vec<(f64, f64)> {
    AGENCIES
        .iter()
        .map(|(_, name, _, _)| {
            (
                m.counter_sum(
                    "dualroad_requests_total",
                    &[("agency", name), ("served_by", "legacy")],
                ),
                m.counter_sum(
                    "dualroad_requests_total",
                    &[("agency", name), ("served_by", "uxp")],
                ),
            )
        })
        .collect()
}

async fn gateway_story(maps: Mappings, clock: crate::clock::Clock) -> anyhow::Result<()> {
    use crate::config::Settings;
    use crate::gateway::Gateway;
    use crate::routing::SwitchScope;
    use crate::sim::{self, SimConfig};
    use std::time::Duration;

    println!("\ndualroad demo — part 2: the gateway, two simulated stacks, three agencies");
    let data = std::env::temp_dir().join(format!("dualroad-demo-{}", uuid::Uuid::new_v4()));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let start_sim = |cfg: SimConfig| {
        let mut rx = stop_rx.clone();
        async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = l.local_addr()?;
            tokio::spawn(sim::serve(l, cfg, async move {
                let _ = rx.changed().await;
            }));
            anyhow::Ok(addr)
        }
    };
    let legacy = start_sim(SimConfig {
        latency: Duration::from_millis(1),
        ..SimConfig::legacy()
    })
    .await?;
    let uxp = start_sim(SimConfig {
        latency: Duration::from_millis(1),
        divergence_rate: 0.05,
        ..SimConfig::uxp()
    })
    .await?;
    println!("  legacy X-Road simulator (v3.1-eu) on {legacy}; UXP simulator on {uxp} (5 % of answers diverge)");

    let settings = |rules: &str| {
        Settings::from_str("demo.toml", &demo_config(&data, legacy, uxp, rules))
            .map_err(|e| anyhow::anyhow!("{e}"))
    };
    let gw = Gateway::start(settings("")?, Some(maps.clone()), None, clock).await?;
    let addr = gw
        .addr("agencies")
        .ok_or_else(|| anyhow::anyhow!("no listener"))?;
    println!(
        "  gateway on {addr}, admin on {} (try /metrics and /admin/rollout while it runs)\n",
        gw.admin
    );

    let phases: [(&str, String); 4] = [
        ("everyone on the legacy stack", String::new()),
        (
            "health portal in shadow (legacy serves, UXP gets copies)",
            rule("10000042", "shadow"),
        ),
        (
            "health portal canary 25 %, municipality in shadow",
            rule("10000042", "canary") + &rule("10000055", "shadow"),
        ),
        (
            "health portal on UXP, municipality canary 25 %",
            rule("10000042", "uxp") + &rule("10000055", "canary"),
        ),
    ];
    println!(
        "  {:<60} {:<14} {:>7} {:>7}",
        "phase", "agency", "legacy", "uxp"
    );
    let mut before = served(&gw.shared.metrics);
    let mut total_fail = 0;
    for (i, (title, rules)) in phases.iter().enumerate() {
        gw.shared
            .apply(settings(rules)?, Some(maps.clone()), "demo", title)
            .await?;
        total_fail += drive(addr, i, DEFAULT_DEMO_REQUESTS).await?;
        let after = served(&gw.shared.metrics);
        for (k, (label, _, _, _)) in AGENCIES.iter().enumerate() {
            let (l, u) = (after[k].0 - before[k].0, after[k].1 - before[k].1);
            let t = if k == 0 {
                format!("{}. {title}", i + 1)
            } else {
                String::new()
            };
            println!("  {t:<60} {label:<14} {l:>7} {u:>7}");
        }
        before = after;
    }
    // Something goes wrong with the health portal on UXP: pull it back, now.
    gw.shared
        .rollback(
            SwitchScope::new(Some("10000042"), None),
            "demo-operator",
            "INC-4711: UXP answers differ for patient summaries",
        )
        .await?;
    total_fail += drive(addr, 9, DEFAULT_DEMO_REQUESTS).await?;
    let after = served(&gw.shared.metrics);
    for (k, (label, _, _, _)) in AGENCIES.iter().enumerate() {
        let (l, u) = (after[k].0 - before[k].0, after[k].1 - before[k].1);
        let t = if k == 0 {
            "5. ROLLBACK health portal (switch overrides every rule)"
        } else {
            ""
        };
        println!("  {t:<60} {label:<14} {l:>7} {u:>7}");
    }
    // Give in-flight shadow copies a moment, then report.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let m = &gw.shared.metrics;
    // Counters are whole numbers; an absent series sums to -0.0.
    let outcome = |o: &str| {
        m.counter_sum("dualroad_mirror_total", &[("stack", "uxp"), ("outcome", o)]) as u64
    };
    println!(
        "\n  shadow copies to UXP: {} — {} match, {} body-diff, {} fault-mismatch, {} not compared; client-visible failures: {total_fail}",
        m.counter_sum("dualroad_mirror_total", &[("stack", "uxp")]) as u64,
        outcome("match"),
        outcome("body-diff"),
        outcome("fault-mismatch"),
        ["timeout", "overload", "too-large", "upstream-error", "sampled-out", "write-service"]
            .iter()
            .map(|o| outcome(o))
            .sum::<u64>(),
    );
    if let Some(d) = gw
        .shared
        .store
        .exchanges()
        .list_diffs(None, None, None, 1)?
        .first()
    {
        println!(
            "  latest diff {} ({} {}, {}); in a real deployment `dualroad diffs show ID` prints it whole",
            d.id, d.agency, d.service, d.outcome
        );
        for p in d.paths.iter().take(3) {
            println!(
                "    {:<8} {}  legacy {:?} → uxp {:?}",
                p.kind,
                p.path,
                p.primary.as_deref().unwrap_or("—"),
                p.shadow.as_deref().unwrap_or("—")
            );
        }
    }
    let audit = gw.shared.store.audit_entries()?;
    let verify = gw.shared.store.verify_audit()?;
    println!(
        "  audit log: {} entries, hash chain {}",
        audit.len(),
        if verify.ok { "verified" } else { "BROKEN" }
    );
    for e in audit.iter().rev().take(3).rev() {
        println!(
            "    #{} {:<13} by {:<14} {}",
            e.seq,
            e.action.as_str(),
            e.actor,
            e.reason
        );
    }
    println!("\n  Next: `dualroad serve --config dualroad.example.toml`, `dualroad switch rollback --agency A --reason …`,");
    println!(
        "  `dualroad audit verify`, and `dualroad translate --to uxp FILE` on your own messages."
    );
    gw.shutdown().await;
    let _ = stop_tx.send(true);
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}

pub(super) fn run(clock: crate::clock::Clock) -> anyhow::Result<ExitCode> {
    let maps = embedded_mappings()?;
    translation_tour(&maps);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(gateway_story(maps, clock))?;
    Ok(ExitCode::SUCCESS)
}
