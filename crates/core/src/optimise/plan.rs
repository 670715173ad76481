//! Plan rendering: the picked atoms as changes (what to buy, reassign, assign, allocate, and set on flows), each
//! with its rules and the decisions it turns; applied to a copy of the tenant and checked decision by decision;
//! the bill before and after; and the body of `POST …/changes:batch` that makes the same changes through the API.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Value, json};

use super::model::{Atom, Model, Only, Target};
use super::solve::{Pricer, Solution};
use crate::apps::decide_app;
use crate::audit::Audit;
use crate::catalog::SkuIdx;
use crate::dryrun::{Change, Index, Ledger, World, apply_changes, changes_of};
use crate::flows::decide_flow;
use crate::money::{Money, Totals};
use crate::rule::Rule;
use crate::snapshot::{EnvIdx, Snapshot, UserIdx};

/// One change of a plan. In JSON: `action` (`buy`, `assign`, `reassign`, `allocate`, `set-flow-license`,
/// `change-owner`, `associate-app`), the fields the action names, `monthly_cost` (a purchase's, as
/// `{amount, currency}`), `rules`, and `turns` (the targeted decisions it is part of turning: `flow:ID`,
/// `app:ID/USER`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanChange {
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u64>,
    /// `reassign`: the user the unit is taken from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monthly_cost: Option<Money>,
    /// `buy` of a SKU held with no subscription (the scenario's bought-to-match convention): the units already
    /// in use that the new subscription records besides `quantity` (not priced: they were held before).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<u64>,
    pub rules: Vec<Rule>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub turns: Vec<String>,
}

impl PlanChange {
    fn new(action: &'static str) -> PlanChange {
        PlanChange {
            action,
            sku: None,
            quantity: None,
            from: None,
            user: None,
            environment: None,
            flow: None,
            app: None,
            license: None,
            monthly_cost: None,
            records: None,
            rules: Vec::new(),
            turns: Vec::new(),
        }
    }
}

/// Counts of the targeted decisions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Targets {
    /// Flows and app users looked at.
    pub flows: usize,
    pub app_users: usize,
    /// Of those, denied before the plan.
    pub denied: usize,
    /// Denied before, allowed once the plan is applied.
    pub turned: usize,
    /// Denied decisions no change turns (listed, never silently dropped).
    pub unfixable: Vec<String>,
    /// Targets still denied after the plan (should be empty; listed if not).
    pub not_turned: Vec<String>,
    /// Targets the atoms' plan left denied and that got the cheapest fix on the tenant as the plan left it.
    pub repaired: usize,
}

/// How the plan was found and how far it can be from the best.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bound {
    /// `exact` (branch and bound, finished: optimal) or `heuristic` (greedy and pruning).
    pub method: &'static str,
    pub optimal: bool,
    /// What the solver's plan buys per month, and a lower bound on what any plan buys; amounts summed over
    /// currencies (one currency with the seed catalog's licences). `requirements`: the distinct option lists
    /// the denied decisions come to (decisions with the same options are one variable).
    #[serde(with = "rust_decimal::serde::str")]
    pub plan: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub lower_bound: Decimal,
    /// `(plan - lower_bound) / plan`, in percent, two decimals.
    #[serde(with = "rust_decimal::serde::str")]
    pub gap_percent: Decimal,
    pub requirements: usize,
    pub atoms: usize,
    pub nodes: u64,
}

/// The optimiser's answer.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub tenant: String,
    pub at: NaiveDate,
    pub targets: Targets,
    pub changes: Vec<PlanChange>,
    /// The monthly bill before and after the plan, what the plan adds, the audit's per-flow sum (flows' headline
    /// fixes, plus each denied app user's cheapest fix priced alone), and the saving against it: each a list of
    /// `{amount, currency}`, one entry per currency involved.
    pub cost_before: Vec<Money>,
    pub cost_after: Vec<Money>,
    pub added: Vec<Money>,
    pub per_flow_sum: Vec<Money>,
    pub saving: Vec<Money>,
    pub bound: Bound,
    /// The body of `POST /v1/tenants/{t}/changes:batch` that makes the plan (`?dry_run=true` first).
    pub batch: Value,
    /// The same changes as the engine's writes, in order ([`super::apply_plan`] makes them).
    #[serde(skip)]
    pub writes: Vec<Change>,
}

