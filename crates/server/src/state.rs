//! What a node holds in memory: every tenant's snapshot (swapped atomically after each committed write, so an
//! answer never waits on the database or a lock), the keys in force, and the catalogs.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use arc_swap::ArcSwap;
use chrono::NaiveDate;
use entitle_core::scenario::Format;
use entitle_core::{Catalog, Scenario, Snapshot};

use crate::auth::{KeyRing, Principal};
use crate::problem::Problem;
use crate::store::items::Ords;
use crate::store::{Store, StoreError, TenantRow};

/// One tenant as answers see it.
#[derive(Debug)]
pub struct TenantState {
    pub version: i64,
    /// This life of the tenant id (see [`crate::store::TenantRow::incarnation`]).
    pub incarnation: Arc<str>,
    pub catalog: String,
    /// The snapshot on `day`: the scenario's `tenant.at`, or today (UTC) when it has none.
    pub snapshot: Arc<Snapshot>,
    pub day: NaiveDate,
    /// Each flow's default decision (no invoking user, the tenant's own day) as JSON, built on first ask: it
    /// only changes when the tenant does, and a platform asks it on every run.
    pub decisions: Box<[std::sync::OnceLock<axum::body::Bytes>]>,
    /// Each user's own request budget (REQ-1..6), resolved on first use by the meter.
    pub budgets: Box<[std::sync::OnceLock<crate::meter::BudgetOf>]>,
    /// Where the scenario's items are stored: what a write compares against to store only what it changes.
    pub ords: Ords,
}

impl TenantState {
    pub fn new(
        version: i64,
        incarnation: Arc<str>,
        catalog: &str,
        snapshot: Snapshot,
        ords: Ords,
    ) -> TenantState {
        let flows = snapshot.flows().len();
        let users = snapshot.users().len();
        TenantState {
            version,
            incarnation,
            catalog: catalog.to_owned(),
            day: snapshot.at(),
            snapshot: Arc::new(snapshot),
            decisions: (0..flows).map(|_| std::sync::OnceLock::new()).collect(),
            budgets: (0..users).map(|_| std::sync::OnceLock::new()).collect(),
            ords,
        }
    }

    pub fn scenario(&self) -> &Scenario {
        self.snapshot.scenario()
    }

    /// The tenant's entity tag: its version.
    pub fn etag(&self) -> String {
        format!("\"v{}\"", self.version)
    }
}

/// A tenant's place in memory. Writes to one tenant are serialised on this node by `write`; between nodes,
/// by the store's version check.
#[derive(Debug)]
pub struct TenantSlot {
    pub id: String,
    pub write: tokio::sync::Mutex<()>,
    pub state: ArcSwap<TenantState>,
    /// The last snapshot built for another day (`?at=`), with the version it was built from: a client asking
    /// about one day over and over builds it once.
    pub other_day: arc_swap::ArcSwapOption<(i64, NaiveDate, Arc<Snapshot>)>,
}

impl TenantSlot {
    /// The tenant on `day`: its own snapshot, or one built for that day (cached while the tenant is unchanged).
    /// Building a snapshot for another day is heavy work ([`AppState::heavy`]); one is kept per tenant, so a
    /// client asking about one day again and again builds it once, and memory stays bounded.
    pub async fn on_day(
        &self,
        state: &AppState,
        cur: &TenantState,
        day: NaiveDate,
    ) -> Result<Arc<Snapshot>, Problem> {
        if day == cur.day {
            return Ok(Arc::clone(&cur.snapshot));
        }
        if let Some(hit) = self.other_day.load_full()
            && hit.0 == cur.version
            && hit.1 == day
        {
            return Ok(Arc::clone(&hit.2));
        }
        let snap = Arc::new(
            state
                .heavy(|| cur.snapshot.on(day))
                .await?
                .map_err(|e| Problem::unprocessable(e.to_string()).at("query:at"))?,
        );
        self.other_day
            .store(Some(Arc::new((cur.version, day, Arc::clone(&snap)))));
        Ok(snap)
    }
}

/// The shared state of a server node.
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub tenants: ArcSwap<HashMap<String, Arc<TenantSlot>>>,
    /// Serialises changes to the tenant map (creations, deletions, reloads).
    pub map_lock: tokio::sync::Mutex<()>,
    pub keys: ArcSwap<KeyRing>,
    keys_loaded_ms: AtomicI64,
    pub catalogs: HashMap<String, Arc<Catalog>>,
    pub default_catalog: String,
    /// The day answers use when neither the request nor the scenario names one; tests pin it.
    pub today: Option<NaiveDate>,
    pub metrics: crate::metrics::Metrics,
    /// The request meter (REQ-1..8).
    pub meter: crate::meter::UsageMeter,
    /// Answers to usage events that carried an idempotency key.
    pub replays: crate::meter::Replays,
    /// CPU-heavy work in progress (see [`AppState::heavy`]), and how many pieces wait for a turn.
    heavy: tokio::sync::Semaphore,
    heavy_waiting: std::sync::atomic::AtomicUsize,
}

