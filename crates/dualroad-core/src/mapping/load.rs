//! Loading and validating a mapping set.
//!
//! Three passes, each collecting problems instead of stopping:
//! 1. parse every file into a spanned tree ([`super::tree`]) and sort its top-level
//!    keys into sections and entries (unknown keys, wrong shapes);
//! 2. read `[legacy]` / `[uxp]` — everything after depends on the dialect and the
//!    instances, so these are settled first;
//! 3. check each `[[members]]` and `[[services]]` entry on its own, then against the
//!    entries before it (duplicates either way, so every translation is reversible).
//!    A service entry may name another provider than its producer's member mapping:
//!    services move between providers in a migration, and the entry takes precedence.
//!
//! A `Mappings` is built only when no problem was found: a half-valid table in a
//! gateway would translate some identities and silently misroute others.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::Hash;
use std::path::{Path, PathBuf};

use super::problem::LineIndex;
use super::tree::{self, Node, Sp, Table};
use super::{
    is_ncname, Effect, LegacyMember, LegacyService, MappingErrors, Mappings, Origin, Problem,
    ServiceMapping,
};
use crate::wire::dialect::LEGACY_DIALECTS;
use crate::wire::ids::{is_version, ClientId, LegacyServiceName, ServiceId};
use crate::wire::Dialect;

const TOP_KEYS: &[&str] = &["legacy", "uxp", "members", "services"];
const LEGACY_KEYS: &[&str] = &["dialect", "instance"];
const UXP_KEYS: &[&str] = &["instance"];
const MEMBER_KEYS: &[&str] = &["legacy", "uxp"];
const SERVICE_KEYS: &[&str] = &["legacy", "uxp", "effect", "wrapper"];

/// Validates what the shell read (`(path, text)` pairs) together with the problems it
/// met reading them (an unreadable file, bad UTF-8), so every problem is reported at once.
pub(super) fn from_read(
    origin: &Path,
    sources: Vec<(PathBuf, String)>,
    problems: Vec<Problem>,
) -> Result<Mappings, MappingErrors> {
    validate(origin, sources, problems)
}

pub(super) fn from_sources(
    origin: &Path,
    sources: &[(PathBuf, String)],
) -> Result<Mappings, MappingErrors> {
    validate(origin, sources.to_vec(), Vec::new())
}

/// Where something was defined, for messages that point at a second place.
#[derive(Debug, Clone, Copy)]
struct Loc {
    file: usize,
    line: usize,
}

/// A `[legacy]` or `[uxp]` table.
struct Section {
    loc: Loc,
    fields: Table,
}

/// One `[[members]]` / `[[services]]` entry; `index` is 1-based within its file.
struct Entry {
    loc: Loc,
    index: usize,
    fields: Table,
}

/// A string value with the line it is on.
struct Value {
    text: String,
    line: usize,
}

/// How `legacy` keys of members and services are written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LegacyForm {
    /// v2 / v3.x: short names, `producer.method[.vN]`.
    Names,
    /// v6.0 / v4: full identifiers in the legacy instance.
    Ids,
    /// The dialect itself is broken; form-specific checks are skipped rather than
    /// guessed, so one wrong line does not produce a problem on every entry.
    Unknown,
}

struct Validator {
    paths: Vec<PathBuf>,
    lines: Vec<LineIndex>,
    problems: Vec<Problem>,
}

impl Validator {
    fn push(
        &mut self,
        file: usize,
        line: Option<usize>,
        field: impl Into<Option<String>>,
        message: impl Into<String>,
    ) {
        self.problems.push(Problem {
            file: self.paths[file].clone(),
            line,
            field: field.into(),
            message: message.into(),
        });
    }

    fn line(&self, file: usize, offset: usize) -> usize {
        self.lines[file].line(offset)
    }

    fn at(&self, loc: Loc) -> String {
        format!("{}:{}", self.paths[loc.file].display(), loc.line)
    }

    /// Splits a table's keys into the allowed ones and problems for the rest.
    fn known_fields(
        &mut self,
        file: usize,
        prefix: &str,
        fields: Table,
        allowed: &[&str],
    ) -> HashMap<String, Sp<Node>> {
        let mut known = HashMap::new();
        for (key, value) in fields {
            let line = self.line(file, key.start());
            let name = key.value;
            if allowed.contains(&name.as_str()) {
                known.insert(name, value);
            } else {
                self.push(
                    file,
                    Some(line),
                    format!("{prefix}.{name}"),
                    format!("unknown key `{name}` (expected {})", one_of(allowed)),
                );
            }
        }
        known
    }

