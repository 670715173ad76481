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
