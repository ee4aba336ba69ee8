//! Accept loops: HTTP/1.1 (over TLS when the listener has `tls`) with keep-alive, a
//! header read timeout (slowloris; it also bounds the TLS handshake), header size and
//! count limits, a per-listener connection limit with a clear refusal, and graceful
//! shutdown that lets in-flight requests finish. Each connection's identity (source
//! address, verified client certificate) travels with its requests for
//! `proxy::identity`.

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

use crate::config::Limits;
use crate::proxy::identity::{ConnIdentity, PeerCert};
use crate::proxy::pipeline::{handle, ListenerKind};
use crate::proxy::{Shared, DEFAULT_SHUTDOWN_GRACE};
use crate::telemetry::events::{names, TlsHandshakeFailed};

/// hyper's own header limits are this many times `[limits] max_header_bytes` and
/// `max_headers`. Heads between the two get a SOAP fault from the pipeline (HTTP 431,
/// `Client.BadRequest`); only heads past this backstop get hyper's bare 431, which
/// bounds the memory a hostile head can take (4 × 64 KiB by default).
pub const HARD_HEADER_FACTOR: usize = 4;

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
                let active = shared.active();
                let limits = active.settings.limits.clone();
                let tls = active.tls.get(&*name).cloned();
                drop(active);
                let (shared, name, kind) = (shared.clone(), name.clone(), kind.clone());
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let metrics = shared.metrics.clone();
                    let conn = Conn { shared, name: name.clone(), kind, limits, peer, watcher };
                    match tls {
                        None => {
                            let id = conn.identity(None);
                            conn.serve(stream, id).await;
                        }
                        Some(config) => {
                            let acceptor = tokio_rustls::TlsAcceptor::from(config);
                            let handshake = tokio::time::timeout(
                                conn.limits.header_read_timeout,
                                acceptor.accept(stream),
                            );
                            let reason = match handshake.await {
                                Ok(Ok(tls)) => {
                                    let cert = tls
                                        .get_ref()
                                        .1
                                        .peer_certificates()
                                        .and_then(|c| c.first())
                                        .map(|der| PeerCert::from_der(der));
                                    let id = conn.identity(cert);
                                    conn.serve(tls, id).await;
                                    None
                                }
                                Ok(Err(e)) => Some(e.to_string()),
                                Err(_) => Some("handshake not finished within header_read_timeout_ms".to_string()),
                            };
                            if let Some(reason) = reason {
                                TlsHandshakeFailed {
                                    listener: &name,
                                    peer: &peer.to_string(),
                                    reason: &reason,
                                }
                                .emit(&metrics);
                            }
                        }
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

/// One accepted connection, before and after its TLS handshake.
struct Conn {
    shared: Arc<Shared>,
    name: Arc<str>,
    kind: ListenerKind,
    limits: Limits,
    peer: std::net::SocketAddr,
    watcher: hyper_util::server::graceful::Watcher,
}

impl Conn {
    fn identity(&self, cert: Option<PeerCert>) -> Arc<ConnIdentity> {
        Arc::new(ConnIdentity {
            listener: self.name.clone(),
            peer: self.peer.ip(),
            cert,
        })
    }

    /// Serves HTTP/1.1 on `io` until the client closes, a limit cuts it off, or a
    /// graceful shutdown finishes it.
    async fn serve<I>(self, io: I, id: Arc<ConnIdentity>)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Conn {
            shared,
            name,
            kind,
            limits,
            peer,
            watcher,
        } = self;
        let svc = service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
            let (shared, name, kind) = (shared.clone(), name.clone(), kind.clone());
            req.extensions_mut().insert(id.clone());
            async move {
                let span = tracing::info_span!("request", listener = %name, %peer);
                Ok::<_, Infallible>(
                    tracing::Instrument::instrument(handle(shared, name, kind, req), span).await,
                )
            }
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            // hyper answers a head over its limits with a bare 431 before any service
            // sees it; our own limits are checked in the pipeline so that the client
            // gets a SOAP fault in its dialect. hyper's limits are the backstop.
            .max_header_size(limits.max_header_bytes.saturating_mul(HARD_HEADER_FACTOR))
            .max_headers(limits.max_headers.saturating_mul(HARD_HEADER_FACTOR))
            // hyper refuses a buffer under 8 KiB.
            .max_buf_size(
                limits
                    .max_header_bytes
                    .saturating_mul(HARD_HEADER_FACTOR)
                    .max(8192),
            )
            .keep_alive(true)
            .serve_connection(TokioIo::new(io), svc);
        if let Err(e) = watcher.watch(conn).await {
            tracing::debug!(%peer, "connection ended: {e}");
        }
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
