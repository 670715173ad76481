//! The Redis meter: the same properties as the in-process one, and the very same answers, step by step.
//!
//! Needs `ENTITLE_TEST_REDIS_URL` (e.g. `redis://127.0.0.1:6379`); without it each test says why and passes.
//! Every run uses its own key prefix and deletes its keys.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test helpers (outside #[test] functions) fail the test on a broken invariant"
)]

mod common;

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{KEYS, Log, record, stream};
use entitle_meter::{
    Decision, Event, FailPolicy, FailoverMeter, Limits, LocalMeter, Mode, RedisMeter, Window, Windows,
};
use proptest::prelude::*;
use redis::AsyncCommands;

static RT: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
});
static CASE: AtomicU64 = AtomicU64::new(0);

fn unique_prefix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let case = CASE.fetch_add(1, Ordering::Relaxed);
    format!("entitle-meter-test:{}:{nanos}:{case}:", std::process::id())
}

async fn connect(url: &str, prefix: &str) -> (RedisMeter, redis::aio::MultiplexedConnection) {
    let meter = RedisMeter::connect(url, prefix, Windows::standard(), Duration::from_secs(2))
        .await
        .unwrap();
    let raw = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    (meter, raw)
}

async fn cleanup(raw: &mut redis::aio::MultiplexedConnection, prefix: &str) {
    let keys: Vec<String> = raw.keys(format!("{prefix}*")).await.unwrap();
    if !keys.is_empty() {
        let _: () = raw.del(keys).await.unwrap();
    }
}

