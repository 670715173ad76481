//! The catalog's data model and its validation.

use std::collections::HashMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::CatalogError;

/// Index of a SKU inside its [`Catalog`]; stable for the catalog's lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct SkuIdx(pub u16);

/// A whole catalog edition.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub catalog: CatalogMeta,
    pub terms: Terms,
    #[serde(default)]
    pub skus: Vec<Sku>,
    #[serde(default)]
    pub connectors: Vec<Connector>,
    #[serde(skip)]
    sku_index: HashMap<String, SkuIdx>,
    #[serde(skip)]
    connector_index: HashMap<String, usize>,
    /// Graph `skuId`, `skuPartNumber` (upper case) and English product name (lower case) → SKU, for the importer.
    #[serde(skip)]
    graph_index: HashMap<String, SkuIdx>,
}

/// One Microsoft Graph SKU that is this catalog SKU: imports join on `id`, never on the name.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GraphSku {
    /// The Graph `skuId` GUID (lower case).
    pub id: String,
    /// The Graph `skuPartNumber`.
    pub part_number: String,
    /// The English product name the admin center's licence CSV writes.
    pub name: String,
}

/// What edition this is.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogMeta {
    /// Short name: `seed`, `current`, or a user's own.
    pub edition: String,
    pub title: String,
    /// The day the figures were taken from their sources.
    pub as_of: NaiveDate,
    #[serde(default)]
    pub notes: Vec<String>,
}

/// Who a SKU is given to (RULES.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Assigned to a user.
    User,
    /// Pooled for the whole tenant (capacity add-ons).
    Tenant,
    /// Allocated to an environment (hosted process, AI Builder, portal add-ons).
    Environment,
    /// Allocated to an environment, then given to one flow or machine (process, per flow, unattended).
    Flow,
}

/// How a SKU is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Bought and priced here.
    Paid,
    /// Bought elsewhere (Microsoft 365, Windows, Dynamics 365): recorded, never priced (CAT-9).
    Seeded,
    /// Free of charge for a limited time (CAT-10).
    Trial,
    /// Free and grants nothing (CAT-12).
    Free,
    /// Free, not for production (CAT-11).
    Developer,
}

/// A purchase channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    Admin,
    SelfService,
    Csp,
    Trial,
}

/// Product lines: request limits are summed across lines and maxed within one (REQ-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProductLine {
    PowerApps,
    PowerAutomate,
    /// `microsoft-365`, as [`ProductLine::as_str`] writes it (`rename_all` alone would give `microsoft365`).
    #[serde(rename = "microsoft-365", alias = "microsoft365")]
    Microsoft365,
    /// `dynamics-365`, as [`ProductLine::as_str`] writes it.
    #[serde(rename = "dynamics-365", alias = "dynamics365")]
    Dynamics365,
    Windows,
    Portals,
    Dataverse,
    AiBuilder,
    Platform,
    CopilotStudio,
}

impl ProductLine {
    pub const fn as_str(self) -> &'static str {
        match self {
            ProductLine::PowerApps => "power-apps",
            ProductLine::PowerAutomate => "power-automate",
            ProductLine::Microsoft365 => "microsoft-365",
            ProductLine::Dynamics365 => "dynamics-365",
            ProductLine::Windows => "windows",
            ProductLine::Portals => "portals",
            ProductLine::Dataverse => "dataverse",
            ProductLine::AiBuilder => "ai-builder",
            ProductLine::Platform => "platform",
            ProductLine::CopilotStudio => "copilot-studio",
        }
    }
}

