//! Model building: the targeted decisions that are denied, each with the ways it can be turned (options), each
//! option a set of atoms (one licence unit on a user, a flow set to its process licence, a unit of capacity in an
//! environment, a new owner, an associated app).
//!
//! Why atoms: the fixes the engine lists ([`crate::fixes`]) are each checked alone, in a dry run; the optimiser
//! needs to know what two fixes have in common (one licence on an owner turns all of that owner's flows, one
//! process licence on a parent turns its children, FLOW-7, FLOW-15), so every fix is broken into the writes it
//! makes ([`crate::dryrun::Change`]) with the purchases left out: what to buy is worked out once, for the whole
//! plan, from the units the atoms use ([`super::solve`]). An option is listed only if its dry run turns its
//! decision, like a fix.

use std::collections::{BTreeMap, HashMap};

use crate::apps::decide_app;
use crate::catalog::{Capability, Kind, SkuIdx};
use crate::dryrun::{Change, Index, Ledger, World, changes_of};
use crate::fixes::CheckedFix;
use crate::rule::Rule;
use crate::scenario::FlowLicense;
use crate::snapshot::{AppIdx, EnvIdx, FlowIdx, Snapshot, UserIdx};

/// One write the plan may make, without its purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Atom {
    /// The `nth` new unit of `sku` on `user` (per-app passes stack, APP-1: a user short of two passes needs the
    /// first and the second).
    Assign { user: UserIdx, sku: SkuIdx, nth: u32 },
    /// The flow set to a process licence, taking a unit of its environment's pool (FLOW-1, FLOW-14).
    Process { flow: FlowIdx },
    /// The `nth` more unit allocated to an environment whose flows are in overage (FLOW-14, FLOW-16).
    Capacity { env: EnvIdx, nth: u64 },
    /// The flow's owner changed to a user who holds a premium licence (FLOW-24).
    Owner { flow: FlowIdx, user: UserIdx },
    /// The flow associated with an app of its environment (FLOW-9, ENF-6).
    App { flow: FlowIdx, app: AppIdx },
}

/// A decision the plan must turn to allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// A flow (for every invoking user, as the audit decides it).
    Flow(FlowIdx),
    /// A user of an app.
    App(AppIdx, UserIdx),
}

/// Denied decisions with the same options (the atom sets that each turn it): one variable for all of them. A
/// user of several apps has one per app with the same options (passes for all their apps, or one per user
/// licence, APP-1); instant flows run by the same users, or children of one parent, often share theirs too.
#[derive(Debug, Clone)]
pub(crate) struct Requirement {
    pub targets: Vec<Target>,
    /// Atom ids, each option sorted and deduplicated; the options deduplicated.
    pub options: Vec<Vec<u32>>,
}

/// The whole covering problem.
#[derive(Debug, Default)]
pub(crate) struct Model {
    pub atoms: Vec<Atom>,
    /// The rules that make each atom part of a fix (the fixes' rules, and the rule of the atom's kind).
    pub rules: Vec<Vec<Rule>>,
    ids: HashMap<Atom, u32>,
    pub reqs: Vec<Requirement>,
    /// Where each distinct option list is in `reqs`.
    grouped: HashMap<Vec<Vec<u32>>, usize>,
    /// Denied decisions nothing turns.
    pub unfixable: Vec<Target>,
    /// The SKU process licences are bought as (CAT-5), on the evaluation day.
    pub process_sku: Option<SkuIdx>,
    /// Units assigned to users who left or who use no premium feature, that can be taken back, per SKU: one
    /// entry per unit, users who left first.
    pub reclaim: BTreeMap<SkuIdx, Vec<UserIdx>>,
    /// Each denied app user's cheapest fix, priced alone (the per-decision sum the plan is compared with).
    pub app_baseline: Vec<(Target, crate::money::Money)>,
}

impl Model {
    fn atom(&mut self, a: Atom, rules: &[Rule]) -> u32 {
        let id = match self.ids.get(&a) {
            Some(id) => *id,
            None => {
                let id = u32::try_from(self.atoms.len()).unwrap_or(u32::MAX);
                self.atoms.push(a);
                self.rules.push(Vec::new());
                self.ids.insert(a, id);
                id
            }
        };
        if let Some(r) = self.rules.get_mut(id as usize) {
            for x in rules {
                if !r.contains(x) {
                    r.push(*x);
                }
            }
        }
        id
    }

    /// The atom with this id.
    pub fn get(&self, id: u32) -> Option<&Atom> {
        self.atoms.get(id as usize)
    }
}

