//! Check-and-count on 10,000 existing keys: entitle's in-process meter, and governor's keyed limiter on the same
//! keys in the same run. Both are set so every check is admitted (the hot path of a server under its limits).

use std::hint::black_box;
use std::num::NonZeroU32;

use criterion::{Criterion, criterion_group, criterion_main};
use entitle_meter::{Limits, LocalMeter, MAX_LIMIT, Windows};
use governor::{Quota, RateLimiter};

const KEYS: usize = 10_000;
const T0: u64 = 1_700_000_000_000;

fn keys() -> Vec<String> {
    (0..KEYS).map(|i| format!("user:{i:08x}-tenant")).collect()
}

fn check_existing_keys(c: &mut Criterion) {
    let keys = keys();
    let mut group = c.benchmark_group("check_existing_key");

    let meter = LocalMeter::new(Windows::standard());
    let limits = Limits {
        per_24h: MAX_LIMIT,
        per_5min: MAX_LIMIT,
    };
    for k in &keys {
        meter.register(k, T0);
    }
    let mut cycle = keys.iter().cycle();
    group.bench_function("entitle_meter", |b| {
        b.iter(|| {
            let key = cycle.next().map_or("", String::as_str);
            black_box(meter.check(black_box(key), 1, limits, T0))
        });
    });

    let quota = Quota::per_second(NonZeroU32::MAX);
    let governor = RateLimiter::<String, _, _>::keyed(quota);
    for k in &keys {
        let _ = governor.check_key(k);
    }
    let mut cycle = keys.iter().cycle();
    group.bench_function("governor_keyed", |b| {
        b.iter(|| {
            cycle
                .next()
                .map(|key| black_box(governor.check_key(black_box(key)).is_ok()))
        });
    });
    group.finish();
}

criterion_group!(benches, check_existing_keys);
criterion_main!(benches);
