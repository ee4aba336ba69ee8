//! The exchange store: the evidence shadow mode keeps, in sled, next to the switch and
//! the audit log.
//!
//! Where it sits: the proxy hands every served exchange (and its diff, and a capture
//! when the rule asks for one) to the [`ExchangeWriter`](super::writer::ExchangeWriter),
//! whose background task redacts and writes them here in batches. `dualroad report`,
//! `dualroad diffs` and `dualroad replay` read them back with the streaming iterators
//! below; nothing here loads a whole tree into memory.
//!
//! Layout (sled trees of the same database as the switch and audit log):
//! - `exchanges`: [`RecordKey`] → [`ExchangeRecord`];
//! - `diffs`: [`RecordKey`] → [`DiffRecord`], under the key of the exchange it belongs
//!   to, so an exchange's `diff_id` *is* that key and retention removes both together;
//! - `captures`: [`RecordKey`] → [`CaptureRecord`] (requests recorded for replay);
//! - `meta`: `exchanges/…` counters (u64 big-endian): bytes stored, records dropped
//!   by the writer's queue, bodies withheld, records removed by retention; and the
//!   generated redaction key.
//!
//! Keys are `at_unix_ms` then a sequence number, both big-endian u64, so sled's byte
//! order is time order and a time range is a key range. The sequence comes from sled's
//! persistent id generator: unique across restarts and crashes, so two exchanges in
//! the same millisecond never collide.
//!
//! Values are JSON objects whose first member is the record version, `{"v":1,…}`.
//! Readers skip (and count) values of a version they do not know or that do not
//! decode: stored evidence is read by reports that must finish even when one record
//! is damaged. Adding an optional field keeps the version (readers ignore members they
//! do not know); changing the meaning of one bumps it. The store-wide
//! `schema_version` is unchanged by these trees: they are additive, and a build
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

pub(crate) const TREE_EXCHANGES: &str = "exchanges";
pub(crate) const TREE_DIFFS: &str = "diffs";
pub(crate) const TREE_CAPTURES: &str = "captures";

const KEY_REDACTION_KEY: &[u8] = b"redaction_key";
const KEY_STORED_BYTES: &[u8] = b"exchanges/stored_bytes";
const NOISE_PREFIX: &str = "noise/";

/// Counters kept in `meta`, as (key, what it counts).
pub(crate) mod counter {
    pub(crate) const DROPPED_EXCHANGES: &[u8] = b"exchanges/dropped/exchange";
    pub(crate) const DROPPED_DIFFS: &[u8] = b"exchanges/dropped/diff";
    pub(crate) const DROPPED_CAPTURES: &[u8] = b"exchanges/dropped/capture";
    pub(crate) const FAILED_WRITES: &[u8] = b"exchanges/failed_writes";
    pub(crate) const BODIES_UNREDACTABLE: &[u8] = b"exchanges/bodies_withheld/unredactable";
    pub(crate) const BODIES_TOO_LARGE: &[u8] = b"exchanges/bodies_withheld/too_large";
    pub(crate) const CAPTURES_WITHHELD: &[u8] = b"exchanges/captures_withheld";
    pub(crate) const UNIFIED_WITHHELD: &[u8] = b"exchanges/diffs/unified_withheld";
    pub(crate) const RETENTION_REMOVED: &[u8] = b"exchanges/retention_removed";
}

// === value codec ===

