//! The request pipeline, in named phases:
//! `read_body` → `consumer` (`decode` → client identity → `route`, whose result is the
//! core's `plan::Plan` → `start_mirror` for the copy the plan admits →
//! `serve_legacy` | `serve_uxp`: `translate` → `forward` → `translate_back`) →
//! `finish` (`respond`, the closing telemetry event) → `record`. What each step
//! learns is a value handed to the next: `evidence::Asked`, the `Plan`, the serving
//! step's latency and `evidence::Answered` (or the error), then `evidence::Served`,
//! from which `record` builds `evidence::Facts` once (`Facts::of`). Every failure
//! leaves through `respond::fault_response`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::evidence::{
    self, Answered, Asked, CaptureRecord, Facts, RawBodies, Rejected, Seen, Served,
};
use crate::plan::{self, Mirror, Plan, RulePolicy};
use crate::proxy::error::{GatewayError, Role};
use crate::proxy::identity::{self, ConnIdentity};
use crate::proxy::mirror;
use crate::proxy::respond::{fault_response, soap_response, Body};
use crate::proxy::upstream::{UpstreamClient, UpstreamResponse};
use crate::proxy::{Active, Shared};
use crate::routing::{decide, Decision, RequestKey, Stack};
use crate::shadow::copy::{self, MirrorRule};
use crate::shadow::exchange::Answer;
use crate::shadow::NotComparedReason;
use crate::telemetry::events::{
    AnswerMismatched, LossyFieldsSeen, Mirrored, RequestServed, UpstreamCalled,
};
use crate::translate::{self, Options, RouteNames, Translator};
use crate::wire::codec::{Family, Kind};
use crate::wire::message::{Input, Message};

/// What handling one request gave, before it is answered and recorded: the plan it
/// was served by, what it asked, and what the serving step gave.
struct Handled {
    /// `None`: refused before it was routed.
    plan: Option<Plan>,
    asked: Asked,
    primary_latency_ms: Option<f64>,
    result: Result<Answered, GatewayError>,
    mirror: Mirroring,
}

impl Handled {
    /// Refused before a stack was asked, knowing what the request asked so far.
    fn refused(plan: Option<Plan>, asked: Asked, e: GatewayError) -> Handled {
        Handled {
            plan,
            asked,
            primary_latency_ms: None,
            result: Err(e),
            mirror: Mirroring::None,
        }
    }
}

/// The serving step's result: the primary stack's latency (when it answered at all),
/// and its answer or why there is none.
type Attempt = (Option<f64>, Result<Answered, GatewayError>);

/// What became of the plan's copy.
enum Mirroring {
    /// Not a shadow stage.
    None,
    /// A shadow-stage request that is not mirrored, and why; it ends in the record.
    Refused(NotComparedReason, Option<String>),
    /// The mirror task waiting for the client's answer.
    Started(oneshot::Sender<mirror::Primary>),
}

/// How a request that failed is answered: the fault's dialect (read from the body only
/// when a fault is due), the listener's role.
type Rescue = (crate::wire::fault::Rescue, Role);

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
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
    let (r, family, unplanned) = match role.clone() {
        ListenerKind::Consumer => (Role::Consumer, Family::Legacy, evidence::Stage::Unrouted),
        ListenerKind::Provider { .. } => (Role::Provider, Family::Uxp, evidence::Stage::Provider),
    };
    let at = Where {
        listener: &listener,
        unplanned,
        started,
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
    let rescue = || (active.opts.rescue_for(input, family), r);
    if let Some(e) = refused {
        let handled = Handled::refused(None, Asked::default(), e);
        return finish(&shared, &active, at, handled, rescue, None);
    }
    let handled = match role {
        ListenerKind::Consumer => consumer(&shared, &active, &conn, &body, input).await,
        ListenerKind::Provider { upstream } => provider(&shared, &active, &upstream, input).await,
    };
    let request = Answer {
        status: 0,
        content_type: content_type.clone(),
        body: body.clone(),
    };
    finish(
        &shared,
        &active,
        at,
        handled,
        rescue,
        Some((request, soap_action.clone())),
    )
}

/// Where a request arrived and when: the listener, the stage it has before it is
/// routed, the time it started.
#[derive(Clone, Copy)]
struct Where<'a> {
    listener: &'a str,
    unplanned: evidence::Stage,
    started: Instant,
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

