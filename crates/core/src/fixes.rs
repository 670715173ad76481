//! Fixes: what would make a denied decision allowed, with its monthly cost from the catalog, cheapest first
//! (ENF-6).
//!
//! A fix is listed only if it turns its decision: applied in a dry run (a copy of the tenant, decided again on a
//! fresh snapshot, [`crate::dryrun`]), the flow (for the same invoking user) or the app (for the same user) is
//! allowed. Removing one problem among several is not enough. Where no single change does it, one `combined` fix
//! is listed: the licences the problems call for together, or a first licence followed by the cheapest fix of
//! what is left once it is applied (a decision names one problem at a time). Its cost is what it buys: spare
//! units (bought, neither assigned nor allocated) cost nothing, and a process licence costs nothing only if a
//! spare unit (free in the environment, or unallocated in the tenant) really covers it. Each fix is priced
//! alone; the audit's headline counts a spare unit once ([`crate::audit::Summary::cheapest_fixes_monthly`]).

use rust_decimal::Decimal;
use serde::Serialize;

use crate::apps::decide_app;
use crate::catalog::{Capability, SkuIdx};
use crate::decision::{AppDecision, FlowDecision, What};
use crate::dryrun::{Index, Ledger, World, changes_of};
use crate::flows::decide_flow;
use crate::money::Money;
use crate::rule::Rule;
use crate::scenario::{FlowLicense, Trigger};
use crate::snapshot::{Coverage, EnvIdx, FlowIdx, Snapshot, UserIdx};

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Give users a licence (bought, or an unassigned unit).
    AssignLicense,
    /// Give the flow a process licence in its environment (FLOW-14): buy, allocate, set the flow's licence.
    AssignProcessLicense,
    /// Allocate capacity units to an environment.
    AllocateCapacity,
    /// Associate the flow with an app of its environment (FLOW-9, ENF-6).
    AssociateApp,
    /// Make a co-owner who holds a premium licence the owner (FLOW-24).
    ChangeOwner,
    /// Buy more units of a SKU.
    BuyLicense,
    /// Several of the above, in order (`steps`), where no single one turns the decision.
    Combined,
}

/// One way to fix a problem. In JSON: `{action, sku?, quantity?, target?, monthly_cost?, currency?, rule}`, with
/// `monthly_cost` a decimal string (SCENARIO.md: amounts are decimal strings) and `currency` beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    pub action: Action,
    pub sku_idx: Option<SkuIdx>,
    pub sku: Option<String>,
    pub quantity: Option<u64>,
    /// Who or what it applies to: users, a flow, an environment, an app.
    pub target: Option<String>,
    pub monthly_cost: Option<Money>,
    /// The rule that makes it a fix.
    pub rule: Rule,
}

impl Fix {
    fn entries<M: serde::ser::SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
        m.serialize_entry("action", &self.action)?;
        if let Some(sku) = &self.sku {
            m.serialize_entry("sku", sku)?;
        }
        if let Some(q) = self.quantity {
            m.serialize_entry("quantity", &q)?;
        }
        if let Some(t) = &self.target {
            m.serialize_entry("target", t)?;
        }
        if let Some(c) = &self.monthly_cost {
            m.serialize_entry("monthly_cost", &c.amount.to_string())?;
            m.serialize_entry("currency", &c.currency)?;
        }
        m.serialize_entry("rule", &self.rule)
    }
}

impl Serialize for Fix {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        self.entries(&mut m)?;
        m.end()
    }
}

/// A fix of a flow or app decision whose dry run turns it. In JSON, the fields of [`Fix`] and (added by issue
/// 12, so that a client applies it exactly): `buy` (units of `sku` bought first; 0 when spare units cover it),
/// `allocate` and `environment` (units allocated there, for `assign-process-license` and `allocate-capacity`),
/// and `steps` (the fixes of a `combined` one, in order, each with its own cost; the total is `monthly_cost`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedFix {
    pub fix: Fix,
    pub buy: Option<u64>,
    pub allocate: Option<u64>,
    pub environment: Option<String>,
    pub steps: Vec<CheckedFix>,
}

