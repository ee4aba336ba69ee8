//! The exchange store: the evidence shadow mode keeps, next to the switch and the audit
//! log, behind [`EvidenceStore`] (sled's implementation is
//! [`SledEvidence`](super::sled_store::SledEvidence)).
//!
//! Where it sits: the proxy hands every served exchange (and its diff, and a capture
//! when the rule asks for one) to the [`ExchangeWriter`](super::writer::ExchangeWriter),
//! whose background task redacts and writes them here in batches. `dualroad report`,
//! `dualroad diffs` and `dualroad replay` read them back with the streaming iterators
//! below; nothing here loads a whole keyspace into memory.
//!
//! What is here is the same for every backend: the record format (the codec below),
//! the readers ([`Records`], which decode, filter and skip), retention's decisions
//! (what is too old, which records are the oldest across kinds), the counters'
//! names and the generated redaction key's checks. A backend stores and scans bytes.
//!
//! Records, per [`Kind`]: exchanges ([`ExchangeRecord`]), diffs ([`DiffRecord`],
//! under the key of the exchange they belong to, so an exchange's `diff_id` *is* that
//! key and retention removes both together) and captures ([`CaptureRecord`],
//! requests recorded for replay). Next to them: [`Counter`]s (bytes stored, records
//! dropped by the writer's queue, bodies withheld, records removed by retention), the
//! noise models and the generated redaction key.
//!
//! Keys are `at_unix_ms` then a sequence number, both big-endian u64, so byte order
//! is time order and a time range is a key range. The sequence comes from the
//! backend's persistent id generator: unique across restarts and crashes, so two
//! exchanges in the same millisecond never collide.
//!
//! Values are JSON objects whose first member is the record version, `{"v":1,…}`.
//! Readers skip (and count) values of a version they do not know or that do not
//! decode: stored evidence is read by reports that must finish even when one record
//! is damaged. Adding an optional field keeps the version (readers ignore members they
//! do not know); changing the meaning of one bumps it. The store-wide
//! `schema_version` is unchanged by these records: they are additive, and a build
//! without them opens the database and never looks at them.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::de::{DeserializeOwned, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::error::StoreError;
use super::redact::{RedactionConfig, Redactor, GENERATED_KEY_BYTES};
use crate::evidence::{CaptureRecord, DiffId, DiffRecord, ExchangeRecord, RecordKey};

/// The record version this build writes and reads.
pub const RECORD_VERSION: u32 = 1;

/// Records older than this are removed by retention (see [`RetentionPolicy`]).
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Stored bytes (keys and values) above which the oldest records are removed.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

/// Keys removed per sled batch by retention: bounds the memory a large clean-up holds
/// and lets the writer's batches interleave with it.
pub const DEFAULT_RETENTION_CHUNK: usize = 4096;

/// The counters kept next to the records, over the store's lifetime (see
/// [`StoreCounters`]). Each has a stable [`Counter::name`], which is how a backend
/// keys it (sled: the `meta` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Counter {
    StoredBytes,
    DroppedExchanges,
    DroppedDiffs,
    DroppedCaptures,
    FailedWrites,
    BodiesUnredactable,
    BodiesTooLarge,
    CapturesWithheld,
    UnifiedWithheld,
    RetentionRemoved,
}

impl Counter {
    pub const ALL: [Counter; 10] = [
        Counter::StoredBytes,
        Counter::DroppedExchanges,
        Counter::DroppedDiffs,
        Counter::DroppedCaptures,
        Counter::FailedWrites,
        Counter::BodiesUnredactable,
        Counter::BodiesTooLarge,
        Counter::CapturesWithheld,
        Counter::UnifiedWithheld,
        Counter::RetentionRemoved,
    ];

    /// The counter's stored name (a file format: never rename one).
    pub fn name(self) -> &'static str {
        match self {
            Counter::StoredBytes => "exchanges/stored_bytes",
            Counter::DroppedExchanges => "exchanges/dropped/exchange",
            Counter::DroppedDiffs => "exchanges/dropped/diff",
            Counter::DroppedCaptures => "exchanges/dropped/capture",
            Counter::FailedWrites => "exchanges/failed_writes",
            Counter::BodiesUnredactable => "exchanges/bodies_withheld/unredactable",
            Counter::BodiesTooLarge => "exchanges/bodies_withheld/too_large",
            Counter::CapturesWithheld => "exchanges/captures_withheld",
            Counter::UnifiedWithheld => "exchanges/diffs/unified_withheld",
            Counter::RetentionRemoved => "exchanges/retention_removed",
        }
    }
}

