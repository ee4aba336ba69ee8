//! Limits against slow or hostile clients, through the running gateway: header size and
//! count, the connection limit's refusal, DTDs and deep headers, and a TLS handshake
//! that never comes. (Header and body read timeouts: `gateway::
//! slow_client_is_cut_off_by_the_header_timeout`; body size: `gateway::
//! bad_client_input_gets_faults`.)

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::gateway::{config_text, env_with, post, start, V31EU};
use crate::stub::Behaviour;
use crate::support::{eventually, eventually_async};

const XML: &str = "text/xml; charset=utf-8";
/// Hang guard only.
const GUARD: Duration = Duration::from_secs(20);

/// Writes `request` on a fresh connection and reads until the gateway closes it.
async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(GUARD, s.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf).into_owned()
}

fn request_with_headers(extra: &str) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\nhost: x\r\ncontent-type: text/xml\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n{V31EU}",
        V31EU.len()
    )
    .into_bytes()
}

#[tokio::test]
async fn oversized_or_too_many_headers_get_431_with_a_fault_in_the_clients_dialect() {
    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    let gw = start(&config_text(
        &env,
        "legacy",
        "",
        "max_header_bytes = 2048\nmax_headers = 10",
        2000,
    ))
    .await;
    let addr = gw.addr("agencies").unwrap();
    // Within both limits: served.
    let ok = raw(addr, &request_with_headers("x-a: 1\r\n")).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    // One 3 KiB header: over max_header_bytes, answered as SOAP in the client's
    // dialect (v3.1-eu: SOAP 1.1, its header echoed) naming the limit.
    let big = format!("x-big: {}\r\n", "a".repeat(3000));
    let r = raw(addr, &request_with_headers(&big)).await;
    assert!(r.starts_with("HTTP/1.1 431"), "{r}");
    assert!(
        r.contains("<faultcode>Client.BadRequest</faultcode>")
            && r.contains("limits.max_header_bytes")
            && r.contains("<xrd:consumer>10000042</xrd:consumer>"),
        "{r}"
    );
    // Twenty small ones: over max_headers.
    let many: String = (0..20).map(|i| format!("x-h{i}: {i}\r\n")).collect();
    let r = raw(addr, &request_with_headers(&many)).await;
    assert!(r.starts_with("HTTP/1.1 431"), "{r}");
    assert!(
        r.contains("<faultcode>Client.BadRequest</faultcode>") && r.contains("limits.max_headers"),
        "{r}"
    );
    // Past hyper's backstop (4 x the limits) the head is refused before any parsing
    // of ours: still 431, without a body, and the connection closes.
    let huge = format!("x-big: {}\r\n", "a".repeat(2048 * 4 + 100));
    let r = raw(addr, &request_with_headers(&huge)).await;
    assert!(r.starts_with("HTTP/1.1 431"), "{r}");
    let flood: String = (0..60).map(|i| format!("x-h{i}: {i}\r\n")).collect();
    let r = raw(addr, &request_with_headers(&flood)).await;
    assert!(r.starts_with("HTTP/1.1 431"), "{r}");
    assert_eq!(env.legacy.hits(), 1);
    assert_eq!(
        gw.shared
            .metrics
            .counter_sum("dualroad_faults_total", &[("code", "Client.BadRequest")]),
        2.0,
        "the two SOAP refusals are counted"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn connection_limit_refuses_clearly_and_recovers() {
    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    let gw = start(&config_text(
        &env,
        "legacy",
        "",
        "max_connections = 1",
        2000,
    ))
    .await;
    let addr = gw.addr("agencies").unwrap();
    // One idle connection holds the only slot …
    let held = TcpStream::connect(addr).await.unwrap();
    // … so the next one is told why, in a SOAP fault, and closed.
    let r = raw(addr, &request_with_headers("")).await;
    assert!(
        r.starts_with("HTTP/1.1 503") && r.contains("Server.ClientProxy.OutOfCapacity"),
        "{r}"
    );
    assert!(
        gw.shared.metrics.counter_sum(
            "dualroad_connections_refused_total",
            &[("listener", "agencies")]
        ) >= 1.0
    );
    // The slot comes back when the connection goes.
    drop(held);
    // The gateway frees the slot when it sees the close; until then it still refuses.
    let served = eventually_async(|| async {
        raw(addr, &request_with_headers(""))
            .await
            .starts_with("HTTP/1.1 200")
    })
    .await;
    assert!(served, "a freed slot serves again");
    gw.shutdown().await;
}

#[tokio::test]
async fn dtds_and_deep_headers_never_reach_an_upstream() {
    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    let gw = start(&config_text(&env, "legacy", "", "", 2000)).await;
    let addr = gw.addr("agencies").unwrap();
    // Entity expansion ("billion laughs") and an external entity (XXE).
    for doctype in [
        r#"<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>"#,
        r#"<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>"#,
    ] {
        let msg = V31EU.replacen("?>", &format!("?>{doctype}"), 1);
        assert!(
            msg.contains("<!DOCTYPE"),
            "fixture starts with an XML declaration"
        );
        let (status, body) = post(addr, &msg, XML).await;
        assert_eq!(status, 500, "{body}");
        assert!(
            body.contains("<faultcode>Client.InvalidXml</faultcode>") && body.contains("DTD"),
            "{body}"
        );
    }
    // Header nesting beyond the fixed depth limit.
    let deep = format!("{}x{}", "<d>".repeat(40), "</d>".repeat(40));
    let msg = V31EU.replacen(
        "</SOAP-ENV:Header>",
        &format!("<xrd:extra>{deep}</xrd:extra></SOAP-ENV:Header>"),
        1,
    );
    assert!(msg.contains("<xrd:extra>"), "fixture has a SOAP-ENV:Header");
    let (status, body) = post(addr, &msg, XML).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("Client.InvalidXml") && body.contains("nesting deeper than 32"),
        "{body}"
    );
    // The same element, shallow, is fine: it was the depth that was refused.
    let shallow = V31EU.replacen(
        "</SOAP-ENV:Header>",
        "<xrd:extra><d>x</d></xrd:extra></SOAP-ENV:Header>",
        1,
    );
    let (status, body) = post(addr, &shallow, XML).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(env.legacy.hits(), 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_tls_handshake_that_never_comes_is_cut_off() {
    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    let tls = crate::support::repo().join("fixtures/tls");
    let text = config_text(&env, "legacy", "", "header_read_timeout_ms = 200", 2000).replace(
        "name = \"agencies\"\nrole = \"consumer\"\nlisten = \"127.0.0.1:0\"\n",
        &format!(
            "name = \"agencies\"\nrole = \"consumer\"\nlisten = \"127.0.0.1:0\"\ntls = {{ cert = \"{0}/server.pem\", key = \"{0}/server.key\" }}\n",
            tls.display()
        ),
    );
    assert!(text.contains("server.pem"));
    let gw = start(&text).await;
    let mut s = TcpStream::connect(gw.addr("agencies").unwrap())
        .await
        .unwrap();
    // Half a ClientHello record header, then silence.
    s.write_all(&[0x16, 0x03]).await.unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(GUARD, s.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "the gateway closed the silent connection");
    let failures = || {
        gw.shared.metrics.counter_sum(
            "dualroad_tls_handshake_failures_total",
            &[("listener", "agencies")],
        )
    };
    eventually(|| failures() >= 1.0).await;
    assert_eq!(failures(), 1.0);
    gw.shutdown().await;
}

/// A header element carrying `n` attributes (`a0="0" a1="1" …`).
fn with_attributes(n: usize) -> String {
    let attrs: String = (0..n).map(|i| format!(" a{i}=\"{i}\"")).collect();
    let msg = V31EU.replacen("<xrd:consumer>", &format!("<xrd:consumer{attrs}>"), 1);
    assert!(msg.len() > n * 8, "fixture has an xrd:consumer");
    msg
}

/// Attributes and namespace declarations per element are capped before any of them is
/// decoded: 50 000 attributes on one header element cost a Client fault, not a
/// quadratic duplicate check, and the gateway keeps serving a normal client meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_thousand_attributes_get_a_client_fault_while_a_normal_client_is_served() {
    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    let gw = start(&config_text(&env, "legacy", "", "", 2000)).await;
    let addr = gw.addr("agencies").unwrap();
    let hostile = with_attributes(50_000);
    let hostile_request = format!(
        "POST / HTTP/1.1\r\nhost: x\r\ncontent-type: {XML}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{hostile}",
        hostile.len()
    )
    .into_bytes();
    // More hostile requests than the runtime has workers, each completely sent …
    let mut conns = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(&hostile_request).await.unwrap();
        conns.push(s);
    }
    // … and only then the normal one, which is answered.
    let (status, body) = tokio::time::timeout(GUARD, post(addr, V31EU, XML))
        .await
        .expect("the normal request is answered");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, V31EU);
    for mut s in conns {
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(GUARD, s.read_to_end(&mut buf)).await;
        let r = String::from_utf8_lossy(&buf);
        assert!(r.starts_with("HTTP/1.1 500"), "{r}");
        assert!(
            r.contains("<faultcode>Client.InvalidXml</faultcode>")
                && r.contains("limits.max_attributes_per_element"),
            "{r}"
        );
    }
    assert_eq!(
        env.legacy.hits(),
        1,
        "only the normal request reached a stack"
    );
    // The same number of namespace declarations on one element: refused likewise.
    let decls: String = (0..50_000)
        .map(|i| format!(" xmlns:n{i}=\"urn:n{i}\""))
        .collect();
    let msg = V31EU.replacen("<xrd:consumer>", &format!("<xrd:consumer{decls}>"), 1);
    let (status, body) = post(addr, &msg, XML).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("<faultcode>Client.InvalidXml</faultcode>")
            && body.contains("limits.max_namespace_declarations_per_element"),
        "{body}"
    );
    assert_eq!(env.legacy.hits(), 1);
    gw.shutdown().await;
}

