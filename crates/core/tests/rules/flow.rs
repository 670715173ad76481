//! FLOW-1 … FLOW-25: cloud and desktop flows (RULES.md §4, seed 002).

use super::common::*;

use entitle_core::fixes::{Action, flow_fixes};

/// Users most flow tests share: `prem` holds Power Automate Premium, `o365` only Office 365, `apps` Power Apps
/// per user, `perapp` a Power Apps per-app unit, `sales` Dynamics 365 Sales Enterprise, `nobody` nothing.
const USERS: &str = r#"
[[users]]
id = "prem"
licenses = ["office-365-e3", "power-automate-premium"]

[[users]]
id = "prem2"
licenses = ["office-365-e3", "power-automate-premium"]

[[users]]
id = "o365"
licenses = ["office-365-e3"]

[[users]]
id = "o365b"
licenses = ["office-365-e3"]

[[users]]
id = "apps"
licenses = ["office-365-e3", "power-apps-per-user"]

[[users]]
id = "apps2"
licenses = ["office-365-e3", "power-apps-per-user"]

[[users]]
id = "perapp"
licenses = ["office-365-e3", "power-apps-per-app"]

[[users]]
id = "sales"
licenses = ["dynamics-365-sales-enterprise"]

[[users]]
id = "nobody"
"#;

fn with_users(body: &str) -> String {
    format!("{USERS}{body}")
}

// ------------------------------------------------------------------------------------------------ FLOW-1

/// A process licence has the highest priority: neither the owner nor any runner needs a licence.
#[test]
fn flow_1_process_licence_needs_no_owner_or_runner_licence() {
    let s = snap(
        &with_users(
            r#"
[[environments]]
id = "prod"
dataverse = true
allocations = { power-automate-process = 2 }

[[users]]
id = "gone"
licenses = ["power-automate-premium"]
left = "2024-01-01"

[[flows]]
id = "button"
environment = "prod"
trigger = "instant"
owner = "nobody"
run_by = ["nobody", "o365"]
connectors = ["shared_salesforce"]
license = "process"

[[flows]]
id = "orphan"
environment = "prod"
owner = "gone"
connectors = ["shared_salesforce"]
license = "process"
"#,
        ),
        "2024-06-01",
    );
    let mut c = checks();
    for (f, as_user) in [
        ("button", Some("nobody")),
        ("button", Some("o365")),
        ("button", None),
        ("orphan", None),
    ] {
        let d = match as_user {
            Some(u) => flow_as(&s, f, u),
            None => flow(&s, f),
        };
        let what = format!("{f} as {as_user:?}");
        c.eq(&format!("{what}: allowed"), d.allowed, true);
        c.eq(&format!("{what}: licensed_by"), kind(&d), "process");
        c.names(&format!("{what}: trace"), d.trace.as_slice(), "FLOW-1");
    }
}

// ------------------------------------------------------------------------------------------------ FLOW-2

/// Automated and scheduled flows run in their primary owner's context, whoever triggered them.
#[test]
fn flow_2_automated_and_scheduled_flows_use_the_owner() {
    let s = snap(
        &with_users(
            r#"
[[flows]]
id = "auto-prem-owner"
environment = "default"
owner = "prem"
run_by = ["o365", "nobody"]
connectors = ["shared_salesforce"]

[[flows]]
id = "sched-prem-owner"
environment = "default"
trigger = "scheduled"
owner = "prem"
connectors = ["shared_salesforce"]

[[flows]]
id = "auto-o365-owner"
environment = "default"
owner = "o365"
run_by = ["prem"]
connectors = ["shared_salesforce"]
"#,
        ),
        "2024-06-01",
    );
    let mut c = checks();
    for f in ["auto-prem-owner", "sched-prem-owner"] {
        let d = flow_as(&s, f, "o365");
        c.eq(
            &format!("{f} triggered by an Office 365 user: allowed"),
            d.allowed,
            true,
        );
        c.eq(&format!("{f}: licensed_by"), kind(&d), "owner");
        c.eq(
            &format!("{f}: licensed by"),
            by_user(&s, &d),
            Some("prem".to_owned()),
        );
        c.names(&format!("{f}: trace"), d.trace.as_slice(), "FLOW-2");
    }
    let d = flow_as(&s, "auto-o365-owner", "prem");
    c.eq(
        "Office 365 owner, triggered by a premium user: allowed",
        d.allowed,
        false,
    );
    c.names("auto-o365-owner: trace", d.trace.as_slice(), "FLOW-2");
}

// ------------------------------------------------------------------------------------------------ FLOW-3

/// Instant flows run in the context of the user who invokes them.
#[test]
fn flow_3_instant_flows_use_the_invoker() {
    let s = snap(
        &with_users(
            r#"
[[flows]]
id = "button"
environment = "default"
trigger = "instant"
owner = "prem"
connectors = ["shared_salesforce"]
"#,
        ),
        "2024-06-01",
    );
    let mut c = checks();
    let d = flow_as(&s, "button", "o365");
    c.eq(
        "premium owner, run by an Office 365 user: allowed",
        d.allowed,
        false,
    );
    c.names("as o365: trace", d.trace.as_slice(), "FLOW-3");
    let d = flow_as(&s, "button", "prem2");
    c.eq("run by another premium user: allowed", d.allowed, true);
    c.eq("licensed_by", kind(&d), "invoker");
    c.names("as prem2: trace", d.trace.as_slice(), "FLOW-3");
}

// ------------------------------------------------------------------------------------------------ FLOW-4

/// Premium automated flow: only the owner needs a premium licence. Premium instant flow: every invoking user.
#[test]
fn flow_4_premium_instant_flow_needs_every_invoker_licensed() {
    let s = snap(
        &with_users(
            r#"
[[flows]]
id = "mixed"
environment = "default"
trigger = "instant"
owner = "prem"
run_by = ["prem", "o365"]
connectors = ["shared_salesforce"]

[[flows]]
id = "all-premium"
environment = "default"
trigger = "instant"
owner = "o365"
run_by = ["prem", "prem2"]
connectors = ["shared_salesforce"]

[[flows]]
id = "automated"
environment = "default"
owner = "prem"
run_by = ["o365", "o365b"]
connectors = ["shared_salesforce"]
"#,
        ),
        "2024-06-01",
    );
    let mut c = checks();
    let d = flow(&s, "mixed");
    c.eq("instant, one invoker without premium: allowed", d.allowed, false);
    c.flow_problem("mixed", &d, "FLOW-4");
    c.names("mixed: trace", d.trace.as_slice(), "FLOW-4");
    let d = flow(&s, "all-premium");
    c.eq(
        "instant, every invoker premium (owner not): allowed",
        d.allowed,
        true,
    );
    c.names("all-premium: trace", d.trace.as_slice(), "FLOW-4");
    let d = flow(&s, "automated");
    c.eq(
        "automated, premium owner, standard runners: allowed",
        d.allowed,
        true,
    );
    c.names("automated: trace", d.trace.as_slice(), "FLOW-4");
}

// ------------------------------------------------------------------------------------------------ FLOW-5

/// A standard flow needs no premium licence: Microsoft 365 rights suffice (Team Members too).
#[test]
fn flow_5_standard_flow_runs_on_microsoft_365_rights() {
    let s = snap(
        &with_users(
            r#"
[[users]]
id = "team"
licenses = ["dynamics-365-team-members"]

[[flows]]
id = "notify"
environment = "default"
owner = "o365"
connectors = ["shared_sharepointonline", "shared_office365", "shared_teams"]

[[flows]]
id = "team-notify"
environment = "default"
trigger = "instant"
owner = "team"
connectors = ["shared_sharepointonline"]
"#,
        ),
        "2024-06-01",
    );
    let mut c = checks();
    for f in ["notify", "team-notify"] {
        let d = flow(&s, f);
        c.eq(&format!("{f}: premium"), d.premium, false);
        c.eq(&format!("{f}: allowed"), d.allowed, true);
        c.eq(&format!("{f}: licensed_by"), kind(&d), "standard");
        c.names(&format!("{f}: trace"), d.trace.as_slice(), "FLOW-5");
    }
}

// ------------------------------------------------------------------------------------------------ FLOW-6

