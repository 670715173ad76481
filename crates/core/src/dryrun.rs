//! Dry runs of fixes (ENF-6): a fix applied to a copy of the tenant with the meaning the web UI gives it
//! (`crates/server/ui/views/fix.js` turns a fix into API calls: buy, allocate, assign, set the flow's licence,
//! change its owner or app), then decided again on a fresh [`Snapshot`]. A fix is listed only if its dry run turns
//! its decision (see [`crate::fixes`]).
//!
//! [`apply_fix`] changes a copy of the whole scenario: the public meaning of a fix. The engine checks each fix on
//! the *neighbourhood* of its decision instead: the flow with its parents, children and the flow it is associated
//! with (FLOW-7, FLOW-15, FLOW-16), the users and apps they name, and every flow that draws on the capacity of
//! their environments (FLOW-14 hands units out last in, first out). That is everything a flow decision reads, so
//! the answer is the whole tenant's, at a cost that does not grow with the tenant: the audit checks every fix of
//! every flow at risk. The property tests hold the two to the same answers.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;
use std::sync::Arc;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::apps::decide_app;
use crate::catalog::SkuIdx;
use crate::chunked::Chunked;
use crate::fixes::{Action, CheckedFix};
use crate::flows::decide_flow;
use crate::money::Totals;
use crate::scenario::{DesktopMode, FlowLicense, PurchaseChannel, Scenario, Subscription};
use crate::snapshot::{AppIdx, EnvIdx, FlowIdx, Snapshot, UserIdx};

/// One write a fix makes, as the API makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `POST …/subscriptions`: an admin purchase that starts on the evaluation day.
    Buy { sku: String, quantity: u64 },
    /// `assignLicense`: one more unit of `sku` for `user`.
    Assign { user: String, sku: String },
    /// `assignLicense` with `removeLicenses`: one unit of `sku` taken from `user` (the optimiser reclaims units
    /// from users who left or use no premium feature, BUY-6).
    Remove { user: String, sku: String },
    /// `currencyAllocations`: `quantity` more units of `sku` for an environment.
    Allocate {
        environment: String,
        sku: String,
        quantity: u64,
    },
    /// `PUT …/flows/{f}/license` with `process`.
    SetProcess { flow: String },
    /// `PATCH …/flows/{f}` with `owner`.
    SetOwner { flow: String, user: String },
    /// `PATCH …/flows/{f}` with `app`.
    SetApp { flow: String, app: String },
}

/// A fix that cannot be applied: a field it needs is missing, or it names something the tenant does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error("the fix names no {0}")]
    Missing(&'static str),
    #[error("unknown {kind} `{id}`")]
    Unknown { kind: &'static str, id: String },
    #[error("{0} units cannot be bought in one purchase")]
    TooMany(u64),
}

/// A fix applied to a copy of the tenant.
#[derive(Debug, Clone)]
pub struct Applied {
    pub scenario: Scenario,
    /// The writes, in the order the web UI makes them.
    pub changes: Vec<Change>,
    /// What the purchases add to the monthly bill, per currency (CAT-13: never converted).
    pub monthly_cost: Totals,
}

/// Applies `fix`, listed for a decision of `flow` (`change-owner` and `associate-app` need it), to a copy of the
/// snapshot's scenario, as the web UI would: `assign-license` buys the units its users lack beyond the spare ones
/// (topped up to CAT-4's minimum holding) and assigns one to each; `assign-process-license` buys what is missing,
/// allocates to the flow's environment what it lacks, and sets the flow's licence to process; `allocate-capacity`
/// buys and allocates; `associate-app` sets the flow's app; `change-owner` makes the co-owner the owner;
/// `buy-license` buys; `combined` applies its steps in order. Quantities a fix states (`buy`, `allocate`) are
/// taken as stated; a fix without them (an older shape) gets them from the tenant's spare units.
pub fn apply_fix(snap: &Snapshot, fix: &CheckedFix, flow: Option<&str>) -> Result<Applied, ApplyError> {
    let mut changes = Vec::new();
    changes_of(snap, &mut Ledger::default(), fix, flow, &mut changes)?;
    let mut scenario = snap.scenario().clone();
    apply_changes(&mut scenario, &changes, snap.at(), Some(snap))?;
    let monthly_cost = cost_of(snap, &changes);
    Ok(Applied {
        scenario,
        changes,
        monthly_cost,
    })
}

/// What buying the units of `changes` costs per month, at the prices of the snapshot's day.
pub(crate) fn cost_of(snap: &Snapshot, changes: &[Change]) -> Totals {
    let mut total = Totals::default();
    for c in changes {
        if let Change::Buy { sku, quantity } = c
            && let Some(p) = snap.catalog().sku_by_id(sku).and_then(|d| d.price_at(snap.at()))
        {
            total.add(&crate::money::Money::new(
                p.amount * Decimal::from(*quantity),
                &p.currency,
            ));
        }
    }
    total
}

/// Units bought and used by fixes applied so far, on top of the snapshot's: so that two fixes never count the
/// same spare unit (the audit's headline applies fixes one after another).
#[derive(Debug, Clone, Default)]
pub(crate) struct Ledger {
    bought: HashMap<SkuIdx, u64>,
    used: HashMap<SkuIdx, u64>,
    /// Where its answers are noted while a computation is watched (shared by its copies).
    pub(crate) watch: Watch,
}

/// A part of the tenant that fixes can change, as read by a dry run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Item {
    User(u32),
    Flow(u32),
    Env(u32),
}

