//! The `dualroad` command line: clap definitions and dispatch. `main.rs` only parses
//! and calls [`run`]; each subcommand lives in its own file and returns an exit code.

#[cfg(feature = "sim")]
mod demo;
mod diffs;
mod mappings;
mod replay;
mod report;
mod serve;
#[cfg(feature = "sim")]
mod sim;
mod switch;
mod translate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::telemetry::LogFormat;

/// dualroad — move an X-Road data exchange to UXP without a flag day.
#[derive(Debug, Parser)]
#[command(name = "dualroad", version, about, long_about = None)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    #[cfg(feature = "sim")]
    /// Run the whole story on loopback with embedded defaults: no config needed.
    Demo,
    /// Run the gateway.
    Serve(serve::ServeArgs),
    /// Roll traffic back to the legacy stack, release it, or show the switch.
    Switch {
        #[command(subcommand)]
        command: switch::SwitchCommand,
    },
    /// List or verify the tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        command: switch::AuditCommand,
    },
    /// Translate one message between a legacy dialect and UXP.
    Translate(translate::TranslateArgs),
    /// Check or import identifier mappings.
    Mappings {
        #[command(subcommand)]
        command: MappingsCommand,
    },
    /// Run a stack simulator (a legacy X-Road or a UXP security server stand-in).
    #[cfg(feature = "sim")]
    Sim {
        #[command(subcommand)]
        command: sim::SimCommand,
    },
    /// Send recorded requests to both stacks and compare as shadow mode does.
    Replay(replay::ReplayArgs),
    /// List or show the differences kept in the exchange store.
    Diffs {
        #[command(subcommand)]
        command: diffs::DiffsCommand,
    },
    /// Migration report from the stored evidence: readiness per agency and service.
    Report(report::ReportArgs),
}

impl Command {
    /// The default log level: the servers log their requests; the demo and one-shot
    /// commands print their own output and log only warnings.
    pub fn log_level(&self) -> &'static str {
        match self {
            Command::Serve(_) => "info",
            #[cfg(feature = "sim")]
            Command::Sim { .. } => "info",
            _ => "warn",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum MappingsCommand {
    /// Validate every *.toml in a mappings directory; lists every problem at once.
    Check {
        /// Mappings directory.
        dir: PathBuf,
    },
    /// Convert an X-Road 6 identifiermapping.xml into dualroad's mappings format.
    Import(mappings::ImportArgs),
}

/// Runs a parsed command line. Errors that reach here are operator errors (exit 2).
/// The one wall clock of the process is made here and handed to every command that
/// writes or reads times (`crate::clock`).
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let clock = crate::clock::system();
    match cli.command {
        #[cfg(feature = "sim")]
        Command::Demo => demo::run(clock),
        Command::Serve(args) => serve::run(args, clock),
        Command::Switch { command } => switch::switch(command, clock),
        Command::Audit { command } => switch::audit(command),
        Command::Translate(args) => translate::run(args),
        Command::Mappings { command } => match command {
            MappingsCommand::Check { dir } => mappings::check(&dir),
            MappingsCommand::Import(args) => mappings::import(args),
        },
        #[cfg(feature = "sim")]
        Command::Sim { command } => sim::run(command),
        Command::Replay(args) => replay::run(args, clock),
        Command::Diffs { command } => diffs::run(command),
        Command::Report(args) => report::run(args, clock),
    }
}
