//! Telemetry: logging set-up, typed events (log line + metric together) and the
//! Prometheus registry the admin listener serves. Log lines go to stderr so stdout stays
//! a command's output; `RUST_LOG` filters, `--log-format json` is for collectors.

pub mod events;
pub mod metrics;

use tracing_subscriber::EnvFilter;

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for collectors.
    Json,
}

/// Installs the global subscriber once; later calls are no-ops (tests call it freely).
/// `default_level` applies when `RUST_LOG` is not set.
pub fn init(format: LogFormat, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
