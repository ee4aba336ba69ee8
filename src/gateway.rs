//! The running gateway: opens the store, builds the runtime state ([`Shared`]), binds
//! every SOAP listener (`proxy::server`) and the admin listener (`admin`), and serves
//! until shut down or signalled. The top of the shell: it knows every part, none of
//! them knows it (so the admin API and the proxy do not import each other).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::clock::Clock;
use crate::config::{ListenerRole, Settings};
use crate::mapping::Mappings;
use std::time::Duration;

use crate::proxy::pipeline::ListenerKind;
use crate::proxy::{mirror, server, Active, Shared, StartError, DEFAULT_SHUTDOWN_GRACE};
use crate::store::{
    Attribution, AuditAction, ExchangeWriter, RetentionPolicy, SledStore, Store, WriterConfig,
};
use crate::telemetry::events::describe_all;
use crate::telemetry::metrics::Metrics;

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
    /// Opens the store, builds the runtime state and binds every listener. `clock` is
    /// the one wall clock every timestamp comes from (`crate::clock::system()` in
    /// production).
    pub async fn start(
        settings: Settings,
        maps: Option<Mappings>,
        config_path: Option<PathBuf>,
        clock: Clock,
    ) -> Result<Gateway, StartError> {
        let store: Arc<dyn Store> = Arc::new(SledStore::open_with_cache(
            &settings.data_dir,
            settings.store.cache_bytes,
        )?);
        let switch = store.switch_state()?;
        let maps = match maps {
            Some(m) => m,
            None => {
                crate::mapping::load_dir(&settings.mappings).map_err(|e| StartError::Mappings {
                    dir: settings.mappings.display().to_string(),
                    errors: e.to_string(),
                })?
            }
        };
        let metrics = Arc::new(Metrics::new());
        describe_all(&metrics);
        let by = Attribution {
            actor: "dualroad-serve".into(),
            reason: "gateway started".into(),
            at_unix_ms: clock(),
            config_hash: settings.hash(),
        };
        store.append_audit(
            AuditAction::Startup,
            &by,
            vec![format!(
                "mappings {}",
                crate::proxy::short(&maps.fingerprint())
            )],
        )?;
        let active = Active::build(settings.clone(), maps)?;
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
            clock.clone(),
        );
        let shadow = mirror::ShadowRuntime::new(writer, exchanges, settings.shadow.concurrency);
        let shared = Arc::new(Shared::new(
            active,
            switch.clone(),
            store,
            metrics,
            config_path,
            shadow,
            clock,
        ));
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
                settings.limits.max_connections,
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
