//! The scenario's types, one per section. Keys listed in SCENARIO.md keep their meaning; keys added here are
//! marked "entitle extension" in their doc comment.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::chunked::Chunked;

/// The version of the scenario format this build reads and writes.
pub const SCENARIO_VERSION: u32 = 1;

/// One tenant as of a date.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Format version (entitle extension); 1 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    pub tenant: Tenant,
    #[serde(default, skip_serializing_if = "Chunked::is_empty")]
    pub subscriptions: Chunked<Subscription>,
    #[serde(default, skip_serializing_if = "Chunked::is_empty")]
    pub users: Chunked<User>,
    #[serde(default, skip_serializing_if = "Chunked::is_empty")]
    pub environments: Chunked<Environment>,
    #[serde(default, skip_serializing_if = "Chunked::is_empty")]
    pub apps: Chunked<App>,
    #[serde(default, skip_serializing_if = "Chunked::is_empty")]
    pub flows: Chunked<Flow>,
    #[serde(default, skip_serializing_if = "Chunked::is_empty")]
    pub entities: Chunked<Entity>,
    #[serde(default, skip_serializing_if = "Chunked::is_empty")]
    pub usage: Chunked<Usage>,
    #[serde(default, skip_serializing_if = "Chunked::is_empty")]
    pub events: Chunked<Event>,
    /// Licences users asked an admin for (entitle extension; the server's licence requests).
    #[serde(default, skip_serializing_if = "Chunked::is_empty")]
    pub license_requests: Chunked<LicenseRequest>,
    /// Portal logins, page views and AI Builder credits consumed (entitle extension; PORTAL-2, PORTAL-3, AI-1).
    #[serde(default, skip_serializing_if = "Chunked::is_empty")]
    pub consumption: Chunked<Consumption>,
}

/// `[tenant]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    pub id: String,
    #[serde(default)]
    pub cloud: Cloud,
    #[serde(default)]
    pub segment: Segment,
    /// ISO 3166-1 alpha-2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Evaluation date; the CLI's `--at` overrides it; default today (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<NaiveDate>,
    /// The documented transition rules (child flows, request limits) apply.
    #[serde(default)]
    pub transition_period: bool,
    /// Self-service purchase policy per SKU id (entitle extension, BUY-2); a SKU not named is `enabled`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub self_service: BTreeMap<String, SelfServicePolicy>,
    /// The first day after the tenant's current Microsoft 365 subscription term (entitle extension, M365-2): the
    /// transition for tenants that already used reclassified connectors lasts until this day when it is later
    /// than the catalog's `tenant_transition_until` (2020-10-01).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub m365_term_end: Option<NaiveDate>,
    /// What happens to portal logins and page views past a portal's monthly allocation (entitle extension,
    /// PORTAL-5): `allow-and-report` (the default) counts them and reports the overage; `refuse` refuses them.
    #[serde(default, skip_serializing_if = "is_default")]
    pub portal_overage: PortalOverage,
    /// Environments without an AI Builder allocation may consume the tenant's unallocated credits (entitle
    /// extension; the admin center's tenant setting). Off by default: seed 000 has an admin allocate capacity to
    /// the environment where AI Builder is used (AI-1).
    #[serde(default, skip_serializing_if = "is_default")]
    pub ai_unallocated_use: bool,
    /// The tenant's clock is `at`, moved only by the server's `clock:advance` (entitle extension; issue 14's
    /// test clocks). A tenant without one follows real time (UTC).
    #[serde(default, skip_serializing_if = "is_default")]
    pub test_clock: bool,
    /// The last day whose jobs (ENF-3 notices, ENF-2 turn-offs, trial expiries, renewals and lapses) have run
    /// (entitle extension; the server keeps it). A tenant imported with it carries on from the day after, so no
    /// notice goes out twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobs_through: Option<NaiveDate>,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// `tenant.portal_overage`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PortalOverage {
    #[default]
    AllowAndReport,
    Refuse,
}