/// Checks at `now + r` (and `now + r - 1`) on copies of the key's hash.
async fn assert_retry_exact(
    meter: &RedisMeter,
    raw: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
    key: &str,
    (n, limits, now, r): (u64, Limits, u64, u64),
) {
    for (probe, at, want) in [
        ("probe-at", now + r, true),
        ("probe-before", now + r.saturating_sub(1), r == 0),
    ] {
        let _: () = redis::cmd("COPY")
            .arg(format!("{prefix}{key}"))
            .arg(format!("{prefix}{probe}"))
            .arg("REPLACE")
            .query_async(raw)
            .await
            .unwrap();
        let d = meter.check(probe, n, limits, at).await.unwrap();
        assert_eq!(d.is_allowed(), want, "retry after {r} ms: at {at} got {d:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn req1_req7_req8_redis_matches_in_process_and_the_reference((start, limits, steps) in stream(200)) {
        let Some(url) = common::redis_url("the Redis meter test") else { return Ok(()) };
        RT.block_on(async {
            let prefix = unique_prefix();
            let (meter, mut raw) = connect(&url, &prefix).await;
            let w = meter.windows();
            let local = LocalMeter::new(w);
            let mut logs = vec![Log::default(); KEYS.len()];
            let mut now = start;
            for s in &steps {
                now += s.dt_ms;
                let key = KEYS[s.key];
                let d = meter.check(key, s.n, limits, now).await.unwrap();
                assert_eq!(d, local.check(key, s.n, limits, now), "at {now}, {} x{}", key, s.n);
                if let Decision::Refused { retry_after_ms, .. } = d {
                    common::assert_refusal_within_one_bucket(&logs[s.key], &w, limits, now, s.n);
                    if let Some(r) = retry_after_ms {
                        assert_retry_exact(&meter, &mut raw, &prefix, key, (s.n, limits, now, r)).await;
                    }
                }
                record(&mut logs[s.key], now, s.n, &d);
            }
            for log in &logs {
                common::assert_never_over_admits(log, &w, limits);
                common::assert_warns_once_per_window(log, &w, limits);
            }
            cleanup(&mut raw, &prefix).await;
        });
    }

    #[test]
    fn redis_batch_is_one_call_with_the_same_answers((start, limits, steps) in stream(60)) {
        let Some(url) = common::redis_url("the Redis meter test") else { return Ok(()) };
        RT.block_on(async {
            let prefix = unique_prefix();
            let (meter, mut raw) = connect(&url, &prefix).await;
            let local = LocalMeter::new(meter.windows());
            let events: Vec<_> = steps.iter().map(|s| Event { key: KEYS[s.key], n: s.n, limits }).collect();
            let got = meter.check_batch(&events, start).await.unwrap();
            assert_eq!(got, local.check_batch(&events, start));
            cleanup(&mut raw, &prefix).await;
        });
    }
}

#[test]
fn redis_keys_expire_after_a_day_and_a_bucket() {
    let Some(url) = common::redis_url("the Redis meter test") else {
        return;
    };
    RT.block_on(async {
        let prefix = unique_prefix();
        let (meter, mut raw) = connect(&url, &prefix).await;
        assert!(
            meter
                .check("k", 1, Limits::per_day(10), 1_700_000_000_000)
                .await
                .unwrap()
                .is_allowed()
        );
        let ttl: i64 = raw.pttl(format!("{prefix}k")).await.unwrap();
        assert!(ttl > 86_400_000 && ttl <= 86_700_000, "{ttl}");
        cleanup(&mut raw, &prefix).await;
    });
}

#[test]
fn failover_open_counts_locally_and_closed_refuses_while_redis_is_down() {
    RT.block_on(async {
        let dead = "redis://127.0.0.1:1";
        let t0 = 1_700_000_000_000;
        let limits = Limits::per_day(3);
        let open = FailoverMeter::new(dead, "x:", Windows::standard(), FailPolicy::Open)
            .with_timeout(Duration::from_millis(200));
        assert_eq!(open.mode(), Mode::Redis);
        for _ in 0..3 {
            assert!(open.check("u", 1, limits, t0).await.is_allowed());
        }
        assert!(!open.check("u", 1, limits, t0).await.is_allowed());
        let stats = open.stats();
        assert_eq!(stats.mode, Mode::Local);
        assert_eq!(
            stats.redis_failures, 1,
            "one probe per backoff period, not one per request"
        );
        assert_eq!(stats.fallback_decisions, 4);

        let closed = FailoverMeter::new(dead, "x:", Windows::standard(), FailPolicy::Closed)
            .with_timeout(Duration::from_millis(200));
        let d = closed.check("u", 1, limits, t0).await;
        assert!(matches!(
            d,
            Decision::Refused {
                by: Window::Unavailable,
                retry_after_ms: Some(_),
                ..
            }
        ));
        assert_eq!(closed.mode(), Mode::Refusing);
    });
}

#[test]
fn failover_recovers_when_redis_comes_back() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let Some(server) = common::OwnRedis::start(port) else {
        eprintln!("redis-server is not installed: skipping the failover recovery test");
        return;
    };
    RT.block_on(async {
        let t0 = 1_700_000_000_000;
        let limits = Limits::per_day(1_000);
        let m = FailoverMeter::new(
            format!("redis://127.0.0.1:{port}"),
            "t:",
            Windows::standard(),
            FailPolicy::Open,
        )
        .with_timeout(Duration::from_millis(300))
        .with_backoff(100, 1_000);
        assert!(m.check("u", 1, limits, t0).await.is_allowed());
        assert_eq!(m.mode(), Mode::Redis);

        drop(server); // Redis goes away.
        assert!(m.check("u", 1, limits, t0 + 1).await.is_allowed());
        assert_eq!(m.mode(), Mode::Local);
        let failures = m.stats().redis_failures;
        // Within the backoff no request waits on Redis.
        let before = std::time::Instant::now();
        for i in 0..50 {
            assert!(m.check("u", 1, limits, t0 + 2 + i).await.is_allowed());
        }
        assert!(before.elapsed() < Duration::from_millis(100));
        assert_eq!(m.stats().redis_failures, failures);

        let _server = common::OwnRedis::start(port).unwrap(); // Redis is back.
        let mut now = t0 + 1_000;
        for _ in 0..40 {
            now += 1_000;
            m.check("u", 1, limits, now).await;
            if m.mode() == Mode::Redis {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(m.mode(), Mode::Redis);
        assert_eq!(m.stats().recoveries, 1);
    });
}
