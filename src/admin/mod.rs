//! The admin listener (loopback by default): health, readiness, Prometheus metrics, the
//! effective rollout, the rollback switch, reloads and the audit log. Operators and the
//! `dualroad switch|audit` commands talk to a running gateway through it.
//!
//! | route | |
//! |---|---|
//! | `GET /healthz` | process is up |
//! | `GET /readyz` | store open and every upstream accepts a connection (TCP, and the TLS handshake with verification for https) |
//! | `GET /metrics` | Prometheus text format |
//! | `GET /admin/rollout` | effective rules, fallback and switch state (JSON) |
//! | `GET /admin/settings` | the resolved settings (JSON) |
//! | `GET /admin/switch` · `POST /admin/switch` | switch state · `{"action":"rollback"\|"release","agency","service","reason","actor"}` |
//! | `POST /admin/reload` | re-read the config file; 400 with the reasons if refused |
//! | `GET /admin/audit` · `GET /admin/audit/verify` | audit entries · chain verification |
//! | `GET /admin/report` · `GET /admin/report.json` | migration report, HTML · JSON (`?agency=&since=&until=`) |
//!
//! Before any route runs, [`host::HostPolicy`] refuses a `Host` that does not name the
//! listener (421) and a foreign `Origin` (403); a POST must be `application/json`
//! (415); an unknown path is 404, a known one with another method 405 (docs/admin.md).

pub mod client;
pub mod host;
pub mod report;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::net;
use crate::proxy::server::text;
use crate::proxy::{Shared, DEFAULT_SHUTDOWN_GRACE};
use crate::routing::SwitchScope;

/// Largest admin request body.
pub const DEFAULT_ADMIN_BODY_BYTES: usize = 64 * 1024;
/// How long a client may take to send a request head.
pub const ADMIN_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long readiness waits for each upstream's TCP handshake.
pub const DEFAULT_READY_PROBE: Duration = Duration::from_millis(500);

type Resp = Response<Full<Bytes>>;

/// A switch change requested over the admin API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchRequest {
    pub action: SwitchAction,
    #[serde(default)]
    pub agency: Option<String>,
    #[serde(default)]
    pub service: Option<String>,
    pub reason: String,
    pub actor: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SwitchAction {
    Rollback,
    Release,
}

fn json(status: u16, v: &impl Serialize) -> Resp {
    match serde_json::to_vec_pretty(v) {
        Ok(b) => text(status, "application/json", b),
        Err(e) => text(500, "text/plain", format!("cannot serialize: {e}")),
    }
}

pub async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    // The bound address, not `[admin] listen`: with port 0 only this one is real.
    let bound = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "Admin listener has no local address; not serving.");
            return;
        }
    };
    // `[admin]` cannot change on reload, so the names are fixed for the listener's life.
    let policy = Arc::new(host::HostPolicy::new(
        bound,
        &shared.active().settings.admin.allowed_hosts,
    ));
    // An operator's tool: no connection limits (it listens on loopback by default).
    let opts = net::Options::new("admin", DEFAULT_SHUTDOWN_GRACE);
    let admin = Arc::new(Admin { shared, policy });
    net::serve(listener, opts, admin, async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    })
    .await;
}

/// The admin listener, as the accept loop sees it.
struct Admin {
    shared: Arc<Shared>,
    policy: Arc<host::HostPolicy>,
}

impl net::Connections for Admin {
    async fn serve(self: Arc<Self>, conn: net::Accepted) {
        let svc = service_fn(move |req| {
            let shared = self.shared.clone();
            let policy = self.policy.clone();
            async move { Ok::<_, Infallible>(guarded(shared, &policy, req).await) }
        });
        let http = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(ADMIN_HEADER_READ_TIMEOUT)
            .serve_connection(TokioIo::new(conn.stream), svc);
        let _ = conn.drain.serve(http).await;
    }
}

async fn body_of(req: Request<Incoming>) -> Result<Bytes, Resp> {
    match Limited::new(req.into_body(), DEFAULT_ADMIN_BODY_BYTES)
        .collect()
        .await
    {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => Err(text(
            400,
            "text/plain",
            format!("cannot read request body: {e}\n"),
        )),
    }
}

fn actor_of<B>(req: &Request<B>) -> String {
    req.headers()
        .get("x-dualroad-actor")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| "admin-api".into())
}

/// Methods each admin path answers; `None` for an unknown path.
fn methods_of(path: &str) -> Option<&'static [Method]> {
    const GET: &[Method] = &[Method::GET];
    const POST: &[Method] = &[Method::POST];
    const BOTH: &[Method] = &[Method::GET, Method::POST];
    match path {
        "/healthz"
        | "/readyz"
        | "/metrics"
        | "/admin/rollout"
        | "/admin/settings"
        | "/admin/audit"
        | "/admin/audit/verify"
        | "/admin/report"
        | "/admin/report.json" => Some(GET),
        "/admin/switch" => Some(BOTH),
        "/admin/reload" => Some(POST),
        _ => None,
    }
}

