//! The per-principal request meter of REQ-1, REQ-7 and REQ-8: for a budget key with a 24-hour limit and a
//! 5-minute cap, check `n` requests at a given time and count them if they fit, or refuse them with the time at
//! which they would fit.
//!
//! The caller names the budget key and its limits (the server derives them from licences, REQ-2..REQ-6) and
//! passes the time, in ms since the Unix epoch: there is no clock inside, so tests can move time.
//!
//! # Algorithm and error bound
//! Time is cut into buckets (5 minutes by default, configurable down to 1 second through [`Windows`]). A check
//! at bucket `h` sums the buckets `h-K ..= h` (`K = 24 h / bucket`) and `h-k ..= h` (`k = 5 min / bucket`):
//! every bucket that overlaps the window ending now. Hence:
//! - **never over-admits**: in any 24-hour interval and any 5-minute interval, the requests admitted (by their
//!   `now`) are at most the limit;
//! - **refuses early by at most one bucket**: whenever the meter refuses, an exact sliding window one bucket
//!   longer (24 h + bucket, 5 min + bucket) over the same admitted requests would refuse too;
//! - **Retry-After is never early**: see [`Decision::Refused::retry_after_ms`]; it is also the earliest bucket
//!   at which this meter would admit.
//!
//! # Backends, one semantics
//! - [`LocalMeter`]: in process, lock-free (a CAS on one atomic word per check), no allocation per check on a
//!   known key; [`LocalMeter::snapshot`] / [`LocalMeter::from_snapshot`] save and restore it.
//! - [`RedisMeter`]: the same buckets in Redis, one Lua script call per check or per [`CHUNK`] events of a
//!   batch; a call that times out is cancelled or its answer fetched, never guessed.
//! - [`FailoverMeter`]: a `RedisMeter` with fail-open (local) or fail-closed policy, reporting its [`Mode`].
//!
//! Refused work is never counted: a [`Decision::Refused`] always means nothing was counted. When a backend
//! cannot tell whether it counted (Redis stopped answering mid-call), the answer is [`Decision::Unknown`].
//!
//! All three implement [`Meter`].
//!
//! # Example
//! ```
//! use entitle_meter::{Decision, LocalMeter, Limits, Windows};
//!
//! let meter = LocalMeter::new(Windows::standard());
//! let limits = Limits::per_day(6_000); // e.g. a Microsoft 365 user (REQ-3), 100,000 per 5 minutes (REQ-1)
//! let now = 1_700_000_000_000; // ms since the epoch, from the caller's clock
//! match meter.check("user:adele", 5_000, limits, now) {
//!     Decision::Allowed { remaining, warn, .. } => {
//!         assert_eq!(remaining, 1_000);
//!         assert!(warn); // REQ-8: 80 % reached, first time in this window
//!     }
//!     Decision::Refused { .. } | Decision::Unknown { .. } => unreachable!(),
//! }
//! let refused = meter.check("user:adele", 2_000, limits, now + 1_000);
//! assert!(!refused.is_allowed());
//! // REQ-7: it fits again when the first 5,000 leave the 24-hour window (at most one bucket late).
//! let wait = refused.retry_after_ms().unwrap();
//! assert!(meter.check("user:adele", 2_000, limits, now + 1_000 + wait).is_allowed());
//! ```

mod counter;
mod decision;
mod failover;
mod key;
mod local;
mod remote;
mod snapshot;
mod window;

use std::future::Future;

pub use decision::{Decision, Event, Limits, Window};
pub use failover::{FailPolicy, FailoverMeter, FailoverStats, Mode};
pub use local::{KeyHasher, LocalMeter};
pub use remote::{BatchFailure, CHUNK, RedisMeter, SCRIPT, SETTLE_SCRIPT, Settled, TOKEN_TTL_MS};
pub use snapshot::{BucketCount, KeySnapshot, Snapshot};
pub use window::{DAY_MS, FIVE_MINUTES_MS, MAX_LIMIT, REQ1_PER_5MIN, Windows};

/// Why a meter could not answer.
#[derive(Debug, thiserror::Error)]
pub enum MeterError {
    /// Bad windows or backend settings.
    #[error("meter configuration: {0}")]
    Config(String),
    /// A snapshot that cannot be restored.
    #[error("meter snapshot: {0}")]
    Snapshot(String),
    /// Redis failed or is unreachable.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis answered something the script never returns.
    #[error("redis answer: {0}")]
    Protocol(String),
    /// Redis did not answer within the timeout (it may still run what it was sent).
    #[error("redis did not answer in time")]
    Timeout,
}

/// The one API of every backend, for code that should not care which it runs on.
pub trait Meter: Send + Sync {
    /// Checks `n` requests of `key` at `now_ms` and counts them if they fit.
    fn check(
        &self,
        key: &str,
        n: u64,
        limits: Limits,
        now_ms: u64,
    ) -> impl Future<Output = Result<Decision, MeterError>> + Send;

    /// Checks and counts each event in order; answers in the same order.
    fn check_batch(
        &self,
        events: &[Event<'_>],
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<Decision>, MeterError>> + Send;
}

impl Meter for LocalMeter {
    fn check(
        &self,
        key: &str,
        n: u64,
        limits: Limits,
        now_ms: u64,
    ) -> impl Future<Output = Result<Decision, MeterError>> + Send {
        std::future::ready(Ok(Self::check(self, key, n, limits, now_ms)))
    }

    fn check_batch(
        &self,
        events: &[Event<'_>],
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<Decision>, MeterError>> + Send {
        std::future::ready(Ok(Self::check_batch(self, events, now_ms)))
    }
}

impl Meter for RedisMeter {
    async fn check(&self, key: &str, n: u64, limits: Limits, now_ms: u64) -> Result<Decision, MeterError> {
        Self::check(self, key, n, limits, now_ms).await
    }

    async fn check_batch(&self, events: &[Event<'_>], now_ms: u64) -> Result<Vec<Decision>, MeterError> {
        Self::check_batch(self, events, now_ms).await
    }
}

impl Meter for FailoverMeter {
    async fn check(&self, key: &str, n: u64, limits: Limits, now_ms: u64) -> Result<Decision, MeterError> {
        Ok(Self::check(self, key, n, limits, now_ms).await)
    }

    async fn check_batch(&self, events: &[Event<'_>], now_ms: u64) -> Result<Vec<Decision>, MeterError> {
        Ok(Self::check_batch(self, events, now_ms).await)
    }
}
