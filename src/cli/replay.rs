//! `dualroad replay`: recorded requests sent again to both stacks and judged exactly as
//! shadow mode judges live traffic.
//!
//! Where it sits: the offline twin of the gateway's mirror (`proxy::mirror`). Requests
//! come from a data directory's captures (rules with `capture = true`; stored after
//! redaction, so redacted values are keyed-hash tokens) or from a directory of request
//! files (`*.xml`, `*.mime`). Each one goes, under one fresh message id, as is to the
//! legacy URL (`Translator::reissue`) and translated to the UXP URL
//! (`Translator::request_to_uxp`, through `proxy::copy::send`); the UXP answer is brought back to the client's
//! dialect and the pair is judged by the same functions the mirror calls
//! (`shadow::copy`: `writes_allowed`, `judge_pair`; `evidence::Asked::of` for the
//! unmapped rule and the lossy fields) with the config's `[compare]` rules and the noise the gateway learned. Results are stored
//! (stage `replay`, served by `legacy`, listener `replay`) through
//! `ExchangeWriter::send`, which waits for room instead of dropping.
//!
//! Flow: a blocking producer reads the source (a second pass after counting) into a
//! bounded channel → a dispatcher takes a token per request ([`TokenBucket`]) and a
//! concurrency slot → one task per request → a tally that drives the progress line and
//! the closing summary ([`Tally::summary`]).
//!
//! `write` services are not replayed unless `--writes` says both URLs are sandboxes:
//! a replayed write is executed again. They are recorded as `not-compared`
//! (`write-service`), as in shadow mode.
//!
//! Exit codes: 0 every replayed request matched; 1 differences found, or requests that
//! could not be compared; 2 operator error (bad flag, unreadable directory or file, no
//! requests).

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use clap::Args;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

use crate::config::{Settings, Upstream, UpstreamUrl};
use crate::evidence::{Asked, Facts, RawBodies};
use crate::mapping::Mappings;
use crate::proxy::copy;
use crate::proxy::upstream::UpstreamClient;
use crate::routing::Stack;
use crate::shadow::copy::{self as shadow_copy, PrimarySide};
use crate::shadow::exchange::{Answer, ShadowResult};
use crate::shadow::{Comparison, Date, NoiseModel, NotComparedReason, Options, Rules};
use crate::store::{
    CaptureFilter, ExchangeStore, ExchangeWriter, RedactionConfig, RetentionPolicy, SharedStore,
    SledStore, StoreError, WriterConfig,
};
use crate::translate::{Decoded, Options as TranslateOptions, RouteNames, Translation, Translator};
use crate::wire::codec::{Family, Kind};
use crate::wire::message::{Input, Message};
use crate::wire::{Dialect, SoapVersion};

/// Requests per second when `--rate` is not given: gentle enough for a production
/// legacy stack.
pub(super) const DEFAULT_RATE: f64 = 20.0;
/// Requests in flight at once.
pub(super) const DEFAULT_CONCURRENCY: usize = 8;
/// Tokens the bucket holds: a 50 ms burst, at least one request.
const BURST_SECONDS: f64 = 0.05;
/// How often the progress line is redrawn.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);
/// Differing paths listed in the summary.
const TOP_PATHS: usize = 10;
/// Example origins listed per skip reason.
const SKIP_EXAMPLES: usize = 3;
/// Requests read ahead of the dispatcher.
const READ_AHEAD: usize = 64;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Where the requests come from: a data directory (its captures, recorded by rules
    /// with `capture = true` after redaction, so redacted values are replayed as their
    /// tokens), or a directory of request files (`*.xml`, `*.mime`; a `.mime` file's
    /// Content-Type is read from `FILE.content-type` next to it, else derived from its
    /// first boundary line). A data directory held by a running `dualroad serve` cannot
    /// be opened (sled allows one process): stop the gateway or replay from a copy.
    #[arg(long, value_name = "DATA_DIR|FIXTURE_DIR")]
    pub from: PathBuf,
    /// The legacy stack (security server) to send each request to, as is.
    #[arg(long, value_name = "URL")]
    pub legacy: String,
    /// The UXP stack (security server) to send each request to, translated.
    #[arg(long, value_name = "URL")]
    pub uxp: String,
    /// Requests per second, `N` or `N/s`.
    #[arg(long, value_name = "N/s", default_value_t = DEFAULT_RATE, value_parser = parse_rate)]
    pub rate: f64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY, value_parser = parse_concurrency)]
    pub concurrency: usize,
    /// Only requests of this agency (legacy consumer name or UXP client id).
    #[arg(long)]
    pub agency: Option<String>,
    /// Only requests of this service (legacy producer.method[.vN] or UXP service id).
    #[arg(long)]
    pub service: Option<String>,
    /// Gateway configuration: `[compare]` rules, mappings, `[store]` redaction, limits,
    /// the stacks' timeouts, and the data directory results go to by default.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Mappings directory (default: the config's, else `mappings`).
    #[arg(long)]
    pub mappings: Option<PathBuf>,
    /// Data directory the results are stored in (default: the config's `data_dir`,
    /// else the `--from` data directory).
    #[arg(long, value_name = "OUT_DATA_DIR")]
    pub data: Option<PathBuf>,
    /// Also replay `write` services. Only with sandbox URLs: a replayed write is
    /// executed again.
    #[arg(long)]
    pub writes: bool,
}

