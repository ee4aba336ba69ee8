//! `dualroad report`: a migration report from a data directory, as Markdown, HTML or
//! JSON, on stdout or into a file.
//!
//! sled lets one process open a database: while the gateway runs, it holds the data
//! directory, and the report comes from its admin listener instead
//! (`/admin/report`, `/admin/report.json`); this command says so when it finds the
//! directory locked. `--sample` reports over evidence generated from the stack
//! simulators, to see the formats without a gateway.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::config::Settings;
use crate::report::render::Format;
use crate::report::{self, parse_utc, ReportOptions, Thresholds};
use crate::shadow::IgnoreRule;
use crate::store::{SledStore, StoreError};
#[cfg(feature = "sim")]
use dualroad_sim::sample::Sample;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Markdown, for change tickets.
    Md,
    /// One self-contained HTML file with charts.
    Html,
    /// JSON (schema: docs/report-schema.md, `report_version`).
    Json,
}

impl ReportFormat {
    fn format(self) -> Format {
        match self {
            ReportFormat::Md => Format::Markdown,
            ReportFormat::Html => Format::Html,
            ReportFormat::Json => Format::Json,
        }
    }
}

fn date(s: &str) -> Result<u64, String> {
    parse_utc(s).map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The gateway's data directory (its `data_dir`).
    #[arg(long, value_name = "DATA_DIR", required_unless_present = "sample")]
    pub data: Option<PathBuf>,
    /// Gateway configuration: verdict thresholds (`[report]`) and the mappings
    /// (for coverage). Defaults apply without it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Only this agency (legacy consumer name or UXP client id).
    #[arg(long)]
    pub agency: Option<String>,
    /// Start of the period (inclusive, UTC): YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss]. Default: the first stored exchange.
    #[arg(long, value_name = "DATE", value_parser = date)]
    pub since: Option<u64>,
    /// End of the period (exclusive, UTC). Default: after the last stored exchange.
    #[arg(long, value_name = "DATE", value_parser = date)]
    pub until: Option<u64>,
    #[arg(long, value_enum)]
    pub format: ReportFormat,
    /// Write here instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Report over sample evidence generated from the stack simulators (in a temporary
    /// directory, removed afterwards) instead of a data directory.
    #[arg(long, conflicts_with = "data")]
    pub sample: bool,
    /// With --sample: how many exchanges (spread over the same four days).
    #[arg(long, requires = "sample", default_value_t = SAMPLE_EXCHANGES, hide = true)]
    pub sample_size: u64,
    /// With --sample: write the sample store into this new directory and keep it
    /// (for benchmarks: `scripts/bench-report.sh`).
    #[arg(long, requires = "sample", hide = true)]
    pub sample_dir: Option<PathBuf>,
}

/// The `[compare]` ignore rules of the config: the report lists those that never
/// matched in the period as stale.
fn configured_ignore_rules(settings: Option<&Settings>) -> Vec<IgnoreRule> {
    settings
        .map(|s| s.compare.ignore.clone())
        .unwrap_or_default()
}

