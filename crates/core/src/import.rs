//! Importing admin exports into a scenario.
//!
//! An admin hands entitle what the tools give them (PowerShell `Get-Admin*` via `ConvertTo-Json` or
//! `Export-Csv`, Microsoft Graph `/users` and `/subscribedSkus`, the admin center's licence CSV, the CoE Starter
//! Kit's tables, the inventory and licensing APIs). Each file is read by [`read_export`] (bytes → typed rows, its
//! kind told from its properties or headers), then [`assemble`] joins the rows on GUIDs (never on names) into a
//! [`Scenario`], listing every value it had to guess and everything it could not place, by name and count.
//! [`Imported::to_toml`] writes the scenario with a `# guessed: …` comment beside each guess.
//!
//! Decisions stay where they are: the importer only says who holds which licence (from service plans, not SKU
//! names), what each flow uses and where things are. Licensing questions are answered by the audit afterwards.

pub mod exports;
pub mod read;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::NaiveDate;
use serde::Serialize;

use crate::catalog::{Catalog, Kind, Scope};
use crate::scenario::{
    App, AppKind, Environment, EnvironmentKind, Feature, Flow, PurchaseChannel, Scenario, Storage,
    Subscription, Tenant, Trigger, User, UserKind,
};
use exports::{AllocRow, AppRow, CapRow, ConnRow, EnvRow, FlowRow, FlowState, SkuRow, UserRow};
pub use exports::{AtRiskRow, ExportKind};

