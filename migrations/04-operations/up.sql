-- Operations: the record of every backup this database was copied into.
--
-- The backup folder is the truth about which backups exist (files can be moved or
-- deleted by hand); this table is the history the admin screen shows and what
-- "is a backup due?" consults, including backups written to a path outside the
-- folder (`frontdesk backup /media/usb`), which retention never touches.
-- Restores are recorded in the audit log of the restored database instead: this
-- table is part of what a restore replaces.

CREATE TABLE backup_run (
    id       INTEGER PRIMARY KEY,
    -- when the backup snapshot was taken (Unix seconds UTC)
    at       INTEGER NOT NULL,
    -- the file written (full path as it was at the time)
    file     TEXT    NOT NULL CHECK (length(file) BETWEEN 1 AND 4096),
    bytes    INTEGER NOT NULL CHECK (bytes >= 0),
    -- writing plus the integrity check of the copy
    millis   INTEGER NOT NULL CHECK (millis >= 0),
    -- 1 when written into the backup folder (subject to retention)
    in_folder INTEGER NOT NULL CHECK (in_folder IN (0, 1)),
    actor    TEXT    NOT NULL
) STRICT;

CREATE INDEX backup_run_by_at ON backup_run (at);