/// Opens a connection to `addr` from the loopback source address `source`.
async fn connect_from(source: [u8; 4], addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::from((source, 0)))
        .expect("bind a second loopback address");
    socket.connect(addr).await.unwrap()
}

/// Reads one complete HTTP response (head and `content-length` body) from a
/// connection that stays open.
async fn read_response(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return text;
            }
        }
        let n = tokio::time::timeout(GUARD, s.read(&mut chunk))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "closed before a whole answer: {text}");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// One client holding idle connections cannot make the gateway refuse everyone else:
/// with `max_connections_per_source = 4`, a client on 127.0.0.2 that opens as many
/// connections as the whole listener allows gets four, its others are refused at
/// once without taking a slot, and a client on 127.0.0.1 is still served.
#[tokio::test]
async fn one_source_holding_idle_connections_cannot_starve_the_others() {
    let env = env_with(Behaviour::Echo, Behaviour::Echo).await;
    let gw = start(&config_text(
        &env,
        "legacy",
        "",
        "max_connections = 6\nmax_connections_per_source = 4",
        2000,
    ))
    .await;
    let addr = gw.addr("agencies").unwrap();
    let keep_alive = format!(
        "POST / HTTP/1.1\r\nhost: x\r\ncontent-type: text/xml\r\ncontent-length: {}\r\n\r\n{V31EU}",
        V31EU.len()
    );
    // Four connections from 127.0.0.2, each served once and then held idle.
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = connect_from([127, 0, 0, 2], addr).await;
        s.write_all(keep_alive.as_bytes()).await.unwrap();
        let r = read_response(&mut s).await;
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        held.push(s);
    }
    // Two more from the same address, enough to fill the listener's six slots: the
    // gateway accepts in order, so both are judged before the client below arrives.
    let mut over = Vec::new();
    for _ in 0..2 {
        over.push(connect_from([127, 0, 0, 2], addr).await);
    }
    // A normal client on another address is served.
    let r = raw(addr, &request_with_headers("")).await;
    assert!(r.starts_with("HTTP/1.1 200") && r.ends_with(V31EU), "{r}");
    // The connections over the per-source limit were told why and closed.
    for mut s in over {
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(GUARD, s.read_to_end(&mut buf)).await;
        let r = String::from_utf8_lossy(&buf);
        assert!(
            r.starts_with("HTTP/1.1 503")
                && r.contains("Server.ClientProxy.OutOfCapacity")
                && r.contains("max_connections_per_source")
                && r.contains("connection: close"),
            "{r}"
        );
    }
    let m = &gw.shared.metrics;
    assert_eq!(
        m.counter_sum(
            "dualroad_connections_refused_per_source_total",
            &[("listener", "agencies")]
        ),
        2.0
    );
    assert_eq!(
        m.counter_sum(
            "dualroad_connections_refused_total",
            &[("listener", "agencies")]
        ),
        0.0,
        "the listener's own limit was never reached"
    );
    // The held connections still work.
    for s in &mut held {
        s.write_all(keep_alive.as_bytes()).await.unwrap();
        let r = read_response(s).await;
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    }
    assert_eq!(env.legacy.hits(), 9);
    gw.shutdown().await;
}
