//! CAP-1 … CAP-6: Dataverse capacity (RULES.md §2). 1 GB = 1,000 MB (SCENARIO.md, seed 002's worked example).

use super::common::*;

use entitle_core::capacity::capacity;

#[test]
fn cap_1_three_pools_pooled_for_the_whole_tenant() {
    let s = snap(
        r#"
[[environments]]
id = "prod"
dataverse = true
storage = { database_mb = 2000, file_mb = 1000, log_mb = 100 }

[[users]]
id = "ann"
licenses = ["power-apps-per-user"]

[[users]]
id = "bob"
licenses = ["power-apps-per-user"]
"#,
        "2024-06-01",
    );
    let cap = capacity(&s);
    let mut c = checks();
    // Two per-user licences accrue into one tenant pool: 10 GB + 2 × 250 MB, 20 GB + 2 × 2 GB, 2 GB.
    c.eq("database", cap.database_mb, 10_500);
    c.eq("file", cap.file_mb, 24_000);
    c.eq("log", cap.log_mb, 2_000);
    c.eq("free database", cap.free_database_mb, 8_500);
    c.eq("free file", cap.free_file_mb, 23_000);
    c.eq("free log", cap.free_log_mb, 1_900);
    c.names("capacity rules", &cap.rules, "CAP-1");
}

/// The first qualifying subscription gives the one-time default (10 GB / 20 GB / 2 GB); later ones add only
/// their accruals.
#[test]
fn cap_2_default_is_given_once() {
    let s = snap(
        r#"
[[subscriptions]]
sku = "power-apps-per-user"
quantity = 1

[[subscriptions]]
sku = "power-automate-premium"
quantity = 1

[[subscriptions]]
sku = "power-apps-per-user"
quantity = 1
start = "2024-02-01"
"#,
        "2024-06-01",
    );
    let cap = capacity(&s);
    let mut c = checks();
    c.eq("database: 10 GB + 2 × 250 MB + 50 MB", cap.database_mb, 10_550);
    c.eq("file: 20 GB + 2 × 2 GB + 200 MB", cap.file_mb, 24_200);
    c.eq("log: 2 GB", cap.log_mb, 2_000);
    c.names("capacity rules", &cap.rules, "CAP-2");
}

/// Dynamics 365 Customer Service is one of the subscriptions that give the default (and accrues nothing by
/// CAP-3's table).
#[test]
fn cap_2_d365_customer_service_gives_the_default() {
    let s = snap(
        r#"
[[subscriptions]]
sku = "dynamics-365-customer-service-enterprise"
quantity = 20
"#,
        "2024-06-01",
    );
    let cap = capacity(&s);
    let mut c = checks();
    c.eq("database", cap.database_mb, 10_000);
    c.eq("file", cap.file_mb, 20_000);
    c.eq("log", cap.log_mb, 2_000);
    c.names("capacity rules", &cap.rules, "CAP-2");
}

/// Microsoft 365 and Dynamics 365 Finance are not among the subscriptions that give the default.
#[test]
fn cap_2_no_default_without_a_qualifying_subscription() {
    let s = snap(
        r#"
[[subscriptions]]
sku = "office-365-e3"
quantity = 100

[[subscriptions]]
sku = "dynamics-365-finance"
quantity = 10
"#,
        "2024-06-01",
    );
    let cap = capacity(&s);
    let mut c = checks();
    c.eq("pools", (cap.database_mb, cap.file_mb, cap.log_mb), (0, 0, 0));
    c.ok(
        "no CAP-2 source",
        cap.sources.iter().all(|x| x.rule != rule("CAP-2")),
    );
}

/// FACTS conformance case 32: 10 Power Apps per user + 20 per app → 13.5 GB database, 48 GB file, 2 GB log.
#[test]
fn cap_3_accrual_per_unit() {
    let s = snap(
        r#"
[[subscriptions]]
sku = "power-apps-per-user"
quantity = 10

[[subscriptions]]
sku = "power-apps-per-app"
quantity = 20
"#,
        "2024-06-01",
    );
    let cap = capacity(&s);
    let mut c = checks();
    c.eq("database", cap.database_mb, 13_500);
    c.eq("file", cap.file_mb, 48_000);
    c.eq("log", cap.log_mb, 2_000);
    c.names("capacity rules", &cap.rules, "CAP-3");
}

