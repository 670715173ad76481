//! Benchmark support for entitle: the same flow decision written as [Cedar](https://www.cedarpolicy.com)
//! policies over the same data, so that `benches/decide.rs` can time both in one run and the tests can check
//! that they agree; a fixed, pseudo-random sample of decisions; and a richer synthetic tenant that exercises
//! the rules the plain generator leaves out (apps, Dynamics 365, desktop flows, entities, in-context flows).
//!
//! # The Cedar model
//!
//! One request asks whether `principal` may `Action::"run"` the flow `resource`. Entities:
//!
//! - `User`: `kind`, `left`, and one attribute per right the decision reads (`standard`, `premium`,
//!   `app_context`, `d365_context`, `attended_rpa`, `windows_desktop`, `complex_entities`,
//!   `restricted_entities`, and `dynamics_any` / `dynamics_apps`: the Dynamics 365 apps its D365 licences are
//!   for), taken from the snapshot's resolved capabilities (licence resolution — trials, lapses, guests,
//!   consumer accounts — is the snapshot's job and is not re-done in Cedar);
//! - `Env`: `dynamics` (a Dynamics 365 app is installed), `default`;
//! - `App`: `env`, `dynamics_app` (the installed Dynamics 365 app it extends, D365-1);
//! - `Flow`: `env`, `owner`, `co_owners`, `run_by`, `trigger`, `premium`, `license`, `covered` (holds a unit of
//!   its environment's process or per-flow pool, as the snapshot assigned them), `machine_covered` (a machine's
//!   bots cover it, itself or through a parent or child, as the snapshot worked out, FLOW-16), `unattended`,
//!   `attended_desktop`, `desktop_only`, `in_context` / `in_context_mismatch` (FLOW-15), `app`,
//!   `triggered_from_app`, `d365_data`, `complex_entity`, `restricted_entity`, `runs_in_parent_context` and
//!   `ctx` (the flow whose trigger and owner decide: the root of its parent chain for a child flow outside the
//!   transition period, else itself, FLOW-7);
//! - `Capacity::"pool"`: the parent (in Cedar's hierarchy) of every flow that holds a capacity unit or shares
//!   one through FLOW-15; a child flow's hierarchy parent is its parent flow, so `resource in Capacity::"pool"`
//!   is FLOW-7's "an ancestor holds a process or per-flow licence", computed by Cedar's transitive closure.
//!
//! The policies ([`POLICIES`]) permit a run when the flow holds a capacity unit (FLOW-1, FLOW-14, FLOW-17) or
//! shares a process unit through an association (FLOW-15, two levels deep, never a per-flow one), a machine's
//! bots cover it (FLOW-16), an ancestor holds a unit (FLOW-7), a service principal's automated flow is
//! standard or in a Dynamics 365 context (FLOW-20), or the user who runs it (the owner for automated and
//! scheduled flows, the invoker for instant ones) has standard rights for a standard flow (FLOW-5), premium
//! rights (FLOW-4), a Power Apps licence in an app's context (FLOW-9, FLOW-11), a Dynamics 365 licence for the
//! D365 app that the flow's app extends (FLOW-9, D365-1) or in a D365 data context (FLOW-10), or a Windows
//! licence for the owner's own unshared desktop-only flow in the default environment (FLOW-23); with the
//! user-side checks of FLOW-22 (non-interactive), FLOW-24 (left), FLOW-4/23 (attended RPA) and ENT-1/ENT-2
//! (entities), and no user rule for an unattended desktop flow (FLOW-16).
//!
//! An instant flow asked about without an invoking user is checked, as entitle does, for everyone in its
//! `run_by` (or its owner): one Cedar request each, allowed when all are ([`CedarModel::requests`]).
//!
//! What the model leaves out: the trace, the problems, warnings and enforcement kinds (Cedar answers
//! allow/deny only); licence resolution, capacity assignment and machine cover (read from the snapshot, see
//! above, as entitle's decision reads them); the transition period and the root of a parent chain are resolved
//! by the translation (`runs_in_parent_context`, `ctx`) rather than by a policy, since Cedar has no recursion.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicySet, Request,
    RestrictedExpression,
};
use entitle_core::Snapshot;
use entitle_core::catalog::Capability;
use entitle_core::flows::decide_flow;
use entitle_core::scenario::{
    DesktopMode, Entity as ScenarioEntity, Feature, FlowLicense, Logic, Scenario, Subscription, Trigger,
    UserKind,
};
use entitle_core::snapshot::{Coverage, FlowIdx, FlowRec, UserIdx};

/// Errors of the translation (Cedar parse or entity errors), boxed: this crate only benchmarks.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The Cedar schema of the model. The translation does not need it (entities are built without a schema, as
/// the benchmark's fastest path); the tests validate [`POLICIES`] against it.
pub const SCHEMA: &str = r#"
entity User = {
  kind: String,
  left: Bool,
  standard: Bool,
  premium: Bool,
  app_context: Bool,
  d365_context: Bool,
  attended_rpa: Bool,
  complex_entities: Bool,
  restricted_entities: Bool,
  windows_desktop: Bool,
  dynamics_any: Bool,
  dynamics_apps: Set<String>,
};
entity Env = { dynamics: Bool, default: Bool };
entity App = { env: Env, dynamics_app?: String };
entity Capacity;
entity Flow in [Flow, Capacity] = {
  env: Env,
  owner: User,
  co_owners: Set<User>,
  run_by: Set<User>,
  ctx: Flow,
  trigger: String,
  premium: Bool,
  license: String,
  covered: Bool,
  unattended: Bool,
  machine_covered: Bool,
  attended_desktop: Bool,
  desktop_only: Bool,
  runs_in_parent_context: Bool,
  in_context?: Flow,
  in_context_mismatch: Bool,
  app?: App,
  triggered_from_app: Bool,
  app_sources_differ: Bool,
  d365_data: Bool,
  complex_entity: Bool,
  restricted_entity: Bool,
};
action run appliesTo { principal: User, resource: Flow };
"#;