    /// A string field. Missing required keys are reported at `entry_line` (the table
    /// header), since the key has no line of its own.
    fn string_field(
        &mut self,
        file: usize,
        prefix: &str,
        fields: &mut HashMap<String, Sp<Node>>,
        name: &str,
        required: bool,
        entry_line: usize,
    ) -> Option<Value> {
        let field = format!("{prefix}.{name}");
        let Some(node) = fields.remove(name) else {
            if required {
                self.push(
                    file,
                    Some(entry_line),
                    field,
                    format!("missing required key `{name}`"),
                );
            }
            return None;
        };
        let line = self.line(file, node.start());
        match node.value {
            Node::Str(text) => Some(Value { text, line }),
            other => {
                self.push(
                    file,
                    Some(line),
                    field,
                    format!("expected a string, found {}", other.kind()),
                );
                None
            }
        }
    }
}

fn one_of(keys: &[&str]) -> String {
    let quoted: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

fn validate(
    origin: &Path,
    mut sources: Vec<(PathBuf, String)>,
    problems: Vec<Problem>,
) -> Result<Mappings, MappingErrors> {
    // Merge order is by file name, whatever order the caller or the OS listed them in.
    sources.sort_by(|a, b| (a.0.file_name(), &a.0).cmp(&(b.0.file_name(), &b.0)));
    let mut v = Validator {
        paths: sources.iter().map(|(p, _)| p.clone()).collect(),
        lines: sources.iter().map(|(_, t)| LineIndex::new(t)).collect(),
        problems,
    };
    if sources.is_empty() {
        // Nothing to validate: "missing [legacy]" on top would only repeat this.
        if v.problems.is_empty() {
            v.problems.push(Problem {
                file: origin.to_path_buf(),
                line: None,
                field: None,
                message: "no mapping files (*.toml) found".into(),
            });
        }
        let mut errs = MappingErrors(v.problems);
        errs.sort();
        return Err(errs);
    }

    // Pass 1: shapes.
    let Shapes {
        legacy_sections,
        uxp_sections,
        members,
        services,
    } = shapes(&mut v, &sources);

    // Pass 2: header.
    let (dialect, legacy_instance) = legacy_header(&mut v, origin, legacy_sections);
    let uxp_instance = uxp_header(&mut v, origin, uxp_sections);
    let form = match dialect {
        Some(d) if d.has_structured_ids() => LegacyForm::Ids,
        Some(_) => LegacyForm::Names,
        None => LegacyForm::Unknown,
    };
    let ctx = Header {
        form,
        legacy_instance: legacy_instance.as_deref(),
        uxp_instance: uxp_instance.as_deref(),
    };

    // Pass 3: entries.
    let members = check_members(&mut v, &ctx, members);
    let services = check_services(&mut v, &ctx, services);

    finish(
        v,
        origin,
        dialect,
        legacy_instance,
        uxp_instance,
        members,
        services,
    )
}

/// The table, when no pass found a problem; else every problem, sorted.
fn finish(
    mut v: Validator,
    origin: &Path,
    dialect: Option<Dialect>,
    legacy_instance: Option<String>,
    uxp_instance: Option<String>,
    members: Vec<Member>,
    services: Vec<ServiceMapping>,
) -> Result<Mappings, MappingErrors> {
    match (dialect, uxp_instance) {
        (Some(dialect), Some(uxp_instance)) if v.problems.is_empty() => Ok(Mappings::build(
            dialect,
            legacy_instance,
            uxp_instance,
            members
                .into_iter()
                .map(|m| {
                    let origin = Origin {
                        file: v.paths[m.loc.file].clone(),
                        line: m.loc.line,
                    };
                    (m.legacy, m.uxp, origin)
                })
                .collect(),
            services,
        )),
        _ => {
            // A header value can only be absent together with a problem; should that
            // ever change, fail with a message rather than an empty error list.
            if v.problems.is_empty() {
                v.problems.push(Problem {
                    file: origin.to_path_buf(),
                    line: None,
                    field: None,
                    message: "internal error: incomplete header without a reported problem".into(),
                });
            }
            let mut errs = MappingErrors(v.problems);
            errs.sort();
            Err(errs)
        }
    }
}

/// What pass 1 sorted the files' top-level keys into.
#[derive(Default)]
struct Shapes {
    legacy_sections: Vec<Section>,
    uxp_sections: Vec<Section>,
    members: Vec<Entry>,
    services: Vec<Entry>,
}

/// Pass 1: parses every file and sorts its top-level keys into sections and entries;
/// a file that is not TOML, an unknown key or a wrong shape is a problem, and the rest
/// of the set is still read.
fn shapes(v: &mut Validator, sources: &[(PathBuf, String)]) -> Shapes {
    let mut out = Shapes::default();
    for (file, (_, text)) in sources.iter().enumerate() {
        let doc = match tree::parse(text) {
            Ok(doc) => doc,
            Err(e) => {
                let line = e.span.map(|s| v.line(file, s.start));
                v.push(file, line, None, format!("invalid TOML: {}", e.message));
                continue;
            }
        };
        for (key, value) in doc {
            let key_line = v.line(file, key.start());
            let value_line = v.line(file, value.start());
            let name = key.value;
            match name.as_str() {
                "legacy" | "uxp" => match value.value {
                    Node::Table(fields) => {
                        let loc = Loc {
                            file,
                            line: value_line,
                        };
                        let sections = if name == "legacy" {
                            &mut out.legacy_sections
                        } else {
                            &mut out.uxp_sections
                        };
                        sections.push(Section { loc, fields });
                    }
                    other => v.push(
                        file,
                        Some(key_line),
                        name.clone(),
                        format!(
                            "`{name}` must be a table (`[{name}]`), found {}",
                            other.kind()
                        ),
                    ),
                },
                "members" | "services" => {
                    let out = if name == "members" {
                        &mut out.members
                    } else {
                        &mut out.services
                    };
                    entries(v, file, &name, key_line, value.value, out);
                }
                _ => v.push(
                    file,
                    Some(key_line),
                    name.clone(),
                    format!("unknown key `{name}` (expected {})", one_of(TOP_KEYS)),
                ),
            }
        }
    }
    out
}

/// One `[[members]]` or `[[services]]` array (`name`) of `file`, appended to `out`.
fn entries(
    v: &mut Validator,
    file: usize,
    name: &str,
    key_line: usize,
    value: Node,
    out: &mut Vec<Entry>,
) {
    let items = match value {
        Node::Array(items) => items,
        other => {
            v.push(
                file,
                Some(key_line),
                name.to_string(),
                format!(
                    "`{name}` must be an array of tables (`[[{name}]]`), found {}",
                    other.kind()
                ),
            );
            return;
        }
    };
    for (i, item) in items.into_iter().enumerate() {
        let line = v.line(file, item.start());
        match item.value {
            Node::Table(fields) => {
                let entry = Entry {
                    loc: Loc { file, line },
                    index: i + 1,
                    fields,
                };
                out.push(entry);
            }
            other => v.push(
                file,
                Some(line),
                format!("{name}[{}]", i + 1),
                format!(
                    "each `{name}` entry must be a table, found {}",
                    other.kind()
                ),
            ),
        }
    }
}

struct Header<'a> {
    form: LegacyForm,
    legacy_instance: Option<&'a str>,
    uxp_instance: Option<&'a str>,
}