/// The counters the writer persists, by their old names.
pub(crate) mod counter {
    use super::Counter;
    pub(crate) const DROPPED_EXCHANGES: Counter = Counter::DroppedExchanges;
    pub(crate) const DROPPED_DIFFS: Counter = Counter::DroppedDiffs;
    pub(crate) const DROPPED_CAPTURES: Counter = Counter::DroppedCaptures;
    pub(crate) const FAILED_WRITES: Counter = Counter::FailedWrites;
    pub(crate) const BODIES_UNREDACTABLE: Counter = Counter::BodiesUnredactable;
    pub(crate) const BODIES_TOO_LARGE: Counter = Counter::BodiesTooLarge;
    pub(crate) const CAPTURES_WITHHELD: Counter = Counter::CapturesWithheld;
    pub(crate) const UNIFIED_WITHHELD: Counter = Counter::UnifiedWithheld;
    pub(crate) const RETENTION_REMOVED: Counter = Counter::RetentionRemoved;
}

// === value codec ===

/// Encodes `{"v":RECORD_VERSION,…record's members…}` in one pass: the version is
/// written first, then the record's object with its opening brace turned into the
/// separating comma. Every record has required members, so the object is never `{}`.
pub fn encode<T: Serialize>(record: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"v\":");
    out.extend_from_slice(RECORD_VERSION.to_string().as_bytes());
    let brace = out.len();
    serde_json::to_writer(&mut out, record)?;
    match out.get(brace..brace + 2) {
        Some([b'{', b'}']) | None => Err(serde::ser::Error::custom("record has no members")),
        Some(_) => {
            out[brace] = b',';
            Ok(out)
        }
    }
}

/// [`decode`] into a type that borrows from `raw` (no allocation for unescaped
/// strings): for readers that look at a few fields of many records, such as reports.
pub fn decode_borrowed<'a, T: Deserialize<'a>>(raw: &'a [u8]) -> Result<T, DecodeError> {
    let mut version = None;
    let mut de = serde_json::Deserializer::from_slice(raw);
    let result = VersionedSeed::<T> {
        version: &mut version,
        _t: PhantomData,
    }
    .deserialize(&mut de)
    .and_then(|t| de.end().map(|()| t));
    match (result, version) {
        (Ok(t), _) => Ok(t),
        (Err(_), Some(v)) if v != RECORD_VERSION => Err(DecodeError::UnknownVersion(v)),
        (Err(e), _) => Err(DecodeError::Corrupt(e.to_string())),
    }
}

/// Why a stored value was skipped.
#[derive(Debug)]
pub enum DecodeError {
    UnknownVersion(u32),
    Corrupt(String),
}

/// Decodes a versioned value in one pass: reads `v` (which must come first), refuses
/// a version other than [`RECORD_VERSION`] without reading further, and hands the rest
/// of the object to the record's own deserializer.
pub fn decode<T: DeserializeOwned>(raw: &[u8]) -> Result<T, DecodeError> {
    let mut version = None;
    let mut de = serde_json::Deserializer::from_slice(raw);
    let result = VersionedSeed::<T> {
        version: &mut version,
        _t: PhantomData,
    }
    .deserialize(&mut de)
    .and_then(|t| de.end().map(|()| t));
    match (result, version) {
        (Ok(t), _) => Ok(t),
        (Err(_), Some(v)) if v != RECORD_VERSION => Err(DecodeError::UnknownVersion(v)),
        (Err(e), _) => Err(DecodeError::Corrupt(e.to_string())),
    }
}

struct VersionedSeed<'a, T> {
    version: &'a mut Option<u32>,
    _t: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for VersionedSeed<'_, T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for VersionedSeed<'_, T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object starting with the record version `v`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        use serde::de::Error;
        let key: Option<Cow<'de, str>> = map.next_key()?;
        if key.as_deref() != Some("v") {
            return Err(A::Error::custom("the first member is not the version `v`"));
        }
        let v: u32 = map.next_value()?;
        *self.version = Some(v);
        if v != RECORD_VERSION {
            return Err(A::Error::custom(format!("unknown record version {v}")));
        }
        T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
    }
}

// === the store ===

