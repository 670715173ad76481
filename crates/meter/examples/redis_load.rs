//! Drives concurrent check-and-counts through the Redis meter and prints ops/s; `scripts/meter-redis-load.sh`
//! runs it next to `redis-benchmark` doing `EVALSHA` of the same script at the same concurrency.
//!
//! `cargo run --release -p entitle-meter --example redis_load -- URL CLIENTS REQUESTS KEYS PREFIX`

use std::sync::Arc;
use std::time::{Duration, Instant};

use entitle_meter::{Limits, MAX_LIMIT, RedisMeter, Windows};

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_owned());
    let url = arg(0, "redis://127.0.0.1:6379");
    let clients: u64 = arg(1, "50").parse()?;
    let requests: u64 = arg(2, "200000").parse()?;
    let keys: u64 = arg(3, "10000").parse()?;
    let prefix = arg(4, "entitle-meter-load:");

    let meter =
        Arc::new(RedisMeter::connect(&url, prefix, Windows::standard(), Duration::from_secs(5)).await?);
    println!("script sha {}", meter.script_sha());
    let limits = Limits {
        per_24h: MAX_LIMIT,
        per_5min: MAX_LIMIT,
    };
    let now = 1_700_000_000_000u64;
    let names: Arc<Vec<String>> = Arc::new((0..keys).map(|i| format!("{i:012}")).collect());

    let start = Instant::now();
    let per_client = requests / clients;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (meter, names) = (Arc::clone(&meter), Arc::clone(&names));
        tasks.push(tokio::spawn(async move {
            let mut refused = 0u64;
            for i in 0..per_client {
                let key = names
                    .get(((c * per_client + i) * 7_919 % keys) as usize)
                    .map_or("", String::as_str);
                if !meter.check(key, 1, limits, now).await?.is_allowed() {
                    refused += 1;
                }
            }
            Ok::<u64, entitle_meter::MeterError>(refused)
        }));
    }
    let mut refused = 0;
    for t in tasks {
        refused += t.await??;
    }
    let secs = start.elapsed().as_secs_f64();
    let done = per_client * clients;
    println!("entitle-meter: {done} checks, {clients} concurrent, {refused} refused, {secs:.2} s");
    println!("entitle-meter ops/s: {:.0}", done as f64 / secs);
    Ok(())
}
