//! What can be wrong with a config file, reported all at once.
//!
//! Loading never stops at the first problem it can step over: the operator fixing a
//! file at 2 a.m. gets the whole list, each entry with file, line and field.

use std::fmt;

/// Broad class of a problem, for callers that react differently (and for tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The file could not be read.
    Io,
    /// Not valid TOML; nothing past this was checked.
    Syntax,
    /// Valid TOML, wrong shape: an unknown key, a wrong type, an unknown enum value.
    Schema,
    /// A required value is absent.
    Missing,
    /// A value is present but unusable (out of range, unparsable address, bad pattern).
    Invalid,
    /// A name that should refer to an upstream does not.
    UnknownReference,
    /// Two settings contradict each other (duplicates, dialect vs stack, overlapping
    /// rules, an option that does not apply).
    Conflict,
}

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file as named to the loader.
    pub file: String,
    /// 1-based; `None` when the problem has no place in the file (it is empty, or a
    /// required table is missing altogether).
    pub line: Option<usize>,
    /// Dotted path, `rollout.rules[2].percent`; empty for file-level problems.
    pub field: String,
    pub kind: ErrorKind,
    pub message: String,
}

impl fmt::Display for ConfigError {
    /// `dualroad.toml:14: rollout.rules[0].percent: percent must be 0..=100, got 150`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in a file, in line order. Never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    pub file: String,
    pub errors: Vec<ConfigError>,
}

impl ConfigErrors {
    pub(crate) fn new(file: &str, mut errors: Vec<ConfigError>) -> Self {
        // Line order reads like the file; problems without a line (missing tables) last.
        errors.sort_by_key(|e| (e.line.is_none(), e.line));
        ConfigErrors {
            file: file.to_string(),
            errors,
        }
    }

    pub fn len(&self) -> usize {
        self.errors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.errors.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "{}: {n} problem{}",
            self.file,
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}
