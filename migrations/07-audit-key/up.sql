-- A random identity per clinic database. The audit key and the audit head anchor,
-- which live outside the database (src/audit_key.rs), are filed under it; a backup
-- of this clinic keeps it, so it is verified with the same key.
INSERT OR IGNORE INTO setting (key, value) VALUES ('clinic.id', lower(hex(randomblob(16))));

-- 1 when `hash` is an HMAC-SHA-256 under the clinic's audit key (every row written
-- since the key existed); 0 for rows chained with plain SHA-256 before it.
ALTER TABLE audit_event ADD COLUMN keyed INTEGER NOT NULL DEFAULT 0;

-- The state the audited change left its record in, e.g. 'status=CONFIRMED version=3'
-- for an appointment, 'role=ADMIN active=1' for a staff member, 'version=4' for a
-- patient; part of the MAC. `check` compares every record with the state its last
-- audit row recorded, so a change made behind the app's back is named.
ALTER TABLE audit_event ADD COLUMN state TEXT NOT NULL DEFAULT '';

-- The SHA-256 of every backup Frontdesk wrote (and of every safety copy a restore
-- kept), so a restore can tell its own backups from files it did not write.
ALTER TABLE backup_run ADD COLUMN sha256 TEXT NOT NULL DEFAULT '';
