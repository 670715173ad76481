//! The optimiser's tests: a few tenants by hand, one per rule the plan shares across decisions, and a property
//! test against an independent brute force over the candidate changes.

use std::sync::Arc;

use chrono::NaiveDate;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rust_decimal::Decimal;

use super::model::{Atom, Target, build};
use super::*;
use crate::apps::decide_app;
use crate::buying::{cost, usage};
use crate::catalog::Catalog;
use crate::dryrun::{Change, apply_changes};
use crate::flows::decide_flow;
use crate::scenario::{
    App, Environment, Flow, FlowLicense, PurchaseChannel, Scenario, Subscription, Tenant, Trigger, User,
    UserKind,
};

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 6, 3).unwrap_or_default()
}

fn catalog() -> Arc<Catalog> {
    Arc::new(Catalog::seed().unwrap_or_else(|e| panic!("{e}")))
}

fn snap(s: Scenario) -> Snapshot {
    Snapshot::new(catalog(), s, day()).unwrap_or_else(|e| panic!("{e}"))
}

fn user(id: &str, licenses: &[&str]) -> User {
    User {
        id: id.to_owned(),
        licenses: licenses.iter().map(|x| (*x).to_owned()).collect(),
        ..User::default()
    }
}

fn env(id: &str, default: bool) -> Environment {
    Environment {
        id: id.to_owned(),
        default,
        ..Environment::default()
    }
}

fn flow(id: &str, env: &str, owner: &str, premium: bool) -> Flow {
    Flow {
        id: id.to_owned(),
        environment: env.to_owned(),
        owner: owner.to_owned(),
        connectors: vec![
            if premium {
                "shared_salesforce"
            } else {
                "shared_sharepointonline"
            }
            .to_owned(),
        ],
        enabled: true,
        ..Flow::default()
    }
}

fn app(id: &str, env: &str, users: &[&str]) -> App {
    App {
        id: id.to_owned(),
        environment: env.to_owned(),
        connectors: vec!["shared_salesforce".to_owned()],
        users: users.iter().map(|x| (*x).to_owned()).collect(),
        ..App::default()
    }
}

fn sub(sku: &str, quantity: u32) -> Subscription {
    Subscription {
        sku: sku.to_owned(),
        quantity,
        start: NaiveDate::from_ymd_opt(2023, 1, 1),
        channel: PurchaseChannel::Admin,
        ..Subscription::default()
    }
}

fn scenario(
    users: Vec<User>,
    envs: Vec<Environment>,
    flows: Vec<Flow>,
    apps: Vec<App>,
    subs: Vec<Subscription>,
) -> Scenario {
    Scenario {
        tenant: Tenant {
            id: "t".to_owned(),
            at: Some(day()),
            ..Tenant::default()
        },
        subscriptions: subs.into(),
        users: users.into(),
        environments: envs.into(),
        apps: apps.into(),
        flows: flows.into(),
        ..Scenario::default()
    }
}

fn total(m: &[crate::money::Money]) -> Decimal {
    m.iter().map(|x| x.amount).sum()
}

fn targets_allowed(before: &Snapshot, after: &Snapshot, plan: &Plan) -> bool {
    let mut ok = true;
    for (f, r) in before.flows() {
        if !decide_flow(before, f, None).allowed {
            let g = after.flow_idx(&r.id);
            ok &= g.is_some_and(|g| decide_flow(after, g, None).allowed)
                || plan.targets.unfixable.contains(&format!("flow:{}", r.id));
        }
    }
    for (a, r) in before.apps() {
        for u in &r.users {
            if !decide_app(before, a, *u).allowed {
                let (Some(b), Some(v)) = (after.app_idx(&r.id), after.user_idx(before.user_id(*u))) else {
                    return false;
                };
                ok &= decide_app(after, b, v).allowed;
            }
        }
    }
    ok
}

