//! The TLS handshake of an accepted connection, for listeners that serve TLS: the
//! listener brings its acceptor (its certificate and client-certificate policy, which
//! a reload may change), this bounds the handshake so that a client that never
//! finishes it cannot hold a connection slot.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// Why a handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("{0}")]
    Failed(#[from] std::io::Error),
    #[error("handshake not finished within {0:?}")]
    TimedOut(Duration),
}

/// Runs the server side of the handshake on `stream`, within `within`.
pub async fn tls_handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    within: Duration,
) -> Result<TlsStream<TcpStream>, HandshakeError> {
    match tokio::time::timeout(within, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(e)) => Err(HandshakeError::Failed(e)),
        Err(_) => Err(HandshakeError::TimedOut(within)),
    }
}
