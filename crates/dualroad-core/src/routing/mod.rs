//! Routing: which stack serves a request, and whether a copy goes to the other one.
//!
//! Sits between parsing and translation in the proxy pipeline
//! (`parse → route → translate → forward …`). [`decide`] is a pure function of the
//! rollout policy (from `config`), the rollback switch (from `store`) and the request's
//! identity: no I/O, no clock, no randomness. The same inputs always give the same
//! [`Decision`], which is what makes canary splits reproducible in tests and explainable
//! in an incident ("message X went to UXP because bucket 17 < 25").
//!
//! Order of precedence:
//! 1. a rollback in the [`SwitchState`] covering the request forces legacy, no mirror;
//! 2. otherwise the most specific matching rule (see [`pattern::Specificity`]);
//! 3. otherwise the policy's fallback.

pub mod gate;
pub mod pattern;
pub mod policy;
pub mod resolve;
pub mod switch;

pub use pattern::{Pattern, PatternError, Specificity};
pub use policy::{RolloutPolicy, Rule, Stack, Stage};
pub use switch::{SwitchEntry, SwitchScope, SwitchState};

/// What `decide` needs to know about one request.
///
/// `agency` and `service` list every name the client and the service are known by (the
/// legacy consumer name and the UXP client id; the legacy `producer.method[.vN]` and the
/// UXP service id), so a rule written in either vocabulary matches.
#[derive(Debug, Clone, Copy)]
pub struct RequestKey<'a> {
    pub agency: &'a [String],
    pub service: &'a [String],
    /// The message id (`id` / `X-Road-Id` / `xrd:id`) the client sent.
    pub message_id: &'a str,
}

/// The outcome for one request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Decision {
    /// The stage the matching rule (or fallback) prescribes. Kept even when a rollback
    /// overrides it, so logs say "canary 25%, rolled back" rather than just "legacy".
    pub stage: Stage,
    /// The stack whose response goes back to the client.
    pub served_by: Stack,
    /// The stack that gets a copy for comparison; its response is never returned.
    pub mirror_to: Option<Stack>,
    /// Index into [`RolloutPolicy::rules`]; `None` when the fallback applied.
    pub rule: Option<usize>,
    /// The rollback that forced legacy, when one did.
    pub switched: Option<SwitchScope>,
}

/// Decides where one request goes. See the module docs for the precedence.
pub fn decide(policy: &RolloutPolicy, switch: &SwitchState, key: &RequestKey<'_>) -> Decision {
    let matched = policy.matching_rule(key);
    let rule = matched.map(|(i, _)| i);
    let stage = matched.map_or(policy.fallback(), |(_, r)| r.stage);

    if let Some(entry) = switch.matching(key) {
        return Decision {
            stage,
            served_by: Stack::Legacy,
            mirror_to: None,
            rule,
            switched: Some(entry.scope()),
        };
    }

    let (served_by, mirror_to) = match stage {
        Stage::Legacy => (Stack::Legacy, None),
        Stage::Shadow => (Stack::Legacy, Some(Stack::Uxp)),
        Stage::Canary { percent, sticky } => {
            if canary_bucket(key, sticky) < percent {
                (Stack::Uxp, None)
            } else {
                (Stack::Legacy, None)
            }
        }
        Stage::Uxp => (Stack::Uxp, None),
        Stage::UxpShadow => (Stack::Uxp, Some(Stack::Legacy)),
    };
    Decision {
        stage,
        served_by,
        mirror_to,
        rule,
        switched: None,
    }
}

/// The canary bucket of a request, `0..100`. A canary at `percent` sends buckets
/// `0..percent` to UXP, so raising the percentage only ever moves traffic towards UXP.
///
/// Per message: a hash of client, service and message id, so a client's retry of the
/// same message lands on the same stack. Sticky: a hash of the client alone, so one
/// client sees one stack for the whole canary.
///
/// Names are sorted before hashing, so the caller's order of legacy name vs UXP id does
/// not matter. The hash (FNV-1a 64 with a murmur3 finaliser) is part of the gateway's
/// observable behaviour: changing it reshuffles which clients are in a canary, which is
/// why `canary_hash_is_pinned` freezes a few values.
pub fn canary_bucket(key: &RequestKey<'_>, sticky: bool) -> u8 {
    let mut h = Fnv1a::new();
    h.names(key.agency);
    if !sticky {
        h.names(key.service);
        h.write(key.message_id.as_bytes());
    }
    // `% 100` of a 64-bit value: the bias is below 1e-17, far under any canary step.
    (fmix64(h.0) % 100) as u8
}

