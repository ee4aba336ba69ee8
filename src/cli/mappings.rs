//! `dualroad mappings check|import`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::wire::Dialect;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// An X-Road 6 identifiermapping.xml.
    pub file: PathBuf,
    /// Directory to write `imported.toml` into (stdout when absent).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Dialect of the legacy stack the short names belong to.
    #[arg(long, default_value = "v3.1-eu")]
    pub legacy_dialect: Dialect,
    /// UXP instance to put in `[uxp]` (default: the instance found in the file).
    #[arg(long)]
    pub uxp_instance: Option<String>,
}

pub(super) fn check(dir: &Path) -> anyhow::Result<ExitCode> {
    match crate::mapping::load_dir(dir) {
        Ok(m) => {
            println!(
                "{}: ok — {} members, {} services; legacy dialect {}, UXP instance {}",
                dir.display(),
                m.members().count(),
                m.services().count(),
                m.legacy_dialect(),
                m.uxp_instance()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            eprintln!("{}: invalid mappings", dir.display());
            Ok(ExitCode::from(2))
        }
    }
}

pub(super) fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let xml = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let toml = match crate::mapping::import::import_identifier_mapping(
        &xml,
        args.legacy_dialect,
        args.uxp_instance.as_deref(),
    ) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: {e}", args.file.display());
            return Ok(ExitCode::from(2));
        }
    };
    match args.out {
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let path = dir.join("imported.toml");
            std::fs::write(&path, toml).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{toml}"),
    }
    Ok(ExitCode::SUCCESS)
}
