//! The request pipeline, in named phases:
//! `read_body` → `decode` → `route` → (`translate` → `forward` → `translate_back`) →
//! `respond`, plus a detached `mirror` for the shadow stages. Every failure leaves
//! through `respond::fault_response`.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::proxy::error::{GatewayError, Role};
use crate::proxy::identity::{self, ConnIdentity};
use crate::proxy::respond::{fault_response, soap_response, Body};
use crate::proxy::upstream::{UpstreamClient, UpstreamResponse};
use crate::proxy::{Active, Shared};
use crate::routing::{decide, Decision, RequestKey, Stack, Stage};
use crate::telemetry::events::{LossyFieldsSeen, Mirrored, RequestServed, UpstreamCalled};
use crate::translate::{self, Options};
use crate::wire::codec::{Family, Kind};
use crate::wire::message::{Input, Message};

/// What the pipeline learned about a request, for the closing telemetry event.
#[derive(Default)]
struct Served {
    agency: String,
    service: String,
    stage: &'static str,
    served_by: &'static str,
}

pub fn stage_name(s: &Stage) -> &'static str {
    match s {
        Stage::Legacy => "legacy",
        Stage::Shadow => "shadow",
        Stage::Canary { .. } => "canary",
        Stage::Uxp => "uxp",
        Stage::UxpShadow => "uxp-shadow",
    }
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
            "provider"
        } else {
            "unrouted"
        },
        served_by: "dualroad",
        ..Served::default()
    };
    let body = match read_body(&active, req).await {
        Ok(b) => b,
        Err(e) => {
            let rescue = translate::rescue_for(
                Input::new(&[]).with_content_type(content_type.as_deref()),
                family,
                &active.opts,
            );
            return finish(&shared, &listener, &served, started, Err((e, rescue, r)));
        }
    };
    let input = Input {
        bytes: &body,
        content_type: content_type.as_deref(),
        soap_action: soap_action.as_deref(),
    };
    let result = match role {
        ListenerKind::Consumer => {
            consumer(&shared, &active, &conn, &body, input, &mut served).await
        }
        ListenerKind::Provider { upstream } => {
            provider(&shared, &active, &upstream, input, &mut served).await
        }
    };
    let result = result.map_err(|e| (e, translate::rescue_for(input, family, &active.opts), r));
    finish(&shared, &listener, &served, started, result)
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

fn finish(
    shared: &Shared,
    listener: &str,
    served: &Served,
    started: Instant,
    result: Result<Response<Body>, (GatewayError, crate::wire::fault::Rescue, Role)>,
) -> Response<Body> {
    let (resp, outcome) = match result {
        Ok(r) => {
            let outcome = if r.status().is_success() {
                "ok"
            } else {
                "fault"
            };
            (r, outcome)
        }
        Err((e, rescue, role)) => (
            fault_response(&e, &rescue, role, &shared.metrics),
            "rejected",
        ),
    };
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
        stage: served.stage,
        served_by: served.served_by,
        outcome,
        elapsed: started.elapsed(),
    }
    .emit(&shared.metrics);
    resp
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
fn check_passthrough(
    resp: &UpstreamResponse,
    stack: Stack,
    opts: &Options,
) -> Result<(), GatewayError> {
    let input = Input::new(&resp.body).with_content_type(resp.content_type.as_deref());
    match Message::parse(input, opts.max_message_bytes) {
        Ok(m) if resp.status == 200 || m.env.is_fault() => Ok(()),
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
    let d = translate::decode(
        input,
        Family::Legacy,
        Kind::Request,
        crate::error::Side::Client,
        &active.opts,
    )?;
    // Phase `route`.
    let names = translate::route_names_legacy(&active.maps, &d.header);
    served.agency = names.agency.first().cloned().unwrap_or_default();
    served.service = names.service.first().cloned().unwrap_or_default();
    // May this connection speak for the client the header names?
    identity::enforce(shared, active, conn, &names.agency)?;
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
        "rollback"
    } else {
        stage_name(&decision.stage)
    };
    served.served_by = decision.served_by.name();
    tracing::debug!(agency = %served.agency, service = %served.service, ?decision, "Routed.");

    if let Some(mirror) = decision.mirror_to {
        spawn_mirror(
            shared.clone(),
            active.clone(),
            mirror,
            body.clone(),
            input.content_type.map(str::to_string),
            input.soap_action.map(str::to_string),
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
            check_passthrough(&resp, Stack::Legacy, &active.opts)?;
            let ct = resp
                .content_type
                .clone()
                .unwrap_or_else(|| "text/xml; charset=utf-8".into());
            Ok(soap_response(resp.status, &ct, resp.body))
        }
        Stack::Uxp => {
            // Phase `translate`.
            let t = translate::request_to_uxp_decoded(&active.maps, &active.opts, &d)?;
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
            // Phase `translate_back`.
            let input = Input::new(&resp.body).with_content_type(resp.content_type.as_deref());
            let back = translate::response_to_legacy_decoded(&active.maps, &active.opts, input, &d);
            answer(back, &resp, Stack::Uxp)
        }
    }
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
    let d = translate::decode(
        input,
        Family::Uxp,
        Kind::Request,
        crate::error::Side::Client,
        &opts,
    )?;
    let names = translate::route_names_uxp(&active.maps, &d.header);
    served.agency = names.agency.first().cloned().unwrap_or_default();
    served.service = names.service.first().cloned().unwrap_or_default();
    served.served_by = "legacy";
    let t = translate::request_to_legacy_decoded(&active.maps, &opts, &d)?;
    let resp = forward(
        shared,
        client,
        Stack::Legacy,
        Bytes::from(t.bytes),
        &t.content_type,
        t.soap_action.as_deref(),
    )
    .await?;
    let input = Input::new(&resp.body).with_content_type(resp.content_type.as_deref());
    let back = translate::response_to_uxp_decoded(&active.maps, &opts, input, &d);
    answer(back, &resp, Stack::Legacy)
}

