-- Indexed columns for the case query (storage/case_query.rs), derived from the JSON body.
-- Times are microseconds since the epoch, as in the SQLite schema, so both backends run the same
-- query text; due_us is the running deadline, 9223372036854775807 when nothing is due. The
-- storage code backfills existing rows in the same transaction (IndexColumns::of, the same code
-- as ingest).
ALTER TABLE cases ADD COLUMN category TEXT NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN is_open BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE cases ADD COLUMN reported_at_us BIGINT NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN updated_at_us BIGINT NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN due_us BIGINT NOT NULL DEFAULT 9223372036854775807;
ALTER TABLE cases ADD COLUMN assigned_unit TEXT;
ALTER TABLE cases ADD COLUMN search_text TEXT NOT NULL DEFAULT '';

-- Every unit a case was ever dispatched to (department visibility), one row per pair.
CREATE TABLE case_units (
    unit_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    PRIMARY KEY (unit_id, case_id)
);

CREATE INDEX cases_estate_reported ON cases(estate_id, reported_at_us, id);
CREATE INDEX cases_estate_due ON cases(estate_id, due_us, id);
CREATE INDEX cases_reported ON cases(reported_at_us, id);
CREATE INDEX cases_due ON cases(due_us, id);
