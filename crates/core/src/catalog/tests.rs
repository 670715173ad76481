//! Tests of the two embedded catalog editions: they load, they hold every SKU the code names, and their figures are
//! those of the rule they rest on (one test per CAT rule, named after it). See docs/catalog.md for the readings taken.

use std::collections::HashSet;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{Capability, Catalog, Channel, Kind, ProductLine, Scope, Sku, Tier};

/// Every id the decision code and the tests name; both editions must hold them.
const REQUIRED_IDS: &[&str] = &[
    "power-apps-per-app",
    "power-apps-per-user",
    "power-automate-per-user",
    "power-automate-premium",
    "power-automate-per-user-attended-rpa",
    "power-automate-per-flow",
    "power-automate-process",
    "power-automate-hosted-process",
    "power-automate-unattended-rpa",
    "powerapps-plan-1",
    "powerapps-plan-2",
    "flow-plan-1",
    "flow-plan-2",
    "power-apps-trial",
    "power-automate-trial",
    "ai-builder-trial",
    "power-apps-developer",
    "power-automate-free",
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
];

/// The seeded plans of CAT-9.
const SEEDED_IDS: &[&str] = &[
    "office-365-e1",
    "office-365-e3",
    "office-365-e5",
    "office-365-f3",
    "microsoft-365-e3",
    "microsoft-365-e5",
    "microsoft-365-f1",
    "microsoft-365-f3",
    "microsoft-365-business-basic",
    "microsoft-365-business-standard",
    "microsoft-365-business-premium",
    "office-365-a1",
    "office-365-a3",
    "office-365-a5",
    "microsoft-365-a3",
    "microsoft-365-a5",
    "windows-10-pro",
    "windows-11-pro",
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
    "dynamics-365-sales-enterprise-attach",
    "dynamics-365-customer-service-enterprise-attach",
];

/// The connectors seed 000 lists as reclassified by M365-1, by API name.
const M365_1_CONNECTORS: &[&str] = &[
    "shared_applicationinsights",
    "shared_azureautomation",
    "shared_azureblob",
    "shared_aci",
    "shared_documentdb",
    "shared_azuredatafactory",
    "shared_azuredatalake",
    "shared_visualstudioteamservices",
    "shared_azureeventgrid",
    "shared_azureeventgridpublish",
    "shared_azurefile",
    "shared_azureiotcentral",
    "shared_kusto",
    "shared_azureloganalytics",
    "shared_azureloganalyticsdatacollector",
    "shared_azurequeues",
    "shared_arm",
    "shared_sql",
    "shared_sqldw",
    "shared_azuretables",
    "shared_dynamicscrmonline",
    "shared_customerinsights",
    "shared_dynamicsax",
    "shared_assistantstudio",
    "shared_dynamicssmbsaas",
    "shared_dynamicssmbonprem",
    "shared_dynamicsnavision",
    "shared_eventhubs",
    "shared_servicebus",
];

fn day(text: &str) -> NaiveDate {
    text.parse().expect("a valid date")
}

fn dec(text: &str) -> Decimal {
    text.parse().expect("a valid decimal")
}

fn seed() -> Catalog {
    Catalog::seed().expect("the seed edition loads")
}

fn current() -> Catalog {
    Catalog::current().expect("the current edition loads")
}

fn editions() -> [Catalog; 2] {
    [seed(), current()]
}

fn sku<'a>(catalog: &'a Catalog, id: &str) -> &'a Sku {
    catalog
        .sku_by_id(id)
        .unwrap_or_else(|| panic!("edition `{}` has no SKU `{id}`", catalog.catalog.edition))
}

/// The amount and currency of a SKU's price on a day.
fn price(catalog: &Catalog, id: &str, on: &str) -> (Decimal, String) {
    let p = sku(catalog, id)
        .price_at(day(on))
        .unwrap_or_else(|| panic!("`{id}` has no price on {on}"));
    (p.amount, p.currency.clone())
}

fn usd(amount: &str) -> (Decimal, String) {
    (dec(amount), "USD".to_owned())
}

fn eur(amount: &str) -> (Decimal, String) {
    (dec(amount), "EUR".to_owned())
}

fn has(catalog: &Catalog, id: &str, cap: Capability) -> bool {
    sku(catalog, id).grants.capabilities.has(cap)
}

// ------------------------------------------------------------------------------------------------ loading

#[test]
fn both_editions_load_and_name_themselves() {
    assert_eq!(seed().catalog.edition, "seed");
    assert_eq!(current().catalog.edition, "current");
    let default = Catalog::edition("default")
        .expect("a known edition")
        .expect("loads");
    assert_eq!(default.catalog.edition, "seed", "the seed edition is the default");
    assert!(Catalog::edition("tomorrow").is_none());
}

#[test]
fn every_required_id_exists_in_both_editions() {
    for catalog in editions() {
        for id in REQUIRED_IDS.iter().chain(SEEDED_IDS) {
            assert!(
                catalog.sku_by_id(id).is_some(),
                "edition `{}` lacks `{id}`",
                catalog.catalog.edition
            );
        }
    }
}

#[test]
fn ids_are_kebab_case_and_both_editions_hold_the_same_products() {
    let seed = seed();
    let current = current();
    for catalog in [&seed, &current] {
        for s in &catalog.skus {
            assert!(
                s.id.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !s.id.starts_with('-')
                    && !s.id.ends_with('-')
                    && !s.id.contains("--"),
                "`{}` is not kebab-case",
                s.id
            );
            assert!(!s.sources.is_empty(), "`{}` names no source", s.id);
        }
    }
    // The current edition only adds the legacy per-app plan that the seed edition's per-app SKU is.
    let seed_ids: HashSet<&str> = seed.skus.iter().map(|s| s.id.as_str()).collect();
    let current_ids: HashSet<&str> = current.skus.iter().map(|s| s.id.as_str()).collect();
    assert!(seed_ids.is_subset(&current_ids));
    let extra: Vec<&str> = current_ids.difference(&seed_ids).copied().collect();
    assert_eq!(extra, ["power-apps-per-app-legacy"]);
}

