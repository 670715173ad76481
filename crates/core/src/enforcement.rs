//! The enforcement timeline (ENF-2, ENF-3, ENF-4): when admins and makers are told, and when an unlicensed flow
//! is turned off.

use chrono::{Days, NaiveDate};

use crate::catalog::Catalog;
use crate::decision::{Enforcement, EnforcementKind};

/// Where a flow stands on its enforcement timeline on the evaluation day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// At risk, nobody notified yet.
    Pending,
    /// Admins notified (ENF-3).
    AdminNotified,
    /// Makers notified; the grace period runs.
    MakerNotified,
    /// Turned off; it can be turned on only once licensed (ENF-5).
    TurnedOff,
    /// Created after makers were notified: created turned off (ENF-4).
    CreatedOff,
}

impl State {
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::AdminNotified => "admin-notified",
            State::MakerNotified => "maker-notified",
            State::TurnedOff => "turned-off",
            State::CreatedOff => "created-off",
        }
    }
}

/// The dates of one flow's enforcement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeline {
    pub admin_notice: NaiveDate,
    pub maker_notice: NaiveDate,
    pub turn_off: NaiveDate,
    pub state: State,
}

/// ENF-2: a flow that fell into a kind before its rollout follows the kind's first-region dates; one that fell
/// into it later gets its own timeline from the day it did: admins that day, makers `maker_after_days` later,
/// turn-off after the grace period. `Other` problems have no published timeline.
pub fn timeline(
    catalog: &Catalog,
    e: &Enforcement,
    created: Option<NaiveDate>,
    at: NaiveDate,
) -> Option<Timeline> {
    if e.kind == EnforcementKind::Other {
        return None;
    }
    let row = catalog.enforcement(e.kind.as_str())?;
    let (admin, maker, off) = match e.since {
        Some(since) if since > row.admin_notice => {
            let maker = since.checked_add_days(Days::new(u64::from(catalog.terms.enforcement.maker_after_days)))?;
            let off = maker.checked_add_days(Days::new(u64::from(row.grace_days)))?;
            (since, maker, off)
        }
        _ => (row.admin_notice, row.maker_notice, row.turn_off),
    };
    // ENF-4: once makers were notified of the kind's rollout, a new unlicensed premium flow is created off.
    // (Only when it was unlicensed when created: an owner who leaves later starts an ordinary timeline.)
    let created_off =
        created.is_some_and(|c| c >= row.maker_notice && c <= at && e.since.is_none_or(|s| s <= c));
    let state = if created_off {
        State::CreatedOff
    } else if at >= off {
        State::TurnedOff
    } else if at >= maker {
        State::MakerNotified
    } else if at >= admin {
        State::AdminNotified
    } else {
        State::Pending
    };
    Some(Timeline { admin_notice: admin, maker_notice: maker, turn_off: off, state })
}
