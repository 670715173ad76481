//! CRUD for the tenant's collections — users, environments, apps, flows, entities, subscriptions — in one
//! generic piece: each collection says how to find its items, their id, and what scopes them for roles.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use entitle_core::scenario::{
    App, Entity, Environment, Flow, LicenseRequest, RequestState, Subscription, User,
};
use entitle_core::{Chunked, Scenario};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::http::{Caller, Writing, if_match, json_body, parse_json, precondition};
use crate::policy::{Access, Family, Scope, require};
use crate::problem::Problem;
use crate::state::AppState;
use crate::write::{Change, Mutation, Reply, Within, write};

/// A collection of the scenario.
pub trait Item: Serialize + DeserializeOwned + Clone + Default + PartialEq + Send + Sync + 'static {
    /// `user`, as the audit log names it.
    const KIND: &'static str;
    /// `users`, as the scenario names it.
    const SECTION: &'static str;
    /// As the URL names it.
    const URL: &'static str = Self::SECTION;
    const FAMILY: Family;
    fn list(s: &Scenario) -> &Chunked<Self>;
    fn list_mut(s: &mut Scenario) -> &mut Chunked<Self>;
    /// Its id; `index` for items that may lack one (subscriptions).
    fn id(&self, index: usize) -> String;
    /// Gives a new item an id if it has none (subscriptions).
    fn name_new(&mut self, _taken: &dyn Fn(&str) -> bool) {}
    /// Whether the item's own id is `id` (no copy made: a lookup compares it with every item of the list).
    fn has_id(&self, id: &str) -> bool {
        self.id(usize::MAX) == id
    }
    fn scope(&self) -> Scope<'_> {
        Scope::default()
    }
    /// What only some roles may write (a maker files a licence request; only an admin decides it).
    fn check_write(&self, _p: &crate::auth::Principal) -> Result<(), Problem> {
        Ok(())
    }
    /// Fields that need a right of their own, whichever route changes them: a user's licences are a licence
    /// assignment, an environment's allocations an allocation, a flow's licence mode a flow licence.
    const GUARDED: &'static [(&'static str, Family)] = &[];
}

