//! Building a [`Snapshot`]: interning, licence resolution, pools.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Days, NaiveDate};

use super::{
    AppIdx, AppRec, CAPS, Coverage, EnvIdx, EnvRec, FlowIdx, FlowRec, Interner, Premium, Snapshot, TenantRec,
    UserIdx, UserRec,
};
use crate::catalog::{Capability, CapabilitySet, Catalog, Kind, ProductLine, SkuIdx, Tier};
use crate::chunked::Chunked;
use crate::scenario::{
    Account, Cloud, DesktopMode, EnvironmentKind, EventKind, Feature, FlowLicense, Logic, PurchaseChannel,
    Scenario, Subscription, User, UserKind,
};
use crate::scenario::{App, Entity, Flow};

/// A scenario that cannot be turned into a snapshot: a reference that does not resolve or a duplicate id.
/// [`Scenario::parse`] reports these with file and line first; this is the library's last line of defence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct BuildError {
    pub key: String,
    pub message: String,
}

fn err(key: String, message: String) -> BuildError {
    BuildError { key, message }
}

pub(super) fn too_many(kind: &str) -> BuildError {
    err(kind.to_owned(), "too many entries".to_owned())
}

pub(super) fn duplicate(kind: &str, i: usize, id: &str) -> BuildError {
    err(format!("{kind}[{i}].id"), format!("duplicate id `{id}`"))
}

fn intern<'a>(kind: &str, ids: impl Iterator<Item = &'a str>) -> Result<Interner, BuildError> {
    let mut interner = Interner::default();
    for (i, id) in ids.enumerate() {
        let n = u32::try_from(i).map_err(|_| too_many(kind))?;
        if !interner.insert(id, n) {
            return Err(duplicate(kind, i, id));
        }
    }
    Ok(interner)
}

/// Whether a subscription is in force on `at`, and, if it ended, when.
fn subscription_state(sub: &Subscription, trial_days: u32, at: NaiveDate) -> Result<(), Option<NaiveDate>> {
    if sub.start.is_some_and(|s| at < s) {
        return Err(None);
    }
    let mut end = sub.end;
    if sub.channel == PurchaseChannel::Trial
        && let Some(start) = sub.start
    {
        let trial_end = start.checked_add_days(Days::new(u64::from(trial_days)));
        end = match (end, trial_end) {
            (Some(e), Some(t)) => Some(e.min(t)),
            (e, t) => e.or(t),
        };
    }
    match end {
        Some(e) if e <= at => Err(Some(e)),
        _ => Ok(()),
    }
}

#[derive(Debug, Clone)]
struct SkuActivity {
    /// Units in force today (sum of active subscriptions).
    active_units: u64,
    /// The last day a subscription of this SKU ended before today.
    lapsed_on: Option<NaiveDate>,
}

/// What the records of users and flows read besides the item itself: subscriptions per SKU, and the events
/// (trial sign-ups, removed licences, edits). Built from the whole scenario, which is cheap: these lists are
/// short next to users and flows.
pub(super) struct Inputs<'s> {
    pub(super) catalog: &'s Catalog,
    pub(super) at: NaiveDate,
    tenant_public: bool,
    activity: HashMap<SkuIdx, SkuActivity>,
    trial_started: foldhash::HashMap<(&'s str, SkuIdx), NaiveDate>,
    removed: foldhash::HashMap<&'s str, Vec<(SkuIdx, NaiveDate)>>,
    pub(super) edited: foldhash::HashMap<&'s str, NaiveDate>,
}

/// A SKU id of the scenario, resolved.
fn sku_of(catalog: &Catalog, key: &dyn Fn() -> String, id: &str) -> Result<SkuIdx, BuildError> {
    catalog
        .sku_idx(id)
        .ok_or_else(|| err(key(), format!("unknown SKU `{id}`")))
}

/// Subscriptions per SKU: what the records read of them.
fn activity(
    catalog: &Catalog,
    subscriptions: &Chunked<Subscription>,
    at: NaiveDate,
) -> Result<HashMap<SkuIdx, SkuActivity>, BuildError> {
    let sku = |key: &dyn Fn() -> String, id: &str| sku_of(catalog, key, id);
    let mut activity: HashMap<SkuIdx, SkuActivity> = HashMap::new();
    for (i, sub) in subscriptions.iter().enumerate() {
        let idx = sku(&|| format!("subscriptions[{i}].sku"), &sub.sku)?;
        let trial_days = catalog
            .sku(idx)
            .and_then(|s| s.trial_days)
            .unwrap_or(catalog.terms.self_service.admin_trial_days);
        let entry = activity.entry(idx).or_insert(SkuActivity {
            active_units: 0,
            lapsed_on: None,
        });
        match subscription_state(sub, trial_days, at) {
            Ok(()) => entry.active_units = entry.active_units.saturating_add(u64::from(sub.quantity)),
            Err(Some(end)) => entry.lapsed_on = entry.lapsed_on.max(Some(end)),
            Err(None) => {}
        }
    }
    Ok(activity)
}

