//! The audit log's entry format and hash chain.
//!
//! Every switch change, config reload and startup appends one [`AuditEntry`]. Each entry
//! carries the hash of the one before it (`prev_hash`) and its own `hash` over all its
//! other fields, so editing, inserting or removing an entry anywhere breaks the chain
//! from that point on. That makes the log tamper-*evident* for anyone who can read it;
//! it is not tamper-*proof* against someone who can rewrite the whole chain (that needs
//! the head hash anchored outside the machine, e.g. in a ticket or a signed export).
//!
//! The hashed form is spelled out in [`AuditEntry::compute_hash`] rather than left to
//! serde, because it is a file format: it must not change when a struct field is
//! reordered or renamed.
//!
//! Everything here is independent of where the log is kept: a backend stores rows and
//! the head, builds each new entry with [`AuditEntry::next`] inside its atomic write, and
//! leaves checking the chain to [`verify_chain`].

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuditAction {
    /// Traffic forced back to legacy (written by `Store::rollback`).
    Rollback,
    /// A rollback lifted (written by `Store::release`).
    Release,
    /// A new configuration took effect; `details` holds `Settings::diff`.
    ConfigReload,
    /// A stage changed outside a config reload.
    StageChange,
    /// The gateway started with the configuration in `config_hash`.
    Startup,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Rollback => "rollback",
            AuditAction::Release => "release",
            AuditAction::ConfigReload => "config-reload",
            AuditAction::StageChange => "stage-change",
            AuditAction::Startup => "startup",
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made a change, why, when, and under which configuration. The store never reads
/// the clock: callers pass the time, which keeps the store deterministic under test and
/// makes the recorded time the one the caller acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    /// Operator or component, e.g. `alice@ops` or `dualroad-serve`.
    pub actor: String,
    /// Free text; for rollbacks, typically the incident id.
    pub reason: String,
    pub at_unix_ms: u64,
    /// `Settings::hash` of the configuration in force.
    pub config_hash: String,
}

/// One entry of the audit log, exactly as stored (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    /// 1-based, gapless; also the entry's key (big-endian u64).
    pub seq: u64,
    pub at_unix_ms: u64,
    pub actor: String,
    pub action: AuditAction,
    pub reason: String,
    pub config_hash: String,
    /// Human-readable lines: the switch scope, a config diff, …
    pub details: Vec<String>,
    /// `hash` of entry `seq - 1`, or [`GENESIS_HASH`] for the first.
    pub prev_hash: String,
    /// [`AuditEntry::compute_hash`] of this entry.
    pub hash: String,
}

impl AuditEntry {
    /// Builds the entry following `prev` (`None` for the first) and seals it.
    pub fn next(
        prev: Option<(u64, &str)>,
        action: AuditAction,
        by: &Attribution,
        details: Vec<String>,
    ) -> Self {
        let (seq, prev_hash) = match prev {
            Some((seq, hash)) => (seq.saturating_add(1), hash.to_string()),
            None => (1, GENESIS_HASH.to_string()),
        };
        let mut entry = AuditEntry {
            seq,
            at_unix_ms: by.at_unix_ms,
            actor: by.actor.clone(),
            action,
            reason: by.reason.clone(),
            config_hash: by.config_hash.clone(),
            details,
            prev_hash,
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        entry
    }

    /// SHA-256 (lowercase hex) over the canonical JSON of every field except `hash`:
    /// one object, keys sorted, no whitespace, serde_json string escaping, integers as
    /// plain decimals. `prev_hash` is included, which is what chains the entries.
    /// The same bytes as Python's `json.dumps(body, sort_keys=True,
    /// separators=(",", ":"), ensure_ascii=False)`, so an auditor can re-verify an
    /// exported log without dualroad.
    pub fn compute_hash(&self) -> String {
        use serde_json::{Map, Value};
        let mut body = Map::new();
        body.insert("action".into(), Value::from(self.action.as_str()));
        body.insert("actor".into(), Value::from(self.actor.as_str()));
        body.insert("at_unix_ms".into(), Value::from(self.at_unix_ms));
        body.insert("config_hash".into(), Value::from(self.config_hash.as_str()));
        body.insert(
            "details".into(),
            Value::Array(
                self.details
                    .iter()
                    .map(|d| Value::from(d.as_str()))
                    .collect(),
            ),
        );
        body.insert("prev_hash".into(), Value::from(self.prev_hash.as_str()));
        body.insert("reason".into(), Value::from(self.reason.as_str()));
        body.insert("seq".into(), Value::from(self.seq));
        let mut canonical = String::new();
        write_canonical(&Value::Object(body), &mut canonical);
        hex::encode(Sha256::digest(canonical.as_bytes()))
    }
}

/// Compact JSON with object keys sorted, independent of serde_json's `preserve_order`
/// feature (which another crate in the build could switch on).
fn write_canonical(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::from(k.as_str()).to_string());
                out.push(':');
                if let Some(v) = map.get(k) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The outcome of checking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Entries verified intact (before the first problem, or all of them).
    pub entries: u64,
    pub ok: bool,
    /// The first sequence number that is wrong or missing.
    pub first_bad: Option<u64>,
    /// What is wrong there, in words.
    pub problem: Option<String>,
}

