//! Appointment reminders: finding the next due one, claiming it (the reminder row
//! and its outbox message, in the caller's write transaction), and recording its
//! outcome. Times and limits come in as parameters (the numbers live in
//! `ops::reminders`).

use crate::storage::sql::Cols;
use crate::storage::Conn;

use crate::domain::model::ReminderInfo;

/// An appointment (or a failed reminder of one) whose reminder is due.
#[derive(Debug, Clone)]
pub struct Due {
    /// The failed reminder to try again, or `None` for a first reminder.
    pub reminder_id: Option<i64>,
    /// The appointment.
    pub appointment_id: i64,
    /// Its slot start.
    pub start_at: i64,
    /// The patient's full name.
    pub patient_name: String,
    /// The patient's phone (E.164).
    pub phone: String,
    /// The doctor's name.
    pub doctor: String,
}

fn due_from_row(r: &Cols<'_>) -> rusqlite::Result<Due> {
    Ok(Due {
        reminder_id: r.get(0)?,
        appointment_id: r.get(1)?,
        start_at: r.get(2)?,
        patient_name: r.get(3)?,
        phone: r.get(4)?,
        doctor: r.get(5)?,
    })
}

/// The open appointment (pending or confirmed, patient not opted out) starting
/// soonest after `now` and at or before `horizon` that has no reminder for its
/// current start. Walks `slot_by_start` over that range only.
pub fn next_due(conn: &Conn, now: i64, horizon: i64) -> rusqlite::Result<Option<Due>> {
    conn.opt("SELECT NULL, a.id, s.start_at, p.name, p.phone, d.name
         FROM slot s
         JOIN appointment a ON a.slot_id = s.id
         JOIN patient p ON p.id = a.patient_id
         JOIN doctor d ON d.id = a.doctor_id
         WHERE s.start_at > ?1 AND s.start_at <= ?2
           AND a.status IN ('PENDING', 'CONFIRMED')
           AND NOT p.reminders_opt_out
           AND NOT EXISTS (SELECT 1 FROM reminder r WHERE r.appointment_id = a.id AND r.start_at = s.start_at)
         ORDER BY s.start_at, a.id
         LIMIT 1", &[&now, &horizon], due_from_row)
}

/// A failed reminder with attempts left (`< max_attempts`), last tried at or
/// before `retry_before`, with id above `after`, whose appointment is still open,
/// still at that start, still ahead and due, and whose patient has not opted out.
pub fn next_retry(
    conn: &Conn,
    now: i64,
    horizon: i64,
    retry_before: i64,
    max_attempts: i64,
    after: i64,
) -> rusqlite::Result<Option<Due>> {
    conn.opt(
        "SELECT r.id, a.id, s.start_at, p.name, p.phone, d.name
         FROM reminder r
         JOIN appointment a ON a.id = r.appointment_id
         JOIN slot s ON s.id = a.slot_id
         JOIN patient p ON p.id = a.patient_id
         JOIN doctor d ON d.id = a.doctor_id
         WHERE r.status = 'FAILED' AND r.start_at > ?1 AND r.start_at <= ?2
           AND r.id > ?5 AND r.attempts < ?4 AND r.attempted_at <= ?3
           AND s.start_at = r.start_at AND s.start_at > ?1 AND s.start_at <= ?2
           AND a.status IN ('PENDING', 'CONFIRMED')
           AND NOT p.reminders_opt_out
         ORDER BY r.id
         LIMIT 1",
        &[&now, &horizon, &retry_before, &max_attempts, &after],
        due_from_row,
    )
}

/// Queues a reminder message already claimed under `token` (sent by the caller
/// right after the transaction commits); returns its outbox id.
pub fn queue_claimed(
    conn: &Conn,
    phone: &str,
    body: &str,
    now: i64,
    token: &str,
) -> rusqlite::Result<i64> {
    conn.value("INSERT INTO outbox (phone, body, created_at, status, attempts, claimed_at, claim_token, kind)
         VALUES (?1, ?2, ?3, 'SENDING', 1, ?3, ?4, 'REMINDER') RETURNING id", &[&phone, &body, &now, &token])
}

/// Records a reminder message that was never sent (the phone cannot receive
/// texts): given up at once, without text; returns its outbox id.
pub fn queue_given_up(conn: &Conn, phone: &str, now: i64, why: &str) -> rusqlite::Result<i64> {
    conn.value(
        "INSERT INTO outbox (phone, body, created_at, status, attempts, last_error, kind)
         VALUES (?1, '', ?2, 'FAILED', 0, ?3, 'REMINDER') RETURNING id",
        &[&phone, &now, &why],
    )
}

/// Inserts a reminder for (appointment, start) that is given up at once
/// (`max_attempts` used), with why; returns its id.
pub fn insert_given_up(
    conn: &Conn,
    appointment_id: i64,
    start_at: i64,
    outbox_id: i64,
    now: i64,
    max_attempts: i64,
    why: &str,
) -> rusqlite::Result<i64> {
    conn.value("INSERT INTO reminder (appointment_id, start_at, outbox_id, status, attempts, last_error, created_at, attempted_at, history_id)
         VALUES (?1, ?2, ?3, 'FAILED', ?5, ?6, ?4, ?4, (SELECT max(h.id) FROM appointment_status_history h WHERE h.appointment_id = ?1)) RETURNING id", &[&appointment_id, &start_at, &outbox_id, &now, &max_attempts, &why])
}

/// Gives a failed reminder up (no attempts left), with why.
pub fn give_up(
    conn: &Conn,
    id: i64,
    outbox_id: i64,
    now: i64,
    max_attempts: i64,
    why: &str,
) -> rusqlite::Result<()> {
    conn.run("UPDATE reminder SET outbox_id = ?2, attempts = ?4, attempted_at = ?3, last_error = ?5,
             history_id = (SELECT max(h.id) FROM appointment_status_history h WHERE h.appointment_id = reminder.appointment_id)
         WHERE id = ?1 AND status = 'FAILED'", &[&id, &outbox_id, &now, &max_attempts, &why])?;
    Ok(())
}

/// Inserts the first reminder for (appointment, start), being sent as
/// `outbox_id`; returns its id. The UNIQUE key refuses a second one.
pub fn insert(
    conn: &Conn,
    appointment_id: i64,
    start_at: i64,
    outbox_id: i64,
    now: i64,
) -> rusqlite::Result<i64> {
    conn.value("INSERT INTO reminder (appointment_id, start_at, outbox_id, status, attempts, created_at, attempted_at, history_id)
         VALUES (?1, ?2, ?3, 'SENDING', 1, ?4, ?4, (SELECT max(h.id) FROM appointment_status_history h WHERE h.appointment_id = ?1)) RETURNING id", &[&appointment_id, &start_at, &outbox_id, &now])
}

/// Claims a failed reminder for another attempt, being sent as `outbox_id`;
/// returns the attempts it has now, or `None` if it is no longer failed.
///
/// On a clinic server the appointment's row is locked first (`FOR SHARE`), as
/// a first reminder's foreign key locks it: a desk cancels in one READ
/// COMMITTED call outside the sweep's turn (`fd_change_status`), so a
/// cancellation committed after the sweep's snapshot must fail the sweep's
/// SERIALIZABLE transaction here, and its retry skips the cancelled
/// appointment. Without the lock the claim succeeds and a reminder goes out
/// after the desk was told "cancelled".
pub fn retry(conn: &Conn, id: i64, outbox_id: i64, now: i64) -> rusqlite::Result<Option<i64>> {
    if let Conn::Server(_) = conn {
        conn.run(
            "SELECT 1 FROM appointment a JOIN reminder r ON r.appointment_id = a.id
             WHERE r.id = ?1 FOR SHARE OF a",
            &[&id],
        )?;
    }
    conn.opt("UPDATE reminder SET status = 'SENDING', outbox_id = ?2, attempts = attempts + 1, attempted_at = ?3,
             history_id = (SELECT max(h.id) FROM appointment_status_history h WHERE h.appointment_id = reminder.appointment_id)
         WHERE id = ?1 AND status = 'FAILED'
         RETURNING attempts", &[&id, &outbox_id, &now], |r| r.get(0))
}

/// Records the outcome of the attempt sent as `outbox_id` (sent, or failed with
/// `error`); returns the reminder's (id, appointment id) if it was still being
/// sent as that message.
pub fn record(
    conn: &Conn,
    outbox_id: i64,
    error: Option<&str>,
    now: i64,
) -> rusqlite::Result<Option<(i64, i64)>> {
    let (sql, at, error): (&str, Option<i64>, Option<&str>) = match error {
        None => (
            "UPDATE reminder SET status = 'SENT', sent_at = ?2, last_error = NULL
             WHERE outbox_id = ?1 AND status = 'SENDING' AND ?3 IS NULL
             RETURNING id, appointment_id",
            Some(now),
            None,
        ),
        Some(e) => (
            "UPDATE reminder SET status = 'FAILED', last_error = ?3
             WHERE outbox_id = ?1 AND status = 'SENDING' AND ?2 IS NULL
             RETURNING id, appointment_id",
            None,
            Some(e),
        ),
    };
    let error = error.map(str::to_string);
    conn.opt(sql, &[&outbox_id, &at, &error], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
}

/// Gives up reminder messages whose claim is older than `stale_before` (the desk
/// sending them stopped before recording the outcome): the message is blanked and
/// failed, its reminder failed (tried again while attempts are left); returns how
/// many.
pub fn fail_stale(conn: &Conn, stale_before: i64, why: &str) -> rusqlite::Result<usize> {
    conn.run("UPDATE reminder SET status = 'FAILED', last_error = ?2
         WHERE status = 'SENDING' AND outbox_id IN
               (SELECT id FROM outbox WHERE status = 'SENDING' AND kind = 'REMINDER' AND claimed_at < ?1)", &[&stale_before, &why])?;
    conn.run(
        "UPDATE outbox SET status = 'FAILED', body = '', claim_token = NULL, last_error = ?2
         WHERE status = 'SENDING' AND kind = 'REMINDER' AND claimed_at < ?1",
        &[&stale_before, &why],
    )
}

/// An appointment's reminders, oldest first.
pub fn for_appointment(conn: &Conn, appointment_id: i64) -> rusqlite::Result<Vec<ReminderInfo>> {
    conn.all(
        "SELECT id, start_at, status, attempts, last_error, attempted_at, sent_at
         FROM reminder WHERE appointment_id = ?1 ORDER BY id",
        &[&appointment_id],
        |r| {
            Ok(ReminderInfo {
                id: r.get(0)?,
                start_at: r.get(1)?,
                status: r.get(2)?,
                attempts: r.get(3)?,
                last_error: r.get(4)?,
                attempted_at: r.get(5)?,
                sent_at: r.get(6)?,
                will_retry: false,
            })
        },
    )
}
