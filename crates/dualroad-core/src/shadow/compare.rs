//! The comparator: two canonical trees in, one [`Comparison`] out.
//!
//! Where it sits: after the mirror has both answers (the shadow's already translated back
//! to the client's dialect), [`compare`] canonicalizes them ([`super::canon`]), classifies
//! faults, walks the two trees side by side, and returns the outcome class, the list of
//! differing paths (for field-level aggregation, as Diffy does) and a unified diff of the
//! two canonical texts (evidence for a human). Sans-io: no I/O, and today's date (for
//! rule expiry) is passed in; the only clock read is the line diff's deadline
//! ([`DEFAULT_DIFF_TIMEOUT`]), which bounds its time on huge, completely different answers.
//!
//! Order of decisions:
//! 1. Either answer unreadable: primary → `not-compared: primary-invalid`; shadow →
//!    `shadow-error`; a resource limit on either → `not-compared: too-large`.
//! 2. Faults: both faulted with the same code after `normalize_fault_code` → `match`
//!    (fault strings and details are *not* compared: X-Road puts implementation text and
//!    a random error id there); different codes → `fault-code-diff`; one side only →
//!    `fault-mismatch`. The tree is still walked for the two latter, so the differing
//!    paths and the unified diff are there as evidence.
//! 3. Otherwise the trees are walked: `match` when no counted difference remains, else
//!    `body-diff`.
//!
//! The walk pairs children by name and occurrence (`allergy[2]` with `allergy[2]`), or,
//! under an `unordered` rule, as a multiset: equal subtrees pair first, leftovers of the
//! same name pair in order (so one changed list item gives field-level differences), the
//! rest are added/removed. Never counted:
//! - the **volatile** headers: `id` and `requestHash` elements of any X-Road header
//!   namespace, directly in the SOAP Header. (UXP's `uxp-transaction-id` is an HTTP
//!   header, not part of the SOAP answer, so it never reaches this module.)
//! - paths matched by an active **ignore rule** (see [`super::rules`]);
//! - paths learned as **noise** by a [`NoiseModel`] (primary vs primary): reported apart
//!   in [`Comparison::noise`], not counted against the shadow stack.
//!
//! Values in a [`PathDiff`] and the unified diff are the answers' own data, personal data
//! included: the exchange store must redact them before writing (issue 4, "Privacy").

use std::fmt::Write;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use similar::TextDiff;

use crate::shadow::canon::{is_volatile, Canon, CanonError, Children, Element, Limits};
use crate::shadow::noise::NoiseModel;
use crate::shadow::outcome::{NotComparedReason, Outcome, Role};
use crate::shadow::render::{self, View};
use crate::shadow::rules::{RuleStats, Rules, Treatment};
use crate::shadow::values::{Date, Decimal, Timestamp};
use crate::wire::message::Input;

/// Differences kept per list (counted and noise) in one comparison; the rest are only
/// counted. A stack that answers something completely different must not make one
/// comparison allocate without bound (the Diffy out-of-memory complaint).
pub const DEFAULT_MAX_DIFFS: usize = 100;
/// Differences kept when calibrating noise, where every path matters.
pub const DEFAULT_MAX_DIFFS_CALIBRATION: usize = 10_000;
/// Characters kept of each value in a [`PathDiff`].
pub const DEFAULT_MAX_VALUE_CHARS: usize = 120;
/// Bytes kept of the unified diff.
pub const DEFAULT_MAX_UNIFIED_BYTES: usize = 64 * 1024;
/// Lines of context around each hunk of the unified diff.
pub const DEFAULT_CONTEXT_RADIUS: usize = 3;
/// Time after which the line diff settles for a less minimal result. Myers' algorithm is
/// O(N·D); two large, completely different answers must not stall the mirror task.
pub const DEFAULT_DIFF_TIMEOUT: Duration = Duration::from_millis(50);

/// What happened at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiffKind {
    /// Only the shadow has it.
    Added,
    /// Only the primary has it.
    Removed,
    /// Both have it, with different values.
    Changed,
}

/// One difference, for field-level aggregation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathDiff {
    /// Aggregation key, in ignore-rule syntax (local names, no indices, `@attr`):
    /// `Body/getPatientSummaryResponse/response/allergies/allergy/severity`.
    pub path: String,
    /// The same with 1-based indices where a name repeats, for a human:
    /// `Body/getPatientSummaryResponse/response/allergies/allergy[2]/severity`.
    pub location: String,
    pub kind: DiffKind,
    /// The primary's value (text, attribute value, or a one-line summary of a removed
    /// element), at most [`DEFAULT_MAX_VALUE_CHARS`] characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<String>,
}