/// Which decisions to target.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Only {
    /// Every flow and every app user.
    #[default]
    All,
    Flows,
    Apps,
    /// These flows and apps (by id): all users of a named app.
    Ids(Vec<String>),
}

impl Only {
    /// `all` (or nothing), `flows`, `apps`, or a comma-separated list of flow and app ids of `snap`; the error
    /// names the first id that is neither (the CLI's `--only` and the API's `?only=` read it alike).
    pub fn parse(snap: &crate::Snapshot, text: Option<&str>) -> Result<Only, String> {
        Ok(match text.map(str::trim) {
            None | Some("" | "all") => Only::All,
            Some("flows") => Only::Flows,
            Some("apps") => Only::Apps,
            Some(list) => {
                let ids: Vec<String> = list
                    .split(',')
                    .map(|x| x.trim().to_owned())
                    .filter(|x| !x.is_empty())
                    .collect();
                if let Some(id) = ids
                    .iter()
                    .find(|id| snap.flow_idx(id).is_none() && snap.app_idx(id).is_none())
                {
                    return Err(format!("no flow or app `{id}`"));
                }
                Only::Ids(ids)
            }
        })
    }

    fn flow(&self, id: &str) -> bool {
        match self {
            Only::All | Only::Flows => true,
            Only::Apps => false,
            Only::Ids(ids) => ids.iter().any(|x| x == id),
        }
    }
    fn app(&self, id: &str) -> bool {
        match self {
            Only::All | Only::Apps => true,
            Only::Flows => false,
            Only::Ids(ids) => ids.iter().any(|x| x == id),
        }
    }
}

/// The atoms of one fix listed for `flow` (purchases left out), and whether it could be read.
fn atoms_of(
    model: &mut Model,
    snap: &Snapshot,
    fix: &CheckedFix,
    flow: Option<&str>,
    extra: &[Rule],
) -> Option<Vec<u32>> {
    let mut changes = Vec::new();
    changes_of(snap, &mut Ledger::default(), fix, flow, &mut changes).ok()?;
    let mut rules = vec![fix.fix.rule];
    rules.extend_from_slice(extra);
    for s in &fix.steps {
        rules.push(s.fix.rule);
    }
    atoms_of_changes(model, snap, &changes, &rules)
}

