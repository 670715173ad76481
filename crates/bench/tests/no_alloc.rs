//! Proof that the flow decision allocates nothing: a counting global allocator, a sizeable snapshot, and
//! thousands of `decide_flow` calls over every kind of flow, which must perform exactly zero allocations.
//!
//! This is its own test binary so that the allocator counts this file's work only; the count is kept per
//! thread as well, so the test harness's own threads cannot disturb it.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers (outside #[test] functions) fail the test on a bad fixture"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::NaiveDate;
use entitle_bench::{Rng, enriched};
use entitle_core::flows::decide_flow;
use entitle_core::generate::synthetic;
use entitle_core::scenario::{DesktopMode, FlowLicense, Trigger};
use entitle_core::snapshot::{FlowIdx, UserIdx};
use entitle_core::{Catalog, Snapshot};

/// Counts every allocation, reallocation and zeroed allocation, in total and per thread, and forwards it to
/// the system allocator.
struct Counting;

static TOTAL: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // `const` initialisation and a type without a destructor: reading and writing it never allocates and never
    // registers a thread-local destructor, so the allocator cannot recurse into itself.
    static MINE: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    TOTAL.fetch_add(1, Ordering::Relaxed);
    // `try_with`: during thread teardown the slot may be gone; the total still counts.
    let _ = MINE.try_with(|c| c.set(c.get() + 1));
}

// SAFETY (why this impl is sound): every method forwards its arguments unchanged to `System`, which upholds
// the `GlobalAlloc` contract, and returns `System`'s result unchanged; the only other work is incrementing an
// atomic and a `const`-initialised thread-local `Cell<u64>`, neither of which allocates, unwinds or touches the
// memory being (de)allocated. So each method's preconditions are exactly `System`'s, and its guarantees are
// exactly `System`'s.
#[expect(
    unsafe_code,
    reason = "a GlobalAlloc impl is unsafe by definition; this one only counts and forwards"
)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours, forwarded unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours, forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as ours; `ptr` came from `System` through `alloc` above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours; `ptr` came from `System` through `alloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn mine() -> u64 {
    MINE.with(Cell::get)
}

fn snapshot(scenario: entitle_core::Scenario) -> Snapshot {
    let at = scenario
        .tenant
        .at
        .unwrap_or(NaiveDate::from_ymd_opt(2024, 6, 1).unwrap());
    Snapshot::new(Arc::new(Catalog::seed().unwrap()), scenario, at).unwrap()
}

/// The decisions to make: every flow once without `--as`, every instant flow once more with a pseudo-random
/// invoking user, then a pseudo-random mix, `n` in all.
fn calls(snap: &Snapshot, n: usize) -> Vec<(FlowIdx, Option<UserIdx>)> {
    let users = snap.users().len() as u64;
    let flows = snap.flows().len() as u64;
    let mut rng = Rng(42);
    let mut v = Vec::with_capacity(n);
    for (i, f) in snap.flows() {
        v.push((i, None));
        if f.trigger == Trigger::Instant {
            v.push((i, Some(UserIdx(rng.below(users) as u32))));
        }
    }
    while v.len() < n {
        let i = FlowIdx(rng.below(flows) as u32);
        let as_user = if rng.below(2) == 0 {
            Some(UserIdx(rng.below(users) as u32))
        } else {
            None
        };
        v.push((i, as_user));
    }
    v.truncate(n);
    v
}

/// Decides every call, and returns the allocations this thread made meanwhile and how many runs were allowed.
fn allocations_while_deciding(snap: &Snapshot, calls: &[(FlowIdx, Option<UserIdx>)]) -> (u64, usize) {
    let before = mine();
    let mut allowed = 0usize;
    for &(f, u) in calls {
        let d = black_box(decide_flow(black_box(snap), black_box(f), black_box(u)));
        allowed += usize::from(d.allowed);
    }
    (mine() - before, allowed)
}

fn check(snap: &Snapshot, n: usize) {
    let calls = calls(snap, n);
    // The variety the proof needs.
    let flow = |i: &FlowIdx| snap.flow(*i).unwrap();
    assert!(
        calls
            .iter()
            .any(|(i, u)| flow(i).trigger == Trigger::Instant && u.is_some())
    );
    assert!(
        calls
            .iter()
            .any(|(i, u)| flow(i).trigger == Trigger::Instant && u.is_none() && flow(i).run_by.len() > 1)
    );
    assert!(calls.iter().any(|(i, _)| flow(i).trigger != Trigger::Instant));
    assert!(calls.iter().any(|(i, _)| flow(i).parent.is_some()));
    assert!(calls.iter().any(|(i, _)| flow(i).license == FlowLicense::Process));
    // Warm-up: the first calls may touch lazily initialised state (none is expected, but it is not the claim).
    let _ = allocations_while_deciding(snap, calls.get(..1_000.min(calls.len())).unwrap());
    let total_before = TOTAL.load(Ordering::Relaxed);
    let (allocs, allowed) = allocations_while_deciding(snap, &calls);
    let total_after = TOTAL.load(Ordering::Relaxed);
    assert!(
        allowed > 0 && allowed < calls.len(),
        "both answers occur: {allowed} of {}",
        calls.len()
    );
    assert_eq!(
        allocs,
        0,
        "decide_flow allocated {allocs} times in {} calls",
        calls.len()
    );
    // The per-thread counter is the claim; the process-wide one also includes the harness, so it is only
    // printed.
    eprintln!(
        "{} decisions ({allowed} allowed): {allocs} allocations on this thread, {} process-wide",
        calls.len(),
        total_after - total_before
    );
}

#[test]
fn the_counter_counts() {
    let before = mine();
    let v: Vec<u64> = black_box(vec![1, 2, 3]);
    assert!(mine() > before, "the counting allocator is in use");
    drop(v);
}

#[test]
fn deciding_flows_allocates_nothing() {
    // 20,000 flows, 4,000 users, 200 environments: child flows, process flows, instant flows with several
    // runners, guests, service principals, users who left.
    let snap = snapshot(synthetic(20_000, 4_000, 200, 1));
    check(&snap, 50_000);
}

#[test]
fn deciding_enriched_flows_allocates_nothing() {
    // Also apps, Dynamics 365, desktop flows (attended and unattended), entities, FLOW-15 associations,
    // per-flow licences, non-interactive users and consumer accounts.
    let snap = snapshot(enriched(10_000, 2_000, 100, 3));
    let flows: Vec<_> = snap.flows().map(|(_, f)| f).collect();
    assert!(
        flows
            .iter()
            .any(|f| f.desktop_mode == Some(DesktopMode::Unattended))
    );
    assert!(flows.iter().any(|f| f.in_context_of.is_some()));
    check(&snap, 30_000);
}
