//! The exchange store through its public surface: the writer's queue, redaction on
//! the way in, retention, reading back, and crash recovery of a process killed with
//! SIGKILL (a child re-running this binary).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use dualroad::evidence::{
    Bodies, Body, CaptureRecord, DiffPath, DiffRecord, ExchangeEvent, ExchangeRecord,
    NotComparedReason, RecordKey,
};
use dualroad::store::exchanges::RECORD_VERSION;
use dualroad::store::writer::DEFAULT_FLUSH_INTERVAL;
use dualroad::store::{
    CaptureFilter, Clock, ExchangeWriter, KindCounts, RedactionConfig, RetentionPolicy, Skipped,
    SledStore, Store, Submitted, WriterConfig,
};

const CHILD_ENV: &str = "DUALROAD_CRASH_CHILD";
const READY: &str = "CRASH-CHILD READY";

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("dualroad-it-exchanges-")
        .tempdir()
        .expect("temp dir")
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn wall_clock() -> Clock {
    Arc::new(wall_ms)
}

fn record(at_unix_ms: u64, n: u64) -> ExchangeRecord {
    ExchangeRecord {
        at_unix_ms,
        message_id: Some(n.to_string()),
        shadow_message_id: Some(format!("shadow-{n}")),
        agency: format!("PS/GOV/{}", 10000040 + n % 10),
        service: format!("moh.service{}.v1", n % 20),
        stage: "shadow".parse().unwrap(),
        served_by: if n % 3 == 0 { "uxp" } else { "legacy" }.parse().unwrap(),
        listener: "consumer".into(),
        primary_latency_ms: 5.0 + (n % 50) as f64,
        shadow_latency_ms: Some(6.0 + (n % 70) as f64),
        outcome: ["match", "match", "match", "body-diff", "not-compared"][(n % 5) as usize]
            .parse()
            .unwrap(),
        not_compared_reason: (n % 5 == 4).then_some(NotComparedReason::Timeout),
        lossy_fields: if n % 7 == 0 {
            vec!["ametnik".into()]
        } else {
            vec![]
        },
        request_hash: Some(format!("{:064x}", n.wrapping_mul(0x9e37_79b9_7f4a_7c15))),
        ..ExchangeRecord::default()
    }
}

fn event(rec: ExchangeRecord) -> ExchangeEvent {
    ExchangeEvent {
        record: rec,
        diff: None,
        store_bodies: false,
    }
}

/// Writer settings for records stamped with made-up times: no retention, which
/// would otherwise measure them against the wall clock and remove them.
fn quiet() -> WriterConfig {
    WriterConfig {
        retention: RetentionPolicy {
            max_age: None,
            max_bytes: None,
        },
        ..WriterConfig::default()
    }
}

fn start(store: &SledStore, config: WriterConfig) -> ExchangeWriter {
    let ex = store.exchanges();
    let redactor = ex.redactor(&RedactionConfig::default()).expect("redactor");
    ExchangeWriter::start(ex, redactor, config, wall_clock())
}

fn all_exchanges(store: &SledStore) -> Vec<(RecordKey, ExchangeRecord)> {
    store
        .exchanges()
        .exchanges_between(0, u64::MAX)
        .collect::<Result<_, _>>()
        .expect("read")
}

// === crash recovery ===

/// The child half of `kill_9_loses_at_most_one_flush_interval`: does nothing unless
/// the parent set `DUALROAD_CRASH_CHILD`; then writes exchanges through the writer,
/// numbered from 0 and stamped with the wall clock, until it is killed.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let store = SledStore::open(Path::new(&dir)).expect("child opens the store");
        let writer = start(&store, WriterConfig::default());
        let mut n = 0u64;
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            // About 10 000 records a second, well inside the writer's capacity, so
            // nothing is dropped and any hole after the crash is the store's fault.
            for _ in 0..20 {
                assert_eq!(
                    writer.submit(event(record(wall_ms(), n))),
                    Submitted::Queued
                );
                n += 1;
            }
            if n == 20 {
                println!("{READY}");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
}

