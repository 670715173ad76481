//! Starting and stopping a node: open the store, load every tenant, make the first operator key, listen for
//! other nodes' changes, serve until SIGTERM or SIGINT, then finish the requests in flight (within a grace).
//!
//! Connections are served by our own accept loop over hyper rather than `axum::serve`, which has no timeouts
//! and no cap: a slow or idle client would hold a connection (and a file descriptor) for good, and one
//! half-sent request would hold a shutdown forever. Here every connection is timed by a watchdog in its own
//! task (the request head from its first byte, the body, the idle time between requests), the number open is
//! capped below the descriptor limit, and a stop closes what is still open after the grace.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::http::Request;
use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

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
    #[error("{0}")]
    Mail(String),
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
    let mut state = AppState::new(
        Arc::clone(&store),
        catalogs()?,
        config.catalog.clone(),
        config.today,
        meter,
        config.memory_budget,
    )
    .await
    .map_err(store_err)?;
    // Several nodes count consumption in the Redis they share the request meter in (keys of their own prefix).
    if let Some(url) = &config.redis_url {
        let timeout = std::time::Duration::from_millis(config.redis_timeout_ms);
        state.consumption =
            crate::consumption::Ledgers::shared(url, format!("{}ledger:", config.redis_prefix), timeout)
                .await;
    }
    state.webhooks_allow_private = config.webhooks_allow_private;
    let state = Arc::new(state);
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
                        Ok(()) if !state.exists(id) => state.reload_keys().await,
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

    // The tenants' jobs (issue 14): each node looks every --jobs-interval; a lease per tenant keeps nodes from
    // doing the same day at once, and each day commits once (the tenant's version) whoever does it.
    if config.jobs_interval_secs > 0 {
        let node = crate::auth::new_id("node_");
        tokio::spawn(crate::jobs::schedule(
            Arc::clone(&state),
            node,
            std::time::Duration::from_secs(config.jobs_interval_secs),
        ));
    }

    // Webhooks: this node delivers what is due (leased per delivery, so nodes share the work).
    if config.webhooks_dispatch {
        match crate::hooks::Dispatcher::new(
            Arc::clone(&store),
            Arc::new(crate::hooks::SystemClock),
            crate::hooks::Options::default(),
        ) {
            Ok(d) => {
                tokio::spawn(Arc::new(d).run(Arc::clone(&state.hooks_wake)));
            }
            Err(e) => {
                tracing::error!(error = %e, "the webhook client could not be made; no webhooks from this node")
            }
        }
    }

    // E-mail (ENF-3's notices), when --smtp-url says where; a bad setting stops the start (exit 2).
    if let Some(url) = &config.smtp_url {
        let mailer = crate::mail::Mailer::new(url, &config.smtp_from).map_err(|e| e.to_string());
        match mailer {
            Ok(m) => {
                tokio::spawn(crate::mail::run(
                    Arc::clone(&state),
                    m,
                    crate::auth::new_id("node_"),
                ));
            }
            Err(e) => return Err(StartError::Mail(e)),
        }
    }

    // Consumption events taken before a restart (or by a crashed node, all but its last second).
    let restored = state
        .consumption
        .restore(state.store.as_ref(), crate::routes::consumption::clock_ms(&state))
        .await;
    if restored > 0 {
        tracing::info!(events = restored, "consumption events restored from the store");
    }

    // The local meter's counts reach the store every second (a crash loses at most that) and at shutdown.
    let saver = {
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tick.tick().await;
                state.meter.save(state.store.as_ref(), now()).await;
                state.consumption.flush(state.store.as_ref()).await;
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
    let app = crate::routes::router(Arc::clone(&state), config.max_body_bytes);
    let limits = Limits::from(config);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let final_state = Arc::clone(&state);
    let task = tokio::spawn(async move {
        let stop = async move {
            if on_signal {
                tokio::select! {
                    _ = rx => {}
                    () = signal() => {}
                }
            } else {
                let _ = rx.await;
            }
            tracing::info!("shutting down: finishing requests in flight");
        };
        serve_connections(listener, app, limits, Arc::clone(&final_state), stop).await;
        saver.abort();
        final_state.meter.save(final_state.store.as_ref(), now()).await;
        final_state.consumption.flush(final_state.store.as_ref()).await;
        Ok(())
    });
    let fd_limit = crate::config::fd_soft_limit();
    if fd_limit.is_some_and(|n| {
        n.saturating_sub(crate::config::FD_RESERVE) < u64::try_from(limits.max).unwrap_or(u64::MAX)
    }) {
        tracing::warn!(
            max_connections = limits.max,
            fd_limit,
            "--max-connections is close to the file-descriptor limit: the store may run out of descriptors"
        );
    }
    tracing::info!(
        %addr,
        store = store.backend(),
        tenants = state.index.load().len(),
        max_connections = limits.max,
        "entitle serving"
    );
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

/// The connection settings in force.
#[derive(Debug, Clone, Copy)]
struct Limits {
    header: Duration,
    body: Duration,
    idle: Duration,
    grace: Duration,
    max: usize,
}

impl From<&Config> for Limits {
    fn from(c: &Config) -> Limits {
        Limits {
            header: Duration::from_millis(c.header_timeout_ms),
            body: Duration::from_millis(c.body_timeout_ms),
            idle: Duration::from_millis(c.idle_timeout_ms),
            grace: Duration::from_millis(c.shutdown_grace_ms),
            max: c.max_connections,
        }
    }
}

/// A warning logged at most once per period, with how many times it happened since the last line: a flood of
/// refused connections must not become a flood of log lines.
#[derive(Debug)]
struct Every {
    period: Duration,
    last: Option<Instant>,
    count: u64,
}

impl Every {
    fn new(period: Duration) -> Every {
        Every {
            period,
            last: None,
            count: 0,
        }
    }

    /// Counts one; `Some(count)` when a line is due.
    fn due(&mut self) -> Option<u64> {
        self.count += 1;
        let now = Instant::now();
        if self.last.is_some_and(|t| now.duration_since(t) < self.period) {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.count))
    }
}