#[test]
fn every_paid_sku_has_a_price_in_force_on_2024_06_01_or_is_retired_before() {
    let on = day("2024-06-01");
    for catalog in editions() {
        for s in &catalog.skus {
            if s.kind != Kind::Paid {
                continue;
            }
            let retired = s.retired_on.is_some_and(|end| end <= on);
            assert!(
                retired || s.price_at(on).is_some(),
                "edition `{}`: paid `{}` has no price on {on}",
                catalog.catalog.edition,
                s.id
            );
            for p in &s.prices {
                assert!(
                    p.amount > Decimal::ZERO,
                    "`{}` has a price that is not positive",
                    s.id
                );
                assert!(
                    p.currency == "USD" || p.currency == "EUR",
                    "`{}`: currency {}",
                    s.id,
                    p.currency
                );
            }
        }
    }
}

#[test]
fn only_paid_skus_carry_prices() {
    for catalog in editions() {
        for s in &catalog.skus {
            if s.kind != Kind::Paid {
                assert!(s.prices.is_empty(), "`{}` is {:?} but has a price", s.id, s.kind);
            }
        }
    }
}

#[test]
fn graph_part_numbers_name_one_sku_each() {
    for catalog in editions() {
        let mut seen = HashSet::new();
        for s in &catalog.skus {
            if let Some(part) = &s.sku_part_number {
                assert!(seen.insert(part.clone()), "part number {part} appears twice");
            }
        }
    }
    let seed = seed();
    let current = current();
    assert_eq!(
        sku(&seed, "power-apps-per-app").sku_part_number.as_deref(),
        Some("POWERAPPS_PER_APP")
    );
    assert_eq!(
        sku(&current, "power-apps-per-app").sku_part_number.as_deref(),
        Some("POWERAPPS_PER_APP_NEW")
    );
    assert_eq!(
        sku(&current, "power-apps-per-app-legacy")
            .sku_part_number
            .as_deref(),
        Some("POWERAPPS_PER_APP")
    );
    for catalog in [&seed, &current] {
        for (id, part) in [
            ("power-apps-per-user", "POWERAPPS_PER_USER"),
            ("power-automate-per-user", "FLOW_PER_USER"),
            ("power-automate-premium", "POWERAUTOMATE_ATTENDED_RPA"),
            ("power-automate-process", "Power_Automate_per_process"),
            ("power-automate-per-flow", "FLOW_BUSINESS_PROCESS"),
            ("power-automate-unattended-rpa", "POWERAUTOMATE_UNATTENDED_RPA"),
            ("portal-page-views", "POWERAPPS_PORTALS_PAGEVIEW"),
            ("ai-builder-capacity", "CDSAICAPACITY"),
            ("dataverse-database-capacity", "CDS_DB_CAPACITY"),
            ("dataverse-file-capacity", "CDS_FILE_CAPACITY"),
            ("dataverse-log-capacity", "CDS_LOG_CAPACITY"),
            ("power-automate-free", "FLOW_FREE"),
            ("power-apps-developer", "POWERAPPS_DEV"),
        ] {
            assert_eq!(sku(catalog, id).sku_part_number.as_deref(), Some(part), "{id}");
        }
    }
}

// ------------------------------------------------------------------------------------------------ CAT-1 … CAT-14

#[test]
fn cat_1_per_app_two_apps_and_one_portal_for_10_usd() {
    let c = seed();
    let s = sku(&c, "power-apps-per-app");
    assert_eq!(
        (s.kind, s.scope, s.minimum, s.step),
        (Kind::Paid, Scope::User, 1, 1)
    );
    assert_eq!(price(&c, "power-apps-per-app", "2019-10-01"), usd("10"));
    assert_eq!(price(&c, "power-apps-per-app", "2024-06-01"), usd("10"));
    assert_eq!((s.grants.apps_per_unit, s.grants.portals_per_unit), (2, 1));
    assert!(has(&c, "power-apps-per-app", Capability::AppsPerApp));
    assert!(
        !has(&c, "power-apps-per-app", Capability::AppsPremium),
        "per app is counted, not unlimited"
    );
    assert!(
        has(&c, "power-apps-per-app", Capability::FlowsAppContext),
        "FLOW-12"
    );
    assert!(
        !has(&c, "power-apps-per-app", Capability::FlowsPremium),
        "FLOW-12: only in the app's context"
    );
    assert!(
        has(&c, "power-apps-per-app", Capability::PortalsInternal),
        "PORTAL-4"
    );

    // Today: one app or one website per pass, 5 USD; pre-2021-10 licences keep 2 apps + 1 portal (FACTS §7.3).
    let c = current();
    let s = sku(&c, "power-apps-per-app");
    assert_eq!((s.grants.apps_per_unit, s.grants.portals_per_unit), (1, 1));
    assert_eq!(price(&c, "power-apps-per-app", "2024-06-01"), usd("5"));
    assert!(s.purchasable_on(day("2021-10-01")) && !s.purchasable_on(day("2021-09-30")));
    let legacy = sku(&c, "power-apps-per-app-legacy");
    assert_eq!(
        (legacy.grants.apps_per_unit, legacy.grants.portals_per_unit),
        (2, 1)
    );
    assert!(legacy.purchasable_on(day("2021-09-30")) && !legacy.purchasable_on(day("2021-10-01")));
    assert_eq!(legacy.successor.as_deref(), Some("power-apps-per-app"));
}

