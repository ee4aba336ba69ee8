//! Wire formats: everything that knows how X-Road messages look on the wire.
//!
//! Flow inside this layer: [`message`] splits an HTTP payload (plain or multipart) and
//! finds the SOAP part → [`envelope`] scans it up to the Body → [`codec`] detects the
//! dialect and decodes the header into the canonical [`header::Header`] → (translation
//! happens elsewhere) → [`codec`] encodes a header → [`assemble`] puts header and the
//! untouched Body back together → [`message`] rebuilds the payload.
//!
//! Also here: [`dialect`] (namespace table), [`ids`] (typed identifiers), [`fault`]
//! (SOAP faults and the single error-to-fault rescue), [`charset`], [`multipart`],
//! [`scan`] (the structural proof of the Body, called by [`envelope`]).

pub mod assemble;
pub mod charset;
pub mod codec;
pub mod dialect;
pub mod envelope;
pub mod error;
pub mod fault;
pub mod header;
pub mod ids;
pub mod message;
pub mod multipart;
pub mod scan;

pub use dialect::{Dialect, SoapVersion};
pub use error::WireError;
pub use header::Header;