/// The cloud a tenant lives in; anything but `public` is national or sovereign (FLOW-19).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Cloud {
    #[default]
    Public,
    Gcc,
    GccHigh,
    Dod,
    China,
}

impl Cloud {
    /// The name the scenario file uses.
    pub const fn as_str(self) -> &'static str {
        match self {
            Cloud::Public => "public",
            Cloud::Gcc => "gcc",
            Cloud::GccHigh => "gcc-high",
            Cloud::Dod => "dod",
            Cloud::China => "china",
        }
    }
}

/// `tenant.segment` (BUY-1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Segment {
    #[default]
    Commercial,
    Government,
    Nonprofit,
    Education,
}

impl Segment {
    pub const fn as_str(self) -> &'static str {
        match self {
            Segment::Commercial => "commercial",
            Segment::Government => "government",
            Segment::Nonprofit => "nonprofit",
            Segment::Education => "education",
        }
    }
}

/// An admin's self-service policy for one product (BUY-2; MSCommerce `AllowSelfServicePurchase`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SelfServicePolicy {
    #[default]
    Enabled,
    Disabled,
    OnlyTrialsWithoutPaymentMethod,
}

/// `[[subscriptions]]`: a purchase of N units of one SKU.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    /// A name for the subscription (entitle extension): the server addresses it by this id, or by its
    /// position when it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub sku: String,
    pub quantity: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<NaiveDate>,
    /// Exclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<NaiveDate>,
    #[serde(default)]
    pub channel: PurchaseChannel,
    /// Self-service only: the user who bought and pays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer: Option<String>,
    /// At `end`, a new term of the same length begins (entitle extension; issue 14). Needs an `end`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub auto_renew: bool,
    /// The day cancellation was asked: the subscription ends at its term's end, not renewed (entitle extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<NaiveDate>,
}

/// How a subscription was bought.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PurchaseChannel {
    #[default]
    Admin,
    SelfService,
    Csp,
    Trial,
}

impl PurchaseChannel {
    /// The name the scenario file, the CLI and the API use.
    pub const fn as_str(self) -> &'static str {
        match self {
            PurchaseChannel::Admin => "admin",
            PurchaseChannel::SelfService => "self-service",
            PurchaseChannel::Csp => "csp",
            PurchaseChannel::Trial => "trial",
        }
    }
}

/// `[[users]]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub kind: UserKind,
    #[serde(default)]
    pub account: Account,
    /// SKU ids assigned to this user; a SKU listed twice is two units (per-app passes stack, CAT-1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<String>,
    /// The day the user left the organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left: Option<NaiveDate>,
    /// Guests: the cloud of their home tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_cloud: Option<Cloud>,
    /// Guests: licences held in their home tenant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub home_licenses: Vec<String>,
    /// Admin roles (entitle extension, BUY-8): a user without one cannot create costs except self-service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<AdminRole>,
}

/// What kind of principal a user is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UserKind {
    #[default]
    Member,
    Guest,
    ServicePrincipal,
    ServiceAccount,
    NonInteractive,
}

impl UserKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            UserKind::Member => "member",
            UserKind::Guest => "guest",
            UserKind::ServicePrincipal => "service-principal",
            UserKind::ServiceAccount => "service-account",
            UserKind::NonInteractive => "non-interactive",
        }
    }
}

/// A work or school account, or a consumer one (CAT-14).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Account {
    #[default]
    Work,
    Consumer,
}

/// Admin roles that may create costs (BUY-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AdminRole {
    GlobalAdmin,
    BillingAdmin,
    PowerPlatformAdmin,
    EnvironmentAdmin,
}

