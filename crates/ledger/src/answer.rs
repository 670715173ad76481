//! Events in, answers out, and why an event was refused.

use serde::Serialize;

use crate::local::fingerprint;
use crate::month::Month;
use crate::pass::PassError;

/// What happens past a portal's monthly allocation (PORTAL-5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overage {
    /// Count it and report the overage (the default: a portal keeps working and the admin buys more).
    #[default]
    AllowAndReport,
    /// Refuse what would go past the allocation; nothing is counted.
    Refuse,
}

/// A portal's monthly allocation (PORTAL-5) and the tenant's overage policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortalLimits {
    pub logins: u64,
    pub page_views: u64,
    pub overage: Overage,
}

/// Where an environment's AI Builder credits come from this month (AI-1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CreditAllowance {
    /// Credits allocated to the environment per month; 0 when none are.
    pub allocated: u64,
    /// The tenant's credits not allocated to any environment, per month.
    pub unallocated: u64,
    /// Environments without an allocation may draw on the unallocated credits (the tenant setting, on by default).
    pub unallocated_use: bool,
}

/// One consumption event. `tenant` scopes everything: ids, portals, environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// An authenticated external user's login to a portal (PORTAL-2).
    Login {
        tenant: &'a str,
        id: Option<&'a str>,
        portal: &'a str,
        user: &'a str,
        at_ms: u64,
        limits: PortalLimits,
    },
    /// Anonymous page views of a portal (PORTAL-3).
    PageViews {
        tenant: &'a str,
        id: Option<&'a str>,
        portal: &'a str,
        count: u64,
        at_ms: u64,
        limits: PortalLimits,
    },
    /// AI Builder credits consumed in an environment (AI-1, AI-2).
    Credits {
        tenant: &'a str,
        id: Option<&'a str>,
        environment: &'a str,
        credits: u64,
        model: &'a str,
        preview: bool,
        at_ms: u64,
        allowance: CreditAllowance,
    },
}

impl Event<'_> {
    #[must_use]
    pub fn at_ms(&self) -> u64 {
        match *self {
            Event::Login { at_ms, .. } | Event::PageViews { at_ms, .. } | Event::Credits { at_ms, .. } => {
                at_ms
            }
        }
    }

    #[must_use]
    pub fn id(&self) -> Option<&str> {
        match *self {
            Event::Login { id, .. } | Event::PageViews { id, .. } | Event::Credits { id, .. } => id,
        }
    }

    #[must_use]
    pub fn tenant(&self) -> &str {
        match *self {
            Event::Login { tenant, .. } | Event::PageViews { tenant, .. } | Event::Credits { tenant, .. } => {
                tenant
            }
        }
    }

    /// The fields that make the event what it is (not its id, not the limits it was checked against).
    #[must_use]
    pub fn fingerprint(&self) -> u64 {
        match *self {
            Event::Login {
                portal, user, at_ms, ..
            } => fingerprint(&[&1u8, &portal, &user, &at_ms]),
            Event::PageViews {
                portal, count, at_ms, ..
            } => fingerprint(&[&2u8, &portal, &count, &at_ms]),
            Event::Credits {
                environment,
                credits,
                model,
                preview,
                at_ms,
                ..
            } => fingerprint(&[&3u8, &environment, &credits, &model, &preview, &at_ms]),
        }
    }
}

/// A login's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LoginAnswer {
    /// It opened a pass that adds to the count (PORTAL-2); false inside an open pass.
    pub charged: bool,
    /// End of the pass the login is in (ms since the epoch, exclusive).
    pub pass_ends_ms: u64,
    pub month: Month,
    pub allocated: u64,
    /// Passes charged on the portal this month, this one included.
    pub used: u64,
    pub replayed: bool,
}

/// Page views' answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ViewsAnswer {
    pub month: Month,
    pub counted: u64,
    pub allocated: u64,
    pub used: u64,
    pub replayed: bool,
}