/// The decision rules as Cedar policies. `permit`s only: a run is allowed when one of them applies.
pub const POLICIES: &str = r#"
// FLOW-1, FLOW-14, FLOW-17: the flow holds a unit of its environment's process or per-flow pool.
@id("flow-1-own-capacity")
permit (principal, action == Action::"run", resource is Flow)
when { resource.covered };

// FLOW-15: associated with a flow of the same solution and environment that holds a process unit, or that
// shares one itself; a per-flow licence covers no associated flow (FLOW-17).
@id("flow-15-in-context")
permit (principal, action == Action::"run", resource is Flow)
when {
  resource has in_context && resource.in_context.license != "per-flow" && !resource.in_context_mismatch &&
  ((resource.in_context.covered && resource.in_context.license == "process") ||
    (resource.in_context has in_context && !resource.in_context.in_context_mismatch &&
     resource.in_context.in_context.covered && resource.in_context.in_context.license == "process"))
};

// FLOW-16: a machine's bots cover the flows that call its desktop flows, with their parents and children; an
// unattended desktop flow runs on them only (the other rules exclude it).
@id("flow-16-machine")
permit (principal, action == Action::"run", resource is Flow)
when { resource.machine_covered };

// FLOW-7: a child flow runs under a unit held by an ancestor (Cedar's `in` walks the parent chain).
@id("flow-7-parent-capacity")
permit (principal, action == Action::"run", resource is Flow)
when { !resource.unattended && resource.runs_in_parent_context && resource in Capacity::"pool" };

// FLOW-20: a service principal's automated flow needs no user licence when standard, and is covered in a
// Dynamics 365 context.
@id("flow-20-service-principal")
permit (principal, action == Action::"run", resource is Flow)
when {
  !resource.unattended && resource.ctx.trigger != "instant" &&
  resource.ctx.owner.kind == "service-principal" &&
  (!resource.premium || (resource.d365_data && resource.env.dynamics))
};

// FLOW-5, M365-3: a standard flow, run by a user with standard rights (or who left: a warning, not a block).
@id("flow-5-standard")
permit (principal, action == Action::"run", resource is Flow)
when { __RUNNER__ && !resource.premium && (principal.left || principal.standard) };

// FLOW-4: a premium flow, run by a user with premium rights.
@id("flow-4-premium")
permit (principal, action == Action::"run", resource is Flow)
when { __RUNNER__ && __PREMIUM_USER__ && principal.premium };

// FLOW-9, FLOW-11: a Power Apps licence covers a premium flow triggered from an app or associated with an app
// of the same environment.
@id("flow-9-app-context")
permit (principal, action == Action::"run", resource is Flow)
when {
  __RUNNER__ && __PREMIUM_USER__ && principal.app_context &&
  (resource.triggered_from_app ||
   (resource has app && resource.app.env == resource.env && !resource.app_sources_differ))
};

// FLOW-9, D365-1: a Dynamics 365 licence covers a premium flow associated with an app of the same environment
// that extends an installed Dynamics 365 app the licence is for.
@id("flow-9-d365-app")
permit (principal, action == Action::"run", resource is Flow)
when {
  __RUNNER__ && __PREMIUM_USER__ && principal.d365_context &&
  resource has app && resource.app.env == resource.env && resource.app has dynamics_app &&
  (principal.dynamics_any || principal.dynamics_apps.contains(resource.app.dynamics_app))
};

// FLOW-23: a Windows licence (without RPA rights) runs a flow whose only premium part is desktop flows, for its
// owner, in the default environment, unshared; nothing else covers such a flow for such a user.
@id("flow-23-windows")
permit (principal, action == Action::"run", resource is Flow)
when {
  __RUNNER__ && resource.premium && !principal.left && __WINDOWS_ONLY__ &&
  resource.env.default && principal == resource.owner &&
  resource.co_owners.isEmpty() && [resource.owner].containsAll(resource.run_by)
};

// FLOW-10, D365-2: a Dynamics 365 licence covers a premium flow that touches D365 data where a D365 app is
// installed.
@id("flow-10-d365-context")
permit (principal, action == Action::"run", resource is Flow)
when { __RUNNER__ && __PREMIUM_USER__ && principal.d365_context && resource.d365_data && resource.env.dynamics };
"#;

/// Who the user rules apply to, and the checks on that user that every user rule shares: the invoker of an
/// instant flow (FLOW-3) or the owner of an automated or scheduled one (FLOW-2), never a service principal's
/// automated flow (FLOW-20 above), never a non-interactive user (FLOW-22), with the rights the flow's entities
/// need (ENT-1, ENT-2); never for an unattended desktop flow (FLOW-16 above).
const RUNNER: &str = r#"(!resource.unattended &&
  (resource.ctx.trigger == "instant" ||
    (principal == resource.ctx.owner && principal.kind != "service-principal")) &&
  principal.kind != "non-interactive" &&
  (!resource.complex_entity || principal.complex_entities) &&
  (!resource.restricted_entity || principal.restricted_entities))"#;

