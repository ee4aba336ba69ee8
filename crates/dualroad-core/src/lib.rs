//! dualroad-core: everything dualroad decides, with no I/O.
//!
//! The shell (the root `dualroad` package) owns the network, the store, the clock and
//! the files; it hands this crate bytes, text and times, and gets back decisions,
//! translated messages, records and reports. The compiler keeps it that way: this
//! crate's `Cargo.toml` has no tokio, hyper, sled or rustls, and its `clippy.toml`
//! refuses `std::fs`, `std::net`, the environment and raw clocks (`.ci/run` also
//! checks `cargo tree -p dualroad-core -e normal`).
//!
//! In the order a message flows through it:
//! - [`wire`]: dialect detection, one codec per dialect around a canonical header,
//!   SOAP envelopes, faults and `multipart/related`.
//! - [`mapping`]: legacy short names ↔ UXP identifiers, parsed from the text of
//!   `mappings/*.toml` (the shell reads the files).
//! - [`translate`]: a message of one dialect turned into another.
//! - [`routing`]: routing decisions (stages, canary split, rollback switch).
//! - [`shadow`]: two SOAP answers compared as SOAP (canonical trees, volatile fields,
//!   ignore rules, noise calibration).
//! - [`evidence`]: the one record of an exchange (and its diff, its capture), built in
//!   one place from what the pipeline and the shadow copy learned.
//! - [`plan`]: what the gateway does with one request (the routing decision and the
//!   rule's shadow keys made a [`plan::Plan`]), and the facts of its exchange from the
//!   plan and what serving gave (`Facts::of`). Above `routing`, `shadow` and
//!   `evidence`, which it combines.
//! - [`report`]: migration reports — aggregation, verdicts, the view model and its
//!   HTML / Markdown / JSON renderings — from records the shell reads.
//! - [`error`]: the vocabulary errors share (who is to blame, the X-Road fault code).

pub mod error;
pub mod evidence;
pub mod mapping;
pub mod plan;
pub mod report;
pub mod routing;
pub mod shadow;
pub mod translate;
pub mod wire;
