-- Scheduling the way clinics work (issue 5): weekly templates, time off, slots
-- generated from them, recurring series, the waitlist.
-- Wall-clock times of day are INTEGER minutes after local midnight (0..1440) in the
-- clinic's time zone; calendar dates are clinic-local TEXT 'YYYY-MM-DD' (they sort
-- and compare as text). Instants stay INTEGER Unix seconds UTC, as in 01-core.

-- One block of a doctor's regular week: every <weekday> from <start> to <end>, cut
-- into <slot_minutes> slots. A doctor may have several (a morning and an afternoon);
-- the core refuses two of one doctor that overlap on the same weekday. Templates
-- are never edited in place: remove and add, so a removed template's id is gone.
CREATE TABLE schedule_template (
    id           INTEGER PRIMARY KEY,
    doctor_id    INTEGER NOT NULL REFERENCES doctor (id),
    -- ISO weekday: 1 = Monday … 7 = Sunday
    weekday      INTEGER NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    start_minute INTEGER NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
    -- 1440 = midnight at the end of the day; templates never cross midnight
    end_minute   INTEGER NOT NULL CHECK (end_minute BETWEEN 1 AND 1440),
    slot_minutes INTEGER NOT NULL CHECK (slot_minutes BETWEEN 5 AND 480),
    mode         TEXT    NOT NULL DEFAULT 'IN_PERSON' CHECK (mode IN ('IN_PERSON', 'VIDEO', 'PHONE')),
    created_by   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    CHECK (end_minute > start_minute)
) STRICT;

CREATE INDEX template_by_doctor ON schedule_template (doctor_id, weekday);

-- Breaks inside a template (lunch): no slot that touches a break is generated.
CREATE TABLE schedule_template_break (
    template_id  INTEGER NOT NULL REFERENCES schedule_template (id) ON DELETE CASCADE,
    start_minute INTEGER NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute   INTEGER NOT NULL CHECK (end_minute BETWEEN 1 AND 1440),
    CHECK (end_minute > start_minute),
    PRIMARY KEY (template_id, start_minute)
) STRICT, WITHOUT ROWID;

-- Days (or part of each day, for a half day) on which no slot is generated: a
-- doctor's leave, or the whole clinic's holiday when doctor_id IS NULL.
CREATE TABLE time_off (
    id           INTEGER PRIMARY KEY,
    doctor_id    INTEGER REFERENCES doctor (id),
    -- inclusive, clinic-local dates
    from_date    TEXT    NOT NULL CHECK (from_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    to_date      TEXT    NOT NULL CHECK (to_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    -- both NULL: the whole day; otherwise only this local time range of each day
    start_minute INTEGER CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute   INTEGER CHECK (end_minute BETWEEN 1 AND 1440),
    note         TEXT    NOT NULL DEFAULT '',
    created_by   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    CHECK (to_date >= from_date),
    CHECK ((start_minute IS NULL) = (end_minute IS NULL)),
    CHECK (end_minute > start_minute)
) STRICT;

CREATE INDEX time_off_by_dates ON time_off (to_date, from_date);

-- Which template generated a slot (NULL: added by hand). Regeneration removes only
-- free future slots that a template generated and that no template wants any more;
-- hand-made slots are never touched. No REFERENCES: the template may have been
-- removed since, and its slots must still be recognisable as generated.
ALTER TABLE slot ADD COLUMN template_id INTEGER;

-- A recurring series: the same patient with the same doctor every N weeks.
CREATE TABLE appointment_series (
    id          INTEGER PRIMARY KEY,
    patient_id  INTEGER NOT NULL REFERENCES patient (id),
    doctor_id   INTEGER NOT NULL REFERENCES doctor (id),
    every_weeks INTEGER NOT NULL CHECK (every_weeks BETWEEN 1 AND 52),
    created_by  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

-- The series an appointment belongs to, if any.
ALTER TABLE appointment ADD COLUMN series_id INTEGER REFERENCES appointment_series (id);

CREATE INDEX appointment_by_series ON appointment (series_id) WHERE series_id IS NOT NULL;

-- Patients waiting for a doctor, optionally within dates and a time of day. First
-- come, first served: matches are offered oldest first (created_at, then id).
-- An entry is closed by booking it (status BOOKED, naming the appointment, in the
-- booking's own transaction) or by removing it.
CREATE TABLE waitlist_entry (
    id             INTEGER PRIMARY KEY,
    patient_id     INTEGER NOT NULL REFERENCES patient (id),
    doctor_id      INTEGER NOT NULL REFERENCES doctor (id),
    from_date      TEXT,
    to_date        TEXT,
    start_minute   INTEGER CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute     INTEGER CHECK (end_minute BETWEEN 1 AND 1440),
    note           TEXT    NOT NULL DEFAULT '',
    status         TEXT    NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'BOOKED', 'REMOVED')),
    appointment_id INTEGER REFERENCES appointment (id),
    created_by     TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    closed_by      TEXT,
    closed_at      INTEGER,
    CHECK (from_date IS NULL OR to_date IS NULL OR to_date >= from_date),
    CHECK ((start_minute IS NULL) = (end_minute IS NULL)),
    CHECK (end_minute > start_minute),
    -- a booked entry names its appointment; only a booked one does
    CHECK ((status = 'BOOKED') = (appointment_id IS NOT NULL)),
    CHECK ((status = 'OPEN') = (closed_at IS NULL))
) STRICT;

CREATE INDEX waitlist_open_by_doctor ON waitlist_entry (doctor_id, created_at, id) WHERE status = 'OPEN';
CREATE INDEX waitlist_by_patient ON waitlist_entry (patient_id);
