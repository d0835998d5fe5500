-- Every request to notify that the notifier accepted, stored in the
-- transaction that acknowledges it. The dedupe key (a reminder or event id)
-- makes a repeated request a no-op; `repeats` counts them, for operators.
CREATE TABLE notifications (
    id           uuid PRIMARY KEY,
    dedupe_key   text NOT NULL UNIQUE,
    event        text NOT NULL,
    unit         text COLLATE "C" NOT NULL,
    variables    jsonb NOT NULL,
    -- Until then only the inbox hears of it (quiet hours).
    quiet_until  timestamptz,
    occurred_at  timestamptz NOT NULL,
    requested_by text NOT NULL,
    accepted_at  timestamptz NOT NULL DEFAULT now(),
    repeats      integer NOT NULL DEFAULT 0
);
CREATE INDEX notifications_unit ON notifications (unit, occurred_at DESC);
