//! Consumption as it happens (PORTAL-2, PORTAL-3, PORTAL-4, PORTAL-5, PORTAL-6, AI-1, AI-2, D365-3):
//! `POST …/portals/{p}/logins`, `POST …/portals/{p}/page-views`, `POST …/environments/{e}/ai-credits:consume`,
//! `POST …/consumption:batch`; and what was consumed: `GET …/consumption?month=` (JSON or the admin center's CSV
//! columns) and `GET …/statement?month=`.
//!
//! Every event is answered on the spot from the node's ledger (`entitle-ledger`) with the allocation the tenant's
//! snapshot gives it; an event may be up to 7 days late and never in the future (the tenant clock: now, or the
//! end of the day `--today` pins); an event id (`id`, or the `Idempotency-Key` header) makes it count once.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use entitle_core::Snapshot;
use entitle_core::consumption as core_consumption;
use entitle_core::scenario::{AppKind, Consumption, ConsumptionKind};
use entitle_ledger::{Answer, CreditSource, Event, LedgerError, Month, MonthUsage, PassError};
use serde::Deserialize;
use serde_json::{Value, json};

use super::answers::snapshot_on;
use crate::http::{Caller, Q, json_body};
use crate::policy::{Access, Family, Scope, require};
use crate::problem::Problem;
use crate::state::AppState;

/// Events one batch may carry.
pub const MAX_BATCH: usize = 10_000;
/// The longest id, user or model name taken.
const MAX_TEXT: usize = 256;

/// The tenant clock in ms: now, or the last millisecond of the day the server's `--today` pins.
pub fn clock_ms(state: &AppState) -> u64 {
    let ms = match state.today {
        Some(d) => d
            .and_hms_milli_opt(23, 59, 59, 999)
            .map_or(0, |t| t.and_utc().timestamp_millis()),
        None => crate::store::now_ms(),
    };
    u64::try_from(ms).unwrap_or(0)
}

fn rfc3339(ms: u64) -> String {
    DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// `POST …/portals/{p}/logins`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginAsk {
    /// The external user (a contact id); a user of the tenant is an internal user (PORTAL-4).
    pub user: String,
    /// When (RFC 3339); default: now. At most 7 days old, never in the future.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
    /// The event's id: sent again, it gets the first answer and counts nothing more.
    #[serde(default)]
    pub id: Option<String>,
}

/// `POST …/portals/{p}/page-views`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ViewsAsk {
    pub count: u64,
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub id: Option<String>,
}

/// `POST …/environments/{e}/ai-credits:consume`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditsAsk {
    pub credits: u64,
    #[serde(default)]
    pub model: Option<String>,
    /// A preview model: free (AI-2).
    #[serde(default)]
    pub preview: bool,
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub id: Option<String>,
}

/// `POST …/consumption:batch`: records as in the scenario's `[[consumption]]`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchAsk {
    pub events: Vec<Consumption>,
}

fn idempotency(headers: &HeaderMap, id: Option<String>) -> Result<Option<String>, Problem> {
    match headers.get("idempotency-key") {
        Some(v) => {
            let v = v.to_str().map_err(|_| {
                Problem::bad_request("invalid", "Idempotency-Key is not ASCII").at("header:Idempotency-Key")
            })?;
            Ok(Some(v.to_owned()))
        }
        None => Ok(id),
    }
}

/// Bounds on what a caller controls: text lengths, counts, and the fields of the record's kind.
fn check_record(r: &Consumption) -> Result<(), Problem> {
    for (field, v) in [
        ("id", &r.id),
        ("user", &r.user),
        ("model", &r.model),
        ("portal", &r.portal),
        ("environment", &r.environment),
    ] {
        if let Some(v) = v
            && (v.is_empty() || v.len() > MAX_TEXT || v.chars().any(char::is_control))
        {
            return Err(Problem::unprocessable(format!(
                "`{field}` must be 1 to {MAX_TEXT} characters without control characters"
            ))
            .at(format!("/{field}")));
        }
    }
    for (field, n) in [("count", r.count), ("credits", r.credits)] {
        if let Some(n) = n
            && !(1..=entitle_core::scenario::limits::MAX_QUANTITY).contains(&n)
        {
            return Err(Problem::unprocessable(format!(
                "`{field}` must be between 1 and {}",
                entitle_core::scenario::limits::MAX_QUANTITY
            ))
            .at(format!("/{field}")));
        }
    }
    Ok(())
}

