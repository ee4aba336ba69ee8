//! One shadow exchange, from the two answers to their comparison. Pure.
//!
//! Where it sits: the gateway's mirror task (`proxy::mirror`) and `dualroad replay`
//! both end here, so a replayed request is judged exactly as a live one:
//! 1. [`to_client_dialect`]: a UXP answer is translated back into the client's dialect
//!    exactly as the gateway does when UXP serves the client (a legacy answer already
//!    is in it);
//! 2. [`judge`]: the two answers are compared as SOAP ([`super::compare`](mod@super::compare));
//! 3. then `evidence::build` makes the record of the exchange from what was learned.
//!
//! No sockets, clocks or store here: times and latencies come in as numbers.

use bytes::Bytes;

use crate::routing::Stack;
use crate::shadow::compare::{compare, Comparison, Options};
use crate::shadow::outcome::{NotComparedReason, Outcome};
use crate::translate::belongs::{self, Sent};
use crate::translate::{Decoded, TranslateError, Translator};
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
    tr: Translator<'_>,
    request: &Decoded<'_>,
    shadow_stack: Stack,
    sent_id: &str,
    answer: Answer,
) -> Result<Answer, Unusable> {
    match shadow_stack {
        Stack::Legacy => {
            let sent = Sent::from_header(&request.header).with_id(Some(sent_id));
            let opts = tr.options();
            if let Ok(m) = Message::parse_answer(answer.input(), opts.max_message_bytes, opts.scan)
            {
                belongs::check_legacy(&m, &sent).map_err(|e| Unusable::Foreign(e.to_string()))?;
            }
            Ok(answer)
        }
        Stack::Uxp => tr
            .with_message_id(sent_id)
            .response_to_legacy(answer.input(), request)
            .map(|t| Answer {
                status: answer.status,
                content_type: Some(t.content_type),
                body: Bytes::from(t.bytes),
            })
            .map_err(|e| match e {
                TranslateError::AnswerMismatch { .. } => Unusable::Foreign(e.to_string()),
                e => {
                    Unusable::Untranslatable(format!("the UXP answer does not translate back: {e}"))
                }
            }),
    }
}

/// [`to_client_dialect`] for whatever the shadow side gave: an answer is brought to the
/// client's dialect; one that does not translate is kept as it came, so the comparator
/// classifies it as the shadow's error (`shadow-error`) instead of losing it; one that
/// answers another request becomes [`ShadowResult::Foreign`]. Used by the mirror and
/// by `dualroad replay`.
pub fn shadow_to_client_dialect(
    tr: Translator<'_>,
    request: &Decoded<'_>,
    shadow_stack: Stack,
    sent_id: &str,
    shadow: ShadowResult,
) -> ShadowResult {
    match shadow {
        ShadowResult::Answered { answer, latency_ms } => {
            match to_client_dialect(tr, request, shadow_stack, sent_id, answer.clone()) {
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
