//! [`Plan`]: what the pipeline does with one request, computed once from the routing
//! [`Decision`] and the shadow keys of the rule that routed it. The shell executes it
//! (`proxy::pipeline`): it serves from `serve`, starts the copy the plan admits, keeps
//! bodies and captures as it says. [`Facts::of`] then makes the record's facts from
//! the plan and what serving gave ([`Served`]).
//!
//! Its own module rather than part of `routing`: it combines routing (the decision),
//! `shadow::copy` (admission) and `evidence` (the record's labels), and `routing`
//! sits below both.

use crate::evidence::{Facts, Seen, Served, ServedBy, Stage};
use crate::mapping::Effect;
use crate::routing::{Decision, Stack};
use crate::shadow::copy::{self, MirrorRule, Target};
use crate::shadow::NotComparedReason;

/// The per-rule keys of a plan besides admission.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RulePolicy<'a> {
    pub mirror: MirrorRule<'a>,
    /// Keep the exchange's bodies in the store.
    pub store_bodies: bool,
    /// Keep the request as a capture for `dualroad replay`.
    pub capture: bool,
}

/// Whether a copy goes to the other stack, and where.
#[derive(Debug, Clone, PartialEq)]
pub enum Mirror {
    /// Not a shadow stage: nothing is copied.
    None,
    /// A shadow-stage request that is not copied to `to`, and why (sampled out, write
    /// service).
    Refused {
        to: Stack,
        reason: NotComparedReason,
    },
    /// A copy goes to `target`; `calibrate`: the primary is asked once more too.
    Copy { target: Target, calibrate: bool },
}

/// What the pipeline does with one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The stack whose answer goes back to the client.
    pub serve: Stack,
    /// The stage the record shows (`rollback` when a rollback forced legacy).
    pub stage: Stage,
    /// The rollout rule that routed the request (`None`: fallback), for the gate.
    pub rule: Option<usize>,
    pub mirror: Mirror,
    pub store_bodies: bool,
    pub capture: bool,
}

impl Plan {
    /// A provider listener's: the UXP security server calls a legacy adapter, which
    /// serves; nothing is copied or kept.
    pub fn provider() -> Plan {
        Plan {
            serve: Stack::Legacy,
            stage: Stage::Provider,
            rule: None,
            mirror: Mirror::None,
            store_bodies: false,
            capture: false,
        }
    }
}

/// The plan for a consumer request routed by `decision`, under the matching rule's
/// `policy`; `effect` is the service's (see [`copy::effect_of`]), `message_id` the
/// client's (for sampling and calibration).
pub fn plan(
    decision: &Decision,
    policy: &RulePolicy<'_>,
    effect: Effect,
    message_id: &str,
) -> Plan {
    let mirror = match decision.mirror_to {
        None => Mirror::None,
        Some(to) => match copy::admit(&policy.mirror, effect, message_id, to) {
            Ok(target) => Mirror::Copy {
                target,
                calibrate: copy::calibrates(effect, message_id, policy.mirror.calibrate),
            },
            Err(reason) => Mirror::Refused { to, reason },
        },
    };
    Plan {
        serve: decision.served_by,
        stage: if decision.switched.is_some() {
            Stage::Rollback
        } else {
            decision.stage.into()
        },
        rule: decision.rule,
        mirror,
        store_bodies: policy.store_bodies,
        capture: policy.capture,
    }
}

impl Facts {
    /// The facts of one exchange from its plan (`None`: refused before routing) and
    /// what serving it gave. A rejected request is served by `dualroad`.
    pub fn of(plan: Option<&Plan>, served: &Served, seen: Seen<'_>) -> Facts {
        let (primary_fault_code, rejected_code) = match &served.outcome {
            Ok(a) => (a.fault_code.clone(), None),
            Err(r) => (None, Some(r.code.clone())),
        };
        Facts {
            at_unix_ms: seen.at_unix_ms,
            stage: plan.map_or(seen.unplanned, |p| p.stage),
            served_by: match (plan, &served.outcome) {
                (Some(p), Ok(_)) => p.serve.into(),
                _ => ServedBy::Dualroad,
            },
            listener: seen.listener.to_string(),
            primary_latency_ms: served.primary_latency_ms.unwrap_or(seen.elapsed_ms),
            primary_fault_code,
            rejected_code,
            ..Facts::from(served.asked.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::{Stage as RolloutStage, SwitchScope};

    fn decision(stage: RolloutStage, served_by: Stack, mirror_to: Option<Stack>) -> Decision {
        Decision {
            stage,
            served_by,
            mirror_to,
            rule: Some(3),
            switched: None,
        }
    }

    #[test]
    fn a_shadow_stage_plans_a_copy_as_admission_says() {
        let policy = RulePolicy {
            mirror: MirrorRule {
                sample: 1.0,
                calibrate: 1.0,
                sandbox: None,
            },
            store_bodies: true,
            capture: false,
        };
        let d = decision(RolloutStage::Shadow, Stack::Legacy, Some(Stack::Uxp));
        let p = plan(&d, &policy, Effect::Read, "m1");
        assert_eq!(
            p,
            Plan {
                serve: Stack::Legacy,
                stage: Stage::Shadow,
                rule: Some(3),
                mirror: Mirror::Copy {
                    target: Target::Stack(Stack::Uxp),
                    calibrate: true
                },
                store_bodies: true,
                capture: false,
            }
        );
        let p = plan(&d, &policy, Effect::Write, "m1");
        assert_eq!(
            p.mirror,
            Mirror::Refused {
                to: Stack::Uxp,
                reason: NotComparedReason::WriteService
            }
        );
        let d = decision(RolloutStage::Uxp, Stack::Uxp, None);
        assert_eq!(plan(&d, &policy, Effect::Read, "m1").mirror, Mirror::None);
    }

    #[test]
    fn a_rollback_shows_as_its_own_stage() {
        let mut d = decision(RolloutStage::Shadow, Stack::Legacy, None);
        d.switched = Some(SwitchScope::all());
        let p = plan(&d, &RulePolicy::default(), Effect::Read, "m1");
        assert_eq!((p.stage, p.serve), (Stage::Rollback, Stack::Legacy));
    }
}
