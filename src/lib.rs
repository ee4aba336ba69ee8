//! dualroad: a gateway that moves a government data exchange from a legacy X-Road to
//! Cybernetica UXP without a flag day.
//!
//! Crate map, in the order a message flows through it:
//! - [`wire`]: dialect detection, one codec per dialect around a canonical header,
//!   SOAP envelopes, faults and `multipart/related`.
//! - [`mapping`]: legacy short names ↔ UXP identifiers, loaded from `mappings/*.toml`.
//! - [`translate`]: pure functions that turn a message of one dialect into another.
//! - [`sim`]: stand-ins for a legacy X-Road and a UXP security server (tests, demos).
//! - [`cli`]: the `dualroad` command line (thin; `main.rs` only calls into it).

pub mod cli;
pub mod error;
pub mod mapping;
pub mod sim;
pub mod telemetry;
pub mod translate;
pub mod wire;
