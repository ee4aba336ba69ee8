//! Phase `mirror`: the shadow copy of a request, sent to the other stack, compared with
//! the client's answer, and kept as evidence.
//!
//! Where it sits: the core's routing plan (`routing::plan`, admission by
//! `shadow::copy::admit`) says whether a request of a shadow stage is mirrored at all
//! (write services, sampling); `pipeline::start_mirror` then takes a concurrency slot
//! and a share of the service's byte budget ([`ShadowRuntime::reserve`], whose
//! decisions are `shadow::copy`'s). The copy
//! runs in its own task with its own connection pool and timeout ([`spawn`]); the
//! client's answer never waits for it and is never changed by it. When the client's
//! answer is ready, `pipeline::record` hands it over through a oneshot channel
//! ([`Primary`]: the plan, what serving gave, the record's facts); the task then
//! judges the pair (`shadow::copy::judge_pair`) and submits the record to the store's
//! writer, which never blocks.
//!
//! Nothing is dropped silently: every request of a shadow stage ends as one exchange
//! record whose outcome is either a comparison class or `not-compared` with its reason
//! (sampled-out, write-service, overload, too-large, timeout, upstream-error), and a
//! record the writer's queue cannot take is counted there.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use crate::evidence::{Facts, RawBodies, Served};
use crate::plan::Plan;
use crate::proxy::upstream::UpstreamClient;
use crate::proxy::{copy, Active, Shared};
use crate::routing::Stack;
use crate::shadow::copy::{self as shadow_copy, PrimarySide};
use crate::shadow::exchange::{Answer, ShadowResult};
use crate::shadow::noise::CalibrationAnswer;
use crate::shadow::{Date, NoiseModel, NotComparedReason, Options};
use crate::store::{ExchangeStore, ExchangeWriter, Submitted};
use crate::telemetry::events::{AnswerMismatched, EvidenceQueued, Mirrored, ShadowRequestMismatch};
use crate::translate;
use crate::wire::codec::{Family, Kind};
use crate::wire::message::Input;

/// Calibration pairs learned between two saves of a service's noise model.
pub const DEFAULT_NOISE_SAVE_EVERY: u64 = 32;

pub use crate::shadow::copy::Target;

/// Shadow state that outlives reloads: the store writer, the concurrency slots, the
/// per-service byte budgets and the learned noise.
pub struct ShadowRuntime {
    pub writer: ExchangeWriter,
    store: ExchangeStore,
    slots: Arc<Semaphore>,
    concurrency: usize,
    budgets: Mutex<HashMap<String, Arc<AtomicU64>>>,
    noise: Mutex<HashMap<String, NoiseModel>>,
}

/// A copy's claim on the mirror's capacity, released when the copy ends.
pub struct Reservation {
    _slot: OwnedSemaphorePermit,
    budget: Arc<AtomicU64>,
    bytes: u64,
    limit: u64,
}

impl Reservation {
    /// Counts the shadow's answer against the budget too; false when that goes over
    /// it (the answer is then not compared, as too large for the budget).
    fn add(&mut self, n: u64) -> bool {
        let before = self.budget.fetch_add(n, Ordering::AcqRel);
        self.bytes += n;
        shadow_copy::answer_fits(before, n, self.limit)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ShadowRuntime {
    pub fn new(writer: ExchangeWriter, store: ExchangeStore, concurrency: usize) -> ShadowRuntime {
        let noise = match store.noise_models() {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "Stored noise models unreadable; learning anew.");
                HashMap::new()
            }
        };
        ShadowRuntime {
            writer,
            store,
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            concurrency: concurrency.max(1),
            budgets: Mutex::new(HashMap::new()),
            noise: Mutex::new(noise),
        }
    }

    /// Resolves when no copy is in flight.
    pub async fn idle(&self) {
        let all = u32::try_from(self.concurrency).unwrap_or(u32::MAX);
        let _ = self.slots.acquire_many(all).await;
    }

    /// A slot and `bytes` of the service's budget, or why not.
    pub fn reserve(
        &self,
        service: &str,
        bytes: u64,
        limit: u64,
    ) -> Result<Reservation, (NotComparedReason, String)> {
        shadow_copy::request_fits(bytes, limit)?;
        let slot = self.slots.clone().try_acquire_owned().map_err(|_| {
            (
                NotComparedReason::Overload,
                "every shadow slot is busy (shadow.concurrency)".to_string(),
            )
        })?;
        let budget = lock(&self.budgets)
            .entry(service.to_string())
            .or_default()
            .clone();
        let before = budget.fetch_add(bytes, Ordering::AcqRel);
        let r = Reservation {
            _slot: slot,
            budget,
            bytes,
            limit,
        };
        shadow_copy::budget_allows(service, before, bytes, limit)?;
        Ok(r)
    }

