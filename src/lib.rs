//! dualroad: a gateway that moves a government data exchange from a legacy X-Road to
//! Cybernetica UXP without a flag day.
//!
//! Crate map, in the order a message flows through it:
//! - [`wire`]: dialect detection, one codec per dialect around a canonical header,
//!   SOAP envelopes, faults and `multipart/related`.
//! - [`mapping`]: legacy short names ↔ UXP identifiers, loaded from `mappings/*.toml`.
//! - [`translate`]: pure functions that turn a message of one dialect into another.
//! - [`cli`]: the `dualroad` command line (thin; `main.rs` only calls into it).

pub mod cli;
pub mod config;
pub mod error;
pub mod mapping;
pub mod routing;
pub mod store;
pub mod translate;
pub mod wire;
