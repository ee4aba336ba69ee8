//! Wire formats: everything that knows how X-Road messages look on the wire.
//!
//! - [`dialect`]: the dialect table (namespaces, SOAP versions).
//! - [`ids`]: typed identifiers.
//! - [`header`]: the canonical header model all codecs share.
//! - [`multipart`]: `multipart/related` (SwA, MTOM) split and rebuild.

pub mod dialect;
pub mod header;
pub mod ids;
pub mod multipart;

pub use dialect::{Dialect, SoapVersion};
pub use header::Header;