/// Phase `respond`: the answer (or dualroad's own fault) goes to the client, the
/// closing telemetry event is emitted, the exchange is recorded.
fn finish(
    shared: &Arc<Shared>,
    active: &Active,
    at: Where<'_>,
    handled: Handled,
    rescue: impl FnOnce() -> Rescue,
    request: Option<(Answer, Option<String>)>,
) -> Response<Body> {
    let Handled {
        plan,
        mut asked,
        primary_latency_ms,
        result,
        mirror,
    } = handled;
    let (resp, outcome, served) = respond(shared, result, &mut asked, rescue);
    let served = Served {
        asked,
        primary_latency_ms,
        outcome: served,
    };
    let elapsed = at.started.elapsed();
    RequestServed {
        listener: at.listener,
        agency: or_unknown(&served.asked.agency),
        service: or_unknown(&served.asked.service),
        stage: plan.as_ref().map_or(at.unplanned, |p| p.stage).as_str(),
        served_by: plan
            .as_ref()
            .map_or(evidence::ServedBy::Dualroad, |p| p.serve.into())
            .as_str(),
        outcome,
        elapsed,
    }
    .emit(&shared.metrics);
    if let Some(request) = request {
        record(
            shared,
            active,
            at,
            plan,
            served,
            mirror,
            ms(elapsed),
            request,
        );
    }
    // Otherwise the body never arrived (wrong method, too large, too slow): nothing to
    // link a record to but the connection; the fault metric counts it.
    resp
}

/// The client's response from the serving step's result, its outcome label, and the
/// answer or dualroad's own fault as the record keeps it. An unmapped identifier the
/// translation refused joins the request's `unmapped`.
fn respond(
    shared: &Shared,
    result: Result<Answered, GatewayError>,
    asked: &mut Asked,
    rescue: impl FnOnce() -> Rescue,
) -> (Response<Body>, &'static str, Result<Answered, Rejected>) {
    match result {
        Ok(a) => {
            let ct = a
                .answer
                .content_type
                .as_deref()
                .unwrap_or("text/xml; charset=utf-8");
            let resp = soap_response(a.answer.status, ct, a.answer.body.clone());
            let outcome = if resp.status().is_success() {
                "ok"
            } else {
                "fault"
            };
            (resp, outcome, Ok(a))
        }
        Err(e) => {
            if let GatewayError::Translate(
                translate::TranslateError::UnmappedMember(n)
                | translate::TranslateError::UnmappedService(n),
            ) = &e
            {
                if !asked.unmapped.contains(n) {
                    asked.unmapped.push(n.clone());
                }
            }
            let (rescue, role) = rescue();
            let rejected = Rejected {
                code: e.fault_code(role).as_str().to_string(),
                uxp_failed: e.side() == crate::error::Side::Uxp,
            };
            let resp = fault_response(&e, &rescue, role, &shared.metrics);
            (resp, "rejected", Err(rejected))
        }
    }
}

fn or_unknown(name: &str) -> &str {
    if name.is_empty() {
        "unknown"
    } else {
        name
    }
}

