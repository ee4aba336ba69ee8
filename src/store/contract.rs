//! The contract every backend keeps, as tests that take the backend as a trait object:
//! a new backend runs [`check_store`] on a fresh, empty store of its own (and then
//! its own tests for what only it can get wrong, such as crash recovery). The sled
//! backend runs it in `sled_store::tests`.

use std::collections::HashMap;

use super::*;
use crate::evidence::{DiffPath, DiffRecord, RecordKey};
use crate::routing::SwitchScope;

fn by(actor: &str, reason: &str, at_unix_ms: u64) -> Attribution {
    Attribution {
        actor: actor.into(),
        reason: reason.into(),
        at_unix_ms,
        config_hash: "c0".repeat(32),
    }
}

/// Runs every check on `store`, which must be new and empty.
pub(crate) fn check_store(store: &dyn Store) {
    starts_empty(store);
    switch_changes_are_chained_and_atomic(store);
    evidence_round_trips_in_key_order(&*store.exchanges());
    counters_add_atomically_and_clamp(&*store.exchanges());
    noise_models_and_redaction_key(&*store.exchanges());
}

fn starts_empty(store: &dyn Store) {
    assert_eq!(store.switch_state().unwrap(), SwitchState::default());
    assert_eq!(store.audit_rows().count(), 0);
    assert_eq!(store.audit_head().unwrap(), None);
    assert_eq!(store.verify_audit().unwrap(), VerifyReport::intact(0));
    let ex = store.exchanges();
    assert_eq!(ex.exchanges_between(0, u64::MAX).count(), 0);
    assert_eq!(ex.counters().unwrap(), StoreCounters::default());
}

fn switch_changes_are_chained_and_atomic(store: &dyn Store) {
    let scope = SwitchScope::new(Some("10000042"), None);
    store
        .append_audit(AuditAction::Startup, &by("dualroad", "start", 1), vec![])
        .unwrap();
    let state = store
        .rollback(scope.clone(), &by("alice", "INC-1", 2))
        .unwrap();
    assert_eq!(state.entries.len(), 1);
    assert_eq!(
        store.switch_state().unwrap(),
        state,
        "acknowledged is readable"
    );
    // An aborted change writes nothing: neither the switch nor an entry.
    let other = SwitchScope::new(Some("10000077"), None);
    assert!(matches!(
        store.release(other, &by("bob", "oops", 3)),
        Err(StoreError::NotRolledBack { .. })
    ));
    assert_eq!(store.switch_state().unwrap(), state);
    assert_eq!(store.audit_rows().count(), 2);
    store.release(scope, &by("bob", "INC-1 over", 4)).unwrap();
    assert_eq!(store.switch_state().unwrap(), SwitchState::default());

    let entries = store.audit_entries().unwrap();
    let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3], "gapless from 1, in order");
    assert_eq!(entries[0].prev_hash, GENESIS_HASH);
    for pair in entries.windows(2) {
        assert_eq!(
            pair[1].prev_hash, pair[0].hash,
            "each entry names the one before"
        );
    }
    let actions: Vec<AuditAction> = entries.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        [
            AuditAction::Startup,
            AuditAction::Rollback,
            AuditAction::Release
        ]
    );
    let head = store.audit_head().unwrap().expect("a head");
    assert_eq!(
        (head.seq, head.hash.as_str()),
        (3, entries[2].hash.as_str())
    );
    assert_eq!(store.verify_audit().unwrap(), VerifyReport::intact(3));
    // Rows are what was stored: each decodes to its entry under its own key.
    for (row, entry) in store.audit_rows().zip(&entries) {
        let row = row.unwrap();
        assert_eq!(row.key, AuditKey::Seq(entry.seq));
        assert_eq!(&audit::decode_row(&row, store.path()).unwrap(), entry);
    }
    // Concurrent commits still chain: no two entries share a sequence number.
    std::thread::scope(|s| {
        for t in 0..4u64 {
            s.spawn(move || {
                for i in 0..5u64 {
                    store
                        .append_audit(
                            AuditAction::StageChange,
                            &by("dualroad", "race", 100 + t * 10 + i),
                            vec![],
                        )
                        .unwrap();
                }
            });
        }
    });
    assert_eq!(store.verify_audit().unwrap(), VerifyReport::intact(23));
}

fn diff_at(at_unix_ms: u64, seq: u64, outcome: &str) -> DiffRecord {
    DiffRecord {
        id: RecordKey { at_unix_ms, seq },
        at_unix_ms,
        agency: "A".into(),
        service: "moh.getPatientSummary.v2".into(),
        outcome: outcome.parse().unwrap(),
        paths: vec![DiffPath {
            path: "Body/x".into(),
            kind: "changed".into(),
            primary: Some("1".into()),
            shadow: Some("2".into()),
            noise: false,
        }],
        unified: "-1\n+2\n".into(),
    }
}