#[test]
fn kill_9_loses_at_most_one_flush_interval() {
    let dir = tempdir();
    let exe = std::env::current_exe().expect("test binary");
    // Scheduling slack on a busy 2-core machine: queue time, the flush itself, and
    // the gap between our clock reading and the signal landing.
    let slack_ms = 750;
    let flush_ms = DEFAULT_FLUSH_INTERVAL.as_millis() as u64;
    let mut expected_first = 0u64;
    for round in 0..3u64 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "exchanges::crash_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.contains(READY) => break,
                Some(Ok(_)) => continue,
                other => panic!("child ended before writing: {other:?}"),
            }
        }
        std::thread::sleep(Duration::from_millis(1500 + 400 * round));
        let kill_ms = wall_ms();
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");

        let store = SledStore::open(dir.path()).expect("a killed store opens cleanly");
        let records = all_exchanges(&store);
        assert_eq!(store.exchanges().skipped(), Skipped::default());
        for pair in records.windows(2) {
            assert!(
                pair[0].0 < pair[1].0,
                "keys ordered: {:?}",
                (pair[0].0, pair[1].0)
            );
            assert!(pair[0].1.at_unix_ms <= pair[1].1.at_unix_ms);
        }
        // Each round's child numbers from 0: this round's records follow the earlier
        // rounds' in time, numbered 0, 1, 2, … without a hole.
        let this_round: Vec<&ExchangeRecord> = records
            .iter()
            .skip(expected_first as usize)
            .map(|(_, r)| r)
            .collect();
        for (i, r) in this_round.iter().enumerate() {
            assert_eq!(
                r.message_id.as_deref(),
                Some(i.to_string().as_str()),
                "round {round}: hole before record {i}"
            );
        }
        let last = this_round.last().expect("records survived");
        let lost_ms = kill_ms.saturating_sub(last.at_unix_ms);
        eprintln!(
            "round {round}: {} records survived; the newest is {lost_ms} ms older than the kill (flush interval {flush_ms} ms)",
            this_round.len()
        );
        assert!(
            lost_ms <= flush_ms + slack_ms,
            "round {round}: lost the last {lost_ms} ms, more than the flush interval {flush_ms} ms + {slack_ms} ms"
        );
        expected_first = records.len() as u64;
        // The drop counters the child persisted agree: nothing was dropped.
        assert_eq!(
            store.exchanges().counters().expect("counters").dropped,
            KindCounts::default()
        );
    }
}

// === the queue ===

#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    let dir = tempdir();
    let store = SledStore::open(dir.path()).expect("open");
    // A single-threaded runtime that this test never yields to while submitting:
    // the writer cannot drain, so the queue fills after exactly `capacity` records.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let config = WriterConfig {
        queue_capacity: 16,
        ..quiet()
    };
    let writer = rt.block_on(async { start(&store, config) });
    let started = Instant::now();
    let mut results = Vec::new();
    for n in 0..1000 {
        let mut ev = event(record(1_000 + n, n));
        if n % 2 == 0 {
            ev.diff = Some(diff_for(1_000 + n));
        }
        results.push(writer.submit(ev));
    }
    let capture = CaptureRecord {
        at_unix_ms: 5_000,
        agency: "A".into(),
        service: "S".into(),
        listener: "consumer".into(),
        content_type: None,
        soap_action: None,
        body: Bytes::from_static(b"<a/>"),
    };
    assert_eq!(writer.submit_capture(capture), Submitted::Dropped);
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(500),
        "submit blocked: {elapsed:?}"
    );
    assert_eq!(
        results.iter().filter(|r| **r == Submitted::Queued).count(),
        16
    );
    assert_eq!(
        writer.dropped(),
        KindCounts {
            exchanges: 984,
            diffs: 492,
            captures: 1
        }
    );
    let stats = rt.block_on(writer.shutdown());
    assert_eq!(stats.written.exchanges, 16);
    assert_eq!(stats.written.diffs, 8);
    // The drop counts are persisted for reports.
    let counters = store.exchanges().counters().expect("counters");
    assert_eq!(counters.dropped, writer.dropped());
    assert_eq!(all_exchanges(&store).len(), 16);
    // After shutdown, submissions are dropped and counted, never queued.
    assert_eq!(writer.submit(event(record(9, 9))), Submitted::Dropped);
    assert_eq!(writer.dropped().exchanges, 985);
}