/// One answer of a [`Ledger`] (`need`: `None` for [`Ledger::spare`], the units asked for [`Ledger::to_buy`]), with
/// the units that ledger had bought and used of the SKU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LedgerRead {
    pub(crate) sku: SkuIdx,
    pub(crate) need: Option<u64>,
    pub(crate) bought: u64,
    pub(crate) used: u64,
    pub(crate) answer: u64,
}

/// What a watched computation read of the tenant as the fixes applied so far leave it: the users, flows and
/// environments of its neighbourhoods (a neighbourhood holds everything a decision reads that fixes change,
/// besides subscriptions) and every answer of a ledger. The audit keeps it, to tell whether the same computation
/// on a later version of the tenant would read the same (`crate::audit::Memo`).
#[derive(Debug, Default)]
pub(crate) struct Reads {
    pub(crate) items: Vec<Item>,
    pub(crate) ledger: Vec<LedgerRead>,
}

/// A watch on a computation: its [`Reads`], shared by the worlds and ledgers it copies.
pub(crate) type Watch = Option<Rc<RefCell<Reads>>>;

impl Ledger {
    /// Units of `sku` this ledger has bought and used on top of the snapshot's.
    pub(crate) fn counts(&self, sku: SkuIdx) -> (u64, u64) {
        (
            self.bought.get(&sku).copied().unwrap_or(0),
            self.used.get(&sku).copied().unwrap_or(0),
        )
    }

    /// A ledger with these counts for `sku` alone (to ask it again what a watched ledger answered).
    pub(crate) fn with_counts(sku: SkuIdx, bought: u64, used: u64) -> Ledger {
        Ledger {
            bought: HashMap::from([(sku, bought)]),
            used: HashMap::from([(sku, used)]),
            watch: None,
        }
    }

    fn note(&self, sku: SkuIdx, need: Option<u64>, answer: u64) {
        if let Some(w) = &self.watch {
            let (bought, used) = self.counts(sku);
            w.borrow_mut().ledger.push(LedgerRead {
                sku,
                need,
                bought,
                used,
                answer,
            });
        }
    }

    fn held(&self, snap: &Snapshot, sku: SkuIdx) -> (bool, u64) {
        let t = snap.tenant();
        let bought = self.bought.get(&sku).copied().unwrap_or(0);
        let subscribed = t.subscribed.contains(&sku);
        let units = if subscribed {
            t.units.get(&sku).copied().unwrap_or(0)
        } else {
            0
        };
        (subscribed || bought > 0, units.saturating_add(bought))
    }

    /// Units of `sku` paid for that nobody holds, after the fixes applied so far (0 for a SKU never bought:
    /// its units are the ones assigned).
    pub(crate) fn spare(&self, snap: &Snapshot, sku: SkuIdx) -> u64 {
        let n = self.spare_units(snap, sku);
        self.note(sku, None, n);
        n
    }

    fn spare_units(&self, snap: &Snapshot, sku: SkuIdx) -> u64 {
        let t = snap.tenant();
        let (subscribed, units) = self.held(snap, sku);
        if !subscribed {
            return 0;
        }
        let used = [&t.assigned, &t.allocated, &self.used]
            .iter()
            .map(|m| m.get(&sku).copied().unwrap_or(0))
            .fold(0u64, u64::saturating_add);
        units.saturating_sub(used)
    }

    /// Units to buy so that `need` more can be handed out: what the spare units do not cover, topped up so that
    /// the holding after the purchase meets the SKU's minimum and step (CAT-4: on the holding, not the purchase).
    pub(crate) fn to_buy(&self, snap: &Snapshot, sku: SkuIdx, need: u64) -> u64 {
        let n = self.units_to_buy(snap, sku, need);
        self.note(sku, Some(need), n);
        n
    }