impl CheckedFix {
    fn new(fix: Fix) -> CheckedFix {
        CheckedFix {
            fix,
            buy: None,
            allocate: None,
            environment: None,
            steps: Vec::new(),
        }
    }

    /// The flows whose licence holders it may change, so that a child's cover moves (FLOW-7, FLOW-14,
    /// FLOW-15): the flow it sets to a process licence or gives another owner, and every flow that draws on the
    /// capacity of an environment it allocates units to (more units may cover a flow that was in overage).
    pub(crate) fn moves_cover(&self, world: &World<'_>, flow: FlowIdx) -> Vec<FlowIdx> {
        let mut out = Vec::new();
        if matches!(
            self.fix.action,
            Action::AssignProcessLicense | Action::ChangeOwner
        ) {
            out.push(flow);
        }
        if self.allocate.is_some_and(|k| k > 0)
            && let Some(e) = self.environment.as_deref().and_then(|e| world.base.env_idx(e))
        {
            out.extend(world.capacity_flows(e));
        }
        for s in &self.steps {
            out.extend(s.moves_cover(world, flow));
        }
        out
    }

    fn cost_key(&self) -> Decimal {
        self.fix.monthly_cost.as_ref().map_or(Decimal::ZERO, |m| m.amount)
    }
}

/// A checked fix reads as the fix it checks (`f.action`, `f.sku`, …), as the answers' fixes did before they were
/// checked.
impl std::ops::Deref for CheckedFix {
    type Target = Fix;

    fn deref(&self) -> &Fix {
        &self.fix
    }
}

impl Serialize for CheckedFix {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        self.fix.entries(&mut m)?;
        if let Some(b) = self.buy {
            m.serialize_entry("buy", &b)?;
        }
        if let Some(a) = self.allocate {
            m.serialize_entry("allocate", &a)?;
        }
        if let Some(e) = &self.environment {
            m.serialize_entry("environment", e)?;
        }
        if !self.steps.is_empty() {
            m.serialize_entry("steps", &self.steps)?;
        }
        m.end()
    }
}

/// Units of a SKU the tenant pays for that nobody holds yet.
pub fn spare_units(snap: &Snapshot, sku: SkuIdx) -> u64 {
    crate::dryrun::Ledger::default().spare(snap, sku)
}

/// The fixes for a flow decision, cheapest first; empty when it is allowed or nothing turns it.
pub fn flow_fixes(snap: &Snapshot, d: &FlowDecision) -> Vec<CheckedFix> {
    if d.allowed {
        return Vec::new();
    }
    let index = Index::new(snap);
    World::new(snap, &index).flow_fixes(snap, d)
}

/// The fixes for an app decision, cheapest first; empty when it is allowed or nothing turns it.
pub fn app_fixes(snap: &Snapshot, d: &AppDecision) -> Vec<CheckedFix> {
    if d.allowed {
        return Vec::new();
    }
    let index = Index::new(snap);
    World::new(snap, &index).app_fixes(snap, d)
}

/// How many more changes a combined fix may chain after its first (so at most three in all): each link copies
/// the tenant, and a decision that needs more is better fixed with a process licence or by hand.
const CHAIN: u8 = 2;

/// A licence fix not yet checked: a capability for some users.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LicenceNeed {
    cap: Capability,
    users: Vec<String>,
    rule: Rule,
    /// Units per user (per-app passes a user is short of), 1 otherwise.
    per_user: u64,
}

