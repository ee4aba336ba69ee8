//! The one accept loop under every listener (the SOAP listeners, the admin listener,
//! the simulators and the echo responder). It owns what they share: accepting with a
//! pause after a failed `accept` (out of file descriptors and the like), the connection
//! limits (a total and one per source address, both optional) with a refusal the
//! listener writes, and graceful shutdown (stop accepting when the shutdown future
//! completes, let in-flight requests finish within a grace period, close idle
//! keep-alive connections). What a connection is served with — TLS or not
//! ([`super::tls_handshake`]), hyper's limits, the service — is the listener's, in
//! [`Connections::serve`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::server::graceful::{GracefulConnection, GracefulShutdown, Watcher};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::sources::SourceCounts;

/// Pause after a failed `accept` before trying again.
pub const DEFAULT_ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Which limit refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The listener's total ([`Options::max_connections`]).
    Total,
    /// The source address's own limit ([`Connections::per_source_limit`]).
    PerSource,
}

/// How one listener's loop runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Names the listener in log lines.
    pub label: Arc<str>,
    /// Connections served at once; one more is refused. `None`: no total.
    pub max_connections: Option<usize>,
    /// How long in-flight requests may take to finish after shutdown.
    pub grace: Duration,
    /// Pause after a failed `accept`.
    pub backoff: Duration,
}

impl Options {
    /// No limits, the given grace, the default backoff.
    pub fn new(label: &str, grace: Duration) -> Options {
        Options {
            label: Arc::from(label),
            max_connections: None,
            grace,
            backoff: DEFAULT_ACCEPT_BACKOFF,
        }
    }
}

/// What a listener brings to the loop.
pub trait Connections: Send + Sync + 'static {
    /// Open connections allowed from one source address, read at every accept (so a
    /// reload takes effect at once); 0 is no limit. Checked before the total, so that
    /// a connection it refuses never holds one of the listener's slots.
    fn per_source_limit(&self) -> usize {
        0
    }

    /// The complete answer written to a connection a limit refused (an HTTP response
    /// with `connection: close`), after which it is closed: a client sees why, not a
    /// reset. Called once per refused connection, so it is also where to count them.
    /// By default a plain-text 503 ([`plain_503`]).
    fn refusal(&self, why: Refused, peer: SocketAddr) -> Vec<u8> {
        let _ = peer;
        plain_503(match why {
            Refused::Total => "at the listener's connection limit; retry shortly\n",
            Refused::PerSource => "too many open connections from this address; retry shortly\n",
        })
    }

    /// Serves one accepted connection to its end. Serve the HTTP connection through
    /// [`Accepted::drain`] so that shutdown can finish it gracefully.
    fn serve(self: Arc<Self>, conn: Accepted) -> impl Future<Output = ()> + Send;
}

/// One accepted connection (`TCP_NODELAY` set: answers are written in one piece).
pub struct Accepted {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub drain: Drain,
}

/// Ties one HTTP connection to its loop's graceful shutdown.
pub struct Drain(Watcher);

impl Drain {
    /// Drives `conn` to its end; on shutdown, hyper finishes the request in flight and
    /// then closes it (an idle keep-alive connection closes at once).
    pub async fn serve<C: GracefulConnection>(self, conn: C) -> Result<(), C::Error> {
        self.0.watch(conn).await
    }
}

/// Accepts on `listener` and serves each connection with `conns` until `shutdown`
/// completes; then stops accepting (the listener is closed) and waits up to
/// `opts.grace` for open connections to finish.
pub async fn serve<C: Connections>(
    listener: TcpListener,
    opts: Options,
    conns: Arc<C>,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let slots = opts.max_connections.map(|n| Arc::new(Semaphore::new(n)));
    let sources = Arc::new(SourceCounts::default());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(listener = %opts.label, error = %e, "accept failed");
                    tokio::time::sleep(opts.backoff).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let Some(source) = sources.try_acquire(peer.ip(), conns.per_source_limit()) else {
            refuse(stream, conns.refusal(Refused::PerSource, peer));
            continue;
        };
        let permit = match &slots {
            None => None,
            Some(slots) => match slots.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    refuse(stream, conns.refusal(Refused::Total, peer));
                    continue;
                }
            },
        };
        let conn = Accepted {
            stream,
            peer,
            drain: Drain(graceful.watcher()),
        };
        let conns = conns.clone();
        tokio::spawn(async move {
            conns.serve(conn).await;
            drop(permit);
            drop(source);
        });
    }
    drop(listener);
    if tokio::time::timeout(opts.grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(listener = %opts.label, "connections still open after the grace period");
    }
}

