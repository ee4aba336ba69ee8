//! The one wall clock of the shell, injected: every timestamp dualroad writes (exchange
//! records, audit entries, gate windows, report dates, retention cut-offs) comes from a
//! [`Clock`] handed down from `main`'s command, never from `SystemTime::now()` at the
//! point of use. Tests pass a [`manual`] clock and move it; the pure cores take times
//! as numbers. Durations (latencies, timeouts) use tokio's `Instant`, which tokio's
//! paused time controls in tests. `clippy.toml` bans the raw clocks everywhere else.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Milliseconds since the Unix epoch, from wherever the caller decided.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system's wall clock (0 if it reads before 1970).
pub fn system() -> Clock {
    Arc::new(|| {
        #[allow(clippy::disallowed_methods)] // the one place the wall clock is read
        let now = std::time::SystemTime::now();
        now.duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    })
}

/// A clock that reads `ms` until moved: [`Manual::set`], [`Manual::advance`].
#[derive(Clone)]
pub struct Manual(Arc<AtomicU64>);

/// A [`Manual`] clock at `ms`, and the [`Clock`] that reads it.
pub fn manual(ms: u64) -> (Manual, Clock) {
    let cell = Arc::new(AtomicU64::new(ms));
    let read = cell.clone();
    (Manual(cell), Arc::new(move || read.load(Ordering::SeqCst)))
}

impl Manual {
    pub fn set(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst);
    }

    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let (hand, clock) = manual(1_000);
        assert_eq!(clock(), 1_000);
        hand.advance(500);
        assert_eq!(clock(), 1_500);
        hand.set(7);
        assert_eq!(clock(), 7);
        assert!(system()() > 1_700_000_000_000, "the system clock reads now");
    }
}
