//! The request pipeline, in named phases:
//! `read_body` → `decode` → `route` → (`translate` → `forward` → `translate_back`) →
//! `respond`, plus a detached `mirror` for the shadow stages. Every failure leaves
//! through `respond::fault_response`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::evidence::{self, CaptureRecord, Facts, RawBodies};
use crate::proxy::error::{GatewayError, Role};
use crate::proxy::identity::{self, ConnIdentity};
use crate::proxy::mirror;
use crate::proxy::respond::{fault_response, soap_response, Body};
use crate::proxy::upstream::{UpstreamClient, UpstreamResponse};
use crate::proxy::{Active, Shared};
use crate::routing::{decide, Decision, RequestKey, Stack};
use crate::shadow::exchange::{self, Answer};
use crate::shadow::NotComparedReason;
use crate::telemetry::events::{
    AnswerMismatched, LossyFieldsSeen, Mirrored, RequestServed, UpstreamCalled,
};
use crate::translate::{self, Options, Translator};
use crate::wire::codec::{Family, Kind};
use crate::wire::message::{Input, Message};

/// What the pipeline learned about a request, for the closing telemetry event and the
/// exchange record.
#[derive(Default)]
struct Served {
    agency: String,
    service: String,
    stage: evidence::Stage,
    served_by: evidence::ServedBy,
    message_id: Option<String>,
    lossy: Vec<String>,
    unmapped: Vec<String>,
    /// The upstream answer the client got (after translation back), when one did.
    answer: Option<Answer>,
    primary_fault_code: Option<String>,
    primary_latency: Option<Duration>,
    /// The mirror task waiting for the client's answer.
    mirror: Option<oneshot::Sender<mirror::Primary>>,
    /// A shadow-stage request that is not mirrored, and why.
    not_compared: Option<(NotComparedReason, Option<String>)>,
    store_bodies: bool,
    capture: bool,
    /// The rollout rule that routed the request (`None`: fallback), for the gate.
    rule: Option<usize>,
    /// dualroad answered with its own fault because the UXP stack failed.
    uxp_failed: bool,
}

/// Entry point for one HTTP request on a SOAP listener.
pub async fn handle(
    shared: Arc<Shared>,
    listener: Arc<str>,
    role: ListenerKind,
    req: Request<Incoming>,
) -> Response<Body> {
    let started = Instant::now();
    let active = shared.active();
    let content_type = header(&req, "content-type");
    let soap_action = header(&req, "soapaction");
    let conn = identity::of_request(&req);
    let (r, family) = match role.clone() {
        ListenerKind::Consumer => (Role::Consumer, Family::Legacy),
        ListenerKind::Provider { .. } => (Role::Provider, Family::Uxp),
    };
    let mut served = Served {
        stage: if r == Role::Provider {
            evidence::Stage::Provider
        } else {
            evidence::Stage::Unrouted
        },
        served_by: evidence::ServedBy::Dualroad,
        ..Served::default()
    };
    // Checked before the body is read but answered after: the body says which dialect
    // the fault must speak.
    let head_refused = header_excess(req.headers(), &active.settings.limits);
    // A body that could not be read leaves only the Content-Type to pick the dialect.
    let (body, refused) = match read_body(&active, req).await {
        Ok(b) => (b, head_refused),
        Err(e) => (Bytes::new(), Some(e)),
    };
    let input = Input {
        bytes: &body,
        content_type: content_type.as_deref(),
        soap_action: soap_action.as_deref(),
    };
    if let Some(e) = refused {
        let rescue = active.opts.rescue_for(input, family);
        return finish(
            &shared,
            &active,
            &listener,
            served,
            started,
            None,
            Err((e, rescue, r)),
        );
    }
    let result = match role {
        ListenerKind::Consumer => {
            consumer(&shared, &active, &conn, &body, input, &mut served).await
        }
        ListenerKind::Provider { upstream } => {
            provider(&shared, &active, &upstream, input, &mut served).await
        }
    };
    let result = result.map_err(|e| (e, active.opts.rescue_for(input, family), r));
    let request = Answer {
        status: 0,
        content_type: content_type.clone(),
        body: body.clone(),
    };
    finish(
        &shared,
        &active,
        &listener,
        served,
        started,
        Some((request, soap_action)),
        result,
    )
}

/// The role of the listener a request arrived on, with what it needs.
#[derive(Debug, Clone)]
pub enum ListenerKind {
    Consumer,
    Provider { upstream: String },
}

