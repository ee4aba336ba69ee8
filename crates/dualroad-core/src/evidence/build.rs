//! [`build`]: the one place an exchange's record (and its diff) is made, from the
//! [`Facts`] the pipeline and the shadow copy collected and the comparison.

use super::{
    Bodies, Body, DiffPath, DiffRecord, ExchangeEvent, ExchangeOutcome, ExchangeRecord, RecordKey,
    ServedBy, Stage,
};
use crate::shadow::compare::Comparison;
use crate::shadow::exchange::Answer;
use crate::shadow::outcome::{Outcome, Role};
use crate::shadow::rules::Rules;

/// What is known of an exchange besides the comparison.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub at_unix_ms: u64,
    pub message_id: Option<String>,
    pub shadow_message_id: Option<String>,
    pub agency: String,
    pub service: String,
    pub stage: Stage,
    /// The stack whose answer the client got (`dualroad` when the gateway answered
    /// with its own fault).
    pub served_by: ServedBy,
    pub listener: String,
    pub primary_latency_ms: f64,
    pub primary_fault_code: Option<String>,
    pub lossy_fields: Vec<String>,
    pub unmapped: Vec<String>,
    pub request_hash: Option<String>,
    /// The gateway's own fault code when it rejected the request.
    pub rejected_code: Option<String>,
}

/// The bodies kept with an exchange (raw: the writer redacts them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawBodies {
    pub request: Option<Answer>,
    pub primary: Option<Answer>,
    pub shadow: Option<Answer>,
}

/// What a record's `written_by` says: this build of dualroad.
pub(crate) const WRITTEN_BY: &str = concat!("dualroad ", env!("CARGO_PKG_VERSION"));

/// The store event for one exchange. `comparison` is `None` when nothing was mirrored
/// (outcome `served`, or `rejected` when `facts.rejected_code` is set). Bodies go to
/// the writer whenever there is a diff (it needs them to redact the diff) or
/// `store_bodies` is set; the writer stores them only in the second case.
pub fn build(
    facts: Facts,
    comparison: Option<&Comparison>,
    shadow_latency_ms: Option<f64>,
    rules: &Rules,
    bodies: RawBodies,
    store_bodies: bool,
) -> ExchangeEvent {
    let (outcome, reason, shadow_fault) = match comparison {
        None if facts.rejected_code.is_some() => (ExchangeOutcome::Rejected, None, None),
        None => (ExchangeOutcome::Served, None, None),
        Some(c) => (
            ExchangeOutcome::from(c.outcome.class()),
            match &c.outcome {
                Outcome::NotCompared { reason, .. } => Some(*reason),
                _ => None,
            },
            shadow_fault_code(&c.outcome, facts.primary_fault_code.as_deref()),
        ),
    };
    let ignore_rules = comparison
        .map(|c| {
            let all: Vec<&str> = rules.ignore_rules().map(|r| r.path.as_str()).collect();
            c.rules_matched
                .iter()
                .filter_map(|&i| all.get(i).map(|p| p.to_string()))
                .collect()
        })
        .unwrap_or_default();
    let diff = comparison
        .filter(|c| c.outcome.is_mismatch())
        .map(|c| diff_record(&facts, c));
    let bodies = (store_bodies || diff.is_some()).then(|| Bodies {
        request: bodies.request.as_ref().map(stored),
        primary: bodies.primary.as_ref().map(stored),
        shadow: bodies.shadow.as_ref().map(stored),
    });
    let record = ExchangeRecord {
        at_unix_ms: facts.at_unix_ms,
        message_id: facts.message_id,
        shadow_message_id: facts.shadow_message_id,
        agency: facts.agency,
        service: facts.service,
        stage: facts.stage,
        served_by: facts.served_by,
        listener: facts.listener,
        primary_latency_ms: facts.primary_latency_ms,
        shadow_latency_ms,
        outcome,
        not_compared_reason: reason,
        primary_fault_code: facts.primary_fault_code,
        shadow_fault_code: shadow_fault,
        lossy_fields: facts.lossy_fields,
        unmapped: facts.unmapped,
        ignore_rules,
        rejected_code: facts.rejected_code,
        request_hash: facts.request_hash,
        noise_diffs: comparison.map_or(0, |c| c.noise_count as u64),
        written_by: Some(WRITTEN_BY.to_string()),
        diff_id: None,
        bodies,
    };
    ExchangeEvent {
        record,
        diff,
        store_bodies,
    }
}

/// An answer as the record keeps it.
fn stored(a: &Answer) -> Body {
    Body {
        content_type: a.content_type.clone(),
        bytes: a.body.clone(),
    }
}

/// The shadow's fault code, when the comparison shows one.
fn shadow_fault_code(o: &Outcome, primary: Option<&str>) -> Option<String> {
    match o {
        Outcome::FaultMismatch {
            faulted: Role::Shadow,
            code,
        } => Some(code.clone()),
        Outcome::FaultCodeDiff { shadow, .. } => Some(shadow.clone()),
        // Equal after normalisation: both faulted alike.
        Outcome::Match => primary.map(str::to_string),
        _ => None,
    }
}

