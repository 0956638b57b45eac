-- Frontdesk on a PostgreSQL server, schema version 4: a desk's booking and its
-- everyday status changes (confirm, arrive, complete) in one round trip each,
-- the appointment as the desk shows it read back in the same statement.
--
-- * fd_appointment(id) is one appointment as src/storage/appointments.rs SELECT
--   reads it, column for column (the conformance suite compares the two). It is
--   VOLATILE, so called after fd_book or fd_change_status in one statement
--   (`… FROM fd_book(…) b, LATERAL fd_appointment(b.out_id)`) it takes its own
--   snapshot and sees what they just wrote; PL/pgSQL, so each session plans
--   its query once (a SQL function's would be planned on every call).
-- * fd_change_status also answers the appointment's id (to read it back), and
--   its audit row records the appointment's state, as fd_book's does since
--   schema 3, so `frontdesk check` compares each appointment with it.
CREATE FUNCTION fd_appointment(p_id BIGINT)
RETURNS TABLE (id BIGINT, slot_id BIGINT, doctor_id BIGINT, doctor_name TEXT, patient_id BIGINT,
               patient_name TEXT, patient_phone TEXT, start_at BIGINT, end_at BIGINT, status TEXT,
               reason TEXT, cancel_reason TEXT, overbooked BOOLEAN, version BIGINT,
               created_by TEXT, created_at BIGINT, updated_by TEXT, updated_at BIGINT,
               patient_alert TEXT)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN QUERY
    SELECT a.id, a.slot_id, a.doctor_id, d.name, a.patient_id, p.name, p.phone, s.start_at, s.end_at,
           a.status, a.reason, a.cancel_reason, a.overbooked, a.version, a.created_by, a.created_at,
           a.updated_by, a.updated_at, p.alert
      FROM appointment a
      JOIN slot s ON s.id = a.slot_id
      JOIN doctor d ON d.id = a.doctor_id
      JOIN patient p ON p.id = a.patient_id
     WHERE a.id = p_id;
END $$;

DROP FUNCTION fd_change_status(TEXT, BIGINT, BIGINT, TEXT, TEXT[], TEXT, TEXT, BIGINT);

CREATE FUNCTION fd_change_status(p_key TEXT, p_id BIGINT, p_version BIGINT, p_to TEXT, p_allowed TEXT[],
                                 p_note TEXT, p_actor TEXT, p_now BIGINT,
                                 OUT outcome TEXT, OUT wait_us BIGINT, OUT out_id BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    a   appointment%ROWTYPE;
    old TEXT;
    st  TEXT;
    t0  TIMESTAMPTZ := clock_timestamp();
BEGIN
    SELECT * INTO a FROM appointment WHERE id = p_id FOR UPDATE;
    wait_us := (extract(epoch FROM clock_timestamp() - t0) * 1000000)::BIGINT;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'appointment' USING ERRCODE = 'FD404';
    END IF;
    out_id := p_id;
    IF EXISTS (SELECT 1 FROM appointment_status_history WHERE request_key = p_key) THEN
        outcome := 'ok';
    ELSIF a.version <> p_version THEN
        outcome := 'stale';
    ELSIF NOT (a.status || '>' || p_to) = ANY (p_allowed) THEN
        outcome := 'transition';
    ELSE
        old := a.status;
        UPDATE appointment
           SET status = p_to,
               cancel_reason = CASE WHEN p_to = 'CANCELLED' THEN p_note ELSE cancel_reason END,
               version = a.version + 1, updated_by = p_actor, updated_at = p_now
         WHERE appointment.id = p_id
        RETURNING 'status=' || status || ' version=' || version || ' slot=' || slot_id || ' patient=' || patient_id
        INTO st;
        INSERT INTO appointment_status_history (appointment_id, from_status, to_status, note, actor, at, request_key)
        VALUES (p_id, old, p_to, p_note, p_actor, p_now, p_key);
        INSERT INTO audit_event (at, actor, action, entity, entity_id, detail, state)
        VALUES (p_now, p_actor, 'appointment.status', 'appointment', p_id, old || ' -> ' || p_to, st);
        outcome := 'ok';
    END IF;
END $$;

-- The desks' SERIALIZABLE writes (everything but the one-round-trip functions)
-- take turns: each locks this table, before its snapshot, for the length of
-- its transaction (src/storage/pg/tx.rs). They stay correct without it, but
-- concurrent ones refuse each other far more often than they truly conflict
-- (the server tracks their reads by index page, so two cancellations of
-- neighbouring appointments "conflict"), and their retries made the slowest
-- wait seconds. It holds no rows, and no backup carries it.
CREATE TABLE write_turn ();

-- The triggers that guard the audit log (its numbering, the owner-only restore
-- row) name their table and sequence by a search path a session cannot put its
-- own temporary objects in front of: a desk's temporary "audit_event" or
-- "audit_event_id" would otherwise answer for the real one inside them. (The
-- desks' role also no longer gets TEMPORARY from `server setup`.)
ALTER FUNCTION fd_audit_number() SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION fd_audit_restore_row() SET search_path = pg_catalog, public, pg_temp;
