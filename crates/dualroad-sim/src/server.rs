//! The thin I/O shell around [`respond`]: an HTTP/1.1 server (hyper, keep-alive, on
//! the shared accept loop [`crate::net::serve`]) that
//! reads each request body (up to the wire layer's size limit), waits `latency`,
//! and writes what the pure core answered. Any path is served (`/`,
//! `/cgi-bin/consumer_proxy`, …), as a security server's consumer port would.
//!
//! Shutdown is graceful: when the `shutdown` future completes, the listener closes,
//! in-flight requests finish (bounded by [`DEFAULT_SHUTDOWN_GRACE`]), and idle
//! keep-alive connections are closed.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::net;
use crate::wire::message::DEFAULT_MAX_MESSAGE_BYTES;
use crate::wire::WireError;

use super::respond::{reject, respond, Outcome, Request, SimResponse};
use super::{SimConfig, SimError, SimKind, UXP_TRANSACTION_ID_HEADER};

/// How long in-flight requests may take to finish after shutdown is requested.
pub(super) const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Serves `cfg` on `listener` until `shutdown` completes (no connection limits).
pub async fn serve(listener: TcpListener, cfg: SimConfig, shutdown: impl Future<Output = ()>) {
    let opts = net::Options::new(&format!("{} simulator", cfg.kind), DEFAULT_SHUTDOWN_GRACE);
    net::serve(listener, opts, Arc::new(Sim(Arc::new(cfg))), shutdown).await;
}

/// One simulator, as the accept loop sees it.
struct Sim(Arc<SimConfig>);

impl net::Connections for Sim {
    async fn serve(self: Arc<Self>, conn: net::Accepted) {
        let cfg = Arc::clone(&self.0);
        let svc = service_fn(move |req| handle(Arc::clone(&cfg), req));
        let http = http1::Builder::new()
            .keep_alive(true)
            .serve_connection(TokioIo::new(conn.stream), svc);
        if let Err(e) = conn.drain.serve(http).await {
            tracing::debug!(peer = %conn.peer, error = %e, "simulator connection ended with an error");
        }
    }
}

async fn handle(
    cfg: Arc<SimConfig>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header("content-type");
    let soap_action = header("soapaction");
    let bytes = match Limited::new(body, DEFAULT_MAX_MESSAGE_BYTES)
        .collect()
        .await
    {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            let err = if e.is::<http_body_util::LengthLimitError>() {
                WireError::TooLarge {
                    size: DEFAULT_MAX_MESSAGE_BYTES + 1,
                    limit: DEFAULT_MAX_MESSAGE_BYTES,
                }
            } else {
                WireError::InvalidXml(format!("the request body could not be read: {e}"))
            };
            let txid = (cfg.kind == SimKind::Uxp).then(uuid::Uuid::new_v4);
            let answer = reject(&cfg, content_type.as_deref(), txid, SimError::Wire(err));
            return Ok(to_http(&cfg, answer));
        }
    };
    if !cfg.latency.is_zero() {
        tokio::time::sleep(cfg.latency).await;
    }
    let request = Request {
        method: parts.method.clone(),
        content_type: content_type.as_deref(),
        soap_action: soap_action.as_deref(),
        body: &bytes,
        transaction_id: (cfg.kind == SimKind::Uxp).then(uuid::Uuid::new_v4),
    };
    let answer = respond(&cfg, &request);
    match &answer.outcome {
        Outcome::Answered {
            service,
            dialect,
            diverged,
        } => tracing::debug!(
            sim = %cfg.kind, path = %parts.uri.path(), ?service, %dialect, ?diverged,
            "answered"
        ),
        Outcome::Fault { code, reason } => {
            tracing::debug!(sim = %cfg.kind, path = %parts.uri.path(), %code, %reason, "fault")
        }
    }
    Ok(to_http(&cfg, answer))
}

fn to_http(cfg: &SimConfig, r: SimResponse) -> hyper::Response<Full<Bytes>> {
    let mut resp = hyper::Response::new(Full::new(Bytes::from(r.body)));
    *resp.status_mut() = r.status;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&r.content_type) {
        h.insert(CONTENT_TYPE, v);
    }
    if let Some(allow) = r.allow {
        h.insert(ALLOW, HeaderValue::from_static(allow));
    }
    if cfg.kind == SimKind::Uxp {
        if let Some(Ok(v)) = r.transaction_id.as_deref().map(HeaderValue::from_str) {
            h.insert(UXP_TRANSACTION_ID_HEADER, v);
        }
    }
    resp
}
