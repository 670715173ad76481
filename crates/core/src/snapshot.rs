//! An immutable, indexed view of one tenant on one day: every id interned once, every licence resolved to the
//! rights it grants on that day, every flow's premium status and process coverage worked out in advance.
//!
//! Building a snapshot does the work that depends on the whole tenant (allocation pools, LIFO overage, guests'
//! home licences, lapsed licences); the decisions then read it without allocating or locking.

mod build;
mod patch;

pub use patch::Refusal;
pub(crate) use patch::{Delta, Touched};

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDate;

use crate::catalog::{Capability, CapabilitySet, Catalog, SkuIdx};
use crate::chunked::Chunked;
use crate::scenario::{AppKind, DesktopMode, FlowLicense, Scenario, Trigger, UserKind};

pub use build::BuildError;
pub(crate) use build::{premium_within, subscription_digest};

/// Index of a user in a [`Snapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserIdx(pub u32);
/// Index of an environment in a [`Snapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvIdx(pub u32);
/// Index of an app in a [`Snapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppIdx(pub u32);
/// Index of a flow in a [`Snapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowIdx(pub u32);

/// Ids interned once, looked up by name. A snapshot patched by a write shares `base` with the one before it and
/// keeps the ids it added in `added`; once those pass a sixteenth of `base` they are folded into a new base, so a
/// lookup is at most two probes and a write costs its change (amortised), not the tenant.
#[derive(Debug, Default, Clone)]
pub(crate) struct Interner {
    base: Arc<foldhash::HashMap<Box<str>, u32>>,
    added: foldhash::HashMap<Box<str>, u32>,
}

impl Interner {
    #[inline]
    pub(crate) fn get(&self, id: &str) -> Option<u32> {
        if !self.added.is_empty()
            && let Some(i) = self.added.get(id)
        {
            return Some(*i);
        }
        self.base.get(id).copied()
    }

    /// Interns a new id; `false` (and nothing changed) when it is there already.
    pub(crate) fn insert(&mut self, id: &str, n: u32) -> bool {
        if self.get(id).is_some() {
            return false;
        }
        if self.added.len() >= 64 + self.base.len() / 16 {
            let mut base = (*self.base).clone();
            base.extend(self.added.drain());
            self.base = Arc::new(base);
        }
        if self.added.is_empty() && Arc::get_mut(&mut self.base).is_some() {
            // Nobody else reads this base (a snapshot being built): add to it directly.
            if let Some(base) = Arc::get_mut(&mut self.base) {
                base.insert(id.into(), n);
            }
        } else {
            self.added.insert(id.into(), n);
        }
        true
    }
}

/// What a user may do on the snapshot's day.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRec {
    pub id: Box<str>,
    pub kind: UserKind,
    /// Rights in force today: host licences, plus home licences for guests where FLOW-19 allows it; nothing for
    /// a user who left; only free plans for a consumer account (CAT-14).
    pub caps: CapabilitySet,
    /// For each capability, the first licence of this user that grants it (for `licensed_by.sku`).
    pub(crate) granted_by: [Option<SkuIdx>; CAPS],
    /// Active licences, one entry per unit.
    pub skus: Vec<SkuIdx>,
    /// The day the user left, if on or before the snapshot's day.
    pub left: Option<NaiveDate>,
    /// The day a premium licence lapsed (trial over, subscription ended, licence removed), if one did and the
    /// user holds no premium licence now (FLOW-24, ENF-2 b).
    pub premium_lapsed: Option<NaiveDate>,
    /// Was assigned a legacy Plan 1 / Plan 2 (exempt from ENF-2 a and b), whether or not it is in force today.
    pub legacy_plan: bool,
    /// Holds a Power Apps licence (ENF-2 c) or a Dynamics 365 one (ENF-2 d).
    pub power_apps_licensed: bool,
    pub d365_licensed: bool,
    /// A guest whose home licences were not recognised because of the clouds (FLOW-19).
    pub home_licenses_ignored: bool,
    /// A consumer account (outlook.com and the like): only free plans count (CAT-14).
    pub consumer: bool,
    /// Paid licences ignored because the account is a consumer one (CAT-14).
    pub consumer_ignored: bool,
    /// The Dynamics 365 apps the user's D365 licences are for; `None` in the list: a licence for any (D365-1).
    pub dynamics_apps: Vec<Option<Box<str>>>,
    /// Per-app passes held (CAT-1).
    pub per_app_units: u32,
    /// Power Platform requests per 24 hours: the sum over product lines of each line's highest plan (REQ-3),
    /// plus request add-ons (REQ-6).
    pub requests: u64,
    /// The single highest transition-period value (REQ-3, used by flows during the transition period).
    pub requests_transition_highest: u64,
    /// Request add-on units assigned to this user (REQ-6).
    pub request_addons: u32,
}

