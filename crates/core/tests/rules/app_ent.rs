//! APP-1 … APP-3, ENT-1 … ENT-5: apps and entities (RULES.md §6, seeds 000 and 004).

use super::common::*;

use entitle_core::entities::{EntityChange, impact};
use entitle_core::scenario::Logic;

// ------------------------------------------------------------------------------------------------ APP-1

/// A per-app unit covers apps in one environment: one app in each of two environments needs two units.
#[test]
fn app_1_apps_in_two_environments_need_two_units() {
    let body = |units: usize| {
        let licenses = vec!["\"power-apps-per-app\""; units].join(", ");
        format!(
            r#"
[[environments]]
id = "test"
dataverse = true

[[environments]]
id = "prod"
dataverse = true

[[users]]
id = "ann"
licenses = [{licenses}]

[[apps]]
id = "test-app"
environment = "test"
connectors = ["shared_salesforce"]
users = ["ann"]

[[apps]]
id = "prod-app"
environment = "prod"
connectors = ["shared_salesforce"]
users = ["ann"]
"#
        )
    };
    let mut c = checks();
    let one = snap(&body(1), "2024-06-01");
    let allowed = ["test-app", "prod-app"]
        .iter()
        .filter(|a| app(&one, a, "ann").allowed)
        .count();
    c.ok(
        &format!("one unit covers one environment, {allowed} of 2 allowed"),
        allowed <= 1,
    );
    c.names(
        "one unit: trace",
        app(&one, "prod-app", "ann").trace.as_slice(),
        "APP-1",
    );
    let d = app(&one, "prod-app", "ann");
    if !d.allowed {
        c.app_problem("one unit, prod-app", &d, "APP-1");
    }
    let two = snap(&body(2), "2024-06-01");
    for a in ["test-app", "prod-app"] {
        let d = app(&two, a, "ann");
        c.eq(&format!("two units, {a}: allowed"), d.allowed, true);
        c.names(&format!("two units, {a}: trace"), d.trace.as_slice(), "APP-1");
    }
}

/// One unit: 2 apps + 1 portal per environment; a second portal needs a second unit.
#[test]
fn app_1_one_portal_per_unit() {
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
id = "app"
environment = "prod"
connectors = ["shared_salesforce"]
users = ["ann"]

[[apps]]
id = "portal-1"
environment = "prod"
kind = "portal"
users = ["ann"]

[[apps]]
id = "portal-2"
environment = "prod"
kind = "portal"
users = ["ann"]
"#
        )
    };
    let mut c = checks();
    let one = snap(&body(1), "2024-06-01");
    let allowed = ["app", "portal-1", "portal-2"]
        .iter()
        .filter(|a| app(&one, a, "ann").allowed)
        .count();
    c.ok(
        &format!("one unit: at most 1 app + 1 portal, {allowed} of 3 allowed"),
        allowed <= 2,
    );
    let two = snap(&body(2), "2024-06-01");
    for a in ["app", "portal-1", "portal-2"] {
        let d = app(&two, a, "ann");
        c.eq(&format!("two units, {a}: allowed"), d.allowed, true);
        c.names(&format!("two units, {a}: trace"), d.trace.as_slice(), "APP-1");
    }
}

// ------------------------------------------------------------------------------------------------ APP-2

fn guests(cloud: &str) -> String {
    format!(
        r#"
[tenant]
id = "contoso"
cloud = "{cloud}"

[[environments]]
id = "default"
default = true

[[users]]
id = "home-licensed"
kind = "guest"
home_cloud = "public"
home_licenses = ["power-apps-per-user"]

[[users]]
id = "host-licensed"
kind = "guest"
licenses = ["power-apps-per-user"]

[[users]]
id = "unlicensed"
kind = "guest"

[[apps]]
id = "crm"
environment = "default"
connectors = ["shared_salesforce"]
users = ["home-licensed", "host-licensed", "unlicensed"]
"#
    )
}

/// A guest needs the same Power Apps licence as a member, from the host tenant or their home tenant.
#[test]
fn app_2_guest_licensed_by_host_or_home_tenant() {
    let s = snap_of(&guests("public"), "2024-06-01");
    let mut c = checks();
    for g in ["home-licensed", "host-licensed"] {
        let d = app(&s, "crm", g);
        c.eq(&format!("{g}: allowed"), d.allowed, true);
        c.names(&format!("{g}: trace"), d.trace.as_slice(), "APP-2");
    }
    let d = app(&s, "crm", "unlicensed");
    c.eq("unlicensed guest: allowed", d.allowed, false);
    c.names("unlicensed: trace", d.trace.as_slice(), "APP-2");
}