/// What the records of users and flows read of `subscriptions` (see [`user_rec`]): for each SKU with a
/// subscription, whether none of its units is in force on `at`, and the last day one ended; sorted by SKU.
/// `None` when a subscription names an unknown SKU (a snapshot is not built). Two lists of subscriptions with the
/// same digest give the same records; only the tenant's units (`TenantRec`) tell them apart.
pub(crate) fn subscription_digest(
    catalog: &Catalog,
    subscriptions: &Chunked<Subscription>,
    at: NaiveDate,
) -> Option<Vec<(SkuIdx, bool, Option<NaiveDate>)>> {
    let mut out: Vec<_> = activity(catalog, subscriptions, at)
        .ok()?
        .into_iter()
        .map(|(s, a)| (s, a.active_units == 0, a.lapsed_on))
        .collect();
    out.sort_unstable();
    Some(out)
}

pub(super) fn inputs<'s>(
    catalog: &'s Catalog,
    scenario: &'s Scenario,
    at: NaiveDate,
) -> Result<Inputs<'s>, BuildError> {
    let sku = |key: &dyn Fn() -> String, id: &str| sku_of(catalog, key, id);
    // Subscriptions, per SKU.
    let activity = activity(catalog, &scenario.subscriptions, at)?;

    // Trial sign-ups and removed licences, from the events.
    let mut trial_started: foldhash::HashMap<(&str, SkuIdx), NaiveDate> = foldhash::HashMap::default();
    let mut removed: foldhash::HashMap<&str, Vec<(SkuIdx, NaiveDate)>> = foldhash::HashMap::default();
    let mut edited: foldhash::HashMap<&str, NaiveDate> = foldhash::HashMap::default();
    for (i, ev) in scenario.events.iter().enumerate() {
        if ev.on > at {
            continue;
        }
        match ev.kind {
            EventKind::TrialStarted | EventKind::LicenseRemoved => {
                let (Some(u), Some(s)) = (&ev.user, &ev.sku) else {
                    return Err(err(format!("events[{i}]"), "needs `user` and `sku`".to_owned()));
                };
                let s = sku(&|| format!("events[{i}].sku"), s)?;
                if ev.kind == EventKind::TrialStarted {
                    trial_started.insert((u.as_str(), s), ev.on);
                } else {
                    removed.entry(u.as_str()).or_default().push((s, ev.on));
                }
            }
            EventKind::FlowEdited => {
                let Some(f) = &ev.flow else {
                    return Err(err(format!("events[{i}]"), "needs `flow`".to_owned()));
                };
                let day = edited.entry(f.as_str()).or_insert(ev.on);
                *day = (*day).max(ev.on);
            }
        }
    }

    Ok(Inputs {
        catalog,
        at,
        tenant_public: scenario.tenant.cloud == Cloud::Public,
        activity,
        trial_started,
        removed,
        edited,
    })
}

