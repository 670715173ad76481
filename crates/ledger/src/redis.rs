//! The Redis ledger: [`LocalLedger`](crate::LocalLedger)'s semantics, answer for answer, kept in Redis so that
//! several nodes share one count. One Lua script (`ledger.lua`) takes a chunk of events atomically: the event id
//! check, the day-pass book, the allocation and overdraft checks and the counts of each event are one step, so two
//! nodes racing on one user, one portal, one credit pool or one event id count once.
//!
//! # Keys
//! Every key of tenant `t` starts with `{prefix}{len(t)}{{t}}` (the tenant is a Redis Cluster hash tag, and its
//! length makes the names unambiguous whatever the tenant's characters):
//! - `…:b:{len(portal)}:{portal}:{user}`: a pass book (a string: `kept_from`, `anchor`, `cover`, a count of folded
//!   logins not yet dropped, then the logins, as big-endian doubles), expiring [`BOOK_TTL_MS`] (9 days) after
//!   its last write;
//! - `…:i:{id}`: an event id's fingerprint and first answer, expiring after [`RETAIN_MS`] (8 days);
//! - `…:m:YYYY-MM`: a hash of the month's counts (`l:{portal}` passes, `v:{portal}` page views, `c:{environment}`
//!   credits, `pool` credits from the unallocated pool), expiring [`MONTH_TTL_MS`] (400 days) after its last write.
//!
//! The script names the month hashes itself (a late login may move a pass to a month the caller did not name):
//! they share the tenant's hash slot, so this works on one instance and, one tenant per batch, on a cluster.
//!
//! # Unknown is never guessed
//! A call that fails before Redis runs the script (a refused connection; `OOM`, `BUSY`, `READONLY`, `LOADING`,
//! `NOSCRIPT` after the reload, cluster redirections) answers [`LedgerError::Unavailable`] with
//! [`Outcome::NotTaken`]. A call that times out or loses its connection after being sent, or whose answer cannot
//! be read, may have been counted: [`Outcome::Unknown`]. An event with an id settles that by being sent again.
//!
//! Time is the caller's `now` (not Redis `TIME`), as for the in-process ledger: nodes must keep their clocks in
//! sync. Redis expires keys on its own clock, so a book or an id is forgotten 9 or 8 days after it was last
//! written whatever `now` the callers pass; with clocks in sync that never changes an answer (see the README).

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError};

use crate::DAY_MS;
use crate::answer::{
    Answer, CreditAnswer, CreditSource, Event, LedgerError, LoginAnswer, MonthUsage, Outcome, Overage,
    ViewsAnswer,
};
use crate::local::check_time;
use crate::month::Month;
use crate::pass::{MAX_LOGINS, PassError, RETAIN_MS};

/// The Lua source, for `SCRIPT LOAD` by tools (e.g. `redis-benchmark` runs of the same script).
pub const SCRIPT: &str = include_str!("ledger.lua");

/// Events per script call, so that no call holds Redis (which runs one script at a time) for long.
pub const CHUNK: usize = 256;

/// Work one script call may do before it answers the events taken so far and leaves the rest of its chunk to
/// the next call: one unit per event and per login of a book read or walked (see `ledger.lua`). Ordinary books
/// (tens of logins) never reach it in a [`CHUNK`]; books near [`MAX_LOGINS`] do, and then a call stops after
/// a few milliseconds.
pub const WORK_BUDGET: u64 = 50_000;

/// Pass books up to this size (bytes: 32 and 8 per login) are read and written whole, in one call each; larger
/// ones by ranges, so that a login in time order costs the same whatever the book's size.
pub const SMALL_BOOK_BYTES: u64 = 2_048;

/// A pass book lives this long after its last write: the logins kept ([`RETAIN_MS`]) and one pass.
pub const BOOK_TTL_MS: u64 = RETAIN_MS + DAY_MS;

/// A month's counts live this long after their last write (a month closes 7 days after it ends, so about 13
/// months after it ends): long enough for a year's reports.
pub const MONTH_TTL_MS: u64 = 400 * DAY_MS;

/// The largest time (ms), page view count or credit amount taken: the script counts in doubles, exact below 2^53,
/// and keeps a login as 2 * time + 1 at most.
pub const MAX_EXACT: u64 = (1 << 52) - 1;

