//! `dualroad translate`: one message through the translation core, as the gateway would
//! translate it. stdout: the translated message (or, when rejected, the SOAP fault the
//! gateway would answer with); stderr: a one-line summary. Exit 0 / 1 rejected / 2 usage.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::translate::{Options, TranslateError, Translator};
use crate::wire::codec::Family;
use crate::wire::message::{Input, DEFAULT_MAX_MESSAGE_BYTES};
use crate::wire::SoapVersion;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Direction {
    /// FILE is a legacy message (request, or with --request a legacy response).
    Uxp,
    /// FILE is a UXP message (request, or with --request a UXP response).
    Legacy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SoapArg {
    #[value(name = "1.1")]
    V11,
    #[value(name = "1.2")]
    V12,
}

#[derive(Debug, Args)]
pub struct TranslateArgs {
    /// Mappings directory (all *.toml files in it are merged).
    #[arg(long, default_value = "mappings")]
    pub mappings: PathBuf,
    /// Target side.
    #[arg(long, value_enum)]
    pub to: Direction,
    /// The original request FILE answers; makes FILE a response.
    #[arg(long, value_name = "ORIGINAL")]
    pub request: Option<PathBuf>,
    /// HTTP Content-Type of FILE (default: text/xml, charset from the XML declaration or UTF-8).
    #[arg(long, value_name = "CT")]
    pub content_type: Option<String>,
    /// HTTP Content-Type of the --request file.
    #[arg(long, value_name = "CT")]
    pub request_content_type: Option<String>,
    /// SOAP version toward UXP for translated requests.
    #[arg(long, value_enum, default_value_t = SoapArg::V11)]
    pub uxp_soap: SoapArg,
    /// Largest message accepted, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_MESSAGE_BYTES)]
    pub max_message_bytes: usize,
    /// The message, or `-` for standard input.
    pub file: PathBuf,
}

fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading standard input")?;
        Ok(buf)
    } else {
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))
    }
}

pub(super) fn run(args: TranslateArgs) -> anyhow::Result<ExitCode> {
    let maps = crate::mapping::load_dir(&args.mappings).map_err(|e| {
        anyhow::anyhow!("mappings in {} are invalid:\n{e}", args.mappings.display())
    })?;
    let file = read_input(&args.file)?;
    let request = args.request.as_deref().map(read_input).transpose()?;
    let opts = Options {
        uxp_soap: match args.uxp_soap {
            SoapArg::V11 => SoapVersion::Soap11,
            SoapArg::V12 => SoapVersion::Soap12,
        },
        max_message_bytes: args.max_message_bytes,
        legacy_dialect: None,
        scan: Default::default(),
    };
    let input = Input::new(&file).with_content_type(args.content_type.as_deref());
    let req_input = request
        .as_deref()
        .map(|r| Input::new(r).with_content_type(args.request_content_type.as_deref()));
    let tr = Translator::new(&maps, opts);
    let result = match (args.to, req_input) {
        (Direction::Uxp, None) => tr.request_to_uxp(input),
        (Direction::Legacy, None) => tr.request_to_legacy(input),
        (Direction::Legacy, Some(req)) => tr.response_to_legacy(input, req),
        (Direction::Uxp, Some(req)) => tr.response_to_uxp(input, req),
    };
    let mut out = std::io::stdout().lock();
    match result {
        Ok(t) => {
            out.write_all(&t.bytes)?;
            out.flush()?;
            eprintln!(
                "dualroad: {}; content-type: {}",
                t.summary(),
                t.content_type
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            // The fault goes to whoever sent the original request.
            let (rescue_input, family) = match (args.to, req_input) {
                (Direction::Uxp, None) => (input, Family::Legacy),
                (Direction::Legacy, None) => (input, Family::Uxp),
                (Direction::Legacy, Some(req)) => (req, Family::Legacy),
                (Direction::Uxp, Some(req)) => (req, Family::Uxp),
            };
            let rescue = opts.rescue_for(rescue_input, family);
            let code = err.fault_code();
            let error_id = uuid::Uuid::new_v4().to_string();
            out.write_all(&rescue.fault_message(&code, &err.to_string(), &error_id))?;
            out.flush()?;
            eprintln!(
                "dualroad: rejected ({} side): {code}: {}",
                err.side(),
                describe(&err)
            );
            Ok(ExitCode::from(1))
        }
    }
}

fn describe(err: &TranslateError) -> String {
    err.to_string()
}
