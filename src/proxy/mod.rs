//! The gateway: listeners, the shared runtime state, reloads and the rollback switch.
//!
//! This is the I/O shell around the pure cores. [`Gateway::start`] binds every listener
//! (consumer and provider roles) and the admin listener, opens the store, and serves
//! until shut down. Runtime state lives in [`Shared`]: the active settings + mappings +
//! upstream clients ([`Active`], swapped atomically on reload) and the rollback switch
//! state (swapped the moment a rollback is durably stored).

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
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{watch, Semaphore};

use crate::store::{ExchangeWriter, RetentionPolicy, WriterConfig};
use tokio::task::JoinSet;

use crate::config::{ListenerRole, Settings};
use crate::mapping::Mappings;
use crate::routing::{SwitchScope, SwitchState};
use crate::store::{Attribution, AuditAction, Store, StoreError};
use crate::telemetry::events::{describe_all, names, ConfigReloaded};
use crate::telemetry::metrics::Metrics;
use crate::translate::Options;
use crate::wire::SoapVersion;

use self::pipeline::ListenerKind;
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
    /// Builds the runtime state for `settings`: mappings loaded, upstream clients built,
    /// TLS certificates loaded (an error names the listener and the file).
    pub fn build(mut settings: Settings, maps: Mappings) -> Result<Active, String> {
        // Rules name agencies and services in either vocabulary; resolve them to UXP
        // identities through these mappings, refusing rules that would fight.
        settings.rollout = crate::routing::resolve::resolve(&settings.rollout, &maps)
            .map_err(|problems| format!("[rollout]: {}", problems.join("; ")))?;
        let mut tls = HashMap::new();
        for l in &settings.listeners {
            if let Some(t) = &l.tls {
                let config = crate::tls::server_config(t)
                    .map_err(|e| format!("listener `{}`: TLS: {e}", l.name))?;
                tls.insert(l.name.clone(), config);
            }
        }
        let cert_facts = crate::tls::cert_facts(&settings);
        let mut upstreams = HashMap::new();
        let mut mirror_upstreams = HashMap::new();
        for (name, u) in &settings.upstreams {
            let c = UpstreamClient::new(u, settings.limits.max_message_bytes)
                .map_err(|e| e.to_string())?;
            upstreams.insert(name.clone(), c);
            let shadow = crate::config::Upstream {
                request_timeout: u.request_timeout.min(settings.shadow.timeout),
                ..u.clone()
            };
            let c = UpstreamClient::new(&shadow, settings.limits.max_message_bytes)
                .map_err(|e| e.to_string())?;
            mirror_upstreams.insert(name.clone(), c);
        }
        let compare = settings
            .compare
            .compile()
            .map_err(|e| format!("[compare]: {e}"))?;
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
    Upstream(String),
}

/// Shared by every connection.
pub struct Shared {
    active: RwLock<Arc<Active>>,
    switch: RwLock<Arc<SwitchState>>,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub config_path: Option<PathBuf>,
    /// The exchange writer, mirror capacity and learned noise.
    pub shadow: mirror::ShadowRuntime,
    /// The automatic gate's windows.
    pub gates: gate::Gates,
    /// Serialises reloads and switch changes (each writes the audit log).
    change: tokio::sync::Mutex<()>,
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
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
            at_unix_ms: now_ms(),
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
    pub async fn reload(&self, actor: &str) -> Result<Vec<String>, String> {
        let Some(path) = self.config_path.clone() else {
            return Err("this gateway was started without a config file; nothing to reload".into());
        };
        let result = match Settings::from_file(&path) {
            Ok(s) => self.apply(s, None, actor, "config file reloaded").await,
            Err(e) => Err(format!("{}: invalid configuration:\n{e}", path.display())),
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
            Err(e) => ("refused", e.clone()),
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
    ) -> Result<Vec<String>, String> {
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
            return Err("listeners, [admin], data_dir, [store] and shadow.concurrency cannot change on reload; restart dualroad for that".into());
        }
        let maps = match maps {
            Some(m) => m,
            None => Mappings::load_dir(&new.mappings)
                .map_err(|e| format!("mappings in {} are invalid:\n{e}", new.mappings.display()))?,
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
            at_unix_ms: now_ms(),
            config_hash: active.settings.hash(),
        };
        self.store
            .append_audit(AuditAction::ConfigReload, &by, diff.clone())
            .map_err(|e| {
                format!("could not record the change in the audit log, so it was not applied: {e}")
            })?;
        write_lock(&self.active, Arc::new(active));
        self.gates.clear();
        Ok(diff)
    }
}

fn short(h: &str) -> &str {
    h.get(..12).unwrap_or(h)
}

