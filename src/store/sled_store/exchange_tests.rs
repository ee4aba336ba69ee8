//! Exchange store on real sled databases: keys, the versioned codec, skipping what
//! cannot be read, retention, counters and the redaction key.

use super::*;
use crate::evidence::{CaptureRecord, DiffPath, DiffRecord, ExchangeRecord, RecordKey};
use crate::store::exchanges::*;
use crate::store::*;
use bytes::Bytes;
use serde::Serialize;
use std::time::Duration;

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("dualroad-exchanges-")
        .tempdir()
        .expect("temp dir")
}

pub(crate) fn record(at_unix_ms: u64, agency: &str, outcome: &str) -> ExchangeRecord {
    ExchangeRecord {
        at_unix_ms,
        message_id: Some(format!("m-{at_unix_ms}")),
        agency: agency.into(),
        service: "moh.getPatientSummary.v2".into(),
        stage: "shadow".parse().unwrap(),
        served_by: "legacy".parse().unwrap(),
        listener: "consumer".into(),
        primary_latency_ms: 12.5,
        shadow_latency_ms: Some(14.0),
        outcome: outcome.parse().unwrap(),
        request_hash: Some("ab".repeat(32)),
        ..ExchangeRecord::default()
    }
}

fn diff(at_unix_ms: u64, agency: &str, outcome: &str) -> DiffRecord {
    DiffRecord {
        id: RecordKey::first_at(at_unix_ms),
        at_unix_ms,
        agency: agency.into(),
        service: "moh.getPatientSummary.v2".into(),
        outcome: outcome.parse().unwrap(),
        paths: vec![DiffPath {
            path: "Body/getPatientSummaryResponse/response/allergy".into(),
            kind: "changed".into(),
            primary: Some("pollen".into()),
            shadow: Some("dust".into()),
            noise: false,
        }],
        unified: "-pollen\n+dust\n".into(),
    }
}

fn put<T: Serialize>(store: &SledEvidence, kind: Kind, at_unix_ms: u64, value: &T) -> RecordKey {
    let key = RecordKey {
        at_unix_ms,
        seq: store.next_seq().expect("seq"),
    };
    store
        .write(&[Encoded {
            kind,
            key,
            value: encode(value).expect("encode"),
        }])
        .expect("write");
    key
}

fn all(store: &SledEvidence) -> Vec<(RecordKey, ExchangeRecord)> {
    store
        .exchanges_between(0, u64::MAX)
        .collect::<Result<_, _>>()
        .expect("read")
}

#[test]
fn keys_sort_by_time_then_sequence_and_print_as_ids() {
    let keys = [
        RecordKey {
            at_unix_ms: 1,
            seq: 9,
        },
        RecordKey {
            at_unix_ms: 2,
            seq: 0,
        },
        RecordKey {
            at_unix_ms: 256,
            seq: 1,
        },
        RecordKey {
            at_unix_ms: 256,
            seq: 2,
        },
        RecordKey {
            at_unix_ms: u64::MAX,
            seq: u64::MAX,
        },
    ];
    for pair in keys.windows(2) {
        assert!(pair[0].to_bytes() < pair[1].to_bytes(), "{pair:?}");
        assert!(pair[0] < pair[1]);
    }
    for k in keys {
        assert_eq!(RecordKey::from_bytes(&k.to_bytes()), Some(k));
        assert_eq!(k.to_string().parse::<RecordKey>(), Ok(k));
    }
    assert_eq!(
        RecordKey {
            at_unix_ms: 1700000000123,
            seq: 42
        }
        .to_string(),
        "1700000000123-42"
    );
    assert!("1700000000123".parse::<RecordKey>().is_err());
    assert!("a-1".parse::<RecordKey>().is_err());
    assert_eq!(RecordKey::from_bytes(&[0; 15]), None);
}