/// A user's record (licences in force today, rights, request limits), counting the licences assigned into
/// `assigned`.
pub(super) fn user_rec(
    inp: &Inputs<'_>,
    i: usize,
    u: &User,
    assigned: &mut HashMap<SkuIdx, u64>,
) -> Result<UserRec, BuildError> {
    let Inputs {
        catalog,
        at,
        tenant_public,
        activity,
        trial_started,
        removed,
        ..
    } = inp;
    let (catalog, at, tenant_public) = (*catalog, *at, *tenant_public);
    let mut held: Vec<(SkuIdx, bool)> = Vec::with_capacity(u.licenses.len() + u.home_licenses.len());
    for (j, id) in u.licenses.iter().enumerate() {
        let s = sku_of(catalog, &|| format!("users[{i}].licenses[{j}]"), id)?;
        let n = assigned.entry(s).or_insert(0);
        *n = n.saturating_add(1);
        held.push((s, false));
    }
    // FLOW-19 / APP-2: home-tenant licences count only in the public cloud, never across clouds.
    let home_ok = tenant_public && u.home_cloud.unwrap_or(Cloud::Public) == Cloud::Public;
    let mut home_licenses_ignored = false;
    if u.kind == UserKind::Guest {
        for (j, id) in u.home_licenses.iter().enumerate() {
            let s = sku_of(catalog, &|| format!("users[{i}].home_licenses[{j}]"), id)?;
            if home_ok {
                held.push((s, true));
            } else {
                home_licenses_ignored = true;
            }
        }
    }
    let left = u.left.filter(|d| *d <= at);
    let mut rec = UserRec {
        id: u.id.as_str().into(),
        kind: u.kind,
        caps: CapabilitySet::EMPTY,
        granted_by: [None; CAPS],
        skus: Vec::new(),
        left,
        premium_lapsed: None,
        legacy_plan: false,
        power_apps_licensed: false,
        d365_licensed: false,
        home_licenses_ignored,
        consumer: u.account == Account::Consumer,
        consumer_ignored: false,
        dynamics_apps: Vec::new(),
        per_app_units: 0,
        requests: 0,
        requests_transition_highest: 0,
        request_addons: 0,
    };
    let mut lapsed: Option<NaiveDate> = None;
    let mut line_max: HashMap<ProductLine, u64> = HashMap::new();
    for (s, home) in held {
        let Some(def) = catalog.sku(s) else { continue };
        // Licence in force today? Home licences are the home tenant's business: in force.
        let mut active = true;
        let mut ended = None;
        if !home {
            if let Some(a) = activity.get(&s)
                && a.active_units == 0
            {
                active = false;
                ended = a.lapsed_on;
            }
            if def.kind == Kind::Trial
                && let (Some(start), Some(days)) = (trial_started.get(&(u.id.as_str(), s)), def.trial_days)
            {
                let end = start.checked_add_days(Days::new(u64::from(days)));
                if end.is_some_and(|e| e <= at) {
                    active = false;
                    ended = end;
                }
            }
        }
        let premium = def.grants.capabilities.has(Capability::FlowsPremium);
        rec.legacy_plan |= def.grants.capabilities.has(Capability::LegacyPlan);
        if !active {
            if premium {
                lapsed = lapsed.max(ended.or(Some(at)));
            }
            continue;
        }
        if left.is_some() {
            continue;
        }
        // CAT-14: a consumer account may use only the free plans.
        if u.account == Account::Consumer && !matches!(def.kind, Kind::Free | Kind::Developer) {
            rec.consumer_ignored = true;
            continue;
        }
        rec.skus.push(s);
        for cap in def.grants.capabilities.iter() {
            rec.caps.insert(cap);
            if let Some(slot) = rec.granted_by.get_mut(cap as usize) {
                slot.get_or_insert(s);
            }
        }
        match def.product_line {
            ProductLine::PowerApps => rec.power_apps_licensed = true,
            ProductLine::Dynamics365 => {
                rec.d365_licensed = true;
                if def.grants.capabilities.has(Capability::AppsD365Context) {
                    rec.dynamics_apps
                        .push(def.dynamics_app.as_deref().map(Into::into));
                }
            }
            _ => {}
        }
        if def.grants.capabilities.has(Capability::AppsPerApp) {
            rec.per_app_units = rec.per_app_units.saturating_add(1);
        }
        if def.grants.capabilities.has(Capability::RequestAddon) {
            rec.request_addons = rec.request_addons.saturating_add(1);
            rec.requests = rec.requests.saturating_add(def.grants.request_addon);
        }
        if !def.grants.attach && def.grants.requests_per_24h > 0 {
            let m = line_max.entry(def.product_line).or_insert(0);
            *m = (*m).max(def.grants.requests_per_24h);
        }
        rec.requests_transition_highest = rec
            .requests_transition_highest
            .max(def.grants.requests_per_24h_transition);
    }
    rec.requests = line_max.values().fold(rec.requests, |a, b| a.saturating_add(*b));
    if let Some(list) = removed.get(u.id.as_str()) {
        for (s, on) in list {
            if catalog
                .sku(*s)
                .is_some_and(|d| d.grants.capabilities.has(Capability::FlowsPremium))
            {
                lapsed = lapsed.max(Some(*on));
            }
        }
    }
    if !rec.caps.has(Capability::FlowsPremium) && left.is_none() {
        rec.premium_lapsed = lapsed;
    }
    Ok(rec)
}

