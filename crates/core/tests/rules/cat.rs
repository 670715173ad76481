//! CAT-1 … CAT-14: the catalog (RULES.md §1). Prices come from purchase previews and the bill; rights from
//! decisions; where a rule is catalog data only, the SKU's `sources` must name it.

use super::common::*;

use entitle_core::buying::{cost, usage};
use entitle_core::capacity::capacity;

// ------------------------------------------------------------------------------------------------ CAT-1

#[test]
fn cat_1_per_app_costs_10_usd_per_user_per_app() {
    let s = snap("", "2020-06-01");
    let p = buy(&s, "power-apps-per-app", 3, None);
    let mut c = checks();
    c.ok(
        &format!("3 per-app units accepted ({:?})", p.problems),
        p.accepted,
    );
    c.cost("3 per-app units", p.monthly_cost.as_ref(), "30", "USD");
    c.names("buy rules", &p.rules, "CAT-1");
}

/// One unit: 2 apps (canvas and/or model-driven) and 1 portal, all in one environment.
#[test]
fn cat_1_one_unit_runs_two_apps_and_one_portal_in_one_environment() {
    let s = snap(
        r#"
[[environments]]
id = "prod"
dataverse = true

[[users]]
id = "ann"
licenses = ["power-apps-per-app"]

[[apps]]
id = "expenses"
environment = "prod"
kind = "canvas"
connectors = ["shared_salesforce"]
users = ["ann"]

[[apps]]
id = "cases"
environment = "prod"
kind = "model-driven"
users = ["ann"]

[[apps]]
id = "site"
environment = "prod"
kind = "portal"
users = ["ann"]
"#,
        "2024-06-01",
    );
    let mut c = checks();
    for a in ["expenses", "cases", "site"] {
        let d = app(&s, a, "ann");
        c.eq(&format!("{a}: allowed"), d.allowed, true);
        c.names(&format!("{a}: trace"), d.trace.as_slice(), "CAT-1");
    }
}

/// A third app in the same environment is beyond one unit; a second unit (units stack) covers it.
#[test]
fn cat_1_units_stack_for_more_apps() {
    let body = |units: usize| {
        let licenses = vec!["\"power-apps-per-app\""; units].join(", ");
        format!(
            r#"
[[environments]]
id = "prod"
dataverse = true

[[users]]
id = "ann"
licenses = [{licenses}]

[[apps]]
id = "a1"
environment = "prod"
connectors = ["shared_salesforce"]
users = ["ann"]

[[apps]]
id = "a2"
environment = "prod"
connectors = ["shared_salesforce"]
users = ["ann"]

[[apps]]
id = "a3"
environment = "prod"
connectors = ["shared_salesforce"]
users = ["ann"]
"#
        )
    };
    let mut c = checks();
    let one = snap(&body(1), "2024-06-01");
    let allowed = ["a1", "a2", "a3"]
        .iter()
        .filter(|a| app(&one, a, "ann").allowed)
        .count();
    c.ok(
        &format!("one unit covers at most 2 of 3 apps, {allowed} allowed"),
        allowed <= 2,
    );
    let d = app(&one, "a3", "ann");
    c.names("one unit, a3: trace", d.trace.as_slice(), "CAT-1");

    let two = snap(&body(2), "2024-06-01");
    for a in ["a1", "a2", "a3"] {
        let d = app(&two, a, "ann");
        c.eq(&format!("two units, {a}: allowed"), d.allowed, true);
        c.names(&format!("two units, {a}: trace"), d.trace.as_slice(), "CAT-1");
    }
}

/// A canvas app embedded in a model-driven app does not count toward the 2.
#[test]
fn cat_1_embedded_canvas_app_does_not_count() {
    let s = snap(
        r#"
[[environments]]
id = "prod"
dataverse = true

[[users]]
id = "ann"
licenses = ["power-apps-per-app"]

[[apps]]
id = "hub"
environment = "prod"
kind = "model-driven"
users = ["ann"]

[[apps]]
id = "side"
environment = "prod"
kind = "canvas"
connectors = ["shared_salesforce"]
users = ["ann"]

[[apps]]
id = "embedded"
environment = "prod"
kind = "canvas"
connectors = ["shared_salesforce"]
embedded_in = "hub"
users = ["ann"]
"#,
        "2024-06-01",
    );
    let mut c = checks();
    for a in ["hub", "side", "embedded"] {
        let d = app(&s, a, "ann");
        c.eq(&format!("{a}: allowed with one unit"), d.allowed, true);
        c.names(&format!("{a}: trace"), d.trace.as_slice(), "CAT-1");
    }
}

// ------------------------------------------------------------------------------------------------ CAT-2

#[test]
fn cat_2_per_user_costs_40_usd() {
    let s = snap("", "2020-06-01");
    let p = buy(&s, "power-apps-per-user", 2, None);
    let mut c = checks();
    c.ok(&format!("accepted ({:?})", p.problems), p.accepted);
    c.cost("2 per-user units", p.monthly_cost.as_ref(), "80", "USD");
    c.names("buy rules", &p.rules, "CAT-2");
}

#[test]
fn cat_2_per_user_runs_any_number_of_apps() {
    let mut body = String::from(
        r#"
[[environments]]
id = "prod"
dataverse = true

[[users]]
id = "bob"
licenses = ["power-apps-per-user"]
"#,
    );
    for i in 0..6 {
        let env = if i % 2 == 0 { "prod" } else { "default" };
        body.push_str(&format!(
            "\n[[apps]]\nid = \"app-{i}\"\nenvironment = \"{env}\"\nconnectors = [\"shared_salesforce\"]\nusers = [\"bob\"]\n"
        ));
    }
    body.push_str(
        "\n[[apps]]\nid = \"model\"\nenvironment = \"prod\"\nkind = \"model-driven\"\nusers = [\"bob\"]\n",
    );
    let s = snap(&body, "2024-06-01");
    let mut c = checks();
    for a in ["app-0", "app-1", "app-2", "app-3", "app-4", "app-5", "model"] {
        let d = app(&s, a, "bob");
        c.eq(&format!("{a}: allowed"), d.allowed, true);
        c.eq(&format!("{a}: licensed_by"), d.licensed_by.kind(), "user");
        c.names(&format!("{a}: trace"), d.trace.as_slice(), "CAT-2");
    }
}

