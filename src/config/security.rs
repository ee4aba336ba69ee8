//! Settings for TLS and client identity binding, and their checks.
//!
//! Part of config loading (`validate` calls the `check_*` functions here): a listener's
//! `tls = { cert, key, client_ca, require_client_cert }`, an upstream's
//! `tls = { ca, client_cert, client_key, server_name }`, and `[[client_bindings]]`, which
//! say which X-Road clients a connection may speak for, by its client certificate
//! (SHA-256 fingerprint or subject) and/or its source address. Certificate files are
//! loaded here once, so a missing or broken file is reported with the key that names it
//! and its line; `proxy` loads them again into rustls configs at start and on reload.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Serialize;

use super::error::ErrorKind;
use super::file::{
    ClientBindingConfig, Lenient, ListenerTlsConfig, UpstreamTlsConfig, DEFAULT_REQUIRE_CLIENT_CERT,
};
use super::settings::Scheme;
use super::source::FieldPath;
use super::validate::{resolve_path, Checker};
use crate::routing::Pattern;
use crate::tls::x509::{parse_fingerprint, Subject};
pub use crate::tls::{ListenerTls, UpstreamTls};

/// A SHA-256 certificate fingerprint; serializes as lowercase hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An address range: `10.1.0.0/16`, `2001:db8::/32`, or one address. Host bits are
/// kept as written (shown back in `config show`) and ignored when matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr(IpNet);

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let bad = || {
            format!("`{text}` is not an address range (CIDR like \"10.1.0.0/16\" or \"::1/128\", or one address)")
        };
        let (ip, prefix) = match text.trim().split_once('/') {
            Some((ip, p)) => (ip, Some(p)),
            None => (text.trim(), None),
        };
        let addr: IpAddr = ip.parse().map_err(|_| bad())?;
        match prefix {
            None => Ok(Cidr(IpNet::from(addr))),
            Some(p) => {
                let prefix = p.parse::<u8>().map_err(|_| bad())?;
                IpNet::new(addr, prefix).map(Cidr).map_err(|_| bad())
            }
        }
    }

    /// Whether `ip` is in the range. An IPv4 peer seen on an IPv6 socket
    /// (`::ffff:10.1.2.3`) counts as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One `[[client_bindings]]` entry: a connection matching every criterion set here may
/// speak for `clients`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientBinding {
    pub name: String,
    pub cert_sha256: Option<Fingerprint>,
    pub cert_subject: Option<Subject>,
    /// Empty: any source address.
    pub source: Vec<Cidr>,
    /// Legacy consumer names and/or UXP client ids, as patterns.
    pub clients: Vec<Pattern>,
}

/// A path-valued key: required or optional, resolved, and loaded with `load` so a
/// missing or unreadable file is reported at its key.
fn file_key<T>(
    c: &mut Checker<'_>,
    path: &FieldPath,
    value: Option<&String>,
    base: Option<&Path>,
    load: impl FnOnce(&Path) -> Result<T, crate::tls::TlsError>,
) -> Option<PathBuf> {
    let text = value?;
    if text.trim().is_empty() {
        c.report(path, ErrorKind::Invalid, "must not be empty");
        return None;
    }
    let resolved = resolve_path(base, text);
    match load(&resolved) {
        Ok(_) => Some(resolved),
        Err(e) => {
            c.report(path, ErrorKind::Invalid, e.to_string());
            None
        }
    }
}

/// `listeners[i].tls`.
pub(super) fn check_listener_tls(
    p: &FieldPath,
    entry: &Lenient<ListenerTlsConfig>,
    base: Option<&Path>,
    c: &mut Checker<'_>,
) -> Option<ListenerTls> {
    let t = c.lenient(p, entry)?;
    let before = c.errors.len();
    c.required(
        &p.key("cert"),
        t.cert.as_ref(),
        "the server certificate chain (PEM, leaf first), e.g. cert = \"tls/server.pem\"",
    );
    c.required(
        &p.key("key"),
        t.key.as_ref(),
        "the server certificate's private key (PEM), e.g. key = \"tls/server.key\"",
    );
    let cert = file_key(
        c,
        &p.key("cert"),
        t.cert.as_ref(),
        base,
        crate::tls::load_certs,
    );
    let key = file_key(c, &p.key("key"), t.key.as_ref(), base, crate::tls::load_key);
    let client_ca = file_key(
        c,
        &p.key("client_ca"),
        t.client_ca.as_ref(),
        base,
        crate::tls::load_roots,
    );
    if t.client_ca.is_none() && t.require_client_cert.is_some() {
        c.report(
            &p.key("require_client_cert"),
            ErrorKind::Conflict,
            "require_client_cert applies only with client_ca (the CAs client certificates are verified against); add client_ca or remove it",
        );
    }
    if c.errors.len() != before {
        return None;
    }
    Some(ListenerTls {
        cert: cert?,
        key: key?,
        require_client_cert: client_ca.is_some()
            && t.require_client_cert.unwrap_or(DEFAULT_REQUIRE_CLIENT_CERT),
        client_ca,
    })
}