/// One list per currency over the union of currencies of all the totals.
fn lists(all: &[&Totals]) -> Vec<Vec<Money>> {
    let currencies: BTreeSet<&String> = all.iter().flat_map(|t| t.0.keys()).collect();
    all.iter()
        .map(|t| {
            currencies
                .iter()
                .map(|c| Money::new(t.0.get(*c).copied().unwrap_or(Decimal::ZERO), c))
                .collect()
        })
        .collect()
}

fn target_name(snap: &Snapshot, t: Target) -> String {
    match t {
        Target::Flow(f) => format!("flow:{}", snap.flow_id(f)),
        Target::App(a, u) => format!("app:{}/{}", snap.app_id(a), snap.user_id(u)),
    }
}

fn allowed(snap: &Snapshot, after: &Snapshot, t: Target) -> bool {
    match t {
        Target::Flow(f) => after
            .flow_idx(snap.flow_id(f))
            .is_some_and(|g| decide_flow(after, g, None).allowed),
        Target::App(a, u) => match (after.app_idx(snap.app_id(a)), after.user_idx(snap.user_id(u))) {
            (Some(a), Some(u)) => decide_app(after, a, u).allowed,
            _ => false,
        },
    }
}

fn sku_id(snap: &Snapshot, sku: SkuIdx) -> String {
    snap.catalog().sku(sku).map_or_else(String::new, |d| d.id.clone())
}

fn price(snap: &Snapshot, sku: &str, units: u64) -> Option<Money> {
    let p = snap.catalog().sku_by_id(sku)?.price_at(snap.at())?;
    Some(Money::new(p.amount * Decimal::from(units), &p.currency))
}

fn add_rules(to: &mut Vec<Rule>, rules: impl IntoIterator<Item = Rule>) {
    for r in rules {
        if !to.contains(&r) {
            to.push(r);
        }
    }
    to.sort();
}