macro_rules! capabilities {
    ($($(#[$doc:meta])* $variant:ident => $name:literal),+ $(,)?) => {
        /// A right a licence grants. The decision rules test capabilities, never SKU ids, so that a catalog edition
        /// can move a right from one SKU to another without a code change.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
        pub enum Capability { $($(#[$doc])* #[serde(rename = $name)] $variant),+ }

        impl Capability {
            pub const ALL: &'static [Capability] = &[$(Capability::$variant),+];
            pub const fn as_str(self) -> &'static str {
                match self { $(Capability::$variant => $name),+ }
            }
        }
    };
}

capabilities! {
    /// Run cloud flows that use only standard connectors (FLOW-5, M365-3).
    FlowsStandard => "flows-standard",
    /// Own or run premium flows anywhere (FLOW-4): Power Automate per user / Premium, trials, Flow P1/P2.
    FlowsPremium => "flows-premium",
    /// Premium flows in the context of a Power Apps app (FLOW-9, FLOW-11, FLOW-12).
    FlowsAppContext => "flows-app-context",
    /// Premium flows in the context of a Dynamics 365 app (FLOW-10, D365-2).
    FlowsD365Context => "flows-d365-context",
    /// Attended desktop flows (RPA).
    AttendedRpa => "attended-rpa",
    /// Attended desktop flows for personal productivity in the default environment only (FLOW-23).
    WindowsDesktopFlows => "windows-desktop-flows",
    /// Apps with standard connectors (M365-3).
    AppsStandard => "apps-standard",
    /// Any number of apps, premium included (CAT-2).
    AppsPremium => "apps-premium",
    /// Counted app passes: `apps_per_unit` apps and `portals_per_unit` portals in one environment (CAT-1, APP-1).
    AppsPerApp => "apps-per-app",
    /// Apps and portals that extend the licensed Dynamics 365 app, in its environment (D365-1).
    AppsD365Context => "apps-d365-context",
    /// Use model-driven apps (ENT-4: Plan 2 rights).
    ModelDrivenApps => "model-driven-apps",
    /// Use entities with synchronous plug-ins or real-time workflows (ENT-1).
    ComplexEntities => "complex-entities",
    /// Create, update, delete records of restricted entities (ENT-2).
    RestrictedEntities => "restricted-entities",
    /// Use custom portals as an internal user (PORTAL-4).
    PortalsInternal => "portals-internal",
    /// Legacy Plan 1 / Plan 2: owners holding one are exempt from enforcement kinds (a) and (b) (ENF-2).
    LegacyPlan => "legacy-plan",
    /// A process licence: given to one flow (and its children and in-context flows) or to a machine as one
    /// unattended bot (FLOW-1, FLOW-14, FLOW-15, FLOW-16).
    Process => "process",
    /// A legacy per-flow licence: one parent flow and its children (FLOW-17).
    PerFlow => "per-flow",
    /// One unattended bot on a machine (FLOW-16); interchangeable with process capacity.
    UnattendedBot => "unattended-bot",
    /// Hosted machines and hosted machine groups in the environment (CAT-7).
    HostedBot => "hosted-bot",
    /// Raises the request limit of the users or flows it is assigned to (REQ-6).
    RequestAddon => "request-addon",
    /// A Dataverse environment for one maker, not for production (CAT-11).
    DeveloperEnvironment => "developer-environment",
    /// Marks a Dynamics 365 base licence for the non-licensed pool accrual (REQ-2).
    D365Base => "d365-base",
}

/// A set of capabilities, one bit each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CapabilitySet(u64);

impl CapabilitySet {
    pub const EMPTY: CapabilitySet = CapabilitySet(0);

    const fn bit(cap: Capability) -> u64 {
        1u64 << (cap as u32)
    }

    #[inline]
    pub const fn has(self, cap: Capability) -> bool {
        self.0 & Self::bit(cap) != 0
    }

    #[inline]
    pub fn insert(&mut self, cap: Capability) {
        self.0 |= Self::bit(cap);
    }

    #[inline]
    pub const fn union(self, other: CapabilitySet) -> CapabilitySet {
        CapabilitySet(self.0 | other.0)
    }

    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL.iter().copied().filter(move |c| self.has(*c))
    }
}

impl FromIterator<Capability> for CapabilitySet {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        let mut set = CapabilitySet::EMPTY;
        for cap in iter {
            set.insert(cap);
        }
        set
    }
}

impl<'de> Deserialize<'de> for CapabilitySet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Vec::<Capability>::deserialize(d)?.into_iter().collect())
    }
}

impl Serialize for CapabilitySet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// One price, effective from a day until the next price of the same SKU.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub from: NaiveDate,
    /// Per unit per month.
    pub amount: Decimal,
    /// ISO 4217 (`USD`, `EUR`): kept per price, never converted (CAT-13).
    pub currency: String,
}

