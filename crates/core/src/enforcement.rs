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
            let maker =
                since.checked_add_days(Days::new(u64::from(catalog.terms.enforcement.maker_after_days)))?;
            let off = maker.checked_add_days(Days::new(u64::from(row.grace_days)))?;
            (since, maker, off)
        }
        _ => (row.admin_notice, row.maker_notice, row.turn_off),
    };
    // ENF-4: once makers were notified of the kind's rollout, a new unlicensed premium flow is created off.
    // (Only when it was unlicensed when created: an owner who leaves later starts an ordinary timeline.) Its
    // dates stay those of ENF-2's own timeline from its creation, so an admin sees when it would have been
    // turned off had it been created on; the state says it never ran.
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
    Some(Timeline {
        admin_notice: admin,
        maker_notice: maker,
        turn_off: off,
        state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::Rule;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn e(kind: EnforcementKind, since: Option<&str>) -> Enforcement {
        Enforcement {
            kind,
            rule: Rule::Flow24,
            since: since.map(day),
        }
    }

    #[test]
    fn enf_2_rollout_dates_apply_to_flows_at_risk_before_the_rollout() {
        let c = Catalog::seed().unwrap();
        let t = timeline(
            &c,
            &e(EnforcementKind::OwnerLeft, Some("2022-01-10")),
            None,
            day("2022-10-05"),
        )
        .unwrap();
        assert_eq!(
            (t.admin_notice, t.maker_notice, t.turn_off),
            (day("2022-09-01"), day("2022-10-01"), day("2022-10-15"))
        );
        assert_eq!(t.state, State::MakerNotified);
    }

    #[test]
    fn enf_2_a_flow_detected_later_gets_its_own_timeline() {
        let c = Catalog::seed().unwrap();
        let t = timeline(
            &c,
            &e(EnforcementKind::OwnerLeft, Some("2024-03-01")),
            None,
            day("2024-04-20"),
        )
        .unwrap();
        assert_eq!(
            (t.admin_notice, t.maker_notice, t.turn_off),
            (day("2024-03-01"), day("2024-03-31"), day("2024-04-14"))
        );
        assert_eq!(t.state, State::TurnedOff);
    }

    #[test]
    fn enf_4_new_unlicensed_flows_are_created_off() {
        let c = Catalog::seed().unwrap();
        let kind = EnforcementKind::ServicePrincipalWithoutProcess;
        let t = timeline(
            &c,
            &e(kind, Some("2024-05-01")),
            Some(day("2024-05-01")),
            day("2024-05-02"),
        )
        .unwrap();
        assert_eq!(t.state, State::CreatedOff);
    }

    #[test]
    fn other_problems_have_no_timeline() {
        let c = Catalog::seed().unwrap();
        assert!(timeline(&c, &e(EnforcementKind::Other, None), None, day("2024-01-01")).is_none());
    }
}
