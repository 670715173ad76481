//! The two SQL stores. Their SQL is the same text (`$n` parameters work in both), so one macro writes both
//! implementations; what differs (connecting, locking, notifying) is passed in.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, Row, migrate::Migrator};

use super::items::{self, Rows};
use super::{
    AuditEntry, AuditFilter, Commit, Event, EventFilter, Expect, KeyIf, KeyRow, NewAudit, Notice, Revoked,
    Store, StoreError, Stored, TenantHead, TenantRow, WriteHealth, now_ms,
};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static PG_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// SQLite in WAL mode with `synchronous = FULL`: a commit is on disk before it is acknowledged.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    health: std::sync::Arc<WriteHealth>,
}

impl SqliteStore {
    /// `url` may end in `?max_page_count=N` (SQLite's pragma, per connection): a cap on the file's size, for an
    /// operator who wants the database bounded, and for tests that need a disk that fills up.
    pub async fn open(url: &str) -> Result<SqliteStore, StoreError> {
        let (url, max_pages) = split_max_pages(url)?;
        let mut options = SqliteConnectOptions::from_str(url)?;
        if let Some(n) = max_pages {
            options = options.pragma("max_page_count", n.to_string());
        }
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        SQLITE_MIGRATIONS.run(&pool).await?;
        let store = SqliteStore {
            pool,
            health: std::sync::Arc::default(),
        };
        store.upgrade().await?;
        Ok(store)
    }
}

/// Takes `max_page_count=N` out of a SQLite URL's query (sqlx does not know it).
fn split_max_pages(url: &str) -> Result<(&str, Option<u64>), StoreError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url, None));
    };
    let mut pages = None;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("max_page_count", n)) => {
                pages = Some(n.parse::<u64>().ok().filter(|&n| n > 0).ok_or_else(|| {
                    StoreError::Other(format!(
                        "max_page_count must be a positive whole number, not `{n}`"
                    ))
                })?);
            }
            _ => {
                return Err(StoreError::Other(format!(
                    "unknown SQLite URL option `{pair}` (known: max_page_count)"
                )));
            }
        }
    }
    Ok((base, pages))
}

/// PostgreSQL. Each commit notifies the other nodes on a channel named after the schema (tests give each
/// server a schema of its own in one database).
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    channel: String,
    health: std::sync::Arc<WriteHealth>,
}

impl PgStore {
    pub async fn open(url: &str) -> Result<PgStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        PG_MIGRATIONS.run(&pool).await?;
        let schema: String = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(&pool)
            .await?;
        let channel = format!(
            "entitle_{}",
            schema.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        );
        let store = PgStore {
            pool,
            channel,
            health: std::sync::Arc::default(),
        };
        store.upgrade().await?;
        Ok(store)
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

fn json_text(v: &Option<serde_json::Value>) -> Option<String> {
    v.as_ref().map(serde_json::Value::to_string)
}

use super::hooks::rfc3339_of as rfc3339;

/// The incarnation is the one given (a write knows its tenant's), else the tenant's present one, else '' (a key
/// made for no tenant, an entry about a tenant that is gone).
const INSERT_AUDIT: &str = "INSERT INTO audit_log (tenant, at, actor, action, kind, item, before, after, incarnation) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
             COALESCE(CAST($9 AS TEXT), (SELECT t.incarnation FROM tenants t WHERE t.id = $1), ''))";

const SELECT_AUDIT: &str = "SELECT seq, tenant, at, actor, action, kind, item, before, after, incarnation \
     FROM audit_log \
     WHERE tenant = $1 \
       AND (CAST($10 AS TEXT) IS NULL OR incarnation = $10) \
       AND (CAST($11 AS TEXT) IS NULL OR kind <> $11) \
       AND (CAST($2 AS TEXT) IS NULL OR kind = $2) \
       AND (CAST($3 AS TEXT) IS NULL OR item = $3) \
       AND (CAST($4 AS TEXT) IS NULL OR actor = $4) \
       AND (CAST($5 AS TEXT) IS NULL OR action = $5) \
       AND (CAST($6 AS BIGINT) IS NULL OR at >= $6) \
       AND (CAST($7 AS BIGINT) IS NULL OR at < $7) \
       AND (CAST($8 AS BIGINT) IS NULL OR seq > $8) \
     ORDER BY seq LIMIT $9";

