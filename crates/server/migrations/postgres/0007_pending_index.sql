-- Only pending deliveries are looked up by when they are due: the index holds those alone, so a delivery that
-- gets through leaves it (and the common write, pending to delivered, maintains one index fewer).
DROP INDEX webhook_deliveries_due;
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (next_at) WHERE state = 'pending';