/// Whose connections (co-owners', runners') a flow uses never changes whose licence it needs.
#[test]
fn flow_6_connections_do_not_change_whose_licence_counts() {
    let s = snap(
        &with_users(
            r#"
[[flows]]
id = "borrowed"
environment = "default"
owner = "o365"
co_owners = ["prem"]
run_by = ["prem2"]
connectors = ["shared_salesforce"]

[[flows]]
id = "lent"
environment = "default"
owner = "prem"
co_owners = ["o365"]
connectors = ["shared_salesforce"]
"#,
        ),
        "2024-06-01",
    );
    let mut c = checks();
    let d = flow(&s, "borrowed");
    c.eq(
        "premium co-owner's connections, Office 365 owner: allowed",
        d.allowed,
        false,
    );
    c.names("borrowed: trace", d.trace.as_slice(), "FLOW-6");
    let d = flow(&s, "lent");
    c.eq("premium owner, Office 365 co-owner: allowed", d.allowed, true);
    c.names("lent: trace", d.trace.as_slice(), "FLOW-6");
}

// ------------------------------------------------------------------------------------------------ FLOW-7

const FAMILY: &str = r#"
[[environments]]
id = "prod"
dataverse = true
allocations = { power-automate-process = 2 }

[[flows]]
id = "parent"
environment = "prod"
owner = "prem"
connectors = ["shared_sharepointonline"]

[[flows]]
id = "child"
environment = "prod"
owner = "o365"
parent = "parent"
connectors = ["shared_salesforce"]

[[flows]]
id = "grandchild"
environment = "prod"
owner = "nobody"
parent = "child"
connectors = ["shared_salesforce"]

[[flows]]
id = "own-process-child"
environment = "prod"
owner = "o365"
parent = "parent"
connectors = ["shared_salesforce"]
license = "process"

[[flows]]
id = "process-parent"
environment = "prod"
owner = "o365"
connectors = ["shared_salesforce"]
license = "process"

[[flows]]
id = "child-of-process"
environment = "prod"
owner = "nobody"
parent = "process-parent"
connectors = ["shared_salesforce"]

[[flows]]
id = "button-parent"
environment = "prod"
trigger = "instant"
owner = "o365"
run_by = ["prem2"]
connectors = ["shared_sharepointonline"]

[[flows]]
id = "button-child"
environment = "prod"
owner = "o365b"
parent = "button-parent"
connectors = ["shared_salesforce"]
"#;

/// A child runs in its parent's context: the premium child of a premium owner's automated parent is covered by
/// that owner, whoever owns the child (and so is a grandchild).
#[test]
fn flow_7_child_runs_in_parent_context() {
    let s = snap(&with_users(FAMILY), "2024-06-01");
    let mut c = checks();
    for f in ["child", "grandchild"] {
        let d = flow(&s, f);
        c.eq(&format!("{f}: allowed"), d.allowed, true);
        c.eq(&format!("{f}: licensed_by"), kind(&d), "parent");
        c.names(&format!("{f}: trace"), d.trace.as_slice(), "FLOW-7");
    }
}

/// The parent's context of an instant parent is its invoker.
#[test]
fn flow_7_child_of_an_instant_parent_uses_the_invoker() {
    let s = snap(&with_users(FAMILY), "2024-06-01");
    let mut c = checks();
    let d = flow_as(&s, "button-child", "prem2");
    c.eq(
        "child of a button run by a premium user: allowed",
        d.allowed,
        true,
    );
    c.eq("licensed_by", kind(&d), "parent");
    c.names("trace", d.trace.as_slice(), "FLOW-7");
    let d = flow_as(&s, "button-child", "o365");
    c.eq(
        "the same child when an Office 365 user runs the button: allowed",
        d.allowed,
        false,
    );
}

/// The parent's process licence covers the child; a child with a process licence of its own uses that.
#[test]
fn flow_7_process_licence_of_the_parent_or_the_child() {
    let s = snap(&with_users(FAMILY), "2024-06-01");
    let mut c = checks();
    let d = flow(&s, "child-of-process");
    c.eq("child of a process parent: allowed", d.allowed, true);
    c.eq("child of a process parent: licensed_by", kind(&d), "process");
    c.names("child-of-process: trace", d.trace.as_slice(), "FLOW-7");
    let d = flow(&s, "own-process-child");
    c.eq("child with its own process licence: allowed", d.allowed, true);
    c.eq(
        "child with its own process licence: licensed by its own",
        d.licensed_by,
        entitle_core::LicensedBy::Process {
            flow: flow_idx(&s, "own-process-child"),
        },
    );
}

/// During the transition period the child uses its own owner's licence instead.
#[test]
fn flow_7_transition_period_child_uses_its_own_owner() {
    let text = format!(
        r#"
[tenant]
id = "contoso"
transition_period = true

[[environments]]
id = "default"
default = true
{USERS}
{FAMILY}
[[flows]]
id = "premium-owned-child"
environment = "prod"
owner = "prem2"
parent = "button-parent"
connectors = ["shared_salesforce"]
"#
    );
    let s = snap_of(&text, "2024-06-01");
    let mut c = checks();
    let d = flow(&s, "child");
    c.eq(
        "child of a premium parent, Office 365 owner: allowed",
        d.allowed,
        false,
    );
    c.names("child: trace", d.trace.as_slice(), "FLOW-7");
    let d = flow(&s, "premium-owned-child");
    c.eq(
        "child owned by a premium user under a standard parent: allowed",
        d.allowed,
        true,
    );
    c.eq("premium-owned-child: licensed_by", kind(&d), "owner");
    c.names("premium-owned-child: trace", d.trace.as_slice(), "FLOW-7");
}

// ------------------------------------------------------------------------------------------------ FLOW-8

const SHARED_CHILD: &str = r#"
[[environments]]
id = "prod"
dataverse = true
allocations = { power-automate-process = 1 }

[[flows]]
id = "standard-parent"
environment = "prod"
owner = "o365"
connectors = ["shared_sharepointonline"]

[[flows]]
id = "premium-child"
environment = "prod"
owner = "o365b"
parent = "standard-parent"
connectors = ["shared_salesforce"]
"#;

/// A premium child called by a standard parent: license the parent's owner or give the child a process licence.
#[test]
fn flow_8_premium_child_of_a_standard_parent() {
    let mut c = checks();
    let unlicensed = snap(&with_users(SHARED_CHILD), "2024-06-01");
    let d = flow(&unlicensed, "premium-child");
    c.eq("neither licensed: allowed", d.allowed, false);
    c.flow_problem("neither licensed", &d, "FLOW-8");
    c.names("neither licensed: trace", d.trace.as_slice(), "FLOW-8");

    let parent_licensed = snap(
        &with_users(&SHARED_CHILD.replace("owner = \"o365\"", "owner = \"prem\"")),
        "2024-06-01",
    );
    c.eq(
        "parent's owner premium: allowed",
        flow(&parent_licensed, "premium-child").allowed,
        true,
    );

    let child_process = snap(
        &with_users(&format!("{SHARED_CHILD}license = \"process\"\n")),
        "2024-06-01",
    );
    let d = flow(&child_process, "premium-child");
    c.eq("child with a process licence: allowed", d.allowed, true);
    c.eq("child with a process licence: licensed_by", kind(&d), "process");
}

/// A parent that itself uses premium features still needs a premium owner or its own process licence: the
/// child's process licence does not cover it (seed 002).
#[test]
fn flow_8_premium_parent_needs_its_own_licence() {
    let text = with_users(&format!("{SHARED_CHILD}license = \"process\"\n"))
        .replace("id = \"standard-parent\"\nenvironment = \"prod\"\nowner = \"o365\"\nconnectors = [\"shared_sharepointonline\"]",
                 "id = \"standard-parent\"\nenvironment = \"prod\"\nowner = \"o365\"\nconnectors = [\"shared_salesforce\"]");
    let s = snap(&text, "2024-06-01");
    let mut c = checks();
    let d = flow(&s, "standard-parent");
    c.eq(
        "premium parent of a process child, Office 365 owner: allowed",
        d.allowed,
        false,
    );
    c.names("parent: trace", d.trace.as_slice(), "FLOW-8");
    c.eq(
        "the process child itself: allowed",
        flow(&s, "premium-child").allowed,
        true,
    );
}

// ------------------------------------------------------------------------------------------------ FLOW-9