#[test]
fn shutdown_drains_the_queue_and_records_come_back_in_time_order() {
    let dir = tempdir();
    let store = SledStore::open(dir.path()).expect("open");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let writer = rt.block_on(async { start(&store, quiet()) });
    // Submitted out of time order, as concurrent requests finish.
    let times: Vec<u64> = (0..2000u64)
        .map(|n| 1_000_000 + (n * 7919) % 2000)
        .collect();
    for (n, at) in times.iter().enumerate() {
        assert_eq!(
            writer.submit(event(record(*at, n as u64))),
            Submitted::Queued
        );
    }
    let stats = rt.block_on(writer.shutdown());
    assert_eq!(stats.written.exchanges, 2000);
    assert_eq!(stats.dropped, KindCounts::default());
    let read = all_exchanges(&store);
    let mut sorted = times.clone();
    sorted.sort_unstable();
    assert_eq!(
        read.iter().map(|(_, r)| r.at_unix_ms).collect::<Vec<_>>(),
        sorted
    );
    assert!(read.windows(2).all(|w| w[0].0 < w[1].0));
}

// === redaction on the way in ===

const REQUEST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xro="http://x-road.eu/xsd/xroad.xsd" xmlns:moh="http://moh.x-road.ps/producer/">
  <soapenv:Header>
    <xro:userId>PS400123456</xro:userId>
    <xro:id>594629e9-476b-428c-9189-43606f4acecd</xro:id>
  </soapenv:Header>
  <soapenv:Body>
    <moh:getPatientSummary><request><patientCode>PS402246810</patientCode></request></moh:getPatientSummary>
  </soapenv:Body>
</soapenv:Envelope>"#;

fn response(allergy: &str) -> String {
    format!(
        r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><getPatientSummaryResponse><response><patientCode>PS402246810</patientCode><allergy>{allergy}</allergy></response></getPatientSummaryResponse></soapenv:Body></soapenv:Envelope>"#
    )
}

fn body(text: &str) -> Option<Body> {
    Some(Body {
        content_type: Some("text/xml; charset=UTF-8".into()),
        bytes: Bytes::copy_from_slice(text.as_bytes()),
    })
}

fn diff_for(at_unix_ms: u64) -> DiffRecord {
    DiffRecord {
        id: RecordKey::first_at(0),
        at_unix_ms,
        agency: "PS/GOV/10000042".into(),
        service: "moh.getPatientSummary.v2".into(),
        outcome: "body-diff".parse().unwrap(),
        paths: vec![DiffPath {
            path: "Body/getPatientSummaryResponse/response/allergy".into(),
            kind: "changed".into(),
            primary: Some("pollen".into()),
            shadow: Some("dust".into()),
            noise: false,
        }],
        unified: "@@ -1,3 +1,3 @@\n <patientCode>PS402246810</patientCode>\n-<allergy>pollen</allergy>\n+<allergy>dust</allergy>\n".into(),
    }
}

