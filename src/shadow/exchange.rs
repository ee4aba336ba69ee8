//! One shadow exchange, from the two answers to the evidence that is stored. Pure.
//!
//! Where it sits: the gateway's mirror task (`proxy::mirror`) and `dualroad replay`
//! both end here, so a replayed request is judged exactly as a live one:
//! 1. [`to_client_dialect`]: a UXP answer is translated back into the client's dialect
//!    exactly as the gateway does when UXP serves the client (a legacy answer already
//!    is in it);
//! 2. [`judge`]: the two answers are compared as SOAP ([`super::compare`]);
//! 3. [`event`]: the [`ExchangeRecord`] and [`DiffRecord`] handed to the store's writer.
//!
//! No sockets, clocks or store here: times and latencies come in as numbers.

use bytes::Bytes;

use crate::mapping::Mappings;
use crate::routing::Stack;
use crate::shadow::compare::{compare, Comparison, Options};
use crate::shadow::outcome::{NotComparedReason, Outcome, Role};
use crate::shadow::rules::Rules;
use crate::store::exchanges::{Bodies, Body, DiffPath, DiffRecord, ExchangeRecord, RecordKey};
use crate::store::ExchangeEvent;
use crate::translate::belongs::{self, Sent};
use crate::translate::{self, Decoded, Options as TranslateOptions, TranslateError};
use crate::wire::message::{Input, Message};

/// An HTTP answer: status, Content-Type and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Bytes,
}

impl Answer {
    pub fn input(&self) -> Input<'_> {
        Input::new(&self.body).with_content_type(self.content_type.as_deref())
    }

    fn stored(&self) -> Body {
        Body {
            content_type: self.content_type.clone(),
            bytes: self.body.clone(),
        }
    }
}

/// What the shadow side gave.
#[derive(Debug, Clone, PartialEq)]
pub enum ShadowResult {
    /// An HTTP answer (of any status: a SOAP fault travels with 500), after
    /// `latency_ms`.
    Answered { answer: Answer, latency_ms: f64 },
    /// An answer whose header names another message id, client or service than the
    /// copy it answers (`translate::belongs`): kept as evidence, judged the shadow's
    /// error, never compared as if it were the answer.
    Foreign {
        answer: Answer,
        latency_ms: f64,
        why: String,
    },
    /// No answer to compare, and why.
    NotCompared {
        reason: NotComparedReason,
        detail: Option<String>,
        latency_ms: Option<f64>,
    },
}

impl ShadowResult {
    /// How long the shadow took, when it was called.
    pub fn latency_ms(&self) -> Option<f64> {
        match self {
            ShadowResult::Answered { latency_ms, .. }
            | ShadowResult::Foreign { latency_ms, .. } => Some(*latency_ms),
            ShadowResult::NotCompared { latency_ms, .. } => *latency_ms,
        }
    }

    /// The shadow's answer, to keep as evidence.
    pub fn into_answer(self) -> Option<Answer> {
        match self {
            ShadowResult::Answered { answer, .. } | ShadowResult::Foreign { answer, .. } => {
                Some(answer)
            }
            ShadowResult::NotCompared { .. } => None,
        }
    }
}

/// Why a shadow answer is not the answer the client would have got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unusable {
    /// It answers another request (names another id, client or service).
    Foreign(String),
    /// A UXP answer that does not translate back.
    Untranslatable(String),
}

/// The shadow's answer as the client would have received it from the gateway: a UXP
/// answer goes through the same translation the gateway applies when UXP serves the
/// client (`request` is the client's decoded request, which the translation echoes).
/// Either kind of answer must belong to the copy, sent under `sent_id`
/// (`translate::belongs`). An answer a legacy stack sent that is not SOAP at all is
/// left to the comparator, which calls it the shadow's error.
pub fn to_client_dialect(
    maps: &Mappings,
    opts: &TranslateOptions,
    request: &Decoded<'_>,
    shadow_stack: Stack,
    sent_id: &str,
    answer: Answer,
) -> Result<Answer, Unusable> {
    match shadow_stack {
        Stack::Legacy => {
            let sent = Sent::from_header(&request.header).with_id(Some(sent_id));
            if let Ok(m) = Message::parse_answer(answer.input(), opts.max_message_bytes, opts.scan)
            {
                belongs::check_legacy(&m, &sent).map_err(|e| Unusable::Foreign(e.to_string()))?;
            }
            Ok(answer)
        }
        Stack::Uxp => translate::response_to_legacy_decoded(
            maps,
            opts,
            answer.input(),
            request,
            Some(sent_id),
        )
        .map(|t| Answer {
            status: answer.status,
            content_type: Some(t.content_type),
            body: Bytes::from(t.bytes),
        })
        .map_err(|e| match e {
            TranslateError::AnswerMismatch { .. } => Unusable::Foreign(e.to_string()),
            e => Unusable::Untranslatable(format!("the UXP answer does not translate back: {e}")),
        }),
    }
}

