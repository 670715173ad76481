//! What happens to a tenant as days pass (issue 14): the jobs due on one day, and what they change. The server's
//! scheduler and `entitle timeline` both call [`due`] and [`apply`]; the server only stores and sends what they
//! decide.
//!
//! - ENF-3: admins are told on a kind's admin-notice date, each flow's owner and co-owners on its maker-notice
//!   date (the kind's first-region dates, or ENF-2's own timeline for a flow that fell into the kind later).
//! - ENF-2/ENF-3: on the turn-off date, each flow still unlicensed and still on is suspended, and everyone is
//!   told again. A flow fixed before that day is no longer at risk, so nothing happens to it (ENF-6).
//! - BUY-7, CAT-10: a trial ends `trial_days` after it started (admin-assigned trial units: the trial
//!   subscription's start; a person's own sign-up: its `trial-started` event); a notice goes out
//!   [`TRIAL_NOTICE_DAYS`] days before, and the decisions turn on the day (the snapshot already reads them so).
//! - Subscriptions: at `end`, one with `auto_renew` (and not cancelled) renews for a term of the same length;
//!   any other lapses, and its holders' flows fall into ENF-2 kind (b) from that day.
//!
//! Notices happen on their day only: the caller runs every day once, in order (the server records the last day
//! it ran in `tenant.jobs_through`). Turn-offs happen on or after their day, so a flow that was on when its date
//! passed unseen (a tenant imported late) is turned off on the first day the jobs run.

use std::collections::BTreeMap;

use chrono::{Datelike, Days, Months, NaiveDate};
use serde::Serialize;

use crate::decision::{EnforcementKind, FlowDecision};
use crate::enforcement::{State, timeline};
use crate::fixes::{CheckedFix, flow_fixes};
use crate::flows::decide_flow;
use crate::rule::Rule;
use crate::scenario::{EventKind, Notice, PurchaseChannel, Scenario, Suspension};
use crate::snapshot::{FlowIdx, Snapshot};

/// How many days before a trial ends its holders are told (issue 14; the seeds give no figure).
pub const TRIAL_NOTICE_DAYS: u64 = 7;

/// One thing that happens on a day. `type` is the event type the server stores and sends.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum Happening {
    /// ENF-3: the admins are told which flows of a kind will be turned off, and when.
    #[serde(rename = "enforcement.admin_notice")]
    AdminNotice {
        kind: &'static str,
        flows: Vec<String>,
        /// The users with an admin role, told.
        admins: Vec<String>,
        /// The day the notice was due (earlier than today only for a tenant whose jobs had not run then).
        admin_notice: NaiveDate,
        turn_off: NaiveDate,
        rules: Vec<Rule>,
    },
    /// ENF-3: a flow's owner and co-owners are told (e-mail and banner).
    #[serde(rename = "enforcement.maker_notice")]
    MakerNotice {
        flow: String,
        environment: String,
        kind: &'static str,
        makers: Vec<String>,
        turn_off: NaiveDate,
        /// The rule the flow's decision fails.
        failing: Rule,
        rules: Vec<Rule>,
    },
    /// ENF-2/ENF-3: turned off on its turn-off date, with the cheapest fix (ENF-6), everyone told again.
    #[serde(rename = "flow.suspended")]
    Suspended {
        flow: String,
        environment: String,
        kind: &'static str,
        makers: Vec<String>,
        admins: Vec<String>,
        failing: Rule,
        #[serde(skip_serializing_if = "Option::is_none")]
        fix: Option<Box<CheckedFix>>,
        rules: Vec<Rule>,
    },
    /// ENF-6: a flow that was at risk is licensed again (a fix took effect): its notices are forgotten, and a
    /// later lapse starts a new timeline.
    #[serde(rename = "enforcement.cleared")]
    Cleared { flow: String, rules: Vec<Rule> },
    /// A flow at risk whose notices were missed (created off, or found after its turn-off date): remembered
    /// without telling anyone, so that its dates hold. Changes the tenant; not an event.
    #[serde(rename = "enforcement.noted")]
    Noted {
        flow: String,
        kind: &'static str,
        admin_notice: NaiveDate,
    },
    /// BUY-7, CAT-10: a trial ends in [`TRIAL_NOTICE_DAYS`] days.
    #[serde(rename = "trial.expiring")]
    TrialExpiring {
        #[serde(flatten)]
        trial: Trial,
    },
    /// BUY-7, CAT-10: a trial ended today; its holders' decisions no longer count it.
    #[serde(rename = "trial.expired")]
    TrialExpired {
        #[serde(flatten)]
        trial: Trial,
    },
    /// A subscription with `auto_renew` began a new term.
    #[serde(rename = "subscription.renewed")]
    Renewed {
        subscription: String,
        sku: String,
        quantity: u32,
        /// The new term's end (exclusive).
        until: NaiveDate,
        rules: Vec<Rule>,
    },
    /// A subscription ended without renewal: its units are gone, and flows of its holders that needed them fall
    /// into ENF-2 kind (b) from today.
    #[serde(rename = "subscription.lapsed")]
    Lapsed {
        subscription: String,
        sku: String,
        quantity: u32,
        /// It was cancelled (ends at term end) rather than left to run out.
        cancelled: bool,
        holders: Vec<String>,
        rules: Vec<Rule>,
    },
}

