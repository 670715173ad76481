//! Storage: one trait, two implementations (SQLite by default, PostgreSQL to scale out), chosen by the URL's
//! scheme. Every write is one transaction; a write is acknowledged only after its commit.
//!
//! A tenant is stored as its head (the scenario's format version and `[tenant]`) with a version, and one row per
//! item of its lists ([`items`]): a write stores the rows it changes, conditionally on the version it read
//! (optimistic concurrency between nodes). The server keeps every tenant in memory. The audit log, the API keys
//! and the idempotency records are rows of their own.

pub mod hooks;
pub mod items;
mod sql;

use async_trait::async_trait;
use serde::Serialize;

pub use sql::{PgStore, SqliteStore};

/// A stored tenant, as read.
#[derive(Debug, Clone)]
pub struct TenantRow {
    pub id: String,
    pub version: i64,
    /// The catalog edition (`seed`, `current`) its answers use.
    pub catalog: String,
    /// The scenario, as JSON: its head and its rows put together.
    pub scenario: String,
    /// Where each item of the scenario's lists is stored; `None` for a tenant still stored as one document (the
    /// layout before issue 11), which its next write stores as rows.
    pub ords: Option<items::Ords>,
    /// This life of the tenant id: a tenant deleted and created again under the same id is another incarnation,
    /// with an audit log of its own.
    pub incarnation: String,
}

/// A stored tenant's id and life, without its contents (what a node knows of the tenants it has not loaded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantHead {
    pub id: String,
    pub version: i64,
    pub incarnation: String,
}

/// A tenant's new state, as written: what changed of it.
#[derive(Debug, Clone)]
pub struct TenantWrite {
    pub id: String,
    pub version: i64,
    pub catalog: String,
    pub rows: items::Rows,
}

/// One change, as the audit log keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub tenant: String,
    /// The life of the tenant id the entry belongs to (`""` for entries about no tenant or from before
    /// incarnations were recorded).
    pub incarnation: String,
    /// Unix milliseconds.
    #[serde(skip)]
    pub at_ms: i64,
    /// RFC 3339, UTC.
    pub at: String,
    /// The API key id that made the change (`system` for the server itself).
    pub actor: String,
    /// `create`, `update`, `delete`, `assign-license`, …
    pub action: String,
    /// `tenant`, `user`, `flow`, `key`, …
    pub kind: String,
    pub item: Option<String>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// A change to record.
#[derive(Debug, Clone)]
pub struct NewAudit {
    pub tenant: String,
    pub actor: String,
    pub action: String,
    pub kind: String,
    pub item: Option<String>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl NewAudit {
    /// About what the entry takes on disk.
    pub fn approx_bytes(&self) -> usize {
        let json = |v: &Option<serde_json::Value>| v.as_ref().map_or(0, |v| v.to_string().len());
        64 + self.tenant.len()
            + self.actor.len()
            + self.action.len()
            + self.kind.len()
            + self.item.as_ref().map_or(0, String::len)
            + json(&self.before)
            + json(&self.after)
    }
}

/// Which audit entries to read.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub kind: Option<String>,
    pub item: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    /// Unix ms, inclusive.
    pub since_ms: Option<i64>,
    /// Unix ms, exclusive.
    pub until_ms: Option<i64>,
    /// Entries after this sequence number (paging).
    pub after_seq: Option<i64>,
    pub limit: i64,
    /// Only this incarnation's entries (a tenant's present life); `None`: every life.
    pub incarnation: Option<String>,
    /// Leave out entries of this kind (`key`, for those who may not read keys).
    pub exclude_kind: Option<String>,
}

/// A stored API key (never the key itself: its SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub id: String,
    pub hash: [u8; 32],
    /// `None` for an operator key (all tenants).
    pub tenant: Option<String>,
    pub role: String,
    /// Environment admins: the environments they administer.
    pub environments: Vec<String>,
    /// Makers: the user they act as.
    pub user: Option<String>,
    pub name: String,
    pub created_ms: i64,
    pub revoked: bool,
    /// The life of its tenant the key was made in (`""` for operator keys); set by the store.
    pub incarnation: String,
}