#[test]
fn flow_7_flow_15_one_process_licence_on_the_parent_covers_its_children() {
    // A service principal's parent and three children (FLOW-20: only a process licence fixes each alone), and
    // nobody holds anything: the audit's per-flow sum counts a licence per flow, the plan one for the tree.
    let mut flows = vec![flow("parent", "e", "sp", true)];
    for k in 0..3 {
        let mut c = flow(&format!("child-{k}"), "e", "sp", true);
        c.parent = Some("parent".to_owned());
        flows.push(c);
    }
    let mut sp = user("sp", &[]);
    sp.kind = UserKind::ServicePrincipal;
    let s = snap(scenario(vec![sp], vec![env("e", true)], flows, vec![], vec![]));
    let plan = optimise(&s, &Options::default(), &Quiet);
    assert!(plan.targets.not_turned.is_empty(), "{:?}", plan.targets);
    assert_eq!(total(&plan.added), Decimal::from(150), "{:#?}", plan.changes);
    assert!(
        plan.changes
            .iter()
            .any(|c| c.action == "set-flow-license" && c.flow.as_deref() == Some("parent"))
    );
    assert!(total(&plan.saving) >= Decimal::ZERO);
    let after = apply_plan(&s, &plan).unwrap_or_else(|e| panic!("{e}"));
    assert!(targets_allowed(&s, &after, &plan));
}

#[test]
fn app_1_a_user_of_many_apps_gets_a_per_user_licence_not_stacked_passes() {
    // Five premium apps in five environments: five per-app passes (50 USD, APP-1) against one Power Apps per
    // user licence (40 USD, CAT-2).
    let envs: Vec<Environment> = (0..5).map(|k| env(&format!("e{k}"), k == 0)).collect();
    let apps: Vec<App> = (0..5)
        .map(|k| app(&format!("a{k}"), &format!("e{k}"), &["ann"]))
        .collect();
    let s = snap(scenario(
        vec![user("ann", &["office-365-e3"])],
        envs,
        vec![],
        apps,
        vec![],
    ));
    let plan = optimise(&s, &Options::default(), &Quiet);
    assert!(plan.targets.not_turned.is_empty(), "{:?}", plan.targets);
    assert_eq!(total(&plan.added), Decimal::from(40), "{:#?}", plan.changes);
    assert!(
        plan.changes
            .iter()
            .any(|c| c.sku.as_deref() == Some("power-apps-per-user"))
    );
    assert!(plan.bound.optimal);
}

#[test]
fn app_1_two_apps_in_one_environment_take_one_per_app_pass() {
    let apps = vec![app("a", "e", &["ann"]), app("b", "e", &["ann"])];
    let s = snap(scenario(
        vec![user("ann", &["office-365-e3"])],
        vec![env("e", true)],
        vec![],
        apps,
        vec![],
    ));
    let plan = optimise(&s, &Options::default(), &Quiet);
    assert_eq!(total(&plan.added), Decimal::from(10), "{:#?}", plan.changes);
}

#[test]
fn buy_6_a_unit_of_a_user_who_left_is_reassigned_before_buying() {
    let mut gone = user("gone", &["power-automate-premium", "office-365-e3"]);
    gone.left = NaiveDate::from_ymd_opt(2024, 1, 1);
    let users = vec![gone, user("bo", &["office-365-e3"])];
    let s = snap(scenario(
        users,
        vec![env("e", true)],
        vec![flow("f", "e", "bo", true)],
        vec![],
        vec![sub("power-automate-premium", 1)],
    ));
    let plan = optimise(&s, &Options::default(), &Quiet);
    assert_eq!(total(&plan.added), Decimal::ZERO, "{:#?}", plan.changes);
    let moved = plan.changes.iter().find(|c| c.action == "reassign");
    assert_eq!(
        moved.and_then(|c| c.from.as_deref()),
        Some("gone"),
        "{:#?}",
        plan.changes
    );
    let after = apply_plan(&s, &plan).unwrap_or_else(|e| panic!("{e}"));
    assert!(targets_allowed(&s, &after, &plan));
    // The server's units check (BUY-6) accepts the plan: nothing is assigned beyond the units bought.
    assert!(crate::changes::within_bought(&s, &after, &[]).is_ok());
}