/// [`to_client_dialect`] for whatever the shadow side gave: an answer is brought to the
/// client's dialect; one that does not translate is kept as it came, so the comparator
/// classifies it as the shadow's error (`shadow-error`) instead of losing it; one that
/// answers another request becomes [`ShadowResult::Foreign`]. Used by the mirror and
/// by `dualroad replay`.
pub fn shadow_to_client_dialect(
    maps: &Mappings,
    opts: &TranslateOptions,
    request: &Decoded<'_>,
    shadow_stack: Stack,
    sent_id: &str,
    shadow: ShadowResult,
) -> ShadowResult {
    match shadow {
        ShadowResult::Answered { answer, latency_ms } => {
            match to_client_dialect(maps, opts, request, shadow_stack, sent_id, answer.clone()) {
                Ok(a) => ShadowResult::Answered {
                    answer: a,
                    latency_ms,
                },
                Err(Unusable::Foreign(why)) => ShadowResult::Foreign {
                    answer,
                    latency_ms,
                    why,
                },
                Err(Unusable::Untranslatable(_)) => ShadowResult::Answered { answer, latency_ms },
            }
        }
        other => other,
    }
}

/// Compares the primary's answer with the shadow's (both in the client's dialect).
pub fn judge(primary: &Answer, shadow: &ShadowResult, opts: &Options<'_>) -> Comparison {
    match shadow {
        ShadowResult::Answered { answer, .. } => compare(primary.input(), answer.input(), opts),
        ShadowResult::Foreign { why, .. } => {
            Comparison::with_outcome(Outcome::ShadowError { error: why.clone() })
        }
        ShadowResult::NotCompared { reason, detail, .. } => {
            Comparison::not_compared(*reason, detail.clone())
        }
    }
}

/// What is known of an exchange besides the comparison.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Meta {
    pub at_unix_ms: u64,
    pub message_id: Option<String>,
    pub shadow_message_id: Option<String>,
    pub agency: String,
    pub service: String,
    /// `legacy`, `shadow`, `canary`, `uxp`, `uxp-shadow`, `rollback`, `provider`…
    pub stage: String,
    /// The stack whose answer the client got (`dualroad` when the gateway answered
    /// with its own fault).
    pub served_by: String,
    pub listener: String,
    pub primary_latency_ms: f64,
    pub primary_fault_code: Option<String>,
    pub lossy_fields: Vec<String>,
    pub unmapped: Vec<String>,
    pub request_hash: Option<String>,
    /// The gateway's own fault code when it rejected the request.
    pub rejected_code: Option<String>,
}

/// The bodies kept with an exchange (raw: the writer redacts them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawBodies {
    pub request: Option<Answer>,
    pub primary: Option<Answer>,
    pub shadow: Option<Answer>,
}

