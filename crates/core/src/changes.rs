//! Changes to a tenant that the server and the CLI's `apply` make alike: licence assignments in Graph's
//! `assignLicense` shape, one user or many at once, and the units check every change passes (BUY-6). Pure: a
//! change is applied to a scenario in memory; storing it is the caller's business.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::buying::usage_of;
use crate::catalog::Catalog;
use crate::scenario::{Scenario, User};
use crate::snapshot::Snapshot;

/// Graph `assignLicense`: `{"addLicenses": [{"skuId": …, "disabledPlans": []}], "removeLicenses": [skuId]}`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AssignLicense {
    pub add_licenses: Vec<AddLicense>,
    pub remove_licenses: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AddLicense {
    /// A catalog SKU id (or alias).
    pub sku_id: String,
    /// Accepted for Graph compatibility; entitle's SKUs have no service plans to disable, so it must be empty.
    #[serde(default)]
    pub disabled_plans: Vec<String>,
}

/// The most assignments one bulk change may carry: a bound on the work and the audit rows of one write.
pub const MAX_BULK_ASSIGNMENTS: usize = 20_000;

/// Many users' `assignLicense` at once, all or nothing: `{"assignments": [{"user": …, "addLicenses": […],
/// "removeLicenses": […]}]}` (the body of `POST …/users:assignLicense` and the file `entitle apply` reads).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BulkAssign {
    pub assignments: Vec<UserAssignment>,
}

impl BulkAssign {
    /// At most [`MAX_BULK_ASSIGNMENTS`]: checked before any work (and before anyone's rights are looked at).
    pub fn within_bound(&self) -> Result<(), Refusal> {
        if self.assignments.len() <= MAX_BULK_ASSIGNMENTS {
            return Ok(());
        }
        Err(Refusal::invalid(
            "/assignments".to_owned(),
            format!(
                "{} assignments in one change; at most {MAX_BULK_ASSIGNMENTS}: split it",
                self.assignments.len()
            ),
        ))
    }
}

/// One user's part of a [`BulkAssign`]: Graph's `assignLicense` body with the user it is for.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UserAssignment {
    pub user: String,
    #[serde(default)]
    pub add_licenses: Vec<AddLicense>,
    #[serde(default)]
    pub remove_licenses: Vec<String>,
}

/// Why a change is refused: bad input (`Invalid`, an HTTP 422) or a conflict with the tenant as it is
/// (`Conflict`, a 409), with the JSON pointer into the request where it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub conflict: bool,
    pub pointer: Option<String>,
    pub message: String,
}