/// The first section is the definition; each later one is a problem naming the first.
fn single_section(
    v: &mut Validator,
    origin: &Path,
    name: &str,
    mut sections: Vec<Section>,
) -> Option<Section> {
    if sections.is_empty() {
        v.problems.push(Problem {
            file: origin.to_path_buf(),
            line: None,
            field: Some(name.to_string()),
            message: format!("missing `[{name}]` table (it must appear in exactly one file)"),
        });
        return None;
    }
    let first = sections.remove(0);
    for extra in sections {
        let msg = format!(
            "`[{name}]` is already defined at {}; it may appear in exactly one file",
            v.at(first.loc)
        );
        v.push(extra.loc.file, Some(extra.loc.line), name.to_string(), msg);
    }
    Some(first)
}

fn legacy_header(
    v: &mut Validator,
    origin: &Path,
    sections: Vec<Section>,
) -> (Option<Dialect>, Option<String>) {
    let Some(section) = single_section(v, origin, "legacy", sections) else {
        return (None, None);
    };
    let file = section.loc.file;
    let mut fields = v.known_fields(file, "legacy", section.fields, LEGACY_KEYS);
    let dialect = v
        .string_field(
            file,
            "legacy",
            &mut fields,
            "dialect",
            true,
            section.loc.line,
        )
        .and_then(|d| match parse_legacy_dialect(&d.text) {
            Ok(d) => Some(d),
            Err(m) => {
                v.push(file, Some(d.line), "legacy.dialect".to_string(), m);
                None
            }
        });
    let instance = v.string_field(
        file,
        "legacy",
        &mut fields,
        "instance",
        false,
        section.loc.line,
    );
    let field = || "legacy.instance".to_string();
    match (dialect, instance) {
        (Some(d), None) if d.has_structured_ids() => {
            v.push(
                file,
                Some(section.loc.line),
                field(),
                format!("`instance` is required when dialect is {d}: its legacy identifiers are structured"),
            );
            (Some(d), None)
        }
        (Some(d), Some(i)) if !d.has_structured_ids() => {
            v.push(
                file,
                Some(i.line),
                field(),
                format!("`instance` is not allowed when dialect is {d}: short-name dialects have no instance (only v6.0 and v4 do)"),
            );
            (Some(d), None)
        }
        (d, Some(i)) => match check_instance(&i.text) {
            Ok(()) => (d, Some(i.text)),
            Err(m) => {
                v.push(file, Some(i.line), field(), m);
                (d, None)
            }
        },
        (d, None) => (d, None),
    }
}

