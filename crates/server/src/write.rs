//! The write path, the same for every change: apply it to the tenant's scenario in memory, check the result
//! with the engine, then (unless `dry_run`) commit the new document, its audit entries and the idempotent
//! answer in one transaction, and only then swap the tenant's snapshot. A write that is not acknowledged
//! changed nothing.

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use entitle_core::entities::flips;
use entitle_core::scenario::{Environment, User};
use entitle_core::snapshot::Refusal;
use entitle_core::{Catalog, Chunked, Scenario, Snapshot};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::auth::Principal;
use crate::problem::Problem;
use crate::state::{AppState, TenantSlot, TenantState};
use crate::store::items::{self, Ords, Rows};
use crate::store::{Commit, Expect, NewAudit, NewEvent, StoreError, Stored, TenantWrite};
use entitle_core::enforcement::on_write;

/// One recorded change.
#[derive(Debug, Clone)]
pub struct Change {
    pub action: &'static str,
    pub kind: &'static str,
    pub item: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// The answer to a write.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
    pub etag: Option<String>,
    pub location: Option<String>,
}

impl Reply {
    pub fn json(status: StatusCode, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            etag: None,
            location: None,
        }
    }

    pub fn no_content() -> Reply {
        Reply {
            status: StatusCode::NO_CONTENT,
            body: None,
            etag: None,
            location: None,
        }
    }

    fn stored(&self, fingerprint: Vec<u8>) -> Stored {
        Stored {
            fingerprint,
            status: self.status.as_u16(),
            content_type: "application/json".to_owned(),
            etag: self.etag.clone(),
            body: self
                .body
                .as_ref()
                .map(|b| b.to_string().into_bytes())
                .unwrap_or_default(),
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut res = match self.body {
            Some(body) => (self.status, axum::Json(body)).into_response(),
            None => self.status.into_response(),
        };
        if let Some(etag) = self.etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
            res.headers_mut().insert(header::ETAG, etag);
        }
        if let Some(loc) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            res.headers_mut().insert(header::LOCATION, loc);
        }
        res
    }
}

/// What a change makes of a tenant.
#[derive(Debug)]
pub struct Mutation {
    /// The tenant after the change, to be checked and indexed by the write path.
    pub next: Scenario,
    pub changes: Vec<Change>,
    pub reply: Reply,
    /// The engine names problems by their place in the scenario (`flows[3].owner`); a request whose body holds
    /// the items it wrote gets pointers into its body instead.
    pub within: Within,
    /// The SKUs the request itself assigns or allocates, each with the pointer to blame when the change would
    /// use more units of it than were bought (see [`within_bought`]).
    pub blame: Vec<(String, String)>,
}

/// Where the items a write's request sent sit, in the scenario and in the request's body.
#[derive(Debug, Clone, Default)]
pub enum Within {
    /// The body is the whole scenario, or names no item: problems point at the scenario's own places.
    #[default]
    Scenario,
    /// Each item the request wrote: its key in the scenario (`flows[3]`) and where it stands in the body (`""`
    /// when the body is that item, `/changes/2/item` in a batch). A problem anywhere else is a conflict.
    Items(Vec<(String, String)>),
}

impl Within {
    /// The body is this one item of the scenario (`""` for none: a deletion sends no body).
    pub fn item(key: String) -> Within {
        Within::Items(vec![(key, String::new())])
    }

    /// The body pointer of a problem at scenario key `key`, if it lies inside what the request sent.
    fn locate(&self, key: &str) -> Option<String> {
        match self {
            Within::Scenario => Some(crate::problem::pointer_of(key, None)),
            Within::Items(items) => items
                .iter()
                .find(|(k, _)| {
                    !k.is_empty()
                        && (key == k
                            || key.starts_with(&format!("{k}."))
                            || key.starts_with(&format!("{k}[")))
                })
                .map(|(k, at)| format!("{at}{}", crate::problem::pointer_of(key, Some(k)))),
        }
    }
}