#[test]
fn cat_2_per_user_40_usd_for_any_number_of_apps() {
    let c = seed();
    assert_eq!(price(&c, "power-apps-per-user", "2020-01-01"), usd("40"));
    assert_eq!(price(&c, "power-apps-per-user", "2024-06-01"), usd("40"));
    for cap in [
        Capability::AppsPremium,
        Capability::AppsStandard,
        Capability::FlowsStandard,
        Capability::FlowsAppContext,
        Capability::PortalsInternal,
        Capability::ModelDrivenApps,
        Capability::ComplexEntities,
    ] {
        assert!(has(&c, "power-apps-per-user", cap), "{cap:?}");
    }
    assert!(
        !has(&c, "power-apps-per-user", Capability::FlowsPremium),
        "FLOW-9: in context only"
    );
    assert_eq!(
        sku(&c, "power-apps-per-user").grants.apps_per_unit,
        0,
        "not counted"
    );
    // Power Apps Premium: 40 USD, then 20 USD (FACTS §7.3).
    let c = current();
    assert_eq!(price(&c, "power-apps-per-user", "2021-09-30"), usd("40"));
    assert_eq!(price(&c, "power-apps-per-user", "2021-10-01"), usd("20"));
}

#[test]
fn cat_3_power_automate_per_user_15_usd_and_premium_includes_attended_rpa() {
    for c in editions() {
        assert_eq!(price(&c, "power-automate-per-user", "2024-06-01"), usd("15"));
        assert_eq!(price(&c, "power-automate-premium", "2024-06-01"), usd("15"));
        assert_eq!(
            price(&c, "power-automate-per-user-attended-rpa", "2020-06-01"),
            usd("40")
        );
        for id in [
            "power-automate-per-user",
            "power-automate-premium",
            "power-automate-per-user-attended-rpa",
        ] {
            assert!(
                has(&c, id, Capability::FlowsStandard) && has(&c, id, Capability::FlowsPremium),
                "{id}"
            );
            assert_eq!(sku(&c, id).scope, Scope::User);
        }
        // Premium includes everything of per user with attended RPA.
        let premium = sku(&c, "power-automate-premium").grants.capabilities;
        for cap in sku(&c, "power-automate-per-user-attended-rpa")
            .grants
            .capabilities
            .iter()
        {
            assert!(premium.has(cap), "Premium lacks {cap:?}");
        }
        assert!(!has(&c, "power-automate-per-user", Capability::AttendedRpa));
        assert_eq!(
            sku(&c, "power-automate-per-user-attended-rpa")
                .successor
                .as_deref(),
            Some("power-automate-premium")
        );
        // At the same price Premium is the one recommended.
        let (_, best) = c
            .cheapest_granting(Capability::FlowsPremium, day("2024-06-01"))
            .expect("something grants premium flows");
        assert_eq!(best.id, "power-automate-premium");
    }
}

#[test]
fn cat_4_per_flow_minimum_five_retired_2024_02_01() {
    for c in editions() {
        let s = sku(&c, "power-automate-per-flow");
        assert_eq!((s.minimum, s.step), (5, 1));
        assert_eq!(s.scope, Scope::Flow);
        assert_eq!(price(&c, "power-automate-per-flow", "2023-06-01"), usd("100"));
        // 500 USD for the first 5 flows, then 100 USD per extra flow.
        let (amount, _) = price(&c, "power-automate-per-flow", "2023-06-01");
        assert_eq!(amount * Decimal::from(s.minimum), dec("500"));
        assert_eq!(amount * Decimal::from(7), dec("700"));
        assert_eq!(s.retired_on, Some(day("2024-02-01")));
        assert!(s.purchasable_on(day("2024-01-31")));
        assert!(!s.purchasable_on(day("2024-02-01")));
        assert!(has(&c, "power-automate-per-flow", Capability::PerFlow));
        assert_eq!(s.successor.as_deref(), Some("power-automate-process"));
        // Existing units keep working: the price stays on record for costing them.
        assert!(s.price_at(day("2025-01-01")).is_some());
    }
}

#[test]
fn cat_5_process_150_usd_per_bot_no_minimum() {
    for c in editions() {
        let s = sku(&c, "power-automate-process");
        assert_eq!(price(&c, "power-automate-process", "2024-06-01"), usd("150"));
        assert_eq!((s.minimum, s.step, s.scope), (1, 1, Scope::Flow));
        assert_eq!(s.unit, "bot");
        assert!(s.retired_on.is_none());
        assert!(has(&c, "power-automate-process", Capability::Process));
        assert_eq!(s.grants.bots, 1);
        let (_, best) = c
            .cheapest_granting(Capability::Process, day("2024-06-01"))
            .expect("process is sold");
        assert_eq!(best.id, "power-automate-process");
    }
}

#[test]
fn cat_6_unattended_rpa_150_usd_retired_2024_02_01() {
    for c in editions() {
        let s = sku(&c, "power-automate-unattended-rpa");
        assert_eq!(
            price(&c, "power-automate-unattended-rpa", "2023-06-01"),
            usd("150")
        );
        assert_eq!(s.retired_on, Some(day("2024-02-01")));
        assert!(s.purchasable_on(day("2024-01-31")) && !s.purchasable_on(day("2024-02-01")));
        assert!(has(
            &c,
            "power-automate-unattended-rpa",
            Capability::UnattendedBot
        ));
        assert_eq!(s.grants.bots, 1);
        assert_eq!(s.successor.as_deref(), Some("power-automate-process"));
    }
}

#[test]
fn cat_7_hosted_process_environment_scoped_serves_as_unattended_and_hosts_machines() {
    for c in editions() {
        let s = sku(&c, "power-automate-hosted-process");
        assert_eq!(s.scope, Scope::Environment);
        assert!(has(&c, "power-automate-hosted-process", Capability::HostedBot));
        assert!(has(
            &c,
            "power-automate-hosted-process",
            Capability::UnattendedBot
        ));
        assert!(
            !has(&c, "power-automate-hosted-process", Capability::Process),
            "FACTS §3.4: not yet a process licence on a flow"
        );
        assert_eq!(s.grants.bots, 1);
        assert_eq!(
            price(&c, "power-automate-hosted-process", "2024-06-01"),
            usd("215")
        );
    }
}

