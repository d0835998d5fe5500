-- The working-day calendar: one row per loaded year with its special days
-- (holidays and make-up working days) as the notice lists them.
CREATE TABLE calendar_years (
    year      integer PRIMARY KEY,
    notice    text NOT NULL,
    days      jsonb NOT NULL,
    -- NULL for the years that ship with zhenggai.
    loaded_at timestamptz,
    loaded_by text
);

-- Campaigns as the ledger announced them, with their reminder rules.
CREATE TABLE campaigns (
    id          uuid PRIMARY KEY,
    document_id uuid NOT NULL,
    area        text COLLATE "C" NOT NULL,
    title       text NOT NULL,
    rules       jsonb NOT NULL,
    created_at  timestamptz NOT NULL
);

-- Every ledger of a campaign, and when its unit fulfilled what the
-- milestones ask (NULL: not, or no longer).
CREATE TABLE ledgers (
    id           uuid PRIMARY KEY,
    campaign_id  uuid NOT NULL REFERENCES campaigns,
    unit_code    text COLLATE "C" NOT NULL,
    unit_name    text NOT NULL,
    unit_level   text NOT NULL,
    parent_code  text COLLATE "C",
    complete     boolean NOT NULL DEFAULT false,
    completed_at timestamptz,
    handed_in_at timestamptz,
    rectified_at timestamptz
);
CREATE INDEX ledgers_campaign_unit ON ledgers (campaign_id, unit_code);

CREATE TABLE milestones (
    id          uuid PRIMARY KEY,
    campaign_id uuid NOT NULL REFERENCES campaigns,
    seq         smallint NOT NULL,
    kind        text NOT NULL,
    title       text NOT NULL,
    due_on      date,
    owed_by     text[] NOT NULL,
    UNIQUE (campaign_id, seq)
);

-- Every finding's deadline, as of the newest version the ledger announced.
CREATE TABLE findings (
    id          uuid PRIMARY KEY,
    ledger_id   uuid NOT NULL,
    campaign_id uuid NOT NULL,
    unit_code   text COLLATE "C" NOT NULL,
    unit_name   text NOT NULL,
    unit_level  text NOT NULL,
    problem_seq smallint NOT NULL,
    seq         integer NOT NULL,
    kind        text NOT NULL,
    state       text NOT NULL,
    due_on      date,
    version     bigint NOT NULL,
    -- When the unit handed in its result (submitted, verified or closed).
    done_at     timestamptz
);
CREATE INDEX findings_unit_due ON findings (unit_code, due_on, id) WHERE due_on IS NOT NULL;
CREATE INDEX findings_pending ON findings (campaign_id, due_on)
    WHERE state IN ('open', 'in_progress') AND due_on IS NOT NULL;
CREATE INDEX findings_ledger ON findings (ledger_id);

-- 回头看: re-checks of closed long-term findings.
CREATE TABLE rechecks (
    id             uuid PRIMARY KEY,
    finding_id     uuid NOT NULL REFERENCES findings,
    -- The finding's version when it was closed: a finding closed again
    -- after reopening gets re-checks of its own.
    closed_version bigint NOT NULL,
    round          smallint NOT NULL,
    due_on         date NOT NULL,
    -- scheduled | passed | failed | cancelled
    status         text NOT NULL DEFAULT 'scheduled',
    note           text NOT NULL DEFAULT '',
    recorded_by    text,
    recorded_at    timestamptz,
    UNIQUE (finding_id, closed_version, round)
);
CREATE INDEX rechecks_open ON rechecks (due_on) WHERE status = 'scheduled';

-- Every reminder item planned, once: the key names the finding (or
-- milestone, or re-check), the rule and the day.
CREATE TABLE reminder_items (
    key        text PRIMARY KEY,
    planned_at timestamptz NOT NULL DEFAULT now()
);

-- The messages the items became (one per item, or one digest per unit),
-- claimed by one instance at a time under a lease and sent to the notifier.
CREATE TABLE reminders (
    id          uuid PRIMARY KEY,
    campaign_id uuid NOT NULL,
    recipient   text COLLATE "C" NOT NULL,
    event       text NOT NULL,
    variables   jsonb NOT NULL,
    quiet_until timestamptz,
    -- On the scheduler's clock (a drill's, in a drill).
    planned_for timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    claimed_by  text,
    lease_until timestamptz,
    attempts    integer NOT NULL DEFAULT 0,
    sent_at     timestamptz
);
CREATE INDEX reminders_unsent ON reminders (created_at, id) WHERE sent_at IS NULL;
