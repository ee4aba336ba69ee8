//! Checks of the shadow-mode parts of the file: `[shadow]`, the per-rule shadow keys
//! (`sample`, `calibrate`, `shadow_writes`, `sandbox`, `store_bodies`, `capture`),
//! `[compare]` and `[store]`. Part of `validate`, with the same rule: report every
//! problem, keep going.

use std::time::Duration;

use super::{Checker, Upstreams};
use crate::config::error::ErrorKind;
use crate::config::file::{
    AutoRollbackConfig, FileConfig, RuleConfig, ShadowWrites, StageName, WindowValue,
    DEFAULT_CALIBRATE, DEFAULT_CAPTURE, DEFAULT_GATE_MIN_SAMPLES, DEFAULT_GATE_WINDOW_S,
    DEFAULT_RETENTION_DAYS, DEFAULT_SAMPLE, DEFAULT_SHADOW_CONCURRENCY,
    DEFAULT_SHADOW_SERVICE_BUDGET_BYTES, DEFAULT_SHADOW_TIMEOUT_MS, DEFAULT_STORE_BODIES,
    DEFAULT_STORE_CACHE_BYTES, DEFAULT_STORE_FLUSH_INTERVAL_MS, DEFAULT_STORE_MAX_BODY_BYTES,
    DEFAULT_STORE_MAX_BYTES, DEFAULT_STORE_QUEUE_CAPACITY,
};
use crate::config::settings::{MirrorPolicy, ShadowSettings, StoreSettings};
use crate::config::source::FieldPath;
use crate::routing::gate::GatePolicy;
use crate::shadow::CompareConfig;
use crate::store::{RedactionConfig, RedactionConfigError, Redactor};
use crate::wire::Dialect;

/// A fraction in `0.0..=1.0`, or the default when absent (or bad, after reporting).
fn fraction(c: &mut Checker<'_>, p: &FieldPath, v: Option<f64>, default: f64) -> f64 {
    match v {
        None => default,
        Some(f) if (0.0..=1.0).contains(&f) => f,
        Some(f) => {
            c.report(
                p,
                ErrorKind::Invalid,
                format!("must be between 0.0 and 1.0, got {f}"),
            );
            default
        }
    }
}

/// A non-negative integer where `0` switches the limit off.
fn optional_limit(c: &mut Checker<'_>, p: &FieldPath, v: Option<i64>, default: u64) -> Option<u64> {
    match v {
        None => Some(default),
        Some(0) => None,
        Some(n) if n > 0 => Some(n.unsigned_abs()),
        Some(n) => {
            c.report(
                p,
                ErrorKind::Invalid,
                format!("must be 0 (no limit) or greater, got {n}"),
            );
            Some(default)
        }
    }
}

pub(super) fn check_shadow(
    file: &FileConfig,
    upstreams: &Upstreams,
    c: &mut Checker<'_>,
) -> ShadowSettings {
    let sp = FieldPath::root().key("shadow");
    let s = file.shadow.as_ref().and_then(|s| c.lenient(&sp, s));
    let fallback = MirrorPolicy {
        sample: fraction(
            c,
            &sp.key("sample"),
            s.and_then(|s| s.sample),
            DEFAULT_SAMPLE,
        ),
        calibrate: fraction(
            c,
            &sp.key("calibrate"),
            s.and_then(|s| s.calibrate),
            DEFAULT_CALIBRATE,
        ),
        sandbox: None,
        store_bodies: s
            .and_then(|s| s.store_bodies)
            .unwrap_or(DEFAULT_STORE_BODIES),
        capture: s.and_then(|s| s.capture).unwrap_or(DEFAULT_CAPTURE),
        auto_rollback: None,
    };
    let timeout = c.millis(
        &sp.key("timeout_ms"),
        s.and_then(|s| s.timeout_ms),
        DEFAULT_SHADOW_TIMEOUT_MS,
    );
    let concurrency = c.positive(
        &sp.key("concurrency"),
        s.and_then(|s| s.concurrency),
        DEFAULT_SHADOW_CONCURRENCY,
    );
    let service_budget_bytes = c.positive(
        &sp.key("service_budget_bytes"),
        s.and_then(|s| s.service_budget_bytes),
        DEFAULT_SHADOW_SERVICE_BUDGET_BYTES,
    );
    let mut rules = Vec::new();
    if let Some(Ok(r)) = file.rollout.as_ref().map(|r| &r.0) {
        for (i, entry) in r.rules.iter().enumerate() {
            let p = FieldPath::root().key("rollout").key("rules").index(i);
            // A rule that does not parse was reported by the rollout checks.
            let Ok(rule) = &entry.0 else { continue };
            rules.push(rule_policy(&p, rule, &fallback, upstreams, c));
        }
    }
    ShadowSettings {
        timeout,
        concurrency: usize::try_from(concurrency).unwrap_or(usize::MAX),
        service_budget_bytes,
        fallback,
        rules,
    }
}