/// Records skipped while reading because they could not be used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped {
    /// A key that is not a [`RecordKey`], or a value that does not decode.
    pub corrupt: u64,
    /// A value written by a build with another record version.
    pub unknown_version: u64,
}

impl Skipped {
    pub fn total(&self) -> u64 {
        self.corrupt + self.unknown_version
    }
}

/// Records skipped by every reader of one open store, shared by its clones. A backend
/// holds one (`Arc::default()`) and hands it out with [`EvidenceStore::skip_counters`].
#[derive(Debug, Default)]
pub struct SkipCounters {
    corrupt: AtomicU64,
    unknown_version: AtomicU64,
}

impl SkipCounters {
    pub(crate) fn count(&self, e: &DecodeError) {
        let c = match e {
            DecodeError::UnknownVersion(_) => &self.unknown_version,
            DecodeError::Corrupt(_) => &self.corrupt,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Skipped {
        Skipped {
            corrupt: self.corrupt.load(Ordering::Relaxed),
            unknown_version: self.unknown_version.load(Ordering::Relaxed),
        }
    }
}

/// Counts per kind of record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindCounts {
    pub exchanges: u64,
    pub diffs: u64,
    pub captures: u64,
}

impl KindCounts {
    pub fn total(&self) -> u64 {
        self.exchanges + self.diffs + self.captures
    }
}

/// The counters the writer and retention keep in `meta`, over the store's lifetime
/// (what reports show next to the records).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCounters {
    /// Bytes of keys and values in the three trees (what `max_bytes` limits).
    pub stored_bytes: u64,
    /// Records the writer's queue dropped because it was full (or shut down).
    pub dropped: KindCounts,
    /// Records lost to a failed sled write.
    pub failed_writes: u64,
    /// Bodies not stored because they did not parse for redaction.
    pub bodies_unredactable: u64,
    /// Bodies not stored because they exceeded the writer's `max_body_bytes`.
    pub bodies_too_large: u64,
    /// Captures not stored (unredactable or too large).
    pub captures_withheld: u64,
    /// Diffs stored without their unified text, because the exchange's bodies were
    /// not there (or not redactable) to check it for redacted values.
    pub unified_withheld: u64,
    /// Records removed by retention.
    pub retention_removed: u64,
}

/// How much evidence to keep. `None` disables a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub max_age: Option<Duration>,
    pub max_bytes: Option<u64>,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            max_age: Some(DEFAULT_MAX_AGE),
            max_bytes: Some(DEFAULT_MAX_BYTES),
        }
    }
}

/// What one retention pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub by_age: KindCounts,
    pub by_size: KindCounts,
    /// Stored bytes after the pass.
    pub stored_bytes: u64,
}

impl RetentionReport {
    pub fn removed(&self) -> u64 {
        self.by_age.total() + self.by_size.total()
    }
}

/// Filter for [`EvidenceStore::captures`]; `None` matches anything. The time range is
/// `since_ms` inclusive, `until_ms` exclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureFilter {
    pub since_ms: Option<u64>,
    pub until_ms: Option<u64>,
    pub agency: Option<String>,
    pub service: Option<String>,
    pub listener: Option<String>,
}

/// One record ready to be stored: its kind, key and encoded value ([`encode`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub kind: Kind,
    pub key: RecordKey,
    pub value: Vec<u8>,
}

/// The three kinds of evidence record, each in its own keyspace (sled: tree; SQL:
/// table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Exchange,
    Diff,
    Capture,
}

impl Kind {
    /// The order writes are applied and retention removes in: a diff before its
    /// exchange, so an exchange that survived a crash has its diff.
    pub const ALL: [Kind; 3] = [Kind::Diff, Kind::Exchange, Kind::Capture];
}

/// A stored record's key as the backend holds it. A backend with typed key columns
/// only ever yields [`RawKey::Record`]; a byte-keyed one (sled) yields
/// [`RawKey::Malformed`] for a key that is not a [`RecordKey`], which readers skip
/// and count and retention removes like any other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawKey {
    Record(RecordKey),
    Malformed(Vec<u8>),
}

impl RawKey {
    pub fn from_bytes(raw: &[u8]) -> RawKey {
        match RecordKey::from_bytes(raw) {
            Some(k) => RawKey::Record(k),
            None => RawKey::Malformed(raw.to_vec()),
        }
    }

