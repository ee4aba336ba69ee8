//! Typed telemetry events: each one emits its log line and updates its metrics with the
//! same labels, so logs and dashboards never disagree (vector's `internal_events`).
//! Metric names live in [`names`].

use std::time::Duration;

use crate::telemetry::metrics::Metrics;

/// Metric names, in one place.
pub mod names {
    pub const REQUESTS: &str = "dualroad_requests_total";
    pub const FAULTS: &str = "dualroad_faults_total";
    pub const UPSTREAM_SECONDS: &str = "dualroad_upstream_request_duration_seconds";
    pub const REQUEST_SECONDS: &str = "dualroad_request_duration_seconds";
    pub const MIRRORS: &str = "dualroad_mirror_total";
    pub const SWITCH_ACTIVE: &str = "dualroad_switch_rollback_active";
    pub const RELOADS: &str = "dualroad_config_reloads_total";
    pub const LOSSY_FIELDS: &str = "dualroad_lossy_fields_total";
    pub const CONNECTIONS_REFUSED: &str = "dualroad_connections_refused_total";
    pub const CONNECTIONS_REFUSED_PER_SOURCE: &str =
        "dualroad_connections_refused_per_source_total";
    pub const EXCHANGES: &str = "dualroad_exchanges_total";
    pub const SHADOW_REQUEST_MISMATCH: &str = "dualroad_shadow_request_mismatch_total";
    pub const ANSWER_MISMATCH: &str = "dualroad_answer_mismatch_total";
    pub const AUTO_ROLLBACKS: &str = "dualroad_auto_rollbacks_total";
    pub const CLIENTS_REFUSED: &str = "dualroad_client_identity_refused_total";
    pub const TLS_HANDSHAKE_FAILURES: &str = "dualroad_tls_handshake_failures_total";
}

/// Registers help texts for every metric.
pub fn describe_all(m: &Metrics) {
    m.describe(
        names::REQUESTS,
        "Requests answered, by agency, service, stage and the stack that served them.",
    );
    m.describe(
        names::FAULTS,
        "SOAP faults dualroad answered with, by code and failing side.",
    );
    m.describe(
        names::UPSTREAM_SECONDS,
        "Upstream request latency by stack and upstream.",
    );
    m.describe(
        names::REQUEST_SECONDS,
        "End-to-end request latency by listener.",
    );
    m.describe(
        names::MIRRORS,
        "Shadow copies sent to the other stack, by stack and outcome.",
    );
    m.describe(
        names::SWITCH_ACTIVE,
        "Active rollback switch entries, by agency and service scope.",
    );
    m.describe(names::RELOADS, "Configuration reloads by outcome.");
    m.describe(
        names::LOSSY_FIELDS,
        "Legacy-only header fields seen (dropped when moving to UXP).",
    );
    m.describe(
        names::CONNECTIONS_REFUSED,
        "Connections refused because max_connections was reached.",
    );
    m.describe(
        names::CONNECTIONS_REFUSED_PER_SOURCE,
        "Connections refused because their source address had max_connections_per_source open.",
    );
    m.describe(
        names::CLIENTS_REFUSED,
        "Requests refused because the connection may not speak for the client its header names, by listener and reason.",
    );
    m.describe(
        names::TLS_HANDSHAKE_FAILURES,
        "Inbound TLS handshakes that failed or timed out, by listener.",
    );
    m.describe(
        names::EXCHANGES,
        "Exchange records handed to the store writer: queued, or dropped because its queue was full.",
    );
    m.describe(
        names::AUTO_ROLLBACKS,
        "Rollbacks the automatic gate applied (or failed to store), by scope.",
    );
    m.describe(
        names::ANSWER_MISMATCH,
        "Upstream answers refused because they name another message id, client or service than the request, by stack and role (primary: the client got a fault; shadow: recorded as shadow-error).",
    );
    m.describe(
        names::SHADOW_REQUEST_MISMATCH,
        "Shadow copies whose canonical request differed from the client's (a translation bug).",
    );
}

