//! Store behaviour on real sled databases in temporary directories.

use super::*;
use crate::routing::{decide, Pattern, RequestKey, RolloutPolicy, Rule, Stack, Stage};
use crate::store::*;

fn by(actor: &str, reason: &str, at_unix_ms: u64) -> Attribution {
    Attribution {
        actor: actor.into(),
        reason: reason.into(),
        at_unix_ms,
        config_hash: "c0".repeat(32),
    }
}

fn scope(agency: Option<&str>, service: Option<&str>) -> SwitchScope {
    SwitchScope::new(agency, service)
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("dualroad-store-")
        .tempdir()
        .expect("temp dir")
}

/// A store with three entries: startup, rollback, config-reload.
fn store_with_log(dir: &Path) -> SledStore {
    let store = SledStore::open(dir).expect("open");
    store
        .append_audit(
            AuditAction::Startup,
            &by("dualroad", "start", 1_000),
            vec![],
        )
        .expect("startup");
    store
        .rollback(scope(Some("10000042"), None), &by("alice", "INC-7", 2_000))
        .expect("rollback");
    store
        .append_audit(
            AuditAction::ConfigReload,
            &by("dualroad", "SIGHUP", 3_000),
            vec!["fallback: legacy → shadow".into()],
        )
        .expect("reload");
    store
}

#[test]
fn fresh_store_is_stamped_and_empty() {
    let dir = tempdir();
    let path = dir.path().join("new/nested");
    let store = SledStore::open(&path).expect("open creates");
    assert_eq!(store.switch_state().expect("state"), SwitchState::default());
    assert_eq!(
        store.verify_audit().expect("verify"),
        VerifyReport::intact(0)
    );
    let raw = store
        .meta
        .get(KEY_SCHEMA_VERSION)
        .expect("read")
        .expect("stamped");
    assert_eq!(raw.as_ref(), CURRENT_SCHEMA_VERSION.to_be_bytes());
}

#[test]
fn switch_survives_reopen() {
    let dir = tempdir();
    {
        let store = SledStore::open(dir.path()).expect("open");
        let state = store
            .rollback(
                scope(Some("PS-UXP/GOV/*"), Some("moh.*")),
                &by("alice@ops", "INC-42", 1_700_000_000_000),
            )
            .expect("rollback");
        assert_eq!(state.entries.len(), 1);
        store
            .rollback(
                SwitchScope::all(),
                &by("bob@ops", "INC-43", 1_700_000_000_500),
            )
            .expect("global");
    }
    let store = SledStore::open(dir.path()).expect("reopen");
    let state = store.switch_state().expect("state");
    assert_eq!(
        state.entries,
        [
            SwitchEntry {
                agency: Some("PS-UXP/GOV/*".into()),
                service: Some("moh.*".into()),
                reason: "INC-42".into(),
                actor: "alice@ops".into(),
                at_unix_ms: 1_700_000_000_000,
            },
            SwitchEntry {
                agency: None,
                service: None,
                reason: "INC-43".into(),
                actor: "bob@ops".into(),
                at_unix_ms: 1_700_000_000_500
            },
        ]
    );
    // And the reloaded state actually routes: a UXP rule is overridden.
    let policy = RolloutPolicy::new(
        Stage::Uxp,
        vec![Rule {
            agency: Pattern::Any,
            service: Pattern::Any,
            stage: Stage::Uxp,
            origin: None,
        }],
    );
    let (a, s) = (
        vec!["10000055".to_string()],
        vec!["pop.findPerson.v1".to_string()],
    );
    let d = decide(
        &policy,
        &state,
        &RequestKey {
            agency: &a,
            service: &s,
            message_id: "m",
        },
    );
    assert_eq!((d.served_by, d.mirror_to), (Stack::Legacy, None));
}