fn uxp_header(v: &mut Validator, origin: &Path, sections: Vec<Section>) -> Option<String> {
    let section = single_section(v, origin, "uxp", sections)?;
    let file = section.loc.file;
    let mut fields = v.known_fields(file, "uxp", section.fields, UXP_KEYS);
    let i = v.string_field(file, "uxp", &mut fields, "instance", true, section.loc.line)?;
    match check_instance(&i.text) {
        Ok(()) => Some(i.text),
        Err(m) => {
            v.push(file, Some(i.line), "uxp.instance".to_string(), m);
            None
        }
    }
}

/// Exactly the serde names of [`Dialect`], minus `uxp`.
fn parse_legacy_dialect(s: &str) -> Result<Dialect, String> {
    let expected = "expected one of v2, v3.0, v3.1, v3.1-eu, v6.0, v4";
    if let Some(d) = LEGACY_DIALECTS.iter().find(|d| d.as_str() == s) {
        return Ok(*d);
    }
    if s.eq_ignore_ascii_case(Dialect::Uxp.as_str()) {
        return Err(format!(
            "`{s}` is the target side, not a legacy dialect ({expected})"
        ));
    }
    if let Some(d) = LEGACY_DIALECTS
        .iter()
        .find(|d| d.as_str().eq_ignore_ascii_case(s))
    {
        return Err(format!(
            "unknown dialect `{s}` (dialect names are lowercase: `{d}`)"
        ));
    }
    Err(format!("unknown dialect `{s}` ({expected})"))
}

/// An instance code must be usable as the first part of an identifier; the rule
/// lives in `ClientId::parse`, so ask it instead of restating it.
pub(super) fn check_instance(s: &str) -> Result<(), String> {
    match ClientId::parse(&format!("{s}/C/C")) {
        Ok(id) if id.instance == s => Ok(()),
        _ => Err(format!(
            "`{s}` is not a valid instance code (non-empty; no `/`, whitespace, control characters or `:;\\%`)"
        )),
    }
}

/// Legacy short names are single tokens in a header element: registry codes, short
/// names, DNS-like or dotted names (gotcha 1). Whitespace never survives the
/// legacy stacks intact, and `/` means someone wrote a structured id into a
/// short-name set.
pub(super) fn check_short_name(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("legacy short name is empty".into());
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "legacy short name `{s}` contains whitespace or control characters"
        ));
    }
    if s.contains('/') {
        return Err(format!(
            "legacy short name `{s}` contains `/`: structured identifiers need dialect v6.0 or v4"
        ));
    }
    Ok(())
}

