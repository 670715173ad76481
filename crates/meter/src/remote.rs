//! The Redis meter: the same buckets kept in one Redis hash per key, checked and counted by one Lua script
//! (`meter.lua`), one round trip per check and per chunk of [`CHUNK`] events of a batch (so no single script
//! holds Redis, which runs one command at a time, for long: other nodes wait at most one chunk).
//!
//! # Timeouts never lie
//! A client that times out cannot know whether Redis ran its script, and a script that runs late still counts.
//! So each call carries a unique token; the script does nothing if the token's key exists, and otherwise stores
//! its answer there (for two minutes). After a timeout or an error the client runs `settle.lua`, which atomically
//! either leaves a cancel marker (the script has not run and never will count) or returns the stored answer
//! (the truth). Redis runs one script at a time, so the two are ordered. Only when even that cannot reach Redis
//! is the outcome unknown ([`BatchFailure::unknown`]); the caller must then not call those events refused.
//!
//! Time is the caller's `now`, not Redis `TIME`: tests stay deterministic and a batch is judged at one instant.
//! The price is that the nodes sharing a Redis must keep their clocks in sync (NTP); a node whose clock is
//! behind counts into the newest bucket any node has used for that key (time never goes backwards per key), so
//! skew can only make the meter refuse earlier, by at most the skew.
//!
//! Keys live in one Redis (or one cluster slot per key: each event's hash is named `{prefix}{key}`, and a batch
//! touching several keys needs them in one slot, e.g. a single instance). A key's hash expires after 24 hours
//! and one bucket without requests, when everything in it has left the window.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::MeterError;
use crate::decision::{Decision, Event, Limits, Window};
use crate::window::Windows;

/// The Lua source, for `SCRIPT LOAD` by tools (e.g. `redis-benchmark` runs of the same script).
pub const SCRIPT: &str = include_str!("meter.lua");

/// The Lua source of `settle.lua` (cancel a timed-out call, or fetch its answer).
pub const SETTLE_SCRIPT: &str = include_str!("settle.lua");

/// Events per script call: a 256-event chunk runs in about 3 ms in Redis, a 10,000-event one in over 100 ms.
pub const CHUNK: usize = 256;

/// How long a call's stored answer, or its cancel marker, lives in Redis (ms). A call is settled within half of
/// it or declared unknown for good, so a stored answer is never mistaken for a missing one.
pub const TOKEN_TTL_MS: u64 = 120_000;

/// Lua's `unpack` takes at most ~8,000 values; a refusal reads the `K + 1` buckets at once.
const MAX_REDIS_BUCKETS: u32 = 7_000;

/// Tokens of answered calls passed to the next call for deletion, at most this many per call.
const DONE_PER_CALL: usize = 64;

/// Answered tokens kept waiting for a next call; beyond this, they just expire.
const DONE_BACKLOG: usize = 4_096;

/// Per-key request meter kept in Redis, shared by every node using the same Redis and prefix.
#[derive(Clone)]
pub struct RedisMeter {
    conn: ConnectionManager,
    script: redis::Script,
    settle: redis::Script,
    prefix: String,
    windows: Windows,
    timeout: Duration,
    /// This meter's random id and call counter: the tokens.
    node: u64,
    seq: Arc<AtomicU64>,
    /// Tokens of calls whose answers arrived, to delete with the next call.
    done: Arc<Mutex<Vec<String>>>,
}

/// A batch that Redis did not see through. Events `0..decided.len()` were decided by Redis (their answers
/// are the truth), the next `unknown` ones may or may not have been counted, and the rest were not counted.
#[derive(Debug)]
pub struct BatchFailure {
    /// Redis's answers for the first events.
    pub decided: Vec<Decision>,
    /// How many events after those have an unknown outcome (0 or one chunk), and their call's token for
    /// [`RedisMeter::settle`].
    pub unknown: Option<(usize, String)>,
    /// What went wrong.
    pub error: MeterError,
}

