//! Consumption against allocation, per calendar month (UTC): portal logins and page views (PORTAL-2, PORTAL-3,
//! PORTAL-5, PORTAL-6), AI Builder credits (AI-1, AI-2, CAT-10), Dataverse storage (CAP-1, CAP-4, CAP-6).
//!
//! The counting is `entitle-ledger`'s; this module gives each event the allocation a snapshot says it has, replays
//! a scenario's `[[consumption]]` offline, and turns a month's usage into a report (state and fix per resource)
//! and a statement (licences, consumption, overages and what closing them costs, the change from the month
//! before).

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use entitle_ledger::{
    CreditAllowance, Event, LedgerError, LocalLedger, Month, MonthUsage, Overage, PortalLimits,
};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::buying::{self, CostLine, in_force};
use crate::capacity::capacity;
use crate::catalog::{Kind, Sku};
use crate::money::{Money, Totals};
use crate::rule::Rule;
use crate::scenario::{AppKind, Consumption, ConsumptionKind, PortalOverage};
use crate::snapshot::Snapshot;

/// The allocation of a portal (PORTAL-5) and the tenant's overage policy.
///
/// # Errors
/// The id names no app, or an app that is not a portal.
pub fn portal_limits(snap: &Snapshot, portal: &str) -> Result<PortalLimits, String> {
    let app = snap.scenario().apps.iter().find(|a| a.id == portal);
    match app {
        None => Err(format!("no portal `{portal}` in this tenant")),
        Some(a) if a.kind != AppKind::Portal => Err(format!(
            "app `{portal}` is a {} app, not a portal",
            a.kind.as_str()
        )),
        Some(a) => Ok(PortalLimits {
            logins: a.logins.unwrap_or(0),
            page_views: a.page_views.unwrap_or(0),
            overage: match snap.scenario().tenant.portal_overage {
                PortalOverage::AllowAndReport => Overage::AllowAndReport,
                PortalOverage::Refuse => Overage::Refuse,
            },
        }),
    }
}

/// A tenant's AI Builder credits in one month (AI-1): from subscriptions in force in the month (bought ones and
/// trials, CAT-10), and the credits licences carry (capped per tenant; none from the catalog's `ai_seeded_until`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Pool {
    pub month: Option<Month>,
    pub purchased: u64,
    pub trial: u64,
    pub seeded: u64,
    pub total: u64,
    /// Allocated to environments (each environment's allocation, every month).
    pub allocated: u64,
    /// `total - allocated`, at least 0.
    pub unallocated: u64,
    /// Environments without an allocation may use `unallocated` (`tenant.ai_unallocated_use`).
    pub unallocated_use: bool,
}

/// Works out [`Pool`] for `month`.
pub fn pool(snap: &Snapshot, month: Month) -> Pool {
    let catalog = snap.catalog();
    let (first, next) = (month.first_day(), month.next().first_day());
    let mut p = Pool {
        month: Some(month),
        unallocated_use: snap.scenario().tenant.ai_unallocated_use,
        ..Pool::default()
    };
    for sub in &snap.scenario().subscriptions {
        let Some(def) = catalog.sku_by_id(&sub.sku) else {
            continue;
        };
        if def.grants.ai_credits == 0 {
            continue;
        }
        let (start, end) = in_force(sub, def, catalog);
        if start.is_some_and(|s| s >= next) || end.is_some_and(|e| e <= first) {
            continue;
        }
        let credits = def.grants.ai_credits.saturating_mul(u64::from(sub.quantity));
        if def.kind == Kind::Trial || sub.channel == crate::scenario::PurchaseChannel::Trial {
            p.trial = p.trial.saturating_add(credits);
        } else {
            p.purchased = p.purchased.saturating_add(credits);
        }
    }
    let limits = &catalog.terms.limits;
    if limits.ai_seeded_until.is_none_or(|until| first < until) {
        let seeded = snap
            .users()
            .flat_map(|(_, u)| u.skus.iter())
            .filter_map(|s| catalog.sku(*s))
            .map(|d| d.grants.ai_credits_seeded)
            .fold(0, u64::saturating_add);
        p.seeded = seeded.min(limits.ai_seeded_cap);
    }
    p.total = p.purchased.saturating_add(p.trial).saturating_add(p.seeded);
    p.allocated = snap
        .scenario()
        .environments
        .iter()
        .map(|e| env_allocation(snap, &e.allocations))
        .fold(0, u64::saturating_add);
    p.unallocated = p.total.saturating_sub(p.allocated);
    p
}

