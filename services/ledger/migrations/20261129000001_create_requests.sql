-- Which finding a keyed create request made: a client that lost the answer
-- (the ledger died after its commit) and asks again gets the same finding,
-- never a second one. Written in the transaction that creates the finding.
CREATE TABLE create_requests (
    request_key text PRIMARY KEY,
    finding_id  uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