#[test]
fn enf_6_one_premium_licence_for_an_owner_of_many_flows() {
    let flows: Vec<Flow> = (0..6).map(|k| flow(&format!("f{k}"), "e", "bo", true)).collect();
    let s = snap(scenario(
        vec![user("bo", &["office-365-e3"])],
        vec![env("e", true)],
        flows,
        vec![],
        vec![],
    ));
    let plan = optimise(&s, &Options::default(), &Quiet);
    assert_eq!(total(&plan.added), Decimal::from(15), "{:#?}", plan.changes);
    assert_eq!(plan.targets.turned, 6);
}

#[test]
fn flow_14_a_free_process_unit_in_the_environment_costs_nothing() {
    let mut sp = user("sp", &[]);
    sp.kind = UserKind::ServicePrincipal;
    let mut e = env("e", true);
    e.allocations.insert("power-automate-process".to_owned(), 1);
    let s = snap(scenario(
        vec![sp],
        vec![e],
        vec![flow("f", "e", "sp", true)],
        vec![],
        vec![sub("power-automate-process", 1)],
    ));
    let plan = optimise(&s, &Options::default(), &Quiet);
    assert_eq!(total(&plan.added), Decimal::ZERO, "{:#?}", plan.changes);
    assert!(plan.targets.not_turned.is_empty());
}

#[test]
fn only_limits_the_targets() {
    let flows = vec![flow("f", "e", "bo", true)];
    let apps = vec![app("a", "e", &["bo"])];
    let s = snap(scenario(
        vec![user("bo", &["office-365-e3"])],
        vec![env("e", true)],
        flows,
        apps,
        vec![],
    ));
    let flows_only = optimise(
        &s,
        &Options {
            only: Only::Flows,
            ..Options::default()
        },
        &Quiet,
    );
    assert_eq!(flows_only.targets.app_users, 0);
    assert_eq!(total(&flows_only.added), Decimal::from(15));
    let ids = optimise(
        &s,
        &Options {
            only: Only::Ids(vec!["a".to_owned()]),
            ..Options::default()
        },
        &Quiet,
    );
    assert_eq!(ids.targets.flows, 0);
    assert_eq!(total(&ids.added), Decimal::from(10), "{:#?}", ids.changes);
}

// ------------------------------------------------------------------------------------- the brute force

/// The targeted decisions of `s` that are denied.
fn denied(s: &Snapshot) -> Vec<Target> {
    let mut out = Vec::new();
    for (f, _) in s.flows() {
        if !decide_flow(s, f, None).allowed {
            out.push(Target::Flow(f));
        }
    }
    for (a, r) in s.apps() {
        for u in &r.users {
            if !decide_app(s, a, *u).allowed {
                out.push(Target::App(a, *u));
            }
        }
    }
    out
}

