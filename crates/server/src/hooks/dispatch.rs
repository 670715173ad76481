//! The dispatcher: each tick makes deliveries of the events after every endpoint's cursor, claims the ones due
//! (leased, so two nodes never send the same one at once; a node that dies leaves its lease to run out), sends
//! them concurrently with a per-request timeout, and records each attempt. A slow or dead receiver holds at most
//! one of the `concurrency` slots for at most `timeout`; writes never wait for it (they only store events).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::schedule::Schedule;
use super::sign::{self, Secret};
use crate::store::hooks::{AttemptRow, DueRow, Outcome};
use crate::store::{Store, StoreError};

/// Where the dispatcher reads the time: the system's, or one a test moves.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now_ms(&self) -> i64;
}

#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        crate::store::now_ms()
    }
}

/// A clock that moves only when told (tests of the retry schedule, without sleeping).
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(ms: i64) -> ManualClock {
        ManualClock(AtomicI64::new(ms))
    }
    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The dispatcher's settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// How long one request may take (connect, send, first byte of the answer).
    pub timeout: Duration,
    /// Deliveries claimed (and events fanned out per endpoint) per tick.
    pub batch: i64,
    /// How long a claimed delivery is this node's.
    pub lease_ms: i64,
    /// Ticks run at once (each claims its own deliveries): one's database work overlaps another's sending.
    pub workers: usize,
    pub schedule: Schedule,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            concurrency: 32,
            timeout: Duration::from_secs(10),
            batch: 256,
            lease_ms: 60_000,
            workers: 1,
            schedule: Schedule::default(),
        }
    }
}

/// What one tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Deliveries made from new events.
    pub made: usize,
    /// Attempts made.
    pub sent: usize,
    pub delivered: usize,
    pub retried: usize,
    pub gave_up: usize,
}