/// Why an event was refused, as a problem naming the field.
fn ledger_problem(e: &LedgerError, r: &Consumption, snap: &Snapshot) -> Problem {
    let text = e.to_string();
    match e {
        LedgerError::Future { .. }
        | LedgerError::TooLate { .. }
        | LedgerError::Pass(PassError::TooLate { .. }) => Problem::unprocessable(text).at("/at"),
        LedgerError::Pass(PassError::TooMany) => {
            Problem::new(StatusCode::TOO_MANY_REQUESTS, "too-many", text).at("/user")
        }
        LedgerError::IdReused { .. } => Problem::unprocessable(text).at("/id"),
        LedgerError::OutOfRange { .. } => Problem::unprocessable(text),
        LedgerError::Unavailable { .. } => {
            let mut p = Problem::new(StatusCode::SERVICE_UNAVAILABLE, "ledger-unavailable", text);
            p.retry_after = Some(1);
            p
        }
        LedgerError::OverAllocation {
            what,
            month,
            used,
            allocated,
        } => {
            let mut p = Problem::conflict(text).at(if *what == "logins" { "/user" } else { "/count" });
            let sku = if *what == "logins" {
                "portal-logins-tier-1"
            } else {
                "portal-page-views"
            };
            p.extra.insert("rule".into(), json!("PORTAL-5"));
            p.extra.insert(
                "fix".into(),
                json!({"action": "buy-license", "sku": sku, "then": format!("allocate more {what} to the portal for {month}"), "used": used, "allocated": allocated}),
            );
            p
        }
        LedgerError::NoAllocation { environment } => {
            let mut p = Problem::conflict(text).at("/credits");
            p.extra.insert("rule".into(), json!("AI-1"));
            p.extra.insert(
                "fix".into(),
                json!({"action": "allocate-capacity", "target": environment, "sku": "ai-builder-capacity", "quantity": r.credits}),
            );
            p
        }
        LedgerError::Overdraft {
            pool,
            month,
            used,
            available,
            requested,
        } => {
            let missing = used.saturating_add(*requested).saturating_sub(*available);
            let pool_left = core_consumption::pool(snap, *month).unallocated;
            let mut p = Problem::conflict(text).at("/credits");
            p.extra.insert("rule".into(), json!("AI-1"));
            let fix = if *pool == CreditSource::Allocation && pool_left >= missing {
                json!({"action": "allocate-capacity", "target": r.environment, "sku": "ai-builder-capacity", "quantity": missing})
            } else {
                json!({"action": "buy-license", "sku": "ai-builder-capacity", "quantity": missing.div_ceil(1_000_000).max(1), "adds_credits": missing})
            };
            p.extra.insert("fix".into(), fix);
            p
        }
    }
}

/// The answer to an accepted event.
/// An event's answer, serialised without building a JSON tree (a batch has 10,000 of them).
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
enum Body {
    Login {
        charged: bool,
        pass_ends_at: String,
        month: Month,
        allocated: u64,
        used: u64,
        remaining: u64,
        over: u64,
        replayed: bool,
        rules: &'static [&'static str],
    },
    PageViews {
        counted: u64,
        month: Month,
        allocated: u64,
        used: u64,
        remaining: u64,
        over: u64,
        replayed: bool,
        rules: &'static [&'static str],
    },
    Credits {
        consumed: u64,
        month: Month,
        source: &'static str,
        available: u64,
        used: u64,
        remaining: u64,
        replayed: bool,
        rules: &'static [&'static str],
    },
    /// An internal user's login (PORTAL-4).
    Other(Value),
}

fn body(a: &Answer) -> Body {
    match *a {
        Answer::Login(l) => Body::Login {
            charged: l.charged,
            pass_ends_at: rfc3339(l.pass_ends_ms),
            month: l.month,
            allocated: l.allocated,
            used: l.used,
            remaining: l.allocated.saturating_sub(l.used),
            over: l.used.saturating_sub(l.allocated),
            replayed: l.replayed,
            rules: &["PORTAL-2", "PORTAL-5", "PORTAL-6"],
        },
        Answer::PageViews(v) => Body::PageViews {
            counted: v.counted,
            month: v.month,
            allocated: v.allocated,
            used: v.used,
            remaining: v.allocated.saturating_sub(v.used),
            over: v.used.saturating_sub(v.allocated),
            replayed: v.replayed,
            rules: &["PORTAL-3", "PORTAL-5", "PORTAL-6"],
        },
        Answer::Credits(c) => Body::Credits {
            consumed: c.consumed,
            month: c.month,
            source: match c.source {
                CreditSource::Allocation => "allocation",
                CreditSource::Pool => "pool",
            },
            available: c.available,
            used: c.used,
            remaining: c.available.saturating_sub(c.used),
            replayed: c.replayed,
            rules: &["AI-1", "AI-2"],
        },
    }
}