#[test]
fn cat_8_legacy_plans_not_purchasable_from_2020_04_01() {
    let c = seed();
    for id in [
        "powerapps-plan-1",
        "powerapps-plan-2",
        "flow-plan-1",
        "flow-plan-2",
    ] {
        let s = sku(&c, id);
        assert_eq!(s.retired_on, Some(day("2020-04-01")), "{id}");
        assert!(
            s.purchasable_on(day("2020-03-31")) && !s.purchasable_on(day("2020-04-01")),
            "{id}"
        );
        assert!(has(&c, id, Capability::LegacyPlan), "ENF-2: {id}");
        assert!(s.successor.is_some(), "{id}");
    }
    // ENT-1 / ENT-4: Plan 2 rights.
    assert!(has(&c, "powerapps-plan-2", Capability::ComplexEntities));
    assert!(has(&c, "powerapps-plan-2", Capability::ModelDrivenApps));
    assert!(has(&c, "flow-plan-2", Capability::ComplexEntities));
    assert!(!has(&c, "powerapps-plan-1", Capability::ComplexEntities));
    assert!(!has(&c, "powerapps-plan-1", Capability::ModelDrivenApps));
    assert!(has(&c, "flow-plan-1", Capability::FlowsPremium));
    assert!(has(&c, "powerapps-plan-1", Capability::AppsPremium));
    // FACTS §3.1: could not be bought after 2020-12-31.
    let c = current();
    for id in [
        "powerapps-plan-1",
        "powerapps-plan-2",
        "flow-plan-1",
        "flow-plan-2",
    ] {
        assert_eq!(sku(&c, id).retired_on, Some(day("2021-01-01")), "{id}");
    }
}

#[test]
fn cat_9_seeded_plans_are_user_scoped_and_never_priced() {
    for c in editions() {
        for id in SEEDED_IDS {
            let s = sku(&c, id);
            assert_eq!((s.kind, s.scope), (Kind::Seeded, Scope::User), "{id}");
            assert!(
                s.prices.is_empty() && s.channels.is_empty() && !s.self_service,
                "{id}"
            );
        }
        for s in c.skus.iter().filter(|s| s.kind == Kind::Seeded) {
            assert!(
                matches!(
                    s.product_line,
                    ProductLine::Microsoft365 | ProductLine::Windows | ProductLine::Dynamics365
                ),
                "{}",
                s.id
            );
        }
        // M365-3 / FLOW-5: standard apps and flows, nothing premium.
        for id in SEEDED_IDS
            .iter()
            .filter(|id| id.starts_with("office-") || id.starts_with("microsoft-"))
        {
            assert!(
                has(&c, id, Capability::FlowsStandard) && has(&c, id, Capability::AppsStandard),
                "{id}"
            );
            assert!(
                !has(&c, id, Capability::FlowsPremium) && !has(&c, id, Capability::AppsPremium),
                "{id}"
            );
        }
        // FLOW-23: Windows 11 runs attended desktop flows only, no cloud flows.
        assert!(has(&c, "windows-11-pro", Capability::WindowsDesktopFlows));
        assert!(!has(&c, "windows-11-pro", Capability::FlowsStandard));
        assert!(has(&c, "windows-10-pro", Capability::WindowsDesktopFlows));
        // D365-1 / D365-2: in context only; D365-3: Team Members get no custom apps or portals.
        assert!(has(
            &c,
            "dynamics-365-sales-enterprise",
            Capability::FlowsD365Context
        ));
        assert!(has(
            &c,
            "dynamics-365-sales-enterprise",
            Capability::AppsD365Context
        ));
        assert!(!has(
            &c,
            "dynamics-365-sales-enterprise",
            Capability::FlowsPremium
        ));
        assert!(!has(&c, "dynamics-365-sales-enterprise", Capability::AppsPremium));
        assert!(has(
            &c,
            "dynamics-365-sales-enterprise",
            Capability::RestrictedEntities
        ));
        let tm = sku(&c, "dynamics-365-team-members").grants.capabilities;
        assert_eq!(
            tm.iter().collect::<Vec<_>>(),
            [Capability::FlowsStandard],
            "D365-3: Team Members give no right to custom apps, standard ones included"
        );
        // ENT-4: Customer Service includes Plan 2 rights.
        assert!(has(
            &c,
            "dynamics-365-customer-service-enterprise",
            Capability::ModelDrivenApps
        ));
        assert!(has(
            &c,
            "dynamics-365-customer-service-enterprise",
            Capability::ComplexEntities
        ));
        // REQ-3: attach licences add nothing and are not base licences.
        for id in [
            "dynamics-365-sales-enterprise-attach",
            "dynamics-365-customer-service-enterprise-attach",
        ] {
            let g = &sku(&c, id).grants;
            assert!(
                g.attach && g.requests_per_24h == 0 && !g.capabilities.has(Capability::D365Base),
                "{id}"
            );
        }
        assert!(has(&c, "dynamics-365-sales-enterprise", Capability::D365Base));
        assert!(!has(&c, "dynamics-365-team-members", Capability::D365Base));
    }
}

#[test]
fn cat_10_trials_last_30_90_30_days_and_cost_nothing() {
    for c in editions() {
        for (id, days, tries) in [
            ("power-apps-trial", 30, "power-apps-per-user"),
            ("power-automate-trial", 90, "power-automate-premium"),
            ("ai-builder-trial", 30, "ai-builder-capacity"),
        ] {
            let s = sku(&c, id);
            assert_eq!(s.kind, Kind::Trial, "{id}");
            assert_eq!(s.trial_days, Some(days), "{id}");
            assert!(s.prices.is_empty(), "{id}: a trial never costs money");
            assert_eq!(s.channels, [Channel::Trial], "{id}");
            assert_eq!(s.successor.as_deref(), Some(tries), "{id}");
            // Trials never consume nor add paid capacity.
            let g = &s.grants;
            assert_eq!(
                (g.database_mb, g.file_mb, g.log_mb, g.ai_credits),
                (0, 0, 0, 0),
                "{id}"
            );
            assert!(!g.tenant_default_capacity, "{id}");
        }
        assert!(has(&c, "power-automate-trial", Capability::FlowsPremium));
        assert!(has(&c, "power-apps-trial", Capability::AppsPremium));
        assert_eq!(c.terms.self_service.admin_trial_days, 90, "BUY-7");
        assert_eq!(c.terms.self_service.trial_units_shown, 10_000, "BUY-7");
    }
}

