//! What to do while Redis is unreachable: count locally with the same limits (fail-open) or refuse (fail-closed),
//! probe Redis again with exponential backoff, and go back to it by itself once it answers.
//!
//! Each call to Redis is bounded by a short timeout, and while Redis is marked down only one call per backoff
//! period tries it (the probe), so a dead Redis costs at most one timeout per period, not one per request.
//! Fail-open trades accuracy for availability: while down, each node enforces the limits alone, so N nodes can
//! admit up to N times a limit, and what was counted locally is not carried over to Redis on recovery.
//!
//! A call that fails partway keeps what Redis decided (see [`crate::BatchFailure`]); the events Redis did not
//! count go to the policy, and those it may have counted (it could not even be asked) are answered
//! [`Decision::Unknown`] — or, under fail-open, allowed if the local meter admits them — and settled in the
//! background, so a late script is cancelled rather than counted unseen.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::MeterError;
use crate::decision::{Decision, Event, Limits, Window};
use crate::local::LocalMeter;
use crate::remote::{BatchFailure, RedisMeter, Settled, TOKEN_TTL_MS};
use crate::window::Windows;

/// The choice made for when Redis cannot be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailPolicy {
    /// Count in a [`LocalMeter`] with the same limits.
    Open,
    /// Refuse every request (with `by: Window::Unavailable`).
    Closed,
}

/// Where decisions come from right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// From Redis.
    Redis,
    /// Redis is down; decisions come from the local meter (fail-open).
    Local,
    /// Redis is down; every request is refused (fail-closed).
    Refusing,
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailoverStats {
    /// The current mode.
    pub mode: Mode,
    /// Calls to Redis that failed or timed out.
    pub redis_failures: u64,
    /// Decisions made without Redis (local or refused).
    pub fallback_decisions: u64,
    /// Times Redis came back after being marked down.
    pub recoveries: u64,
    /// Calls whose outcome was unknown when answered ([`Decision::Unknown`] or a local admission).
    pub unknown_calls: u64,
    /// Of those, settled later: the script had counted.
    pub settled_counted: u64,
    /// Of those, settled later: cancelled before the script ran (nothing counted).
    pub settled_cancelled: u64,
}

/// How the unknown calls settled, shared with the tasks that settle them.
#[derive(Debug, Default)]
struct Settling {
    calls: AtomicU64,
    counted: AtomicU64,
    cancelled: AtomicU64,
}

/// A [`RedisMeter`] with a failure policy. Decisions never fail: they come from Redis, or from the policy.
#[derive(Debug)]
pub struct FailoverMeter {
    url: String,
    prefix: String,
    redis: OnceLock<RedisMeter>,
    local: LocalMeter,
    policy: FailPolicy,
    timeout: Duration,
    min_backoff_ms: u64,
    max_backoff_ms: u64,
    down: AtomicBool,
    backoff_ms: AtomicU64,
    next_probe_ms: AtomicU64,
    redis_failures: AtomicU64,
    fallback_decisions: AtomicU64,
    recoveries: AtomicU64,
    settling: Arc<Settling>,
}

impl FailoverMeter {
    /// A meter on the Redis at `url`, connected lazily (so a server can start while Redis is down), with a
    /// 50 ms timeout per call and probes backing off from 100 ms to 5 s.
    #[must_use]
    pub fn new(
        url: impl Into<String>,
        prefix: impl Into<String>,
        windows: Windows,
        policy: FailPolicy,
    ) -> Self {
        Self {
            url: url.into(),
            prefix: prefix.into(),
            redis: OnceLock::new(),
            local: LocalMeter::new(windows),
            policy,
            timeout: Duration::from_millis(50),
            min_backoff_ms: 100,
            max_backoff_ms: 5_000,
            down: AtomicBool::new(false),
            backoff_ms: AtomicU64::new(100),
            next_probe_ms: AtomicU64::new(0),
            redis_failures: AtomicU64::new(0),
            fallback_decisions: AtomicU64::new(0),
            recoveries: AtomicU64::new(0),
            settling: Arc::default(),
        }
    }