/// What one unit of a SKU grants.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    #[serde(default)]
    pub capabilities: CapabilitySet,
    /// Power Platform requests per 24 hours (REQ-3); per user for user SKUs, per licence for process SKUs.
    #[serde(default)]
    pub requests_per_24h: u64,
    /// The same during the transition period (REQ-3).
    #[serde(default)]
    pub requests_per_24h_transition: u64,
    /// A Dynamics 365 attach licence adds no requests to its base (REQ-3).
    #[serde(default)]
    pub attach: bool,
    /// The first subscription of this SKU gives the tenant its one-time default capacity (CAP-2).
    #[serde(default)]
    pub tenant_default_capacity: bool,
    /// Dataverse accrual per unit, in MB (1 GB = 1,000 MB) (CAP-3, CAP-4).
    #[serde(default)]
    pub database_mb: u64,
    #[serde(default)]
    pub file_mb: u64,
    #[serde(default)]
    pub log_mb: u64,
    /// AI Builder credits per unit per month from an add-on (AI-1).
    #[serde(default)]
    pub ai_credits: u64,
    /// AI Builder credits seeded in a licence, counted under the tenant's seeded cap.
    #[serde(default)]
    pub ai_credits_seeded: u64,
    /// Per-app passes: apps and portals in one environment per unit (CAT-1).
    #[serde(default)]
    pub apps_per_unit: u32,
    #[serde(default)]
    pub portals_per_unit: u32,
    /// Portal add-ons per unit (CAT-13).
    #[serde(default)]
    pub portal_logins: u64,
    #[serde(default)]
    pub page_views: u64,
    /// Extra requests per 24 hours per unit of a request add-on (REQ-6).
    #[serde(default)]
    pub request_addon: u64,
    /// Bots (process, unattended, hosted) per unit (FLOW-16).
    #[serde(default)]
    pub bots: u32,
}

/// A SKU: something that can be bought, or a seeded plan that is recorded.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sku {
    /// kebab-case, stable: the scenario file names SKUs by it.
    pub id: String,
    pub name: String,
    /// Other ids a scenario may use for this SKU (SCENARIO.md's example allocates `ai-builder-credits`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// The Dynamics 365 app a D365 licence is for (`sales`, `customer-service`, …): its users may run apps and
    /// portals that extend that app, in the environment where it is installed (D365-1). None: any D365 app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamics_app: Option<String>,
    /// Microsoft Graph `skuPartNumber` (FACTS.md §6.3), where one is known.
    #[serde(default)]
    pub sku_part_number: Option<String>,
    /// The Graph SKUs that are this SKU (one product can have several: `FLOW_PER_USER` and `FLOW_PER_USER_DEPT`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub graph_skus: Vec<GraphSku>,
    /// The service-plan ids that carry this SKU's Power Platform right: a user holds the right when one of them is
    /// enabled in `assignedPlans` and not listed in the assignment's `disabledPlans` (an admin can switch the
    /// Power Automate plan of an E3 off and leave the rest of E3 on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_plans: Vec<String>,
    pub product_line: ProductLine,
    pub scope: Scope,
    pub kind: Kind,
    /// What one unit is counted in: `user`, `bot`, `flow`, `pack`, `GB`, ….
    pub unit: String,
    #[serde(default)]
    pub channels: Vec<Channel>,
    /// Self-service purchase may offer it (BUY-1).
    #[serde(default)]
    pub self_service: bool,
    /// An add-on (CAT-13): seed 000 sells it as a capacity extension "voor betaalde, zelfstandige licenties voor
    /// Power Apps, Power Automate en Dynamics 365", so only a tenant holding such a licence may buy it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub add_on: bool,
    /// First day it can be bought.
    #[serde(default)]
    pub available_from: Option<NaiveDate>,
    /// First day it can no longer be bought; existing units keep working (CAT-4).
    #[serde(default)]
    pub retired_on: Option<NaiveDate>,
    #[serde(default = "one")]
    pub minimum: u32,
    #[serde(default = "one")]
    pub step: u32,
    /// Trial length in days (CAT-10).
    #[serde(default)]
    pub trial_days: Option<u32>,
    /// The SKU that a trial tries out, or that replaced a legacy SKU.
    #[serde(default)]
    pub successor: Option<String>,
    #[serde(default)]
    pub prices: Vec<Price>,
    #[serde(default)]
    pub grants: Grants,
    /// Rule IDs and seed documents the entry rests on.
    #[serde(default)]
    pub sources: Vec<String>,
}