/// Credits allocated to an environment: its allocations of SKUs that carry credits, counted in credits.
fn env_allocation(snap: &Snapshot, allocations: &BTreeMap<String, u64>) -> u64 {
    allocations
        .iter()
        .filter(|(id, _)| {
            snap.catalog()
                .sku_by_id(id)
                .is_some_and(|d| d.grants.ai_credits > 0)
        })
        .map(|(_, n)| *n)
        .fold(0, u64::saturating_add)
}

/// What `environment` may draw on in `month` (AI-1).
///
/// # Errors
/// The environment does not exist.
pub fn allowance(snap: &Snapshot, environment: &str, month: Month) -> Result<CreditAllowance, String> {
    let env = snap.scenario().environments.iter().find(|e| e.id == environment);
    let Some(env) = env else {
        return Err(format!("no environment `{environment}` in this tenant"));
    };
    let p = pool(snap, month);
    Ok(CreditAllowance {
        allocated: env_allocation(snap, &env.allocations),
        unallocated: p.unallocated,
        unallocated_use: p.unallocated_use,
    })
}

/// Milliseconds since the epoch of a record's time (0 before 1970).
#[must_use]
pub fn ms(at: chrono::DateTime<chrono::Utc>) -> u64 {
    u64::try_from(at.timestamp_millis()).unwrap_or(0)
}

/// Why a record makes no event: the field at fault (`portal`, `user`, `count`, `environment`, `credits`), whether
/// it is missing (else it names something the tenant does not have), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoEvent {
    pub field: &'static str,
    pub missing: bool,
    pub why: String,
}

impl std::fmt::Display for NoEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.why)
    }
}

/// The ledger event of a `[[consumption]]` record, with the allocations `portal` and `allowance` give (a server
/// caches them per request; [`event`] asks the snapshot each time).
///
/// # Errors
/// A field its kind needs is missing, or a portal or environment is unknown ([`NoEvent`]).
pub fn event_with<'a>(
    tenant: &'a str,
    rec: &'a Consumption,
    mut portal_of: impl FnMut(&str) -> Result<PortalLimits, String>,
    mut allowance_of: impl FnMut(&str, Month) -> Result<CreditAllowance, String>,
) -> Result<Event<'a>, NoEvent> {
    let at_ms = ms(rec.at);
    let id = rec.id.as_deref();
    let missing = |field: &'static str| NoEvent {
        field,
        missing: true,
        why: format!("this kind of event needs `{field}`"),
    };
    let unknown = |field: &'static str| {
        move |why: String| NoEvent {
            field,
            missing: false,
            why,
        }
    };
    match rec.kind {
        ConsumptionKind::PortalLogin => {
            let portal = rec.portal.as_deref().ok_or_else(|| missing("portal"))?;
            let user = rec.user.as_deref().ok_or_else(|| missing("user"))?;
            let limits = portal_of(portal).map_err(unknown("portal"))?;
            Ok(Event::Login {
                tenant,
                id,
                portal,
                user,
                at_ms,
                limits,
            })
        }
        ConsumptionKind::PageViews => {
            let portal = rec.portal.as_deref().ok_or_else(|| missing("portal"))?;
            let count = rec.count.ok_or_else(|| missing("count"))?;
            let limits = portal_of(portal).map_err(unknown("portal"))?;
            Ok(Event::PageViews {
                tenant,
                id,
                portal,
                count,
                at_ms,
                limits,
            })
        }
        ConsumptionKind::AiCredits => {
            let environment = rec.environment.as_deref().ok_or_else(|| missing("environment"))?;
            let credits = rec.credits.ok_or_else(|| missing("credits"))?;
            let allowance = allowance_of(environment, Month::of_ms(at_ms)).map_err(unknown("environment"))?;
            let model = rec.model.as_deref().unwrap_or("");
            Ok(Event::Credits {
                tenant,
                id,
                environment,
                credits,
                model,
                preview: rec.preview,
                at_ms,
                allowance,
            })
        }
    }
}

/// [`event_with`] the allocations of `snap`.
///
/// # Errors
/// As [`event_with`].
pub fn event<'a>(snap: &Snapshot, tenant: &'a str, rec: &'a Consumption) -> Result<Event<'a>, NoEvent> {
    event_with(
        tenant,
        rec,
        |p| portal_limits(snap, p),
        |e, m| allowance(snap, e, m),
    )
}

