//! What is due on one day for the tenant of 100,000 flows, 20,000 users and 1,000 environments
//! (`generate::synthetic(100_000, 20_000, 1_000, 1)`), issue 14's target < 200 ms:
//!
//! - `due/day`: [`entitle_core::timeline::due`] on the built snapshot (every flow's decision and timeline, the
//!   trials and terms): what the server's jobs work out each day;
//! - `due/day-with-fixes`: the same tenant with every flow turned on (the generator leaves its flows at risk
//!   off), so that every flow at risk past its date is turned off that day, with the cheapest fix of the first
//!   200 worked out (`MAX_FIXES_PER_DAY`, as the server does): the worst day.
//!
//! The day is the generated tenant's own (2024-06-01) with no job run before it: the heaviest day there is, the
//! first run of a tenant imported late, which notes every flow at risk and turns off every one past its date.
//!
//! Building the snapshot is not timed. Run: `cargo bench -p entitle-bench --bench due`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use criterion::{Criterion, criterion_group, criterion_main};
use entitle_core::generate::synthetic;
use entitle_core::timeline::{Happening, due, with_fixes};
use entitle_core::{Catalog, Snapshot};

fn bench(c: &mut Criterion) {
    let scenario = synthetic(100_000, 20_000, 1_000, 1);
    let at = scenario
        .tenant
        .at
        .or(NaiveDate::from_ymd_opt(2024, 6, 3))
        .unwrap_or_default();
    let Ok(catalog) = Catalog::seed() else { return };
    let catalog = Arc::new(catalog);
    let Ok(snap) = Snapshot::new(Arc::clone(&catalog), scenario.clone(), at) else {
        return;
    };
    let t = Instant::now();
    let today = due(&snap);
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    for h in &today {
        *kinds.entry(h.kind()).or_default() += 1;
    }
    eprintln!(
        "on {at}: {} happenings {kinds:?}, worked out once in {:.1?}",
        today.len(),
        t.elapsed()
    );
    let mut on = snap.scenario().clone();
    for f in on.flows.iter_mut() {
        f.enabled = true;
    }
    let Ok(busy_snap) = Snapshot::new(catalog, on, at) else {
        return;
    };
    let busy_snap = &busy_snap;
    let t = Instant::now();
    let worst = with_fixes(busy_snap, due(busy_snap), |_| None, 200);
    let offs = worst
        .iter()
        .filter(|h| matches!(h, Happening::Suspended { .. }))
        .count();
    eprintln!(
        "every flow on: {} happenings, {offs} turn-offs, once in {:.1?}",
        worst.len(),
        t.elapsed()
    );

    let mut g = c.benchmark_group("due");
    g.sample_size(20);
    g.bench_function("day", |b| b.iter(|| black_box(due(black_box(&snap)))));
    g.bench_function("day-with-fixes", |b| {
        b.iter(|| black_box(with_fixes(busy_snap, due(black_box(busy_snap)), |_| None, 200)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
