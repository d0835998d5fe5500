-- The units of a campaign's area that hold no ledger of it (the cities and
-- counties between the area and its townships), named as at the campaign's
-- start like its ledgers' units, so that its dashboards name every row
-- without asking the directory. Campaigns started before keep asking it.
CREATE TABLE campaign_units (
    campaign_id uuid NOT NULL REFERENCES campaigns,
    code        text COLLATE "C" NOT NULL,
    name        text NOT NULL,
    level       text NOT NULL,
    PRIMARY KEY (campaign_id, code)
);
