//! The solver: which atoms to pick so that every requirement has one option whose atoms are all picked, at the
//! least monthly cost of what has to be bought for them.
//!
//! The cost of a set of atoms is exact, not a sum of fixed prices: per SKU, units come first from spare units
//! (bought, unassigned), then from units taken back from users who left or use nothing (BUY-6), and only the rest
//! is bought, topped up to the SKU's purchase minimum and step on the holding (CAT-4); process licences are
//! allocated per environment only beyond the environment's free units (FLOW-14), from the tenant's unallocated
//! units first. So the cost never falls when an atom is added, which makes the exact search's pruning sound.
//!
//! Small tenants get an exact branch and bound; large ones a greedy (cheapest cost per newly turned decision,
//! with lazily refreshed ratios) followed by dropping what is not needed, and a lower bound to state the gap
//! against. Amounts in several currencies are never converted (CAT-13): the solver compares the sum of the
//! amounts, which is the exact order whenever one currency is involved, as with the seed catalog's licences.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use rust_decimal::Decimal;

use super::model::{Atom, Model};
use crate::catalog::SkuIdx;
use crate::dryrun::Ledger;
use crate::snapshot::{EnvIdx, Snapshot};

/// What one SKU's units cost the plan.
#[derive(Debug, Clone)]
struct SkuTerms {
    price: Decimal,
    purchasable: bool,
    spare: u64,
    reclaimable: u64,
    /// Units held (subscribed).
    held: u64,
    /// Units in use of a SKU with no subscription (the scenario's bought-to-match convention): a purchase of
    /// such a SKU is written as a subscription that records them too (else the server's units check, BUY-6,
    /// would find them beyond the units bought), but they are not priced as new (they were held before).
    unsubscribed_use: u64,
    minimum: u64,
    step: u64,
}

/// Prices atoms against the tenant.
#[derive(Debug)]
pub(crate) struct Pricer {
    skus: HashMap<SkuIdx, SkuTerms>,
    /// Free process units per environment (allocated beyond its flows' and machines' demand).
    free: HashMap<EnvIdx, u64>,
    flow_env: Vec<EnvIdx>,
    process_sku: Option<SkuIdx>,
}

impl Pricer {
    pub(crate) fn new(snap: &Snapshot, model: &Model) -> Pricer {
        let mut skus = HashMap::new();
        let ledger = Ledger::default();
        let t = snap.tenant();
        let mut terms = |sku: SkuIdx| {
            let Some(def) = snap.catalog().sku(sku) else {
                return;
            };
            let subscribed = t.subscribed.contains(&sku);
            let used = [&t.assigned, &t.allocated]
                .iter()
                .map(|m| m.get(&sku).copied().unwrap_or(0))
                .fold(0u64, u64::saturating_add);
            let price = def.price_at(snap.at());
            skus.entry(sku).or_insert_with(|| SkuTerms {
                price: price.map_or(Decimal::ZERO, |p| p.amount),
                purchasable: def.purchasable_on(snap.at()) && price.is_some(),
                spare: ledger.spare(snap, sku),
                reclaimable: model.reclaim.get(&sku).map_or(0, |r| r.len() as u64),
                held: if subscribed {
                    t.units.get(&sku).copied().unwrap_or(0)
                } else {
                    0
                },
                unsubscribed_use: if subscribed { 0 } else { used },
                minimum: u64::from(def.minimum),
                step: u64::from(def.step.max(1)),
            });
        };
        for a in &model.atoms {
            if let Atom::Assign { sku, .. } = a {
                terms(*sku);
            }
        }
        if let Some(p) = model.process_sku {
            terms(p);
        }
        let free = snap
            .envs()
            .map(|(i, e)| {
                let demand = e.process_demand.saturating_add(e.bot_demand);
                (i, e.process_units.saturating_sub(demand))
            })
            .collect();
        Pricer {
            skus,
            free,
            flow_env: snap.flows().map(|(_, f)| f.env).collect(),
            process_sku: model.process_sku,
        }
    }

    /// Units of `sku` to buy so that `need` more can be handed out, and the units taken back for it; `None`
    /// when they cannot be had (not on sale on the day, CAT-4).
    pub(crate) fn buy(&self, sku: SkuIdx, need: u64) -> Option<(u64, u64)> {
        if need == 0 {
            return Some((0, 0));
        }
        let t = self.skus.get(&sku)?;
        let reclaimed = need.saturating_sub(t.spare).min(t.reclaimable);
        let short = need.saturating_sub(t.spare).saturating_sub(reclaimed);
        if short == 0 {
            return Some((0, reclaimed));
        }
        if !t.purchasable {
            return None;
        }
        // CAT-4: the minimum and step apply to the holding after the purchase, as `Ledger::to_buy` has it.
        let mut buy = short.max(t.minimum.saturating_sub(t.held));
        let over = t.held.saturating_add(buy).saturating_sub(t.minimum) % t.step;
        if over != 0 {
            buy = buy.saturating_add(t.step - over);
        }
        Some((buy, reclaimed))
    }

