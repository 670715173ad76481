//! Fixes: what would make a denied decision allowed, with its monthly cost from the catalog, cheapest first
//! (ENF-6). A fix that uses units the tenant already pays for costs nothing.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::catalog::{Capability, SkuIdx};
use crate::decision::{AppDecision, FlowDecision, What};
use crate::money::Money;
use crate::rule::Rule;
use crate::scenario::{FlowLicense, Trigger};
use crate::snapshot::{EnvIdx, Snapshot, UserIdx};

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Give users a licence (bought, or an unassigned unit).
    AssignLicense,
    /// Give the flow a process licence in its environment (FLOW-14).
    AssignProcessLicense,
    /// Allocate capacity units to an environment.
    AllocateCapacity,
    /// Associate the flow with an app of its environment (FLOW-9, ENF-6).
    AssociateApp,
    /// Make a co-owner who holds a premium licence the owner (FLOW-24).
    ChangeOwner,
    /// Buy more units of a SKU.
    BuyLicense,
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

impl Serialize for Fix {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
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
        m.serialize_entry("rule", &self.rule)?;
        m.end()
    }
}

/// Units of a SKU the tenant pays for that nobody holds yet.
pub fn spare_units(snap: &Snapshot, sku: SkuIdx) -> u64 {
    let t = snap.tenant();
    if !t.subscribed.contains(&sku) {
        return 0;
    }
    let units = t.units.get(&sku).copied().unwrap_or(0);
    let used = t
        .assigned
        .get(&sku)
        .copied()
        .unwrap_or(0)
        .saturating_add(t.allocated.get(&sku).copied().unwrap_or(0));
    units.saturating_sub(used)
}

/// Cost of `quantity` more units of `sku`, after using spare units.
fn cost(snap: &Snapshot, sku: SkuIdx, quantity: u64) -> Option<Money> {
    let def = snap.catalog().sku(sku)?;
    let price = def.price_at(snap.at())?;
    let to_buy = quantity.saturating_sub(spare_units(snap, sku));
    // CAT-4: the purchase minimum is on the tenant's holding, not on each purchase.
    let t = snap.tenant();
    let held = if t.subscribed.contains(&sku) {
        t.units.get(&sku).copied().unwrap_or(0)
    } else {
        0
    };
    let to_buy = if to_buy == 0 {
        0
    } else {
        to_buy.max(u64::from(def.minimum).saturating_sub(held))
    };
    Some(Money::new(price.amount * Decimal::from(to_buy), &price.currency))
}

fn license_fix(snap: &Snapshot, cap: Capability, users: &[UserIdx], rule: Rule) -> Option<Fix> {
    let (sku, def) = snap.catalog().cheapest_granting(cap, snap.at())?;
    let quantity = users.len() as u64;
    let target = users
        .iter()
        .map(|u| snap.user_id(*u))
        .collect::<Vec<_>>()
        .join(", ");
    Some(Fix {
        action: Action::AssignLicense,
        sku_idx: Some(sku),
        sku: Some(def.id.clone()),
        quantity: Some(quantity),
        target: Some(target),
        monthly_cost: cost(snap, sku, quantity),
        rule,
    })
}

/// A process licence for a flow in `env`: free if the environment has an unused unit or the tenant an
/// unallocated one, else bought (FLOW-14).
fn process_fix(snap: &Snapshot, env: EnvIdx, target: &str, action: Action, rule: Rule) -> Option<Fix> {
    let (sku, def) = snap.catalog().cheapest_granting(Capability::Process, snap.at())?;
    let env_free = snap
        .env(env)
        .is_some_and(|e| e.process_units > e.process_demand.saturating_add(e.bot_demand));
    let monthly_cost = if env_free {
        Some(Money::zero(&def.prices.first()?.currency))
    } else {
        cost(snap, sku, 1)
    };
    Some(Fix {
        action,
        sku_idx: Some(sku),
        sku: Some(def.id.clone()),
        quantity: Some(1),
        target: Some(target.to_owned()),
        monthly_cost,
        rule,
    })
}

fn sort(mut fixes: Vec<Fix>) -> Vec<Fix> {
    fixes.sort_by(|a, b| {
        let ka = a.monthly_cost.as_ref().map_or(Decimal::ZERO, |m| m.amount);
        let kb = b.monthly_cost.as_ref().map_or(Decimal::ZERO, |m| m.amount);
        ka.cmp(&kb).then(a.action.cmp(&b.action))
    });
    fixes.dedup();
    fixes
}

