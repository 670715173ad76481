//! M365-1 … M365-3, D365-1 … D365-3: Microsoft 365 and Dynamics 365 rights (RULES.md §5, seed 000).

use super::common::*;

use entitle_core::capacity::capacity;

// ------------------------------------------------------------------------------------------------ M365-1

/// From 2019-10-01 the connectors of seed 000's list (SQL Server, Azure *, Dynamics 365 *, …) are premium.
#[test]
fn m365_1_reclassified_connectors_are_premium_from_2019_10_01() {
    let body = r#"
[[users]]
id = "ann"
licenses = ["office-365-e3"]

[[flows]]
id = "sql"
environment = "default"
owner = "ann"
connectors = ["shared_sql"]
created = "2019-06-01"

[[flows]]
id = "blob"
environment = "default"
owner = "ann"
connectors = ["shared_azureblob"]
created = "2020-01-01"

[[flows]]
id = "bus"
environment = "default"
owner = "ann"
connectors = ["shared_servicebus"]
created = "2020-01-01"
"#;
    let mut c = checks();
    let before = snap(body, "2019-09-30");
    let d = flow(&before, "sql");
    c.eq("SQL Server on 2019-09-30: premium", d.premium, false);
    c.eq("SQL Server on 2019-09-30: allowed", d.allowed, true);
    let after = snap(body, "2024-11-01");
    for f in ["sql", "blob", "bus"] {
        let d = flow(&after, f);
        c.eq(&format!("{f}: premium"), d.premium, true);
        c.eq(&format!("{f}: allowed on Office 365"), d.allowed, false);
        c.names(&format!("{f}: trace"), d.trace.as_slice(), "M365-1");
    }
}

/// Non-Microsoft connectors that were standard stay available to Microsoft 365 users; custom connectors and the
/// gateway need a standalone licence.
#[test]
fn m365_1_standard_non_microsoft_connectors_stay_custom_and_gateway_do_not() {
    let s = snap(
        r#"
[[users]]
id = "ann"
licenses = ["office-365-e3"]

[[flows]]
id = "dropbox"
environment = "default"
owner = "ann"
connectors = ["shared_dropbox", "shared_twitter"]

[[flows]]
id = "custom"
environment = "default"
owner = "ann"
connectors = ["shared_sharepointonline"]
features = ["custom-connector"]

[[flows]]
id = "gateway"
environment = "default"
owner = "ann"
connectors = ["shared_sharepointonline"]
features = ["gateway"]
"#,
        "2024-06-01",
    );
    let mut c = checks();
    let d = flow(&s, "dropbox");
    c.eq("dropbox + twitter: premium", d.premium, false);
    c.eq("dropbox + twitter: allowed", d.allowed, true);
    for f in ["custom", "gateway"] {
        let d = flow(&s, f);
        c.eq(&format!("{f}: premium"), d.premium, true);
        c.eq(&format!("{f}: allowed on Office 365"), d.allowed, false);
    }
}

// ------------------------------------------------------------------------------------------------ M365-2

/// Apps and flows created before 2019-10-01 that use the reclassified connectors are exempt until 2024-10-01.
#[test]
fn m365_2_apps_created_before_the_reclassification_are_exempt_until_2024_10_01() {
    let body = r#"
[[users]]
id = "ann"
licenses = ["office-365-e3"]

[[apps]]
id = "legacy"
environment = "default"
connectors = ["shared_sql"]
created = "2019-05-01"
users = ["ann"]

[[apps]]
id = "recent"
environment = "default"
connectors = ["shared_sql"]
created = "2019-11-01"
users = ["ann"]
"#;
    let mut c = checks();
    let s = snap(body, "2024-09-30");
    let d = app(&s, "legacy", "ann");
    c.eq("legacy app on 2024-09-30: allowed", d.allowed, true);
    c.names("legacy app: trace", d.trace.as_slice(), "M365-2");
    c.eq(
        "app made after 2019-10-01: allowed",
        app(&s, "recent", "ann").allowed,
        false,
    );
    let over = snap(body, "2024-10-01");
    c.eq(
        "legacy app on 2024-10-01: allowed",
        app(&over, "legacy", "ann").allowed,
        false,
    );
}