/// PORTAL-4, D365-3: a login by one of the tenant's users is covered by their licence (or refused), never billed.
fn internal_login(snap: &Snapshot, portal: &str, user: &str) -> Option<Result<Value, Problem>> {
    let u = snap.user_idx(user)?;
    let a = snap.app_idx(portal)?;
    let report = entitle_core::report::app_answer(snap, a, u);
    if report.allowed {
        Some(Ok(json!({
            "charged": false, "internal": true, "licensed_by": report.licensed_by, "rules": report.rules,
        })))
    } else {
        let why: Vec<&str> = report.problems.iter().map(|p| p.message.as_str()).collect();
        let mut p = Problem::forbidden(format!(
            "`{user}` is a user of the tenant whose licence does not cover this portal: {}",
            why.join("; ")
        ))
        .at("/user");
        p.extra.insert("rules".into(), json!(report.rules));
        Some(Err(p))
    }
}

/// An environment's allowance in a month, or why there is none.
type Allowance = Result<entitle_ledger::CreditAllowance, String>;

/// The allocations events are checked against, worked out once per portal and per environment and month for
/// a request (a batch of 10,000 logins to one portal looks its allocation up once).
struct Resolver<'s> {
    snap: &'s Snapshot,
    portals: std::collections::HashMap<String, Result<entitle_ledger::PortalLimits, String>>,
    /// Environment, then month.
    credits: std::collections::HashMap<String, Vec<(Month, Allowance)>>,
}

impl<'s> Resolver<'s> {
    fn new(snap: &'s Snapshot) -> Self {
        Resolver {
            snap,
            portals: Default::default(),
            credits: Default::default(),
        }
    }

    /// The ledger event of a checked record: a missing field is 422, an unknown portal or environment 404.
    fn event<'a>(&mut self, t: &'a str, r: &'a Consumption) -> Result<Event<'a>, Problem> {
        let snap = self.snap;
        let (portals, credits) = (&mut self.portals, &mut self.credits);
        // Looked up before inserting: an event for a portal already seen allocates nothing here.
        let portal_of = |p: &str| match portals.get(p) {
            Some(found) => found.clone(),
            None => portals
                .entry(p.to_owned())
                .or_insert_with(|| core_consumption::portal_limits(snap, p))
                .clone(),
        };
        let allowance_of = |e: &str, m: Month| {
            if let Some((_, found)) = credits
                .get(e)
                .and_then(|months| months.iter().find(|(month, _)| *month == m))
            {
                return found.clone();
            }
            let found = core_consumption::allowance(snap, e, m);
            credits.entry(e.to_owned()).or_default().push((m, found.clone()));
            found
        };
        core_consumption::event_with(t, r, portal_of, allowance_of).map_err(|e| {
            let status = if e.missing {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::NOT_FOUND
            };
            let slug = if e.missing { "invalid" } else { "not-found" };
            Problem::new(status, slug, e.why).at(format!("/{}", e.field))
        })
    }
}

/// What a record comes to before the ledger: an answer already (an internal user), a refusal, or an event.
enum Prepared<'a> {
    Done(Result<Body, Problem>),
    Event(Event<'a>),
}

fn prepare<'a>(res: &mut Resolver<'_>, t: &'a str, rec: &'a Consumption) -> Prepared<'a> {
    if let Err(p) = check_record(rec) {
        return Prepared::Done(Err(p));
    }
    if rec.kind == ConsumptionKind::PortalLogin
        && let (Some(p), Some(u)) = (rec.portal.as_deref(), rec.user.as_deref())
        && let Some(internal) = internal_login(res.snap, p, u)
    {
        return Prepared::Done(internal.map(Body::Other));
    }
    match res.event(t, rec) {
        Ok(e) => Prepared::Event(e),
        Err(p) => Prepared::Done(Err(p)),
    }
}

