-- Issue 13: case numbers (案件编号) such as 和平-20261204-0012, given by the server when it ingests
-- a case's REPORT (policy::case_number): the district's short name, the Beijing day of the
-- server time, and a sequence per district and day from 1. A number is never reused or changed:
-- it is unique, written with the case row and left out of the row's later updates.
ALTER TABLE cases ADD COLUMN number TEXT;
CREATE UNIQUE INDEX cases_number ON cases(number);

-- The last sequence drawn per (district short name, Beijing day YYYYMMDD). Ingest draws the next
-- one in the case's write transaction with one upsert (storage/sql.rs NEXT_CASE_NUMBER), so two
-- concurrent transactions never draw the same value. The storage code numbers existing cases in
-- the same transaction, in reported order (ops::backfill_case_numbers).
CREATE TABLE case_number_counters (
    district TEXT NOT NULL,
    day TEXT NOT NULL,
    last BIGINT NOT NULL,
    PRIMARY KEY (district, day)
);