/// A premium flow needs a user who has not left (FLOW-24) and, for attended desktop flows, RPA rights (FLOW-4,
/// FLOW-23). (This also keeps FLOW-23's case — a flow premium only through desktop flows, a user whose only
/// desktop rights are a Windows licence — out of the other premium rules, as entitle does.)
const PREMIUM_USER: &str =
    r#"(resource.premium && !principal.left && (!resource.attended_desktop || principal.attended_rpa))"#;

/// FLOW-23's case: desktop flows are the flow's only premium part, and the user's desktop rights come from
/// Windows only.
const WINDOWS_ONLY: &str =
    r#"(resource.desktop_only && principal.windows_desktop && !principal.attended_rpa)"#;

/// The policy text with the shared conditions written out.
pub fn policy_text() -> String {
    POLICIES
        .replace("__RUNNER__", RUNNER)
        .replace("__PREMIUM_USER__", PREMIUM_USER)
        .replace("__WINDOWS_ONLY__", WINDOWS_ONLY)
}

/// A snapshot translated to Cedar: the policies, the entity store, and an authorizer. Built once.
#[derive(Debug)]
pub struct CedarModel {
    pub policies: PolicySet,
    pub entities: Entities,
    pub authorizer: Authorizer,
    types: Types,
}

#[derive(Debug, Clone)]
struct Types {
    user: EntityTypeName,
    env: EntityTypeName,
    app: EntityTypeName,
    flow: EntityTypeName,
    action: EntityUid,
    pool: EntityUid,
}