/// `N` or `N/s`, a positive finite number of requests per second.
pub(super) fn parse_rate(s: &str) -> Result<f64, String> {
    let n = s.trim().strip_suffix("/s").unwrap_or(s.trim());
    match n.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!(
            "`{s}` is not a rate: expected a positive number of requests per second, e.g. 50 or 50/s"
        )),
    }
}

fn parse_concurrency(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=4096).contains(&n) => Ok(n),
        _ => Err(format!("`{s}` is not a concurrency: expected 1 to 4096")),
    }
}

// === rate limiting ===

/// A token bucket: `rate` tokens a second, at most `burst` saved up. Pure: the caller
/// passes the time, so it is tested without sleeping.
#[derive(Debug, Clone)]
pub(super) struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub(super) fn new(rate: f64, now: Instant) -> TokenBucket {
        let burst = (rate * BURST_SECONDS).max(1.0);
        TokenBucket {
            rate,
            burst,
            tokens: 1.0,
            last: now,
        }
    }

    /// Takes a token at `now`, or says how long to wait for one.
    pub(super) fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }

    /// Waits for a token.
    pub(super) async fn take(&mut self) {
        while let Err(wait) = self.try_take(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
    }
}

// === the requests ===

/// One recorded request.
#[derive(Debug, Clone)]
pub(super) struct Recorded {
    /// Where it came from: a file, or `capture MILLIS-SEQ`.
    pub origin: String,
    pub content_type: Option<String>,
    pub soap_action: Option<String>,
    pub body: Bytes,
}

impl Recorded {
    fn input(&self) -> Input<'_> {
        Input {
            bytes: &self.body,
            content_type: self.content_type.as_deref(),
            soap_action: self.soap_action.as_deref(),
        }
    }
}

/// Why a recorded message is not replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Skip {
    /// Not a legacy client's request (a response, a fault, a UXP message, malformed).
    NotALegacyRequest(String),
    /// Left out by `--agency` / `--service`.
    Filtered,
}

/// `--agency` / `--service`: a request is selected when the filter equals any name
/// of it, in either vocabulary.
#[derive(Debug, Clone, Default)]
pub(super) struct Filter {
    pub agency: Option<String>,
    pub service: Option<String>,
}

/// Is this a legacy request the filter selects? Pure.
pub(super) fn select(tr: Translator<'_>, filter: &Filter, r: &Recorded) -> Result<(), Skip> {
    let d = decode(tr.options(), r.input()).map_err(Skip::NotALegacyRequest)?;
    let names = tr.route_names(&d.header, Family::Legacy);
    let wanted = |f: &Option<String>, names: &[String]| {
        f.as_ref().map_or(true, |f| names.iter().any(|n| n == f))
    };
    if wanted(&filter.agency, &names.agency) && wanted(&filter.service, &names.service) {
        Ok(())
    } else {
        Err(Skip::Filtered)
    }
}

/// Decodes a legacy client's request; responses and faults are refused too.
fn decode<'a>(opts: &TranslateOptions, input: Input<'a>) -> Result<Decoded<'a>, String> {
    let d = opts
        .decode(
            input,
            Family::Legacy,
            Kind::Request,
            crate::error::Side::Client,
        )
        .map_err(|e| e.to_string())?;
    if d.msg.env.is_fault() {
        return Err("a SOAP fault, not a request".into());
    }
    if d.msg.env.body.wrapper.local.ends_with("Response") {
        return Err(format!(
            "a response (`{}`), not a request",
            d.msg.env.body.wrapper.local
        ));
    }
    Ok(d)
}

/// The Content-Type of a `.mime` body with none recorded: `multipart/related` with the
/// boundary of its first delimiter line (the root part is then the first part).
pub(super) fn mime_content_type(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    let line = text.lines().find(|l| l.starts_with("--"))?;
    let boundary = line[2..].trim_end();
    if boundary.is_empty() || boundary.contains('"') {
        return None;
    }
    Some(format!(
        "multipart/related; type=\"text/xml\"; boundary=\"{boundary}\""
    ))
}

/// Where requests come from.
enum Source {
    Captures(ExchangeStore),
    /// A fixture directory, read up front (such directories are small).
    Files(Vec<Recorded>),
}

