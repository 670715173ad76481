//! What a node holds in memory: the snapshots of the tenants in use (swapped atomically after each committed
//! write, so an answer never waits on the database or a lock), the ids of every stored tenant, the keys in force,
//! and the catalogs.
//!
//! Tenants load on first use (issue 11, item 5): a node holding many tenants starts by reading their ids only.
//! Under `--memory-budget`, the tenants used least recently are unloaded when the loaded ones' estimated size
//! passes the budget, and load again on their next request.

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
    pub decisions: Cells<axum::body::Bytes>,
    /// Each user's own request budget (REQ-1..6), resolved on first use by the meter.
    pub budgets: Cells<crate::meter::BudgetOf>,
    /// Where the scenario's items are stored: what a write compares against to store only what it changes.
    pub ords: Ords,
}

/// One cell per item, each filled on first use; the cells come in blocks made on first use too, so that a new
/// state (one per write) costs a few hundred empty pointers, not a cell per flow of the tenant.
#[derive(Debug)]
pub struct Cells<T> {
    len: usize,
    blocks: Box<[std::sync::OnceLock<Block<T>>]>,
}

const CELLS: usize = 1024;

/// [`CELLS`] cells.
type Block<T> = Box<[std::sync::OnceLock<T>]>;

impl<T> Cells<T> {
    pub fn new(len: usize) -> Cells<T> {
        Cells {
            len,
            blocks: (0..len.div_ceil(CELLS))
                .map(|_| std::sync::OnceLock::new())
                .collect(),
        }
    }

    /// The cell of item `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<&std::sync::OnceLock<T>> {
        if i >= self.len {
            return None;
        }
        self.blocks
            .get(i / CELLS)?
            .get_or_init(|| (0..CELLS).map(|_| std::sync::OnceLock::new()).collect())
            .get(i % CELLS)
    }
}

/// What a snapshot costs in memory, by item (measured: BENCHMARKS.md §9, about 3,000 bytes a flow and 1,300 a
/// user, with the scenario and the decision cache; environments and apps are counted like flows).
const BYTES_PER_FLOW: u64 = 3_000;
const BYTES_PER_USER: u64 = 1_300;
const BYTES_PER_TENANT: u64 = 16 * 1024;

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
            decisions: Cells::new(flows),
            budgets: Cells::new(users),
            ords,
        }
    }

    pub fn scenario(&self) -> &Scenario {
        self.snapshot.scenario()
    }

    /// The estimated memory this state holds (see [`BYTES_PER_FLOW`]).
    pub fn approx_bytes(&self) -> u64 {
        let s = self.scenario();
        let items = s.flows.len() + s.apps.len() + s.environments.len() + s.entities.len();
        BYTES_PER_TENANT
            + BYTES_PER_FLOW.saturating_mul(items as u64)
            + BYTES_PER_USER.saturating_mul(s.users.len() as u64)
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
    /// When a request last used it (Unix ms): the least recent go first under the memory budget.
    last_used: AtomicI64,
}

impl TenantSlot {
    fn touch(&self) {
        self.last_used.store(crate::store::now_ms(), Ordering::Relaxed);
    }

