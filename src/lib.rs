//! dualroad: a gateway that moves a government data exchange from a legacy X-Road to
//! Cybernetica UXP without a flag day.
//!
//! This crate is the shell: the network, the store, the clock, the files and the
//! command line. What it decides with lives in `dualroad-core` (`crates/dualroad-core`),
//! re-exported here under the same names, so `dualroad::wire` is `dualroad_core::wire`.
//!
//! Crate map, in the order a message flows through it (core modules marked *core*):
//! - [`wire`] (*core*): dialect detection, one codec per dialect around a canonical
//!   header, SOAP envelopes, faults and `multipart/related`.
//! - [`mapping`] (*core*, files read here): legacy short names ↔ UXP identifiers, from
//!   `mappings/*.toml`.
//! - [`translate`] (*core*): a message of one dialect turned into another.
//! - [`routing`] (*core*): routing decisions (stages, canary split, rollback switch).
//! - [`proxy`]: the gateway's I/O shell: listeners, pipeline, upstream clients, the
//!   single error-to-fault rescue.
//! - [`shadow`] (*core*): shadow mode's comparison core: two SOAP answers compared as SOAP
//!   (canonical trees, volatile fields, ignore rules, noise calibration).
//! - [`evidence`] (*core*): the one record of an exchange (and its diff, its capture), built in
//!   one place from what the pipeline and the shadow copy learned. Pure.
//! - [`store`]: sled: switch state, the tamper-evident audit log and the evidence.
//! - [`report`] (*core*, store read here): migration reports (readiness per agency ×
//!   service) from the evidence.
//! - [`net`] (crate `dualroad-net`): the one accept loop with its connection limits and
//!   graceful drain, the TLS handshake, authority parsing; shared with the simulators.
//! - [`clock`]: the one injected wall clock of the shell.
//! - [`gateway`]: starts everything (store, listeners, admin) and serves until stopped.
//! - [`admin`]: health, metrics, rollout, switch and reload over HTTP.
//! - [`config`]: file config → validated settings.
//! - [`telemetry`]: logging, typed events, metrics.
//! - [`tls`]: rustls configs for HTTPS listeners and upstreams, certificate facts.
//! - [`sim`] (crate `dualroad-sim`, feature `sim`): stand-ins for a legacy X-Road and a
//!   UXP security server (tests, demos), and the report's sample evidence.
//! - [`cli`]: the `dualroad` command line (thin; `main.rs` only calls into it).

pub use dualroad_core::{error, evidence, plan, routing, shadow, translate, wire};
pub use dualroad_net as net;
#[cfg(feature = "sim")]
pub use dualroad_sim as sim;

pub mod admin;
pub mod cli;
pub mod clock;
pub mod config;
pub mod gateway;
pub mod mapping;
pub mod proxy;
pub mod report;
pub mod store;
pub mod telemetry;
pub mod tls;