/// FNV-1a, 64 bit. Written out rather than taken from std because `DefaultHasher` is
/// explicitly not stable across Rust releases, and a canary split must not move when
/// the gateway is rebuilt.
struct Fnv1a(u64);

impl Fnv1a {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn new() -> Self {
        Fnv1a(Self::OFFSET)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    /// Sorted, de-duplicated names, each followed by 0xFF (never a byte of UTF-8) so
    /// `["ab", "c"]` and `["a", "bc"]` hash differently; 0xFE closes the group.
    fn names(&mut self, names: &[String]) {
        let mut sorted: Vec<&str> = names.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        sorted.dedup();
        for n in sorted {
            self.write(n.as_bytes());
            self.write(&[0xFF]);
        }
        self.write(&[0xFE]);
    }
}

/// murmur3's 64-bit finaliser. FNV-1a alone mixes the last bytes poorly into the low
/// digits, and message ids often differ only in their last characters.
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn rule(agency: &str, service: &str, stage: Stage) -> Rule {
        Rule {
            agency: Pattern::parse(agency).expect("test pattern"),
            service: Pattern::parse(service).expect("test pattern"),
            stage,
            origin: None,
        }
    }

    const PORTAL: [&str; 2] = ["10000042", "PS-UXP/GOV/10000042/moh-portal"];
    const SUMMARY: [&str; 2] = [
        "moh.getPatientSummary.v2",
        "PS-UXP/GOV/10000001/moh/getPatientSummary/v2",
    ];

    fn decide_for(
        policy: &RolloutPolicy,
        switch: &SwitchState,
        agency: &[&str],
        service: &[&str],
        id: &str,
    ) -> Decision {
        let (a, s) = (names(agency), names(service));
        decide(
            policy,
            switch,
            &RequestKey {
                agency: &a,
                service: &s,
                message_id: id,
            },
        )
    }

    #[test]
    fn every_stage_routes_as_documented() {
        let cases = [
            (Stage::Legacy, Stack::Legacy, None),
            (Stage::Shadow, Stack::Legacy, Some(Stack::Uxp)),
            (
                Stage::Canary {
                    percent: 0,
                    sticky: false,
                },
                Stack::Legacy,
                None,
            ),
            (
                Stage::Canary {
                    percent: 100,
                    sticky: false,
                },
                Stack::Uxp,
                None,
            ),
            (Stage::Uxp, Stack::Uxp, None),
            (Stage::UxpShadow, Stack::Uxp, Some(Stack::Legacy)),
        ];
        for (stage, served_by, mirror_to) in cases {
            let policy = RolloutPolicy::new(Stage::Legacy, vec![rule("10000042", "*", stage)]);
            let d = decide_for(&policy, &SwitchState::default(), &PORTAL, &SUMMARY, "m1");
            assert_eq!(
                d,
                Decision {
                    stage,
                    served_by,
                    mirror_to,
                    rule: Some(0),
                    switched: None
                },
                "{stage}"
            );
        }
    }

    #[test]
    fn fallback_applies_when_no_rule_matches() {
        let policy = RolloutPolicy::new(Stage::Shadow, vec![rule("10000055", "*", Stage::Uxp)]);
        let d = decide_for(&policy, &SwitchState::default(), &PORTAL, &SUMMARY, "m1");
        assert_eq!(
            (d.stage, d.served_by, d.mirror_to, d.rule),
            (Stage::Shadow, Stack::Legacy, Some(Stack::Uxp), None)
        );
    }

