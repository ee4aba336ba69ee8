//! Body-scan cost: the structural proof of a 1 MiB Body (`wire::scan::scan_body`)
//! against a borrowed quick-xml event scan of the same bytes and a `memcpy` of them.
//!
//! Target (issue 11, §2): the scan is not slower than quick-xml's event loop over the
//! same bytes (`Reader::from_reader(&[u8])`, `read_event`, no allocation per event),
//! which merely tokenizes; the ratio to `memcpy` is reported too.
//!
//! The Body mixes what real payloads hold: nested elements, attributes (some with `>`
//! inside the quotes), predefined and character references, CDATA and comments.
//! `scan_body` also validates UTF-8 over the whole Body, which quick-xml does not; the
//! `latin1` case is the same scan without it, to show what the validation costs.
//!
//! Run: `cargo bench --bench scan`. Besides criterion's report, the bench prints medians
//! measured side by side in one run (the machine is shared and noisy).
//! `SCAN_BENCH_ONLY=<contender>` runs one contender a fixed number of times instead,
//! for callgrind's instruction counts (see [`only`] and docs/performance.md).

// A bench is a measuring harness: a failure to set it up may panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::interleaved_medians;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, Criterion, Throughput};
use dualroad::wire::charset::Charset;
use dualroad::wire::scan::scan_body;

const ENV: &[u8] = b"SOAP-ENV:Envelope";

/// A v3.1 request whose Body is about `size` bytes; returns it and the Body's offset.
fn message(size: usize) -> (Vec<u8>, usize) {
    let record = "<allergy code=\"J30.1\" note=\"dose &gt; 5 mg\" seen='2019-04-01'>penicillin (severe rash &amp; fever, &#x2013; 2019)</allergy>\n\
                  <remark><![CDATA[<b>verified</b> by clinic]]></remark><!-- source: ER -->\n\
                  <flag/><name>\u{645}\u{62d}\u{645}\u{62f} caf\u{e9}</name>\n";
    let filler = record.repeat(size / record.len() + 1);
    let head = r#"<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="http://x-road.ee/xsd/x-road.xsd">
  <SOAP-ENV:Header>
    <xrd:consumer>10000042</xrd:consumer>
    <xrd:id>4a7d2c1e-6b0f-4d8a-9e57-bench0000001</xrd:id>
  </SOAP-ENV:Header>
  "#;
    let body = format!(
        "<SOAP-ENV:Body>\n    <moh:getPatientSummary xmlns:moh=\"http://moh.x-road.ee/producer/\">\n      <request>\n{filler}      </request>\n    </moh:getPatientSummary>\n  </SOAP-ENV:Body>\n</SOAP-ENV:Envelope>\n"
    );
    (format!("{head}{body}").into_bytes(), head.len())
}

fn scan(msg: &[u8], at: usize, cs: Charset) -> usize {
    scan_body(msg, at, ENV, cs)
        .expect("the bench Body is valid")
        .body
        .end
}

/// quick-xml's borrowed event loop over the Body element (`<Body>` … `</Body>`).
fn quick_xml_scan(bytes: &[u8]) -> usize {
    let mut r = quick_xml::Reader::from_reader(bytes);
    let mut n = 0;
    loop {
        match r.read_event() {
            Ok(quick_xml::events::Event::Eof) => return n,
            Ok(_) => n += 1,
            Err(e) => panic!("quick-xml stopped at event {n}: {e}"),
        }
    }
}

fn bench(c: &mut Criterion) {
    let (msg, at) = message(1 << 20);
    let body = &msg[at..scan(&msg, at, Charset::Utf8)];
    let mut g = c.benchmark_group("body_scan_1MiB");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("dualroad_scan", |b| {
        b.iter(|| scan(black_box(&msg), at, Charset::Utf8))
    });
    g.bench_function("dualroad_scan_latin1", |b| {
        b.iter(|| scan(black_box(&msg), at, Charset::Latin1))
    });
    g.bench_function("quick_xml_event_scan", |b| {
        b.iter(|| quick_xml_scan(black_box(body)))
    });
    let mut out = vec![0u8; body.len()];
    g.bench_function("memcpy", |b| {
        b.iter(|| {
            out.copy_from_slice(black_box(body));
            black_box(out[out.len() / 2])
        })
    });
    g.finish();
}

fn summary() {
    let (msg, at) = message(1 << 20);
    let body = &msg[at..scan(&msg, at, Charset::Utf8)];
    let mut out = vec![0u8; body.len()];
    let mut s = || {
        black_box(scan(black_box(&msg), at, Charset::Utf8));
    };
    let mut l = || {
        black_box(scan(black_box(&msg), at, Charset::Latin1));
    };
    let mut q = || {
        black_box(quick_xml_scan(black_box(body)));
    };
    let mut m = || {
        out.copy_from_slice(black_box(body));
        black_box(out[0]);
    };
    let t = interleaved_medians(&mut [&mut s, &mut l, &mut q, &mut m], 20, 31);
    let mib = body.len() as f64 / (1u64 << 20) as f64;
    let rate = |ns: f64| mib / (ns / 1e9);
    let (s, l, q, m) = (t[0], t[1], t[2], t[3]);
    println!(
        "\n== body scan, {} bytes; medians, same run ==\n\
         dualroad scan {:.0} µs ({:.0} MiB/s) | same without UTF-8 validation {:.0} µs | \
         quick-xml event scan {:.0} µs ({:.0} MiB/s) | memcpy {:.0} µs ({:.0} MiB/s)\n  \
         scan / quick-xml time = {:.2}x (target ≤ 1.0x: {}) | scan / memcpy time = {:.1}x",
        body.len(),
        s / 1000.0,
        rate(s),
        l / 1000.0,
        q / 1000.0,
        rate(q),
        m / 1000.0,
        rate(m),
        s / q,
        if s <= q { "ok" } else { "MISSED" },
        s / m,
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}

/// `SCAN_BENCH_ONLY=<scan|latin1|quick-xml|memcpy> SCAN_BENCH_ITERS=N`: build the
/// message, run only that contender N times and exit, without criterion. This is the
/// driver for deterministic instruction counts (docs/performance.md): under
/// `valgrind --tool=callgrind`, the count at N minus the count at N = 0 over N is the
/// cost of one 1 MiB scan.
fn only(which: &str) {
    let iters: usize = std::env::var("SCAN_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let (msg, at) = message(1 << 20);
    let body = &msg[at..scan(&msg, at, Charset::Utf8)];
    let mut out = vec![0u8; body.len()];
    let mut sum = 0usize;
    for _ in 0..iters {
        sum += match which {
            "scan" => scan(black_box(&msg), at, Charset::Utf8),
            "latin1" => scan(black_box(&msg), at, Charset::Latin1),
            "quick-xml" => quick_xml_scan(black_box(body)),
            "memcpy" => {
                out.copy_from_slice(black_box(body));
                usize::from(black_box(out[out.len() / 2]))
            }
            other => panic!("SCAN_BENCH_ONLY={other}: expected scan, latin1, quick-xml or memcpy"),
        };
    }
    println!("{which} x{iters}: {}", black_box(sum));
}

fn main() {
    if let Ok(which) = std::env::var("SCAN_BENCH_ONLY") {
        return only(&which);
    }
    benches();
    summary();
    Criterion::default().final_summary();
}
