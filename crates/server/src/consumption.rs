//! The consumption ledgers in the server (PORTAL-2/3/5/6, AI-1/2), counted by `entitle-ledger`: in this process
//! for one node, or in Redis when several nodes share the work (`--redis-url`; exact across nodes, one script
//! call per event or per 256 events of a batch).
//!
//! Every accepted event is appended to a log in the store every second (and at shutdown). A single node replays
//! the log at start, so a crash loses at most the last second of events and never counts one twice (a replay
//! builds a fresh ledger); with Redis the counts live in Redis and the log is not replayed. The log is also what
//! an export writes back as `[[consumption]]`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use entitle_core::scenario::{Consumption, ConsumptionKind};
use entitle_ledger::{
    Answer, CreditAllowance, Event, LedgerError, LocalLedger, Month, MonthUsage, PortalLimits, RedisLedger,
};
use serde::{Deserialize, Serialize};

use crate::store::Store;

/// Store rows of the log: `consumption:<node>:<sequence>`.
const PREFIX: &str = "consumption:";

/// An accepted event as logged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Logged {
    pub tenant: String,
    pub record: Consumption,
    /// AI Builder credits drawn from the tenant's unallocated pool rather than the environment's allocation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_pool: bool,
}

/// Where the counts live.
#[derive(Debug)]
pub enum Backend {
    Local(LocalLedger),
    Shared(Shared),
}

/// The Redis ledger, connected on first use: a node starts while Redis is down, and answers 503
/// `ledger-unavailable` (nothing counted) until it is back, like the request meter's fail-closed policy.
#[derive(Debug)]
pub struct Shared {
    url: String,
    prefix: String,
    timeout: std::time::Duration,
    ledger: tokio::sync::OnceCell<RedisLedger>,
}

impl Shared {
    async fn get(&self) -> Result<&RedisLedger, LedgerError> {
        self.ledger
            .get_or_try_init(|| RedisLedger::connect(&self.url, self.prefix.clone(), self.timeout))
            .await
    }
}

/// The node's ledger and the events not yet in the store.
#[derive(Debug)]
pub struct Ledgers {
    pub backend: Backend,
    pending: Mutex<Vec<Logged>>,
    node: String,
    seq: AtomicU64,
}

impl Default for Ledgers {
    fn default() -> Self {
        // A node's rows never collide with another's: the start time and the process id name the node.
        let node = format!("{}-{}", crate::store::now_ms(), std::process::id());
        Ledgers {
            backend: Backend::Local(LocalLedger::new()),
            pending: Mutex::new(Vec::new()),
            node,
            seq: AtomicU64::new(0),
        }
    }
}

/// The ledger event of a logged record, with no allocation: a replay applies it as it was taken.
pub fn replay_event<'a>(tenant: &'a str, r: &'a Consumption, from_pool: bool) -> Option<Event<'a>> {
    let at_ms = entitle_core::consumption::ms(r.at);
    let id = r.id.as_deref();
    Some(match r.kind {
        ConsumptionKind::PortalLogin => Event::Login {
            tenant,
            id,
            portal: r.portal.as_deref()?,
            user: r.user.as_deref()?,
            at_ms,
            limits: PortalLimits::default(),
        },
        ConsumptionKind::PageViews => Event::PageViews {
            tenant,
            id,
            portal: r.portal.as_deref()?,
            count: r.count?,
            at_ms,
            limits: PortalLimits::default(),
        },
        ConsumptionKind::AiCredits => Event::Credits {
            tenant,
            id,
            environment: r.environment.as_deref()?,
            credits: r.credits?,
            model: r.model.as_deref().unwrap_or(""),
            preview: r.preview,
            at_ms,
            // Drawn from where it was drawn when taken (a replay checks nothing).
            allowance: CreditAllowance {
                allocated: if from_pool { 0 } else { u64::MAX },
                unallocated: u64::MAX,
                unallocated_use: true,
            },
        },
    })
}

impl Ledgers {
    /// Counts in the Redis at `url`, under `prefix`; connects now if it can, else on first use.
    pub async fn shared(url: &str, prefix: String, timeout: std::time::Duration) -> Ledgers {
        let shared = Shared {
            url: url.to_owned(),
            prefix,
            timeout,
            ledger: tokio::sync::OnceCell::new(),
        };
        if let Err(e) = shared.get().await {
            tracing::warn!(error = %e, "the consumption ledger's Redis does not answer yet; consumption is refused (503) until it does");
        }
        Ledgers {
            backend: Backend::Shared(shared),
            ..Ledgers::default()
        }
    }