/// The store event for one exchange. `comparison` is `None` when nothing was mirrored
/// (outcome `served`, or `rejected` when `meta.rejected_code` is set). Bodies go to
/// the writer whenever there is a diff (it needs them to redact the diff) or
/// `store_bodies` is set; the writer stores them only in the second case.
pub fn event(
    meta: Meta,
    comparison: Option<&Comparison>,
    shadow_latency_ms: Option<f64>,
    rules: &Rules,
    bodies: RawBodies,
    store_bodies: bool,
) -> ExchangeEvent {
    let (outcome, reason, shadow_fault) = match comparison {
        None if meta.rejected_code.is_some() => ("rejected".to_string(), None, None),
        None => ("served".to_string(), None, None),
        Some(c) => (
            c.outcome.class().as_str().to_string(),
            match &c.outcome {
                Outcome::NotCompared { reason, .. } => Some(reason.as_str().to_string()),
                _ => None,
            },
            shadow_fault_code(&c.outcome, meta.primary_fault_code.as_deref()),
        ),
    };
    let ignore_rules = comparison
        .map(|c| {
            let all: Vec<&str> = rules.ignore_rules().map(|r| r.path.as_str()).collect();
            c.rules_matched
                .iter()
                .filter_map(|&i| all.get(i).map(|p| p.to_string()))
                .collect()
        })
        .unwrap_or_default();
    let diff = comparison
        .filter(|c| c.outcome.is_mismatch())
        .map(|c| diff_record(&meta, c));
    let bodies = (store_bodies || diff.is_some()).then(|| Bodies {
        request: bodies.request.as_ref().map(Answer::stored),
        primary: bodies.primary.as_ref().map(Answer::stored),
        shadow: bodies.shadow.as_ref().map(Answer::stored),
    });
    let record = ExchangeRecord {
        at_unix_ms: meta.at_unix_ms,
        message_id: meta.message_id,
        shadow_message_id: meta.shadow_message_id,
        agency: meta.agency,
        service: meta.service,
        stage: meta.stage,
        served_by: meta.served_by,
        listener: meta.listener,
        primary_latency_ms: meta.primary_latency_ms,
        shadow_latency_ms,
        outcome,
        not_compared_reason: reason,
        primary_fault_code: meta.primary_fault_code,
        shadow_fault_code: shadow_fault,
        lossy_fields: meta.lossy_fields,
        unmapped: meta.unmapped,
        ignore_rules,
        rejected_code: meta.rejected_code,
        request_hash: meta.request_hash,
        noise_diffs: comparison.map_or(0, |c| c.noise_count as u64),
        diff_id: None,
        bodies,
    };
    ExchangeEvent {
        record,
        diff,
        store_bodies,
    }
}

/// The shadow's fault code, when the comparison shows one.
fn shadow_fault_code(o: &Outcome, primary: Option<&str>) -> Option<String> {
    match o {
        Outcome::FaultMismatch {
            faulted: Role::Shadow,
            code,
        } => Some(code.clone()),
        Outcome::FaultCodeDiff { shadow, .. } => Some(shadow.clone()),
        // Equal after normalisation: both faulted alike.
        Outcome::Match => primary.map(str::to_string),
        _ => None,
    }
}

fn diff_record(meta: &Meta, c: &Comparison) -> DiffRecord {
    let mut paths: Vec<DiffPath> = c
        .diffs
        .iter()
        .map(|d| DiffPath {
            path: d.path.clone(),
            kind: kind_name(d.kind).to_string(),
            primary: d.primary.clone(),
            shadow: d.shadow.clone(),
            noise: false,
        })
        .collect();
    paths.extend(c.noise.iter().map(|d| DiffPath {
        path: d.path.clone(),
        kind: kind_name(d.kind).to_string(),
        primary: d.primary.clone(),
        shadow: d.shadow.clone(),
        noise: true,
    }));
    let unified = match (&c.outcome, &c.unified) {
        (_, Some(u)) => u.clone(),
        (Outcome::ShadowError { error }, None) => format!("shadow answer unreadable: {error}"),
        _ => String::new(),
    };
    DiffRecord {
        // Replaced by the writer with the exchange's key.
        id: RecordKey::first_at(meta.at_unix_ms),
        at_unix_ms: meta.at_unix_ms,
        agency: meta.agency.clone(),
        service: meta.service.clone(),
        outcome: c.outcome.class().as_str().to_string(),
        paths,
        unified,
    }
}

fn kind_name(k: crate::shadow::DiffKind) -> &'static str {
    match k {
        crate::shadow::DiffKind::Added => "added",
        crate::shadow::DiffKind::Removed => "removed",
        crate::shadow::DiffKind::Changed => "changed",
    }
}

