-- Campaigns, ledgers, sections, findings, evidence and the hash-chained
-- history. Unit codes sort and match by prefix in the "C" collation, so
-- `unit_code LIKE '411081%'` walks an index.

CREATE TABLE campaigns (
    id            uuid PRIMARY KEY,
    document_id   uuid NOT NULL,
    doc_number    text NOT NULL,
    area          text COLLATE "C" NOT NULL,
    area_name     text NOT NULL,
    title         text NOT NULL,
    ledger_count  integer NOT NULL,
    section_count bigint NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text NOT NULL,
    UNIQUE (document_id, area)
);

-- The problems of the campaign's notice as they stood when it started.
CREATE TABLE campaign_problems (
    campaign_id uuid NOT NULL REFERENCES campaigns,
    seq         smallint NOT NULL,
    problem_id  uuid NOT NULL,
    title       text NOT NULL,
    aspect_seq  smallint NOT NULL,
    aspect_name text NOT NULL,
    PRIMARY KEY (campaign_id, seq),
    UNIQUE (campaign_id, problem_id)
);

-- Counters are kept in the same transaction as every change, so that the
-- dashboard reads one row per ledger instead of counting findings.
CREATE TABLE ledgers (
    id                uuid PRIMARY KEY,
    campaign_id       uuid NOT NULL REFERENCES campaigns,
    unit_code         text COLLATE "C" NOT NULL,
    unit_name         text NOT NULL,
    unit_level        text NOT NULL,
    sections          integer NOT NULL,
    sections_answered integer NOT NULL DEFAULT 0,
    findings          integer NOT NULL DEFAULT 0,
    open              integer NOT NULL DEFAULT 0,
    in_progress       integer NOT NULL DEFAULT 0,
    submitted         integer NOT NULL DEFAULT 0,
    verified          integer NOT NULL DEFAULT 0,
    closed            integer NOT NULL DEFAULT 0,
    version           bigint NOT NULL DEFAULT 1,
    -- The newest history event (0 and NULL before the first).
    head_seq          bigint NOT NULL DEFAULT 0,
    head_digest       bytea,
    UNIQUE (campaign_id, unit_code)
);

CREATE TABLE sections (
    ledger_id   uuid NOT NULL REFERENCES ledgers,
    problem_seq smallint NOT NULL,
    -- unanswered | no_findings | findings
    state       text NOT NULL DEFAULT 'unanswered',
    note        text NOT NULL DEFAULT '',
    findings    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (ledger_id, problem_seq)
);

CREATE TABLE findings (
    id                 uuid PRIMARY KEY,
    ledger_id          uuid NOT NULL,
    problem_seq        smallint NOT NULL,
    seq                integer NOT NULL,
    campaign_id        uuid NOT NULL,
    unit_code          text COLLATE "C" NOT NULL,
    description        text NOT NULL,
    measures           text NOT NULL,
    due_on             date,
    kind               text NOT NULL,
    responsible        text NOT NULL,
    result             text NOT NULL DEFAULT '',
    standing_mechanism text NOT NULL DEFAULT '',
    households         jsonb NOT NULL DEFAULT '[]',
    state              text NOT NULL DEFAULT 'open',
    written_off        boolean NOT NULL DEFAULT false,
    version            bigint NOT NULL DEFAULT 1,
    evidence_count     integer NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    created_by         text NOT NULL,
    UNIQUE (ledger_id, problem_seq, seq),
    FOREIGN KEY (ledger_id, problem_seq) REFERENCES sections
);
-- Overdue counts: only findings the unit still works on.
CREATE INDEX findings_pending ON findings (campaign_id, unit_code, due_on)
    WHERE state IN ('open', 'in_progress');

CREATE TABLE ledger_events (
    ledger_id   uuid NOT NULL REFERENCES ledgers,
    seq         bigint NOT NULL,
    at          timestamptz NOT NULL,
    kind        text NOT NULL,
    finding_id  uuid,
    actor       text NOT NULL,
    actor_unit  text NOT NULL,
    actor_role  text NOT NULL,
    reason      text NOT NULL DEFAULT '',
    from_state  text NOT NULL DEFAULT '',
    to_state    text NOT NULL DEFAULT '',
    details     jsonb NOT NULL,
    prev_digest bytea NOT NULL,
    digest      bytea NOT NULL,
    PRIMARY KEY (ledger_id, seq)
);
CREATE INDEX ledger_events_finding ON ledger_events (finding_id, seq) WHERE finding_id IS NOT NULL;

-- History is append-only: no UPDATE, DELETE or TRUNCATE, whoever asks. An
-- owner who disables the trigger to edit a row is caught by verify.
CREATE FUNCTION ledger_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger history is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER ledger_events_no_update BEFORE UPDATE OR DELETE ON ledger_events
    FOR EACH ROW EXECUTE FUNCTION ledger_events_append_only();
CREATE TRIGGER ledger_events_no_truncate BEFORE TRUNCATE ON ledger_events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_events_append_only();

CREATE TABLE evidence (
    id            uuid PRIMARY KEY,
    finding_id    uuid NOT NULL REFERENCES findings,
    file_name     text NOT NULL,
    declared_type text NOT NULL,
    content_type  text NOT NULL,
    size          bigint NOT NULL,
    sha256        bytea NOT NULL,
    uploaded_by   text NOT NULL,
    uploaded_at   timestamptz NOT NULL
);
CREATE INDEX evidence_finding ON evidence (finding_id, uploaded_at);

-- The bytes, in chunks, written in the upload's transaction before the
-- evidence row that describes them.
CREATE TABLE evidence_chunks (
    evidence_id uuid NOT NULL REFERENCES evidence DEFERRABLE INITIALLY DEFERRED,
    n           integer NOT NULL,
    bytes       bytea NOT NULL,
    PRIMARY KEY (evidence_id, n)
);

-- Every read of household data in clear (DESIGN: recorded).
CREATE TABLE personal_data_reads (
    id         bigserial PRIMARY KEY,
    user_id    uuid NOT NULL,
    username   text NOT NULL,
    finding_id uuid NOT NULL,
    read_at    timestamptz NOT NULL DEFAULT now()
);
