//! The Redis ledger against the in-process one (PORTAL-2, PORTAL-3, PORTAL-5, PORTAL-6, AI-1, AI-2): the same
//! random streams (logins in random arrival order within the lateness window, page views under both overage
//! policies, credits from allocations, the pool and preview models, replayed and reused event ids, clocks that
//! step back) get the same answers and leave the same usage; two nodes racing count each pass once.
//!
//! Needs `ENTITLE_TEST_REDIS_URL` (e.g. `redis://127.0.0.1:6379`); without it each test says why and passes.
//! Every case uses its own key prefix and deletes its keys. The tests that make Redis fail start a private
//! `redis-server` (skipped, with a message, when it is not installed).

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test helpers (outside #[test] functions) fail the test on a broken invariant"
)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use entitle_ledger::{
    Answer, BOOK_TTL_MS, CreditAllowance, DAY_MS, Event, LATE_MS, LedgerError, LocalLedger, MAX_EXACT,
    MAX_LOGINS, MONTH_TTL_MS, Month, Outcome, Overage, PassError, PortalLimits, RETAIN_MS, RedisLedger,
    SMALL_BOOK_BYTES, WORK_BUDGET, passes_by_month,
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

/// 2024-05-25T00:00Z: a week before a month ends, so passes and late logins cross into June.
const T0: u64 = 1_716_595_200_000;
const HOUR: u64 = 3_600_000;

const TENANTS: [&str; 2] = ["contoso", "fabrikam"];
const PORTALS: [&str; 2] = ["customer-portal", "partner:portal"];
const USERS: [&str; 4] = ["adele", "bob", "carla", "dmitri"];
const ENVS: [&str; 3] = ["prod", "dev", "test"];
/// Event ids: a few reused on other events, most unique.
static IDS: LazyLock<Vec<String>> = LazyLock::new(|| (0..64).map(|i| format!("ev-{i}")).collect());
const fn portal_limits(logins: u64, page_views: u64, overage: Overage) -> PortalLimits {
    PortalLimits {
        logins,
        page_views,
        overage,
    }
}
const LOGIN_LIMITS: [PortalLimits; 4] = [
    portal_limits(100, 50_000, Overage::AllowAndReport),
    portal_limits(3, 50_000, Overage::Refuse),
    portal_limits(8, 50_000, Overage::Refuse),
    portal_limits(2, 50_000, Overage::AllowAndReport),
];
const VIEW_LIMITS: [PortalLimits; 3] = [
    portal_limits(100, 5_000, Overage::Refuse),
    portal_limits(100, 5_000, Overage::AllowAndReport),
    portal_limits(100, 50_000, Overage::Refuse),
];
const fn allowance(allocated: u64, unallocated: u64, unallocated_use: bool) -> CreditAllowance {
    CreditAllowance {
        allocated,
        unallocated,
        unallocated_use,
    }
}
const ALLOWANCES: [CreditAllowance; 5] = [
    allowance(10_000, 6_000, true),
    allowance(0, 6_000, true),
    allowance(0, 6_000, false),
    allowance(2_000, 0, false),
    allowance(0, 0, true),
];

fn redis_url(what: &str) -> Option<String> {
    let url = std::env::var("ENTITLE_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("ENTITLE_TEST_REDIS_URL is not set: skipping {what}");
    }
    url
}

fn unique_prefix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let case = CASE.fetch_add(1, Ordering::Relaxed);
    format!("entitle-ledger-test:{}:{nanos}:{case}:", std::process::id())
}

async fn connect(url: &str, prefix: &str) -> RedisLedger {
    RedisLedger::connect(url, prefix, Duration::from_secs(5))
        .await
        .unwrap()
}

async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn cleanup(url: &str, prefix: &str) {
    let mut raw = raw(url).await;
    let keys: Vec<String> = raw.keys(format!("{prefix}*")).await.unwrap();
    if !keys.is_empty() {
        let _: () = raw.del(keys).await.unwrap();
    }
}

/// One step of a stream: how far the clock moves (it may step back), how late the event is, its id, and what.
#[derive(Debug, Clone)]
struct Step {
    dt: i64,
    late: i64,
    tenant: usize,
    id: Option<usize>,
    what: What,
}

