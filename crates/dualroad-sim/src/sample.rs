//! Sample evidence from the stack simulators, deterministic: for the report's tests and
//! snapshots, its benchmark, the screenshot script and `dualroad report --sample`.
//!
//! Each exchange is what shadow mode would record for a real request: a fixture
//! request (with a message id derived from the seed and the exchange's number) is
//! answered by the legacy simulator, translated to UXP and answered by the UXP
//! simulator (with a per-scenario divergence and fault rate, decided per message id),
//! translated back to the client's dialect and compared with [`compare`](fn@crate::shadow::compare)
//! under a few ignore rules and one calibration model (stored with the records, as the
//! gateway stores its own). Only latencies, timeouts and sampling are drawn from a
//! seeded hash, because the simulators answer instantly. The same seed gives the same
//! records, byte for byte, and the times come from the caller, not the clock.
//!
//! The scenarios: a health portal moving from shadow to a 25 % canary, a payments
//! service already served by UXP with legacy shadowing it, a municipality whose
//! residence lookups differ too often (and whose write service is never mirrored),
//! a bank on canary with a UXP stack that differs, faults and is slow, and one
//! consumer with no mapping.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::evidence::{
    Bodies, Body, DiffPath, DiffRecord, ExchangeEvent, ExchangeOutcome, ExchangeRecord,
    NotComparedReason, RecordKey, ServedBy, Stage,
};
use crate::mapping::Mappings;
use crate::shadow::{self, CompareConfig, Date, IgnoreRule, NoiseModel, Outcome, Role, Rules};
use crate::translate::{Options, Translator};
use crate::wire::message::Input;
use crate::{self as sim, SimConfig};

const HEALTH: &[u8] =
    include_bytes!("../../../fixtures/messages/v3.1-eu/request-getPatientSummary.xml");
const HEALTH_ID: &str = "b9a5b60b-a69b-46d2-a7ae-5f7ba344a418";
const PAY: &[u8] =
    include_bytes!("../../../fixtures/messages/v3.1-eu/request-getPaymentStatus.xml");
const PAY_ID: &str = "7e21bb08-61da-4e99-9863-d2b106c563a3";
const CITY: &[u8] =
    include_bytes!("../../../fixtures/messages/v3.1-eu/request-RR19IsikuElukoht.xml");
const CITY_ID: &str = "da91096e-139f-45aa-810c-aa2214d9c05e";
const BANK: &[u8] =
    include_bytes!("../../../fixtures/messages/v3.1-eu/request-getCompany-empty-issue.xml");
const BANK_ID: &str = "b50ba91a-03df-44ad-b5f6-24f289914be8";
const UNMAPPED: &[u8] =
    include_bytes!("../../../fixtures/messages/malformed/unmapped-consumer.xml");

/// The agency the sample's operator rolls back between 80 % and 85 % of the period.
pub const ROLLED_BACK: &str = "10000077";
/// The service the sample's calibration model is stored for (`fill`): the only one
/// whose answers have a path the model calls noise.
pub const CALIBRATED: &str = "bizreg.getCompany.v1";

/// The redaction key sample stores are written with, so redacted values (keyed
/// hashes) are the same in every run.
pub const SAMPLE_REDACTION_KEY: &str = "dualroad-sample-evidence-redaction-key-0001";

/// The ignore rules the sample compares under: one that matches, one that is stale.
pub fn sample_ignore_rules() -> Vec<IgnoreRule> {
    vec![
        IgnoreRule {
            path: "Body/getPaymentStatusResponse/response/lastUpdated".into(),
            reason: "SAMPLE-1: the UXP payments producer refreshes lastUpdated on read".into(),
            expires: Some("2026-12-31".into()),
        },
        IgnoreRule {
            path: "Body/getCompanyResponse/response/legacyBranchCode".into(),
            reason: "SAMPLE-2: field removed from the legacy producer in 2024".into(),
            expires: None,
        },
    ]
}

