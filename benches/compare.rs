//! Canonical compare cost: two ~1 KB SOAP answers, parsed into canonical trees and
//! compared, as the mirror does once per shadowed request.
//!
//! Target (issue 4, "Performance"): canonical compare of two 1 KB responses < 20 µs.
//!
//! Cases:
//! - `match`: the same answer serialized differently (prefixes, indentation, header
//!   order, message id and request hash): the common case in a healthy rollout.
//! - `one_field_diff`: one value differs: the tree walk plus the canonical texts and the
//!   unified diff (`similar`) that are produced only for a difference.
//! - floors: one canonicalization, and a raw quick-xml event scan of both answers (the
//!   least any XML-aware comparison does).
//!
//! Run: `cargo bench --bench compare`. Besides criterion's report, the bench prints
//! medians measured side by side in one run (the machine is shared and noisy).

// A bench is a measuring harness: a failure to set it up may panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::interleaved_medians;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, Criterion, Throughput};
use dualroad::shadow::{
    compare, compare_canon, Canon, CompareConfig, Date, Limits, Options, Rules,
};
use dualroad::wire::message::Input;

/// The primary's answer (~1 KB), in the 4.x header dialect.
fn primary() -> String {
    r#"<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="http://x-road.eu/xsd/xroad.xsd" xmlns:biz="http://bizreg.x-road.ps/producer/">
  <SOAP-ENV:Header>
    <xrd:userId>PS400778899</xrd:userId>
    <xrd:id>e2c9a4b7-31f0-4d8e-b65a-90d7f3c1a248</xrd:id>
    <xrd:requestHash algorithmId="http://www.w3.org/2001/04/xmlenc#sha512">UHJpbWFyeSByZXF1ZXN0IGhhc2gsIGludmVudGVkLg==</xrd:requestHash>
  </SOAP-ENV:Header>
  <SOAP-ENV:Body>
    <biz:getCompanyResponse>
      <response>
        <company>
          <registryCode>562345671</registryCode>
          <name>Al-Zaytoun Olive Press Company Ltd.</name>
          <status>ACTIVE</status>
          <city>Tulkarm</city>
          <shareCapital currency="JOD">250000</shareCapital>
          <directors>
            <director><personalCode>PS400312200</personalCode><fullName>Samir Odeh</fullName><role>CHAIRMAN</role></director>
            <director><personalCode>PS400778810</personalCode><fullName>Mariam Qasem</fullName><role>MANAGING_DIRECTOR</role></director>
          </directors>
        </company>
      </response>
    </biz:getCompanyResponse>
  </SOAP-ENV:Body>
</SOAP-ENV:Envelope>
"#
    .to_string()
}

/// The same answer as another stack serializes it: other prefixes, no indentation,
/// header order changed, its own message id and request hash.
fn shadow_match() -> String {
    primary()
        .replace("SOAP-ENV:", "soapenv:")
        .replace("xmlns:SOAP-ENV=", "xmlns:soapenv=")
        .replace("xrd:", "x:")
        .replace("xmlns:xrd=", "xmlns:x=")
        .replace("biz:", "ns2:")
        .replace("xmlns:biz=", "xmlns:ns2=")
        .replace("\n      ", "")
        .replace(
            "e2c9a4b7-31f0-4d8e-b65a-90d7f3c1a248",
            "5f0a7d3c-c8e2-41b9-9d46-a1e7b2f05c93",
        )
        .replace(
            "UHJpbWFyeSByZXF1ZXN0IGhhc2gsIGludmVudGVkLg==",
            "U2hhZG93IGhhc2gsIGludmVudGVkLg==",
        )
}

