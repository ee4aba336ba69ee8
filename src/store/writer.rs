//! The exchange writer: the only way evidence gets from the request path into the
//! store. Independent of the backend: it batches, redacts and encodes, and hands the
//! backend ([`EvidenceStore`](super::EvidenceStore)) encoded records to store.
//!
//! Where it sits: the proxy calls [`ExchangeWriter::submit`] (and
//! [`ExchangeWriter::submit_capture`]) once per served request, after the client has
//! its answer. `submit` is a `try_send` on a bounded queue: it never blocks, never
//! awaits and never touches the disk. When the queue is full the record is dropped
//! and counted by kind ([`ExchangeWriter::dropped`]), and the counts are persisted to
//! store's counters every flush interval, so a report states how much evidence
//! is missing instead of silently showing less traffic.
//!
//! A background task takes records off the queue in batches of up to
//! [`DEFAULT_BATCH_SIZE`] and, on Tokio's blocking pool, redacts them
//! ([`Redactor`]), encodes them and writes them with one [`EvidenceStore::write`](super::EvidenceStore::write)
//! per batch (sled: one `sled::Batch` per tree). A second task
//! enforces retention every [`DEFAULT_RETENTION_INTERVAL`], with the time from the
//! clock the caller passed in.
//!
//! Durability: exchange records are *not* flushed per write, unlike the switch and
//! the audit log, which are flushed before every change is acknowledged. The writer
//! flushes the database every [`DEFAULT_FLUSH_INTERVAL`] (sled's own flusher also
//! runs every 500 ms). After a crash, including `kill -9`, the store opens cleanly and
//! holds every record submitted more than one flush interval (plus the moment a batch
//! spends in the queue) before the crash; at most the last interval is lost, and what
//! survives is a prefix in write order (sled recovers a prefix of its log), so there
//! are no holes. [`ExchangeWriter::shutdown`] drains the queue and flushes, losing
//! nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::error::StoreError;
use super::exchanges::{
    counter, encode, Counter, Encoded, ExchangeStore, Kind, KindCounts, RetentionPolicy,
};
use super::redact::{Redactor, Seen};
use crate::evidence::{Bodies, Body, CaptureRecord, ExchangeEvent, RecordKey};

/// Records the queue holds before `submit` starts dropping. At a few hundred bytes of
/// metadata each (bodies are shared `Bytes`), a full queue is a few MB.
pub const DEFAULT_QUEUE_CAPACITY: usize = 8192;

/// Most records written in one sled batch.
pub const DEFAULT_BATCH_SIZE: usize = 512;

/// How often the database is flushed; the most a crash can lose.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// How often retention runs.
pub const DEFAULT_RETENTION_INTERVAL: Duration = Duration::from_secs(60);

/// Largest body (request, response or capture) stored; larger ones are withheld and
/// counted. Keeps one huge attachment from evicting a day of evidence.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;

/// The time source for retention, in Unix milliseconds (the shell's one clock): the
/// store never reads the clock itself.
pub use crate::clock::Clock;

/// How the writer runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterConfig {
    pub queue_capacity: usize,
    pub batch_size: usize,
    pub flush_interval: Duration,
    pub retention: RetentionPolicy,
    pub retention_interval: Duration,
    pub max_body_bytes: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            batch_size: DEFAULT_BATCH_SIZE,
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            retention: RetentionPolicy::default(),
            retention_interval: DEFAULT_RETENTION_INTERVAL,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// What `submit` did with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    Queued,
    /// The queue was full (or the writer shut down); the record is counted.
    Dropped,
}

/// The writer has shut down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the exchange writer has shut down")]
pub struct WriterClosed;

/// What the writer did since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    pub written: KindCounts,
    pub dropped: KindCounts,
    pub failed_writes: u64,
    pub bodies_unredactable: u64,
    pub bodies_too_large: u64,
    pub captures_withheld: u64,
    pub unified_withheld: u64,
    pub retention_removed: u64,
}

enum Job {
    Exchange(Box<ExchangeEvent>),
    Capture(Box<CaptureRecord>),
}

/// Counters since start. The persisted ones are mirrored to `meta` by delta.
#[derive(Default)]
struct Counters {
    dropped_exchanges: AtomicU64,
    dropped_diffs: AtomicU64,
    dropped_captures: AtomicU64,
    failed_writes: AtomicU64,
    bodies_unredactable: AtomicU64,
    bodies_too_large: AtomicU64,
    captures_withheld: AtomicU64,
    unified_withheld: AtomicU64,
    written_exchanges: AtomicU64,
    written_diffs: AtomicU64,
    written_captures: AtomicU64,
    retention_removed: AtomicU64,
}