pub(super) fn build(
    catalog: Arc<Catalog>,
    scenario: Scenario,
    at: NaiveDate,
) -> Result<Snapshot, BuildError> {
    let user_ids = intern("users", scenario.users.iter().map(|u| u.id.as_str()))?;
    let env_ids = intern(
        "environments",
        scenario.environments.iter().map(|e| e.id.as_str()),
    )?;
    let app_ids = intern("apps", scenario.apps.iter().map(|a| a.id.as_str()))?;
    let flow_ids = intern("flows", scenario.flows.iter().map(|f| f.id.as_str()))?;
    let entities = Entities::new(&scenario.entities)?;

    // Keys of error messages are built only when there is an error: building a snapshot of a large tenant
    // resolves hundreds of thousands of references.
    let sku = |key: &dyn Fn() -> String, id: &str| -> Result<SkuIdx, BuildError> {
        catalog
            .sku_idx(id)
            .ok_or_else(|| err(key(), format!("unknown SKU `{id}`")))
    };
    let user = |key: &dyn Fn() -> String, id: &str| -> Result<UserIdx, BuildError> {
        user_ids
            .get(id)
            .map(UserIdx)
            .ok_or_else(|| err(key(), format!("unknown user `{id}`")))
    };
    let env = |key: &dyn Fn() -> String, id: &str| -> Result<EnvIdx, BuildError> {
        env_ids
            .get(id)
            .map(EnvIdx)
            .ok_or_else(|| err(key(), format!("unknown environment `{id}`")))
    };

    let inp = inputs(&catalog, &scenario, at)?;
    let mut assigned: HashMap<SkuIdx, u64> = HashMap::new();
    let mut users = Vec::with_capacity(scenario.users.len());
    for (i, u) in scenario.users.iter().enumerate() {
        users.push(user_rec(&inp, i, u, &mut assigned)?);
    }

    // Environments and their capacity pools.
    let mut allocated: HashMap<SkuIdx, u64> = HashMap::new();
    let mut envs = Vec::with_capacity(scenario.environments.len());
    for (i, e) in scenario.environments.iter().enumerate() {
        let mut rec = EnvRec {
            id: e.id.as_str().into(),
            default: e.default,
            dataverse: e.dataverse || e.default,
            has_dynamics: !e.dynamics_apps.is_empty(),
            developer_owner: match &e.owner {
                Some(o) if e.kind == EnvironmentKind::Developer => {
                    Some(user(&|| format!("environments[{i}].owner"), o)?)
                }
                _ => None,
            },
            first_app: None,
            process_units: 0,
            bot_only_units: 0,
            per_flow_units: 0,
            hosted_units: 0,
            unattended_units: 0,
            process_demand: 0,
            bot_demand: 0,
            per_flow_demand: 0,
        };
        for (id, n) in &e.allocations {
            let s = sku(&|| format!("environments[{i}].allocations.{id}"), id)?;
            let Some(def) = catalog.sku(s) else { continue };
            // AI Builder allocations are made in credits; count them as the units they use up.
            let used_units = if def.grants.ai_credits > 0 {
                n.div_ceil(def.grants.ai_credits)
            } else {
                *n
            };
            // Validation caps each allocation (MAX_QUANTITY); an unchecked scenario is refused, never wrapped.
            let total = allocated.entry(s).or_insert(0);
            *total = total.checked_add(used_units).ok_or_else(|| {
                err(
                    format!("environments[{i}].allocations.{id}"),
                    "the units allocated across environments add up past what can be counted".to_owned(),
                )
            })?;
            let caps = def.grants.capabilities;
            let bots = u64::from(def.grants.bots.max(1));
            if caps.has(Capability::Process) {
                rec.process_units = rec.process_units.saturating_add(n.saturating_mul(bots));
            } else if caps.has(Capability::UnattendedBot) || caps.has(Capability::HostedBot) {
                rec.bot_only_units = rec.bot_only_units.saturating_add(n.saturating_mul(bots));
                if caps.has(Capability::HostedBot) {
                    rec.hosted_units = rec.hosted_units.saturating_add(*n);
                } else {
                    rec.unattended_units = rec.unattended_units.saturating_add(*n);
                }
            }
            if caps.has(Capability::PerFlow) {
                rec.per_flow_units = rec.per_flow_units.saturating_add(*n);
            }
        }
        envs.push(rec);
    }

    let transition = tenant_transition(&catalog, &scenario, at);

    // Apps.
    let mut apps = Vec::with_capacity(scenario.apps.len());
    for (i, a) in scenario.apps.iter().enumerate() {
        let e = env(&|| format!("apps[{i}].environment"), &a.environment)?;
        let mut p = premium_of(&catalog, at, transition, &a.connectors, &[], a.created);
        if a.kind == crate::scenario::AppKind::ModelDriven {
            p.premium = true; // model-driven apps run on Dataverse, a premium capability
        }
        let mut app_users = Vec::with_capacity(a.users.len());
        for (j, id) in a.users.iter().enumerate() {
            app_users.push(user(&|| format!("apps[{i}].users[{j}]"), id)?);
        }
        let installed = scenario
            .environments
            .get(e.0 as usize)
            .map_or(&[][..], |x| &x.dynamics_apps[..]);
        // D365-1: only an app extending a Dynamics 365 app installed in its environment counts.
        let dynamics_app: Option<Box<str>> = a
            .extends_dynamics
            .as_deref()
            .filter(|d| installed.iter().any(|x| x == d))
            .map(Into::into);
        if let Some(slot) = envs.get_mut(e.0 as usize) {
            slot.first_app
                .get_or_insert(AppIdx(u32::try_from(i).unwrap_or(u32::MAX)));
        }
        apps.push(AppRec {
            id: a.id.as_str().into(),
            env: e,
            kind: a.kind,
            premium: p.premium,
            grandfathered: p.grandfathered,
            unknown_connectors: p.unknown_connector,
            embedded: a.embedded_in.is_some(),
            complex_entity: entities.lookup(&a.entities, |f| f.0),
            restricted_entity: entities.lookup(&a.entities, |f| f.1),
            extends_dynamics: dynamics_app.is_some(),
            dynamics_app,
            users: app_users,
        });
    }

    // Flows.
    let ctx = FlowCtx {
        catalog: &catalog,
        at,
        transition,
        users: &user_ids,
        envs: &env_ids,
        apps: &app_ids,
        app_list: &scenario.apps,
        entities: &entities,
        edited: &inp.edited,
    };
    let mut flows = Vec::with_capacity(scenario.flows.len());
    for (i, f) in scenario.flows.iter().enumerate() {
        flows.push(flow_rec(&ctx, i, f)?);
    }
    for (i, f) in scenario.flows.iter().enumerate() {
        if let Some(rec) = flows.get_mut(i) {
            link_flow(&flow_ids, &scenario.flows, i, f, rec)?;
        }
    }
    let targets: Vec<usize> = flows
        .iter()
        .filter_map(|f| f.in_context_of.map(|c| c.0 as usize))
        .collect();
    for t in targets {
        if let Some(f) = flows.get_mut(t) {
            f.context_target = true;
        }
    }
    // A parent cycle would make context resolution loop: refuse it.
    for start in 0..flows.len() {
        let mut cur = flows.get(start).and_then(|f| f.parent);
        let mut steps = 0usize;
        while let Some(p) = cur {
            steps += 1;
            if steps > flows.len() {
                return Err(err(
                    format!("flows[{start}].parent"),
                    "parent flows form a cycle".to_owned(),
                ));
            }
            cur = flows.get(p.0 as usize).and_then(|f| f.parent);
        }
    }

    assign_capacity(&scenario, &mut envs, &mut flows);

    let non_interactive_users = scenario
        .users
        .iter()
        .filter(|u| u.kind == UserKind::NonInteractive)
        .count()
        .try_into()
        .unwrap_or(u32::MAX);
    let tenant = tenant_rec(&inp, assigned, allocated, non_interactive_users)?;
    let entity_ids: Vec<Box<str>> = scenario.entities.iter().map(|e| e.id.as_str().into()).collect();
    Ok(Snapshot {
        transition: scenario.tenant.transition_period,
        reclassification_transition: transition,
        catalog,
        at,
        users: users.into(),
        envs: envs.into(),
        apps: apps.into(),
        flows: flows.into(),
        entity_ids: Arc::new(entity_ids),
        entities: Arc::new(entities),
        stamp: super::patch::stamp(),
        touched: None,
        tenant,
        scenario,
        user_ids,
        env_ids,
        app_ids,
        flow_ids,
    })
}

