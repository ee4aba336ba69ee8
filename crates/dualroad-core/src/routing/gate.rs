//! The automatic gate: a rule in `canary`, `uxp` or `uxp-shadow` whose UXP traffic
//! goes bad over a sliding window is rolled back by the gateway itself.
//!
//! Where it sits: every exchange of a gated rule in which UXP took part is one sample
//! ([`Sample`], decided by `proxy` from the exchange record); [`GateWindow`] keeps the
//! counts of the last `window` in one-second buckets and [`GateWindow::check`] says
//! when the policy trips. Pure: the caller passes the time, so tests drive it without
//! a clock; the proxy applies the rollback (actor `auto-gate`) with
//! [`Trip::reason`] as the audit log's reason.
//!
//! What counts as good: a compared exchange that matched, or an exchange UXP served
//! without dualroad having to answer with its own fault and without a server-side
//! (`Server.*`) fault from UXP. Business faults (`Client.*`, service-defined codes)
//! are answers, not failures.

use std::collections::VecDeque;
use std::time::Duration;

/// `auto_rollback = { min_samples, min_match_rate, window }` of one rule, validated.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct GatePolicy {
    /// Samples needed in the window before the gate may trip: too few say nothing.
    pub min_samples: u64,
    /// `0.0..=1.0`: trips when the good share falls below this.
    pub min_match_rate: f64,
    #[serde(rename = "window_s", serialize_with = "ser_secs")]
    pub window: Duration,
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

/// One exchange, as the gate sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sample {
    Good,
    Bad,
}

/// Counts of the last `window`, in one-second buckets (at most `window` seconds of
/// buckets are kept, so memory is bounded by the window, not the traffic).
#[derive(Debug, Clone, Default)]
pub struct GateWindow {
    /// (second, good, bad), oldest first.
    buckets: VecDeque<(u64, u64, u64)>,
}

/// The gate tripped: the numbers it used.
#[derive(Debug, Clone, PartialEq)]
pub struct Trip {
    pub samples: u64,
    pub good: u64,
    pub rate: f64,
    pub policy: GatePolicy,
}

impl Trip {
    /// The audit log's reason: the numbers, so the decision can be checked.
    pub fn reason(&self) -> String {
        format!(
            "auto-gate: {good} of {samples} UXP exchanges good ({rate:.1} %) in the last {w} s, below min_match_rate {min:.1} % (min_samples {ms})",
            good = self.good,
            samples = self.samples,
            rate = self.rate * 100.0,
            w = self.policy.window.as_secs(),
            min = self.policy.min_match_rate * 100.0,
            ms = self.policy.min_samples,
        )
    }
}

impl GateWindow {
    pub fn new() -> GateWindow {
        GateWindow::default()
    }

    /// Adds a sample at `now_ms`.
    pub fn record(&mut self, now_ms: u64, sample: Sample) {
        let sec = now_ms / 1000;
        let (good, bad) = match sample {
            Sample::Good => (1, 0),
            Sample::Bad => (0, 1),
        };
        match self.buckets.back_mut() {
            Some((s, g, b)) if *s == sec => {
                *g += good;
                *b += bad;
            }
            // A clock step backwards lands in the newest bucket rather than
            // reordering the window.
            Some((s, g, b)) if *s > sec => {
                *g += good;
                *b += bad;
            }
            _ => self.buckets.push_back((sec, good, bad)),
        }
    }

    fn expire(&mut self, now_ms: u64, window: Duration) {
        // The window's seconds are (now - window, now]: `window` buckets.
        let oldest = (now_ms / 1000 + 1).saturating_sub(window.as_secs().max(1));
        while self.buckets.front().is_some_and(|(s, _, _)| *s < oldest) {
            self.buckets.pop_front();
        }
    }

    /// (samples, good) within the window ending at `now_ms`.
    pub fn counts(&mut self, now_ms: u64, window: Duration) -> (u64, u64) {
        self.expire(now_ms, window);
        self.buckets
            .iter()
            .fold((0, 0), |(n, g), (_, good, bad)| (n + good + bad, g + good))
    }

