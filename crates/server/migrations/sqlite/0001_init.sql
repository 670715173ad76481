-- entitle's store, SQLite edition. Times are Unix milliseconds (UTC); documents are JSON text.
CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    version     INTEGER NOT NULL,
    catalog     TEXT NOT NULL,
    scenario    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- Append-only: rows are only ever inserted.
CREATE TABLE audit_log (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant  TEXT NOT NULL,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    item    TEXT,
    before  TEXT,
    after   TEXT
);
CREATE INDEX audit_log_tenant ON audit_log (tenant, seq);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    hash          BLOB NOT NULL UNIQUE,
    tenant        TEXT,
    role          TEXT NOT NULL,
    environments  TEXT NOT NULL,
    user_id       TEXT,
    name          TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER
);

CREATE TABLE idempotency (
    scope         TEXT NOT NULL,
    key           TEXT NOT NULL,
    fingerprint   BLOB NOT NULL,
    status        INTEGER NOT NULL,
    content_type  TEXT NOT NULL,
    etag          TEXT,
    body          BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);

-- The request meter's counters, saved every second and at shutdown (issue: the request meter).
CREATE TABLE meter_counts (
    budget   TEXT PRIMARY KEY,
    data     TEXT NOT NULL,
    saved_at INTEGER NOT NULL
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
