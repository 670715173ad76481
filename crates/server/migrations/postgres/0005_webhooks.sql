-- Webhooks (issue 14): endpoints per tenant, each subscribed to event types; a delivery per (endpoint, event),
-- made from the events after the endpoint's cursor (so a write never waits for a receiver); every attempt kept.
CREATE TABLE webhook_endpoints (
    id             TEXT PRIMARY KEY,
    tenant         TEXT NOT NULL,
    incarnation    TEXT NOT NULL,
    url            TEXT NOT NULL,
    -- JSON list of event types; empty: every type.
    types          TEXT NOT NULL,
    description    TEXT NOT NULL,
    -- JSON list of {secret, expires_at}: the signing secrets in force (the newest first; a rotated one until it
    -- expires). Kept to sign with, never shown again after creation.
    secrets        TEXT NOT NULL,
    disabled       BIGINT NOT NULL,
    failing_since  BIGINT,
    -- The last event seq turned into deliveries.
    cursor         BIGINT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant, incarnation);

CREATE TABLE webhook_deliveries (
    id                TEXT PRIMARY KEY,
    endpoint          TEXT NOT NULL,
    event_seq         BIGINT NOT NULL,
    event_id          TEXT NOT NULL,
    type              TEXT NOT NULL,
    -- pending, delivered or failed (gave up).
    state             TEXT NOT NULL,
    attempts          BIGINT NOT NULL,
    first_attempt_at  BIGINT,
    next_at           BIGINT NOT NULL,
    -- A node sending it holds it until then; past it, another node may.
    lease_until       BIGINT,
    last_at           BIGINT,
    last_status       BIGINT,
    last_error        TEXT,
    last_duration_ms  BIGINT,
    UNIQUE (endpoint, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint, event_seq);

CREATE TABLE webhook_attempts (
    delivery     TEXT NOT NULL,
    attempt      BIGINT NOT NULL,
    at           BIGINT NOT NULL,
    status       BIGINT,
    error        TEXT,
    duration_ms  BIGINT NOT NULL,
    PRIMARY KEY (delivery, attempt)
);
