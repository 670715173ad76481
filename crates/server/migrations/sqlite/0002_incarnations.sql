-- Each life of a tenant id is an incarnation of its own: a tenant deleted and created again under the same id
-- starts with an empty audit log, and no write prepared against the old one can land on the new one.
ALTER TABLE tenants ADD COLUMN incarnation TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN incarnation TEXT NOT NULL DEFAULT '';
UPDATE tenants SET incarnation = 'inc_' || lower(hex(randomblob(8)));

-- The rows of a tenant's present life (from its last creation on) join it; earlier rows keep '' (a past life).
DROP TRIGGER audit_log_no_update;
UPDATE audit_log SET incarnation = (SELECT t.incarnation FROM tenants t WHERE t.id = audit_log.tenant)
WHERE tenant IN (SELECT id FROM tenants)
  AND seq >= COALESCE((SELECT MAX(a.seq) FROM audit_log a
                       WHERE a.tenant = audit_log.tenant AND a.kind = 'tenant' AND a.action = 'create'), 0);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE INDEX audit_log_incarnation ON audit_log (tenant, incarnation, seq);

-- Keys belong to one life of their tenant too: a re-created tenant's key list never shows an old life's keys.
-- Keys in force are the present life's; revoked ones of an existing tenant cannot be placed, and keep ''.
ALTER TABLE api_keys ADD COLUMN incarnation TEXT NOT NULL DEFAULT '';
UPDATE api_keys SET incarnation = (SELECT t.incarnation FROM tenants t WHERE t.id = api_keys.tenant)
WHERE revoked_at IS NULL AND tenant IN (SELECT id FROM tenants);