fn header<B>(req: &Request<B>, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[allow(clippy::type_complexity)]
fn finish(
    shared: &Arc<Shared>,
    active: &Active,
    listener: &str,
    mut served: Served,
    started: Instant,
    request: Option<(Answer, Option<String>)>,
    result: Result<Response<Body>, (GatewayError, crate::wire::fault::Rescue, Role)>,
) -> Response<Body> {
    let (resp, outcome, rejected_code) = match result {
        Ok(r) => {
            let outcome = if r.status().is_success() {
                "ok"
            } else {
                "fault"
            };
            (r, outcome, None)
        }
        Err((e, rescue, role)) => {
            if let GatewayError::Translate(
                translate::TranslateError::UnmappedMember(n)
                | translate::TranslateError::UnmappedService(n),
            ) = &e
            {
                if !served.unmapped.contains(n) {
                    served.unmapped.push(n.clone());
                }
            }
            let code = e.fault_code(role).as_str().to_string();
            served.uxp_failed = e.side() == crate::error::Side::Uxp;
            (
                fault_response(&e, &rescue, role, &shared.metrics),
                "rejected",
                Some(code),
            )
        }
    };
    let elapsed = started.elapsed();
    RequestServed {
        listener,
        agency: if served.agency.is_empty() {
            "unknown"
        } else {
            &served.agency
        },
        service: if served.service.is_empty() {
            "unknown"
        } else {
            &served.service
        },
        stage: served.stage.as_str(),
        served_by: served.served_by.as_str(),
        outcome,
        elapsed,
    }
    .emit(&shared.metrics);
    record(
        shared,
        active,
        listener,
        served,
        elapsed,
        request,
        rejected_code,
    );
    resp
}

/// Phase `record`: the exchange goes to the store (through the mirror task when a
/// copy is in flight, so the record carries both sides). Never blocks.
fn record(
    shared: &Arc<Shared>,
    active: &Active,
    listener: &str,
    served: Served,
    elapsed: Duration,
    request: Option<(Answer, Option<String>)>,
    rejected_code: Option<String>,
) {
    let at_unix_ms = shared.now_ms();
    let Some((request, soap_action)) = request else {
        // The body never arrived (wrong method, too large, too slow): nothing to link a
        // record to but the connection; the fault metric counts it.
        return;
    };
    if served.capture && rejected_code.is_none() {
        let capture = CaptureRecord {
            at_unix_ms,
            agency: served.agency.clone(),
            service: served.service.clone(),
            listener: listener.to_string(),
            content_type: request.content_type.clone(),
            soap_action,
            body: request.body.clone(),
        };
        let outcome = match shared.shadow.writer.submit_capture(capture) {
            crate::store::Submitted::Queued => "capture-queued",
            crate::store::Submitted::Dropped => "capture-dropped",
        };
        crate::telemetry::events::EvidenceQueued { outcome }.emit(&shared.metrics);
    }
    let meta = Facts {
        at_unix_ms,
        message_id: served.message_id,
        shadow_message_id: None,
        agency: served.agency,
        service: served.service,
        stage: served.stage,
        served_by: if rejected_code.is_some() {
            evidence::ServedBy::Dualroad
        } else {
            served.served_by
        },
        listener: listener.to_string(),
        primary_latency_ms: served.primary_latency.unwrap_or(elapsed).as_secs_f64() * 1000.0,
        primary_fault_code: served.primary_fault_code,
        lossy_fields: served.lossy,
        unmapped: served.unmapped,
        request_hash: None,
        rejected_code,
    };
    if let Some(tx) = served.mirror {
        let primary = mirror::Primary {
            meta,
            answer: served.answer,
            store_bodies: served.store_bodies,
            rule: served.rule,
            uxp_failed: served.uxp_failed,
        };
        // A closed channel means the copy task is gone (runtime shutting down).
        let _ = tx.send(primary);
        return;
    }
    let comparison = served
        .not_compared
        .map(|(reason, detail)| crate::shadow::Comparison::not_compared(reason, detail));
    let bodies = RawBodies {
        request: Some(request),
        primary: served.answer,
        shadow: None,
    };
    let event = evidence::build(
        meta,
        comparison.as_ref(),
        None,
        &active.compare,
        bodies,
        served.store_bodies,
    );
    shared
        .shadow
        .conclude(shared, event, served.rule, served.uxp_failed);
}

/// The header section against `[limits] max_headers` and `max_header_bytes`, counted
/// as on the wire: `name: value` and CRLF per field.
fn header_excess(
    headers: &http::HeaderMap,
    limits: &crate::config::Limits,
) -> Option<GatewayError> {
    let over = |what, key, actual, limit| {
        (actual > limit).then_some(GatewayError::HeaderLimit {
            what,
            key,
            actual,
            limit,
        })
    };
    over(
        "header count",
        "max_headers",
        headers.len(),
        limits.max_headers,
    )
    .or_else(|| {
        let bytes = headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum();
        over(
            "header bytes",
            "max_header_bytes",
            bytes,
            limits.max_header_bytes,
        )
    })
}

/// Phase `read_body`: POST only, known paths, size and time limits.
async fn read_body(active: &Active, req: Request<Incoming>) -> Result<Bytes, GatewayError> {
    if req.method() != http::Method::POST {
        return Err(GatewayError::Method(req.method().to_string()));
    }
    let path = req.uri().path();
    if !matches!(path, "/" | "/cgi-bin/consumer_proxy") {
        return Err(GatewayError::Path(path.to_string()));
    }
    let limits = &active.settings.limits;
    let limit = limits.max_message_bytes;
    if let Some(len) = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limit {
            return Err(GatewayError::BodyTooLarge { limit });
        }
    }
    let collect = Limited::new(req.into_body(), limit as usize).collect();
    match tokio::time::timeout(limits.body_read_timeout, collect).await {
        Err(_) => Err(GatewayError::BodyTimeout {
            timeout_ms: limits.body_read_timeout.as_millis(),
        }),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            Err(GatewayError::BodyTooLarge { limit })
        }
        Ok(Err(e)) => Err(GatewayError::BodyRead(e.to_string())),
        Ok(Ok(c)) => Ok(c.to_bytes()),
    }
}