impl World<'_> {
    /// Prices `need` against the units left: the cheapest SKU that grants the capability, bought where spare
    /// units do not cover it.
    fn licence_fix(&self, ledger: &Ledger, need: &LicenceNeed) -> Option<CheckedFix> {
        let snap = self.base;
        let quantity = (need.users.len() as u64).saturating_mul(need.per_user);
        // Seed 003: admins "kunnen ook bestaande licenties toewijzen" (can assign licences the tenant already
        // holds): spare units of any SKU that grants the right come first, retired ones included (they keep
        // working, CAT-4), before buying the cheapest on sale.
        let (sku, def) = held_granting(snap, ledger, need.cap, quantity)
            .or_else(|| snap.catalog().cheapest_granting(need.cap, snap.at()))?;
        let buy = ledger.to_buy(snap, sku, quantity);
        let mut users = Vec::with_capacity(quantity as usize);
        for u in &need.users {
            for _ in 0..need.per_user {
                users.push(u.as_str());
            }
        }
        let mut fix = CheckedFix::new(Fix {
            action: Action::AssignLicense,
            sku_idx: Some(sku),
            sku: Some(def.id.clone()),
            quantity: Some(quantity),
            target: Some(users.join(", ")),
            monthly_cost: self.price(sku, buy),
            rule: need.rule,
        });
        fix.buy = Some(buy);
        Some(fix)
    }

    fn price(&self, sku: SkuIdx, units: u64) -> Option<Money> {
        let p = self.base.catalog().sku(sku)?.price_at(self.base.at())?;
        Some(Money::new(p.amount * Decimal::from(units), &p.currency))
    }

    /// A capacity fix for `flow` in `env` with `allocate` more units: `allocate-capacity` for a flow that already
    /// draws on the environment's capacity, else `assign-process-license`.
    fn capacity_fix(
        &self,
        flow: &str,
        env: &str,
        switch: bool,
        allocate: u64,
        rule: Rule,
    ) -> Option<CheckedFix> {
        let snap = self.base;
        let (sku, def) = snap.catalog().cheapest_granting(Capability::Process, snap.at())?;
        let buy = self.ledger.to_buy(snap, sku, allocate);
        let mut fix = CheckedFix::new(Fix {
            action: if switch {
                Action::AssignProcessLicense
            } else {
                Action::AllocateCapacity
            },
            sku_idx: Some(sku),
            sku: Some(def.id.clone()),
            quantity: Some(if switch { 1 } else { allocate }),
            target: Some(if switch { flow } else { env }.to_owned()),
            monthly_cost: self.price(sku, buy),
            rule,
        });
        fix.buy = Some(buy);
        fix.allocate = Some(allocate);
        fix.environment = Some(env.to_owned());
        Some(fix)
    }

    /// Whether `fix` turns the decision of `flow` (for `as_user`), in a dry run on the tenant as it stands.
    fn turns(&self, flow: FlowIdx, as_user: Option<UserIdx>, fix: &CheckedFix) -> bool {
        let id = self.base.flow_id(flow);
        self.changes(fix, Some(id))
            .is_ok_and(|c| self.flow_allowed(flow, as_user, &c))
    }

    /// The cheapest a capacity fix for `flow` can be: with no unit allocated if its environment has a free one,
    /// else one (more units never cost less).
    fn capacity_floor(
        &self,
        at: &Snapshot,
        flow: FlowIdx,
        env: EnvIdx,
        switch: bool,
        rule: Rule,
    ) -> Option<CheckedFix> {
        let e = at.env(env)?;
        let free = switch && e.process_units > e.process_demand.saturating_add(e.bot_demand);
        self.capacity_fix(self.base.flow_id(flow), &e.id, switch, u64::from(!free), rule)
    }

    /// The capacity fix with the fewest units that turns the decision (FLOW-14 hands units out last in, first
    /// out, so a flow may need the units of the flows before it in the queue too): more units never take a flow's
    /// unit away, so a binary search finds the fewest.
    fn capacity(
        &self,
        at: &Snapshot,
        flow: FlowIdx,
        as_user: Option<UserIdx>,
        env: EnvIdx,
        switch: bool,
        rule: Rule,
    ) -> Option<CheckedFix> {
        let e = at.env(env)?;
        let flow_id = self.base.flow_id(flow);
        let env_id = &*e.id;
        let demand = e
            .process_demand
            .saturating_add(u64::from(switch))
            .saturating_add(e.bot_demand.saturating_sub(e.bot_only_units));
        let most = demand.saturating_sub(e.process_units).max(1);
        let try_with = |k: u64| {
            self.capacity_fix(flow_id, env_id, switch, k, rule)
                .filter(|f| self.turns(flow, as_user, f))
        };
        if switch
            && e.process_units > e.process_demand.saturating_add(e.bot_demand)
            && let Some(f) = try_with(0)
        {
            return Some(f);
        }
        let mut best = try_with(most)?;
        let (mut lo, mut hi) = (1, most);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match try_with(mid) {
                Some(f) => {
                    best = f;
                    hi = mid;
                }
                None => lo = mid + 1,
            }
        }
        Some(best)
    }

    /// The fixes of decision `d`, made on snapshot `at` (the tenant's, or a neighbourhood of the tenant as the
    /// fixes applied so far leave it), cheapest first.
    pub(crate) fn flow_fixes(&self, at: &Snapshot, d: &FlowDecision) -> Vec<CheckedFix> {
        self.flow_fixes_within(at, d, CHAIN, false)
    }

    /// The first of [`World::flow_fixes`], with as few dry runs as it takes: candidates are tried cheapest first,
    /// and a capacity fix is searched only if it could be cheaper than the first that turns.
    pub(crate) fn cheapest_flow_fix(&self, at: &Snapshot, d: &FlowDecision) -> Option<CheckedFix> {
        self.flow_fixes_within(at, d, CHAIN, true).into_iter().next()
    }

    /// [`World::flow_fixes`], with combined fixes of at most `depth` + 1 changes; only the first if `cheapest`.
    fn flow_fixes_within(
        &self,
        at: &Snapshot,
        d: &FlowDecision,
        depth: u8,
        cheapest: bool,
    ) -> Vec<CheckedFix> {
        let mut fixes = Vec::new();
        let Some(f) = at.flow(d.flow) else { return fixes };
        let Some(flow) = self.base.flow_idx(&f.id) else {
            return fixes;
        };
        let as_user = match d.as_user {
            Some(u) => match self.base.user_idx(at.user_id(u)) {
                Some(u) => Some(u),
                None => return fixes,
            },
            None => None,
        };
        let id = |u: UserIdx| at.user_id(u).to_owned();
        let mut unlicensed: Vec<UserIdx> = Vec::new();
        let mut needs_rpa = false;
        let mut needs: Vec<LicenceNeed> = Vec::new();
        let mut capacity: Option<(EnvIdx, bool, Rule)> = None;
        let one = |cap, user, rule| LicenceNeed {
            cap,
            users: vec![id(user)],
            rule,
            per_user: 1,
        };
        for p in d.problems.iter() {
            match p.what {
                What::PremiumNeeded { user }
                | What::PremiumLapsed { user, .. }
                | What::OwnerLeft { user, .. }
                | What::OutsideAppContext { user }
                | What::OutsideD365Context { user } => unlicensed.push(user),
                What::AttendedRpaNeeded { user } => {
                    needs_rpa = true;
                    unlicensed.push(user);
                }
                What::StandardNeeded { user } => needs.push(one(Capability::FlowsStandard, user, p.rule)),
                What::ComplexEntity { user, .. } => {
                    needs.push(one(Capability::ComplexEntities, user, p.rule));
                }
                What::RestrictedEntity { user, .. } => {
                    needs.push(one(Capability::RestrictedEntities, user, p.rule));
                }
                What::NoProcessUnit { env } | What::NoBot { env } => {
                    capacity.get_or_insert((env, false, p.rule));
                }
                What::NoPerFlowUnit { env } => {
                    // Per flow can no longer be bought (CAT-4): move the flow to a process licence.
                    capacity = Some((env, true, Rule::Flow14));
                }
                What::ServicePrincipalNeedsProcess => capacity = Some((f.env, true, Rule::Flow20)),
                _ => {}
            }
        }
        unlicensed.sort();
        unlicensed.dedup();
        // Users who left cannot be licensed, nor can consumer accounts (CAT-14): change the owner instead.
        let (gone, present): (Vec<UserIdx>, Vec<UserIdx>) = unlicensed
            .iter()
            .partition(|u| at.user(**u).is_some_and(|r| r.left.is_some() || r.consumer));
        if !present.is_empty() {
            let cap = if needs_rpa {
                Capability::AttendedRpa
            } else {
                Capability::FlowsPremium
            };
            needs.insert(
                0,
                LicenceNeed {
                    cap,
                    users: present.iter().map(|u| id(*u)).collect(),
                    rule: Rule::Enf6,
                    per_user: 1,
                },
            );
        }
        needs.dedup();
        fixes.extend(needs.iter().filter_map(|n| self.licence_fix(&self.ledger, n)));
        // FLOW-1: a process licence of its own covers a flow whoever owns or runs it; one that already holds a
        // process licence without a unit needs one allocated (FLOW-14).
        let capacity = capacity.or_else(|| {
            let machine = f.premium.desktop && f.machine_coverage == Coverage::Overage;
            match f.license {
                _ if machine => Some((f.env, false, Rule::Flow16)),
                FlowLicense::Process if f.coverage != Coverage::Covered => Some((f.env, false, Rule::Flow14)),
                FlowLicense::Process => None,
                _ => Some((f.env, true, Rule::Enf6)),
            }
        });
        // ENF-6 / FLOW-9: associate an automated flow with an app of its environment when its owner's Power Apps
        // licence would then cover it.
        let owner_in_app = present
            .iter()
            .any(|u| at.user(*u).is_some_and(|r| r.has(Capability::FlowsAppContext)));
        if owner_in_app && f.trigger != Trigger::Instant && f.app.is_none() {
            // An app of its environment whose data sources it uses (FLOW-9, seed 002): an Oracle flow is not in
            // the context of a SharePoint app.
            let s = self.base.scenario();
            let connectors = s
                .flows
                .get(flow.0 as usize)
                .map_or(&[][..], |x| &x.connectors[..]);
            let env_id = at.env_id(f.env);
            let fits = s.apps.iter().find(|a| {
                a.environment == env_id
                    && crate::snapshot::premium_within(
                        self.base.catalog(),
                        self.base.at(),
                        connectors,
                        &a.connectors,
                    )
            });
            if let Some(app) = fits {
                fixes.push(CheckedFix::new(Fix {
                    action: Action::AssociateApp,
                    sku_idx: None,
                    sku: None,
                    quantity: None,
                    target: Some(app.id.to_string()),
                    monthly_cost: None,
                    rule: Rule::Flow9,
                }));
            }
        }
        // FLOW-24: a co-owner with a premium licence can take the flow over.
        if (!gone.is_empty() || !present.is_empty())
            && let Some(co) = f
                .co_owners
                .iter()
                .find(|c| at.user(**c).is_some_and(|u| u.has(Capability::FlowsPremium)))
        {
            fixes.push(CheckedFix::new(Fix {
                action: Action::ChangeOwner,
                sku_idx: None,
                sku: None,
                quantity: None,
                target: Some(id(*co)),
                monthly_cost: None,
                rule: Rule::Flow24,
            }));
        }
        let candidates = sort(fixes);
        let (mut fixes, partial): (Vec<_>, Vec<_>) = if cheapest {
            let mut tried = Vec::new();
            let mut found = Vec::new();
            for x in candidates {
                if self.turns(flow, as_user, &x) {
                    found.push(x);
                    break;
                }
                tried.push(x);
            }
            (found, tried)
        } else {
            candidates.into_iter().partition(|x| self.turns(flow, as_user, x))
        };
        if let Some((env, switch, rule)) = capacity {
            let beaten = cheapest
                && fixes.first().is_some_and(|best| {
                    self.capacity_floor(at, flow, env, switch, rule)
                        .is_none_or(|floor| {
                            (best.cost_key(), best.fix.action) < (floor.cost_key(), floor.fix.action)
                        })
                });
            if !beaten {
                fixes.extend(self.capacity(at, flow, as_user, env, switch, rule));
            }
        }
        if fixes.is_empty() && needs.len() > 1 {
            fixes.extend(self.combined(&needs).filter(|x| self.turns(flow, as_user, x)));
        }
        if fixes.is_empty() && depth > 0 {
            let id = self.base.flow_id(flow);
            let then = |next: &World<'_>| {
                let (s, f, u) = next.flow_snapshot(flow, as_user, &[])?;
                let d = decide_flow(&s, f, u);
                (!d.allowed).then(|| next.flow_fixes_within(&s, &d, depth - 1, cheapest))
            };
            let chained = partial.iter().filter_map(|first| {
                let fix = self.chain(first, Some(id), &then)?;
                self.turns(flow, as_user, &fix).then_some(fix)
            });
            fixes.extend(sort(chained.collect()).into_iter().take(1));
        }
        sort(fixes)
    }

    /// `first`, then the cheapest fix of what is left once it is applied (`then` lists those fixes on the tenant
    /// with `first` applied): a combined fix, for a decision that reports one problem at a time, or a licence
    /// that uncovers the need for another.
    fn chain(
        &self,
        first: &CheckedFix,
        flow: Option<&str>,
        then: &dyn Fn(&World<'_>) -> Option<Vec<CheckedFix>>,
    ) -> Option<CheckedFix> {
        let next = self.after(first, flow)?;
        let second = then(&next)?.into_iter().next()?;
        let mut steps = Vec::new();
        for part in [first, &second] {
            if part.fix.action == Action::Combined {
                steps.extend(part.steps.iter().cloned());
            } else {
                steps.push(part.clone());
            }
        }
        combined_of(steps)
    }

    /// The licences of `needs` as one fix, each step priced after the ones before it.
    fn combined(&self, needs: &[LicenceNeed]) -> Option<CheckedFix> {
        let mut ledger = self.ledger.clone();
        let mut steps = Vec::new();
        for n in needs {
            let step = self.licence_fix(&ledger, n)?;
            changes_of(self.base, &mut ledger, &step, None, &mut Vec::new()).ok()?;
            steps.push(step);
        }
        combined_of(steps)
    }

    /// The fixes of app decision `d` (made on snapshot `at`), cheapest first.
    pub(crate) fn app_fixes(&self, at: &Snapshot, d: &AppDecision) -> Vec<CheckedFix> {
        self.app_fixes_within(at, d, CHAIN)
    }

    fn app_fixes_within(&self, at: &Snapshot, d: &AppDecision, depth: u8) -> Vec<CheckedFix> {
        let (Some(app), Some(user)) = (
            self.base.app_idx(at.app_id(d.app)),
            self.base.user_idx(at.user_id(d.user)),
        ) else {
            return Vec::new();
        };
        let id = |u: UserIdx| at.user_id(u).to_owned();
        let one = |cap, user, rule, per_user| LicenceNeed {
            cap,
            users: vec![id(user)],
            rule,
            per_user,
        };
        let mut needs: Vec<LicenceNeed> = Vec::new();
        let mut alternatives: Vec<LicenceNeed> = Vec::new();
        for p in d.problems.iter() {
            match p.what {
                What::AppNotCovered { user, .. }
                | What::PortalNotCovered { user }
                | What::ModelDrivenNeeded { user } => {
                    alternatives.push(one(Capability::AppsPremium, user, p.rule, 1));
                    alternatives.push(one(Capability::AppsPerApp, user, p.rule, 1));
                }
                What::PerAppShort { user, needed, held } => {
                    let more = u64::from(needed.saturating_sub(held)).max(1);
                    alternatives.push(one(Capability::AppsPerApp, user, Rule::App1, more));
                    alternatives.push(one(Capability::AppsPremium, user, Rule::Cat2, 1));
                }
                What::ComplexEntity { user, .. } => {
                    needs.push(one(Capability::ComplexEntities, user, p.rule, 1));
                }
                What::RestrictedEntity { user, .. } => {
                    needs.push(one(Capability::RestrictedEntities, user, p.rule, 1));
                }
                _ => {}
            }
        }
        let turns = |fix: &CheckedFix| {
            self.changes(fix, None)
                .is_ok_and(|c| self.app_allowed(app, user, &c))
        };
        let (mut fixes, partial): (Vec<CheckedFix>, Vec<CheckedFix>) = alternatives
            .iter()
            .chain(&needs)
            .filter_map(|n| self.licence_fix(&self.ledger, n))
            .partition(|x| turns(x));
        if fixes.is_empty() {
            // One of the alternatives with every other licence the problems call for.
            for alt in &alternatives {
                let mut all = vec![alt.clone()];
                all.extend(needs.iter().cloned());
                if all.len() > 1 {
                    fixes.extend(self.combined(&all).filter(|x| turns(x)));
                }
            }
        }
        if fixes.is_empty() && depth > 0 {
            let then = |next: &World<'_>| {
                let (s, a, u) = next.app_snapshot(app, user, &[])?;
                let d = decide_app(&s, a, u);
                (!d.allowed).then(|| next.app_fixes_within(&s, &d, depth - 1))
            };
            let chained = partial
                .iter()
                .filter_map(|first| self.chain(first, None, &then).filter(|x| turns(x)));
            fixes.extend(sort(chained.collect()).into_iter().take(1));
        }
        sort(fixes)
    }
}

