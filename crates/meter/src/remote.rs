//! The Redis meter: the same buckets kept in one Redis hash per key, checked and counted by one Lua script
//! (`meter.lua`) in one round trip per check or per batch.
//!
//! Time is the caller's `now`, not Redis `TIME`: tests stay deterministic and a batch is judged at one instant.
//! The price is that the nodes sharing a Redis must keep their clocks in sync (NTP); a node whose clock is
//! behind counts into the newest bucket any node has used for that key (time never goes backwards per key), so
//! skew can only make the meter refuse earlier, by at most the skew.
//!
//! Keys live in one Redis (or one cluster slot per key: each event's hash is named `{prefix}{key}`, and a batch
//! touching several keys needs them in one slot, e.g. a single instance). A key's hash expires after 24 hours
//! and one bucket without requests, when everything in it has left the window.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::MeterError;
use crate::decision::{Decision, Event, Limits, Window};
use crate::window::Windows;

/// The Lua source, for `SCRIPT LOAD` by tools (e.g. `redis-benchmark` runs of the same script).
pub const SCRIPT: &str = include_str!("meter.lua");

/// Lua's `unpack` takes at most ~8,000 values; a refusal reads the `K + 1` buckets at once.
const MAX_REDIS_BUCKETS: u32 = 7_000;

/// Per-key request meter kept in Redis, shared by every node using the same Redis and prefix.
#[derive(Clone)]
pub struct RedisMeter {
    conn: ConnectionManager,
    script: redis::Script,
    prefix: String,
    windows: Windows,
}

impl std::fmt::Debug for RedisMeter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisMeter")
            .field("prefix", &self.prefix)
            .field("windows", &self.windows)
            .field("script", &self.script.get_hash())
            .finish_non_exhaustive()
    }
}

impl RedisMeter {
    /// Connects to `url` (e.g. `redis://127.0.0.1:6379`) through a multiplexed [`ConnectionManager`], which
    /// reconnects by itself, and loads the script. `timeout` bounds connecting and each answer.
    ///
    /// # Errors
    /// A bad URL, an unreachable server, or windows with more than 7,000 buckets.
    pub async fn connect(
        url: &str,
        prefix: impl Into<String>,
        windows: Windows,
        timeout: Duration,
    ) -> Result<Self, MeterError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout)
            .set_number_of_retries(1)
            .set_max_delay(1_000);
        let conn = ConnectionManager::new_with_config(client, config).await?;
        let meter = Self::with_connection(conn, prefix, windows)?;
        meter.load_script().await?;
        Ok(meter)
    }

    /// A meter on an existing connection.
    ///
    /// # Errors
    /// Windows with more than 7,000 buckets.
    pub fn with_connection(
        conn: ConnectionManager,
        prefix: impl Into<String>,
        windows: Windows,
    ) -> Result<Self, MeterError> {
        if windows.day_buckets() > MAX_REDIS_BUCKETS {
            return Err(MeterError::Config(
                "the Redis meter takes at most 7,000 buckets per day".to_owned(),
            ));
        }
        Ok(Self {
            conn,
            script: redis::Script::new(SCRIPT),
            prefix: prefix.into(),
            windows,
        })
    }

    /// The windows this meter enforces.
    #[must_use]
    pub const fn windows(&self) -> Windows {
        self.windows
    }

    /// The script's SHA-1, as `EVALSHA` takes it.
    #[must_use]
    pub fn script_sha(&self) -> &str {
        self.script.get_hash()
    }

    /// `SCRIPT LOAD`s the script, once at start; later calls use `EVALSHA`, and reload it on `NOSCRIPT` (after a
    /// Redis restart or `SCRIPT FLUSH`).
    ///
    /// # Errors
    /// Redis unreachable or refusing the script.
    pub async fn load_script(&self) -> Result<String, MeterError> {
        let mut conn = self.conn.clone();
        Ok(self.script.load_async(&mut conn).await?)
    }

    /// [`crate::LocalMeter::check`], in Redis: one round trip.
    ///
    /// # Errors
    /// Redis unreachable, timed out, or answering something unexpected.
    pub async fn check(
        &self,
        key: &str,
        n: u64,
        limits: Limits,
        now_ms: u64,
    ) -> Result<Decision, MeterError> {
        let events = [Event { key, n, limits }];
        let mut out = self.check_batch(&events, now_ms).await?;
        out.pop()
            .ok_or_else(|| MeterError::Protocol("empty answer".to_owned()))
    }

    /// [`crate::LocalMeter::check_batch`], in Redis: one round trip for the whole batch, judged atomically.
    ///
    /// # Errors
    /// Redis unreachable, timed out, or answering something unexpected.
    pub async fn check_batch(&self, events: &[Event<'_>], now_ms: u64) -> Result<Vec<Decision>, MeterError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let w = self.windows;
        let mut inv = self.script.prepare_invoke();
        inv.arg(now_ms)
            .arg(w.bucket_ms())
            .arg(w.day_buckets())
            .arg(w.short_buckets())
            .arg(w.day_ms());
        for e in events {
            let lim = e.limits.clamped();
            inv.key(format!("{}{}", self.prefix, e.key))
                .arg(e.n)
                .arg(lim.day)
                .arg(lim.short);
        }
        let mut conn = self.conn.clone();
        let raw: Vec<i64> = inv.invoke_async(&mut conn).await?;
        if raw.len() != events.len() * 6 {
            return Err(MeterError::Protocol(format!(
                "{} values for {} events",
                raw.len(),
                events.len()
            )));
        }
        raw.chunks_exact(6)
            .zip(events)
            .map(|(v, e)| decode(v, e.limits))
            .collect()
    }
}

impl RedisMeter {
    /// The counts of one key still in the 24-hour window at `now_ms`, oldest first (one `HGETALL`).
    ///
    /// # Errors
    /// Redis unreachable or timed out.
    pub async fn usage(&self, key: &str, now_ms: u64) -> Result<Vec<crate::BucketCount>, MeterError> {
        let w = self.windows;
        let mut conn = self.conn.clone();
        let fields: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(format!("{}{}", self.prefix, key))
            .query_async(&mut conn)
            .await?;
        let bucket = w.bucket_ms();
        let first = (now_ms / bucket).saturating_sub(u64::from(w.day_buckets()));
        let mut out: Vec<crate::BucketCount> = fields
            .into_iter()
            .filter_map(|(f, v)| {
                let b: u64 = f.parse().ok()?;
                let count: u32 = v.parse().ok()?;
                (b >= first && count > 0).then_some(crate::BucketCount {
                    start_ms: b * bucket,
                    count,
                })
            })
            .collect();
        out.sort_by_key(|b| b.start_ms);
        Ok(out)
    }
}

fn decode(v: &[i64], limits: Limits) -> Result<Decision, MeterError> {
    let &[allowed, remaining, reset, retry, warn, by] = v else {
        return Err(MeterError::Protocol("short answer".to_owned()));
    };
    let u = |x: i64| u64::try_from(x).map_err(|_| MeterError::Protocol(format!("negative value {x}")));
    let limit = limits.clamped().day;
    Ok(if allowed == 1 {
        Decision::Allowed {
            limit,
            remaining: u(remaining)?,
            reset_at_ms: u(reset)?,
            warn: warn == 1,
        }
    } else {
        Decision::Refused {
            limit,
            remaining: u(remaining)?,
            reset_at_ms: u(reset)?,
            retry_after_ms: if retry < 0 { None } else { Some(u(retry)?) },
            by: if by == 1 { Window::Day } else { Window::Short },
        }
    })
}