fn stack_client(active: &Active, stack: Stack) -> Result<&UpstreamClient, GatewayError> {
    let stacks = active
        .settings
        .stacks
        .as_ref()
        .ok_or_else(|| GatewayError::Config("a consumer listener needs [stacks]".into()))?;
    let name = match stack {
        Stack::Legacy => &stacks.legacy,
        Stack::Uxp => &stacks.uxp,
    };
    active
        .upstreams
        .get(name)
        .ok_or_else(|| GatewayError::Config(format!("upstream `{name}` has no client")))
}

/// Phase `forward`, with its telemetry.
async fn forward(
    shared: &Shared,
    client: &UpstreamClient,
    stack: Stack,
    body: Bytes,
    ct: &str,
    action: Option<&str>,
) -> Result<UpstreamResponse, GatewayError> {
    let started = Instant::now();
    let span =
        tracing::info_span!("upstream", stack = stack.name(), upstream = %client.upstream.name);
    let r = tracing::Instrument::instrument(client.call(body, ct, action), span).await;
    UpstreamCalled {
        stack: stack.name(),
        upstream: &client.upstream.name,
        outcome: match &r {
            Ok(_) => "ok",
            Err(e) => e.outcome(),
        },
        elapsed: started.elapsed(),
    }
    .emit(&shared.metrics);
    r.map_err(|error| GatewayError::Upstream { stack, error })
}

/// A legacy answer passed through untouched must still be SOAP: an HTML error page or
/// garbage becomes a fault in the client's dialect instead of confusing the client.
/// Returns the fault code when the answer is a SOAP fault.
fn check_passthrough(
    resp: &UpstreamResponse,
    stack: Stack,
    opts: &Options,
    req: &crate::wire::header::Header,
) -> Result<Option<String>, GatewayError> {
    let input = Input::new(&resp.body).with_content_type(resp.content_type.as_deref());
    match Message::parse_answer(input, opts.max_message_bytes, opts.scan) {
        Ok(m) if m.env.is_fault() => Ok(m
            .env
            .body
            .fault
            .as_ref()
            .map(|f| crate::wire::fault::Fault::from_elem(&m.env, f).code)),
        Ok(m) if resp.status == 200 => {
            match translate::belongs::check_legacy(&m, &translate::belongs::Sent::from_header(req))
            {
                Ok(()) => Ok(None),
                Err(e) => Err(GatewayError::Translate(e)),
            }
        }
        Ok(_) => Err(GatewayError::BadUpstreamAnswer {
            stack,
            status: resp.status,
            what: "a SOAP message that is not a fault".into(),
        }),
        Err(e) => Err(GatewayError::BadUpstreamAnswer {
            stack,
            status: resp.status,
            what: format!("something that is not SOAP ({e})"),
        }),
    }
}

/// Counts and logs a primary answer refused for belonging to another request (the
/// client gets `…InvalidResponse` from the rescue, coded by the listener's role).
fn note_mismatch(shared: &Shared, e: &GatewayError) {
    if let GatewayError::Translate(translate::TranslateError::AnswerMismatch { side, why }) = e {
        AnswerMismatched {
            stack: side.as_str(),
            role: "primary",
            why,
        }
        .emit(&shared.metrics);
    }
}