    fn units_to_buy(&self, snap: &Snapshot, sku: SkuIdx, need: u64) -> u64 {
        let short = need.saturating_sub(self.spare_units(snap, sku));
        if short == 0 {
            return 0;
        }
        let Some(def) = snap.catalog().sku(sku) else {
            return short;
        };
        let (_, held) = self.held(snap, sku);
        let minimum = u64::from(def.minimum);
        let step = u64::from(def.step.max(1));
        let mut buy = short.max(minimum.saturating_sub(held));
        let over = held.saturating_add(buy).saturating_sub(minimum) % step;
        if over != 0 {
            buy = buy.saturating_add(step - over);
        }
        buy
    }

    /// Counts the units `change` buys or hands out.
    pub(crate) fn record(&mut self, snap: &Snapshot, change: &Change) {
        let (map, sku, n) = match change {
            Change::Buy { sku, quantity } => (&mut self.bought, sku, *quantity),
            Change::Assign { sku, .. } => (&mut self.used, sku, 1),
            Change::Allocate { sku, quantity, .. } => (&mut self.used, sku, *quantity),
            _ => return,
        };
        if let Some(idx) = snap.catalog().sku_idx(sku) {
            let slot = map.entry(idx).or_insert(0);
            *slot = slot.saturating_add(n);
        }
    }
}

/// The writes of `fix`, with the purchases worked out against `ledger` (which records them).
pub(crate) fn changes_of(
    snap: &Snapshot,
    ledger: &mut Ledger,
    fix: &CheckedFix,
    flow: Option<&str>,
    out: &mut Vec<Change>,
) -> Result<(), ApplyError> {
    let f = &fix.fix;
    let start = out.len();
    let sku = || -> Result<(SkuIdx, String), ApplyError> {
        let id = f.sku.as_deref().ok_or(ApplyError::Missing("sku"))?;
        let idx = snap.catalog().sku_idx(id).ok_or_else(|| ApplyError::Unknown {
            kind: "SKU",
            id: id.to_owned(),
        })?;
        Ok((idx, id.to_owned()))
    };
    let target = || f.target.as_deref().ok_or(ApplyError::Missing("target"));
    let buy = |ledger: &Ledger, idx: SkuIdx, id: &str, need: u64, out: &mut Vec<Change>| {
        let n = fix.buy.unwrap_or_else(|| ledger.to_buy(snap, idx, need));
        if n > 0 {
            out.push(Change::Buy {
                sku: id.to_owned(),
                quantity: n,
            });
        }
    };
    match f.action {
        Action::AssignLicense => {
            let (idx, id) = sku()?;
            let users: Vec<&str> = target()?
                .split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .collect();
            buy(ledger, idx, &id, users.len() as u64, out);
            out.extend(users.into_iter().map(|u| Change::Assign {
                user: u.to_owned(),
                sku: id.clone(),
            }));
        }
        Action::AssignProcessLicense | Action::AllocateCapacity => {
            let (idx, id) = sku()?;
            let process = f.action == Action::AssignProcessLicense;
            let flow_id = if process { Some(target()?) } else { None };
            let env = match (&fix.environment, flow_id) {
                (Some(e), _) => e.clone(),
                (None, Some(fl)) => {
                    let i = snap.flow_idx(fl).ok_or_else(|| ApplyError::Unknown {
                        kind: "flow",
                        id: fl.to_owned(),
                    })?;
                    snap.flow(i).map_or("?", |r| snap.env_id(r.env)).to_owned()
                }
                (None, None) => target()?.to_owned(),
            };
            let allocate = fix.allocate.unwrap_or_else(|| {
                if !process {
                    return f.quantity.unwrap_or(1);
                }
                let free = snap
                    .env_idx(&env)
                    .and_then(|e| snap.env(e))
                    .is_some_and(|e| e.process_units > e.process_demand.saturating_add(e.bot_demand));
                u64::from(!free)
            });
            buy(ledger, idx, &id, allocate, out);
            if allocate > 0 {
                out.push(Change::Allocate {
                    environment: env,
                    sku: id,
                    quantity: allocate,
                });
            }
            if let Some(fl) = flow_id {
                out.push(Change::SetProcess { flow: fl.to_owned() });
            }
        }
        Action::AssociateApp | Action::ChangeOwner => {
            let fl = flow.ok_or(ApplyError::Missing("flow"))?.to_owned();
            let t = target()?.to_owned();
            out.push(if f.action == Action::AssociateApp {
                Change::SetApp { flow: fl, app: t }
            } else {
                Change::SetOwner { flow: fl, user: t }
            });
        }
        Action::BuyLicense => {
            let (_, id) = sku()?;
            let n = fix.buy.or(f.quantity).unwrap_or(1);
            out.push(Change::Buy { sku: id, quantity: n });
        }
        Action::Combined => {
            for step in &fix.steps {
                changes_of(snap, ledger, step, flow, out)?;
            }
            return Ok(());
        }
    }
    if let Some(new) = out.get(start..) {
        for c in new {
            ledger.record(snap, c);
        }
    }
    Ok(())
}