/// An exchange record was handed to the store's writer.
pub struct EvidenceQueued<'a> {
    /// `queued` or `dropped`.
    pub outcome: &'a str,
}

impl EvidenceQueued<'_> {
    pub fn emit(&self, m: &Metrics) {
        if self.outcome != "queued" {
            tracing::warn!(
                outcome = self.outcome,
                "Exchange record not queued for the store."
            );
        }
        m.inc(names::EXCHANGES, &[("outcome", self.outcome)]);
    }
}

/// A shadow copy's canonical request differed from the client's.
pub struct ShadowRequestMismatch<'a> {
    pub stack: &'a str,
}

impl ShadowRequestMismatch<'_> {
    pub fn emit(&self, m: &Metrics) {
        tracing::error!(
            stack = self.stack,
            "Shadow copy is not the same logical request as the client's; comparison kept, translation needs a look."
        );
        m.inc(names::SHADOW_REQUEST_MISMATCH, &[("stack", self.stack)]);
    }
}

/// An upstream answer named another message id, client or service than the request
/// it answered (`translate::belongs`).
pub struct AnswerMismatched<'a> {
    pub stack: &'a str,
    /// `primary` (the client got a fault instead) or `shadow` (a shadow-error record).
    pub role: &'a str,
    pub why: &'a str,
}

impl AnswerMismatched<'_> {
    pub fn emit(&self, m: &Metrics) {
        tracing::warn!(
            stack = self.stack,
            role = self.role,
            why = self.why,
            "Upstream answer belongs to another request; not delivered."
        );
        m.inc(
            names::ANSWER_MISMATCH,
            &[("stack", self.stack), ("role", self.role)],
        );
    }
}

/// A request was answered.
pub struct RequestServed<'a> {
    pub listener: &'a str,
    pub agency: &'a str,
    pub service: &'a str,
    pub stage: &'a str,
    pub served_by: &'a str,
    pub outcome: &'a str,
    pub elapsed: Duration,
}

impl RequestServed<'_> {
    pub fn emit(&self, m: &Metrics) {
        tracing::info!(
            listener = self.listener,
            agency = self.agency,
            service = self.service,
            stage = self.stage,
            served_by = self.served_by,
            outcome = self.outcome,
            elapsed_ms = self.elapsed.as_secs_f64() * 1000.0,
            "Request served."
        );
        m.inc(
            names::REQUESTS,
            &[
                ("agency", self.agency),
                ("service", self.service),
                ("stage", self.stage),
                ("served_by", self.served_by),
                ("outcome", self.outcome),
            ],
        );
        m.observe(
            names::REQUEST_SECONDS,
            &[("listener", self.listener)],
            self.elapsed,
        );
    }
}

/// dualroad answered with a fault it raised itself.
pub struct FaultRaised<'a> {
    pub code: &'a str,
    pub side: &'a str,
    pub message: &'a str,
    pub error_id: &'a str,
}

impl FaultRaised<'_> {
    pub fn emit(&self, m: &Metrics) {
        tracing::warn!(
            code = self.code,
            side = self.side,
            error_id = self.error_id,
            "Fault: {}",
            self.message
        );
        m.inc(names::FAULTS, &[("code", self.code), ("side", self.side)]);
    }
}

/// One call to an upstream stack finished (successfully or not).
pub struct UpstreamCalled<'a> {
    pub stack: &'a str,
    pub upstream: &'a str,
    pub outcome: &'a str,
    pub elapsed: Duration,
}

impl UpstreamCalled<'_> {
    pub fn emit(&self, m: &Metrics) {
        tracing::debug!(
            stack = self.stack,
            upstream = self.upstream,
            outcome = self.outcome,
            elapsed_ms = self.elapsed.as_secs_f64() * 1000.0,
            "Upstream call finished."
        );
        m.observe(
            names::UPSTREAM_SECONDS,
            &[
                ("stack", self.stack),
                ("upstream", self.upstream),
                ("outcome", self.outcome),
            ],
            self.elapsed,
        );
    }
}

