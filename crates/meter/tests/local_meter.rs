//! The in-process meter under threads, through snapshots and sweeps.

use std::sync::atomic::{AtomicU64, Ordering};

use entitle_meter::{DAY_MS, Limits, LocalMeter, Windows};

const T0: u64 = 1_700_000_000_000;

#[test]
fn req1_racing_threads_admit_exactly_the_limit_on_one_key() {
    let meter = LocalMeter::new(Windows::standard());
    let limits = Limits {
        per_24h: 50_000,
        per_5min: 100_000,
    };
    let admitted = AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..10_000 {
                    if meter.check("hot", 1, limits, T0).is_allowed() {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(admitted.into_inner(), 50_000);
}

#[test]
fn req1_racing_threads_across_buckets_lose_and_add_nothing() {
    // 4 threads walk through 23 hours (crossing every bucket, racing on each move of the head) on one key; all
    // of it is in one 24-hour window, so exactly the limit is admitted and the meter holds exactly that.
    let meter = LocalMeter::new(Windows::standard());
    let limits = Limits {
        per_24h: 30_000,
        per_5min: 1_000_000,
    };
    let admitted = AtomicU64::new(0);
    let steps = 20_000u64;
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for i in 0..steps {
                    let now = T0 + i * (23 * 3_600_000 / steps);
                    if meter.check("hot", 1, limits, now).is_allowed() {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(admitted.into_inner(), 30_000);
    let snap = meter.snapshot(T0 + 23 * 3_600_000);
    let held: u64 = snap.keys[0].buckets.iter().map(|b| u64::from(b.count)).sum();
    assert_eq!(held, 30_000);
}

#[test]
fn req1_racing_threads_on_the_short_cap() {
    let meter = LocalMeter::new(Windows::standard());
    let limits = Limits::per_day(1_000_000);
    let admitted = AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..40_000 {
                    if meter.check("hot", 1, limits, T0).is_allowed() {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(admitted.into_inner(), 100_000);
}

#[test]
fn req7_usage_never_rolls_over() {
    let meter = LocalMeter::new(Windows::standard());
    let limits = Limits::per_day(100);
    assert!(meter.check("u", 10, limits, T0).is_allowed());
    // A day later only the 100 of the new window are available: the 90 unused are gone.
    assert!(!meter.check("u", 101, limits, T0 + 2 * DAY_MS).is_allowed());
    assert!(meter.check("u", 100, limits, T0 + 2 * DAY_MS).is_allowed());
}

#[test]
fn snapshot_round_trips_through_json_and_never_over_counts() {
    let w = Windows::standard();
    let meter = LocalMeter::new(w);
    let limits = Limits::per_day(100);
    for i in 0..50 {
        assert!(
            meter
                .check(&format!("k{}", i % 5), 2, limits, T0 + i * 60_000)
                .is_allowed()
        );
    }
    let snap = meter.snapshot(T0 + 50 * 60_000);
    let json = serde_json::to_string(&snap).unwrap();
    let back: entitle_meter::Snapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, snap);
    let restored = LocalMeter::from_snapshot(w, &back, T0 + 50 * 60_000).unwrap();
    // Each key counted 20 of 100: exactly 80 fit, not 81.
    for k in 0..5 {
        let key = format!("k{k}");
        assert!(restored.check(&key, 80, limits, T0 + 51 * 60_000).is_allowed());
        assert!(!restored.check(&key, 1, limits, T0 + 51 * 60_000).is_allowed());
    }
    assert_eq!(restored.snapshot(T0 + 51 * 60_000).keys.len(), 5);
    // Restoring twice into the same meter is not possible: a restore builds a new meter, so nothing adds up.
    let w2 = Windows::new(60_000, DAY_MS, 300_000).unwrap();
    assert!(LocalMeter::from_snapshot(w2, &back, T0).is_err());
}

#[test]
fn sweep_drops_idle_keys_and_they_start_afresh() {
    let meter = LocalMeter::new(Windows::standard());
    let limits = Limits::per_day(10);
    assert!(meter.check("idle", 10, limits, T0).is_allowed());
    assert!(meter.check("busy", 1, limits, T0).is_allowed());
    assert_eq!(meter.sweep(T0 + DAY_MS), 0);
    // 8 of 10 reached 80 %, so "idle" warned at T0 and holds a warning deadline until T0 + 24 h.
    let later = T0 + DAY_MS + 300_000;
    assert!(meter.check("busy", 1, limits, later).is_allowed());
    assert_eq!(meter.sweep(later), 1);
    assert_eq!(meter.len(), 1);
    assert!(meter.check("idle", 10, limits, later).is_allowed());
}

/// REQ-7: over the limit a request is refused with the time at which it would fit, and the refusal counts
/// nothing: what was left is still there, and at `now + retry_after` the same request fits.
#[test]
fn req_7_refused_with_a_time_to_retry_and_nothing_counted() {
    let meter = LocalMeter::new(Windows::standard());
    let limits = Limits::per_day(6_000);
    assert!(meter.check("user:ann", 5_000, limits, T0).is_allowed());
    let refused = meter.check("user:ann", 2_000, limits, T0 + 60_000);
    assert!(!refused.is_allowed(), "{refused:?}");
    let Some(retry) = refused.retry_after_ms() else {
        panic!("a request that fits later says when: {refused:?}");
    };
    assert!(retry > 0 && retry <= DAY_MS + 300_000, "{retry}");
    // Nothing of the refused 2,000 was counted: 1,000 still fit now.
    assert!(meter.check("user:ann", 1_000, limits, T0 + 60_000).is_allowed());
    // A request larger than the limit never fits: no time is promised.
    assert_eq!(meter.check("user:bo", 6_001, limits, T0).retry_after_ms(), None);
    // Nothing rolls over: a day later the whole limit is there again.
    assert!(
        meter
            .check("user:ann", 6_000, limits, T0 + DAY_MS + 3_600_000)
            .is_allowed()
    );
}

/// REQ-8: the check that reaches 80 % of the 24-hour limit warns, and only that one in the window.
#[test]
fn req_8_warns_once_at_80_percent() {
    let meter = LocalMeter::new(Windows::standard());
    let limits = Limits::per_day(10_000);
    assert!(!meter.check("user:ann", 7_999, limits, T0).warn());
    assert!(meter.check("user:ann", 1, limits, T0 + 1_000).warn());
    assert!(!meter.check("user:ann", 1_000, limits, T0 + 2_000).warn());
}
