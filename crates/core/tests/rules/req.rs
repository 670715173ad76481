//! REQ-1 … REQ-6: Power Platform requests per 24 hours (RULES.md §3, FACTS.md §1).

use super::common::*;

use entitle_core::requests::{Budget, flow_limit, user_limit};

fn budget_user(b: &Budget) -> Option<&str> {
    match b {
        Budget::User { user } => Some(user),
        _ => None,
    }
}

fn budget_flow(b: &Budget) -> Option<(&str, Vec<&str>)> {
    match b {
        Budget::Licence { flow, shared_with } => {
            let mut with: Vec<&str> = shared_with.iter().map(String::as_str).collect();
            with.sort_unstable();
            Some((flow, with))
        }
        _ => None,
    }
}

// ------------------------------------------------------------------------------------------------ REQ-1

/// FACTS case 11: a process licence gives 250,000 a day, but never more than 100,000 in any 5 minutes.
#[test]
fn req_1_five_minute_cap_whatever_the_licence() {
    let s = snap(
        r#"
[[environments]]
id = "prod"
dataverse = true
allocations = { power-automate-process = 1 }

[[users]]
id = "ann"
licenses = ["office-365-e3"]

[[flows]]
id = "bulk"
environment = "prod"
owner = "ann"
connectors = ["shared_salesforce"]
license = "process"
"#,
        "2024-06-01",
    );
    let l = flow_limit(&s, flow_idx(&s, "bulk"), None);
    let mut c = checks();
    c.eq("per 24 hours", l.requests_per_24h, 250_000);
    c.eq("per 5 minutes", l.per_5_minutes, 100_000);
    c.names("limit rules", &l.rules, "REQ-1");
}

/// FACTS case 8: eight Office 365 users get 6,000 each; there is no shared 48,000 pool.
#[test]
fn req_1_limits_are_per_user_never_pooled() {
    let mut body = String::new();
    for i in 0..8 {
        body.push_str(&format!(
            "\n[[users]]\nid = \"u{i}\"\nlicenses = [\"office-365-e3\"]\n"
        ));
    }
    let s = snap(&body, "2024-06-01");
    let mut c = checks();
    for i in 0..8 {
        let id = format!("u{i}");
        let l = user_limit(&s, user(&s, &id));
        c.eq(&format!("{id}: per 24 hours"), l.requests_per_24h, 6_000);
        c.eq(
            &format!("{id}: budget"),
            budget_user(&l.budget),
            Some(id.as_str()),
        );
        c.names(&format!("{id}: rules"), &l.rules, "REQ-1");
    }
}

// ------------------------------------------------------------------------------------------------ REQ-2

fn pool_tenant(subscriptions: &str) -> String {
    format!(
        r#"{subscriptions}
[[users]]
id = "app"
kind = "service-principal"

[[users]]
id = "batch"
kind = "non-interactive"
"#
    )
}

/// FACTS case 4: 1,000 Dynamics 365 Enterprise licences → 500,000 + 1,000 × 5,000 = 5,500,000 for the
/// non-licensed principals (application and non-interactive users alike).
#[test]
fn req_2_pool_of_1000_d365_licences_is_5_5_million() {
    let s = snap(
        &pool_tenant(
            "[[subscriptions]]\nsku = \"dynamics-365-customer-service-enterprise\"\nquantity = 1000\n",
        ),
        "2024-06-01",
    );
    let mut c = checks();
    for who in ["app", "batch"] {
        let l = user_limit(&s, user(&s, who));
        c.eq(&format!("{who}: per 24 hours"), l.requests_per_24h, 5_500_000);
        c.eq(
            &format!("{who}: tenant pool"),
            l.budget.clone(),
            Budget::TenantPool,
        );
        c.names(&format!("{who}: rules"), &l.rules, "REQ-2");
    }
}

/// FACTS case 5: 2,500 licences → 13,000,000, capped at 10,000,000.
#[test]
fn req_2_pool_is_capped_at_10_million() {
    let s = snap(
        &pool_tenant("[[subscriptions]]\nsku = \"dynamics-365-sales-enterprise\"\nquantity = 2500\n"),
        "2024-06-01",
    );
    let l = user_limit(&s, user(&s, "app"));
    let mut c = checks();
    c.eq("per 24 hours", l.requests_per_24h, 10_000_000);
    c.names("rules", &l.rules, "REQ-2");
}

