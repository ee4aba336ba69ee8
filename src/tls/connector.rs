//! The connector behind every upstream client: TCP from hyper-util's `HttpConnector`,
//! then, for an `https://` upstream, a rustls handshake (tokio-rustls) verifying the
//! upstream's certificate against its configured CA and name.
//!
//! A failed handshake surfaces as [`HandshakeError`] inside hyper-util's connect error,
//! so `proxy::upstream` can tell "the certificate is wrong" from "nothing listens".

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The TLS handshake with an upstream failed (untrusted or wrong certificate, protocol
/// mismatch, the upstream refused our client certificate, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("TLS handshake failed: {0}")]
pub struct HandshakeError(pub String);

/// Plain TCP, or TLS over TCP when the upstream has a TLS config.
#[derive(Clone)]
pub struct Connector {
    http: HttpConnector,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("tls", &self.tls.as_ref().map(|(_, n)| n.to_str()))
            .finish()
    }
}

impl Connector {
    /// `tls`: the client config and the name the upstream's certificate must carry.
    pub fn new(
        mut http: HttpConnector,
        tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
    ) -> Self {
        http.enforce_http(false);
        Connector {
            http,
            tls: tls.map(|(c, n)| (TlsConnector::from(c), n)),
        }
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = Stream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http
            .poll_ready(cx)
            .map_err(|e| Box::new(e) as BoxError)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let tcp = self.http.call(uri);
        let tls = self.tls.clone();
        Box::pin(async move {
            let tcp = tcp.await.map_err(|e| Box::new(e) as BoxError)?;
            match tls {
                None => Ok(Stream::Plain(tcp)),
                Some((connector, name)) => {
                    let s = connector
                        .connect(name, tcp.into_inner())
                        .await
                        .map_err(|e| Box::new(HandshakeError(e.to_string())) as BoxError)?;
                    Ok(Stream::Tls(Box::new(TokioIo::new(s))))
                }
            }
        })
    }
}

/// A connection to an upstream.
pub enum Stream {
    Plain(TokioIo<TcpStream>),
    Tls(Box<TokioIo<TlsStream<TcpStream>>>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        match self {
            Stream::Plain(s) => s.connected(),
            Stream::Tls(s) => s.inner().get_ref().0.connected(),
        }
    }
}

impl Read for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl Write for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }
}
