-- Every change that another service must hear of is written here in the same
-- transaction as the change, then relayed; receivers are idempotent.
CREATE TABLE outbox (
    id           uuid PRIMARY KEY,
    topic        text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz
);
CREATE INDEX outbox_pending ON outbox (created_at) WHERE delivered_at IS NULL;
