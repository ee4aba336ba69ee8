//! The rollout policy as data: stages, rules and the fallback.
//!
//! `config` compiles `[rollout]` into a [`RolloutPolicy`]; [`super::decide`] reads it per
//! request. Keeping the policy a plain value (not behaviour) lets `--show-settings` print
//! it, the reload path diff it, and tests build it in one line.

use std::fmt;

use super::pattern::{Pattern, Specificity};
use super::RequestKey;

/// Where a slice of traffic is in its migration, from "legacy only" to "UXP only".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(tag = "stage", rename_all = "kebab-case")]
pub enum Stage {
    /// Legacy serves; UXP sees nothing.
    Legacy,
    /// Legacy serves; a copy goes to UXP for comparison.
    Shadow,
    /// `percent` of messages (or of clients, when `sticky`) are served by UXP, the rest by
    /// legacy; nothing is mirrored.
    Canary { percent: u8, sticky: bool },
    /// UXP serves; legacy sees nothing.
    Uxp,
    /// UXP serves; a copy goes to legacy, to keep comparing after the switch.
    UxpShadow,
}

/// One of the two stacks a request can be served by or mirrored to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stack {
    Legacy,
    Uxp,
}

impl Stack {
    /// Lowercase name for logs and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Stack::Legacy => "legacy",
            Stack::Uxp => "uxp",
        }
    }
}

impl Stage {
    /// The stage's name as written in `dualroad.toml`.
    pub fn name(&self) -> &'static str {
        match self {
            Stage::Legacy => "legacy",
            Stage::Shadow => "shadow",
            Stage::Canary { .. } => "canary",
            Stage::Uxp => "uxp",
            Stage::UxpShadow => "uxp-shadow",
        }
    }
}

impl fmt::Display for Stage {
    /// `legacy`, `canary 25%`, `canary 25% sticky`, …: the form the audit log uses.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Canary { percent, sticky } => {
                write!(f, "canary {percent}%")?;
                if *sticky {
                    f.write_str(" sticky")?;
                }
                Ok(())
            }
            other => f.write_str(other.name()),
        }
    }
}

impl fmt::Display for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stack::Legacy => "legacy",
            Stack::Uxp => "uxp",
        })
    }
}

/// One `[[rollout.rules]]` entry, compiled.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rule {
    pub agency: Pattern,
    pub service: Pattern,
    #[serde(flatten)]
    pub stage: Stage,
    /// Where the rule was written (`dualroad.toml:14`), for the messages that refuse
    /// it; not part of what the rule *is* (equality ignores it, so a rule that only
    /// moved in the file is unchanged on reload).
    #[serde(skip)]
    pub origin: Option<String>,
}

impl PartialEq for Rule {
    fn eq(&self, other: &Rule) -> bool {
        self.agency == other.agency && self.service == other.service && self.stage == other.stage
    }
}

impl Eq for Rule {}

impl Rule {
    pub fn matches(&self, key: &RequestKey<'_>) -> bool {
        self.agency.matches_any(key.agency) && self.service.matches_any(key.service)
    }

    /// Agency specificity first, then service: a rule written for one agency beats a
    /// rule written for one service across all agencies.
    pub fn specificity(&self) -> (Specificity, Specificity) {
        (self.agency.specificity(), self.service.specificity())
    }
}

/// The rules in file order plus the stage for traffic no rule matches.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RolloutPolicy {
    fallback: Stage,
    rules: Vec<Rule>,
    /// Rule indices, most specific first, ties in file order. Precomputed so the first
    /// match in this order is the winner and `decide` can stop there.
    #[serde(skip)]
    by_specificity: Vec<usize>,
}

impl RolloutPolicy {
    pub fn new(fallback: Stage, rules: Vec<Rule>) -> Self {
        let mut by_specificity: Vec<usize> = (0..rules.len()).collect();
        // Stable sort: equal specificity keeps file order, so the earlier rule wins a tie.
        by_specificity.sort_by_key(|&i| std::cmp::Reverse(rules.get(i).map(Rule::specificity)));
        RolloutPolicy {
            fallback,
            rules,
            by_specificity,
        }
    }

    /// The stage unmatched traffic takes. There is no implicit default: `config` refuses
    /// a file without `rollout.fallback`.
    pub fn fallback(&self) -> Stage {
        self.fallback
    }

    /// Rules in file order; [`super::Decision::rule`] indexes this slice.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The most specific rule matching `key` and its index in [`RolloutPolicy::rules`],
    /// or `None` for the fallback.
    pub fn matching_rule(&self, key: &RequestKey<'_>) -> Option<(usize, &Rule)> {
        self.by_specificity
            .iter()
            .filter_map(|&i| self.rules.get(i).map(|r| (i, r)))
            .find(|(_, r)| r.matches(key))
    }
}