fn atoms_of_changes(
    model: &mut Model,
    snap: &Snapshot,
    changes: &[Change],
    rules: &[Rule],
) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    let mut nth: HashMap<(UserIdx, SkuIdx), u32> = HashMap::new();
    let process = changes.iter().any(|c| matches!(c, Change::SetProcess { .. }));
    for c in changes {
        let atom = match c {
            Change::Buy { .. } => continue,
            Change::Assign { user, sku } => {
                let user = snap.user_idx(user)?;
                let sku = snap.catalog().sku_idx(sku)?;
                let n = nth.entry((user, sku)).or_insert(0);
                *n += 1;
                Atom::Assign { user, sku, nth: *n }
            }
            Change::Remove { .. } => return None,
            // The units a process licence takes are worked out for the whole plan, per environment.
            Change::Allocate { .. } if process => continue,
            Change::Allocate {
                environment,
                quantity,
                ..
            } => {
                let env = snap.env_idx(environment)?;
                for k in 1..=*quantity {
                    out.push(model.atom(Atom::Capacity { env, nth: k }, &[rules, &[Rule::Flow14]].concat()));
                }
                continue;
            }
            Change::SetProcess { flow } => Atom::Process {
                flow: snap.flow_idx(flow)?,
            },
            Change::SetOwner { flow, user } => Atom::Owner {
                flow: snap.flow_idx(flow)?,
                user: snap.user_idx(user)?,
            },
            Change::SetApp { flow, app } => Atom::App {
                flow: snap.flow_idx(flow)?,
                app: snap.app_idx(app)?,
            },
        };
        let kind = match atom {
            Atom::Process { .. } => &[Rule::Flow1, Rule::Flow14][..],
            Atom::Owner { .. } => &[Rule::Flow24][..],
            Atom::App { .. } => &[Rule::Flow9][..],
            _ => &[][..],
        };
        out.push(model.atom(atom, &[rules, kind].concat()));
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

/// The atoms of the audit's headline fixes (the per-flow choice), as a plan to start from: the optimiser keeps
/// the better of it and its own greedy, so its plan never costs more than the per-flow sum it is compared with.
pub(crate) fn headline_atoms(model: &mut Model, snap: &Snapshot, audit: &crate::audit::Audit) -> Vec<u32> {
    let mut out = Vec::new();
    for row in &audit.flows {
        for fix in &row.headline_fixes {
            if let Some(o) = atoms_of(model, snap, fix, Some(&row.flow), &[]) {
                out.extend(o);
            }
        }
    }
    out
}

/// Units that can be taken back: every paid licence of a user who left (it grants nothing, FLOW-24), and the
/// paid licences of a user who owns, co-owns and runs no flow and uses no app (nothing they do needs it).
fn reclaimable(snap: &Snapshot) -> BTreeMap<SkuIdx, Vec<UserIdx>> {
    let s = snap.scenario();
    let mut busy = vec![false; s.users.len()];
    let mut mark = |id: &str| {
        if let Some(b) = snap.user_idx(id).and_then(|u| busy.get_mut(u.0 as usize)) {
            *b = true;
        }
    };
    for f in &s.flows {
        for u in std::iter::once(&f.owner).chain(&f.co_owners).chain(&f.run_by) {
            mark(u);
        }
    }
    for a in &s.apps {
        for u in a.users.iter().chain(&a.owner) {
            mark(u);
        }
    }
    for e in &s.environments {
        if let Some(o) = &e.owner {
            mark(o);
        }
    }
    let mut left: BTreeMap<SkuIdx, Vec<UserIdx>> = BTreeMap::new();
    let mut idle: BTreeMap<SkuIdx, Vec<UserIdx>> = BTreeMap::new();
    let catalog = snap.catalog();
    for (i, u) in snap.users() {
        let gone = u.left.is_some();
        if !gone && busy.get(i.0 as usize).copied().unwrap_or(true) {
            continue;
        }
        let Some(rec) = s.users.get(i.0 as usize) else {
            continue;
        };
        for l in &rec.licenses {
            let Some(sku) = catalog.sku_idx(l) else { continue };
            if catalog.sku(sku).is_some_and(|d| d.kind == Kind::Paid) {
                let to = if gone { &mut left } else { &mut idle };
                to.entry(sku).or_default().push(i);
            }
        }
    }
    for (sku, users) in idle {
        left.entry(sku).or_default().extend(users);
    }
    left
}

/// Builds the model: the denied decisions among `only`, with their options. `flows` are the audit's flows at
/// risk with their fixes (every fix listed turns its flow alone). `tick` is called once per decision looked at.
pub(crate) fn build(
    snap: &Snapshot,
    flows: &[(FlowIdx, &[CheckedFix])],
    only: &Only,
    tick: &mut dyn FnMut(u64),
) -> Model {
    let index = Index::new(snap);
    let world = World::new(snap, &index);
    let mut model = Model {
        process_sku: snap
            .catalog()
            .cheapest_granting(Capability::Process, snap.at())
            .map(|(i, _)| i),
        reclaim: reclaimable(snap),
        ..Model::default()
    };
    let substitutes = substitutes(snap, &model.reclaim);
    for (flow, fixes) in flows {
        tick(1);
        let Some(f) = snap.flow(*flow) else { continue };
        if !only.flow(&f.id) {
            continue;
        }
        let id = f.id.to_string();
        let mut options: Vec<Vec<u32>> = Vec::new();
        for fix in fixes.iter() {
            if let Some(o) = atoms_of(&mut model, snap, fix, Some(&id), &[]) {
                options.push(o);
            }
        }
        // The same licences as another SKU that grants at least as much: units held spare or reclaimable, or
        // on sale when the fix named units that can no longer be bought (CAT-4).
        let mut alternatives = Vec::new();
        for o in &options {
            alternatives.extend(substituted(&model, o, &substitutes));
        }
        for (users, sku, rules) in alternatives {
            let mut changes = vec![Change::Buy {
                sku: snap.catalog().sku(sku).map_or_else(String::new, |d| d.id.clone()),
                quantity: users.len() as u64,
            }];
            changes.extend(users.iter().map(|u| Change::Assign {
                user: snap.user_id(*u).to_owned(),
                sku: snap.catalog().sku(sku).map_or_else(String::new, |d| d.id.clone()),
            }));
            if world.flow_allowed(*flow, None, &changes)
                && let Some(o) = atoms_of_changes(&mut model, snap, &changes, &rules)
            {
                options.push(o);
            }
        }
        // FLOW-7, FLOW-15: a process licence on a parent covers it with the parent's whole tree.
        for up in ancestors(snap, *flow) {
            let (Some(r), Some(sku)) = (snap.flow(up), model.process_sku) else {
                continue;
            };
            if r.license == FlowLicense::Process {
                continue;
            }
            let changes = process_changes(snap, sku, up);
            if world.flow_allowed(*flow, None, &changes)
                && let Some(o) = atoms_of_changes(&mut model, snap, &changes, &[Rule::Flow7, Rule::Flow15])
            {
                options.push(o);
            }
        }
        push(&mut model, Target::Flow(*flow), options);
    }
    close_apps(snap, &world, &mut model, only, tick);
    close(snap, &world, &mut model);
    model
}

/// The app users' requirements (APP-1: per-app passes or a per-user licence, each checked in a dry run).
fn close_apps(snap: &Snapshot, world: &World<'_>, model: &mut Model, only: &Only, tick: &mut dyn FnMut(u64)) {
    if !matches!(only, Only::Flows) {
        for (a, app) in snap.apps() {
            if !only.app(&app.id) {
                continue;
            }
            for &u in &app.users {
                tick(1);
                let d = decide_app(snap, a, u);
                if d.allowed {
                    continue;
                }
                let fixes = world.app_fixes(snap, &d);
                if let Some(m) = fixes.first().and_then(|f| f.fix.monthly_cost.clone()) {
                    model.app_baseline.push((Target::App(a, u), m));
                }
                let mut options = Vec::new();
                for fix in &fixes {
                    let rules = match fix.fix.sku_idx.and_then(|s| snap.catalog().sku(s)) {
                        Some(d) if d.grants.capabilities.has(Capability::AppsPerApp) => {
                            &[Rule::App1, Rule::Cat1][..]
                        }
                        Some(d) if d.grants.capabilities.has(Capability::AppsPremium) => {
                            &[Rule::App1, Rule::Cat2][..]
                        }
                        _ => &[][..],
                    };
                    if let Some(o) = atoms_of(model, snap, fix, None, rules) {
                        options.push(o);
                    }
                }
                push(model, Target::App(a, u), options);
            }
        }
    }
}

fn push(model: &mut Model, target: Target, mut options: Vec<Vec<u32>>) {
    options.retain(|o| !o.is_empty());
    options.sort();
    options.dedup();
    if options.is_empty() {
        model.unfixable.push(target);
        return;
    }
    match model.grouped.get(&options).and_then(|i| model.reqs.get_mut(*i)) {
        Some(r) => r.targets.push(target),
        None => {
            model.grouped.insert(options.clone(), model.reqs.len());
            model.reqs.push(Requirement {
                targets: vec![target],
                options,
            });
        }
    }
}

/// The parents of `flow`, nearest first (at most as many as there are flows: a cycle ends the walk).
fn ancestors(snap: &Snapshot, flow: FlowIdx) -> Vec<FlowIdx> {
    let mut out = Vec::new();
    let mut at = flow;
    while let Some(p) = snap.flow(at).and_then(|f| f.parent) {
        if p == flow || out.contains(&p) || out.len() > snap.flows().len() {
            break;
        }
        out.push(p);
        at = p;
    }
    out
}

/// The writes of a process licence for `flow`: a unit bought, allocated to its environment, and set.
fn process_changes(snap: &Snapshot, sku: SkuIdx, flow: FlowIdx) -> Vec<Change> {
    let id = snap.catalog().sku(sku).map_or_else(String::new, |d| d.id.clone());
    let env = snap.flow(flow).map_or("", |f| snap.env_id(f.env)).to_owned();
    vec![
        Change::Buy {
            sku: id.clone(),
            quantity: 1,
        },
        Change::Allocate {
            environment: env,
            sku: id,
            quantity: 1,
        },
        Change::SetProcess {
            flow: snap.flow_id(flow).to_owned(),
        },
    ]
}

/// Closes the options under the atoms other requirements brought: a licence that one decision's fix assigns to
/// a user may turn another decision of that user too (Power Automate Premium for an invoker also covers the
/// standard flow a per-app pass was listed for), so each option made of one SKU for some users is tried with
/// every other SKU the model assigns to all of them, in a dry run of every decision of the requirement.
fn close(snap: &Snapshot, world: &World<'_>, model: &mut Model) {
    let mut skus_of: HashMap<UserIdx, Vec<SkuIdx>> = HashMap::new();
    for a in &model.atoms {
        if let Atom::Assign { user, sku, nth: 1 } = a {
            let list = skus_of.entry(*user).or_default();
            if !list.contains(sku) {
                list.push(*sku);
            }
        }
    }
    for r in 0..model.reqs.len() {
        let Some(req) = model.reqs.get(r) else { continue };
        let targets = req.targets.clone();
        let mut tries: Vec<(Vec<UserIdx>, SkuIdx, Vec<Rule>)> = Vec::new();
        for o in &req.options {
            if let Some((users, own, rules)) = single_sku(model, o) {
                let common: Vec<SkuIdx> = users
                    .first()
                    .and_then(|u| skus_of.get(u))
                    .into_iter()
                    .flatten()
                    .copied()
                    .filter(|s| {
                        *s != own
                            && users
                                .iter()
                                .all(|u| skus_of.get(u).is_some_and(|l| l.contains(s)))
                    })
                    .collect();
                for s in common {
                    tries.push((users.clone(), s, rules.clone()));
                }
            }
        }
        for (users, sku, rules) in tries {
            let id = snap.catalog().sku(sku).map_or_else(String::new, |d| d.id.clone());
            let mut changes = vec![Change::Buy {
                sku: id.clone(),
                quantity: users.len() as u64,
            }];
            changes.extend(users.iter().map(|u| Change::Assign {
                user: snap.user_id(*u).to_owned(),
                sku: id.clone(),
            }));
            let Some(o) = atoms_of_changes(model, snap, &changes, &rules) else {
                continue;
            };
            if model.reqs.get(r).is_some_and(|x| x.options.contains(&o)) {
                continue;
            }
            let turns = targets.iter().all(|t| match *t {
                Target::Flow(f) => world.flow_allowed(f, None, &changes),
                Target::App(a, u) => world.app_allowed(a, u, &changes),
            });
            if turns && let Some(x) = model.reqs.get_mut(r) {
                x.options.push(o);
                x.options.sort();
            }
        }
    }
}

/// For each paid SKU, the other SKUs that grant at least its capabilities and that a plan can use: held spare,
/// reclaimable, or on sale on the evaluation day; cheapest first.
fn substitutes(snap: &Snapshot, reclaim: &BTreeMap<SkuIdx, Vec<UserIdx>>) -> HashMap<SkuIdx, Vec<SkuIdx>> {
    let catalog = snap.catalog();
    let at = snap.at();
    let usable: Vec<(SkuIdx, &crate::catalog::Sku)> = catalog
        .skus
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some((SkuIdx(u16::try_from(i).ok()?), s)))
        .filter(|(i, s)| {
            s.kind == Kind::Paid
                && s.scope == crate::catalog::Scope::User
                && (s.purchasable_on(at) && s.price_at(at).is_some()
                    || Ledger::default().spare(snap, *i) > 0
                    || reclaim.get(i).is_some_and(|r| !r.is_empty()))
        })
        .collect();
    let mut out = HashMap::new();
    for (i, s) in catalog.skus.iter().enumerate() {
        let Ok(i) = u16::try_from(i) else { continue };
        if s.kind != Kind::Paid || s.scope != crate::catalog::Scope::User {
            continue;
        }
        let caps = s.grants.capabilities;
        let mut subs: Vec<(SkuIdx, rust_decimal::Decimal)> = usable
            .iter()
            .filter(|(j, t)| j.0 != i && caps.iter().all(|c| t.grants.capabilities.has(c)))
            .map(|(j, t)| {
                (
                    *j,
                    t.price_at(at).map_or(rust_decimal::Decimal::MAX, |p| p.amount),
                )
            })
            .collect();
        subs.sort_by_key(|(_, p)| *p);
        out.insert(SkuIdx(i), subs.into_iter().map(|(j, _)| j).take(3).collect());
    }
    out
}