/// The picked atoms as plan changes and as the engine's writes, in the order they are made: purchases,
/// reassignments, assignments, allocations, then the flows' own settings.
fn realise(
    snap: &Snapshot,
    model: &Model,
    pricer: &Pricer,
    picked: &[u32],
    turns: &HashMap<u32, Vec<String>>,
) -> (Vec<PlanChange>, Vec<Change>) {
    let mut assigns: BTreeMap<SkuIdx, Vec<u32>> = BTreeMap::new();
    let mut process: HashMap<EnvIdx, u64> = HashMap::new();
    let mut capacity: HashMap<EnvIdx, u64> = HashMap::new();
    let mut env_turns: HashMap<EnvIdx, Vec<String>> = HashMap::new();
    let mut env_rules: HashMap<EnvIdx, Vec<Rule>> = HashMap::new();
    let mut flows: Vec<u32> = Vec::new();
    for id in picked {
        let Some(a) = model.get(*id) else { continue };
        let rules = model.rules.get(*id as usize).cloned().unwrap_or_default();
        let served = turns.get(id).cloned().unwrap_or_default();
        match a {
            Atom::Assign { sku, .. } => assigns.entry(*sku).or_default().push(*id),
            Atom::Process { flow } => {
                if let Some(e) = pricer.env_of_flow(*flow) {
                    *process.entry(e).or_insert(0) += 1;
                    env_turns.entry(e).or_default().extend(served);
                    add_rules(env_rules.entry(e).or_default(), rules);
                }
                flows.push(*id);
            }
            Atom::Capacity { env, .. } => {
                *capacity.entry(*env).or_insert(0) += 1;
                env_turns.entry(*env).or_default().extend(served);
                add_rules(env_rules.entry(*env).or_default(), rules);
            }
            Atom::Owner { .. } | Atom::App { .. } => flows.push(*id),
        }
    }
    let alloc = pricer.allocations(&process, &capacity);
    let mut need: BTreeMap<SkuIdx, u64> = assigns.iter().map(|(s, v)| (*s, v.len() as u64)).collect();
    let allocated: u64 = alloc.values().sum();
    if let Some(ps) = pricer.process_sku()
        && allocated > 0
    {
        *need.entry(ps).or_insert(0) += allocated;
    }
    let mut buys = Vec::new();
    let mut moves = Vec::new();
    let mut plain = Vec::new();
    let mut writes_buy = Vec::new();
    let mut writes_move = Vec::new();
    let mut writes_assign = Vec::new();
    for (sku, n) in &need {
        let id = sku_id(snap, *sku);
        let (buy, reclaimed) = pricer.buy(*sku, *n).unwrap_or((0, 0));
        let atoms = assigns.get(sku).map_or(&[][..], |v| v.as_slice());
        let mut served: Vec<String> = atoms
            .iter()
            .flat_map(|a| turns.get(a).cloned().unwrap_or_default())
            .collect();
        if Some(*sku) == pricer.process_sku() {
            served.extend(env_turns.values().flatten().cloned());
        }
        served.sort();
        served.dedup();
        if buy > 0 {
            let mut c = PlanChange::new("buy");
            c.sku = Some(id.clone());
            c.quantity = Some(buy);
            c.monthly_cost = price(snap, &id, buy);
            let mut rules = vec![Rule::Buy6, Rule::Buy8];
            let def = snap.catalog().sku(*sku);
            if def.is_some_and(|d| d.minimum > 1 || d.step > 1) {
                rules.push(Rule::Cat4);
            }
            for a in atoms {
                rules.extend(model.rules.get(*a as usize).into_iter().flatten().copied());
            }
            if Some(*sku) == pricer.process_sku() {
                rules.extend([Rule::Cat5, Rule::Flow14]);
            }
            add_rules(&mut c.rules, rules);
            c.turns = served;
            let recorded = pricer.unsubscribed_use(*sku);
            if recorded > 0 {
                c.records = Some(recorded);
            }
            buys.push(c);
            writes_buy.push(Change::Buy {
                sku: id.clone(),
                quantity: buy.saturating_add(recorded),
            });
        }
        let from = model.reclaim.get(sku).map_or(&[][..], |v| v.as_slice());
        for (k, a) in atoms.iter().enumerate() {
            let Some(Atom::Assign { user, .. }) = model.get(*a) else {
                continue;
            };
            let to = snap.user_id(*user).to_owned();
            let rules = model.rules.get(*a as usize).cloned().unwrap_or_default();
            let served = turns.get(a).cloned().unwrap_or_default();
            // The last `reclaimed` assignments take units back from users who left or use nothing.
            let back = (k as u64) >= (atoms.len() as u64).saturating_sub(reclaimed);
            let giver: Option<&UserIdx> = if back {
                from.get(k.saturating_sub(atoms.len().saturating_sub(reclaimed as usize)))
            } else {
                None
            };
            match giver {
                Some(g) => {
                    let mut c = PlanChange::new("reassign");
                    c.sku = Some(id.clone());
                    c.from = Some(snap.user_id(*g).to_owned());
                    c.user = Some(to.clone());
                    let mut r = rules;
                    r.push(Rule::Buy6);
                    if snap.user(*g).is_some_and(|u| u.left.is_some()) {
                        r.push(Rule::Flow24);
                    }
                    add_rules(&mut c.rules, r);
                    c.turns = served;
                    moves.push(c);
                    writes_move.push(Change::Remove {
                        user: snap.user_id(*g).to_owned(),
                        sku: id.clone(),
                    });
                    writes_assign.push(Change::Assign {
                        user: to,
                        sku: id.clone(),
                    });
                }
                None => {
                    let mut c = PlanChange::new("assign");
                    c.sku = Some(id.clone());
                    c.user = Some(to.clone());
                    add_rules(&mut c.rules, rules);
                    c.turns = served;
                    plain.push(c);
                    writes_assign.push(Change::Assign {
                        user: to,
                        sku: id.clone(),
                    });
                }
            }
        }
    }
    let mut allocs = Vec::new();
    let mut writes_alloc = Vec::new();
    let mut envs: Vec<(&EnvIdx, &u64)> = alloc.iter().collect();
    envs.sort();
    if let Some(ps) = pricer.process_sku() {
        let id = sku_id(snap, ps);
        for (e, k) in envs {
            let mut c = PlanChange::new("allocate");
            c.sku = Some(id.clone());
            c.quantity = Some(*k);
            c.environment = Some(snap.env_id(*e).to_owned());
            add_rules(&mut c.rules, env_rules.get(e).cloned().unwrap_or_default());
            add_rules(&mut c.rules, [Rule::Flow14]);
            let mut served = env_turns.get(e).cloned().unwrap_or_default();
            served.sort();
            served.dedup();
            c.turns = served;
            allocs.push(c);
            writes_alloc.push(Change::Allocate {
                environment: snap.env_id(*e).to_owned(),
                sku: id.clone(),
                quantity: *k,
            });
        }
    }
    let mut settings = Vec::new();
    let mut writes_flow = Vec::new();
    for id in flows {
        let (mut c, w) = match model.get(id) {
            Some(Atom::Process { flow }) => {
                let mut c = PlanChange::new("set-flow-license");
                c.flow = Some(snap.flow_id(*flow).to_owned());
                c.license = Some("process");
                (
                    c,
                    Change::SetProcess {
                        flow: snap.flow_id(*flow).to_owned(),
                    },
                )
            }
            Some(Atom::Owner { flow, user }) => {
                let mut c = PlanChange::new("change-owner");
                c.flow = Some(snap.flow_id(*flow).to_owned());
                c.user = Some(snap.user_id(*user).to_owned());
                (
                    c,
                    Change::SetOwner {
                        flow: snap.flow_id(*flow).to_owned(),
                        user: snap.user_id(*user).to_owned(),
                    },
                )
            }
            Some(Atom::App { flow, app }) => {
                let mut c = PlanChange::new("associate-app");
                c.flow = Some(snap.flow_id(*flow).to_owned());
                c.app = Some(snap.app_id(*app).to_owned());
                (
                    c,
                    Change::SetApp {
                        flow: snap.flow_id(*flow).to_owned(),
                        app: snap.app_id(*app).to_owned(),
                    },
                )
            }
            _ => continue,
        };
        add_rules(
            &mut c.rules,
            model.rules.get(id as usize).cloned().unwrap_or_default(),
        );
        c.turns = turns.get(&id).cloned().unwrap_or_default();
        settings.push(c);
        writes_flow.push(w);
    }
    let changes = [buys, moves, plain, allocs, settings].concat();
    let writes = [writes_buy, writes_move, writes_assign, writes_alloc, writes_flow].concat();
    (changes, writes)
}