#[test]
fn rollback_and_release_write_audit_entries() {
    let dir = tempdir();
    let store = SledStore::open(dir.path()).expect("open");
    // `"*"` and None are the same scope.
    store
        .rollback(
            scope(Some("10000042"), Some("*")),
            &by("alice", "INC-1", 10),
        )
        .expect("rollback");
    store
        .rollback(
            scope(Some("10000042"), None),
            &by("alice", "INC-1 again", 11),
        )
        .expect("refresh");
    assert_eq!(store.switch_state().expect("state").entries.len(), 1);
    let state = store
        .release(scope(Some("10000042"), None), &by("bob", "fixed", 20))
        .expect("release");
    assert!(state.is_empty());

    let log = store.audit_entries().expect("entries");
    let summary: Vec<_> = log
        .iter()
        .map(|e| {
            (
                e.seq,
                e.action,
                e.actor.as_str(),
                e.reason.as_str(),
                e.at_unix_ms,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, AuditAction::Rollback, "alice", "INC-1", 10),
            (2, AuditAction::Rollback, "alice", "INC-1 again", 11),
            (3, AuditAction::Release, "bob", "fixed", 20),
        ]
    );
    assert_eq!(
        log[0].details,
        ["scope agency=10000042 service=*", "rollbacks in effect: 1"]
    );
    assert_eq!(
        log[1].details[0],
        "scope agency=10000042 service=* (already rolled back; refreshed)"
    );
    assert_eq!(
        log[2].details[1],
        "rolled back at_unix_ms=11 by alice: INC-1 again"
    );
    assert_eq!(log[0].prev_hash, GENESIS_HASH);
    assert_eq!(log[1].prev_hash, log[0].hash);
    assert_eq!(log[0].config_hash, "c0".repeat(32));
}

#[test]
fn refused_changes_write_nothing() {
    let dir = tempdir();
    let store = SledStore::open(dir.path()).expect("open");
    let err = store
        .release(scope(Some("10000042"), None), &by("bob", "oops", 1))
        .expect_err("nothing to release");
    assert!(matches!(err, StoreError::NotRolledBack { .. }), "{err}");
    let err = store
        .rollback(scope(Some("a*b"), None), &by("bob", "x", 1))
        .expect_err("bad pattern");
    assert!(matches!(err, StoreError::InvalidScope(_)), "{err}");
    let err = store
        .rollback(SwitchScope::all(), &by("", "x", 1))
        .expect_err("no actor");
    assert!(
        matches!(err, StoreError::MissingAttribution { field: "actor" }),
        "{err}"
    );
    let err = store
        .rollback(SwitchScope::all(), &by("bob", " ", 1))
        .expect_err("no reason");
    assert!(
        matches!(err, StoreError::MissingAttribution { field: "reason" }),
        "{err}"
    );
    let err = store
        .append_audit(AuditAction::Rollback, &by("bob", "x", 1), vec![])
        .expect_err("reserved");
    assert!(
        matches!(err, StoreError::ReservedAction(AuditAction::Rollback)),
        "{err}"
    );
    assert!(store.audit_entries().expect("entries").is_empty());
    assert!(store.switch_state().expect("state").is_empty());
}

#[test]
fn audit_chain_verifies_across_reopen() {
    let dir = tempdir();
    drop(store_with_log(dir.path()));
    let store = SledStore::open_existing(dir.path()).expect("reopen");
    assert_eq!(
        store.verify_audit().expect("verify"),
        VerifyReport::intact(3)
    );
    // Appending after reopen continues the chain.
    store
        .append_audit(
            AuditAction::StageChange,
            &by("carol", "promote", 4_000),
            vec![],
        )
        .expect("append");
    let log = store.audit_entries().expect("entries");
    assert_eq!(
        (log[3].seq, log[3].prev_hash.as_str()),
        (4, log[2].hash.as_str())
    );
    assert_eq!(
        store.verify_audit().expect("verify"),
        VerifyReport::intact(4)
    );
}

/// Rewrites one stored entry's JSON directly in sled, as someone with disk access would.
fn tamper(store: &SledStore, seq: u64, edit: impl FnOnce(&mut serde_json::Value)) {
    let key = seq.to_be_bytes();
    let raw = store.audit.get(key).expect("read").expect("entry exists");
    let mut v: serde_json::Value = serde_json::from_slice(&raw).expect("json");
    edit(&mut v);
    store
        .audit
        .insert(key, serde_json::to_vec(&v).expect("encode"))
        .expect("write");
}

#[test]
fn edited_entry_is_detected_at_its_seq() {
    let dir = tempdir();
    let store = store_with_log(dir.path());
    tamper(&store, 2, |v| v["reason"] = "routine maintenance".into());
    let report = store.verify_audit().expect("verify");
    assert_eq!(
        (report.ok, report.entries, report.first_bad),
        (false, 1, Some(2))
    );
    assert!(
        report.problem.as_deref().unwrap_or("").contains("altered"),
        "{report:?}"
    );
}

