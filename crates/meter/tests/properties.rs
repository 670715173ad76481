//! Property tests of the in-process meter against the exact sliding-window reference (tests/common).

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test helpers (outside #[test] functions) fail the test on a broken invariant"
)]

mod common;

use common::{KEYS, Log, record, stream};
use entitle_meter::{Decision, LocalMeter, Windows};
use proptest::prelude::*;

/// Runs a stream through a meter, checking every refusal's Retry-After on a copy of the meter's state.
fn run(limits: entitle_meter::Limits, start: u64, steps: &[common::Step]) -> (Windows, Vec<Log>) {
    let w = Windows::standard();
    let mut meter = LocalMeter::new(w);
    let mut logs = vec![Log::default(); KEYS.len()];
    let mut now = start;
    for s in steps {
        now += s.dt_ms;
        let key = KEYS[s.key];
        let d = meter.check(key, s.n, limits, now);
        let log = &mut logs[s.key];
        if let Decision::Refused { retry_after_ms, .. } = d {
            common::assert_refusal_within_one_bucket(log, &w, limits, now, s.n);
            if let Some(r) = retry_after_ms {
                // REQ-7: never early (the same state, at now + r, admits) and the earliest such bucket.
                let copy = LocalMeter::from_snapshot(w, &meter.snapshot(now), now).unwrap();
                assert!(
                    copy.check(key, s.n, limits, now + r).is_allowed(),
                    "retry after {r} ms still refused"
                );
                if r > 0 {
                    let copy = LocalMeter::from_snapshot(w, &meter.snapshot(now), now).unwrap();
                    assert!(
                        !copy.check(key, s.n, limits, now + r - 1).is_allowed(),
                        "retry after {r} ms is late"
                    );
                }
            } else {
                assert!(s.n > limits.per_24h || s.n > limits.per_5min);
            }
            // A refusal counted nothing: the snapshot round trip still gives the same meter.
            meter = LocalMeter::from_snapshot(w, &meter.snapshot(now), now).unwrap();
        }
        record(log, now, s.n, &d);
    }
    (w, logs)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn req1_never_over_admits_24h_or_5min((start, limits, steps) in stream(250)) {
        let (w, logs) = run(limits, start, &steps);
        for log in &logs {
            common::assert_never_over_admits(log, &w, limits);
        }
    }

    #[test]
    fn req7_retry_after_never_early_and_refusals_within_one_bucket((start, limits, steps) in stream(250)) {
        // The assertions run inside `run`, at each refusal.
        run(limits, start, &steps);
    }

    #[test]
    fn req8_warns_once_per_window((start, limits, steps) in stream(250)) {
        let (w, logs) = run(limits, start, &steps);
        for log in &logs {
            common::assert_warns_once_per_window(log, &w, limits);
        }
    }

    #[test]
    fn batch_answers_as_single_checks((start, limits, steps) in stream(100)) {
        let w = Windows::standard();
        let single = LocalMeter::new(w);
        let batched = LocalMeter::new(w);
        let events: Vec<_> = steps
            .iter()
            .map(|s| entitle_meter::Event { key: KEYS[s.key], n: s.n, limits })
            .collect();
        let one: Vec<_> = events.iter().map(|e| single.check(e.key, e.n, e.limits, start)).collect();
        prop_assert_eq!(one, batched.check_batch(&events, start));
    }
}