/// Phase `respond` for a translated answer: an upstream answer that cannot be read as
/// SOAP is that stack's failure; a fault travels with HTTP 500, as SOAP 1.1 wants.
fn answer(
    back: Result<translate::Translation, translate::TranslateError>,
    resp: &UpstreamResponse,
    stack: Stack,
) -> Result<Response<Body>, GatewayError> {
    let back = back.map_err(|e| match e {
        translate::TranslateError::Wire { error, .. } => GatewayError::BadUpstreamAnswer {
            stack,
            status: resp.status,
            what: format!("something that is not a usable SOAP answer ({error})"),
        },
        other => GatewayError::Translate(other),
    })?;
    let status = if back.kind == translate::MessageKind::Fault {
        500
    } else {
        200
    };
    Ok(soap_response(
        status,
        &back.content_type,
        Bytes::from(back.bytes),
    ))
}

/// Phase `mirror`: a copy for the other stack, in its own task, never awaited by the
/// client's request. Concurrency is bounded; a copy that finds no slot is dropped and
/// counted, never queued behind the client. (Comparison of the two answers is built on
/// this in the shadow-mode work.)
fn spawn_mirror(
    shared: Arc<Shared>,
    active: Arc<Active>,
    stack: Stack,
    body: Bytes,
    ct: Option<String>,
    action: Option<String>,
) {
    let Ok(permit) = shared.mirror_slots.clone().try_acquire_owned() else {
        Mirrored {
            stack: stack.name(),
            outcome: "dropped_overload",
        }
        .emit(&shared.metrics);
        return;
    };
    tokio::spawn(async move {
        let _permit = permit;
        let input = Input {
            bytes: &body,
            content_type: ct.as_deref(),
            soap_action: action.as_deref(),
        };
        let outcome = match stack {
            Stack::Uxp => match translate::request_to_uxp(&active.maps, &active.opts, input) {
                Ok(t) => match stack_client(&active, Stack::Uxp) {
                    Ok(c) => match c
                        .call(
                            Bytes::from(t.bytes),
                            &t.content_type,
                            t.soap_action.as_deref(),
                        )
                        .await
                    {
                        Ok(r) if r.status == 200 => "answered",
                        Ok(_) => "fault",
                        Err(e) => e.outcome(),
                    },
                    Err(_) => "no_upstream",
                },
                Err(_) => "untranslatable",
            },
            Stack::Legacy => match stack_client(&active, Stack::Legacy) {
                Ok(c) => match c
                    .call(
                        body.clone(),
                        ct.as_deref().unwrap_or("text/xml; charset=utf-8"),
                        action.as_deref(),
                    )
                    .await
                {
                    Ok(r) if r.status == 200 => "answered",
                    Ok(_) => "fault",
                    Err(e) => e.outcome(),
                },
                Err(_) => "no_upstream",
            },
        };
        Mirrored {
            stack: stack.name(),
            outcome,
        }
        .emit(&shared.metrics);
    });
}