fn one() -> u32 {
    1
}

impl Sku {
    /// The price in force on `day`, if any.
    pub fn price_at(&self, day: NaiveDate) -> Option<&Price> {
        self.prices
            .iter()
            .filter(|p| p.from <= day)
            .max_by_key(|p| p.from)
    }

    /// Whether it can be bought on `day` (CAT-4, CAT-8).
    pub fn purchasable_on(&self, day: NaiveDate) -> bool {
        self.available_from.is_none_or(|from| from <= day) && self.retired_on.is_none_or(|end| day < end)
    }
}

/// A connector's tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    Standard,
    Premium,
}

/// A tier change on a day (M365-1).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TierChange {
    pub on: NaiveDate,
    pub tier: Tier,
}

/// A connector by API name.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Connector {
    /// API name as platform exports carry it (`shared_sql`).
    pub id: String,
    pub name: String,
    /// Tier before any change.
    pub tier: Tier,
    #[serde(default)]
    pub changes: Vec<TierChange>,
    /// On the M365-1 reclassification list: premium since 2019-10-01, grandfathered by M365-2 / FLOW-25.
    #[serde(default)]
    pub reclassified: bool,
    /// A first-party Dynamics 365 connector (FLOW-10).
    #[serde(default)]
    pub dynamics: bool,
    /// The Dataverse connector (FLOW-10 with Dynamics 365 entities).
    #[serde(default)]
    pub dataverse: bool,
}

impl Connector {
    /// The tier in force on `day`.
    pub fn tier_on(&self, day: NaiveDate) -> Tier {
        self.changes
            .iter()
            .filter(|c| c.on <= day)
            .max_by_key(|c| c.on)
            .map_or(self.tier, |c| c.tier)
    }
}

/// Figures and dates that are not SKUs.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Terms {
    /// M365-1: the day the reclassified connectors became premium.
    pub reclassification_date: NaiveDate,
    /// M365-2 / FLOW-25: apps and flows created before this day keep reclassified connectors…
    pub grandfather_created_before: NaiveDate,
    /// …until this day.
    pub grandfather_until: NaiveDate,
    /// M365-2: a tenant that used a reclassified connector before the reclassification keeps building new apps
    /// and flows with them until this day (exclusive), or the end of its Microsoft 365 term if that is later.
    pub tenant_transition_until: NaiveDate,
    pub capacity: CapacityTerms,
    pub requests: RequestTerms,
    pub enforcement: EnforcementTerms,
    pub self_service: SelfServiceTerms,
    pub limits: LimitTerms,
}

/// Dataverse defaults (CAP-2, CAP-5).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityTerms {
    pub default_database_mb: u64,
    pub default_file_mb: u64,
    pub default_log_mb: u64,
    /// Free database capacity needed to create an environment with Dataverse (CAP-5).
    pub environment_min_database_mb: u64,
}

/// Request figures (REQ-1, REQ-2).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RequestTerms {
    /// At most this many requests in any 5 minutes, whatever the licence.
    pub five_minute_cap: u64,
    /// Warn at this percentage of a 24-hour limit (REQ-8).
    pub warn_percent: u8,
    /// Several process licences on one flow add up (FACTS.md §1.4 ⚠: the documents disagree).
    pub process_stacking: bool,
    /// Non-licensed pools per product line; the largest applicable one wins (REQ-2).
    pub nonlicensed_pools: Vec<NonLicensedPool>,
}

/// The tenant pool for non-licensed principals that one product line gives (REQ-2).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NonLicensedPool {
    pub line: ProductLine,
    pub base: u64,
    /// Added per base licence (`d365-base` capability) of this line.
    #[serde(default)]
    pub per_unit: u64,
    #[serde(default)]
    pub max: Option<u64>,
}

/// The enforcement kinds of ENF-2 with their first-region dates.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnforcementTerms {
    /// Makers are notified this many days after admins (ENF-3).
    pub maker_after_days: u32,
    pub kinds: Vec<EnforcementKindTerms>,
}