#[derive(Debug, Clone, Copy)]
enum Plan {
    /// One stage throughout.
    Fixed(Stage),
    /// The first stage until this share of the period, then the second.
    Switch(Stage, f64, Stage),
}

#[derive(Debug, Clone, Copy)]
struct Scenario {
    agency: &'static str,
    service: &'static str,
    request: &'static [u8],
    request_id: &'static str,
    plan: Plan,
    /// Of the UXP simulator.
    divergence: f64,
    uxp_fault_rate: f64,
    /// Per mille of mirrored copies lost to a timeout / not sampled.
    timeout_permille: u64,
    sampled_out_permille: u64,
    legacy_ms: f64,
    uxp_ms: f64,
    /// A write service: never mirrored.
    write: bool,
    /// Rejected by dualroad (no mapping): the fault code it answers with.
    rejected: Option<&'static str>,
}

const fn scenario(
    agency: &'static str,
    service: &'static str,
    request: &'static [u8],
    request_id: &'static str,
    plan: Plan,
) -> Scenario {
    Scenario {
        agency,
        service,
        request,
        request_id,
        plan,
        divergence: 0.0,
        uxp_fault_rate: 0.0,
        timeout_permille: 5,
        sampled_out_permille: 0,
        legacy_ms: 30.0,
        uxp_ms: 34.0,
        write: false,
        rejected: None,
    }
}

/// The mix of exchanges, repeated in this order (the health portal is the busiest).
fn scenarios() -> Vec<Scenario> {
    let health = Scenario {
        divergence: 0.002,
        ..scenario(
            "10000042",
            "moh.getPatientSummary.v2",
            HEALTH,
            HEALTH_ID,
            Plan::Switch(Stage::Shadow, 0.5, Stage::Canary),
        )
    };
    let pay = Scenario {
        legacy_ms: 20.0,
        uxp_ms: 18.0,
        ..scenario(
            "10000042",
            "pay.getPaymentStatus",
            PAY,
            PAY_ID,
            Plan::Fixed(Stage::UxpShadow),
        )
    };
    let city = Scenario {
        divergence: 0.06,
        sampled_out_permille: 100,
        timeout_permille: 20,
        ..scenario(
            "10000055",
            "pop.RR19IsikuElukoht.v1",
            CITY,
            CITY_ID,
            Plan::Fixed(Stage::Shadow),
        )
    };
    let city_write = Scenario {
        write: true,
        ..scenario(
            "10000055",
            "bizreg.fileApplication.v1",
            CITY,
            CITY_ID,
            Plan::Fixed(Stage::Shadow),
        )
    };
    let bank = Scenario {
        divergence: 0.08,
        uxp_fault_rate: 0.01,
        uxp_ms: 70.0,
        ..scenario(
            "10000077",
            "bizreg.getCompany.v1",
            BANK,
            BANK_ID,
            Plan::Switch(Stage::Shadow, 0.3, Stage::Canary),
        )
    };
    let unmapped = Scenario {
        rejected: Some("Server.ClientProxy.UnknownMember"),
        ..scenario(
            "10000099",
            "moh.getPatientSummary.v2",
            UNMAPPED,
            "",
            Plan::Fixed(Stage::Legacy),
        )
    };
    vec![
        health, health, health, pay, city, health, bank, city, pay, health, bank, city_write,
        health, city, bank, pay, health, bank, city, health, unmapped,
    ]
}

/// splitmix64: a decent 64-bit mix, for the few things drawn rather than simulated.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn unit(seed: u64, n: u64, salt: u64) -> f64 {
    (mix(seed ^ mix(n ^ mix(salt))) >> 11) as f64 / (1u64 << 53) as f64
}

/// What the simulators and the comparator made of one request (cached: the cost of a
/// sample exchange is then the record, not the simulation).
#[derive(Debug, Clone)]
struct Simulated {
    request: Bytes,
    legacy: Bytes,
    uxp_back: Option<Bytes>,
    lossy: Vec<String>,
    /// Comparison with legacy as the primary, and with UXP as the primary.
    legacy_primary: shadow::Comparison,
    uxp_primary: shadow::Comparison,
}

