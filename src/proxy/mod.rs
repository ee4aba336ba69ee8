//! The proxy: the SOAP listeners' request path, the shared runtime state, reloads and
//! the rollback switch.
//!
//! This is the I/O shell around the pure cores; `crate::gateway` starts it. Runtime
//! state lives in [`Shared`]: the active settings + mappings + upstream clients
//! ([`Active`], swapped atomically on reload) and the rollback switch state (swapped
//! the moment a rollback is durably stored).

pub mod copy;
pub mod error;
pub mod gate;
pub mod identity;
pub mod mirror;
pub mod pipeline;
pub mod respond;
pub mod server;
pub mod upstream;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::clock::Clock;
use crate::config::{ConfigErrors, ListenerRole, Settings};
use crate::mapping::{MappingErrors, Mappings};
use crate::routing::{SwitchScope, SwitchState};
use crate::store::{Attribution, AuditAction, Store, StoreError};
use crate::telemetry::events::{names, ConfigReloaded};
use crate::telemetry::metrics::Metrics;
use crate::translate::{Options, Translator};
use crate::wire::SoapVersion;

use self::upstream::UpstreamClient;

/// How long a graceful shutdown waits for in-flight requests.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// What a request needs, swapped as one unit on reload.
#[derive(Debug)]
pub struct Active {
    pub settings: Settings,
    pub maps: Mappings,
    pub upstreams: HashMap<String, UpstreamClient>,
    /// The mirror's own clients (own pools, `shadow.timeout_ms`), by upstream name.
    pub mirror_upstreams: HashMap<String, UpstreamClient>,
    pub opts: Options,
    /// `[compare]`, compiled.
    pub compare: crate::shadow::Rules,
    /// rustls server configs of the HTTPS listeners, by listener name; read per
    /// connection, so a reload's new certificates serve the next handshake.
    pub tls: HashMap<String, Arc<rustls::ServerConfig>>,
    /// `(what, sha256)` of every configured certificate, for reload diffs.
    pub cert_facts: Vec<(String, String)>,
}

impl Active {
    /// The translator of these mappings and options.
    pub fn translator(&self) -> Translator<'_> {
        Translator::new(&self.maps, self.opts)
    }

    /// Builds the runtime state for `settings`: mappings loaded, upstream clients built,
    /// TLS certificates loaded (an error names the listener and the file).
    pub fn build(mut settings: Settings, maps: Mappings) -> Result<Active, BuildError> {
        // Rules name agencies and services in either vocabulary; resolve them to UXP
        // identities through these mappings, refusing rules that would fight.
        settings.rollout = crate::routing::resolve::resolve(&settings.rollout, &maps)
            .map_err(BuildError::Rollout)?;
        let mut tls = HashMap::new();
        for l in &settings.listeners {
            if let Some(t) = &l.tls {
                let config = crate::tls::server_config(t).map_err(|source| BuildError::Tls {
                    listener: l.name.clone(),
                    source,
                })?;
                tls.insert(l.name.clone(), config);
            }
        }
        let cert_facts = cert_facts(&settings);
        let mut upstreams = HashMap::new();
        let mut mirror_upstreams = HashMap::new();
        for (name, u) in &settings.upstreams {
            let client_error = |source| BuildError::Upstream {
                upstream: name.clone(),
                source,
            };
            let c =
                UpstreamClient::new(u, settings.limits.max_message_bytes).map_err(client_error)?;
            upstreams.insert(name.clone(), c);
            let shadow = crate::config::Upstream {
                request_timeout: u.request_timeout.min(settings.shadow.timeout),
                ..u.clone()
            };
            let c = UpstreamClient::new(&shadow, settings.limits.max_message_bytes)
                .map_err(client_error)?;
            mirror_upstreams.insert(name.clone(), c);
        }
        let compare = settings.compare.compile().map_err(BuildError::Compare)?;
        let uxp_soap = settings
            .stacks
            .as_ref()
            .and_then(|s| settings.upstreams.get(&s.uxp))
            .map(|u| u.soap_version)
            .unwrap_or(SoapVersion::Soap11);
        let opts = Options {
            uxp_soap,
            max_message_bytes: settings.limits.max_message_bytes as usize,
            legacy_dialect: None,
            scan: settings.limits.scan,
        };
        Ok(Active {
            settings,
            maps,
            upstreams,
            mirror_upstreams,
            opts,
            compare,
            tls,
            cert_facts,
        })
    }
}