/// Seed 002's worked example (FACTS case 33): 10 Power Automate Premium → 10.5 GB database.
#[test]
fn cap_3_ten_premium_give_10_5_gb() {
    let s = snap(
        r#"
[[subscriptions]]
sku = "power-automate-premium"
quantity = 10
"#,
        "2024-06-01",
    );
    let cap = capacity(&s);
    let mut c = checks();
    c.eq("database", cap.database_mb, 10_500);
    c.eq("file", cap.file_mb, 22_000);
    c.eq("log", cap.log_mb, 2_000);
    c.names("capacity rules", &cap.rules, "CAP-3");
}

#[test]
fn cap_3_power_automate_per_user_and_per_flow_accrue_50_mb_and_200_mb() {
    let s = snap(
        r#"
[[subscriptions]]
sku = "power-automate-per-user"
quantity = 4

[[subscriptions]]
sku = "power-automate-per-flow"
quantity = 5
start = "2023-01-01"
"#,
        "2024-06-01",
    );
    let cap = capacity(&s);
    let mut c = checks();
    c.eq("database: 10 GB + 9 × 50 MB", cap.database_mb, 10_450);
    c.eq("file: 20 GB + 9 × 200 MB", cap.file_mb, 21_800);
    c.eq("log", cap.log_mb, 2_000);
    c.names("capacity rules", &cap.rules, "CAP-3");
}

#[test]
fn cap_4_add_on_capacity_adds_to_the_same_pools() {
    let s = snap(
        r#"
[[subscriptions]]
sku = "power-apps-per-user"
quantity = 1

[[subscriptions]]
sku = "dataverse-database-capacity"
quantity = 3

[[subscriptions]]
sku = "dataverse-file-capacity"
quantity = 5

[[subscriptions]]
sku = "dataverse-log-capacity"
quantity = 2
"#,
        "2024-06-01",
    );
    let cap = capacity(&s);
    let mut c = checks();
    c.eq("database: 10 GB + 250 MB + 3 GB", cap.database_mb, 13_250);
    c.eq("file: 20 GB + 2 GB + 5 GB", cap.file_mb, 27_000);
    c.eq("log: 2 GB + 2 GB", cap.log_mb, 4_000);
    c.names("capacity rules", &cap.rules, "CAP-4");
}

/// An environment with a database needs at least 1 GB of free database capacity.
#[test]
fn cap_5_creating_an_environment_needs_1_gb_free() {
    let body = |used: u32| {
        format!(
            r#"
[[subscriptions]]
sku = "power-apps-per-user"
quantity = 1

[[environments]]
id = "prod"
dataverse = true
storage = {{ database_mb = {used} }}
"#
        )
    };
    let mut c = checks();
    // 10,250 MB in the pool.
    let room = capacity(&snap(&body(9_250), "2024-06-01"));
    c.eq("1,000 MB free: can create", room.can_create_environment, true);
    c.names("capacity rules", &room.rules, "CAP-5");
    let tight = capacity(&snap(&body(9_251), "2024-06-01"));
    c.eq("999 MB free: can create", tight.can_create_environment, false);
}

#[test]
fn cap_5_the_default_environment_has_dataverse_from_the_start() {
    let s = snap(
        r#"
[[environments]]
id = "sandbox"
kind = "sandbox"
"#,
        "2024-06-01",
    );
    let mut c = checks();
    let default = s.env_idx("default").and_then(|e| s.env(e)).map(|e| e.dataverse);
    let sandbox = s.env_idx("sandbox").and_then(|e| s.env(e)).map(|e| e.dataverse);
    c.eq("default environment has Dataverse", default, Some(true));
    c.eq(
        "other environment without an attached database",
        sandbox,
        Some(false),
    );
}

/// Run history (a 100-page document kept for debugging) is storage like any other.
#[test]
fn cap_6_flow_run_history_counts_against_the_pools() {
    let s = snap(
        r#"
[[subscriptions]]
sku = "power-automate-premium"
quantity = 1

[[environments]]
id = "prod"
dataverse = true
storage = { database_mb = 500, file_mb = 3000, log_mb = 250 }
"#,
        "2024-06-01",
    );
    let cap = capacity(&s);
    let mut c = checks();
    c.eq(
        "used",
        (cap.used_database_mb, cap.used_file_mb, cap.used_log_mb),
        (500, 3_000, 250),
    );
    c.eq(
        "free",
        (cap.free_database_mb, cap.free_file_mb, cap.free_log_mb),
        (9_550, 17_200, 1_750),
    );
    c.names("capacity rules", &cap.rules, "CAP-6");
}
