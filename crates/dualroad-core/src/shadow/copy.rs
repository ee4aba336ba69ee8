//! The pure half of one shadow copy, shared by the gateway's mirror (`proxy::mirror`)
//! and `dualroad replay`, so a replayed request is admitted, checked and judged exactly
//! as a live one. The shell's one driver (`proxy::copy::send`) does the call between
//! [`prepare`] and `exchange::shadow_to_client_dialect`.
//!
//! - admission: [`admit`] (sampling, [`writes_allowed`], the sandbox), [`calibrates`],
//!   the byte budget ([`request_fits`], [`budget_allows`], [`answer_fits`]);
//! - the unmapped rule: [`unmapped`] (a name with no counterpart in the other
//!   vocabulary is recorded as unmapped; it is not a reason to skip the copy: a copy
//!   that does not translate ends as `not-compared`, `upstream-error`);
//! - the fingerprint check: [`prepare`] translates the copy under its own message id
//!   and proves it is the same logical request as the original;
//! - judgement: [`judge_pair`] turns the primary's side and the shadow's result into
//!   the comparison, [`outcome_label`] names it for the mirror's metric.

use crate::mapping::{Effect, Mappings};
use crate::routing::Stack;
use crate::shadow::compare::{Comparison, Options};
use crate::shadow::exchange::{self, Answer, ShadowResult};
use crate::shadow::outcome::{NotComparedReason, Outcome};
use crate::translate::{Decoded, RouteNames, Translation, Translator};
use crate::wire::codec::Family;

/// Where an admitted copy goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The other stack, as the routing decision says.
    Stack(Stack),
    /// A `write` service's sandbox upstream (`shadow_writes = "sandbox"`).
    Sandbox { stack: Stack, upstream: String },
}

impl Target {
    pub fn stack(&self) -> Stack {
        match self {
            Target::Stack(s) | Target::Sandbox { stack: s, .. } => *s,
        }
    }
}

/// The shadow keys of the rollout rule that routed a request, as admission reads them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MirrorRule<'a> {
    /// Fraction of messages copied.
    pub sample: f64,
    /// Fraction of copied `read` messages also sent once more to the primary.
    pub calibrate: f64,
    /// `write` services go to this upstream instead of being skipped.
    pub sandbox: Option<&'a str>,
}

/// A `write` service is copied only to a sandbox: a copy of it is executed again.
pub fn writes_allowed(effect: Effect, sandboxed: bool) -> Result<(), NotComparedReason> {
    match (effect, sandboxed) {
        (Effect::Write, false) => Err(NotComparedReason::WriteService),
        _ => Ok(()),
    }
}

/// Is this request mirrored, and where? The rule's shadow keys, the service's effect
/// from the mappings (unknown services count as `write`: a copy of an unknown
/// operation is never safe to send), and the message id for sampling.
pub fn admit(
    rule: &MirrorRule<'_>,
    effect: Effect,
    message_id: &str,
    mirror_to: Stack,
) -> Result<Target, NotComparedReason> {
    if !exchange::selected(message_id, "sample", rule.sample) {
        return Err(NotComparedReason::SampledOut);
    }
    writes_allowed(effect, rule.sandbox.is_some())?;
    Ok(match (effect, rule.sandbox) {
        (Effect::Write, Some(upstream)) => Target::Sandbox {
            stack: mirror_to,
            upstream: upstream.to_string(),
        },
        _ => Target::Stack(mirror_to),
    })
}

/// Is an admitted copy also a calibration pair (the primary asked once more)? Only
/// `read` services, by the rule's `calibrate` fraction.
pub fn calibrates(effect: Effect, message_id: &str, fraction: f64) -> bool {
    effect == Effect::Read && exchange::selected(message_id, "calibrate", fraction)
}

/// The service's effect (`read`/`write`) from the mappings, by any of its names;
/// unknown services are writes.
pub fn effect_of(maps: &Mappings, names: &[String]) -> Effect {
    names
        .iter()
        .find_map(|n| {
            maps.service_for_legacy_text(n).or_else(|| {
                crate::wire::ids::ServiceId::parse(n)
                    .ok()
                    .and_then(|id| maps.service_for_uxp(&id))
            })
        })
        .map(|m| m.effect)
        .unwrap_or(Effect::Write)
}

