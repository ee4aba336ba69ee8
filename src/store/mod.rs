//! Durable state: the rollback switch, the tamper-evident audit log and the exchange
//! store (shadow-mode evidence), in sled.
//!
//! Read at startup (the switch must survive restarts: a rollback that evaporates on
//! restart is worse than none) and written by the admin API and the reload path. The
//! proxy never touches it per request: it reads a [`SwitchState`] snapshot handed over
//! after each change, and `routing::decide` consults that.
//!
//! Layout of the database in `data_dir` (sled trees):
//! - `meta`: `schema_version` (u32, big-endian) and `audit_head` (JSON `{seq, hash}` of
//!   the last entry, so truncating the log is detectable);
//! - `switch`: `state`, the [`SwitchState`] as JSON;
//! - `audit`: big-endian u64 sequence → [`AuditEntry`] as JSON;
//! - `exchanges`, `diffs`, `captures`: the exchange store, written through the
//!   [`ExchangeWriter`] and read by reports and replay (see [`exchanges`]).
//!
//! Every switch change is written together with its audit entry in one sled transaction
//! and flushed before the call returns: once acknowledged, a rollback is on disk, and
//! there is never a switch change without its audit entry, or the reverse. Exchange
//! records are flushed every [`writer::DEFAULT_FLUSH_INTERVAL`] instead: they are
//! many, and losing the last second of them in a crash is acceptable where losing a
//! rollback is not.

pub mod audit;
pub mod error;
pub mod exchanges;
pub mod redact;
pub mod writer;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

pub use audit::{Attribution, AuditAction, AuditEntry, VerifyReport, GENESIS_HASH};
pub use error::StoreError;
pub use exchanges::{
    CaptureFilter, ExchangeStore, KindCounts, Records, RetentionPolicy, RetentionReport, Skipped,
    StoreCounters,
};
pub use redact::{RedactError, RedactionConfig, RedactionConfigError, Redactor};
pub use writer::{Clock, ExchangeWriter, Submitted, WriterConfig, WriterStats};

use crate::routing::{SwitchEntry, SwitchScope, SwitchState};

/// The schema this build reads and writes. Bump it with a migration (and a frozen copy
/// of the old layout under `fixtures/store/`) whenever a stored format changes.
pub const CURRENT_SCHEMA_VERSION: u32 = 1;

const TREE_META: &str = "meta";
const TREE_SWITCH: &str = "switch";
const TREE_AUDIT: &str = "audit";
const KEY_SCHEMA_VERSION: &[u8] = b"schema_version";
const KEY_AUDIT_HEAD: &[u8] = b"audit_head";
const KEY_SWITCH_STATE: &[u8] = b"state";

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

/// Where the chain ends, kept next to the entries so a removed tail is detected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditHead {
    seq: u64,
    hash: String,
}

/// An open store. Cheap to share (`Arc<Store>`); all methods take `&self` and sled
/// serialises concurrent changes.
pub struct Store {
    path: PathBuf,
    db: sled::Db,
    meta: sled::Tree,
    switch: sled::Tree,
    audit: sled::Tree,
    exchanges: ExchangeStore,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
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

impl Store {
    /// Opens the store in `data_dir`, creating it (and the directory) if it does not
    /// exist yet. Refuses a directory that holds anything other than a dualroad store,
    /// and a store written with a schema this build does not know.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        Self::open_with(data_dir, Create::Allowed, DEFAULT_CACHE_CAPACITY)
    }

    /// [`Store::open`] with sled's page cache capped at `cache_bytes` instead of
    /// [`DEFAULT_CACHE_CAPACITY`] (`[store] cache_bytes`).
    pub fn open_with_cache(data_dir: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        Self::open_with(data_dir, Create::Allowed, cache_bytes)
    }

    /// Opens an existing store and never creates one: for commands such as
    /// `dualroad audit verify`, where a mistyped path must fail, not yield an empty
    /// (and so trivially "valid") log.
    pub fn open_existing(data_dir: &Path) -> Result<Store, StoreError> {
        Self::open_with(data_dir, Create::Refused, DEFAULT_CACHE_CAPACITY)
    }