/// Across clouds (here a government-cloud host), the home tenant's licence is not recognised (FLOW-19, APP-2).
#[test]
fn app_2_home_licence_not_recognised_across_clouds() {
    let s = snap_of(&guests("gcc"), "2024-06-01");
    let mut c = checks();
    let d = app(&s, "crm", "home-licensed");
    c.eq("home-licensed guest in a GCC tenant: allowed", d.allowed, false);
    c.names("trace", d.trace.as_slice(), "APP-2");
    c.eq(
        "host-licensed guest: allowed",
        app(&s, "crm", "host-licensed").allowed,
        true,
    );
}

// ------------------------------------------------------------------------------------------------ APP-3

/// Licences may be mixed: different users of one tenant hold different plans for the same app.
#[test]
fn app_3_licences_may_be_mixed() {
    let s = snap(
        r#"
[[environments]]
id = "prod"
dataverse = true

[[users]]
id = "per-user"
licenses = ["power-apps-per-user"]

[[users]]
id = "per-app"
licenses = ["power-apps-per-app"]

[[users]]
id = "office"
licenses = ["office-365-e3"]

[[apps]]
id = "crm"
environment = "prod"
connectors = ["shared_salesforce"]
users = ["per-user", "per-app", "office"]
"#,
        "2024-06-01",
    );
    let mut c = checks();
    for (u, want) in [("per-user", true), ("per-app", true), ("office", false)] {
        let d = app(&s, "crm", u);
        c.eq(&format!("{u}: allowed"), d.allowed, want);
        c.names(&format!("{u}: trace"), d.trace.as_slice(), "APP-3");
    }
}

// ------------------------------------------------------------------------------------------------ ENT

/// Seed 004's example: App 1 (canvas: appointment + a custom entity), App 2 (canvas: appointment + incident,
/// restricted), App 3 (model-driven: appointment + custom), App 4 (model-driven: appointment + incident), all in
/// a Customer Service environment (the CS apps extend it so that D365-1 does not interfere).
fn seed_004(custom_logic: &str) -> String {
    format!(
        r#"
[[environments]]
id = "cs"
dataverse = true
dynamics_apps = ["customer-service"]

[[entities]]
id = "appointment"

[[entities]]
id = "custom"
complex_logic = [{custom_logic}]

[[entities]]
id = "incident"
restricted = true
dynamics = true

[[users]]
id = "p1"
licenses = ["powerapps-plan-1"]

[[users]]
id = "p2"
licenses = ["powerapps-plan-2"]

[[users]]
id = "cs"
licenses = ["dynamics-365-customer-service-enterprise"]

[[apps]]
id = "app-1"
environment = "cs"
kind = "canvas"
connectors = ["shared_commondataserviceforapps"]
entities = ["appointment", "custom"]
users = ["p1", "p2"]

[[apps]]
id = "app-2"
environment = "cs"
kind = "canvas"
connectors = ["shared_commondataserviceforapps"]
entities = ["appointment", "incident"]
extends_dynamics = "customer-service"
users = ["p2", "cs"]

[[apps]]
id = "app-3"
environment = "cs"
kind = "model-driven"
entities = ["appointment", "custom"]
users = ["p1", "p2"]

[[apps]]
id = "app-4"
environment = "cs"
kind = "model-driven"
entities = ["appointment", "incident"]
extends_dynamics = "customer-service"
users = ["p2", "cs"]
"#
    )
}

/// Entities with synchronous plug-ins or real-time workflows need Plan 2 for every app user; background
/// workflows need nothing extra.
#[test]
fn ent_1_complex_logic_needs_plan_2() {
    let mut c = checks();
    let plain = snap(&seed_004("\"background-workflow\""), "2024-06-01");
    let d = app(&plain, "app-1", "p1");
    c.eq("background workflow only, Plan 1 user: allowed", d.allowed, true);
    for logic in ["\"realtime-workflow\"", "\"sync-plugin\""] {
        let s = snap(&seed_004(logic), "2024-06-01");
        let d = app(&s, "app-1", "p1");
        c.eq(&format!("{logic}, Plan 1 user: allowed"), d.allowed, false);
        c.app_problem(&format!("{logic}, Plan 1"), &d, "ENT-1");
        c.names(&format!("{logic}, Plan 1: trace"), d.trace.as_slice(), "ENT-1");
        let d = app(&s, "app-1", "p2");
        c.eq(&format!("{logic}, Plan 2 user: allowed"), d.allowed, true);
    }
}

/// The same for flow users: Flow Plan 2 (or PowerApps Plan 2) rights, not Plan 1.
#[test]
fn ent_1_complex_logic_needs_flow_plan_2_for_flow_users() {
    let s = snap(
        r#"
[[entities]]
id = "custom"
complex_logic = ["sync-plugin"]

[[users]]
id = "f1"
licenses = ["flow-plan-1"]

[[users]]
id = "f2"
licenses = ["flow-plan-2"]

[[flows]]
id = "by-f1"
environment = "default"
owner = "f1"
connectors = ["shared_commondataserviceforapps"]
entities = ["custom"]

[[flows]]
id = "by-f2"
environment = "default"
owner = "f2"
connectors = ["shared_commondataserviceforapps"]
entities = ["custom"]
"#,
        "2024-06-01",
    );
    let mut c = checks();
    let d = flow(&s, "by-f1");
    c.eq("Flow Plan 1 user: allowed", d.allowed, false);
    c.flow_problem("by-f1", &d, "ENT-1");
    let d = flow(&s, "by-f2");
    c.eq("Flow Plan 2 user: allowed", d.allowed, true);
    c.names("by-f2: trace", d.trace.as_slice(), "ENT-1");
}