/// Phase `record`: the exchange goes to the store (through the mirror task when a
/// copy is in flight, so the record carries both sides). Never blocks.
#[allow(clippy::too_many_arguments)]
fn record(
    shared: &Arc<Shared>,
    active: &Active,
    at: Where<'_>,
    plan: Option<Plan>,
    served: Served,
    mirror: Mirroring,
    elapsed_ms: f64,
    (request, soap_action): (Answer, Option<String>),
) {
    let at_unix_ms = shared.now_ms();
    let (rule, store_bodies, capture) = plan.as_ref().map_or((None, false, false), |p| {
        (p.rule, p.store_bodies, p.capture)
    });
    if capture && served.outcome.is_ok() {
        let capture = CaptureRecord {
            at_unix_ms,
            agency: served.asked.agency.clone(),
            service: served.asked.service.clone(),
            listener: at.listener.to_string(),
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
    let seen = Seen {
        listener: at.listener,
        at_unix_ms,
        elapsed_ms,
        unplanned: at.unplanned,
    };
    let facts = Facts::of(plan.as_ref(), &served, seen);
    let comparison = match (mirror, plan) {
        (Mirroring::Started(tx), Some(plan)) => {
            let primary = mirror::Primary {
                facts,
                served,
                plan,
            };
            // A closed channel means the copy task is gone (runtime shutting down).
            let _ = tx.send(primary);
            return;
        }
        (Mirroring::Refused(reason, detail), _) => {
            Some(crate::shadow::Comparison::not_compared(reason, detail))
        }
        _ => None,
    };
    let uxp_failed = served.uxp_failed();
    let bodies = RawBodies {
        request: Some(request),
        primary: served.outcome.ok().map(|a| a.answer),
        shadow: None,
    };
    let event = evidence::build(
        facts,
        comparison.as_ref(),
        None,
        &active.compare,
        bodies,
        store_bodies,
    );
    shared.shadow.conclude(shared, event, rule, uxp_failed);
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

/// Consumer role: a legacy information system's request, routed between the stacks.
/// Decode → who may ask → route (a [`Plan`]) → start the plan's copy → serve.
async fn consumer(
    shared: &Arc<Shared>,
    active: &Arc<Active>,
    conn: &ConnIdentity,
    body: &Bytes,
    input: Input<'_>,
) -> Handled {
    // Phase `decode`: once, for routing and (when UXP serves) translation.
    let tr = active.translator();
    let d = match active.opts.decode(
        input,
        Family::Legacy,
        Kind::Request,
        crate::error::Side::Client,
    ) {
        Ok(d) => d,
        Err(e) => return Handled::refused(None, Asked::default(), e.into()),
    };
    let names = tr.route_names(&d.header, Family::Legacy);
    // May this connection speak for the client the header names?
    if let Err(e) = identity::enforce(shared, active, conn, &names.agency) {
        return Handled::refused(None, Asked::named(&names), e);
    }
    let asked = Asked::of(&names, &d.header);
    let plan = route(shared, active, &names, &asked);
    let mirror = start_mirror(shared, active, &plan, &asked.service, body, input);
    let (primary_latency_ms, result) = match plan.serve {
        Stack::Legacy => serve_legacy(shared, active, body, input, &d).await,
        Stack::Uxp => serve_uxp(shared, active, &d, &asked.agency).await,
    };
    Handled {
        plan: Some(plan),
        asked,
        primary_latency_ms,
        result,
        mirror,
    }
}

/// Phase `route`: the routing decision and the rule's shadow keys, made a [`Plan`] by
/// the core.
fn route(shared: &Shared, active: &Active, names: &RouteNames, asked: &Asked) -> Plan {
    let message_id = asked.message_id.as_deref().unwrap_or_default();
    let switch = shared.switch();
    let decision: Decision = decide(
        &active.settings.rollout,
        &switch,
        &RequestKey {
            agency: &names.agency,
            service: &names.service,
            message_id,
        },
    );
    let policy = active.settings.shadow.policy(decision.rule);
    let effect = copy::effect_of(&active.maps, &names.service);
    tracing::debug!(agency = %asked.agency, service = %asked.service, ?decision, "Routed.");
    plan::plan(&decision, &rule_policy(policy), effect, message_id)
}

/// The shadow keys of a rule, as the core's plan reads them.
pub(crate) fn rule_policy(p: &crate::config::settings::MirrorPolicy) -> RulePolicy<'_> {
    RulePolicy {
        mirror: MirrorRule {
            sample: p.sample,
            calibrate: p.calibrate,
            sandbox: p.sandbox.as_deref(),
        },
        store_bodies: p.store_bodies,
        capture: p.capture,
    }
}

/// Starts the copy the plan admits, when the mirror has room for it (a slot and a
/// share of the service's byte budget). Every refusal ends in the record.
fn start_mirror(
    shared: &Arc<Shared>,
    active: &Arc<Active>,
    plan: &Plan,
    service: &str,
    body: &Bytes,
    input: Input<'_>,
) -> Mirroring {
    let refused = |to: Stack, reason: NotComparedReason, detail| {
        Mirrored {
            stack: to.name(),
            outcome: reason.as_str(),
        }
        .emit(&shared.metrics);
        Mirroring::Refused(reason, detail)
    };
    let (target, calibrate) = match &plan.mirror {
        Mirror::None => return Mirroring::None,
        Mirror::Refused { to, reason } => return refused(*to, *reason, None),
        Mirror::Copy { target, calibrate } => (target.clone(), *calibrate),
    };
    let budget = active.settings.shadow.service_budget_bytes;
    let reservation = match shared.shadow.reserve(service, body.len() as u64, budget) {
        Ok(r) => r,
        Err((reason, detail)) => return refused(target.stack(), reason, Some(detail)),
    };
    let (tx, rx) = oneshot::channel();
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
    Mirroring::Started(tx)
}

/// Serving from the legacy stack: the request passes through as is.
async fn serve_legacy(
    shared: &Shared,
    active: &Active,
    body: &Bytes,
    input: Input<'_>,
    d: &translate::Decoded<'_>,
) -> Attempt {
    let ct = input.content_type.unwrap_or("text/xml; charset=utf-8");
    let called = call(
        shared,
        active,
        Stack::Legacy,
        body.clone(),
        ct,
        input.soap_action,
    );
    let resp = match called.await {
        Ok(r) => r,
        Err(e) => return (None, Err(e)),
    };
    let latency = Some(ms(resp.elapsed));
    let fault_code = match check_passthrough(&resp, Stack::Legacy, &active.opts, &d.header)
        .inspect_err(|e| note_mismatch(shared, e))
    {
        Ok(c) => c,
        Err(e) => return (latency, Err(e)),
    };
    let ct = resp
        .content_type
        .unwrap_or_else(|| "text/xml; charset=utf-8".into());
    let answer = Answer {
        status: resp.status,
        content_type: Some(ct),
        body: resp.body,
    };
    (latency, Ok(Answered { answer, fault_code }))
}

/// Serving from the UXP stack: phases `translate`, `forward`, `translate_back`.
async fn serve_uxp(
    shared: &Shared,
    active: &Active,
    d: &translate::Decoded<'_>,
    agency: &str,
) -> Attempt {
    let tr = active.translator();
    let t = match tr.request_to_uxp(d) {
        Ok(t) => t,
        Err(e) => return (None, Err(e.into())),
    };
    LossyFieldsSeen {
        agency,
        fields: &t.lossy,
    }
    .emit(&shared.metrics);
    let body = Bytes::from(t.bytes);
    let called = call(
        shared,
        active,
        Stack::Uxp,
        body,
        &t.content_type,
        t.soap_action.as_deref(),
    );
    let resp = match called.await {
        Ok(r) => r,
        Err(e) => return (None, Err(e)),
    };
    let input = Input::new(&resp.body).with_content_type(resp.content_type.as_deref());
    let back = tr.response_to_legacy(input, d);
    (
        Some(ms(resp.elapsed)),
        answer(shared, back, &resp, Stack::Uxp),
    )
}

/// Phase `forward` to one of the consumer's stacks.
async fn call(
    shared: &Shared,
    active: &Active,
    stack: Stack,
    body: Bytes,
    ct: &str,
    action: Option<&str>,
) -> Result<UpstreamResponse, GatewayError> {
    let client = stack_client(active, stack)?;
    forward(shared, client, stack, body, ct, action).await
}

/// Provider role: the UXP security server calls a service whose adapter still speaks a
/// legacy dialect.
async fn provider(
    shared: &Arc<Shared>,
    active: &Arc<Active>,
    upstream: &str,
    input: Input<'_>,
) -> Handled {
    let refused = |e| Handled::refused(None, Asked::default(), e);
    let Some(client) = active.upstreams.get(upstream) else {
        let e = GatewayError::Config(format!("provider upstream `{upstream}` has no client"));
        return refused(e);
    };
    let opts = Options {
        legacy_dialect: Some(client.upstream.dialect),
        ..active.opts
    };
    let tr = Translator::new(&active.maps, opts);
    let d = match opts.decode(
        input,
        Family::Uxp,
        Kind::Request,
        crate::error::Side::Client,
    ) {
        Ok(d) => d,
        Err(e) => return refused(e.into()),
    };
    let names = tr.route_names(&d.header, Family::Uxp);
    let asked = Asked {
        message_id: d.header.id.clone(),
        ..Asked::named(&names)
    };
    let (primary_latency_ms, result) = serve_provider(shared, client, tr, &d).await;
    Handled {
        plan: Some(Plan::provider()),
        asked,
        primary_latency_ms,
        result,
        mirror: Mirroring::None,
    }
}

/// Serving a provider request: translated to the adapter's dialect and back.
async fn serve_provider(
    shared: &Shared,
    client: &UpstreamClient,
    tr: Translator<'_>,
    d: &translate::Decoded<'_>,
) -> Attempt {
    let t = match tr.request_to_legacy(d) {
        Ok(t) => t,
        Err(e) => return (None, Err(e.into())),
    };
    let body = Bytes::from(t.bytes);
    let called = forward(
        shared,
        client,
        Stack::Legacy,
        body,
        &t.content_type,
        t.soap_action.as_deref(),
    );
    let resp = match called.await {
        Ok(r) => r,
        Err(e) => return (None, Err(e)),
    };
    let input = Input::new(&resp.body).with_content_type(resp.content_type.as_deref());
    let back = tr.response_to_uxp(input, d);
    (
        Some(ms(resp.elapsed)),
        answer(shared, back, &resp, Stack::Legacy),
    )
}

/// A translated answer: an upstream answer that cannot be read as SOAP is that
/// stack's failure; a fault travels with HTTP 500, as SOAP 1.1 wants.
fn answer(
    shared: &Shared,
    back: Result<translate::Translation, translate::TranslateError>,
    resp: &UpstreamResponse,
    stack: Stack,
) -> Result<Answered, GatewayError> {
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
    let answer = Answer {
        status,
        content_type: Some(back.content_type),
        body: Bytes::from(back.bytes),
    };
    Ok(Answered {
        answer,
        fault_code: back.fault_code,
    })
}