/// The service's effect (`read`/`write`) from the mappings, by any of its names;
/// unknown services are writes. Also used by `dualroad replay`.
pub(crate) fn effect_of(
    maps: &crate::mapping::Mappings,
    names: &[String],
) -> crate::mapping::Effect {
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
        .unwrap_or(crate::mapping::Effect::Write)
}

/// Consumer role: a legacy information system's request, routed between the stacks.
async fn consumer(
    shared: &Arc<Shared>,
    active: &Arc<Active>,
    conn: &ConnIdentity,
    body: &Bytes,
    input: Input<'_>,
    served: &mut Served,
) -> Result<Response<Body>, GatewayError> {
    // Phase `decode`: once, for routing and (when UXP serves) translation.
    let tr = active.translator();
    let d = active.opts.decode(
        input,
        Family::Legacy,
        Kind::Request,
        crate::error::Side::Client,
    )?;
    // Phase `route`.
    let names = tr.route_names(&d.header, Family::Legacy);
    served.agency = names.agency.first().cloned().unwrap_or_default();
    served.service = names.service.first().cloned().unwrap_or_default();
    // May this connection speak for the client the header names?
    identity::enforce(shared, active, conn, &names.agency)?;
    // A name with no counterpart in the other vocabulary is an unmapped identifier:
    // legacy can still serve it, UXP never could.
    if names.agency.len() == 1 {
        served.unmapped.push(format!("member {}", names.agency[0]));
    }
    if names.service.len() == 1 {
        served
            .unmapped
            .push(format!("service {}", names.service[0]));
    }
    served.lossy = d
        .header
        .lossy_fields()
        .iter()
        .map(|f| f.to_string())
        .collect();
    served.message_id = d.header.id.clone();
    let message_id = d.header.id.clone().unwrap_or_default();
    let switch = shared.switch();
    let decision: Decision = decide(
        &active.settings.rollout,
        &switch,
        &RequestKey {
            agency: &names.agency,
            service: &names.service,
            message_id: &message_id,
        },
    );
    served.stage = if decision.switched.is_some() {
        evidence::Stage::Rollback
    } else {
        decision.stage.into()
    };
    served.served_by = decision.served_by.into();
    let policy = active.settings.shadow.policy(decision.rule);
    served.rule = decision.rule;
    served.store_bodies = policy.store_bodies;
    served.capture = policy.capture;
    tracing::debug!(agency = %served.agency, service = %served.service, ?decision, "Routed.");

    if let Some(mirror_to) = decision.mirror_to {
        let effect = effect_of(&active.maps, &names.service);
        plan_mirror(
            shared,
            active,
            body,
            input,
            served,
            mirror_to,
            policy,
            effect,
            &message_id,
        );
    }
    match decision.served_by {
        Stack::Legacy => {
            let client = stack_client(active, Stack::Legacy)?;
            let ct = input.content_type.unwrap_or("text/xml; charset=utf-8");
            let resp = forward(
                shared,
                client,
                Stack::Legacy,
                body.clone(),
                ct,
                input.soap_action,
            )
            .await?;
            served.primary_latency = Some(resp.elapsed);
            served.primary_fault_code =
                check_passthrough(&resp, Stack::Legacy, &active.opts, &d.header)
                    .inspect_err(|e| note_mismatch(shared, e))?;
            let ct = resp
                .content_type
                .clone()
                .unwrap_or_else(|| "text/xml; charset=utf-8".into());
            served.answer = Some(Answer {
                status: resp.status,
                content_type: Some(ct.clone()),
                body: resp.body.clone(),
            });
            Ok(soap_response(resp.status, &ct, resp.body))
        }
        Stack::Uxp => {
            // Phase `translate`.
            let t = tr.request_to_uxp(&d)?;
            LossyFieldsSeen {
                agency: &served.agency,
                fields: &t.lossy,
            }
            .emit(&shared.metrics);
            let client = stack_client(active, Stack::Uxp)?;
            let resp = forward(
                shared,
                client,
                Stack::Uxp,
                Bytes::from(t.bytes),
                &t.content_type,
                t.soap_action.as_deref(),
            )
            .await?;
            served.primary_latency = Some(resp.elapsed);
            // Phase `translate_back`.
            let input = Input::new(&resp.body).with_content_type(resp.content_type.as_deref());
            let back = tr.response_to_legacy(input, &d);
            answer(shared, back, &resp, Stack::Uxp, served)
        }
    }
}

