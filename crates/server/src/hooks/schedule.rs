//! When a failed delivery is tried again: exponential backoff with jitter, for a bounded time.
//!
//! Attempt `n` (1 is the first) failed: the next comes after `base · 2^(n-1)`, capped at `cap`, and jittered to a
//! uniformly random point in the upper half of that wait (`[wait/2, wait]`), so receivers coming back are not
//! hit by every sender at once while a retry never comes sooner than half the plan. With the defaults (5 s, 1 h)
//! the waits are 5 s, 10 s, 20 s, 40 s, 80 s, 160 s, 320 s, 640 s, 1280 s, 2560 s, then an hour each. A delivery
//! gives up once the next try would come more than `max_age` (24 h by default) after its first attempt; its
//! endpoint is then marked failing.

/// The schedule's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub base_ms: i64,
    pub cap_ms: i64,
    pub max_age_ms: i64,
}

impl Default for Schedule {
    fn default() -> Schedule {
        Schedule {
            base_ms: 5_000,
            cap_ms: 3_600_000,
            max_age_ms: 24 * 3_600_000,
        }
    }
}

impl Schedule {
    /// The planned wait after failed attempt `attempt` (1-based), before jitter.
    pub fn wait_ms(&self, attempt: i64) -> i64 {
        let doublings = u32::try_from(attempt.saturating_sub(1).clamp(0, 40)).unwrap_or(40);
        self.base_ms
            .saturating_mul(1i64.checked_shl(doublings).unwrap_or(i64::MAX))
            .min(self.cap_ms)
            .max(1)
    }

    /// The bounds of the jittered wait: `[wait/2, wait]`.
    pub fn bounds_ms(&self, attempt: i64) -> (i64, i64) {
        let w = self.wait_ms(attempt);
        (w / 2, w)
    }

    /// When attempt `attempt + 1` comes, after attempt `attempt` failed at `now` (the first attempt was at
    /// `first`); `unit` in `[0, 1)` picks the point in the jitter window. `None`: give up.
    pub fn next(&self, attempt: i64, first: i64, now: i64, unit: f64) -> Option<i64> {
        let (lo, hi) = self.bounds_ms(attempt);
        let span = (hi - lo) as f64;
        let wait = lo + (span * unit.clamp(0.0, 1.0)) as i64;
        let at = now.saturating_add(wait);
        (at - first <= self.max_age_ms).then_some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_documented_waits() {
        let s = Schedule::default();
        let waits: Vec<i64> = (1..=12).map(|n| s.wait_ms(n) / 1000).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]);
    }

    proptest! {
        /// Every retry falls in its window, never past the maximum age; the plan never shrinks.
        #[test]
        fn retries_stay_in_their_window(attempt in 1i64..60, unit in 0.0f64..1.0, first in 0i64..1_000_000, later in 0i64..200_000_000) {
            let s = Schedule::default();
            let now = first + later;
            let (lo, hi) = s.bounds_ms(attempt);
            prop_assert!(lo >= 1 && lo <= hi && hi <= s.cap_ms);
            prop_assert!(s.wait_ms(attempt + 1) >= s.wait_ms(attempt));
            match s.next(attempt, first, now, unit) {
                Some(at) => {
                    prop_assert!(at - now >= lo && at - now <= hi);
                    prop_assert!(at - first <= s.max_age_ms);
                }
                None => prop_assert!(now + lo - first > s.max_age_ms || now + hi - first > s.max_age_ms),
            }
        }
    }
}
