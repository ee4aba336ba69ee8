//! Shadow comparison core: are two SOAP answers the same answer?
//!
//! Where it sits in the flow: in the `shadow` and `uxp-shadow` stages the gateway serves
//! the client from the primary stack and mirrors a translated copy of the request to the
//! other one (`proxy`, the mirror task). Once both answers are in, and the shadow's has
//! been translated back to the client's dialect exactly as the gateway would for the
//! client, this module compares them **as SOAP, not as bytes**, and its [`Comparison`]
//! goes to the exchange store and the migration reports. It is sans-io: no sockets, no
//! clock, no store; everything it needs comes in as arguments.
//!
//! - [`canon`]: an answer (plain or multipart, any supported charset) → a canonical
//!   tree: namespace-aware, prefix-insensitive, attribute order, namespace declarations,
//!   indentation, comments and CDATA-vs-escaping ignored. DTDs refused, size bounded.
//! - [`render`]: the canonical text form (one node per line) behind the unified diff.
//! - [`rules`]: the config (`ignore` with reason and expiry, `unordered`, `numeric`,
//!   `timestamps`), validated all at once; stale and expired rule reporting.
//! - [`values`]: number, timestamp and date parsing for the treatments (the calendar is the `time` crate's).
//! - [`compare`](mod@compare): the comparator: fault classification, the tree walk, volatile X-Road
//!   fields, differing paths, unified diff.
//! - [`noise`]: Diffy-style noise learned from primary-vs-primary pairs.
//! - [`outcome`]: the outcome classes and not-compared reasons shared with the mirror.
//! - [`exchange`]: one mirrored exchange judged end to end (shadow answer brought to
//!   the client's dialect, compared, turned into the records the store keeps); shared
//!   by the gateway's mirror and `dualroad replay`.
//! - [`copy`]: the pure half of one shadow copy (admission, the unmapped rule, the
//!   byte budget, the fingerprint check, judgement of the pair), shared the same way.
//!
//! ```
//! use dualroad_core::shadow::{compare, CompareConfig, Date, Options};
//! use dualroad_core::wire::message::Input;
//!
//! let rules = CompareConfig::default().compile().unwrap();
//! let today: Date = "2026-03-01".parse().unwrap();
//! let a = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:r xmlns:m="urn:m"><v>1</v></m:r></s:Body></s:Envelope>"#;
//! let b = br#"<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/">
//!   <Body><r xmlns="urn:m"><v xmlns="">1</v></r></Body>
//! </Envelope>"#;
//! let c = compare(Input::new(a), Input::new(b), &Options::new(&rules, today));
//! assert!(c.is_match());
//! ```

pub mod calibrate;
pub mod canon;
pub mod compare;
pub mod copy;
pub mod exchange;
pub mod noise;
pub mod outcome;
pub mod render;
pub mod rules;
pub mod values;

pub use canon::{Canon, CanonError, Limits};
pub use compare::{compare, compare_canon, Comparison, DiffKind, Options, PathDiff};
pub use noise::NoiseModel;
pub use outcome::{NotComparedReason, Outcome, OutcomeClass, Role};
pub use rules::{CompareConfig, ConfigError, IgnoreRule, RuleReport, RuleStats, Rules};
pub use values::Date;

#[cfg(test)]
mod tests;
