//! dualroad-net: network building blocks shared by every listener of the gateway and
//! by the simulators: the one accept loop ([`serve`]) with its connection limits and
//! graceful shutdown, the TLS handshake of an accepted connection, and parsing what
//! clients write about addresses. A crate of its own so that the simulators do not
//! depend on the gateway; the gateway re-exports it as `dualroad::net`.

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