    /// The key's bytes: what orders keys (big-endian `at_unix_ms` then `seq`).
    pub fn to_bytes(&self) -> Cow<'_, [u8]> {
        match self {
            RawKey::Record(k) => Cow::Owned(k.to_bytes().to_vec()),
            RawKey::Malformed(raw) => Cow::Borrowed(raw),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            RawKey::Record(_) => RecordKey::LEN,
            RawKey::Malformed(raw) => raw.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One stored record, undecoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    pub key: RawKey,
    pub value: Vec<u8>,
}

impl RawRecord {
    /// What the record counts towards `max_bytes`: key and value bytes.
    pub fn size(&self) -> u64 {
        (self.key.len() + self.value.len()) as u64
    }
}

/// A scan over one kind, in key order from the front and reverse key order from the
/// back. Callers consume a scan from one end only (`next` or `next_back`, never
/// both), so a backend may pick its query's direction on the first call.
pub type RawScan = Box<dyn DoubleEndedIterator<Item = Result<RawRecord, StoreError>> + Send>;

/// The shell's handle on the evidence records: what callers hold and pass around.
pub type ExchangeStore = Arc<dyn EvidenceStore>;

/// Where evidence is kept: exchange, diff and capture records, their counters, the
/// learned noise models and the generated redaction key.
///
/// A backend implements the required methods, which only move bytes; the provided
/// methods (reading records, retention, counters, noise models, the redactor) hold
/// every decision and are the same for every backend: do not override them.
///
/// The contract (checked by `store::contract` for any backend):
/// - **Durability.** [`put`](EvidenceStore::put) need not be durable when it returns;
///   everything put before a [`flush`](EvidenceStore::flush) that returned `Ok` is.
///   A crash loses at most what was put since the last flush, and what survives is a
///   prefix in write order: within one `put`, diffs become durable no later than the
///   exchanges they belong to (sled: one batch per kind, in [`Kind::ALL`] order).
/// - **Order.** [`scan`](EvidenceStore::scan) yields keys in ascending byte order of
///   [`RawKey::to_bytes`] (time, then sequence) from the front, descending from the
///   back, within `[first_at(since_ms), first_at(until_ms))`; empty when
///   `since_ms >= until_ms`. A scan sees at least every record put before it began.
/// - **Sequence.** [`next_seq`](EvidenceStore::next_seq) is unique across restarts,
///   crashes and (for a shared backend) every node, and increases per caller.
/// - **Counters.** [`add_counter`](EvidenceStore::add_counter) is atomic (no lost
///   update between concurrent callers, or nodes), clamps to `0..=u64::MAX`, returns
///   the new value, and treats an unreadable stored value as 0.
/// - **Redaction key.** [`init_redaction_key`](EvidenceStore::init_redaction_key) is
///   first-writer-wins and durable before it returns.
/// - **Errors.** Storage failures are [`StoreError::Storage`] (sled) or
///   [`StoreError::Backend`]; a value that does not decode is never an error of the
///   backend's: it hands the bytes up and the readers skip or report them.
pub trait EvidenceStore: Send + Sync + fmt::Debug {
    /// Where the data lives, as error messages name it (the data directory for sled).
    fn path(&self) -> &Path;

    /// The skip counters of this open store (see [`SkipCounters`]).
    fn skip_counters(&self) -> &Arc<SkipCounters>;

    /// A new sequence number for a [`RecordKey`].
    fn next_seq(&self) -> Result<u64, StoreError>;

    /// Stores records (an existing key is overwritten). Raw: byte accounting is
    /// [`EvidenceStore::write`]'s.
    fn put(&self, records: &[Encoded]) -> Result<(), StoreError>;

    /// One record's value.
    fn get(&self, kind: Kind, key: RecordKey) -> Result<Option<Vec<u8>>, StoreError>;

    /// Records of `kind` with keys in `[first_at(since_ms), first_at(until_ms))`.
    /// Infallible to start: a backend that cannot start the scan (no connection)
    /// yields one `Err` and ends.
    fn scan(&self, kind: Kind, since_ms: u64, until_ms: u64) -> RawScan;

    /// Removes records (absent keys are ignored). Raw: byte accounting is the
    /// caller's.
    fn remove(&self, kind: Kind, keys: &[RawKey]) -> Result<(), StoreError>;

    /// Adds `delta` to a counter atomically and returns the new value.
    fn add_counter(&self, counter: Counter, delta: i128) -> Result<u64, StoreError>;

