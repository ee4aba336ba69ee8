//! Counts what a stopped gateway's exchange store holds, as one JSON line, for
//! `scripts/soak.sh`'s accounting check (every request sent must be a stored exchange
//! record or a counted drop):
//!
//!     cargo run --example exchange_count -- DATA_DIR
//!
//! Prints `{"records": N, "by_outcome": {...}, "not_compared": N, "dropped": N,
//! "skipped": N}`. Exit 2 when the store does not open.

use std::collections::BTreeMap;
use std::process::ExitCode;

use dualroad::store::{SledStore, Store};

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: exchange_count DATA_DIR");
        return ExitCode::from(2);
    };
    let store = match SledStore::open_existing(std::path::Path::new(&dir)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("exchange_count: {e}");
            return ExitCode::from(2);
        }
    };
    let exchanges = store.exchanges();
    let mut by_outcome: BTreeMap<String, u64> = BTreeMap::new();
    let (mut records, mut not_compared, mut unreadable) = (0u64, 0u64, 0u64);
    for item in exchanges.exchanges_between(0, u64::MAX) {
        match item {
            Ok((_, r)) => {
                records += 1;
                if r.not_compared_reason.is_some() {
                    not_compared += 1;
                }
                *by_outcome.entry(r.outcome.to_string()).or_default() += 1;
            }
            Err(_) => unreadable += 1,
        }
    }
    let dropped = match exchanges.counters() {
        Ok(c) => c.dropped.exchanges,
        Err(e) => {
            eprintln!("exchange_count: counters: {e}");
            return ExitCode::from(2);
        }
    };
    let out = serde_json::json!({
        "records": records,
        "by_outcome": by_outcome,
        "not_compared": not_compared,
        "dropped": dropped,
        "skipped": exchanges.skipped().total() + unreadable,
    });
    println!("{out}");
    ExitCode::SUCCESS
}
