//! The one shadow-copy driver: a decoded legacy request sent to one stack as a copy
//! under its own message id, and its answer brought back to the client's dialect.
//! Used by the live mirror (`proxy::mirror`: the shadow copy and the calibration
//! call) and by `dualroad replay` (its UXP leg), so a replayed request is copied,
//! checked and judged exactly as a live one.
//!
//! One copy, under its own message id: translate it and prove it is the same logical
//! request (`shadow::copy::prepare`: `Translator::request_to_uxp` for UXP,
//! `Translator::reissue` for legacy, then `Translator::same_request`) →
//! call the stack, timed, within a byte budget → bring the answer back
//! (`shadow::exchange::shadow_to_client_dialect`, which also proves the answer
//! belongs to this copy). Every failure ends as a `ShadowResult` saying why: the
//! callers record it, nothing is dropped silently.

use bytes::Bytes;
use tokio::time::Instant;

use crate::proxy::upstream::{UpstreamClient, UpstreamError};
use crate::routing::Stack;
use crate::shadow::copy as shadow_copy;
use crate::shadow::exchange::{self, Answer, ShadowResult};
use crate::shadow::NotComparedReason;
use crate::translate::{Decoded, Translator};

/// What one copy gave.
#[derive(Debug)]
pub struct Copied {
    /// Whether the copy, decoded from the bytes sent, is the same logical request as
    /// the original (a translation bug otherwise; the result is still kept).
    /// `None` when it could not be translated at all.
    pub same_request: Option<bool>,
    /// The stack's answer in the client's dialect, or why there is none.
    pub result: ShadowResult,
}

/// Why a copy has no answer to compare, from the upstream error.
pub(crate) fn reason_for(e: &UpstreamError) -> NotComparedReason {
    match e {
        UpstreamError::Timeout { .. } => NotComparedReason::Timeout,
        UpstreamError::TooLarge { .. } => NotComparedReason::TooLarge,
        _ => NotComparedReason::UpstreamError,
    }
}

fn not_compared(
    reason: NotComparedReason,
    detail: String,
    latency_ms: Option<f64>,
) -> ShadowResult {
    ShadowResult::NotCompared {
        reason,
        detail: Some(detail),
        latency_ms,
    }
}

/// Sends `request` to `stack` as a copy under message id `id` through `client`
/// (`None`: no client configured for that stack). `admit` is asked for the answer's
/// size before it is kept (the mirror's per-service byte budget; `|_| true` for none).
/// The answer is echoed against `request`'s header, as the gateway would answer it.
pub async fn send(
    tr: Translator<'_>,
    request: &Decoded<'_>,
    stack: Stack,
    id: &str,
    client: Option<&UpstreamClient>,
    admit: impl FnOnce(u64) -> bool,
) -> Copied {
    let out = match shadow_copy::prepare(tr, request, stack, id) {
        Ok(out) => out,
        Err(result) => {
            return Copied {
                same_request: None,
                result,
            }
        }
    };
    let same_request = Some(out.same_request);
    let Some(client) = client else {
        return Copied {
            same_request,
            result: not_compared(
                NotComparedReason::UpstreamError,
                format!("no upstream client for the {stack} stack"),
                None,
            ),
        };
    };
    let copy = out.copy;
    let started = Instant::now();
    let answered = client
        .call(
            Bytes::from(copy.bytes),
            &copy.content_type,
            copy.soap_action.as_deref(),
        )
        .await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let result = match answered {
        Ok(resp) if !admit(resp.body.len() as u64) => {
            shadow_copy::over_budget(resp.body.len(), latency_ms)
        }
        Ok(resp) => ShadowResult::Answered {
            answer: Answer {
                status: resp.status,
                content_type: resp.content_type,
                body: resp.body,
            },
            latency_ms,
        },
        Err(e) => not_compared(reason_for(&e), e.to_string(), Some(latency_ms)),
    };
    // Back in the client's dialect, exactly as the gateway would have answered.
    let result = exchange::shadow_to_client_dialect(tr, request, stack, id, result);
    Copied {
        same_request,
        result,
    }
}