macro_rules! sql_store {
    ($store:ty, $name:literal, lock_keys: $lock:expr, notify: $notify:expr, snapshot_read: $read:expr) => {
        impl $store {
            /// Writes a tenant's changed rows in the transaction.
            async fn rows_in(
                tx: &mut sqlx::Transaction<'_, <$store as HasDb>::Db>,
                tenant: &str,
                rows: &Rows,
            ) -> Result<(), StoreError> {
                for l in &rows.lists {
                    if l.clear {
                        sqlx::query("DELETE FROM tenant_items WHERE tenant = $1 AND kind = $2")
                            .bind(tenant)
                            .bind(l.kind)
                            .execute(&mut **tx)
                            .await?;
                    }
                    for chunk in l.delete.chunks(ROWS_PER_STATEMENT) {
                        let mut q = sqlx::QueryBuilder::<<$store as HasDb>::Db>::new("DELETE FROM tenant_items WHERE tenant = ");
                        q.push_bind(tenant).push(" AND kind = ").push_bind(l.kind).push(" AND ord IN (");
                        let mut list = q.separated(", ");
                        for o in chunk {
                            list.push_bind(*o);
                        }
                        list.push_unseparated(")");
                        q.build().execute(&mut **tx).await?;
                    }
                    for chunk in l.put.chunks(ROWS_PER_STATEMENT) {
                        let mut q = sqlx::QueryBuilder::<<$store as HasDb>::Db>::new("INSERT INTO tenant_items (tenant, kind, ord, body) ");
                        q.push_values(chunk, |mut b, (ord, body)| {
                            b.push_bind(tenant).push_bind(l.kind).push_bind(*ord).push_bind(body.as_str());
                        });
                        q.push(" ON CONFLICT (tenant, kind, ord) DO UPDATE SET body = excluded.body");
                        q.build().execute(&mut **tx).await?;
                    }
                }
                Ok(())
            }

            /// Splits every tenant still stored as one document into its head and rows, one tenant per
            /// transaction (the upgrade to the per-item layout). A tenant whose document does not split is left
            /// as it is (read whole, as before) and logged.
            async fn upgrade(&self) -> Result<(), StoreError> {
                let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM tenants WHERE layout = 'document' ORDER BY id")
                    .fetch_all(&self.pool)
                    .await?;
                for id in ids {
                    let mut lease = self.lease().await?;
                    let mut tx = lease.conn()?.begin().await?;
                    let doc: Option<String> = sqlx::query_scalar("SELECT scenario FROM tenants WHERE id = $1 AND layout = 'document'")
                        .bind(&id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let split = doc.as_deref().map(items::split);
                    let Some(Ok((head, lists))) = split else {
                        if let Some(Err(e)) = split {
                            tracing::error!(tenant = %id, error = %e, "a stored tenant's document does not split into rows; left as it is");
                        }
                        tx.rollback().await?;
                        lease.keep();
                        continue;
                    };
                    // The row's lock first: another node upgrading at the same moment waits here, then finds it
                    // done and leaves it.
                    let mine = sqlx::query("UPDATE tenants SET scenario = $1, layout = 'items' WHERE id = $2 AND layout = 'document'")
                        .bind(&head)
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                        == 1;
                    if !mine {
                        tx.rollback().await?;
                        lease.keep();
                        continue;
                    }
                    sqlx::query("DELETE FROM tenant_items WHERE tenant = $1").bind(&id).execute(&mut *tx).await?;
                    Self::rows_in(&mut tx, &id, &Rows { head: None, lists }).await?;
                    tx.commit().await?;
                    lease.keep();
                    tracing::info!(tenant = %id, "stored tenant upgraded to the per-item layout");
                }
                Ok(())
            }

            /// Stored tenants (one, or all), each read whole from one snapshot of the database.
            async fn read_tenants(&self, only: Option<&str>) -> Result<Vec<TenantRow>, StoreError> {
                let mut tx = self.pool.begin().await?;
                let read: Option<&str> = $read;
                if let Some(read) = read {
                    sqlx::query(read).execute(&mut *tx).await?;
                }
                // One statement each for one tenant and for all: `$1 IS NULL OR id = $1` would keep SQLite from
                // using the key, and read every tenant's rows to load one.
                const HEADS: &str = "SELECT id, version, catalog, scenario, incarnation, layout FROM tenants";
                const ROWS: &str = "SELECT tenant, kind, ord, body FROM tenant_items";
                let heads = match only {
                    Some(id) => sqlx::query(&format!("{HEADS} WHERE id = $1")).bind(id).fetch_all(&mut *tx).await?,
                    None => sqlx::query(&format!("{HEADS} ORDER BY id")).fetch_all(&mut *tx).await?,
                };
                let rows = match (heads.is_empty(), only) {
                    (true, _) => Vec::new(),
                    (false, Some(id)) => sqlx::query(&format!("{ROWS} WHERE tenant = $1 ORDER BY kind, ord"))
                        .bind(id)
                        .fetch_all(&mut *tx)
                        .await?,
                    (false, None) => sqlx::query(&format!("{ROWS} ORDER BY tenant, kind, ord")).fetch_all(&mut *tx).await?,
                };
                tx.commit().await?;
                let mut items: Vec<(String, String, i64, String)> = Vec::with_capacity(rows.len());
                for r in &rows {
                    items.push((r.try_get("tenant")?, r.try_get("kind")?, r.try_get("ord")?, r.try_get("body")?));
                }
                let mut at = 0;
                let mut out = Vec::with_capacity(heads.len());
                for h in &heads {
                    let id: String = h.try_get("id")?;
                    let layout: String = h.try_get("layout")?;
                    let head: String = h.try_get("scenario")?;
                    // Rows of tenants without a head (none are written) are passed over.
                    while items.get(at).is_some_and(|i| i.0 < id) {
                        at += 1;
                    }
                    let rest = items.get(at..).unwrap_or_default();
                    let mine = rest.get(..rest.iter().take_while(|i| i.0 == id).count()).unwrap_or_default();
                    let end = at + mine.len();
                    at = end;
                    let (scenario, ords) = if layout == "items" {
                        match items::assemble(&head, mine.iter().map(|i| (i.1.as_str(), i.2, i.3.as_str()))) {
                            Ok((doc, ords)) => (doc, Some(ords)),
                            // As with a document that no longer parses: this tenant is left out, the others load.
                            Err(e) => {
                                tracing::error!(tenant = %id, error = %e, "stored tenant's rows do not fit together; left out");
                                continue;
                            }
                        }
                    } else {
                        (head, None)
                    };
                    out.push(TenantRow {
                        version: h.try_get("version")?,
                        catalog: h.try_get("catalog")?,
                        incarnation: h.try_get("incarnation")?,
                        scenario,
                        ords,
                        id,
                    });
                }
                Ok(out)
            }

            /// A connection for one write transaction (see [`Lease`]).
            async fn lease(&self) -> Result<Lease<<$store as HasDb>::Db>, StoreError> {
                Ok(Lease(Some(self.pool.acquire().await?)))
            }

            /// Commits, announcing the change to the other nodes (PostgreSQL: `NOTIFY` inside the transaction, so
            /// only committed changes are announced).
            async fn commit_announcing(
                &self,
                mut tx: sqlx::Transaction<'_, <$store as HasDb>::Db>,
                payload: String,
            ) -> Result<(), StoreError> {
                let notify: Option<(&str, String)> = $notify(self, payload);
                if let Some((channel, payload)) = notify {
                    sqlx::query("SELECT pg_notify($1, $2)").bind(channel).bind(payload).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn audit_in(
                tx: &mut sqlx::Transaction<'_, <$store as HasDb>::Db>,
                a: &NewAudit,
                incarnation: Option<&str>,
                at: i64,
            ) -> Result<(), StoreError> {
                sqlx::query(INSERT_AUDIT)
                    .bind(&a.tenant)
                    .bind(at)
                    .bind(&a.actor)
                    .bind(&a.action)
                    .bind(&a.kind)
                    .bind(&a.item)
                    .bind(json_text(&a.before))
                    .bind(json_text(&a.after))
                    .bind(incarnation)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            /// Revokes `ids` in the transaction, each with its audit entry.
            async fn revoke_in(
                tx: &mut sqlx::Transaction<'_, <$store as HasDb>::Db>,
                tenant: &str,
                incarnation: Option<&str>,
                actor: &str,
                ids: &[String],
                now: i64,
            ) -> Result<(), StoreError> {
                for id in ids {
                    sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                        .bind(now)
                        .bind(id)
                        .execute(&mut **tx)
                        .await?;
                    let entry = NewAudit {
                        tenant: tenant.to_owned(),
                        actor: actor.to_owned(),
                        action: "revoke".to_owned(),
                        kind: "key".to_owned(),
                        item: Some(id.clone()),
                        before: None,
                        after: None,
                    };
                    Self::audit_in(tx, &entry, incarnation, now).await?;
                }
                Ok(())
            }

            /// `INSERT INTO events …` with `chunk`'s rows (at most 1,000: 8 binds each, under both databases'
            /// bind limits) pushed onto `q`.
            fn push_events<'q>(
                q: &mut sqlx::QueryBuilder<'q, <$store as HasDb>::Db>,
                tenant: &str,
                inc: &str,
                now: i64,
                chunk: &[super::NewEvent],
            ) -> Result<(), StoreError> {
                q.push("INSERT INTO events (id, tenant, incarnation, type, day, at, told, payload) ");
                let mut failed = None;
                q.push_values(chunk, |mut b, e| {
                    let told = serde_json::to_string(&e.told).unwrap_or_else(|err| {
                        failed = Some(err.to_string());
                        String::new()
                    });
                    b.push_bind(e.id.clone())
                        .push_bind(tenant.to_owned())
                        .push_bind(inc.to_owned())
                        .push_bind(e.kind.clone())
                        .push_bind(e.day.to_string())
                        .push_bind(now)
                        .push_bind(told)
                        .push_bind(e.payload.to_string());
                });
                failed.map_or(Ok(()), |err| Err(StoreError::Other(err)))
            }

            /// The events in the transaction, one statement per 1,000.
            async fn events_in(
                tx: &mut sqlx::Transaction<'_, <$store as HasDb>::Db>,
                tenant: &str,
                inc: &str,
                now: i64,
                events: &[super::NewEvent],
            ) -> Result<(), StoreError> {
                for chunk in events.chunks(1000) {
                    let mut q = sqlx::QueryBuilder::new("");
                    Self::push_events(&mut q, tenant, inc, now, chunk)?;
                    q.build().execute(&mut **tx).await?;
                }
                Ok(())
            }

            /// `INSERT INTO audit_log …` with `entries` (9 binds each) pushed onto `q`, all of this life.
            fn push_audit<'q>(
                q: &mut sqlx::QueryBuilder<'q, <$store as HasDb>::Db>,
                entries: &[NewAudit],
                inc: &str,
                now: i64,
            ) {
                q.push("INSERT INTO audit_log (tenant, at, actor, action, kind, item, before, after, incarnation) ");
                q.push_values(entries, |mut b, a| {
                    b.push_bind(a.tenant.clone())
                        .push_bind(now)
                        .push_bind(a.actor.clone())
                        .push_bind(a.action.clone())
                        .push_bind(a.kind.clone())
                        .push_bind(a.item.clone())
                        .push_bind(json_text(&a.before))
                        .push_bind(json_text(&a.after))
                        .push_bind(inc.to_owned());
                });
            }

            /// A change's audit entries and events, and the announcement to the other nodes (PostgreSQL's
            /// NOTIFY, delivered at the commit), so that the outbox costs a write its rows, not a round trip of
            /// its own. For a usual change (up to 1,000 entries and events together): on PostgreSQL the events
            /// and the NOTIFY are one statement (a data-modifying `WITH`, run to its end whether or not it is
            /// read); on SQLite the entries and the events are one query of two statements. Larger changes go
            /// 1,000 rows a statement.
            #[allow(clippy::too_many_arguments, reason = "the parts of one commit, each its own")]
            async fn tail_in(
                &self,
                tx: &mut sqlx::Transaction<'_, <$store as HasDb>::Db>,
                tenant: &str,
                inc: &str,
                now: i64,
                audit: &[NewAudit],
                events: &[super::NewEvent],
                payload: String,
            ) -> Result<(), StoreError> {
                let notify: Option<(&str, String)> = $notify(self, payload);
                if audit.len() + events.len() > 1000 {
                    for a in audit {
                        Self::audit_in(tx, a, Some(inc), now).await?;
                    }
                    Self::events_in(tx, tenant, inc, now, events).await?;
                    if let Some((channel, payload)) = notify {
                        sqlx::query("SELECT pg_notify($1, $2)").bind(channel).bind(payload).execute(&mut **tx).await?;
                    }
                    return Ok(());
                }
                let mut q = sqlx::QueryBuilder::new("");
                match notify {
                    // PostgreSQL: the entries, then WITH ev AS (INSERT …) SELECT pg_notify(…). (The entries in
                    // the same statement, a second WITH, measured no better: BENCHMARKS.md §18.)
                    Some((channel, payload)) => {
                        for a in audit {
                            Self::audit_in(tx, a, Some(inc), now).await?;
                        }
                        if !events.is_empty() {
                            q.push("WITH ev AS (");
                            Self::push_events(&mut q, tenant, inc, now, events)?;
                            q.push(" RETURNING 1) ");
                        }
                        q.push("SELECT pg_notify(").push_bind(channel).push(", ").push_bind(payload).push(")");
                    }
                    // SQLite: INSERT …; INSERT … (its `?` parameters are bound in order across the statements).
                    None => {
                        if !audit.is_empty() {
                            Self::push_audit(&mut q, audit, inc, now);
                        }
                        if !events.is_empty() {
                            if !audit.is_empty() {
                                q.push("; ");
                            }
                            Self::push_events(&mut q, tenant, inc, now, events)?;
                        }
                    }
                }
                if !q.sql().trim().is_empty() {
                    q.build().execute(&mut **tx).await?;
                }
                Ok(())
            }

            async fn commit_inner(&self, c: &Commit) -> Result<(), StoreError> {
                let now = now_ms();
                let mut lease = self.lease().await?;
                let mut tx = lease.conn()?.begin().await?;
                let inc = c.incarnation.as_str();
                let done = match (&c.expect, &c.next) {
                    (Expect::Absent, Some(next)) => sqlx::query(
                        "INSERT INTO tenants (id, version, catalog, scenario, created_at, updated_at, incarnation, layout) \
                         VALUES ($1, $2, $3, $4, $5, $5, $6, 'items')",
                    )
                    .bind(&next.id)
                    .bind(next.version)
                    .bind(&next.catalog)
                    .bind(next.rows.head.as_deref().unwrap_or("{}"))
                    .bind(now)
                    .bind(inc)
                    .execute(&mut *tx)
                    .await
                    .map(|r| r.rows_affected() == 1)
                    .or_else(|e| if is_unique_violation(&e) { Ok(false) } else { Err(e) })?,
                    (Expect::Version(v), Some(next)) => sqlx::query(
                        "UPDATE tenants SET version = $1, catalog = $2, scenario = COALESCE($3, scenario), \
                         updated_at = $4, layout = 'items' \
                         WHERE id = $5 AND version = $6 AND incarnation = $7",
                    )
                    .bind(next.version)
                    .bind(&next.catalog)
                    .bind(next.rows.head.as_deref())
                    .bind(now)
                    .bind(&c.tenant)
                    .bind(*v)
                    .bind(inc)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1,
                    (Expect::Version(v), None) => sqlx::query(
                        "DELETE FROM tenants WHERE id = $1 AND version = $2 AND incarnation = $3",
                    )
                    .bind(&c.tenant)
                    .bind(*v)
                    .bind(inc)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1,
                    (Expect::Absent, None) => true,
                };
                if !done {
                    tx.rollback().await?;
                    lease.keep();
                    return Err(StoreError::Conflict);
                }
                if matches!(c.expect, Expect::Absent) || c.next.is_none() {
                    // A new life of the id starts with no rows, and a deleted tenant leaves none.
                    sqlx::query("DELETE FROM tenant_items WHERE tenant = $1").bind(&c.tenant).execute(&mut *tx).await?;
                }
                if let Some(next) = &c.next {
                    Self::rows_in(&mut tx, &c.tenant, &next.rows).await?;
                }
                // Keys that lose what they stand for go in the same transaction: a deleted tenant's keys, a
                // deleted user's maker keys, a deleted environment's environment-admin keys. None of them may
                // open anything created later under the same id.
                let rows = sqlx::query(
                    "SELECT id, role, environments, user_id FROM api_keys \
                     WHERE tenant = $1 AND revoked_at IS NULL ORDER BY created_at, id",
                )
                .bind(&c.tenant)
                .fetch_all(&mut *tx)
                .await?;
                let mut revoked = Vec::new();
                for r in &rows {
                    let id: String = r.try_get("id")?;
                    let role: String = r.try_get("role")?;
                    let envs: String = r.try_get("environments")?;
                    let user: Option<String> = r.try_get("user_id")?;
                    let envs: Vec<String> = serde_json::from_str(&envs).unwrap_or_default();
                    let dies = c.next.is_none()
                        || user.as_ref().is_some_and(|u| c.gone_users.contains(u))
                        || (role == "environment-admin"
                            && envs.iter().any(|e| c.gone_environments.contains(e)));
                    if dies {
                        revoked.push(id);
                    }
                }
                // Other nodes must drop revoked keys now, not when they next miss a key.
                if !revoked.is_empty()
                    && let Some((channel, payload)) = $notify(self, "keys".to_owned())
                {
                    sqlx::query("SELECT pg_notify($1, $2)").bind(channel).bind(payload).execute(&mut *tx).await?;
                }
                if let Some((scope, key, s)) = &c.idempotency {
                    sqlx::query(
                        "INSERT INTO idempotency (scope, key, fingerprint, status, content_type, etag, body, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(scope)
                    .bind(key)
                    .bind(&s.fingerprint)
                    .bind(i64::from(s.status))
                    .bind(&s.content_type)
                    .bind(&s.etag)
                    .bind(&s.body)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| if is_unique_violation(&e) { StoreError::IdempotencyTaken } else { e.into() })?;
                }
                // The change's audit entries and events, with the announcement (the idempotency row's clash,
                // above, rolls them back); then the revocations' entries, after the change's own.
                self.tail_in(&mut tx, &c.tenant, inc, now, &c.audit, &c.events, format!("tenant:{}", c.tenant)).await?;
                let actor = c.audit.first().map_or("system", |a| a.actor.as_str());
                Self::revoke_in(&mut tx, &c.tenant, Some(inc), actor, &revoked, now).await?;
                tx.commit().await?;
                lease.keep();
                Ok(())
            }

            async fn insert_key_inner(&self, k: &KeyRow, audit: &NewAudit, only_if: KeyIf) -> Result<bool, StoreError> {
                let mut lease = self.lease().await?;
                let mut tx = lease.conn()?.begin().await?;
                let lock: Option<&str> = $lock;
                if let Some(lock) = lock {
                    sqlx::query(lock).execute(&mut *tx).await?;
                }
                let skip = match only_if {
                    KeyIf::Always => false,
                    KeyIf::NoKeys => {
                        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_keys").fetch_one(&mut *tx).await?;
                        n > 0
                    }
                    KeyIf::NewSecret => {
                        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_keys WHERE hash = $1")
                            .bind(k.hash.as_slice())
                            .fetch_one(&mut *tx)
                            .await?;
                        n > 0
                    }
                };
                if skip {
                    tx.rollback().await?;
                    lease.keep();
                    return Ok(false);
                }
                let envs = serde_json::to_string(&k.environments).map_err(|e| StoreError::Other(e.to_string()))?;
                sqlx::query(
                    "INSERT INTO api_keys (id, hash, tenant, role, environments, user_id, name, created_at, incarnation) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
                             COALESCE((SELECT t.incarnation FROM tenants t WHERE t.id = $3), ''))",
                )
                .bind(&k.id)
                .bind(k.hash.as_slice())
                .bind(&k.tenant)
                .bind(&k.role)
                .bind(envs)
                .bind(&k.user)
                .bind(&k.name)
                .bind(k.created_ms)
                .execute(&mut *tx)
                .await?;
                Self::audit_in(&mut tx, audit, None, now_ms()).await?;
                self.commit_announcing(tx, "keys".to_owned()).await?;
                lease.keep();
                Ok(true)
            }

            async fn revoke_key_inner(&self, id: &str, audit: &NewAudit) -> Result<Revoked, StoreError> {
                let mut lease = self.lease().await?;
                let mut tx = lease.conn()?.begin().await?;
                // Two revocations at once must not both see a second operator key: count under the lock.
                let lock: Option<&str> = $lock;
                if let Some(lock) = lock {
                    sqlx::query(lock).execute(&mut *tx).await?;
                }
                let n = sqlx::query(
                    "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL \
                     AND (role <> 'operator' OR \
                          (SELECT COUNT(*) FROM api_keys o WHERE o.role = 'operator' AND o.revoked_at IS NULL) > 1)",
                )
                .bind(now_ms())
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if n == 0 {
                    let live: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_keys WHERE id = $1 AND revoked_at IS NULL")
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?;
                    tx.rollback().await?;
                    lease.keep();
                    return Ok(if live > 0 { Revoked::LastOperator } else { Revoked::NotFound });
                }
                Self::audit_in(&mut tx, audit, None, now_ms()).await?;
                self.commit_announcing(tx, "keys".to_owned()).await?;
                lease.keep();
                Ok(Revoked::Done)
            }

            async fn append_audit_inner(&self, entries: &[NewAudit]) -> Result<(), StoreError> {
                let mut lease = self.lease().await?;
                let mut tx = lease.conn()?.begin().await?;
                let now = now_ms();
                for a in entries {
                    Self::audit_in(&mut tx, a, None, now).await?;
                }
                tx.commit().await?;
                lease.keep();
                Ok(())
            }

            async fn meter_forget_inner(&self, budget: &str) -> Result<(), StoreError> {
                let mut lease = self.lease().await?;
                let mut tx = lease.conn()?.begin().await?;
                sqlx::query("DELETE FROM meter_counts WHERE budget = $1").bind(budget).execute(&mut *tx).await?;
                tx.commit().await?;
                lease.keep();
                Ok(())
            }

            async fn meter_save_inner(&self, rows: &[(String, String)]) -> Result<(), StoreError> {
                let now = now_ms();
                let mut lease = self.lease().await?;
                let mut tx = lease.conn()?.begin().await?;
                for (budget, data) in rows {
                    sqlx::query(
                        "INSERT INTO meter_counts (budget, data, saved_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (budget) DO UPDATE SET data = excluded.data, saved_at = excluded.saved_at",
                    )
                    .bind(budget)
                    .bind(data)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                lease.keep();
                Ok(())
            }
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                $name
            }

            /// Reads answer; and after a failed write, a write answers again (a probe row of a few pages, so
            /// a full disk or a capped file shows).
            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                let bytes = self.health.failed_bytes();
                if bytes > 0 {
                    // As big as the write that failed (a few pages at least, at most a bound), then gone again.
                    let probe = [(PROBE.to_owned(), "0".repeat(bytes.clamp(PROBE_MIN, PROBE_MAX)))];
                    let mut done = self.meter_save_inner(&probe).await;
                    if done.is_ok() {
                        done = self.meter_forget_inner(PROBE).await;
                    }
                    self.health.note(&done, bytes);
                    done?;
                }
                Ok(())
            }

            fn writable(&self) -> bool {
                self.health.writable()
            }

            async fn tenants(&self) -> Result<Vec<TenantRow>, StoreError> {
                self.read_tenants(None).await
            }

            async fn tenant(&self, id: &str) -> Result<Option<TenantRow>, StoreError> {
                Ok(self.read_tenants(Some(id)).await?.pop())
            }

            async fn tenant_index(&self, only: Option<&str>) -> Result<Vec<TenantHead>, StoreError> {
                const HEADS: &str = "SELECT id, version, incarnation FROM tenants";
                let rows = match only {
                    Some(id) => sqlx::query(&format!("{HEADS} WHERE id = $1")).bind(id).fetch_all(&self.pool).await?,
                    None => sqlx::query(&format!("{HEADS} ORDER BY id")).fetch_all(&self.pool).await?,
                };
                rows.iter()
                    .map(|r| {
                        Ok(TenantHead {
                            id: r.try_get("id")?,
                            version: r.try_get("version")?,
                            incarnation: r.try_get("incarnation")?,
                        })
                    })
                    .collect()
            }

            async fn commit(&self, c: Commit) -> Result<(), StoreError> {
                let done = self.commit_inner(&c).await;
                let bytes = c.next.as_ref().map_or(0, |n| n.rows.approx_bytes())
                    + c.audit.iter().map(NewAudit::approx_bytes).sum::<usize>();
                self.health.note(&done, bytes);
                done
            }

            async fn idempotent(&self, scope: &str, key: &str) -> Result<Option<Stored>, StoreError> {
                let row = sqlx::query(
                    "SELECT fingerprint, status, content_type, etag, body FROM idempotency WHERE scope = $1 AND key = $2",
                )
                .bind(scope)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let status: i64 = row.try_get("status")?;
                Ok(Some(Stored {
                    fingerprint: row.try_get("fingerprint")?,
                    status: u16::try_from(status).map_err(|e| StoreError::Other(e.to_string()))?,
                    content_type: row.try_get("content_type")?,
                    etag: row.try_get("etag")?,
                    body: row.try_get("body")?,
                }))
            }

            async fn audit_log(&self, tenant: &str, f: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
                let rows = sqlx::query(SELECT_AUDIT)
                    .bind(tenant)
                    .bind(&f.kind)
                    .bind(&f.item)
                    .bind(&f.actor)
                    .bind(&f.action)
                    .bind(f.since_ms)
                    .bind(f.until_ms)
                    .bind(f.after_seq)
                    .bind(f.limit)
                    .bind(&f.incarnation)
                    .bind(&f.exclude_kind)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| {
                        let at_ms: i64 = r.try_get("at")?;
                        let before: Option<String> = r.try_get("before")?;
                        let after: Option<String> = r.try_get("after")?;
                        Ok(AuditEntry {
                            seq: r.try_get("seq")?,
                            tenant: r.try_get("tenant")?,
                            incarnation: r.try_get("incarnation")?,
                            at_ms,
                            at: rfc3339(at_ms),
                            actor: r.try_get("actor")?,
                            action: r.try_get("action")?,
                            kind: r.try_get("kind")?,
                            item: r.try_get("item")?,
                            before: before.and_then(|t| serde_json::from_str(&t).ok()),
                            after: after.and_then(|t| serde_json::from_str(&t).ok()),
                        })
                    })
                    .collect()
            }

            async fn keys(&self) -> Result<Vec<KeyRow>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, hash, tenant, role, environments, user_id, name, created_at, revoked_at, incarnation \
                     FROM api_keys ORDER BY created_at, id",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        let hash: Vec<u8> = r.try_get("hash")?;
                        let envs: String = r.try_get("environments")?;
                        let revoked: Option<i64> = r.try_get("revoked_at")?;
                        Ok(KeyRow {
                            id: r.try_get("id")?,
                            hash: hash.try_into().map_err(|_| StoreError::Other("a stored key hash is not 32 bytes".into()))?,
                            tenant: r.try_get("tenant")?,
                            role: r.try_get("role")?,
                            environments: serde_json::from_str(&envs).map_err(|e| StoreError::Other(e.to_string()))?,
                            user: r.try_get("user_id")?,
                            name: r.try_get("name")?,
                            created_ms: r.try_get("created_at")?,
                            revoked: revoked.is_some(),
                            incarnation: r.try_get("incarnation")?,
                        })
                    })
                    .collect()
            }

            async fn insert_key(&self, k: &KeyRow, audit: NewAudit, only_if: KeyIf) -> Result<bool, StoreError> {
                let done = match self.insert_key_inner(k, &audit, only_if).await {
                    // The same secret stored by another node starting at the same moment.
                    Err(StoreError::Db(e)) if only_if == KeyIf::NewSecret && is_unique_violation(&e) => Ok(false),
                    done => done,
                };
                self.health.note(&done, audit.approx_bytes());
                done
            }

            async fn revoke_key(&self, id: &str, audit: NewAudit) -> Result<Revoked, StoreError> {
                let done = self.revoke_key_inner(id, &audit).await;
                self.health.note(&done, audit.approx_bytes());
                done
            }

            async fn append_audit(&self, entries: &[NewAudit]) -> Result<(), StoreError> {
                let done = self.append_audit_inner(entries).await;
                self.health.note(&done, entries.iter().map(NewAudit::approx_bytes).sum());
                done
            }

            async fn meter_load(&self) -> Result<Vec<(String, String)>, StoreError> {
                let rows = sqlx::query("SELECT budget, data FROM meter_counts WHERE budget <> $1 ORDER BY budget")
                    .bind(PROBE)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|r| Ok((r.try_get("budget")?, r.try_get("data")?))).collect()
            }

            async fn meter_save(&self, rows: &[(String, String)]) -> Result<(), StoreError> {
                let done = self.meter_save_inner(rows).await;
                self.health.note(&done, rows.iter().map(|(k, d)| k.len() + d.len()).sum());
                done
            }

            async fn listen(&self) -> Result<Option<tokio::sync::mpsc::Receiver<Notice>>, StoreError> {
                self.listener().await
            }

            async fn append_events(&self, tenant: &str, incarnation: &str, events: &[super::NewEvent]) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await?;
                // The tenant's row lock (PostgreSQL), as a change takes it: events of one tenant are numbered in
                // the order they commit.
                let there = sqlx::query("UPDATE tenants SET updated_at = updated_at WHERE id = $1 AND incarnation = $2")
                    .bind(tenant)
                    .bind(incarnation)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
                if there {
                    Self::events_in(&mut tx, tenant, incarnation, now_ms(), events).await?;
                }
                tx.commit().await?;
                Ok(there)
            }

            async fn events(&self, tenant: &str, incarnation: &str, f: &EventFilter) -> Result<Vec<Event>, StoreError> {
                let types = (!f.types.is_empty())
                    .then(|| serde_json::to_string(&f.types))
                    .transpose()
                    .map_err(|e| StoreError::Other(e.to_string()))?;
                // The told filter narrows in SQL by the quoted id, then exactly here.
                let told_like = f.told.as_ref().map(|u| format!("%{}%", serde_json::Value::String(u.clone())));
                let mut out = Vec::new();
                let mut after = f.after_seq.unwrap_or(0);
                while (out.len() as i64) < f.limit {
                    let rows = sqlx::query(
                        "SELECT seq, id, type, day, at, told, payload FROM events \
                         WHERE tenant = $1 AND incarnation = $2 AND seq > $3 \
                         AND ($4 IS NULL OR $4 LIKE '%\"' || type || '\"%') \
                         AND ($5 IS NULL OR told LIKE $5) \
                         ORDER BY seq LIMIT $6",
                    )
                    .bind(tenant)
                    .bind(incarnation)
                    .bind(after)
                    .bind(&types)
                    .bind(&told_like)
                    .bind(f.limit)
                    .fetch_all(&self.pool)
                    .await?;
                    let done = (rows.len() as i64) < f.limit;
                    for r in &rows {
                        let seq: i64 = r.try_get("seq")?;
                        after = seq;
                        let at_ms: i64 = r.try_get("at")?;
                        let told: String = r.try_get("told")?;
                        let told: Vec<String> = serde_json::from_str(&told).map_err(|e| StoreError::Other(e.to_string()))?;
                        let kind: String = r.try_get("type")?;
                        if f.told.as_ref().is_some_and(|u| !told.contains(u)) || (!f.types.is_empty() && !f.types.contains(&kind)) {
                            continue;
                        }
                        let payload: String = r.try_get("payload")?;
                        out.push(Event {
                            seq,
                            id: r.try_get("id")?,
                            kind,
                            day: r.try_get("day")?,
                            at: rfc3339(at_ms),
                            told,
                            payload: serde_json::from_str(&payload).map_err(|e| StoreError::Other(e.to_string()))?,
                        });
                        if out.len() as i64 >= f.limit {
                            break;
                        }
                    }
                    if done {
                        break;
                    }
                }
                Ok(out)
            }

            async fn take_lease(&self, name: &str, holder: &str, now_ms: i64, until_ms: i64) -> Result<bool, StoreError> {
                let taken = sqlx::query(
                    "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
                     WHERE leases.holder = excluded.holder OR leases.until <= $4",
                )
                .bind(name)
                .bind(holder)
                .bind(until_ms)
                .bind(now_ms)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(taken == 1)
            }

            async fn drop_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                    .bind(name)
                    .bind(holder)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }
    };
}