impl Counters {
    /// The counters persisted to `meta`, with their keys.
    fn persisted(&self) -> [(&AtomicU64, Counter); 8] {
        [
            (&self.dropped_exchanges, counter::DROPPED_EXCHANGES),
            (&self.dropped_diffs, counter::DROPPED_DIFFS),
            (&self.dropped_captures, counter::DROPPED_CAPTURES),
            (&self.failed_writes, counter::FAILED_WRITES),
            (&self.bodies_unredactable, counter::BODIES_UNREDACTABLE),
            (&self.bodies_too_large, counter::BODIES_TOO_LARGE),
            (&self.captures_withheld, counter::CAPTURES_WITHHELD),
            (&self.unified_withheld, counter::UNIFIED_WITHHELD),
        ]
    }
}

fn bump(c: &AtomicU64) -> u64 {
    c.fetch_add(1, Ordering::Relaxed) + 1
}

fn load(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// State shared by the writer's tasks.
struct Ctx {
    store: ExchangeStore,
    redactor: Redactor,
    config: WriterConfig,
    counters: Arc<Counters>,
}

/// Queue in front of the exchange store. Share it (`Arc<ExchangeWriter>`); every
/// method takes `&self`.
pub struct ExchangeWriter {
    tx: mpsc::Sender<Job>,
    counters: Arc<Counters>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for ExchangeWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangeWriter")
            .field("queued", &(self.tx.max_capacity() - self.tx.capacity()))
            .finish_non_exhaustive()
    }
}

impl ExchangeWriter {
    /// Starts the writer and retention tasks on the current Tokio runtime (call it
    /// from inside one, as for `tokio::spawn`).
    pub fn start(
        store: ExchangeStore,
        redactor: Redactor,
        config: WriterConfig,
        clock: Clock,
    ) -> ExchangeWriter {
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        let (stop, stop_rx) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        let ctx = Arc::new(Ctx {
            store,
            redactor,
            config,
            counters: counters.clone(),
        });
        let tasks = vec![
            tokio::spawn(run_writer(rx, ctx.clone(), stop_rx.clone())),
            tokio::spawn(run_retention(ctx, clock, stop_rx)),
        ];
        ExchangeWriter {
            tx,
            counters,
            stop,
            tasks: Mutex::new(tasks),
        }
    }

    /// Queues an exchange (and its diff) without waiting: for the request path.
    pub fn submit(&self, event: ExchangeEvent) -> Submitted {
        let has_diff = event.diff.is_some();
        match self.tx.try_send(Job::Exchange(Box::new(event))) {
            Ok(()) => Submitted::Queued,
            Err(_) => {
                let n = bump(&self.counters.dropped_exchanges);
                if has_diff {
                    bump(&self.counters.dropped_diffs);
                }
                warn_dropped("exchange", n);
                Submitted::Dropped
            }
        }
    }

    /// Queues a capture without waiting: for the request path.
    pub fn submit_capture(&self, capture: CaptureRecord) -> Submitted {
        match self.tx.try_send(Job::Capture(Box::new(capture))) {
            Ok(()) => Submitted::Queued,
            Err(_) => {
                warn_dropped("capture", bump(&self.counters.dropped_captures));
                Submitted::Dropped
            }
        }
    }

    /// Queues an exchange, waiting for room: for producers that are not on a
    /// request path and must not lose records (`dualroad replay`, imports).
    pub async fn send(&self, event: ExchangeEvent) -> Result<(), WriterClosed> {
        self.tx
            .send(Job::Exchange(Box::new(event)))
            .await
            .map_err(|_| WriterClosed)
    }

    /// [`ExchangeWriter::send`] for a capture.
    pub async fn send_capture(&self, capture: CaptureRecord) -> Result<(), WriterClosed> {
        self.tx
            .send(Job::Capture(Box::new(capture)))
            .await
            .map_err(|_| WriterClosed)
    }

    /// Records dropped by `submit` since the writer started.
    pub fn dropped(&self) -> KindCounts {
        KindCounts {
            exchanges: load(&self.counters.dropped_exchanges),
            diffs: load(&self.counters.dropped_diffs),
            captures: load(&self.counters.dropped_captures),
        }
    }

    /// Everything the writer counted since it started.
    pub fn stats(&self) -> WriterStats {
        let c = &self.counters;
        WriterStats {
            written: KindCounts {
                exchanges: load(&c.written_exchanges),
                diffs: load(&c.written_diffs),
                captures: load(&c.written_captures),
            },
            dropped: self.dropped(),
            failed_writes: load(&c.failed_writes),
            bodies_unredactable: load(&c.bodies_unredactable),
            bodies_too_large: load(&c.bodies_too_large),
            captures_withheld: load(&c.captures_withheld),
            unified_withheld: load(&c.unified_withheld),
            retention_removed: load(&c.retention_removed),
        }
    }