    /// Trips when the window holds at least `min_samples` and the good share is
    /// below `min_match_rate`. A trip clears the window, so one bad spell gives one
    /// rollback.
    pub fn check(&mut self, now_ms: u64, policy: &GatePolicy) -> Option<Trip> {
        let (samples, good) = self.counts(now_ms, policy.window);
        if samples == 0 || samples < policy.min_samples {
            return None;
        }
        let rate = good as f64 / samples as f64;
        if rate >= policy.min_match_rate {
            return None;
        }
        self.buckets.clear();
        Some(Trip {
            samples,
            good,
            rate,
            policy: *policy,
        })
    }
}

/// The gate's view of one exchange: `None` when it says nothing about UXP (served by
/// legacy without a comparison, not compared, or rejected for the client's own fault).
/// `uxp_failed`: dualroad answered with its own fault because the UXP stack failed.
pub fn sample_of(
    served_by: &str,
    outcome: &str,
    uxp_failed: bool,
    primary_fault_code: Option<&str>,
) -> Option<Sample> {
    let server_fault = primary_fault_code.is_some_and(|c| {
        let c = c.rsplit(':').next().unwrap_or(c);
        c.starts_with("Server") || c.starts_with("Receiver")
    });
    match outcome {
        _ if uxp_failed => Some(Sample::Bad),
        "match" => Some(Sample::Good),
        "body-diff" | "fault-mismatch" | "fault-code-diff" => Some(Sample::Bad),
        // An unreadable shadow answer is UXP's failure only when UXP is the shadow.
        "shadow-error" if served_by == "legacy" => Some(Sample::Bad),
        "served" if served_by == "uxp" && server_fault => Some(Sample::Bad),
        "served" if served_by == "uxp" => Some(Sample::Good),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> GatePolicy {
        GatePolicy {
            min_samples: 10,
            min_match_rate: 0.9,
            window: Duration::from_secs(60),
        }
    }

    #[test]
    fn too_few_samples_never_trip() {
        let mut w = GateWindow::new();
        for i in 0..9 {
            w.record(1_000 * i, Sample::Bad);
        }
        assert_eq!(w.check(9_000, &policy()), None);
    }

    #[test]
    fn trips_below_the_rate_and_not_at_it() {
        let mut w = GateWindow::new();
        for i in 0..9 {
            w.record(1_000 + i, Sample::Good);
        }
        w.record(2_000, Sample::Bad);
        assert_eq!(
            w.check(2_000, &policy()),
            None,
            "9/10 = 0.9 is not below 0.9"
        );
        w.record(2_500, Sample::Bad);
        let t = w.check(2_500, &policy()).expect("9/11 trips");
        assert_eq!((t.samples, t.good), (11, 9));
        assert!(t.reason().contains("9 of 11") && t.reason().contains("81.8 %"));
        assert_eq!(w.check(2_500, &policy()), None, "a trip clears the window");
    }

    #[test]
    fn old_samples_leave_the_window() {
        let mut w = GateWindow::new();
        for i in 0..20 {
            w.record(i * 100, Sample::Bad);
        }
        assert_eq!(w.counts(1_999, Duration::from_secs(60)), (20, 0));
        // 61 s later every bucket is older than the window.
        assert_eq!(w.counts(62_000, Duration::from_secs(60)), (0, 0));
        assert_eq!(w.check(62_000, &policy()), None);
    }

    #[test]
    fn samples_from_records() {
        assert_eq!(
            sample_of("legacy", "match", false, None),
            Some(Sample::Good)
        );
        assert_eq!(
            sample_of("uxp", "body-diff", false, None),
            Some(Sample::Bad)
        );
        assert_eq!(sample_of("legacy", "served", false, None), None);
        assert_eq!(sample_of("uxp", "served", false, None), Some(Sample::Good));
        assert_eq!(
            sample_of("uxp", "served", false, Some("Client.PatientNotFound")),
            Some(Sample::Good),
            "a business fault is an answer"
        );
        assert_eq!(
            sample_of(
                "uxp",
                "served",
                false,
                Some("SOAP-ENV:Server.ServerProxy.Timeout")
            ),
            Some(Sample::Bad)
        );
        assert_eq!(
            sample_of("dualroad", "rejected", true, None),
            Some(Sample::Bad)
        );
        assert_eq!(
            sample_of("dualroad", "rejected", false, None),
            None,
            "the client's own bad request says nothing about UXP"
        );
        assert_eq!(sample_of("uxp", "shadow-error", false, None), None);
        assert_eq!(
            sample_of("legacy", "not-compared", false, None),
            None,
            "nothing compared, nothing learned"
        );
    }
}