    #[test]
    fn most_specific_rule_wins_regardless_of_order() {
        // Listed least specific first on purpose: file order must not matter.
        let policy = RolloutPolicy::new(
            Stage::Legacy,
            vec![
                rule("*", "*", Stage::Shadow),                       // 0
                rule("*", "moh.*", Stage::Uxp),                      // 1: any agency, one producer
                rule("PS-UXP/*", "*", Stage::UxpShadow),             // 2: short agency prefix
                rule("PS-UXP/GOV/*", "*", Stage::Legacy),            // 3: longer agency prefix
                rule("PS-UXP/GOV/*", "moh.getPatient*", Stage::Uxp), // 4: same agency, longer service prefix
                rule(
                    "10000042",
                    "*",
                    Stage::Canary {
                        percent: 100,
                        sticky: false,
                    },
                ), // 5: exact agency
            ],
        );
        let sw = SwitchState::default();
        // Exact agency beats every prefix, even with a less specific service.
        assert_eq!(
            decide_for(&policy, &sw, &PORTAL, &SUMMARY, "m").rule,
            Some(5)
        );
        // Without the legacy name the exact rule no longer matches; the longer agency
        // prefix wins, and among its rules the longer service prefix.
        let uxp_only = ["PS-UXP/GOV/10000042/moh-portal"];
        assert_eq!(
            decide_for(&policy, &sw, &uxp_only, &SUMMARY, "m").rule,
            Some(4)
        );
        assert_eq!(
            decide_for(&policy, &sw, &uxp_only, &["pop.findPerson.v1"], "m").rule,
            Some(3)
        );
        // Agency specificity is compared before service: rule 2 (agency prefix) beats
        // rule 1 (service prefix, any agency).
        assert_eq!(
            decide_for(&policy, &sw, &["PS-UXP/MUN/1/x"], &SUMMARY, "m").rule,
            Some(2)
        );
        assert_eq!(
            decide_for(&policy, &sw, &["other"], &SUMMARY, "m").rule,
            Some(1)
        );
        assert_eq!(
            decide_for(&policy, &sw, &["other"], &["pop.x"], "m").rule,
            Some(0)
        );
        // `*` also covers a client that could not be identified at all.
        assert_eq!(decide_for(&policy, &sw, &[], &[], "m").rule, Some(0));
    }

    #[test]
    fn equal_specificity_keeps_file_order() {
        // Same client, one rule per vocabulary: both exact, the first written wins.
        let policy = RolloutPolicy::new(
            Stage::Legacy,
            vec![
                rule("PS-UXP/GOV/10000042/moh-portal", "*", Stage::Uxp),
                rule("10000042", "*", Stage::Shadow),
            ],
        );
        assert_eq!(
            decide_for(&policy, &SwitchState::default(), &PORTAL, &SUMMARY, "m").rule,
            Some(0)
        );
    }

    fn uxp_share(percent: u8, n: usize) -> f64 {
        let policy = RolloutPolicy::new(
            Stage::Legacy,
            vec![rule(
                "*",
                "*",
                Stage::Canary {
                    percent,
                    sticky: false,
                },
            )],
        );
        let (a, s) = (names(&PORTAL), names(&SUMMARY));
        let uxp = (0..n)
            .filter(|i| {
                // Realistic ids: a fixed prefix and a counter, differing only at the end.
                let id = format!("dualroad-{:08}", i * 7919);
                let key = RequestKey {
                    agency: &a,
                    service: &s,
                    message_id: &id,
                };
                decide(&policy, &SwitchState::default(), &key).served_by == Stack::Uxp
            })
            .count();
        uxp as f64 * 100.0 / n as f64
    }

    #[test]
    fn canary_split_is_within_two_points_of_target() {
        for percent in [1u8, 25, 50, 99] {
            let got = uxp_share(percent, 10_000);
            eprintln!("canary {percent}%: {got:.2}% to UXP");
            assert!(
                (got - f64::from(percent)).abs() <= 2.0,
                "target {percent}%, got {got:.2}%"
            );
        }
    }

    #[test]
    fn canary_is_deterministic_and_monotonic() {
        let (a, s) = (names(&PORTAL), names(&SUMMARY));
        for i in 0..500 {
            let id = format!("m-{i}");
            let key = RequestKey {
                agency: &a,
                service: &s,
                message_id: &id,
            };
            let bucket = canary_bucket(&key, false);
            assert_eq!(bucket, canary_bucket(&key, false));
            // Raising the percentage never moves a message back to legacy.
            let served = |percent| {
                let policy = RolloutPolicy::new(
                    Stage::Legacy,
                    vec![rule(
                        "*",
                        "*",
                        Stage::Canary {
                            percent,
                            sticky: false,
                        },
                    )],
                );
                decide(&policy, &SwitchState::default(), &key).served_by
            };
            assert!(served(25) == Stack::Legacy || served(50) == Stack::Uxp);
            // Order of a client's names does not change its bucket.
            let rev: Vec<String> = a.iter().rev().cloned().collect();
            assert_eq!(
                bucket,
                canary_bucket(
                    &RequestKey {
                        agency: &rev,
                        ..key
                    },
                    false
                )
            );
        }
    }

    #[test]
    fn canary_hash_is_pinned() {
        // Changing these values reshuffles live canaries; do it only on purpose.
        let (a, s) = (names(&PORTAL), names(&SUMMARY));
        let key = RequestKey {
            agency: &a,
            service: &s,
            message_id: "4894e35d-bf0f-44a6-867a-8e51f1daa7e0",
        };
        assert_eq!(
            (canary_bucket(&key, false), canary_bucket(&key, true)),
            PINNED
        );
    }
    const PINNED: (u8, u8) = (36, 33);