/// Encodes `{"v":RECORD_VERSION,…record's members…}` in one pass: the version is
/// written first, then the record's object with its opening brace turned into the
/// separating comma. Every record has required members, so the object is never `{}`.
pub(crate) fn encode<T: Serialize>(record: &T) -> Result<Vec<u8>, serde_json::Error> {
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
pub(crate) fn decode_borrowed<'a, T: Deserialize<'a>>(raw: &'a [u8]) -> Result<T, DecodeError> {
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
pub(crate) enum DecodeError {
    UnknownVersion(u32),
    Corrupt(String),
}

/// Decodes a versioned value in one pass: reads `v` (which must come first), refuses
/// a version other than [`RECORD_VERSION`] without reading further, and hands the rest
/// of the object to the record's own deserializer.
pub(crate) fn decode<T: DeserializeOwned>(raw: &[u8]) -> Result<T, DecodeError> {
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

#[derive(Debug, Default)]
struct SkipCounters {
    corrupt: AtomicU64,
    unknown_version: AtomicU64,
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

/// Filter for [`ExchangeStore::captures`]; `None` matches anything. The time range is
/// `since_ms` inclusive, `until_ms` exclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureFilter {
    pub since_ms: Option<u64>,
    pub until_ms: Option<u64>,
    pub agency: Option<String>,
    pub service: Option<String>,
    pub listener: Option<String>,
}

/// The exchange trees of an open [`Store`](super::Store). Cheap to clone; clones share
/// the database and the skip counters.
#[derive(Clone)]
pub struct ExchangeStore {
    path: Arc<PathBuf>,
    db: sled::Db,
    meta: sled::Tree,
    exchanges: sled::Tree,
    diffs: sled::Tree,
    captures: sled::Tree,
    skipped: Arc<SkipCounters>,
}

impl fmt::Debug for ExchangeStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExchangeStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// One record ready for a sled batch: key, encoded value, tree.
pub(crate) struct Encoded {
    pub kind: Kind,
    pub key: RecordKey,
    pub value: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Exchange,
    Diff,
    Capture,
}

impl ExchangeStore {
    pub(crate) fn new(
        path: PathBuf,
        db: sled::Db,
        meta: sled::Tree,
        exchanges: sled::Tree,
        diffs: sled::Tree,
        captures: sled::Tree,
    ) -> ExchangeStore {
        ExchangeStore {
            path: Arc::new(path),
            db,
            meta,
            exchanges,
            diffs,
            captures,
            skipped: Arc::default(),
        }
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the three trees hold nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.exchanges.is_empty() && self.diffs.is_empty() && self.captures.is_empty()
    }

    // --- reading ---

    /// Exchanges with `since_ms <= at_unix_ms < until_ms`, oldest first, streamed.
    pub fn exchanges_between(&self, since_ms: u64, until_ms: u64) -> Records<ExchangeRecord> {
        self.records(&self.exchanges, "exchanges", since_ms, until_ms)
    }

    /// The stored values of exchanges with `since_ms <= at_unix_ms < until_ms`, oldest
    /// first, undecoded: for readers that decode them borrowed ([`decode_borrowed`])
    /// and count what they skip themselves.
    pub(crate) fn exchange_values_between(
        &self,
        since_ms: u64,
        until_ms: u64,
    ) -> impl Iterator<Item = Result<sled::IVec, StoreError>> + '_ {
        let from = RecordKey::first_at(since_ms).to_bytes();
        let to = RecordKey::first_at(until_ms).to_bytes();
        let iter = if since_ms < until_ms {
            self.exchanges.range(from..to)
        } else {
            self.exchanges.range(from..from)
        };
        iter.map(move |item| {
            item.map(|(_, v)| v)
                .map_err(|source| self.storage("reading exchange records", source))
        })
    }

    /// Diffs with `since_ms <= at_unix_ms < until_ms`, oldest first, streamed.
    pub fn diffs_between(&self, since_ms: u64, until_ms: u64) -> Records<DiffRecord> {
        self.records(&self.diffs, "diffs", since_ms, until_ms)
    }

    /// Captures matching `filter`, oldest first, streamed.
    pub fn captures(&self, filter: &CaptureFilter) -> Records<CaptureRecord> {
        let since = filter.since_ms.unwrap_or(0);
        let until = filter.until_ms.unwrap_or(u64::MAX);
        let mut records = self.records(&self.captures, "captures", since, until);
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
    pub fn diff(&self, id: DiffId) -> Result<Option<DiffRecord>, StoreError> {
        let raw = self
            .diffs
            .get(id.to_bytes())
            .map_err(|source| self.storage("reading a diff", source))?;
        let Some(raw) = raw else { return Ok(None) };
        match decode(&raw) {
            Ok(d) => Ok(Some(d)),
            Err(e) => {
                self.count_skip(&e);
                Err(StoreError::Corrupt {
                    path: self.path.to_path_buf(),
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
    pub fn list_diffs(
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
    pub fn skipped(&self) -> Skipped {
        Skipped {
            corrupt: self.skipped.corrupt.load(Ordering::Relaxed),
            unknown_version: self.skipped.unknown_version.load(Ordering::Relaxed),
        }
    }

    /// The persisted counters (see [`StoreCounters`]). The writer persists its drop
    /// counts every flush interval, so the last interval's drops may not show yet.
    pub fn counters(&self) -> Result<StoreCounters, StoreError> {
        let get = |key: &[u8]| self.read_counter(key);
        Ok(StoreCounters {
            stored_bytes: get(KEY_STORED_BYTES)?,
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

    /// A redactor for `config`: with its key, or else with this data directory's
    /// generated key (created on first use, kept in `meta`, flushed before use).
    pub fn redactor(&self, config: &RedactionConfig) -> Result<Redactor, StoreError> {
        let key = match &config.key {
            Some(k) => k.as_bytes().to_vec(),
            None => self.generated_key()?,
        };
        Ok(Redactor::new(config, &key)?)
    }

    fn generated_key(&self) -> Result<Vec<u8>, StoreError> {
        let read = |s: &Self| {
            s.meta
                .get(KEY_REDACTION_KEY)
                .map_err(|source| s.storage("reading the redaction key", source))
        };
        if let Some(k) = read(self)? {
            return self.checked_key(&k);
        }
        // uuid v4 draws 122 bits from the OS generator; three of them make the key.
        let mut key = Vec::with_capacity(48);
        while key.len() < GENERATED_KEY_BYTES {
            key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        }
        key.truncate(GENERATED_KEY_BYTES);
        // Compare-and-swap: if two processes race, both end up with the first key.
        let _ = self
            .meta
            .compare_and_swap(KEY_REDACTION_KEY, None as Option<&[u8]>, Some(key))
            .map_err(|source| self.storage("writing the redaction key", source))?;
        self.flush()?;
        match read(self)? {
            Some(k) => self.checked_key(&k),
            None => Err(self.corrupt("the redaction key", "vanished after being written".into())),
        }
    }

    fn checked_key(&self, raw: &[u8]) -> Result<Vec<u8>, StoreError> {
        if raw.len() == GENERATED_KEY_BYTES {
            Ok(raw.to_vec())
        } else {
            Err(self.corrupt(
                "the redaction key",
                format!("{} bytes where {GENERATED_KEY_BYTES} belong; restore `meta` from a backup (a new key would change every token)", raw.len()),
            ))
        }
    }

    // --- writing (the writer's background task) ---

    /// A new sequence number: unique and increasing across restarts and crashes.
    pub(crate) fn next_seq(&self) -> Result<u64, StoreError> {
        self.db
            .generate_id()
            .map_err(|source| self.storage("generating a record sequence number", source))
    }

    /// Writes encoded records, one sled batch per tree. The byte counter is raised
    /// first: after a crash between the two it over-counts, which makes retention
    /// remove a little early rather than let the store outgrow `max_bytes`. Diffs are
    /// applied before exchanges so that an exchange that survived a crash also has
    /// its diff (sled recovers a prefix of its log).
    pub(crate) fn write(&self, records: &[Encoded]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let bytes: u64 = records
            .iter()
            .map(|r| (RecordKey::LEN + r.value.len()) as u64)
            .sum();
        self.add_counter(KEY_STORED_BYTES, bytes as i128)?;
        for kind in [Kind::Diff, Kind::Exchange, Kind::Capture] {
            let mut batch = sled::Batch::default();
            let mut any = false;
            for r in records.iter().filter(|r| r.kind == kind) {
                batch.insert(&r.key.to_bytes(), r.value.as_slice());
                any = true;
            }
            if any {
                self.tree(kind)
                    .apply_batch(batch)
                    .map_err(|source| self.storage("writing exchange records", source))?;
            }
        }
        Ok(())
    }

    /// Adds `delta` to a `meta` counter atomically (a compare-and-swap loop in sled).
    /// A counter that is not 8 bytes is restarted from `delta`; counters are
    /// statistics, and a damaged one must not stop the writer.
    pub(crate) fn add_counter(&self, key: &[u8], delta: i128) -> Result<u64, StoreError> {
        if delta == 0 {
            return self.read_counter(key);
        }
        let updated = self
            .meta
            .update_and_fetch(key, |old| {
                let old = old.and_then(counter_value).unwrap_or(0);
                let new = (i128::from(old) + delta).clamp(0, i128::from(u64::MAX)) as u64;
                Some(new.to_be_bytes().to_vec())
            })
            .map_err(|source| self.storage("updating a counter", source))?;
        Ok(updated.as_deref().and_then(counter_value).unwrap_or(0))
    }

    fn read_counter(&self, key: &[u8]) -> Result<u64, StoreError> {
        Ok(self
            .meta
            .get(key)
            .map_err(|source| self.storage("reading a counter", source))?
            .as_deref()
            .and_then(counter_value)
            .unwrap_or(0))
    }

    /// Flushes the whole database (exchange trees, counters, and anything else).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db
            .flush()
            .map(|_| ())
            .map_err(|source| self.storage("flushing to disk", source))
    }

    // --- retention ---

    /// Applies `policy` at `now_ms`: removes every record older than `max_age`, then,
    /// while more than `max_bytes` are stored, the oldest records of any kind. Works
    /// in chunks of [`DEFAULT_RETENTION_CHUNK`] keys, so memory stays bounded however
    /// much is removed. The writer's background task calls this periodically; it is
    /// public so tests and tools can run it at a chosen time.
    pub fn enforce_retention(
        &self,
        policy: &RetentionPolicy,
        now_ms: u64,
    ) -> Result<RetentionReport, StoreError> {
        let mut report = RetentionReport::default();
        if let Some(max_age) = policy.max_age {
            let age_ms = u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX);
            let cutoff = RecordKey::first_at(now_ms.saturating_sub(age_ms)).to_bytes();
            for kind in [Kind::Diff, Kind::Exchange, Kind::Capture] {
                let tree = self.tree(kind);
                loop {
                    let mut batch = sled::Batch::default();
                    let mut freed = 0u64;
                    let mut n = 0u64;
                    for item in tree.range(..cutoff).take(DEFAULT_RETENTION_CHUNK) {
                        let (k, v) =
                            item.map_err(|source| self.storage("scanning for retention", source))?;
                        freed += (k.len() + v.len()) as u64;
                        batch.remove(k);
                        n += 1;
                    }
                    if n == 0 {
                        break;
                    }
                    self.remove_batch(tree, batch, freed)?;
                    *report.by_age.get_mut(kind) += n;
                }
            }
        }
        if let Some(max_bytes) = policy.max_bytes {
            self.shrink_to(max_bytes, &mut report.by_size)?;
        }
        let removed = report.removed();
        if removed > 0 {
            self.add_counter(counter::RETENTION_REMOVED, i128::from(removed))?;
        }
        report.stored_bytes = self.read_counter(KEY_STORED_BYTES)?;
        Ok(report)
    }

    /// Removes the oldest records across the three trees (a merge by key) until the
    /// stored bytes are at most `max_bytes`.
    fn shrink_to(&self, max_bytes: u64, removed: &mut KindCounts) -> Result<(), StoreError> {
        loop {
            let stored = self.read_counter(KEY_STORED_BYTES)?;
            if stored <= max_bytes {
                return Ok(());
            }
            let mut excess = stored - max_bytes;
            let kinds = [Kind::Diff, Kind::Exchange, Kind::Capture];
            let mut iters: Vec<_> = kinds
                .iter()
                .map(|&k| self.tree(k).iter().peekable())
                .collect();
            let mut batches: [(sled::Batch, u64, u64); 3] = Default::default();
            let mut taken = 0usize;
            while excess > 0 && taken < DEFAULT_RETENTION_CHUNK {
                // The tree whose next key is the oldest (ties: diff, exchange, capture).
                let mut oldest: Option<(usize, sled::IVec)> = None;
                for (i, it) in iters.iter_mut().enumerate() {
                    match it.peek() {
                        Some(Ok((k, _))) if oldest.as_ref().is_none_or_gt(k) => {
                            oldest = Some((i, k.clone()));
                        }
                        Some(Ok(_)) | None => {}
                        Some(Err(_)) => {
                            if let Some(Err(source)) = it.next() {
                                return Err(self.storage("scanning for retention", source));
                            }
                        }
                    }
                }
                let Some((i, _)) = oldest else { break };
                if let Some(Ok((k, v))) = iters[i].next() {
                    let size = (k.len() + v.len()) as u64;
                    excess = excess.saturating_sub(size);
                    batches[i].0.remove(k);
                    batches[i].1 += size;
                    batches[i].2 += 1;
                    taken += 1;
                }
            }
            drop(iters);
            if taken == 0 {
                // Nothing left to remove, yet the counter says too much: it drifted
                // (a crash between a write and its count). Everything is gone, so
                // the true figure is zero.
                self.meta
                    .insert(KEY_STORED_BYTES, &0u64.to_be_bytes())
                    .map_err(|source| self.storage("resetting stored_bytes", source))?;
                return Ok(());
            }
            for (i, (batch, freed, n)) in batches.into_iter().enumerate() {
                if n > 0 {
                    self.remove_batch(self.tree(kinds[i]), batch, freed)?;
                    *removed.get_mut(kinds[i]) += n;
                }
            }
        }
    }

    fn remove_batch(
        &self,
        tree: &sled::Tree,
        batch: sled::Batch,
        freed: u64,
    ) -> Result<(), StoreError> {
        tree.apply_batch(batch)
            .map_err(|source| self.storage("removing expired records", source))?;
        self.add_counter(KEY_STORED_BYTES, -i128::from(freed))?;
        Ok(())
    }

    // --- internals ---

    fn records<T: DeserializeOwned>(
        &self,
        tree: &sled::Tree,
        what: &'static str,
        since_ms: u64,
        until_ms: u64,
    ) -> Records<T> {
        let from = RecordKey::first_at(since_ms).to_bytes();
        let to = RecordKey::first_at(until_ms).to_bytes();
        let iter = if since_ms < until_ms {
            tree.range(from..to)
        } else {
            // An empty range: sled panics on a reversed one.
            tree.range(from..from)
        };
        Records {
            iter,
            what,
            store: self.clone(),
            skipped: Skipped::default(),
            filter: None,
            _t: PhantomData,
        }
    }

    fn tree(&self, kind: Kind) -> &sled::Tree {
        match kind {
            Kind::Exchange => &self.exchanges,
            Kind::Diff => &self.diffs,
            Kind::Capture => &self.captures,
        }
    }

    fn count_skip(&self, e: &DecodeError) {
        let c = match e {
            DecodeError::UnknownVersion(_) => &self.skipped.unknown_version,
            DecodeError::Corrupt(_) => &self.skipped.corrupt,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Stores the noise learned by calibration for one service (`meta` key
    /// `noise/SERVICE`), so a restart does not forget it and reports can show it.
    /// `service` is the exchange records' `service` (the service as the client named
    /// it): the mirror learns and looks up under it, and reports group by it.
    pub fn save_noise_model(
        &self,
        service: &str,
        model: &crate::shadow::NoiseModel,
    ) -> Result<(), StoreError> {
        let value =
            serde_json::to_vec(model).map_err(|e| self.corrupt("noise model", e.to_string()))?;
        self.meta
            .insert(format!("{NOISE_PREFIX}{service}").as_bytes(), value)
            .map_err(|source| self.storage("writing a noise model", source))?;
        Ok(())
    }

    /// Every stored noise model, by service. One that does not decode is skipped
    /// with a warning: it is re-learned.
    pub fn noise_models(
        &self,
    ) -> Result<std::collections::HashMap<String, crate::shadow::NoiseModel>, StoreError> {
        let mut out = std::collections::HashMap::new();
        for item in self.meta.scan_prefix(NOISE_PREFIX.as_bytes()) {
            let (k, v) = item.map_err(|source| self.storage("reading noise models", source))?;
            let service = String::from_utf8_lossy(&k[NOISE_PREFIX.len()..]).into_owned();
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

    pub(crate) fn storage(&self, op: &'static str, source: sled::Error) -> StoreError {
        StoreError::Storage {
            path: self.path.to_path_buf(),
            op,
            source,
        }
    }

    fn corrupt(&self, what: &str, detail: String) -> StoreError {
        StoreError::Corrupt {
            path: self.path.to_path_buf(),
            what: what.to_string(),
            detail,
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

fn counter_value(raw: &[u8]) -> Option<u64> {
    raw.try_into().ok().map(u64::from_be_bytes)
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

trait NoneOrGt {
    fn is_none_or_gt(&self, key: &sled::IVec) -> bool;
}

impl NoneOrGt for Option<&(usize, sled::IVec)> {
    fn is_none_or_gt(&self, key: &sled::IVec) -> bool {
        self.map_or(true, |(_, k)| k > key)
    }
}

type Predicate<T> = Box<dyn Fn(&T) -> bool + Send>;

/// A streaming read over one tree: yields `(key, record)` in key (time) order (or
/// reversed, with `next_back`). Values that cannot be used are skipped, counted in
/// [`Records::skipped`] and in the store's [`ExchangeStore::skipped`], and logged
/// (the first one of each scan at `warn`); an `Err` is a storage failure, after which
/// the scan should stop.
pub struct Records<T> {
    iter: sled::Iter,
    what: &'static str,
    store: ExchangeStore,
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
        item: sled::Result<(sled::IVec, sled::IVec)>,
    ) -> Option<Result<(RecordKey, T), StoreError>> {
        let (k, v) = match item {
            Ok(kv) => kv,
            Err(source) => {
                return Some(Err(self.store.storage("reading exchange records", source)))
            }
        };
        let Some(key) = RecordKey::from_bytes(&k) else {
            self.skip(
                &DecodeError::Corrupt(format!("a {}-byte key", k.len())),
                &hex::encode(&k),
            );
            return None;
        };
        match decode::<T>(&v) {
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
        self.store.count_skip(e);
        let path = self.store.path.display().to_string();
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

#[cfg(test)]
mod tests;
