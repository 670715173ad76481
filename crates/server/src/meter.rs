//! The request meter in the server: budgets come from the engine (REQ-2..REQ-6), counting from
//! `entitle-meter` — in process for one node (saved to the store every second and at shutdown), or in Redis
//! for several nodes sharing one budget.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use entitle_core::Snapshot;
use entitle_core::requests::{Budget, Limit, flow_limit, user_limit};
use entitle_meter::{
    BucketCount, Decision, Event, FailPolicy, FailoverMeter, Limits, LocalMeter, Mode, Windows,
};

use crate::config::RedisFailure;
use crate::problem::Problem;
use crate::store::Store;

/// The store row holding the in-process meter's saved counts.
const SAVED: &str = "local-meter";

/// Where counts live.
#[derive(Debug)]
pub enum UsageMeter {
    /// One node: counts in this process.
    Local(LocalMeter),
    /// Several nodes: counts in Redis, with the configured policy when Redis does not answer.
    Shared(Box<FailoverMeter>),
}

impl UsageMeter {
    /// A local meter restored from the store's saved counts (none lost by a clean shutdown; a crash loses at
    /// most the last second, and restoring never counts more than was counted).
    pub async fn local(store: &dyn Store, now_ms: u64) -> UsageMeter {
        let saved = store.meter_load().await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "reading saved meter counts failed; starting from zero");
            Vec::new()
        });
        let meter = saved
            .iter()
            .find(|(k, _)| k == SAVED)
            .and_then(|(_, data)| match serde_json::from_str::<entitle_meter::Snapshot>(data) {
                Ok(s) => LocalMeter::from_snapshot(Windows::standard(), &s, now_ms)
                    .map_err(|e| tracing::warn!(error = %e, "saved meter counts do not restore; starting from zero"))
                    .ok(),
                Err(e) => {
                    tracing::warn!(error = %e, "saved meter counts unreadable; starting from zero");
                    None
                }
            })
            .unwrap_or_else(|| LocalMeter::new(Windows::standard()));
        UsageMeter::Local(meter)
    }

    pub fn shared(url: &str, prefix: &str, policy: RedisFailure, timeout: Duration) -> UsageMeter {
        let policy = match policy {
            RedisFailure::FailOpen => FailPolicy::Open,
            RedisFailure::FailClosed => FailPolicy::Closed,
        };
        UsageMeter::Shared(Box::new(
            FailoverMeter::new(url, prefix, Windows::standard(), policy).with_timeout(timeout),
        ))
    }

    pub async fn check_batch(&self, events: &[Event<'_>], now_ms: u64) -> Vec<Decision> {
        match self {
            UsageMeter::Local(m) => m.check_batch(events, now_ms),
            UsageMeter::Shared(m) => m.check_batch(events, now_ms).await,
        }
    }

    pub async fn check(&self, key: &str, n: u64, limits: Limits, now_ms: u64) -> Decision {
        match self {
            UsageMeter::Local(m) => m.check(key, n, limits, now_ms),
            UsageMeter::Shared(m) => m.check(key, n, limits, now_ms).await,
        }
    }

    /// The counts of a budget in its window, read from the counter that enforces (Redis in shared mode).
    ///
    /// # Errors
    /// [`Problem`] 503 `meter-unavailable` when that counter cannot be read: a report never guesses.
    pub async fn usage(&self, key: &str, now_ms: u64) -> Result<Vec<BucketCount>, Problem> {
        match self {
            UsageMeter::Local(m) => Ok(m.usage(key, now_ms)),
            UsageMeter::Shared(m) => m.usage(key, now_ms).await.map_err(|e| {
                tracing::warn!(error = %e, "reading the shared meter failed");
                meter_unavailable(
                    "the request meter (Redis) cannot be read; usage is not reported rather than guessed",
                    1,
                )
            }),
        }
    }

    /// Requests counted for `key` in the last 24 hours.
    ///
    /// # Errors
    /// As [`Self::usage`].
    pub async fn used(&self, key: &str, now_ms: u64) -> Result<u64, Problem> {
        let buckets = self.usage(key, now_ms).await?;
        Ok(buckets.iter().map(|b| u64::from(b.count)).sum())
    }

    /// `local`, `redis`, `fail-open` (Redis down, counting locally) or `fail-closed` (Redis down, refusing).
    pub fn mode(&self) -> &'static str {
        match self {
            UsageMeter::Local(_) => "local",
            UsageMeter::Shared(m) => match m.mode() {
                Mode::Redis => "redis",
                Mode::Local => "fail-open",
                Mode::Refusing => "fail-closed",
            },
        }
    }

    /// Saves the local meter's counts (a no-op for Redis, which keeps its own).
    pub async fn save(&self, store: &dyn Store, now_ms: u64) {
        if let UsageMeter::Local(m) = self {
            m.sweep(now_ms);
            match serde_json::to_string(&m.snapshot(now_ms)) {
                Ok(data) => {
                    if let Err(e) = store.meter_save(&[(SAVED.to_owned(), data)]).await {
                        tracing::warn!(error = %e, "saving meter counts failed");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "encoding meter counts failed"),
            }
        }
    }
}

