//! A snapshot patched by a write: the records of the users and flows the write changed are rebuilt, everything
//! else is shared with the snapshot before it (issue 11, incremental snapshots).
//!
//! A patch is taken only where its effect is known to stay local; anything else (a change to subscriptions,
//! events, environments, apps, entities or the tenant; a flow with process or per-flow capacity, an unattended
//! desktop flow, a parent, children or a context; a flow that moves the tenant's reclassification transition;
//! an item deleted or moved) is built from scratch, as before. The property test
//! `patched_snapshots_decide_as_built_ones` checks that a patch decides exactly as a build would.

use std::collections::HashMap;

use super::build::{self, FlowCtx, Inputs};
use super::{BuildError, Snapshot, UserRec};
use crate::catalog::SkuIdx;
use crate::chunked::Chunked;
use crate::scenario::{DesktopMode, Flow, FlowLicense, Scenario, User, UserKind};

/// How many items a patch rebuilds at most; a change past it is built from scratch.
pub(crate) const FEW: usize = 64;

/// What a write changed in one list: items replaced in place (same id, same position) and items appended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ListDelta {
    pub(crate) changed: Vec<usize>,
    pub(crate) appended: std::ops::Range<usize>,
}

impl ListDelta {
    /// Every index the write touched, changed then appended.
    pub(crate) fn touched(&self) -> impl Iterator<Item = usize> + '_ {
        self.changed.iter().copied().chain(self.appended.clone())
    }
}

/// The delta of one list, when it is a few items replaced in place and appended (`key`: an item's id, if it
/// has one, which must stay in its place).
fn list_delta<T: PartialEq + Clone>(
    old: &Chunked<T>,
    new: &Chunked<T>,
    key: impl Fn(&T) -> Option<&str>,
) -> Option<ListDelta> {
    if new.len() < old.len() || new.len() - old.len() > FEW {
        return None;
    }
    let changed = old.differing(new, FEW)?;
    let in_place = changed
        .iter()
        .all(|&i| old.get(i).map(&key) == new.get(i).map(&key));
    in_place.then(|| ListDelta {
        changed,
        appended: old.len()..new.len(),
    })
}

/// What a write changed, when it changed only users, flows, usage and licence requests, in place or at the end.
#[derive(Debug, Clone, Default)]
pub(crate) struct Delta {
    pub(crate) users: ListDelta,
    pub(crate) flows: ListDelta,
    pub(crate) usage: ListDelta,
    pub(crate) license_requests: ListDelta,
}

/// The delta from `old` to `new`, or `None` when the change is not of that shape.
pub(crate) fn delta(old: &Scenario, new: &Scenario) -> Option<Delta> {
    let same = old.version == new.version
        && old.tenant == new.tenant
        && old.subscriptions == new.subscriptions
        && old.environments == new.environments
        && old.apps == new.apps
        && old.entities == new.entities
        && old.events == new.events;
    if !same {
        return None;
    }
    Some(Delta {
        users: list_delta(&old.users, &new.users, |u| Some(u.id.as_str()))?,
        flows: list_delta(&old.flows, &new.flows, |f| Some(f.id.as_str()))?,
        usage: list_delta(&old.usage, &new.usage, |_| None)?,
        license_requests: list_delta(&old.license_requests, &new.license_requests, |r| {
            Some(r.id.as_str())
        })?,
    })
}

/// A flow whose record depends on no other flow and no other flow's on it: licensed by users (no capacity),
/// not an unattended desktop flow (no machine), no parent, no context, and not one that moves the tenant's
/// reclassification transition.
fn local_flow(base: &Snapshot, f: &Flow) -> bool {
    f.license == FlowLicense::User
        && f.parent.is_none()
        && f.in_context_of.is_none()
        && f.desktop_mode != Some(DesktopMode::Unattended)
        && !build::used_before(base.catalog(), &f.connectors, f.created)
}

fn count(catalog: &crate::Catalog, u: &User, assigned: &mut HashMap<SkuIdx, u64>, add: bool) {
    for id in &u.licenses {
        if let Some(s) = catalog.sku_idx(id) {
            let n = assigned.entry(s).or_insert(0);
            *n = if add {
                n.saturating_add(1)
            } else {
                n.saturating_sub(1)
            };
        }
    }
}

/// A new snapshot's [`Snapshot::stamp`].
pub(super) fn stamp() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The users and flows a patch changed in place (by index, the same in both snapshots), and the snapshot it
/// was patched from.
#[derive(Debug)]
pub(crate) struct Touched {
    pub(crate) base: u64,
    pub(crate) users: Vec<usize>,
    pub(crate) flows: Vec<usize>,
}

/// Why a changed scenario was refused: the checks' problems, or (never expected after them) a reference the
/// snapshot could not resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Invalid(Vec<crate::InputError>),
    Build(BuildError),
}