// ------------------------------------------------------------------------------------------------ CAT-3

#[test]
fn cat_3_power_automate_per_user_and_premium_cost_15_usd() {
    let s = snap("", "2024-06-01");
    let mut c = checks();
    for sku in ["power-automate-premium", "power-automate-per-user"] {
        let p = buy(&s, sku, 1, None);
        c.ok(&format!("{sku}: accepted ({:?})", p.problems), p.accepted);
        c.cost(sku, p.monthly_cost.as_ref(), "15", "USD");
        c.names(&format!("{sku}: buy rules"), &p.rules, "CAT-3");
    }
    let p = buy(&s, "power-automate-per-user-attended-rpa", 1, None);
    c.cost(
        "per user with attended RPA (formerly)",
        p.monthly_cost.as_ref(),
        "40",
        "USD",
    );
}

/// Premium includes everything of "per user with attended RPA": attended desktop flows. The plain per-user plan
/// (no RPA) does not.
#[test]
fn cat_3_premium_includes_attended_rpa() {
    let s = snap(
        r#"
[[users]]
id = "premium"
licenses = ["power-automate-premium"]

[[users]]
id = "rpa"
licenses = ["power-automate-per-user-attended-rpa"]

[[users]]
id = "per-user"
licenses = ["power-automate-per-user"]

[[flows]]
id = "desk-premium"
environment = "default"
trigger = "instant"
owner = "premium"
features = ["desktop-flow"]
desktop_mode = "attended"

[[flows]]
id = "desk-rpa"
environment = "default"
trigger = "instant"
owner = "rpa"
features = ["desktop-flow"]
desktop_mode = "attended"

[[flows]]
id = "desk-per-user"
environment = "default"
trigger = "instant"
owner = "per-user"
features = ["desktop-flow"]
desktop_mode = "attended"
"#,
        "2024-06-01",
    );
    let mut c = checks();
    c.eq(
        "premium owner runs attended desktop flow",
        flow(&s, "desk-premium").allowed,
        true,
    );
    c.eq(
        "per user with attended RPA runs it",
        flow(&s, "desk-rpa").allowed,
        true,
    );
    c.eq(
        "plain per user (no RPA) does not",
        flow(&s, "desk-per-user").allowed,
        false,
    );
    c.names(
        "premium flow trace",
        flow(&s, "desk-premium").trace.as_slice(),
        "FLOW-4",
    );
    c.sku_rests_on("power-automate-premium", "CAT-3");
}

// ------------------------------------------------------------------------------------------------ CAT-4

#[test]
fn cat_4_per_flow_is_sold_from_5_units() {
    let s = snap("", "2023-06-01");
    let p = buy(&s, "power-automate-per-flow", 4, None);
    let mut c = checks();
    c.eq("4 per-flow units accepted", p.accepted, false);
    c.finding("4 units", &p.problems, "CAT-4");
    let p = buy(&s, "power-automate-per-flow", 5, None);
    c.ok(&format!("5 units accepted ({:?})", p.problems), p.accepted);
    c.cost("5 units", p.monthly_cost.as_ref(), "500", "USD");
    c.names("5 units: buy rules", &p.rules, "CAT-4");
}

/// Seed 000: "Na de minimale aankoop van 5 stromen kunnen meer stromen afzonderlijk worden gelicentieerd". The
/// minimum of 5 is on the tenant's holding, not on each purchase: a tenant that holds 5 may buy 1 more (100 USD);
/// one that holds 3 must buy at least 2.
#[test]
fn cat_4_minimum_five_applies_to_the_holding_not_each_purchase() {
    let holding = |n: u32| {
        format!(
            r#"
[[subscriptions]]
sku = "power-automate-per-flow"
quantity = {n}
start = "2021-06-01"
"#
        )
    };
    let mut c = checks();
    let s = snap(&holding(5), "2023-06-01");
    let p = buy(&s, "power-automate-per-flow", 1, None);
    c.ok(
        &format!("holds 5: 1 more accepted ({:?})", p.problems),
        p.accepted,
    );
    c.cost("holds 5: 1 more", p.monthly_cost.as_ref(), "100", "USD");
    c.names("holds 5: buy rules", &p.rules, "CAT-4");
    let s = snap(&holding(3), "2023-06-01");
    let p = buy(&s, "power-automate-per-flow", 1, None);
    c.eq("holds 3: 1 more accepted", p.accepted, false);
    c.finding("holds 3: 1 more", &p.problems, "CAT-4");
    let p = buy(&s, "power-automate-per-flow", 2, None);
    c.ok(
        &format!("holds 3: 2 more accepted ({:?})", p.problems),
        p.accepted,
    );
    c.cost("holds 3: 2 more", p.monthly_cost.as_ref(), "200", "USD");
    // Still not for sale after the retirement, whatever the holding.
    let s = snap(&holding(5), "2024-02-01");
    let p = buy(&s, "power-automate-per-flow", 1, None);
    c.eq("holds 5, after 2024-02-01: accepted", p.accepted, false);
    c.finding("holds 5, after 2024-02-01", &p.problems, "CAT-4");
}

/// FACTS conformance case 45: 7 per-flow licences = 500 + 2 × 100.
#[test]
fn cat_4_seven_per_flow_units_cost_500_plus_2_times_100() {
    let s = snap("", "2023-06-01");
    let p = buy(&s, "power-automate-per-flow", 7, None);
    let mut c = checks();
    c.ok(&format!("7 units accepted ({:?})", p.problems), p.accepted);
    c.cost("7 units", p.monthly_cost.as_ref(), "700", "USD");
    c.names("buy rules", &p.rules, "CAT-4");
}

