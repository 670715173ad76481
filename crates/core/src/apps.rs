//! App decisions: what a user may open (CAT-1, CAT-2, APP, D365-1/3, M365-3, ENT, PORTAL-4). A Dynamics 365
//! Team Members licence opens no custom app or portal, standard or premium (D365-3).

use std::collections::BTreeMap;

use crate::catalog::Capability;
use crate::decision::{AppDecision, LicensedBy, Problem, Problems, Trace, What};
use crate::rule::Rule;
use crate::scenario::{AppKind, UserKind};
use crate::snapshot::{AppIdx, Snapshot, UserIdx};

/// Per-app passes a user needs for the apps they use (`also`: one more app they are about to open), under
/// APP-1: per environment, enough units for its apps (`apps_per_unit` each; canvas apps embedded in a
/// model-driven app do not count, CAT-1) and its portals (`portals_per_unit` each).
pub fn per_app_passes_needed(snap: &Snapshot, user: UserIdx, also: Option<AppIdx>) -> u32 {
    let (apps_per, portals_per) = snap
        .user(user)
        .and_then(|u| u.sku_for(Capability::AppsPerApp))
        .and_then(|s| snap.catalog().sku(s))
        .map_or((2, 1), |s| {
            (s.grants.apps_per_unit.max(1), s.grants.portals_per_unit.max(1))
        });
    let mut per_env: BTreeMap<u32, (u32, u32)> = BTreeMap::new();
    for (idx, a) in snap.apps() {
        if !(a.users.contains(&user) || Some(idx) == also) || a.embedded {
            continue;
        }
        let slot = per_env.entry(a.env.0).or_insert((0, 0));
        if a.kind == AppKind::Portal {
            slot.1 = slot.1.saturating_add(1);
        } else {
            slot.0 = slot.0.saturating_add(1);
        }
    }
    per_env
        .values()
        .map(|(apps, portals)| apps.div_ceil(apps_per).max(portals.div_ceil(portals_per)))
        .fold(0, u32::saturating_add)
}

/// May `user` run `app`?
pub fn decide_app(snap: &Snapshot, app: AppIdx, user: UserIdx) -> AppDecision {
    let mut d = AppDecision {
        app,
        user,
        allowed: false,
        premium: false,
        licensed_by: LicensedBy::Nothing,
        trace: Trace::new(),
        problems: Problems::new(),
        warnings: Problems::new(),
    };
    let (Some(a), Some(u)) = (snap.app(app), snap.user(user)) else {
        return d;
    };
    d.premium = a.premium;
    d.trace.push(Rule::App3);
    if let Some(on) = u.left {
        d.problems.push(Problem {
            rule: Rule::App3,
            what: What::UserLeft { user, on },
        });
        return d;
    }
    if u.kind == UserKind::Guest {
        d.trace.push(Rule::App2);
        if u.home_licenses_ignored {
            // FLOW-19: home-tenant licences are recognised only in the public cloud, never across clouds.
            d.trace.push(Rule::Flow19);
            d.warnings.push(Problem {
                rule: Rule::Flow19,
                what: What::GuestHomeIgnored { user },
            });
        }
    }
    if u.consumer_ignored {
        d.trace.push(Rule::Cat14);
        d.problems.push(Problem {
            rule: Rule::Cat14,
            what: What::ConsumerAccount { user },
        });
    }
    if a.grandfathered {
        d.trace.push(Rule::M365_2);
    }
    if crate::rights::developer(snap, a.env, user) {
        d.trace.push(Rule::Cat11);
        if !u.consumer_ignored {
            d.allowed = true;
            d.licensed_by = LicensedBy::User {
                user,
                sku: u.sku_for(Capability::DeveloperEnvironment),
            };
        }
        return d;
    }
    let entities_ok = crate::rights::entities(
        a.complex_entity,
        a.restricted_entity,
        user,
        u,
        &mut d.trace,
        &mut d.problems,
    );
    if a.kind == AppKind::ModelDriven {
        d.trace.push(Rule::Ent4);
        if !u.has(Capability::ModelDrivenApps) {
            d.problems.push(Problem {
                rule: Rule::Ent4,
                what: What::ModelDrivenNeeded { user },
            });
            return d;
        }
    }

    let covered = if a.kind == AppKind::Portal {
        // PORTAL-4: internal users use portals through their licence; Team Members cannot use custom portals.
        d.trace.push(Rule::Portal1);
        d.trace.push(Rule::Portal4);
        portal_coverage(snap, &mut d, dynamics_context(snap, a, u))
    } else if !a.premium {
        // M365-3: standard apps are covered by Microsoft 365 rights, and by every Power Apps or D365 application
        // licence. D365-3: not by a Team Members licence, which gives no right to custom apps at all, even with
        // standard connectors only (seed 000: "Team Member-licenties [staan] geen toegang tot een aangepaste app
        // toe"); a Team Member needs another licence (Microsoft 365, Power Apps) for the app.
        d.trace.push(Rule::M365_3);
        let team_member = u.d365_licensed && !u.has(Capability::AppsD365Context);
        if team_member {
            d.trace.push(Rule::D365_3);
        }
        let by = [
            Capability::AppsStandard,
            Capability::AppsPremium,
            Capability::AppsPerApp,
            Capability::AppsD365Context,
        ]
        .into_iter()
        .find(|c| u.has(*c))
        .map(|c| LicensedBy::User {
            user,
            sku: u.sku_for(c),
        });
        if by.is_none() && team_member && d.problems.is_empty() {
            d.problems.push(Problem {
                rule: Rule::D365_3,
                what: What::AppNotCovered { user, app },
            });
        }
        by
    } else {
        premium_coverage(snap, &mut d, dynamics_context(snap, a, u))
    };
    if let Some(by) = covered {
        if entities_ok && !u.consumer_ignored {
            d.allowed = true;
            d.licensed_by = by;
        }
    } else if d.problems.is_empty() {
        d.problems.push(Problem {
            rule: Rule::Cat2,
            what: What::AppNotCovered { user, app },
        });
    }
    d
}