/// What [`RedisMeter::settle`] found out about a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Its script ran: it counted what it allowed.
    Counted,
    /// Its script never ran, and now never will count.
    Cancelled,
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
    /// reconnects by itself, and loads the script. `timeout` bounds connecting and each call.
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
        let meter = Self::with_connection(conn, prefix, windows)?.with_timeout(timeout);
        meter.load_script().await?;
        Ok(meter)
    }

    /// A meter on an existing connection, with a 1 s timeout per call.
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
        // Random per process (std seeds it from the OS) and per meter: tokens of two nodes never meet.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        Ok(Self {
            conn,
            script: redis::Script::new(SCRIPT),
            settle: redis::Script::new(SETTLE_SCRIPT),
            prefix: prefix.into(),
            windows,
            timeout: Duration::from_secs(1),
            node: h.finish(),
            seq: Arc::new(AtomicU64::new(0)),
            done: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// Sets how long one call (one chunk) may take before it is settled instead.
    #[must_use]
    pub const fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
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

    /// [`crate::LocalMeter::check_batch`], in Redis: one round trip per [`CHUNK`] events, each chunk judged
    /// atomically, the chunks in order.
    ///
    /// # Errors
    /// Redis unreachable, timed out, or answering something unexpected. Some events may have been counted
    /// then: [`Self::check_batch_partial`] says which.
    pub async fn check_batch(&self, events: &[Event<'_>], now_ms: u64) -> Result<Vec<Decision>, MeterError> {
        self.check_batch_partial(events, now_ms)
            .await
            .map_err(|f| f.error)
    }

    /// [`Self::check_batch`], saying on failure which events Redis decided, which it may have counted, and
    /// which it did not count.
    ///
    /// # Errors
    /// A [`BatchFailure`] when a chunk failed or timed out; the later chunks are not sent.
    pub async fn check_batch_partial(
        &self,
        events: &[Event<'_>],
        now_ms: u64,
    ) -> Result<Vec<Decision>, BatchFailure> {
        let mut out = Vec::with_capacity(events.len());
        for chunk in events.chunks(CHUNK) {
            let token = self.next_token();
            let error = match self.call(chunk, now_ms, &token).await {
                Ok(d) => {
                    out.extend(d);
                    self.answered(token);
                    continue;
                }
                Err(e) => e,
            };
            // The script may still run, or have run: cancel it, or learn what it decided.
            let unknown = match self.settle_call(&token).await {
                Ok(Some(raw)) => match decode_all(&raw, chunk) {
                    Ok(d) => {
                        out.extend(d);
                        self.answered(token);
                        None
                    }
                    Err(_) => Some((chunk.len(), token)),
                },
                Ok(None) => None,
                Err(_) => Some((chunk.len(), token)),
            };
            return Err(BatchFailure {
                decided: out,
                unknown,
                error,
            });
        }
        Ok(out)
    }

    /// Cancels the call of `token` if its script has not run, else reports that it counted. Idempotent.
    ///
    /// # Errors
    /// Redis unreachable or timed out: still unknown.
    pub async fn settle(&self, token: &str) -> Result<Settled, MeterError> {
        Ok(match self.settle_call(token).await? {
            Some(_) => {
                self.answered(token.to_owned());
                Settled::Counted
            }
            None => Settled::Cancelled,
        })
    }

    /// One script call for one chunk, bounded by the timeout.
    async fn call(&self, chunk: &[Event<'_>], now_ms: u64, token: &str) -> Result<Vec<Decision>, MeterError> {
        let done = self.take_done();
        let w = self.windows;
        let mut inv = self.script.prepare_invoke();
        inv.key(token)
            .arg(now_ms)
            .arg(w.bucket_ms())
            .arg(w.day_buckets())
            .arg(w.short_buckets())
            .arg(w.day_ms())
            .arg(done.len())
            .arg(TOKEN_TTL_MS);
        for d in &done {
            inv.key(d.as_str());
        }
        for e in chunk {
            let lim = e.limits.clamped();
            inv.key(format!("{}{}", self.prefix, e.key))
                .arg(e.n)
                .arg(lim.day)
                .arg(lim.short);
        }
        let mut conn = self.conn.clone();
        let raw: Vec<i64> = match tokio::time::timeout(self.timeout, inv.invoke_async(&mut conn)).await {
            Ok(r) => r?,
            Err(_) => return Err(MeterError::Timeout),
        };
        if raw.is_empty() {
            return Err(MeterError::Protocol("the call was cancelled".to_owned()));
        }
        decode_chunk(&raw, chunk)
    }

    /// `settle.lua`: `Some(answer)` if the script ran, `None` if it is now cancelled.
    async fn settle_call(&self, token: &str) -> Result<Option<String>, MeterError> {
        let mut inv = self.settle.prepare_invoke();
        inv.key(token).arg(TOKEN_TTL_MS);
        let mut conn = self.conn.clone();
        let v: Option<String> = match tokio::time::timeout(self.timeout, inv.invoke_async(&mut conn)).await {
            Ok(r) => r?,
            Err(_) => return Err(MeterError::Timeout),
        };
        Ok(v.filter(|s| s != "cancelled"))
    }

    fn next_token(&self) -> String {
        let n = self.seq.fetch_add(1, Relaxed);
        format!("{}tok:{:016x}:{n}", self.prefix, self.node)
    }

    /// Keeps an answered call's token for deletion by a later call (it would expire anyway).
    fn answered(&self, token: String) {
        if let Ok(mut done) = self.done.lock()
            && done.len() < DONE_BACKLOG
        {
            done.push(token);
        }
    }

    fn take_done(&self) -> Vec<String> {
        match self.done.lock() {
            Ok(mut done) => {
                let from = done.len().saturating_sub(DONE_PER_CALL);
                done.split_off(from)
            }
            Err(_) => Vec::new(),
        }
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
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(format!("{}{}", self.prefix, key));
        let read = cmd.query_async::<Vec<(String, String)>>(&mut conn);
        let fields = tokio::time::timeout(self.timeout, read)
            .await
            .map_err(|_| MeterError::Timeout)??;
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

/// A chunk's answer, as the script returns it.
fn decode_chunk(raw: &[i64], chunk: &[Event<'_>]) -> Result<Vec<Decision>, MeterError> {
    if raw.len() != chunk.len() * 6 {
        return Err(MeterError::Protocol(format!(
            "{} values for {} events",
            raw.len(),
            chunk.len()
        )));
    }
    raw.chunks_exact(6)
        .zip(chunk)
        .map(|(v, e)| decode(v, e.limits))
        .collect()
}

/// A chunk's answer, as the script stores it (the same integers, space-separated).
fn decode_all(stored: &str, chunk: &[Event<'_>]) -> Result<Vec<Decision>, MeterError> {
    let raw = stored
        .split(' ')
        .map(|x| {
            x.parse::<i64>()
                .map_err(|_| MeterError::Protocol(format!("stored answer `{x}`")))
        })
        .collect::<Result<Vec<i64>, _>>()?;
    decode_chunk(&raw, chunk)
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
