//! Power Platform request limits per 24 hours (REQ-1 … REQ-6): how many requests a user or a flow run may
//! make, and where each request comes from.

use serde::Serialize;

use crate::catalog::{Capability, Kind, ProductLine};
use crate::flows::licence_holder;
use crate::rule::Rule;
use crate::scenario::{FlowLicense, Trigger};
use crate::snapshot::{FlowIdx, Snapshot, UserIdx};

/// One contribution to a limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitSource {
    pub rule: Rule,
    /// What it is: a SKU id, `non-licensed pool`, `request add-on`.
    pub source: String,
    pub requests: u64,
}

/// Whose budget a limit is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Budget {
    /// One user's own limit (REQ-1: never pooled).
    User { user: String },
    /// The tenant's pool for non-licensed principals (REQ-2).
    TenantPool,
    /// A process or per-flow licence's limit, shared by the flows it covers (REQ-5).
    Licence { flow: String, shared_with: Vec<String> },
    /// Nobody's: an instant flow with nobody to run it.
    Unknown,
}

/// A 24-hour request limit with its sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limit {
    pub requests_per_24h: u64,
    /// REQ-1: at most this many in any 5 minutes, whatever the licence.
    pub per_5_minutes: u64,
    pub budget: Budget,
    pub sources: Vec<LimitSource>,
    pub rules: Vec<Rule>,
    /// Requests recorded in `[[usage]]` for this budget on the evaluation day, and what is left.
    pub used: u64,
    pub remaining: u64,
}

/// The limit of one user (REQ-1, REQ-2, REQ-3, REQ-6).
pub fn user_limit(snap: &Snapshot, user: UserIdx) -> Limit {
    let mut rules = vec![Rule::Req1];
    let mut sources = Vec::new();
    let Some(u) = snap.user(user) else {
        return finish(snap, 0, Budget::Unknown, sources, rules, None);
    };
    // REQ-2: application users, non-interactive users, and administrators or others whose licences give no
    // requests ($0 licences) share the tenant's pool.
    if u.is_non_licensed_principal() || u.requests == 0 {
        return pool(snap, rules, Some(user));
    }
    rules.push(Rule::Req3);
    let catalog = snap.catalog();
    let transition = snap.transition();
    // Per product line, the highest plan; across lines, the sum; attach licences add nothing (REQ-3).
    let mut best: Vec<(ProductLine, u64, &str)> = Vec::new();
    for s in &u.skus {
        let Some(def) = catalog.sku(*s) else { continue };
        let value = if transition {
            def.grants.requests_per_24h_transition
        } else {
            def.grants.requests_per_24h
        };
        if def.grants.attach || value == 0 {
            continue;
        }
        match best.iter_mut().find(|(line, _, _)| *line == def.product_line) {
            Some(slot) if slot.1 < value => *slot = (def.product_line, value, &def.id),
            Some(_) => {}
            None => best.push((def.product_line, value, &def.id)),
        }
    }
    for (_, value, id) in &best {
        sources.push(LimitSource {
            rule: Rule::Req3,
            source: (*id).to_owned(),
            requests: *value,
        });
    }
    addons(snap, &mut sources, &mut rules, u64::from(u.request_addons));
    let total = sources.iter().fold(0u64, |a, s| a.saturating_add(s.requests));
    finish(
        snap,
        total,
        Budget::User {
            user: u.id.to_string(),
        },
        sources,
        rules,
        Some(user),
    )
}

fn addons(snap: &Snapshot, sources: &mut Vec<LimitSource>, rules: &mut Vec<Rule>, units: u64) {
    if units == 0 {
        return;
    }
    let size = snap
        .catalog()
        .skus
        .iter()
        .find(|s| s.grants.capabilities.has(Capability::RequestAddon))
        .map_or(0, |s| s.grants.request_addon);
    rules.push(Rule::Req6);
    sources.push(LimitSource {
        rule: Rule::Req6,
        source: format!("{units} request add-on unit(s)"),
        requests: units.saturating_mul(size),
    });
}

fn pool(snap: &Snapshot, mut rules: Vec<Rule>, user: Option<UserIdx>) -> Limit {
    rules.push(Rule::Req2);
    let t = snap.tenant();
    let source = match t.nonlicensed_line {
        Some(line) => format!("non-licensed pool ({})", line.as_str()),
        None => "non-licensed pool (no Power Platform subscription)".to_owned(),
    };
    let sources = vec![LimitSource {
        rule: Rule::Req2,
        source,
        requests: t.nonlicensed_pool,
    }];
    finish(snap, t.nonlicensed_pool, Budget::TenantPool, sources, rules, user)
}