/// The unmapped rule: a name with no counterpart in the other vocabulary is an
/// unmapped identifier (legacy can still serve it, UXP never could). `names` lists
/// every name each is known by, so a single one means no counterpart.
pub fn unmapped(names: &RouteNames) -> Vec<String> {
    let mut out = Vec::new();
    if names.agency.len() == 1 {
        out.push(format!("member {}", names.agency[0]));
    }
    if names.service.len() == 1 {
        out.push(format!("service {}", names.service[0]));
    }
    out
}

/// Why a copy is not made for the byte budget, with the detail for the record.
pub type Refusal = (NotComparedReason, String);

/// A request larger than the whole service budget is never copied.
pub fn request_fits(bytes: u64, limit: u64) -> Result<(), Refusal> {
    if bytes > limit {
        return Err((
            NotComparedReason::TooLarge,
            format!("request of {bytes} bytes exceeds the service budget of {limit}"),
        ));
    }
    Ok(())
}

/// With `in_flight` bytes of the service's copies already under way, does one of
/// `bytes` more stay within the budget?
pub fn budget_allows(service: &str, in_flight: u64, bytes: u64, limit: u64) -> Result<(), Refusal> {
    if in_flight + bytes > limit {
        return Err((
            NotComparedReason::Overload,
            format!("service `{service}` has {in_flight} bytes of shadow copies in flight (shadow.service_budget_bytes = {limit})"),
        ));
    }
    Ok(())
}

/// Does a shadow answer of `n` bytes, counted on top of `in_flight`, stay within the
/// budget? When it does not, the answer is not compared ([`over_budget`]).
pub fn answer_fits(in_flight: u64, n: u64, limit: u64) -> bool {
    in_flight + n <= limit
}

/// The result of a copy whose answer went over the service's byte budget.
pub fn over_budget(len: usize, latency_ms: f64) -> ShadowResult {
    ShadowResult::NotCompared {
        reason: NotComparedReason::TooLarge,
        detail: Some(format!(
            "answer of {len} bytes goes over the service's shadow byte budget"
        )),
        latency_ms: Some(latency_ms),
    }
}

/// A copy ready to send.
#[derive(Debug)]
pub struct Outgoing {
    pub copy: Translation,
    /// Whether the copy, decoded from the bytes to send, is the same logical request
    /// as the original (a translation bug otherwise; the copy is still sent).
    pub same_request: bool,
}

/// The copy of `request` for `stack` under message id `id` (`Translator::request_to_uxp`
/// for UXP, `Translator::reissue` for legacy), with the fingerprint check; a request
/// that does not translate ends as `not-compared` (`upstream-error`).
pub fn prepare(
    tr: Translator<'_>,
    request: &Decoded<'_>,
    stack: Stack,
    id: &str,
) -> Result<Outgoing, ShadowResult> {
    let copy_tr = tr.with_message_id(id);
    let copy = match stack {
        Stack::Uxp => copy_tr.request_to_uxp(request),
        Stack::Legacy => copy_tr.reissue(request),
    }
    .map_err(|e| ShadowResult::NotCompared {
        reason: NotComparedReason::UpstreamError,
        detail: Some(format!(
            "request does not translate for the {stack} stack: {e}"
        )),
        latency_ms: None,
    })?;
    let family = match stack {
        Stack::Legacy => Family::Legacy,
        Stack::Uxp => Family::Uxp,
    };
    let same_request = tr.same_request(request, &copy, family);
    Ok(Outgoing { copy, same_request })
}