fn instance_matches(
    what: &str,
    actual: &str,
    expected: Option<&str>,
    side: &str,
) -> Result<(), String> {
    match expected {
        Some(e) if e != actual => Err(format!(
            "instance `{actual}` of `{what}` differs from the [{side}] instance `{e}`"
        )),
        _ => Ok(()),
    }
}

/// One side of an entry for duplicate detection: the parsed key (if it parsed), the
/// value as written and its field path.
struct Side<'a, K> {
    key: Option<K>,
    value: Option<&'a Value>,
    field: &'a str,
}

/// Where a key was first defined and what the other side said there.
#[derive(Clone)]
struct FirstDef {
    loc: Loc,
    field: String,
    /// The other side as written, if present.
    other: Option<String>,
}

/// Duplicate detection for entries mapping a legacy key `L` to a UXP key `U`, in
/// both directions:
/// - a legacy key seen again: reported at the later entry, naming the first (the
///   later one is the redundant or conflicting line);
/// - a UXP key seen again: the reverse translation would be ambiguous, and either
///   entry may be the wrong one, so it is reported at both places;
/// - an entry repeated verbatim: one "duplicate of" problem, not two.
struct Pairs<L, U> {
    legacy_word: &'static str,
    uxp_word: &'static str,
    by_legacy: HashMap<L, FirstDef>,
    by_uxp: HashMap<U, FirstDef>,
}

impl<L: Hash + Eq + fmt::Display, U: Hash + Eq + fmt::Display> Pairs<L, U> {
    fn new(legacy_word: &'static str, uxp_word: &'static str) -> Self {
        Pairs {
            legacy_word,
            uxp_word,
            by_legacy: HashMap::new(),
            by_uxp: HashMap::new(),
        }
    }

    fn check(&mut self, v: &mut Validator, file: usize, legacy: Side<L>, uxp: Side<U>) {
        let text = |x: Option<&Value>| x.map(|x| x.text.clone());
        let mut identical = false;
        if let (Some(l), Some(lv)) = (legacy.key, legacy.value) {
            let here = Loc {
                file,
                line: lv.line,
            };
            if let Some(first) = self.by_legacy.get(&l) {
                identical = uxp.key.is_some() && first.other == text(uxp.value);
                let msg = if identical {
                    format!("duplicate of the entry at {}", v.at(first.loc))
                } else {
                    let to = first.other.as_ref().map(|u| format!(" (to `{u}`)"));
                    format!(
                        "{} `{l}` is already mapped at {}{}; it can map to one UXP identity only",
                        self.legacy_word,
                        v.at(first.loc),
                        to.unwrap_or_default()
                    )
                };
                v.push(file, Some(lv.line), legacy.field.to_string(), msg);
            } else {
                let def = FirstDef {
                    loc: here,
                    field: legacy.field.to_string(),
                    other: text(uxp.value),
                };
                self.by_legacy.insert(l, def);
            }
        }
        if identical {
            return;
        }
        if let (Some(u), Some(uv)) = (uxp.key, uxp.value) {
            let here = FirstDef {
                loc: Loc {
                    file,
                    line: uv.line,
                },
                field: uxp.field.to_string(),
                other: text(legacy.value),
            };
            if let Some(first) = self.by_uxp.get(&u).cloned() {
                let describe = |d: &FirstDef| match &d.other {
                    Some(l) => format!("`{l}`"),
                    None => "an entry without `legacy`".to_string(),
                };
                let msg = |other: &FirstDef| {
                    format!(
                        "{} `{u}` is also the mapping of {} at {}; translation must be reversible",
                        self.uxp_word,
                        describe(other),
                        v.at(other.loc)
                    )
                };
                let (msg_here, msg_there) = (msg(&first), msg(&here));
                v.push(file, Some(here.loc.line), here.field, msg_here);
                v.push(first.loc.file, Some(first.loc.line), first.field, msg_there);
            } else {
                self.by_uxp.insert(u, here);
            }
        }
    }
}

/// A member entry that passed every check.
struct Member {
    legacy: LegacyMember,
    uxp: ClientId,
    loc: Loc,
}

