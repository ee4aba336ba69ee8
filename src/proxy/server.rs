//! Accept loops: HTTP/1.1 (over TLS when the listener has `tls`) with keep-alive, a
//! header read timeout (slowloris; it also bounds the TLS handshake), header size and
//! count limits, a per-listener connection limit with a clear refusal, an optional
//! limit per source address checked before it (so that one client cannot take the
//! listener's whole budget), and graceful shutdown that lets in-flight requests finish. Each connection's identity (source
//! address, verified client certificate) travels with its requests for
//! `proxy::identity`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

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

/// The answer for a connection refused by a connection limit (`limit` names the key):
/// a complete HTTP response with a SOAP fault, then close — a client sees why, not a
/// reset.
fn refusal(reason: &str) -> Vec<u8> {
    let body = crate::wire::fault::Rescue::bare().fault_message(
        &crate::error::FaultCode("Server.ClientProxy.OutOfCapacity".into()),
        reason,
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

const AT_LISTENER_LIMIT: &str =
    "dualroad is at its connection limit (max_connections); retry shortly";
const AT_SOURCE_LIMIT: &str = "too many open connections from this address \
     (max_connections_per_source); close idle connections or retry shortly";

/// Writes a refusal on `stream` and closes it, off the accept loop. The answer is
/// smaller than any socket send buffer, so the write does not wait on the client.
fn refuse(mut stream: tokio::net::TcpStream, reason: &'static str) {
    tokio::spawn(async move {
        let _ = stream.write_all(&refusal(reason)).await;
        let _ = stream.shutdown().await;
    });
}

/// Open connections per source IP address on one listener, for `[limits]
/// max_connections_per_source`. Counted even while the limit is off, so that a reload
/// that turns it on sees the connections already open. An address leaves the map with
/// its last connection: the map never holds more entries than there are connections.
#[derive(Debug, Default)]
pub struct SourceCounts {
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl SourceCounts {
    /// A slot for one more connection from `ip`, or `None` when `limit` (non-zero) are
    /// already open from it. `limit == 0` is no limit.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr, limit: usize) -> Option<SourceSlot> {
        // A v4 client on a dual-stack listener arrives as ::ffff:a.b.c.d: one address.
        let ip = ip.to_canonical();
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(ip).or_insert(0);
        if limit != 0 && *n >= limit {
            return None;
        }
        *n += 1;
        Some(SourceSlot {
            counts: self.clone(),
            ip,
        })
    }

    /// Connections open from `ip` (0 when none).
    #[cfg(test)]
    fn open(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(&ip.to_canonical()).copied().unwrap_or(0)
    }

    /// Addresses with at least one open connection.
    #[cfg(test)]
    fn sources(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// One connection's place in [`SourceCounts`]; given back when dropped, however the
/// connection ends.
#[derive(Debug)]
pub struct SourceSlot {
    counts: Arc<SourceCounts>,
    ip: IpAddr,
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut open = self
            .counts
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
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
    let sources = Arc::new(SourceCounts::default());
    let name: Arc<str> = Arc::from(name.as_str());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let active = shared.active();
                let limits = active.settings.limits.clone();
                let tls = active.tls.get(&*name).cloned();
                drop(active);
                // The source's own limit first: a connection it refuses never holds
                // one of the listener's slots, so one client holding idle connections
                // cannot make the listener refuse everyone else.
                let Some(source) = sources.try_acquire(peer.ip(), limits.max_connections_per_source) else {
                    shared.metrics.inc(names::CONNECTIONS_REFUSED_PER_SOURCE, &[("listener", &name)]);
                    refuse(stream, AT_SOURCE_LIMIT);
                    continue;
                };
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    shared.metrics.inc(names::CONNECTIONS_REFUSED, &[("listener", &name)]);
                    refuse(stream, AT_LISTENER_LIMIT);
                    continue;
                };
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
                    drop(source);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_source_gets_its_limit_and_its_slots_back_when_they_drop() {
        let counts = Arc::new(SourceCounts::default());
        let (a, b) = (ip("127.0.0.2"), ip("127.0.0.1"));
        let mut held: Vec<_> = (0..3).map(|_| counts.try_acquire(a, 3).unwrap()).collect();
        assert!(
            counts.try_acquire(a, 3).is_none(),
            "a fourth is over the limit"
        );
        assert_eq!(counts.open(a), 3, "a refused attempt is not counted");
        let other = counts
            .try_acquire(b, 3)
            .expect("another address has its own count");
        drop(held.pop());
        assert_eq!(counts.open(a), 2);
        let again = counts
            .try_acquire(a, 3)
            .expect("a dropped slot is given back");
        drop(again);
        drop(other);
        assert_eq!((counts.open(a), counts.open(b)), (2, 0));
        assert_eq!(
            counts.sources(),
            1,
            "an address leaves with its last connection"
        );
    }

    #[test]
    fn zero_is_no_limit_but_connections_are_still_counted() {
        let counts = Arc::new(SourceCounts::default());
        let a = ip("10.0.0.1");
        let held: Vec<_> = (0..100)
            .map(|_| counts.try_acquire(a, 0).unwrap())
            .collect();
        assert_eq!(counts.open(a), 100);
        // Turned on by a reload: the connections already open count against it.
        assert!(counts.try_acquire(a, 50).is_none());
        drop(held);
        assert_eq!(counts.sources(), 0);
    }

    #[test]
    fn a_v4_client_on_a_dual_stack_listener_is_one_address() {
        let counts = Arc::new(SourceCounts::default());
        let _v4 = counts.try_acquire(ip("192.0.2.7"), 2).unwrap();
        let _mapped = counts.try_acquire(ip("::ffff:192.0.2.7"), 2).unwrap();
        assert!(counts.try_acquire(ip("192.0.2.7"), 2).is_none());
        assert_eq!(counts.open(ip("::ffff:192.0.2.7")), 2);
    }
}
