//! Starting and stopping a node: open the store, load every tenant, make the first operator key, listen for
//! other nodes' changes, serve until SIGTERM or SIGINT, then finish the requests in flight.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use entitle_core::Catalog;

use crate::auth::{Principal, Role};
use crate::config::Config;
use crate::keys::{KeySpec, create};
use crate::meter::UsageMeter;
use crate::state::AppState;
use crate::store::{self, KeyIf, Notice, redact};

/// Why a node did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database `{url}`: {error}")]
    Store { url: String, error: store::StoreError },
    #[error("--listen / ENTITLE_LISTEN: cannot listen on {addr}: {error}")]
    Bind { addr: SocketAddr, error: std::io::Error },
    #[error("embedded catalog: {0}")]
    Catalog(String),
}

/// A node that is serving.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    /// The operator key made on this start, if one was (its secret is shown once).
    pub new_operator_key: Option<String>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops accepting, finishes what is in flight, and returns.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.await.unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }

    /// Waits until the server stops (on a signal, with [`serve_until_signal`]).
    pub async fn wait(self) -> std::io::Result<()> {
        self.task.await.unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }
}

fn catalogs() -> Result<HashMap<String, Arc<Catalog>>, StartError> {
    let mut out = HashMap::new();
    for name in ["seed", "current"] {
        if let Some(c) = Catalog::edition(name) {
            out.insert(
                name.to_owned(),
                Arc::new(c.map_err(|e| StartError::Catalog(e.to_string()))?),
            );
        }
    }
    Ok(out)
}

/// Starts a node; it serves until [`Running::stop`], or a signal if `on_signal`.
pub async fn start(config: &Config, on_signal: bool) -> Result<Running, StartError> {
    let url = config.database_url();
    let store_err = |error| StartError::Store {
        url: redact(&url),
        error,
    };
    let store = store::open(&url).await.map_err(store_err)?;
    let meter = match &config.redis_url {
        Some(url) => UsageMeter::shared(
            url,
            &config.redis_prefix,
            config.redis_failure,
            std::time::Duration::from_millis(config.redis_timeout_ms),
        ),
        None => UsageMeter::local(store.as_ref(), now()).await,
    };
    let state = Arc::new(
        AppState::new(
            Arc::clone(&store),
            catalogs()?,
            config.catalog.clone(),
            config.today,
            meter,
        )
        .await
        .map_err(store_err)?,
    );
    // The first start makes the operator key: ENTITLE_ADMIN_KEY, or a random one printed once.
    let spec = KeySpec {
        role: Role::Operator,
        environments: vec![],
        user: None,
        name: Some("first operator".into()),
    };
    // ENTITLE_ADMIN_KEY is brought into the store whatever keys other nodes made (two nodes starting together on
    // an empty database must not leave the configured key out), but never brought back once revoked.
    let only_if = if config.admin_key.is_some() {
        KeyIf::NewSecret
    } else {
        KeyIf::NoKeys
    };
    let made = create(
        store.as_ref(),
        &Principal::system().key_id,
        None,
        &spec,
        config.admin_key.clone(),
        only_if,
    )
    .await
    .map_err(store_err)?;
    if let (Some(secret), None) = (&config.admin_key, &made) {
        let hash = crate::auth::hash_secret(secret);
        let keys = store.keys().await.map_err(store_err)?;
        if keys.iter().any(|k| k.hash == hash && k.revoked) {
            tracing::warn!(
                "ENTITLE_ADMIN_KEY names a key that was revoked; it stays revoked and opens nothing"
            );
        }
    }
    let new_operator_key = made.map(|k| k.key);
    state.reload_keys().await.map_err(store_err)?;

    let notices = store.listen().await.map_err(store_err)?;
    if notices.is_none() {
        // No notices (SQLite): `entitle key create|revoke` on the same file changes keys behind this node's
        // back. Re-reading them every second bounds how long a revoked key keeps working.
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tick.tick().await;
                if let Err(e) = state.reload_keys().await {
                    tracing::warn!(error = %e, "re-reading the keys failed");
                }
            }
        });
    }
    if let Some(mut notices) = notices {
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            while let Some(n) = notices.recv().await {
                let done = match &n {
                    Notice::Tenant(id) if id == "*" => match state.reload_all().await {
                        Ok(()) => state.reload_keys().await,
                        e => e,
                    },
                    // A deleted tenant took its keys with it.
                    Notice::Tenant(id) => match state.reload(id).await {
                        Ok(()) if !state.tenants.load().contains_key(id) => state.reload_keys().await,
                        done => done,
                    },
                    Notice::Keys => state.reload_keys().await,
                };
                state.metrics.notices.inc();
                if let Err(e) = done {
                    tracing::warn!(error = %e, notice = ?n, "applying another node's change failed");
                }
            }
        });
    }

    // The local meter's counts reach the store every second (a crash loses at most that) and at shutdown.
    let saver = {
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tick.tick().await;
                state.meter.save(state.store.as_ref(), now()).await;
            }
        })
    };

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|error| StartError::Bind {
            addr: config.listen,
            error,
        })?;
    let addr = listener.local_addr().map_err(|error| StartError::Bind {
        addr: config.listen,
        error,
    })?;
    // Answers are small and latency-bound: send them at once (no Nagle).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    let app = crate::routes::router(Arc::clone(&state), config.max_body_bytes);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let final_state = Arc::clone(&state);
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                if on_signal {
                    tokio::select! {
                        _ = rx => {}
                        () = signal() => {}
                    }
                } else {
                    let _ = rx.await;
                }
                tracing::info!("shutting down: finishing requests in flight");
            })
            .await;
        saver.abort();
        final_state.meter.save(final_state.store.as_ref(), now()).await;
        served
    });
    tracing::info!(%addr, store = store.backend(), tenants = state.tenants.load().len(), "entitle serving");
    Ok(Running {
        addr,
        state,
        new_operator_key,
        shutdown: Some(tx),
        task,
    })
}

fn now() -> u64 {
    u64::try_from(store::now_ms()).unwrap_or(0)
}

async fn signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
