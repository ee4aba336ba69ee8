//! The admin listener's request requirements (docs/admin.md): a browser on the gateway
//! host must not be able to drive it. A cross-origin or non-JSON POST is refused (CSRF),
//! a `Host` that does not name the listener is refused (DNS rebinding), unknown paths
//! answer 404. Requests are written raw over loopback, so every header is the test's.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::gateway::{config_text, env_with, start};
use crate::stub::Behaviour;

const ROLLBACK: &str = r#"{"action":"rollback","reason":"csrf","actor":"attacker"}"#;

/// One raw HTTP/1.1 request; `headers` are written as given (Host included, or not).
/// Returns (status, body).
async fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.expect("read");
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A gateway with `admin_extra` added to `[admin]`; the stubs live as long as it does.
async fn gateway(admin_extra: &str) -> (crate::gateway::Env, dualroad::gateway::Gateway) {
    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    let text = config_text(&env, "uxp", "", "", 2000).replace(
        "[admin]\nlisten = \"127.0.0.1:0\"",
        &format!("[admin]\nlisten = \"127.0.0.1:0\"\n{admin_extra}"),
    );
    let gw = start(&text).await;
    (env, gw)
}

#[tokio::test]
async fn a_cross_origin_text_plain_post_is_refused_and_rolls_nothing_back() {
    let (_env, gw) = gateway("").await;
    let host = gw.admin.to_string();
    // What a page on another site can send without a preflight: a "simple" request.
    let (status, body) = raw(
        gw.admin,
        "POST",
        "/admin/switch",
        &[
            ("Host", &host),
            ("Origin", "http://evil.example"),
            ("Content-Type", "text/plain"),
        ],
        ROLLBACK,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("Origin"), "{body}");
    // Same-site page but text/plain: refused as well, by its type.
    let (status, body) = raw(
        gw.admin,
        "POST",
        "/admin/switch",
        &[("Host", &host), ("Content-Type", "text/plain")],
        ROLLBACK,
    )
    .await;
    assert_eq!(status, 415, "{body}");
    assert!(body.contains("application/json"), "{body}");
    assert!(
        gw.shared.switch().entries.is_empty(),
        "no rollback happened"
    );
    // A cross-origin JSON POST is refused too (the Origin check does not rely on CORS).
    let (status, _) = raw(
        gw.admin,
        "POST",
        "/admin/switch",
        &[
            ("Host", &host),
            ("Origin", "null"),
            ("Content-Type", "application/json"),
        ],
        ROLLBACK,
    )
    .await;
    assert_eq!(status, 403);
    assert!(
        gw.shared.switch().entries.is_empty(),
        "no rollback happened"
    );
    // The listener's own origin with JSON is the operator: accepted.
    let origin = format!("http://{host}");
    let (status, body) = raw(
        gw.admin,
        "POST",
        "/admin/switch",
        &[
            ("Host", &host),
            ("Origin", &origin),
            ("Content-Type", "application/json; charset=utf-8"),
        ],
        ROLLBACK,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(gw.shared.switch().entries.len(), 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_host_that_does_not_name_the_listener_is_refused() {
    let (_env, gw) = gateway("").await;
    let port = gw.admin.port();
    // DNS rebinding: the attacker's name now resolves to 127.0.0.1.
    for host in [
        format!("rebind.evil.example:{port}"),
        "rebind.evil.example".to_string(),
        format!("localhost:{}", port.wrapping_add(1)),
    ] {
        let (status, body) = raw(gw.admin, "GET", "/admin/settings", &[("Host", &host)], "").await;
        assert_eq!(status, 421, "{host}: {body}");
        assert!(body.contains("Host"), "{body}");
    }
    let (status, _) = raw(gw.admin, "GET", "/admin/settings", &[], "").await;
    assert!(status == 400 || status == 421, "no Host: {status}");
    // The listener's own names are accepted, any case.
    for host in [
        gw.admin.to_string(),
        format!("localhost:{port}"),
        format!("LocalHost:{port}"),
        format!("127.0.0.1:{port}"),
    ] {
        let (status, body) = raw(gw.admin, "GET", "/healthz", &[("Host", &host)], "").await;
        assert_eq!((status, body.as_str()), (200, "ok\n"), "{host}");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn allowed_hosts_are_accepted_as_host_and_origin() {
    let (_env, gw) = gateway(
        "allow_remote = true\nallowed_hosts = [\"admin.gw.example\", \"ops.example:8443\"]",
    )
    .await;
    let port = gw.admin.port();
    for host in [
        "admin.gw.example".to_string(),
        format!("admin.gw.example:{port}"),
        "ops.example:8443".to_string(),
    ] {
        let (status, body) = raw(gw.admin, "GET", "/healthz", &[("Host", &host)], "").await;
        assert_eq!(status, 200, "{host}: {body}");
    }
    for host in ["ops.example", "other.gw.example"] {
        let (status, _) = raw(gw.admin, "GET", "/healthz", &[("Host", host)], "").await;
        assert_eq!(status, 421, "{host}");
    }
    // An authenticating proxy in front terminates TLS: its https origin is the page's.
    let (status, body) = raw(
        gw.admin,
        "POST",
        "/admin/switch",
        &[
            ("Host", "admin.gw.example"),
            ("Origin", "https://admin.gw.example"),
            ("Content-Type", "application/json"),
        ],
        ROLLBACK,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = raw(
        gw.admin,
        "GET",
        "/admin/switch",
        &[
            ("Host", "admin.gw.example"),
            ("Origin", "https://evil.example"),
        ],
        "",
    )
    .await;
    assert_eq!(status, 403);
    gw.shutdown().await;
}

#[tokio::test]
async fn non_json_posts_are_415_and_unknown_paths_404() {
    let (_env, gw) = gateway("").await;
    let host = gw.admin.to_string();
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonp"),
    ] {
        let mut headers = vec![("Host", host.as_str())];
        if let Some(ct) = ct {
            headers.push(("Content-Type", ct));
        }
        let (status, body) = raw(gw.admin, "POST", "/admin/reload", &headers, "{}").await;
        assert_eq!(status, 415, "{ct:?}: {body}");
    }
    for (method, path) in [
        ("GET", "/admin/nothing"),
        ("POST", "/admin/nothing"),
        ("GET", "/admin"),
        ("GET", "/"),
        ("DELETE", "/admin/switches"),
    ] {
        let (status, body) = raw(
            gw.admin,
            method,
            path,
            &[("Host", &host), ("Content-Type", "application/json")],
            "",
        )
        .await;
        assert_eq!(
            (status, body.as_str()),
            (404, "not found\n"),
            "{method} {path}"
        );
    }
    // A known path with the wrong method is still 405.
    let (status, _) = raw(gw.admin, "DELETE", "/admin/switch", &[("Host", &host)], "").await;
    assert_eq!(status, 405);
    // The CLI client sends what the listener requires.
    let (status, body) = dualroad::admin::client::call(
        gw.admin,
        http::Method::POST,
        "/admin/switch",
        Some(ROLLBACK.as_bytes().to_vec()),
        "test",
    )
    .await
    .expect("call");
    assert_eq!(status, 200, "{body}");
    assert_eq!(gw.shared.switch().entries.len(), 1);
    gw.shutdown().await;
}