/// A trial that ends: admin-assigned units (a trial subscription) or one person's sign-up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trial {
    pub sku: String,
    /// The trial subscription (admin-assigned units); `None` for a person's own sign-up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription: Option<String>,
    /// Admin-assigned (managed) or a person's own sign-up, which the admin neither manages nor sees (BUY-7).
    pub managed: bool,
    pub users: Vec<String>,
    pub expires: NaiveDate,
    pub rules: Vec<Rule>,
}

impl Happening {
    /// The event type (`flow.suspended`, …).
    pub const fn kind(&self) -> &'static str {
        match self {
            Happening::AdminNotice { .. } => "enforcement.admin_notice",
            Happening::MakerNotice { .. } => "enforcement.maker_notice",
            Happening::Suspended { .. } => "flow.suspended",
            Happening::Cleared { .. } => "enforcement.cleared",
            Happening::Noted { .. } => "enforcement.noted",
            Happening::TrialExpiring { .. } => "trial.expiring",
            Happening::TrialExpired { .. } => "trial.expired",
            Happening::Renewed { .. } => "subscription.renewed",
            Happening::Lapsed { .. } => "subscription.lapsed",
        }
    }

    /// Whether it is told to anyone (an event); [`Happening::Noted`] only changes the tenant.
    pub fn is_event(&self) -> bool {
        !matches!(self, Happening::Noted { .. })
    }

    /// The item it is about (a flow, a subscription, a SKU), for a stable job key.
    pub fn subject(&self) -> String {
        match self {
            Happening::AdminNotice { kind, .. } => (*kind).to_owned(),
            Happening::MakerNotice { flow, .. }
            | Happening::Suspended { flow, .. }
            | Happening::Cleared { flow, .. }
            | Happening::Noted { flow, .. } => flow.clone(),
            Happening::TrialExpiring { trial } | Happening::TrialExpired { trial } => trial
                .subscription
                .clone()
                .unwrap_or_else(|| format!("{}:{}", trial.sku, trial.users.join(","))),
            Happening::Renewed { subscription, .. } | Happening::Lapsed { subscription, .. } => {
                subscription.clone()
            }
        }
    }

    /// The users it tells (the makers of a notice, the holders of a trial): who see it among their notices.
    pub fn told(&self) -> Vec<&str> {
        match self {
            Happening::AdminNotice { admins, .. } => admins.iter().map(String::as_str).collect(),
            Happening::MakerNotice { makers, .. } => makers.iter().map(String::as_str).collect(),
            Happening::Suspended { makers, admins, .. } => {
                makers.iter().chain(admins).map(String::as_str).collect()
            }
            Happening::TrialExpiring { trial } | Happening::TrialExpired { trial } => {
                trial.users.iter().map(String::as_str).collect()
            }
            Happening::Renewed { .. } | Happening::Cleared { .. } | Happening::Noted { .. } => Vec::new(),
            Happening::Lapsed { holders, .. } => holders.iter().map(String::as_str).collect(),
        }
    }
}