/// May `p` make this change? Decided by what changes, never by the route: every guarded field that changes
/// needs its own right, and anything else (the item's other fields, its creation or deletion) the
/// collection's. Each right is checked against the item as it was and as it will be, so nothing moves into or
/// out of the caller's reach. `old: None` creates, `new: None` deletes.
pub fn authorize<T: Item>(
    p: &crate::auth::Principal,
    old: Option<&T>,
    new: Option<&T>,
) -> Result<(), Problem> {
    // An item created or deleted is compared with the default item: a new flow set to the default licence mode
    // changes no licence.
    let default = T::default();
    let json = |x: Option<&T>| to_value(x.unwrap_or(&default)).map(Some);
    let (before, after) = (json(old)?, json(new)?);
    let field = |v: &Option<Value>, f: &str| {
        v.as_ref()
            .and_then(|v| v.get(f))
            .filter(|x| !is_empty_value(x))
            .cloned()
    };
    let mut families: Vec<Family> = Vec::new();
    for (f, family) in T::GUARDED {
        if field(&before, f) != field(&after, f) && !families.contains(family) {
            families.push(*family);
        }
    }
    let unguarded = |v: &Option<Value>| {
        v.as_ref().and_then(Value::as_object).map(|m| {
            m.iter()
                .filter(|(k, _)| !T::GUARDED.iter().any(|(f, _)| f == k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<serde_json::Map<String, Value>>()
        })
    };
    let rest_changes = old.is_none() || new.is_none() || unguarded(&before) != unguarded(&after);
    if rest_changes || families.is_empty() {
        families.insert(0, T::FAMILY);
    }
    for family in families {
        for item in [old, new].into_iter().flatten() {
            require(p, family, Access::Write, item.scope())?;
        }
    }
    for item in [old, new].into_iter().flatten() {
        item.check_write(p)?;
    }
    Ok(())
}

/// A value that says nothing: absent fields and their defaults serialise like this.
fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

impl Item for LicenseRequest {
    const KIND: &'static str = "license-request";
    const SECTION: &'static str = "license_requests";
    const URL: &'static str = "license-requests";
    const FAMILY: Family = Family::LicenseRequests;
    fn list(s: &Scenario) -> &Chunked<Self> {
        &s.license_requests
    }
    fn list_mut(s: &mut Scenario) -> &mut Chunked<Self> {
        &mut s.license_requests
    }
    fn id(&self, _index: usize) -> String {
        self.id.clone()
    }
    fn scope(&self) -> Scope<'_> {
        Scope {
            environment: None,
            user: Some(&self.user),
        }
    }
    fn check_write(&self, p: &crate::auth::Principal) -> Result<(), Problem> {
        if p.role == crate::auth::Role::Maker && self.state != RequestState::Pending {
            return Err(Problem::forbidden(
                "a maker files licence requests; an admin approves or denies them",
            )
            .at("/state"));
        }
        Ok(())
    }
}

macro_rules! item {
    ($t:ty, $kind:literal, $section:ident, $family:expr, |$x:ident| $scope:expr $(, guarded: $guarded:expr)?) => {
        impl Item for $t {
            const KIND: &'static str = $kind;
            const SECTION: &'static str = stringify!($section);
            const FAMILY: Family = $family;
            $(const GUARDED: &'static [(&'static str, Family)] = $guarded;)?
            fn list(s: &Scenario) -> &Chunked<Self> {
                &s.$section
            }
            fn list_mut(s: &mut Scenario) -> &mut Chunked<Self> {
                &mut s.$section
            }
            fn id(&self, _index: usize) -> String {
                self.id.clone()
            }
            fn has_id(&self, id: &str) -> bool {
                self.id == id
            }
            fn scope(&self) -> Scope<'_> {
                let $x = self;
                $scope
            }
        }
    };
}

item!(User, "user", users, Family::Users, |u| Scope {
    environment: None,
    user: Some(&u.id)
}, guarded: &[("licenses", Family::Licenses)]);
item!(
    Environment,
    "environment",
    environments,
    Family::Environments,
    |e| Scope {
        environment: Some(&e.id),
        user: None
    },
    guarded: &[("allocations", Family::Allocations)]
);
item!(App, "app", apps, Family::Apps, |a| Scope {
    environment: Some(&a.environment),
    user: a.owner.as_deref()
});
item!(Flow, "flow", flows, Family::Flows, |f| Scope {
    environment: Some(&f.environment),
    user: Some(&f.owner)
}, guarded: &[("license", Family::FlowLicense)]);
item!(Entity, "entity", entities, Family::Entities, |_e| Scope::default(
));

impl Item for Subscription {
    const KIND: &'static str = "subscription";
    const SECTION: &'static str = "subscriptions";
    const FAMILY: Family = Family::Subscriptions;
    fn list(s: &Scenario) -> &Chunked<Self> {
        &s.subscriptions
    }
    fn list_mut(s: &mut Scenario) -> &mut Chunked<Self> {
        &mut s.subscriptions
    }
    /// A subscription without an `id` is addressed by its position.
    fn id(&self, index: usize) -> String {
        self.id.clone().unwrap_or_else(|| index.to_string())
    }
    fn name_new(&mut self, taken: &dyn Fn(&str) -> bool) {
        if self.id.is_none() {
            let mut n = 1u64;
            while taken(&format!("sub-{n}")) {
                n += 1;
            }
            self.id = Some(format!("sub-{n}"));
        }
    }
}