#[test]
fn cat_4_per_flow_cannot_be_bought_from_2024_02_01() {
    let mut c = checks();
    let before = buy(&snap("", "2024-01-31"), "power-automate-per-flow", 5, None);
    c.ok(
        &format!("on 2024-01-31 accepted ({:?})", before.problems),
        before.accepted,
    );
    let after = buy(&snap("", "2024-02-01"), "power-automate-per-flow", 5, None);
    c.eq("on 2024-02-01 accepted", after.accepted, false);
    c.finding("on 2024-02-01", &after.problems, "CAT-4");
}

#[test]
fn cat_4_existing_per_flow_units_keep_working() {
    let s = snap(
        r#"
[[subscriptions]]
sku = "power-automate-per-flow"
quantity = 5
start = "2023-01-01"

[[environments]]
id = "prod"
dataverse = true
allocations = { power-automate-per-flow = 1 }

[[users]]
id = "ann"
licenses = ["office-365-e3"]

[[flows]]
id = "invoice"
environment = "prod"
owner = "ann"
connectors = ["shared_salesforce"]
license = "per-flow"
"#,
        "2024-06-01",
    );
    let d = flow(&s, "invoice");
    let mut c = checks();
    c.eq("allowed after the retirement", d.allowed, true);
    c.eq("licensed_by", kind(&d), "per-flow");
    c.names("trace", d.trace.as_slice(), "FLOW-17");
    c.sku_rests_on("power-automate-per-flow", "CAT-4");
    let bill = cost(&s);
    c.eq("still billed", bill.total.0.get("USD").copied(), Some(dec("500")));
}

// ------------------------------------------------------------------------------------------------ CAT-5

#[test]
fn cat_5_process_costs_150_usd_per_bot_with_no_minimum() {
    let s = snap("", "2024-06-01");
    let p = buy(&s, "power-automate-process", 1, None);
    let mut c = checks();
    c.ok(&format!("1 unit accepted ({:?})", p.problems), p.accepted);
    c.cost("1 unit", p.monthly_cost.as_ref(), "150", "USD");
    c.names("buy rules", &p.rules, "CAT-5");
    let p = buy(&s, "power-automate-process", 3, None);
    c.cost("3 units", p.monthly_cost.as_ref(), "450", "USD");
}

// ------------------------------------------------------------------------------------------------ CAT-6

#[test]
fn cat_6_unattended_rpa_add_on_costs_150_usd_until_2024_02_01() {
    let mut c = checks();
    let p = buy(&snap("", "2023-06-01"), "power-automate-unattended-rpa", 1, None);
    c.ok(&format!("on 2023-06-01 accepted ({:?})", p.problems), p.accepted);
    c.cost("1 bot", p.monthly_cost.as_ref(), "150", "USD");
    c.names("buy rules", &p.rules, "CAT-6");
    let p = buy(&snap("", "2024-02-01"), "power-automate-unattended-rpa", 1, None);
    c.eq("on 2024-02-01 accepted", p.accepted, false);
    c.finding("on 2024-02-01", &p.problems, "CAT-6");
}

#[test]
fn cat_6_existing_unattended_add_on_keeps_serving_its_machine() {
    let s = snap(
        r#"
[[environments]]
id = "rpa"
dataverse = true
allocations = { power-automate-unattended-rpa = 1 }

[[users]]
id = "ann"
licenses = ["office-365-e3"]

[[flows]]
id = "bot"
environment = "rpa"
owner = "ann"
features = ["desktop-flow"]
desktop_mode = "unattended"
machine = "vm-1"
"#,
        "2024-06-01",
    );
    let d = flow(&s, "bot");
    let mut c = checks();
    c.eq("allowed", d.allowed, true);
    c.eq("licensed_by", kind(&d), "process");
    c.names("trace", d.trace.as_slice(), "FLOW-16");
    c.sku_rests_on("power-automate-unattended-rpa", "CAT-6");
}

// ------------------------------------------------------------------------------------------------ CAT-7

/// Hosted Process is environment-scoped and can serve as an unattended RPA add-on.
#[test]
fn cat_7_hosted_process_serves_as_unattended_add_on_in_its_environment() {
    let body = |env: &str| {
        let alloc = |id: &str| {
            if id == env {
                "allocations = { power-automate-hosted-process = 1 }"
            } else {
                ""
            }
        };
        format!(
            r#"
[[environments]]
id = "rpa"
dataverse = true
{}

[[environments]]
id = "other"
dataverse = true
{}

[[users]]
id = "ann"
licenses = ["office-365-e3"]

[[flows]]
id = "bot"
environment = "rpa"
owner = "ann"
features = ["desktop-flow"]
desktop_mode = "unattended"
machine = "hosted-1"
"#,
            alloc("rpa"),
            alloc("other")
        )
    };
    let mut c = checks();
    let here = snap(&body("rpa"), "2024-06-01");
    let d = flow(&here, "bot");
    c.eq(
        "hosted process in the flow's environment: allowed",
        d.allowed,
        true,
    );
    c.eq("licensed_by", kind(&d), "process");
    c.names("trace", d.trace.as_slice(), "CAT-7");
    let elsewhere = snap(&body("other"), "2024-06-01");
    c.eq(
        "hosted process in another environment: allowed",
        flow(&elsewhere, "bot").allowed,
        false,
    );
    c.eq(
        "scope",
        catalog()
            .sku_by_id("power-automate-hosted-process")
            .map(|s| s.scope),
        Some(entitle_core::catalog::Scope::Environment),
    );
    c.sku_rests_on("power-automate-hosted-process", "CAT-7");
}

// ------------------------------------------------------------------------------------------------ CAT-8