    /// The estimated memory of its snapshots (its own day's, and the other day's if one is kept).
    pub fn approx_bytes(&self) -> u64 {
        let own = self.state.load().approx_bytes();
        if self.other_day.load().is_some() {
            own.saturating_mul(2)
        } else {
            own
        }
    }

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
    /// The tenants loaded in memory.
    pub tenants: ArcSwap<HashMap<String, Arc<TenantSlot>>>,
    /// Every stored tenant, loaded or not: its id and its life (incarnation).
    pub index: ArcSwap<HashMap<String, Arc<str>>>,
    /// About how many bytes loaded tenants may take (`--memory-budget`); `None`: no bound.
    pub memory_budget: Option<u64>,
    /// One loading at a time per tenant: requests that find a tenant being loaded wait for that load.
    loading: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
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
    /// Portal passes and page views, AI Builder credits (PORTAL, AI).
    pub consumption: crate::consumption::Ledgers,
    /// Webhook endpoints may be loopback or private addresses (`--webhooks-allow-private`; tests, labs).
    pub webhooks_allow_private: bool,
    /// Wakes this node's webhook dispatcher when a write stored events.
    pub hooks_wake: Arc<crate::hooks::Wake>,
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
        memory_budget: Option<u64>,
    ) -> Result<AppState, StoreError> {
        let keys = KeyRing::new(store.keys().await?);
        let state = AppState {
            store,
            tenants: ArcSwap::from_pointee(HashMap::new()),
            index: ArcSwap::from_pointee(HashMap::new()),
            memory_budget,
            loading: std::sync::Mutex::new(HashMap::new()),
            map_lock: tokio::sync::Mutex::new(()),
            keys: ArcSwap::from_pointee(keys),
            keys_loaded_ms: AtomicI64::new(crate::store::now_ms()),
            catalogs,
            default_catalog,
            today,
            metrics: crate::metrics::Metrics::new(),
            meter,
            replays: crate::meter::Replays::default(),
            consumption: crate::consumption::Ledgers::default(),
            webhooks_allow_private: false,
            hooks_wake: Arc::new(crate::hooks::Wake::default()),
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

    /// The tenant, if this principal may know it exists (404 otherwise, for others' tenants too), loaded on first
    /// use.
    pub async fn slot(&self, principal: &Principal, id: &str) -> Result<Arc<TenantSlot>, Problem> {
        if !principal.sees_tenant(id) {
            return Err(Problem::not_found("tenant", id));
        }
        self.loaded(id)
            .await?
            .ok_or_else(|| Problem::not_found("tenant", id))
    }

    /// Is there such a tenant (loaded or not)?
    pub fn exists(&self, id: &str) -> bool {
        self.index.load().contains_key(id)
    }

    /// The tenant's slot, loaded from the store if it is not in memory; `None` if there is no such tenant (or its
    /// stored state no longer loads, which is logged).
    pub async fn loaded(&self, id: &str) -> Result<Option<Arc<TenantSlot>>, Problem> {
        if let Some(slot) = self.in_memory(id) {
            return Ok(Some(slot));
        }
        if !self.exists(id) {
            return Ok(None);
        }
        let gate = {
            let mut loading = self
                .loading
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(loading.entry(id.to_owned()).or_default())
        };
        let turn = gate.lock().await;
        let out = self.load(id).await;
        drop(turn);
        self.loading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(id);
        if matches!(out, Ok(Some(_))) {
            self.evict().await;
        }
        out
    }

    /// The tenant's slot if it is loaded, marked as used now.
    fn in_memory(&self, id: &str) -> Option<Arc<TenantSlot>> {
        let slot = Arc::clone(self.tenants.load().get(id)?);
        slot.touch();
        Some(slot)
    }

    /// Loads a tenant (the caller holds its loading turn).
    async fn load(&self, id: &str) -> Result<Option<Arc<TenantSlot>>, Problem> {
        // Loaded by the request that held the turn before.
        if let Some(slot) = self.in_memory(id) {
            return Ok(Some(slot));
        }
        let row = self.store.tenant(id).await.map_err(|e| {
            tracing::error!(tenant = id, error = %e, "reading a tenant from the store failed");
            let mut p = Problem::unavailable("the store could not be read; try again");
            p.retry_after = Some(1);
            p
        })?;
        let Some(row) = row else {
            self.forget(id).await;
            return Ok(None);
        };
        let built = self.heavy(|| self.timed_state_of(&row)).await?;
        let state = match built {
            Ok(state) => state,
            Err(e) => {
                // Left out until the store changes (a notice, a restart): not parsed again on every request.
                tracing::error!(tenant = id, error = %e, "stored tenant no longer loads; left out");
                self.forget(id).await;
                return Ok(None);
            }
        };
        let _guard = self.map_lock.lock().await;
        let map = self.tenants.load_full();
        if let Some(slot) = map.get(id) {
            return Ok(Some(Arc::clone(slot)));
        }
        let slot = Arc::new(new_slot(id, state));
        let mut next = (*map).clone();
        next.insert(id.to_owned(), Arc::clone(&slot));
        self.tenants.store(Arc::new(next));
        self.metrics.tenant_loads.inc();
        Ok(Some(slot))
    }

    /// [`AppState::state_of`], timed for `/metrics`.
    fn timed_state_of(&self, row: &TenantRow) -> Result<TenantState, String> {
        let started = std::time::Instant::now();
        let out = self.state_of(row);
        self.metrics
            .snapshot_build
            .observe(started.elapsed().as_secs_f64());
        out
    }

    /// Unloads the tenants used least recently until the loaded ones fit the memory budget. A tenant in use (a
    /// request holds it, or a write is in progress) stays.
    pub async fn evict(&self) {
        let Some(budget) = self.memory_budget else {
            return;
        };
        let _guard = self.map_lock.lock().await;
        let map = self.tenants.load_full();
        let mut total: u64 = map.values().map(|s| s.approx_bytes()).sum();
        if total <= budget {
            return;
        }
        let mut by_age: Vec<(&String, &Arc<TenantSlot>)> = map.iter().collect();
        by_age.sort_by_key(|(_, s)| s.last_used.load(Ordering::Relaxed));
        let mut gone = Vec::new();
        for (id, slot) in by_age {
            if total <= budget {
                break;
            }
            // Only this map holds it, and no write holds its lock.
            if Arc::strong_count(slot) == 1 && slot.write.try_lock().is_ok() {
                total = total.saturating_sub(slot.approx_bytes());
                gone.push(id.clone());
            }
        }
        if gone.is_empty() {
            return;
        }
        let mut next = (*map).clone();
        for id in &gone {
            next.remove(id);
        }
        self.tenants.store(Arc::new(next));
        self.metrics.tenant_evictions.inc_by(gone.len() as u64);
        tracing::debug!(
            evicted = gone.len(),
            bytes = total,
            budget,
            "tenants unloaded to stay within the memory budget"
        );
    }

    /// The tenant is gone from the store: from memory and the index too.
    async fn forget(&self, id: &str) {
        let _guard = self.map_lock.lock().await;
        self.forget_locked(id);
    }

    /// [`AppState::forget`], for a caller that holds `map_lock`.
    fn forget_locked(&self, id: &str) {
        self.set_index(id, None);
        let map = self.tenants.load_full();
        if map.contains_key(id) {
            let mut next = (*map).clone();
            next.remove(id);
            self.tenants.store(Arc::new(next));
        }
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

    /// Brings a tenant up to date with the store (after another node's change): a loaded tenant is read again;
    /// one not loaded only has its index entry refreshed.
    pub async fn reload(&self, id: &str) -> Result<(), StoreError> {
        self.reload_into(id, None).await
    }

    /// [`AppState::reload`], and also `held`: the slot a write holds, brought up to date even if it is no longer
    /// the loaded one (unloaded meanwhile), so that the write's next attempt starts from the store's state.
    pub async fn reload_into(&self, id: &str, held: Option<&TenantSlot>) -> Result<(), StoreError> {
        if held.is_none() && !self.tenants.load().contains_key(id) {
            let head = self.store.tenant_index(Some(id)).await?.pop();
            let _guard = self.map_lock.lock().await;
            self.set_index(id, head.map(|h| Arc::from(h.incarnation.as_str())));
            return Ok(());
        }
        let row = self.store.tenant(id).await?;
        let _guard = self.map_lock.lock().await;
        let Some(row) = row else {
            self.forget_locked(id);
            return Ok(());
        };
        let state = match off_async(|| self.timed_state_of(&row)) {
            Ok(state) => Arc::new(state),
            Err(e) => {
                tracing::error!(tenant = id, error = %e, "stored tenant no longer loads; left out");
                return Ok(());
            }
        };
        self.set_index(id, Some(Arc::clone(&state.incarnation)));
        let newer = |slot: &TenantSlot| {
            let cur = slot.state.load();
            *cur.incarnation == *state.incarnation && cur.version < state.version
        };
        if let Some(slot) = held
            && newer(slot)
        {
            slot.state.store(Arc::clone(&state));
        }
        let map = self.tenants.load_full();
        match map.get(id) {
            Some(slot) if newer(slot) => slot.state.store(state),
            Some(slot) if *slot.state.load().incarnation == *state.incarnation => {}
            // Another life of the id (deleted and created again by another node).
            Some(_) => {
                let mut next = (*map).clone();
                next.insert(id.to_owned(), Arc::new(new_slot_of(id, state)));
                self.tenants.store(Arc::new(next));
            }
            None => {}
        }
        Ok(())
    }

    /// Reads the index of stored tenants again (at start, and when a node's notice channel was interrupted), and
    /// the loaded tenants that changed. Tenants not loaded stay so: they load on first use.
    pub async fn reload_all(&self) -> Result<(), StoreError> {
        let heads = self.store.tenant_index(None).await?;
        {
            let _guard = self.map_lock.lock().await;
            let index: HashMap<String, Arc<str>> = heads
                .iter()
                .map(|h| (h.id.clone(), Arc::from(h.incarnation.as_str())))
                .collect();
            let map = self.tenants.load_full();
            if map.keys().any(|id| !index.contains_key(id)) {
                let kept = map
                    .iter()
                    .filter(|(id, _)| index.contains_key(*id))
                    .map(|(id, slot)| (id.clone(), Arc::clone(slot)))
                    .collect();
                self.tenants.store(Arc::new(kept));
            }
            self.index.store(Arc::new(index));
        }
        let map = self.tenants.load_full();
        for h in &heads {
            if let Some(slot) = map.get(&h.id) {
                let cur = slot.state.load();
                if *cur.incarnation != *h.incarnation || cur.version < h.version {
                    self.reload(&h.id).await?;
                }
            }
        }
        Ok(())
    }

    /// Sets (or, with `None`, removes) a tenant's index entry. The caller holds `map_lock`.
    fn set_index(&self, id: &str, incarnation: Option<Arc<str>>) {
        let index = self.index.load_full();
        if index.get(id) == incarnation.as_ref() {
            return;
        }
        let mut next = (*index).clone();
        match incarnation {
            Some(inc) => next.insert(id.to_owned(), inc),
            None => next.remove(id),
        };
        self.index.store(Arc::new(next));
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
        self.set_index(id, Some(Arc::clone(&state.incarnation)));
        let map = self.tenants.load_full();
        let mut next = (*map).clone();
        next.insert(id.to_owned(), Arc::new(new_slot(id, state)));
        self.tenants.store(Arc::new(next));
    }

    pub async fn remove_tenant(&self, id: &str) {
        self.forget(id).await;
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
    new_slot_of(id, Arc::new(state))
}

fn new_slot_of(id: &str, state: Arc<TenantState>) -> TenantSlot {
    TenantSlot {
        id: id.to_owned(),
        write: tokio::sync::Mutex::new(()),
        state: ArcSwap::new(state),
        other_day: arc_swap::ArcSwapOption::empty(),
        last_used: AtomicI64::new(crate::store::now_ms()),
    }
}
