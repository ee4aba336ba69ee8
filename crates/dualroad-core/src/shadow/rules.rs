//! Compare configuration: ignore rules and per-path treatments, as written in the config
//! file ([`CompareConfig`]) and compiled for the comparator ([`Rules`]).
//!
//! ## Paths
//!
//! A path names elements by **local name** from the Envelope's child down, separated by
//! `/`: `Body/getPatientSummaryResponse/response/generatedAt`, `Header/issue`.
//! - Namespaces and prefixes are not written: answers are compared prefix-insensitively,
//!   and a rule must not stop matching because a stack picked another prefix. (Sibling
//!   elements with the same local name in two namespaces are rare in X-Road bodies.)
//! - `*` matches exactly one element of any name: `Body/*/response/generatedAt` covers
//!   every service's response wrapper. There is no "any depth" wildcard: rules stay
//!   precise and cheap to match.
//! - A last segment `@name` names an attribute (by local name):
//!   `Body/*/response/chronicConditions/condition/@recorded`.
//! - Repetitions are not indexed: a path matches every `allergy`, not the second one.
//!
//! ## Rules
//!
//! - `ignore`: the element (with its whole subtree, including whether it is there at all)
//!   or attribute is left out of the comparison. Each rule gives a `reason` and may give
//!   an `expires` date (`YYYY-MM-DD`, inclusive): from the day after, the rule no longer
//!   applies (the differences it hid come back) and [`Rules::expired`] lists it. Rules
//!   that never match anything are *stale*: [`RuleStats`] counts matches over many
//!   comparisons and reports them, so a rule outlives neither its reason nor its path.
//! - `unordered`: the children of the elements at these paths are compared as a multiset
//!   (a list whose order carries no meaning, e.g. a company's directors).
//! - `numeric`: text (or attribute value) compared as a decimal number: `007` = `7`.
//! - `timestamps`: `[path, seconds]` pairs: ISO-8601 date-times compared as instants,
//!   equal when at most that many seconds apart.
//!
//! The built-in volatile fields (the X-Road message `id` and `requestHash` headers) are
//! not rules: they never count, whatever the config says (see
//! [`super::compare`](mod@super::compare)).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::shadow::values::Date;

/// An expected difference: a path whose values are not compared, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoreRule {
    pub path: String,
    /// Why the difference is expected (a ticket, a known UXP behaviour…). Required.
    pub reason: String,
    /// Last day the rule applies, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// The `[shadow.compare]`-style config block, as written. [`CompareConfig::compile`]
/// validates it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompareConfig {
    pub ignore: Vec<IgnoreRule>,
    pub unordered: Vec<String>,
    pub numeric: Vec<String>,
    /// `[path, tolerance in seconds]`.
    pub timestamps: Vec<(String, u32)>,
}

/// One thing wrong with a [`CompareConfig`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigProblem {
    /// Where, e.g. `ignore[2].expires`.
    pub field: String,
    pub message: String,
}

/// Every problem found in a [`CompareConfig`], reported at once so an operator fixes the
/// file in one go.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid compare config ({} problem{})",
            self.problems.len(),
            if self.problems.len() == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  {}: {}", p.field, p.message)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Any,
    Name(String),
}

/// A compiled path (see the module docs for the syntax).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    source: String,
    segs: Vec<Seg>,
    attr: Option<String>,
}