/// FACTS case 6: D365 CS Enterprise and Power Apps per user → the larger pool (500,000 + accrual); the 25,000
/// Power Apps pool is not added. FACTS case 7: Power Apps only → 25,000.
#[test]
fn req_2_the_larger_pool_wins_and_pools_never_add_up() {
    let mut c = checks();
    let both = snap(
        &pool_tenant(
            "[[subscriptions]]\nsku = \"dynamics-365-customer-service-enterprise\"\nquantity = 1\n\n\
             [[subscriptions]]\nsku = \"power-apps-per-user\"\nquantity = 10\n",
        ),
        "2024-06-01",
    );
    let l = user_limit(&both, user(&both, "app"));
    c.eq("D365 + Power Apps", l.requests_per_24h, 505_000);
    c.names("rules", &l.rules, "REQ-2");
    let apps = snap(
        &pool_tenant("[[subscriptions]]\nsku = \"power-apps-per-user\"\nquantity = 10\n"),
        "2024-06-01",
    );
    let l = user_limit(&apps, user(&apps, "app"));
    c.eq("Power Apps only", l.requests_per_24h, 25_000);
}

/// Attach licences are not base licences: they add nothing to the pool.
#[test]
fn req_2_attach_licences_do_not_grow_the_pool() {
    let s = snap(
        &pool_tenant(
            "[[subscriptions]]\nsku = \"dynamics-365-customer-service-enterprise\"\nquantity = 1000\n\n\
             [[subscriptions]]\nsku = \"dynamics-365-sales-enterprise-attach\"\nquantity = 1000\n",
        ),
        "2024-06-01",
    );
    let l = user_limit(&s, user(&s, "app"));
    let mut c = checks();
    c.eq("per 24 hours", l.requests_per_24h, 5_500_000);
    c.names("rules", &l.rules, "REQ-2");
}

/// The limits apply to administrators too; an administrator without a licence is a non-licensed principal and
/// draws on the tenant pool.
#[test]
fn req_2_unlicensed_administrator_draws_on_the_pool() {
    let s = snap(
        r#"
[[subscriptions]]
sku = "power-automate-premium"
quantity = 10

[[users]]
id = "admin"
roles = ["global-admin"]
"#,
        "2024-06-01",
    );
    let l = user_limit(&s, user(&s, "admin"));
    let mut c = checks();
    c.eq("per 24 hours", l.requests_per_24h, 25_000);
    c.eq("budget", l.budget.clone(), Budget::TenantPool);
    c.names("rules", &l.rules, "REQ-2");
}

// ------------------------------------------------------------------------------------------------ REQ-3

#[test]
fn req_3_values_per_licence() {
    let s = snap(
        r#"
[[users]]
id = "apps-user"
licenses = ["power-apps-per-user"]

[[users]]
id = "per-app"
licenses = ["power-apps-per-app"]

[[users]]
id = "flows-user"
licenses = ["power-automate-premium"]

[[users]]
id = "office"
licenses = ["office-365-e3"]

[[users]]
id = "d365-ent"
licenses = ["dynamics-365-sales-enterprise"]

[[users]]
id = "d365-pro"
licenses = ["dynamics-365-customer-service-professional"]

[[users]]
id = "team"
licenses = ["dynamics-365-team-members"]
"#,
        "2024-06-01",
    );
    let mut c = checks();
    for (who, want) in [
        ("apps-user", 40_000),
        ("per-app", 6_000),
        ("flows-user", 40_000),
        ("office", 6_000),
        ("d365-ent", 40_000),
        ("d365-pro", 40_000),
        ("team", 6_000),
    ] {
        let l = user_limit(&s, user(&s, who));
        c.eq(&format!("{who}: per 24 hours"), l.requests_per_24h, want);
        c.names(&format!("{who}: rules"), &l.rules, "REQ-3");
    }
}