impl VerifyReport {
    pub(crate) fn intact(entries: u64) -> Self {
        VerifyReport {
            entries,
            ok: true,
            first_bad: None,
            problem: None,
        }
    }

    pub(crate) fn broken(entries: u64, seq: u64, problem: String) -> Self {
        VerifyReport {
            entries,
            ok: false,
            first_bad: Some(seq),
            problem: Some(problem),
        }
    }
}

/// Where the chain ends, kept next to the entries so a removed tail is detected. A
/// backend stores it in the same atomic write as the entry it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditHead {
    pub seq: u64,
    pub hash: String,
}

/// How a stored entry is keyed. A backend keyed by an integer column only ever yields
/// [`AuditKey::Seq`]; a byte-keyed one (sled) reports a key that is not an 8-byte
/// big-endian number as [`AuditKey::Malformed`], so verification can say so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditKey {
    Seq(u64),
    Malformed(Vec<u8>),
}

impl AuditKey {
    /// From a big-endian u64 key.
    pub fn from_bytes(raw: &[u8]) -> AuditKey {
        match <[u8; 8]>::try_from(raw) {
            Ok(b) => AuditKey::Seq(u64::from_be_bytes(b)),
            Err(_) => AuditKey::Malformed(raw.to_vec()),
        }
    }

    /// For messages: the sequence number when it is one, hex otherwise.
    pub fn label(&self) -> String {
        match self {
            AuditKey::Seq(seq) => seq.to_string(),
            AuditKey::Malformed(raw) => hex::encode(raw),
        }
    }
}

/// One stored entry as the backend holds it: its key and the entry's JSON, undecoded
/// (verification must see damage, not have it decoded away).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub key: AuditKey,
    pub value: Vec<u8>,
}

/// Decodes one stored entry; `location` names the store in the error.
pub fn decode_row(
    row: &AuditRow,
    location: &std::path::Path,
) -> Result<AuditEntry, crate::store::StoreError> {
    serde_json::from_slice(&row.value).map_err(|e| crate::store::StoreError::Corrupt {
        path: location.to_path_buf(),
        what: format!("audit entry {}", row.key.label()),
        detail: e.to_string(),
    })
}