/// Takes records: checks each, answers them from the ledger (one call for all the events of a batch), logs the
/// accepted ones (moved, not copied). Answers in order.
async fn take_all(
    state: &AppState,
    snap: &Snapshot,
    t: &str,
    recs: Vec<Consumption>,
    now: u64,
) -> Vec<Result<Body, Problem>> {
    let mut res = Resolver::new(snap);
    let mut out: Vec<Result<Body, Problem>> = Vec::with_capacity(recs.len());
    // Which records reached the ledger, and whether each was drawn from the AI pool once accepted.
    let mut logged: Vec<Option<bool>> = vec![None; recs.len()];
    {
        let prepared: Vec<Prepared<'_>> = recs.iter().map(|r| prepare(&mut res, t, r)).collect();
        let events: Vec<Event<'_>> = prepared
            .iter()
            .filter_map(|p| match p {
                Prepared::Event(e) => Some(*e),
                Prepared::Done(_) => None,
            })
            .collect();
        let mut answers = state.consumption.take_batch(&events, now).await.into_iter();
        for ((rec, p), log) in recs.iter().zip(prepared).zip(logged.iter_mut()) {
            out.push(match p {
                Prepared::Done(r) => r,
                Prepared::Event(_) => match answers.next() {
                    Some(Ok(a)) => {
                        if !answer_replayed(&a) {
                            *log = Some(matches!(a, Answer::Credits(c) if c.source == CreditSource::Pool));
                        }
                        Ok(body(&a))
                    }
                    Some(Err(e)) => Err(ledger_problem(&e, rec, snap)),
                    None => Err(Problem::internal(
                        "the ledger answered fewer events than it was given",
                    )),
                },
            });
        }
    }
    state.consumption.log_many(
        t,
        recs.into_iter()
            .zip(logged)
            .filter_map(|(r, l)| l.map(|from_pool| (r, from_pool))),
    );
    out
}

/// One record, as [`take_all`].
async fn take(
    state: &AppState,
    snap: &Snapshot,
    t: &str,
    rec: Consumption,
    now: u64,
) -> Result<Body, Problem> {
    take_all(state, snap, t, vec![rec], now)
        .await
        .pop()
        .unwrap_or_else(|| Err(Problem::internal("no answer")))
}

fn answer_replayed(a: &Answer) -> bool {
    match a {
        Answer::Login(l) => l.replayed,
        Answer::PageViews(v) => v.replayed,
        Answer::Credits(c) => c.replayed,
    }
}

fn at_or_now(at: Option<DateTime<Utc>>, now: u64) -> DateTime<Utc> {
    at.unwrap_or_else(|| DateTime::from_timestamp_millis(i64::try_from(now).unwrap_or(0)).unwrap_or_default())
}

/// May the caller send consumption (of this environment's portal or credits)?
fn may_write(caller: &Caller, environment: Option<&str>) -> Result<(), Problem> {
    require(
        &caller.0,
        Family::Usage,
        Access::Write,
        Scope {
            environment,
            user: None,
        },
    )
}

async fn writer(
    state: &AppState,
    caller: &Caller,
    t: &str,
    environment: Option<&str>,
) -> Result<Arc<Snapshot>, Problem> {
    let snap = snapshot_on(state, caller, t, None).await?;
    require(
        &caller.0,
        Family::Usage,
        Access::Write,
        Scope {
            environment,
            user: None,
        },
    )?;
    Ok(snap)
}

fn environment_of<'s>(snap: &'s Snapshot, portal: &str) -> Option<&'s str> {
    snap.scenario()
        .apps
        .iter()
        .find(|a| a.id == portal && a.kind == AppKind::Portal)
        .map(|a| a.environment.as_str())
}

