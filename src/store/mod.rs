//! Durable state: the rollback switch, the tamper-evident audit log and the exchange
//! store (shadow-mode evidence), behind two traits so that more than one backend can
//! keep them: [`Store`] (switch state and audit chain) and [`EvidenceStore`]
//! (exchange, diff and capture records, counters, noise models, the redaction key).
//! The one backend today is sled, in one data directory ([`sled_store`]:
//! [`SledStore`] and [`SledEvidence`]).
//!
//! Read at startup (the switch must survive restarts: a rollback that evaporates on
//! restart is worse than none) and written by the admin API and the reload path. The
//! proxy never touches it per request: it reads a [`SwitchState`] snapshot handed over
//! after each change, and `routing::decide` consults that.
//!
//! Callers hold `Arc<dyn Store>` (and [`ExchangeStore`], an `Arc<dyn EvidenceStore>`)
//! and never see a backend's types. A backend writes only the required methods, which
//! store and read; everything that decides is shared and lives here, not in a backend:
//! validating and describing switch changes ([`Store::rollback`], [`Store::release`]),
//! building and hashing audit entries and verifying the chain ([`audit`]), the
//! record format, readers and retention decisions ([`exchanges`]), redaction
//! ([`redact`]) and the writer's batching ([`writer`]). `store::contract` (tests)
//! checks the contract below against any backend.
//!
//! What "acknowledged" means: a call that changes the switch or appends to the audit
//! log returns `Ok` only once the change is durable — it survives a crash, `kill -9`
//! and a restart, and (for a shared backend) every node sees it on its next read.
//! Nothing acknowledged is ever lost. Every switch change is written together with its
//! audit entry in one atomic write: there is never a switch change without its audit
//! entry, or the reverse. Exchange records are flushed every
//! [`writer::DEFAULT_FLUSH_INTERVAL`] instead: they are many, and losing the last
//! second of them in a crash is acceptable where losing a rollback is not (see
//! [`EvidenceStore`] for their guarantees).

pub mod audit;
#[cfg(test)]
pub(crate) mod contract;
pub mod error;
pub mod exchanges;
pub mod redact;
pub mod sled_store;
pub mod writer;

use std::fmt;
use std::path::Path;

pub use audit::{
    Attribution, AuditAction, AuditEntry, AuditHead, AuditKey, AuditRow, VerifyReport, GENESIS_HASH,
};
pub use error::StoreError;
pub use exchanges::{
    CaptureFilter, Counter, Encoded, EvidenceStore, ExchangeStore, Kind, KindCounts, RawKey,
    RawRecord, RawScan, Records, RetentionPolicy, RetentionReport, SkipCounters, Skipped,
    StoreCounters,
};
pub use redact::{RedactError, RedactionConfig, RedactionConfigError, Redactor};
pub use sled_store::{SledEvidence, SledStore, DEFAULT_CACHE_CAPACITY};
pub use writer::{Clock, ExchangeWriter, Submitted, WriterConfig, WriterStats};

use crate::routing::{SwitchEntry, SwitchScope, SwitchState};

/// The schema this build reads and writes. Bump it with a migration (and a frozen copy
/// of the old layout under `fixtures/store/`) whenever a stored format changes.
pub const CURRENT_SCHEMA_VERSION: u32 = 1;

/// A change to the switch state, applied inside [`Store::commit_switch_change`]'s
/// atomic write. It returns the audit entry's details, or an error to abort (nothing
/// is written then). A backend may run it more than once (a retried transaction), so
/// it must depend on nothing but the state it is given.
pub type SwitchChange<'a> = dyn Fn(&mut SwitchState) -> Result<Vec<String>, StoreError> + 'a;

/// How the shell holds the store: one open backend, shared.
pub type SharedStore = std::sync::Arc<dyn Store>;

/// The audit log's rows in key order, undecoded.
pub type AuditRows = Box<dyn Iterator<Item = Result<AuditRow, StoreError>> + Send>;

