//! Thin entry point: parse the command line, set up logging, run, map to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = dualroad::cli::Cli::parse();
    dualroad::telemetry::init(cli.log_format, cli.command.log_level());
    match dualroad::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dualroad: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