/// Restricted entities need a matching Dynamics 365 plan (App 2 and App 4 of seed 004).
#[test]
fn ent_2_restricted_entities_need_a_d365_plan() {
    let s = snap(&seed_004(""), "2024-06-01");
    let mut c = checks();
    for a in ["app-2", "app-4"] {
        let d = app(&s, a, "p2");
        c.eq(&format!("{a}, Plan 2 user: allowed"), d.allowed, false);
        c.app_problem(&format!("{a}, Plan 2"), &d, "ENT-2");
        let d = app(&s, a, "cs");
        c.eq(&format!("{a}, Customer Service user: allowed"), d.allowed, true);
        c.names(
            &format!("{a}, Customer Service: trace"),
            d.trace.as_slice(),
            "ENT-2",
        );
    }
}

#[test]
fn ent_2_flow_writing_a_restricted_entity_needs_a_d365_plan() {
    let s = snap(
        r#"
[[entities]]
id = "incident"
restricted = true
dynamics = true

[[users]]
id = "prem"
licenses = ["power-automate-premium"]

[[flows]]
id = "close-cases"
environment = "default"
owner = "prem"
connectors = ["shared_commondataserviceforapps"]
entities = ["incident"]
"#,
        "2024-06-01",
    );
    let d = flow(&s, "close-cases");
    let mut c = checks();
    c.eq("allowed", d.allowed, false);
    c.flow_problem("close-cases", &d, "ENT-2");
    c.names("trace", d.trace.as_slice(), "ENT-2");
}

/// Licences are checked on the users of a flow, never on its maker: a button flow on a complex entity made by a
/// Flow Plan 1 maker runs for a Flow Plan 2 user.
#[test]
fn ent_3_users_are_checked_not_makers() {
    let s = snap(
        r#"
[[entities]]
id = "custom"
complex_logic = ["realtime-workflow"]

[[users]]
id = "maker"
licenses = ["flow-plan-1"]

[[users]]
id = "runner"
licenses = ["flow-plan-2"]

[[flows]]
id = "button"
environment = "default"
trigger = "instant"
owner = "maker"
run_by = ["runner"]
connectors = ["shared_commondataserviceforapps"]
entities = ["custom"]
"#,
        "2024-06-01",
    );
    let d = flow(&s, "button");
    let mut c = checks();
    c.eq("allowed", d.allowed, true);
    c.names("trace", d.trace.as_slice(), "ENT-3");
}

/// Users of model-driven apps need Plan 2 (App 3 of seed 004); Customer Service includes Plan 2 rights.
#[test]
fn ent_4_model_driven_apps_need_plan_2() {
    let s = snap(&seed_004(""), "2024-06-01");
    let mut c = checks();
    let d = app(&s, "app-3", "p1");
    c.eq("Plan 1 user: allowed", d.allowed, false);
    c.app_problem("app-3, Plan 1", &d, "ENT-4");
    c.names("app-3, Plan 1: trace", d.trace.as_slice(), "ENT-4");
    let d = app(&s, "app-3", "p2");
    c.eq("Plan 2 user: allowed", d.allowed, true);
    c.names("app-3, Plan 2: trace", d.trace.as_slice(), "ENT-4");
    let d = app(&s, "app-4", "cs");
    c.eq(
        "Customer Service user on a model-driven D365 app: allowed",
        d.allowed,
        true,
    );
    c.names("app-4, Customer Service: trace", d.trace.as_slice(), "ENT-4");
}

/// Seed 004's example: adding a real-time workflow to the custom entity changes what App 1's users need (Plan 1
/// → Plan 2): the only decision that flips is App 1 for its Plan 1 user.
#[test]
fn ent_5_adding_complex_logic_shows_the_apps_and_users_it_affects() {
    let s = snap(&seed_004(""), "2024-06-01");
    let i = impact(&s, "custom", EntityChange::AddLogic(Logic::RealtimeWorkflow)).expect("known entity");
    let mut c = checks();
    let flips: Vec<(String, Option<String>, bool, bool)> = i
        .flips
        .iter()
        .map(|f| (f.id.clone(), f.user.clone(), f.allowed_before, f.allowed_after))
        .collect();
    c.eq(
        "flips",
        flips,
        vec![("app-1".to_owned(), Some("p1".to_owned()), true, false)],
    );
    c.names("impact rules", &i.rules, "ENT-5");
}