/// A scenario's `[[consumption]]` counted offline, in time order (each record at its own time, none late).
#[derive(Debug, Default)]
pub struct Offline {
    pub ledger: LocalLedger,
    /// Records the ledger refused (an overdraft, an overage under `refuse`), by index, with why.
    pub refused: Vec<(usize, String)>,
}

/// Counts `snap`'s `[[consumption]]` records.
pub fn offline(snap: &Snapshot) -> Offline {
    let sc = snap.scenario();
    let tenant = sc.tenant.id.as_str();
    let mut order: Vec<(u64, usize)> = sc
        .consumption
        .iter()
        .enumerate()
        .map(|(i, r)| (ms(r.at), i))
        .collect();
    order.sort_unstable();
    let out = Offline::default();
    let mut refused = Vec::new();
    for (at, i) in order {
        let Some(rec) = sc.consumption.get(i) else {
            continue;
        };
        let taken = event(snap, tenant, rec)
            .map_err(|e| e.why)
            .and_then(|e| out.ledger.take(&e, at).map_err(|e: LedgerError| e.to_string()));
        if let Err(why) = taken {
            refused.push((i, why));
        }
    }
    Offline { refused, ..out }
}

/// The months that have `[[consumption]]` records, ascending.
pub fn months(snap: &Snapshot) -> Vec<Month> {
    let mut m: Vec<Month> = snap
        .scenario()
        .consumption
        .iter()
        .map(|r| Month::of_ms(ms(r.at)))
        .collect();
    m.sort_unstable();
    m.dedup();
    m
}

/// Used against allocated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Meter {
    pub allocated: u64,
    pub used: u64,
    pub remaining: u64,
    pub over: u64,
    /// `within` or `over`.
    pub state: &'static str,
}

impl Meter {
    fn new(allocated: u64, used: u64) -> Meter {
        let over = used.saturating_sub(allocated);
        Meter {
            allocated,
            used,
            remaining: allocated.saturating_sub(used),
            over,
            state: if over > 0 { "over" } else { "within" },
        }
    }
}

/// What closes an overage: units of an add-on, what they cost a month and what they add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Purchase {
    pub rule: Rule,
    pub sku: String,
    pub name: String,
    pub units: u64,
    /// What the units add (logins, page views, credits, MB).
    pub adds: u64,
    pub monthly: Option<Money>,
    /// The SKU can be bought in the month (false: retired, CAT-4; the fix names it all the same).
    pub purchasable: bool,
}

/// One portal's month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortalReport {
    pub portal: String,
    pub environment: String,
    pub logins: Meter,
    pub page_views: Meter,
    pub fixes: Vec<Purchase>,
}

/// One environment's AI Builder credits in the month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreditReport {
    pub environment: String,
    /// `allocation` (its own), `pool` (the unallocated credits) or `none` (it may not consume).
    pub source: &'static str,
    pub credits: Meter,
}

/// One Dataverse pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StorageReport {
    /// `database`, `file` or `log`.
    pub pool: &'static str,
    /// Capacity and use in MB (1 GB = 1,000 MB).
    pub mb: Meter,
    pub fix: Option<Purchase>,
}

/// A month's consumption against allocation, per resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub month: Month,
    pub portals: Vec<PortalReport>,
    pub ai_pool: Pool,
    /// Credits drawn from the unallocated pool.
    pub ai_pool_used: Meter,
    pub environments: Vec<CreditReport>,
    pub ai_fixes: Vec<Purchase>,
    pub storage: Vec<StorageReport>,
    /// Events refused when the report was counted offline (index in `[[consumption]]`, why).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
    pub rules: Vec<Rule>,
}

/// The units of `sku_id` that add at least `missing` of what `per_unit` reads, priced on `day`.
fn purchase(
    snap: &Snapshot,
    rule: Rule,
    sku_id: &str,
    missing: u64,
    per_unit: fn(&Sku) -> u64,
    day: NaiveDate,
) -> Option<Purchase> {
    let def = snap.catalog().sku_by_id(sku_id)?;
    let each = per_unit(def).max(1);
    let units = missing.div_ceil(each).max(u64::from(def.minimum));
    let monthly = def
        .price_at(day)
        .map(|p| Money::new(p.amount * Decimal::from(units), &p.currency));
    Some(Purchase {
        rule,
        sku: def.id.clone(),
        name: def.name.clone(),
        units,
        adds: units.saturating_mul(each),
        monthly,
        purchasable: def.purchasable_on(day),
    })
}