    #[test]
    fn sticky_canary_keeps_each_client_on_one_stack() {
        let policy = RolloutPolicy::new(
            Stage::Legacy,
            vec![rule(
                "*",
                "*",
                Stage::Canary {
                    percent: 50,
                    sticky: true,
                },
            )],
        );
        let services = [names(&SUMMARY), names(&["pop.findPerson.v1"])];
        let mut seen = [0usize; 2];
        for c in 0..200 {
            let client = names(&[&format!("1000{c:04}")]);
            let mut stacks = Vec::new();
            for (j, svc) in services.iter().enumerate() {
                for m in 0..20 {
                    let id = format!("msg-{c}-{j}-{m}");
                    let key = RequestKey {
                        agency: &client,
                        service: svc,
                        message_id: &id,
                    };
                    stacks.push(decide(&policy, &SwitchState::default(), &key).served_by);
                }
            }
            assert!(
                stacks.windows(2).all(|w| w[0] == w[1]),
                "client {c} moved between stacks"
            );
            seen[usize::from(stacks[0] == Stack::Uxp)] += 1;
        }
        // And clients really are split, not all on one side.
        assert!(seen[0] > 60 && seen[1] > 60, "{seen:?}");
    }

    fn entry(agency: Option<&str>, service: Option<&str>) -> SwitchEntry {
        let scope = SwitchScope::new(agency, service);
        SwitchEntry {
            agency: scope.agency,
            service: scope.service,
            reason: "INC-1".into(),
            actor: "ops".into(),
            at_unix_ms: 1,
        }
    }

    #[test]
    fn rollback_overrides_matching_rules_only() {
        let policy = RolloutPolicy::new(
            Stage::Uxp,
            vec![
                rule(
                    "10000042",
                    "moh.*",
                    Stage::Canary {
                        percent: 100,
                        sticky: false,
                    },
                ),
                rule("10000055", "*", Stage::UxpShadow),
            ],
        );
        let switch = SwitchState {
            entries: vec![entry(Some("PS-UXP/GOV/*"), Some("moh.*"))],
        };
        // Matches through the UXP id and the legacy service name.
        let d = decide_for(&policy, &switch, &PORTAL, &SUMMARY, "m");
        assert_eq!(
            d,
            Decision {
                stage: Stage::Canary {
                    percent: 100,
                    sticky: false
                },
                served_by: Stack::Legacy,
                mirror_to: None,
                rule: Some(0),
                switched: Some(SwitchScope::new(Some("PS-UXP/GOV/*"), Some("moh.*"))),
            }
        );
        // Another agency is untouched, mirror included.
        let d = decide_for(&policy, &switch, &["10000055"], &SUMMARY, "m");
        assert_eq!(
            (d.served_by, d.mirror_to, d.switched),
            (Stack::Uxp, Some(Stack::Legacy), None)
        );
        // Same agency, other service: untouched too.
        let d = decide_for(&policy, &switch, &PORTAL, &["pop.findPerson.v1"], "m");
        assert_eq!((d.served_by, d.switched), (Stack::Uxp, None));
    }

    #[test]
    fn global_rollback_forces_legacy_everywhere() {
        let policy = RolloutPolicy::new(Stage::UxpShadow, vec![rule("10000042", "*", Stage::Uxp)]);
        let switch = SwitchState {
            entries: vec![entry(Some("*"), None)],
        };
        for agency in [&PORTAL[..], &["10000055"], &[]] {
            let d = decide_for(&policy, &switch, agency, &SUMMARY, "m");
            assert_eq!(
                (d.served_by, d.mirror_to, d.switched),
                (Stack::Legacy, None, Some(SwitchScope::all()))
            );
        }
    }

    #[test]
    fn switch_state_keeps_one_entry_per_scope() {
        let mut s = SwitchState::default();
        s.insert(entry(Some("10000042"), None));
        s.insert(SwitchEntry {
            reason: "again".into(),
            ..entry(Some("10000042"), Some("*"))
        });
        assert_eq!(s.entries.len(), 1);
        assert_eq!(s.entries[0].reason, "again");
        assert!(s.remove(&SwitchScope::all()).is_none());
        assert!(s
            .remove(&SwitchScope::new(Some("10000042"), None))
            .is_some());
        assert!(s.is_empty());
    }
}
