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
use crate::scenario::{Account, AdminRole, PurchaseChannel, SelfServicePolicy, UserKind};
use crate::snapshot::{Snapshot, UserIdx};

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

fn channel_str(c: PurchaseChannel) -> &'static str {
    match c {
        PurchaseChannel::Admin => "admin",
        PurchaseChannel::SelfService => "self-service",
        PurchaseChannel::Csp => "csp",
        PurchaseChannel::Trial => "trial",
    }
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
        let trial_days = def
            .trial_days
            .unwrap_or(catalog.terms.self_service.admin_trial_days);
        let started = sub.start.is_none_or(|s| s <= at);
        let mut end = sub.end;
        if sub.channel == PurchaseChannel::Trial {
            if let Some(s) = sub.start {
                end = end
                    .into_iter()
                    .chain(s.checked_add_days(Days::new(u64::from(trial_days))))
                    .min();
            }
        }
        if !started || end.is_some_and(|e| e <= at) {
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
            channel: channel_str(sub.channel),
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
    for u in &snap.scenario().users {
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

fn push_once(rules: &mut Vec<Rule>, rule: Rule) {
    if !rules.contains(&rule) {
        rules.push(rule);
    }
}

/// The currency in which a SKU that costs nothing (a trial, a free or developer plan: CAT-10 … CAT-12, BUY-7)
/// states its zero: its own price's, else the price of the SKU it tries out, else the catalog's first price's,
/// else USD. A zero is still an amount: `"0.00"` with its currency, never a missing cost.
fn free_currency(
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
fn catalog_rules(def: &crate::catalog::Sku) -> Vec<Rule> {
    def.sources
        .iter()
        .filter_map(|s| Rule::parse(s))
        .filter(|r| r.id().starts_with("CAT-"))
        .collect()
}

/// Would this purchase be accepted, and what would it cost?
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Purchase {
    pub accepted: bool,
    pub sku: String,
    pub quantity: u32,
    /// `admin`, `self-service` or `trial`.
    pub channel: &'static str,
    /// Who pays: `tenant`, the self-service buyer, or nobody for a trial.
    pub billed_to: String,
    /// A decimal string in JSON, with `currency` beside it.
    #[serde(serialize_with = "crate::money::amount_only")]
    pub monthly_cost: Option<Money>,
    pub currency: Option<String>,
    pub rules: Vec<Rule>,
    pub problems: Vec<Finding>,
}

/// A dry run of buying `quantity` units of `sku`, by `buyer` (an admin when absent).
pub fn preview_purchase(snap: &Snapshot, sku: SkuIdx, quantity: u32, buyer: Option<UserIdx>) -> Purchase {
    let catalog = snap.catalog();
    let at = snap.at();
    let mut rules = Vec::new();
    let mut problems = Vec::new();
    let Some(def) = catalog.sku(sku) else {
        return Purchase {
            accepted: false,
            sku: "?".to_owned(),
            quantity,
            channel: "admin",
            billed_to: "tenant".to_owned(),
            monthly_cost: None,
            currency: None,
            rules,
            problems,
        };
    };
    let tenant = &snap.scenario().tenant;
    let user = buyer.and_then(|b| snap.scenario().users.get(b.0 as usize));
    let is_admin = user.is_none_or(|u| {
        u.roles
            .iter()
            .any(|r| matches!(r, AdminRole::GlobalAdmin | AdminRole::BillingAdmin))
    });
    let mut channel = if is_admin { "admin" } else { "self-service" };
    let mut billed_to = if is_admin {
        "tenant".to_owned()
    } else {
        user.map_or("tenant".to_owned(), |u| u.id.clone())
    };
    let rule_of = |fallback: Rule| {
        def.sources
            .iter()
            .find_map(|s| Rule::parse(s))
            .unwrap_or(fallback)
    };

    match def.kind {
        Kind::Seeded => {
            rules.push(Rule::Cat9);
            problems.push(Finding::new(
                Rule::Cat9,
                format!(
                    "`{}` is bought with Microsoft 365, Windows or Dynamics 365, not here",
                    def.id
                ),
            ));
        }
        Kind::Trial => {
            rules.push(Rule::Cat10);
            rules.push(Rule::Buy7);
            channel = "trial";
            billed_to = "nobody".to_owned();
        }
        Kind::Free | Kind::Developer => {
            rules.push(if def.kind == Kind::Free {
                Rule::Cat12
            } else {
                Rule::Cat11
            });
            channel = "trial";
            billed_to = "nobody".to_owned();
        }
        Kind::Paid => {}
    }
    // CAT-4, CAT-6, CAT-8: retired SKUs keep working but can no longer be bought.
    if !def.purchasable_on(at) {
        let rule = rule_of(Rule::Cat4);
        rules.push(rule);
        let when = match (def.available_from, def.retired_on) {
            (Some(from), _) if at < from => format!("can be bought from {from}"),
            (_, Some(end)) => format!("can no longer be bought since {end}"),
            _ => "cannot be bought on this date".to_owned(),
        };
        problems.push(Finding::new(rule, format!("`{}` {when}", def.id)));
    }
    // Purchase minimum and step (CAT-4: per flow from 5 units). Seed 000: "Na de minimale aankoop van 5 stromen
    // kunnen meer stromen afzonderlijk worden gelicentieerd": the minimum is on the tenant's holding (units of
    // its active subscriptions) after the purchase, not on each purchase.
    let t = snap.tenant();
    let held = if t.subscribed.contains(&sku) {
        t.units.get(&sku).copied().unwrap_or(0)
    } else {
        0
    };
    let after = held.saturating_add(u64::from(quantity));
    let minimum = u64::from(def.minimum);
    if quantity == 0 || after < minimum || (after - minimum.min(after)) % u64::from(def.step.max(1)) != 0 {
        let rule = rule_of(Rule::Cat4);
        rules.push(rule);
        problems.push(Finding::new(
            rule,
            format!(
                "`{}` needs at least {} unit(s) held, bought in steps of {}; the tenant holds {held}, so buying {quantity} is not valid",
                def.id, def.minimum, def.step
            ),
        ));
    }
    if let Some(u) = user {
        // CAT-14: paid plans need a work or school account.
        if u.account == Account::Consumer && def.kind == Kind::Paid {
            rules.push(Rule::Cat14);
            problems.push(Finding::new(
                Rule::Cat14,
                format!(
                    "`{}` has a consumer account, which may use only the free plan",
                    u.id
                ),
            ));
        }
        if !is_admin && def.kind == Kind::Paid {
            // BUY-8: only an admin may create costs for the organisation; anyone else buys self-service and pays.
            rules.push(Rule::Buy8);
            rules.push(Rule::Buy1);
            if u.kind == UserKind::Guest {
                problems.push(Finding::new(
                    Rule::Buy1,
                    format!(
                        "`{}` is a guest; guests cannot buy in a tenant where they are guests",
                        u.id
                    ),
                ));
            } else if u.kind != UserKind::Member {
                problems.push(Finding::new(
                    Rule::Buy1,
                    format!("`{}` is a {}, not a person who can pay", u.id, u.kind.as_str()),
                ));
            }
            let terms = &catalog.terms.self_service;
            if terms
                .excluded_segments
                .iter()
                .any(|s| s == tenant.segment.as_str())
            {
                problems.push(Finding::new(
                    Rule::Buy1,
                    format!(
                        "self-service purchase is not available to {} tenants",
                        tenant.segment.as_str()
                    ),
                ));
            }
            match &tenant.country {
                Some(c) if !terms.countries.iter().any(|x| x == c) => {
                    problems.push(Finding::new(
                        Rule::Buy1,
                        format!("self-service purchase is not offered in `{c}`"),
                    ));
                }
                _ => {}
            }
            if !def.self_service || !def.channels.contains(&crate::catalog::Channel::SelfService) {
                problems.push(Finding::new(
                    Rule::Buy1,
                    format!("`{}` cannot be bought self-service", def.id),
                ));
            }
            match tenant.self_service.get(&def.id).copied().unwrap_or_default() {
                SelfServicePolicy::Enabled => {}
                policy => {
                    rules.push(Rule::Buy2);
                    let what = if policy == SelfServicePolicy::Disabled {
                        "disabled"
                    } else {
                        "limited to trials"
                    };
                    problems.push(Finding::new(
                        Rule::Buy2,
                        format!("an admin has {what} self-service purchase of `{}`", def.id),
                    ));
                }
            }
        }
    }
    // The catalog rules the SKU rests on come first: what is being bought, and on which terms.
    let mut all = catalog_rules(def);
    for r in rules {
        push_once(&mut all, r);
    }
    let mut rules = all;
    // CAT-10, BUY-7: a trial (or free plan) costs nothing, and says so: `"0.00"` with its currency, not null.
    let monthly_cost = if channel == "trial" {
        Some(Money::zero(&free_currency(catalog, def, at)))
    } else {
        def.price_at(at)
            .map(|p| Money::new(p.amount * Decimal::from(quantity), &p.currency))
    };
    if def.kind == Kind::Paid && monthly_cost.is_none() {
        problems.push(Finding::new(
            rule_of(Rule::Cat13),
            format!("`{}` has no price on {at}", def.id),
        ));
    }
    rules.dedup();
    Purchase {
        accepted: problems.is_empty(),
        sku: def.id.clone(),
        quantity,
        channel,
        billed_to,
        currency: monthly_cost.as_ref().map(|m| m.currency.clone()),
        monthly_cost,
        rules,
        problems,
    }
}