/// The tenant-wide units: what subscriptions give per SKU, and for a SKU with none, what is assigned and
/// allocated; with the pool of the non-licensed principals (REQ-2).
pub(super) fn tenant_rec(
    inp: &Inputs<'_>,
    assigned: HashMap<SkuIdx, u64>,
    allocated: HashMap<SkuIdx, u64>,
    non_interactive_users: u32,
) -> Result<TenantRec, BuildError> {
    let mut units: HashMap<SkuIdx, u64> = HashMap::new();
    let mut subscribed: Vec<SkuIdx> = inp.activity.keys().copied().collect();
    subscribed.sort();
    for (s, a) in &inp.activity {
        units.insert(*s, a.active_units);
    }
    for (s, n) in assigned.iter().chain(allocated.iter()) {
        if !inp.activity.contains_key(s) {
            let u = units.entry(*s).or_insert(0);
            *u = u.checked_add(*n).ok_or_else(|| {
                err(
                    "environments".to_owned(),
                    "the units assigned and allocated add up past what can be counted".to_owned(),
                )
            })?;
        }
    }
    let (pool, pool_line) = nonlicensed_pool(inp.catalog, &units);
    Ok(TenantRec {
        nonlicensed_pool: pool,
        nonlicensed_line: pool_line,
        units,
        assigned,
        allocated,
        subscribed,
        non_interactive_users,
    })
}

/// The entities' ids and flags (complex logic, restricted, Dynamics 365).
#[derive(Debug)]
pub(crate) struct Entities {
    ids: Interner,
    flags: Vec<(bool, bool, bool)>,
}

impl Entities {
    pub(super) fn new(list: &Chunked<Entity>) -> Result<Entities, BuildError> {
        let ids = intern("entities", list.iter().map(|e| e.id.as_str()))?;
        let flags = list
            .iter()
            .map(|e| {
                let complex = e
                    .complex_logic
                    .iter()
                    .any(|l| matches!(l, Logic::SyncPlugin | Logic::RealtimeWorkflow));
                (complex, e.restricted, e.dynamics)
            })
            .collect();
        Ok(Entities { ids, flags })
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.ids.get(id).is_some()
    }

    /// The first of `ids` whose flags `pick` says yes to.
    fn lookup(&self, ids: &[String], pick: fn(&(bool, bool, bool)) -> bool) -> Option<u32> {
        ids.iter()
            .filter_map(|id| self.ids.get(id))
            .find(|i| self.flags.get(*i as usize).is_some_and(pick))
    }
}

/// Made before the reclassification with a reclassified connector: what puts a tenant in the transition (M365-2).
pub(super) fn used_before(catalog: &Catalog, connectors: &[String], created: Option<NaiveDate>) -> bool {
    created.is_some_and(|c| c < catalog.terms.reclassification_date)
        && connectors
            .iter()
            .any(|c| catalog.connector(c).is_some_and(|k| k.reclassified))
}

/// M365-2, seed 000: "Tijdens de overgangsperiode kunnen klanten extra apps en stromen blijven maken met behulp
/// van deze connectors" (during the transition customers may keep building apps and flows with these
/// connectors). The transition is the tenant's: it applies when some app or flow made before the
/// reclassification used a reclassified connector, and lasts until 2020-10-01 or the end of the tenant's
/// Microsoft 365 term, whichever is later. It covers every reclassified connector, not only the ones used.
pub(super) fn tenant_transition(catalog: &Catalog, scenario: &Scenario, at: NaiveDate) -> bool {
    let terms = &catalog.terms;
    let until = scenario
        .tenant
        .m365_term_end
        .map_or(terms.tenant_transition_until, |end| {
            end.max(terms.tenant_transition_until)
        });
    at < until
        && (scenario
            .apps
            .iter()
            .any(|a| used_before(catalog, &a.connectors, a.created))
            || scenario
                .flows
                .iter()
                .any(|f| used_before(catalog, &f.connectors, f.created)))
}