/// The first answer to a request with an `Idempotency-Key`, replayed for the same key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// SHA-256 of method, path and body: the same key with another request is refused.
    pub fingerprint: Vec<u8>,
    pub status: u16,
    pub content_type: String,
    pub etag: Option<String>,
    pub body: Vec<u8>,
}

/// How the write expects the tenant to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// It must not exist yet.
    Absent,
    /// It must be at this version.
    Version(i64),
}

/// One write: the tenant's new document (or its deletion), its audit entries and, if the request carried an
/// `Idempotency-Key`, its answer — all in one transaction.
#[derive(Debug, Clone)]
pub struct Commit {
    pub tenant: String,
    /// The tenant's incarnation: the write lands only on that life of the id.
    pub incarnation: String,
    pub expect: Expect,
    /// `None` deletes the tenant.
    pub next: Option<TenantWrite>,
    pub audit: Vec<NewAudit>,
    pub idempotency: Option<(String, String, Stored)>,
    /// Users this change deletes: keys bound to them are revoked in the same transaction, so a key never
    /// speaks for a user created later under the same id.
    pub gone_users: Vec<String>,
    /// Environments this change deletes: environment-admin keys naming one are revoked with it.
    pub gone_environments: Vec<String>,
    /// The change's events, stored in the same transaction (the outbox, issue 14).
    pub events: Vec<NewEvent>,
}

/// An event to store with its change.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// `evt_…`: the id a webhook delivery carries as `webhook-id`, the same on every retry and replay.
    pub id: String,
    /// `flow.suspended`, `license.assigned`, … (docs/server.md, "Events").
    pub kind: String,
    /// The tenant's day.
    pub day: chrono::NaiveDate,
    /// The users it tells (a maker's notices).
    pub told: Vec<String>,
    pub payload: serde_json::Value,
}

impl NewEvent {
    pub fn approx_bytes(&self) -> usize {
        96 + self.kind.len()
            + self.told.iter().map(|t| t.len() + 3).sum::<usize>()
            + self.payload.to_string().len()
    }
}

/// A stored event.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Its place in the tenant's stream: what `after` pages on.
    pub seq: i64,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// The tenant's day (its test clock, or the UTC date).
    pub day: String,
    /// When it was stored, RFC 3339 (UTC).
    pub at: String,
    pub told: Vec<String>,
    pub payload: serde_json::Value,
}

/// Which events to read.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub after_seq: Option<i64>,
    /// Any of these types (empty: all).
    pub types: Vec<String>,
    /// Only those that tell this user.
    pub told: Option<String>,
    pub limit: i64,
}

/// When [`Store::insert_key`] inserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyIf {
    Always,
    /// Only into a store with no key at all: the first start's random operator key.
    NoKeys,
    /// Only if this secret was never stored (in force or revoked): `ENTITLE_ADMIN_KEY`, which a node brings
    /// into the store whatever other nodes made, but never brings back once revoked.
    NewSecret,
}

/// What [`Store::revoke_key`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    Done,
    /// No such key in force.
    NotFound,
    /// It is the last operator key in force, which is never revoked (nobody could create keys again).
    LastOperator,
}

/// Whether the last write reached the disk. A failed commit makes the store unready until a write of its size
/// succeeds again: `/readyz` must not send traffic to a node that cannot keep what it acknowledges.
#[derive(Debug, Default)]
pub struct WriteHealth {
    /// The size of the last failed write, in bytes; 0 when the last write succeeded.
    failed_bytes: std::sync::atomic::AtomicUsize,
}

impl WriteHealth {
    pub fn writable(&self) -> bool {
        self.failed_bytes() == 0
    }

