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

/// What a write does to enforcement (ENF-4, ENF-5, ENF-7), whichever route made it: decided by what changes.
pub mod on_write {
    use chrono::NaiveDate;

    use super::{State, timeline};
    use crate::decision::EnforcementKind;
    use crate::fixes::{CheckedFix, flow_fixes};
    use crate::flows::decide_flow;
    use crate::rule::Rule;
    use crate::scenario::{Scenario, Suspension};
    use crate::snapshot::Snapshot;
    use crate::{Chunked, scenario::Flow};

    /// The flows a change touched: changed in place or appended (indices into `next`).
    fn touched(old: &Chunked<Flow>, new: &Chunked<Flow>) -> Vec<usize> {
        let mut changed = old
            .differing(new, 64)
            .unwrap_or_else(|| (0..old.len().min(new.len())).collect());
        changed.extend(old.len()..new.len());
        changed
    }

    /// The engine's own fields, before the change is checked: a write cannot set or clear a flow's `suspended`
    /// or `notice` (they are carried over by flow id, and a new flow has none); a new flow without `created`
    /// was created on `day` (ENF-2's own timeline and ENF-4 read it); and ENF-7: a flow whose associated app the
    /// change deletes loses the association and is turned off. Returns the flows ENF-7 turned off.
    pub fn carry(before: &Snapshot, next: &mut Scenario, day: NaiveDate) -> Vec<String> {
        let old = &before.scenario().flows;
        for i in touched(old, &next.flows) {
            let was = next
                .flows
                .get(i)
                .and_then(|f| before.flow_idx(&f.id))
                .and_then(|j| old.get(j.0 as usize))
                .map(|f| (f.suspended.clone(), f.notice.clone()));
            if let Some(f) = next.flows.get_mut(i) {
                match was {
                    Some((suspended, notice)) => {
                        if f.suspended != suspended || f.notice != notice {
                            f.suspended = suspended;
                            f.notice = notice;
                        }
                    }
                    None => {
                        if f.suspended.is_some() || f.notice.is_some() {
                            f.suspended = None;
                            f.notice = None;
                        }
                        if f.created.is_none() {
                            f.created = Some(day);
                        }
                    }
                }
            }
        }
        // ENF-7: the apps the change deletes (only when the apps list lost some; rare, so a scan is fine).
        let (old_apps, new_apps) = (&before.scenario().apps, &next.apps);
        let lost = old_apps.len() > new_apps.len()
            || old_apps.differing(new_apps, 64).is_none_or(|c| {
                c.iter()
                    .any(|&i| old_apps.get(i).map(|a| &a.id) != new_apps.get(i).map(|a| &a.id))
            });
        if !lost {
            return Vec::new();
        }
        let kept: std::collections::HashSet<&str> = new_apps.iter().map(|a| a.id.as_str()).collect();
        let gone: std::collections::HashSet<String> = old_apps
            .iter()
            .filter(|a| !kept.contains(a.id.as_str()))
            .map(|a| a.id.clone())
            .collect();
        if gone.is_empty() {
            return Vec::new();
        }
        let mut off = Vec::new();
        for f in next.flows.iter_mut() {
            if f.app.as_ref().is_some_and(|a| gone.contains(a)) {
                f.app = None;
                if f.enabled {
                    f.enabled = false;
                    f.suspended = Some(Suspension {
                        on: day,
                        kind: "app-deleted".to_owned(),
                        rule: Rule::Enf7.id().to_owned(),
                        failing: None,
                    });
                    off.push(f.id.clone());
                }
            }
        }
        off
    }

    /// A flow the change created while its kind's makers had been notified: stored turned off (ENF-4).
    #[derive(Debug, Clone)]
    pub struct CreatedOff {
        pub flow: String,
        pub kind: &'static str,
        pub failing: Rule,
        pub fix: Option<CheckedFix>,
    }

    /// A suspended flow the change turns on: allowed once licensed (ENF-5), with the cheapest fix when not.
    #[derive(Debug, Clone)]
    pub struct TurnedOn {
        pub flow: String,
        pub licensed: bool,
        pub fix: Option<CheckedFix>,
        pub failing: Option<Rule>,
    }

    /// ENF-4 and ENF-5 on the checked change: the flows it created that must start turned off, and the
    /// suspended flows it turns on.
    pub fn judge(before: &Snapshot, next: &Snapshot) -> (Vec<CreatedOff>, Vec<TurnedOn>) {
        let day = next.at();
        let (old, new) = (&before.scenario().flows, &next.scenario().flows);
        let mut created = Vec::new();
        let mut turned_on = Vec::new();
        for i in touched(old, new) {
            let Some(f) = new.get(i) else { continue };
            let Some(idx) = next.flow_idx(&f.id) else { continue };
            let existed = before.flow_idx(&f.id).and_then(|j| old.get(j.0 as usize));
            match existed {
                None if f.enabled => {
                    let d = decide_flow(next, idx, None);
                    let Some(e) = d.enforcement.filter(|e| e.kind != EnforcementKind::Other) else {
                        continue;
                    };
                    let t = timeline(next.catalog(), &e, Some(f.created.unwrap_or(day)), day);
                    if t.is_some_and(|t| t.state == State::CreatedOff) {
                        created.push(CreatedOff {
                            flow: f.id.clone(),
                            kind: e.kind.as_str(),
                            failing: e.rule,
                            fix: flow_fixes(next, &d).into_iter().next(),
                        });
                    }
                }
                Some(was) if f.enabled && !was.enabled && f.suspended.is_some() => {
                    let d = decide_flow(next, idx, None);
                    let failing = d.problems.iter().next().map(|p| p.rule);
                    turned_on.push(TurnedOn {
                        flow: f.id.clone(),
                        licensed: d.allowed,
                        fix: if d.allowed {
                            None
                        } else {
                            flow_fixes(next, &d).into_iter().next()
                        },
                        failing: if d.allowed { None } else { failing },
                    });
                }
                _ => {}
            }
        }
        (created, turned_on)
    }

    /// Applies [`judge`]'s verdict (when nothing was refused): created-off flows stored turned off, licensed
    /// flows resumed (their suspension and notices forgotten).
    pub fn settle(next: &mut Scenario, day: NaiveDate, created: &[CreatedOff], resumed: &[TurnedOn]) {
        for f in next.flows.iter_mut() {
            if let Some(c) = created.iter().find(|c| c.flow == f.id) {
                f.enabled = false;
                f.suspended = Some(Suspension {
                    on: day,
                    kind: c.kind.to_owned(),
                    rule: Rule::Enf4.id().to_owned(),
                    failing: Some(c.failing.id().to_owned()),
                });
            } else if resumed.iter().any(|r| r.flow == f.id && r.licensed) {
                f.suspended = None;
                f.notice = None;
            }
        }
    }
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
