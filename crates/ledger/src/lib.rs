//! Consumption ledgers: portal day passes and page views (PORTAL-2, PORTAL-3, PORTAL-5, PORTAL-6) and AI Builder
//! credits (AI-1, AI-2), each attributed to a calendar month in UTC.
//!
//! Like `entitle-meter`, this crate knows nothing of licences: the caller passes each event's allocation (a
//! portal's logins and page views, an environment's credits and the tenant's unallocated pool) and the time.
//! Events may be up to [`LATE_MS`] (7 days) late and never in the future; a month closes 7 days after it ends.
//! An event with an id is taken once: a replay gets the first answer again and changes nothing.
//!
//! The day-pass count is defined on the set of logins, not their order; see [`pass`].
//!
//! Two backends, one semantics: [`LocalLedger`] in process, and [`RedisLedger`], the same answers from one Lua
//! script in Redis shared by several nodes, which reports an event it could not see through as
//! [`LedgerError::Unavailable`] with an [`Outcome`] (not taken, or unknown: never guessed).

pub mod answer;
mod local;
pub mod month;
pub mod pass;
mod redis;

pub use self::redis::{
    BOOK_TTL_MS, CHUNK, Invocation, MAX_EXACT, MONTH_TTL_MS, RedisLedger, SCRIPT, SMALL_BOOK_BYTES,
    WORK_BUDGET,
};
pub use answer::Outcome;
pub use answer::{
    Answer, CreditAllowance, CreditAnswer, CreditSource, Event, LedgerError, LoginAnswer, MonthUsage,
    Overage, PortalLimits, ViewsAnswer,
};
pub use local::{LocalLedger, check_time};
pub use month::{BadMonth, Month};
pub use pass::{Login, MAX_LOGINS, PassBook, PassError, RETAIN_MS, passes_by_month};

/// 24 hours, in ms: a day pass.
pub const DAY_MS: u64 = 86_400_000;
/// How late an event may be, in ms: 7 days.
pub const LATE_MS: u64 = 7 * DAY_MS;
