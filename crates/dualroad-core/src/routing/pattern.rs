//! Agency and service patterns shared by rollout rules and rollback switches.
//!
//! A pattern is `*` (anything), an exact name, or a prefix ending in one trailing `*`
//! (`PS-UXP/GOV/*`, `moh.*`). Nothing richer: a rollout table is read by operators under
//! pressure, and with only these three forms "which rule wins" is a total order anyone can
//! compute by eye (see [`Specificity`]).

use std::fmt;

/// Why a pattern string was rejected. Carries the text so the caller can say which
/// rule or scope is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("pattern is empty: use \"*\" to match everything")]
    Empty,
    #[error("pattern `{0}` has a `*` before its end: only \"*\" or one trailing `*` (e.g. \"PS-UXP/GOV/*\") is supported")]
    InnerWildcard(String),
    #[error("pattern `{0}` contains whitespace or a control character")]
    BadChar(String),
}

/// A compiled pattern. Serializes back to the string it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Pattern {
    /// `*`: matches every name, and also a request with no names at all.
    Any,
    /// `prefix*`: the stored string is the prefix without the `*`.
    Prefix(String),
    /// An exact name. `PS-UXP/GOV/10000042` does not match its subsystems; write
    /// `PS-UXP/GOV/10000042/*` for those.
    Exact(String),
}

/// How specific a pattern is; larger is more specific. Ordered exact > longer prefix >
/// shorter prefix > `*`, which is the order [`crate::routing::decide`] uses to pick a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Specificity {
    class: u8,
    prefix_len: usize,
}

impl Pattern {
    /// Parses `*`, `prefix*` or an exact name.
    pub fn parse(s: &str) -> Result<Pattern, PatternError> {
        if s.is_empty() {
            return Err(PatternError::Empty);
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(PatternError::BadChar(s.to_string()));
        }
        if s == "*" {
            return Ok(Pattern::Any);
        }
        match s.strip_suffix('*') {
            Some(prefix) if prefix.contains('*') => Err(PatternError::InnerWildcard(s.to_string())),
            Some(prefix) => Ok(Pattern::Prefix(prefix.to_string())),
            None if s.contains('*') => Err(PatternError::InnerWildcard(s.to_string())),
            None => Ok(Pattern::Exact(s.to_string())),
        }
    }

    /// Whether this pattern matches one name.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Prefix(p) => name.starts_with(p.as_str()),
            Pattern::Exact(e) => name == e,
        }
    }

    /// Whether this pattern matches any of the names a client or service is known by.
    /// `*` matches even an empty list, so a catch-all rule also covers requests whose
    /// identity could not be mapped.
    pub fn matches_any(&self, names: &[String]) -> bool {
        matches!(self, Pattern::Any) || names.iter().any(|n| self.matches(n))
    }

    pub fn specificity(&self) -> Specificity {
        match self {
            Pattern::Any => Specificity {
                class: 0,
                prefix_len: 0,
            },
            Pattern::Prefix(p) => Specificity {
                class: 1,
                prefix_len: p.len(),
            },
            // Exact names all rank the same: two different exact patterns can only both
            // match one request through two names of the same client (legacy name and
            // UXP id); rule order breaks that tie.
            Pattern::Exact(_) => Specificity {
                class: 2,
                prefix_len: 0,
            },
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Any => f.write_str("*"),
            Pattern::Prefix(p) => write!(f, "{p}*"),
            Pattern::Exact(e) => f.write_str(e),
        }
    }
}

impl serde::Serialize for Pattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Matches a stored pattern string without compiling it. Used for switch entries, which
/// are persisted as strings; [`Pattern::parse`] validated them before they were stored.
/// A string that would not parse is treated as an exact name, so it can only ever match
/// that literal text.
pub(crate) fn str_matches_any(pattern: &str, names: &[String]) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_suffix('*') {
        Some(prefix) if !prefix.contains('*') => names.iter().any(|n| n.starts_with(prefix)),
        _ => names.iter().any(|n| n == pattern),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(Pattern::parse("*"), Ok(Pattern::Any));
        assert_eq!(Pattern::parse("moh.*"), Ok(Pattern::Prefix("moh.".into())));
        assert_eq!(
            Pattern::parse("10000042"),
            Ok(Pattern::Exact("10000042".into()))
        );
        assert_eq!(Pattern::parse(""), Err(PatternError::Empty));
        assert!(matches!(
            Pattern::parse("a*b"),
            Err(PatternError::InnerWildcard(_))
        ));
        assert!(matches!(
            Pattern::parse("a**"),
            Err(PatternError::InnerWildcard(_))
        ));
        assert!(matches!(
            Pattern::parse("a b"),
            Err(PatternError::BadChar(_))
        ));
        for s in ["*", "moh.*", "PS-UXP/GOV/*", "10000042"] {
            assert_eq!(Pattern::parse(s).map(|p| p.to_string()), Ok(s.to_string()));
        }
    }

    #[test]
    fn specificity_orders_exact_over_longer_prefix_over_any() {
        let s = |p: &str| Pattern::parse(p).expect("test pattern").specificity();
        assert!(s("10000042") > s("PS-UXP/GOV/*"));
        assert!(s("PS-UXP/GOV/*") > s("PS-UXP/*"));
        assert!(s("PS-UXP/*") > s("*"));
    }

    #[test]
    fn any_matches_unknown_identity() {
        assert!(Pattern::Any.matches_any(&[]));
        assert!(!Pattern::Prefix("a".into()).matches_any(&[]));
        assert!(str_matches_any("*", &[]));
        assert!(str_matches_any("moh.*", &["moh.x".into()]));
        assert!(!str_matches_any("a*b", &["axb".into()]));
    }
}