impl Types {
    fn new() -> Result<Types, Error> {
        Ok(Types {
            user: EntityTypeName::from_str("User")?,
            env: EntityTypeName::from_str("Env")?,
            app: EntityTypeName::from_str("App")?,
            flow: EntityTypeName::from_str("Flow")?,
            action: EntityUid::from_str(r#"Action::"run""#)?,
            pool: EntityUid::from_str(r#"Capacity::"pool""#)?,
        })
    }

    fn uid(ty: &EntityTypeName, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
    }
}

/// The flow whose trigger and owner decide `f` (FLOW-7): the root of its parent chain when it runs in its
/// parent's context, else itself.
fn context_of(snap: &Snapshot, idx: FlowIdx) -> FlowIdx {
    let mut cur = idx;
    if snap.transition() {
        return cur;
    }
    for _ in 0..snap.flows().len() {
        match snap.flow(cur).and_then(|f| f.parent) {
            Some(p) => cur = p,
            None => break,
        }
    }
    cur
}

/// FLOW-15: `f` shares the process unit of the flow it is associated with.
fn shares_process(snap: &Snapshot, f: &FlowRec) -> bool {
    f.in_context_of
        .filter(|_| !f.in_context_mismatch)
        .and_then(|c| snap.flow(c))
        .is_some_and(|c| c.coverage == Coverage::Covered && c.license == FlowLicense::Process)
}

fn bool_attr(name: &str, v: bool) -> (String, RestrictedExpression) {
    (name.to_owned(), RestrictedExpression::new_bool(v))
}

fn str_attr(name: &str, v: &str) -> (String, RestrictedExpression) {
    (name.to_owned(), RestrictedExpression::new_string(v.to_owned()))
}

fn uid_attr(name: &str, v: EntityUid) -> (String, RestrictedExpression) {
    (name.to_owned(), RestrictedExpression::new_entity_uid(v))
}

fn set_attr(name: &str, items: impl Iterator<Item = RestrictedExpression>) -> (String, RestrictedExpression) {
    (name.to_owned(), RestrictedExpression::new_set(items))
}

impl CedarModel {
    /// Translates every user, environment, app and flow of `snap` into Cedar entities, and parses the policies.
    pub fn new(snap: &Snapshot) -> Result<CedarModel, Error> {
        let types = Types::new()?;
        let policies = PolicySet::from_str(&policy_text())?;
        let mut entities: Vec<Entity> = Vec::with_capacity(
            snap.users().len() + snap.envs().len() + snap.apps().len() + snap.flows().len() + 1,
        );
        entities.push(Entity::new_no_attrs(types.pool.clone(), HashSet::new()));
        for (_, u) in snap.users() {
            let attrs = HashMap::from([
                str_attr("kind", u.kind.as_str()),
                bool_attr("left", u.left.is_some()),
                bool_attr("standard", u.has(Capability::FlowsStandard)),
                bool_attr("premium", u.has(Capability::FlowsPremium)),
                bool_attr("app_context", u.has(Capability::FlowsAppContext)),
                bool_attr("d365_context", u.has(Capability::FlowsD365Context)),
                bool_attr("attended_rpa", u.has(Capability::AttendedRpa)),
                bool_attr("complex_entities", u.has(Capability::ComplexEntities)),
                bool_attr("restricted_entities", u.has(Capability::RestrictedEntities)),
                bool_attr("windows_desktop", u.has(Capability::WindowsDesktopFlows)),
                bool_attr("dynamics_any", u.dynamics_apps.iter().any(Option::is_none)),
                set_attr(
                    "dynamics_apps",
                    u.dynamics_apps
                        .iter()
                        .flatten()
                        .map(|a| RestrictedExpression::new_string(a.to_string())),
                ),
            ]);
            entities.push(Entity::new(
                Types::uid(&types.user, &u.id),
                attrs,
                HashSet::new(),
            )?);
        }
        for (_, e) in snap.envs() {
            let attrs = HashMap::from([
                bool_attr("dynamics", e.has_dynamics),
                bool_attr("default", e.default),
            ]);
            entities.push(Entity::new(Types::uid(&types.env, &e.id), attrs, HashSet::new())?);
        }
        for (_, a) in snap.apps() {
            let mut attrs = HashMap::from([uid_attr("env", Types::uid(&types.env, snap.env_id(a.env)))]);
            if let Some(d) = &a.dynamics_app {
                attrs.extend([str_attr("dynamics_app", d)]);
            }
            entities.push(Entity::new(Types::uid(&types.app, &a.id), attrs, HashSet::new())?);
        }
        let user_expr =
            |u: UserIdx| RestrictedExpression::new_entity_uid(Types::uid(&types.user, snap.user_id(u)));
        for (idx, f) in snap.flows() {
            let ctx = context_of(snap, idx);
            let unattended = f.premium.desktop && f.desktop_mode == Some(DesktopMode::Unattended);
            let mut attrs = HashMap::from([
                uid_attr("env", Types::uid(&types.env, snap.env_id(f.env))),
                uid_attr("owner", Types::uid(&types.user, snap.user_id(f.owner))),
                set_attr("co_owners", f.co_owners.iter().map(|u| user_expr(*u))),
                set_attr("run_by", f.run_by.iter().map(|u| user_expr(*u))),
                uid_attr("ctx", Types::uid(&types.flow, snap.flow_id(ctx))),
                str_attr("trigger", f.trigger.as_str()),
                bool_attr("premium", f.premium.premium),
                str_attr(
                    "license",
                    match f.license {
                        FlowLicense::User => "user",
                        FlowLicense::Process => "process",
                        FlowLicense::PerFlow => "per-flow",
                    },
                ),
                bool_attr("covered", f.coverage == Coverage::Covered),
                bool_attr("unattended", unattended),
                bool_attr("machine_covered", f.machine_cover.is_some()),
                bool_attr("attended_desktop", f.premium.desktop && !unattended),
                bool_attr("desktop_only", f.premium.desktop_only),
                bool_attr("runs_in_parent_context", f.parent.is_some() && !snap.transition()),
                bool_attr("in_context_mismatch", f.in_context_mismatch),
                bool_attr("triggered_from_app", f.triggered_from_app),
                bool_attr("app_sources_differ", f.app_sources_differ),
                bool_attr("d365_data", f.d365_data),
                bool_attr("complex_entity", f.complex_entity.is_some()),
                bool_attr("restricted_entity", f.restricted_entity.is_some()),
            ]);
            if let Some(c) = f.in_context_of {
                attrs.extend([uid_attr("in_context", Types::uid(&types.flow, snap.flow_id(c)))]);
            }
            if let Some(a) = f.app {
                attrs.extend([uid_attr("app", Types::uid(&types.app, snap.app_id(a)))]);
            }
            let mut parents = HashSet::new();
            if let Some(p) = f.parent {
                parents.insert(Types::uid(&types.flow, snap.flow_id(p)));
            }
            if f.coverage == Coverage::Covered || shares_process(snap, f) {
                parents.insert(types.pool.clone());
            }
            entities.push(Entity::new(Types::uid(&types.flow, &f.id), attrs, parents)?);
        }
        let entities = Entities::from_entities(entities, None)?;
        Ok(CedarModel {
            policies,
            entities,
            authorizer: Authorizer::new(),
            types,
        })
    }

    /// The Cedar requests that answer entitle's `decide_flow(snap, flow, as_user)`: one for the user who runs
    /// the flow, or, for an instant flow asked about without an invoking user, one per user in its `run_by`
    /// (its owner when nobody is listed). The run is allowed when every request is.
    pub fn requests(
        &self,
        snap: &Snapshot,
        flow: FlowIdx,
        as_user: Option<UserIdx>,
    ) -> Result<Vec<Request>, Error> {
        let Some(f) = snap.flow(flow) else {
            return Ok(Vec::new());
        };
        let ctx = snap.flow(context_of(snap, flow)).unwrap_or(f);
        let runners: Vec<UserIdx> = match (ctx.trigger, as_user) {
            (Trigger::Instant, Some(u)) => vec![u],
            (Trigger::Instant, None) if !ctx.run_by.is_empty() => ctx.run_by.clone(),
            _ => vec![ctx.owner],
        };
        let resource = Types::uid(&self.types.flow, &f.id);
        runners
            .into_iter()
            .map(|u| {
                let principal = Types::uid(&self.types.user, snap.user_id(u));
                Ok(Request::new(
                    principal,
                    self.types.action.clone(),
                    resource.clone(),
                    Context::empty(),
                    None,
                )?)
            })
            .collect()
    }

    /// Cedar's answer to one request.
    #[inline]
    pub fn is_authorized(&self, request: &Request) -> bool {
        self.authorizer
            .is_authorized(request, &self.policies, &self.entities)
            .decision()
            == Decision::Allow
    }

    /// Cedar's answer for a decision: every request allowed (and at least one asked).
    #[inline]
    pub fn allows(&self, requests: &[Request]) -> bool {
        !requests.is_empty() && requests.iter().all(|r| self.is_authorized(r))
    }

    /// Evaluation errors Cedar met for a request (a policy that errs does not apply); empty when the model
    /// is well-formed for the data.
    pub fn errors(&self, request: &Request) -> Vec<String> {
        let response = self
            .authorizer
            .is_authorized(request, &self.policies, &self.entities);
        response.diagnostics().errors().map(ToString::to_string).collect()
    }
}

/// splitmix64, as `entitle_core::generate` uses: reproducible samples.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    fn below_usize(&mut self, n: usize) -> usize {
        usize::try_from(self.below(n as u64)).unwrap_or(0)
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
}

/// A fixed, pseudo-random mix of `n` decisions: flows drawn uniformly; an instant flow (its own trigger) is
/// asked about with an invoking user (`--as`) half of the time, drawn uniformly from the users.
pub fn sample(snap: &Snapshot, n: usize, seed: u64) -> Vec<(FlowIdx, Option<UserIdx>)> {
    let mut rng = Rng(seed);
    let flows = snap.flows().len() as u64;
    let users = snap.users().len() as u64;
    let mut out = Vec::with_capacity(n);
    if flows == 0 {
        return out;
    }
    for _ in 0..n {
        let idx = FlowIdx(u32::try_from(rng.below(flows)).unwrap_or(0));
        let instant = snap.flow(idx).is_some_and(|f| f.trigger == Trigger::Instant);
        let as_user = if instant && rng.chance(2) {
            Some(UserIdx(u32::try_from(rng.below(users)).unwrap_or(0)))
        } else {
            None
        };
        out.push((idx, as_user));
    }
    out
}

/// The flow the single-flow benchmark decides: the first premium automated flow that is not a child flow and
/// not set to a capacity licence, so that the decision walks the owner's licences (the common case).
pub fn single_flow(snap: &Snapshot) -> Option<FlowIdx> {
    snap.flows()
        .find(|(_, f)| {
            f.premium.premium
                && f.trigger == Trigger::Automated
                && f.parent.is_none()
                && f.license == FlowLicense::User
        })
        .map(|(i, _)| i)
}

/// How often Cedar and entitle agree on `allowed`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Agreement {
    pub compared: usize,
    pub agreed: usize,
    /// Decisions entitle allowed, among those compared.
    pub allowed: usize,
    /// The first disagreements: flow id, `--as` user id, entitle's answer.
    pub disagreements: Vec<(String, Option<String>, bool)>,
}

