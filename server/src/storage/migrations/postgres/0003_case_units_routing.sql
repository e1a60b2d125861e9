-- case_units now also holds the supervisor and co-responsible units a case's routing decision
-- names (IndexColumns::units_of), so those departments see the case. The storage code re-derives
-- case_units for every existing row in the same transaction. The index serves "which units
-- does this case involve".
CREATE INDEX IF NOT EXISTS case_units_case ON case_units(case_id, unit_id);
