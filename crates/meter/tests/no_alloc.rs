//! Check-and-count on a known key allocates nothing. The counting allocator is `stats_alloc`'s, so this crate
//! keeps `unsafe_code = "forbid"`. Its own test binary, with one test, so nothing else allocates meanwhile.

use std::hint::black_box;

use entitle_meter::{Event, Limits, LocalMeter, Windows};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

#[test]
fn check_and_count_on_known_keys_allocates_nothing() {
    let meter = LocalMeter::new(Windows::standard());
    let t0 = 1_700_000_000_000u64;
    let keys: Vec<String> = (0..1_000).map(|i| format!("user:{i}")).collect();
    let limits = Limits::per_day(40_000);
    for k in &keys {
        meter.register(k, t0);
    }
    let events: Vec<Event<'_>> = keys.iter().map(|k| Event { key: k, n: 1, limits }).collect();
    let mut out = Vec::with_capacity(events.len());
    meter.check_batch_into(&events, t0, &mut out); // warm up the thread's epoch guard

    let region = Region::new(GLOBAL);
    // 12.5 simulated hours: every bucket move, refusals (the 5-minute cap) and REQ-8 warnings included.
    for step in 0..500u64 {
        let now = t0 + step * 90_000;
        for k in &keys {
            black_box(meter.check(
                k,
                30,
                Limits {
                    per_24h: 40_000,
                    per_5min: 50,
                },
                now,
            ));
        }
        meter.check_batch_into(&events, now, &mut out);
    }
    let stats = region.change();
    assert_eq!(stats.allocations + stats.reallocations, 0, "{stats:?}");
}
