//! Accept loops: HTTP/1.1 with keep-alive, a header read timeout (slowloris), a header
//! size limit, a global connection limit with a clear refusal, and graceful shutdown
//! that lets in-flight requests finish.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::proxy::pipeline::{handle, ListenerKind};
use crate::proxy::{Shared, DEFAULT_SHUTDOWN_GRACE};
use crate::telemetry::events::names;

/// Largest request head accepted (request line + headers).
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;

/// The answer for a connection that arrives when `max_connections` are open: a complete
/// HTTP response with a SOAP fault, then close — a client sees why, not a reset.
fn refusal() -> Vec<u8> {
    let body = crate::wire::fault::Rescue::bare().fault_message(
        &crate::error::FaultCode("Server.ClientProxy.OutOfCapacity".into()),
        "dualroad is at its connection limit (max_connections); retry shortly",
        "-",
    );
    let mut out = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/xml; charset=utf-8\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

/// Serves one SOAP listener until `stop` turns true, then drains its connections.
pub async fn serve_soap(
    listener: TcpListener,
    shared: Arc<Shared>,
    name: String,
    kind: ListenerKind,
    slots: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let name: Arc<str> = Arc::from(name.as_str());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (mut stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    shared.metrics.inc(names::CONNECTIONS_REFUSED, &[("listener", &name)]);
                    tokio::spawn(async move {
                        let _ = stream.write_all(&refusal()).await;
                        let _ = stream.shutdown().await;
                    });
                    continue;
                };
                let limits = shared.active().settings.limits.clone();
                let (shared, name, kind) = (shared.clone(), name.clone(), kind.clone());
                let svc = service_fn(move |req| {
                    let (shared, name, kind) = (shared.clone(), name.clone(), kind.clone());
                    async move {
                        let span = tracing::info_span!("request", listener = %name, %peer);
                        Ok::<_, Infallible>(tracing::Instrument::instrument(handle(shared, name, kind, req), span).await)
                    }
                });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(limits.header_read_timeout)
                    .max_buf_size(DEFAULT_MAX_HEADER_BYTES.max(8192))
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), svc);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, "connection ended: {e}");
                    }
                    drop(permit);
                });
            }
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(DEFAULT_SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(listener = %name, "connections still open after the grace period");
    }
}

/// Plain-text HTTP response helper shared with the admin listener.
pub fn text(
    status: u16,
    content_type: &str,
    body: impl Into<Bytes>,
) -> http::Response<http_body_util::Full<Bytes>> {
    let mut r = http::Response::new(http_body_util::Full::new(body.into()));
    *r.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}
