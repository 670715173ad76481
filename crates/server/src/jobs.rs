//! The tenant's jobs (issue 14): what [`entitle_core::timeline`] says is due on each day, run through the write
//! path, so that a day's effects (flows suspended, notices remembered, terms renewed), its events and the day it
//! reached (`tenant.jobs_through`) are one commit. Exactly once across nodes: each day's commit is conditional on
//! the tenant's version, and a node that lost the race re-reads the tenant and finds the day done. A node killed
//! in the middle of a day leaves nothing of it; the next node to run the tenant's jobs does the day whole.
//!
//! A tenant with a test clock (`tenant.test_clock`) runs its jobs only when `clock:advance` moves its clock; any
//! other tenant without a pinned `tenant.at` follows the UTC date, checked by every node every
//! `--jobs-interval` seconds under a lease (so nodes do not all do the same work at once).

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::NaiveDate;
use entitle_core::Snapshot;
use entitle_core::timeline::{self, Happening};
use serde::Serialize;
use serde_json::json;

use crate::auth::Principal;
use crate::events::of_happening;
use crate::problem::Problem;
use crate::state::{AppState, TenantSlot, TenantState};
use crate::write::{Change, Mutation, Reply, Within, WriteReq, write_events};

/// How many suspensions of one day get their cheapest fix worked out (dry runs); the rest say to read the
/// audit. A bound on one day's work when a rollout turns off thousands of flows at once.
pub const MAX_FIXES_PER_DAY: usize = 200;

/// The longest `clock:advance` at once (ten years of days).
pub const MAX_DAYS: i64 = timeline::MAX_DAYS;

/// What one day did.
#[derive(Debug, Clone, Serialize)]
pub struct DayRun {
    pub day: NaiveDate,
    pub happenings: Vec<Happening>,
}

/// What is due on `day` for the tenant as `cur` has it: renewals first (so a renewed licence never looks lapsed),
/// then the day's decisions. Returns the scenario after them (with `jobs_through` = `day`).
fn due_on(cur: &TenantState, day: NaiveDate) -> Result<(entitle_core::Scenario, Vec<Happening>), Problem> {
    let mut s = cur.scenario().clone();
    let mut all = timeline::renewals(&s, day);
    timeline::apply(&mut s, day, &all);
    let snap: Arc<Snapshot> = if cur.snapshot.at() == day && all.is_empty() {
        Arc::clone(&cur.snapshot)
    } else {
        Arc::new(
            Snapshot::new(Arc::clone(cur.snapshot.catalog_arc()), s.clone(), day)
                .map_err(|e| Problem::internal(format!("the tenant on {day}: {e}")))?,
        )
    };
    let due = timeline::with_fixes(&snap, timeline::due(&snap), |_| None, MAX_FIXES_PER_DAY);
    timeline::apply(&mut s, day, &due);
    all.extend(due);
    Ok((s, all))
}

/// A refusal that only says another writer ran the day first.
fn done_already() -> Problem {
    Problem::new(StatusCode::CONFLICT, "jobs-done", "the day's jobs ran already")
}

/// Runs one day's jobs, moving a test clock to `day` when `move_clock`. `None` when the day had run already
/// (another node, or an earlier call).
async fn run_day(
    state: &Arc<AppState>,
    slot: &TenantSlot,
    day: NaiveDate,
    move_clock: bool,
) -> Result<Option<Vec<Happening>>, Problem> {
    let req = WriteReq {
        principal: Principal::system(),
        idempotency_key: None,
        fingerprint: Vec::new(),
        dry_run: false,
    };
    let mut ran = Vec::new();
    let done = write_events(state, slot, &req, |cur| {
        let t = &cur.scenario().tenant;
        if t.jobs_through.is_some_and(|j| j >= day) && (!move_clock || t.at.is_some_and(|a| a >= day)) {
            return Err(done_already());
        }
        let (mut next, happenings) = due_on(cur, day)?;
        if move_clock {
            next.tenant.at = Some(day);
        }
        let events = happenings
            .iter()
            .filter(|h| h.is_event())
            .map(|h| of_happening(h, day))
            .collect();
        let changes = happenings
            .iter()
            .filter(|h| h.is_event())
            .map(|h| Change {
                action: h.kind(),
                kind: "job",
                item: Some(h.subject()),
                before: None,
                after: Some(json!({"day": day})),
            })
            .collect();
        ran = happenings;
        Ok((
            Mutation {
                next,
                changes,
                reply: Reply::no_content(),
                within: Within::Scenario,
                blame: Vec::new(),
            },
            events,
        ))
    })
    .await;
    match done {
        Ok(_) => Ok(Some(ran.into_iter().filter(Happening::is_event).collect())),
        Err(p) if p.kind.ends_with("/jobs-done") => Ok(None),
        Err(p) => Err(p),
    }
}