/// 503 with `Retry-After`: the meter cannot answer, which says nothing about the budget.
pub fn meter_unavailable(detail: impl Into<String>, retry_after_secs: u64) -> Problem {
    let mut p = Problem::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "meter-unavailable",
        detail,
    );
    p.retry_after = Some(retry_after_secs);
    p
}

/// The meter key of a budget of tenant `tenant`; `None` for nobody's budget.
pub fn budget_key(tenant: &str, budget: &Budget) -> Option<String> {
    match budget {
        Budget::User { user } => Some(format!("{tenant}/user/{user}")),
        Budget::TenantPool => Some(format!("{tenant}/pool")),
        Budget::Licence { flow, .. } => Some(format!("{tenant}/licence/{flow}")),
        Budget::Unknown => None,
    }
}

/// The budget a request draws on: its meter key (per tenant), its limits, and how the engine names it.
#[derive(Debug, Clone)]
pub struct BudgetOf {
    pub key: String,
    pub limits: Limits,
    pub limit: Limit,
}

/// Whose budget: a user's own, or a flow run's (REQ-4) — resolved by the engine, so process licences share
/// one budget between parent, child and in-context flows (REQ-5) and non-licensed principals the tenant pool
/// (REQ-2).
pub fn budget_of(
    snap: &Snapshot,
    tenant: &str,
    user: Option<&str>,
    flow: Option<&str>,
    as_user: Option<&str>,
    at: &str,
) -> Result<BudgetOf, Problem> {
    let find_user = |id: &str, field: &str| {
        snap.user_idx(id)
            .ok_or_else(|| Problem::unprocessable(format!("unknown user `{id}`")).at(format!("{at}/{field}")))
    };
    let limit = match (user, flow) {
        (Some(u), None) => user_limit(snap, find_user(u, "user")?),
        (None, Some(f)) => {
            let fi = snap.flow_idx(f).ok_or_else(|| {
                Problem::unprocessable(format!("unknown flow `{f}`")).at(format!("{at}/flow"))
            })?;
            let u = as_user.map(|id| find_user(id, "as")).transpose()?;
            flow_limit(snap, fi, u)
        }
        _ => {
            return Err(
                Problem::unprocessable("give exactly one of `user` or `flow`").at(format!("{at}/user"))
            );
        }
    };
    let Some(key) = budget_key(tenant, &limit.budget) else {
        return Err(Problem::unprocessable(
            "nobody's budget: an instant flow needs `as` (the user who runs it, REQ-4)",
        )
        .at(format!("{at}/as")));
    };
    let limits = Limits {
        per_24h: limit.requests_per_24h,
        per_5min: limit.per_5_minutes,
    };
    Ok(BudgetOf { key, limits, limit })
}

/// Answers to requests that carried an idempotency key, kept for 24 hours on this node so a retried count is
/// not counted twice.
#[derive(Debug, Default)]
pub struct Replays {
    seen: Mutex<HashMap<String, (u64, serde_json::Value, u16)>>,
}

impl Replays {
    pub fn get(&self, key: &str, now_ms: u64) -> Option<(serde_json::Value, u16)> {
        let seen = self.seen.lock().ok()?;
        seen.get(key)
            .filter(|(until, _, _)| *until > now_ms)
            .map(|(_, v, s)| (v.clone(), *s))
    }

    pub fn put(&self, key: String, answer: serde_json::Value, status: u16, now_ms: u64) {
        if let Ok(mut seen) = self.seen.lock() {
            if seen.len() > 100_000 {
                seen.retain(|_, (until, _, _)| *until > now_ms);
            }
            seen.insert(key, (now_ms + entitle_meter::DAY_MS, answer, status));
        }
    }
}