const APP_ENV: &str = r#"
[[environments]]
id = "prod"
dataverse = true

[[apps]]
id = "expenses"
environment = "prod"
kind = "canvas"
connectors = ["shared_sql"]
users = ["apps", "apps2", "o365"]
"#;

/// An automated flow associated with an app is in its context: a Power Apps Premium owner covers it.
#[test]
fn flow_9_associated_automated_flow_is_covered_by_power_apps() {
    let s = snap(
        &with_users(&format!(
            r#"{APP_ENV}
[[flows]]
id = "approve-expense"
environment = "prod"
owner = "apps"
app = "expenses"
connectors = ["shared_sql"]
"#
        )),
        "2024-06-01",
    );
    let d = flow(&s, "approve-expense");
    let mut c = checks();
    c.eq("allowed", d.allowed, true);
    c.eq("licensed_by", kind(&d), "app-context");
    c.names("trace", d.trace.as_slice(), "FLOW-9");
}

/// Not associated with any app (and not triggered from one): outside the app's context.
#[test]
fn flow_9_unassociated_automated_flow_is_not_covered_by_power_apps() {
    let s = snap(
        &with_users(&format!(
            r#"{APP_ENV}
[[flows]]
id = "data-quality"
environment = "prod"
owner = "apps"
connectors = ["shared_sql"]
"#
        )),
        "2024-06-01",
    );
    let d = flow(&s, "data-quality");
    let mut c = checks();
    c.eq("allowed", d.allowed, false);
    c.flow_problem("data-quality", &d, "FLOW-9");
    c.names("trace", d.trace.as_slice(), "FLOW-9");
}

/// An instant in-context flow needs every runner to hold Power Apps (or D365).
#[test]
fn flow_9_instant_in_context_flow_needs_every_runner_licensed() {
    let s = snap(
        &with_users(&format!(
            r#"{APP_ENV}
[[flows]]
id = "submit"
environment = "prod"
trigger = "instant"
owner = "apps"
app = "expenses"
triggered_from_app = true
run_by = ["apps", "apps2"]
connectors = ["shared_sql"]

[[flows]]
id = "submit-mixed"
environment = "prod"
trigger = "instant"
owner = "apps"
app = "expenses"
triggered_from_app = true
run_by = ["apps", "o365"]
connectors = ["shared_sql"]
"#
        )),
        "2024-06-01",
    );
    let mut c = checks();
    let d = flow(&s, "submit");
    c.eq("every runner holds Power Apps: allowed", d.allowed, true);
    c.names("submit: trace", d.trace.as_slice(), "FLOW-9");
    let d = flow(&s, "submit-mixed");
    c.eq("one runner holds only Office 365: allowed", d.allowed, false);
    c.names("submit-mixed: trace", d.trace.as_slice(), "FLOW-9");
}

/// An automated flow associated with a Dynamics 365 app is in that app's context: the owner's D365 licence
/// covers it, whatever connectors it uses.
#[test]
fn flow_9_associated_flow_is_covered_by_a_d365_licence() {
    let s = snap(
        &with_users(
            r#"
[[environments]]
id = "sales-env"
dataverse = true
dynamics_apps = ["sales"]

[[apps]]
id = "sales-hub"
environment = "sales-env"
kind = "model-driven"
extends_dynamics = "sales"
users = ["sales"]

[[flows]]
id = "sync-erp"
environment = "sales-env"
owner = "sales"
app = "sales-hub"
connectors = ["shared_sql"]
"#,
        ),
        "2024-06-01",
    );
    let d = flow(&s, "sync-erp");
    let mut c = checks();
    c.eq("allowed", d.allowed, true);
    c.ok(
        &format!("licensed in context, got {}", kind(&d)),
        ["app-context", "d365-context"].contains(&kind(&d)),
    );
    c.names("trace", d.trace.as_slice(), "FLOW-9");
}

// ------------------------------------------------------------------------------------------------ FLOW-10

const D365_ENV: &str = r#"
[[environments]]
id = "sales-env"
dataverse = true
dynamics_apps = ["sales"]

[[environments]]
id = "plain"
dataverse = true

[[entities]]
id = "opportunity"
dynamics = true

[[entities]]
id = "project"
"#;

/// Dataverse on Dynamics 365 entities, or a first-party D365 connector, in an environment with a D365 app
/// installed: in the D365 app's context automatically.
#[test]
fn flow_10_d365_data_in_a_d365_environment_is_in_context() {
    let s = snap(
        &with_users(&format!(
            r#"{D365_ENV}
[[users]]
id = "fin"
licenses = ["dynamics-365-finance"]

[[flows]]
id = "opportunity-sync"
environment = "sales-env"
owner = "sales"
connectors = ["shared_commondataserviceforapps"]
entities = ["opportunity"]

[[flows]]
id = "ledger-sync"
environment = "sales-env"
owner = "fin"
connectors = ["shared_dynamicsax"]
"#
        )),
        "2024-06-01",
    );
    let mut c = checks();
    for f in ["opportunity-sync", "ledger-sync"] {
        let d = flow(&s, f);
        c.eq(&format!("{f}: allowed"), d.allowed, true);
        c.eq(&format!("{f}: licensed_by"), kind(&d), "d365-context");
        c.names(&format!("{f}: trace"), d.trace.as_slice(), "FLOW-10");
    }
}

/// Without a D365 app installed in the environment, or on a non-D365 entity: not in context.
#[test]
fn flow_10_needs_d365_data_and_an_installed_d365_app() {
    let s = snap(
        &with_users(&format!(
            r#"{D365_ENV}
[[flows]]
id = "no-d365-app"
environment = "plain"
owner = "sales"
connectors = ["shared_commondataserviceforapps"]
entities = ["opportunity"]

[[flows]]
id = "custom-entity"
environment = "sales-env"
owner = "sales"
connectors = ["shared_commondataserviceforapps"]
entities = ["project"]
"#
        )),
        "2024-06-01",
    );
    let mut c = checks();
    for f in ["no-d365-app", "custom-entity"] {
        let d = flow(&s, f);
        c.eq(&format!("{f}: allowed"), d.allowed, false);
        c.eq(
            &format!("{f}: enforcement"),
            d.enforcement.map(|e| e.kind.as_str()),
            Some("outside-d365-context"),
        );
        c.names(&format!("{f}: trace"), d.trace.as_slice(), "FLOW-10");
    }
}

// ------------------------------------------------------------------------------------------------ FLOW-11

/// A Power Apps user's flow triggered from a canvas app is in the app's context automatically, associated or not.
#[test]
fn flow_11_canvas_triggered_flow_is_in_context_automatically() {
    let s = snap(
        &with_users(&format!(
            r#"{APP_ENV}
[[flows]]
id = "from-canvas"
environment = "prod"
trigger = "instant"
owner = "apps"
triggered_from_app = true
run_by = ["apps", "apps2"]
connectors = ["shared_sql"]
"#
        )),
        "2024-06-01",
    );
    let d = flow(&s, "from-canvas");
    let mut c = checks();
    c.eq("allowed", d.allowed, true);
    c.eq("licensed_by", kind(&d), "app-context");
    c.names("trace", d.trace.as_slice(), "FLOW-11");
}

// ------------------------------------------------------------------------------------------------ FLOW-12

/// Per-app users run premium flows only when triggered from the app or associated with it.
#[test]
fn flow_12_per_app_users_run_premium_flows_only_in_the_app() {
    let s = snap(
        &with_users(&format!(
            r#"{APP_ENV}
[[flows]]
id = "from-app"
environment = "prod"
trigger = "instant"
owner = "perapp"
triggered_from_app = true
app = "expenses"
connectors = ["shared_sql"]

[[flows]]
id = "associated"
environment = "prod"
owner = "perapp"
app = "expenses"
connectors = ["shared_sql"]

[[flows]]
id = "standalone"
environment = "prod"
owner = "perapp"
connectors = ["shared_sql"]
"#
        )),
        "2024-06-01",
    );
    let mut c = checks();
    for f in ["from-app", "associated"] {
        let d = flow(&s, f);
        c.eq(&format!("{f}: allowed"), d.allowed, true);
        c.names(&format!("{f}: trace"), d.trace.as_slice(), "FLOW-12");
    }
    let d = flow(&s, "standalone");
    c.eq("standalone: allowed", d.allowed, false);
    c.flow_problem("standalone", &d, "FLOW-12");
}