#[test]
fn cat_8_legacy_plans_could_be_bought_until_2020_04_01() {
    let mut c = checks();
    for sku in [
        "powerapps-plan-1",
        "powerapps-plan-2",
        "flow-plan-1",
        "flow-plan-2",
    ] {
        let p = buy(&snap("", "2020-03-31"), sku, 1, None);
        c.ok(
            &format!("{sku} on 2020-03-31 accepted ({:?})", p.problems),
            p.accepted,
        );
        let p = buy(&snap("", "2020-04-01"), sku, 1, None);
        c.eq(&format!("{sku} on 2020-04-01 accepted"), p.accepted, false);
        c.finding(&format!("{sku} on 2020-04-01"), &p.problems, "CAT-8");
    }
}

#[test]
fn cat_8_existing_legacy_plans_keep_working() {
    let s = snap(
        r#"
[[users]]
id = "old"
licenses = ["powerapps-plan-2", "flow-plan-2"]

[[apps]]
id = "model"
environment = "default"
kind = "model-driven"
users = ["old"]

[[flows]]
id = "sync"
environment = "default"
owner = "old"
connectors = ["shared_salesforce"]
"#,
        "2024-06-01",
    );
    let mut c = checks();
    let a = app(&s, "model", "old");
    c.eq("model-driven app under Plan 2 in 2024", a.allowed, true);
    let f = flow(&s, "sync");
    c.eq("premium flow under Flow Plan 2 in 2024", f.allowed, true);
    c.names("flow trace", f.trace.as_slice(), "FLOW-4");
    c.sku_rests_on("powerapps-plan-2", "CAT-8");
    c.sku_rests_on("flow-plan-2", "CAT-8");
}

// ------------------------------------------------------------------------------------------------ CAT-9

const SEEDED: [&str; 28] = [
    "office-365-e1",
    "office-365-e3",
    "office-365-e5",
    "office-365-f1",
    "office-365-f3",
    "microsoft-365-business-basic",
    "microsoft-365-business-standard",
    "microsoft-365-business-premium",
    "office-365-a1",
    "office-365-a3",
    "office-365-a5",
    "windows-10-pro",
    "windows-enterprise-e3",
    "windows-enterprise-e5",
    "dynamics-365-sales-enterprise",
    "dynamics-365-sales-professional",
    "dynamics-365-customer-service-enterprise",
    "dynamics-365-customer-service-professional",
    "dynamics-365-field-service",
    "dynamics-365-project-operations",
    "dynamics-365-team-members",
    "dynamics-365-finance",
    "dynamics-365-supply-chain-management",
    "dynamics-365-commerce",
    "dynamics-365-human-resources",
    "dynamics-365-operations-activity",
    "dynamics-365-business-central",
    "dynamics-365-business-central-team-members",
];

#[test]
fn cat_9_seeded_plans_are_user_scoped_and_never_priced() {
    let cat = catalog();
    let mut c = checks();
    for id in SEEDED {
        match cat.sku_by_id(id) {
            None => {
                c.ok(&format!("seeded plan `{id}` in the catalog"), false);
            }
            Some(s) => {
                c.eq(
                    &format!("{id}: scope"),
                    s.scope,
                    entitle_core::catalog::Scope::User,
                );
                c.eq(
                    &format!("{id}: kind"),
                    s.kind,
                    entitle_core::catalog::Kind::Seeded,
                );
                c.ok(&format!("{id}: has no price"), s.prices.is_empty());
                c.sku_rests_on(id, "CAT-9");
            }
        }
    }
}

#[test]
fn cat_9_seeded_plans_are_recorded_not_bought_here() {
    let s = snap(
        r#"
[[subscriptions]]
sku = "office-365-e3"
quantity = 50

[[subscriptions]]
sku = "power-apps-per-user"
quantity = 2
"#,
        "2024-06-01",
    );
    let mut c = checks();
    let p = buy(&s, "office-365-e3", 10, None);
    c.eq("buying Office 365 E3 here accepted", p.accepted, false);
    c.finding("buying Office 365 E3", &p.problems, "CAT-9");
    let bill = cost(&s);
    c.eq("bill in USD", bill.total.0.get("USD").copied(), Some(dec("80")));
    c.ok(
        "no bill line for the seeded plan",
        bill.lines.iter().all(|l| l.sku != "office-365-e3"),
    );
    c.names("bill rules", &bill.rules, "CAT-9");
}

// ------------------------------------------------------------------------------------------------ CAT-10

#[test]
fn cat_10_trial_lengths() {
    let cat = catalog();
    let mut c = checks();
    for (id, days) in [
        ("power-apps-trial", 30),
        ("power-automate-trial", 90),
        ("ai-builder-trial", 30),
    ] {
        let s = cat.sku_by_id(id);
        c.eq(
            &format!("{id}: trial days"),
            s.and_then(|s| s.trial_days),
            Some(days),
        );
        c.eq(
            &format!("{id}: kind"),
            s.map(|s| s.kind),
            Some(entitle_core::catalog::Kind::Trial),
        );
        c.sku_rests_on(id, "CAT-10");
    }
}

#[test]
fn cat_10_a_trial_never_costs_money() {
    let s = snap(
        r#"
[[subscriptions]]
sku = "power-automate-trial"
quantity = 10000
channel = "trial"
start = "2024-05-01"

[[subscriptions]]
sku = "power-apps-per-user"
quantity = 25
channel = "trial"
start = "2024-05-15"
"#,
        "2024-06-01",
    );
    let bill = cost(&s);
    let mut c = checks();
    c.ok(
        &format!("nothing to pay: {:?}", bill.total.0),
        bill.total.0.values().all(|v| v.is_zero()),
    );
    c.names("bill rules", &bill.rules, "CAT-10");
}