    fn sku_cost(&self, sku: SkuIdx, need: u64) -> Option<Decimal> {
        let (buy, _) = self.buy(sku, need)?;
        let price = self.skus.get(&sku).map_or(Decimal::ZERO, |t| t.price);
        Some(price * Decimal::from(buy))
    }

    /// Process units to allocate for these per-environment counts of process atoms and capacity atoms.
    pub(crate) fn allocations(
        &self,
        process: &HashMap<EnvIdx, u64>,
        capacity: &HashMap<EnvIdx, u64>,
    ) -> HashMap<EnvIdx, u64> {
        let mut out: HashMap<EnvIdx, u64> = HashMap::new();
        for (e, n) in process {
            let free = self.free.get(e).copied().unwrap_or(0);
            let k = n.saturating_sub(free);
            if k > 0 {
                *out.entry(*e).or_insert(0) += k;
            }
        }
        for (e, n) in capacity {
            if *n > 0 {
                *out.entry(*e).or_insert(0) += n;
            }
        }
        out
    }

    /// The cost of a set of atoms (ids into `model`); `None` when infeasible.
    pub(crate) fn cost(&self, model: &Model, picked: impl Iterator<Item = u32>) -> Option<Decimal> {
        let mut t = Tally::default();
        for id in picked {
            t.count(self, model.get(id)?, 1);
        }
        t.total(self)
    }

    /// Units of `sku` in use without a subscription (see [`SkuTerms::unsubscribed_use`]).
    pub(crate) fn unsubscribed_use(&self, sku: SkuIdx) -> u64 {
        self.skus.get(&sku).map_or(0, |t| t.unsubscribed_use)
    }

    pub(crate) fn env_of_flow(&self, f: crate::snapshot::FlowIdx) -> Option<EnvIdx> {
        self.flow_env.get(f.0 as usize).copied()
    }

    pub(crate) fn process_sku(&self) -> Option<SkuIdx> {
        self.process_sku
    }
}

/// Units the picked atoms use: per SKU, and process and capacity units per environment.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tally {
    pub need: HashMap<SkuIdx, u64>,
    pub process: HashMap<EnvIdx, u64>,
    pub capacity: HashMap<EnvIdx, u64>,
}

impl Tally {
    fn count(&mut self, p: &Pricer, a: &Atom, sign: i8) {
        let slot = match a {
            Atom::Assign { sku, .. } => self.need.entry(*sku).or_insert(0),
            Atom::Process { flow } => match p.env_of_flow(*flow) {
                Some(e) => self.process.entry(e).or_insert(0),
                None => return,
            },
            Atom::Capacity { env, .. } => self.capacity.entry(*env).or_insert(0),
            Atom::Owner { .. } | Atom::App { .. } => return,
        };
        if sign > 0 {
            *slot = slot.saturating_add(1);
        } else {
            *slot = slot.saturating_sub(1);
        }
    }

    fn allocated(&self, p: &Pricer) -> u64 {
        p.allocations(&self.process, &self.capacity).values().sum()
    }

    /// What buying for this tally costs; `None` when infeasible.
    pub(crate) fn total(&self, p: &Pricer) -> Option<Decimal> {
        let mut need = self.need.clone();
        if let Some(ps) = p.process_sku {
            let k = self.allocated(p);
            if k > 0 {
                *need.entry(ps).or_insert(0) += k;
            }
        } else if self.allocated(p) > 0 {
            return None;
        }
        let mut total = Decimal::ZERO;
        for (sku, n) in need {
            total += p.sku_cost(sku, n)?;
        }
        Some(total)
    }
}

/// A solution: the picked atoms, its cost, and how it was found.
#[derive(Debug, Clone)]
pub(crate) struct Solution {
    pub picked: Vec<u32>,
    pub cost: Decimal,
    /// Proven optimal by the exact search.
    pub optimal: bool,
    pub lower_bound: Decimal,
    pub nodes: u64,
}

/// Whether `req`'s option `o` is covered by `picked` (a bitmap over atom ids).
fn covered(o: &[u32], picked: &[bool]) -> bool {
    o.iter()
        .all(|a| picked.get(*a as usize).copied().unwrap_or(false))
}