#[test]
fn edited_entry_with_recomputed_hash_breaks_the_next_link() {
    let dir = tempdir();
    let store = store_with_log(dir.path());
    tamper(&store, 2, |v| {
        v["reason"] = "routine maintenance".into();
        let mut e: AuditEntry = serde_json::from_value(v.clone()).expect("entry");
        e.hash = e.compute_hash();
        *v = serde_json::to_value(&e).expect("value");
    });
    let report = store.verify_audit().expect("verify");
    assert_eq!((report.ok, report.first_bad), (false, Some(3)));
    assert!(
        report
            .problem
            .as_deref()
            .unwrap_or("")
            .contains("prev_hash"),
        "{report:?}"
    );
}

#[test]
fn deleted_entry_is_detected() {
    let dir = tempdir();
    let store = store_with_log(dir.path());
    store.audit.remove(2u64.to_be_bytes()).expect("remove");
    let report = store.verify_audit().expect("verify");
    assert_eq!(
        (report.ok, report.entries, report.first_bad),
        (false, 1, Some(2))
    );
    assert_eq!(
        report.problem.as_deref(),
        Some("entry 2 is missing (the next stored entry is 3)")
    );
}

#[test]
fn removed_tail_is_detected_through_the_head() {
    let dir = tempdir();
    let store = store_with_log(dir.path());
    store.audit.remove(3u64.to_be_bytes()).expect("remove");
    let report = store.verify_audit().expect("verify");
    assert_eq!(
        (report.ok, report.entries, report.first_bad),
        (false, 2, Some(3))
    );
    assert!(
        report
            .problem
            .as_deref()
            .unwrap_or("")
            .contains("removed from the end"),
        "{report:?}"
    );
}

#[test]
fn undecodable_or_extended_entry_is_detected() {
    let dir = tempdir();
    let store = store_with_log(dir.path());
    tamper(&store, 3, |v| v["approved_by"] = "nobody".into());
    let report = store.verify_audit().expect("verify");
    assert_eq!(report.first_bad, Some(3));
    store
        .audit
        .insert(1u64.to_be_bytes(), &b"\xff not json"[..])
        .expect("write");
    let report = store.verify_audit().expect("verify");
    assert_eq!((report.entries, report.first_bad), (0, Some(1)));
    // Listing refuses rather than skipping what it cannot read.
    assert!(matches!(
        store.audit_entries(),
        Err(StoreError::Corrupt { .. })
    ));
}

#[test]
fn garbage_data_dir_is_refused() {
    let dir = tempdir();
    std::fs::write(dir.path().join("notes.txt"), "not a database").expect("write");
    std::fs::create_dir(dir.path().join("backups")).expect("mkdir");
    let err = SledStore::open(dir.path()).expect_err("garbage dir");
    match &err {
        StoreError::NotAStore { path, found } => {
            assert_eq!(path, dir.path());
            assert_eq!(found, "found backups, notes.txt");
        }
        other => panic!("expected NotAStore, got {other}"),
    }
    assert!(err.to_string().contains(&dir.path().display().to_string()));
    // Nothing was created next to the garbage.
    assert!(!dir.path().join("conf").exists());
}

#[test]
fn corrupt_sled_files_are_an_error_not_a_fresh_store() {
    let garbage_db = vec![7u8; 4096];
    // A conf sled can parse as garbage: sled itself refuses.
    let dir = tempdir();
    std::fs::write(dir.path().join("conf"), "garbage garbage garbage").expect("write");
    std::fs::write(dir.path().join("db"), &garbage_db).expect("write");
    let err = SledStore::open(dir.path()).expect_err("corrupt conf");
    assert!(matches!(err, StoreError::Open { .. }), "{err}");

    // A conf of 8 bytes or less: sled would start over; we stop before it touches
    // anything.
    let dir = tempdir();
    std::fs::write(dir.path().join("conf"), "garbage").expect("write");
    std::fs::write(dir.path().join("db"), &garbage_db).expect("write");
    let err = SledStore::open(dir.path()).expect_err("truncated conf");
    assert!(
        matches!(&err, StoreError::Corrupt { what, .. } if what.contains("conf")),
        "{err}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("db")).expect("db"),
        garbage_db,
        "db file left as found"
    );
}

#[test]
fn existing_database_that_opens_empty_is_not_stamped_as_new() {
    // A real store whose db file lost its content: sled recovers "nothing".
    let dir = tempdir();
    drop(store_with_log(dir.path()));
    std::fs::write(dir.path().join("db"), b"").expect("truncate db");
    let err = SledStore::open(dir.path()).expect_err("damaged store");
    assert!(
        matches!(&err, StoreError::SchemaUnreadable { detail, .. } if detail.contains("damaged")),
        "{err}"
    );
    // And it stays refused: nothing was stamped on the way.
    assert!(SledStore::open(dir.path()).is_err());
}

