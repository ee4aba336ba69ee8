//! The readiness verdict of one agency × service, from the thresholds in `[report]`.
//!
//! Rules, in order; every reason that applies is listed, and the status is the worst:
//! 1. Nothing compared → `hold` (never compared).
//! 2. Fewer than `min_samples` compared → `hold` (too few samples), unless UXP serves
//!    this traffic and even the *upper* end of the 95 % Wilson interval is below
//!    `min_match_rate`: the evidence, small as it is, already shows UXP answering
//!    differently, so → `rollback recommended`.
//! 3. Match rate below `min_match_rate` → `rollback recommended` when UXP serves the
//!    traffic (stage `canary`, `uxp` or `uxp-shadow`), else `hold`.
//! 4. UXP's p99 latency above `max_p99_ratio` × legacy's (measured when both stacks
//!    have `min_samples` latencies) → likewise `rollback recommended` or `hold`.
//! 5. Match rate at or above the threshold, some mismatches, and the interval's lower
//!    end below the threshold → `hold` (open diffs): the differences could still be
//!    more than the threshold allows. With no mismatch at all, rule 2 suffices.
//! 6. Something matched, and every match had differences on paths calibration learned
//!    as noise (`matched_by_noise ≥ matched > 0`) → `hold` (noise on every answer): no
//!    compared answer was alike, whatever the match rate says. A calibration that once
//!    learned a fault beside a real answer makes every path noise, and a UXP stack that
//!    never answers alike cannot then be told from noise. Never `rollback`: noise does
//!    not show UXP wrong, it shows the evidence cannot tell. A field volatile by design
//!    (a per-call timestamp) is given an ignore rule with a reason instead: ignored
//!    nodes are left out of the comparison, so they are neither diffs nor noise, and
//!    one answer alike without noise lifts the hold. With nothing matched, rule 3
//!    already applies.
//!
//! Otherwise `ready`. Messages state the measured numbers and the thresholds.

use super::model::{Reason, ReasonKind, Verdict, VerdictStatus};
use super::stats::{wilson, Z_95};
use super::Thresholds;

/// What a verdict is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct VerdictInput {
    pub compared: u64,
    pub matched: u64,
    /// Whether the last stage seen lets UXP answer clients (canary, uxp, uxp-shadow).
    pub uxp_serves: bool,
    pub p99_ratio: Option<f64>,
    /// Distinct differing paths counted against UXP.
    pub diff_paths: u64,
    /// Requests seen but not compared, for the "never compared" message.
    pub not_compared: u64,
    /// Of `matched`, those with differences on paths learned as noise: they matched
    /// only because calibration called those paths noise.
    pub matched_by_noise: u64,
    /// The paths calibration learned as noise for the service (the most frequent
    /// few), named in the message.
    pub noise_paths: Vec<String>,
    /// Calibration pairs never learned from (see `shadow::noise`), for the message.
    pub calibration_errors: u64,
}

/// Whether UXP answers clients in `stage`.
pub fn uxp_serves(stage: &str) -> bool {
    matches!(stage, "canary" | "uxp" | "uxp-shadow")
}

fn pct(x: f64) -> String {
    format!("{:.2} %", x * 100.0)
}

pub fn verdict(v: &VerdictInput, t: &Thresholds) -> Verdict {
    if v.compared == 0 {
        return Verdict {
            status: VerdictStatus::Hold,
            reasons: vec![Reason {
                kind: ReasonKind::NeverCompared,
                message: format!(
                    "no exchange compared ({} seen, none with both answers): shadow it before deciding",
                    v.not_compared
                ),
            }],
        };
    }
    let rates = Rates::of(v);
    let mut r = Reasons::default();
    r.match_rate(v, t, &rates);
    r.latency(v, t);
    r.open_diffs(v, t, &rates);
    r.noise(v, &rates);
    r.conclude()
}

