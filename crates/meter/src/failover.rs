//! What to do while Redis is unreachable: count locally with the same limits (fail-open) or refuse (fail-closed),
//! probe Redis again with exponential backoff, and go back to it by itself once it answers.
//!
//! Each call to Redis is bounded by a short timeout, and while Redis is marked down only one call per backoff
//! period tries it (the probe), so a dead Redis costs at most one timeout per period, not one per request.
//! Fail-open trades accuracy for availability: while down, each node enforces the limits alone, so N nodes can
//! admit up to N times a limit, and what was counted locally is not carried over to Redis on recovery.

use std::sync::OnceLock;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;

use crate::decision::{Decision, Event, Limits, Window};
use crate::local::LocalMeter;
use crate::remote::RedisMeter;
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

    /// A batch; see [`RedisMeter::check_batch`].
    pub async fn check_batch(&self, events: &[Event<'_>], now_ms: u64) -> Vec<Decision> {
        if self.may_try_redis(now_ms) {
            if let Some(out) = self.try_redis(events, now_ms).await {
                if self.down.swap(false, SeqCst) {
                    self.recoveries.fetch_add(1, SeqCst);
                    self.backoff_ms.store(self.min_backoff_ms, SeqCst);
                }
                return out;
            }
            self.failed(now_ms);
        }
        self.fallback(events, now_ms)
    }

    /// The counts of one key in the window: from Redis while it answers, else from the local meter.
    pub async fn usage(&self, key: &str, now_ms: u64) -> Vec<crate::BucketCount> {
        if !self.down.load(SeqCst) {
            if let Some(redis) = self.redis.get() {
                if let Ok(Ok(out)) = tokio::time::timeout(self.timeout, redis.usage(key, now_ms)).await {
                    return out;
                }
            }
        }
        self.local.usage(key, now_ms)
    }

    async fn try_redis(&self, events: &[Event<'_>], now_ms: u64) -> Option<Vec<Decision>> {
        let redis = match self.redis.get() {
            Some(r) => r,
            None => {
                let w = self.local.windows();
                let r = RedisMeter::connect(&self.url, self.prefix.clone(), w, self.timeout);
                let r = tokio::time::timeout(self.timeout, r).await.ok()?.ok()?;
                self.redis.get_or_init(|| r)
            }
        };
        tokio::time::timeout(self.timeout, redis.check_batch(events, now_ms))
            .await
            .ok()?
            .ok()
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
