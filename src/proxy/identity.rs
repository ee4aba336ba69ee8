//! Client identity binding: may this connection speak for the client its header names?
//!
//! X-Road security servers refuse an information system that claims someone else's
//! identity; dualroad does the same on consumer listeners. The server loop records who
//! is at the other end of each connection ([`ConnIdentity`]: source address, and the
//! client certificate when mutual TLS verified one) and hands it to every request;
//! `pipeline::consumer` calls [`enforce`] right after decoding the header, with every
//! name the header's client is known by (its legacy name and the UXP id it maps to, so
//! a binding may use either vocabulary). [`check`] is the pure decision.
//!
//! With no `[[client_bindings]]` configured nothing is checked. With bindings, every
//! consumer request must come over a connection some binding covers, naming a client
//! that binding allows; anything else gets `Client.AccessDenied` in the client's dialect.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use crate::config::ClientBinding;
use crate::proxy::error::GatewayError;
use crate::proxy::{Active, Shared};
use crate::telemetry::events::ClientRefused;
use crate::tls::x509::{fingerprint, Subject};

/// The verified client certificate of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCert {
    pub sha256: [u8; 32],
    /// `None` when the subject could not be read (then only fingerprints match).
    pub subject: Option<Subject>,
}

impl PeerCert {
    pub fn from_der(der: &[u8]) -> PeerCert {
        PeerCert {
            sha256: fingerprint(der),
            subject: Subject::from_cert_der(der),
        }
    }
}

/// Who is at the other end of a connection, as far as the transport can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnIdentity {
    pub listener: Arc<str>,
    pub peer: IpAddr,
    pub cert: Option<PeerCert>,
}

impl ConnIdentity {
    /// For a request that arrived without one (never from the server loop): matches no
    /// binding, so binding fails closed.
    fn unknown() -> ConnIdentity {
        ConnIdentity {
            listener: Arc::from("unknown"),
            peer: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            cert: None,
        }
    }
}

impl fmt::Display for ConnIdentity {
    /// `certificate "C=EE, CN=x" (sha256 1a2b3c4d…) from 10.1.2.3`, for logs and faults.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(c) = &self.cert {
            let fp = crate::config::Fingerprint(c.sha256).to_string();
            match &c.subject {
                Some(s) => write!(
                    f,
                    "certificate \"{s}\" (sha256 {}…) ",
                    fp.get(..16).unwrap_or(&fp)
                )?,
                None => write!(f, "certificate sha256 {fp} ")?,
            }
        }
        write!(f, "from {}", self.peer)
    }
}

/// The connection identity the server loop attached to a request.
pub fn of_request<B>(req: &http::Request<B>) -> Arc<ConnIdentity> {
    req.extensions()
        .get::<Arc<ConnIdentity>>()
        .cloned()
        .unwrap_or_else(|| Arc::new(ConnIdentity::unknown()))
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("no client binding covers this connection ({0}), so it may not speak for any client")]
    Unbound(String),
    #[error(
        "this connection ({conn}) may not speak for client `{claimed}` (its bindings: {bindings})"
    )]
    NotAllowed {
        conn: String,
        claimed: String,
        bindings: String,
    },
}

impl Denied {
    /// Metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Denied::Unbound(_) => "unbound",
            Denied::NotAllowed { .. } => "not_allowed",
        }
    }
}

/// Whether `b` covers the connection: every criterion it sets must hold.
pub fn binding_covers(b: &ClientBinding, conn: &ConnIdentity) -> bool {
    let cert_ok = match (&b.cert_sha256, &b.cert_subject) {
        (None, None) => true,
        (fp, subject) => conn.cert.as_ref().is_some_and(|c| {
            fp.map_or(true, |f| f.0 == c.sha256)
                && subject
                    .as_ref()
                    .map_or(true, |s| c.subject.as_ref() == Some(s))
        }),
    };
    let source_ok = b.source.is_empty() || b.source.iter().any(|r| r.contains(conn.peer));
    cert_ok && source_ok
}

