//! The validated, runtime form of the configuration.
//!
//! Second half of config loading: `validate` turns a [`super::FileConfig`] into
//! [`Settings`], which is what the rest of the gateway reads: durations are
//! [`Duration`]s, addresses are parsed, upstream references are checked, rules are
//! compiled into a [`RolloutPolicy`]. `Settings` serializes for `--show-settings`, and
//! [`Settings::hash`] identifies a configuration in the audit log.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::security::{ClientBinding, ListenerTls, UpstreamTls};
use crate::routing::RolloutPolicy;
use crate::shadow::CompareConfig;
use crate::store::RedactionConfig;
use crate::wire::{Dialect, SoapVersion};

/// Everything the gateway needs to start, checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    #[serde(serialize_with = "ser_path")]
    pub data_dir: PathBuf,
    #[serde(serialize_with = "ser_path")]
    pub mappings: PathBuf,
    pub limits: Limits,
    pub admin: Admin,
    pub listeners: Vec<Listener>,
    /// By name. A `BTreeMap` so serialization (and so [`Settings::hash`]) is ordered.
    pub upstreams: BTreeMap<String, Upstream>,
    /// Present whenever a consumer listener is.
    pub stacks: Option<Stacks>,
    pub rollout: RolloutPolicy,
    /// `[report]`: migration report verdict thresholds.
    pub report: crate::report::Thresholds,
    /// Which clients a connection may speak for; empty: no binding.
    pub client_bindings: Vec<ClientBinding>,
    pub shadow: ShadowSettings,
    /// As written (validated); compiled into `shadow::Rules` when settings take effect.
    pub compare: CompareConfig,
    pub store: StoreSettings,
}

/// `[shadow]` and the per-rule shadow keys, resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShadowSettings {
    #[serde(rename = "timeout_ms", serialize_with = "ser_ms")]
    pub timeout: Duration,
    pub concurrency: usize,
    pub service_budget_bytes: u64,
    /// For traffic the fallback stage routes (no rule matched).
    pub fallback: MirrorPolicy,
    /// One per `[[rollout.rules]]` entry, in file order (the index of
    /// `routing::Decision::rule`).
    pub rules: Vec<MirrorPolicy>,
}

impl ShadowSettings {
    /// The mirror policy for a routing decision's rule index.
    pub fn policy(&self, rule: Option<usize>) -> &MirrorPolicy {
        rule.and_then(|i| self.rules.get(i))
            .unwrap_or(&self.fallback)
    }
}

/// What the shadow stages do for the traffic of one rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MirrorPolicy {
    pub sample: f64,
    pub calibrate: f64,
    /// `write` services go to this upstream instead of being skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    pub store_bodies: bool,
    pub capture: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_rollback: Option<crate::routing::gate::GatePolicy>,
}

/// `[store]`, resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreSettings {
    /// `None`: kept forever.
    #[serde(rename = "retention_ms", serialize_with = "ser_opt_ms")]
    pub max_age: Option<Duration>,
    /// `None`: no size limit.
    pub max_bytes: Option<u64>,
    pub queue_capacity: usize,
    #[serde(rename = "flush_interval_ms", serialize_with = "ser_ms")]
    pub flush_interval: Duration,
    pub max_body_bytes: usize,
    pub cache_bytes: u64,
    pub redaction: RedactionConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Limits {
    pub max_message_bytes: u64,
    #[serde(rename = "header_read_timeout_ms", serialize_with = "ser_ms")]
    pub header_read_timeout: Duration,
    #[serde(rename = "body_read_timeout_ms", serialize_with = "ser_ms")]
    pub body_read_timeout: Duration,
    pub max_connections: usize,
    /// Open connections per listener from one source IP address; `0`: no such limit.
    pub max_connections_per_source: usize,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    /// `max_attributes_per_element` and `max_namespace_declarations_per_element`.
    #[serde(flatten)]
    pub scan: crate::wire::envelope::ScanLimits,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Admin {
    pub listen: SocketAddr,
    /// `[admin] allowed_hosts`, lowercase (see [`crate::net::Authority`]).
    pub allowed_hosts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Listener {
    pub name: String,
    pub listen: SocketAddr,
    #[serde(flatten)]
    pub role: ListenerRole,
    /// HTTPS; `None` serves plain HTTP.
    pub tls: Option<ListenerTls>,
}

/// A listener's role, with what each role needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum ListenerRole {
    /// Routed by `[rollout]` between the two `[stacks]`.
    Consumer,
    /// Translated for, and forwarded to, one legacy-dialect upstream.
    Provider { upstream: String },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Upstream {
    pub name: String,
    pub url: UpstreamUrl,
    pub dialect: Dialect,
    /// Always 1.1 for legacy dialects; configurable for `uxp`.
    pub soap_version: SoapVersion,
    pub http10: bool,
    #[serde(rename = "connect_timeout_ms", serialize_with = "ser_ms")]
    pub connect_timeout: Duration,
    #[serde(rename = "request_timeout_ms", serialize_with = "ser_ms")]
    pub request_timeout: Duration,
    /// Present exactly for `https://` URLs.
    pub tls: Option<UpstreamTls>,
}

/// Upstream names for the two stacks consumer traffic is split between.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stacks {
    pub legacy: String,
    pub uxp: String,
}

/// `http` or `https`: the only schemes an X-Road security server or adapter listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// A checked upstream URL, split so the client layer does not parse it again.
/// Serializes back to a URL string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UpstreamUrl {
    pub scheme: Scheme,
    /// Host name, IPv4 address, or IPv6 address without brackets.
    pub host: String,
    /// As written; see [`UpstreamUrl::port_or_default`].
    pub port: Option<u16>,
    /// Path and query, at least `/`.
    pub path_and_query: String,
}