#[derive(Debug, Clone)]
enum What {
    Login {
        portal: usize,
        user: usize,
        limits: usize,
    },
    Views {
        portal: usize,
        count: u64,
        limits: usize,
    },
    Credits {
        env: usize,
        credits: u64,
        preview: bool,
        allowance: usize,
    },
    /// An event sent before, sent again as it was (same id, same fields, maybe another `now`).
    Again(prop::sample::Index),
}

fn what() -> impl Strategy<Value = What> {
    prop_oneof![
        6 => (0..PORTALS.len(), 0..USERS.len(), 0..LOGIN_LIMITS.len())
            .prop_map(|(portal, user, limits)| What::Login { portal, user, limits }),
        2 => (0..PORTALS.len(), 0u64..3_000, 0..VIEW_LIMITS.len())
            .prop_map(|(portal, count, limits)| What::Views { portal, count, limits }),
        2 => (0..ENVS.len(), 0u64..4_000, prop::bool::weighted(0.2), 0..ALLOWANCES.len())
            .prop_map(|(env, credits, preview, allowance)| What::Credits { env, credits, preview, allowance }),
        2 => any::<prop::sample::Index>().prop_map(What::Again),
    ]
}

const DAY: i64 = DAY_MS as i64;
const H: i64 = HOUR as i64;

/// Steps of a stream; with `moving` the clock moves (6 hours at most per step, sometimes up to 2 days back),
/// else it stays. Events are up to 7 days late, a few later or in the future.
fn stream(max: usize, moving: bool) -> impl Strategy<Value = Vec<Step>> {
    let dt = if moving {
        prop_oneof![12 => 0..6 * H, 1 => -2 * DAY..0].boxed()
    } else {
        Just(0i64).boxed()
    };
    let late = prop_oneof![12 => 0..=7 * DAY, 1 => -H..9 * DAY];
    prop::collection::vec(
        (
            dt,
            late,
            0..TENANTS.len(),
            prop::option::weighted(0.5, 0..IDS.len()),
            what(),
        )
            .prop_map(|(dt, late, tenant, id, what)| Step {
                dt,
                late,
                tenant,
                id,
                what,
            }),
        1..max,
    )
}

