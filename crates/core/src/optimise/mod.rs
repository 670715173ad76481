//! The tenant-wide optimiser (issue 16): the cheapest set of changes that turns every targeted flow and app
//! decision to allowed, worked out jointly.
//!
//! Why jointly: the audit prices the cheapest fix of each flow on its own ([`crate::audit::Summary`]), counting a
//! spare unit once but choosing flow by flow. A plan for the tenant shares more: one process licence on a parent
//! covers its children (FLOW-7, FLOW-15, FLOW-16), one Power Apps licence covers a user's every app where
//! per-app passes would stack (APP-1), units taken back from users who left or use nothing stand in for units
//! bought (BUY-6), and purchase minimums (CAT-4) make the second unit cheaper than the first.
//!
//! How: [`model`] turns every denied decision into a requirement with options (the engine's own fixes, broken
//! into atoms, plus the parent's process licence and licences of other SKUs, each checked in a dry run);
//! [`solve`] picks atoms (exactly on small tenants, with a greedy and a stated gap to a lower bound on large
//! ones); [`plan`] turns the atoms into changes (the writes of [`crate::dryrun::Change`], which the server's
//! `changes:batch` makes too), applies them to a copy of the tenant and decides every target again: a target
//! still denied (two fixes that interfere in a way the atoms do not see) gets the cheapest fix on the tenant as
//! the plan leaves it, and the answer says how many did. Pure: no I/O.

pub mod model;
pub mod plan;
mod solve;

pub use model::{Only, Target};
pub use plan::{Bound, Plan, PlanChange, Targets};

use crate::fixes::CheckedFix;
use crate::snapshot::{FlowIdx, Snapshot};

/// How hard to search.
#[derive(Debug, Clone)]
pub struct Options {
    pub only: Only,
    /// Up to this many requirements (denied decisions grouped by identical options), the exact search runs (after the greedy, whose plan it starts from).
    pub exact_up_to: usize,
    /// The exact search gives up after this many nodes and keeps the best plan found, with its gap.
    pub node_limit: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            only: Only::All,
            exact_up_to: 200,
            node_limit: 200_000,
        }
    }
}

/// Told how far the optimiser is (the CLI draws a progress bar from it on a terminal).
pub trait Progress {
    /// A stage begins, with its number of steps (0: unknown).
    fn stage(&self, _name: &'static str, _total: u64) {}
    /// Steps done in the current stage.
    fn advance(&self, _n: u64) {}
}

/// No progress reported.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;
impl Progress for Quiet {}

/// The cheapest plan for the targeted decisions of `snap`'s tenant.
pub fn optimise(snap: &Snapshot, opts: &Options, progress: &dyn Progress) -> Plan {
    progress.stage("audit", 0);
    let audit = crate::audit::audit(snap);
    let rows: Vec<(FlowIdx, &[CheckedFix])> = audit
        .flows
        .iter()
        .filter_map(|r| Some((snap.flow_idx(&r.flow)?, r.fixes.as_slice())))
        .collect();
    let app_users: u64 = snap.apps().map(|(_, a)| a.users.len() as u64).sum();
    progress.stage("model", rows.len() as u64 + app_users);
    let mut model = model::build(snap, &rows, &opts.only, &mut |n| progress.advance(n));
    let start = model::headline_atoms(&mut model, snap, &audit);
    let pricer = solve::Pricer::new(snap, &model);
    progress.stage("solve", model.reqs.len() as u64);
    let greedy = solve::greedy(&model, &pricer, &mut |n| progress.advance(n));
    progress.stage("improve", 0);
    let headline = solve::from_start(&model, &pricer, &start);
    let greedy = match (greedy, headline) {
        (Some(g), Some(h)) => Some(if h.cost < g.cost { h } else { g }),
        (g, h) => g.or(h),
    };
    let solution = if model.reqs.len() <= opts.exact_up_to {
        progress.stage("exact search", 0);
        solve::exact(&model, &pricer, greedy.clone(), opts.node_limit).or(greedy)
    } else {
        greedy
    };
    let solution = solution.map(|mut s| {
        if !s.optimal {
            s.lower_bound = solve::lower_bound(&model, &pricer).min(s.cost);
        }
        s
    });
    progress.stage("check", 0);
    plan::render(snap, &audit, &model, &pricer, solution, &opts.only)
}

/// The tenant of `snap` with `plan` applied (its writes, in order), decided anew on the same day.
pub fn apply_plan(snap: &Snapshot, plan: &Plan) -> Result<Snapshot, String> {
    let mut s = snap.scenario().clone();
    crate::dryrun::apply_changes(&mut s, &plan.writes, snap.at(), Some(snap)).map_err(|e| e.to_string())?;
    Snapshot::new(std::sync::Arc::clone(snap.catalog_arc()), s, snap.at()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