/// A shadow copy was sent (or could not be).
pub struct Mirrored<'a> {
    pub stack: &'a str,
    pub outcome: &'a str,
}

impl Mirrored<'_> {
    pub fn emit(&self, m: &Metrics) {
        tracing::debug!(
            stack = self.stack,
            outcome = self.outcome,
            "Shadow copy finished."
        );
        m.inc(
            names::MIRRORS,
            &[("stack", self.stack), ("outcome", self.outcome)],
        );
    }
}

/// Legacy-only header fields seen in a request on its way to UXP.
pub struct LossyFieldsSeen<'a> {
    pub agency: &'a str,
    pub fields: &'a [&'static str],
}

impl LossyFieldsSeen<'_> {
    pub fn emit(&self, m: &Metrics) {
        for f in self.fields {
            m.inc(
                names::LOSSY_FIELDS,
                &[("agency", self.agency), ("field", f)],
            );
        }
        if !self.fields.is_empty() {
            tracing::debug!(agency = self.agency, fields = ?self.fields, "Legacy-only header fields seen.");
        }
    }
}

/// A configuration reload was attempted.
pub struct ConfigReloaded<'a> {
    pub outcome: &'a str,
    pub detail: &'a str,
}

impl ConfigReloaded<'_> {
    pub fn emit(&self, m: &Metrics) {
        if self.outcome == "ok" {
            tracing::info!(
                outcome = self.outcome,
                "Configuration reloaded: {}",
                self.detail
            );
        } else {
            tracing::error!(
                outcome = self.outcome,
                "Configuration reload refused; the old configuration stays in force: {}",
                self.detail
            );
        }
        m.inc(names::RELOADS, &[("outcome", self.outcome)]);
    }
}

/// The automatic gate rolled a rule back.
pub struct AutoRollback<'a> {
    pub scope: &'a str,
    pub reason: &'a str,
    /// False when the rollback could not be stored (and so is not in effect).
    pub applied: bool,
}

impl AutoRollback<'_> {
    pub fn emit(&self, m: &Metrics) {
        if self.applied {
            tracing::warn!(
                scope = self.scope,
                reason = self.reason,
                "Auto-gate rolled back."
            );
        } else {
            tracing::error!(
                scope = self.scope,
                reason = self.reason,
                "Auto-gate rollback failed."
            );
        }
        m.inc(
            names::AUTO_ROLLBACKS,
            &[
                ("scope", self.scope),
                ("applied", if self.applied { "true" } else { "false" }),
            ],
        );
    }
}

/// A request claimed a client its connection is not bound to (`proxy::identity`).
pub struct ClientRefused<'a> {
    pub listener: &'a str,
    pub reason: &'a str,
    pub claimed: &'a str,
    pub connection: &'a str,
}

impl ClientRefused<'_> {
    pub fn emit(&self, m: &Metrics) {
        tracing::warn!(
            listener = self.listener,
            reason = self.reason,
            claimed = self.claimed,
            connection = self.connection,
            "Client identity refused."
        );
        m.inc(
            names::CLIENTS_REFUSED,
            &[("listener", self.listener), ("reason", self.reason)],
        );
    }
}

/// An inbound TLS handshake failed (unknown CA, no client certificate, timeout, …).
pub struct TlsHandshakeFailed<'a> {
    pub listener: &'a str,
    pub peer: &'a str,
    pub reason: &'a str,
}

impl TlsHandshakeFailed<'_> {
    pub fn emit(&self, m: &Metrics) {
        tracing::info!(
            listener = self.listener,
            peer = self.peer,
            "TLS handshake failed: {}",
            self.reason
        );
        m.inc(
            names::TLS_HANDSHAKE_FAILURES,
            &[("listener", self.listener)],
        );
    }
}