fn diff_record(facts: &Facts, c: &Comparison) -> DiffRecord {
    let mut paths: Vec<DiffPath> = c
        .diffs
        .iter()
        .map(|d| DiffPath {
            path: d.path.clone(),
            kind: kind_name(d.kind).to_string(),
            primary: d.primary.clone(),
            shadow: d.shadow.clone(),
            noise: false,
        })
        .collect();
    paths.extend(c.noise.iter().map(|d| DiffPath {
        path: d.path.clone(),
        kind: kind_name(d.kind).to_string(),
        primary: d.primary.clone(),
        shadow: d.shadow.clone(),
        noise: true,
    }));
    let unified = match (&c.outcome, &c.unified) {
        (_, Some(u)) => u.clone(),
        (Outcome::ShadowError { error }, None) => format!("shadow answer unreadable: {error}"),
        _ => String::new(),
    };
    DiffRecord {
        // Replaced by the writer with the exchange's key.
        id: RecordKey::first_at(facts.at_unix_ms),
        at_unix_ms: facts.at_unix_ms,
        agency: facts.agency.clone(),
        service: facts.service.clone(),
        outcome: ExchangeOutcome::from(c.outcome.class()),
        paths,
        unified,
    }
}

fn kind_name(k: crate::shadow::DiffKind) -> &'static str {
    match k {
        crate::shadow::DiffKind::Added => "added",
        crate::shadow::DiffKind::Removed => "removed",
        crate::shadow::DiffKind::Changed => "changed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shadow::exchange::{judge, ShadowResult};
    use crate::shadow::outcome::NotComparedReason;
    use crate::shadow::{CompareConfig, Date, Options};
    use bytes::Bytes;

    fn answer(body: &str) -> Answer {
        Answer {
            status: 200,
            content_type: Some("text/xml; charset=utf-8".into()),
            body: Bytes::from(body.to_string()),
        }
    }

    const A: &str = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:r xmlns:m="urn:m"><v>1</v><t>x</t></m:r></s:Body></s:Envelope>"#;
    const B: &str = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:r xmlns:m="urn:m"><v>2</v><t>y</t></m:r></s:Body></s:Envelope>"#;

    fn meta() -> Facts {
        Facts {
            at_unix_ms: 1_700_000_000_000,
            message_id: Some("m1".into()),
            agency: "a".into(),
            service: "s".into(),
            stage: "shadow".parse().unwrap(),
            served_by: "legacy".parse().unwrap(),
            ..Facts::default()
        }
    }

    #[test]
    fn a_diff_becomes_a_record_with_paths_noise_and_ignore_rules() {
        let cfg = CompareConfig {
            ignore: vec![crate::shadow::IgnoreRule {
                path: "Body/r/t".into(),
                reason: "test".into(),
                expires: None,
            }],
            ..CompareConfig::default()
        };
        let rules = cfg.compile().expect("valid");
        let today: Date = "2026-01-01".parse().expect("date");
        let shadow = ShadowResult::Answered {
            answer: answer(B),
            latency_ms: 3.0,
        };
        let c = judge(&answer(A), &shadow, &Options::new(&rules, today));
        assert_eq!(c.outcome, Outcome::BodyDiff);
        let bodies = RawBodies {
            primary: Some(answer(A)),
            shadow: Some(answer(B)),
            ..RawBodies::default()
        };
        let e = build(meta(), Some(&c), Some(3.0), &rules, bodies, false);
        assert_eq!(e.record.outcome, "body-diff");
        assert_eq!(e.record.ignore_rules, vec!["Body/r/t".to_string()]);
        let d = e.diff.expect("a diff record");
        assert_eq!(d.paths.len(), 1);
        assert_eq!(d.paths[0].path, "Body/r/v");
        assert_eq!(
            (d.paths[0].primary.as_deref(), d.paths[0].shadow.as_deref()),
            (Some("1"), Some("2"))
        );
        assert!(d.unified.contains("-") && d.unified.contains("+"));
        // Bodies travel with a diff (the writer needs them to redact it) but are not
        // stored without store_bodies.
        assert!(e.record.bodies.is_some());
        assert!(!e.store_bodies);
    }

    #[test]
    fn a_record_names_the_dualroad_that_wrote_it_and_old_records_name_none() {
        let e = build(
            meta(),
            None,
            None,
            &Rules::default(),
            RawBodies::default(),
            false,
        );
        let written_by = e.record.written_by.as_deref().expect("written_by");
        assert_eq!(written_by, concat!("dualroad ", env!("CARGO_PKG_VERSION")));
        let json = serde_json::to_string(&e.record).expect("encodes");
        assert!(json.contains(r#""written_by":"dualroad "#), "{json}");
        let old = r#"{"at_unix_ms":1,"agency":"A","service":"s","stage":"shadow","served_by":"legacy","listener":"l","primary_latency_ms":1.0,"outcome":"match"}"#;
        let back: ExchangeRecord = serde_json::from_str(old).expect("an old record reads");
        assert_eq!(back.written_by, None);
    }

    #[test]
    fn not_compared_and_served_and_rejected_outcomes() {
        let rules = Rules::default();
        let today: Date = "2026-01-01".parse().expect("date");
        let shadow = ShadowResult::NotCompared {
            reason: NotComparedReason::Timeout,
            detail: None,
            latency_ms: Some(5000.0),
        };
        let c = judge(&answer(A), &shadow, &Options::new(&rules, today));
        let e = build(meta(), Some(&c), None, &rules, RawBodies::default(), false);
        assert_eq!(
            (
                e.record.outcome.as_str(),
                e.record.not_compared_reason.map(|r| r.as_str())
            ),
            ("not-compared", Some("timeout"))
        );
        assert!(e.diff.is_none() && e.record.bodies.is_none());
        let e = build(meta(), None, None, &rules, RawBodies::default(), true);
        assert_eq!(e.record.outcome, "served");
        assert!(e.record.bodies.is_some(), "store_bodies keeps bodies");
        let m = Facts {
            rejected_code: Some("Server.ServerProxy.NetworkError".into()),
            ..meta()
        };
        let e = build(m, None, None, &rules, RawBodies::default(), false);
        assert_eq!(e.record.outcome, "rejected");
    }
}
