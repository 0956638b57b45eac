-- Who last changed a patient record, so a desk whose edit lost a race is told
-- "changed by X" rather than "by another desk". Empty until the first change.
ALTER TABLE patient ADD COLUMN updated_by TEXT NOT NULL DEFAULT '';
