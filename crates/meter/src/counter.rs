//! One key's counts: the current bucket in one atomic word, older buckets in a ring, updated with
//! compare-and-swap, no lock.
//!
//! `cur` is `tag << 32 | sealed << 31 | count`: the head bucket `h` and its count. The ring keeps the sealed
//! buckets `h-K ..= h-1` (same layout, bucket `j` in slot `j % (K + 1)`), frozen while `h` is the head. So the
//! long-window sum is `closed_day(h) + count` where `closed_day(h)` depends on `h` alone and is cached (as is the
//! short window's), and one CAS on `cur` both decides and counts: a check-and-count is linearisable, racing
//! threads never admit more than the limit, and the hot path touches one cache line of the key.
//!
//! Moving the head from `h` to a later bucket is a protocol any thread can finish, so none waits on a preempted
//! one: raise `next` to the wanted bucket, seal `cur` (the CAS of a thread that still counts into `h` then
//! fails), copy the frozen count into the ring, and swing `cur` to `(next, 0)`.
//!
//! Time is taken per key as never going backwards: a `now` older than the head bucket counts into the head bucket
//! (which is conservative: the requests stay in the window longer).

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::SeqCst;

use crate::decision::{Decision, Window};
use crate::window::{Clamped, Windows, at_warning_level, newest_nonempty, retry_bucket};

const SEALED: u64 = 1 << 31;
const COUNT_MASK: u64 = SEALED - 1;
/// The head bucket of a retired counter.
const DEAD: u32 = u32::MAX;

const fn pack(tag: u32, count: u64) -> u64 {
    ((tag as u64) << 32) | (count & COUNT_MASK)
}

const fn tag_of(w: u64) -> u32 {
    (w >> 32) as u32
}

const fn count_of(w: u64) -> u64 {
    w & COUNT_MASK
}

const fn low_of(w: u64) -> u64 {
    w & 0xffff_ffff
}

/// The counts of one key.
#[derive(Debug)]
pub(crate) struct Counter {
    /// The head bucket, its seal bit and its count.
    cur: AtomicU64,
    /// The bucket a pending move goes to (only grows).
    next: AtomicU64,
    /// `(h, sum)`: the sum of the ring's buckets `h-K ..= h-1`, valid while its tag is the head.
    closed_day: AtomicU64,
    /// `(h, sum)`: the same for `h-k ..= h-1`.
    closed_short: AtomicU64,
    /// REQ-8: no warning before this time (ms since the epoch).
    warned_until: AtomicU64,
    /// `K + 1` slots of sealed buckets.
    ring: Box<[AtomicU64]>,
}

impl Counter {
    /// An empty counter whose head is bucket `h`.
    pub(crate) fn new(w: &Windows, h: u32) -> Self {
        let ring = (0..=w.day_buckets()).map(|_| AtomicU64::new(0)).collect();
        Self {
            cur: AtomicU64::new(pack(h, 0)),
            next: AtomicU64::new(u64::from(h)),
            // `(0, 0)` is right for bucket 0 and matches no other head: computed on first use.
            closed_day: AtomicU64::new(0),
            closed_short: AtomicU64::new(0),
            warned_until: AtomicU64::new(0),
            ring,
        }
    }

    /// A counter holding `counts` (bucket, count), built before anyone else can see it.
    pub(crate) fn restore(w: &Windows, now_bucket: u32, counts: &[(u32, u64)], warned_until: u64) -> Self {
        let h = counts.iter().map(|&(b, _)| b).fold(now_bucket, u32::max);
        let c = Self::new(w, h);
        let oldest = h.saturating_sub(w.day_buckets());
        for &(b, count) in counts {
            let word = if b == h { &c.cur } else { c.slot(b) };
            if b >= oldest && count > 0 {
                let prev = word.load(SeqCst);
                let old = if tag_of(prev) == b { count_of(prev) } else { 0 };
                word.store(pack(b, (old + count).min(COUNT_MASK)), SeqCst);
            }
        }
        c.warned_until.store(warned_until, SeqCst);
        c
    }