fn finish(
    snap: &Snapshot,
    total: u64,
    budget: Budget,
    sources: Vec<LimitSource>,
    rules: Vec<Rule>,
    user: Option<UserIdx>,
) -> Limit {
    let used = match (&budget, user) {
        (Budget::User { .. }, Some(u)) => usage(snap, |usage_user, _| usage_user == Some(snap.user_id(u))),
        (Budget::TenantPool, _) => usage(snap, |usage_user, _| {
            // Everyone on the pool: non-licensed principals and users whose licences give no requests.
            usage_user
                .and_then(|id| snap.user_idx(id))
                .and_then(|i| snap.user(i))
                .is_some_and(|r| r.is_non_licensed_principal() || r.requests == 0)
        }),
        (Budget::Licence { flow, shared_with }, _) => usage(snap, |_, usage_flow| {
            usage_flow.is_some_and(|f| f == flow || shared_with.iter().any(|s| s == f))
        }),
        _ => 0,
    };
    Limit {
        requests_per_24h: total,
        per_5_minutes: snap.catalog().terms.requests.five_minute_cap.min(total.max(1)),
        budget,
        sources,
        rules,
        used,
        remaining: total.saturating_sub(used),
    }
}

/// Requests in `[[usage]]` on the evaluation day that match.
fn usage(snap: &Snapshot, matches: impl Fn(Option<&str>, Option<&str>) -> bool) -> u64 {
    snap.scenario()
        .usage
        .iter()
        .filter(|u| u.on.unwrap_or(snap.at()) == snap.at())
        .filter(|u| matches(u.user.as_deref(), u.flow.as_deref()))
        .fold(0u64, |a, u| a.saturating_add(u.requests))
}

/// The limit a run of `flow` draws on, invoked by `as_user` (REQ-4, REQ-5).
pub fn flow_limit(snap: &Snapshot, flow: FlowIdx, as_user: Option<UserIdx>) -> Limit {
    let mut rules = vec![Rule::Req1, Rule::Req4];
    let Some(f) = snap.flow(flow) else {
        return finish(snap, 0, Budget::Unknown, Vec::new(), rules, None);
    };
    // A process (or per-flow) licence: its own, its ancestor's, or the one it is associated with.
    if let Some(holder) = licence_holder(snap, flow) {
        return licence_limit(snap, holder, rules);
    }
    let mut ctx = f;
    if !snap.transition() {
        let mut steps = 0;
        while let Some(p) = ctx.parent.and_then(|p| snap.flow(p)) {
            ctx = p;
            steps += 1;
            if steps > snap.flows.len() {
                break;
            }
        }
    }
    let owner = snap.user(ctx.owner);
    let user = match ctx.trigger {
        Trigger::Instant => as_user
            .or_else(|| ctx.run_by.first().copied())
            .or(Some(ctx.owner)),
        Trigger::Automated | Trigger::Scheduled => Some(ctx.owner),
    };
    if owner.is_some_and(|o| o.is_non_licensed_principal()) && ctx.trigger != Trigger::Instant {
        return pool(snap, rules, None);
    }
    let Some(user) = user else {
        return finish(snap, 0, Budget::Unknown, Vec::new(), rules, None);
    };
    if snap.transition() {
        // REQ-3: during the transition period a flow uses its context user's single highest plan.
        rules.push(Rule::Req3);
        let value = snap.user(user).map_or(0, |u| u.requests_transition_highest);
        let mut sources = vec![LimitSource {
            rule: Rule::Req3,
            source: "highest plan (transition period)".to_owned(),
            requests: value,
        }];
        addons(snap, &mut sources, &mut rules, u64::from(f.request_addons));
        let total = sources.iter().fold(0u64, |a, s| a.saturating_add(s.requests));
        return finish(
            snap,
            total,
            Budget::User {
                user: snap.user_id(user).to_owned(),
            },
            sources,
            rules,
            Some(user),
        );
    }
    // The context user's own limit, with REQ-4 (whose limit a flow run uses) after REQ-1.
    let mut limit = user_limit(snap, user);
    if !limit.rules.contains(&Rule::Req4) {
        limit.rules.insert(1.min(limit.rules.len()), Rule::Req4);
    }
    limit
}

fn licence_limit(snap: &Snapshot, holder: FlowIdx, mut rules: Vec<Rule>) -> Limit {
    rules.push(Rule::Req5);
    let catalog = snap.catalog();
    let cap = match snap.flow(holder).map(|f| f.license) {
        Some(FlowLicense::PerFlow) => Capability::PerFlow,
        _ => Capability::Process,
    };
    let def = catalog
        .skus
        .iter()
        .filter(|s| s.kind == Kind::Paid && s.grants.capabilities.has(cap))
        .max_by_key(|s| s.grants.requests_per_24h);
    let (value, id) = def.map_or((0, "?".to_owned()), |s| {
        let v = if snap.transition() {
            s.grants.requests_per_24h_transition
        } else {
            s.grants.requests_per_24h
        };
        (v, s.id.clone())
    });
    let shared_with: Vec<String> = snap
        .flows()
        .filter(|(i, _)| *i != holder && licence_holder(snap, *i) == Some(holder))
        .map(|(_, f)| f.id.to_string())
        .collect();
    let mut sources = vec![LimitSource {
        rule: Rule::Req5,
        source: id,
        requests: value,
    }];
    let addon_units = snap.flow(holder).map_or(0, |f| u64::from(f.request_addons));
    addons(snap, &mut sources, &mut rules, addon_units);
    let total = sources.iter().fold(0u64, |a, s| a.saturating_add(s.requests));
    let budget = Budget::Licence {
        flow: snap.flow_id(holder).to_owned(),
        shared_with,
    };
    finish(snap, total, budget, sources, rules, None)
}
