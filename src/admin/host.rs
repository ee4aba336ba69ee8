//! Which `Host` and `Origin` values the admin listener answers (docs/admin.md). The
//! admin API has no authentication of its own, so a browser on the gateway host must
//! not reach it: a page on another site can POST to `127.0.0.1` (its `Origin` then
//! names that site), and a DNS-rebinding page reaches it under the attacker's name (its
//! `Host` then names that name). Both are refused before any route runs.
//! `[admin] allowed_hosts` entries are checked with the same parser at config load.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// A `host[:port]` as written in a `Host` header, an `Origin` or `allowed_hosts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    /// Lowercase; an IPv6 literal keeps its brackets (`[::1]`).
    pub host: String,
    pub port: Option<u16>,
}

impl Authority {
    /// Parses `name`, `name:port`, `IPv4[:port]` or `[IPv6][:port]`; names are ASCII
    /// letters, digits, `-`, `.` and `_` (no wildcards, schemes, paths or userinfo).
    pub fn parse(text: &str) -> Result<Authority, String> {
        if text.is_empty() {
            return Err("is empty".into());
        }
        if text.contains("://") {
            return Err(format!(
                "`{text}` is a URL; write only the host name, with an optional :port"
            ));
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (v6, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("`{text}`: `[` without `]`"))?;
            if v6.parse::<Ipv6Addr>().is_err() {
                return Err(format!("`{text}`: `{v6}` is not an IPv6 address"));
            }
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| format!("`{text}`: expected `:port` after `]`"))?,
                ),
            };
            (format!("[{}]", v6.to_ascii_lowercase()), port)
        } else {
            let (host, port) = match text.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (text, None),
            };
            let name_ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
            if host.is_empty() || !host.chars().all(name_ok) {
                return Err(format!(
                    "`{text}` is not a host name (letters, digits, `-`, `.`, `_`; \
                     no wildcards, spaces or paths), optionally with :port"
                ));
            }
            (host.to_ascii_lowercase(), port)
        };
        let port = match port {
            None => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|_| p.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| format!("`{text}`: `{p}` is not a port number"))?,
            ),
        };
        Ok(Authority { host, port })
    }

    /// As written back (lowercase host).
    pub fn render(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }
}

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
    fn authorities_parse_strictly() {
        let a = Authority::parse("Admin.Example:8080").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("admin.example", Some(8080)));
        let a = Authority::parse("[::1]:9090").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("[::1]", Some(9090)));
        assert_eq!(Authority::parse("[::1]").unwrap().port, None);
        for bad in [
            "", "http://x", "a b", "*.x", "x:", "x:+1", "x:70000", "[zz]", "[::1", "u@x", "x/y",
            ":80",
        ] {
            assert!(Authority::parse(bad).is_err(), "{bad}");
        }
    }

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