#[test]
fn the_writer_redacts_links_diffs_and_keeps_bodies_only_when_asked() {
    let dir = tempdir();
    let store = SledStore::open(dir.path()).expect("open");
    let ex = store.exchanges();
    let config = RedactionConfig {
        paths: vec![
            "Body/*/request/patientCode".into(),
            "Body/*/response/patientCode".into(),
        ],
        ..RedactionConfig::default()
    };
    let redactor = ex.redactor(&config).expect("redactor");
    let person = redactor.token(b"PS402246810");
    let user = redactor.token(b"PS400123456");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let writer = rt.block_on(async {
        ExchangeWriter::start(ex.clone(), redactor.clone(), quiet(), wall_clock())
    });
    let bodies = Bodies {
        request: body(REQUEST),
        primary: body(&response("pollen")),
        shadow: body(&response("dust")),
    };
    for (at, store_bodies) in [(100u64, true), (200, false)] {
        let mut rec = record(at, at);
        rec.bodies = Some(bodies.clone());
        rec.outcome = "body-diff".parse().unwrap();
        writer.submit(ExchangeEvent {
            record: rec,
            diff: Some(diff_for(at)),
            store_bodies,
        });
    }
    // Not XML: stored without a body, and counted.
    let mut broken = record(300, 300);
    broken.bodies = Some(Bodies {
        request: body("<!DOCTYPE x [<!ENTITY e 'PS402246810'>]><x>&e;</x>"),
        ..Bodies::default()
    });
    writer.submit(ExchangeEvent {
        record: broken,
        diff: None,
        store_bodies: true,
    });
    writer.submit_capture(CaptureRecord {
        at_unix_ms: 150,
        agency: "PS/GOV/10000042".into(),
        service: "moh.getPatientSummary.v2".into(),
        listener: "consumer".into(),
        content_type: Some("text/xml; charset=UTF-8".into()),
        soap_action: Some("\"\"".into()),
        body: Bytes::from_static(REQUEST.as_bytes()),
    });
    let stats = rt.block_on(writer.shutdown());
    assert_eq!(
        stats.written,
        KindCounts {
            exchanges: 3,
            diffs: 2,
            captures: 1
        }
    );
    assert_eq!(stats.bodies_unredactable, 1);

    let read = all_exchanges(&store);
    let (key, kept) = &read[0];
    let stored = kept
        .bodies
        .as_ref()
        .expect("store_bodies = true keeps bodies");
    let req = std::str::from_utf8(&stored.request.as_ref().expect("request").bytes).expect("utf8");
    assert_eq!(
        req,
        REQUEST
            .replace(">PS400123456<", &format!(">{user}<"))
            .replace(">PS402246810<", &format!(">{person}<"))
    );
    let primary = &stored.primary.as_ref().expect("primary").bytes;
    assert!(!String::from_utf8_lossy(primary).contains("PS402246810"));
    assert_eq!(
        kept.diff_id,
        Some(*key),
        "the diff is stored under the exchange's key"
    );
    let diff = ex.diff(*key).expect("read").expect("diff present");
    assert_eq!(diff.id, *key);
    assert!(!diff.unified.contains("PS402246810"), "{}", diff.unified);
    assert!(diff.unified.contains(&person));
    assert!(diff.unified.contains("-<allergy>pollen</allergy>"));

    let (_, lean) = &read[1];
    assert_eq!(lean.bodies, None, "store_bodies = false keeps none");
    assert!(lean.diff_id.is_some());
    let (_, broken) = &read[2];
    assert_eq!(broken.bodies, None);

    let captures: Vec<_> = ex
        .captures(&CaptureFilter {
            agency: Some("PS/GOV/10000042".into()),
            ..CaptureFilter::default()
        })
        .collect::<Result<_, _>>()
        .expect("captures");
    assert_eq!(captures.len(), 1);
    let body = std::str::from_utf8(&captures[0].1.body).expect("utf8");
    assert!(body.contains(&user) && body.contains(&person));
    assert!(!body.contains("PS400123456") && !body.contains("PS402246810"));

    // Nothing in the database files holds the personal codes in clear.
    drop((ex, store));
    let mut leaked = vec![];
    for entry in std::fs::read_dir(dir.path()).expect("dir").flatten() {
        let path = entry.path();
        let bytes = if path.is_dir() {
            continue;
        } else {
            std::fs::read(&path).expect("read")
        };
        for secret in [&b"PS402246810"[..], &b"PS400123456"[..]] {
            if memchr::memmem::find(&bytes, secret).is_some() {
                leaked.push(path.display().to_string());
            }
        }
    }
    let blobs = dir.path().join("blobs");
    if blobs.is_dir() {
        for entry in std::fs::read_dir(&blobs).expect("blobs").flatten() {
            let bytes = std::fs::read(entry.path()).expect("read");
            if memchr::memmem::find(&bytes, b"PS402246810").is_some() {
                leaked.push(entry.path().display().to_string());
            }
        }
    }
    assert!(leaked.is_empty(), "personal codes on disk in {leaked:?}");
}

// === retention ===