/// The fixes for a flow decision, cheapest first; empty when it is allowed.
pub fn flow_fixes(snap: &Snapshot, d: &FlowDecision) -> Vec<Fix> {
    let mut fixes = Vec::new();
    if d.allowed {
        return fixes;
    }
    let Some(f) = snap.flow(d.flow) else { return fixes };
    let flow_id = snap.flow_id(d.flow);
    let mut unlicensed: Vec<UserIdx> = Vec::new();
    let mut needs_rpa = false;
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
            What::StandardNeeded { user } => {
                fixes.extend(license_fix(snap, Capability::FlowsStandard, &[user], p.rule))
            }
            What::ComplexEntity { user, .. } => {
                fixes.extend(license_fix(snap, Capability::ComplexEntities, &[user], p.rule));
            }
            What::RestrictedEntity { user, .. } => {
                fixes.extend(license_fix(snap, Capability::RestrictedEntities, &[user], p.rule));
            }
            What::NoProcessUnit { env } | What::NoBot { env } => {
                let target = snap.env_id(env).to_owned();
                fixes.extend(process_fix(snap, env, &target, Action::AllocateCapacity, p.rule));
            }
            What::NoPerFlowUnit { env } => {
                // Per flow can no longer be bought (CAT-4): move the flow to a process licence.
                fixes.extend(process_fix(
                    snap,
                    env,
                    flow_id,
                    Action::AssignProcessLicense,
                    Rule::Flow14,
                ));
            }
            What::ServicePrincipalNeedsProcess => {
                fixes.extend(process_fix(
                    snap,
                    f.env,
                    flow_id,
                    Action::AssignProcessLicense,
                    Rule::Flow20,
                ));
            }
            _ => {}
        }
    }
    unlicensed.sort();
    unlicensed.dedup();
    // Users who left cannot be licensed, nor can consumer accounts (CAT-14): change the owner instead.
    let (gone, present): (Vec<UserIdx>, Vec<UserIdx>) = unlicensed
        .iter()
        .partition(|u| snap.user(**u).is_some_and(|r| r.left.is_some() || r.consumer));
    if !present.is_empty() {
        let cap = if needs_rpa {
            Capability::AttendedRpa
        } else {
            Capability::FlowsPremium
        };
        fixes.extend(license_fix(snap, cap, &present, Rule::Enf6));
    }
    if !unlicensed.is_empty() && f.license == FlowLicense::User {
        fixes.extend(process_fix(
            snap,
            f.env,
            flow_id,
            Action::AssignProcessLicense,
            Rule::Enf6,
        ));
    }
    // ENF-6 / FLOW-9: associate an automated flow with an app of its environment when its owner's Power Apps
    // licence would then cover it.
    let owner_in_app = present
        .iter()
        .any(|u| snap.user(*u).is_some_and(|r| r.has(Capability::FlowsAppContext)));
    if owner_in_app && f.trigger != Trigger::Instant && f.app.is_none() {
        if let Some(app) = snap
            .env(f.env)
            .and_then(|e| e.first_app)
            .and_then(|a| snap.app(a))
        {
            fixes.push(Fix {
                action: Action::AssociateApp,
                sku_idx: None,
                sku: None,
                quantity: None,
                target: Some(app.id.to_string()),
                monthly_cost: None,
                rule: Rule::Flow9,
            });
        }
    }
    // FLOW-24: a co-owner with a premium licence can take the flow over.
    if !gone.is_empty() || !present.is_empty() {
        if let Some(co) = f
            .co_owners
            .iter()
            .find(|c| snap.user(**c).is_some_and(|u| u.has(Capability::FlowsPremium)))
        {
            fixes.push(Fix {
                action: Action::ChangeOwner,
                sku_idx: None,
                sku: None,
                quantity: None,
                target: Some(snap.user_id(*co).to_owned()),
                monthly_cost: None,
                rule: Rule::Flow24,
            });
        }
    }
    sort(fixes)
}

/// The fixes for an app decision, cheapest first.
pub fn app_fixes(snap: &Snapshot, d: &AppDecision) -> Vec<Fix> {
    let mut fixes = Vec::new();
    if d.allowed {
        return fixes;
    }
    for p in d.problems.iter() {
        match p.what {
            What::AppNotCovered { user, .. }
            | What::PortalNotCovered { user }
            | What::ModelDrivenNeeded { user } => {
                fixes.extend(license_fix(snap, Capability::AppsPremium, &[user], p.rule));
                fixes.extend(license_fix(snap, Capability::AppsPerApp, &[user], p.rule));
            }
            What::PerAppShort { user, needed, held } => {
                if let Some(mut fix) = license_fix(snap, Capability::AppsPerApp, &[user], Rule::App1) {
                    let more = u64::from(needed.saturating_sub(held));
                    fix.quantity = Some(more);
                    if let Some(sku) = fix.sku_idx {
                        fix.monthly_cost = cost(snap, sku, more);
                    }
                    fixes.push(fix);
                }
                fixes.extend(license_fix(snap, Capability::AppsPremium, &[user], Rule::Cat2));
            }
            What::ComplexEntity { user, .. } => {
                fixes.extend(license_fix(snap, Capability::ComplexEntities, &[user], p.rule));
            }
            What::RestrictedEntity { user, .. } => {
                fixes.extend(license_fix(snap, Capability::RestrictedEntities, &[user], p.rule));
            }
            _ => {}
        }
    }
    sort(fixes)
}