/// Exempt flows may not use gateways: gateways were and stay premium.
#[test]
fn m365_2_exemption_never_covers_gateways() {
    let s = snap(
        r#"
[[users]]
id = "ann"
licenses = ["office-365-e3"]

[[flows]]
id = "legacy-sql"
environment = "default"
owner = "ann"
connectors = ["shared_sql"]
created = "2019-05-01"

[[flows]]
id = "legacy-gateway"
environment = "default"
owner = "ann"
connectors = ["shared_sql"]
features = ["gateway"]
created = "2019-05-01"
"#,
        "2022-01-01",
    );
    let mut c = checks();
    let d = flow(&s, "legacy-sql");
    c.eq("legacy SQL flow: allowed", d.allowed, true);
    c.names("legacy SQL flow: trace", d.trace.as_slice(), "M365-2");
    let d = flow(&s, "legacy-gateway");
    c.eq("legacy flow through a gateway: allowed", d.allowed, false);
    c.eq("legacy flow through a gateway: premium", d.premium, true);
}

/// Using the Dynamics 365 connector grants no Dataverse capacity.
#[test]
fn m365_2_d365_connector_grants_no_capacity() {
    let s = snap(
        r#"
[[users]]
id = "ann"
licenses = ["office-365-e3"]

[[flows]]
id = "crm"
environment = "default"
owner = "ann"
connectors = ["shared_dynamicscrmonline"]
created = "2019-05-01"
"#,
        "2022-01-01",
    );
    let cap = capacity(&s);
    let mut c = checks();
    c.eq("pools", (cap.database_mb, cap.file_mb, cap.log_mb), (0, 0, 0));
    c.names(
        "the grandfathered D365 flow",
        flow(&s, "crm").trace.as_slice(),
        "M365-2",
    );
}

// ------------------------------------------------------------------------------------------------ M365-3

/// Microsoft 365 licences allow any number of apps with standard connectors.
#[test]
fn m365_3_unlimited_apps_with_standard_connectors() {
    let mut body = String::from(
        r#"
[[environments]]
id = "team"

[[users]]
id = "ann"
licenses = ["office-365-e3"]

[[apps]]
id = "premium"
environment = "default"
connectors = ["shared_salesforce"]
users = ["ann"]
"#,
    );
    for i in 0..6 {
        let env = if i % 2 == 0 { "default" } else { "team" };
        body.push_str(&format!(
            "\n[[apps]]\nid = \"std-{i}\"\nenvironment = \"{env}\"\nconnectors = [\"shared_sharepointonline\", \"shared_office365\"]\nusers = [\"ann\"]\n"
        ));
    }
    let s = snap(&body, "2024-06-01");
    let mut c = checks();
    for i in 0..6 {
        let d = app(&s, &format!("std-{i}"), "ann");
        c.eq(&format!("std-{i}: allowed"), d.allowed, true);
        c.names(&format!("std-{i}: trace"), d.trace.as_slice(), "M365-3");
    }
    c.eq("a premium app: allowed", app(&s, "premium", "ann").allowed, false);
}

// ------------------------------------------------------------------------------------------------ D365-1

const D365_APPS: &str = r#"
[[environments]]
id = "sales-env"
dataverse = true
dynamics_apps = ["sales"]

[[environments]]
id = "elsewhere"
dataverse = true

[[users]]
id = "seller"
licenses = ["dynamics-365-sales-enterprise"]

[[users]]
id = "member"
licenses = ["dynamics-365-team-members"]

[[apps]]
id = "sales-extension"
environment = "sales-env"
kind = "canvas"
connectors = ["shared_commondataserviceforapps"]
extends_dynamics = "sales"
users = ["seller", "member"]

[[apps]]
id = "sales-portal"
environment = "sales-env"
kind = "portal"
extends_dynamics = "sales"
users = ["seller", "member"]

[[apps]]
id = "custom-elsewhere"
environment = "elsewhere"
kind = "canvas"
connectors = ["shared_commondataserviceforapps"]
users = ["seller", "member"]

[[apps]]
id = "custom-portal"
environment = "elsewhere"
kind = "portal"
users = ["seller", "member"]
"#;

/// D365 Enterprise users run apps and portals that extend the licensed D365 app in its environment.
#[test]
fn d365_1_apps_and_portals_extending_the_d365_app_in_its_environment() {
    let s = snap(D365_APPS, "2024-06-01");
    let mut c = checks();
    for a in ["sales-extension", "sales-portal"] {
        let d = app(&s, a, "seller");
        c.eq(&format!("{a}: allowed"), d.allowed, true);
        c.names(&format!("{a}: trace"), d.trace.as_slice(), "D365-1");
    }
}

/// Custom apps elsewhere need a standalone Power Apps licence.
#[test]
fn d365_1_custom_apps_elsewhere_need_a_standalone_licence() {
    let s = snap(D365_APPS, "2024-06-01");
    let mut c = checks();
    for a in ["custom-elsewhere", "custom-portal"] {
        let d = app(&s, a, "seller");
        c.eq(&format!("{a}: allowed"), d.allowed, false);
        c.names(&format!("{a}: trace"), d.trace.as_slice(), "D365-1");
    }
}