/// The result of comparing one primary answer with one shadow answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comparison {
    pub outcome: Outcome,
    /// Differences counted against the shadow stack (at most `max_diffs`).
    pub diffs: Vec<PathDiff>,
    /// Differences on learned noise paths: reported, not counted (at most `max_diffs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub noise: Vec<PathDiff>,
    /// All counted differences, including those not kept in `diffs`.
    pub diff_count: usize,
    /// All noise differences, including those not kept in `noise`.
    #[serde(default)]
    pub noise_count: usize,
    /// Indices of the ignore rules that matched a node of either answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules_matched: Vec<usize>,
    /// Unified diff (`--- primary` / `+++ shadow`) of the two canonical texts, for every
    /// outcome except `match` and the not-compared ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unified: Option<String>,
}

impl Comparison {
    pub fn with_outcome(outcome: Outcome) -> Comparison {
        Comparison {
            outcome,
            diffs: Vec::new(),
            noise: Vec::new(),
            diff_count: 0,
            noise_count: 0,
            rules_matched: Vec::new(),
            unified: None,
        }
    }

    /// A comparison that did not happen, for the mirror's drops.
    pub fn not_compared(reason: NotComparedReason, detail: Option<String>) -> Comparison {
        Comparison::with_outcome(Outcome::NotCompared { reason, detail })
    }

    pub fn is_match(&self) -> bool {
        self.outcome == Outcome::Match
    }

    /// True when some differences were counted but not kept.
    pub fn truncated(&self) -> bool {
        self.diffs.len() < self.diff_count || self.noise.len() < self.noise_count
    }
}

/// Everything a comparison needs besides the two answers.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    pub rules: &'a Rules,
    /// Today's date: ignore rules expired before it no longer apply.
    pub today: Date,
    /// Learned noise (primary vs primary); differences on its paths are reported apart.
    pub noise: Option<&'a NoiseModel>,
    pub limits: Limits,
    pub max_diffs: usize,
    pub max_value_chars: usize,
    /// Produce the unified diff (not needed when calibrating noise).
    pub unified: bool,
}

