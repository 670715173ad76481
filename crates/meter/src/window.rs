//! The meter's windows cut into buckets, and the arithmetic every backend shares.
//!
//! Time is cut into buckets of `bucket_ms` (5 minutes by default). A check at bucket `h` sums the `K + 1` buckets
//! `h - K ..= h` for the 24-hour window (`K = day_ms / bucket_ms`) and the `k + 1` buckets `h - k ..= h` for the
//! short window (`k = short_ms / bucket_ms`): every bucket that overlaps the window ending now, so nothing inside
//! the window is ever missed (no over-admission), at the price of counting at most one bucket's worth of requests
//! that are already older than the window (an early refusal of at most one bucket).

use crate::MeterError;

/// 24 hours in milliseconds: the REQ-1 window.
pub const DAY_MS: u64 = 86_400_000;
/// 5 minutes in milliseconds: the REQ-1 shaping interval and the default bucket.
pub const FIVE_MINUTES_MS: u64 = 300_000;
/// REQ-1: at most 100,000 requests in any 5 minutes, whatever the licence.
pub const REQ1_PER_5MIN: u64 = 100_000;
/// The largest limit a meter enforces; larger limits are clamped to it (which only refuses earlier). Counts are
/// kept in 31 bits so that a bucket's count, its tag and a seal bit fit one atomic word.
pub const MAX_LIMIT: u64 = (1 << 31) - 1;

/// The two windows and their bucket width. Both windows are whole numbers of buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    bucket_ms: u64,
    day_ms: u64,
    short_ms: u64,
    day_buckets: u32,
    short_buckets: u32,
}

impl Default for Windows {
    fn default() -> Self {
        Self::standard()
    }
}

impl Windows {
    /// REQ-1 as written: a 24-hour window and a 5-minute window, in 5-minute buckets (289 counters per key).
    #[must_use]
    pub const fn standard() -> Self {
        Self {
            bucket_ms: FIVE_MINUTES_MS,
            day_ms: DAY_MS,
            short_ms: FIVE_MINUTES_MS,
            day_buckets: 288,
            short_buckets: 1,
        }
    }

    /// Custom windows, e.g. 1-minute buckets to make the 5-minute cap tighter (1,441 counters per key).
    ///
    /// # Errors
    /// [`MeterError::Config`] unless `1 s <= bucket_ms <= short_ms <= day_ms`, `bucket_ms` divides both windows,
    /// and the day holds at most 100,000 buckets.
    pub fn new(bucket_ms: u64, day_ms: u64, short_ms: u64) -> Result<Self, MeterError> {
        let bad = |why: &str| Err(MeterError::Config(why.to_owned()));
        if bucket_ms < 1_000 {
            return bad("bucket_ms must be at least 1000");
        }
        if !(bucket_ms <= short_ms && short_ms <= day_ms) {
            return bad("need bucket_ms <= short_ms <= day_ms");
        }
        if !day_ms.is_multiple_of(bucket_ms) || !short_ms.is_multiple_of(bucket_ms) {
            return bad("bucket_ms must divide day_ms and short_ms");
        }
        let Ok(day_buckets) = u32::try_from(day_ms / bucket_ms) else {
            return bad("too many buckets");
        };
        if day_buckets > 100_000 {
            return bad("at most 100,000 buckets per day window");
        }
        let Ok(short_buckets) = u32::try_from(short_ms / bucket_ms) else {
            return bad("too many buckets");
        };
        Ok(Self {
            bucket_ms,
            day_ms,
            short_ms,
            day_buckets,
            short_buckets,
        })
    }

    /// The bucket width: the window's granularity.
    #[must_use]
    pub const fn bucket_ms(&self) -> u64 {
        self.bucket_ms
    }

    /// The long window (24 hours unless configured).
    #[must_use]
    pub const fn day_ms(&self) -> u64 {
        self.day_ms
    }

    /// The short window (5 minutes unless configured).
    #[must_use]
    pub const fn short_ms(&self) -> u64 {
        self.short_ms
    }

    /// `K`: a check sums `K + 1` buckets for the long window.
    pub(crate) const fn day_buckets(&self) -> u32 {
        self.day_buckets
    }

    /// `k`: a check sums `k + 1` buckets for the short window.
    pub(crate) const fn short_buckets(&self) -> u32 {
        self.short_buckets
    }

