//! The sled backend: [`SledStore`] (switch state and audit chain) and [`SledEvidence`]
//! (the evidence records), in one sled database in the data directory. Only storage
//! lives here; every decision is the traits' ([`Store`], [`EvidenceStore`]).
//!
//! Layout of the database in `data_dir` (sled trees):
//! - `meta`: `schema_version` (u32, big-endian), `audit_head` (JSON [`AuditHead`] of
//!   the last entry, so truncating the log is detectable), the evidence counters
//!   ([`Counter::name`] → u64 big-endian), `noise/SERVICE` (JSON noise models) and the
//!   generated `redaction_key`;
//! - `switch`: `state`, the [`SwitchState`] as JSON;
//! - `audit`: big-endian u64 sequence → [`AuditEntry`] as JSON;
//! - `exchanges`, `diffs`, `captures`: [`RecordKey`] (16 bytes) → the record's
//!   versioned JSON (see [`exchanges`](super::exchanges)).
//!
//! Switch changes and audit entries are written in one sled transaction over `meta`,
//! `switch` and `audit`, then the database is flushed before the call returns. Record
//! sequence numbers come from sled's persistent id generator.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use super::audit::{AuditHead, AuditKey, AuditRow};
use super::exchanges::{Counter, Encoded, Kind, RawKey, RawRecord, RawScan, SkipCounters};
use super::{
    Attribution, AuditAction, AuditEntry, AuditRows, EvidenceStore, ExchangeStore, Store,
    StoreError, SwitchChange, CURRENT_SCHEMA_VERSION,
};
use crate::evidence::RecordKey;
use crate::routing::SwitchState;

const TREE_META: &str = "meta";
const TREE_SWITCH: &str = "switch";
const TREE_AUDIT: &str = "audit";
pub(crate) const TREE_EXCHANGES: &str = "exchanges";
pub(crate) const TREE_DIFFS: &str = "diffs";
pub(crate) const TREE_CAPTURES: &str = "captures";
const KEY_SCHEMA_VERSION: &[u8] = b"schema_version";
const KEY_AUDIT_HEAD: &[u8] = b"audit_head";
const KEY_SWITCH_STATE: &[u8] = b"state";
const KEY_REDACTION_KEY: &[u8] = b"redaction_key";
#[cfg(test)]
const KEY_STORED_BYTES: Counter = Counter::StoredBytes;
const NOISE_PREFIX: &str = "noise/";

/// Files sled 0.34 always keeps in its directory; a directory with entries but without
/// these is something else, and must not be turned into a database.
const SLED_MARKERS: [&str; 2] = ["conf", "db"];

/// How long `open` waits for sled's file lock: attempts × interval, about one second.
/// sled 0.34 releases the lock from a background thread some time after the last
/// handle drops (spacejam/sled#1234), so an immediate reopen in the same process can
/// find it still held. A lock held by another live process stays held, and `open`
/// then fails after this wait with [`StoreError::Open`].
const LOCK_RETRY_ATTEMPTS: u32 = 20;
const LOCK_RETRY_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);

/// Most memory sled may use to cache pages (sled's default is 1 GiB). sled keeps
/// every page it reads until this limit, so with the default a report streaming the
/// exchange store would hold up to a gigabyte of it; with this, a reader's memory
/// stays flat however large the store grows. The price is reading evicted pages again
/// when a scan is larger than the cache (measured: about 40 % more CPU per streamed
/// record; write throughput unchanged).
pub const DEFAULT_CACHE_CAPACITY: u64 = 64 * 1024 * 1024;

/// sled's own tree, present in every sled database.
const SLED_DEFAULT_TREE: &[u8] = b"__sled__default";

/// The sled backend's [`Store`]. Cheap to share (`Arc<dyn Store>`); all methods take
/// `&self` and sled serialises concurrent changes.
pub struct SledStore {
    path: PathBuf,
    db: sled::Db,
    meta: sled::Tree,
    switch: sled::Tree,
    audit: sled::Tree,
    exchanges: Arc<SledEvidence>,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// What `check_directory` found before sled opened the directory.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Found {
    /// Absent or empty: sled will create a new database.
    Nothing,
    /// sled's files: an existing database, which must carry our schema version.
    Database,
}