impl Source {
    /// Calls `f` with every recorded message, in order, until it returns false.
    fn visit(&self, mut f: impl FnMut(Recorded) -> bool) -> Result<(), StoreError> {
        match self {
            Source::Files(files) => {
                for r in files {
                    if !f(r.clone()) {
                        break;
                    }
                }
            }
            Source::Captures(store) => {
                for item in store.captures(&CaptureFilter::default()) {
                    let (key, c) = item?;
                    let r = Recorded {
                        origin: format!("capture {key}"),
                        content_type: c.content_type,
                        soap_action: c.soap_action,
                        body: c.body,
                    };
                    if !f(r) {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Reads every `*.xml` / `*.mime` file of `dir` (not its subdirectories), by name.
fn read_files(dir: &Path) -> anyhow::Result<Vec<Recorded>> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("--from {}", dir.display()))?;
    let mut paths = Vec::new();
    for e in entries {
        let path = e
            .with_context(|| format!("--from {}: listing the directory", dir.display()))?
            .path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if path.is_file() && matches!(ext, "xml" | "mime") {
            paths.push(path);
        }
    }
    paths.sort();
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        let body = std::fs::read(&path).with_context(|| format!("{}", path.display()))?;
        let content_type = if path.extension().is_some_and(|e| e == "mime") {
            let side = PathBuf::from(format!("{}.content-type", path.display()));
            match std::fs::read_to_string(&side) {
                Ok(ct) => Some(ct.trim().to_string()),
                Err(_) => mime_content_type(&body),
            }
        } else {
            // The XML declaration (or UTF-8) gives the charset.
            None
        };
        out.push(Recorded {
            origin: path.display().to_string(),
            content_type,
            soap_action: None,
            body: Bytes::from(body),
        });
    }
    Ok(out)
}

/// sled lets one process open a data directory; say what to do about it.
pub(crate) fn open_store(dir: &Path, flag: &str, create: bool) -> anyhow::Result<SharedStore> {
    let r = if create {
        SledStore::open(dir)
    } else {
        SledStore::open_existing(dir)
    };
    r.map(|s| Arc::new(s) as SharedStore).map_err(|e| match e {
        StoreError::Open { .. } => anyhow!(
            "{flag} {}: {e}\nsled lets only one process open a data directory: while `dualroad serve` runs on it, stop the gateway, or work on a copy taken while it was stopped",
            dir.display()
        ),
        other => anyhow!("{flag} {}: {other}", dir.display()),
    })
}

fn is_data_dir(dir: &Path) -> bool {
    dir.join("conf").is_file() && dir.join("db").is_file()
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

// === the tally ===

/// What one replayed request ended as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Done {
    /// The outcome class (`match`, `body-diff`, …, `not-compared`).
    pub class: String,
    pub reason: Option<String>,
    /// Differing paths counted against the UXP stack.
    pub paths: Vec<String>,
    /// The copy sent to UXP is not the same logical request (a translation bug).
    pub request_mismatch: bool,
}

/// Counts over a run, for the progress line, the summary and the exit code.
#[derive(Debug, Clone, Default)]
pub(super) struct Tally {
    pub total: u64,
    pub done: u64,
    pub by_class: BTreeMap<String, u64>,
    pub not_compared: BTreeMap<String, u64>,
    pub paths: HashMap<String, u64>,
    pub request_mismatch: u64,
    /// Reason → (count, example origins with detail).
    pub skipped: BTreeMap<&'static str, (u64, Vec<String>)>,
    pub filtered: u64,
}

impl Tally {
    pub(super) fn add(&mut self, d: Done) {
        self.done += 1;
        *self.by_class.entry(d.class).or_default() += 1;
        if let Some(r) = d.reason {
            *self.not_compared.entry(r).or_default() += 1;
        }
        for p in d.paths {
            *self.paths.entry(p).or_default() += 1;
        }
        self.request_mismatch += u64::from(d.request_mismatch);
    }

    pub(super) fn skip(&mut self, origin: &str, s: Skip) {
        match s {
            Skip::Filtered => self.filtered += 1,
            Skip::NotALegacyRequest(why) => {
                let e = self.skipped.entry("not a legacy request").or_default();
                e.0 += 1;
                if e.1.len() < SKIP_EXAMPLES {
                    e.1.push(format!("{origin}: {why}"));
                }
            }
        }
    }

    fn count(&self, class: &str) -> u64 {
        self.by_class.get(class).copied().unwrap_or(0)
    }

    /// Requests whose outcome was a difference (not `match`, not `not-compared`).
    pub(super) fn differences(&self) -> u64 {
        self.by_class
            .iter()
            .filter(|(c, _)| !matches!(c.as_str(), "match" | "not-compared"))
            .map(|(_, n)| n)
            .sum()
    }

    /// Not compared for a reason other than a write service left alone on purpose.
    pub(super) fn failed_to_compare(&self) -> u64 {
        self.not_compared
            .iter()
            .filter(|(r, _)| r.as_str() != NotComparedReason::WriteService.as_str())
            .map(|(_, n)| n)
            .sum()
    }

    /// 0 every replayed request matched (write services left alone do not count
    /// against it), 1 otherwise.
    pub(super) fn exit_code(&self) -> u8 {
        if self.differences() == 0 && self.failed_to_compare() == 0 && self.done > 0 {
            0
        } else {
            1
        }
    }

    /// One line: done/total, rate, outcomes so far.
    pub(super) fn progress(&self, elapsed: Duration) -> String {
        let rate = self.done as f64 / elapsed.as_secs_f64().max(1e-9);
        let mut s = format!("replay {}/{}  {rate:.1}/s ", self.done, self.total);
        for (c, n) in &self.by_class {
            s.push_str(&format!(" {c} {n}"));
        }
        s
    }

    /// The closing summary: totals by outcome class, not-compared by reason, top
    /// differing paths, what was skipped.
    pub(super) fn summary(&self, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64();
        let mut s = format!(
            "replayed {} request(s) in {secs:.2} s ({:.1}/s)\n",
            self.done,
            self.done as f64 / secs.max(1e-9)
        );
        s.push_str("outcomes:\n");
        for class in [
            "match",
            "body-diff",
            "fault-mismatch",
            "fault-code-diff",
            "shadow-error",
            "not-compared",
        ] {
            s.push_str(&format!("  {class:<16} {}\n", self.count(class)));
        }
        if !self.not_compared.is_empty() {
            s.push_str("not compared, by reason:\n");
            for (r, n) in &self.not_compared {
                s.push_str(&format!("  {r:<16} {n}\n"));
            }
        }
        if !self.paths.is_empty() {
            let mut top: Vec<(&String, &u64)> = self.paths.iter().collect();
            top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            s.push_str("top differing paths:\n");
            for (p, n) in top.into_iter().take(TOP_PATHS) {
                s.push_str(&format!("  {n:>6}  {p}\n"));
            }
        }
        if self.request_mismatch > 0 {
            s.push_str(&format!(
                "WARNING: {} UXP copies were not the same logical request as the original (a translation bug; see the request hash)\n",
                self.request_mismatch
            ));
        }
        for (why, (n, examples)) in &self.skipped {
            s.push_str(&format!("skipped, {why}: {n}\n"));
            for e in examples {
                s.push_str(&format!("  {e}\n"));
            }
        }
        if self.filtered > 0 {
            s.push_str(&format!(
                "left out by --agency/--service: {}\n",
                self.filtered
            ));
        }
        s
    }
}

// === one request ===

/// What every request task shares.
struct Ctx {
    maps: Mappings,
    opts: TranslateOptions,
    rules: Rules,
    noise: HashMap<String, NoiseModel>,
    legacy: UpstreamClient,
    uxp: UpstreamClient,
    writer: ExchangeWriter,
    writes: bool,
    clock: crate::clock::Clock,
}

impl Ctx {
    fn translator(&self) -> Translator<'_> {
        Translator::new(&self.maps, self.opts)
    }
}

/// The fault code of a SOAP answer, when it is a fault.
fn fault_code(a: &Answer, max: usize) -> Option<String> {
    let m = Message::parse(a.input(), max).ok()?;
    let f = m.env.body.fault.as_ref()?;
    Some(crate::wire::fault::Fault::from_elem(&m.env, f).code)
}

/// Replays one request to both stacks, judges the pair and stores the result:
/// decode → facts → the write rule → both legs → judgement → store.
async fn replay_one(ctx: &Ctx, r: Recorded) -> Result<Done, String> {
    let tr = ctx.translator();
    let d = decode(&ctx.opts, r.input())?;
    let names = tr.route_names(&d.header, Family::Legacy);
    let fresh = uuid::Uuid::new_v4().to_string();
    let mut facts = replay_facts(ctx, &d, &names, &fresh);
    let effect = shadow_copy::effect_of(&ctx.maps, &names.service);
    if let Err(reason) = shadow_copy::writes_allowed(effect, ctx.writes) {
        let detail = "a write service is replayed only with --writes (sandbox URLs)";
        let c = Comparison::not_compared(reason, Some(detail.into()));
        return store(ctx, facts, &c, None, RawBodies::default(), vec![], false).await;
    }
    let legs = both_legs(ctx, tr, d, &fresh, &r.origin).await?;
    facts.primary_latency_ms = legs.legacy_ms;
    let mismatch = legs.uxp.same_request == Some(false);
    let shadow = legs.uxp.result;
    let comparison = judge(ctx, &mut facts, &legs.legacy, &shadow);
    let shadow_latency = shadow.latency_ms();
    let bodies = RawBodies {
        request: Some(Answer {
            status: 0,
            content_type: r.content_type,
            body: r.body,
        }),
        primary: legs.legacy.ok(),
        shadow: shadow.into_answer(),
    };
    let paths = comparison.diffs.iter().map(|p| p.path.clone()).collect();
    store(
        ctx,
        facts,
        &comparison,
        shadow_latency,
        bodies,
        paths,
        mismatch,
    )
    .await
}

/// What a replayed exchange records besides the comparison, as the gateway records a
/// live one ([`Asked::of`]), under stage `replay`, served by `legacy`.
fn replay_facts(ctx: &Ctx, d: &Decoded<'_>, names: &RouteNames, fresh: &str) -> Facts {
    Facts {
        at_unix_ms: (ctx.clock)(),
        shadow_message_id: Some(fresh.to_string()),
        stage: crate::evidence::Stage::Replay,
        served_by: crate::evidence::ServedBy::Legacy,
        listener: "replay".into(),
        request_hash: Some(ctx.translator().fingerprint(d)),
        ..Facts::from(Asked::of(names, &d.header))
    }
}

/// What the two legs gave.
struct Legs {
    /// The legacy stack's answer (the primary), or why there is none.
    legacy: Result<Answer, String>,
    legacy_ms: f64,
    /// The UXP copy.
    uxp: copy::Copied,
}

/// Both legs at once, under one fresh message id: the request re-issued as is to the
/// legacy stack, and a shadow copy to UXP by the live mirror's driver.
async fn both_legs(
    ctx: &Ctx,
    tr: Translator<'_>,
    d: Decoded<'_>,
    fresh: &str,
    origin: &str,
) -> Result<Legs, String> {
    let legacy_req = tr
        .with_message_id(fresh)
        .reissue(&d)
        .map_err(|e| format!("{origin}: cannot be re-issued: {e}"))?;
    // The answers echo the request each stack got: the re-issued one, as the client.
    let sent = Input::new(&legacy_req.bytes).with_content_type(Some(&legacy_req.content_type));
    let client_req = decode(&ctx.opts, sent).unwrap_or(d);
    let uxp_copy = copy::send(tr, &client_req, Stack::Uxp, fresh, Some(&ctx.uxp), |_| true);
    let ((legacy, legacy_ms), uxp) = tokio::join!(call_legacy(ctx, &legacy_req), uxp_copy);
    Ok(Legs {
        legacy,
        legacy_ms,
        uxp,
    })
}

/// The legacy leg: the re-issued request, timed; its answer or why there is none.
async fn call_legacy(ctx: &Ctx, req: &Translation) -> (Result<Answer, String>, f64) {
    let body = Bytes::from(req.bytes.clone());
    let started = Instant::now();
    let r = ctx
        .legacy
        .call(body, &req.content_type, req.soap_action.as_deref())
        .await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let answer = r.map(|resp| Answer {
        status: resp.status,
        content_type: Some(
            resp.content_type
                .unwrap_or_else(|| "text/xml; charset=utf-8".into()),
        ),
        body: resp.body,
    });
    (answer.map_err(|e| e.to_string()), ms)
}

/// Judgement, as the mirror's: the legacy answer against the UXP copy's result with
/// the config's rules and the gateway's learned noise (`shadow::copy::judge_pair`).
fn judge(
    ctx: &Ctx,
    facts: &mut Facts,
    legacy: &Result<Answer, String>,
    shadow: &ShadowResult,
) -> Comparison {
    let side = match legacy {
        Ok(p) => {
            facts.primary_fault_code = fault_code(p, ctx.opts.max_message_bytes);
            PrimarySide::Answered(p)
        }
        Err(e) => PrimarySide::Failed(e),
    };
    let today = Date::from_unix_seconds(((ctx.clock)() / 1000) as i64);
    let opts = Options::new(&ctx.rules, today).with_noise(ctx.noise.get(&facts.service));
    // Only a rejected primary goes unjudged, and replay has no client to reject.
    shadow_copy::judge_pair(side, shadow, &opts)
        .unwrap_or_else(|| Comparison::not_compared(NotComparedReason::PrimaryInvalid, None))
}

async fn store(
    ctx: &Ctx,
    meta: Facts,
    c: &Comparison,
    shadow_latency: Option<f64>,
    bodies: RawBodies,
    paths: Vec<String>,
    request_mismatch: bool,
) -> Result<Done, String> {
    let event = crate::evidence::build(meta, Some(c), shadow_latency, &ctx.rules, bodies, false);
    let done = Done {
        class: event.record.outcome.as_str().to_string(),
        reason: event
            .record
            .not_compared_reason
            .map(|r| r.as_str().to_string()),
        paths,
        request_mismatch,
    };
    ctx.writer
        .send(event)
        .await
        .map_err(|e| format!("result not stored: {e}"))?;
    Ok(done)
}

// === the command ===

fn upstream(
    flag: &str,
    url: &str,
    dialect: Dialect,
    soap_version: SoapVersion,
    base: Option<&Upstream>,
) -> anyhow::Result<Upstream> {
    let url = UpstreamUrl::parse(url).map_err(|e| anyhow!("--{flag}: {e}"))?;
    let d = crate::config::file::DEFAULT_REQUEST_TIMEOUT_MS;
    let c = crate::config::file::DEFAULT_CONNECT_TIMEOUT_MS;
    Ok(Upstream {
        name: format!("replay-{flag}"),
        dialect,
        soap_version,
        http10: base.is_some_and(|b| b.http10),
        connect_timeout: base.map_or(Duration::from_millis(c), |b| b.connect_timeout),
        request_timeout: base.map_or(Duration::from_millis(d), |b| b.request_timeout),
        // An https URL uses the trust settings of the config's stack (when given);
        // without them the call is refused with a clear error, never unverified.
        tls: match url.scheme {
            crate::config::Scheme::Https => base.and_then(|b| b.tls.clone()),
            crate::config::Scheme::Http => None,
        },
        url,
    })
}

/// What `run` resolves once from the flags and the optional config, before anything is
/// read or sent.
struct Prepared {
    maps: Mappings,
    opts: TranslateOptions,
    rules: Rules,
    legacy_up: Upstream,
    uxp_up: Upstream,
    max_message_bytes: u64,
}

impl Prepared {
    fn translator(&self) -> Translator<'_> {
        Translator::new(&self.maps, self.opts)
    }
}

fn prepare(args: &ReplayArgs, settings: Option<&Settings>) -> anyhow::Result<Prepared> {
    let mappings_dir = args
        .mappings
        .clone()
        .or_else(|| settings.map(|s| s.mappings.clone()))
        .unwrap_or_else(|| PathBuf::from(crate::config::file::DEFAULT_MAPPINGS_DIR));
    let maps = crate::mapping::load_dir(&mappings_dir)
        .map_err(|e| anyhow!("--mappings {}: {e}", mappings_dir.display()))?;
    let max_message_bytes = settings.map_or(crate::config::file::DEFAULT_MAX_MESSAGE_BYTES, |s| {
        s.limits.max_message_bytes
    });
    let uxp_soap = settings
        .and_then(|s| s.uxp_stack())
        .map_or(SoapVersion::Soap11, |u| u.soap_version);
    let opts = TranslateOptions {
        uxp_soap,
        max_message_bytes: max_message_bytes as usize,
        legacy_dialect: None,
        scan: settings.map_or_else(Default::default, |s| s.limits.scan),
    };
    let rules = match settings {
        Some(s) => s
            .compare
            .compile()
            .map_err(|e| anyhow!("[compare] in {:?}: {e}", args.config))?,
        None => Rules::default(),
    };
    let legacy_up = upstream(
        "legacy",
        &args.legacy,
        maps.legacy_dialect(),
        SoapVersion::Soap11,
        settings.and_then(|s| s.legacy_stack()),
    )?;
    let uxp_up = upstream(
        "uxp",
        &args.uxp,
        Dialect::Uxp,
        uxp_soap,
        settings.and_then(|s| s.uxp_stack()),
    )?;
    Ok(Prepared {
        maps,
        opts,
        rules,
        legacy_up,
        uxp_up,
        max_message_bytes,
    })
}

/// The source of requests: a data directory's captures, or a directory of files.
fn open_source(from: &Path) -> anyhow::Result<(Option<SharedStore>, Source)> {
    let meta = std::fs::metadata(from).with_context(|| format!("--from {}", from.display()))?;
    if !meta.is_dir() {
        bail!(
            "--from {}: not a directory (a data directory or a directory of *.xml / *.mime requests)",
            from.display()
        );
    }
    let from_store = match is_data_dir(from) {
        true => Some(open_store(from, "--from", false)?),
        false => None,
    };
    let source = match &from_store {
        Some(f) => Source::Captures(f.exchanges()),
        None => Source::Files(read_files(from)?),
    };
    Ok((from_store, source))
}

/// Pass 1: counts what will be sent and skips (with a reason) what cannot be; refuses
/// a source with nothing to send.
fn first_pass(
    p: &Prepared,
    filter: &Filter,
    source: &Source,
    from: &Path,
    captures: bool,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    source
        .visit(|r| {
            match select(p.translator(), filter, &r) {
                Ok(()) => tally.total += 1,
                Err(s) => tally.skip(&r.origin, s),
            }
            true
        })
        .with_context(|| format!("--from {}: reading captures", from.display()))?;
    if tally.total == 0 {
        eprint!("{}", tally.summary(Duration::ZERO));
        let what = if captures {
            "no captured requests (rules with `capture = true` record them)"
        } else {
            "no legacy request files (*.xml, *.mime)"
        };
        let filtered = if tally.filtered > 0 {
            " matching --agency/--service"
        } else {
            ""
        };
        bail!("--from {}: {what}{filtered}", from.display());
    }
    Ok(tally)
}

/// Where results go: the same database when it is the source's, else `--data` (or
/// the config's `data_dir`). Returns the directory, the store opened for it (when it is
/// not the source's) and the exchange store to write to.
fn results_store(
    args: &ReplayArgs,
    settings: Option<&Settings>,
    from: &Path,
    from_store: Option<&SharedStore>,
) -> anyhow::Result<(PathBuf, Option<SharedStore>, ExchangeStore)> {
    let out_dir = args
        .data
        .clone()
        .or_else(|| settings.map(|s| s.data_dir.clone()))
        .or_else(|| from_store.map(|_| from.to_path_buf()))
        .ok_or_else(|| {
            anyhow!(
                "say where to store the results: --data OUT_DATA_DIR (or --config with a data_dir)"
            )
        })?;
    let out_store = match from_store {
        Some(_) if same_dir(from, &out_dir) => None,
        _ => Some(open_store(&out_dir, "--data", true)?),
    };
    let results = match (&out_store, from_store) {
        (Some(o), _) => o.exchanges(),
        (None, Some(f)) => f.exchanges(),
        (None, None) => bail!("--data: no data directory to store results in"),
    };
    Ok((out_dir, out_store, results))
}

pub(super) fn run(args: ReplayArgs, clock: crate::clock::Clock) -> anyhow::Result<ExitCode> {
    let settings: Option<Settings> = match &args.config {
        Some(path) => match super::serve::load(path) {
            Ok(s) => Some(s),
            Err(code) => return Ok(code),
        },
        None => None,
    };
    let p = prepare(&args, settings.as_ref())?;
    let from = &args.from;
    let (from_store, source) = open_source(from)?;
    let filter = Filter {
        agency: args.agency.clone(),
        service: args.service.clone(),
    };
    let tally = first_pass(&p, &filter, &source, from, from_store.is_some())?;
    let (out_dir, _out_store, results) =
        results_store(&args, settings.as_ref(), from, from_store.as_ref())?;
    // Noise learned by the gateway's calibration, where the captures come from.
    let noise = from_store
        .as_ref()
        .map(|s| s.exchanges())
        .unwrap_or_else(|| results.clone())
        .noise_models()
        .unwrap_or_default();
    let redaction = settings
        .as_ref()
        .map_or_else(RedactionConfig::default, |s| s.store.redaction.clone());
    let max_body_bytes = settings
        .as_ref()
        .map_or(crate::store::writer::DEFAULT_MAX_BODY_BYTES, |s| {
            s.store.max_body_bytes
        });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let rt_result = rt.block_on(async {
        let redactor = results.redactor(&redaction)?;
        let writer = ExchangeWriter::start(
            results.clone(),
            redactor,
            WriterConfig {
                // Retention is the gateway's job: it must not remove captures while
                // they are being replayed.
                retention: RetentionPolicy {
                    max_age: None,
                    max_bytes: None,
                },
                max_body_bytes,
                ..WriterConfig::default()
            },
            clock.clone(),
        );
        let ctx = Arc::new(Ctx {
            legacy: UpstreamClient::new(&p.legacy_up, p.max_message_bytes)
                .map_err(|e| anyhow!("--legacy: {e}"))?,
            uxp: UpstreamClient::new(&p.uxp_up, p.max_message_bytes)
                .map_err(|e| anyhow!("--uxp: {e}"))?,
            maps: p.maps,
            opts: p.opts,
            rules: p.rules,
            noise,
            writer,
            writes: args.writes,
            clock: clock.clone(),
        });
        let tally = dispatch(
            ctx.clone(),
            source,
            filter,
            args.rate,
            args.concurrency,
            tally,
        )
        .await;
        let stats = ctx.writer.shutdown().await;
        anyhow::Ok((tally, stats))
    });
    let ((tally, elapsed), stats) = rt_result?;
    // A closed stdout (`| head`) is not an error worth a panic: the results are stored.
    let mut text = tally.summary(elapsed);
    text.push_str(&format!(
        "stored {} exchange record(s) and {} diff(s) in {} (stage `replay`; `dualroad diffs list --data {}`)\n",
        stats.written.exchanges,
        stats.written.diffs,
        out_dir.display(),
        out_dir.display()
    ));
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    if stats.failed_writes > 0 {
        eprintln!(
            "dualroad: {} record(s) could not be written to {} (see the log)",
            stats.failed_writes,
            out_dir.display()
        );
    }
    Ok(ExitCode::from(tally.exit_code()))
}

/// Reads the source a second time on a blocking thread and sends each selected
/// request, at `rate`, `concurrency` at a time. Returns the tally and the elapsed time.
async fn dispatch(
    ctx: Arc<Ctx>,
    source: Source,
    filter: Filter,
    rate: f64,
    concurrency: usize,
    tally: Tally,
) -> (Tally, Duration) {
    let (tx, mut rx) = mpsc::channel::<Recorded>(READ_AHEAD);
    let pctx = ctx.clone();
    let producer = tokio::task::spawn_blocking(move || {
        source.visit(|r| {
            if select(pctx.translator(), &filter, &r).is_err() {
                return true;
            }
            // A closed channel: the dispatcher stopped.
            tx.blocking_send(r).is_ok()
        })
    });
    let tally = Arc::new(Mutex::new(tally));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Result<Done, String>>();
    let started = Instant::now();
    let progress = std::io::stderr().is_terminal();
    let agg_tally = tally.clone();
    let aggregator = tokio::spawn(async move {
        let mut last = Instant::now();
        while let Some(d) = done_rx.recv().await {
            let mut t = agg_tally.lock().unwrap_or_else(|p| p.into_inner());
            match d {
                Ok(d) => t.add(d),
                Err(e) => {
                    // Cannot happen for a selected request; kept visible if it does.
                    t.done += 1;
                    *t.by_class.entry("not-compared".into()).or_default() += 1;
                    *t.not_compared.entry("replay-error".into()).or_default() += 1;
                    if progress {
                        eprint!("\r");
                    }
                    eprintln!("dualroad: {e}");
                }
            }
            if progress && last.elapsed() >= PROGRESS_EVERY {
                last = Instant::now();
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r{}\x1b[K", t.progress(started.elapsed()));
                let _ = err.flush();
            }
        }
        if progress {
            let t = agg_tally.lock().unwrap_or_else(|p| p.into_inner());
            eprintln!("\r{}\x1b[K", t.progress(started.elapsed()));
        }
    });
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut bucket = TokenBucket::new(rate, Instant::now());
    while let Some(r) = rx.recv().await {
        bucket.take().await;
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let ctx = ctx.clone();
        let done_tx = done_tx.clone();
        tokio::spawn(async move {
            let d = replay_one(&ctx, r).await;
            let _ = done_tx.send(d);
            drop(slot);
        });
    }
    drop(done_tx);
    match producer.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("dualroad: reading the captures stopped early: {e}"),
        Err(e) => eprintln!("dualroad: the reader failed: {e}"),
    }
    // Every task holds a sender; the aggregator ends when the last one finishes.
    let _ = aggregator.await;
    let elapsed = started.elapsed();
    let t = tally.lock().unwrap_or_else(|p| p.into_inner()).clone();
    (t, elapsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_or_without_unit() {
        assert_eq!(parse_rate("50"), Ok(50.0));
        assert_eq!(parse_rate("2.5/s"), Ok(2.5));
        for bad in ["0", "-1", "fast", "NaN", "inf", ""] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_bucket_spaces_requests_at_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, t0);
        assert_eq!(b.try_take(t0), Ok(()), "the first request goes at once");
        let wait = b.try_take(t0).expect_err("the second waits");
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-6, "{wait:?}");
        assert_eq!(b.try_take(t0 + Duration::from_millis(100)), Ok(()));
        // A long pause saves at most the burst (one token at 10/s).
        let later = t0 + Duration::from_secs(60);
        assert_eq!(b.try_take(later), Ok(()));
        assert!(b.try_take(later).is_err());
        // 1000/s: a 50 ms burst of 50.
        let mut b = TokenBucket::new(1000.0, t0);
        let later = t0 + Duration::from_secs(1);
        let sent = (0..100).filter(|_| b.try_take(later).is_ok()).count();
        assert_eq!(sent, 50);
    }

