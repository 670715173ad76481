//! ENF-1, ENF-2 (all five kinds, their first-region dates, and the own timeline of a flow detected after the
//! rollout), ENF-4 (created off). Seed 002's table.

use super::common::*;

use entitle_core::audit::AuditFlow;

// ------------------------------------------------------------------------------------------------ ENF-1

/// Every flow that needs a licence it lacks, in every environment, with its reason and its fix; and only those.
#[test]
fn enf_1_audit_finds_every_unlicensed_flow_in_every_environment() {
    let s = snap(
        r#"
[[environments]]
id = "dev"
dataverse = true

[[environments]]
id = "prod"
dataverse = true

[[users]]
id = "prem"
licenses = ["power-automate-premium"]

[[users]]
id = "o365"
licenses = ["office-365-e3"]

[[users]]
id = "apps"
licenses = ["power-apps-per-user"]

[[users]]
id = "app"
kind = "service-principal"

[[flows]]
id = "fine"
environment = "dev"
owner = "prem"
connectors = ["shared_salesforce"]

[[flows]]
id = "standard"
environment = "default"
owner = "o365"
connectors = ["shared_sharepointonline"]

[[flows]]
id = "bad-dev"
environment = "dev"
owner = "o365"
connectors = ["shared_salesforce"]

[[flows]]
id = "bad-prod"
environment = "prod"
trigger = "scheduled"
owner = "app"
connectors = ["shared_salesforce"]

[[flows]]
id = "bad-default"
environment = "default"
owner = "apps"
connectors = ["shared_salesforce"]
"#,
        "2024-06-01",
    );
    let a = audit_of(&s);
    let mut c = checks();
    let mut found: Vec<(&str, &str)> = a
        .flows
        .iter()
        .map(|f| (f.flow.as_str(), f.environment.as_str()))
        .collect();
    found.sort_unstable();
    c.eq(
        "flows at risk",
        found,
        vec![
            ("bad-default", "default"),
            ("bad-dev", "dev"),
            ("bad-prod", "prod"),
        ],
    );
    for f in &a.flows {
        c.ok(&format!("{}: has a reason", f.flow), !f.problems.is_empty());
        c.ok(&format!("{}: has a fix", f.flow), !f.fixes.is_empty());
        c.names(&format!("{}: rules", f.flow), &f.rules, "ENF-1");
    }
}

/// No limit on the number of environments (the platform's own script stops at 500).
#[test]
fn enf_1_no_limit_on_the_number_of_environments() {
    let mut body = String::from("\n[[users]]\nid = \"o365\"\nlicenses = [\"office-365-e3\"]\n");
    for i in 0..600 {
        body.push_str(&format!(
            "\n[[environments]]\nid = \"env-{i}\"\n\n[[flows]]\nid = \"flow-{i}\"\nenvironment = \"env-{i}\"\nowner = \"o365\"\nconnectors = [\"shared_salesforce\"]\n"
        ));
    }
    let a = audit_of(&snap(&body, "2024-06-01"));
    let mut c = checks();
    c.eq("environments audited", a.summary.environments, 601);
    c.eq("flows at risk", a.flows.len(), 600);
    c.ok(
        "each in its own environment",
        a.flows
            .iter()
            .all(|f| f.environment == f.flow.replace("flow-", "env-")),
    );
}

// ------------------------------------------------------------------------------------------------ ENF-2

fn dates(r: &AuditFlow) -> (Option<String>, Option<String>, Option<String>) {
    (
        r.admin_notice.map(|d| d.to_string()),
        r.maker_notice.map(|d| d.to_string()),
        r.turn_off.map(|d| d.to_string()),
    )
}

fn want(admin: &str, maker: &str, off: &str) -> (Option<String>, Option<String>, Option<String>) {
    (
        Some(admin.to_owned()),
        Some(maker.to_owned()),
        Some(off.to_owned()),
    )
}

