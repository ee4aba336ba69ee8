//! Each crate's top-level modules form layers: no module imports one that (directly or
//! through others) imports it back — in the shell (`src/`) and in the core
//! (`crates/dualroad-core/src/`; the compiler already keeps the core from importing
//! the shell). Checked on the source text — every `crate::NAME`
//! path outside comments and test modules is an edge — so a new cycle fails the suite
//! with the files that make it. docs/ARCHITECTURE.md shows the layers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::support::repo;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module's own code: comments and `#[cfg(test)] mod tests` blocks left out, and
/// test-only files (`tests.rs`, `…/tests/…`) skipped by the caller.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `crate::NAME` occurrences in `code`.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let before = rest[..i].chars().next_back();
        // `dualroad_crate::x` or `$crate::x` are not this crate's paths.
        if !name.is_empty()
            && !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        {
            out.insert(name);
        }
        rest = after;
    }
    out
}

/// Module → (imported module → files that import it).
fn graph(src: &Path) -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let mut modules = BTreeSet::new();
    for entry in std::fs::read_dir(src).expect("src") {
        let path = entry.expect("entry").path();
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        if path.is_dir()
            || (path.extension().is_some_and(|e| e == "rs") && stem != "lib" && stem != "main")
        {
            modules.insert(stem);
        }
    }
    let mut edges: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for m in &modules {
        let dir = src.join(m);
        let mut files = Vec::new();
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        } else {
            files.push(src.join(format!("{m}.rs")));
        }
        let from = edges.entry(m.clone()).or_default();
        for f in files {
            let rel = f.strip_prefix(src).unwrap_or(&f).display().to_string();
            if rel.ends_with("/tests.rs") || rel.contains("/tests/") {
                continue;
            }
            let text = std::fs::read_to_string(&f).expect("source file");
            for to in crate_paths(&code_of(&text)) {
                if modules.contains(&to) && &to != m {
                    from.entry(to).or_default().insert(rel.clone());
                }
            }
        }
    }
    edges
}

/// A cycle through `start`, if any (depth-first).
fn cycle_from(
    start: &str,
    edges: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
) -> Option<Vec<String>> {
    fn walk(
        at: &str,
        start: &str,
        edges: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in edges.get(at).map(|m| m.keys()).into_iter().flatten() {
            if next == start {
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(next, start, edges, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    let mut seen = BTreeSet::new();
    walk(start, start, edges, &mut path, &mut seen).then_some(path)
}

#[test]
fn top_level_modules_import_each_other_without_cycles() {
    let shell = graph(&repo().join("src"));
    assert!(shell.len() > 10, "modules found: {:?}", shell.keys());
    // The scanner sees real edges (else an empty graph would pass).
    assert!(
        shell["proxy"].contains_key("config"),
        "{:?}",
        shell["proxy"]
    );
    assert_no_cycles("src", &shell);
    let core = graph(&repo().join("crates/dualroad-core/src"));
    assert!(core.len() > 6, "modules found: {:?}", core.keys());
    assert!(
        core["translate"].contains_key("wire"),
        "{:?}",
        core["translate"]
    );
    assert_no_cycles("crates/dualroad-core/src", &core);
}

fn assert_no_cycles(root: &str, edges: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>) {
    let mut problems = Vec::new();
    for m in edges.keys() {
        if let Some(cycle) = cycle_from(m, edges) {
            let mut steps = Vec::new();
            for (i, a) in cycle.iter().enumerate() {
                let b = &cycle[(i + 1) % cycle.len()];
                let files: Vec<_> = edges[a][b].iter().take(3).cloned().collect();
                steps.push(format!("{a} -> {b} ({})", files.join(", ")));
            }
            problems.push(steps.join("; "));
        }
    }
    assert!(
        problems.is_empty(),
        "import cycles in {root}:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_scanner_finds_a_cycle_when_there_is_one() {
    let mut edges: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let file = |f: &str| BTreeSet::from([f.to_string()]);
    edges
        .entry("a".into())
        .or_default()
        .insert("b".into(), file("a.rs"));
    edges
        .entry("b".into())
        .or_default()
        .insert("c".into(), file("b.rs"));
    edges
        .entry("c".into())
        .or_default()
        .insert("a".into(), file("c.rs"));
    edges
        .entry("d".into())
        .or_default()
        .insert("a".into(), file("d.rs"));
    assert_eq!(
        cycle_from("a", &edges),
        Some(vec!["a".into(), "b".into(), "c".into()])
    );
    assert_eq!(cycle_from("d", &edges), None);
    assert_eq!(
        crate_paths("use crate::wire::x; $crate::no; my_crate::no; crate::proxy::Y"),
        BTreeSet::from(["proxy".to_string(), "wire".to_string()])
    );
}

/// The crates form layers too: the core depends on no other dualroad crate, the
/// network crate on none (so the simulators need not pull in the gateway), and only the
/// root package (the shell) depends on them. Cargo refuses cycles between crates; this
/// keeps the *direction* from drifting (e.g. net reaching into core, core into net).
#[test]
fn the_crates_depend_only_downwards() {
    let allowed: &[(&str, &[&str])] = &[
        ("dualroad-core", &[]),
        ("dualroad-net", &[]),
        ("dualroad-sim", &["dualroad-core", "dualroad-net"]),
    ];
    let mut problems = Vec::new();
    for (krate, may) in allowed {
        let manifest = repo().join("crates").join(krate).join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).expect("crate manifest");
        let deps: BTreeSet<String> = text
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_string()))
            .filter(|k| k.starts_with("dualroad"))
            .collect();
        for d in deps {
            if !may.contains(&d.as_str()) {
                problems.push(format!("{} depends on {d}", manifest.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The check reads real manifests (else an empty list would pass).
    let root = std::fs::read_to_string(repo().join("Cargo.toml")).expect("root manifest");
    assert!(root.contains("dualroad-core = {") && root.contains("dualroad-net = {"));
}
