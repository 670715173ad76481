//! The two SQL stores. Their SQL is the same text (`$n` parameters work in both), so one macro writes both
//! implementations; what differs (connecting, locking, notifying) is passed in.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, migrate::Migrator};

use super::{
    AuditEntry, AuditFilter, Commit, Expect, KeyRow, NewAudit, Notice, Store, StoreError, Stored, TenantRow,
    now_ms,
};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static PG_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// SQLite in WAL mode with `synchronous = FULL`: a commit is on disk before it is acknowledged.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub async fn open(url: &str) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
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
        Ok(SqliteStore { pool })
    }
}

/// PostgreSQL. Each commit notifies the other nodes on a channel named after the schema (tests give each
/// server a schema of its own in one database).
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    channel: String,
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
        Ok(PgStore { pool, channel })
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

fn json_text(v: &Option<serde_json::Value>) -> Option<String> {
    v.as_ref().map(serde_json::Value::to_string)
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

const INSERT_AUDIT: &str = "INSERT INTO audit_log (tenant, at, actor, action, kind, item, before, after) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

const SELECT_AUDIT: &str = "SELECT seq, tenant, at, actor, action, kind, item, before, after FROM audit_log \
     WHERE tenant = $1 \
       AND (CAST($2 AS TEXT) IS NULL OR kind = $2) \
       AND (CAST($3 AS TEXT) IS NULL OR item = $3) \
       AND (CAST($4 AS TEXT) IS NULL OR actor = $4) \
       AND (CAST($5 AS TEXT) IS NULL OR action = $5) \
       AND (CAST($6 AS BIGINT) IS NULL OR at >= $6) \
       AND (CAST($7 AS BIGINT) IS NULL OR at < $7) \
       AND (CAST($8 AS BIGINT) IS NULL OR seq > $8) \
     ORDER BY seq LIMIT $9";

macro_rules! sql_store {
    ($store:ty, $name:literal, lock_keys: $lock:expr, notify: $notify:expr) => {
        impl $store {
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
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                $name
            }

            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn tenants(&self) -> Result<Vec<TenantRow>, StoreError> {
                let rows = sqlx::query("SELECT id, version, catalog, scenario FROM tenants ORDER BY id")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(tenant_row).collect()
            }

            async fn tenant(&self, id: &str) -> Result<Option<TenantRow>, StoreError> {
                let row = sqlx::query("SELECT id, version, catalog, scenario FROM tenants WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(tenant_row).transpose()
            }

            async fn commit(&self, c: Commit) -> Result<(), StoreError> {
                let now = now_ms();
                let mut tx = self.pool.begin().await?;
                let done = match (&c.expect, &c.next) {
                    (Expect::Absent, Some(next)) => sqlx::query(
                        "INSERT INTO tenants (id, version, catalog, scenario, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $5)",
                    )
                    .bind(&next.id)
                    .bind(next.version)
                    .bind(&next.catalog)
                    .bind(&next.scenario)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map(|r| r.rows_affected() == 1)
                    .or_else(|e| if is_unique_violation(&e) { Ok(false) } else { Err(e) })?,
                    (Expect::Version(v), Some(next)) => sqlx::query(
                        "UPDATE tenants SET version = $1, catalog = $2, scenario = $3, updated_at = $4 \
                         WHERE id = $5 AND version = $6",
                    )
                    .bind(next.version)
                    .bind(&next.catalog)
                    .bind(&next.scenario)
                    .bind(now)
                    .bind(&c.tenant)
                    .bind(*v)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1,
                    (Expect::Version(v), None) => sqlx::query("DELETE FROM tenants WHERE id = $1 AND version = $2")
                        .bind(&c.tenant)
                        .bind(*v)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                        == 1,
                    (Expect::Absent, None) => true,
                };
                if !done {
                    return Err(StoreError::Conflict);
                }
                // A deleted tenant's keys go with it, in the same transaction: they must never open a tenant
                // created later under the same id.
                let mut revoked: Vec<String> = if c.next.is_none() {
                    let ids = sqlx::query_scalar(
                        "SELECT id FROM api_keys WHERE tenant = $1 AND revoked_at IS NULL ORDER BY created_at, id",
                    )
                    .bind(&c.tenant)
                    .fetch_all(&mut *tx)
                    .await?;
                    sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE tenant = $2 AND revoked_at IS NULL")
                        .bind(now)
                        .bind(&c.tenant)
                        .execute(&mut *tx)
                        .await?;
                    ids
                } else {
                    Vec::new()
                };
                // Likewise the keys of a deleted user.
                for user in &c.gone_users {
                    let ids: Vec<String> = sqlx::query_scalar(
                        "SELECT id FROM api_keys WHERE tenant = $1 AND user_id = $2 AND revoked_at IS NULL ORDER BY created_at, id",
                    )
                    .bind(&c.tenant)
                    .bind(user)
                    .fetch_all(&mut *tx)
                    .await?;
                    sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE tenant = $2 AND user_id = $3 AND revoked_at IS NULL")
                        .bind(now)
                        .bind(&c.tenant)
                        .bind(user)
                        .execute(&mut *tx)
                        .await?;
                    revoked.extend(ids);
                }
                // Other nodes must drop revoked keys now, not when they next miss a key.
                if !revoked.is_empty()
                    && let Some((channel, payload)) = $notify(self, "keys".to_owned())
                {
                    sqlx::query("SELECT pg_notify($1, $2)").bind(channel).bind(payload).execute(&mut *tx).await?;
                }
                for a in &c.audit {
                    Self::audit_in(&mut tx, a, now).await?;
                }
                let actor = c.audit.first().map_or("system", |a| a.actor.as_str());
                for id in revoked {
                    let entry = NewAudit {
                        tenant: c.tenant.clone(),
                        actor: actor.to_owned(),
                        action: "revoke".to_owned(),
                        kind: "key".to_owned(),
                        item: Some(id),
                        before: None,
                        after: None,
                    };
                    Self::audit_in(&mut tx, &entry, now).await?;
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
                self.commit_announcing(tx, format!("tenant:{}", c.tenant)).await?;
                Ok(())
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
                    "SELECT id, hash, tenant, role, environments, user_id, name, created_at, revoked_at FROM api_keys ORDER BY created_at, id",
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
                        })
                    })
                    .collect()
            }

            async fn insert_key(&self, k: &KeyRow, audit: NewAudit, only_if_none: bool) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await?;
                if only_if_none {
                    let lock: Option<&str> = $lock;
                    if let Some(lock) = lock {
                        sqlx::query(lock).execute(&mut *tx).await?;
                    }
                    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_keys").fetch_one(&mut *tx).await?;
                    if n > 0 {
                        return Ok(false);
                    }
                }
                let envs = serde_json::to_string(&k.environments).map_err(|e| StoreError::Other(e.to_string()))?;
                sqlx::query(
                    "INSERT INTO api_keys (id, hash, tenant, role, environments, user_id, name, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
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
                Self::audit_in(&mut tx, &audit, now_ms()).await?;
                self.commit_announcing(tx, "keys".to_owned()).await?;
                Ok(true)
            }

            async fn revoke_key(&self, id: &str, audit: NewAudit) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await?;
                let n = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind(now_ms())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 0 {
                    return Ok(false);
                }
                Self::audit_in(&mut tx, &audit, now_ms()).await?;
                self.commit_announcing(tx, "keys".to_owned()).await?;
                Ok(true)
            }

            async fn append_audit(&self, entries: &[NewAudit]) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                let now = now_ms();
                for a in entries {
                    Self::audit_in(&mut tx, a, now).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn meter_load(&self) -> Result<Vec<(String, String)>, StoreError> {
                let rows = sqlx::query("SELECT budget, data FROM meter_counts ORDER BY budget")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|r| Ok((r.try_get("budget")?, r.try_get("data")?))).collect()
            }

            async fn meter_save(&self, rows: &[(String, String)]) -> Result<(), StoreError> {
                let now = now_ms();
                let mut tx = self.pool.begin().await?;
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
                Ok(())
            }

            async fn listen(&self) -> Result<Option<tokio::sync::mpsc::Receiver<Notice>>, StoreError> {
                self.listener().await
            }
        }
    };
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

fn tenant_row<R: Row>(r: &R) -> Result<TenantRow, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'a> sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    i64: for<'a> sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(TenantRow {
        id: r.try_get("id")?,
        version: r.try_get("version")?,
        catalog: r.try_get("catalog")?,
        scenario: r.try_get("scenario")?,
    })
}

fn no_notify(_: &SqliteStore, _: String) -> Option<(&'static str, String)> {
    None
}

fn pg_notify(s: &PgStore, payload: String) -> Option<(&str, String)> {
    Some((s.channel.as_str(), payload))
}

sql_store!(SqliteStore, "sqlite", lock_keys: None, notify: no_notify);
sql_store!(PgStore, "postgres", lock_keys: Some("LOCK TABLE api_keys IN SHARE ROW EXCLUSIVE MODE"), notify: pg_notify);

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