/// REQ-3's example and FACTS case 1: plans of several product lines add up (Microsoft 365 + D365 Enterprise =
/// 6,000 + 40,000; D365 CS Enterprise + Power Apps per user = 80,000).
#[test]
fn req_3_sum_across_product_lines() {
    let s = snap(
        r#"
[[users]]
id = "office-d365"
licenses = ["office-365-e3", "dynamics-365-sales-enterprise"]

[[users]]
id = "cs-apps"
licenses = ["dynamics-365-customer-service-enterprise", "power-apps-per-user"]

[[users]]
id = "apps-flows"
licenses = ["power-apps-per-user", "power-automate-premium"]
"#,
        "2024-06-01",
    );
    let mut c = checks();
    for (who, want) in [
        ("office-d365", 46_000),
        ("cs-apps", 80_000),
        ("apps-flows", 80_000),
    ] {
        let l = user_limit(&s, user(&s, who));
        c.eq(&format!("{who}: per 24 hours"), l.requests_per_24h, want);
        c.names(&format!("{who}: rules"), &l.rules, "REQ-3");
    }
}

/// FACTS case 2: CS Enterprise as base and Sales Enterprise attached → 40,000 (the base only).
#[test]
fn req_3_attach_licence_adds_nothing() {
    let s = snap(
        r#"
[[users]]
id = "ann"
licenses = ["dynamics-365-customer-service-enterprise", "dynamics-365-sales-enterprise-attach"]
"#,
        "2024-06-01",
    );
    let l = user_limit(&s, user(&s, "ann"));
    let mut c = checks();
    c.eq("per 24 hours", l.requests_per_24h, 40_000);
    c.names("rules", &l.rules, "REQ-3");
}

/// The transition-period figures of REQ-3: Power Apps per user 100,000, per app 10,000, Microsoft 365 10,000,
/// process 500,000.
#[test]
fn req_3_transition_period_values() {
    let s = snap_of(
        r#"
[tenant]
id = "contoso"
transition_period = true

[[environments]]
id = "default"
default = true
allocations = { power-automate-process = 1 }

[[users]]
id = "apps-user"
licenses = ["power-apps-per-user"]

[[users]]
id = "per-app"
licenses = ["power-apps-per-app"]

[[users]]
id = "office"
licenses = ["office-365-e3"]

[[flows]]
id = "bulk"
environment = "default"
owner = "office"
connectors = ["shared_salesforce"]
license = "process"
"#,
        "2024-06-01",
    );
    let mut c = checks();
    for (who, want) in [("apps-user", 100_000), ("per-app", 10_000), ("office", 10_000)] {
        let l = user_limit(&s, user(&s, who));
        c.eq(
            &format!("{who}: per 24 hours in the transition"),
            l.requests_per_24h,
            want,
        );
        c.names(&format!("{who}: rules"), &l.rules, "REQ-3");
    }
    let l = flow_limit(&s, flow_idx(&s, "bulk"), None);
    c.eq("process flow in the transition", l.requests_per_24h, 500_000);
}

/// During the transition period a flow uses only its context user's single highest plan: Microsoft 365 (10,000)
/// + Power Apps per user (100,000) → 100,000, not 110,000. Outside it, the plans add up (6,000 + 40,000).
#[test]
fn req_3_transition_flow_uses_the_single_highest_plan() {
    let body = |transition: bool| {
        format!(
            r#"
[tenant]
id = "contoso"
transition_period = {transition}

[[environments]]
id = "default"
default = true

[[users]]
id = "ann"
licenses = ["office-365-e3", "power-apps-per-user"]

[[flows]]
id = "sync"
environment = "default"
owner = "ann"
connectors = ["shared_sharepointonline"]
"#
        )
    };
    let mut c = checks();
    let t = snap_of(&body(true), "2024-06-01");
    let l = flow_limit(&t, flow_idx(&t, "sync"), None);
    c.eq("transition: highest plan only", l.requests_per_24h, 100_000);
    c.names("transition: rules", &l.rules, "REQ-3");
    let n = snap_of(&body(false), "2024-06-01");
    let l = flow_limit(&n, flow_idx(&n, "sync"), None);
    c.eq("after the transition: sum", l.requests_per_24h, 46_000);
}

// ------------------------------------------------------------------------------------------------ REQ-4