    /// How big a write a probe must get through before the store counts as writable again.
    pub fn failed_bytes(&self) -> usize {
        self.failed_bytes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records the outcome of a write of about `bytes`. Refusals that are answers (a version conflict, a taken
    /// idempotency key, a unique id) say nothing about the disk.
    pub fn note<T>(&self, done: &Result<T, StoreError>, bytes: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        let failed = match done {
            // A smaller write getting through says little of a bigger one (a capped file may still have a page).
            Ok(_) => {
                let _ = self
                    .failed_bytes
                    .fetch_update(Relaxed, Relaxed, |f| (bytes >= f).then_some(0));
                return;
            }
            Err(StoreError::Db(sqlx::Error::Database(d)))
                if d.is_unique_violation() || d.is_foreign_key_violation() || d.is_check_violation() =>
            {
                return;
            }
            Err(StoreError::Db(_) | StoreError::Other(_) | StoreError::Migrate(_)) => bytes.max(1),
            Err(StoreError::Conflict | StoreError::IdempotencyTaken) => return,
        };
        self.failed_bytes.store(failed, Relaxed);
    }
}

/// A change another node made, announced so this node reloads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Tenant(String),
    Keys,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The tenant moved on (another writer) or already exists: reload and retry, or tell the client.
    #[error("the tenant changed meanwhile")]
    Conflict,
    /// The idempotency key was taken by a concurrent request.
    #[error("idempotency key already used")]
    IdempotencyTaken,
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Other(String),
}

/// Storage. Implementations: [`SqliteStore`], [`PgStore`].
#[async_trait]
pub trait Store: hooks::HookStore + Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Is the database answering, and writing (`/readyz`)? After a failed write, it tries a small write.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Did the last write succeed?
    fn writable(&self) -> bool;
    async fn tenants(&self) -> Result<Vec<TenantRow>, StoreError>;
    async fn tenant(&self, id: &str) -> Result<Option<TenantRow>, StoreError>;
    /// The stored tenants' ids, versions and lives (all, or the one named), without reading their items.
    async fn tenant_index(&self, only: Option<&str>) -> Result<Vec<TenantHead>, StoreError>;
    async fn commit(&self, commit: Commit) -> Result<(), StoreError>;
    async fn idempotent(&self, scope: &str, key: &str) -> Result<Option<Stored>, StoreError>;
    async fn audit_log(&self, tenant: &str, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError>;
    async fn keys(&self) -> Result<Vec<KeyRow>, StoreError>;
    /// Inserts a key (with its audit entry) when `only_if` holds; `false` when it did not.
    async fn insert_key(&self, key: &KeyRow, audit: NewAudit, only_if: KeyIf) -> Result<bool, StoreError>;
    /// Revokes a key in force, unless it is the last operator key in force (decided in the transaction, so two
    /// revocations at once cannot remove the last two).
    async fn revoke_key(&self, id: &str, audit: NewAudit) -> Result<Revoked, StoreError>;
    /// Audit entries that change no document (the meter's REQ-8 warnings).
    async fn append_audit(&self, entries: &[NewAudit]) -> Result<(), StoreError>;
    /// The request meter's saved counters.
    async fn meter_load(&self) -> Result<Vec<(String, String)>, StoreError>;
    async fn meter_save(&self, rows: &[(String, String)]) -> Result<(), StoreError>;
    /// Changes other nodes make (PostgreSQL: LISTEN/NOTIFY). `None`: a single-node store.
    async fn listen(&self) -> Result<Option<tokio::sync::mpsc::Receiver<Notice>>, StoreError>;
    /// Events that change no tenant (the meter's REQ-8 warnings), stored under the tenant's row lock so that a
    /// tenant's events are numbered in the order they commit (consumers read each tenant after a cursor).
    /// `false` when the tenant (this life of it) is gone.
    async fn append_events(
        &self,
        tenant: &str,
        incarnation: &str,
        events: &[NewEvent],
    ) -> Result<bool, StoreError>;
    /// A tenant's events (this life of it), oldest first.
    async fn events(
        &self,
        tenant: &str,
        incarnation: &str,
        filter: &EventFilter,
    ) -> Result<Vec<Event>, StoreError>;
    /// Takes the lease `name` for `holder` until `until_ms` if nobody else holds it at `now_ms` (or renews it);
    /// `true` when `holder` has it.
    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Gives a lease back (only `holder`'s).
    async fn drop_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;
}

/// Opens the store a URL names (`sqlite://PATH`, `postgres://…`) and runs its migrations.
pub async fn open(url: &str) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(PgStore::open(url).await?))
    } else {
        Err(StoreError::Other(format!(
            "unsupported database URL scheme in `{}` (use sqlite://PATH or postgres://…)",
            redact(url)
        )))
    }
}

/// A URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = url.get(s + 3..at).unwrap_or("");
            match creds.split_once(':') {
                Some((user, _)) => format!(
                    "{}{user}:***{}",
                    url.get(..s + 3).unwrap_or(""),
                    url.get(at..).unwrap_or("")
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }
}