fn evidence_round_trips_in_key_order(ex: &dyn EvidenceStore) {
    // Written out of order, in two batches; read back in key order, both ways.
    let mut keys = Vec::new();
    for at in [30u64, 10, 20, 10] {
        let key = RecordKey {
            at_unix_ms: at,
            seq: ex.next_seq().unwrap(),
        };
        keys.push(key);
        let value = exchanges::encode(&diff_at(at, key.seq, "body-diff")).unwrap();
        ex.write(&[Encoded {
            kind: Kind::Diff,
            key,
            value,
        }])
        .unwrap();
    }
    let seqs: Vec<u64> = keys.iter().map(|k| k.seq).collect();
    let mut unique = seqs.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), seqs.len(), "sequence numbers are unique");
    ex.flush().unwrap();
    let mut sorted = keys.clone();
    sorted.sort();
    let read: Vec<RecordKey> = ex
        .diffs_between(0, u64::MAX)
        .map(|r| r.unwrap().0)
        .collect();
    assert_eq!(read, sorted, "oldest first");
    let back: Vec<RecordKey> = ex
        .diffs_between(0, u64::MAX)
        .rev()
        .map(|r| r.unwrap().0)
        .collect();
    assert_eq!(back, sorted.iter().rev().copied().collect::<Vec<_>>());
    // Bounds: since inclusive, until exclusive; a reversed range is empty.
    let mid: Vec<u64> = ex
        .diffs_between(10, 30)
        .map(|r| r.unwrap().0.at_unix_ms)
        .collect();
    assert_eq!(mid, [10, 10, 20]);
    assert_eq!(ex.diffs_between(30, 10).count(), 0);
    assert_eq!(
        ex.scan(Kind::Exchange, 0, u64::MAX).count(),
        0,
        "kinds are apart"
    );
    // Point reads and the byte count.
    let d = ex.diff(keys[0]).unwrap().expect("stored");
    assert_eq!(d.at_unix_ms, 30);
    assert_eq!(ex.diff(RecordKey::first_at(5)).unwrap(), None);
    let bytes: u64 = ex
        .scan(Kind::Diff, 0, u64::MAX)
        .map(|r| r.unwrap().size())
        .sum();
    assert_eq!(ex.counters().unwrap().stored_bytes, bytes);
    // Retention by age removes what is older, and accounts for it.
    let report = ex
        .enforce_retention(
            &RetentionPolicy {
                max_age: Some(std::time::Duration::from_millis(15)),
                max_bytes: None,
            },
            30,
        )
        .unwrap();
    assert_eq!(report.by_age.diffs, 2);
    let left: Vec<u64> = ex
        .diffs_between(0, u64::MAX)
        .map(|r| r.unwrap().0.at_unix_ms)
        .collect();
    assert_eq!(left, [20, 30]);
    let bytes: u64 = ex
        .scan(Kind::Diff, 0, u64::MAX)
        .map(|r| r.unwrap().size())
        .sum();
    assert_eq!(report.stored_bytes, bytes);
    assert_eq!(ex.counters().unwrap().retention_removed, 2);
}

fn counters_add_atomically_and_clamp(ex: &dyn EvidenceStore) {
    let c = Counter::FailedWrites;
    let before = ex.read_counter(c).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..25 {
                    ex.add_counter(c, 1).unwrap();
                }
            });
        }
    });
    assert_eq!(ex.read_counter(c).unwrap(), before + 100, "no lost update");
    assert_eq!(
        ex.add_counter(c, -i128::from(u64::MAX)).unwrap(),
        0,
        "clamped at 0"
    );
    assert_eq!(ex.add_counter(c, 0).unwrap(), 0);
}

fn noise_models_and_redaction_key(ex: &dyn EvidenceStore) {
    assert_eq!(ex.noise_models().unwrap(), HashMap::new());
    ex.put_noise_model("svc.a", b"not json").unwrap();
    assert!(
        ex.noise_models().unwrap().is_empty(),
        "unreadable is skipped"
    );
    let values = ex.noise_model_values().unwrap();
    assert_eq!(values, [("svc.a".to_string(), b"not json".to_vec())]);
    // First writer wins, and the key is there from then on.
    assert_eq!(ex.redaction_key().unwrap(), None);
    let first = [7u8; redact::GENERATED_KEY_BYTES];
    let second = [9u8; redact::GENERATED_KEY_BYTES];
    assert_eq!(
        ex.init_redaction_key(&first).unwrap().as_deref(),
        Some(&first[..])
    );
    assert_eq!(
        ex.init_redaction_key(&second).unwrap().as_deref(),
        Some(&first[..])
    );
    assert_eq!(ex.redaction_key().unwrap().as_deref(), Some(&first[..]));
    ex.redactor(&RedactionConfig::default())
        .expect("a redactor from the stored key");
}
