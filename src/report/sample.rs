//! The report's sample evidence written into a store: [`fill`] takes the records the
//! simulators' sample generator makes (`dualroad_sim::sample`, deterministic, times
//! from the caller) and writes them through the [`ExchangeWriter`], with a short audit
//! history, for `dualroad report --sample`, the report's tests and its screenshots.

use std::sync::Arc;

use dualroad_sim::sample::{Sample, CALIBRATED, ROLLED_BACK, SAMPLE_REDACTION_KEY};

use crate::store::{
    Attribution, AuditAction, ExchangeWriter, RedactionConfig, RetentionPolicy, Store, StoreError,
    WriterConfig, WriterStats,
};

/// Writes the sample's exchanges into `store` through the [`ExchangeWriter`] (waiting
/// for room, so nothing is dropped; no retention), then a short audit history at
/// fixed times. Call inside a Tokio runtime.
pub async fn fill(store: &dyn Store, sample: &mut Sample) -> Result<WriterStats, StoreError> {
    let ex = store.exchanges();
    let redactor = ex.redactor(&RedactionConfig {
        key: Some(SAMPLE_REDACTION_KEY.to_string()),
        ..RedactionConfig::default()
    })?;
    let (start, end) = sample.period();
    let clock: crate::store::Clock = Arc::new(move || end);
    let writer = ExchangeWriter::start(
        ex,
        redactor,
        WriterConfig {
            retention: RetentionPolicy {
                max_age: None,
                max_bytes: None,
            },
            ..WriterConfig::default()
        },
        clock,
    );
    for i in 0..sample.len() {
        if writer.send(sample.event(i)).await.is_err() {
            break;
        }
    }
    let stats = writer.shutdown().await;
    // As the gateway keeps it: the model under the service's name in its records.
    store
        .exchanges()
        .save_noise_model(CALIBRATED, sample.noise())?;
    let span = end - start;
    let by = |at: u64, actor: &str, reason: &str| Attribution {
        actor: actor.to_string(),
        reason: reason.to_string(),
        at_unix_ms: at,
        config_hash: "sample".repeat(8),
    };
    store.append_audit(
        AuditAction::Startup,
        &by(start, "dualroad-serve", "started"),
        vec![
            "rollout: 10000042 moh.* shadow, 10000077 * shadow, * pay.getPaymentStatus uxp-shadow"
                .into(),
        ],
    )?;
    store.append_audit(
        AuditAction::ConfigReload,
        &by(
            start + span * 3 / 10,
            "alice@ops",
            "CHG-1041 canary for the bank",
        ),
        vec!["rollout rule agency=10000077 service=*: shadow → canary 25%".into()],
    )?;
    store.append_audit(
        AuditAction::ConfigReload,
        &by(
            start + span / 2,
            "alice@ops",
            "CHG-1042 canary for the health portal",
        ),
        vec!["rollout rule agency=10000042 service=moh.*: shadow → canary 25%".into()],
    )?;
    let scope = crate::routing::SwitchScope::new(Some(ROLLED_BACK), None);
    store.rollback(
        scope.clone(),
        &by(
            start + span * 8 / 10,
            "bob@ops",
            "INC-77 bank KYC complaints",
        ),
    )?;
    store.release(
        scope,
        &by(
            start + span * 85 / 100,
            "bob@ops",
            "INC-77 was a client-side issue",
        ),
    )?;
    Ok(stats)
}
