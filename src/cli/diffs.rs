//! `dualroad diffs list|show`: the differences shadow mode and `dualroad replay` kept
//! in the exchange store, for an operator at a terminal.
//!
//! Where it sits: a reader of `store::exchanges` (`list_diffs`, `diff`, and the
//! exchange record stored under the same key). The data directory comes from `--data`
//! or the config's `data_dir`; sled lets one process open it, so while `dualroad
//! serve` runs on it these commands cannot read it (the error says so).
//!
//! Rendering is pure ([`render_list`], [`render_show`]); colour (ANSI red for the
//! primary's side, green for the shadow's) only on a terminal, or as `--color` says.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::anyhow;
use clap::{Args, Subcommand, ValueEnum};

use crate::evidence::{DiffRecord, ExchangeRecord, RecordKey};
use crate::shadow::OutcomeClass;

/// Diffs listed when `--limit` is not given.
pub(super) const DEFAULT_LIMIT: usize = 50;

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const CYAN: &str = "\x1b[36m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

#[derive(Debug, Subcommand)]
pub enum DiffsCommand {
    /// The newest differences, newest first.
    List(ListArgs),
    /// One difference: its metadata, the differing paths with both values, and the
    /// unified diff of the two canonical answers.
    Show(ShowArgs),
}

/// Which data directory to read.
#[derive(Debug, Args)]
pub struct Where {
    /// Data directory (of a stopped gateway, or of `dualroad replay --data`).
    #[arg(long, value_name = "DATA_DIR", conflicts_with = "config")]
    pub data: Option<PathBuf>,
    /// Gateway configuration whose `data_dir` to read (default `dualroad.toml` when
    /// neither is given).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub at: Where,
    /// Only this agency (as stored: the legacy consumer name).
    #[arg(long)]
    pub agency: Option<String>,
    /// Only this service (as stored: the legacy service name).
    #[arg(long)]
    pub service: Option<String>,
    /// Only this outcome: body-diff, fault-mismatch, fault-code-diff or shadow-error.
    #[arg(long, value_name = "C")]
    pub outcome: Option<String>,
    /// Most diffs listed.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_LIMIT)]
    pub limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Always,
    Never,
    Auto,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub at: Where,
    /// The diff's id, as `diffs list` shows it (MILLIS-SEQ).
    pub id: String,
    /// Colour the output: `auto` on a terminal only.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
}

/// The outcomes a diff is stored for.
const DIFF_OUTCOMES: [OutcomeClass; 4] = [
    OutcomeClass::BodyDiff,
    OutcomeClass::FaultMismatch,
    OutcomeClass::FaultCodeDiff,
    OutcomeClass::ShadowError,
];

pub(super) fn run(cmd: DiffsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DiffsCommand::List(a) => list(a),
        DiffsCommand::Show(a) => show(a),
    }
}

fn data_dir(at: &Where) -> anyhow::Result<Result<PathBuf, ExitCode>> {
    if let Some(d) = &at.data {
        return Ok(Ok(d.clone()));
    }
    let config = at
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from("dualroad.toml"));
    if at.config.is_none() && !config.exists() {
        return Err(anyhow!(
            "no data directory: give --data DATA_DIR or --config FILE (dualroad.toml is not here)"
        ));
    }
    Ok(super::serve::load(&config).map(|s| s.data_dir))
}

fn open(at: &Where) -> anyhow::Result<Result<crate::store::ExchangeStore, ExitCode>> {
    let dir = match data_dir(at)? {
        Ok(d) => d,
        Err(code) => return Ok(Err(code)),
    };
    let store = super::replay::open_store(&dir, "--data", false)?;
    Ok(Ok(store.exchanges()))
}

fn list(a: ListArgs) -> anyhow::Result<ExitCode> {
    if let Some(o) = &a.outcome {
        if !DIFF_OUTCOMES.iter().any(|c| c.as_str() == o) {
            let all: Vec<&str> = DIFF_OUTCOMES.iter().map(|c| c.as_str()).collect();
            return Err(anyhow!(
                "--outcome `{o}`: diffs are kept for {}",
                all.join(", ")
            ));
        }
    }
    let store = match open(&a.at)? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let diffs = store.list_diffs(
        a.agency.as_deref(),
        a.service.as_deref(),
        a.outcome.as_deref(),
        a.limit,
    )?;
    // A closed stdout (`| head`) is not worth a panic.
    let _ = std::io::stdout()
        .lock()
        .write_all(render_list(&diffs).as_bytes());
    if diffs.is_empty() {
        eprintln!("dualroad: no diffs in {}", store.path().display());
    }
    Ok(ExitCode::SUCCESS)
}