/// What makes an app or a flow premium, from its connectors and features.
fn premium_of(
    catalog: &Catalog,
    at: NaiveDate,
    tenant_transition: bool,
    connectors: &[String],
    features: &[Feature],
    created: Option<NaiveDate>,
) -> Premium {
    let terms = &catalog.terms;
    let mut p = Premium::default();
    let mut other = false;
    for c in connectors {
        match catalog.connector(c) {
            None => p.unknown_connector = true,
            Some(k) if k.tier_on(at) == Tier::Premium => {
                if k.reclassified {
                    p.reclassified = true;
                } else {
                    other = true;
                }
            }
            Some(_) => {}
        }
    }
    for f in features {
        match f {
            Feature::CustomConnector => p.custom_connector = true,
            Feature::Gateway => p.gateway = true,
            Feature::DesktopFlow => p.desktop = true,
            Feature::BusinessProcessFlow => p.business_process = true,
        }
        other = true;
    }
    // FLOW-25 / M365-2: made before the reclassification, premium only through reclassified connectors, and
    // still inside the extended transition. Gateways were always premium (seed 000).
    p.desktop_only =
        p.desktop && connectors.is_empty() && features.iter().all(|f| *f == Feature::DesktopFlow);
    p.made_before_reclassification = created.is_some_and(|c| c < terms.grandfather_created_before);
    let only_reclassified = p.reclassified && !other && !p.unknown_connector;
    let extended =
        created.is_some_and(|c| c < terms.grandfather_created_before) && at < terms.grandfather_until;
    p.grandfathered = only_reclassified && (extended || tenant_transition);
    p.premium = (p.reclassified || other || p.unknown_connector) && !p.grandfathered;
    p
}

/// What a flow's record reads besides the flow.
pub(super) struct FlowCtx<'a> {
    pub(super) catalog: &'a Catalog,
    pub(super) at: NaiveDate,
    pub(super) transition: bool,
    pub(super) users: &'a Interner,
    pub(super) envs: &'a Interner,
    pub(super) apps: &'a Interner,
    pub(super) app_list: &'a Chunked<App>,
    pub(super) entities: &'a Entities,
    pub(super) edited: &'a foldhash::HashMap<&'a str, NaiveDate>,
}

/// A flow's record, before its links to other flows ([`link_flow`]) and its share of capacity.
pub(super) fn flow_rec(ctx: &FlowCtx<'_>, i: usize, f: &Flow) -> Result<FlowRec, BuildError> {
    let (catalog, at) = (ctx.catalog, ctx.at);
    let user = |key: &dyn Fn() -> String, id: &str| -> Result<UserIdx, BuildError> {
        ctx.users
            .get(id)
            .map(UserIdx)
            .ok_or_else(|| err(key(), format!("unknown user `{id}`")))
    };
    let list = |key: &str, ids: &[String]| -> Result<Vec<UserIdx>, BuildError> {
        ids.iter()
            .enumerate()
            .map(|(j, id)| user(&|| format!("flows[{i}].{key}[{j}]"), id))
            .collect()
    };
    let d365_connector = f
        .connectors
        .iter()
        .filter_map(|c| catalog.connector(c))
        .any(|c| c.dynamics);
    let dataverse = f
        .connectors
        .iter()
        .filter_map(|c| catalog.connector(c))
        .any(|c| c.dataverse);
    let app = match &f.app {
        Some(id) => Some(
            ctx.apps
                .get(id)
                .map(AppIdx)
                .ok_or_else(|| err(format!("flows[{i}].app"), format!("unknown app `{id}`")))?,
        ),
        None => None,
    };
    // FLOW-9: in an app's context a flow uses the app's data sources; a premium connector of the flow's own
    // (an unknown one counts as premium) takes it out of that context.
    let app_sources_differ = app
        .and_then(|a| ctx.app_list.get(a.0 as usize))
        .is_some_and(|a| !premium_within(catalog, at, &f.connectors, &a.connectors));
    let env = ctx.envs.get(&f.environment).map(EnvIdx).ok_or_else(|| {
        err(
            format!("flows[{i}].environment"),
            format!("unknown environment `{}`", f.environment),
        )
    })?;
    Ok(FlowRec {
        id: f.id.as_str().into(),
        env,
        trigger: f.trigger,
        owner: user(&|| format!("flows[{i}].owner"), &f.owner)?,
        co_owners: list("co_owners", &f.co_owners)?,
        run_by: list("run_by", &f.run_by)?,
        approvers: list("approvers", &f.approvers)?,
        beneficiaries: list("beneficiaries", &f.beneficiaries)?,
        premium: premium_of(catalog, at, ctx.transition, &f.connectors, &f.features, f.created),
        license: f.license,
        coverage: Coverage::None,
        machine_coverage: Coverage::None,
        machine_cover: None,
        has_children: false,
        desktop_mode: f.desktop_mode,
        parent: None,
        in_context_of: None,
        in_context_mismatch: false,
        in_context_sources_differ: false,
        context_target: false,
        app,
        app_sources_differ,
        triggered_from_app: f.triggered_from_app,
        d365_data: d365_connector || (dataverse && ctx.entities.lookup(&f.entities, |x| x.2).is_some()),
        complex_entity: ctx.entities.lookup(&f.entities, |x| x.0),
        restricted_entity: ctx.entities.lookup(&f.entities, |x| x.1),
        created: f.created,
        enabled: f.enabled,
        solution_aware: f.solution.is_some(),
        edited: ctx.edited.get(f.id.as_str()).copied(),
        request_addons: f.request_addons.unwrap_or(0),
    })
}