/// A malformed export: the file, where in it (`line` for CSV, `record N` or `line:column` for JSON), the field
/// and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ImportError {
    pub file: String,
    pub at: Option<String>,
    pub field: Option<String>,
    pub message: String,
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(at) = &self.at {
            write!(f, ":{at}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// One file, read.
#[derive(Debug, Default)]
pub struct Export {
    pub file: String,
    pub kind: Option<ExportKind>,
    pub records: usize,
    flows: Vec<FlowRow>,
    apps: Vec<AppRow>,
    environments: Vec<EnvRow>,
    users: Vec<UserRow>,
    skus: Vec<SkuRow>,
    allocations: Vec<AllocRow>,
    capacity: Vec<CapRow>,
    at_risk: Vec<AtRiskRow>,
    connectors: Vec<ConnRow>,
    /// Flows of this file carry no connector information (the tenant-wide `Get-AdminFlow` list since module
    /// 2.0.166, the inventory API).
    thin: bool,
}

impl Export {
    /// The rows of `Get-AdminFlowAtRiskOfSuspension`, to compare with the audit.
    pub fn at_risk(&self) -> &[AtRiskRow] {
        &self.at_risk
    }
}

/// Records are converted in chunks of this many: memory stays bounded by the rows, not the JSON document.
const CHUNK: usize = 1024;

/// Reads one export file: decodes it, tells its kind from its content (`hint` is the flag it was given with,
/// used only when the content says nothing), and parses its records. `index` numbers the file among the others.
pub fn read_export(
    file: &str,
    bytes: &[u8],
    hint: Option<ExportKind>,
    index: usize,
) -> Result<Export, ImportError> {
    let text = read::decode(bytes);
    let mut e = Export {
        file: file.to_owned(),
        ..Export::default()
    };
    let mut detected = false;
    if read::is_json(&text) {
        let mut chunk = Vec::with_capacity(CHUNK);
        let top = read::json_stream(file, &text, |rec| {
            chunk.push(rec);
            if chunk.len() >= CHUNK {
                e.absorb(std::mem::take(&mut chunk), hint, index, &mut detected)?;
            }
            Ok(())
        })?;
        e.absorb(chunk, hint, index, &mut detected)?;
        if let Some(obj) = top {
            if let Some(k) = exports::detect_top(&obj) {
                e.kind = Some(k);
                detected = true;
            }
            let rec = read::Rec {
                loc: read::Loc::Record(1),
                obj,
            };
            e.absorb(vec![rec], hint, index, &mut detected)?;
        }
    } else if let read::Parsed::Csv { rows, .. } = read::parse(file, &text)? {
        e.absorb(rows, hint, index, &mut detected)?;
    }
    if matches!(
        e.kind,
        Some(ExportKind::Flows | ExportKind::CoeFlows | ExportKind::Inventory)
    ) {
        e.thin = !e.flows.is_empty() && e.flows.iter().all(|f| f.connectors.is_none());
    }
    if e.kind == Some(ExportKind::Capacity) {
        e.records = e.capacity.len();
    }
    Ok(e)
}

impl Export {
    /// Converts a chunk of records: the first chunk decides the kind.
    fn absorb(
        &mut self,
        records: Vec<read::Rec>,
        hint: Option<ExportKind>,
        index: usize,
        detected: &mut bool,
    ) -> Result<(), ImportError> {
        if records.is_empty() {
            return Ok(());
        }
        if !*detected {
            self.kind = exports::detect(&records).or(hint);
            *detected = true;
        }
        let file = self.file.as_str();
        let Some(kind) = self.kind else {
            return Err(ImportError {
                file: file.to_owned(),
                at: None,
                field: None,
                message: "not an export entitle knows (see docs/import.md for the exports and their fields)"
                    .to_owned(),
            });
        };
        self.records += records.len();
        match kind {
            ExportKind::Flows => self.flows.extend(exports::flows(file, index, &records)?),
            ExportKind::CoeFlows => self.flows.extend(exports::coe_flows(file, index, &records)?),
            ExportKind::Apps => self.apps.extend(exports::apps(file, &records)?),
            ExportKind::Environments => self.environments.extend(exports::environments(file, &records)?),
            ExportKind::Users => self.users.extend(exports::users(file, &records)?),
            ExportKind::Skus => self.skus.extend(exports::skus(file, &records)?),
            ExportKind::Allocations => self.allocations.extend(exports::allocations(file, &records)?),
            ExportKind::Capacity => self.capacity.extend(exports::capacity(file, &records)?),
            ExportKind::AtRisk => self.at_risk.extend(exports::at_risk(file, &records)?),
            ExportKind::Connectors => self.connectors.extend(exports::connectors(file, &records)?),
            ExportKind::Inventory => {
                let (f, a, v) = exports::inventory(file, index, &records)?;
                self.flows.extend(f);
                self.apps.extend(a);
                self.environments.extend(v);
            }
        }
        Ok(())
    }
}

/// A value the importer had to guess, and why: written as a `# guessed: …` comment beside it.
#[derive(Debug, Clone, Serialize)]
pub struct Guess {
    /// `tenant`, `users`, `environments`, `apps`, `flows` or `subscriptions`.
    pub section: &'static str,
    /// Position in the section (none for `tenant`).
    pub index: Option<usize>,
    pub note: String,
}

/// What an import could not place or had to guess, by name and count. Nothing is dropped without a line here.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Each file: its kind and record count.
    pub files: Vec<FileSummary>,
    pub users: usize,
    pub environments: usize,
    pub apps: usize,
    pub flows: usize,
    pub subscriptions: usize,
    /// Graph SKUs not in the catalog: skuId (with part number when known) → users holding it (or units bought).
    pub unknown_skus: BTreeMap<String, usize>,
    /// Admin-center product names that are not English catalog names (localized or unknown) → users.
    pub unknown_product_names: BTreeMap<String, usize>,
    /// Connectors not in the catalog's connector table → flows and apps using them (treated as premium).
    pub unknown_connectors: BTreeMap<String, usize>,
    /// Custom connectors → flows and apps using them (premium, FLOW-4).
    pub custom_connectors: BTreeMap<String, usize>,
    /// Owners (object ids) missing from the user export → flows and apps they own.
    pub missing_owners: BTreeMap<String, usize>,
    /// Environments named by flows, apps or allocations but missing from the environment export → items.
    pub missing_environments: BTreeMap<String, usize>,
    /// Flows whose connectors are unknown because only a thin list (tenant-wide `Get-AdminFlow`, inventory API)
    /// described them, per file.
    pub flows_without_connectors: BTreeMap<String, usize>,
    /// Flows without an owner in the export.
    pub flows_without_owner: usize,
    /// Suspended flows (kept, enabled, so that the audit says what they need).
    pub suspended_flows: usize,
    /// Licences assigned whose Power Platform service plans are all disabled (user → SKU): no right imported.
    pub plans_disabled: Vec<String>,
    /// Allocations and units the scenario format cannot hold, with what they are.
    pub not_modelled: Vec<String>,
    /// Allocation currency types entitle does not know → environments.
    pub unknown_currencies: BTreeMap<String, usize>,
    /// Capacity pools from `tenantCapacity` (type → "consumed of total MB").
    pub capacity: BTreeMap<String, String>,
    /// Other things to know, one sentence each.
    pub warnings: Vec<String>,
    /// Microsoft's at-risk verdicts that entitle's audit does not share, and the reverse (filled by the caller
    /// after the audit).
    pub at_risk_disagreements: Vec<String>,
}

/// One file in the summary.
#[derive(Debug, Clone, Serialize)]
pub struct FileSummary {
    pub file: String,
    pub kind: Option<ExportKind>,
    pub records: usize,
}

/// The imported scenario with its guesses and summary.
#[derive(Debug, Clone)]
pub struct Imported {
    pub scenario: Scenario,
    pub guesses: Vec<Guess>,
    /// Names for people, written as comments above an item (`# Alice Jones <alice@contoso.com>`).
    pub labels: Vec<Guess>,
    pub summary: Summary,
    /// Microsoft's at-risk rows, for the caller's comparison with the audit.
    pub at_risk: Vec<AtRiskRow>,
}

/// Allocation currency types (licensing API) → catalog SKU (environment- or flow-scoped).
const CURRENCIES: &[(&str, &str)] = &[
    ("PowerAutomatePerProcess", "power-automate-process"),
    ("PerFlowPlan", "power-automate-per-flow"),
    ("PAUnattendedRPA", "power-automate-unattended-rpa"),
    ("PAHostedRPA", "power-automate-hosted-process"),
    ("AI", "ai-builder-capacity"),
    ("PortalLogins", "portal-logins-tier-1"),
    ("PortalViews", "portal-page-views"),
];

/// Joins the rows of all files into one scenario as of `at`. `tenant` overrides the tenant id found in the
/// exports.
pub fn assemble(exports: &[Export], catalog: &Catalog, at: NaiveDate, tenant: Option<&str>) -> Imported {
    let mut b = Builder {
        catalog,
        at,
        s: Scenario {
            version: Some(crate::scenario::SCENARIO_VERSION),
            ..Scenario::default()
        },
        guesses: Vec::new(),
        labels: Vec::new(),
        sum: Summary::default(),
        users: HashMap::new(),
        envs: HashMap::new(),
        placeholder_envs: HashSet::new(),
        placeholder_users: HashSet::new(),
    };
    for e in exports {
        b.sum.files.push(FileSummary {
            file: e.file.clone(),
            kind: e.kind,
            records: e.records,
        });
    }
    let conn_list: HashMap<&str, &ConnRow> = exports
        .iter()
        .flat_map(|e| &e.connectors)
        .map(|c| (c.id.as_str(), c))
        .collect();
    b.tenant(exports, tenant);
    b.environments(exports);
    let user_export = exports.iter().any(|e| e.kind == Some(ExportKind::Users));
    let skus: HashMap<&str, &SkuRow> = exports
        .iter()
        .flat_map(|e| &e.skus)
        .map(|s| (s.sku_id.as_str(), s))
        .collect();
    b.users(exports, &skus);
    b.subscriptions(exports);
    b.allocations(exports);
    b.capacity(exports);
    b.apps(exports, user_export, &conn_list);
    b.flows(exports, user_export, &conn_list);
    b.default_environment();
    let at_risk = exports.iter().flat_map(|e| e.at_risk.iter().cloned()).collect();
    let mut sum = b.sum;
    sum.users = b.s.users.len();
    sum.environments = b.s.environments.len();
    sum.apps = b.s.apps.len();
    sum.flows = b.s.flows.len();
    sum.subscriptions = b.s.subscriptions.len();
    Imported {
        scenario: b.s,
        guesses: b.guesses,
        labels: b.labels,
        summary: sum,
        at_risk,
    }
}

struct Builder<'c> {
    catalog: &'c Catalog,
    at: NaiveDate,
    s: Scenario,
    guesses: Vec<Guess>,
    labels: Vec<Guess>,
    sum: Summary,
    /// User object id → index in `s.users`.
    users: HashMap<String, usize>,
    /// Environment id → index in `s.environments`.
    envs: HashMap<String, usize>,
    /// Environments and users added because an item names them and no export lists them.
    placeholder_envs: HashSet<String>,
    placeholder_users: HashSet<String>,
}

