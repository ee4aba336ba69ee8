//! Which `Host` and `Origin` values the admin listener answers (docs/admin.md). The
//! admin API has no authentication of its own, so a browser on the gateway host must
//! not reach it: a page on another site can POST to `127.0.0.1` (its `Origin` then
//! names that site), and a DNS-rebinding page reaches it under the attacker's name (its
//! `Host` then names that name). Both are refused before any route runs.
//! `[admin] allowed_hosts` entries are checked with the same parser at config load.

use std::net::{IpAddr, SocketAddr};

pub use crate::net::Authority;

/// The names this admin listener answers to.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    /// The bound port (the real one when `listen` said port 0).
    port: u16,
    /// `localhost`, the loopback literals and the bound IP, each valid with `port`.
    own: Vec<String>,
    /// `[admin] allowed_hosts`: without a port any port (or none) matches.
    allowed: Vec<Authority>,
}

fn ip_host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

impl HostPolicy {
    /// `bound` is the listener's actual address; `allowed_hosts` come from validated
    /// settings (an entry that does not parse is ignored, validation refused it).
    pub fn new(bound: SocketAddr, allowed_hosts: &[String]) -> HostPolicy {
        let mut own: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "[::1]".into()];
        if !bound.ip().is_unspecified() {
            let ip = ip_host(bound.ip());
            if !own.contains(&ip) {
                own.push(ip);
            }
        }
        HostPolicy {
            port: bound.port(),
            own,
            allowed: allowed_hosts
                .iter()
                .filter_map(|h| Authority::parse(h).ok())
                .collect(),
        }
    }

    fn names_own(&self, a: &Authority) -> bool {
        // A Host without a port means port 80 (RFC 9110 §4.2.1).
        a.port.unwrap_or(80) == self.port && self.own.contains(&a.host)
    }

    fn names_allowed(&self, a: &Authority) -> bool {
        self.allowed
            .iter()
            .any(|e| e.host == a.host && (e.port.is_none() || e.port == a.port))
    }

    /// Whether a `Host` header value names this listener.
    pub fn accepts_host(&self, host: &str) -> bool {
        Authority::parse(host).is_ok_and(|a| self.names_own(&a) || self.names_allowed(&a))
    }

    /// Whether an `Origin` header value is this listener's own origin: `http://` one
    /// of its names, or `http://`/`https://` an allowed host (an authenticating proxy
    /// in front may terminate TLS). `null` and anything else are foreign.
    pub fn accepts_origin(&self, origin: &str) -> bool {
        if let Some(rest) = origin.strip_prefix("http://") {
            Authority::parse(rest).is_ok_and(|a| self.names_own(&a) || self.names_allowed(&a))
        } else if let Some(rest) = origin.strip_prefix("https://") {
            Authority::parse(rest).is_ok_and(|a| self.names_allowed(&a))
        } else {
            false
        }
    }

    /// The names to suggest in a refusal.
    pub fn expected(&self) -> String {
        let mut names: Vec<String> = self
            .own
            .iter()
            .map(|h| format!("{h}:{}", self.port))
            .collect();
        names.extend(self.allowed.iter().map(Authority::render));
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_names_need_the_bound_port() {
        let p = HostPolicy::new("127.0.0.1:9090".parse().unwrap(), &[]);
        assert!(p.accepts_host("localhost:9090"));
        assert!(p.accepts_host("[::1]:9090"));
        assert!(!p.accepts_host("localhost"));
        assert!(!p.accepts_host("localhost:9091"));
        assert!(p.accepts_origin("http://127.0.0.1:9090"));
        assert!(!p.accepts_origin("https://127.0.0.1:9090"));
        assert!(!p.accepts_origin("null"));
        let p = HostPolicy::new("10.0.0.5:9090".parse().unwrap(), &["gw".into()]);
        assert!(p.accepts_host("10.0.0.5:9090"));
        assert!(p.accepts_host("gw"));
        assert!(p.accepts_origin("https://gw"));
    }
}
