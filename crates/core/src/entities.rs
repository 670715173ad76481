//! Entities (ENT-5): before complex logic is added to an entity, or it is made restricted, show which apps,
//! flows and users the change affects — every decision it would flip.

use std::sync::Arc;

use serde::Serialize;

use crate::apps::decide_app;
use crate::flows::decide_flow;
use crate::rule::Rule;
use crate::scenario::Logic;
use crate::snapshot::{BuildError, Snapshot, UserIdx};

/// A change to an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityChange {
    /// Add business logic (ENT-1: synchronous plug-ins and real-time workflows need Plan 2 rights).
    AddLogic(Logic),
    /// Make it a restricted entity (ENT-2).
    Restrict,
}

/// One decision that flips from allowed to denied (or back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flip {
    /// `flow` or `app`.
    pub kind: &'static str,
    pub id: String,
    /// The user whose decision flips (app users; flows' context users appear in `rule` messages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub allowed_before: bool,
    pub allowed_after: bool,
}

impl Flip {
    /// The flip of a decision that was `before` and is `after`, if it turned.
    fn of(kind: &'static str, id: &str, user: Option<&str>, before: bool, after: bool) -> Option<Flip> {
        (before != after).then(|| Flip {
            kind,
            id: id.to_owned(),
            user: user.map(str::to_owned),
            allowed_before: before,
            allowed_after: after,
        })
    }
}

/// What a change would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Impact {
    pub entity: String,
    pub rules: Vec<Rule>,
    pub flips: Vec<Flip>,
}

/// Every flow decision and every app decision for the app's listed users that differs between two snapshots
/// of the same tenant (matched by id). When `after` was patched from `before` by a write, only the decisions that
/// read what the write changed are compared ([`flips_of_patch`]); otherwise every one.
pub fn flips(before: &Snapshot, after: &Snapshot) -> Vec<Flip> {
    if let Some(t) = after.touched_since(before) {
        return flips_of_patch(before, after, t);
    }
    let mut out = Vec::new();
    for (i, f) in before.flows() {
        let Some(j) = after.flow_idx(&f.id) else { continue };
        let (a, b) = (
            decide_flow(before, i, None).allowed,
            decide_flow(after, j, None).allowed,
        );
        out.extend(Flip::of("flow", &f.id, None, a, b));
    }
    for (i, app) in before.apps() {
        let Some(j) = after.app_idx(&app.id) else { continue };
        for u in &app.users {
            let id = before.user_id(*u);
            let Some(v) = after.user_idx(id) else { continue };
            let (a, b) = (decide_app(before, i, *u).allowed, decide_app(after, j, v).allowed);
            out.extend(Flip::of("app", &app.id, Some(id), a, b));
        }
    }
    out
}

/// [`flips`] of a patch: the flows it changed, the flows that name a user it changed (as owner, co-owner,
/// runner, approver or beneficiary), every flow linked to one of those through parents and contexts (a decision
/// reads the users of the flow it runs in the context of), and the app decisions of the changed users. The
/// same list, in the same order, as comparing every decision (the property test
/// `patched_snapshots_decide_as_built_ones` checks it).
fn flips_of_patch(before: &Snapshot, after: &Snapshot, t: &crate::snapshot::Touched) -> Vec<Flip> {
    let users: std::collections::HashSet<UserIdx> = t
        .users
        .iter()
        .filter_map(|&i| u32::try_from(i).ok().map(UserIdx))
        .collect();
    let names = |f: &crate::snapshot::FlowRec| {
        [f.owner]
            .iter()
            .chain(&f.co_owners)
            .chain(&f.run_by)
            .chain(&f.approvers)
            .chain(&f.beneficiaries)
            .any(|u| users.contains(u))
    };
    let n = before.flows.len();
    let mut marked: Vec<bool> = (0..n).map(|i| before.flows.get(i).is_some_and(&names)).collect();
    for &i in &t.flows {
        if let Some(m) = marked.get_mut(i) {
            *m = true;
        }
    }
    // Linked flows, both ways, until nothing more is marked (each pass reaches one link further).
    if marked.iter().any(|m| *m) {
        loop {
            let mut more = false;
            for (i, f) in before.flows() {
                for other in [f.parent, f.in_context_of].into_iter().flatten() {
                    let (a, b) = (i.0 as usize, other.0 as usize);
                    let (ma, mb) = (marked.get(a).copied(), marked.get(b).copied());
                    if let (Some(ma), Some(mb)) = (ma, mb)
                        && ma != mb
                    {
                        for k in [a, b] {
                            if let Some(m) = marked.get_mut(k) {
                                *m = true;
                            }
                        }
                        more = true;
                    }
                }
            }
            if !more {
                break;
            }
        }
    }
    let mut out = Vec::new();
    for (i, f) in before
        .flows()
        .filter(|(i, _)| marked.get(i.0 as usize).copied().unwrap_or(false))
    {
        let (a, b) = (
            decide_flow(before, i, None).allowed,
            decide_flow(after, i, None).allowed,
        );
        out.extend(Flip::of("flow", &f.id, None, a, b));
    }
    if !users.is_empty() {
        for (i, app) in before.apps() {
            for u in app.users.iter().filter(|u| users.contains(u)) {
                let (a, b) = (
                    decide_app(before, i, *u).allowed,
                    decide_app(after, i, *u).allowed,
                );
                out.extend(Flip::of("app", &app.id, Some(before.user_id(*u)), a, b));
            }
        }
    }
    out
}

/// ENT-5: the decisions that `change` to `entity` would flip.
pub fn impact(snap: &Snapshot, entity: &str, change: EntityChange) -> Result<Impact, BuildError> {
    let mut scenario = snap.scenario().clone();
    let Some(e) = scenario.entities.iter_mut().find(|e| e.id == entity) else {
        return Err(BuildError {
            key: "entity".to_owned(),
            message: format!("unknown entity `{entity}`"),
        });
    };
    let rule = match change {
        EntityChange::AddLogic(logic) => {
            if !e.complex_logic.contains(&logic) {
                e.complex_logic.push(logic);
            }
            Rule::Ent1
        }
        EntityChange::Restrict => {
            e.restricted = true;
            Rule::Ent2
        }
    };
    let after = Snapshot::new(Arc::clone(&snap.catalog), scenario, snap.at())?;
    Ok(Impact {
        entity: entity.to_owned(),
        rules: vec![Rule::Ent5, rule, Rule::Ent3],
        flips: flips(snap, &after),
    })
}
