//! Calls to an upstream stack (legacy security server, UXP security server, or a legacy
//! service adapter): pooled hyper-util clients with connect and whole-exchange
//! timeouts, a body size limit, and HTTP/1.0 for old adapters that need it. Only
//! `Content-Type` and `SOAPAction` are forwarded, as X-Road does. `https://` upstreams
//! go through `tls::connector` with the upstream's own CA (and client certificate).

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Version};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::time::Instant;

use crate::config::{Scheme, Upstream};
use crate::tls::connector::{Connector, HandshakeError};

/// How long an idle pooled connection is kept.
pub const DEFAULT_POOL_IDLE: Duration = Duration::from_secs(30);
/// Most requests in flight to one upstream, and so most connections to it. Without a
/// bound, 1000 client connections meant ~1000 upstream connections and ran the process
/// out of file descriptors; beyond it requests wait (within their timeout) for a slot.
pub const DEFAULT_UPSTREAM_MAX_IN_FLIGHT: usize = 256;

/// Why an upstream call failed. Each maps to an X-Road style fault in `respond`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot connect to upstream `{upstream}` ({url}): {reason}")]
    Unreachable {
        upstream: String,
        url: String,
        reason: String,
    },
    #[error("upstream `{upstream}` did not answer within {timeout_ms} ms")]
    Timeout { upstream: String, timeout_ms: u128 },
    #[error("upstream `{upstream}` closed the connection or sent a broken response: {reason}")]
    Broken { upstream: String, reason: String },
    #[error("upstream `{upstream}` answered with more than {limit} bytes")]
    TooLarge { upstream: String, limit: u64 },
    #[error("TLS with upstream `{upstream}` failed: {reason}")]
    Tls { upstream: String, reason: String },
}

impl UpstreamError {
    pub fn code(&self) -> &'static str {
        match self {
            UpstreamError::Unreachable { .. } | UpstreamError::Broken { .. } => "NetworkError",
            UpstreamError::Timeout { .. } => "Timeout",
            UpstreamError::TooLarge { .. } => "ResponseTooLarge",
            UpstreamError::Tls { .. } => "SslAuthenticationFailed",
        }
    }

    /// Short label for metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            UpstreamError::Unreachable { .. } => "unreachable",
            UpstreamError::Timeout { .. } => "timeout",
            UpstreamError::Broken { .. } => "broken",
            UpstreamError::TooLarge { .. } => "too_large",
            UpstreamError::Tls { .. } => "tls",
        }
    }
}

/// An upstream's answer.
#[derive(Debug, Clone)]
pub struct UpstreamResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Bytes,
    /// UXP's `uxp-transaction-id`, kept for logs and evidence.
    pub transaction_id: Option<String>,
    pub elapsed: Duration,
}

/// A pooled client for one upstream.
#[derive(Debug, Clone)]
pub struct UpstreamClient {
    pub upstream: Upstream,
    client: Client<Connector, Full<Bytes>>,
    /// The client's connector, for `probe`.
    connector: Connector,
    uri: http::Uri,
    max_body: u64,
    in_flight: std::sync::Arc<tokio::sync::Semaphore>,
}