/// A deterministic source of sample exchanges.
pub struct Sample {
    maps: Mappings,
    seed: u64,
    start_ms: u64,
    step_ms: u64,
    total: u64,
    /// Distinct message ids per scenario; exchange `i` reuses id `i / scenarios % variants`.
    variants: u64,
    with_bodies: bool,
    scenarios: Vec<Scenario>,
    rules: Rules,
    ignore: Vec<IgnoreRule>,
    noise: NoiseModel,
    cache: HashMap<(usize, u64), Arc<Simulated>>,
}

impl Sample {
    /// `total` exchanges, `step_ms` apart from `start_ms`.
    pub fn new(maps: Mappings, seed: u64, start_ms: u64, step_ms: u64, total: u64) -> Sample {
        let ignore = sample_ignore_rules();
        let rules = CompareConfig {
            ignore: ignore.clone(),
            ..CompareConfig::default()
        }
        .compile()
        .unwrap_or_default();
        // Calibration "learned" that the company card's lastUpdated moves between
        // two legacy answers too; two calibration copies were answered with a fault and
        // not learned from (calibration errors).
        let mut noise = NoiseModel::new();
        for _ in 0..20 {
            noise.learn_paths(["Body/getCompanyResponse/response/lastUpdated"]);
        }
        noise.record_error();
        noise.record_error();
        Sample {
            maps,
            seed,
            start_ms,
            step_ms: step_ms.max(1),
            total: total.max(1),
            variants: 400,
            with_bodies: true,
            scenarios: scenarios(),
            rules,
            ignore,
            noise,
            cache: HashMap::new(),
        }
    }

    /// Hand the raw bodies to the writer with each diff (so the unified diff is kept;
    /// bodies themselves are never stored). Default true; the benchmark turns it off.
    pub fn with_bodies(mut self, yes: bool) -> Sample {
        self.with_bodies = yes;
        self
    }

    /// Distinct message ids per scenario (more: slower to build, more varied).
    pub fn with_variants(mut self, n: u64) -> Sample {
        self.variants = n.max(1);
        self
    }

    pub fn ignore_rules(&self) -> &[IgnoreRule] {
        &self.ignore
    }

    pub fn mappings(&self) -> &Mappings {
        &self.maps
    }