/// The plan change of one of the engine's writes made by a repair (the cheapest fix of a target left denied).
fn repair_change(snap: &Snapshot, w: &Change, rule: Rule, target: &str) -> PlanChange {
    let mut c = match w {
        Change::Buy { sku, quantity } => {
            let mut c = PlanChange::new("buy");
            c.sku = Some(sku.clone());
            c.quantity = Some(*quantity);
            c.monthly_cost = price(snap, sku, *quantity);
            c.rules = vec![Rule::Buy6, Rule::Buy8];
            c
        }
        Change::Assign { user, sku } => {
            let mut c = PlanChange::new("assign");
            c.sku = Some(sku.clone());
            c.user = Some(user.clone());
            c
        }
        Change::Remove { user, sku } => {
            let mut c = PlanChange::new("remove");
            c.sku = Some(sku.clone());
            c.user = Some(user.clone());
            c
        }
        Change::Allocate {
            environment,
            sku,
            quantity,
        } => {
            let mut c = PlanChange::new("allocate");
            c.sku = Some(sku.clone());
            c.quantity = Some(*quantity);
            c.environment = Some(environment.clone());
            c.rules = vec![Rule::Flow14];
            c
        }
        Change::SetProcess { flow } => {
            let mut c = PlanChange::new("set-flow-license");
            c.flow = Some(flow.clone());
            c.license = Some("process");
            c.rules = vec![Rule::Flow1, Rule::Flow14];
            c
        }
        Change::SetOwner { flow, user } => {
            let mut c = PlanChange::new("change-owner");
            c.flow = Some(flow.clone());
            c.user = Some(user.clone());
            c.rules = vec![Rule::Flow24];
            c
        }
        Change::SetApp { flow, app } => {
            let mut c = PlanChange::new("associate-app");
            c.flow = Some(flow.clone());
            c.app = Some(app.clone());
            c.rules = vec![Rule::Flow9];
            c
        }
    };
    add_rules(&mut c.rules, [rule, Rule::Enf6]);
    c.turns = vec![target.to_owned()];
    c
}