// ------------------------------------------------------------------------------------------------ FLOW-13

/// An imported copy in another environment is a separate flow and needs its own process licence.
#[test]
fn flow_13_copy_in_another_environment_needs_its_own_process_licence() {
    let s = snap(
        &with_users(
            r#"
[[subscriptions]]
sku = "power-automate-process"
quantity = 1

[[environments]]
id = "dev"
dataverse = true
allocations = { power-automate-process = 1 }

[[environments]]
id = "prod"
dataverse = true

[[flows]]
id = "invoice-dev"
environment = "dev"
owner = "o365"
connectors = ["shared_salesforce"]
license = "process"
solution = "invoices"

[[flows]]
id = "invoice-prod"
environment = "prod"
owner = "o365"
connectors = ["shared_salesforce"]
license = "process"
solution = "invoices"
"#,
        ),
        "2024-06-01",
    );
    let mut c = checks();
    let d = flow(&s, "invoice-dev");
    c.eq("dev copy: allowed", d.allowed, true);
    c.names("dev copy: trace", d.trace.as_slice(), "FLOW-13");
    let d = flow(&s, "invoice-prod");
    c.eq("prod copy: allowed", d.allowed, false);
    c.names("prod copy: trace", d.trace.as_slice(), "FLOW-13");
}

/// User licences are tenant-wide and valid in every environment.
#[test]
fn flow_13_user_licences_are_valid_in_every_environment() {
    let mut body = with_users("");
    for env in ["dev", "test", "prod"] {
        body.push_str(&format!(
            "\n[[environments]]\nid = \"{env}\"\ndataverse = true\n\n[[flows]]\nid = \"sync-{env}\"\nenvironment = \"{env}\"\nowner = \"prem\"\nconnectors = [\"shared_salesforce\"]\n"
        ));
    }
    let s = snap(&body, "2024-06-01");
    let mut c = checks();
    for env in ["dev", "test", "prod"] {
        let d = flow(&s, &format!("sync-{env}"));
        c.eq(&format!("{env}: allowed"), d.allowed, true);
        c.eq(&format!("{env}: licensed_by"), kind(&d), "owner");
    }
}

// ------------------------------------------------------------------------------------------------ FLOW-14

/// A flow's default is the user licence: free process units in its environment do not license it.
#[test]
fn flow_14_default_is_the_user_licence() {
    let s = snap(
        &with_users(
            r#"
[[environments]]
id = "prod"
dataverse = true
allocations = { power-automate-process = 3 }

[[flows]]
id = "unset"
environment = "prod"
owner = "o365"
connectors = ["shared_salesforce"]
"#,
        ),
        "2024-06-01",
    );
    let d = flow(&s, "unset");
    let mut c = checks();
    c.eq("allowed", d.allowed, false);
    c.ok(
        &format!("not licensed by process: {}", kind(&d)),
        kind(&d) != "process",
    );
    c.names("trace", d.trace.as_slice(), "FLOW-14");
}

/// A flow cannot take a process licence in an environment with no free unit; units allocated to another
/// environment do not help.
#[test]
fn flow_14_no_free_process_unit_in_the_environment() {
    let s = snap(
        &with_users(
            r#"
[[environments]]
id = "prod"
dataverse = true
allocations = { power-automate-process = 1 }

[[environments]]
id = "test"
dataverse = true
allocations = { power-automate-process = 5 }

[[flows]]
id = "first"
environment = "prod"
owner = "o365"
connectors = ["shared_salesforce"]
license = "process"
created = "2024-01-01"

[[flows]]
id = "second"
environment = "prod"
owner = "o365"
connectors = ["shared_salesforce"]
license = "process"
created = "2024-02-01"
"#,
        ),
        "2024-06-01",
    );
    let mut c = checks();
    let d = flow(&s, "first");
    c.eq("first: allowed", d.allowed, true);
    c.names("first: trace", d.trace.as_slice(), "FLOW-14");
    let d = flow(&s, "second");
    c.eq("second: allowed", d.allowed, false);
    c.flow_problem("second", &d, "FLOW-14");
}

/// FACTS case 43: 3 process units, allocations created in order M1 bot, F1 flow, M2 bot, F2 flow → F2, the
/// newest, is the one in overage (last in, first out).
#[test]
fn flow_14_lifo_overage_flags_the_newest() {
    let s = snap(
        &with_users(
            r#"
[[environments]]
id = "rpa"
dataverse = true
allocations = { power-automate-process = 3 }

[[flows]]
id = "m1"
environment = "rpa"
owner = "o365"
features = ["desktop-flow"]
desktop_mode = "unattended"
machine = "vm-1"
created = "2024-01-01"

[[flows]]
id = "f1"
environment = "rpa"
owner = "o365"
connectors = ["shared_salesforce"]
license = "process"
created = "2024-01-02"

[[flows]]
id = "m2"
environment = "rpa"
owner = "o365"
features = ["desktop-flow"]
desktop_mode = "unattended"
machine = "vm-2"
created = "2024-01-03"

[[flows]]
id = "f2"
environment = "rpa"
owner = "o365"
connectors = ["shared_salesforce"]
license = "process"
created = "2024-01-04"
"#,
        ),
        "2024-06-01",
    );
    let mut c = checks();
    for f in ["m1", "f1", "m2"] {
        c.eq(&format!("{f}: allowed"), flow(&s, f).allowed, true);
    }
    let d = flow(&s, "f2");
    c.eq("f2: allowed", d.allowed, false);
    c.flow_problem("f2", &d, "FLOW-14");
    let a = audit_of(&s);
    c.finding("audit tenant problems", &a.tenant_problems, "FLOW-14");
}

// ------------------------------------------------------------------------------------------------ FLOW-15

/// FACTS case 42: a parent with a process licence, 2 child flows (one in another solution) and 3 flows
/// associated with it in its solution: all covered by 1 licence.
#[test]
fn flow_15_one_process_licence_covers_children_and_associated_flows() {
    let mut body = with_users(
        r#"
[[environments]]
id = "prod"
dataverse = true
allocations = { power-automate-process = 1 }

[[flows]]
id = "intake"
environment = "prod"
owner = "o365"
connectors = ["shared_salesforce"]
license = "process"
solution = "invoices"

[[flows]]
id = "child-1"
environment = "prod"
owner = "nobody"
parent = "intake"
connectors = ["shared_salesforce"]
solution = "invoices"

[[flows]]
id = "child-2"
environment = "prod"
owner = "nobody"
parent = "intake"
connectors = ["shared_salesforce"]
solution = "shared-steps"
"#,
    );
    for i in 1..=3 {
        body.push_str(&format!(
            "\n[[flows]]\nid = \"ctx-{i}\"\nenvironment = \"prod\"\nowner = \"nobody\"\nin_context_of = \"intake\"\nconnectors = [\"shared_salesforce\"]\nsolution = \"invoices\"\n"
        ));
    }
    let s = snap(&body, "2024-06-01");
    let mut c = checks();
    let by = entitle_core::LicensedBy::Process {
        flow: flow_idx(&s, "intake"),
    };
    for f in ["intake", "child-1", "child-2", "ctx-1", "ctx-2", "ctx-3"] {
        let d = flow(&s, f);
        c.eq(&format!("{f}: allowed"), d.allowed, true);
        c.eq(
            &format!("{f}: licensed by intake's process licence"),
            d.licensed_by,
            by,
        );
        if f != "intake" {
            c.names(&format!("{f}: trace"), d.trace.as_slice(), "FLOW-15");
        }
    }
}

/// Manually associated flows must be in the same solution.
#[test]
fn flow_15_associated_flow_must_share_the_solution() {
    let s = snap(
        &with_users(
            r#"
[[environments]]
id = "prod"
dataverse = true
allocations = { power-automate-process = 1 }

[[flows]]
id = "intake"
environment = "prod"
owner = "o365"
connectors = ["shared_salesforce"]
license = "process"
solution = "invoices"

[[flows]]
id = "stranger"
environment = "prod"
owner = "o365"
in_context_of = "intake"
connectors = ["shared_salesforce"]
solution = "hr"
"#,
        ),
        "2024-06-01",
    );
    let d = flow(&s, "stranger");
    let mut c = checks();
    c.eq("allowed", d.allowed, false);
    c.flow_problem("stranger", &d, "FLOW-15");
    c.names("trace", d.trace.as_slice(), "FLOW-15");
}