/// Whether opening may create a new database.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Create {
    Allowed,
    Refused,
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

impl SledStore {
    /// Opens the store in `data_dir`, creating it (and the directory) if it does not
    /// exist yet. Refuses a directory that holds anything other than a dualroad store,
    /// and a store written with a schema this build does not know.
    pub fn open(data_dir: &Path) -> Result<SledStore, StoreError> {
        Self::open_with(data_dir, Create::Allowed, DEFAULT_CACHE_CAPACITY)
    }

    /// [`SledStore::open`] with sled's page cache capped at `cache_bytes` instead of
    /// [`DEFAULT_CACHE_CAPACITY`] (`[store] cache_bytes`).
    pub fn open_with_cache(data_dir: &Path, cache_bytes: u64) -> Result<SledStore, StoreError> {
        Self::open_with(data_dir, Create::Allowed, cache_bytes)
    }

    /// Opens an existing store and never creates one: for commands such as
    /// `dualroad audit verify`, where a mistyped path must fail, not yield an empty
    /// (and so trivially "valid") log.
    pub fn open_existing(data_dir: &Path) -> Result<SledStore, StoreError> {
        Self::open_with(data_dir, Create::Refused, DEFAULT_CACHE_CAPACITY)
    }

    fn open_with(
        data_dir: &Path,
        create: Create,
        cache_bytes: u64,
    ) -> Result<SledStore, StoreError> {
        let path = data_dir.to_path_buf();
        let found = check_directory(&path, create)?;
        let db = open_sled(&path, cache_bytes)?;
        // Look at what is there before `open_tree` creates our trees.
        let foreign: Vec<String> = db
            .tree_names()
            .into_iter()
            .filter(|n| {
                ![
                    SLED_DEFAULT_TREE,
                    TREE_META.as_bytes(),
                    TREE_SWITCH.as_bytes(),
                    TREE_AUDIT.as_bytes(),
                    TREE_EXCHANGES.as_bytes(),
                    TREE_DIFFS.as_bytes(),
                    TREE_CAPTURES.as_bytes(),
                ]
                .contains(&n.as_ref())
            })
            .map(|n| String::from_utf8_lossy(&n).into_owned())
            .collect();
        let default_tree_used = !db.is_empty();
        let storage = |op| {
            let path = path.clone();
            move |source| StoreError::Storage { path, op, source }
        };
        let meta = db
            .open_tree(TREE_META)
            .map_err(storage("opening the meta tree"))?;
        let switch = db
            .open_tree(TREE_SWITCH)
            .map_err(storage("opening the switch tree"))?;
        let audit = db
            .open_tree(TREE_AUDIT)
            .map_err(storage("opening the audit tree"))?;
        let exchanges = Arc::new(SledEvidence::new(
            path.clone(),
            db.clone(),
            meta.clone(),
            db.open_tree(TREE_EXCHANGES)
                .map_err(storage("opening the exchanges tree"))?,
            db.open_tree(TREE_DIFFS)
                .map_err(storage("opening the diffs tree"))?,
            db.open_tree(TREE_CAPTURES)
                .map_err(storage("opening the captures tree"))?,
        ));
        let store = SledStore {
            path,
            db,
            meta,
            switch,
            audit,
            exchanges,
        };
        store.check_schema(found, &foreign, default_tree_used)?;
        Ok(store)
    }