/// How a write was asked.
#[derive(Debug, Clone)]
pub struct WriteReq {
    pub principal: Principal,
    /// The `Idempotency-Key` header, if any.
    pub idempotency_key: Option<String>,
    /// SHA-256 of method, path and body: a key reused for another request is refused.
    pub fingerprint: Vec<u8>,
    pub dry_run: bool,
}

impl WriteReq {
    fn scope(&self) -> String {
        format!("key:{}", self.principal.key_id)
    }
}

pub fn fingerprint(method: &str, uri: &str, body: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update([0]);
    h.update(uri.as_bytes());
    h.update([0]);
    h.update(body);
    h.finalize().to_vec()
}

/// A stored answer, replayed.
fn replay(s: Stored) -> Response {
    let status = StatusCode::from_u16(s.status).unwrap_or(StatusCode::OK);
    let mut res = (status, s.body).into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&s.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Some(etag) = s.etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
        h.insert(header::ETAG, etag);
    }
    h.insert("idempotent-replayed", HeaderValue::from_static("true"));
    res
}

/// The stored answer for this request's `Idempotency-Key`, if it was answered before.
async fn replayed(state: &AppState, req: &WriteReq) -> Result<Option<Response>, Problem> {
    let Some(key) = &req.idempotency_key else {
        return Ok(None);
    };
    match state
        .store
        .idempotent(&req.scope(), key)
        .await
        .map_err(Problem::internal)?
    {
        Some(s) if s.fingerprint == req.fingerprint => Ok(Some(replay(s))),
        Some(_) => Err(Problem::unprocessable(
            "this Idempotency-Key was used for a different request; use a new key for a new request",
        )
        .at("header:Idempotency-Key")),
        None => Ok(None),
    }
}

fn audit_rows(tenant: &str, actor: &str, changes: &[Change]) -> Vec<NewAudit> {
    changes
        .iter()
        .map(|c| NewAudit {
            tenant: tenant.to_owned(),
            actor: actor.to_owned(),
            action: c.action.to_owned(),
            kind: c.kind.to_owned(),
            item: c.item.clone(),
            before: c.before.clone(),
            after: c.after.clone(),
        })
        .collect()
}

fn changes_json(changes: &[Change]) -> Value {
    Value::Array(
        changes
            .iter()
            .map(|c| json!({"action": c.action, "kind": c.kind, "item": c.item, "before": c.before, "after": c.after}))
            .collect(),
    )
}

/// Checks a changed scenario and builds its snapshot: patched from `base` (the tenant before the change) where
/// the change is local, built whole otherwise ([`Snapshot::advance`]). Problems inside the items the request sent
/// are 422 with pointers into the body; problems the change causes elsewhere (a deleted user still owning flows)
/// are 409.
pub fn check(
    state: &AppState,
    base: Option<&Snapshot>,
    catalog: Arc<Catalog>,
    scenario: Scenario,
    within: &Within,
) -> Result<Snapshot, Problem> {
    let day = scenario.tenant.at.unwrap_or_else(|| state.today());
    if let Some(base) = base {
        cap5(base, &scenario, within)?;
    }
    let started = std::time::Instant::now();
    let built = match base {
        Some(base) => base.advance(scenario, day, "request"),
        None => scenario
            .validate(&catalog, "request")
            .map_err(Refusal::Invalid)
            .and_then(|()| Snapshot::new(catalog, scenario, day).map_err(Refusal::Build)),
    };
    state
        .metrics
        .snapshot_build
        .observe(started.elapsed().as_secs_f64());
    match built {
        Ok(snapshot) => {
            if let Some(base) = base {
                allocations_within(base, &snapshot, within)?;
            }
            Ok(snapshot)
        }
        Err(Refusal::Invalid(errors)) => {
            if errors.iter().all(|e| within.locate(e.key()).is_some()) {
                let at = |k: &str| within.locate(k).unwrap_or_default();
                return Err(Problem::from_input(&errors, &at));
            }
            let mut p = Problem::from_input(&errors, &|k| crate::problem::pointer_of(k, None));
            p.status = 409;
            p.title = "Conflict";
            p.kind = "https://entitle.dev/problems/conflict".to_owned();
            p.detail = format!("the change would leave the tenant inconsistent: {}", p.detail);
            Err(p)
        }
        Err(Refusal::Build(e)) => {
            let at = within
                .locate(&e.key)
                .unwrap_or_else(|| crate::problem::pointer_of(&e.key, None));
            Err(Problem::unprocessable(e.to_string()).at(at))
        }
    }
}

