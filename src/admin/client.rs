//! A small client for a running gateway's admin API, used by `dualroad switch` and
//! `dualroad audit` (sled allows one process per database, so while the gateway runs,
//! changes must go through it).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// How long the CLI waits for the admin API.
pub const DEFAULT_ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum AdminClientError {
    /// Nothing listens: the gateway is not running.
    #[error("no gateway answers on {0}")]
    NotRunning(SocketAddr),
    #[error("admin API on {addr}: {reason}")]
    Failed { addr: SocketAddr, reason: String },
}

/// Sends one request; returns (status, body).
pub async fn call(
    addr: SocketAddr,
    method: http::Method,
    path: &str,
    body: Option<Vec<u8>>,
    actor: &str,
) -> Result<(u16, String), AdminClientError> {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let req = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/json")
        .header("x-dualroad-actor", actor)
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| AdminClientError::Failed {
            addr,
            reason: e.to_string(),
        })?;
    let fut = async {
        let resp = client.request(req).await.map_err(|e| {
            if e.is_connect() {
                AdminClientError::NotRunning(addr)
            } else {
                AdminClientError::Failed {
                    addr,
                    reason: e.to_string(),
                }
            }
        })?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| AdminClientError::Failed {
                addr,
                reason: e.to_string(),
            })?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    };
    tokio::time::timeout(DEFAULT_ADMIN_TIMEOUT, fut)
        .await
        .map_err(|_| AdminClientError::Failed {
            addr,
            reason: "timed out".into(),
        })?
}
