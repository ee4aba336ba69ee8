//! Network building blocks shared by every listener of the shell and by the
//! simulators: the one accept loop ([`serve`]) with its connection limits and graceful
//! shutdown, the TLS handshake of an accepted connection, and parsing what clients
//! write about addresses. Nothing here imports the rest of the crate, so that it can
//! become a crate of its own.

mod accept;
mod authority;
mod sources;
mod tls;

pub use accept::{
    plain_503, serve, Accepted, Connections, Drain, Options, Refused, DEFAULT_ACCEPT_BACKOFF,
};
pub use authority::Authority;
pub use sources::{SourceCounts, SourceSlot};
pub use tls::{tls_handshake, HandshakeError};
