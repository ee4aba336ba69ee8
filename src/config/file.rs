//! `dualroad.toml` as written: serde types that mirror the file one to one.
//!
//! First half of config loading: text → [`FileConfig`] (this module) → `validate` →
//! [`super::Settings`]. These types are deliberately loose: values a person must fill in
//! are `Option` so `validate` can say *what* is missing and *why it matters* instead of
//! serde's bare "missing field", numbers are TOML's `i64` so a negative timeout is a
//! range error with a line rather than a type error. Every table denies unknown keys.
//!
//! Defaults live here as `DEFAULT_*` constants; `dualroad.example.toml` documents the
//! same values and a test checks they agree.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::wire::{Dialect, SoapVersion};

/// `mappings`: the identifier-mappings directory, relative to the config file.
pub const DEFAULT_MAPPINGS_DIR: &str = "mappings";
/// `limits.max_message_bytes`: 32 MiB, enough for large SwA attachments while bounding
/// what one request can make the gateway buffer.
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 32 * 1024 * 1024;
/// `limits.header_read_timeout_ms`: a client that has not sent its headers after 10 s is
/// a slowloris, not a slow network.
pub const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// `limits.body_read_timeout_ms`.
pub const DEFAULT_BODY_READ_TIMEOUT_MS: u64 = 30_000;
/// `limits.max_connections`: per listener.
pub const DEFAULT_MAX_CONNECTIONS: u64 = 4096;
/// `limits.max_connections_per_source`: 0, off. Behind a load balancer or a reverse
/// proxy every connection has the balancer's address, so any per-address limit would
/// cut off all clients at once; only a deployment whose clients connect directly can
/// turn it on.
pub const DEFAULT_MAX_CONNECTIONS_PER_SOURCE: u64 = 0;
/// `limits.max_header_bytes`: request line + headers. Real SOAP clients send well under
/// 2 KiB; 64 KiB leaves room for long cookies or tokens while bounding what a client
/// can make the gateway buffer before it has a request.
pub const DEFAULT_MAX_HEADER_BYTES: u64 = 64 * 1024;
/// `limits.max_headers`: hyper's own default; SOAP clients send about ten.
pub const DEFAULT_MAX_HEADERS: u64 = 100;
/// `limits.max_attributes_per_element`: attributes (namespace declarations not
/// counted) on one element of the Envelope, Header or Body start. X-Road messages carry
/// at most three; the cap is checked before any attribute is decoded.
pub const DEFAULT_MAX_ATTRIBUTES_PER_ELEMENT: u64 =
    crate::wire::envelope::DEFAULT_MAX_ATTRIBUTES as u64;
/// `limits.max_namespace_declarations_per_element`: `xmlns` declarations on one
/// element; real Envelopes declare up to about ten.
pub const DEFAULT_MAX_NAMESPACE_DECLARATIONS_PER_ELEMENT: u64 =
    crate::wire::envelope::DEFAULT_MAX_NAMESPACE_DECLARATIONS as u64;