/// The greedy: repeatedly the option with the least marginal cost per decision it newly turns (ties: more
/// decisions first), ratios refreshed lazily; then every picked option whose decisions are all turned without
/// it is dropped, latest first, when that lowers the cost.
pub(crate) fn greedy(model: &Model, p: &Pricer, tick: &mut dyn FnMut(u64)) -> Option<Solution> {
    // Distinct options, each with the requirements that list it.
    let mut options: Vec<&[u32]> = Vec::new();
    let mut of: HashMap<&[u32], usize> = HashMap::new();
    let mut reqs_of: Vec<Vec<usize>> = Vec::new();
    for (r, req) in model.reqs.iter().enumerate() {
        for o in &req.options {
            let k = *of.entry(o.as_slice()).or_insert_with(|| {
                options.push(o.as_slice());
                reqs_of.push(Vec::new());
                options.len() - 1
            });
            if let Some(v) = reqs_of.get_mut(k) {
                v.push(r);
            }
        }
    }
    // Requirements per atom, to find those an atom's pick may cover through another of their options.
    let mut by_atom: Vec<Vec<usize>> = vec![Vec::new(); model.atoms.len()];
    for (r, req) in model.reqs.iter().enumerate() {
        for a in req.options.iter().flatten() {
            if let Some(v) = by_atom.get_mut(*a as usize)
                && v.last() != Some(&r)
            {
                v.push(r);
            }
        }
    }
    let mut picked = vec![false; model.atoms.len()];
    let mut order: Vec<u32> = Vec::new();
    let mut done = vec![false; model.reqs.len()];
    let mut tally = Tally::default();
    let mut current = tally.total(p)?;
    let marginal = |tally: &Tally, picked: &[bool], o: &[u32], current: Decimal| -> Option<Decimal> {
        let mut t = tally.clone();
        for a in o {
            if !picked.get(*a as usize).copied().unwrap_or(true) {
                t.count(p, model.get(*a)?, 1);
            }
        }
        Some(t.total(p)? - current)
    };
    let open = |k: usize, done: &[bool]| {
        reqs_of.get(k).map_or(0, |v| {
            v.iter()
                .filter(|r| !done.get(**r).copied().unwrap_or(true))
                .count()
        })
    };
    // (cost per decision, fewer decisions last, option)
    let mut heap: BinaryHeap<Reverse<(Decimal, Reverse<usize>, usize)>> = BinaryHeap::new();
    for (k, o) in options.iter().enumerate() {
        let n = open(k, &done);
        if let Some(m) = marginal(&tally, &picked, o, current) {
            heap.push(Reverse((m / Decimal::from(n.max(1)), Reverse(n), k)));
        }
    }
    let mut left = model.reqs.len();
    while left > 0 {
        let Reverse((ratio, _, k)) = heap.pop()?;
        let n = open(k, &done);
        if n == 0 {
            continue;
        }
        let o = options.get(k)?;
        let Some(m) = marginal(&tally, &picked, o, current) else {
            continue;
        };
        let fresh = m / Decimal::from(n);
        if fresh > ratio && heap.peek().is_some_and(|Reverse((next, _, _))| *next < fresh) {
            heap.push(Reverse((fresh, Reverse(n), k)));
            continue;
        }
        for a in o.iter() {
            if let Some(slot) = picked.get_mut(*a as usize)
                && !*slot
            {
                *slot = true;
                order.push(*a);
                tally.count(p, model.get(*a)?, 1);
            }
        }
        current = tally.total(p)?;
        for a in o.iter() {
            for r in by_atom.get(*a as usize).into_iter().flatten() {
                if let (Some(d), Some(req)) = (done.get_mut(*r), model.reqs.get(*r))
                    && !*d
                    && req.options.iter().any(|x| covered(x, &picked))
                {
                    *d = true;
                    left -= 1;
                    tick(1);
                }
            }
        }
    }
    let picked = prune(model, &order, &by_atom);
    let picked = improve(model, p, &picked, &by_atom);
    let picked = prune(model, &picked, &by_atom);
    let cost = p.cost(model, picked.iter().copied())?;
    Some(Solution {
        picked,
        cost,
        optimal: false,
        lower_bound: Decimal::ZERO,
        nodes: 0,
    })
}