/// `application/json`, parameters (`; charset=utf-8`) allowed, any case.
fn is_json<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// The request requirements (docs/admin.md), then [`route`].
async fn guarded(shared: Arc<Shared>, policy: &host::HostPolicy, req: Request<Incoming>) -> Resp {
    let refuse_host = |what: &str| {
        text(
            421,
            "text/plain",
            format!(
                "{what} does not name this admin listener (DNS rebinding guard); \
                 use one of: {}; other names go in [admin] allowed_hosts \
                 (with allow_remote = true)\n",
                policy.expected()
            ),
        )
    };
    let host = req
        .headers()
        .get(http::header::HOST)
        .map(|v| v.to_str().unwrap_or("\u{fffd}"));
    match host {
        None => return text(400, "text/plain", "a Host header is required\n"),
        Some(h) if !policy.accepts_host(h) => {
            return refuse_host(&format!("Host `{}`", h.escape_debug()))
        }
        Some(_) => {}
    }
    // An absolute-form target carries its own authority, which then wins over Host.
    if let Some(a) = req.uri().authority() {
        if !policy.accepts_host(a.as_str()) {
            return refuse_host(&format!("request target authority `{a}`"));
        }
    }
    if let Some(origin) = req.headers().get(http::header::ORIGIN) {
        let o = origin.to_str().unwrap_or("\u{fffd}");
        if !policy.accepts_origin(o) {
            return text(
                403,
                "text/plain",
                format!(
                    "Origin `{}` is not this admin listener's own origin (cross-site \
                     request refused); a page served by the listener, or a client that \
                     sends no Origin, is accepted\n",
                    o.escape_debug()
                ),
            );
        }
    }
    let Some(methods) = methods_of(req.uri().path()) else {
        return text(404, "text/plain", "not found\n");
    };
    if !methods.contains(req.method()) {
        let allow = methods
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        let mut r = text(405, "text/plain", "method not allowed\n");
        if let Ok(v) = http::HeaderValue::from_str(&allow) {
            r.headers_mut().insert(http::header::ALLOW, v);
        }
        return r;
    }
    if req.method() == Method::POST && !is_json(&req) {
        return text(
            415,
            "text/plain",
            "a POST to the admin API must have Content-Type: application/json\n",
        );
    }
    route(shared, req).await
}

async fn route(shared: Arc<Shared>, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_string();
    match (req.method().clone(), path.as_str()) {
        (Method::GET, "/healthz") => text(200, "text/plain", "ok\n"),
        (Method::GET, "/readyz") => readyz(&shared).await,
        (Method::GET, "/metrics") => {
            text(200, "text/plain; version=0.0.4", shared.metrics.render())
        }
        (Method::GET, "/admin/rollout") => {
            let active = shared.active();
            let policy = &active.settings.rollout;
            json(
                200,
                &serde_json::json!({
                    "fallback": policy.fallback(),
                    "rules": policy.rules(),
                    "switch": &*shared.switch(),
                    "config_hash": active.settings.hash(),
                }),
            )
        }
        (Method::GET, "/admin/settings") => json(200, &shared.active().settings),
        (Method::GET, "/admin/switch") => json(200, &*shared.switch()),
        (Method::POST, "/admin/switch") => {
            let body = match body_of(req).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let sr: SwitchRequest = match serde_json::from_slice(&body) {
                Ok(s) => s,
                Err(e) => return text(400, "text/plain", format!("bad switch request: {e}\n")),
            };
            if sr.reason.trim().is_empty() {
                return text(400, "text/plain", "a reason is required\n");
            }
            let scope = SwitchScope::new(sr.agency.as_deref(), sr.service.as_deref());
            if let Err(e) = scope.validate() {
                return text(400, "text/plain", format!("invalid scope: {e}\n"));
            }
            let r = match sr.action {
                SwitchAction::Rollback => shared.rollback(scope, &sr.actor, &sr.reason).await,
                SwitchAction::Release => shared.release(scope, &sr.actor, &sr.reason).await,
            };
            match r {
                Ok(state) => json(200, &state),
                Err(e) => text(409, "text/plain", format!("{e}\n")),
            }
        }
        (Method::POST, "/admin/reload") => {
            let actor = actor_of(&req);
            match shared.reload(&actor).await {
                Ok(diff) => json(
                    200,
                    &serde_json::json!({ "reloaded": true, "changes": diff }),
                ),
                Err(e) => text(
                    400,
                    "text/plain",
                    format!("reload refused, previous configuration stays in force:\n{e}\n"),
                ),
            }
        }
        (Method::GET, "/admin/audit") => match shared.store.audit_entries() {
            Ok(entries) => json(200, &entries),
            Err(e) => text(500, "text/plain", format!("{e}\n")),
        },
        (Method::GET, "/admin/audit/verify") => match shared.store.verify_audit() {
            Ok(report) => json(if report.ok { 200 } else { 409 }, &report),
            Err(e) => text(500, "text/plain", format!("{e}\n")),
        },
        (Method::GET, "/admin/report") => {
            let q = req.uri().query().map(str::to_string);
            report::respond(shared, q.as_deref(), crate::report::render::Format::Html).await
        }
        (Method::GET, "/admin/report.json") => {
            let q = req.uri().query().map(str::to_string);
            report::respond(shared, q.as_deref(), crate::report::render::Format::Json).await
        }
        // `guarded` lets only the pairs of `methods_of` through.
        _ => text(404, "text/plain", "not found\n"),
    }
}

async fn readyz(shared: &Shared) -> Resp {
    let active = shared.active();
    let mut problems = Vec::new();
    if let Err(e) = shared.store.switch_state() {
        problems.push(format!("store: {e}"));
    }
    // Sorted, so the answer reads the same every time.
    let mut clients: Vec<_> = active.upstreams.values().collect();
    clients.sort_by(|a, b| a.upstream.name.cmp(&b.upstream.name));
    for client in clients {
        if let Err(e) = client.probe(DEFAULT_READY_PROBE).await {
            problems.push(e.to_string());
        }
    }
    if problems.is_empty() {
        text(200, "text/plain", "ready\n")
    } else {
        text(
            503,
            "text/plain",
            format!("not ready:\n{}\n", problems.join("\n")),
        )
    }
}