/// Deterministic `[0, 1)` draw from a message id and a salt, for `sample` and
/// `calibrate`: the same message is always in or out, so a retry is judged alike and
/// a test can predict the selection.
pub fn draw(message_id: &str, salt: &str) -> f64 {
    // FNV-1a 64 and a murmur3 finaliser, as the canary bucket: stable across builds.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in salt.bytes().chain([0u8]).chain(message_id.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    // 53 bits: every value exactly representable.
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Is this message selected by a fraction? `1.0` always, `0.0` never.
pub fn selected(message_id: &str, salt: &str, fraction: f64) -> bool {
    fraction >= 1.0 || (fraction > 0.0 && draw(message_id, salt) < fraction)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shadow::{CompareConfig, Date};

    fn answer(body: &str) -> Answer {
        Answer {
            status: 200,
            content_type: Some("text/xml; charset=utf-8".into()),
            body: Bytes::from(body.to_string()),
        }
    }

    const A: &str = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:r xmlns:m="urn:m"><v>1</v><t>x</t></m:r></s:Body></s:Envelope>"#;
    const B: &str = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:r xmlns:m="urn:m"><v>2</v><t>y</t></m:r></s:Body></s:Envelope>"#;

    fn meta() -> Meta {
        Meta {
            at_unix_ms: 1_700_000_000_000,
            message_id: Some("m1".into()),
            agency: "a".into(),
            service: "s".into(),
            stage: "shadow".into(),
            served_by: "legacy".into(),
            ..Meta::default()
        }
    }

    #[test]
    fn a_diff_becomes_a_record_with_paths_noise_and_ignore_rules() {
        let cfg = CompareConfig {
            ignore: vec![crate::shadow::IgnoreRule {
                path: "Body/r/t".into(),
                reason: "test".into(),
                expires: None,
            }],
            ..CompareConfig::default()
        };
        let rules = cfg.compile().expect("valid");
        let today: Date = "2026-01-01".parse().expect("date");
        let shadow = ShadowResult::Answered {
            answer: answer(B),
            latency_ms: 3.0,
        };
        let c = judge(&answer(A), &shadow, &Options::new(&rules, today));
        assert_eq!(c.outcome, Outcome::BodyDiff);
        let bodies = RawBodies {
            primary: Some(answer(A)),
            shadow: Some(answer(B)),
            ..RawBodies::default()
        };
        let e = event(meta(), Some(&c), Some(3.0), &rules, bodies, false);
        assert_eq!(e.record.outcome, "body-diff");
        assert_eq!(e.record.ignore_rules, vec!["Body/r/t".to_string()]);
        let d = e.diff.expect("a diff record");
        assert_eq!(d.paths.len(), 1);
        assert_eq!(d.paths[0].path, "Body/r/v");
        assert_eq!(
            (d.paths[0].primary.as_deref(), d.paths[0].shadow.as_deref()),
            (Some("1"), Some("2"))
        );
        assert!(d.unified.contains("-") && d.unified.contains("+"));
        // Bodies travel with a diff (the writer needs them to redact it) but are not
        // stored without store_bodies.
        assert!(e.record.bodies.is_some());
        assert!(!e.store_bodies);
    }

    #[test]
    fn not_compared_and_served_and_rejected_outcomes() {
        let rules = Rules::default();
        let today: Date = "2026-01-01".parse().expect("date");
        let shadow = ShadowResult::NotCompared {
            reason: NotComparedReason::Timeout,
            detail: None,
            latency_ms: Some(5000.0),
        };
        let c = judge(&answer(A), &shadow, &Options::new(&rules, today));
        let e = event(meta(), Some(&c), None, &rules, RawBodies::default(), false);
        assert_eq!(
            (
                e.record.outcome.as_str(),
                e.record.not_compared_reason.as_deref()
            ),
            ("not-compared", Some("timeout"))
        );
        assert!(e.diff.is_none() && e.record.bodies.is_none());
        let e = event(meta(), None, None, &rules, RawBodies::default(), true);
        assert_eq!(e.record.outcome, "served");
        assert!(e.record.bodies.is_some(), "store_bodies keeps bodies");
        let m = Meta {
            rejected_code: Some("Server.ServerProxy.NetworkError".into()),
            ..meta()
        };
        let e = event(m, None, None, &rules, RawBodies::default(), false);
        assert_eq!(e.record.outcome, "rejected");
    }

    #[test]
    fn selection_is_deterministic_and_close_to_the_fraction() {
        assert!(selected("x", "sample", 1.0));
        assert!(!selected("x", "sample", 0.0));
        let n = 20_000;
        let hits = (0..n)
            .filter(|i| selected(&format!("msg-{i}"), "sample", 0.25))
            .count();
        let rate = hits as f64 / n as f64;
        assert!((0.23..0.27).contains(&rate), "rate {rate}");
        // Another salt selects other messages.
        let both = (0..n)
            .filter(|i| {
                let id = format!("msg-{i}");
                selected(&id, "sample", 0.25) && selected(&id, "calibrate", 0.25)
            })
            .count();
        assert!(both < hits / 2, "salts are independent: {both} of {hits}");
        assert_eq!(draw("abc", "s"), draw("abc", "s"));
    }
}