/// Time is the point here (a retention interval passing), so the test runs on tokio's
/// paused clock: each interval passes at once and in order, and the wall clock the
/// writer reads for ages is a manual one.
#[tokio::test(start_paused = true)]
async fn retention_by_age_and_size_runs_in_the_background_with_the_callers_clock() {
    let dir = tempdir();
    let store = SledStore::open(dir.path()).expect("open");
    let day = 86_400_000u64;
    let (_hand, clock) = dualroad::clock::manual(10 * day);
    // Fill with retention effectively off, then turn it on.
    {
        let writer = start(&store, quiet());
        for n in 0..100u64 {
            // One record per hour, over the 100 hours up to day 10.
            writer.submit(event(record(10 * day - (100 - n) * 3_600_000, n)));
        }
        writer.shutdown().await;
    }
    let ex = store.exchanges();
    let total = ex.counters().expect("c").stored_bytes;
    let interval = Duration::from_secs(60);
    let config = WriterConfig {
        retention: RetentionPolicy {
            max_age: Some(Duration::from_secs(2 * 86_400)),
            max_bytes: Some(total / 4),
        },
        retention_interval: interval,
        ..quiet()
    };
    let redactor = ex.redactor(&RedactionConfig::default()).expect("r");
    let writer = ExchangeWriter::start(ex.clone(), redactor, config, clock.clone());
    // A few retention intervals pass (paused time: at once; a run on the blocking pool
    // holds the clock until it is done).
    for _ in 0..10 {
        if ex.counters().expect("c").stored_bytes <= total / 4 {
            break;
        }
        tokio::time::sleep(interval).await;
    }
    let stats = writer.shutdown().await;
    let left = all_exchanges(&store);
    assert!(left.len() < 25, "size limit: {} left", left.len());
    // Age: nothing older than two days before the clock's now.
    assert!(left.iter().all(|(k, _)| k.at_unix_ms >= 8 * day));
    // Oldest first: what is left is the newest tail.
    assert_eq!(
        left.last().expect("some left").1.message_id.as_deref(),
        Some("99")
    );
    assert_eq!(stats.retention_removed, 100 - left.len() as u64);
    assert_eq!(
        ex.counters().expect("c").retention_removed,
        100 - left.len() as u64
    );

    // And the pure call, with a time chosen by the test.
    let report = ex
        .enforce_retention(
            &RetentionPolicy {
                max_age: Some(Duration::from_secs(1)),
                max_bytes: None,
            },
            clock() + day,
        )
        .expect("retention");
    assert_eq!(report.by_age.exchanges, left.len() as u64);
    assert!(all_exchanges(&store).is_empty());
}

// === what cannot be read ===

#[test]
fn records_of_another_version_or_damaged_are_skipped_and_counted() {
    let dir = tempdir();
    {
        let store = SledStore::open(dir.path()).expect("open");
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let writer = rt.block_on(async { start(&store, quiet()) });
        for n in 0..10u64 {
            writer.submit(event(record(1_000 + n * 10, n)));
        }
        rt.block_on(writer.shutdown());
    }
    {
        // Another build (a future record version) and a damaged value, written
        // behind dualroad's back.
        // sled releases its file lock lazily after the last handle (sled #1234).
        let db = (0..40)
            .find_map(|_| {
                sled::open(dir.path())
                    .map_err(|_| std::thread::sleep(Duration::from_millis(50)))
                    .ok()
            })
            .expect("sled");
        let tree = db.open_tree("exchanges").expect("tree");
        let newer = format!(
            "{{\"v\":{},\"at_unix_ms\":1005,\"shape\":\"new\"}}",
            RECORD_VERSION + 1
        );
        tree.insert(
            RecordKey {
                at_unix_ms: 1005,
                seq: 0,
            }
            .to_bytes(),
            newer.as_bytes(),
        )
        .expect("insert");
        tree.insert(
            RecordKey {
                at_unix_ms: 1015,
                seq: 0,
            }
            .to_bytes(),
            &b"{\"v\":1,\"at_unix_ms\":"[..],
        )
        .expect("insert");
        db.flush().expect("flush");
    }
    let store = SledStore::open(dir.path()).expect("reopen");
    let ex = store.exchanges();
    let mut scan = ex.exchanges_between(0, u64::MAX);
    let read: Vec<String> = scan
        .by_ref()
        .map(|r| {
            r.expect("no storage error")
                .1
                .message_id
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(read, (0..10).map(|n| n.to_string()).collect::<Vec<_>>());
    assert_eq!(
        scan.skipped(),
        Skipped {
            corrupt: 1,
            unknown_version: 1
        }
    );
    assert_eq!(
        ex.skipped(),
        Skipped {
            corrupt: 1,
            unknown_version: 1
        }
    );
}

// === benchmark ===

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time of this process (all threads), from /proc/self/stat (clock ticks, 100 Hz
/// on Linux). On a shared machine this is steadier than wall time.
fn process_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with `)`): utime is field 14, stime
    // 15 of the full line, i.e. 12 and 13 after the name.
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU time of the calling thread, in seconds (/proc/thread-self/schedstat, ns).
fn thread_cpu_s() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |ns| ns / 1e9)
}

const STREAM_ENV: &str = "DUALROAD_BENCH_STREAM";

