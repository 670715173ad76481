//! What a caller asks (limits, events) and what the meter answers.

use crate::window::{Clamped, MAX_LIMIT, REQ1_PER_5MIN};

/// The limits of one budget key, derived by the caller from the principal's licences (REQ-2..REQ-6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Requests in any 24-hour window.
    pub per_24h: u64,
    /// Requests in any short window (5 minutes unless configured).
    pub per_5min: u64,
}

impl Limits {
    /// A 24-hour limit with REQ-1's 5-minute cap of 100,000.
    #[must_use]
    pub const fn per_day(per_24h: u64) -> Self {
        Self {
            per_24h,
            per_5min: REQ1_PER_5MIN,
        }
    }

    pub(crate) fn clamped(self) -> Clamped {
        Clamped {
            day: self.per_24h.min(MAX_LIMIT),
            short: self.per_5min.min(MAX_LIMIT),
        }
    }
}

/// One check-and-count of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// The budget key (a user, a process licence, the tenant pool, ...).
    pub key: &'a str,
    /// How many requests to count.
    pub n: u64,
    /// The key's limits.
    pub limits: Limits,
}

/// Which window refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The 24-hour limit.
    Day,
    /// The 5-minute cap.
    Short,
    /// No window: the backend could not be asked and the failure policy is fail-closed.
    Unavailable,
}

/// The answer to one check-and-count. `limit` and `remaining` are about the 24-hour window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Counted.
    Allowed {
        /// The 24-hour limit (after clamping to [`crate::MAX_LIMIT`]).
        limit: u64,
        /// What is left of it after this call.
        remaining: u64,
        /// When everything counted so far has left the 24-hour window (ms since the epoch).
        reset_at_ms: u64,
        /// REQ-8: usage is now at or above 80 % of the limit and no warning was given for this key in the last
        /// 24 hours; the caller records one warning each time this is true (at most once per key per 24 hours).
        warn: bool,
    },
    /// Nothing counted (REQ-7: refused with the time at which it would fit, never silently dropped).
    Refused {
        /// The 24-hour limit (after clamping).
        limit: u64,
        /// What is left of it now.
        remaining: u64,
        /// When everything counted so far has left the 24-hour window (ms since the epoch; `now` if nothing is).
        reset_at_ms: u64,
        /// How long until the same `n` fits: if nothing else is counted for this key meanwhile, the same check with
        /// the same limits at any time `>= now + retry_after_ms` is allowed, and no earlier bucket would allow it.
        /// `None` when `n` exceeds a limit outright, so it never fits.
        retry_after_ms: Option<u64>,
        /// Which window refused.
        by: Window,
    },
    /// Redis may or may not have counted these requests: its call timed out and it could not be asked
    /// afterwards. Never reported as a refusal, since they may have been counted; [`crate::FailoverMeter`]
    /// settles it in the background (cancelling the call if it has not run).
    Unknown {
        /// The 24-hour limit (after clamping).
        limit: u64,
        /// When to try again.
        retry_after_ms: u64,
    },
}

impl Decision {
    /// Whether the requests were counted.
    #[must_use]
    pub const fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed { .. })
    }

    /// The REQ-8 warning flag (false for a refusal).
    #[must_use]
    pub const fn warn(&self) -> bool {
        matches!(self, Self::Allowed { warn: true, .. })
    }

    /// The retry delay of a refusal or an unknown outcome, `None` when allowed or never.
    #[must_use]
    pub const fn retry_after_ms(&self) -> Option<u64> {
        match self {
            Self::Refused { retry_after_ms, .. } => *retry_after_ms,
            Self::Unknown { retry_after_ms, .. } => Some(*retry_after_ms),
            Self::Allowed { .. } => None,
        }
    }
}