/// Runs every day's jobs from the day after `jobs_through` (or the clock's day, the first time) through
/// `through`, in order. Days with nothing due are not committed, except the last (which records how far the
/// jobs ran, and moves a test clock there).
pub async fn run(
    state: &Arc<AppState>,
    slot: &TenantSlot,
    through: NaiveDate,
    move_clock: bool,
) -> Result<Vec<DayRun>, Problem> {
    let cur = slot.state.load_full();
    // The tenant's day: its clock (`tenant.at`), or the UTC date.
    let now = cur.scenario().tenant.at.unwrap_or_else(|| state.today());
    let first = match cur.scenario().tenant.jobs_through {
        Some(j) => j.succ_opt().unwrap_or(j),
        None => now,
    };
    let mut out = Vec::new();
    let mut day = first;
    while day <= through {
        let last = day == through;
        let cur = slot.state.load_full();
        // A quiet day is only looked at; the next day with something due (or the last) commits.
        let quiet = !last
            && state
                .heavy(|| due_on(&cur, day))
                .await??
                .1
                .iter()
                .all(|h| !h.is_event());
        if !quiet
            && let Some(happenings) = run_day(state, slot, day, move_clock).await?
            && !happenings.is_empty()
        {
            out.push(DayRun { day, happenings });
        }
        let Some(next) = day.succ_opt() else { break };
        day = next;
    }
    if move_clock && first > through {
        // Nothing to run (the jobs ran to there already): the clock still moves.
        run_day(state, slot, through, true).await?;
    }
    Ok(out)
}

/// Every node, every `every`: the jobs of each tenant that follows real time and is behind today, under a lease
/// per tenant. Tenants with a test clock or a pinned `tenant.at` are left alone.
pub async fn schedule(state: Arc<AppState>, node: String, every: std::time::Duration) {
    // The first look comes one interval after the start, not at once: a node starting (or restarting) answers
    // first.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let today = state.today();
        let ids: Vec<String> = state.index.load().keys().cloned().collect();
        for id in ids {
            if let Err(e) = sweep(&state, &node, &id, today, every).await {
                tracing::warn!(tenant = %id, error = %e.detail, "running a tenant's jobs failed");
            }
        }
    }
}

async fn sweep(
    state: &Arc<AppState>,
    node: &str,
    id: &str,
    today: NaiveDate,
    every: std::time::Duration,
) -> Result<(), Problem> {
    let Some(slot) = state.loaded(id).await? else {
        return Ok(());
    };
    let cur = slot.state.load_full();
    let t = &cur.scenario().tenant;
    if t.test_clock || t.at.is_some() || t.jobs_through.is_some_and(|j| j >= today) {
        return Ok(());
    }
    let lease = format!("jobs:{id}");
    let now = crate::store::now_ms();
    let hold = i64::try_from(every.as_millis().saturating_mul(5)).unwrap_or(i64::MAX);
    let taken = state
        .store
        .take_lease(&lease, node, now, now.saturating_add(hold))
        .await
        .map_err(Problem::internal)?;
    if !taken {
        return Ok(());
    }
    let done = run(state, &slot, today, false).await;
    if let Err(e) = state.store.drop_lease(&lease, node).await {
        tracing::warn!(tenant = id, error = %e, "giving a jobs lease back failed (it runs out by itself)");
    }
    done.map(|_| ())
}
