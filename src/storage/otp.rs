//! One-time passcodes: the live code per phone (hash only), the request and
//! attempt logs for the limits, and the outbox of messages for the sender. Every
//! limit comes in as a parameter (the numbers live in `ops::otp`).

use crate::domain::outbox::OutboxMessage;
use crate::storage::Conn;

/// A reserved verification attempt: what to check the typed code against.
#[derive(Debug, Clone, PartialEq)]
pub struct ReservedCode {
    /// argon2id PHC string of the code.
    pub code_hash: String,
    /// Identifies this code (with the hash) when consuming it.
    pub created_at: i64,
    /// Attempts used, this one included.
    pub attempts: i64,
}

/// Why no attempt could be reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoCode {
    /// No code was requested (or it was used).
    Missing,
    /// The code expired.
    Expired,
    /// All attempts are used up.
    Exhausted,
}

/// Requests for `phone` made after `since` (exclusive), oldest first.
pub fn requests_since(conn: &Conn, phone: &str, since: i64) -> rusqlite::Result<Vec<i64>> {
    conn.all("SELECT requested_at FROM otp_request WHERE phone = ?1 AND requested_at > ?2 ORDER BY requested_at", &[&phone, &since], |r| r.get(0))
}

/// Requests made by `desk` after `since` (exclusive), oldest first.
pub fn desk_requests_since(conn: &Conn, desk: &str, since: i64) -> rusqlite::Result<Vec<i64>> {
    conn.all("SELECT requested_at FROM otp_request WHERE desk = ?1 AND requested_at > ?2 ORDER BY requested_at", &[&desk, &since], |r| r.get(0))
}

/// Logs an accepted request by `desk` and forgets requests older than `keep_since`.
pub fn log_request(
    conn: &Conn,
    phone: &str,
    desk: &str,
    at: i64,
    keep_since: i64,
) -> rusqlite::Result<()> {
    conn.run(
        "DELETE FROM otp_request WHERE requested_at < ?1",
        &[&keep_since],
    )?;
    conn.run(
        "INSERT INTO otp_request (phone, desk, requested_at) VALUES (?1, ?2, ?3)",
        &[&phone, &desk, &at],
    )?;
    Ok(())
}

/// Failed (or still unchecked) verification attempts for `phone` after `since`
/// (exclusive), oldest first, whatever code they were for.
pub fn failed_attempts_since(conn: &Conn, phone: &str, since: i64) -> rusqlite::Result<Vec<i64>> {
    conn.all("SELECT attempted_at FROM otp_attempt WHERE phone = ?1 AND NOT ok AND attempted_at > ?2 ORDER BY attempted_at", &[&phone, &since], |r| r.get(0))
}

/// Records a verification attempt as failed until [`attempt_succeeded`] says
/// otherwise, and forgets attempts older than `keep_since`; returns its id.
pub fn record_attempt(conn: &Conn, phone: &str, at: i64, keep_since: i64) -> rusqlite::Result<i64> {
    conn.run(
        "DELETE FROM otp_attempt WHERE attempted_at < ?1",
        &[&keep_since],
    )?;
    conn.value(
        "INSERT INTO otp_attempt (phone, attempted_at) VALUES (?1, ?2) RETURNING id",
        &[&phone, &at],
    )
}

/// The attempt's code matched: it no longer counts as a failure.
pub fn attempt_succeeded(conn: &Conn, id: i64) -> rusqlite::Result<()> {
    conn.run("UPDATE otp_attempt SET ok = TRUE WHERE id = ?1", &[&id])?;
    Ok(())
}

