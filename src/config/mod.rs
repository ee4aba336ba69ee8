//! Configuration: `dualroad.toml` → validated [`Settings`].
//!
//! First thing the gateway does, and again on every reload. Two types, two stages:
//! - [`file`](mod@file): serde types mirroring the file ([`FileConfig`], `DEFAULT_*` constants);
//! - [`settings`]: the runtime form every other module reads ([`Settings`]).
//!
//! In between, `validate` checks the whole file and reports every problem at once, each
//! with file, line and field ([`ConfigErrors`]); `source` maps key paths back to lines.
//! [`Settings::hash`] and [`Settings::diff`] feed the audit log (`store`) on reload;
//! [`Settings::rollout`] is the policy `routing::decide` reads per request.
//!
//! ```no_run
//! # use dualroad::config::Settings;
//! match Settings::from_file("dualroad.toml") {
//!     Ok(settings) => println!("config {}", settings.hash()),
//!     Err(problems) => eprintln!("{problems}"), // every problem, one per line
//! }
//! ```

mod diff;
pub mod error;
pub mod file;
mod resolve;
pub mod security;
pub mod settings;
mod source;
mod validate;

pub use error::{ConfigError, ConfigErrors, ErrorKind};
pub use file::FileConfig;
pub use security::{Cidr, ClientBinding, Fingerprint, ListenerTls, UpstreamTls};
pub use settings::{
    Admin, Limits, Listener, ListenerRole, Scheme, Settings, Stacks, Upstream, UpstreamUrl,
    UrlError,
};
pub use validate::MISSING_FALLBACK;

#[cfg(test)]
mod tests;