    /// The one ending of every exchange, mirrored or not: the automatic gate sees its
    /// record (`rule`: the rollout rule that routed it), then the writer gets it.
    pub fn conclude(
        &self,
        shared: &Arc<Shared>,
        event: crate::evidence::ExchangeEvent,
        rule: Option<usize>,
        uxp_failed: bool,
    ) {
        crate::proxy::gate::observe(shared, rule, &event.record, uxp_failed);
        self.submit(shared, event);
    }

    /// Hands an exchange to the writer without waiting; a full queue drops and counts.
    fn submit(&self, shared: &Shared, event: crate::evidence::ExchangeEvent) {
        let outcome = match self.writer.submit(event) {
            Submitted::Queued => "queued",
            Submitted::Dropped => "dropped",
        };
        EvidenceQueued { outcome }.emit(&shared.metrics);
    }

    fn noise_for(&self, service: &str) -> Option<NoiseModel> {
        lock(&self.noise).get(service).cloned()
    }

    /// Learns from a calibration pair, or counts it as a calibration error (a fault,
    /// an unreadable answer, a failed call: see `shadow::noise`).
    fn calibrate(
        &self,
        service: &str,
        served: Result<CalibrationAnswer<'_>, String>,
        again: Result<CalibrationAnswer<'_>, String>,
        opts: &Options<'_>,
    ) {
        let snapshot = {
            let mut all = lock(&self.noise);
            let model = all.entry(service.to_string()).or_default();
            if let Err(e) = model.calibrate(served, again, opts) {
                tracing::debug!(service, error = %e, "Calibration pair not learned from.");
            }
            ((model.pairs() + model.errors()) % DEFAULT_NOISE_SAVE_EVERY == 1)
                .then(|| model.clone())
        };
        if let Some(model) = snapshot {
            if let Err(e) = self.store.save_noise_model(service, &model) {
                tracing::warn!(service, error = %e, "Could not save the noise model.");
            }
        }
    }

    /// Saves every noise model (at shutdown).
    pub fn save_noise(&self) {
        let all = lock(&self.noise).clone();
        for (service, model) in &all {
            if let Err(e) = self.store.save_noise_model(service, model) {
                tracing::warn!(service, error = %e, "Could not save the noise model.");
            }
        }
    }
}

/// What the request path hands the mirror task once the client has its answer: the
/// plan it executed, what serving gave, and the record's facts made from the two.
pub struct Primary {
    pub plan: Plan,
    pub served: Served,
    pub facts: Facts,
}

/// Everything the copy needs, owned.
pub struct Job {
    pub target: Target,
    pub calibrate: bool,
    pub request: Answer,
    pub soap_action: Option<String>,
    pub reservation: Reservation,
}

/// Starts the copy. `primary` delivers the client's answer; if the request is
/// abandoned before (client gone), the copy ends without a record, counted.
pub fn spawn(
    shared: Arc<Shared>,
    active: Arc<Active>,
    job: Job,
    primary: oneshot::Receiver<Primary>,
) {
    tokio::spawn(async move {
        let stack = job.target.stack();
        let span = tracing::debug_span!("mirror", stack = stack.name());
        tracing::Instrument::instrument(run(shared, active, job, primary), span).await;
    });
}

async fn run(
    shared: Arc<Shared>,
    active: Arc<Active>,
    mut job: Job,
    primary: oneshot::Receiver<Primary>,
) {
    let rt = &shared.shadow;
    let stack = job.target.stack();
    let body = job.request.body.clone();
    let input = Input {
        bytes: &body,
        content_type: job.request.content_type.as_deref(),
        soap_action: job.soap_action.as_deref(),
    };
    let tr = active.translator();
    // The request path decoded the same bytes already; this cannot fail, but a
    // failure still ends as a record rather than a panic.
    let d = match active.opts.decode(
        input,
        Family::Legacy,
        Kind::Request,
        crate::error::Side::Client,
    ) {
        Ok(d) => d,
        Err(e) => {
            let r = ShadowResult::NotCompared {
                reason: NotComparedReason::UpstreamError,
                detail: Some(format!("request could not be decoded for the copy: {e}")),
                latency_ms: None,
            };
            let copy = Copy::default();
            return finish(&shared, &active, rt, stack, primary, r, copy, &job).await;
        }
    };
    let shadow_id = uuid::Uuid::new_v4().to_string();
    let client = mirror_client(&active, &job.target);
    let reservation = &mut job.reservation;
    let sent = copy::send(tr, &d, stack, &shadow_id, client, |n| reservation.add(n)).await;
    if sent.same_request == Some(false) {
        ShadowRequestMismatch {
            stack: stack.name(),
        }
        .emit(&shared.metrics);
    }
    // Calibration: the same request once more to the primary, to learn what differs
    // between two answers of one stack.
    let calibration = match (job.calibrate, sent.same_request) {
        (true, Some(_)) => Some(ask_again(&active, &d, other(stack)).await),
        _ => None,
    };
    let copy = Copy {
        shadow_id: Some(shadow_id),
        request_hash: sent.same_request.map(|_| tr.fingerprint(&d)),
        calibration,
    };
    finish(
        &shared,
        &active,
        rt,
        stack,
        primary,
        sent.result,
        copy,
        &job,
    )
    .await
}