impl Agreement {
    pub fn rate(&self) -> f64 {
        if self.compared == 0 {
            1.0
        } else {
            self.agreed as f64 / self.compared as f64
        }
    }
}

/// Compares Cedar's allow/deny with entitle's `allowed` over `sample`.
pub fn agreement(
    snap: &Snapshot,
    model: &CedarModel,
    sample: &[(FlowIdx, Option<UserIdx>)],
) -> Result<Agreement, Error> {
    let mut a = Agreement::default();
    for &(flow, as_user) in sample {
        let entitle = decide_flow(snap, flow, as_user).allowed;
        let cedar = model.allows(&model.requests(snap, flow, as_user)?);
        a.compared += 1;
        a.allowed += usize::from(entitle);
        if entitle == cedar {
            a.agreed += 1;
        } else if a.disagreements.len() < 20 {
            a.disagreements.push((
                snap.flow_id(flow).to_owned(),
                as_user.map(|u| snap.user_id(u).to_owned()),
                entitle,
            ));
        }
    }
    Ok(a)
}

/// A synthetic tenant ([`entitle_core::generate::synthetic`]) enriched so that every rule the Cedar model
/// covers is exercised: users of every kind and with app, Dynamics 365, RPA and Plan 2 licences; flows
/// associated with or triggered from apps, touching Dynamics 365 data, running attended and unattended desktop
/// flows, using complex and restricted entities, associated with other flows (FLOW-15), set to per flow.
pub fn enriched(flows: u32, users: u32, environments: u32, seed: u64) -> Scenario {
    let mut s = entitle_core::generate::synthetic(flows, users, environments, seed);
    let mut rng = Rng(seed ^ 0x5EED);
    s.entities = vec![
        ScenarioEntity {
            id: "account".to_owned(),
            dynamics: true,
            ..ScenarioEntity::default()
        },
        ScenarioEntity {
            id: "invoice".to_owned(),
            complex_logic: vec![Logic::SyncPlugin],
            ..ScenarioEntity::default()
        },
        ScenarioEntity {
            id: "msdyn_restricted".to_owned(),
            restricted: true,
            ..ScenarioEntity::default()
        },
    ]
    .into();
    const EXTRA: &[&[&str]] = &[
        &["power-apps-per-user"],
        &["dynamics-365-sales-enterprise"],
        &["power-automate-per-user-attended-rpa"],
        &["powerapps-plan-2"],
        &["office-365-e3", "power-apps-per-app"],
        &["flow-plan-2"],
        &["windows-10-pro"],
        &["windows-11-pro"],
        &["windows-enterprise-e3", "power-automate-per-user-attended-rpa"],
        &["dynamics-365-customer-service-enterprise"],
    ];
    for u in &mut s.users {
        if u.kind != UserKind::Member {
            continue;
        }
        match rng.below(40) {
            0 => u.kind = UserKind::NonInteractive,
            1 => u.kind = UserKind::ServiceAccount,
            2 => u.account = entitle_core::scenario::Account::Consumer,
            3..=14 => {
                let extra = EXTRA.get(rng.below_usize(EXTRA.len())).copied().unwrap_or(&[]);
                u.licenses = extra.iter().map(|x| (*x).to_owned()).collect();
            }
            _ => {}
        }
    }
    s.subscriptions.push(Subscription {
        sku: "power-automate-per-flow".to_owned(),
        quantity: environments.max(1),
        ..Subscription::default()
    });
    for (i, e) in s.environments.iter_mut().enumerate() {
        if i % 4 == 1 {
            e.allocations.insert("power-automate-per-flow".to_owned(), 1);
        }
        if i % 10 == 7 {
            e.dynamics_apps.push("sales".to_owned());
        }
    }
    // D365-1: apps that extend a Dynamics 365 app (counted only where it is installed).
    for (i, a) in s.apps.iter_mut().enumerate() {
        match i % 3 {
            0 => a.extends_dynamics = Some("customer-service".to_owned()),
            1 => a.extends_dynamics = Some("sales".to_owned()),
            _ => {}
        }
    }
    let app_count = s.apps.len();
    let app_env: Vec<String> = s.apps.iter().map(|a| a.environment.clone()).collect();
    for i in 0..s.flows.len() {
        // FLOW-15: associate with an earlier flow, often of the same environment and solution.
        // The target is, as often as not, the nearest earlier process flow, or a flow that is itself associated
        // (so that the association chains), else any earlier flow.
        let in_context = if i > 10 && rng.chance(25) {
            let recent = i.saturating_sub(2_000)..i;
            let target = match rng.below(4) {
                0 | 1 => recent
                    .rev()
                    .find(|j| s.flows.get(*j).is_some_and(|o| o.license == FlowLicense::Process)),
                2 => recent
                    .rev()
                    .find(|j| s.flows.get(*j).is_some_and(|o| o.in_context_of.is_some())),
                _ => None,
            };
            s.flows
                .get(target.unwrap_or_else(|| rng.below_usize(i)))
                .map(|o| o.id.clone())
        } else {
            None
        };
        // FLOW-7: a child of a recent flow of the same environment (the plain generator's children are rare
        // when there are many environments).
        let parent = if i > 0 && rng.chance(12) {
            let env = s.flows.get(i).map(|f| f.environment.clone()).unwrap_or_default();
            // Half of the time the nearest earlier process flow of the environment, else the nearest flow.
            let process = rng.chance(2);
            (i.saturating_sub(300)..i).rev().find_map(|j| {
                s.flows
                    .get(j)
                    .filter(|o| o.environment == env && (!process || o.license == FlowLicense::Process))
            })
        } else {
            None
        };
        let parent = parent.map(|p| p.id.clone());
        let Some(f) = s.flows.get_mut(i) else { continue };
        f.in_context_of = in_context;
        if parent.is_some() {
            f.parent = parent;
        }
        if f.license == FlowLicense::User && rng.chance(40) {
            f.license = FlowLicense::Process;
        }
        if rng.chance(6) && app_count > 0 {
            // Half of the time an app of the flow's own environment, when one is at hand.
            let k = rng.below_usize(app_count);
            let same = app_env
                .iter()
                .position(|e| *e == f.environment)
                .filter(|_| rng.chance(2));
            f.app = Some(format!("app-{}", same.unwrap_or(k)));
        }
        f.triggered_from_app = rng.chance(12);
        if rng.chance(8) {
            f.connectors.push("shared_dynamicscrmonline".to_owned());
        }
        if rng.chance(10) {
            f.connectors.push("shared_commondataserviceforapps".to_owned());
            f.entities.push("account".to_owned());
        }
        if rng.chance(30) {
            f.entities.push("invoice".to_owned());
        }
        if rng.chance(30) {
            f.entities.push("msdyn_restricted".to_owned());
        }
        if rng.chance(25) {
            f.features.push(Feature::DesktopFlow);
            f.desktop_mode = Some(if rng.chance(2) {
                DesktopMode::Attended
            } else {
                DesktopMode::Unattended
            });
            f.machine = Some(format!("machine-{}", rng.below(50)));
            // FLOW-23: premium only through desktop flows, often in the default environment.
            if rng.chance(2) {
                f.connectors.clear();
                f.features = vec![Feature::DesktopFlow];
                if rng.chance(2) {
                    f.environment = "default".to_owned();
                }
            }
        }
        if f.license == FlowLicense::User && rng.chance(60) {
            f.license = FlowLicense::PerFlow;
        }
    }
    // Flows associated with a flow of another environment or solution are a FLOW-15 mismatch: keep a few, and
    // make most of them match by moving the association to the same solution and environment.
    let by_id: HashMap<String, (String, Option<String>)> = s
        .flows
        .iter()
        .map(|f| (f.id.clone(), (f.environment.clone(), f.solution.clone())))
        .collect();
    for f in &mut s.flows {
        if let Some((env, solution)) = f.in_context_of.as_ref().and_then(|c| by_id.get(c)) {
            if rng.chance(4) {
                continue;
            }
            f.environment.clone_from(env);
            f.solution.clone_from(solution);
            f.parent = None;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cedar_policy::{Schema, ValidationMode, Validator};
    use chrono::NaiveDate;
    use entitle_core::Catalog;
    use entitle_core::generate::synthetic;

    use super::*;

    fn snapshot(s: Scenario) -> Snapshot {
        let at = s
            .tenant
            .at
            .unwrap_or(NaiveDate::from_ymd_opt(2024, 6, 1).unwrap());
        Snapshot::new(Arc::new(Catalog::seed().unwrap()), s, at).unwrap()
    }

    fn every_flow(snap: &Snapshot) -> Vec<(FlowIdx, Option<UserIdx>)> {
        let users = snap.users().len() as u32;
        let mut v = Vec::new();
        for (i, f) in snap.flows() {
            v.push((i, None));
            if f.trigger == Trigger::Instant {
                v.push((i, Some(UserIdx(i.0 % users))));
            }
        }
        v
    }

    fn assert_agrees(snap: &Snapshot, sample: &[(FlowIdx, Option<UserIdx>)]) -> Agreement {
        let model = CedarModel::new(snap).unwrap();
        for &(f, u) in sample.iter().take(500) {
            for r in model.requests(snap, f, u).unwrap() {
                assert_eq!(
                    model.errors(&r),
                    Vec::<String>::new(),
                    "Cedar errors for {}",
                    snap.flow_id(f)
                );
            }
        }
        let a = agreement(snap, &model, sample).unwrap();
        assert!(a.compared >= 1_000, "compared only {}", a.compared);
        assert_eq!(a.agreed, a.compared, "disagreements: {:?}", a.disagreements);
        // Both answers occur, so the comparison means something.
        assert!(
            a.allowed > 0 && a.allowed < a.compared,
            "allowed {} of {}",
            a.allowed,
            a.compared
        );
        a
    }

    #[test]
    fn policies_validate_against_the_schema() {
        let (schema, _) = Schema::from_cedarschema_str(SCHEMA).unwrap();
        let policies = PolicySet::from_str(&policy_text()).unwrap();
        let result = Validator::new(schema).validate(&policies, ValidationMode::Strict);
        let errors: Vec<String> = result.validation_errors().map(ToString::to_string).collect();
        assert!(result.validation_passed(), "{errors:?}");
    }

    #[test]
    fn cedar_agrees_with_entitle_on_the_synthetic_tenant() {
        let snap = snapshot(synthetic(5_000, 1_000, 50, 1));
        let sample = every_flow(&snap);
        assert_agrees(&snap, &sample);
    }

    #[test]
    fn cedar_agrees_with_entitle_on_the_enriched_tenant() {
        let snap = snapshot(enriched(5_000, 1_000, 50, 3));
        // Every rule the model covers is exercised.
        let flows: Vec<&FlowRec> = snap.flows().map(|(_, f)| f).collect();
        assert!(
            flows
                .iter()
                .any(|f| f.premium.desktop && f.desktop_mode == Some(DesktopMode::Unattended))
        );
        assert!(
            flows
                .iter()
                .any(|f| f.premium.desktop && f.desktop_mode == Some(DesktopMode::Attended))
        );
        assert!(
            flows
                .iter()
                .any(|f| f.in_context_of.is_some() && !f.in_context_mismatch)
        );
        assert!(flows.iter().any(|f| f.in_context_mismatch));
        assert!(
            flows
                .iter()
                .any(|f| f.d365_data && snap.env(f.env).is_some_and(|e| e.has_dynamics))
        );
        assert!(flows.iter().any(|f| f.complex_entity.is_some()));
        assert!(flows.iter().any(|f| f.restricted_entity.is_some()));
        assert!(
            flows
                .iter()
                .any(|f| f.license == FlowLicense::PerFlow && f.coverage == Coverage::Covered)
        );
        // Child flows of flows that hold a unit, and of flows that do not.
        let parent_covered = |f: &&FlowRec| f.parent.and_then(|p| snap.flow(p)).map(|p| p.coverage);
        assert!(flows.iter().any(|f| parent_covered(f) == Some(Coverage::Covered)));
        assert!(flows.iter().any(|f| parent_covered(f) == Some(Coverage::None)));
        assert!(flows.iter().any(|f| f.app.is_some()));
        // D365-1 apps with flows associated in their environment; FLOW-23 flows owned by Windows-only users in
        // the default environment; FLOW-16 machine cover reaching flows that are not on a machine themselves.
        assert!(flows.iter().any(|f| {
            f.app
                .and_then(|a| snap.app(a))
                .is_some_and(|a| a.env == f.env && a.dynamics_app.is_some())
        }));
        assert!(flows.iter().any(|f| {
            let windows_only = snap
                .user(f.owner)
                .is_some_and(|u| u.has(Capability::WindowsDesktopFlows) && !u.has(Capability::AttendedRpa));
            f.premium.desktop_only && windows_only && snap.env(f.env).is_some_and(|e| e.default)
        }));
        assert!(
            flows
                .iter()
                .any(|f| f.machine_cover.is_some() && !f.premium.desktop)
        );
        let sample = every_flow(&snap);
        let a = assert_agrees(&snap, &sample);
        assert!(a.compared > 5_000);
    }

    #[test]
    fn cedar_agrees_in_the_transition_period() {
        let mut s = enriched(3_000, 600, 30, 5);
        s.tenant.transition_period = true;
        let snap = snapshot(s);
        assert!(snap.transition());
        assert_agrees(&snap, &every_flow(&snap));
    }

    /// The corners random tenants rarely reach: FLOW-15 through two associations, a child of a flow that
    /// shares a unit, an unattended child of a covered flow whose machine has no bot, a FLOW-15 mismatch.
    #[test]
    fn cedar_agrees_on_the_capacity_corners() {
        use entitle_core::scenario::{Environment, Flow, Tenant, User};
        let day = |y, m| NaiveDate::from_ymd_opt(y, m, 1);
        let flow = |id: &str, created, f: Flow| Flow {
            id: id.to_owned(),
            environment: "default".to_owned(),
            owner: if f.owner.is_empty() {
                "maker".to_owned()
            } else {
                f.owner.clone()
            },
            // An attended desktop flow here is premium only through its desktop flows (FLOW-23).
            connectors: if f.desktop_mode == Some(DesktopMode::Attended) {
                Vec::new()
            } else {
                vec!["shared_sql".to_owned()]
            },
            solution: Some(f.solution.clone().unwrap_or_else(|| "s".to_owned())),
            created,
            ..f
        };
        let linked = |to: &str| Flow {
            in_context_of: Some(to.to_owned()),
            ..Flow::default()
        };
        let child = |of: &str| Flow {
            parent: Some(of.to_owned()),
            ..Flow::default()
        };
        let unattended = |of: &str, machine: &str| Flow {
            features: vec![Feature::DesktopFlow],
            desktop_mode: Some(DesktopMode::Unattended),
            machine: Some(machine.to_owned()),
            ..child(of)
        };
        let windows = |f: Flow| Flow {
            owner: "win".to_owned(),
            features: vec![Feature::DesktopFlow],
            desktop_mode: Some(DesktopMode::Attended),
            ..f
        };
        let s = Scenario {
            tenant: Tenant {
                id: "corners".to_owned(),
                at: day(2024, 6),
                ..Tenant::default()
            },
            subscriptions: vec![
                Subscription {
                    sku: "power-automate-process".to_owned(),
                    quantity: 2,
                    ..Subscription::default()
                },
                Subscription {
                    sku: "power-automate-per-flow".to_owned(),
                    quantity: 1,
                    ..Subscription::default()
                },
            ]
            .into(),
            users: vec![
                User {
                    id: "maker".to_owned(),
                    licenses: vec!["office-365-e3".to_owned()],
                    ..User::default()
                },
                User {
                    id: "pro".to_owned(),
                    licenses: vec!["power-automate-per-user".to_owned()],
                    ..User::default()
                },
                User {
                    id: "win".to_owned(),
                    licenses: vec!["windows-10-pro".to_owned()],
                    ..User::default()
                },
            ]
            .into(),
            environments: vec![Environment {
                id: "default".to_owned(),
                default: true,
                allocations: [
                    ("power-automate-process".to_owned(), 2),
                    ("power-automate-per-flow".to_owned(), 1),
                ]
                .into(),
                ..Environment::default()
            }]
            .into(),
            flows: vec![
                flow(
                    "p",
                    day(2021, 1),
                    Flow {
                        license: FlowLicense::Process,
                        ..Flow::default()
                    },
                ),
                flow("a", day(2021, 2), linked("p")),
                flow("b", day(2021, 3), linked("a")),
                flow("c", day(2021, 4), child("a")),
                flow("u1", day(2021, 5), unattended("p", "m1")),
                flow("u2", day(2021, 6), unattended("p", "m2")),
                flow(
                    "d",
                    day(2021, 7),
                    Flow {
                        solution: Some("other".to_owned()),
                        ..linked("p")
                    },
                ),
                flow(
                    "e",
                    day(2021, 8),
                    Flow {
                        trigger: Trigger::Instant,
                        ..linked("b")
                    },
                ),
                flow("f", day(2021, 9), child("e")),
                // A per-flow flow associated with the process flow: its own unit covers it, and nothing of it
                // covers a flow associated with it (FLOW-17).
                flow(
                    "g",
                    day(2021, 10),
                    Flow {
                        license: FlowLicense::PerFlow,
                        ..linked("p")
                    },
                ),
                flow("h", day(2021, 11), linked("g")),
                // FLOW-23: a Windows licence, its owner, unshared (w1); shared by a co-owner (w2) or by another
                // runner (w3).
                flow("w1", day(2021, 12), windows(Flow::default())),
                flow(
                    "w2",
                    day(2021, 12),
                    windows(Flow {
                        co_owners: vec!["pro".to_owned()],
                        ..Flow::default()
                    }),
                ),
                flow(
                    "w3",
                    day(2021, 12),
                    windows(Flow {
                        trigger: Trigger::Instant,
                        run_by: vec!["win".to_owned(), "pro".to_owned()],
                        ..Flow::default()
                    }),
                ),
            ]
            .into(),
            ..Scenario::default()
        };
        let snap = snapshot(s);
        let model = CedarModel::new(&snap).unwrap();
        let users = [
            None,
            snap.user_idx("maker"),
            snap.user_idx("pro"),
            snap.user_idx("win"),
        ];
        for (i, f) in snap.flows() {
            for u in users {
                let entitle = decide_flow(&snap, i, u).allowed;
                let cedar = model.allows(&model.requests(&snap, i, u).unwrap());
                assert_eq!(
                    cedar,
                    entitle,
                    "flow {} as {:?}",
                    f.id,
                    u.map(|u| snap.user_id(u))
                );
            }
        }
        let allowed = |id: &str| decide_flow(&snap, snap.flow_idx(id).unwrap(), None).allowed;
        assert!(allowed("b"), "FLOW-15 through two associations");
        assert!(allowed("c"), "a child of a flow that shares a unit");
        assert!(
            allowed("u1") && !allowed("u2"),
            "an unattended child needs its own machine's bots"
        );
        assert!(!allowed("d"), "a FLOW-15 mismatch shares nothing");
        assert!(!allowed("e"), "an association three deep shares nothing");
        assert!(
            allowed("g") && !allowed("h"),
            "a per-flow licence covers no associated flow"
        );
        assert!(
            allowed("w1") && !allowed("w2"),
            "FLOW-23: the owner's own, unshared"
        );
        let win = snap.user_idx("win");
        assert!(
            !decide_flow(&snap, snap.flow_idx("w3").unwrap(), win).allowed,
            "FLOW-23: shared by a runner"
        );
        let pro = snap.user_idx("pro");
        assert!(
            decide_flow(&snap, snap.flow_idx("f").unwrap(), pro).allowed,
            "the instant root's invoker"
        );
    }

    #[test]
    fn the_sample_is_reproducible_and_mixed() {
        let snap = snapshot(synthetic(2_000, 400, 20, 1));
        let a = sample(&snap, 1_000, 9);
        assert_eq!(a, sample(&snap, 1_000, 9));
        assert!(a.iter().any(|(_, u)| u.is_some()));
        assert!(
            a.iter()
                .any(|(f, u)| u.is_none() && snap.flow(*f).unwrap().trigger == Trigger::Instant)
        );
        assert!(single_flow(&snap).is_some());
    }
}