fn per_app(snap: &Snapshot, d: &mut AppDecision) -> Option<LicensedBy> {
    let u = snap.user(d.user)?;
    let needed = per_app_passes_needed(snap, d.user, Some(d.app));
    if needed <= u.per_app_units {
        return Some(LicensedBy::User {
            user: d.user,
            sku: u.sku_for(Capability::AppsPerApp),
        });
    }
    d.problems.push(Problem {
        rule: Rule::App1,
        what: What::PerAppShort {
            user: d.user,
            needed,
            held: u.per_app_units,
        },
    });
    None
}

/// D365-1: the app (or portal) sits in an environment where a Dynamics 365 app the user is licensed for is
/// installed. Seed 000: "Een Dynamics 365 ondernemingstoepassingslicentie krijgt gebruiksrechten voor aangepaste
/// Power Apps-toepassingen binnen dezelfde omgeving als de Dynamics 365-toepassing" (an enterprise licence grants
/// use rights for custom apps in the same environment as the Dynamics 365 app). The environment decides; an app's
/// `extends_dynamics` is extra information, never a condition.
fn dynamics_context(snap: &Snapshot, a: &crate::snapshot::AppRec, u: &crate::snapshot::UserRec) -> bool {
    snap.scenario()
        .environments
        .get(a.env.0 as usize)
        .is_some_and(|e| e.dynamics_apps.iter().any(|x| u.licensed_for_dynamics(x)))
}

/// CAT-2, D365-1, CAT-1 / APP-1, D365-3, CAT-11: the routes by which a premium app is covered, tried in turn
/// so that holding one more licence never takes a right away. Problems of routes that failed are dropped when
/// another route covers the app.
fn premium_coverage(snap: &Snapshot, d: &mut AppDecision, dynamics_context: bool) -> Option<LicensedBy> {
    let u = snap.user(d.user)?;
    let (user, app) = (d.user, d.app);
    let before = d.problems;
    let covered = if u.has(Capability::AppsPremium) {
        d.trace.push(Rule::Cat2);
        Some(LicensedBy::User {
            user,
            sku: u.sku_for(Capability::AppsPremium),
        })
    } else if u.has(Capability::AppsD365Context) && dynamics_context {
        d.trace.push(Rule::D365_1);
        Some(LicensedBy::User {
            user,
            sku: u.sku_for(Capability::AppsD365Context),
        })
    } else {
        None
    };
    let covered = covered.or_else(|| {
        if !u.has(Capability::AppsPerApp) {
            return None;
        }
        d.trace.push(Rule::Cat1);
        d.trace.push(Rule::App1);
        per_app(snap, d)
    });
    if covered.is_some() {
        d.problems = before;
        return covered;
    }
    if u.has(Capability::AppsD365Context) {
        d.trace.push(Rule::D365_1);
        d.problems.push(Problem {
            rule: Rule::D365_1,
            what: What::AppNotCovered { user, app },
        });
    } else if u.d365_licensed {
        d.trace.push(Rule::D365_3);
        d.problems.push(Problem {
            rule: Rule::D365_3,
            what: What::AppNotCovered { user, app },
        });
    }
    if u.has(Capability::DeveloperEnvironment) {
        d.trace.push(Rule::Cat11); // the developer plan is not for production use
    }
    if d.problems.is_empty() {
        d.trace.push(Rule::Cat2);
        d.problems.push(Problem {
            rule: Rule::Cat2,
            what: What::AppNotCovered { user, app },
        });
    }
    None
}

fn portal_coverage(snap: &Snapshot, d: &mut AppDecision, dynamics_context: bool) -> Option<LicensedBy> {
    let u = snap.user(d.user)?;
    let before = d.problems;
    if u.has(Capability::AppsPremium) && u.has(Capability::PortalsInternal) {
        d.trace.push(Rule::Cat2);
        return Some(LicensedBy::User {
            user: d.user,
            sku: u.sku_for(Capability::AppsPremium),
        });
    }
    if u.has(Capability::PortalsInternal) && u.has(Capability::AppsD365Context) && dynamics_context {
        d.trace.push(Rule::D365_1);
        return Some(LicensedBy::User {
            user: d.user,
            sku: u.sku_for(Capability::PortalsInternal),
        });
    }
    if u.has(Capability::AppsPerApp) {
        d.trace.push(Rule::Cat1);
        d.trace.push(Rule::App1);
        if let Some(by) = per_app(snap, d) {
            d.problems = before;
            return Some(by);
        }
    }
    if u.has(Capability::AppsD365Context) {
        // D365-1: outside the licensed app's environment a portal needs a standalone licence.
        d.trace.push(Rule::D365_1);
        d.problems.push(Problem {
            rule: Rule::D365_1,
            what: What::PortalNotCovered { user: d.user },
        });
    } else if u.d365_licensed {
        d.trace.push(Rule::D365_3);
        d.problems.push(Problem {
            rule: Rule::D365_3,
            what: What::PortalNotCovered { user: d.user },
        });
    } else if d.problems.is_empty() {
        d.problems.push(Problem {
            rule: Rule::Portal4,
            what: What::PortalNotCovered { user: d.user },
        });
    }
    None
}
