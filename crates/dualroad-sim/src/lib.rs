//! dualroad-sim: stack simulators — stand-ins for a legacy X-Road security server and a
//! UXP security server, for integration tests, load scripts and `dualroad demo` — and
//! the report's sample evidence ([`sample`]). Built on the core (`dualroad-core`) and
//! the one accept loop (`dualroad-net`), never on the gateway; the gateway's `sim`
//! feature (on by default) pulls it in for `demo`, `sim` and `report --sample`.
//!
//! Where it sits: the gateway talks to two upstream stacks; in tests and demos both are
//! these simulators. They serve the handful of services in `mappings/` and answer the
//! way a security server with a producer behind it would:
//! - the legacy simulator answers in whatever legacy dialect a request arrives in
//!   (2.0, 3.0, 3.1, 3.1-eu, and the X-Road 6/7 v6.0/v4 ones);
//! - the UXP simulator answers UXP (4.0-profile) requests, in SOAP 1.1 or 1.2 as asked,
//!   with the `requestHash` a provider security server inserts and a
//!   `uxp-transaction-id` HTTP header.
//!
//! Both derive their data from a hash of the request's key parameter, so the two
//! simulators give the **same logical answer** to the same request (what shadow mode
//! compares), unless `divergence_rate` makes the UXP side differ on purpose.
//!
//! Flow: `server` (thin hyper shell: read the body, sleep `latency`, write the answer)
//! → [`respond`] (pure: parse with the wire layer, pick the service, build the answer)
//! → `body` (scan the request Body, compose the response Body in the request's
//! conventions) ← `service` (what each service answers) ← `data` (deterministic
//! names, places, dates) → `xml` (writes the answer tree).

mod body;
mod data;
pub mod echo;
mod error;
mod respond;
pub mod sample;
mod server;
mod service;
mod xml;

use std::time::Duration;

// The core's and the accept loop's modules under the names the gateway gives them.
use dualroad_core::{evidence, mapping, shadow, translate, wire};
use dualroad_net as net;

use crate::wire::codec::Family;
use crate::wire::Dialect;

pub use error::SimError;
pub use respond::{request_hash, respond, Outcome, Request, SimResponse};
pub use server::serve;
pub use service::Service;

/// No artificial delay unless asked for.
pub const DEFAULT_LATENCY: Duration = Duration::ZERO;
/// Share of requests answered with a simulated service failure.
pub const DEFAULT_FAULT_RATE: f64 = 0.0;
/// Share of UXP answers that differ slightly from the legacy answer.
pub const DEFAULT_DIVERGENCE_RATE: f64 = 0.0;
/// The HTTP header a UXP security server names its transaction with.
pub const UXP_TRANSACTION_ID_HEADER: &str = "uxp-transaction-id";
/// `algorithmId` of the `requestHash` the UXP simulator writes (X-Road's default).
pub const REQUEST_HASH_ALGORITHM: &str = "http://www.w3.org/2001/04/xmlenc#sha512";

/// Which security server to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimKind {
    /// A legacy X-Road security server (v5 with 2.0/3.x producers, or X-Road 6/7).
    Legacy,
    /// A Cybernetica UXP security server.
    Uxp,
}

impl SimKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SimKind::Legacy => "legacy",
            SimKind::Uxp => "uxp",
        }
    }

    /// Which dialect family the wire layer should detect requests in.
    pub(crate) fn family(self) -> Family {
        match self {
            SimKind::Legacy => Family::Legacy,
            SimKind::Uxp => Family::Uxp,
        }
    }
}

impl std::fmt::Display for SimKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a simulator behaves. Rates are probabilities in `[0, 1]`, decided per message
/// id (not at random), so a re-sent request meets the same fate and the legacy and the
/// UXP simulator fault on the same requests.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    pub kind: SimKind,
    /// Delay before every answer.
    pub latency: Duration,
    /// Share of requests answered with `Server.ServerProxy.ServiceFailed.InternalError`.
    pub fault_rate: f64,
    /// UXP only: share of answers that differ slightly (a changed `lastUpdated` or
    /// status, one list item missing) so shadow comparison has something to find.
    pub divergence_rate: f64,
    /// Legacy only: accept just this dialect, as a stack that speaks one would; `None`
    /// accepts every legacy dialect. Ignored by the UXP simulator.
    pub dialect: Option<Dialect>,
}

impl SimConfig {
    /// A well-behaved simulator of `kind`: no latency, no faults, no divergence.
    pub fn new(kind: SimKind) -> SimConfig {
        SimConfig {
            kind,
            latency: DEFAULT_LATENCY,
            fault_rate: DEFAULT_FAULT_RATE,
            divergence_rate: DEFAULT_DIVERGENCE_RATE,
            dialect: None,
        }
    }

    pub fn legacy() -> SimConfig {
        SimConfig::new(SimKind::Legacy)
    }

    pub fn uxp() -> SimConfig {
        SimConfig::new(SimKind::Uxp)
    }
}