/// At most what the environments' free process units can save: each unit saves at most its price, each group
/// at most what it owes at full price (`owed`), and a unit only a group with a flow in its environment. Groups owing
/// more than a unit's price are split into parts of at most that price (each part may take a unit). The most
/// such an assignment saves is a maximum-weight matching of parts to units (weights on the parts only): a
/// transversal matroid, so taking the parts dearest first, each if an augmenting path finds it a unit, is exact.
fn free_unit_savings(
    envs_of: &HashMap<EnvIdx, std::collections::HashSet<usize>>,
    owed: &HashMap<usize, Decimal>,
    free: &HashMap<EnvIdx, u64>,
    price: Decimal,
) -> Decimal {
    if price <= Decimal::ZERO {
        return Decimal::ZERO;
    }
    // The search's depth is bounded by the environments; past this many, the looser per-environment bound
    // (each group counted in every environment it is in) keeps the stack small.
    if envs_of.len() > 20_000 {
        let mut out = Decimal::ZERO;
        for (e, groups) in envs_of {
            let mut g: Vec<Decimal> = groups.iter().filter_map(|k| owed.get(k).copied()).collect();
            g.sort_by(|x, y| y.cmp(x));
            let n = usize::try_from(free.get(e).copied().unwrap_or(0)).unwrap_or(usize::MAX);
            out += g.iter().take(n).map(|c| (*c).min(price)).sum::<Decimal>();
        }
        return out;
    }
    // Environments with free units, and the groups that may use each.
    let envs: Vec<EnvIdx> = envs_of
        .keys()
        .copied()
        .filter(|e| free.get(e).copied().unwrap_or(0) > 0)
        .collect();
    let mut reach: HashMap<usize, Vec<usize>> = HashMap::new();
    for (k, e) in envs.iter().enumerate() {
        for g in envs_of.get(e).into_iter().flatten() {
            reach.entry(*g).or_default().push(k);
        }
    }
    let mut parts: Vec<(Decimal, usize)> = Vec::new();
    for g in reach.keys() {
        let mut left = owed.get(g).copied().unwrap_or(Decimal::ZERO);
        while left > Decimal::ZERO && parts.len() < 10_000_000 {
            parts.push((left.min(price), *g));
            left -= price;
        }
    }
    parts.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut m = Matching {
        parts: &parts,
        reach: &reach,
        cap: envs.iter().map(|e| free.get(e).copied().unwrap_or(0)).collect(),
        held: vec![Vec::new(); envs.len()],
        at: vec![None; parts.len()],
        dead: vec![false; envs.len()],
    };
    let mut total = Decimal::ZERO;
    let mut seen = vec![false; envs.len()];
    for i in 0..parts.len() {
        seen.iter_mut().for_each(|s| *s = false);
        let mut visited: Vec<usize> = Vec::new();
        if m.augment(i, &mut seen, &mut visited) {
            total += parts.get(i).map_or(Decimal::ZERO, |p| p.0);
        } else {
            // Every environment a failed search reached is full for good: later searches skip it.
            for e in visited {
                if let Some(d) = m.dead.get_mut(e) {
                    *d = true;
                }
            }
        }
    }
    total
}

/// The matching's state: per environment its units and the parts holding them, per part its environment.
struct Matching<'a> {
    parts: &'a [(Decimal, usize)],
    reach: &'a HashMap<usize, Vec<usize>>,
    cap: Vec<u64>,
    held: Vec<Vec<usize>>,
    at: Vec<Option<usize>>,
    dead: Vec<bool>,
}

impl Matching<'_> {
    fn put(&mut self, part: usize, env: usize) {
        if let Some(old) = self.at.get(part).copied().flatten()
            && let Some(h) = self.held.get_mut(old)
        {
            h.retain(|x| *x != part);
        }
        if let Some(h) = self.held.get_mut(env) {
            h.push(part);
        }
        if let Some(slot) = self.at.get_mut(part) {
            *slot = Some(env);
        }
    }

    /// Kuhn's augmenting path for `part` (depth at most the number of environments: each is seen once).
    fn augment(&mut self, part: usize, seen: &mut [bool], visited: &mut Vec<usize>) -> bool {
        let envs = self
            .parts
            .get(part)
            .and_then(|(_, g)| self.reach.get(g))
            .cloned()
            .unwrap_or_default();
        for e in envs {
            if seen.get(e).copied().unwrap_or(true) || self.dead.get(e).copied().unwrap_or(true) {
                continue;
            }
            if let Some(s) = seen.get_mut(e) {
                *s = true;
            }
            visited.push(e);
            let used = self.held.get(e).map_or(0, |h| h.len() as u64);
            if used < self.cap.get(e).copied().unwrap_or(0) {
                self.put(part, e);
                return true;
            }
            for q in self.held.get(e).cloned().unwrap_or_default() {
                if self.augment(q, seen, visited) {
                    self.put(part, e);
                    return true;
                }
            }
        }
        false
    }
}

/// The requirements that list each atom in one of their options.
fn requirements_by_atom(model: &Model) -> Vec<Vec<usize>> {
    let mut by_atom: Vec<Vec<usize>> = vec![Vec::new(); model.atoms.len()];
    for (r, req) in model.reqs.iter().enumerate() {
        for a in req.options.iter().flatten() {
            if let Some(v) = by_atom.get_mut(*a as usize)
                && v.last() != Some(&r)
            {
                v.push(r);
            }
        }
    }
    by_atom
}

