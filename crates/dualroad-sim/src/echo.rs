//! Echo responder for load measurements: answers every POST with 200, the request's
//! Content-Type and the request body unchanged (HTTP/1.1 keep-alive, no parsing). An
//! echoed SOAP request is a valid SOAP answer with the header echoed, so the same
//! responder can stand behind nginx, behind the gateway and be measured directly.
//! Other methods get 405. Shutdown is graceful, as in [`super::serve`].

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::net;
use crate::wire::message::DEFAULT_MAX_MESSAGE_BYTES;

use super::server::DEFAULT_SHUTDOWN_GRACE;

/// Serves the echo responder on `listener` until `shutdown` completes.
pub async fn serve(listener: TcpListener, shutdown: impl Future<Output = ()>) {
    let opts = net::Options::new("echo responder", DEFAULT_SHUTDOWN_GRACE);
    net::serve(listener, opts, Arc::new(Echo), shutdown).await;
}

/// The echo responder, as the accept loop sees it.
struct Echo;

impl net::Connections for Echo {
    async fn serve(self: Arc<Self>, conn: net::Accepted) {
        let http = http1::Builder::new()
            .keep_alive(true)
            .serve_connection(TokioIo::new(conn.stream), service_fn(echo));
        let _ = conn.drain.serve(http).await;
    }
}

async fn echo(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let status = if parts.method != Method::POST {
        StatusCode::METHOD_NOT_ALLOWED
    } else {
        match Limited::new(body, DEFAULT_MAX_MESSAGE_BYTES)
            .collect()
            .await
        {
            Ok(c) => {
                let mut resp = Response::new(Full::new(c.to_bytes()));
                if let Some(ct) = parts.headers.get(CONTENT_TYPE) {
                    resp.headers_mut().insert(CONTENT_TYPE, ct.clone());
                }
                return Ok(resp);
            }
            Err(_) => StatusCode::PAYLOAD_TOO_LARGE,
        }
    };
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = status;
    Ok(resp)
}