impl Builder<'_> {
    fn guess(&mut self, section: &'static str, index: Option<usize>, note: impl Into<String>) {
        self.guesses.push(Guess {
            section,
            index,
            note: note.into(),
        });
    }

    fn label(&mut self, section: &'static str, index: usize, note: String) {
        self.labels.push(Guess {
            section,
            index: Some(index),
            note,
        });
    }

    fn tenant(&mut self, exports: &[Export], given: Option<&str>) {
        let from_env = exports
            .iter()
            .flat_map(|e| &e.environments)
            .chain(std::iter::empty())
            .find_map(|e| e.id.strip_prefix("Default-").map(str::to_owned));
        let from_flow_env = exports
            .iter()
            .flat_map(|e| &e.flows)
            .find_map(|f| f.environment.strip_prefix("Default-").map(str::to_owned));
        let from_sku = exports
            .iter()
            .flat_map(|e| &e.skus)
            .find_map(|s| s.tenant.clone());
        let from_creator = exports
            .iter()
            .flat_map(|e| &e.flows)
            .find_map(|f| f.tenant.clone());
        let found = from_env.or(from_flow_env).or(from_sku).or(from_creator);
        let id = match (given, found) {
            (Some(g), _) => g.to_owned(),
            (None, Some(f)) => f,
            (None, None) => {
                self.guess("tenant", None, "no export names the tenant; give --tenant ID");
                "imported-tenant".to_owned()
            }
        };
        self.s.tenant = Tenant {
            id,
            at: Some(self.at),
            ..Tenant::default()
        };
        self.guess(
            "tenant",
            None,
            "`at` is the day of the import (the exports' as-of day); `--at` overrides it",
        );
    }

    fn env_kind(kind: Option<&str>) -> Option<EnvironmentKind> {
        let k = kind?.to_ascii_lowercase();
        Some(match k.as_str() {
            "production" | "default" => EnvironmentKind::Production,
            "sandbox" => EnvironmentKind::Sandbox,
            "trial" | "subscriptionbasedtrial" => EnvironmentKind::Trial,
            "developer" => EnvironmentKind::Developer,
            k if k.contains("teams") => EnvironmentKind::Teams,
            _ => return None,
        })
    }

    fn environments(&mut self, exports: &[Export]) {
        for r in exports.iter().flat_map(|e| &e.environments) {
            if self.envs.contains_key(&r.id) {
                continue;
            }
            let i = self.s.environments.len();
            let kind = Self::env_kind(r.kind.as_deref());
            if kind.is_none() {
                self.guess(
                    "environments",
                    Some(i),
                    format!(
                        "type `{}` unknown: production assumed (CAP-1)",
                        r.kind.as_deref().unwrap_or("none")
                    ),
                );
            }
            let dataverse = r.dataverse.unwrap_or(r.default);
            if r.dataverse.is_none() && !r.default {
                self.guess(
                    "environments",
                    Some(i),
                    "the export does not say whether it has Dataverse: none assumed",
                );
            }
            let mut label = r.name.clone().unwrap_or_default();
            if r.managed == Some(true) {
                label.push_str(" (Managed Environment)");
            }
            if !label.is_empty() {
                self.label("environments", i, label);
            }
            self.s.environments.push(Environment {
                id: r.id.clone(),
                default: r.default && !self.s.environments.iter().any(|e| e.default),
                // CAP-5: the default environment always has a database.
                dataverse: dataverse || r.default,
                kind: kind.unwrap_or_default(),
                ..Environment::default()
            });
            self.envs.insert(r.id.clone(), i);
        }
    }

    /// The environment an item names; a placeholder (guessed, reported) when the environment export lacks it.
    fn env(&mut self, id: &str) -> String {
        if !self.envs.contains_key(id) {
            let i = self.s.environments.len();
            let default = id.starts_with("Default-") && !self.s.environments.iter().any(|e| e.default);
            self.s.environments.push(Environment {
                id: id.to_owned(),
                default,
                dataverse: default,
                ..Environment::default()
            });
            self.envs.insert(id.to_owned(), i);
            self.placeholder_envs.insert(id.to_owned());
            self.guess(
                "environments",
                Some(i),
                "not in the environment export: a production environment without Dataverse assumed",
            );
        }
        if self.placeholder_envs.contains(id) {
            *self.sum.missing_environments.entry(id.to_owned()).or_default() += 1;
        }
        id.to_owned()
    }

    fn default_environment(&mut self) {
        if self.s.environments.is_empty() || self.s.environments.iter().any(|e| e.default) {
            return;
        }
        let id = format!("Default-{}", self.s.tenant.id);
        let i = self.s.environments.len();
        self.s.environments.push(Environment {
            id: id.clone(),
            default: true,
            dataverse: true,
            ..Environment::default()
        });
        self.envs.insert(id, i);
        self.guess(
            "environments",
            Some(i),
            "no export named the default environment: added, because a tenant has exactly one",
        );
    }

    fn users(&mut self, exports: &[Export], skus: &HashMap<&str, &SkuRow>) {
        let mut skipped_scope: BTreeMap<String, usize> = BTreeMap::new();
        for r in exports.iter().flat_map(|e| &e.users) {
            if self.users.contains_key(&r.id) {
                continue;
            }
            let i = self.s.users.len();
            let mut licenses = Vec::new();
            for a in &r.licenses {
                let Some(idx) = self.catalog.sku_by_graph(&a.sku_id) else {
                    let part = skus
                        .get(a.sku_id.as_str())
                        .and_then(|s| s.part_number.clone())
                        .map(|p| format!(" ({p})"))
                        .unwrap_or_default();
                    *self
                        .sum
                        .unknown_skus
                        .entry(format!("{}{part}", a.sku_id))
                        .or_default() += 1;
                    continue;
                };
                let Some(sku) = self.catalog.sku(idx) else {
                    continue;
                };
                if sku.scope != Scope::User {
                    // Process, per flow and capacity units count for the tenant, not the user (docs/import.md).
                    *skipped_scope.entry(sku.id.clone()).or_default() += 1;
                    continue;
                }
                if !plans_on(&sku.service_plans, a, r.plans.as_deref()) {
                    let who = r.upn.as_deref().unwrap_or(&r.id);
                    self.sum
                        .plans_disabled
                        .push(format!("{who} ({}): {}", r.id, sku.id));
                    self.guess(
                        "users",
                        Some(i),
                        format!(
                            "`{}` is assigned but its Power Platform plans are disabled: not imported",
                            sku.id
                        ),
                    );
                    continue;
                }
                licenses.push(sku.id.clone());
            }
            if let Some(names) = &r.license_names {
                for n in names {
                    match self.catalog.sku_by_graph(n).and_then(|i| self.catalog.sku(i)) {
                        Some(sku) if sku.scope == Scope::User => licenses.push(sku.id.clone()),
                        Some(sku) => *skipped_scope.entry(sku.id.clone()).or_default() += 1,
                        None => *self.sum.unknown_product_names.entry(n.clone()).or_default() += 1,
                    }
                }
                if !names.is_empty() {
                    self.guess(
                        "users",
                        Some(i),
                        "licences from the admin center's product names, not service plans (disabled plans unseen)",
                    );
                }
            }
            let kind = if r.guest {
                UserKind::Guest
            } else {
                UserKind::Member
            };
            let left = (!r.enabled).then_some(self.at);
            if left.is_some() {
                self.guess(
                    "users",
                    Some(i),
                    "account disabled: taken as having left on the import day (ENF-2)",
                );
            }
            let label = match (&r.name, &r.upn) {
                (Some(n), Some(u)) => format!("{n} <{u}>"),
                (Some(x), None) | (None, Some(x)) => x.clone(),
                (None, None) => String::new(),
            };
            if !label.is_empty() {
                self.label("users", i, label);
            }
            self.s.users.push(User {
                id: r.id.clone(),
                kind,
                licenses,
                left,
                ..User::default()
            });
            self.users.insert(r.id.clone(), i);
        }
        for (sku, n) in skipped_scope {
            self.sum.not_modelled.push(format!(
                "{sku}: {n} assignment(s) to users; counted as tenant units, not user rights"
            ));
        }
        if !self.sum.unknown_product_names.is_empty() {
            self.sum.warnings.push(
                "the admin center's licence names are localized; names not in English were not mapped: export \
                 Graph /users (assignedLicenses, assignedPlans) instead"
                    .to_owned(),
            );
        }
    }

    /// The user an item names; a placeholder (guessed, reported) when the user export lacks them.
    fn owner(&mut self, id: &str, user_export: bool) -> String {
        if !self.users.contains_key(id) {
            let i = self.s.users.len();
            self.s.users.push(User {
                id: id.to_owned(),
                ..User::default()
            });
            self.users.insert(id.to_owned(), i);
            self.placeholder_users.insert(id.to_owned());
            self.guess(
                "users",
                Some(i),
                if user_export {
                    "owner not in the user export (deleted?): a member without licences assumed"
                } else {
                    "no user export given: a member without licences assumed"
                },
            );
        }
        if self.placeholder_users.contains(id) {
            *self.sum.missing_owners.entry(id.to_owned()).or_default() += 1;
        }
        id.to_owned()
    }

    fn subscriptions(&mut self, exports: &[Export]) {
        for r in exports.iter().flat_map(|e| &e.skus) {
            let status = r.status.as_deref().unwrap_or("Enabled");
            let Some(sku) = self
                .catalog
                .sku_by_graph(&r.sku_id)
                .and_then(|i| self.catalog.sku(i))
            else {
                let part = r
                    .part_number
                    .as_deref()
                    .map(|p| format!(" ({p})"))
                    .unwrap_or_default();
                *self
                    .sum
                    .unknown_skus
                    .entry(format!("{}{part}", r.sku_id))
                    .or_default() += 0;
                self.sum.warnings.push(format!(
                    "subscribed SKU {}{part} ({} units) is not in the catalog",
                    r.sku_id, r.enabled
                ));
                continue;
            };
            if status.eq_ignore_ascii_case("deleted") || status.eq_ignore_ascii_case("suspended") {
                self.sum
                    .warnings
                    .push(format!("subscribed SKU {} is {status}: not imported", sku.id));
                continue;
            }
            let i = self.s.subscriptions.len();
            let quantity = u32::try_from(r.enabled + r.warning).unwrap_or(u32::MAX);
            if r.warning > 0 {
                self.guess(
                    "subscriptions",
                    Some(i),
                    format!(
                        "{} unit(s) expired but in grace (warning): still counted",
                        r.warning
                    ),
                );
            }
            self.label(
                "subscriptions",
                i,
                format!(
                    "{} ({}): {} consumed of {} enabled",
                    sku.name,
                    r.part_number.as_deref().unwrap_or("?"),
                    r.consumed,
                    r.enabled
                ),
            );
            self.s.subscriptions.push(Subscription {
                sku: sku.id.clone(),
                quantity,
                channel: if sku.kind == Kind::Trial {
                    PurchaseChannel::Trial
                } else {
                    PurchaseChannel::Admin
                },
                ..Subscription::default()
            });
        }
    }

    fn allocations(&mut self, exports: &[Export]) {
        for a in exports.iter().flat_map(|e| &e.allocations) {
            if a.allocated == 0 {
                continue;
            }
            let sku = CURRENCIES
                .iter()
                .find(|(c, _)| c.eq_ignore_ascii_case(&a.currency))
                .map(|(_, s)| *s);
            let usable = sku
                .and_then(|s| self.catalog.sku_by_id(s))
                .filter(|s| matches!(s.scope, Scope::Environment | Scope::Flow));
            match (sku, usable) {
                (_, Some(sku)) => {
                    let id = sku.id.clone();
                    let env = self.env(&a.environment);
                    if let Some(e) = self.envs.get(&env).and_then(|&i| self.s.environments.get_mut(i)) {
                        *e.allocations.entry(id).or_default() += a.allocated;
                    }
                }
                (Some(_), None) | (None, None) if a.currency.eq_ignore_ascii_case("AppPass") => {
                    self.sum.not_modelled.push(format!(
                        "AppPass: {} allocated to environment {} (the scenario counts per-app passes on users, APP-1)",
                        a.allocated, a.environment
                    ));
                }
                (Some(s), None) => self.sum.not_modelled.push(format!(
                    "{}: {} allocated to environment {} ({s} is not in this catalog edition)",
                    a.currency, a.allocated, a.environment
                )),
                (None, None) => {
                    *self.sum.unknown_currencies.entry(a.currency.clone()).or_default() += 1;
                }
            }
        }
        if exports.iter().any(|e| !e.allocations.is_empty()) {
            self.sum.warnings.push(
                "no export says which flow holds which process or per-flow licence: allocations are on the \
                 environments, flows stay on user licences (FLOW-1, FLOW-14)"
                    .to_owned(),
            );
        }
    }

    /// `tenantCapacity`: the scenario keeps storage per environment; the tenant's figures go on the default
    /// environment (guessed), which gives the capacity check (CAP-1) the right totals.
    fn capacity(&mut self, exports: &[Export]) {
        let rows: Vec<&CapRow> = exports.iter().flat_map(|e| &e.capacity).collect();
        if rows.is_empty() {
            return;
        }
        let mut storage = Storage::default();
        for r in rows {
            let unit = r.unit.as_deref().unwrap_or("MB");
            self.sum.capacity.insert(
                r.capacity_type.clone(),
                format!("{} of {} {unit}", r.consumed, r.total),
            );
            match r.capacity_type.as_str() {
                "Database" => storage.database_mb = r.consumed,
                "File" => storage.file_mb = r.consumed,
                "Log" => storage.log_mb = r.consumed,
                _ => {}
            }
        }
        let default = self.s.environments.iter().position(|e| e.default);
        if let Some(i) = default
            && let Some(e) = self.s.environments.get_mut(i)
        {
            e.storage = Some(storage);
            self.guess(
                "environments",
                Some(i),
                "storage is the tenant's total from tenantCapacity (no per-environment figures were given)",
            );
        } else {
            self.sum.warnings.push(
                "tenantCapacity given but no default environment to hold its storage figures".to_owned(),
            );
        }
    }

    /// Counts a connector as unknown or custom in the summary; `true` when the connector makes the item premium
    /// beyond the catalog's table (custom, or premium by the `--connectors` list).
    fn classify(&mut self, c: &str, custom: bool, list: &HashMap<&str, &ConnRow>) -> bool {
        let listed = list.get(c);
        if custom || listed.is_some_and(|l| l.custom) {
            *self.sum.custom_connectors.entry(c.to_owned()).or_default() += 1;
            return true;
        }
        if self.catalog.connector(c).is_none() {
            let n = self.sum.unknown_connectors.entry(c.to_owned()).or_default();
            *n += 1;
            if *n == 1
                && let Some(l) = listed
            {
                // The list's tier is evidence only: the decisions treat a connector the catalog lacks as premium.
                self.sum.warnings.push(format!(
                    "{c}: the connector list calls it {}; not in entitle's connector table, so treated as premium",
                    if l.premium { "Premium" } else { "Standard" }
                ));
            }
        }
        false
    }

    fn apps(&mut self, exports: &[Export], user_export: bool, list: &HashMap<&str, &ConnRow>) {
        let mut seen = HashSet::new();
        for r in exports.iter().flat_map(|e| &e.apps) {
            if !seen.insert(r.id.clone()) {
                continue;
            }
            let i = self.s.apps.len();
            let environment = self.env(&r.environment);
            let owner = r.owner.as_deref().map(|o| self.owner(o, user_export));
            let connectors = r.connectors.clone().unwrap_or_default();
            let mut custom = false;
            for c in &connectors {
                custom |= self.classify(c, r.custom.contains(c), list);
            }
            if r.connectors.is_none() {
                self.guess("apps", Some(i), "the export lists no connectors for this app");
            }
            if r.uses_premium == Some(true)
                && !custom
                && !connectors.iter().any(|c| {
                    self.catalog
                        .connector(c)
                        .is_none_or(|k| k.tier_on(self.at) == crate::catalog::Tier::Premium)
                })
            {
                self.guess(
                    "apps",
                    Some(i),
                    "Microsoft flags it usesPremiumAPI but no premium connector was found in its references",
                );
            }
            if let Some(n) = &r.name {
                self.label("apps", i, n.clone());
            }
            self.s.apps.push(App {
                id: r.id.clone(),
                environment,
                kind: if r.model_driven {
                    AppKind::ModelDriven
                } else {
                    AppKind::Canvas
                },
                connectors,
                created: r.created,
                owner,
                ..App::default()
            });
        }
    }

    fn flows(&mut self, exports: &[Export], user_export: bool, list: &HashMap<&str, &ConnRow>) {
        // A flow can come from a thin list and a per-flow export: the richer row wins.
        let mut best: HashMap<&str, &FlowRow> = HashMap::new();
        let mut order: Vec<&str> = Vec::new();
        for f in exports.iter().flat_map(|e| &e.flows) {
            match best.get(f.id.as_str()) {
                None => {
                    order.push(&f.id);
                    best.insert(&f.id, f);
                }
                Some(old) if old.connectors.is_none() && f.connectors.is_some() => {
                    best.insert(&f.id, f);
                }
                Some(_) => {}
            }
        }
        let mut unowned = None;
        for id in order {
            let Some(r) = best.get(id).copied() else { continue };
            let i = self.s.flows.len();
            let environment = self.env(&r.environment);
            let owner = match &r.owner {
                Some(o) => self.owner(o, user_export),
                None => {
                    self.sum.flows_without_owner += 1;
                    self.guess(
                        "flows",
                        Some(i),
                        "the export names no owner (CreatedBy): `unknown-owner`",
                    );
                    let id = "unknown-owner".to_owned();
                    if unowned.is_none() {
                        let u = self.s.users.len();
                        self.s.users.push(User {
                            id: id.clone(),
                            ..User::default()
                        });
                        self.users.insert(id.clone(), u);
                        self.guess(
                            "users",
                            Some(u),
                            "stands for the owners the flow exports do not name",
                        );
                        unowned = Some(u);
                    }
                    id
                }
            };
            let mut connectors = r.connectors.clone().unwrap_or_default();
            let mut features = Vec::new();
            if r.http && !connectors.iter().any(|c| c == "http" || c == "shared_http") {
                // FLOW-4: HTTP and request triggers are premium whatever a tier field says.
                connectors.push("http".to_owned());
            }
            let mut custom = false;
            for c in &connectors {
                custom |= self.classify(c, r.custom.contains(c), list);
            }
            if custom {
                features.push(Feature::CustomConnector);
            }
            if r.connectors.is_none() {
                let file = exports.get(r.file).map_or("?", |e| e.file.as_str());
                *self
                    .sum
                    .flows_without_connectors
                    .entry(file.to_owned())
                    .or_default() += 1;
                self.guess(
                    "flows",
                    Some(i),
                    "connectors unknown (thin Get-AdminFlow list): standard assumed; export it per flow",
                );
            }
            let trigger = match r.trigger {
                Some(t) => t,
                None => {
                    if r.connectors.is_some() {
                        self.guess("flows", Some(i), "trigger unknown: automated assumed (FLOW-2)");
                    }
                    Trigger::Automated
                }
            };
            if r.state == FlowState::Suspended {
                self.sum.suspended_flows += 1;
                self.guess(
                    "flows",
                    Some(i),
                    format!(
                        "suspended by the platform ({}): kept enabled so the audit says what it needs (FLOW-17)",
                        r.suspension_reason.as_deref().unwrap_or("no reason given")
                    ),
                );
            }
            if r.invoker && trigger != Trigger::Instant {
                self.sum.warnings.push(format!(
                    "flow {} uses invoker connections but is not instant (FLOW-3, FLOW-6)",
                    r.id
                ));
            }
            if let Some(n) = &r.name {
                self.label("flows", i, n.clone());
            }
            self.s.flows.push(Flow {
                id: r.id.clone(),
                environment,
                trigger,
                owner,
                connectors,
                features,
                created: r.created,
                enabled: r.state != FlowState::Stopped,
                ..Flow::default()
            });
        }
        if !self.sum.flows_without_connectors.is_empty() {
            self.sum.warnings.push(
                "the tenant-wide Get-AdminFlow list (module 2.0.166 and later) and the inventory API carry no \
                 connectors: those flows were imported as standard; export each flow with \
                 `Get-AdminFlow -EnvironmentName E -FlowName F` to know"
                    .to_owned(),
            );
        }
    }
}