// ------------------------------------------------------------------------------------------------ D365-2

/// D365 licences cover flows only in the licensed app's context; a standalone flow needs Power Automate.
#[test]
fn d365_2_standalone_flow_needs_power_automate() {
    let s = snap(
        &format!(
            r#"{D365_APPS}
[[entities]]
id = "opportunity"
dynamics = true

[[flows]]
id = "in-context"
environment = "sales-env"
owner = "seller"
connectors = ["shared_commondataserviceforapps"]
entities = ["opportunity"]

[[flows]]
id = "oracle-update"
environment = "sales-env"
owner = "seller"
connectors = ["shared_oracle"]
"#
        ),
        "2024-06-01",
    );
    let mut c = checks();
    let d = flow(&s, "in-context");
    c.eq("in the D365 app's context: allowed", d.allowed, true);
    c.names("in-context: trace", d.trace.as_slice(), "D365-2");
    let d = flow(&s, "oracle-update");
    c.eq("standalone Oracle flow: allowed", d.allowed, false);
    c.flow_problem("oracle-update", &d, "D365-2");
    c.eq(
        "standalone: enforcement",
        d.enforcement.map(|e| e.kind.as_str()),
        Some("outside-d365-context"),
    );
}

// ------------------------------------------------------------------------------------------------ D365-3

/// Seed 000: "De Team Member-licentie krijgt geen toegang tot een aangepaste portal, omdat Team Member-licenties
/// geen toegang tot een aangepaste app toestaan." No custom app at all, not even one with standard connectors only:
/// the Team Members licence is not a Microsoft 365 right (M365-3). A Team Member who also holds Office 365 opens it
/// through Office, and the decision still names D365-3 (the Team Members licence set aside).
#[test]
fn d365_3_team_members_get_no_standard_custom_app() {
    let s = snap(
        r#"
[[users]]
id = "member"
licenses = ["dynamics-365-team-members"]

[[users]]
id = "bc-member"
licenses = ["dynamics-365-business-central-team-members"]

[[users]]
id = "member-e3"
licenses = ["dynamics-365-team-members", "office-365-e3"]

[[apps]]
id = "timesheets"
environment = "default"
kind = "canvas"
connectors = ["shared_sharepointonline", "shared_office365"]
users = ["member", "bc-member", "member-e3"]
"#,
        "2024-06-01",
    );
    let mut c = checks();
    for u in ["member", "bc-member"] {
        let d = app(&s, "timesheets", u);
        c.eq(&format!("{u}: standard app, premium"), d.premium, false);
        c.eq(&format!("{u}: allowed"), d.allowed, false);
        c.names(&format!("{u}: trace"), d.trace.as_slice(), "D365-3");
        c.app_problem(&format!("{u}: problem"), &d, "D365-3");
    }
    let d = app(&s, "timesheets", "member-e3");
    c.eq("member-e3: allowed through Office 365", d.allowed, true);
    let sku = match d.licensed_by {
        entitle_core::decision::LicensedBy::User { sku, .. } => {
            sku.and_then(|x| s.catalog().sku(x)).map(|x| x.id.clone())
        }
        _ => None,
    };
    c.eq("member-e3: licensed by", sku.as_deref(), Some("office-365-e3"));
    c.names("member-e3: trace", d.trace.as_slice(), "M365-3");
    c.names("member-e3: trace", d.trace.as_slice(), "D365-3");
}

/// Team Members: no right to custom apps or custom portals, even those extending the D365 app.
#[test]
fn d365_3_team_members_get_no_custom_apps_or_portals() {
    let s = snap(D365_APPS, "2024-06-01");
    let mut c = checks();
    for a in [
        "sales-extension",
        "sales-portal",
        "custom-elsewhere",
        "custom-portal",
    ] {
        let d = app(&s, a, "member");
        c.eq(&format!("{a}: allowed"), d.allowed, false);
        c.names(&format!("{a}: trace"), d.trace.as_slice(), "D365-3");
    }
}

// ------------------------------------------------------------------------------------------------ D365-1, again