impl Snapshot {
    /// Checks `next`, a changed version of this snapshot's scenario, and indexes it on `day`, as
    /// [`Scenario::validate`] and [`Snapshot::new`] would, with the same answer. When the change is local (see
    /// the module's doc) on the same day, only the touched items are checked and the snapshot is patched from
    /// this one: the work follows the change, not the tenant.
    pub fn advance(&self, next: Scenario, day: chrono::NaiveDate, file: &str) -> Result<Snapshot, Refusal> {
        let local = (day == self.at).then(|| delta(&self.scenario, &next)).flatten();
        if let Some(d) = &local
            && let Some(checked) = next.validate_change(self.catalog(), file, self, d)
        {
            checked.map_err(Refusal::Invalid)?;
            if let Some(patched) = self.patched(&next, d) {
                return patched.map_err(Refusal::Build);
            }
            return Snapshot::new(std::sync::Arc::clone(&self.catalog), next, day).map_err(Refusal::Build);
        }
        next.validate(self.catalog(), file).map_err(Refusal::Invalid)?;
        Snapshot::new(std::sync::Arc::clone(&self.catalog), next, day).map_err(Refusal::Build)
    }

    /// This snapshot with `next`'s changes applied, when they are of a shape a patch handles (see the module's
    /// doc); `None` when `next` must be built from scratch.
    fn patched(&self, next: &Scenario, delta: &Delta) -> Option<Result<Snapshot, BuildError>> {
        let old = &self.scenario;
        // Flows: the old and new version of each changed one, and each appended one, must be local.
        for i in delta.flows.changed.iter().copied() {
            let (Some(before), Some(after), Some(rec)) =
                (old.flows.get(i), next.flows.get(i), self.flows.get(i))
            else {
                return None;
            };
            if !local_flow(self, before)
                || !local_flow(self, after)
                || rec.has_children
                || rec.context_target
                || rec.machine_cover.is_some()
            {
                return None;
            }
        }
        if !delta
            .flows
            .appended
            .clone()
            .all(|i| next.flows.get(i).is_some_and(|f| local_flow(self, f)))
        {
            return None;
        }
        Some(self.patch(next, delta))
    }

    fn patch(&self, next: &Scenario, delta: &Delta) -> Result<Snapshot, BuildError> {
        let catalog = self.catalog();
        let inp: Inputs<'_> = build::inputs(catalog, next, self.at)?;
        let mut users = self.users.clone();
        let mut user_ids = self.user_ids.clone();
        let mut tenant = self.tenant.clone();
        let mut assigned = std::mem::take(&mut tenant.assigned);
        let mut non_interactive = i64::from(tenant.non_interactive_users);
        for i in delta.users.touched() {
            let Some(u) = next.users.get(i) else { continue };
            if let Some(before) = self.scenario.users.get(i) {
                count(catalog, before, &mut assigned, false);
                non_interactive -= i64::from(before.kind == UserKind::NonInteractive);
            } else {
                let n = u32::try_from(i).map_err(|_| build::too_many("users"))?;
                if !user_ids.insert(&u.id, n) {
                    return Err(build::duplicate("users", i, &u.id));
                }
            }
            non_interactive += i64::from(u.kind == UserKind::NonInteractive);
            let rec: UserRec = build::user_rec(&inp, i, u, &mut assigned)?;
            match users.get_mut(i) {
                Some(slot) => *slot = rec,
                None => users.push(rec),
            }
        }
        let tenant = build::tenant_rec(
            &inp,
            assigned,
            std::mem::take(&mut tenant.allocated),
            u32::try_from(non_interactive.max(0)).unwrap_or(u32::MAX),
        )?;

        let mut flows = self.flows.clone();
        let mut flow_ids = self.flow_ids.clone();
        let ctx = FlowCtx {
            catalog,
            at: self.at,
            transition: self.reclassification_transition,
            users: &user_ids,
            envs: &self.env_ids,
            apps: &self.app_ids,
            app_list: &next.apps,
            entities: &self.entities,
            edited: &inp.edited,
        };
        for i in delta.flows.touched() {
            let Some(f) = next.flows.get(i) else { continue };
            if i >= self.scenario.flows.len() {
                let n = u32::try_from(i).map_err(|_| build::too_many("flows"))?;
                if !flow_ids.insert(&f.id, n) {
                    return Err(build::duplicate("flows", i, &f.id));
                }
            }
            let rec = build::flow_rec(&ctx, i, f)?;
            match flows.get_mut(i) {
                Some(slot) => *slot = rec,
                None => flows.push(rec),
            }
        }
        Ok(Snapshot {
            catalog: std::sync::Arc::clone(&self.catalog),
            scenario: next.clone(),
            at: self.at,
            transition: self.transition,
            reclassification_transition: self.reclassification_transition,
            users,
            envs: self.envs.clone(),
            apps: self.apps.clone(),
            flows,
            entity_ids: std::sync::Arc::clone(&self.entity_ids),
            entities: std::sync::Arc::clone(&self.entities),
            stamp: stamp(),
            touched: Some(std::sync::Arc::new(Touched {
                base: self.stamp,
                users: delta.users.changed.clone(),
                flows: delta.flows.changed.clone(),
            })),
            tenant,
            user_ids,
            env_ids: self.env_ids.clone(),
            app_ids: self.app_ids.clone(),
            flow_ids,
        })
    }
}