/// Where the switch state and the audit chain are kept. Shared as `Arc<dyn Store>`;
/// every method takes `&self` and is safe to call from several threads (and, for a
/// shared backend, several nodes) at once.
///
/// A backend implements the required methods; the provided ones (the API callers
/// use) validate, describe and verify, the same for every backend: do not override
/// them. The contract a backend must keep:
/// - **Atomic and serialised.** [`commit_switch_change`](Store::commit_switch_change)
///   reads the switch state and the audit head, applies the change, and writes the
///   new state, the new entry and the new head as one atomic unit, serialised against
///   every other commit (a transaction; for several nodes, one that locks the head
///   row or retries on conflict). [`commit_audit_entry`](Store::commit_audit_entry)
///   does the same without touching the switch. Either all of it is stored or none.
/// - **Chained.** The entry is built with [`AuditEntry::next`] from the head read in
///   that same unit, so sequence numbers are gapless from 1 and each entry's
///   `prev_hash` is the entry before it's `hash`, however many writers race.
/// - **Durable when acknowledged.** Both commit methods return `Ok` only once what they
///   wrote is durable; nothing acknowledged is lost, and a failed or aborted commit
///   leaves no trace.
/// - **Reads.** [`switch_state`](Store::switch_state) returns the last acknowledged
///   state (the default when nothing was ever stored); [`audit_rows`](Store::audit_rows)
///   yields every stored row in ascending sequence order, streamed, including rows
///   that no longer decode (verification must see them); [`audit_head`](Store::audit_head)
///   returns the recorded head, or [`StoreError::Corrupt`] if it does not decode.
/// - **Errors.** Storage failures are [`StoreError::Storage`] (sled) or
///   [`StoreError::Backend`]; damage is [`StoreError::Corrupt`].
pub trait Store: Send + Sync + fmt::Debug {
    /// Where the data lives, as error messages name it (the data directory for sled).
    fn path(&self) -> &Path;

    /// The evidence records kept next to the switch (shares the backend; cheap).
    fn exchanges(&self) -> ExchangeStore;

    /// The rollbacks in effect, as last acknowledged.
    fn switch_state(&self) -> Result<SwitchState, StoreError>;

    /// Applies `change` to the switch state and appends its audit entry (`action`,
    /// `by`, the details `change` returns), atomically and durably. Returns the new
    /// state.
    fn commit_switch_change(
        &self,
        action: AuditAction,
        by: &Attribution,
        change: &SwitchChange<'_>,
    ) -> Result<SwitchState, StoreError>;

    /// Appends one entry, atomically and durably. Returns it.
    fn commit_audit_entry(
        &self,
        action: AuditAction,
        by: &Attribution,
        details: &[String],
    ) -> Result<AuditEntry, StoreError>;

    /// Every stored audit row, oldest first.
    /// A backend that cannot start the read yields one `Err` and ends.
    fn audit_rows(&self) -> AuditRows;

    /// The recorded end of the chain.
    fn audit_head(&self) -> Result<Option<AuditHead>, StoreError>;

    /// Makes everything written so far durable (evidence included).
    fn flush(&self) -> Result<(), StoreError>;

    // === provided: the same for every backend ===

    /// Forces traffic in `scope` to legacy, with no mirror, until released. Rolling
    /// back a scope that already is refreshes its actor, reason and time. Returns the
    /// new switch state, already durable.
    fn rollback(&self, scope: SwitchScope, by: &Attribution) -> Result<SwitchState, StoreError> {
        let scope = normalize(scope)?;
        require_attribution(by, true)?;
        self.commit_switch_change(AuditAction::Rollback, by, &|state| {
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
    fn release(&self, scope: SwitchScope, by: &Attribution) -> Result<SwitchState, StoreError> {
        let scope = normalize(scope)?;
        require_attribution(by, true)?;
        self.commit_switch_change(
            AuditAction::Release,
            by,
            &|state| match state.remove(&scope) {
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
            },
        )
    }

    /// Appends an entry that records something other than a switch change (startup,
    /// config reload, stage change). Durable when it returns.
    fn append_audit(
        &self,
        action: AuditAction,
        by: &Attribution,
        details: Vec<String>,
    ) -> Result<AuditEntry, StoreError> {
        if matches!(action, AuditAction::Rollback | AuditAction::Release) {
            return Err(StoreError::ReservedAction(action));
        }
        require_attribution(by, false)?;
        self.commit_audit_entry(action, by, &details)
    }

    /// Every entry, oldest first, decoded as it is read. Fails on an entry that does
    /// not decode; use [`Store::verify_audit`] to find out what is wrong with a
    /// damaged log.
    fn audit_stream(&self) -> Box<dyn Iterator<Item = Result<AuditEntry, StoreError>> + Send> {
        let path = self.path().to_path_buf();
        Box::new(
            self.audit_rows()
                .map(move |row| row.and_then(|row| audit::decode_row(&row, &path))),
        )
    }

    /// [`Store::audit_stream`], collected (the log is small: one entry per change).
    fn audit_entries(&self) -> Result<Vec<AuditEntry>, StoreError> {
        self.audit_stream().collect()
    }

    /// Walks the whole chain ([`audit::verify_chain`]). An `Err` means the log could
    /// not be read at all; damage is reported in the [`VerifyReport`].
    fn verify_audit(&self) -> Result<VerifyReport, StoreError> {
        audit::verify_chain(self.audit_rows(), || self.audit_head())
    }
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