    /// The bucket holding `now_ms`. `u32::MAX` is reserved (a retired counter), hence the clamp.
    pub(crate) fn bucket_of(&self, now_ms: u64) -> u32 {
        u32::try_from(now_ms / self.bucket_ms).map_or(u32::MAX - 1, |b| b.min(u32::MAX - 1))
    }

    /// The first millisecond of bucket `b`.
    pub(crate) const fn start_of(&self, b: u32) -> u64 {
        b as u64 * self.bucket_ms
    }

    /// When every request counted in bucket `b` has left the long window.
    pub(crate) const fn expiry_of(&self, b: u32) -> u64 {
        self.start_of(b) + self.day_ms + self.bucket_ms
    }
}

/// Limits after clamping to [`MAX_LIMIT`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clamped {
    pub day: u64,
    pub short: u64,
}

/// REQ-8: usage has reached 80 % of the 24-hour limit.
pub(crate) const fn at_warning_level(used: u64, day_limit: u64) -> bool {
    day_limit > 0 && used * 5 >= day_limit * 4
}

/// The earliest bucket at which `n` more requests fit, given the counts `cnt(j)` of buckets `j <= h` (later
/// buckets are empty) and the sums `day`/`short` at `h`; `None` when `n` exceeds a limit outright. Sums only
/// shrink as buckets leave, so any bucket after the answer fits too.
pub(crate) fn retry_bucket(
    w: &Windows,
    h: u32,
    sums: (u64, u64),
    n: u64,
    lim: Clamped,
    cnt: impl Fn(u32) -> u64,
) -> Option<u32> {
    if n > lim.day || n > lim.short {
        return None;
    }
    let (big_k, small_k) = (w.day_buckets(), w.short_buckets());
    let (mut day, mut short) = sums;
    let mut c = h;
    while day + n > lim.day || short + n > lim.short {
        c = c.checked_add(1)?;
        // Moving to bucket c drops bucket c-K-1 from the long window and c-k-1 from the short one.
        if let Some(j) = c.checked_sub(big_k + 1) {
            day = day.saturating_sub(cnt(j));
        }
        if let Some(j) = c.checked_sub(small_k + 1)
            && j <= h
        {
            short = short.saturating_sub(cnt(j));
        }
        if c > h.saturating_add(big_k + 1) {
            break;
        }
    }
    Some(c)
}

/// The newest bucket in `h-K ..= h` with a count, for `reset_at`.
pub(crate) fn newest_nonempty(w: &Windows, h: u32, cnt: impl Fn(u32) -> u64) -> Option<u32> {
    let oldest = h.saturating_sub(w.day_buckets());
    (oldest..=h).rev().find(|&j| cnt(j) > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_is_valid() {
        assert_eq!(
            Windows::new(FIVE_MINUTES_MS, DAY_MS, FIVE_MINUTES_MS).unwrap(),
            Windows::standard()
        );
    }

    #[test]
    fn rejects_bad_windows() {
        assert!(Windows::new(999, DAY_MS, FIVE_MINUTES_MS).is_err());
        assert!(Windows::new(7_000, DAY_MS, FIVE_MINUTES_MS).is_err());
        assert!(Windows::new(600_000, DAY_MS, FIVE_MINUTES_MS).is_err());
        assert!(Windows::new(60_000, DAY_MS, FIVE_MINUTES_MS).is_ok());
    }

    #[test]
    fn retry_waits_for_the_oldest_bucket_to_leave() {
        let w = Windows::new(1_000, 10_000, 2_000).unwrap(); // K = 10, k = 2
        let lim = Clamped { day: 10, short: 10 };
        // 10 requests in bucket 5; now bucket 7: fits when bucket 5 leaves the day window, at bucket 16.
        let cnt = |j: u32| if j == 5 { 10 } else { 0 };
        assert_eq!(retry_bucket(&w, 7, (10, 10), 1, lim, cnt), Some(16));
        assert_eq!(retry_bucket(&w, 7, (10, 10), 11, lim, cnt), None);
    }

    #[test]
    fn req8_warning_level_is_eighty_percent() {
        assert!(!at_warning_level(79, 100));
        assert!(at_warning_level(80, 100));
        assert!(!at_warning_level(0, 0));
    }
}