/// A plan grown from `start` (the atoms of the audit's headline fixes, say): requirements it leaves open get
/// their option of least marginal cost, then the local improvement and the pruning run on it.
pub(crate) fn from_start(model: &Model, p: &Pricer, start: &[u32]) -> Option<Solution> {
    let by_atom = requirements_by_atom(model);
    let mut sel = vec![false; model.atoms.len()];
    let mut order: Vec<u32> = Vec::new();
    let mut tally = Tally::default();
    for a in start {
        if let (Some(s), Some(atom)) = (sel.get_mut(*a as usize), model.get(*a))
            && !*s
        {
            *s = true;
            order.push(*a);
            tally.count(p, atom, 1);
        }
    }
    for req in &model.reqs {
        if req.options.iter().any(|o| covered(o, &sel)) {
            continue;
        }
        let (_, o) = req
            .options
            .iter()
            .filter_map(|o| {
                let mut t = tally.clone();
                for x in o.iter() {
                    if !sel.get(*x as usize).copied().unwrap_or(true) {
                        t.count(p, model.get(*x)?, 1);
                    }
                }
                Some((t.total(p)?, o))
            })
            .min_by_key(|(c, _)| *c)?;
        for x in o.iter() {
            if let (Some(s), Some(atom)) = (sel.get_mut(*x as usize), model.get(*x))
                && !*s
            {
                *s = true;
                order.push(*x);
                tally.count(p, atom, 1);
            }
        }
    }
    let picked = prune(model, &order, &by_atom);
    let picked = improve(model, p, &picked, &by_atom);
    let picked = prune(model, &picked, &by_atom);
    let cost = p.cost(model, picked.iter().copied())?;
    Some(Solution {
        picked,
        cost,
        optimal: false,
        lower_bound: Decimal::ZERO,
        nodes: 0,
    })
}

/// Local improvement: each picked atom in turn is dropped and the decisions it leaves uncovered (at most 64)
/// are covered again, each by its option of least marginal cost without it; kept when the plan costs less.
/// (The greedy may spend a free unit on a flow, then pay for the next one, where one owner's licence turns both.)
fn improve(model: &Model, p: &Pricer, picked: &[u32], by_atom: &[Vec<usize>]) -> Vec<u32> {
    let mut sel = vec![false; model.atoms.len()];
    let mut tally = Tally::default();
    for a in picked {
        if let (Some(s), Some(atom)) = (sel.get_mut(*a as usize), model.get(*a)) {
            *s = true;
            tally.count(p, atom, 1);
        }
    }
    let Some(mut cost) = tally.total(p) else {
        return picked.to_vec();
    };
    let mut order: Vec<u32> = picked.to_vec();
    for a in picked {
        if !sel.get(*a as usize).copied().unwrap_or(false) {
            continue;
        }
        let Some(atom) = model.get(*a) else { continue };
        let mut t = tally.clone();
        t.count(p, atom, -1);
        if let Some(s) = sel.get_mut(*a as usize) {
            *s = false;
        }
        let uncovered: Vec<usize> = by_atom
            .get(*a as usize)
            .into_iter()
            .flatten()
            .copied()
            .filter(|r| {
                model
                    .reqs
                    .get(*r)
                    .is_some_and(|req| !req.options.iter().any(|o| covered(o, &sel)))
            })
            .collect();
        let mut added: Vec<u32> = Vec::new();
        let mut ok = uncovered.len() <= 64;
        for r in uncovered.iter().take(64) {
            let Some(req) = model.reqs.get(*r) else { continue };
            if req.options.iter().any(|o| covered(o, &sel)) {
                continue;
            }
            let best = req
                .options
                .iter()
                .filter(|o| !o.contains(a))
                .filter_map(|o| {
                    let mut t2 = t.clone();
                    for x in o.iter() {
                        if !sel.get(*x as usize).copied().unwrap_or(true) {
                            t2.count(p, model.get(*x)?, 1);
                        }
                    }
                    Some((t2.total(p)?, o))
                })
                .min_by_key(|(c, _)| *c);
            let Some((_, o)) = best else {
                ok = false;
                break;
            };
            for x in o.iter() {
                if let (Some(s), Some(atom)) = (sel.get_mut(*x as usize), model.get(*x))
                    && !*s
                {
                    *s = true;
                    t.count(p, atom, 1);
                    added.push(*x);
                }
            }
        }
        let new = if ok { t.total(p) } else { None };
        match new {
            Some(c) if c < cost => {
                cost = c;
                tally = t;
                order.retain(|x| x != a);
                order.extend(added);
            }
            _ => {
                if let Some(s) = sel.get_mut(*a as usize) {
                    *s = true;
                }
                for x in added {
                    if let Some(s) = sel.get_mut(x as usize) {
                        *s = false;
                    }
                }
            }
        }
    }
    order
}