    fn check_schema(
        &self,
        found: Found,
        foreign: &[String],
        default_tree_used: bool,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let stored = self
            .meta
            .get(KEY_SCHEMA_VERSION)
            .map_err(|source| StoreError::Storage {
                path: path.clone(),
                op: "reading schema_version",
                source,
            })?;
        match stored {
            Some(raw) => {
                let bytes: [u8; 4] =
                    raw.as_ref()
                        .try_into()
                        .map_err(|_| StoreError::SchemaUnreadable {
                            path: path.clone(),
                            detail: format!(
                                "{} bytes where a 4-byte big-endian number belongs",
                                raw.len()
                            ),
                        })?;
                let version = u32::from_be_bytes(bytes);
                let supported = CURRENT_SCHEMA_VERSION;
                if version > supported {
                    Err(StoreError::SchemaTooNew {
                        path,
                        found: version,
                        supported,
                    })
                } else if version < supported {
                    Err(StoreError::SchemaTooOld {
                        path,
                        found: version,
                        supported,
                    })
                } else {
                    Ok(())
                }
            }
            None => {
                if !foreign.is_empty() || default_tree_used {
                    let found = if foreign.is_empty() {
                        "a sled database with data in its default tree".to_string()
                    } else {
                        format!("a sled database with trees {}", foreign.join(", "))
                    };
                    return Err(StoreError::NotAStore { path, found });
                }
                if !(self.meta.is_empty()
                    && self.switch.is_empty()
                    && self.audit.is_empty()
                    && self.exchanges.is_empty())
                {
                    return Err(StoreError::SchemaUnreadable {
                        path,
                        detail: "schema_version is missing from a database that holds data".into(),
                    });
                }
                if found == Found::Database {
                    // sled files were there, yet sled found nothing: its recovery
                    // dropped what it could not read. Stamping this as new would turn
                    // a damaged store (rollbacks, audit log) into an empty one.
                    return Err(StoreError::SchemaUnreadable {
                        path,
                        detail: "an existing database opened with no dualroad data and no schema_version: it is damaged or was never initialised; restore it from a backup, or remove the directory if it never held data".into(),
                    });
                }
                // A new database: stamp it before anything else is written.
                self.meta
                    .insert(KEY_SCHEMA_VERSION, &CURRENT_SCHEMA_VERSION.to_be_bytes())
                    .map_err(|source| StoreError::Storage {
                        path: path.clone(),
                        op: "writing schema_version",
                        source,
                    })?;
                self.flush()
            }
        }
    }

    /// The sled evidence store in the same database (for tests and tools that need
    /// sled's own handle; callers use [`Store::exchanges`]).
    pub fn evidence(&self) -> Arc<SledEvidence> {
        self.exchanges.clone()
    }

    fn transaction<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: Fn(&TransactionalTree, &TransactionalTree, &TransactionalTree) -> TxResult<T>,
    {
        use sled::Transactional;
        (&self.meta, &self.switch, &self.audit)
            .transaction(|(meta, switch, audit)| f(meta, switch, audit))
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(source) => self.storage_error("writing a change", source),
            })
    }

    fn storage_error(&self, op: &'static str, source: sled::Error) -> StoreError {
        StoreError::Storage {
            path: self.path.clone(),
            op,
            source,
        }
    }

    fn corrupt(&self, what: &str, detail: String) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            what: what.to_string(),
            detail,
        }
    }
}

impl Store for SledStore {
    fn path(&self) -> &Path {
        &self.path
    }

    fn exchanges(&self) -> ExchangeStore {
        self.exchanges.clone()
    }

    fn switch_state(&self) -> Result<SwitchState, StoreError> {
        let raw = self
            .switch
            .get(KEY_SWITCH_STATE)
            .map_err(|source| self.storage_error("reading the switch state", source))?;
        match raw {
            None => Ok(SwitchState::default()),
            Some(raw) => serde_json::from_slice(&raw)
                .map_err(|e| self.corrupt("the switch state", e.to_string())),
        }
    }

    fn commit_switch_change(
        &self,
        action: AuditAction,
        by: &Attribution,
        change: &SwitchChange<'_>,
    ) -> Result<SwitchState, StoreError> {
        let state = self.transaction(|meta, switch, audit| {
            let mut state: SwitchState = match switch.get(KEY_SWITCH_STATE)? {
                None => SwitchState::default(),
                Some(raw) => serde_json::from_slice(&raw).map_err(|e| {
                    ConflictableTransactionError::Abort(
                        self.corrupt("the switch state", e.to_string()),
                    )
                })?,
            };
            let details = change(&mut state).map_err(ConflictableTransactionError::Abort)?;
            let encoded = serde_json::to_vec(&state).map_err(|e| {
                ConflictableTransactionError::Abort(
                    self.corrupt("the new switch state", e.to_string()),
                )
            })?;
            switch.insert(KEY_SWITCH_STATE, encoded)?;
            append(&self.path, meta, audit, action, by, &details)?;
            Ok(state)
        })?;
        self.flush()?;
        Ok(state)
    }