pub struct Dispatcher {
    store: Arc<dyn Store>,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
    opts: Options,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

/// An attempt's result, before it is recorded.
struct Sent {
    due: DueRow,
    attempt: i64,
    first: i64,
    row: AttemptRow,
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        opts: Options,
    ) -> Result<Dispatcher, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout)
            // A redirect could lead the server into a network the endpoint's URL check kept it out of.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("entitle-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Dispatcher {
            store,
            client,
            clock,
            opts,
        })
    }

    /// Fans out new events, then sends what is due now, all of it concurrently (up to `concurrency`).
    pub async fn tick(&self) -> Result<TickReport, StoreError> {
        self.tick_as(true).await
    }

    /// A tick; only the first worker fans out (the others would only find the same events made already).
    async fn tick_as(&self, fan_out: bool) -> Result<TickReport, StoreError> {
        let now = self.clock.now_ms();
        let mut report = TickReport {
            made: if fan_out {
                self.store.fan_out(now, self.opts.batch).await?
            } else {
                0
            },
            ..TickReport::default()
        };
        let due = self
            .store
            .claim_due(now, self.opts.batch, self.opts.lease_ms)
            .await?;
        let mut sent = futures_util::stream::iter(due)
            .map(|d| self.send(d))
            .buffer_unordered(self.opts.concurrency.max(1));
        let mut outcomes = Vec::new();
        while let Some(s) = sent.next().await {
            report.sent += 1;
            match s.row.state {
                "delivered" => report.delivered += 1,
                "failed" => report.gave_up += 1,
                _ => report.retried += 1,
            }
            outcomes.push(Outcome {
                delivery: s.due.id,
                endpoint: s.due.endpoint,
                attempt: s.attempt,
                first_attempt_at: s.first,
                row: s.row,
            });
        }
        // One commit for the tick's outcomes. Should it fail, the leases run out and the deliveries are sent
        // again (at least once), with the same `webhook-id`.
        self.store.record(&outcomes).await?;
        Ok(report)
    }

    async fn send(&self, due: DueRow) -> Sent {
        let at = self.clock.now_ms();
        let secrets: Vec<Secret> = due
            .secrets
            .iter()
            .filter(|s| s.expires_at.is_none_or(|x| x > at))
            .filter_map(|s| Secret::parse(&s.secret).ok())
            .collect();
        let timestamp = at.div_euclid(1000);
        let signature = sign::header(&secrets, &due.event_id, timestamp, due.body.as_bytes());
        let started = Instant::now();
        let answer = self
            .client
            .post(&due.url)
            .header("content-type", "application/json")
            .header("webhook-id", &due.event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(due.body.clone())
            .send()
            .await;
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let (status, error) = match answer {
            Ok(r) if r.status().is_success() => (Some(i64::from(r.status().as_u16())), None),
            Ok(r) => (
                Some(i64::from(r.status().as_u16())),
                Some(format!("answered {}", r.status())),
            ),
            Err(e) if e.is_timeout() => (None, Some(format!("no answer within {:?}", self.opts.timeout))),
            Err(e) => (None, Some(format!("could not send: {e}"))),
        };
        let attempt = due.attempts.saturating_add(1);
        let first = due.first_attempt_at.unwrap_or(at);
        let (state, next_at) = if error.is_none() {
            ("delivered", at)
        } else {
            match self.opts.schedule.next(attempt, first, at, rand::random::<f64>()) {
                Some(next) => ("pending", next),
                None => ("failed", at),
            }
        };
        Sent {
            due,
            attempt,
            first,
            row: AttemptRow {
                at,
                status,
                error,
                duration_ms,
                state,
                next_at,
            },
        }
    }

    /// Ticks with `workers` loops at once until none finds anything to do: what is due now, sent (the benchmark
    /// and tests use it; `run` keeps going).
    pub async fn drain(self: &Arc<Self>) -> Result<TickReport, StoreError> {
        let mut loops = Vec::new();
        for w in 0..self.opts.workers.max(1) {
            let me = Arc::clone(self);
            loops.push(tokio::spawn(async move {
                let mut total = TickReport::default();
                let mut idle = 0;
                loop {
                    let r = me.tick_as(w == 0).await?;
                    // A worker that does not fan out may find nothing while the first is still making
                    // deliveries: it stops after a few empty rounds.
                    if r.sent == 0 && r.made == 0 && w > 0 && idle < 3 {
                        idle += 1;
                        tokio::task::yield_now().await;
                        continue;
                    }
                    if r.sent == 0 && r.made == 0 {
                        return Ok::<_, StoreError>(total);
                    }
                    total.made += r.made;
                    total.sent += r.sent;
                    total.delivered += r.delivered;
                    total.retried += r.retried;
                    total.gave_up += r.gave_up;
                }
            }));
        }
        let mut total = TickReport::default();
        for l in loops {
            let r = l.await.map_err(|e| StoreError::Other(e.to_string()))??;
            total.made += r.made;
            total.sent += r.sent;
            total.delivered += r.delivered;
            total.retried += r.retried;
            total.gave_up += r.gave_up;
        }
        Ok(total)
    }

    /// Ticks until the process ends: at once when `wake` is notified (a write stored events), else when the
    /// next delivery is due, and at least every second (other nodes' events).
    pub async fn run(self: Arc<Self>, wake: Arc<tokio::sync::Notify>) {
        for _ in 1..self.opts.workers.max(1) {
            let (me, wake) = (Arc::clone(&self), Arc::clone(&wake));
            tokio::spawn(async move { me.worker(wake, false).await });
        }
        self.worker(wake, true).await;
    }

    async fn worker(&self, wake: Arc<tokio::sync::Notify>, fan_out: bool) {
        loop {
            match self.tick_as(fan_out).await {
                Ok(r) if r.sent == self.opts.batch as usize => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "webhook dispatch failed; trying again"),
            }
            let now = self.clock.now_ms();
            let next = self.store.next_due().await.ok().flatten().unwrap_or(now + 1000);
            let wait = Duration::from_millis(u64::try_from((next - now).clamp(10, 1000)).unwrap_or(1000));
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}
