-- Each delivery run claims a message with a random token of its own; only the
-- holder of the current claim records the message sent or failed. A run whose
-- claim expired (another desk took the message over, or gave it up when its
-- passcode expired) records nothing over that desk's outcome.
ALTER TABLE outbox ADD COLUMN claim_token TEXT;

-- SENT and FAILED are final: a given-up, blanked message never goes back to the
-- queue, and a sent one is never queued again.
CREATE TRIGGER outbox_final_status BEFORE UPDATE OF status ON outbox
WHEN OLD.status IN ('SENT', 'FAILED') AND NEW.status <> OLD.status
BEGIN
    SELECT RAISE(ABORT, 'a sent or given-up passcode message cannot change status');
END;