/// The users with an admin role (BUY-8's roles): who ENF-3's admin notices go to.
fn admins(scenario: &Scenario) -> Vec<String> {
    scenario
        .users
        .iter()
        .filter(|u| !u.roles.is_empty() && u.left.is_none())
        .map(|u| u.id.clone())
        .collect()
}

/// A flow's owner and co-owners who are still there.
fn makers(snap: &Snapshot, flow: FlowIdx) -> Vec<String> {
    let Some(f) = snap.flow(flow) else {
        return Vec::new();
    };
    std::iter::once(f.owner)
        .chain(f.co_owners.iter().copied())
        .filter(|&u| snap.user(u).is_some_and(|r| r.left.is_none()))
        .map(|u| snap.user_id(u).to_owned())
        .collect()
}

/// What is due on the snapshot's day, worked out from its decisions: `O(flows)` decisions plus the
/// subscriptions and events, no dry run. Suspensions come without their fix; [`with_fixes`] adds them.
///
/// A flow's ENF-3 notices are remembered on the flow (`notice`): the admin notice fixes the day its own timeline
/// starts (a flow whose owner never held the licence has no date of its own to start from), and a notice is sent
/// once. Notices a tenant's jobs missed (it was imported after their day) go out late while they still say
/// something, before the turn-off; after it, the turn-off tells everyone.
pub fn due(snap: &Snapshot) -> Vec<Happening> {
    let day = snap.at();
    let admins = admins(snap.scenario());
    let mut notices: BTreeMap<(&'static str, NaiveDate), (Vec<String>, NaiveDate)> = BTreeMap::new();
    let mut out = Vec::new();
    for (i, f) in snap.flows() {
        if f.created.is_some_and(|c| c > day) {
            continue;
        }
        let id = f.id.to_string();
        let told = snap
            .scenario()
            .flows
            .get(i.0 as usize)
            .and_then(|s| s.notice.as_ref());
        let d = decide_flow(snap, i, None);
        let Some(mut e) = d.enforcement.filter(|e| e.kind != EnforcementKind::Other) else {
            if told.is_some() {
                out.push(Happening::Cleared {
                    flow: id,
                    rules: vec![Rule::Enf6],
                });
            }
            continue;
        };
        let kind = e.kind.as_str();
        let told = told.filter(|n| n.kind == kind);
        if let Some(n) = told {
            e.since = Some(n.admins);
        }
        let Some(t) = timeline(snap.catalog(), &e, f.created, day) else {
            continue;
        };
        if told.is_none() && t.admin_notice <= day {
            if day < t.turn_off && t.state != State::CreatedOff {
                let entry = notices
                    .entry((kind, t.admin_notice))
                    .or_insert_with(|| (Vec::new(), t.turn_off));
                entry.0.push(id.clone());
                entry.1 = entry.1.min(t.turn_off);
            } else {
                // Too late to say anything but the turn-off (or created off): remembered, so the dates hold.
                out.push(Happening::Noted {
                    flow: id.clone(),
                    kind,
                    admin_notice: t.admin_notice,
                });
            }
        }
        let makers_told = told.is_some_and(|n| n.makers.is_some());
        if !makers_told && t.maker_notice <= day && day < t.turn_off && t.state != State::CreatedOff {
            out.push(Happening::MakerNotice {
                flow: id.clone(),
                environment: snap.env_id(f.env).to_owned(),
                kind,
                makers: makers(snap, i),
                turn_off: t.turn_off,
                failing: e.rule,
                rules: vec![Rule::Enf3, Rule::Enf2, e.rule],
            });
        }
        // Turned off on its date (ENF-3); or created after its kind's maker notice yet on (ENF-4: it should
        // never have run; a tenant imported with such flows gets them turned off on the first day).
        let off = match t.state {
            State::TurnedOff if t.turn_off <= day => Some(Rule::Enf3),
            State::CreatedOff => Some(Rule::Enf4),
            _ => None,
        };
        if let Some(by) = off.filter(|_| f.enabled) {
            out.push(Happening::Suspended {
                flow: id,
                environment: snap.env_id(f.env).to_owned(),
                kind,
                makers: makers(snap, i),
                admins: admins.clone(),
                failing: e.rule,
                fix: None,
                rules: vec![by, Rule::Enf2, e.rule],
            });
        }
    }
    let notices =
        notices.into_iter().map(
            |((kind, admin_notice), (flows, turn_off))| Happening::AdminNotice {
                kind,
                flows,
                admins: admins.clone(),
                admin_notice,
                turn_off,
                rules: vec![Rule::Enf3, Rule::Enf2],
            },
        );
    // Admins first (ENF-3), then makers and turn-offs, then licences.
    let mut all: Vec<Happening> = notices.collect();
    all.append(&mut out);
    all.extend(trials(snap));
    all.extend(lapses(snap));
    all
}

/// [`due`]'s suspensions with their cheapest fix (ENF-6), from `known` (a kept audit's) or worked out by dry
/// runs, for the first `limit` of them (a bound on one day's work; the others keep none).
pub fn with_fixes(
    snap: &Snapshot,
    mut due: Vec<Happening>,
    known: impl Fn(&str) -> Option<CheckedFix>,
    limit: usize,
) -> Vec<Happening> {
    for h in due
        .iter_mut()
        .filter(|h| matches!(h, Happening::Suspended { .. }))
        .take(limit)
    {
        if let Happening::Suspended { flow, fix, .. } = h {
            *fix = known(flow)
                .or_else(|| {
                    let i = snap.flow_idx(flow)?;
                    let d: FlowDecision = decide_flow(snap, i, None);
                    flow_fixes(snap, &d).into_iter().next()
                })
                .map(Box::new);
        }
    }
    due
}

/// BUY-7, CAT-10: trials that end in [`TRIAL_NOTICE_DAYS`] days or today.
fn trials(snap: &Snapshot) -> Vec<Happening> {
    let day = snap.at();
    let catalog = snap.catalog();
    let scenario = snap.scenario();
    let days_of = |sku: &str| {
        let s = catalog.sku_idx(sku).and_then(|i| catalog.sku(i))?;
        Some(
            s.trial_days
                .unwrap_or(catalog.terms.self_service.admin_trial_days),
        )
    };
    let mut ends: Vec<Trial> = Vec::new();
    for (i, sub) in scenario.subscriptions.iter().enumerate() {
        if sub.channel != PurchaseChannel::Trial {
            continue;
        }
        let (Some(start), Some(days)) = (sub.start, days_of(&sub.sku)) else {
            continue;
        };
        let Some(mut expires) = start.checked_add_days(Days::new(u64::from(days))) else {
            continue;
        };
        if let Some(end) = sub.end {
            expires = expires.min(end);
        }
        let users = scenario
            .users
            .iter()
            .filter(|u| u.licenses.contains(&sub.sku))
            .map(|u| u.id.clone())
            .collect();
        ends.push(Trial {
            sku: sub.sku.clone(),
            subscription: Some(subscription_id(sub.id.as_deref(), i)),
            managed: true,
            users,
            expires,
            rules: vec![Rule::Buy7, Rule::Cat10],
        });
    }
    for ev in scenario.events.iter() {
        if ev.kind != EventKind::TrialStarted || ev.on > day {
            continue;
        }
        let (Some(user), Some(sku)) = (&ev.user, &ev.sku) else {
            continue;
        };
        let Some(days) = days_of(sku) else { continue };
        let Some(expires) = ev.on.checked_add_days(Days::new(u64::from(days))) else {
            continue;
        };
        ends.push(Trial {
            sku: sku.clone(),
            subscription: None,
            managed: false,
            users: vec![user.clone()],
            expires,
            rules: vec![Rule::Buy7, Rule::Cat10],
        });
    }
    let notice = day.checked_add_days(Days::new(TRIAL_NOTICE_DAYS));
    ends.into_iter()
        .filter_map(|trial| {
            if trial.expires == day {
                Some(Happening::TrialExpired { trial })
            } else if Some(trial.expires) == notice {
                Some(Happening::TrialExpiring { trial })
            } else {
                None
            }
        })
        .collect()
}

/// How the server and the scenario name a subscription: its `id`, or its position.
pub fn subscription_id(id: Option<&str>, i: usize) -> String {
    id.map_or_else(|| i.to_string(), str::to_owned)
}

/// The end of the term after one that ran `start..end`: the same number of months when the term is whole
/// months (start and end on the same day of the month), else the same number of days; a term without a start
/// renews for a year.
pub fn next_term_end(start: Option<NaiveDate>, end: NaiveDate) -> Option<NaiveDate> {
    let Some(start) = start.filter(|s| *s < end) else {
        return end.checked_add_months(Months::new(12));
    };
    if start.day() == end.day() {
        let months = (end.year() - start.year()) * 12 + end.month() as i32 - start.month() as i32;
        let months = u32::try_from(months).ok().filter(|m| *m > 0)?;
        end.checked_add_months(Months::new(months))
    } else {
        let days = u64::try_from((end - start).num_days()).ok()?;
        end.checked_add_days(Days::new(days))
    }
}

/// Whether a paid subscription renews at its term's end on `day`.
fn renews(sub: &crate::scenario::Subscription, day: NaiveDate) -> bool {
    sub.channel != PurchaseChannel::Trial && sub.end == Some(day) && sub.auto_renew && sub.cancelled.is_none()
}

/// The renewals due on `day`: applied (with [`apply`]) before the day's snapshot is built, so that a renewed
/// licence never looks lapsed for a day.
pub fn renewals(scenario: &Scenario, day: NaiveDate) -> Vec<Happening> {
    scenario
        .subscriptions
        .iter()
        .enumerate()
        .filter(|(_, sub)| renews(sub, day))
        .filter_map(|(i, sub)| {
            Some(Happening::Renewed {
                subscription: subscription_id(sub.id.as_deref(), i),
                sku: sub.sku.clone(),
                quantity: sub.quantity,
                until: next_term_end(sub.start, day)?,
                rules: Vec::new(),
            })
        })
        .collect()
}

/// Paid subscriptions whose term ends today without renewal: lapsed.
fn lapses(snap: &Snapshot) -> Vec<Happening> {
    let day = snap.at();
    let scenario = snap.scenario();
    let mut out = Vec::new();
    for (i, sub) in scenario.subscriptions.iter().enumerate() {
        if sub.channel == PurchaseChannel::Trial || sub.end != Some(day) || renews(sub, day) {
            continue;
        }
        let holders = scenario
            .users
            .iter()
            .filter(|u| u.licenses.contains(&sub.sku))
            .map(|u| u.id.clone())
            .collect();
        out.push(Happening::Lapsed {
            subscription: subscription_id(sub.id.as_deref(), i),
            sku: sub.sku.clone(),
            quantity: sub.quantity,
            cancelled: sub.cancelled.is_some(),
            holders,
            rules: vec![Rule::Enf2],
        });
    }
    out
}

/// What `due` (and [`renewals`]) change in the tenant: suspended flows turned off, ENF-3's notices remembered on
/// their flows (and forgotten once a flow is licensed again), renewed terms extended; and `jobs_through` set to
/// `day`. Expiries and lapses change nothing stored: the decisions read the dates.
pub fn apply(scenario: &mut Scenario, day: NaiveDate, due: &[Happening]) {
    let touches_flows = due.iter().any(|h| {
        matches!(
            h,
            Happening::AdminNotice { .. }
                | Happening::MakerNotice { .. }
                | Happening::Suspended { .. }
                | Happening::Cleared { .. }
                | Happening::Noted { .. }
        )
    });
    let at: std::collections::HashMap<String, usize> = if touches_flows {
        scenario
            .flows
            .iter()
            .enumerate()
            .map(|(i, f)| (f.id.clone(), i))
            .collect()
    } else {
        std::collections::HashMap::new()
    };
    let mut renewed = Vec::new();
    for h in due {
        match h {
            Happening::AdminNotice {
                kind,
                flows,
                admin_notice,
                ..
            } => {
                for id in flows {
                    if let Some(f) = flow_mut(&mut scenario.flows, &at, id) {
                        f.notice = Some(Notice {
                            kind: (*kind).to_owned(),
                            admins: *admin_notice,
                            makers: None,
                        });
                    }
                }
            }
            Happening::Noted {
                flow: id,
                kind,
                admin_notice,
            } => {
                if let Some(f) = flow_mut(&mut scenario.flows, &at, id) {
                    f.notice = Some(Notice {
                        kind: (*kind).to_owned(),
                        admins: *admin_notice,
                        makers: None,
                    });
                }
            }
            Happening::MakerNotice { flow: id, .. } => {
                if let Some(n) = flow_mut(&mut scenario.flows, &at, id).and_then(|f| f.notice.as_mut()) {
                    n.makers = Some(day);
                }
            }
            Happening::Cleared { flow: id, .. } => {
                if let Some(f) = flow_mut(&mut scenario.flows, &at, id) {
                    f.notice = None;
                }
            }
            Happening::Suspended {
                flow: id,
                kind,
                failing,
                rules,
                ..
            } => {
                if let Some(f) = flow_mut(&mut scenario.flows, &at, id) {
                    f.enabled = false;
                    f.suspended = Some(Suspension {
                        on: day,
                        kind: (*kind).to_owned(),
                        rule: rules.first().copied().unwrap_or(Rule::Enf3).id().to_owned(),
                        failing: Some(failing.id().to_owned()),
                    });
                }
            }
            Happening::Renewed {
                subscription, until, ..
            } => renewed.push((subscription, *until)),
            Happening::TrialExpiring { .. } | Happening::TrialExpired { .. } | Happening::Lapsed { .. } => {}
        }
    }
    for (subscription, until) in renewed {
        let i = scenario
            .subscriptions
            .iter()
            .enumerate()
            .find(|(i, s)| subscription_id(s.id.as_deref(), *i) == *subscription)
            .map(|(i, _)| i);
        if let Some(s) = i.and_then(|i| scenario.subscriptions.get_mut(i)) {
            s.start = s.end;
            s.end = Some(until);
        }
    }
    scenario.tenant.jobs_through = Some(day);
}

fn flow_mut<'a>(
    flows: &'a mut crate::Chunked<crate::scenario::Flow>,
    at: &std::collections::HashMap<String, usize>,
    id: &str,
) -> Option<&'a mut crate::scenario::Flow> {
    at.get(id).copied().and_then(move |i| flows.get_mut(i))
}