/// The indices of `new`'s items that differ from `old`'s or were appended.
fn changed_items<T: PartialEq + Clone>(old: &Chunked<T>, new: &Chunked<T>) -> Vec<usize> {
    let mut changed = old
        .differing(new, 64)
        .unwrap_or_else(|| (0..old.len().min(new.len())).collect());
    changed.extend(old.len()..new.len());
    changed
}

/// PORTAL-5 and AI-1 on every write, whichever route: a portal's allocation is 0 or at least the minimum
/// (100 logins, 50,000 page views), 422 naming the field; and allocations to portals (logins, page views) and to
/// environments (AI Builder credits) stay within what the tenant has, 409 naming the field. A tenant already over
/// may make changes that do not add to it.
fn allocations_within(base: &Snapshot, next: &Snapshot, within: &Within) -> Result<(), Problem> {
    use entitle_core::scenario::AppKind;
    let limits = &next.catalog().terms.limits;
    let (old_apps, new_apps) = (&base.scenario().apps, &next.scenario().apps);
    let apps = changed_items(old_apps, new_apps);
    let at = |key: String, fallback: &str| within.locate(&key).unwrap_or_else(|| fallback.to_owned());
    for &i in &apps {
        let Some(a) = new_apps.get(i).filter(|a| a.kind == AppKind::Portal) else {
            continue;
        };
        for (field, given, minimum) in [
            ("logins", a.logins, limits.min_logins_per_portal),
            ("page_views", a.page_views, limits.min_page_views_per_portal),
        ] {
            if let Some(v) = given.filter(|v| *v > 0 && *v < minimum) {
                let mut p = Problem::unprocessable(format!(
                    "portal `{}` is allocated {v} {}; at least {minimum} per portal, then steps of 1 (PORTAL-5)",
                    a.id,
                    field.replace('_', " ")
                ))
                .at(at(format!("apps[{i}].{field}"), &format!("/{field}")));
                p.extra.insert("rule".into(), json!("PORTAL-5"));
                return Err(p);
            }
        }
    }
    let (before, _) = entitle_core::portals::check(base);
    let (after, _) = entitle_core::portals::check(next);
    let first_portal = apps
        .iter()
        .copied()
        .find(|&i| new_apps.get(i).is_some_and(|a| a.kind == AppKind::Portal));
    for (what, field, bought, was, is) in [
        (
            "logins",
            "logins",
            after.logins,
            before.allocated_logins,
            after.allocated_logins,
        ),
        (
            "page views",
            "page_views",
            after.page_views,
            before.allocated_page_views,
            after.allocated_page_views,
        ),
    ] {
        if is > bought && is > was {
            let key = first_portal.map_or_else(|| "apps".to_owned(), |i| format!("apps[{i}].{field}"));
            let mut p = Problem::conflict(format!(
                "{is} {what} would be allocated to portals, and the tenant bought {bought} a month (PORTAL-5)"
            ))
            .at(at(key, &format!("/{field}")));
            p.extra.insert("rule".into(), json!("PORTAL-5"));
            return Err(p);
        }
    }
    let (c_before, _) = entitle_core::ai::credits(base);
    let (c_after, _) = entitle_core::ai::credits(next);
    let available = c_after.purchased.saturating_add(c_after.seeded);
    if c_after.allocated > available && c_after.allocated > c_before.allocated {
        let envs = changed_items(&base.scenario().environments, &next.scenario().environments);
        let key = envs.first().map_or_else(
            || "environments".to_owned(),
            |i| format!("environments[{i}].allocations"),
        );
        let mut p = Problem::conflict(format!(
            "{} AI Builder credits would be allocated to environments, and the tenant has {available} a month (AI-1)",
            c_after.allocated
        ))
        .at(at(key, "/currencyAllocations"));
        p.extra.insert("rule".into(), json!("AI-1"));
        return Err(p);
    }
    Ok(())
}