/// Seed 001: "Er zijn geen kosten verbonden aan deze licenties." A trial's purchase preview answers a monthly cost
/// of `"0.00"` USD (an amount, with its currency), never null: each of the three trials, for any quantity.
#[test]
fn cat_10_trial_purchase_preview_costs_0_00_with_its_currency() {
    let s = snap("[[users]]\nid = \"ann\"\n", "2024-06-01");
    let mut c = checks();
    for (sku, buyer) in [
        ("power-apps-trial", Some("ann")),
        ("power-automate-trial", Some("ann")),
        ("ai-builder-trial", None),
        ("power-automate-trial", None),
    ] {
        let p = buy(&s, sku, 25, buyer);
        c.cost(
            &format!("{sku} by {buyer:?}"),
            p.monthly_cost.as_ref(),
            "0",
            "USD",
        );
        c.eq(&format!("{sku}: currency"), p.currency.as_deref(), Some("USD"));
        let json = serde_json::to_value(&p).unwrap_or_default();
        c.eq(
            &format!("{sku}: monthly_cost in JSON"),
            json.get("monthly_cost").cloned(),
            Some(serde_json::json!("0.00")),
        );
        c.names(&format!("{sku}: buy rules"), &p.rules, "CAT-10");
    }
}

/// A Power Automate trial started on 2024-01-01 lasts 90 days: it covers premium flows on 2024-03-30, not on
/// 2024-03-31.
#[test]
fn cat_10_power_automate_trial_lasts_90_days() {
    let body = r#"
[[users]]
id = "ann"
licenses = ["power-automate-trial"]

[[flows]]
id = "sync"
environment = "default"
owner = "ann"
connectors = ["shared_salesforce"]

[[events]]
on = "2024-01-01"
kind = "trial-started"
user = "ann"
sku = "power-automate-trial"
"#;
    let mut c = checks();
    c.eq(
        "day 90 of the trial",
        flow(&snap(body, "2024-03-30"), "sync").allowed,
        true,
    );
    let over = flow(&snap(body, "2024-03-31"), "sync");
    c.eq("after 90 days", over.allowed, false);
    c.flow_problem("after 90 days", &over, "FLOW-24");
    c.sku_rests_on("power-automate-trial", "CAT-10");
}

/// Trials never consume paid quota: trial users do not use up purchased units, and add no Dataverse capacity.
#[test]
fn cat_10_a_trial_never_consumes_paid_quota() {
    let s = snap(
        r#"
[[subscriptions]]
sku = "power-automate-premium"
quantity = 2

[[subscriptions]]
sku = "power-automate-trial"
quantity = 100
channel = "trial"
start = "2024-05-01"

[[users]]
id = "a"
licenses = ["power-automate-premium"]

[[users]]
id = "b"
licenses = ["power-automate-premium"]

[[users]]
id = "t"
licenses = ["power-automate-trial"]
"#,
        "2024-06-01",
    );
    let mut c = checks();
    let (rows, problems, _) = usage(&s);
    c.ok(&format!("no over-assignment: {problems:?}"), problems.is_empty());
    let premium = rows.iter().find(|r| r.sku == "power-automate-premium");
    c.eq("premium units available", premium.map(|r| r.available), Some(0));
    let cap = capacity(&s);
    c.eq(
        "database: 10 GB default + 2 × 50 MB, nothing from trials",
        cap.database_mb,
        10_100,
    );
    c.eq("file: 20 GB default + 2 × 200 MB", cap.file_mb, 20_400);
    c.names("capacity rules", &cap.rules, "CAT-10");
}

// ------------------------------------------------------------------------------------------------ CAT-11

#[test]
fn cat_11_developer_plan_is_free() {
    let s = snap("[[users]]\nid = \"dev\"\n", "2024-06-01");
    let p = buy(&s, "power-apps-developer", 1, Some("dev"));
    let mut c = checks();
    c.ok(&format!("accepted ({:?})", p.problems), p.accepted);
    c.ok(
        &format!("costs nothing: {:?}", p.monthly_cost),
        p.monthly_cost
            .as_ref()
            .is_some_and(|m| m.amount.is_zero() && m.currency == "USD"),
    );
    c.names("buy rules", &p.rules, "CAT-11");
}

/// The developer plan is not for production use: it does not run a premium app in a production environment.
#[test]
fn cat_11_developer_plan_is_not_for_production() {
    let s = snap(
        r#"
[[environments]]
id = "prod"
dataverse = true

[[users]]
id = "dev"
licenses = ["power-apps-developer"]

[[apps]]
id = "crm"
environment = "prod"
connectors = ["shared_salesforce"]
users = ["dev"]
"#,
        "2024-06-01",
    );
    let d = app(&s, "crm", "dev");
    let mut c = checks();
    c.eq("premium app in production", d.allowed, false);
    c.names("trace", d.trace.as_slice(), "CAT-11");
}

/// Seed 000: the developer plan gives "een gratis omgeving voor individueel gebruik met functionaliteit, inclusief
/// de Common Data Service" (a free environment for individual use, Common Data Service included). In their own
/// developer environment its holder runs premium apps and flows; another user there, or the holder without the
/// plan, is decided as anywhere else.
#[test]
fn cat_11_developer_plan_covers_its_owner_in_their_developer_environment() {
    let s = snap(
        r#"
[[environments]]
id = "dev-env"
kind = "developer"
owner = "dev"
dataverse = true

[[environments]]
id = "pat-env"
kind = "developer"
owner = "pat"
dataverse = true

[[users]]
id = "dev"
licenses = ["power-apps-developer"]

[[users]]
id = "colleague"
licenses = ["office-365-e3"]

[[users]]
id = "pat"
licenses = ["office-365-e3"]

[[apps]]
id = "crm"
environment = "dev-env"
kind = "model-driven"
connectors = ["shared_commondataserviceforapps"]
users = ["dev", "colleague"]

[[apps]]
id = "pats-app"
environment = "pat-env"
connectors = ["shared_salesforce"]
users = ["pat"]

[[flows]]
id = "sync"
environment = "dev-env"
owner = "dev"
connectors = ["shared_salesforce"]
"#,
        "2024-06-01",
    );
    let mut c = checks();
    let d = app(&s, "crm", "dev");
    c.eq(
        "model-driven app in the owner's developer environment",
        d.allowed,
        true,
    );
    c.names("crm/dev: trace", d.trace.as_slice(), "CAT-11");
    let d = flow(&s, "sync");
    c.eq(
        "premium flow in the owner's developer environment",
        d.allowed,
        true,
    );
    c.names("sync: trace", d.trace.as_slice(), "CAT-11");
    c.eq("another user there", app(&s, "crm", "colleague").allowed, false);
    c.eq(
        "an environment's owner without the developer plan",
        app(&s, "pats-app", "pat").allowed,
        false,
    );
}