    /// Sets the timeout of each Redis call (and of connecting).
    #[must_use]
    pub const fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the probe backoff bounds (ms of the caller's clock).
    #[must_use]
    pub fn with_backoff(mut self, min_ms: u64, max_ms: u64) -> Self {
        self.min_backoff_ms = min_ms;
        self.max_backoff_ms = max_ms.max(min_ms);
        self.backoff_ms.store(min_ms, SeqCst);
        self
    }

    /// The local meter used under fail-open (e.g. to snapshot it).
    #[must_use]
    pub const fn local(&self) -> &LocalMeter {
        &self.local
    }

    /// Where decisions come from now.
    #[must_use]
    pub fn mode(&self) -> Mode {
        match (self.down.load(SeqCst), self.policy) {
            (false, _) => Mode::Redis,
            (true, FailPolicy::Open) => Mode::Local,
            (true, FailPolicy::Closed) => Mode::Refusing,
        }
    }

    /// The counters for `/metrics`.
    #[must_use]
    pub fn stats(&self) -> FailoverStats {
        FailoverStats {
            mode: self.mode(),
            redis_failures: self.redis_failures.load(SeqCst),
            fallback_decisions: self.fallback_decisions.load(SeqCst),
            recoveries: self.recoveries.load(SeqCst),
            unknown_calls: self.settling.calls.load(SeqCst),
            settled_counted: self.settling.counted.load(SeqCst),
            settled_cancelled: self.settling.cancelled.load(SeqCst),
        }
    }

    /// One check-and-count; see [`RedisMeter::check`].
    pub async fn check(&self, key: &str, n: u64, limits: Limits, now_ms: u64) -> Decision {
        let events = [Event { key, n, limits }];
        let mut out = self.check_batch(&events, now_ms).await;
        out.pop().unwrap_or(Decision::Refused {
            limit: limits.clamped().day,
            remaining: 0,
            reset_at_ms: now_ms,
            retry_after_ms: Some(1_000),
            by: Window::Unavailable,
        })
    }

    /// A batch; see [`RedisMeter::check_batch`]. Answers every event, in order.
    pub async fn check_batch(&self, events: &[Event<'_>], now_ms: u64) -> Vec<Decision> {
        if !self.may_try_redis(now_ms) {
            return self.fallback(events, now_ms);
        }
        let failure = match self.try_redis(events, now_ms).await {
            Ok(out) => {
                if self.down.swap(false, SeqCst) {
                    self.recoveries.fetch_add(1, SeqCst);
                    self.backoff_ms.store(self.min_backoff_ms, SeqCst);
                }
                return out;
            }
            Err(f) => f,
        };
        self.failed(now_ms);
        let mut out = failure.decided;
        if let Some((n, token)) = failure.unknown {
            let from = out.len();
            let unsure = events.get(from..from + n).unwrap_or_default();
            out.extend(self.unknown(unsure, now_ms));
            self.settle_later(token);
        }
        let rest = events.get(out.len()..).unwrap_or_default();
        out.extend(self.fallback(rest, now_ms));
        out
    }

    /// The counts of one key in the window, from the counter that enforces: Redis while it is up; while it is
    /// down, the local meter under fail-open.
    ///
    /// # Errors
    /// Redis cannot be read and the local meter is not the one enforcing (Redis is up, or fail-closed).
    pub async fn usage(&self, key: &str, now_ms: u64) -> Result<Vec<crate::BucketCount>, MeterError> {
        let down = self.down.load(SeqCst);
        if down && self.policy == FailPolicy::Open {
            return Ok(self.local.usage(key, now_ms));
        }
        let redis = self.redis().await?;
        redis.usage(key, now_ms).await
    }

    /// The Redis meter, connected on first use (bounded by the timeout).
    async fn redis(&self) -> Result<&RedisMeter, MeterError> {
        if let Some(r) = self.redis.get() {
            return Ok(r);
        }
        let w = self.local.windows();
        let r = RedisMeter::connect(&self.url, self.prefix.clone(), w, self.timeout);
        let r = tokio::time::timeout(self.timeout, r)
            .await
            .map_err(|_| MeterError::Timeout)??;
        Ok(self.redis.get_or_init(|| r))
    }

    async fn try_redis(&self, events: &[Event<'_>], now_ms: u64) -> Result<Vec<Decision>, BatchFailure> {
        let redis = self.redis().await.map_err(|error| BatchFailure {
            decided: Vec::new(),
            unknown: None,
            error,
        })?;
        redis.check_batch_partial(events, now_ms).await
    }

    /// Events Redis may have counted: never refused. Fail-open admits them if the local meter does.
    fn unknown(&self, events: &[Event<'_>], now_ms: u64) -> Vec<Decision> {
        self.fallback_decisions.fetch_add(events.len() as u64, SeqCst);
        let wait = self.next_probe_ms.load(SeqCst).saturating_sub(now_ms).max(1_000);
        events
            .iter()
            .map(|e| {
                if self.policy == FailPolicy::Open {
                    let d = self.local.check(e.key, e.n, e.limits, now_ms);
                    if d.is_allowed() {
                        return d;
                    }
                }
                Decision::Unknown {
                    limit: e.limits.clamped().day,
                    retry_after_ms: wait,
                }
            })
            .collect()
    }

    /// Settles an unknown call in the background: cancels it if its script has not run (so it never counts
    /// unseen), retrying until half the token's lifetime has passed.
    fn settle_later(&self, token: String) {
        self.settling.calls.fetch_add(1, SeqCst);
        let (Some(redis), Ok(rt)) = (self.redis.get(), tokio::runtime::Handle::try_current()) else {
            return;
        };
        let (redis, settling) = (redis.clone(), Arc::clone(&self.settling));
        rt.spawn(async move {
            let deadline = tokio::time::Instant::now() + Duration::from_millis(TOKEN_TTL_MS / 2);
            let mut wait = Duration::from_millis(50);
            while tokio::time::Instant::now() < deadline {
                match redis.settle(&token).await {
                    Ok(Settled::Counted) => {
                        settling.counted.fetch_add(1, SeqCst);
                        return;
                    }
                    Ok(Settled::Cancelled) => {
                        settling.cancelled.fetch_add(1, SeqCst);
                        return;
                    }
                    Err(_) => {
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(5));
                    }
                }
            }
        });
    }

    /// While down, only the caller that claims the due probe tries Redis.
    fn may_try_redis(&self, now_ms: u64) -> bool {
        if !self.down.load(SeqCst) {
            return true;
        }
        let due = self.next_probe_ms.load(SeqCst);
        let backoff = self.backoff_ms.load(SeqCst);
        now_ms >= due
            && self
                .next_probe_ms
                .compare_exchange(due, now_ms + backoff, SeqCst, SeqCst)
                .is_ok()
    }

    fn failed(&self, now_ms: u64) {
        self.redis_failures.fetch_add(1, SeqCst);
        let backoff = if self.down.swap(true, SeqCst) {
            let b = self
                .backoff_ms
                .load(SeqCst)
                .saturating_mul(2)
                .min(self.max_backoff_ms);
            self.backoff_ms.store(b, SeqCst);
            b
        } else {
            self.backoff_ms.store(self.min_backoff_ms, SeqCst);
            self.min_backoff_ms
        };
        self.next_probe_ms.store(now_ms + backoff, SeqCst);
    }

    fn fallback(&self, events: &[Event<'_>], now_ms: u64) -> Vec<Decision> {
        self.fallback_decisions.fetch_add(events.len() as u64, SeqCst);
        match self.policy {
            FailPolicy::Open => self.local.check_batch(events, now_ms),
            FailPolicy::Closed => {
                let wait = self.next_probe_ms.load(SeqCst).saturating_sub(now_ms).max(1_000);
                events
                    .iter()
                    .map(|e| Decision::Refused {
                        limit: e.limits.clamped().day,
                        remaining: 0,
                        reset_at_ms: now_ms,
                        retry_after_ms: Some(wait),
                        by: Window::Unavailable,
                    })
                    .collect()
            }
        }
    }
}
