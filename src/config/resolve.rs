//! Entry points: a file or a string in, [`Settings`] or every problem out.
//!
//! Pipeline: read → TOML syntax → key positions ([`SourceMap`]) → [`FileConfig`] →
//! `validate`. Each step that fails still returns errors with file and line; only a
//! syntax error (nothing reliable left to check) or a top-level schema error (serde
//! cannot continue past it) ends the check early.

use std::path::Path;

use super::error::{ConfigError, ConfigErrors, ErrorKind};
use super::file::FileConfig;
use super::settings::Settings;
use super::source::{FieldPath, SourceMap};
use super::validate::{validate, Checker};

impl Settings {
    /// Loads and validates a config file. Relative `data_dir` and `mappings` resolve
    /// against the file's directory, so a service started from `/` finds the same
    /// directories as an operator in the checkout.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Settings, ConfigErrors> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors::new(
                &name,
                vec![ConfigError {
                    file: name.clone(),
                    line: None,
                    field: String::new(),
                    kind: ErrorKind::Io,
                    message: format!("cannot read the config file: {e}"),
                }],
            )
        })?;
        load(&name, &text, path.parent())
    }

    /// Validates config text; `name` labels the errors. Relative paths stay as written
    /// (relative to the process's working directory).
    pub fn from_str(name: &str, text: &str) -> Result<Settings, ConfigErrors> {
        load(name, text, None)
    }
}

fn load(name: &str, text: &str, base: Option<&Path>) -> Result<Settings, ConfigErrors> {
    let map = SourceMap::new(text);
    let single = |kind, e: &toml::de::Error, field: String| {
        let line = e.span().map(|s| map.line_of_offset(s.start));
        ConfigErrors::new(
            name,
            vec![ConfigError {
                file: name.to_string(),
                line,
                field,
                kind,
                message: e.message().trim_end().to_string(),
            }],
        )
    };

    if let Err(e) = text.parse::<toml::Table>() {
        return Err(single(ErrorKind::Syntax, &e, String::new()));
    }
    let file: FileConfig = match toml::from_str(text) {
        Ok(f) => f,
        Err(e) => {
            // Only top-level problems get here (everything below is `Lenient`), and
            // toml keeps the key path out of `message()`: name the key from the text.
            let field = e
                .message()
                .strip_prefix("unknown field `")
                .and_then(|rest| rest.split_once('`'))
                .map(|(k, _)| k.to_string())
                .or_else(|| e.span().and_then(|s| SourceMap::key_near(text, &s)))
                .unwrap_or_default();
            return Err(single(ErrorKind::Schema, &e, field));
        }
    };
    let mut checker = Checker::new(name, &map);
    let settings = validate(&file, base, &mut checker);
    match settings {
        Some(s) if checker.errors.is_empty() => Ok(s),
        _ => {
            let mut errors = checker.errors;
            if errors.is_empty() {
                // validate returns None only after reporting; keep the contract
                // "Err is never empty" even if that invariant breaks.
                errors.push(ConfigError {
                    file: name.to_string(),
                    line: None,
                    field: FieldPath::root().to_string(),
                    kind: ErrorKind::Invalid,
                    message: "configuration rejected without a specific problem (internal error; please report)".into(),
                });
            }
            Err(ConfigErrors::new(name, errors))
        }
    }
}