/// The primary's side of a pair.
#[derive(Debug, Clone, Copy)]
pub enum PrimarySide<'a> {
    /// The answer the client got (or, in replay, the legacy stack's).
    Answered(&'a Answer),
    /// dualroad answered the client with its own fault: nothing to compare with.
    Rejected,
    /// The primary stack gave no answer (replay: the legacy call failed).
    Failed(&'a str),
}

/// Judgement: the comparison of the primary's answer with the shadow's result (both
/// in the client's dialect), or `None` when dualroad rejected the request.
pub fn judge_pair(
    primary: PrimarySide<'_>,
    shadow: &ShadowResult,
    opts: &Options<'_>,
) -> Option<Comparison> {
    match primary {
        PrimarySide::Answered(p) => Some(exchange::judge(p, shadow, opts)),
        PrimarySide::Rejected => None,
        PrimarySide::Failed(e) => Some(Comparison::not_compared(
            NotComparedReason::PrimaryInvalid,
            Some(format!("the legacy stack did not answer: {e}")),
        )),
    }
}

/// The mirror's outcome label for a judged pair: the comparison class, the
/// not-compared reason, or `primary-rejected`.
pub fn outcome_label(comparison: Option<&Comparison>) -> &'static str {
    match comparison {
        Some(c) => match &c.outcome {
            Outcome::NotCompared { reason, .. } => reason.as_str(),
            o => o.class().as_str(),
        },
        None => "primary-rejected",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(agency: &[&str], service: &[&str]) -> RouteNames {
        RouteNames {
            agency: agency.iter().map(|s| s.to_string()).collect(),
            service: service.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn admission_samples_then_keeps_writes_out_unless_sandboxed() {
        let all = MirrorRule {
            sample: 1.0,
            ..MirrorRule::default()
        };
        assert_eq!(
            admit(&all, Effect::Read, "m", Stack::Uxp),
            Ok(Target::Stack(Stack::Uxp))
        );
        assert_eq!(
            admit(&all, Effect::Write, "m", Stack::Uxp),
            Err(NotComparedReason::WriteService)
        );
        let sandboxed = MirrorRule {
            sandbox: Some("sb"),
            ..all
        };
        assert_eq!(
            admit(&sandboxed, Effect::Write, "m", Stack::Uxp),
            Ok(Target::Sandbox {
                stack: Stack::Uxp,
                upstream: "sb".into()
            })
        );
        let none = MirrorRule::default();
        assert_eq!(
            admit(&none, Effect::Write, "m", Stack::Uxp),
            Err(NotComparedReason::SampledOut),
            "sampling comes first"
        );
        assert!(!calibrates(Effect::Write, "m", 1.0));
        assert!(calibrates(Effect::Read, "m", 1.0));
    }

    #[test]
    fn a_single_name_is_unmapped() {
        assert_eq!(
            unmapped(&names(&["99999999"], &["a.b", "X/Y"])),
            vec!["member 99999999".to_string()]
        );
        assert!(unmapped(&names(&["a", "b"], &["c", "d"])).is_empty());
        assert!(unmapped(&names(&[], &[])).is_empty());
    }

    #[test]
    fn the_budget_refuses_oversized_and_overfull() {
        assert_eq!(request_fits(10, 10), Ok(()));
        assert_eq!(
            request_fits(11, 10).unwrap_err().0,
            NotComparedReason::TooLarge
        );
        assert_eq!(budget_allows("s", 5, 5, 10), Ok(()));
        assert_eq!(
            budget_allows("s", 6, 5, 10).unwrap_err().0,
            NotComparedReason::Overload
        );
        assert!(answer_fits(5, 5, 10));
        assert!(!answer_fits(5, 6, 10));
    }

    #[test]
    fn a_rejected_primary_is_not_judged() {
        let rules = Default::default();
        let today = "2026-03-01".parse().unwrap();
        let opts = Options::new(&rules, today);
        let shadow = ShadowResult::NotCompared {
            reason: NotComparedReason::Timeout,
            detail: None,
            latency_ms: None,
        };
        let c = judge_pair(PrimarySide::Rejected, &shadow, &opts);
        assert_eq!(outcome_label(c.as_ref()), "primary-rejected");
        let c = judge_pair(PrimarySide::Failed("refused"), &shadow, &opts);
        assert_eq!(outcome_label(c.as_ref()), "primary-invalid");
    }
}