/// Writes `answer` on `stream` and closes it, off the accept loop. A refusal is
/// smaller than any socket send buffer, so the write does not wait on the client.
fn refuse(mut stream: TcpStream, answer: Vec<u8>) {
    tokio::spawn(async move {
        let _ = stream.write_all(&answer).await;
        let _ = stream.shutdown().await;
    });
}

/// A complete plain-text `503` refusal with `connection: close`, for listeners that
/// answer without SOAP.
pub fn plain_503(reason: &str) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n",
        reason.len()
    )
    .into_bytes();
    out.extend_from_slice(reason.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::Mutex;

    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::{mpsc, oneshot, Notify};

    use super::*;

    /// Bounds every wait on the network so that a failure is a failure, not a hang.
    const GUARD: Duration = Duration::from_secs(10);

    /// Answers `GET /hold` only after [`Held::release`]; everything else at once.
    struct Held {
        per_source: usize,
        started: mpsc::UnboundedSender<()>,
        release: Arc<Notify>,
        refused: Mutex<Vec<Refused>>,
    }

    impl Connections for Held {
        fn per_source_limit(&self) -> usize {
            self.per_source
        }

        fn refusal(&self, why: Refused, _peer: SocketAddr) -> Vec<u8> {
            self.refused.lock().unwrap().push(why);
            plain_503(&format!("refused: {why:?}"))
        }

        async fn serve(self: Arc<Self>, conn: Accepted) {
            let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let this = self.clone();
                async move {
                    if req.uri().path() == "/hold" {
                        let _ = this.started.send(());
                        this.release.notified().await;
                    }
                    Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from("done"))))
                }
            });
            let http = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(conn.stream), svc);
            let _ = conn.drain.serve(http).await;
        }
    }

    struct Server {
        addr: SocketAddr,
        started: mpsc::UnboundedReceiver<()>,
        release: Arc<Notify>,
        conns: Arc<Held>,
        stop: Option<oneshot::Sender<()>>,
        task: tokio::task::JoinHandle<()>,
    }

    async fn start(max_connections: Option<usize>, per_source: usize, grace: Duration) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (started_tx, started) = mpsc::unbounded_channel();
        let release = Arc::new(Notify::new());
        let conns = Arc::new(Held {
            per_source,
            started: started_tx,
            release: release.clone(),
            refused: Mutex::new(Vec::new()),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let mut opts = Options::new("test", grace);
        opts.max_connections = max_connections;
        let task = tokio::spawn(serve(listener, opts, conns.clone(), async move {
            let _ = stopped.await;
        }));
        Server {
            addr,
            started,
            release,
            conns,
            stop: Some(stop),
            task,
        }
    }

    async fn connect_from(source: [u8; 4], addr: SocketAddr) -> TcpStream {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from((source, 0))).unwrap();
        socket.connect(addr).await.unwrap()
    }

    async fn send(s: &mut TcpStream, path: &str) {
        let req = format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
    }

    /// Everything until the server closes.
    async fn read_all(s: &mut TcpStream) -> String {
        let mut buf = Vec::new();
        tokio::time::timeout(GUARD, s.read_to_end(&mut buf))
            .await
            .expect("the server closes the connection")
            .unwrap();
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// One response on a connection that stays open (the body is `done`).
    async fn read_one(s: &mut TcpStream) -> String {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        while !buf.ends_with(b"done") {
            let n = tokio::time::timeout(GUARD, s.read(&mut chunk))
                .await
                .expect("an answer")
                .unwrap();
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&buf));
            buf.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8_lossy(&buf).into_owned()
    }

    #[tokio::test]
    async fn a_second_connection_is_refused_while_the_first_holds_the_only_slot() {
        let mut srv = start(Some(1), 0, GUARD).await;
        let mut first = TcpStream::connect(srv.addr).await.unwrap();
        send(&mut first, "/hold").await;
        srv.started.recv().await.unwrap();
        let mut second = TcpStream::connect(srv.addr).await.unwrap();
        let r = read_all(&mut second).await;
        assert!(
            r.starts_with("HTTP/1.1 503") && r.contains("connection: close"),
            "{r}"
        );
        assert!(r.ends_with("refused: Total"), "the caller's answer: {r}");
        assert_eq!(*srv.conns.refused.lock().unwrap(), [Refused::Total]);
        // The held request is unaffected.
        srv.release.notify_one();
        let r = read_one(&mut first).await;
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    }

    #[tokio::test]
    async fn the_per_source_limit_refuses_one_address_and_serves_another() {
        let mut srv = start(Some(10), 1, GUARD).await;
        let mut held = connect_from([127, 0, 0, 2], srv.addr).await;
        send(&mut held, "/hold").await;
        srv.started.recv().await.unwrap();
        let mut over = connect_from([127, 0, 0, 2], srv.addr).await;
        let r = read_all(&mut over).await;
        assert!(r.ends_with("refused: PerSource"), "{r}");
        let mut other = connect_from([127, 0, 0, 1], srv.addr).await;
        send(&mut other, "/").await;
        let r = read_one(&mut other).await;
        assert!(
            r.starts_with("HTTP/1.1 200"),
            "another address is served: {r}"
        );
        assert_eq!(*srv.conns.refused.lock().unwrap(), [Refused::PerSource]);
        srv.release.notify_one();
        assert!(read_one(&mut held).await.starts_with("HTTP/1.1 200"));
    }

    #[tokio::test]
    async fn without_limits_nothing_is_refused() {
        let mut srv = start(None, 0, GUARD).await;
        let mut held = Vec::new();
        for _ in 0..5 {
            let mut s = connect_from([127, 0, 0, 2], srv.addr).await;
            send(&mut s, "/hold").await;
            srv.started.recv().await.unwrap();
            held.push(s);
        }
        let mut s = connect_from([127, 0, 0, 2], srv.addr).await;
        send(&mut s, "/").await;
        assert!(read_one(&mut s).await.starts_with("HTTP/1.1 200"));
        assert!(srv.conns.refused.lock().unwrap().is_empty());
        srv.release.notify_waiters();
        for mut s in held {
            assert!(read_one(&mut s).await.starts_with("HTTP/1.1 200"));
        }
    }

    #[tokio::test]
    async fn shutdown_waits_for_the_request_in_flight_and_closes_idle_connections() {
        let mut srv = start(Some(4), 0, GUARD).await;
        let mut busy = TcpStream::connect(srv.addr).await.unwrap();
        send(&mut busy, "/hold").await;
        srv.started.recv().await.unwrap();
        // An idle keep-alive connection, served once.
        let mut idle = TcpStream::connect(srv.addr).await.unwrap();
        send(&mut idle, "/").await;
        read_one(&mut idle).await;

        srv.stop.take().unwrap().send(()).unwrap();
        // The idle connection is closed by the shutdown, with nothing more written …
        assert_eq!(read_all(&mut idle).await, "");
        // … while the loop still waits for the request in flight.
        assert!(!srv.task.is_finished(), "returned with a request in flight");
        srv.release.notify_one();
        let r = read_all(&mut busy).await;
        assert!(
            r.starts_with("HTTP/1.1 200") && r.ends_with("done"),
            "the request in flight finishes: {r}"
        );
        tokio::time::timeout(GUARD, &mut srv.task)
            .await
            .expect("the loop returns once drained")
            .unwrap();
        assert!(
            TcpStream::connect(srv.addr).await.is_err(),
            "the listener is closed"
        );
    }

    #[tokio::test]
    async fn shutdown_gives_up_on_a_request_still_running_after_the_grace() {
        let mut srv = start(None, 0, Duration::ZERO).await;
        let mut busy = TcpStream::connect(srv.addr).await.unwrap();
        send(&mut busy, "/hold").await;
        srv.started.recv().await.unwrap();
        srv.stop.take().unwrap().send(()).unwrap();
        tokio::time::timeout(GUARD, &mut srv.task)
            .await
            .expect("the loop returns although the request never finishes")
            .unwrap();
    }

    /// Holds every connection, unserved, until told; refuses with the default.
    struct Quiet(Arc<Notify>);

    impl Connections for Quiet {
        async fn serve(self: Arc<Self>, conn: Accepted) {
            self.0.notified().await;
            drop(conn);
        }
    }

    #[tokio::test]
    async fn the_default_refusal_is_a_plain_503() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut opts = Options::new("quiet", GUARD);
        opts.max_connections = Some(1);
        let release = Arc::new(Notify::new());
        let conns = Arc::new(Quiet(release.clone()));
        tokio::spawn(serve(listener, opts, conns, std::future::pending()));
        // Accepted in order: the first takes the only slot.
        let _first = TcpStream::connect(addr).await.unwrap();
        let mut second = TcpStream::connect(addr).await.unwrap();
        let r = read_all(&mut second).await;
        assert!(
            r.starts_with("HTTP/1.1 503")
                && r.contains("text/plain")
                && r.contains("connection limit"),
            "{r}"
        );
        release.notify_waiters();
    }

    #[test]
    fn a_plain_refusal_is_a_complete_response() {
        let r = String::from_utf8(plain_503("busy")).unwrap();
        assert!(r.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(r.contains("content-length: 4\r\n") && r.contains("connection: close\r\n"));
        assert!(r.ends_with("\r\n\r\nbusy"));
    }
}
