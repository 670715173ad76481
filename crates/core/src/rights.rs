//! What a user's licences give them wherever they work, shared by the app and flow decisions: the rights that
//! entities demand of their user (ENT-1, ENT-2, ENT-3) and the developer plan's own environment (CAT-11).
//! Kept apart from both decisions so that neither depends on the other.

use crate::catalog::Capability;
use crate::decision::{Problem, Problems, Trace, What};
use crate::rule::Rule;
use crate::snapshot::{EnvIdx, Snapshot, UserIdx, UserRec};

/// ENT-1, ENT-2, ENT-3: what the entities an app or flow uses (`complex`: one with synchronous logic,
/// `restricted`: a restricted one) require of its user — never of its maker. Returns whether the user meets them.
pub(crate) fn entities(
    complex: Option<u32>,
    restricted: Option<u32>,
    idx: UserIdx,
    user: &UserRec,
    trace: &mut Trace,
    problems: &mut Problems,
) -> bool {
    let mut ok = true;
    let checks = [
        (complex, Rule::Ent1, Capability::ComplexEntities),
        (restricted, Rule::Ent2, Capability::RestrictedEntities),
    ];
    for (entity, rule, cap) in checks {
        let Some(entity) = entity else { continue };
        trace.push(Rule::Ent3);
        trace.push(rule);
        if !user.has(cap) {
            let what = if rule == Rule::Ent1 {
                What::ComplexEntity { user: idx, entity }
            } else {
                What::RestrictedEntity { user: idx, entity }
            };
            problems.push(Problem { rule, what });
            ok = false;
        }
    }
    ok
}

/// CAT-11: the developer plan gives its holder "een gratis omgeving voor individueel gebruik met functionaliteit,
/// inclusief de Common Data Service" (seed 000: a free environment for individual use, Common Data Service
/// included). In their own developer environment its owner uses every app and flow, premium or not; anyone
/// else there, and the owner anywhere else, needs a licence as usual (it is not for production use).
pub(crate) fn developer(snap: &Snapshot, env: EnvIdx, user: UserIdx) -> bool {
    snap.env(env).is_some_and(|e| e.developer_owner == Some(user))
        && snap
            .user(user)
            .is_some_and(|u| u.left.is_none() && u.has(Capability::DeveloperEnvironment))
}