/// Ceiling of both per-element caps: every name in scope is resolved against the
/// declarations of its ancestors, so the cap bounds the cost of each element.
pub const MAX_PER_ELEMENT_CAP: u64 = 4096;
/// `listeners.*.tls.require_client_cert` when `client_ca` is set: mutual TLS means a
/// certificate is required unless the file says otherwise.
pub const DEFAULT_REQUIRE_CLIENT_CERT: bool = true;
/// `admin.listen`: loopback, because the admin API can roll traffic back.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9090";
/// `upstreams.*.http10`: HTTP/1.1 unless an old adapter needs 1.0.
pub const DEFAULT_HTTP10: bool = false;
/// `upstreams.*.connect_timeout_ms`.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 2_000;
/// `upstreams.*.request_timeout_ms`: whole exchange, connect included.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 30_000;
/// `upstreams.*.soap_version` for `dialect = "uxp"`; legacy dialects are always SOAP 1.1.
pub const DEFAULT_UXP_SOAP_VERSION: SoapVersion = SoapVersion::Soap11;
/// `rollout.rules.*.sticky`: split canaries per message unless asked otherwise.
pub const DEFAULT_STICKY: bool = false;
/// `shadow.timeout_ms`: how long a mirrored copy may take before it is dropped as
/// `timeout` (capped by the upstream's own `request_timeout_ms`). Short, because a
/// shadow answer nobody waits for still holds a slot and a connection.
pub const DEFAULT_SHADOW_TIMEOUT_MS: u64 = 5_000;
/// `shadow.concurrency`: shadow copies in flight at once, over all services.
pub const DEFAULT_SHADOW_CONCURRENCY: u64 = 256;
/// `shadow.service_budget_bytes`: request + answer bytes of one service's copies in
/// flight at once; one chatty service cannot take every slot's memory.
pub const DEFAULT_SHADOW_SERVICE_BUDGET_BYTES: u64 = 16 * 1024 * 1024;
/// `shadow.sample` / `rollout.rules.*.sample`: mirror every request of a shadow stage.
pub const DEFAULT_SAMPLE: f64 = 1.0;
/// `shadow.calibrate` / `rollout.rules.*.calibrate`: no second primary call unless asked.
pub const DEFAULT_CALIBRATE: f64 = 0.0;
/// `store_bodies`: bodies hold personal data; metadata only unless asked.
pub const DEFAULT_STORE_BODIES: bool = false;
/// `capture`: requests are recorded for replay only when asked.
pub const DEFAULT_CAPTURE: bool = false;
/// `auto_rollback.min_samples`: fewer samples in the window say nothing.
pub const DEFAULT_GATE_MIN_SAMPLES: u64 = 50;
/// `auto_rollback.window`, in seconds.
pub const DEFAULT_GATE_WINDOW_S: u64 = 300;
/// `store.retention_days`.
pub const DEFAULT_RETENTION_DAYS: u64 = 30;
/// `store.max_bytes`: 1 GiB of evidence, oldest removed first.
pub const DEFAULT_STORE_MAX_BYTES: u64 = 1 << 30;
/// `store.queue_capacity`: records waiting for the writer before new ones are dropped
/// (and counted).
pub const DEFAULT_STORE_QUEUE_CAPACITY: u64 = 8192;
/// `store.flush_interval_ms`: the most a crash can lose.
pub const DEFAULT_STORE_FLUSH_INTERVAL_MS: u64 = 1_000;
/// `store.cache_bytes`: sled's page cache, the part of the gateway's memory that grows
/// with the store until it reaches this.
pub const DEFAULT_STORE_CACHE_BYTES: u64 = crate::store::DEFAULT_CACHE_CAPACITY;
/// `store.max_body_bytes`: larger bodies are withheld from the store (and counted).
pub const DEFAULT_STORE_MAX_BODY_BYTES: u64 = 1 << 20;
/// `report.min_samples`: compared exchanges before a service can be called ready.
pub const DEFAULT_MIN_SAMPLES: u64 = crate::report::DEFAULT_MIN_SAMPLES;
/// `report.min_match_rate`: share of compared exchanges that must match.
pub const DEFAULT_MIN_MATCH_RATE: f64 = crate::report::DEFAULT_MIN_MATCH_RATE;
/// `report.max_p99_ratio`: most UXP's p99 latency may be, as a multiple of legacy's.
pub const DEFAULT_MAX_P99_RATIO: f64 = crate::report::DEFAULT_MAX_P99_RATIO;

/// The whole file. Required: `data_dir`, `[rollout]` with `fallback`, one listener.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Directory of the sled database (switch state, audit log). Required.
    pub data_dir: Option<String>,
    /// Identifier mappings directory. Default [`DEFAULT_MAPPINGS_DIR`].
    pub mappings: Option<String>,
    pub limits: Option<Lenient<LimitsConfig>>,
    pub admin: Option<Lenient<AdminConfig>>,
    #[serde(default)]
    pub listeners: Vec<Lenient<ListenerConfig>>,
    /// Keyed by the name listeners and `[stacks]` refer to.
    #[serde(default)]
    pub upstreams: BTreeMap<String, Lenient<UpstreamConfig>>,
    /// Required when a consumer listener exists.
    pub stacks: Option<Lenient<StacksConfig>>,
    /// Required.
    pub rollout: Option<Lenient<RolloutConfig>>,
    /// Migration report verdict thresholds; all optional.
    pub report: Option<Lenient<ReportConfig>>,
    /// Which X-Road clients a connection may speak for (see `security`). None: no
    /// binding, any client header is accepted.
    #[serde(default)]
    pub client_bindings: Vec<Lenient<ClientBindingConfig>>,
    /// Mirror limits and the defaults of the per-rule shadow keys.
    pub shadow: Option<Lenient<ShadowConfig>>,
    /// How answers are compared: ignore rules, treatments.
    pub compare: Option<Lenient<crate::shadow::CompareConfig>>,
    /// The exchange store: retention, flushing, redaction.
    pub store: Option<Lenient<StoreConfig>>,
}