const WHOSE: &str = r#"
[[environments]]
id = "prod"
dataverse = true
allocations = { power-automate-process = 1 }

[[users]]
id = "ann"
licenses = ["office-365-e3", "power-automate-premium"]

[[users]]
id = "bob"
licenses = ["office-365-e3"]

[[users]]
id = "carol"
licenses = ["power-apps-per-user"]

[[flows]]
id = "automated"
environment = "prod"
owner = "ann"
run_by = ["bob"]
connectors = ["shared_salesforce"]

[[flows]]
id = "instant"
environment = "prod"
trigger = "instant"
owner = "ann"
run_by = ["bob", "carol"]
connectors = ["shared_sharepointonline"]

[[flows]]
id = "child"
environment = "prod"
owner = "bob"
parent = "automated"
connectors = ["shared_salesforce"]

[[flows]]
id = "instant-child"
environment = "prod"
owner = "bob"
parent = "instant"
connectors = ["shared_sharepointonline"]

[[flows]]
id = "processed"
environment = "prod"
trigger = "instant"
owner = "bob"
connectors = ["shared_salesforce"]
license = "process"
"#;

/// FACTS case 13: an automated flow owned by A and triggered by B → A's limit.
#[test]
fn req_4_automated_flow_uses_its_owner_limit() {
    let s = snap(WHOSE, "2024-06-01");
    let l = flow_limit(&s, flow_idx(&s, "automated"), Some(user(&s, "bob")));
    let mut c = checks();
    c.eq("budget", budget_user(&l.budget), Some("ann"));
    c.eq("per 24 hours: 6,000 + 40,000", l.requests_per_24h, 46_000);
    c.names("rules", &l.rules, "REQ-4");
}

/// An instant flow owned by A, run by B → B's limit.
#[test]
fn req_4_instant_flow_uses_the_invoker_limit() {
    let s = snap(WHOSE, "2024-06-01");
    let mut c = checks();
    let l = flow_limit(&s, flow_idx(&s, "instant"), Some(user(&s, "bob")));
    c.eq("as bob: budget", budget_user(&l.budget), Some("bob"));
    c.eq("as bob: per 24 hours", l.requests_per_24h, 6_000);
    c.names("as bob: rules", &l.rules, "REQ-4");
    let l = flow_limit(&s, flow_idx(&s, "instant"), Some(user(&s, "carol")));
    c.eq("as carol: budget", budget_user(&l.budget), Some("carol"));
    c.eq("as carol: per 24 hours", l.requests_per_24h, 40_000);
}

/// A child flow uses its parent's context: the parent owner's limit for an automated parent, the invoker's for
/// an instant one.
#[test]
fn req_4_child_flow_uses_its_parent_context() {
    let s = snap(WHOSE, "2024-06-01");
    let mut c = checks();
    let l = flow_limit(&s, flow_idx(&s, "child"), None);
    c.eq(
        "child of an automated parent: budget",
        budget_user(&l.budget),
        Some("ann"),
    );
    c.eq(
        "child of an automated parent: per 24 hours",
        l.requests_per_24h,
        46_000,
    );
    c.names("child: rules", &l.rules, "REQ-4");
    let l = flow_limit(&s, flow_idx(&s, "instant-child"), Some(user(&s, "carol")));
    c.eq(
        "child of an instant parent run by carol: budget",
        budget_user(&l.budget),
        Some("carol"),
    );
}

/// A process-licensed flow uses the process plan's limits whoever runs it.
#[test]
fn req_4_process_licence_whoever_runs_it() {
    let s = snap(WHOSE, "2024-06-01");
    let mut c = checks();
    for who in ["bob", "carol"] {
        let l = flow_limit(&s, flow_idx(&s, "processed"), Some(user(&s, who)));
        c.eq(&format!("as {who}: per 24 hours"), l.requests_per_24h, 250_000);
        c.eq(
            &format!("as {who}: budget"),
            budget_flow(&l.budget).map(|b| b.0),
            Some("processed"),
        );
        c.names(&format!("as {who}: rules"), &l.rules, "REQ-4");
    }
}