impl UpstreamClient {
    pub fn new(upstream: &Upstream, max_body: u64) -> Result<UpstreamClient, UpstreamError> {
        let tls_error = |reason: String| UpstreamError::Tls {
            upstream: upstream.name.clone(),
            reason,
        };
        let tls = match (&upstream.tls, upstream.url.scheme) {
            (Some(t), Scheme::Https) => {
                let config = crate::tls::client_config(t).map_err(|e| tls_error(e.to_string()))?;
                let name = t.server_name.as_deref().unwrap_or(&upstream.url.host);
                let name = rustls::pki_types::ServerName::try_from(name.to_string())
                    .map_err(|e| tls_error(format!("`{name}` is not a valid server name: {e}")))?;
                Some((config, name))
            }
            (None, Scheme::Https) => {
                return Err(tls_error(
                    "https:// needs a tls table with at least `ca`".into(),
                ))
            }
            (_, Scheme::Http) => None,
        };
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(upstream.connect_timeout));
        http.set_nodelay(true);
        let connector = Connector::new(http, tls);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(DEFAULT_POOL_IDLE)
            .pool_max_idle_per_host(DEFAULT_UPSTREAM_MAX_IN_FLIGHT)
            .build(connector.clone());
        let url = &upstream.url;
        let host = if url.host.contains(':') {
            format!("[{}]", url.host)
        } else {
            url.host.clone()
        };
        let scheme = match url.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        let uri_text = format!(
            "{scheme}://{host}:{}{}",
            url.port_or_default(),
            url.path_and_query
        );
        let uri = uri_text
            .parse::<http::Uri>()
            .map_err(|e| UpstreamError::Unreachable {
                upstream: upstream.name.clone(),
                url: uri_text.clone(),
                reason: e.to_string(),
            })?;
        Ok(UpstreamClient {
            upstream: upstream.clone(),
            client,
            connector,
            uri,
            max_body,
            in_flight: std::sync::Arc::new(tokio::sync::Semaphore::new(
                DEFAULT_UPSTREAM_MAX_IN_FLIGHT,
            )),
        })
    }

    /// Opens one connection the way a request would — TCP, then for `https://` the TLS
    /// handshake with certificate verification — and sends nothing: for `/readyz`, so
    /// that a wrong CA or name shows before traffic does. (Under TLS 1.3 an upstream
    /// that refuses our client certificate says so only after the handshake; that one
    /// shows on the first request.)
    pub async fn probe(&self, within: Duration) -> Result<(), UpstreamError> {
        let name = &self.upstream.name;
        let mut connector = self.connector.clone();
        let connect = async {
            std::future::poll_fn(|cx| tower_service::Service::poll_ready(&mut connector, cx))
                .await?;
            tower_service::Service::call(&mut connector, self.uri.clone()).await
        };
        match tokio::time::timeout(within, connect).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(match find_source::<HandshakeError>(&*e) {
                Some(h) => UpstreamError::Tls {
                    upstream: name.clone(),
                    reason: h.0.clone(),
                },
                None => UpstreamError::Unreachable {
                    upstream: name.clone(),
                    url: self.uri.to_string(),
                    reason: source_chain(&*e),
                },
            }),
            Err(_) => Err(UpstreamError::Timeout {
                upstream: name.clone(),
                timeout_ms: within.as_millis(),
            }),
        }
    }

    /// POSTs a SOAP message and collects the answer, all within the request timeout.
    pub async fn call(
        &self,
        body: Bytes,
        content_type: &str,
        soap_action: Option<&str>,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let started = Instant::now();
        let name = &self.upstream.name;
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone())
            .version(if self.upstream.http10 {
                Version::HTTP_10
            } else {
                Version::HTTP_11
            });
        if let Ok(v) = HeaderValue::from_str(content_type) {
            req = req.header(http::header::CONTENT_TYPE, v);
        }
        if let Some(a) = soap_action.and_then(|a| HeaderValue::from_str(a).ok()) {
            req = req.header("SOAPAction", a);
        }
        // Old adapters spoken to in HTTP/1.0 need a length, never chunked encoding.
        req = req.header(http::header::CONTENT_LENGTH, body.len());
        let req = req
            .body(Full::new(body))
            .map_err(|e| UpstreamError::Broken {
                upstream: name.clone(),
                reason: e.to_string(),
            })?;
        let exchange = async {
            // A closed semaphore cannot happen (it is never closed); treat it as broken.
            let _slot = self
                .in_flight
                .acquire()
                .await
                .map_err(|e| UpstreamError::Broken {
                    upstream: name.clone(),
                    reason: e.to_string(),
                })?;
            let resp = self.client.request(req).await.map_err(|e| {
                if let Some(h) = find_source::<HandshakeError>(&e) {
                    UpstreamError::Tls {
                        upstream: name.clone(),
                        reason: h.0.clone(),
                    }
                } else if let Some(alert) = peer_tls_alert(&e) {
                    // TLS 1.3 finishes the client's side of the handshake before the
                    // server has judged our certificate; its refusal arrives as an alert
                    // on the first read, after hyper has called the connection made.
                    UpstreamError::Tls {
                        upstream: name.clone(),
                        reason: format!(
                            "the upstream refused the TLS session with alert {alert:?} \
                             (check tls.client_cert / tls.client_key against the CA it trusts)"
                        ),
                    }
                } else if e.is_connect() {
                    UpstreamError::Unreachable {
                        upstream: name.clone(),
                        url: self.uri.to_string(),
                        reason: source_chain(&e),
                    }
                } else {
                    UpstreamError::Broken {
                        upstream: name.clone(),
                        reason: source_chain(&e),
                    }
                }
            })?;
            let status = resp.status().as_u16();
            let header = |n: &str| {
                resp.headers()
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let content_type = header("content-type");
            let transaction_id = header("uxp-transaction-id");
            let limited = Limited::new(resp.into_body(), self.max_body as usize);
            let body = limited.collect().await.map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    UpstreamError::TooLarge {
                        upstream: name.clone(),
                        limit: self.max_body,
                    }
                } else {
                    UpstreamError::Broken {
                        upstream: name.clone(),
                        reason: e.to_string(),
                    }
                }
            })?;
            Ok(UpstreamResponse {
                status,
                content_type,
                body: body.to_bytes(),
                transaction_id,
                elapsed: started.elapsed(),
            })
        };
        match tokio::time::timeout(self.upstream.request_timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(UpstreamError::Timeout {
                upstream: name.clone(),
                timeout_ms: self.upstream.request_timeout.as_millis(),
            }),
        }
    }
}

/// A TLS alert the upstream sent, anywhere in `e`'s source chain. `io::Error` does not
/// expose its wrapped error through `source()`, so each one is opened by hand.
fn peer_tls_alert(e: &(dyn std::error::Error + 'static)) -> Option<rustls::AlertDescription> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        let inner = c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|i| i.downcast_ref::<rustls::Error>());
        if let Some(rustls::Error::AlertReceived(a)) = c.downcast_ref::<rustls::Error>().or(inner) {
            return Some(*a);
        }
        cur = c.source();
    }
    None
}

/// The first error of type `T` in `e`'s source chain.
fn find_source<'e, T: std::error::Error + 'static>(
    e: &'e (dyn std::error::Error + 'static),
) -> Option<&'e T> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(t) = c.downcast_ref::<T>() {
            return Some(t);
        }
        cur = c.source();
    }
    None
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
