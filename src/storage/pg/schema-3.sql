-- Frontdesk on a PostgreSQL server, schema version 3: the desks book through
-- fd_book (one round trip, READ COMMITTED, the slot row locked) while every other
-- change runs SERIALIZABLE (src/storage/pg/tx.rs). Two changes make the two
-- agree:
--
-- * The slot row is locked by updating it, not only by SELECT … FOR UPDATE. A
--   SERIALIZABLE change that decides on the slot from its snapshot ("block it if
--   nothing is booked in it") and then updates the row is refused by the server
--   ("concurrent update") when a booking updated the row after that snapshot, and
--   runs again, now seeing the booking. A row only locked would let it through.
-- * The audit row records the appointment's state, as every other audited change
--   does (schema 2's audit_event.state, in the format of src/storage/audit.rs
--   AUDITED), so `frontdesk check` compares each appointment with it.
CREATE OR REPLACE FUNCTION fd_book(p_key TEXT, p_slot BIGINT, p_patient BIGINT, p_reason TEXT, p_actor TEXT, p_now BIGINT,
                                   OUT out_id BIGINT, OUT out_wait_us BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    s   slot%ROWTYPE;
    aid BIGINT;
    st  TEXT;
    t0  TIMESTAMPTZ := clock_timestamp();
BEGIN
    UPDATE slot SET blocked = blocked WHERE id = p_slot RETURNING * INTO s;
    -- how long the slot's lock was waited for (the contention figures)
    out_wait_us := (extract(epoch FROM clock_timestamp() - t0) * 1000000)::BIGINT;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'slot' USING ERRCODE = 'FD404';
    END IF;
    SELECT id INTO out_id FROM appointment WHERE request_key = p_key;
    IF FOUND THEN
        RETURN;
    END IF;
    IF s.blocked THEN
        RAISE EXCEPTION 'blocked' USING ERRCODE = 'FDBLK';
    END IF;
    IF s.end_at <= p_now THEN
        RAISE EXCEPTION 'past' USING ERRCODE = 'FDPST';
    END IF;
    IF NOT (SELECT active FROM doctor WHERE id = s.doctor_id) THEN
        RAISE EXCEPTION 'doctor inactive' USING ERRCODE = 'FDDOC';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM patient WHERE id = p_patient) THEN
        RAISE EXCEPTION 'patient' USING ERRCODE = 'FD404';
    END IF;
    IF EXISTS (SELECT 1 FROM appointment
               WHERE slot_id = p_slot AND status <> 'CANCELLED' AND NOT overbooked) THEN
        RAISE EXCEPTION 'taken' USING ERRCODE = 'FD409';
    END IF;
    INSERT INTO appointment (slot_id, doctor_id, patient_id, status, reason, created_by, created_at, updated_by, updated_at, request_key)
    VALUES (p_slot, s.doctor_id, p_patient, 'PENDING', p_reason, p_actor, p_now, p_actor, p_now, p_key)
    RETURNING id, 'status=' || status || ' version=' || version || ' slot=' || slot_id || ' patient=' || patient_id
    INTO aid, st;
    INSERT INTO appointment_status_history (appointment_id, from_status, to_status, to_slot_id, actor, at)
    VALUES (aid, NULL, 'PENDING', p_slot, p_actor, p_now);
    INSERT INTO audit_event (at, actor, action, entity, entity_id, detail, state)
    VALUES (p_now, p_actor, 'appointment.book', 'appointment', aid, 'slot ' || p_slot, st);
    out_id := aid;
END $$;

-- `frontdesk check` compares each audited record with its last sealed audit row:
-- by record, not by a scan of the whole log per record.
CREATE INDEX audit_event_by_entity ON audit_event (entity, entity_id);

-- A restore's audit row is what lets the other desk PCs accept a log that got
-- shorter (`frontdesk accept-restore`), so only the database's owner — the
-- administrator who restores — may write one; the desks' role may not.
CREATE FUNCTION fd_audit_restore_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.action = 'backup.restore' AND NOT pg_has_role(current_user,
            (SELECT relowner FROM pg_class WHERE oid = 'audit_event'::regclass), 'MEMBER') THEN
        RAISE EXCEPTION 'only the administrator records a restore' USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER audit_event_restore_row BEFORE INSERT ON audit_event
    FOR EACH ROW EXECUTE FUNCTION fd_audit_restore_row();