/// The match rate of a service with compared exchanges, and its 95 % interval.
struct Rates {
    matched: u64,
    rate: f64,
    lo: f64,
    hi: f64,
}

impl Rates {
    fn of(v: &VerdictInput) -> Rates {
        let matched = v.matched.min(v.compared);
        let (lo, hi) = wilson(matched, v.compared, Z_95).unwrap_or((0.0, 1.0));
        Rates {
            matched,
            rate: matched as f64 / v.compared as f64,
            lo,
            hi,
        }
    }
}

/// The reasons found so far: any reason to roll back wins over reasons to hold.
#[derive(Default)]
struct Reasons {
    rollback: Vec<Reason>,
    hold: Vec<Reason>,
}

impl Reasons {
    /// A shortfall of the UXP stack: reason to roll back when UXP serves, else to hold.
    fn against_uxp(&mut self, v: &VerdictInput, r: Reason) {
        if v.uxp_serves {
            self.rollback.push(r);
        } else {
            self.hold.push(r);
        }
    }

    /// Too few samples, or a match rate below `min_match_rate` (with few samples, only
    /// when even the interval's upper end is below it and UXP serves).
    fn match_rate(&mut self, v: &VerdictInput, t: &Thresholds, m: &Rates) {
        let matched = m.matched;
        if v.compared < t.min_samples {
            if v.uxp_serves && m.hi < t.min_match_rate {
                self.rollback.push(Reason {
                    kind: ReasonKind::MatchRateBelowThreshold,
                    message: format!(
                        "{matched} of {} compared matched ({}); even the 95 % interval's upper end {} is below min_match_rate {}, though fewer than min_samples {} were compared",
                        v.compared, pct(m.rate), pct(m.hi), pct(t.min_match_rate), t.min_samples
                    ),
                });
            } else {
                self.hold.push(Reason {
                    kind: ReasonKind::TooFewSamples,
                    message: format!("{} compared, min_samples is {}", v.compared, t.min_samples),
                });
            }
        } else if m.rate < t.min_match_rate {
            let r = Reason {
                kind: ReasonKind::MatchRateBelowThreshold,
                message: format!(
                    "match rate {} ({matched} of {}, 95 % interval {}–{}) is below min_match_rate {}",
                    pct(m.rate),
                    v.compared,
                    pct(m.lo),
                    pct(m.hi),
                    pct(t.min_match_rate)
                ),
            };
            self.against_uxp(v, r);
        }
    }

    /// UXP's p99 over `max_p99_ratio` times legacy's.
    fn latency(&mut self, v: &VerdictInput, t: &Thresholds) {
        if let Some(ratio) = v.p99_ratio {
            if ratio > t.max_p99_ratio {
                let r = Reason {
                    kind: ReasonKind::LatencyAboveThreshold,
                    message: format!(
                        "UXP p99 latency is {ratio:.2}× legacy's, max_p99_ratio is {}",
                        t.max_p99_ratio
                    ),
                };
                self.against_uxp(v, r);
            }
        }
    }

    /// Enough samples and a good rate, but mismatches whose interval reaches below the
    /// threshold: hold until they are explained.
    fn open_diffs(&mut self, v: &VerdictInput, t: &Thresholds, m: &Rates) {
        let mismatches = v.compared - m.matched;
        if v.compared >= t.min_samples
            && m.rate >= t.min_match_rate
            && mismatches > 0
            && m.lo < t.min_match_rate
        {
            self.hold.push(Reason {
                kind: ReasonKind::OpenDiffs,
                message: format!(
                    "{mismatches} mismatch(es) on {} differing path(s): match rate {} but its 95 % interval reaches down to {}, below min_match_rate {}",
                    v.diff_paths,
                    pct(m.rate),
                    pct(m.lo),
                    pct(t.min_match_rate)
                ),
            });
        }
    }