    pub fn len(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The period the sample covers: `[start, end)`.
    /// The calibration model the sample stores under [`CALIBRATED`].
    pub fn noise(&self) -> &NoiseModel {
        &self.noise
    }

    pub fn period(&self) -> (u64, u64) {
        (self.start_ms, self.start_ms + self.step_ms * self.total)
    }

    fn message_id(&self, s: usize, variant: u64) -> String {
        format!(
            "{:08x}-{:04x}-4000-8000-{:012x}",
            self.seed as u32, s as u16, variant
        )
    }

    fn simulate(&mut self, s: usize, variant: u64) -> Arc<Simulated> {
        if let Some(hit) = self.cache.get(&(s, variant)) {
            return hit.clone();
        }
        let sc = self.scenarios[s];
        let id = self.message_id(s, variant);
        let text = String::from_utf8_lossy(sc.request);
        let request = if sc.request_id.is_empty() {
            text.into_owned()
        } else {
            text.replace(sc.request_id, &id)
        };
        let request = Bytes::from(request.into_bytes());
        let legacy = sim::respond(&SimConfig::legacy(), &sim::Request::post(&request));
        let tr = Translator::new(&self.maps, Options::default());
        let mut lossy = Vec::new();
        let uxp_back = tr.request_to_uxp(Input::new(&request)).ok().and_then(|t| {
            lossy = t.lossy.iter().map(|s| s.to_string()).collect();
            let cfg = SimConfig {
                divergence_rate: sc.divergence,
                fault_rate: sc.uxp_fault_rate,
                ..SimConfig::uxp()
            };
            let answer = sim::respond(
                &cfg,
                &sim::Request::post(&t.bytes).with_content_type(Some(&t.content_type)),
            );
            tr.response_to_legacy(
                Input::new(&answer.body).with_content_type(Some(&answer.content_type)),
                Input::new(&request),
            )
            .ok()
            .map(|back| Bytes::from(back.bytes))
        });
        let today = Date::new(2026, 3, 1).unwrap_or(Date::from_unix_seconds(0));
        let copts = shadow::Options::new(&self.rules, today).with_noise(Some(&self.noise));
        let cmp = |p: &[u8], s: Option<&Bytes>| match s {
            Some(s) => shadow::compare(Input::new(p), Input::new(s), &copts),
            None => shadow::Comparison::not_compared(
                shadow::NotComparedReason::UpstreamError,
                Some("the UXP answer could not be translated back".into()),
            ),
        };
        let legacy_primary = cmp(&legacy.body, uxp_back.as_ref());
        let uxp_primary = match &uxp_back {
            Some(u) => shadow::compare(Input::new(u), Input::new(&legacy.body), &copts),
            None => legacy_primary.clone(),
        };
        let sim = Arc::new(Simulated {
            request,
            legacy: Bytes::from(legacy.body),
            uxp_back,
            lossy,
            legacy_primary,
            uxp_primary,
        });
        self.cache.insert((s, variant), sim.clone());
        sim
    }

    /// The `i`-th exchange (and its diff, if any), as the proxy would submit it.
    pub fn event(&mut self, i: u64) -> ExchangeEvent {
        let n = self.scenarios.len() as u64;
        let s = (i % n) as usize;
        let variant = (i / n) % self.variants;
        let sc = self.scenarios[s];
        let at = self.start_ms + i * self.step_ms;
        let share = i as f64 / self.total as f64;
        let stage = match sc.plan {
            // The operator's rollback of the bank (see `fill`), until its release.
            _ if sc.agency == ROLLED_BACK && (0.8..0.85).contains(&share) => Stage::Rollback,
            Plan::Fixed(st) => st,
            Plan::Switch(a, at_share, b) => {
                if share < at_share {
                    a
                } else {
                    b
                }
            }
        };
        let id = self.message_id(s, variant);
        let draw = |salt: u64| unit(self.seed, i, salt);
        let latency = |base: f64, salt: u64| {
            let tail = if draw(salt + 1) > 0.98 { 3.0 } else { 1.0 };
            ((base * (0.6 + 0.8 * draw(salt)) * tail) * 100.0).round() / 100.0
        };
        let legacy_ms = latency(sc.legacy_ms, 10);
        let uxp_ms = latency(sc.uxp_ms, 20);
        let served_by = match stage {
            Stage::Uxp | Stage::UxpShadow => ServedBy::Uxp,
            // A canary splits per message id, as `routing::decide` does.
            Stage::Canary if mix(variant ^ mix(s as u64)) % 100 < 25 => ServedBy::Uxp,
            _ => ServedBy::Legacy,
        };
        let (primary_ms, shadow_ms) = if served_by == ServedBy::Uxp {
            (uxp_ms, legacy_ms)
        } else {
            (legacy_ms, uxp_ms)
        };
        let mut record = ExchangeRecord {
            at_unix_ms: at,
            message_id: Some(id.clone()),
            agency: sc.agency.to_string(),
            service: sc.service.to_string(),
            stage,
            served_by,
            listener: "agencies".to_string(),
            primary_latency_ms: primary_ms,
            outcome: ExchangeOutcome::Served,
            ..ExchangeRecord::default()
        };
        if let Some(code) = sc.rejected {
            record.outcome = ExchangeOutcome::Rejected;
            record.rejected_code = Some(code.to_string());
            record.unmapped = vec![sc.agency.to_string()];
            record.primary_latency_ms = 0.4;
            return event(record, None);
        }
        let mirrored = matches!(stage, Stage::Shadow | Stage::Canary | Stage::UxpShadow);
        if !mirrored {
            return event(record, None);
        }
        let not_compared = if sc.write {
            Some(NotComparedReason::WriteService)
        } else if ((draw(30) * 1000.0) as u64) < sc.sampled_out_permille {
            Some(NotComparedReason::SampledOut)
        } else if ((draw(40) * 1000.0) as u64) < sc.timeout_permille {
            Some(NotComparedReason::Timeout)
        } else {
            None
        };
        let sim = self.simulate(s, variant);
        record.lossy_fields.clone_from(&sim.lossy);
        if let Some(reason) = not_compared {
            record.outcome = ExchangeOutcome::NotCompared;
            record.not_compared_reason = Some(reason);
            return event(record, None);
        }
        record.shadow_message_id = Some(format!("{id}-shadow"));
        record.shadow_latency_ms = Some(shadow_ms);
        let c = if served_by == ServedBy::Uxp {
            &sim.uxp_primary
        } else {
            &sim.legacy_primary
        };
        record.outcome = c.outcome.class().into();
        record.noise_diffs = c.noise_count as u64;
        if let Outcome::NotCompared { reason, .. } = &c.outcome {
            record.not_compared_reason = Some(*reason);
            record.shadow_latency_ms = None;
        }
        match &c.outcome {
            Outcome::FaultMismatch { faulted, code } => match faulted {
                Role::Primary => record.primary_fault_code = Some(code.clone()),
                Role::Shadow => record.shadow_fault_code = Some(code.clone()),
            },
            Outcome::FaultCodeDiff { primary, shadow } => {
                record.primary_fault_code = Some(primary.clone());
                record.shadow_fault_code = Some(shadow.clone());
            }
            _ => {}
        }
        record.ignore_rules = c
            .rules_matched
            .iter()
            .filter_map(|&r| self.ignore.get(r).map(|r| r.path.clone()))
            .collect();
        if !c.outcome.is_mismatch() && c.noise.is_empty() {
            return event(record, None);
        }
        let mut paths: Vec<DiffPath> = c
            .diffs
            .iter()
            .map(|d| diff_path(d, false))
            .chain(c.noise.iter().map(|d| diff_path(d, true)))
            .collect();
        paths.truncate(64);
        let diff = DiffRecord {
            id: RecordKey::first_at(at),
            at_unix_ms: at,
            agency: sc.agency.to_string(),
            service: sc.service.to_string(),
            outcome: record.outcome,
            paths,
            unified: c.unified.clone().unwrap_or_default(),
        };
        if self.with_bodies {
            let (primary, shadow) = if served_by == "uxp" {
                (sim.uxp_back.clone(), Some(sim.legacy.clone()))
            } else {
                (Some(sim.legacy.clone()), sim.uxp_back.clone())
            };
            let body = |b: Bytes| Body {
                content_type: Some("text/xml; charset=utf-8".into()),
                bytes: b,
            };
            record.bodies = Some(Bodies {
                request: Some(body(sim.request.clone())),
                primary: primary.map(body),
                shadow: shadow.map(body),
            });
        }
        event(record, Some(diff))
    }
}

fn event(record: ExchangeRecord, diff: Option<DiffRecord>) -> ExchangeEvent {
    ExchangeEvent {
        record,
        diff,
        store_bodies: false,
    }
}

fn diff_path(d: &shadow::PathDiff, noise: bool) -> DiffPath {
    DiffPath {
        path: d.path.clone(),
        kind: match d.kind {
            shadow::DiffKind::Added => "added",
            shadow::DiffKind::Removed => "removed",
            shadow::DiffKind::Changed => "changed",
        }
        .to_string(),
        primary: d.primary.clone(),
        shadow: d.shadow.clone(),
        noise,
    }
}