/// The month's report from what the ledger counted (`usage`) and what `snap` allocates.
pub fn report(snap: &Snapshot, month: Month, usage: &MonthUsage) -> Report {
    let day = month.first_day();
    let mut rules = Vec::new();
    if usage.portals.values().any(|(l, _)| *l > 0) {
        rules.push(Rule::Portal2);
    }
    if usage.portals.values().any(|(_, v)| *v > 0) {
        rules.push(Rule::Portal3);
    }
    rules.extend([Rule::Portal5, Rule::Portal6, Rule::Ai1, Rule::Ai2]);
    let mut portals = Vec::new();
    for a in snap.scenario().apps.iter().filter(|a| a.kind == AppKind::Portal) {
        let (logins, views) = usage.portals.get(&a.id).copied().unwrap_or((0, 0));
        let logins = Meter::new(a.logins.unwrap_or(0), logins);
        let page_views = Meter::new(a.page_views.unwrap_or(0), views);
        let mut fixes = Vec::new();
        if logins.over > 0 {
            fixes.extend(purchase(
                snap,
                Rule::Portal2,
                "portal-logins-tier-1",
                logins.over,
                |d| d.grants.portal_logins,
                day,
            ));
        }
        if page_views.over > 0 {
            fixes.extend(purchase(
                snap,
                Rule::Portal3,
                "portal-page-views",
                page_views.over,
                |d| d.grants.page_views,
                day,
            ));
        }
        portals.push(PortalReport {
            portal: a.id.clone(),
            environment: a.environment.clone(),
            logins,
            page_views,
            fixes,
        });
    }
    let ai_pool = pool(snap, month);
    let ai_pool_used = Meter::new(ai_pool.unallocated, usage.pool);
    let mut environments = Vec::new();
    let mut ai_fixes = Vec::new();
    for e in &snap.scenario().environments {
        let allocated = env_allocation(snap, &e.allocations);
        let used = usage.credits.get(&e.id).copied().unwrap_or(0);
        let (source, meter) = if allocated > 0 {
            ("allocation", Meter::new(allocated, used))
        } else if ai_pool.unallocated_use {
            ("pool", Meter::new(ai_pool.unallocated, used))
        } else {
            ("none", Meter::new(0, used))
        };
        if allocated > 0 && meter.over > 0 {
            ai_fixes.extend(purchase(
                snap,
                Rule::Ai1,
                "ai-builder-capacity",
                meter.over,
                |d| d.grants.ai_credits,
                day,
            ));
        }
        if used > 0 || allocated > 0 {
            environments.push(CreditReport {
                environment: e.id.clone(),
                source,
                credits: meter,
            });
        }
    }
    if ai_pool.allocated > ai_pool.total {
        // Allocations beyond what the tenant has: buy the difference (AI-1).
        let missing = ai_pool.allocated - ai_pool.total;
        ai_fixes.extend(purchase(
            snap,
            Rule::Ai1,
            "ai-builder-capacity",
            missing,
            |d| d.grants.ai_credits,
            day,
        ));
    }
    if ai_pool_used.over > 0 {
        ai_fixes.extend(purchase(
            snap,
            Rule::Ai1,
            "ai-builder-capacity",
            ai_pool_used.over,
            |d| d.grants.ai_credits,
            day,
        ));
    }
    let cap = capacity(snap);
    let mut storage = Vec::new();
    for (pool, total, used, sku) in [
        (
            "database",
            cap.database_mb,
            cap.used_database_mb,
            "dataverse-database-capacity",
        ),
        ("file", cap.file_mb, cap.used_file_mb, "dataverse-file-capacity"),
        ("log", cap.log_mb, cap.used_log_mb, "dataverse-log-capacity"),
    ] {
        let mb = Meter::new(total, used);
        let fix = (mb.over > 0)
            .then(|| {
                purchase(
                    snap,
                    Rule::Cap4,
                    sku,
                    mb.over,
                    |d| d.grants.database_mb.max(d.grants.file_mb).max(d.grants.log_mb),
                    day,
                )
            })
            .flatten();
        storage.push(StorageReport { pool, mb, fix });
    }
    rules.extend([Rule::Cap1, Rule::Cap6]);
    if !cap.can_create_environment {
        // No new environment with a database until 1 GB is free.
        rules.push(Rule::Cap5);
    }
    Report {
        month,
        portals,
        ai_pool,
        ai_pool_used,
        environments,
        ai_fixes,
        storage,
        refused: Vec::new(),
        rules,
    }
}