impl<'a> Options<'a> {
    pub fn new(rules: &'a Rules, today: Date) -> Options<'a> {
        Options {
            rules,
            today,
            noise: None,
            limits: Limits::default(),
            max_diffs: DEFAULT_MAX_DIFFS,
            max_value_chars: DEFAULT_MAX_VALUE_CHARS,
            unified: true,
        }
    }

    /// Options for comparing two *primary* answers to learn noise: every differing path
    /// is kept, no unified diff is made, no noise model is applied.
    pub fn calibration(rules: &'a Rules, today: Date) -> Options<'a> {
        Options {
            max_diffs: DEFAULT_MAX_DIFFS_CALIBRATION,
            unified: false,
            ..Options::new(rules, today)
        }
    }

    pub fn with_noise(mut self, noise: Option<&'a NoiseModel>) -> Options<'a> {
        self.noise = noise;
        self
    }
}

/// Canonicalizes and compares two HTTP answers (bytes and Content-Type).
pub fn compare(primary: Input<'_>, shadow: Input<'_>, opts: &Options<'_>) -> Comparison {
    let p = match Canon::from_input(primary, &opts.limits) {
        Ok(c) => c,
        Err(e) => return unreadable(Role::Primary, &e),
    };
    let s = match Canon::from_input(shadow, &opts.limits) {
        Ok(c) => c,
        Err(e) => return unreadable(Role::Shadow, &e),
    };
    compare_canon(&p, &s, opts)
}

/// The outcome for an answer that could not be canonicalized.
pub fn unreadable(role: Role, e: &CanonError) -> Comparison {
    let detail = Some(format!("{} answer: {e}", role.as_str()));
    match (role, e.is_limit()) {
        (_, true) => Comparison::not_compared(NotComparedReason::TooLarge, detail),
        (Role::Primary, false) => {
            Comparison::not_compared(NotComparedReason::PrimaryInvalid, detail)
        }
        (Role::Shadow, false) => Comparison::with_outcome(Outcome::ShadowError {
            error: e.to_string(),
        }),
    }
}

/// Compares two canonical answers (e.g. one primary parsed once, compared with the
/// shadow and with a second primary answer for calibration).
pub fn compare_canon(primary: &Canon, shadow: &Canon, opts: &Options<'_>) -> Comparison {
    let fault_outcome = match (primary.fault(), shadow.fault()) {
        (Some(a), Some(b)) if a.key == b.key => return Comparison::with_outcome(Outcome::Match),
        (Some(a), Some(b)) => Some(Outcome::FaultCodeDiff {
            primary: a.code.clone(),
            shadow: b.code.clone(),
        }),
        (Some(a), None) => Some(Outcome::FaultMismatch {
            faulted: Role::Primary,
            code: a.code.clone(),
        }),
        (None, Some(b)) => Some(Outcome::FaultMismatch {
            faulted: Role::Shadow,
            code: b.code.clone(),
        }),
        (None, None) => None,
    };

    let mut w = Walker {
        opts,
        soap_ns: primary.soap_version().envelope_ns(),
        ns_map: primary.namespace_map(shadow),
        path: Vec::with_capacity(16),
        key: String::with_capacity(128),
        loc: String::with_capacity(128),
        diffs: Vec::new(),
        noise: Vec::new(),
        diff_count: 0,
        noise_count: 0,
        hits: vec![false; opts.rules.ignore_len()],
    };
    w.root(primary.envelope(), shadow.envelope());

    let outcome = fault_outcome.unwrap_or(if w.diff_count == 0 {
        Outcome::Match
    } else {
        Outcome::BodyDiff
    });
    let unified =
        (opts.unified && outcome != Outcome::Match).then(|| unified(primary, shadow, opts));
    Comparison {
        outcome,
        diffs: w.diffs,
        noise: w.noise,
        diff_count: w.diff_count,
        noise_count: w.noise_count,
        rules_matched: w
            .hits
            .iter()
            .enumerate()
            .filter(|(_, h)| **h)
            .map(|(i, _)| i)
            .collect(),
        unified,
    }
}

/// The unified diff of the two canonical texts, as the comparator saw them.
fn unified(primary: &Canon, shadow: &Canon, opts: &Options<'_>) -> String {
    let view = View {
        rules: opts.rules,
        today: opts.today,
    };
    let a = render::canonical_text(primary, Some(&view));
    let b = render::canonical_text(shadow, Some(&view));
    // `TextDiff::from_lines` with a deadline: the same diff, bounded in time.
    let diff = TextDiff::configure()
        .timeout(DEFAULT_DIFF_TIMEOUT)
        .diff_lines(&a, &b);
    let mut text = diff
        .unified_diff()
        .context_radius(DEFAULT_CONTEXT_RADIUS)
        .header("primary", "shadow")
        .to_string();
    if text.len() > DEFAULT_MAX_UNIFIED_BYTES {
        let mut cut = DEFAULT_MAX_UNIFIED_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let cut = text
            .get(..cut)
            .and_then(|t| t.rfind('\n'))
            .map_or(0, |i| i + 1);
        text.truncate(cut);
        text.push_str("… (unified diff truncated)\n");
    }
    text
}

/// At most `max` characters of `s`, with `…` when cut.
fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((i, _)) => {
            let mut out = s.get(..i).unwrap_or("").to_string();
            out.push('…');
            out
        }
    }
}

/// One-line summary of an element that only one side has: its text if it is a leaf,
/// else `{@attr="v", child="text", child={…}}`; stops growing past `max` characters.
fn summary(el: Element<'_>, max: usize) -> String {
    fn write(el: Element<'_>, out: &mut String, max: usize) {
        if el.is_leaf() {
            render::push_quoted(out, el.text());
            return;
        }
        out.push('{');
        let mut first = true;
        let mut sep = |out: &mut String| {
            if !first {
                out.push_str(", ");
            }
            first = false;
        };
        for a in el.attrs().iter() {
            sep(out);
            let _ = write!(out, "@{}=", a.local());
            render::push_quoted(out, a.value());
        }
        if !el.text().is_empty() {
            sep(out);
            out.push_str("#text=");
            render::push_quoted(out, el.text());
        }
        for c in el.children().iter() {
            if out.len() > max * 4 {
                break; // enough for `max` characters, whatever their width
            }
            sep(out);
            out.push_str(c.local());
            out.push('=');
            write(c, out, max);
        }
        out.push('}');
    }
    if el.is_leaf() {
        return clip(el.text(), max);
    }
    let mut out = String::new();
    write(el, &mut out, max);
    clip(&out, max)
}

/// Whether two values are equal under a treatment. Values that do not parse under it
/// are compared as text.
fn values_equal(a: &str, b: &str, t: Treatment) -> bool {
    if a == b {
        return true;
    }
    match t {
        Treatment::Exact => false,
        Treatment::Numeric => match (Decimal::parse(a), Decimal::parse(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
        Treatment::Timestamp(tol) => match (Timestamp::parse(a), Timestamp::parse(b)) {
            (Some(x), Some(y)) => x.within(&y, tol).unwrap_or(false),
            _ => false,
        },
    }
}

/// Position of `children[i]` among its same-named siblings (children are sorted by
/// name, so they are adjacent), and the size of that group.
fn occurrence(children: Children<'_>, i: usize) -> (usize, usize) {
    let repeats = |k: usize| children.get(k).is_some_and(|c| c.repeats_previous());
    let before = (1..=i).rev().take_while(|k| repeats(*k)).count();
    let after = (i + 1..children.len()).take_while(|k| repeats(*k)).count();
    (before, before + 1 + after)
}

/// Number of children from `from` on that share the name of `children[from]`.
fn group_len(children: Children<'_>, from: usize) -> usize {
    if from >= children.len() {
        return 0;
    }
    1 + (from + 1..children.len())
        .take_while(|k| children.get(*k).is_some_and(|c| c.repeats_previous()))
        .count()
}

struct Walker<'o, 'a, 't> {
    opts: &'o Options<'a>,
    soap_ns: &'static str,
    /// Primary namespace ids → shadow namespace ids, so names compare without
    /// comparing URI strings.
    ns_map: Vec<u32>,
    /// Local names from the Envelope's child down to the current element.
    path: Vec<&'t str>,
    /// `path` joined by `/`: the aggregation key.
    key: String,
    /// The same with `[n]` where a name repeats.
    loc: String,
    diffs: Vec<PathDiff>,
    noise: Vec<PathDiff>,
    diff_count: usize,
    noise_count: usize,
    /// Ignore rules that matched.
    hits: Vec<bool>,
}

/// Appends `n` in decimal (a location index; avoids the formatting machinery in the
/// walk's inner loop).
fn push_index(out: &mut String, n: usize) {
    out.push('[');
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    for d in digits.get(i..).unwrap_or(&[]) {
        out.push(char::from(*d));
    }
    out.push(']');
}

impl<'t> Walker<'_, '_, 't> {
    /// Whether primary element `p` and shadow element `s` have the same namespace.
    fn same_ns(&self, p: Element<'_>, s: Element<'_>) -> bool {
        match self.ns_map.get(p.ns_id() as usize) {
            Some(mapped) => *mapped == s.ns_id(),
            // No namespace (or an id the map does not know): compare directly.
            None => p.namespace() == s.namespace(),
        }
    }

    /// Name equality of a primary and a shadow element.
    fn same_name(&self, p: Element<'_>, s: Element<'_>) -> bool {
        p.same_local(&s) && self.same_ns(p, s)
    }

    /// Canonical name order of a primary and a shadow element.
    fn cmp_name(&self, p: Element<'_>, s: Element<'_>) -> std::cmp::Ordering {
        if p.name_key() != s.name_key() {
            return p.name_key().cmp(&s.name_key());
        }
        match p.local().cmp(s.local()) {
            std::cmp::Ordering::Equal if self.same_ns(p, s) => std::cmp::Ordering::Equal,
            std::cmp::Ordering::Equal => p.namespace().cmp(&s.namespace()),
            other => other,
        }
    }

    fn root(&mut self, p: Element<'t>, s: Element<'t>) {
        if !self.same_name(p, s) {
            // SOAP 1.1 vs 1.2: the caller should have brought both to one dialect.
            self.key.push_str("Envelope");
            self.loc.push_str("Envelope");
            self.report(DiffKind::Changed, Some(&p.name()), Some(&s.name()), None);
            self.key.clear();
            self.loc.clear();
            return;
        }
        self.pair(p, s);
    }

    /// Records a difference at the current path (or its attribute `attr`).
    fn report(&mut self, kind: DiffKind, p: Option<&str>, s: Option<&str>, attr: Option<&str>) {
        let marks = (self.key.len(), self.loc.len());
        if let Some(a) = attr {
            let sep = if self.key.is_empty() { "@" } else { "/@" };
            for buf in [&mut self.key, &mut self.loc] {
                buf.push_str(sep);
                buf.push_str(a);
            }
        }
        let is_noise = self.opts.noise.is_some_and(|m| m.is_noise(&self.key));
        let (list, count) = if is_noise {
            (&mut self.noise, &mut self.noise_count)
        } else {
            (&mut self.diffs, &mut self.diff_count)
        };
        *count += 1;
        if list.len() < self.opts.max_diffs {
            let max = self.opts.max_value_chars;
            list.push(PathDiff {
                path: self.key.clone(),
                location: self.loc.clone(),
                kind,
                primary: p.map(|v| clip(v, max)),
                shadow: s.map(|v| clip(v, max)),
            });
        }
        self.key.truncate(marks.0);
        self.loc.truncate(marks.1);
    }

    /// Compares two elements of the same name at the current path.
    fn pair(&mut self, p: Element<'t>, s: Element<'t>) {
        self.attributes(p, s);
        let t = self.opts.rules.element_treatment(&self.path);
        if !values_equal(p.text(), s.text(), t) {
            self.report(DiffKind::Changed, Some(p.text()), Some(s.text()), None);
        }
        let parent_is_header = self.path.len() == 1 && p.is(self.soap_ns, "Header");
        if self.opts.rules.is_unordered(&self.path) {
            self.unordered(p, s, parent_is_header);
        } else {
            self.ordered(p, s, parent_is_header);
        }
    }

    fn attributes(&mut self, p: Element<'t>, s: Element<'t>) {
        let (pa, sa) = (p.attrs(), s.attrs());
        let (mut i, mut j) = (0, 0);
        loop {
            let (a, b) = match (pa.get(i), sa.get(j)) {
                (None, None) => break,
                (Some(a), Some(b)) => match a.cmp_name(&b) {
                    std::cmp::Ordering::Equal => {
                        i += 1;
                        j += 1;
                        (Some(a), Some(b))
                    }
                    std::cmp::Ordering::Less => {
                        i += 1;
                        (Some(a), None)
                    }
                    std::cmp::Ordering::Greater => {
                        j += 1;
                        (None, Some(b))
                    }
                },
                (Some(a), None) => {
                    i += 1;
                    (Some(a), None)
                }
                (None, Some(b)) => {
                    j += 1;
                    (None, Some(b))
                }
            };
            let Some(local) = a.or(b).map(|x| x.local()) else {
                break;
            };
            let today = self.opts.today;
            if self
                .opts
                .rules
                .ignore_attribute(&self.path, local, today, &mut self.hits)
            {
                continue;
            }
            match (a, b) {
                (Some(a), Some(b)) => {
                    let t = self.opts.rules.attribute_treatment(&self.path, local);
                    if !values_equal(a.value(), b.value(), t) {
                        self.report(
                            DiffKind::Changed,
                            Some(a.value()),
                            Some(b.value()),
                            Some(local),
                        );
                    }
                }
                (Some(a), None) => {
                    self.report(DiffKind::Removed, Some(a.value()), None, Some(local))
                }
                (None, Some(b)) => self.report(DiffKind::Added, None, Some(b.value()), Some(local)),
                (None, None) => {}
            }
        }
    }

    /// Pairs children by name and occurrence (both lists are sorted by name, stably).
    fn ordered(&mut self, p: Element<'t>, s: Element<'t>, parent_is_header: bool) {
        let (pc, sc) = (p.children(), s.children());
        let (mut i, mut j) = (0, 0);
        loop {
            // The group to pair next: the smaller of the two current names.
            let (a, b) = (pc.get(i), sc.get(j));
            // The group to pair next: the smaller of the two current names, on both
            // sides when they are equal.
            let (from_p, from_s) = match (a, b) {
                (None, None) => break,
                (Some(a), Some(b)) => match self.cmp_name(a, b) {
                    std::cmp::Ordering::Less => (Some(a), None),
                    std::cmp::Ordering::Equal => (Some(a), Some(b)),
                    std::cmp::Ordering::Greater => (None, Some(b)),
                },
                (a, b) => (a, b),
            };
            let np = from_p.map_or(0, |_| group_len(pc, i));
            let ns = from_s.map_or(0, |_| group_len(sc, j));
            let n = np.max(ns);
            for k in 0..n {
                let a = (k < np).then(|| pc.get(i + k)).flatten();
                let b = (k < ns).then(|| sc.get(j + k)).flatten();
                self.visit(a, b, (n > 1).then_some(k), parent_is_header);
            }
            if np + ns == 0 {
                break; // cannot happen (the group has at least its own name); never loop
            }
            i += np;
            j += ns;
        }
    }

    /// Pairs children as a multiset.
    fn unordered(&mut self, p: Element<'t>, s: Element<'t>, parent_is_header: bool) {
        let (pc, sc) = (p.children(), s.children());
        let pk = self.keys(pc, parent_is_header);
        let sk = self.keys(sc, parent_is_header);
        let mut p_done = vec![false; pc.len()];
        let mut s_done = vec![false; sc.len()];
        // Equal subtrees pair first.
        let (mut i, mut j) = (0, 0);
        while let (Some((ka, ia)), Some((kb, ib))) = (pk.get(i), sk.get(j)) {
            match ka.cmp(kb) {
                std::cmp::Ordering::Equal => {
                    if let Some(d) = p_done.get_mut(*ia) {
                        *d = true;
                    }
                    if let Some(d) = s_done.get_mut(*ib) {
                        *d = true;
                    }
                    i += 1;
                    j += 1;
                }
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
            }
        }
        // Leftovers of the same name pair in document order, so one changed item gives
        // field-level differences instead of "one removed, one added".
        for (ip, a) in pc.iter().enumerate() {
            if p_done.get(ip).copied().unwrap_or(true) {
                continue;
            }
            let partner = sc
                .iter()
                .enumerate()
                .find(|(is, b)| !s_done.get(*is).copied().unwrap_or(true) && self.same_name(a, *b));
            let (occ, size) = occurrence(pc, ip);
            let idx = (size > 1).then_some(occ);
            match partner {
                Some((is, b)) => {
                    if let Some(d) = s_done.get_mut(is) {
                        *d = true;
                    }
                    self.visit(Some(a), Some(b), idx, parent_is_header);
                }
                None => self.visit(Some(a), None, idx, parent_is_header),
            }
        }
        for (is, b) in sc.iter().enumerate() {
            if !s_done.get(is).copied().unwrap_or(true) {
                let (occ, size) = occurrence(sc, is);
                self.visit(None, Some(b), (size > 1).then_some(occ), parent_is_header);
            }
        }
    }

    /// Canonical texts of `children` (as seen under the rules), sorted, with indices.
    fn keys(&mut self, children: Children<'t>, parent_is_header: bool) -> Vec<(String, usize)> {
        let view = View {
            rules: self.opts.rules,
            today: self.opts.today,
        };
        let mut keys: Vec<(String, usize)> = children
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut k = String::new();
                render::subtree(
                    &mut k,
                    c,
                    0,
                    &mut self.path,
                    Some(&view),
                    parent_is_header,
                    self.soap_ns,
                );
                (k, i)
            })
            .collect();
        keys.sort();
        keys
    }