/// `[[environments]]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    pub id: String,
    /// Exactly one environment per tenant is the default.
    #[serde(default)]
    pub default: bool,
    /// Has a Dataverse database (the default environment always has one, CAP-5).
    #[serde(default)]
    pub dataverse: bool,
    /// Dynamics 365 apps installed in it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dynamics_apps: Vec<String>,
    /// Units of environment-scoped add-ons allocated to it, by SKU id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub allocations: BTreeMap<String, u64>,
    /// Environment type (entitle extension; capacity counting, CAP-1).
    #[serde(default)]
    pub kind: EnvironmentKind,
    /// Dataverse storage this environment uses, in MB (entitle extension; CAP-6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Storage>,
    /// The user a `developer` environment belongs to (entitle extension; CAT-11): with the developer plan, its
    /// owner uses everything in it, Dataverse included, for individual use. Only on developer environments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// Environment types.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EnvironmentKind {
    #[default]
    Production,
    Sandbox,
    Trial,
    Developer,
    Teams,
}

/// Storage in use, in MB (1 GB = 1,000 MB).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    #[serde(default)]
    pub database_mb: u64,
    #[serde(default)]
    pub file_mb: u64,
    #[serde(default)]
    pub log_mb: u64,
}

/// `[[apps]]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct App {
    pub id: String,
    pub environment: String,
    #[serde(default)]
    pub kind: AppKind,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connectors: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<String>,
    /// A canvas app embedded in this model-driven app (does not count toward per-app limits, CAT-1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedded_in: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<NaiveDate>,
    /// Portals: logins allocated per month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logins: Option<u64>,
    /// Portals: page views allocated per month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_views: Option<u64>,
    /// Who uses the app (entitle extension; per-app pass counting, APP-1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// Whether the app is extending an installed Dynamics 365 app (entitle extension; D365-1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends_dynamics: Option<String>,
    /// The maker who owns the app (entitle extension; the server lets a maker change only their own apps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// App kinds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AppKind {
    #[default]
    Canvas,
    ModelDriven,
    Portal,
}

impl AppKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            AppKind::Canvas => "canvas",
            AppKind::ModelDriven => "model-driven",
            AppKind::Portal => "portal",
        }
    }
}

/// `[[flows]]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    pub id: String,
    pub environment: String,
    #[serde(default)]
    pub trigger: Trigger,
    pub owner: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub co_owners: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connectors: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<Feature>,
    /// Desktop flows: attended or unattended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desktop_mode: Option<DesktopMode>,
    /// The machine a desktop flow runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    /// This flow is a child flow of `parent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(default)]
    pub license: FlowLicense,
    /// The app this flow is associated with (in its context).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    #[serde(default)]
    pub triggered_from_app: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solution: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<NaiveDate>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Who invokes it (instant flows), for the audit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub run_by: Vec<String>,
    /// Dataverse entities it reads or writes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<String>,
    /// A process-licensed flow this flow is manually associated with (entitle extension; FLOW-15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_context_of: Option<String>,
    /// Desktop runs this flow wants at the same time on its machine (entitle extension; FLOW-16). Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent_runs: Option<u32>,
    /// Users who only answer its approvals or advance a business process stage (entitle extension; FLOW-18).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
    /// Users who receive what the flow produces without running it (entitle extension; FLOW-21).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub beneficiaries: Vec<String>,
    /// Request add-on units assigned to this flow (entitle extension; REQ-6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_addons: Option<u32>,
    /// Turned off by enforcement (ENF-2/3 on the turn-off date, ENF-4 when created after the maker notice, ENF-7
    /// when its app went): it may be turned on only once licensed (ENF-5). Kept by the engine: a write cannot
    /// set or clear it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended: Option<Suspension>,
    /// ENF-3's notices about this flow so far (kept by the engine, like `suspended`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<Notice>,
}

/// What ENF-3 told about a flow at risk: its kind, the day its admin notice was due (which fixes the start of
/// ENF-2's own timeline for a flow found after the rollout, so its dates do not move), and the day its makers were
/// told.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    pub kind: String,
    pub admins: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub makers: Option<NaiveDate>,
}

/// Why and since when a flow is turned off by enforcement.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Suspension {
    pub on: NaiveDate,
    /// The ENF-2 kind (`owner-left`, …), or `app-deleted` (ENF-7).
    pub kind: String,
    /// The rule that turned it off (`ENF-3`, `ENF-4`, `ENF-7`).
    pub rule: String,
    /// The rule its decision fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing: Option<String>,
}

