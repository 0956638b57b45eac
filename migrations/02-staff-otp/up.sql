-- Staff accounts and one-time passcodes (issue 3).

-- Staff who sign in at a desk. There is no default account: the first admin is
-- created by `frontdesk init` or the app's first run, and only while this table
-- is empty. Rows are never deleted (the audit log names them); `active = 0`
-- ends an account.
CREATE TABLE staff (
    id            INTEGER PRIMARY KEY,
    -- compared case-insensitively: "Rita" and "rita" are one account
    username      TEXT    NOT NULL COLLATE NOCASE UNIQUE CHECK (length(username) BETWEEN 1 AND 64),
    display_name  TEXT    NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    role          TEXT    NOT NULL CHECK (role IN ('ADMIN', 'RECEPTIONIST')),
    -- argon2id PHC string; never a plain password
    password_hash TEXT    NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    -- consecutive failed sign-ins, reserved before the password is checked so that
    -- parallel attempts cannot exceed the limit; reset to 0 by a success
    failed_logins INTEGER NOT NULL DEFAULT 0 CHECK (failed_logins BETWEEN 0 AND 5),
    -- set when failed_logins reaches 5: no sign-in until then (Unix seconds)
    locked_until  INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

-- The live passcode of a phone. `phone` is the primary key, so a phone can never
-- have two live codes: a new request replaces the row. Only the argon2id hash of
-- the code is stored; the row is deleted when the code is used.
CREATE TABLE otp_code (
    phone      TEXT    PRIMARY KEY CHECK (phone GLOB '+[1-9]*'),
    code_hash  TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL CHECK (expires_at > created_at),
    -- verification attempts reserved so far (before each hash check)
    attempts   INTEGER NOT NULL DEFAULT 0 CHECK (attempts BETWEEN 0 AND 5),
    created_by TEXT    NOT NULL
) STRICT;

-- Every accepted passcode request, for the rate limits (60 s apart, 5 an hour
-- per phone). Rows older than an hour are pruned by the next request.
CREATE TABLE otp_request (
    id           INTEGER PRIMARY KEY,
    phone        TEXT    NOT NULL,
    requested_at INTEGER NOT NULL
) STRICT;

CREATE INDEX otp_request_by_phone ON otp_request (phone, requested_at);

-- Messages waiting for the sender. `body` holds the passcode text only until the
-- message is sent or given up; then it is blanked with secure_delete on and the
-- WAL is checkpointed, so the code leaves the file's bytes (see src/ops/otp.rs).
CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY,
    phone       TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    -- QUEUED waits for the sender; SENDING is claimed by one desk (claimed_at) so
    -- two desks never send the same message; SENT and FAILED are final
    status      TEXT    NOT NULL DEFAULT 'QUEUED' CHECK (status IN ('QUEUED', 'SENDING', 'SENT', 'FAILED')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    claimed_at  INTEGER,
    last_error  TEXT,
    created_at  INTEGER NOT NULL,
    sent_at     INTEGER,
    -- a sent or failed message keeps no text (the passcode is gone with it)
    CHECK (status IN ('QUEUED', 'SENDING') OR body = '')
) STRICT;

CREATE INDEX outbox_pending ON outbox (status, id) WHERE status <> 'SENT';