    #[expect(
        clippy::indexing_slicing,
        reason = "the index is taken modulo the ring's length"
    )]
    fn slot(&self, bucket: u32) -> &AtomicU64 {
        &self.ring[bucket as usize % self.ring.len()]
    }

    /// The count of sealed bucket `j`, zero when its slot holds another bucket.
    fn count_at(&self, j: u32) -> u64 {
        let w = self.slot(j).load(SeqCst);
        if tag_of(w) == j { count_of(w) } else { 0 }
    }

    /// Sum of the ring's buckets `h-len ..= h-1`, cached in `cache` because it changes once per bucket.
    fn closed(&self, cache: &AtomicU64, h: u32, len: u32) -> u64 {
        let cw = cache.load(SeqCst);
        if tag_of(cw) == h {
            return low_of(cw);
        }
        let sum: u64 = (h.saturating_sub(len)..h).map(|j| self.count_at(j)).sum();
        // A sum computed after the head left `h` may be wrong, but only a thread whose CAS on `cur` (or whose
        // final check of `cur`) then fails can read it, so it never decides anything.
        cache.fetch_max(
            pack(h, 0) | u64::from(u32::try_from(sum).unwrap_or(u32::MAX)),
            SeqCst,
        );
        sum
    }

    /// Finishes the move of sealed head `cw`: copies its frozen count into the ring, swings `cur` to `next`.
    fn finish_move(&self, cw: u64) {
        let (h, x) = (tag_of(cw), count_of(cw));
        let slot = self.slot(h);
        loop {
            let sw = slot.load(SeqCst);
            // Done when copied already, or reused by a later bucket (the head moved on long ago).
            if sw == pack(h, x)
                || tag_of(sw) > h
                || slot.compare_exchange(sw, pack(h, x), SeqCst, SeqCst).is_ok()
            {
                break;
            }
        }
        let t = u32::try_from(self.next.load(SeqCst)).unwrap_or(DEAD);
        let _ = self.cur.compare_exchange(cw, pack(t, 0), SeqCst, SeqCst);
    }

    /// Checks `n` requests at `now_ms` and counts them if they fit; `None` if the counter was retired (look the
    /// key up again).
    pub(crate) fn check(&self, w: &Windows, now_ms: u64, n: u64, lim: Clamped) -> Option<Decision> {
        let c = w.bucket_of(now_ms);
        loop {
            let cw = self.cur.load(SeqCst);
            let h = tag_of(cw);
            if h == DEAD {
                return None;
            }
            if cw & SEALED != 0 {
                self.finish_move(cw);
                continue;
            }
            if c > h {
                self.next.fetch_max(u64::from(c), SeqCst);
                let _ = self.cur.compare_exchange(cw, cw | SEALED, SeqCst, SeqCst);
                continue;
            }
            let x = count_of(cw);
            let day = self.closed(&self.closed_day, h, w.day_buckets()) + x;
            let short = self.closed(&self.closed_short, h, w.short_buckets()) + x;
            if day + n <= lim.day && short + n <= lim.short {
                let done = if n > 0 {
                    self.cur.compare_exchange(cw, cw + n, SeqCst, SeqCst).is_ok()
                } else {
                    self.cur.load(SeqCst) == cw // nothing to count: validate what was read instead
                };
                if done {
                    return Some(self.allowed(w, now_ms, h, x, day + n, n, lim));
                }
                continue;
            }
            let refused = self.refused(w, now_ms, h, x, (day, short), n, lim);
            // The ring buckets read above were frozen only if the head is still `h`.
            if tag_of(self.cur.load(SeqCst)) == h && self.cur.load(SeqCst) & SEALED == 0 {
                return Some(refused);
            }
        }
    }
    #[expect(
        clippy::too_many_arguments,
        reason = "the state of one check, passed down unpacked"
    )]
    fn allowed(&self, w: &Windows, now_ms: u64, h: u32, x: u64, day: u64, n: u64, lim: Clamped) -> Decision {
        let newest = if n > 0 {
            Some(h)
        } else {
            newest_nonempty(w, h, |j| self.at(h, x, j))
        };
        let warn =
            n > 0 && at_warning_level(day, lim.day) && self.claim_warning(now_ms.max(w.start_of(h)), w);
        Decision::Allowed {
            limit: lim.day,
            remaining: lim.day.saturating_sub(day),
            reset_at_ms: newest.map_or(now_ms, |b| w.expiry_of(b)),
            warn,
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the state of one check, passed down unpacked"
    )]
    fn refused(
        &self,
        w: &Windows,
        now_ms: u64,
        h: u32,
        x: u64,
        sums: (u64, u64),
        n: u64,
        lim: Clamped,
    ) -> Decision {
        let cnt = |j: u32| self.at(h, x, j);
        let retry = retry_bucket(w, h, sums, n, lim, cnt);
        Decision::Refused {
            limit: lim.day,
            remaining: lim.day.saturating_sub(sums.0),
            reset_at_ms: newest_nonempty(w, h, cnt).map_or(now_ms, |b| w.expiry_of(b)),
            retry_after_ms: retry.map(|b| w.start_of(b).saturating_sub(now_ms)),
            by: if sums.0 + n > lim.day {
                Window::Day
            } else {
                Window::Short
            },
        }
    }

    /// Count of bucket `j` as seen by a check that read `x` in head bucket `h`.
    fn at(&self, h: u32, x: u64, j: u32) -> u64 {
        if j == h { x } else { self.count_at(j) }
    }

    /// REQ-8: claims the one warning of the next 24 hours; exactly one racing thread wins it.
    fn claim_warning(&self, now_ms: u64, w: &Windows) -> bool {
        let until = self.warned_until.load(SeqCst);
        now_ms >= until
            && self
                .warned_until
                .compare_exchange(until, now_ms + w.day_ms(), SeqCst, SeqCst)
                .is_ok()
    }

    /// The non-empty buckets of the long window at `now_ms`, and the warning deadline.
    pub(crate) fn export(&self, w: &Windows, now_ms: u64) -> Option<(Vec<(u32, u64)>, u64)> {
        let cw = self.cur.load(SeqCst);
        let h = tag_of(cw);
        if h == DEAD {
            return None;
        }
        let oldest = w.bucket_of(now_ms).max(h).saturating_sub(w.day_buckets());
        let counts: Vec<(u32, u64)> = (oldest..=h)
            .map(|j| (j, self.at(h, count_of(cw), j)))
            .filter(|&(_, c)| c > 0)
            .collect();
        Some((counts, self.warned_until.load(SeqCst)))
    }

    /// Retires the counter if nothing it holds is in the window at `now_ms` and no warning is pending; the caller
    /// then removes it from the map. One CAS from the idle state seen, so a count racing in makes it fail; a
    /// thread still holding the counter sees it retired and looks the key up again.
    pub(crate) fn retire_if_idle(&self, w: &Windows, now_ms: u64) -> bool {
        let cw = self.cur.load(SeqCst);
        let h = tag_of(cw);
        if h == DEAD {
            return true;
        }
        let idle = cw & SEALED == 0
            && newest_nonempty(w, h, |j| self.at(h, count_of(cw), j))
                .is_none_or(|b| w.expiry_of(b) <= now_ms)
            && self.warned_until.load(SeqCst) <= now_ms
            && w.bucket_of(now_ms) > h;
        idle && self
            .cur
            .compare_exchange(cw, pack(DEAD, 0), SeqCst, SeqCst)
            .is_ok()
    }

    /// Whether the counter was retired.
    pub(crate) fn is_retired(&self) -> bool {
        tag_of(self.cur.load(SeqCst)) == DEAD
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim(day: u64, short: u64) -> Clamped {
        Clamped { day, short }
    }

    #[test]
    fn counts_until_the_limit_then_refuses() {
        let w = Windows::standard();
        let c = Counter::new(&w, 0);
        for _ in 0..10 {
            assert!(c.check(&w, 0, 1, lim(10, 100)).unwrap().is_allowed());
        }
        let d = c.check(&w, 1_000, 1, lim(10, 100)).unwrap();
        assert_eq!(d.retry_after_ms(), Some(w.expiry_of(0) - 1_000));
    }

    #[test]
    fn req1_short_cap_refuses_within_five_minutes() {
        let w = Windows::standard();
        let c = Counter::new(&w, 10);
        let now = w.start_of(10);
        assert!(c.check(&w, now, 5, lim(100, 5)).unwrap().is_allowed());
        let d = c.check(&w, now + 1, 1, lim(100, 5)).unwrap();
        assert!(matches!(
            d,
            Decision::Refused {
                by: Window::Short,
                ..
            }
        ));
        // Bucket 10 leaves the short window at bucket 12 (one bucket late: the conservative bound).
        assert_eq!(d.retry_after_ms(), Some(w.start_of(12) - now - 1));
        assert!(c.check(&w, w.start_of(12), 1, lim(100, 5)).unwrap().is_allowed());
    }

    #[test]
    fn an_old_now_counts_into_the_head_bucket() {
        let w = Windows::standard();
        let c = Counter::new(&w, 0);
        assert!(c.check(&w, w.start_of(3), 1, lim(10, 10)).unwrap().is_allowed());
        assert!(c.check(&w, w.start_of(1), 1, lim(10, 10)).unwrap().is_allowed());
        assert_eq!(count_of(c.cur.load(SeqCst)), 2);
    }

    #[test]
    fn retired_counter_answers_none() {
        let w = Windows::standard();
        let c = Counter::new(&w, 0);
        assert!(c.check(&w, 0, 1, lim(10, 10)).unwrap().is_allowed());
        assert!(!c.retire_if_idle(&w, w.start_of(5)));
        assert!(c.retire_if_idle(&w, w.expiry_of(0)));
        assert!(c.check(&w, w.expiry_of(0), 1, lim(10, 10)).is_none());
    }

    #[test]
    fn req8_warns_once_per_window() {
        let w = Windows::standard();
        let c = Counter::new(&w, 0);
        let warns: Vec<bool> = (0..10)
            .map(|_| c.check(&w, 0, 1, lim(10, 10)).unwrap().warn())
            .collect();
        assert_eq!(warns.iter().filter(|&&b| b).count(), 1);
        assert!(warns[7]); // the 8th request reaches 80 %
    }
}