#[test]
fn cat_11_developer_plan_is_free_with_one_environment_not_for_production() {
    for c in editions() {
        let s = sku(&c, "power-apps-developer");
        assert_eq!(s.kind, Kind::Developer);
        assert!(s.prices.is_empty() && s.channels.is_empty());
        assert!(has(&c, "power-apps-developer", Capability::DeveloperEnvironment));
        assert!(
            !has(&c, "power-apps-developer", Capability::AppsPremium),
            "not for production"
        );
        assert_eq!(s.grants.database_mb, 0);
    }
}

#[test]
fn cat_12_free_plan_grants_nothing() {
    for c in editions() {
        let s = sku(&c, "power-automate-free");
        assert_eq!(s.kind, Kind::Free);
        assert!(s.prices.is_empty());
        assert_eq!(s.grants.capabilities.iter().count(), 0);
        let g = &s.grants;
        assert_eq!(
            (
                g.requests_per_24h,
                g.requests_per_24h_transition,
                g.database_mb,
                g.file_mb,
                g.ai_credits_seeded
            ),
            (0, 0, 0, 0, 0)
        );
    }
}

#[test]
fn cat_13_add_ons_keep_their_figures_and_currency() {
    let c = seed();
    let on = "2020-06-01";
    assert_eq!(price(&c, "portal-logins-tier-1", on), eur("200"));
    assert_eq!(sku(&c, "portal-logins-tier-1").grants.portal_logins, 100);
    assert_eq!(price(&c, "portal-logins-tier-2", on), eur("1000"));
    assert_eq!(sku(&c, "portal-logins-tier-2").grants.portal_logins, 1_000);
    assert_eq!(price(&c, "portal-logins-tier-3", on), eur("3500"));
    assert_eq!(sku(&c, "portal-logins-tier-3").grants.portal_logins, 5_000);
    assert_eq!(
        sku(&c, "portal-logins-tier-3").channels,
        [Channel::Csp],
        "CSP channel only"
    );
    assert_eq!(price(&c, "portal-page-views", on), eur("100"));
    assert_eq!(sku(&c, "portal-page-views").grants.page_views, 100_000);
    assert_eq!(price(&c, "power-platform-requests", on), usd("50"));
    assert_eq!(sku(&c, "power-platform-requests").grants.request_addon, 10_000);
    assert!(has(&c, "power-platform-requests", Capability::RequestAddon));
    assert_eq!(price(&c, "dataverse-database-capacity", on), usd("40"));
    assert_eq!(sku(&c, "dataverse-database-capacity").grants.database_mb, 1_000);
    assert_eq!(price(&c, "dataverse-file-capacity", on), usd("2"));
    assert_eq!(sku(&c, "dataverse-file-capacity").grants.file_mb, 1_000);
    assert_eq!(price(&c, "dataverse-log-capacity", on), usd("10"));
    assert_eq!(sku(&c, "dataverse-log-capacity").grants.log_mb, 1_000);
    assert_eq!(price(&c, "ai-builder-capacity", on), usd("500"));
    assert_eq!(sku(&c, "ai-builder-capacity").grants.ai_credits, 1_000_000);
    assert_eq!(price(&c, "dynamics-365-additional-portal", on), usd("500"));
    // Capacity add-ons pool at tenant level (CAP-4); portal and AI Builder capacity is allocated to environments.
    for id in [
        "dataverse-database-capacity",
        "dataverse-file-capacity",
        "dataverse-log-capacity",
    ] {
        assert_eq!(sku(&c, id).scope, Scope::Tenant, "{id}");
    }
    for id in ["portal-logins-tier-1", "portal-page-views", "ai-builder-capacity"] {
        assert_eq!(sku(&c, id).scope, Scope::Environment, "{id}");
    }
    // Portal allocation minimums (PORTAL-5).
    assert_eq!(c.terms.limits.min_logins_per_portal, 100);
    assert_eq!(c.terms.limits.min_page_views_per_portal, 50_000);
}

