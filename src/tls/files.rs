//! The TLS files an HTTPS listener or an `https://` upstream is built from, as the
//! validated settings name them (`config::security` checks and resolves them; this
//! module builds rustls configs from them, on start and on every reload).

use std::path::{Path, PathBuf};

use serde::Serialize;

/// `listeners.*.tls`: serve HTTPS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListenerTls {
    #[serde(serialize_with = "ser_path")]
    pub cert: PathBuf,
    #[serde(serialize_with = "ser_path")]
    pub key: PathBuf,
    /// Set: client certificates are verified against these CAs (mutual TLS).
    #[serde(serialize_with = "ser_opt_path")]
    pub client_ca: Option<PathBuf>,
    /// With `client_ca`: a connection without a certificate is refused at handshake.
    pub require_client_cert: bool,
}

/// `upstreams.*.tls`: how to call an `https://` upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpstreamTls {
    #[serde(serialize_with = "ser_path")]
    pub ca: PathBuf,
    #[serde(serialize_with = "ser_opt_path")]
    pub client_cert: Option<PathBuf>,
    #[serde(serialize_with = "ser_opt_path")]
    pub client_key: Option<PathBuf>,
    /// Overrides the URL's host as the name verified and sent as SNI.
    pub server_name: Option<String>,
}

fn ser_path<S: serde::Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

fn ser_opt_path<S: serde::Serializer>(p: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
    match p {
        Some(p) => s.serialize_some(&p.to_string_lossy()),
        None => s.serialize_none(),
    }
}
