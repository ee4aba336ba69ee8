//! TLS with rustls (ring provider): certificate material from PEM files, the server
//! config of an HTTPS listener, the client config and connector for `https://`
//! upstreams, and the certificate facts client identity binding reads.
//!
//! Sits between `config` (which names the files and checks they load) and `proxy`
//! (which builds these configs into `Active` on start and on every reload, so a renewed
//! certificate is picked up by SIGHUP with the rest of the configuration). Every error
//! names the file it concerns. Certificates are always verified: there is no switch to
//! turn verification off.

pub mod connector;
mod files;
pub mod x509;

pub use files::{ListenerTls, UpstreamTls};

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// Why TLS material or a TLS config could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {what}")]
    File { path: String, what: String },
    #[error("{0}")]
    Config(String),
}

fn file_error(path: &Path, what: impl Into<String>) -> TlsError {
    TlsError::File {
        path: path.display().to_string(),
        what: what.into(),
    }
}

/// The ring provider, the one this build links.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| file_error(path, format!("cannot read: {e}")))
}

/// Every certificate in a PEM file, in file order (a chain: leaf first).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, format!("not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(file_error(
            path,
            "no certificate found (expected PEM `-----BEGIN CERTIFICATE-----` blocks)",
        ));
    }
    Ok(certs)
}

/// The first private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => file_error(
            path,
            "no private key found (expected a PEM PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block)",
        ),
        e => file_error(path, format!("not valid PEM: {e}")),
    })
}

/// A trust store of every certificate in a PEM file.
pub fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots
            .add(cert)
            .map_err(|e| file_error(path, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(roots)
}

/// The rustls server config of an HTTPS listener: its certificate, and client
/// certificate verification when `client_ca` is set.
pub fn server_config(t: &ListenerTls) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let certs = load_certs(&t.cert)?;
    let key = load_key(&t.key)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match &t.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let roots = Arc::new(load_roots(ca)?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
            let verifier = if t.require_client_cert {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            let verifier = verifier
                .build()
                .map_err(|e| file_error(ca, format!("cannot verify clients with it: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        TlsError::Config(format!(
            "{} with {}: {e} (does the key belong to the certificate?)",
            t.cert.display(),
            t.key.display()
        ))
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The rustls client config for an `https://` upstream.
pub fn client_config(t: &UpstreamTls) -> Result<Arc<ClientConfig>, TlsError> {
    let roots = load_roots(&t.ca)?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots);
    let config = match (&t.client_cert, &t.client_key) {
        (Some(cert), Some(key)) => {
            let certs = load_certs(cert)?;
            let k = load_key(key)?;
            builder.with_client_auth_cert(certs, k).map_err(|e| {
                TlsError::Config(format!(
                    "{} with {}: {e} (does the key belong to the certificate?)",
                    cert.display(),
                    key.display()
                ))
            })?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// SHA-256 of the first certificate in a PEM file, hex, for reload diffs.
pub fn cert_fingerprint_hex(path: &Path) -> Option<String> {
    let certs = load_certs(path).ok()?;
    let fp = x509::fingerprint(certs.first()?);
    Some(hex::encode(fp))
}

/// Diff lines for certificates whose content changed: `listener a: tls cert sha256
/// 1a2b3c4d5e6f → 7a8b9c0d1e2f`.
pub fn cert_changes(old: &[(String, String)], new: &[(String, String)]) -> Vec<String> {
    let short = |h: &str| h.get(..12).unwrap_or(h).to_string();
    new.iter()
        .filter_map(|(what, fp)| {
            let (_, before) = old.iter().find(|(w, _)| w == what)?;
            (before != fp).then(|| format!("{what}: sha256 {} → {}", short(before), short(fp)))
        })
        .collect()
}