/// An option made only of one unit of one SKU for some users: the users, the SKU and the atoms' rules.
fn single_sku(model: &Model, option: &[u32]) -> Option<(Vec<UserIdx>, SkuIdx, Vec<Rule>)> {
    let mut users = Vec::new();
    let mut sku = None;
    let mut rules = Vec::new();
    for id in option {
        match model.get(*id) {
            Some(Atom::Assign { user, sku: s, nth: 1 }) if sku.is_none_or(|x| x == *s) => {
                users.push(*user);
                sku = Some(*s);
                rules.extend(model.rules.get(*id as usize).into_iter().flatten().copied());
            }
            _ => return None,
        }
    }
    rules.sort();
    rules.dedup();
    Some((users, sku?, rules))
}

/// An option made only of one unit of one SKU for some users, with that SKU swapped for each substitute.
fn substituted(
    model: &Model,
    option: &[u32],
    subs: &HashMap<SkuIdx, Vec<SkuIdx>>,
) -> Vec<(Vec<UserIdx>, SkuIdx, Vec<Rule>)> {
    let Some((users, sku, rules)) = single_sku(model, option) else {
        return Vec::new();
    };
    subs.get(&sku)
        .into_iter()
        .flatten()
        .map(|t| (users.clone(), *t, rules.clone()))
        .collect()
}
