//! Validation problems and how they are reported.
//!
//! Loading a mapping set collects *every* problem it finds and fails once with
//! [`MappingErrors`], so an operator fixes a broken set in one pass instead of one
//! error per restart. Each [`Problem`] points at a file, a 1-based line and the
//! field, in the `file:line: field: message` form editors and CI logs understand.

use std::fmt;
use std::path::PathBuf;

/// One thing wrong with a mapping set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file the problem is in. For problems of the whole set (no `[legacy]`
    /// anywhere, no `*.toml` at all) this is the directory.
    pub file: PathBuf,
    /// 1-based line, when the problem has a place inside the file.
    pub line: Option<usize>,
    /// Dotted path of the field, e.g. `legacy.dialect` or `members[2].uxp`
    /// (entry numbers are 1-based and count within the file).
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in a mapping set. Display prints one problem per line,
/// sorted by file and then line (problems without a line first within a file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingErrors(pub Vec<Problem>);

impl MappingErrors {
    /// The problems in display order. The loader already returns them sorted; this
    /// also orders a hand-built value, since the field is public.
    pub fn sorted(&self) -> Vec<&Problem> {
        let mut v: Vec<&Problem> = self.0.iter().collect();
        // Stable: problems on the same line keep the order they were found in.
        v.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        v
    }

    pub(crate) fn sort(&mut self) {
        self.0
            .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    }
}

impl fmt::Display for MappingErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.sorted().into_iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for MappingErrors {}

/// Byte offset → 1-based line, for a single source text. TOML spans are byte ranges;
/// problems are reported by line.
pub(crate) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    /// Line containing byte `offset`; offsets past the end land on the last line,
    /// so a span from a confused parser can never cause a panic.
    pub(crate) fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index_counts_from_one() {
        let idx = LineIndex::new("a\nbc\n\nd");
        assert_eq!(idx.line(0), 1);
        assert_eq!(idx.line(1), 1); // the '\n' belongs to its line
        assert_eq!(idx.line(2), 2);
        assert_eq!(idx.line(5), 3);
        assert_eq!(idx.line(6), 4);
        assert_eq!(idx.line(999), 4);
        assert_eq!(LineIndex::new("").line(0), 1);
    }

    #[test]
    fn display_sorts_by_file_then_line() {
        let p = |file: &str, line: Option<usize>, field: Option<&str>, m: &str| Problem {
            file: file.into(),
            line,
            field: field.map(str::to_string),
            message: m.to_string(),
        };
        let errs = MappingErrors(vec![
            p("b.toml", Some(3), Some("members[1].uxp"), "bad"),
            p("a.toml", Some(9), None, "late"),
            p("a.toml", None, None, "whole file"),
            p("a.toml", Some(2), Some("legacy.dialect"), "early"),
        ]);
        assert_eq!(
            errs.to_string(),
            "a.toml: whole file\n\
             a.toml:2: legacy.dialect: early\n\
             a.toml:9: late\n\
             b.toml:3: members[1].uxp: bad"
        );
    }
}