/// What buying makes a tenant's bill after `writes`: per SKU, the units now in use beyond the units bought are
/// bought (a SKU with no subscription whose use grew gets one for all its use), topped up to the purchase
/// minimum and step; process units are allocated to each environment short of them. `None` if a SKU short of
/// units is not on sale. Independent of the optimiser's pricing: it reads the engine's usage report.
fn with_purchases(before: &Snapshot, writes: &[Change]) -> Option<Snapshot> {
    let at = before.at();
    let catalog = before.catalog_arc();
    let mut s = before.scenario().clone();
    apply_changes(&mut s, writes, at, None).ok()?;
    let mid = Snapshot::new(Arc::clone(catalog), s.clone(), at).ok()?;
    // Allocate to every environment whose process demand exceeds its units.
    let process = catalog
        .cheapest_granting(crate::catalog::Capability::Process, at)
        .map(|(_, d)| d.id.clone());
    let mut allocs = Vec::new();
    for (_, e) in mid.envs() {
        let short = e
            .process_demand
            .saturating_add(e.bot_demand)
            .saturating_sub(e.process_units);
        if short > 0 {
            allocs.push(Change::Allocate {
                environment: e.id.to_string(),
                sku: process.clone()?,
                quantity: short,
            });
        }
    }
    apply_changes(&mut s, &allocs, at, None).ok()?;
    let mid = Snapshot::new(Arc::clone(catalog), s.clone(), at).ok()?;
    let was = usage(before).0;
    let mut buys = Vec::new();
    for line in usage(&mid).0 {
        let def = catalog.sku_by_id(&line.sku)?;
        if def.kind != crate::catalog::Kind::Paid {
            continue;
        }
        let idx = catalog.sku_idx(&line.sku)?;
        let subscribed = mid.tenant().subscribed.contains(&idx);
        let used = line.assigned + line.allocated;
        let prior = was
            .iter()
            .find(|x| x.sku == line.sku)
            .map_or(0, |x| x.assigned + x.allocated);
        let held = if subscribed {
            mid.tenant().units.get(&idx).copied().unwrap_or(0)
        } else {
            0
        };
        if used <= held || (!subscribed && used <= prior) {
            continue;
        }
        if !(def.purchasable_on(at) && def.price_at(at).is_some()) {
            return None;
        }
        let mut q = used - held;
        let min = u64::from(def.minimum);
        let step = u64::from(def.step.max(1));
        q = q.max(min.saturating_sub(held));
        while (held + q).saturating_sub(min) % step != 0 {
            q += 1;
        }
        buys.push(Change::Buy {
            sku: line.sku.clone(),
            quantity: q,
        });
    }
    apply_changes(&mut s, &buys, at, None).ok()?;
    Snapshot::new(Arc::clone(catalog), s, at).ok()
}

fn bill(s: &Snapshot) -> Decimal {
    cost(s).total.0.values().copied().sum()
}

fn all_allowed(before: &Snapshot, after: &Snapshot, targets: &[Target]) -> bool {
    targets.iter().all(|t| match *t {
        Target::Flow(f) => after
            .flow_idx(before.flow_id(f))
            .is_some_and(|g| decide_flow(after, g, None).allowed),
        Target::App(a, u) => match (after.app_idx(before.app_id(a)), after.user_idx(before.user_id(u))) {
            (Some(a), Some(u)) => decide_app(after, a, u).allowed,
            _ => false,
        },
    })
}

/// The least monthly cost over every subset of the candidate changes (the model's atoms as the engine's
/// writes, and taking back each reclaimable unit), each subset applied with its purchases and decided anew.
fn brute_force(s: &Snapshot, universe: &[Change], targets: &[Target]) -> Option<Decimal> {
    let base = bill(s);
    let mut best: Option<Decimal> = None;
    for mask in 0u32..(1 << universe.len()) {
        let writes: Vec<Change> = universe
            .iter()
            .enumerate()
            .filter(|(k, _)| mask & (1 << k) != 0)
            .map(|(_, c)| c.clone())
            .collect();
        let Some(after) = with_purchases(s, &writes) else {
            continue;
        };
        if !all_allowed(s, &after, targets) {
            continue;
        }
        let c = bill(&after) - base;
        if best.is_none_or(|b| c < b) {
            best = Some(c);
        }
    }
    best
}

/// The heuristic's lower bound on the model of `s` (what the answer reports when the exact search does not run).
fn heuristic_bound(s: &Snapshot) -> Decimal {
    let audit = crate::audit::audit(s);
    let rows: Vec<(crate::snapshot::FlowIdx, &[crate::fixes::CheckedFix])> = audit
        .flows
        .iter()
        .filter_map(|r| Some((s.flow_idx(&r.flow)?, r.fixes.as_slice())))
        .collect();
    let model = build(s, &rows, &Only::All, &mut |_| {});
    let pricer = super::solve::Pricer::new(s, &model);
    super::solve::lower_bound(&model, &pricer)
}