    /// Every match a match only through paths learned as noise.
    fn noise(&mut self, v: &VerdictInput, m: &Rates) {
        let matched = m.matched;
        if matched > 0 && v.matched_by_noise >= matched {
            let listed = match v.noise_paths.is_empty() {
                true => String::new(),
                false => format!(" ({})", v.noise_paths.join(", ")),
            };
            self.hold.push(Reason {
                kind: ReasonKind::NoiseOnEveryAnswer,
                message: format!(
                    "all {} compared answers differed from the primary: the {matched} that matched did so only through paths learned as noise{listed}; the service's calibration counts {} calibration error(s). Check the calibration, and give a field that is volatile by design an ignore rule with a reason",
                    v.compared, v.calibration_errors
                ),
            });
        }
    }

    fn conclude(self) -> Verdict {
        let Reasons { mut rollback, hold } = self;
        if !rollback.is_empty() {
            rollback.extend(hold);
            Verdict {
                status: VerdictStatus::RollbackRecommended,
                reasons: rollback,
            }
        } else if !hold.is_empty() {
            Verdict {
                status: VerdictStatus::Hold,
                reasons: hold,
            }
        } else {
            Verdict {
                status: VerdictStatus::Ready,
                reasons: Vec::new(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Thresholds {
        Thresholds {
            min_samples: 200,
            min_match_rate: 0.99,
            max_p99_ratio: 1.5,
        }
    }

    fn input(compared: u64, matched: u64, uxp_serves: bool) -> VerdictInput {
        VerdictInput {
            compared,
            matched,
            uxp_serves,
            p99_ratio: Some(1.1),
            diff_paths: u64::from(compared != matched),
            not_compared: 0,
            matched_by_noise: 0,
            noise_paths: Vec::new(),
            calibration_errors: 0,
        }
    }

    fn kinds(v: &Verdict) -> Vec<ReasonKind> {
        v.reasons.iter().map(|r| r.kind).collect()
    }

    #[test]
    fn all_matched_with_enough_samples_is_ready() {
        let v = verdict(&input(200, 200, false), &t());
        assert_eq!((v.status, v.reasons.len()), (VerdictStatus::Ready, 0));
        let v = verdict(&input(5000, 4990, true), &t());
        assert_eq!(v.status, VerdictStatus::Ready, "{v:?}");
    }

    #[test]
    fn nothing_compared_holds() {
        let mut i = input(0, 0, true);
        i.not_compared = 40;
        let v = verdict(&i, &t());
        assert_eq!(v.status, VerdictStatus::Hold);
        assert_eq!(kinds(&v), [ReasonKind::NeverCompared]);
        assert!(v.reasons[0].message.contains("40 seen"), "{v:?}");
    }

    #[test]
    fn too_few_samples_holds_and_says_how_many() {
        let v = verdict(&input(199, 199, false), &t());
        assert_eq!(v.status, VerdictStatus::Hold);
        assert_eq!(kinds(&v), [ReasonKind::TooFewSamples]);
        assert_eq!(v.reasons[0].message, "199 compared, min_samples is 200");
    }

    #[test]
    fn few_but_clearly_bad_samples_recommend_rollback_only_when_uxp_serves() {
        // 30 of 60: the interval's upper end (~62 %) is far below 99 %.
        let v = verdict(&input(60, 30, true), &t());
        assert_eq!(v.status, VerdictStatus::RollbackRecommended);
        assert_eq!(kinds(&v), [ReasonKind::MatchRateBelowThreshold]);
        let v = verdict(&input(60, 30, false), &t());
        assert_eq!(kinds(&v), [ReasonKind::TooFewSamples]);
        // 59 of 60 could still be ≥ 99 %: just too few.
        let v = verdict(&input(60, 59, true), &t());
        assert_eq!(kinds(&v), [ReasonKind::TooFewSamples]);
    }

    #[test]
    fn low_match_rate_holds_in_shadow_and_rolls_back_under_uxp() {
        let v = verdict(&input(1000, 950, false), &t());
        assert_eq!(v.status, VerdictStatus::Hold);
        assert_eq!(kinds(&v), [ReasonKind::MatchRateBelowThreshold]);
        assert!(
            v.reasons[0].message.contains("95.00 % (950 of 1000"),
            "{v:?}"
        );
        assert!(
            v.reasons[0].message.contains("min_match_rate 99.00 %"),
            "{v:?}"
        );
        let v = verdict(&input(1000, 950, true), &t());
        assert_eq!(v.status, VerdictStatus::RollbackRecommended);
    }

    #[test]
    fn slow_uxp_is_reported_with_the_ratio() {
        let mut i = input(1000, 1000, false);
        i.p99_ratio = Some(2.0);
        let v = verdict(&i, &t());
        assert_eq!(kinds(&v), [ReasonKind::LatencyAboveThreshold]);
        assert!(v.reasons[0]
            .message
            .contains("2.00× legacy's, max_p99_ratio is 1.5"));
        i.uxp_serves = true;
        assert_eq!(verdict(&i, &t()).status, VerdictStatus::RollbackRecommended);
        i.p99_ratio = None;
        assert_eq!(verdict(&i, &t()).status, VerdictStatus::Ready);
    }

    #[test]
    fn mismatches_not_yet_shown_small_enough_are_open_diffs() {
        // 99.5 % ≥ 99 %, but with 400 samples the interval reaches ~98.2 %.
        let v = verdict(&input(400, 398, false), &t());
        assert_eq!(v.status, VerdictStatus::Hold);
        assert_eq!(kinds(&v), [ReasonKind::OpenDiffs]);
        // Same rate over 20 000: the interval stays above 99 %.
        let v = verdict(&input(20_000, 19_900, false), &t());
        assert_eq!(v.status, VerdictStatus::Ready, "{v:?}");
    }

    #[test]
    fn matches_that_all_lean_on_learned_noise_hold() {
        // Enough samples, every one matched, but each only because its differences were
        // on paths calibration learned as noise: no answer was ever alike.
        let mut i = input(300, 300, false);
        i.matched_by_noise = 300;
        i.noise_paths = vec!["Body/Fault".into(), "Body/getPatientSummary".into()];
        i.calibration_errors = 4;
        let v = verdict(&i, &t());
        assert_eq!(v.status, VerdictStatus::Hold, "{v:?}");
        assert_eq!(kinds(&v), [ReasonKind::NoiseOnEveryAnswer]);
        let m = &v.reasons[0].message;
        assert!(m.contains("all 300 compared answers differed"), "{m}");
        assert!(m.contains("Body/Fault, Body/getPatientSummary"), "{m}");
        assert!(m.contains("4 calibration error(s)"), "{m}");
        // Mismatches besides: still no answer alike, still said.
        let mut i = input(1000, 950, true);
        i.matched_by_noise = 950;
        let v = verdict(&i, &t());
        assert_eq!(v.status, VerdictStatus::RollbackRecommended);
        assert_eq!(
            kinds(&v),
            [
                ReasonKind::MatchRateBelowThreshold,
                ReasonKind::NoiseOnEveryAnswer
            ]
        );
        // One answer alike without noise: the noise is real noise, not the rule's case.
        let mut i = input(300, 300, false);
        i.matched_by_noise = 299;
        assert_eq!(verdict(&i, &t()).status, VerdictStatus::Ready);
        // Nothing matched: the match rate already says it all.
        let mut i = input(300, 0, false);
        i.matched_by_noise = 0;
        assert_eq!(
            kinds(&verdict(&i, &t())),
            [ReasonKind::MatchRateBelowThreshold]
        );
    }

    #[test]
    fn uxp_serves_in_the_stages_where_clients_get_its_answer() {
        for (stage, serves) in [
            ("legacy", false),
            ("shadow", false),
            ("canary", true),
            ("uxp", true),
            ("uxp-shadow", true),
            ("rollback", false),
        ] {
            assert_eq!(uxp_serves(stage), serves, "{stage}");
        }
    }
}
