//! Buying: the monthly bill (CAT, BUY-6), licence usage per SKU, and purchase previews under admin policy
//! (BUY-1, BUY-7, BUY-8, CAT-4, CAT-9, CAT-10, CAT-14).

use std::collections::HashMap;

use chrono::Days;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::catalog::{Kind, SkuIdx};
use crate::decision::Finding;
use crate::fixes::{Action, Fix};
use crate::money::{Money, Totals};
use crate::rule::Rule;
use crate::scenario::PurchaseChannel;
use crate::snapshot::Snapshot;

mod purchase;

pub use purchase::{Purchase, preview_purchase};

/// One line of the bill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CostLine {
    pub sku: String,
    pub name: String,
    pub quantity: u64,
    pub unit_price: Money,
    pub monthly: Money,
    pub channel: &'static str,
    /// `tenant`, or the self-service buyer who pays (BUY-1).
    pub billed_to: String,
}

/// Units per SKU: bought, assigned, available, and who holds them (BUY-6, like Graph's subscribedSkus).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkuUsage {
    pub sku: String,
    pub purchased: u64,
    pub assigned: u64,
    pub allocated: u64,
    pub available: i64,
    pub holders: Vec<String>,
}

/// The monthly bill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cost {
    pub total: Totals,
    pub lines: Vec<CostLine>,
    pub usage: Vec<SkuUsage>,
    pub problems: Vec<Finding>,
    pub fixes: Vec<Fix>,
    pub rules: Vec<Rule>,
}

/// The days a subscription is in force: from its start, to its end (exclusive) or, for a trial, the end of the
/// trial's days (CAT-10) if sooner. `None`: open.
pub fn in_force(
    sub: &crate::scenario::Subscription,
    def: &crate::catalog::Sku,
    catalog: &crate::Catalog,
) -> (Option<chrono::NaiveDate>, Option<chrono::NaiveDate>) {
    let mut end = sub.end;
    if sub.channel == PurchaseChannel::Trial
        && let Some(s) = sub.start
    {
        let days = def
            .trial_days
            .unwrap_or(catalog.terms.self_service.admin_trial_days);
        end = end
            .into_iter()
            .chain(s.checked_add_days(Days::new(u64::from(days))))
            .min();
    }
    (sub.start, end)
}

/// The bill for the evaluation month: every subscription in force, priced at the price in force (seeded plans
/// are not priced, CAT-9; trials and free plans cost nothing, CAT-10, BUY-7).
pub fn cost(snap: &Snapshot) -> Cost {
    let catalog = snap.catalog();
    let at = snap.at();
    let mut rules = vec![Rule::Buy6];
    let mut lines = Vec::new();
    let mut total = Totals::default();
    for sub in &snap.scenario().subscriptions {
        let Some(def) = catalog.sku_by_id(&sub.sku) else {
            continue;
        };
        let (start, end) = in_force(sub, def, catalog);
        if start.is_some_and(|s| s > at) || end.is_some_and(|e| e <= at) {
            continue;
        }
        if def.kind == Kind::Seeded {
            if !rules.contains(&Rule::Cat9) {
                rules.push(Rule::Cat9);
            }
            continue;
        }
        let free = sub.channel == PurchaseChannel::Trial
            || matches!(def.kind, Kind::Trial | Kind::Free | Kind::Developer);
        // CAT-10, BUY-7: trials and free plans never cost money (and may have no price at all).
        let currency = match def.price_at(at) {
            Some(p) => p.currency.clone(),
            None if free => free_currency(catalog, def, at),
            None => continue,
        };
        if free {
            push_once(&mut rules, Rule::Cat10);
            push_once(&mut rules, Rule::Buy7);
        }
        // The catalog rules the SKU rests on (CAT-4 per flow, CAT-13 add-ons, …).
        for r in catalog_rules(def) {
            push_once(&mut rules, r);
        }
        let unit = if free {
            Decimal::ZERO
        } else {
            def.price_at(at).map_or(Decimal::ZERO, |p| p.amount)
        };
        let monthly = Money::new(unit * Decimal::from(sub.quantity), &currency);
        total.add(&monthly);
        let billed_to = match (sub.channel, &sub.buyer) {
            (PurchaseChannel::SelfService, Some(b)) => {
                if !rules.contains(&Rule::Buy1) {
                    rules.push(Rule::Buy1);
                }
                b.clone()
            }
            _ => "tenant".to_owned(),
        };
        lines.push(CostLine {
            sku: def.id.clone(),
            name: def.name.clone(),
            quantity: u64::from(sub.quantity),
            unit_price: Money::new(unit, &currency),
            monthly,
            channel: sub.channel.as_str(),
            billed_to,
        });
    }
    let (usage, mut problems, fixes) = usage(snap);
    // BUY-4: a self-service purchase outlives its buyer's departure; an admin can take it over.
    for sub in snap
        .scenario()
        .subscriptions
        .iter()
        .filter(|s| s.channel == PurchaseChannel::SelfService)
    {
        let Some(buyer) = sub.buyer.as_deref() else {
            continue;
        };
        let gone = snap
            .user_idx(buyer)
            .and_then(|u| snap.user(u))
            .and_then(|u| u.left);
        if let Some(on) = gone {
            if !rules.contains(&Rule::Buy4) {
                rules.push(Rule::Buy4);
            }
            problems.push(Finding::new(
                Rule::Buy4,
                format!(
                    "`{}` bought `{}` self-service and left on {on}: the subscription stays valid for its term; an admin can take it over",
                    buyer, sub.sku
                ),
            ));
        }
    }
    Cost {
        total,
        lines,
        usage,
        problems,
        fixes,
        rules,
    }
}