fn yes() -> bool {
    true
}

/// Flow triggers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    #[default]
    Automated,
    Scheduled,
    Instant,
}

impl Trigger {
    pub const fn as_str(self) -> &'static str {
        match self {
            Trigger::Automated => "automated",
            Trigger::Scheduled => "scheduled",
            Trigger::Instant => "instant",
        }
    }
}

/// Premium features other than connectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Feature {
    CustomConnector,
    Gateway,
    DesktopFlow,
    BusinessProcessFlow,
}

impl Feature {
    pub const fn as_str(self) -> &'static str {
        match self {
            Feature::CustomConnector => "custom-connector",
            Feature::Gateway => "gateway",
            Feature::DesktopFlow => "desktop-flow",
            Feature::BusinessProcessFlow => "business-process-flow",
        }
    }
}

/// Desktop flow modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DesktopMode {
    Attended,
    Unattended,
}

/// Which licence a flow is set to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FlowLicense {
    #[default]
    User,
    Process,
    PerFlow,
}

/// `[[entities]]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Entity {
    pub id: String,
    /// Restricted entity (ENT-2).
    #[serde(default)]
    pub restricted: bool,
    /// Belongs to a Dynamics 365 app (FLOW-10).
    #[serde(default)]
    pub dynamics: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub complex_logic: Vec<Logic>,
}

/// Business logic on an entity (ENT-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Logic {
    SyncPlugin,
    RealtimeWorkflow,
    BackgroundWorkflow,
}

/// `[[usage]]`: requests a principal made (REQ-1).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    /// The user who made the requests (or, with `flow`, who ran it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The flow whose run made the requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
    pub requests: u64,
    /// The day of the requests; default: the evaluation date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<NaiveDate>,
}

/// `[[events]]`: dated facts the audit needs (when a licence lapsed, when a flow was edited).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub on: NaiveDate,
    pub kind: EventKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
}

/// Event kinds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// A licence was removed from `user` (FLOW-24, ENF-2 b).
    #[default]
    LicenseRemoved,
    /// `flow` was edited and saved.
    FlowEdited,
    /// `user` signed up for a trial of `sku` (BUY-7).
    TrialStarted,
}

/// `[[license_requests]]` (entitle extension): a user asked an admin for a licence; an admin approves (which
/// assigns it) or denies.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LicenseRequest {
    pub id: String,
    /// Who needs the licence.
    pub user: String,
    pub sku: String,
    #[serde(default)]
    pub state: RequestState,
    /// The day it was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<NaiveDate>,
    /// Why (the requester's words).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Where a licence request stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RequestState {
    #[default]
    Pending,
    Approved,
    Denied,
}

/// `[[consumption]]`: one consumption event (entitle extension). The server's `…/logins`, `…/page-views` and
/// `…/ai-credits:consume` take the same events; an export writes them back here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Consumption {
    pub kind: ConsumptionKind,
    /// The event's id: an event sent twice with one id counts once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// When it happened (RFC 3339); it counts in this time's calendar month (UTC).
    pub at: chrono::DateTime<chrono::Utc>,
    /// `portal-login`, `page-views`: the portal (an app of kind `portal`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portal: Option<String>,
    /// `portal-login`: the external user (a contact id, not a user of `[[users]]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `page-views`: how many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// `ai-credits`: the environment that consumed them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// `ai-credits`: how many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<u64>,
    /// `ai-credits`: the model (for reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `ai-credits`: a preview model, which needs no paid capacity (AI-2).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preview: bool,
}

/// Consumption kinds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ConsumptionKind {
    /// An authenticated external user's login to a portal (PORTAL-2).
    #[default]
    PortalLogin,
    /// Anonymous page views (PORTAL-3).
    PageViews,
    /// AI Builder credits (AI-1).
    AiCredits,
}