fn show(a: ShowArgs) -> anyhow::Result<ExitCode> {
    let id: RecordKey = a.id.parse().map_err(|e| anyhow!("{e}"))?;
    let store = match open(&a.at)? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let Some(diff) = store.diff(id)? else {
        return Err(anyhow!(
            "no diff {id} in {} (`dualroad diffs list` shows the ids)",
            store.path().display()
        ));
    };
    // The exchange it belongs to is stored under the same key.
    let mut exchange = None;
    for item in store.exchanges_between(id.at_unix_ms, id.at_unix_ms.saturating_add(1)) {
        let (k, r) = item?;
        if k == id {
            exchange = Some(r);
            break;
        }
    }
    let color = match a.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stdout().is_terminal(),
    };
    let text = render_show(&diff, exchange.as_ref(), color);
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(ExitCode::SUCCESS)
}

/// `YYYY-MM-DD HH:MM:SS.mmm` in UTC.
pub(super) fn utc(at_unix_ms: u64) -> String {
    let t = crate::report::time::Utc(at_unix_ms).datetime();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        at_unix_ms % 1000
    )
}

/// The table of `diffs list`: id, time UTC, agency, service, outcome, number of
/// differing paths, first path.
pub(super) fn render_list(diffs: &[DiffRecord]) -> String {
    let header = [
        "ID",
        "TIME (UTC)",
        "AGENCY",
        "SERVICE",
        "OUTCOME",
        "PATHS",
        "FIRST PATH",
    ];
    let rows: Vec<[String; 7]> = diffs
        .iter()
        .map(|d| {
            let counted: Vec<_> = d.paths.iter().filter(|p| !p.noise).collect();
            [
                d.id.to_string(),
                utc(d.at_unix_ms),
                d.agency.clone(),
                d.service.clone(),
                d.outcome.to_string(),
                counted.len().to_string(),
                counted
                    .first()
                    .map_or_else(|| "-".to_string(), |p| p.path.clone()),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(&header.map(str::to_string));
    for r in &rows {
        out.push_str(&line(r));
    }
    out
}

/// `diffs show`: metadata, the differing paths with both values (noise marked),
/// then the unified diff.
pub(super) fn render_show(d: &DiffRecord, e: Option<&ExchangeRecord>, color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_string()
        }
    };
    let mut s = format!("{} {}\n", paint(BOLD, "diff"), d.id);
    let mut field = |k: &str, v: &str| s.push_str(&format!("  {k:<14} {v}\n"));
    field("time", &format!("{} UTC", utc(d.at_unix_ms)));
    field("agency", &d.agency);
    field("service", &d.service);
    field("outcome", d.outcome.as_str());
    if let Some(e) = e {
        field("stage", e.stage.as_str());
        field("served by", e.served_by.as_str());
        field("listener", &e.listener);
        if let Some(id) = &e.message_id {
            field("message id", id);
        }
        if let Some(id) = &e.shadow_message_id {
            field("shadow id", id);
        }
        let shadow = e
            .shadow_latency_ms
            .map_or_else(|| "-".to_string(), |l| format!("{l:.1} ms"));
        field(
            "latency",
            &format!("primary {:.1} ms, shadow {shadow}", e.primary_latency_ms),
        );
        for (k, v) in [
            ("primary fault", &e.primary_fault_code),
            ("shadow fault", &e.shadow_fault_code),
            ("request hash", &e.request_hash),
        ] {
            if let Some(v) = v {
                field(k, v);
            }
        }
        if !e.ignore_rules.is_empty() {
            field("ignore rules", &e.ignore_rules.join(", "));
        }
    }
    let counted = d.paths.iter().filter(|p| !p.noise).count();
    let noise = d.paths.len() - counted;
    s.push_str(&format!(
        "\n{} ({counted} differing, {noise} noise)\n",
        paint(BOLD, "paths")
    ));
    for p in &d.paths {
        let mark = if p.noise {
            "  [noise: differs between two primary answers too]"
        } else {
            ""
        };
        s.push_str(&format!("  {:<8} {}{mark}\n", p.kind, p.path));
        let value = |v: &Option<String>| {
            v.as_deref()
                .map_or("(absent)".to_string(), |v| format!("{v:?}"))
        };
        s.push_str(&format!(
            "           {}\n",
            paint(RED, &format!("primary: {}", value(&p.primary)))
        ));
        s.push_str(&format!(
            "           {}\n",
            paint(GREEN, &format!("shadow:  {}", value(&p.shadow)))
        ));
    }
    s.push_str(&format!("\n{}\n", paint(BOLD, "unified diff")));
    if d.unified.is_empty() {
        s.push_str("  (none)\n");
    }
    for l in d.unified.lines() {
        let code = if l.starts_with("---") || l.starts_with("+++") {
            BOLD
        } else if l.starts_with('-') {
            RED
        } else if l.starts_with('+') {
            GREEN
        } else if l.starts_with("@@") {
            CYAN
        } else {
            ""
        };
        if code.is_empty() {
            s.push_str(l);
        } else {
            s.push_str(&paint(code, l));
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::DiffPath;

    fn diff() -> DiffRecord {
        DiffRecord {
            id: RecordKey {
                at_unix_ms: 1_764_186_901_123,
                seq: 42,
            },
            at_unix_ms: 1_764_186_901_123,
            agency: "10000042".into(),
            service: "moh.getPatientSummary.v2".into(),
            outcome: "body-diff".parse().unwrap(),
            paths: vec![
                DiffPath {
                    path: "Body/r/status".into(),
                    kind: "changed".into(),
                    primary: Some("active".into()),
                    shadow: Some("inactive".into()),
                    noise: false,
                },
                DiffPath {
                    path: "Body/r/generatedAt".into(),
                    kind: "changed".into(),
                    primary: Some("1".into()),
                    shadow: Some("2".into()),
                    noise: true,
                },
            ],
            unified: "--- primary\n+++ shadow\n@@ -1 +1 @@\n-active\n+inactive\n".into(),
        }
    }

    #[test]
    fn times_are_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000");
        assert_eq!(utc(1_764_186_901_123), "2025-11-26 19:55:01.123");
    }

    #[test]
    fn the_list_is_a_table_counting_only_real_differences() {
        let t = render_list(&[diff()]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2, "{t}");
        assert!(lines[0].starts_with("ID  "), "{t}");
        for cell in [
            "1764186901123-42",
            "2025-11-26 19:55:01.123",
            "10000042",
            "moh.getPatientSummary.v2",
            "body-diff",
            "  1  ",
            "Body/r/status",
        ] {
            assert!(lines[1].contains(cell), "{cell} in {t}");
        }
        // Columns line up: the header's OUTCOME starts where the row's outcome does.
        assert_eq!(lines[0].find("OUTCOME"), lines[1].find("body-diff"), "{t}");
    }

    #[test]
    fn show_marks_noise_and_colours_only_when_asked() {
        let plain = render_show(&diff(), None, false);
        assert!(!plain.contains('\x1b'), "{plain}");
        assert!(plain.contains("paths (1 differing, 1 noise)"), "{plain}");
        assert!(
            plain.contains("changed  Body/r/generatedAt  [noise"),
            "{plain}"
        );
        assert!(plain.contains("primary: \"active\""), "{plain}");
        assert!(plain.contains("shadow:  \"inactive\""), "{plain}");
        assert!(plain.ends_with("-active\n+inactive\n"), "{plain}");
        let coloured = render_show(&diff(), None, true);
        assert!(
            coloured.contains(&format!("{RED}-active{RESET}")),
            "{coloured}"
        );
        assert!(
            coloured.contains(&format!("{GREEN}+inactive{RESET}")),
            "{coloured}"
        );
        assert!(
            !coloured.contains(&format!("{RED}--- primary")),
            "{coloured}"
        );
    }
}

/// How `utc` prints, written against the hand-written calendar code before it was
/// replaced by the `time` crate.
#[cfg(test)]
mod utc_table {
    #[test]
    fn list_times_print_as_utc_with_milliseconds() {
        for (ms, text) in [
            (0, "1970-01-01 00:00:00.000"),
            (86_399_999, "1970-01-01 23:59:59.999"),
            (86_400_000, "1970-01-02 00:00:00.000"),
            (951_782_400_001, "2000-02-29 00:00:00.001"),
            (1_772_323_199_999, "2026-02-28 23:59:59.999"),
            (253_402_300_799_999, "9999-12-31 23:59:59.999"),
        ] {
            assert_eq!(super::utc(ms), text, "{ms}");
        }
    }
}