/// The candidate changes of the model of `s`, as writes: removes first (they are made before assignments).
fn universe(s: &Snapshot) -> Vec<Change> {
    let audit = crate::audit::audit(s);
    let rows: Vec<(crate::snapshot::FlowIdx, &[crate::fixes::CheckedFix])> = audit
        .flows
        .iter()
        .filter_map(|r| Some((s.flow_idx(&r.flow)?, r.fixes.as_slice())))
        .collect();
    let model = build(s, &rows, &Only::All, &mut |_| {});
    let sku = |i: crate::catalog::SkuIdx| s.catalog().sku(i).map_or_else(String::new, |d| d.id.clone());
    let mut out = Vec::new();
    for (k, users) in &model.reclaim {
        for u in users {
            out.push(Change::Remove {
                user: s.user_id(*u).to_owned(),
                sku: sku(*k),
            });
        }
    }
    for a in &model.atoms {
        out.push(match *a {
            Atom::Assign { user, sku: k, .. } => Change::Assign {
                user: s.user_id(user).to_owned(),
                sku: sku(k),
            },
            Atom::Process { flow } => Change::SetProcess {
                flow: s.flow_id(flow).to_owned(),
            },
            Atom::Owner { flow, user } => Change::SetOwner {
                flow: s.flow_id(flow).to_owned(),
                user: s.user_id(user).to_owned(),
            },
            Atom::App { flow, app } => Change::SetApp {
                flow: s.flow_id(flow).to_owned(),
                app: s.app_id(app).to_owned(),
            },
            // Capacity for flows in overage is what `with_purchases` allocates anyway.
            Atom::Capacity { .. } => continue,
        });
    }
    out
}

/// A small random tenant: 2 to 4 users (some holding licences, one perhaps gone or a service principal), one
/// or two environments, up to four flows (premium or not, automated or instant, some children of another), up to
/// two premium apps, subscriptions for what is held with perhaps a spare unit, perhaps a free process unit.
fn tenant() -> impl Strategy<Value = Scenario> {
    let user_s = (0u8..6, any::<bool>(), 0u8..3);
    let flow_s = (0u8..4, any::<bool>(), 0u8..3, 0u8..2, 0u8..4, 0u8..4);
    let app_s = (0u8..2, prop::collection::vec(0u8..4, 1..3));
    (
        prop::collection::vec(user_s, 2..5),
        1u8..3,
        prop::collection::vec(flow_s, 0..5),
        prop::collection::vec(app_s, 0..3),
        (0u8..2, 0u8..2, 0u8..2),
    )
        .prop_map(|(us, n_env, fs, aps, (spare, free_process, spare_process))| {
            let n = us.len();
            let uid = |k: u8| format!("u{}", usize::from(k) % n);
            let mut users = Vec::new();
            let mut held: std::collections::BTreeMap<&str, u32> = Default::default();
            for (k, (lic, gone, kind)) in us.iter().enumerate() {
                let mut licenses = vec!["office-365-e3".to_owned()];
                let extra = match lic {
                    1 => Some("power-automate-premium"),
                    2 => Some("power-apps-per-user"),
                    3 => Some("power-apps-per-app"),
                    _ => None,
                };
                if let Some(x) = extra {
                    licenses.push(x.to_owned());
                    *held.entry(x).or_insert(0) += 1;
                }
                let mut u = User {
                    id: format!("u{k}"),
                    licenses,
                    ..User::default()
                };
                if *gone && k > 0 {
                    u.left = NaiveDate::from_ymd_opt(2024, 1, 1);
                }
                if *kind == 2 && k == n - 1 && !*gone {
                    u.kind = UserKind::ServicePrincipal;
                    u.licenses.clear();
                    if let Some(h) = extra.and_then(|x| held.get_mut(x)) {
                        *h -= 1;
                    }
                }
                users.push(u);
            }
            let envs: Vec<Environment> = (0..n_env)
                .map(|k| {
                    let mut e = env(&format!("e{k}"), k == 0);
                    if k == 0 && free_process == 1 {
                        e.allocations.insert("power-automate-process".to_owned(), 1);
                    }
                    e
                })
                .collect();
            let mut flows: Vec<Flow> = Vec::new();
            for (k, (owner, premium, trig, e, parent, runner)) in fs.iter().enumerate() {
                let e = format!("e{}", e % n_env);
                let mut f = flow(&format!("f{k}"), &e, &uid(*owner), *premium);
                if *trig == 2 {
                    f.trigger = Trigger::Instant;
                    f.run_by = vec![uid(*runner)];
                }
                if usize::from(*parent) < k
                    && let Some(p) = flows.get(usize::from(*parent))
                    && p.environment == e
                {
                    f.parent = Some(p.id.clone());
                }
                flows.push(f);
            }
            let apps: Vec<App> = aps
                .iter()
                .enumerate()
                .map(|(k, (e, us))| {
                    let mut ids: Vec<String> = us.iter().map(|u| uid(*u)).collect();
                    ids.sort();
                    ids.dedup();
                    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
                    app(&format!("a{k}"), &format!("e{}", e % n_env), &refs)
                })
                .collect();
            let mut subs: Vec<Subscription> = held
                .iter()
                .filter(|(_, q)| **q > 0)
                .map(|(k, q)| sub(k, q + u32::from(spare)))
                .collect();
            if free_process == 1 || spare_process == 1 {
                subs.push(sub(
                    "power-automate-process",
                    u32::from(free_process) + u32::from(spare_process),
                ));
            }
            let mut s = scenario(users, envs, flows, apps, subs);
            s.flows.retain(|f| !matches!(f.license, FlowLicense::PerFlow));
            s
        })
}