/// Seed 000: "Een Dynamics 365 ondernemingstoepassingslicentie krijgt gebruiksrechten voor aangepaste Power
/// Apps-toepassingen binnen dezelfde omgeving als de Dynamics 365-toepassing" (an enterprise licence grants use of
/// custom apps in the same environment as the Dynamics 365 app). The environment decides: a custom app there needs
/// no `extends_dynamics`, and an app in an environment where only another Dynamics 365 app is installed is not
/// covered by a licence for the first.
#[test]
fn d365_1_any_custom_app_in_the_licensed_apps_environment_is_covered() {
    let s = snap(
        &format!(
            r#"{D365_APPS}
[[environments]]
id = "service-env"
dataverse = true
dynamics_apps = ["customer-service"]

[[apps]]
id = "undeclared"
environment = "sales-env"
kind = "canvas"
connectors = ["shared_salesforce"]
users = ["seller", "member"]

[[apps]]
id = "undeclared-portal"
environment = "sales-env"
kind = "portal"
users = ["seller"]

[[apps]]
id = "service-app"
environment = "service-env"
kind = "canvas"
connectors = ["shared_salesforce"]
users = ["seller"]
"#
        ),
        "2024-06-01",
    );
    let mut c = checks();
    for a in ["undeclared", "undeclared-portal"] {
        let d = app(&s, a, "seller");
        c.eq(&format!("{a}: allowed without extends_dynamics"), d.allowed, true);
        c.names(&format!("{a}: trace"), d.trace.as_slice(), "D365-1");
    }
    let d = app(&s, "service-app", "seller");
    c.eq(
        "a Sales licence in Customer Service's environment",
        d.allowed,
        false,
    );
    c.app_problem("service-app", &d, "D365-1");
    let d = app(&s, "undeclared", "member");
    c.eq("Team Members still get no custom app (D365-3)", d.allowed, false);
    c.names("member: trace", d.trace.as_slice(), "D365-3");
}

// ------------------------------------------------------------------------------------------------ M365-2, tenant

const TRANSITION: &str = r#"
[[users]]
id = "ann"
licenses = ["office-365-e3"]

[[flows]]
id = "old-sql"
environment = "default"
owner = "ann"
connectors = ["shared_sql"]
created = "2019-05-01"

[[flows]]
id = "new-sql"
environment = "default"
owner = "ann"
connectors = ["shared_sql"]
created = "2020-03-01"

[[flows]]
id = "new-sql-gateway"
environment = "default"
owner = "ann"
connectors = ["shared_sql"]
features = ["gateway"]
created = "2020-03-01"
"#;

/// Seed 000: "Tijdens de overgangsperiode kunnen klanten extra apps en stromen blijven maken met behulp van deze
/// connectors" (during the transition customers may keep building apps and flows with these connectors). A tenant
/// that used a reclassified connector before 2019-10-01 builds new flows with them until 2020-10-01; gateways
/// stay premium.
#[test]
fn m365_2_a_tenant_that_used_the_connectors_keeps_building_until_2020_10_01() {
    let mut c = checks();
    let s = snap(TRANSITION, "2020-09-30");
    let d = flow(&s, "new-sql");
    c.eq("new SQL flow on 2020-09-30: allowed", d.allowed, true);
    c.eq("new SQL flow: premium", d.premium, false);
    c.names("new SQL flow: trace", d.trace.as_slice(), "M365-2");
    c.ok(
        &format!(
            "no FLOW-25 for a flow made after 2019-10-01: {:?}",
            ids(d.trace.as_slice())
        ),
        !d.trace.as_slice().contains(&rule("FLOW-25")),
    );
    c.eq(
        "a gateway is premium all the same",
        flow(&s, "new-sql-gateway").allowed,
        false,
    );
    let after = snap(TRANSITION, "2020-10-01");
    let d = flow(&after, "new-sql");
    c.eq("new SQL flow on 2020-10-01: allowed", d.allowed, false);
    c.eq("new SQL flow on 2020-10-01: premium", d.premium, true);
    c.eq(
        "the old flow keeps its own exemption (FLOW-25)",
        flow(&after, "old-sql").allowed,
        true,
    );
}

/// The transition lasts until the end of the tenant's Microsoft 365 term when that is later (`m365_term_end`,
/// the first day after the term); a tenant that never used the connectors gets none.
#[test]
fn m365_2_the_transition_lasts_to_the_end_of_the_m365_term_if_later() {
    let mut c = checks();
    let term = format!(
        "{}{}",
        HEAD.replace(
            "country = \"NL\"",
            "country = \"NL\"\nm365_term_end = \"2021-03-01\""
        ),
        TRANSITION
    );
    c.eq(
        "2021-02-28, term ends 2021-03-01: allowed",
        flow(&snap_of(&term, "2021-02-28"), "new-sql").allowed,
        true,
    );
    c.eq(
        "2021-03-01: allowed",
        flow(&snap_of(&term, "2021-03-01"), "new-sql").allowed,
        false,
    );
    let never_used = TRANSITION.replace("created = \"2019-05-01\"", "created = \"2019-11-01\"");
    let d = flow(&snap(&never_used, "2020-06-01"), "new-sql");
    c.eq("a tenant that never used them: allowed", d.allowed, false);
    c.eq("a tenant that never used them: premium", d.premium, true);
}
