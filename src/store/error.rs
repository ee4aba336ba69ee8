//! What can go wrong with the store. `Open` and `Storage` carry sled's errors (the sled
//! backend's); another backend reports its storage failures as `Backend`. Every variant names the data directory, so
//! an operator can tell which deployment's database is at fault.

use std::path::PathBuf;

use super::audit::AuditAction;
use crate::routing::PatternError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("data directory {path} does not exist; it is created by `dualroad serve` (check data_dir in the config)")]
    Missing { path: PathBuf },

    #[error("data directory {path} is empty: no dualroad store has been created there yet")]
    Empty { path: PathBuf },

    #[error("data directory {path} is not a directory")]
    NotADirectory { path: PathBuf },

    #[error("data directory {path} exists but is not a dualroad store ({found}); refusing to create a new database over it: point data_dir at an empty or new directory")]
    NotAStore { path: PathBuf, found: String },

    #[error("cannot access data directory {path}: {source}")]
    Access {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "cannot open the database in {path} (is another dualroad process using it?): {source}"
    )]
    Open {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },

    #[error("database in {path} has schema version {found}, newer than this dualroad supports ({supported}): upgrade dualroad, or restore the data directory from before the upgrade")]
    SchemaTooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    #[error("database in {path} has schema version {found}, which this dualroad cannot migrate (it supports {supported})")]
    SchemaTooOld {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    #[error("database in {path} has an unreadable schema version: {detail}")]
    SchemaUnreadable { path: PathBuf, detail: String },

    #[error("database in {path}: {what} is corrupt: {detail}")]
    Corrupt {
        path: PathBuf,
        what: String,
        detail: String,
    },

    #[error("database in {path}: {op} failed: {source}")]
    Storage {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: sled::Error,
    },

    /// A storage failure of a backend other than sled (a network database, …), in the
    /// same words as [`StoreError::Storage`]: `location` is what the backend's
    /// [`Store::path`](super::Store::path) names, `source` its own error.
    #[error("database in {location}: {op} failed: {source}")]
    Backend {
        location: String,
        op: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error("no rollback is in effect for exactly {scope} (a broader or narrower one may be; see the switch state)")]
    NotRolledBack { scope: String },

    #[error("invalid redaction config: {0}")]
    InvalidRedaction(#[from] super::redact::RedactionConfigError),

    #[error("invalid rollback scope: {0}")]
    InvalidScope(#[from] PatternError),

    #[error("{field} must not be empty: every switch change and audit entry records who made it and why")]
    MissingAttribution { field: &'static str },

    #[error("`{0}` entries are written by rollback()/release() together with the switch change they record, never on their own")]
    ReservedAction(AuditAction),
}
