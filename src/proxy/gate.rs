//! The automatic gate's I/O half: feeds each finished exchange of a gated rule to its
//! [`GateWindow`] and, when the window trips, applies the rollback switch with actor
//! `auto-gate` and the numbers as the audit log's reason. The arithmetic is
//! `routing::gate` (pure).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::evidence::ExchangeRecord;
use crate::proxy::Shared;
use crate::routing::gate::{sample_of, GateWindow};
use crate::routing::SwitchScope;
use crate::telemetry::events::AutoRollback;

/// The actor the gate's rollbacks are recorded under.
pub const AUTO_GATE_ACTOR: &str = "auto-gate";

/// One window per gated rule, by rule index. Cleared on reload (indices may move).
#[derive(Default)]
pub struct Gates {
    windows: Mutex<HashMap<usize, GateWindow>>,
}

impl Gates {
    pub fn clear(&self) {
        self.windows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

/// Feeds one exchange to its rule's gate. `uxp_failed`: dualroad answered with its
/// own fault because the UXP stack failed.
pub fn observe(
    shared: &Arc<Shared>,
    rule: Option<usize>,
    record: &ExchangeRecord,
    uxp_failed: bool,
) {
    let Some(i) = rule else { return };
    let active = shared.active();
    let Some(policy) = active
        .settings
        .shadow
        .rules
        .get(i)
        .and_then(|p| p.auto_rollback)
    else {
        return;
    };
    let Some(sample) = sample_of(
        record.served_by.as_str(),
        record.outcome.as_str(),
        uxp_failed,
        record.primary_fault_code.as_deref(),
    ) else {
        return;
    };
    let now = shared.now_ms();
    let trip = {
        let mut all = shared
            .gates
            .windows
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let w = all.entry(i).or_default();
        w.record(now, sample);
        w.check(now, &policy)
    };
    let Some(trip) = trip else { return };
    let Some(r) = active.settings.rollout.rules().get(i) else {
        return;
    };
    let scope = SwitchScope::new(Some(&r.agency.to_string()), Some(&r.service.to_string()));
    let reason = trip.reason();
    let shared = shared.clone();
    tokio::spawn(async move {
        let result = shared
            .rollback(scope.clone(), AUTO_GATE_ACTOR, &reason)
            .await;
        AutoRollback {
            scope: &scope.to_string(),
            reason: &reason,
            applied: result.is_ok(),
        }
        .emit(&shared.metrics);
        if let Err(e) = result {
            tracing::error!(error = %e, %scope, "Auto-gate rollback could not be stored.");
        }
    });
}