/// Rows written by one statement (four parameters each: well under both databases' limits).
const ROWS_PER_STATEMENT: usize = 500;

/// The readiness probe's row (in the meter's table, which has room for a key and a text).
const PROBE: &str = "readiness-probe";
/// A probe needs a few new pages at least, and never more than this much memory.
const PROBE_MIN: usize = 16 * 1024;
const PROBE_MAX: usize = 8 * 1024 * 1024;

/// A pooled connection for one write transaction. Unless the transaction ended the way the code meant it to
/// (committed, or rolled back on purpose), the connection is closed instead of going back to the pool: a failed
/// COMMIT (a full disk, say) can leave it inside a transaction that sqlx no longer counts, and the next write on
/// it would then be acknowledged into a transaction that never commits.
struct Lease<DB: sqlx::Database>(Option<PoolConnection<DB>>);

impl<DB: sqlx::Database> Lease<DB> {
    fn conn(&mut self) -> Result<&mut PoolConnection<DB>, StoreError> {
        self.0
            .as_mut()
            .ok_or_else(|| StoreError::Other("a write's connection was used after its end".into()))
    }

    /// The transaction ended as meant: the connection may serve again.
    fn keep(mut self) {
        drop(self.0.take());
    }
}

impl<DB: sqlx::Database> Drop for Lease<DB> {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            tracing::warn!("a write failed; its database connection is closed rather than reused");
            // Detached, the connection no longer counts against the pool; dropping it closes it.
            drop(conn.detach());
        }
    }
}