/// Walks the whole chain, whatever stores it: sequence numbers gapless from 1, each
/// `prev_hash` equal to the previous entry's `hash`, each `hash` matching the entry's
/// content, and the last entry matching the recorded head (read by `head` once the
/// rows are walked). Stops at the first problem. `rows` must be in key order. An
/// `Err` means the log could not be read; damage (including a head that does not
/// decode, reported by `head` as [`StoreError::Corrupt`](crate::store::StoreError))
/// is reported in the [`VerifyReport`].
pub fn verify_chain(
    rows: impl Iterator<Item = Result<AuditRow, crate::store::StoreError>>,
    head: impl FnOnce() -> Result<Option<AuditHead>, crate::store::StoreError>,
) -> Result<VerifyReport, crate::store::StoreError> {
    let mut expected = 1u64;
    let mut prev_hash = GENESIS_HASH.to_string();
    for row in rows {
        let row = row?;
        let verified = expected - 1;
        let seq = match row.key {
            AuditKey::Seq(seq) => seq,
            AuditKey::Malformed(_) => {
                return Ok(VerifyReport::broken(
                    verified,
                    expected,
                    format!("key {} is not an 8-byte sequence number", row.key.label()),
                ));
            }
        };
        if seq != expected {
            let problem = if seq > expected {
                format!("entry {expected} is missing (the next stored entry is {seq})")
            } else {
                format!("entry {seq} appears after entry {verified}")
            };
            return Ok(VerifyReport::broken(verified, expected, problem));
        }
        let entry: AuditEntry = match serde_json::from_slice(&row.value) {
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
    let head = match head() {
        Ok(h) => h,
        Err(e @ crate::store::StoreError::Corrupt { .. }) => {
            return Ok(VerifyReport::broken(
                verified,
                after_last,
                format!("the recorded head is unreadable: {e}"),
            ))
        }
        Err(e) => return Err(e),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn by() -> Attribution {
        Attribution {
            actor: "alice@ops".into(),
            reason: "INC-42 \"quoted\" ünïcode".into(),
            at_unix_ms: 1_700_000_000_000,
            config_hash: "ab".repeat(32),
        }
    }

    #[test]
    fn hash_covers_every_field_but_itself() {
        let e = AuditEntry::next(
            None,
            AuditAction::Rollback,
            &by(),
            vec!["scope agency=* service=*".into()],
        );
        assert_eq!((e.seq, e.prev_hash.as_str()), (1, GENESIS_HASH));
        assert_eq!(e.hash, e.compute_hash());
        let variants: Vec<AuditEntry> = vec![
            AuditEntry {
                seq: 2,
                ..e.clone()
            },
            AuditEntry {
                at_unix_ms: 1,
                ..e.clone()
            },
            AuditEntry {
                actor: "mallory".into(),
                ..e.clone()
            },
            AuditEntry {
                action: AuditAction::Release,
                ..e.clone()
            },
            AuditEntry {
                reason: "nothing to see".into(),
                ..e.clone()
            },
            AuditEntry {
                config_hash: "cd".repeat(32),
                ..e.clone()
            },
            AuditEntry {
                details: vec![],
                ..e.clone()
            },
            AuditEntry {
                prev_hash: "1".repeat(64),
                ..e.clone()
            },
        ];
        for v in variants {
            assert_ne!(v.compute_hash(), e.hash, "{v:?}");
        }
        let next = AuditEntry::next(Some((e.seq, &e.hash)), AuditAction::Release, &by(), vec![]);
        assert_eq!((next.seq, next.prev_hash.as_str()), (2, e.hash.as_str()));
    }

    #[test]
    fn canonical_form_is_pinned() {
        // The hashed bytes are a file format: changing them invalidates every stored log.
        let e = AuditEntry::next(None, AuditAction::Startup, &by(), vec!["a".into()]);
        let mut s = String::new();
        let v = serde_json::json!({"seq": 1, "b": [1, {"z": null, "a": "\u{e9}"}], "a": true});
        write_canonical(&v, &mut s);
        assert_eq!(s, r#"{"a":true,"b":[1,{"a":"é","z":null}],"seq":1}"#);
        assert_eq!(e.hash, PINNED_STARTUP_HASH);
    }
    /// Cross-checked outside Rust: Python's
    /// `json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`
    /// hashes to the same value.
    const PINNED_STARTUP_HASH: &str =
        "a48139b241036e3639183ba40234a03a3a6ec570bb7efea8608ea7c1c02a0e2f";
}