    fn commit_audit_entry(
        &self,
        action: AuditAction,
        by: &Attribution,
        details: &[String],
    ) -> Result<AuditEntry, StoreError> {
        let entry = self.transaction(|meta, _switch, audit| {
            append(&self.path, meta, audit, action, by, details)
        })?;
        self.flush()?;
        Ok(entry)
    }

    fn audit_rows(&self) -> AuditRows {
        let path = self.path.clone();
        Box::new(self.audit.iter().map(move |item| {
            let (key, value) = item.map_err(|source| StoreError::Storage {
                path: path.clone(),
                op: "reading the audit log",
                source,
            })?;
            Ok(AuditRow {
                key: AuditKey::from_bytes(&key),
                value: value.to_vec(),
            })
        }))
    }

    fn audit_head(&self) -> Result<Option<AuditHead>, StoreError> {
        decode_head(
            self.meta
                .get(KEY_AUDIT_HEAD)
                .map_err(|source| self.storage_error("reading audit_head", source))?
                .as_deref(),
            &self.path,
        )
    }

    /// Acknowledged means durable: every write path ends here.
    fn flush(&self) -> Result<(), StoreError> {
        self.db
            .flush()
            .map(|_| ())
            .map_err(|source| self.storage_error("flushing to disk", source))
    }
}

/// The sled backend's [`EvidenceStore`]: the `exchanges`, `diffs` and `captures` trees
/// and the evidence's entries in `meta`, in the database of a [`SledStore`].
pub struct SledEvidence {
    path: PathBuf,
    db: sled::Db,
    meta: sled::Tree,
    exchanges: sled::Tree,
    diffs: sled::Tree,
    captures: sled::Tree,
    skipped: Arc<SkipCounters>,
}

impl std::fmt::Debug for SledEvidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledEvidence")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SledEvidence {
    fn new(
        path: PathBuf,
        db: sled::Db,
        meta: sled::Tree,
        exchanges: sled::Tree,
        diffs: sled::Tree,
        captures: sled::Tree,
    ) -> SledEvidence {
        SledEvidence {
            path,
            db,
            meta,
            exchanges,
            diffs,
            captures,
            skipped: Arc::default(),
        }
    }

    /// Whether the three trees hold nothing.
    fn is_empty(&self) -> bool {
        self.exchanges.is_empty() && self.diffs.is_empty() && self.captures.is_empty()
    }

    fn tree(&self, kind: Kind) -> &sled::Tree {
        match kind {
            Kind::Exchange => &self.exchanges,
            Kind::Diff => &self.diffs,
            Kind::Capture => &self.captures,
        }
    }

    fn storage(&self, op: &'static str, source: sled::Error) -> StoreError {
        StoreError::Storage {
            path: self.path.clone(),
            op,
            source,
        }
    }
}

impl EvidenceStore for SledEvidence {
    fn path(&self) -> &Path {
        &self.path
    }

    fn skip_counters(&self) -> &Arc<SkipCounters> {
        &self.skipped
    }

    /// sled's persistent id generator: unique and increasing across restarts and
    /// crashes.
    fn next_seq(&self) -> Result<u64, StoreError> {
        self.db
            .generate_id()
            .map_err(|source| self.storage("generating a record sequence number", source))
    }

