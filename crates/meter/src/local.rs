//! The in-process meter: a lock-free concurrent map from budget key to [`Counter`].
//!
//! Lookups of existing keys never lock and never allocate (papaya's reads are lock-free, and the guard it pins is
//! a thread-local epoch). Contention is per key: keys share nothing but the map, which is the sharding.

use crate::MeterError;
use crate::counter::Counter;
use crate::decision::{Decision, Event, Limits};
use crate::key::Key;
use crate::snapshot::{BucketCount, KeySnapshot, Snapshot};
use crate::window::Windows;

/// The hasher of the key map: fast on short keys, seeded per process.
pub type KeyHasher = foldhash::fast::RandomState;

/// Per-key request meter held in this process.
#[derive(Debug)]
pub struct LocalMeter {
    windows: Windows,
    map: papaya::HashMap<Key, Counter, KeyHasher>,
}

impl Default for LocalMeter {
    fn default() -> Self {
        Self::new(Windows::standard())
    }
}

impl LocalMeter {
    /// An empty meter.
    #[must_use]
    pub fn new(windows: Windows) -> Self {
        Self {
            windows,
            map: papaya::HashMap::with_hasher(KeyHasher::default()),
        }
    }

    /// The windows this meter enforces.
    #[must_use]
    pub const fn windows(&self) -> Windows {
        self.windows
    }

    /// Number of keys held (live or awaiting [`Self::sweep`]).
    #[must_use]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no key is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Creates the counter of `key` ahead of traffic, so that even its first check allocates nothing.
    pub fn register(&self, key: &str, now_ms: u64) {
        let guard = self.map.guard();
        if self.map.get(key.as_bytes(), &guard).is_none() {
            let counter = Counter::new(&self.windows, self.windows.bucket_of(now_ms));
            self.map.get_or_insert(Key::new(key), counter, &guard);
        }
    }

    /// Checks `n` requests of `key` at `now_ms` (ms since the Unix epoch) and counts them if they fit both
    /// windows. Allocates only the first time a key is seen.
    pub fn check(&self, key: &str, n: u64, limits: Limits, now_ms: u64) -> Decision {
        self.check_in(&self.map.guard(), key, n, limits, now_ms)
    }

    /// [`Self::check`] under a guard already pinned (one per batch).
    fn check_in(
        &self,
        guard: &impl papaya::Guard,
        key: &str,
        n: u64,
        limits: Limits,
        now_ms: u64,
    ) -> Decision {
        let lim = limits.clamped();
        loop {
            let counter = match self.map.get(key.as_bytes(), guard) {
                Some(c) => c,
                None => {
                    let fresh = Counter::new(&self.windows, self.windows.bucket_of(now_ms));
                    self.map.get_or_insert(Key::new(key), fresh, guard)
                }
            };
            match counter.check(&self.windows, now_ms, n, lim) {
                Some(decision) => return decision,
                // Retired by a sweep: drop it (if the sweep has not yet) and start the key afresh.
                None => {
                    let _ = self.map.remove_if(key.as_bytes(), |_, c| c.is_retired(), guard);
                }
            }
        }
    }