/// Whether a licence's deciding service plans are on for this user: one of them enabled in `assignedPlans`
/// (when the export has them) and not in the assignment's `disabledPlans`. A SKU without listed plans counts
/// as on.
fn plans_on(plans: &[String], a: &exports::Assigned, assigned: Option<&[(String, bool)]>) -> bool {
    if plans.is_empty() {
        return true;
    }
    plans.iter().any(|p| {
        !a.disabled_plans.contains(p)
            && assigned.is_none_or(|list| list.iter().any(|(id, on)| id == p && *on))
    })
}

/// Compares Microsoft's at-risk list with the flows entitle's audit finds (ENF-1): a line for each flow only
/// one of them names. Environments the at-risk files do not cover are left out of the reverse direction.
pub fn compare_at_risk(at_risk: &[AtRiskRow], audit: &crate::audit::Audit) -> Vec<String> {
    if at_risk.is_empty() {
        return Vec::new();
    }
    let ours: HashMap<&str, &crate::audit::AuditFlow> =
        audit.flows.iter().map(|f| (f.flow.as_str(), f)).collect();
    let theirs: HashSet<&str> = at_risk.iter().map(|r| r.flow.as_str()).collect();
    let covered: BTreeSet<&str> = at_risk.iter().filter_map(|r| r.environment.as_deref()).collect();
    let mut out = Vec::new();
    for r in at_risk {
        if !ours.contains_key(r.flow.as_str()) {
            out.push(format!(
                "{} ({}): Microsoft lists it at risk; entitle finds it licensed",
                r.flow,
                r.name.as_deref().unwrap_or("no name")
            ));
        }
    }
    for f in &audit.flows {
        let env_covered = covered.is_empty() || covered.contains(f.environment.as_str());
        if env_covered && !theirs.contains(f.flow.as_str()) {
            out.push(format!(
                "{}: entitle finds it at risk ({}, {}); Microsoft does not list it",
                f.flow, f.enforcement, f.rule
            ));
        }
    }
    out
}