/// Gives every subscription without an id one (`sub-1`, `sub-2`, … skipping ids taken): a new tenant's
/// subscriptions are then addressed by a name that stays when another one is deleted, not by their position.
pub fn name_subscriptions(s: &mut Scenario) {
    for i in 0..s.subscriptions.len() {
        if s.subscriptions.get(i).is_some_and(|x| x.id.is_none()) {
            let taken: std::collections::HashSet<String> =
                s.subscriptions.iter().filter_map(|x| x.id.clone()).collect();
            if let Some(x) = s.subscriptions.get_mut(i) {
                x.name_new(&|id| taken.contains(id));
            }
        }
    }
}

/// The entity tag of an item: a hash of its JSON, so it changes exactly when the item does.
pub fn etag_of<T: Serialize>(item: &T) -> String {
    let bytes = serde_json::to_vec(item).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    format!("\"{}\"", hex::encode(digest.get(..8).unwrap_or(&[])))
}

fn find<T: Item>(s: &Scenario, id: &str) -> Option<usize> {
    let list = T::list(s);
    list.iter().position(|x| x.has_id(id)).or_else(|| {
        // Subscriptions without an id, by position.
        id.parse::<usize>()
            .ok()
            .filter(|&i| list.get(i).is_some_and(|x| x.id(i) == id))
    })
}

fn to_value<T: Serialize>(x: &T) -> Result<Value, Problem> {
    serde_json::to_value(x).map_err(Problem::internal)
}

fn with_etag(status: StatusCode, item: &impl Serialize) -> Result<Response, Problem> {
    let mut res = (status, axum::Json(to_value(item)?)).into_response();
    if let Ok(v) = etag_of(item).parse() {
        res.headers_mut().insert(axum::http::header::ETAG, v);
    }
    Ok(res)
}

async fn list<T: Item>(
    state: &AppState,
    caller: &Caller,
    t: &str,
    section: &str,
    q: &super::listing::ListQuery,
) -> Result<Response, Problem> {
    let slot = state.slot(&caller.0, t).await?;
    let cur = slot.state.load_full();
    let items: Vec<Value> = T::list(cur.scenario())
        .iter()
        .filter(|x| crate::policy::allowed(&caller.0, T::FAMILY, Access::Read, x.scope()))
        .map(to_value)
        .collect::<Result<_, _>>()?;
    // A maker sees its own items; any other role either sees all or none.
    if items.is_empty() && !T::list(cur.scenario()).is_empty() {
        require(&caller.0, T::FAMILY, Access::Read, Scope::default())?;
    }
    let (items, total) = super::listing::page(&super::listing::section_shape(section), items, q)?;
    Ok(super::listing::with_total(Value::Array(items), total))
}

async fn get<T: Item>(state: &AppState, caller: &Caller, t: &str, id: &str) -> Result<Response, Problem> {
    let slot = state.slot(&caller.0, t).await?;
    let cur = slot.state.load_full();
    let i = find::<T>(cur.scenario(), id).ok_or_else(|| Problem::not_found(T::KIND, id))?;
    let item = T::list(cur.scenario())
        .get(i)
        .ok_or_else(|| Problem::not_found(T::KIND, id))?;
    require(&caller.0, T::FAMILY, Access::Read, item.scope())?;
    with_etag(StatusCode::OK, item)
}

/// What a write request carries.
#[derive(Debug)]
pub struct Ask<'a> {
    pub state: &'a Arc<AppState>,
    pub t: &'a str,
    pub w: &'a Writing,
}

/// One change to a collection, applied to a scenario in memory: what it records, what it answers, and where the
/// item it wrote sits in the scenario (for pointers into the request).
struct Step {
    change: Change,
    reply: Reply,
    within: String,
}