/// `POST /v1/tenants/{t}/portals/{p}/logins`.
pub async fn login(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((t, p)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let ask: LoginAsk = json_body(&headers, &body)?;
    let snap = snapshot_on(&state, &caller, &t, None).await?;
    let env = environment_of(&snap, &p).map(str::to_owned);
    may_write(&caller, env.as_deref())?;
    let now = clock_ms(&state);
    let rec = Consumption {
        kind: ConsumptionKind::PortalLogin,
        id: idempotency(&headers, ask.id)?,
        at: at_or_now(ask.at, now),
        portal: Some(p),
        user: Some(ask.user),
        ..Consumption::default()
    };
    Ok(axum::Json(take(&state, &snap, &t, rec, now).await?).into_response())
}

/// `POST /v1/tenants/{t}/portals/{p}/page-views`.
pub async fn page_views(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((t, p)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let ask: ViewsAsk = json_body(&headers, &body)?;
    let snap = snapshot_on(&state, &caller, &t, None).await?;
    let env = environment_of(&snap, &p).map(str::to_owned);
    may_write(&caller, env.as_deref())?;
    let now = clock_ms(&state);
    let rec = Consumption {
        kind: ConsumptionKind::PageViews,
        id: idempotency(&headers, ask.id)?,
        at: at_or_now(ask.at, now),
        portal: Some(p),
        count: Some(ask.count),
        ..Consumption::default()
    };
    Ok(axum::Json(take(&state, &snap, &t, rec, now).await?).into_response())
}

/// `POST /v1/tenants/{t}/environments/{e}/ai-credits:consume`.
pub async fn consume_credits(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((t, e)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let ask: CreditsAsk = json_body(&headers, &body)?;
    let snap = writer(&state, &caller, &t, Some(&e)).await?;
    let now = clock_ms(&state);
    let rec = Consumption {
        kind: ConsumptionKind::AiCredits,
        id: idempotency(&headers, ask.id)?,
        at: at_or_now(ask.at, now),
        environment: Some(e),
        credits: Some(ask.credits),
        model: ask.model,
        preview: ask.preview,
        ..Consumption::default()
    };
    Ok(axum::Json(take(&state, &snap, &t, rec, now).await?).into_response())
}

/// `POST /v1/tenants/{t}/consumption:batch`: each event answered in order with its status; one bad event
/// refuses that event alone.
pub async fn batch(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(t): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let ask: BatchAsk = json_body(&headers, &body)?;
    if ask.events.len() > MAX_BATCH {
        return Err(Problem::unprocessable(format!(
            "{} events; at most {MAX_BATCH} a batch",
            ask.events.len()
        ))
        .at("/events"));
    }
    let snap = writer(&state, &caller, &t, None).await?;
    let now = clock_ms(&state);
    let mut results = Vec::with_capacity(ask.events.len());
    let (mut accepted, mut refused) = (0u64, 0u64);
    for (i, r) in take_all(&state, &snap, &t, ask.events, now)
        .await
        .into_iter()
        .enumerate()
    {
        match r {
            Ok(answer) => {
                accepted += 1;
                results.push(Item::Answer { status: 200, answer });
            }
            Err(p) => {
                refused += 1;
                let p = p.under(&format!("/events/{i}"));
                let problem = serde_json::to_value(&*p).map_err(Problem::internal)?;
                results.push(Item::Problem {
                    status: p.status,
                    problem,
                });
            }
        }
    }
    Ok(axum::Json(BatchReply {
        accepted,
        refused,
        results,
    })
    .into_response())
}

/// One event's result in a batch.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
enum Item {
    Answer { status: u16, answer: Body },
    Problem { status: u16, problem: Value },
}

#[derive(Debug, serde::Serialize)]
struct BatchReply {
    accepted: u64,
    refused: u64,
    results: Vec<Item>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonthQuery {
    #[serde(default)]
    pub month: Option<String>,
    /// `json` (default) or `csv`.
    #[serde(default)]
    pub format: Option<String>,
}

fn month_of(q: &MonthQuery, today: chrono::NaiveDate) -> Result<Month, Problem> {
    match q.month.as_deref() {
        None => Ok(Month::of_date(today)),
        Some(m) => m
            .parse()
            .map_err(|e: entitle_ledger::BadMonth| Problem::unprocessable(e.to_string()).at("query:month")),
    }
}

async fn usage(state: &AppState, snap: &Snapshot, month: Month) -> Result<MonthUsage, Problem> {
    let sc = snap.scenario();
    let portals: Vec<&str> = sc
        .apps
        .iter()
        .filter(|a| a.kind == AppKind::Portal)
        .map(|a| a.id.as_str())
        .collect();
    let envs: Vec<&str> = sc.environments.iter().map(|e| e.id.as_str()).collect();
    state
        .consumption
        .usage(&sc.tenant.id, &portals, &envs, month)
        .await
        .map_err(|e| {
            let mut p = Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ledger-unavailable",
                e.to_string(),
            );
            p.retry_after = Some(1);
            p
        })
}

fn wants_csv(q: &MonthQuery, headers: &HeaderMap) -> Result<bool, Problem> {
    match q.format.as_deref() {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(other) => {
            Err(Problem::unprocessable(format!("unknown format `{other}`: json or csv")).at("query:format"))
        }
        None => Ok(headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv"))),
    }
}

/// `GET /v1/tenants/{t}/consumption?month=YYYY-MM[&format=csv]`.
pub async fn report(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(t): Path<String>,
    headers: HeaderMap,
    Q(q): Q<MonthQuery>,
) -> Result<Response, Problem> {
    let cur = snapshot_on(&state, &caller, &t, None).await?;
    require(&caller.0, Family::Answers, Access::Read, Scope::default())?;
    let month = month_of(&q, cur.at())?;
    let csv = wants_csv(&q, &headers)?;
    let day = core_consumption::statement_day(month, cur.at());
    let snap = snapshot_on(&state, &caller, &t, Some(day)).await?;
    let r = core_consumption::report(&snap, month, &usage(&state, &snap, month).await?);
    if csv {
        let text = core_consumption::csv(&r).map_err(Problem::internal)?;
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], text).into_response());
    }
    Ok(axum::Json(r).into_response())
}

/// `GET /v1/tenants/{t}/statement?month=YYYY-MM`.
pub async fn statement(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(t): Path<String>,
    Q(q): Q<MonthQuery>,
) -> Result<Response, Problem> {
    let cur = snapshot_on(&state, &caller, &t, None).await?;
    require(&caller.0, Family::Answers, Access::Read, Scope::default())?;
    let month = month_of(&q, cur.at())?;
    if q.format.as_deref().is_some_and(|f| f != "json") {
        return Err(
            Problem::unprocessable("a statement is JSON; the consumption rows have a CSV form")
                .at("query:format"),
        );
    }
    let snap = snapshot_on(
        &state,
        &caller,
        &t,
        Some(core_consumption::statement_day(month, cur.at())),
    )
    .await?;
    let before = snapshot_on(
        &state,
        &caller,
        &t,
        Some(core_consumption::statement_day(month.previous(), cur.at())),
    )
    .await?;
    let this = usage(&state, &snap, month).await?;
    let prev = usage(&state, &before, month.previous()).await?;
    Ok(axum::Json(core_consumption::statement(&snap, &this, &before, &prev, month)).into_response())
}

/// `PUT …/environments/{e}/storage`: the Dataverse storage an environment uses, as a platform reports it (CAP-6).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StorageAsk {
    pub database_mb: u64,
    pub file_mb: u64,
    pub log_mb: u64,
}

