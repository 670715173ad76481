-- entitle's store, PostgreSQL edition. Times are Unix milliseconds (UTC); documents are JSON text.
CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    version     BIGINT NOT NULL,
    catalog     TEXT NOT NULL,
    scenario    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- Append-only: rows are only ever inserted.
CREATE TABLE audit_log (
    seq     BIGSERIAL PRIMARY KEY,
    tenant  TEXT NOT NULL,
    at      BIGINT NOT NULL,
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
    hash          BYTEA NOT NULL UNIQUE,
    tenant        TEXT,
    role          TEXT NOT NULL,
    environments  TEXT NOT NULL,
    user_id       TEXT,
    name          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);

CREATE TABLE idempotency (
    scope         TEXT NOT NULL,
    key           TEXT NOT NULL,
    fingerprint   BYTEA NOT NULL,
    status        BIGINT NOT NULL,
    content_type  TEXT NOT NULL,
    etag          TEXT,
    body          BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);

-- The request meter's counters, saved every second and at shutdown (issue: the request meter).
CREATE TABLE meter_counts (
    budget   TEXT PRIMARY KEY,
    data     TEXT NOT NULL,
    saved_at BIGINT NOT NULL
);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