#[test]
fn values_carry_their_version_first_and_round_trip() {
    let mut r = record(5, "A", "match");
    r.diff_id = Some(RecordKey {
        at_unix_ms: 5,
        seq: 7,
    });
    let raw = encode(&r).expect("encode");
    assert!(
        raw.starts_with(b"{\"v\":1,\"at_unix_ms\":5,"),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    let back: ExchangeRecord = decode(&raw).expect("decode");
    assert_eq!(back, r);
    let json: serde_json::Value = serde_json::from_slice(&raw).expect("json");
    assert_eq!(json["diff_id"], "5-7");
}

#[test]
fn unknown_versions_and_garbage_are_told_apart() {
    let good = String::from_utf8(encode(&record(5, "A", "match")).expect("e")).expect("utf8");
    let v2 = good.replacen("{\"v\":1,", "{\"v\":2,", 1);
    assert!(matches!(
        decode::<ExchangeRecord>(v2.as_bytes()),
        Err(DecodeError::UnknownVersion(2))
    ));
    for bad in [
        "",
        "null",
        "{}",
        "[1]",
        "{\"at_unix_ms\":5,\"v\":1}",
        "{\"v\":1}",
        "{\"v\":\"1\",\"at_unix_ms\":5}",
        &good[..good.len() - 1],
        &format!("{good} trailing"),
    ] {
        assert!(
            matches!(
                decode::<ExchangeRecord>(bad.as_bytes()),
                Err(DecodeError::Corrupt(_))
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn members_added_by_a_later_build_are_ignored() {
    let good = String::from_utf8(encode(&record(5, "A", "match")).expect("e")).expect("utf8");
    let extended = good.replacen("{\"v\":1,", "{\"v\":1,\"new_field\":{\"x\":[1,2]},", 1);
    let back: ExchangeRecord = decode(extended.as_bytes()).expect("tolerant");
    assert_eq!(back, record(5, "A", "match"));
}

#[test]
fn non_finite_latency_survives_as_nan() {
    let mut r = record(5, "A", "match");
    r.primary_latency_ms = f64::INFINITY;
    r.shadow_latency_ms = Some(f64::NAN);
    let back: ExchangeRecord = decode(&encode(&r).expect("e")).expect("decode");
    assert!(back.primary_latency_ms.is_nan());
    assert_eq!(back.shadow_latency_ms, None);
}

#[test]
fn bodies_are_text_when_utf8_and_base64_otherwise() {
    for bytes in [
        &b"<Envelope>\xc3\xbc</Envelope>"[..],
        &b"<Envelope>\xfc</Envelope>"[..],
        &b""[..],
        &[0u8, 1, 2, 3, 254, 255][..],
    ] {
        let c = CaptureRecord {
            at_unix_ms: 1,
            agency: "A".into(),
            service: "S".into(),
            listener: "L".into(),
            content_type: Some("text/xml; charset=ISO-8859-1".into()),
            soap_action: None,
            body: Bytes::copy_from_slice(bytes),
        };
        let raw = encode(&c).expect("encode");
        let back: CaptureRecord = decode(&raw).expect("decode");
        assert_eq!(back, c);
    }
}

#[test]
fn reads_stream_in_time_order_within_bounds() {
    let dir = tempdir();
    let store = SledStore::open(dir.path()).expect("open").evidence();
    for at in [30, 10, 20, 20, 40] {
        put(&store, Kind::Exchange, at, &record(at, "A", "match"));
    }
    let times: Vec<u64> = all(&store)
        .iter()
        .map(|(k, r)| {
            assert_eq!(k.at_unix_ms, r.at_unix_ms);
            k.at_unix_ms
        })
        .collect();
    assert_eq!(times, [10, 20, 20, 30, 40]);
    let between: Vec<u64> = store
        .exchanges_between(20, 40)
        .map(|r| r.expect("read").0.at_unix_ms)
        .collect();
    assert_eq!(between, [20, 20, 30], "since inclusive, until exclusive");
    assert_eq!(store.exchanges_between(40, 20).count(), 0);
    let newest_first: Vec<u64> = store
        .exchanges_between(0, u64::MAX)
        .rev()
        .map(|r| r.expect("read").0.at_unix_ms)
        .collect();
    assert_eq!(newest_first, [40, 30, 20, 20, 10]);
}

#[test]
fn corrupt_and_unknown_version_records_are_skipped_and_counted() {
    let dir = tempdir();
    let store = SledStore::open(dir.path()).expect("open").evidence();
    put(&store, Kind::Exchange, 10, &record(10, "A", "match"));
    let good = String::from_utf8(encode(&record(20, "A", "match")).expect("e")).expect("utf8");
    let raw = [
        (
            RecordKey::first_at(11).to_bytes().to_vec(),
            b"\xff\x00not json".to_vec(),
        ),
        (
            RecordKey::first_at(12).to_bytes().to_vec(),
            good.replacen("\"v\":1", "\"v\":9", 1).into_bytes(),
        ),
        (
            RecordKey::first_at(13).to_bytes().to_vec(),
            b"{\"v\":1,\"at_unix_ms\":\"soon\"}".to_vec(),
        ),
        (b"short-key".to_vec(), good.clone().into_bytes()),
    ];
    for (k, v) in raw {
        store.exchanges.insert(k, v).expect("raw insert");
    }
    put(&store, Kind::Exchange, 20, &record(20, "A", "match"));

    let mut records = store.exchanges_between(0, u64::MAX);
    let read: Vec<u64> = records
        .by_ref()
        .map(|r| r.expect("read").1.at_unix_ms)
        .collect();
    assert_eq!(read, [10, 20]);
    assert_eq!(
        records.skipped(),
        Skipped {
            corrupt: 3,
            unknown_version: 1
        }
    );
    assert_eq!(
        store.skipped(),
        Skipped {
            corrupt: 3,
            unknown_version: 1
        }
    );
    // A second scan counts again in the store-wide total.
    assert_eq!(store.exchanges_between(0, u64::MAX).count(), 2);
    assert_eq!(store.skipped().total(), 8);
}

#[test]
fn a_corrupt_diff_is_an_error_naming_the_data_dir_not_a_panic() {
    let dir = tempdir();
    let store = SledStore::open(dir.path()).expect("open").evidence();
    let id = RecordKey {
        at_unix_ms: 5,
        seq: 1,
    };
    store
        .diffs
        .insert(id.to_bytes(), &b"{\"v\":1,\"id\":3}"[..])
        .expect("raw");
    let err = store.diff(id).expect_err("corrupt");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "{err}"
    );
    assert_eq!(
        store
            .diff(RecordKey {
                at_unix_ms: 5,
                seq: 2
            })
            .expect("absent"),
        None
    );
}

#[test]
fn list_diffs_filters_newest_first_up_to_limit() {
    let dir = tempdir();
    let store = SledStore::open(dir.path()).expect("open").evidence();
    let mut ids = vec![];
    for (at, agency, outcome) in [
        (10, "A", "body-diff"),
        (20, "B", "body-diff"),
        (30, "A", "fault-mismatch"),
        (40, "A", "body-diff"),
        (50, "A", "body-diff"),
    ] {
        let mut d = diff(at, agency, outcome);
        let key = RecordKey {
            at_unix_ms: at,
            seq: store.next_seq().expect("seq"),
        };
        d.id = key;
        store
            .write(&[Encoded {
                kind: Kind::Diff,
                key,
                value: encode(&d).expect("e"),
            }])
            .expect("write");
        ids.push(key);
    }
    let got: Vec<u64> = store
        .list_diffs(Some("A"), None, Some("body-diff"), 2)
        .expect("list")
        .iter()
        .map(|d| d.at_unix_ms)
        .collect();
    assert_eq!(got, [50, 40]);
    assert_eq!(
        store.list_diffs(None, None, None, 100).expect("all").len(),
        5
    );
    assert_eq!(
        store
            .list_diffs(Some("C"), None, None, 100)
            .expect("none")
            .len(),
        0
    );
    assert_eq!(
        store.list_diffs(None, None, None, 0).expect("zero").len(),
        0
    );
    assert_eq!(
        store.diff(ids[1]).expect("get").expect("present").agency,
        "B"
    );
    let between: Vec<u64> = store
        .diffs_between(20, 41)
        .map(|d| d.expect("read").1.at_unix_ms)
        .collect();
    assert_eq!(between, [20, 30, 40]);
}

#[test]
fn retention_by_age_removes_old_records_of_every_kind() {
    let dir = tempdir();
    let store = SledStore::open(dir.path()).expect("open").evidence();
    let day = 86_400_000u64;
    let now = 100 * day;
    for at in [now - 40 * day, now - 31 * day, now - 29 * day, now - day] {
        put(&store, Kind::Exchange, at, &record(at, "A", "match"));
        put(&store, Kind::Diff, at, &diff(at, "A", "body-diff"));
    }
    put(
        &store,
        Kind::Capture,
        now - 35 * day,
        &capture(now - 35 * day),
    );
    put(&store, Kind::Capture, now - day, &capture(now - day));
    let before = store.counters().expect("counters").stored_bytes;
    let policy = RetentionPolicy {
        max_age: Some(Duration::from_millis(30 * day)),
        max_bytes: None,
    };
    let report = store.enforce_retention(&policy, now).expect("retention");
    assert_eq!(
        report.by_age,
        KindCounts {
            exchanges: 2,
            diffs: 2,
            captures: 1
        }
    );
    assert_eq!(report.by_size, KindCounts::default());
    assert_eq!(report.removed(), 5);
    let left: Vec<u64> = all(&store).iter().map(|(k, _)| k.at_unix_ms).collect();
    assert_eq!(left, [now - 29 * day, now - day]);
    assert!(report.stored_bytes < before);
    let counters = store.counters().expect("counters");
    assert_eq!(counters.retention_removed, 5);
    assert_eq!(counters.stored_bytes, report.stored_bytes);
    // Idempotent.
    assert_eq!(
        store
            .enforce_retention(&policy, now)
            .expect("again")
            .removed(),
        0
    );
}

fn capture(at_unix_ms: u64) -> CaptureRecord {
    CaptureRecord {
        at_unix_ms,
        agency: "A".into(),
        service: "S".into(),
        listener: "consumer".into(),
        content_type: Some("text/xml".into()),
        soap_action: None,
        body: Bytes::from_static(b"<Envelope><Body><op/></Body></Envelope>"),
    }
}

#[test]
fn retention_by_size_removes_oldest_first_across_trees() {
    let dir = tempdir();
    let store = SledStore::open(dir.path()).expect("open").evidence();
    for at in 1..=20u64 {
        if at % 5 == 0 {
            put(&store, Kind::Capture, at, &capture(at));
        } else {
            put(&store, Kind::Exchange, at, &record(at, "A", "match"));
        }
    }
    let stored = store.counters().expect("c").stored_bytes;
    let sizes: u64 = store
        .exchanges
        .iter()
        .chain(store.captures.iter())
        .map(|kv| kv.map(|(k, v)| (k.len() + v.len()) as u64).expect("kv"))
        .sum();
    assert_eq!(stored, sizes, "the counter tracks keys and values exactly");
    let policy = RetentionPolicy {
        max_age: None,
        max_bytes: Some(stored / 2),
    };
    let report = store.enforce_retention(&policy, 0).expect("retention");
    assert!(report.stored_bytes <= stored / 2);
    let remaining_ex: Vec<u64> = all(&store).iter().map(|(k, _)| k.at_unix_ms).collect();
    let remaining_cap: Vec<u64> = store
        .captures(&CaptureFilter::default())
        .map(|c| c.expect("c").0.at_unix_ms)
        .collect();
    let oldest_left = remaining_ex
        .iter()
        .chain(&remaining_cap)
        .min()
        .copied()
        .expect("some left");
    let removed = report.by_size.total();
    assert_eq!(
        oldest_left - 1,
        removed,
        "exactly the oldest {removed} went"
    );
    assert!(report.by_size.captures >= 1 && report.by_size.exchanges >= 1);
    assert!(
        stored / 2 - report.stored_bytes < 600,
        "removes no more than needed"
    );
}

#[test]
fn size_counter_that_drifted_high_is_reset_once_everything_is_gone() {
    let dir = tempdir();
    let store = SledStore::open(dir.path()).expect("open").evidence();
    put(&store, Kind::Exchange, 1, &record(1, "A", "match"));
    store
        .add_counter(KEY_STORED_BYTES, 1_000_000)
        .expect("drift");
    let report = store
        .enforce_retention(
            &RetentionPolicy {
                max_age: None,
                max_bytes: Some(1000),
            },
            0,
        )
        .expect("retention");
    assert_eq!(report.by_size.exchanges, 1);
    assert_eq!(report.stored_bytes, 0);
}

#[test]
fn captures_filter_by_agency_service_listener_and_time() {
    let dir = tempdir();
    let store = SledStore::open(dir.path()).expect("open").evidence();
    for (at, agency) in [(1, "A"), (2, "B"), (3, "A"), (4, "A")] {
        let mut c = capture(at);
        c.agency = agency.into();
        put(&store, Kind::Capture, at, &c);
    }
    let filter = CaptureFilter {
        agency: Some("A".into()),
        until_ms: Some(4),
        ..CaptureFilter::default()
    };
    let got: Vec<u64> = store
        .captures(&filter)
        .map(|c| c.expect("c").0.at_unix_ms)
        .collect();
    assert_eq!(got, [1, 3]);
    let none = CaptureFilter {
        listener: Some("provider".into()),
        ..CaptureFilter::default()
    };
    assert_eq!(store.captures(&none).count(), 0);
}

#[test]
fn generated_redaction_key_is_kept_per_data_dir() {
    let dir = tempdir();
    let config = RedactionConfig::default();
    let token = {
        let store = SledStore::open(dir.path()).expect("open").evidence();
        store
            .redactor(&config)
            .expect("redactor")
            .token(b"PS400123456")
    };
    let store = SledStore::open(dir.path()).expect("reopen").evidence();
    assert_eq!(
        store
            .redactor(&config)
            .expect("again")
            .token(b"PS400123456"),
        token
    );
    let other = tempdir();
    let elsewhere = SledStore::open(other.path()).expect("other").evidence();
    assert_ne!(
        elsewhere
            .redactor(&config)
            .expect("other")
            .token(b"PS400123456"),
        token
    );
    // A configured key wins, and is the same everywhere.
    let keyed = RedactionConfig {
        key: Some("0123456789abcdef0123".into()),
        ..config.clone()
    };
    assert_eq!(
        store.redactor(&keyed).expect("k").token(b"x"),
        elsewhere.redactor(&keyed).expect("k").token(b"x")
    );
    let short = RedactionConfig {
        key: Some("short".into()),
        ..config.clone()
    };
    assert!(matches!(
        store.redactor(&short),
        Err(StoreError::InvalidRedaction(_))
    ));
    // A damaged key is an error, never a silent new key (every token would change).
    store
        .meta
        .insert(KEY_REDACTION_KEY, &b"xx"[..])
        .expect("damage");
    let err = store.redactor(&config).expect_err("damaged");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
}

#[test]
fn a_store_with_exchanges_but_no_schema_version_is_refused() {
    let dir = tempdir();
    {
        let store = SledStore::open(dir.path()).expect("open");
        put(
            &store.evidence(),
            Kind::Exchange,
            1,
            &record(1, "A", "match"),
        );
        store.flush().expect("flush");
    }
    {
        let db = raw_sled(dir.path());
        let meta = db.open_tree("meta").expect("meta");
        meta.clear().expect("clear");
        db.flush().expect("flush");
    }
    assert!(matches!(
        SledStore::open(dir.path()),
        Err(StoreError::SchemaUnreadable { .. })
    ));
}

/// Opens the raw sled database behind a store that was just dropped. sled releases its
/// file lock lazily after the last handle goes (sled #1234); the store's own opener
/// retries while the lock is contended, so wait on that rather than on a sleep here.
fn raw_sled(path: &Path) -> sled::Db {
    super::open_sled(path, crate::store::DEFAULT_CACHE_CAPACITY).expect("sled")
}