/// CAP-5: an environment that gets a Dataverse database (created with one, or one attached) needs 1 GB of free
/// database capacity in the tenant before the change. Production and sandbox environments only: trial, developer
/// and Teams environments do not count against the pools (CAP-6). Decided by what changes, whichever route.
fn cap5(base: &Snapshot, next: &Scenario, within: &Within) -> Result<(), Problem> {
    use entitle_core::scenario::EnvironmentKind;
    let (old, new) = (&base.scenario().environments, &next.environments);
    let mut changed = old
        .differing(new, 64)
        .unwrap_or_else(|| (0..old.len().min(new.len())).collect());
    changed.extend(old.len()..new.len());
    let gains = changed
        .into_iter()
        .filter_map(|i| Some((i, new.get(i)?)))
        .find(|(_, e)| {
            e.dataverse
                && !e.default
                && matches!(e.kind, EnvironmentKind::Production | EnvironmentKind::Sandbox)
                && !old.iter().any(|o| o.id == e.id && o.dataverse)
        });
    let Some((i, env)) = gains else { return Ok(()) };
    let cap = entitle_core::capacity::capacity(base);
    if cap.can_create_environment {
        return Ok(());
    }
    let need = i64::try_from(base.catalog().terms.capacity.environment_min_database_mb).unwrap_or(i64::MAX);
    let missing = u64::try_from(need.saturating_sub(cap.free_database_mb)).unwrap_or(0);
    let gb = missing.div_ceil(1000).max(1);
    let pointer = within
        .locate(&format!("environments[{i}].dataverse"))
        .unwrap_or_else(|| "/dataverse".to_owned());
    let mut p = Problem::conflict(format!(
        "environment `{}` needs a Dataverse database, and the tenant has {} MB of database capacity free; at least {need} MB must be (CAP-5)",
        env.id, cap.free_database_mb
    ))
    .at(pointer);
    p.extra.insert("rule".into(), json!("CAP-5"));
    p.extra.insert(
        "fix".into(),
        json!({"action": "buy-license", "sku": "dataverse-database-capacity", "quantity": gb, "rule": "CAP-4"}),
    );
    Err(p)
}

/// The ids `before` has and `after` no longer has: the users or environments a change deletes. A list that
/// kept every item in its place (patched or appended to) lost none, and that is found from the chunks the
/// change touched; only a list that moved is compared whole.
fn gone<T: PartialEq + Clone>(
    before: &Chunked<T>,
    after: &Chunked<T>,
    id: impl Fn(&T) -> &str,
) -> Vec<String> {
    let in_place = before.len() <= after.len()
        && before.differing(after, 64).is_some_and(|changed| {
            changed
                .iter()
                .all(|&i| before.get(i).map(&id) == after.get(i).map(&id))
        });
    if in_place {
        return Vec::new();
    }
    let kept: std::collections::HashSet<&str> = after.iter().map(&id).collect();
    before
        .iter()
        .map(&id)
        .filter(|i| !kept.contains(i))
        .map(str::to_owned)
        .collect()
}

