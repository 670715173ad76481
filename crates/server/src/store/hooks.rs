//! The webhook tables (issue 14): endpoints, deliveries and their attempts. A delivery is made from an event
//! after the endpoint's cursor ([`HookStore::fan_out`]), claimed by one node at a time under a lease
//! ([`HookStore::claim_due`]; PostgreSQL skips rows other nodes have locked), and its outcome recorded with the
//! attempt ([`HookStore::record`]). The SQL is the same text for SQLite and PostgreSQL except the claim's lock.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreError;

/// A signing secret and when it stops being used (a rotated one signs alongside the new one until then).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretRow {
    pub secret: String,
    pub expires_at: Option<i64>,
}

/// A stored endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRow {
    pub id: String,
    pub tenant: String,
    pub incarnation: String,
    pub url: String,
    /// Empty: every type.
    pub types: Vec<String>,
    pub description: String,
    pub secrets: Vec<SecretRow>,
    pub disabled: bool,
    pub failing_since: Option<i64>,
    pub cursor: i64,
    pub created_at: i64,
}

/// A delivery due, with what sending it needs.
#[derive(Debug, Clone)]
pub struct DueRow {
    pub id: String,
    pub endpoint: String,
    pub url: String,
    pub secrets: Vec<SecretRow>,
    pub event_id: String,
    pub event_type: String,
    /// The body sent: the event as `GET …/events` shows it.
    pub body: String,
    /// Attempts made before this one.
    pub attempts: i64,
    pub first_attempt_at: Option<i64>,
    /// The end of this node's lease on it: past it, another node may send it.
    pub lease_until: i64,
}

/// What an attempt came to.
#[derive(Debug, Clone)]
pub struct AttemptRow {
    pub at: i64,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
    /// `delivered`, `failed` (gave up) or `pending` (tried again at `next_at`).
    pub state: &'static str,
    pub next_at: i64,
}

/// One attempt's outcome, to record.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub delivery: String,
    pub endpoint: String,
    /// This attempt's number (1 is the first).
    pub attempt: i64,
    pub first_attempt_at: i64,
    pub row: AttemptRow,
}

/// A delivery, as the log shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRow {
    pub id: String,
    pub event_seq: i64,
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub state: String,
    pub attempts: i64,
    pub next_at: Option<String>,
    pub last: Option<LastAttempt>,
    /// Every attempt, oldest first (in the one-delivery view).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<LastAttempt>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LastAttempt {
    pub at: String,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

