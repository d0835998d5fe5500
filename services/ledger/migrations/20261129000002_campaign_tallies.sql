-- The dashboard's roll-up (汇总): each campaign's ledger counters summed per
-- township (a department or a ledger above the townships keeps a row of its
-- own), so a county, a province or the nation reads some thousand rows, not
-- every ledger. Kept by triggers in the same transaction as the ledger
-- counters they sum, whichever statement changes them.
CREATE TABLE campaign_tallies (
    campaign_id       uuid NOT NULL REFERENCES campaigns,
    -- The township a ledger lies in (its first 9 digits), or its own code
    -- when it has none: a department, the area's own ledger.
    area_key          text COLLATE "C" NOT NULL,
    ledgers           bigint NOT NULL DEFAULT 0,
    ledgers_complete  bigint NOT NULL DEFAULT 0,
    sections          bigint NOT NULL DEFAULT 0,
    sections_answered bigint NOT NULL DEFAULT 0,
    findings          bigint NOT NULL DEFAULT 0,
    open              bigint NOT NULL DEFAULT 0,
    in_progress       bigint NOT NULL DEFAULT 0,
    submitted         bigint NOT NULL DEFAULT 0,
    verified          bigint NOT NULL DEFAULT 0,
    closed            bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, area_key)
);

CREATE FUNCTION tally_key(code text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN strpos(code, 'D') BETWEEN 1 AND 9 THEN code ELSE left(code, 9) END;

-- New ledgers (a campaign's fan-out inserts them in one statement).
CREATE FUNCTION tally_ledgers_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO campaign_tallies AS t (campaign_id, area_key, ledgers, ledgers_complete, sections,
                                       sections_answered, findings, open, in_progress, submitted, verified, closed)
    SELECT campaign_id, tally_key(unit_code), count(*), count(*) FILTER (WHERE sections_answered = sections),
           sum(sections), sum(sections_answered), sum(findings), sum(open), sum(in_progress),
           sum(submitted), sum(verified), sum(closed)
      FROM added GROUP BY 1, 2
    ON CONFLICT (campaign_id, area_key) DO UPDATE SET
        ledgers = t.ledgers + EXCLUDED.ledgers, ledgers_complete = t.ledgers_complete + EXCLUDED.ledgers_complete,
        sections = t.sections + EXCLUDED.sections, sections_answered = t.sections_answered + EXCLUDED.sections_answered,
        findings = t.findings + EXCLUDED.findings, open = t.open + EXCLUDED.open,
        in_progress = t.in_progress + EXCLUDED.in_progress, submitted = t.submitted + EXCLUDED.submitted,
        verified = t.verified + EXCLUDED.verified, closed = t.closed + EXCLUDED.closed;
    RETURN NULL;
END $$;
CREATE TRIGGER ledgers_tally_added AFTER INSERT ON ledgers
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION tally_ledgers_added();

-- A ledger's counters moved (one finding created, moved or a section answered).
CREATE FUNCTION tally_ledger_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE campaign_tallies SET
        ledgers_complete = ledgers_complete + (NEW.sections_answered = NEW.sections)::int
                                            - (OLD.sections_answered = OLD.sections)::int,
        sections = sections + NEW.sections - OLD.sections,
        sections_answered = sections_answered + NEW.sections_answered - OLD.sections_answered,
        findings = findings + NEW.findings - OLD.findings,
        open = open + NEW.open - OLD.open,
        in_progress = in_progress + NEW.in_progress - OLD.in_progress,
        submitted = submitted + NEW.submitted - OLD.submitted,
        verified = verified + NEW.verified - OLD.verified,
        closed = closed + NEW.closed - OLD.closed
     WHERE campaign_id = NEW.campaign_id AND area_key = tally_key(NEW.unit_code);
    RETURN NULL;
END $$;
CREATE TRIGGER ledgers_tally_changed
    AFTER UPDATE OF sections, sections_answered, findings, open, in_progress, submitted, verified, closed ON ledgers
    FOR EACH ROW
    WHEN ((OLD.sections, OLD.sections_answered, OLD.findings, OLD.open, OLD.in_progress, OLD.submitted, OLD.verified, OLD.closed)
          IS DISTINCT FROM
          (NEW.sections, NEW.sections_answered, NEW.findings, NEW.open, NEW.in_progress, NEW.submitted, NEW.verified, NEW.closed))
    EXECUTE FUNCTION tally_ledger_changed();

-- Ledgers are never deleted nor moved to another unit or campaign; refuse it
-- rather than let the roll-up drift.
CREATE FUNCTION ledgers_stay_put() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a ledger is never deleted nor moved to another unit or campaign';
END $$;
CREATE TRIGGER ledgers_stay_put BEFORE DELETE OR UPDATE OF campaign_id, unit_code ON ledgers
    FOR EACH ROW EXECUTE FUNCTION ledgers_stay_put();

INSERT INTO campaign_tallies (campaign_id, area_key, ledgers, ledgers_complete, sections, sections_answered,
                              findings, open, in_progress, submitted, verified, closed)
SELECT campaign_id, tally_key(unit_code), count(*), count(*) FILTER (WHERE sections_answered = sections),
       sum(sections), sum(sections_answered), sum(findings), sum(open), sum(in_progress),
       sum(submitted), sum(verified), sum(closed)
  FROM ledgers GROUP BY 1, 2;