/// One line of the change from the month before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `portal-logins`, `page-views`, `ai-credits`, `licences`.
    pub what: &'static str,
    /// The portal, environment or currency.
    pub of: String,
    pub before: String,
    pub now: String,
}

/// The monthly statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    pub tenant: String,
    pub month: Month,
    /// Licences and add-ons in force, units × price, per currency (BUY-6).
    pub licences: Vec<CostLine>,
    pub licence_total: Totals,
    pub consumption: Report,
    /// Every overage's fix, and what all of them cost a month, per currency.
    pub overage_fixes: Vec<Purchase>,
    pub overage_total: Totals,
    pub previous_month: Month,
    pub changes: Vec<Change>,
}

/// The statement for `month`: `snap` and `usage` are the month's, `before` and `before_usage` the previous
/// month's (the snapshots at each month's last day, or today for the running month).
pub fn statement(
    snap: &Snapshot,
    usage: &MonthUsage,
    before: &Snapshot,
    before_usage: &MonthUsage,
    month: Month,
) -> Statement {
    let cost = buying::cost(snap);
    let consumption = report(snap, month, usage);
    let previous = report(before, month.previous(), before_usage);
    let mut overage_fixes: Vec<Purchase> = consumption
        .portals
        .iter()
        .flat_map(|p| p.fixes.iter().cloned())
        .collect();
    overage_fixes.extend(consumption.ai_fixes.iter().cloned());
    overage_fixes.extend(consumption.storage.iter().filter_map(|s| s.fix.clone()));
    let mut overage_total = Totals::default();
    for f in &overage_fixes {
        if let Some(m) = &f.monthly {
            overage_total.add(m);
        }
    }
    let mut changes = Vec::new();
    let before_cost = buying::cost(before);
    let currencies: std::collections::BTreeSet<&String> =
        cost.total.0.keys().chain(before_cost.total.0.keys()).collect();
    for c in currencies {
        let amount = |t: &Totals| format!("{:.2}", t.0.get(c).copied().unwrap_or(Decimal::ZERO).round_dp(2));
        changes.push(Change {
            what: "licences",
            of: c.clone(),
            before: amount(&before_cost.total),
            now: amount(&cost.total),
        });
    }
    for p in &consumption.portals {
        let old = previous.portals.iter().find(|x| x.portal == p.portal);
        let (l, v) = old.map_or((0, 0), |o| (o.logins.used, o.page_views.used));
        changes.push(Change {
            what: "portal-logins",
            of: p.portal.clone(),
            before: l.to_string(),
            now: p.logins.used.to_string(),
        });
        changes.push(Change {
            what: "page-views",
            of: p.portal.clone(),
            before: v.to_string(),
            now: p.page_views.used.to_string(),
        });
    }
    let envs: std::collections::BTreeSet<&String> = consumption
        .environments
        .iter()
        .chain(&previous.environments)
        .map(|e| &e.environment)
        .collect();
    for e in envs {
        let used = |r: &Report| {
            r.environments
                .iter()
                .find(|x| &x.environment == e)
                .map_or(0, |x| x.credits.used)
        };
        changes.push(Change {
            what: "ai-credits",
            of: e.clone(),
            before: used(&previous).to_string(),
            now: used(&consumption).to_string(),
        });
    }
    Statement {
        tenant: snap.scenario().tenant.id.clone(),
        month,
        licences: cost.lines,
        licence_total: cost.total,
        consumption,
        overage_fixes,
        overage_total,
        previous_month: month.previous(),
        changes,
    }
}

/// The day a month's statement is evaluated on: its last day, or `today` while it runs.
#[must_use]
pub fn statement_day(month: Month, today: NaiveDate) -> NaiveDate {
    month
        .next()
        .first_day()
        .checked_sub_days(Days::new(1))
        .map_or(today, |last| last.min(today))
}

/// The columns of the consumption CSV: the admin center's capacity and usage reports' names (Environment ID,
/// Entitled quantity, Consumed quantity), one row per resource and meter.
pub const CSV_HEADER: [&str; 10] = [
    "Month",
    "Environment ID",
    "Resource Type",
    "Resource ID",
    "Unit",
    "Entitled Quantity",
    "Consumed Quantity",
    "Remaining Quantity",
    "Overage Quantity",
    "State",
];