fn check_members(v: &mut Validator, h: &Header, entries: Vec<Entry>) -> Vec<Member> {
    let mut valid: Vec<Member> = Vec::new();
    let mut pairs = Pairs::new("legacy", "UXP");
    for entry in entries {
        let file = entry.loc.file;
        let prefix = format!("members[{}]", entry.index);
        let mut fields = v.known_fields(file, &prefix, entry.fields, MEMBER_KEYS);
        let legacy_v = v.string_field(file, &prefix, &mut fields, "legacy", true, entry.loc.line);
        let uxp_v = v.string_field(file, &prefix, &mut fields, "uxp", true, entry.loc.line);
        let legacy_field = format!("{prefix}.legacy");
        let uxp_field = format!("{prefix}.uxp");

        let legacy = legacy_v.as_ref().and_then(|l| {
            let parsed = match h.form {
                LegacyForm::Names => {
                    check_short_name(&l.text).map(|()| LegacyMember::Name(l.text.clone()))
                }
                LegacyForm::Ids => ClientId::parse(&l.text)
                    .map_err(|e| e.to_string())
                    .and_then(|id| {
                        instance_matches(&l.text, &id.instance, h.legacy_instance, "legacy")?;
                        Ok(LegacyMember::Id(id))
                    }),
                LegacyForm::Unknown => return None,
            };
            parsed
                .map_err(|m| v.push(file, Some(l.line), legacy_field.clone(), m))
                .ok()
        });
        let uxp = uxp_v.as_ref().and_then(|u| {
            ClientId::parse(&u.text)
                .map_err(|e| e.to_string())
                .and_then(|id| {
                    instance_matches(&u.text, &id.instance, h.uxp_instance, "uxp")?;
                    Ok(id)
                })
                .map_err(|m| v.push(file, Some(u.line), uxp_field.clone(), m))
                .ok()
        });

        pairs.check(
            v,
            file,
            Side {
                key: legacy.clone(),
                value: legacy_v.as_ref(),
                field: &legacy_field,
            },
            Side {
                key: uxp.clone(),
                value: uxp_v.as_ref(),
                field: &uxp_field,
            },
        );

        if let (Some(legacy), Some(uxp)) = (legacy, uxp) {
            valid.push(Member {
                legacy,
                uxp,
                loc: entry.loc,
            });
        }
    }
    // Keep only the first of duplicates for building and for provider checks; with
    // duplicates present nothing is built anyway.
    let mut seen_l = HashSet::new();
    let mut seen_u = HashSet::new();
    valid.retain(|m| seen_l.insert(m.legacy.clone()) & seen_u.insert(m.uxp.clone()));
    valid
}

fn check_services(v: &mut Validator, h: &Header, entries: Vec<Entry>) -> Vec<ServiceMapping> {
    let mut valid = Vec::new();
    let mut pairs = Pairs::new("service", "UXP service");
    for entry in entries {
        let file = entry.loc.file;
        let prefix = format!("services[{}]", entry.index);
        let mut fields = v.known_fields(file, &prefix, entry.fields, SERVICE_KEYS);
        let legacy_field = format!("{prefix}.legacy");
        let uxp_field = format!("{prefix}.uxp");
        let legacy_n = fields.remove("legacy");
        let uxp_n = fields.remove("uxp");
        let effect_v = v.string_field(file, &prefix, &mut fields, "effect", false, entry.loc.line);
        let wrapper_v =
            v.string_field(file, &prefix, &mut fields, "wrapper", false, entry.loc.line);

        let legacy = service_legacy(v, h, file, entry.loc.line, &legacy_field, legacy_n);
        let uxp = service_uxp(v, h, file, entry.loc.line, &uxp_field, uxp_n);
        let effect = match &effect_v {
            None => Some(Effect::default()),
            Some(e) => e
                .text
                .parse::<Effect>()
                .map_err(|m| v.push(file, Some(e.line), format!("{prefix}.effect"), m))
                .ok(),
        };
        let wrapper = match &wrapper_v {
            None => Some(None),
            Some(w) if is_ncname(&w.text) => Some(Some(w.text.clone())),
            Some(w) => {
                v.push(
                    file,
                    Some(w.line),
                    format!("{prefix}.wrapper"),
                    format!(
                        "`{}` is not a valid XML element local name (NCName)",
                        w.text
                    ),
                );
                None
            }
        };

        // No provider-consistency check against `[[members]]`: a service entry may move
        // a producer's service to another UXP provider ("services that move"), and it
        // takes precedence over the producer mapping both ways. Reversibility is what
        // must hold, and the pairs check below keeps it.
        pairs.check(
            v,
            file,
            Side {
                key: legacy.as_ref().map(|(l, _)| l.clone()),
                value: legacy.as_ref().map(|(_, v)| v),
                field: &legacy_field,
            },
            Side {
                key: uxp.as_ref().map(|(u, _)| u.clone()),
                value: uxp.as_ref().map(|(_, v)| v),
                field: &uxp_field,
            },
        );

        if let (Some((legacy, lv)), Some((uxp, _)), Some(effect), Some(wrapper)) =
            (legacy, uxp, effect, wrapper)
        {
            valid.push(ServiceMapping {
                legacy,
                uxp,
                effect,
                wrapper,
                origin: Origin {
                    file: v.paths[file].clone(),
                    line: lv.line,
                },
            });
        }
    }
    valid
}