/// The decision. `claimed`: every name the request's client is known by (legacy name
/// and mapped UXP id; `Translator::route_names`). Returns the names of the
/// bindings that allowed it (empty when no bindings are configured).
pub fn check<'b>(
    bindings: &'b [ClientBinding],
    conn: &ConnIdentity,
    claimed: &[String],
) -> Result<Vec<&'b str>, Denied> {
    if bindings.is_empty() {
        return Ok(Vec::new());
    }
    let covering: Vec<&ClientBinding> = bindings
        .iter()
        .filter(|b| binding_covers(b, conn))
        .collect();
    if covering.is_empty() {
        return Err(Denied::Unbound(conn.to_string()));
    }
    let allowing: Vec<&str> = covering
        .iter()
        .filter(|b| b.clients.iter().any(|p| p.matches_any(claimed)))
        .map(|b| b.name.as_str())
        .collect();
    if allowing.is_empty() {
        return Err(Denied::NotAllowed {
            conn: conn.to_string(),
            claimed: claimed.first().cloned().unwrap_or_else(|| "(none)".into()),
            bindings: covering
                .iter()
                .map(|b| b.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(allowing)
}

/// [`check`] with its telemetry: a refusal is logged and counted, and becomes the
/// `Client.AccessDenied` fault.
pub fn enforce(
    shared: &Shared,
    active: &Active,
    conn: &ConnIdentity,
    claimed: &[String],
) -> Result<(), GatewayError> {
    match check(&active.settings.client_bindings, conn, claimed) {
        Ok(_) => Ok(()),
        Err(denied) => {
            ClientRefused {
                listener: &conn.listener,
                reason: denied.reason(),
                claimed: claimed.first().map_or("(none)", String::as_str),
                connection: &conn.to_string(),
            }
            .emit(&shared.metrics);
            Err(GatewayError::AccessDenied(denied.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Cidr, Fingerprint};
    use crate::routing::Pattern;

    fn binding(name: &str, clients: &[&str]) -> ClientBinding {
        ClientBinding {
            name: name.into(),
            cert_sha256: None,
            cert_subject: None,
            source: Vec::new(),
            clients: clients
                .iter()
                .map(|c| Pattern::parse(c).expect("pattern"))
                .collect(),
        }
    }

    fn conn(peer: &str, cert: Option<PeerCert>) -> ConnIdentity {
        ConnIdentity {
            listener: Arc::from("agencies"),
            peer: peer.parse().expect("ip"),
            cert,
        }
    }

    fn cert(fp: u8, subject: &str) -> PeerCert {
        PeerCert {
            sha256: [fp; 32],
            subject: Subject::parse(subject).ok(),
        }
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn no_bindings_means_no_check() {
        assert_eq!(check(&[], &conn("10.0.0.1", None), &[]), Ok(vec![]));
    }

    #[test]
    fn certificate_bindings_by_fingerprint_or_subject() {
        let mut by_fp = binding("moh", &["10000042"]);
        by_fp.cert_sha256 = Some(Fingerprint([1; 32]));
        let mut by_subject = binding("tax", &["PS-UXP/GOV/70000007/*"]);
        by_subject.cert_subject = Subject::parse("C=EE, O=Tax Board, CN=tax-office").ok();
        let bindings = [by_fp, by_subject];
        let moh = conn("10.0.0.1", Some(cert(1, "CN=moh-portal")));
        let tax = conn(
            "10.0.0.2",
            Some(cert(2, "CN=tax-office, O=Tax Board, C=EE")),
        );
        // Legacy name, or the UXP id it maps to: either vocabulary works.
        assert_eq!(
            check(
                &bindings,
                &moh,
                &names(&["10000042", "PS-UXP/GOV/10000042/moh"])
            ),
            Ok(vec!["moh"])
        );
        assert_eq!(
            check(
                &bindings,
                &tax,
                &names(&["70000007", "PS-UXP/GOV/70000007/tax"])
            ),
            Ok(vec!["tax"])
        );
        // A valid certificate claiming someone else.
        let err = check(
            &bindings,
            &moh,
            &names(&["70000007", "PS-UXP/GOV/70000007/tax"]),
        )
        .expect_err("claims another client");
        assert_eq!(err.reason(), "not_allowed");
        assert!(err.to_string().contains("`70000007`"), "{err}");
        // No certificate at all: no certificate binding covers it.
        let err =
            check(&bindings, &conn("10.0.0.1", None), &names(&["10000042"])).expect_err("unbound");
        assert_eq!(err.reason(), "unbound");
        // An unknown certificate.
        let err = check(
            &bindings,
            &conn("10.0.0.1", Some(cert(9, "CN=x"))),
            &names(&["10000042"]),
        )
        .expect_err("unbound");
        assert_eq!(err.reason(), "unbound");
    }

    #[test]
    fn source_bindings_and_combined_criteria() {
        let mut lan = binding("lan", &["10000042"]);
        lan.source = vec![Cidr::parse("10.1.0.0/16").expect("cidr")];
        let mut both = binding("moh-from-dmz", &["10000055"]);
        both.cert_sha256 = Some(Fingerprint([1; 32]));
        both.source = vec![Cidr::parse("192.0.2.0/24").expect("cidr")];
        let bindings = [lan, both];
        assert!(check(&bindings, &conn("10.1.4.4", None), &names(&["10000042"])).is_ok());
        assert_eq!(
            check(&bindings, &conn("10.2.4.4", None), &names(&["10000042"]))
                .expect_err("outside")
                .reason(),
            "unbound"
        );
        // Both criteria must hold.
        let c = Some(cert(1, "CN=moh"));
        assert!(check(
            &bindings,
            &conn("192.0.2.7", c.clone()),
            &names(&["10000055"])
        )
        .is_ok());
        assert!(check(&bindings, &conn("10.9.9.9", c), &names(&["10000055"])).is_err());
        // A missing client in the header is allowed only by "*".
        assert!(check(&bindings, &conn("10.1.4.4", None), &[]).is_err());
        let any = [binding("all-loopback", &["*"])];
        assert!(check(&any, &conn("127.0.0.1", None), &[]).is_ok());
    }
}
