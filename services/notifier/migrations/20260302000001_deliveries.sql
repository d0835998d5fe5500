-- How each unit is reached besides the inbox.
CREATE TABLE channels (
    unit       text COLLATE "C" PRIMARY KEY,
    config     jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL
);

-- One delivery per notification and channel target, made in the transaction
-- that accepts the notification (the unit's channels as they stood then).
CREATE TABLE deliveries (
    id              uuid PRIMARY KEY,
    notification_id uuid NOT NULL REFERENCES notifications,
    -- email | webhook | wecom | sms
    channel         text NOT NULL,
    target          jsonb NOT NULL,
    -- pending | delivered | failed
    state           text NOT NULL DEFAULT 'pending',
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claimed_by      text,
    lease_until     timestamptz,
    last_error      text NOT NULL DEFAULT '',
    delivered_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deliveries_pending ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_notification ON deliveries (notification_id);

-- Every attempt, kept for operators and users alike.
CREATE TABLE delivery_attempts (
    delivery_id uuid NOT NULL REFERENCES deliveries,
    attempt     integer NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    -- delivered | failed
    outcome     text NOT NULL,
    error       text NOT NULL DEFAULT '',
    duration_ms integer NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);

-- Read state of the inbox, per user.
CREATE TABLE inbox_reads (
    notification_id uuid NOT NULL REFERENCES notifications,
    user_id         uuid NOT NULL,
    read_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (notification_id, user_id)
);