/// One row per resource and meter: portal logins and page views, credits per environment and from the pool,
/// each storage pool.
pub fn rows(r: &Report) -> Vec<[String; 10]> {
    let row = |env: &str, kind: &str, id: &str, unit: &str, m: &Meter| {
        [
            r.month.to_string(),
            env.to_owned(),
            kind.to_owned(),
            id.to_owned(),
            unit.to_owned(),
            m.allocated.to_string(),
            m.used.to_string(),
            m.remaining.to_string(),
            m.over.to_string(),
            m.state.to_owned(),
        ]
    };
    let mut out = Vec::new();
    for p in &r.portals {
        out.push(row(&p.environment, "Portal", &p.portal, "logins", &p.logins));
        out.push(row(
            &p.environment,
            "Portal",
            &p.portal,
            "page views",
            &p.page_views,
        ));
    }
    for e in &r.environments {
        out.push(row(
            &e.environment,
            "AI Builder",
            &e.environment,
            &format!("credits ({})", e.source),
            &e.credits,
        ));
    }
    out.push(row("", "AI Builder", "unallocated", "credits", &r.ai_pool_used));
    for s in &r.storage {
        out.push(row("", "Dataverse", s.pool, "MB", &s.mb));
    }
    out
}

/// [`rows`] as CSV.
///
/// # Errors
/// Writing CSV failed (it writes to memory, so only on a bug).
pub fn csv(r: &Report) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_HEADER)?;
    for row in rows(r) {
        w.write_record(&row)?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn purchase_text(p: &Purchase) -> String {
    let cost = p
        .monthly
        .as_ref()
        .map_or_else(|| "unpriced".to_owned(), |m| format!("{m} a month"));
    let sold = if p.purchasable { "" } else { " (no longer sold)" };
    format!(
        "buy {} × {} (+{}, {cost}){sold} [{}]",
        p.units,
        p.sku,
        p.adds,
        p.rule.id()
    )
}

/// The report as text.
pub fn table(r: &Report) -> String {
    use std::fmt::Write;
    let mut out = format!("Consumption in {}\n\n", r.month);
    let _ = writeln!(
        out,
        "{:<10} {:<28} {:<22} {:>12} {:>12} {:>10}  state",
        "resource", "id", "unit", "entitled", "consumed", "overage"
    );
    for row in rows(r) {
        let [_, _, kind, id, unit, entitled, consumed, _, over, state] = row;
        let _ = writeln!(
            out,
            "{kind:<10} {id:<28} {unit:<22} {entitled:>12} {consumed:>12} {over:>10}  {state}"
        );
    }
    let fixes: Vec<&Purchase> = r
        .portals
        .iter()
        .flat_map(|p| &p.fixes)
        .chain(&r.ai_fixes)
        .chain(r.storage.iter().filter_map(|s| s.fix.as_ref()))
        .collect();
    if !fixes.is_empty() {
        out.push_str("\nFixes:\n");
        for f in fixes {
            let _ = writeln!(out, "  {}", purchase_text(f));
        }
    }
    for why in &r.refused {
        let _ = writeln!(out, "refused: {why}");
    }
    out
}

/// The statement as text.
pub fn statement_table(s: &Statement) -> String {
    use std::fmt::Write;
    let mut out = format!(
        "Statement — tenant {} — {}\n\nLicences and add-ons\n",
        s.tenant, s.month
    );
    for l in &s.licences {
        let _ = writeln!(
            out,
            "  {:<40} {:>6} × {:>10} = {}",
            l.sku,
            l.quantity,
            l.unit_price.to_string(),
            l.monthly
        );
    }
    for (c, v) in &s.licence_total.0 {
        let _ = writeln!(out, "  total {:.2} {c}", v.round_dp(2));
    }
    out.push('\n');
    out.push_str(&table(&s.consumption));
    if s.overage_fixes.is_empty() {
        out.push_str("\nNo overage.\n");
    } else {
        let sums: Vec<String> = s
            .overage_total
            .0
            .iter()
            .map(|(c, v)| format!("{:.2} {c}", v.round_dp(2)))
            .collect();
        let _ = writeln!(out, "\nClosing every overage costs {} a month", sums.join(" + "));
    }
    let _ = writeln!(out, "\nChange from {}", s.previous_month);
    for c in &s.changes {
        if c.before != c.now {
            let _ = writeln!(out, "  {:<14} {:<28} {} → {}", c.what, c.of, c.before, c.now);
        }
    }
    out
}
