-- Frontdesk on a PostgreSQL server, schema version 5: a passcode request in one
-- round trip, and the outbox's messages still to send found by an index.
--
-- fd_request_passcode takes the phone's and the desk's locks, reads the three
-- histories the limits count (the phone's requests and the desk's in the last
-- hour, the phone's failed verifications in the last day), and issues the code
-- (fd_issue_passcode) when they pass; it answers the three histories either
-- way. The rule stays the desk's: the limits arrive as parameters from
-- src/domain/passcodes.rs, and the desk asks `check_request` of the histories
-- it gets back — for the refusal's "try again in …", and to refuse outright
-- when the server decided otherwise than it would have. Before, the same work
-- took five round trips (BEGIN, the locks, the histories, the issue, COMMIT),
-- each of them waited for while the phone's lock was held.
--
-- It runs as one statement in its own transaction; under READ COMMITTED each of
-- its queries after the locks takes a new snapshot, so it sees what the locks'
-- previous holder committed.
CREATE FUNCTION fd_request_passcode(p_phone TEXT, p_desk TEXT, p_hash TEXT, p_now BIGINT,
                                    p_expires BIGINT, p_hour_ago BIGINT, p_day_ago BIGINT,
                                    p_body TEXT, p_token TEXT, p_actor TEXT,
                                    p_gap BIGINT, p_max_phone INTEGER, p_max_desk INTEGER,
                                    p_max_failed INTEGER,
                                    OUT out_id BIGINT, OUT by_phone BIGINT[], OUT by_desk BIGINT[],
                                    OUT failed BIGINT[], OUT wait_us BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    t0 TIMESTAMPTZ := clock_timestamp();
BEGIN
    -- two lock spaces (1: phones, 2: desks): a phone never shares a key with a desk
    PERFORM pg_advisory_xact_lock(1, hashtext(p_phone)), pg_advisory_xact_lock(2, hashtext(p_desk));
    wait_us := (extract(epoch FROM clock_timestamp() - t0) * 1000000)::BIGINT;
    by_phone := ARRAY(SELECT requested_at FROM otp_request
                       WHERE phone = p_phone AND requested_at > p_hour_ago ORDER BY requested_at);
    by_desk := ARRAY(SELECT requested_at FROM otp_request
                      WHERE desk = p_desk AND requested_at > p_hour_ago ORDER BY requested_at);
    failed := ARRAY(SELECT attempted_at FROM otp_attempt
                     WHERE phone = p_phone AND NOT ok AND attempted_at > p_day_ago ORDER BY attempted_at);
    IF (cardinality(by_phone) = 0 OR p_now - by_phone[cardinality(by_phone)] >= p_gap)
       AND cardinality(by_phone) < p_max_phone
       AND cardinality(by_desk) < p_max_desk
       AND cardinality(failed) < p_max_failed THEN
        out_id := fd_issue_passcode(p_phone, p_desk, p_hash, p_now, p_expires, p_hour_ago,
                                    p_body, p_token, p_actor);
    END IF;
END $$;

-- The messages still to send, by phone: a passcode request fails the phone's
-- queued one (fd_issue_passcode) and the sweep looks for queued and stale
-- sending ones. Without it both read the whole outbox, which keeps every
-- message ever sent: 13,000 rows after one bench run, and each passcode
-- request read them all while it held the phone's lock.
CREATE INDEX outbox_pending ON outbox (phone) WHERE status IN ('QUEUED', 'SENDING');
