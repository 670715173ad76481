//! Synthetic tenants of any size, for load and scale tests (`entitle generate`). Deterministic: the same sizes
//! and seed give the same scenario, so a benchmark can be reproduced anywhere.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::scenario::{
    App, AppKind, Environment, Feature, Flow, FlowLicense, Scenario, Subscription, Tenant, Trigger, User,
    UserKind,
};

/// splitmix64: a tiny, well-known generator; statistical quality is irrelevant here, reproducibility is not.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        let i = usize::try_from(self.below(items.len() as u64)).unwrap_or(0);
        items.get(i).copied().unwrap_or("")
    }
}

const LICENCE_MIXES: &[&[&str]] = &[
    &["office-365-e3"],
    &["office-365-e3", "power-automate-per-user"],
    &["microsoft-365-e5", "power-apps-per-user"],
    &["office-365-e1"],
    &["office-365-e3", "power-apps-per-app"],
    &["dynamics-365-customer-service-enterprise"],
    &["office-365-e3", "power-automate-premium"],
    &[],
];
const STANDARD: &[&str] = &[
    "shared_sharepointonline",
    "shared_office365",
    "shared_teams",
    "shared_approvals",
];
const PREMIUM: &[&str] = &[
    "shared_sql",
    "shared_commondataserviceforapps",
    "shared_salesforce",
    "shared_servicenow",
];

/// A tenant with `flows` flows, `users` users and `environments` environments.
pub fn synthetic(flows: u32, users: u32, environments: u32, seed: u64) -> Scenario {
    let mut rng = Rng(seed);
    let users = users.max(2);
    let environments = environments.max(1);
    let env_id = |i: u64| {
        if i == 0 {
            "default".to_owned()
        } else {
            format!("env-{i}")
        }
    };
    let mut scenario = Scenario {
        version: Some(1),
        tenant: Tenant {
            id: format!("synthetic-{seed}"),
            country: Some("NL".to_owned()),
            at: NaiveDate::from_ymd_opt(2024, 6, 1),
            ..Tenant::default()
        },
        ..Scenario::default()
    };
    let process_per_env = 3u64;
    scenario.subscriptions.push(Subscription {
        sku: "power-automate-process".to_owned(),
        quantity: u32::try_from(process_per_env * u64::from(environments)).unwrap_or(u32::MAX),
        ..Subscription::default()
    });
    for i in 0..u64::from(environments) {
        let mut allocations = BTreeMap::new();
        allocations.insert("power-automate-process".to_owned(), process_per_env);
        scenario.environments.push(Environment {
            id: env_id(i),
            default: i == 0,
            dataverse: true,
            dynamics_apps: if i % 10 == 3 {
                vec!["customer-service".to_owned()]
            } else {
                Vec::new()
            },
            allocations,
            ..Environment::default()
        });
    }
    for i in 0..users {
        let kind = match i % 97 {
            0 => UserKind::ServicePrincipal,
            1 => UserKind::Guest,
            _ => UserKind::Member,
        };
        let mix = LICENCE_MIXES
            .get(usize::try_from(rng.below(LICENCE_MIXES.len() as u64)).unwrap_or(0))
            .copied()
            .unwrap_or(&[]);
        scenario.users.push(User {
            id: format!("user-{i}"),
            kind,
            licenses: if kind == UserKind::ServicePrincipal {
                Vec::new()
            } else {
                mix.iter().map(|s| (*s).to_owned()).collect()
            },
            left: if i % 53 == 7 {
                NaiveDate::from_ymd_opt(2024, 2, 1)
            } else {
                None
            },
            ..User::default()
        });
    }
    let apps = (flows / 20).max(1);
    for i in 0..apps {
        let env = rng.below(u64::from(environments));
        scenario.apps.push(App {
            id: format!("app-{i}"),
            environment: env_id(env),
            kind: if i % 5 == 0 {
                AppKind::ModelDriven
            } else {
                AppKind::Canvas
            },
            connectors: vec![rng.pick(PREMIUM).to_owned()],
            ..App::default()
        });
    }
    for i in 0..flows {
        let env = rng.below(u64::from(environments));
        let trigger = match rng.below(3) {
            0 => Trigger::Automated,
            1 => Trigger::Scheduled,
            _ => Trigger::Instant,
        };
        let mut connectors = vec![rng.pick(STANDARD).to_owned()];
        if rng.below(3) == 0 {
            connectors.push(rng.pick(PREMIUM).to_owned());
        }
        let owner = format!("user-{}", rng.below(u64::from(users)));
        let run_by = if trigger == Trigger::Instant {
            (0..rng.below(3))
                .map(|_| format!("user-{}", rng.below(u64::from(users))))
                .collect()
        } else {
            Vec::new()
        };
        // Child flows point at an earlier flow of the same environment when one is at hand.
        let parent = if i > 10 && rng.below(10) == 0 {
            let p = rng.below(u64::from(i));
            scenario
                .flows
                .get(usize::try_from(p).unwrap_or(0))
                .filter(|f| f.environment == env_id(env))
                .map(|f| f.id.clone())
        } else {
            None
        };
        scenario.flows.push(Flow {
            id: format!("flow-{i}"),
            environment: env_id(env),
            trigger,
            owner,
            connectors,
            features: if rng.below(50) == 0 {
                vec![Feature::Gateway]
            } else {
                Vec::new()
            },
            license: if rng.below(200) == 0 {
                FlowLicense::Process
            } else {
                FlowLicense::User
            },
            solution: Some(format!("solution-{}", i % 40)),
            created: NaiveDate::from_ymd_opt(
                2020 + i32::try_from(i % 4).unwrap_or(0),
                1 + (i % 12),
                1 + (i % 28),
            ),
            run_by,
            parent,
            ..Flow::default()
        });
    }
    scenario
}
