//! The dispatcher: makes deliveries of the events after every endpoint's cursor, already claimed by this node
//! (leased, so two nodes never send the same one at once; a node that dies leaves its lease to run out), claims
//! the retries and replays that are due, sends them concurrently with a per-request timeout, and records each
//! outcome. Sending, the next claim and the commit of what was sent overlap ([`Dispatcher::drain`]): a slow or
//! dead receiver holds at most one of the `concurrency` slots for at most `timeout`, and writes never wait for
//! it (they only store events).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::BoxFuture;

use super::schedule::Schedule;
use super::sign::{self, Secret};
use crate::store::hooks::{AttemptRow, DueRow, Outcome};
use crate::store::{Store, StoreError};

/// How long the dispatcher waits after a write's wake-up before it claims.
const COALESCE: Duration = Duration::from_millis(20);

/// The longest an outcome waits for its commit while others are still being sent.
const FLUSH_AFTER: Duration = Duration::from_millis(250);

/// Wakes a node's dispatcher. After a write that stored events ([`Wake::events`]) only while the dispatcher's last
/// claim found an enabled endpoint: events nobody subscribed to need no claim, and a write then pays nothing for
/// webhooks nobody uses, not even a thread's wake-up (an endpoint made on another node meanwhile is found by the
/// dispatcher's once-a-second claim). After an endpoint's change or a replay, always ([`Wake::now`]).
#[derive(Debug)]
pub struct Wake {
    notify: tokio::sync::Notify,
    /// Whether the dispatcher's last claim found an enabled endpoint (yes until it has looked).
    endpoints: std::sync::atomic::AtomicBool,
}

impl Default for Wake {
    fn default() -> Wake {
        Wake {
            notify: tokio::sync::Notify::new(),
            endpoints: std::sync::atomic::AtomicBool::new(true),
        }
    }
}

impl Wake {
    /// A write stored events.
    pub fn events(&self) {
        if self.endpoints.load(Ordering::Relaxed) {
            self.notify.notify_one();
        }
    }

    /// An endpoint was made or changed, or a delivery replayed: claim now.
    pub fn now(&self) {
        self.notify.notify_one();
    }
}

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
    /// Events made into deliveries, and retries claimed, per claim (each claim is a commit or two, so fewer,
    /// larger ones leave more of the machine to sending: 1,024 reached 54–58 % of a plain client's rate on
    /// PostgreSQL where 256 reached 35 %, BENCHMARKS §18).
    pub batch: i64,
    /// How long a claimed delivery is this node's (what is still queued when it ends is left unsent).
    pub lease_ms: i64,
    pub schedule: Schedule,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            concurrency: 32,
            timeout: Duration::from_secs(10),
            batch: 1024,
            lease_ms: 60_000,
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
    /// Claimed, but left unsent when the lease would have ended first.
    pub released: usize,
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