/// Where credits were drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CreditSource {
    /// The environment's own allocation.
    Allocation,
    /// The tenant's unallocated credits.
    Pool,
}

/// Credits' answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CreditAnswer {
    pub month: Month,
    pub source: CreditSource,
    /// Credits counted (0 for a preview model, AI-2).
    pub consumed: u64,
    /// Used this month from `source`, this event included.
    pub used: u64,
    pub available: u64,
    pub replayed: bool,
}

/// Any answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    Login(LoginAnswer),
    PageViews(ViewsAnswer),
    Credits(CreditAnswer),
}

impl Answer {
    /// The same answer, given again for a replayed event id.
    #[must_use]
    pub fn replayed(self) -> Answer {
        match self {
            Answer::Login(a) => Answer::Login(LoginAnswer { replayed: true, ..a }),
            Answer::PageViews(a) => Answer::PageViews(ViewsAnswer { replayed: true, ..a }),
            Answer::Credits(a) => Answer::Credits(CreditAnswer { replayed: true, ..a }),
        }
    }
}

/// Why an event was refused; nothing was counted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("`at` is in the future ({at_ms} ms, now {now_ms} ms)")]
    Future { at_ms: u64, now_ms: u64 },
    #[error("`at` is more than 7 days old ({at_ms} ms, now {now_ms} ms); its month is closed or about to be")]
    TooLate { at_ms: u64, now_ms: u64 },
    #[error(transparent)]
    Pass(#[from] PassError),
    #[error("{month}: {used} {what} used of {allocated} allocated; the tenant's policy refuses more")]
    OverAllocation {
        what: &'static str,
        month: Month,
        used: u64,
        allocated: u64,
    },
    #[error(
        "environment `{environment}` has no AI Builder credits allocated and the tenant does not let environments use unallocated credits"
    )]
    NoAllocation { environment: String },
    #[error("{month}: {requested} AI Builder credits asked, {used} of {available} used from the {}", match pool { CreditSource::Allocation => "environment's allocation", CreditSource::Pool => "tenant's unallocated credits" })]
    Overdraft {
        pool: CreditSource,
        month: Month,
        used: u64,
        available: u64,
        requested: u64,
    },
    #[error("event id `{id}` was used for a different event")]
    IdReused { id: String },
    /// The Redis ledger could not answer: Redis failed, refused the call or did not answer in time. `outcome` says
    /// whether the event may have been counted all the same; it is never guessed.
    #[error("the ledger's Redis did not answer ({reason}): {outcome}")]
    Unavailable { outcome: Outcome, reason: String },
    /// A time, page view count or credit amount the Redis ledger cannot count exactly (its script computes in
    /// doubles); nothing was counted.
    #[error("{what} {value} is 2^52 or more, past what the Redis ledger takes")]
    OutOfRange { what: &'static str, value: u64 },
}

/// What is known of an event that got [`LedgerError::Unavailable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It was not counted: Redis refused the call before running it, or it was never sent.
    NotTaken,
    /// It may or may not have been counted (the call timed out, or the connection broke, after it was sent).
    /// Resending an event with an id settles it: a replay means it had been taken, else it is taken then.
    Unknown,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outcome::NotTaken => "the event was not counted",
            Outcome::Unknown => {
                "the event may or may not have been counted; resend it with its id to find out"
            }
        })
    }
}

/// What a tenant used in one month, read back for reports: per portal (logins, page views), per environment
/// (credits), and the credits drawn from the unallocated pool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MonthUsage {
    pub month: Option<Month>,
    /// Portal id → (passes charged, page views).
    pub portals: std::collections::BTreeMap<String, (u64, u64)>,
    /// Environment id → credits consumed.
    pub credits: std::collections::BTreeMap<String, u64>,
    /// Credits drawn from the tenant's unallocated pool (part of `credits`).
    pub pool: u64,
}