/// One row of the ENF-2 table.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnforcementKindTerms {
    /// `owner-left`, `owner-without-premium`, `outside-power-apps-context`, `outside-d365-context`,
    /// `service-principal-without-process`.
    pub kind: String,
    pub admin_notice: NaiveDate,
    pub maker_notice: NaiveDate,
    pub grace_days: u32,
    pub turn_off: NaiveDate,
}

/// Self-service purchase (BUY-1).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SelfServiceTerms {
    /// ISO 3166-1 alpha-2 codes where self-service purchase is offered (seed 003).
    pub countries: Vec<String>,
    /// Tenant segments that cannot buy self-service…
    pub excluded_segments: Vec<String>,
    /// …in these countries (seed 001: "niet beschikbaar voor tenants voor overheden, non-profitorganisaties of
    /// onderwijsinstellingen in de Verenigde Staten"). Empty: everywhere. A tenant of unknown country is excluded.
    #[serde(default)]
    pub excluded_segments_in: Vec<String>,
    /// The first day self-service purchase was offered (seed 003: "Vanaf 14 januari 2020"), to commercial-cloud
    /// tenants only.
    pub available_from: NaiveDate,
    /// Admin roles that buy for the organisation besides global and billing admins, per product line (seed 001:
    /// "Power Platform-beheerders kunnen licenties kopen voor Power Automate").
    #[serde(default)]
    pub platform_admin_lines: Vec<ProductLine>,
    /// Trial units a tenant shows once one user signs up (BUY-7).
    pub trial_units_shown: u32,
    /// Days an admin-assigned trial unit lasts (BUY-7).
    pub admin_trial_days: u32,
}

/// Other limits.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitTerms {
    /// Non-interactive users per tenant (FLOW-22).
    pub non_interactive_max: u32,
    /// Portal logins per portal, at least (PORTAL-5).
    pub min_logins_per_portal: u64,
    /// Portal page views per portal, at least (PORTAL-5).
    pub min_page_views_per_portal: u64,
    /// Seeded AI Builder credits per tenant, at most.
    pub ai_seeded_cap: u64,
    /// The first day licences no longer carry seeded AI Builder credits (FACTS §7.2: 2026-11-01).
    #[serde(default)]
    pub ai_seeded_until: Option<NaiveDate>,
}

impl Catalog {
    /// Looks a SKU up by id.
    pub fn sku_idx(&self, id: &str) -> Option<SkuIdx> {
        self.sku_index.get(id).copied()
    }

    /// The SKU at an index taken from this catalog.
    pub fn sku(&self, idx: SkuIdx) -> Option<&Sku> {
        self.skus.get(usize::from(idx.0))
    }

    /// Looks a SKU up by id.
    pub fn sku_by_id(&self, id: &str) -> Option<&Sku> {
        self.sku_idx(id).and_then(|i| self.sku(i))
    }

    /// Looks a SKU up by a Graph `skuId` GUID, a `skuPartNumber` or an English admin-center product name (any
    /// case, surrounding spaces ignored).
    pub fn sku_by_graph(&self, key: &str) -> Option<SkuIdx> {
        let key = key.trim();
        self.graph_index
            .get(&key.to_ascii_lowercase())
            .or_else(|| {
                self.graph_index
                    .get(&format!("part:{}", key.to_ascii_uppercase()))
            })
            .or_else(|| self.graph_index.get(&format!("name:{}", key.to_lowercase())))
            .copied()
    }

    /// Looks a connector up by API name.
    pub fn connector(&self, id: &str) -> Option<&Connector> {
        self.connector_index.get(id).and_then(|&i| self.connectors.get(i))
    }

    /// The ENF-2 row of one kind.
    pub fn enforcement(&self, kind: &str) -> Option<&EnforcementKindTerms> {
        self.terms.enforcement.kinds.iter().find(|k| k.kind == kind)
    }

    /// The first SKU (in catalog order) that grants a capability, is purchasable on `day` and has a price.
    pub fn cheapest_granting(&self, cap: Capability, day: NaiveDate) -> Option<(SkuIdx, &Sku)> {
        self.skus
            .iter()
            .enumerate()
            .filter(|(_, s)| s.kind == Kind::Paid && s.grants.capabilities.has(cap) && s.purchasable_on(day))
            .filter_map(|(i, s)| Some((i, s, s.price_at(day)?.amount)))
            .min_by_key(|(_, _, amount)| *amount)
            .and_then(|(i, s, _)| Some((SkuIdx(u16::try_from(i).ok()?), s)))
    }
}