    /// One sled batch per tree, diffs before exchanges, so that an exchange that
    /// survived a crash also has its diff (sled recovers a prefix of its log).
    fn put(&self, records: &[Encoded]) -> Result<(), StoreError> {
        for kind in Kind::ALL {
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

    fn get(&self, kind: Kind, key: RecordKey) -> Result<Option<Vec<u8>>, StoreError> {
        let what = match kind {
            Kind::Diff => "reading a diff",
            Kind::Exchange => "reading an exchange",
            Kind::Capture => "reading a capture",
        };
        Ok(self
            .tree(kind)
            .get(key.to_bytes())
            .map_err(|source| self.storage(what, source))?
            .map(|v| v.to_vec()))
    }

    fn scan(&self, kind: Kind, since_ms: u64, until_ms: u64) -> RawScan {
        let from = RecordKey::first_at(since_ms).to_bytes();
        let to = RecordKey::first_at(until_ms).to_bytes();
        let tree = self.tree(kind);
        let iter = if since_ms < until_ms {
            tree.range(from..to)
        } else {
            // An empty range: sled panics on a reversed one.
            tree.range(from..from)
        };
        let path = self.path.clone();
        Box::new(iter.map(move |item| match item {
            Ok((k, v)) => Ok(RawRecord {
                key: RawKey::from_bytes(&k),
                value: v.to_vec(),
            }),
            Err(source) => Err(StoreError::Storage {
                path: path.clone(),
                op: "reading exchange records",
                source,
            }),
        }))
    }

    fn remove(&self, kind: Kind, keys: &[RawKey]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for k in keys {
            batch.remove(k.to_bytes().as_ref());
        }
        self.tree(kind)
            .apply_batch(batch)
            .map_err(|source| self.storage("removing expired records", source))
    }

    /// A compare-and-swap loop in sled. A counter that is not 8 bytes is restarted
    /// from `delta`; counters are statistics, and a damaged one must not stop the
    /// writer.
    fn add_counter(&self, counter: Counter, delta: i128) -> Result<u64, StoreError> {
        if delta == 0 {
            return self.read_counter(counter);
        }
        let updated = self
            .meta
            .update_and_fetch(counter.name().as_bytes(), |old| {
                let old = old.and_then(counter_value).unwrap_or(0);
                let new = (i128::from(old) + delta).clamp(0, i128::from(u64::MAX)) as u64;
                Some(new.to_be_bytes().to_vec())
            })
            .map_err(|source| self.storage("updating a counter", source))?;
        Ok(updated.as_deref().and_then(counter_value).unwrap_or(0))
    }

    fn read_counter(&self, counter: Counter) -> Result<u64, StoreError> {
        Ok(self
            .meta
            .get(counter.name().as_bytes())
            .map_err(|source| self.storage("reading a counter", source))?
            .as_deref()
            .and_then(counter_value)
            .unwrap_or(0))
    }

    /// `meta` key `noise/SERVICE`.
    fn put_noise_model(&self, service: &str, value: &[u8]) -> Result<(), StoreError> {
        self.meta
            .insert(format!("{NOISE_PREFIX}{service}").as_bytes(), value)
            .map_err(|source| self.storage("writing a noise model", source))?;
        Ok(())
    }

    fn noise_model_values(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.meta
            .scan_prefix(NOISE_PREFIX.as_bytes())
            .map(|item| {
                let (k, v) = item.map_err(|source| self.storage("reading noise models", source))?;
                let service = String::from_utf8_lossy(&k[NOISE_PREFIX.len()..]).into_owned();
                Ok((service, v.to_vec()))
            })
            .collect()
    }

    fn redaction_key(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .meta
            .get(KEY_REDACTION_KEY)
            .map_err(|source| self.storage("reading the redaction key", source))?
            .map(|k| k.to_vec()))
    }

    /// Compare-and-swap in `meta`, then a flush.
    fn init_redaction_key(&self, candidate: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let _ = self
            .meta
            .compare_and_swap(KEY_REDACTION_KEY, None as Option<&[u8]>, Some(candidate))
            .map_err(|source| self.storage("writing the redaction key", source))?;
        self.flush()?;
        self.redaction_key()
    }

    /// Flushes the whole database (exchange trees, counters, and anything else).
    fn flush(&self) -> Result<(), StoreError> {
        self.db
            .flush()
            .map(|_| ())
            .map_err(|source| self.storage("flushing to disk", source))
    }
}

fn counter_value(raw: &[u8]) -> Option<u64> {
    raw.try_into().ok().map(u64::from_be_bytes)
}

/// Opens sled, retrying only while its file lock is contended (see
/// [`LOCK_RETRY_ATTEMPTS`]). Counts attempts rather than reading a clock. Blocks the
/// calling thread: call it at startup or from `spawn_blocking`.
fn open_sled(path: &Path, cache_bytes: u64) -> Result<sled::Db, StoreError> {
    let mut attempt = 1;
    loop {
        match sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .open()
        {
            Ok(db) => return Ok(db),
            Err(e) if is_lock_contention(&e) && attempt < LOCK_RETRY_ATTEMPTS => {
                attempt += 1;
                std::thread::sleep(LOCK_RETRY_INTERVAL);
            }
            Err(source) => {
                return Err(StoreError::Open {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
    }
}

/// sled 0.34 reports a held lock as `io::ErrorKind::Other` with the OS `WouldBlock`
/// only in its message (`config.rs`, "could not acquire lock"); match both so a later
/// sled that sets the kind still works.
fn is_lock_contention(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(io) => {
            io.kind() == std::io::ErrorKind::WouldBlock
                || io.to_string().contains("could not acquire lock")
        }
        _ => false,
    }
}

/// Appends one entry after the recorded head, inside a transaction.
fn append(
    path: &Path,
    meta: &TransactionalTree,
    audit: &TransactionalTree,
    action: AuditAction,
    by: &Attribution,
    details: &[String],
) -> TxResult<AuditEntry> {
    let abort = |what: &str, detail: String| {
        ConflictableTransactionError::Abort(StoreError::Corrupt {
            path: path.to_path_buf(),
            what: what.into(),
            detail,
        })
    };
    let head = decode_head(meta.get(KEY_AUDIT_HEAD)?.as_deref(), path)
        .map_err(ConflictableTransactionError::Abort)?;
    let entry = AuditEntry::next(
        head.as_ref().map(|h| (h.seq, h.hash.as_str())),
        action,
        by,
        details.to_vec(),
    );
    let value =
        serde_json::to_vec(&entry).map_err(|e| abort("a new audit entry", e.to_string()))?;
    let new_head = serde_json::to_vec(&AuditHead {
        seq: entry.seq,
        hash: entry.hash.clone(),
    })
    .map_err(|e| abort("the audit head", e.to_string()))?;
    audit.insert(&entry.seq.to_be_bytes(), value)?;
    meta.insert(KEY_AUDIT_HEAD, new_head)?;
    Ok(entry)
}

fn decode_head(raw: Option<&[u8]>, path: &Path) -> Result<Option<AuditHead>, StoreError> {
    raw.map(|raw| {
        serde_json::from_slice(raw).map_err(|e| StoreError::Corrupt {
            path: path.to_path_buf(),
            what: "audit_head".into(),
            detail: e.to_string(),
        })
    })
    .transpose()
}

/// Checks the directory before sled sees it: sled would happily create its files next
/// to anything, turning a wrong `data_dir` into a silently empty database.
fn check_directory(path: &Path, create: Create) -> Result<Found, StoreError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return match create {
                Create::Allowed => Ok(Found::Nothing),
                Create::Refused => Err(StoreError::Missing {
                    path: path.to_path_buf(),
                }),
            };
        }
        Err(source) => {
            return Err(StoreError::Access {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    if !meta.is_dir() {
        return Err(StoreError::NotADirectory {
            path: path.to_path_buf(),
        });
    }
    let names: Vec<String> = std::fs::read_dir(path)
        .map_err(|source| StoreError::Access {
            path: path.to_path_buf(),
            source,
        })?
        .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()
        .map_err(|source| StoreError::Access {
            path: path.to_path_buf(),
            source,
        })?;
    if names.is_empty() {
        return match create {
            Create::Allowed => Ok(Found::Nothing),
            Create::Refused => Err(StoreError::Empty {
                path: path.to_path_buf(),
            }),
        };
    }
    if SLED_MARKERS.iter().all(|m| names.iter().any(|n| n == m)) {
        // sled 0.34 treats a `conf` of 8 bytes or less as absent and starts a new
        // database over the old files (`Config::read_config`). Stop before it does.
        let conf = path.join("conf");
        let len = std::fs::metadata(&conf)
            .map_err(|source| StoreError::Access {
                path: path.to_path_buf(),
                source,
            })?
            .len();
        if len <= 8 {
            return Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                what: "sled's conf file".into(),
                detail: format!("{len} bytes, empty or truncated; opening it would silently start a new database over the old one: restore the directory from a backup"),
            });
        }
        return Ok(Found::Database);
    }
    let mut shown: Vec<&str> = names.iter().map(String::as_str).collect();
    shown.sort_unstable();
    let more = shown.len().saturating_sub(5);
    shown.truncate(5);
    let found = if more > 0 {
        format!("found {} and {more} more", shown.join(", "))
    } else {
        format!("found {}", shown.join(", "))
    };
    Err(StoreError::NotAStore {
        path: path.to_path_buf(),
        found,
    })
}

#[cfg(test)]
mod exchange_tests;
#[cfg(test)]
mod tests;