/// Creates `item` in `s`, if `p` may and its id is free.
fn create_step<T: Item>(
    s: &mut Scenario,
    p: &crate::auth::Principal,
    mut item: T,
    t: &str,
) -> Result<Step, Problem> {
    authorize::<T>(p, None, Some(&item))?;
    let taken = |id: &str| find::<T>(s, id).is_some();
    item.name_new(&taken);
    let id = item.id(T::list(s).len());
    if find::<T>(s, &id).is_some() {
        return Err(Problem::conflict(format!("{} `{id}` exists already", T::KIND)).at("/id"));
    }
    let index = T::list(s).len();
    T::list_mut(s).push(item.clone());
    let after = to_value(&item)?;
    Ok(Step {
        change: Change {
            action: "create",
            kind: T::KIND,
            item: Some(id.clone()),
            before: None,
            after: Some(after.clone()),
        },
        reply: Reply {
            status: StatusCode::CREATED,
            body: Some(after),
            etag: Some(etag_of(&item)),
            location: Some(format!("/v1/tenants/{t}/{}/{id}", T::URL)),
        },
        within: format!("{}[{index}]", T::SECTION),
    })
}

/// Replaces (or, with `patch`, merges RFC 7396 `body` into) item `id` of `s`. `given` is the `If-Match`, which
/// must match when `need_match`.
fn update_step<T: Item>(
    s: &mut Scenario,
    p: &crate::auth::Principal,
    id: &str,
    body: &Value,
    patch: bool,
    (given, need_match): (Option<&str>, bool),
) -> Result<Step, Problem> {
    if patch && !body.is_object() {
        return Err(Problem::unprocessable("a merge patch is a JSON object").at(""));
    }
    let i = find::<T>(s, id).ok_or_else(|| Problem::not_found(T::KIND, id))?;
    let old = T::list(s)
        .get(i)
        .cloned()
        .ok_or_else(|| Problem::not_found(T::KIND, id))?;
    // Some right on the item first, so a key with none learns nothing from the precondition.
    require_some_write::<T>(p, &old)?;
    precondition(given, &etag_of(&old), need_match)?;
    let before = to_value(&old)?;
    let merged = if patch {
        let mut v = before.clone();
        merge_patch(&mut v, body);
        v
    } else {
        body.clone()
    };
    let new: T = parse_json(merged.to_string().as_bytes())?;
    if new.id(i) != id {
        return Err(Problem::unprocessable(format!(
            "the id is `{id}` in the URL; an item cannot be renamed"
        ))
        .at("/id"));
    }
    authorize(p, Some(&old), Some(&new))?;
    let after = to_value(&new)?;
    let etag = etag_of(&new);
    if let Some(slot) = T::list_mut(s).get_mut(i) {
        *slot = new;
    }
    Ok(Step {
        change: Change {
            action: "update",
            kind: T::KIND,
            item: Some(id.to_owned()),
            before: Some(before),
            after: Some(after.clone()),
        },
        reply: Reply {
            status: StatusCode::OK,
            body: Some(after),
            etag: Some(etag),
            location: None,
        },
        within: format!("{}[{i}]", T::SECTION),
    })
}

/// Deletes item `id` of `s`; `given` is the optional `If-Match`.
fn delete_step<T: Item>(
    s: &mut Scenario,
    p: &crate::auth::Principal,
    id: &str,
    given: Option<&str>,
) -> Result<Step, Problem> {
    let i = find::<T>(s, id).ok_or_else(|| Problem::not_found(T::KIND, id))?;
    let old = T::list(s)
        .get(i)
        .cloned()
        .ok_or_else(|| Problem::not_found(T::KIND, id))?;
    authorize(p, Some(&old), None)?;
    precondition(given, &etag_of(&old), false)?;
    T::list_mut(s).remove(i);
    Ok(Step {
        change: Change {
            action: "delete",
            kind: T::KIND,
            item: Some(id.to_owned()),
            before: Some(to_value(&old)?),
            after: None,
        },
        reply: Reply::no_content(),
        // A deletion has no body: whatever it breaks (a user still owning flows) is elsewhere, a 409.
        within: String::new(),
    })
}

/// One step as the whole of a write.
fn single(s: Scenario, step: Step) -> Mutation {
    Mutation {
        next: s,
        blame: Vec::new(),
        changes: vec![step.change],
        reply: step.reply,
        within: Within::item(step.within),
    }
}