/// FACTS case 14: a service principal's standard scheduled flow draws on the tenant pool (25,000); with a
/// process licence it gets 250,000.
#[test]
fn req_4_service_principal_flows_use_the_tenant_pool_unless_process_licensed() {
    let s = snap(
        r#"
[[subscriptions]]
sku = "power-automate-premium"
quantity = 5

[[environments]]
id = "prod"
dataverse = true
allocations = { power-automate-process = 1 }

[[users]]
id = "app"
kind = "service-principal"

[[flows]]
id = "standard"
environment = "prod"
trigger = "scheduled"
owner = "app"
connectors = ["shared_sharepointonline"]

[[flows]]
id = "processed"
environment = "prod"
trigger = "scheduled"
owner = "app"
connectors = ["shared_salesforce"]
license = "process"
"#,
        "2024-06-01",
    );
    let mut c = checks();
    let l = flow_limit(&s, flow_idx(&s, "standard"), None);
    c.eq("standard: budget", l.budget.clone(), Budget::TenantPool);
    c.eq("standard: per 24 hours", l.requests_per_24h, 25_000);
    c.names("standard: rules", &l.rules, "REQ-4");
    let l = flow_limit(&s, flow_idx(&s, "processed"), None);
    c.eq("process: per 24 hours", l.requests_per_24h, 250_000);
}

// ------------------------------------------------------------------------------------------------ REQ-5

/// Parent, child and in-context flows under one process licence share that licence's limits.
#[test]
fn req_5_flows_under_one_process_licence_share_its_limits() {
    let s = snap(
        r#"
[[environments]]
id = "prod"
dataverse = true
allocations = { power-automate-process = 1 }

[[users]]
id = "ann"
licenses = ["office-365-e3"]

[[flows]]
id = "intake"
environment = "prod"
owner = "ann"
connectors = ["shared_salesforce"]
license = "process"
solution = "invoices"

[[flows]]
id = "approve"
environment = "prod"
owner = "ann"
parent = "intake"
connectors = ["shared_salesforce"]
solution = "invoices"

[[flows]]
id = "archive"
environment = "prod"
owner = "ann"
in_context_of = "intake"
connectors = ["shared_salesforce"]
solution = "invoices"
"#,
        "2024-06-01",
    );
    let mut c = checks();
    for f in ["intake", "approve", "archive"] {
        let l = flow_limit(&s, flow_idx(&s, f), None);
        c.eq(&format!("{f}: one licence's limit"), l.requests_per_24h, 250_000);
        let b = budget_flow(&l.budget);
        c.eq(
            &format!("{f}: budget of"),
            b.as_ref().map(|b| b.0),
            Some("intake"),
        );
        c.eq(
            &format!("{f}: shared with"),
            b.map(|b| b.1),
            Some(vec!["approve", "archive"]),
        );
        c.names(&format!("{f}: rules"), &l.rules, "REQ-5");
    }
}

// ------------------------------------------------------------------------------------------------ REQ-6

/// The request add-on raises the limit by 10,000 per unit (the seed catalog's size) for the users or flows it
/// is assigned to, and only them.
#[test]
fn req_6_request_add_on_raises_the_limit_of_its_holder() {
    let s = snap(
        r#"
[[environments]]
id = "prod"
dataverse = true
allocations = { power-automate-process = 1 }

[[users]]
id = "heavy"
licenses = ["office-365-e3", "power-platform-requests", "power-platform-requests"]

[[users]]
id = "light"
licenses = ["office-365-e3"]

[[flows]]
id = "bulk"
environment = "prod"
owner = "light"
connectors = ["shared_salesforce"]
license = "process"
request_addons = 1
"#,
        "2024-06-01",
    );
    let mut c = checks();
    let l = user_limit(&s, user(&s, "heavy"));
    c.eq("user with 2 add-ons", l.requests_per_24h, 26_000);
    c.names("user rules", &l.rules, "REQ-6");
    c.eq(
        "user without",
        user_limit(&s, user(&s, "light")).requests_per_24h,
        6_000,
    );
    let l = flow_limit(&s, flow_idx(&s, "bulk"), None);
    c.eq("process flow with 1 add-on", l.requests_per_24h, 260_000);
    c.names("flow rules", &l.rules, "REQ-6");
}