/// `[shadow]`: all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowConfig {
    /// Default [`DEFAULT_SHADOW_TIMEOUT_MS`].
    pub timeout_ms: Option<i64>,
    /// Default [`DEFAULT_SHADOW_CONCURRENCY`].
    pub concurrency: Option<i64>,
    /// Default [`DEFAULT_SHADOW_SERVICE_BUDGET_BYTES`].
    pub service_budget_bytes: Option<i64>,
    /// Default for rules without `sample`: [`DEFAULT_SAMPLE`].
    pub sample: Option<f64>,
    /// Default for rules without `calibrate`: [`DEFAULT_CALIBRATE`].
    pub calibrate: Option<f64>,
    /// Default for rules without `store_bodies`: [`DEFAULT_STORE_BODIES`].
    pub store_bodies: Option<bool>,
    /// Default for rules without `capture`: [`DEFAULT_CAPTURE`].
    pub capture: Option<bool>,
}

/// `[store]`: all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Default [`DEFAULT_RETENTION_DAYS`]; `0` keeps records forever.
    pub retention_days: Option<i64>,
    /// Default [`DEFAULT_STORE_MAX_BYTES`]; `0` means no size limit.
    pub max_bytes: Option<i64>,
    /// Default [`DEFAULT_STORE_QUEUE_CAPACITY`].
    pub queue_capacity: Option<i64>,
    /// Default [`DEFAULT_STORE_FLUSH_INTERVAL_MS`].
    pub flush_interval_ms: Option<i64>,
    /// Default [`DEFAULT_STORE_MAX_BODY_BYTES`].
    pub max_body_bytes: Option<i64>,
    /// Default [`DEFAULT_STORE_CACHE_BYTES`].
    pub cache_bytes: Option<i64>,
    /// Values replaced by a keyed hash before anything is written. Default: the
    /// `userId` and personal-code headers.
    pub redaction: Option<Lenient<crate::store::RedactionConfig>>,
}

/// `shadow_writes` on a rule: what happens to `write` services in a shadow stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShadowWrites {
    /// Never mirrored (counted as not compared, `write-service`). The default.
    Never,
    /// Mirrored to the upstream named by `sandbox` instead of the other stack.
    Sandbox,
}

/// `[report]`: the thresholds of the readiness verdicts.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// Default [`DEFAULT_MIN_SAMPLES`].
    pub min_samples: Option<i64>,
    /// `0.0..=1.0`. Default [`DEFAULT_MIN_MATCH_RATE`].
    pub min_match_rate: Option<f64>,
    /// `>= 1.0`. Default [`DEFAULT_MAX_P99_RATIO`].
    pub max_p99_ratio: Option<f64>,
}

/// `[limits]`: all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub max_message_bytes: Option<i64>,
    pub header_read_timeout_ms: Option<i64>,
    pub body_read_timeout_ms: Option<i64>,
    pub max_connections: Option<i64>,
    /// Open connections per listener from one source IP address; `0` is off. Default
    /// [`DEFAULT_MAX_CONNECTIONS_PER_SOURCE`].
    pub max_connections_per_source: Option<i64>,
    pub max_header_bytes: Option<i64>,
    pub max_headers: Option<i64>,
    /// Default [`DEFAULT_MAX_ATTRIBUTES_PER_ELEMENT`], at most [`MAX_PER_ELEMENT_CAP`].
    pub max_attributes_per_element: Option<i64>,
    /// Default [`DEFAULT_MAX_NAMESPACE_DECLARATIONS_PER_ELEMENT`], at most
    /// [`MAX_PER_ELEMENT_CAP`].
    pub max_namespace_declarations_per_element: Option<i64>,
}

/// `[admin]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// `IP:port`. Default [`DEFAULT_ADMIN_LISTEN`]. Must be a loopback address unless
    /// `allow_remote` is set.
    pub listen: Option<String>,
    /// The admin API (rollback switch, reload, reports) has no authentication of its
    /// own; `true` accepts a non-loopback `listen` for deployments where a firewall or
    /// an authenticating proxy guards it. Default `false`.
    pub allow_remote: Option<bool>,
    /// Extra names (`host` or `host:port`) the admin listener answers to in `Host` and
    /// `Origin`, e.g. the name an authenticating proxy or an operator's browser uses.
    /// Only with `allow_remote = true`. Default empty: the listener answers only to
    /// its own address, `localhost` and the loopback literals (docs/admin.md).
    pub allowed_hosts: Option<Vec<String>>,
}