    /// Stops accepting records, writes everything queued, persists the counters and
    /// flushes. Later submissions are dropped and counted (in memory only). Safe to
    /// call more than once.
    pub async fn shutdown(&self) -> WriterStats {
        let _ = self.stop.send(true);
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "exchange writer task failed");
            }
        }
        self.stats()
    }
}

/// Logs drops at 1, 10, 100, … so a sustained overload is visible without a log line
/// per request.
fn warn_dropped(kind: &str, n: u64) {
    let mut m = n;
    while m >= 10 && m % 10 == 0 {
        m /= 10;
    }
    if m == 1 {
        tracing::warn!(
            kind,
            dropped = n,
            "exchange store queue full: dropping records (counted)"
        );
    }
}

async fn run_writer(mut rx: mpsc::Receiver<Job>, ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    let interval = ctx.config.flush_interval.max(Duration::from_millis(1));
    let batch = ctx.config.batch_size.max(1);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut persisted = [0u64; 8];
    let mut jobs = Vec::with_capacity(batch);
    loop {
        // Ticks first: under constant load the queue is always ready, and flushing
        // must still happen on time.
        tokio::select! {
            biased;
            _ = tick.tick() => {
                persisted = checkpoint(&ctx, persisted).await;
            }
            _ = stop.changed() => break,
            n = rx.recv_many(&mut jobs, batch) => {
                if n == 0 {
                    break;
                }
                jobs = write_jobs(&ctx, jobs).await;
            }
        }
    }
    // Drain what was queued before the stop; `close` makes later `try_send`s fail
    // (and be counted) instead of waiting in a queue nobody reads.
    rx.close();
    while rx.recv_many(&mut jobs, batch).await > 0 {
        jobs = write_jobs(&ctx, jobs).await;
    }
    checkpoint(&ctx, persisted).await;
}

/// Writes a batch on the blocking pool; hands the (emptied) buffer back for reuse.
async fn write_jobs(ctx: &Arc<Ctx>, jobs: Vec<Job>) -> Vec<Job> {
    let n = jobs.len() as u64;
    let ctx2 = ctx.clone();
    match tokio::task::spawn_blocking(move || ctx2.write_blocking(jobs)).await {
        Ok(buf) => buf,
        Err(e) => {
            ctx.counters.failed_writes.fetch_add(n, Ordering::Relaxed);
            tracing::error!(error = %e, records = n, "exchange write task failed");
            Vec::new()
        }
    }
}

/// Persists counter deltas and flushes. Returns the values now persisted.
async fn checkpoint(ctx: &Arc<Ctx>, persisted: [u64; 8]) -> [u64; 8] {
    let ctx2 = ctx.clone();
    match tokio::task::spawn_blocking(move || ctx2.checkpoint_blocking(persisted)).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "exchange store checkpoint failed");
            persisted
        }
    }
}

async fn run_retention(ctx: Arc<Ctx>, clock: Clock, mut stop: watch::Receiver<bool>) {
    let policy = ctx.config.retention;
    if policy.max_age.is_none() && policy.max_bytes.is_none() {
        return;
    }
    let mut tick =
        tokio::time::interval(ctx.config.retention_interval.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        let now_ms = clock();
        let store = ctx.store.clone();
        match tokio::task::spawn_blocking(move || store.enforce_retention(&policy, now_ms)).await {
            Ok(Ok(report)) => {
                let removed = report.removed();
                if removed > 0 {
                    ctx.counters
                        .retention_removed
                        .fetch_add(removed, Ordering::Relaxed);
                    tracing::info!(
                        removed,
                        by_age = report.by_age.total(),
                        by_size = report.by_size.total(),
                        stored_bytes = report.stored_bytes,
                        "exchange store retention removed records"
                    );
                }
            }
            Ok(Err(e)) => tracing::error!(error = %e, "exchange store retention failed"),
            Err(e) => tracing::error!(error = %e, "exchange store retention task failed"),
        }
    }
}

impl Ctx {
    fn write_blocking(&self, mut jobs: Vec<Job>) -> Vec<Job> {
        let mut encoded = Vec::with_capacity(jobs.len() * 2);
        let mut written = KindCounts::default();
        for job in jobs.drain(..) {
            let result = match job {
                Job::Exchange(ev) => self.prepare_exchange(*ev, &mut encoded),
                Job::Capture(c) => self.prepare_capture(*c, &mut encoded),
            };
            if let Err(e) = result {
                bump(&self.counters.failed_writes);
                tracing::error!(error = %e, "exchange record not written");
            }
        }
        for r in &encoded {
            *written.get_mut(r.kind) += 1;
        }
        match self.store.write(&encoded) {
            Ok(()) => {
                let c = &self.counters;
                c.written_exchanges
                    .fetch_add(written.exchanges, Ordering::Relaxed);
                c.written_diffs.fetch_add(written.diffs, Ordering::Relaxed);
                c.written_captures
                    .fetch_add(written.captures, Ordering::Relaxed);
            }
            Err(e) => {
                self.counters
                    .failed_writes
                    .fetch_add(encoded.len() as u64, Ordering::Relaxed);
                tracing::error!(error = %e, records = encoded.len(), "exchange batch not written");
            }
        }
        jobs
    }