/// A fresh copy of the request (own message id) to `stack`, its answer in the
/// client's dialect; on any failure, why (the pair is then a calibration error,
/// counted, never learned from).
async fn ask_again(
    active: &Active,
    d: &translate::Decoded<'_>,
    stack: Stack,
) -> Result<Answer, String> {
    let id = uuid::Uuid::new_v4().to_string();
    let client = mirror_client(active, &Target::Stack(stack));
    let again = copy::send(active.translator(), d, stack, &id, client, |_| true).await;
    match again.result {
        ShadowResult::Answered { answer, .. } => Ok(answer),
        ShadowResult::Foreign { why, .. } => Err(why),
        ShadowResult::NotCompared { reason, detail, .. } => {
            Err(detail.unwrap_or_else(|| reason.as_str().to_string()))
        }
    }
}

/// What the copy learned besides the shadow's answer.
#[derive(Default)]
struct Copy {
    shadow_id: Option<String>,
    request_hash: Option<String>,
    /// The calibration call's answer, or why there is none.
    calibration: Option<Result<Answer, String>>,
}

/// Waits for the client's answer, judges the pair and submits the record.
#[allow(clippy::too_many_arguments)]
async fn finish(
    shared: &Arc<Shared>,
    active: &Active,
    rt: &ShadowRuntime,
    stack: Stack,
    primary: oneshot::Receiver<Primary>,
    shadow: ShadowResult,
    copy: Copy,
    job: &Job,
) {
    let Ok(primary) = primary.await else {
        // The request future was dropped before it answered: the client went away.
        Mirrored {
            stack: stack.name(),
            outcome: "primary-abandoned",
        }
        .emit(&shared.metrics);
        return;
    };
    let Primary {
        plan,
        served,
        facts: mut meta,
    } = primary;
    meta.shadow_message_id = copy.shadow_id;
    meta.request_hash = copy.request_hash;
    let shadow_latency = shadow.latency_ms();
    if let ShadowResult::Foreign { why, .. } = &shadow {
        AnswerMismatched {
            stack: stack.name(),
            role: "shadow",
            why,
        }
        .emit(&shared.metrics);
    }
    let today = Date::from_unix_seconds((shared.now_ms() / 1000) as i64);
    // The noise model's key is the record's service, which the report groups by.
    let service = meta.service.clone();
    if let Some(again) = &copy.calibration {
        // Noise is learned only from two successful primary answers.
        let first = match served.answer() {
            Some(p) => Ok(answer(p)),
            None => Err("dualroad rejected the request".to_string()),
        };
        let again = again.as_ref().map(answer).map_err(Clone::clone);
        let opts = Options::calibration(&active.compare, today);
        rt.calibrate(&service, first, again, &opts);
    }
    // dualroad rejected the request: nothing to compare the shadow with.
    let side = served
        .answer()
        .map_or(PrimarySide::Rejected, PrimarySide::Answered);
    let noise = match side {
        PrimarySide::Answered(_) => rt.noise_for(&service),
        _ => None,
    };
    let opts = Options::new(&active.compare, today).with_noise(noise.as_ref());
    let comparison = shadow_copy::judge_pair(side, &shadow, &opts);
    Mirrored {
        stack: stack.name(),
        outcome: shadow_copy::outcome_label(comparison.as_ref()),
    }
    .emit(&shared.metrics);
    let uxp_failed = served.uxp_failed();
    let bodies = RawBodies {
        request: Some(job.request.clone()),
        primary: served.outcome.ok().map(|a| a.answer),
        shadow: shadow.into_answer(),
    };
    let event = crate::evidence::build(
        meta,
        comparison.as_ref(),
        shadow_latency,
        &active.compare,
        bodies,
        plan.store_bodies,
    );
    rt.conclude(shared, event, plan.rule, uxp_failed);
}

fn answer(a: &Answer) -> CalibrationAnswer<'_> {
    CalibrationAnswer {
        status: a.status,
        input: a.input(),
    }
}

fn other(s: Stack) -> Stack {
    match s {
        Stack::Legacy => Stack::Uxp,
        Stack::Uxp => Stack::Legacy,
    }
}

/// The mirror's own client for a target: a separate pool with the shadow timeout, so
/// a slow shadow never holds the primary's connections.
fn mirror_client<'a>(active: &'a Active, target: &Target) -> Option<&'a UpstreamClient> {
    let name = match target {
        Target::Sandbox { upstream, .. } => upstream.as_str(),
        Target::Stack(s) => {
            let stacks = active.settings.stacks.as_ref()?;
            match s {
                Stack::Legacy => stacks.legacy.as_str(),
                Stack::Uxp => stacks.uxp.as_str(),
            }
        }
    };
    active.mirror_upstreams.get(name)
}