impl Imported {
    /// The scenario as TOML, each guessed value with a `# guessed: …` comment and each item with its name.
    ///
    /// The comments go above the item's header (`[tenant]`, the n-th `[[flows]]`): the serializer writes one
    /// header line per item, in order, so one pass over the lines places them (parsing the text back into a
    /// `toml_edit` document to decorate it would read a 100,000-flow tenant's 40 MB twice more).
    pub fn to_toml(&self) -> Result<String, crate::scenario::WriteError> {
        let text = self.scenario.to_toml_string()?;
        let mut notes: HashMap<(&str, Option<usize>), Vec<String>> = HashMap::new();
        for l in &self.labels {
            notes
                .entry((l.section, l.index))
                .or_default()
                .push(format!("# {}", one_line(&l.note)));
        }
        for g in &self.guesses {
            notes
                .entry((g.section, g.index))
                .or_default()
                .push(format!("# guessed: {}", one_line(&g.note)));
        }
        let mut out = String::with_capacity(text.len() + notes.len() * 64 + 256);
        out.push_str(
            "# Written by `entitle import`. Lines starting `# guessed:` mark values the exports did not give;\n\
             # check them before relying on an answer.\n",
        );
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for line in text.split_inclusive('\n') {
            let header = line.trim_end();
            let key = if header == "[tenant]" {
                Some(("tenant", None))
            } else {
                header
                    .strip_prefix("[[")
                    .and_then(|h| h.strip_suffix("]]"))
                    .filter(|h| !h.contains('.'))
                    .and_then(|h| SECTIONS.iter().find(|s| **s == h))
                    .map(|s| {
                        let n = seen.entry(s).or_insert(0);
                        *n += 1;
                        (*s, Some(*n - 1))
                    })
            };
            if let Some(lines) = key.and_then(|k| notes.get(&k)) {
                for l in lines {
                    out.push_str(l);
                    out.push('\n');
                }
            }
            out.push_str(line);
        }
        Ok(out)
    }
}