/// Units of `sku` in use with no subscription in `snap` (none once an earlier write of the same repair buys it).
fn recorded_use(snap: &Snapshot, sku: &str, earlier: &[Change]) -> u64 {
    let Some(idx) = snap.catalog().sku_idx(sku) else {
        return 0;
    };
    let t = snap.tenant();
    let bought = earlier
        .iter()
        .any(|c| matches!(c, Change::Buy { sku: s, .. } if s == sku));
    if bought || t.subscribed.contains(&idx) {
        return 0;
    }
    [&t.assigned, &t.allocated]
        .iter()
        .map(|m| m.get(&idx).copied().unwrap_or(0))
        .sum()
}

/// The monthly cost of the licences in use: the bill ([`crate::buying::cost`]), plus the units of paid SKUs
/// held with no subscription (the scenario's bought-to-match convention) at their price on the day, so that a
/// purchase that records them (see [`PlanChange::records`]) adds only the units it buys.
pub(crate) fn monthly(snap: &Snapshot) -> Totals {
    let mut total = crate::buying::cost(snap).total;
    let t = snap.tenant();
    for (idx, n) in t.assigned.iter().chain(t.allocated.iter()) {
        if t.subscribed.contains(idx) {
            continue;
        }
        let Some(def) = snap.catalog().sku(*idx) else {
            continue;
        };
        if def.kind != crate::catalog::Kind::Paid {
            continue;
        }
        if let Some(p) = def.price_at(snap.at()) {
            total.add(&Money::new(p.amount * Decimal::from(*n), &p.currency));
        }
    }
    total
}

/// The scenario after `writes`, as a snapshot on the same day.
fn after(snap: &Snapshot, scenario: &crate::scenario::Scenario) -> Option<Snapshot> {
    Snapshot::new(Arc::clone(snap.catalog_arc()), scenario.clone(), snap.at()).ok()
}

