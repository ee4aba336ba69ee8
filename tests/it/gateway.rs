//! The gateway end to end on loopback: in-process upstream stubs and the gateway itself
//! on 127.0.0.1:0. Covers every stage, the canary split, the rollback switch (immediate,
//! durable), reloads (a bad file keeps the old rules), the provider role, the audit
//! chain, and bad input / misbehaving upstreams answered with faults in the client's
//! dialect.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use dualroad::config::Settings;
use dualroad::gateway::Gateway;
use dualroad::routing::SwitchScope;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::stub::{self, Behaviour, Stub};
use crate::support::{eventually, eventually_async, repo};

pub(crate) const V31EU: &str =
    include_str!("../../fixtures/messages/v3.1-eu/request-getPatientSummary.xml");
const UXP_REQ: &str = include_str!("../../fixtures/messages/uxp/request-getPatientSummary.xml");

pub(crate) fn with_id(msg: &str, id: &str) -> String {
    msg.replace("b9a5b60b-a69b-46d2-a7ae-5f7ba344a418", id)
}

pub(crate) fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dualroad-it-{tag}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub(crate) struct Env {
    pub legacy: Stub,
    pub uxp: Stub,
    pub adapter: Stub,
    pub data: PathBuf,
}

pub(crate) fn config_text(
    env: &Env,
    fallback: &str,
    rules: &str,
    limits: &str,
    uxp_timeout_ms: u64,
) -> String {
    let data = env.data.display();
    let maps = repo().join("mappings");
    format!(
        r#"
data_dir = "{data}"
mappings = "{maps}"
[limits]
{limits}
[admin]
listen = "127.0.0.1:0"
[[listeners]]
name = "agencies"
role = "consumer"
listen = "127.0.0.1:0"
[[listeners]]
name = "uxp-providers"
role = "provider"
listen = "127.0.0.1:0"
upstream = "legacy-adapter"
[upstreams.legacy-ss]
url = "http://{l}/cgi-bin/consumer_proxy"
dialect = "v3.1-eu"
request_timeout_ms = 2000
[upstreams.uxp-ss]
url = "http://{u}/"
dialect = "uxp"
request_timeout_ms = {uxp_timeout_ms}
[upstreams.legacy-adapter]
url = "http://{a}/"
dialect = "v3.1-eu"
http10 = true
[stacks]
legacy = "legacy-ss"
uxp = "uxp-ss"
[rollout]
fallback = "{fallback}"
{rules}
"#,
        maps = maps.display(),
        l = env.legacy.addr,
        u = env.uxp.addr,
        a = env.adapter.addr,
    )
}

pub(crate) async fn env_with(legacy: Behaviour, uxp: Behaviour) -> Env {
    Env {
        legacy: stub::spawn(legacy).await,
        uxp: stub::spawn(uxp).await,
        adapter: stub::spawn(Behaviour::Echo).await,
        data: temp_dir("gw"),
    }
}

pub(crate) async fn start(text: &str) -> Gateway {
    let settings = Settings::from_str("test.toml", text).unwrap_or_else(|e| panic!("config: {e}"));
    Gateway::start(settings, None, None, dualroad::clock::system())
        .await
        .unwrap_or_else(|e| panic!("start: {e}"))
}

pub(crate) async fn post(addr: SocketAddr, body: &str, ct: &str) -> (u16, String) {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let req = http::Request::post(format!("http://{addr}/cgi-bin/consumer_proxy"))
        .header("content-type", ct)
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn consumer(gw: &Gateway) -> SocketAddr {
    gw.addr("agencies").unwrap()
}

const XML: &str = "text/xml; charset=utf-8";

#[tokio::test]
async fn legacy_stage_passes_through_untouched() {
    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    let gw = start(&config_text(&env, "legacy", "", "", 2000)).await;
    let (status, body) = post(consumer(&gw), V31EU, XML).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body, V31EU,
        "legacy stage forwards and answers byte for byte"
    );
    assert_eq!((env.legacy.hits(), env.uxp.hits()), (1, 0));
    gw.shutdown().await;
}