#[test]
fn a_file_is_not_a_data_dir() {
    let dir = tempdir();
    let file = dir.path().join("dualroad.db");
    std::fs::write(&file, "x").expect("write");
    assert!(matches!(
        SledStore::open(&file),
        Err(StoreError::NotADirectory { .. })
    ));
}

#[test]
fn foreign_sled_database_is_refused() {
    let dir = tempdir();
    {
        let db = raw_sled(dir.path());
        db.open_tree("orders")
            .expect("tree")
            .insert(b"k", b"v")
            .expect("insert");
        db.flush().expect("flush");
    }
    let err = SledStore::open(dir.path()).expect_err("foreign db");
    assert!(
        matches!(&err, StoreError::NotAStore { found, .. } if found.contains("orders")),
        "{err}"
    );
}

#[test]
fn open_existing_refuses_missing_or_empty_dir() {
    let dir = tempdir();
    let missing = dir.path().join("typo");
    assert!(matches!(
        SledStore::open_existing(&missing),
        Err(StoreError::Missing { .. })
    ));
    assert!(
        !missing.exists(),
        "open_existing must not create the directory"
    );
    assert!(matches!(
        SledStore::open_existing(dir.path()),
        Err(StoreError::Empty { .. })
    ));
}

fn write_schema_version(dir: &Path, raw: &[u8]) {
    let store = SledStore::open(dir).expect("open");
    store.meta.insert(KEY_SCHEMA_VERSION, raw).expect("write");
    store.flush().expect("flush");
}

#[test]
fn newer_schema_version_is_refused() {
    let dir = tempdir();
    write_schema_version(dir.path(), &(CURRENT_SCHEMA_VERSION + 1).to_be_bytes());
    let err = SledStore::open(dir.path()).expect_err("newer schema");
    assert!(
        matches!(
            err,
            StoreError::SchemaTooNew {
                found: 2,
                supported: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "{err}"
    );
}

#[test]
fn older_or_unreadable_schema_version_is_refused() {
    let dir = tempdir();
    write_schema_version(dir.path(), &0u32.to_be_bytes());
    assert!(matches!(
        SledStore::open(dir.path()),
        Err(StoreError::SchemaTooOld { found: 0, .. })
    ));
    write_schema_version_raw(dir.path(), b"v1\n");
    let err = SledStore::open(dir.path()).expect_err("unreadable");
    assert!(matches!(err, StoreError::SchemaUnreadable { .. }), "{err}");
}

/// Like `write_schema_version`, for a store that no longer opens through `SledStore`.
fn write_schema_version_raw(dir: &Path, raw: &[u8]) {
    let db = raw_sled(dir);
    db.open_tree(TREE_META)
        .expect("meta")
        .insert(KEY_SCHEMA_VERSION, raw)
        .expect("write");
    db.flush().expect("flush");
}

#[test]
fn missing_schema_version_with_data_is_refused() {
    let dir = tempdir();
    drop(store_with_log(dir.path()));
    {
        let db = raw_sled(dir.path());
        db.open_tree(TREE_META)
            .expect("meta")
            .remove(KEY_SCHEMA_VERSION)
            .expect("remove");
        db.flush().expect("flush");
    }
    assert!(matches!(
        SledStore::open(dir.path()),
        Err(StoreError::SchemaUnreadable { .. })
    ));
}

#[test]
fn second_open_of_a_live_store_fails_clearly() {
    let dir = tempdir();
    let _live = SledStore::open(dir.path()).expect("open");
    let err = SledStore::open_existing(dir.path()).expect_err("locked");
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
    assert!(
        err.to_string().contains("another dualroad process"),
        "{err}"
    );
}

/// Opens the raw sled database behind a store that was just dropped. sled releases its
/// file lock lazily after the last handle goes (sled #1234); the store's own opener
/// retries while the lock is contended, so wait on that rather than on a sleep here.
fn raw_sled(path: &std::path::Path) -> sled::Db {
    super::open_sled(path, crate::store::DEFAULT_CACHE_CAPACITY).expect("sled")
}

#[test]
fn sled_keeps_the_store_contract() {
    let dir = tempdir();
    let store = SledStore::open(dir.path()).expect("open");
    crate::store::contract::check_store(&store);
}
