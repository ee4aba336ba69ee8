//! TLS end to end on loopback, with the committed test certificates (fixtures/tls,
//! made by scripts/gen-test-certs.sh): mutual TLS on a consumer listener, client
//! identity binding by certificate and by source address, https upstreams with verified
//! certificates, and certificate reload.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dualroad::config::{ListenerTls, Settings};
use dualroad::gateway::Gateway;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::{TcpListener, TcpStream};

use crate::gateway::{start, temp_dir, with_id, V31EU};
use crate::stub::{self, Behaviour, Stub};
use crate::support::{eventually, repo};

const XML: &str = "text/xml; charset=utf-8";
/// Hang guard only: nothing here is expected to take more than a moment.
const GUARD: Duration = Duration::from_secs(20);

fn tls_file(name: &str) -> PathBuf {
    repo().join("fixtures/tls").join(name)
}

fn p(name: &str) -> String {
    tls_file(name).display().to_string()
}

/// A client trusting `ca`, presenting `client` (`client-moh` → .pem/.key) if given.
fn client(ca: &str, client: Option<&str>) -> Arc<rustls::ClientConfig> {
    let roots = dualroad::tls::load_roots(&tls_file(ca)).unwrap();
    let b = rustls::ClientConfig::builder_with_provider(dualroad::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    Arc::new(match client {
        Some(c) => b
            .with_client_auth_cert(
                dualroad::tls::load_certs(&tls_file(&format!("{c}.pem"))).unwrap(),
                dualroad::tls::load_key(&tls_file(&format!("{c}.key"))).unwrap(),
            )
            .unwrap(),
        None => b.with_no_client_auth(),
    })
}

/// An HTTPS POST; `Err` for a failed handshake or a connection the server dropped.
/// Returns the status, the body and the server certificate's DER.
async fn https_post(
    addr: SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
    body: &str,
) -> Result<(u16, String, Vec<u8>), String> {
    let body = body.to_string();
    let exchange = async move {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let name = ServerName::try_from("localhost").unwrap();
        let tls = tokio_rustls::TlsConnector::from(cfg)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let server_cert = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let req = http::Request::post("/cgi-bin/consumer_proxy")
            .header("host", "localhost")
            .header("content-type", XML)
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((
            status,
            String::from_utf8_lossy(&body).into_owned(),
            server_cert,
        ))
    };
    tokio::time::timeout(GUARD, exchange)
        .await
        .unwrap_or_else(|_| Err("hang guard".into()))
}

/// An HTTPS echo upstream with `cert` (and client certificates verified against
/// `client_ca`, when given).
async fn tls_stub(cert: &str, client_ca: Option<&str>) -> (SocketAddr, Arc<AtomicUsize>) {
    let config = dualroad::tls::server_config(&ListenerTls {
        cert: tls_file(&format!("{cert}.pem")),
        key: tls_file(&format!("{cert}.key")),
        client_ca: client_ca.map(tls_file),
        require_client_cert: client_ca.is_some(),
    })
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, h) = (acceptor.clone(), h.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let h = h.clone();
                        async move {
                            h.fetch_add(1, Ordering::SeqCst);
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let mut r = http::Response::new(Full::new(body));
                            r.headers_mut().insert("content-type", XML.parse().unwrap());
                            Ok::<_, std::convert::Infallible>(r)
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    (addr, hits)
}

/// A consumer listener `agencies` (with `listener_tls` when not empty), the legacy
/// stack at `legacy_url` (with `legacy_tls`), everything served by legacy; `extra` is
/// appended (client bindings).
fn config(
    data: &Path,
    listener_tls: &str,
    legacy_url: &str,
    legacy_tls: &str,
    uxp: &Stub,
    extra: &str,
) -> String {
    format!(
        r#"
data_dir = "{data}"
mappings = "{maps}"
[admin]
listen = "127.0.0.1:0"
[[listeners]]
name = "agencies"
role = "consumer"
listen = "127.0.0.1:0"
{listener_tls}
[upstreams.legacy-ss]
url = "{legacy_url}"
dialect = "v3.1-eu"
request_timeout_ms = 5000
{legacy_tls}
[upstreams.uxp-ss]
url = "http://{uxp}/"
dialect = "uxp"
[stacks]
legacy = "legacy-ss"
uxp = "uxp-ss"
[rollout]
fallback = "legacy"
{extra}
"#,
        data = data.display(),
        maps = repo().join("mappings").display(),
        uxp = uxp.addr,
    )
}

fn mtls_listener() -> String {
    format!(
        "tls = {{ cert = \"{}\", key = \"{}\", client_ca = \"{}\" }}",
        p("server.pem"),
        p("server.key"),
        p("ca.pem")
    )
}

fn fingerprint_of(pem: &str) -> String {
    let der = dualroad::tls::load_certs(&tls_file(pem)).unwrap();
    dualroad::tls::x509::fingerprint(&der[0])
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

async fn plain_env() -> (Stub, Stub) {
    (
        stub::spawn(Behaviour::Echo).await,
        stub::spawn(Behaviour::Echo).await,
    )
}

async fn metric_reaches(
    gw: &Gateway,
    name: &'static str,
    labels: &[(&'static str, &'static str)],
    want: f64,
) -> f64 {
    eventually(|| gw.shared.metrics.counter_sum(name, labels) >= want).await;
    gw.shared.metrics.counter_sum(name, labels)
}

#[tokio::test]
async fn good_client_certificate_accepted_unknown_ca_refused_at_handshake() {
    let (legacy, uxp) = plain_env().await;
    let text = config(
        &temp_dir("tls-mtls"),
        &mtls_listener(),
        &format!("http://{}/", legacy.addr),
        "",
        &uxp,
        "",
    );
    let gw = start(&text).await;
    let addr = gw.addr("agencies").unwrap();
    let (status, body, server_cert) = https_post(addr, client("ca.pem", Some("client-moh")), V31EU)
        .await
        .expect("a client certificate from the trusted CA is accepted");
    assert_eq!((status, body.as_str()), (200, V31EU));
    assert_eq!(
        server_cert,
        dualroad::tls::load_certs(&tls_file("server.pem")).unwrap()[0].to_vec()
    );
    // Same subject as the good certificate, but issued by an unrelated CA.
    let err = https_post(addr, client("ca.pem", Some("rogue")), V31EU)
        .await
        .expect_err("unknown CA refused");
    // No certificate at all, while the listener requires one.
    let err2 = https_post(addr, client("ca.pem", None), V31EU)
        .await
        .expect_err("no certificate refused");
    // A client that does not trust the gateway's CA gives up itself.
    let err3 = https_post(addr, client("other-ca.pem", Some("client-moh")), V31EU)
        .await
        .expect_err("client refuses an untrusted server");
    assert!(err3.contains("handshake"), "{err3}");
    assert_eq!(
        legacy.hits(),
        1,
        "refused clients never reach an upstream: {err} / {err2}"
    );
    assert!(
        metric_reaches(
            &gw,
            "dualroad_tls_handshake_failures_total",
            &[("listener", "agencies")],
            3.0
        )
        .await
            >= 3.0
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn certificate_claiming_another_client_gets_access_denied_in_its_dialect() {
    let (legacy, uxp) = plain_env().await;
    // moh-portal's certificate, by fingerprint, speaks for 10000042 (legacy name);
    // tax-office's, by subject, for the municipality desk by its UXP id.
    let bindings = format!(
        r#"
[[client_bindings]]
name = "moh-portal"
cert_sha256 = "{}"
clients = ["10000042"]
[[client_bindings]]
name = "tax-office"
cert_subject = "CN=tax-office, O=Tax Board, C=EE"
clients = ["PS-UXP/MUN/10000055/*"]
"#,
        fingerprint_of("client-moh.pem")
    );
    let text = config(
        &temp_dir("tls-bind"),
        &mtls_listener(),
        &format!("http://{}/", legacy.addr),
        "",
        &uxp,
        &bindings,
    );
    let gw = start(&text).await;
    let addr = gw.addr("agencies").unwrap();
    let moh = client("ca.pem", Some("client-moh"));
    let tax = client("ca.pem", Some("client-tax"));
    let muni = V31EU.replace("<xrd:consumer>10000042<", "<xrd:consumer>10000055<");

    let (status, body, _) = https_post(addr, moh.clone(), V31EU).await.unwrap();
    assert_eq!((status, body.as_str()), (200, V31EU));
    let (status, _, _) = https_post(addr, tax.clone(), &muni).await.unwrap();
    assert_eq!(
        status, 200,
        "a UXP id in the binding covers its legacy name"
    );
    assert_eq!(legacy.hits(), 2);

    // Valid certificates, claiming each other's client.
    let (status, body, _) = https_post(addr, tax, &with_id(V31EU, "claims-moh"))
        .await
        .unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("<faultcode>Client.AccessDenied</faultcode>")
            && body.contains("`10000042`")
            && body.contains("tax-office"),
        "{body}"
    );
    // In the client's own dialect: its v3.1-eu header echoed.
    assert!(
        body.contains("<xrd:consumer>10000042</xrd:consumer>")
            && body.contains("<xrd:id>claims-moh</xrd:id>"),
        "{body}"
    );
    let (status, body, _) = https_post(addr, moh, &muni).await.unwrap();
    assert_eq!(status, 403);
    assert!(
        body.contains("Client.AccessDenied") && body.contains("`10000055`"),
        "{body}"
    );
    assert_eq!(legacy.hits(), 2, "refused requests never reach an upstream");
    let m = &gw.shared.metrics;
    assert_eq!(
        m.counter_sum(
            "dualroad_client_identity_refused_total",
            &[("listener", "agencies"), ("reason", "not_allowed")]
        ),
        2.0
    );
    assert_eq!(
        m.counter_sum(
            "dualroad_faults_total",
            &[("code", "Client.AccessDenied"), ("side", "client")]
        ),
        2.0
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn source_address_binding_without_mutual_tls() {
    let (legacy, uxp) = plain_env().await;
    let loopback = r#"
[[client_bindings]]
name = "loopback-moh"
source = ["127.0.0.0/8", "::1/128"]
clients = ["10000042"]
"#;
    let text = config(
        &temp_dir("tls-src"),
        "",
        &format!("http://{}/", legacy.addr),
        "",
        &uxp,
        loopback,
    );
    let gw = start(&text).await;
    let addr = gw.addr("agencies").unwrap();
    let (status, body) = crate::gateway::post(addr, V31EU, XML).await;
    assert_eq!((status, body.as_str()), (200, V31EU));
    let muni = V31EU.replace("<xrd:consumer>10000042<", "<xrd:consumer>10000055<");
    let (status, body) = crate::gateway::post(addr, &muni, XML).await;
    assert_eq!(status, 403);
    assert!(
        body.contains("<faultcode>Client.AccessDenied</faultcode>")
            && body.contains("from 127.0.0.1")
            && body.contains("<xrd:consumer>10000055</xrd:consumer>"),
        "{body}"
    );
    gw.shutdown().await;

    // A range that does not include loopback: nobody here may speak for anyone.
    let text = config(
        &temp_dir("tls-src2"),
        "",
        &format!("http://{}/", legacy.addr),
        "",
        &uxp,
        &loopback.replace("[\"127.0.0.0/8\", \"::1/128\"]", "[\"10.1.0.0/16\"]"),
    );
    let gw = start(&text).await;
    let (status, body) = crate::gateway::post(gw.addr("agencies").unwrap(), V31EU, XML).await;
    assert_eq!(status, 403);
    assert!(
        body.contains("no client binding covers this connection"),
        "{body}"
    );
    assert_eq!(
        gw.shared.metrics.counter_sum(
            "dualroad_client_identity_refused_total",
            &[("reason", "unbound")]
        ),
        1.0
    );
    assert_eq!(legacy.hits(), 1);
    gw.shutdown().await;
}

/// A gateway whose legacy stack is `https://127.0.0.1:{port}/` with the upstream TLS
/// settings `tls`; `/readyz` must answer `expect_ready`; then one v3.1-eu request
/// through it, and shut down.
async fn through_https_upstream(
    dir: &str,
    port: u16,
    tls: &str,
    uxp: &Stub,
    expect_ready: u16,
) -> (u16, String) {
    let text = config(
        &temp_dir(dir),
        "",
        &format!("https://127.0.0.1:{port}/"),
        tls,
        uxp,
        "",
    );
    let gw = start(&text).await;
    // Readiness opens a connection the way a request would, TLS included.
    let (ready, why) =
        dualroad::admin::client::call(gw.admin, http::Method::GET, "/readyz", None, "test")
            .await
            .expect("readyz");
    assert_eq!(ready, expect_ready, "{why}");
    if ready != 200 {
        assert!(
            why.contains("TLS with upstream `legacy-ss` failed"),
            "{why}"
        );
    }
    let answer = crate::gateway::post(gw.addr("agencies").unwrap(), V31EU, XML).await;
    if answer.0 != 200 {
        // Every refusal is counted once, against the legacy stack.
        let code = "Server.ClientProxy.SslAuthenticationFailed";
        assert_eq!(
            gw.shared.metrics.counter_sum(
                "dualroad_faults_total",
                &[("code", code), ("side", "legacy")]
            ),
            1.0,
            "{}",
            answer.1
        );
    }
    gw.shutdown().await;
    answer
}

#[tokio::test]
async fn https_upstream_is_verified_and_a_wrong_ca_is_a_clear_fault() {
    let (_, uxp) = plain_env().await;
    let (good, good_hits) = tls_stub("server", None).await;
    let ca = format!("tls = {{ ca = \"{}\" }}", p("ca.pem"));
    let (status, body) = through_https_upstream("tls-up", good.port(), &ca, &uxp, 200).await;
    assert_eq!(
        (status, body.as_str()),
        (200, V31EU),
        "verified against its CA"
    );
    assert_eq!(good_hits.load(Ordering::SeqCst), 1);

    // The upstream's certificate comes from another CA.
    let (bad, bad_hits) = tls_stub("other-server", None).await;
    let (status, body) = through_https_upstream("tls-up2", bad.port(), &ca, &uxp, 503).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("<faultcode>Server.ClientProxy.SslAuthenticationFailed</faultcode>")
            && body.contains("upstream `legacy-ss`")
            && body.contains("certificate"),
        "{body}"
    );
    assert!(
        body.contains("<xrd:consumer>10000042</xrd:consumer>"),
        "{body}"
    );
    assert_eq!(bad_hits.load(Ordering::SeqCst), 0, "no request was sent");

    // Mutual TLS to the upstream, and a server_name other than the URL's host.
    let (mtls, mtls_hits) = tls_stub("server", Some("ca.pem")).await;
    let client_tls = |cert: &str| {
        format!(
            "tls = {{ ca = \"{}\", client_cert = \"{}\", client_key = \"{}\", server_name = \"localhost\" }}",
            p("ca.pem"),
            p(&format!("{cert}.pem")),
            p(&format!("{cert}.key"))
        )
    };
    let (status, body) =
        through_https_upstream("tls-up3", mtls.port(), &client_tls("client-moh"), &uxp, 200).await;
    assert_eq!((status, body.as_str()), (200, V31EU));
    assert_eq!(mtls_hits.load(Ordering::SeqCst), 1);

    // The same upstream refuses a client certificate from another CA. Under TLS 1.3
    // the refusal is an alert after our side of the handshake is done, so readiness
    // (which sends nothing) cannot see it; the request must still read as an
    // authentication failure, not as a network error.
    let (status, body) =
        through_https_upstream("tls-up4", mtls.port(), &client_tls("rogue"), &uxp, 200).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("<faultcode>Server.ClientProxy.SslAuthenticationFailed</faultcode>")
            && body.contains("upstream `legacy-ss`")
            && body.contains("refused the TLS session"),
        "{body}"
    );
    assert_eq!(mtls_hits.load(Ordering::SeqCst), 1, "no request was served");
}

#[tokio::test]
async fn reload_picks_up_a_renewed_certificate_and_keeps_it_over_a_broken_one() {
    let (legacy, uxp) = plain_env().await;
    let dir = temp_dir("tls-reload");
    let (cert, key) = (dir.join("gw.pem"), dir.join("gw.key"));
    std::fs::copy(tls_file("server.pem"), &cert).unwrap();
    std::fs::copy(tls_file("server.key"), &key).unwrap();
    // Relative paths: resolved against the config file's directory.
    let text = config(
        &dir.join("data"),
        "tls = { cert = \"gw.pem\", key = \"gw.key\" }",
        &format!("http://{}/", legacy.addr),
        "",
        &uxp,
        "",
    );
    let path = dir.join("dualroad.toml");
    std::fs::write(&path, &text).unwrap();
    let settings = Settings::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let gw = Gateway::start(
        settings,
        None,
        Some(path.clone()),
        dualroad::clock::system(),
    )
    .await
    .unwrap();
    let addr = gw.addr("agencies").unwrap();
    let der = |name: &str| dualroad::tls::load_certs(&tls_file(name)).unwrap()[0].to_vec();
    let trust = client("ca.pem", None);
    let (_, _, seen) = https_post(addr, trust.clone(), V31EU).await.unwrap();
    assert_eq!(seen, der("server.pem"));

    // The certificate is renewed in place; SIGHUP (here: reload) picks it up.
    std::fs::copy(tls_file("server2.pem"), &cert).unwrap();
    std::fs::copy(tls_file("server2.key"), &key).unwrap();
    let diff = gw.shared.reload("tester").await.unwrap();
    assert!(
        diff.iter()
            .any(|d| d.starts_with("listener agencies: tls cert: sha256 ")),
        "{diff:?}"
    );
    let (status, _, seen) = https_post(addr, trust.clone(), V31EU).await.unwrap();
    assert_eq!((status, seen), (200, der("server2.pem")));

    // A broken certificate is refused, named, and the renewed one stays in force.
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n").unwrap();
    let err = gw.shared.reload("tester").await.unwrap_err().to_string();
    assert!(
        err.contains("listeners[0].tls.cert") && err.contains(&cert.display().to_string()),
        "{err}"
    );
    // A key that does not belong to the certificate: refused too.
    std::fs::copy(tls_file("server2.pem"), &cert).unwrap();
    std::fs::copy(tls_file("server.key"), &key).unwrap();
    let err = gw.shared.reload("tester").await.unwrap_err().to_string();
    assert!(err.contains("gw.pem") && err.contains("gw.key"), "{err}");
    let (status, _, seen) = https_post(addr, trust, V31EU).await.unwrap();
    assert_eq!((status, seen), (200, der("server2.pem")));
    gw.shutdown().await;
}
