//! Resolving rollout rules to canonical (UXP) identifiers, once, when the settings
//! and the mappings come together (gateway start and every reload).
//!
//! A rule may name an agency or a service by its legacy name or by its UXP
//! identifier. Matched as plain strings, a legacy-name rule and a UXP-id rule for the
//! same agency would both match and "most specific" would compare string lengths
//! across vocabularies. So every exact name is rewritten to its UXP identity through
//! the mappings (a name without a mapping stays as written: it can only ever be
//! served by legacy), a legacy service prefix over one whole producer becomes that
//! producer's UXP prefix when the two select the same services, and then:
//! - two rules whose canonical selectors are identical but whose stages differ are
//!   refused, naming both rules;
//! - two prefix rules of equal specificity in different vocabularies (a legacy-name
//!   prefix and a UXP-id prefix of the same length) could match one request through
//!   its two names; that is refused too, rather than settled by file order.
//!
//! Pure: no I/O; `proxy::Active::build` calls it and refuses to start (or to reload)
//! on an error. docs/identifiers.md documents the order.

use std::fmt;

use super::pattern::Pattern;
use super::policy::{RolloutPolicy, Rule, Stage};
use crate::mapping::{LegacyMember, Mappings};
use crate::wire::header::{Party, ServiceRef};
use crate::wire::ids::{ClientId, LegacyServiceName, ServiceId};

/// One rule as a refusal names it: its index in `[rollout] rules`, the selectors as
/// written, what they resolved to when that differs, and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef {
    pub index: usize,
    pub agency: Pattern,
    pub service: Pattern,
    /// The canonical `(agency, service)` when either differs from what was written.
    pub canonical: Option<(Pattern, Pattern)>,
    /// `file:line`, for rules read from a file.
    pub origin: Option<String>,
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rollout.rules[{}] (agency = \"{}\", service = \"{}\"",
            self.index, self.agency, self.service
        )?;
        if let Some((agency, service)) = &self.canonical {
            write!(f, ", i.e. {agency} / {service}")?;
        }
        f.write_str(")")?;
        if let Some(at) = &self.origin {
            write!(f, " at {at}")?;
        }
        Ok(())
    }
}

/// Two rules that [`resolve`] refuses to keep together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleConflict {
    #[error("{first} and {second} select the same traffic with different stages ({first_stage} vs {second_stage}); remove one")]
    SameTraffic {
        first: RuleRef,
        second: RuleRef,
        first_stage: Stage,
        second_stage: Stage,
    },
    #[error("{first} and {second} are equally specific and may match the same request (one names it by its legacy name, the other by its UXP identifier); write both in one vocabulary")]
    CrossVocabulary { first: RuleRef, second: RuleRef },
}

/// Every [`RuleConflict`] of one policy; shown joined with `; `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", join(.0))]
pub struct RuleConflicts(pub Vec<RuleConflict>);