/// What a claim got: how many deliveries it made of new events, and everything due (those first); `None` when
/// no endpoint is enabled anywhere.
type Claimed = Option<(usize, Vec<DueRow>)>;

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

    /// Fans out new events, then sends what is due now, all of it concurrently (up to `concurrency`), and
    /// records the outcomes: one round, start to end (the tests step the retry schedule with it).
    pub async fn tick(&self) -> Result<TickReport, StoreError> {
        let (made, due) = self.claim_next().await?.unwrap_or_default();
        let mut report = TickReport {
            made,
            ..TickReport::default()
        };
        let mut sent = futures_util::stream::iter(due)
            .map(|d| self.send(d))
            .buffer_unordered(self.opts.concurrency.max(1));
        let mut outcomes = Vec::new();
        while let Some(s) = sent.next().await {
            outcomes.push(report.count(s));
        }
        // One commit for the round's outcomes. Should it fail, the leases run out and the deliveries are sent
        // again (at least once), with the same `webhook-id`.
        self.store.record(&outcomes).await?;
        Ok(report)
    }

    /// New events made into deliveries, then the next batch due, claimed under this node's lease.
    async fn claim_next(&self) -> Result<Claimed, StoreError> {
        let now = self.clock.now_ms();
        let lease = self.opts.lease_ms;
        // New events come out of the fan-out already claimed; then retries, replays and deliveries whose
        // node's lease ran out.
        let Some(mut due) = self
            .store
            .fan_out(now, self.opts.batch, now.saturating_add(lease))
            .await?
        else {
            // No endpoint: nothing to claim (and on SQLite, a claim would hold the write lock for nothing).
            return Ok(None);
        };
        let made = due.len();
        due.extend(self.store.claim_due(now, self.opts.batch, lease).await?);
        Ok(Some((made, due)))
    }

    /// Delivers what is due until nothing is (`wake: None`: the benchmark and tests), or for ever, waiting for
    /// `wake` or the next due time whenever nothing is. Three things overlap: up to `concurrency` requests in
    /// flight at all times (a slow one holds one slot, never the others); the next batch's fan-out and claim,
    /// started while less than a batch is left to start; and the commit of the outcomes so far, one at a time
    /// (the outcomes that finish meanwhile go in the next commit).
    async fn pump(&self, wake: Option<&Wake>) -> Result<TickReport, StoreError> {
        let concurrency = self.opts.concurrency.max(1);
        // The next claim starts while a batch is still queued: its database work overlaps the sending.
        let refill = usize::try_from(self.opts.batch).unwrap_or(1).max(concurrency);
        let timeout_ms = i64::try_from(self.opts.timeout.as_millis()).unwrap_or(i64::MAX);
        let mut report = TickReport::default();
        let mut queue: std::collections::VecDeque<DueRow> = std::collections::VecDeque::new();
        let mut sending = futures_util::stream::FuturesUnordered::new();
        let mut outcomes = Vec::new();
        let flush_at = usize::try_from(self.opts.batch / 2).unwrap_or(1).max(1);
        let mut oldest: Option<Instant> = None;
        let mut claiming: Option<BoxFuture<'_, Result<Claimed, StoreError>>> = None;
        let mut recording: Option<BoxFuture<'_, Result<(), StoreError>>> = None;
        // The last claim found nothing to do.
        let mut dry = false;
        loop {
            while sending.len() < concurrency {
                let Some(d) = queue.pop_front() else { break };
                // A delivery whose lease would end before its request could (receivers that time out keep the
                // queue waiting) is left for whichever node claims it next, rather than sent twice at once.
                if self.clock.now_ms().saturating_add(timeout_ms) > d.lease_until {
                    report.released += 1;
                    continue;
                }
                sending.push(self.send(d));
            }
            if claiming.is_none() && !dry && queue.len() < refill {
                claiming = Some(Box::pin(self.claim_next()));
            }
            // Outcomes are committed in groups (half a batch, or all there is once nothing is in flight, or
            // whatever waited 250 ms): each commit costs a sync to disk, whatever its size.
            let full = outcomes.len() >= flush_at
                || (sending.is_empty() && queue.is_empty())
                || oldest.is_some_and(|t: Instant| t.elapsed() >= FLUSH_AFTER);
            if recording.is_none() && !outcomes.is_empty() && full {
                oldest = None;
                let done = std::mem::take(&mut outcomes);
                recording = Some(Box::pin(async move { self.store.record(&done).await }));
            }
            let settled = sending.is_empty() && claiming.is_none() && recording.is_none();
            if settled && queue.is_empty() {
                let Some(wake) = wake else { return Ok(report) };
                let now = self.clock.now_ms();
                let next = self.store.next_due().await?.unwrap_or(now + 1000);
                let wait = Duration::from_millis(u64::try_from((next - now).clamp(10, 1000)).unwrap_or(1000));
                tokio::select! {
                    // Woken by a write (only while there is an endpoint: [`Wake::events`]), an endpoint's
                    // change or a replay: a moment more lets a burst of writes' events go out in one claim
                    // rather than a claim each.
                    () = wake.notify.notified() => tokio::time::sleep(COALESCE).await,
                    () = tokio::time::sleep(wait) => {}
                }
                dry = false;
                continue;
            }
            tokio::select! {
                Some(s) = sending.next(), if !sending.is_empty() => {
                    oldest.get_or_insert_with(Instant::now);
                    outcomes.push(report.count(s));
                }
                claimed = settle(&mut claiming) => {
                    let claimed = claimed?;
                    if let Some(wake) = wake {
                        wake.endpoints.store(claimed.is_some(), Ordering::Relaxed);
                    }
                    let (made, due) = claimed.unwrap_or_default();
                    report.made += made;
                    dry = made == 0 && due.is_empty();
                    queue.extend(due);
                }
                recorded = settle(&mut recording) => recorded?,
                // Outcomes waiting behind a slow request are committed all the same.
                () = flush_due(oldest), if recording.is_none() && !outcomes.is_empty() => {}
            }
        }
    }

    /// Delivers what is due now, until nothing is: the benchmark and tests use it; `run` keeps going.
    pub async fn drain(&self) -> Result<TickReport, StoreError> {
        self.pump(None).await
    }

    /// Delivers until the process ends: at once when `wake` is notified (a write stored events), else when the
    /// next delivery is due, and at least every second (other nodes' events). A failed commit or query is
    /// logged and the pump starts again a second later: what it had claimed is sent again once the lease ends.
    pub async fn run(self: Arc<Self>, wake: Arc<Wake>) {
        loop {
            if let Err(e) = self.pump(Some(&wake)).await {
                tracing::warn!(error = %e, "webhook dispatch failed; trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// When the oldest outcome not yet committed has waited `FLUSH_AFTER` (never, when there is none).
async fn flush_due(oldest: Option<Instant>) {
    match oldest {
        Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t + FLUSH_AFTER)).await,
        None => std::future::pending().await,
    }
}

/// The future in `slot` run to its end (the slot then empty), or never, when there is none: lets `select!` wait
/// on a step that may not be under way.
async fn settle<T>(slot: &mut Option<BoxFuture<'_, T>>) -> T {
    match slot.as_mut() {
        Some(f) => {
            let out = f.await;
            *slot = None;
            out
        }
        None => std::future::pending().await,
    }
}

impl TickReport {
    /// Counts an attempt's result and turns it into the outcome to record.
    fn count(&mut self, s: Sent) -> Outcome {
        self.sent += 1;
        match s.row.state {
            "delivered" => self.delivered += 1,
            "failed" => self.gave_up += 1,
            _ => self.retried += 1,
        }
        Outcome {
            delivery: s.due.id,
            endpoint: s.due.endpoint,
            attempt: s.attempt,
            first_attempt_at: s.first,
            row: s.row,
        }
    }
}