/// The shadow keys of one rule. Mirror keys on a stage that mirrors nothing are
/// refused, as `percent` is on a stage that is not a canary: the file would say
/// something that never happens.
fn rule_policy(
    p: &FieldPath,
    rule: &RuleConfig,
    defaults: &MirrorPolicy,
    upstreams: &Upstreams,
    c: &mut Checker<'_>,
) -> MirrorPolicy {
    let stage = rule.stage.as_ref().and_then(|s| s.0.as_ref().ok()).copied();
    let mirror_to_uxp = match stage {
        Some(StageName::Shadow) => Some(true),
        Some(StageName::UxpShadow) => Some(false),
        _ => None,
    };
    if let (None, Some(stage)) = (mirror_to_uxp, stage) {
        for (key, present) in [
            ("sample", rule.sample.is_some()),
            ("calibrate", rule.calibrate.is_some()),
            ("shadow_writes", rule.shadow_writes.is_some()),
            ("sandbox", rule.sandbox.is_some()),
        ] {
            if present {
                c.report(
                    &p.key(key),
                    ErrorKind::Conflict,
                    format!(
                        "{key} applies only to stage = \"shadow\" or \"uxp-shadow\" (this rule is \"{}\"); remove it",
                        stage.as_str()
                    ),
                );
            }
        }
    }
    let writes = rule
        .shadow_writes
        .as_ref()
        .and_then(|w| c.lenient(&p.key("shadow_writes"), w))
        .copied()
        .unwrap_or(ShadowWrites::Never);
    let sandbox = match (writes, rule.sandbox.as_deref()) {
        (ShadowWrites::Never, None) => None,
        (ShadowWrites::Never, Some(_)) => {
            c.report(
                &p.key("sandbox"),
                ErrorKind::Conflict,
                "sandbox is used only with shadow_writes = \"sandbox\"; add that or remove sandbox",
            );
            None
        }
        (ShadowWrites::Sandbox, None) => {
            c.report(
                &p.key("sandbox"),
                ErrorKind::Missing,
                "required with shadow_writes = \"sandbox\": the upstream that receives mirrored write requests (never a production stack)",
            );
            None
        }
        (ShadowWrites::Sandbox, Some(name)) => {
            check_sandbox(&p.key("sandbox"), name, mirror_to_uxp, upstreams, c);
            Some(name.to_string())
        }
    };
    let auto_rollback = rule
        .auto_rollback
        .as_ref()
        .and_then(|a| c.lenient(&p.key("auto_rollback"), a))
        .and_then(|a| gate_policy(&p.key("auto_rollback"), a, stage, c));
    MirrorPolicy {
        sample: fraction(c, &p.key("sample"), rule.sample, defaults.sample),
        calibrate: fraction(c, &p.key("calibrate"), rule.calibrate, defaults.calibrate),
        sandbox,
        store_bodies: rule.store_bodies.unwrap_or(defaults.store_bodies),
        capture: rule.capture.unwrap_or(defaults.capture),
        auto_rollback,
    }
}

/// `auto_rollback` applies where UXP serves: rolling back a stage legacy already
/// serves would record a decision that changes nothing.
fn gate_policy(
    p: &FieldPath,
    a: &AutoRollbackConfig,
    stage: Option<StageName>,
    c: &mut Checker<'_>,
) -> Option<GatePolicy> {
    if let Some(s @ (StageName::Legacy | StageName::Shadow)) = stage {
        c.report(
            p,
            ErrorKind::Conflict,
            format!(
                "auto_rollback applies only to stage = \"canary\", \"uxp\" or \"uxp-shadow\" (this rule is \"{}\", served by legacy already); remove it",
                s.as_str()
            ),
        );
        return None;
    }
    let min_match_rate = match a.min_match_rate {
        None => {
            c.report(
                &p.key("min_match_rate"),
                ErrorKind::Missing,
                "required: the share of good UXP exchanges below which the rule is rolled back, e.g. 0.95",
            );
            None
        }
        Some(r) => Some(fraction(c, &p.key("min_match_rate"), Some(r), 1.0)),
    };
    let min_samples = c.positive(
        &p.key("min_samples"),
        a.min_samples,
        DEFAULT_GATE_MIN_SAMPLES,
    );
    let window = match &a.window {
        None => Some(Duration::from_secs(DEFAULT_GATE_WINDOW_S)),
        Some(WindowValue::Seconds(n)) if *n > 0 => Some(Duration::from_secs(n.unsigned_abs())),
        Some(WindowValue::Text(t)) => {
            match parse_window(t) {
                Some(d) => Some(d),
                None => {
                    c.report(
                    &p.key("window"),
                    ErrorKind::Invalid,
                    format!("`{t}` is not a window: seconds, or a number with s, m or h, e.g. \"5m\""),
                );
                    None
                }
            }
        }
        Some(WindowValue::Seconds(n)) => {
            c.report(
                &p.key("window"),
                ErrorKind::Invalid,
                format!("must be greater than 0 seconds, got {n}"),
            );
            None
        }
    };
    Some(GatePolicy {
        min_samples,
        min_match_rate: min_match_rate?,
        window: window?,
    })
}

