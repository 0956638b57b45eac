-- Passcodes never at rest in plaintext, sent only by a program this PC's
-- administrator configured (issue 11, sections 2 and 5).

-- The sender program and its arguments were settings, so a restored or edited
-- database could make a desk run any command. The program is now described in a
-- file on the PC that only its administrator can change (src/senders.rs); the
-- clinic only names one of the senders described there (otp.sender_name).
DELETE FROM setting WHERE key IN ('otp.sender', 'otp.sender_args');

-- Which desk asked (the signed-in staff account, or the command line's actor):
-- requests are limited per desk per hour across phones. Rows older than an hour
-- are pruned by the next request, as before.
ALTER TABLE otp_request ADD COLUMN desk TEXT NOT NULL DEFAULT '';

CREATE INDEX otp_request_by_desk ON otp_request (desk, requested_at);

-- Every verification attempt of the last day, for the limit of failed
-- verifications per phone per day across codes. An attempt is recorded (ok = 0)
-- before the code is checked, so parallel guesses cannot pass the limit, and set
-- ok = 1 when the code matched. Rows older than a day are pruned.
CREATE TABLE otp_attempt (
    id           INTEGER PRIMARY KEY,
    phone        TEXT    NOT NULL,
    attempted_at INTEGER NOT NULL,
    ok           INTEGER NOT NULL DEFAULT 0 CHECK (ok IN (0, 1))
) STRICT;

CREATE INDEX otp_attempt_by_phone ON otp_attempt (phone, attempted_at);
