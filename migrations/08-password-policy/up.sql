-- Passwords and sessions after NIST SP 800-63B (issue 11 §6).
--
-- The staff table is rebuilt (SQLite cannot change a CHECK constraint):
-- failed_logins was capped at 5, the old limit that locked an account for 15
-- minutes. Now failed sign-ins make the next attempt wait longer and longer, and
-- only many of them (20) lock the account, until an admin unlocks it.
CREATE TABLE staff_new (
    id            INTEGER PRIMARY KEY,
    -- compared case-insensitively: "Rita" and "rita" are one account
    username      TEXT    NOT NULL COLLATE NOCASE UNIQUE CHECK (length(username) BETWEEN 1 AND 64),
    display_name  TEXT    NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    role          TEXT    NOT NULL CHECK (role IN ('ADMIN', 'RECEPTIONIST')),
    -- argon2id PHC string; never a plain password
    password_hash TEXT    NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    -- consecutive failed sign-ins, reserved before the password is checked so that
    -- parallel attempts cannot outrun the delays; reset to 0 by a success
    failed_logins INTEGER NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    -- when the newest of them was reserved (Unix seconds): the next attempt waits
    -- a delay that grows with failed_logins, counted from here
    last_failed_at INTEGER,
    -- set when failed_logins reaches 20: no sign-in until an admin unlocks it or
    -- resets the password (Unix seconds)
    locked_at     INTEGER,
    -- 1 after an admin set the password: the person must choose a new one before
    -- doing anything else
    must_change_password INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1)),
    -- raised by a password reset or change, a deactivation and a role change; a
    -- desk session remembers the number it started with and ends when it differs
    session_generation INTEGER NOT NULL DEFAULT 0 CHECK (session_generation >= 0),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

INSERT INTO staff_new (id, username, display_name, role, password_hash, active,
                       failed_logins, created_at, updated_at)
SELECT id, username, display_name, role, password_hash, active,
       failed_logins, created_at, updated_at
FROM staff;

DROP TABLE staff;
ALTER TABLE staff_new RENAME TO staff;

-- Failed sign-ins under usernames that have no account, counted exactly like an
-- account's, so that an unknown name and a wrong password get the same answers
-- (the same delays, the same lock) and nobody learns which names exist. Like an
-- account's count, one whose last failure is a day old is forgotten (rows that are
-- not locked are then deleted).
CREATE TABLE sign_in_throttle (
    username       TEXT    PRIMARY KEY COLLATE NOCASE CHECK (length(username) BETWEEN 1 AND 64),
    failed_logins  INTEGER NOT NULL CHECK (failed_logins >= 1),
    last_failed_at INTEGER NOT NULL,
    locked_at      INTEGER
) STRICT;