    fn prepare_exchange(
        &self,
        event: ExchangeEvent,
        out: &mut Vec<Encoded>,
    ) -> Result<(), StoreError> {
        let ExchangeEvent {
            mut record,
            diff,
            store_bodies,
        } = event;
        let key = RecordKey {
            at_unix_ms: record.at_unix_ms,
            seq: self.store.next_seq()?,
        };
        let raw = record.bodies.take();
        let mut seen = Seen::default();
        // Whether every body was redacted, so `seen` knows every redacted value.
        let mut complete = raw.is_some();
        if let Some(raw) = raw.filter(|_| store_bodies || diff.is_some()) {
            let mut kept = Bodies::default();
            for (body, slot) in [
                (raw.request, &mut kept.request),
                (raw.primary, &mut kept.primary),
                (raw.shadow, &mut kept.shadow),
            ] {
                let Some(body) = body else { continue };
                if body.bytes.len() > self.config.max_body_bytes {
                    complete = false;
                    if store_bodies {
                        bump(&self.counters.bodies_too_large);
                    }
                    continue;
                }
                match self.redactor.redact_message_seen(
                    &body.bytes,
                    body.content_type.as_deref(),
                    &mut seen,
                ) {
                    Ok(r) => {
                        *slot = Some(Body {
                            content_type: body.content_type,
                            bytes: r.bytes.into(),
                        })
                    }
                    Err(e) => {
                        complete = false;
                        if store_bodies {
                            bump(&self.counters.bodies_unredactable);
                        }
                        tracing::debug!(error = %e, service = %record.service, "body not redactable; not stored");
                    }
                }
            }
            if store_bodies && kept != Bodies::default() {
                record.bodies = Some(kept);
            }
        }
        if let Some(mut diff) = diff {
            diff.id = key;
            self.redactor.redact_diff(&mut diff, &seen, complete);
            if diff.unified == super::redact::UNIFIED_WITHHELD {
                bump(&self.counters.unified_withheld);
            }
            record.diff_id = Some(key);
            out.push(Encoded {
                kind: Kind::Diff,
                key,
                value: encode(&diff).map_err(|e| self.encode_error("a diff", e))?,
            });
        }
        out.push(Encoded {
            kind: Kind::Exchange,
            key,
            value: encode(&record).map_err(|e| self.encode_error("an exchange", e))?,
        });
        Ok(())
    }

    fn prepare_capture(
        &self,
        mut capture: CaptureRecord,
        out: &mut Vec<Encoded>,
    ) -> Result<(), StoreError> {
        if capture.body.len() > self.config.max_body_bytes {
            bump(&self.counters.captures_withheld);
            return Ok(());
        }
        match self
            .redactor
            .redact_message(&capture.body, capture.content_type.as_deref())
        {
            Ok(r) => capture.body = r.bytes.into(),
            Err(e) => {
                bump(&self.counters.captures_withheld);
                tracing::debug!(error = %e, service = %capture.service, "capture not redactable; not stored");
                return Ok(());
            }
        }
        let key = RecordKey {
            at_unix_ms: capture.at_unix_ms,
            seq: self.store.next_seq()?,
        };
        out.push(Encoded {
            kind: Kind::Capture,
            key,
            value: encode(&capture).map_err(|e| self.encode_error("a capture", e))?,
        });
        Ok(())
    }

    fn checkpoint_blocking(&self, mut persisted: [u64; 8]) -> [u64; 8] {
        for (i, (current, key)) in self.counters.persisted().into_iter().enumerate() {
            let now = load(current);
            if now > persisted[i] {
                match self.store.add_counter(key, i128::from(now - persisted[i])) {
                    Ok(_) => persisted[i] = now,
                    Err(e) => tracing::error!(error = %e, "exchange counter not persisted"),
                }
            }
        }
        if let Err(e) = self.store.flush() {
            tracing::error!(error = %e, "exchange store flush failed");
        }
        persisted
    }

    fn encode_error(&self, what: &str, e: serde_json::Error) -> StoreError {
        StoreError::Corrupt {
            path: self.store.path().to_path_buf(),
            what: format!("{what} being written"),
            detail: e.to_string(),
        }
    }
}