/// Renders the solution: changes, the check on a copy of the tenant (with repairs), bills, and the batch.
pub(crate) fn render(
    snap: &Snapshot,
    audit: &Audit,
    model: &Model,
    pricer: &Pricer,
    solution: Option<Solution>,
    only: &Only,
) -> Plan {
    let picked: Vec<u32> = solution.as_ref().map(|s| s.picked.clone()).unwrap_or_default();
    // Which targets each picked atom serves: the first option of each requirement that the picked atoms cover.
    let mut is_picked = vec![false; model.atoms.len()];
    for a in &picked {
        if let Some(s) = is_picked.get_mut(*a as usize) {
            *s = true;
        }
    }
    let mut turns: HashMap<u32, Vec<String>> = HashMap::new();
    for r in &model.reqs {
        let chosen = r.options.iter().find(|o| {
            o.iter()
                .all(|a| is_picked.get(*a as usize).copied().unwrap_or(false))
        });
        for a in chosen.into_iter().flatten() {
            let list = turns.entry(*a).or_default();
            list.extend(r.targets.iter().map(|t| target_name(snap, *t)));
        }
    }
    let (mut changes, writes) = realise(snap, model, pricer, &picked, &turns);
    let mut scenario = snap.scenario().clone();
    let mut repaired = 0;
    let mut writes_all = writes.clone();
    let mut current = if apply_changes(&mut scenario, &writes, snap.at(), Some(snap)).is_ok() {
        after(snap, &scenario)
    } else {
        scenario = snap.scenario().clone();
        writes_all.clear();
        changes.clear();
        after(snap, &scenario)
    };
    let targets: Vec<Target> = model
        .reqs
        .iter()
        .flat_map(|r| r.targets.iter().copied())
        .collect();
    // Repairs: a target the atoms' plan left denied gets the cheapest fix on the tenant as the plan leaves it.
    for _ in 0..2 {
        let Some(now) = current.as_ref() else { break };
        let left: Vec<Target> = targets
            .iter()
            .copied()
            .filter(|t| !allowed(snap, now, *t))
            .collect();
        if left.is_empty() {
            break;
        }
        let index = Index::new(now);
        let world = World::new(now, &index);
        let mut ledger = Ledger::default();
        let mut more = Vec::new();
        for t in left {
            let name = target_name(snap, t);
            let fix = match t {
                Target::Flow(f) => now.flow_idx(snap.flow_id(f)).and_then(|g| {
                    let d = decide_flow(now, g, None);
                    world
                        .flow_fixes(now, &d)
                        .into_iter()
                        .next()
                        .map(|x| (x, Some(snap.flow_id(f))))
                }),
                Target::App(a, u) => match (now.app_idx(snap.app_id(a)), now.user_idx(snap.user_id(u))) {
                    (Some(a), Some(u)) => {
                        let d = decide_app(now, a, u);
                        world.app_fixes(now, &d).into_iter().next().map(|x| (x, None))
                    }
                    _ => None,
                },
            };
            let Some((fix, flow)) = fix else { continue };
            let mut w = Vec::new();
            if changes_of(now, &mut ledger, &fix, flow, &mut w).is_ok() {
                repaired += 1;
                changes.extend(w.iter().map(|c| repair_change(snap, c, fix.fix.rule, &name)));
                for c in &mut w {
                    if let Change::Buy { sku, quantity } = c {
                        let held = recorded_use(now, sku, &more);
                        if held > 0 {
                            *quantity = quantity.saturating_add(held);
                        }
                    }
                }
                more.extend(w);
            }
        }
        if more.is_empty() || apply_changes(&mut scenario, &more, snap.at(), None).is_err() {
            break;
        }
        writes_all.extend(more);
        current = after(snap, &scenario);
    }
    let final_snap = current;
    let mut not_turned = Vec::new();
    let mut turned = 0;
    for t in &targets {
        if final_snap.as_ref().is_some_and(|s| allowed(snap, s, *t)) {
            turned += 1;
        } else {
            not_turned.push(target_name(snap, *t));
        }
    }
    let before_bill = monthly(snap);
    let after_bill = final_snap.as_ref().map_or_else(|| before_bill.clone(), monthly);
    let mut added = Totals::default();
    for (c, v) in &after_bill.0 {
        let was = before_bill.0.get(c).copied().unwrap_or(Decimal::ZERO);
        added.add(&Money::new(*v - was, c));
    }
    for (c, v) in &before_bill.0 {
        if !after_bill.0.contains_key(c) {
            added.add(&Money::new(-*v, c));
        }
    }
    let per_flow = per_flow_sum(snap, audit, model, only);
    let mut saving = Totals::default();
    for (c, v) in per_flow.0.iter().chain(added.0.iter()) {
        saving.0.entry(c.clone()).or_insert(Decimal::ZERO);
        let _ = v;
    }
    for (c, s) in saving.0.iter_mut() {
        *s = per_flow.0.get(c).copied().unwrap_or(Decimal::ZERO)
            - added.0.get(c).copied().unwrap_or(Decimal::ZERO);
    }
    let mut l = lists(&[&before_bill, &after_bill, &added, &per_flow, &saving]).into_iter();
    let (cost_before, cost_after, added_l, per_flow_l, saving_l) = (
        l.next().unwrap_or_default(),
        l.next().unwrap_or_default(),
        l.next().unwrap_or_default(),
        l.next().unwrap_or_default(),
        l.next().unwrap_or_default(),
    );
    let (plan_cost, lower, optimal, nodes) = solution
        .as_ref()
        .map_or((Decimal::ZERO, Decimal::ZERO, true, 0), |s| {
            (s.cost, s.lower_bound, s.optimal, s.nodes)
        });
    let gap = if plan_cost > Decimal::ZERO {
        ((plan_cost - lower) / plan_cost * Decimal::from(100)).round_dp(2)
    } else {
        Decimal::ZERO
    };
    let flows_looked = match only {
        Only::Apps => 0,
        Only::Ids(ids) => snap
            .flows()
            .filter(|(_, f)| ids.iter().any(|x| **x == *f.id))
            .count(),
        _ => snap.flows().len(),
    };
    let app_users = match only {
        Only::Flows => 0,
        Only::Ids(ids) => snap
            .apps()
            .filter(|(_, a)| ids.iter().any(|x| **x == *a.id))
            .map(|(_, a)| a.users.len())
            .sum(),
        _ => snap.apps().map(|(_, a)| a.users.len()).sum(),
    };
    Plan {
        tenant: snap.scenario().tenant.id.clone(),
        at: snap.at(),
        targets: Targets {
            flows: flows_looked,
            app_users,
            denied: targets.len() + model.unfixable.len(),
            turned,
            unfixable: model.unfixable.iter().map(|t| target_name(snap, *t)).collect(),
            not_turned,
            repaired,
        },
        batch: batch(snap, &scenario, &writes_all),
        writes: writes_all,
        changes,
        cost_before,
        cost_after,
        added: added_l,
        per_flow_sum: per_flow_l,
        saving: saving_l,
        bound: Bound {
            method: if optimal && solution.as_ref().is_some_and(|s| s.nodes > 0) || model.reqs.is_empty() {
                "exact"
            } else {
                "heuristic"
            },
            optimal,
            plan: plan_cost.round_dp(2),
            lower_bound: lower.round_dp(2),
            gap_percent: gap,
            requirements: model.reqs.len(),
            atoms: model.atoms.len(),
            nodes,
        },
    }
}