pub(super) fn run(args: ReportArgs, clock: crate::clock::Clock) -> anyhow::Result<ExitCode> {
    let settings = match &args.config {
        Some(path) => match super::serve::load(path) {
            Ok(s) => Some(s),
            Err(code) => return Ok(code),
        },
        None => None,
    };
    let thresholds = settings.as_ref().map(|s| s.report).unwrap_or_default();
    let maps = match &settings {
        Some(s) => match crate::mapping::load_dir(&s.mappings) {
            Ok(m) => Some(m),
            Err(e) => {
                eprintln!("{e}");
                eprintln!(
                    "dualroad: the mappings in {} are invalid; no report made",
                    s.mappings.display()
                );
                return Ok(ExitCode::from(2));
            }
        },
        None => None,
    };
    if let (Some(s), Some(u)) = (args.since, args.until) {
        if s >= u {
            eprintln!(
                "dualroad: --since {} is not before --until {}: the period is empty",
                report::utc(s),
                report::utc(u)
            );
            return Ok(ExitCode::from(2));
        }
    }
    let text = if args.sample {
        sample_report(&args, thresholds, &clock)?
    } else {
        let Some(data) = &args.data else {
            eprintln!("dualroad: --data DATA_DIR is required (or --sample)");
            return Ok(ExitCode::from(2));
        };
        let store = match SledStore::open_existing(data) {
            Ok(s) => s,
            Err(e) => return Ok(open_failed(data, &e, settings.as_ref())),
        };
        let rules = configured_ignore_rules(settings.as_ref());
        let opts = ReportOptions {
            agency: args.agency.clone(),
            since_ms: args.since,
            until_ms: args.until,
            thresholds,
            ignore_rules: &rules,
            mappings: maps.as_ref(),
            now_ms: clock(),
        };
        let r = match report::build(&store, &opts) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("dualroad: cannot build the report: {e}");
                return Ok(ExitCode::from(2));
            }
        };
        args.format.format().render(&r)
    };
    match &args.out {
        Some(path) => {
            if let Err(e) = std::fs::write(path, text.as_bytes()) {
                eprintln!("dualroad: cannot write {}: {e}", path.display());
                return Ok(ExitCode::from(2));
            }
            eprintln!("dualroad: report written to {}", path.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn open_failed(data: &Path, e: &StoreError, settings: Option<&Settings>) -> ExitCode {
    let locked =
        matches!(e, StoreError::Open { source, .. } if source.to_string().contains("lock"));
    if locked {
        let admin = settings.map_or_else(
            || "ADMIN_ADDRESS".to_string(),
            |s| s.admin.listen.to_string(),
        );
        eprintln!(
            "dualroad: {} is in use by a running gateway (sled lets one process open it).\n\
             Get the report from the gateway's admin listener instead:\n  \
             curl -o report.html 'http://{admin}/admin/report'\n  \
             curl 'http://{admin}/admin/report.json?agency=AGENCY&since=YYYY-MM-DD&until=YYYY-MM-DD'",
            data.display()
        );
    } else {
        eprintln!("dualroad: {e}");
    }
    ExitCode::from(2)
}

/// Sample exchanges `--sample` generates by default: four days, one a minute.
const SAMPLE_EXCHANGES: u64 = 6_000;
/// The span every sample covers, whatever its size.
#[cfg(feature = "sim")]
const SAMPLE_SPAN_MS: u64 = SAMPLE_EXCHANGES * 60_000;
/// Above this many exchanges, samples hand no bodies to the writer (their diffs'
/// unified text is then withheld), which keeps generating a million fast.
#[cfg(feature = "sim")]
const SAMPLE_MAX_WITH_BODIES: u64 = 100_000;
/// 2026-03-01T00:00:00Z.
#[cfg(feature = "sim")]
const SAMPLE_START_MS: u64 = 1_772_323_200_000;

#[cfg(not(feature = "sim"))]
fn sample_report(
    _args: &ReportArgs,
    _thresholds: Thresholds,
    _clock: &crate::clock::Clock,
) -> anyhow::Result<String> {
    anyhow::bail!(
        "--sample needs the simulators: this dualroad was built without the `sim` feature"
    )
}

#[cfg(feature = "sim")]
fn sample_report(
    args: &ReportArgs,
    thresholds: Thresholds,
    clock: &crate::clock::Clock,
) -> anyhow::Result<String> {
    let maps = super::demo::embedded_mappings()?;
    let keep = args.sample_dir.is_some();
    let dir = args.sample_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "dualroad-report-sample-{}-{}",
            std::process::id(),
            clock()
        ))
    });
    let result = sample_into(&dir, keep, args, thresholds, &maps, clock);
    if !keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

#[cfg(feature = "sim")]
fn sample_into(
    dir: &Path,
    keep: bool,
    args: &ReportArgs,
    thresholds: Thresholds,
    maps: &crate::mapping::Mappings,
    clock: &crate::clock::Clock,
) -> anyhow::Result<String> {
    if keep && dir.exists() {
        anyhow::bail!(
            "--sample-dir {} exists already: name a new directory",
            dir.display()
        );
    }
    let store = SledStore::open(dir)?;
    let n = args.sample_size.max(1);
    let step = (SAMPLE_SPAN_MS / n).max(1);
    let mut sample = Sample::new(maps.clone(), 7, SAMPLE_START_MS, step, n)
        .with_bodies(n <= SAMPLE_MAX_WITH_BODIES);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(report::sample::fill(&store, &mut sample))?;
    let opts = ReportOptions {
        agency: args.agency.clone(),
        since_ms: args.since,
        until_ms: args.until,
        thresholds,
        ignore_rules: sample.ignore_rules(),
        mappings: Some(maps),
        now_ms: clock(),
    };
    let r = report::build(&store, &opts)?;
    Ok(args.format.format().render(&r))
}