/// Drops picked atoms, latest first, whose removal keeps every requirement covered and lowers the cost.
fn prune(model: &Model, order: &[u32], by_atom: &[Vec<usize>]) -> Vec<u32> {
    let mut picked = vec![false; model.atoms.len()];
    for a in order {
        if let Some(s) = picked.get_mut(*a as usize) {
            *s = true;
        }
    }
    for a in order.iter().rev() {
        if let Some(s) = picked.get_mut(*a as usize) {
            *s = false;
        }
        let still = by_atom.get(*a as usize).into_iter().flatten().all(|r| {
            model
                .reqs
                .get(*r)
                .is_some_and(|req| req.options.iter().any(|o| covered(o, &picked)))
        });
        if !still && let Some(s) = picked.get_mut(*a as usize) {
            *s = true;
        }
    }
    order
        .iter()
        .copied()
        .filter(|a| picked.get(*a as usize).copied().unwrap_or(false))
        .collect()
}

/// The exact search: the first requirement not yet covered is covered by each of its options in turn (cheapest
/// first), pruned when the cost so far (which never falls as atoms are added) reaches the best found. Every
/// optimal plan is a union of one option per requirement, and the search follows it down to a subset of it that
/// covers everything, so the best found is optimal when the search ends within `node_limit` nodes.
pub(crate) fn exact(model: &Model, p: &Pricer, start: Option<Solution>, node_limit: u64) -> Option<Solution> {
    let mut best = start;
    let mut nodes = 0u64;
    let mut picked = vec![false; model.atoms.len()];
    let mut stack: Vec<u32> = Vec::new();
    let complete = search(
        model,
        p,
        &mut picked,
        &mut stack,
        &mut best,
        &mut nodes,
        node_limit,
    );
    best.map(|mut b| {
        b.optimal = complete;
        b.nodes = nodes;
        if complete {
            b.lower_bound = b.cost;
        }
        b
    })
}

fn search(
    model: &Model,
    p: &Pricer,
    picked: &mut [bool],
    stack: &mut Vec<u32>,
    best: &mut Option<Solution>,
    nodes: &mut u64,
    limit: u64,
) -> bool {
    *nodes += 1;
    if *nodes > limit {
        return false;
    }
    let Some(cost) = p.cost(model, stack.iter().copied()) else {
        return true;
    };
    if best.as_ref().is_some_and(|b| cost >= b.cost) {
        return true;
    }
    let open = model
        .reqs
        .iter()
        .find(|r| !r.options.iter().any(|o| covered(o, picked)));
    let Some(req) = open else {
        *best = Some(Solution {
            picked: stack.clone(),
            cost,
            optimal: false,
            lower_bound: Decimal::ZERO,
            nodes: 0,
        });
        return true;
    };
    // Cheapest options first, so that good plans are found early and prune the rest.
    let mut branches: Vec<(Decimal, &Vec<u32>)> = req
        .options
        .iter()
        .filter_map(|o| {
            let c = p.cost(model, stack.iter().copied().chain(o.iter().copied()))?;
            Some((c, o))
        })
        .collect();
    branches.sort_by_key(|(c, _)| *c);
    let mut complete = true;
    for (_, o) in branches {
        let added: Vec<u32> = o
            .iter()
            .copied()
            .filter(|a| !picked.get(*a as usize).copied().unwrap_or(true))
            .collect();
        for a in &added {
            if let Some(s) = picked.get_mut(*a as usize) {
                *s = true;
            }
            stack.push(*a);
        }
        complete &= search(model, p, picked, stack, best, nodes, limit);
        for a in &added {
            if let Some(s) = picked.get_mut(*a as usize) {
                *s = false;
            }
            stack.pop();
        }
        if !complete {
            break;
        }
    }
    complete
}