/// Only a developer environment has an owner: on any other it is bad input, named where it is.
#[test]
fn cat_11_only_developer_environments_have_an_owner() {
    let text =
        format!("{HEAD}\n[[users]]\nid = \"dev\"\n\n[[environments]]\nid = \"prod\"\nowner = \"dev\"\n");
    let msg =
        entitle_core::Scenario::parse(&text, entitle_core::scenario::Format::Toml, "t.toml", &catalog())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
    let mut c = checks();
    c.ok(
        &format!("refused, naming environments[1].owner: {msg}"),
        msg.contains("environments[1].owner") && msg.contains("developer"),
    );
}

// ------------------------------------------------------------------------------------------------ CAT-12

#[test]
fn cat_12_free_plan_is_for_tracking_and_costs_nothing() {
    let s = snap("[[users]]\nid = \"ann\"\n", "2024-06-01");
    let p = buy(&s, "power-automate-free", 1, Some("ann"));
    let mut c = checks();
    c.ok(&format!("accepted ({:?})", p.problems), p.accepted);
    c.ok(
        &format!("costs nothing: {:?}", p.monthly_cost),
        p.monthly_cost
            .as_ref()
            .is_some_and(|m| m.amount.is_zero() && m.currency == "USD"),
    );
    c.names("buy rules", &p.rules, "CAT-12");
    c.ok(
        "grants no capability",
        catalog()
            .sku_by_id("power-automate-free")
            .is_some_and(|s| s.grants.capabilities.iter().next().is_none()),
    );
}

/// Holding the free licence or not makes no difference to any decision, and removing it revokes nothing.
#[test]
fn cat_12_free_licence_grants_nothing_and_removing_it_revokes_nothing() {
    let s = snap(
        r#"
[[users]]
id = "with-free"
licenses = ["office-365-e3", "power-automate-free"]

[[users]]
id = "without"
licenses = ["office-365-e3"]

[[users]]
id = "removed"
licenses = ["office-365-e3"]

[[flows]]
id = "std-with"
environment = "default"
owner = "with-free"
connectors = ["shared_sharepointonline"]

[[flows]]
id = "std-without"
environment = "default"
owner = "without"
connectors = ["shared_sharepointonline"]

[[flows]]
id = "std-removed"
environment = "default"
owner = "removed"
connectors = ["shared_sharepointonline"]

[[flows]]
id = "prem-with"
environment = "default"
owner = "with-free"
connectors = ["shared_salesforce"]

[[flows]]
id = "prem-without"
environment = "default"
owner = "without"
connectors = ["shared_salesforce"]

[[events]]
on = "2024-05-01"
kind = "license-removed"
user = "removed"
sku = "power-automate-free"
"#,
        "2024-06-01",
    );
    let mut c = checks();
    c.eq(
        "standard flow, with vs without the free licence",
        flow(&s, "std-with").allowed,
        flow(&s, "std-without").allowed,
    );
    c.eq(
        "standard flow of a user whose free licence was removed",
        flow(&s, "std-removed").allowed,
        true,
    );
    c.eq(
        "premium flow, with vs without the free licence",
        flow(&s, "prem-with").allowed,
        flow(&s, "prem-without").allowed,
    );
    c.eq(
        "premium flow under the free licence",
        flow(&s, "prem-with").allowed,
        false,
    );
    c.sku_rests_on("power-automate-free", "CAT-12");
}

// ------------------------------------------------------------------------------------------------ CAT-13

#[test]
fn cat_13_add_on_grants_and_prices() {
    let cat = catalog();
    let mut c = checks();
    // (sku, price, currency, what one unit grants)
    let grants = |id: &str| cat.sku_by_id(id).map(|s| s.grants.clone()).unwrap_or_default();
    c.eq("tier 1 logins", grants("portal-logins-tier-1").portal_logins, 100);
    c.eq(
        "tier 2 logins",
        grants("portal-logins-tier-2").portal_logins,
        1_000,
    );
    c.eq(
        "CSP tier logins",
        grants("portal-logins-tier-3").portal_logins,
        5_000,
    );
    c.eq("page views", grants("portal-page-views").page_views, 100_000);
    c.eq(
        "request add-on",
        grants("power-platform-requests").request_addon,
        10_000,
    );
    c.eq(
        "database add-on MB",
        grants("dataverse-database-capacity").database_mb,
        1_000,
    );
    c.eq("file add-on MB", grants("dataverse-file-capacity").file_mb, 1_000);
    c.eq("log add-on MB", grants("dataverse-log-capacity").log_mb, 1_000);
    c.eq(
        "AI Builder credits",
        grants("ai-builder-capacity").ai_credits,
        1_000_000,
    );
    c.eq(
        "5,000 logins: CSP channel only",
        cat.sku_by_id("portal-logins-tier-3").map(|s| s.channels.clone()),
        Some(vec![entitle_core::catalog::Channel::Csp]),
    );
    for id in [
        "portal-logins-tier-1",
        "portal-logins-tier-2",
        "portal-logins-tier-3",
        "portal-page-views",
        "power-platform-requests",
        "dataverse-database-capacity",
        "dataverse-file-capacity",
        "dataverse-log-capacity",
        "ai-builder-capacity",
        "dynamics-365-additional-portal",
    ] {
        c.sku_rests_on(id, "CAT-13");
    }
}