    #[test]
    fn a_mime_body_gets_its_boundary_from_the_first_delimiter() {
        let body = b"preamble\r\n--=_b1 \r\nContent-Type: text/xml\r\n\r\n<x/>\r\n--=_b1--\r\n";
        assert_eq!(
            mime_content_type(body).as_deref(),
            Some("multipart/related; type=\"text/xml\"; boundary=\"=_b1\"")
        );
        assert_eq!(mime_content_type(b"<x/>"), None);
    }

    fn done(class: &str, reason: Option<&str>, paths: &[&str]) -> Done {
        Done {
            class: class.into(),
            reason: reason.map(str::to_string),
            paths: paths.iter().map(|p| p.to_string()).collect(),
            request_mismatch: false,
        }
    }

    #[test]
    fn exit_code_and_summary_follow_the_outcomes() {
        let mut t = Tally {
            total: 3,
            ..Tally::default()
        };
        t.add(done("match", None, &[]));
        t.add(done("not-compared", Some("write-service"), &[]));
        assert_eq!(t.exit_code(), 0, "a write left alone is not a failure");
        t.add(done("body-diff", None, &["Body/r/a", "Body/r/b"]));
        t.add(done("body-diff", None, &["Body/r/b"]));
        assert_eq!(t.exit_code(), 1);
        t.skip("x.xml", Skip::NotALegacyRequest("a response".into()));
        t.skip("y.xml", Skip::Filtered);
        let s = t.summary(Duration::from_secs(2));
        assert!(
            s.starts_with("replayed 4 request(s) in 2.00 s (2.0/s)"),
            "{s}"
        );
        assert!(s.contains("  body-diff        2\n"), "{s}");
        assert!(s.contains("  write-service    1\n"), "{s}");
        let top = s.split("top differing paths:\n").nth(1).unwrap_or("");
        assert!(
            top.starts_with("       2  Body/r/b\n       1  Body/r/a\n"),
            "{s}"
        );
        assert!(
            s.contains("skipped, not a legacy request: 1\n  x.xml: a response\n"),
            "{s}"
        );
        assert!(s.contains("left out by --agency/--service: 1"), "{s}");

        let mut t = Tally::default();
        t.add(done("not-compared", Some("timeout"), &[]));
        assert_eq!(t.exit_code(), 1, "nothing compared is not success");
    }
}
