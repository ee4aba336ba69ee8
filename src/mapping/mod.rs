//! Mappings, the shell's half: [`load_dir`] reads `mappings/*.toml` and hands the
//! text to the core (`dualroad_core::mapping`), which parses, validates and owns the
//! tables. Reading is here so that the core never touches a file.

pub use dualroad_core::mapping::*;

use std::ffi::OsStr;
use std::fs;
use std::path::Path;

/// Loads and merges every `*.toml` file directly in `dir` (sorted by file name; hidden
/// files such as editor lock files `.#x.toml` are skipped), validating the whole set.
/// A file that cannot be read is a problem like any other: all are returned together.
pub fn load_dir(dir: &Path) -> Result<Mappings, MappingErrors> {
    let mut problems = Vec::new();
    let whole = |message: String| Problem {
        file: dir.to_path_buf(),
        line: None,
        field: None,
        message,
    };
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            return Err(MappingErrors(vec![whole(format!(
                "cannot read mappings directory: {e}"
            ))]))
        }
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                problems.push(whole(format!("cannot list mappings directory: {e}")));
                continue;
            }
        };
        let path = entry.path();
        // Hidden files are editor artefacts (`.#agencies.toml` lock links, swap files),
        // never part of the table.
        if entry.file_name().to_string_lossy().starts_with('.')
            || path.extension() != Some(OsStr::new("toml"))
        {
            continue;
        }
        // `fs::metadata` follows symlinks, so a linked-in shared file counts.
        match fs::metadata(&path) {
            Ok(m) if m.is_file() => files.push(path),
            Ok(_) => {}
            Err(e) => problems.push(Problem {
                file: path,
                line: None,
                field: None,
                message: format!("cannot read: {e}"),
            }),
        }
    }
    let mut sources = Vec::new();
    for path in files {
        match fs::read(&path).map(String::from_utf8) {
            Ok(Ok(text)) => sources.push((path, text)),
            Ok(Err(e)) => problems.push(Problem {
                file: path,
                line: None,
                field: None,
                message: format!(
                    "not valid UTF-8 (first bad byte at offset {})",
                    e.utf8_error().valid_up_to()
                ),
            }),
            Err(e) => problems.push(Problem {
                file: path,
                line: None,
                field: None,
                message: format!("cannot read: {e}"),
            }),
        }
    }
    Mappings::from_read(dir, sources, problems)
}

#[cfg(test)]
mod tests;