/// The bill keeps each price's currency: the portal add-ons in EUR, the others in USD.
#[test]
fn cat_13_add_on_bill_keeps_the_currency_per_price() {
    let s = snap(
        r#"
[[subscriptions]]
sku = "portal-logins-tier-1"
quantity = 4

[[subscriptions]]
sku = "portal-logins-tier-2"
quantity = 1

[[subscriptions]]
sku = "portal-logins-tier-3"
quantity = 1
channel = "csp"

[[subscriptions]]
sku = "portal-page-views"
quantity = 1

[[subscriptions]]
sku = "power-platform-requests"
quantity = 2

[[subscriptions]]
sku = "dataverse-database-capacity"
quantity = 3

[[subscriptions]]
sku = "dataverse-file-capacity"
quantity = 10

[[subscriptions]]
sku = "dataverse-log-capacity"
quantity = 2

[[subscriptions]]
sku = "ai-builder-capacity"
quantity = 1

[[subscriptions]]
sku = "dynamics-365-additional-portal"
quantity = 1
"#,
        "2024-06-01",
    );
    let bill = cost(&s);
    let mut c = checks();
    // EUR: 4 × 200 + 1,000 + 3,500 + 100; USD: 2 × 50 + 3 × 40 + 10 × 2 + 2 × 10 + 500 + 500.
    c.eq("EUR total", bill.total.0.get("EUR").copied(), Some(dec("5400")));
    c.eq("USD total", bill.total.0.get("USD").copied(), Some(dec("1260")));
    c.names("bill rules", &bill.rules, "CAT-13");
}

/// Seed 000's portal table sells the 5,000-login pack "Alleen CSP" (only through a CSP partner): bought directly
/// by an admin it is refused, with the channel that sells it; through a partner it is accepted. Only an admin
/// buys for the organisation through a partner (BUY-8).
#[test]
fn cat_13_the_csp_only_pack_is_bought_through_a_partner_only() {
    use entitle_core::scenario::PurchaseChannel;
    let s = snap(
        "\n[[users]]\nid = \"ann\"\nroles = [\"global-admin\"]\nlicenses = [\"power-apps-per-user\"]\n\n[[users]]\nid = \"bob\"\n",
        "2024-06-01",
    );
    let mut c = checks();
    let direct = buy(&s, "portal-logins-tier-3", 1, None);
    c.eq("directly (the admin's default): accepted", direct.accepted, false);
    c.eq("directly: channel", direct.channel, "admin");
    c.finding("directly", &direct.problems, "CAT-13");
    c.ok(
        &format!("the reason names the CSP channel: {:?}", direct.problems),
        direct.problems.iter().any(|p| p.message.contains("CSP partner")),
    );
    let csp = buy_via(&s, "portal-logins-tier-3", 1, Some("ann"), PurchaseChannel::Csp);
    c.ok(
        &format!("through a partner: accepted ({:?})", csp.problems),
        csp.accepted,
    );
    c.eq("through a partner: channel", csp.channel, "csp");
    c.eq("billed to", csp.billed_to.as_str(), "tenant");
    let bob = buy_via(&s, "portal-logins-tier-3", 1, Some("bob"), PurchaseChannel::Csp);
    c.eq("a non-admin through a partner: accepted", bob.accepted, false);
    c.finding("a non-admin through a partner", &bob.problems, "BUY-8");
    let tier2 = buy_via(&s, "portal-logins-tier-2", 1, None, PurchaseChannel::Admin);
    c.ok(
        &format!("tier 2 directly: accepted ({:?})", tier2.problems),
        tier2.accepted,
    );
}

/// Seed 000: AI Builder "is een capaciteitsuitbreiding voor betaalde, zelfstandige licenties voor Power Apps, Power
/// Automate en Dynamics 365"; the other add-ons "zijn van toepassing op alle zelfstandige Power Apps- en Power
/// Automate-abonnementen". A tenant with Microsoft 365 alone (or only a trial) buys no add-on; one with a paid
/// standalone licence, a process licence or a Dynamics 365 licence does.
#[test]
fn cat_13_add_ons_need_a_paid_standalone_base_licence() {
    let bare = snap(
        "\n[[users]]\nid = \"ann\"\nlicenses = [\"office-365-e3\", \"power-automate-trial\"]\n",
        "2024-06-01",
    );
    let mut c = checks();
    for sku in [
        "ai-builder-capacity",
        "portal-logins-tier-1",
        "power-platform-requests",
        "dataverse-database-capacity",
    ] {
        let p = buy(&bare, sku, 1, None);
        c.eq(
            &format!("{sku} with Office 365 and a trial: accepted"),
            p.accepted,
            false,
        );
        c.finding(sku, &p.problems, "CAT-13");
    }
    for base in [
        "\n[[users]]\nid = \"ann\"\nlicenses = [\"power-automate-premium\"]\n",
        "\n[[users]]\nid = \"ann\"\nlicenses = [\"dynamics-365-sales-enterprise\"]\n",
        "\n[[subscriptions]]\nsku = \"power-automate-process\"\nquantity = 1\n",
    ] {
        let p = buy(&snap(base, "2024-06-01"), "ai-builder-capacity", 1, None);
        c.ok(
            &format!("AI Builder with {base:?}: accepted ({:?})", p.problems),
            p.accepted,
        );
    }
}

/// Seed 001: "Power Platform-beheerders kunnen licenties kopen voor Power Automate": a Power Platform admin buys
/// Power Automate for the organisation, not Power Apps (which only a global or billing admin buys, BUY-8).
#[test]
fn buy_8_power_platform_admins_buy_power_automate() {
    use entitle_core::scenario::PurchaseChannel;
    let s = snap(
        "\n[[users]]\nid = \"pat\"\nroles = [\"power-platform-admin\"]\n",
        "2024-06-01",
    );
    let mut c = checks();
    let p = buy_via(
        &s,
        "power-automate-premium",
        1,
        Some("pat"),
        PurchaseChannel::Admin,
    );
    c.ok(
        &format!("Power Automate: accepted ({:?})", p.problems),
        p.accepted,
    );
    c.eq("billed to", p.billed_to.as_str(), "tenant");
    let p = buy_via(&s, "power-apps-per-user", 1, Some("pat"), PurchaseChannel::Admin);
    c.eq("Power Apps: accepted", p.accepted, false);
    c.finding("Power Apps", &p.problems, "BUY-8");
}

