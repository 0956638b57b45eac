-- Frontdesk core schema: clinic settings, doctors, slots, patients, appointments,
-- the appointment status history and the append-only, hash-chained audit log.
-- Every time is an INTEGER of Unix seconds in UTC; the clinic's time zone is a
-- setting used only for display and for turning local wall-clock times into UTC.
-- See docs/SCHEMA.md for the essay on each table.

CREATE TABLE setting (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE doctor (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    specialty  TEXT    NOT NULL DEFAULT '',
    active     INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE slot (
    id         INTEGER PRIMARY KEY,
    doctor_id  INTEGER NOT NULL REFERENCES doctor (id),
    start_at   INTEGER NOT NULL,
    end_at     INTEGER NOT NULL,
    mode       TEXT    NOT NULL DEFAULT 'IN_PERSON' CHECK (mode IN ('IN_PERSON', 'VIDEO', 'PHONE')),
    blocked    INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1)),
    created_at INTEGER NOT NULL,
    CHECK (end_at > start_at),
    -- slots are at most a day long; the overlap trigger's index range relies on it
    CHECK (end_at - start_at <= 86400),
    -- lets appointment(slot_id, doctor_id) reference a slot together with its doctor
    UNIQUE (id, doctor_id)
) STRICT;

CREATE INDEX slot_by_doctor_start ON slot (doctor_id, start_at);
CREATE INDEX slot_by_start ON slot (start_at);

-- Second line of defence behind the in-transaction check: one doctor's slots never
-- overlap. Slots are at most a day long, so the index range scan stays tiny.
CREATE TRIGGER slot_no_overlap_insert BEFORE INSERT ON slot
WHEN EXISTS (SELECT 1 FROM slot s
             WHERE s.doctor_id = NEW.doctor_id
               AND s.start_at < NEW.end_at AND s.end_at > NEW.start_at
               AND s.start_at > NEW.start_at - 86400)
BEGIN
    SELECT RAISE(ABORT, 'slot overlaps another slot of this doctor');
END;

CREATE TRIGGER slot_no_overlap_update BEFORE UPDATE OF doctor_id, start_at, end_at ON slot
WHEN EXISTS (SELECT 1 FROM slot s
             WHERE s.doctor_id = NEW.doctor_id AND s.id <> NEW.id
               AND s.start_at < NEW.end_at AND s.end_at > NEW.start_at
               AND s.start_at > NEW.start_at - 86400)
BEGIN
    SELECT RAISE(ABORT, 'slot overlaps another slot of this doctor');
END;

CREATE TABLE patient (
    id                INTEGER PRIMARY KEY,
    name              TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    phone             TEXT    NOT NULL CHECK (phone GLOB '+[1-9]*'),
    phone_verified_at INTEGER,
    phone_verified_by TEXT,
    date_of_birth     TEXT,
    notes             TEXT    NOT NULL DEFAULT '',
    version           INTEGER NOT NULL DEFAULT 1,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
) STRICT;

CREATE INDEX patient_by_phone ON patient (phone);

-- Word-prefix search over patient names ("gar" finds "Maria García").
CREATE VIRTUAL TABLE patient_name_fts USING fts5 (
    name,
    content = 'patient',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '1 2 3'
);

CREATE TRIGGER patient_fts_insert AFTER INSERT ON patient BEGIN
    INSERT INTO patient_name_fts (rowid, name) VALUES (NEW.id, NEW.name);
END;

CREATE TRIGGER patient_fts_update AFTER UPDATE OF name ON patient BEGIN
    INSERT INTO patient_name_fts (patient_name_fts, rowid, name) VALUES ('delete', OLD.id, OLD.name);
    INSERT INTO patient_name_fts (rowid, name) VALUES (NEW.id, NEW.name);
END;

CREATE TRIGGER patient_fts_delete AFTER DELETE ON patient BEGIN
    INSERT INTO patient_name_fts (patient_name_fts, rowid, name) VALUES ('delete', OLD.id, OLD.name);
END;

CREATE TABLE appointment (
    id            INTEGER PRIMARY KEY,
    slot_id       INTEGER NOT NULL,
    doctor_id     INTEGER NOT NULL,
    patient_id    INTEGER NOT NULL REFERENCES patient (id),
    status        TEXT    NOT NULL CHECK (status IN
                      ('PENDING', 'CONFIRMED', 'ARRIVED', 'COMPLETED', 'CANCELLED', 'NO_SHOW')),
    reason        TEXT    NOT NULL DEFAULT '',
    cancel_reason TEXT,
    -- 1 only for an admin's deliberate squeeze-in; such rows sit outside the unique index
    overbooked    INTEGER NOT NULL DEFAULT 0 CHECK (overbooked IN (0, 1)),
    version       INTEGER NOT NULL DEFAULT 1,
    created_by    TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_by    TEXT    NOT NULL,
    updated_at    INTEGER NOT NULL,
    -- the appointment's doctor is always its slot's doctor
    FOREIGN KEY (slot_id, doctor_id) REFERENCES slot (id, doctor_id)
) STRICT;

-- The second line of defence against double booking: at most one live ordinary
-- appointment per slot, whatever the application code does.
CREATE UNIQUE INDEX appointment_one_live_per_slot
    ON appointment (slot_id) WHERE status <> 'CANCELLED' AND overbooked = 0;

CREATE INDEX appointment_by_slot ON appointment (slot_id);
CREATE INDEX appointment_by_patient ON appointment (patient_id);
CREATE INDEX appointment_by_status ON appointment (status) WHERE status = 'PENDING';

CREATE TABLE appointment_status_history (
    id             INTEGER PRIMARY KEY,
    appointment_id INTEGER NOT NULL REFERENCES appointment (id),
    from_status    TEXT,
    to_status      TEXT    NOT NULL,
    from_slot_id   INTEGER,
    to_slot_id     INTEGER,
    note           TEXT    NOT NULL DEFAULT '',
    actor          TEXT    NOT NULL,
    at             INTEGER NOT NULL
) STRICT;

CREATE INDEX history_by_appointment ON appointment_status_history (appointment_id);

CREATE TABLE audit_event (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    entity    TEXT    NOT NULL,
    entity_id INTEGER,
    detail    TEXT    NOT NULL DEFAULT '',
    prev_hash TEXT    NOT NULL,
    hash      TEXT    NOT NULL
) STRICT;

CREATE INDEX audit_by_entity ON audit_event (entity, entity_id);
CREATE INDEX audit_by_at ON audit_event (at);

CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

-- Contention metrics of every process that used this file, merged: counters and
-- log-scale latency histograms (mergeable, unlike percentiles). Processes add their
-- figures at exit and periodically; see src/metrics.rs.
CREATE TABLE contention_counter (
    operation     TEXT PRIMARY KEY,
    count         INTEGER NOT NULL DEFAULT 0,
    busy_retries  INTEGER NOT NULL DEFAULT 0,
    timeouts      INTEGER NOT NULL DEFAULT 0,
    slot_taken    INTEGER NOT NULL DEFAULT 0,
    stale_version INTEGER NOT NULL DEFAULT 0,
    rate_limited  INTEGER NOT NULL DEFAULT 0,
    max_wait_us   INTEGER NOT NULL DEFAULT 0,
    max_hold_us   INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE contention_histogram (
    operation TEXT    NOT NULL,
    kind      TEXT    NOT NULL CHECK (kind IN ('wait', 'hold')),
    bucket    INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (operation, kind, bucket)
) STRICT, WITHOUT ROWID;