/// A `[[services]]` entry's `legacy`: a short name (`producer.method[.vN]`) or, on
/// structured stacks, a service id in the legacy instance.
fn service_legacy(
    v: &mut Validator,
    h: &Header,
    file: usize,
    entry_line: usize,
    legacy_field: &str,
    legacy_n: Option<Sp<Node>>,
) -> Option<(LegacyService, Value)> {
    match (h.form, legacy_n) {
        (_, None) => {
            v.push(
                file,
                Some(entry_line),
                legacy_field.to_string(),
                "missing required key `legacy`",
            );
            None
        }
        (LegacyForm::Unknown, Some(_)) => None,
        (LegacyForm::Names, Some(node)) => {
            let line = v.line(file, node.start());
            match node.value {
                Node::Str(text) => match legacy_service_producer(&text) {
                    Ok(_) => Some((LegacyService::Name(text.clone()), Value { text, line })),
                    Err(m) => {
                        v.push(file, Some(line), legacy_field.to_string(), m);
                        None
                    }
                },
                other => {
                    v.push(
                        file,
                        Some(line),
                        legacy_field.to_string(),
                        format!(
                            "expected a string `producer.method[.vN]`, found {}",
                            other.kind()
                        ),
                    );
                    None
                }
            }
        }
        (LegacyForm::Ids, Some(node)) => {
            service_id_field(v, file, legacy_field, node).and_then(|(id, val)| {
                match instance_matches(
                    &val.text,
                    &id.provider.instance,
                    h.legacy_instance,
                    "legacy",
                ) {
                    Ok(()) => Some((LegacyService::Id(id), val)),
                    Err(m) => {
                        v.push(file, Some(val.line), legacy_field.to_string(), m);
                        None
                    }
                }
            })
        }
    }
}

/// A `[[services]]` entry's `uxp`: a service id in the UXP instance.
fn service_uxp(
    v: &mut Validator,
    h: &Header,
    file: usize,
    entry_line: usize,
    uxp_field: &str,
    uxp_n: Option<Sp<Node>>,
) -> Option<(ServiceId, Value)> {
    match uxp_n {
        None => {
            v.push(
                file,
                Some(entry_line),
                uxp_field.to_string(),
                "missing required key `uxp`",
            );
            None
        }
        Some(node) => {
            service_id_field(v, file, uxp_field, node).and_then(|(id, val)| match instance_matches(
                &val.text,
                &id.provider.instance,
                h.uxp_instance,
                "uxp",
            ) {
                Ok(()) => Some((id, val)),
                Err(m) => {
                    v.push(file, Some(val.line), uxp_field.to_string(), m);
                    None
                }
            })
        }
    }
}

const SERVICE_TABLE_KEYS: &[&str] = &["member", "subsystem", "service", "version"];