/// One flow of each kind, at risk before the rollout: the kind's first-region dates.
fn check_row(
    c: &mut Checks,
    s: &entitle_core::Snapshot,
    flow: &str,
    kind: &str,
    d: (&str, &str, &str),
    state: &str,
) {
    let a = audit_of(s);
    match audit_row(&a, flow) {
        None => {
            c.ok(&format!("{flow}: in the audit"), false);
        }
        Some(r) => {
            c.eq(&format!("{flow}: enforcement"), r.enforcement, kind);
            c.eq(&format!("{flow}: dates"), dates(&r), want(d.0, d.1, d.2));
            c.eq(&format!("{flow}: state"), r.state, Some(state));
            c.names(&format!("{flow}: rules"), &r.rules, "ENF-2");
        }
    }
}

const OWNER_LEFT: &str = r#"
[[users]]
id = "gone"
licenses = ["power-automate-premium"]
left = "LEFT"

[[flows]]
id = "orders"
environment = "default"
owner = "gone"
connectors = ["shared_salesforce"]
created = "2021-01-01"
"#;

#[test]
fn enf_2_a_owner_left_rollout_dates() {
    let s = snap(&OWNER_LEFT.replace("LEFT", "2022-06-01"), "2022-09-15");
    let mut c = checks();
    check_row(
        &mut c,
        &s,
        "orders",
        "owner-left",
        ("2022-09-01", "2022-10-01", "2022-10-15"),
        "admin-notified",
    );
}

/// Detected after the rollout: admins that day, makers 30 days later, turn-off 14 days after that.
#[test]
fn enf_2_a_owner_left_after_the_rollout_gets_its_own_timeline() {
    let s = snap(&OWNER_LEFT.replace("LEFT", "2024-05-01"), "2024-06-01");
    let mut c = checks();
    check_row(
        &mut c,
        &s,
        "orders",
        "owner-left",
        ("2024-05-01", "2024-05-31", "2024-06-14"),
        "maker-notified",
    );
}

fn lapsed(end: &str) -> String {
    format!(
        r#"
[[subscriptions]]
sku = "power-automate-premium"
quantity = 1
start = "2021-01-01"
end = "{end}"

[[users]]
id = "ann"
licenses = ["office-365-e3", "power-automate-premium"]

[[flows]]
id = "sync"
environment = "default"
owner = "ann"
connectors = ["shared_salesforce"]
created = "2021-06-01"
"#
    )
}

#[test]
fn enf_2_b_owner_without_premium_rollout_dates() {
    let s = snap(&lapsed("2022-05-01"), "2022-10-20");
    let mut c = checks();
    check_row(
        &mut c,
        &s,
        "sync",
        "owner-without-premium",
        ("2022-09-01", "2022-10-01", "2022-10-15"),
        "turned-off",
    );
}

#[test]
fn enf_2_b_licence_lapsed_after_the_rollout_gets_its_own_timeline() {
    let s = snap(&lapsed("2024-05-01"), "2024-06-20");
    let mut c = checks();
    check_row(
        &mut c,
        &s,
        "sync",
        "owner-without-premium",
        ("2024-05-01", "2024-05-31", "2024-06-14"),
        "turned-off",
    );
}

fn outside_apps(created: &str) -> String {
    format!(
        r#"
[[users]]
id = "maker"
licenses = ["office-365-e3", "power-apps-per-user"]

[[flows]]
id = "cleanup"
environment = "default"
trigger = "scheduled"
owner = "maker"
connectors = ["shared_salesforce"]
created = "{created}"
"#
    )
}

#[test]
fn enf_2_c_outside_power_apps_context_rollout_dates() {
    let s = snap(&outside_apps("2023-01-01"), "2023-12-01");
    let mut c = checks();
    check_row(
        &mut c,
        &s,
        "cleanup",
        "outside-power-apps-context",
        ("2023-10-13", "2023-11-13", "2024-03-13"),
        "maker-notified",
    );
}

