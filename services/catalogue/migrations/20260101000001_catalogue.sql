-- The unit directory (单位名录). A unit's code extends its parent's code, so a
-- subtree is a prefix range on `code`.
CREATE TABLE units (
    code        text PRIMARY KEY,
    name        text NOT NULL CHECK (name <> ''),
    level       text NOT NULL CHECK (level IN ('province', 'city', 'county', 'township', 'village', 'department')),
    parent_code text REFERENCES units (code) DEFERRABLE INITIALLY DEFERRED,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (parent_code IS NULL OR (starts_with(code, parent_code) AND code <> parent_code))
);
CREATE INDEX units_children ON units (parent_code, code);
CREATE INDEX units_prefix ON units (code text_pattern_ops);

-- Notices (通知). The id is a UUIDv7, so ordering by id is ordering by time.
CREATE TABLE documents (
    id              uuid PRIMARY KEY,
    doc_number      text NOT NULL UNIQUE,
    title           text NOT NULL,
    issuer          text NOT NULL,
    issued_on       date NOT NULL,
    area            text NOT NULL REFERENCES units (code),
    editorial_notes jsonb NOT NULL DEFAULT '[]',
    -- Household names in the texts, masked for readers without clearance.
    personal_names  jsonb NOT NULL DEFAULT '[]',
    published_by    text NOT NULL,
    published_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE aspects (
    document_id uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    seq         integer NOT NULL CHECK (seq > 0),
    name        text NOT NULL,
    PRIMARY KEY (document_id, seq)
);

CREATE TABLE problems (
    id               uuid PRIMARY KEY,
    document_id      uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    seq              integer NOT NULL CHECK (seq > 0),
    aspect_seq       integer NOT NULL,
    title            text NOT NULL,
    manifestation    text NOT NULL,
    responsible_text text NOT NULL DEFAULT '',
    due_on           date,
    continuing       boolean NOT NULL DEFAULT false,
    UNIQUE (document_id, seq),
    FOREIGN KEY (document_id, aspect_seq) REFERENCES aspects (document_id, seq)
);

CREATE TABLE measures (
    problem_id uuid NOT NULL REFERENCES problems (id) ON DELETE CASCADE,
    seq        integer NOT NULL CHECK (seq > 0),
    text       text NOT NULL,
    PRIMARY KEY (problem_id, seq)
);

-- The responsible units of a problem after expansion (各乡镇 → every township).
CREATE TABLE problem_units (
    problem_id uuid NOT NULL REFERENCES problems (id) ON DELETE CASCADE,
    unit_code  text NOT NULL REFERENCES units (code),
    lead       boolean NOT NULL,
    position   integer NOT NULL,
    PRIMARY KEY (problem_id, unit_code)
);
CREATE INDEX problem_units_unit ON problem_units (unit_code);

-- Seed data applied once (the shipped directory, the founding notice).
CREATE TABLE seeds (
    name       text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