impl Refusal {
    fn invalid(pointer: String, message: String) -> Refusal {
        Refusal {
            conflict: false,
            pointer: Some(pointer),
            message,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.pointer {
            Some(p) if !p.is_empty() => write!(f, "{p}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

/// SKUs a change itself assigns or allocates, each with the pointer to blame when it would use more units than
/// were bought.
pub type Blame = Vec<(String, String)>;

/// One user changed: as they were and as they are.
#[derive(Debug, Clone, Serialize)]
pub struct Assigned {
    pub user: String,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

/// Applies one `assignLicense` to `u`: removes, then adds (SKU ids made canonical). Returns each added SKU with its
/// pointer (under `at`), or the refusal pointing into the request.
pub fn assign_to(
    u: &mut User,
    catalog: &Catalog,
    add: &[AddLicense],
    remove: &[String],
    at: &str,
) -> Result<Blame, Refusal> {
    for (k, sku) in remove.iter().enumerate() {
        let pos = u
            .licenses
            .iter()
            .position(|l| l == sku || catalog.sku_idx(l) == catalog.sku_idx(sku))
            .ok_or_else(|| {
                Refusal::invalid(
                    format!("{at}/removeLicenses/{k}"),
                    format!("user `{}` holds no `{sku}` licence to remove", u.id),
                )
            })?;
        u.licenses.remove(pos);
    }
    let mut blame = Vec::with_capacity(add.len());
    for (k, a) in add.iter().enumerate() {
        let pointer = format!("{at}/addLicenses/{k}/skuId");
        let Some(idx) = catalog.sku_idx(&a.sku_id) else {
            return Err(Refusal::invalid(pointer, format!("unknown SKU `{}`", a.sku_id)));
        };
        if !a.disabled_plans.is_empty() {
            return Err(Refusal::invalid(
                format!("{at}/addLicenses/{k}/disabledPlans"),
                "entitle's SKUs have no service plans to disable; send an empty list".to_owned(),
            ));
        }
        let id = catalog
            .sku(idx)
            .map_or_else(|| a.sku_id.clone(), |d| d.id.clone());
        u.licenses.push(id.clone());
        blame.push((pointer, id));
    }
    Ok(blame)
}

/// Applies a [`BulkAssign`] to `s`, in order (a user named twice gets both), every assignment or none: on a
/// refusal `s` may be half-changed and must be dropped. Looks users up once, so the cost is the number of
/// assignments plus the number of users.
pub fn assign_many(
    s: &mut Scenario,
    catalog: &Catalog,
    ask: &BulkAssign,
) -> Result<(Vec<Assigned>, Blame), Refusal> {
    ask.within_bound()?;
    let index: HashMap<String, usize> = s
        .users
        .iter()
        .enumerate()
        .map(|(i, u)| (u.id.clone(), i))
        .collect();
    let mut blame = Vec::new();
    let mut done = Vec::with_capacity(ask.assignments.len());
    for (n, a) in ask.assignments.iter().enumerate() {
        let at = format!("/assignments/{n}");
        let Some(u) = index.get(&a.user).and_then(|i| s.users.get_mut(*i)) else {
            return Err(Refusal::invalid(
                format!("{at}/user"),
                format!("unknown user `{}`", a.user),
            ));
        };
        let json = |u: &User| serde_json::to_value(u).unwrap_or(serde_json::Value::Null);
        let before = json(u);
        blame.extend(assign_to(u, catalog, &a.add_licenses, &a.remove_licenses, &at)?);
        done.push(Assigned {
            user: a.user.clone(),
            before,
            after: json(u),
        });
    }
    Ok((done, blame))
}

/// No change may leave a SKU the tenant subscribes to assigned or allocated beyond its units where it was not
/// before, whichever way it is made (a user's licences, an environment's allocations, a subscription cut below
/// what is in use): Graph refuses the assignment, the admin center the reduction (BUY-6). SKUs without a
/// subscription follow the scenario file's convention (bought to match). When the SKU is one the change itself
/// names (`blame`), the refusal points at that field.
pub fn within_bought(before: &Snapshot, after: &Snapshot, blame: &[(String, String)]) -> Result<(), Refusal> {
    let (was, now) = (usage_of(before, false).0, usage_of(after, false).0);
    let catalog = after.catalog();
    let over = now.iter().filter(|x| {
        let subscribed = catalog
            .sku_idx(&x.sku)
            .is_some_and(|i| after.tenant().subscribed.contains(&i));
        let prior = was.iter().find(|y| y.sku == x.sku).map_or(0, |y| y.available);
        subscribed && x.available < 0 && x.available < prior
    });
    let mut first = None;
    for x in over {
        if let Some((pointer, _)) = blame.iter().find(|(_, sku)| *sku == x.sku) {
            return Err(Refusal {
                conflict: true,
                pointer: Some(pointer.clone()),
                message: format!(
                    "no available `{}` licences: {} would be assigned or allocated beyond the units bought; buy \
                     more or free one",
                    x.sku, -x.available
                ),
            });
        }
        first.get_or_insert(x);
    }
    match first {
        None => Ok(()),
        Some(x) => Err(Refusal {
            conflict: true,
            pointer: None,
            message: format!(
                "`{}`: {} unit(s) would be assigned or allocated beyond the {} bought; buy more or free some \
                 first (BUY-6)",
                x.sku, -x.available, x.purchased
            ),
        }),
    }
}

/// What a bulk change does to a tenant: the users it changes and every decision it turns (the dry run of the
/// server's `users:assignLicense` and the answer of `entitle apply`).
#[derive(Debug, Serialize)]
pub struct Applied {
    pub changed: Vec<Assigned>,
    pub flips: Vec<crate::entities::Flip>,
    /// The tenant after the change.
    #[serde(skip)]
    pub after: Option<Snapshot>,
}

/// Applies `ask` to the tenant of `snap` and checks the result like the server's write path: the scenario stays
/// valid, and no subscribed SKU ends up used beyond its units where it was not before. All or nothing.
pub fn apply(snap: &Snapshot, ask: &BulkAssign) -> Result<Applied, Refusal> {
    let mut s = snap.scenario().clone();
    let (changed, blame) = assign_many(&mut s, snap.catalog(), ask)?;
    let after =
        Snapshot::new(std::sync::Arc::clone(snap.catalog_arc()), s, snap.at()).map_err(|e| Refusal {
            conflict: true,
            pointer: None,
            message: format!("the change would leave the tenant inconsistent: {e}"),
        })?;
    within_bought(snap, &after, &blame)?;
    Ok(Applied {
        changed,
        flips: crate::entities::flips(snap, &after),
        after: Some(after),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Format;

    fn scenario() -> (std::sync::Arc<Catalog>, Scenario) {
        let catalog = std::sync::Arc::new(Catalog::seed().unwrap_or_else(|e| panic!("{e}")));
        let text = "[tenant]\nid = \"t\"\n\n[[users]]\nid = \"a\"\n\n[[users]]\nid = \"b\"\nlicenses = [\"power-automate-premium\"]\n";
        let s = Scenario::parse(text, Format::Toml, "t.toml", &catalog).unwrap_or_else(|e| panic!("{e}"));
        (catalog, s)
    }

    fn ask(json: &str) -> BulkAssign {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn many_users_in_order_with_canonical_ids_and_pointers() {
        let (catalog, mut s) = scenario();
        let a = ask(r#"{"assignments": [
                {"user": "a", "addLicenses": [{"skuId": "power-automate-premium"}]},
                {"user": "b", "removeLicenses": ["power-automate-premium"]},
                {"user": "a", "removeLicenses": ["power-automate-premium"], "addLicenses": [{"skuId": "power-apps-per-user"}]}
            ]}"#);
        let (done, blame) = assign_many(&mut s, &catalog, &a).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(done.len(), 3);
        assert_eq!(s.users[0].licenses, vec!["power-apps-per-user".to_owned()]);
        assert!(s.users[1].licenses.is_empty());
        assert_eq!(
            blame,
            vec![
                (
                    "/assignments/0/addLicenses/0/skuId".to_owned(),
                    "power-automate-premium".to_owned()
                ),
                (
                    "/assignments/2/addLicenses/0/skuId".to_owned(),
                    "power-apps-per-user".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn a_bad_entry_is_refused_with_its_pointer() {
        let (catalog, s) = scenario();
        for (json, pointer) in [
            (r#"{"assignments": [{"user": "zed"}]}"#, "/assignments/0/user"),
            (
                r#"{"assignments": [{"user": "a"}, {"user": "a", "addLicenses": [{"skuId": "nope"}]}]}"#,
                "/assignments/1/addLicenses/0/skuId",
            ),
            (
                r#"{"assignments": [{"user": "a", "removeLicenses": ["power-automate-premium"]}]}"#,
                "/assignments/0/removeLicenses/0",
            ),
        ] {
            let e = assign_many(&mut s.clone(), &catalog, &ask(json)).err();
            assert_eq!(e.and_then(|e| e.pointer).as_deref(), Some(pointer), "{json}");
        }
    }
}