/// ENF-5: 409, a suspended flow stays off until it is licensed, with the cheapest fix.
fn still_unlicensed(t: &on_write::TurnedOn) -> Problem {
    let mut p = Problem::conflict(format!(
        "flow `{}` was turned off by enforcement and can be turned on only once it is licensed (ENF-5){}",
        t.flow,
        t.failing
            .map(|r| format!("; its decision fails {}", r.id()))
            .unwrap_or_default()
    ))
    .at("/enabled");
    p.extra.insert("rule".into(), json!("ENF-5"));
    if let Some(fix) = &t.fix {
        p.extra.insert("fix".into(), json!(fix));
    }
    p
}

/// ENF-4: the answer to a change that created flows turned off says so, with the fix.
fn said_why(mut reply: Reply, created_off: &[on_write::CreatedOff]) -> Reply {
    if created_off.is_empty() {
        return reply;
    }
    let why: Vec<Value> = created_off
        .iter()
        .map(|c| {
            json!({
                "flow": c.flow,
                "enabled": false,
                "state": "created-off",
                "kind": c.kind,
                "failing": c.failing,
                "rule": "ENF-4",
                "detail": format!(
                    "created turned off: makers were notified of `{}` enforcement, and the flow has no licence it needs (ENF-4)",
                    c.kind
                ),
                "fix": c.fix,
            })
        })
        .collect();
    if let Some(Value::Object(body)) = reply.body.as_mut() {
        body.insert("enforcement".into(), Value::Array(why));
        if let Some(Value::Bool(enabled)) = body.get_mut("enabled") {
            *enabled = false;
        }
    }
    reply
}

/// A commit that failed for the store's sake (a full disk, a lost connection): 503, and nothing changed in
/// memory. Its outcome may be unknown to the database client (a connection lost during COMMIT), so the tenant is
/// read again from the store rather than trusted from memory.
async fn store_failed(state: &AppState, tenant: &str, e: StoreError) -> Problem {
    tracing::error!(error = %e, tenant, "a write could not be committed");
    if let Err(e) = state.reload(tenant).await {
        tracing::warn!(error = %e, tenant, "re-reading the tenant after a failed write failed");
    }
    let mut p = Problem::unavailable(
        "the store could not commit this change, so nothing was changed; try again (with the same \
         Idempotency-Key, if you sent one)",
    );
    p.retry_after = Some(1);
    p
}

/// The units check every change passes, whichever route makes it ([`entitle_core::changes::within_bought`]).
pub fn within_bought(before: &Snapshot, after: &Snapshot, blame: &[(String, String)]) -> Result<(), Problem> {
    entitle_core::changes::within_bought(before, after, blame).map_err(Problem::refused)
}

/// A change worked out and checked, ready to commit (or only to show, for a dry run).
#[expect(
    clippy::large_enum_variant,
    reason = "one value per write, moved once; boxing would only add an allocation"
)]
enum Prepared {
    DryRun(Value),
    Commit {
        changes: Vec<Change>,
        reply: Reply,
        next: Snapshot,
        rows: Rows,
        ords: Ords,
        events: Vec<NewEvent>,
    },
}

/// How often a write is tried when other nodes keep committing to the same tenant first.
const ATTEMPTS: u32 = 20;

/// Applies `mutate` to a tenant and commits it. Retries when another node committed first (the change is
/// applied again to the newer state, so `If-Match` is checked against what is really there).
pub async fn write(
    state: &Arc<AppState>,
    slot: &TenantSlot,
    req: &WriteReq,
    mut mutate: impl FnMut(&TenantState) -> Result<Mutation, Problem>,
) -> Result<Response, Problem> {
    write_events(state, slot, req, |cur| Ok((mutate(cur)?, Vec::new()))).await
}

