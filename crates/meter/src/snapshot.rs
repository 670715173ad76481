//! The saved form of a [`crate::LocalMeter`]: every non-empty bucket of every key, to write out every second and
//! at shutdown and read back at start. A crash loses at most what was counted since the last save (an
//! under-count); restoring never counts anything twice.

use serde::{Deserialize, Serialize};

/// All non-empty counters of a meter at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The windows it was taken with; restoring into other windows is refused.
    pub bucket_ms: u64,
    /// See [`crate::Windows::day_ms`].
    pub day_ms: u64,
    /// See [`crate::Windows::short_ms`].
    pub short_ms: u64,
    /// When it was taken (ms since the epoch).
    pub taken_at_ms: u64,
    /// One entry per key with a count in the window or a pending REQ-8 warning deadline.
    pub keys: Vec<KeySnapshot>,
}

/// One key's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySnapshot {
    /// The budget key.
    pub key: String,
    /// Its non-empty buckets, oldest first.
    pub buckets: Vec<BucketCount>,
    /// REQ-8: no new warning before this time (so a restart does not warn twice).
    pub warned_until_ms: u64,
}

/// The count of one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketCount {
    /// The bucket's first millisecond (a multiple of `bucket_ms`).
    pub start_ms: u64,
    /// Requests counted in it.
    pub count: u32,
}
