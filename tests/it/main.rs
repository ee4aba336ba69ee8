//! The one integration-test binary (one link step instead of many). Each module covers
//! one surface; shared helpers live in `support`.

// These tests drive real processes, sockets and sled files: they read the real clock
// for hang-guard deadlines and unique names (never in an assertion), which the
// crate itself may not (clippy.toml).
#![allow(clippy::disallowed_methods)]
// Test helpers (not only #[test] functions) may unwrap: a failed set-up is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod answers;
mod cli;
mod crash;
mod exchanges;
mod faults;
mod framing;
mod fuzz_regressions;
mod gateway;
mod header_fidelity;
mod identifiers;
mod layering;
mod limits;

mod replay;
mod report;
mod robustness;
mod serve_cli;
mod shadow;
mod sim;
mod stub;
mod support;
mod tls;
mod translate_fixtures;