/// Why an upstream URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("`{0}` is not an http:// or https:// URL (only those schemes are supported)")]
    Scheme(String),
    #[error("`{0}` has no host")]
    NoHost(String),
    #[error("`{0}` has an invalid port (expected 1..=65535)")]
    Port(String),
    #[error("`{0}` contains whitespace, a control character or a fragment (`#`)")]
    BadChar(String),
    #[error("`{0}` carries credentials (`user@`); put them in a secret store, not the config")]
    Credentials(String),
    #[error("`{0}` has an invalid host")]
    Host(String),
}

impl UpstreamUrl {
    /// Parses `http[s]://host[:port][/path][?query]`. Deliberately strict: anything an
    /// operator may have mistyped is refused here rather than at the first request.
    pub fn parse(s: &str) -> Result<Self, UrlError> {
        if s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '#')
        {
            return Err(UrlError::BadChar(s.to_string()));
        }
        let (scheme, rest) = match s.split_once("://") {
            Some((sch, rest)) if sch.eq_ignore_ascii_case("http") => (Scheme::Http, rest),
            Some((sch, rest)) if sch.eq_ignore_ascii_case("https") => (Scheme::Https, rest),
            _ => return Err(UrlError::Scheme(s.to_string())),
        };
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        if authority.contains('@') {
            return Err(UrlError::Credentials(s.to_string()));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (addr, after) = v6
                .split_once(']')
                .ok_or_else(|| UrlError::Host(s.to_string()))?;
            if addr.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(UrlError::Host(s.to_string()));
            }
            match after {
                "" => (addr, None),
                p => (
                    addr,
                    Some(
                        p.strip_prefix(':')
                            .ok_or_else(|| UrlError::Port(s.to_string()))?,
                    ),
                ),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(UrlError::NoHost(s.to_string()));
        }
        if !authority.starts_with('[')
            && !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        {
            return Err(UrlError::Host(s.to_string()));
        }
        let port = match port {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => Some(n),
                _ => return Err(UrlError::Port(s.to_string())),
            },
        };
        let path_and_query = match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        Ok(UpstreamUrl {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
            path_and_query,
        })
    }

    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(self.scheme.default_port())
    }
}

impl fmt::Display for UpstreamUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        write!(f, "{scheme}://")?;
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        f.write_str(&self.path_and_query)
    }
}

impl Serialize for UpstreamUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Settings {
    /// SHA-256 (lowercase hex) of the canonical JSON form of these settings: compact,
    /// fields in declaration order, maps sorted. Written into every audit entry so each
    /// stage change can be tied to the exact configuration in force.
    ///
    /// Relative paths are hashed as resolved, so the same file loaded from two working
    /// directories has two hashes; that is intended, they are two deployments.
    pub fn hash(&self) -> String {
        let mut hasher = Sha256::new();
        match serde_json::to_vec(self) {
            Ok(json) => hasher.update(&json),
            // Unreachable: every field serializes infallibly (paths go through
            // `ser_path`, maps have string keys). Hashing the debug form keeps `hash`
            // total without a panic path.
            Err(_) => hasher.update(format!("{self:?}").as_bytes()),
        }
        hex::encode(hasher.finalize())
    }

    /// The upstream a consumer listener sends legacy-stack traffic to.
    pub fn legacy_stack(&self) -> Option<&Upstream> {
        self.stacks
            .as_ref()
            .and_then(|s| self.upstreams.get(&s.legacy))
    }

    /// The upstream a consumer listener sends UXP-stack traffic to.
    pub fn uxp_stack(&self) -> Option<&Upstream> {
        self.stacks
            .as_ref()
            .and_then(|s| self.upstreams.get(&s.uxp))
    }
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn ser_opt_ms<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_ms(d, s),
        None => s.serialize_none(),
    }
}

/// Paths print lossily rather than failing: `--show-settings` and the hash must work
/// for a non-UTF-8 working directory too.
fn ser_path<S: serde::Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls() {
        let u = UpstreamUrl::parse("http://127.0.0.1:8801/cgi-bin/consumer_proxy").expect("valid");
        assert_eq!(
            (u.scheme, u.host.as_str(), u.port, u.path_and_query.as_str()),
            (
                Scheme::Http,
                "127.0.0.1",
                Some(8801),
                "/cgi-bin/consumer_proxy"
            )
        );
        assert_eq!(
            u.to_string(),
            "http://127.0.0.1:8801/cgi-bin/consumer_proxy"
        );
        let u = UpstreamUrl::parse("HTTPS://ss.example.gov").expect("valid");
        assert_eq!(
            (u.port_or_default(), u.to_string().as_str()),
            (443, "https://ss.example.gov/")
        );
        let u = UpstreamUrl::parse("http://[::1]:8802?x=1").expect("valid");
        assert_eq!(u.to_string(), "http://[::1]:8802/?x=1");
        for (bad, want) in [
            ("ftp://a/", "Scheme"),
            ("127.0.0.1:8801", "Scheme"),
            ("http://", "NoHost"),
            ("http://a:0/", "Port"),
            ("http://a:99999/", "Port"),
            ("http://a:/", "Port"),
            ("http://a b/", "BadChar"),
            ("http://a/#frag", "BadChar"),
            ("http://u:p@a/", "Credentials"),
            ("http://[zz]/", "Host"),
            ("http://a%b/", "Host"),
        ] {
            let got = UpstreamUrl::parse(bad).expect_err(bad);
            assert!(format!("{got:?}").starts_with(want), "{bad}: {got:?}");
        }
    }
}