/// [`write`], with events of the caller's own (the jobs' notices and turn-offs) stored beside those the change
/// makes.
pub async fn write_events(
    state: &Arc<AppState>,
    slot: &TenantSlot,
    req: &WriteReq,
    mut mutate: impl FnMut(&TenantState) -> Result<(Mutation, Vec<NewEvent>), Problem>,
) -> Result<Response, Problem> {
    if let Some(r) = replayed(state, req).await? {
        return Ok(r);
    }
    let _guard = slot.write.lock().await;
    for attempt in 0..ATTEMPTS {
        // Again under the lock (and after another node's commit): a concurrent request with the same key may
        // have been answered while this one waited, and must be replayed, not applied a second time.
        if let Some(r) = replayed(state, req).await? {
            return Ok(r);
        }
        let cur = slot.state.load_full();
        // Applying, checking and indexing the change costs time in the tenant's size: off the async threads.
        let prepared = state
            .heavy(|| -> Result<Prepared, Problem> {
                let started = std::time::Instant::now();
                let (mut m, mut events) = mutate(&cur)?;
                let applied = started.elapsed();
                let catalog = Arc::clone(cur.snapshot.catalog_arc());
                let day = m.next.tenant.at.unwrap_or_else(|| state.today());
                // The server's own writes (the jobs) set the engine's fields and record facts (a lapse leaves
                // units assigned beyond those bought: a finding of the audit, not a change anyone asked for).
                let engine = req.principal.key_id == crate::auth::Principal::system().key_id;
                let unlinked = if engine {
                    Vec::new()
                } else {
                    on_write::carry(&cur.snapshot, &mut m.next, day)
                };
                let mut next = check(state, Some(&cur.snapshot), catalog, m.next, &m.within)?;
                if !engine {
                    within_bought(&cur.snapshot, &next, &m.blame)?;
                }
                let (created_off, turned_on) = on_write::judge(&cur.snapshot, &next);
                if let Some(refused) = turned_on.iter().find(|t| !t.licensed) {
                    return Err(still_unlicensed(refused));
                }
                if !created_off.is_empty() || !turned_on.is_empty() {
                    let mut settled = next.scenario().clone();
                    on_write::settle(&mut settled, day, &created_off, &turned_on);
                    next = check(
                        state,
                        Some(&next),
                        Arc::clone(next.catalog_arc()),
                        settled,
                        &Within::Scenario,
                    )?;
                    m.reply = said_why(m.reply, &created_off);
                }
                // (A build for measuring only leaves them out: feature `bench-no-outbox`.)
                if cfg!(not(feature = "bench-no-outbox")) {
                    events.extend(crate::events::of_changes(&m.changes, day));
                    events.extend(crate::events::of_enforcement(
                        &next,
                        &unlinked,
                        &created_off,
                        &turned_on,
                    ));
                }
                let checked = started.elapsed();
                if req.dry_run {
                    let flips = flips(&cur.snapshot, &next);
                    tracing::debug!(
                        tenant = %slot.id,
                        apply_ms = applied.as_secs_f64() * 1e3,
                        check_and_flips_ms = (started.elapsed() - applied).as_secs_f64() * 1e3,
                        "dry run prepared"
                    );
                    return Ok(Prepared::DryRun(json!({
                        "dry_run": true,
                        "changes": changes_json(&m.changes),
                        "flips": flips,
                    })));
                }
                // Only what changed is stored (issue 11).
                let (rows, ords) =
                    items::diff(cur.scenario(), &cur.ords, next.scenario()).map_err(Problem::internal)?;
                // Where a write's time goes, for an operator chasing a slow one (`ENTITLE_LOG=entitle_server=debug`).
                tracing::debug!(
                    tenant = %slot.id,
                    apply_ms = applied.as_secs_f64() * 1e3,
                    check_ms = (checked - applied).as_secs_f64() * 1e3,
                    diff_ms = (started.elapsed() - checked).as_secs_f64() * 1e3,
                    rows = rows.lists.iter().map(|l| l.put.len() + l.delete.len()).sum::<usize>(),
                    "write prepared"
                );
                Ok(Prepared::Commit {
                    changes: m.changes,
                    reply: m.reply,
                    next,
                    rows,
                    ords,
                    events,
                })
            })
            .await??;
        let (changes, reply, next, rows, ords, events) = match prepared {
            Prepared::DryRun(body) => return Ok(Reply::json(StatusCode::OK, body).into_response()),
            Prepared::Commit {
                changes,
                reply,
                next,
                rows,
                ords,
                events,
            } => (changes, reply, next, rows, ords, events),
        };
        let version = cur.version + 1;
        let commit = Commit {
            tenant: slot.id.clone(),
            incarnation: cur.incarnation.to_string(),
            expect: Expect::Version(cur.version),
            next: Some(TenantWrite {
                id: slot.id.clone(),
                version,
                catalog: cur.catalog.clone(),
                rows,
            }),
            audit: audit_rows(&slot.id, &req.principal.key_id, &changes),
            idempotency: req
                .idempotency_key
                .as_ref()
                .map(|k| (req.scope(), k.clone(), reply.stored(req.fingerprint.clone()))),
            gone_users: gone(&cur.scenario().users, &next.scenario().users, |u: &User| &u.id),
            gone_environments: gone(
                &cur.scenario().environments,
                &next.scenario().environments,
                |e: &Environment| &e.id,
            ),
            events,
        };
        let revokes = !commit.gone_users.is_empty() || !commit.gone_environments.is_empty();
        let told = !commit.events.is_empty();
        match state.store.commit(commit).await {
            Ok(()) => {
                if told {
                    state.hooks_wake.events();
                }
                let now = Arc::new(TenantState::new(
                    version,
                    Arc::clone(&cur.incarnation),
                    &cur.catalog,
                    next,
                    ords,
                ));
                crate::routes::overview::warm(state, &cur.snapshot, &now.snapshot);
                slot.state.store(now);
                state.metrics.write_committed();
                if revokes {
                    // The store revoked the deleted users' and environments' keys in the same transaction.
                    // Committed: the answer stands even if this node's re-read fails (it re-reads again soon).
                    if let Err(e) = state.reload_keys().await {
                        tracing::warn!(error = %e, "re-reading keys after a revocation failed");
                    }
                }
                return Ok(reply.into_response());
            }
            Err(StoreError::Conflict) => {
                // Another node committed first. Back off a random while before trying again on its state:
                // without it, two nodes writing one tenant at once lose to each other round after round.
                let cap = 1u64 << attempt.min(6);
                tokio::time::sleep(std::time::Duration::from_millis(rand::random_range(0..=cap))).await;
                state
                    .reload_into(&slot.id, Some(slot))
                    .await
                    .map_err(Problem::internal)?;
                // Deleted meanwhile, or deleted and created again: this write was for a life that is over.
                if state
                    .index
                    .load()
                    .get(&slot.id)
                    .is_none_or(|i| **i != *cur.incarnation)
                {
                    return Err(Problem::not_found("tenant", &slot.id));
                }
            }
            Err(StoreError::IdempotencyTaken) => {
                return replayed(state, req).await?.ok_or_else(|| {
                    Problem::conflict("a concurrent request with this Idempotency-Key is in flight")
                });
            }
            Err(e) => return Err(store_failed(state, &slot.id, e).await),
        }
    }
    Err(Problem::conflict("the tenant kept changing; try again"))
}