fn join(conflicts: &[RuleConflict]) -> String {
    conflicts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The policy with every exact agency and service rewritten to its UXP identity, or
/// every problem found (each naming `rollout.rules[N]` and, for rules read from a
/// file, its `file:line`).
pub fn resolve(policy: &RolloutPolicy, maps: &Mappings) -> Result<RolloutPolicy, RuleConflicts> {
    let rules: Vec<Rule> = policy
        .rules()
        .iter()
        .map(|r| Rule {
            agency: canonical_agency(&r.agency, maps),
            service: canonical_service(&r.service, maps),
            stage: r.stage,
            origin: r.origin.clone(),
        })
        .collect();
    let mut problems = Vec::new();
    let name = |i: usize, r: &Rule| {
        let written = &policy.rules()[i];
        RuleRef {
            index: i,
            agency: written.agency.clone(),
            service: written.service.clone(),
            canonical: (written.agency != r.agency || written.service != r.service)
                .then(|| (r.agency.clone(), r.service.clone())),
            origin: written.origin.clone(),
        }
    };
    for (i, a) in rules.iter().enumerate() {
        for (j, b) in rules.iter().enumerate().skip(i + 1) {
            let identical = a.agency == b.agency && a.service == b.service;
            if identical && a.stage != b.stage {
                problems.push(RuleConflict::SameTraffic {
                    first: name(i, a),
                    second: name(j, b),
                    first_stage: a.stage,
                    second_stage: b.stage,
                });
            } else if !identical
                && a.specificity() == b.specificity()
                && may_overlap(&a.agency, &b.agency, maps)
                && may_overlap(&a.service, &b.service, maps)
            {
                problems.push(RuleConflict::CrossVocabulary {
                    first: name(i, a),
                    second: name(j, b),
                });
            }
        }
    }
    if problems.is_empty() {
        Ok(RolloutPolicy::new(policy.fallback(), rules))
    } else {
        Err(RuleConflicts(problems))
    }
}

fn canonical_agency(p: &Pattern, maps: &Mappings) -> Pattern {
    let Pattern::Exact(name) = p else {
        return p.clone();
    };
    let party = match ClientId::parse(name) {
        Ok(id)
            if maps.legacy_dialect().has_structured_ids() || id.instance == maps.uxp_instance() =>
        {
            Party::Id(id)
        }
        _ => Party::Legacy(name.clone()),
    };
    match maps.client_to_uxp(&party) {
        Some(id) => Pattern::Exact(id.to_string()),
        None => p.clone(),
    }
}

fn canonical_service(p: &Pattern, maps: &Mappings) -> Pattern {
    let name = match p {
        Pattern::Exact(name) => name,
        Pattern::Prefix(prefix) => {
            return canonical_service_prefix(prefix, maps).unwrap_or_else(|| p.clone())
        }
        Pattern::Any => return p.clone(),
    };
    if let Ok(id) = ServiceId::parse(name) {
        if id.provider.instance == maps.uxp_instance() {
            return p.clone();
        }
        if let Ok(to) = maps.service_to_uxp(&ServiceRef::Id(id), None) {
            return Pattern::Exact(to.id.to_string());
        }
        return p.clone();
    }
    let producer = LegacyServiceName::parse(name).map(|n| n.producer);
    match maps.service_to_uxp(&ServiceRef::Legacy(name.clone()), producer.as_deref()) {
        Ok(to) => Pattern::Exact(to.id.to_string()),
        Err(_) => p.clone(),
    }
}

/// A legacy service prefix that starts with a whole mapped producer name and a dot
/// (`moh.*`, `moh.getPatient*`, `moh.getPatientSummary.v*`) as the UXP prefix of that
/// producer's services (`PS-UXP/GOV/10000003/moh/…`, member-level `…//…`), when the two
/// select exactly the same mapped services: no `[[services]]` entry moves a service
/// matching one of them out of the other. Otherwise `None`: the rule keeps its legacy
/// vocabulary and is matched against the request's legacy name.
fn canonical_service_prefix(prefix: &str, maps: &Mappings) -> Option<Pattern> {
    // The longest mapped producer the prefix starts with (producer names may hold dots).
    let (producer, provider) = maps
        .members()
        .filter_map(|(legacy, uxp)| match legacy {
            LegacyMember::Name(n) => Some((n.as_str(), uxp)),
            LegacyMember::Id(_) => None,
        })
        .filter(|(n, _)| {
            prefix
                .strip_prefix(n)
                .is_some_and(|rest| rest.starts_with('.'))
        })
        .max_by_key(|(n, _)| n.len())?;
    let rest = &prefix[producer.len() + 1..];
    // `method`, or `method.v…` (a partial version): at most one more dot.
    if rest.matches('.').count() > 1 {
        return None;
    }
    let sep = if provider.subsystem.is_some() {
        "/"
    } else {
        "//"
    };
    let uxp = format!("{provider}{sep}{}", rest.replace('.', "/"));
    let moved = maps.services().any(|sm| {
        let legacy_in = sm.legacy.to_string().starts_with(prefix);
        let uxp_in = sm.uxp.to_string().starts_with(&uxp);
        legacy_in != uxp_in
    });
    (!moved).then_some(Pattern::Prefix(uxp))
}

/// Whether two patterns of equal specificity can match one request. Exact names are
/// canonical by now, so two different ones name different things; two prefixes of one
/// length overlap only when equal or written in different vocabularies.
fn may_overlap(a: &Pattern, b: &Pattern, maps: &Mappings) -> bool {
    let uxp = |s: &str| {
        s.strip_prefix(maps.uxp_instance())
            .is_some_and(|r| r.starts_with('/'))
    };
    match (a, b) {
        (Pattern::Any, _) | (_, Pattern::Any) => true,
        (Pattern::Exact(x), Pattern::Exact(y)) => x == y,
        (Pattern::Prefix(x), Pattern::Prefix(y)) => x == y || uxp(x) != uxp(y),
        (Pattern::Prefix(x), Pattern::Exact(y)) | (Pattern::Exact(y), Pattern::Prefix(x)) => {
            y.starts_with(x.as_str())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::Stage;

    fn maps() -> Mappings {
        Mappings::from_sources(&[(
            "m.toml".into(),
            r#"
[legacy]
dialect = "v3.1"
[uxp]
instance = "PS-UXP"
[[members]]
legacy = "10000042"
uxp = "PS-UXP/GOV/10000042/moh-portal"
[[members]]
legacy = "tax"
uxp = "PS-UXP/GOV/10000004/tax"
[[services]]
legacy = "tax.getTaxDebt.v1"
uxp = "PS-UXP/GOV/10000004/tax-debt/getTaxDebt/v1"
"#
            .to_string(),
        )])
        .expect("mappings")
    }

    fn rule(agency: &str, service: &str, stage: Stage) -> Rule {
        Rule {
            agency: Pattern::parse(agency).expect("pattern"),
            service: Pattern::parse(service).expect("pattern"),
            stage,
            origin: None,
        }
    }

    #[test]
    fn legacy_names_resolve_to_uxp_identities() {
        let p = RolloutPolicy::new(
            Stage::Legacy,
            vec![
                rule("10000042", "tax.getTaxDebt.v1", Stage::Uxp),
                rule("unmapped", "tax.getRefund", Stage::Shadow),
            ],
        );
        let r = resolve(&p, &maps()).expect("resolves");
        assert_eq!(
            r.rules()[0].agency,
            Pattern::Exact("PS-UXP/GOV/10000042/moh-portal".into())
        );
        // The moved service: its entry, not the producer mapping.
        assert_eq!(
            r.rules()[0].service,
            Pattern::Exact("PS-UXP/GOV/10000004/tax-debt/getTaxDebt/v1".into())
        );
        assert_eq!(r.rules()[1].agency, Pattern::Exact("unmapped".into()));
        assert_eq!(
            r.rules()[1].service,
            Pattern::Exact("PS-UXP/GOV/10000004/tax/getRefund".into())
        );
    }

    #[test]
    fn a_legacy_producer_prefix_becomes_its_uxp_prefix_unless_services_moved() {
        let maps = Mappings::from_sources(&[(
            "m.toml".into(),
            r#"
[legacy]
dialect = "v3.1"
[uxp]
instance = "PS-UXP"
[[members]]
legacy = "moh"
uxp = "PS-UXP/GOV/10000003/moh"
[[members]]
legacy = "ehr.x"
uxp = "PS-UXP/GOV/10000009"
[[members]]
legacy = "tax"
uxp = "PS-UXP/GOV/10000004/tax"
[[services]]
legacy = "tax.getTaxDebt.v1"
uxp = "PS-UXP/GOV/10000004/tax-debt/getTaxDebt/v1"
"#
            .to_string(),
        )])
        .expect("mappings");
        let p = RolloutPolicy::new(
            Stage::Legacy,
            vec![
                rule("*", "moh.*", Stage::Uxp),
                rule("*", "moh.getPatient*", Stage::Shadow),
                rule("*", "moh.getPatientSummary.v*", Stage::Uxp),
                // A producer name with a dot, mapped to a member: member-level prefix.
                rule("*", "ehr.x.get*", Stage::Shadow),
                // One of tax's services moved to another subsystem: one UXP prefix
                // cannot say it, so the rule stays in the legacy vocabulary.
                rule("*", "tax.*", Stage::Shadow),
                // Not a whole producer name: stays as written.
                rule("*", "mo*", Stage::Legacy),
            ],
        );
        let r = resolve(&p, &maps).expect("resolves");
        let got: Vec<Pattern> = r.rules().iter().map(|r| r.service.clone()).collect();
        assert_eq!(
            got,
            vec![
                Pattern::Prefix("PS-UXP/GOV/10000003/moh/".into()),
                Pattern::Prefix("PS-UXP/GOV/10000003/moh/getPatient".into()),
                Pattern::Prefix("PS-UXP/GOV/10000003/moh/getPatientSummary/v".into()),
                Pattern::Prefix("PS-UXP/GOV/10000009//get".into()),
                Pattern::Prefix("tax.".into()),
                Pattern::Prefix("mo".into()),
            ]
        );
        // Now in one vocabulary, specificity compares like with like: the legacy
        // `moh.*` and a UXP prefix of the same producer are one selector.
        let p = RolloutPolicy::new(
            Stage::Legacy,
            vec![
                rule("*", "moh.*", Stage::Uxp),
                rule("*", "PS-UXP/GOV/10000003/moh/*", Stage::Shadow),
            ],
        );
        let e = resolve(&p, &maps).expect_err("the same traffic, two stages");
        assert!(
            e.0[0].to_string().contains("select the same traffic"),
            "{e:?}"
        );
    }

    #[test]
    fn one_agency_in_two_vocabularies_with_two_stages_is_refused() {
        // Before: both matched, and file order decided silently.
        let p = RolloutPolicy::new(
            Stage::Legacy,
            vec![
                rule("10000042", "*", Stage::Uxp),
                rule("PS-UXP/GOV/10000042/moh-portal", "*", Stage::Legacy),
            ],
        );
        let e = resolve(&p, &maps()).expect_err("refused");
        assert_eq!(e.0.len(), 1, "{e:?}");
        assert!(
            e.0[0].to_string().contains("rollout.rules[0]")
                && e.0[0].to_string().contains("rollout.rules[1]"),
            "{e:?}"
        );
        // The same stage twice is harmless.
        let p = RolloutPolicy::new(
            Stage::Legacy,
            vec![
                rule("10000042", "*", Stage::Uxp),
                rule("PS-UXP/GOV/10000042/moh-portal", "*", Stage::Uxp),
            ],
        );
        assert!(resolve(&p, &maps()).is_ok());
    }

    #[test]
    fn equally_specific_prefixes_in_two_vocabularies_are_refused() {
        // `tax.getTaxDeb*` (13) and `PS-UXP/GOV/10*` (13): one request can match both.
        let p = RolloutPolicy::new(
            Stage::Legacy,
            vec![
                rule("*", "tax.getTaxDeb*", Stage::Uxp),
                rule("*", "PS-UXP/GOV/10*", Stage::Shadow),
            ],
        );
        let e = resolve(&p, &maps()).expect_err("refused");
        assert!(e.0[0].to_string().contains("equally specific"), "{e:?}");
        // Same vocabulary, different prefixes of one length: disjoint, fine.
        let p = RolloutPolicy::new(
            Stage::Legacy,
            vec![
                rule("*", "PS-UXP/GOV/11*", Stage::Uxp),
                rule("*", "PS-UXP/GOV/10*", Stage::Shadow),
            ],
        );
        assert!(resolve(&p, &maps()).is_ok());
    }
}