/// BUY-6: units per SKU, and SKUs with more assignments than purchased units (a problem, with the cost of
/// buying the difference as its fix).
pub fn usage(snap: &Snapshot) -> (Vec<SkuUsage>, Vec<Finding>, Vec<Fix>) {
    usage_of(snap, true)
}

/// [`usage`], with each SKU's holders listed only when `holders` (the one part that reads every user: a write's
/// units check needs the counts alone).
pub(crate) fn usage_of(snap: &Snapshot, holders: bool) -> (Vec<SkuUsage>, Vec<Finding>, Vec<Fix>) {
    let catalog = snap.catalog();
    let t = snap.tenant();
    let mut skus: Vec<SkuIdx> = t
        .units
        .keys()
        .chain(t.assigned.keys())
        .chain(t.allocated.keys())
        .copied()
        .collect();
    skus.sort();
    skus.dedup();
    // Who holds each SKU, in one pass over the users (in file order, each user once per SKU).
    let mut holders_of: HashMap<SkuIdx, Vec<String>> = HashMap::new();
    for u in snap.scenario().users.iter().filter(|_| holders) {
        let mut seen: Vec<SkuIdx> = Vec::with_capacity(u.licenses.len());
        for s in u.licenses.iter().filter_map(|l| catalog.sku_idx(l)) {
            if !seen.contains(&s) {
                seen.push(s);
                holders_of.entry(s).or_default().push(u.id.clone());
            }
        }
    }
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    for s in skus {
        let Some(def) = catalog.sku(s) else { continue };
        // BUY-7: once someone signs up, the tenant shows 10,000 trial (or free) units, minus those assigned;
        // they never cost anything.
        let viral = matches!(def.kind, Kind::Trial | Kind::Free) && !t.subscribed.contains(&s);
        let purchased = if viral {
            u64::from(catalog.terms.self_service.trial_units_shown)
                .max(t.assigned.get(&s).copied().unwrap_or(0))
        } else {
            t.units.get(&s).copied().unwrap_or(0)
        };
        let assigned = t.assigned.get(&s).copied().unwrap_or(0);
        let allocated = t.allocated.get(&s).copied().unwrap_or(0);
        let used = assigned.saturating_add(allocated);
        let holders = holders_of.remove(&s).unwrap_or_default();
        let available =
            i64::try_from(purchased).unwrap_or(i64::MAX) - i64::try_from(used).unwrap_or(i64::MAX);
        if t.subscribed.contains(&s) && used > purchased {
            let short = used - purchased;
            problems.push(Finding::new(
                Rule::Buy6,
                format!(
                    "`{}`: {used} unit(s) assigned or allocated but {purchased} purchased",
                    def.id
                ),
            ));
            if def.kind == Kind::Paid {
                let price = def.price_at(snap.at());
                // CAT-4: the minimum is on the holding; the tenant already holds `purchased`.
                let step_ok = short.max(u64::from(def.minimum).saturating_sub(purchased));
                fixes.push(Fix {
                    action: Action::BuyLicense,
                    sku_idx: Some(s),
                    sku: Some(def.id.clone()),
                    quantity: Some(step_ok),
                    target: Some("tenant".to_owned()),
                    monthly_cost: price.map(|p| Money::new(p.amount * Decimal::from(step_ok), &p.currency)),
                    rule: Rule::Buy6,
                });
            }
        }
        out.push(SkuUsage {
            sku: def.id.clone(),
            purchased,
            assigned,
            allocated,
            available,
            holders,
        });
    }
    (out, problems, fixes)
}

pub(crate) fn push_once(rules: &mut Vec<Rule>, rule: Rule) {
    if !rules.contains(&rule) {
        rules.push(rule);
    }
}

/// The currency in which a SKU that costs nothing (a trial, a free or developer plan: CAT-10 … CAT-12, BUY-7)
/// states its zero: its own price's, else the price of the SKU it tries out, else the catalog's first price's,
/// else USD. A zero is still an amount: `"0.00"` with its currency, never a missing cost.
pub(crate) fn free_currency(
    catalog: &crate::catalog::Catalog,
    def: &crate::catalog::Sku,
    at: chrono::NaiveDate,
) -> String {
    def.price_at(at)
        .or_else(|| {
            def.successor
                .as_deref()
                .and_then(|s| catalog.sku_by_id(s))
                .and_then(|s| s.price_at(at))
        })
        .or_else(|| catalog.skus.iter().find_map(|s| s.price_at(at)))
        .map_or_else(|| "USD".to_owned(), |p| p.currency.clone())
}

/// The catalog rules (CAT-*) a SKU's entry cites in its `sources`.
pub(crate) fn catalog_rules(def: &crate::catalog::Sku) -> Vec<Rule> {
    def.sources
        .iter()
        .filter_map(|s| Rule::parse(s))
        .filter(|r| r.id().starts_with("CAT-"))
        .collect()
}