pub(crate) const CAPS: usize = Capability::ALL.len();

impl UserRec {
    #[inline]
    pub fn has(&self, cap: Capability) -> bool {
        self.caps.has(cap)
    }

    /// The licence that grants a capability.
    #[inline]
    pub fn sku_for(&self, cap: Capability) -> Option<SkuIdx> {
        self.granted_by.get(cap as usize).copied().flatten()
    }

    /// Holds a Dynamics 365 licence for the installed app `app` (D365-1).
    pub fn licensed_for_dynamics(&self, app: &str) -> bool {
        self.dynamics_apps
            .iter()
            .any(|a| a.as_deref().is_none_or(|a| a == app))
    }

    /// A principal that is not licensed and draws on the tenant pool (REQ-2).
    pub fn is_non_licensed_principal(&self) -> bool {
        matches!(self.kind, UserKind::ServicePrincipal | UserKind::NonInteractive)
    }
}

/// An environment.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvRec {
    pub id: Box<str>,
    pub default: bool,
    pub dataverse: bool,
    /// A Dynamics 365 app is installed (FLOW-10).
    pub has_dynamics: bool,
    /// A developer environment's owner (CAT-11): the one user its developer plan covers in it.
    pub developer_owner: Option<UserIdx>,
    /// The first app of the environment, in file order: the one a fix proposes to associate a flow with.
    pub first_app: Option<AppIdx>,
    /// Process-type units allocated (process licences, FLOW-14) and machine-only bots (unattended and hosted
    /// add-ons, FLOW-16), and per-flow units (FLOW-17).
    pub process_units: u64,
    pub bot_only_units: u64,
    pub per_flow_units: u64,
    /// Of the machine-only units, those from hosted process (CAT-7) and legacy unattended add-ons (CAT-6).
    pub hosted_units: u64,
    pub unattended_units: u64,
    /// Units demanded by flows set to process / per flow, and bots demanded by machines.
    pub process_demand: u64,
    pub bot_demand: u64,
    pub per_flow_demand: u64,
}

/// An app.
#[derive(Debug, Clone, PartialEq)]
pub struct AppRec {
    pub id: Box<str>,
    pub env: EnvIdx,
    pub kind: AppKind,
    /// Uses a premium connector on the snapshot's day (after M365-2 grandfathering).
    pub premium: bool,
    /// Premium only through reclassified connectors, and grandfathered (M365-2).
    pub grandfathered: bool,
    pub unknown_connectors: bool,
    /// A canvas app embedded in a model-driven app (does not count toward per-app limits, CAT-1).
    pub embedded: bool,
    pub complex_entity: Option<u32>,
    pub restricted_entity: Option<u32>,
    /// Extends an installed Dynamics 365 app (D365-1).
    pub extends_dynamics: bool,
    /// Which one.
    pub dynamics_app: Option<Box<str>>,
    pub users: Vec<UserIdx>,
}

/// Why a flow is premium.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Premium {
    /// Needs a premium licence today.
    pub premium: bool,
    /// Would be premium, but every premium part is a reclassified connector and the flow is grandfathered
    /// (FLOW-25, M365-2).
    pub grandfathered: bool,
    /// A reclassified connector makes it premium (M365-1).
    pub reclassified: bool,
    /// Created before the reclassification date (M365-2 is considered).
    pub made_before_reclassification: bool,
    /// Uses a connector the catalog does not know: treated as premium, with a warning.
    pub unknown_connector: bool,
    pub desktop: bool,
    /// A desktop flow and nothing else: no connector, no other premium feature (FLOW-23).
    pub desktop_only: bool,
    pub gateway: bool,
    pub custom_connector: bool,
    pub business_process: bool,
}

/// How a flow set to a capacity licence (or running on a machine) stands in its environment's pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// Not set to a capacity licence.
    None,
    /// Holds a unit of its environment's pool.
    Covered,
    /// Its environment has no free unit for it (FLOW-14); counted last-in-first-out.
    Overage,
}

