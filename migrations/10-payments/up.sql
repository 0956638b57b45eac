-- Payments: prices per appointment type, a ledger nobody can edit, receipt numbers
-- without gaps, and the till's daily cash-up. Money is integer minor units (cents)
-- in the clinic's currency, never a float. See docs/SCHEMA.md, "Payments".

-- What the clinic offers and what it costs. A doctor may have their own price.
CREATE TABLE appointment_type (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL UNIQUE COLLATE NOCASE CHECK (length(name) BETWEEN 1 AND 80),
    price_minor    INTEGER NOT NULL CHECK (price_minor BETWEEN 0 AND 100000000),
    default_reason TEXT    NOT NULL DEFAULT '',
    active         INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_by     TEXT    NOT NULL,
    created_at     INTEGER NOT NULL
) STRICT;

CREATE TABLE doctor_price (
    doctor_id   INTEGER NOT NULL REFERENCES doctor (id),
    type_id     INTEGER NOT NULL REFERENCES appointment_type (id),
    price_minor INTEGER NOT NULL CHECK (price_minor BETWEEN 0 AND 100000000),
    PRIMARY KEY (doctor_id, type_id)
) STRICT;

-- The type an appointment was booked as (none for bookings without a price).
ALTER TABLE appointment ADD COLUMN type_id INTEGER REFERENCES appointment_type (id);

-- Every charge, waiver, payment and refund is a new row; nothing is updated or
-- deleted. A row always belongs to an appointment (the foreign key): there is no
-- payment without its booking.
--   CHARGE  what the appointment costs (written when it is booked with a type)
--   WAIVE   a charge no longer owed (the appointment was cancelled)
--   PAYMENT money received, with its method and receipt number
--   REFUND  money given back, linked to the payment it returns, with a reason
CREATE TABLE ledger (
    id             INTEGER PRIMARY KEY,
    appointment_id INTEGER NOT NULL REFERENCES appointment (id),
    patient_id     INTEGER NOT NULL REFERENCES patient (id),
    kind           TEXT    NOT NULL CHECK (kind IN ('CHARGE', 'WAIVE', 'PAYMENT', 'REFUND')),
    amount_minor   INTEGER NOT NULL CHECK (amount_minor BETWEEN 1 AND 100000000),
    currency       TEXT    NOT NULL CHECK (length(currency) = 3),
    method         TEXT CHECK (method IN ('CASH', 'CARD', 'TRANSFER', 'INVOICE', 'INSURANCE')),
    -- the card terminal's receipt number, a transfer's reference
    reference      TEXT    NOT NULL DEFAULT '',
    refund_of      INTEGER REFERENCES ledger (id),
    reason         TEXT    NOT NULL DEFAULT '',
    -- payments and refunds are numbered per calendar year (the clinic's), 1, 2, 3…
    receipt_year   INTEGER,
    receipt_no     INTEGER,
    -- who took it (the signed-in staff account), for the cash-up
    desk           TEXT    NOT NULL,
    created_by     TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    -- the clinic-local day it was taken on (YYYY-MM-DD), for the cash-up
    day            TEXT    NOT NULL,
    CHECK ((kind IN ('PAYMENT', 'REFUND')) = (method IS NOT NULL)),
    CHECK ((kind IN ('PAYMENT', 'REFUND')) = (receipt_no IS NOT NULL AND receipt_year IS NOT NULL)),
    CHECK ((kind = 'REFUND') = (refund_of IS NOT NULL)),
    CHECK (kind <> 'REFUND' OR reason <> ''),
    UNIQUE (receipt_year, receipt_no)
) STRICT;

CREATE INDEX ledger_by_appointment ON ledger (appointment_id);
CREATE INDEX ledger_by_patient ON ledger (patient_id);
CREATE INDEX ledger_by_day ON ledger (day, desk);

CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only: a correction is a new row');
END;

CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only: a correction is a new row');
END;

-- Closing the till: per desk (staff account), clinic-local day and method, the
-- cash the ledger expects and what was counted. Closing again adds new rows (the
-- newest count stands); nothing is changed or deleted.
CREATE TABLE cash_up (
    id             INTEGER PRIMARY KEY,
    desk           TEXT    NOT NULL,
    day            TEXT    NOT NULL,
    method         TEXT    NOT NULL CHECK (method IN ('CASH', 'CARD', 'TRANSFER', 'INVOICE', 'INSURANCE')),
    expected_minor INTEGER NOT NULL,
    counted_minor  INTEGER NOT NULL,
    currency       TEXT    NOT NULL CHECK (length(currency) = 3),
    note           TEXT    NOT NULL DEFAULT '',
    created_by     TEXT    NOT NULL,
    created_at     INTEGER NOT NULL
) STRICT;

CREATE INDEX cash_up_by_day ON cash_up (day, desk);

CREATE TRIGGER cash_up_no_update BEFORE UPDATE ON cash_up
BEGIN
    SELECT RAISE(ABORT, 'a cash-up is never changed: close the till again');
END;

CREATE TRIGGER cash_up_no_delete BEFORE DELETE ON cash_up
BEGIN
    SELECT RAISE(ABORT, 'a cash-up is never changed: close the till again');
END;