/// Makes `code_hash` the phone's only live code, replacing any older one; also
/// drops long-dead codes of other phones.
pub fn replace_code(
    conn: &Conn,
    phone: &str,
    code_hash: &str,
    created_at: i64,
    expires_at: i64,
    by: &str,
) -> rusqlite::Result<()> {
    conn.run(
        "DELETE FROM otp_code WHERE expires_at < ?1",
        &[&(created_at - 3600)],
    )?;
    conn.run(
        "INSERT INTO otp_code (phone, code_hash, created_at, expires_at, attempts, created_by)
         VALUES (?1, ?2, ?3, ?4, 0, ?5)
         ON CONFLICT (phone) DO UPDATE SET code_hash = excluded.code_hash, created_at = excluded.created_at,
             expires_at = excluded.expires_at, attempts = 0, created_by = excluded.created_by",
        &[&phone, &code_hash, &created_at, &expires_at, &by],
    )?;
    Ok(())
}

/// Reserves one verification attempt on the phone's live code (`attempts + 1`,
/// at most 5, not expired at `now`).
pub fn reserve_attempt(
    conn: &Conn,
    phone: &str,
    now: i64,
    max_attempts: i64,
) -> rusqlite::Result<Result<ReservedCode, NoCode>> {
    let reserved = conn.opt(
        "UPDATE otp_code SET attempts = attempts + 1
         WHERE phone = ?1 AND attempts < ?2 AND expires_at > ?3
         RETURNING code_hash, created_at, attempts",
        &[&phone, &max_attempts, &now],
        |r| {
            Ok(ReservedCode {
                code_hash: r.get(0)?,
                created_at: r.get(1)?,
                attempts: r.get(2)?,
            })
        },
    )?;
    if let Some(r) = reserved {
        return Ok(Ok(r));
    }
    let state: Option<(i64, i64)> = conn.opt(
        "SELECT attempts, expires_at FROM otp_code WHERE phone = ?1",
        &[&phone],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(Err(match state {
        None => NoCode::Missing,
        Some((_, expires_at)) if expires_at <= now => NoCode::Expired,
        Some(_) => NoCode::Exhausted,
    }))
}

/// Deletes the phone's code if it is still the one identified by `created_at`
/// and `code_hash` (not replaced meanwhile); returns whether it did.
pub fn consume(
    conn: &Conn,
    phone: &str,
    created_at: i64,
    code_hash: &str,
) -> rusqlite::Result<bool> {
    let n = conn.run(
        "DELETE FROM otp_code WHERE phone = ?1 AND created_at = ?2 AND code_hash = ?3",
        &[&phone, &created_at, &code_hash],
    )?;
    Ok(n > 0)
}

/// A message claimed for sending, with its text.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// Row id.
    pub id: i64,
    /// Recipient (E.164).
    pub phone: String,
    /// The text to send.
    pub body: String,
    /// Queued at.
    pub created_at: i64,
    /// Attempts, this one included.
    pub attempts: i64,
}

/// Queues a message already claimed for sending under `token` (the desk that
/// asked sends it at once, after this transaction commits); returns its id.
/// Earlier unsent messages to the same phone are given up (their passcode was
/// just replaced) and blanked.
pub fn queue_claimed(
    conn: &Conn,
    phone: &str,
    body: &str,
    now: i64,
    token: &str,
) -> rusqlite::Result<i64> {
    conn.run("UPDATE outbox SET status = 'FAILED', body = '', last_error = 'replaced by a newer passcode'
         WHERE phone = ?1 AND status = 'QUEUED' AND kind = 'OTP'", &[&phone])?;
    conn.value(
        "INSERT INTO outbox (phone, body, created_at, status, attempts, claimed_at, claim_token)
         VALUES (?1, ?2, ?3, 'SENDING', 1, ?3, ?4) RETURNING id",
        &[&phone, &body, &now, &token],
    )
}

/// Gives up messages queued at or before `stale_before` (their passcode has
/// expired), blanking their text; returns how many. A message being sent under a
/// claim made at or after `stale_claim_before` is left to the desk sending it.
pub fn expire(conn: &Conn, stale_before: i64, stale_claim_before: i64) -> rusqlite::Result<usize> {
    conn.run(
        "UPDATE outbox SET status = 'FAILED', body = '', claim_token = NULL,
             last_error = coalesce(last_error || '; ', '') || 'expired before it was sent'
         WHERE (status = 'QUEUED' OR (status = 'SENDING' AND claimed_at < ?2)) AND created_at <= ?1
           AND kind = 'OTP'",
        &[&stale_before, &stale_claim_before],
    )
}

/// Claims the first message after id `after` that is queued (or whose claim is
/// older than `stale_claim_before`, left by a desk that stopped) for sending under
/// `token`, which [`mark_sent`] and [`mark_failed`] must show.
pub fn claim_next(
    conn: &Conn,
    now: i64,
    stale_claim_before: i64,
    after: i64,
    token: &str,
) -> rusqlite::Result<Option<Claimed>> {
    conn.opt("UPDATE outbox SET status = 'SENDING', claimed_at = ?1, claim_token = ?4, attempts = attempts + 1
         WHERE id = (SELECT id FROM outbox
                     WHERE id > ?3 AND (status = 'QUEUED' OR (status = 'SENDING' AND claimed_at < ?2))
                       AND kind = 'OTP'
                     ORDER BY id LIMIT 1)
         RETURNING id, phone, body, created_at, attempts", &[&now, &stale_claim_before, &after, &token], |r| {
        Ok(Claimed {
            id: r.get(0)?,
            phone: r.get(1)?,
            body: r.get(2)?,
            created_at: r.get(3)?,
            attempts: r.get(4)?,
        })
    })
}