/// How many pieces of heavy work may wait for a turn; beyond, requests are refused (503) rather than queued
/// without bound.
const HEAVY_QUEUE: usize = 64;

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("backend", &self.store.backend())
            .field("tenants", &self.tenants.load().len())
            .finish_non_exhaustive()
    }
}

impl AppState {
    pub async fn new(
        store: Arc<dyn Store>,
        catalogs: HashMap<String, Arc<Catalog>>,
        default_catalog: String,
        today: Option<NaiveDate>,
        meter: crate::meter::UsageMeter,
    ) -> Result<AppState, StoreError> {
        let keys = KeyRing::new(store.keys().await?);
        let state = AppState {
            store,
            tenants: ArcSwap::from_pointee(HashMap::new()),
            map_lock: tokio::sync::Mutex::new(()),
            keys: ArcSwap::from_pointee(keys),
            keys_loaded_ms: AtomicI64::new(crate::store::now_ms()),
            catalogs,
            default_catalog,
            today,
            metrics: crate::metrics::Metrics::new(),
            meter,
            replays: crate::meter::Replays::default(),
            // One core is left to the async threads: health checks and decisions never wait on heavy work.
            heavy: tokio::sync::Semaphore::new(
                std::thread::available_parallelism()
                    .map_or(1, |n| n.get().saturating_sub(1))
                    .max(1),
            ),
            heavy_waiting: std::sync::atomic::AtomicUsize::new(0),
        };
        state.reload_all().await?;
        Ok(state)
    }

    /// Runs CPU-heavy work (parsing a scenario, building a snapshot, checking a change, an audit of a big
    /// tenant) off the async threads, at most one piece per spare core at a time, so that light requests keep
    /// their latency whatever one tenant asks. At most [`HEAVY_QUEUE`] pieces wait; more are refused with 503.
    pub async fn heavy<R>(&self, work: impl FnOnce() -> R) -> Result<R, Problem> {
        use std::sync::atomic::Ordering::Relaxed;
        if self.heavy_waiting.fetch_add(1, Relaxed) >= HEAVY_QUEUE {
            self.heavy_waiting.fetch_sub(1, Relaxed);
            let mut p = Problem::unavailable("the server is busy with heavy requests; try again shortly");
            p.retry_after = Some(1);
            return Err(p);
        }
        let permit = self.heavy.acquire().await;
        self.heavy_waiting.fetch_sub(1, Relaxed);
        let out = off_async(work);
        drop(permit);
        Ok(out)
    }

    pub fn today(&self) -> NaiveDate {
        self.today.unwrap_or_else(|| chrono::Utc::now().date_naive())
    }

    pub fn catalog(&self, name: &str) -> Result<Arc<Catalog>, Problem> {
        self.catalogs.get(name).cloned().ok_or_else(|| {
            let mut known: Vec<&str> = self.catalogs.keys().map(String::as_str).collect();
            known.sort_unstable();
            Problem::bad_request(
                "unknown-catalog",
                format!("unknown catalog `{name}` (known: {})", known.join(", ")),
            )
            .at("query:catalog")
        })
    }

    /// Builds a tenant's state from its stored row.
    pub fn state_of(&self, row: &TenantRow) -> Result<TenantState, String> {
        let catalog = self.catalog(&row.catalog).map_err(|p| p.detail.clone())?;
        let scenario =
            Scenario::parse(&row.scenario, Format::Json, &row.id, &catalog).map_err(|e| e.to_string())?;
        let ords = match &row.ords {
            Some(ords) => ords.clone(),
            None => Ords::unstored(&scenario),
        };
        self.state_from(
            row.version,
            row.incarnation.as_str().into(),
            &row.catalog,
            catalog,
            scenario,
            ords,
        )
    }

    pub fn state_from(
        &self,
        version: i64,
        incarnation: Arc<str>,
        catalog_name: &str,
        catalog: Arc<Catalog>,
        scenario: Scenario,
        ords: Ords,
    ) -> Result<TenantState, String> {
        let day = scenario.tenant.at.unwrap_or_else(|| self.today());
        let snapshot = Snapshot::new(catalog, scenario, day).map_err(|e| e.to_string())?;
        Ok(TenantState::new(
            version,
            incarnation,
            catalog_name,
            snapshot,
            ords,
        ))
    }

    /// The tenant, if this principal may know it exists (404 otherwise, for others' tenants too).
    pub fn slot(&self, principal: &Principal, id: &str) -> Result<Arc<TenantSlot>, Problem> {
        if !principal.sees_tenant(id) {
            return Err(Problem::not_found("tenant", id));
        }
        self.tenants
            .load()
            .get(id)
            .cloned()
            .ok_or_else(|| Problem::not_found("tenant", id))
    }