/// Errors of one connection that is gone before it was accepted: accepting again at once is right.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    )
}

/// Accepts and serves connections until `stop`, then stops accepting, lets the requests in flight finish and
/// closes what is still open after the grace.
async fn serve_connections(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    state: Arc<AppState>,
    stop: impl Future<Output = ()>,
) {
    let cap = Arc::new(Semaphore::new(limits.max));
    let (stopping, stopping_rx) = watch::channel(());
    let mut http = hyper::server::conn::http1::Builder::new();
    // hyper's own header timeout starts when it waits for a head, idle time included; the watchdog starts it
    // at the head's first byte instead, so that idle keep-alive connections get the idle timeout.
    http.header_read_timeout(None);
    let http = Arc::new(http);
    let mut conns = JoinSet::new();
    let mut at_cap = Every::new(Duration::from_secs(10));
    let mut failing = Every::new(Duration::from_secs(10));
    // Accepting fails with EMFILE and the like while the process is out of descriptors: the connection stays
    // queued, so retrying at once would spin. Back off (10 ms doubling to 1 s) until it succeeds again.
    let mut backoff = Duration::from_millis(10);
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut stop => break,
            Some(_) = conns.join_next() => continue,
            accepted = listener.accept() => accepted,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                if let Some(times) = failing.due() {
                    tracing::error!(error = %e, times, "accepting connections fails; retrying after a pause");
                }
                tokio::select! {
                    () = &mut stop => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        backoff = Duration::from_millis(10);
        let Ok(permit) = Arc::clone(&cap).try_acquire_owned() else {
            state.metrics.connections_refused.inc();
            if let Some(refused) = at_cap.due() {
                tracing::warn!(
                    max_connections = limits.max,
                    refused,
                    "connection cap reached: closing new connections until open ones end \
                     (see --max-connections and the file-descriptor limit)"
                );
            }
            drop(tcp);
            continue;
        };
        // Answers are small and latency-bound: send them at once (no Nagle).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        conns.spawn(serve_connection(
            tcp,
            Arc::clone(&http),
            app.clone(),
            limits,
            Arc::clone(&state),
            stopping_rx.clone(),
            permit,
        ));
    }
    // New connections are refused from here on.
    drop(listener);
    let _ = stopping.send(());
    let drained =
        tokio::time::timeout(limits.grace, async { while conns.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            connections = conns.len(),
            grace_ms = limits.grace.as_millis(),
            "shutdown grace over: closing the connections still open"
        );
        state
            .metrics
            .closed_at_shutdown
            .inc_by(u64::try_from(conns.len()).unwrap_or(0));
        conns.shutdown().await;
    }
}