    /// Descends into a child present on one or both sides.
    fn visit(
        &mut self,
        p: Option<Element<'t>>,
        s: Option<Element<'t>>,
        idx: Option<usize>,
        parent_is_header: bool,
    ) {
        let Some(el) = p.or(s) else {
            return;
        };
        let local = el.local();
        let marks = (self.key.len(), self.loc.len());
        if !self.path.is_empty() {
            self.key.push('/');
            self.loc.push('/');
        }
        self.key.push_str(local);
        self.loc.push_str(local);
        if let Some(i) = idx {
            push_index(&mut self.loc, i + 1);
        }
        self.path.push(local);

        let today = self.opts.today;
        let skip = (parent_is_header && is_volatile(&el))
            || self
                .opts
                .rules
                .ignore_element(&self.path, today, &mut self.hits);
        if !skip {
            let max = self.opts.max_value_chars;
            match (p, s) {
                (Some(a), Some(b)) => self.pair(a, b),
                (Some(a), None) => {
                    let v = summary(a, max);
                    self.report(DiffKind::Removed, Some(&v), None, None);
                }
                (None, Some(b)) => {
                    let v = summary(b, max);
                    self.report(DiffKind::Added, None, Some(&v), None);
                }
                (None, None) => {}
            }
        }

        self.path.pop();
        self.key.truncate(marks.0);
        self.loc.truncate(marks.1);
    }
}

impl RuleStats {
    /// Counts one comparison. Answers that were not compared as trees (errors, not
    /// compared) say nothing about whether a rule still matches, so they are skipped.
    pub fn record(&mut self, c: &Comparison) {
        if c.outcome.compared() {
            self.count(&c.rules_matched);
        }
    }
}