/// Seed 002: "trebuie să fie în aceeași soluție și să utilizeze aceleași surse de date" — an associated flow
/// shares the process licence only when it is in the same solution *and* uses the same data sources
/// (connectors, compared as sets).
#[test]
fn flow_15_associated_flow_must_use_the_same_data_sources() {
    let s = snap(
        &with_users(
            r#"
[[environments]]
id = "prod"
dataverse = true
allocations = { power-automate-process = 1 }

[[flows]]
id = "intake"
environment = "prod"
owner = "o365"
connectors = ["shared_salesforce", "shared_sql"]
license = "process"
solution = "invoices"

[[flows]]
id = "same-sources"
environment = "prod"
owner = "o365"
in_context_of = "intake"
connectors = ["shared_sql", "shared_salesforce"]
solution = "invoices"

[[flows]]
id = "other-sources"
environment = "prod"
owner = "o365"
in_context_of = "intake"
connectors = ["shared_salesforce", "shared_servicenow"]
solution = "invoices"
"#,
        ),
        "2024-06-01",
    );
    let mut c = checks();
    let same = flow(&s, "same-sources");
    c.eq("same sources: allowed", same.allowed, true);
    c.eq(
        "same sources: licensed by intake's process licence",
        same.licensed_by,
        entitle_core::LicensedBy::Process {
            flow: flow_idx(&s, "intake"),
        },
    );
    c.names("same sources: trace", same.trace.as_slice(), "FLOW-15");
    let other = flow(&s, "other-sources");
    c.eq("other sources: allowed", other.allowed, false);
    c.flow_problem("other sources", &other, "FLOW-15");
    c.names("other sources: trace", other.trace.as_slice(), "FLOW-15");
    c.eq(
        "other sources: the problem says data sources",
        other
            .problems
            .iter()
            .any(|p| matches!(p.what, entitle_core::decision::What::InContextDataSources { .. })),
        true,
    );
}

/// Seed 001: "De Process-licentie is omgevingsspecifiek"; seed 002: "o licență de proces acoperă utilizarea
/// tuturor într-un singur mediu". The parent's process licence covers its children in its own environment only: a
/// child in another environment falls back to the parent's owner's licence (FLOW-7).
#[test]
fn flow_15_parent_process_licence_does_not_cover_a_child_in_another_environment() {
    let s = snap(
        &with_users(
            r#"
[[environments]]
id = "prod"
dataverse = true
allocations = { power-automate-process = 1 }

[[environments]]
id = "test"
dataverse = true

[[flows]]
id = "intake"
environment = "prod"
owner = "o365"
connectors = ["shared_salesforce"]
license = "process"
solution = "invoices"

[[flows]]
id = "child-here"
environment = "prod"
owner = "o365"
parent = "intake"
connectors = ["shared_salesforce"]

[[flows]]
id = "child-elsewhere"
environment = "test"
owner = "o365"
parent = "intake"
connectors = ["shared_salesforce"]
"#,
        ),
        "2024-06-01",
    );
    let mut c = checks();
    let here = flow(&s, "child-here");
    c.eq("same environment: allowed", here.allowed, true);
    c.eq(
        "same environment: licensed by intake's process licence",
        here.licensed_by,
        entitle_core::LicensedBy::Process {
            flow: flow_idx(&s, "intake"),
        },
    );
    c.names("same environment: trace", here.trace.as_slice(), "FLOW-15");
    let elsewhere = flow(&s, "child-elsewhere");
    c.eq("other environment: allowed", elsewhere.allowed, false);
    c.flow_problem("other environment", &elsewhere, "FLOW-15");
    c.names("other environment: trace", elsewhere.trace.as_slice(), "FLOW-15");
    c.names("other environment: trace", elsewhere.trace.as_slice(), "FLOW-14");
    c.eq(
        "other environment: the problem names the parent's licence",
        elsewhere.problems.iter().any(|p| {
            matches!(
                p.what,
                entitle_core::decision::What::ParentLicenceOtherEnv { with, .. } if with == flow_idx(&s, "intake")
            )
        }),
        true,
    );
    c.eq(
        "other environment: no request budget from intake",
        matches!(
            entitle_core::requests::flow_limit(&s, flow_idx(&s, "child-elsewhere"), None).budget,
            entitle_core::requests::Budget::Licence { .. }
        ),
        false,
    );
}

/// A solution can hold several processes, each with its own licence.
#[test]
fn flow_15_each_process_of_a_solution_needs_its_own_licence() {
    let body = |units: u32| {
        with_users(&format!(
            r#"
[[environments]]
id = "prod"
dataverse = true
allocations = {{ power-automate-process = {units} }}

[[flows]]
id = "invoicing"
environment = "prod"
owner = "o365"
connectors = ["shared_salesforce"]
license = "process"
solution = "back-office"
created = "2024-01-01"

[[flows]]
id = "onboarding"
environment = "prod"
owner = "o365"
connectors = ["shared_salesforce"]
license = "process"
solution = "back-office"
created = "2024-02-01"
"#
        ))
    };
    let mut c = checks();
    let two = snap(&body(2), "2024-06-01");
    for f in ["invoicing", "onboarding"] {
        let d = flow(&two, f);
        c.eq(&format!("two units, {f}: allowed"), d.allowed, true);
        c.eq(
            &format!("two units, {f}: own licence"),
            d.licensed_by,
            entitle_core::LicensedBy::Process {
                flow: flow_idx(&two, f),
            },
        );
    }
    let one = snap(&body(1), "2024-06-01");
    let d = flow(&one, "onboarding");
    c.eq("one unit, second process: allowed", d.allowed, false);
    c.flow_problem("one unit, onboarding", &d, "FLOW-14");
}

// ------------------------------------------------------------------------------------------------ FLOW-16

fn machine_flows(units: u32, extra: &str) -> String {
    with_users(&format!(
        r#"
[[environments]]
id = "rpa"
dataverse = true
allocations = {{ power-automate-process = {units} }}

[[flows]]
id = "bot-a"
environment = "rpa"
owner = "o365"
features = ["desktop-flow"]
desktop_mode = "unattended"
machine = "vm-1"
created = "2024-01-01"

[[flows]]
id = "bot-b"
environment = "rpa"
trigger = "scheduled"
owner = "o365b"
features = ["desktop-flow"]
desktop_mode = "unattended"
machine = "vm-1"
created = "2024-01-02"
{extra}"#
    ))
}

/// One process licence per machine: cloud flows queued on the same machine are covered by it.
#[test]
fn flow_16_one_licence_per_machine_covers_queued_flows() {
    let s = snap(&machine_flows(1, ""), "2024-06-01");
    let mut c = checks();
    for f in ["bot-a", "bot-b"] {
        let d = flow(&s, f);
        c.eq(&format!("{f}: allowed"), d.allowed, true);
        c.eq(&format!("{f}: licensed_by"), kind(&d), "process");
        c.names(&format!("{f}: trace"), d.trace.as_slice(), "FLOW-16");
    }
}

/// A second machine needs a second licence.
#[test]
fn flow_16_a_second_machine_needs_a_second_licence() {
    let extra = r#"
[[flows]]
id = "bot-c"
environment = "rpa"
owner = "o365"
features = ["desktop-flow"]
desktop_mode = "unattended"
machine = "vm-2"
created = "2024-03-01"
"#;
    let mut c = checks();
    let one = snap(&machine_flows(1, extra), "2024-06-01");
    let d = flow(&one, "bot-c");
    c.eq("one unit, second machine: allowed", d.allowed, false);
    c.flow_problem("bot-c", &d, "FLOW-16");
    let two = snap(&machine_flows(2, extra), "2024-06-01");
    c.eq(
        "two units, second machine: allowed",
        flow(&two, "bot-c").allowed,
        true,
    );
}