/// Errors that stop the gateway from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("mappings in {dir} are invalid:\n{errors}")]
    Mappings { dir: String, errors: String },
    #[error("cannot listen on {addr} (listener `{name}`): {source}")]
    Bind {
        name: String,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Build(#[from] BuildError),
}

/// Why [`Active::build`] refused settings and mappings (at start or on reload).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// `[rollout]` rules that fight once resolved through the mappings.
    #[error("[rollout]: {0}")]
    Rollout(crate::routing::resolve::RuleConflicts),
    /// A listener's certificate, key or client CAs could not be loaded.
    #[error("listener `{listener}`: TLS: {source}")]
    Tls {
        listener: String,
        #[source]
        source: crate::tls::TlsError,
    },
    /// An upstream's HTTP client (its TLS settings) could not be built.
    #[error("{source}")]
    Upstream {
        upstream: String,
        #[source]
        source: self::upstream::UpstreamError,
    },
    /// `[compare]` rules that do not compile.
    #[error("[compare]: {0}")]
    Compare(crate::shadow::ConfigError),
}

/// Why a reload (or an [`Shared::apply`]) was refused; the old configuration stays in
/// force.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("this gateway was started without a config file; nothing to reload")]
    NoConfigFile,
    #[error("{}: invalid configuration:\n{errors}", path.display())]
    Config { path: PathBuf, errors: ConfigErrors },
    #[error("listeners, [admin], data_dir, [store] and shadow.concurrency cannot change on reload; restart dualroad for that")]
    NeedsRestart,
    #[error("mappings in {} are invalid:\n{errors}", dir.display())]
    Mappings { dir: PathBuf, errors: MappingErrors },
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("could not record the change in the audit log, so it was not applied: {0}")]
    Audit(StoreError),
}

/// `(what, sha256)` of every certificate the settings name (listener certificates and
/// client CAs, upstream CAs and client certificates), so a reload can say which
/// certificate changed even when the paths stayed the same.
fn cert_facts(settings: &Settings) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut add = |what: String, path: &Path| {
        out.push((
            what,
            crate::tls::cert_fingerprint_hex(path).unwrap_or_else(|| "unreadable".into()),
        ));
    };
    for l in &settings.listeners {
        if let Some(t) = &l.tls {
            add(format!("listener {}: tls cert", l.name), &t.cert);
            if let Some(ca) = &t.client_ca {
                add(format!("listener {}: tls client_ca", l.name), ca);
            }
        }
    }
    for (name, u) in &settings.upstreams {
        if let Some(t) = &u.tls {
            add(format!("upstream {name}: tls ca"), &t.ca);
            if let Some(c) = &t.client_cert {
                add(format!("upstream {name}: tls client_cert"), c);
            }
        }
    }
    out
}

/// Shared by every connection.
pub struct Shared {
    active: RwLock<Arc<Active>>,
    switch: RwLock<Arc<SwitchState>>,
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    pub config_path: Option<PathBuf>,
    /// The exchange writer, mirror capacity and learned noise.
    pub shadow: mirror::ShadowRuntime,
    /// The automatic gate's windows.
    pub gates: gate::Gates,
    /// Serialises reloads and switch changes (each writes the audit log).
    change: tokio::sync::Mutex<()>,
    /// The one wall clock (`crate::clock`).
    clock: Clock,
}

fn read_lock<T: Clone>(l: &RwLock<T>) -> T {
    match l.read() {
        Ok(g) => g.clone(),
        Err(p) => p.into_inner().clone(),
    }
}

fn write_lock<T>(l: &RwLock<T>, v: T) {
    match l.write() {
        Ok(mut g) => *g = v,
        Err(p) => *p.into_inner() = v,
    }
}

impl Shared {
    /// The state of a gateway that starts with `active` and the stored `switch`.
    pub fn new(
        active: Active,
        switch: SwitchState,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        config_path: Option<PathBuf>,
        shadow: mirror::ShadowRuntime,
        clock: Clock,
    ) -> Shared {
        let shared = Shared {
            active: RwLock::new(Arc::new(active)),
            switch: RwLock::new(Arc::new(switch.clone())),
            store,
            metrics,
            config_path,
            shadow,
            gates: gate::Gates::default(),
            change: tokio::sync::Mutex::new(()),
            clock,
        };
        shared.publish_switch_metrics(&switch);
        shared
    }

    /// Now, in Unix milliseconds, from the injected clock.
    pub fn now_ms(&self) -> u64 {
        (self.clock)()
    }

    /// The injected clock, for tasks that outlive a borrow of `self`.
    pub fn clock(&self) -> Clock {
        self.clock.clone()
    }

    pub fn active(&self) -> Arc<Active> {
        read_lock(&self.active)
    }

    pub fn switch(&self) -> Arc<SwitchState> {
        read_lock(&self.switch)
    }

    fn publish_switch_metrics(&self, s: &SwitchState) {
        self.metrics.clear_gauge(names::SWITCH_ACTIVE);
        self.metrics
            .set(names::SWITCH_ACTIVE, &[], s.entries.len() as f64);
        for e in &s.entries {
            self.metrics.set(
                names::SWITCH_ACTIVE,
                &[
                    ("agency", e.agency.as_deref().unwrap_or("*")),
                    ("service", e.service.as_deref().unwrap_or("*")),
                ],
                1.0,
            );
        }
    }

