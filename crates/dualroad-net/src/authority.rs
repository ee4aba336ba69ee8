//! `host[:port]` authorities as written in a `Host` header, an `Origin` or a config
//! list (`[admin] allowed_hosts`): one strict parser for the admin listener's request
//! checks (`admin::host`) and for config validation. No I/O.

use std::net::Ipv6Addr;

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
}
