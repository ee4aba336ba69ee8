//! The rollback switch: operator overrides that force traffic back to legacy.
//!
//! `store` persists a [`SwitchState`] and hands it to the proxy; [`super::decide`] checks
//! it before any rule, so a rollback wins over every stage without editing the config.
//! Entries keep their patterns as strings because they are stored on disk;
//! [`SwitchScope::validate`] checks them before they are stored.

use std::fmt;

use super::pattern::{str_matches_any, Pattern, PatternError};
use super::RequestKey;

/// Which traffic a rollback covers. `None` on a side means "all"; patterns use the same
/// matcher as rollout rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct SwitchScope {
    pub agency: Option<String>,
    pub service: Option<String>,
}

/// One rollback in effect, with who asked for it, why and when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchEntry {
    pub agency: Option<String>,
    pub service: Option<String>,
    pub reason: String,
    pub actor: String,
    pub at_unix_ms: u64,
}

/// Every rollback in effect, oldest first. Empty means rules decide alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchState {
    pub entries: Vec<SwitchEntry>,
}

impl SwitchScope {
    /// Every agency and every service: the global rollback.
    pub fn all() -> Self {
        SwitchScope::default()
    }

    /// Builds a scope, folding `"*"` into `None` so `--agency '*'` and no `--agency`
    /// name the same scope (and `release` finds what `rollback` stored).
    pub fn new(agency: Option<&str>, service: Option<&str>) -> Self {
        let norm = |s: Option<&str>| s.filter(|s| *s != "*").map(str::to_string);
        SwitchScope {
            agency: norm(agency),
            service: norm(service),
        }
    }

    /// Checks both patterns with the rollout-rule rules.
    pub fn validate(&self) -> Result<(), PatternError> {
        for p in [&self.agency, &self.service].into_iter().flatten() {
            Pattern::parse(p)?;
        }
        Ok(())
    }

    pub fn matches(&self, key: &RequestKey<'_>) -> bool {
        scope_matches(&self.agency, &self.service, key)
    }
}

impl fmt::Display for SwitchScope {
    /// `agency=10000042 service=*`; the global scope prints as `agency=* service=*`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "agency={} service={}",
            self.agency.as_deref().unwrap_or("*"),
            self.service.as_deref().unwrap_or("*")
        )
    }
}

impl SwitchEntry {
    pub fn scope(&self) -> SwitchScope {
        SwitchScope {
            agency: self.agency.clone(),
            service: self.service.clone(),
        }
    }

    pub fn matches(&self, key: &RequestKey<'_>) -> bool {
        scope_matches(&self.agency, &self.service, key)
    }

    fn has_scope(&self, scope: &SwitchScope) -> bool {
        self.agency == scope.agency && self.service == scope.service
    }
}

/// `None` matches everything; a pattern must match one of the request's names.
fn scope_matches(agency: &Option<String>, service: &Option<String>, key: &RequestKey<'_>) -> bool {
    let side = |p: &Option<String>, names: &[String]| {
        // `map_or` rather than `is_none_or`: the crate's MSRV is 1.80.
        p.as_deref().map_or(true, |p| str_matches_any(p, names))
    };
    side(agency, key.agency) && side(service, key.service)
}

impl SwitchState {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The oldest rollback covering `key`, if any.
    pub fn matching(&self, key: &RequestKey<'_>) -> Option<&SwitchEntry> {
        self.entries.iter().find(|e| e.matches(key))
    }

    /// The entry for exactly this scope (not one that merely covers it).
    pub fn get(&self, scope: &SwitchScope) -> Option<&SwitchEntry> {
        self.entries.iter().find(|e| e.has_scope(scope))
    }

    /// Adds a rollback, or refreshes who/why/when if this exact scope is already rolled
    /// back: rolling back twice is not an error, and keeps one entry per scope.
    pub fn insert(&mut self, entry: SwitchEntry) {
        let scope = entry.scope();
        match self.entries.iter_mut().find(|e| e.has_scope(&scope)) {
            Some(existing) => *existing = entry,
            None => self.entries.push(entry),
        }
    }

    /// Removes the rollback for exactly this scope; returns it, or `None` if there was
    /// none. A narrower or broader rollback stays in effect.
    pub fn remove(&mut self, scope: &SwitchScope) -> Option<SwitchEntry> {
        let i = self.entries.iter().position(|e| e.has_scope(scope))?;
        Some(self.entries.remove(i))
    }
}