    fn open_with(data_dir: &Path, create: Create, cache_bytes: u64) -> Result<Store, StoreError> {
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
                    exchanges::TREE_EXCHANGES.as_bytes(),
                    exchanges::TREE_DIFFS.as_bytes(),
                    exchanges::TREE_CAPTURES.as_bytes(),
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
        let exchanges = ExchangeStore::new(
            path.clone(),
            db.clone(),
            meta.clone(),
            db.open_tree(exchanges::TREE_EXCHANGES)
                .map_err(storage("opening the exchanges tree"))?,
            db.open_tree(exchanges::TREE_DIFFS)
                .map_err(storage("opening the diffs tree"))?,
            db.open_tree(exchanges::TREE_CAPTURES)
                .map_err(storage("opening the captures tree"))?,
        );
        let store = Store {
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

    /// The data directory this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The exchange store in the same database (shares it; cheap to clone).
    pub fn exchanges(&self) -> ExchangeStore {
        self.exchanges.clone()
    }

    /// The rollbacks in effect, as last acknowledged.
    pub fn switch_state(&self) -> Result<SwitchState, StoreError> {
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

    /// Forces traffic in `scope` to legacy, with no mirror, until released. Rolling
    /// back a scope that already is refreshes its actor, reason and time. Returns the
    /// new switch state, already durable.
    pub fn rollback(
        &self,
        scope: SwitchScope,
        by: &Attribution,
    ) -> Result<SwitchState, StoreError> {
        let scope = normalize(scope)?;
        require_attribution(by, true)?;
        self.change_switch(AuditAction::Rollback, by, |state| {
            let refreshed = state.get(&scope).is_some();
            state.insert(SwitchEntry {
                agency: scope.agency.clone(),
                service: scope.service.clone(),
                reason: by.reason.clone(),
                actor: by.actor.clone(),
                at_unix_ms: by.at_unix_ms,
            });
            Ok(vec![
                format!(
                    "scope {scope}{}",
                    if refreshed {
                        " (already rolled back; refreshed)"
                    } else {
                        ""
                    }
                ),
                format!("rollbacks in effect: {}", state.entries.len()),
            ])
        })
    }

    /// Lifts the rollback for exactly `scope`. Fails with
    /// [`StoreError::NotRolledBack`] (and writes nothing) if there is none: releasing
    /// the wrong scope must not look like success.
    pub fn release(&self, scope: SwitchScope, by: &Attribution) -> Result<SwitchState, StoreError> {
        let scope = normalize(scope)?;
        require_attribution(by, true)?;
        self.change_switch(AuditAction::Release, by, |state| {
            match state.remove(&scope) {
                Some(lifted) => Ok(vec![
                    format!("scope {scope}"),
                    format!(
                        "rolled back at_unix_ms={} by {}: {}",
                        lifted.at_unix_ms, lifted.actor, lifted.reason
                    ),
                    format!("rollbacks in effect: {}", state.entries.len()),
                ]),
                None => Err(StoreError::NotRolledBack {
                    scope: scope.to_string(),
                }),
            }
        })
    }

    /// Appends an entry that records something other than a switch change (startup,
    /// config reload, stage change). Durable when it returns.
    pub fn append_audit(
        &self,
        action: AuditAction,
        by: &Attribution,
        details: Vec<String>,
    ) -> Result<AuditEntry, StoreError> {
        if matches!(action, AuditAction::Rollback | AuditAction::Release) {
            return Err(StoreError::ReservedAction(action));
        }
        require_attribution(by, false)?;
        let entry = self.transaction(|meta, _switch, audit| {
            append(&self.path, meta, audit, action, by, details.clone())
        })?;
        self.flush()?;
        Ok(entry)
    }

    /// Every entry, oldest first. Fails on an entry that does not decode; use
    /// [`Store::verify_audit`] to find out what is wrong with a damaged log.
    pub fn audit_entries(&self) -> Result<Vec<AuditEntry>, StoreError> {
        self.audit
            .iter()
            .map(|item| {
                let (key, value) =
                    item.map_err(|source| self.storage_error("reading the audit log", source))?;
                serde_json::from_slice(&value).map_err(|e| {
                    self.corrupt(&format!("audit entry {}", key_label(&key)), e.to_string())
                })
            })
            .collect()
    }

    /// Walks the whole chain: sequence numbers gapless from 1, each `prev_hash` equal
    /// to the previous entry's `hash`, each `hash` matching the entry's content, and
    /// the last entry matching the recorded head. Stops at the first problem. An `Err`
    /// means the log could not be read at all; damage is reported in the
    /// [`VerifyReport`].
    pub fn verify_audit(&self) -> Result<VerifyReport, StoreError> {
        let mut expected = 1u64;
        let mut prev_hash = GENESIS_HASH.to_string();
        for item in self.audit.iter() {
            let (key, value) =
                item.map_err(|source| self.storage_error("reading the audit log", source))?;
            let verified = expected - 1;
            let Ok(bytes) = <[u8; 8]>::try_from(key.as_ref()) else {
                return Ok(VerifyReport::broken(
                    verified,
                    expected,
                    format!("key {} is not an 8-byte sequence number", key_label(&key)),
                ));
            };
            let seq = u64::from_be_bytes(bytes);
            if seq != expected {
                let problem = if seq > expected {
                    format!("entry {expected} is missing (the next stored entry is {seq})")
                } else {
                    format!("entry {seq} appears after entry {verified}")
                };
                return Ok(VerifyReport::broken(verified, expected, problem));
            }
            let entry: AuditEntry = match serde_json::from_slice(&value) {
                Ok(e) => e,
                Err(e) => {
                    return Ok(VerifyReport::broken(
                        verified,
                        seq,
                        format!("entry {seq} does not decode: {e}"),
                    ))
                }
            };
            if entry.seq != seq {
                return Ok(VerifyReport::broken(
                    verified,
                    seq,
                    format!("entry stored as {seq} says it is {}", entry.seq),
                ));
            }
            if entry.prev_hash != prev_hash {
                let problem = format!("entry {seq}'s prev_hash does not match entry {verified}'s hash: an entry before it was altered, replaced or removed");
                return Ok(VerifyReport::broken(verified, seq, problem));
            }
            if entry.compute_hash() != entry.hash {
                return Ok(VerifyReport::broken(verified, seq, format!("entry {seq}'s content does not match its hash: it was altered after it was written")));
            }
            prev_hash = entry.hash;
            expected += 1;
        }
        let verified = expected - 1;
        let after_last = expected;
        let head = decode_head(
            self.meta
                .get(KEY_AUDIT_HEAD)
                .map_err(|source| self.storage_error("reading audit_head", source))?
                .as_deref(),
            &self.path,
        );
        let head = match head {
            Ok(h) => h,
            Err(e) => {
                return Ok(VerifyReport::broken(
                    verified,
                    after_last,
                    format!("the recorded head is unreadable: {e}"),
                ))
            }
        };
        // The chain vouches for each entry given the one before; only the head can
        // vouch for where the chain ends.
        Ok(match head {
            None if verified == 0 => VerifyReport::intact(0),
            None => VerifyReport::broken(verified, after_last, "the log has entries but no recorded head: the head was removed, so a removed tail would go unnoticed".into()),
            Some(h) if h.seq > verified => VerifyReport::broken(
                verified,
                after_last,
                format!("the log ends at entry {verified} but the head records entry {}: entries were removed from the end", h.seq),
            ),
            Some(h) if h.seq < verified => VerifyReport::broken(
                h.seq,
                h.seq + 1,
                format!("entries {}..={verified} follow the recorded head (entry {}): they were added outside dualroad", h.seq + 1, h.seq),
            ),
            Some(h) if h.hash != prev_hash => VerifyReport::broken(
                verified.saturating_sub(1),
                verified,
                format!("entry {verified} does not match the recorded head's hash: the last entry was replaced"),
            ),
            Some(_) => VerifyReport::intact(verified),
        })
    }

    // === internals ===

    /// Applies `change` to the switch state and appends its audit entry, atomically,
    /// then flushes. `change` returns the entry's details, or an error to abort.
    fn change_switch<F>(
        &self,
        action: AuditAction,
        by: &Attribution,
        change: F,
    ) -> Result<SwitchState, StoreError>
    where
        F: Fn(&mut SwitchState) -> Result<Vec<String>, StoreError>,
    {
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
            append(&self.path, meta, audit, action, by, details)?;
            Ok(state)
        })?;
        self.flush()?;
        Ok(state)
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

    /// Acknowledged means durable: every write path ends here.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db
            .flush()
            .map(|_| ())
            .map_err(|source| self.storage_error("flushing to disk", source))
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
    details: Vec<String>,
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
        details,
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

/// Validates patterns and folds `"*"` into "all", so a scope is stored one way only.
fn normalize(scope: SwitchScope) -> Result<SwitchScope, StoreError> {
    let scope = SwitchScope::new(scope.agency.as_deref(), scope.service.as_deref());
    scope.validate()?;
    Ok(scope)
}

fn require_attribution(by: &Attribution, reason_required: bool) -> Result<(), StoreError> {
    if by.actor.trim().is_empty() {
        return Err(StoreError::MissingAttribution { field: "actor" });
    }
    if reason_required && by.reason.trim().is_empty() {
        return Err(StoreError::MissingAttribution { field: "reason" });
    }
    Ok(())
}

/// A key for messages: the sequence number when it is one, hex otherwise.
fn key_label(key: &[u8]) -> String {
    match <[u8; 8]>::try_from(key) {
        Ok(b) => u64::from_be_bytes(b).to_string(),
        Err(_) => hex::encode(key),
    }
}

#[cfg(test)]
mod tests;
