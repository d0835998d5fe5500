-- Events relayed from the ledger's outbox, each kept once (the relay
-- delivers at least once). See zhenggai_common::received.
CREATE TABLE ledger_events_received (
    id          uuid PRIMARY KEY,
    topic       text NOT NULL,
    payload     jsonb NOT NULL,
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    handled_at  timestamptz
);
CREATE INDEX ledger_events_unhandled ON ledger_events_received (occurred_at) WHERE handled_at IS NULL;