    /// [`Self::check`] for each event in order, answers in the same order.
    #[must_use]
    pub fn check_batch(&self, events: &[Event<'_>], now_ms: u64) -> Vec<Decision> {
        let mut out = Vec::with_capacity(events.len());
        self.check_batch_into(events, now_ms, &mut out);
        out
    }

    /// [`Self::check_batch`] into a caller's buffer (cleared first), so a reused buffer allocates nothing.
    pub fn check_batch_into(&self, events: &[Event<'_>], now_ms: u64, out: &mut Vec<Decision>) {
        out.clear();
        let guard = self.map.guard();
        out.extend(
            events
                .iter()
                .map(|e| self.check_in(&guard, e.key, e.n, e.limits, now_ms)),
        );
    }

    /// Removes the keys with nothing in the window and no pending warning; returns how many. Call it now and
    /// then (e.g. every few minutes) to bound memory by the keys active in the last 24 hours.
    pub fn sweep(&self, now_ms: u64) -> usize {
        let guard = self.map.guard();
        let mut removed = 0;
        for (key, counter) in self.map.iter(&guard) {
            if counter.retire_if_idle(&self.windows, now_ms)
                && matches!(
                    self.map.remove_if(key.bytes(), |_, c| c.is_retired(), &guard),
                    Ok(Some(_))
                )
            {
                removed += 1;
            }
        }
        removed
    }

    /// The counts of one key still in the 24-hour window at `now_ms`, oldest first (for usage reports).
    #[must_use]
    pub fn usage(&self, key: &str, now_ms: u64) -> Vec<BucketCount> {
        let guard = self.map.guard();
        let w = self.windows;
        self.map
            .get(key.as_bytes(), &guard)
            .and_then(|c| c.export(&w, now_ms))
            .map(|(counts, _)| {
                counts
                    .into_iter()
                    .map(|(b, count)| BucketCount {
                        start_ms: w.start_of(b),
                        count: u32::try_from(count).unwrap_or(u32::MAX),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every non-empty counter, to save (e.g. every second and at shutdown). Counts keep changing while this
    /// runs; each bucket is read once, atomically, so the snapshot never holds more than was counted.
    #[must_use]
    pub fn snapshot(&self, now_ms: u64) -> Snapshot {
        let guard = self.map.guard();
        let w = self.windows;
        let keys = self
            .map
            .iter(&guard)
            .filter_map(|(key, counter)| {
                let (counts, warned_until_ms) = counter.export(&w, now_ms)?;
                if counts.is_empty() && warned_until_ms <= now_ms {
                    return None;
                }
                let buckets = counts
                    .into_iter()
                    .map(|(b, count)| BucketCount {
                        start_ms: w.start_of(b),
                        count: u32::try_from(count).unwrap_or(u32::MAX),
                    })
                    .collect();
                Some(KeySnapshot {
                    key: key.text(),
                    buckets,
                    warned_until_ms,
                })
            })
            .collect();
        Snapshot {
            bucket_ms: w.bucket_ms(),
            day_ms: w.day_ms(),
            short_ms: w.short_ms(),
            taken_at_ms: now_ms,
            keys,
        }
    }

    /// A meter holding a saved snapshot (buckets already out of the window at `now_ms` are dropped).
    ///
    /// # Errors
    /// [`MeterError::Snapshot`] if the snapshot was taken with other windows, or holds a bucket that does not
    /// start on a bucket boundary or a key twice.
    pub fn from_snapshot(windows: Windows, snapshot: &Snapshot, now_ms: u64) -> Result<Self, MeterError> {
        if (snapshot.bucket_ms, snapshot.day_ms, snapshot.short_ms)
            != (windows.bucket_ms(), windows.day_ms(), windows.short_ms())
        {
            return Err(MeterError::Snapshot("taken with other windows".to_owned()));
        }
        let meter = Self::new(windows);
        let now_bucket = windows.bucket_of(now_ms);
        let guard = meter.map.guard();
        for k in &snapshot.keys {
            let mut counts = Vec::with_capacity(k.buckets.len());
            for b in &k.buckets {
                if b.start_ms % windows.bucket_ms() != 0 {
                    return Err(MeterError::Snapshot(format!("{}: bucket off the grid", k.key)));
                }
                counts.push((windows.bucket_of(b.start_ms), u64::from(b.count)));
            }
            let counter = Counter::restore(&windows, now_bucket, &counts, k.warned_until_ms);
            if meter.map.try_insert(Key::new(&k.key), counter, &guard).is_err() {
                return Err(MeterError::Snapshot(format!("{}: key twice", k.key)));
            }
        }
        drop(guard);
        Ok(meter)
    }
}