/// The sections an import writes items into.
const SECTIONS: [&str; 5] = ["subscriptions", "users", "environments", "apps", "flows"];

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

impl std::fmt::Display for Summary {
    /// The summary for people (stderr): counts, then every unknown by name and count.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for file in &self.files {
            writeln!(
                f,
                "read {}: {} ({} records)",
                file.file,
                file.kind.map_or("unknown export", ExportKind::as_str),
                file.records
            )?;
        }
        writeln!(
            f,
            "imported {} users, {} environments, {} apps, {} flows, {} subscriptions",
            self.users, self.environments, self.apps, self.flows, self.subscriptions
        )?;
        let maps: [(&str, &BTreeMap<String, usize>, &str); 8] = [
            ("SKUs not in the catalog", &self.unknown_skus, "user(s)"),
            (
                "product names not mapped (localized or unknown)",
                &self.unknown_product_names,
                "user(s)",
            ),
            (
                "connectors not in the connector table (treated as premium)",
                &self.unknown_connectors,
                "item(s)",
            ),
            (
                "custom connectors (premium, FLOW-4)",
                &self.custom_connectors,
                "item(s)",
            ),
            (
                "owners missing from the user export",
                &self.missing_owners,
                "item(s) owned",
            ),
            (
                "environments missing from the environment export",
                &self.missing_environments,
                "item(s)",
            ),
            (
                "flows whose connectors are unknown because only the thin tenant-wide Get-AdminFlow list was given",
                &self.flows_without_connectors,
                "flow(s)",
            ),
            (
                "allocation currency types not known",
                &self.unknown_currencies,
                "allocation(s)",
            ),
        ];
        for (title, map, unit) in maps {
            if map.is_empty() {
                continue;
            }
            writeln!(f, "{title}: {}", map.len())?;
            for (name, n) in map {
                if *n > 0 {
                    writeln!(f, "  {name}: {n} {unit}")?;
                } else {
                    writeln!(f, "  {name}")?;
                }
            }
        }
        if self.flows_without_owner > 0 {
            writeln!(
                f,
                "flows without an owner in the export: {}",
                self.flows_without_owner
            )?;
        }
        if self.suspended_flows > 0 {
            writeln!(f, "suspended flows (kept): {}", self.suspended_flows)?;
        }
        let lists: [(&str, &Vec<String>); 4] = [
            (
                "licences with their Power Platform plans disabled (not imported)",
                &self.plans_disabled,
            ),
            ("not modelled", &self.not_modelled),
            (
                "at-risk disagreements with Microsoft's list",
                &self.at_risk_disagreements,
            ),
            ("warnings", &self.warnings),
        ];
        for (title, list) in lists {
            if list.is_empty() {
                continue;
            }
            writeln!(f, "{title}: {}", list.len())?;
            for l in list {
                writeln!(f, "  {l}")?;
            }
        }
        for (k, v) in &self.capacity {
            writeln!(f, "capacity {k}: {v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
