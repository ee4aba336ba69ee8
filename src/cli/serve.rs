//! `dualroad serve`: load and validate the config, start the gateway, run until a
//! signal (SIGHUP reloads; SIGTERM/SIGINT finish in-flight requests and stop).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::config::Settings;
use crate::gateway::Gateway;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Gateway configuration (see dualroad.example.toml).
    #[arg(long, default_value = "dualroad.toml")]
    pub config: PathBuf,
    /// Print the resolved settings as JSON and exit.
    #[arg(long)]
    pub show_settings: bool,
}

pub(super) fn load(config: &PathBuf) -> Result<Settings, ExitCode> {
    Settings::from_file(config).map_err(|e| {
        eprintln!("{e}");
        eprintln!(
            "{}: invalid configuration; nothing was started",
            config.display()
        );
        ExitCode::from(2)
    })
}

pub(super) fn run(args: ServeArgs, clock: crate::clock::Clock) -> anyhow::Result<ExitCode> {
    let settings = match load(&args.config) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    if args.show_settings {
        println!("{}", serde_json::to_string_pretty(&settings)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let gw =
            match Gateway::start(settings, None, Some(args.config.clone()), clock.clone()).await {
                Ok(g) => g,
                Err(e) => {
                    eprintln!("dualroad: cannot start: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
        for (name, addr) in &gw.listeners {
            eprintln!("dualroad: listener {name} on {addr}");
        }
        eprintln!("dualroad: admin on {}", gw.admin);
        gw.run_until_signal().await;
        Ok(ExitCode::SUCCESS)
    })
}
