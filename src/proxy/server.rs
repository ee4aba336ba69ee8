//! The SOAP listeners on the one accept loop ([`crate::net::serve`]): HTTP/1.1 (over
//! TLS when the listener has `tls`) with keep-alive, a header read timeout (slowloris;
//! it also bounds the TLS handshake), header size and count limits, a per-listener
//! connection limit with a clear refusal, an optional limit per source address checked
//! before it (so that one client cannot take the listener's whole budget), and
//! graceful shutdown that lets in-flight requests finish. Each connection's identity
//! (source address, verified client certificate) travels with its requests for
//! `proxy::identity`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Limits;
use crate::net::{self, Accepted, Drain, HandshakeError, Refused};
use crate::proxy::identity::{ConnIdentity, PeerCert};
use crate::proxy::pipeline::{handle, ListenerKind};
use crate::proxy::respond::connection_refusal;
use crate::proxy::{Shared, DEFAULT_SHUTDOWN_GRACE};
use crate::telemetry::events::{names, TlsHandshakeFailed};

/// hyper's own header limits are this many times `[limits] max_header_bytes` and
/// `max_headers`. Heads between the two get a SOAP fault from the pipeline (HTTP 431,
/// `Client.BadRequest`); only heads past this backstop get hyper's bare 431, which
/// bounds the memory a hostile head can take (4 × 64 KiB by default).
pub const HARD_HEADER_FACTOR: usize = 4;

const AT_LISTENER_LIMIT: &str =
    "dualroad is at its connection limit (max_connections); retry shortly";
const AT_SOURCE_LIMIT: &str = "too many open connections from this address \
     (max_connections_per_source); close idle connections or retry shortly";

/// Serves one SOAP listener until `stop` turns true, then drains its connections.
/// `max_connections` is fixed for the listener's life; the per-source limit, the
/// header limits and the TLS configuration are read at each accept, so a reload
/// applies to the next connection.
pub async fn serve_soap(
    listener: TcpListener,
    shared: Arc<Shared>,
    name: String,
    kind: ListenerKind,
    max_connections: usize,
    mut stop: watch::Receiver<bool>,
) {
    let mut opts = net::Options::new(&name, DEFAULT_SHUTDOWN_GRACE);
    opts.max_connections = Some(max_connections);
    let soap = Arc::new(Soap {
        shared,
        name: Arc::from(name.as_str()),
        kind,
    });
    net::serve(listener, opts, soap, async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    })
    .await;
}

/// One SOAP listener, as the accept loop sees it.
struct Soap {
    shared: Arc<Shared>,
    name: Arc<str>,
    kind: ListenerKind,
}

impl net::Connections for Soap {
    fn per_source_limit(&self) -> usize {
        self.shared
            .active()
            .settings
            .limits
            .max_connections_per_source
    }

    fn refusal(&self, why: Refused, _peer: SocketAddr) -> Vec<u8> {
        let (metric, reason) = match why {
            Refused::PerSource => (names::CONNECTIONS_REFUSED_PER_SOURCE, AT_SOURCE_LIMIT),
            Refused::Total => (names::CONNECTIONS_REFUSED, AT_LISTENER_LIMIT),
        };
        self.shared.metrics.inc(metric, &[("listener", &self.name)]);
        connection_refusal(reason)
    }

    async fn serve(self: Arc<Self>, accepted: Accepted) {
        let Accepted {
            stream,
            peer,
            drain,
        } = accepted;
        let active = self.shared.active();
        let limits = active.settings.limits.clone();
        let tls = active.tls.get(&*self.name).cloned();
        drop(active);
        let conn = Conn {
            shared: self.shared.clone(),
            name: self.name.clone(),
            kind: self.kind.clone(),
            limits,
            peer,
            drain,
        };
        let Some(config) = tls else {
            let id = conn.identity(None);
            return conn.serve(stream, id).await;
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        match net::tls_handshake(&acceptor, stream, conn.limits.header_read_timeout).await {
            Ok(tls) => {
                let cert = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|der| PeerCert::from_der(der));
                let id = conn.identity(cert);
                conn.serve(tls, id).await;
            }
            Err(e) => {
                let reason = match e {
                    HandshakeError::Failed(e) => e.to_string(),
                    HandshakeError::TimedOut(_) => {
                        "handshake not finished within header_read_timeout_ms".to_string()
                    }
                };
                TlsHandshakeFailed {
                    listener: &self.name,
                    peer: &peer.to_string(),
                    reason: &reason,
                }
                .emit(&self.shared.metrics);
            }
        }
    }
}

/// One accepted connection, before and after its TLS handshake.
struct Conn {
    shared: Arc<Shared>,
    name: Arc<str>,
    kind: ListenerKind,
    limits: Limits,
    peer: std::net::SocketAddr,
    drain: Drain,
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
            drain,
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
        if let Err(e) = drain.serve(conn).await {
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