    /// A counter's value (0 when never written or unreadable).
    fn read_counter(&self, counter: Counter) -> Result<u64, StoreError>;

    /// Stores one service's noise model (encoded by [`EvidenceStore::save_noise_model`]).
    fn put_noise_model(&self, service: &str, value: &[u8]) -> Result<(), StoreError>;

    /// Every stored noise model, undecoded, by service.
    fn noise_model_values(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError>;

    /// The generated redaction key, if one was stored.
    fn redaction_key(&self) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores `candidate` as the generated redaction key unless one is stored already
    /// (atomically), makes it durable, and returns the key now stored.
    fn init_redaction_key(&self, candidate: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Makes everything put so far durable.
    fn flush(&self) -> Result<(), StoreError>;

    // === provided: the same for every backend ===

    /// Exchanges with `since_ms <= at_unix_ms < until_ms`, oldest first, streamed.
    fn exchanges_between(&self, since_ms: u64, until_ms: u64) -> Records<ExchangeRecord> {
        records(self, Kind::Exchange, "exchanges", since_ms, until_ms)
    }

    /// The stored values of exchanges with `since_ms <= at_unix_ms < until_ms`, oldest
    /// first, undecoded: for readers that decode them borrowed ([`decode_borrowed`])
    /// and count what they skip themselves.
    fn exchange_values_between(
        &self,
        since_ms: u64,
        until_ms: u64,
    ) -> Box<dyn Iterator<Item = Result<Vec<u8>, StoreError>> + Send> {
        Box::new(
            self.scan(Kind::Exchange, since_ms, until_ms)
                .map(|item| item.map(|r| r.value)),
        )
    }

    /// Diffs with `since_ms <= at_unix_ms < until_ms`, oldest first, streamed.
    fn diffs_between(&self, since_ms: u64, until_ms: u64) -> Records<DiffRecord> {
        records(self, Kind::Diff, "diffs", since_ms, until_ms)
    }

    /// Captures matching `filter`, oldest first, streamed.
    fn captures(&self, filter: &CaptureFilter) -> Records<CaptureRecord> {
        let since = filter.since_ms.unwrap_or(0);
        let until = filter.until_ms.unwrap_or(u64::MAX);
        let mut records = records(self, Kind::Capture, "captures", since, until);
        let f = filter.clone();
        if f.agency.is_some() || f.service.is_some() || f.listener.is_some() {
            records.filter = Some(Box::new(move |c: &CaptureRecord| {
                f.agency.as_ref().is_none_or_eq(&c.agency)
                    && f.service.as_ref().is_none_or_eq(&c.service)
                    && f.listener.as_ref().is_none_or_eq(&c.listener)
            }));
        }
        records
    }

    /// One diff by id. A stored value that does not decode is reported as
    /// [`StoreError::Corrupt`] (there is nothing to skip to).
    fn diff(&self, id: DiffId) -> Result<Option<DiffRecord>, StoreError> {
        let Some(raw) = self.get(Kind::Diff, id)? else {
            return Ok(None);
        };
        match decode(&raw) {
            Ok(d) => Ok(Some(d)),
            Err(e) => {
                self.skip_counters().count(&e);
                Err(StoreError::Corrupt {
                    path: self.path().to_path_buf(),
                    what: format!("diff {id}"),
                    detail: match e {
                        DecodeError::UnknownVersion(v) => {
                            format!("record version {v}, this build reads {RECORD_VERSION}")
                        }
                        DecodeError::Corrupt(d) => d,
                    },
                })
            }
        }
    }

    /// The newest `limit` diffs matching the given agency, service and outcome
    /// (`None` matches any), newest first. Streams, so memory is bounded by `limit`.
    fn list_diffs(
        &self,
        agency: Option<&str>,
        service: Option<&str>,
        outcome: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DiffRecord>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let mut records = self.diffs_between(0, u64::MAX);
        while let Some(item) = records.next_back() {
            let (_, d) = item?;
            if agency.is_none_or_eq(&d.agency)
                && service.is_none_or_eq(&d.service)
                && outcome.is_none_or_eq(d.outcome.as_str())
            {
                out.push(d);
                if out.len() == limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Records skipped by every reader of this store since it was opened.
    fn skipped(&self) -> Skipped {
        self.skip_counters().snapshot()
    }

    /// The persisted counters (see [`StoreCounters`]). The writer persists its drop
    /// counts every flush interval, so the last interval's drops may not show yet.
    fn counters(&self) -> Result<StoreCounters, StoreError> {
        let get = |c: Counter| self.read_counter(c);
        Ok(StoreCounters {
            stored_bytes: get(Counter::StoredBytes)?,
            dropped: KindCounts {
                exchanges: get(counter::DROPPED_EXCHANGES)?,
                diffs: get(counter::DROPPED_DIFFS)?,
                captures: get(counter::DROPPED_CAPTURES)?,
            },
            failed_writes: get(counter::FAILED_WRITES)?,
            bodies_unredactable: get(counter::BODIES_UNREDACTABLE)?,
            bodies_too_large: get(counter::BODIES_TOO_LARGE)?,
            captures_withheld: get(counter::CAPTURES_WITHHELD)?,
            unified_withheld: get(counter::UNIFIED_WITHHELD)?,
            retention_removed: get(counter::RETENTION_REMOVED)?,
        })
    }

    /// A redactor for `config`: with its key, or else with this store's generated key
    /// (created on first use, kept by the backend, durable before use).
    fn redactor(&self, config: &RedactionConfig) -> Result<Redactor, StoreError> {
        let key = match &config.key {
            Some(k) => k.as_bytes().to_vec(),
            None => generated_key(self)?,
        };
        Ok(Redactor::new(config, &key)?)
    }

    /// Writes encoded records. The byte counter is raised first: after a crash
    /// between the two it over-counts, which makes retention remove a little early
    /// rather than let the store outgrow `max_bytes`.
    fn write(&self, records: &[Encoded]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let bytes: u64 = records
            .iter()
            .map(|r| (RecordKey::LEN + r.value.len()) as u64)
            .sum();
        self.add_counter(Counter::StoredBytes, bytes as i128)?;
        self.put(records)
    }

    /// Stores the noise learned by calibration for one service, so a restart does not
    /// forget it and reports can show it. `service` is the exchange records'
    /// `service` (the service as the client named it): the mirror learns and looks up
    /// under it, and reports group by it.
    fn save_noise_model(
        &self,
        service: &str,
        model: &crate::shadow::NoiseModel,
    ) -> Result<(), StoreError> {
        let value = serde_json::to_vec(model).map_err(|e| StoreError::Corrupt {
            path: self.path().to_path_buf(),
            what: "noise model".into(),
            detail: e.to_string(),
        })?;
        self.put_noise_model(service, &value)
    }

    /// Every stored noise model, by service. One that does not decode is skipped
    /// with a warning: it is re-learned.
    fn noise_models(
        &self,
    ) -> Result<std::collections::HashMap<String, crate::shadow::NoiseModel>, StoreError> {
        let mut out = std::collections::HashMap::new();
        for (service, v) in self.noise_model_values()? {
            match serde_json::from_slice(&v) {
                Ok(model) => {
                    out.insert(service, model);
                }
                Err(e) => {
                    tracing::warn!(service, error = %e, "Stored noise model unreadable; skipped.")
                }
            }
        }
        Ok(out)
    }

    /// Applies `policy` at `now_ms`: removes every record older than `max_age`, then,
    /// while more than `max_bytes` are stored, the oldest records of any kind. Works
    /// in chunks of [`DEFAULT_RETENTION_CHUNK`] keys, so memory stays bounded however
    /// much is removed. The writer's background task calls this periodically; it is
    /// public so tests and tools can run it at a chosen time.
    fn enforce_retention(
        &self,
        policy: &RetentionPolicy,
        now_ms: u64,
    ) -> Result<RetentionReport, StoreError> {
        let mut report = RetentionReport::default();
        if let Some(max_age) = policy.max_age {
            let age_ms = u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX);
            let cutoff = now_ms.saturating_sub(age_ms);
            for kind in Kind::ALL {
                loop {
                    let chunk: Vec<RawRecord> = self
                        .scan(kind, 0, cutoff)
                        .take(DEFAULT_RETENTION_CHUNK)
                        .collect::<Result<_, _>>()?;
                    if chunk.is_empty() {
                        break;
                    }
                    remove_chunk(self, kind, &chunk)?;
                    *report.by_age.get_mut(kind) += chunk.len() as u64;
                }
            }
        }
        if let Some(max_bytes) = policy.max_bytes {
            shrink_to(self, max_bytes, &mut report.by_size)?;
        }
        let removed = report.removed();
        if removed > 0 {
            self.add_counter(counter::RETENTION_REMOVED, i128::from(removed))?;
        }
        report.stored_bytes = self.read_counter(Counter::StoredBytes)?;
        Ok(report)
    }
}

fn records<S: EvidenceStore + ?Sized, T: DeserializeOwned>(
    store: &S,
    kind: Kind,
    what: &'static str,
    since_ms: u64,
    until_ms: u64,
) -> Records<T> {
    Records {
        iter: store.scan(kind, since_ms, until_ms),
        what,
        path: store.path().to_path_buf(),
        counters: store.skip_counters().clone(),
        skipped: Skipped::default(),
        filter: None,
        _t: PhantomData,
    }
}

fn generated_key<S: EvidenceStore + ?Sized>(store: &S) -> Result<Vec<u8>, StoreError> {
    if let Some(k) = store.redaction_key()? {
        return checked_key(store, &k);
    }
    // uuid v4 draws 122 bits from the OS generator; three of them make the key.
    let mut key = Vec::with_capacity(48);
    while key.len() < GENERATED_KEY_BYTES {
        key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    key.truncate(GENERATED_KEY_BYTES);
    // First writer wins: if two processes race, both end up with the first key.
    match store.init_redaction_key(&key)? {
        Some(k) => checked_key(store, &k),
        None => Err(StoreError::Corrupt {
            path: store.path().to_path_buf(),
            what: "the redaction key".into(),
            detail: "vanished after being written".into(),
        }),
    }
}

fn checked_key<S: EvidenceStore + ?Sized>(store: &S, raw: &[u8]) -> Result<Vec<u8>, StoreError> {
    if raw.len() == GENERATED_KEY_BYTES {
        Ok(raw.to_vec())
    } else {
        Err(StoreError::Corrupt {
            path: store.path().to_path_buf(),
            what: "the redaction key".into(),
            detail: format!("{} bytes where {GENERATED_KEY_BYTES} belong; restore `meta` from a backup (a new key would change every token)", raw.len()),
        })
    }
}

fn remove_chunk<S: EvidenceStore + ?Sized>(
    store: &S,
    kind: Kind,
    chunk: &[RawRecord],
) -> Result<(), StoreError> {
    let freed: u64 = chunk.iter().map(RawRecord::size).sum();
    let keys: Vec<RawKey> = chunk.iter().map(|r| r.key.clone()).collect();
    store.remove(kind, &keys)?;
    store.add_counter(Counter::StoredBytes, -i128::from(freed))?;
    Ok(())
}

/// Removes the oldest records across the three kinds (a merge by key) until the
/// stored bytes are at most `max_bytes`.
fn shrink_to<S: EvidenceStore + ?Sized>(
    store: &S,
    max_bytes: u64,
    removed: &mut KindCounts,
) -> Result<(), StoreError> {
    loop {
        let stored = store.read_counter(Counter::StoredBytes)?;
        if stored <= max_bytes {
            return Ok(());
        }
        let mut excess = stored - max_bytes;
        let kinds = Kind::ALL;
        let mut iters: Vec<_> = kinds
            .iter()
            .map(|&k| store.scan(k, 0, u64::MAX).peekable())
            .collect();
        let mut chunks: [Vec<RawRecord>; 3] = Default::default();
        let mut taken = 0usize;
        while excess > 0 && taken < DEFAULT_RETENTION_CHUNK {
            // The kind whose next key is the oldest (ties: diff, exchange, capture).
            let mut oldest: Option<(usize, Vec<u8>)> = None;
            for (i, it) in iters.iter_mut().enumerate() {
                match it.peek() {
                    Some(Ok(r)) => {
                        let k = r.key.to_bytes();
                        if oldest
                            .as_ref()
                            .map_or(true, |(_, o)| o.as_slice() > k.as_ref())
                        {
                            oldest = Some((i, k.into_owned()));
                        }
                    }
                    None => {}
                    Some(Err(_)) => {
                        if let Some(Err(e)) = it.next() {
                            return Err(e);
                        }
                    }
                }
            }
            let Some((i, _)) = oldest else { break };
            if let Some(Ok(r)) = iters[i].next() {
                excess = excess.saturating_sub(r.size());
                chunks[i].push(r);
                taken += 1;
            }
        }
        drop(iters);
        if taken == 0 {
            // Nothing left to remove, yet the counter says too much: it drifted
            // (a crash between a write and its count). Everything is gone, so
            // the true figure is zero.
            store.add_counter(Counter::StoredBytes, -i128::from(u64::MAX))?;
            return Ok(());
        }
        for (i, chunk) in chunks.iter().enumerate() {
            if !chunk.is_empty() {
                remove_chunk(store, kinds[i], chunk)?;
                *removed.get_mut(kinds[i]) += chunk.len() as u64;
            }
        }
    }
}

impl KindCounts {
    pub(crate) fn get_mut(&mut self, kind: Kind) -> &mut u64 {
        match kind {
            Kind::Exchange => &mut self.exchanges,
            Kind::Diff => &mut self.diffs,
            Kind::Capture => &mut self.captures,
        }
    }
}

/// `Option::is_none_or` for the crate's MSRV (1.80), in the two shapes used here.
trait NoneOr<T: ?Sized> {
    fn is_none_or_eq(&self, other: &T) -> bool;
}

impl NoneOr<str> for Option<&str> {
    fn is_none_or_eq(&self, other: &str) -> bool {
        self.map_or(true, |s| s == other)
    }
}

impl NoneOr<String> for Option<&String> {
    fn is_none_or_eq(&self, other: &String) -> bool {
        self.map_or(true, |s| s == other)
    }
}

type Predicate<T> = Box<dyn Fn(&T) -> bool + Send>;

/// A streaming read over one kind: yields `(key, record)` in key (time) order (or
/// reversed, with `next_back`; use one end per scan). Values that cannot be used are
/// skipped, counted in [`Records::skipped`] and in the store's
/// [`EvidenceStore::skipped`], and logged (the first one of each scan at `warn`); an
/// `Err` is a storage failure, after which the scan should stop.
pub struct Records<T> {
    iter: RawScan,
    what: &'static str,
    path: PathBuf,
    counters: Arc<SkipCounters>,
    skipped: Skipped,
    filter: Option<Predicate<T>>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Records<T> {
    /// What this scan has skipped so far.
    pub fn skipped(&self) -> Skipped {
        self.skipped
    }
}

impl<T: DeserializeOwned> Records<T> {
    /// Turns one raw item into a record, or `None` to skip it.
    fn accept(
        &mut self,
        item: Result<RawRecord, StoreError>,
    ) -> Option<Result<(RecordKey, T), StoreError>> {
        let raw = match item {
            Ok(raw) => raw,
            Err(e) => return Some(Err(e)),
        };
        let key = match raw.key {
            RawKey::Record(key) => key,
            RawKey::Malformed(k) => {
                self.skip(
                    &DecodeError::Corrupt(format!("a {}-byte key", k.len())),
                    &hex::encode(&k),
                );
                return None;
            }
        };
        match decode::<T>(&raw.value) {
            Ok(record) => match &self.filter {
                Some(f) if !f(&record) => None,
                _ => Some(Ok((key, record))),
            },
            Err(e) => {
                self.skip(&e, &key.to_string());
                None
            }
        }
    }

    fn skip(&mut self, e: &DecodeError, key: &str) {
        let first = self.skipped.total() == 0;
        match e {
            DecodeError::UnknownVersion(_) => self.skipped.unknown_version += 1,
            DecodeError::Corrupt(_) => self.skipped.corrupt += 1,
        }
        self.counters.count(e);
        let path = self.path.display().to_string();
        if first {
            tracing::warn!(data_dir = %path, tree = self.what, %key, error = ?e, "skipping a stored record that cannot be read; further ones in this scan are logged at debug");
        } else {
            tracing::debug!(data_dir = %path, tree = self.what, %key, error = ?e, "skipping a stored record that cannot be read");
        }
    }
}

impl<T: DeserializeOwned> Iterator for Records<T> {
    type Item = Result<(RecordKey, T), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let item = self.iter.next()?;
            if let Some(out) = self.accept(item) {
                return Some(out);
            }
        }
    }
}

impl<T: DeserializeOwned> DoubleEndedIterator for Records<T> {
    fn next_back(&mut self) -> Option<Self::Item> {
        loop {
            let item = self.iter.next_back()?;
            if let Some(out) = self.accept(item) {
                return Some(out);
            }
        }
    }
}