/// `upstreams.NAME.tls`, which an `https://` URL requires and an `http://` one refuses.
pub(super) fn check_upstream_tls(
    p: &FieldPath,
    scheme: Option<Scheme>,
    entry: Option<&Lenient<UpstreamTlsConfig>>,
    base: Option<&Path>,
    c: &mut Checker<'_>,
) -> Option<Option<UpstreamTls>> {
    let tp = p.key("tls");
    let entry = match (scheme, entry) {
        (Some(Scheme::Https), None) => {
            c.report(
                &tp,
                ErrorKind::Missing,
                "required for an https:// upstream: at least the CA its certificate is verified against, e.g. tls = { ca = \"tls/upstream-ca.pem\" } (verification cannot be turned off)",
            );
            return None;
        }
        (Some(Scheme::Http), Some(_)) => {
            c.report(
                &tp,
                ErrorKind::Conflict,
                "tls applies only to https:// upstreams; this url is http://",
            );
            return None;
        }
        (_, None) => return Some(None),
        (_, Some(e)) => e,
    };
    let t = c.lenient(&tp, entry)?;
    let before = c.errors.len();
    c.required(
        &tp.key("ca"),
        t.ca.as_ref(),
        "the CA certificates (PEM) the upstream's certificate is verified against",
    );
    let ca = file_key(
        c,
        &tp.key("ca"),
        t.ca.as_ref(),
        base,
        crate::tls::load_roots,
    );
    let client_cert = file_key(
        c,
        &tp.key("client_cert"),
        t.client_cert.as_ref(),
        base,
        crate::tls::load_certs,
    );
    let client_key = file_key(
        c,
        &tp.key("client_key"),
        t.client_key.as_ref(),
        base,
        crate::tls::load_key,
    );
    match (&t.client_cert, &t.client_key) {
        (Some(_), None) => c.report(
            &tp.key("client_key"),
            ErrorKind::Missing,
            "required with client_cert: its private key (PEM)",
        ),
        (None, Some(_)) => c.report(
            &tp.key("client_cert"),
            ErrorKind::Missing,
            "required with client_key: the client certificate chain (PEM)",
        ),
        _ => {}
    }
    if let Some(name) = &t.server_name {
        if rustls::pki_types::ServerName::try_from(name.as_str()).is_err() {
            c.report(
                &tp.key("server_name"),
                ErrorKind::Invalid,
                format!("`{name}` is not a DNS name or IP address"),
            );
        }
    }
    if c.errors.len() != before {
        return None;
    }
    Some(Some(UpstreamTls {
        ca: ca?,
        client_cert,
        client_key,
        server_name: t.server_name.clone(),
    }))
}