#[test]
fn plans_of_random_small_tenants_cost_the_brute_force_optimum_and_turn_every_decision() {
    let catalog = catalog();
    let mut runner = TestRunner::new(Config {
        cases: std::env::var("OPTIMISE_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(200),
        failure_persistence: None,
        ..Config::default()
    });
    let checked = std::cell::Cell::new(0u32);
    let result = runner.run(&tenant(), |sc| {
        let Ok(s) = Snapshot::new(Arc::clone(&catalog), sc, day()) else {
            return Ok(());
        };
        let plan = optimise(&s, &Options::default(), &Quiet);
        // Applying the plan turns every targeted decision that any change turns.
        let after = apply_plan(&s, &plan).map_err(TestCaseError::fail)?;
        let targets = denied(&s);
        let fixable: Vec<Target> = targets
            .iter()
            .copied()
            .filter(|t| {
                let name = match *t {
                    Target::Flow(f) => format!("flow:{}", s.flow_id(f)),
                    Target::App(a, u) => format!("app:{}/{}", s.app_id(a), s.user_id(u)),
                };
                !plan.targets.unfixable.contains(&name)
            })
            .collect();
        prop_assert!(
            all_allowed(&s, &after, &fixable),
            "not turned: {:?}\n{:#?}",
            plan.targets,
            plan.changes
        );
        prop_assert!(crate::changes::within_bought(&s, &after, &[]).is_ok());
        let added = total(&plan.added);
        prop_assert_eq!(bill(&after) - bill(&s), added);
        let u = universe(&s);
        if u.len() <= 12 {
            let best = brute_force(&s, &u, &fixable);
            prop_assert_eq!(
                best,
                Some(added),
                "plan {:#?}\nuniverse {:?}\nscenario {}",
                plan.changes,
                u,
                s.scenario().to_toml_string().unwrap_or_default()
            );
            // The bound the heuristic reports is a bound: never above the optimum.
            let bound = heuristic_bound(&s);
            prop_assert!(
                bound <= added,
                "lower bound {} above the optimum {}",
                bound,
                added
            );
            checked.set(checked.get() + 1);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // Most cases are small enough for the brute force.
    assert!(
        checked.get() >= 150,
        "only {} of 200 cases brute-forced",
        checked.get()
    );
}
