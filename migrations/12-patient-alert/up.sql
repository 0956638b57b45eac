-- A patient alert the desk must see before booking or checking in (an allergy,
-- "needs a wheelchair", "interpreter: Turkish"): shown in the booking drawer and the
-- appointment panel, not only on the Patients screen. Empty: no alert.
ALTER TABLE patient ADD COLUMN alert TEXT NOT NULL DEFAULT ''
    CHECK (length(alert) <= 200);
