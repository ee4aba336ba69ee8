//! Thin entry point: parse the command line, set up logging, run, map to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = dualroad::cli::Cli::parse();
    // The demo and one-shot commands print their own output; the gateway logs requests.
    let level = match cli.command {
        dualroad::cli::Command::Serve(_) | dualroad::cli::Command::Sim { .. } => "info",
        _ => "warn",
    };
    dualroad::telemetry::init(cli.log_format, level);
    match dualroad::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dualroad: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