/// A service identifier written as a string (`I/C/M/SUB/SERVICE[/VERSION]`, or the
/// member-level `I/C/M//SERVICE[/VERSION]`) or as an inline table
/// `{ member = "I/C/M" | subsystem = "I/C/M/SUB", service = "…", version = "…" }`.
/// The returned [`Value`] carries the identifier's string form, for messages.
fn service_id_field(
    v: &mut Validator,
    file: usize,
    field: &str,
    node: Sp<Node>,
) -> Option<(ServiceId, Value)> {
    let line = v.line(file, node.start());
    match node.value {
        Node::Str(text) => {
            let parts: Vec<&str> = text.split('/').collect();
            // Five parts read as SUBSYSTEM/SERVICE; when the last one looks like a
            // version, the writer most likely meant a member's SERVICE/VERSION. Counting
            // parts cannot tell, so ask instead of guessing.
            if parts.len() == 5 && !parts[3].is_empty() && is_version(parts[4]) {
                v.push(
                    file,
                    Some(line),
                    field.to_string(),
                    format!(
                        "`{text}` is ambiguous: read as subsystem `{}` with service `{}`, but `{}` looks like a version. \
                         For a member's service write `{}//{}/{}` or `{{ member = \"{}\", service = \"{}\", version = \"{}\" }}`; \
                         for a subsystem's service without a version use the table form with `subsystem`",
                        parts[3], parts[4], parts[4],
                        parts[..3].join("/"), parts[3], parts[4],
                        parts[..3].join("/"), parts[3], parts[4],
                    ),
                );
                return None;
            }
            match ServiceId::parse(&text) {
                Ok(id) => Some((id, Value { text, line })),
                Err(e) => {
                    v.push(file, Some(line), field.to_string(), e.to_string());
                    None
                }
            }
        }
        Node::Table(t) => {
            let mut keys = v.known_fields(file, field, t, SERVICE_TABLE_KEYS);
            let member = v.string_field(file, field, &mut keys, "member", false, line);
            let subsystem = v.string_field(file, field, &mut keys, "subsystem", false, line);
            let service = v.string_field(file, field, &mut keys, "service", true, line);
            let version = v.string_field(file, field, &mut keys, "version", false, line);
            let provider = match (member, subsystem) {
                (Some(m), None) => match ClientId::parse(&m.text) {
                    Ok(id) if id.subsystem.is_none() => Some(id),
                    Ok(_) => {
                        v.push(
                            file,
                            Some(m.line),
                            format!("{field}.member"),
                            format!("`{}` names a subsystem; use `subsystem = \"{}\"` for a subsystem's service", m.text, m.text),
                        );
                        None
                    }
                    Err(e) => {
                        v.push(file, Some(m.line), format!("{field}.member"), e.to_string());
                        None
                    }
                },
                (None, Some(s)) => match ClientId::parse(&s.text) {
                    Ok(id) if id.subsystem.is_some() => Some(id),
                    Ok(_) => {
                        v.push(
                            file,
                            Some(s.line),
                            format!("{field}.subsystem"),
                            format!("`{}` names a member, not a subsystem (`INSTANCE/CLASS/CODE/SUBSYSTEM`); use `member = \"{}\"` for a member's service", s.text, s.text),
                        );
                        None
                    }
                    Err(e) => {
                        v.push(
                            file,
                            Some(s.line),
                            format!("{field}.subsystem"),
                            e.to_string(),
                        );
                        None
                    }
                },
                (Some(_), Some(s)) => {
                    v.push(
                        file,
                        Some(s.line),
                        field.to_string(),
                        "give either `member` or `subsystem`, not both",
                    );
                    None
                }
                (None, None) => {
                    v.push(
                        file,
                        Some(line),
                        field.to_string(),
                        "missing the provider: `member = \"I/C/M\"` or `subsystem = \"I/C/M/SUB\"`",
                    );
                    None
                }
            };
            let (provider, service) = (provider?, service?);
            match ServiceId::of(
                provider,
                &service.text,
                version.as_ref().map(|x| x.text.as_str()),
            ) {
                Ok(id) => {
                    let text = id.to_string();
                    Some((id, Value { text, line }))
                }
                Err(e) => {
                    v.push(
                        file,
                        Some(service.line),
                        format!("{field}.service"),
                        e.to_string(),
                    );
                    None
                }
            }
        }
        other => {
            v.push(
                file,
                Some(line),
                field.to_string(),
                format!(
                    "expected a service identifier (a string or a table {{ member|subsystem, service, version }}), found {}",
                    other.kind()
                ),
            );
            None
        }
    }
}

/// The producer of a legacy service string, by the mediator's split rule
/// (`LegacyServiceName::parse`). Whitespace is refused first: the split would accept
/// it, but no legacy stack sends it.
fn legacy_service_producer(s: &str) -> Result<String, String> {
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "legacy service `{s}` contains whitespace or control characters"
        ));
    }
    LegacyServiceName::parse(s)
        .map(|n| n.producer)
        .ok_or_else(|| format!("`{s}` is not a legacy service name `producer.method[.vN]`"))
}

#[cfg(test)]
mod tests;