/// A lower bound on any plan's cost. Requirements whose options share no atom with each other's (a packing)
/// are each paid for with atoms of their own, so any plan costs at least the sum of their cheapest options; the
/// packing is chosen greedily, dearest first. Two prices give two bounds, and the larger is kept: (a) every unit
/// that could be had for nothing (spare, reclaimable, free in its environment) at 0; (b) every unit at its price,
/// less the most that the units to be had for nothing could save: spare and reclaimable units of a SKU, and the
/// environments' free process units matched to the packed requirements that could use them
/// ([`free_unit_savings`]), each requirement saving at most what its cheapest option costs. Purchase minimums are
/// left out (they only add). On the property test's small tenants it is checked never to exceed the optimum.
pub(crate) fn lower_bound(model: &Model, p: &Pricer) -> Decimal {
    let price_of = |sku: Option<SkuIdx>| {
        sku.and_then(|s| p.skus.get(&s))
            .map_or(Decimal::ZERO, |t| t.price)
    };
    let unit = |a: &Atom| -> Decimal {
        let sku = match a {
            Atom::Assign { sku, .. } => Some(*sku),
            Atom::Process { flow } => {
                let free = p
                    .env_of_flow(*flow)
                    .and_then(|e| p.free.get(&e))
                    .copied()
                    .unwrap_or(0);
                if free > 0 { None } else { p.process_sku }
            }
            Atom::Capacity { .. } => p.process_sku,
            Atom::Owner { .. } | Atom::App { .. } => None,
        };
        sku.and_then(|s| p.skus.get(&s))
            .filter(|t| t.spare == 0 && t.reclaimable == 0)
            .map_or(Decimal::ZERO, |t| t.price)
    };
    let full = |a: &Atom| -> Decimal {
        match a {
            Atom::Assign { sku, .. } => price_of(Some(*sku)),
            Atom::Process { .. } | Atom::Capacity { .. } => price_of(p.process_sku),
            Atom::Owner { .. } | Atom::App { .. } => Decimal::ZERO,
        }
    };
    let cheapest = |req: &super::model::Requirement, f: &dyn Fn(&Atom) -> Decimal| {
        req.options
            .iter()
            .map(|o| o.iter().filter_map(|a| model.get(*a)).map(f).sum::<Decimal>())
            .min()
            .unwrap_or(Decimal::ZERO)
    };
    let atoms_of = |req: &super::model::Requirement| {
        let mut v: Vec<u32> = req.options.iter().flatten().copied().collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    // The greedy packing under one pricing: (requirement, what its cheapest option costs).
    let pack = |price: &dyn Fn(&Atom) -> Decimal| -> Vec<(usize, Decimal)> {
        let mut order: Vec<(Decimal, usize, usize)> = model
            .reqs
            .iter()
            .enumerate()
            .map(|(r, req)| (cheapest(req, price), atoms_of(req).len(), r))
            .filter(|(c, _, _)| *c > Decimal::ZERO)
            .collect();
        order.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
        let mut used = vec![false; model.atoms.len()];
        let mut out = Vec::new();
        for (c, _, r) in order {
            let Some(req) = model.reqs.get(r) else { continue };
            let atoms = atoms_of(req);
            if atoms
                .iter()
                .any(|a| used.get(*a as usize).copied().unwrap_or(true))
            {
                continue;
            }
            for a in atoms {
                if let Some(u) = used.get_mut(a as usize) {
                    *u = true;
                }
            }
            out.push((r, c));
        }
        out
    };
    let a: Decimal = pack(&unit).iter().map(|(_, c)| *c).sum();
    let packed = pack(&full);
    let owed: HashMap<usize, Decimal> = packed.iter().copied().collect();
    let process_price = price_of(p.process_sku);
    let mut envs_of: HashMap<EnvIdx, std::collections::HashSet<usize>> = HashMap::new();
    let mut sku_groups: HashMap<SkuIdx, Vec<Decimal>> = HashMap::new();
    let mut process_groups: Vec<Decimal> = Vec::new();
    for (r, c) in &packed {
        let Some(req) = model.reqs.get(*r) else { continue };
        let mut skus: Vec<SkuIdx> = Vec::new();
        let mut process = false;
        for id in atoms_of(req) {
            match model.get(id) {
                Some(Atom::Assign { sku, .. }) => skus.push(*sku),
                Some(Atom::Process { flow }) => {
                    process = true;
                    if let Some(e) = p.env_of_flow(*flow) {
                        envs_of.entry(e).or_default().insert(*r);
                    }
                }
                Some(Atom::Capacity { .. }) => process = true,
                _ => {}
            }
        }
        skus.sort();
        skus.dedup();
        // A requirement may take several units of a pool (per-app passes): what it owes in parts of at most a
        // unit's price, each part a unit may save.
        let parts = |price: Decimal| -> Vec<Decimal> {
            let mut out = Vec::new();
            let mut left = *c;
            while left > Decimal::ZERO && price > Decimal::ZERO && out.len() < 1_000 {
                out.push(left.min(price));
                left -= price;
            }
            out
        };
        for sku in skus {
            let price = p.skus.get(&sku).map_or(Decimal::ZERO, |t| t.price);
            sku_groups.entry(sku).or_default().extend(parts(price));
        }
        if process {
            process_groups.extend(parts(process_price));
        }
    }
    // Spare and reclaimable units of a pool: each saves at most its price, for the packed requirements that
    // could use it, dearest first.
    let top = |groups: &mut Vec<Decimal>, units: u64, price: Decimal| -> Decimal {
        groups.sort_by(|x, y| y.cmp(x));
        groups
            .iter()
            .take(usize::try_from(units).unwrap_or(usize::MAX))
            .map(|c| (*c).min(price))
            .sum()
    };
    let mut savings = free_unit_savings(&envs_of, &owed, &p.free, process_price);
    for (sku, mut g) in sku_groups {
        if let Some(t) = p.skus.get(&sku) {
            savings += top(&mut g, t.spare.saturating_add(t.reclaimable), t.price);
        }
    }
    if let Some(t) = p.process_sku.and_then(|s| p.skus.get(&s)) {
        savings += top(
            &mut process_groups,
            t.spare.saturating_add(t.reclaimable),
            t.price,
        );
    }
    let b: Decimal = packed.iter().map(|(_, c)| *c).sum::<Decimal>() - savings;
    a.max(b).max(Decimal::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pricer(t: SkuTerms) -> Pricer {
        let mut skus = HashMap::new();
        skus.insert(SkuIdx(0), t);
        Pricer {
            skus,
            free: HashMap::new(),
            flow_env: Vec::new(),
            process_sku: None,
        }
    }

    fn terms() -> SkuTerms {
        SkuTerms {
            price: Decimal::from(100),
            purchasable: true,
            spare: 0,
            reclaimable: 0,
            held: 0,
            unsubscribed_use: 0,
            minimum: 5,
            step: 1,
        }
    }

    #[test]
    fn cat_4_the_minimum_applies_to_the_holding_not_the_purchase() {
        // Nothing held: the first purchase is at least the minimum of 5.
        assert_eq!(pricer(terms()).buy(SkuIdx(0), 1), Some((5, 0)));
        // 5 held and none spare: one more is one more.
        let held = SkuTerms { held: 5, ..terms() };
        assert_eq!(pricer(held).buy(SkuIdx(0), 1), Some((1, 0)));
        // A step of 3 above the minimum: 5 + 3k units held after the purchase.
        let step = SkuTerms {
            held: 5,
            step: 3,
            ..terms()
        };
        assert_eq!(pricer(step).buy(SkuIdx(0), 1), Some((3, 0)));
    }

    #[test]
    fn buy_6_spare_units_then_reclaimed_ones_then_purchases() {
        let t = SkuTerms {
            spare: 1,
            reclaimable: 2,
            minimum: 1,
            ..terms()
        };
        let p = pricer(t);
        assert_eq!(p.buy(SkuIdx(0), 1), Some((0, 0)));
        assert_eq!(p.buy(SkuIdx(0), 3), Some((0, 2)));
        assert_eq!(p.buy(SkuIdx(0), 5), Some((2, 2)));
    }

    #[test]
    fn flow_14_free_units_save_each_group_at_most_what_it_owes() {
        let e = |i: u32| EnvIdx(i);
        let mut envs_of: HashMap<EnvIdx, std::collections::HashSet<usize>> = HashMap::new();
        let mut free = HashMap::new();
        // Group 0 has flows in three environments, each with a free unit: it owes 15, so they save 15, not 45.
        for i in 0..3 {
            envs_of.entry(e(i)).or_default().insert(0);
            free.insert(e(i), 1);
        }
        let mut owed = HashMap::new();
        owed.insert(0, Decimal::from(15));
        let price = Decimal::from(150);
        assert_eq!(
            free_unit_savings(&envs_of, &owed, &free, price),
            Decimal::from(15)
        );
        // Group 1 is only in environment 0: the matching moves group 0 to another environment.
        envs_of.entry(e(0)).or_default().insert(1);
        owed.insert(1, Decimal::from(15));
        assert_eq!(
            free_unit_savings(&envs_of, &owed, &free, price),
            Decimal::from(30)
        );
        // A group owing more than a unit's price takes several units, each saving at most the price (150, 150
        // and the last 100 of its 400: more than giving one to group 1).
        owed.insert(0, Decimal::from(400));
        assert_eq!(
            free_unit_savings(&envs_of, &owed, &free, price),
            Decimal::from(150 + 150 + 100)
        );
    }

    #[test]
    fn cat_4_a_sku_off_the_price_list_is_never_bought() {
        let t = SkuTerms {
            purchasable: false,
            spare: 2,
            ..terms()
        };
        let p = pricer(t);
        assert_eq!(p.buy(SkuIdx(0), 2), Some((0, 0)));
        assert_eq!(p.buy(SkuIdx(0), 3), None);
    }
}