    fn attribution(&self, actor: &str, reason: &str) -> Attribution {
        Attribution {
            actor: actor.to_string(),
            reason: reason.to_string(),
            at_unix_ms: self.now_ms(),
            config_hash: self.active().settings.hash(),
        }
    }

    /// Forces matching traffic to the legacy stack. Durable (stored and flushed) before
    /// it takes effect, so an acknowledged rollback survives a crash; in effect for
    /// every routing decision after this returns.
    pub async fn rollback(
        &self,
        scope: SwitchScope,
        actor: &str,
        reason: &str,
    ) -> Result<SwitchState, StoreError> {
        self.change_switch(true, scope, actor, reason).await
    }

    /// Lifts the rollback stored for exactly `scope`.
    pub async fn release(
        &self,
        scope: SwitchScope,
        actor: &str,
        reason: &str,
    ) -> Result<SwitchState, StoreError> {
        self.change_switch(false, scope, actor, reason).await
    }

    async fn change_switch(
        &self,
        rollback: bool,
        scope: SwitchScope,
        actor: &str,
        reason: &str,
    ) -> Result<SwitchState, StoreError> {
        let _g = self.change.lock().await;
        let by = self.attribution(actor, reason);
        let state = if rollback {
            self.store.rollback(scope, &by)?
        } else {
            self.store.release(scope, &by)?
        };
        write_lock(&self.switch, Arc::new(state.clone()));
        self.publish_switch_metrics(&state);
        let what = if rollback { "applied" } else { "released" };
        tracing::warn!(
            actor,
            reason,
            entries = state.entries.len(),
            "Rollback switch {what}."
        );
        Ok(state)
    }

    /// Re-reads the config file (and its mappings) and swaps them in. An invalid new
    /// configuration is refused with every reason; the old one stays in force.
    pub async fn reload(&self, actor: &str) -> Result<Vec<String>, ReloadError> {
        let Some(path) = self.config_path.clone() else {
            return Err(ReloadError::NoConfigFile);
        };
        let result = match Settings::from_file(&path) {
            Ok(s) => self.apply(s, None, actor, "config file reloaded").await,
            Err(errors) => Err(ReloadError::Config { path, errors }),
        };
        let (outcome, detail) = match &result {
            Ok(diff) => (
                "ok",
                if diff.is_empty() {
                    "no changes".to_string()
                } else {
                    diff.join("; ")
                },
            ),
            Err(e) => ("refused", e.to_string()),
        };
        ConfigReloaded {
            outcome,
            detail: &detail,
        }
        .emit(&self.metrics);
        result
    }

    /// Swaps in new settings (and mappings, loaded from `settings.mappings` unless
    /// given), recording the change with its diff in the audit log.
    pub async fn apply(
        &self,
        new: Settings,
        maps: Option<Mappings>,
        actor: &str,
        reason: &str,
    ) -> Result<Vec<String>, ReloadError> {
        let _g = self.change.lock().await;
        let old = self.active();
        // TLS settings of a listener may change (new certificates); its address and
        // role may not.
        let bound = |s: &Settings| -> Vec<(String, SocketAddr, ListenerRole)> {
            s.listeners
                .iter()
                .map(|l| (l.name.clone(), l.listen, l.role.clone()))
                .collect()
        };
        if bound(&new) != bound(&old.settings)
            || new.admin != old.settings.admin
            || new.data_dir != old.settings.data_dir
            || new.store != old.settings.store
            || new.shadow.concurrency != old.settings.shadow.concurrency
        {
            return Err(ReloadError::NeedsRestart);
        }
        let maps = match maps {
            Some(m) => m,
            None => {
                crate::mapping::load_dir(&new.mappings).map_err(|errors| ReloadError::Mappings {
                    dir: new.mappings.clone(),
                    errors,
                })?
            }
        };
        let mut diff = old.settings.diff(&new);
        if maps.fingerprint() != old.maps.fingerprint() {
            diff.push(format!(
                "mappings: {} → {}",
                short(&old.maps.fingerprint()),
                short(&maps.fingerprint())
            ));
        }
        let active = Active::build(new, maps)?;
        diff.extend(crate::tls::cert_changes(
            &old.cert_facts,
            &active.cert_facts,
        ));
        let by = Attribution {
            actor: actor.to_string(),
            reason: reason.to_string(),
            at_unix_ms: self.now_ms(),
            config_hash: active.settings.hash(),
        };
        self.store
            .append_audit(AuditAction::ConfigReload, &by, diff.clone())
            .map_err(ReloadError::Audit)?;
        write_lock(&self.active, Arc::new(active));
        self.gates.clear();
        Ok(diff)
    }
}

pub(crate) fn short(h: &str) -> &str {
    h.get(..12).unwrap_or(h)
}
