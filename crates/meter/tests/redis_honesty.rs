//! Meter honesty with Redis (security issue, item 10): refused work is never counted, and no single script
//! blocks Redis for long.
//!
//! Needs `ENTITLE_TEST_REDIS_URL` for the tests on the shared Redis, and `redis-server` for those that start a
//! private one (to pause it); without them each test says why and passes.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test helpers (outside #[test] functions) fail the test on a broken invariant"
)]

mod common;

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use entitle_meter::{Decision, Event, FailPolicy, FailoverMeter, Limits, Mode, RedisMeter, Window, Windows};
use redis::AsyncCommands;

static RT: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
});
static CASE: AtomicU64 = AtomicU64::new(0);

const T0: u64 = 1_700_000_000_000;

fn unique_prefix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let case = CASE.fetch_add(1, Ordering::Relaxed);
    format!("entitle-honesty-test:{}:{nanos}:{case}:", std::process::id())
}

async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn cleanup(raw: &mut redis::aio::MultiplexedConnection, prefix: &str) {
    let keys: Vec<String> = raw.keys(format!("{prefix}*")).await.unwrap();
    if !keys.is_empty() {
        let _: () = raw.del(keys).await.unwrap();
    }
}

/// What Redis holds for `key` in its 24-hour window (the script's running total).
async fn counted(raw: &mut redis::aio::MultiplexedConnection, prefix: &str, key: &str) -> u64 {
    let t: Option<u64> = raw.hget(format!("{prefix}{key}"), "t").await.unwrap();
    t.unwrap_or(0)
}

/// Until the meter answers from Redis (its first connection may take longer than its short timeout).
async fn warm_up(m: &FailoverMeter, limits: Limits) -> u64 {
    let mut now = T0;
    for _ in 0..200 {
        now += 10_000;
        if m.check("warm-up", 1, limits, now).await.is_allowed() && m.mode() == Mode::Redis {
            return now;
        }
    }
    panic!("the meter never reached Redis");
}

fn is_unavailable(d: &Decision) -> bool {
    matches!(
        d,
        Decision::Refused {
            by: Window::Unavailable,
            ..
        }
    )
}

/// A 10,000-event batch with a timeout far shorter than the work: whatever the client times out on must
/// not be both refused and counted.
#[test]
fn item_10_fail_closed_timeout_counts_nothing_refused() {
    let Some(url) = common::redis_url("the Redis meter honesty test") else {
        return;
    };
    // Which timeout lands while the script runs depends on the machine: try several.
    for timeout_ms in [5, 15, 30, 60, 100] {
        fail_closed_timeout(&url, timeout_ms);
    }
}

fn fail_closed_timeout(url: &str, timeout_ms: u64) {
    RT.block_on(async {
        let prefix = unique_prefix();
        let mut raw = raw(url).await;
        let limits = Limits {
            per_24h: 1_000_000,
            per_5min: 1_000_000,
        };
        let m = FailoverMeter::new(url, prefix.as_str(), Windows::standard(), FailPolicy::Closed)
            .with_timeout(Duration::from_millis(timeout_ms))
            .with_backoff(1, 1);
        let now = warm_up(&m, limits).await;
        let keys: Vec<String> = (0..500).map(|i| format!("k{i}")).collect();
        let events: Vec<Event<'_>> = (0..10_000)
            .map(|i| Event {
                key: &keys[i % keys.len()],
                n: 1,
                limits,
            })
            .collect();
        let got = m.check_batch(&events, now + 10_000).await;
        assert_eq!(got.len(), events.len());
        let allowed = got.iter().filter(|d| d.is_allowed()).count() as u64;
        let refused = got.iter().filter(|d| !d.is_allowed() && is_unavailable(d)).count() as u64;
        let unknown = got.iter().filter(|d| matches!(d, Decision::Unknown { .. })).count() as u64;
        // Let a script the client gave up on finish, and any resolution in the background.
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let mut in_redis = 0;
        for k in &keys {
            in_redis += counted(&mut raw, &prefix, k).await;
        }
        eprintln!("10,000 events, {timeout_ms} ms timeout: {allowed} allowed, {refused} refused as unavailable, {unknown} unknown, {in_redis} counted in Redis; {:?}", m.stats());
        assert!(
            in_redis >= allowed,
            "{allowed} answered allowed but only {in_redis} counted"
        );
        assert!(
            in_redis <= 10_000 - refused,
            "{timeout_ms} ms timeout: {refused} answered refused (meter unavailable), yet Redis counted {in_redis} of 10,000"
        );
        cleanup(&mut raw, &prefix).await;
    });
}

/// `INFO commandstats`: calls of `EVALSHA` (and `EVAL`).
async fn script_calls(raw: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(raw)
        .await
        .unwrap();
    info.lines()
        .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
        .filter_map(|l| l.split("calls=").nth(1)?.split(',').next()?.parse::<u64>().ok())
        .sum()
}