/// Consumption ledgers kept in Redis, shared by every node using the same Redis and prefix.
#[derive(Clone)]
pub struct RedisLedger {
    conn: ConnectionManager,
    script: redis::Script,
    prefix: String,
    timeout: Duration,
    budget: u64,
    small_book: u64,
}

impl std::fmt::Debug for RedisLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLedger")
            .field("prefix", &self.prefix)
            .field("script", &self.script.get_hash())
            .field("timeout", &self.timeout)
            .field("budget", &self.budget)
            .field("small_book", &self.small_book)
            .finish_non_exhaustive()
    }
}

/// One script call's keys and arguments, as `EVALSHA` takes them after the SHA and the key count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invocation {
    pub keys: Vec<String>,
    pub args: Vec<String>,
}

impl RedisLedger {
    /// Connects to `url` (e.g. `redis://127.0.0.1:6379`) through a multiplexed [`ConnectionManager`], which
    /// reconnects by itself, and loads the script. `timeout` bounds connecting and each call.
    ///
    /// # Errors
    /// [`LedgerError::Unavailable`]: a bad URL, an unreachable server, a refused script.
    pub async fn connect(
        url: &str,
        prefix: impl Into<String>,
        timeout: Duration,
    ) -> Result<Self, LedgerError> {
        let not_taken = |e: RedisError| unavailable(Outcome::NotTaken, &e);
        let client = redis::Client::open(url).map_err(not_taken)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout)
            .set_number_of_retries(1)
            .set_max_delay(1_000);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(not_taken)?;
        let ledger = Self::with_connection(conn, prefix).with_timeout(timeout);
        ledger.load_script().await?;
        Ok(ledger)
    }

    /// A ledger on an existing connection, with a 1 s timeout per call. Every key starts with `prefix`.
    #[must_use]
    pub fn with_connection(conn: ConnectionManager, prefix: impl Into<String>) -> Self {
        Self {
            conn,
            script: redis::Script::new(SCRIPT),
            prefix: prefix.into(),
            timeout: Duration::from_secs(1),
            budget: WORK_BUDGET,
            small_book: SMALL_BOOK_BYTES,
        }
    }

    /// Sets the size up to which pass books are read and written whole; [`SMALL_BOOK_BYTES`] by default. The
    /// answers are the same either way (0: every book by ranges).
    #[must_use]
    pub const fn with_small_book_bytes(mut self, bytes: u64) -> Self {
        self.small_book = bytes;
        self
    }

    /// Sets the work one script call may do (at least one event is always taken); [`WORK_BUDGET`] by default.
    #[must_use]
    pub const fn with_work_budget(mut self, budget: u64) -> Self {
        self.budget = budget;
        self
    }

    /// Sets how long one call (one chunk) may take before its events are reported [`Outcome::Unknown`].
    #[must_use]
    pub const fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
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
    /// [`LedgerError::Unavailable`]: Redis unreachable or refusing the script.
    pub async fn load_script(&self) -> Result<String, LedgerError> {
        let mut conn = self.conn.clone();
        self.script
            .load_async(&mut conn)
            .await
            .map_err(|e| unavailable(Outcome::NotTaken, &e))
    }

    /// [`LocalLedger::take`](crate::LocalLedger::take), in Redis: one script call.
    ///
    /// # Errors
    /// As `LocalLedger::take`, plus [`LedgerError::Unavailable`] (Redis failed; the outcome says whether the
    /// event may have been counted) and [`LedgerError::OutOfRange`].
    pub async fn take(&self, event: &Event<'_>, now_ms: u64) -> Result<Answer, LedgerError> {
        let mut out = self.take_batch(std::slice::from_ref(event), now_ms).await;
        out.pop().unwrap_or_else(|| {
            Err(LedgerError::Unavailable {
                outcome: Outcome::Unknown,
                reason: "no answer".to_owned(),
            })
        })
    }

    /// Takes each event in order, as [`Self::take`] would one after the other at the same `now_ms`: one script
    /// call per [`CHUNK`] events (or fewer, when a call spends its [`WORK_BUDGET`]), each call atomic. Answers in
    /// the events' order.
    ///
    /// When a call fails, its events get [`LedgerError::Unavailable`] with the outcome known for them, and the
    /// later ones are not sent ([`Outcome::NotTaken`]).
    pub async fn take_batch(&self, events: &[Event<'_>], now_ms: u64) -> Vec<Result<Answer, LedgerError>> {
        let mut out: Vec<Option<Result<Answer, LedgerError>>> = events
            .iter()
            .map(|e| precheck(e, now_ms).err().map(Err))
            .collect();
        let pending: Vec<usize> = (0..events.len())
            .filter(|&i| out.get(i).is_some_and(Option::is_none))
            .collect();
        let mut rest: &[usize] = &pending;
        while !rest.is_empty() {
            let chunk = rest.get(..CHUNK.min(rest.len())).unwrap_or(rest);
            let evs: Vec<&Event<'_>> = chunk.iter().filter_map(|&i| events.get(i)).collect();
            match self.call(&evs, now_ms).await {
                Ok(answers) => {
                    // At least one answer (`call` checks): the events not answered go in the next call.
                    let taken = answers.len();
                    for (&i, a) in chunk.iter().zip(answers) {
                        if let Some(slot) = out.get_mut(i) {
                            *slot = Some(a);
                        }
                    }
                    rest = rest.get(taken..).unwrap_or_default();
                }
                Err(e) => {
                    for &i in chunk {
                        if let Some(slot) = out.get_mut(i) {
                            *slot = Some(Err(e.clone()));
                        }
                    }
                    let reason = match &e {
                        LedgerError::Unavailable { reason, .. } => reason.clone(),
                        other => other.to_string(),
                    };
                    let not_sent = LedgerError::Unavailable {
                        outcome: Outcome::NotTaken,
                        reason: format!("not sent: an earlier call of the batch failed ({reason})"),
                    };
                    for &i in rest.get(chunk.len()..).unwrap_or_default() {
                        if let Some(slot) = out.get_mut(i) {
                            *slot = Some(Err(not_sent.clone()));
                        }
                    }
                    break;
                }
            }
        }
        out.into_iter()
            .map(|a| {
                a.unwrap_or_else(|| {
                    Err(LedgerError::Unavailable {
                        outcome: Outcome::Unknown,
                        reason: "no answer".to_owned(),
                    })
                })
            })
            .collect()
    }

    /// The keys and arguments of the script call that would take `events` (all of them, in one call) at
    /// `now_ms`: for tools that run the same script, e.g. `redis-benchmark`.
    #[must_use]
    pub fn invocation(&self, events: &[Event<'_>], now_ms: u64) -> Invocation {
        let refs: Vec<&Event<'_>> = events.iter().collect();
        self.encode(&refs, now_ms)
    }

    /// [`LocalLedger::usage`](crate::LocalLedger::usage), from Redis: one `HMGET`.
    ///
    /// # Errors
    /// [`LedgerError::Unavailable`]: Redis failed or did not answer in time.
    pub async fn usage(
        &self,
        tenant: &str,
        portals: &[&str],
        environments: &[&str],
        month: Month,
    ) -> Result<MonthUsage, LedgerError> {
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(format!("{}:m:{month}", self.base(tenant)));
        for p in portals {
            cmd.arg(format!("l:{p}")).arg(format!("v:{p}"));
        }
        for e in environments {
            cmd.arg(format!("c:{e}"));
        }
        cmd.arg("pool");
        let mut conn = self.conn.clone();
        let read = cmd.query_async::<Vec<Option<i64>>>(&mut conn);
        let values = match tokio::time::timeout(self.timeout, read).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => return Err(unavailable(Outcome::NotTaken, &e)),
            Err(_) => return Err(timed_out(Outcome::NotTaken)),
        };
        let mut values = values
            .into_iter()
            .map(|v| u64::try_from(v.unwrap_or(0)).unwrap_or(0));
        let mut next = || values.next().unwrap_or(0);
        let mut u = MonthUsage {
            month: Some(month),
            ..MonthUsage::default()
        };
        for p in portals {
            let logins = next();
            let views = next();
            u.portals.insert((*p).to_owned(), (logins, views));
        }
        for e in environments {
            u.credits.insert((*e).to_owned(), next());
        }
        u.pool = next();
        Ok(u)
    }

    /// One script call for one chunk, bounded by the timeout: the answers of its first events (all of them
    /// unless the call spent its work budget), or why the call failed.
    async fn call(
        &self,
        events: &[&Event<'_>],
        now_ms: u64,
    ) -> Result<Vec<Result<Answer, LedgerError>>, LedgerError> {
        let Invocation { keys, args } = self.encode(events, now_ms);
        let mut inv = self.script.prepare_invoke();
        for k in &keys {
            inv.key(k);
        }
        for a in &args {
            inv.arg(a);
        }
        let mut conn = self.conn.clone();
        let raw: Vec<String> = match tokio::time::timeout(self.timeout, inv.invoke_async(&mut conn)).await {
            Ok(Ok(raw)) => raw,
            Ok(Err(e)) => return Err(unavailable(outcome_of(&e), &e)),
            Err(_) => return Err(timed_out(Outcome::Unknown)),
        };
        if raw.is_empty() || raw.len() > events.len() {
            return Err(LedgerError::Unavailable {
                outcome: Outcome::Unknown,
                reason: format!("{} answers for {} events", raw.len(), events.len()),
            });
        }
        raw.iter()
            .zip(events)
            .map(|(s, e)| {
                decode(s, e).ok_or_else(|| LedgerError::Unavailable {
                    outcome: Outcome::Unknown,
                    reason: format!("unreadable answer `{s}`"),
                })
            })
            .collect()
    }

    /// `{prefix}{len}{{tenant}}`: every key of the tenant starts so.
    fn base(&self, tenant: &str) -> String {
        format!("{}{}{{{tenant}}}", self.prefix, tenant.len())
    }

    fn encode(&self, events: &[&Event<'_>], now_ms: u64) -> Invocation {
        let mut inv = Invocation {
            keys: Vec::with_capacity(events.len() * 2),
            args: Vec::with_capacity(9 + 9 * events.len()),
        };
        inv.args.extend(
            [
                now_ms,
                RETAIN_MS,
                DAY_MS,
                BOOK_TTL_MS,
                RETAIN_MS,
                MONTH_TTL_MS,
                MAX_LOGINS as u64,
                self.budget,
                self.small_book,
            ]
            .map(|x| x.to_string()),
        );
        let flag = |b: bool| if b { "1" } else { "0" }.to_owned();
        for e in events {
            let base = self.base(e.tenant());
            let fingerprint = match e.id() {
                Some(id) => {
                    inv.keys.push(format!("{base}:i:{id}"));
                    e.fingerprint().to_string()
                }
                None => "-".to_owned(),
            };
            let (kind, name, rest) = match **e {
                Event::Login {
                    portal, user, limits, ..
                } => {
                    inv.keys
                        .push(format!("{base}:b:{}:{portal}:{user}", portal.len()));
                    let refuse = limits.overage == Overage::Refuse;
                    (
                        "L",
                        portal,
                        [limits.logins.to_string(), flag(refuse), "0".into(), "0".into()],
                    )
                }
                Event::PageViews {
                    portal,
                    count,
                    limits,
                    ..
                } => {
                    let refuse = limits.overage == Overage::Refuse;
                    let rest = [
                        count.to_string(),
                        limits.page_views.to_string(),
                        flag(refuse),
                        "0".into(),
                    ];
                    ("V", portal, rest)
                }
                Event::Credits {
                    environment,
                    credits,
                    preview,
                    allowance,
                    ..
                } => {
                    // AI-2: preview models need no paid capacity.
                    let charge = if preview { 0 } else { credits };
                    let rest = [
                        charge.to_string(),
                        allowance.allocated.to_string(),
                        allowance.unallocated.to_string(),
                        flag(allowance.unallocated_use),
                    ];
                    ("C", environment, rest)
                }
            };
            inv.args.extend([
                kind.to_owned(),
                fingerprint,
                e.at_ms().to_string(),
                format!("{base}:m:"),
                name.to_owned(),
            ]);
            inv.args.extend(rest);
        }
        inv
    }
}

/// The checks made before Redis: [`check_time`], then what the script can count exactly.
fn precheck(event: &Event<'_>, now_ms: u64) -> Result<(), LedgerError> {
    check_time(event.at_ms(), now_ms)?;
    let amount = match *event {
        Event::Login { .. } => None,
        Event::PageViews { count, .. } => Some(("page view count", count)),
        Event::Credits { credits, preview, .. } => (!preview).then_some(("credit amount", credits)),
    };
    for (what, value) in [("time (ms)", now_ms)].into_iter().chain(amount) {
        if value > MAX_EXACT {
            return Err(LedgerError::OutOfRange { what, value });
        }
    }
    Ok(())
}

fn timed_out(outcome: Outcome) -> LedgerError {
    LedgerError::Unavailable {
        outcome,
        reason: "no answer in time".to_owned(),
    }
}

fn unavailable(outcome: Outcome, e: &RedisError) -> LedgerError {
    LedgerError::Unavailable {
        outcome,
        reason: e.to_string(),
    }
}

/// Whether a failed call may have run: only errors Redis gives before running a script, and a connection that
/// was refused, say it did not.
fn outcome_of(e: &RedisError) -> Outcome {
    let before_running = match e.kind() {
        ErrorKind::BusyLoadingError
        | ErrorKind::NoScriptError
        | ErrorKind::Moved
        | ErrorKind::Ask
        | ErrorKind::TryAgain
        | ErrorKind::ClusterDown
        | ErrorKind::CrossSlot
        | ErrorKind::MasterDown
        | ErrorKind::ReadOnly
        | ErrorKind::AuthenticationFailed
        | ErrorKind::InvalidClientConfig => true,
        ErrorKind::ExtensionError => matches!(
            e.code(),
            Some("OOM" | "BUSY" | "NOPERM" | "NOAUTH" | "WRONGPASS" | "NOREPLICAS" | "MISCONF")
        ),
        ErrorKind::IoError => e.is_connection_refusal(),
        _ => false,
    };
    if before_running {
        Outcome::NotTaken
    } else {
        Outcome::Unknown
    }
}

/// An event's answer as the script returns it; `None` if it is not one.
fn decode(s: &str, event: &Event<'_>) -> Option<Result<Answer, LedgerError>> {
    let mut t = s.split(' ');
    let mut head = t.next()?;
    let replayed = head == "R";
    if replayed {
        head = t.next()?;
    }
    let mut num = || t.next()?.parse::<u64>().ok();
    let month = |i: u64| u32::try_from(i).ok().and_then(Month::from_index);
    let answer = match head {
        "L" => Answer::Login(LoginAnswer {
            charged: num()? == 1,
            pass_ends_ms: num()?,
            month: month(num()?)?,
            used: num()?,
            allocated: num()?,
            replayed,
        }),
        "V" => Answer::PageViews(ViewsAnswer {
            month: month(num()?)?,
            counted: num()?,
            used: num()?,
            allocated: num()?,
            replayed,
        }),
        "C" => Answer::Credits(CreditAnswer {
            month: month(num()?)?,
            source: source(num()?),
            consumed: num()?,
            used: num()?,
            available: num()?,
            replayed,
        }),
        "E" => return error(t, event),
        _ => return None,
    };
    Some(Ok(answer))
}

fn source(n: u64) -> CreditSource {
    if n == 1 {
        CreditSource::Pool
    } else {
        CreditSource::Allocation
    }
}

/// A refusal, completed with what the event says.
fn error<'a>(mut t: impl Iterator<Item = &'a str>, event: &Event<'_>) -> Option<Result<Answer, LedgerError>> {
    let what = t.next()?;
    let mut num = || t.next()?.parse::<u64>().ok();
    let month = |i: u64| u32::try_from(i).ok().and_then(Month::from_index);
    let e = match (what, *event) {
        ("late", _) => LedgerError::Pass(PassError::TooLate { kept_from_ms: num()? }),
        ("many", _) => LedgerError::Pass(PassError::TooMany),
        ("reused", _) => LedgerError::IdReused {
            id: event.id()?.to_owned(),
        },
        ("over_l", Event::Login { limits, .. }) => LedgerError::OverAllocation {
            what: "logins",
            month: month(num()?)?,
            used: num()?,
            allocated: limits.logins,
        },
        ("over_v", Event::PageViews { limits, .. }) => LedgerError::OverAllocation {
            what: "page views",
            month: month(num()?)?,
            used: num()?,
            allocated: limits.page_views,
        },
        ("noalloc", Event::Credits { environment, .. }) => LedgerError::NoAllocation {
            environment: environment.to_owned(),
        },
        (
            "overdraft",
            Event::Credits {
                credits, allowance, ..
            },
        ) => {
            let pool = source(num()?);
            LedgerError::Overdraft {
                pool,
                month: month(num()?)?,
                used: num()?,
                available: match pool {
                    CreditSource::Allocation => allowance.allocated,
                    CreditSource::Pool => allowance.unallocated,
                },
                requested: credits,
            }
        }
        _ => return None,
    };
    Some(Err(e))
}