/// The database type of a store (lets the macro name its transaction type).
trait HasDb {
    type Db: sqlx::Database;
}
impl HasDb for SqliteStore {
    type Db = sqlx::Sqlite;
}
impl HasDb for PgStore {
    type Db = sqlx::Postgres;
}

fn no_notify(_: &SqliteStore, _: String) -> Option<(&'static str, String)> {
    None
}

fn pg_notify(s: &PgStore, payload: String) -> Option<(&str, String)> {
    Some((s.channel.as_str(), payload))
}

sql_store!(SqliteStore, "sqlite", lock_keys: None, notify: no_notify, snapshot_read: None);
sql_store!(
    PgStore,
    "postgres",
    lock_keys: Some("LOCK TABLE api_keys IN SHARE ROW EXCLUSIVE MODE"),
    notify: pg_notify,
    // A tenant's head and rows from one snapshot: READ COMMITTED would let a commit land between the two reads.
    snapshot_read: Some("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
);

impl SqliteStore {
    /// One node owns a SQLite file: nobody else writes to announce.
    async fn listener(&self) -> Result<Option<tokio::sync::mpsc::Receiver<Notice>>, StoreError> {
        Ok(None)
    }
}

impl PgStore {
    /// Forwards the channel's notices. When the connection drops, the listener reconnects and asks for a
    /// full reload (`Notice::Tenant("*")`), since notices sent meanwhile are lost.
    async fn listener(&self) -> Result<Option<tokio::sync::mpsc::Receiver<Notice>>, StoreError> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(&self.channel).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        tokio::spawn(async move {
            loop {
                let notice = match listener.try_recv().await {
                    Ok(Some(n)) => match n.payload().split_once(':') {
                        Some(("tenant", id)) => Notice::Tenant(id.to_owned()),
                        _ => Notice::Keys,
                    },
                    Ok(None) => Notice::Tenant("*".to_owned()),
                    Err(e) => {
                        tracing::warn!(error = %e, "PostgreSQL listener lost; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        Notice::Tenant("*".to_owned())
                    }
                };
                if tx.send(notice).await.is_err() {
                    return;
                }
            }
        });
        Ok(Some(rx))
    }
}

super::hooks::hook_store!(
    SqliteStore,
    "",
    super::hooks::insert_deliveries_sqlite,
    super::hooks::set_states_sqlite
);
super::hooks::hook_store!(
    PgStore,
    "FOR UPDATE OF d SKIP LOCKED",
    super::hooks::insert_deliveries_pg,
    super::hooks::set_states_pg
);