/// The longest `EVALSHA` in the slow log (µs), with everything logged.
async fn longest_script_us(raw: &mut redis::aio::MultiplexedConnection) -> i64 {
    let log: Vec<redis::Value> = redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(10_000)
        .query_async(raw)
        .await
        .unwrap();
    log.iter()
        .filter_map(|e| match e {
            redis::Value::Array(f) => {
                let us = match f.get(2)? {
                    redis::Value::Int(us) => *us,
                    _ => return None,
                };
                let is_script = match f.get(3)? {
                    redis::Value::Array(args) => matches!(args.first(), Some(redis::Value::BulkString(c)) if c.eq_ignore_ascii_case(b"evalsha")),
                    _ => false,
                };
                is_script.then_some(us)
            }
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

/// A 10,000-event batch runs as several short scripts, so other nodes are never blocked for long.
#[test]
fn item_10_batch_runs_as_short_scripts() {
    let Some(redis) = common::free_port().and_then(common::OwnRedis::start) else {
        eprintln!("redis-server is not installed: skipping the batch chunking test");
        return;
    };
    RT.block_on(async {
        let mut raw = raw(&redis.url).await;
        let meter = RedisMeter::connect(&redis.url, "c:", Windows::standard(), Duration::from_secs(5))
            .await
            .unwrap();
        let keys: Vec<String> = (0..500).map(|i| format!("user:{i}")).collect();
        let events: Vec<Event<'_>> = (0..10_000)
            .map(|i| Event {
                key: &keys[i % keys.len()],
                n: 1,
                limits: Limits::per_day(6_000),
            })
            .collect();
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("slowlog-log-slower-than")
            .arg(0)
            .query_async(&mut raw)
            .await
            .unwrap();
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("slowlog-max-len")
            .arg(10_000)
            .query_async(&mut raw)
            .await
            .unwrap();
        let _: () = redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query_async(&mut raw)
            .await
            .unwrap();
        let _: () = redis::cmd("SLOWLOG")
            .arg("RESET")
            .query_async(&mut raw)
            .await
            .unwrap();
        let started = Instant::now();
        let got = meter.check_batch(&events, T0).await.unwrap();
        let took = started.elapsed();
        assert!(got.iter().all(Decision::is_allowed));
        let calls = script_calls(&mut raw).await;
        let longest = longest_script_us(&mut raw).await;
        eprintln!(
            "10,000 events over 500 keys: {calls} script call(s), the longest {longest} µs, {took:?} in all"
        );
        assert!(
            calls >= 10_000 / 500,
            "one script for the whole batch: {calls} call(s), the longest {longest} µs"
        );
        assert!(longest < 100_000, "a script ran {longest} µs");
    });
}

/// Redis stalls while a check is on its way: the client times out, the script runs later. The answer must not
/// be a refusal, since the requests were counted.
#[test]
fn item_10_unknown_outcome_is_never_reported_refused() {
    let Some(redis) = common::free_port().and_then(common::OwnRedis::start) else {
        eprintln!("redis-server is not installed: skipping the stalled-Redis test");
        return;
    };
    RT.block_on(async {
        let limits = Limits::per_day(1_000);
        let prefix = "s:";
        let m = FailoverMeter::new(
            redis.url.as_str(),
            prefix,
            Windows::standard(),
            FailPolicy::Closed,
        )
        .with_timeout(Duration::from_millis(100))
        .with_backoff(1, 1);
        let now = warm_up(&m, limits).await;
        let mut stall = raw(&redis.url).await;
        let sleeper = tokio::spawn(async move {
            let _: Result<(), _> = redis::cmd("DEBUG")
                .arg("SLEEP")
                .arg("0.6")
                .query_async(&mut stall)
                .await;
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let d = m.check("k", 1, limits, now + 1).await;
        sleeper.await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut raw = raw(&redis.url).await;
        let in_redis = counted(&mut raw, prefix, "k").await;
        eprintln!("stalled Redis: answered {d:?}, Redis counted {in_redis}");
        assert!(
            !(matches!(d, Decision::Refused { .. }) && in_redis > 0),
            "answered {d:?} although Redis counted {in_redis}"
        );
    });
}

/// The token protocol itself: a cancelled call counts nothing, a call that ran leaves its answer to fetch.
#[test]
fn settle_cancels_a_call_that_has_not_run_and_fetches_one_that_has() {
    let Some(url) = common::redis_url("the Redis meter honesty test") else {
        return;
    };
    RT.block_on(async {
        let prefix = unique_prefix();
        let mut raw = raw(&url).await;
        let w = Windows::standard();
        let (meter_lua, settle_lua) = (
            redis::Script::new(entitle_meter::SCRIPT),
            redis::Script::new(entitle_meter::SETTLE_SCRIPT),
        );
        let run = |token: String| {
            let mut inv = meter_lua.prepare_invoke();
            inv.key(token)
                .key(format!("{prefix}k"))
                .arg(T0)
                .arg(w.bucket_ms())
                .arg(w.day_ms() / w.bucket_ms())
                .arg(w.short_ms() / w.bucket_ms())
                .arg(w.day_ms())
                .arg(0)
                .arg(120_000)
                .arg(3)
                .arg(10)
                .arg(10);
            inv
        };
        let settle = |token: String| {
            let mut inv = settle_lua.prepare_invoke();
            inv.key(token).arg(120_000);
            inv
        };
        // Cancelled first: the call counts nothing, and settling again still says cancelled.
        let late = format!("{prefix}tok:late");
        let s: Option<String> = settle(late.clone()).invoke_async(&mut raw).await.unwrap();
        assert_eq!(s, None);
        let out: Vec<i64> = run(late.clone()).invoke_async(&mut raw).await.unwrap();
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(counted(&mut raw, &prefix, "k").await, 0);
        let s: Option<String> = settle(late).invoke_async(&mut raw).await.unwrap();
        assert_eq!(s.as_deref(), Some("cancelled"));
        // Ran first: settling fetches the very answer.
        let ran = format!("{prefix}tok:ran");
        let out: Vec<i64> = run(ran.clone()).invoke_async(&mut raw).await.unwrap();
        assert_eq!(counted(&mut raw, &prefix, "k").await, 3);
        let s: Option<String> = settle(ran).invoke_async(&mut raw).await.unwrap();
        let stored: Vec<i64> = s.unwrap().split(' ').map(|x| x.parse().unwrap()).collect();
        assert_eq!(stored, out);
        cleanup(&mut raw, &prefix).await;
    });
}