/// `[[client_bindings]]`.
pub(super) fn check_bindings(
    entries: &[Lenient<ClientBindingConfig>],
    c: &mut Checker<'_>,
) -> Option<Vec<ClientBinding>> {
    let bp = FieldPath::root().key("client_bindings");
    let mut names: Vec<(String, FieldPath)> = Vec::new();
    let mut out = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let p = bp.index(i);
        let Some(b) = c.lenient(&p, entry) else {
            out.push(None);
            continue;
        };
        let before = c.errors.len();
        let name = c.required(
            &p.key("name"),
            b.name.as_ref(),
            "a unique name for logs, e.g. name = \"moh-portal\"",
        );
        if let Some(name) = name {
            if let Some((_, first)) = names.iter().find(|(n, _)| n == name) {
                let msg = format!(
                    "binding name `{name}` is already used by {first}{}",
                    c.line(first)
                );
                c.report(&p.key("name"), ErrorKind::Conflict, msg);
            } else {
                names.push((name.clone(), p.key("name")));
            }
        }
        if b.cert_sha256.is_none() && b.cert_subject.is_none() && b.source.is_none() {
            c.report(
                &p,
                ErrorKind::Missing,
                "say which connections this binding is for: cert_sha256, cert_subject and/or source",
            );
        }
        let fp = b
            .cert_sha256
            .as_ref()
            .and_then(|t| match parse_fingerprint(t) {
                Ok(f) => Some(Fingerprint(f)),
                Err(e) => {
                    c.report(&p.key("cert_sha256"), ErrorKind::Invalid, e.to_string());
                    None
                }
            });
        let subject = b
            .cert_subject
            .as_ref()
            .and_then(|t| match Subject::parse(t) {
                Ok(s) => Some(s),
                Err(e) => {
                    c.report(&p.key("cert_subject"), ErrorKind::Invalid, e.to_string());
                    None
                }
            });
        let mut source = Vec::new();
        if let Some(list) = &b.source {
            if list.is_empty() {
                c.report(
                    &p.key("source"),
                    ErrorKind::Invalid,
                    "must list at least one address range (omit it to allow any source)",
                );
            }
            for s in list {
                match Cidr::parse(s) {
                    Ok(r) => source.push(r),
                    Err(e) => c.report(&p.key("source"), ErrorKind::Invalid, e),
                }
            }
        }
        let mut clients = Vec::new();
        match c.required(&p.key("clients"), b.clients.as_ref(), "the legacy consumer names and/or UXP client ids these connections may speak for, e.g. clients = [\"10000042\"]") {
            Some(list) if list.is_empty() => c.report(&p.key("clients"), ErrorKind::Invalid, "must name at least one client"),
            Some(list) => {
                for s in list {
                    if let Some(pat) = c.pattern(&p.key("clients"), s) {
                        clients.push(pat);
                    }
                }
            }
            None => {}
        }
        out.push(if c.errors.len() == before {
            Some(ClientBinding {
                name: name.cloned().unwrap_or_default(),
                cert_sha256: fp,
                cert_subject: subject,
                source,
                clients,
            })
        } else {
            None
        });
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_ranges() {
        let net = Cidr::parse("10.1.0.0/16").expect("valid");
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(
            net.contains("::ffff:10.1.0.9".parse().unwrap()),
            "v4-mapped peer"
        );
        let one = Cidr::parse("127.0.0.1").expect("valid");
        assert_eq!(one.to_string(), "127.0.0.1/32");
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        let v6 = Cidr::parse("2001:db8::/32").expect("valid");
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("10.1.0.1".parse().unwrap()));
        for bad in [
            "10.1.0.0/33",
            "10.1/16",
            "host.example",
            "::1/129",
            "1.2.3.4/x",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cidr_edges_host_bits_and_ipv6() {
        let ip = |s: &str| -> IpAddr { s.parse().expect("address") };
        // Host bits are kept as written and ignored when matching.
        let host = Cidr::parse("10.1.2.3/16").expect("valid");
        assert_eq!(host.to_string(), "10.1.2.3/16");
        assert!(host.contains(ip("10.1.9.9")));
        assert!(!host.contains(ip("10.2.2.3")));
        let v6 = Cidr::parse(" 2001:db8::1/64 ").expect("trimmed");
        assert_eq!(v6.to_string(), "2001:db8::1/64");
        assert!(v6.contains(ip("2001:db8::ffff:1")));
        assert!(!v6.contains(ip("2001:db8:0:1::1")));
        let all6 = Cidr::parse("::/0").expect("valid");
        assert!(all6.contains(ip("2001:db8::1")));
        assert!(
            !all6.contains(ip("10.0.0.1")),
            "an IPv4 peer is not in an IPv6 range"
        );
        assert!(
            !all6.contains(ip("::ffff:10.0.0.1")),
            "nor is a v4-mapped one"
        );
        let all4 = Cidr::parse("0.0.0.0/0").expect("valid");
        assert!(all4.contains(ip("::ffff:8.8.8.8")));
        assert!(!all4.contains(ip("2001:db8::1")));
        let loop6 = Cidr::parse("::1").expect("one address");
        assert_eq!(loop6.to_string(), "::1/128");
        assert!(loop6.contains(ip("::1")));
        assert!(!loop6.contains(ip("::2")));
        assert!(!loop6.contains(ip("127.0.0.1")));
        let one4 = Cidr::parse("192.0.2.7/32").expect("valid");
        assert!(one4.contains(ip("192.0.2.7")));
        assert!(!one4.contains(ip("192.0.2.6")));
        for bad in [
            "",
            "10.1.0.0/",
            "/8",
            "10.1.0.0/8/8",
            "10.1.0.0 /8",
            "[::1]/128",
            "2001:db8::/-1",
            "10.0.0.0/8 10.0.0.0/9",
        ] {
            let e = Cidr::parse(bad).expect_err(bad);
            assert!(e.contains("is not an address range"), "{e}");
        }
    }
}