async fn create<T: Item>(a: Ask<'_>) -> Result<Response, Problem> {
    let slot = a.state.slot(&a.w.caller.0, a.t).await?;
    let item: T = json_body(&a.w.headers, &a.w.body)?;
    // Refused before the write path when the key may not create it at all.
    authorize::<T>(&a.w.caller.0, None, Some(&item))?;
    write(a.state, &slot, &a.w.req, |cur| {
        let mut s = cur.scenario().clone();
        let step = create_step(&mut s, &a.w.caller.0, item.clone(), a.t)?;
        Ok(single(s, step))
    })
    .await
}

/// PUT (replace) or PATCH (JSON merge patch, RFC 7396). Both need `If-Match`.
async fn update<T: Item>(a: Ask<'_>, id: &str, patch: bool) -> Result<Response, Problem> {
    let slot = a.state.slot(&a.w.caller.0, a.t).await?;
    let given = if_match(&a.w.headers)?;
    let body: Value = json_body(&a.w.headers, &a.w.body)?;
    if patch && !body.is_object() {
        return Err(Problem::unprocessable("a merge patch is a JSON object").at(""));
    }
    write(a.state, &slot, &a.w.req, |cur| {
        let mut s = cur.scenario().clone();
        let step = update_step::<T>(&mut s, &a.w.caller.0, id, &body, patch, (given.as_deref(), true))?;
        Ok(single(s, step))
    })
    .await
}

async fn delete<T: Item>(a: Ask<'_>, id: &str) -> Result<Response, Problem> {
    let slot = a.state.slot(&a.w.caller.0, a.t).await?;
    let given = if_match(&a.w.headers)?;
    write(a.state, &slot, &a.w.req, |cur| {
        let mut s = cur.scenario().clone();
        let step = delete_step::<T>(&mut s, &a.w.caller.0, id, given.as_deref())?;
        Ok(single(s, step))
    })
    .await
}

/// The most changes one batch may carry.
pub const MAX_BATCH_CHANGES: usize = 1_000;

/// `POST …/changes:batch`: many changes to the collections in one write, all or nothing.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    pub changes: Vec<BatchChange>,
}

/// One change of a [`Batch`]: what the single routes do, named in the body.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchChange {
    pub op: BatchOp,
    /// `users`, `environments`, `apps`, `flows`, `entities`, `subscriptions` or `license-requests`.
    pub collection: String,
    /// The item to replace, patch or delete.
    #[serde(default)]
    pub id: Option<String>,
    /// The new item (`create`, `replace`) or the merge patch (`patch`, RFC 7396).
    #[serde(default)]
    pub item: Option<Value>,
    /// The item's ETag, as `If-Match` would carry it; optional, since the batch is one write.
    #[serde(default)]
    pub if_match: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BatchOp {
    Create,
    Replace,
    Patch,
    Delete,
}

/// One change of a batch, on collection `T`.
fn batch_step<T: Item>(
    s: &mut Scenario,
    p: &crate::auth::Principal,
    c: &BatchChange,
    t: &str,
) -> Result<Step, Problem> {
    // The item a change names must be there (by then: a change may name what an earlier one created).
    let id = || {
        let id = c.id.as_deref().ok_or_else(|| {
            Problem::unprocessable(format!("a `{:?}` names the item's `id`", c.op)).at("/id")
        })?;
        match find::<T>(s, id) {
            Some(_) => Ok(id),
            None => Err(Problem::not_found(T::KIND, id).at("/id")),
        }
    };
    let item = || {
        c.item
            .as_ref()
            .ok_or_else(|| Problem::unprocessable(format!("a `{:?}` carries an `item`", c.op)).at("/item"))
    };
    // A stale `if_match` is this change's field, not a header; the rest of a problem is about the item.
    let if_match = |e: &Problem| e.pointer.as_deref() == Some("header:If-Match");
    let in_item = |e: Problem| {
        if if_match(&e) {
            e.at("/if_match")
        } else {
            e.under("/item")
        }
    };
    match c.op {
        BatchOp::Create => {
            let v: T = parse_json(item()?.to_string().as_bytes()).map_err(in_item)?;
            create_step(s, p, v, t).map_err(in_item)
        }
        BatchOp::Replace | BatchOp::Patch => {
            let id = id()?;
            let patch = c.op == BatchOp::Patch;
            update_step::<T>(s, p, id, item()?, patch, (c.if_match.as_deref(), false)).map_err(in_item)
        }
        BatchOp::Delete => delete_step::<T>(s, p, id()?, c.if_match.as_deref())
            .map_err(|e| if if_match(&e) { e.at("/if_match") } else { e }),
    }
}