/// Serves one connection until the client closes it, a timeout closes it, or the server stops.
async fn serve_connection(
    tcp: TcpStream,
    http: Arc<hyper::server::conn::http1::Builder>,
    app: Router,
    limits: Limits,
    state: Arc<AppState>,
    mut stopping: watch::Receiver<()>,
    permit: OwnedSemaphorePermit,
) {
    let metrics = &state.metrics;
    metrics.connections_open.inc();
    let activity = Arc::new(Activity::new(limits.idle < limits.header));
    let io = hyper_util::rt::TokioIo::new(Watched {
        tcp,
        activity: Arc::clone(&activity),
    });
    let service = ConnService {
        app,
        activity: Arc::clone(&activity),
        body_timeout: limits.body,
    };
    let conn = http.serve_connection(io, service);
    tokio::pin!(conn);
    // A new connection owes a request head within the header timeout.
    let watchdog = tokio::time::sleep(limits.header);
    tokio::pin!(watchdog);
    let mut draining = false;
    loop {
        // The connection, and its watchdog when due (or when a request ended and the idle deadline may now be
        // nearer than the one it sleeps to).
        let served = std::future::poll_fn(|cx| {
            if let Poll::Ready(served) = conn.as_mut().poll(cx) {
                return Poll::Ready(Some(served));
            }
            if activity.moved.swap(false, Relaxed) || watchdog.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            Poll::Pending
        });
        tokio::select! {
            served = served => match served {
                Some(Ok(())) => break,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "connection ended with an error");
                    break;
                }
                None => match activity.deadline(&limits) {
                    Ok(next) => watchdog.as_mut().reset(next),
                    Err(why) => {
                        match why {
                            Overdue::Head => metrics.closed_header_timeout.inc(),
                            Overdue::Idle => metrics.closed_idle_timeout.inc(),
                        };
                        break;
                    }
                },
            },
            _ = stopping.changed(), if !draining => {
                draining = true;
                // Nothing was asked on it yet (a half-sent head at most): nothing to finish.
                if !activity.started.load(Relaxed) {
                    break;
                }
                // Closes it now if it is between requests, else after the answer in flight.
                conn.as_mut().graceful_shutdown();
            }
        }
    }
    metrics.connections_open.dec();
    drop(permit);
}

/// Why the watchdog closes a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Overdue {
    /// A request head not whole within the header timeout of its first byte (or of connecting).
    Head,
    /// Nothing asked or sent for the idle timeout.
    Idle,
}

/// What a connection did, for its watchdog. Written by the IO wrapper and the service, read by the watchdog,
/// all in the connection's own task: relaxed atomics, no locks, and a clock read only at a request's first byte,
/// its end, and each write.
#[derive(Debug)]
struct Activity {
    /// When it was accepted; the times below are milliseconds after it, plus one (0: not yet).
    since: Instant,
    /// Requests in the handler now: their time is the handler's (and the body timeout's).
    in_handler: AtomicU32,
    /// A request was taken on it.
    started: AtomicBool,
    /// The first byte of the request head being read.
    head_from: AtomicU64,
    /// The end of the last handler or the last write: idle time counts from there.
    out_at: AtomicU64,
    /// Whether the end of a request must wake the watchdog: only when the idle timeout is shorter than the
    /// header timeout, as the watchdog never sleeps longer than the header timeout anyway.
    wake_on_done: bool,
    /// A request ended and the watchdog must look again.
    moved: AtomicBool,
}

impl Activity {
    fn new(wake_on_done: bool) -> Activity {
        Activity {
            wake_on_done,
            moved: AtomicBool::new(false),
            since: Instant::now(),
            in_handler: AtomicU32::new(0),
            started: AtomicBool::new(false),
            head_from: AtomicU64::new(0),
            out_at: AtomicU64::new(0),
        }
    }