/// Created after the rollout: its own timeline (grace 120 days), and created turned off (ENF-4).
#[test]
fn enf_2_c_flow_made_after_the_rollout_gets_its_own_timeline() {
    let s = snap(&outside_apps("2024-06-01"), "2024-06-02");
    let mut c = checks();
    check_row(
        &mut c,
        &s,
        "cleanup",
        "outside-power-apps-context",
        ("2024-06-01", "2024-07-01", "2024-10-29"),
        "created-off",
    );
}

fn outside_d365(created: &str) -> String {
    format!(
        r#"
[[environments]]
id = "sales-env"
dataverse = true
dynamics_apps = ["sales"]

[[users]]
id = "seller"
licenses = ["dynamics-365-sales-enterprise"]

[[flows]]
id = "leads"
environment = "sales-env"
owner = "seller"
connectors = ["shared_salesforce"]
created = "{created}"
"#
    )
}

#[test]
fn enf_2_d_outside_d365_context_rollout_dates() {
    let s = snap(&outside_d365("2023-01-01"), "2024-04-01");
    let mut c = checks();
    check_row(
        &mut c,
        &s,
        "leads",
        "outside-d365-context",
        ("2023-10-13", "2023-11-13", "2024-03-13"),
        "turned-off",
    );
}

#[test]
fn enf_2_d_flow_made_after_the_rollout_gets_its_own_timeline() {
    let s = snap(&outside_d365("2024-06-01"), "2024-08-01");
    let mut c = checks();
    check_row(
        &mut c,
        &s,
        "leads",
        "outside-d365-context",
        ("2024-06-01", "2024-07-01", "2024-10-29"),
        "created-off",
    );
}

fn service_principal(created: &str) -> String {
    format!(
        r#"
[[users]]
id = "app"
kind = "service-principal"

[[flows]]
id = "etl"
environment = "default"
trigger = "scheduled"
owner = "app"
connectors = ["shared_salesforce"]
created = "{created}"
"#
    )
}

#[test]
fn enf_2_e_service_principal_without_process_rollout_dates() {
    let s = snap(&service_principal("2023-06-01"), "2024-04-01");
    let mut c = checks();
    check_row(
        &mut c,
        &s,
        "etl",
        "service-principal-without-process",
        ("2024-03-15", "2024-04-15", "2024-08-15"),
        "admin-notified",
    );
}

#[test]
fn enf_2_e_flow_made_after_the_rollout_gets_its_own_timeline() {
    let s = snap(&service_principal("2024-09-01"), "2024-09-02");
    let mut c = checks();
    check_row(
        &mut c,
        &s,
        "etl",
        "service-principal-without-process",
        ("2024-09-01", "2024-10-01", "2024-12-30"),
        "created-off",
    );
}

/// The catalog's ENF-2 table is seed 002's.
#[test]
fn enf_2_kinds_and_dates_are_seed_002s_table() {
    let cat = catalog();
    let mut c = checks();
    for (kind, admin, maker, grace, off) in [
        ("owner-left", "2022-09-01", "2022-10-01", 14, "2022-10-15"),
        (
            "owner-without-premium",
            "2022-09-01",
            "2022-10-01",
            14,
            "2022-10-15",
        ),
        (
            "outside-power-apps-context",
            "2023-10-13",
            "2023-11-13",
            120,
            "2024-03-13",
        ),
        (
            "outside-d365-context",
            "2023-10-13",
            "2023-11-13",
            120,
            "2024-03-13",
        ),
        (
            "service-principal-without-process",
            "2024-03-15",
            "2024-04-15",
            90,
            "2024-08-15",
        ),
    ] {
        let row = cat
            .enforcement(kind)
            .map(|r| (r.admin_notice, r.maker_notice, r.grace_days, r.turn_off));
        c.eq(kind, row, Some((day(admin), day(maker), grace, day(off))));
    }
    c.eq(
        "makers 30 days after admins",
        cat.terms.enforcement.maker_after_days,
        30,
    );
}