    /// The tenant's state for answers, rebuilt first if the day it was built for has passed.
    pub fn current(&self, slot: &TenantSlot) -> Arc<TenantState> {
        let s = slot.state.load_full();
        if s.scenario().tenant.at.is_none() && s.day != self.today() {
            let catalog = Arc::clone(s.snapshot.catalog_arc());
            if let Ok(next) = self.state_from(
                s.version,
                Arc::clone(&s.incarnation),
                &s.catalog,
                catalog,
                s.scenario().clone(),
                s.ords.clone(),
            ) {
                let next = Arc::new(next);
                // Only if no write landed meanwhile.
                let prev = slot.state.compare_and_swap(&s, Arc::clone(&next));
                if Arc::ptr_eq(&prev, &s) {
                    return next;
                }
                return slot.state.load_full();
            }
        }
        s
    }

    /// Puts a tenant's stored state in memory (or removes it if it is gone).
    pub async fn reload(&self, id: &str) -> Result<(), StoreError> {
        let row = self.store.tenant(id).await?;
        let _guard = self.map_lock.lock().await;
        let map = self.tenants.load_full();
        match row {
            Some(row) => match off_async(|| self.state_of(&row)) {
                Ok(state) => match map.get(id) {
                    Some(slot) if *slot.state.load().incarnation == *state.incarnation => {
                        if slot.state.load().version < state.version {
                            slot.state.store(Arc::new(state));
                        }
                    }
                    // Absent here, or another life of the id (deleted and created again by another node).
                    _ => {
                        let mut next = (*map).clone();
                        next.insert(id.to_owned(), Arc::new(new_slot(id, state)));
                        self.tenants.store(Arc::new(next));
                    }
                },
                Err(e) => tracing::error!(tenant = id, error = %e, "stored tenant no longer loads; left out"),
            },
            None => {
                if map.contains_key(id) {
                    let mut next = (*map).clone();
                    next.remove(id);
                    self.tenants.store(Arc::new(next));
                }
            }
        }
        Ok(())
    }

    /// Loads every tenant (at start, and when a node's notice channel was interrupted).
    pub async fn reload_all(&self) -> Result<(), StoreError> {
        let rows = self.store.tenants().await?;
        let _guard = self.map_lock.lock().await;
        let old = self.tenants.load_full();
        let mut next = HashMap::with_capacity(rows.len());
        for row in rows {
            match off_async(|| self.state_of(&row)) {
                Ok(state) => {
                    let slot = match old.get(&row.id) {
                        Some(slot) if *slot.state.load().incarnation == *state.incarnation => {
                            if slot.state.load().version < state.version {
                                slot.state.store(Arc::new(state));
                            }
                            Arc::clone(slot)
                        }
                        _ => Arc::new(new_slot(&row.id, state)),
                    };
                    next.insert(row.id.clone(), slot);
                }
                Err(e) => {
                    tracing::error!(tenant = %row.id, error = %e, "stored tenant no longer loads; left out")
                }
            }
        }
        self.tenants.store(Arc::new(next));
        Ok(())
    }

    pub async fn reload_keys(&self) -> Result<(), StoreError> {
        let ring = KeyRing::new(self.store.keys().await?);
        self.keys.store(Arc::new(ring));
        self.keys_loaded_ms
            .store(crate::store::now_ms(), Ordering::Relaxed);
        Ok(())
    }

    /// The principal of a bearer secret. An unknown secret reloads the keys at most once a second, so a key
    /// made by `entitle key create` (or another node) works at once without letting bad keys flood the store.
    pub async fn authenticate(&self, secret: &str) -> Option<Principal> {
        if let Some(p) = self.keys.load().check(secret) {
            return Some(p);
        }
        let last = self.keys_loaded_ms.load(Ordering::Relaxed);
        let now = crate::store::now_ms();
        if now - last >= 1000
            && self
                .keys_loaded_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            if let Err(e) = self.reload_keys().await {
                tracing::warn!(error = %e, "reloading keys failed");
            }
            return self.keys.load().check(secret);
        }
        None
    }

    /// Adds a tenant that was just committed.
    pub async fn insert_tenant(&self, id: &str, state: TenantState) {
        let _guard = self.map_lock.lock().await;
        let map = self.tenants.load_full();
        let mut next = (*map).clone();
        next.insert(id.to_owned(), Arc::new(new_slot(id, state)));
        self.tenants.store(Arc::new(next));
    }

    pub async fn remove_tenant(&self, id: &str) {
        let _guard = self.map_lock.lock().await;
        let map = self.tenants.load_full();
        let mut next = (*map).clone();
        next.remove(id);
        self.tenants.store(Arc::new(next));
    }
}

/// Runs `work` on this thread after handing the thread's other tasks to another worker (multi-threaded runtime),
/// or just runs it (a single-threaded runtime, as in some tests).
pub fn off_async<R>(work: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

fn new_slot(id: &str, state: TenantState) -> TenantSlot {
    TenantSlot {
        id: id.to_owned(),
        write: tokio::sync::Mutex::new(()),
        state: ArcSwap::from_pointee(state),
        other_day: arc_swap::ArcSwapOption::empty(),
    }
}
