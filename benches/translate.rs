//! Translation cost against the two floors it should approach:
//! - a raw quick-xml event scan of the same bytes (the least any XML-aware tool does);
//! - a `memcpy` of the same bytes (the least any copying proxy does).
//!
//! Targets (issue "Translation core"): a ~1 KB v3.1 request translates in ≤ 2× the raw
//! scan; with a 1 MiB body, throughput ≥ 0.5× memcpy (the Body is never tokenized);
//! bytes allocated per translation ≤ ~2× the message size.
//!
//! Run: `cargo bench --bench translate`. Besides criterion's report, the bench prints
//! ratios measured side by side in one run (the machine is shared and noisy, so only
//! ratios are comparable). Latest results are in README.md.

// A bench is a measuring harness: a failure to set it up may panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::interleaved_medians;
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{criterion_group, Criterion, Throughput};
use dualroad::mapping::Mappings;
use dualroad::translate::{Options, Translator};
use dualroad::wire::message::Input;

/// Counts bytes allocated, to report allocation per translation.
struct Counting;
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.fetch_add(new_size.saturating_sub(layout.size()), Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn message(body_payload: usize) -> Vec<u8> {
    let filler =
        "<allergy>penicillin (severe rash, 2019)</allergy>\n".repeat(body_payload / 50 + 1);
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="http://x-road.ee/xsd/x-road.xsd">
  <SOAP-ENV:Header>
    <xrd:consumer>10000042</xrd:consumer>
    <xrd:producer>moh</xrd:producer>
    <xrd:userId>PS400123456</xrd:userId>
    <xrd:id>4a7d2c1e-6b0f-4d8a-9e57-bench0000001</xrd:id>
    <xrd:service>moh.getPatientSummary.v2</xrd:service>
    <xrd:issue>CASE-2026-0042</xrd:issue>
    <xrd:unit>10000042-ER</xrd:unit>
    <xrd:position>triage nurse</xrd:position>
  </SOAP-ENV:Header>
  <SOAP-ENV:Body>
    <moh:getPatientSummary xmlns:moh="http://moh.x-road.ee/producer/">
      <request><patientId>PS400123456</patientId><include>allergies</include>
{filler}      </request>
    </moh:getPatientSummary>
  </SOAP-ENV:Body>
</SOAP-ENV:Envelope>
"#
    )
    .into_bytes()
}

fn mappings() -> Mappings {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    let m = dualroad::mapping::load_dir(&dir).expect("mappings/ loads");
    // The bench message is v3.1 (x-road.ee); the repo mappings' dialect only matters
    // for UXP → legacy, so they serve here as they are.
    m
}

fn raw_scan(bytes: &[u8]) -> usize {
    let mut r = quick_xml::Reader::from_reader(bytes);
    let mut n = 0;
    loop {
        match r.read_event() {
            Ok(quick_xml::events::Event::Eof) | Err(_) => return n,
            Ok(_) => n += 1,
        }
    }
}

fn translate_once(maps: &Mappings, bytes: &[u8]) -> usize {
    let t = Translator::new(maps, Options::default())
        .request_to_uxp(Input::new(bytes))
        .expect("translates");
    t.bytes.len()
}

fn bench(c: &mut Criterion) {
    let maps = mappings();
    for (name, size) in [("1KB", 0usize), ("1MiB", 1 << 20)] {
        let msg = message(size);
        let mut g = c.benchmark_group(format!("translate_{name}"));
        g.throughput(Throughput::Bytes(msg.len() as u64));
        g.bench_function("dualroad_v31_to_uxp", |b| {
            b.iter(|| translate_once(&maps, black_box(&msg)))
        });
        g.bench_function("quick_xml_raw_scan", |b| {
            b.iter(|| raw_scan(black_box(&msg)))
        });
        g.bench_function("memcpy", |b| b.iter(|| black_box(msg.clone())));
        g.finish();
    }
}

fn ratios() {
    let maps = mappings();
    println!("\n== ratios (same run, interleaved rounds, medians) ==");
    for (name, size, iters) in [("1KB", 0usize, 2000u32), ("1MiB", 1 << 20, 20)] {
        let msg = message(size);
        let mut tr = || {
            black_box(translate_once(&maps, black_box(&msg)));
        };
        let mut scan = || {
            black_box(raw_scan(black_box(&msg)));
        };
        let mut copy = || {
            black_box(black_box(&msg).clone());
        };
        let m = interleaved_medians(&mut [&mut tr, &mut scan, &mut copy], iters, 31);
        let (tr, scan, copy) = (m[0], m[1], m[2]);
        let before = ALLOCATED.load(Ordering::Relaxed);
        black_box(translate_once(&maps, &msg));
        let alloc = ALLOCATED.load(Ordering::Relaxed) - before;
        let mb_s = |ns: f64| msg.len() as f64 / ns * 1e9 / (1024.0 * 1024.0);
        println!(
            "{name} ({} bytes): translate {:.2} µs ({:.0} MiB/s) | raw quick-xml scan {:.2} µs | memcpy {:.2} µs\n  \
             translate/raw-scan time = {:.2}x (target ≤ 2.0x) | translate throughput / memcpy throughput = {:.2}x (target ≥ 0.5x for 1MiB) | \
             allocated {} bytes per translation = {:.2}x message size (target ≤ ~2x)",
            msg.len(),
            tr / 1000.0,
            mb_s(tr),
            scan / 1000.0,
            copy / 1000.0,
            tr / scan,
            copy / tr,
            alloc,
            alloc as f64 / msg.len() as f64
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}

fn main() {
    benches();
    ratios();
    Criterion::default().final_summary();
}
