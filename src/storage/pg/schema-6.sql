-- Frontdesk on a PostgreSQL server, schema version 6: a cancellation or a
-- no-show of an appointment without money in one round trip, and a payment's
-- refunds found by an index.
--
-- Closing an appointment settles its money by the ledger (refunds, waivers, by
-- the cancellation policy), so those moves ran as a SERIALIZABLE transaction
-- of eight round trips, the writes taking turns. An appointment with no ledger
-- row has nothing to settle whatever the policy says (the plan is made of its
-- rows alone), and most appointments have none. fd_change_status now takes
-- p_unless_ledger (true for the moves that settle money, decided in Rust by
-- `settles_money`): with the appointment row locked and the version and the
-- move checked, it answers 'money' and changes nothing when the appointment has
-- a ledger row; the desk then runs the move as before.
--
-- The check holds because a ledger row's foreign key locks its appointment row
-- (FOR KEY SHARE) as the row is written, and that lock and this function's FOR
-- UPDATE exclude each other. A payment being written holds it: this call waits
-- for the payment's commit, then sees its row (each query of the function takes
-- a new snapshot under READ COMMITTED) and answers 'money'. A payment whose
-- SERIALIZABLE snapshot predates a closing made here finds the row changed when
-- its foreign key locks it: its transaction fails, and its retry sees the
-- appointment closed and refuses. (cli/tests/core/pg.rs tries both orders.)
-- The second order rests on the `SELECT … FOR UPDATE` below coming before the
-- UPDATE: a plain UPDATE of columns outside the key would not stop a FOR KEY
-- SHARE lock, and such a payment would commit on the closed appointment.
DROP FUNCTION fd_change_status(TEXT, BIGINT, BIGINT, TEXT, TEXT[], TEXT, TEXT, BIGINT);

CREATE FUNCTION fd_change_status(p_key TEXT, p_id BIGINT, p_version BIGINT, p_to TEXT, p_allowed TEXT[],
                                 p_note TEXT, p_actor TEXT, p_now BIGINT, p_unless_ledger BOOLEAN,
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
    ELSIF p_unless_ledger AND EXISTS (SELECT 1 FROM ledger WHERE appointment_id = p_id) THEN
        outcome := 'money';
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

-- What was already refunded of a payment is summed over its refunds whenever an
-- admin refunds it (a cancellation counted them the same way until this
-- version; it now counts the appointment's own rows); without an index that
-- read walked the whole ledger. The file gained the same index (migration 13).
CREATE INDEX ledger_refunds ON ledger (refund_of) WHERE refund_of IS NOT NULL;