/// One day of [`run`].
#[derive(Debug, Clone, Serialize)]
pub struct Day {
    pub on: NaiveDate,
    pub happenings: Vec<Happening>,
}

/// The days from `from` to `to` (inclusive) on which something happens, each worked out on the tenant as the
/// days before left it: `entitle timeline`.
pub fn run(
    catalog: std::sync::Arc<crate::Catalog>,
    mut scenario: Scenario,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<Day>, crate::snapshot::BuildError> {
    let mut out = Vec::new();
    let mut day = from;
    while day <= to {
        let mut happenings = renewals(&scenario, day);
        apply(&mut scenario, day, &happenings);
        let snap = Snapshot::new(std::sync::Arc::clone(&catalog), scenario, day)?;
        let due = with_fixes(&snap, due(&snap), |_| None, usize::MAX);
        scenario = snap.scenario().clone();
        apply(&mut scenario, day, &due);
        happenings.extend(due.into_iter().filter(Happening::is_event));
        if !happenings.is_empty() {
            out.push(Day { on: day, happenings });
        }
        let Some(next) = day.succ_opt() else { break };
        day = next;
    }
    Ok(out)
}

/// The longest range [`run`] is asked for at once (ten years): a bound on the work of one call.
pub const MAX_DAYS: i64 = 3_660;

/// One happening as a row: day, type, subject, who is told, rules, and what else it says.
fn row(on: NaiveDate, h: &Happening) -> [String; 6] {
    let detail = match h {
        Happening::AdminNotice { flows, turn_off, .. } => {
            format!(
                "{} flow(s) turn off on {turn_off}: {}",
                flows.len(),
                flows.join(", ")
            )
        }
        Happening::MakerNotice {
            kind,
            turn_off,
            environment,
            ..
        } => format!("{kind} in {environment}; turned off on {turn_off}"),
        Happening::Suspended {
            kind,
            fix,
            environment,
            ..
        } => {
            let fix = fix.as_ref().map_or_else(
                || "no single fix".to_owned(),
                |f| format!("fix: {}", serde_json::to_string(f).unwrap_or_default()),
            );
            format!("{kind} in {environment}; {fix}")
        }
        Happening::TrialExpiring { trial } | Happening::TrialExpired { trial } => format!(
            "{} ({}) ends on {}",
            trial.sku,
            if trial.managed {
                "assigned by an admin"
            } else {
                "own sign-up"
            },
            trial.expires
        ),
        Happening::Renewed {
            sku, quantity, until, ..
        } => format!("{quantity} × {sku} until {until}"),
        Happening::Cleared { .. } => "licensed again: its notices are forgotten".to_owned(),
        Happening::Noted {
            kind, admin_notice, ..
        } => format!("{kind} since {admin_notice}, noted"),
        Happening::Lapsed {
            sku,
            quantity,
            cancelled,
            ..
        } => format!(
            "{quantity} × {sku}{}",
            if *cancelled { " (cancelled)" } else { "" }
        ),
    };
    let rules = match h {
        Happening::AdminNotice { rules, .. }
        | Happening::MakerNotice { rules, .. }
        | Happening::Suspended { rules, .. }
        | Happening::Renewed { rules, .. }
        | Happening::Lapsed { rules, .. }
        | Happening::Cleared { rules, .. } => rules,
        Happening::Noted { .. } => &Vec::new(),
        Happening::TrialExpiring { trial } | Happening::TrialExpired { trial } => &trial.rules,
    };
    [
        on.to_string(),
        h.kind().to_owned(),
        h.subject(),
        h.told().join(" "),
        rules.iter().map(|r| r.id()).collect::<Vec<_>>().join(" "),
        detail,
    ]
}

const CSV_HEADER: [&str; 6] = ["date", "type", "subject", "told", "rules", "detail"];

/// The days as CSV, one row per happening.
pub fn csv(days: &[Day]) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_HEADER)?;
    for d in days {
        for h in &d.happenings {
            w.write_record(row(d.on, h))?;
        }
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The days as text.
pub fn table(days: &[Day]) -> String {
    use std::fmt::Write;
    if days.is_empty() {
        return "Nothing happens in this range.\n".to_owned();
    }
    let mut out = String::new();
    for d in days {
        let _ = writeln!(out, "{}", d.on);
        for h in &d.happenings {
            let [_, kind, subject, told, rules, detail] = row(d.on, h);
            let told = if told.is_empty() {
                String::new()
            } else {
                format!("; told: {told}")
            };
            let _ = writeln!(out, "  {kind:<26} {subject:<24} {detail}{told} [{rules}]");
        }
    }
    out
}
