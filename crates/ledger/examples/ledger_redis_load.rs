//! Drives concurrent logins (PORTAL-2) through the Redis ledger and prints ops/s; `scripts/ledger-redis-load.sh`
//! runs it next to `redis-benchmark` doing `EVALSHA` of the same script with the same arguments (printed by
//! `args`, so the two cannot drift apart).
//!
//! `cargo run --release -p entitle-ledger --example ledger_redis_load -- run URL CLIENTS REQUESTS USERS PREFIX [BATCH]`
//! (with `BATCH` > 1, each client sends `take_batch` calls of that many logins: the batched ingest path)
//! `cargo run --release -p entitle-ledger --example ledger_redis_load -- args URL PREFIX`: the `EVALSHA` arguments of one
//! login, one per line, with `__rand_int__` for the user (which `redis-benchmark` replaces by a 12-digit number).
//! `cargo run --release -p entitle-ledger --example ledger_redis_load -- big URL PREFIX`: one user's book near the 10,000
//! logins cap: 9,700 logins in time order, then two batches of 256 late ones (early and late in the book).
//! Deletes its book.

use std::sync::Arc;
use std::time::{Duration, Instant};

use entitle_ledger::{Answer, Event, Overage, PortalLimits, RedisLedger};

/// 2024-06-10T00:00Z: every login is at this time, and so is `now`.
const NOW: u64 = 1_717_977_600_000;
const LIMITS: PortalLimits = PortalLimits {
    logins: 1_000_000_000,
    page_views: 1_000_000_000,
    overage: Overage::AllowAndReport,
};

fn login(user: &str) -> Event<'_> {
    Event::Login {
        tenant: "contoso",
        id: None,
        portal: "customer-portal",
        user,
        at_ms: NOW,
        limits: LIMITS,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_owned());
    let url = arg(1, "redis://127.0.0.1:6379");
    match arg(0, "run").as_str() {
        "args" => {
            let ledger =
                RedisLedger::connect(&url, arg(2, "entitle-ledger-load:"), Duration::from_secs(5)).await?;
            print_args(&ledger);
            return Ok(());
        }
        "big" => return big_book(&url, &arg(2, "entitle-ledger-load:")).await,
        _ => {}
    }
    let clients: u64 = arg(2, "50").parse()?;
    let requests: u64 = arg(3, "200000").parse()?;
    let users: u64 = arg(4, "10000").parse()?;
    let prefix = arg(5, "entitle-ledger-load:");
    let batch: u64 = arg(6, "1").parse::<u64>()?.max(1);

    let ledger = Arc::new(RedisLedger::connect(&url, prefix, Duration::from_secs(5)).await?);
    println!("script sha {}", ledger.script_sha());
    let names: Arc<Vec<String>> = Arc::new((0..users).map(|i| format!("{i:012}")).collect());

    let start = Instant::now();
    let per_client = requests / clients;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (ledger, names) = (Arc::clone(&ledger), Arc::clone(&names));
        tasks.push(tokio::spawn(async move {
            let user = |i: u64| {
                names
                    .get(usize::try_from((c * per_client + i) * 7_919 % users).unwrap_or(0))
                    .map_or("", String::as_str)
            };
            let mut charged = 0u64;
            let mut i = 0;
            while i < per_client {
                let answers = if batch == 1 {
                    vec![ledger.take(&login(user(i)), NOW).await]
                } else {
                    let events: Vec<Event<'_>> =
                        (i..(i + batch).min(per_client)).map(|j| login(user(j))).collect();
                    ledger.take_batch(&events, NOW).await
                };
                i += batch;
                for a in answers {
                    if let Answer::Login(a) = a? {
                        charged += u64::from(a.charged);
                    }
                }
            }
            Ok::<u64, entitle_ledger::LedgerError>(charged)
        }));
    }
    let mut charged = 0;
    for t in tasks {
        charged += t.await??;
    }
    let secs = start.elapsed().as_secs_f64();
    let done = per_client * clients;
    println!(
        "entitle-ledger: {done} logins, {clients} concurrent, batches of {batch}, {charged} charged, {secs:.2} s"
    );
    println!("entitle-ledger ops/s: {:.0}", done as f64 / secs);
    Ok(())
}

/// One book near the cap: logins one minute apart over 6.7 days, then late ones in between.
async fn big_book(url: &str, prefix: &str) -> Result<(), Box<dyn std::error::Error>> {
    let ledger = RedisLedger::connect(url, prefix, Duration::from_secs(30)).await?;
    let start = NOW - 7 * 86_400_000;
    let at = |ms| match login("big-book-user") {
        Event::Login {
            tenant,
            id,
            portal,
            user,
            limits,
            ..
        } => Event::Login {
            tenant,
            id,
            portal,
            user,
            at_ms: ms,
            limits,
        },
        other => other,
    };
    let n = 9_700u64;
    let events: Vec<Event<'_>> = (0..n).map(|i| at(start + i * 60_000)).collect();
    let t = Instant::now();
    let ok = ledger
        .take_batch(&events, NOW)
        .await
        .iter()
        .filter(|a| a.is_ok())
        .count();
    println!(
        "{n} logins in time order into one book: {ok} taken, {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    for (what, from) in [("early", 30_000), ("late", (n - 260) * 60_000 + 30_000)] {
        let events: Vec<Event<'_>> = (0..256).map(|i| at(start + from + i * 60_000 + 1)).collect();
        let t = Instant::now();
        let ok = ledger
            .take_batch(&events, NOW)
            .await
            .iter()
            .filter(|a| a.is_ok())
            .count();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        println!("256 late logins {what} in the book: {ok} taken, {ms:.0} ms");
    }
    let mut conn = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let base = format!("{prefix}7{{contoso}}");
    let _: () = redis::cmd("DEL")
        .arg(format!("{base}:b:15:customer-portal:big-book-user"))
        .arg(format!("{base}:m:2024-06"))
        .arg(format!("{base}:m:2024-05"))
        .query_async(&mut conn)
        .await?;
    Ok(())
}

/// `SHA NUMKEYS KEY... ARG...` of one login by user `__rand_int__`, one per line.
fn print_args(ledger: &RedisLedger) {
    let inv = ledger.invocation(&[login("__rand_int__")], NOW);
    println!("{}", ledger.script_sha());
    println!("{}", inv.keys.len());
    for x in inv.keys.iter().chain(&inv.args) {
        println!("{x}");
    }
}