/// Creates a tenant from a checked scenario.
pub async fn create_tenant(
    state: &AppState,
    req: &WriteReq,
    catalog_name: &str,
    scenario: Scenario,
) -> Result<Response, Problem> {
    if let Some(r) = replayed(state, req).await? {
        return Ok(r);
    }
    let id = scenario.tenant.id.clone();
    let catalog = state.catalog(catalog_name)?;
    let next = state
        .heavy(|| check(state, None, Arc::clone(&catalog), scenario, &Within::Scenario))
        .await??;
    let summary = crate::routes::tenants::summary(&id, 1, catalog_name, &next);
    if state.exists(&id) {
        return Err(Problem::conflict(format!("tenant `{id}` exists already")).at("/tenant/id"));
    }
    if req.dry_run {
        return Ok(Reply::json(StatusCode::OK, json!({"dry_run": true, "tenant": summary})).into_response());
    }
    let (rows, ords) = items::whole(next.scenario()).map_err(Problem::internal)?;
    let reply = Reply {
        status: StatusCode::CREATED,
        body: Some(summary),
        etag: Some("\"v1\"".to_owned()),
        location: Some(format!("/v1/tenants/{id}")),
    };
    // A new life of the id, whatever lived under it before.
    let incarnation: Arc<str> = crate::auth::new_id("inc_").into();
    let commit = Commit {
        tenant: id.clone(),
        incarnation: incarnation.to_string(),
        expect: Expect::Absent,
        next: Some(TenantWrite {
            id: id.clone(),
            version: 1,
            catalog: catalog_name.to_owned(),
            rows,
        }),
        audit: audit_rows(
            &id,
            &req.principal.key_id,
            &[Change {
                action: "create",
                kind: "tenant",
                item: Some(id.clone()),
                before: None,
                after: None,
            }],
        ),
        idempotency: req
            .idempotency_key
            .as_ref()
            .map(|k| (req.scope(), k.clone(), reply.stored(req.fingerprint.clone()))),
        gone_users: Vec::new(),
        gone_environments: Vec::new(),
        events: vec![crate::events::new_event(
            "tenant.created",
            next.at(),
            Vec::new(),
            json!({"tenant": id, "catalog": catalog_name}),
        )],
    };
    match state.store.commit(commit).await {
        Ok(()) => {
            state
                .insert_tenant(&id, TenantState::new(1, incarnation, catalog_name, next, ords))
                .await;
            state.metrics.write_committed();
            Ok(reply.into_response())
        }
        Err(StoreError::Conflict) => {
            state.reload(&id).await.map_err(Problem::internal)?;
            Err(Problem::conflict(format!("tenant `{id}` exists already")).at("/tenant/id"))
        }
        Err(StoreError::IdempotencyTaken) => replayed(state, req)
            .await?
            .ok_or_else(|| Problem::conflict("a concurrent request with this Idempotency-Key is in flight")),
        Err(e) => Err(store_failed(state, &id, e).await),
    }
}