/// Exemptions: manual flows and owners with legacy P1/P2 (a, b); canvas-triggered flows (c); FLOW-10 flows (d);
/// service-principal flows in a D365 app's context (e).
#[test]
fn enf_2_exemptions() {
    let s = snap(
        r#"
[[environments]]
id = "sales-env"
dataverse = true
dynamics_apps = ["sales"]

[[entities]]
id = "opportunity"
dynamics = true

[[users]]
id = "gone"
licenses = ["power-automate-premium"]
left = "2024-05-01"

[[users]]
id = "gone-p2"
licenses = ["flow-plan-2"]
left = "2024-05-01"

[[users]]
id = "maker"
licenses = ["power-apps-per-user"]

[[users]]
id = "seller"
licenses = ["dynamics-365-sales-enterprise"]

[[users]]
id = "app"
kind = "service-principal"

[[flows]]
id = "manual"
environment = "default"
trigger = "instant"
owner = "gone"
connectors = ["shared_salesforce"]
created = "2023-01-01"

[[flows]]
id = "legacy-owner"
environment = "default"
owner = "gone-p2"
connectors = ["shared_salesforce"]
created = "2023-01-01"

[[flows]]
id = "canvas-triggered"
environment = "default"
trigger = "instant"
owner = "maker"
triggered_from_app = true
connectors = ["shared_salesforce"]
created = "2023-01-01"

[[flows]]
id = "d365-data"
environment = "sales-env"
owner = "seller"
connectors = ["shared_commondataserviceforapps"]
entities = ["opportunity"]
created = "2023-01-01"

[[flows]]
id = "sp-in-d365"
environment = "sales-env"
trigger = "scheduled"
owner = "app"
connectors = ["shared_commondataserviceforapps"]
entities = ["opportunity"]
created = "2023-01-01"
"#,
        "2024-06-01",
    );
    let a = audit_of(&s);
    let mut c = checks();
    for (flow, kind) in [("manual", "owner-left"), ("legacy-owner", "owner-left")] {
        let row = audit_row(&a, flow);
        c.ok(
            &format!(
                "{flow}: not enforced as {kind}: {:?}",
                row.as_ref().map(|r| (r.enforcement, r.turn_off))
            ),
            row.as_ref()
                .is_none_or(|r| r.enforcement != kind && r.turn_off.is_none()),
        );
    }
    for flow in ["canvas-triggered", "d365-data", "sp-in-d365"] {
        c.ok(&format!("{flow}: not at risk"), audit_row(&a, flow).is_none());
    }
}

// ------------------------------------------------------------------------------------------------ ENF-4

/// Once makers are notified, new flows that use premium features without a licence are created turned off; a
/// flow made before the makers' notice is not.
#[test]
fn enf_4_new_unlicensed_premium_flows_are_created_off() {
    let mut c = checks();
    let s = snap(&outside_apps("2023-12-01"), "2024-01-10");
    match audit_row(&audit_of(&s), "cleanup") {
        None => {
            c.ok("made after the makers' notice: in the audit", false);
        }
        Some(r) => {
            c.eq(
                "made after the makers' notice: state",
                r.state,
                Some("created-off"),
            );
            c.names("made after the makers' notice: rules", &r.rules, "ENF-4");
        }
    }
    let s = snap(&outside_apps("2023-06-01"), "2024-01-10");
    let r = audit_row(&audit_of(&s), "cleanup");
    c.eq(
        "made before the makers' notice: state",
        r.and_then(|r| r.state),
        Some("maker-notified"),
    );
}

// ------------------------------------------------------------------------------------------------ ENF-3, ENF-5, ENF-6

/// The order of a timeline: admins first, makers 30 days later, then the grace period, then off. A licence that
/// lapsed on 2024-05-01 is seen by admins that day, by makers on 2024-05-31, and turned off after 14 days.
#[test]
fn enf_3_admins_first_makers_30_days_later_then_off() {
    let mut c = checks();
    for (at, state) in [
        ("2024-05-10", "admin-notified"),
        ("2024-06-05", "maker-notified"),
        ("2024-06-20", "turned-off"),
    ] {
        match audit_row(&audit_of(&snap(&lapsed("2024-05-01"), at)), "sync") {
            None => {
                c.ok(&format!("{at}: in the audit"), false);
            }
            Some(r) => {
                c.eq(&format!("{at}: state"), r.state, Some(state));
                c.eq(
                    &format!("{at}: makers 30 days after admins"),
                    r.admin_notice
                        .zip(r.maker_notice)
                        .map(|(a, m)| (m - a).num_days()),
                    Some(30),
                );
                c.names(&format!("{at}: rules"), &r.rules, "ENF-3");
            }
        }
    }
}