/// One field differs.
fn shadow_diff() -> String {
    shadow_match().replace("MANAGING_DIRECTOR", "BOARD_MEMBER")
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

fn rules() -> Rules {
    // A realistic config: one ignore rule, one unordered list, one numeric field.
    CompareConfig {
        ignore: vec![dualroad::shadow::IgnoreRule {
            path: "Body/*/response/company/auditTrail".into(),
            reason: "UXP adds an audit trail (BIZREG-88)".into(),
            expires: Some("2026-12-31".into()),
        }],
        unordered: vec![],
        numeric: vec!["Body/getCompanyResponse/response/company/shareCapital".into()],
        timestamps: vec![],
    }
    .compile()
    .expect("bench rules compile")
}

fn today() -> Date {
    "2026-03-01".parse().expect("a date")
}

fn canon(xml: &str) -> Canon {
    Canon::parse(xml.as_bytes(), None, &Limits::default()).expect("bench answers parse")
}

fn compare_once(primary: &[u8], shadow: &[u8], opts: &Options<'_>) -> usize {
    let c = compare(Input::new(primary), Input::new(shadow), opts);
    c.diff_count + c.unified.map_or(0, |u| u.len())
}

fn bench(c: &mut Criterion) {
    let rules = rules();
    let opts = Options::new(&rules, today());
    let (p, sm, sd) = (primary(), shadow_match(), shadow_diff());
    assert_eq!(
        compare(Input::new(p.as_bytes()), Input::new(sm.as_bytes()), &opts).outcome,
        dualroad::shadow::Outcome::Match
    );
    assert_eq!(
        compare(Input::new(p.as_bytes()), Input::new(sd.as_bytes()), &opts).diff_count,
        1
    );
    let mut g = c.benchmark_group("compare_1KB");
    g.throughput(Throughput::Bytes((p.len() + sm.len()) as u64));
    g.bench_function("match", |b| {
        b.iter(|| compare_once(black_box(p.as_bytes()), black_box(sm.as_bytes()), &opts))
    });
    g.bench_function("one_field_diff", |b| {
        b.iter(|| compare_once(black_box(p.as_bytes()), black_box(sd.as_bytes()), &opts))
    });
    let (cp, cs) = (canon(&p), canon(&sm));
    g.bench_function("walk_only_parsed_match", |b| {
        b.iter(|| compare_canon(black_box(&cp), black_box(&cs), &opts).diff_count)
    });
    g.bench_function("canonicalize_one", |b| {
        b.iter(|| {
            Canon::parse(black_box(p.as_bytes()), None, &Limits::default())
                .map(|c| c.node_count())
                .unwrap_or(0)
        })
    });
    g.bench_function("quick_xml_raw_scan_both", |b| {
        b.iter(|| raw_scan(black_box(p.as_bytes())) + raw_scan(black_box(sm.as_bytes())))
    });
    g.finish();
}

fn summary() {
    let rules = rules();
    let opts = Options::new(&rules, today());
    let (p, sm, sd) = (primary(), shadow_match(), shadow_diff());
    let mut m = || {
        black_box(compare_once(p.as_bytes(), black_box(sm.as_bytes()), &opts));
    };
    let mut d = || {
        black_box(compare_once(p.as_bytes(), black_box(sd.as_bytes()), &opts));
    };
    let mut scan = || {
        black_box(raw_scan(black_box(p.as_bytes())) + raw_scan(black_box(sm.as_bytes())));
    };
    let mut parse = || {
        black_box(canon(black_box(&p)).node_count() + canon(black_box(&sm)).node_count());
    };
    let (cp, cs) = (canon(&p), canon(&sm));
    let mut walk = || {
        black_box(compare_canon(black_box(&cp), black_box(&cs), &opts).diff_count);
    };
    let t = interleaved_medians(
        &mut [&mut m, &mut d, &mut scan, &mut parse, &mut walk],
        2000,
        31,
    );
    let at = |i: usize| t.get(i).copied().unwrap_or(f64::NAN) / 1000.0;
    let (m, d, scan, parse, walk) = (at(0), at(1), at(2), at(3), at(4));
    println!(
        "\n== compare, two ~1 KB answers ({} and {} bytes); medians, same run ==",
        p.len(),
        sm.len()
    );
    println!(
        "match {m:.2} µs | one field differs (with unified diff) {d:.2} µs\n  \
         of which: canonicalize both {parse:.2} µs, walk of parsed trees {walk:.2} µs\n  \
         floor: raw quick-xml event scan of both {scan:.2} µs (match = {:.1}x of it)\n  \
         target < 20 µs: match {} / diff {}",
        m / scan,
        if m < 20.0 { "ok" } else { "MISSED" },
        if d < 20.0 { "ok" } else { "MISSED" },
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}

fn main() {
    benches();
    summary();
    Criterion::default().final_summary();
}