/// Decides whether a shadow-stage request is mirrored and, when it is, starts the
/// copy. Every refusal is kept in `served.not_compared` and ends in the record.
#[allow(clippy::too_many_arguments)]
fn plan_mirror(
    shared: &Arc<Shared>,
    active: &Arc<Active>,
    body: &Bytes,
    input: Input<'_>,
    served: &mut Served,
    mirror_to: Stack,
    policy: &crate::config::settings::MirrorPolicy,
    effect: crate::mapping::Effect,
    message_id: &str,
) {
    let target = match mirror::admit(policy, effect, message_id, mirror_to) {
        Ok(t) => t,
        Err(reason) => {
            Mirrored {
                stack: mirror_to.name(),
                outcome: reason.as_str(),
            }
            .emit(&shared.metrics);
            served.not_compared = Some((reason, None));
            return;
        }
    };
    let budget = active.settings.shadow.service_budget_bytes;
    let reservation = match shared
        .shadow
        .reserve(&served.service, body.len() as u64, budget)
    {
        Ok(r) => r,
        Err((reason, detail)) => {
            Mirrored {
                stack: mirror_to.name(),
                outcome: reason.as_str(),
            }
            .emit(&shared.metrics);
            served.not_compared = Some((reason, Some(detail)));
            return;
        }
    };
    let calibrate = effect == crate::mapping::Effect::Read
        && exchange::selected(message_id, "calibrate", policy.calibrate);
    let (tx, rx) = oneshot::channel();
    served.mirror = Some(tx);
    let job = mirror::Job {
        target,
        calibrate,
        request: Answer {
            status: 0,
            content_type: input.content_type.map(str::to_string),
            body: body.clone(),
        },
        soap_action: input.soap_action.map(str::to_string),
        reservation,
    };
    mirror::spawn(shared.clone(), active.clone(), job, rx);
}

/// Provider role: the UXP security server calls a service whose adapter still speaks a
/// legacy dialect.
async fn provider(
    shared: &Arc<Shared>,
    active: &Arc<Active>,
    upstream: &str,
    input: Input<'_>,
    served: &mut Served,
) -> Result<Response<Body>, GatewayError> {
    let client = active.upstreams.get(upstream).ok_or_else(|| {
        GatewayError::Config(format!("provider upstream `{upstream}` has no client"))
    })?;
    let opts = Options {
        legacy_dialect: Some(client.upstream.dialect),
        ..active.opts
    };
    let tr = Translator::new(&active.maps, opts);
    let d = opts.decode(
        input,
        Family::Uxp,
        Kind::Request,
        crate::error::Side::Client,
    )?;
    let names = tr.route_names(&d.header, Family::Uxp);
    served.agency = names.agency.first().cloned().unwrap_or_default();
    served.service = names.service.first().cloned().unwrap_or_default();
    served.message_id = d.header.id.clone();
    served.served_by = evidence::ServedBy::Legacy;
    let t = tr.request_to_legacy(&d)?;
    let resp = forward(
        shared,
        client,
        Stack::Legacy,
        Bytes::from(t.bytes),
        &t.content_type,
        t.soap_action.as_deref(),
    )
    .await?;
    served.primary_latency = Some(resp.elapsed);
    let input = Input::new(&resp.body).with_content_type(resp.content_type.as_deref());
    let back = tr.response_to_uxp(input, &d);
    answer(shared, back, &resp, Stack::Legacy, served)
}

/// Phase `respond` for a translated answer: an upstream answer that cannot be read as
/// SOAP is that stack's failure; a fault travels with HTTP 500, as SOAP 1.1 wants.
fn answer(
    shared: &Shared,
    back: Result<translate::Translation, translate::TranslateError>,
    resp: &UpstreamResponse,
    stack: Stack,
    served: &mut Served,
) -> Result<Response<Body>, GatewayError> {
    let back = back
        .map_err(|e| match e {
            translate::TranslateError::Wire { error, .. } => GatewayError::BadUpstreamAnswer {
                stack,
                status: resp.status,
                what: format!("something that is not a usable SOAP answer ({error})"),
            },
            other => GatewayError::Translate(other),
        })
        .inspect_err(|e| note_mismatch(shared, e))?;
    let status = if back.kind == translate::MessageKind::Fault {
        500
    } else {
        200
    };
    let body = Bytes::from(back.bytes);
    served.primary_fault_code = back.fault_code;
    served.answer = Some(Answer {
        status,
        content_type: Some(back.content_type.clone()),
        body: body.clone(),
    });
    Ok(soap_response(status, &back.content_type, body))
}
