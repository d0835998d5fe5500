-- The bytes of every kept file (evidence and hand-in reports), in chunks,
-- written in the upload's transaction together with the row that describes
-- them.
ALTER TABLE evidence_chunks RENAME TO file_chunks;
ALTER TABLE file_chunks RENAME COLUMN evidence_id TO file_id;
ALTER TABLE file_chunks DROP CONSTRAINT evidence_chunks_evidence_id_fkey;

-- 上报: a unit hands in its complete ledger and its 整改报告. The first
-- hand-in is what the milestone counts; later ones (after corrections) are
-- kept beside it.
CREATE TABLE hand_ins (
    id            uuid PRIMARY KEY,
    ledger_id     uuid NOT NULL REFERENCES ledgers,
    milestone_id  uuid,
    note          text NOT NULL DEFAULT '',
    file_name     text NOT NULL,
    declared_type text NOT NULL,
    content_type  text NOT NULL,
    size          bigint NOT NULL,
    sha256        bytea NOT NULL,
    findings      integer NOT NULL,
    closed        integer NOT NULL,
    history_seq   bigint NOT NULL,
    handed_in_by  text NOT NULL,
    handed_in_at  timestamptz NOT NULL
);
CREATE INDEX hand_ins_ledger ON hand_ins (ledger_id, handed_in_at);
