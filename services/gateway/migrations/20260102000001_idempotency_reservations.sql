-- A key is reserved before its request runs (status NULL), so that two
-- requests sent at once with the same key cannot both run.
ALTER TABLE idempotency_keys ALTER COLUMN status DROP NOT NULL;
ALTER TABLE idempotency_keys ALTER COLUMN body DROP NOT NULL;
