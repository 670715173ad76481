-- Events (issue 14): every change, whether an API request or a job made it, writes its events in the same
-- transaction as the change (a transactional outbox), so an event is stored exactly when its change is.
-- Append-only, like the audit log.
CREATE TABLE events (
    seq          BIGSERIAL PRIMARY KEY,
    -- Random (64 bits): unique in practice, and not indexed (deliveries point at `seq`).
    id           TEXT NOT NULL,
    tenant       TEXT NOT NULL,
    incarnation  TEXT NOT NULL,
    type         TEXT NOT NULL,
    -- The tenant's day when it happened (its test clock, or the UTC date), and the wall clock in Unix ms.
    day          TEXT NOT NULL,
    at           BIGINT NOT NULL,
    -- The users it tells, as a JSON list: what a maker's notices are read from.
    told         TEXT NOT NULL,
    payload      TEXT NOT NULL
);
CREATE INDEX events_tenant ON events (tenant, incarnation, seq);

-- Leases: which node runs a tenant's jobs (or another shared task) until when. A node that dies loses its lease
-- when it runs out; the work itself is exactly-once by the tenant's version, the lease only keeps nodes from
-- doing it twice over.
CREATE TABLE leases (
    name    TEXT PRIMARY KEY,
    holder  TEXT NOT NULL,
    until   BIGINT NOT NULL
);