/// Runs `batch_step` with `T` bound to the item type a batch change's `collection` names.
fn batch_dispatch(
    s: &mut Scenario,
    p: &crate::auth::Principal,
    c: &BatchChange,
    t: &str,
) -> Result<Step, Problem> {
    match c.collection.as_str() {
        "users" => batch_step::<User>(s, p, c, t),
        "environments" => batch_step::<Environment>(s, p, c, t),
        "apps" => batch_step::<App>(s, p, c, t),
        "flows" => batch_step::<Flow>(s, p, c, t),
        "entities" => batch_step::<Entity>(s, p, c, t),
        "subscriptions" => batch_step::<Subscription>(s, p, c, t),
        "license-requests" => batch_step::<LicenseRequest>(s, p, c, t),
        other => Err(Problem::unprocessable(format!(
            "unknown collection `{other}` (one of {})",
            SECTIONS.join(", ")
        ))
        .at("/collection")),
    }
}

/// Many changes in one write, in order, all or nothing, under the same rights as one by one: each change is
/// decided by what it changes. The answer lists each change's result (`status`, `body`); `?dry_run=true` lists
/// the changes and every decision they would turn. Problems point into the batch (`/changes/3/item/owner`).
pub async fn batch(
    State(state): State<Arc<AppState>>,
    Path(t): Path<String>,
    w: Writing,
) -> Result<Response, Problem> {
    let slot = state.slot(&w.caller.0, &t).await?;
    let ask: Batch = json_body(&w.headers, &w.body)?;
    if ask.changes.len() > MAX_BATCH_CHANGES {
        return Err(Problem::unprocessable(format!(
            "{} changes in one batch; at most {MAX_BATCH_CHANGES}: split it",
            ask.changes.len()
        ))
        .at("/changes"));
    }
    write(&state, &slot, &w.req, |cur| {
        let mut s = cur.scenario().clone();
        let mut steps = Vec::with_capacity(ask.changes.len());
        for (i, c) in ask.changes.iter().enumerate() {
            let step =
                batch_dispatch(&mut s, &w.caller.0, c, &t).map_err(|e| e.under(&format!("/changes/{i}")))?;
            steps.push(step);
        }
        // The write path's checks point each problem inside an item this batch wrote at that change.
        let within = Within::Items(
            steps
                .iter()
                .enumerate()
                .map(|(i, st)| (st.within.clone(), format!("/changes/{i}/item")))
                .collect(),
        );
        let results: Vec<Value> = steps
            .iter()
            .map(|st| serde_json::json!({"status": st.reply.status.as_u16(), "body": st.reply.body}))
            .collect();
        Ok(Mutation {
            next: s,
            blame: Vec::new(),
            changes: steps.into_iter().map(|st| st.change).collect(),
            reply: Reply::json(StatusCode::OK, serde_json::json!({ "results": results })),
            within,
        })
    })
    .await
}

/// Does `p` hold any right to write this item (its collection's, or a guarded field's)?
fn require_some_write<T: Item>(p: &crate::auth::Principal, item: &T) -> Result<(), Problem> {
    let any = std::iter::once(T::FAMILY)
        .chain(T::GUARDED.iter().map(|(_, f)| *f))
        .any(|f| crate::policy::allowed(p, f, Access::Write, item.scope()));
    if any {
        Ok(())
    } else {
        require(p, T::FAMILY, Access::Write, item.scope())
    }
}