/// A flow.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowRec {
    pub id: Box<str>,
    pub env: EnvIdx,
    pub trigger: Trigger,
    pub owner: UserIdx,
    pub co_owners: Vec<UserIdx>,
    pub run_by: Vec<UserIdx>,
    pub approvers: Vec<UserIdx>,
    pub beneficiaries: Vec<UserIdx>,
    pub premium: Premium,
    pub license: FlowLicense,
    /// The flow's own process / per-flow unit.
    pub coverage: Coverage,
    /// Unattended desktop flow: its machine's bots (FLOW-16).
    pub machine_coverage: Coverage,
    /// The flow whose machine licence covers this one: itself, a child or a parent on a covered machine (FLOW-16).
    pub machine_cover: Option<FlowIdx>,
    /// Other flows name this one as their parent.
    pub has_children: bool,
    pub desktop_mode: Option<DesktopMode>,
    pub parent: Option<FlowIdx>,
    pub in_context_of: Option<FlowIdx>,
    /// `in_context_of` points at a flow in another solution or environment, or one that uses other data
    /// sources (FLOW-15).
    pub in_context_mismatch: bool,
    /// Of those: same solution and environment, but other data sources (connectors) (FLOW-15).
    pub in_context_sources_differ: bool,
    /// Some other flow runs in this one's context (FLOW-15).
    pub context_target: bool,
    pub app: Option<AppIdx>,
    /// The flow uses a premium data source (connector) its associated app does not (FLOW-9, seed 002: a flow in
    /// an app's context "trebuie să folosească aceleași surse de date [...] ca și aplicația").
    pub app_sources_differ: bool,
    pub triggered_from_app: bool,
    /// Touches Dynamics 365 entities through Dataverse, or uses a first-party D365 connector (FLOW-10).
    pub d365_data: bool,
    pub complex_entity: Option<u32>,
    pub restricted_entity: Option<u32>,
    pub created: Option<NaiveDate>,
    pub enabled: bool,
    pub solution_aware: bool,
    /// The last time the flow was edited and saved.
    pub edited: Option<NaiveDate>,
    pub request_addons: u32,
}

/// The tenant-wide figures a snapshot works out once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantRec {
    /// The non-licensed principals' pool (REQ-2) and the product line it comes from.
    pub nonlicensed_pool: u64,
    pub nonlicensed_line: Option<crate::catalog::ProductLine>,
    /// Units per SKU in force today: purchased (active subscriptions) or, for a SKU with no subscription,
    /// assigned and allocated (seeded plans are recorded, not bought).
    pub units: HashMap<SkuIdx, u64>,
    /// Units per SKU assigned to users.
    pub assigned: HashMap<SkuIdx, u64>,
    /// Units per SKU allocated to environments.
    pub allocated: HashMap<SkuIdx, u64>,
    /// SKUs that have at least one subscription (so assignments are checked against purchases).
    pub subscribed: Vec<SkuIdx>,
    pub non_interactive_users: u32,
}

/// One tenant on one day, ready for decisions.
#[derive(Debug)]
pub struct Snapshot {
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) scenario: Scenario,
    pub(crate) at: NaiveDate,
    pub(crate) transition: bool,
    /// M365-2: some app or flow made before the reclassification used a reclassified connector, and the
    /// tenant's transition has not ended (kept so that a patch can tell whether a change turns it).
    pub(crate) reclassification_transition: bool,
    pub(crate) users: Chunked<UserRec>,
    pub(crate) envs: Chunked<EnvRec>,
    pub(crate) apps: Chunked<AppRec>,
    pub(crate) flows: Chunked<FlowRec>,
    pub(crate) entity_ids: Arc<Vec<Box<str>>>,
    pub(crate) entities: Arc<build::Entities>,
    /// This snapshot's number, unique in the process: what a patched snapshot names its base by.
    pub(crate) stamp: u64,
    /// For a snapshot patched from another: that one's stamp, and the users and flows the patch changed in
    /// place (what a dry run's flips are worked out from; see [`crate::entities::flips`]).
    pub(crate) touched: Option<Arc<Touched>>,
    pub(crate) tenant: TenantRec,
    user_ids: Interner,
    env_ids: Interner,
    app_ids: Interner,
    flow_ids: Interner,
}