#[test]
fn cat_14_consumer_accounts_have_only_the_free_plan() {
    // The catalog's part of CAT-14: exactly one free plan, and it grants nothing a consumer account could misuse;
    // every plan that grants something is paid, seeded, a trial or the developer plan (work or school accounts).
    for c in editions() {
        let free: Vec<&str> = c
            .skus
            .iter()
            .filter(|s| s.kind == Kind::Free)
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(free, ["power-automate-free"]);
        for s in &c.skus {
            if s.kind == Kind::Paid {
                assert!(!s.prices.is_empty(), "{}", s.id);
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------ other rules

#[test]
fn req_3_request_limits_per_licence() {
    let c = seed();
    let limits = |id: &str| {
        let g = &sku(&c, id).grants;
        (g.requests_per_24h, g.requests_per_24h_transition)
    };
    assert_eq!(limits("power-apps-per-user"), (40_000, 100_000), "seed 002");
    assert_eq!(limits("power-apps-per-app"), (6_000, 10_000), "seed 002");
    assert_eq!(limits("power-automate-per-user"), (40_000, 200_000));
    assert_eq!(limits("power-automate-premium"), (40_000, 200_000));
    assert_eq!(limits("office-365-e3"), (6_000, 10_000));
    assert_eq!(limits("microsoft-365-e5"), (6_000, 10_000));
    assert_eq!(limits("dynamics-365-sales-enterprise"), (40_000, 200_000));
    assert_eq!(
        limits("dynamics-365-customer-service-professional"),
        (40_000, 200_000)
    );
    assert_eq!(limits("dynamics-365-team-members"), (6_000, 10_000));
    assert_eq!(limits("power-automate-process"), (250_000, 500_000));
    assert_eq!(limits("power-automate-per-flow"), (250_000, 500_000));
    assert_eq!(limits("dynamics-365-sales-enterprise-attach"), (0, 0));
    // Summed across product lines: Microsoft 365 + D365 Enterprise = 6,000 + 40,000.
    assert_ne!(
        sku(&c, "office-365-e3").product_line,
        sku(&c, "dynamics-365-sales-enterprise").product_line
    );
    assert_eq!(
        limits("office-365-e3").0 + limits("dynamics-365-sales-enterprise").0,
        46_000
    );
}

#[test]
fn req_1_req_2_req_8_request_terms() {
    for c in editions() {
        let r = &c.terms.requests;
        assert_eq!((r.five_minute_cap, r.warn_percent), (100_000, 80));
        let pool = |line: ProductLine| {
            r.nonlicensed_pools
                .iter()
                .find(|p| p.line == line)
                .unwrap_or_else(|| panic!("no pool for {line:?}"))
        };
        let d365 = pool(ProductLine::Dynamics365);
        assert_eq!(
            (d365.base, d365.per_unit, d365.max),
            (500_000, 5_000, Some(10_000_000))
        );
        assert_eq!(pool(ProductLine::PowerApps).base, 25_000);
        assert_eq!(pool(ProductLine::PowerAutomate).base, 25_000);
    }
    assert!(!seed().terms.requests.process_stacking);
    assert!(
        current().terms.requests.process_stacking,
        "FACTS §1.4, newest documents"
    );
}

#[test]
fn cap_2_cap_3_cap_5_capacity_figures() {
    let c = seed();
    let cap = &c.terms.capacity;
    assert_eq!(
        (
            cap.default_database_mb,
            cap.default_file_mb,
            cap.default_log_mb,
            cap.environment_min_database_mb
        ),
        (10_000, 20_000, 2_000, 1_000)
    );
    let accrual = |id: &str| {
        let g = &sku(&c, id).grants;
        (g.database_mb, g.file_mb, g.log_mb)
    };
    assert_eq!(accrual("power-apps-per-app"), (50, 400, 0));
    assert_eq!(accrual("power-apps-per-user"), (250, 2_000, 0));
    assert_eq!(accrual("power-automate-per-user"), (50, 200, 0));
    assert_eq!(accrual("power-automate-premium"), (50, 200, 0));
    assert_eq!(accrual("power-automate-per-flow"), (50, 200, 0));
    // Seed 002's worked example: 10 Premium units give 10 GB + 10 x 50 MB = 10.5 GB.
    assert_eq!(
        cap.default_database_mb + 10 * accrual("power-automate-premium").0,
        10_500
    );
    // CAP-2: the SKUs whose first subscription gives the tenant its default capacity.
    for id in [
        "power-apps-per-app",
        "power-apps-per-user",
        "power-automate-per-user",
        "power-automate-premium",
        "power-automate-process",
        "power-automate-per-flow",
        "dynamics-365-sales-enterprise",
        "dynamics-365-customer-service-enterprise",
        "dynamics-365-field-service",
    ] {
        assert!(sku(&c, id).grants.tenant_default_capacity, "{id}");
    }
    for id in [
        "office-365-e3",
        "dynamics-365-team-members",
        "power-apps-trial",
        "dataverse-database-capacity",
    ] {
        assert!(!sku(&c, id).grants.tenant_default_capacity, "{id}");
    }
}

#[test]
fn ai_builder_seeded_credits_and_cap() {
    for c in editions() {
        assert_eq!(c.terms.limits.ai_seeded_cap, 1_000_000);
        assert_eq!(sku(&c, "power-apps-per-user").grants.ai_credits_seeded, 500);
        for id in [
            "power-automate-premium",
            "power-automate-process",
            "power-automate-hosted-process",
        ] {
            assert_eq!(sku(&c, id).grants.ai_credits_seeded, 5_000, "{id}");
        }
        // FACTS conformance case 29: 1 add-on + 5 Premium = 1,025,000 credits.
        let total = sku(&c, "ai-builder-capacity").grants.ai_credits
            + 5 * sku(&c, "power-automate-premium").grants.ai_credits_seeded;
        assert_eq!(total, 1_025_000);
    }
}

#[test]
fn enf_2_enforcement_table() {
    for c in editions() {
        assert_eq!(c.terms.enforcement.maker_after_days, 30);
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
            let row = c.enforcement(kind).unwrap_or_else(|| panic!("no row {kind}"));
            assert_eq!(
                (row.admin_notice, row.maker_notice, row.grace_days, row.turn_off),
                (day(admin), day(maker), grace, day(off)),
                "{kind}"
            );
        }
    }
}

#[test]
fn buy_1_self_service_products_and_countries() {
    for c in editions() {
        let offered: Vec<&str> = c
            .skus
            .iter()
            .filter(|s| s.self_service)
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(
            offered,
            [
                "power-apps-per-user",
                "power-automate-premium",
                "power-automate-per-user",
                "power-automate-per-user-attended-rpa"
            ]
        );
        for s in c.skus.iter().filter(|s| s.self_service) {
            assert!(s.channels.contains(&Channel::SelfService), "{}", s.id);
            assert_eq!(s.scope, Scope::User, "{}", s.id);
            assert!(matches!(
                s.product_line,
                ProductLine::PowerApps | ProductLine::PowerAutomate
            ));
        }
        let countries = &c.terms.self_service.countries;
        for code in ["NL", "US", "GB", "DE", "FR", "SE", "RO", "BE", "JP", "XK"] {
            assert!(
                countries.iter().any(|x| x == code),
                "{code} is on the seed 003 list"
            );
        }
        assert!(!countries.iter().any(|c| c == "IN"), "India is not on the list");
        assert!(
            countries
                .iter()
                .all(|x| x.len() == 2 && x.chars().all(|ch| ch.is_ascii_uppercase()))
        );
        assert_eq!(countries.len(), 243);
        assert!(
            c.terms
                .self_service
                .excluded_segments
                .iter()
                .any(|s| s == "government")
        );
        assert!(
            c.terms
                .self_service
                .excluded_segments
                .iter()
                .any(|s| s == "education")
        );
    }
    assert!(
        seed()
            .terms
            .self_service
            .excluded_segments
            .iter()
            .any(|s| s == "nonprofit")
    );
}

#[test]
fn flow_22_and_terms_dates() {
    for c in editions() {
        assert_eq!(c.terms.limits.non_interactive_max, 7);
        assert_eq!(c.terms.reclassification_date, day("2019-10-01"));
        assert_eq!(c.terms.grandfather_created_before, day("2019-10-01"));
        assert_eq!(c.terms.grandfather_until, day("2024-10-01"));
    }
}

// ------------------------------------------------------------------------------------------------ connectors

#[test]
fn m365_1_reclassified_connectors_are_premium_from_2019_10_01() {
    for c in editions() {
        assert!(c.connectors.len() >= 60, "only {} connectors", c.connectors.len());
        for id in M365_1_CONNECTORS {
            let conn = c.connector(id).unwrap_or_else(|| panic!("no connector {id}"));
            assert!(conn.reclassified, "{id}");
            assert_eq!(conn.tier_on(day("2019-09-30")), Tier::Standard, "{id}");
            assert_eq!(conn.tier_on(day("2019-10-01")), Tier::Premium, "{id}");
            assert_eq!(conn.tier_on(day("2024-06-01")), Tier::Premium, "{id}");
        }
        // And nothing else is marked reclassified.
        let reclassified: HashSet<&str> = c
            .connectors
            .iter()
            .filter(|k| k.reclassified)
            .map(|k| k.id.as_str())
            .collect();
        for id in &reclassified {
            let conn = c.connector(id).expect("listed");
            assert_eq!(conn.tier_on(day("2019-10-01")), Tier::Premium, "{id}");
        }
        for id in M365_1_CONNECTORS {
            assert!(reclassified.contains(id));
        }
        for id in [
            "shared_dynamicscrmonline",
            "shared_dynamicsax",
            "shared_customerinsights",
            "shared_assistantstudio",
            "shared_dynamicssmbsaas",
            "shared_dynamicssmbonprem",
            "shared_dynamicsnavision",
        ] {
            assert!(c.connector(id).expect("listed").dynamics, "FLOW-10: {id}");
        }
    }
}

#[test]
fn connectors_by_api_name_have_their_tiers() {
    for c in editions() {
        let tier = |id: &str| {
            c.connector(id)
                .unwrap_or_else(|| panic!("no connector {id}"))
                .tier_on(day("2024-06-01"))
        };
        for id in [
            "shared_sharepointonline",
            "shared_office365",
            "shared_office365users",
            "shared_teams",
            "shared_onedriveforbusiness",
            "shared_excelonlinebusiness",
            "shared_approvals",
            "shared_planner",
            "shared_outlook",
            "shared_rss",
            "shared_microsoftforms",
            "shared_flowpush",
            "shared_powerbi",
            "shared_twilio",
            "shared_smtp",
            "shared_slack",
        ] {
            assert_eq!(tier(id), Tier::Standard, "{id}");
        }
        for id in [
            "shared_commondataserviceforapps",
            "shared_salesforce",
            "shared_servicenow",
            "http",
            "shared_http",
            "shared_uiflow",
            "shared_oracle",
            "shared_saperp",
            "shared_azuread",
            "shared_wordonlinebusiness",
        ] {
            assert_eq!(tier(id), Tier::Premium, "{id}");
        }
        let dataverse = c.connector("shared_commondataserviceforapps").expect("listed");
        assert!(dataverse.dataverse && !dataverse.reclassified);
        for k in &c.connectors {
            assert!(
                k.id == "http" || k.id.starts_with("shared_"),
                "{} is not an API name",
                k.id
            );
        }
    }
}

// ------------------------------------------------------------------------------------------------ editions

#[test]
fn editions_differ_where_facts_says() {
    let (s, c) = (seed(), current());
    let on = "2024-06-01";
    // Per app: 2 apps + 1 portal at 10 USD, then one app or website at 5 USD.
    assert_eq!(price(&s, "power-apps-per-app", on), usd("10"));
    assert_eq!(price(&c, "power-apps-per-app", on), usd("5"));
    assert_eq!(sku(&s, "power-apps-per-app").grants.apps_per_unit, 2);
    assert_eq!(sku(&c, "power-apps-per-app").grants.apps_per_unit, 1);
    // Power Apps Premium 40 -> 20 USD.
    assert_eq!(price(&s, "power-apps-per-user", on), usd("40"));
    assert_eq!(price(&c, "power-apps-per-user", on), usd("20"));
    // Power Automate Premium accrual: 50 MB / 200 MB (seed 002), 250 MB / 2 GB (FACTS §2.1).
    let premium = |cat: &Catalog| {
        let g = &sku(cat, "power-automate-premium").grants;
        (g.database_mb, g.file_mb)
    };
    assert_eq!(premium(&s), (50, 200));
    assert_eq!(premium(&c), (250, 2_000));
    // FACTS conformance case 33: 10 Premium -> 10.5 GB, or 12.5 GB with the 2025 accrual.
    assert_eq!(c.terms.capacity.default_database_mb + 10 * premium(&c).0, 12_500);
    // Request add-on: 10,000 (seed 000), 50,000 (FACTS §1.9).
    assert_eq!(sku(&s, "power-platform-requests").grants.request_addon, 10_000);
    assert_eq!(sku(&c, "power-platform-requests").grants.request_addon, 50_000);
    // Power Apps per user transition limit: 100,000 (seed 002), 200,000 (FACTS §1.7).
    assert_eq!(
        sku(&s, "power-apps-per-user").grants.requests_per_24h_transition,
        100_000
    );
    assert_eq!(
        sku(&c, "power-apps-per-user").grants.requests_per_24h_transition,
        200_000
    );
    // Seeded AI Builder credits of a per-app licence: none for licences of the seed era (FACTS §7.2).
    assert_eq!(sku(&s, "power-apps-per-app").grants.ai_credits_seeded, 0);
    assert_eq!(sku(&c, "power-apps-per-app").grants.ai_credits_seeded, 250);
    // Portal add-ons: EUR in the seed table, USD and retired 2023-04-01 today.
    assert_eq!(price(&s, "portal-logins-tier-1", on), eur("200"));
    assert_eq!(price(&c, "portal-logins-tier-1", on), usd("200"));
    assert!(sku(&s, "portal-logins-tier-1").purchasable_on(day(on)));
    assert!(!sku(&c, "portal-logins-tier-1").purchasable_on(day(on)));
    // Legacy P1/P2: 2020-04-01 (seed 000) or 2021-01-01 (FACTS §3.1).
    assert!(!sku(&s, "powerapps-plan-2").purchasable_on(day("2020-06-01")));
    assert!(sku(&c, "powerapps-plan-2").purchasable_on(day("2020-06-01")));
    // AI Builder capacity: no new customers from 2026-11-01 (FACTS §7.2).
    assert!(sku(&s, "ai-builder-capacity").purchasable_on(day("2026-12-01")));
    assert!(!sku(&c, "ai-builder-capacity").purchasable_on(day("2026-12-01")));
}

#[test]
fn cheapest_granting_follows_the_dates() {
    let c = current();
    let best = |cap: Capability, on: &str| {
        c.cheapest_granting(cap, day(on))
            .map(|(_, s)| s.id.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        best(Capability::AppsPerApp, "2021-09-30"),
        "power-apps-per-app-legacy"
    );
    assert_eq!(best(Capability::AppsPerApp, "2024-06-01"), "power-apps-per-app");
    assert_eq!(best(Capability::AppsPremium, "2024-06-01"), "power-apps-per-user");
    assert_eq!(
        best(Capability::UnattendedBot, "2024-01-31"),
        "power-automate-unattended-rpa"
    );
    assert_eq!(
        best(Capability::UnattendedBot, "2024-06-01"),
        "power-automate-hosted-process"
    );
    assert_eq!(
        best(Capability::RequestAddon, "2024-06-01"),
        "power-platform-requests"
    );
    assert_eq!(
        best(Capability::AttendedRpa, "2024-06-01"),
        "power-automate-premium"
    );
    assert_eq!(
        best(Capability::PerFlow, "2024-06-01"),
        "",
        "per flow is no longer sold"
    );
    // Seeded, trial and free plans are never offered as a purchase.
    assert_eq!(best(Capability::FlowsD365Context, "2024-06-01"), "");
    assert_eq!(best(Capability::DeveloperEnvironment, "2024-06-01"), "");
}

#[test]
fn capabilities_are_consistent() {
    for c in editions() {
        for s in &c.skus {
            let caps = s.grants.capabilities;
            if caps.has(Capability::FlowsPremium) || caps.has(Capability::AppsPremium) {
                assert!(
                    caps.has(Capability::FlowsStandard),
                    "{}: premium without standard flows",
                    s.id
                );
            }
            if caps.has(Capability::AppsPremium) {
                assert!(caps.has(Capability::AppsStandard), "{}", s.id);
            }
            if caps.has(Capability::AppsPerApp) {
                assert!(s.grants.apps_per_unit > 0, "{}", s.id);
            }
            if s.grants.apps_per_unit > 0 || s.grants.portals_per_unit > 0 {
                assert!(caps.has(Capability::AppsPerApp), "{}", s.id);
            }
            if caps.has(Capability::Process) || caps.has(Capability::UnattendedBot) {
                assert_eq!(s.grants.bots, 1, "{}", s.id);
                assert_ne!(
                    s.scope,
                    Scope::User,
                    "{}: capacity licences are not user licences",
                    s.id
                );
            }
            if caps.has(Capability::RequestAddon) {
                assert!(s.grants.request_addon > 0, "{}", s.id);
            }
            if caps.has(Capability::LegacyPlan) {
                assert!(s.retired_on.is_some(), "{}", s.id);
            }
            if s.grants.attach {
                assert_eq!(s.product_line, ProductLine::Dynamics365, "{}", s.id);
            }
            if s.trial_days.is_some() {
                assert_eq!(s.kind, Kind::Trial, "{}", s.id);
            }
        }
    }
}

#[test]
fn graph_sku_ids_part_numbers_and_names_find_the_sku() {
    for catalog in editions() {
        let id = |key: &str| {
            catalog
                .sku_by_graph(key)
                .and_then(|i| catalog.sku(i))
                .map(|s| s.id.as_str())
        };
        assert_eq!(
            id("EDA1941C-3C4F-4995-B5EB-E85A42175AB9"),
            Some("power-automate-premium")
        );
        assert_eq!(id("POWERAUTOMATE_ATTENDED_RPA"), Some("power-automate-premium"));
        assert_eq!(id(" Office 365 E3 "), Some("office-365-e3"));
        assert_eq!(id("46c3a859-c90d-40b3-9551-6178a48d5c18"), Some("office-365-e3"));
        assert_eq!(id("FLOW_PER_USER_DEPT"), Some("power-automate-per-user"));
        assert_eq!(id("VISIOCLIENT"), None);
        // The deciding plans: Power Automate Premium's right is the POWER_AUTOMATE_ATTENDED_RPA plan.
        let premium = sku(&catalog, "power-automate-premium");
        assert_eq!(
            premium.service_plans,
            vec!["375cd0ad-c407-49fd-866a-0bff4f8a9a4d"]
        );
        // Every Graph id is a lower-case GUID.
        for s in &catalog.skus {
            for g in &s.graph_skus {
                assert_eq!(g.id, g.id.to_ascii_lowercase(), "{}", s.id);
                assert_eq!(g.id.len(), 36, "{}", s.id);
            }
        }
    }
}