/// Trials (BUY-7): a person signs up for one unit, for themselves, with a work account (CAT-14: a consumer account
/// "kan alleen het gratis abonnement gebruiken"), unless an admin disabled self-service for the product (BUY-2);
/// an admin assigns at most the 10,000 units the tenant is shown.
#[test]
fn buy_7_trial_sign_ups_are_one_unit_for_a_work_account() {
    let s = snap(
        r#"
[tenant.self_service]
power-apps-per-user = "disabled"

[[users]]
id = "bob"

[[users]]
id = "gina"
account = "consumer"

[[users]]
id = "ann"
roles = ["global-admin"]
"#,
        "2024-06-01",
    );
    let mut c = checks();
    let p = buy(&s, "power-automate-trial", 1, Some("bob"));
    c.ok(&format!("bob, 1 unit: accepted ({:?})", p.problems), p.accepted);
    let p = buy(&s, "power-automate-trial", 20, Some("bob"));
    c.eq("bob, 20 units: accepted", p.accepted, false);
    c.finding("bob, 20 units", &p.problems, "BUY-7");
    let p = buy(&s, "power-automate-trial", 1, Some("gina"));
    c.eq("consumer account: accepted", p.accepted, false);
    c.finding("consumer account", &p.problems, "CAT-14");
    let p = buy(&s, "power-apps-trial", 1, Some("bob"));
    c.eq(
        "self-service disabled for Power Apps: accepted",
        p.accepted,
        false,
    );
    c.finding("self-service disabled", &p.problems, "BUY-2");
    let p = buy(&s, "power-automate-trial", 10_000, Some("ann"));
    c.ok(&format!("admin, 10,000: accepted ({:?})", p.problems), p.accepted);
    let p = buy(&s, "power-automate-trial", 10_001, Some("ann"));
    c.eq("admin, 10,001: accepted", p.accepted, false);
    c.finding("admin, 10,001", &p.problems, "BUY-7");
}

/// Every channel is checked against the SKU: a process licence is not sold self-service (BUY-1), a trial is signed
/// up for and never bought through a channel (CAT-10), a paid SKU is not a trial (CAT-10).
#[test]
fn buy_1_a_sku_is_bought_only_through_the_channels_that_sell_it() {
    use entitle_core::scenario::PurchaseChannel;
    let s = snap(
        "\n[[users]]\nid = \"ann\"\nroles = [\"global-admin\"]\n\n[[users]]\nid = \"bob\"\n",
        "2024-06-01",
    );
    let mut c = checks();
    let p = buy_via(
        &s,
        "power-automate-process",
        1,
        Some("bob"),
        PurchaseChannel::SelfService,
    );
    c.eq("process, self-service: accepted", p.accepted, false);
    c.finding("process, self-service", &p.problems, "BUY-1");
    let p = buy_via(
        &s,
        "power-automate-premium",
        1,
        Some("bob"),
        PurchaseChannel::SelfService,
    );
    c.ok(
        &format!("premium, self-service: accepted ({:?})", p.problems),
        p.accepted,
    );
    c.eq("billed to the buyer", p.billed_to.as_str(), "bob");
    let p = buy_via(&s, "power-automate-trial", 1, Some("bob"), PurchaseChannel::Admin);
    c.eq("a trial bought directly: accepted", p.accepted, false);
    c.finding("a trial bought directly", &p.problems, "BUY-7");
    let p = buy_via(
        &s,
        "power-automate-premium",
        1,
        Some("ann"),
        PurchaseChannel::Trial,
    );
    c.eq("a paid SKU as a trial: accepted", p.accepted, false);
    c.finding("a paid SKU as a trial", &p.problems, "CAT-10");
    let p = buy_via(
        &s,
        "power-automate-premium",
        1,
        None,
        PurchaseChannel::SelfService,
    );
    c.eq("self-service with nobody buying: accepted", p.accepted, false);
    c.finding("self-service with nobody buying", &p.problems, "BUY-1");
}

// ------------------------------------------------------------------------------------------------ CAT-14

#[test]
fn cat_14_consumer_account_gets_nothing_from_paid_plans() {
    let s = snap(
        r#"
[[users]]
id = "gmail"
account = "consumer"
licenses = ["office-365-e3", "power-automate-premium"]

[[flows]]
id = "premium"
environment = "default"
owner = "gmail"
connectors = ["shared_salesforce"]

[[flows]]
id = "standard"
environment = "default"
owner = "gmail"
connectors = ["shared_sharepointonline"]
"#,
        "2024-06-01",
    );
    let mut c = checks();
    for id in ["premium", "standard"] {
        let d = flow(&s, id);
        c.eq(&format!("{id} flow of a consumer account"), d.allowed, false);
        c.flow_problem(id, &d, "CAT-14");
        c.names(&format!("{id}: trace"), d.trace.as_slice(), "CAT-14");
    }
}

#[test]
fn cat_14_consumer_account_may_take_only_the_free_plan() {
    let s = snap(
        r#"
[[users]]
id = "gmail"
account = "consumer"
"#,
        "2024-06-01",
    );
    let mut c = checks();
    let paid = buy(&s, "power-apps-per-user", 1, Some("gmail"));
    c.eq("paid plan accepted", paid.accepted, false);
    c.finding("paid plan", &paid.problems, "CAT-14");
    let free = buy(&s, "power-automate-free", 1, Some("gmail"));
    c.ok(
        &format!("free plan accepted ({:?})", free.problems),
        free.accepted,
    );
}