/// FACTS case 40: 3 unattended runs at the same time on one machine need 3 licences.
#[test]
fn flow_16_concurrent_runs_need_one_licence_each() {
    let extra = r#"
[[flows]]
id = "burst"
environment = "rpa"
owner = "o365"
features = ["desktop-flow"]
desktop_mode = "unattended"
machine = "vm-9"
concurrent_runs = 3
created = "2024-03-01"
"#;
    let mut c = checks();
    // vm-1 takes 1 unit; vm-9 needs 3 more.
    let short = snap(&machine_flows(3, extra), "2024-06-01");
    let d = flow(&short, "burst");
    c.eq("3 concurrent runs with 2 bots left: allowed", d.allowed, false);
    c.flow_problem("burst", &d, "FLOW-16");
    let enough = snap(&machine_flows(4, extra), "2024-06-01");
    let d = flow(&enough, "burst");
    c.eq("3 concurrent runs with 3 bots: allowed", d.allowed, true);
    c.names("burst: trace", d.trace.as_slice(), "FLOW-16");
}

/// The machine's licence covers the parents and children of the cloud flows that run desktop flows on it.
#[test]
fn flow_16_machine_licence_covers_parents_and_children() {
    let extra = r#"
[[flows]]
id = "orchestrator"
environment = "rpa"
trigger = "scheduled"
owner = "o365"
connectors = ["shared_salesforce"]

[[flows]]
id = "run-desktop"
environment = "rpa"
owner = "o365"
parent = "orchestrator"
features = ["desktop-flow"]
desktop_mode = "unattended"
machine = "vm-1"
created = "2024-01-03"

[[flows]]
id = "post-process"
environment = "rpa"
owner = "o365"
parent = "run-desktop"
connectors = ["shared_salesforce"]
"#;
    let s = snap(&machine_flows(1, extra), "2024-06-01");
    let mut c = checks();
    for f in ["orchestrator", "run-desktop", "post-process"] {
        let d = flow(&s, f);
        c.eq(&format!("{f}: allowed"), d.allowed, true);
        c.names(&format!("{f}: trace"), d.trace.as_slice(), "FLOW-16");
    }
}

// ------------------------------------------------------------------------------------------------ FLOW-17

fn per_flow(units: u32, extra: &str) -> String {
    with_users(&format!(
        r#"
[[subscriptions]]
sku = "power-automate-per-flow"
quantity = 5
start = "2023-01-01"

[[environments]]
id = "prod"
dataverse = true
allocations = {{ power-automate-per-flow = {units} }}

[[flows]]
id = "parent"
environment = "prod"
owner = "o365"
connectors = ["shared_salesforce"]
license = "per-flow"
created = "2023-02-01"

[[flows]]
id = "child"
environment = "prod"
owner = "nobody"
parent = "parent"
connectors = ["shared_salesforce"]
{extra}"#
    ))
}

/// A per-flow licence covers one parent flow and its child flows.
#[test]
fn flow_17_per_flow_covers_the_parent_and_its_children() {
    let s = snap(&per_flow(1, ""), "2024-06-01");
    let mut c = checks();
    let by = entitle_core::LicensedBy::PerFlow {
        flow: flow_idx(&s, "parent"),
    };
    for f in ["parent", "child"] {
        let d = flow(&s, f);
        c.eq(&format!("{f}: allowed"), d.allowed, true);
        c.eq(
            &format!("{f}: licensed by the parent's per-flow licence"),
            d.licensed_by,
            by,
        );
        c.names(&format!("{f}: trace"), d.trace.as_slice(), "FLOW-17");
    }
}

/// FACTS case 42 (second part): the per-flow plan does not cover flows associated in context.
#[test]
fn flow_17_per_flow_does_not_cover_associated_flows() {
    let extra = r#"
[[flows]]
id = "associated"
environment = "prod"
owner = "o365"
in_context_of = "parent"
connectors = ["shared_salesforce"]
"#;
    let s = snap(&per_flow(1, extra), "2024-06-01");
    let d = flow(&s, "associated");
    let mut c = checks();
    c.eq("allowed", d.allowed, false);
    c.names("trace", d.trace.as_slice(), "FLOW-17");
}

/// All enabled flow types count (scheduled, automated, instant); child flows do not.
#[test]
fn flow_17_enabled_flows_of_every_type_count_children_do_not() {
    let extra = r#"
[[flows]]
id = "scheduled"
environment = "prod"
trigger = "scheduled"
owner = "o365"
connectors = ["shared_salesforce"]
license = "per-flow"
created = "2023-03-01"

[[flows]]
id = "instant"
environment = "prod"
trigger = "instant"
owner = "o365"
connectors = ["shared_salesforce"]
license = "per-flow"
created = "2023-04-01"

[[flows]]
id = "child-2"
environment = "prod"
owner = "nobody"
parent = "scheduled"
connectors = ["shared_salesforce"]
"#;
    let mut c = checks();
    let three = snap(&per_flow(3, extra), "2024-06-01");
    for f in ["parent", "child", "scheduled", "instant", "child-2"] {
        let d = flow(&three, f);
        c.eq(&format!("3 units, {f}: allowed"), d.allowed, true);
        c.names(&format!("3 units, {f}: trace"), d.trace.as_slice(), "FLOW-17");
    }
    let two = snap(&per_flow(2, extra), "2024-06-01");
    let d = flow(&two, "instant");
    c.eq("2 units, third parent: allowed", d.allowed, false);
    c.flow_problem("2 units, instant", &d, "FLOW-17");
}

/// A disabled flow does not count (only enabled flows count), so it leaves its unit to an enabled one.
#[test]
fn flow_17_disabled_flows_do_not_count() {
    let extra = r#"
[[flows]]
id = "old-disabled"
environment = "prod"
owner = "o365"
connectors = ["shared_salesforce"]
license = "per-flow"
enabled = false
created = "2023-01-15"
"#;
    let s = snap(&per_flow(1, extra), "2024-06-01");
    let d = flow(&s, "parent");
    let mut c = checks();
    c.eq("the enabled parent keeps the only unit", d.allowed, true);
    c.names("trace", d.trace.as_slice(), "FLOW-17");
}

// ------------------------------------------------------------------------------------------------ FLOW-18

/// Users who only answer approvals need no premium licence.
#[test]
fn flow_18_approvers_need_no_premium_licence() {
    let s = snap(
        &with_users(
            r#"
[[flows]]
id = "purchase-approval"
environment = "default"
owner = "prem"
connectors = ["shared_salesforce", "shared_approvals"]
approvers = ["o365", "nobody"]

[[flows]]
id = "stage-advance"
environment = "default"
owner = "prem"
features = ["business-process-flow"]
approvers = ["o365b"]
"#,
        ),
        "2024-06-01",
    );
    let mut c = checks();
    for f in ["purchase-approval", "stage-advance"] {
        let d = flow(&s, f);
        c.eq(&format!("{f}: allowed"), d.allowed, true);
        c.ok(
            &format!("{f}: no problems: {:?}", d.problems),
            d.problems.is_empty(),
        );
        c.names(&format!("{f}: trace"), d.trace.as_slice(), "FLOW-18");
    }
}

// ------------------------------------------------------------------------------------------------ FLOW-19

fn guest_tenant(cloud: &str, home_cloud: &str) -> String {
    format!(
        r#"
[tenant]
id = "contoso"
cloud = "{cloud}"

[[environments]]
id = "default"
default = true

[[users]]
id = "guest"
kind = "guest"
home_cloud = "{home_cloud}"
home_licenses = ["power-automate-premium"]

[[users]]
id = "hosted-guest"
kind = "guest"
licenses = ["power-automate-premium"]

[[users]]
id = "bare-guest"
kind = "guest"

[[users]]
id = "owner"
licenses = ["power-automate-premium"]

[[flows]]
id = "button"
environment = "default"
trigger = "instant"
owner = "owner"
connectors = ["shared_salesforce"]
"#
    )
}

/// A guest is licensed by the host tenant or, in the public cloud, by their home tenant.
#[test]
fn flow_19_guest_licensed_by_host_or_home_tenant_in_the_public_cloud() {
    let s = snap_of(&guest_tenant("public", "public"), "2024-06-01");
    let mut c = checks();
    for g in ["guest", "hosted-guest"] {
        let d = flow_as(&s, "button", g);
        c.eq(&format!("{g}: allowed"), d.allowed, true);
        c.names(&format!("{g}: trace"), d.trace.as_slice(), "FLOW-19");
    }
    let d = flow_as(&s, "button", "bare-guest");
    c.eq("guest with no licence anywhere: allowed", d.allowed, false);
    c.names("bare-guest: trace", d.trace.as_slice(), "FLOW-19");
}

