//! `dualroad switch rollback|release|status` and `dualroad audit list|verify`.
//!
//! While the gateway runs, sled keeps its database to itself, so these go through the
//! admin API (and take effect within the request). When no gateway answers, they open
//! the data directory directly — the switch state is then in force from the next start.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::admin::client::{call, AdminClientError};
use crate::admin::{SwitchAction, SwitchRequest};
use crate::routing::SwitchScope;
use crate::store::{Attribution, SledStore, Store};

#[derive(Debug, Args)]
pub struct Target {
    /// Gateway configuration: gives the admin address and the data directory.
    #[arg(long, default_value = "dualroad.toml")]
    pub config: PathBuf,
    /// Who is acting (recorded in the audit log).
    #[arg(long, env = "USER", default_value = "cli")]
    pub actor: String,
}

#[derive(Debug, Args)]
pub struct Change {
    #[command(flatten)]
    pub target: Target,
    /// Agency (legacy consumer name or UXP client id; `*` or trailing-`*` patterns). All when absent.
    #[arg(long)]
    pub agency: Option<String>,
    /// Service (legacy producer.method[.vN] or UXP service id; patterns). All when absent.
    #[arg(long)]
    pub service: Option<String>,
    /// Why (an incident number, a ticket): recorded in the audit log.
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Subcommand)]
pub enum SwitchCommand {
    /// Force the selected traffic back to the legacy stack now, overriding every rule.
    Rollback(Change),
    /// Lift a rollback (exactly the scope it was applied with).
    Release(Change),
    /// Show the rollbacks in effect.
    Status(Target),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print the audit log.
    List(Target),
    /// Check the hash chain of the audit log.
    Verify(Target),
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

pub(super) fn switch(cmd: SwitchCommand, clock: crate::clock::Clock) -> anyhow::Result<ExitCode> {
    let (target, change) = match &cmd {
        SwitchCommand::Rollback(c) | SwitchCommand::Release(c) => (&c.target, Some(c)),
        SwitchCommand::Status(t) => (t, None),
    };
    let settings = match super::serve::load(&target.config) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let rt = runtime()?;
    let admin = settings.admin.listen;
    let (method, path, body) = match (&cmd, change) {
        (SwitchCommand::Status(_), _) | (_, None) => (http::Method::GET, "/admin/switch", None),
        (cmd, Some(c)) => {
            let req = SwitchRequest {
                action: if matches!(cmd, SwitchCommand::Rollback(_)) {
                    SwitchAction::Rollback
                } else {
                    SwitchAction::Release
                },
                agency: c.agency.clone(),
                service: c.service.clone(),
                reason: c.reason.clone(),
                actor: c.target.actor.clone(),
            };
            (
                http::Method::POST,
                "/admin/switch",
                Some(serde_json::to_vec(&req)?),
            )
        }
    };
    match rt.block_on(call(admin, method, path, body, &target.actor)) {
        Ok((200, text)) => {
            println!("{text}");
            eprintln!("dualroad: applied through the running gateway on {admin}");
            Ok(ExitCode::SUCCESS)
        }
        Ok((status, text)) => {
            eprintln!("dualroad: the gateway refused ({status}): {}", text.trim());
            Ok(ExitCode::from(1))
        }
        Err(AdminClientError::NotRunning(_)) => {
            // Offline: the store is ours.
            let store = SledStore::open_existing(&settings.data_dir)?;
            let state = match (&cmd, change) {
                (SwitchCommand::Status(_), _) | (_, None) => store.switch_state()?,
                (cmd, Some(c)) => {
                    let scope = SwitchScope::new(c.agency.as_deref(), c.service.as_deref());
                    scope
                        .validate()
                        .map_err(|e| anyhow::anyhow!("invalid scope: {e}"))?;
                    let by = Attribution {
                        actor: c.target.actor.clone(),
                        reason: c.reason.clone(),
                        at_unix_ms: clock(),
                        config_hash: settings.hash(),
                    };
                    if matches!(cmd, SwitchCommand::Rollback(_)) {
                        store.rollback(scope, &by)?
                    } else {
                        store.release(scope, &by)?
                    }
                }
            };
            println!("{}", serde_json::to_string_pretty(&state)?);
            eprintln!(
                "dualroad: no gateway on {admin}; recorded in {} (in force from the next start)",
                settings.data_dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) fn audit(cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    let (target, verify) = match &cmd {
        AuditCommand::List(t) => (t, false),
        AuditCommand::Verify(t) => (t, true),
    };
    let settings = match super::serve::load(&target.config) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let rt = runtime()?;
    let path = if verify {
        "/admin/audit/verify"
    } else {
        "/admin/audit"
    };
    match rt.block_on(call(
        settings.admin.listen,
        http::Method::GET,
        path,
        None,
        &target.actor,
    )) {
        Ok((status, text)) => {
            println!("{}", text.trim_end());
            Ok(if status == 200 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Err(AdminClientError::NotRunning(_)) => {
            let store = SledStore::open_existing(&settings.data_dir)?;
            if verify {
                let report = store.verify_audit()?;
                println!("{}", serde_json::to_string_pretty(&report)?);
                Ok(if report.ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                })
            } else {
                for e in store.audit_entries()? {
                    println!(
                        "#{:<4} {} {:<13} actor={} reason={:?} config={} {}",
                        e.seq,
                        e.at_unix_ms,
                        e.action.as_str(),
                        e.actor,
                        e.reason,
                        e.config_hash.get(..12).unwrap_or(&e.config_hash),
                        e.details.join("; ")
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
        }
        Err(e) => Err(e.into()),
    }
}