/// The reading half of `stream_1m`, in a fresh process as `dualroad report` would be:
/// streams every exchange with a small aggregation and prints time, CPU and peak RSS.
#[test]
fn stream_child() {
    let Some(dir) = std::env::var_os(STREAM_ENV) else {
        return;
    };
    let rss_at_start = peak_rss_kib().unwrap_or(0);
    let store = SledStore::open_existing(Path::new(&dir)).expect("open");
    let ex = store.exchanges();
    let cpu = thread_cpu_s();
    let t = Instant::now();
    let mut count = 0u64;
    let mut matches = 0u64;
    let mut latency = 0.0f64;
    let mut by_agency_service = std::collections::HashMap::<(String, String), u64>::new();
    let mut scan = ex.exchanges_between(0, u64::MAX);
    for item in scan.by_ref() {
        let (_, r) = item.expect("read");
        count += 1;
        matches += u64::from(r.outcome == "match");
        latency += r.primary_latency_ms;
        *by_agency_service.entry((r.agency, r.service)).or_default() += 1;
    }
    let secs = t.elapsed().as_secs_f64();
    let cpu_s = thread_cpu_s() - cpu;
    assert_eq!(scan.skipped(), Skipped::default());
    println!(
        "STREAM count={count} secs={secs:.2} cpu={cpu_s:.2} peak_rss_kib={} start_rss_kib={rss_at_start} groups={} match_rate={:.3} mean_latency={:.1}",
        peak_rss_kib().unwrap_or(0),
        by_agency_service.len(),
        matches as f64 / count.max(1) as f64,
        latency / count.max(1) as f64,
    );
}

/// 1 000 000 exchanges written through the queue, then streamed back by a fresh
/// process with a small aggregation (what a report does). Run with
/// `cargo test --test it exchanges::stream_1m -- --ignored --nocapture`;
/// `DUALROAD_BENCH_N` changes the count.
#[test]
#[ignore = "benchmark: writes 1 000 000 records (minutes in a debug build)"]
fn stream_1m() {
    let n: u64 = std::env::var("DUALROAD_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempdir();
    let base = 1_700_000_000_000u64;
    let (submit_ns, write_s, write_cpu_s, stored_mb) = {
        let store = SledStore::open(dir.path()).expect("open");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");

        // The request path: one `submit` when the queue has room (events built
        // beforehand, so only the hand-over is timed).
        let writer = rt.block_on(async { start(&store, quiet()) });
        let probe = 4096u64;
        let events: Vec<ExchangeEvent> = (0..probe).map(|i| event(record(base + i, i))).collect();
        let t = Instant::now();
        for ev in events {
            writer.submit(ev);
        }
        let submit_ns = t.elapsed().as_nanos() as f64 / probe as f64;
        rt.block_on(writer.shutdown());
        assert_eq!(writer.dropped(), KindCounts::default());

        // Throughput through the queue: the producer waits for room (`send`), so
        // nothing is dropped and the figure is the writer's own rate.
        let writer = Arc::new(rt.block_on(async { start(&store, quiet()) }));
        let cpu = process_cpu_s();
        let t = Instant::now();
        rt.block_on({
            let writer = writer.clone();
            async move {
                for i in probe..n {
                    writer
                        .send(event(record(base + i * 2, i)))
                        .await
                        .expect("send");
                }
            }
        });
        let stats = rt.block_on(writer.shutdown());
        let write_s = t.elapsed().as_secs_f64();
        let write_cpu_s = process_cpu_s() - cpu;
        assert_eq!(stats.written.exchanges, n - probe);
        let stored = store.exchanges().counters().expect("c").stored_bytes;
        (submit_ns, write_s, write_cpu_s, stored as f64 / 1e6)
    };

    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "exchanges::stream_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(STREAM_ENV, dir.path())
        .stderr(Stdio::inherit())
        .output()
        .expect("stream child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.find("STREAM ").map(|i| &l[i..]))
        .unwrap_or_else(|| panic!("stream child printed no result: {stdout}"));
    assert!(line.contains(&format!("count={n} ")), "{line}");
    eprintln!(
        "exchange store bench ({}): submit {submit_ns:.0} ns/record on the request path; \
         wrote {} records through the queue in {write_s:.1} s ({:.0} records/s; {write_cpu_s:.1} s CPU, all threads); \
         {stored_mb:.0} MB of keys+values stored; reader process: {line}",
        std::env::var("DUALROAD_BENCH_LABEL").unwrap_or_else(|_| "dev profile".into()),
        n - 4096,
        (n - 4096) as f64 / write_s,
    );
}