/// A SKU granting `cap` of which the tenant holds at least `quantity` spare units (the cheapest by list price, so
/// the most valuable units stay free), if any.
fn held_granting<'c>(
    snap: &'c Snapshot,
    ledger: &Ledger,
    cap: Capability,
    quantity: u64,
) -> Option<(SkuIdx, &'c crate::catalog::Sku)> {
    let catalog = snap.catalog();
    snap.tenant()
        .subscribed
        .iter()
        .filter_map(|&i| Some((i, catalog.sku(i)?)))
        // Paid units only: a trial's units are temporary (BUY-7), not a fix.
        .filter(|(i, s)| {
            s.kind == crate::catalog::Kind::Paid
                && s.grants.capabilities.has(cap)
                && ledger.spare(snap, *i) >= quantity
        })
        .min_by_key(|(_, s)| s.price_at(snap.at()).map(|p| p.amount))
}

/// One `combined` fix of `steps`, costing what they cost together; `None` when they cost in two currencies (a
/// total would need a rate nobody stated).
fn combined_of(steps: Vec<CheckedFix>) -> Option<CheckedFix> {
    let mut total: Option<Money> = None;
    for c in steps.iter().filter_map(|s| s.fix.monthly_cost.as_ref()) {
        match &mut total {
            Some(t) if t.currency == c.currency => t.amount += c.amount,
            Some(_) => return None,
            None => total = Some(c.clone()),
        }
    }
    let mut fix = CheckedFix::new(Fix {
        action: Action::Combined,
        sku_idx: None,
        sku: None,
        quantity: None,
        target: None,
        monthly_cost: total,
        rule: Rule::Enf6,
    });
    fix.steps = steps;
    Some(fix)
}

fn sort(mut fixes: Vec<CheckedFix>) -> Vec<CheckedFix> {
    fixes.sort_by(|a, b| {
        a.cost_key()
            .cmp(&b.cost_key())
            .then(a.fix.action.cmp(&b.fix.action))
    });
    fixes.dedup();
    fixes
}