    fn stamp(&self) -> u64 {
        u64::try_from(self.since.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }

    fn read_some(&self) {
        if self.head_from.load(Relaxed) == 0 && self.in_handler.load(Relaxed) == 0 {
            self.head_from.store(self.stamp(), Relaxed);
        }
    }

    fn wrote_some(&self) {
        self.out_at.store(self.stamp(), Relaxed);
    }

    fn request_started(&self) {
        self.in_handler.fetch_add(1, Relaxed);
        self.head_from.store(0, Relaxed);
        self.started.store(true, Relaxed);
    }

    fn request_done(&self) {
        self.in_handler.fetch_sub(1, Relaxed);
        self.out_at.store(self.stamp(), Relaxed);
        if self.wake_on_done {
            self.moved.store(true, Relaxed);
        }
    }

    /// When to look again, or why the connection is overdue now. The watchdog looks again at least once per
    /// header timeout: a request head that starts on a kept-alive connection does not wake it, so that head's
    /// deadline is kept within one more header timeout (a new connection's, from its first byte, exactly).
    fn deadline(&self, limits: &Limits) -> Result<Instant, Overdue> {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let now = self.stamp();
        let (at, why) = if self.in_handler.load(Relaxed) > 0 {
            (now.saturating_add(ms(limits.header)), None)
        } else if let head @ 1.. = self.head_from.load(Relaxed) {
            (head.saturating_add(ms(limits.header)), Some(Overdue::Head))
        } else if let out @ 1.. = self.out_at.load(Relaxed) {
            (out.saturating_add(ms(limits.idle)), Some(Overdue::Idle))
        } else {
            (ms(limits.header).saturating_add(1), Some(Overdue::Head))
        };
        match why {
            Some(why) if at <= now => Err(why),
            _ => {
                let at = at.max(now).min(now.saturating_add(ms(limits.header)));
                Ok(self
                    .since
                    .checked_add(Duration::from_millis(at.saturating_sub(1)))
                    .unwrap_or_else(|| Instant::now() + limits.header))
            }
        }
    }
}

/// The TCP stream, telling the connection's [`Activity`] when bytes come in and go out.
#[derive(Debug)]
struct Watched {
    tcp: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.tcp).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read_some();
        }
        read
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let wrote = Pin::new(&mut self.tcp).poll_write(cx, buf);
        if matches!(wrote, Poll::Ready(Ok(1..))) {
            self.activity.wrote_some();
        }
        wrote
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let wrote = Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs);
        if matches!(wrote, Poll::Ready(Ok(1..))) {
            self.activity.wrote_some();
        }
        wrote
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// The router as one connection's hyper service: marks each request in the handler for the watchdog and puts
/// the body timeout on its body.
#[derive(Debug, Clone)]
struct ConnService {
    app: Router,
    activity: Arc<Activity>,
    body_timeout: Duration,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = InHandler<axum::routing::future::RouteFuture<Infallible>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        self.activity.request_started();
        // The router boxes the body either way: wrapping it first costs no allocation.
        let req = req.map(|body| BodyDeadline {
            body,
            timeout: self.body_timeout,
            deadline: None,
        });
        InHandler {
            inner: tower::Service::call(&mut self.app.clone(), req),
            _done: Done(Arc::clone(&self.activity)),
        }
    }
}

/// Tells the [`Activity`] that a request left the handler (answered, or dropped with its connection).
#[derive(Debug)]
struct Done(Arc<Activity>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.request_done();
    }
}

pin_project_lite::pin_project! {
    /// A handler's future, and the mark that it is running.
    #[derive(Debug)]
    struct InHandler<F> {
        #[pin]
        inner: F,
        _done: Done,
    }
}

impl<F: Future> Future for InHandler<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().inner.poll(cx)
    }
}

pin_project_lite::pin_project! {
    /// A request body that must arrive whole within the body timeout of the first time the handler waits for
    /// it. A deadline for the whole body, not per chunk: a byte every few seconds would pass a per-chunk one.
    #[derive(Debug)]
    struct BodyDeadline<B> {
        #[pin]
        body: B,
        timeout: Duration,
        #[pin]
        deadline: Option<tokio::time::Sleep>,
    }
}

/// The error a late request body ends with (the handler's body extractor answers 400 with it).
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within the body timeout ({0:?})")]
struct BodyTimedOut(Duration);

impl<B> http_body::Body for BodyDeadline<B>
where
    B: http_body::Body,
    B::Error: Into<axum::BoxError>,
{
    type Data = B::Data;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, axum::BoxError>>> {
        let mut this = self.project();
        if let Poll::Ready(frame) = this.body.poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if this.deadline.is_none() {
            this.deadline.set(Some(tokio::time::sleep(*this.timeout)));
        }
        match this.deadline.as_pin_mut().map(|d| d.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Some(Err(Box::new(BodyTimedOut(*this.timeout))))),
            _ => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