/// RFC 7396: `null` removes a member, objects merge, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// Runs `$body` with `T` bound to the item type the URL's section names.
macro_rules! by_section {
    ($section:expr, $f:ident $(, $arg:expr)*) => {
        match $section {
            "users" => $f::<User>($($arg),*).await,
            "environments" => $f::<Environment>($($arg),*).await,
            "apps" => $f::<App>($($arg),*).await,
            "flows" => $f::<Flow>($($arg),*).await,
            "entities" => $f::<Entity>($($arg),*).await,
            "subscriptions" => $f::<Subscription>($($arg),*).await,
            "license-requests" => $f::<LicenseRequest>($($arg),*).await,
            other => Err(Problem::not_found("collection", other)),
        }
    };
}

pub const SECTIONS: [&str; 7] = [
    "license-requests",
    "users",
    "environments",
    "apps",
    "flows",
    "entities",
    "subscriptions",
];

pub async fn list_h(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((t, section)): Path<(String, String)>,
    crate::http::Q(q): crate::http::Q<super::listing::ListQuery>,
) -> Result<Response, Problem> {
    by_section!(section.as_str(), list, &state, &caller, &t, &section, &q)
}

pub async fn get_h(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((t, section, id)): Path<(String, String, String)>,
) -> Result<Response, Problem> {
    by_section!(section.as_str(), get, &state, &caller, &t, &id)
}

pub async fn create_h(
    State(state): State<Arc<AppState>>,
    Path((t, section)): Path<(String, String)>,
    w: Writing,
) -> Result<Response, Problem> {
    let a = Ask {
        state: &state,
        t: &t,
        w: &w,
    };
    by_section!(section.as_str(), create, a)
}

pub async fn put_h(
    State(state): State<Arc<AppState>>,
    Path((t, section, id)): Path<(String, String, String)>,
    w: Writing,
) -> Result<Response, Problem> {
    let a = Ask {
        state: &state,
        t: &t,
        w: &w,
    };
    by_section!(section.as_str(), update, a, &id, false)
}

pub async fn patch_h(
    State(state): State<Arc<AppState>>,
    Path((t, section, id)): Path<(String, String, String)>,
    w: Writing,
) -> Result<Response, Problem> {
    let a = Ask {
        state: &state,
        t: &t,
        w: &w,
    };
    by_section!(section.as_str(), update, a, &id, true)
}

pub async fn delete_h(
    State(state): State<Arc<AppState>>,
    Path((t, section, id)): Path<(String, String, String)>,
    w: Writing,
) -> Result<Response, Problem> {
    let a = Ask {
        state: &state,
        t: &t,
        w: &w,
    };
    by_section!(section.as_str(), delete, a, &id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut v = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1]});
        merge_patch(&mut v, &json!({"a": null, "b": {"c": 5}, "e": [2, 3]}));
        assert_eq!(v, json!({"b": {"c": 5, "d": 3}, "e": [2, 3]}));
    }

    #[test]
    fn etags_change_exactly_with_the_item() {
        let a = Entity {
            id: "x".into(),
            ..Default::default()
        };
        let mut b = a.clone();
        assert_eq!(etag_of(&a), etag_of(&b));
        b.restricted = true;
        assert_ne!(etag_of(&a), etag_of(&b));
    }

    #[test]
    fn subscriptions_without_id_are_found_by_position() {
        let mut s = Scenario::default();
        s.subscriptions.push(Subscription {
            sku: "a".into(),
            ..Default::default()
        });
        s.subscriptions.push(Subscription {
            id: Some("mine".into()),
            sku: "b".into(),
            ..Default::default()
        });
        assert_eq!(find::<Subscription>(&s, "0"), Some(0));
        assert_eq!(find::<Subscription>(&s, "mine"), Some(1));
        assert_eq!(find::<Subscription>(&s, "1"), None);
    }
}
