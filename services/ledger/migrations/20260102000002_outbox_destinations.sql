-- Each outbox event goes to every consumer; `pending` lists those that have
-- not acknowledged it yet. The relay claims rows with SKIP LOCKED, so several
-- ledger replicas relay side by side without sending a row twice at once.
ALTER TABLE outbox ADD COLUMN pending text[] NOT NULL DEFAULT '{scheduler,notifier}';
UPDATE outbox SET pending = '{}' WHERE delivered_at IS NOT NULL;
CREATE INDEX outbox_undelivered ON outbox (created_at, id) WHERE cardinality(pending) > 0;