/// The events of a stream and the `now` of each.
fn events(steps: &[Step]) -> Vec<(Event<'static>, u64)> {
    let mut now = T0;
    let mut out: Vec<(Event<'static>, u64)> = Vec::new();
    for s in steps {
        now = now.saturating_add_signed(s.dt).max(T0);
        let at = now.saturating_add_signed(-s.late);
        let (tenant, id) = (TENANTS[s.tenant], s.id.map(|i| IDS[i].as_str()));
        let e = match s.what {
            What::Login { portal, user, limits } => Event::Login {
                tenant,
                id,
                portal: PORTALS[portal],
                user: USERS[user],
                at_ms: at,
                limits: LOGIN_LIMITS[limits],
            },
            What::Views {
                portal,
                count,
                limits,
            } => Event::PageViews {
                tenant,
                id,
                portal: PORTALS[portal],
                count,
                at_ms: at,
                limits: VIEW_LIMITS[limits],
            },
            What::Credits {
                env,
                credits,
                preview,
                allowance,
            } => Event::Credits {
                tenant,
                id,
                environment: ENVS[env],
                credits,
                model: "invoice-processing",
                preview,
                at_ms: at,
                allowance: ALLOWANCES[allowance],
            },
            What::Again(ix) => {
                if out.is_empty() {
                    continue;
                }
                out[ix.index(out.len())].0
            }
        };
        out.push((e, now));
    }
    out
}

/// Usage of every tenant, portal and environment (and one never used) in May, June and July 2024: the
/// in-process ledger's and Redis's must be equal.
async fn assert_same_usage(local: &LocalLedger, redis: &RedisLedger) {
    let portals = [PORTALS[0], PORTALS[1], "unused-portal"];
    let envs = [ENVS[0], ENVS[1], ENVS[2], "unused-env"];
    let may = Month::of_ms(T0);
    for tenant in TENANTS.into_iter().chain(["unused-tenant"]) {
        for month in [may.previous(), may, may.next(), may.next().next()] {
            let want = local.usage(tenant, &portals, &envs, month);
            let got = redis.usage(tenant, &portals, &envs, month).await.unwrap();
            assert_eq!(got, want, "{tenant} {month}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// PORTAL-2, PORTAL-3, PORTAL-5, PORTAL-6, AI-1, AI-2 and event ids: every answer and the usage left are the
    /// in-process ledger's, step by step, while the clock moves (and sometimes steps back).
    #[test]
    fn portal_2_portal_3_ai_1_redis_answers_as_in_process(
        steps in stream(160, true),
        small_book in prop_oneof![Just(SMALL_BOOK_BYTES), Just(0), 32u64..200],
    ) {
        let Some(url) = redis_url("the Redis ledger test") else { return Ok(()) };
        RT.block_on(async {
            let prefix = unique_prefix();
            let redis = connect(&url, &prefix).await.with_small_book_bytes(small_book);
            let local = LocalLedger::new();
            for (i, (e, now)) in events(&steps).iter().enumerate() {
                let want = local.take(e, *now);
                let got = redis.take(e, *now).await;
                assert_eq!(got, want, "step {i}: {e:?} at now {now}");
            }
            assert_same_usage(&local, &redis).await;
            cleanup(&url, &prefix).await;
        });
    }

    /// A batch (one script call per 256 events, or fewer when a call spends its work budget) answers as the same
    /// events taken one by one at the same `now`.
    #[test]
    fn redis_batch_equals_singles(
        steps in stream(300, false),
        budget in prop_oneof![Just(WORK_BUDGET), 1u64..400],
        small_book in prop_oneof![Just(SMALL_BOOK_BYTES), Just(0)],
    ) {
        let Some(url) = redis_url("the Redis ledger test") else { return Ok(()) };
        RT.block_on(async {
            let (p1, p2) = (unique_prefix(), unique_prefix());
            let batched = connect(&url, &p1).await.with_work_budget(budget).with_small_book_bytes(small_book);
            let single = connect(&url, &p2).await;
            let local = LocalLedger::new();
            let timed = events(&steps);
            let now = T0;
            let evs: Vec<Event<'static>> = timed.iter().map(|(e, _)| *e).collect();
            let got = batched.take_batch(&evs, now).await;
            assert_eq!(got.len(), evs.len());
            for (i, e) in evs.iter().enumerate() {
                let want = local.take(e, now);
                assert_eq!(single.take(e, now).await, want, "single {i}: {e:?}");
                assert_eq!(got[i], want, "batched {i}: {e:?}");
            }
            assert_same_usage(&local, &batched).await;
            cleanup(&url, &p1).await;
            cleanup(&url, &p2).await;
        });
    }

    /// PORTAL-6: the script's calendar (integer days-from-civil) is chrono's, to the millisecond, from 1970 to
    /// 2^52 ms (years past 9999 count into 9999-12).
    #[test]
    fn portal_6_the_script_months_are_the_calendar_months(
        times in prop::collection::vec(0..=MAX_EXACT, 1..40),
        edges in prop::collection::vec((1970i32..=9999, 1u32..=12), 1..40),
    ) {
        let Some(url) = redis_url("the Redis ledger test") else { return Ok(()) };
        let mut all = times;
        for (y, m) in edges {
            let start = Month::new(y, m).unwrap().start_ms();
            all.extend([start, start.saturating_sub(1), start + 1]);
        }
        RT.block_on(async {
            let prefix = unique_prefix();
            let redis = connect(&url, &prefix).await;
            for at in all {
                let e = Event::PageViews { tenant: "t", id: None, portal: "p", count: 1, at_ms: at, limits: VIEW_LIMITS[1] };
                match redis.take(&e, at).await {
                    Ok(Answer::PageViews(v)) => assert_eq!(v.month, Month::of_ms(at), "at {at}"),
                    other => panic!("at {at}: {other:?}"),
                }
            }
            cleanup(&url, &prefix).await;
        });
    }
}

/// The logins of the racing test: 4,000 over 6 days, 2 portals, 50 users.
static RACE_USERS: LazyLock<Vec<String>> =
    LazyLock::new(|| (0..50).map(|i| format!("contact-{i:03}")).collect());

fn race_event(i: u64) -> Event<'static> {
    Event::Login {
        tenant: "contoso",
        id: None,
        portal: PORTALS[(i % 2) as usize],
        user: &RACE_USERS[((i * 7) % 50) as usize],
        at_ms: T0 + (i * 7_919 * 60_000) % (6 * DAY_MS),
        limits: LOGIN_LIMITS[0],
    }
}

fn charged(a: &Result<Answer, LedgerError>) -> u64 {
    match a {
        Ok(Answer::Login(l)) => u64::from(l.charged && !l.replayed),
        other => panic!("{other:?}"),
    }
}

/// PORTAL-2: two nodes (two Redis clients) and eight tasks sending the logins of the same users in different
/// orders, one by one and in batches, are charged exactly the passes of the set of logins, month by month.
#[test]
fn portal_2_two_nodes_racing_on_the_same_users_count_each_pass_once() {
    let Some(url) = redis_url("the Redis ledger racing test") else {
        return;
    };
    RT.block_on(async {
        let prefix = unique_prefix();
        let nodes = [
            Arc::new(connect(&url, &prefix).await),
            Arc::new(connect(&url, &prefix).await),
        ];
        let now = T0 + 6 * DAY_MS;
        let n = 4_000u64;
        let tasks: Vec<_> = (0..8u64)
            .map(|t| {
                let node = Arc::clone(&nodes[(t % 2) as usize]);
                tokio::spawn(async move {
                    let mine: Vec<Event<'static>> = (t..n).step_by(8).map(race_event).collect();
                    let mut total = 0;
                    if t < 4 {
                        for e in &mine {
                            total += charged(&node.take(e, now).await);
                        }
                    } else {
                        for chunk in mine.chunks(50) {
                            total += node.take_batch(chunk, now).await.iter().map(charged).sum::<u64>();
                        }
                    }
                    total
                })
            })
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        let mut times: BTreeMap<(&str, &str), Vec<u64>> = BTreeMap::new();
        for i in 0..n {
            if let Event::Login {
                portal, user, at_ms, ..
            } = race_event(i)
            {
                times.entry((portal, user)).or_default().push(at_ms);
            }
        }
        let mut expected: BTreeMap<(&str, Month), u64> = BTreeMap::new();
        for ((portal, _), t) in &times {
            for (m, k) in passes_by_month(t) {
                *expected.entry((portal, m)).or_default() += k;
            }
        }
        assert_eq!(total, expected.values().sum::<u64>());
        let may = Month::of_ms(T0);
        for month in [may, may.next()] {
            let u = nodes[0].usage("contoso", &PORTALS, &[], month).await.unwrap();
            for p in PORTALS {
                let want = expected.get(&(p, month)).copied().unwrap_or(0);
                assert_eq!(u.portals[p].0, want, "{p} {month}");
            }
        }
        cleanup(&url, &prefix).await;
    });
}

/// PORTAL-2: a book keeps at most 10,000 logins of one user on one portal in 8 days, as in process: the
/// 10,001st inside a pass is refused, in order or late; a login that opens a pass is taken.
#[test]
fn portal_2_a_book_holds_at_most_10_000_logins_as_in_process() {
    let Some(url) = redis_url("the Redis ledger book size test") else {
        return;
    };
    RT.block_on(async {
        let prefix = unique_prefix();
        let redis = connect(&url, &prefix).await;
        let local = LocalLedger::new();
        let login = |at_ms| Event::Login {
            tenant: "contoso",
            id: None,
            portal: "customer-portal",
            user: "adele",
            at_ms,
            limits: LOGIN_LIMITS[0],
        };
        let now = T0 + 2 * DAY_MS;
        let mut evs: Vec<Event<'static>> = (0..=MAX_LOGINS as u64).map(|i| login(T0 + i * 1_000)).collect();
        evs.extend([login(T0 - HOUR), login(T0 + DAY_MS + HOUR), login(T0 + 500)]);
        let got = redis.take_batch(&evs, now).await;
        for (i, e) in evs.iter().enumerate() {
            assert_eq!(got[i], local.take(e, now), "login {i}");
        }
        assert_eq!(got[MAX_LOGINS], Err(LedgerError::Pass(PassError::TooMany)));
        assert_eq!(got[MAX_LOGINS + 1], Err(LedgerError::Pass(PassError::TooMany)));
        assert!(matches!(got[MAX_LOGINS + 2], Ok(Answer::Login(l)) if l.charged));
        cleanup(&url, &prefix).await;
    });
}

/// PORTAL-2: logins folded out of a book keep their pass: a later login inside that pass stays free and the
/// first one after it is charged, even when a node's clock is behind the one that folded them.
#[test]
fn portal_2_folded_logins_keep_their_pass_across_a_clock_step_back() {
    let Some(url) = redis_url("the Redis ledger folding test") else {
        return;
    };
    RT.block_on(async {
        let prefix = unique_prefix();
        let redis = connect(&url, &prefix).await;
        let local = LocalLedger::new();
        let login = |at_ms| Event::Login {
            tenant: "contoso",
            id: None,
            portal: "customer-portal",
            user: "adele",
            at_ms,
            limits: LOGIN_LIMITS[0],
        };
        // Logins at 0 h and 20 h (one pass, to 24 h); at 213 h they are folded (older than 8 days).
        let late_clock = T0 + 22 * HOUR + LATE_MS;
        let steps = [
            (login(T0), T0),
            (login(T0 + 20 * HOUR), T0 + 20 * HOUR),
            (login(T0 + 213 * HOUR), T0 + 213 * HOUR),
            // A node 23 hours behind: 22 h is inside the folded pass, 30 h opens one.
            (login(T0 + 22 * HOUR), late_clock),
            (login(T0 + 30 * HOUR), late_clock),
            (login(T0 + 23 * HOUR), late_clock),
        ];
        let mut charged = Vec::new();
        for (i, (e, now)) in steps.iter().enumerate() {
            let got = redis.take(e, *now).await;
            assert_eq!(got, local.take(e, *now), "step {i}");
            charged.push(matches!(got, Ok(Answer::Login(l)) if l.charged));
        }
        assert_eq!(charged, [true, false, true, false, true, false]);
        cleanup(&url, &prefix).await;
    });
}

/// Pass books live 9 days after their last write, event ids 8 days, a month's counts 400 days.
#[test]
fn redis_keys_expire_after_retain_and_months_after_400_days() {
    let Some(url) = redis_url("the Redis ledger expiry test") else {
        return;
    };
    RT.block_on(async {
        let prefix = unique_prefix();
        let redis = connect(&url, &prefix).await;
        let e = Event::Login {
            tenant: "contoso",
            id: Some("ev-1"),
            portal: "customer-portal",
            user: "adele",
            at_ms: T0,
            limits: LOGIN_LIMITS[0],
        };
        assert!(redis.take(&e, T0).await.is_ok());
        let mut raw = raw(&url).await;
        let keys: Vec<String> = raw.keys(format!("{prefix}*")).await.unwrap();
        assert_eq!(keys.len(), 3, "{keys:?}");
        for k in keys {
            let ttl: i64 = raw.pttl(&k).await.unwrap();
            let want = if k.contains(":b:") {
                BOOK_TTL_MS
            } else if k.contains(":i:") {
                RETAIN_MS
            } else {
                assert!(k.ends_with(":m:2024-05"), "{k}");
                MONTH_TTL_MS
            };
            let ttl = u64::try_from(ttl).unwrap();
            assert!(ttl <= want && ttl + 60_000 > want, "{k}: {ttl} ms");
        }
        cleanup(&url, &prefix).await;
    });
}

/// Times and amounts past 2^52 are refused before Redis, as is what `check_time` refuses.
#[test]
fn redis_refuses_what_it_cannot_count_exactly() {
    let Some(url) = redis_url("the Redis ledger range test") else {
        return;
    };
    RT.block_on(async {
        let prefix = unique_prefix();
        let redis = connect(&url, &prefix).await;
        let views = |count, at_ms| Event::PageViews {
            tenant: "t",
            id: None,
            portal: "p",
            count,
            at_ms,
            limits: VIEW_LIMITS[1],
        };
        let late = MAX_EXACT + 1;
        assert!(matches!(
            redis.take(&views(1, late), late).await,
            Err(LedgerError::OutOfRange { value, .. }) if value == late
        ));
        assert!(matches!(
            redis.take(&views(MAX_EXACT + 1, T0), T0).await,
            Err(LedgerError::OutOfRange { .. })
        ));
        assert!(matches!(
            redis.take(&views(1, T0 - LATE_MS - 1), T0).await,
            Err(LedgerError::TooLate { .. })
        ));
        assert!(redis.take(&views(MAX_EXACT, T0), T0).await.is_ok());
        cleanup(&url, &prefix).await;
    });
}

/// A `redis-server` of the test's own, on a free port, with `DEBUG` allowed (to make it sleep).
struct OwnRedis {
    child: std::process::Child,
    url: String,
}

impl OwnRedis {
    fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "no", "--enable-debug-command", "local"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let me = Self {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(me);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn login_with_id(id: Option<&'static str>, user: &'static str) -> Event<'static> {
    Event::Login {
        tenant: "contoso",
        id,
        portal: "customer-portal",
        user,
        at_ms: T0,
        limits: LOGIN_LIMITS[0],
    }
}

/// A call that times out after it was sent is reported unknown, never refused: here Redis runs it once it wakes,
/// so calling it "not taken" would be a lie. Sent again, the event with an id settles it: it is counted once.
#[test]
fn a_timed_out_event_is_unknown_and_its_id_settles_it() {
    let Some(server) = OwnRedis::start() else {
        eprintln!("redis-server is not installed: skipping the timeout test");
        return;
    };
    RT.block_on(async {
        let redis = RedisLedger::connect(&server.url, "x:", Duration::from_secs(2))
            .await
            .unwrap()
            .with_timeout(Duration::from_millis(300));
        let mut sleeper = raw(&server.url).await;
        let sleep = tokio::spawn(async move {
            let _: redis::RedisResult<()> = redis::cmd("DEBUG")
                .arg("SLEEP")
                .arg("1")
                .query_async(&mut sleeper)
                .await;
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let batch = [login_with_id(Some("ev-1"), "adele"), login_with_id(None, "bob")];
        for got in redis.take_batch(&batch, T0).await {
            assert!(
                matches!(
                    got,
                    Err(LedgerError::Unavailable {
                        outcome: Outcome::Unknown,
                        ..
                    })
                ),
                "{got:?}"
            );
        }
        sleep.await.unwrap();
        let again = redis.take(&batch[0], T0).await;
        let usage = redis
            .usage("contoso", &["customer-portal"], &[], Month::of_ms(T0))
            .await
            .unwrap();
        eprintln!(
            "sent again after the timeout: {again:?}; passes counted: {:?}",
            usage.portals
        );
        assert!(matches!(again, Ok(Answer::Login(l)) if l.charged), "{again:?}");
        // Each of the two users counted once, whether or not Redis ran the timed-out call.
        let counted = usage.portals["customer-portal"].0;
        let replayed = matches!(again, Ok(Answer::Login(l)) if l.replayed);
        assert_eq!(counted, if replayed { 2 } else { 1 });
    });
}

/// Redis unreachable: connecting fails, and a ledger whose Redis went away answers unavailable, never a count.
#[test]
fn redis_down_is_unavailable_never_a_count() {
    RT.block_on(async {
        let dead = RedisLedger::connect("redis://127.0.0.1:1", "x:", Duration::from_millis(300)).await;
        assert!(
            matches!(
                dead,
                Err(LedgerError::Unavailable {
                    outcome: Outcome::NotTaken,
                    ..
                })
            ),
            "{dead:?}"
        );
    });
    let Some(server) = OwnRedis::start() else {
        eprintln!("redis-server is not installed: skipping the Redis-down test");
        return;
    };
    RT.block_on(async {
        let redis = RedisLedger::connect(&server.url, "x:", Duration::from_millis(500))
            .await
            .unwrap();
        assert!(redis.take(&login_with_id(None, "adele"), T0).await.is_ok());
        drop(server);
        let batch: Vec<Event<'static>> = (0..300).map(|_| login_with_id(None, "bob")).collect();
        let got = redis.take_batch(&batch, T0).await;
        assert_eq!(got.len(), 300);
        for a in &got {
            assert!(matches!(a, Err(LedgerError::Unavailable { .. })), "{a:?}");
        }
        // The second chunk was never sent.
        assert!(matches!(
            got[299],
            Err(LedgerError::Unavailable {
                outcome: Outcome::NotTaken,
                ..
            })
        ));
        let usage = redis
            .usage("contoso", &["customer-portal"], &[], Month::of_ms(T0))
            .await;
        assert!(matches!(usage, Err(LedgerError::Unavailable { .. })), "{usage:?}");
    });
}