/// A flow's parent and the flow it runs in the context of (FLOW-15).
pub(super) fn link_flow(
    flow_ids: &Interner,
    list: &Chunked<Flow>,
    i: usize,
    f: &Flow,
    rec: &mut FlowRec,
) -> Result<(), BuildError> {
    let flow_ref = |key: &dyn Fn() -> String, id: &str| -> Result<FlowIdx, BuildError> {
        flow_ids
            .get(id)
            .map(FlowIdx)
            .ok_or_else(|| err(key(), format!("unknown flow `{id}`")))
    };
    let parent = f
        .parent
        .as_deref()
        .map(|id| flow_ref(&|| format!("flows[{i}].parent"), id))
        .transpose()?;
    let ctx = f
        .in_context_of
        .as_deref()
        .map(|id| flow_ref(&|| format!("flows[{i}].in_context_of"), id))
        .transpose()?;
    let other = ctx.and_then(|c| list.get(c.0 as usize));
    let place_differs = other.is_some_and(|other| {
        other.solution.is_none() || other.solution != f.solution || other.environment != f.environment
    });
    // FLOW-15 (seed 002): associated flows must also "use the same data sources"; the scenario's
    // connectors stand for them, compared as sets (order, case and repeats aside).
    let sources = |c: &[String]| -> std::collections::BTreeSet<String> {
        c.iter().map(|x| x.trim().to_ascii_lowercase()).collect()
    };
    let sources_differ = other.is_some_and(|other| sources(&other.connectors) != sources(&f.connectors));
    rec.parent = parent;
    rec.in_context_of = ctx;
    rec.in_context_mismatch = place_differs || sources_differ;
    rec.in_context_sources_differ = !place_differs && sources_differ;
    Ok(())
}

/// REQ-2: the non-licensed principals' pool is the largest of the pools the tenant's product lines give (a
/// Dynamics 365 pool grows per base licence, up to its cap); pools never add up.
fn nonlicensed_pool(catalog: &Catalog, units: &HashMap<SkuIdx, u64>) -> (u64, Option<ProductLine>) {
    let mut best = (0u64, None);
    for p in &catalog.terms.requests.nonlicensed_pools {
        let mut present = false;
        let mut base_units = 0u64;
        for (s, n) in units {
            let Some(d) = catalog.sku(*s) else { continue };
            if d.product_line != p.line
                || *n == 0
                || !matches!(d.kind, Kind::Paid | Kind::Seeded)
                || d.grants.attach
            {
                continue;
            }
            present = true;
            if d.grants.capabilities.has(Capability::D365Base) {
                base_units = base_units.saturating_add(*n);
            }
        }
        if !present {
            continue;
        }
        let mut value = p.base.saturating_add(p.per_unit.saturating_mul(base_units));
        if let Some(max) = p.max {
            value = value.min(max);
        }
        if value > best.0 {
            best = (value, Some(p.line));
        }
    }
    best
}