impl Snapshot {
    /// Builds the snapshot of `scenario` on day `at`. The scenario must have passed [`Scenario::parse`]'s checks;
    /// a reference that still does not resolve is reported as a [`BuildError`].
    pub fn new(catalog: Arc<Catalog>, scenario: Scenario, at: NaiveDate) -> Result<Snapshot, BuildError> {
        build::build(catalog, scenario, at)
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }
    /// The shared catalog, to build another snapshot on it.
    pub fn catalog_arc(&self) -> &Arc<Catalog> {
        &self.catalog
    }
    /// The same tenant on another day.
    pub fn on(&self, day: NaiveDate) -> Result<Snapshot, BuildError> {
        Snapshot::new(Arc::clone(&self.catalog), self.scenario.clone(), day)
    }
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }
    /// The evaluation day.
    pub fn at(&self) -> NaiveDate {
        self.at
    }
    /// The transition-period rules apply (REQ-3, FLOW-7).
    pub fn transition(&self) -> bool {
        self.transition
    }
    pub fn tenant(&self) -> &TenantRec {
        &self.tenant
    }

    pub fn user_idx(&self, id: &str) -> Option<UserIdx> {
        self.user_ids.get(id).map(UserIdx)
    }
    pub fn env_idx(&self, id: &str) -> Option<EnvIdx> {
        self.env_ids.get(id).map(EnvIdx)
    }
    pub fn app_idx(&self, id: &str) -> Option<AppIdx> {
        self.app_ids.get(id).map(AppIdx)
    }
    pub fn flow_idx(&self, id: &str) -> Option<FlowIdx> {
        self.flow_ids.get(id).map(FlowIdx)
    }

    #[inline]
    pub fn user(&self, i: UserIdx) -> Option<&UserRec> {
        self.users.get(i.0 as usize)
    }
    #[inline]
    pub fn env(&self, i: EnvIdx) -> Option<&EnvRec> {
        self.envs.get(i.0 as usize)
    }
    #[inline]
    pub fn app(&self, i: AppIdx) -> Option<&AppRec> {
        self.apps.get(i.0 as usize)
    }
    #[inline]
    pub fn flow(&self, i: FlowIdx) -> Option<&FlowRec> {
        self.flows.get(i.0 as usize)
    }

    pub fn users(&self) -> impl ExactSizeIterator<Item = (UserIdx, &UserRec)> {
        self.users.iter().enumerate().map(|(i, u)| (UserIdx(i as u32), u))
    }
    pub fn envs(&self) -> impl ExactSizeIterator<Item = (EnvIdx, &EnvRec)> {
        self.envs.iter().enumerate().map(|(i, e)| (EnvIdx(i as u32), e))
    }
    pub fn apps(&self) -> impl ExactSizeIterator<Item = (AppIdx, &AppRec)> {
        self.apps.iter().enumerate().map(|(i, a)| (AppIdx(i as u32), a))
    }
    pub fn flows(&self) -> impl ExactSizeIterator<Item = (FlowIdx, &FlowRec)> {
        self.flows.iter().enumerate().map(|(i, f)| (FlowIdx(i as u32), f))
    }

    /// What a patch changed in place, when this snapshot was patched from `base` itself.
    pub(crate) fn touched_since(&self, base: &Snapshot) -> Option<&Touched> {
        self.touched_since_serial(base.stamp)
    }

    /// [`Snapshot::touched_since`] the snapshot whose [`Snapshot::serial`] is `base`.
    pub(crate) fn touched_since_serial(&self, base: u64) -> Option<&Touched> {
        self.touched.as_deref().filter(|t| t.base == base)
    }

    /// This snapshot's number, unique in the process.
    pub fn serial(&self) -> u64 {
        self.stamp
    }

    /// The [`Snapshot::serial`] of the snapshot this one was patched from by a write, if it was.
    pub fn patched_from(&self) -> Option<u64> {
        self.touched.as_ref().map(|t| t.base)
    }

    /// An entity of this id is declared.
    pub(crate) fn has_entity(&self, id: &str) -> bool {
        self.entities.contains(id)
    }

    /// The id of an entity interned by the snapshot.
    pub fn entity_id(&self, i: u32) -> &str {
        self.entity_ids.get(i as usize).map_or("?", |s| s)
    }

    /// Display helpers for messages: ids by index, `?` for an index from another snapshot.
    pub fn user_id(&self, i: UserIdx) -> &str {
        self.user(i).map_or("?", |u| &u.id)
    }
    pub fn env_id(&self, i: EnvIdx) -> &str {
        self.env(i).map_or("?", |e| &e.id)
    }
    pub fn app_id(&self, i: AppIdx) -> &str {
        self.app(i).map_or("?", |a| &a.id)
    }
    pub fn flow_id(&self, i: FlowIdx) -> &str {
        self.flow(i).map_or("?", |f| &f.id)
    }
    pub fn sku_id(&self, i: SkuIdx) -> &str {
        self.catalog.sku(i).map_or("?", |s| &s.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A snapshot is shared by many request handlers at once: it must be `Send + Sync` (and decisions `Copy`).
    #[test]
    fn snapshots_can_be_shared_across_threads() {
        fn shared<T: Send + Sync>() {}
        fn copied<T: Copy + Send>() {}
        shared::<Snapshot>();
        shared::<Catalog>();
        copied::<crate::decision::FlowDecision>();
        copied::<crate::decision::AppDecision>();
    }
}