    /// `local` or `redis`.
    #[must_use]
    pub fn mode(&self) -> &'static str {
        match self.backend {
            Backend::Local(_) => "local",
            Backend::Shared(_) => "redis",
        }
    }

    /// Takes events (see `LocalLedger::take`), answers in order.
    pub async fn take_batch(&self, events: &[Event<'_>], now_ms: u64) -> Vec<Result<Answer, LedgerError>> {
        match &self.backend {
            Backend::Local(l) => events.iter().map(|e| l.take(e, now_ms)).collect(),
            Backend::Shared(r) => match r.get().await {
                Ok(r) => r.take_batch(events, now_ms).await,
                Err(e) => events.iter().map(|_| Err(e.clone())).collect(),
            },
        }
    }

    /// Takes one event.
    pub async fn take(&self, event: &Event<'_>, now_ms: u64) -> Result<Answer, LedgerError> {
        match &self.backend {
            Backend::Local(l) => l.take(event, now_ms),
            Backend::Shared(r) => r.get().await?.take(event, now_ms).await,
        }
    }

    /// Applies history (a scenario's records, in time order): as taken, without checks, in a local ledger; in
    /// Redis, taken at its own time (an event past an allocation under `refuse` is then refused there too).
    pub async fn history(&self, event: &Event<'_>) -> bool {
        match &self.backend {
            Backend::Local(l) => {
                l.restore(event, event.at_ms());
                true
            }
            Backend::Shared(r) => match r.get().await {
                Ok(r) => r.take(event, event.at_ms()).await.is_ok(),
                Err(_) => false,
            },
        }
    }

    /// What `tenant` used in `month`.
    pub async fn usage(
        &self,
        tenant: &str,
        portals: &[&str],
        envs: &[&str],
        month: Month,
    ) -> Result<MonthUsage, LedgerError> {
        match &self.backend {
            Backend::Local(l) => Ok(l.usage(tenant, portals, envs, month)),
            Backend::Shared(r) => r.get().await?.usage(tenant, portals, envs, month).await,
        }
    }

    /// Records an accepted event for the store.
    pub fn log(&self, tenant: &str, record: Consumption, from_pool: bool) {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Logged {
                tenant: tenant.to_owned(),
                record,
                from_pool,
            });
    }

    /// The events taken since the last flush.
    pub fn pending(&self) -> Vec<Logged> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Records accepted events for the store, under one lock.
    pub fn log_many(&self, tenant: &str, records: impl Iterator<Item = (Consumption, bool)>) {
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        pending.extend(records.map(|(record, from_pool)| Logged {
            tenant: tenant.to_owned(),
            record,
            from_pool,
        }));
    }

    /// Writes the events taken since the last flush as one row; on failure they are kept for the next.
    pub async fn flush(&self, store: &dyn Store) {
        let batch = std::mem::take(
            &mut *self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if batch.is_empty() {
            return;
        }
        let key = format!(
            "{PREFIX}{}:{:020}",
            self.node,
            self.seq.fetch_add(1, Ordering::Relaxed)
        );
        let saved = match serde_json::to_string(&batch) {
            Ok(data) => store.meter_save(&[(key, data)]).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = saved {
            tracing::warn!(error = %e, events = batch.len(), "saving consumption events failed; kept for the next try");
            let mut pending = self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let later = std::mem::take(&mut *pending);
            *pending = batch;
            pending.extend(later);
        }
    }

    /// Every logged event in the store (all nodes'), as logged: rows by node and sequence, each in its order.
    pub async fn logged(store: &dyn Store) -> Vec<Logged> {
        let rows = store.meter_load().await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "reading consumption events failed");
            Vec::new()
        });
        let out: Vec<Logged> = rows
            .iter()
            .filter(|(k, _)| k.starts_with(PREFIX))
            .filter_map(|(k, data)| match serde_json::from_str::<Vec<Logged>>(data) {
                Ok(v) => Some(v),
                Err(e) => {
                    tracing::warn!(row = %k, error = %e, "a consumption row does not read; skipped");
                    None
                }
            })
            .flatten()
            .collect();
        out
    }

    /// Replays the store's log into this (fresh, local) ledger; Redis keeps its own counts.
    pub async fn restore(&self, store: &dyn Store, now_ms: u64) -> usize {
        let Backend::Local(ledger) = &self.backend else {
            return 0;
        };
        let mut logged = Ledgers::logged(store).await;
        // In time order (stable: events of one millisecond keep their logged order).
        logged.sort_by_key(|l| l.record.at);
        for l in &logged {
            if let Some(e) = replay_event(&l.tenant, &l.record, l.from_pool) {
                // Each at its own time (the log is in time order), so no login is older than what is kept.
                ledger.restore(&e, e.at_ms().min(now_ms));
            }
        }
        logged.len()
    }
}
