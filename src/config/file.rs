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
/// `report.min_samples`: compared exchanges before a service can be called ready.
pub const DEFAULT_MIN_SAMPLES: u64 = 200;
/// `report.min_match_rate`: share of compared exchanges that must match.
pub const DEFAULT_MIN_MATCH_RATE: f64 = 0.99;
/// `report.max_p99_ratio`: most UXP's p99 latency may be, as a multiple of legacy's.
pub const DEFAULT_MAX_P99_RATIO: f64 = 1.5;

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
}

/// `[admin]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// `IP:port`. Default [`DEFAULT_ADMIN_LISTEN`].
    pub listen: Option<String>,
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