/// `PUT /v1/tenants/{t}/environments/{e}/storage`: replaces the environment's storage use; the answer is the
/// tenant's pools after it (CAP-1, CAP-6), with the state of each and the fix of an overage.
pub async fn put_storage(
    State(state): State<Arc<AppState>>,
    Path((t, env)): Path<(String, String)>,
    w: crate::http::Writing,
) -> Result<Response, Problem> {
    use crate::write::{Change, Mutation, Reply, Within, write};
    let slot = state.slot(&w.caller.0, &t).await?;
    let ask: StorageAsk = json_body(&w.headers, &w.body)?;
    require(
        &w.caller.0,
        Family::Environments,
        Access::Write,
        Scope {
            environment: Some(&env),
            user: None,
        },
    )?;
    for (field, v) in [
        ("database_mb", ask.database_mb),
        ("file_mb", ask.file_mb),
        ("log_mb", ask.log_mb),
    ] {
        if v > entitle_core::scenario::limits::MAX_QUANTITY {
            return Err(Problem::unprocessable(format!(
                "{v} is more than {}, the largest quantity entitle takes",
                entitle_core::scenario::limits::MAX_QUANTITY
            ))
            .at(format!("/{field}")));
        }
    }
    let req = &w.req;
    write(&state, &slot, req, |cur| {
        let mut s = cur.scenario().clone();
        let e = s
            .environments
            .iter_mut()
            .find(|e| e.id == env)
            .ok_or_else(|| Problem::not_found("environment", &env))?;
        let before = serde_json::to_value(e.storage).map_err(Problem::internal)?;
        let storage = entitle_core::scenario::Storage {
            database_mb: ask.database_mb,
            file_mb: ask.file_mb,
            log_mb: ask.log_mb,
        };
        e.storage = Some(storage);
        let after = serde_json::to_value(storage).map_err(Problem::internal)?;
        Ok(Mutation {
            next: s,
            blame: Vec::new(),
            changes: vec![Change {
                action: "report-storage",
                kind: "environment",
                item: Some(env.clone()),
                before: Some(before),
                after: Some(after.clone()),
            }],
            reply: Reply::json(StatusCode::OK, json!({"environment": env, "storage": after})),
            within: Within::Scenario,
        })
    })
    .await
}
