-- Appointment reminders: one text message per appointment and slot start, sent
-- through the passcode outbox and sender (src/ops/reminders.rs).

-- A patient who asked for no reminders (an admin or the desk ticks "No reminders").
ALTER TABLE patient ADD COLUMN reminders_opt_out INTEGER NOT NULL DEFAULT 0
    CHECK (reminders_opt_out IN (0, 1));

-- What an outbox message is: a passcode (every row before this migration) or a
-- reminder. The passcode sweep (expiry, retries) touches only passcodes; reminder
-- messages are claimed, retried and given up by the reminder run alone.
ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'OTP'
    CHECK (kind IN ('OTP', 'REMINDER'));

-- One reminder per appointment and slot start: the UNIQUE key is the exactly-once
-- guarantee. It is inserted, already claimed, in the write transaction that finds
-- it due, so two desks (or CLI runs) can never both send it; a reschedule moves the
-- appointment to another start, and a reminder for the new start is due.
-- SENDING: one run is sending it (its outbox row holds the claim); SENT and FAILED
-- record the last attempt. A FAILED reminder is tried again (a new outbox row) up
-- to 3 attempts while its appointment is open and ahead.
CREATE TABLE reminder (
    id             INTEGER PRIMARY KEY,
    appointment_id INTEGER NOT NULL REFERENCES appointment (id),
    -- the slot start it reminds of (Unix seconds UTC)
    start_at       INTEGER NOT NULL,
    -- the outbox message of the latest attempt
    outbox_id      INTEGER NOT NULL REFERENCES outbox (id),
    status         TEXT    NOT NULL CHECK (status IN ('SENDING', 'SENT', 'FAILED')),
    attempts       INTEGER NOT NULL DEFAULT 1 CHECK (attempts BETWEEN 1 AND 3),
    last_error     TEXT,
    created_at     INTEGER NOT NULL,
    -- when the latest attempt was claimed
    attempted_at   INTEGER NOT NULL,
    -- the appointment's newest status-history row when the latest attempt was
    -- claimed (the appointment was open then): `check` verifies no claim came
    -- after a cancellation by row order, whatever the desks' clocks say
    history_id     INTEGER NOT NULL REFERENCES appointment_status_history (id),
    sent_at        INTEGER,
    CHECK ((status = 'SENT') = (sent_at IS NOT NULL)),
    UNIQUE (appointment_id, start_at)
) STRICT;

-- retries: failed reminders of starts still ahead (given-up ones of past
-- appointments stay out of the range scanned)
CREATE INDEX reminder_unsent ON reminder (status, start_at) WHERE status <> 'SENT';
CREATE INDEX reminder_by_outbox ON reminder (outbox_id);