/// Deletes a tenant (its audit log stays).
pub async fn delete_tenant(state: &AppState, slot: &TenantSlot, req: &WriteReq) -> Result<Response, Problem> {
    let _guard = slot.write.lock().await;
    let cur = slot.state.load_full();
    if req.dry_run {
        return Ok(Reply::json(
            StatusCode::OK,
            json!({"dry_run": true, "changes": [{"action": "delete", "kind": "tenant", "item": slot.id}]}),
        )
        .into_response());
    }
    let commit = Commit {
        tenant: slot.id.clone(),
        incarnation: cur.incarnation.to_string(),
        expect: Expect::Version(cur.version),
        next: None,
        audit: audit_rows(
            &slot.id,
            &req.principal.key_id,
            &[Change {
                action: "delete",
                kind: "tenant",
                item: Some(slot.id.clone()),
                before: None,
                after: None,
            }],
        ),
        idempotency: None,
        gone_users: Vec::new(),
        gone_environments: Vec::new(),
        // The tenant's events go with its life: nothing to tell anyone about a tenant that is gone.
        events: Vec::new(),
    };
    match state.store.commit(commit).await {
        Ok(()) => {
            state.remove_tenant(&slot.id).await;
            // The store revoked its keys in the same transaction; committed, the answer stands either way.
            if let Err(e) = state.reload_keys().await {
                tracing::warn!(error = %e, "re-reading keys after a tenant's deletion failed");
            }
            Ok(Reply::no_content().into_response())
        }
        Err(StoreError::Conflict) => Err(Problem::conflict("the tenant changed meanwhile; try again")),
        Err(e) => Err(store_failed(state, &slot.id, e).await),
    }
}