/// One `[[listeners]]` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// Unique. Required.
    pub name: Option<String>,
    /// Required.
    pub role: Option<Lenient<Role>>,
    /// `IP:port`, unique across listeners and admin. Required.
    pub listen: Option<String>,
    /// Provider role only, and required there: the legacy adapter requests are
    /// translated for.
    pub upstream: Option<String>,
    /// Serve HTTPS instead of plain HTTP.
    pub tls: Option<Lenient<ListenerTlsConfig>>,
}

/// `listeners.*.tls`: paths relative to the config file, PEM.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerTlsConfig {
    /// The server certificate chain, leaf first. Required.
    pub cert: Option<String>,
    /// Its private key (PKCS#8, PKCS#1 or SEC1). Required.
    pub key: Option<String>,
    /// CA certificates client certificates are verified against; enables mutual TLS.
    pub client_ca: Option<String>,
    /// With `client_ca` only. Default [`DEFAULT_REQUIRE_CLIENT_CERT`].
    pub require_client_cert: Option<bool>,
}

/// `upstreams.*.tls`: how to call an `https://` upstream. Paths relative to the config
/// file, PEM.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTlsConfig {
    /// CA certificates the upstream's certificate is verified against. Required: there
    /// is no system trust store, and no way to skip verification.
    pub ca: Option<String>,
    /// Client certificate for mutual TLS (with `client_key`).
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
    /// Name to verify the certificate for (and send as SNI) when it is not the URL's host.
    pub server_name: Option<String>,
}

/// One `[[client_bindings]]` entry: connections matching every criterion given
/// (`cert_sha256`, `cert_subject`, `source`) may speak for `clients`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientBindingConfig {
    /// Unique; names the binding in logs. Required.
    pub name: Option<String>,
    /// SHA-256 of the client certificate (DER), hex, colons optional.
    pub cert_sha256: Option<String>,
    /// The client certificate's subject, e.g. "C=EE, O=Ministry of Health, CN=moh-portal".
    pub cert_subject: Option<String>,
    /// Source address ranges (CIDR or single addresses).
    pub source: Option<Vec<String>>,
    /// Legacy consumer names and/or UXP client ids (patterns as in rollout rules). Required.
    pub clients: Option<Vec<String>>,
}

/// Which side of the gateway a listener faces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Agency information systems call in; requests go to a stack chosen by `[rollout]`.
    Consumer,
    /// The UXP stack calls in; requests go to one legacy service adapter.
    Provider,
}

/// One `[upstreams.NAME]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// `http://` or `https://`. Required.
    pub url: Option<String>,
    /// What the upstream speaks. Required.
    pub dialect: Option<Lenient<Dialect>>,
    /// Default [`DEFAULT_HTTP10`].
    pub http10: Option<bool>,
    /// Default [`DEFAULT_CONNECT_TIMEOUT_MS`].
    pub connect_timeout_ms: Option<i64>,
    /// Default [`DEFAULT_REQUEST_TIMEOUT_MS`].
    pub request_timeout_ms: Option<i64>,
    /// `dialect = "uxp"` only. Default [`DEFAULT_UXP_SOAP_VERSION`].
    pub soap_version: Option<Lenient<SoapVersion>>,
    /// `https://` URLs only, and required there.
    pub tls: Option<Lenient<UpstreamTlsConfig>>,
}

/// `[stacks]`: which upstream is which stack, for consumer listeners.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StacksConfig {
    /// An upstream speaking a legacy dialect. Required.
    pub legacy: Option<String>,
    /// An upstream speaking `uxp`. Required.
    pub uxp: Option<String>,
}

/// `[rollout]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutConfig {
    /// Stage for traffic no rule matches. Required: no implicit default, because both
    /// possible defaults (all legacy, all UXP) are wrong for someone, silently.
    pub fallback: Option<Lenient<StageName>>,
    #[serde(default)]
    pub rules: Vec<Lenient<RuleConfig>>,
}

/// One `[[rollout.rules]]` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Legacy consumer name or UXP client id; `*` or a trailing `*`. Required.
    pub agency: Option<String>,
    /// Legacy `producer.method[.vN]` or UXP service id; `*` or a trailing `*`. Required.
    pub service: Option<String>,
    /// Required.
    pub stage: Option<Lenient<StageName>>,
    /// Canary only, and required there: `0..=100`.
    pub percent: Option<i64>,
    /// Canary only. Default [`DEFAULT_STICKY`].
    pub sticky: Option<bool>,
    /// Shadow stages: fraction of requests mirrored, `0.0..=1.0`, chosen by message id.
    /// Default `shadow.sample`.
    pub sample: Option<f64>,
    /// Shadow stages, `read` services: fraction of requests also sent a second time to
    /// the primary to learn noise. Default `shadow.calibrate`.
    pub calibrate: Option<f64>,
    /// Shadow stages: `never` (default) or `sandbox`.
    pub shadow_writes: Option<Lenient<ShadowWrites>>,
    /// The upstream `write` services are mirrored to; required with
    /// `shadow_writes = "sandbox"`.
    pub sandbox: Option<String>,
    /// Keep the (redacted) request and answers. Default `shadow.store_bodies`.
    pub store_bodies: Option<bool>,
    /// Record the (redacted) requests for `dualroad replay`. Default `shadow.capture`.
    pub capture: Option<bool>,
    /// `canary`, `uxp` and `uxp-shadow` only: roll this rule's traffic back to legacy
    /// automatically when UXP goes bad.
    pub auto_rollback: Option<Lenient<AutoRollbackConfig>>,
}