/// Finds an item by id: through the snapshot's interner when the scenario is the snapshot's (same positions),
/// else by a scan (the small scenarios of a neighbourhood).
fn position<T>(items: &Chunked<T>, id: &str, key: fn(&T) -> &str, interned: Option<u32>) -> Option<usize> {
    match interned {
        Some(i) if items.get(i as usize).is_some_and(|x| key(x) == id) => Some(i as usize),
        _ => items.iter().position(|x| key(x) == id),
    }
}

/// Makes the writes on `s`. `aligned`: a snapshot built from a scenario with the same users, environments, apps
/// and flows in the same order, whose interners find them without a scan.
pub(crate) fn apply_changes(
    s: &mut Scenario,
    changes: &[Change],
    at: NaiveDate,
    aligned: Option<&Snapshot>,
) -> Result<(), ApplyError> {
    let unknown = |kind: &'static str, id: &str| ApplyError::Unknown {
        kind,
        id: id.to_owned(),
    };
    for c in changes {
        match c {
            Change::Buy { sku, quantity } => {
                let bought = Subscription {
                    sku: sku.clone(),
                    quantity: u32::try_from(*quantity).map_err(|_| ApplyError::TooMany(*quantity))?,
                    start: Some(at),
                    channel: PurchaseChannel::Admin,
                    ..Subscription::default()
                };
                // Purchases of a SKU on the same day, on the same terms, are one subscription for what follows
                // (units, bill): adding to it keeps the tenant as small as the fixes leave it.
                // Found by reading, then changed in place: only the one chunk holding it is copied.
                let at = s.subscriptions.iter().rposition(|x| {
                    Subscription {
                        quantity: bought.quantity,
                        ..x.clone()
                    } == bought
                });
                let same = at.and_then(|i| s.subscriptions.get_mut(i));
                match same.map(|x| (x.quantity.checked_add(bought.quantity), x)) {
                    Some((Some(n), x)) => x.quantity = n,
                    Some((None, _)) => return Err(ApplyError::TooMany(*quantity)),
                    None => s.subscriptions.push(bought),
                }
            }
            Change::Assign { user, sku } => {
                let i = aligned.and_then(|a| a.user_idx(user)).map(|u| u.0);
                let i = position(&s.users, user, |u| &u.id, i).ok_or_else(|| unknown("user", user))?;
                if let Some(u) = s.users.get_mut(i) {
                    u.licenses.push(sku.clone());
                }
            }
            Change::Remove { user, sku } => {
                let i = aligned.and_then(|a| a.user_idx(user)).map(|u| u.0);
                let i = position(&s.users, user, |u| &u.id, i).ok_or_else(|| unknown("user", user))?;
                let u = s.users.get_mut(i).ok_or_else(|| unknown("user", user))?;
                let at = u
                    .licenses
                    .iter()
                    .position(|l| l == sku)
                    .ok_or_else(|| ApplyError::Unknown {
                        kind: "licence of the user",
                        id: sku.clone(),
                    })?;
                u.licenses.remove(at);
            }
            Change::Allocate {
                environment,
                sku,
                quantity,
            } => {
                let i = aligned.and_then(|a| a.env_idx(environment)).map(|e| e.0);
                let i = position(&s.environments, environment, |e| &e.id, i)
                    .ok_or_else(|| unknown("environment", environment))?;
                if let Some(e) = s.environments.get_mut(i) {
                    let slot = e.allocations.entry(sku.clone()).or_insert(0);
                    *slot = slot.saturating_add(*quantity);
                }
            }
            Change::SetProcess { flow } | Change::SetOwner { flow, .. } | Change::SetApp { flow, .. } => {
                let i = aligned.and_then(|a| a.flow_idx(flow)).map(|f| f.0);
                let i = position(&s.flows, flow, |f| &f.id, i).ok_or_else(|| unknown("flow", flow))?;
                let Some(f) = s.flows.get_mut(i) else { continue };
                match c {
                    Change::SetProcess { .. } => f.license = FlowLicense::Process,
                    Change::SetOwner { user, .. } => f.owner = user.clone(),
                    Change::SetApp { app, .. } => f.app = Some(app.clone()),
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

/// Where each flow sits, worked out once per snapshot for the neighbourhoods: each flow's children, and each
/// environment's flows that draw on its capacity (process and per-flow flows, unattended desktop flows).
#[derive(Debug)]
pub(crate) struct Index {
    children: Vec<Vec<u32>>,
    capacity: Vec<Vec<u32>>,
    /// Positions of the events about each user and each flow (events are never changed by a fix).
    events_of_user: HashMap<u32, Vec<usize>>,
    events_of_flow: HashMap<u32, Vec<usize>>,
}

impl Index {
    pub(crate) fn new(snap: &Snapshot) -> Index {
        let mut children = vec![Vec::new(); snap.flows().len()];
        let mut capacity = vec![Vec::new(); snap.envs().len()];
        for (i, f) in snap.flows() {
            if let Some(c) = f.parent.and_then(|p| children.get_mut(p.0 as usize)) {
                c.push(i.0);
            }
            let draws = f.license != FlowLicense::User
                || (f.premium.desktop && f.desktop_mode == Some(DesktopMode::Unattended));
            if let Some(c) = capacity.get_mut(f.env.0 as usize).filter(|_| draws) {
                c.push(i.0);
            }
        }
        let mut events_of_user: HashMap<u32, Vec<usize>> = HashMap::new();
        let mut events_of_flow: HashMap<u32, Vec<usize>> = HashMap::new();
        for (i, e) in snap.scenario().events.iter().enumerate() {
            if let Some(u) = e.user.as_deref().and_then(|u| snap.user_idx(u)) {
                events_of_user.entry(u.0).or_default().push(i);
            }
            if let Some(f) = e.flow.as_deref().and_then(|f| snap.flow_idx(f)) {
                events_of_flow.entry(f.0).or_default().push(i);
            }
        }
        Index {
            children,
            capacity,
            events_of_user,
            events_of_flow,
        }
    }
}

impl Index {
    /// The flows below `flow` (children, their children, …).
    pub(crate) fn descendants(&self, flow: FlowIdx) -> Vec<FlowIdx> {
        let mut out = Vec::new();
        let mut stack = vec![flow.0];
        while let Some(i) = stack.pop() {
            for &c in self.children.get(i as usize).into_iter().flatten() {
                if !out.contains(&FlowIdx(c)) && c != flow.0 {
                    out.push(FlowIdx(c));
                    stack.push(c);
                }
            }
        }
        out
    }
}

/// The tenant as fixes leave it: the snapshot's scenario (copied on the first write), the units the fixes bought
/// and used, and the flows they set to a process licence.
#[derive(Debug)]
pub(crate) struct World<'a> {
    pub(crate) base: &'a Snapshot,
    pub(crate) index: &'a Index,
    scenario: Cow<'a, Scenario>,
    pub(crate) ledger: Ledger,
    /// Per environment.
    set_to_process: HashMap<u32, Vec<u32>>,
    /// Where the parts of the tenant its dry runs read are noted while a computation is watched.
    pub(crate) watch: Watch,
}

impl<'a> World<'a> {
    pub(crate) fn new(base: &'a Snapshot, index: &'a Index) -> World<'a> {
        World {
            base,
            index,
            scenario: Cow::Borrowed(base.scenario()),
            ledger: Ledger::default(),
            set_to_process: HashMap::new(),
            watch: None,
        }
    }

    /// Notes every read of this world and its ledger (and of the copies a computation makes) in a fresh
    /// [`Reads`], until [`World::unwatch`].
    pub(crate) fn watch(&mut self) {
        let w = Rc::new(RefCell::new(Reads::default()));
        self.ledger.watch = Some(Rc::clone(&w));
        self.watch = Some(w);
    }

    /// What was read since [`World::watch`]; reads are no longer noted.
    pub(crate) fn unwatch(&mut self) -> Reads {
        self.ledger.watch = None;
        self.watch
            .take()
            .map(|w| {
                Rc::try_unwrap(w).map_or_else(|w| std::mem::take(&mut *w.borrow_mut()), RefCell::into_inner)
            })
            .unwrap_or_default()
    }

    fn note(&self, items: impl IntoIterator<Item = Item>) {
        if let Some(w) = &self.watch {
            w.borrow_mut().items.extend(items);
        }
    }

    /// The flows the fixes applied so far set to a process licence in `env`.
    pub(crate) fn set_to_process(&self, env: u32) -> &[u32] {
        self.set_to_process.get(&env).map_or(&[], Vec::as_slice)
    }

    /// The tenant as the fixes applied so far leave it.
    pub(crate) fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The flows that draw on the capacity of `env` (process, per-flow and unattended desktop flows), with those
    /// the fixes applied so far set to a process licence there.
    pub(crate) fn capacity_flows(&self, env: EnvIdx) -> Vec<FlowIdx> {
        let listed = self.index.capacity.get(env.0 as usize).into_iter().flatten();
        let set = self.set_to_process.get(&env.0).into_iter().flatten();
        listed.chain(set).map(|f| FlowIdx(*f)).collect()
    }

    /// Whether a fix was applied (the tenant differs from the snapshot's).
    pub(crate) fn changed(&self) -> bool {
        matches!(self.scenario, Cow::Owned(_))
    }

    /// Applies `fix` for `flow` for good: later fixes see its writes and the units it took.
    pub(crate) fn apply(&mut self, fix: &CheckedFix, flow: Option<&str>) -> Result<(), ApplyError> {
        self.apply_noting(fix, flow, &mut Vec::new())
    }

    /// [`World::apply`], with the writes it makes (or tries to make, when it fails) added to `changes`.
    pub(crate) fn apply_noting(
        &mut self,
        fix: &CheckedFix,
        flow: Option<&str>,
        changes: &mut Vec<Change>,
    ) -> Result<(), ApplyError> {
        let start = changes.len();
        changes_of(self.base, &mut self.ledger, fix, flow, changes)?;
        let changes = changes.get(start..).unwrap_or_default();
        apply_changes(self.scenario.to_mut(), changes, self.base.at(), Some(self.base))?;
        for c in changes {
            if let Change::SetProcess { flow } = c
                && let Some((i, f)) = self
                    .base
                    .flow_idx(flow)
                    .and_then(|i| Some((i, self.base.flow(i)?)))
            {
                self.set_to_process.entry(f.env.0).or_default().push(i.0);
            }
        }
        Ok(())
    }

    /// The writes of `fix` against the units left now (the world is not changed).
    pub(crate) fn changes(&self, fix: &CheckedFix, flow: Option<&str>) -> Result<Vec<Change>, ApplyError> {
        let mut out = Vec::new();
        changes_of(self.base, &mut self.ledger.clone(), fix, flow, &mut out)?;
        Ok(out)
    }

    /// A snapshot of the neighbourhood of `flow` with `changes` made, and the flow's and user's index in it.
    pub(crate) fn flow_snapshot(
        &self,
        flow: FlowIdx,
        as_user: Option<UserIdx>,
        changes: &[Change],
    ) -> Option<(Snapshot, FlowIdx, Option<UserIdx>)> {
        let mut s = self.flow_neighbourhood(flow, as_user, changes);
        apply_changes(&mut s, changes, self.base.at(), None).ok()?;
        let snap = Snapshot::new(Arc::clone(self.base.catalog_arc()), s, self.base.at()).ok()?;
        let f = snap.flow_idx(self.base.flow_id(flow))?;
        let u = match as_user {
            Some(u) => Some(snap.user_idx(self.base.user_id(u))?),
            None => None,
        };
        Some((snap, f, u))
    }

    /// Whether `flow` (for `as_user`) is allowed once `changes` are made.
    pub(crate) fn flow_allowed(&self, flow: FlowIdx, as_user: Option<UserIdx>, changes: &[Change]) -> bool {
        self.flow_snapshot(flow, as_user, changes)
            .is_some_and(|(s, f, u)| decide_flow(&s, f, u).allowed)
    }

    /// A snapshot of the neighbourhood of `user` on `app` with `changes` made, and their indices in it.
    pub(crate) fn app_snapshot(
        &self,
        app: AppIdx,
        user: UserIdx,
        changes: &[Change],
    ) -> Option<(Snapshot, AppIdx, UserIdx)> {
        let mut s = self.app_neighbourhood(app, user, changes);
        apply_changes(&mut s, changes, self.base.at(), None).ok()?;
        let snap = Snapshot::new(Arc::clone(self.base.catalog_arc()), s, self.base.at()).ok()?;
        let a = snap.app_idx(self.base.app_id(app))?;
        let u = snap.user_idx(self.base.user_id(user))?;
        Some((snap, a, u))
    }

    /// Whether `user` may open `app` once `changes` are made.
    pub(crate) fn app_allowed(&self, app: AppIdx, user: UserIdx, changes: &[Change]) -> bool {
        self.app_snapshot(app, user, changes)
            .is_some_and(|(s, a, u)| decide_app(&s, a, u).allowed)
    }

    /// This tenant with `fix` (for `flow`) applied, as a world of its own (the whole scenario is copied).
    pub(crate) fn after(&self, fix: &CheckedFix, flow: Option<&str>) -> Option<World<'a>> {
        let mut next = World {
            base: self.base,
            index: self.index,
            scenario: Cow::Owned(self.scenario.as_ref().clone()),
            ledger: self.ledger.clone(),
            set_to_process: self.set_to_process.clone(),
            watch: self.watch.clone(),
        };
        next.apply(fix, flow).ok()?;
        Some(next)
    }

    /// Users, environments, apps and flows named by `changes`, as seeds of a neighbourhood.
    fn seeds(&self, changes: &[Change], n: &mut Hood) {
        for c in changes {
            match c {
                Change::Assign { user, .. } | Change::Remove { user, .. } => n.user_id(self.base, user),
                Change::SetOwner { flow, user } => {
                    n.user_id(self.base, user);
                    n.flow_id(self.base, flow);
                }
                Change::SetApp { flow, app } => {
                    n.flow_id(self.base, flow);
                    n.apps.extend(self.base.app_idx(app).map(|a| a.0));
                }
                Change::SetProcess { flow } => n.flow_id(self.base, flow),
                Change::Allocate { environment, .. } => {
                    n.envs.extend(self.base.env_idx(environment).map(|e| e.0));
                }
                Change::Buy { .. } => {}
            }
        }
    }

    /// The part of the tenant a decision of `flow` reads (see the module's doc), plus what `changes` name: the
    /// flows, users, environments and apps, and apart the flows that only compete for capacity.
    fn hood(&self, flow: FlowIdx, as_user: Option<UserIdx>, changes: &[Change]) -> (Hood, BTreeSet<u32>) {
        let base = self.base;
        let mut n = Hood::default();
        n.flows.insert(flow.0);
        n.users.extend(as_user.map(|u| u.0));
        self.seeds(changes, &mut n);
        // Parents, children and associated flows, transitively.
        let mut stack: Vec<u32> = n.flows.iter().copied().collect();
        while let Some(i) = stack.pop() {
            let Some(f) = base.flow(FlowIdx(i)) else { continue };
            let linked = f
                .parent
                .into_iter()
                .chain(f.in_context_of)
                .map(|x| x.0)
                .chain(self.index.children.get(i as usize).into_iter().flatten().copied());
            for j in linked {
                if n.flows.insert(j) {
                    stack.push(j);
                }
            }
        }
        let sc = &*self.scenario;
        let linked: Vec<u32> = n.flows.iter().copied().collect();
        for i in linked {
            let Some(f) = sc.flows.get(i as usize) else {
                continue;
            };
            n.envs.extend(base.env_idx(&f.environment).map(|e| e.0));
            n.apps
                .extend(f.app.as_deref().and_then(|a| base.app_idx(a)).map(|a| a.0));
            for u in std::iter::once(&f.owner)
                .chain(&f.co_owners)
                .chain(&f.run_by)
                .chain(&f.approvers)
                .chain(&f.beneficiaries)
            {
                n.user_id(base, u);
            }
        }
        let apps: Vec<u32> = n.apps.iter().copied().collect();
        n.envs
            .extend(apps.iter().filter_map(|a| base.app(AppIdx(*a))).map(|a| a.env.0));
        // Every flow that draws on the capacity of those environments, stripped of its links (it is not linked to
        // the flows above, or it would be one of them): only its place in the queue matters.
        let mut others = BTreeSet::new();
        for &e in &n.envs {
            let listed = self.index.capacity.get(e as usize).into_iter().flatten();
            let set = self.set_to_process.get(&e).into_iter().flatten();
            others.extend(listed.chain(set).copied().filter(|f| !n.flows.contains(f)));
        }
        (n, others)
    }

    /// The scenario of [`World::hood`].
    fn flow_neighbourhood(&self, flow: FlowIdx, as_user: Option<UserIdx>, changes: &[Change]) -> Scenario {
        let base = self.base;
        let sc = &*self.scenario;
        let (mut n, others) = self.hood(flow, as_user, changes);
        for &i in &others {
            if let Some(f) = sc.flows.get(i as usize) {
                n.user_id(base, &f.owner);
            }
        }
        self.note(n.flows.iter().chain(&others).map(|i| Item::Flow(*i)));
        let flows = n
            .flows
            .iter()
            .filter_map(|i| sc.flows.get(*i as usize).cloned())
            .chain(others.iter().filter_map(|i| {
                let mut f = sc.flows.get(*i as usize)?.clone();
                f.parent = None;
                f.in_context_of = None;
                f.app = None;
                f.co_owners.clear();
                f.run_by.clear();
                f.approvers.clear();
                f.beneficiaries.clear();
                Some(f)
            }))
            .collect();
        self.scenario_of(&n, flows, None)
    }

    /// The part of the tenant a decision of `user` on `app` reads: the user and every app they use (per-app
    /// passes count them, APP-1), plus what `changes` name.
    fn app_neighbourhood(&self, app: AppIdx, user: UserIdx, changes: &[Change]) -> Scenario {
        let mut n = Hood::default();
        n.users.insert(user.0);
        n.apps.insert(app.0);
        self.seeds(changes, &mut n);
        let uid = self.base.user_id(user);
        for (i, a) in self.scenario.apps.iter().enumerate() {
            if a.users.iter().any(|u| u == uid) {
                n.apps.extend(u32::try_from(i).ok());
            }
        }
        let apps: Vec<u32> = n.apps.iter().copied().collect();
        n.envs.extend(
            apps.iter()
                .filter_map(|a| self.base.app(AppIdx(*a)))
                .map(|a| a.env.0),
        );
        self.scenario_of(&n, Vec::new(), Some(uid))
    }

    /// A scenario of the users, environments and apps of `n` and `flows`, with every subscription and entity, and
    /// the events about its users and flows. Apps keep only `app_user` among their users (or none).
    fn scenario_of(&self, n: &Hood, flows: Vec<crate::scenario::Flow>, app_user: Option<&str>) -> Scenario {
        let sc = &*self.scenario;
        let pick = |set: &BTreeSet<u32>| -> Vec<usize> { set.iter().map(|i| *i as usize).collect() };
        // The owner of a developer environment is its user (CAT-11): a decision there reads them.
        let mut with_owners = n.users.clone();
        for &e in &n.envs {
            let owner = sc.environments.get(e as usize).and_then(|e| e.owner.as_deref());
            with_owners.extend(owner.and_then(|o| self.base.user_idx(o)).map(|u| u.0));
        }
        self.note(
            with_owners
                .iter()
                .map(|u| Item::User(*u))
                .chain(n.envs.iter().map(|e| Item::Env(*e))),
        );
        let users: Vec<_> = pick(&with_owners)
            .into_iter()
            .filter_map(|i| sc.users.get(i).cloned())
            .collect();
        let apps = pick(&n.apps)
            .into_iter()
            .filter_map(|i| {
                let mut a = sc.apps.get(i)?.clone();
                a.users.retain(|u| Some(u.as_str()) == app_user);
                a.owner = None;
                Some(a)
            })
            .collect();
        let environments = pick(&n.envs)
            .into_iter()
            .filter_map(|i| sc.environments.get(i).cloned())
            .collect();
        let mut events: Vec<usize> = n
            .users
            .iter()
            .filter_map(|u| self.index.events_of_user.get(u))
            .chain(n.flows.iter().filter_map(|f| self.index.events_of_flow.get(f)))
            .flatten()
            .copied()
            .collect();
        events.sort_unstable();
        events.dedup();
        let events = events.iter().filter_map(|i| sc.events.get(*i).cloned()).collect();
        Scenario {
            version: sc.version,
            tenant: sc.tenant.clone(),
            subscriptions: sc.subscriptions.clone(),
            users: users.into(),
            environments,
            apps,
            flows: flows.into(),
            entities: sc.entities.clone(),
            usage: Chunked::new(),
            events,
            license_requests: Chunked::new(),
            consumption: Chunked::new(),
        }
    }
}

/// The positions a neighbourhood takes from the tenant.
#[derive(Debug, Default)]
struct Hood {
    flows: BTreeSet<u32>,
    users: BTreeSet<u32>,
    envs: BTreeSet<u32>,
    apps: BTreeSet<u32>,
}

impl Hood {
    fn user_id(&mut self, base: &Snapshot, id: &str) {
        self.users.extend(base.user_idx(id).map(|u| u.0));
    }
    fn flow_id(&mut self, base: &Snapshot, id: &str) {
        self.flows.extend(base.flow_idx(id).map(|f| f.0));
    }
}