#[tokio::test]
async fn uxp_stage_translates_both_ways() {
    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    let rules = "[[rollout.rules]]\nagency = \"10000042\"\nservice = \"*\"\nstage = \"uxp\"\n";
    let gw = start(&config_text(&env, "legacy", rules, "", 2000)).await;
    let (status, body) = post(consumer(&gw), V31EU, XML).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((env.legacy.hits(), env.uxp.hits()), (0, 1));
    let sent = env.uxp.last_body();
    assert!(
        sent.contains("<id:memberCode>10000042</id:memberCode>")
            && sent.contains("protocolVersion>4.0<"),
        "{sent}"
    );
    // The client gets its own legacy header back.
    assert!(
        body.contains("<xrd:consumer>10000042</xrd:consumer>") && !body.contains("protocolVersion"),
        "{body}"
    );
    let metrics = gw.shared.metrics.render();
    assert!(
        metrics.contains("served_by=\"uxp\"") && metrics.contains("stage=\"uxp\""),
        "{metrics}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn shadow_stages_serve_from_primary_and_mirror() {
    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    let rules = "[[rollout.rules]]\nagency = \"10000042\"\nservice = \"*\"\nstage = \"shadow\"\n\
                 [[rollout.rules]]\nagency = \"10000055\"\nservice = \"*\"\nstage = \"uxp-shadow\"\n";
    let gw = start(&config_text(&env, "legacy", rules, "", 2000)).await;
    let (status, body) = post(consumer(&gw), V31EU, XML).await;
    assert_eq!(
        (status, body.as_str()),
        (200, V31EU),
        "shadow: legacy serves, untouched"
    );
    let muni = V31EU.replace("<xrd:consumer>10000042<", "<xrd:consumer>10000055<");
    let (status, body) = post(consumer(&gw), &muni, XML).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("<xrd:consumer>10000055</xrd:consumer>"),
        "{body}"
    );
    // Mirrors arrive asynchronously.
    assert_eq!(
        (env.legacy.hits_reach(2).await, env.uxp.hits_reach(2).await),
        (2, 2),
        "each stack served one and got one copy"
    );
    let m = &gw.shared.metrics;
    // Each copy ends compared (echo stubs answer differently shaped messages, so the
    // class itself is not the point here; tests/it/shadow.rs checks classes).
    eventually(|| m.counter_sum("dualroad_mirror_total", &[]) >= 2.0).await;
    assert_eq!(m.counter_sum("dualroad_mirror_total", &[]), 2.0);
    assert_eq!(
        m.counter_sum("dualroad_mirror_total", &[("outcome", "upstream-error")])
            + m.counter_sum("dualroad_mirror_total", &[("outcome", "timeout")]),
        0.0
    );
    assert_eq!(
        m.counter_sum(
            "dualroad_requests_total",
            &[("stage", "shadow"), ("served_by", "legacy")]
        ),
        1.0
    );
    assert_eq!(
        m.counter_sum(
            "dualroad_requests_total",
            &[("stage", "uxp-shadow"), ("served_by", "uxp")]
        ),
        1.0
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn canary_split_is_within_two_percent_over_10000_requests() {
    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    let rules = "[[rollout.rules]]\nagency = \"10000042\"\nservice = \"moh.*\"\nstage = \"canary\"\npercent = 25\n";
    let gw = start(&config_text(&env, "legacy", rules, "", 2000)).await;
    let addr = consumer(&gw);
    let n = 10_000;
    let mut handles = Vec::new();
    for w in 0..8 {
        handles.push(tokio::spawn(async move {
            let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
            for i in (w..n).step_by(8) {
                let body = with_id(V31EU, &format!("canary-{i:05}"));
                let req = http::Request::post(format!("http://{addr}/"))
                    .header("content-type", XML)
                    .body(Full::new(Bytes::from(body)))
                    .unwrap();
                let resp = client.request(req).await.unwrap();
                assert_eq!(resp.status(), 200);
                let _ = resp.into_body().collect().await;
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let uxp = env.uxp.hits() as f64 / n as f64 * 100.0;
    assert_eq!(env.legacy.hits() + env.uxp.hits(), n);
    assert!(
        (uxp - 25.0).abs() <= 2.0,
        "UXP served {uxp:.2}% (want 25 ± 2)"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn rollback_is_immediate_and_survives_restart() {
    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    let rules = "[[rollout.rules]]\nagency = \"*\"\nservice = \"*\"\nstage = \"uxp\"\n";
    let text = config_text(&env, "legacy", rules, "", 2000);
    let gw = start(&text).await;
    post(consumer(&gw), V31EU, XML).await;
    assert_eq!(env.uxp.hits(), 1);
    gw.shared
        .rollback(
            SwitchScope::new(Some("10000042"), None),
            "tester",
            "INC-1 UXP answers wrong",
        )
        .await
        .unwrap();
    // The very next decision honours it.
    post(consumer(&gw), V31EU, XML).await;
    assert_eq!((env.legacy.hits(), env.uxp.hits()), (1, 1));
    assert!(gw
        .shared
        .metrics
        .render()
        .contains("dualroad_switch_rollback_active{agency=\"10000042\",service=\"*\"} 1"));
    gw.shutdown().await;

    // Restart on the same data dir: still rolled back.
    let gw = start(&text).await;
    post(consumer(&gw), V31EU, XML).await;
    assert_eq!(
        (env.legacy.hits(), env.uxp.hits()),
        (2, 1),
        "rollback survived the restart"
    );
    gw.shared
        .release(SwitchScope::new(Some("10000042"), None), "tester", "fixed")
        .await
        .unwrap();
    post(consumer(&gw), V31EU, XML).await;
    assert_eq!((env.legacy.hits(), env.uxp.hits()), (2, 2));
    let report = gw.shared.store.verify_audit().unwrap();
    assert!(report.ok, "{report:?}");
    gw.shutdown().await;
}

#[tokio::test]
async fn reload_with_bad_file_keeps_old_rules() {
    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    let dir = temp_dir("reload");
    let path = dir.join("dualroad.toml");
    let good = config_text(&env, "legacy", "", "", 2000);
    std::fs::write(&path, &good).unwrap();
    let settings = Settings::from_file(&path).unwrap();
    let gw = Gateway::start(
        settings,
        None,
        Some(path.clone()),
        dualroad::clock::system(),
    )
    .await
    .unwrap();
    // A bad file: no fallback.
    std::fs::write(&path, good.replace("fallback = \"legacy\"", "")).unwrap();
    let err = gw.shared.reload("tester").await.unwrap_err().to_string();
    assert!(err.contains("fallback"), "{err}");
    post(consumer(&gw), V31EU, XML).await;
    assert_eq!(env.legacy.hits(), 1, "old rules still in force");
    // A good change takes effect and is audited with its diff.
    std::fs::write(&path, config_text(&env, "uxp", "", "", 2000)).unwrap();
    let diff = gw.shared.reload("tester").await.unwrap();
    assert!(diff.iter().any(|d| d.contains("fallback")), "{diff:?}");
    post(consumer(&gw), V31EU, XML).await;
    assert_eq!(env.uxp.hits(), 1);
    let entries = gw.shared.store.audit_entries().unwrap();
    assert!(entries.iter().any(|e| e.action.as_str() == "config-reload"
        && e.details.iter().any(|d| d.contains("fallback"))));
    gw.shutdown().await;
}

#[tokio::test]
async fn provider_role_round_trip() {
    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    let gw = start(&config_text(&env, "legacy", "", "", 2000)).await;
    let (status, body) = post(gw.addr("uxp-providers").unwrap(), UXP_REQ, XML).await;
    assert_eq!(status, 200, "{body}");
    let sent = env.adapter.last_body();
    assert!(
        sent.contains("<xrd:consumer>10000042</xrd:consumer>"),
        "adapter got v3.1-eu: {sent}"
    );
    // The UXP side gets its own 4.0 header echoed.
    assert!(
        body.contains("protocolVersion")
            && body.contains(">10000042<")
            && !body.contains("xrd:consumer"),
        "{body}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn misbehaving_upstreams_become_faults_in_the_clients_dialect() {
    let rules = "[[rollout.rules]]\nagency = \"*\"\nservice = \"*\"\nstage = \"uxp\"\n";
    for (b, code) in [
        (Behaviour::Html, "Server.ClientProxy.InvalidResponse"),
        (Behaviour::Stall, "Server.ClientProxy.Timeout"),
        (Behaviour::Reset, "Server.ClientProxy.NetworkError"),
    ] {
        let env = env_with(Behaviour::Echo, b).await;
        let gw = start(&config_text(&env, "legacy", rules, "", 300)).await;
        let (status, body) = post(consumer(&gw), V31EU, XML).await;
        assert_eq!(status, 500, "{b:?}: {body}");
        assert!(
            body.contains(&format!("<faultcode>{code}</faultcode>")),
            "{b:?}: {body}"
        );
        assert!(
            body.contains("<xrd:consumer>10000042</xrd:consumer>"),
            "client's header echoed: {body}"
        );
        assert_eq!(
            gw.shared
                .metrics
                .counter_sum("dualroad_faults_total", &[("code", code)]),
            1.0
        );
        gw.shutdown().await;
    }
    // An upstream that is not there at all.
    let mut env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    env.uxp.addr = "127.0.0.1:1".parse().unwrap();
    let gw = start(&config_text(&env, "legacy", rules, "", 300)).await;
    let (_, body) = post(consumer(&gw), V31EU, XML).await;
    assert!(
        body.contains("<faultcode>Server.ClientProxy.NetworkError</faultcode>"),
        "{body}"
    );
    gw.shutdown().await;
    // A service fault from upstream passes through (status 500, the service's code).
    let env = env_with(Behaviour::Echo, Behaviour::Fault).await;
    let gw = start(&config_text(&env, "legacy", rules, "", 300)).await;
    let (status, body) = post(consumer(&gw), V31EU, XML).await;
    assert_eq!(status, 500);
    assert!(
        body.contains("upstream says no") && body.contains("<xrd:consumer>10000042</xrd:consumer>"),
        "{body}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn bad_client_input_gets_faults() {
    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    let gw = start(&config_text(
        &env,
        "legacy",
        "",
        "max_message_bytes = 4096",
        2000,
    ))
    .await;
    let addr = consumer(&gw);
    let big = V31EU.replace(
        "<language>ar</language>",
        &format!("<pad>{}</pad>", "x".repeat(8000)),
    );
    let (status, body) = post(addr, &big, XML).await;
    assert_eq!(status, 413);
    assert!(body.contains("Client.MessageTooLarge"), "{body}");
    let (status, body) = post(addr, "<not-soap/>", XML).await;
    assert_eq!(status, 500);
    assert!(body.contains("Client.InvalidSoap"), "{body}");
    // An unmapped agency is still served by legacy in the legacy stage …
    let unmapped = V31EU.replace(">10000042<", ">99999999<");
    let (status, _) = post(addr, &unmapped, XML).await;
    assert_eq!(status, 200);
    gw.shutdown().await;
    // … but gets a fault naming it when its traffic must go to UXP.
    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    let gw = start(&config_text(&env, "uxp", "", "", 2000)).await;
    let (status, body) = post(consumer(&gw), &unmapped, XML).await;
    assert_eq!(status, 500);
    assert!(
        body.contains("Server.ClientProxy.UnknownMember") && body.contains("99999999"),
        "{body}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn slow_client_is_cut_off_by_the_header_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    let gw = start(&config_text(
        &env,
        "legacy",
        "",
        "header_read_timeout_ms = 200\nbody_read_timeout_ms = 200",
        2000,
    ))
    .await;
    let mut s = tokio::net::TcpStream::connect(consumer(&gw)).await.unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    assert!(r.is_ok(), "the gateway closed the slow connection");
    // Body too slow: headers complete, body never finishes.
    let mut s = tokio::net::TcpStream::connect(consumer(&gw)).await.unwrap();
    s.write_all(
        b"POST / HTTP/1.1\r\nhost: x\r\ncontent-type: text/xml\r\ncontent-length: 1000\r\n\r\n<a>",
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf);
    assert!(
        text.starts_with("HTTP/1.1 408") && text.contains("Client.Timeout"),
        "{text}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn data_dir_that_is_not_a_store_is_refused() {
    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    std::fs::write(env.data.join("garbage.txt"), "not a database").unwrap();
    let settings =
        Settings::from_str("t.toml", &config_text(&env, "legacy", "", "", 2000)).unwrap();
    let err = Gateway::start(settings, None, None, dualroad::clock::system())
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains(&env.data.display().to_string()),
        "{err}"
    );
}

#[test]
fn overlapping_rules_are_refused_with_both_lines() {
    let env = Env {
        legacy: Stub::dummy(),
        uxp: Stub::dummy(),
        adapter: Stub::dummy(),
        data: PathBuf::from("/tmp/unused"),
    };
    let rules = "[[rollout.rules]]\nagency = \"10000042\"\nservice = \"*\"\nstage = \"uxp\"\n\
                 [[rollout.rules]]\nagency = \"10000042\"\nservice = \"*\"\nstage = \"legacy\"\n";
    let err = Settings::from_str("t.toml", &config_text(&env, "legacy", rules, "", 2000))
        .unwrap_err()
        .to_string();
    assert!(err.contains("t.toml"), "{err}");
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let env = env_with(Behaviour::Held, Behaviour::Echo).await;
    let gw = start(&config_text(&env, "legacy", "", "", 2000)).await;
    let addr = consumer(&gw);
    let inflight = tokio::spawn(async move { post(addr, V31EU, XML).await });
    // Once the request is held at the upstream, stop the gateway; once it has stopped
    // accepting, let the upstream answer.
    env.legacy.hits_reach(1).await;
    let stopping = tokio::spawn(gw.shutdown());
    eventually_async(|| async { tokio::net::TcpStream::connect(addr).await.is_err() }).await;
    env.legacy.release();
    stopping.await.unwrap();
    let (status, body) = inflight.await.unwrap();
    assert_eq!(
        (status, body.as_str()),
        (200, V31EU),
        "the in-flight request completed"
    );
    // And nothing listens any more.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[allow(dead_code)]
fn _unused(_: &Path) {}

/// The stack simulators behind the gateway: an agency served by UXP gets the same Body
/// as it would from the legacy stack, in its own dialect and header.
#[tokio::test]
async fn with_simulators_both_stacks_answer_alike() {
    use dualroad_sim::{self as sim, SimConfig};
    let start_sim = |cfg: SimConfig| async move {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(sim::serve(l, cfg, std::future::pending::<()>()));
        addr
    };
    let legacy = start_sim(SimConfig::legacy()).await;
    let uxp = start_sim(SimConfig::uxp()).await;
    let mut env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    env.legacy.addr = legacy;
    env.uxp.addr = uxp;
    let rules = "[[rollout.rules]]\nagency = \"10000042\"\nservice = \"*\"\nstage = \"uxp\"\n";
    let gw = start(&config_text(&env, "legacy", rules, "", 2000)).await;
    let (status, via_uxp) = post(consumer(&gw), V31EU, XML).await;
    assert_eq!(status, 200, "{via_uxp}");
    let (status, direct) = post(legacy, V31EU, XML).await;
    assert_eq!(status, 200);
    let body = |s: &str| s[s.find("<SOAP-ENV:Body>").unwrap()..].to_string();
    assert_eq!(
        body(&via_uxp),
        body(&direct),
        "UXP answer translated back = legacy answer"
    );
    assert!(
        via_uxp.contains("<xrd:consumer>10000042</xrd:consumer>")
            && !via_uxp.contains("requestHash"),
        "{via_uxp}"
    );
    let m = &gw.shared.metrics;
    assert_eq!(
        m.counter_sum(
            "dualroad_requests_total",
            &[("served_by", "uxp"), ("outcome", "ok")]
        ),
        1.0
    );
    gw.shutdown().await;
}