/// `auto_rollback = { min_samples, min_match_rate, window }`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoRollbackConfig {
    /// Default [`DEFAULT_GATE_MIN_SAMPLES`].
    pub min_samples: Option<i64>,
    /// `0.0..=1.0`. Required: the threshold is the point of the gate.
    pub min_match_rate: Option<f64>,
    /// Seconds, or text with a unit (`"90s"`, `"5m"`, `"1h"`). Default
    /// [`DEFAULT_GATE_WINDOW_S`] seconds.
    pub window: Option<WindowValue>,
}

/// A window as written: seconds or `"5m"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum WindowValue {
    Seconds(i64),
    Text(String),
}

/// A stage as named in the file; `validate` adds the canary's percentage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StageName {
    Legacy,
    Shadow,
    Canary,
    Uxp,
    UxpShadow,
}

impl StageName {
    pub fn as_str(self) -> &'static str {
        match self {
            StageName::Legacy => "legacy",
            StageName::Shadow => "shadow",
            StageName::Canary => "canary",
            StageName::Uxp => "uxp",
            StageName::UxpShadow => "uxp-shadow",
        }
    }
}

/// A value that failed to deserialize is kept as its error instead of failing the whole
/// file, so one typo in one rule does not hide the problems in the others: `validate`
/// reports every `Err` together with its own findings.
///
/// This relies on `toml` deserializing from an already-parsed tree: abandoning a value
/// halfway leaves its siblings intact. It would not be sound for a streaming format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lenient<T>(pub Result<T, SchemaError>);

/// A serde error captured by [`Lenient`]: the message, and the key path below the
/// lenient value that it concerns (when serde said).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    pub message: String,
    /// Dotted, relative to the lenient value (`stage`, `dialect`, `rules`).
    pub key: Option<String>,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The error type is generic here, so its span is out of reach; only its text
        // is. `validate` locates the key through `source::SourceMap` instead.
        Ok(Lenient(
            T::deserialize(deserializer).map_err(|e| SchemaError::from_toml_text(&e.to_string())),
        ))
    }
}

impl SchemaError {
    /// Splits toml's rendering of a span-less error: the message, then `in `a.b`` when
    /// the error came from below a key. `unknown field `x`` names its key in the message.
    fn from_toml_text(text: &str) -> Self {
        let text = text.trim_end();
        let (message, keys) = match text.rsplit_once('\n') {
            Some((msg, last)) => {
                match last.strip_prefix("in `").and_then(|k| k.strip_suffix('`')) {
                    Some(keys) => (msg.trim_end(), Some(keys)),
                    None => (text, None),
                }
            }
            None => (text, None),
        };
        let unknown = message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(field, _)| field);
        let key = match (keys, unknown) {
            (Some(k), Some(u)) => Some(format!("{k}.{u}")),
            (Some(k), None) => Some(k.to_string()),
            (None, Some(u)) => Some(u.to_string()),
            (None, None) => None,
        };
        // serde names Rust types; the reader of a TOML file thinks in TOML types.
        let message = message
            .replace("expected i64", "expected an integer")
            .replace("expected a borrowed string", "expected a string");
        SchemaError { message, key }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_error_text_is_split_into_message_and_key() {
        let e = SchemaError::from_toml_text(
            "invalid type: integer `5`, expected a string\nin `agency`\n",
        );
        assert_eq!(e.message, "invalid type: integer `5`, expected a string");
        assert_eq!(e.key.as_deref(), Some("agency"));
        let e = SchemaError::from_toml_text(
            "unknown field `stag`, expected one of `agency`, `stage`\n",
        );
        assert_eq!(e.key.as_deref(), Some("stag"));
        let e = SchemaError::from_toml_text("missing thing");
        assert_eq!((e.message.as_str(), e.key), ("missing thing", None));
    }
}