/// Marks a message sent and blanks its text, if it is still being sent under
/// `token`; returns whether it was (false: the claim was lost, and whoever took
/// the message over records it).
pub fn mark_sent(conn: &Conn, id: i64, token: &str, now: i64) -> rusqlite::Result<bool> {
    let n = conn.run(
        "UPDATE outbox SET status = 'SENT', body = '', sent_at = ?3, last_error = NULL, claim_token = NULL
         WHERE id = ?1 AND status = 'SENDING' AND claim_token = ?2",
        &[&id, &token, &now],
    )?;
    Ok(n > 0)
}

/// Records a failed attempt — back to the queue, or given up (text blanked) when
/// `give_up` — if the message is still being sent under `token`; returns whether
/// it was. A message given up meanwhile (expired) stays given up.
pub fn mark_failed(
    conn: &Conn,
    id: i64,
    token: &str,
    error: &str,
    give_up: bool,
) -> rusqlite::Result<bool> {
    let sql = if give_up {
        "UPDATE outbox SET status = 'FAILED', body = '', last_error = ?3, claim_token = NULL
         WHERE id = ?1 AND status = 'SENDING' AND claim_token = ?2"
    } else {
        "UPDATE outbox SET status = 'QUEUED', claimed_at = NULL, claim_token = NULL, last_error = ?3
         WHERE id = ?1 AND status = 'SENDING' AND claim_token = ?2"
    };
    let n = conn.run(sql, &[&id, &token, &error])?;
    Ok(n > 0)
}

/// Recent messages, newest first.
pub fn list(conn: &Conn, limit: u32) -> rusqlite::Result<Vec<OutboxMessage>> {
    conn.all("SELECT id, phone, status, attempts, last_error, created_at, sent_at, kind FROM outbox ORDER BY id DESC LIMIT ?1", &[&limit], |r| {
        Ok(OutboxMessage {
            id: r.get(0)?,
            phone: r.get(1)?,
            status: r.get(2)?,
            attempts: r.get(3)?,
            last_error: r.get(4)?,
            created_at: r.get(5)?,
            sent_at: r.get(6)?,
            kind: r.get(7)?,
        })
    })
}

/// Has SQLite overwrite deleted and replaced content with zeros on this
/// connection (`secure_delete`), so a blanked message leaves no trace in a page.
pub fn secure_delete_on(conn: &Conn) -> rusqlite::Result<()> {
    match conn {
        Conn::Lite(c) => c.pragma_update(None, "secure_delete", true),
        // the server keeps no freed page to overwrite in place the way a file does
        Conn::Server(_) => Ok(()),
    }
}
