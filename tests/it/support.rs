//! Shared test helpers: the fixture manifest and mapping sets.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use dualroad::mapping::Mappings;

/// The longest a test waits for an event before it fails: a hang guard, never a timing
/// assertion (on a busy 2-core machine an event may take seconds; it must come).
pub(crate) const HANG_GUARD: Duration = Duration::from_secs(20);

/// Re-checks `cond` until it holds or [`HANG_GUARD`] passes, and returns its last value
/// for the caller to assert on. Only for events nothing announces (a metric counter, a
/// record in the store, the switch state); where the code or a stub offers a
/// notification, wait on that instead (`Stub::hits_reach`).
pub(crate) async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    eventually_async(|| std::future::ready(cond())).await
}

/// [`eventually`] for a check that has to await (a connection, a request).
pub(crate) async fn eventually_async<F: std::future::Future<Output = bool>>(
    mut cond: impl FnMut() -> F,
) -> bool {
    let deadline = tokio::time::Instant::now() + HANG_GUARD;
    loop {
        if cond().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One `[[case]]` of `fixtures/cases.toml`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Case {
    pub name: String,
    pub file: String,
    pub content_type: Option<String>,
    pub to: String,
    pub kind: String,
    pub request: Option<String>,
    pub mappings: Option<String>,
    pub expect: String,
    pub fault_code: Option<String>,
    #[serde(default)]
    pub wrapper_renamed: bool,
    pub notes: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct Manifest {
    case: Vec<Case>,
}

pub(crate) fn cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        let path = repo().join("fixtures/cases.toml");
        let text = std::fs::read_to_string(&path).expect("fixtures/cases.toml");
        let m: Manifest = toml::from_str(&text).expect("cases.toml parses");
        m.case
    })
}

impl Case {
    pub(crate) fn bytes(&self) -> Vec<u8> {
        std::fs::read(repo().join("fixtures").join(&self.file))
            .unwrap_or_else(|e| panic!("{}: {e}", self.file))
    }

    pub(crate) fn request_bytes(&self) -> Option<Vec<u8>> {
        self.request.as_ref().map(|r| {
            std::fs::read(repo().join("fixtures").join(r)).unwrap_or_else(|e| panic!("{r}: {e}"))
        })
    }

    /// The Content-Type the manifest gives the request file (as its own case).
    pub(crate) fn request_content_type(&self) -> Option<String> {
        let r = self.request.as_ref()?;
        cases()
            .iter()
            .find(|c| &c.file == r)
            .and_then(|c| c.content_type.clone())
    }

    pub(crate) fn mappings_dir(&self) -> PathBuf {
        repo().join(self.mappings.as_deref().unwrap_or("mappings"))
    }
}

pub(crate) fn mappings(dir: &Path) -> &'static Mappings {
    static CACHE: OnceLock<std::sync::Mutex<HashMap<PathBuf, &'static Mappings>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut guard = cache.lock().unwrap();
    guard.entry(dir.to_path_buf()).or_insert_with(|| {
        let m =
            dualroad::mapping::load_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        Box::leak(Box::new(m))
    })
}