/// Home-tenant licences are not recognised in national or sovereign clouds, nor across clouds.
#[test]
fn flow_19_home_licences_not_recognised_in_national_clouds_or_across_clouds() {
    let mut c = checks();
    for (cloud, home) in [
        ("gcc", "gcc"),
        ("public", "gcc"),
        ("gcc", "public"),
        ("dod", "gcc-high"),
    ] {
        let s = snap_of(&guest_tenant(cloud, home), "2024-06-01");
        let d = flow_as(&s, "button", "guest");
        c.eq(&format!("tenant {cloud}, home {home}: allowed"), d.allowed, false);
        c.names(
            &format!("tenant {cloud}, home {home}: trace"),
            d.trace.as_slice(),
            "FLOW-19",
        );
        let d = flow_as(&s, "button", "hosted-guest");
        c.eq(
            &format!("tenant {cloud}: host licence still counts"),
            d.allowed,
            true,
        );
    }
}

// ------------------------------------------------------------------------------------------------ FLOW-20

/// A premium flow owned by a service principal needs a process (or per-flow) licence.
#[test]
fn flow_20_service_principal_premium_flow_needs_process() {
    let s = snap(
        r#"
[[subscriptions]]
sku = "power-automate-per-flow"
quantity = 5
start = "2023-01-01"

[[environments]]
id = "prod"
dataverse = true
allocations = { power-automate-process = 1, power-automate-per-flow = 1 }

[[users]]
id = "app"
kind = "service-principal"

[[flows]]
id = "unlicensed"
environment = "prod"
trigger = "scheduled"
owner = "app"
connectors = ["shared_salesforce"]

[[flows]]
id = "processed"
environment = "prod"
trigger = "scheduled"
owner = "app"
connectors = ["shared_salesforce"]
license = "process"

[[flows]]
id = "per-flow"
environment = "prod"
owner = "app"
connectors = ["shared_salesforce"]
license = "per-flow"

[[flows]]
id = "standard"
environment = "prod"
trigger = "scheduled"
owner = "app"
connectors = ["shared_sharepointonline"]
"#,
        "2024-06-01",
    );
    let mut c = checks();
    let d = flow(&s, "unlicensed");
    c.eq("premium, no process licence: allowed", d.allowed, false);
    c.flow_problem("unlicensed", &d, "FLOW-20");
    c.names("unlicensed: trace", d.trace.as_slice(), "FLOW-20");
    c.eq(
        "premium with process: allowed",
        flow(&s, "processed").allowed,
        true,
    );
    c.eq(
        "premium with per flow: allowed",
        flow(&s, "per-flow").allowed,
        true,
    );
    // FACTS §1.5 / case 14: a standard flow draws on the tenant base and needs no process licence.
    c.eq("standard: allowed", flow(&s, "standard").allowed, true);
}

// ------------------------------------------------------------------------------------------------ FLOW-21

/// A premium service account shared by the people who run or benefit from a premium flow: a warning with the
/// recommended fix, never a block.
#[test]
fn flow_21_multiplexing_is_a_warning_never_a_block() {
    let s = snap(
        &with_users(
            r#"
[[users]]
id = "svc"
kind = "service-account"
licenses = ["power-automate-premium"]

[[flows]]
id = "shared"
environment = "default"
owner = "svc"
run_by = ["o365", "o365b"]
beneficiaries = ["nobody"]
connectors = ["shared_salesforce"]
"#,
        ),
        "2024-06-01",
    );
    let d = flow(&s, "shared");
    let mut c = checks();
    c.eq("allowed", d.allowed, true);
    let warned: Vec<_> = d.warnings.iter().map(|w| w.rule).collect();
    c.names("warnings", &warned, "FLOW-21");
    c.names("trace", d.trace.as_slice(), "FLOW-21");
    let a = audit_of(&s);
    c.ok(
        "not in the audit's flows at risk",
        audit_row(&a, "shared").is_none(),
    );
    c.ok(
        "an audit warning under FLOW-21",
        a.warnings
            .iter()
            .any(|w| w.flow == "shared" && w.rule == rule("FLOW-21")),
    );
}

/// Seed 002, multiplexing, example 3: "Dacă fluxul menționat la numărul doi trimite un e-mail utilizatorului care
/// încarcă articolul, atât proprietarul, cât și utilizatorul au nevoie de o licență Premium. [...] Neacordarea
/// licenței tuturor utilizatorilor se încadrează în multiplexare." Whoever owns the flow (here a person with a
/// premium licence, not a service account), a listed beneficiary without a premium licence is multiplexing: a
/// warning under FLOW-21, never a block. A beneficiary with a premium licence raises none, and neither does the
/// same flow without beneficiaries (example 2: only the owner gets value).
#[test]
fn flow_21_unlicensed_beneficiary_of_a_person_owned_flow_is_multiplexing() {
    let s = snap(
        &with_users(
            r#"
[[users]]
id = "maker"
licenses = ["office-365-e3", "power-automate-premium"]

[[users]]
id = "pro"
licenses = ["office-365-e3", "power-automate-premium"]

[[flows]]
id = "upload-receipt"
environment = "default"
trigger = "automated"
owner = "maker"
connectors = ["shared_sharepointonline", "shared_commondataserviceforapps", "shared_office365"]
beneficiaries = ["o365", "pro"]

[[flows]]
id = "upload-notify-owner"
environment = "default"
trigger = "automated"
owner = "maker"
connectors = ["shared_sharepointonline", "shared_commondataserviceforapps", "shared_office365"]
"#,
        ),
        "2024-06-01",
    );
    let mut c = checks();
    let d = flow(&s, "upload-receipt");
    c.eq("premium", d.premium, true);
    c.eq("allowed: a warning, never a block", d.allowed, true);
    c.names("trace", d.trace.as_slice(), "FLOW-21");
    let o365 = user(&s, "o365");
    let pro = user(&s, "pro");
    let warned_about = |u| {
        d.warnings.iter().any(|w| {
            w.rule == rule("FLOW-21")
                && w.what == entitle_core::decision::What::BeneficiaryUnlicensed { user: u }
        })
    };
    c.ok(
        &format!(
            "a FLOW-21 warning about o365: {:?}",
            d.warnings.iter().collect::<Vec<_>>()
        ),
        warned_about(o365),
    );
    c.ok("none about pro, who holds premium", !warned_about(pro));
    let a = audit_of(&s);
    c.ok(
        "not in the audit's flows at risk",
        audit_row(&a, "upload-receipt").is_none(),
    );
    c.ok(
        "an audit warning under FLOW-21",
        a.warnings
            .iter()
            .any(|w| w.flow == "upload-receipt" && w.rule == rule("FLOW-21") && w.message.contains("`o365`")),
    );
    let d = flow(&s, "upload-notify-owner");
    c.eq("example 2: allowed", d.allowed, true);
    c.eq("example 2: no warning", d.warnings.iter().count(), 0);
}

// ------------------------------------------------------------------------------------------------ FLOW-22

#[test]
fn flow_22_non_interactive_users_are_not_supported() {
    let s = snap(
        r#"
[[users]]
id = "batch"
kind = "non-interactive"

[[flows]]
id = "nightly"
environment = "default"
trigger = "scheduled"
owner = "batch"
connectors = ["shared_sharepointonline"]
"#,
        "2024-06-01",
    );
    let d = flow(&s, "nightly");
    let mut c = checks();
    c.eq("allowed", d.allowed, false);
    c.flow_problem("nightly", &d, "FLOW-22");
    c.names("trace", d.trace.as_slice(), "FLOW-22");
}

#[test]
fn flow_22_a_tenant_has_at_most_7_non_interactive_users() {
    let body = |n: usize| {
        (0..n)
            .map(|i| format!("\n[[users]]\nid = \"ni-{i}\"\nkind = \"non-interactive\"\n"))
            .collect::<String>()
    };
    let mut c = checks();
    let seven = audit_of(&snap(&body(7), "2024-06-01"));
    c.ok(
        &format!("7: no FLOW-22 problem ({:?})", seven.tenant_problems),
        seven.tenant_problems.iter().all(|p| p.rule != rule("FLOW-22")),
    );
    let eight = audit_of(&snap(&body(8), "2024-06-01"));
    c.finding("8", &eight.tenant_problems, "FLOW-22");
}