fn parse_window(t: &str) -> Option<Duration> {
    let t = t.trim();
    let split = t.find(|ch: char| !ch.is_ascii_digit())?;
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().ok().filter(|n| *n > 0)?;
    let secs = match unit.trim() {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// The sandbox must exist and speak what the mirrored stack speaks.
fn check_sandbox(
    p: &FieldPath,
    name: &str,
    mirror_to_uxp: Option<bool>,
    upstreams: &Upstreams,
    c: &mut Checker<'_>,
) {
    let Some(entry) = upstreams.get(name) else {
        let known = upstreams.keys().cloned().collect::<Vec<_>>().join(", ");
        c.report(
            p,
            ErrorKind::UnknownReference,
            format!("no upstream named `{name}` (defined: {known})"),
        );
        return;
    };
    let (Some(u), Some(to_uxp)) = (entry, mirror_to_uxp) else {
        return;
    };
    if to_uxp != (u.dialect == Dialect::Uxp) {
        let want = if to_uxp {
            "uxp (a shadow stage mirrors to the UXP stack)"
        } else {
            "a legacy dialect (uxp-shadow mirrors to the legacy stack)"
        };
        c.report(
            p,
            ErrorKind::Conflict,
            format!(
                "sandbox `{name}` speaks {}, but it must speak {want}",
                u.dialect
            ),
        );
    }
}

pub(super) fn check_compare(file: &FileConfig, c: &mut Checker<'_>) -> CompareConfig {
    let p = FieldPath::root().key("compare");
    let Some(cfg) = file.compare.as_ref().and_then(|x| c.lenient(&p, x)) else {
        return CompareConfig::default();
    };
    if let Err(e) = cfg.compile() {
        for problem in e.problems {
            c.report(
                &p.dotted(&problem.field),
                ErrorKind::Invalid,
                problem.message,
            );
        }
    }
    cfg.clone()
}

pub(super) fn check_store(file: &FileConfig, c: &mut Checker<'_>) -> StoreSettings {
    let p = FieldPath::root().key("store");
    let s = file.store.as_ref().and_then(|s| c.lenient(&p, s));
    let days = optional_limit(
        c,
        &p.key("retention_days"),
        s.and_then(|s| s.retention_days),
        DEFAULT_RETENTION_DAYS,
    );
    let max_bytes = optional_limit(
        c,
        &p.key("max_bytes"),
        s.and_then(|s| s.max_bytes),
        DEFAULT_STORE_MAX_BYTES,
    );
    let queue_capacity = c.positive(
        &p.key("queue_capacity"),
        s.and_then(|s| s.queue_capacity),
        DEFAULT_STORE_QUEUE_CAPACITY,
    );
    let flush_interval = c.millis(
        &p.key("flush_interval_ms"),
        s.and_then(|s| s.flush_interval_ms),
        DEFAULT_STORE_FLUSH_INTERVAL_MS,
    );
    let max_body_bytes = c.positive(
        &p.key("max_body_bytes"),
        s.and_then(|s| s.max_body_bytes),
        DEFAULT_STORE_MAX_BODY_BYTES,
    );
    let cache_bytes = c.positive(
        &p.key("cache_bytes"),
        s.and_then(|s| s.cache_bytes),
        DEFAULT_STORE_CACHE_BYTES,
    );
    let rp = p.key("redaction");
    let redaction = match s
        .and_then(|s| s.redaction.as_ref())
        .and_then(|r| c.lenient(&rp, r))
    {
        None => RedactionConfig::default(),
        Some(r) => {
            // The key in the file is checked as given; a generated key is always long
            // enough, so any stand-in of that length checks the paths and headers.
            let key = r.key.clone().unwrap_or_else(|| "x".repeat(32));
            if let Err(e) = Redactor::new(r, key.as_bytes()) {
                let field = match &e {
                    RedactionConfigError::KeyTooShort { .. } => "key",
                    RedactionConfigError::BadPath { .. } => "paths",
                    RedactionConfigError::BadHeader { .. } => "headers",
                };
                c.report(&rp.key(field), ErrorKind::Invalid, e.to_string());
            }
            r.clone()
        }
    };
    StoreSettings {
        max_age: days.map(|d| Duration::from_secs(d.saturating_mul(24 * 60 * 60))),
        max_bytes,
        queue_capacity: usize::try_from(queue_capacity).unwrap_or(usize::MAX),
        flush_interval,
        max_body_bytes: usize::try_from(max_body_bytes).unwrap_or(usize::MAX),
        cache_bytes,
        redaction,
    }
}