#[async_trait]
pub trait HookStore: Send + Sync {
    async fn insert_endpoint(&self, e: &EndpointRow) -> Result<(), StoreError>;
    async fn endpoints(&self, tenant: &str, incarnation: &str) -> Result<Vec<EndpointRow>, StoreError>;
    async fn endpoint(
        &self,
        tenant: &str,
        incarnation: &str,
        id: &str,
    ) -> Result<Option<EndpointRow>, StoreError>;
    /// Writes url, types, description, secrets, disabled and failing_since.
    async fn update_endpoint(&self, e: &EndpointRow) -> Result<bool, StoreError>;
    /// Deletes it with its deliveries and attempts.
    async fn delete_endpoint(&self, tenant: &str, incarnation: &str, id: &str) -> Result<bool, StoreError>;
    /// The tenant's last event seq (where a new endpoint's cursor starts: it gets the events after its creation).
    async fn last_event_seq(&self, tenant: &str, incarnation: &str) -> Result<i64, StoreError>;
    /// Makes deliveries of the events after each enabled endpoint's cursor (at most `batch` in all, the
    /// endpoint furthest behind first), due at `now` and claimed by the caller until `lease_until`; returns
    /// them, ready to send (a delivery another node made first is not returned).
    /// `None` when no endpoint is enabled at all (nothing can be due either).
    async fn fan_out(
        &self,
        now: i64,
        batch: i64,
        lease_until: i64,
    ) -> Result<Option<Vec<DueRow>>, StoreError>;
    /// Leases up to `limit` deliveries due at `now` until `now + lease_ms`.
    async fn claim_due(&self, now: i64, limit: i64, lease_ms: i64) -> Result<Vec<DueRow>, StoreError>;
    /// Records attempts and their deliveries' new states (the leases end), and which endpoints gave up or got
    /// through, in one transaction: a tick's outcomes cost one commit, not one each.
    async fn record(&self, outcomes: &[Outcome]) -> Result<(), StoreError>;
    /// An endpoint's deliveries, newest first, before `before_seq` (paging).
    async fn deliveries(
        &self,
        endpoint: &str,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, StoreError>;
    /// One delivery of an endpoint with its history: every attempt, oldest first.
    async fn delivery(&self, endpoint: &str, id: &str) -> Result<Option<DeliveryRow>, StoreError>;
    /// Makes a delivery due again now, keeping its event (so its `webhook-id`); `false` if there is none.
    async fn replay(&self, endpoint: &str, delivery: &str, now: i64) -> Result<bool, StoreError>;
    /// The earliest `next_at` of a pending delivery (how long the dispatcher may sleep).
    async fn next_due(&self) -> Result<Option<i64>, StoreError>;
    /// How far the consumer `name` has read the events table (0: from the start).
    async fn cursor(&self, name: &str) -> Result<i64, StoreError>;
    /// Moves the consumer `name` forward to `seq` (never back).
    async fn set_cursor(&self, name: &str, seq: i64) -> Result<(), StoreError>;
}

/// Unix ms as RFC 3339 (UTC, milliseconds), as every stored time is shown.
pub fn rfc3339_of(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// A new delivery's id: `dlv_`, the time in ms (11 hex digits, in order until the year 7,000), 8 random hex
/// digits.
pub fn delivery_id(now_ms: i64) -> String {
    format!("dlv_{:011x}{:08x}", now_ms.max(0), rand::random::<u32>())
}

pub(super) fn json_err(e: serde_json::Error) -> StoreError {
    StoreError::Other(e.to_string())
}

/// New deliveries of one endpoint's events (`rows`: seq, event id, type), on SQLite: one statement per 1,000 rows.
/// Ids in time order (the primary key's index grows at its end); a row another node inserted first is ignored,
/// and only what this call inserted comes back.
pub(super) async fn insert_deliveries_sqlite(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    endpoint: &str,
    now: i64,
    lease_until: i64,
    rows: &[(i64, &str, &str)],
) -> Result<Vec<(String, i64)>, StoreError> {
    use sqlx::Row;
    let mut made = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(1000) {
        let mut q = sqlx::QueryBuilder::new(
            "INSERT INTO webhook_deliveries (id, endpoint, event_seq, event_id, type, state, attempts, next_at, lease_until) ",
        );
        // The same state, times and endpoint on every row, as literals.
        let fixed = format!("'pending', 0, {now}, {lease_until}");
        q.push_values(chunk, |mut b, (seq, event_id, kind)| {
            b.push_bind(delivery_id(now))
                .push_bind(endpoint.to_owned())
                .push_bind(*seq)
                .push_bind(event_id.to_string())
                .push_bind(kind.to_string())
                .push(&fixed);
        });
        q.push(" ON CONFLICT (endpoint, event_id) DO NOTHING RETURNING id, event_seq");
        for row in q.build().fetch_all(&mut **tx).await? {
            made.push((row.try_get("id")?, row.try_get("event_seq")?));
        }
    }
    Ok(made)
}

/// The same on PostgreSQL, in one statement whose rows come as four arrays (`UNNEST`).
pub(super) async fn insert_deliveries_pg(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    endpoint: &str,
    now: i64,
    lease_until: i64,
    rows: &[(i64, &str, &str)],
) -> Result<Vec<(String, i64)>, StoreError> {
    let ids: Vec<String> = rows.iter().map(|_| delivery_id(now)).collect();
    let seqs: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let event_ids: Vec<&str> = rows.iter().map(|r| r.1).collect();
    let kinds: Vec<&str> = rows.iter().map(|r| r.2).collect();
    let made = sqlx::query_as::<_, (String, i64)>(
        "INSERT INTO webhook_deliveries (id, endpoint, event_seq, event_id, type, state, attempts, next_at, lease_until) \
         SELECT v.id, $5, v.seq, v.event_id, v.kind, 'pending', 0, $6, $7 \
         FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[]) AS v (id, seq, event_id, kind) \
         ON CONFLICT (endpoint, event_id) DO NOTHING RETURNING id, event_seq",
    )
    .bind(ids)
    .bind(seqs)
    .bind(event_ids)
    .bind(kinds)
    .bind(endpoint)
    .bind(now)
    .bind(lease_until)
    .fetch_all(&mut **tx)
    .await?;
    Ok(made)
}

/// Each delivery's new state after an attempt, on SQLite: one statement per 500 (a VALUES list joined by id).
pub(super) async fn set_states_sqlite(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    outcomes: &[Outcome],
) -> Result<(), StoreError> {
    for chunk in outcomes.chunks(500) {
        let mut q = sqlx::QueryBuilder::new(
            "WITH v (id, state, attempt, first_at, next_at, at, status, error, dur) AS (",
        );
        q.push_values(chunk, |mut b, o| {
            b.push_bind(o.delivery.clone())
                .push_bind(o.row.state)
                .push("CAST(")
                .push_bind_unseparated(o.attempt)
                .push_unseparated(" AS BIGINT)")
                .push("CAST(")
                .push_bind_unseparated(o.first_attempt_at)
                .push_unseparated(" AS BIGINT)")
                .push("CAST(")
                .push_bind_unseparated(o.row.next_at)
                .push_unseparated(" AS BIGINT)")
                .push("CAST(")
                .push_bind_unseparated(o.row.at)
                .push_unseparated(" AS BIGINT)")
                .push("CAST(")
                .push_bind_unseparated(o.row.status)
                .push_unseparated(" AS BIGINT)")
                .push_bind(o.row.error.clone())
                .push("CAST(")
                .push_bind_unseparated(o.row.duration_ms)
                .push_unseparated(" AS BIGINT)");
        });
        q.push(
            ") UPDATE webhook_deliveries SET state = v.state, attempts = v.attempt, \
             first_attempt_at = COALESCE(webhook_deliveries.first_attempt_at, v.first_at), next_at = v.next_at, \
             lease_until = NULL, last_at = v.at, last_status = v.status, last_error = v.error, \
             last_duration_ms = v.dur FROM v WHERE webhook_deliveries.id = v.id",
        );
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// The same on PostgreSQL: one statement whose rows come as nine arrays (`UNNEST`), not as 4,500 parameters
/// each parsed, planned and bound on their own — the dispatcher's commit shares the machine with the database.
pub(super) async fn set_states_pg(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    outcomes: &[Outcome],
) -> Result<(), StoreError> {
    let ids: Vec<&str> = outcomes.iter().map(|o| o.delivery.as_str()).collect();
    let states: Vec<&str> = outcomes.iter().map(|o| o.row.state).collect();
    let attempts: Vec<i64> = outcomes.iter().map(|o| o.attempt).collect();
    let firsts: Vec<i64> = outcomes.iter().map(|o| o.first_attempt_at).collect();
    let nexts: Vec<i64> = outcomes.iter().map(|o| o.row.next_at).collect();
    let ats: Vec<i64> = outcomes.iter().map(|o| o.row.at).collect();
    let statuses: Vec<Option<i64>> = outcomes.iter().map(|o| o.row.status).collect();
    let errors: Vec<Option<&str>> = outcomes.iter().map(|o| o.row.error.as_deref()).collect();
    let durations: Vec<i64> = outcomes.iter().map(|o| o.row.duration_ms).collect();
    sqlx::query(
        "UPDATE webhook_deliveries AS d SET state = v.state, attempts = v.attempt, \
         first_attempt_at = COALESCE(d.first_attempt_at, v.first_at), next_at = v.next_at, lease_until = NULL, \
         last_at = v.at, last_status = v.status, last_error = v.error, last_duration_ms = v.dur \
         FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], \
                     $7::bigint[], $8::text[], $9::bigint[]) \
              AS v (id, state, attempt, first_at, next_at, at, status, error, dur) \
         WHERE d.id = v.id",
    )
    .bind(ids)
    .bind(states)
    .bind(attempts)
    .bind(firsts)
    .bind(nexts)
    .bind(ats)
    .bind(statuses)
    .bind(errors)
    .bind(durations)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes [`HookStore`] for a SQL store type with a `pool` (the same SQL text runs on both); `$claim_lock` is
/// what the claim adds to its inner SELECT (`FOR UPDATE SKIP LOCKED` on PostgreSQL, nothing on SQLite, whose
/// writers take turns anyway); `$insert_deliveries` and `$set_states` write many deliveries in one statement, each
/// database its own way (`*_sqlite`, `*_pg`).
macro_rules! hook_store {
    ($store:ty, $claim_lock:expr, $insert_deliveries:path, $set_states:path) => {
        #[async_trait]
        impl $crate::store::hooks::HookStore for $store {
            async fn insert_endpoint(&self, e: &$crate::store::hooks::EndpointRow) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO webhook_endpoints (id, tenant, incarnation, url, types, description, secrets, disabled, failing_since, cursor, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(&e.id)
                .bind(&e.tenant)
                .bind(&e.incarnation)
                .bind(&e.url)
                .bind(serde_json::to_string(&e.types).map_err($crate::store::hooks::json_err)?)
                .bind(&e.description)
                .bind(serde_json::to_string(&e.secrets).map_err($crate::store::hooks::json_err)?)
                .bind(i64::from(e.disabled))
                .bind(e.failing_since)
                .bind(e.cursor)
                .bind(e.created_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn endpoints(&self, tenant: &str, incarnation: &str) -> Result<Vec<$crate::store::hooks::EndpointRow>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, tenant, incarnation, url, types, description, secrets, disabled, failing_since, cursor, created_at \
                     FROM webhook_endpoints WHERE tenant = $1 AND incarnation = $2 ORDER BY created_at, id",
                )
                .bind(tenant)
                .bind(incarnation)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(|r| Self::endpoint_of(r)).collect()
            }

            async fn endpoint(&self, tenant: &str, incarnation: &str, id: &str) -> Result<Option<$crate::store::hooks::EndpointRow>, StoreError> {
                let row = sqlx::query(
                    "SELECT id, tenant, incarnation, url, types, description, secrets, disabled, failing_since, cursor, created_at \
                     FROM webhook_endpoints WHERE tenant = $1 AND incarnation = $2 AND id = $3",
                )
                .bind(tenant)
                .bind(incarnation)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(|r| Self::endpoint_of(r)).transpose()
            }

            async fn update_endpoint(&self, e: &$crate::store::hooks::EndpointRow) -> Result<bool, StoreError> {
                let n = sqlx::query(
                    "UPDATE webhook_endpoints SET url = $1, types = $2, description = $3, secrets = $4, disabled = $5, failing_since = $6 \
                     WHERE id = $7 AND tenant = $8 AND incarnation = $9",
                )
                .bind(&e.url)
                .bind(serde_json::to_string(&e.types).map_err($crate::store::hooks::json_err)?)
                .bind(&e.description)
                .bind(serde_json::to_string(&e.secrets).map_err($crate::store::hooks::json_err)?)
                .bind(i64::from(e.disabled))
                .bind(e.failing_since)
                .bind(&e.id)
                .bind(&e.tenant)
                .bind(&e.incarnation)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(n == 1)
            }

            async fn delete_endpoint(&self, tenant: &str, incarnation: &str, id: &str) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await?;
                let n = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1 AND tenant = $2 AND incarnation = $3")
                    .bind(id)
                    .bind(tenant)
                    .bind(incarnation)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 1 {
                    sqlx::query("DELETE FROM webhook_attempts WHERE delivery IN (SELECT id FROM webhook_deliveries WHERE endpoint = $1)")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM webhook_deliveries WHERE endpoint = $1").bind(id).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(n == 1)
            }

            async fn last_event_seq(&self, tenant: &str, incarnation: &str) -> Result<i64, StoreError> {
                let n: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM events WHERE tenant = $1 AND incarnation = $2")
                    .bind(tenant)
                    .bind(incarnation)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(n.unwrap_or(0))
            }

            async fn fan_out(&self, now: i64, batch: i64, lease_until: i64) -> Result<Option<Vec<$crate::store::hooks::DueRow>>, StoreError> {
                // The endpoint furthest behind first, so that a busy tenant's flood does not starve the others.
                let endpoints = sqlx::query(
                    "SELECT id, tenant, incarnation, url, types, description, secrets, disabled, failing_since, cursor, created_at \
                     FROM webhook_endpoints WHERE disabled = 0 ORDER BY cursor, id",
                )
                .fetch_all(&self.pool)
                .await?;
                if endpoints.is_empty() {
                    return Ok(None);
                }
                let mut out = Vec::new();
                for r in &endpoints {
                    let left = batch - out.len() as i64;
                    if left <= 0 {
                        break;
                    }
                    let e = Self::endpoint_of(r)?;
                    let events = sqlx::query(
                        "SELECT seq, id AS event_id, type, day, at, told, payload, tenant FROM events \
                         WHERE tenant = $1 AND incarnation = $2 AND seq > $3 ORDER BY seq LIMIT $4",
                    )
                    .bind(&e.tenant)
                    .bind(&e.incarnation)
                    .bind(e.cursor)
                    .bind(left)
                    .fetch_all(&self.pool)
                    .await?;
                    let Some(last) = events.last() else { continue };
                    let last: i64 = last.try_get("seq")?;
                    let mut wanted = std::collections::BTreeMap::new();
                    for ev in &events {
                        let kind: String = ev.try_get("type")?;
                        if e.types.is_empty() || e.types.contains(&kind) {
                            wanted.insert(ev.try_get::<i64, _>("seq")?, (ev.try_get::<String, _>("event_id")?, kind, ev));
                        }
                    }
                    let mut tx = self.pool.begin().await?;
                    let rows: Vec<(i64, &str, &str)> = wanted
                        .iter()
                        .map(|(seq, (event_id, kind, _))| (*seq, event_id.as_str(), kind.as_str()))
                        .collect();
                    // Two nodes fanning out at once both try; the second's rows are ignored, and only what
                    // this node inserted comes back (claimed by it: made under its lease).
                    let made = $insert_deliveries(&mut tx, &e.id, now, lease_until, &rows).await?;
                    // Forward only.
                    sqlx::query("UPDATE webhook_endpoints SET cursor = $1 WHERE id = $2 AND cursor < $1")
                        .bind(last)
                        .bind(&e.id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    for (id, seq) in made {
                        let Some((event_id, kind, ev)) = wanted.get(&seq) else { continue };
                        out.push($crate::store::hooks::DueRow {
                            id,
                            endpoint: e.id.clone(),
                            url: e.url.clone(),
                            secrets: e.secrets.clone(),
                            event_id: event_id.clone(),
                            event_type: kind.clone(),
                            body: Self::body_of(ev)?,
                            attempts: 0,
                            first_attempt_at: None,
                            lease_until,
                        });
                    }
                }
                Ok(Some(out))
            }

            async fn claim_due(&self, now: i64, limit: i64, lease_ms: i64) -> Result<Vec<$crate::store::hooks::DueRow>, StoreError> {
                let claim = format!(
                    "UPDATE webhook_deliveries SET lease_until = $1 WHERE id IN (\
                     SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint \
                     WHERE d.state = 'pending' AND d.next_at <= $2 AND (d.lease_until IS NULL OR d.lease_until <= $2) \
                     AND e.disabled = 0 ORDER BY d.next_at LIMIT $3 {}) RETURNING id",
                    $claim_lock
                );
                let ids: Vec<String> = sqlx::query_scalar(&claim)
                    .bind(now.saturating_add(lease_ms))
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                let mut out = Vec::with_capacity(ids.len());
                if ids.is_empty() {
                    return Ok(out);
                }
                let mut q = sqlx::QueryBuilder::new(
                    "SELECT d.id, d.endpoint, d.event_id, d.type, d.attempts, d.first_attempt_at, e.url, e.secrets, \
                     v.seq, v.day, v.at, v.told, v.payload, v.tenant \
                     FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint \
                     JOIN events v ON v.seq = d.event_seq WHERE d.id IN (",
                );
                let mut list = q.separated(", ");
                for id in &ids {
                    list.push_bind(id.clone());
                }
                q.push(") ORDER BY d.next_at");
                let rows = q.build().fetch_all(&self.pool).await?;
                for r in &rows {
                    let secrets: String = r.try_get("secrets")?;
                    out.push($crate::store::hooks::DueRow {
                        id: r.try_get("id")?,
                        endpoint: r.try_get("endpoint")?,
                        url: r.try_get("url")?,
                        secrets: serde_json::from_str(&secrets).map_err($crate::store::hooks::json_err)?,
                        event_id: r.try_get("event_id")?,
                        event_type: r.try_get("type")?,
                        body: Self::body_of(r)?,
                        attempts: r.try_get("attempts")?,
                        first_attempt_at: r.try_get("first_attempt_at")?,
                        lease_until: now.saturating_add(lease_ms),
                    });
                }
                Ok(out)
            }

            async fn record(&self, outcomes: &[$crate::store::hooks::Outcome]) -> Result<(), StoreError> {
                if outcomes.is_empty() {
                    return Ok(());
                }
                let mut tx = self.pool.begin().await?;
                // The attempts that did not get through are kept as rows; the one that did is the delivery's
                // `last_*` (a delivery's history is both: nothing is lost, and a delivery that gets through at
                // once, the common case, costs one row, not two).
                let failed: Vec<_> = outcomes.iter().filter(|o| o.row.state != "delivered").collect();
                for chunk in failed.chunks(1000) {
                    let mut q = sqlx::QueryBuilder::new(
                        "INSERT INTO webhook_attempts (delivery, attempt, at, status, error, duration_ms) ",
                    );
                    q.push_values(chunk, |mut b, o| {
                        b.push_bind(o.delivery.clone())
                            .push_bind(o.attempt)
                            .push_bind(o.row.at)
                            .push_bind(o.row.status)
                            .push_bind(o.row.error.clone())
                            .push_bind(o.row.duration_ms);
                    });
                    q.push(" ON CONFLICT (delivery, attempt) DO NOTHING");
                    q.build().execute(&mut *tx).await?;
                }
                $set_states(&mut tx, outcomes).await?;
                // An endpoint that gave up is failing since then; one that delivered is not.
                let mut seen = std::collections::HashSet::new();
                for o in outcomes.iter().rev() {
                    if o.row.state == "pending" || !seen.insert(o.endpoint.as_str()) {
                        continue;
                    }
                    let (sql, at) = if o.row.state == "failed" {
                        ("UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $1) WHERE id = $2", Some(o.row.at))
                    } else {
                        ("UPDATE webhook_endpoints SET failing_since = $1 WHERE id = $2 AND failing_since IS NOT NULL", None)
                    };
                    sqlx::query(sql).bind(at).bind(&o.endpoint).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn deliveries(&self, endpoint: &str, before_seq: Option<i64>, limit: i64) -> Result<Vec<$crate::store::hooks::DeliveryRow>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, event_seq, event_id, type, state, attempts, next_at, last_at, last_status, last_error, last_duration_ms \
                     FROM webhook_deliveries WHERE endpoint = $1 AND ($2 IS NULL OR event_seq < $2) ORDER BY event_seq DESC LIMIT $3",
                )
                .bind(endpoint)
                .bind(before_seq)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(Self::delivery_of).collect()
            }

            async fn delivery(&self, endpoint: &str, id: &str) -> Result<Option<$crate::store::hooks::DeliveryRow>, StoreError> {
                let Some(row) = sqlx::query(
                    "SELECT id, event_seq, event_id, type, state, attempts, next_at, last_at, last_status, last_error, last_duration_ms \
                     FROM webhook_deliveries WHERE endpoint = $1 AND id = $2",
                )
                .bind(endpoint)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                else {
                    return Ok(None);
                };
                let mut d = Self::delivery_of(&row)?;
                let tries = sqlx::query(
                    "SELECT attempt, at, status, error, duration_ms FROM webhook_attempts WHERE delivery = $1 ORDER BY attempt",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
                let mut numbers = Vec::with_capacity(tries.len());
                for t in &tries {
                    numbers.push(t.try_get::<i64, _>("attempt")?);
                    d.history.push($crate::store::hooks::LastAttempt {
                        at: $crate::store::hooks::rfc3339_of(t.try_get("at")?),
                        status: t.try_get("status")?,
                        error: t.try_get("error")?,
                        duration_ms: t.try_get("duration_ms")?,
                    });
                }
                // The attempt that got through is kept as the delivery's last, not as a row of its own.
                if let Some(last) = &d.last
                    && !numbers.contains(&d.attempts)
                {
                    d.history.push(last.clone());
                }
                Ok(Some(d))
            }

            async fn replay(&self, endpoint: &str, delivery: &str, now: i64) -> Result<bool, StoreError> {
                let n = sqlx::query(
                    "UPDATE webhook_deliveries SET state = 'pending', next_at = $1, lease_until = NULL WHERE id = $2 AND endpoint = $3",
                )
                .bind(now)
                .bind(delivery)
                .bind(endpoint)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(n == 1)
            }

            async fn cursor(&self, name: &str) -> Result<i64, StoreError> {
                let n: Option<i64> = sqlx::query_scalar("SELECT seq FROM cursors WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(n.unwrap_or(0))
            }

            async fn set_cursor(&self, name: &str, seq: i64) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO cursors (name, seq) VALUES ($1, $2) \
                     ON CONFLICT (name) DO UPDATE SET seq = excluded.seq WHERE cursors.seq < excluded.seq",
                )
                .bind(name)
                .bind(seq)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn next_due(&self) -> Result<Option<i64>, StoreError> {
                let n: Option<i64> = sqlx::query_scalar("SELECT MIN(next_at) FROM webhook_deliveries WHERE state = 'pending'")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(n)
            }
        }

        impl $store {
            /// The body sent: the event as `GET …/events` shows it, from its row (`seq`, `type`, `day`, `at`,
            /// `told`, `payload`, `tenant`, `event_id`). `told` and `payload` are
            /// the JSON this store wrote, put in as they are rather than parsed and written again.
            fn body_of(r: &<<$store as HasDb>::Db as sqlx::Database>::Row) -> Result<String, StoreError> {
                let id: String = r.try_get("event_id")?;
                let text = |s: &str| serde_json::to_string(s).map_err($crate::store::hooks::json_err);
                let at: i64 = r.try_get("at")?;
                Ok(format!(
                    r#"{{"id":{},"type":{},"tenant":{},"seq":{},"day":{},"at":{},"told":{},"payload":{}}}"#,
                    text(&id)?,
                    text(&r.try_get::<String, _>("type")?)?,
                    text(&r.try_get::<String, _>("tenant")?)?,
                    r.try_get::<i64, _>("seq")?,
                    text(&r.try_get::<String, _>("day")?)?,
                    text(&$crate::store::hooks::rfc3339_of(at))?,
                    r.try_get::<String, _>("told")?,
                    r.try_get::<String, _>("payload")?,
                ))
            }

            /// A delivery as the log shows it (its history left empty).
            fn delivery_of(r: &<<$store as HasDb>::Db as sqlx::Database>::Row) -> Result<$crate::store::hooks::DeliveryRow, StoreError> {
                let state: String = r.try_get("state")?;
                let next_at: i64 = r.try_get("next_at")?;
                let last_at: Option<i64> = r.try_get("last_at")?;
                Ok($crate::store::hooks::DeliveryRow {
                    id: r.try_get("id")?,
                    event_seq: r.try_get("event_seq")?,
                    event_id: r.try_get("event_id")?,
                    event_type: r.try_get("type")?,
                    next_at: (state == "pending").then(|| $crate::store::hooks::rfc3339_of(next_at)),
                    state,
                    attempts: r.try_get("attempts")?,
                    last: match last_at {
                        Some(at) => Some($crate::store::hooks::LastAttempt {
                            at: $crate::store::hooks::rfc3339_of(at),
                            status: r.try_get("last_status")?,
                            error: r.try_get("last_error")?,
                            duration_ms: r.try_get::<Option<i64>, _>("last_duration_ms")?.unwrap_or(0),
                        }),
                        None => None,
                    },
                    history: Vec::new(),
                })
            }

            fn endpoint_of(r: &<<$store as HasDb>::Db as sqlx::Database>::Row) -> Result<$crate::store::hooks::EndpointRow, StoreError> {
                let types: String = r.try_get("types")?;
                let secrets: String = r.try_get("secrets")?;
                let disabled: i64 = r.try_get("disabled")?;
                Ok($crate::store::hooks::EndpointRow {
                    id: r.try_get("id")?,
                    tenant: r.try_get("tenant")?,
                    incarnation: r.try_get("incarnation")?,
                    url: r.try_get("url")?,
                    types: serde_json::from_str(&types).map_err($crate::store::hooks::json_err)?,
                    description: r.try_get("description")?,
                    secrets: serde_json::from_str(&secrets).map_err($crate::store::hooks::json_err)?,
                    disabled: disabled != 0,
                    failing_since: r.try_get("failing_since")?,
                    cursor: r.try_get("cursor")?,
                    created_at: r.try_get("created_at")?,
                })
            }
        }
    };
}

pub(crate) use hook_store;