// ------------------------------------------------------------------------------------------------ FLOW-23

fn windows_tenant() -> String {
    r#"
[[environments]]
id = "prod"
dataverse = true

[[users]]
id = "w11"
licenses = ["windows-11-pro"]

[[users]]
id = "w10"
licenses = ["windows-10-pro"]

[[users]]
id = "colleague"
licenses = ["windows-11-pro"]

[[flows]]
id = "personal"
environment = "default"
trigger = "instant"
owner = "w11"
features = ["desktop-flow"]
desktop_mode = "attended"

[[flows]]
id = "outside-default"
environment = "prod"
trigger = "instant"
owner = "w11"
features = ["desktop-flow"]
desktop_mode = "attended"

[[flows]]
id = "shared"
environment = "default"
trigger = "instant"
owner = "w11"
co_owners = ["colleague"]
run_by = ["w11", "colleague"]
features = ["desktop-flow"]
desktop_mode = "attended"

[[flows]]
id = "cloud"
environment = "default"
owner = "w11"
connectors = ["shared_sharepointonline"]

[[flows]]
id = "w10-desktop"
environment = "default"
trigger = "instant"
owner = "w10"
features = ["desktop-flow"]
desktop_mode = "attended"
"#
    .to_owned()
}

/// Windows 11: attended desktop flows for personal productivity in the default environment only; no sharing,
/// no cloud flows.
#[test]
fn flow_23_windows_11_attended_desktop_flows_in_the_default_environment_only() {
    let s = snap(&windows_tenant(), "2024-06-01");
    let mut c = checks();
    let d = flow(&s, "personal");
    c.eq(
        "personal attended desktop flow in the default environment: allowed",
        d.allowed,
        true,
    );
    c.names("personal: trace", d.trace.as_slice(), "FLOW-23");
    for (f, what) in [
        ("outside-default", "in another environment"),
        ("shared", "shared with a colleague"),
        ("cloud", "a cloud flow"),
    ] {
        let d = flow(&s, f);
        c.eq(&format!("{what}: allowed"), d.allowed, false);
        c.names(&format!("{f}: trace"), d.trace.as_slice(), "FLOW-23");
    }
}

/// Windows 10 users may use (downloaded) desktop flows.
#[test]
fn flow_23_windows_10_users_may_use_desktop_flows() {
    let s = snap(&windows_tenant(), "2024-06-01");
    let d = flow(&s, "w10-desktop");
    let mut c = checks();
    c.eq("allowed", d.allowed, true);
    c.names("trace", d.trace.as_slice(), "FLOW-23");
}

// ------------------------------------------------------------------------------------------------ FLOW-24

/// A premium flow whose owner left: not allowed, `owner-left`, and a co-owner with a premium licence can take
/// it over (or a process licence can be assigned).
#[test]
fn flow_24_owner_left() {
    let s = snap(
        &with_users(
            r#"
[[users]]
id = "gone"
licenses = ["power-automate-premium"]
left = "2024-05-01"

[[flows]]
id = "orders"
environment = "default"
owner = "gone"
co_owners = ["prem"]
connectors = ["shared_salesforce"]
solution = "sales-ops"
created = "2023-01-01"
"#,
        ),
        "2024-06-01",
    );
    let d = flow(&s, "orders");
    let mut c = checks();
    c.eq("allowed", d.allowed, false);
    c.eq(
        "enforcement",
        d.enforcement.map(|e| e.kind.as_str()),
        Some("owner-left"),
    );
    c.flow_problem("orders", &d, "FLOW-24");
    c.names("trace", d.trace.as_slice(), "FLOW-24");
    let fixes = flow_fixes(&s, &d);
    c.ok(
        &format!("fixes offer the premium co-owner as new owner: {fixes:?}"),
        fixes
            .iter()
            .any(|f| f.fix.action == Action::ChangeOwner && f.fix.target.as_deref() == Some("prem")),
    );
    c.ok(
        &format!("fixes offer a process licence: {fixes:?}"),
        fixes.iter().any(|f| f.fix.action == Action::AssignProcessLicense),
    );
}

/// A premium flow whose owner's licence or trial lapsed: `owner-without-premium`.
#[test]
fn flow_24_premium_licence_or_trial_lapsed() {
    let s = snap(
        r#"
[[subscriptions]]
sku = "power-automate-premium"
quantity = 1
start = "2023-01-01"
end = "2024-05-01"

[[users]]
id = "ann"
licenses = ["office-365-e3", "power-automate-premium"]

[[users]]
id = "tina"
licenses = ["office-365-e3", "power-automate-trial"]

[[flows]]
id = "ann-sync"
environment = "default"
owner = "ann"
connectors = ["shared_salesforce"]

[[flows]]
id = "tina-sync"
environment = "default"
owner = "tina"
connectors = ["shared_salesforce"]

[[events]]
on = "2024-01-01"
kind = "trial-started"
user = "tina"
sku = "power-automate-trial"
"#,
        "2024-06-01",
    );
    let mut c = checks();
    for f in ["ann-sync", "tina-sync"] {
        let d = flow(&s, f);
        c.eq(&format!("{f}: allowed"), d.allowed, false);
        c.eq(
            &format!("{f}: enforcement"),
            d.enforcement.map(|e| e.kind.as_str()),
            Some("owner-without-premium"),
        );
        c.flow_problem(f, &d, "FLOW-24");
    }
}

/// Only premium flows are degraded: a standard flow whose owner left keeps running.
#[test]
fn flow_24_standard_flow_of_a_departed_owner_keeps_running() {
    let s = snap(
        r#"
[[users]]
id = "gone"
licenses = ["office-365-e3"]
left = "2024-05-01"

[[flows]]
id = "notify"
environment = "default"
owner = "gone"
connectors = ["shared_sharepointonline"]
"#,
        "2024-06-01",
    );
    let d = flow(&s, "notify");
    let mut c = checks();
    c.eq("allowed", d.allowed, true);
    c.names("trace", d.trace.as_slice(), "FLOW-24");
}

// ------------------------------------------------------------------------------------------------ FLOW-25

/// Flows created before 2019-10-01 that use reclassified connectors keep working (until 2024-10-01, M365-2).
#[test]
fn flow_25_flows_created_before_the_reclassification_keep_working() {
    let body = r#"
[[users]]
id = "ann"
licenses = ["office-365-e3"]

[[flows]]
id = "legacy-sql"
environment = "default"
owner = "ann"
connectors = ["shared_sql", "shared_sharepointonline"]
created = "2019-05-01"

[[flows]]
id = "new-sql"
environment = "default"
owner = "ann"
connectors = ["shared_sql"]
created = "2019-10-01"
"#;
    let mut c = checks();
    let s = snap(body, "2024-06-01");
    let d = flow(&s, "legacy-sql");
    c.eq("legacy-sql: allowed", d.allowed, true);
    c.eq("legacy-sql: licensed_by", kind(&d), "grandfathered");
    c.names("legacy-sql: trace", d.trace.as_slice(), "FLOW-25");
    c.eq("made on 2019-10-01: allowed", flow(&s, "new-sql").allowed, false);
    let later = snap(body, "2024-10-01");
    c.eq(
        "legacy-sql on 2024-10-01: allowed",
        flow(&later, "legacy-sql").allowed,
        false,
    );
}

/// FLOW-3: an invoking user who is not in the tenant (an index from another snapshot) is never allowed.
#[test]
fn flow_3_an_unknown_invoker_is_never_allowed() {
    let s = snap(
        &with_users(
            r#"
[[flows]]
id = "button"
environment = "default"
trigger = "instant"
owner = "prem"
connectors = ["shared_sharepointonline"]
"#,
        ),
        "2024-06-01",
    );
    let f = s.flow_idx("button").unwrap();
    let d = entitle_core::flows::decide_flow(&s, f, Some(entitle_core::snapshot::UserIdx(u32::MAX)));
    assert!(!d.allowed);
    assert!(d.trace.as_slice().contains(&entitle_core::Rule::Flow3));
}
