//! Open connections per source address, for the accept loop's per-source limit
//! ([`super::serve`]). Counted even while the limit is off, so that a limit turned on
//! later (a reload) sees the connections already open.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Open connections per source IP address on one listener, for `[limits]
/// max_connections_per_source`. Counted even while the limit is off, so that a reload
/// that turns it on sees the connections already open. An address leaves the map with
/// its last connection: the map never holds more entries than there are connections.
#[derive(Debug, Default)]
pub struct SourceCounts {
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl SourceCounts {
    /// A slot for one more connection from `ip`, or `None` when `limit` (non-zero) are
    /// already open from it. `limit == 0` is no limit.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr, limit: usize) -> Option<SourceSlot> {
        // A v4 client on a dual-stack listener arrives as ::ffff:a.b.c.d: one address.
        let ip = ip.to_canonical();
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(ip).or_insert(0);
        if limit != 0 && *n >= limit {
            return None;
        }
        *n += 1;
        Some(SourceSlot {
            counts: self.clone(),
            ip,
        })
    }

    /// Connections open from `ip` (0 when none).
    #[cfg(test)]
    fn open(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(&ip.to_canonical()).copied().unwrap_or(0)
    }

    /// Addresses with at least one open connection.
    #[cfg(test)]
    fn sources(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// One connection's place in [`SourceCounts`]; given back when dropped, however the
/// connection ends.
#[derive(Debug)]
pub struct SourceSlot {
    counts: Arc<SourceCounts>,
    ip: IpAddr,
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut open = self
            .counts
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_source_gets_its_limit_and_its_slots_back_when_they_drop() {
        let counts = Arc::new(SourceCounts::default());
        let (a, b) = (ip("127.0.0.2"), ip("127.0.0.1"));
        let mut held: Vec<_> = (0..3).map(|_| counts.try_acquire(a, 3).unwrap()).collect();
        assert!(
            counts.try_acquire(a, 3).is_none(),
            "a fourth is over the limit"
        );
        assert_eq!(counts.open(a), 3, "a refused attempt is not counted");
        let other = counts
            .try_acquire(b, 3)
            .expect("another address has its own count");
        drop(held.pop());
        assert_eq!(counts.open(a), 2);
        let again = counts
            .try_acquire(a, 3)
            .expect("a dropped slot is given back");
        drop(again);
        drop(other);
        assert_eq!((counts.open(a), counts.open(b)), (2, 0));
        assert_eq!(
            counts.sources(),
            1,
            "an address leaves with its last connection"
        );
    }

    #[test]
    fn zero_is_no_limit_but_connections_are_still_counted() {
        let counts = Arc::new(SourceCounts::default());
        let a = ip("10.0.0.1");
        let held: Vec<_> = (0..100)
            .map(|_| counts.try_acquire(a, 0).unwrap())
            .collect();
        assert_eq!(counts.open(a), 100);
        // Turned on by a reload: the connections already open count against it.
        assert!(counts.try_acquire(a, 50).is_none());
        drop(held);
        assert_eq!(counts.sources(), 0);
    }

    #[test]
    fn a_v4_client_on_a_dual_stack_listener_is_one_address() {
        let counts = Arc::new(SourceCounts::default());
        let _v4 = counts.try_acquire(ip("192.0.2.7"), 2).unwrap();
        let _mapped = counts.try_acquire(ip("::ffff:192.0.2.7"), 2).unwrap();
        assert!(counts.try_acquire(ip("192.0.2.7"), 2).is_none());
        assert_eq!(counts.open(ip("::ffff:192.0.2.7")), 2);
    }
}