/// What the audit's per-flow choice costs for the targets: the headline fixes of the targeted flows, plus the
/// cheapest fix of each denied app user priced alone.
fn per_flow_sum(snap: &Snapshot, audit: &Audit, model: &Model, only: &Only) -> Totals {
    let mut t = Totals::default();
    for row in &audit.flows {
        let wanted = match only {
            Only::Apps => false,
            Only::Ids(ids) => ids.contains(&row.flow),
            _ => true,
        };
        if !wanted {
            continue;
        }
        for f in &row.headline_fixes {
            if let Some(m) = &f.fix.monthly_cost {
                t.add(m);
            }
        }
    }
    for (_, m) in &model.app_baseline {
        t.add(m);
    }
    let _ = snap;
    t
}

/// `POST …/changes:batch`: the purchases as new subscriptions, then each changed user's, environment's and
/// flow's new fields as a merge patch (a user's whole licence list, an environment's allocation of each SKU).
fn batch(snap: &Snapshot, after: &crate::scenario::Scenario, writes: &[Change]) -> Value {
    let before = snap.scenario();
    let mut out = Vec::new();
    for w in writes {
        if let Change::Buy { sku, quantity } = w {
            out.push(json!({
                "op": "create",
                "collection": "subscriptions",
                "item": {"sku": sku, "quantity": quantity, "channel": "admin", "start": snap.at()},
            }));
        }
    }
    let mut users: BTreeSet<&str> = BTreeSet::new();
    let mut envs: BTreeSet<&str> = BTreeSet::new();
    let mut flows: BTreeSet<&str> = BTreeSet::new();
    for w in writes {
        match w {
            Change::Assign { user, .. } | Change::Remove { user, .. } => {
                users.insert(user);
            }
            Change::Allocate { environment, .. } => {
                envs.insert(environment);
            }
            Change::SetProcess { flow } | Change::SetOwner { flow, .. } | Change::SetApp { flow, .. } => {
                flows.insert(flow);
            }
            Change::Buy { .. } => {}
        }
    }
    let user_at: HashMap<&str, usize> = after
        .users
        .iter()
        .enumerate()
        .map(|(i, x)| (x.id.as_str(), i))
        .collect();
    let flow_at: HashMap<&str, usize> = after
        .flows
        .iter()
        .enumerate()
        .map(|(i, x)| (x.id.as_str(), i))
        .collect();
    for u in users {
        if let Some(x) = user_at.get(u).and_then(|i| after.users.get(*i)) {
            out.push(
                json!({"op": "patch", "collection": "users", "id": u, "item": {"licenses": x.licenses}}),
            );
        }
    }
    for e in envs {
        let (Some(x), Some(was)) = (
            after.environments.iter().find(|x| x.id == e),
            before.environments.iter().find(|x| x.id == e),
        ) else {
            continue;
        };
        let changed: BTreeMap<&String, &u64> = x
            .allocations
            .iter()
            .filter(|(k, v)| was.allocations.get(*k) != Some(*v))
            .collect();
        out.push(
            json!({"op": "patch", "collection": "environments", "id": e, "item": {"allocations": changed}}),
        );
    }
    for f in flows {
        let (Some(x), Some(was)) = (
            flow_at.get(f).and_then(|i| after.flows.get(*i)),
            flow_at
                .get(f)
                .and_then(|i| before.flows.get(*i))
                .filter(|x| x.id == f),
        ) else {
            continue;
        };
        let mut item = serde_json::Map::new();
        if x.license != was.license {
            item.insert(
                "license".into(),
                serde_json::to_value(x.license).unwrap_or(Value::Null),
            );
        }
        if x.owner != was.owner {
            item.insert("owner".into(), json!(x.owner));
        }
        if x.app != was.app {
            item.insert("app".into(), json!(x.app));
        }
        out.push(json!({"op": "patch", "collection": "flows", "id": f, "item": item}));
    }
    json!({ "changes": out })
}