/// Parses the TOML text of a catalog and checks it: unique ids, known references, sane numbers.
pub(crate) fn parse(text: &str, origin: &str) -> Result<Catalog, CatalogError> {
    let mut catalog: Catalog = toml::from_str(text).map_err(|e| CatalogError::parse(origin, text, &e))?;
    if catalog.skus.len() > usize::from(u16::MAX) {
        return Err(CatalogError::invalid(origin, "skus", "more than 65,535 SKUs"));
    }
    for (i, sku) in catalog.skus.iter().enumerate() {
        let idx =
            SkuIdx(u16::try_from(i).map_err(|_| CatalogError::invalid(origin, "skus", "too many SKUs"))?);
        if catalog.sku_index.insert(sku.id.clone(), idx).is_some() {
            return Err(CatalogError::invalid(
                origin,
                &format!("skus[{i}].id"),
                &format!("duplicate id `{}`", sku.id),
            ));
        }
        if sku.minimum == 0 || sku.step == 0 {
            return Err(CatalogError::invalid(
                origin,
                &format!("skus[{i}]"),
                "`minimum` and `step` must be at least 1",
            ));
        }
        if sku.kind == Kind::Paid && sku.prices.is_empty() {
            return Err(CatalogError::invalid(
                origin,
                &format!("skus[{i}].prices"),
                &format!("paid SKU `{}` has no price", sku.id),
            ));
        }
        if sku.kind == Kind::Trial && sku.trial_days.is_none() {
            return Err(CatalogError::invalid(
                origin,
                &format!("skus[{i}].trial_days"),
                &format!("trial SKU `{}` has no `trial_days`", sku.id),
            ));
        }
    }
    for (i, sku) in catalog.skus.iter().enumerate() {
        for alias in &sku.aliases {
            let idx =
                SkuIdx(u16::try_from(i).map_err(|_| CatalogError::invalid(origin, "skus", "too many SKUs"))?);
            if catalog.sku_index.insert(alias.clone(), idx).is_some() {
                return Err(CatalogError::invalid(
                    origin,
                    &format!("skus[{i}].aliases"),
                    &format!("alias `{alias}` is already an id or alias"),
                ));
            }
        }
        if let Some(next) = &sku.successor
            && !catalog.sku_index.contains_key(next)
        {
            return Err(CatalogError::invalid(
                origin,
                &format!("skus[{i}].successor"),
                &format!("unknown SKU `{next}`"),
            ));
        }
    }
    for (i, sku) in catalog.skus.iter().enumerate() {
        let idx =
            SkuIdx(u16::try_from(i).map_err(|_| CatalogError::invalid(origin, "skus", "too many SKUs"))?);
        for g in &sku.graph_skus {
            let keys = [
                g.id.to_ascii_lowercase(),
                format!("part:{}", g.part_number.to_ascii_uppercase()),
                format!("name:{}", g.name.to_lowercase()),
            ];
            for key in keys {
                if catalog.graph_index.insert(key.clone(), idx).is_some() {
                    return Err(CatalogError::invalid(
                        origin,
                        &format!("skus[{i}].graph_skus"),
                        &format!("`{key}` names two SKUs"),
                    ));
                }
            }
        }
    }
    for (i, c) in catalog.connectors.iter().enumerate() {
        if catalog.connector_index.insert(c.id.clone(), i).is_some() {
            return Err(CatalogError::invalid(
                origin,
                &format!("connectors[{i}].id"),
                &format!("duplicate connector `{}`", c.id),
            ));
        }
    }
    const KINDS: [&str; 5] = [
        "owner-left",
        "owner-without-premium",
        "outside-power-apps-context",
        "outside-d365-context",
        "service-principal-without-process",
    ];
    for kind in KINDS {
        if catalog.enforcement(kind).is_none() {
            return Err(CatalogError::invalid(
                origin,
                "terms.enforcement.kinds",
                &format!("missing kind `{kind}`"),
            ));
        }
    }
    Ok(catalog)
}