/// A running gateway.
pub struct Gateway {
    pub shared: Arc<Shared>,
    /// Bound address of each SOAP listener, by name (port 0 in the config is resolved).
    pub listeners: Vec<(String, SocketAddr)>,
    pub admin: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Gateway {
    /// Opens the store, builds the runtime state and binds every listener.
    pub async fn start(
        settings: Settings,
        maps: Option<Mappings>,
        config_path: Option<PathBuf>,
    ) -> Result<Gateway, StartError> {
        let store = Store::open_with_cache(&settings.data_dir, settings.store.cache_bytes)?;
        let switch = store.switch_state()?;
        let maps = match maps {
            Some(m) => m,
            None => Mappings::load_dir(&settings.mappings).map_err(|e| StartError::Mappings {
                dir: settings.mappings.display().to_string(),
                errors: e.to_string(),
            })?,
        };
        let metrics = Arc::new(Metrics::new());
        describe_all(&metrics);
        let by = Attribution {
            actor: "dualroad-serve".into(),
            reason: "gateway started".into(),
            at_unix_ms: now_ms(),
            config_hash: settings.hash(),
        };
        store.append_audit(
            AuditAction::Startup,
            &by,
            vec![format!("mappings {}", short(&maps.fingerprint()))],
        )?;
        let active = Active::build(settings.clone(), maps).map_err(StartError::Upstream)?;
        let exchanges = store.exchanges();
        let redactor = exchanges.redactor(&settings.store.redaction)?;
        let s = &settings.store;
        let writer = ExchangeWriter::start(
            exchanges.clone(),
            redactor,
            WriterConfig {
                queue_capacity: s.queue_capacity,
                flush_interval: s.flush_interval,
                retention: RetentionPolicy {
                    max_age: s.max_age,
                    max_bytes: s.max_bytes,
                },
                max_body_bytes: s.max_body_bytes,
                ..WriterConfig::default()
            },
            Arc::new(now_ms),
        );
        let shadow = mirror::ShadowRuntime::new(writer, exchanges, settings.shadow.concurrency);
        let shared = Arc::new(Shared {
            active: RwLock::new(Arc::new(active)),
            switch: RwLock::new(Arc::new(switch.clone())),
            store,
            metrics,
            config_path,
            shadow,
            gates: gate::Gates::default(),
            change: tokio::sync::Mutex::new(()),
        });
        shared.publish_switch_metrics(&switch);
        if !switch.entries.is_empty() {
            tracing::warn!(
                entries = switch.entries.len(),
                "Rollback switch in effect from before the restart."
            );
        }
        let (tx, rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let mut bound = Vec::new();
        for l in &settings.listeners {
            let conn_slots = Arc::new(Semaphore::new(settings.limits.max_connections));
            let listener = tokio::net::TcpListener::bind(l.listen)
                .await
                .map_err(|source| StartError::Bind {
                    name: l.name.clone(),
                    addr: l.listen,
                    source,
                })?;
            let addr = listener.local_addr().map_err(|source| StartError::Bind {
                name: l.name.clone(),
                addr: l.listen,
                source,
            })?;
            let kind = match &l.role {
                ListenerRole::Consumer => ListenerKind::Consumer,
                ListenerRole::Provider { upstream } => ListenerKind::Provider {
                    upstream: upstream.clone(),
                },
            };
            tracing::info!(listener = %l.name, %addr, "Listening.");
            bound.push((l.name.clone(), addr));
            tasks.spawn(server::serve_soap(
                listener,
                shared.clone(),
                l.name.clone(),
                kind,
                conn_slots.clone(),
                rx.clone(),
            ));
        }
        let admin_listener = tokio::net::TcpListener::bind(settings.admin.listen)
            .await
            .map_err(|source| StartError::Bind {
                name: "admin".into(),
                addr: settings.admin.listen,
                source,
            })?;
        let admin = admin_listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                name: "admin".into(),
                addr: settings.admin.listen,
                source,
            })?;
        tracing::info!(%admin, "Admin listening.");
        tasks.spawn(crate::admin::serve(
            admin_listener,
            shared.clone(),
            rx.clone(),
        ));
        Ok(Gateway {
            shared,
            listeners: bound,
            admin,
            shutdown: tx,
            tasks,
        })
    }

    /// Address of the first listener of the given role name, for tests and the demo.
    pub fn addr(&self, listener: &str) -> Option<SocketAddr> {
        self.listeners
            .iter()
            .find(|(n, _)| n == listener)
            .map(|(_, a)| *a)
    }

    /// Stops accepting, lets in-flight requests finish (up to the grace period), then
    /// flushes the store.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        let drain = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(DEFAULT_SHUTDOWN_GRACE + Duration::from_secs(1), drain)
            .await
            .is_err()
        {
            tracing::warn!("Shutdown grace period over; abandoning remaining connections.");
            self.tasks.abort_all();
        }
        // Shadow copies still running finish (within their timeout) so their records
        // are written; then the writer drains its queue and flushes.
        let shadow = &self.shared.shadow;
        let wait = self.shared.active().settings.shadow.timeout + Duration::from_secs(1);
        if tokio::time::timeout(wait, shadow.idle()).await.is_err() {
            tracing::warn!("Shadow copies still running at shutdown; their records are lost.");
        }
        shadow.save_noise();
        let stats = shadow.writer.shutdown().await;
        tracing::info!(
            exchanges = stats.written.exchanges,
            dropped = stats.dropped.exchanges,
            "Exchange store closed."
        );
        if let Err(e) = self.shared.store.flush() {
            tracing::error!("Store flush at shutdown failed: {e}");
        }
    }

    /// Runs until SIGTERM/SIGINT; reloads on SIGHUP.
    pub async fn run_until_signal(self) {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut term), Ok(mut hup)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::hangup()),
            ) else {
                tracing::error!("cannot install signal handlers; stopping");
                return self.shutdown().await;
            };
            loop {
                tokio::select! {
                    _ = term.recv() => break,
                    _ = tokio::signal::ctrl_c() => break,
                    _ = hup.recv() => {
                        let _ = self.shared.reload("SIGHUP").await;
                    }
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("Shutting down: finishing in-flight requests.");
        self.shutdown().await;
    }
}
