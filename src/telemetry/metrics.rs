//! A small Prometheus registry: labelled counters, gauges and fixed-bucket histograms,
//! rendered in the text exposition format by the admin listener's `/metrics`.
//!
//! Written by hand because the gateway needs a few dozen series and the usual crates
//! pull in far more than that. Series are keyed by name + sorted label pairs; updates
//! take one short mutex hold (no I/O under the lock).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Latency buckets in seconds, from sub-millisecond (loopback) to the upstream timeout.
pub const DEFAULT_LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

type Labels = Vec<(&'static str, String)>;

#[derive(Debug, Default)]
struct Histogram {
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Debug, Default)]
struct Inner {
    counters: BTreeMap<(&'static str, Labels), f64>,
    gauges: BTreeMap<(&'static str, Labels), f64>,
    histograms: BTreeMap<(&'static str, Labels), Histogram>,
    help: BTreeMap<&'static str, &'static str>,
}

/// The registry. Cheap to share behind an `Arc`.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

fn labels(pairs: &[(&'static str, &str)]) -> Labels {
    let mut l: Labels = pairs.iter().map(|(k, v)| (*k, v.to_string())).collect();
    l.sort();
    l
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        // A poisoned lock only means another thread panicked mid-update; the maps are
        // still usable, and metrics must never take the request path down.
        let mut g = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&mut g)
    }

    pub fn describe(&self, name: &'static str, help: &'static str) {
        self.with(|i| {
            i.help.insert(name, help);
        });
    }

    pub fn inc(&self, name: &'static str, pairs: &[(&'static str, &str)]) {
        self.add(name, pairs, 1.0);
    }

    pub fn add(&self, name: &'static str, pairs: &[(&'static str, &str)], v: f64) {
        let key = (name, labels(pairs));
        self.with(|i| *i.counters.entry(key).or_default() += v);
    }

    pub fn set(&self, name: &'static str, pairs: &[(&'static str, &str)], v: f64) {
        let key = (name, labels(pairs));
        self.with(|i| {
            i.gauges.insert(key, v);
        });
    }

    /// Drops every series of gauge `name` (before re-publishing a full set).
    pub fn clear_gauge(&self, name: &'static str) {
        self.with(|i| i.gauges.retain(|(n, _), _| *n != name));
    }

    pub fn observe(&self, name: &'static str, pairs: &[(&'static str, &str)], d: Duration) {
        let key = (name, labels(pairs));
        let secs = d.as_secs_f64();
        self.with(|i| {
            let h = i.histograms.entry(key).or_insert_with(|| Histogram {
                buckets: vec![0; DEFAULT_LATENCY_BUCKETS.len()],
                ..Default::default()
            });
            for (n, le) in DEFAULT_LATENCY_BUCKETS.iter().enumerate() {
                if secs <= *le {
                    if let Some(b) = h.buckets.get_mut(n) {
                        *b += 1;
                    }
                }
            }
            h.sum += secs;
            h.count += 1;
        })
    }

    /// Current value of a counter (tests and the demo summary read it).
    pub fn counter(&self, name: &'static str, pairs: &[(&'static str, &str)]) -> f64 {
        let key = (name, labels(pairs));
        self.with(|i| i.counters.get(&key).copied().unwrap_or(0.0))
    }

    /// Sum of a counter over all series whose labels include `pairs`.
    pub fn counter_sum(&self, name: &'static str, pairs: &[(&'static str, &str)]) -> f64 {
        self.with(|i| {
            i.counters
                .iter()
                .filter(|((n, l), _)| {
                    *n == name
                        && pairs
                            .iter()
                            .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
                })
                .map(|(_, v)| *v)
                .sum()
        })
    }

    /// All counter series of `name`, as (labels, value).
    pub fn series(&self, name: &'static str) -> Vec<(Vec<(String, String)>, f64)> {
        self.with(|i| {
            i.counters
                .iter()
                .filter(|((n, _), _)| *n == name)
                .map(|((_, l), v)| {
                    (
                        l.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
                        *v,
                    )
                })
                .collect()
        })
    }

    /// Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        self.with(|i| {
            let mut out = String::new();
            let fmt_labels = |l: &Labels, extra: Option<(&str, String)>| -> String {
                let mut parts: Vec<String> = l
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                    .collect();
                if let Some((k, v)) = extra {
                    parts.push(format!("{k}=\"{v}\""));
                }
                if parts.is_empty() {
                    String::new()
                } else {
                    format!("{{{}}}", parts.join(","))
                }
            };
            let mut last = "";
            for ((name, l), v) in &i.counters {
                if *name != last {
                    header(&mut out, name, "counter", i.help.get(name));
                    last = name;
                }
                let _ = writeln!(out, "{name}{} {v}", fmt_labels(l, None));
            }
            last = "";
            for ((name, l), v) in &i.gauges {
                if *name != last {
                    header(&mut out, name, "gauge", i.help.get(name));
                    last = name;
                }
                let _ = writeln!(out, "{name}{} {v}", fmt_labels(l, None));
            }
            last = "";
            for ((name, l), h) in &i.histograms {
                if *name != last {
                    header(&mut out, name, "histogram", i.help.get(name));
                    last = name;
                }
                for (n, le) in DEFAULT_LATENCY_BUCKETS.iter().enumerate() {
                    let c = h.buckets.get(n).copied().unwrap_or(0);
                    let _ = writeln!(
                        out,
                        "{name}_bucket{} {c}",
                        fmt_labels(l, Some(("le", le.to_string())))
                    );
                }
                let _ = writeln!(
                    out,
                    "{name}_bucket{} {}",
                    fmt_labels(l, Some(("le", "+Inf".into()))),
                    h.count
                );
                let _ = writeln!(out, "{name}_sum{} {}", fmt_labels(l, None), h.sum);
                let _ = writeln!(out, "{name}_count{} {}", fmt_labels(l, None), h.count);
            }
            out
        })
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: Option<&&str>) {
    if let Some(h) = help {
        let _ = writeln!(out, "# HELP {name} {h}");
    }
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::new();
        m.describe("dualroad_requests_total", "Requests served.");
        m.inc(
            "dualroad_requests_total",
            &[("stage", "legacy"), ("agency", "10000042")],
        );
        m.inc(
            "dualroad_requests_total",
            &[("agency", "10000042"), ("stage", "legacy")],
        );
        m.observe(
            "dualroad_upstream_seconds",
            &[("stack", "uxp")],
            Duration::from_millis(3),
        );
        m.set("dualroad_switch_active", &[], 1.0);
        let t = m.render();
        assert!(t.contains("# TYPE dualroad_requests_total counter"), "{t}");
        assert!(
            t.contains("dualroad_requests_total{agency=\"10000042\",stage=\"legacy\"} 2"),
            "{t}"
        );
        assert!(
            t.contains("dualroad_upstream_seconds_bucket{stack=\"uxp\",le=\"0.005\"} 1"),
            "{t}"
        );
        assert!(
            t.contains("dualroad_upstream_seconds_count{stack=\"uxp\"} 1"),
            "{t}"
        );
        assert!(t.contains("dualroad_switch_active 1"), "{t}");
        assert_eq!(
            m.counter_sum("dualroad_requests_total", &[("stage", "legacy")]),
            2.0
        );
    }
}
