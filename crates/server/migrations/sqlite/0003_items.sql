-- The per-item layout (issue 11): a tenant's head stays in tenants.scenario, each item of its lists is a row here,
-- so a write stores what it changes. Documents of the old layout (layout = 'document') are split into rows by the
-- server when it opens the store (store::sql::upgrade), one tenant per transaction.
CREATE TABLE tenant_items (
    tenant  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    ord     INTEGER NOT NULL,
    body    TEXT NOT NULL,
    PRIMARY KEY (tenant, kind, ord)
);
ALTER TABLE tenants ADD COLUMN layout TEXT NOT NULL DEFAULT 'document';