/// A flow turned off stays off (its row names ENF-5); once its owner holds Premium again it is licensed, and it
/// leaves the audit.
#[test]
fn enf_5_a_flow_turned_off_comes_back_only_once_licensed() {
    let mut c = checks();
    let off = snap(&lapsed("2022-05-01"), "2022-10-20");
    match audit_row(&audit_of(&off), "sync") {
        None => {
            c.ok("turned off: in the audit", false);
        }
        Some(r) => {
            c.eq("state", r.state, Some("turned-off"));
            c.names("rules", &r.rules, "ENF-5");
        }
    }
    let renewed = format!(
        "{}\n[[subscriptions]]\nsku = \"power-automate-premium\"\nquantity = 1\nstart = \"2022-10-18\"\n",
        lapsed("2022-05-01")
    );
    let on = snap(&renewed, "2022-10-20");
    c.ok(
        "licensed again: out of the audit",
        audit_row(&audit_of(&on), "sync").is_none(),
    );
    c.eq("licensed again: allowed", flow(&on, "sync").allowed, true);
}

/// The fixes of a flow at risk come cheapest first, each filed under ENF-6: Premium for the owner (15 USD)
/// before a process licence for the flow (150 USD).
#[test]
fn enf_6_fixes_come_cheapest_first_premium_for_the_owner() {
    let s = snap(&lapsed("2024-05-01"), "2024-05-10");
    let mut c = checks();
    let Some(r) = audit_row(&audit_of(&s), "sync") else {
        c.ok("in the audit", false);
        return;
    };
    let first = r.fixes.first();
    c.eq(
        "first fix",
        first.map(|f| (f.action, f.sku.as_deref(), f.rule.id())),
        Some((
            entitle_core::fixes::Action::AssignLicense,
            Some("power-automate-premium"),
            "ENF-6",
        )),
    );
    c.cost(
        "first fix",
        first.and_then(|f| f.monthly_cost.as_ref()),
        "15",
        "USD",
    );
    c.ok(
        &format!("a process licence is offered too: {:?}", r.fixes),
        r.fixes
            .iter()
            .any(|f| f.action == entitle_core::fixes::Action::AssignProcessLicense),
    );
    let amounts: Vec<_> = r
        .fixes
        .iter()
        .filter_map(|f| f.monthly_cost.as_ref().map(|m| m.amount))
        .collect();
    c.ok(
        &format!("cheapest first: {amounts:?}"),
        amounts.windows(2).all(|w| w.first() <= w.last()),
    );
}

/// A flow can name only an app that exists: once its app is deleted, the scenario is bad input naming the flow's
/// `app`, so the association has to go (and the flow be licensed otherwise) before the tenant is judged again.
#[test]
fn enf_7_a_flow_cannot_stay_associated_with_a_deleted_app() {
    let text = format!(
        r#"{HEAD}
[[users]]
id = "maker"
licenses = ["power-apps-per-user"]

[[flows]]
id = "notify"
environment = "default"
owner = "maker"
connectors = ["shared_salesforce"]
app = "expenses"
"#
    );
    let c = catalog();
    let err =
        entitle_core::scenario::Scenario::parse(&text, entitle_core::scenario::Format::Toml, "test.toml", &c);
    let mut k = checks();
    match err {
        Ok(_) => {
            k.ok("an association with a missing app is refused", false);
        }
        Err(e) => {
            let m = e.to_string();
            k.ok(&format!("names the app: {m}"), m.contains("expenses"));
            k.ok(&format!("names the key: {m}"), m.contains("app"));
        }
    }
    let with_app = format!(
        "{text}\n[[apps]]\nid = \"expenses\"\nenvironment = \"default\"\nconnectors = [\"shared_salesforce\"]\n"
    );
    let s = snap_of(&with_app, "2024-06-01");
    k.names(
        "associated: the app's context",
        flow(&s, "notify").trace.as_slice(),
        "FLOW-9",
    );
}

