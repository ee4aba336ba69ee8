//! In-process upstream stubs on 127.0.0.1:0 for gateway tests: an echo responder (a
//! SOAP request sent back as its own answer: a valid SOAP message with the header
//! echoed), and misbehaving upstreams for fault-injection cases.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::support::HANG_GUARD;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Behaviour {
    /// 200 with the request body as the answer.
    Echo,
    /// 200 with an HTML page.
    Html,
    /// Accepts, then never answers.
    Stall,
    /// Reads the request, then closes without answering.
    Reset,
    /// 500 with a SOAP fault.
    Fault,
    /// Like `Echo`, once the test says so ([`Stub::release`]): a request held in
    /// flight for exactly as long as the test needs.
    Held,
    /// Like `Echo`, with `<stamp>N</stamp>` (N = this stub's hit count) added inside
    /// the first `<request>`: an answer that differs on every call, like a server
    /// timestamp, for noise calibration.
    EchoStamped,
    /// 200 with this `text/xml` body, whatever the request (a stack answering
    /// something else than the request it got).
    Answer(&'static str),
    /// Like `Echo` on the 1st, 3rd, 5th… hit, a 500 SOAP fault on the 2nd, 4th…: with
    /// one request at a time and calibration on, every calibration answer is a fault
    /// (a re-issued copy the stack refused).
    EchoThenFault,
}

/// The last request a stub saw: content type and body.
pub(crate) type LastRequest = (Option<String>, Bytes);

/// A running stub; counts hits (on a watch channel, so a test can wait for the n-th
/// instead of sleeping) and keeps the last request.
#[derive(Clone)]
pub(crate) struct Stub {
    pub addr: SocketAddr,
    hits: Arc<watch::Sender<usize>>,
    released: Arc<watch::Sender<bool>>,
    pub last: Arc<Mutex<Option<LastRequest>>>,
}

impl Stub {
    pub(crate) fn hits(&self) -> usize {
        *self.hits.borrow()
    }

    /// Waits until the stub has had at least `n` hits (hang guard only), and returns
    /// the count then; the caller asserts on it.
    pub(crate) async fn hits_reach(&self, n: usize) -> usize {
        let mut rx = self.hits.subscribe();
        let _ = tokio::time::timeout(HANG_GUARD, rx.wait_for(|h| *h >= n)).await;
        self.hits()
    }

    /// Lets every request a `Held` stub holds (and every later one) be answered.
    pub(crate) fn release(&self) {
        self.released.send_replace(true);
    }

    /// Counts one hit; the count before it.
    fn hit(&self) -> usize {
        let mut before = 0;
        self.hits.send_modify(|h| {
            before = *h;
            *h += 1;
        });
        before
    }
    pub(crate) fn last_body(&self) -> String {
        self.last
            .lock()
            .unwrap()
            .as_ref()
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    }
}

const FAULT: &str = r#"<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Server</faultcode><faultstring>upstream says no</faultstring></s:Fault></s:Body></s:Envelope>"#;

pub(crate) async fn spawn(behaviour: Behaviour) -> Stub {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stub = Stub {
        addr,
        hits: Arc::new(watch::Sender::new(0)),
        released: Arc::new(watch::Sender::new(false)),
        last: Arc::new(Mutex::new(None)),
    };
    let s = stub.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let s = s.clone();
            tokio::spawn(async move {
                match behaviour {
                    Behaviour::Stall => {
                        s.hit();
                        let mut buf = [0u8; 4096];
                        let _ = stream.read(&mut buf).await;
                        // Holds the connection open, never answering.
                        std::future::pending::<()>().await;
                    }
                    Behaviour::Reset => {
                        s.hit();
                        let mut buf = [0u8; 65536];
                        let _ = stream.read(&mut buf).await;
                        let _ = stream
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 500\r\n\r\n<partial")
                            .await;
                        drop(stream);
                    }
                    _ => {
                        let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                            let s = s.clone();
                            async move {
                                let hit = s.hit();
                                let ct = req
                                    .headers()
                                    .get("content-type")
                                    .and_then(|v| v.to_str().ok())
                                    .map(str::to_string);
                                let body = req
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|c| c.to_bytes())
                                    .unwrap_or_default();
                                *s.last.lock().unwrap() = Some((ct.clone(), body.clone()));
                                if behaviour == Behaviour::Held {
                                    let mut released = s.released.subscribe();
                                    let _ =
                                        tokio::time::timeout(HANG_GUARD, released.wait_for(|r| *r))
                                            .await;
                                }
                                let (status, ct, body) = match behaviour {
                                    Behaviour::Echo | Behaviour::Held => {
                                        (200, ct.unwrap_or_else(|| "text/xml".into()), body)
                                    }
                                    Behaviour::EchoThenFault if hit % 2 == 0 => {
                                        (200, ct.unwrap_or_else(|| "text/xml".into()), body)
                                    }
                                    Behaviour::EchoStamped => {
                                        let text = String::from_utf8_lossy(&body).replacen(
                                            "<request>",
                                            &format!("<request><stamp>{hit}</stamp>"),
                                            1,
                                        );
                                        (
                                            200,
                                            ct.unwrap_or_else(|| "text/xml".into()),
                                            Bytes::from(text),
                                        )
                                    }
                                    Behaviour::Answer(a) => (
                                        200,
                                        "text/xml; charset=utf-8".to_string(),
                                        Bytes::from_static(a.as_bytes()),
                                    ),
                                    Behaviour::Html => (
                                        200,
                                        "text/html".to_string(),
                                        Bytes::from_static(
                                            b"<html><body>502 Bad Gateway</body></html>",
                                        ),
                                    ),
                                    _ => (
                                        500,
                                        "text/xml; charset=utf-8".to_string(),
                                        Bytes::from_static(FAULT.as_bytes()),
                                    ),
                                };
                                let mut r = hyper::Response::new(Full::new(body));
                                *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                                r.headers_mut().insert("content-type", ct.parse().unwrap());
                                Ok::<_, std::convert::Infallible>(r)
                            }
                        });
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    }
                }
            });
        }
    });
    stub
}

impl Stub {
    /// A stub that is never started (for config-only tests).
    pub(crate) fn dummy() -> Stub {
        Stub {
            addr: "127.0.0.1:9".parse().unwrap(),
            hits: Arc::new(watch::Sender::new(0)),
            released: Arc::new(watch::Sender::new(false)),
            last: Arc::new(Mutex::new(None)),
        }
    }
}