/// An XML NCName, roughly: letters, digits, `_`, `-`, `.`; not starting with a digit,
/// `-` or `.`. (Non-ASCII letters are allowed, as in XML.)
fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl PathPattern {
    /// Parses a path; the error explains what to write instead.
    pub fn parse(s: &str) -> Result<PathPattern, String> {
        if s.is_empty() {
            return Err("path is empty".into());
        }
        if s.starts_with('/') || s.ends_with('/') {
            return Err(format!(
                "`{s}`: write the path without a leading or trailing `/`"
            ));
        }
        let parts: Vec<&str> = s.split('/').collect();
        let last = parts.len() - 1;
        let mut segs = Vec::with_capacity(parts.len());
        let mut attr = None;
        for (i, p) in parts.iter().enumerate() {
            if p.is_empty() {
                return Err(format!("`{s}`: empty segment (`//`)"));
            }
            if *p == "*" {
                segs.push(Seg::Any);
                continue;
            }
            if p.contains("**") {
                return Err(format!(
                    "`{s}`: only `*` (exactly one level) is supported, not `**`"
                ));
            }
            if let Some(a) = p.strip_prefix('@') {
                if i != last || i == 0 {
                    return Err(format!(
                        "`{s}`: an attribute (`@{a}`) can only be the last segment, after an element"
                    ));
                }
                if !is_ncname(a) {
                    return Err(format!("`{s}`: `@{a}` is not an attribute local name"));
                }
                attr = Some(a.to_string());
                continue;
            }
            if let Some((prefix, local)) = p.split_once(':') {
                return Err(format!(
                    "`{s}`: write local names without a prefix (`{prefix}:{local}` → `{local}`): answers are compared prefix-insensitively"
                ));
            }
            if !is_ncname(p) {
                return Err(format!("`{s}`: `{p}` is not an element local name"));
            }
            segs.push(Seg::Name(p.to_string()));
        }
        match segs.first() {
            Some(Seg::Any) => {}
            Some(Seg::Name(n)) if n == "Header" || n == "Body" => {}
            Some(Seg::Name(n)) if n == "Envelope" => {
                return Err(format!(
                    "`{s}`: paths start below the Envelope, at `Header` or `Body`"
                ))
            }
            _ => {
                return Err(format!(
                    "`{s}`: paths start at `Header` or `Body` (the Envelope's children), e.g. `Body/{s}`"
                ))
            }
        }
        Ok(PathPattern {
            source: s.to_string(),
            segs,
            attr,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn is_attribute(&self) -> bool {
        self.attr.is_some()
    }

    fn segs_match(&self, path: &[&str]) -> bool {
        self.segs.len() == path.len()
            && self.segs.iter().zip(path).all(|(seg, name)| match seg {
                Seg::Any => true,
                Seg::Name(n) => n == name,
            })
    }

    /// Whether this pattern names the element at `path` (local names from `Header`/`Body`).
    pub fn matches_element(&self, path: &[&str]) -> bool {
        self.attr.is_none() && self.segs_match(path)
    }

    /// Whether this pattern names attribute `attr` (local name) of the element at `path`.
    pub fn matches_attribute(&self, path: &[&str], attr: &str) -> bool {
        self.attr.as_deref() == Some(attr) && self.segs_match(path)
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// How the values at a path are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Treatment {
    Exact,
    Numeric,
    /// ISO-8601 date-times, equal within this many seconds.
    Timestamp(u32),
}

#[derive(Debug, Clone)]
struct CompiledIgnore {
    rule: IgnoreRule,
    pattern: PathPattern,
    expires: Option<Date>,
}

/// A validated [`CompareConfig`], ready for the comparator. `Rules::default()` has no
/// rules (the built-in volatile fields still never count).
#[derive(Debug, Clone, Default)]
pub struct Rules {
    ignore: Vec<CompiledIgnore>,
    unordered: Vec<PathPattern>,
    numeric: Vec<PathPattern>,
    timestamps: Vec<(PathPattern, u32)>,
    /// Path lengths any pattern of a kind has (bit n: length n), so the comparator's
    /// per-node lookups are one test for the vast majority of nodes no rule names.
    lens: Lens,
}

#[derive(Debug, Clone, Copy, Default)]
struct Lens {
    ignore_element: u64,
    ignore_attribute: u64,
    treat_element: u64,
    treat_attribute: u64,
    unordered: u64,
}

/// Bit for a path of `n` segments; lengths past 63 share the top bit.
fn len_bit(n: usize) -> u64 {
    1u64 << n.min(63)
}

impl PathPattern {
    fn len_bit(&self) -> u64 {
        len_bit(self.segs.len())
    }
}

impl CompareConfig {
    /// Validates every path and date and returns all problems at once.
    pub fn compile(&self) -> Result<Rules, ConfigError> {
        let mut problems = Vec::new();
        let mut problem = |field: String, message: String| {
            problems.push(ConfigProblem { field, message });
        };
        let mut rules = Rules::default();

        for (i, r) in self.ignore.iter().enumerate() {
            let pattern = PathPattern::parse(&r.path)
                .map_err(|m| problem(format!("ignore[{i}].path"), m))
                .ok();
            if r.reason.trim().is_empty() {
                problem(
                    format!("ignore[{i}].reason"),
                    "say why this difference is expected (a ticket, a known behaviour)".into(),
                );
            }
            let expires = match &r.expires {
                None => None,
                Some(s) => s
                    .parse::<Date>()
                    .map_err(|e| problem(format!("ignore[{i}].expires"), e.to_string()))
                    .ok(),
            };
            if let Some(pattern) = pattern {
                if rules
                    .ignore
                    .iter()
                    .any(|c| c.pattern.as_str() == pattern.as_str())
                {
                    problem(
                        format!("ignore[{i}].path"),
                        format!("`{pattern}` is ignored twice; keep one rule"),
                    );
                }
                if r.expires.is_none() || expires.is_some() {
                    rules.ignore.push(CompiledIgnore {
                        rule: r.clone(),
                        pattern,
                        expires,
                    });
                }
            }
        }

        let unordered: Vec<&str> = self.unordered.iter().map(String::as_str).collect();
        let numeric: Vec<&str> = self.numeric.iter().map(String::as_str).collect();
        rules.unordered = compile_paths("unordered", &unordered, false, &mut problems)
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        rules.numeric = compile_paths("numeric", &numeric, true, &mut problems)
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        let ts_paths: Vec<&str> = self.timestamps.iter().map(|(p, _)| p.as_str()).collect();
        for (i, pat) in compile_paths("timestamps", &ts_paths, true, &mut problems) {
            if rules.numeric.iter().any(|n| n.as_str() == pat.as_str()) {
                problems.push(ConfigProblem {
                    field: format!("timestamps[{i}]"),
                    message: format!("`{pat}` is both numeric and a timestamp; pick one"),
                });
            } else if let Some((_, secs)) = self.timestamps.get(i) {
                rules.timestamps.push((pat, *secs));
            }
        }

        for c in &rules.ignore {
            if c.pattern.is_attribute() {
                rules.lens.ignore_attribute |= c.pattern.len_bit();
            } else {
                rules.lens.ignore_element |= c.pattern.len_bit();
            }
        }
        let treat = rules
            .numeric
            .iter()
            .chain(rules.timestamps.iter().map(|(p, _)| p));
        for p in treat {
            if p.is_attribute() {
                rules.lens.treat_attribute |= p.len_bit();
            } else {
                rules.lens.treat_element |= p.len_bit();
            }
        }
        for p in &rules.unordered {
            rules.lens.unordered |= p.len_bit();
        }

        if problems.is_empty() {
            Ok(rules)
        } else {
            Err(ConfigError { problems })
        }
    }
}

/// Parses a list of paths, recording problems; returns the good ones with their index.
fn compile_paths(
    name: &str,
    paths: &[&str],
    allow_attr: bool,
    problems: &mut Vec<ConfigProblem>,
) -> Vec<(usize, PathPattern)> {
    let mut out: Vec<(usize, PathPattern)> = Vec::new();
    for (i, p) in paths.iter().enumerate() {
        let message = match PathPattern::parse(p) {
            Err(m) => m,
            Ok(pat) if pat.is_attribute() && !allow_attr => {
                format!("`{pat}`: an attribute has no children to reorder")
            }
            Ok(pat) if out.iter().any(|(_, o)| o.as_str() == pat.as_str()) => {
                format!("`{pat}` is listed twice")
            }
            Ok(pat) => {
                out.push((i, pat));
                continue;
            }
        };
        problems.push(ConfigProblem {
            field: format!("{name}[{i}]"),
            message,
        });
    }
    out
}

impl Rules {
    /// The ignore rules, in config order (indices match [`RuleStats`] and
    /// `Comparison::rules_matched`).
    pub fn ignore_rules(&self) -> impl Iterator<Item = &IgnoreRule> {
        self.ignore.iter().map(|c| &c.rule)
    }

    pub fn ignore_len(&self) -> usize {
        self.ignore.len()
    }

    /// Indices of ignore rules whose expiry date is before `today`: they no longer apply.
    pub fn expired(&self, today: Date) -> Vec<usize> {
        self.ignore
            .iter()
            .enumerate()
            .filter(|(_, c)| c.expires.is_some_and(|e| e < today))
            .map(|(i, _)| i)
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.ignore.is_empty()
            && self.unordered.is_empty()
            && self.numeric.is_empty()
            && self.timestamps.is_empty()
    }

    /// Marks in `hits` every active ignore rule naming the element at `path`; true when
    /// at least one does.
    pub(crate) fn ignore_element(&self, path: &[&str], today: Date, hits: &mut [bool]) -> bool {
        if self.lens.ignore_element & len_bit(path.len()) == 0 {
            return false;
        }
        self.ignore_where(today, hits, |p| p.matches_element(path))
    }

    /// As [`Self::ignore_element`], for attribute `attr` of the element at `path`.
    pub(crate) fn ignore_attribute(
        &self,
        path: &[&str],
        attr: &str,
        today: Date,
        hits: &mut [bool],
    ) -> bool {
        if self.lens.ignore_attribute & len_bit(path.len()) == 0 {
            return false;
        }
        self.ignore_where(today, hits, |p| p.matches_attribute(path, attr))
    }

    fn ignore_where(
        &self,
        today: Date,
        hits: &mut [bool],
        matches: impl Fn(&PathPattern) -> bool,
    ) -> bool {
        let mut any = false;
        for (i, c) in self.ignore.iter().enumerate() {
            if c.expires.is_some_and(|e| e < today) || !matches(&c.pattern) {
                continue;
            }
            any = true;
            if let Some(h) = hits.get_mut(i) {
                *h = true;
            }
        }
        any
    }

    /// Whether the children of the element at `path` form a multiset.
    pub(crate) fn is_unordered(&self, path: &[&str]) -> bool {
        self.lens.unordered & len_bit(path.len()) != 0
            && self.unordered.iter().any(|p| p.matches_element(path))
    }

    /// How the text of the element at `path` is compared.
    pub(crate) fn element_treatment(&self, path: &[&str]) -> Treatment {
        if self.lens.treat_element & len_bit(path.len()) == 0 {
            return Treatment::Exact;
        }
        self.treatment(|p| p.matches_element(path))
    }

    /// How attribute `attr` of the element at `path` is compared.
    pub(crate) fn attribute_treatment(&self, path: &[&str], attr: &str) -> Treatment {
        if self.lens.treat_attribute & len_bit(path.len()) == 0 {
            return Treatment::Exact;
        }
        self.treatment(|p| p.matches_attribute(path, attr))
    }

    fn treatment(&self, matches: impl Fn(&PathPattern) -> bool) -> Treatment {
        if self.numeric.iter().any(&matches) {
            return Treatment::Numeric;
        }
        match self.timestamps.iter().find(|(p, _)| matches(p)) {
            Some((_, secs)) => Treatment::Timestamp(*secs),
            None => Treatment::Exact,
        }
    }
}

/// An ignore rule as it appears in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleRef {
    /// Position in the config's `ignore` list.
    pub index: usize,
    pub path: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// Stale and expired ignore rules, for the migration report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleReport {
    /// Comparisons the counts are based on.
    pub comparisons: u64,
    /// Rules that matched nothing in any of those comparisons.
    pub stale: Vec<RuleRef>,
    /// Rules past their expiry date (no longer applied).
    pub expired: Vec<RuleRef>,
}

/// How often each ignore rule matched, over many comparisons. Serializable so it survives
/// restarts next to the exchange store. Reset it when the rules change (indices shift).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleStats {
    pub comparisons: u64,
    /// Matches per rule index.
    pub matches: Vec<u64>,
}

impl RuleStats {
    pub fn new(rules: &Rules) -> RuleStats {
        RuleStats {
            comparisons: 0,
            matches: vec![0; rules.ignore_len()],
        }
    }

    /// Counts one comparison (tree-compared) in which the rules `rules_matched` matched;
    /// `Comparison`s are counted through `RuleStats::record` (in `compare`).
    pub(crate) fn count(&mut self, rules_matched: &[usize]) {
        self.comparisons += 1;
        for &i in rules_matched {
            if i >= self.matches.len() {
                self.matches.resize(i + 1, 0);
            }
            if let Some(m) = self.matches.get_mut(i) {
                *m += 1;
            }
        }
    }

    /// Rules that never matched, and rules past their expiry on `today`.
    pub fn report(&self, rules: &Rules, today: Date) -> RuleReport {
        let as_ref = |i: usize, c: &CompiledIgnore| RuleRef {
            index: i,
            path: c.rule.path.clone(),
            reason: c.rule.reason.clone(),
            expires: c.rule.expires.clone(),
        };
        let expired = rules.expired(today);
        RuleReport {
            comparisons: self.comparisons,
            stale: rules
                .ignore
                .iter()
                .enumerate()
                // An expired rule is not applied, so it cannot match: report it once,
                // as expired.
                .filter(|(i, _)| {
                    self.matches.get(*i).copied().unwrap_or(0) == 0 && !expired.contains(i)
                })
                .map(|(i, c)| as_ref(i, c))
                .collect(),
            expired: expired
                .iter()
                .filter_map(|&i| rules.ignore.get(i).map(|c| as_ref(i, c)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(path: &str, reason: &str, expires: Option<&str>) -> IgnoreRule {
        IgnoreRule {
            path: path.into(),
            reason: reason.into(),
            expires: expires.map(str::to_string),
        }
    }

    #[test]
    fn paths_match_local_names_with_one_level_wildcards() {
        let p = PathPattern::parse("Body/*/response/generatedAt").unwrap();
        assert!(p.matches_element(&["Body", "getX", "response", "generatedAt"]));
        assert!(!p.matches_element(&["Body", "getX", "response"]));
        assert!(!p.matches_element(&["Body", "a", "b", "response", "generatedAt"]));
        let a = PathPattern::parse("Body/x/condition/@code").unwrap();
        assert!(a.matches_attribute(&["Body", "x", "condition"], "code"));
        assert!(!a.matches_element(&["Body", "x", "condition"]));
        assert!(!a.matches_attribute(&["Body", "x", "condition"], "recorded"));
    }

    #[test]
    fn compile_reports_every_problem_at_once() {
        let cfg = CompareConfig {
            ignore: vec![
                rule("Body/ok", "fine", Some("2026-12-31")),
                rule("/Body/lead", "x", None),
                rule("Body/moh:generatedAt", "x", None),
                rule("Body/a", " ", Some("2026-02-30")),
                rule("Envelope/Body/a", "x", None),
                rule("Body/**/a", "x", None),
                rule("Body/ok", "dup", None),
                rule("response/a", "x", None),
            ],
            unordered: vec!["Body/x/@a".into(), "Body//x".into()],
            numeric: vec!["Body/n".into(), "Body/n".into()],
            timestamps: vec![("Body/n".into(), 5), ("Body/t".into(), 5)],
        };
        let err = cfg.compile().unwrap_err();
        let fields: Vec<&str> = err.problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "ignore[1].path",
                "ignore[2].path",
                "ignore[3].reason",
                "ignore[3].expires",
                "ignore[4].path",
                "ignore[5].path",
                "ignore[6].path",
                "ignore[7].path",
                "unordered[0]",
                "unordered[1]",
                "numeric[1]",
                "timestamps[0]",
            ],
            "{err}"
        );
        let text = err.to_string();
        assert!(text.contains("12 problems"), "{text}");
        assert!(text.contains("`moh:generatedAt` → `generatedAt`"), "{text}");
        assert!(text.contains("2026-02-30"), "{text}");
    }

    #[test]
    fn config_parses_from_toml_and_refuses_unknown_keys() {
        let cfg: CompareConfig = toml::from_str(
            r#"
            unordered = ["Body/*/response/company/directors"]
            numeric = ["Body/*/response/company/shareCapital"]
            timestamps = [["Body/*/response/generatedAt", 5]]
            [[ignore]]
            path = "Body/*/response/traceId"
            reason = "UXP adds a trace id (TICKET-17)"
            expires = "2026-06-30"
            "#,
        )
        .unwrap();
        let rules = cfg.compile().unwrap();
        assert_eq!(rules.ignore_len(), 1);
        assert_eq!(
            rules.element_treatment(&["Body", "x", "response", "generatedAt"]),
            Treatment::Timestamp(5)
        );
        assert!(toml::from_str::<CompareConfig>("unorderd = []").is_err());
        assert!(toml::from_str::<CompareConfig>(
            "[[ignore]]\npath = \"Body/a\"\nreason = \"r\"\nowner = \"me\""
        )
        .is_err());
    }

    #[test]
    fn expiry_is_inclusive_and_stops_the_rule() {
        let rules = CompareConfig {
            ignore: vec![rule("Body/a", "r", Some("2026-03-01"))],
            ..Default::default()
        }
        .compile()
        .unwrap();
        let mut hits = [false];
        let day = |s: &str| s.parse::<Date>().unwrap();
        assert!(rules.ignore_element(&["Body", "a"], day("2026-03-01"), &mut hits));
        assert!(hits[0]);
        assert!(rules.expired(day("2026-03-01")).is_empty());
        let mut hits = [false];
        assert!(!rules.ignore_element(&["Body", "a"], day("2026-03-02"), &mut hits));
        assert!(!hits[0]);
        assert_eq!(rules.expired(day("2026-03-02")), [0]);
    }
}