// ------------------------------------------------------------------------------------------------ the seeds again

/// Seed 002: a flow in an app's context "trebuie să folosească aceleași surse de date pentru declanșatoare sau
/// acțiuni ca și aplicația" (must use the same data sources as the app). An Oracle flow associated with a SharePoint
/// app is not in its context; associated with an app that uses Oracle, it is. The fix offers the app that fits.
#[test]
fn flow_9_an_associated_flow_shares_the_apps_data_sources() {
    let body = r#"
[[users]]
id = "maya"
licenses = ["office-365-e3", "power-apps-per-user"]

[[apps]]
id = "leave-requests"
environment = "default"
connectors = ["shared_sharepointonline"]

[[apps]]
id = "orders"
environment = "default"
connectors = ["shared_oracle", "shared_sharepointonline"]

[[flows]]
id = "oracle-via-leave"
environment = "default"
trigger = "scheduled"
owner = "maya"
connectors = ["shared_oracle"]
app = "leave-requests"

[[flows]]
id = "oracle-via-orders"
environment = "default"
trigger = "scheduled"
owner = "maya"
connectors = ["shared_oracle", "shared_office365"]
app = "orders"

[[flows]]
id = "oracle-alone"
environment = "default"
trigger = "scheduled"
owner = "maya"
connectors = ["shared_oracle"]
"#;
    let s = snap(body, "2024-06-03");
    let mut c = checks();
    let d = flow(&s, "oracle-via-leave");
    c.eq("associated with an app of other data sources", d.allowed, false);
    c.flow_problem("oracle-via-leave", &d, "FLOW-9");
    let d = flow(&s, "oracle-via-orders");
    c.eq("associated with an app that uses Oracle", d.allowed, true);
    c.names("oracle-via-orders: trace", d.trace.as_slice(), "FLOW-9");
    let d = flow(&s, "oracle-alone");
    let fixes = entitle_core::fixes::flow_fixes(&s, &d);
    let associate: Vec<&str> = fixes
        .iter()
        .filter(|f| f.action == entitle_core::fixes::Action::AssociateApp)
        .filter_map(|f| f.target.as_deref())
        .collect();
    c.eq("the app offered to associate with", associate, vec!["orders"]);
}

/// Seed 003: admins "kunnen ook bestaande licenties toewijzen" (can assign licences the tenant already holds): a
/// spare unit of any SKU that grants the right is the fix, at no cost, before buying the cheapest on sale.
#[test]
fn enf_6_a_spare_unit_the_tenant_holds_comes_first() {
    let s = snap(
        r#"
[[subscriptions]]
sku = "power-automate-per-user"
quantity = 2
start = "2024-01-01"

[[users]]
id = "alice"
licenses = ["microsoft-365-e3", "power-automate-per-user"]

[[users]]
id = "bob"
licenses = ["microsoft-365-e3"]

[[flows]]
id = "sql-sync"
environment = "default"
trigger = "automated"
owner = "bob"
connectors = ["shared_sql"]
"#,
        "2024-06-03",
    );
    let d = flow(&s, "sql-sync");
    let fixes = entitle_core::fixes::flow_fixes(&s, &d);
    let mut c = checks();
    let first = fixes.first();
    c.eq(
        "first fix: SKU",
        first.and_then(|f| f.sku.as_deref()),
        Some("power-automate-per-user"),
    );
    c.eq(
        "first fix: target",
        first.and_then(|f| f.target.as_deref()),
        Some("bob"),
    );
    c.ok(
        &format!("first fix costs nothing: {first:?}"),
        first
            .is_some_and(|f| f.monthly_cost.as_ref().is_some_and(|m| m.amount.is_zero()) && f.buy == Some(0)),
    );
}