/// FLOW-14, FLOW-16, FLOW-17: hand out each environment's units in creation order, so that when demand exceeds
/// the allocation the most recently created flows and machines are the ones in overage (last in, first out).
/// Process units serve flows and machines alike; unattended and hosted add-ons serve machines only (one pool,
/// FACTS.md §3.3); per-flow units serve enabled per-flow flows (FLOW-17: "all enabled flows count"; a disabled
/// one gets a unit only if one is left). Ties on the creation day are broken by id, never by file order, so that
/// the answer does not depend on how the file is sorted; a machine is as old as its oldest flow.
fn assign_capacity(scenario: &Scenario, envs: &mut [EnvRec], flows: &mut [FlowRec]) {
    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum Item {
        Flow(usize),
        Machine(usize),
    }
    struct Machine<'a> {
        env: EnvIdx,
        name: &'a str,
        created: NaiveDate,
        bots: u64,
        coverage: Coverage,
    }
    let mut machines: Vec<Machine<'_>> = Vec::new();
    let mut machine_of: foldhash::HashMap<(EnvIdx, &str), usize> = foldhash::HashMap::default();
    let mut order: Vec<(bool, NaiveDate, &str, Item)> = Vec::new();
    for (i, (f, rec)) in scenario.flows.iter().zip(flows.iter()).enumerate() {
        let created = f.created.unwrap_or(NaiveDate::MIN);
        match f.license {
            FlowLicense::Process => order.push((false, created, f.id.as_str(), Item::Flow(i))),
            FlowLicense::PerFlow => order.push((!f.enabled, created, f.id.as_str(), Item::Flow(i))),
            FlowLicense::User => {}
        }
        if rec.premium.desktop && f.desktop_mode == Some(DesktopMode::Unattended) {
            let name = f.machine.as_deref().unwrap_or(f.id.as_str());
            let bots = u64::from(f.concurrent_runs.unwrap_or(1).max(1));
            let slot = *machine_of.entry((rec.env, name)).or_insert_with(|| {
                machines.push(Machine {
                    env: rec.env,
                    name,
                    created,
                    bots,
                    coverage: Coverage::None,
                });
                machines.len() - 1
            });
            if let Some(m) = machines.get_mut(slot) {
                m.created = m.created.min(created);
                m.bots = m.bots.max(bots);
            }
        }
    }
    for (i, m) in machines.iter().enumerate() {
        order.push((false, m.created, m.name, Item::Machine(i)));
    }
    order.sort();
    let mut free: Vec<(u64, u64, u64)> = envs
        .iter()
        .map(|e| (e.process_units, e.bot_only_units, e.per_flow_units))
        .collect();
    for (disabled, _, _, item) in order {
        match item {
            Item::Flow(i) => {
                let Some(f) = flows.get_mut(i) else { continue };
                let (Some(pool), Some(env)) =
                    (free.get_mut(f.env.0 as usize), envs.get_mut(f.env.0 as usize))
                else {
                    continue;
                };
                let slot = if f.license == FlowLicense::PerFlow {
                    if !disabled {
                        env.per_flow_demand = env.per_flow_demand.saturating_add(1);
                    }
                    &mut pool.2
                } else {
                    env.process_demand = env.process_demand.saturating_add(1);
                    &mut pool.0
                };
                f.coverage = if *slot > 0 {
                    *slot -= 1;
                    Coverage::Covered
                } else {
                    Coverage::Overage
                };
            }
            Item::Machine(i) => {
                let Some(m) = machines.get_mut(i) else { continue };
                let (Some(pool), Some(env)) =
                    (free.get_mut(m.env.0 as usize), envs.get_mut(m.env.0 as usize))
                else {
                    continue;
                };
                env.bot_demand = env.bot_demand.saturating_add(m.bots);
                let from_bots = m.bots.min(pool.1);
                pool.1 -= from_bots;
                let rest = m.bots - from_bots;
                let from_process = rest.min(pool.0);
                pool.0 -= from_process;
                m.coverage = if from_process == rest {
                    Coverage::Covered
                } else {
                    Coverage::Overage
                };
            }
        }
    }
    for (f, rec) in scenario.flows.iter().zip(flows.iter_mut()) {
        if rec.premium.desktop && f.desktop_mode == Some(DesktopMode::Unattended) {
            let name = f.machine.as_deref().unwrap_or(f.id.as_str());
            rec.machine_coverage = machine_of
                .get(&(rec.env, name))
                .and_then(|i| machines.get(*i))
                .map_or(Coverage::Overage, |m| m.coverage);
        }
    }
    // FLOW-16: a machine's licence covers the cloud flows that call its desktop flows, with their parents and
    // children.
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); flows.len()];
    for (i, f) in flows.iter().enumerate() {
        if let Some(c) = f.parent.and_then(|p| children.get_mut(p.0 as usize)) {
            c.push(i);
        }
    }
    for (i, c) in children.iter().enumerate() {
        if let Some(f) = flows.get_mut(i) {
            f.has_children = !c.is_empty();
        }
    }
    // Every flow below a covered one (children), then every flow above it (parents).
    // Starts in id order: a node reached first keeps the smallest covering id, and everything below or above
    // it was reached by the same start, so each flow is visited a bounded number of times.
    let mut covered: Vec<usize> = flows
        .iter()
        .enumerate()
        .filter(|(_, f)| f.machine_coverage == Coverage::Covered)
        .map(|(i, _)| i)
        .collect();
    covered.sort_by(|a, b| flows.get(*a).map(|f| &f.id).cmp(&flows.get(*b).map(|f| &f.id)));
    let mut cover: Vec<Option<usize>> = vec![None; flows.len()];
    let mut below = vec![false; flows.len()];
    let mut above = vec![false; flows.len()];
    for &start in &covered {
        let mut stack = vec![start];
        while let Some(i) = stack.pop() {
            match below.get_mut(i) {
                Some(seen) if !*seen => *seen = true,
                _ => continue,
            }
            if let Some(c) = cover.get_mut(i) {
                c.get_or_insert(start);
            }
            stack.extend(children.get(i).into_iter().flatten().copied());
        }
        let mut cur = flows.get(start).and_then(|f| f.parent);
        while let Some(p) = cur {
            let i = p.0 as usize;
            match above.get_mut(i) {
                Some(seen) if !*seen => *seen = true,
                _ => break, // a smaller start already went up from here
            }
            if let Some(c) = cover.get_mut(i) {
                // Reached from below by a smaller start wins; from above by this one otherwise.
                c.get_or_insert(start);
            }
            cur = flows.get(i).and_then(|f| f.parent);
        }
    }
    for (f, c) in flows.iter_mut().zip(cover) {
        f.machine_cover = c.and_then(|c| u32::try_from(c).ok()).map(FlowIdx);
    }
}

/// Whether every premium connector of `flow` (an unknown one counts as premium) is one of `app`'s: the data
/// sources a flow in an app's context shares with it (FLOW-9).
pub(crate) fn premium_within(catalog: &Catalog, at: NaiveDate, flow: &[String], app: &[String]) -> bool {
    let norm = |c: &str| c.trim().to_ascii_lowercase();
    let app: std::collections::HashSet<String> = app.iter().map(|c| norm(c)).collect();
    flow.iter()
        .filter(|c| {
            catalog
                .connector(c)
                .is_none_or(|k| k.tier_on(at) == Tier::Premium)
        })
        .all(|c| app.contains(&norm(c)))
}
