//! `dualroad sim legacy|uxp|echo`: run a stack simulator (`crate::sim`) until Ctrl-C or
//! SIGTERM. stdout: the bound address, one line, as soon as the socket listens (so
//! `--listen 127.0.0.1:0` is usable from scripts); stderr: logs.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::sim::{self, SimConfig, SimKind};
use crate::wire::Dialect;

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// A legacy X-Road security server: answers 2.0/3.x (and v6.0/v4) requests in the
    /// dialect they arrive in.
    Legacy(LegacyArgs),
    /// A UXP security server: answers UXP (4.0 profile) requests, SOAP 1.1 or 1.2, with
    /// requestHash and a uxp-transaction-id header.
    Uxp(CommonArgs),
    /// An echo responder for load measurements: answers every POST with 200, the
    /// request's Content-Type and body unchanged.
    Echo(EchoArgs),
}

#[derive(Debug, Args)]
pub struct EchoArgs {
    /// Address to listen on (`127.0.0.1:0` picks a free port; the bound address is
    /// printed).
    #[arg(long, value_name = "ADDR")]
    pub listen: String,
}

#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Address to listen on (`127.0.0.1:0` picks a free port; the bound address is
    /// printed).
    #[arg(long, value_name = "ADDR")]
    pub listen: String,
    /// Delay before every answer, in milliseconds.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub latency_ms: u64,
    /// Share of requests answered with a simulated service failure (0..=1), decided
    /// per message id.
    #[arg(long, value_name = "F", default_value_t = sim::DEFAULT_FAULT_RATE, value_parser = parse_rate)]
    pub fault_rate: f64,
    /// Share of answers that differ slightly from the other stack's (0..=1; UXP only),
    /// decided per message id.
    #[arg(long, value_name = "F", default_value_t = sim::DEFAULT_DIVERGENCE_RATE, value_parser = parse_rate)]
    pub divergence_rate: f64,
}

#[derive(Debug, Args)]
pub struct LegacyArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Accept only this dialect, like a stack that speaks one (default: every legacy
    /// dialect).
    #[arg(long, value_name = "DIALECT")]
    pub dialect: Option<Dialect>,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|e| format!("`{s}` is not a number: {e}"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("`{s}` is not between 0 and 1"))
    }
}

pub(super) fn run(cmd: SimCommand) -> anyhow::Result<ExitCode> {
    let (kind, common, dialect) = match cmd {
        SimCommand::Legacy(a) => (SimKind::Legacy, a.common, a.dialect),
        SimCommand::Uxp(a) => (SimKind::Uxp, a, None),
        SimCommand::Echo(a) => return run_echo(a),
    };
    if dialect == Some(Dialect::Uxp) {
        anyhow::bail!(
            "--dialect uxp: the legacy simulator speaks legacy dialects; use `dualroad sim uxp`"
        );
    }
    if kind == SimKind::Uxp && common.divergence_rate > 0.0 {
        tracing::info!(
            "divergence rate {}: some UXP answers will differ on purpose",
            common.divergence_rate
        );
    }
    let cfg = SimConfig {
        kind,
        latency: Duration::from_millis(common.latency_ms),
        fault_rate: common.fault_rate,
        divergence_rate: common.divergence_rate,
        dialect,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&common.listen)
            .await
            .with_context(|| format!("listening on {}", common.listen))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{addr}")?;
        out.flush()?;
        drop(out);
        tracing::info!(sim = %kind, %addr, "simulator listening");
        sim::serve(listener, cfg, shutdown_signal()).await;
        tracing::info!(sim = %kind, "simulator stopped");
        Ok(ExitCode::SUCCESS)
    })
}

fn run_echo(args: EchoArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{addr}")?;
        out.flush()?;
        drop(out);
        tracing::info!(%addr, "echo responder listening");
        sim::echo::serve(listener, shutdown_signal()).await;
        Ok(ExitCode::SUCCESS)
    })
}

/// Completes on Ctrl-C or (on Unix) SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            // No Ctrl-C handler available: wait for SIGTERM only.
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
